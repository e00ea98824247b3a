/*
 * sessions — sign-in sessions and their rotating refresh tokens.
 *
 * A session is a row per sign-in; every authenticated request checks it is
 * live (one indexed look-up joined with its user), so logging out, changing
 * the password or disabling the account takes effect at once. Refresh tokens
 * are 256-bit random values stored as SHA-256 and rotated on every use. A
 * rotated token presented again within the grace period (concurrent tabs)
 * gets a fresh pair; later it is reuse, and the whole session is revoked.
 * Concurrent refreshes of one token are serialised by a row lock, so they
 * never look like reuse.
 */
#ifndef FB_SESSIONS_H
#define FB_SESSIONS_H

#include <stdbool.h>

#include <jansson.h>

#include "db.h"
#include "err.h"
#include "token.h"
#include "users.h"

#define REFRESH_GRACE_SECONDS 10

/* Creates a session living max_age seconds; amr is a JSON array text
 * ("[\"pwd\"]"). */
enum fb_err	sessions_create(struct db *db, const char *user_id, const char *ip,
		    const char *user_agent, const char *amr, int max_age, char sid[37]);
/* Loads the user of a live session (sid of user_id, not revoked or expired,
 * user not disabled) and its amr (JSON array text into amr, amrlen bytes);
 * writes last_used_at at most once a minute. FB_ERR_NOTFOUND when not live. */
enum fb_err	sessions_auth(struct db *db, const char *sid, const char *user_id,
		    struct user *u, char *amr, size_t amrlen);
/* A new refresh token for a session, living ttl seconds but never past the
 * session's end. */
enum fb_err	refresh_issue(struct db *db, const char *sid, int ttl,
		    char token[TOKEN_TEXT_LEN + 1]);

enum refresh_outcome {
	REFRESH_ROTATED,	/* the token was current: here is its successor */
	REFRESH_GRACE,		/* rotated moments ago: a fresh pair all the same */
	REFRESH_REUSED,		/* rotated long ago: the session is now revoked */
	REFRESH_INVALID,	/* unknown, expired, or its session or user is gone */
};

/* Rotates token. On ROTATED and GRACE, new_token, sid, amr and u are set. On
 * REUSED, sid and u (for the audit entry) are set. */
enum fb_err	refresh_rotate(struct db *db, const char *token, int ttl,
		    char new_token[TOKEN_TEXT_LEN + 1], char sid[37], char *amr,
		    size_t amrlen, struct user *u, enum refresh_outcome *outcome);
/* Revokes a session of user_id. FB_ERR_NOTFOUND when it is not theirs or
 * not live. */
enum fb_err	sessions_revoke(struct db *db, const char *sid, const char *user_id);
/* Revokes every live session of user_id but except (may be NULL). */
enum fb_err	sessions_revoke_all(struct db *db, const char *user_id, const char *except,
		    long *count);
/* The user's live sessions, newest first, current marked. */
enum fb_err	sessions_list(struct db *db, const char *user_id, const char *current,
		    json_t **data);

#endif
