/*
 * teams — teams, their members and invitations to join them (tables of
 * schema/006_teams.sql). Each member has one role: owner > admin > member >
 * viewer. Who may do what is decided by the caller (fcgi-app/teams.c holds
 * the matrix); this module answers "what is this user's role here" and does
 * the writes, keeping one invariant itself: a team always has an owner. The
 * functions that could take the last owner away (teams_set_role,
 * teams_remove) lock the team row first and must run inside a transaction,
 * so two concurrent demotions cannot both see "another owner exists".
 *
 * Invitation tokens follow shared/token.h: shown once (in the email), stored
 * as SHA-256, accepted once within TEAM_INVITATION_TTL, and only by the
 * account whose email is the invited address (compared without case).
 *
 * JSON objects returned through json_t ** are new references the caller owns
 * (NULL on any failure). Timestamps are RFC 3339 UTC text.
 *   Team:       {"id","name","role","created_at","updated_at"} (role: the caller's)
 *   list item:  {"id","name","role","created_at"}
 *   Member:     {"user_id","email","name","role","joined_at"}
 *   Invitation: {"id","team_id","email","role","expires_at","created_at"}
 */
#ifndef FB_TEAMS_H
#define FB_TEAMS_H

#include <stdbool.h>

#include <jansson.h>

#include "db.h"
#include "err.h"
#include "token.h"

#define TEAM_NAME_MAX		100			/* characters */
#define TEAM_NAME_BYTES		(4 * TEAM_NAME_MAX + 1)	/* a name as UTF-8, with its NUL */
#define TEAM_INVITATION_TTL	(7 * 24 * 3600)		/* seconds */

/* Ordered: a larger value is a higher role. */
enum team_role {
	TEAM_ROLE_NONE = 0,	/* not a member (or not a role name) */
	TEAM_ROLE_VIEWER,
	TEAM_ROLE_MEMBER,
	TEAM_ROLE_ADMIN,
	TEAM_ROLE_OWNER,
};

/* The role named s ("owner", ...); TEAM_ROLE_NONE for NULL or anything else. */
enum team_role	 team_role_parse(const char *s);
/* The name of r; "none" for TEAM_ROLE_NONE. */
const char	*team_role_name(enum team_role r);

/* Creates a team named name with user_id as its owner (one statement).
 * *team is the Team object. */
enum fb_err	 teams_create(struct db *db, const char *user_id, const char *name,
		    json_t **team);
/* The teams user_id belongs to, newest first, a page after cursor `after`
 * (or NULL). *data a JSON array of list items, *next a cursor or NULL.
 * FB_ERR_INVALID for a malformed cursor. */
enum fb_err	 teams_list(struct db *db, const char *user_id, const char *after, int limit,
		    json_t **data, char **next);
/* user_id's role in team_id. FB_ERR_NOTFOUND when there is no such team or
 * user_id is not a member (the two are not told apart). With lock, the team
 * row is locked FOR NO KEY UPDATE first, in its own statement, so the role
 * read after it is current; lock requires an open transaction. */
enum fb_err	 teams_access(struct db *db, const char *team_id, const char *user_id,
		    bool lock, enum team_role *role);
/* The Team object (as seen by user_id) and its members, oldest first.
 * FB_ERR_NOTFOUND as teams_access. XXX: all members in one answer (api.md
 * gives the members no pages); fine for teams of hundreds, not of 100k. */
enum fb_err	 teams_get(struct db *db, const char *team_id, const char *user_id,
		    json_t **team, json_t **members);
/* Renames; *team as seen by user_id; old_name (TEAM_NAME_BYTES, may be NULL)
 * gets the previous name. FB_ERR_NOTFOUND as teams_access. */
enum fb_err	 teams_rename(struct db *db, const char *team_id, const char *user_id,
		    const char *name, json_t **team, char *old_name);
/* Deletes the team; its memberships and invitations go with it (ON DELETE
 * CASCADE). name (TEAM_NAME_BYTES, may be NULL) gets its name.
 * FB_ERR_NOTFOUND when there is no such team. */
enum fb_err	 teams_delete(struct db *db, const char *team_id, char *name);
/* Before an account goes: *blocked gets the number of teams the user alone
 * owns that have other members (they must hand ownership over first), and
 * teams where the user is the only member are deleted (in the caller's
 * transaction). */
enum fb_err	 teams_release_user(struct db *db, const char *user_id, long *blocked);
/* Invites email to team_id with role: a new token (token, shown once),
 * valid TEAM_INVITATION_TTL. *invitation is the Invitation object; team_name
 * (TEAM_NAME_BYTES) gets the team's name for the email. FB_ERR_CONFLICT when
 * an account with that email is already a member; FB_ERR_NOTFOUND when
 * there is no such team; FB_ERR_INVALID for TEAM_ROLE_NONE. */
enum fb_err	 teams_invite(struct db *db, const char *team_id, const char *email,
		    enum team_role role, const char *invited_by, char token[TOKEN_TEXT_LEN + 1],
		    json_t **invitation, char *team_name);

struct team_acceptance {
	char		 team_id[37];
	char		 invitation_id[37];
	enum team_role	 role;			/* the invited role */
	bool		 is_other_address;	/* NOTFOUND because it is someone else's */
};

/* Accepts the invitation of token for user_id, whose address is email: the
 * user becomes a member with the invited role and the invitation is used up.
 * Must run in a transaction (the invitation row is locked, so a token works
 * once even under concurrent accepts). *team is the Team object for user_id.
 * FB_ERR_NOTFOUND when the token is unknown, used or expired, or (with
 * out->is_other_address set) when it was sent to another address — the
 * invitation is then left untouched. FB_ERR_CONFLICT when user_id is
 * already a member. */
enum fb_err	 teams_accept(struct db *db, const char *token, const char *user_id,
		    const char *email, struct team_acceptance *out, json_t **team);
/* Sets user_id's role in team_id; *old gets the previous role and *member
 * the Member object. Must run in a transaction; locks the team row.
 * FB_ERR_NOTFOUND when user_id is not a member; FB_ERR_CONFLICT when that
 * would leave the team without an owner; FB_ERR_INVALID for TEAM_ROLE_NONE. */
enum fb_err	 teams_set_role(struct db *db, const char *team_id, const char *user_id,
		    enum team_role role, enum team_role *old, json_t **member);
/* Removes user_id from team_id; *old gets the role they had. Must run in a
 * transaction; locks the team row. FB_ERR_NOTFOUND when not a member;
 * FB_ERR_CONFLICT when user_id is the last owner. */
enum fb_err	 teams_remove(struct db *db, const char *team_id, const char *user_id,
		    enum team_role *old);

#endif
