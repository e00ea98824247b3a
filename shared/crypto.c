/*
 * crypto — see crypto.h. crypto_open() checks, in order: the ring, the row
 * identity, the token's size and form (both base64url parts decoded, the
 * nonce exactly 96 bits, at least a whole tag), the key by id, and only then
 * the cipher; the plaintext leaves only after EVP_DecryptFinal_ex has
 * verified the tag.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>

#include "b64.h"
#include "crypto.h"
#include "log.h"
#include "rand.h"

#define TOKEN_PREFIX		"v1."
#define TOKEN_PREFIX_LEN	(sizeof(TOKEN_PREFIX) - 1)
#define AAD_PREFIX		"fastback:v1"
#define AAD_SEP			'\x1f'	/* US, the ASCII unit separator */
/* Encoded sizes, without the NUL. */
#define NONCE_B64_LEN		CRYPTO_B64_LEN(CRYPTO_NONCE_LEN)
#define SEALED_MAX		(CRYPTO_PLAINTEXT_MAX + CRYPTO_TAG_LEN)
#define SEALED_B64_MAX		CRYPTO_B64_LEN(SEALED_MAX)
/* A 32-byte key in standard base64: 43 characters and one '='. */
#define KEY_B64_LEN		44

/* A token cut into its parts, within the token. */
struct token_parts {
	const char	*id;
	size_t		 id_len;
	const char	*nonce;
	size_t		 nonce_len;
	const char	*sealed;	/* ciphertext || tag, base64url */
	size_t		 sealed_len;
};

static bool
id_char(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	    (c >= '0' && c <= '9') || c == '_' || c == '-';
}

static bool
id_valid(const char *s, size_t len)
{
	size_t	i;

	if (len == 0 || len > CRYPTO_KEY_ID_MAX)
		return false;
	for (i = 0; i < len; i++)
		if (!id_char(s[i]))
			return false;
	return true;
}

static bool
b64std_char(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	    (c >= '0' && c <= '9') || c == '+' || c == '/';
}

/*
 * Decodes the 44 characters at s into key. False unless they are 43
 * characters of the standard alphabet and one '=' (RFC 4648 §4).
 */
static bool
key_decode(const char *s, size_t len, unsigned char key[CRYPTO_KEY_LEN])
{
	unsigned char	tmp[48];
	size_t		i;
	int		n;

	if (len != KEY_B64_LEN || s[KEY_B64_LEN - 1] != '=')
		return false;
	for (i = 0; i < KEY_B64_LEN - 1; i++)
		if (!b64std_char(s[i]))
			return false;
	/* EVP_DecodeBlock counts the padding as a 33rd, zero, byte. */
	n = EVP_DecodeBlock(tmp, (const unsigned char *)s, KEY_B64_LEN);
	if (n == CRYPTO_KEY_LEN + 1)
		memcpy(key, tmp, CRYPTO_KEY_LEN);
	OPENSSL_cleanse(tmp, sizeof(tmp));
	return n == CRYPTO_KEY_LEN + 1;
}

