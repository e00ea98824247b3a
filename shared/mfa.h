/*
 * mfa — the database side of two-factor authentication: the sealed TOTP
 * secret (pending until confirmed), the last accepted step (a code works
 * once), backup codes (single use, exactly once under concurrency), and the
 * sign-in challenges whose mfa_token stands between the password and the
 * tokens.
 */
#ifndef FB_MFA_H
#define FB_MFA_H

#include <stdbool.h>
#include <time.h>

#include <jansson.h>

#include "crypto.h"
#include "db.h"
#include "err.h"
#include "token.h"
#include "totp.h"

#define MFA_BACKUP_CODES	10
#define MFA_BACKUP_CODE_LEN	19	/* xxxx-xxxx-xxxx-xxxx: 16 base32 characters, 80 bits */
#define MFA_CHALLENGE_TTL	300	/* api.md: mfa_expires_in */
#define MFA_CHALLENGE_FAILURES	5	/* wrong codes before the mfa_token dies */

/* Stores a new pending secret for user_id (sealed). */
enum fb_err	mfa_set_pending(struct db *db, const struct crypto_keyring *keys,
		    const char *user_id, const unsigned char secret[TOTP_SECRET_BYTES]);
/*
 * Checks code against the user's secret (pending: the unconfirmed one) and,
 * on a match, records its step so it cannot be used again — atomically, so
 * two requests with one code cannot both pass. FB_ERR_NOTFOUND for a wrong,
 * replayed or missing code/secret; FB_ERR_INVALID for a malformed code.
 */
enum fb_err	mfa_check_code(struct db *db, const struct crypto_keyring *keys,
		    const char *user_id, bool pending, const char *code, time_t now);
/* Turns 2FA on: the pending secret becomes the secret, users.mfa_enabled. */
enum fb_err	mfa_enable(struct db *db, const struct crypto_keyring *keys, const char *user_id);
/* Turns 2FA off: secret, backup codes and challenges go. */
enum fb_err	mfa_disable(struct db *db, const char *user_id);
/* Replaces the backup codes with MFA_BACKUP_CODES new ones, returned once
 * as a JSON array of strings in *codes. */
enum fb_err	mfa_backup_codes_new(struct db *db, const char *user_id, json_t **codes);
/* Uses a backup code up: exactly one request wins. FB_ERR_NOTFOUND otherwise. */
enum fb_err	mfa_backup_code_use(struct db *db, const char *user_id, const char *code);

/* A challenge after a correct password. */
enum fb_err	mfa_challenge_new(struct db *db, const char *user_id, const char *ip,
		    const char *user_agent, char token[TOKEN_TEXT_LEN + 1]);
/* Locks a live challenge (in the caller's transaction): *user_id gets its
 * user. FB_ERR_NOTFOUND when unknown, used, expired or dead of failures. */
enum fb_err	mfa_challenge_take(struct db *db, const char *token, char user_id[37],
		    char challenge_id[37]);
/* Counts a wrong code on a challenge. */
enum fb_err	mfa_challenge_fail(struct db *db, const char *challenge_id);
/* Marks a challenge used. */
enum fb_err	mfa_challenge_done(struct db *db, const char *challenge_id);

#endif
