/*
 * test_jwt — signed access tokens: the RFC 7515 A.1 (HS256) and RFC 8037
 * A.4 (Ed25519) vectors, key constructors and key rings from configuration,
 * round trips, every forgery we know of beside the honest token it is made
 * from (alg none, key confusion, wrong alg/key/kid, tampering, spliced
 * signatures, malformed forms), the time and audience claims, key rotation
 * and the JWKS document.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>

#include "b64.h"
#include "config.h"
#include "jwt.h"
#include "tap.h"

#define NOW	1700000000L		/* the clock of every claims test */
#define ISS	"https://api.example.test"
#define AUD	"fastback"
#define SECRET_A "secret-A-0123456789abcdef0123456789"	/* > 32 bytes */
#define SECRET_B "secret-B-0123456789abcdef0123456789"

/* RFC 7515 Appendix A.1. */
#define A1_K	"AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow"
#define A1_HDR	"{\"typ\":\"JWT\",\r\n \"alg\":\"HS256\"}"
#define A1_PAY	"{\"iss\":\"joe\",\r\n \"exp\":1300819380,\r\n \"http://example.com/is_root\":true}"
#define A1_JWS	"eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9" \
		".eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ" \
		".dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"

/* RFC 8037 Appendices A.1 and A.4. */
#define A4_D	"nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A"
#define A4_X	"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"
#define A4_HDR	"{\"alg\":\"EdDSA\"}"
#define A4_PAY	"Example of Ed25519 signing"
#define A4_JWS	"eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc" \
		".hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0KAg"

static const struct jwt_expect expect = { ISS, AUD, 30, NOW };

/* Fixtures shared by the tests: two Ed25519 PEM files, public and private. */
static struct {
	char	*priv1, *priv2;		/* private key files */
	char	*pub1;			/* the public half of priv1 */
	char	*pub1_pem;		/* its text */
} fx;

/* ---- helpers ---- */

/*
 * Expected failures log at error level: QUIET(expr) evaluates expr with
 * stderr (fd 2, where log lines go) sent to a temporary file, and keeps
 * what was written in logged[] for the test to look at.
 */
static struct {
	FILE	*tmp;
	int	 saved;
	long	 rc;
} quiet;
static char	logged[8192];

static void
quiet_begin(void)
{
	fflush(stderr);
	if ((quiet.tmp = tmpfile()) == NULL || (quiet.saved = dup(2)) < 0 ||
	    dup2(fileno(quiet.tmp), 2) < 0)
		bail_out("capture stderr");
}

static void
quiet_end(void)
{
	size_t	n;

	fflush(stderr);
	if (dup2(quiet.saved, 2) < 0)
		bail_out("restore stderr");
	close(quiet.saved);
	rewind(quiet.tmp);
	n = fread(logged, 1, sizeof(logged) - 1, quiet.tmp);
	logged[n] = '\0';
	fclose(quiet.tmp);
}

#define QUIET(x)	(quiet_begin(), quiet.rc = (long)(x), quiet_end(), quiet.rc)

static unsigned char *
unb64(const char *s, size_t *len)
{
	unsigned char	*out;

	if ((out = malloc(strlen(s) + 1)) == NULL)
		bail_out("malloc");
	if (b64url_decode(s, strlen(s), out, strlen(s) + 1, len) != FB_OK)
		bail_out("bad base64url in a test vector: %s", s);
	return out;
}

static char *
b64(const void *data, size_t len)
{
	char	*out;

	if ((out = malloc(B64URL_ENCODED_SIZE(len))) == NULL)
		bail_out("malloc");
	b64url_encode(data, len, out);
	return out;
}

/* A token assembled from texts: b64(header) "." b64(payload) "." sig. */
static char *
mk(const char *header, const char *payload, const char *sig)
{
	char	*h = b64(header, strlen(header)), *p = b64(payload, strlen(payload));
	char	*t;

	if (asprintf(&t, "%s.%s.%s", h, p, sig) < 0)
		bail_out("asprintf");
	free(h);
	free(p);
	return t;
}

/* Signs header and payload texts with key; bails out on failure. */
static char *
sign_raw(const struct jwt_key *key, const char *header, const char *payload)
{
	char	*t;

	if (jwt_sign_raw(key, header, payload, &t) != FB_OK)
		bail_out("jwt_sign_raw failed");
	return t;
}

/* Part i (0..2) of token, decoded, as a malloc'd string. */
static char *
part(const char *token, int i)
{
	const char	*s = token, *e;
	unsigned char	*out;
	size_t		 n;

	for (; i > 0; i--)
		s = strchr(s, '.') + 1;
	e = strchr(s, '.');
	n = e != NULL ? (size_t)(e - s) : strlen(s);
	if ((out = malloc(n + 1)) == NULL)
		bail_out("malloc");
	if (b64url_decode(s, n, out, n, &n) != FB_OK)
		bail_out("part is not base64url");
	out[n] = '\0';
	return (char *)out;
}

/* token with part i replaced by the encoding of text. */
static char *
swap_part(const char *token, int i, const char *text)
{
	const char	*d1 = strchr(token, '.'), *d2 = strchr(d1 + 1, '.');
	char		*enc = b64(text, strlen(text)), *t;
	int		 r;

	if (i == 0)
		r = asprintf(&t, "%s%s", enc, d1);
	else if (i == 1)
		r = asprintf(&t, "%.*s.%s%s", (int)(d1 - token), token, enc, d2);
	else
		r = asprintf(&t, "%.*s.%s", (int)(d2 - token), token, enc);
	if (r < 0)
		bail_out("asprintf");
	free(enc);
	return t;
}

/* The first two parts of token with the signature of donor. */
static char *
splice_sig(const char *token, const char *donor)
{
	char	*t;

	if (asprintf(&t, "%.*s%s", (int)(strrchr(token, '.') - token), token,
	    strrchr(donor, '.')) < 0)
		bail_out("asprintf");
	return t;
}

/* Claims text valid at NOW, with extra members appended (may be ""). */
static char *
claims_text(const char *extra)
{
	char	*t;

	if (asprintf(&t, "{\"iss\":\"" ISS "\",\"aud\":\"" AUD "\",\"sub\":\"u1\","
	    "\"iat\":%ld,\"exp\":%ld%s}", NOW, NOW + 600, extra) < 0)
		bail_out("asprintf");
	return t;
}

static json_t *
claims_obj(long exp_delta)
{
	json_t	*c;

	c = json_pack("{s:s, s:s, s:s, s:s, s:I, s:I, s:[s]}", "iss", ISS,
	    "aud", AUD, "sub", "user-1", "sid", "session-9", "iat",
	    (json_int_t)NOW, "exp", (json_int_t)(NOW + exp_delta), "amr", "pwd");
	if (c == NULL)
		bail_out("json_pack");
	return c;
}

/*
 * jwt_verify against ring, freeing the claims; returns its status. It runs
 * at debug level with stderr captured, so logged[] holds why a token was
 * refused.
 */
static enum fb_err
verify(const struct jwt_keyring *r, const char *token, const struct jwt_expect *e)
{
	json_t		*c = (json_t *)0x1;
	enum fb_err	 rc;

	log_setup("test_jwt", FBLOG_DEBUG);
	rc = (enum fb_err)QUIET(jwt_verify(r, token, e, &c));
	log_setup("test_jwt", FBLOG_ERROR);
	if (rc != FB_OK && c != NULL)
		diag("claims not NULL after a refusal");
	json_decref(c);
	return rc;
}

/*
 * One test: token is refused (FB_ERR_INVALID) for the reason why (a part of
 * the debug line), and the log holds no part of the token.
 */
static bool
refused(const struct jwt_keyring *r, const char *token,
    const struct jwt_expect *e, const char *why, const char *name)
{
	enum fb_err	 rc = verify(r, token, e);
	const char	*sig = token != NULL ? strrchr(token, '.') : NULL;
	bool		 leaked;

	leaked = sig != NULL && strlen(sig) > 8 && strstr(logged, sig + 1) != NULL;
	if (ok(rc == FB_ERR_INVALID && strstr(logged, why) != NULL && !leaked,
	    "%s: refused (%s)", name, why))
		return true;
	diag("status %s, logged: %s%s", fb_strerror(rc), logged,
	    leaked ? " (the token leaked into the log)" : "");
	return false;
}

