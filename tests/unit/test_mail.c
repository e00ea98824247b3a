/*
 * test_mail — the message mail_format() builds, read back the way a mail
 * client would: headers unfolded and their RFC 2047 encoded-words decoded,
 * parts split at the boundary and their quoted-printable decoded, all with
 * decoders written here (not the encoder's own code). Also: what must be
 * refused (header injection, bad addresses, bad UTF-8, sizes), the line
 * rules (CRLF only, at most 998 octets, QP lines at most 76), and the
 * failures mail_send() classifies without a server.
 */
#include <regex.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "buf.h"
#include "log.h"
#include "mail.h"
#include "tap.h"

/* ---- decoders of our own ------------------------------------------------- */

static bool
utf8_ok(const unsigned char *s, size_t len)
{
	size_t	i = 0, n, k;

	while (i < len) {
		if (s[i] < 0x80)
			n = 0;
		else if ((s[i] & 0xe0) == 0xc0 && s[i] >= 0xc2)
			n = 1;
		else if ((s[i] & 0xf0) == 0xe0)
			n = 2;
		else if ((s[i] & 0xf8) == 0xf0 && s[i] <= 0xf4)
			n = 3;
		else
			return false;
		if (len - i - 1 < n)
			return false;
		for (k = 1; k <= n; k++)
			if ((s[i + k] & 0xc0) != 0x80)
				return false;
		i += n + 1;
	}
	return true;
}

/* Standard base64 (with padding) of s[0..len) appended to b. */
static bool
b64_decode(const char *s, size_t len, struct buf *b)
{
	unsigned char	 out[256];
	int		 n;
	size_t		 pad = 0;

	if (len % 4 != 0 || len / 4 * 3 > sizeof(out))
		return false;
	n = EVP_DecodeBlock(out, (const unsigned char *)s, (int)len);
	if (n < 0)
		return false;
	while (pad < len && s[len - 1 - pad] == '=')
		pad++;
	buf_append(b, out, (size_t)n - pad);
	return true;
}

/* Decodes the encoded-words of an unfolded header value (RFC 2047 §6):
 * whitespace between two adjacent encoded-words is dropped. Each word must
 * decode to whole UTF-8 characters (§5) and be at most 75 characters (§2).
 * Returns a malloc'd string, or NULL when a word is malformed. */
static char *
decode_words(const char *v)
{
	struct buf	 b = BUF_INIT, w = BUF_INIT;
	const char	*p = v, *q;
	char		*r;
	bool		 prev_ew = false;
	size_t		 n;

	while (*p != '\0') {
		if (strncmp(p, "=?UTF-8?B?", 10) == 0) {
			if ((q = strstr(p + 10, "?=")) == NULL || q + 2 - p > 75)
				goto bad;
			buf_reset(&w);
			if (!b64_decode(p + 10, (size_t)(q - p - 10), &w) ||
			    !utf8_ok((const unsigned char *)buf_str(&w), w.len))
				goto bad;
			buf_append(&b, buf_str(&w), w.len);
			prev_ew = true;
			p = q + 2;
			continue;
		}
		if (*p == ' ' || *p == '\t') {
			n = strspn(p, " \t");
			if (prev_ew && strncmp(p + n, "=?UTF-8?B?", 10) == 0) {
				p += n;
				continue;
			}
		}
		buf_append(&b, p, 1);
		prev_ew = false;
		p++;
	}
	buf_free(&w);
	if ((r = buf_take(&b)) == NULL)
		r = strdup("");
	return r;
bad:
	buf_free(&w);
	buf_free(&b);
	return NULL;
}

/* The value of header name in msg, unfolded (RFC 5322 §2.2.3), leading
 * whitespace dropped; malloc'd, NULL when absent. */
static char *
header(const char *msg, const char *name)
{
	struct buf	 b = BUF_INIT;
	const char	*end = strstr(msg, "\r\n\r\n"), *p = msg, *eol;
	char		*r;
	size_t		 n = strlen(name);
	bool		 found = false;

	if (end == NULL)
		return NULL;
	while (p < end + 2) {
		eol = strstr(p, "\r\n");
		if (!found && strncasecmp(p, name, n) == 0 && p[n] == ':') {
			found = true;
			p += n + 1;
			p += strspn(p, " \t");
			buf_append(&b, p, (size_t)(eol - p));
		} else if (found && (*p == ' ' || *p == '\t'))
			buf_append(&b, p, (size_t)(eol - p));
		else if (found)
			break;
		p = eol + 2;
	}
	if (!found) {
		buf_free(&b);
		return NULL;
	}
	if ((r = buf_take(&b)) == NULL)
		r = strdup("");
	return r;
}

static char *
decoded_header(const char *msg, const char *name)
{
	char	*raw = header(msg, name), *d;

	if (raw == NULL)
		return NULL;
	d = decode_words(raw);
	free(raw);
	return d;
}

