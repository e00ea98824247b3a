#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "cursor.h"
#include "users.h"

/* The columns every look-up returns, in the form struct user wants. */
#define USER_COLS \
	"u.id, u.email, u.name, u.role, u.email_verified_at IS NOT NULL AS verified," \
	" u.mfa_enabled, u.disabled_at IS NOT NULL AS disabled," \
	" to_char(u.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') AS created_at," \
	" to_char(u.updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') AS updated_at"

static void
user_from_row(const PGresult *res, int row, struct user *u)
{
	snprintf(u->id, sizeof(u->id), "%s", db_get(res, row, "id"));
	snprintf(u->email, sizeof(u->email), "%s", db_get(res, row, "email"));
	snprintf(u->name, sizeof(u->name), "%s", db_get(res, row, "name"));
	snprintf(u->role, sizeof(u->role), "%s", db_get(res, row, "role"));
	u->email_verified = strcmp(db_get(res, row, "verified"), "t") == 0;
	u->mfa_enabled = strcmp(db_get(res, row, "mfa_enabled"), "t") == 0;
	u->disabled = strcmp(db_get(res, row, "disabled"), "t") == 0;
	snprintf(u->created_at, sizeof(u->created_at), "%s", db_get(res, row, "created_at"));
	snprintf(u->updated_at, sizeof(u->updated_at), "%s", db_get(res, row, "updated_at"));
}

json_t *
user_json(const struct user *u)
{
	return json_pack("{s:s,s:s,s:s,s:s,s:b,s:b,s:s,s:s}", "id", u->id, "email", u->email,
	    "name", u->name, "role", u->role, "email_verified", u->email_verified,
	    "mfa_enabled", u->mfa_enabled, "created_at", u->created_at,
	    "updated_at", u->updated_at);
}

void
user_clear(struct user *u)
{
	if (u->password_hash != NULL) {
		OPENSSL_cleanse(u->password_hash, strlen(u->password_hash));
		free(u->password_hash);
	}
	memset(u, 0, sizeof(*u));
}

/* Runs a statement returning USER_COLS (and maybe password_hash) into out. */
static enum fb_err
one_user(struct db *db, const char *sql, int n, const char *const *params,
    struct user *out, bool with_hash)
{
	PGresult	*res;
	enum fb_err	 e;
	const char	*h;

	memset(out, 0, sizeof(*out));
	if ((e = db_query(db, &res, sql, n, params)) != FB_OK)
		return e;
	if (PQntuples(res) != 1) {
		PQclear(res);
		return FB_ERR_NOTFOUND;
	}
	user_from_row(res, 0, out);
	if (with_hash && (h = db_get(res, 0, "password_hash")) != NULL &&
	    (out->password_hash = strdup(h)) == NULL)
		e = FB_ERR_NOMEM;
	PQclear(res);
	return e;
}

enum fb_err
users_create(struct db *db, const char *email, const char *name,
    const char *password_hash, const char *role, bool verified, struct user *out)
{
	const char	*params[5] = { email, name, password_hash, role ? role : "user",
			    verified ? "t" : "f" };

	return one_user(db,
	    "INSERT INTO users AS u (email, name, password_hash, role, email_verified_at)"
	    " VALUES ($1, $2, $3, $4, CASE WHEN $5::boolean THEN now() END)"
	    " RETURNING " USER_COLS, 5, params, out, false);
}

enum fb_err
users_find(struct db *db, const char *id, struct user *out)
{
	const char	*params[1] = { id };

	return one_user(db, "SELECT " USER_COLS " FROM users u WHERE u.id = $1::uuid",
	    1, params, out, false);
}

enum fb_err
users_find_by_email(struct db *db, const char *email, bool with_hash, struct user *out)
{
	const char	*params[1] = { email };

	return one_user(db, "SELECT " USER_COLS ", u.password_hash FROM users u"
	    " WHERE lower(u.email) = lower($1)", 1, params, out, with_hash);
}

