/*
 * jwt — see jwt.h. Verification order: size and form, header (alg pinned to
 * the key ring), key by kid, signature, and only then the payload is parsed
 * and its claims checked, so nothing of an unauthenticated payload is ever
 * interpreted.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/pem.h>

#include "b64.h"
#include "jwt.h"
#include "log.h"

#define HS256_MAC_LEN		32	/* SHA-256 output */
#define ED25519_SIG_LEN		64	/* RFC 8032 §5.1.6 */
#define ED25519_KEY_LEN		32	/* raw public key (RFC 8037 §2 "x") */
#define KID_HASH_BYTES		9	/* 72 bits: 12 base64url characters */
#define PEM_MAX			(16 * 1024)	/* an Ed25519 PEM is ~120 bytes */
/* Largest decoded part of a token that fits JWT_MAX_TOKEN. */
#define PART_MAX		(JWT_MAX_TOKEN / 4 * 3 + 3)

/* A token cut into its three base64url parts; header is decoded. */
struct jws {
	const char	*hdr;		/* first part, within the token */
	size_t		 hdr_len;
	const char	*pay;		/* second part */
	size_t		 pay_len;
	const char	*sig;		/* third part */
	size_t		 sig_len;
	json_t		*header;	/* decoded header object (or NULL) */
	const char	*kid;		/* its "kid" (or NULL), owned by header */
};

/* Every refusal goes through here: one reason, at debug, never the token. */
static enum fb_err
refuse(const char *why)
{
	log_msg(FBLOG_DEBUG, "jwt: token refused: %s", why);
	return FB_ERR_INVALID;
}

static const char *
alg_name(enum jwt_alg alg)
{
	return alg == JWT_EDDSA ? "EdDSA" : "HS256";
}

/* Writes base64url of the first KID_HASH_BYTES of SHA-256(prefix || data). */
static enum fb_err
kid_derive(const char *prefix, const void *data, size_t len,
    char kid[JWT_KID_SIZE])
{
	EVP_MD_CTX	*ctx;
	unsigned char	 md[EVP_MAX_MD_SIZE];
	unsigned int	 mdlen = 0;
	enum fb_err	 e = FB_ERR_INTERNAL;

	if ((ctx = EVP_MD_CTX_new()) == NULL) {
		log_msg(FBLOG_ERROR, "jwt: EVP_MD_CTX_new failed");
		return FB_ERR_NOMEM;
	}
	if (EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1 ||
	    EVP_DigestUpdate(ctx, prefix, strlen(prefix)) != 1 ||
	    EVP_DigestUpdate(ctx, data, len) != 1 ||
	    EVP_DigestFinal_ex(ctx, md, &mdlen) != 1 || mdlen < KID_HASH_BYTES) {
		log_msg(FBLOG_ERROR, "jwt: SHA-256 failed");
		ERR_clear_error();
		goto out;
	}
	b64url_encode(md, KID_HASH_BYTES, kid);
	e = FB_OK;
out:
	EVP_MD_CTX_free(ctx);
	OPENSSL_cleanse(md, sizeof(md));
	return e;
}

/*
 * An HMAC-SHA-256 context keyed with secret. Keying once and resetting per
 * token (EVP_MAC_init with no key keeps it) saves fetching the algorithm and
 * hashing the key pads on every request.
 */
static enum fb_err
hmac_new(const void *secret, size_t len, EVP_MAC_CTX **out)
{
	EVP_MAC	*mac;
	OSSL_PARAM params[] = {
		OSSL_PARAM_construct_utf8_string("digest", (char *)"SHA256", 0),
		OSSL_PARAM_construct_end(),
	};

	*out = NULL;
	if ((mac = EVP_MAC_fetch(NULL, "HMAC", NULL)) == NULL)
		goto fail;
	*out = EVP_MAC_CTX_new(mac);
	EVP_MAC_free(mac);	/* the context holds its own reference */
	if (*out == NULL || EVP_MAC_init(*out, secret, len, params) != 1)
		goto fail;
	return FB_OK;
fail:
	log_msg(FBLOG_ERROR, "jwt: cannot set up HMAC-SHA-256");
	EVP_MAC_CTX_free(*out);
	*out = NULL;
	ERR_clear_error();
	return FB_ERR_INTERNAL;
}

