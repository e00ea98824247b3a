/*
 * crypto — secrets at rest (TOTP secrets, API keys): AES-256-GCM (NIST SP
 * 800-38D) on OpenSSL 3 EVP, with a fresh random 96-bit nonce per value, a
 * key named by id from ENCRYPTION_KEYS, and the row's identity (table,
 * column, id) as associated data, so a ciphertext copied into another row,
 * column or table does not decrypt.
 *
 * A sealed value is a text token safe for a text column:
 *
 *	v1.<key id>.<base64url nonce>.<base64url ciphertext || 16-byte tag>
 *
 * Keys: the first key of ENCRYPTION_KEYS seals; every listed key opens.
 * Rotation (`fastbackctl keys rotate`): add a new key first in the list,
 * keep the old ones; then for each row whose token is not
 * crypto_is_current(), crypto_open() it and crypto_seal() it again, and
 * store the new token only where the column still holds the old one
 * (UPDATE ... WHERE col = $old), so an interrupted run is resumed by running
 * it again. An old key may leave the list once no token names it.
 *
 * Ownership: a struct crypto_keyring holds key bytes by value; the caller
 * owns it and wipes it with crypto_keyring_free() (safe on a zeroed, failed
 * or already freed ring). Tokens from crypto_seal() are the caller's to
 * free(); plaintexts from crypto_open() are the caller's to release with
 * crypto_free_secret(), which wipes them. Nothing here logs a key, a
 * plaintext or a token; ENCRYPTION_KEYS errors name the entry by position.
 */
#ifndef FB_CRYPTO_H
#define FB_CRYPTO_H

#include <stdbool.h>
#include <stddef.h>

#include "err.h"

#define CRYPTO_KEY_ID_MAX	16	/* id characters: A-Z a-z 0-9 _ - */
#define CRYPTO_KEYS_MAX		16	/* keys in ENCRYPTION_KEYS */
#define CRYPTO_KEY_LEN		32	/* AES-256 */
#define CRYPTO_NONCE_LEN	12	/* 96 bits, SP 800-38D §8.2.2 */
#define CRYPTO_TAG_LEN		16	/* full 128-bit tag, never truncated */
/* Largest plaintext sealed: 64 KiB; a TOTP secret or an API key is far less. */
#define CRYPTO_PLAINTEXT_MAX	(64 * 1024)
/* Room for the associated data "fastback:v1\x1f<table>\x1f<column>\x1f<id>",
 * with the NUL. */
#define CRYPTO_AAD_SIZE		512
/* Characters of n bytes in base64url without padding. */
#define CRYPTO_B64_LEN(n)	(((n) * 4 + 2) / 3)
/* Longest token crypto_seal() makes and crypto_open() reads (87441 bytes):
 * "v1." id "." nonce "." ciphertext-and-tag, without the NUL. */
#define CRYPTO_TOKEN_MAX	(3 + CRYPTO_KEY_ID_MAX + 1 + \
	CRYPTO_B64_LEN(CRYPTO_NONCE_LEN) + 1 + \
	CRYPTO_B64_LEN(CRYPTO_PLAINTEXT_MAX + CRYPTO_TAG_LEN))

struct crypto_keyring {
	size_t	count;				/* keys; 0: not configured */
	struct crypto_key {
		char		id[CRYPTO_KEY_ID_MAX + 1];	/* NUL-terminated */
		unsigned char	key[CRYPTO_KEY_LEN];
	}	keys[CRYPTO_KEYS_MAX];		/* keys[0] seals */
};

/*
 * Parses ENCRYPTION_KEYS, "id:base64key[,id:base64key...]": ids of 1 to
 * CRYPTO_KEY_ID_MAX characters A-Z a-z 0-9 _ -, keys of 32 bytes in
 * standard base64 (44 characters ending in one '='). The first key is the
 * current one. A NULL or empty string gives a ring of count 0, on which
 * crypto_seal()/crypto_open() answer FB_ERR_UNAVAILABLE.
 * FB_ERR_INVALID for a malformed list (an empty entry, no ':', a bad id or
 * key), a duplicate id, or more than CRYPTO_KEYS_MAX keys; the reason is
 * logged with the entry's position, never its text. On failure *out is
 * wiped and has count 0; on success the caller crypto_keyring_free()s it.
 */
enum fb_err	crypto_keyring_load(const char *encryption_keys,
		    struct crypto_keyring *out);
/* Wipes the ring (OPENSSL_cleanse); k may be NULL. */
void		crypto_keyring_free(struct crypto_keyring *k);

