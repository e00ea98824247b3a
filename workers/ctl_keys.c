/*
 * fastbackctl keys rotate — re-seals every stored secret (TOTP secrets, API
 * keys) under the current key of ENCRYPTION_KEYS. Rows are taken in batches
 * under row locks, each batch is its own transaction, and a row is updated
 * only if it still holds what was read: interrupt it and run it again at any
 * time. Keep the old key listed until it reports nothing left to do.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apikeys.h"
#include "crypto.h"
#include "ctl.h"
#include "db.h"

#define ROTATE_BATCH "200"

struct sealed_column {
	const char	*table;
	const char	*column;
	const char	*select;	/* id (the AAD row id), value; $1: the current key's prefix */
	const char	*update;	/* $1 new value, $2 old value, then the key columns */
};

static const struct sealed_column columns[] = {
	{ "user_mfa", "secret",
	  "SELECT user_id::text AS id, secret AS value, user_id::text AS k1, NULL AS k2"
	  " FROM user_mfa WHERE secret IS NOT NULL AND secret NOT LIKE $1"
	  " LIMIT " ROTATE_BATCH " FOR UPDATE SKIP LOCKED",
	  "UPDATE user_mfa SET secret = $1 WHERE secret = $2 AND user_id = $3::uuid" },
	{ "user_mfa", "pending_secret",
	  "SELECT user_id::text AS id, pending_secret AS value, user_id::text AS k1, NULL AS k2"
	  " FROM user_mfa WHERE pending_secret IS NOT NULL AND pending_secret NOT LIKE $1"
	  " LIMIT " ROTATE_BATCH " FOR UPDATE SKIP LOCKED",
	  "UPDATE user_mfa SET pending_secret = $1 WHERE pending_secret = $2"
	  " AND user_id = $3::uuid" },
	{ "user_api_keys", "key",
	  "SELECT user_id::text || ':' || provider AS id, key AS value, user_id::text AS k1,"
	  " provider AS k2 FROM user_api_keys WHERE key NOT LIKE $1"
	  " LIMIT " ROTATE_BATCH " FOR UPDATE SKIP LOCKED",
	  "UPDATE user_api_keys SET key = $1 WHERE key = $2 AND user_id = $3::uuid"
	  " AND provider = $4" },
};

/* One batch of one column; *done gets the rows re-sealed. */
static enum fb_err
rotate_batch(struct db *db, const struct crypto_keyring *keys, const struct sealed_column *c,
    const char *prefix, long *done, long *failed)
{
	const char	*params[4];
	unsigned char	*plain = NULL;
	char		*fresh = NULL;
	size_t		 len = 0;
	PGresult	*res;
	enum fb_err	 e;
	int		 i;

	*done = 0;
	if ((e = db_begin(db)) != FB_OK)
		return e;
	params[0] = prefix;
	if ((e = db_query(db, &res, c->select, 1, params)) != FB_OK) {
		db_rollback(db);
		return e;
	}
	for (i = 0; i < PQntuples(res); i++) {
		if (crypto_open(keys, c->table, c->column, db_get(res, i, "id"),
		    db_get(res, i, "value"), &plain, &len) != FB_OK) {
			fprintf(stderr, "keys rotate: %s.%s of %s does not open (unknown key "
			    "or damaged); left as it is\n", c->table, c->column, db_get(res, i, "id"));
			(*failed)++;
			continue;
		}
		e = crypto_seal(keys, c->table, c->column, db_get(res, i, "id"), plain, len, &fresh);
		crypto_free_secret(plain, len);
		if (e != FB_OK)
			break;
		params[0] = fresh;
		params[1] = db_get(res, i, "value");
		params[2] = db_get(res, i, "k1");
		params[3] = db_get(res, i, "k2");
		e = db_exec(db, NULL, c->update, c->update[strlen(c->update) - 1] == '4' ? 4 : 3,
		    params);
		free(fresh);
		fresh = NULL;
		if (e != FB_OK)
			break;
		(*done)++;
	}
	PQclear(res);
	if (e != FB_OK) {
		db_rollback(db);
		return e;
	}
	return db_commit(db);
}

int
ctl_keys(const struct config *cfg, int argc, char **argv)
{
	struct crypto_keyring	 keys;
	struct db		 db;
	char			 prefix[CRYPTO_KEY_ID_MAX + 8];
	long			 done, total = 0, failed = 0;
	char			 current[CRYPTO_KEY_ID_MAX + 1];
	size_t			 i;
	enum fb_err		 e = FB_OK;

	if (argc != 1 || strcmp(argv[0], "rotate") != 0) {
		fprintf(stderr, "usage: fastbackctl keys rotate\n");
		return 2;
	}
	if (crypto_keyring_load(cfg->encryption_keys, &keys) != FB_OK || keys.count == 0) {
		fprintf(stderr, "keys rotate: ENCRYPTION_KEYS is not set or not valid\n");
		return 2;
	}
	snprintf(prefix, sizeof(prefix), "v1.%s.%%", keys.keys[0].id);
	snprintf(current, sizeof(current), "%s", keys.keys[0].id);
	if (db_open(&db, cfg->database_url, 0, "fastbackctl") != FB_OK) {
		fprintf(stderr, "keys rotate: cannot connect to the database\n");
		db_close(&db);
		crypto_keyring_free(&keys);
		return 1;
	}
	for (i = 0; i < sizeof(columns) / sizeof(columns[0]) && e == FB_OK; i++) {
		/* Rows that do not open stay; stop when a batch moves nothing. */
		do {
			e = rotate_batch(&db, &keys, &columns[i], prefix, &done, &failed);
			total += done;
		} while (e == FB_OK && done > 0);
	}
	db_close(&db);
	crypto_keyring_free(&keys);
	if (e != FB_OK) {
		fprintf(stderr, "keys rotate: stopped (%s); run it again to go on\n", fb_strerror(e));
		return 1;
	}
	printf("re-sealed %ld secrets under key %s%s\n", total, current,
	    failed > 0 ? "; some could not be opened (see above)" : "");
	return failed > 0 ? 1 : 0;
}
