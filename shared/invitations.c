#include <stdio.h>
#include <string.h>

#include "cursor.h"
#include "invitations.h"

#define INV_COLS "id, email, role," \
	" to_char(expires_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') AS expires_at," \
	" to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') AS created_at"

static json_t *
invitation_json(const PGresult *res, int i)
{
	return json_pack("{s:s,s:s,s:s,s:s,s:s}", "id", db_get(res, i, "id"),
	    "email", db_get(res, i, "email"), "role", db_get(res, i, "role"),
	    "expires_at", db_get(res, i, "expires_at"), "created_at", db_get(res, i, "created_at"));
}

enum fb_err
invitations_create(struct db *db, const char *email, const char *role,
    const char *invited_by, char token[TOKEN_TEXT_LEN + 1], json_t **invitation)
{
	unsigned char	 hash[32];
	char		 hex[TOKEN_HEX_LEN + 1], ttl[16];
	const char	*params[5] = { email, role, hex, invited_by, ttl };
	PGresult	*res;
	enum fb_err	 e;

	*invitation = NULL;
	if ((e = token_new(token, hash)) != FB_OK)
		return e;
	token_hex(hash, hex);
	snprintf(ttl, sizeof(ttl), "%d", INVITATION_TTL);
	/* No invitation for an address that already has an account. */
	e = db_query(db, &res, "INSERT INTO invitations (email, role, token_hash, invited_by,"
	    " expires_at) SELECT $1, $2, $3::bytea, $4::uuid, now() + make_interval(secs => $5::int)"
	    " WHERE NOT EXISTS (SELECT 1 FROM users WHERE lower(email) = lower($1))"
	    " RETURNING " INV_COLS, 5, params);
	if (e != FB_OK)
		return e;
	if (PQntuples(res) != 1) {
		PQclear(res);
		return FB_ERR_CONFLICT;
	}
	*invitation = invitation_json(res, 0);
	PQclear(res);
	return FB_OK;
}

enum fb_err
invitations_list(struct db *db, const char *after, int limit, json_t **data, char **next)
{
	char		 ts[CURSOR_PART_MAX + 1], id[CURSOR_PART_MAX + 1], lim[16];
	const char	*params[3];
	PGresult	*res;
	enum fb_err	 e;
	int		 i, n;

	*data = NULL;
	*next = NULL;
	if (after != NULL && cursor_decode(after, ts, id) != FB_OK)
		return FB_ERR_INVALID;
	snprintf(lim, sizeof(lim), "%d", limit + 1);
	params[0] = after != NULL ? ts : NULL;
	params[1] = after != NULL ? id : NULL;
	params[2] = lim;
	e = db_query(db, &res, "SELECT " INV_COLS ","
	    " to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"') AS k"
	    " FROM invitations i WHERE accepted_at IS NULL AND revoked_at IS NULL"
	    " AND expires_at > now()"
	    " AND ($1::timestamptz IS NULL OR (i.created_at, i.id) < ($1::timestamptz, $2::uuid))"
	    /* i.: the table's timestamps, not the whole-second text of the list */
	    " ORDER BY i.created_at DESC, i.id DESC LIMIT $3::int", 3, params);
	if (e != FB_OK)
		return e;
	*data = json_array();
	n = PQntuples(res);
	for (i = 0; i < n && i < limit; i++)
		json_array_append_new(*data, invitation_json(res, i));
	if (n > limit)
		*next = cursor_encode(db_get(res, limit - 1, "k"), db_get(res, limit - 1, "id"));
	PQclear(res);
	return FB_OK;
}

enum fb_err
invitations_revoke(struct db *db, const char *id)
{
	const char	*params[1] = { id };
	long		 n = 0;
	enum fb_err	 e;

	e = db_exec(db, &n, "UPDATE invitations SET revoked_at = now() WHERE id = $1::uuid"
	    " AND accepted_at IS NULL AND revoked_at IS NULL", 1, params);
	return e != FB_OK ? e : n == 1 ? FB_OK : FB_ERR_NOTFOUND;
}

enum fb_err
invitations_accept(struct db *db, const char *token, char email[255], char role[8])
{
	unsigned char	 hash[32];
	char		 hex[TOKEN_HEX_LEN + 1];
	const char	*params[1] = { hex };
	PGresult	*res;
	enum fb_err	 e;

	if (token_hash(token, hash) != FB_OK)
		return FB_ERR_NOTFOUND;
	token_hex(hash, hex);
	e = db_query(db, &res, "UPDATE invitations SET accepted_at = now()"
	    " WHERE token_hash = $1::bytea AND accepted_at IS NULL AND revoked_at IS NULL"
	    " AND expires_at > now() RETURNING email, role, token_hash::text AS hash", 1, params);
	if (e != FB_OK)
		return e;
	if (PQntuples(res) != 1 || !token_matches(db_get(res, 0, "hash"), hash)) {
		PQclear(res);
		return FB_ERR_NOTFOUND;
	}
	snprintf(email, 255, "%s", db_get(res, 0, "email"));
	snprintf(role, 8, "%s", db_get(res, 0, "role"));
	PQclear(res);
	return FB_OK;
}
