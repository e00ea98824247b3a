/*
 * fastbackctl cron TASK — periodic tasks for cron (conf/crontab). A run takes
 * a session advisory lock named after its task, so an overlapping run exits
 * at once, and every run (skipped ones too) is recorded in cron_runs.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "ctl.h"
#include "db.h"
#include "jobs.h"
#include "log.h"

/* The first key of the two-key advisory locks of cron tasks. */
#define CRON_LOCK_CLASS "4242002"

typedef enum fb_err (*cron_fn)(struct db *db, json_t *summary);

/* Deletes with sql, adds the row count to summary under key. */
static enum fb_err
purge(struct db *db, json_t *summary, const char *key, const char *sql)
{
	long		rows = 0;
	enum fb_err	e;

	if ((e = db_exec(db, &rows, sql, 0, NULL)) == FB_OK)
		json_object_set_new(summary, key, json_integer(rows));
	return e;
}

static bool
table_exists(struct db *db, const char *name)
{
	PGresult	*res;
	const char	*params[1] = { name };
	bool		 yes = false;

	if (db_query(db, &res, "SELECT to_regclass($1) IS NOT NULL AS yes", 1, params) == FB_OK) {
		yes = strcmp(db_get(res, 0, "yes"), "t") == 0;
		PQclear(res);
	}
	return yes;
}

/* cleanup: expired tokens, sessions and invitations, old idempotency records,
 * old finished jobs, old cron runs. */
static enum fb_err
cleanup(struct db *db, json_t *summary)
{
	enum fb_err	e;
	long		n = 0;

	if ((e = purge(db, summary, "refresh_tokens",
	    "DELETE FROM refresh_tokens WHERE expires_at < now() - interval '1 day'")) ||
	    (e = purge(db, summary, "sessions",
	    "DELETE FROM sessions WHERE expires_at < now() - interval '7 days'"
	    " OR revoked_at < now() - interval '7 days'")) ||
	    (e = purge(db, summary, "email_tokens",
	    "DELETE FROM email_tokens WHERE expires_at < now() - interval '1 day'"
	    " OR used_at < now() - interval '1 day'")) ||
	    (e = purge(db, summary, "invitations",
	    "DELETE FROM invitations WHERE expires_at < now() - interval '30 days'"
	    " OR accepted_at < now() - interval '30 days'"
	    " OR revoked_at < now() - interval '30 days'")) ||
	    (e = purge(db, summary, "mfa_challenges",
	    "DELETE FROM mfa_challenges WHERE expires_at < now() - interval '1 day'")) ||
	    (e = purge(db, summary, "rate_limits",
	    "DELETE FROM rate_limits WHERE expires_at < now()")) ||
	    (e = purge(db, summary, "cron_runs",
	    "DELETE FROM cron_runs WHERE started_at < now() - interval '30 days'")))
		return e;
	/* Tables of later features, when this schema has them. */
	if (table_exists(db, "idempotency_keys") && (e = purge(db, summary,
	    "idempotency_keys",
	    "DELETE FROM idempotency_keys WHERE created_at < now() - interval '24 hours'")))
		return e;
	if ((e = jobs_prune(db, 24, 7, &n)) != FB_OK)
		return e;
	json_object_set_new(summary, "jobs", json_integer(n));
	return FB_OK;
}

static const struct {
	const char	*name;
	cron_fn		 fn;
	const char	*about;
} tasks[] = {
	{ "cleanup", cleanup, "expired tokens, sessions, idempotency records, old jobs" },
};

static int
usage(void)
{
	size_t	i;

	fprintf(stderr, "usage: fastbackctl cron TASK\n");
	for (i = 0; i < sizeof(tasks) / sizeof(tasks[0]); i++)
		fprintf(stderr, "  %-20s %s\n", tasks[i].name, tasks[i].about);
	return 2;
}

static void
record(struct db *db, const char *id, const char *outcome, json_t *summary)
{
	char		*text = json_dumps(summary, JSON_COMPACT | JSON_SORT_KEYS);
	const char	*params[3] = { id, outcome, text != NULL ? text : "{}" };

	db_exec(db, NULL, "UPDATE cron_runs SET finished_at = now(), outcome = $2,"
	    " summary = $3::jsonb WHERE id = $1", 3, params);
	free(text);
}

int
ctl_cron(const struct config *cfg, int argc, char **argv)
{
	struct db	 db;
	PGresult	*res;
	const char	*params[1];
	char		 run_id[37] = "", *text;
	json_t		*summary;
	size_t		 i;
	int		 status = 1;
	bool		 locked;
	enum fb_err	 e;

	if (argc != 1)
		return usage();
	for (i = 0; i < sizeof(tasks) / sizeof(tasks[0]); i++)
		if (strcmp(tasks[i].name, argv[0]) == 0)
			break;
	if (i == sizeof(tasks) / sizeof(tasks[0]))
		return usage();
	params[0] = tasks[i].name;
	if (db_open(&db, cfg->database_url, 0, "fastbackctl") != FB_OK) {
		fprintf(stderr, "cron %s: cannot connect to the database\n", tasks[i].name);
		db_close(&db);
		return 1;
	}
	if (db_query(&db, &res, "SELECT pg_try_advisory_lock(" CRON_LOCK_CLASS
	    ", hashtext($1)) AS got", 1, params) != FB_OK) {
		fprintf(stderr, "cron %s: cannot take the task's lock\n", tasks[i].name);
		db_close(&db);
		return 1;
	}
	locked = strcmp(db_get(res, 0, "got"), "t") == 0;
	PQclear(res);
	if (!locked) {
		db_exec(&db, NULL, "INSERT INTO cron_runs (task, finished_at, outcome, summary)"
		    " VALUES ($1, now(), 'skipped', '{\"reason\":\"another run is in progress\"}')",
		    1, params);
		printf("cron %s: another run is still in progress; skipped\n", tasks[i].name);
		db_close(&db);
		return 0;
	}
	if (db_query(&db, &res, "INSERT INTO cron_runs (task) VALUES ($1) RETURNING id",
	    1, params) == FB_OK) {
		snprintf(run_id, sizeof(run_id), "%s", db_get(res, 0, "id"));
		PQclear(res);
	}
	summary = json_object();
	e = tasks[i].fn(&db, summary);
	if (e != FB_OK)
		json_object_set_new(summary, "error", json_string(fb_strerror(e)));
	if (run_id[0] != '\0')
		record(&db, run_id, e == FB_OK ? "ok" : "failed", summary);
	text = json_dumps(summary, JSON_COMPACT | JSON_SORT_KEYS);
	printf("cron %s: %s %s\n", tasks[i].name, e == FB_OK ? "ok" : "failed",
	    text != NULL ? text : "");
	free(text);
	json_decref(summary);
	status = e == FB_OK ? 0 : 1;
	if (db_query(&db, &res, "SELECT pg_advisory_unlock(" CRON_LOCK_CLASS
	    ", hashtext($1))", 1, params) == FB_OK)
		PQclear(res);
	db_close(&db);
	return status;
}
