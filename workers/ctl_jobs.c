/*
 * fastbackctl jobs list [--state S] [--kind K] [--limit N] | retry ID |
 *                  cancel ID | stats — the operator's view of the queue.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"
#include "db.h"
#include "jobs.h"
#include "validate.h"

static int
usage(void)
{
	fprintf(stderr, "usage: fastbackctl jobs list [--state S] [--kind K] [--limit N]\n"
	    "       fastbackctl jobs retry ID | cancel ID | stats\n");
	return 2;
}

static bool
valid_state(const char *s)
{
	static const char *const states[] =
	    { "queued", "running", "succeeded", "dead", "cancelled" };
	size_t	i;

	for (i = 0; i < sizeof(states) / sizeof(states[0]); i++)
		if (strcmp(s, states[i]) == 0)
			return true;
	return false;
}

static int
list(struct db *db, int argc, char **argv)
{
	const char	*params[3] = { NULL, NULL, "50" };
	PGresult	*res;
	char		*end;
	long		 n;
	int		 i;

	for (i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--state") == 0 && i + 1 < argc && valid_state(argv[i + 1]))
			params[0] = argv[++i];
		else if (strcmp(argv[i], "--kind") == 0 && i + 1 < argc &&
		    jobs_kind_valid(argv[i + 1]))
			params[1] = argv[++i];
		else if (strcmp(argv[i], "--limit") == 0 && i + 1 < argc) {
			n = strtol(argv[++i], &end, 10);
			if (*end != '\0' || n < 1 || n > 10000)
				return usage();
			params[2] = argv[i];
		} else
			return usage();
	}
	if (db_query(db, &res,
	    "SELECT id, kind, state, attempt, max_attempts,"
	    " to_char(run_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') AS run_at,"
	    " left(coalesce(last_error, ''), 60) AS last_error"
	    " FROM jobs WHERE ($1::text IS NULL OR state = $1)"
	    " AND ($2::text IS NULL OR kind = $2)"
	    " ORDER BY created_at DESC, id LIMIT $3::int", 3, params) != FB_OK) {
		fprintf(stderr, "jobs: the query failed\n");
		return 1;
	}
	printf("%-36s  %-16s %-9s %7s  %-20s  %s\n", "ID", "KIND", "STATE", "ATTEMPT",
	    "RUN AT", "LAST ERROR");
	for (i = 0; i < PQntuples(res); i++)
		printf("%-36s  %-16s %-9s %3s/%-3s  %-20s  %s\n", db_get(res, i, "id"),
		    db_get(res, i, "kind"), db_get(res, i, "state"), db_get(res, i, "attempt"),
		    db_get(res, i, "max_attempts"), db_get(res, i, "run_at"),
		    db_get(res, i, "last_error"));
	PQclear(res);
	return 0;
}

static int
stats(struct db *db)
{
	PGresult	*res;
	int		 i;

	if (db_query(db, &res,
	    "SELECT kind, state, count(*) AS n,"
	    " coalesce(extract(epoch FROM now() - min(run_at) FILTER"
	    "  (WHERE state = 'queued' AND run_at <= now())), 0)::int AS oldest_due_s"
	    " FROM jobs GROUP BY kind, state ORDER BY kind, state", 0, NULL) != FB_OK) {
		fprintf(stderr, "jobs: the query failed\n");
		return 1;
	}
	printf("%-20s %-10s %8s  %s\n", "KIND", "STATE", "JOBS", "OLDEST DUE (s)");
	for (i = 0; i < PQntuples(res); i++)
		printf("%-20s %-10s %8s  %s\n", db_get(res, i, "kind"), db_get(res, i, "state"),
		    db_get(res, i, "n"), db_get(res, i, "oldest_due_s"));
	PQclear(res);
	if (db_query(db, &res, "SELECT kind, outcome, count FROM job_counters"
	    " ORDER BY kind, outcome", 0, NULL) != FB_OK)
		return 1;
	printf("\n%-20s %-12s %10s\n", "KIND", "OUTCOME", "SINCE START");
	for (i = 0; i < PQntuples(res); i++)
		printf("%-20s %-12s %10s\n", db_get(res, i, "kind"), db_get(res, i, "outcome"),
		    db_get(res, i, "count"));
	PQclear(res);
	return 0;
}

int
ctl_jobs(const struct config *cfg, int argc, char **argv)
{
	struct db	 db;
	bool		 applied = false;
	int		 status;

	if (argc < 1)
		return usage();
	if ((strcmp(argv[0], "retry") == 0 || strcmp(argv[0], "cancel") == 0) &&
	    (argc != 2 || !valid_uuid(argv[1]))) {
		fprintf(stderr, "jobs %s: ID must be a job's UUID\n", argv[0]);
		return 2;
	}
	if (strcmp(argv[0], "list") != 0 && strcmp(argv[0], "stats") != 0 &&
	    strcmp(argv[0], "retry") != 0 && strcmp(argv[0], "cancel") != 0)
		return usage();
	if (db_open(&db, cfg->database_url, 0, "fastbackctl") != FB_OK) {
		fprintf(stderr, "jobs: cannot connect to the database\n");
		db_close(&db);
		return 1;
	}
	if (strcmp(argv[0], "list") == 0)
		status = list(&db, argc - 1, argv + 1);
	else if (strcmp(argv[0], "stats") == 0)
		status = argc == 1 ? stats(&db) : usage();
	else if (strcmp(argv[0], "retry") == 0) {
		status = jobs_retry(&db, argv[1], &applied) == FB_OK ? 0 : 1;
		if (status == 0 && !applied) {
			fprintf(stderr, "jobs retry: %s is not a dead or cancelled job\n", argv[1]);
			status = 1;
		} else if (status == 0)
			printf("queued %s again\n", argv[1]);
	} else {
		status = jobs_cancel(&db, argv[1], &applied) == FB_OK ? 0 : 1;
		if (status == 0 && !applied) {
			fprintf(stderr, "jobs cancel: %s is not a queued job\n", argv[1]);
			status = 1;
		} else if (status == 0)
			printf("cancelled %s\n", argv[1]);
	}
	db_close(&db);
	return status;
}
