#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cms.h"
#include "cursor.h"
#include "log.h"
#include "problem.h"
#include "validate.h"

/* ---- SQL ------------------------------------------------------------------
 *
 * One set of statements per table, made by the macros below from string
 * literals only. CMS_ITEM is the row as jsonb text with the internal columns
 * (search, sort_at) left out and the times as RFC 3339 UTC; C puts its keys
 * in order (item_from_text).
 */

#define CMS_TS(c)	"to_char(" c " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"
#define CMS_TS_US(c)	"to_char(" c " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')"

#define CMS_ITEM \
	"((to_jsonb(t) - 'search' - 'sort_at') || jsonb_build_object(" \
	"'published_at', " CMS_TS("t.published_at") "," \
	" 'created_at', " CMS_TS("t.created_at") "," \
	" 'updated_at', " CMS_TS("t.updated_at") "))::text AS item"

/* Public: published, and its time has come. Parameter p: show drafts too. */
#define CMS_VISIBLE(p) \
	"(" p "::bool OR (t.published AND t.published_at <= now()))"
#define CMS_TAGGED(p)	"(" p "::text IS NULL OR t.tags @> ARRAY[" p "::text])"
#define CMS_MATCHES(p) \
	"(" p "::text IS NULL OR t.search @@ websearch_to_tsquery('english', " p "::text))"

/* Relevance in [0, 2): ts_rank normalised into [0, 1) (flag 32: rank/(rank+1)),
 * plus 1 when the title (weight A) matches, so title matches come first. */
#define CMS_RANK \
	"(ts_rank(t.search, q, 32)::float8 + (ts_filter(t.search, '{a}') @@ q)::int)"

#define CMS_COMMON_COLS	"slug, published, published_at, position, tags"

/* XXX: one statement per order with optional filters ($n IS NULL OR ...): a
 * generic plan cannot pick the tags or search GIN index for the filter it
 * has; fine at CMS sizes, split the statements if the tables grow large. */
#define CMS_SQL(tab, cols) { \
	.get_by_id = "SELECT " CMS_ITEM " FROM " tab " t" \
	    " WHERE t.id = $1::uuid AND " CMS_VISIBLE("$2"), \
	.get_by_slug = "SELECT " CMS_ITEM " FROM " tab " t" \
	    " WHERE t.slug = $1::text AND " CMS_VISIBLE("$2"), \
	.lock = "SELECT " CMS_ITEM " FROM " tab " t WHERE t.id = $1::uuid FOR UPDATE", \
	.insert = "INSERT INTO " tab " AS t (" CMS_COMMON_COLS ", " cols ")" \
	    " SELECT " CMS_COMMON_COLS ", " cols \
	    " FROM jsonb_populate_record(NULL::" tab ", $1::jsonb) RETURNING " CMS_ITEM, \
	/* jsonb_populate_record(t, patch): the stored row, the patch's keys replaced */ \
	.update = "UPDATE " tab " AS t SET (" CMS_COMMON_COLS ", " cols ")" \
	    " = (SELECT " CMS_COMMON_COLS ", " cols " FROM jsonb_populate_record(t, $2::jsonb))" \
	    " WHERE t.id = $1::uuid RETURNING " CMS_ITEM, \
	.remove = "DELETE FROM " tab " AS t WHERE t.id = $1::uuid RETURNING " CMS_ITEM, \
	.list_position = "SELECT " CMS_ITEM ", t.id::text AS k_id, t.position::text AS k_pos, " \
	    CMS_TS_US("t.sort_at") " AS k_at FROM " tab " t" \
	    " WHERE " CMS_VISIBLE("$1") " AND " CMS_TAGGED("$2") " AND " CMS_MATCHES("$3") \
	    " AND ($4::int IS NULL OR t.position > $4::int OR (t.position = $4::int" \
	    " AND (t.sort_at, t.id) < ($5::timestamptz, $6::uuid)))" \
	    " ORDER BY t.position, t.sort_at DESC, t.id DESC LIMIT $7::int", \
	.list_newest = "SELECT " CMS_ITEM ", t.id::text AS k_id, " \
	    CMS_TS_US("t.sort_at") " AS k_at FROM " tab " t" \
	    " WHERE " CMS_VISIBLE("$1") " AND " CMS_TAGGED("$2") " AND " CMS_MATCHES("$3") \
	    " AND ($4::timestamptz IS NULL OR (t.sort_at, t.id) < ($4::timestamptz, $5::uuid))" \
	    " ORDER BY t.sort_at DESC, t.id DESC LIMIT $6::int", \
	.list_rank = "SELECT s.item, s.k_id, s.rank::text AS k_rank FROM (" \
	    "SELECT " CMS_ITEM ", t.id, t.id::text AS k_id, " CMS_RANK " AS rank" \
	    " FROM " tab " t, websearch_to_tsquery('english', $3::text) q" \
	    " WHERE " CMS_VISIBLE("$1") " AND " CMS_TAGGED("$2") " AND t.search @@ q) s" \
	    " WHERE ($4::float8 IS NULL OR (s.rank, s.id) < ($4::float8, $5::uuid))" \
	    " ORDER BY s.rank DESC, s.id DESC LIMIT $6::int", \
}

/* One resource's part of GET /api/search: its published matches. */
#define CMS_SEARCH_PART(type, tab, title, doc) \
	"SELECT '" type "'::text AS type, t.id, t.slug, t." title " AS title, " doc " AS doc, " \
	CMS_RANK " AS rank FROM " tab " t, websearch_to_tsquery('english', $1::text) q" \
	" WHERE t.published AND t.published_at <= now() AND t.search @@ q"

/* ---- the resources --------------------------------------------------------- */