/* Quoted-printable (RFC 2045 §6.7) back to text with "\n" line ends. */
static char *
qp_decode(const char *s, size_t len)
{
	struct buf	b = BUF_INIT;
	size_t		i = 0;
	char		hex[3] = { 0, 0, 0 };
	char		c;

	while (i < len) {
		if (s[i] == '=' && i + 2 < len && s[i + 1] == '\r' && s[i + 2] == '\n')
			i += 3;
		else if (s[i] == '=' && i + 2 < len) {
			hex[0] = s[i + 1];
			hex[1] = s[i + 2];
			c = (char)strtol(hex, NULL, 16);
			buf_append(&b, &c, 1);
			i += 3;
		} else if (s[i] == '\r' && i + 1 < len && s[i + 1] == '\n') {
			buf_puts(&b, "\n");
			i += 2;
		} else
			buf_append(&b, s + i++, 1);
	}
	return b.len > 0 ? buf_take(&b) : strdup("");
}

/* The boundary of a multipart message (malloc'd) or NULL. */
static char *
boundary_of(const char *msg)
{
	char	*ct = header(msg, "Content-Type"), *p, *q, *r = NULL;

	if (ct != NULL && (p = strstr(ct, "boundary=\"")) != NULL &&
	    (q = strchr(p + 10, '"')) != NULL)
		r = strndup(p + 10, (size_t)(q - p - 10));
	free(ct);
	return r;
}

/* Part idx (0, 1) of a multipart message: its headers and its content as
 * written (encoded), both malloc'd; false when not found. */
static bool
part_of(const char *msg, const char *bnd, int idx, char **hdrs, char **content)
{
	struct buf	 open = BUF_INIT, close = BUF_INIT;
	const char	*p = msg, *start, *body, *end;
	int		 i;
	bool		 found = false;

	buf_printf(&open, "--%s\r\n", bnd);
	buf_printf(&close, "\r\n--%s", bnd);
	for (i = 0; i <= idx; i++) {
		if ((p = strstr(p, buf_str(&open))) == NULL)
			goto out;
		p += open.len;
	}
	start = p;
	if ((body = strstr(start, "\r\n\r\n")) == NULL ||
	    (end = strstr(body + 2, buf_str(&close))) == NULL)
		goto out;
	*hdrs = strndup(start, (size_t)(body + 2 - start));
	/* An empty part: its CRLF CRLF is also the delimiter's CRLF. */
	*content = body + 4 > end ? strdup("") : strndup(body + 4, (size_t)(end - body - 4));
	found = true;
out:
	buf_free(&open);
	buf_free(&close);
	return found;
}

/* CRLF line ends only, every line at most max octets (CRLF excluded). */
static bool
lines_ok(const char *s, size_t len, size_t max, const char *what)
{
	size_t	i, col = 0, line = 1;

	for (i = 0; i < len; i++) {
		if (s[i] == '\r') {
			if (i + 1 >= len || s[i + 1] != '\n') {
				diag("%s: bare CR on line %zu", what, line);
				return false;
			}
			i++;
			col = 0;
			line++;
			continue;
		}
		if (s[i] == '\n') {
			diag("%s: bare LF on line %zu", what, line);
			return false;
		}
		if (++col > max) {
			diag("%s: line %zu over %zu octets", what, line, max);
			return false;
		}
	}
	return true;
}

static bool
matches(const char *s, const char *re)
{
	regex_t	r;
	bool	yes;

	if (s == NULL || regcomp(&r, re, REG_EXTENDED | REG_NOSUB) != 0)
		return false;
	yes = regexec(&r, s, 0, NULL, 0) == 0;
	regfree(&r);
	return yes;
}

/* Formats m; the message (malloc'd) or NULL when mail_format failed. */
static char *
format(const struct mail_message *m)
{
	struct buf	b = BUF_INIT;

	if (mail_format(m, &b) != FB_OK) {
		buf_free(&b);
		return NULL;
	}
	return buf_take(&b);
}

static struct mail_message
message(void)
{
	struct mail_message m = {
		.from = "noreply@example.com",
		.to = "alice@example.org",
		.to_name = NULL,
		.subject = "Hello there",
		.text = "Hi Alice,\nwelcome.\n",
		.html = "<p>Hi Alice,<br>welcome.</p>\n",
	};
	return m;
}

/* ---- tests --------------------------------------------------------------- */

