/*
 * test_validate — UTF-8 (RFC 3629), control characters, email and UUID
 * checks, and validate_object(): required, types, bounds, unknown fields,
 * every error collected into one 422 problem.
 */
#include <string.h>

#include <jansson.h>

#include "tap.h"
#include "validate.h"

#define U8(s)	utf8_length((s), sizeof(s) - 1)

static void
test_utf8_good(void)
{
	is_int(U8(""), 0, "empty string: 0 code points");
	is_int(U8("abc"), 3, "ASCII");
	is_int(U8("a\0b"), 3, "NUL is a valid code point when counted by length");
	is_int(U8("\x7f"), 1, "U+007F, the last 1-byte form");
	is_int(U8("\xc2\x80"), 1, "U+0080, the first 2-byte form");
	is_int(U8("\xc3\xa9t\xc3\xa9"), 3, "été");
	is_int(U8("\xdf\xbf"), 1, "U+07FF, the last 2-byte form");
	is_int(U8("\xe0\xa0\x80"), 1, "U+0800, the first 3-byte form");
	is_int(U8("\xe2\x82\xac"), 1, "U+20AC euro sign");
	is_int(U8("\xed\x9f\xbf"), 1, "U+D7FF, just below the surrogates");
	is_int(U8("\xee\x80\x80"), 1, "U+E000, just above the surrogates");
	is_int(U8("\xef\xbf\xbf"), 1, "U+FFFF");
	is_int(U8("\xf0\x90\x80\x80"), 1, "U+10000, the first 4-byte form");
	is_int(U8("\xf0\x9f\x98\x80"), 1, "U+1F600 emoji");
	is_int(U8("\xf4\x8f\xbf\xbf"), 1, "U+10FFFF, the last code point");
	is_int(U8("a\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80z"), 5, "mixed widths");
	is_int(utf8_length("\xc3\xa9xyz", 2), 1, "only len bytes are read");
}

static void
test_utf8_bad(void)
{
	static const struct {
		const char	*s;
		const char	*why;
	} bad[] = {
		{ "\x80",		"a lone continuation byte" },
		{ "a\xbf",		"a continuation byte after ASCII" },
		{ "\xc0\x80",		"overlong NUL (C0 80)" },
		{ "\xc1\xbf",		"overlong U+007F (C1 BF)" },
		{ "\xe0\x80\x80",	"overlong 3-byte NUL" },
		{ "\xe0\x9f\xbf",	"overlong U+07FF in 3 bytes" },
		{ "\xf0\x80\x80\x80",	"overlong 4-byte NUL" },
		{ "\xf0\x8f\xbf\xbf",	"overlong U+FFFF in 4 bytes" },
		{ "\xed\xa0\x80",	"surrogate U+D800" },
		{ "\xed\xbf\xbf",	"surrogate U+DFFF" },
		{ "\xed\xa0\xbd\xed\xb8\x80", "CESU-8 surrogate pair" },
		{ "\xf4\x90\x80\x80",	"U+110000, past U+10FFFF" },
		{ "\xf5\x80\x80\x80",	"lead byte F5" },
		{ "\xf7\xbf\xbf\xbf",	"lead byte F7" },
		{ "\xf8\x88\x80\x80\x80", "5-byte form" },
		{ "\xfc\x84\x80\x80\x80\x80", "6-byte form" },
		{ "\xfe",		"FE" },
		{ "\xff",		"FF" },
		{ "\xc3",		"truncated 2-byte sequence" },
		{ "\xe2\x82",		"truncated 3-byte sequence" },
		{ "\xf0\x9f\x98",	"truncated 4-byte sequence" },
		{ "ab\xf0",		"a lead byte at the end" },
		{ "\xc3(",		"bad continuation (C3 28)" },
		{ "\xe2(\xa1",		"bad first continuation of 3" },
		{ "\xe2\x82(",		"bad second continuation of 3" },
		{ "\xf0\x9f\x98(",	"bad last continuation of 4" },
		{ "\xc3\xc3\xa9",	"a lead byte where a continuation belongs" },
	};
	size_t	i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		is_int(utf8_length(bad[i].s, strlen(bad[i].s)), -1, "invalid: %s", bad[i].why);
	is_int(utf8_length("\xc3\xa9", 1), -1, "a sequence cut by len");
}

