#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "cursor.h"
#include "jobs.h"
#include "log.h"

/*
 * Once a job is finished, the parts of its payload that carry secrets (the
 * links with single-use tokens in an email's vars) are dropped, so the raw
 * tokens live in the database only while the mail waits to be sent.
 */
#define REDACT_DONE "(CASE WHEN kind = 'email.send' THEN payload - 'vars' ELSE payload END)"

/* Every kind the product queues, with its limits. */
static const struct job_kind_info kind_table[] = {
	{ "email.send",	8,	60 },	/* SMTP: temporary failures retry for hours */
	{ "noop",	3,	10 },	/* does nothing: queue checks and benchmarks */
	{ NULL,		JOB_DEFAULT_ATTEMPTS, 300 },
};

const struct job_kind_info *
jobs_kind_info(const char *kind)
{
	const struct job_kind_info *k;

	for (k = kind_table; k->name != NULL; k++)
		if (strcmp(k->name, kind) == 0)
			break;
	return k;
}

bool
jobs_kind_valid(const char *kind)
{
	size_t	i;

	for (i = 0; kind[i] != '\0'; i++)
		if (i >= JOB_KIND_MAX || !(islower((unsigned char)kind[i]) ||
		    isdigit((unsigned char)kind[i]) || kind[i] == '_' ||
		    kind[i] == '.' || kind[i] == '-'))
			return false;
	return i > 0;
}

enum fb_err
jobs_enqueue(struct db *db, const struct job_spec *spec, char id_out[37],
    bool *created)
{
	char		 prio[16], delay[16], attempts[16];
	const char	*params[6];
	PGresult	*res;
	enum fb_err	 e;

	*created = false;
	if (!jobs_kind_valid(spec->kind) || spec->max_attempts < 0 ||
	    spec->max_attempts > 100 || spec->delay_seconds < 0 ||
	    spec->priority < -1000 || spec->priority > 1000)
		return FB_ERR_INVALID;
	snprintf(prio, sizeof(prio), "%d", spec->priority);
	snprintf(delay, sizeof(delay), "%d", spec->delay_seconds);
	snprintf(attempts, sizeof(attempts), "%d", spec->max_attempts > 0 ?
	    spec->max_attempts : jobs_kind_info(spec->kind)->max_attempts);
	params[0] = spec->kind;
	params[1] = spec->payload != NULL ? spec->payload : "{}";
	params[2] = prio;
	params[3] = delay;
	params[4] = attempts;
	params[5] = spec->unique_key;
	/* The unique index decides; on a clash, name the pending job. */
	e = db_query(db, &res,
	    "WITH ins AS ("
	    " INSERT INTO jobs (kind, payload, priority, run_at, max_attempts, unique_key)"
	    " VALUES ($1, $2::jsonb, $3, now() + make_interval(secs => $4::int), $5, $6)"
	    " ON CONFLICT (unique_key) WHERE unique_key IS NOT NULL"
	    "  AND state IN ('queued', 'running') DO NOTHING"
	    " RETURNING id, true AS created)"
	    " SELECT id, created FROM ins"
	    " UNION ALL"
	    " SELECT id, false FROM jobs WHERE $6::text IS NOT NULL AND unique_key = $6"
	    "  AND state IN ('queued', 'running') AND NOT EXISTS (SELECT 1 FROM ins)",
	    6, params);
	if (e != FB_OK)
		return e;
	if (PQntuples(res) > 0) {
		*created = strcmp(db_get(res, 0, "created"), "t") == 0;
		if (id_out != NULL)
			snprintf(id_out, 37, "%s", db_get(res, 0, "id"));
	} else if (id_out != NULL)
		id_out[0] = '\0';	/* the clashing job finished meanwhile */
	PQclear(res);
	return FB_OK;
}

void
jobs_free(struct job *jobs, size_t n)
{
	size_t	i;

	for (i = 0; jobs != NULL && i < n; i++)
		free(jobs[i].payload);
	free(jobs);
}

/* {"a","b"} as a PostgreSQL array literal of safe kind names. */
static enum fb_err
kinds_literal(const char *const *kinds, size_t n, struct buf *out)
{
	size_t	i;

	buf_puts(out, "{");
	for (i = 0; i < n; i++) {
		if (!jobs_kind_valid(kinds[i]))
			return FB_ERR_INVALID;
		buf_printf(out, "%s\"%s\"", i ? "," : "", kinds[i]);
	}
	buf_puts(out, "}");
	return buf_failed(out) ? FB_ERR_NOMEM : FB_OK;
}