static void
test_ascii_message(void)
{
	struct mail_message	 m = message();
	char			*msg, *v, *bnd, *h = NULL, *c = NULL, *d;

	msg = format(&m);
	if (!ok(msg != NULL, "ASCII message formats"))
		return;
	ok(lines_ok(msg, strlen(msg), 998, "ascii"), "CRLF only, lines <= 998");
	ok(strlen(msg) >= 2 && strcmp(msg + strlen(msg) - 2, "\r\n") == 0,
	    "ends with CRLF");
	v = header(msg, "Date");
	ok(matches(v, "^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), [0-9]{1,2} "
	    "(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) [0-9]{4} "
	    "[0-9]{2}:[0-9]{2}:[0-9]{2} \\+0000$"), "Date is RFC 5322 §3.3 in UTC: %s", v);
	free(v);
	v = header(msg, "Message-ID");
	ok(matches(v, "^<[0-9a-f]{32}@example\\.com>$"),
	    "Message-ID <hex@domain of From>: %s", v);
	free(v);
	v = header(msg, "From");
	is_str(v, "noreply@example.com", "From: bare address");
	free(v);
	v = header(msg, "To");
	is_str(v, "alice@example.org", "To: bare address");
	free(v);
	v = header(msg, "Subject");
	is_str(v, "Hello there", "an ASCII subject is written as it is");
	free(v);
	v = header(msg, "MIME-Version");
	is_str(v, "1.0", "MIME-Version: 1.0");
	free(v);
	v = header(msg, "Content-Type");
	ok(matches(v, "^multipart/alternative; boundary=\"[^\"]+\"$"),
	    "multipart/alternative: %s", v);
	free(v);
	bnd = boundary_of(msg);
	if (!ok(bnd != NULL, "boundary found"))
		goto out;
	if (ok(part_of(msg, bnd, 0, &h, &c), "first part")) {
		has_str(h, "Content-Type: text/plain; charset=utf-8\r\n", "text/plain utf-8");
		has_str(h, "Content-Transfer-Encoding: quoted-printable\r\n", "QP");
		d = qp_decode(c, strlen(c));
		is_str(d, m.text, "text part decodes to the text");
		free(d);
	}
	free(h);
	free(c);
	h = c = NULL;
	if (ok(part_of(msg, bnd, 1, &h, &c), "second part")) {
		has_str(h, "Content-Type: text/html; charset=utf-8\r\n", "text/html utf-8");
		has_str(h, "Content-Transfer-Encoding: quoted-printable\r\n", "QP");
		d = qp_decode(c, strlen(c));
		is_str(d, m.html, "html part decodes to the html");
		free(d);
	}
	{
		struct buf end = BUF_INIT;

		buf_printf(&end, "\r\n--%s--\r\n", bnd);
		ok(strlen(msg) >= end.len &&
		    strcmp(msg + strlen(msg) - end.len, buf_str(&end)) == 0,
		    "closed by the final delimiter");
		buf_free(&end);
	}
out:
	free(h);
	free(c);
	free(bnd);
	free(msg);
}

static void
test_from_forms(void)
{
	struct mail_message	 m = message();
	char			*msg, *v;

	m.from = "Example App <noreply@example.com>";
	msg = format(&m);
	v = msg != NULL ? header(msg, "From") : NULL;
	is_str(v, "Example App <noreply@example.com>", "From: Name <addr> kept");
	free(v);
	v = msg != NULL ? header(msg, "Message-ID") : NULL;
	ok(matches(v, "@example\\.com>$"), "Message-ID domain from the bare From address");
	free(v);
	free(msg);

	m.from = "  \"Example, Inc.\" <noreply@example.com>  ";
	msg = format(&m);
	v = msg != NULL ? header(msg, "From") : NULL;
	is_str(v, "\"Example, Inc.\" <noreply@example.com>", "quoted name re-quoted");
	free(v);
	free(msg);

	m.from = "Zoë from Café <noreply@example.com>";
	msg = format(&m);
	v = msg != NULL ? decoded_header(msg, "From") : NULL;
	is_str(v, "Zoë from Café <noreply@example.com>", "non-ASCII From name round trip");
	free(v);
	v = msg != NULL ? header(msg, "From") : NULL;
	has_str(v, "=?UTF-8?B?", "as an encoded-word");
	free(v);
	free(msg);
}

