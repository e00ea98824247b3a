/*
 * invitations — /api/invitations: admins invite people by email; the invited
 * accept with the emailed token, a name and a password (api.md
 * "Invitations"). Accepting is the way in when REGISTRATION=invite.
 */
#include <stdio.h>
#include <string.h>

#include "invitations.h"
#include "outbox.h"
#include "password.h"
#include "metrics.h"
#include "problem.h"
#include "routes.h"
#include "session.h"
#include "users.h"

const struct field invitation_create_in[] = {
	{ "email", FIELD_EMAIL, true, 0, 0 },
	{ "role", FIELD_STRING, false, 1, 8 },
	FIELD_END
};
const struct field invitation_accept_in[] = {
	{ "token", FIELD_STRING, true, 1, 256 },
	{ "name", FIELD_STRING, true, 1, USER_NAME_MAX },
	{ "password", FIELD_STRING, true, 1, 1024 },
	FIELD_END
};

/* POST /api/invitations */
void
invitation_create(struct request *req)
{
	const char	*email = json_string_value(json_object_get(req->json, "email"));
	const char	*role = json_string_value(json_object_get(req->json, "role"));
	struct db	*db = &req->app->db;
	char		 token[TOKEN_TEXT_LEN + 1], link[1024];
	const char	*base = req->app->cfg.app_url;
	json_t		*inv = NULL, *vars;
	enum fb_err	 e;

	if (role == NULL)
		role = "user";
	if (strcmp(role, "user") != 0 && strcmp(role, "admin") != 0) {
		resp_field_problem(req, "role", "invalid_value", "must be \"user\" or \"admin\"");
		return;
	}
	if ((e = db_begin(db)) != FB_OK) {
		resp_error(req, e);
		return;
	}
	e = invitations_create(db, email, role, req->user.id, token, &inv);
	if (e == FB_ERR_CONFLICT) {
		db_rollback(db);
		resp_problem(req, 409, "conflict", "an account with that email exists");
		return;
	}
	if (e == FB_OK) {
		snprintf(link, sizeof(link), "%.*s/accept-invitation?token=%s",
		    (int)(strlen(base) - (base[strlen(base) - 1] == '/')), base, token);
		vars = json_pack("{s:s,s:s,s:s}", "inviter", req->user.name[0] ?
		    req->user.name : req->user.email, "link", link, "role", role);
		e = outbox_email(db, email, NULL, "invitation", vars);
		json_decref(vars);
	}
	if (e == FB_OK) {
		audit_request(req, "invitation.create", "invitation",
		    json_string_value(json_object_get(inv, "id")),
		    json_pack("{s:s,s:s}", "email", email, "role", role));
		e = db_commit(db);
	}
	if (e != FB_OK) {
		db_rollback(db);
		json_decref(inv);
		resp_error(req, e);
		return;
	}
	resp_json(req, 201, json_pack("{s:o}", "invitation", inv));
}

/* GET /api/invitations */
void
invitation_list(struct request *req)
{
	const char	*cursor;
	json_t		*data;
	char		*next;
	int		 limit;
	enum fb_err	 e;

	if (!request_page(req, &limit, &cursor))
		return;
	e = invitations_list(&req->app->db, cursor, limit, &data, &next);
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

/* DELETE /api/invitations/{id} */
void
invitation_delete(struct request *req)
{
	const char	*id = request_path_param(req, "id");
	enum fb_err	 e;

	e = valid_uuid(id) ? invitations_revoke(&req->app->db, id) : FB_ERR_NOTFOUND;
	if (e != FB_OK) {
		resp_error(req, e);
		return;
	}
	audit_request(req, "invitation.revoke", "invitation", id, NULL);
	resp_empty(req, 204);
}

/* POST /api/invitations/accept — no authentication: the token is the proof. */
void
invitation_accept(struct request *req)
{
	const char	*token = json_string_value(json_object_get(req->json, "token"));
	const char	*name = json_string_value(json_object_get(req->json, "name"));
	const char	*password = json_string_value(json_object_get(req->json, "password"));
	struct db	*db = &req->app->db;
	char		 email[255], role[8], reason[PASSWORD_REASON_MAX], *hash = NULL;
	struct user	 u;
	enum fb_err	 e;

	memset(&u, 0, sizeof(u));
	if ((e = db_begin(db)) != FB_OK) {
		resp_error(req, e);
		return;
	}
	/* Used up inside the transaction: a refused password rolls it back. */
	e = invitations_accept(db, token, email, role);
	if (e == FB_ERR_NOTFOUND) {
		db_rollback(db);
		resp_field_problem(req, "token", "invalid_token", "is invalid, used or expired");
		return;
	}
	if (e != FB_OK)
		goto fail;
	if (!password_strong_enough(password, email, name, reason, sizeof(reason))) {
		db_rollback(db);
		resp_field_problem(req, "password", "weak_password", reason);
		return;
	}
	if ((e = password_hash(&req->app->pw, password, &hash)) != FB_OK)
		goto fail;
	/* The address received the invitation: it counts as verified. */
	e = users_create(db, email, name, hash, role, true, &u);
	if (e == FB_ERR_CONFLICT) {
		db_rollback(db);
		free(hash);
		resp_problem(req, 409, "conflict", "an account with that email exists");
		return;
	}
	if (e != FB_OK)
		goto fail;
	snprintf(req->user_id, sizeof(req->user_id), "%s", u.id);
	audit_request(req, "invitation.accept", "user", u.id, json_pack("{s:s}", "role", role));
	if ((e = db_commit(db)) != FB_OK)
		goto fail;
	free(hash);
	auth_sign_in(req, 201, &u, "[\"pwd\"]");
	return;
fail:
	db_rollback(db);
	free(hash);
	resp_error(req, e);
}