static void
test_control(void)
{
	ok(!has_control_chars("", 0), "empty: none");
	ok(!has_control_chars("plain text", 10), "plain text: none");
	ok(!has_control_chars("a\tb\nc\r", 6), "tab, newline, CR are allowed");
	ok(!has_control_chars("\xc3\xa9\xc2\x85", 4), "bytes >= 0x80 are not C0 controls");
	ok(has_control_chars("a\0b", 3), "NUL");
	ok(has_control_chars("\x01", 1), "SOH");
	ok(has_control_chars("x\x1b[31m", 6), "ESC");
	ok(has_control_chars("\x1f", 1), "US (0x1F)");
	ok(has_control_chars("\x7f", 1), "DEL");
	ok(has_control_chars("\x0b", 1), "vertical tab");
	ok(has_control_chars("\x0c", 1), "form feed");
	ok(!has_control_chars("ab\x01", 2), "only len bytes are read");
	ok(!has_control_chars(" ~", 2), "space and tilde are printable");
}

static void
test_email(void)
{
	static const char *const good[] = {
		"a@b.co", "first.last+tag@example.com", "x@sub.domain.org",
		"user_name-1@x.io", "\xc3\xa9t\xc3\xa9@example.com", "a@b.c",
	};
	static const char *const bad[] = {
		"", "a", "@", "a@", "@b.co", "ab.co", "a@b", "a@@b.co", "a@b@c.co",
		"a b@c.co", "a@b .co", "a@.b.co", "a@b.co.", "a@b..co", "<a>@b.co",
		"a@b.co>", "a,b@c.co", "a;b@c.co", "a:b@c.co", "\"a\"@b.co",
		"a\\b@c.co", "a@[1.2.3.4]", "a(b)@c.co", "a\t@b.co", "a\n@b.co",
		"a\x7f@b.co",
	};
	char	 local65[80], long255[300];
	size_t	 i;

	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		ok(valid_email(good[i]), "valid email: %s", good[i]);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ok(!valid_email(bad[i]), "invalid email #%zu", i);

	memset(local65, 'a', 64);
	strcpy(local65 + 64, "@b.co");
	ok(valid_email(local65), "a local part of 64 bytes");
	memset(local65, 'a', 65);
	strcpy(local65 + 65, "@b.co");
	ok(!valid_email(local65), "a local part of 65 bytes");
	/* 254 bytes total is the limit (RFC 5321 §4.5.3.1 path minus <>). */
	strcpy(long255, "a@");
	memset(long255 + 2, 'b', 248);
	strcpy(long255 + 250, ".com");
	is_int(strlen(long255), 254, "254-byte address built");
	ok(valid_email(long255), "a 254-byte address");
	memmove(long255 + 3, long255 + 2, 253);
	long255[2] = 'b';
	is_int(strlen(long255), 255, "255-byte address built");
	ok(!valid_email(long255), "a 255-byte address");
}

static void
test_uuid(void)
{
	static const char *const good[] = {
		"123e4567-e89b-12d3-a456-426614174000",
		"00000000-0000-0000-0000-000000000000",
		"FFFFFFFF-FFFF-FFFF-FFFF-FFFFFFFFFFFF",
		"0f8fad5b-d9cb-469f-a165-70867728950e",
	};
	static const char *const bad[] = {
		"",
		"123e4567-e89b-12d3-a456-42661417400",		/* 35 */
		"123e4567-e89b-12d3-a456-4266141740000",	/* 37 */
		"123e4567e89b12d3a456426614174000",		/* no hyphens */
		"123e4567-e89b-12d3-a456_426614174000",
		"123e456-7e89b-12d3-a456-426614174000",		/* misplaced */
		"g23e4567-e89b-12d3-a456-426614174000",
		"{123e4567-e89b-12d3-a456-426614174000}",
		" 123e4567-e89b-12d3-a456-426614174000",
		"123e4567-e89b-12d3-a456-426614174000 ",
		"123e4567-e89b-12d3-a456-42661417400\xc3\xa9",
		"--------------------------------------",
	};
	size_t	i;

	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		ok(valid_uuid(good[i]), "valid uuid: %s", good[i]);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ok(!valid_uuid(bad[i]), "invalid uuid #%zu", i);
}