static void
test_to_names(void)
{
	static const struct {
		const char	*name;
		const char	*want_raw;	/* exact header, or NULL: encoded */
	} cases[] = {
		{ "Alice Liddell",	"Alice Liddell <alice@example.org>" },
		{ "Doe, John",		"\"Doe, John\" <alice@example.org>" },
		{ "He said \"hi\"",	"\"He said \\\"hi\\\"\" <alice@example.org>" },
		{ "a\\b",		"\"a\\\\b\" <alice@example.org>" },
		{ "J. R. R. Tolkien",	"\"J. R. R. Tolkien\" <alice@example.org>" },
		{ "Zoë Ünicode",	NULL },
		{ "東京 太郎",		NULL },
		{ "=?UTF-8?B?QQ==?=",	NULL },	/* looks encoded: encode it */
		{ "Émile-Édouard de la Montagne-Sainte-Geneviève et Compagnie "
		  "Générale des Eaux, Société Anonyme à Responsabilité Limitée", NULL },
	};
	struct mail_message	 m = message();
	char			*msg, *raw, *dec;
	struct buf		 want = BUF_INIT;
	size_t			 i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		m.to_name = cases[i].name;
		msg = format(&m);
		if (!ok(msg != NULL, "to_name \"%s\" formats", cases[i].name))
			continue;
		raw = header(msg, "To");
		dec = decoded_header(msg, "To");
		buf_reset(&want);
		buf_printf(&want, "%s <alice@example.org>", cases[i].name);
		if (cases[i].want_raw != NULL)
			is_str(raw, cases[i].want_raw, "To with \"%s\"", cases[i].name);
		else {
			has_str(raw, "=?UTF-8?B?", "\"%s\" encoded", cases[i].name);
			is_str(dec, buf_str(&want), "\"%s\" decodes back", cases[i].name);
		}
		ok(lines_ok(msg, strlen(msg), 998, "to"), "lines ok with \"%s\"",
		    cases[i].name);
		free(raw);
		free(dec);
		free(msg);
	}
	buf_free(&want);

	/* A name in m.to, and to_name winning over it. */
	m.to = "Bob <bob@example.org>";
	m.to_name = NULL;
	msg = format(&m);
	raw = msg != NULL ? header(msg, "To") : NULL;
	is_str(raw, "Bob <bob@example.org>", "to in Name <addr> form");
	free(raw);
	free(msg);
	m.to_name = "Robert";
	msg = format(&m);
	raw = msg != NULL ? header(msg, "To") : NULL;
	is_str(raw, "Robert <bob@example.org>", "to_name wins over the name in to");
	free(raw);
	free(msg);
}

/* Every line of the Subject header field, its continuation lines included. */
static bool
subject_lines_ok(const char *msg, size_t max)
{
	const char	*p = strstr(msg, "\r\nSubject:"), *eol;

	if (p == NULL)
		return false;
	p += 2;
	do {
		eol = strstr(p, "\r\n");
		if ((size_t)(eol - p) > max) {
			diag("subject line of %zu characters", (size_t)(eol - p));
			return false;
		}
		p = eol + 2;
	} while (*p == ' ' || *p == '\t');
	return true;
}

static void
test_subjects(void)
{
	static const char *const subjects[] = {
		"Grüße aus Köln",
		"東京からこんにちは",
		"Party 🎉🎉🎉 tonight",
		"Ünïcödé at the very end: é",
		"Price = 5 =?not-encoded?= really",
		"  leading and trailing spaces  ",
		"two  spaces",
		"",
		"€",
	};
	struct mail_message	 m = message();
	struct buf		 s = BUF_INIT;
	char			*msg, *dec, *raw;
	size_t			 i;

	for (i = 0; i < sizeof(subjects) / sizeof(subjects[0]); i++) {
		m.subject = subjects[i];
		msg = format(&m);
		if (!ok(msg != NULL, "subject \"%s\" formats", subjects[i]))
			continue;
		dec = decoded_header(msg, "Subject");
		raw = header(msg, "Subject");
		/* header() drops the whitespace after the colon: a subject
		 * with leading spaces must come back encoded, intact. */
		is_str(dec, subjects[i], "subject \"%s\" round trip", subjects[i]);
		ok(subject_lines_ok(msg, 76), "subject \"%s\": lines <= 76", subjects[i]);
		free(dec);
		free(raw);
		free(msg);
	}

	/* Long non-ASCII: several encoded-words, folded. */
	for (i = 0; i < 30; i++)
		buf_puts(&s, "Grüße 東京 🎉 ");
	buf_puts(&s, "end");
	m.subject = buf_str(&s);
	msg = format(&m);
	if (ok(msg != NULL, "long non-ASCII subject formats")) {
		dec = decoded_header(msg, "Subject");
		is_str(dec, buf_str(&s), "long non-ASCII subject round trip "
		    "(each word whole characters, <= 75)");
		ok(subject_lines_ok(msg, 76), "each subject line <= 76");
		raw = header(msg, "Subject");
		ok(raw != NULL && strstr(raw, "?= =?UTF-8?B?") != NULL,
		    "split into several encoded-words");
		free(raw);
		free(dec);
		free(msg);
	}

	/* Long ASCII: folded at spaces, unfolds to itself. */
	buf_reset(&s);
	for (i = 0; i < 40; i++)
		buf_puts(&s, "lorem ipsum ");
	buf_puts(&s, "dolor");
	m.subject = buf_str(&s);
	msg = format(&m);
	if (ok(msg != NULL, "long ASCII subject formats")) {
		raw = header(msg, "Subject");
		is_str(raw, buf_str(&s), "long ASCII subject unfolds to itself");
		lacks_str(raw, "=?", "not encoded");
		ok(subject_lines_ok(msg, 78), "folded to lines <= 78");
		free(raw);
		free(msg);
	}

	/* One ASCII word longer than a line can hold: encoded instead. */
	buf_reset(&s);
	for (i = 0; i < 1500; i++)
		buf_puts(&s, "x");
	m.subject = buf_str(&s);
	msg = format(&m);
	if (ok(msg != NULL, "1500-character word subject formats")) {
		dec = decoded_header(msg, "Subject");
		is_str(dec, buf_str(&s), "round trip");
		ok(lines_ok(msg, strlen(msg), 998, "long word"), "no line over 998");
		free(dec);
		free(msg);
	}
	buf_free(&s);
}

