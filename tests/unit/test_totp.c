/*
 * test_totp — RFC 6238: the Appendix B SHA-1 vectors, agreement with
 * oathtool(1) (skipped when it is not installed), the ±1 step window, replay
 * refusal, malformed codes, new secrets, and the otpauth URI's encoding.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "totp.h"
#include "tap.h"

/* RFC 6238 Appendix B: the SHA-1 seed is the ASCII "12345678901234567890". */
static const unsigned char rfc_secret[] = "12345678901234567890";
#define RFC_SECRET_LEN 20
#define RFC_SECRET_B32 "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"

static const struct {
	long long	 t;
	const char	*totp8;		/* the 8-digit value of the RFC's table */
} rfc_vectors[] = {
	{ 59LL,			"94287082" },
	{ 1111111109LL,		"07081804" },
	{ 1111111111LL,		"14050471" },
	{ 1234567890LL,		"89005924" },
	{ 2000000000LL,		"69279037" },
	{ 20000000000LL,	"65353130" },
};
#define NVECTORS (sizeof(rfc_vectors) / sizeof(rfc_vectors[0]))

static void
test_rfc6238_vectors(void)
{
	char		code[TOTP_DIGITS + 1];
	long long	step;
	size_t		i;

	for (i = 0; i < NVECTORS; i++) {
		const char *want = rfc_vectors[i].totp8 + 2;	/* last 6 digits */
		long long t = rfc_vectors[i].t;

		is_int(totp_code(rfc_secret, RFC_SECRET_LEN, t / 30, code), FB_OK,
		    "totp_code at T=%lld", t);
		is_str(code, want, "T=%lld: last 6 digits of %s", t,
		    rfc_vectors[i].totp8);
		step = -5;
		is_int(totp_verify(rfc_secret, RFC_SECRET_LEN, want, (time_t)t, -1,
		    &step), FB_OK, "T=%lld: %s accepted", t, want);
		is_int(step, t / 30, "T=%lld: matched step %lld", t, t / 30);
	}
}

static bool
have_tool(const char *name)
{
	char	cmd[128];

	if (snprintf(cmd, sizeof(cmd), "command -v %s >/dev/null 2>&1", name) >=
	    (int)sizeof(cmd))
		return false;
	return system(cmd) == 0;
}

/* The code oathtool computes for base32 at Unix time t, into code[7]. */
static bool
oathtool_code(const char *base32, long long t, char code[TOTP_DIGITS + 1])
{
	char		 cmd[256], date[64], line[64];
	struct tm	 tm;
	time_t		 tt = (time_t)t;
	FILE		*p;
	bool		 got;
	size_t		 n;

	if (gmtime_r(&tt, &tm) == NULL ||
	    strftime(date, sizeof(date), "%Y-%m-%d %H:%M:%S UTC", &tm) == 0)
		return false;
	/* base32 is [A-Z2-7] and date ours: nothing for the shell to expand. */
	if (snprintf(cmd, sizeof(cmd), "oathtool --totp -b '%s' --now '%s'",
	    base32, date) >= (int)sizeof(cmd))
		return false;
	if ((p = popen(cmd, "r")) == NULL)
		return false;
	got = fgets(line, sizeof(line), p) != NULL;
	if (pclose(p) != 0 || !got)
		return false;
	n = strcspn(line, "\r\n");
	if (n != TOTP_DIGITS)
		return false;
	memcpy(code, line, TOTP_DIGITS);
	code[TOTP_DIGITS] = '\0';
	return true;
}

