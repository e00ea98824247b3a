#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "settings.h"

#define TS(col) "to_char(" col " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"

bool
settings_name_valid(const char *s)
{
	size_t	i;

	for (i = 0; s != NULL && s[i] != '\0'; i++)
		if (i >= 64 || !((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') ||
		    s[i] == '_' || s[i] == '.' || s[i] == '-'))
			return false;
	return s != NULL && i > 0;
}

enum fb_err
settings_get(struct db *db, const char *user_id, const char *category, json_t **out)
{
	const char	*params[2] = { user_id, category };
	PGresult	*res;
	json_t		*cat, *v;
	enum fb_err	 e;
	int		 i;

	*out = NULL;
	e = db_query(db, &res, "SELECT category, key, value::text AS value FROM user_settings"
	    " WHERE user_id = $1::uuid AND ($2::text IS NULL OR category = $2)"
	    " ORDER BY category, key", 2, params);
	if (e != FB_OK)
		return e;
	*out = json_object();
	for (i = 0; i < PQntuples(res); i++) {
		v = json_loads(db_get(res, i, "value"), JSON_DECODE_ANY, NULL);
		if (category != NULL) {
			json_object_set_new(*out, db_get(res, i, "key"), v);
			continue;
		}
		if ((cat = json_object_get(*out, db_get(res, i, "category"))) == NULL) {
			cat = json_object();
			json_object_set_new(*out, db_get(res, i, "category"), cat);
		}
		json_object_set_new(cat, db_get(res, i, "key"), v);
	}
	PQclear(res);
	return FB_OK;
}

enum fb_err
settings_put(struct db *db, const char *user_id, const char *category, const char *key,
    json_t *value, json_t **out, json_t **previous)
{
	const char	*params[4];
	char		*text;
	PGresult	*res;
	enum fb_err	 e;
	const char	*old;

	*out = NULL;
	if (previous != NULL)
		*previous = NULL;
	if ((text = json_dumps(value, JSON_COMPACT | JSON_ENCODE_ANY)) == NULL)
		return FB_ERR_NOMEM;
	if (strlen(text) > SETTING_VALUE_MAX) {
		free(text);
		return FB_ERR_TOOBIG;
	}
	params[0] = user_id;
	params[1] = category;
	params[2] = key;
	params[3] = text;
	/* The old value (for the audit entry) is read under the row lock in
	 * the same transaction as the write. */
	if ((e = db_begin(db)) != FB_OK) {
		free(text);
		return e;
	}
	if ((e = db_query(db, &res, "SELECT value::text AS old FROM user_settings"
	    " WHERE user_id = $1::uuid AND category = $2 AND key = $3 FOR UPDATE",
	    3, params)) != FB_OK)
		goto fail;
	if (previous != NULL && PQntuples(res) == 1 && (old = db_get(res, 0, "old")) != NULL)
		*previous = json_loads(old, JSON_DECODE_ANY, NULL);
	PQclear(res);
	e = db_query(db, &res,
	    "INSERT INTO user_settings (user_id, category, key, value) VALUES"
	    " ($1::uuid, $2, $3, $4::jsonb) ON CONFLICT (user_id, category, key) DO UPDATE SET"
	    " value = $4::jsonb, updated_at = now()"
	    " RETURNING value::text AS value, " TS("updated_at") " AS updated_at", 4, params);
	free(text);
	text = NULL;
	if (e != FB_OK)
		goto fail;
	if ((e = db_commit(db)) != FB_OK) {
		PQclear(res);
		goto fail;
	}
	*out = json_pack("{s:s,s:s,s:o,s:s}", "category", category, "key", key, "value",
	    json_loads(db_get(res, 0, "value"), JSON_DECODE_ANY, NULL),
	    "updated_at", db_get(res, 0, "updated_at"));
	PQclear(res);
	return *out != NULL ? FB_OK : FB_ERR_NOMEM;
fail:
	free(text);
	db_rollback(db);
	if (previous != NULL) {
		json_decref(*previous);
		*previous = NULL;
	}
	return e;
}

enum fb_err
settings_delete(struct db *db, const char *user_id, const char *category, const char *key,
    json_t **previous)
{
	const char	*params[3] = { user_id, category, key };
	PGresult	*res;
	enum fb_err	 e;

	if (previous != NULL)
		*previous = NULL;
	e = db_query(db, &res, "DELETE FROM user_settings WHERE user_id = $1::uuid"
	    " AND category = $2 AND key = $3 RETURNING value::text AS value", 3, params);
	if (e != FB_OK)
		return e;
	if (PQntuples(res) != 1) {
		PQclear(res);
		return FB_ERR_NOTFOUND;
	}
	if (previous != NULL)
		*previous = json_loads(db_get(res, 0, "value"), JSON_DECODE_ANY, NULL);
	PQclear(res);
	return FB_OK;
}

static json_t *
preferences_json(const PGresult *res)
{
	return json_pack("{s:s,s:s,s:s,s:{s:b,s:b}}", "theme", db_get(res, 0, "theme"),
	    "language", db_get(res, 0, "language"), "timezone", db_get(res, 0, "timezone"),
	    "notifications", "email", strcmp(db_get(res, 0, "notify_email"), "t") == 0,
	    "push", strcmp(db_get(res, 0, "notify_push"), "t") == 0);
}

/* The defaults of the table when the user has no row yet. */
#define PREF_SELECT \
	"SELECT coalesce(p.theme, 'system') AS theme, coalesce(p.language, 'en') AS language," \
	" coalesce(p.timezone, 'UTC') AS timezone, coalesce(p.notify_email, true) AS notify_email," \
	" coalesce(p.notify_push, false) AS notify_push FROM (SELECT $1::uuid AS id) u" \
	" LEFT JOIN user_preferences p ON p.user_id = u.id"

enum fb_err
preferences_get(struct db *db, const char *user_id, json_t **out)
{
	const char	*params[1] = { user_id };
	PGresult	*res;
	enum fb_err	 e;

	*out = NULL;
	if ((e = db_query(db, &res, PREF_SELECT, 1, params)) != FB_OK)
		return e;
	*out = preferences_json(res);
	PQclear(res);
	return *out != NULL ? FB_OK : FB_ERR_NOMEM;
}

enum fb_err
preferences_put(struct db *db, const char *user_id, json_t *changes, json_t **out)
{
	json_t		*n = json_object_get(changes, "notifications");
	json_t		*em = json_object_get(n, "email"), *push = json_object_get(n, "push");
	const char	*params[6];
	PGresult	*res;
	enum fb_err	 e;

	*out = NULL;
	params[0] = user_id;
	params[1] = json_string_value(json_object_get(changes, "theme"));
	params[2] = json_string_value(json_object_get(changes, "language"));
	params[3] = json_string_value(json_object_get(changes, "timezone"));
	params[4] = em == NULL ? NULL : json_is_true(em) ? "t" : "f";
	params[5] = push == NULL ? NULL : json_is_true(push) ? "t" : "f";
	if (params[3] != NULL) {
		/* An IANA name the database knows (its tz database). */
		if ((e = db_query(db, &res, "SELECT 1 FROM pg_timezone_names WHERE name = $1",
		    1, params + 3)) != FB_OK)
			return e;
		e = PQntuples(res) == 1 ? FB_OK : FB_ERR_INVALID;
		PQclear(res);
		if (e != FB_OK)
			return e;
	}
	if ((e = db_exec(db, NULL, "INSERT INTO user_preferences AS p (user_id, theme, language,"
	    " timezone, notify_email, notify_push) VALUES ($1::uuid, coalesce($2, 'system'),"
	    " coalesce($3, 'en'), coalesce($4, 'UTC'), coalesce($5::boolean, true),"
	    " coalesce($6::boolean, false)) ON CONFLICT (user_id) DO UPDATE SET"
	    " theme = coalesce($2, p.theme), language = coalesce($3, p.language),"
	    " timezone = coalesce($4, p.timezone),"
	    " notify_email = coalesce($5::boolean, p.notify_email),"
	    " notify_push = coalesce($6::boolean, p.notify_push), updated_at = now()",
	    6, params)) != FB_OK)
		return e;
	return preferences_get(db, user_id, out);
}

bool
preferences_email_ok(struct db *db, const char *user_id)
{
	json_t	*p = NULL;
	bool	 ok = true;

	if (preferences_get(db, user_id, &p) == FB_OK)
		ok = json_is_true(json_object_get(json_object_get(p, "notifications"), "email"));
	json_decref(p);
	return ok;
}

enum fb_err
settings_all_text(struct db *db, const char *user_id, char **text)
{
	const char	*params[1] = { user_id };
	PGresult	*res;
	enum fb_err	 e;

	*text = NULL;
	/* Kept by the triggers of schema/011_settings_doc.sql; no row: {}. */
	e = db_query(db, &res, "SELECT coalesce((SELECT doc FROM user_settings_docs"
	    " WHERE user_id = $1::uuid), '{}') AS j", 1, params);
	if (e != FB_OK)
		return e;
	*text = strdup(db_get(res, 0, "j"));
	PQclear(res);
	return *text != NULL ? FB_OK : FB_ERR_NOMEM;
}

enum fb_err
settings_all_for_session(struct db *db, const char *sid, const char *user_id, char **text)
{
	const char	*params[2] = { sid, user_id };
	PGresult	*res;
	enum fb_err	 e;
	bool		 stale;

	*text = NULL;
	/* The conditions of sessions_auth() (shared/sessions.c), and the
	 * settings document (precomputed: schema/011_settings_doc.sql), in
	 * one statement. */
	e = db_query(db, &res, "SELECT s.last_used_at < now() - interval '1 minute' AS stale,"
	    " coalesce(d.doc, '{}') AS j"
	    " FROM sessions s JOIN users u ON u.id = s.user_id"
	    " LEFT JOIN user_settings_docs d ON d.user_id = s.user_id"
	    " WHERE s.id = $1::uuid AND s.user_id = $2::uuid AND s.revoked_at IS NULL"
	    " AND s.expires_at > now() AND u.disabled_at IS NULL", 2, params);
	if (e != FB_OK)
		return e;
	if (PQntuples(res) != 1) {
		PQclear(res);
		return FB_ERR_NOTFOUND;
	}
	stale = strcmp(db_get(res, 0, "stale"), "t") == 0;
	*text = strdup(db_get(res, 0, "j"));
	PQclear(res);
	if (stale)
		db_exec(db, NULL, "UPDATE sessions SET last_used_at = now() WHERE id = $1::uuid",
		    1, params);
	return *text != NULL ? FB_OK : FB_ERR_NOMEM;
}
