#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cursor.h"
#include "log.h"
#include "teams.h"
#include "validate.h"

#define TS(col) "to_char(" col " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"

/* The Team object's columns, from teams t joined with the caller's team_members m. */
#define TEAM_COLS "t.id, t.name, m.role, " TS("t.created_at") " AS created_at, " \
	TS("t.updated_at") " AS updated_at"
#define INV_COLS "id, team_id, email, role, " TS("expires_at") " AS expires_at, " \
	TS("created_at") " AS created_at"

static const char *const role_names[] = {
	[TEAM_ROLE_NONE] = "none",
	[TEAM_ROLE_VIEWER] = "viewer",
	[TEAM_ROLE_MEMBER] = "member",
	[TEAM_ROLE_ADMIN] = "admin",
	[TEAM_ROLE_OWNER] = "owner",
};

enum team_role
team_role_parse(const char *s)
{
	size_t	i;

	for (i = TEAM_ROLE_VIEWER; s != NULL && i <= TEAM_ROLE_OWNER; i++)
		if (strcmp(s, role_names[i]) == 0)
			return (enum team_role)i;
	return TEAM_ROLE_NONE;
}

const char *
team_role_name(enum team_role r)
{
	return (unsigned)r <= TEAM_ROLE_OWNER ? role_names[r] : "none";
}

static json_t *
team_json(const PGresult *res, int i)
{
	return json_pack("{s:s,s:s,s:s,s:s,s:s}", "id", db_get(res, i, "id"),
	    "name", db_get(res, i, "name"), "role", db_get(res, i, "role"),
	    "created_at", db_get(res, i, "created_at"), "updated_at", db_get(res, i, "updated_at"));
}

static json_t *
member_json(const PGresult *res, int i)
{
	return json_pack("{s:s,s:s,s:s,s:s,s:s}", "user_id", db_get(res, i, "user_id"),
	    "email", db_get(res, i, "email"), "name", db_get(res, i, "name"),
	    "role", db_get(res, i, "role"), "joined_at", db_get(res, i, "joined_at"));
}

static json_t *
invitation_json(const PGresult *res, int i)
{
	return json_pack("{s:s,s:s,s:s,s:s,s:s,s:s}", "id", db_get(res, i, "id"),
	    "team_id", db_get(res, i, "team_id"), "email", db_get(res, i, "email"),
	    "role", db_get(res, i, "role"), "expires_at", db_get(res, i, "expires_at"),
	    "created_at", db_get(res, i, "created_at"));
}

/* The functions that need a lock refuse to run outside a transaction: the
 * lock would end with the statement and protect nothing (a bug: logged). */
static bool
in_txn(struct db *db, const char *fn)
{
	if (!db->in_txn)
		log_event(FBLOG_ERROR, json_pack("{s:s,s:s}", "msg",
		    "teams: called outside a transaction", "function", fn));
	return db->in_txn;
}

/* Locks the team row against other writers of the team until the end of
 * the transaction. FOR NO KEY UPDATE: inserts of members (whose foreign key
 * takes KEY SHARE) are not held up, writers that lock first are. */
static enum fb_err
lock_team(struct db *db, const char *team_id)
{
	const char	*params[1] = { team_id };
	PGresult	*res;
	enum fb_err	 e;
	int		 n;

	e = db_query(db, &res, "SELECT 1 FROM teams WHERE id = $1::uuid FOR NO KEY UPDATE",
	    1, params);
	if (e != FB_OK)
		return e;
	n = PQntuples(res);
	PQclear(res);
	return n == 1 ? FB_OK : FB_ERR_NOTFOUND;
}

/* The role of user_id in team_id, read in a statement of its own (after a
 * lock, a fresh snapshot under READ COMMITTED). */
static enum fb_err
member_role(struct db *db, const char *team_id, const char *user_id, enum team_role *role)
{
	const char	*params[2] = { team_id, user_id };
	PGresult	*res;
	enum fb_err	 e;

	*role = TEAM_ROLE_NONE;
	e = db_query(db, &res, "SELECT role FROM team_members WHERE team_id = $1::uuid"
	    " AND user_id = $2::uuid", 2, params);
	if (e != FB_OK)
		return e;
	if (PQntuples(res) == 1)
		*role = team_role_parse(db_get(res, 0, "role"));
	PQclear(res);
	return *role != TEAM_ROLE_NONE ? FB_OK : FB_ERR_NOTFOUND;
}

