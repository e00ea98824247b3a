/*
 * test_dispatch — the request pipeline without a socket: FastCGI parameters
 * in, dispatch(), then the status, the formatted headers and the JSON body.
 * The real route table is used (GET-only routes); the body stages are
 * reached through request_read_body() and validate_object() directly.
 * No database is opened.
 */
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>

#include "../../fcgi-app/dispatch.h"
#include "../../fcgi-app/routes.h"
#include "b64.h"
#include "log.h"
#include "metrics.h"
#include "tap.h"
#include "validate.h"

#define DB_URL		"postgresql://x@127.0.0.1:1/x"
#define JWT		"0123456789abcdef0123456789abcdef-jwt"
#define TOKEN		"metrics-token-0123456789"

static const char *const config_vars[] = {
	"DATABASE_URL", "DB_STATEMENT_TIMEOUT_MS", "FCGI_LISTEN", "FCGI_SOCKET_MODE",
	"FCGI_CHILDREN", "FCGI_BACKLOG", "PUBLIC_URL", "JWT_SECRET",
	"JWT_PRIVATE_KEY_FILE", "JWT_ISSUER", "JWT_AUDIENCE", "ENCRYPTION_KEYS",
	"CORS_ORIGINS", "TRUSTED_PROXIES", "MAX_BODY_BYTES", "LOG_LEVEL",
	"REGISTRATION", "REDIS_URL", "SMTP_URL", "METRICS_TOKEN", "FASTBACK_CONFIG",
};

static struct app	app;
static bool		app_loaded;

/* Loads app.cfg from the two required settings plus "NAME=value" strings,
 * NULL-terminated. */
static void
app_setup(const char *first, ...)
{
	va_list		 ap;
	const char	*kv;
	char		*errs = NULL, name[64];
	size_t		 i, len;
	FILE		*f;

	if (app_loaded) {
		db_close(&app.db);	/* handlers may have connected */
		app_free_keys(&app);
		config_free(&app.cfg);
	}
	memset(&app, 0, sizeof(app));
	for (i = 0; i < sizeof(config_vars) / sizeof(config_vars[0]); i++)
		unsetenv(config_vars[i]);
	setenv("DATABASE_URL", DB_URL, 1);
	setenv("JWT_SECRET", JWT, 1);
	va_start(ap, first);
	for (kv = first; kv != NULL; kv = va_arg(ap, const char *)) {
		len = strcspn(kv, "=");
		snprintf(name, sizeof(name), "%.*s", (int)len, kv);
		setenv(name, kv + len + 1, 1);
	}
	va_end(ap);
	f = open_memstream(&errs, &len);
	if (config_load(&app.cfg, NULL, f) != 0) {
		fclose(f);
		bail_out("config_load: %s", errs);
	}
	fclose(f);
	free(errs);
	/* The keys too, unless the configuration names a broken key file
	 * (a test of that calls app_load_keys itself). */
	{
		FILE *null = fopen("/dev/null", "w");
		if (null != NULL) {
			app_load_keys(&app, null);
			fclose(null);
		}
	}
	app_loaded = true;
}

struct run {
	char		*env[40];
	struct request	 req;
	char		*text;		/* response_format() */
	json_t		*json;		/* the body, when it is JSON (or NULL) */
};

/* Runs method uri (uri NULL: no REQUEST_URI) with extra "NAME=value"
 * parameters through dispatch(). done() frees it all. */
static void go(struct run *r, const char *method, const char *uri, ...)
    __attribute__((sentinel));
static void
go(struct run *r, const char *method, const char *uri, ...)
{
	va_list		 ap;
	const char	*p;
	size_t		 n = 0;

	memset(r, 0, sizeof(*r));
	if (method != NULL && asprintf(&r->env[n++], "REQUEST_METHOD=%s", method) < 0)
		bail_out("asprintf");
	if (uri != NULL && asprintf(&r->env[n++], "REQUEST_URI=%s", uri) < 0)
		bail_out("asprintf");
	va_start(ap, uri);
	while ((p = va_arg(ap, const char *)) != NULL && n < 39)
		if ((r->env[n++] = strdup(p)) == NULL)
			bail_out("strdup");
	va_end(ap);
	r->env[n] = NULL;
	request_init(&r->req, &app, r->env, NULL);
	dispatch(&r->req);
	r->text = response_format(&r->req);
	if (r->req.resp.body.len > 0)
		r->json = json_loadb(r->req.resp.body.data, r->req.resp.body.len, 0, NULL);
}

static void
done(struct run *r)
{
	size_t	i;

	free(r->text);
	json_decref(r->json);
	request_free(&r->req);
	for (i = 0; r->env[i] != NULL; i++)
		free(r->env[i]);
}

static const char *
jstr(json_t *o, const char *key)
{
	return json_string_value(json_object_get(o, key));
}

/* The value of header name in the formatted response, into out. */
static const char *
header(const struct run *r, const char *name, char *out, size_t outlen)
{
	char		 needle[128];
	const char	*p, *end;

	snprintf(needle, sizeof(needle), "\r\n%s: ", name);
	if (r->text == NULL || (p = strstr(r->text, needle)) == NULL)
		return NULL;
	p += strlen(needle);
	end = strstr(p, "\r\n");
	snprintf(out, outlen, "%.*s", (int)(end - p), p);
	return out;
}

/* Checks a problem+json answer: status, code, and the RFC 9457 members. */
static void
is_problem(struct run *r, int status, const char *code, const char *what)
{
	is_int(r->req.resp.status, status, "%s: status %d", what, status);
	if (!ok(r->json != NULL, "%s: the body is JSON", what))
		return;
	is_str(jstr(r->json, "code"), code, "%s: code %s", what, code);
	is_int(json_integer_value(json_object_get(r->json, "status")), status,
	    "%s: status member", what);
	is_str(jstr(r->json, "type"), "about:blank", "%s: type", what);
	ok(jstr(r->json, "title") != NULL, "%s: title", what);
	is_str(jstr(r->json, "request_id"), r->req.request_id, "%s: request_id", what);
	has_str(r->text, "\r\nContent-Type: application/problem+json\r\n",
	    "%s: Content-Type application/problem+json", what);
}