static void
test_oathtool(void)
{
	unsigned char	 secret[TOTP_SECRET_BYTES];
	char		 b32[TOTP_BASE32_LEN + 1], code[TOTP_DIGITS + 1];
	char		 ours[TOTP_DIGITS + 1];
	long long	 times[] = { 59, 1111111111LL, 1700000029LL,
			    1700000030LL, 4102444800LL, 0 };
	long long	 step;
	size_t		 i, nt = sizeof(times) / sizeof(times[0]);

	times[nt - 1] = (long long)time(NULL);
	if (!have_tool("oathtool")) {
		skip(3 + 3 * (int)nt, "oathtool not installed");
		return;
	}
	ok(oathtool_code(RFC_SECRET_B32, 1234567890LL, code) &&
	    strcmp(code, "005924") == 0, "oathtool agrees on the RFC secret");
	if (!is_int(totp_secret_new(secret, b32), FB_OK, "a new secret"))
		return;
	for (i = 0; i < nt; i++) {
		if (!ok(oathtool_code(b32, times[i], code),
		    "oathtool --totp at %lld", times[i])) {
			skip(2, "no code from oathtool");
			continue;
		}
		step = -1;
		is_int(totp_verify(secret, sizeof(secret), code, (time_t)times[i],
		    -1, &step), FB_OK, "oathtool's code at %lld accepted", times[i]);
		ok(step == times[i] / 30 &&
		    totp_code(secret, sizeof(secret), step, ours) == FB_OK &&
		    strcmp(ours, code) == 0, "same step and code at %lld", times[i]);
	}
	/* oathtool's code of the next step is accepted now (drift). */
	ok(oathtool_code(b32, times[nt - 1] + 30, code) &&
	    totp_verify(secret, sizeof(secret), code, (time_t)times[nt - 1], -1,
	    NULL) == FB_OK, "oathtool's code 30 s ahead accepted");
}

static void
test_window(void)
{
	char		code[TOTP_DIGITS + 1];
	long long	cur, step;
	time_t		now;
	int		d;

	/* The first and the last second of a step. */
	for (now = 1700000010; now <= 1700000039; now += 29) {
		cur = (long long)now / 30;
		for (d = -3; d <= 3; d++) {
			if (totp_code(rfc_secret, RFC_SECRET_LEN, cur + d, code) != FB_OK) {
				ok(0, "totp_code step %+d", d);
				continue;
			}
			step = -7;
			if (d >= -1 && d <= 1) {
				is_int(totp_verify(rfc_secret, RFC_SECRET_LEN, code, now,
				    -1, &step), FB_OK, "now=%lld: step %+d accepted",
				    (long long)now, d);
				is_int(step, cur + d, "now=%lld: step %+d reported",
				    (long long)now, d);
			} else {
				is_int(totp_verify(rfc_secret, RFC_SECRET_LEN, code, now,
				    -1, &step), FB_ERR_NOTFOUND,
				    "now=%lld: step %+d refused", (long long)now, d);
				is_int(step, -7, "now=%lld: step %+d: *step untouched",
				    (long long)now, d);
			}
		}
	}
	/* Near the epoch there is no step -1. */
	is_int(totp_code(rfc_secret, RFC_SECRET_LEN, 0, code), FB_OK, "step 0");
	is_int(totp_verify(rfc_secret, RFC_SECRET_LEN, code, 5, -1, &step), FB_OK,
	    "step 0 accepted at t=5");
	is_int(step, 0, "step 0 reported");
}

