/*
 * test_crypto — secrets at rest: the AES-256-GCM vectors of the GCM
 * specification (McGrew & Viega, test cases 13 to 16: 256-bit key, 96-bit
 * IV, with and without AAD) through crypto_gcm_raw(), a known token computed
 * outside fastback (Python "cryptography"), round trips (empty, 1 byte,
 * 64 KiB), fresh nonces, every altered bit and character of a token, tokens
 * of another row, column or table, key rings (rotation order, unknown keys),
 * ENCRYPTION_KEYS errors and that their log lines carry no key material.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "b64.h"
#include "crypto.h"
#include "log.h"
#include "tap.h"

/* Standard base64 of 32 bytes 0x01..., 0x02..., 0x03... and 00 01 .. 1f. */
#define KEY1	"AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE="
#define KEY2	"AgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgI="
#define KEY3	"AwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwM="
#define KEYSEQ	"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="
#define KEY31	"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=="	/* 31 bytes */
#define KEY33	"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"	/* 33 bytes */

/*
 * AES-256-GCM of "JBSWY3DPEHPK3PXP" under KEYSEQ (id "k1"), nonce 00 01 ..
 * 0b, AAD "fastback:v1\x1fusers\x1ftotp_secret\x1f42", computed with
 * Python's cryptography.hazmat AESGCM.
 */
#define KNOWN_TOKEN "v1.k1.AAECAwQFBgcICQoL.DUCFTJzWhkvICcfAgrkgPW7r7a84_eHdR54wp5h4ryQ"

/* ---- helpers ---- */

/* Expected failures log: QUIET(expr) evaluates expr with stderr sent to a
 * temporary file and keeps what was written in logged[]. */
static struct {
	FILE	*tmp;
	int	 saved;
	long	 rc;
} quiet;
static char	logged[16384];

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

static size_t
unhex(const char *s, unsigned char *out, size_t cap)
{
	size_t		n = strlen(s) / 2, i;
	unsigned int	v;

	if (n > cap)
		bail_out("unhex: %zu bytes over %zu", n, cap);
	for (i = 0; i < n; i++) {
		if (sscanf(s + 2 * i, "%2x", &v) != 1)
			bail_out("unhex: bad digit");
		out[i] = (unsigned char)v;
	}
	return n;
}

static void
ring(const char *spec, struct crypto_keyring *k)
{
	if (crypto_keyring_load(spec, k) != FB_OK)
		bail_out("key ring %s", spec);
}

static char *
seal_ok(const struct crypto_keyring *k, const char *table, const char *column,
    const char *row, const char *text)
{
	char	*tok;

	if (crypto_seal(k, table, column, row, text, strlen(text), &tok) != FB_OK)
		bail_out("seal");
	return tok;
}

/* crypto_open() of token for users.totp_secret row 42, the plaintext freed. */
static enum fb_err
open42(const struct crypto_keyring *k, const char *token)
{
	unsigned char	*out = (unsigned char *)"sentinel";
	size_t		 len = 99;
	enum fb_err	 e;

	e = crypto_open(k, "users", "totp_secret", "42", token, &out, &len);
	if (e != FB_OK && (out != NULL || len != 0))
		bail_out("crypto_open failed but handed out a plaintext");
	crypto_free_secret(out, len);
	return e;
}

static bool
all_zero(const void *p, size_t len)
{
	const unsigned char	*c = p;
	size_t			 i;

	for (i = 0; i < len; i++)
		if (c[i] != 0)
			return false;
	return true;
}

/* ---- the GCM specification's vectors ---- */

struct gcm_vector {
	const char	*name;
	const char	*key, *iv, *aad, *pt, *ct, *tag;
};

static const struct gcm_vector vectors[] = {
	{ "GCM spec test case 13 (empty)",
	  "0000000000000000000000000000000000000000000000000000000000000000",
	  "000000000000000000000000", "", "", "",
	  "530f8afbc74536b9a963b4f1c4cb738b" },
	{ "GCM spec test case 14",
	  "0000000000000000000000000000000000000000000000000000000000000000",
	  "000000000000000000000000", "",
	  "00000000000000000000000000000000",
	  "cea7403d4d606b6e074ec5d3baf39d18",
	  "d0d1c8a799996bf0265b98b5d48ab919" },
	{ "GCM spec test case 15",
	  "feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308",
	  "cafebabefacedbaddecaf888", "",
	  "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
	  "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b391aafd255",
	  "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa"
	  "8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662898015ad",
	  "b094dac5d93471bdec1a502270e3cc6c" },
	{ "GCM spec test case 16 (AAD)",
	  "feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308",
	  "cafebabefacedbaddecaf888",
	  "feedfacedeadbeeffeedfacedeadbeefabaddad2",
	  "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
	  "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39",
	  "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa"
	  "8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662",
	  "76fc6ece0f4e1768cddf8853bb2d551b" },
};