enum fb_err
jwt_key_hs256(const void *secret, size_t len, struct jwt_key *out)
{
	enum fb_err	e;

	memset(out, 0, sizeof(*out));
	out->alg = JWT_HS256;
	if (secret == NULL || len < JWT_HS256_MIN_KEY)
		return FB_ERR_INVALID;
	if ((out->secret = malloc(len)) == NULL) {
		log_msg(FBLOG_ERROR, "jwt: out of memory");
		return FB_ERR_NOMEM;
	}
	memcpy(out->secret, secret, len);
	out->secret_len = len;
	if ((e = hmac_new(secret, len, &out->hmac)) != FB_OK ||
	    (e = kid_derive("hs256:", secret, len, out->kid)) != FB_OK)
		jwt_key_free(out);
	return e;
}

/* Raw 32-byte public key of an Ed25519 key. */
static enum fb_err
ed25519_public(EVP_PKEY *pkey, unsigned char pub[ED25519_KEY_LEN])
{
	size_t	len = ED25519_KEY_LEN;

	if (EVP_PKEY_get_raw_public_key(pkey, pub, &len) != 1 ||
	    len != ED25519_KEY_LEN) {
		ERR_clear_error();
		return FB_ERR_INVALID;
	}
	return FB_OK;
}

enum fb_err
jwt_key_ed25519(EVP_PKEY *pkey, struct jwt_key *out)
{
	unsigned char	pub[ED25519_KEY_LEN];
	enum fb_err	e;

	memset(out, 0, sizeof(*out));
	out->alg = JWT_EDDSA;
	if (pkey == NULL || !EVP_PKEY_is_a(pkey, "ED25519"))
		return FB_ERR_INVALID;
	if ((e = ed25519_public(pkey, pub)) != FB_OK)
		return e;
	if ((e = kid_derive("", pub, sizeof(pub), out->kid)) != FB_OK)
		return e;
	if (EVP_PKEY_up_ref(pkey) != 1) {
		memset(out, 0, sizeof(*out));
		return FB_ERR_INTERNAL;
	}
	out->pkey = pkey;
	return FB_OK;
}

/* Never prompts: an encrypted PEM key simply fails to load. */
static int
no_passphrase(char *buf, int size, int rwflag, void *u)
{
	(void)buf;
	(void)size;
	(void)rwflag;
	(void)u;
	return -1;
}

/* Reads at most PEM_MAX bytes of path into buf (PEM_MAX + 1 bytes). */
static enum fb_err
read_pem_file(const char *path, char *buf, size_t *len)
{
	FILE	*f;
	size_t	 n;
	int	 err;

	if ((f = fopen(path, "re")) == NULL) {
		log_msg(FBLOG_ERROR, "jwt: cannot open key file %s: %m", path);
		return FB_ERR_IO;
	}
	n = fread(buf, 1, PEM_MAX + 1, f);
	err = ferror(f);
	if (fclose(f) != 0 || err) {
		log_msg(FBLOG_ERROR, "jwt: cannot read key file %s", path);
		return FB_ERR_IO;
	}
	if (n > PEM_MAX) {
		log_msg(FBLOG_ERROR, "jwt: key file %s is over %d bytes", path,
		    PEM_MAX);
		return FB_ERR_TOOBIG;
	}
	*len = n;
	return FB_OK;
}

