#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "sessions.h"

#define TS(col) "to_char(" col " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"

enum fb_err
sessions_create(struct db *db, const char *user_id, const char *ip,
    const char *user_agent, const char *amr, int max_age, char sid[37])
{
	char		 age[16], ua[513];
	const char	*params[5];
	PGresult	*res;
	enum fb_err	 e;
	size_t		 len;

	/* Keep at most 512 bytes of the User-Agent, cut on a UTF-8 boundary. */
	len = user_agent != NULL ? strlen(user_agent) : 0;
	if (len > 512)
		len = 512;
	if (user_agent != NULL)
		memcpy(ua, user_agent, len);
	while (len > 0 && user_agent != NULL && len < strlen(user_agent) &&
	    ((unsigned char)user_agent[len] & 0xc0) == 0x80)
		len--;
	ua[len] = '\0';
	snprintf(age, sizeof(age), "%d", max_age);
	params[0] = user_id;
	params[1] = ip;
	params[2] = user_agent != NULL ? ua : NULL;
	params[3] = amr;
	params[4] = age;
	e = db_query(db, &res, "INSERT INTO sessions (user_id, ip, user_agent, amr, expires_at)"
	    " VALUES ($1::uuid, $2::inet, $3,"
	    "  ARRAY(SELECT json_array_elements_text($4::json)),"
	    "  now() + make_interval(secs => $5::int)) RETURNING id", 5, params);
	if (e != FB_OK)
		return e;
	snprintf(sid, 37, "%s", db_get(res, 0, "id"));
	PQclear(res);
	return FB_OK;
}