static void
test_gcm_vectors(void)
{
	unsigned char	key[32], iv[12], aad[64], pt[64], ct[64], tag[16];
	unsigned char	out[64], got[16];
	size_t		i, aadlen, ptlen, ctlen;

	for (i = 0; i < sizeof(vectors) / sizeof(vectors[0]); i++) {
		const struct gcm_vector *v = &vectors[i];

		if (unhex(v->key, key, sizeof(key)) != 32 ||
		    unhex(v->iv, iv, sizeof(iv)) != 12 ||
		    unhex(v->tag, tag, sizeof(tag)) != 16)
			bail_out("vector %s", v->name);
		aadlen = unhex(v->aad, aad, sizeof(aad));
		ptlen = unhex(v->pt, pt, sizeof(pt));
		ctlen = unhex(v->ct, ct, sizeof(ct));

		memset(out, 0xaa, sizeof(out));
		is_int(crypto_gcm_raw(true, key, iv, aad, aadlen, pt, ptlen, out,
		    got), FB_OK, "%s: encrypts", v->name);
		ok(ctlen == ptlen && memcmp(out, ct, ctlen) == 0,
		    "%s: ciphertext", v->name);
		ok(memcmp(got, tag, 16) == 0, "%s: tag", v->name);

		memset(out, 0xaa, sizeof(out));
		is_int(crypto_gcm_raw(false, key, iv, aad, aadlen, ct, ctlen, out,
		    tag), FB_OK, "%s: decrypts", v->name);
		ok(memcmp(out, pt, ptlen) == 0, "%s: plaintext", v->name);

		tag[15] ^= 0x01;
		memset(out, 0xaa, sizeof(out));
		is_int(crypto_gcm_raw(false, key, iv, aad, aadlen, ct, ctlen, out,
		    tag), FB_ERR_INVALID, "%s: a flipped tag bit is refused",
		    v->name);
		ok(all_zero(out, ctlen), "%s: and the unauthenticated "
		    "plaintext is wiped", v->name);
		tag[15] ^= 0x01;
		aad[aadlen] = 0;
		is_int(crypto_gcm_raw(false, key, iv, aad, aadlen + 1, ct, ctlen,
		    out, tag), FB_ERR_INVALID, "%s: other AAD is refused",
		    v->name);
	}
}

/* A token of seal_with_nonce against one computed outside fastback. */
static void
test_known_token(void)
{
	struct crypto_keyring	 k;
	unsigned char		 nonce[12], *pt;
	char			*tok;
	size_t			 i, len;

	for (i = 0; i < sizeof(nonce); i++)
		nonce[i] = (unsigned char)i;
	ring("k1:" KEYSEQ, &k);
	is_int(crypto_seal_with_nonce(&k, "users", "totp_secret", "42",
	    "JBSWY3DPEHPK3PXP", 16, nonce, &tok), FB_OK, "seal with a fixed nonce");
	is_str(tok, KNOWN_TOKEN, "the token matches an independent AES-256-GCM "
	    "with the documented AAD and form");
	free(tok);
	is_int(crypto_open(&k, "users", "totp_secret", "42", KNOWN_TOKEN, &pt,
	    &len), FB_OK, "the independent token opens");
	ok(len == 16 && memcmp(pt, "JBSWY3DPEHPK3PXP", 17) == 0,
	    "to its plaintext, NUL-terminated");
	crypto_free_secret(pt, len);
	is_int(crypto_seal_with_nonce(&k, "users", "totp_secret", "42", "x", 1,
	    NULL, &tok), FB_ERR_INVALID, "seal_with_nonce without a nonce");
	ok(tok == NULL, "gives no token");
	crypto_keyring_free(&k);
}