enum fb_err
jwt_key_ed25519_pem(const char *path, const char *pem, struct jwt_key *out)
{
	char		 buf[PEM_MAX + 1];
	const char	*text;
	size_t		 len = 0;
	BIO		*bio = NULL;
	EVP_PKEY	*pkey = NULL;
	enum fb_err	 e;

	memset(out, 0, sizeof(*out));
	out->alg = JWT_EDDSA;
	if ((path == NULL) == (pem == NULL))
		return FB_ERR_INVALID;
	if (path != NULL) {
		if ((e = read_pem_file(path, buf, &len)) != FB_OK)
			goto out;
		text = buf;
	} else {
		if ((len = strnlen(pem, PEM_MAX + 1)) > PEM_MAX) {
			e = FB_ERR_TOOBIG;
			goto out;
		}
		text = pem;
	}

	/* A private key first; failing that, a public (verify-only) one. */
	e = FB_ERR_NOMEM;
	if ((bio = BIO_new_mem_buf(text, (int)len)) == NULL)
		goto out;
	pkey = PEM_read_bio_PrivateKey(bio, NULL, no_passphrase, NULL);
	BIO_free(bio);
	if (pkey == NULL) {
		ERR_clear_error();
		if ((bio = BIO_new_mem_buf(text, (int)len)) == NULL)
			goto out;
		pkey = PEM_read_bio_PUBKEY(bio, NULL, no_passphrase, NULL);
		BIO_free(bio);
	}
	if (pkey == NULL) {
		ERR_clear_error();
		e = FB_ERR_INVALID;
		goto out;
	}
	e = jwt_key_ed25519(pkey, out);
out:
	EVP_PKEY_free(pkey);	/* out holds its own reference */
	OPENSSL_cleanse(buf, sizeof(buf));
	return e;
}

void
jwt_key_free(struct jwt_key *key)
{
	if (key == NULL)
		return;
	if (key->secret != NULL) {
		OPENSSL_cleanse(key->secret, key->secret_len);
		free(key->secret);
	}
	EVP_MAC_CTX_free(key->hmac);
	EVP_PKEY_free(key->pkey);	/* wipes the private key itself */
	OPENSSL_cleanse(key, sizeof(*key));
}

/* True when key holds what signing needs (a secret, or a private key). */
static bool
key_can_sign(const struct jwt_key *key)
{
	size_t	len = 0;

	if (key->alg == JWT_HS256)
		return key->secret != NULL && key->secret_len >= JWT_HS256_MIN_KEY;
	if (key->pkey == NULL)
		return false;
	if (EVP_PKEY_get_raw_private_key(key->pkey, NULL, &len) != 1) {
		ERR_clear_error();
		return false;
	}
	return len > 0;
}

/* A kid from the configuration: 1..63 bytes of printable ASCII. */
static bool
kid_valid(const char *kid)
{
	size_t	i;

	for (i = 0; kid[i] != '\0'; i++)
		if (i >= JWT_KID_SIZE - 1 || kid[i] < 0x21 || kid[i] > 0x7e)
			return false;
	return i > 0;
}

/* Loads the key of one variable (a secret, or else a key file). */
static enum fb_err
load_key(const char *secret, const char *secret_var, const char *file,
    const char *file_var, struct jwt_key *key)
{
	enum fb_err	e;

	if (secret != NULL) {
		e = jwt_key_hs256(secret, strlen(secret), key);
		if (e == FB_ERR_INVALID)
			log_msg(FBLOG_ERROR, "jwt: %s must be at least %d bytes",
			    secret_var, JWT_HS256_MIN_KEY);
		return e;
	}
	e = jwt_key_ed25519_pem(file, NULL, key);
	if (e == FB_ERR_INVALID)
		log_msg(FBLOG_ERROR, "jwt: %s: %s holds no unencrypted Ed25519 "
		    "PEM key", file_var, file);
	return e;
}