static char *
temp_file(const char *text)
{
	const char	*dir = getenv("TMPDIR");
	char		*path;
	int		 fd;
	size_t		 len = strlen(text);

	if (dir == NULL || *dir == '\0')
		dir = "/tmp";
	if (asprintf(&path, "%s/fastback-test-jwt-XXXXXX", dir) < 0)
		bail_out("asprintf");
	if ((fd = mkstemp(path)) < 0)
		bail_out("mkstemp %s", path);
	if (write(fd, text, len) != (ssize_t)len)
		bail_out("write %s", path);
	close(fd);
	return path;
}

/* PEM text of pkey (private when is_private, else its public half). */
static char *
pem_of(EVP_PKEY *pkey, bool is_private)
{
	BIO	*bio;
	char	*data, *out;
	long	 n;
	int	 r;

	if ((bio = BIO_new(BIO_s_mem())) == NULL)
		bail_out("BIO_new");
	r = is_private ? PEM_write_bio_PrivateKey(bio, pkey, NULL, NULL, 0, NULL, NULL) :
	    PEM_write_bio_PUBKEY(bio, pkey);
	if (r != 1)
		bail_out("PEM_write");
	n = BIO_get_mem_data(bio, &data);
	/* Not strndup: the BIO's data has no NUL for it to look for. */
	if (n < 0 || (out = malloc((size_t)n + 1)) == NULL)
		bail_out("malloc");
	memcpy(out, data, (size_t)n);
	out[n] = '\0';
	BIO_free(bio);
	return out;
}

static void
fixtures_make(void)
{
	EVP_PKEY	*k1, *k2;
	char		*pem;

	if ((k1 = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519")) == NULL ||
	    (k2 = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519")) == NULL)
		bail_out("EVP_PKEY_Q_keygen");
	pem = pem_of(k1, true);
	fx.priv1 = temp_file(pem);
	free(pem);
	pem = pem_of(k2, true);
	fx.priv2 = temp_file(pem);
	free(pem);
	fx.pub1_pem = pem_of(k1, false);
	fx.pub1 = temp_file(fx.pub1_pem);
	EVP_PKEY_free(k1);
	EVP_PKEY_free(k2);
}

static void
fixtures_free(void)
{
	char	**p[] = { &fx.priv1, &fx.priv2, &fx.pub1 };
	size_t	  i;

	for (i = 0; i < sizeof(p) / sizeof(p[0]); i++) {
		unlink(*p[i]);
		free(*p[i]);
	}
	free(fx.pub1_pem);
}

/* A clean environment for config_load: only what the tests set. */
static void
env_reset(void)
{
	static const char *const vars[] = {
		"FASTBACK_CONFIG", "JWT_SECRET", "JWT_PRIVATE_KEY_FILE",
		"JWT_ISSUER", "JWT_AUDIENCE", "JWT_KID", "JWT_PREVIOUS_SECRET",
		"JWT_PREVIOUS_KEY_FILE", "PUBLIC_URL",
	};
	size_t	i;

	for (i = 0; i < sizeof(vars) / sizeof(vars[0]); i++)
		unsetenv(vars[i]);
	setenv("DATABASE_URL", "postgresql://x@127.0.0.1:1/x", 1);
	setenv("JWT_ISSUER", ISS, 1);
	setenv("JWT_AUDIENCE", AUD, 1);
}

static void
env_set(const char *name, const char *value)
{
	if (value != NULL)
		setenv(name, value, 1);
}

/*
 * A ring through config_load + jwt_keyring_load, as the servers build it.
 * Arguments are the variables' values (NULL: unset).
 */
static enum fb_err
ring_env(struct jwt_keyring *r, const char *secret, const char *keyfile,
    const char *prev_secret, const char *prev_file, const char *kid)
{
	struct config	 c;
	FILE		*f;
	char		*errs = NULL;
	size_t		 len;
	enum fb_err	 e;
	int		 n;

	env_reset();
	env_set("JWT_SECRET", secret);
	env_set("JWT_PRIVATE_KEY_FILE", keyfile);
	env_set("JWT_PREVIOUS_SECRET", prev_secret);
	env_set("JWT_PREVIOUS_KEY_FILE", prev_file);
	env_set("JWT_KID", kid);
	if ((f = open_memstream(&errs, &len)) == NULL)
		bail_out("open_memstream");
	n = config_load(&c, NULL, f);
	fclose(f);
	if (n != 0) {
		diag("config_load: %s", errs);
		free(errs);
		memset(r, 0, sizeof(*r));
		return FB_ERR_INVALID;
	}
	free(errs);
	e = jwt_keyring_load(&c, r);
	config_free(&c);
	return e;
}

/* A ring from a config struct filled by hand (no other field is read). */
static enum fb_err
ring_cfg(struct jwt_keyring *r, const char *secret, const char *keyfile,
    const char *prev_secret, const char *prev_file, const char *kid)
{
	struct config	c;

	memset(&c, 0, sizeof(c));
	c.jwt_secret = (char *)(uintptr_t)secret;
	c.jwt_private_key_file = (char *)(uintptr_t)keyfile;
	c.jwt_previous_secret = (char *)(uintptr_t)prev_secret;
	c.jwt_previous_key_file = (char *)(uintptr_t)prev_file;
	c.jwt_kid = (char *)(uintptr_t)kid;
	return QUIET(jwt_keyring_load(&c, r));
}

/* The fixtures' rings must load: nothing else can be tested without them. */
static void
ring_ok(enum fb_err e, const char *what)
{
	if (!is_int(e, FB_OK, "ring: %s", what))
		bail_out("cannot go on without the ring of %s", what);
}

/* ---- RFC vectors ---- */

static void
test_rfc7515_a1(void)
{
	struct jwt_key	 key, other;
	unsigned char	*k;
	size_t		 klen;
	char		*t, *bad;

	k = unb64(A1_K, &klen);
	is_int(klen, 64, "A.1: the JWK k is 64 bytes");
	is_int(jwt_key_hs256(k, klen, &key), FB_OK, "A.1: key from k");
	is_int(key.alg, JWT_HS256, "A.1: HS256 key");
	is_int(jwt_sign_raw(&key, A1_HDR, A1_PAY, &t), FB_OK, "A.1: signs");
	is_str(t, A1_JWS, "A.1: the RFC's exact JWS");
	free(t);
	is_int(jwt_verify_signature(&key, A1_JWS), FB_OK,
	    "A.1: the RFC's JWS verifies at the signature level");

	bad = strdup(A1_JWS);
	bad[strlen(bad) - 2] = bad[strlen(bad) - 2] == 'X' ? 'Y' : 'X';
	is_int(jwt_verify_signature(&key, bad), FB_ERR_INVALID,
	    "A.1: one signature character changed: refused");
	free(bad);

	k[0] ^= 1;
	is_int(jwt_key_hs256(k, klen, &other), FB_OK, "A.1: a key one bit off");
	is_int(jwt_verify_signature(&other, A1_JWS), FB_ERR_INVALID,
	    "A.1: a key one bit off does not verify");
	isnt_str(other.kid, key.kid, "A.1: and has another kid");
	jwt_key_free(&other);
	free(k);

	/* The claims level refuses it: exp is in 2011, and there is no aud. */
	{
		struct jwt_keyring	r;
		struct jwt_expect	e = { "joe", AUD, 0, 0 };

		memset(&r, 0, sizeof(r));
		r.current = key;
		refused(&r, A1_JWS, &e, "aud", "A.1: jwt_verify refuses it (no aud; exp in 2011)");
	}
	jwt_key_free(&key);
	jwt_key_free(&key);	/* twice is harmless */
	ok(key.secret == NULL && key.secret_len == 0, "A.1: freed key is zeroed");
}

static void
test_rfc8037_a4(void)
{
	EVP_PKEY	*priv, *pub;
	struct jwt_key	 key, vkey, pemkey, pubpem;
	unsigned char	*d, *x, raw[32];
	size_t		 dlen, xlen, rawlen = sizeof(raw);
	char		*t, *pem, *bad;

	d = unb64(A4_D, &dlen);
	x = unb64(A4_X, &xlen);
	if (dlen != 32 || xlen != 32)
		bail_out("RFC 8037 A.1 key sizes");
	priv = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, d, dlen);
	pub = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, x, xlen);
	if (priv == NULL || pub == NULL)
		bail_out("EVP_PKEY_new_raw_*_key");
	ok(EVP_PKEY_get_raw_public_key(priv, raw, &rawlen) == 1 && rawlen == 32 &&
	    memcmp(raw, x, 32) == 0, "A.1: d gives the RFC's x");

	is_int(jwt_key_ed25519(priv, &key), FB_OK, "A.4: key from the seed");
	is_int(jwt_sign_raw(&key, A4_HDR, A4_PAY, &t), FB_OK, "A.4: signs");
	is_str(t, A4_JWS, "A.4: the RFC's exact JWS (Ed25519 is deterministic)");
	free(t);
	is_int(jwt_key_ed25519(pub, &vkey), FB_OK, "A.4: key from x alone");
	is_int(jwt_verify_signature(&vkey, A4_JWS), FB_OK,
	    "A.4: verifies with the public key");
	is_int(jwt_verify_signature(&key, A4_JWS), FB_OK,
	    "A.4: verifies with the private key too");
	is_str(vkey.kid, key.kid, "A.4: public and private halves share the kid");
	is_int(QUIET(jwt_sign_raw(&vkey, A4_HDR, A4_PAY, &t)), FB_ERR_INVALID,
	    "A.4: a public key cannot sign");
	ok(t == NULL, "A.4: and *out is NULL");

	bad = strdup(A4_JWS);
	bad[strlen(bad) - 5] = bad[strlen(bad) - 5] == 'A' ? 'B' : 'A';
	is_int(jwt_verify_signature(&vkey, bad), FB_ERR_INVALID,
	    "A.4: a changed signature is refused");
	free(bad);
	bad = swap_part(A4_JWS, 1, "Example of Ed25519 signinG");
	is_int(jwt_verify_signature(&vkey, bad), FB_ERR_INVALID,
	    "A.4: a changed payload is refused");
	free(bad);
	is_int(jwt_verify_signature(&vkey, A1_JWS), FB_ERR_INVALID,
	    "A.4: an HS256 JWS is refused by an Ed25519 key");

	/* The same key through the PEM constructor. */
	pem = pem_of(priv, true);
	is_int(jwt_key_ed25519_pem(NULL, pem, &pemkey), FB_OK, "A.4: key from PEM text");
	is_str(pemkey.kid, key.kid, "A.4: same kid through PEM");
	is_int(jwt_sign_raw(&pemkey, A4_HDR, A4_PAY, &t), FB_OK, "A.4: PEM key signs");
	is_str(t, A4_JWS, "A.4: PEM key gives the RFC's JWS");
	free(t);
	free(pem);
	pem = pem_of(pub, false);
	is_int(jwt_key_ed25519_pem(NULL, pem, &pubpem), FB_OK, "A.4: public PEM");
	is_int(jwt_verify_signature(&pubpem, A4_JWS), FB_OK, "A.4: public PEM verifies");
	free(pem);

	jwt_key_free(&key);
	jwt_key_free(&vkey);
	jwt_key_free(&pemkey);
	jwt_key_free(&pubpem);
	EVP_PKEY_free(priv);
	EVP_PKEY_free(pub);
	free(d);
	free(x);
}

/* The kid derivation of the brief, computed here independently. */
static void
test_kid_derivation(void)
{
	struct jwt_key	 key;
	EVP_MD_CTX	*ctx;
	unsigned char	 md[32], *x;
	unsigned int	 mdlen;
	size_t		 xlen;
	char		 want[B64URL_ENCODED_SIZE(9)];
	EVP_PKEY	*pub;

	if ((ctx = EVP_MD_CTX_new()) == NULL ||
	    EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1 ||
	    EVP_DigestUpdate(ctx, "hs256:", 6) != 1 ||
	    EVP_DigestUpdate(ctx, SECRET_A, strlen(SECRET_A)) != 1 ||
	    EVP_DigestFinal_ex(ctx, md, &mdlen) != 1)
		bail_out("sha256");
	EVP_MD_CTX_free(ctx);
	b64url_encode(md, 9, want);
	is_int(jwt_key_hs256(SECRET_A, strlen(SECRET_A), &key), FB_OK, "kid: HS256 key");
	is_str(key.kid, want, "kid: HS256 kid is b64url(SHA-256(\"hs256:\" secret)[0..9))");
	is_int(strlen(key.kid), 12, "kid: 12 characters");
	jwt_key_free(&key);

	x = unb64(A4_X, &xlen);
	if (EVP_Digest(x, xlen, md, &mdlen, EVP_sha256(), NULL) != 1)
		bail_out("sha256");
	b64url_encode(md, 9, want);
	pub = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, x, xlen);
	is_int(jwt_key_ed25519(pub, &key), FB_OK, "kid: Ed25519 key");
	is_str(key.kid, want, "kid: EdDSA kid is b64url(SHA-256(public key)[0..9))");
	jwt_key_free(&key);
	EVP_PKEY_free(pub);
	free(x);
}