static void
test_aad(void)
{
	char	aad[CRYPTO_AAD_SIZE], big[CRYPTO_AAD_SIZE];
	size_t	len;

	is_int(crypto_aad("users", "totp_secret", "42", aad, &len), FB_OK,
	    "crypto_aad");
	ok(len == 32 && memcmp(aad, "fastback:v1\x1fusers\x1ftotp_secret\x1f"
	    "42", 33) == 0, "is fastback:v1 US table US column US id");
	is_int(crypto_aad(NULL, "c", "1", aad, &len), FB_ERR_INVALID, "NULL table");
	is_int(crypto_aad("t", "", "1", aad, &len), FB_ERR_INVALID, "empty column");
	is_int(crypto_aad("t", "c", "", aad, &len), FB_ERR_INVALID, "empty row id");
	is_int(crypto_aad("t", "c\x1f" "d", "1", aad, &len), FB_ERR_INVALID,
	    "a separator inside a part");
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	is_int(crypto_aad("t", "c", big, aad, &len), FB_ERR_TOOBIG,
	    "an identity over CRYPTO_AAD_SIZE");
	ok(aad[0] == '\0' && len == 0, "leaves an empty AAD");
}

static void
round_trip(const struct crypto_keyring *k, const void *pt, size_t len,
    const char *name)
{
	char		*tok;
	unsigned char	*out;
	size_t		 outlen;

	if (!is_int(crypto_seal(k, "users", "totp_secret", "42", pt, len, &tok),
	    FB_OK, "%s: seals", name))
		return;
	ok(strlen(tok) <= CRYPTO_TOKEN_MAX && strncmp(tok, "v1.k1.", 6) == 0,
	    "%s: token v1.k1.... within CRYPTO_TOKEN_MAX", name);
	is_int(crypto_open(k, "users", "totp_secret", "42", tok, &out, &outlen),
	    FB_OK, "%s: opens", name);
	ok(out != NULL && outlen == len && (len == 0 || memcmp(out, pt, len) == 0)
	    && out[len] == '\0', "%s: same bytes, then a NUL", name);
	crypto_free_secret(out, outlen);
	free(tok);
}

static void
test_round_trips(void)
{
	struct crypto_keyring	 k, k16;
	unsigned char		*big;
	unsigned char		*out;
	size_t			 i, outlen;
	char			*tok, *tok2;

	ring("k1:" KEY1, &k);
	if ((big = malloc(CRYPTO_PLAINTEXT_MAX + 1)) == NULL)
		bail_out("malloc");
	for (i = 0; i < CRYPTO_PLAINTEXT_MAX + 1; i++)
		big[i] = (unsigned char)(i * 7 + (i >> 8));	/* NULs included */
	round_trip(&k, NULL, 0, "empty (NULL)");
	round_trip(&k, "", 0, "empty");
	round_trip(&k, "\0", 1, "1 byte (NUL)");
	round_trip(&k, "A", 1, "1 byte");
	round_trip(&k, big, CRYPTO_PLAINTEXT_MAX, "64 KiB");

	is_int(crypto_seal(&k, "users", "totp_secret", "42", big,
	    CRYPTO_PLAINTEXT_MAX + 1, &tok), FB_ERR_TOOBIG, "64 KiB + 1 is too big");
	ok(tok == NULL, "and gives no token");
	is_int(crypto_seal(&k, "users", "totp_secret", "42", NULL, 1, &tok),
	    FB_ERR_INVALID, "NULL plaintext of length 1");
	is_int(crypto_seal(&k, "users", "totp\x1f", "42", "x", 1, &tok),
	    FB_ERR_INVALID, "seal with a bad row identity");

	/* The longest token: a 16-character id and 64 KiB. */
	ring("abcdefghijklmnop:" KEY1, &k16);
	if (is_int(crypto_seal(&k16, "t", "c", "1", big, CRYPTO_PLAINTEXT_MAX,
	    &tok), FB_OK, "64 KiB under a 16-character id")) {
		is_int(strlen(tok), CRYPTO_TOKEN_MAX, "is CRYPTO_TOKEN_MAX long");
		is_int(crypto_open(&k16, "t", "c", "1", tok, &out, &outlen), FB_OK,
		    "and opens");
		crypto_free_secret(out, outlen);
		free(tok);
	}
	crypto_keyring_free(&k16);

	tok = seal_ok(&k, "users", "totp_secret", "42", "JBSWY3DPEHPK3PXP");
	tok2 = seal_ok(&k, "users", "totp_secret", "42", "JBSWY3DPEHPK3PXP");
	isnt_str(tok, tok2, "two seals of one plaintext differ");
	ok(strncmp(tok + 6, tok2 + 6, 16) != 0, "in their nonce");
	is_int(open42(&k, tok), FB_OK, "the first opens");
	is_int(open42(&k, tok2), FB_OK, "the second opens");
	free(tok);
	free(tok2);
	free(big);
	crypto_keyring_free(&k);
}

