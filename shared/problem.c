#include <string.h>

#include "problem.h"

static const struct {
	const char	*code;
	const char	*title;
} titles[] = {
	{ "invalid_json",		"Invalid JSON" },
	{ "bad_request",		"Bad request" },
	{ "unauthorized",		"Unauthorized" },
	{ "invalid_credentials",	"Invalid credentials" },
	{ "invalid_code",		"Invalid code" },
	{ "refresh_token_invalid",	"Invalid refresh token" },
	{ "refresh_token_reused",	"Refresh token reused" },
	{ "forbidden",			"Forbidden" },
	{ "email_not_verified",		"Email not verified" },
	{ "not_found",			"Not found" },
	{ "method_not_allowed",		"Method not allowed" },
	{ "conflict",			"Conflict" },
	{ "payload_too_large",		"Payload too large" },
	{ "uri_too_long",		"URI too long" },
	{ "unsupported_media_type",	"Unsupported media type" },
	{ "validation_failed",		"Validation failed" },
	{ "idempotency_key_reused",	"Idempotency key reused" },
	{ "rate_limited",		"Too many requests" },
	{ "headers_too_large",		"Request header fields too large" },
	{ "internal",			"Internal error" },
	{ "upstream_error",		"Upstream error" },
	{ "unavailable",		"Service unavailable" },
	{ "not_configured",		"Not configured" },
};

json_t *
problem_new(int status, const char *code, const char *detail)
{
	const char	*title = http_reason(status);
	json_t		*p;
	size_t		 i;

	for (i = 0; i < sizeof(titles) / sizeof(titles[0]); i++)
		if (strcmp(titles[i].code, code) == 0) {
			title = titles[i].title;
			break;
		}
	p = json_pack("{s:s,s:s,s:i,s:s}", "type", "about:blank", "title", title,
	    "status", status, "code", code);
	if (p != NULL && detail != NULL)
		json_object_set_new(p, "detail", json_string(detail));
	return p;
}

void
problem_add_field(json_t *problem, const char *field, const char *code,
    const char *message)
{
	json_t	*errors;

	if (problem == NULL)
		return;
	if ((errors = json_object_get(problem, "errors")) == NULL) {
		errors = json_array();
		if (json_object_set_new(problem, "errors", errors) != 0)
			return;
	}
	json_array_append_new(errors, json_pack("{s:s,s:s,s:s}", "field", field,
	    "code", code, "message", message));
}

int
problem_status_for(enum fb_err e)
{
	switch (e) {
	case FB_OK:		return 200;
	case FB_ERR_INVALID:	return 400;
	case FB_ERR_NOTFOUND:	return 404;
	case FB_ERR_CONFLICT:	return 409;
	case FB_ERR_TOOBIG:	return 413;
	case FB_ERR_UNAVAILABLE:
	case FB_ERR_TIMEOUT:
	case FB_ERR_RETRY:	return 503;
	case FB_ERR_NOMEM:
	case FB_ERR_IO:
	case FB_ERR_INTERNAL:	return 500;
	}
	return 500;
}

const char *
problem_code_for(enum fb_err e)
{
	switch (e) {
	case FB_OK:		return "ok";
	case FB_ERR_INVALID:	return "bad_request";
	case FB_ERR_NOTFOUND:	return "not_found";
	case FB_ERR_CONFLICT:	return "conflict";
	case FB_ERR_TOOBIG:	return "payload_too_large";
	case FB_ERR_UNAVAILABLE:
	case FB_ERR_TIMEOUT:
	case FB_ERR_RETRY:	return "unavailable";
	case FB_ERR_NOMEM:
	case FB_ERR_IO:
	case FB_ERR_INTERNAL:	return "internal";
	}
	return "internal";
}

const char *
http_reason(int status)
{
	switch (status) {
	case 200: return "OK";
	case 201: return "Created";
	case 202: return "Accepted";
	case 204: return "No Content";
	case 304: return "Not Modified";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 409: return "Conflict";
	case 413: return "Content Too Large";
	case 414: return "URI Too Long";
	case 415: return "Unsupported Media Type";
	case 422: return "Unprocessable Content";
	case 429: return "Too Many Requests";
	case 431: return "Request Header Fields Too Large";
	case 500: return "Internal Server Error";
	case 502: return "Bad Gateway";
	case 503: return "Service Unavailable";
	}
	return "Unknown";
}