enum fb_err
crypto_keyring_load(const char *s, struct crypto_keyring *out)
{
	const char	*p, *end, *colon;
	const char	*why;
	size_t		 n, idlen, i;

	memset(out, 0, sizeof(*out));
	if (s == NULL || *s == '\0')
		return FB_OK;
	for (p = s, n = 0;; p = end + 1) {
		if ((end = strchr(p, ',')) == NULL)
			end = p + strlen(p);
		/* From here on, errors name entry n + 1 and go to fail. */
		if (n == CRYPTO_KEYS_MAX) {
			why = "more than 16 keys";
			goto fail;
		}
		if (end == p) {
			why = "empty entry";
			goto fail;
		}
		if ((colon = memchr(p, ':', (size_t)(end - p))) == NULL) {
			why = "no ':' between id and key";
			goto fail;
		}
		idlen = (size_t)(colon - p);
		if (!id_valid(p, idlen)) {
			why = "the id must be 1 to 16 of A-Z a-z 0-9 _ -";
			goto fail;
		}
		memcpy(out->keys[n].id, p, idlen);
		out->keys[n].id[idlen] = '\0';
		for (i = 0; i < n; i++)
			if (strcmp(out->keys[i].id, out->keys[n].id) == 0) {
				why = "duplicate id";
				goto fail;
			}
		if (!key_decode(colon + 1, (size_t)(end - colon - 1),
		    out->keys[n].key)) {
			why = "the key must be 32 bytes in standard base64 "
			    "(44 characters ending in one '=')";
			goto fail;
		}
		n++;
		if (*end == '\0')
			break;
	}
	out->count = n;
	return FB_OK;
fail:
	log_msg(FBLOG_ERROR, "crypto: ENCRYPTION_KEYS entry %zu: %s", n + 1, why);
	crypto_keyring_free(out);
	return FB_ERR_INVALID;
}

void
crypto_keyring_free(struct crypto_keyring *k)
{
	if (k == NULL)
		return;
	OPENSSL_cleanse(k, sizeof(*k));
	k->count = 0;
}

void
crypto_free_secret(void *p, size_t len)
{
	if (p == NULL)
		return;
	OPENSSL_cleanse(p, len);
	free(p);
}

static bool
aad_part_valid(const char *s)
{
	return s != NULL && *s != '\0' && strchr(s, AAD_SEP) == NULL;
}

enum fb_err
crypto_aad(const char *table, const char *column, const char *row_id,
    char out[CRYPTO_AAD_SIZE], size_t *outlen)
{
	int	n;

	out[0] = '\0';
	if (outlen != NULL)
		*outlen = 0;
	if (!aad_part_valid(table) || !aad_part_valid(column) ||
	    !aad_part_valid(row_id))
		return FB_ERR_INVALID;
	n = snprintf(out, CRYPTO_AAD_SIZE, "%s%c%s%c%s%c%s", AAD_PREFIX,
	    AAD_SEP, table, AAD_SEP, column, AAD_SEP, row_id);
	if (n < 0 || n >= CRYPTO_AAD_SIZE) {
		out[0] = '\0';
		return FB_ERR_TOOBIG;
	}
	if (outlen != NULL)
		*outlen = (size_t)n;
	return FB_OK;
}

enum fb_err
crypto_gcm_raw(bool encrypt, const unsigned char key[CRYPTO_KEY_LEN],
    const unsigned char nonce[CRYPTO_NONCE_LEN], const void *aad,
    size_t aadlen, const void *in, size_t len, unsigned char *out,
    unsigned char tag[CRYPTO_TAG_LEN])
{
	EVP_CIPHER_CTX	*ctx;
	enum fb_err	 e = FB_ERR_INTERNAL;
	int		 n, fin;

	if (len > CRYPTO_PLAINTEXT_MAX || aadlen > CRYPTO_AAD_SIZE)
		return FB_ERR_TOOBIG;
	if ((ctx = EVP_CIPHER_CTX_new()) == NULL) {
		log_msg(FBLOG_ERROR, "crypto: EVP_CIPHER_CTX_new failed");
		ERR_clear_error();
		return FB_ERR_NOMEM;
	}
	/* The nonce length is set before the key and nonce (SP 800-38D
	 * §5.2.1.1: 96 bits, the length GCM uses without hashing it). */
	if (EVP_CipherInit_ex(ctx, EVP_aes_256_gcm(), NULL, NULL, NULL,
	    encrypt ? 1 : 0) != 1 ||
	    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, CRYPTO_NONCE_LEN,
	    NULL) != 1 ||
	    EVP_CipherInit_ex(ctx, NULL, NULL, key, nonce, -1) != 1) {
		log_msg(FBLOG_ERROR, "crypto: AES-256-GCM set-up failed");
		goto out;
	}
	if (aadlen > 0 && (EVP_CipherUpdate(ctx, NULL, &n, aad, (int)aadlen) != 1)) {
		log_msg(FBLOG_ERROR, "crypto: AES-256-GCM associated data failed");
		goto out;
	}
	n = 0;
	if (len > 0 && (EVP_CipherUpdate(ctx, out, &n, in, (int)len) != 1 ||
	    (size_t)n != len)) {
		log_msg(FBLOG_ERROR, "crypto: AES-256-GCM update failed");
		goto out;
	}
	if (encrypt) {
		if (EVP_EncryptFinal_ex(ctx, out + n, &fin) != 1 || fin != 0 ||
		    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG,
		    CRYPTO_TAG_LEN, tag) != 1) {
			log_msg(FBLOG_ERROR, "crypto: AES-256-GCM final failed");
			goto out;
		}
	} else {
		if (EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG,
		    CRYPTO_TAG_LEN, tag) != 1) {
			log_msg(FBLOG_ERROR, "crypto: AES-256-GCM set tag failed");
			goto out;
		}
		/* The tag is compared here, in constant time (by OpenSSL). */
		if (EVP_DecryptFinal_ex(ctx, out + n, &fin) != 1 || fin != 0) {
			if (len > 0)
				OPENSSL_cleanse(out, len);
			e = FB_ERR_INVALID;
			goto out;
		}
	}
	e = FB_OK;