/* Re-encodes token with its raw nonce and sealed part given. */
static char *
rebuild(const char *id, const unsigned char *nonce, size_t nlen,
    const unsigned char *sealed, size_t slen)
{
	char	*t;
	size_t	 o;

	if ((t = malloc(3 + strlen(id) + 2 + B64URL_ENCODED_SIZE(nlen) +
	    B64URL_ENCODED_SIZE(slen))) == NULL)
		bail_out("malloc");
	o = (size_t)sprintf(t, "v1.%s.", id);
	o += b64url_encode(nonce, nlen, t + o);
	t[o++] = '.';
	b64url_encode(sealed, slen, t + o);
	return t;
}

static void
test_tampering(void)
{
	static const char	 subst[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklm"
	    "nopqrstuvwxyz0123456789-_.=+/ \x7f\xff";
	struct crypto_keyring	 k;
	unsigned char		 nonce[12], sealed[64];
	char			*tok, *t, *id_end, *nonce_end;
	size_t			 toklen, slen, n, i, j, bit;
	size_t			 tries = 0, bad_raw = 0, bad_char = 0, bad_id = 0;
	size_t			 bad_trunc = 0, bad_tag = 0;
	enum fb_err		 e;

	ring("k1:" KEY1 ",k2:" KEY2, &k);
	tok = seal_ok(&k, "users", "totp_secret", "42", "JBSWY3DPEHPK3PXP");
	toklen = strlen(tok);
	id_end = strchr(tok + 3, '.');
	nonce_end = strchr(id_end + 1, '.');
	if (b64url_decode(id_end + 1, (size_t)(nonce_end - id_end - 1), nonce,
	    sizeof(nonce), &n) != FB_OK || n != 12 ||
	    b64url_decode(nonce_end + 1, strlen(nonce_end + 1), sealed,
	    sizeof(sealed), &slen) != FB_OK || slen != 16 + 16)
		bail_out("cannot cut the token");

	/* Warnings for thousands of refusals: not on the test's stderr. */
	log_setup("test_crypto", FBLOG_ERROR);

	/* Every bit of every byte of the nonce, the ciphertext and the tag. */
	for (i = 0; i < 12 + slen; i++)
		for (bit = 0; bit < 8; bit++) {
			unsigned char *b = i < 12 ? &nonce[i] : &sealed[i - 12];

			*b ^= (unsigned char)(1u << bit);
			t = rebuild("k1", nonce, 12, sealed, slen);
			if (open42(&k, t) != FB_ERR_INVALID)
				bad_raw++;
			free(t);
			*b ^= (unsigned char)(1u << bit);
			tries++;
		}
	is_int(bad_raw, 0, "all %zu single-bit flips of nonce, ciphertext and "
	    "tag are FB_ERR_INVALID", tries);

	/* Every character replaced by others: in the id refused somehow
	 * (another listed key or an unknown one), elsewhere FB_ERR_INVALID. */
	if ((t = strdup(tok)) == NULL)
		bail_out("strdup");
	tries = 0;
	for (i = 0; i < toklen; i++) {
		for (j = 0; j < sizeof(subst) - 1; j++) {
			if (subst[j] == tok[i])
				continue;
			t[i] = subst[j];
			e = open42(&k, t);
			if (i >= 3 && tok + i < id_end) {
				if (e == FB_OK)
					bad_id++;
			} else if (e != FB_ERR_INVALID)
				bad_char++;
			tries++;
		}
		t[i] = tok[i];
	}
	is_int(bad_char, 0, "all %zu character substitutions outside the id "
	    "are FB_ERR_INVALID", tries);
	is_int(bad_id, 0, "and none in the id opens");
	free(t);

	/* Every prefix, and appended characters. */
	if ((t = strdup(tok)) == NULL)
		bail_out("strdup");
	for (i = 0; i < toklen; i++) {
		t[i] = '\0';
		if (open42(&k, t) != FB_ERR_INVALID)
			bad_trunc++;
		t[i] = tok[i];
	}
	is_int(bad_trunc, 0, "every prefix of a token is FB_ERR_INVALID");
	free(t);
	if ((t = malloc(toklen + 3)) == NULL)
		bail_out("malloc");
	snprintf(t, toklen + 3, "%sA", tok);
	is_int(open42(&k, t), FB_ERR_INVALID, "a character appended");
	snprintf(t, toklen + 3, "%s.A", tok);
	is_int(open42(&k, t), FB_ERR_INVALID, "a fifth part appended");
	snprintf(t, toklen + 3, " %s", tok);
	is_int(open42(&k, t), FB_ERR_INVALID, "a space prepended");
	free(t);

	/* A tag cut short by 1 to 16 bytes, re-encoded in canonical form. */
	for (i = 1; i <= 16; i++) {
		t = rebuild("k1", nonce, 12, sealed, slen - i);
		if (open42(&k, t) != FB_ERR_INVALID)
			bad_tag++;
		free(t);
	}
	is_int(bad_tag, 0, "a truncated tag is FB_ERR_INVALID");
	t = rebuild("k1", nonce, 11, sealed, slen);
	is_int(open42(&k, t), FB_ERR_INVALID, "an 88-bit nonce");
	free(t);
	t = rebuild("k1", nonce, 12, sealed, 0);
	is_int(open42(&k, t), FB_ERR_INVALID, "no ciphertext");
	free(t);
	t = rebuild("k2", nonce, 12, sealed, slen);
	is_int(open42(&k, t), FB_ERR_INVALID, "relabelled to another listed key");
	free(t);

	log_setup("test_crypto", FBLOG_INFO);
	is_int(QUIET(open42(&k, "v1.k1.AAAAAAAAAAAAAAAA.AAAAAAAAAAAAAAAAAAAAAA")),
	    FB_ERR_INVALID, "a forged all-zero token");
	has_str(logged, "users.totp_secret", "the refusal names table.column");
	lacks_str(logged, "AAAAAAAAAAAAAAAA", "but not the token");
	free(tok);
	crypto_keyring_free(&k);
}

static void
test_malformed(void)
{
	static const char *const bad[] = {
		"", "v1", "v1.", "v2.k1.AAECAwQFBgcICQoL.DUCFTJzWhkvICcfAgrkgPW7r7a84_eHdR54wp5h4ryQ",
		"V1.k1.AAECAwQFBgcICQoL.DUCFTJzWhkvICcfAgrkgPW7r7a84_eHdR54wp5h4ryQ",
		"v1..AAECAwQFBgcICQoL.DUCFTJzWhkvICcfAgrkgPW7r7a84_eHdR54wp5h4ryQ",
		"v1.k!.AAECAwQFBgcICQoL.DUCFTJzWhkvICcfAgrkgPW7r7a84_eHdR54wp5h4ryQ",
		"v1.abcdefghijklmnopq.AAECAwQFBgcICQoL.DUCFTJzWhkvICcfAgrkgPW7r7a84_eHdR54wp5h4ryQ",
		"v1.k1.AAECAwQFBgcICQo.DUCFTJzWhkvICcfAgrkgPW7r7a84_eHdR54wp5h4ryQ",
		"v1.k1.AAECAwQFBgcICQoL",
		"v1.k1.AAECAwQFBgcICQoL.",
		"v1.k1.AAECAwQFBgcICQoL.DUCFTJzWhkvICcfAgrkgPW7r7a84_eHdR54wp5h4ryQ=",
		"v1.k1.AAECAwQFBgcICQoL.DUCFTJzWhkvICcfAgrkgPW7r7a84/eHdR54wp5h4ryQ",
		"v1.k1.AAECAwQFBgcICQoL.DUCFTJzWhkvICcfAgrkgPW7r7a84_eHdR54wp5h4ryR",
	};
	struct crypto_keyring	 k;
	char			 id[CRYPTO_KEY_ID_MAX + 1], *huge;
	size_t			 i, wrong = 0;

	ring("k1:" KEYSEQ, &k);
	log_setup("test_crypto", FBLOG_ERROR);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (open42(&k, bad[i]) != FB_ERR_INVALID) {
			diag("opened or wrong error: %s", bad[i]);
			wrong++;
		}
	}
	is_int(wrong, 0, "%zu malformed tokens are FB_ERR_INVALID",
	    sizeof(bad) / sizeof(bad[0]));
	is_int(open42(&k, NULL), FB_ERR_INVALID, "a NULL token");
	if ((huge = malloc(CRYPTO_TOKEN_MAX + 2)) == NULL)
		bail_out("malloc");
	memset(huge, 'A', CRYPTO_TOKEN_MAX + 1);
	memcpy(huge, "v1.k1.AAECAwQFBgcICQoL.", 23);
	huge[CRYPTO_TOKEN_MAX + 1] = '\0';
	is_int(open42(&k, huge), FB_ERR_INVALID, "a token over CRYPTO_TOKEN_MAX");
	is_int(crypto_token_key_id(huge, id), FB_ERR_INVALID,
	    "has no key id either");
	free(huge);
	log_setup("test_crypto", FBLOG_INFO);

	is_int(crypto_token_key_id(KNOWN_TOKEN, id), FB_OK, "crypto_token_key_id");
	is_str(id, "k1", "gives the id");
	is_int(crypto_token_key_id("v1.k!.AAECAwQFBgcICQoL.xx", id), FB_ERR_INVALID,
	    "a malformed token has no id");
	is_str(id, "", "and the id is empty");
	crypto_keyring_free(&k);
}

