/*
 * notifications — /api/notifications (api.md "Notifications"): the caller's
 * notifications newest first with the unread count, marking read, and
 * creation by administrators (an email copy follows when the recipient's
 * preferences allow).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "notifications.h"
#include "routes.h"
#include "session.h"

const struct field notification_create_in[] = {
	{ "user_id", FIELD_UUID, true, 0, 0 },
	{ "type", FIELD_STRING, true, 1, 64 },
	{ "title", FIELD_STRING, true, 1, 200 },
	{ "body", FIELD_STRING, false, 0, 5000 },
	{ "data", FIELD_OBJECT, false, 0, 0 },
	FIELD_END
};

static const char *
str(struct request *req, const char *name)
{
	return json_string_value(json_object_get(req->json, name));
}

/* GET /api/notifications?unread=true */
void
notification_list(struct request *req)
{
	const char	*cursor, *unread = request_query(req, "unread");
	json_t		*data;
	char		*next;
	long		 count;
	int		 limit;
	enum fb_err	 e;

	if (!request_page(req, &limit, &cursor))
		return;
	if (unread != NULL && strcmp(unread, "true") != 0 && strcmp(unread, "false") != 0) {
		resp_problem(req, 400, "bad_request", "unread must be true or false");
		return;
	}
	e = notifications_list(&req->app->db, req->user.id, unread != NULL &&
	    strcmp(unread, "true") == 0, cursor, limit, &data, &next, &count);
	if (e == FB_ERR_INVALID) {
		resp_problem(req, 400, "bad_request", "the cursor is not valid");
		return;
	}
	if (e != FB_OK) {
		resp_error(req, e);
		return;
	}
	resp_json(req, 200, json_pack("{s:o,s:s?,s:I}", "data", data, "next_cursor", next,
	    "unread_count", (json_int_t)count));
	free(next);
}

/* POST /api/notifications (admins) */
void
notification_create(struct request *req)
{
	const char	*type = str(req, "type");
	struct db	*db = &req->app->db;
	json_t		*out = NULL;
	size_t		 i;
	enum fb_err	 e;

	for (i = 0; type[i] != '\0'; i++)
		if (!((type[i] >= 'a' && type[i] <= 'z') || (type[i] >= '0' && type[i] <= '9') ||
		    strchr("_.-", type[i]) != NULL)) {
			resp_field_problem(req, "type", "invalid_format", "must match [a-z0-9_.-]{1,64}");
			return;
		}
	if ((e = db_begin(db)) != FB_OK) {
		resp_error(req, e);
		return;
	}
	e = notify_user(db, str(req, "user_id"), type, str(req, "title"), str(req, "body"),
	    json_object_get(req->json, "data"), &out);
	if (e == FB_ERR_NOTFOUND) {
		db_rollback(db);
		resp_field_problem(req, "user_id", "not_found", "there is no such user");
		return;
	}
	if (e == FB_OK) {
		audit_request(req, "notification.create", "user", str(req, "user_id"),
		    json_pack("{s:s}", "type", type));
		e = db_commit(db);
	}
	if (e != FB_OK) {
		db_rollback(db);
		json_decref(out);
		resp_error(req, e);
		return;
	}
	resp_json(req, 201, json_pack("{s:o}", "notification", out));
}

/* PUT /api/notifications/{id}/read */
void
notification_read(struct request *req)
{
	const char	*id = request_path_param(req, "id");
	json_t		*out;
	enum fb_err	 e;

	e = valid_uuid(id) ? notifications_read(&req->app->db, req->user.id, id, &out) :
	    FB_ERR_NOTFOUND;
	if (e != FB_OK) {
		resp_error(req, e);
		return;
	}
	resp_json(req, 200, out);
}

/* POST /api/notifications/read-all */
void
notification_read_all(struct request *req)
{
	long		n = 0;
	enum fb_err	e;

	if ((e = notifications_read_all(&req->app->db, req->user.id, &n)) != FB_OK) {
		resp_error(req, e);
		return;
	}
	resp_empty(req, 204);
}
