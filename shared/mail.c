#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "log.h"
#include "mail.h"
#include "rand.h"

/* RFC 2047 §2: a line holding an encoded-word is at most 76 characters; we
 * fold every header at that width (RFC 5322 §2.1.1 asks for 78). */
#define HDR_LINE	76
/* "=?UTF-8?B?" and "?=" around the base64 of an encoded-word. */
#define EW_PREFIX	"=?UTF-8?B?"
#define EW_OVERHEAD	12
/* RFC 2045 §6.7 (5): encoded lines of at most 76 characters. */
#define QP_LINE		76
/* Random bytes (as hex) of the MIME boundary and of the Message-ID. */
#define RANDOM_BYTES	16

/* ---- checks --------------------------------------------------------------- */

/* RFC 3629 §4: no overlong forms, no surrogates, nothing above U+10FFFF. */
static bool
utf8_valid(const unsigned char *s, size_t len)
{
	size_t		i = 0, n, k;
	unsigned int	c;

	while (i < len) {
		c = s[i];
		if (c < 0x80) {
			i++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf) {
			n = 1;
			c &= 0x1f;
		} else if (c >= 0xe0 && c <= 0xef) {
			n = 2;
			c &= 0x0f;
		} else if (c >= 0xf0 && c <= 0xf4) {
			n = 3;
			c &= 0x07;
		} else
			return false;
		if (len - i - 1 < n)
			return false;
		for (k = 1; k <= n; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return false;
			c = (c << 6) | (s[i + k] & 0x3f);
		}
		if ((n == 2 && c < 0x800) || (n == 3 && c < 0x10000) ||
		    c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
			return false;
		i += n + 1;
	}
	return true;
}

/* A header value: UTF-8 without any control character (CR and LF included:
 * a value can never start a new header line). */
static bool
header_text_ok(const char *s, size_t len)
{
	size_t	i;

	for (i = 0; i < len; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return false;
	return utf8_valid((const unsigned char *)s, len);
}

/* RFC 5322 §3.2.3 atext. */
static bool
is_atext(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || (c != '\0' && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL);
}

static bool
is_ldh(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || c == '-';
}

bool
mail_address_valid(const char *addr)
{
	const char	*at, *p, *label;
	size_t		 len;

	if (addr == NULL)
		return false;
	len = strnlen(addr, MAIL_ADDR_MAX + 1);
	if (len > MAIL_ADDR_MAX || (at = strrchr(addr, '@')) == NULL)
		return false;
	/* Local part: dot-atom (RFC 5322 §3.4.1), no quoted strings. */
	if (at == addr || (size_t)(at - addr) > MAIL_LOCAL_MAX ||
	    addr[0] == '.' || at[-1] == '.')
		return false;
	for (p = addr; p < at; p++) {
		if (*p == '.' ? p[1] == '.' : !is_atext((unsigned char)*p))
			return false;
	}
	/* Domain: LDH labels of 1 to 63 octets (RFC 1035 §2.3.1, RFC 1123 §2.1). */
	label = at + 1;
	for (p = label;; p++) {
		if (*p == '.' || *p == '\0') {
			if (p == label || p - label > 63 || *label == '-' || p[-1] == '-')
				return false;
			if (*p == '\0')
				return true;
			label = p + 1;
		} else if (!is_ldh((unsigned char)*p))
			return false;
	}
}

static bool
name_ok(const char *s, size_t len)
{
	return len <= MAIL_NAME_MAX && header_text_ok(s, len);
}

enum fb_err
mail_address_parse(const char *s, struct mail_address *out)
{
	const char	*lt, *addr, *name;
	size_t		 len, alen, nlen, i, o;

	memset(out, 0, sizeof(*out));
	if (s == NULL)
		return FB_ERR_INVALID;
	while (*s == ' ' || *s == '\t')
		s++;
	len = strlen(s);
	while (len > 0 && (s[len - 1] == ' ' || s[len - 1] == '\t'))
		len--;
	name = s;
	nlen = 0;
	addr = s;
	alen = len;
	if (len > 0 && s[len - 1] == '>') {
		if ((lt = memrchr(s, '<', len)) == NULL)
			return FB_ERR_INVALID;
		addr = lt + 1;
		alen = (size_t)(s + len - 1 - addr);
		nlen = (size_t)(lt - s);
		while (nlen > 0 && (s[nlen - 1] == ' ' || s[nlen - 1] == '\t'))
			nlen--;
	}
	if (alen > MAIL_ADDR_MAX)
		return FB_ERR_INVALID;
	memcpy(out->addr, addr, alen);
	out->addr[alen] = '\0';
	if (!mail_address_valid(out->addr))
		goto invalid;
	if (nlen >= 2 && name[0] == '"' && name[nlen - 1] == '"') {
		/* A quoted-string (RFC 5322 §3.2.4): drop the quotes and the
		 * backslashes of quoted-pairs. */
		for (i = 1, o = 0; i < nlen - 1; i++) {
			if (name[i] == '"')
				goto invalid;
			if (name[i] == '\\' && ++i == nlen - 1)
				goto invalid;
			if (o == MAIL_NAME_MAX)
				goto invalid;
			out->name[o++] = name[i];
		}
		out->name[o] = '\0';
	} else {
		if (nlen > MAIL_NAME_MAX)
			goto invalid;
		memcpy(out->name, name, nlen);
		out->name[nlen] = '\0';
	}
	if (!name_ok(out->name, strlen(out->name)))
		goto invalid;
	return FB_OK;
invalid:
	memset(out, 0, sizeof(*out));
	return FB_ERR_INVALID;
}

/* ---- header writing --------------------------------------------------------- */

/* One header field being written, folded at HDR_LINE. */
struct hdr {
	struct buf	*b;
	size_t		 col;	/* characters on the current line */
	size_t		 start;	/* col right after "Name:" */
};

static void
hdr_begin(struct hdr *h, struct buf *b, const char *name)
{
	h->b = b;
	buf_puts(b, name);
	buf_puts(b, ":");
	h->col = h->start = strlen(name) + 1;
}

/* Folding is a CRLF before the space that separates two tokens
 * (RFC 5322 §2.2.3), so unfolding gives back the single space. */
static void
hdr_fold_if(struct hdr *h, size_t need)
{
	if (h->col > h->start && h->col + need > HDR_LINE) {
		buf_puts(h->b, "\r\n");
		h->col = 0;
	}
}

/* A space and then s[0..len), which holds no whitespace. */
static void
hdr_token(struct hdr *h, const char *s, size_t len)
{
	hdr_fold_if(h, 1 + len);
	buf_puts(h->b, " ");
	buf_append(h->b, s, len);
	h->col += 1 + len;
}

/*
 * s[0..len) (UTF-8) as RFC 2047 B encoded-words of at most 75 characters,
 * each on a line of at most 76 (§2), each holding whole characters (§5):
 * a decoder drops the whitespace between adjacent encoded-words (§6.2).
 */
static void
hdr_encoded(struct hdr *h, const char *s, size_t len)
{
	unsigned char	 b64[64 + 1];	/* 45 bytes make 60 characters */
	size_t		 room, n;
	int		 blen;

	while (len > 0) {
		hdr_fold_if(h, 1 + EW_OVERHEAD + 4);
		room = HDR_LINE - h->col - 1 - EW_OVERHEAD;
		n = room / 4 * 3;
		if (n > 45)
			n = 45;
		if (n >= len)
			n = len;
		else
			while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
				n--;
		if (n == 0) {		/* not even one character fits here */
			buf_puts(h->b, "\r\n");
			h->col = 0;
			continue;
		}
		blen = EVP_EncodeBlock(b64, (const unsigned char *)s, (int)n);
		buf_puts(h->b, " " EW_PREFIX);
		buf_append(h->b, b64, (size_t)blen);
		buf_puts(h->b, "?=");
		h->col += 1 + EW_OVERHEAD + (size_t)blen;
		s += n;
		len -= n;
	}
}

static void
hdr_end(struct hdr *h)
{
	buf_puts(h->b, "\r\n");
}

/* Needs RFC 2047: not printable ASCII, or "=?" that a decoder would take
 * for the start of an encoded-word. */
static bool
needs_encoding(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 || (unsigned char)*s > 0x7e ||
		    (s[0] == '=' && s[1] == '?'))
			return true;
	return false;
}

/* Words of printable ASCII separated by single spaces, none longer than
 * fits on a line of 998 octets. */
static bool
is_plain_words(const char *s, bool atext_only)
{
	size_t	word = 0;

	if (*s == ' ')
		return false;
	for (; *s != '\0'; s++) {
		if (*s == ' ') {
			if (s[1] == ' ' || s[1] == '\0')
				return false;
			word = 0;
		} else if (atext_only ? !is_atext((unsigned char)*s) :
		    (*s < 0x21 || *s > 0x7e))
			return false;
		else if (++word > 900)
			return false;
	}
	return true;
}

static void
hdr_words(struct hdr *h, const char *s)
{
	size_t	n;

	while (*s != '\0') {
		n = strcspn(s, " ");
		hdr_token(h, s, n);
		s += n;
		if (*s == ' ')
			s++;
	}
}

/* A display name (RFC 5322 §3.4 phrase): atoms as they are, other ASCII
 * as a quoted-string, anything else as encoded-words (RFC 2047 §5 (3)). */
static void
hdr_phrase(struct hdr *h, const char *name)
{
	struct buf	q = BUF_INIT;

	if (needs_encoding(name))
		hdr_encoded(h, name, strlen(name));
	else if (is_plain_words(name, true))
		hdr_words(h, name);
	else {
		buf_puts(&q, "\"");
		for (; *name != '\0'; name++) {
			if (*name == '"' || *name == '\\')
				buf_puts(&q, "\\");
			buf_append(&q, name, 1);
		}
		buf_puts(&q, "\"");
		/* One token of at most 2 * MAIL_NAME_MAX + 2 octets; a failed
		 * q is seen by the caller as the failure of h->b. */
		if (buf_failed(&q))
			h->b->failed = true;
		else
			hdr_token(h, q.data, q.len);
		buf_free(&q);
	}
}

static void
hdr_address(struct buf *b, const char *field, const struct mail_address *a)
{
	struct hdr	h;
	char		angle[MAIL_ADDR_MAX + 3];
	int		n;

	hdr_begin(&h, b, field);
	if (a->name[0] != '\0') {
		hdr_phrase(&h, a->name);
		n = snprintf(angle, sizeof(angle), "<%s>", a->addr);
		hdr_token(&h, angle, (size_t)n);	/* fits: addr <= MAIL_ADDR_MAX */
	} else
		hdr_token(&h, a->addr, strlen(a->addr));
	hdr_end(&h);
}

static void
hdr_subject(struct buf *b, const char *subject)
{
	struct hdr	h;

	hdr_begin(&h, b, "Subject");
	if (needs_encoding(subject) || !is_plain_words(subject, false))
		hdr_encoded(&h, subject, strlen(subject));
	else
		hdr_words(&h, subject);
	hdr_end(&h);
}

/* RFC 5322 §3.3 date-time in UTC, with English names whatever the locale. */
static enum fb_err
hdr_date(struct buf *b)
{
	static const char *const days[] = {
		"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat" };
	static const char *const months[] = {
		"Jan", "Feb", "Mar", "Apr", "May", "Jun",
		"Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
	struct tm	tm;
	time_t		now;

	if ((now = time(NULL)) == (time_t)-1 || gmtime_r(&now, &tm) == NULL ||
	    tm.tm_wday < 0 || tm.tm_wday > 6 || tm.tm_mon < 0 || tm.tm_mon > 11) {
		log_msg(FBLOG_ERROR, "mail: cannot read the clock");
		return FB_ERR_INTERNAL;
	}
	buf_printf(b, "Date: %s, %d %s %04d %02d:%02d:%02d +0000\r\n",
	    days[tm.tm_wday], tm.tm_mday, months[tm.tm_mon], tm.tm_year + 1900,
	    tm.tm_hour, tm.tm_min, tm.tm_sec);
	return FB_OK;
}

/* ---- quoted-printable --------------------------------------------------------- */

/* Whether s[i] (not a line end) is the last character of its line. */
static bool
qp_is_last(const char *s, size_t len, size_t i)
{
	return i + 1 == len || s[i + 1] == '\n' ||
	    (s[i + 1] == '\r' && i + 2 < len && s[i + 2] == '\n');
}

/* The encoding of s[i] at column col into tok; returns its length. */
static size_t
qp_token(const char *s, size_t len, size_t i, size_t col, bool last, char tok[3])
{
	static const char	 hex[] = "0123456789ABCDEF";
	unsigned char		 c = (unsigned char)s[i];
	bool			 literal;

	/* RFC 2045 §6.7 (2) literal printable ASCII but '='; (3) a space or
	 * tab only when not at the end of the line. */
	literal = (c >= 33 && c <= 126 && c != '=') ||
	    ((c == ' ' || c == '\t') && !last);
	/* RFC 2049 §3 (8): a '.' or "From " at the start of a line survives
	 * SMTP and mbox better encoded. */
	if (col == 0 && (c == '.' ||
	    (c == 'F' && len - i >= 5 && memcmp(s + i, "From ", 5) == 0)))
		literal = false;
	if (literal) {
		tok[0] = (char)c;
		return 1;
	}
	tok[0] = '=';
	tok[1] = hex[c >> 4];
	tok[2] = hex[c & 15];
	return 3;
}

enum fb_err
mail_qp_encode(const char *s, size_t len, struct buf *out)
{
	size_t	i = 0, col = 0, n;
	char	tok[3];
	bool	last;

	while (i < len) {
		if (s[i] == '\n' || (s[i] == '\r' && i + 1 < len && s[i + 1] == '\n')) {
			buf_puts(out, "\r\n");
			col = 0;
			i += s[i] == '\r' ? 2 : 1;
			continue;
		}
		last = qp_is_last(s, len, i);
		n = qp_token(s, len, i, col, last, tok);
		/* The last token of a line may reach column 76; any other must
		 * leave room for the '=' of a soft line break (rule 5). */
		if (col + n > (last ? QP_LINE : QP_LINE - 1)) {
			buf_puts(out, "=\r\n");
			col = 0;
			n = qp_token(s, len, i, col, last, tok);
		}
		buf_append(out, tok, n);
		col += n;
		i++;
	}
	if (buf_failed(out)) {
		log_msg(FBLOG_ERROR, "mail: out of memory");
		return FB_ERR_NOMEM;
	}
	return FB_OK;
}

/* ---- the message ------------------------------------------------------------ */

static enum fb_err
check_part(const char *what, const char *s)
{
	size_t	len = strnlen(s, (size_t)MAIL_PART_MAX + 1);

	if (len > MAIL_PART_MAX) {
		log_msg(FBLOG_WARN, "mail: %s part over %d bytes", what, MAIL_PART_MAX);
		return FB_ERR_TOOBIG;
	}
	if (!utf8_valid((const unsigned char *)s, len)) {
		log_msg(FBLOG_WARN, "mail: %s part is not UTF-8", what);
		return FB_ERR_INVALID;
	}
	return FB_OK;
}

static void
part_headers(struct buf *b, const char *type)
{
	buf_printf(b, "Content-Type: %s; charset=utf-8\r\n"
	    "Content-Transfer-Encoding: quoted-printable\r\n", type);
}

enum fb_err
mail_format(const struct mail_message *m, struct buf *out)
{
	struct mail_address	 from, to;
	struct buf		 b = BUF_INIT, qtext = BUF_INIT, qhtml = BUF_INIT;
	char			 boundary[5 + 2 * RANDOM_BYTES + 1];
	char			 id[2 * RANDOM_BYTES + 1];
	size_t			 len;
	int			 tries;
	enum fb_err		 e;

	if (m == NULL || m->from == NULL || m->to == NULL || m->subject == NULL ||
	    m->text == NULL) {
		log_msg(FBLOG_ERROR, "mail: message without from, to, subject or text");
		return FB_ERR_INVALID;
	}
	if (mail_address_parse(m->from, &from) != FB_OK) {
		log_msg(FBLOG_WARN, "mail: malformed From address");
		return FB_ERR_INVALID;
	}
	if (mail_address_parse(m->to, &to) != FB_OK) {
		log_msg(FBLOG_WARN, "mail: malformed To address");
		return FB_ERR_INVALID;
	}
	if (m->to_name != NULL) {
		len = strnlen(m->to_name, MAIL_NAME_MAX + 1);
		if (!name_ok(m->to_name, len)) {
			log_msg(FBLOG_WARN, "mail: malformed To name");
			return FB_ERR_INVALID;
		}
		memcpy(to.name, m->to_name, len + 1);
	}
	len = strnlen(m->subject, MAIL_SUBJECT_MAX + 1);
	if (len > MAIL_SUBJECT_MAX) {
		log_msg(FBLOG_WARN, "mail: subject over %d bytes", MAIL_SUBJECT_MAX);
		return FB_ERR_TOOBIG;
	}
	if (!header_text_ok(m->subject, len)) {
		log_msg(FBLOG_WARN, "mail: subject holds a control character or is not UTF-8");
		return FB_ERR_INVALID;
	}
	if ((e = check_part("text", m->text)) != FB_OK ||
	    (m->html != NULL && (e = check_part("html", m->html)) != FB_OK))
		return e;

	/* From here on, buffers to free: the out label takes over. */
	if ((e = mail_qp_encode(m->text, strlen(m->text), &qtext)) != FB_OK)
		goto out;
	if (m->html != NULL &&
	    (e = mail_qp_encode(m->html, strlen(m->html), &qhtml)) != FB_OK)
		goto out;
	/* "=_" cannot occur in quoted-printable ('=' is followed by two hex
	 * digits or a line end), so the boundary cannot either (RFC 2045
	 * §6.7, RFC 2046 §5.1.1); checked all the same. */
	for (tries = 0;; tries++) {
		if (tries == 3) {
			log_msg(FBLOG_ERROR, "mail: no boundary absent from the parts");
			e = FB_ERR_INTERNAL;
			goto out;
		}
		memcpy(boundary, "=_fb_", 5);
		if ((e = rand_hex(boundary + 5, RANDOM_BYTES)) != FB_OK)
			goto out;
		if (memmem(buf_str(&qtext), qtext.len, boundary, strlen(boundary)) == NULL &&
		    memmem(buf_str(&qhtml), qhtml.len, boundary, strlen(boundary)) == NULL)
			break;
	}
	if ((e = rand_hex(id, RANDOM_BYTES)) != FB_OK)
		goto out;

	if ((e = hdr_date(&b)) != FB_OK)
		goto out;
	hdr_address(&b, "From", &from);
	hdr_address(&b, "To", &to);
	hdr_subject(&b, m->subject);
	buf_printf(&b, "Message-ID: <%s@%s>\r\n", id, strchr(from.addr, '@') + 1);
	buf_puts(&b, "MIME-Version: 1.0\r\n");
	if (m->html == NULL) {
		part_headers(&b, "text/plain");
		buf_puts(&b, "\r\n");
		buf_append(&b, buf_str(&qtext), qtext.len);
		buf_puts(&b, "\r\n");
	} else {
		buf_printf(&b, "Content-Type: multipart/alternative;\r\n"
		    " boundary=\"%s\"\r\n\r\n", boundary);
		/* RFC 2046 §5.1.1: the CRLF before a delimiter belongs to it. */
		buf_printf(&b, "--%s\r\n", boundary);
		part_headers(&b, "text/plain");
		buf_puts(&b, "\r\n");
		buf_append(&b, buf_str(&qtext), qtext.len);
		buf_printf(&b, "\r\n--%s\r\n", boundary);
		part_headers(&b, "text/html");
		buf_puts(&b, "\r\n");
		buf_append(&b, buf_str(&qhtml), qhtml.len);
		buf_printf(&b, "\r\n--%s--\r\n", boundary);
	}
	if (buf_failed(&b)) {
		log_msg(FBLOG_ERROR, "mail: out of memory");
		e = FB_ERR_NOMEM;
		goto out;
	}
	buf_append(out, b.data, b.len);
	if (buf_failed(out)) {
		log_msg(FBLOG_ERROR, "mail: out of memory");
		e = FB_ERR_NOMEM;
	}
out:
	buf_free(&b);
	buf_free(&qtext);
	buf_free(&qhtml);
	return e;
}

/* ---- sending ------------------------------------------------------------------ */

struct upload {
	const char	*data;
	size_t		 len;
	size_t		 pos;
};

/* The last answer line of the server that was an error (4xx or 5xx), else
 * the last one: the reason a failure is logged with. */
struct trace {
	char	last[160];
	char	error[160];
};

static size_t
read_cb(char *ptr, size_t size, size_t nmemb, void *arg)
{
	struct upload	*up = arg;
	size_t		 n = size * nmemb;

	if (n > up->len - up->pos)
		n = up->len - up->pos;
	memcpy(ptr, up->data + up->pos, n);
	up->pos += n;
	return n;
}

static int
debug_cb(CURL *h, curl_infotype type, char *data, size_t size, void *arg)
{
	struct trace	*t = arg;
	char		*dst;
	size_t		 i, o = 0;

	(void)h;
	/* Only what the server sent: what we send holds AUTH credentials. */
	if (type != CURLINFO_HEADER_IN || size < 3 || data[0] < '2' || data[0] > '5')
		return 0;
	dst = data[0] == '4' || data[0] == '5' ? t->error : t->last;
	for (i = 0; i < size && o < sizeof(t->last) - 1; i++) {
		if (data[i] == '\r' || data[i] == '\n')
			break;
		dst[o++] = data[i] >= 0x20 && data[i] < 0x7f ? data[i] : '?';
	}
	dst[o] = '\0';
	return 0;
}

static void mail_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void
mail_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list	ap;

	if (errlen == 0)
		return;
	/* XXX: a reason longer than errlen is cut; it is only for logs. */
	va_start(ap, fmt);
	(void)vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/* Overwrites every occurrence of secret in s with '*'. */
static void
redact(char *s, const char *secret)
{
	size_t	 n;
	char	*p;

	if (secret == NULL || (n = strlen(secret)) == 0)
		return;
	for (p = s; (p = strstr(p, secret)) != NULL; p += n)
		memset(p, '*', n);
}

static enum mail_result
classify(CURLcode rc, long code)
{
	switch (rc) {
	case CURLE_OK:
		return MAIL_SENT;
	/* TLS and login failures are the set-up of the relay, not the
	 * message: another attempt may succeed once it is fixed. */
	case CURLE_LOGIN_DENIED:
	case CURLE_USE_SSL_FAILED:
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_CIPHER:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_ENGINE_NOTFOUND:
	case CURLE_SSL_ENGINE_SETFAILED:
	case CURLE_SSL_ENGINE_INITFAILED:
	case CURLE_SSL_ISSUER_ERROR:
	case CURLE_SSL_CRL_BADFILE:
	case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
	case CURLE_SSL_INVALIDCERTSTATUS:
	case CURLE_SSL_SHUTDOWN_FAILED:
	case CURLE_SSL_CLIENTCERT:
		return MAIL_TEMPORARY;
	default:
		break;
	}
	/* RFC 5321 §4.2.1: 5yz is a permanent negative completion reply. */
	if (code >= 500 && code <= 599)
		return MAIL_PERMANENT;
	return MAIL_TEMPORARY;
}

static bool	curl_ready;	/* curl_global_init done (process-wide) */

/* The URL without our ?tls= option, in *clean (curl_free), how much TLS to
 * demand, and the password (curl_free, may be NULL) to keep out of reasons. */
static enum fb_err
parse_url(const char *url, char **clean, long *use_ssl, char **password)
{
	CURLU		*u;
	char		*scheme = NULL, *query = NULL;
	enum fb_err	 e = FB_ERR_INVALID;
	CURLUcode	 uc;

	*clean = *password = NULL;
	if ((u = curl_url()) == NULL)
		return FB_ERR_NOMEM;
	if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK)
		goto out;
	if (strcmp(scheme, "smtps") == 0)
		*use_ssl = CURLUSESSL_ALL;		/* implicit TLS anyway */
	else if (strcmp(scheme, "smtp") == 0)
		*use_ssl = CURLUSESSL_TRY;
	else
		goto out;
	uc = curl_url_get(u, CURLUPART_QUERY, &query, 0);
	if (uc == CURLUE_OK) {
		if (strcmp(query, "tls=required") == 0)
			*use_ssl = CURLUSESSL_ALL;
		else if (strcmp(query, "tls=try") != 0)
			goto out;
		if (curl_url_set(u, CURLUPART_QUERY, NULL, 0) != CURLUE_OK)
			goto out;
	} else if (uc != CURLUE_NO_QUERY)
		goto out;
	uc = curl_url_get(u, CURLUPART_PASSWORD, password, CURLU_URLDECODE);
	if (uc != CURLUE_OK && uc != CURLUE_NO_PASSWORD)
		goto out;
	if (curl_url_get(u, CURLUPART_URL, clean, 0) != CURLUE_OK)
		goto out;
	e = FB_OK;
out:
	if (e != FB_OK) {
		if (*password != NULL)
			OPENSSL_cleanse(*password, strlen(*password));
		curl_free(*password);
		*password = NULL;
	}
	curl_free(scheme);
	curl_free(query);
	curl_url_cleanup(u);
	return e;
}

#define SETOPT(h, opt, val) do {					\
	if ((rc = curl_easy_setopt((h), (opt), (val))) != CURLE_OK)	\
		goto setopt_failed;					\
} while (0)