/* Encoded lines: at most 76, printable ASCII, no whitespace before a line
 * end, '=' only as =XX or a soft break. */
static bool
qp_lines_ok(const char *q, size_t len)
{
	size_t	i;

	if (!lines_ok(q, len, 76, "qp"))
		return false;
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)q[i];
		if (c == '\r' || c == '\n')
			continue;
		if (c != ' ' && c != '\t' && (c < 33 || c > 126)) {
			diag("qp: byte 0x%02x at %zu", c, i);
			return false;
		}
		if ((c == ' ' || c == '\t') && (i + 1 == len || q[i + 1] == '\r')) {
			diag("qp: whitespace at a line end at %zu", i);
			return false;
		}
		if (c == '=' && !(i + 2 < len && ((q[i + 1] == '\r' && q[i + 2] == '\n') ||
		    (strchr("0123456789ABCDEF", q[i + 1]) != NULL &&
		    strchr("0123456789ABCDEF", q[i + 2]) != NULL)))) {
			diag("qp: bare '=' at %zu", i);
			return false;
		}
		if (c == '.' && (i == 0 || q[i - 1] == '\n')) {
			diag("qp: '.' at a line start at %zu", i);
			return false;
		}
	}
	return true;
}

static void
test_qp(void)
{
	static const char *const texts[] = {
		"",
		"plain\n",
		"no final newline",
		"a=b==c\n=\n",
		"trailing spaces   \nand a tab\t\nand at the end ",
		"UTF-8: Grüße, 東京, 🎉, naïve café\n",
		".a dot at the start\n..two\n.\n",
		"From the start of a line\nFrom here too\n",
		"crlf\r\nlines\r\n",
		"a lone\rcarriage return\n",
		"control \x01 and DEL \x7f\n",
		"\n\n\n",
	};
	struct buf	 q = BUF_INIT, t = BUF_INIT;
	char		*d, line76[77], line75eq[78];
	size_t		 i;

	for (i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
		buf_reset(&q);
		if (!is_int(mail_qp_encode(texts[i], strlen(texts[i]), &q), FB_OK,
		    "qp encode text %zu", i))
			continue;
		ok(qp_lines_ok(buf_str(&q), q.len), "qp text %zu: encoded lines ok", i);
		d = qp_decode(buf_str(&q), q.len);
		/* CRLF comes back as LF: compare with LF line ends. */
		buf_reset(&t);
		for (const char *p = texts[i]; *p != '\0'; p++)
			if (!(p[0] == '\r' && p[1] == '\n'))
				buf_append(&t, p, 1);
		is_str(d, buf_str(&t), "qp text %zu round trip", i);
		free(d);
	}

	/* A line of exactly 76 characters needs no soft break. */
	memset(line76, 'a', 76);
	line76[76] = '\0';
	buf_reset(&q);
	mail_qp_encode(line76, 76, &q);
	is_str(buf_str(&q), line76, "76 characters: one line, no soft break");
	buf_reset(&t);
	buf_printf(&t, "%s\n", line76);
	buf_reset(&q);
	mail_qp_encode(buf_str(&t), t.len, &q);
	buf_reset(&t);
	buf_printf(&t, "%s\r\n", line76);
	is_str(buf_str(&q), buf_str(&t), "76 characters and a line end: one line");
	/* 77 characters: a soft break after 75. */
	buf_reset(&t);
	buf_printf(&t, "%sb", line76);
	buf_reset(&q);
	mail_qp_encode(buf_str(&t), t.len, &q);
	ok(qp_lines_ok(buf_str(&q), q.len), "77 characters: lines ok");
	has_str(buf_str(&q), "=\r\n", "77 characters: soft break");
	d = qp_decode(buf_str(&q), q.len);
	is_str(d, buf_str(&t), "77 characters round trip");
	free(d);
	/* 75 characters then '=': the escape does not fit, soft break first. */
	memset(line75eq, 'a', 75);
	line75eq[75] = '=';
	line75eq[76] = '\0';
	buf_reset(&q);
	mail_qp_encode(line75eq, 76, &q);
	ok(qp_lines_ok(buf_str(&q), q.len), "75 + '=': lines ok");
	d = qp_decode(buf_str(&q), q.len);
	is_str(d, line75eq, "75 + '=' round trip");
	free(d);

	/* Long lines of every kind. */
	buf_reset(&t);
	for (i = 0; i < 500; i++)
		buf_puts(&t, i % 7 == 0 ? "é" : i % 5 == 0 ? "= " : i % 3 == 0 ? " " : "x");
	buf_puts(&t, " \n");
	for (i = 0; i < 300; i++)
		buf_puts(&t, "🎉");
	buf_reset(&q);
	mail_qp_encode(buf_str(&t), t.len, &q);
	ok(qp_lines_ok(buf_str(&q), q.len), "long mixed lines: lines ok");
	d = qp_decode(buf_str(&q), q.len);
	is_str(d, buf_str(&t), "long mixed lines round trip");
	free(d);

	/* Trailing whitespace right where a soft break falls. */
	for (size_t w = 70; w < 80; w++) {
		buf_reset(&t);
		for (i = 0; i < w; i++)
			buf_puts(&t, "y");
		buf_puts(&t, "  \t \nnext");
		buf_reset(&q);
		mail_qp_encode(buf_str(&t), t.len, &q);
		ok(qp_lines_ok(buf_str(&q), q.len) &&
		    (d = qp_decode(buf_str(&q), q.len)) != NULL &&
		    strcmp(d, buf_str(&t)) == 0, "%zu characters and trailing whitespace", w);
		free(d);
		d = NULL;
	}
	buf_free(&q);
	buf_free(&t);
}