static void
test_health(void)
{
	struct run	r;
	char		v[128];

	app_setup(NULL);
	go(&r, "GET", "/health", "REMOTE_ADDR=192.0.2.10", NULL);
	is_int(r.req.resp.status, 200, "GET /health: 200");
	is_str(r.req.resp.body.data, "{\"status\":\"ok\"}", "GET /health: body");
	ok(r.text != NULL && strncmp(r.text, "Status: 200 OK\r\n", 16) == 0,
	    "the status line comes first");
	has_str(r.text, "\r\nContent-Type: application/json\r\n", "Content-Type");
	has_str(r.text, "\r\nContent-Length: 15\r\n", "Content-Length");
	ok(header(&r, "X-Request-Id", v, sizeof(v)) != NULL && valid_uuid(v),
	    "X-Request-Id is a fresh UUID");
	is_str(r.req.request_id, header(&r, "X-Request-Id", v, sizeof(v)),
	    "X-Request-Id is the request's id");
	has_str(r.text, "\r\nX-Content-Type-Options: nosniff\r\n", "nosniff");
	has_str(r.text, "\r\nReferrer-Policy: no-referrer\r\n", "Referrer-Policy");
	has_str(r.text, "\r\nX-Frame-Options: DENY\r\n", "X-Frame-Options");
	has_str(r.text, "\r\nContent-Security-Policy: default-src 'none'; "
	    "frame-ancestors 'none'\r\n", "CSP of an API answer");
	has_str(r.text, "\r\nCross-Origin-Resource-Policy: same-origin\r\n", "CORP");
	has_str(r.text, "\r\nCache-Control: no-store\r\n", "Cache-Control no-store");
	lacks_str(r.text, "Strict-Transport-Security", "no HSTS over http");
	ok(strstr(r.text, "\r\n\r\n{\"status\":\"ok\"}") != NULL &&
	    strcmp(strstr(r.text, "\r\n\r\n"), "\r\n\r\n{\"status\":\"ok\"}") == 0,
	    "a blank line, then the body, and nothing after it");
	is_int(r.req.route_id, 0, "route id 0");
	is_str(r.req.client_ip, "192.0.2.10", "client_ip from REMOTE_ADDR");
	done(&r);

	go(&r, "HEAD", "/health", NULL);
	is_int(r.req.resp.status, 200, "HEAD /health: 200");
	has_str(r.text, "\r\nContent-Length: 15\r\n", "HEAD: the GET length");
	ok(r.text != NULL && strlen(r.text) >= 4 &&
	    strcmp(r.text + strlen(r.text) - 4, "\r\n\r\n") == 0, "HEAD: no body");
	done(&r);

	app_setup("PUBLIC_URL=https://api.test", NULL);
	go(&r, "GET", "/health", NULL);
	has_str(r.text, "\r\nStrict-Transport-Security: max-age=63072000; "
	    "includeSubDomains\r\n", "HSTS when PUBLIC_URL is https");
	done(&r);
}

static void
test_not_found(void)
{
	struct run	r;

	app_setup(NULL);
	go(&r, "GET", "/nope", NULL);
	is_problem(&r, 404, "not_found", "GET /nope");
	is_str(jstr(r.json, "title"), "Not found", "GET /nope: title");
	lacks_str(r.text, "\r\nAllow:", "a 404 has no Allow");
	ok(r.req.route == NULL, "no route");
	done(&r);

	go(&r, "OPTIONS", "/nope", NULL);
	is_problem(&r, 404, "not_found", "OPTIONS /nope");
	done(&r);
	go(&r, "GET", "/health/", NULL);
	is_problem(&r, 404, "not_found", "a trailing slash");
	done(&r);
	go(&r, "GET", "//health", NULL);
	is_problem(&r, 404, "not_found", "an empty first segment");
	done(&r);
	go(&r, "GET", "/", NULL);
	is_problem(&r, 404, "not_found", "GET / (no route)");
	done(&r);
	go(&r, "GET", "/HEALTH", NULL);
	is_problem(&r, 404, "not_found", "paths are case-sensitive");
	done(&r);
	go(&r, "GET", "/a/b/c/d/e/f/g/h/i/j/k/l/m/n/o/p/q/r/s/t/u/v/w/x/y/z/1/2/3/4/5/6/7",
	    NULL);
	is_problem(&r, 404, "not_found", "33 segments");
	done(&r);
	go(&r, "GET", "/hea%6Cth", NULL);
	is_int(r.req.resp.status, 200, "a percent-encoded letter is decoded: 200");
	done(&r);
	go(&r, "GET", "/health%2F", NULL);
	is_problem(&r, 404, "not_found", "an encoded slash stays in its segment");
	done(&r);
	go(&r, "GET", "/health?x=1&y=%C3%A9", "QUERY_STRING=x=1&y=%C3%A9", NULL);
	is_int(r.req.resp.status, 200, "a query string does not change the route");
	is_str(request_query(&r.req, "y"), "\xc3\xa9", "the query is decoded");
	done(&r);
}

static void
test_methods(void)
{
	struct run	r;
	char		v[128];

	app_setup(NULL);
	go(&r, "POST", "/health", NULL);
	is_problem(&r, 405, "method_not_allowed", "POST /health");
	is_str(header(&r, "Allow", v, sizeof(v)), "GET, HEAD, OPTIONS", "Allow");
	done(&r);
	go(&r, "DELETE", "/metrics", NULL);
	is_problem(&r, 405, "method_not_allowed", "DELETE /metrics");
	done(&r);
	go(&r, "TRACE", "/health", NULL);
	is_problem(&r, 405, "method_not_allowed", "an unknown method");
	is_str(header(&r, "Allow", v, sizeof(v)), "GET, HEAD, OPTIONS",
	    "an unknown method: Allow");
	done(&r);
	go(&r, "get", "/health", NULL);
	is_problem(&r, 405, "method_not_allowed", "a lower-case method");
	done(&r);
	go(&r, NULL, "/health", NULL);
	is_problem(&r, 405, "method_not_allowed", "no REQUEST_METHOD");
	done(&r);

	go(&r, "OPTIONS", "/health", NULL);
	is_int(r.req.resp.status, 204, "OPTIONS /health: 204");
	is_str(header(&r, "Allow", v, sizeof(v)), "GET, HEAD, OPTIONS", "OPTIONS: Allow");
	is_int(r.req.resp.body.len, 0, "OPTIONS: empty body");
	lacks_str(r.text, "\r\nContent-Length:", "204: no Content-Length");
	lacks_str(r.text, "\r\nContent-Type:", "204: no Content-Type");
	lacks_str(r.text, "Access-Control-Allow-Origin", "no Origin: no CORS");
	done(&r);
}

static void
test_cors(void)
{
	struct run	r;
	char		v[256];

	app_setup("CORS_ORIGINS=https://app.test, http://localhost:3000", NULL);
	go(&r, "OPTIONS", "/health", "HTTP_ORIGIN=https://app.test",
	    "HTTP_ACCESS_CONTROL_REQUEST_METHOD=GET",
	    "HTTP_ACCESS_CONTROL_REQUEST_HEADERS=authorization", NULL);
	is_int(r.req.resp.status, 204, "preflight: 204");
	is_str(header(&r, "Access-Control-Allow-Origin", v, sizeof(v)), "https://app.test",
	    "preflight: ACAO echoes the allowed origin");
	is_str(header(&r, "Access-Control-Allow-Methods", v, sizeof(v)),
	    "GET, HEAD, OPTIONS", "preflight: Allow-Methods");
	has_str(header(&r, "Access-Control-Allow-Headers", v, sizeof(v)), "Authorization",
	    "preflight: Allow-Headers has Authorization");
	has_str(v, "Content-Type", "preflight: Allow-Headers has Content-Type");
	has_str(r.text, "\r\nAccess-Control-Max-Age: 600\r\n", "preflight: Max-Age");
	has_str(r.text, "\r\nVary: Origin\r\n", "preflight: Vary: Origin");
	ok(r.req.cors_allowed, "cors_allowed set");
	done(&r);

	go(&r, "GET", "/health", "HTTP_ORIGIN=http://localhost:3000", NULL);
	is_int(r.req.resp.status, 200, "a CORS GET: 200");
	is_str(header(&r, "Access-Control-Allow-Origin", v, sizeof(v)),
	    "http://localhost:3000", "a CORS GET: ACAO");
	has_str(header(&r, "Access-Control-Expose-Headers", v, sizeof(v)), "X-Request-Id",
	    "a CORS GET: X-Request-Id exposed");
	lacks_str(r.text, "Access-Control-Allow-Methods", "a CORS GET: no Allow-Methods");
	done(&r);

	go(&r, "OPTIONS", "/health", "HTTP_ORIGIN=https://evil.test",
	    "HTTP_ACCESS_CONTROL_REQUEST_METHOD=GET", NULL);
	is_int(r.req.resp.status, 204, "a disallowed preflight still answers OPTIONS");
	lacks_str(r.text, "Access-Control-Allow-Origin", "a disallowed origin: no ACAO");
	lacks_str(r.text, "Access-Control-Allow-Methods", "a disallowed origin: no ACAM");
	has_str(r.text, "\r\nVary: Origin\r\n", "a disallowed origin: Vary: Origin");
	ok(!r.req.cors_allowed, "cors_allowed not set");
	done(&r);

	go(&r, "GET", "/health", "HTTP_ORIGIN=https://app.test.evil.test", NULL);
	lacks_str(r.text, "Access-Control-Allow-Origin", "a suffixed origin: no ACAO");
	done(&r);
	go(&r, "GET", "/health", "HTTP_ORIGIN=null", NULL);
	lacks_str(r.text, "Access-Control-Allow-Origin", "Origin: null: no ACAO");
	done(&r);
	go(&r, "GET", "/health", "HTTP_ORIGIN=https://app.test\r\nX-Evil: 1", NULL);
	lacks_str(r.text, "X-Evil", "an origin with CRLF never splits a header");
	done(&r);

	app_setup(NULL);
	go(&r, "OPTIONS", "/health", "HTTP_ORIGIN=https://app.test",
	    "HTTP_ACCESS_CONTROL_REQUEST_METHOD=GET", NULL);
	lacks_str(r.text, "Access-Control-Allow-Origin", "CORS_ORIGINS unset: no ACAO");
	done(&r);
}