out:
	ERR_clear_error();
	EVP_CIPHER_CTX_free(ctx);
	return e;
}

static enum fb_err
seal(const struct crypto_keyring *k, const char *table, const char *column,
    const char *row_id, const void *plaintext, size_t len,
    const unsigned char *fixed_nonce, char **out)
{
	char		 aad[CRYPTO_AAD_SIZE], *tok = NULL, *p;
	unsigned char	 nonce[CRYPTO_NONCE_LEN], *sealed = NULL;
	size_t		 aadlen, idlen, toklen;
	enum fb_err	 e;

	*out = NULL;
	if (k == NULL || k->count == 0) {
		log_msg(FBLOG_ERROR, "crypto: cannot seal %s.%s: "
		    "ENCRYPTION_KEYS is not configured",
		    table != NULL ? table : "?", column != NULL ? column : "?");
		return FB_ERR_UNAVAILABLE;
	}
	if (len > CRYPTO_PLAINTEXT_MAX)
		return FB_ERR_TOOBIG;
	if (plaintext == NULL && len > 0)
		return FB_ERR_INVALID;
	if ((e = crypto_aad(table, column, row_id, aad, &aadlen)) != FB_OK)
		return e;
	if (fixed_nonce != NULL)
		memcpy(nonce, fixed_nonce, sizeof(nonce));
	else if ((e = rand_bytes(nonce, sizeof(nonce))) != FB_OK)
		return e;

	/* From here on, fail: releases sealed and tok. */
	idlen = strlen(k->keys[0].id);
	toklen = TOKEN_PREFIX_LEN + idlen + 1 + NONCE_B64_LEN + 1 +
	    CRYPTO_B64_LEN(len + CRYPTO_TAG_LEN);
	if ((sealed = malloc(len + CRYPTO_TAG_LEN)) == NULL ||
	    (tok = malloc(toklen + 1)) == NULL) {
		log_msg(FBLOG_ERROR, "crypto: out of memory");
		e = FB_ERR_NOMEM;
		goto fail;
	}
	if ((e = crypto_gcm_raw(true, k->keys[0].key, nonce, aad, aadlen,
	    plaintext, len, sealed, sealed + len)) != FB_OK)
		goto fail;
	p = tok;
	memcpy(p, TOKEN_PREFIX, TOKEN_PREFIX_LEN);
	p += TOKEN_PREFIX_LEN;
	memcpy(p, k->keys[0].id, idlen);
	p += idlen;
	*p++ = '.';
	p += b64url_encode(nonce, sizeof(nonce), p);
	*p++ = '.';
	p += b64url_encode(sealed, len + CRYPTO_TAG_LEN, p);
	if ((size_t)(p - tok) != toklen) {
		log_msg(FBLOG_ERROR, "crypto: token length %zu, expected %zu",
		    (size_t)(p - tok), toklen);
		e = FB_ERR_INTERNAL;
		goto fail;
	}
	free(sealed);
	*out = tok;
	return FB_OK;
fail:
	free(sealed);
	free(tok);
	return e;
}