/* The Team object of team_id as seen by member user_id. */
static enum fb_err
team_for(struct db *db, const char *team_id, const char *user_id, json_t **team)
{
	const char	*params[2] = { team_id, user_id };
	PGresult	*res;
	enum fb_err	 e;

	*team = NULL;
	e = db_query(db, &res, "SELECT " TEAM_COLS " FROM teams t JOIN team_members m"
	    " ON m.team_id = t.id AND m.user_id = $2::uuid WHERE t.id = $1::uuid", 2, params);
	if (e != FB_OK)
		return e;
	if (PQntuples(res) == 1)
		*team = team_json(res, 0);
	e = PQntuples(res) != 1 ? FB_ERR_NOTFOUND : *team == NULL ? FB_ERR_NOMEM : FB_OK;
	PQclear(res);
	return e;
}

enum fb_err
teams_create(struct db *db, const char *user_id, const char *name, json_t **team)
{
	const char	*params[2] = { name, user_id };
	PGresult	*res;
	enum fb_err	 e;

	*team = NULL;
	/* One statement: the team never exists without its owner. */
	e = db_query(db, &res, "WITH t AS (INSERT INTO teams (name, created_by)"
	    " VALUES ($1, $2::uuid) RETURNING *),"
	    " m AS (INSERT INTO team_members (team_id, user_id, role)"
	    "  SELECT id, $2::uuid, 'owner' FROM t RETURNING role)"
	    " SELECT " TEAM_COLS " FROM t, m", 2, params);
	if (e != FB_OK)
		return e;
	if (PQntuples(res) == 1)
		*team = team_json(res, 0);
	e = PQntuples(res) != 1 ? FB_ERR_INTERNAL : *team == NULL ? FB_ERR_NOMEM : FB_OK;
	PQclear(res);
	return e;
}

enum fb_err
teams_list(struct db *db, const char *user_id, const char *after, int limit, json_t **data,
    char **next)
{
	char		 ts[CURSOR_PART_MAX + 1], id[CURSOR_PART_MAX + 1], lim[16];
	const char	*params[4];
	PGresult	*res;
	enum fb_err	 e;
	int		 i, n;

	*data = NULL;
	*next = NULL;
	if (after != NULL && (cursor_decode(after, ts, id) != FB_OK || !valid_uuid(id)))
		return FB_ERR_INVALID;
	snprintf(lim, sizeof(lim), "%d", limit + 1);
	params[0] = user_id;
	params[1] = after != NULL ? ts : NULL;
	params[2] = after != NULL ? id : NULL;
	params[3] = lim;
	e = db_query(db, &res, "SELECT t.id, t.name, m.role, " TS("t.created_at") " AS created_at,"
	    " to_char(t.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"') AS k"
	    " FROM team_members m JOIN teams t ON t.id = m.team_id WHERE m.user_id = $1::uuid"
	    " AND ($2::timestamptz IS NULL OR (t.created_at, t.id) < ($2::timestamptz, $3::uuid))"
	    " ORDER BY t.created_at DESC, t.id DESC LIMIT $4::int", 4, params);
	if (e != FB_OK)
		return e;
	if ((*data = json_array()) == NULL) {
		PQclear(res);
		return FB_ERR_NOMEM;
	}
	n = PQntuples(res);
	for (i = 0; i < n && i < limit; i++)
		json_array_append_new(*data, json_pack("{s:s,s:s,s:s,s:s}",
		    "id", db_get(res, i, "id"), "name", db_get(res, i, "name"),
		    "role", db_get(res, i, "role"), "created_at", db_get(res, i, "created_at")));
	if (n > limit)
		*next = cursor_encode(db_get(res, limit - 1, "k"), db_get(res, limit - 1, "id"));
	PQclear(res);
	return FB_OK;
}

enum fb_err
teams_access(struct db *db, const char *team_id, const char *user_id, bool lock,
    enum team_role *role)
{
	enum fb_err	e;