static void
test_mount_prefix(void)
{
	struct run	r;

	app_setup("PUBLIC_URL=http://h/app", NULL);
	go(&r, "GET", "/app/health", NULL);
	is_int(r.req.resp.status, 200, "REQUEST_URI=/app/health under /app: 200");
	done(&r);
	go(&r, NULL, NULL, "REQUEST_METHOD=GET", "SCRIPT_NAME=/app", "PATH_INFO=/health",
	    NULL);
	is_int(r.req.resp.status, 200, "SCRIPT_NAME=/app PATH_INFO=/health: 200");
	done(&r);
	go(&r, "GET", "/health", NULL);
	is_int(r.req.resp.status, 200, "a prefix already stripped by the server: 200");
	done(&r);
	go(&r, "GET", "/application/health", NULL);
	is_problem(&r, 404, "not_found", "/application is not under /app");
	done(&r);
	go(&r, "GET", "/app", NULL);
	is_problem(&r, 404, "not_found", "the prefix alone");
	done(&r);
	go(&r, "GET", "/app/app/health", NULL);
	is_problem(&r, 404, "not_found", "the prefix is stripped once");
	done(&r);
	go(&r, "GET", "/app/health?x=/app", NULL);
	is_int(r.req.resp.status, 200, "REQUEST_URI with a query: 200");
	done(&r);
	go(&r, NULL, "health", "REQUEST_METHOD=GET", "SCRIPT_NAME=/app",
	    "PATH_INFO=/health", NULL);
	is_int(r.req.resp.status, 200, "a REQUEST_URI without / falls back to SCRIPT_NAME");
	done(&r);
}

static void
test_bad_targets(void)
{
	struct run	 r;
	char		*longpath, *q;

	app_setup(NULL);
	go(&r, "GET", "/health%00", NULL);
	is_problem(&r, 400, "bad_request", "%00 in the path");
	done(&r);
	go(&r, "GET", "/health%C3%28", NULL);
	is_problem(&r, 400, "bad_request", "invalid UTF-8 %C3%28");
	done(&r);
	go(&r, "GET", "/%C0%AE%C0%AE/health", NULL);
	is_problem(&r, 400, "bad_request", "overlong UTF-8 dots");
	done(&r);
	go(&r, "GET", "/%ED%A0%80", NULL);
	is_problem(&r, 400, "bad_request", "an encoded surrogate");
	done(&r);
	go(&r, "GET", "/health%zz", NULL);
	is_problem(&r, 400, "bad_request", "a bad escape %zz");
	done(&r);
	go(&r, "GET", "/health%4", NULL);
	is_problem(&r, 400, "bad_request", "a truncated escape %4");
	done(&r);
	go(&r, "GET", "/health%", NULL);
	is_problem(&r, 400, "bad_request", "a lone %");
	done(&r);
	go(&r, "GET", "/health%0A", NULL);
	is_problem(&r, 400, "bad_request", "an encoded newline");
	done(&r);
	go(&r, "GET", "/health%09", NULL);
	is_problem(&r, 400, "bad_request", "an encoded tab");
	done(&r);
	go(&r, "GET", "/\xc3(", NULL);
	is_problem(&r, 400, "bad_request", "raw invalid UTF-8");
	done(&r);
	go(&r, "GET", "/health", "QUERY_STRING=a=%zz", NULL);
	is_problem(&r, 400, "bad_request", "a bad escape in the query");
	done(&r);
	go(&r, "GET", "/health", "QUERY_STRING=a=%00", NULL);
	is_problem(&r, 400, "bad_request", "%00 in the query");
	done(&r);

	/* REQUEST_PATH_MAX is 4096. */
	longpath = malloc(5001);
	longpath[0] = '/';
	memset(longpath + 1, 'a', 4999);
	longpath[5000] = '\0';
	go(&r, "GET", longpath, NULL);
	is_problem(&r, 414, "uri_too_long", "a 5000-byte path");
	done(&r);
	longpath[4096] = '\0';
	go(&r, "GET", longpath, NULL);
	is_problem(&r, 404, "not_found", "a 4096-byte path is not too long");
	done(&r);
	free(longpath);

	q = malloc(8200 + 20);
	strcpy(q, "QUERY_STRING=");
	memset(q + 13, 'a', 8193);
	q[13 + 8193] = '\0';
	go(&r, "GET", "/health", q, NULL);
	is_problem(&r, 414, "uri_too_long", "an 8193-byte query string");
	done(&r);
	free(q);

	q = malloc(64 * 4 + 100);
	strcpy(q, "QUERY_STRING=");
	for (int i = 0; i < 65; i++)
		strcat(q, i ? "&a=1" : "a=1");
	go(&r, "GET", "/health", q, NULL);
	is_problem(&r, 400, "bad_request", "65 query parameters");
	done(&r);
	free(q);
}

