/*
 * password — argon2id hashing (libargon2), bcrypt verification (libcrypt)
 * and the strength rule (libzxcvbn). See password.h for the contracts.
 */
#include <crypt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <argon2.h>
#include <openssl/crypto.h>
#include <zxcvbn.h>

#include "log.h"
#include "password.h"
#include "rand.h"
#include "validate.h"

#define SALT_LEN	16		/* bytes of salt in a new hash */
#define HASH_LEN	32		/* bytes of argon2id output */
/* Longest stored string accepted: a PHC string with 64-byte salt and hash
 * and the largest costs is about 230 characters; bcrypt is 60. */
#define STORED_MAX	256
/* Salt and output lengths accepted in a stored argon2id hash (RFC 9106
 * §3.1: salt of 8 bytes or more, tag of 4 bytes or more). */
#define PHC_SALT_MIN	8
#define PHC_SALT_MAX	64
#define PHC_HASH_MIN	4
#define PHC_HASH_MAX	64

#define BCRYPT_LEN	60		/* "$2b$" "12" "$" and 53 characters */

/* The user dictionary of the strength check: words of the email and name. */
#define DICT_WORDS	32
#define DICT_BYTES	1024
#define DICT_MIN_WORD	3		/* shorter words say nothing zxcvbn's
					 * brute force does not */
/* zxcvbn's score 3 starts at 10^8 guesses (zxcvbn's guesses_to_score). */
#define STRONG_LOG10_GUESSES	8.0

/* What the costs of an argon2id PHC string are. */
struct phc {
	uint32_t	 m, t, p;
	size_t		 saltlen;	/* decoded bytes */
	size_t		 hashlen;	/* decoded bytes */
};

static bool
params_ok(const struct password_params *p)
{
	return p != NULL &&
	    p->parallelism >= 1 && p->parallelism <= PASSWORD_MAX_PARALLELISM &&
	    p->iterations >= 1 && p->iterations <= PASSWORD_MAX_ITERATIONS &&
	    p->memory_kib >= ARGON2_MIN_MEMORY * p->parallelism &&
	    p->memory_kib <= PASSWORD_MAX_MEMORY_KIB;
}

/*
 * The length in bytes of password into *len, checked before any hashing:
 * FB_ERR_TOOBIG past PASSWORD_MAX_CHARS code points (the scan stops after
 * PASSWORD_MAX_BYTES + 1 bytes, so a huge password costs nothing),
 * FB_ERR_INVALID when it is NULL or not UTF-8.
 */
static enum fb_err
password_len(const char *password, size_t *len)
{
	long	 chars;

	if (password == NULL)
		return FB_ERR_INVALID;
	*len = strnlen(password, PASSWORD_MAX_BYTES + 1);
	if (*len > PASSWORD_MAX_BYTES)
		return FB_ERR_TOOBIG;
	if ((chars = utf8_length(password, *len)) < 0)
		return FB_ERR_INVALID;
	if (chars > PASSWORD_MAX_CHARS)
		return FB_ERR_TOOBIG;
	return FB_OK;
}

/* A decimal from *sp to *out: no sign, no leading zero, at most max. */
static bool
parse_u32(const char **sp, uint32_t max, uint32_t *out)
{
	const char	*s = *sp;
	uint64_t	 v = 0;

	if (*s < '0' || *s > '9' || (s[0] == '0' && s[1] >= '0' && s[1] <= '9'))
		return false;
	for (; *s >= '0' && *s <= '9'; s++) {
		v = v * 10 + (uint64_t)(*s - '0');
		if (v > max)
			return false;
	}
	*out = (uint32_t)v;
	*sp = s;
	return true;
}

/* Unpadded standard base64 (the PHC string format) from *sp up to '$' or the
 * end; the decoded length into *len. libargon2 decodes it again and also
 * refuses non-zero padding bits. */
static bool
parse_b64(const char **sp, size_t *len)
{
	const char	*s = *sp;
	size_t		 n;

	for (n = 0; s[n] != '\0' && s[n] != '$'; n++)
		if (!((s[n] >= 'A' && s[n] <= 'Z') || (s[n] >= 'a' && s[n] <= 'z') ||
		    (s[n] >= '0' && s[n] <= '9') || s[n] == '+' || s[n] == '/'))
			return false;
	if (n % 4 == 1)
		return false;
	*len = n / 4 * 3 + (n % 4 != 0 ? n % 4 - 1 : 0);
	*sp = s + n;
	return true;
}