enum fb_err
users_set_password(struct db *db, const char *id, const char *hash)
{
	const char	*params[2] = { id, hash };
	long		 n = 0;
	enum fb_err	 e;

	e = db_exec(db, &n, "UPDATE users SET password_hash = $2, updated_at = now()"
	    " WHERE id = $1::uuid", 2, params);
	return e != FB_OK ? e : n == 1 ? FB_OK : FB_ERR_NOTFOUND;
}

enum fb_err
users_set_name(struct db *db, const char *id, const char *name, struct user *out)
{
	const char	*params[2] = { id, name };

	return one_user(db, "UPDATE users u SET name = $2, updated_at = now()"
	    " WHERE u.id = $1::uuid RETURNING " USER_COLS, 2, params, out, false);
}

enum fb_err
users_mark_verified(struct db *db, const char *id, struct user *out)
{
	const char	*params[1] = { id };

	return one_user(db, "UPDATE users u SET email_verified_at ="
	    " coalesce(email_verified_at, now()), updated_at = now()"
	    " WHERE u.id = $1::uuid RETURNING " USER_COLS, 1, params, out, false);
}

enum fb_err
users_admin_update(struct db *db, const char *id, const char *role, int disabled,
    struct user *out)
{
	const char	*params[3] = { id, role, disabled < 0 ? NULL : disabled ? "t" : "f" };

	return one_user(db, "UPDATE users u SET role = coalesce($2, role),"
	    " disabled_at = CASE WHEN $3::boolean IS NULL THEN disabled_at"
	    "  WHEN $3::boolean THEN coalesce(disabled_at, now()) ELSE NULL END,"
	    " updated_at = now() WHERE u.id = $1::uuid RETURNING " USER_COLS,
	    3, params, out, false);
}

enum fb_err
users_delete(struct db *db, const char *id)
{
	const char	*params[1] = { id };
	long		 n = 0;
	enum fb_err	 e;

	e = db_exec(db, &n, "DELETE FROM users WHERE id = $1::uuid", 1, params);
	return e != FB_OK ? e : n == 1 ? FB_OK : FB_ERR_NOTFOUND;
}

enum fb_err
users_list(struct db *db, const char *q, const char *after, int limit, json_t **data,
    char **next)
{
	char		 ts[CURSOR_PART_MAX + 1], id[CURSOR_PART_MAX + 1], lim[16];
	char		 like[4 * 256 + 3];
	const char	*params[4];
	PGresult	*res;
	struct user	 u;
	enum fb_err	 e;
	size_t		 o = 0;
	int		 i, n;

	*data = NULL;
	*next = NULL;
	if (after != NULL && cursor_decode(after, ts, id) != FB_OK)
		return FB_ERR_INVALID;
	if (q != NULL) {
		/* A substring match: % and _ in q are literal. */
		like[o++] = '%';
		for (; *q != '\0' && o < sizeof(like) - 3; q++) {
			if (*q == '%' || *q == '_' || *q == '\\')
				like[o++] = '\\';
			like[o++] = *q;
		}
		like[o++] = '%';
		like[o] = '\0';
	}
	snprintf(lim, sizeof(lim), "%d", limit + 1);
	params[0] = q != NULL ? like : NULL;
	params[1] = after != NULL ? ts : NULL;
	params[2] = after != NULL ? id : NULL;
	params[3] = lim;
	e = db_query(db, &res, "SELECT " USER_COLS ","
	    " to_char(u.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"') AS k"
	    " FROM users u WHERE ($1::text IS NULL OR u.email ILIKE $1 OR u.name ILIKE $1)"
	    " AND ($2::timestamptz IS NULL OR (u.created_at, u.id) < ($2::timestamptz, $3::uuid))"
	    " ORDER BY u.created_at DESC, u.id DESC LIMIT $4::int", 4, params);
	if (e != FB_OK)
		return e;
	*data = json_array();
	n = PQntuples(res);
	for (i = 0; i < n && i < limit; i++) {
		memset(&u, 0, sizeof(u));
		user_from_row(res, i, &u);
		json_array_append_new(*data, user_json(&u));
	}
	if (n > limit)
		*next = cursor_encode(db_get(res, limit - 1, "k"), db_get(res, limit - 1, "id"));
	PQclear(res);
	return FB_OK;
}