/* Every resource has these besides its own (schema/008_cms.sql mirrors the bounds). */
static const struct cms_field common_fields[] = {
	{ "slug", CMS_SLUG, false, false, 1, CMS_SLUG_MAX, false },
	{ "published", CMS_BOOL, false, false, 0, 0, false },
	{ "published_at", CMS_TIME, false, true, 0, 0, false },
	{ "position", CMS_INT, false, false, -1000000, 1000000, false },
	{ "tags", CMS_TAGS, false, false, 0, CMS_TAGS_MAX, false },
	{ NULL, CMS_TEXT, false, false, 0, 0, false }
};

#define SERVICES_COLS "name, summary, description, price_cents, currency, duration_minutes"
static const struct cms_field services_fields[] = {
	{ "name", CMS_TEXT, true, false, 1, 200, false },
	{ "summary", CMS_TEXT, false, false, 0, 500, false },
	{ "description", CMS_TEXT, false, false, 0, 20000, false },
	{ "price_cents", CMS_INT, true, false, 0, 1000000000000LL, false },
	{ "currency", CMS_CURRENCY, true, false, 3, 3, false },
	{ "duration_minutes", CMS_INT, false, true, 1, 10080, false },
	{ NULL, CMS_TEXT, false, false, 0, 0, false }
};

#define PROJECTS_COLS "title, summary, body, url, cover_file_id"
static const struct cms_field projects_fields[] = {
	{ "title", CMS_TEXT, true, false, 1, 200, false },
	{ "summary", CMS_TEXT, false, false, 0, 500, false },
	{ "body", CMS_TEXT, false, false, 0, 100000, false },
	{ "url", CMS_URL, false, true, 0, 2048, false },
	{ "cover_file_id", CMS_UUID, false, true, 0, 0, false },
	{ NULL, CMS_TEXT, false, false, 0, 0, false }
};

#define BLOG_POSTS_COLS "title, excerpt, body, cover_file_id, author_id"
static const struct cms_field blog_posts_fields[] = {
	{ "title", CMS_TEXT, true, false, 1, 200, false },
	{ "excerpt", CMS_TEXT, false, false, 0, 1000, false },
	{ "body", CMS_TEXT, false, false, 0, 100000, false },
	{ "cover_file_id", CMS_UUID, false, true, 0, 0, false },
	{ "author_id", CMS_USER, false, true, 0, 0, true },
	{ NULL, CMS_TEXT, false, false, 0, 0, false }
};

#define TESTIMONIALS_COLS "author_name, author_title, quote, rating"
static const struct cms_field testimonials_fields[] = {
	{ "author_name", CMS_TEXT, true, false, 1, 200, false },
	{ "author_title", CMS_TEXT, false, false, 0, 200, false },
	{ "quote", CMS_TEXT, true, false, 1, 5000, false },
	{ "rating", CMS_INT, true, false, 1, 5, false },
	{ NULL, CMS_TEXT, false, false, 0, 0, false }
};

static const struct cms_resource services = {
	"services", "services", "name", services_fields,
	CMS_SQL("services", SERVICES_COLS)
};
static const struct cms_resource projects = {
	"projects", "projects", "title", projects_fields,
	CMS_SQL("projects", PROJECTS_COLS)
};
static const struct cms_resource blog_posts = {
	"blog-posts", "blog_posts", "title", blog_posts_fields,
	CMS_SQL("blog_posts", BLOG_POSTS_COLS)
};
static const struct cms_resource testimonials = {
	"testimonials", "testimonials", "author_name", testimonials_fields,
	CMS_SQL("testimonials", TESTIMONIALS_COLS)
};

const struct cms_resource *const cms_resources[] = {
	&services, &projects, &blog_posts, &testimonials, NULL
};

static const char search_sql[] =
	"SELECT s.type, s.id::text AS id, s.slug, s.title, s.rank::text AS k_rank,"
	" btrim(ts_headline('english', s.doc, websearch_to_tsquery('english', $1::text),"
	" 'StartSel=\"\", StopSel=\"\", MinWords=12, MaxWords=30, MaxFragments=1')) AS snippet"
	" FROM ("
	CMS_SEARCH_PART("services", "services", "name", "t.summary || ' ' || t.description")
	" UNION ALL "
	CMS_SEARCH_PART("projects", "projects", "title", "t.summary || ' ' || t.body")
	" UNION ALL "
	CMS_SEARCH_PART("blog-posts", "blog_posts", "title", "t.excerpt || ' ' || t.body")
	" UNION ALL "
	CMS_SEARCH_PART("testimonials", "testimonials", "author_name", "t.quote")
	") s WHERE ($2::float8 IS NULL OR (s.rank, s.id) < ($2::float8, $3::uuid))"
	" ORDER BY s.rank DESC, s.id DESC LIMIT $4::int";

const struct cms_resource *
cms_resource(const char *name, size_t len)
{
	size_t	i;

	for (i = 0; cms_resources[i] != NULL; i++)
		if (strlen(cms_resources[i]->name) == len &&
		    memcmp(cms_resources[i]->name, name, len) == 0)
			return cms_resources[i];
	return NULL;
}

/* ---- single checks ------------------------------------------------------- */

/* The active ISO 4217 currency codes, sorted: the iso-codes 4.15 list (2023)
 * less the fund codes (BOV, CHE, CHW, CLF, COU, MXV, USN, UYI, UYW), precious
 * metals, bond-market units, XDR, XSU, XUA, XTS, XXX and the withdrawn HRK;
 * plus ZWG (2024) and XCG (2025). XXX: review at each ISO 4217 amendment. */
