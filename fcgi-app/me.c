/*
 * me — /api/me: the caller's own account (api.md "Me", but preferences and
 * api-keys): read, rename, delete with everything it owns, export.
 */
#include <stdio.h>
#include <string.h>

#include "apikeys.h"
#include "teams.h"
#include "outbox.h"
#include "password.h"
#include "metrics.h"
#include "problem.h"
#include "routes.h"
#include "session.h"
#include "users.h"

const struct field me_patch_in[] = {
	{ "name", FIELD_STRING, true, 1, USER_NAME_MAX },
	FIELD_END
};
const struct field me_delete_in[] = {
	{ "password", FIELD_STRING, true, 1, 1024 },
	{ "confirm", FIELD_STRING, true, 1, 16 },
	FIELD_END
};

/* GET /api/me */
void
me_get(struct request *req)
{
	resp_json(req, 200, json_pack("{s:o}", "user", user_json(&req->user)));
}

/* PATCH /api/me */
void
me_patch(struct request *req)
{
	const char	*name = json_string_value(json_object_get(req->json, "name"));
	struct user	 u;
	enum fb_err	 e;

	if ((e = users_set_name(&req->app->db, req->user.id, name, &u)) != FB_OK) {
		resp_error(req, e);
		return;
	}
	resp_json(req, 200, json_pack("{s:o}", "user", user_json(&u)));
}

/* DELETE /api/me — the account and everything that cascades from it. */
void
me_delete(struct request *req)
{
	const char	*password = json_string_value(json_object_get(req->json, "password"));
	const char	*confirm = json_string_value(json_object_get(req->json, "confirm"));
	struct db	*db = &req->app->db;
	enum password_verdict v = PASSWORD_MISMATCH;
	struct user	 u;
	long		 blocked = 0;
	enum fb_err	 e;

	if (strcmp(confirm, "DELETE") != 0) {
		resp_field_problem(req, "confirm", "invalid_value", "must be \"DELETE\"");
		return;
	}
	if ((e = users_find_by_email(db, req->user.email, true, &u)) != FB_OK) {
		resp_error(req, e);
		return;
	}
	if (u.password_hash == NULL || password_verify(&req->app->pw, u.password_hash,
	    password, &v, NULL) != FB_OK || v != PASSWORD_MATCH) {
		user_clear(&u);
		resp_field_problem(req, "password", "incorrect", "is not your password");
		return;
	}
	user_clear(&u);
	/* The audit entry outlives the account (no foreign key on actor_id). */
	if ((e = db_begin(db)) == FB_OK && (e = teams_release_user(db, req->user.id,
	    &blocked)) == FB_OK && blocked > 0) {
		db_rollback(db);
		resp_problem(req, 409, "conflict", "you are the only owner of a team with other "
		    "members: make someone else an owner, or delete the team, first");
		return;
	}
	if (e == FB_OK) {
		audit_request(req, "account.delete", "user", req->user.id,
		    json_pack("{s:s}", "email", req->user.email));
		if ((e = users_delete(db, req->user.id)) == FB_OK)
			e = db_commit(db);
	}
	if (e != FB_OK) {
		db_rollback(db);
		resp_error(req, e);
		return;
	}
	resp_empty(req, 204);
}

/* One SQL query's rows as a JSON array, via row_to_json in the database. */
static enum fb_err
rows_json(struct db *db, const char *sql, const char *user_id, json_t **out)
{
	const char	*params[1] = { user_id };
	PGresult	*res;
	enum fb_err	 e;

	*out = NULL;
	if ((e = db_query(db, &res, sql, 1, params)) != FB_OK)
		return e;
	*out = json_loads(db_get(res, 0, "j"), 0, NULL);
	PQclear(res);
	return *out != NULL ? FB_OK : FB_ERR_INTERNAL;
}

/* GET /api/me/export — everything stored about the caller, secrets excluded
 * (no password hash, no token hashes). */
void
me_export(struct request *req)
{
	struct db	*db = &req->app->db;
	json_t		*sessions = NULL, *audit = NULL, *keys = NULL, *doc;
	char		 key[80], disp[128];
	enum fb_err	 e;

	snprintf(key, sizeof(key), "export:%s", req->user.id);
	if (!limit_hit(req, key, req->app->cfg.rl_export_user, 3600))
		return;
	if ((e = rows_json(db, "SELECT coalesce(json_agg(json_build_object("
	    "'id', id, 'created_at', created_at, 'last_used_at', last_used_at,"
	    " 'expires_at', expires_at, 'revoked_at', revoked_at, 'ip', host(ip),"
	    " 'user_agent', user_agent, 'amr', amr) ORDER BY created_at), '[]')::text AS j"
	    " FROM sessions WHERE user_id = $1::uuid", req->user.id, &sessions)) != FB_OK ||
	    (e = rows_json(db, "SELECT coalesce(json_agg(json_build_object("
	    "'occurred_at', occurred_at, 'action', action, 'ip', host(actor_ip),"
	    " 'target_type', target_type, 'target_id', target_id) ORDER BY seq), '[]')::text AS j"
	    " FROM audit_log WHERE actor_id = $1::uuid OR (target_type = 'user' AND"
	    " target_id = $1::text)", req->user.id, &audit)) != FB_OK ||
	    (e = apikeys_list(db, req->user.id, &keys)) != FB_OK) {
		json_decref(sessions);
		json_decref(audit);
		resp_error(req, e);
		return;
	}
	doc = json_pack("{s:s,s:o,s:o,s:o,s:o}", "format", "fastback-export/1",
	    "user", user_json(&req->user), "sessions", sessions, "audit_log", audit,
	    "api_keys", keys);
	snprintf(disp, sizeof(disp), "attachment; filename=\"fastback-export-%s.json\"",
	    req->user.id);
	resp_header(req, "Content-Disposition", disp);
	audit_request(req, "account.export", "user", req->user.id, NULL);
	resp_json(req, 200, doc);
}