/*
 * The associated data of a row's value:
 * "fastback:v1" US table US column US row_id (US is \x1f) into
 * out[CRYPTO_AAD_SIZE], NUL-terminated, its length in *outlen (or NULL).
 * FB_ERR_INVALID when a part is NULL, empty or holds \x1f (which would make
 * two identities alike); FB_ERR_TOOBIG when it does not fit.
 */
enum fb_err	crypto_aad(const char *table, const char *column,
		    const char *row_id, char out[CRYPTO_AAD_SIZE], size_t *outlen);

/*
 * Seals plaintext[0..len) (plaintext may be NULL when len is 0) for the row
 * (table, column, row_id) under the current key with a fresh random nonce.
 * On success *out is the NUL-terminated token (at most CRYPTO_TOKEN_MAX
 * characters), malloc'd, the caller frees it; on failure *out is NULL.
 * FB_ERR_UNAVAILABLE when the ring has no key; FB_ERR_TOOBIG when len is over
 * CRYPTO_PLAINTEXT_MAX or the row identity over CRYPTO_AAD_SIZE;
 * FB_ERR_INVALID for a bad row identity (see crypto_aad()); FB_ERR_NOMEM;
 * FB_ERR_INTERNAL when the random generator or the cipher fails.
 */
enum fb_err	crypto_seal(const struct crypto_keyring *k, const char *table,
		    const char *column, const char *row_id, const void *plaintext,
		    size_t len, char **out);

/*
 * Opens a token of crypto_seal() made for the same (table, column, row_id).
 * On success *out is the plaintext, malloc'd, with a NUL after its *outlen
 * bytes (the NUL is not counted); release it with crypto_free_secret(*out,
 * *outlen). On failure *out is NULL and *outlen 0: nothing unauthenticated
 * is ever handed out.
 * FB_ERR_INVALID for a malformed or overlong token, any altered byte of the
 * nonce, ciphertext or tag, a truncated tag, or a token of another row,
 * column or table (all are the same authentication failure);
 * FB_ERR_NOTFOUND when the token names a key id the ring does not list (an
 * altered id is refused the same way, or with FB_ERR_INVALID when it names
 * another listed key); FB_ERR_UNAVAILABLE when the ring has no key;
 * FB_ERR_INVALID or FB_ERR_TOOBIG for a bad row identity (see crypto_aad());
 * FB_ERR_NOMEM; FB_ERR_INTERNAL when the cipher fails. Refusals are logged
 * at warn with table.column and the reason, never the token.
 */
enum fb_err	crypto_open(const struct crypto_keyring *k, const char *table,
		    const char *column, const char *row_id, const char *token,
		    unsigned char **out, size_t *outlen);

/* Wipes p[0..len) and frees p; p may be NULL. */
void		crypto_free_secret(void *p, size_t len);

/*
 * The key id a token names, into id (NUL-terminated), for rotation. Only
 * the form of the token is checked, not its tag. FB_ERR_INVALID for a
 * malformed token (id is then "").
 */
enum fb_err	crypto_token_key_id(const char *token,
		    char id[CRYPTO_KEY_ID_MAX + 1]);
/* Whether token is well formed and names the ring's current key (keys[0]);
 * false for an empty ring or a malformed token. */
bool		crypto_is_current(const struct crypto_keyring *k,
		    const char *token);

/*
 * For tests only.
 *
 * crypto_gcm_raw: one AES-256-GCM operation with a 96-bit nonce, as
 * crypto_seal()/crypto_open() use it, so the NIST vectors check the real
 * path. out (never NULL) has room for len bytes. Encrypting writes len
 * bytes to out and the tag to tag; decrypting reads the tag and writes len
 * bytes to out, which are wiped when the tag does not verify
 * (FB_ERR_INVALID). in and aad may be NULL when their length is 0. FB_ERR_TOOBIG when len is over CRYPTO_PLAINTEXT_MAX or
 * aadlen over CRYPTO_AAD_SIZE; FB_ERR_NOMEM; FB_ERR_INTERNAL.
 *
 * crypto_seal_with_nonce: crypto_seal() with a chosen nonce. Never use it
 * outside tests: a nonce used twice under one key reveals the plaintexts
 * and allows forgeries.
 */
enum fb_err	crypto_gcm_raw(bool encrypt, const unsigned char key[CRYPTO_KEY_LEN],
		    const unsigned char nonce[CRYPTO_NONCE_LEN], const void *aad,
		    size_t aadlen, const void *in, size_t len, unsigned char *out,
		    unsigned char tag[CRYPTO_TAG_LEN]);
enum fb_err	crypto_seal_with_nonce(const struct crypto_keyring *k,
		    const char *table, const char *column, const char *row_id,
		    const void *plaintext, size_t len,
		    const unsigned char nonce[CRYPTO_NONCE_LEN], char **out);

#endif
