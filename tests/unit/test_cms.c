/*
 * test_cms — the database-free parts of shared/cms.c: slugs made of titles,
 * the slug, tag, currency, URL and RFC 3339 checks, the validation of create
 * and patch bodies (every bad field in one problem), the defaults of a
 * created row, audit changes with cut texts, and that each resource's SQL
 * names every one of its fields.
 */
#include <string.h>

#include <jansson.h>

#include "cms.h"
#include "tap.h"

static const struct cms_resource *
res(const char *name)
{
	return cms_resource(name, strlen(name));
}

static void
slug_is(const char *title, const char *want)
{
	char	out[CMS_SLUG_MAX + 1];
	bool	made = cms_slugify(title, out);

	if (*want == '\0')
		ok(!made && *out == '\0', "slugify(\"%s\") gives nothing", title);
	else
		is_str(made ? out : NULL, want, "slugify(\"%s\")", title);
}

static void
test_slugify(void)
{
	char	long_title[300], want[CMS_SLUG_MAX + 1];
	size_t	i;

	slug_is("Hello World", "hello-world");
	slug_is("  Hello,   World!  ", "hello-world");
	slug_is("C++ & Rust: 2026 edition", "c-rust-2026-edition");
	slug_is("already-a-slug", "already-a-slug");
	slug_is("--dashes--everywhere--", "dashes-everywhere");
	slug_is("Caf\xc3\xa9 Cr\xc3\xa8me", "caf-crme");		/* letters dropped */
	slug_is("\xc3\x9c" "ber uns", "ber-uns");
	slug_is("Hello \xe2\x80\x94 World", "hello-world");		/* em dash separates */
	slug_is("Tea\xc2\xa0Time", "tea-time");			/* no-break space */
	slug_is("I \xe2\x9d\xa4\xef\xb8\x8f C", "i-c");		/* emoji separates */
	slug_is("5\xc3\x97" "5 grid", "5-5-grid");			/* × separates */
	slug_is("\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e", "");	/* no ASCII at all */
	slug_is("!!! ???", "");
	slug_is("", "");
	slug_is("a\xff" "b", "a-b");				/* a malformed byte separates */

	/* Cut at 80 characters, never on a trailing '-'. */
	memset(long_title, 'a', 79);
	strcpy(long_title + 79, " bcd");
	slug_is(long_title, (memset(want, 'a', 79), want[79] = '\0', want));
	for (i = 0; i < 100; i++)
		long_title[i] = (char)('a' + i % 26);
	long_title[100] = '\0';
	memcpy(want, long_title, 80);
	want[80] = '\0';
	slug_is(long_title, want);
}