enum fb_err
jwt_keyring_load(const struct config *cfg, struct jwt_keyring *out)
{
	enum fb_err	e = FB_ERR_INVALID;

	memset(out, 0, sizeof(*out));
	if (cfg->jwt_secret != NULL && cfg->jwt_private_key_file != NULL) {
		log_msg(FBLOG_ERROR, "jwt: set JWT_SECRET or "
		    "JWT_PRIVATE_KEY_FILE, not both");
		goto fail;
	}
	if (cfg->jwt_secret == NULL && cfg->jwt_private_key_file == NULL) {
		log_msg(FBLOG_ERROR, "jwt: no signing key: set JWT_SECRET or "
		    "JWT_PRIVATE_KEY_FILE");
		goto fail;
	}
	if ((e = load_key(cfg->jwt_secret, "JWT_SECRET",
	    cfg->jwt_private_key_file, "JWT_PRIVATE_KEY_FILE",
	    &out->current)) != FB_OK)
		goto fail;
	if (!key_can_sign(&out->current)) {
		log_msg(FBLOG_ERROR, "jwt: JWT_PRIVATE_KEY_FILE holds a public "
		    "key; signing needs the private key");
		e = FB_ERR_INVALID;
		goto fail;
	}
	if (cfg->jwt_kid != NULL) {
		if (!kid_valid(cfg->jwt_kid)) {
			log_msg(FBLOG_ERROR, "jwt: JWT_KID must be 1 to %d "
			    "printable ASCII characters", JWT_KID_SIZE - 1);
			e = FB_ERR_INVALID;
			goto fail;
		}
		/* Fits: kid_valid bounds it to JWT_KID_SIZE - 1 bytes. */
		memcpy(out->current.kid, cfg->jwt_kid, strlen(cfg->jwt_kid) + 1);
	}

	if (cfg->jwt_previous_secret == NULL && cfg->jwt_previous_key_file == NULL)
		return FB_OK;
	e = FB_ERR_INVALID;
	if (cfg->jwt_previous_secret != NULL && cfg->jwt_previous_key_file != NULL) {
		log_msg(FBLOG_ERROR, "jwt: set JWT_PREVIOUS_SECRET or "
		    "JWT_PREVIOUS_KEY_FILE, not both");
		goto fail;
	}
	if ((cfg->jwt_previous_secret != NULL) != (out->current.alg == JWT_HS256)) {
		log_msg(FBLOG_ERROR, "jwt: the previous key must be of the "
		    "current key's algorithm (%s: %s)",
		    alg_name(out->current.alg), out->current.alg == JWT_HS256 ?
		    "JWT_PREVIOUS_SECRET" : "JWT_PREVIOUS_KEY_FILE");
		goto fail;
	}
	if ((e = load_key(cfg->jwt_previous_secret, "JWT_PREVIOUS_SECRET",
	    cfg->jwt_previous_key_file, "JWT_PREVIOUS_KEY_FILE",
	    &out->previous)) != FB_OK)
		goto fail;
	out->has_previous = true;
	return FB_OK;
fail:
	jwt_keyring_free(out);
	return e;
}

void
jwt_keyring_free(struct jwt_keyring *k)
{
	if (k == NULL)
		return;
	jwt_key_free(&k->current);
	jwt_key_free(&k->previous);
	k->has_previous = false;
}

/* Appends the public JWK of an EdDSA key to keys. */
static enum fb_err
jwks_add(json_t *keys, const struct jwt_key *key)
{
	unsigned char	 pub[ED25519_KEY_LEN];
	char		 x[B64URL_ENCODED_SIZE(ED25519_KEY_LEN)];
	json_t		*jwk;

	if (key->alg != JWT_EDDSA || key->pkey == NULL)
		return FB_OK;
	if (ed25519_public(key->pkey, pub) != FB_OK)
		return FB_ERR_INTERNAL;
	b64url_encode(pub, sizeof(pub), x);
	jwk = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "kty", "OKP",
	    "crv", "Ed25519", "x", x, "kid", key->kid, "alg", "EdDSA",
	    "use", "sig");
	if (jwk == NULL || json_array_append_new(keys, jwk) != 0)
		return FB_ERR_NOMEM;
	return FB_OK;
}

json_t *
jwt_jwks(const struct jwt_keyring *k)
{
	json_t	*doc, *keys;

	if ((keys = json_array()) == NULL)
		goto fail;
	if (jwks_add(keys, &k->current) != FB_OK ||
	    (k->has_previous && jwks_add(keys, &k->previous) != FB_OK)) {
		json_decref(keys);
		goto fail;
	}
	if ((doc = json_pack("{s:o}", "keys", keys)) == NULL)	/* steals keys */
		goto fail;
	return doc;
fail:
	log_msg(FBLOG_ERROR, "jwt: cannot build the JWKS");
	return NULL;
}