enum fb_err
jobs_claim(struct db *db, const char *worker, const char *const *kinds,
    size_t nkinds, int max, int lease_seconds, struct job **jobs, size_t *n)
{
	struct buf	 arr = BUF_INIT;
	char		 maxs[16], lease[16];
	const char	*params[4];
	PGresult	*res;
	struct job	*list;
	enum fb_err	 e;
	int		 i, rows;

	*jobs = NULL;
	*n = 0;
	if ((e = kinds_literal(kinds, nkinds, &arr)) != FB_OK) {
		buf_free(&arr);
		return e;
	}
	snprintf(maxs, sizeof(maxs), "%d", max);
	snprintf(lease, sizeof(lease), "%d", lease_seconds);
	params[0] = worker;
	params[1] = maxs;
	params[2] = lease;
	params[3] = nkinds > 0 ? buf_str(&arr) : NULL;
	e = db_query(db, &res,
	    "WITH due AS ("
	    " SELECT id FROM jobs"
	    " WHERE state = 'queued' AND run_at <= now()"
	    "  AND ($4::text[] IS NULL OR kind = ANY ($4::text[]))"
	    " ORDER BY priority DESC, run_at, id"
	    " LIMIT $2 FOR UPDATE SKIP LOCKED)"
	    " UPDATE jobs j SET state = 'running', attempt = j.attempt + 1,"
	    "  locked_by = $1, lease_until = now() + make_interval(secs => $3::int),"
	    "  started_at = now(), updated_at = now()"
	    " FROM due WHERE j.id = due.id"
	    " RETURNING j.id, j.kind, j.payload::text AS payload, j.attempt, j.max_attempts,"
	    "  j.priority, j.run_at",
	    4, params);
	buf_free(&arr);
	if (e != FB_OK)
		return e;
	rows = PQntuples(res);
	if (rows == 0) {
		PQclear(res);
		return FB_OK;
	}
	if ((list = calloc((size_t)rows, sizeof(*list))) == NULL) {
		PQclear(res);
		return FB_ERR_NOMEM;
	}
	for (i = 0; i < rows; i++) {
		snprintf(list[i].id, sizeof(list[i].id), "%s", db_get(res, i, "id"));
		snprintf(list[i].kind, sizeof(list[i].kind), "%s", db_get(res, i, "kind"));
		list[i].attempt = (int)strtol(db_get(res, i, "attempt"), NULL, 10);
		list[i].max_attempts = (int)strtol(db_get(res, i, "max_attempts"), NULL, 10);
		if ((list[i].payload = strdup(db_get(res, i, "payload"))) == NULL) {
			jobs_free(list, (size_t)rows);
			PQclear(res);
			return FB_ERR_NOMEM;
		}
	}
	PQclear(res);
	/* RETURNING has no order: run them by priority, then age, as claimed. */
	*jobs = list;
	*n = (size_t)rows;
	return FB_OK;
}

enum fb_err
jobs_complete(struct db *db, const char *id, int attempt, bool *applied)
{
	char		 att[16];
	const char	*params[2] = { id, att };
	long		 rows = 0;
	enum fb_err	 e;

	snprintf(att, sizeof(att), "%d", attempt);
	e = db_exec(db, &rows,
	    "UPDATE jobs SET state = 'succeeded', finished_at = now(), updated_at = now(),"
	    " lease_until = NULL, locked_by = NULL, last_error = NULL,"
	    " payload = " REDACT_DONE
	    " WHERE id = $1 AND attempt = $2 AND state = 'running'", 2, params);
	*applied = rows == 1;
	return e;
}

