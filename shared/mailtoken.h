/*
 * mailtoken — single-use tokens sent by email (address verification,
 * password reset), stored as SHA-256 with a purpose and an expiry. Consuming
 * one is a single UPDATE ... WHERE unused AND unexpired, so it works exactly
 * once even when presented twice at the same moment.
 */
#ifndef FB_MAILTOKEN_H
#define FB_MAILTOKEN_H

#include "db.h"
#include "err.h"
#include "token.h"

#define MAILTOKEN_VERIFY	"verify_email"
#define MAILTOKEN_RESET		"reset_password"

/* A new token for user_id valid ttl seconds; earlier unused tokens of the
 * same purpose stop working. */
enum fb_err	mailtoken_create(struct db *db, const char *user_id, const char *purpose,
		    int ttl, char token[TOKEN_TEXT_LEN + 1]);
/* Uses token up. FB_ERR_NOTFOUND when it is unknown, used, expired or of
 * another purpose; else user_id gets its user. */
enum fb_err	mailtoken_consume(struct db *db, const char *purpose, const char *token,
		    char user_id[37]);

#endif