/* HMAC-SHA-256 of data with the key's secret into mac[HS256_MAC_LEN]. */
static enum fb_err
hs256(const struct jwt_key *key, const void *data, size_t len,
    unsigned char mac[HS256_MAC_LEN])
{
	size_t	maclen = 0;

	if (key->hmac == NULL || EVP_MAC_init(key->hmac, NULL, 0, NULL) != 1 ||
	    EVP_MAC_update(key->hmac, data, len) != 1 ||
	    EVP_MAC_final(key->hmac, mac, &maclen, HS256_MAC_LEN) != 1 ||
	    maclen != HS256_MAC_LEN) {
		log_msg(FBLOG_ERROR, "jwt: HMAC-SHA-256 failed");
		ERR_clear_error();
		return FB_ERR_INTERNAL;
	}
	return FB_OK;
}

/* Signs data into sig (ED25519_SIG_LEN bytes of room); *siglen its size. */
static enum fb_err
sign_bytes(const struct jwt_key *key, const char *data, size_t len,
    unsigned char sig[ED25519_SIG_LEN], size_t *siglen)
{
	EVP_MD_CTX	*ctx;
	enum fb_err	 e;

	if (!key_can_sign(key)) {
		log_msg(FBLOG_ERROR, "jwt: the key cannot sign (no secret or "
		    "private key)");
		return FB_ERR_INVALID;
	}
	if (key->alg == JWT_HS256) {
		*siglen = HS256_MAC_LEN;
		return hs256(key, data, len, sig);
	}
	if ((ctx = EVP_MD_CTX_new()) == NULL) {
		log_msg(FBLOG_ERROR, "jwt: EVP_MD_CTX_new failed");
		return FB_ERR_NOMEM;
	}
	*siglen = ED25519_SIG_LEN;
	/* Ed25519 is one-shot: no digest, EVP_DigestSign (RFC 8032 §5.1.6). */
	if (EVP_DigestSignInit(ctx, NULL, NULL, NULL, key->pkey) != 1 ||
	    EVP_DigestSign(ctx, sig, siglen, (const unsigned char *)data,
	    len) != 1 || *siglen != ED25519_SIG_LEN) {
		log_msg(FBLOG_ERROR, "jwt: Ed25519 signing failed");
		ERR_clear_error();
		e = FB_ERR_INTERNAL;
	} else
		e = FB_OK;
	EVP_MD_CTX_free(ctx);
	return e;
}

enum fb_err
jwt_sign_raw(const struct jwt_key *key, const char *header_json,
    const char *payload_json, char **out)
{
	unsigned char	 sig[ED25519_SIG_LEN];
	size_t		 hlen, plen, size, o, siglen = 0;
	char		*tok = NULL;
	enum fb_err	 e = FB_ERR_TOOBIG;

	*out = NULL;
	if (key == NULL || header_json == NULL || payload_json == NULL)
		return FB_ERR_INVALID;
	hlen = strnlen(header_json, JWT_MAX_TOKEN + 1);
	plen = strnlen(payload_json, JWT_MAX_TOKEN + 1);
	/* Bounded first, so the sizes below cannot overflow. */
	if (hlen > JWT_MAX_TOKEN || plen > JWT_MAX_TOKEN)
		goto fail;
	size = B64URL_ENCODED_SIZE(hlen) + B64URL_ENCODED_SIZE(plen) +
	    B64URL_ENCODED_SIZE(ED25519_SIG_LEN);	/* two dots, one NUL */
	if ((tok = malloc(size)) == NULL) {
		log_msg(FBLOG_ERROR, "jwt: out of memory");
		e = FB_ERR_NOMEM;
		goto fail;
	}
	o = b64url_encode(header_json, hlen, tok);
	tok[o++] = '.';
	o += b64url_encode(payload_json, plen, tok + o);
	if ((e = sign_bytes(key, tok, o, sig, &siglen)) != FB_OK)
		goto fail;
	tok[o++] = '.';
	o += b64url_encode(sig, siglen, tok + o);
	/* Never issue what jwt_verify() would refuse. */
	if (o > JWT_MAX_TOKEN) {
		e = FB_ERR_TOOBIG;
		goto fail;
	}
	*out = tok;
	return FB_OK;
fail:
	if (e == FB_ERR_TOOBIG)
		log_msg(FBLOG_ERROR, "jwt: token would exceed %d bytes",
		    JWT_MAX_TOKEN);
	free(tok);
	return e;
}