static void
test_identity(void)
{
	struct crypto_keyring	 k;
	unsigned char		*out;
	size_t			 len;
	char			*tok;

	ring("k1:" KEY1, &k);
	tok = seal_ok(&k, "users", "totp_secret", "42", "JBSWY3DPEHPK3PXP");
	log_setup("test_crypto", FBLOG_ERROR);
	is_int(crypto_open(&k, "users", "totp_secret", "43", tok, &out, &len),
	    FB_ERR_INVALID, "another row's id is refused");
	is_int(crypto_open(&k, "users", "totp_secret", "4", tok, &out, &len),
	    FB_ERR_INVALID, "a prefix of the row id is refused");
	is_int(crypto_open(&k, "users", "totp_secret", "420", tok, &out, &len),
	    FB_ERR_INVALID, "a longer row id is refused");
	is_int(crypto_open(&k, "users", "api_key", "42", tok, &out, &len),
	    FB_ERR_INVALID, "another column is refused");
	is_int(crypto_open(&k, "api_keys", "totp_secret", "42", tok, &out, &len),
	    FB_ERR_INVALID, "another table is refused");
	is_int(crypto_open(&k, "totp_secret", "users", "42", tok, &out, &len),
	    FB_ERR_INVALID, "table and column swapped are refused");
	is_int(crypto_open(&k, "users", "totp_secret\x1f" "42", "x", tok, &out,
	    &len), FB_ERR_INVALID, "a separator smuggled into a part");
	ok(out == NULL && len == 0, "no plaintext is handed out");
	log_setup("test_crypto", FBLOG_INFO);
	free(tok);

	/* Different (table, column, id) splits must not collide. */
	tok = seal_ok(&k, "a", "bc", "d", "x");
	is_int(QUIET(crypto_open(&k, "ab", "c", "d", tok, &out, &len)),
	    FB_ERR_INVALID, "(a, bc, d) does not open as (ab, c, d)");
	free(tok);
	crypto_keyring_free(&k);
}