	*role = TEAM_ROLE_NONE;
	if (!valid_uuid(team_id) || !valid_uuid(user_id))
		return FB_ERR_NOTFOUND;
	if (lock) {
		if (!in_txn(db, "teams_access"))
			return FB_ERR_INTERNAL;
		if ((e = lock_team(db, team_id)) != FB_OK)
			return e;
	}
	return member_role(db, team_id, user_id, role);
}

enum fb_err
teams_get(struct db *db, const char *team_id, const char *user_id, json_t **team,
    json_t **members)
{
	const char	*params[1] = { team_id };
	PGresult	*res;
	enum fb_err	 e;
	int		 i;

	*members = NULL;
	if (!valid_uuid(team_id) || !valid_uuid(user_id)) {
		*team = NULL;
		return FB_ERR_NOTFOUND;
	}
	if ((e = team_for(db, team_id, user_id, team)) != FB_OK)
		return e;
	e = db_query(db, &res, "SELECT m.user_id, u.email, u.name, m.role, "
	    TS("m.joined_at") " AS joined_at FROM team_members m JOIN users u ON u.id = m.user_id"
	    " WHERE m.team_id = $1::uuid ORDER BY m.joined_at, m.user_id", 1, params);
	if (e != FB_OK)
		goto fail;
	if ((*members = json_array()) == NULL) {
		PQclear(res);
		e = FB_ERR_NOMEM;
		goto fail;
	}
	for (i = 0; i < PQntuples(res); i++)
		json_array_append_new(*members, member_json(res, i));
	PQclear(res);
	return FB_OK;
fail:
	json_decref(*team);
	*team = NULL;
	return e;
}

enum fb_err
teams_rename(struct db *db, const char *team_id, const char *user_id, const char *name,
    json_t **team, char *old_name)
{
	const char	*params[3] = { team_id, user_id, name };
	PGresult	*res;
	enum fb_err	 e;

	*team = NULL;
	if (!valid_uuid(team_id) || !valid_uuid(user_id))
		return FB_ERR_NOTFOUND;
	/* The CTE reads the statement's snapshot: the name before the update. */
	e = db_query(db, &res, "WITH old AS (SELECT name FROM teams WHERE id = $1::uuid)"
	    " UPDATE teams t SET name = $3, updated_at = now() FROM team_members m"
	    " WHERE t.id = $1::uuid AND m.team_id = t.id AND m.user_id = $2::uuid"
	    " RETURNING " TEAM_COLS ", (SELECT name FROM old) AS old_name", 3, params);
	if (e != FB_OK)
		return e;
	if (PQntuples(res) != 1) {
		PQclear(res);
		return FB_ERR_NOTFOUND;
	}
	if (old_name != NULL)
		snprintf(old_name, TEAM_NAME_BYTES, "%s", db_get(res, 0, "old_name"));
	*team = team_json(res, 0);
	PQclear(res);
	return *team != NULL ? FB_OK : FB_ERR_NOMEM;
}

enum fb_err
teams_delete(struct db *db, const char *team_id, char *name)
{
	const char	*params[1] = { team_id };
	PGresult	*res;
	enum fb_err	 e;

	if (!valid_uuid(team_id))
		return FB_ERR_NOTFOUND;
	e = db_query(db, &res, "DELETE FROM teams WHERE id = $1::uuid RETURNING name", 1, params);
	if (e != FB_OK)
		return e;
	if (PQntuples(res) != 1) {
		PQclear(res);
		return FB_ERR_NOTFOUND;
	}
	if (name != NULL)
		snprintf(name, TEAM_NAME_BYTES, "%s", db_get(res, 0, "name"));
	PQclear(res);
	return FB_OK;
}

