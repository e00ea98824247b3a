/*
 * fuzz_request — the request pipeline without a socket, as
 * tests/unit/test_dispatch.c runs it: FastCGI parameters and a body in,
 * dispatch_table() over a small route table (a JSON-body route with declared
 * inputs and a GET route with a {param}), response_format(), request_free().
 *
 * The input is NUL-separated fields:
 *   REQUEST_METHOD \0 REQUEST_URI \0 HTTP_X_REQUEST_ID \0 CONTENT_TYPE \0 body
 * (the body is the rest, NULs included); missing fields are left out.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../fcgi-app/dispatch.h"
#include "log.h"
#include "validate.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct app	app;

static void
echo_handler(struct request *req)
{
	if (req->json != NULL)
		resp_json(req, 200, json_incref(req->json));
	else
		resp_json(req, 200, json_pack("{s:s?}", "id", request_path_param(req, "id")));
}

static const struct field echo_inputs[] = {
	{ "name", FIELD_STRING, true, 1, 20 },
	{ "age", FIELD_INT, false, 0, 150 },
	{ "email", FIELD_EMAIL, false, 0, 0 },
	{ "id", FIELD_UUID, false, 0, 0 },
	{ "tags", FIELD_ARRAY, false, 0, 4 },
	FIELD_END
};

static const struct route routes[] = {
	{ M_POST | M_PUT, "/things", echo_handler, AUTH_NONE, echo_inputs,
	  ROUTE_JSON_BODY, "echo" },
	{ M_GET, "/things/{id}", echo_handler, AUTH_NONE, NULL, 0, "get" },
};

static void
app_teardown(void)
{
	app_free_keys(&app);
	config_free(&app.cfg);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	FILE	*null;

	(void)argc;
	(void)argv;
	log_setup("fuzz_request", FBLOG_ERROR);
	setenv("DATABASE_URL", "postgresql://x@127.0.0.1:1/x", 1);
	setenv("JWT_SECRET", "0123456789abcdef0123456789abcdef-fuzz-jw", 1);
	if ((null = fopen("/dev/null", "w")) == NULL)
		abort();
	memset(&app, 0, sizeof(app));
	if (config_load(&app.cfg, NULL, null) != 0 ||
	    app_load_keys(&app, null) != 0)
		abort();
	fclose(null);
	atexit(app_teardown);
	return 0;
}

/* The next NUL-terminated field of [*p, end) as "prefix" "field", or NULL
 * when the input is exhausted. */
static char *
field(const char *prefix, const uint8_t **p, const uint8_t *end)
{
	const uint8_t	*nul;
	size_t		 len, plen = strlen(prefix);
	char		*s;

	if (*p >= end)
		return NULL;
	nul = memchr(*p, '\0', (size_t)(end - *p));
	len = (nul != NULL ? (size_t)(nul - *p) : (size_t)(end - *p));
	if ((s = malloc(plen + len + 1)) == NULL)
		return NULL;
	memcpy(s, prefix, plen);
	memcpy(s + plen, *p, len);
	s[plen + len] = '\0';
	*p += len + (nul != NULL);
	return s;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const names[] = {
		"REQUEST_METHOD=", "REQUEST_URI=", "HTTP_X_REQUEST_ID=",
		"CONTENT_TYPE=",
	};
	const uint8_t	*p = data, *end = data + size;
	char		*env[8], *text;
	struct request	 req;
	size_t		 i, n = 0, blen;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if ((env[n] = field(names[i], &p, end)) != NULL)
			n++;
	blen = (size_t)(end - p);
	if (asprintf(&env[n], "CONTENT_LENGTH=%zu", blen) >= 0)
		n++;
	env[n] = NULL;

	request_init(&req, &app, env, NULL);
	req.test_body = (const char *)p;
	req.test_body_len = blen;
	dispatch_table(&req, routes, sizeof(routes) / sizeof(routes[0]));
	text = response_format(&req);
	free(text);
	request_free(&req);
	for (i = 0; i < n; i++)
		free(env[i]);
	return 0;
}
