/*
 * totp — time-based one-time passwords (RFC 6238) for second-factor sign-in,
 * on liboath: HMAC-SHA-1, 6 digits, 30-second steps counted from the Unix
 * epoch, the parameters every authenticator app assumes. The secret is raw
 * bytes owned by the caller (stored encrypted, wiped after use); this module
 * keeps no state but liboath's one-time initialisation. Replay protection is
 * the caller's: it stores the step of the last accepted code and passes it
 * back, and totp_verify() refuses that step and every earlier one.
 */
#ifndef FB_TOTP_H
#define FB_TOTP_H

#include <stddef.h>
#include <time.h>

#include "err.h"

#define TOTP_SECRET_BYTES	20	/* 160 bits (RFC 4226 §4 R6 recommends it) */
#define TOTP_BASE32_LEN		32	/* base32 of 20 bytes, no padding */
#define TOTP_DIGITS		6
#define TOTP_PERIOD		30	/* seconds per step (RFC 6238 §5.2) */
#define TOTP_WINDOW		1	/* steps accepted either side of now */
#define TOTP_ISSUER_MAX		128	/* bytes of issuer in a URI, before encoding */
#define TOTP_ACCOUNT_MAX	320	/* bytes of account: an email's maximum (RFC 3696 §3 + errata) */
#define TOTP_BASE32_MAX		128	/* characters of a secret's base32 in a URI (640 bits) */

/*
 * A new random secret (raw bytes, from RAND_bytes) and its base32 text
 * (RFC 4648 §6, upper case, no padding: 32 characters and the NUL).
 * FB_OK; FB_ERR_INTERNAL when the random source or encoder failed (both
 * outputs are then wiped and must not be used); FB_ERR_INVALID on NULL.
 */
enum fb_err	totp_secret_new(unsigned char secret[TOTP_SECRET_BYTES],
		    char base32[TOTP_BASE32_LEN + 1]);

/*
 * Checks code against secret[0..len) at time now. Accepted are the steps
 * now-1, now and now+1 (RFC 6238 §5.2: one step of clock drift either way),
 * except any step <= last_step (RFC 6238 §5.2: a code is accepted once; pass
 * -1 when no code was ever accepted). The three candidates are all computed
 * and compared with CRYPTO_memcmp, so the time taken does not depend on
 * which (if any) matched. Should two candidate steps share the code, the
 * later one is taken.
 * FB_OK on a match, *step (may be NULL) set to the matched step for the
 * caller to store as the new last_step;
 * FB_ERR_INVALID when code is not exactly 6 ASCII digits (or NULL), secret is
 * NULL or empty, or now is before the epoch;
 * FB_ERR_NOTFOUND when the code is wrong or replayed;
 * FB_ERR_INTERNAL when liboath failed.
 */
enum fb_err	totp_verify(const unsigned char *secret, size_t len,
		    const char *code, time_t now, long long last_step,
		    long long *step);

/*
 * The code for a step (floor(unix time / 30)) into code[7] (6 digits and
 * the NUL). FB_OK; FB_ERR_INVALID on a NULL/empty secret or a negative step;
 * FB_ERR_INTERNAL when liboath failed.
 */
enum fb_err	totp_code(const unsigned char *secret, size_t len,
		    long long step, char code[TOTP_DIGITS + 1]);

/*
 * The otpauth URI of Google's Key Uri Format for an authenticator app:
 * otpauth://totp/<issuer>:<account>?secret=<base32>&issuer=<issuer>
 * &algorithm=SHA1&digits=6&period=30, with issuer and account
 * percent-encoded (RFC 3986 §2.1, upper-case hex): every byte but the
 * unreserved characters (§2.3) and '@' (a pchar, §3.3, kept so that an email
 * reads as one) is encoded, so ' ' is %20, '+' %2B, ':' %3A, '&' %26.
 * *out is malloc'd, the caller frees it.
 * FB_OK; FB_ERR_INVALID when an argument is NULL or empty or base32 is not
 * RFC 4648 §6 base32 without padding; FB_ERR_TOOBIG when issuer is over
 * TOTP_ISSUER_MAX, account over TOTP_ACCOUNT_MAX or base32 over
 * TOTP_BASE32_MAX bytes; FB_ERR_NOMEM.
 */
enum fb_err	totp_uri(const char *issuer, const char *account,
		    const char *base32, char **out);

#endif
