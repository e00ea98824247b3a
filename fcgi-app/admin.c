/*
 * admin — /api/admin for administrators: users (list, search, role change,
 * disabling, which ends every session) and the audit log (api.md "Admin").
 * Every write is audit-logged with the change.
 */
#include <stdio.h>
#include <string.h>

#include "audit.h"
#include "jobs.h"
#include "metrics.h"
#include "problem.h"
#include "routes.h"
#include "session.h"
#include "sessions.h"
#include "users.h"

const struct field admin_user_patch_in[] = {
	{ "role", FIELD_STRING, false, 1, 8 },
	{ "disabled", FIELD_BOOL, false, 0, 0 },
	FIELD_END
};

/* GET /api/admin/users?q= */
void
admin_users_list(struct request *req)
{
	const char	*cursor, *q = request_query(req, "q");
	json_t		*data;
	char		*next;
	int		 limit;
	enum fb_err	 e;

	if (!request_page(req, &limit, &cursor))
		return;
	if (q != NULL && (*q == '\0' || strlen(q) > 200))
		q = *q == '\0' ? NULL : q;
	if (q != NULL && strlen(q) > 200) {
		resp_problem(req, 400, "bad_request", "q is at most 200 characters");
		return;
	}
	e = users_list(&req->app->db, q, cursor, limit, &data, &next);
	if (e == FB_ERR_INVALID) {
		resp_problem(req, 400, "bad_request", "the cursor is not valid");
		return;
	}
	if (e != FB_OK) {
		resp_error(req, e);
		return;
	}
	resp_json(req, 200, json_pack("{s:o,s:s?}", "data", data, "next_cursor", next));
	free(next);
}

/* PATCH /api/admin/users/{id} {role?, disabled?} */
void
admin_user_patch(struct request *req)
{
	const char	*id = request_path_param(req, "id");
	const char	*role = json_string_value(json_object_get(req->json, "role"));
	json_t		*dis = json_object_get(req->json, "disabled"), *change;
	struct db	*db = &req->app->db;
	struct user	 before, after;
	enum fb_err	 e;

	if (!valid_uuid(id)) {
		resp_problem(req, 404, "not_found", NULL);
		return;
	}
	if (role != NULL && strcmp(role, "user") != 0 && strcmp(role, "admin") != 0) {
		resp_field_problem(req, "role", "invalid_value", "must be \"user\" or \"admin\"");
		return;
	}
	if (strcmp(id, req->user.id) == 0 && ((role != NULL && strcmp(role, "admin") != 0) ||
	    json_is_true(dis))) {
		resp_problem(req, 409, "conflict",
		    "administrators cannot demote or disable themselves");
		return;
	}
	if ((e = users_find(db, id, &before)) != FB_OK) {
		resp_error(req, e);
		return;
	}
	if ((e = db_begin(db)) != FB_OK)
		goto fail;
	if ((e = users_admin_update(db, id, role, dis == NULL ? -1 : json_is_true(dis),
	    &after)) != FB_OK)
		goto fail;
	/* Disabling ends every session at once. */
	if (after.disabled && (e = sessions_revoke_all(db, id, NULL, NULL)) != FB_OK)
		goto fail;
	change = json_object();
	if (role != NULL && strcmp(before.role, after.role) != 0)
		json_object_set_new(change, "role", json_pack("{s:s,s:s}", "from", before.role,
		    "to", after.role));
	if (before.disabled != after.disabled)
		json_object_set_new(change, "disabled", json_pack("{s:b,s:b}", "from",
		    before.disabled, "to", after.disabled));
	audit_request(req, after.disabled && !before.disabled ? "admin.user.disable" :
	    "admin.user.update", "user", id, change);
	if ((e = db_commit(db)) != FB_OK)
		goto fail;
	resp_json(req, 200, json_pack("{s:o}", "user", user_json(&after)));
	return;
fail:
	db_rollback(db);
	resp_error(req, e);
}

/* GET /api/admin/audit-log?actor_id=&action=&since= — newest first. */
void
admin_audit_log(struct request *req)
{
	const char	*cursor, *actor = request_query(req, "actor_id");
	const char	*action = request_query(req, "action"), *since = request_query(req, "since");
	json_t		*data;
	char		*next;
	int		 limit;
	enum fb_err	 e;

	if (!request_page(req, &limit, &cursor))
		return;
	e = audit_list(&req->app->db, actor, action, since, cursor, limit, &data, &next);
	if (e == FB_ERR_INVALID) {
		resp_problem(req, 400, "bad_request", "actor_id must be a UUID, action at most "
		    "64 characters, since an RFC 3339 time, and the cursor one we gave");
		return;
	}
	if (e != FB_OK) {
		resp_error(req, e);
		return;
	}
	resp_json(req, 200, json_pack("{s:o,s:s?}", "data", data, "next_cursor", next));
	free(next);
}

/* GET /api/admin/jobs?state= */
void
admin_jobs_list(struct request *req)
{
	const char	*cursor, *state = request_query(req, "state");
	json_t		*data;
	char		*next;
	int		 limit;
	enum fb_err	 e;

	if (!request_page(req, &limit, &cursor))
		return;
	e = jobs_list(&req->app->db, state, cursor, limit, &data, &next);
	if (e == FB_ERR_INVALID) {
		resp_problem(req, 400, "bad_request", "state must be queued, running, succeeded, "
		    "dead or cancelled, and the cursor one we gave");
		return;
	}
	if (e != FB_OK) {
		resp_error(req, e);
		return;
	}
	resp_json(req, 200, json_pack("{s:o,s:s?}", "data", data, "next_cursor", next));
	free(next);
}

/* POST /api/admin/jobs/{id}/retry — a dead or cancelled job, queued again. */
void
admin_job_retry(struct request *req)
{
	const char	*id = request_path_param(req, "id");
	bool		 applied = false;
	enum fb_err	 e;

	if (!valid_uuid(id)) {
		resp_problem(req, 404, "not_found", NULL);
		return;
	}
	if ((e = jobs_retry(&req->app->db, id, &applied)) != FB_OK) {
		resp_error(req, e);
		return;
	}
	if (!applied) {
		resp_problem(req, 409, "conflict", "only a dead or cancelled job can be retried "
		    "(or there is no such job)");
		return;
	}
	audit_request(req, "admin.job.retry", "job", id, NULL);
	resp_json(req, 200, json_pack("{s:s,s:s}", "id", id, "state", "queued"));
}