enum fb_err
jwt_sign(const struct jwt_keyring *k, json_t *claims, char **out)
{
	json_t		*header;
	char		*htext = NULL, *ptext = NULL;
	enum fb_err	 e = FB_ERR_NOMEM;

	*out = NULL;
	if (!json_is_object(claims)) {
		log_msg(FBLOG_ERROR, "jwt: claims must be a JSON object");
		return FB_ERR_INVALID;
	}
	if (k->current.kid[0] != '\0')
		header = json_pack("{s:s, s:s, s:s}", "alg",
		    alg_name(k->current.alg), "typ", "JWT", "kid", k->current.kid);
	else
		header = json_pack("{s:s, s:s}", "alg",
		    alg_name(k->current.alg), "typ", "JWT");
	if (header == NULL ||
	    (htext = json_dumps(header, JSON_COMPACT)) == NULL ||
	    (ptext = json_dumps(claims, JSON_COMPACT)) == NULL) {
		log_msg(FBLOG_ERROR, "jwt: cannot serialize the token");
		goto out;
	}
	e = jwt_sign_raw(&k->current, htext, ptext, out);
out:
	json_decref(header);
	free(htext);
	free(ptext);
	return e;
}

/*
 * Decodes one base64url part into a JSON object. Duplicate names are
 * refused (RFC 7515 §5.2 allows it, and it closes parser-differential
 * tricks); jansson also refuses invalid UTF-8 and \u0000.
 */
static enum fb_err
decode_object(const char *s, size_t len, json_t **out, const char *what)
{
	unsigned char	 dec[PART_MAX];
	size_t		 n = 0;
	json_error_t	 jerr;
	json_t		*j;
	char		 why[64];

	*out = NULL;
	if (b64url_decode(s, len, dec, sizeof(dec), &n) != FB_OK) {
		snprintf(why, sizeof(why), "%s is not base64url", what);
		return refuse(why);
	}
	/* jerr is not logged: its text quotes the unauthenticated input. */
	if ((j = json_loadb((const char *)dec, n, JSON_REJECT_DUPLICATES,
	    &jerr)) == NULL) {
		snprintf(why, sizeof(why), "%s is not JSON (or repeats a name)", what);
		return refuse(why);
	}
	if (!json_is_object(j)) {
		json_decref(j);
		snprintf(why, sizeof(why), "%s is not a JSON object", what);
		return refuse(why);
	}
	*out = j;
	return FB_OK;
}

/* True when s[0..len) could be base64url: its alphabet, a possible length. */
static bool
b64url_form(const char *s, size_t len)
{
	size_t	i;

	for (i = 0; i < len; i++)
		if (!((s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= 'a' && s[i] <= 'z') ||
		    (s[i] >= '0' && s[i] <= '9') || s[i] == '-' || s[i] == '_'))
			return false;
	return len % 4 != 1;
}

/*
 * Cuts token into its parts and checks the header against alg (RFC 8725
 * §3.1: the algorithm is the key's, never the token's). On success j->header
 * is the caller's to decref.
 */
