#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <oath.h>
#include <openssl/crypto.h>

#include "buf.h"
#include "log.h"
#include "rand.h"
#include "totp.h"

/* liboath wants oath_init() before use; our processes are single-threaded. */
static bool	totp_ready;

static enum fb_err
totp_init(void)
{
	int	rc;

	if (totp_ready)
		return FB_OK;
	if ((rc = oath_init()) != OATH_OK) {
		log_msg(FBLOG_ERROR, "oath_init: %s", oath_strerror(rc));
		return FB_ERR_INTERNAL;
	}
	totp_ready = true;
	return FB_OK;
}

enum fb_err
totp_secret_new(unsigned char secret[TOTP_SECRET_BYTES],
    char base32[TOTP_BASE32_LEN + 1])
{
	char		*enc = NULL;
	size_t		 enclen = 0;
	enum fb_err	 e;
	int		 rc;

	if (secret == NULL || base32 == NULL)
		return FB_ERR_INVALID;
	if ((e = totp_init()) != FB_OK)
		goto fail;
	if ((e = rand_bytes(secret, TOTP_SECRET_BYTES)) != FB_OK)
		goto fail;
	/* 160 bits are exactly 32 base32 characters: no padding (RFC 4648 §6). */
	rc = oath_base32_encode((const char *)secret, TOTP_SECRET_BYTES, &enc,
	    &enclen);
	if (rc != OATH_OK) {
		log_msg(FBLOG_ERROR, "oath_base32_encode: %s", oath_strerror(rc));
		e = rc == OATH_MALLOC_ERROR ? FB_ERR_NOMEM : FB_ERR_INTERNAL;
		goto fail;
	}
	if (enc == NULL || enclen != TOTP_BASE32_LEN) {
		log_msg(FBLOG_ERROR, "oath_base32_encode: %zu characters", enclen);
		e = FB_ERR_INTERNAL;
		goto fail;
	}
	memcpy(base32, enc, TOTP_BASE32_LEN);
	base32[TOTP_BASE32_LEN] = '\0';
	e = FB_OK;
	goto out;
fail:
	OPENSSL_cleanse(secret, TOTP_SECRET_BYTES);
	OPENSSL_cleanse(base32, TOTP_BASE32_LEN + 1);
out:
	if (enc != NULL) {
		OPENSSL_cleanse(enc, enclen);
		free(enc);
	}
	return e;
}

enum fb_err
totp_code(const unsigned char *secret, size_t len, long long step,
    char code[TOTP_DIGITS + 1])
{
	enum fb_err	e;
	int		rc;

	if (secret == NULL || len == 0 || step < 0 || code == NULL)
		return FB_ERR_INVALID;
	if ((e = totp_init()) != FB_OK)
		return e;
	/* RFC 6238 §4.2: TOTP = HOTP(K, T), T the step number (§4.1 T0 = 0). */
	rc = oath_hotp_generate((const char *)secret, len, (uint64_t)step,
	    TOTP_DIGITS, false, OATH_HOTP_DYNAMIC_TRUNCATION, code);
	if (rc != OATH_OK) {
		log_msg(FBLOG_ERROR, "oath_hotp_generate: %s", oath_strerror(rc));
		OPENSSL_cleanse(code, TOTP_DIGITS + 1);
		return rc == OATH_MALLOC_ERROR ? FB_ERR_NOMEM : FB_ERR_INTERNAL;
	}
	return FB_OK;
}

/* Exactly TOTP_DIGITS ASCII digits; never reads past the first non-digit. */
static bool
totp_code_wellformed(const char *code)
{
	size_t	i;

	if (code == NULL)
		return false;
	for (i = 0; i < TOTP_DIGITS; i++)
		if (code[i] < '0' || code[i] > '9')
			return false;
	return code[TOTP_DIGITS] == '\0';
}

enum fb_err
totp_verify(const unsigned char *secret, size_t len, const char *code,
    time_t now, long long last_step, long long *step)
{
	char		 want[TOTP_DIGITS + 1];
	long long	 cur, s, found = -1;
	int		 d, same;
	enum fb_err	 e = FB_OK;

	if (secret == NULL || len == 0 || now < 0 || !totp_code_wellformed(code))
		return FB_ERR_INVALID;
	cur = (long long)(now / TOTP_PERIOD);
	/*
	 * RFC 6238 §5.2: one step of drift either way. Every candidate is
	 * computed and compared, matched or not, so timing tells nothing.
	 */
	for (d = -TOTP_WINDOW; d <= TOTP_WINDOW; d++) {
		s = cur + d;
		if (s < 0)	/* before the epoch: depends on now only */
			continue;
		if ((e = totp_code(secret, len, s, want)) != FB_OK)
			goto out;
		same = CRYPTO_memcmp(want, code, TOTP_DIGITS) == 0;
		/* RFC 6238 §5.2: a code already accepted is refused. */
		if (same & (s > last_step))
			found = s;
	}
	if (found < 0) {
		e = FB_ERR_NOTFOUND;
		goto out;
	}
	if (step != NULL)
		*step = found;
	e = FB_OK;
out:
	OPENSSL_cleanse(want, sizeof(want));
	return e;
}