enum fb_err
teams_invite(struct db *db, const char *team_id, const char *email, enum team_role role,
    const char *invited_by, char token[TOKEN_TEXT_LEN + 1], json_t **invitation,
    char *team_name)
{
	unsigned char	 hash[32];
	char		 hex[TOKEN_HEX_LEN + 1], ttl[16];
	const char	*params[6] = { team_id, email, team_role_name(role), hex, invited_by, ttl };
	PGresult	*res;
	enum fb_err	 e;
	int		 n;

	*invitation = NULL;
	if (role == TEAM_ROLE_NONE)
		return FB_ERR_INVALID;
	if (!valid_uuid(team_id))
		return FB_ERR_NOTFOUND;
	if ((e = token_new(token, hash)) != FB_OK)
		return e;
	token_hex(hash, hex);
	snprintf(ttl, sizeof(ttl), "%d", TEAM_INVITATION_TTL);
	/* Nobody is invited to a team they are already in. */
	e = db_query(db, &res, "INSERT INTO team_invitations (team_id, email, role, token_hash,"
	    " invited_by, expires_at) SELECT t.id, $2, $3, $4::bytea, $5::uuid,"
	    " now() + make_interval(secs => $6::int) FROM teams t WHERE t.id = $1::uuid"
	    " AND NOT EXISTS (SELECT 1 FROM team_members m JOIN users u ON u.id = m.user_id"
	    "  WHERE m.team_id = t.id AND lower(u.email) = lower($2))"
	    " RETURNING " INV_COLS ", (SELECT name FROM teams WHERE id = $1::uuid) AS team_name",
	    6, params);
	if (e != FB_OK)
		return e;
	if (PQntuples(res) != 1) {
		PQclear(res);
		/* No row: the team is gone, or the address is a member's. */
		e = db_query(db, &res, "SELECT 1 FROM teams WHERE id = $1::uuid", 1, params);
		if (e != FB_OK)
			return e;
		n = PQntuples(res);
		PQclear(res);
		return n == 1 ? FB_ERR_CONFLICT : FB_ERR_NOTFOUND;
	}
	snprintf(team_name, TEAM_NAME_BYTES, "%s", db_get(res, 0, "team_name"));
	*invitation = invitation_json(res, 0);
	PQclear(res);
	return *invitation != NULL ? FB_OK : FB_ERR_NOMEM;
}

enum fb_err
teams_accept(struct db *db, const char *token, const char *user_id, const char *email,
    struct team_acceptance *out, json_t **team)
{
	unsigned char	 hash[32];
	char		 hex[TOKEN_HEX_LEN + 1];
	const char	*params[3] = { hex, email, NULL };
	PGresult	*res;
	enum fb_err	 e;
	long		 n;
	bool		 is_mine;

	memset(out, 0, sizeof(*out));
	*team = NULL;
	if (!in_txn(db, "teams_accept"))
		return FB_ERR_INTERNAL;
	if (token_hash(token, hash) != FB_OK)
		return FB_ERR_NOTFOUND;
	token_hex(hash, hex);
	/* FOR UPDATE: a concurrent accept waits here, then finds it used. */
	e = db_query(db, &res, "SELECT id, team_id, role, token_hash::text AS hash,"
	    " lower(email) = lower($2) AS is_mine FROM team_invitations"
	    " WHERE token_hash = $1::bytea AND accepted_at IS NULL AND expires_at > now()"
	    " FOR UPDATE", 2, params);
	if (e != FB_OK)
		return e;
	if (PQntuples(res) != 1 || !token_matches(db_get(res, 0, "hash"), hash)) {
		PQclear(res);
		return FB_ERR_NOTFOUND;
	}
	snprintf(out->invitation_id, sizeof(out->invitation_id), "%s", db_get(res, 0, "id"));
	snprintf(out->team_id, sizeof(out->team_id), "%s", db_get(res, 0, "team_id"));
	out->role = team_role_parse(db_get(res, 0, "role"));
	is_mine = strcmp(db_get(res, 0, "is_mine"), "t") == 0;
	PQclear(res);
	if (!is_mine) {
		out->is_other_address = true;
		return FB_ERR_NOTFOUND;
	}

	params[0] = out->team_id;
	params[1] = user_id;
	params[2] = team_role_name(out->role);
	e = db_exec(db, &n, "INSERT INTO team_members (team_id, user_id, role)"
	    " VALUES ($1::uuid, $2::uuid, $3) ON CONFLICT (team_id, user_id) DO NOTHING",
	    3, params);
	if (e != FB_OK)
		return e;
	if (n != 1)
		return FB_ERR_CONFLICT;
	params[0] = out->invitation_id;
	e = db_exec(db, &n, "UPDATE team_invitations SET accepted_at = now()"
	    " WHERE id = $1::uuid", 1, params);
	if (e != FB_OK)
		return e;
	return team_for(db, out->team_id, user_id, team);
}

