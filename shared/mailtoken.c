#include <stdio.h>

#include "mailtoken.h"

enum fb_err
mailtoken_create(struct db *db, const char *user_id, const char *purpose, int ttl,
    char token[TOKEN_TEXT_LEN + 1])
{
	unsigned char	 hash[32];
	char		 hex[TOKEN_HEX_LEN + 1], t[16];
	const char	*params[4] = { user_id, purpose, hex, t };
	enum fb_err	 e;

	if ((e = token_new(token, hash)) != FB_OK)
		return e;
	token_hex(hash, hex);
	snprintf(t, sizeof(t), "%d", ttl);
	if ((e = db_exec(db, NULL, "UPDATE email_tokens SET used_at = now()"
	    " WHERE user_id = $1::uuid AND purpose = $2 AND used_at IS NULL", 2, params)) != FB_OK)
		return e;
	return db_exec(db, NULL, "INSERT INTO email_tokens (user_id, purpose, token_hash,"
	    " expires_at) VALUES ($1::uuid, $2, $3::bytea, now() + make_interval(secs => $4::int))",
	    4, params);
}

enum fb_err
mailtoken_consume(struct db *db, const char *purpose, const char *token, char user_id[37])
{
	unsigned char	 hash[32];
	char		 hex[TOKEN_HEX_LEN + 1];
	const char	*params[2] = { purpose, hex };
	PGresult	*res;
	enum fb_err	 e;

	if (token_hash(token, hash) != FB_OK)
		return FB_ERR_NOTFOUND;
	token_hex(hash, hex);
	e = db_query(db, &res, "UPDATE email_tokens SET used_at = now()"
	    " WHERE token_hash = $2::bytea AND purpose = $1 AND used_at IS NULL"
	    " AND expires_at > now() RETURNING user_id, token_hash::text AS hash", 2, params);
	if (e != FB_OK)
		return e;
	if (PQntuples(res) != 1 || !token_matches(db_get(res, 0, "hash"), hash)) {
		PQclear(res);
		return FB_ERR_NOTFOUND;
	}
	snprintf(user_id, 37, "%s", db_get(res, 0, "user_id"));
	PQclear(res);
	return FB_OK;
}