static void
test_headers_size(void)
{
	struct run	 r;
	char		*big, *h[5];
	int		 i;

	app_setup(NULL);
	big = malloc(20000 + 20);
	strcpy(big, "HTTP_X_BIG=");
	memset(big + 11, 'x', 20000);
	big[11 + 20000] = '\0';
	go(&r, "GET", "/health", big, NULL);
	is_problem(&r, 431, "headers_too_large", "a 20000-byte header");
	done(&r);
	free(big);

	for (i = 0; i < 5; i++) {
		h[i] = malloc(15000);
		snprintf(h[i], 15000, "HTTP_X_H%d=", i);
		memset(h[i] + 10, 'y', 14000);
		h[i][10 + 14000] = '\0';
	}
	go(&r, "GET", "/health", h[0], h[1], h[2], h[3], h[4], NULL);
	is_problem(&r, 431, "headers_too_large", "five 14000-byte headers (70 KB)");
	done(&r);
	go(&r, "GET", "/health", h[0], h[1], h[2], h[3], NULL);
	is_int(r.req.resp.status, 200, "four of them (56 KB) fit");
	done(&r);
	for (i = 0; i < 5; i++)
		free(h[i]);

	big = malloc(20000 + 20);
	strcpy(big, "CONTENT_TYPE=");
	memset(big + 13, 'x', 20000);
	big[13 + 20000] = '\0';
	go(&r, "GET", "/health", big, NULL);
	is_int(r.req.resp.status, 200, "a big non-HTTP_ parameter is not a header");
	done(&r);
	free(big);
}

static void
test_request_id(void)
{
	struct run	r;
	char		v[128], id64[80], id65[100];

	app_setup(NULL);
	go(&r, "GET", "/health", "HTTP_X_REQUEST_ID=abc-123_x.y:z", NULL);
	is_str(header(&r, "X-Request-Id", v, sizeof(v)), "abc-123_x.y:z",
	    "a sane X-Request-Id is echoed");
	done(&r);
	go(&r, "GET", "/nope", "HTTP_X_REQUEST_ID=trace-42", NULL);
	is_str(jstr(r.json, "request_id"), "trace-42", "and put in problems");
	done(&r);

	memset(id64, 'a', 64);
	id64[64] = '\0';
	snprintf(id65, sizeof(id65), "HTTP_X_REQUEST_ID=%s", id64);
	go(&r, "GET", "/health", id65, NULL);
	is_str(header(&r, "X-Request-Id", v, sizeof(v)), id64, "64 characters are echoed");
	done(&r);
	strcat(id65, "a");
	go(&r, "GET", "/health", id65, NULL);
	ok(header(&r, "X-Request-Id", v, sizeof(v)) != NULL && valid_uuid(v),
	    "65 characters: replaced by a UUID");
	done(&r);
	go(&r, "GET", "/health", "HTTP_X_REQUEST_ID=has space", NULL);
	ok(header(&r, "X-Request-Id", v, sizeof(v)) != NULL && valid_uuid(v),
	    "a space: replaced by a UUID");
	done(&r);
	go(&r, "GET", "/health", "HTTP_X_REQUEST_ID=<script>", NULL);
	ok(header(&r, "X-Request-Id", v, sizeof(v)) != NULL && valid_uuid(v),
	    "markup: replaced by a UUID");
	done(&r);
	go(&r, "GET", "/health", "HTTP_X_REQUEST_ID=", NULL);
	ok(header(&r, "X-Request-Id", v, sizeof(v)) != NULL && valid_uuid(v),
	    "empty: replaced by a UUID");
	done(&r);
	go(&r, "GET", "/health", "HTTP_X_REQUEST_ID=a\xc3\xa9", NULL);
	ok(header(&r, "X-Request-Id", v, sizeof(v)) != NULL && valid_uuid(v),
	    "non-ASCII: replaced by a UUID");
	done(&r);
	go(&r, "GET", "/health", NULL);
	{
		char first[128];

		snprintf(first, sizeof(first), "%s", r.req.request_id);
		done(&r);
		go(&r, "GET", "/health", NULL);
		isnt_str(r.req.request_id, first, "each request gets its own id");
		done(&r);
	}
}

static void
test_forwarded(void)
{
	static const struct {
		const char	*remote, *xff, *want;
		const char	*what;
	} cases[] = {
		{ "10.0.0.5", "203.0.113.7", "203.0.113.7", "from a trusted proxy" },
		{ "198.51.100.1", "203.0.113.7", "198.51.100.1", "from an untrusted peer" },
		{ "10.0.0.5", "203.0.113.7, 10.0.0.2", "203.0.113.7",
		  "past a second trusted hop" },
		{ "10.0.0.5", "1.1.1.1, 203.0.113.7, 10.0.0.2", "203.0.113.7",
		  "the first untrusted from the right (spoofed left part ignored)" },
		{ "10.0.0.5", "10.0.0.3, 10.0.0.2", "10.0.0.3", "every hop trusted" },
		{ "10.0.0.5", "garbage", "10.0.0.5", "garbage: the peer" },
		{ "10.0.0.5", "1.1.1.1, garbage", "10.0.0.5", "garbage last: the peer" },
		{ "10.0.0.5", "203.0.113.7:4711", "10.0.0.5", "an address with a port" },
		{ "10.0.0.5", "", "10.0.0.5", "an empty header" },
		{ "10.0.0.5", " 2001:db8::7 ", "2001:db8::7", "IPv6 with spaces" },
		{ "10.0.0.5", "203.0.113.7,,10.0.0.2", "203.0.113.7", "an empty item" },
		{ "::ffff:10.0.0.5", "203.0.113.7", "203.0.113.7", "a v4-mapped peer" },
		{ "127.0.0.1", "203.0.113.7", "127.0.0.1", "loopback is not trusted here" },
	};
	struct run	r;
	char		xff[128], ra[64];
	size_t		i;

	app_setup("TRUSTED_PROXIES=10.0.0.0/8", NULL);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(ra, sizeof(ra), "REMOTE_ADDR=%s", cases[i].remote);
		snprintf(xff, sizeof(xff), "HTTP_X_FORWARDED_FOR=%s", cases[i].xff);
		go(&r, "GET", "/health", ra, xff, NULL);
		is_str(r.req.client_ip, cases[i].want, "X-Forwarded-For %s", cases[i].what);
		done(&r);
	}
	go(&r, "GET", "/health", "REMOTE_ADDR=not-an-ip", NULL);
	ok(!r.req.has_client_addr, "an unparsable REMOTE_ADDR: no client address");
	is_str(r.req.client_ip, "", "and no client_ip");
	done(&r);

	app_setup(NULL);
	go(&r, "GET", "/health", "REMOTE_ADDR=10.0.0.5",
	    "HTTP_X_FORWARDED_FOR=203.0.113.7", NULL);
	is_str(r.req.client_ip, "10.0.0.5", "no TRUSTED_PROXIES: X-Forwarded-For ignored");
	done(&r);
}