enum fb_err
teams_set_role(struct db *db, const char *team_id, const char *user_id, enum team_role role,
    enum team_role *old, json_t **member)
{
	const char	*params[3] = { team_id, user_id, team_role_name(role) };
	PGresult	*res;
	enum fb_err	 e;

	*old = TEAM_ROLE_NONE;
	*member = NULL;
	if (role == TEAM_ROLE_NONE)
		return FB_ERR_INVALID;
	if (!valid_uuid(team_id) || !valid_uuid(user_id))
		return FB_ERR_NOTFOUND;
	if (!in_txn(db, "teams_set_role"))
		return FB_ERR_INTERNAL;
	if ((e = lock_team(db, team_id)) != FB_OK ||
	    (e = member_role(db, team_id, user_id, old)) != FB_OK)
		return e;
	/* The last owner keeps the role: with the team row locked, the other
	 * owner counted here cannot be demoted or removed before we commit. */
	e = db_query(db, &res, "WITH c AS (UPDATE team_members SET role = $3"
	    "  WHERE team_id = $1::uuid AND user_id = $2::uuid"
	    "  AND ($3 = 'owner' OR role <> 'owner' OR EXISTS (SELECT 1 FROM team_members o"
	    "   WHERE o.team_id = $1::uuid AND o.role = 'owner' AND o.user_id <> $2::uuid))"
	    "  RETURNING user_id, role, joined_at)"
	    " SELECT c.user_id, u.email, u.name, c.role, " TS("c.joined_at") " AS joined_at"
	    " FROM c JOIN users u ON u.id = c.user_id", 3, params);
	if (e != FB_OK)
		return e;
	if (PQntuples(res) != 1) {
		PQclear(res);
		return FB_ERR_CONFLICT;
	}
	*member = member_json(res, 0);
	PQclear(res);
	return *member != NULL ? FB_OK : FB_ERR_NOMEM;
}

enum fb_err
teams_remove(struct db *db, const char *team_id, const char *user_id, enum team_role *old)
{
	const char	*params[2] = { team_id, user_id };
	enum fb_err	 e;
	long		 n;

	*old = TEAM_ROLE_NONE;
	if (!valid_uuid(team_id) || !valid_uuid(user_id))
		return FB_ERR_NOTFOUND;
	if (!in_txn(db, "teams_remove"))
		return FB_ERR_INTERNAL;
	if ((e = lock_team(db, team_id)) != FB_OK ||
	    (e = member_role(db, team_id, user_id, old)) != FB_OK)
		return e;
	/* As in teams_set_role: never the last owner. */
	e = db_exec(db, &n, "DELETE FROM team_members WHERE team_id = $1::uuid"
	    " AND user_id = $2::uuid AND (role <> 'owner' OR EXISTS (SELECT 1 FROM team_members o"
	    "  WHERE o.team_id = $1::uuid AND o.role = 'owner' AND o.user_id <> $2::uuid))",
	    2, params);
	if (e != FB_OK)
		return e;
	return n == 1 ? FB_OK : FB_ERR_CONFLICT;
}

enum fb_err
teams_release_user(struct db *db, const char *user_id, long *blocked)
{
	const char	*params[1] = { user_id };
	PGresult	*res;
	enum fb_err	 e;

	*blocked = 0;
	if ((e = db_query(db, &res, "SELECT count(*) AS n FROM team_members m"
	    " WHERE m.user_id = $1::uuid AND m.role = 'owner'"
	    " AND NOT EXISTS (SELECT 1 FROM team_members o WHERE o.team_id = m.team_id"
	    "  AND o.role = 'owner' AND o.user_id <> m.user_id)"
	    " AND EXISTS (SELECT 1 FROM team_members x WHERE x.team_id = m.team_id"
	    "  AND x.user_id <> m.user_id)", 1, params)) != FB_OK)
		return e;
	*blocked = strtol(db_get(res, 0, "n"), NULL, 10);
	PQclear(res);
	if (*blocked > 0)
		return FB_OK;
	return db_exec(db, NULL, "DELETE FROM teams t WHERE EXISTS (SELECT 1 FROM team_members m"
	    " WHERE m.team_id = t.id AND m.user_id = $1::uuid) AND NOT EXISTS (SELECT 1"
	    " FROM team_members x WHERE x.team_id = t.id AND x.user_id <> $1::uuid)", 1, params);
}