enum fb_err
crypto_seal(const struct crypto_keyring *k, const char *table,
    const char *column, const char *row_id, const void *plaintext, size_t len,
    char **out)
{
	return seal(k, table, column, row_id, plaintext, len, NULL, out);
}

enum fb_err
crypto_seal_with_nonce(const struct crypto_keyring *k, const char *table,
    const char *column, const char *row_id, const void *plaintext, size_t len,
    const unsigned char nonce[CRYPTO_NONCE_LEN], char **out)
{
	if (nonce == NULL) {
		*out = NULL;
		return FB_ERR_INVALID;
	}
	return seal(k, table, column, row_id, plaintext, len, nonce, out);
}

/*
 * Cuts token into its parts and checks their form: the "v1." prefix, a valid
 * id, a nonce of exactly NONCE_B64_LEN characters and a sealed part of a
 * whole tag to SEALED_B64_MAX characters, no further '.'. The base64url
 * alphabet is checked when the parts are decoded. The reason for a refusal
 * goes to *why.
 */
static enum fb_err
token_split(const char *token, struct token_parts *tp, const char **why)
{
	const char	*p, *dot;
	size_t		 len;

	memset(tp, 0, sizeof(*tp));
	if (token == NULL) {
		*why = "no token";
		return FB_ERR_INVALID;
	}
	if ((len = strnlen(token, CRYPTO_TOKEN_MAX + 1)) > CRYPTO_TOKEN_MAX) {
		*why = "token too long";
		return FB_ERR_INVALID;
	}
	if (len < TOKEN_PREFIX_LEN ||
	    memcmp(token, TOKEN_PREFIX, TOKEN_PREFIX_LEN) != 0) {
		*why = "not a v1 token";
		return FB_ERR_INVALID;
	}
	p = token + TOKEN_PREFIX_LEN;
	if ((dot = strchr(p, '.')) == NULL || !id_valid(p, (size_t)(dot - p))) {
		*why = "bad key id";
		return FB_ERR_INVALID;
	}
	tp->id = p;
	tp->id_len = (size_t)(dot - p);
	p = dot + 1;
	if ((dot = strchr(p, '.')) == NULL ||
	    (size_t)(dot - p) != NONCE_B64_LEN) {
		*why = "bad nonce";
		return FB_ERR_INVALID;
	}
	tp->nonce = p;
	tp->nonce_len = NONCE_B64_LEN;
	p = dot + 1;
	tp->sealed = p;
	tp->sealed_len = strlen(p);
	if (strchr(p, '.') != NULL ||
	    tp->sealed_len < CRYPTO_B64_LEN(CRYPTO_TAG_LEN) ||
	    tp->sealed_len > SEALED_B64_MAX) {
		*why = "bad ciphertext";
		return FB_ERR_INVALID;
	}
	return FB_OK;
}

enum fb_err
crypto_token_key_id(const char *token, char id[CRYPTO_KEY_ID_MAX + 1])
{
	struct token_parts	 tp;
	const char		*why;
	enum fb_err		 e;

	id[0] = '\0';
	if ((e = token_split(token, &tp, &why)) != FB_OK)
		return e;
	memcpy(id, tp.id, tp.id_len);
	id[tp.id_len] = '\0';
	return FB_OK;
}

bool
crypto_is_current(const struct crypto_keyring *k, const char *token)
{
	char	id[CRYPTO_KEY_ID_MAX + 1];

	if (k == NULL || k->count == 0 ||
	    crypto_token_key_id(token, id) != FB_OK)
		return false;
	return strcmp(id, k->keys[0].id) == 0;
}