static void
test_parts_through_format(void)
{
	struct mail_message	 m = message();
	struct buf		 text = BUF_INIT, html = BUF_INIT;
	char			*msg, *bnd, *h = NULL, *c = NULL, *d;
	const char		*p;
	size_t			 i, count = 0;

	buf_puts(&text, "Hello Zoë,\n\n.\n.leading dot\nFrom me\ntrailing   \n");
	buf_puts(&text, "a line of = signs ==========================================================================\n");
	buf_puts(&text, "--=_fb_ looks like our boundary prefix\n");
	for (i = 0; i < 3000; i++)
		buf_puts(&text, "w");
	buf_puts(&text, "\nno newline at the end");
	buf_puts(&html, "<html><body>");
	for (i = 0; i < 2000; i++)
		buf_puts(&html, "<b>Ä</b>");
	buf_puts(&html, "</body></html>");
	m.text = buf_str(&text);
	m.html = buf_str(&html);
	m.subject = "Ünïcödé 🎉";
	m.to_name = "Zoë";
	msg = format(&m);
	if (!ok(msg != NULL, "big tricky message formats"))
		goto out;
	ok(lines_ok(msg, strlen(msg), 998, "big"), "CRLF only and no line over 998");
	bnd = boundary_of(msg);
	if (!ok(bnd != NULL, "boundary"))
		goto out;
	ok(strncmp(bnd, "=_", 2) == 0 || strstr(bnd, "=_") != NULL,
	    "boundary holds \"=_\", which quoted-printable cannot");
	for (p = msg; (p = strstr(p, bnd)) != NULL; p += strlen(bnd))
		count++;
	is_int(count, 4, "boundary only in Content-Type and the 3 delimiters");
	if (part_of(msg, bnd, 0, &h, &c)) {
		ok(qp_lines_ok(c, strlen(c)), "text part: QP lines ok");
		lacks_str(c, bnd, "boundary not in the text part");
		d = qp_decode(c, strlen(c));
		is_str(d, m.text, "text part round trip");
		free(d);
	} else
		ok(0, "text part found");
	free(h);
	free(c);
	h = c = NULL;
	if (part_of(msg, bnd, 1, &h, &c)) {
		ok(qp_lines_ok(c, strlen(c)), "html part: QP lines ok");
		lacks_str(c, bnd, "boundary not in the html part");
		d = qp_decode(c, strlen(c));
		is_str(d, m.html, "html part round trip");
		free(d);
	} else
		ok(0, "html part found");
	free(h);
	free(c);
	free(bnd);
	free(msg);

	/* No html: a single text/plain message. */
	m.html = NULL;
	m.text = "just text\n";
	msg = format(&m);
	if (ok(msg != NULL, "text-only message formats")) {
		char *ct = header(msg, "Content-Type");
		char *cte = header(msg, "Content-Transfer-Encoding");
		is_str(ct, "text/plain; charset=utf-8", "text-only: text/plain");
		is_str(cte, "quoted-printable", "text-only: QP");
		lacks_str(msg, "multipart", "text-only: no multipart");
		d = qp_decode(strstr(msg, "\r\n\r\n") + 4, strlen(strstr(msg, "\r\n\r\n") + 4));
		is_str(d, "just text\n\n", "text-only body (plus the closing CRLF)");
		ok(lines_ok(msg, strlen(msg), 998, "text-only"), "text-only lines ok");
		free(d);
		free(ct);
		free(cte);
		free(msg);
	}
out:
	buf_free(&text);
	buf_free(&html);
}

