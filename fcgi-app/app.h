/*
 * app — the state of one responder process, in one struct: its configuration,
 * its database and Redis connections. The master owns the listening socket;
 * each responder gets its own struct app after fork().
 */
#ifndef FB_APP_H
#define FB_APP_H

#include <stdbool.h>

#include "config.h"
#include "db.h"
#include "kv.h"

struct app {
	struct config	 cfg;
	const char	*config_file;	/* --config FILE (or NULL) */
	struct db	 db;
	struct kv	 kv;
	bool		 has_kv;	/* REDIS_URL is set */
};

#endif
