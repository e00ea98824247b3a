/*
 * worker — fastback-worker: a master and WORKER_PROCESSES children that run
 * jobs from the queue (shared/jobs.h), one at a time each.
 *
 * A child claims a batch, tells the master over a pipe what it claimed and
 * which job it starts, runs the handler and records the outcome. The master
 * renews the leases of everything its children hold, stops a job that runs
 * past its kind's timeout (killing the child; the job is retried), fails or
 * releases the jobs of a child that died, rescues expired leases of workers
 * that vanished, prunes old finished jobs, and on SIGTERM lets running jobs
 * finish within WORKER_GRACE_SECONDS before releasing the rest.
 */
#ifndef FB_WORKER_H
#define FB_WORKER_H

#include <stddef.h>

#include <jansson.h>

#include "config.h"
#include "db.h"
#include "jobs.h"

enum job_result {
	JOB_DONE,	/* succeeded */
	JOB_RETRY,	/* failed for now: retry after a backoff */
	JOB_DEAD,	/* failed for good: no retry */
};

struct job_ctx {
	const struct config	*cfg;
	struct db		*db;		/* the child's connection */
	const struct job	*job;
	json_t			*payload;	/* the parsed payload object */
	char			*error;		/* the handler writes why it failed */
	size_t			 errlen;
};

typedef enum job_result (*job_handler)(struct job_ctx *ctx);

struct job_handler_entry {
	const char	*kind;
	job_handler	 handler;
	int		 timeout_seconds;	/* 0: the kind's (jobs_kind_info) */
};

/* The product's handlers, ended by { NULL, NULL }. */
extern const struct job_handler_entry worker_handlers[];

/* Runs fastback-worker with the given handlers (ended by { NULL, NULL }).
 * Arguments: [--config FILE] [--once] [--processes N]. Returns the exit
 * status (2: bad usage or configuration). */
int	worker_main(int argc, char **argv, const struct job_handler_entry *handlers);

#endif
