/*
 * password — hashing, verification and strength of user passwords.
 *
 * New hashes are argon2id (RFC 9106) made by libargon2, stored as PHC
 * strings "$argon2id$v=19$m=M,t=T,p=P$SALT$HASH" (16-byte random salt,
 * 32-byte hash, unpadded standard base64). Imported bcrypt hashes ($2a$, $2b$,
 * $2y$) are verified with libcrypt and reported as needing a rehash, so the
 * caller upgrades them to argon2id at the next successful login.
 *
 * Passwords are NUL-terminated UTF-8 of at most PASSWORD_MAX_CHARS code
 * points; anything longer is refused before any hashing work, so a huge
 * password costs no argon2 time. This module never logs a password and wipes
 * every copy it makes (OPENSSL_cleanse); the caller owns and wipes its own.
 * No function keeps state between calls: all are safe in any process.
 */
#ifndef FB_PASSWORD_H
#define FB_PASSWORD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "err.h"

/* api.md: a password has 8 to 256 characters, counted in code points. */
#define PASSWORD_MIN_CHARS	8
#define PASSWORD_MAX_CHARS	256
/* The longest UTF-8 encoding of PASSWORD_MAX_CHARS code points. */
#define PASSWORD_MAX_BYTES	(4 * PASSWORD_MAX_CHARS)
/* Enough for every reason password_strong_enough() writes. */
#define PASSWORD_REASON_MAX	128
/*
 * Bounds of argon2id costs, for our parameters and for stored hashes alike:
 * the ranges config.c accepts (PASSWORD_ARGON2_*), so a stored hash with
 * absurd costs (m=4 TiB) is refused instead of run.
 */
#define PASSWORD_MAX_MEMORY_KIB		4194304	/* 4 GiB */
#define PASSWORD_MAX_ITERATIONS		100
#define PASSWORD_MAX_PARALLELISM	64

struct password_params {
	uint32_t	 memory_kib;	/* m: at least 8 * parallelism */
	uint32_t	 iterations;	/* t */
	uint32_t	 parallelism;	/* p: lanes (and threads) */
};

/* Copies the argon2id costs of c (PASSWORD_ARGON2_*) into *p. */
void	password_params_from_config(const struct config *c,
	    struct password_params *p);

/*
 * Hashes password with argon2id, the costs of p, a 16-byte salt from
 * RAND_bytes and a 32-byte output, into *out: a malloc'd PHC string that the
 * caller frees. Returns FB_OK; FB_ERR_INVALID when p is out of the bounds
 * above or password is not UTF-8; FB_ERR_TOOBIG when password has more than
 * PASSWORD_MAX_CHARS code points; FB_ERR_NOMEM; FB_ERR_INTERNAL when
 * RAND_bytes or libargon2 fails. On failure *out is NULL.
 */
enum fb_err	password_hash(const struct password_params *p,
		    const char *password, char **out);

enum password_verdict {
	PASSWORD_MATCH,
	PASSWORD_MISMATCH,
};

/*
 * Verifies password against stored, which is either an argon2id PHC string
 * (v=19, costs within the bounds above; checked by argon2id_verify, which
 * compares in constant time) or a bcrypt hash as password_is_bcrypt() accepts
 * (checked with libcrypt's crypt_rn, the result compared with CRYPTO_memcmp).
 *
 * Returns FB_OK and sets *v. *needs_rehash (may be NULL) is then true when
 * stored is bcrypt, or argon2id with other costs than p or another salt or
 * output length than password_hash() makes; it only matters on a match.
 * Returns FB_ERR_INVALID when stored is of no known form (including argon2i,
 * argon2d, a missing or other version, costs out of bounds, bad base64) or
 * password is not UTF-8; FB_ERR_TOOBIG when password has more than
 * PASSWORD_MAX_CHARS code points (nothing is hashed); FB_ERR_NOMEM;
 * FB_ERR_INTERNAL when a library fails otherwise. Whatever the return, *v is
 * PASSWORD_MATCH only on FB_OK with a match: callers may check *v alone.
 */
enum fb_err	password_verify(const struct password_params *p,
		    const char *stored, const char *password,
		    enum password_verdict *v, bool *needs_rehash);

/*
 * Does the work of a password_verify() against an argon2id hash of costs p
 * and throws the answer away: for a login with an unknown email, so that it
 * takes as long as a wrong password for a known one. The hash it verifies
 * against is a fixed one with the costs of p (no hash is computed to make
 * it: argon2id_verify hashes the password in full before it compares).
 * Refuses the same passwords as password_verify(), as fast.
 */
void	password_burn(const struct password_params *p, const char *password);

/*
 * The strength rule of api.md: PASSWORD_MIN_CHARS to PASSWORD_MAX_CHARS code
 * points of UTF-8, and a zxcvbn score of at least 3 (10^8 guesses or more)
 * with the words of email (local part, domain labels) and name (each may be
 * NULL) as known inputs. Returns true when password is acceptable; otherwise
 * false, with a short English reason for the user written into reason
 * (reasonlen bytes, PASSWORD_REASON_MAX is enough; may be NULL) to follow
 * the field name, e.g. "must be at least 8 characters" or "is too easy to
 * guess: it contains your email address".
 */
bool	password_strong_enough(const char *password, const char *email,
	    const char *name, char *reason, size_t reasonlen);

/*
 * True when stored is a bcrypt hash this module verifies: "$2a$", "$2b$" or
 * "$2y$", a two-digit cost from 04 to 31, "$", then exactly 53 characters of
 * bcrypt's base64 alphabet (22 of salt, 31 of hash). "$2x$" (the buggy
 * pre-2011 crypt_blowfish sign-extension form) and "$2$" are not accepted.
 */
bool	password_is_bcrypt(const char *stored);

#endif