static const char currencies[][4] = {
	"aed", "afn", "all", "amd", "ang", "aoa", "ars", "aud", "awg", "azn", "bam", "bbd",
	"bdt", "bgn", "bhd", "bif", "bmd", "bnd", "bob", "brl", "bsd", "btn", "bwp", "byn",
	"bzd", "cad", "cdf", "chf", "clp", "cny", "cop", "crc", "cuc", "cup", "cve", "czk",
	"djf", "dkk", "dop", "dzd", "egp", "ern", "etb", "eur", "fjd", "fkp", "gbp", "gel",
	"ghs", "gip", "gmd", "gnf", "gtq", "gyd", "hkd", "hnl", "htg", "huf", "idr", "ils",
	"inr", "iqd", "irr", "isk", "jmd", "jod", "jpy", "kes", "kgs", "khr", "kmf", "kpw",
	"krw", "kwd", "kyd", "kzt", "lak", "lbp", "lkr", "lrd", "lsl", "lyd", "mad", "mdl",
	"mga", "mkd", "mmk", "mnt", "mop", "mru", "mur", "mvr", "mwk", "mxn", "myr", "mzn",
	"nad", "ngn", "nio", "nok", "npr", "nzd", "omr", "pab", "pen", "pgk", "php", "pkr",
	"pln", "pyg", "qar", "ron", "rsd", "rub", "rwf", "sar", "sbd", "scr", "sdg", "sek",
	"sgd", "shp", "sle", "sll", "sos", "srd", "ssp", "stn", "svc", "syp", "szl", "thb",
	"tjs", "tmt", "tnd", "top", "try", "ttd", "twd", "tzs", "uah", "ugx", "usd", "uyu",
	"uzs", "ved", "ves", "vnd", "vuv", "wst", "xaf", "xcd", "xcg", "xof", "xpf", "yer",
	"zar", "zmw", "zwg", "zwl",
};

static int
currency_cmp(const void *a, const void *b)
{
	return strcmp(a, b);
}

bool
cms_currency_valid(const char *code)
{
	if (code == NULL || strlen(code) != 3)
		return false;
	return bsearch(code, currencies, sizeof(currencies) / sizeof(currencies[0]),
	    sizeof(currencies[0]), currency_cmp) != NULL;
}

