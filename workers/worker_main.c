/*
 * fastback-worker [--config FILE] [--once] [--processes N]
 *
 * Runs background jobs until SIGTERM; with --once, runs what is due and exits
 * (for hosting where only cron can start programs).
 */
#include "worker.h"

int
main(int argc, char *argv[])
{
	return worker_main(argc, argv, worker_handlers);
}