enum mail_result
mail_send(const char *smtp_url, const struct mail_message *m, char *err,
    size_t errlen)
{
	struct buf		 msg = BUF_INIT;
	struct mail_address	 from, to;
	struct upload		 up;
	struct trace		 tr;
	struct curl_slist	*rcpt = NULL, *item;
	CURL			*h = NULL;
	CURLcode		 rc;
	char			 errbuf[CURL_ERROR_SIZE];
	char			 envfrom[MAIL_ADDR_MAX + 3], envto[MAIL_ADDR_MAX + 3];
	char			*url = NULL, *password = NULL;
	long			 use_ssl = CURLUSESSL_TRY, code = 0;
	enum mail_result	 r = MAIL_TEMPORARY;
	enum fb_err		 e;

	mail_err(err, errlen, "%s", "");
	memset(&tr, 0, sizeof(tr));
	errbuf[0] = '\0';
	if (smtp_url == NULL) {
		mail_err(err, errlen, "no SMTP URL configured");
		return MAIL_TEMPORARY;
	}
	/* A message that cannot be built now never will be. */
	if ((e = mail_format(m, &msg)) != FB_OK) {
		r = e == FB_ERR_NOMEM || e == FB_ERR_INTERNAL ?
		    MAIL_TEMPORARY : MAIL_PERMANENT;
		mail_err(err, errlen, "message not built: %s", fb_strerror(e));
		goto out;
	}
	if (mail_address_parse(m->from, &from) != FB_OK ||
	    mail_address_parse(m->to, &to) != FB_OK) {
		r = MAIL_PERMANENT;	/* mail_format checked them: unreachable */
		mail_err(err, errlen, "malformed address");
		goto out;
	}
	(void)snprintf(envfrom, sizeof(envfrom), "<%s>", from.addr);	/* fits */
	(void)snprintf(envto, sizeof(envto), "<%s>", to.addr);
	up.data = msg.data;
	up.len = msg.len;
	up.pos = 0;

	if (!curl_ready) {
		if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
			mail_err(err, errlen, "curl_global_init failed");
			goto out;
		}
		curl_ready = true;
	}
	if ((e = parse_url(smtp_url, &url, &use_ssl, &password)) != FB_OK) {
		mail_err(err, errlen, e == FB_ERR_NOMEM ? "out of memory" :
		    "SMTP URL is not smtp://[user:pass@]host[:port][?tls=required] "
		    "or smtps://...");
		goto out;
	}
	if ((item = curl_slist_append(NULL, envto)) == NULL) {
		mail_err(err, errlen, "out of memory");
		goto out;
	}
	rcpt = item;
	if ((h = curl_easy_init()) == NULL) {
		mail_err(err, errlen, "curl_easy_init failed");
		goto out;
	}
	SETOPT(h, CURLOPT_URL, url);
	SETOPT(h, CURLOPT_PROTOCOLS_STR, "smtp,smtps");
	SETOPT(h, CURLOPT_USE_SSL, use_ssl);
	SETOPT(h, CURLOPT_MAIL_FROM, envfrom);
	SETOPT(h, CURLOPT_MAIL_RCPT, rcpt);
	SETOPT(h, CURLOPT_UPLOAD, 1L);
	SETOPT(h, CURLOPT_READFUNCTION, read_cb);
	SETOPT(h, CURLOPT_READDATA, &up);
	SETOPT(h, CURLOPT_INFILESIZE_LARGE, (curl_off_t)msg.len);
	SETOPT(h, CURLOPT_CONNECTTIMEOUT, (long)MAIL_CONNECT_TIMEOUT);
	SETOPT(h, CURLOPT_TIMEOUT, (long)MAIL_TRANSFER_TIMEOUT);
	SETOPT(h, CURLOPT_NOSIGNAL, 1L);
	SETOPT(h, CURLOPT_ERRORBUFFER, errbuf);
	/* The debug callback sees the server's answers; VERBOSE enables it
	 * and prints nothing while a callback is set. */
	SETOPT(h, CURLOPT_DEBUGFUNCTION, debug_cb);
	SETOPT(h, CURLOPT_DEBUGDATA, &tr);
	SETOPT(h, CURLOPT_VERBOSE, 1L);

	rc = curl_easy_perform(h);
	if (curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code) != CURLE_OK)
		code = 0;
	r = classify(rc, code);
	if (r != MAIL_SENT) {
		mail_err(err, errlen, "%s%s%s", errbuf[0] != '\0' ? errbuf :
		    curl_easy_strerror(rc),
		    tr.error[0] != '\0' || tr.last[0] != '\0' ? "; server: " : "",
		    tr.error[0] != '\0' ? tr.error : tr.last);
		if (errlen > 0) {
			redact(err, password);
			redact(err, smtp_url);
		}
	}
	goto out;

setopt_failed:
	mail_err(err, errlen, "curl_easy_setopt: %s", curl_easy_strerror(rc));
	r = MAIL_TEMPORARY;
out:
	curl_easy_cleanup(h);
	curl_slist_free_all(rcpt);
	if (url != NULL)
		OPENSSL_cleanse(url, strlen(url));
	curl_free(url);
	if (password != NULL)
		OPENSSL_cleanse(password, strlen(password));
	curl_free(password);
	buf_free(&msg);
	return r;
}

const char *
mail_result_name(enum mail_result r)
{
	switch (r) {
	case MAIL_SENT:
		return "sent";
	case MAIL_TEMPORARY:
		return "temporary";
	case MAIL_PERMANENT:
		return "permanent";
	}
	return "unknown";
}