static void
test_key_rings(void)
{
	struct crypto_keyring	 k12, k21, k1, k2, k2other, none;
	char			*tok, *tok2;
	unsigned char		*out;
	size_t			 len;

	ring("k1:" KEY1 ",k2:" KEY2, &k12);
	ring("k2:" KEY2 ",k1:" KEY1, &k21);
	ring("k1:" KEY1, &k1);
	ring("k2:" KEY2, &k2);
	ring("k2:" KEY3, &k2other);

	tok = seal_ok(&k12, "users", "totp_secret", "42", "secret");
	ok(strncmp(tok, "v1.k1.", 6) == 0, "a two-key ring seals under its first key");
	ok(crypto_is_current(&k12, tok), "crypto_is_current on that ring");
	ok(!crypto_is_current(&k21, tok), "not current once k2 comes first");
	is_int(open42(&k21, tok), FB_OK, "but still opens there");

	tok2 = seal_ok(&k21, "users", "totp_secret", "42", "secret");
	ok(strncmp(tok2, "v1.k2.", 6) == 0, "a ring listing k2 first seals under k2");
	is_int(open42(&k12, tok2), FB_OK, "a k2 token opens when the ring lists k1,k2");
	is_int(open42(&k2, tok2), FB_OK, "and with k2 alone");
	is_int(QUIET(open42(&k1, tok2)), FB_ERR_NOTFOUND,
	    "and is FB_ERR_NOTFOUND with k1 alone");
	has_str(logged, "key \\\"k2\\\"", "the unknown key id is logged");
	lacks_str(logged, tok2 + 6, "but not the token");
	is_int(QUIET(open42(&k2other, tok2)), FB_ERR_INVALID,
	    "a different key under the same id is FB_ERR_INVALID");
	ok(!crypto_is_current(&k1, tok2), "not current for a ring without k2");

	memset(&none, 0, sizeof(none));
	ok(!crypto_is_current(&none, tok), "nothing is current on an empty ring");
	ok(!crypto_is_current(NULL, tok), "nor on no ring");
	ok(!crypto_is_current(&k12, "garbage"), "a malformed token is not current");
	ok(!crypto_is_current(&k12, NULL), "nor is NULL");

	/* Rotation: re-sealing a token that is not current under the new first
	 * key makes it current; doing it again is harmless. */
	if (is_int(crypto_open(&k21, "users", "totp_secret", "42", tok, &out,
	    &len), FB_OK, "rotation: open the k1 token")) {
		free(tok2);
		if (crypto_seal(&k21, "users", "totp_secret", "42", out, len,
		    &tok2) != FB_OK)
			bail_out("re-seal");
		crypto_free_secret(out, len);
		ok(crypto_is_current(&k21, tok2), "the re-sealed token is current");
		is_int(open42(&k2, tok2), FB_OK, "and no longer needs k1");
	}
	free(tok);
	free(tok2);
	crypto_keyring_free(&k12);
	crypto_keyring_free(&k21);
	crypto_keyring_free(&k1);
	crypto_keyring_free(&k2);
	crypto_keyring_free(&k2other);
}