static void
test_metrics_auth(void)
{
	struct run	r;
	char		v[64];

	app_setup("METRICS_TOKEN=" TOKEN, NULL);
	go(&r, "GET", "/metrics", "REMOTE_ADDR=10.0.0.1", NULL);
	is_problem(&r, 401, "unauthorized", "/metrics from 10.0.0.1 without a token");
	is_str(header(&r, "WWW-Authenticate", v, sizeof(v)), "Bearer", "WWW-Authenticate");
	done(&r);
	go(&r, "GET", "/metrics", "REMOTE_ADDR=10.0.0.1",
	    "HTTP_AUTHORIZATION=Bearer " TOKEN, NULL);
	is_int(r.req.resp.status, 200, "/metrics with the token: 200");
	has_str(r.text, "\r\nContent-Type: text/plain; version=0.0.4", "Prometheus text");
	has_str(r.req.resp.body.data, "fastback_responders 8", "the responders gauge");
	has_str(r.req.resp.body.data, "# TYPE http_request_duration_seconds histogram",
	    "the histogram");
	done(&r);
	go(&r, "GET", "/metrics", "REMOTE_ADDR=10.0.0.1",
	    "HTTP_AUTHORIZATION=bearer " TOKEN, NULL);
	is_int(r.req.resp.status, 200, "the scheme is case-insensitive");
	done(&r);
	go(&r, "GET", "/metrics", "REMOTE_ADDR=10.0.0.1",
	    "HTTP_AUTHORIZATION=Bearer " TOKEN "x", NULL);
	is_int(r.req.resp.status, 401, "a longer token: 401");
	done(&r);
	go(&r, "GET", "/metrics", "REMOTE_ADDR=10.0.0.1",
	    "HTTP_AUTHORIZATION=Bearer metrics-token", NULL);
	is_int(r.req.resp.status, 401, "a prefix of the token: 401");
	done(&r);
	go(&r, "GET", "/metrics", "REMOTE_ADDR=10.0.0.1",
	    "HTTP_AUTHORIZATION=Basic " TOKEN, NULL);
	is_int(r.req.resp.status, 401, "another scheme: 401");
	done(&r);
	go(&r, "GET", "/metrics", "REMOTE_ADDR=10.0.0.1", "HTTP_AUTHORIZATION=Bearer ",
	    NULL);
	is_int(r.req.resp.status, 401, "an empty token: 401");
	done(&r);
	go(&r, "GET", "/metrics", "REMOTE_ADDR=127.0.0.1", NULL);
	is_int(r.req.resp.status, 200, "/metrics from 127.0.0.1: 200");
	done(&r);
	go(&r, "GET", "/metrics", "REMOTE_ADDR=::1", NULL);
	is_int(r.req.resp.status, 200, "/metrics from ::1: 200");
	done(&r);
	go(&r, "GET", "/metrics", NULL);
	is_int(r.req.resp.status, 401, "/metrics without REMOTE_ADDR: 401");
	done(&r);
	go(&r, "HEAD", "/metrics", "REMOTE_ADDR=10.0.0.1", NULL);
	is_int(r.req.resp.status, 401, "HEAD /metrics without a token: 401");
	done(&r);

	app_setup("TRUSTED_PROXIES=127.0.0.1", NULL);
	go(&r, "GET", "/metrics", "REMOTE_ADDR=127.0.0.1",
	    "HTTP_X_FORWARDED_FOR=203.0.113.9", NULL);
	is_int(r.req.resp.status, 401, "forwarded by a loopback proxy for a remote client");
	done(&r);
	go(&r, "GET", "/metrics", "REMOTE_ADDR=10.0.0.1", "HTTP_AUTHORIZATION=Bearer ",
	    NULL);
	is_int(r.req.resp.status, 401, "METRICS_TOKEN unset: no token works");
	done(&r);
}

/* OpenAPI 3.1 §4.8.10.1: operationId is unique among all operations. */
static bool
operation_ids_unique(json_t *paths)
{
	json_t		*seen = json_object(), *item, *op;
	const char	*path, *method, *id;
	bool		 unique = true;

	json_object_foreach(paths, path, item) {
		json_object_foreach(item, method, op) {
			id = jstr(op, "operationId");
			if (id == NULL || json_object_get(seen, id) != NULL) {
				diag("operationId %s of %s %s", id ? id : "(none)", method, path);
				unique = false;
			} else
				json_object_set_new(seen, id, json_true());
		}
	}
	json_decref(seen);
	return unique;
}

/* /.well-known/jwks.json with an Ed25519 key (RFC 8037 §2), and with a file
 * that is no such key. */
static void
test_jwks_key(void)
{
	struct run	 r;
	EVP_PKEY	*key;
	FILE		*f;
	char		 path[64] = "/tmp/fastback-test-key-XXXXXX", setting[96];
	unsigned char	 pub[32], dec[40];
	size_t		 publen = sizeof(pub), declen = 0;
	json_t		*k;
	const char	*x;
	int		 fd, saved;

	if ((key = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519")) == NULL ||
	    EVP_PKEY_get_raw_public_key(key, pub, &publen) != 1 ||
	    (fd = mkstemp(path)) < 0 || (f = fdopen(fd, "w")) == NULL)
		bail_out("cannot make an Ed25519 key");
	PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL);
	fclose(f);
	EVP_PKEY_free(key);
	snprintf(setting, sizeof(setting), "JWT_PRIVATE_KEY_FILE=%s", path);
	app_setup("JWT_SECRET=", setting, NULL);
	go(&r, "GET", "/.well-known/jwks.json", NULL);
	is_int(r.req.resp.status, 200, "jwks with an Ed25519 key: 200");
	is_int(json_array_size(json_object_get(r.json, "keys")), 1, "one key");
	k = json_array_get(json_object_get(r.json, "keys"), 0);
	is_str(jstr(k, "kty"), "OKP", "kty OKP");
	is_str(jstr(k, "crv"), "Ed25519", "crv Ed25519");
	is_str(jstr(k, "alg"), "EdDSA", "alg EdDSA");
	is_str(jstr(k, "use"), "sig", "use sig");
	ok(json_object_get(k, "d") == NULL, "no private part");
	x = jstr(k, "x");
	ok(x != NULL && strlen(x) == 43 &&
	    b64url_decode(x, strlen(x), dec, sizeof(dec), &declen) == FB_OK &&
	    declen == 32 && memcmp(dec, pub, 32) == 0, "x is the public key, base64url");
	done(&r);

	/* The key is read once per responder (a reload starts new ones), so
	 * the broken key goes into another file. */
	unlink(path);
	snprintf(path, sizeof(path), "/tmp/fastback-test-badkey-XXXXXX");
	if ((fd = mkstemp(path)) < 0 || (f = fdopen(fd, "w")) == NULL)
		bail_out("cannot write a file");
	fputs("-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----\n", f);
	fclose(f);
	/* A key that does not load stops start-up (exit 2), never a 500 later. */
	{
		struct app	 probe;
		char		*errs = NULL;
		size_t		 elen;
		FILE		*ef = open_memstream(&errs, &elen);

		snprintf(setting, sizeof(setting), "JWT_PRIVATE_KEY_FILE=%s", path);
		app_setup("JWT_SECRET=", setting, NULL);
		memset(&probe, 0, sizeof(probe));
		probe.cfg = app.cfg;
		fflush(stderr);
		saved = dup(2);
		fd = open("/dev/null", O_WRONLY);
		dup2(fd, 2);
		close(fd);
		ok(app_load_keys(&probe, ef) != 0, "a file that is not a key is refused at start");
		dup2(saved, 2);
		close(saved);
		fclose(ef);
		ok(errs != NULL && strstr(errs, "JWT_PRIVATE_KEY_FILE") != NULL,
		    "the message names the variable");
		free(errs);
	}
	unlink(path);
}

