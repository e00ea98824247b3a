/*
 * invitations — admins invite people to create an account (the way in when
 * REGISTRATION=invite). The token goes out by email, is stored as SHA-256,
 * lives 7 days and is accepted once.
 */
#ifndef FB_INVITATIONS_H
#define FB_INVITATIONS_H

#include <jansson.h>

#include "db.h"
#include "err.h"
#include "token.h"

#define INVITATION_TTL (7 * 24 * 3600)

/* Creates an invitation; *invitation is the api.md object. FB_ERR_CONFLICT
 * when an account with that email exists. */
enum fb_err	invitations_create(struct db *db, const char *email, const char *role,
		    const char *invited_by, char token[TOKEN_TEXT_LEN + 1], json_t **invitation);
/* Pending invitations, newest first (a page after cursor `after`). */
enum fb_err	invitations_list(struct db *db, const char *after, int limit, json_t **data,
		    char **next);
/* Revokes a pending invitation. FB_ERR_NOTFOUND when there is none. */
enum fb_err	invitations_revoke(struct db *db, const char *id);
/* Accepts: marks it used and returns its email and role. FB_ERR_NOTFOUND
 * when unknown, used, revoked or expired. */
enum fb_err	invitations_accept(struct db *db, const char *token, char email[255],
		    char role[8]);

#endif
