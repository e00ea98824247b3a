/*
 * test_problem — RFC 9457 problem objects, the fb_err → HTTP status and
 * code mapping, reason phrases, and fb_strerror.
 */
#include <string.h>

#include <jansson.h>

#include "err.h"
#include "problem.h"
#include "tap.h"

static const char *
str(json_t *o, const char *key)
{
	return json_string_value(json_object_get(o, key));
}

static void
test_new(void)
{
	json_t	*p;

	p = problem_new(404, "not_found", NULL);
	if (!ok(p != NULL, "problem_new"))
		return;
	is_str(str(p, "type"), "about:blank", "type about:blank (RFC 9457 §4.2.1)");
	is_str(str(p, "title"), "Not found", "title from the code table");
	is_int(json_integer_value(json_object_get(p, "status")), 404, "status");
	ok(json_is_integer(json_object_get(p, "status")), "status is a JSON number");
	is_str(str(p, "code"), "not_found", "code");
	ok(json_object_get(p, "detail") == NULL, "no detail when NULL");
	ok(json_object_get(p, "errors") == NULL, "no errors array yet");
	is_int(json_object_size(p), 4, "exactly type, title, status, code");
	json_decref(p);

	p = problem_new(400, "bad_request", "the path is bad");
	is_str(str(p, "detail"), "the path is bad", "detail");
	is_str(str(p, "title"), "Bad request", "bad_request title");
	json_decref(p);

	p = problem_new(418, "teapot_code", NULL);
	is_str(str(p, "title"), "Unknown", "an unknown code and status: reason phrase");
	json_decref(p);
	p = problem_new(409, "no_such_code", "x");
	is_str(str(p, "title"), "Conflict", "an unknown code: the status's reason phrase");
	is_str(str(p, "code"), "no_such_code", "the code is kept");
	json_decref(p);

	p = problem_new(422, "validation_failed", NULL);
	is_str(str(p, "title"), "Validation failed", "validation_failed title");
	json_decref(p);
	p = problem_new(429, "rate_limited", NULL);
	is_str(str(p, "title"), "Too many requests", "rate_limited title");
	json_decref(p);
	p = problem_new(431, "headers_too_large", NULL);
	is_str(str(p, "title"), "Request header fields too large", "headers_too_large title");
	json_decref(p);
	p = problem_new(400, "bad_request", "quote \" and \xc3\xa9");
	is_str(str(p, "detail"), "quote \" and \xc3\xa9", "detail is stored verbatim");
	json_decref(p);
}

static void
test_fields(void)
{
	json_t	*p, *errors, *e;

	p = problem_new(422, "validation_failed", "2 fields are invalid");
	problem_add_field(p, "email", "required", "is required");
	problem_add_field(p, "age", "out_of_range", "must be between 0 and 150");
	errors = json_object_get(p, "errors");
	ok(json_is_array(errors), "errors is an array");
	is_int(json_array_size(errors), 2, "two entries in order");
	e = json_array_get(errors, 0);
	is_str(str(e, "field"), "email", "first: field");
	is_str(str(e, "code"), "required", "first: code");
	is_str(str(e, "message"), "is required", "first: message");
	is_int(json_object_size(e), 3, "field, code, message only");
	is_str(str(json_array_get(errors, 1), "field"), "age", "second: field");
	json_decref(p);

	problem_add_field(NULL, "x", "y", "z");
	ok(1, "problem_add_field(NULL) is a no-op");
}

static void
test_status_for(void)
{
	static const struct {
		enum fb_err	 e;
		int		 status;
		const char	*code;
	} map[] = {
		{ FB_OK,		200, "ok" },
		{ FB_ERR_NOMEM,		500, "internal" },
		{ FB_ERR_INVALID,	400, "bad_request" },
		{ FB_ERR_NOTFOUND,	404, "not_found" },
		{ FB_ERR_CONFLICT,	409, "conflict" },
		{ FB_ERR_RETRY,		503, "unavailable" },
		{ FB_ERR_UNAVAILABLE,	503, "unavailable" },
		{ FB_ERR_TIMEOUT,	503, "unavailable" },
		{ FB_ERR_TOOBIG,	413, "payload_too_large" },
		{ FB_ERR_IO,		500, "internal" },
		{ FB_ERR_INTERNAL,	500, "internal" },
	};
	size_t	i;

	for (i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
		is_int(problem_status_for(map[i].e), map[i].status, "status for %s",
		    fb_strerror(map[i].e));
		is_str(problem_code_for(map[i].e), map[i].code, "code for %s",
		    fb_strerror(map[i].e));
	}
	is_int(problem_status_for((enum fb_err)999), 500, "an unknown fb_err is 500");
	is_str(problem_code_for((enum fb_err)999), "internal", "an unknown fb_err is internal");
}

static void
test_reason(void)
{
	static const struct {
		int		 status;
		const char	*reason;
	} r[] = {
		{ 200, "OK" }, { 201, "Created" }, { 204, "No Content" },
		{ 400, "Bad Request" }, { 401, "Unauthorized" }, { 404, "Not Found" },
		{ 405, "Method Not Allowed" }, { 413, "Content Too Large" },
		{ 414, "URI Too Long" }, { 415, "Unsupported Media Type" },
		{ 422, "Unprocessable Content" }, { 429, "Too Many Requests" },
		{ 431, "Request Header Fields Too Large" },
		{ 500, "Internal Server Error" }, { 503, "Service Unavailable" },
	};
	size_t	i;

	for (i = 0; i < sizeof(r) / sizeof(r[0]); i++)
		is_str(http_reason(r[i].status), r[i].reason, "reason of %d (RFC 9110 §15)",
		    r[i].status);
	is_str(http_reason(418), "Unknown", "418: Unknown");
	is_str(http_reason(0), "Unknown", "0: Unknown");
	is_str(http_reason(-1), "Unknown", "-1: Unknown");
}

static void
test_strerror(void)
{
	enum fb_err	e;
	bool		all = true;

	for (e = FB_OK; e <= FB_ERR_INTERNAL; e++)
		if (fb_strerror(e) == NULL || strcmp(fb_strerror(e), "unknown error") == 0)
			all = false;
	ok(all, "every fb_err has a name");
	is_str(fb_strerror(FB_OK), "ok", "FB_OK");
	is_str(fb_strerror(FB_ERR_TOOBIG), "too big", "FB_ERR_TOOBIG");
	is_str(fb_strerror((enum fb_err)-1), "unknown error", "out of range");
}

int
main(void)
{
	test_new();
	test_fields();
	test_status_for();
	test_reason();
	test_strerror();
	return done_testing();
}