static void
test_docs(void)
{
	struct run	 r;
	json_t		*paths, *item;
	size_t		 i;
	bool		 all = true;

	app_setup(NULL);
	go(&r, "GET", "/.well-known/jwks.json", NULL);
	is_int(r.req.resp.status, 200, "jwks: 200");
	is_str(r.req.resp.body.data, "{\"keys\":[]}", "jwks: no keys with HS256");
	has_str(r.text, "\r\nCache-Control: public, max-age=300\r\n", "jwks: cacheable");
	lacks_str(r.text, "no-store", "jwks: no no-store");
	done(&r);

	go(&r, "GET", "/api/openapi.json", NULL);
	is_int(r.req.resp.status, 200, "openapi: 200");
	if (ok(r.json != NULL, "openapi: parses as JSON")) {
		is_str(jstr(r.json, "openapi"), "3.1.0", "openapi: 3.1.0");
		paths = json_object_get(r.json, "paths");
		for (i = 0; i < routes_count; i++) {
			item = json_object_get(paths, routes[i].pattern);
			if (item == NULL || ((routes[i].methods & M_GET) &&
			    json_object_get(item, "get") == NULL)) {
				diag("no path for %s", routes[i].pattern);
				all = false;
			}
		}
		ok(all, "openapi: a path for every route");
		{
			size_t	distinct = 0, k;

			/* Routes that share a pattern (one per method) share a path. */
			for (i = 0; i < routes_count; i++) {
				for (k = 0; k < i; k++)
					if (strcmp(routes[k].pattern, routes[i].pattern) == 0)
						break;
				distinct += k == i;
			}
			is_int(json_object_size(paths), distinct, "openapi: no other path");
		}
		ok(json_object_get(json_object_get(json_object_get(paths, "/metrics"), "get"),
		    "security") != NULL, "openapi: /metrics declares its bearer security");
		is_str(jstr(json_object_get(json_object_get(paths, "/health"), "get"),
		    "operationId"), "get_health", "openapi: operationId");
		ok(json_object_get(json_object_get(json_object_get(r.json, "components"),
		    "schemas"), "Problem") != NULL, "openapi: the Problem schema");
		ok(operation_ids_unique(paths), "openapi: operationIds are unique");
	}
	done(&r);

	go(&r, "GET", "/api/docs", NULL);
	is_int(r.req.resp.status, 200, "docs: 200");
	has_str(r.text, "\r\nContent-Type: text/html; charset=utf-8\r\n", "docs: HTML");
	has_str(r.text, "script-src 'self'", "docs: the page CSP");
	has_str(r.req.resp.body.data, "<script src=\"docs.js\">", "docs: loads docs.js");
	done(&r);
	go(&r, "GET", "/api/docs.js", NULL);
	is_int(r.req.resp.status, 200, "docs.js: 200");
	has_str(r.text, "\r\nContent-Type: text/javascript; charset=utf-8\r\n",
	    "docs.js: JavaScript");
	has_str(r.text, "default-src 'none'; frame-ancestors 'none'", "docs.js: API CSP");
	done(&r);
}

/* request_read_body() with CONTENT_LENGTH (or none) and a test body. */
static bool
read_body(struct request *req, char **env, const char *body, size_t len)
{
	request_init(req, &app, env, NULL);
	req->test_body = body;
	req->test_body_len = len;
	request_identify(req);
	return request_read_body(req);
}

static void
test_body(void)
{
	struct request	 req;
	char		*big, *env1[] = { "REQUEST_METHOD=POST", NULL, NULL };
	char		 cl[64];
	json_t		*j;

	app_setup("MAX_BODY_BYTES=1024", NULL);
	big = malloc(4096);
	memset(big, '{', 4096);

	env1[1] = "CONTENT_LENGTH=2000";
	ok(!read_body(&req, env1, big, 2000), "Content-Length over MAX_BODY_BYTES");
	is_int(req.resp.status, 413, "413");
	j = json_loadb(req.resp.body.data, req.resp.body.len, 0, NULL);
	is_str(jstr(j, "code"), "payload_too_large", "payload_too_large");
	json_decref(j);
	is_int(req.body.len, 0, "nothing read");
	request_free(&req);

	env1[1] = NULL;
	ok(!read_body(&req, env1, big, 2000), "no Content-Length, 2000 bytes");
	is_int(req.resp.status, 413, "413 while reading");
	request_free(&req);

	env1[1] = "CONTENT_LENGTH=1024";
	ok(read_body(&req, env1, big, 1024), "exactly MAX_BODY_BYTES");
	is_int(req.body.len, 1024, "1024 bytes read");
	is_int(req.resp.status, 0, "no answer yet");
	request_free(&req);

	env1[1] = "CONTENT_LENGTH=1025";
	ok(!read_body(&req, env1, big, 1025), "MAX_BODY_BYTES + 1");
	is_int(req.resp.status, 413, "413");
	request_free(&req);

	env1[1] = NULL;
	ok(read_body(&req, env1, big, 1024), "no Content-Length, 1024 bytes");
	is_int(req.body.len, 1024, "read to the end");
	request_free(&req);

	env1[1] = "CONTENT_LENGTH=10";
	ok(!read_body(&req, env1, "short", 5), "a body shorter than Content-Length");
	is_int(req.resp.status, 400, "400");
	request_free(&req);

	env1[1] = "CONTENT_LENGTH=5";
	ok(read_body(&req, env1, "0123456789", 10), "a body longer than Content-Length");
	is_int(req.body.len, 5, "only Content-Length bytes are read");
	is_str(buf_str(&req.body), "01234", "the first five");
	request_free(&req);

	env1[1] = "CONTENT_LENGTH=0";
	ok(read_body(&req, env1, "ignored", 7), "Content-Length: 0");
	is_int(req.body.len, 0, "nothing read");
	request_free(&req);

	env1[1] = "CONTENT_LENGTH=";
	ok(read_body(&req, env1, "abc", 3), "an empty CONTENT_LENGTH is no length");
	is_int(req.body.len, 3, "read to the end");
	request_free(&req);

	env1[1] = "CONTENT_LENGTH=7";
	ok(read_body(&req, env1, "a\0b\0c\0d", 7), "NUL bytes are read as bytes");
	is_int(req.body.len, 7, "seven bytes");
	request_free(&req);

	{
		static const char *const bad[] = {
			"abc", "-1", " 5", "+5", "5 ", "1e3", "0x10", "5a",
			"99999999999999999999999",
		};
		size_t	i;

		for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
			snprintf(cl, sizeof(cl), "CONTENT_LENGTH=%s", bad[i]);
			env1[1] = cl;
			ok(!read_body(&req, env1, "12345", 5), "Content-Length \"%s\" refused",
			    bad[i]);
			is_int(req.resp.status, 400, "Content-Length \"%s\": 400", bad[i]);
			request_free(&req);
		}
	}
	env1[1] = "CONTENT_LENGTH=18446744073709551615";
	ok(!read_body(&req, env1, "12345", 5), "Content-Length of 2^64-1");
	is_int(req.resp.status, 413, "413, not a wrap-around");
	request_free(&req);
	free(big);
}

static void
test_validation_answer(void)
{
	static const struct field inputs[] = {
		{ "email",	FIELD_EMAIL,	true,	0, 0 },
		{ "name",	FIELD_STRING,	true,	1, 100 },
		FIELD_END
	};
	struct request	 req;
	char		*env[] = { "REQUEST_METHOD=POST", "HTTP_X_REQUEST_ID=val-1", NULL };
	json_t		*body, *problem = NULL, *j;
	char		*text;

	app_setup(NULL);
	request_init(&req, &app, env, NULL);
	request_identify(&req);
	body = json_loads("{\"email\":\"nope\",\"extra\":1}", 0, NULL);
	is_int(validate_object(body, inputs, &problem), 3, "three declared-input failures");
	json_decref(body);
	resp_problem_json(&req, problem);
	is_int(req.resp.status, 422, "answered 422");
	text = response_format(&req);
	has_str(text, "Status: 422 Unprocessable Content\r\n", "the status line");
	has_str(text, "\r\nContent-Type: application/problem+json\r\n", "problem+json");
	j = json_loadb(req.resp.body.data, req.resp.body.len, 0, NULL);
	is_str(jstr(j, "code"), "validation_failed", "validation_failed");
	is_str(jstr(j, "detail"), "3 fields are invalid", "detail");
	is_str(jstr(j, "request_id"), "val-1", "request_id");
	is_int(json_array_size(json_object_get(j, "errors")), 3, "errors listed");
	json_decref(j);
	free(text);
	request_free(&req);
}

