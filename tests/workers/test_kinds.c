/*
 * fastback-worker-test — fastback-worker with the product's job kinds plus
 * kinds the integration tests need (tests/integration/5*-jobs*.t). Never
 * installed. Each test kind records its runs in test_job_runs, a table the
 * test creates:
 *   CREATE TABLE test_job_runs (job_id uuid, attempt int, kind text,
 *       pid int, started_at timestamptz DEFAULT clock_timestamp(),
 *       finished_at timestamptz);
 */
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "worker.h"

static bool
record(struct job_ctx *ctx, bool finished)
{
	char		 att[16], pid[16];
	const char	*params[4] = { ctx->job->id, att, ctx->job->kind, pid };

	snprintf(att, sizeof(att), "%d", ctx->job->attempt);
	snprintf(pid, sizeof(pid), "%d", (int)getpid());
	if (finished)
		return db_exec(ctx->db, NULL, "UPDATE test_job_runs SET finished_at ="
		    " clock_timestamp() WHERE job_id = $1 AND attempt = $2", 2, params) == FB_OK;
	return db_exec(ctx->db, NULL, "INSERT INTO test_job_runs (job_id, attempt, kind, pid)"
	    " VALUES ($1, $2, $3, $4)", 4, params) == FB_OK;
}

/* Sleeps payload.ms milliseconds (default 0), whole, ignoring signals. */
static void
nap(struct job_ctx *ctx)
{
	json_int_t	ms = json_integer_value(json_object_get(ctx->payload, "ms"));
	struct timespec	ts = { (time_t)(ms / 1000), (long)(ms % 1000) * 1000000 };

	while (ms > 0 && nanosleep(&ts, &ts) != 0)
		;
}

/* test.record: records the run, sleeps payload.ms, records the end. */
static enum job_result
test_record(struct job_ctx *ctx)
{
	if (!record(ctx, false)) {
		snprintf(ctx->error, ctx->errlen, "cannot record the run");
		return JOB_RETRY;
	}
	nap(ctx);
	record(ctx, true);
	return JOB_DONE;
}

/* test.fail: records the run, then fails (permanently with payload.permanent). */
static enum job_result
test_fail(struct job_ctx *ctx)
{
	record(ctx, false);
	snprintf(ctx->error, ctx->errlen, "test.fail always fails (attempt %d)",
	    ctx->job->attempt);
	return json_is_true(json_object_get(ctx->payload, "permanent")) ? JOB_DEAD : JOB_RETRY;
}

/* test.slow: test.record with a 2 s timeout, for the timeout test. */
static enum job_result
test_slow(struct job_ctx *ctx)
{
	return test_record(ctx);
}

static const struct job_handler_entry handlers[] = {
	{ "email.send",		NULL, 0 },	/* replaced from worker_handlers below */
	{ "noop",		NULL, 0 },
	{ "test.record",	test_record, 0 },
	{ "test.fail",		test_fail, 0 },
	{ "test.slow",		test_slow, 2 },
	{ NULL,			NULL, 0 },
};

int
main(int argc, char *argv[])
{
	struct job_handler_entry all[sizeof(handlers) / sizeof(handlers[0])];
	const struct job_handler_entry *p;
	size_t		 i;

	memcpy(all, handlers, sizeof(all));
	for (i = 0; all[i].kind != NULL; i++)
		for (p = worker_handlers; all[i].handler == NULL && p->kind != NULL; p++)
			if (strcmp(p->kind, all[i].kind) == 0)
				all[i] = *p;
	return worker_main(argc, argv, all);
}