static enum fb_err
jws_parse(const char *token, enum jwt_alg alg, struct jws *j)
{
	const char	*d1, *d2, *end;
	json_t		*v;
	size_t		 len;
	enum fb_err	 e;

	memset(j, 0, sizeof(*j));
	if (token == NULL)
		return refuse("no token");
	if ((len = strnlen(token, JWT_MAX_TOKEN + 1)) > JWT_MAX_TOKEN)
		return refuse("too long");
	end = token + len;
	if ((d1 = memchr(token, '.', len)) == NULL ||
	    (d2 = memchr(d1 + 1, '.', (size_t)(end - d1 - 1))) == NULL)
		return refuse("fewer than three parts");
	if (memchr(d2 + 1, '.', (size_t)(end - d2 - 1)) != NULL)
		return refuse("more than three parts");
	j->hdr = token;
	j->hdr_len = (size_t)(d1 - token);
	j->pay = d1 + 1;
	j->pay_len = (size_t)(d2 - d1 - 1);
	j->sig = d2 + 1;
	j->sig_len = (size_t)(end - d2 - 1);
	if (j->hdr_len == 0 || j->pay_len == 0 || j->sig_len == 0)
		return refuse("empty part");
	/* The payload is decoded only once authentic; its form is checked now. */
	if (!b64url_form(j->pay, j->pay_len))
		return refuse("payload is not base64url");

	if ((e = decode_object(j->hdr, j->hdr_len, &j->header, "header")) != FB_OK)
		return e;
	v = json_object_get(j->header, "alg");
	if (!json_is_string(v) || strcmp(json_string_value(v), alg_name(alg)) != 0) {
		e = refuse("alg is not the key's");
		goto fail;
	}
	/* RFC 7515 §4.1.11: an extension we must understand; we know none. */
	if (json_object_get(j->header, "crit") != NULL) {
		e = refuse("crit header");
		goto fail;
	}
	/* RFC 7519 §5.1; explicit typing keeps other token kinds out (RFC 8725 §3.11). */
	v = json_object_get(j->header, "typ");
	if (v != NULL && (!json_is_string(v) ||
	    strcasecmp(json_string_value(v), "JWT") != 0)) {
		e = refuse("typ is not JWT");
		goto fail;
	}
	v = json_object_get(j->header, "kid");
	if (v != NULL && !json_is_string(v)) {
		e = refuse("kid is not a string");
		goto fail;
	}
	j->kid = json_string_value(v);
	return FB_OK;
fail:
	json_decref(j->header);
	j->header = NULL;
	return e;
}

/* Checks the signature of the parsed token j with key. */
static enum fb_err
jws_check(const struct jwt_key *key, const struct jws *j)
{
	unsigned char	 sig[ED25519_SIG_LEN], mac[HS256_MAC_LEN];
	size_t		 siglen = 0, tbslen;
	EVP_MD_CTX	*ctx;
	enum fb_err	 e;
	int		 rc;

	/* The signing input is the first two parts with their dot. */
	tbslen = j->hdr_len + 1 + j->pay_len;
	if (b64url_decode(j->sig, j->sig_len, sig, sizeof(sig), &siglen) != FB_OK)
		return refuse("signature is not base64url");

	if (key->alg == JWT_HS256) {
		if (key->secret == NULL)
			return refuse("no secret");
		if (siglen != HS256_MAC_LEN)
			return refuse("signature length");
		if ((e = hs256(key, j->hdr, tbslen, mac)) != FB_OK)
			return e;
		rc = CRYPTO_memcmp(mac, sig, HS256_MAC_LEN);
		OPENSSL_cleanse(mac, sizeof(mac));
		return rc == 0 ? FB_OK : refuse("bad signature");
	}

	if (key->pkey == NULL)
		return refuse("no public key");
	if (siglen != ED25519_SIG_LEN)
		return refuse("signature length");
	if ((ctx = EVP_MD_CTX_new()) == NULL) {
		log_msg(FBLOG_ERROR, "jwt: EVP_MD_CTX_new failed");
		return FB_ERR_NOMEM;
	}
	if (EVP_DigestVerifyInit(ctx, NULL, NULL, NULL, key->pkey) != 1) {
		log_msg(FBLOG_ERROR, "jwt: EVP_DigestVerifyInit failed");
		e = FB_ERR_INTERNAL;
	} else if (EVP_DigestVerify(ctx, sig, siglen,
	    (const unsigned char *)j->hdr, tbslen) != 1)
		e = refuse("bad signature");
	else
		e = FB_OK;
	ERR_clear_error();
	EVP_MD_CTX_free(ctx);
	return e;
}

