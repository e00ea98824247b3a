/*
 * jwt — signed access tokens (JWS compact serialization, RFC 7515; JWT,
 * RFC 7519) with HS256 (RFC 7518 §3.2) or EdDSA over Ed25519 (RFC 8037), on
 * OpenSSL 3 EVP only.
 *
 * The algorithm is a property of the server's key, never of the token: a
 * token is verified only when its header names exactly the algorithm of the
 * key ring (RFC 8725 §3.1), so "none" and key-confusion forgeries (an HS256
 * token whose HMAC key is the Ed25519 public key) are refused before any
 * signature is computed.
 *
 * Ownership: a struct jwt_key or jwt_keyring owns its secret bytes and its
 * EVP_PKEY; jwt_key_free()/jwt_keyring_free() wipe (OPENSSL_cleanse) and
 * release them and are safe on a zeroed or already freed struct. Strings and
 * JSON handed out (*out of jwt_sign, *claims of jwt_verify, the JWKS) belong
 * to the caller. Nothing here logs a token, a secret or a claim value: why a
 * token was refused is logged at debug level only, and every refusal is the
 * same FB_ERR_INVALID.
 */
#ifndef FB_JWT_H
#define FB_JWT_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "config.h"
#include "err.h"

/* Largest token jwt_verify() looks at, and jwt_sign() produces: 8 KiB. */
#define JWT_MAX_TOKEN		8192
/* HS256 keys at least as long as the hash output (RFC 7518 §3.2). */
#define JWT_HS256_MIN_KEY	32
/* Room for a kid, with the NUL. */
#define JWT_KID_SIZE		64

enum jwt_alg {
	JWT_HS256,		/* HMAC-SHA-256 with a shared secret */
	JWT_EDDSA,		/* Ed25519 signatures (RFC 8037 §3.1) */
};

/* One signing or verifying key. */
struct jwt_key {
	enum jwt_alg	 alg;
	char		 kid[JWT_KID_SIZE];	/* "kid" header value, NUL-terminated */
	unsigned char	*secret;		/* HS256: the key bytes (or NULL) */
	size_t		 secret_len;
	EVP_MAC_CTX	*hmac;			/* HS256: HMAC-SHA-256 keyed once
						 * with secret, reset per use */
	EVP_PKEY	*pkey;			/* EdDSA: Ed25519 key, private or
						 * public only (or NULL) */
};

struct jwt_keyring {
	struct jwt_key	 current;		/* signs and verifies */
	struct jwt_key	 previous;		/* verifies only (when has_previous) */
	bool		 has_previous;
};

/* What jwt_verify() requires of the claims. */
struct jwt_expect {
	const char	*issuer;		/* "iss" must equal it (required) */
	const char	*audience;		/* "aud" must be or contain it (required) */
	long		 leeway_seconds;	/* clock skew allowed; negative is 0 */
	time_t		 now;			/* 0: time(NULL) */
};

/*
 * HS256 key of len bytes (copied; at least JWT_HS256_MIN_KEY) with the
 * derived kid: base64url of the first 9 bytes of SHA-256("hs256:" || secret).
 * FB_ERR_INVALID when too short, FB_ERR_NOMEM. On failure *out is zeroed; on
 * success the caller jwt_key_free()s it.
 */
enum fb_err	jwt_key_hs256(const void *secret, size_t len, struct jwt_key *out);
/*
 * Ed25519 key from a PEM file (path) or PEM text (pem); exactly one is
 * non-NULL. A PKCS#8 "PRIVATE KEY" gives a key that signs and verifies, a
 * "PUBLIC KEY" one that only verifies. Encrypted keys are refused (nothing
 * prompts for a passphrase). kid: base64url of the first 9 bytes of
 * SHA-256(raw 32-byte public key). FB_ERR_IO when the file cannot be read,
 * FB_ERR_TOOBIG over 16 KiB, FB_ERR_INVALID when it holds no Ed25519 key,
 * FB_ERR_NOMEM. On failure *out is zeroed.
 */
enum fb_err	jwt_key_ed25519_pem(const char *path, const char *pem,
		    struct jwt_key *out);
/*
 * Ed25519 key from an EVP_PKEY the caller keeps (a reference is taken), with
 * the derived kid. FB_ERR_INVALID when pkey is not Ed25519.
 */
enum fb_err	jwt_key_ed25519(EVP_PKEY *pkey, struct jwt_key *out);
/* Wipes and releases the key; safe on a zeroed or freed struct. */
void		jwt_key_free(struct jwt_key *key);