static void
test_single_checks(void)
{
	char	s[100];

	ok(cms_slug_valid("hello-world"), "slug hello-world");
	ok(cms_slug_valid("a"), "slug a");
	ok(cms_slug_valid("2026"), "slug of digits");
	ok(!cms_slug_valid(""), "empty slug");
	ok(!cms_slug_valid("Hello"), "uppercase slug");
	ok(!cms_slug_valid("-a"), "leading hyphen");
	ok(!cms_slug_valid("a-"), "trailing hyphen");
	ok(!cms_slug_valid("a--b"), "double hyphen");
	ok(!cms_slug_valid("a_b"), "underscore");
	ok(!cms_slug_valid("0b1f9d2e-1111-4a2b-8c3d-123456789abc"), "UUID-shaped slug");
	memset(s, 'a', 80);
	s[80] = '\0';
	ok(cms_slug_valid(s), "80 characters");
	s[80] = 'a';
	s[81] = '\0';
	ok(!cms_slug_valid(s), "81 characters");
	ok(cms_tag_valid("web-design"), "tag");
	ok(!cms_tag_valid("Web Design"), "tag with a space and capitals");
	memset(s, 'a', 41);
	s[41] = '\0';
	ok(!cms_tag_valid(s), "41-character tag");

	ok(cms_currency_valid("eur"), "eur");
	ok(cms_currency_valid("usd") && cms_currency_valid("jpy") && cms_currency_valid("aed") &&
	    cms_currency_valid("zwl"), "usd, jpy, the first and the last");
	ok(!cms_currency_valid("EUR"), "uppercase EUR");
	ok(!cms_currency_valid("xxx") && !cms_currency_valid("xau") && !cms_currency_valid("xts"),
	    "no-currency, gold and testing codes");
	ok(!cms_currency_valid("hrk"), "the withdrawn kuna");
	ok(!cms_currency_valid("abc") && !cms_currency_valid("eu") && !cms_currency_valid("euro"),
	    "made-up and wrong-length codes");

	ok(cms_url_valid("https://example.com"), "https host");
	ok(cms_url_valid("http://example.com:8080/a/b?c=d&e=%20f#frag"),
	    "port, path, query, fragment");
	ok(cms_url_valid("HTTPS://Example.COM/"), "scheme and host in capitals");
	ok(cms_url_valid("https://[2001:db8::1]:443/x"), "IPv6 literal");
	ok(cms_url_valid("http://127.0.0.1/"), "IPv4");
	ok(!cms_url_valid("ftp://example.com"), "ftp");
	ok(!cms_url_valid("javascript:alert(1)"), "javascript:");
	ok(!cms_url_valid("//example.com"), "scheme-relative");
	ok(!cms_url_valid("https://"), "no host");
	ok(!cms_url_valid("https://user:pw@example.com/"), "user information");
	ok(!cms_url_valid("https://exa mple.com/"), "space in the host");
	ok(!cms_url_valid("https://example.com/a b"), "space in the path");
	ok(!cms_url_valid("https://example.com/<script>"), "angle brackets");
	ok(!cms_url_valid("https://example.com:0/"), "port 0");
	ok(!cms_url_valid("https://example.com:65536/"), "port 65536");
	ok(!cms_url_valid("https://example.com:/"), "empty port");
	ok(!cms_url_valid("https://-example.com/"), "label starting with '-'");
	ok(!cms_url_valid("https://example..com/"), "empty label");
	ok(!cms_url_valid("https://example.com/%zz"), "bad escape");
	ok(!cms_url_valid("https://ex\xc3\xa4mple.com/"), "non-ASCII host");

	ok(cms_time_valid("2026-01-31T12:00:00Z"), "UTC time");
	ok(cms_time_valid("2026-01-31t12:00:00z"), "lowercase t and z");
	ok(cms_time_valid("2026-01-31T12:00:00.123456+02:00"), "fraction and offset");
	ok(cms_time_valid("2024-02-29T00:00:00-05:30"), "leap day");
	ok(!cms_time_valid("2025-02-29T00:00:00Z"), "no leap day in 2025");
	ok(!cms_time_valid("1900-02-29T00:00:00Z"), "no leap day in 1900");
	ok(!cms_time_valid("2026-04-31T00:00:00Z"), "April 31");
	ok(!cms_time_valid("2026-13-01T00:00:00Z"), "month 13");
	ok(!cms_time_valid("2026-01-31 12:00:00Z"), "space for T");
	ok(!cms_time_valid("2026-01-31T24:00:00Z"), "hour 24");
	ok(!cms_time_valid("2026-01-31T12:00:00"), "no offset");
	ok(!cms_time_valid("2026-01-31T12:00:00.Z"), "empty fraction");
	ok(!cms_time_valid("2026-01-31T12:00:00+0200"), "offset without colon");
	ok(!cms_time_valid("2026-01-31"), "a date only");
	ok(!cms_time_valid("tomorrow"), "words");
}

/* The field names of a problem's errors, space-separated, in order. */
static const char *
fields_of(json_t *p)
{
	static char	 out[512];
	json_t		*e;
	size_t		 i;

	out[0] = '\0';
	json_array_foreach(json_object_get(p, "errors"), i, e) {
		if (i > 0)
			strcat(out, " ");
		strncat(out, json_string_value(json_object_get(e, "field")),
		    sizeof(out) - strlen(out) - 2);
	}
	return out;
}