enum fb_err
jobs_fail(struct db *db, const char *id, int attempt, const char *error,
    bool permanent, int backoff_ms, bool *applied, bool *dead)
{
	char		 att[16], perm[2], base[16], err[JOB_ERROR_MAX + 1];
	const char	*params[5] = { id, att, err, perm, base };
	PGresult	*res;
	enum fb_err	 e;
	size_t		 len;

	*applied = *dead = false;
	snprintf(att, sizeof(att), "%d", attempt);
	snprintf(perm, sizeof(perm), "%s", permanent ? "t" : "f");
	snprintf(base, sizeof(base), "%d", backoff_ms);
	/* Cut at a UTF-8 boundary so the text stays valid. */
	len = strlen(error != NULL ? error : "");
	if (len > JOB_ERROR_MAX)
		len = JOB_ERROR_MAX;
	memcpy(err, error != NULL ? error : "", len);
	while (len > 0 && ((unsigned char)err[len] & 0xc0) == 0x80 && len < strlen(error))
		len--;
	err[len] = '\0';
	e = db_query(db, &res,
	    "UPDATE jobs SET"
	    " state = CASE WHEN $4::boolean OR attempt >= max_attempts"
	    "  THEN 'dead' ELSE 'queued' END,"
	    " finished_at = CASE WHEN $4::boolean OR attempt >= max_attempts"
	    "  THEN now() END,"
	    /* backoff_ms * 2^(attempt-1), jitter ×[0.5, 1.5), capped at an hour */
	    " run_at = now() + make_interval(secs => least(3600.0,"
	    "  $5::int / 1000.0 * power(2, least(attempt - 1, 20)) * (0.5 + random()))),"
	    " last_error = $3, lease_until = NULL, locked_by = NULL, updated_at = now(),"
	    " payload = CASE WHEN $4::boolean OR attempt >= max_attempts THEN " REDACT_DONE
	    "  ELSE payload END"
	    " WHERE id = $1 AND attempt = $2 AND state = 'running'"
	    " RETURNING state", 5, params);
	if (e != FB_OK)
		return e;
	if (PQntuples(res) == 1) {
		*applied = true;
		*dead = strcmp(db_get(res, 0, "state"), "dead") == 0;
	}
	PQclear(res);
	return FB_OK;
}

enum fb_err
jobs_release(struct db *db, const char *id, int attempt, bool started)
{
	char		 att[16];
	const char	*params[3] = { id, att, started ? "t" : "f" };

	snprintf(att, sizeof(att), "%d", attempt);
	return db_exec(db, NULL,
	    "UPDATE jobs SET state = 'queued', run_at = now(), lease_until = NULL,"
	    " locked_by = NULL, updated_at = now(),"
	    " attempt = CASE WHEN $3::boolean THEN attempt ELSE attempt - 1 END"
	    " WHERE id = $1 AND attempt = $2 AND state = 'running'", 3, params);
}

enum fb_err
jobs_heartbeat(struct db *db, const char *const *ids, const int *attempts,
    size_t n, int lease_seconds)
{
	struct buf	 idl = BUF_INIT, attl = BUF_INIT;
	char		 lease[16];
	const char	*params[3];
	size_t		 i;
	enum fb_err	 e;

	if (n == 0)
		return FB_OK;
	buf_puts(&idl, "{");
	buf_puts(&attl, "{");
	for (i = 0; i < n; i++) {
		buf_printf(&idl, "%s%s", i ? "," : "", ids[i]);
		buf_printf(&attl, "%s%d", i ? "," : "", attempts[i]);
	}
	buf_puts(&idl, "}");
	buf_puts(&attl, "}");
	snprintf(lease, sizeof(lease), "%d", lease_seconds);
	params[0] = buf_str(&idl);
	params[1] = buf_str(&attl);
	params[2] = lease;
	e = buf_failed(&idl) || buf_failed(&attl) ? FB_ERR_NOMEM :
	    db_exec(db, NULL,
	    "UPDATE jobs j SET lease_until = now() + make_interval(secs => $3::int)"
	    " FROM unnest($1::uuid[], $2::int[]) AS h(id, attempt)"
	    " WHERE j.id = h.id AND j.attempt = h.attempt AND j.state = 'running'",
	    3, params);
	buf_free(&idl);
	buf_free(&attl);
	return e;
}

enum fb_err
jobs_rescue(struct db *db, long *rescued)
{
	*rescued = 0;
	return db_exec(db, rescued,
	    "UPDATE jobs SET"
	    " state = CASE WHEN attempt >= max_attempts THEN 'dead' ELSE 'queued' END,"
	    " finished_at = CASE WHEN attempt >= max_attempts THEN now() END,"
	    " last_error = 'lease expired: the worker running attempt ' || attempt"
	    "  || ' stopped answering',"
	    " run_at = now(), lease_until = NULL, locked_by = NULL, updated_at = now()"
	    " WHERE state = 'running' AND lease_until < now()", 0, NULL);
}

enum fb_err
jobs_cancel(struct db *db, const char *id, bool *applied)
{
	const char	*params[1] = { id };
	long		 rows = 0;
	enum fb_err	 e;

	e = db_exec(db, &rows,
	    "UPDATE jobs SET state = 'cancelled', finished_at = now(), updated_at = now()"
	    " WHERE id = $1 AND state = 'queued'", 1, params);
	*applied = rows == 1;
	return e;
}