static void
test_injection(void)
{
	static const struct {
		const char	*field;
		const char	*value;
	} bad[] = {
		{ "subject", "Hi\r\nBcc: victim@example.net" },
		{ "subject", "Hi\nBcc: victim@example.net" },
		{ "subject", "Hi\rthere" },
		{ "subject", "tab\there" },
		{ "subject", "NUL-free but \x1b escape" },
		{ "to_name", "Eve\r\nBcc: victim@example.net" },
		{ "to_name", "Eve\n" },
		{ "to", "alice@example.org\r\nBcc: victim@example.net" },
		{ "to", "alice@example.org\n" },
		{ "to", "Eve\r\n <alice@example.org>" },
		{ "from", "noreply@example.com\r\nBcc: victim@example.net" },
		{ "from", "Evil\nBcc: x@y.z <noreply@example.com>" },
	};
	struct mail_message	 m;
	struct buf		 out = BUF_INIT;
	size_t			 i;

	buf_puts(&out, "kept");
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		m = message();
		if (strcmp(bad[i].field, "subject") == 0)
			m.subject = bad[i].value;
		else if (strcmp(bad[i].field, "to_name") == 0)
			m.to_name = bad[i].value;
		else if (strcmp(bad[i].field, "to") == 0)
			m.to = bad[i].value;
		else
			m.from = bad[i].value;
		is_int(mail_format(&m, &out), FB_ERR_INVALID, "%s with a control "
		    "character refused (%zu)", bad[i].field, i);
	}
	is_str(buf_str(&out), "kept", "out untouched by the failures");
	buf_free(&out);
}

static void
test_addresses(void)
{
	static const char *const good[] = {
		"a@b",
		"alice@example.org",
		"a.b+tag@sub-domain.example.co.uk",
		"!#$%&'*+-/=?^_`{|}~@example.com",
		"x@xn--bcher-kva.example",
	};
	static const char *const bad[] = {
		"", "alice", "@example.com", "alice@", "alice@@example.com",
		".alice@example.com", "alice.@example.com", "al..ice@example.com",
		"al ice@example.com", "alice@exa mple.com", "alice@-example.com",
		"alice@example-.com", "alice@example..com", "alice@.example.com",
		"alice@example.com.", "alice@exa_mple.com", "\"alice\"@example.com",
		"alice@[127.0.0.1]", "zoë@example.com", "alice@bücher.example",
		"alice@example.com>", "<alice@example.com",
	};
	struct mail_address	 a;
	char			 longlocal[80], longaddr[300], longlabel[80];
	size_t			 i;

	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		ok(mail_address_valid(good[i]), "valid: %s", good[i]);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ok(!mail_address_valid(bad[i]), "invalid: \"%s\"", bad[i]);
	ok(!mail_address_valid(NULL), "invalid: NULL");

	memset(longlocal, 'a', 65);
	strcpy(longlocal + 65, "@example.com");
	ok(!mail_address_valid(longlocal), "local part of 65 refused");
	longlocal[64] = '@';
	memmove(longlocal + 64, longlocal + 65, strlen(longlocal + 65) + 1);
	ok(mail_address_valid(longlocal), "local part of 64 accepted");
	memset(longlabel, 'l', 64);
	strcpy(longlabel + 64, ".com");
	snprintf(longaddr, sizeof(longaddr), "a@%s", longlabel);
	ok(!mail_address_valid(longaddr), "label of 64 refused");
	/* 254 octets (RFC 5321 §4.5.3.1.3) and one more: a@ + labels. */
	strcpy(longaddr, "a@");
	for (i = 0; i < 24; i++)
		strcat(longaddr, "abcdefghi.");
	strcat(longaddr, "abcdefghijkl");
	ok(strlen(longaddr) == 254 && mail_address_valid(longaddr),
	    "254 octets accepted");
	strcat(longaddr, "m");
	ok(strlen(longaddr) == 255 && !mail_address_valid(longaddr),
	    "255 octets refused");

	is_int(mail_address_parse("Alice <alice@example.org>", &a), FB_OK, "parse Name <addr>");
	is_str(a.name, "Alice", "name");
	is_str(a.addr, "alice@example.org", "addr");
	is_int(mail_address_parse(" \"Doe, \\\"J\\\"\" <j@example.org> ", &a), FB_OK,
	    "parse quoted name");
	is_str(a.name, "Doe, \"J\"", "quoted name unescaped");
	is_int(mail_address_parse("<j@example.org>", &a), FB_OK, "parse <addr>");
	is_str(a.name, "", "no name");
	is_str(a.addr, "j@example.org", "addr in brackets");
	is_int(mail_address_parse("j@example.org", &a), FB_OK, "parse bare");
	is_int(mail_address_parse("Name <j@example.org", &a), FB_ERR_INVALID,
	    "unclosed bracket refused");
	is_int(mail_address_parse("\"unterminated <j@example.org>", &a), FB_OK,
	    "an unbalanced quote is just a character of the name");
	is_int(mail_address_parse("\"bad\"inner\" <j@example.org>", &a), FB_ERR_INVALID,
	    "a bare quote inside a quoted name refused");
	is_int(mail_address_parse("Bad\xff <j@example.org>", &a), FB_ERR_INVALID,
	    "name not UTF-8 refused");
	ok(a.addr[0] == '\0' && a.name[0] == '\0', "out cleared after a failure");
}