/*
 * Parses "$argon2id$v=19$m=M,t=T,p=P$SALT$HASH" (the only form we write)
 * with costs within our bounds. False for anything else.
 */
static bool
phc_parse(const char *s, struct phc *out)
{
	static const char prefix[] = "$argon2id$v=19$m=";

	if (strncmp(s, prefix, sizeof(prefix) - 1) != 0)
		return false;
	s += sizeof(prefix) - 1;
	if (!parse_u32(&s, PASSWORD_MAX_MEMORY_KIB, &out->m) ||
	    strncmp(s, ",t=", 3) != 0)
		return false;
	s += 3;
	if (!parse_u32(&s, PASSWORD_MAX_ITERATIONS, &out->t) ||
	    strncmp(s, ",p=", 3) != 0)
		return false;
	s += 3;
	if (!parse_u32(&s, PASSWORD_MAX_PARALLELISM, &out->p) || *s++ != '$')
		return false;
	if (!parse_b64(&s, &out->saltlen) || *s++ != '$')
		return false;
	if (!parse_b64(&s, &out->hashlen) || *s != '\0')
		return false;
	return out->t >= 1 && out->p >= 1 &&
	    out->m >= ARGON2_MIN_MEMORY * out->p &&
	    out->saltlen >= PHC_SALT_MIN && out->saltlen <= PHC_SALT_MAX &&
	    out->hashlen >= PHC_HASH_MIN && out->hashlen <= PHC_HASH_MAX;
}