/* The fields every validate_object test uses. */
static const struct field fields[] = {
	{ "name",	FIELD_STRING,	true,	1, 10 },
	{ "email",	FIELD_EMAIL,	true,	0, 0 },
	{ "age",	FIELD_INT,	false,	0, 150 },
	{ "admin",	FIELD_BOOL,	false,	0, 0 },
	{ "id",		FIELD_UUID,	false,	0, 0 },
	{ "tags",	FIELD_ARRAY,	false,	1, 3 },
	{ "meta",	FIELD_OBJECT,	false,	0, 0 },
	{ "extra",	FIELD_ANY,	false,	0, 0 },
	{ "code",	FIELD_STRING,	false,	6, 6 },
	{ "note",	FIELD_STRING,	false,	0, 0 },
	FIELD_END
};

/* Runs validate_object on the JSON text; returns the error count and the
 * problem (caller decrefs). */
static int
check(const char *text, json_t **problem)
{
	json_error_t	 err;
	json_t		*body;
	int		 n;

	*problem = NULL;
	if ((body = json_loads(text, 0, &err)) == NULL) {
		diag("test JSON does not parse: %s: %s", text, err.text);
		return -1;
	}
	n = validate_object(body, fields, problem);
	json_decref(body);
	return n;
}

/* The code of the error about field (or NULL). */
static const char *
error_code(json_t *problem, const char *field)
{
	json_t	*e;
	size_t	 i;

	json_array_foreach(json_object_get(problem, "errors"), i, e)
		if (strcmp(json_string_value(json_object_get(e, "field")), field) == 0)
			return json_string_value(json_object_get(e, "code"));
	return NULL;
}

/* Expects exactly one error, on field, with code. */
static void
one_error(const char *text, const char *field, const char *code, const char *why)
{
	json_t	*p;

	is_int(check(text, &p), 1, "%s: one error", why);
	is_str(error_code(p, field), code, "%s: %s is %s", why, field, code);
	json_decref(p);
}

static void
test_object_valid(void)
{
	json_t	*p;

	is_int(check("{\"name\":\"Ann\",\"email\":\"a@b.co\"}", &p), 0,
	    "required fields only: valid");
	ok(p == NULL, "no problem created when valid");
	is_int(check("{\"name\":\"Ann\",\"email\":\"a@b.co\",\"age\":0,\"admin\":false,"
	    "\"id\":\"123e4567-e89b-12d3-a456-426614174000\",\"tags\":[1],"
	    "\"meta\":{},\"extra\":null,\"code\":\"123456\",\"note\":\"\"}", &p), 0,
	    "every field at a boundary: valid");
	json_decref(p);
	is_int(check("{\"name\":\"\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
	    "\xc3\xa9\xc3\xa9\xc3\xa9\",\"email\":\"a@b.co\",\"age\":150,"
	    "\"tags\":[1,2,3]}", &p), 0,
	    "10 two-byte characters (20 bytes) fit a 10-character bound");
	json_decref(p);
	is_int(check("{\"name\":\"a\",\"email\":\"a@b.co\",\"extra\":[1,{\"x\":true}]}", &p),
	    0, "FIELD_ANY takes anything");
	json_decref(p);
	is_int(check("{\"name\":\"a\",\"note\":\"tab\\tnew\\nline\\r\","
	    "\"email\":\"a@b.co\"}", &p), 0, "tab, newline and CR are allowed in strings");
	json_decref(p);
}

static void
test_object_required(void)
{
	json_t	*p;

	is_int(check("{\"email\":\"a@b.co\"}", &p), 1, "a missing required field");
	if (ok(p != NULL, "a problem is created")) {
		is_int(json_integer_value(json_object_get(p, "status")), 422, "status 422");
		is_str(json_string_value(json_object_get(p, "code")), "validation_failed",
		    "code validation_failed");
		is_str(json_string_value(json_object_get(p, "type")), "about:blank",
		    "type about:blank");
		is_str(json_string_value(json_object_get(p, "title")), "Validation failed",
		    "title");
		is_str(json_string_value(json_object_get(p, "detail")), "1 field is invalid",
		    "detail for one error");
		is_int(json_array_size(json_object_get(p, "errors")), 1, "one error entry");
		is_str(error_code(p, "name"), "required", "name: required");
		ok(json_is_string(json_object_get(json_array_get(json_object_get(p, "errors"),
		    0), "message")), "the error has a message");
	}
	json_decref(p);
	is_int(check("{}", &p), 2, "both required fields missing");
	is_str(json_string_value(json_object_get(p, "detail")), "2 fields are invalid",
	    "detail for two errors");
	json_decref(p);
	one_error("{\"name\":null,\"email\":\"a@b.co\"}", "name", "invalid_type",
	    "null for a required string");
}