static void
rfc3339(long long epoch, char *out, size_t len)
{
	time_t		t = (time_t)epoch;
	struct tm	tm;

	if (gmtime_r(&t, &tm) == NULL || strftime(out, len, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(out, len, "1970-01-01T00:00:00Z");
}

/* A text[] literal of plain words ({pwd,otp}) as a JSON array (["pwd","otp"]). */
static void
amr_json(const char *lit, char *out, size_t len)
{
	size_t	o = 0, i;

	if (len < 3)
		return;
	out[o++] = '[';
	for (i = 0; lit != NULL && lit[i] != '\0' && o + 4 < len; i++) {
		if (lit[i] == '{' || lit[i] == '}')
			continue;
		if (lit[i] == ',') {
			out[o++] = '"';
			out[o++] = ',';
			out[o++] = '"';
			continue;
		}
		if (o == 1)
			out[o++] = '"';
		if ((lit[i] >= 'a' && lit[i] <= 'z') || lit[i] == '_')
			out[o++] = lit[i];
	}
	if (o > 1)
		out[o++] = '"';
	out[o++] = ']';
	out[o] = '\0';
}

enum fb_err
sessions_auth(struct db *db, const char *sid, const char *user_id, struct user *u,
    char *amr, size_t amrlen)
{
	const char	*params[2] = { sid, user_id };
	PGresult	*res;
	enum fb_err	 e;
	bool		 stale;

	memset(u, 0, sizeof(*u));
	/* The hottest statement of all (every authenticated request): times as
	 * epoch seconds and amr as an array literal, formatted here. */
	e = db_query(db, &res,
	    "SELECT u.id, u.email, u.name, u.role, u.email_verified_at IS NOT NULL AS verified,"
	    " u.mfa_enabled, extract(epoch FROM u.created_at)::bigint AS created_at,"
	    " extract(epoch FROM u.updated_at)::bigint AS updated_at, s.amr,"
	    " s.last_used_at < now() - interval '1 minute' AS stale"
	    " FROM sessions s JOIN users u ON u.id = s.user_id"
	    " WHERE s.id = $1::uuid AND s.user_id = $2::uuid AND s.revoked_at IS NULL"
	    " AND s.expires_at > now() AND u.disabled_at IS NULL", 2, params);
	if (e != FB_OK)
		return e == FB_ERR_INVALID ? FB_ERR_NOTFOUND : e;
	if (PQntuples(res) != 1) {
		PQclear(res);
		return FB_ERR_NOTFOUND;
	}
	snprintf(u->id, sizeof(u->id), "%s", db_get(res, 0, "id"));
	snprintf(u->email, sizeof(u->email), "%s", db_get(res, 0, "email"));
	snprintf(u->name, sizeof(u->name), "%s", db_get(res, 0, "name"));
	snprintf(u->role, sizeof(u->role), "%s", db_get(res, 0, "role"));
	u->email_verified = strcmp(db_get(res, 0, "verified"), "t") == 0;
	u->mfa_enabled = strcmp(db_get(res, 0, "mfa_enabled"), "t") == 0;
	rfc3339(strtoll(db_get(res, 0, "created_at"), NULL, 10), u->created_at,
	    sizeof(u->created_at));
	rfc3339(strtoll(db_get(res, 0, "updated_at"), NULL, 10), u->updated_at,
	    sizeof(u->updated_at));
	if (amr != NULL)
		amr_json(db_get(res, 0, "amr"), amr, amrlen);
	stale = strcmp(db_get(res, 0, "stale"), "t") == 0;
	PQclear(res);
	/* last_used_at at most once a minute: a write per request would be
	 * most of the cost of an authenticated read. */
	if (stale)
		db_exec(db, NULL, "UPDATE sessions SET last_used_at = now() WHERE id = $1::uuid",
		    1, params);
	return FB_OK;
}

enum fb_err
refresh_issue(struct db *db, const char *sid, int ttl, char token[TOKEN_TEXT_LEN + 1])
{
	unsigned char	 hash[32];
	char		 hex[TOKEN_HEX_LEN + 1], t[16];
	const char	*params[3] = { sid, hex, t };
	enum fb_err	 e;

	if ((e = token_new(token, hash)) != FB_OK)
		return e;
	token_hex(hash, hex);
	snprintf(t, sizeof(t), "%d", ttl);
	return db_exec(db, NULL, "INSERT INTO refresh_tokens (session_id, token_hash, expires_at)"
	    " SELECT id, $2::bytea, least(now() + make_interval(secs => $3::int), expires_at)"
	    " FROM sessions WHERE id = $1::uuid", 3, params);
}

enum fb_err
refresh_rotate(struct db *db, const char *token, int ttl, char new_token[TOKEN_TEXT_LEN + 1],
    char sid[37], char *amr, size_t amrlen, struct user *u, enum refresh_outcome *outcome)
{
	unsigned char	 hash[32];
	char		 hex[TOKEN_HEX_LEN + 1], grace[16], rt_id[37], uid[37];
	const char	*params[2];
	PGresult	*res = NULL;
	enum fb_err	 e;
	bool		 live, rotated, in_grace;

	*outcome = REFRESH_INVALID;
	memset(u, 0, sizeof(*u));
	if (token_hash(token, hash) != FB_OK)
		return FB_OK;
	token_hex(hash, hex);
	snprintf(grace, sizeof(grace), "%d", REFRESH_GRACE_SECONDS);
	if ((e = db_begin(db)) != FB_OK)
		return e;
	params[0] = hex;
	params[1] = grace;
	/* The row lock makes a concurrent refresh of the same token wait, then
	 * see it rotated moments ago: the grace path, not reuse. */
	e = db_query(db, &res,
	    "SELECT rt.id, rt.token_hash::text AS hash, rt.session_id,"
	    " s.user_id, array_to_json(s.amr)::text AS amr,"
	    " rt.expires_at > now() AND s.revoked_at IS NULL AND s.expires_at > now() AS live,"
	    " rt.rotated_at IS NOT NULL AS rotated,"
	    " coalesce(rt.rotated_at > now() - make_interval(secs => $2::int), false) AS in_grace"
	    " FROM refresh_tokens rt JOIN sessions s ON s.id = rt.session_id"
	    " WHERE rt.token_hash = $1::bytea FOR UPDATE OF rt", 2, params);
	if (e != FB_OK)
		goto fail;
	if (PQntuples(res) != 1) {
		PQclear(res);
		db_rollback(db);
		return FB_OK;
	}
	/* The index found the row by hash; trust it only after a
	 * constant-time comparison. */
	if (!token_matches(db_get(res, 0, "hash"), hash)) {
		PQclear(res);
		db_rollback(db);
		return FB_OK;
	}
	snprintf(rt_id, sizeof(rt_id), "%s", db_get(res, 0, "id"));
	snprintf(sid, 37, "%s", db_get(res, 0, "session_id"));
	snprintf(u->id, sizeof(u->id), "%s", db_get(res, 0, "user_id"));
	if (amr != NULL)
		snprintf(amr, amrlen, "%s", db_get(res, 0, "amr"));
	live = strcmp(db_get(res, 0, "live"), "t") == 0;
	rotated = strcmp(db_get(res, 0, "rotated"), "t") == 0;
	in_grace = strcmp(db_get(res, 0, "in_grace"), "t") == 0;
	PQclear(res);
	res = NULL;
	if (!live) {
		db_rollback(db);
		return FB_OK;
	}
	if (rotated && !in_grace) {
		params[0] = sid;
		if ((e = db_exec(db, NULL, "UPDATE sessions SET revoked_at = now()"
		    " WHERE id = $1::uuid AND revoked_at IS NULL", 1, params)) != FB_OK)
			goto fail;
		if ((e = db_commit(db)) != FB_OK)
			return e;
		*outcome = REFRESH_REUSED;
		snprintf(uid, sizeof(uid), "%s", u->id);
		return users_find(db, uid, u) == FB_ERR_NOMEM ? FB_ERR_NOMEM : FB_OK;
	}
	/* users_find clears u first: pass a copy of the id. */
	snprintf(uid, sizeof(uid), "%s", u->id);
	if ((e = users_find(db, uid, u)) != FB_OK || u->disabled) {
		db_rollback(db);
		return e == FB_ERR_NOTFOUND ? FB_OK : e;
	}
	if (!rotated) {
		params[0] = rt_id;
		if ((e = db_exec(db, NULL, "UPDATE refresh_tokens SET rotated_at = now()"
		    " WHERE id = $1::uuid", 1, params)) != FB_OK)
			goto fail;
	}
	if ((e = refresh_issue(db, sid, ttl, new_token)) != FB_OK)
		goto fail;
	if ((e = db_commit(db)) != FB_OK)
		return e;
	*outcome = rotated ? REFRESH_GRACE : REFRESH_ROTATED;
	return FB_OK;
fail:
	PQclear(res);
	db_rollback(db);
	return e;
}

enum fb_err
sessions_revoke(struct db *db, const char *sid, const char *user_id)
{
	const char	*params[2] = { sid, user_id };
	long		 n = 0;
	enum fb_err	 e;

	e = db_exec(db, &n, "UPDATE sessions SET revoked_at = now() WHERE id = $1::uuid"
	    " AND user_id = $2::uuid AND revoked_at IS NULL AND expires_at > now()", 2, params);
	return e != FB_OK ? (e == FB_ERR_INVALID ? FB_ERR_NOTFOUND : e) :
	    n == 1 ? FB_OK : FB_ERR_NOTFOUND;
}

enum fb_err
sessions_revoke_all(struct db *db, const char *user_id, const char *except, long *count)
{
	const char	*params[2] = { user_id, except };
	long		 n = 0;
	enum fb_err	 e;

	e = db_exec(db, &n, "UPDATE sessions SET revoked_at = now() WHERE user_id = $1::uuid"
	    " AND revoked_at IS NULL AND ($2::uuid IS NULL OR id <> $2::uuid)", 2, params);
	if (count != NULL)
		*count = n;
	return e;
}

enum fb_err
sessions_list(struct db *db, const char *user_id, const char *current, json_t **data)
{
	const char	*params[1] = { user_id };
	PGresult	*res;
	enum fb_err	 e;
	int		 i;

	*data = NULL;
	e = db_query(db, &res, "SELECT id, " TS("created_at") " AS created_at, "
	    TS("last_used_at") " AS last_used_at, host(ip) AS ip, user_agent"
	    " FROM sessions s WHERE user_id = $1::uuid AND revoked_at IS NULL"
	    " AND expires_at > now() ORDER BY s.created_at DESC, s.id DESC LIMIT 100",
	    1, params);
	if (e != FB_OK)
		return e;
	*data = json_array();
	for (i = 0; i < PQntuples(res); i++)
		json_array_append_new(*data, json_pack("{s:s,s:s,s:s,s:s?,s:s?,s:b}",
		    "id", db_get(res, i, "id"), "created_at", db_get(res, i, "created_at"),
		    "last_used_at", db_get(res, i, "last_used_at"), "ip", db_get(res, i, "ip"),
		    "user_agent", db_get(res, i, "user_agent"),
		    "current", current != NULL && strcmp(current, db_get(res, i, "id")) == 0));
	PQclear(res);
	return FB_OK;
}
