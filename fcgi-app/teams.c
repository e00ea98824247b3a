/*
 * teams — /api/teams (api.md "Teams"): teams, members with roles, and
 * invitations by email. Who may do what is decided in one place, team_rules
 * and team_decide() below; the handlers only ask. Every write runs in a
 * transaction that first locks the team row and reads the caller's role
 * under that lock, so a decision is never taken on a role that is changing,
 * and is audit-logged in the same transaction.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "outbox.h"
#include "routes.h"
#include "session.h"
#include "teams.h"

const struct field team_name_in[] = {
	{ "name", FIELD_STRING, true, 1, TEAM_NAME_MAX },
	FIELD_END
};
const struct field team_invite_in[] = {
	{ "email", FIELD_EMAIL, true, 0, 0 },
	{ "role", FIELD_STRING, false, 1, 16 },	/* default "member" */
	FIELD_END
};
const struct field team_accept_in[] = {
	{ "token", FIELD_STRING, true, 1, 256 },
	FIELD_END
};
const struct field team_member_in[] = {
	{ "role", FIELD_STRING, true, 1, 16 },
	FIELD_END
};

enum team_action {
	TEAM_VIEW,
	TEAM_RENAME,
	TEAM_DELETE,
	TEAM_INVITE,
	TEAM_CHANGE_ROLE,
	TEAM_REMOVE,		/* another member */
	TEAM_LEAVE,		/* oneself */
};

/*
 * The role matrix: the least role each action needs. Around it, in
 * team_decide(): a non-member gets 404 for everything (the team's existence
 * is not revealed), a member below the role 403; nobody grants a role above
 * their own (an admin cannot invite or promote to owner), nor changes or
 * removes a member ranked above them (an admin cannot demote or remove an
 * owner). That the last owner stays is the data's invariant (shared/teams.c,
 * 409), not a permission.
 */
static const enum team_role team_rules[] = {
	[TEAM_VIEW]		= TEAM_ROLE_VIEWER,
	[TEAM_RENAME]		= TEAM_ROLE_ADMIN,
	[TEAM_DELETE]		= TEAM_ROLE_OWNER,
	[TEAM_INVITE]		= TEAM_ROLE_ADMIN,
	[TEAM_CHANGE_ROLE]	= TEAM_ROLE_ADMIN,
	[TEAM_REMOVE]		= TEAM_ROLE_ADMIN,
	[TEAM_LEAVE]		= TEAM_ROLE_VIEWER,
};

/* 0 when caller (TEAM_ROLE_NONE: not a member) may do action, granting the
 * role `grant` (TEAM_ROLE_NONE: grants none) to a member whose role is now
 * `target` (TEAM_ROLE_NONE: no member is acted on); else the HTTP status. */
static int
team_decide(enum team_action action, enum team_role caller, enum team_role grant,
    enum team_role target)
{
	if (caller == TEAM_ROLE_NONE)
		return 404;
	if (caller < team_rules[action] || grant > caller || target > caller)
		return 403;
	return 0;
}

/* Answers a refusal of team_decide(). */
static void
resp_denied(struct request *req, int status)
{
	if (status == 404)
		resp_problem(req, 404, "not_found", NULL);
	else
		resp_problem(req, 403, "forbidden", "your role in this team does not allow this");
}

/* Ends a failed write: rolls back and answers e. */
static void
resp_rollback(struct request *req, enum fb_err e)
{
	db_rollback(&req->app->db);
	resp_error(req, e);
}

/* The {id} of the path, or NULL after answering 404 (ids are UUIDs). */
static const char *
team_id_param(struct request *req)
{
	const char	*id = request_path_param(req, "id");

	if (!valid_uuid(id)) {
		resp_problem(req, 404, "not_found", NULL);
		return NULL;
	}
	return id;
}

/* The "role" of the body as a team role: def when absent; TEAM_ROLE_NONE
 * after answering 422 when it is not one (or absent with def NONE). */
static enum team_role
role_field(struct request *req, enum team_role def)
{
	const char	*s = json_string_value(json_object_get(req->json, "role"));
	enum team_role	 r;

	if (s == NULL && def == TEAM_ROLE_NONE)
		resp_field_problem(req, "role", "required", "is required");
	if (s == NULL)
		return def;
	if ((r = team_role_parse(s)) == TEAM_ROLE_NONE)
		resp_field_problem(req, "role", "invalid_value",
		    "must be owner, admin, member or viewer");
	return r;
}