enum fb_err
jwt_verify_signature(const struct jwt_key *key, const char *token)
{
	struct jws	j;
	enum fb_err	e;

	if (key == NULL)
		return FB_ERR_INVALID;
	if ((e = jws_parse(token, key->alg, &j)) != FB_OK)
		return e;
	e = jws_check(key, &j);
	json_decref(j.header);
	return e;
}

/* A NumericDate (RFC 7519 §2): any JSON number, seconds since the epoch. */
static bool
numeric_date(const json_t *claims, const char *name, double *out)
{
	const json_t	*v = json_object_get(claims, name);

	if (!json_is_number(v))
		return false;
	*out = json_number_value(v);
	return true;
}

/* RFC 7519 §4.1: iss, aud, exp, nbf, iat against e at time now. */
static enum fb_err
check_claims(const json_t *claims, const struct jwt_expect *e, time_t now)
{
	const json_t	*v, *a;
	double		 t, lo, hi;
	long		 leeway = e->leeway_seconds > 0 ? e->leeway_seconds : 0;
	size_t		 i;
	bool		 found = false;

	v = json_object_get(claims, "iss");
	if (!json_is_string(v) || strcmp(json_string_value(v), e->issuer) != 0)
		return refuse("iss");
	/* §4.1.3: a string, or an array of strings one of which is ours. */
	v = json_object_get(claims, "aud");
	if (json_is_string(v))
		found = strcmp(json_string_value(v), e->audience) == 0;
	else if (json_is_array(v)) {
		json_array_foreach(v, i, a) {
			if (!json_is_string(a))
				return refuse("aud holds a non-string");
			if (strcmp(json_string_value(a), e->audience) == 0)
				found = true;
		}
	}
	if (!found)
		return refuse("aud");

	lo = (double)now - (double)leeway;
	hi = (double)now + (double)leeway;
	if (json_object_get(claims, "exp") == NULL)
		return refuse("no exp");
	if (!numeric_date(claims, "exp", &t))
		return refuse("exp is not a number");
	if (!(t > lo))
		return refuse("expired");
	if (json_object_get(claims, "nbf") != NULL &&
	    (!numeric_date(claims, "nbf", &t) || !(t <= hi)))
		return refuse("nbf");
	if (json_object_get(claims, "iat") != NULL &&
	    (!numeric_date(claims, "iat", &t) || !(t <= hi)))
		return refuse("iat");
	return FB_OK;
}

enum fb_err
jwt_verify(const struct jwt_keyring *k, const char *token,
    const struct jwt_expect *e, json_t **claims)
{
	struct jws	 j;
	json_t		*payload = NULL;
	enum fb_err	 rc;
	bool		 tried = false;

	*claims = NULL;
	if (k == NULL || e == NULL || e->issuer == NULL || e->audience == NULL) {
		log_msg(FBLOG_ERROR, "jwt: jwt_verify without key ring, "
		    "issuer or audience");
		return FB_ERR_INTERNAL;
	}
	if ((rc = jws_parse(token, k->current.alg, &j)) != FB_OK)
		return rc;

	/* The key by kid; a kid may name both when they share it. */
	rc = FB_ERR_INVALID;
	if (j.kid == NULL || strcmp(j.kid, k->current.kid) == 0) {
		tried = true;
		rc = jws_check(&k->current, &j);
	}
	if (rc != FB_OK && j.kid != NULL && k->has_previous &&
	    strcmp(j.kid, k->previous.kid) == 0) {
		tried = true;
		rc = jws_check(&k->previous, &j);
	}
	if (!tried)
		rc = refuse("unknown kid");
	if (rc != FB_OK)
		goto out;

	/* Authentic from here on: the payload may be looked at. */
	if ((rc = decode_object(j.pay, j.pay_len, &payload, "payload")) != FB_OK)
		goto out;
	if ((rc = check_claims(payload, e, e->now != 0 ? e->now : time(NULL))) != FB_OK)
		goto out;
	*claims = payload;
	payload = NULL;
out:
	json_decref(payload);
	json_decref(j.header);
	return rc;
}
