/*
 * jobs — the durable job queue in PostgreSQL (schema/002_jobs.sql).
 *
 * Enqueue runs on the caller's connection, so inside the caller's open
 * transaction the job exists exactly when the change that caused it commits.
 * Workers claim due jobs with FOR UPDATE SKIP LOCKED and hold a lease they
 * renew; a job whose lease runs out is rescued (queued again, or dead when
 * out of attempts). Every outcome is fenced by (id, attempt): the worker of a
 * rescued attempt cannot overwrite the outcome of a later one. Failures retry
 * with exponential backoff and jitter; a permanent failure goes dead at once.
 */
#ifndef FB_JOBS_H
#define FB_JOBS_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "db.h"
#include "err.h"

#define JOB_KIND_MAX		64	/* [a-z0-9_.-]{1,64} */
#define JOB_ERROR_MAX		2000	/* last_error is cut to this many bytes */
#define JOB_DEFAULT_ATTEMPTS	5

struct job_spec {
	const char	*kind;
	const char	*payload;	/* JSON object text (or NULL: {}) */
	int		 priority;	/* higher runs first */
	int		 delay_seconds;	/* run_at = now() + delay */
	int		 max_attempts;	/* 0: JOB_DEFAULT_ATTEMPTS */
	const char	*unique_key;	/* (or NULL) at most one unfinished job per key */
};

struct job {
	char	 id[37];
	char	 kind[JOB_KIND_MAX + 1];
	char	*payload;		/* JSON text, owned */
	int	 attempt;		/* 1 for the first run */
	int	 max_attempts;
};

/* What a kind of job may take: attempts before it is dead, and how long one
 * run may last before the worker stops it and retries. */
struct job_kind_info {
	const char	*name;		/* (NULL: the defaults of any other kind) */
	int		 max_attempts;
	int		 timeout_seconds;
};

/* The settings of kind (those of unlisted kinds when it is not listed). */
const struct job_kind_info *jobs_kind_info(const char *kind);

/* Queues a job (max_attempts 0: the kind's). *created is false when an unfinished job with the same
 * unique key exists; id_out (may be NULL) then names that job. */
enum fb_err	jobs_enqueue(struct db *db, const struct job_spec *spec,
		    char id_out[37], bool *created);
/* Claims up to max due jobs (of kinds[0..nkinds), or any kind when nkinds is
 * 0) for worker, leased for lease_seconds. *jobs is an array of *n jobs for
 * jobs_free(); empty (NULL, 0) when nothing is due. */
enum fb_err	jobs_claim(struct db *db, const char *worker, const char *const *kinds,
		    size_t nkinds, int max, int lease_seconds, struct job **jobs, size_t *n);
void		jobs_free(struct job *jobs, size_t n);
/* Records success. *applied is false when the attempt no longer owns the job. */
enum fb_err	jobs_complete(struct db *db, const char *id, int attempt, bool *applied);
/* Records a failure: queued again after a backoff of about
 * backoff_ms * 2^(attempt-1) (±50% jitter, at most an hour), or dead when
 * permanent or out of attempts (*dead says which). */
enum fb_err	jobs_fail(struct db *db, const char *id, int attempt, const char *error,
		    bool permanent, int backoff_ms, bool *applied, bool *dead);
/* Gives a claimed job back: due now; a job that never started gets its
 * attempt back, one that was interrupted keeps it. */
enum fb_err	jobs_release(struct db *db, const char *id, int attempt, bool started);
/* Renews the leases of running jobs (ids[i], attempts[i]). */
enum fb_err	jobs_heartbeat(struct db *db, const char *const *ids, const int *attempts,
		    size_t n, int lease_seconds);
/* Requeues (or kills, when out of attempts) running jobs whose lease expired. */
enum fb_err	jobs_rescue(struct db *db, long *rescued);
/* Cancels a queued job. *applied false when it was not queued. */
enum fb_err	jobs_cancel(struct db *db, const char *id, bool *applied);
/* Queues a dead or cancelled job again with a fresh set of attempts. */
enum fb_err	jobs_retry(struct db *db, const char *id, bool *applied);
/* Deletes succeeded jobs older than succeeded_hours and dead or cancelled
 * ones older than dead_days. */
enum fb_err	jobs_prune(struct db *db, int succeeded_hours, int dead_days, long *deleted);
/* Adds n to the outcome counter of kind (for /metrics). */
enum fb_err	jobs_count(struct db *db, const char *kind, const char *outcome, long n);
/* A page of jobs, newest first, of one state (or all: NULL), for operators:
 * {"id","kind","state","attempt","max_attempts","run_at","last_error",
 * "created_at","finished_at"} (no payload: it may hold personal data).
 * FB_ERR_INVALID for an unknown state or a bad cursor. */
enum fb_err	jobs_list(struct db *db, const char *state, const char *after, int limit,
		    json_t **data, char **next);
/* True for a name of the form of a job kind. */
bool		jobs_kind_valid(const char *kind);

#endif
