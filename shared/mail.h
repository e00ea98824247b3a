/*
 * mail — outgoing email: builds an RFC 5322 message with MIME parts
 * (RFC 2045-2047) and hands it to an SMTP server through libcurl.
 *
 * The message is built entirely here, byte for byte: headers are folded,
 * non-ASCII header text becomes RFC 2047 encoded-words, bodies are
 * quoted-printable, every line ends in CRLF and none is longer than 998
 * octets (RFC 5322 §2.1.1). Any CR, LF or other control character in a
 * header value is refused, so a value cannot add a header (no injection).
 *
 * Ownership: the functions borrow the strings of struct mail_message;
 * mail_format() appends to a buf the caller owns and frees.
 *
 * Not thread-safe: mail_send() calls curl_global_init() once per process,
 * guarded by a plain static flag (our processes are single-threaded).
 */
#ifndef FB_MAIL_H
#define FB_MAIL_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"
#include "err.h"

/* RFC 5321 §4.5.3.1: 64 octets of local part, 254 of address (a path of 256
 * with its angle brackets). */
#define MAIL_LOCAL_MAX	64
#define MAIL_ADDR_MAX	254
/* Longest display name accepted, in bytes of UTF-8. */
#define MAIL_NAME_MAX	256
/* Longest subject accepted, in bytes of UTF-8. */
#define MAIL_SUBJECT_MAX 2048
/* Longest text or HTML part accepted, in bytes, before encoding. */
#define MAIL_PART_MAX	(4 * 1024 * 1024)

/* Timeouts of mail_send(), in seconds. */
#define MAIL_CONNECT_TIMEOUT	10
#define MAIL_TRANSFER_TIMEOUT	60

struct mail_message {
	const char	*from;		/* "a@b.example" or "Name <a@b.example>" */
	const char	*to;		/* the same two forms */
	const char	*to_name;	/* display name, UTF-8, wins over one in to (or NULL) */
	const char	*subject;	/* UTF-8, one line (may be "") */
	const char	*text;		/* UTF-8 plain-text part */
	const char	*html;		/* UTF-8 HTML part (or NULL: text/plain only) */
};

/* An address split into display name and addr-spec. */
struct mail_address {
	char	name[MAIL_NAME_MAX + 1];	/* UTF-8, unquoted; "" when none */
	char	addr[MAIL_ADDR_MAX + 1];	/* local@domain */
};

enum mail_result {
	MAIL_SENT,		/* the server accepted the message (250 after DATA) */
	MAIL_TEMPORARY,		/* 4xx, no connection, timeout, TLS or login failure,
				   bad SMTP URL: try again later */
	MAIL_PERMANENT,		/* 5xx for the sender, recipient or message, or a
				   message that cannot be built: do not retry */
};

/*
 * True when addr is a plain addr-spec we send to: dot-atom local part of at
 * most MAIL_LOCAL_MAX octets, '@', a host name of LDH labels, MAIL_ADDR_MAX
 * octets in all. Quoted local parts, domain literals and non-ASCII
 * (SMTPUTF8) addresses are refused: this is stricter than RFC 5322 §3.4.1.
 */
bool		mail_address_valid(const char *addr);

/*
 * Parses "local@domain", "Name <local@domain>" or "\"Name\" <local@domain>"
 * (surrounding whitespace ignored) into out. FB_OK, or FB_ERR_INVALID when
 * the address is not mail_address_valid(), or the name is longer than
 * MAIL_NAME_MAX, is not UTF-8 or holds a control character (CR, LF, TAB...).
 */
enum fb_err	mail_address_parse(const char *s, struct mail_address *out);

/*
 * Appends s[0..len) encoded as quoted-printable (RFC 2045 §6.7) to out:
 * LF or CRLF line ends become CRLF hard breaks, encoded lines are at most
 * 76 characters with '=' soft breaks, '=', controls, non-ASCII bytes and a
 * space or tab before a line end are encoded, and so is a '.' or "From "
 * at the start of a line. FB_OK or FB_ERR_NOMEM.
 */
enum fb_err	mail_qp_encode(const char *s, size_t len, struct buf *out);

/*
 * Appends the whole message m to out: Date (UTC), Message-ID
 * <random hex@domain of From>, From, To, Subject, MIME-Version and the
 * text part, or a multipart/alternative of the text and HTML parts with a
 * random boundary absent from both. Returns
 *	FB_OK
 *	FB_ERR_INVALID	an address is malformed, a header value holds a
 *			control character, a string is not UTF-8, or a
 *			required field (from, to, subject, text) is NULL
 *	FB_ERR_TOOBIG	subject or a part over its MAX above
 *	FB_ERR_NOMEM, FB_ERR_INTERNAL (no randomness)
 * On error out is left as it was.
 */
enum fb_err	mail_format(const struct mail_message *m, struct buf *out);

/*
 * Sends m to its To address through smtp_url and waits for the answer:
 *	smtp://[user:pass@]host[:port]	STARTTLS when the server offers it
 *	smtp://...?tls=required		STARTTLS or fail (MAIL_TEMPORARY)
 *	smtps://[user:pass@]host[:port]	implicit TLS (RFC 8314)
 * (?tls=try is the default, spelled out.) Certificates are verified. The
 * envelope (MAIL FROM / RCPT TO) carries the bare addresses. Connect times
 * out after MAIL_CONNECT_TIMEOUT s, the whole exchange after
 * MAIL_TRANSFER_TIMEOUT s.
 *
 * Returns a mail_result (see there). err (errlen bytes, may be 0) gets a
 * short one-line reason for logs, "" when sent; it never contains the
 * password of the URL but may name the server and carries the server's
 * last answer ("550 5.1.1 ...").
 */
enum mail_result mail_send(const char *smtp_url, const struct mail_message *m,
		    char *err, size_t errlen);

/* "sent", "temporary" or "permanent". */
const char	*mail_result_name(enum mail_result r);

#endif