/* RFC 3986 §2.3 unreserved characters. */
static bool
totp_unreserved(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	    (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' ||
	    c == '~';
}

/* Appends s percent-encoded (RFC 3986 §2.1), '@' kept (a pchar, §3.3). */
static void
totp_pct_encode(struct buf *b, const char *s)
{
	static const char	 hex[] = "0123456789ABCDEF";
	const unsigned char	*p;
	char			 enc[3];

	for (p = (const unsigned char *)s; *p != '\0'; p++) {
		if (totp_unreserved(*p) || *p == '@') {
			buf_append(b, p, 1);
			continue;
		}
		enc[0] = '%';
		enc[1] = hex[*p >> 4];
		enc[2] = hex[*p & 15];
		buf_append(b, enc, sizeof(enc));
	}
}

/* RFC 4648 §6 alphabet, upper case, no padding. */
static bool
totp_base32_wellformed(const char *s, size_t len)
{
	size_t	i;

	for (i = 0; i < len; i++)
		if (!((s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= '2' && s[i] <= '7')))
			return false;
	return true;
}

/* Google's Key Uri Format, with the parameters of RFC 6238 we use. */
#define TOTP_URI_FMT "otpauth://totp/%s:%s?secret=%.*s&issuer=%s" \
	"&algorithm=SHA1&digits=6&period=30"

enum fb_err
totp_uri(const char *issuer, const char *account, const char *base32,
    char **out)
{
	struct buf	 ei = BUF_INIT, ea = BUF_INIT;
	size_t		 ilen, alen, slen;
	char		*uri = NULL;
	int		 n = 0, m;
	enum fb_err	 e;

	if (out == NULL)
		return FB_ERR_INVALID;
	*out = NULL;
	if (issuer == NULL || account == NULL || base32 == NULL)
		return FB_ERR_INVALID;
	ilen = strnlen(issuer, TOTP_ISSUER_MAX + 1);
	alen = strnlen(account, TOTP_ACCOUNT_MAX + 1);
	slen = strnlen(base32, TOTP_BASE32_MAX + 1);
	if (ilen == 0 || alen == 0 || slen == 0)
		return FB_ERR_INVALID;
	if (ilen > TOTP_ISSUER_MAX || alen > TOTP_ACCOUNT_MAX ||
	    slen > TOTP_BASE32_MAX)
		return FB_ERR_TOOBIG;
	if (!totp_base32_wellformed(base32, slen))
		return FB_ERR_INVALID;

	totp_pct_encode(&ei, issuer);
	totp_pct_encode(&ea, account);
	if (buf_failed(&ei) || buf_failed(&ea)) {
		e = FB_ERR_NOMEM;
		goto fail;
	}
	/*
	 * Key Uri Format: the label is "issuer:account", ':' left literal.
	 * Sized first and written once, so no realloc leaves copies of the
	 * secret behind.
	 */
	n = snprintf(NULL, 0, TOTP_URI_FMT, buf_str(&ei), buf_str(&ea), (int)slen,
	    base32, buf_str(&ei));
	if (n < 0) {
		e = FB_ERR_INTERNAL;
		goto fail;
	}
	if ((uri = malloc((size_t)n + 1)) == NULL) {
		e = FB_ERR_NOMEM;
		goto fail;
	}
	m = snprintf(uri, (size_t)n + 1, TOTP_URI_FMT, buf_str(&ei), buf_str(&ea),
	    (int)slen, base32, buf_str(&ei));
	if (m != n) {
		e = FB_ERR_INTERNAL;
		goto fail;
	}
	*out = uri;
	uri = NULL;
	e = FB_OK;
	goto out;
fail:
	log_msg(FBLOG_ERROR, "totp_uri: %s", fb_strerror(e));
out:
	if (uri != NULL) {
		OPENSSL_cleanse(uri, (size_t)n + 1);
		free(uri);
	}
	buf_free(&ei);
	buf_free(&ea);
	return e;
}