static void
test_validate(void)
{
	const struct cms_resource *svc = res("services"), *prj = res("projects"),
	    *blog = res("blog-posts"), *tst = res("testimonials");
	json_t	*body, *p = NULL;

	ok(svc && prj && blog && tst && res("blog_posts") == NULL && res("nope") == NULL,
	    "the four resources by name");

	body = json_pack("{s:s,s:i,s:s}", "name", "Audit", "price_cents", 5000, "currency", "eur");
	is_int(cms_validate(svc, body, true, &p), 0, "a minimal service is valid");
	ok(p == NULL, "and makes no problem");
	json_decref(body);

	/* Every bad field at once, type and format errors together. */
	body = json_pack("{s:s,s:i,s:s,s:i,s:s,s:[s,s],s:i,s:s}", "name", "", "price_cents", -1,
	    "currency", "EUR", "duration_minutes", 0, "published_at", "yesterday",
	    "tags", "ok", "Not Ok", "position", 2000000, "colour", "red");
	is_int(cms_validate(svc, body, true, &p), 8, "eight bad fields");
	is_str(fields_of(p), "name price_cents currency duration_minutes published_at position "
	    "tags colour", "each named once");
	is_int(json_integer_value(json_object_get(p, "status")), 422, "422");
	cms_problem_detail(p);
	is_str(json_string_value(json_object_get(p, "detail")), "8 fields are invalid", "detail");
	json_decref(p);
	p = NULL;
	json_decref(body);

	body = json_pack("{s:s,s:s,s:s,s:n}", "title", "A project", "url", "ftp://x.org",
	    "cover_file_id", "nope", "slug", NULL);
	is_int(cms_validate(prj, body, true, &p), 3, "project: url, cover_file_id, slug null");
	is_str(fields_of(p), "url cover_file_id slug", "named");
	json_decref(p);
	p = NULL;
	json_decref(body);

	body = json_object();
	is_int(cms_validate(tst, body, true, &p), 3, "an empty testimonial lacks three fields");
	is_str(fields_of(p), "author_name quote rating", "the required ones");
	json_decref(p);
	p = NULL;
	is_int(cms_validate(tst, body, false, &p), 0, "an empty patch is valid");
	json_decref(body);

	body = json_pack("{s:i,s:s,s:b}", "rating", 6, "quote", "Great", "published", 1);
	is_int(cms_validate(tst, body, false, &p), 1, "patch: rating 6");
	is_str(fields_of(p), "rating", "named");
	json_decref(p);
	p = NULL;
	json_decref(body);

	body = json_pack("{s:n,s:n,s:n}", "url", "cover_file_id", "published_at");
	is_int(cms_validate(prj, body, false, &p), 0, "nullable fields take null");
	json_decref(body);
	body = json_pack("{s:n,s:n}", "title", "position");
	is_int(cms_validate(prj, body, false, &p), 2, "others do not");
	json_decref(p);
	p = NULL;
	json_decref(body);

	body = json_pack("{s:s}", "title", "\xe6\x97\xa5\xe6\x9c\xac");
	is_int(cms_validate(blog, body, true, &p), 1, "a title without ASCII and no slug");
	is_str(fields_of(p), "slug", "names slug");
	json_decref(p);
	p = NULL;
	json_object_set_new(body, "slug", json_string("nihon"));
	is_int(cms_validate(blog, body, true, &p), 0, "with a slug it is fine");
	json_decref(body);

	body = json_pack("{s:s,s:s,s:s}", "title", "x", "id", "1", "created_at", "now");
	is_int(cms_validate(blog, body, true, &p), 2, "read-only fields are refused");
	is_str(fields_of(p), "id created_at", "named");
	json_decref(p);
	p = NULL;
	json_decref(body);

	body = json_pack("{s:s,s:[s,s]}", "title", "x", "tags", "a", "a");
	is_int(cms_validate(blog, body, true, &p), 1, "a repeated tag");
	json_decref(p);
	p = NULL;
	json_decref(body);

	body = json_pack("{s:s,s:s}", "title", "x", "body", "a\001b");
	is_int(cms_validate(blog, body, true, &p), 1, "a control character");
	json_decref(p);
	p = NULL;
	json_decref(body);
}

