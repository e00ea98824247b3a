/*
 * test_b64 — base64url without padding: the RFC 4648 §10 vectors (in the
 * url alphabet, unpadded), round trips, and every way a decode must fail.
 */
#include <string.h>

#include "b64.h"
#include "tap.h"

static const struct {
	const char	*plain;
	const char	*enc;
} vectors[] = {
	/* RFC 4648 §10, padding removed (§5 / RFC 7515 §2). */
	{ "",		"" },
	{ "f",		"Zg" },
	{ "fo",		"Zm8" },
	{ "foo",	"Zm9v" },
	{ "foob",	"Zm9vYg" },
	{ "fooba",	"Zm9vYmE" },
	{ "foobar",	"Zm9vYmFy" },
};

static void
test_vectors(void)
{
	char		 out[B64URL_ENCODED_SIZE(16)];
	unsigned char	 dec[16];
	size_t		 i, n, len;

	for (i = 0; i < sizeof(vectors) / sizeof(vectors[0]); i++) {
		len = strlen(vectors[i].plain);
		n = b64url_encode(vectors[i].plain, len, out);
		is_str(out, vectors[i].enc, "encode \"%s\"", vectors[i].plain);
		is_int(n, strlen(vectors[i].enc), "encode \"%s\": length", vectors[i].plain);
		n = 99;
		if (!is_int(b64url_decode(vectors[i].enc, strlen(vectors[i].enc), dec,
		    sizeof(dec), &n), FB_OK, "decode \"%s\"", vectors[i].enc))
			continue;
		ok(n == len && memcmp(dec, vectors[i].plain, len) == 0,
		    "decode \"%s\" gives \"%s\"", vectors[i].enc, vectors[i].plain);
	}
}

static void
test_url_alphabet(void)
{
	static const unsigned char hi[] = { 0xfb, 0xff, 0xbf };
	static const unsigned char qm[] = { 0xff, 0xfe };
	char		 out[B64URL_ENCODED_SIZE(3)];
	unsigned char	 dec[3];
	size_t		 n;

	b64url_encode(hi, sizeof(hi), out);
	is_str(out, "-_-_", "0xfb 0xff 0xbf use - and _ (standard: +/+/)");
	b64url_encode(qm, sizeof(qm), out);
	is_str(out, "__4", "0xff 0xfe");
	is_int(b64url_decode("-_-_", 4, dec, sizeof(dec), &n), FB_OK, "decode -_-_");
	ok(n == 3 && memcmp(dec, hi, 3) == 0, "decode -_-_ bytes");
	is_int(b64url_decode("+/+/", 4, dec, sizeof(dec), &n), FB_ERR_INVALID,
	    "the standard alphabet's + and / are refused");
}

static void
test_roundtrip(void)
{
	unsigned char	 in[70], dec[70];
	char		 out[B64URL_ENCODED_SIZE(70)];
	size_t		 n, i, len, bad = 0;

	for (i = 0; i < sizeof(in); i++)
		in[i] = (unsigned char)(i * 37 + 11);
	for (len = 0; len <= sizeof(in); len++) {
		n = b64url_encode(in, len, out);
		if (n != strlen(out) || n != (len * 4 + 2) / 3 ||
		    b64url_decode(out, n, dec, len, &i) != FB_OK || i != len ||
		    memcmp(in, dec, len) != 0)
			bad++;
	}
	is_int(bad, 0, "round trip of every length 0..70, exact output room");
	ok(B64URL_ENCODED_SIZE(70) >= (70 * 4 + 2) / 3 + 1, "B64URL_ENCODED_SIZE covers it");
}

static void
test_invalid(void)
{
	static const struct {
		const char	*s;
		const char	*why;
	} bad[] = {
		{ "Zg==",	"padding" },
		{ "Zm8=",	"one padding character" },
		{ "Zm9v====",	"padding after a full quantum" },
		{ "Z",		"one character (impossible length)" },
		{ "Zm9vY",	"4n+1 characters" },
		{ "Z 9v",	"a space" },
		{ "Zm9\n",	"a newline" },
		{ "Zm.v",	"a dot" },
		{ "Zm+v",	"+" },
		{ "Zm/v",	"/" },
		{ "Zm\xc3\xa9",	"non-ASCII bytes" },
		/* RFC 4648 §3.5: the unused bits of the last character must be 0. */
		{ "Zh",		"non-canonical: 'h' leaves bits in the 2-char tail" },
		{ "Zm9",	"non-canonical: '9' leaves bits in the 3-char tail" },
		{ "Zm9vYh",	"non-canonical tail after a full quantum" },
		{ "__",		"non-canonical: 0xff with stray bits" },
	};
	unsigned char	dec[16];
	size_t		i, n;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		is_int(b64url_decode(bad[i].s, strlen(bad[i].s), dec, sizeof(dec), &n),
		    FB_ERR_INVALID, "refused: %s", bad[i].why);
	is_int(b64url_decode("Zm\0v", 4, dec, sizeof(dec), &n), FB_ERR_INVALID,
	    "an embedded NUL is refused");
	is_int(b64url_decode("Zm9vYmFy", 4, dec, sizeof(dec), &n), FB_OK,
	    "only len characters are read");
	ok(n == 3 && memcmp(dec, "foo", 3) == 0, "the first quantum alone is \"foo\"");
}

static void
test_toobig(void)
{
	unsigned char	dec[8];
	size_t		n = 77;

	is_int(b64url_decode("Zm9v", 4, dec, 2, &n), FB_ERR_TOOBIG,
	    "3 bytes into 2: TOOBIG");
	is_int(b64url_decode("Zm9v", 4, dec, 3, &n), FB_OK, "3 bytes into 3: fits");
	is_int(n, 3, "outlen 3");
	is_int(b64url_decode("Zg", 2, dec, 0, &n), FB_ERR_TOOBIG, "1 byte into 0: TOOBIG");
	is_int(b64url_decode("", 0, NULL, 0, &n), FB_OK, "empty into nothing");
	is_int(n, 0, "outlen 0");
	is_int(b64url_decode("Zm9vYmFy", 8, dec, 5, &n), FB_ERR_TOOBIG,
	    "6 bytes into 5: TOOBIG");
}

int
main(void)
{
	test_vectors();
	test_url_alphabet();
	test_roundtrip();
	test_invalid();
	test_toobig();
	return done_testing();
}