static void
test_object_types(void)
{
	one_error("{\"name\":5,\"email\":\"a@b.co\"}", "name", "invalid_type",
	    "a number for a string");
	one_error("{\"name\":\"a\",\"email\":true}", "email", "invalid_type",
	    "a boolean for an email");
	one_error("{\"name\":\"a\",\"email\":\"a@b.co\",\"age\":\"5\"}", "age",
	    "invalid_type", "a string for an int");
	one_error("{\"name\":\"a\",\"email\":\"a@b.co\",\"age\":1.5}", "age",
	    "invalid_type", "a real for an int");
	one_error("{\"name\":\"a\",\"email\":\"a@b.co\",\"age\":1.0}", "age",
	    "invalid_type", "1.0 for an int");
	one_error("{\"name\":\"a\",\"email\":\"a@b.co\",\"age\":true}", "age",
	    "invalid_type", "a boolean for an int");
	one_error("{\"name\":\"a\",\"email\":\"a@b.co\",\"admin\":\"true\"}", "admin",
	    "invalid_type", "a string for a boolean");
	one_error("{\"name\":\"a\",\"email\":\"a@b.co\",\"admin\":1}", "admin",
	    "invalid_type", "1 for a boolean");
	one_error("{\"name\":\"a\",\"email\":\"a@b.co\",\"admin\":null}", "admin",
	    "invalid_type", "null for an optional boolean");
	one_error("{\"name\":\"a\",\"email\":\"a@b.co\",\"tags\":{}}", "tags",
	    "invalid_type", "an object for an array");
	one_error("{\"name\":\"a\",\"email\":\"a@b.co\",\"meta\":[]}", "meta",
	    "invalid_type", "an array for an object");
	one_error("{\"name\":\"a\",\"email\":\"a@b.co\",\"id\":42}", "id",
	    "invalid_type", "a number for a UUID");
}

static void
test_object_bounds(void)
{
	one_error("{\"name\":\"\",\"email\":\"a@b.co\"}", "name", "invalid_length",
	    "an empty string under min 1");
	one_error("{\"name\":\"abcdefghijk\",\"email\":\"a@b.co\"}", "name",
	    "invalid_length", "11 characters over max 10");
	one_error("{\"name\":\"a\",\"email\":\"a@b.co\",\"age\":-1}", "age",
	    "out_of_range", "-1 under min 0");
	one_error("{\"name\":\"a\",\"email\":\"a@b.co\",\"age\":151}", "age",
	    "out_of_range", "151 over max 150");
	one_error("{\"name\":\"a\",\"email\":\"a@b.co\",\"age\":-9223372036854775808}",
	    "age", "out_of_range", "LLONG_MIN");
	one_error("{\"name\":\"a\",\"email\":\"a@b.co\",\"tags\":[]}", "tags",
	    "invalid_length", "an empty array under min 1");
	one_error("{\"name\":\"a\",\"email\":\"a@b.co\",\"tags\":[1,2,3,4]}", "tags",
	    "invalid_length", "4 items over max 3");
	one_error("{\"name\":\"a\",\"email\":\"a@b.co\",\"code\":\"12345\"}", "code",
	    "invalid_length", "5 characters for an exact 6");
	one_error("{\"name\":\"a\",\"email\":\"a@b.co\",\"code\":\"1234567\"}", "code",
	    "invalid_length", "7 characters for an exact 6");
	one_error("{\"name\":\"a\",\"email\":\"nope\"}", "email", "invalid_format",
	    "not an email");
	one_error("{\"name\":\"a\",\"email\":\"a@b.co\",\"id\":\"not-a-uuid\"}", "id",
	    "invalid_format", "not a UUID");
	one_error("{\"name\":\"a\\u0001b\",\"email\":\"a@b.co\"}", "name",
	    "invalid_format", "a control character");
	one_error("{\"name\":\"a\\u007fb\",\"email\":\"a@b.co\"}", "name",
	    "invalid_format", "DEL");
}