/* The "name" of the body, or NULL after answering 422 when it is blank. */
static const char *
name_field(struct request *req)
{
	const char	*name = json_string_value(json_object_get(req->json, "name"));

	if (name == NULL || strspn(name, " \t\r\n") == strlen(name)) {
		resp_field_problem(req, "name", "blank", "must not be blank");
		return NULL;
	}
	return name;
}

/* Begins a write on team id: locks the team and decides action for the
 * caller (grant as in team_decide). On false the answer is set and no
 * transaction is open. */
static bool
team_write_begin(struct request *req, const char *id, enum team_action action,
    enum team_role grant, enum team_role *caller)
{
	struct db	*db = &req->app->db;
	enum fb_err	 e;
	int		 status;

	if ((e = db_begin(db)) != FB_OK) {
		resp_error(req, e);
		return false;
	}
	e = teams_access(db, id, req->user.id, true, caller);
	if (e != FB_OK && e != FB_ERR_NOTFOUND) {
		resp_rollback(req, e);
		return false;
	}
	if ((status = team_decide(action, *caller, grant, TEAM_ROLE_NONE)) != 0) {
		db_rollback(db);
		resp_denied(req, status);
		return false;
	}
	return true;
}

/* GET /api/teams */
void
team_list(struct request *req)
{
	const char	*cursor;
	json_t		*data;
	char		*next;
	int		 limit;
	enum fb_err	 e;

	if (!request_page(req, &limit, &cursor))
		return;
	e = teams_list(&req->app->db, req->user.id, cursor, limit, &data, &next);
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

/* POST /api/teams {name} — the caller is the owner. */
void
team_create(struct request *req)
{
	struct db	*db = &req->app->db;
	const char	*name;
	json_t		*team = NULL;
	enum fb_err	 e;

	if ((name = name_field(req)) == NULL)
		return;
	if ((e = db_begin(db)) != FB_OK) {
		resp_error(req, e);
		return;
	}
	if ((e = teams_create(db, req->user.id, name, &team)) != FB_OK) {
		resp_rollback(req, e);
		return;
	}
	audit_request(req, "team.create", "team", json_string_value(json_object_get(team, "id")),
	    json_pack("{s:s}", "name", name));
	if ((e = db_commit(db)) != FB_OK) {
		json_decref(team);
		resp_rollback(req, e);
		return;
	}
	resp_json(req, 201, json_pack("{s:o}", "team", team));
}

/* GET /api/teams/{id} */
void
team_get(struct request *req)
{
	const char	*id;
	json_t		*team, *members;
	enum fb_err	 e;
	enum team_role	 caller;
	int		 status;

	if ((id = team_id_param(req)) == NULL)
		return;
	e = teams_access(&req->app->db, id, req->user.id, false, &caller);
	if (e != FB_OK && e != FB_ERR_NOTFOUND) {
		resp_error(req, e);
		return;
	}
	if ((status = team_decide(TEAM_VIEW, caller, TEAM_ROLE_NONE, TEAM_ROLE_NONE)) != 0) {
		resp_denied(req, status);
		return;
	}
	if ((e = teams_get(&req->app->db, id, req->user.id, &team, &members)) != FB_OK) {
		resp_error(req, e);
		return;
	}
	resp_json(req, 200, json_pack("{s:o,s:o}", "team", team, "members", members));
}

/* PATCH /api/teams/{id} {name} */
void
team_rename(struct request *req)
{
	struct db	*db = &req->app->db;
	const char	*id, *name;
	char		 old[TEAM_NAME_BYTES];
	json_t		*team = NULL;
	enum team_role	 caller;
	enum fb_err	 e;

	if ((id = team_id_param(req)) == NULL || (name = name_field(req)) == NULL)
		return;
	if (!team_write_begin(req, id, TEAM_RENAME, TEAM_ROLE_NONE, &caller))
		return;
	if ((e = teams_rename(db, id, req->user.id, name, &team, old)) != FB_OK) {
		resp_rollback(req, e);
		return;
	}
	audit_request(req, "team.rename", "team", id,
	    json_pack("{s:s,s:s}", "from", old, "to", name));
	if ((e = db_commit(db)) != FB_OK) {
		json_decref(team);
		resp_rollback(req, e);
		return;
	}
	resp_json(req, 200, json_pack("{s:o}", "team", team));
}

/* DELETE /api/teams/{id} — memberships and invitations go with it. */
void
team_delete(struct request *req)
{
	struct db	*db = &req->app->db;
	const char	*id;
	char		 name[TEAM_NAME_BYTES];
	enum team_role	 caller;
	enum fb_err	 e;

	if ((id = team_id_param(req)) == NULL)
		return;
	if (!team_write_begin(req, id, TEAM_DELETE, TEAM_ROLE_NONE, &caller))
		return;
	if ((e = teams_delete(db, id, name)) != FB_OK) {
		resp_rollback(req, e);
		return;
	}
	audit_request(req, "team.delete", "team", id, json_pack("{s:s}", "name", name));
	if ((e = db_commit(db)) != FB_OK) {
		resp_rollback(req, e);
		return;
	}
	resp_empty(req, 204);
}

/* POST /api/teams/{id}/invite {email, role} — the invitation email goes out
 * through the outbox in the same transaction. */
void
team_invite(struct request *req)
{
	struct db	*db = &req->app->db;
	const char	*id, *email = json_string_value(json_object_get(req->json, "email"));
	const char	*base = req->app->cfg.app_url;
	char		 token[TOKEN_TEXT_LEN + 1], link[1024], team_name[TEAM_NAME_BYTES];
	json_t		*inv = NULL, *vars;
	enum team_role	 caller, role;
	enum fb_err	 e;
	int		 n;

	if ((id = team_id_param(req)) == NULL)
		return;
	if ((role = role_field(req, TEAM_ROLE_MEMBER)) == TEAM_ROLE_NONE)
		return;
	if (!team_write_begin(req, id, TEAM_INVITE, role, &caller))
		return;
	e = teams_invite(db, id, email, role, req->user.id, token, &inv, team_name);
	if (e == FB_ERR_CONFLICT) {
		db_rollback(db);
		resp_problem(req, 409, "conflict", "that address is already a member of the team");
		return;
	}
	if (e != FB_OK)
		goto fail;
	n = snprintf(link, sizeof(link), "%.*s/accept-team-invitation?token=%s",
	    (int)(strlen(base) - (base[0] != '\0' && base[strlen(base) - 1] == '/')), base, token);
	if (n < 0 || (size_t)n >= sizeof(link)) {
		e = FB_ERR_TOOBIG;	/* APP_URL is absurdly long: a configuration bug */
		goto fail;
	}
	vars = json_pack("{s:s,s:s,s:s,s:s}", "inviter", req->user.name[0] != '\0' ?
	    req->user.name : req->user.email, "team", team_name, "link", link,
	    "role", team_role_name(role));
	e = vars != NULL ? outbox_email(db, email, NULL, "team_invitation", vars) : FB_ERR_NOMEM;
	json_decref(vars);
	if (e != FB_OK)
		goto fail;
	audit_request(req, "team.invite", "team", id, json_pack("{s:s,s:s,s:s}",
	    "invitation_id", json_string_value(json_object_get(inv, "id")),
	    "email", email, "role", team_role_name(role)));
	if ((e = db_commit(db)) != FB_OK)
		goto fail;
	resp_json(req, 201, json_pack("{s:o}", "invitation", inv));
	return;
fail:
	json_decref(inv);
	resp_rollback(req, e == FB_ERR_TOOBIG ? FB_ERR_INTERNAL : e);
}

/* POST /api/teams/invitations/accept {token} — by the invited address only. */
void
team_accept(struct request *req)
{
	struct db		*db = &req->app->db;
	const char		*token = json_string_value(json_object_get(req->json, "token"));
	struct team_acceptance	 acc;
	json_t			*team = NULL;
	enum fb_err		 e;

	if ((e = db_begin(db)) != FB_OK) {
		resp_error(req, e);
		return;
	}
	e = teams_accept(db, token, req->user.id, req->user.email, &acc, &team);
	if (e == FB_ERR_NOTFOUND && acc.is_other_address) {
		/* 403, not 404: the token (256 random bits) proves its holder
		 * was sent the link, so saying it exists reveals nothing, and
		 * the client can tell the user to sign in with the invited
		 * address instead of calling the link dead. Which address is
		 * not said, and the invitation stays usable. */
		db_rollback(db);
		resp_problem(req, 403, "forbidden",
		    "this invitation was sent to another email address");
		return;
	}
	if (e == FB_ERR_NOTFOUND) {
		db_rollback(db);
		resp_field_problem(req, "token", "invalid_token", "is invalid, used or expired");
		return;
	}
	if (e == FB_ERR_CONFLICT) {
		db_rollback(db);
		resp_problem(req, 409, "conflict", "you are already a member of this team");
		return;
	}
	if (e != FB_OK) {
		resp_rollback(req, e);
		return;
	}
	audit_request(req, "team.accept", "team", acc.team_id, json_pack("{s:s,s:s}",
	    "invitation_id", acc.invitation_id, "role", team_role_name(acc.role)));
	if ((e = db_commit(db)) != FB_OK) {
		json_decref(team);
		resp_rollback(req, e);
		return;
	}
	resp_json(req, 200, json_pack("{s:o}", "team", team));
}

/* PATCH /api/teams/{id}/members/{user_id} {role} */
void
team_member_patch(struct request *req)
{
	struct db	*db = &req->app->db;
	const char	*id, *user_id = request_path_param(req, "user_id");
	json_t		*member = NULL;
	enum team_role	 caller, target, role, old;
	enum fb_err	 e;
	int		 status;

	if ((id = team_id_param(req)) == NULL)
		return;
	if (!valid_uuid(user_id)) {
		resp_problem(req, 404, "not_found", NULL);
		return;
	}
	if ((role = role_field(req, TEAM_ROLE_NONE)) == TEAM_ROLE_NONE)
		return;
	if (!team_write_begin(req, id, TEAM_CHANGE_ROLE, role, &caller))
		return;
	/* The target's role, read under the team lock. */
	if ((e = teams_access(db, id, user_id, false, &target)) != FB_OK) {
		resp_rollback(req, e);
		return;
	}
	if ((status = team_decide(TEAM_CHANGE_ROLE, caller, role, target)) != 0) {
		db_rollback(db);
		resp_denied(req, status);
		return;
	}
	e = teams_set_role(db, id, user_id, role, &old, &member);
	if (e == FB_ERR_CONFLICT) {
		db_rollback(db);
		resp_problem(req, 409, "conflict", "a team must keep at least one owner");
		return;
	}
	if (e != FB_OK) {
		resp_rollback(req, e);
		return;
	}
	audit_request(req, "team.role", "team", id, json_pack("{s:s,s:s,s:s}",
	    "user_id", user_id, "from", team_role_name(old), "to", team_role_name(role)));
	if ((e = db_commit(db)) != FB_OK) {
		json_decref(member);
		resp_rollback(req, e);
		return;
	}
	resp_json(req, 200, json_pack("{s:o}", "member", member));
}

/* DELETE /api/teams/{id}/members/{user_id} — removing another member, or
 * leaving when user_id is the caller's. */
void
team_member_delete(struct request *req)
{
	struct db	*db = &req->app->db;
	const char	*id, *user_id = request_path_param(req, "user_id");
	enum team_role	 caller, target, old;
	enum team_action action;
	enum fb_err	 e;
	int		 status;

	if ((id = team_id_param(req)) == NULL)
		return;
	if (!valid_uuid(user_id)) {
		resp_problem(req, 404, "not_found", NULL);
		return;
	}
	action = strcasecmp(user_id, req->user.id) == 0 ? TEAM_LEAVE : TEAM_REMOVE;
	if (!team_write_begin(req, id, action, TEAM_ROLE_NONE, &caller))
		return;
	if ((e = teams_access(db, id, user_id, false, &target)) != FB_OK) {
		resp_rollback(req, e);
		return;
	}
	if ((status = team_decide(action, caller, TEAM_ROLE_NONE, target)) != 0) {
		db_rollback(db);
		resp_denied(req, status);
		return;
	}
	e = teams_remove(db, id, user_id, &old);
	if (e == FB_ERR_CONFLICT) {
		db_rollback(db);
		resp_problem(req, 409, "conflict", "a team must keep at least one owner");
		return;
	}
	if (e != FB_OK) {
		resp_rollback(req, e);
		return;
	}
	audit_request(req, "team.remove", "team", id, json_pack("{s:s,s:s,s:b}",
	    "user_id", user_id, "role", team_role_name(old), "self", action == TEAM_LEAVE));
	if ((e = db_commit(db)) != FB_OK) {
		resp_rollback(req, e);
		return;
	}
	resp_empty(req, 204);
}