/* [a-z0-9]+(-[a-z0-9]+)* of 1..max characters. */
static bool
slug_shape(const char *s, size_t max)
{
	size_t	i;

	if (s == NULL || *s == '\0' || *s == '-')
		return false;
	for (i = 0; s[i] != '\0'; i++) {
		if (i >= max)
			return false;
		if ((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9'))
			continue;
		if (s[i] != '-' || s[i + 1] == '-' || s[i + 1] == '\0')
			return false;
	}
	return true;
}

bool
cms_slug_valid(const char *s)
{
	return slug_shape(s, CMS_SLUG_MAX) && !valid_uuid(s);
}

bool
cms_tag_valid(const char *s)
{
	return slug_shape(s, CMS_TAG_MAX);
}

static bool
is_hex(char c)
{
	return isxdigit((unsigned char)c) != 0;
}

/* A DNS name or IPv4 address: labels of [A-Za-z0-9-] (1..63, no '-' at
 * either end) joined by single dots, at most 253 characters. */
static bool
host_ok(const char *s, size_t len)
{
	size_t	i, label = 0;

	if (len == 0 || len > 253)
		return false;
	for (i = 0; i < len; i++) {
		if (s[i] == '.') {
			if (label == 0 || s[i - 1] == '-')
				return false;
			label = 0;
			continue;
		}
		if (!isalnum((unsigned char)s[i]) && s[i] != '-')
			return false;
		if (s[i] == '-' && label == 0)
			return false;
		if (++label > 63)
			return false;
	}
	return label > 0 && s[len - 1] != '-';
}

bool
cms_url_valid(const char *s)
{
	const char	*auth, *end, *p;
	size_t		 hlen;
	long		 port;

	if (s == NULL)
		return false;
	if (strncasecmp(s, "http://", 7) == 0)
		auth = s + 7;
	else if (strncasecmp(s, "https://", 8) == 0)
		auth = s + 8;
	else
		return false;
	end = auth + strcspn(auth, "/?#");
	if (memchr(auth, '@', (size_t)(end - auth)) != NULL)
		return false;		/* no user information (RFC 3986 §3.2.1) */
	if (*auth == '[') {		/* an IPv6 literal (RFC 3986 §3.2.2) */
		for (p = auth + 1; p < end && (is_hex(*p) || *p == ':' || *p == '.'); p++)
			;
		if (p == auth + 1 || p >= end || *p != ']')
			return false;
		p++;
	} else {
		hlen = strcspn(auth, ":/?#");
		if (auth + hlen > end || !host_ok(auth, hlen))
			return false;
		p = auth + hlen;
	}
	if (p < end) {			/* a port */
		if (*p != ':' || end - p < 2 || end - p > 6)
			return false;
		port = 0;
		for (p++; p < end; p++) {
			if (!isdigit((unsigned char)*p))
				return false;
			port = port * 10 + (*p - '0');
		}
		if (port < 1 || port > 65535)
			return false;
	}
	/* Path, query and fragment: visible ASCII that need no escaping. */
	for (p = end; *p != '\0'; p++) {
		if (*p <= ' ' || *p >= 0x7f || strchr("\"<>\\^`{|}", *p) != NULL)
			return false;
		if (*p == '%' && (!is_hex(p[1]) || !is_hex(p[2])))
			return false;
	}
	return true;
}

/* n digits at s as a number, or -1. */
static int
digits(const char *s, int n)
{
	int	v = 0, i;

	for (i = 0; i < n; i++) {
		if (!isdigit((unsigned char)s[i]))
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	return v;
}

bool
cms_time_valid(const char *s)
{
	static const int mdays[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	int	y, mo, d, h, mi, sec, leap;

	/* date-time = full-date "T" full-time (RFC 3339 §5.6; t and z allowed, §5.6 NOTE) */
	if (s == NULL || strlen(s) < 20 || s[4] != '-' || s[7] != '-' ||
	    (s[10] != 'T' && s[10] != 't') || s[13] != ':' || s[16] != ':')
		return false;
	y = digits(s, 4);
	mo = digits(s + 5, 2);
	d = digits(s + 8, 2);
	h = digits(s + 11, 2);
	mi = digits(s + 14, 2);
	sec = digits(s + 17, 2);
	if (y < 1 || mo < 1 || mo > 12 || d < 1 || h < 0 || h > 23 || mi < 0 || mi > 59 ||
	    sec < 0 || sec > 59)
		return false;
	leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
	if (d > mdays[mo - 1] + (mo == 2 && leap))
		return false;
	s += 19;
	if (*s == '.') {
		if (!isdigit((unsigned char)s[1]))
			return false;
		for (s++; isdigit((unsigned char)*s); s++)
			;
	}
	if ((*s == 'Z' || *s == 'z') && s[1] == '\0')
		return true;
	if ((*s != '+' && *s != '-') || strlen(s) != 6 || s[3] != ':')
		return false;
	h = digits(s + 1, 2);
	mi = digits(s + 4, 2);
	return h >= 0 && h <= 23 && mi >= 0 && mi <= 59;
}

/* ---- slugs ------------------------------------------------------------------ */

/* The next code point of UTF-8 s (advancing *s), or -1 for a malformed byte
 * (skipped). */
static long
next_code_point(const unsigned char **s)
{
	const unsigned char *p = *s;
	long	 cp;
	int	 more, i;

	if (*p < 0x80) {
		*s = p + 1;
		return *p;
	}
	if ((*p & 0xe0) == 0xc0) {
		cp = *p & 0x1f;
		more = 1;
	} else if ((*p & 0xf0) == 0xe0) {
		cp = *p & 0x0f;
		more = 2;
	} else if ((*p & 0xf8) == 0xf0) {
		cp = *p & 0x07;
		more = 3;
	} else {
		*s = p + 1;
		return -1;
	}
	for (i = 1; i <= more; i++) {
		if ((p[i] & 0xc0) != 0x80) {
			*s = p + i;
			return -1;
		}
		cp = (cp << 6) | (p[i] & 0x3f);
	}
	*s = p + more + 1;
	return cp;
}

/* Non-ASCII code points that separate words like ASCII punctuation does
 * (spaces, punctuation, symbols, emoji); every other one is taken for a
 * letter or mark, and dropped. */
static bool
is_separator(long cp)
{
	static const struct { long lo, hi; } ranges[] = {
		{ 0x0080, 0x00bf },	/* C1 controls, no-break space, Latin-1 punctuation */
		{ 0x00d7, 0x00d7 },	/* × */
		{ 0x00f7, 0x00f7 },	/* ÷ */
		{ 0x2000, 0x2bff },	/* general punctuation ... miscellaneous symbols */
		{ 0x2e00, 0x2e7f },	/* supplemental punctuation */
		{ 0x3000, 0x303f },	/* CJK symbols and punctuation */
		{ 0xfe10, 0xfe1f },	/* vertical forms */
		{ 0xfe30, 0xfe6f },	/* CJK compatibility and small forms */
		{ 0xff00, 0xff0f },	/* fullwidth punctuation */
		{ 0xff1a, 0xff20 },
		{ 0xff3b, 0xff40 },
		{ 0xff5b, 0xff65 },
		{ 0x1f000, 0x1faff },	/* emoji and pictographs */
	};
	size_t	i;

	for (i = 0; i < sizeof(ranges) / sizeof(ranges[0]); i++)
		if (cp >= ranges[i].lo && cp <= ranges[i].hi)
			return true;
	return cp < 0;			/* a malformed byte separates too */
}

bool
cms_slugify(const char *title, char out[CMS_SLUG_MAX + 1])
{
	const unsigned char *s = (const unsigned char *)title;
	size_t	 o = 0;
	bool	 dash = false;		/* a separator since the last letter or digit */
	long	 cp;

	while (*s != '\0') {
		cp = next_code_point(&s);
		if ((cp >= 'a' && cp <= 'z') || (cp >= '0' && cp <= '9') ||
		    (cp >= 'A' && cp <= 'Z')) {
			/* The '-' goes in only with a character after it: none trails. */
			if (o + (dash && o > 0) + 1 > CMS_SLUG_MAX)
				break;
			if (dash && o > 0)
				out[o++] = '-';
			out[o++] = (char)(cp | 0x20);
			dash = false;
		} else if (cp < 0x80 || is_separator(cp))
			dash = true;
	}
	out[o] = '\0';
	return o > 0;
}

/* ---- validation ------------------------------------------------------------ */

/* Adds {field, code, msg} to *problem (created on the first) and counts it;
 * problem NULL: only a check, nothing is recorded. */
static void
field_error(json_t **problem, int *n, const char *field, const char *code, const char *msg)
{
	if (problem == NULL)
		return;
	if (*problem == NULL)
		*problem = problem_new(422, "validation_failed", NULL);
	problem_add_field(*problem, field, code, msg);
	(*n)++;
}

/* A string of bounded characters, valid UTF-8 with no control characters.
 * Adds at most one error. */
static bool
check_text(const struct cms_field *f, json_t *v, json_t **problem, int *n)
{
	const char	*s = json_string_value(v);
	size_t		 len = json_string_length(v);
	long		 chars;
	char		 msg[96];

	if (strlen(s) != len || (chars = utf8_length(s, len)) < 0) {
		field_error(problem, n, f->name, "invalid_encoding",
		    "must be valid UTF-8 without NUL");
		return false;
	}
	if (has_control_chars(s, len)) {
		field_error(problem, n, f->name, "invalid_format",
		    "must not contain control characters");
		return false;
	}
	if (chars < f->min || chars > f->max) {
		if (f->min == f->max)
			snprintf(msg, sizeof(msg), "must be %lld characters", f->min);
		else if (f->min == 0)
			snprintf(msg, sizeof(msg), "must be at most %lld characters", f->max);
		else
			snprintf(msg, sizeof(msg), "must be %lld to %lld characters", f->min,
			    f->max);
		field_error(problem, n, f->name, "invalid_length", msg);
		return false;
	}
	return true;
}

static const char *
kind_type(enum cms_kind k)
{
	switch (k) {
	case CMS_INT:		return "must be an integer";
	case CMS_BOOL:		return "must be a boolean";
	case CMS_TAGS:		return "must be an array of tags";
	case CMS_UUID:
	case CMS_USER:		return "must be a UUID";
	case CMS_TEXT:
	case CMS_URL:
	case CMS_CURRENCY:
	case CMS_TIME:
	case CMS_SLUG:		return "must be a string";
	}
	return "has the wrong type";
}

static void
check_tags(const struct cms_field *f, json_t *v, json_t **problem, int *n)
{
	char		 msg[128];
	const char	*t;
	size_t		 i, j;

	if (json_array_size(v) > (size_t)f->max) {
		snprintf(msg, sizeof(msg), "must have at most %lld tags", f->max);
		field_error(problem, n, f->name, "invalid_length", msg);
		return;
	}
	for (i = 0; i < json_array_size(v); i++) {
		t = json_string_value(json_array_get(v, i));
		if (t == NULL || !cms_tag_valid(t)) {
			snprintf(msg, sizeof(msg), "tag %zu must be 1 to %d lowercase letters, "
			    "digits and single hyphens", i + 1, CMS_TAG_MAX);
			field_error(problem, n, f->name, "invalid_format", msg);
			return;
		}
		for (j = 0; j < i; j++)
			if (strcmp(t, json_string_value(json_array_get(v, j))) == 0) {
				snprintf(msg, sizeof(msg), "tag %zu repeats tag %zu", i + 1, j + 1);
				field_error(problem, n, f->name, "invalid_value", msg);
				return;
			}
	}
}

/* Checks one present value; adds at most one error. */
static void
check_value(const struct cms_field *f, json_t *v, json_t **problem, int *n)
{
	char		 msg[96];
	json_int_t	 i;

	if (json_is_null(v)) {
		if (!f->is_nullable)
			field_error(problem, n, f->name, "invalid_type", kind_type(f->kind));
		return;
	}
	switch (f->kind) {
	case CMS_INT:
		if (!json_is_integer(v))
			break;
		i = json_integer_value(v);
		if (i < f->min || i > f->max) {
			snprintf(msg, sizeof(msg), "must be between %lld and %lld", f->min, f->max);
			field_error(problem, n, f->name, "out_of_range", msg);
		}
		return;
	case CMS_BOOL:
		if (!json_is_boolean(v))
			break;
		return;
	case CMS_TAGS:
		if (!json_is_array(v))
			break;
		check_tags(f, v, problem, n);
		return;
	case CMS_TEXT:
		if (!json_is_string(v))
			break;
		check_text(f, v, problem, n);
		return;
	case CMS_UUID:
	case CMS_USER:
		if (!json_is_string(v))
			break;
		if (!valid_uuid(json_string_value(v)))
			field_error(problem, n, f->name, "invalid_format", "not a UUID");
		return;
	case CMS_URL:
		if (!json_is_string(v))
			break;
		if (!check_text(f, v, problem, n))
			return;
		if (!cms_url_valid(json_string_value(v)))
			field_error(problem, n, f->name, "invalid_format",
			    "must be an absolute http:// or https:// URL");
		return;
	case CMS_CURRENCY:
		if (!json_is_string(v))
			break;
		if (!cms_currency_valid(json_string_value(v)))
			field_error(problem, n, f->name, "invalid_value",
			    "must be an active ISO 4217 currency code in lowercase, e.g. eur");
		return;
	case CMS_TIME:
		if (!json_is_string(v))
			break;
		if (!cms_time_valid(json_string_value(v)))
			field_error(problem, n, f->name, "invalid_format",
			    "must be an RFC 3339 date-time, e.g. 2026-01-31T12:00:00Z");
		return;
	case CMS_SLUG:
		if (!json_is_string(v))
			break;
		if (!cms_slug_valid(json_string_value(v)))
			field_error(problem, n, f->name, "invalid_format",
			    "must be 1 to 80 lowercase letters, digits and single hyphens, "
			    "and not a UUID");
		return;
	}
	field_error(problem, n, f->name, "invalid_type", kind_type(f->kind));
}

/* The field named name of r (its own or a common one), or NULL. */
static const struct cms_field *
field_of(const struct cms_resource *r, const char *name)
{
	const struct cms_field *f;

	for (f = r->fields; f->name != NULL; f++)
		if (strcmp(f->name, name) == 0)
			return f;
	for (f = common_fields; f->name != NULL; f++)
		if (strcmp(f->name, name) == 0)
			return f;
	return NULL;
}

static int
validate_list(const struct cms_field *f, json_t *body, bool is_create, json_t **problem)
{
	json_t	*v;
	int	 n = 0;

	for (; f->name != NULL; f++) {
		if ((v = json_object_get(body, f->name)) != NULL)
			check_value(f, v, problem, &n);
		else if (is_create && f->is_required)
			field_error(problem, &n, f->name, "required", "is required");
	}
	return n;
}

int
cms_validate(const struct cms_resource *r, json_t *body, bool is_create, json_t **problem)
{
	const struct cms_field *tf = field_of(r, r->title_field);
	const char	*key;
	char		 slug[CMS_SLUG_MAX + 1];
	json_t		*v, *title;
	int		 n;

	n = validate_list(r->fields, body, is_create, problem);
	n += validate_list(common_fields, body, is_create, problem);
	json_object_foreach(body, key, v) {
		if (field_of(r, key) == NULL)
			field_error(problem, &n, key, "unknown_field", "is not accepted here");
	}
	/* On create without a slug, a valid title must give one (an invalid
	 * title has been named already). */
	title = json_object_get(body, r->title_field);
	if (is_create && json_object_get(body, "slug") == NULL && json_is_string(title) &&
	    check_text(tf, title, NULL, NULL)) {
		if (!cms_slugify(json_string_value(title), slug))
			field_error(problem, &n, "slug", "required", "the title has no ASCII "
			    "letter or digit to make a slug of: send a slug");
		else if (!cms_slug_valid(slug))
			field_error(problem, &n, "slug", "required", "the slug made of the "
			    "title looks like a UUID: send a slug");
	}
	return n;
}

enum fb_err
cms_check_references(struct db *db, const struct cms_resource *r, json_t *body,
    json_t **problem, int *count)
{
	const struct cms_field *f;
	const char	*id;
	PGresult	*res;
	enum fb_err	 e;
	int		 rows;

	for (f = r->fields; f->name != NULL; f++) {
		if (f->kind != CMS_USER ||
		    (id = json_string_value(json_object_get(body, f->name))) == NULL ||
		    !valid_uuid(id))
			continue;
		e = db_query(db, &res, "SELECT 1 FROM users WHERE id = $1::uuid", 1,
		    (const char *const[]){ id });
		if (e != FB_OK)
			return e;
		rows = PQntuples(res);
		PQclear(res);
		if (rows == 0)
			field_error(problem, count, f->name, "invalid_value", "no such user");
	}
	return FB_OK;
}

void
cms_problem_detail(json_t *problem)
{
	char	detail[64];
	size_t	n = json_array_size(json_object_get(problem, "errors"));

	snprintf(detail, sizeof(detail), "%zu field%s invalid", n, n == 1 ? " is" : "s are");
	json_object_set_new(problem, "detail", json_string(detail));
}

static json_t *
default_of(const struct cms_resource *r, const struct cms_field *f, json_t *body,
    const char *actor_id)
{
	const char	*title = json_string_value(json_object_get(body, r->title_field));
	char		 slug[CMS_SLUG_MAX + 1];

	if (f->is_actor_default && actor_id != NULL)
		return json_string(actor_id);
	if (f->is_nullable)
		return json_null();
	switch (f->kind) {
	case CMS_TEXT:	return json_string("");
	case CMS_INT:	return json_integer(0);
	case CMS_BOOL:	return json_false();
	case CMS_TAGS:	return json_array();
	case CMS_SLUG:		/* cms_validate made sure there is one */
		cms_slugify(title != NULL ? title : "", slug);
		return json_string(slug);
	case CMS_UUID:
	case CMS_USER:
	case CMS_URL:
	case CMS_CURRENCY:
	case CMS_TIME:
		break;		/* required or nullable: never here */
	}
	return json_null();
}

json_t *
cms_row_for_create(const struct cms_resource *r, json_t *body, const char *actor_id)
{
	const struct cms_field *lists[2] = { r->fields, common_fields }, *f;
	json_t	*row, *v;
	size_t	 i;

	if ((row = json_object()) == NULL)
		return NULL;
	for (i = 0; i < 2; i++)
		for (f = lists[i]; f->name != NULL; f++) {
			v = json_object_get(body, f->name);
			if ((v != NULL ? json_object_set(row, f->name, v) :
			    json_object_set_new(row, f->name,
			    default_of(r, f, body, actor_id))) != 0) {
				json_decref(row);
				return NULL;
			}
		}
	return row;
}

/* ---- items ---------------------------------------------------------------- */

/* The i-th key of r's items in their order, or NULL past the last. */
static const char *
item_key(const struct cms_resource *r, size_t i)
{
	static const char *const head[] = { "id", "slug" };
	static const char *const tail[] = { "published", "published_at", "position", "tags",
	    "created_at", "updated_at" };
	size_t	n;

	if (i < 2)
		return head[i];
	i -= 2;
	for (n = 0; r->fields[n].name != NULL; n++)
		;
	if (i < n)
		return r->fields[i].name;
	i -= n;
	return i < sizeof(tail) / sizeof(tail[0]) ? tail[i] : NULL;
}

/* The item of CMS_ITEM's jsonb text, its keys in order. NULL on ENOMEM or a
 * text that is not an object (a bug). */
static json_t *
item_from_text(const struct cms_resource *r, const char *text)
{
	json_t		*raw, *item, *v;
	const char	*k;
	size_t		 i;

	if (text == NULL || (raw = json_loads(text, 0, NULL)) == NULL || !json_is_object(raw)) {
		log_msg(FBLOG_ERROR, "cms: %s: an item is not a JSON object", r->name);
		return NULL;
	}
	if ((item = json_object()) != NULL)
		for (i = 0; (k = item_key(r, i)) != NULL; i++) {
			v = json_object_get(raw, k);
			if (json_object_set(item, k, v != NULL ? v : json_null()) != 0) {
				json_decref(item);
				item = NULL;
				break;
			}
		}
	json_decref(raw);
	return item;
}

/* Runs a statement that returns at most one item (column "item"): *item, or
 * FB_ERR_NOTFOUND when it returned none. */
static enum fb_err
item_query(struct db *db, const struct cms_resource *r, const char *sql, int nparams,
    const char *const *params, json_t **item)
{
	PGresult	*res;
	enum fb_err	 e;

	*item = NULL;
	if ((e = db_query(db, &res, sql, nparams, params)) != FB_OK)
		return e;
	if (PQntuples(res) == 0)
		e = FB_ERR_NOTFOUND;
	else if ((*item = item_from_text(r, db_get(res, 0, "item"))) == NULL)
		e = FB_ERR_INTERNAL;
	PQclear(res);
	return e;
}

enum fb_err
cms_get(struct db *db, const struct cms_resource *r, const char *key, bool with_drafts,
    json_t **item)
{
	const char	*params[2] = { key, with_drafts ? "true" : "false" };

	*item = NULL;
	if (key != NULL && valid_uuid(key))
		return item_query(db, r, r->sql.get_by_id, 2, params, item);
	if (key != NULL && cms_slug_valid(key))
		return item_query(db, r, r->sql.get_by_slug, 2, params, item);
	return FB_ERR_NOTFOUND;
}

enum fb_err
cms_create(struct db *db, const struct cms_resource *r, json_t *row, json_t **item)
{
	char		*text;
	enum fb_err	 e;

	*item = NULL;
	if ((text = json_dumps(row, JSON_COMPACT)) == NULL)
		return FB_ERR_NOMEM;
	e = item_query(db, r, r->sql.insert, 1, (const char *const[]){ text }, item);
	free(text);
	return e;
}

enum fb_err
cms_update(struct db *db, const struct cms_resource *r, const char *id, json_t *patch,
    json_t **before, json_t **after)
{
	char		*text;
	enum fb_err	 e;

	*after = NULL;
	if ((e = item_query(db, r, r->sql.lock, 1, (const char *const[]){ id }, before)) != FB_OK)
		return e;
	if ((text = json_dumps(patch, JSON_COMPACT)) == NULL)
		e = FB_ERR_NOMEM;
	else
		e = item_query(db, r, r->sql.update, 2, (const char *const[]){ id, text }, after);
	free(text);
	if (e != FB_OK) {
		json_decref(*before);
		*before = NULL;
	}
	return e;
}

enum fb_err
cms_delete(struct db *db, const struct cms_resource *r, const char *id, json_t **before)
{
	return item_query(db, r, r->sql.remove, 1, (const char *const[]){ id }, before);
}

/* v as kept in an audit entry: a text cut at CMS_AUDIT_TEXT_MAX characters
 * with "…" after it; anything else as it is. A new reference. */
static json_t *
audit_value(json_t *v)
{
	const unsigned char *s;
	size_t	 i, len;
	char	*cut;
	json_t	*out;

	if (v == NULL)
		return json_null();
	if (!json_is_string(v) || utf8_length(json_string_value(v), json_string_length(v)) <=
	    CMS_AUDIT_TEXT_MAX)
		return json_incref(v);
	s = (const unsigned char *)json_string_value(v);
	for (i = 0, len = 0; i < CMS_AUDIT_TEXT_MAX; i++)	/* whole code points */
		for (len++; (s[len] & 0xc0) == 0x80; len++)
			;
	if ((cut = malloc(len + sizeof("…"))) == NULL)
		return NULL;
	memcpy(cut, s, len);
	memcpy(cut + len, "…", sizeof("…"));
	out = json_string(cut);
	free(cut);
	return out;
}

json_t *
cms_changes(const struct cms_resource *r, json_t *before, json_t *after)
{
	json_t		*changes, *a, *b;
	const char	*k;
	size_t		 i;

	if ((changes = json_object()) == NULL)
		return NULL;
	for (i = 0; (k = item_key(r, i)) != NULL; i++) {
		if (strcmp(k, "updated_at") == 0)
			continue;
		b = json_object_get(before, k);
		a = json_object_get(after, k);
		if (json_equal(a, b) || (a == NULL && b == NULL))
			continue;
		if (json_object_set_new(changes, k, json_pack("{s:o,s:o}", "from", audit_value(b),
		    "to", audit_value(a))) != 0) {
			json_decref(changes);
			return NULL;
		}
	}
	return changes;
}

json_t *
cms_audit_fields(const struct cms_resource *r, json_t *item)
{
	json_t		*out;
	const char	*k;
	size_t		 i;

	if ((out = json_object()) == NULL)
		return NULL;
	for (i = 0; (k = item_key(r, i)) != NULL; i++) {
		if (strcmp(k, "id") == 0 || strcmp(k, "created_at") == 0 ||
		    strcmp(k, "updated_at") == 0)
			continue;
		if (json_object_set_new(out, k, audit_value(json_object_get(item, k))) != 0) {
			json_decref(out);
			return NULL;
		}
	}
	return out;
}

/* ---- lists ------------------------------------------------------------------ */

/* The order's letter at the start of its cursors' first part. */
static char
order_tag(enum cms_order o)
{
	switch (o) {
	case CMS_ORDER_POSITION:	return 'p';
	case CMS_ORDER_NEWEST:		return 'n';
	case CMS_ORDER_RANK:		return 'r';
	}
	return '?';
}

/* Splits a cursor of order tag into its key text (after "<tag> ") and id. */
static bool
cursor_parts(const char *cursor, char tag, char a[CURSOR_PART_MAX + 1],
    char id[CURSOR_PART_MAX + 1], char **key)
{
	if (cursor_decode(cursor, a, id) != FB_OK || !valid_uuid(id) || a[0] != tag ||
	    a[1] != ' ' || a[2] == '\0')
		return false;
	*key = a + 2;
	return true;
}

enum fb_err
cms_list(struct db *db, const struct cms_resource *r, const struct cms_list_query *q,
    json_t **data, char **next)
{
	char		 a[CURSOR_PART_MAX + 1], id[CURSOR_PART_MAX + 1], lim[16];
	char		 k[2 * CURSOR_PART_MAX], *key = NULL, *at = NULL, *end;
	const char	*params[7], *sql;
	PGresult	*res;
	json_t		*item;
	enum fb_err	 e = FB_OK;
	long		 pos;
	int		 i, n, np;

	*data = NULL;
	*next = NULL;
	if (q->order == CMS_ORDER_RANK && q->q == NULL)
		return FB_ERR_INVALID;
	if (q->after != NULL) {
		if (!cursor_parts(q->after, order_tag(q->order), a, id, &key))
			return FB_ERR_INVALID;
		if (q->order == CMS_ORDER_POSITION) {
			/* "p <position> <sort_at>" */
			if ((at = strchr(key, ' ')) == NULL)
				return FB_ERR_INVALID;
			*at++ = '\0';
			pos = strtol(key, &end, 10);
			if (end == key || *end != '\0' || pos < -1000000 || pos > 1000000)
				return FB_ERR_INVALID;
		}
	}
	snprintf(lim, sizeof(lim), "%d", q->limit + 1);
	params[0] = q->with_drafts ? "true" : "false";
	params[1] = q->tag;
	params[2] = q->q;
	switch (q->order) {
	case CMS_ORDER_POSITION:
		params[3] = key;
		params[4] = at;
		params[5] = key != NULL ? id : NULL;
		params[6] = lim;
		sql = r->sql.list_position;
		np = 7;
		break;
	case CMS_ORDER_NEWEST:
	case CMS_ORDER_RANK:
	default:
		params[3] = key;
		params[4] = key != NULL ? id : NULL;
		params[5] = lim;
		sql = q->order == CMS_ORDER_NEWEST ? r->sql.list_newest : r->sql.list_rank;
		np = 6;
		break;
	}
	if ((e = db_query(db, &res, sql, np, params)) != FB_OK)
		return e;
	n = PQntuples(res);
	if ((*data = json_array()) == NULL) {
		e = FB_ERR_NOMEM;
		goto out;
	}
	for (i = 0; i < n && i < q->limit; i++) {
		if ((item = item_from_text(r, db_get(res, i, "item"))) == NULL ||
		    json_array_append_new(*data, item) != 0) {
			e = FB_ERR_INTERNAL;
			goto out;
		}
	}
	if (n > q->limit) {
		i = q->limit - 1;
		if (q->order == CMS_ORDER_POSITION)
			snprintf(k, sizeof(k), "p %s %s", db_get(res, i, "k_pos"),
			    db_get(res, i, "k_at"));
		else if (q->order == CMS_ORDER_NEWEST)
			snprintf(k, sizeof(k), "n %s", db_get(res, i, "k_at"));
		else
			snprintf(k, sizeof(k), "r %s", db_get(res, i, "k_rank"));
		if ((*next = cursor_encode(k, db_get(res, i, "k_id"))) == NULL)
			e = FB_ERR_NOMEM;
	}
out:
	PQclear(res);
	if (e != FB_OK) {
		json_decref(*data);
		*data = NULL;
		free(*next);
		*next = NULL;
	}
	return e;
}

enum fb_err
cms_search(struct db *db, const char *q, const char *after, int limit, json_t **data,
    char **next)
{
	char		 a[CURSOR_PART_MAX + 1], id[CURSOR_PART_MAX + 1], lim[16];
	char		 k[CURSOR_PART_MAX + 1], *key = NULL;
	const char	*params[4];
	PGresult	*res;
	json_t		*hit;
	enum fb_err	 e = FB_OK;
	int		 i, n;

	*data = NULL;
	*next = NULL;
	if (q == NULL || (after != NULL && !cursor_parts(after, 's', a, id, &key)))
		return FB_ERR_INVALID;
	snprintf(lim, sizeof(lim), "%d", limit + 1);
	params[0] = q;
	params[1] = key;
	params[2] = key != NULL ? id : NULL;
	params[3] = lim;
	if ((e = db_query(db, &res, search_sql, 4, params)) != FB_OK)
		return e;
	n = PQntuples(res);
	if ((*data = json_array()) == NULL) {
		e = FB_ERR_NOMEM;
		goto out;
	}
	for (i = 0; i < n && i < limit; i++) {
		hit = json_pack("{s:s,s:s,s:s,s:s,s:s,s:f}", "type", db_get(res, i, "type"),
		    "id", db_get(res, i, "id"), "slug", db_get(res, i, "slug"),
		    "title", db_get(res, i, "title"), "snippet", db_get(res, i, "snippet"),
		    "rank", strtod(db_get(res, i, "k_rank"), NULL));
		if (hit == NULL || json_array_append_new(*data, hit) != 0) {
			e = FB_ERR_NOMEM;
			goto out;
		}
	}
	if (n > limit) {
		snprintf(k, sizeof(k), "s %s", db_get(res, limit - 1, "k_rank"));
		if ((*next = cursor_encode(k, db_get(res, limit - 1, "id"))) == NULL)
			e = FB_ERR_NOMEM;
	}
out:
	PQclear(res);
	if (e != FB_OK) {
		json_decref(*data);
		*data = NULL;
		free(*next);
		*next = NULL;
	}
	return e;
}

enum fb_err
cms_version(struct db *db, long long *version)
{
	PGresult	*res;
	enum fb_err	 e;

	*version = -1;
	if ((e = db_query(db, &res, "SELECT version FROM cms_version", 0, NULL)) != FB_OK)
		return e;
	if (PQntuples(res) == 1)
		*version = strtoll(db_get(res, 0, "version"), NULL, 10);
	PQclear(res);
	return *version >= 0 ? FB_OK : FB_ERR_INTERNAL;
}