static void
test_not_configured(void)
{
	struct crypto_keyring	 k;
	char			*tok = (char *)"x";
	unsigned char		*out;
	size_t			 len;

	is_int(crypto_keyring_load(NULL, &k), FB_OK, "a NULL ENCRYPTION_KEYS");
	is_int(k.count, 0, "gives an empty ring");
	is_int(crypto_keyring_load("", &k), FB_OK, "an empty ENCRYPTION_KEYS");
	is_int(k.count, 0, "gives an empty ring");
	is_int(QUIET(crypto_seal(&k, "users", "totp_secret", "42", "x", 1, &tok)),
	    FB_ERR_UNAVAILABLE, "seal without keys is FB_ERR_UNAVAILABLE");
	ok(tok == NULL, "and gives no token");
	has_str(logged, "not configured", "logged as not configured");
	is_int(QUIET(crypto_open(&k, "users", "totp_secret", "42", KNOWN_TOKEN,
	    &out, &len)), FB_ERR_UNAVAILABLE, "open without keys too");
	ok(out == NULL && len == 0, "with no plaintext");
	crypto_keyring_free(&k);
	crypto_keyring_free(NULL);
	crypto_free_secret(NULL, 10);
	ok(1, "the free functions accept NULL");
}

struct ring_case {
	const char	*spec;
	const char	*name;
	const char	*secret;	/* must not be logged (or NULL) */
	const char	*entry;		/* "entry N" expected in the log */
};