/* ---- constructors, bad input ---- */

static void
test_constructors_bad(void)
{
	struct jwt_key	 key;
	EVP_PKEY	*ed448, *ec;
	char		*pem, *path;
	BIO		*bio;
	char		*data;
	long		 n;

	is_int(jwt_key_hs256("0123456789abcdef0123456789abcde", 31, &key),
	    FB_ERR_INVALID, "hs256: 31 bytes refused");
	ok(key.secret == NULL, "hs256: nothing kept on failure");
	is_int(jwt_key_hs256(NULL, 40, &key), FB_ERR_INVALID, "hs256: NULL refused");
	is_int(jwt_key_hs256("0123456789abcdef0123456789abcdef", 32, &key), FB_OK,
	    "hs256: 32 bytes accepted");
	jwt_key_free(&key);

	is_int(jwt_key_ed25519_pem(NULL, NULL, &key), FB_ERR_INVALID,
	    "pem: neither path nor text refused");
	is_int(jwt_key_ed25519_pem(fx.priv1, fx.pub1_pem, &key), FB_ERR_INVALID,
	    "pem: both path and text refused");
	is_int(jwt_key_ed25519_pem(NULL, "-----BEGIN PRIVATE KEY-----\nnope\n"
	    "-----END PRIVATE KEY-----\n", &key), FB_ERR_INVALID, "pem: garbage refused");
	is_int(jwt_key_ed25519_pem(NULL, "", &key), FB_ERR_INVALID, "pem: empty refused");
	is_int(QUIET(jwt_key_ed25519_pem("/nonexistent/fastback-jwt.pem", NULL, &key)),
	    FB_ERR_IO, "pem: missing file is FB_ERR_IO");
	has_str(logged, "/nonexistent/fastback-jwt.pem", "pem: the log names the file");
	ok(key.pkey == NULL, "pem: nothing kept on failure");
	is_int(jwt_key_ed25519_pem(fx.priv1, NULL, &key), FB_OK, "pem: private file");
	jwt_key_free(&key);
	is_int(jwt_key_ed25519_pem(fx.pub1, NULL, &key), FB_OK, "pem: public file");
	jwt_key_free(&key);

	/* Other key types are not Ed25519. */
	ed448 = EVP_PKEY_Q_keygen(NULL, NULL, "ED448");
	ec = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	if (ed448 == NULL || ec == NULL)
		bail_out("keygen");
	is_int(jwt_key_ed25519(ed448, &key), FB_ERR_INVALID, "Ed448 key refused");
	is_int(jwt_key_ed25519(ec, &key), FB_ERR_INVALID, "P-256 key refused");
	is_int(jwt_key_ed25519(NULL, &key), FB_ERR_INVALID, "NULL key refused");
	pem = pem_of(ed448, true);
	is_int(jwt_key_ed25519_pem(NULL, pem, &key), FB_ERR_INVALID, "Ed448 PEM refused");
	free(pem);
	pem = pem_of(ec, false);
	is_int(jwt_key_ed25519_pem(NULL, pem, &key), FB_ERR_INVALID, "P-256 public PEM refused");
	free(pem);
	EVP_PKEY_free(ed448);
	EVP_PKEY_free(ec);

	/* An encrypted key fails without prompting for a passphrase. */
	if ((ec = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519")) == NULL ||
	    (bio = BIO_new(BIO_s_mem())) == NULL ||
	    PEM_write_bio_PKCS8PrivateKey(bio, ec, EVP_aes_256_cbc(), "pass", 4,
	    NULL, NULL) != 1)
		bail_out("encrypted PEM");
	n = BIO_get_mem_data(bio, &data);
	if (n < 0 || (pem = malloc((size_t)n + 1)) == NULL)
		bail_out("malloc");
	memcpy(pem, data, (size_t)n);
	pem[n] = '\0';
	has_str(pem, "ENCRYPTED", "an encrypted PEM was written");
	path = temp_file(pem);
	is_int(jwt_key_ed25519_pem(path, NULL, &key), FB_ERR_INVALID,
	    "encrypted PEM refused, no prompt");
	unlink(path);
	free(path);
	free(pem);
	BIO_free(bio);
	EVP_PKEY_free(ec);
}

/* ---- key rings from configuration ---- */

static void
test_ring_hs256(void)
{
	struct jwt_keyring	 r;
	struct jwt_key		 k;
	json_t			*c, *got = NULL;
	char			*t = NULL, *hdr;

	ring_ok(ring_env(&r, SECRET_A, NULL, NULL, NULL, NULL), "HS256 from env");
	is_int(r.current.alg, JWT_HS256, "HS256 ring: alg");
	ok(!r.has_previous, "HS256 ring: no previous key");
	ok(r.current.secret_len == strlen(SECRET_A) &&
	    memcmp(r.current.secret, SECRET_A, strlen(SECRET_A)) == 0,
	    "HS256 ring: the key is the raw bytes of JWT_SECRET");
	jwt_key_hs256(SECRET_A, strlen(SECRET_A), &k);
	is_str(r.current.kid, k.kid, "HS256 ring: kid derived");
	jwt_key_free(&k);

	c = claims_obj(900);
	is_int(jwt_sign(&r, c, &t), FB_OK, "HS256: jwt_sign");
	hdr = part(t, 0);
	ok(strncmp(hdr, "{\"alg\":\"HS256\",\"typ\":\"JWT\",\"kid\":\"", 34) == 0,
	    "HS256: header alg, typ, kid in order");
	has_str(hdr, r.current.kid, "HS256: header carries the kid");
	free(hdr);
	is_int(jwt_verify(&r, t, &expect, &got), FB_OK, "HS256: round trip verifies");
	ok(json_equal(got, c), "HS256: the claims come back unchanged");
	is_str(json_string_value(json_object_get(got, "sub")), "user-1", "HS256: sub");
	json_decref(got);
	/* Any JWT library given the same string verifies: the key is the bytes. */
	is_int(jwt_key_hs256(SECRET_A, strlen(SECRET_A), &k), FB_OK, "HS256: bare key");
	is_int(jwt_verify_signature(&k, t), FB_OK, "HS256: verifies with the bare string");
	jwt_key_free(&k);
	free(t);
	json_decref(c);

	c = json_pack("[i]", 1);
	t = (char *)0x1;
	is_int(QUIET(jwt_sign(&r, c, &t)), FB_ERR_INVALID, "jwt_sign: claims not an object");
	ok(t == NULL, "jwt_sign: *out NULL on failure");
	json_decref(c);
	c = claims_obj(900);
	{
		char	 big[7000];

		memset(big, 'a', sizeof(big) - 1);
		big[sizeof(big) - 1] = '\0';
		json_object_set_new(c, "big", json_string(big));
	}
	is_int(QUIET(jwt_sign(&r, c, &t)), FB_ERR_TOOBIG, "jwt_sign: over 8 KiB refused");
	json_decref(c);
	c = claims_obj(900);
	json_object_set_new(c, "pad", json_string("0123456789012345678901234567890123456789"));
	is_int(jwt_sign(&r, c, &t), FB_OK, "jwt_sign: a small extra claim is fine");
	free(t);
	json_decref(c);

	jwt_keyring_free(&r);
	jwt_keyring_free(&r);
	ok(r.current.secret == NULL, "HS256 ring: freed");

	ring_ok(ring_env(&r, SECRET_A, NULL, NULL, NULL, "key-2024"), "HS256 with JWT_KID");
	is_str(r.current.kid, "key-2024", "JWT_KID is the kid");
	c = claims_obj(900);
	is_int(jwt_sign(&r, c, &t), FB_OK, "JWT_KID: signs");
	hdr = part(t, 0);
	is_str(hdr, "{\"alg\":\"HS256\",\"typ\":\"JWT\",\"kid\":\"key-2024\"}",
	    "JWT_KID: the header");
	is_int(verify(&r, t, &expect), FB_OK, "JWT_KID: verifies");
	free(hdr);
	free(t);
	json_decref(c);
	jwt_keyring_free(&r);
}

static void
test_ring_eddsa(void)
{
	struct jwt_keyring	 r;
	struct jwt_key		 k;
	json_t			*c, *got = NULL;
	char			*t = NULL, *hdr;

	ring_ok(ring_env(&r, NULL, fx.priv1, NULL, NULL, NULL), "EdDSA from env");
	is_int(r.current.alg, JWT_EDDSA, "EdDSA ring: alg");
	jwt_key_ed25519_pem(fx.pub1, NULL, &k);
	is_str(r.current.kid, k.kid, "EdDSA ring: kid derived from the public key");

	c = claims_obj(900);
	is_int(jwt_sign(&r, c, &t), FB_OK, "EdDSA: jwt_sign");
	hdr = part(t, 0);
	ok(strncmp(hdr, "{\"alg\":\"EdDSA\",\"typ\":\"JWT\",\"kid\":\"", 34) == 0,
	    "EdDSA: header alg, typ, kid");
	free(hdr);
	is_int(jwt_verify(&r, t, &expect, &got), FB_OK, "EdDSA: round trip verifies");
	ok(json_equal(got, c), "EdDSA: the claims come back unchanged");
	json_decref(got);
	is_int(jwt_verify_signature(&k, t), FB_OK, "EdDSA: the public key alone verifies");
	jwt_key_free(&k);
	free(t);
	json_decref(c);
	jwt_keyring_free(&r);
}

static void
test_ring_bad(void)
{
	struct jwt_keyring	 r;
	char			 long_kid[80];

	memset(long_kid, 'k', sizeof(long_kid) - 1);
	long_kid[sizeof(long_kid) - 1] = '\0';

	is_int(ring_cfg(&r, NULL, NULL, NULL, NULL, NULL), FB_ERR_INVALID,
	    "ring: no key refused");
	is_int(ring_cfg(&r, SECRET_A, fx.priv1, NULL, NULL, NULL), FB_ERR_INVALID,
	    "ring: secret and key file refused");
	is_int(ring_cfg(&r, "short-secret", NULL, NULL, NULL, NULL), FB_ERR_INVALID,
	    "ring: short JWT_SECRET refused");
	has_str(logged, "JWT_SECRET must be at least 32 bytes", "ring: the log names JWT_SECRET");
	lacks_str(logged, "short-secret", "ring: and never its value");
	is_int(ring_cfg(&r, NULL, fx.pub1, NULL, NULL, NULL), FB_ERR_INVALID,
	    "ring: a public key cannot be JWT_PRIVATE_KEY_FILE");
	is_int(ring_cfg(&r, NULL, "/nonexistent/key.pem", NULL, NULL, NULL), FB_ERR_IO,
	    "ring: unreadable key file");
	is_int(ring_cfg(&r, SECRET_A, NULL, NULL, NULL, "has space"), FB_ERR_INVALID,
	    "ring: JWT_KID with a space refused");
	is_int(ring_cfg(&r, SECRET_A, NULL, NULL, NULL, ""), FB_ERR_INVALID,
	    "ring: empty JWT_KID refused");
	is_int(ring_cfg(&r, SECRET_A, NULL, NULL, NULL, long_kid), FB_ERR_INVALID,
	    "ring: 79-byte JWT_KID refused");
	long_kid[63] = '\0';
	is_int(ring_cfg(&r, SECRET_A, NULL, NULL, NULL, long_kid), FB_OK,
	    "ring: 63-byte JWT_KID accepted");
	jwt_keyring_free(&r);
	is_int(ring_cfg(&r, NULL, fx.priv1, SECRET_B, NULL, NULL), FB_ERR_INVALID,
	    "ring: EdDSA key with a previous secret refused");
	is_int(ring_cfg(&r, SECRET_A, NULL, NULL, fx.priv2, NULL), FB_ERR_INVALID,
	    "ring: HS256 secret with a previous key file refused");
	is_int(ring_cfg(&r, SECRET_A, NULL, "short-previous", NULL, NULL), FB_ERR_INVALID,
	    "ring: short previous secret refused");
	has_str(logged, "JWT_PREVIOUS_SECRET", "ring: the log names JWT_PREVIOUS_SECRET");
	lacks_str(logged, "short-previous", "ring: and never its value");
	ok(r.current.secret == NULL && !r.has_previous, "ring: zeroed after a failure");
	is_int(ring_cfg(&r, SECRET_A, NULL, SECRET_B, fx.priv2, NULL), FB_ERR_INVALID,
	    "ring: both previous variables refused");
	is_int(ring_cfg(&r, NULL, fx.priv1, NULL, fx.pub1, NULL), FB_OK,
	    "ring: a public previous key is accepted (verify only)");
	jwt_keyring_free(&r);
}

/* ---- forgeries ---- */

/* Every forgery is tried beside the honest token the same builder makes. */
static void
test_forged_hs256(void)
{
	struct jwt_keyring	 r, other;
	struct jwt_key		 kb;
	char			*ct, *hdr, *t, *good, *g2, *s;
	json_t			*c;

	ring_ok(ring_env(&r, SECRET_A, NULL, NULL, NULL, NULL), "forgeries, HS256");
	ct = claims_text("");
	if (asprintf(&hdr, "{\"alg\":\"HS256\",\"typ\":\"JWT\",\"kid\":\"%s\"}",
	    r.current.kid) < 0)
		bail_out("asprintf");

	good = sign_raw(&r.current, hdr, ct);
	is_int(verify(&r, good, &expect), FB_OK, "HS256 honest token verifies");

	/* alg none, in its forms. */
	t = mk("{\"alg\":\"none\",\"typ\":\"JWT\"}", ct, "");
	refused(&r, t, &expect, "empty part", "alg none, no signature");
	free(t);
	s = strrchr(good, '.') + 1;
	t = mk("{\"alg\":\"none\",\"typ\":\"JWT\"}", ct, s);
	refused(&r, t, &expect, "alg is not the key's", "alg none, with a signature");
	free(t);
	t = sign_raw(&r.current, "{\"alg\":\"none\",\"typ\":\"JWT\"}", ct);
	refused(&r, t, &expect, "alg is not the key's", "alg none, signed with the real key");
	free(t);
	t = sign_raw(&r.current, "{\"alg\":\"None\"}", ct);
	refused(&r, t, &expect, "alg is not the key's", "alg None");
	free(t);
	t = sign_raw(&r.current, "{\"typ\":\"JWT\"}", ct);
	refused(&r, t, &expect, "alg is not the key's", "alg missing, signed with the real key");
	free(t);
	t = sign_raw(&r.current, "{\"alg\":\"hs256\"}", ct);
	refused(&r, t, &expect, "alg is not the key's", "alg in lower case");
	free(t);
	t = sign_raw(&r.current, "{\"alg\":\"HS512\"}", ct);
	refused(&r, t, &expect, "alg is not the key's", "alg HS512");
	free(t);
	t = sign_raw(&r.current, "{\"alg\":[\"HS256\"]}", ct);
	refused(&r, t, &expect, "alg is not the key's", "alg an array");
	free(t);
	t = sign_raw(&r.current, "{\"alg\":\"HS256\",\"alg\":\"HS256\"}", ct);
	refused(&r, t, &expect, "header is not JSON", "alg twice in the header");
	free(t);
	t = sign_raw(&r.current, "{\"alg\":\"HS256\"}", ct);
	is_int(verify(&r, t, &expect), FB_OK, "no kid: the current key, verifies");
	free(t);

	/* An EdDSA token (a real one) against this HS256 ring. */
	{
		struct jwt_keyring	ed;

		ring_ok(ring_env(&ed, NULL, fx.priv1, NULL, NULL, NULL), "EdDSA ring");
		c = claims_obj(600);
		jwt_sign(&ed, c, &t);
		is_int(verify(&ed, t, &expect), FB_OK, "EdDSA token verifies on its ring");
		refused(&r, t, &expect, "alg is not the key's", "EdDSA token refused by the HS256 ring");
		free(t);
		json_decref(c);
		jwt_keyring_free(&ed);
	}

	/* The wrong key, with our kid and without. */
	jwt_key_hs256(SECRET_B, strlen(SECRET_B), &kb);
	t = sign_raw(&kb, hdr, ct);
	refused(&r, t, &expect, "bad signature", "wrong key, our kid");
	free(t);
	t = sign_raw(&kb, "{\"alg\":\"HS256\",\"typ\":\"JWT\"}", ct);
	refused(&r, t, &expect, "bad signature", "wrong key, no kid");
	free(t);
	if (asprintf(&s, "{\"alg\":\"HS256\",\"kid\":\"%s\"}", kb.kid) < 0)
		bail_out("asprintf");
	t = sign_raw(&kb, s, ct);
	refused(&r, t, &expect, "unknown kid", "wrong key, its own kid");
	free(t);
	free(s);
	jwt_key_free(&kb);
	ring_ok(ring_env(&other, SECRET_B, NULL, NULL, NULL, "same-kid"), "other");
	jwt_keyring_free(&r);
	ring_ok(ring_env(&r, SECRET_A, NULL, NULL, NULL, "same-kid"), "same-kid");
	c = claims_obj(600);
	jwt_sign(&other, c, &t);
	is_int(verify(&other, t, &expect), FB_OK, "other ring's token on its ring");
	refused(&r, t, &expect, "bad signature", "same kid, other secret: refused");
	free(t);
	json_decref(c);
	jwt_keyring_free(&other);
	jwt_keyring_free(&r);
	ring_ok(ring_env(&r, SECRET_A, NULL, NULL, NULL, NULL), "forgeries, HS256");

	/* kid unknown, though signed with the right key. */
	t = sign_raw(&r.current, "{\"alg\":\"HS256\",\"kid\":\"nope\"}", ct);
	refused(&r, t, &expect, "unknown kid", "unknown kid");
	free(t);
	t = sign_raw(&r.current, "{\"alg\":\"HS256\",\"kid\":\"\"}", ct);
	refused(&r, t, &expect, "unknown kid", "empty kid");
	free(t);
	t = sign_raw(&r.current, "{\"alg\":\"HS256\",\"kid\":7}", ct);
	refused(&r, t, &expect, "kid is not a string", "kid a number");
	free(t);

	/* Tampering: one claim changed and re-encoded; the header changed. */
	s = claims_text("");
	{
		char	*p = strstr(s, "\"u1\"");

		p[2] = '2';
	}
	t = swap_part(good, 1, s);
	refused(&r, t, &expect, "bad signature", "tampered payload (sub u1 -> u2)");
	free(t);
	free(s);
	s = claims_text(",\"role\":\"admin\"");
	t = swap_part(good, 1, s);
	refused(&r, t, &expect, "bad signature", "tampered payload (role added)");
	free(t);
	free(s);
	s = part(good, 1);
	t = swap_part(good, 1, s);
	is_str(t, good, "re-encoding the untouched payload gives the same token");
	is_int(verify(&r, t, &expect), FB_OK, "so the re-encoder is honest");
	free(t);
	free(s);
	t = swap_part(good, 0, "{\"alg\":\"HS256\",\"typ\":\"JWT\"}");
	refused(&r, t, &expect, "bad signature", "tampered header (kid dropped)");
	free(t);
	if (asprintf(&s, "{\"alg\":\"HS256\",\"typ\":\"JWT\",\"kid\":\"%s\",\"x\":1}",
	    r.current.kid) < 0)
		bail_out("asprintf");
	t = swap_part(good, 0, s);
	free(s);
	refused(&r, t, &expect, "bad signature", "tampered header (member added)");
	free(t);

	/* The signature of another token. */
	s = claims_text(",\"n\":2");
	g2 = sign_raw(&r.current, hdr, s);
	is_int(verify(&r, g2, &expect), FB_OK, "second honest token verifies");
	t = splice_sig(good, g2);
	refused(&r, t, &expect, "bad signature", "signature of another token");
	free(t);
	free(g2);
	free(s);

	/* Header and payload that are not objects, crit, typ. */
	t = sign_raw(&r.current, "[\"HS256\"]", ct);
	refused(&r, t, &expect, "header is not a JSON object", "header an array");
	free(t);
	t = sign_raw(&r.current, "\"HS256\"", ct);
	refused(&r, t, &expect, "header is not JSON", "header a string");
	free(t);
	t = sign_raw(&r.current, "{\"alg\":\"HS256\"", ct);
	refused(&r, t, &expect, "header is not JSON", "header not JSON");
	free(t);
	t = sign_raw(&r.current, "{\"alg\":\"HS256\"}", "[1,2]");
	refused(&r, t, &expect, "payload is not a JSON object", "payload an array (signed)");
	free(t);
	t = sign_raw(&r.current, "{\"alg\":\"HS256\"}", "not json");
	refused(&r, t, &expect, "payload is not JSON", "payload not JSON (signed)");
	free(t);
	is_int(jwt_verify_signature(&r.current, t = sign_raw(&r.current,
	    "{\"alg\":\"HS256\"}", "not json")), FB_OK,
	    "the signature level does not parse the payload");
	free(t);
	t = sign_raw(&r.current, "{\"alg\":\"HS256\",\"crit\":[\"exp\"],\"exp\":1}", ct);
	refused(&r, t, &expect, "crit header", "crit header (signed)");
	free(t);
	t = sign_raw(&r.current, "{\"alg\":\"HS256\",\"crit\":[]}", ct);
	refused(&r, t, &expect, "crit header", "empty crit header (signed)");
	free(t);
	t = sign_raw(&r.current, "{\"alg\":\"HS256\",\"b64\":false,\"crit\":[\"b64\"]}", ct);
	refused(&r, t, &expect, "crit header", "b64:false with crit (RFC 7797)");
	free(t);
	t = sign_raw(&r.current, "{\"alg\":\"HS256\",\"typ\":\"at+jwt\"}", ct);
	refused(&r, t, &expect, "typ is not JWT", "typ other than JWT");
	free(t);
	t = sign_raw(&r.current, "{\"alg\":\"HS256\",\"typ\":\"jwt\"}", ct);
	is_int(verify(&r, t, &expect), FB_OK, "typ jwt (case-insensitive) accepted");
	free(t);
	s = claims_text(",\"sub\":\"admin\"");
	t = sign_raw(&r.current, "{\"alg\":\"HS256\"}", s);
	refused(&r, t, &expect, "payload is not JSON", "duplicate claim refused (signed)");
	free(t);
	free(s);

	free(good);
	free(hdr);
	free(ct);
	jwt_keyring_free(&r);
}

static void
test_forged_eddsa(void)
{
	struct jwt_keyring	 r, hs;
	struct jwt_key		 confused, other;
	unsigned char		 pub[32];
	size_t			 publen = sizeof(pub);
	char			*ct, *hdr, *t, *good, *s;
	json_t			*c;

	ring_ok(ring_env(&r, NULL, fx.priv1, NULL, NULL, NULL), "forgeries, EdDSA");
	ct = claims_text("");
	if (asprintf(&hdr, "{\"alg\":\"EdDSA\",\"typ\":\"JWT\",\"kid\":\"%s\"}",
	    r.current.kid) < 0)
		bail_out("asprintf");
	good = sign_raw(&r.current, hdr, ct);
	is_int(verify(&r, good, &expect), FB_OK, "EdDSA honest token verifies");

	/* Key confusion: HS256 with the public key as the HMAC secret. */
	if (EVP_PKEY_get_raw_public_key(r.current.pkey, pub, &publen) != 1)
		bail_out("raw public key");
	jwt_key_hs256(pub, publen, &confused);
	if (asprintf(&s, "{\"alg\":\"HS256\",\"typ\":\"JWT\",\"kid\":\"%s\"}",
	    r.current.kid) < 0)
		bail_out("asprintf");
	t = sign_raw(&confused, s, ct);
	is_int(jwt_verify_signature(&confused, t), FB_OK,
	    "key confusion (raw bytes): the forgery is a valid HS256 JWS");
	refused(&r, t, &expect, "alg is not the key's", "key confusion (raw public key as HMAC secret): refused");
	free(t);
	jwt_key_free(&confused);
	jwt_key_hs256(fx.pub1_pem, strlen(fx.pub1_pem), &confused);
	t = sign_raw(&confused, s, ct);
	refused(&r, t, &expect, "alg is not the key's", "key confusion (public PEM text as HMAC secret): refused");
	free(t);
	t = sign_raw(&confused, "{\"alg\":\"HS256\"}", ct);
	refused(&r, t, &expect, "alg is not the key's", "key confusion without kid: refused");
	free(t);
	jwt_key_free(&confused);
	free(s);

	/* A real HS256 token against this ring. */
	ring_ok(ring_env(&hs, SECRET_A, NULL, NULL, NULL, NULL), "HS256 ring");
	c = claims_obj(600);
	jwt_sign(&hs, c, &t);
	refused(&r, t, &expect, "alg is not the key's", "HS256 token refused by the EdDSA ring");
	free(t);
	json_decref(c);
	jwt_keyring_free(&hs);

	/* alg none; a wrong key; tampering; another token's signature. */
	t = mk("{\"alg\":\"none\"}", ct, "");
	refused(&r, t, &expect, "empty part", "EdDSA ring: alg none");
	free(t);
	t = mk("{\"alg\":\"EdDSA\"}", ct, "");
	refused(&r, t, &expect, "empty part", "EdDSA ring: empty signature");
	free(t);
	jwt_key_ed25519_pem(fx.priv2, NULL, &other);
	t = sign_raw(&other, hdr, ct);
	refused(&r, t, &expect, "bad signature", "EdDSA: wrong key, our kid");
	free(t);
	jwt_key_free(&other);
	s = claims_text(",\"role\":\"admin\"");
	t = swap_part(good, 1, s);
	refused(&r, t, &expect, "bad signature", "EdDSA: tampered payload");
	free(t);
	free(s);
	t = swap_part(good, 0, "{\"alg\":\"EdDSA\",\"typ\":\"JWT\"}");
	refused(&r, t, &expect, "bad signature", "EdDSA: tampered header");
	free(t);
	t = splice_sig(good, A4_JWS);
	refused(&r, t, &expect, "bad signature", "EdDSA: signature of another token");
	free(t);
	/* Signature of the right length but zero; and one byte short. */
	{
		unsigned char	z[64];
		char		*zs;

		memset(z, 0, sizeof(z));
		zs = b64(z, sizeof(z));
		t = mk(hdr, ct, zs);
		refused(&r, t, &expect, "bad signature", "EdDSA: zero signature");
		free(t);
		free(zs);
		zs = b64(z, 63);
		t = mk(hdr, ct, zs);
		refused(&r, t, &expect, "signature length", "EdDSA: 63-byte signature");
		free(t);
		free(zs);
	}

	free(good);
	free(hdr);
	free(ct);
	jwt_keyring_free(&r);
}

/* Malformed forms, each beside the honest token it is cut from. */
static void
test_forms(void)
{
	struct jwt_keyring	 r;
	char			*good, *ct, *t, *p;
	size_t			 n;

	ring_ok(ring_env(&r, SECRET_A, NULL, NULL, NULL, NULL), "forms");
	ct = claims_text("");
	good = sign_raw(&r.current, "{\"alg\":\"HS256\",\"typ\":\"JWT\"}", ct);
	is_int(verify(&r, good, &expect), FB_OK, "forms: the honest token");
	n = strlen(good);

	refused(&r, NULL, &expect, "no token", "NULL token");
	refused(&r, "", &expect, "fewer than three parts", "empty token");
	t = strndup(good, (size_t)(strrchr(good, '.') - good));
	refused(&r, t, &expect, "fewer than three parts", "two parts");
	free(t);
	if (asprintf(&t, "%s.%s", good, strrchr(good, '.') + 1) < 0)
		bail_out("asprintf");
	refused(&r, t, &expect, "more than three parts", "four parts");
	free(t);
	if (asprintf(&t, "%s.", good) < 0)
		bail_out("asprintf");
	refused(&r, t, &expect, "more than three parts", "trailing dot");
	free(t);
	refused(&r, "..", &expect, "empty part", "empty parts ..");
	refused(&r, "a..c", &expect, "empty part", "empty payload part");
	t = strdup(good);
	*strchr(t, '.') = '\0';
	{
		char	*u;

		if (asprintf(&u, ".%s", strchr(good, '.') + 1) < 0)
			bail_out("asprintf");
		refused(&r, u, &expect, "empty part", "empty header part");
		free(u);
	}
	free(t);
	t = strndup(good, (size_t)(strrchr(good, '.') - good) + 1);
	refused(&r, t, &expect, "empty part", "empty signature part");
	free(t);

	/* Characters outside base64url, in each part. */
	t = strdup(good);
	t[3] = '+';
	refused(&r, t, &expect, "header is not base64url", "'+' in the header");
	free(t);
	t = strdup(good);
	t[strchr(good, '.') - good + 3] = '/';
	refused(&r, t, &expect, "payload is not base64url", "'/' in the payload");
	free(t);
	t = strdup(good);
	t[n - 3] = ' ';
	refused(&r, t, &expect, "signature is not base64url", "space in the signature");
	free(t);
	if (asprintf(&t, "%s=", good) < 0)
		bail_out("asprintf");
	refused(&r, t, &expect, "signature is not base64url", "padding '=' on the signature");
	free(t);
	if (asprintf(&t, "%s\n", good) < 0)
		bail_out("asprintf");
	refused(&r, t, &expect, "signature is not base64url", "trailing newline");
	free(t);
	if (asprintf(&t, " %s", good) < 0)
		bail_out("asprintf");
	refused(&r, t, &expect, "header is not base64url", "leading space");
	free(t);
	/* The last character of a 32-byte signature carries 4 unused bits. */
	t = strdup(good);
	p = t + n - 1;
	*p = *p == 'A' ? 'B' : (char)(*p + (*p == 'z' || *p == '9' ? -1 : 1));
	refused(&r, t, &expect, "signature is not base64url", "non-canonical last character");
	free(t);

	/* Size: a token over 8 KiB is refused before anything else. */
	t = malloc(JWT_MAX_TOKEN + 100);
	memset(t, 'A', JWT_MAX_TOKEN + 99);
	t[JWT_MAX_TOKEN + 99] = '\0';
	t[10] = '.';
	t[20] = '.';
	refused(&r, t, &expect, "too long", "huge token");
	free(t);
	{
		char	*pad, *c2;
		size_t	 padlen = 5800;

		pad = malloc(padlen + 1);
		memset(pad, 'x', padlen);
		pad[padlen] = '\0';
		if (asprintf(&c2, "{\"iss\":\"" ISS "\",\"aud\":\"" AUD "\","
		    "\"exp\":%ld,\"pad\":\"%s\"}", NOW + 600, pad) < 0)
			bail_out("asprintf");
		t = NULL;
		is_int(jwt_sign_raw(&r.current, "{\"alg\":\"HS256\"}", c2, &t), FB_OK,
		    "a token just under 8 KiB is made");
		ok(t != NULL && strlen(t) <= JWT_MAX_TOKEN, "and is within the cap");
		is_int(verify(&r, t, &expect), FB_OK, "and verifies");
		free(t);
		free(c2);
		free(pad);
		padlen = 6200;
		pad = malloc(padlen + 1);
		memset(pad, 'x', padlen);
		pad[padlen] = '\0';
		if (asprintf(&c2, "{\"pad\":\"%s\"}", pad) < 0)
			bail_out("asprintf");
		is_int(QUIET(jwt_sign_raw(&r.current, "{\"alg\":\"HS256\"}", c2, &t)),
		    FB_ERR_TOOBIG, "over 8 KiB is not made");
		free(c2);
		free(pad);
	}
	free(good);
	free(ct);
	jwt_keyring_free(&r);
}

/* ---- claims ---- */

/* Signs claims text with the ring's current key (no kid) and verifies. */
static enum fb_err
claims_verdict(const struct jwt_keyring *r, const char *claims,
    const struct jwt_expect *e)
{
	char		*t = sign_raw(&r->current, "{\"alg\":\"HS256\",\"typ\":\"JWT\"}", claims);
	enum fb_err	 rc = verify(r, t, e);

	free(t);
	return rc;
}

/* The same, as one test that the token is refused for the reason why. */
static void
claims_refused(const struct jwt_keyring *r, const char *claims,
    const struct jwt_expect *e, const char *why, const char *name)
{
	char	*t = sign_raw(&r->current, "{\"alg\":\"HS256\",\"typ\":\"JWT\"}", claims);

	refused(r, t, e, why, name);
	free(t);
}

static void
test_claims(void)
{
	struct jwt_keyring	r;
	struct jwt_expect	e = expect, e0 = expect;
	char			buf[512];
	const char		*ia = "\"iss\":\"" ISS "\",\"aud\":\"" AUD "\"";

	ring_ok(ring_env(&r, SECRET_A, NULL, NULL, NULL, NULL), "claims");
	e0.leeway_seconds = 0;

#define C(...)	(snprintf(buf, sizeof(buf), __VA_ARGS__), buf)
	is_int(claims_verdict(&r, C("{%s,\"exp\":%ld}", ia, NOW + 1), &e0), FB_OK,
	    "exp one second ahead");
	claims_refused(&r, C("{%s,\"exp\":%ld}", ia, NOW), &e0, "expired", "exp == now: expired (RFC 7519 §4.1.4)");
	is_int(claims_verdict(&r, C("{%s,\"exp\":%ld}", ia, NOW - 10), &e), FB_OK,
	    "exp 10 s past, leeway 30: accepted");
	claims_refused(&r, C("{%s,\"exp\":%ld}", ia, NOW - 30), &e, "expired", "exp == now - leeway: expired");
	claims_refused(&r, C("{%s,\"exp\":%ld}", ia, NOW - 100), &e, "expired", "exp past the leeway: expired");
	is_int(claims_verdict(&r, C("{%s,\"exp\":%ld.5}", ia, NOW), &e0), FB_OK,
	    "fractional exp (NumericDate) half a second ahead");
	claims_refused(&r, C("{%s}", ia), &e, "no exp", "missing exp");
	claims_refused(&r, C("{%s,\"exp\":\"%ld\"}", ia, NOW + 60), &e, "exp is not a number", "exp a string");
	claims_refused(&r, C("{%s,\"exp\":null}", ia), &e, "exp is not a number", "exp null");
	claims_refused(&r, C("{%s,\"exp\":true}", ia), &e, "exp is not a number", "exp true");

	is_int(claims_verdict(&r, C("{%s,\"exp\":%ld,\"nbf\":%ld}", ia, NOW + 600, NOW + 10),
	    &e), FB_OK, "nbf 10 s ahead, leeway 30: accepted");
	claims_refused(&r, C("{%s,\"exp\":%ld,\"nbf\":%ld}", ia, NOW + 600, NOW + 100),
	    &e, "nbf", "nbf ahead of the leeway: not yet valid");
	is_int(claims_verdict(&r, C("{%s,\"exp\":%ld,\"nbf\":%ld}", ia, NOW + 600, NOW),
	    &e0), FB_OK, "nbf == now: valid");
	claims_refused(&r, C("{%s,\"exp\":%ld,\"nbf\":\"0\"}", ia, NOW + 600), &e, "nbf", "nbf a string");
	is_int(claims_verdict(&r, C("{%s,\"exp\":%ld,\"iat\":%ld}", ia, NOW + 600, NOW + 20),
	    &e), FB_OK, "iat 20 s ahead, leeway 30: accepted");
	claims_refused(&r, C("{%s,\"exp\":%ld,\"iat\":%ld}", ia, NOW + 600, NOW + 3600),
	    &e, "iat", "iat in the future: refused");
	claims_refused(&r, C("{%s,\"exp\":%ld,\"iat\":[]}", ia, NOW + 600), &e, "iat", "iat an array");
	e.leeway_seconds = -100;
	is_int(claims_verdict(&r, C("{%s,\"exp\":%ld}", ia, NOW + 1), &e), FB_OK,
	    "negative leeway counts as 0 (accepts)");
	claims_refused(&r, C("{%s,\"exp\":%ld}", ia, NOW), &e, "expired", "negative leeway counts as 0 (refuses)");
	e = expect;

	claims_refused(&r, C("{\"iss\":\"https://evil.test\",\"aud\":\"" AUD
	    "\",\"exp\":%ld}", NOW + 60), &e, "iss", "wrong iss");
	claims_refused(&r, C("{\"aud\":\"" AUD "\",\"exp\":%ld}", NOW + 60), &e, "iss", "missing iss");
	claims_refused(&r, C("{\"iss\":[\"" ISS "\"],\"aud\":\"" AUD
	    "\",\"exp\":%ld}", NOW + 60), &e, "iss", "iss an array");
	claims_refused(&r, C("{\"iss\":\"" ISS "\",\"aud\":\"other\",\"exp\":%ld}",
	    NOW + 60), &e, "aud", "wrong aud");
	claims_refused(&r, C("{\"iss\":\"" ISS "\",\"exp\":%ld}", NOW + 60), &e, "aud", "missing aud");
	claims_refused(&r, C("{\"iss\":\"" ISS "\",\"aud\":[\"a\",\"b\"],"
	    "\"exp\":%ld}", NOW + 60), &e, "aud", "aud array without ours");
	is_int(claims_verdict(&r, C("{\"iss\":\"" ISS "\",\"aud\":[\"a\",\"" AUD "\"],"
	    "\"exp\":%ld}", NOW + 60), &e), FB_OK, "aud array with ours");
	claims_refused(&r, C("{\"iss\":\"" ISS "\",\"aud\":[],\"exp\":%ld}",
	    NOW + 60), &e, "aud", "aud empty array");
	claims_refused(&r, C("{\"iss\":\"" ISS "\",\"aud\":[1,\"" AUD "\"],"
	    "\"exp\":%ld}", NOW + 60), &e, "aud holds a non-string", "aud array with a non-string");
	claims_refused(&r, C("{\"iss\":\"" ISS "\",\"aud\":\"" AUD "x\","
	    "\"exp\":%ld}", NOW + 60), &e, "aud", "aud with a suffix");
#undef C

	e.issuer = NULL;
	{
		char	*ct = claims_text(""), *t = sign_raw(&r.current,
		    "{\"alg\":\"HS256\"}", ct);

		is_int(verify(&r, t, &e), FB_ERR_INTERNAL, "no issuer expected: caller bug");
		e = expect;
		e.now = 0;	/* the real clock: NOW is in the past */
		refused(&r, t, &e, "expired", "now 0 means time(NULL)");
		free(t);
		free(ct);
	}
	jwt_keyring_free(&r);
}

/* ---- rotation and JWKS ---- */

static void
test_rotation_hs256(void)
{
	struct jwt_keyring	 old, cur, dropped;
	json_t			*c;
	char			*t_old, *t_new, *t, *s, *ct;

	ring_ok(ring_env(&old, SECRET_A, NULL, NULL, NULL, NULL), "rotation: old");
	c = claims_obj(600);
	jwt_sign(&old, c, &t_old);
	ring_ok(ring_env(&cur, SECRET_B, NULL, SECRET_A, NULL, NULL), "rotation: new");
	ok(cur.has_previous, "rotation: previous key loaded");
	isnt_str(cur.current.kid, old.current.kid, "rotation: the kid changed");
	is_str(cur.previous.kid, old.current.kid, "rotation: previous kid is the old kid");
	is_int(verify(&cur, t_old, &expect), FB_OK, "rotation: old token verifies by its kid");
	jwt_sign(&cur, c, &t_new);
	s = part(t_new, 0);
	has_str(s, cur.current.kid, "rotation: new tokens carry the new kid");
	free(s);
	is_int(verify(&cur, t_new, &expect), FB_OK, "rotation: new token verifies");
	refused(&old, t_new, &expect, "unknown kid", "rotation: the old ring does not know the new key");

	/* Old key, but the new kid; or no kid: only the current key is tried. */
	ct = claims_text("");
	if (asprintf(&s, "{\"alg\":\"HS256\",\"kid\":\"%s\"}", cur.current.kid) < 0)
		bail_out("asprintf");
	t = sign_raw(&old.current, s, ct);
	refused(&cur, t, &expect, "bad signature", "rotation: old key under the new kid refused");
	free(t);
	free(s);
	t = sign_raw(&old.current, "{\"alg\":\"HS256\"}", ct);
	refused(&cur, t, &expect, "bad signature", "rotation: old key without kid refused (current only)");
	free(t);
	free(ct);

	ring_ok(ring_env(&dropped, SECRET_B, NULL, NULL, NULL, NULL),
	    "rotation: previous dropped");
	refused(&dropped, t_old, &expect, "unknown kid", "rotation: after the previous key is dropped the old token fails");
	is_int(verify(&dropped, t_new, &expect), FB_OK,
	    "rotation: the new token still verifies");

	free(t_old);
	free(t_new);
	json_decref(c);
	jwt_keyring_free(&old);
	jwt_keyring_free(&cur);
	jwt_keyring_free(&dropped);
}

static void
test_rotation_eddsa(void)
{
	struct jwt_keyring	 old, cur, pubprev, dropped;
	json_t			*c;
	char			*t_old;

	ring_ok(ring_env(&old, NULL, fx.priv1, NULL, NULL, NULL), "EdDSA rotation: old");
	c = claims_obj(600);
	jwt_sign(&old, c, &t_old);
	ring_ok(ring_env(&cur, NULL, fx.priv2, NULL, fx.priv1, NULL),
	    "EdDSA rotation: new");
	isnt_str(cur.current.kid, old.current.kid, "EdDSA rotation: the kid changed");
	is_int(verify(&cur, t_old, &expect), FB_OK, "EdDSA rotation: old token verifies");
	ring_ok(ring_env(&pubprev, NULL, fx.priv2, NULL, fx.pub1, NULL),
	    "EdDSA rotation: previous as a public key");
	is_int(verify(&pubprev, t_old, &expect), FB_OK,
	    "EdDSA rotation: verifies with the previous public key");
	ring_ok(ring_env(&dropped, NULL, fx.priv2, NULL, NULL, NULL),
	    "EdDSA rotation: dropped");
	refused(&dropped, t_old, &expect, "unknown kid", "EdDSA rotation: refused once dropped");
	free(t_old);
	json_decref(c);
	jwt_keyring_free(&old);
	jwt_keyring_free(&cur);
	jwt_keyring_free(&pubprev);
	jwt_keyring_free(&dropped);
}

static void
test_jwks(void)
{
	struct jwt_keyring	 r;
	json_t			*j, *k0, *keys;
	char			*text, x[B64URL_ENCODED_SIZE(32)];
	unsigned char		 pub[32];
	size_t			 publen = sizeof(pub);

	ring_ok(ring_env(&r, SECRET_A, NULL, SECRET_B, NULL, NULL), "jwks: HS256");
	j = jwt_jwks(&r);
	text = json_dumps(j, JSON_COMPACT);
	is_str(text, "{\"keys\":[]}", "jwks: HS256 publishes nothing");
	free(text);
	json_decref(j);
	jwt_keyring_free(&r);

	ring_ok(ring_env(&r, NULL, fx.priv1, NULL, NULL, NULL), "jwks: EdDSA");
	j = jwt_jwks(&r);
	keys = json_object_get(j, "keys");
	is_int(json_array_size(keys), 1, "jwks: one key");
	k0 = json_array_get(keys, 0);
	EVP_PKEY_get_raw_public_key(r.current.pkey, pub, &publen);
	b64url_encode(pub, publen, x);
	is_str(json_string_value(json_object_get(k0, "kty")), "OKP", "jwks: kty OKP");
	is_str(json_string_value(json_object_get(k0, "crv")), "Ed25519", "jwks: crv");
	is_str(json_string_value(json_object_get(k0, "x")), x,
	    "jwks: x is base64url of the public key");
	is_str(json_string_value(json_object_get(k0, "kid")), r.current.kid, "jwks: kid");
	is_str(json_string_value(json_object_get(k0, "alg")), "EdDSA", "jwks: alg");
	is_str(json_string_value(json_object_get(k0, "use")), "sig", "jwks: use");
	ok(json_object_get(k0, "d") == NULL, "jwks: no private part");
	is_int(json_object_size(k0), 6, "jwks: exactly six members");
	json_decref(j);
	jwt_keyring_free(&r);

	ring_ok(ring_env(&r, NULL, fx.priv2, NULL, fx.priv1, NULL), "jwks: rotation");
	j = jwt_jwks(&r);
	keys = json_object_get(j, "keys");
	is_int(json_array_size(keys), 2, "jwks: two keys with a previous one");
	is_str(json_string_value(json_object_get(json_array_get(keys, 0), "kid")),
	    r.current.kid, "jwks: current first");
	is_str(json_string_value(json_object_get(json_array_get(keys, 1), "kid")),
	    r.previous.kid, "jwks: then the previous");
	text = json_dumps(j, JSON_COMPACT);
	lacks_str(text, "\"d\"", "jwks: no private part anywhere");
	free(text);
	json_decref(j);
	jwt_keyring_free(&r);
}

/* A ring whose current key is public only cannot sign. */
static void
test_sign_needs_private(void)
{
	struct jwt_keyring	 r;
	json_t			*c = claims_obj(600);
	char			*t = (char *)0x1;

	memset(&r, 0, sizeof(r));
	is_int(jwt_key_ed25519_pem(fx.pub1, NULL, &r.current), FB_OK, "public key ring");
	is_int(QUIET(jwt_sign(&r, c, &t)), FB_ERR_INVALID, "jwt_sign with a public key refused");
	ok(t == NULL, "and *out is NULL");
	jwt_keyring_free(&r);
	json_decref(c);
}

int
main(void)
{
	log_setup("test_jwt", FBLOG_ERROR);
	fixtures_make();

	test_rfc7515_a1();
	test_rfc8037_a4();
	test_kid_derivation();
	test_constructors_bad();
	test_ring_hs256();
	test_ring_eddsa();
	test_ring_bad();
	test_forged_hs256();
	test_forged_eddsa();
	test_forms();
	test_claims();
	test_rotation_hs256();
	test_rotation_eddsa();
	test_jwks();
	test_sign_needs_private();

	fixtures_free();
	return done_testing();
}