static void
test_row(void)
{
	const struct cms_resource *blog = res("blog-posts"), *svc = res("services");
	json_t	*body, *row;
	char	*text;

	body = json_pack("{s:s,s:b}", "title", "Hello, World", "published", 1);
	row = cms_row_for_create(blog, body, "0b1f9d2e-1111-4a2b-8c3d-123456789abc");
	text = json_dumps(row, JSON_COMPACT | JSON_SORT_KEYS);
	is_str(text, "{\"author_id\":\"0b1f9d2e-1111-4a2b-8c3d-123456789abc\",\"body\":\"\","
	    "\"cover_file_id\":null,\"excerpt\":\"\",\"position\":0,\"published\":true,"
	    "\"published_at\":null,\"slug\":\"hello-world\",\"tags\":[],"
	    "\"title\":\"Hello, World\"}",
	    "defaults, the slug of the title, the admin as author");
	free(text);
	json_decref(row);
	json_decref(body);

	body = json_pack("{s:s,s:s,s:i,s:s}", "name", "X", "slug", "mine", "price_cents", 1,
	    "currency", "usd");
	row = cms_row_for_create(svc, body, NULL);
	is_str(json_string_value(json_object_get(row, "slug")), "mine", "a sent slug is kept");
	ok(json_is_null(json_object_get(row, "duration_minutes")), "duration null");
	json_decref(row);
	json_decref(body);
}

static void
test_changes(void)
{
	const struct cms_resource *tst = res("testimonials");
	json_t		*a, *b, *c, *f;
	char		 longq[700];
	const char	*cut;
	size_t		 i;

	for (i = 0; i < 300; i++)
		memcpy(longq + 2 * i, "\xc3\xa9", 2);		/* 300 é */
	longq[600] = '\0';
	b = json_pack("{s:s,s:s,s:s,s:s,s:i,s:b,s:s}", "id", "x", "slug", "s", "author_name", "Ann",
	    "quote", "short", "rating", 4, "published", 0, "updated_at", "t1");
	a = json_pack("{s:s,s:s,s:s,s:s,s:i,s:b,s:s}", "id", "x", "slug", "s", "author_name", "Ann",
	    "quote", longq, "rating", 5, "published", 0, "updated_at", "t2");
	c = cms_changes(tst, b, a);
	is_int(json_object_size(c), 2, "two fields changed (updated_at aside)");
	is_int(json_integer_value(json_object_get(json_object_get(c, "rating"), "to")), 5,
	    "rating to 5");
	cut = json_string_value(json_object_get(json_object_get(c, "quote"), "to"));
	ok(cut != NULL && strlen(cut) == 2 * CMS_AUDIT_TEXT_MAX + strlen("\xe2\x80\xa6") &&
	    strcmp(cut + 2 * CMS_AUDIT_TEXT_MAX, "\xe2\x80\xa6") == 0,
	    "a long text is cut at 200 characters, on a character boundary, with an ellipsis");
	json_decref(c);
	c = cms_changes(tst, a, a);
	is_int(json_object_size(c), 0, "no change, no entry");
	json_decref(c);
	f = cms_audit_fields(tst, a);
	ok(json_object_get(f, "id") == NULL && json_object_get(f, "updated_at") == NULL &&
	    json_object_get(f, "quote") != NULL, "audit fields: no id or times");
	json_decref(f);
	json_decref(a);
	json_decref(b);
}

/* Each field of the descriptor is a column of the resource's SQL. */
static void
test_sql_columns(void)
{
	const struct cms_resource *const *r;
	const struct cms_field *f;
	char	 word[64];
	bool	 all;

	for (r = cms_resources; *r != NULL; r++) {
		all = true;
		for (f = (*r)->fields; f->name != NULL; f++) {
			snprintf(word, sizeof(word), " %s,", f->name);
			if (strstr((*r)->sql.insert, word) == NULL) {
				snprintf(word, sizeof(word), " %s)", f->name);
				if (strstr((*r)->sql.insert, word) == NULL) {
					diag("%s: %s is not in the SQL", (*r)->name, f->name);
					all = false;
				}
			}
		}
		ok(all, "%s: every field is a column of its insert and update", (*r)->name);
		ok(strstr((*r)->sql.update, (*r)->table) != NULL, "%s: table %s", (*r)->name,
		    (*r)->table);
	}
}

int
main(void)
{
	test_slugify();
	test_single_checks();
	test_validate();
	test_row();
	test_changes();
	test_sql_columns();
	return done_testing();
}