/* The parser settings dispatch.c uses for JSON bodies (json_loadb with
 * JSON_REJECT_DUPLICATES): what the invalid_json stage relies on. */
static void
test_json_parser(void)
{
	json_error_t	 err;
	json_t		*j;
	char		*deep;
	size_t		 n = 100000;

	j = json_loadb("{\"a\":1,\"a\":2}", 13, JSON_REJECT_DUPLICATES, &err);
	ok(j == NULL, "duplicate keys are refused");
	json_decref(j);
	j = json_loadb("{\"a\":\"x\\u0000y\"}", 16, JSON_REJECT_DUPLICATES, &err);
	ok(j == NULL, "an escaped NUL is refused");
	json_decref(j);
	j = json_loadb("{\"a\":1}\0", 8, JSON_REJECT_DUPLICATES, &err);
	ok(j == NULL, "a raw NUL byte is refused");
	json_decref(j);
	j = json_loadb("{\"a\":\"\xc3\x28\"}", 10, JSON_REJECT_DUPLICATES, &err);
	ok(j == NULL, "invalid UTF-8 in a string is refused");
	json_decref(j);
	j = json_loadb("{\"a\":\"\\ud800\"}", 14, JSON_REJECT_DUPLICATES, &err);
	ok(j == NULL, "a lone surrogate escape is refused");
	json_decref(j);
	j = json_loadb("{\"a\":1} x", 9, JSON_REJECT_DUPLICATES, &err);
	ok(j == NULL, "trailing garbage is refused");
	json_decref(j);
	j = json_loadb("[1]", 3, JSON_REJECT_DUPLICATES, &err);
	ok(j != NULL && !json_is_object(j), "an array parses (dispatch refuses non-objects)");
	json_decref(j);
	deep = malloc(2 * n);
	memset(deep, '[', n);
	memset(deep + n, ']', n);
	j = json_loadb(deep, 2 * n, JSON_REJECT_DUPLICATES, &err);
	ok(j == NULL, "100000-deep nesting is refused without crashing");
	json_decref(j);
	free(deep);
}

/* dispatch_finish(): the access line and the metrics of a request. */
static void
test_finish(void)
{
	struct run	 r;
	struct buf	 out = BUF_INIT;
	char		 path[] = "/tmp/fastback-test-dispatch-XXXXXX";
	int		 fd, saved;
	FILE		*f;

	app_setup(NULL);
	if ((fd = mkstemp(path)) < 0)
		bail_out("mkstemp");
	fflush(stderr);
	saved = dup(2);
	dup2(fd, 2);
	log_setup("test_dispatch", FBLOG_INFO);
	go(&r, "GET", "/health?token=SECRET-Q", "QUERY_STRING=token=SECRET-Q",
	    "HTTP_AUTHORIZATION=Bearer SECRET-A", "REMOTE_ADDR=192.0.2.44", NULL);
	dispatch_finish(&r.req, (long)r.req.resp.body.len);
	done(&r);
	go(&r, "GET", "/\xc3(", NULL);
	dispatch_finish(&r.req, (long)r.req.resp.body.len);
	done(&r);
	go(&r, "GET", "/nope", NULL);
	dispatch_finish(&r.req, -1);
	done(&r);
	go(&r, "GET", "/q\"x\\y\x01z", NULL);
	dispatch_finish(&r.req, (long)r.req.resp.body.len);
	done(&r);
	log_setup("test_dispatch", FBLOG_ERROR);
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	close(fd);

	if ((f = fopen(path, "r")) != NULL) {
		char	 line[4096];
		json_t	*j;
		int	 lines = 0, valid = 0;

		while (fgets(line, sizeof(line), f) != NULL) {
			lines++;
			if ((j = json_loads(line, 0, NULL)) != NULL) {
				valid++;
				if (lines == 1) {
					is_str(jstr(j, "type"), "access", "an access line");
					is_str(jstr(j, "route"), "/health", "with the route");
					is_str(jstr(j, "path"), "/health", "the path, no query");
					is_int(json_integer_value(json_object_get(j, "status")), 200,
					    "the status");
					is_str(jstr(j, "ip"), "192.0.2.44", "the client address");
					ok(jstr(j, "request_id") != NULL, "the request id");
				}
				if (lines == 4) {
					is_int(json_integer_value(json_object_get(j, "status")),
					    400, "a raw control character: 400");
					is_str(jstr(j, "path"), "/q\"x\\y\x01z",
					    "quote, backslash and control escaped in the log");
				}
				json_decref(j);
			}
			buf_puts(&out, line);
		}
		fclose(f);
		is_int(lines, 4, "four access lines");
		is_int(valid, 4, "each is one JSON object, even with a non-UTF-8 path");
		lacks_str(buf_str(&out), "SECRET-Q", "no query string in the log");
		lacks_str(buf_str(&out), "SECRET-A", "no Authorization in the log");
		buf_free(&out);
	} else
		ok(0, "read the log back");
	unlink(path);

	{
		static const char *labels[METRICS_MAX_ROUTES];
		size_t	k;

		for (k = 0; k <= routes_count; k++)
			labels[k] = route_label(k);
		metrics_render(&out, labels, routes_count + 1);
	}
	has_str(buf_str(&out), "http_requests_total{method=\"GET\",route=\"/health\","
	    "status=\"200\"} 1\n", "the request is counted");
	has_str(buf_str(&out), "http_requests_total{method=\"GET\",route=\"unmatched\","
	    "status=\"404\"} 1\n", "a 404 counts as unmatched");
	has_str(buf_str(&out), "http_request_duration_seconds_count{route=\"/health\"} 1\n",
	    "and timed");
	has_str(buf_str(&out), "http_request_duration_seconds_count{route=\"unmatched\"} 3\n",
	    "unmatched requests are timed under the id past the table");
	buf_free(&out);
}

/* ---- the JSON body stages, through a route that takes one --------------- */

static int echo_calls;

/* Answers the parsed body back, so the test sees what the handler got. */
static void
echo_handler(struct request *req)
{
	echo_calls++;
	resp_json(req, 200, json_incref(req->json));
}

static const struct field echo_inputs[] = {
	{ "name", FIELD_STRING, true, 1, 20 },
	{ "age", FIELD_INT, false, 0, 150 },
	{ "email", FIELD_EMAIL, false, 0, 0 },
	FIELD_END
};

static const struct route json_routes[] = {
	{ M_POST | M_PUT, "/things", echo_handler, AUTH_NONE, echo_inputs,
	  ROUTE_JSON_BODY, "echo" },
	{ M_GET, "/things/{id}", echo_handler, AUTH_NONE, NULL, 0, "get" },
};