static void
test_object_messages(void)
{
	json_t	*p, *e;

	check("{\"name\":\"\",\"email\":\"a@b.co\",\"code\":\"1\",\"age\":200,"
	    "\"tags\":[],\"admin\":0}", &p);
	e = json_object_get(p, "errors");
	is_int(json_array_size(e), 5, "five errors");
	is_str(json_string_value(json_object_get(json_array_get(e, 0), "message")),
	    "must be 1 to 10 characters", "range message for a string");
	is_str(json_string_value(json_object_get(json_array_get(e, 1), "message")),
	    "must be between 0 and 150", "range message for an int");
	is_str(json_string_value(json_object_get(json_array_get(e, 2), "message")),
	    "must be a boolean", "type message");
	is_str(json_string_value(json_object_get(json_array_get(e, 3), "message")),
	    "must have 1 to 3 items", "range message for an array");
	is_str(json_string_value(json_object_get(json_array_get(e, 4), "message")),
	    "must be 6 characters", "message for an exact length");
	json_decref(p);
}

static void
test_object_unknown(void)
{
	json_t	*p;

	one_error("{\"name\":\"a\",\"email\":\"a@b.co\",\"role\":\"admin\"}", "role",
	    "unknown_field", "an undeclared field");
	one_error("{\"name\":\"a\",\"email\":\"a@b.co\",\"Name\":\"b\"}", "Name",
	    "unknown_field", "field names are case-sensitive");
	is_int(check("{\"name\":\"a\",\"email\":\"a@b.co\",\"x\":1,\"y\":2}", &p), 2,
	    "two undeclared fields: two errors");
	ok(error_code(p, "x") != NULL && error_code(p, "y") != NULL, "both named");
	json_decref(p);
}

static void
test_object_collects(void)
{
	json_t	*p;

	is_int(check("{\"name\":7,\"age\":-5,\"admin\":\"no\",\"tags\":[],"
	    "\"id\":\"x\",\"bogus\":1}", &p), 7, "seven problems at once");
	if (ok(p != NULL, "one problem for all")) {
		is_int(json_array_size(json_object_get(p, "errors")), 7, "seven entries");
		is_str(json_string_value(json_object_get(p, "detail")),
		    "7 fields are invalid", "detail counts them");
		is_str(error_code(p, "name"), "invalid_type", "name");
		is_str(error_code(p, "email"), "required", "email");
		is_str(error_code(p, "age"), "out_of_range", "age");
		is_str(error_code(p, "admin"), "invalid_type", "admin");
		is_str(error_code(p, "tags"), "invalid_length", "tags");
		is_str(error_code(p, "id"), "invalid_format", "id");
		is_str(error_code(p, "bogus"), "unknown_field", "bogus");
	}
	json_decref(p);
}

static void
test_object_built(void)
{
	json_t	*body, *p = NULL;

	/* Values built in code skip jansson's parser checks. */
	body = json_pack("{s:s,s:s%}", "email", "a@b.co", "name", "a\0b", (size_t)3);
	is_int(validate_object(body, fields, &p), 1, "a NUL inside a built string");
	is_str(error_code(p, "name"), "invalid_encoding", "invalid_encoding");
	json_decref(p);
	json_decref(body);

	p = NULL;
	body = json_pack("{s:s}", "email", "a@b.co");
	json_object_set_new(body, "name", json_stringn_nocheck("\xc3(", 2));
	is_int(validate_object(body, fields, &p), 1, "invalid UTF-8 inside a built string");
	is_str(error_code(p, "name"), "invalid_encoding", "invalid_encoding");
	json_decref(p);
	json_decref(body);
}

int
main(void)
{
	test_utf8_good();
	test_utf8_bad();
	test_control();
	test_email();
	test_uuid();
	test_object_valid();
	test_object_required();
	test_object_types();
	test_object_bounds();
	test_object_messages();
	test_object_unknown();
	test_object_collects();
	test_object_built();
	return done_testing();
}