static void
test_replay(void)
{
	char		c0[TOTP_DIGITS + 1], cm1[TOTP_DIGITS + 1], cp1[TOTP_DIGITS + 1];
	char		wrong[TOTP_DIGITS + 1];
	long long	cur, step = -1;
	time_t		now = 1700000045;

	cur = (long long)now / 30;
	if (totp_code(rfc_secret, RFC_SECRET_LEN, cur, c0) != FB_OK ||
	    totp_code(rfc_secret, RFC_SECRET_LEN, cur - 1, cm1) != FB_OK ||
	    totp_code(rfc_secret, RFC_SECRET_LEN, cur + 1, cp1) != FB_OK)
		bail_out("totp_code failed");

	is_int(totp_verify(rfc_secret, RFC_SECRET_LEN, c0, now, -1, &step), FB_OK,
	    "first use accepted");
	is_int(step, cur, "its step");
	is_int(totp_verify(rfc_secret, RFC_SECRET_LEN, c0, now, step, &step),
	    FB_ERR_NOTFOUND, "the same code again: replay refused");
	is_int(totp_verify(rfc_secret, RFC_SECRET_LEN, c0, now + 25, cur, NULL),
	    FB_ERR_NOTFOUND, "replay refused later in its window too");
	is_int(totp_verify(rfc_secret, RFC_SECRET_LEN, cm1, now, cur, NULL),
	    FB_ERR_NOTFOUND, "an earlier step after a later one: refused");
	is_int(totp_verify(rfc_secret, RFC_SECRET_LEN, cm1, now, cur - 2, NULL),
	    FB_OK, "step now-1 with last_step now-2: accepted");
	is_int(totp_verify(rfc_secret, RFC_SECRET_LEN, cm1, now, cur - 1, NULL),
	    FB_ERR_NOTFOUND, "step now-1 with last_step now-1: refused");
	step = -1;
	is_int(totp_verify(rfc_secret, RFC_SECRET_LEN, cp1, now, cur, &step),
	    FB_OK, "the next step after the current one: accepted");
	is_int(step, cur + 1, "its step");
	is_int(totp_verify(rfc_secret, RFC_SECRET_LEN, cp1, now + 30, cur + 1,
	    NULL), FB_ERR_NOTFOUND, "and refused once used, in the next step");

	/* A wrong code: the right one with its last digit changed. */
	memcpy(wrong, c0, sizeof(wrong));
	wrong[5] = wrong[5] == '9' ? '0' : wrong[5] + 1;
	if (strcmp(wrong, cm1) != 0 && strcmp(wrong, cp1) != 0)
		is_int(totp_verify(rfc_secret, RFC_SECRET_LEN, wrong, now, -1, NULL),
		    FB_ERR_NOTFOUND, "a wrong code: NOTFOUND");
	else
		skip(1, "the altered code is a neighbour's");
	is_int(totp_verify((const unsigned char *)"other secret", 12, c0, now, -1,
	    NULL), FB_ERR_NOTFOUND, "the code under another secret: NOTFOUND");
}

static void
test_bad_input(void)
{
	static const char *bad[] = {
		"12345", "1234567", "12a456", "", " 123456", "123456 ",
		"-12345", "+12345", "12345\n", "1234 6", "\xef\xbc\x91" "23456",
	};
	char		code[TOTP_DIGITS + 1];
	long long	step = 42;
	size_t		i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		is_int(totp_verify(rfc_secret, RFC_SECRET_LEN, bad[i], 1700000000,
		    -1, &step), FB_ERR_INVALID, "code \"%s\": INVALID", bad[i]);
	is_int(totp_verify(rfc_secret, RFC_SECRET_LEN, NULL, 1700000000, -1,
	    &step), FB_ERR_INVALID, "code NULL: INVALID");
	is_int(step, 42, "*step untouched by the refusals");
	is_int(totp_verify(NULL, 20, "123456", 1700000000, -1, NULL),
	    FB_ERR_INVALID, "secret NULL: INVALID");
	is_int(totp_verify(rfc_secret, 0, "123456", 1700000000, -1, NULL),
	    FB_ERR_INVALID, "empty secret: INVALID");
	is_int(totp_verify(rfc_secret, RFC_SECRET_LEN, "123456", -1, -1, NULL),
	    FB_ERR_INVALID, "time before the epoch: INVALID");
	is_int(totp_code(rfc_secret, RFC_SECRET_LEN, -1, code), FB_ERR_INVALID,
	    "totp_code of step -1: INVALID");
	is_int(totp_code(NULL, 20, 1, code), FB_ERR_INVALID,
	    "totp_code without secret: INVALID");
	is_int(totp_secret_new(NULL, NULL), FB_ERR_INVALID,
	    "totp_secret_new(NULL): INVALID");
}