enum fb_err
jobs_retry(struct db *db, const char *id, bool *applied)
{
	const char	*params[1] = { id };
	long		 rows = 0;
	enum fb_err	 e;

	e = db_exec(db, &rows,
	    "UPDATE jobs SET state = 'queued', attempt = 0, run_at = now(),"
	    " finished_at = NULL, updated_at = now()"
	    " WHERE id = $1 AND state IN ('dead', 'cancelled')", 1, params);
	*applied = rows == 1;
	return e;
}

enum fb_err
jobs_prune(struct db *db, int succeeded_hours, int dead_days, long *deleted)
{
	char		 h[16], d[16];
	const char	*params[2] = { h, d };

	snprintf(h, sizeof(h), "%d", succeeded_hours);
	snprintf(d, sizeof(d), "%d", dead_days);
	*deleted = 0;
	return db_exec(db, deleted,
	    "DELETE FROM jobs WHERE"
	    " (state = 'succeeded' AND finished_at < now() - make_interval(hours => $1::int))"
	    " OR (state IN ('dead', 'cancelled')"
	    "  AND finished_at < now() - make_interval(days => $2::int))", 2, params);
}

enum fb_err
jobs_count(struct db *db, const char *kind, const char *outcome, long n)
{
	char		 num[24];
	const char	*params[3] = { kind, outcome, num };

	snprintf(num, sizeof(num), "%ld", n);
	return db_exec(db, NULL,
	    "INSERT INTO job_counters (kind, outcome, count) VALUES ($1, $2, $3)"
	    " ON CONFLICT (kind, outcome) DO UPDATE SET count = job_counters.count + $3",
	    3, params);
}

#define JOB_TS(col) "to_char(" col " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"

enum fb_err
jobs_list(struct db *db, const char *state, const char *after, int limit, json_t **data,
    char **next)
{
	static const char *const states[] =
	    { "queued", "running", "succeeded", "dead", "cancelled" };
	char		 ts[CURSOR_PART_MAX + 1], id[CURSOR_PART_MAX + 1], lim[16];
	const char	*params[4];
	PGresult	*res;
	enum fb_err	 e;
	size_t		 s;
	int		 i, n;

	*data = NULL;
	*next = NULL;
	for (s = 0; state != NULL && s < sizeof(states) / sizeof(states[0]); s++)
		if (strcmp(states[s], state) == 0)
			break;
	if ((state != NULL && s == sizeof(states) / sizeof(states[0])) ||
	    (after != NULL && cursor_decode(after, ts, id) != FB_OK))
		return FB_ERR_INVALID;
	snprintf(lim, sizeof(lim), "%d", limit + 1);
	params[0] = state;
	params[1] = after != NULL ? ts : NULL;
	params[2] = after != NULL ? id : NULL;
	params[3] = lim;
	e = db_query(db, &res, "SELECT j.id, j.kind, j.state, j.attempt, j.max_attempts,"
	    " " JOB_TS("j.run_at") " AS run_at, j.last_error, " JOB_TS("j.created_at") " AS created_at,"
	    " " JOB_TS("j.finished_at") " AS finished_at,"
	    " to_char(j.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"') AS k"
	    " FROM jobs j WHERE ($1::text IS NULL OR j.state = $1)"
	    " AND ($2::timestamptz IS NULL OR (j.created_at, j.id) < ($2::timestamptz, $3::uuid))"
	    " ORDER BY j.created_at DESC, j.id DESC LIMIT $4::int", 4, params);
	if (e != FB_OK)
		return e;
	*data = json_array();
	n = PQntuples(res);
	for (i = 0; i < n && i < limit; i++)
		json_array_append_new(*data, json_pack("{s:s,s:s,s:s,s:i,s:i,s:s,s:s?,s:s,s:s?}",
		    "id", db_get(res, i, "id"), "kind", db_get(res, i, "kind"),
		    "state", db_get(res, i, "state"),
		    "attempt", (int)strtol(db_get(res, i, "attempt"), NULL, 10),
		    "max_attempts", (int)strtol(db_get(res, i, "max_attempts"), NULL, 10),
		    "run_at", db_get(res, i, "run_at"), "last_error", db_get(res, i, "last_error"),
		    "created_at", db_get(res, i, "created_at"),
		    "finished_at", db_get(res, i, "finished_at")));
	if (n > limit)
		*next = cursor_encode(db_get(res, limit - 1, "k"), db_get(res, limit - 1, "id"));
	PQclear(res);
	return FB_OK;
}