static void
test_refusals(void)
{
	struct mail_message	 m = message();
	struct buf		 out = BUF_INIT, big = BUF_INIT;
	char			*s;
	size_t			 i;

	m.subject = NULL;
	is_int(mail_format(&m, &out), FB_ERR_INVALID, "NULL subject");
	m = message();
	m.text = NULL;
	is_int(mail_format(&m, &out), FB_ERR_INVALID, "NULL text");
	m = message();
	m.from = NULL;
	is_int(mail_format(&m, &out), FB_ERR_INVALID, "NULL from");
	m = message();
	m.to = "not an address";
	is_int(mail_format(&m, &out), FB_ERR_INVALID, "bad to");
	m = message();
	m.text = "bad \xc3\x28 UTF-8";
	is_int(mail_format(&m, &out), FB_ERR_INVALID, "text not UTF-8");
	m = message();
	m.html = "overlong \xc0\xaf";
	is_int(mail_format(&m, &out), FB_ERR_INVALID, "html with an overlong form");
	m = message();
	m.subject = "surrogate \xed\xa0\x80";
	is_int(mail_format(&m, &out), FB_ERR_INVALID, "subject with a surrogate");
	m = message();
	m.subject = "cut \xe6\x9d";
	is_int(mail_format(&m, &out), FB_ERR_INVALID, "subject with a cut character");
	m = message();
	s = malloc(MAIL_SUBJECT_MAX + 2);
	if (s != NULL) {
		memset(s, 'x', MAIL_SUBJECT_MAX + 1);
		s[MAIL_SUBJECT_MAX + 1] = '\0';
		m.subject = s;
		is_int(mail_format(&m, &out), FB_ERR_TOOBIG, "subject over MAIL_SUBJECT_MAX");
		free(s);
	}
	m = message();
	for (i = 0; i <= MAIL_NAME_MAX; i++)
		buf_puts(&big, "n");
	m.to_name = buf_str(&big);
	is_int(mail_format(&m, &out), FB_ERR_INVALID, "name over MAIL_NAME_MAX");
	m = message();
	buf_reset(&big);
	for (i = 0; i <= MAIL_PART_MAX / 64; i++)
		buf_puts(&big, "0123456789012345678901234567890123456789012345678901234567890123");
	m.text = buf_str(&big);
	is_int(mail_format(&m, &out), FB_ERR_TOOBIG, "text over MAIL_PART_MAX");
	is_int(out.len, 0, "nothing appended by the failures");
	buf_free(&big);
	buf_free(&out);
}

static void
test_send_failures(void)
{
	struct mail_message	 m = message();
	char			 err[256];

	/* Nothing listens on port 1 of the loopback. */
	is_int(mail_send("smtp://user:s3cr3t-pw@127.0.0.1:1", &m, err, sizeof(err)),
	    MAIL_TEMPORARY, "refused connection: temporary");
	ok(err[0] != '\0', "with a reason: %s", err);
	lacks_str(err, "s3cr3t-pw", "the reason holds no password");
	is_int(mail_send("smtp://127.0.0.1:1?tls=bogus", &m, err, sizeof(err)),
	    MAIL_TEMPORARY, "unknown URL option: temporary (configuration)");
	has_str(err, "SMTP URL", "reason names the URL");
	is_int(mail_send("http://127.0.0.1:1", &m, err, sizeof(err)),
	    MAIL_TEMPORARY, "not an smtp URL: temporary (configuration)");
	is_int(mail_send(NULL, &m, err, sizeof(err)), MAIL_TEMPORARY, "no URL");
	m.to = "not an address";
	is_int(mail_send("smtp://127.0.0.1:1", &m, err, sizeof(err)),
	    MAIL_PERMANENT, "a message that cannot be built: permanent");
	has_str(err, "message not built", "reason: %s", err);
	m = message();
	m.subject = "x\r\nBcc: y@z.example";
	is_int(mail_send("smtp://127.0.0.1:1", &m, err, 0), MAIL_PERMANENT,
	    "injection: permanent (errlen 0 is fine)");
	is_str(mail_result_name(MAIL_PERMANENT), "permanent", "mail_result_name");
}

int
main(void)
{
	/* mail_format logs why it refuses; keep the TAP output readable. */
	log_setup("test_mail", FBLOG_ERROR);
	test_ascii_message();
	test_from_forms();
	test_to_names();
	test_subjects();
	test_qp();
	test_parts_through_format();
	test_injection();
	test_addresses();
	test_refusals();
	test_send_failures();
	return done_testing();
}