/*
 * The key ring of the configuration: JWT_SECRET (HS256, at least 32 bytes)
 * or JWT_PRIVATE_KEY_FILE (an Ed25519 PEM private key: EdDSA), and as a
 * verify-only previous key JWT_PREVIOUS_SECRET or JWT_PREVIOUS_KEY_FILE (a
 * private or public PEM), which must be of the same algorithm. The current
 * kid is JWT_KID when set (printable ASCII, at most 63 bytes), else derived
 * (see the constructors), so rotating the key changes the kid.
 * XXX: the previous key's kid is always derived; a deployment that sets
 * JWT_KID keeps old tokens valid across a rotation only if the old kid was
 * the derived one.
 * FB_ERR_INVALID on a missing, short, malformed or mismatched key
 * (logged at error with the variable's name, never its value), FB_ERR_IO
 * when a key file cannot be read, FB_ERR_NOMEM. On failure *out is zeroed
 * and owns nothing; on success the caller jwt_keyring_free()s it.
 */
enum fb_err	jwt_keyring_load(const struct config *cfg, struct jwt_keyring *out);
/* Wipes and releases both keys; safe on a zeroed or freed ring. */
void		jwt_keyring_free(struct jwt_keyring *k);
/*
 * The JWKS document (RFC 7517 §5) of the ring's public keys: {"keys":[...]}
 * with one {"kty":"OKP","crv":"Ed25519","x","kid","alg":"EdDSA","use":"sig"}
 * per EdDSA key (current first); an empty array for HS256, whose keys are
 * secret. NULL when out of memory. The caller decrefs.
 */
json_t		*jwt_jwks(const struct jwt_keyring *k);

/*
 * Signs claims (a JSON object, not stolen) with the ring's current key:
 * header {"alg":"HS256"|"EdDSA","typ":"JWT","kid":...}, compact form, into
 * *out (malloc'd, caller frees). FB_ERR_INVALID when claims is not an object
 * or the current key cannot sign (public only), FB_ERR_TOOBIG when the token
 * would exceed JWT_MAX_TOKEN, FB_ERR_NOMEM, FB_ERR_INTERNAL when OpenSSL
 * fails. *out is NULL on failure.
 */
enum fb_err	jwt_sign(const struct jwt_keyring *k, json_t *claims, char **out);
/*
 * Verifies token and its claims, for requests:
 * - form: at most JWT_MAX_TOKEN bytes, exactly three non-empty base64url
 *   parts (no padding, canonical);
 * - header: a JSON object without duplicate names whose "alg" is exactly the
 *   ring's algorithm (RFC 8725 §3.1), without "crit" (RFC 7515 §4.1.11: we
 *   understand no extension), "typ" absent or "JWT" (RFC 7519 §5.1), "kid"
 *   absent or a string;
 * - key: by kid among current and previous (a kid matching neither is
 *   refused); without kid, the current key;
 * - signature: HMAC compared with CRYPTO_memcmp, or EVP_DigestVerify;
 * - payload: a JSON object without duplicate names; "iss" equal to
 *   e->issuer, "aud" e->audience or an array of strings containing it
 *   (RFC 7519 §4.1.3), "exp" a number > now - leeway (required), "nbf" and
 *   "iat", when present, numbers <= now + leeway.
 * FB_OK with *claims the payload (caller decrefs); FB_ERR_INVALID for every
 * malformed, forged, expired or misdirected token (the reason is logged at
 * debug only); FB_ERR_INTERNAL when e lacks issuer or audience;
 * FB_ERR_NOMEM. *claims is NULL on failure.
 */
enum fb_err	jwt_verify(const struct jwt_keyring *k, const char *token,
		    const struct jwt_expect *e, json_t **claims);

/*
 * Lower level, for test vectors. jwt_sign_raw signs exactly the given texts:
 * base64url(header_json) "." base64url(payload_json) "." base64url(sig);
 * neither text is parsed. Errors as jwt_sign (the size cap included).
 */
enum fb_err	jwt_sign_raw(const struct jwt_key *key, const char *header_json,
		    const char *payload_json, char **out);
/*
 * Checks the form, the header (alg exactly key->alg, no crit, typ, kid as
 * above; the kid is not matched) and the signature of token with key; the
 * payload is neither parsed nor checked. FB_OK or FB_ERR_INVALID;
 * FB_ERR_NOMEM.
 */
enum fb_err	jwt_verify_signature(const struct jwt_key *key, const char *token);

#endif