static void
test_ring_parse(void)
{
	static const struct ring_case bad[] = {
		{ "k1:AQEBAQEBAQEBAQEB!QEBAQEBAQEBAQEBAQEBAQEBAQE=", "a bad base64 character",
		  "AQEBAQEBAQEB!QEB", "entry 1" },
		{ "k1:AQEBAQEBAQEBAQEB-QEBAQEBAQEBAQEBAQEBAQEBAQE=", "base64url, not standard",
		  "AQEBAQEBAQEB-QEB", "entry 1" },
		{ "k1:" KEY1 ",k2:" KEY31, "a 31-byte key", "AAAAAAAAAAAA", "entry 2" },
		{ "k1:" KEY33, "a 33-byte key", "AAAAAAAAAAAA", "entry 1" },
		{ "k1:AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE", "no padding",
		  "AQEBAQEBAQEB", "entry 1" },
		{ "k1:" KEY1 "=", "two '='", "AQEBAQEBAQEB", "entry 1" },
		{ "k1:" KEY1 ",k1:" KEY2, "a duplicate id", "AgICAgICAgIC", "entry 2" },
		{ ":" KEY1, "an empty id", "AQEBAQEBAQEB", "entry 1" },
		{ "abcdefghijklmnopq:" KEY1, "a 17-character id", "AQEBAQEBAQEB", "entry 1" },
		{ "k.1:" KEY1, "a '.' in an id", "AQEBAQEBAQEB", "entry 1" },
		{ " k1:" KEY1, "a space before an id", "AQEBAQEBAQEB", "entry 1" },
		{ KEY1, "no id at all", "AQEBAQEBAQEB", "entry 1" },
		{ "k1:" KEY1 ",", "a trailing comma", "AQEBAQEBAQEB", "entry 2" },
		{ "k1:" KEY1 ",,k2:" KEY2, "an empty entry", "AgICAgICAgIC", "entry 2" },
		{ "k1:" KEY1 ", k2:" KEY2, "a space after a comma", "AgICAgICAgIC", "entry 2" },
		{ "k1:", "no key", NULL, "entry 1" },
	};
	struct crypto_keyring	 k;
	char			 spec[2048];
	size_t			 i, o;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memset(&k, 0x55, sizeof(k));
		is_int(QUIET(crypto_keyring_load(bad[i].spec, &k)), FB_ERR_INVALID,
		    "ENCRYPTION_KEYS with %s", bad[i].name);
		ok(k.count == 0 && all_zero(&k, sizeof(k)),
		    "%s: the ring is left empty and wiped", bad[i].name);
		has_str(logged, bad[i].entry, "%s: the log names the entry",
		    bad[i].name);
		lacks_str(logged, "AQEBAQEBAQEB", "%s: no key material of key 1 "
		    "in the log", bad[i].name);
		if (bad[i].secret != NULL)
			lacks_str(logged, bad[i].secret, "%s: nor of the bad key",
			    bad[i].name);
	}

	/* 16 keys are fine, 17 are not. */
	for (i = 0, o = 0; i < 17; i++)
		o += (size_t)snprintf(spec + o, sizeof(spec) - o, "%sid%zu:%s",
		    i > 0 ? "," : "", i, KEY1);
	if (o >= sizeof(spec))
		bail_out("spec");
	is_int(QUIET(crypto_keyring_load(spec, &k)), FB_ERR_INVALID, "17 keys");
	has_str(logged, "more than 16 keys", "are too many");
	lacks_str(logged, "AQEBAQEBAQEB", "and the key is not logged");
	*strrchr(spec, ',') = '\0';
	is_int(crypto_keyring_load(spec, &k), FB_OK, "16 keys");
	is_int(k.count, 16, "all loaded");
	is_str(k.keys[15].id, "id15", "the last has its id");
	crypto_keyring_free(&k);
	ok(k.count == 0 && all_zero(&k, sizeof(k)), "crypto_keyring_free wipes");

	is_int(crypto_keyring_load("k_1-A:" KEYSEQ ",K2:" KEY2, &k), FB_OK,
	    "ids with _ and -");
	ok(k.count == 2 && strcmp(k.keys[0].id, "k_1-A") == 0 &&
	    k.keys[0].key[0] == 0 && k.keys[0].key[31] == 31 &&
	    k.keys[1].key[0] == 2, "ids and key bytes in order");
	crypto_keyring_free(&k);
}

int
main(void)
{
	log_setup("test_crypto", FBLOG_INFO);
	test_gcm_vectors();
	test_known_token();
	test_aad();
	test_round_trips();
	test_tampering();
	test_malformed();
	test_identity();
	test_key_rings();
	test_not_configured();
	test_ring_parse();
	return done_testing();
}
