#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "idempotency.h"
#include "log.h"
#include "token.h"

/* The first key of the advisory locks of idempotency keys. */
#define IDEM_LOCK_CLASS "4242003"

bool
idem_key_valid(const char *key)
{
	size_t	i;

	for (i = 0; key != NULL && key[i] != '\0'; i++)
		if (i >= IDEM_KEY_MAX || key[i] < 0x21 || key[i] > 0x7e)
			return false;
	return key != NULL && i > 0;
}

static void
unlock(struct db *db, const char *user_id, const char *key)
{
	const char	*params[2] = { user_id, key };
	PGresult	*res;

	if (db_query(db, &res, "SELECT pg_advisory_unlock(" IDEM_LOCK_CLASS
	    ", hashtext($1 || ':' || $2))", 2, params) == FB_OK)
		PQclear(res);
}

enum fb_err
idem_begin(struct db *db, const char *user_id, const char *key, const unsigned char hash[32],
    enum idem_state *state, struct idem_answer *answer)
{
	char		 hex[TOKEN_HEX_LEN + 1], ttl[8];
	const char	*params[4] = { user_id, key, hex, ttl };
	const char	*v;
	PGresult	*res;
	enum fb_err	 e;
	bool		 same;

	memset(answer, 0, sizeof(*answer));
	token_hex(hash, hex);
	snprintf(ttl, sizeof(ttl), "%d", IDEM_TTL_HOURS);
	/* Waits while another request holds this key (at most the statement
	 * timeout). */
	if ((e = db_query(db, &res, "SELECT pg_advisory_lock(" IDEM_LOCK_CLASS
	    ", hashtext($1 || ':' || $2))", 2, params)) != FB_OK)
		return e;
	PQclear(res);
	params[2] = ttl;
	e = db_query(db, &res, "SELECT request_hash::text AS hash, status, content_type, body"
	    " FROM idempotency_keys WHERE user_id = $1::uuid AND key = $2"
	    " AND created_at > now() - make_interval(hours => $3::int)", 3, params);
	params[2] = hex;
	if (e != FB_OK)
		goto fail;
	if (PQntuples(res) == 1 && db_get(res, 0, "status") != NULL) {
		same = token_matches(db_get(res, 0, "hash"), hash);
		if (same) {
			answer->status = (int)strtol(db_get(res, 0, "status"), NULL, 10);
			v = db_get(res, 0, "content_type");
			answer->content_type = v != NULL ? strdup(v) : NULL;
			v = db_get(res, 0, "body");
			answer->len = v != NULL ? strlen(v) : 0;
			answer->body = v != NULL ? strdup(v) : NULL;
		}
		PQclear(res);
		unlock(db, user_id, key);
		*state = same ? IDEM_REPLAY : IDEM_MISMATCH;
		return FB_OK;
	}
	PQclear(res);
	/* New, stale, or left unfinished by a request that died: ours now. */
	if ((e = db_exec(db, NULL, "INSERT INTO idempotency_keys (user_id, key, request_hash)"
	    " VALUES ($1::uuid, $2, $3::bytea) ON CONFLICT (user_id, key) DO UPDATE SET"
	    " request_hash = $3::bytea, status = NULL, content_type = NULL, body = NULL,"
	    " created_at = now()", 3, params)) != FB_OK)
		goto fail;
	*state = IDEM_OWNER;
	return FB_OK;
fail:
	unlock(db, user_id, key);
	return e;
}

enum fb_err
idem_finish(struct db *db, const char *user_id, const char *key, int status,
    const char *content_type, const char *body, size_t len)
{
	char		 st[8];
	const char	*params[5] = { user_id, key, st, content_type, NULL };
	char		*copy = NULL;
	enum fb_err	 e;

	snprintf(st, sizeof(st), "%d", status);
	if (status >= 500) {
		e = db_exec(db, NULL, "DELETE FROM idempotency_keys WHERE user_id = $1::uuid"
		    " AND key = $2", 2, params);
	} else {
		if (body != NULL && (copy = strndup(body, len)) == NULL) {
			unlock(db, user_id, key);
			return FB_ERR_NOMEM;
		}
		params[4] = copy;
		e = db_exec(db, NULL, "UPDATE idempotency_keys SET status = $3::int,"
		    " content_type = $4, body = $5 WHERE user_id = $1::uuid AND key = $2",
		    5, params);
		free(copy);
	}
	unlock(db, user_id, key);
	return e;
}

void
idem_answer_free(struct idem_answer *a)
{
	free(a->content_type);
	free(a->body);
	memset(a, 0, sizeof(*a));
}