static void
test_secret_new(void)
{
	unsigned char	a[TOTP_SECRET_BYTES], b[TOTP_SECRET_BYTES];
	char		ta[TOTP_BASE32_LEN + 1], tb[TOTP_BASE32_LEN + 1];
	size_t		i;

	is_int(totp_secret_new(a, ta), FB_OK, "secret a");
	is_int(totp_secret_new(b, tb), FB_OK, "secret b");
	ok(memcmp(a, b, sizeof(a)) != 0, "two secrets differ");
	is_int(strlen(ta), 32, "base32 of 160 bits: 32 characters");
	is_int(strspn(ta, "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"), 32,
	    "RFC 4648 §6 alphabet, no padding");
	/* The 5-bit groups of a's first bytes give its first characters. */
	i = ((size_t)a[0] >> 3);
	ok(ta[0] == "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"[i],
	    "the first character encodes the top 5 bits");
}

static void
test_uri(void)
{
	char	*uri = (char *)"sentinel";
	char	 big[TOTP_ACCOUNT_MAX + 2];

	is_int(totp_uri("Fast Back Inc", "alice+2fa@example.com", RFC_SECRET_B32,
	    &uri), FB_OK, "uri");
	is_str(uri, "otpauth://totp/Fast%20Back%20Inc:alice%2B2fa@example.com"
	    "?secret=" RFC_SECRET_B32 "&issuer=Fast%20Back%20Inc"
	    "&algorithm=SHA1&digits=6&period=30",
	    "issuer spaces as %%20, '+' as %%2B, '@' kept");
	free(uri);

	is_int(totp_uri("A&B:C=D?/#", "x y%z\xc3\xbc~._-", "ABC234", &uri),
	    FB_OK, "uri with reserved characters");
	is_str(uri, "otpauth://totp/A%26B%3AC%3DD%3F%2F%23:x%20y%25z%C3%BC~._-"
	    "?secret=ABC234&issuer=A%26B%3AC%3DD%3F%2F%23"
	    "&algorithm=SHA1&digits=6&period=30",
	    "reserved characters, '%%' and UTF-8 encoded; unreserved kept");
	free(uri);

	uri = (char *)"sentinel";
	is_int(totp_uri(NULL, "a@b", "ABC", &uri), FB_ERR_INVALID, "issuer NULL");
	ok(uri == NULL, "*out NULL after a failure");
	is_int(totp_uri("I", NULL, "ABC", &uri), FB_ERR_INVALID, "account NULL");
	is_int(totp_uri("I", "a@b", NULL, &uri), FB_ERR_INVALID, "secret NULL");
	is_int(totp_uri("", "a@b", "ABC", &uri), FB_ERR_INVALID, "issuer empty");
	is_int(totp_uri("I", "", "ABC", &uri), FB_ERR_INVALID, "account empty");
	is_int(totp_uri("I", "a@b", "", &uri), FB_ERR_INVALID, "secret empty");
	is_int(totp_uri("I", "a@b", "abc", &uri), FB_ERR_INVALID,
	    "lower-case base32");
	is_int(totp_uri("I", "a@b", "ABC=====", &uri), FB_ERR_INVALID,
	    "padded base32");
	is_int(totp_uri("I", "a@b", "AB&issuer=x", &uri), FB_ERR_INVALID,
	    "a secret smuggling a parameter");
	is_int(totp_uri("I", "a@b", "ABC", NULL), FB_ERR_INVALID, "out NULL");
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	is_int(totp_uri("I", big, "ABC", &uri), FB_ERR_TOOBIG, "account too long");
	big[TOTP_ISSUER_MAX + 1] = '\0';
	is_int(totp_uri(big, "a@b", "ABC", &uri), FB_ERR_TOOBIG, "issuer too long");
	big[TOTP_ISSUER_MAX] = '\0';
	is_int(totp_uri(big, "a@b", "ABC", &uri), FB_OK, "issuer at the cap");
	free(uri);
}

int
main(void)
{
	test_rfc6238_vectors();
	test_oathtool();
	test_window();
	test_replay();
	test_bad_input();
	test_secret_new();
	test_uri();
	return done_testing();
}