/* bcrypt's base64 alphabet ("./A-Za-z0-9"). */
static bool
is_bcrypt64(char c)
{
	return c == '.' || c == '/' || (c >= 'A' && c <= 'Z') ||
	    (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

bool
password_is_bcrypt(const char *stored)
{
	int	 cost, i;

	if (stored == NULL || strnlen(stored, BCRYPT_LEN + 1) != BCRYPT_LEN)
		return false;
	if (stored[0] != '$' || stored[1] != '2' ||
	    (stored[2] != 'a' && stored[2] != 'b' && stored[2] != 'y') ||
	    stored[3] != '$' || stored[6] != '$')
		return false;
	if (stored[4] < '0' || stored[4] > '9' ||
	    stored[5] < '0' || stored[5] > '9')
		return false;
	cost = (stored[4] - '0') * 10 + (stored[5] - '0');
	if (cost < 4 || cost > 31)
		return false;
	for (i = 7; i < BCRYPT_LEN; i++)
		if (!is_bcrypt64(stored[i]))
			return false;
	return true;
}

void
password_params_from_config(const struct config *c, struct password_params *p)
{
	/* config.c holds them within the PASSWORD_MAX_* bounds; a negative
	 * value becomes 0, which password_hash() refuses. */
	p->memory_kib = c->argon2_memory_kib > 0 ?
	    (uint32_t)c->argon2_memory_kib : 0;
	p->iterations = c->argon2_iterations > 0 ?
	    (uint32_t)c->argon2_iterations : 0;
	p->parallelism = c->argon2_parallelism > 0 ?
	    (uint32_t)c->argon2_parallelism : 0;
}

enum fb_err
password_hash(const struct password_params *p, const char *password,
    char **out)
{
	unsigned char	 salt[SALT_LEN];
	char		*enc = NULL;
	size_t		 len, enclen;
	enum fb_err	 e;
	int		 rc;

	*out = NULL;
	if (!params_ok(p)) {
		log_msg(FBLOG_ERROR, "password: argon2id costs out of bounds");
		return FB_ERR_INVALID;
	}
	if ((e = password_len(password, &len)) != FB_OK)
		return e;
	if ((e = rand_bytes(salt, sizeof(salt))) != FB_OK)
		return e;
	enclen = argon2_encodedlen(p->iterations, p->memory_kib,
	    p->parallelism, SALT_LEN, HASH_LEN, Argon2_id);
	if ((enc = malloc(enclen)) == NULL) {
		log_msg(FBLOG_ERROR, "password: out of memory");
		e = FB_ERR_NOMEM;
		goto fail;
	}
	rc = argon2id_hash_encoded(p->iterations, p->memory_kib, p->parallelism,
	    password, len, salt, sizeof(salt), HASH_LEN, enc, enclen);
	if (rc != ARGON2_OK) {
		log_msg(FBLOG_ERROR, "password: argon2id: %s",
		    argon2_error_message(rc));
		e = rc == ARGON2_MEMORY_ALLOCATION_ERROR ? FB_ERR_NOMEM :
		    FB_ERR_INTERNAL;
		goto fail;
	}
	*out = enc;
	return FB_OK;
fail:
	free(enc);
	return e;
}

/* argon2id_verify() of stored (a PHC string phc_parse() accepted). */
static enum fb_err
verify_argon2id(const char *stored, const char *password, size_t len,
    enum password_verdict *v)
{
	int	 rc;

	rc = argon2id_verify(stored, password, len);
	switch (rc) {
	case ARGON2_OK:
		*v = PASSWORD_MATCH;
		return FB_OK;
	case ARGON2_VERIFY_MISMATCH:
		return FB_OK;
	case ARGON2_MEMORY_ALLOCATION_ERROR:
		log_msg(FBLOG_ERROR, "password: argon2id: %s",
		    argon2_error_message(rc));
		return FB_ERR_NOMEM;
	case ARGON2_DECODING_FAIL:
	case ARGON2_DECODING_LENGTH_FAIL:
	case ARGON2_SALT_TOO_SHORT:
	case ARGON2_SALT_TOO_LONG:
	case ARGON2_OUTPUT_TOO_SHORT:
	case ARGON2_OUTPUT_TOO_LONG:
	case ARGON2_INCORRECT_TYPE:
		/* Well-formed by our parse but not by libargon2's (e.g.
		 * non-zero padding bits of the base64). */
		return FB_ERR_INVALID;
	default:
		log_msg(FBLOG_ERROR, "password: argon2id: %s",
		    argon2_error_message(rc));
		return FB_ERR_INTERNAL;
	}
}

/* crypt_rn() of password with the bcrypt hash stored as setting; the
 * result compared with stored in constant time. */
static enum fb_err
verify_bcrypt(const char *stored, const char *password,
    enum password_verdict *v)
{
	struct crypt_data	*cd;
	const char		*r;
	enum fb_err		 e = FB_OK;

	/* 32 KiB: too big for the stack of a request handler. */
	if ((cd = calloc(1, sizeof(*cd))) == NULL) {
		log_msg(FBLOG_ERROR, "password: out of memory");
		return FB_ERR_NOMEM;
	}
	r = crypt_rn(password, stored, cd, (int)sizeof(*cd));
	if (r == NULL || strnlen(r, BCRYPT_LEN + 1) != BCRYPT_LEN) {
		log_msg(FBLOG_ERROR, "password: crypt_rn refused a bcrypt hash");
		e = FB_ERR_INTERNAL;
		goto out;
	}
	if (CRYPTO_memcmp(r, stored, BCRYPT_LEN) == 0)
		*v = PASSWORD_MATCH;
out:
	/* The result is a function of the password: wipe it with the rest. */
	OPENSSL_cleanse(cd, sizeof(*cd));
	free(cd);
	return e;
}

enum fb_err
password_verify(const struct password_params *p, const char *stored,
    const char *password, enum password_verdict *v, bool *needs_rehash)
{
	struct phc	 phc;
	size_t		 len;
	enum fb_err	 e;

	*v = PASSWORD_MISMATCH;
	if (needs_rehash != NULL)
		*needs_rehash = false;
	if (!params_ok(p)) {
		log_msg(FBLOG_ERROR, "password: argon2id costs out of bounds");
		return FB_ERR_INVALID;
	}
	if ((e = password_len(password, &len)) != FB_OK)
		return e;
	if (stored == NULL || strnlen(stored, STORED_MAX + 1) > STORED_MAX)
		return FB_ERR_INVALID;

	if (phc_parse(stored, &phc)) {
		if ((e = verify_argon2id(stored, password, len, v)) != FB_OK)
			return e;
		if (needs_rehash != NULL)
			*needs_rehash = phc.m != p->memory_kib ||
			    phc.t != p->iterations || phc.p != p->parallelism ||
			    phc.saltlen != SALT_LEN || phc.hashlen != HASH_LEN;
		return FB_OK;
	}
	if (password_is_bcrypt(stored)) {
		if ((e = verify_bcrypt(stored, password, v)) != FB_OK)
			return e;
		if (needs_rehash != NULL)
			*needs_rehash = true;
		return FB_OK;
	}
	return FB_ERR_INVALID;
}

void
password_burn(const struct password_params *p, const char *password)
{
	/* Any bytes do as salt and hash: no password is known to hash to
	 * them, and the verdict is thrown away anyway. */
	static const char tail[] = "$c2FsdHNhbHRzYWx0c2FsdA"
	    "$YnVybmJ1cm5idXJuYnVybmJ1cm5idXJuYnVybmJ1cm4";
	char			 stored[STORED_MAX];
	enum password_verdict	 v;
	int			 n;

	if (!params_ok(p))
		return;
	n = snprintf(stored, sizeof(stored), "$argon2id$v=19$m=%u,t=%u,p=%u%s",
	    p->memory_kib, p->iterations, p->parallelism, tail);
	if (n < 0 || (size_t)n >= sizeof(stored))
		return;
	(void)password_verify(p, stored, password, &v, NULL);
}

/*
 * The user dictionary for zxcvbn: lowercased words in a bounded buffer.
 * Words that no longer fit are dropped, which only makes the check a little
 * less strict for absurdly long emails or names.
 */
struct dict {
	char		 buf[DICT_BYTES];
	size_t		 used;
	const char	*words[DICT_WORDS + 1];	/* NULL-terminated */
	size_t		 n;
	size_t		 nemail;	/* words[0..nemail) come from the email */
};

static void
dict_add(struct dict *d, const char *s, size_t len)
{
	size_t	 i;
	char	*w;

	if (len < DICT_MIN_WORD || d->n >= DICT_WORDS ||
	    len + 1 > sizeof(d->buf) - d->used)
		return;
	w = d->buf + d->used;
	for (i = 0; i < len; i++)
		w[i] = (s[i] >= 'A' && s[i] <= 'Z') ? (char)(s[i] - 'A' + 'a') :
		    s[i];
	w[len] = '\0';
	d->used += len + 1;
	d->words[d->n++] = w;
	d->words[d->n] = NULL;
}

/* Adds the words of s[0..len): runs of ASCII letters and digits and of
 * non-ASCII bytes (so "José" stays one word). */
static void
dict_add_words(struct dict *d, const char *s, size_t len)
{
	size_t		 i, start;
	unsigned char	 c;

	for (i = 0, start = 0; i <= len; i++) {
		c = i < len ? (unsigned char)s[i] : '\0';
		if (c >= 0x80 || (c >= 'a' && c <= 'z') ||
		    (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
			continue;
		if (i > start)
			dict_add(d, s + start, i - start);
		start = i + 1;
	}
}

/*
 * The email as a whole, its local part as a whole and in words, its domain
 * as a whole and its labels but the last: a top-level domain ("com",
 * "org") says nothing about the user. Then the words of the name.
 */
static void
dict_build(struct dict *d, const char *email, const char *name)
{
	const char	*at, *dom, *dot;
	size_t		 len, domlen;

	d->used = d->n = 0;
	d->words[0] = NULL;
	if (email != NULL) {
		/* An address is at most 254 bytes (RFC 5321 §4.5.3.1.3). */
		len = strnlen(email, 254);
		dict_add(d, email, len);
		if ((at = memchr(email, '@', len)) != NULL) {
			dict_add(d, email, (size_t)(at - email));
			dict_add_words(d, email, (size_t)(at - email));
			dom = at + 1;
			domlen = len - (size_t)(dom - email);
			dict_add(d, dom, domlen);
			if ((dot = memrchr(dom, '.', domlen)) != NULL)
				domlen = (size_t)(dot - dom);
			dict_add_words(d, dom, domlen);
		} else
			dict_add_words(d, email, len);
	}
	d->nemail = d->n;
	if (name != NULL)
		dict_add_words(d, name, strnlen(name, 256));
}

/*
 * Where the bytes password[begin..begin+len) come from: the index of the
 * user word they are (ignoring ASCII case), or d->n when they are none.
 */
static size_t
dict_which(const struct dict *d, const char *password, size_t pwlen,
    int begin, int len)
{
	size_t	 i;

	if (begin < 0 || len <= 0 || (size_t)begin + (size_t)len > pwlen)
		return d->n;
	for (i = 0; i < d->n; i++)
		if (strlen(d->words[i]) == (size_t)len &&
		    strncasecmp(password + begin, d->words[i], (size_t)len) == 0)
			break;
	return i;
}

/*
 * libzxcvbn reads bytes, not characters: a multi-byte character repeated is
 * no repeat to it and each of its bytes counts as a character (eight "🔑"
 * score 2^29.6 guesses, as much as a random word). The folded form maps
 * each distinct non-ASCII code point to one byte from 0x80 (in order of
 * first appearance in the password; past FOLD_MAX distinct ones they share
 * bytes, which can only lower the estimate), so zxcvbn sees one character
 * per code point, as zxcvbn.js does. ASCII is kept as it is.
 */
#define FOLD_MAX	127		/* bytes 0x80..0xfe */
#define FOLD_UNKNOWN	0xff		/* in a user word, not in the password */

struct fold {
	uint32_t	 cps[FOLD_MAX];
	size_t		 n;
};

/* The code point at s[0..len) into *cp; its length in bytes. A byte that
 * starts no valid sequence is one "code point" of its own (above U+10FFFF,
 * so it equals no real one): user words need not be valid UTF-8. */
static size_t
utf8_next(const unsigned char *s, size_t len, uint32_t *cp)
{
	size_t	 more, i;

	if (s[0] >= 0xc0 && s[0] < 0xe0)
		more = 1;
	else if (s[0] >= 0xe0 && s[0] < 0xf0)
		more = 2;
	else if (s[0] >= 0xf0 && s[0] < 0xf8)
		more = 3;
	else
		goto single;
	if (more >= len)
		goto single;
	*cp = s[0] & (0x3f >> more);
	for (i = 1; i <= more; i++) {
		if ((s[i] & 0xc0) != 0x80)
			goto single;
		*cp = (*cp << 6) | (s[i] & 0x3f);
	}
	return more + 1;
single:
	*cp = 0x110000 + s[0];
	return 1;
}

/* The byte that stands for cp. */
static unsigned char
fold_byte(struct fold *f, uint32_t cp, bool learn)
{
	size_t	 k;

	for (k = 0; k < f->n; k++)
		if (f->cps[k] == cp)
			return (unsigned char)(0x80 + k);
	if (!learn)
		return FOLD_UNKNOWN;
	if (f->n < FOLD_MAX) {
		f->cps[f->n] = cp;
		return (unsigned char)(0x80 + f->n++);
	}
	/* Out of bytes: share one, as if two characters were the same. */
	return (unsigned char)(0x80 + cp % FOLD_MAX);
}

/*
 * Folds in[0..len) into out (at least len + 1 bytes; the result is never
 * longer). With learn, code points not seen yet get the next byte; without,
 * they become FOLD_UNKNOWN.
 */
static void
fold_str(struct fold *f, const char *in, size_t len, char *out, bool learn)
{
	const unsigned char	*s = (const unsigned char *)in;
	size_t			 i, j, n;
	uint32_t		 cp;

	for (i = 0, j = 0; i < len; i += n) {
		if (s[i] < 0x80) {
			out[j++] = (char)s[i];
			n = 1;
			continue;
		}
		n = utf8_next(s + i, len - i, &cp);
		out[j++] = (char)fold_byte(f, cp, learn);
	}
	out[j] = '\0';
}

/* The words of d folded with f (which has learnt the password) into fd. */
static void
dict_fold(struct fold *f, const struct dict *d, struct dict *fd)
{
	size_t	 i;
	char	*w;

	/* Folding never lengthens a word: fd->buf holds what d->buf did. */
	fd->used = 0;
	fd->nemail = d->nemail;
	for (i = 0; i < d->n; i++) {
		w = fd->buf + fd->used;
		fold_str(f, d->words[i], strlen(d->words[i]), w, false);
		fd->used += strlen(w) + 1;
		fd->words[i] = w;
	}
	fd->n = d->n;
	fd->words[fd->n] = NULL;
}

static void
set_reason(char *reason, size_t reasonlen, const char *text)
{
	if (reason == NULL || reasonlen == 0)
		return;
	/* Reasons are constant ASCII within PASSWORD_REASON_MAX: a smaller
	 * buffer gets a cut (still terminated) reason, never an overflow. */
	(void)snprintf(reason, reasonlen, "%s", text);
}

/*
 * Why zxcvbn found password weak, for the user. libzxcvbn gives no warning
 * text (zxcvbn.js's feedback module): it is derived here from the patterns
 * of zxcvbn's cheapest decomposition (Begin and Length count bytes). A part
 * that is one of the user words names the email or the name, whatever
 * dictionary zxcvbn found it in ("john" is a common name too); else the kind
 * of the longest pattern gives the advice, after zxcvbn.js's warnings.
 */
static const char *
weak_reason(const struct dict *d, const char *password, const ZxcMatch_t *info)
{
	const ZxcMatch_t	*m, *longest = NULL;
	size_t			 pwlen, w;
	bool			 is_user = false;
	int			 type;

	pwlen = strlen(password);
	for (m = info; m != NULL; m = m->Next) {
		type = (int)m->Type & ~MULTIPLE_MATCH;
		if (type == BRUTE_MATCH || type == NON_MATCH)
			continue;
		if ((w = dict_which(d, password, pwlen, m->Begin, m->Length)) <
		    d->nemail)
			return "is too easy to guess: it contains your email "
			    "address";
		if (w < d->n)
			return "is too easy to guess: it contains your name";
		if (type == USER_MATCH || type == USER_LEET_MATCH)
			is_user = true;
		if (longest == NULL || m->Length > longest->Length)
			longest = m;
	}
	if (is_user)
		return "is too easy to guess: it contains your email address "
		    "or name";
	if (longest == NULL)
		return "is too easy to guess: make it longer, "
		    "with another word or two";
	if ((int)longest->Type & MULTIPLE_MATCH)
		return "is too easy to guess: avoid repeated words and characters";
	switch (longest->Type) {
	case DICTIONARY_MATCH:
		if ((size_t)longest->Length == pwlen)
			return "is too easy to guess: it is a common password "
			    "or word";
		return "is too easy to guess: avoid common words and patterns";
	case DICT_LEET_MATCH:
		return "is too easy to guess: avoid common words, even with "
		    "symbols for letters";
	case SPATIAL_MATCH:
		return "is too easy to guess: avoid keyboard patterns like qwerty";
	case REPEATS_MATCH:
		return "is too easy to guess: avoid repeated words and characters";
	case SEQUENCE_MATCH:
		return "is too easy to guess: avoid sequences like abc or 6543";
	case DATE_MATCH:
	case YEAR_MATCH:
		return "is too easy to guess: avoid dates and years";
	default:
		return "is too easy to guess: avoid common words and patterns";
	}
}

bool
password_strong_enough(const char *password, const char *email,
    const char *name, char *reason, size_t reasonlen)
{
	struct dict		 d, fd;
	struct fold		 f;
	char			 folded[PASSWORD_MAX_BYTES + 1];
	ZxcMatch_t		*info = NULL, *finfo = NULL;
	const struct dict	*wd;
	const ZxcMatch_t	*wi;
	const char		*ws;
	size_t			 len;
	long			 chars;
	double			 bits, fbits;
	bool			 strong;

	set_reason(reason, reasonlen, "");
	if (password == NULL) {
		set_reason(reason, reasonlen, "is required");
		return false;
	}
	len = strnlen(password, PASSWORD_MAX_BYTES + 1);
	if (len > PASSWORD_MAX_BYTES) {
		set_reason(reason, reasonlen, "must be at most 256 characters");
		return false;
	}
	if ((chars = utf8_length(password, len)) < 0) {
		set_reason(reason, reasonlen, "must be valid UTF-8");
		return false;
	}
	if (chars < PASSWORD_MIN_CHARS) {
		set_reason(reason, reasonlen, "must be at least 8 characters");
		return false;
	}
	if (chars > PASSWORD_MAX_CHARS) {
		set_reason(reason, reasonlen, "must be at most 256 characters");
		return false;
	}

	dict_build(&d, email, name);
	/* libzxcvbn returns the entropy in bits: guesses = 2^bits. */
	bits = ZxcvbnMatch(password, d.words, &info);
	wd = &d;
	wi = info;
	ws = password;
	if ((size_t)chars != len) {
		/* Non-ASCII: the folded form as well; the lower estimate wins. */
		f.n = 0;
		fold_str(&f, password, len, folded, true);
		dict_fold(&f, &d, &fd);
		fbits = ZxcvbnMatch(folded, fd.words, &finfo);
		if (fbits < bits) {
			bits = fbits;
			wd = &fd;
			wi = finfo;
			ws = folded;
		}
	}
	strong = bits * log10(2.0) >= STRONG_LOG10_GUESSES;
	if (!strong)
		set_reason(reason, reasonlen, weak_reason(wd, ws, wi));
	if (info != NULL)
		ZxcvbnFreeInfo(info);
	if (finfo != NULL)
		ZxcvbnFreeInfo(finfo);
	/* A copy of the password, however transformed. */
	OPENSSL_cleanse(folded, sizeof(folded));
	return strong;
}