/* Logs why a token was refused: the row's table and column, never the token. */
static enum fb_err
refuse(enum fb_err e, const char *table, const char *column, const char *why)
{
	log_msg(FBLOG_WARN, "crypto: sealed value of %s.%s refused: %s",
	    table, column, why);
	return e;
}

enum fb_err
crypto_open(const struct crypto_keyring *k, const char *table,
    const char *column, const char *row_id, const char *token,
    unsigned char **out, size_t *outlen)
{
	struct token_parts	 tp;
	const struct crypto_key	*key = NULL;
	char			 aad[CRYPTO_AAD_SIZE], id[CRYPTO_KEY_ID_MAX + 1];
	unsigned char		 nonce[CRYPTO_NONCE_LEN], *sealed = NULL;
	unsigned char		*plain = NULL;
	size_t			 aadlen, n, cap, sealed_len, len = 0, i;
	const char		*why;
	enum fb_err		 e;

	*out = NULL;
	*outlen = 0;
	if (k == NULL || k->count == 0) {
		log_msg(FBLOG_ERROR, "crypto: cannot open %s.%s: "
		    "ENCRYPTION_KEYS is not configured",
		    table != NULL ? table : "?", column != NULL ? column : "?");
		return FB_ERR_UNAVAILABLE;
	}
	if ((e = crypto_aad(table, column, row_id, aad, &aadlen)) != FB_OK)
		return e;
	if (token_split(token, &tp, &why) != FB_OK)
		return refuse(FB_ERR_INVALID, table, column, why);
	if (b64url_decode(tp.nonce, tp.nonce_len, nonce, sizeof(nonce), &n) !=
	    FB_OK || n != CRYPTO_NONCE_LEN)
		return refuse(FB_ERR_INVALID, table, column, "bad nonce");

	/* From here on, fail: releases sealed and plain. */
	cap = tp.sealed_len / 4 * 3 + 2;	/* what sealed_len characters decode to */
	if (cap > SEALED_MAX)
		cap = SEALED_MAX;
	if ((sealed = malloc(cap)) == NULL) {
		log_msg(FBLOG_ERROR, "crypto: out of memory");
		e = FB_ERR_NOMEM;
		goto fail;
	}
	if (b64url_decode(tp.sealed, tp.sealed_len, sealed, cap,
	    &sealed_len) != FB_OK || sealed_len < CRYPTO_TAG_LEN) {
		e = refuse(FB_ERR_INVALID, table, column, "bad ciphertext");
		goto fail;
	}
	memcpy(id, tp.id, tp.id_len);
	id[tp.id_len] = '\0';
	for (i = 0; i < k->count && key == NULL; i++)
		if (strcmp(k->keys[i].id, id) == 0)
			key = &k->keys[i];
	if (key == NULL) {
		log_msg(FBLOG_WARN, "crypto: sealed value of %s.%s names key "
		    "\"%s\", which ENCRYPTION_KEYS does not list",
		    table, column, id);
		e = FB_ERR_NOTFOUND;
		goto fail;
	}
	len = sealed_len - CRYPTO_TAG_LEN;
	if ((plain = malloc(len + 1)) == NULL) {
		log_msg(FBLOG_ERROR, "crypto: out of memory");
		e = FB_ERR_NOMEM;
		goto fail;
	}
	e = crypto_gcm_raw(false, key->key, nonce, aad, aadlen, sealed, len,
	    plain, sealed + len);
	if (e == FB_ERR_INVALID) {
		e = refuse(e, table, column, "authentication failed (altered, "
		    "or sealed for another row)");
		goto fail;
	} else if (e != FB_OK)
		goto fail;
	plain[len] = '\0';
	free(sealed);
	*out = plain;
	*outlen = len;
	return FB_OK;
fail:
	free(sealed);
	crypto_free_secret(plain, len);
	return e;
}