/* POSTs body (len bytes) to /things with ctype (or none). */
static void
post(struct run *r, const char *ctype, const char *body, size_t len)
{
	char	 cl[48];
	size_t	 n = 0;

	memset(r, 0, sizeof(*r));
	r->env[n++] = strdup("REQUEST_METHOD=POST");
	r->env[n++] = strdup("REQUEST_URI=/things");
	snprintf(cl, sizeof(cl), "CONTENT_LENGTH=%zu", len);
	r->env[n++] = strdup(cl);
	if (ctype != NULL && asprintf(&r->env[n++], "CONTENT_TYPE=%s", ctype) < 0)
		bail_out("asprintf");
	r->env[n] = NULL;
	for (size_t i = 0; i < n; i++)
		if (r->env[i] == NULL)
			bail_out("strdup");
	request_init(&r->req, &app, r->env, NULL);
	r->req.test_body = body;
	r->req.test_body_len = len;
	dispatch_table(&r->req, json_routes, sizeof(json_routes) / sizeof(json_routes[0]));
	r->text = response_format(&r->req);
	if (r->req.resp.body.len > 0)
		r->json = json_loadb(r->req.resp.body.data, r->req.resp.body.len, 0, NULL);
}

static void
post_str(struct run *r, const char *ctype, const char *body)
{
	post(r, ctype, body, strlen(body));
}

static void
test_json_stages(void)
{
	struct run	 r;
	json_t		*errs;
	char		*deep;
	size_t		 i, depth = 100000;
	static const char nul_body[] = "{\"name\":\"a\0b\"}";

	app_setup(NULL);
	echo_calls = 0;

	post_str(&r, "application/json", "{\"name\":\"Zoë\",\"age\":30}");
	is_int(r.req.resp.status, 200, "a valid body reaches the handler");
	is_str(jstr(r.json, "name"), "Zoë", "typed value seen by the handler");
	done(&r);
	post_str(&r, "application/json; charset=utf-8", "{\"name\":\"x\"}");
	is_int(r.req.resp.status, 200, "charset=utf-8 is fine");
	done(&r);
	post_str(&r, "Application/JSON ; charset=\"UTF-8\"", "{\"name\":\"x\"}");
	is_int(r.req.resp.status, 200, "media type and charset are case-insensitive");
	done(&r);

	post_str(&r, "text/plain", "{\"name\":\"x\"}");
	is_problem(&r, 415, "unsupported_media_type", "text/plain body");
	done(&r);
	post_str(&r, NULL, "{\"name\":\"x\"}");
	is_problem(&r, 415, "unsupported_media_type", "no Content-Type");
	done(&r);
	post_str(&r, "application/json; charset=latin1", "{\"name\":\"x\"}");
	is_problem(&r, 415, "unsupported_media_type", "another charset");
	done(&r);
	post_str(&r, "application/jsonx", "{\"name\":\"x\"}");
	is_problem(&r, 415, "unsupported_media_type", "application/jsonx");
	done(&r);

	post_str(&r, "application/json", "{\"name\":");
	is_problem(&r, 400, "invalid_json", "truncated JSON");
	ok(strstr(r.text, "line 1") != NULL, "the detail gives the position");
	done(&r);
	post_str(&r, "application/json", "{\"name\":\"secret-pass\" oops}");
	is_problem(&r, 400, "invalid_json", "garbage after a value");
	ok(strstr(r.text, "secret-pass") == NULL && strstr(r.text, "oops") == NULL,
	    "the answer does not quote the body");
	done(&r);
	post(&r, "application/json", nul_body, sizeof(nul_body) - 1);
	is_problem(&r, 400, "invalid_json", "a raw NUL byte");
	done(&r);
	post_str(&r, "application/json", "{\"name\":\"a\\u0000b\"}");
	is_problem(&r, 400, "invalid_json", "an escaped NUL");
	done(&r);
	post_str(&r, "application/json", "{\"name\":\"\xc3\x28\"}");
	is_problem(&r, 400, "invalid_json", "invalid UTF-8 in a string");
	done(&r);
	post_str(&r, "application/json", "{\"name\":\"\\ud800\"}");
	is_problem(&r, 400, "invalid_json", "a lone surrogate");
	done(&r);
	post_str(&r, "application/json", "{\"name\":\"a\",\"name\":\"b\"}");
	is_problem(&r, 400, "invalid_json", "duplicate keys");
	done(&r);
	post_str(&r, "application/json", "[\"name\"]");
	is_problem(&r, 400, "invalid_json", "an array, not an object");
	done(&r);
	post_str(&r, "application/json", "\"name\"");
	is_problem(&r, 400, "invalid_json", "a bare string");
	done(&r);
	post_str(&r, "application/json", "{\"age\":123456789012345678901234567890}");
	is_problem(&r, 400, "invalid_json", "an integer too big");
	done(&r);

	if ((deep = malloc(depth * 2 + 16)) == NULL)
		bail_out("malloc");
	strcpy(deep, "{\"name\":");
	for (i = 0; i < depth; i++)
		deep[8 + i] = '[';
	for (i = 0; i < depth; i++)
		deep[8 + depth + i] = ']';
	strcpy(deep + 8 + 2 * depth, "}");
	post_str(&r, "application/json", deep);
	is_problem(&r, 400, "invalid_json", "100000-deep nesting");
	done(&r);
	free(deep);

	post_str(&r, "application/json", "{\"name\":42,\"age\":\"x\",\"email\":\"nope\","
	    "\"extra\":true}");
	is_problem(&r, 422, "validation_failed", "every field wrong");
	errs = json_object_get(r.json, "errors");
	is_int(json_array_size(errs), 4, "four field errors in one answer");
	is_str(jstr(r.json, "detail"), "4 fields are invalid", "detail counts them");
	for (i = 0; i < json_array_size(errs); i++)
		ok(jstr(json_array_get(errs, i), "field") != NULL &&
		    jstr(json_array_get(errs, i), "message") != NULL,
		    "error %zu names its field and says why", i);
	done(&r);
	post_str(&r, "application/json", "{}");
	is_problem(&r, 422, "validation_failed", "a required field missing");
	is_str(jstr(json_array_get(json_object_get(r.json, "errors"), 0), "field"), "name",
	    "names the missing field");
	done(&r);
	post(&r, NULL, "", 0);
	is_problem(&r, 422, "validation_failed", "no body at all: as {}");
	done(&r);
	post_str(&r, "application/json", "{\"name\":\"123456789012345678901\"}");
	is_problem(&r, 422, "validation_failed", "a string over its length");
	done(&r);
	post_str(&r, "application/json", "{\"name\":\"a\\u0007b\"}");
	is_problem(&r, 422, "validation_failed", "a control character");
	done(&r);

	is_int(echo_calls, 3, "the handler ran for the valid bodies only");
}

int
main(void)
{
	log_setup("test_dispatch", FBLOG_ERROR);
	if (metrics_init() != FB_OK)
		bail_out("metrics_init");
	test_health();
	test_not_found();
	test_methods();
	test_cors();
	test_mount_prefix();
	test_bad_targets();
	test_headers_size();
	test_request_id();
	test_forwarded();
	test_metrics_auth();
	test_docs();
	test_jwks_key();
	test_body();
	test_validation_answer();
	test_json_parser();
	test_json_stages();
	test_finish();
	db_close(&app.db);
	app_free_keys(&app);
	if (app_loaded)
		config_free(&app.cfg);
	app_loaded = false;
	return done_testing();
}
