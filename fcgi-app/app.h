/*
 * app — the state of one responder process, in one struct: its configuration,
 * its database and Redis connections. The master owns the listening socket;
 * each responder gets its own struct app after fork().
 */
#ifndef FB_APP_H
#define FB_APP_H

#include <stdbool.h>
#include <stdio.h>

#include "config.h"
#include "crypto.h"
#include "db.h"
#include "jwt.h"
#include "kv.h"
#include "password.h"
#include "ratelimit.h"

struct app {
	struct config	 cfg;
	const char	*config_file;	/* --config FILE (or NULL) */
	struct db	 db;
	struct kv	 kv;
	bool		 has_kv;	/* REDIS_URL is set */
	struct jwt_keyring jwt;		/* loaded with the configuration */
	struct password_params pw;
	struct crypto_keyring keys;	/* ENCRYPTION_KEYS (count 0: not configured) */
	struct ratelimit rl;		/* Redis when configured, else PostgreSQL */
};

/* Loads what the configuration names (the token keys); after config_load.
 * Writes one line to errs and returns -1 on failure. */
int	app_load_keys(struct app *app, FILE *errs);
void	app_free_keys(struct app *app);

#endif
