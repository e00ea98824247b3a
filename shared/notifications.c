#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cursor.h"
#include "notifications.h"
#include "outbox.h"
#include "settings.h"

#define NOTE_COLS "n.id, n.type, n.title, n.body, n.data::text AS data," \
	" to_char(n.read_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') AS read_at," \
	" to_char(n.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') AS created_at"

static json_t *
note_json(const PGresult *res, int i)
{
	json_t	*data = json_loads(db_get(res, i, "data"), 0, NULL);

	return json_pack("{s:s,s:s,s:s,s:s,s:o,s:s?,s:s}", "id", db_get(res, i, "id"),
	    "type", db_get(res, i, "type"), "title", db_get(res, i, "title"),
	    "body", db_get(res, i, "body"), "data", data != NULL ? data : json_object(),
	    "read_at", db_get(res, i, "read_at"), "created_at", db_get(res, i, "created_at"));
}

enum fb_err
notify_user(struct db *db, const char *user_id, const char *type, const char *title,
    const char *body, json_t *data, json_t **out)
{
	const char	*params[5];
	char		*text = NULL;
	PGresult	*res;
	json_t		*vars, *note;
	enum fb_err	 e;

	if (out != NULL)
		*out = NULL;
	if (data != NULL && (text = json_dumps(data, JSON_COMPACT)) == NULL)
		return FB_ERR_NOMEM;
	params[0] = user_id;
	params[1] = type;
	params[2] = title;
	params[3] = body != NULL ? body : "";
	params[4] = text != NULL ? text : "{}";
	/* Only for an existing user: the answer names the recipient for the email. */
	e = db_query(db, &res, "INSERT INTO notifications AS n (user_id, type, title, body, data)"
	    " SELECT u.id, $2, $3, $4, $5::jsonb FROM users u WHERE u.id = $1::uuid"
	    " RETURNING " NOTE_COLS ", (SELECT email FROM users WHERE id = $1::uuid) AS email,"
	    " (SELECT name FROM users WHERE id = $1::uuid) AS name", 5, params);
	free(text);
	if (e != FB_OK)
		return e;
	if (PQntuples(res) != 1) {
		PQclear(res);
		return FB_ERR_NOTFOUND;
	}
	note = note_json(res, 0);
	if (preferences_email_ok(db, user_id)) {
		vars = json_pack("{s:s,s:s,s:s}", "name", db_get(res, 0, "name"), "title", title,
		    "body", body != NULL ? body : "");
		e = outbox_email(db, db_get(res, 0, "email"), db_get(res, 0, "name"),
		    "notification", vars);
		json_decref(vars);
	}
	PQclear(res);
	if (e != FB_OK || out == NULL)
		json_decref(note);
	else
		*out = note;
	return e;
}

enum fb_err
notifications_list(struct db *db, const char *user_id, bool unread_only, const char *after,
    int limit, json_t **data, char **next, long *unread)
{
	char		 ts[CURSOR_PART_MAX + 1], id[CURSOR_PART_MAX + 1], lim[16];
	const char	*params[5];
	PGresult	*res;
	enum fb_err	 e;
	int		 i, n;

	*data = NULL;
	*next = NULL;
	*unread = 0;
	if (after != NULL && cursor_decode(after, ts, id) != FB_OK)
		return FB_ERR_INVALID;
	snprintf(lim, sizeof(lim), "%d", limit + 1);
	params[0] = user_id;
	params[1] = unread_only ? "t" : "f";
	params[2] = after != NULL ? ts : NULL;
	params[3] = after != NULL ? id : NULL;
	params[4] = lim;
	e = db_query(db, &res, "SELECT " NOTE_COLS ", to_char(n.created_at AT TIME ZONE 'UTC',"
	    " 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"') AS k FROM notifications n"
	    " WHERE n.user_id = $1::uuid AND (NOT $2::boolean OR n.read_at IS NULL)"
	    " AND ($3::timestamptz IS NULL OR (n.created_at, n.id) < ($3::timestamptz, $4::uuid))"
	    " ORDER BY n.created_at DESC, n.id DESC LIMIT $5::int", 5, params);
	if (e != FB_OK)
		return e;
	*data = json_array();
	n = PQntuples(res);
	for (i = 0; i < n && i < limit; i++)
		json_array_append_new(*data, note_json(res, i));
	if (n > limit)
		*next = cursor_encode(db_get(res, limit - 1, "k"), db_get(res, limit - 1, "id"));
	PQclear(res);
	if ((e = db_query(db, &res, "SELECT count(*) AS n FROM notifications"
	    " WHERE user_id = $1::uuid AND read_at IS NULL", 1, params)) != FB_OK) {
		json_decref(*data);
		*data = NULL;
		free(*next);
		*next = NULL;
		return e;
	}
	*unread = strtol(db_get(res, 0, "n"), NULL, 10);
	PQclear(res);
	return FB_OK;
}

enum fb_err
notifications_read(struct db *db, const char *user_id, const char *id, json_t **out)
{
	const char	*params[2] = { user_id, id };
	PGresult	*res;
	enum fb_err	 e;

	*out = NULL;
	e = db_query(db, &res, "UPDATE notifications n SET read_at = coalesce(read_at, now())"
	    " WHERE n.id = $2::uuid AND n.user_id = $1::uuid RETURNING " NOTE_COLS, 2, params);
	if (e != FB_OK)
		return e;
	if (PQntuples(res) != 1) {
		PQclear(res);
		return FB_ERR_NOTFOUND;
	}
	*out = note_json(res, 0);
	PQclear(res);
	return FB_OK;
}

enum fb_err
notifications_read_all(struct db *db, const char *user_id, long *count)
{
	const char	*params[1] = { user_id };

	return db_exec(db, count, "UPDATE notifications SET read_at = now()"
	    " WHERE user_id = $1::uuid AND read_at IS NULL", 1, params);
}
