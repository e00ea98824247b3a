/*
 * fastback-worker — runs background jobs. The queue arrives with the jobs
 * issue; until then the worker connects, listens for job notifications and
 * shuts down cleanly on SIGTERM.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "db.h"
#include "log.h"

static volatile sig_atomic_t stop;

static void
on_stop(int sig)
{
	(void)sig;
	stop = 1;
}

int
main(int argc, char *argv[])
{
	struct config	 cfg;
	struct db	 db;
	struct sigaction sa;
	struct pollfd	 pfd;
	const char	*file = NULL;
	int		 i;

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--config") == 0 && i + 1 < argc)
			file = argv[++i];
		else {
			fprintf(stderr, "usage: fastback-worker [--config FILE]\n");
			return 2;
		}
	}
	if (config_load_flags(&cfg, file, stderr, CONFIG_NO_JWT) != 0)
		return 2;
	log_setup("fastback-worker", cfg.log_level);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_stop;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	db_open(&db, cfg.database_url, 0, "fastback-worker");
	log_msg(FBLOG_INFO, "worker started");
	while (!stop) {
		if (db_exec(&db, NULL, "LISTEN fastback_jobs", 0, NULL) != FB_OK) {
			poll(NULL, 0, 1000);
			continue;
		}
		pfd.fd = PQsocket(db.conn);
		pfd.events = POLLIN;
		if (poll(&pfd, 1, 5000) > 0 && PQconsumeInput(db.conn) == 1) {
			PGnotify *n;
			while ((n = PQnotifies(db.conn)) != NULL)
				PQfreemem(n);
		}
	}
	log_msg(FBLOG_INFO, "worker stopped");
	db_close(&db);
	config_free(&cfg);
	return 0;
}
