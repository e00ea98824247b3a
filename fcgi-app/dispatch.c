#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>

#include <openssl/evp.h>

#include "dispatch.h"
#include "idempotency.h"
#include "log.h"
#include "metrics.h"
#include "problem.h"
#include "routes.h"
#include "session.h"

/* Headers a browser may send cross-origin (preflight answer). */
#define CORS_ALLOW_HEADERS "Authorization, Content-Type, Idempotency-Key, " \
	"If-None-Match, X-Request-Id"
#define CORS_EXPOSE_HEADERS "X-Request-Id, Retry-After, RateLimit-Limit, " \
	"RateLimit-Remaining, RateLimit-Reset, ETag, Location, Content-Disposition"

/* 431 when any header, or all of them, are over their caps. */
static bool
headers_fit(struct request *req)
{
	size_t	 total = 0, len;
	char	**p;

	for (p = req->envp; p != NULL && *p != NULL; p++) {
		if (strncmp(*p, "HTTP_", 5) != 0)
			continue;
		len = strlen(*p);
		total += len;
		if (len > REQUEST_HEADER_MAX || total > REQUEST_HEADERS_MAX) {
			resp_problem(req, 431, "headers_too_large",
			    "a request header is too large");
			return false;
		}
	}
	return true;
}

/* CORS for every answer, errors included, so a browser on an allowed origin
 * can read them. */
static void
cors(struct request *req)
{
	const char	*origin = request_param(req, "HTTP_ORIGIN");

	resp_header(req, "Vary", "Origin");
	if (origin == NULL || !config_cors_allows(&req->app->cfg, origin))
		return;
	req->cors_allowed = true;
	resp_header(req, "Access-Control-Allow-Origin", origin);
	if (req->method != M_OPTIONS ||
	    request_param(req, "HTTP_ACCESS_CONTROL_REQUEST_METHOD") == NULL)
		resp_header(req, "Access-Control-Expose-Headers", CORS_EXPOSE_HEADERS);
}

/* The preflight part, once the path is known to exist. */
static void
cors_preflight(struct request *req, unsigned allow)
{
	char	methods[96];

	if (!req->cors_allowed ||
	    request_param(req, "HTTP_ACCESS_CONTROL_REQUEST_METHOD") == NULL)
		return;
	methods_format(allow, methods, sizeof(methods));
	resp_header(req, "Access-Control-Allow-Methods", methods);
	resp_header(req, "Access-Control-Allow-Headers", CORS_ALLOW_HEADERS);
	resp_header(req, "Access-Control-Max-Age", "600");
}

/* application/json, optionally with charset=utf-8 (RFC 8259 §8.1). */
static bool
is_json_type(const char *ct)
{
	const char	*p, *v;
	size_t		 len, plen, vlen;

	if (ct == NULL)
		return false;
	len = strcspn(ct, ";");
	while (len > 0 && ct[len - 1] == ' ')
		len--;
	if (len != 16 || strncasecmp(ct, "application/json", 16) != 0)
		return false;
	for (p = ct + strcspn(ct, ";"); *p == ';'; p += plen) {
		p++;
		while (*p == ' ')
			p++;
		plen = strcspn(p, ";");
		if (plen < 8 || strncasecmp(p, "charset=", 8) != 0)
			continue;
		v = p + 8;
		vlen = plen - 8;
		while (vlen > 0 && v[vlen - 1] == ' ')
			vlen--;
		if (vlen >= 2 && v[0] == '"' && v[vlen - 1] == '"') {
			v++;
			vlen -= 2;
		}
		if (vlen != 5 || strncasecmp(v, "utf-8", 5) != 0)
			return false;
	}
	return true;
}

static bool
parse_json_body(struct request *req)
{
	const struct route *r = req->route;
	json_error_t	 err;
	json_t		*problem = NULL;
	char		 detail[128];

	if (req->body.len > 0 && !is_json_type(request_param(req, "CONTENT_TYPE"))) {
		resp_problem(req, 415, "unsupported_media_type",
		    "send the body as application/json");
		return false;
	}
	if (req->body.len == 0) {
		req->json = json_object();
	} else {
		/* Duplicate keys are refused so no two parsers can disagree. */
		req->json = json_loadb(req->body.data, req->body.len,
		    JSON_REJECT_DUPLICATES, &err);
		if (req->json == NULL) {
			/* jansson's text can quote the input: give the position only. */
			snprintf(detail, sizeof(detail), "the body is not valid JSON "
			    "(line %d, column %d)", err.line, err.column);
			resp_problem(req, 400, "invalid_json", detail);
			return false;
		}
	}
	if (req->json == NULL) {
		resp_error(req, FB_ERR_NOMEM);
		return false;
	}
	if (!json_is_object(req->json)) {
		resp_problem(req, 400, "invalid_json", "the body must be a JSON object");
		return false;
	}
	if (r->inputs != NULL && validate_object(req->json, r->inputs, &problem) > 0) {
		resp_problem_json(req, problem);
		return false;
	}
	return true;
}

/* api.md's per-IP tiers: general (RATE_LIMIT_GENERAL_IP a minute) and, for
 * the sign-in routes, auth (RATE_LIMIT_AUTH_IP a minute). */
static bool
ip_limits(struct request *req)
{
	const struct config *c = &req->app->cfg;
	char	key[96];

	if ((req->route->flags & ROUTE_NO_LIMIT) || req->client_ip[0] == '\0')
		return true;
	snprintf(key, sizeof(key), "gen:ip:%s", req->client_ip);
	if (!limit_hit(req, key, c->rl_general_ip, 60))
		return false;
	if (req->route->flags & ROUTE_AUTH_LIMIT) {
		snprintf(key, sizeof(key), "auth:ip:%s", req->client_ip);
		return limit_hit(req, key, c->rl_auth_ip, 60);
	}
	return true;
}

static bool
authorised(struct request *req)
{
	const char	*auth, *token;
	size_t		 len;

	switch (req->route->auth) {
	case AUTH_NONE:
		return true;
	case AUTH_METRICS:
		token = req->app->cfg.metrics_token;
		auth = request_param(req, "HTTP_AUTHORIZATION");
		if (token != NULL && auth != NULL && strncasecmp(auth, "Bearer ", 7) == 0) {
			len = strlen(token);
			if (strlen(auth + 7) == len && CRYPTO_memcmp(auth + 7, token, len) == 0)
				return true;
		}
		if (req->has_client_addr && ipaddr_is_loopback(&req->client_addr))
			return true;
		resp_header(req, "WWW-Authenticate", "Bearer");
		resp_problem(req, 401, "unauthorized",
		    "send METRICS_TOKEN as a bearer token, or ask from loopback");
		return false;
	case AUTH_TOKEN:
		if (!auth_token(req))
			return false;
		if (!(req->route->flags & ROUTE_NO_LIMIT)) {
			char key[80];
			snprintf(key, sizeof(key), "gen:user:%s", req->user.id);
			return limit_hit(req, key, req->app->cfg.rl_general_user, 60);
		}
		return true;
	case AUTH_OPTIONAL:
		/* Web servers may pass an absent header as an empty one. */
		auth = request_param(req, "HTTP_AUTHORIZATION");
		if (auth == NULL || *auth == '\0')
			return true;
		/* FALLTHROUGH */
	case AUTH_USER:
	case AUTH_ADMIN:
		if (!auth_authenticate(req))
			return false;
		if (req->route->auth == AUTH_ADMIN && strcmp(req->user.role, "admin") != 0) {
			resp_problem(req, 403, "forbidden", "this needs an administrator");
			return false;
		}
		/* api.md: 600 requests a minute per user. */
		if (!(req->route->flags & ROUTE_NO_LIMIT)) {
			char key[80];
			snprintf(key, sizeof(key), "gen:user:%s", req->user.id);
			return limit_hit(req, key, req->app->cfg.rl_general_user, 60);
		}
		return true;
	}
	return false;
}

/* SHA-256 of what makes two requests "the same": method, route, body. */
static void
request_hash(struct request *req, unsigned char out[32])
{
	EVP_MD_CTX	*c = EVP_MD_CTX_new();
	unsigned int	 n = 0;

	memset(out, 0, 32);
	if (c == NULL)
		return;
	if (EVP_DigestInit_ex(c, EVP_sha256(), NULL) != 1 ||
	    EVP_DigestUpdate(c, req->method_name, strlen(req->method_name)) != 1 ||
	    EVP_DigestUpdate(c, "\n", 1) != 1 ||
	    EVP_DigestUpdate(c, req->route->pattern, strlen(req->route->pattern)) != 1 ||
	    EVP_DigestUpdate(c, "\n", 1) != 1 ||
	    EVP_DigestUpdate(c, buf_str(&req->body), req->body.len) != 1 ||
	    EVP_DigestFinal_ex(c, out, &n) != 1)
		memset(out, 0, 32);
	EVP_MD_CTX_free(c);
}

/* The handler under an Idempotency-Key (api.md Conventions): the first
 * answer is kept and replayed; another body with the key is refused. */
static void
run_idempotent(struct request *req)
{
	const char		*key = request_param(req, "HTTP_IDEMPOTENCY_KEY");
	unsigned char		 hash[32];
	struct idem_answer	 a;
	enum idem_state		 st;
	enum fb_err		 e;

	if (!idem_key_valid(key)) {
		resp_problem(req, 400, "bad_request",
		    "Idempotency-Key must be 1 to 255 printable ASCII characters");
		return;
	}
	request_hash(req, hash);
	e = idem_begin(&req->app->db, req->user.id, key, hash, &st, &a);
	if (e == FB_ERR_TIMEOUT) {
		resp_problem(req, 409, "conflict",
		    "a request with this Idempotency-Key is still running");
		return;
	}
	if (e != FB_OK) {
		resp_error(req, e);
		return;
	}
	switch (st) {
	case IDEM_MISMATCH:
		resp_problem(req, 422, "idempotency_key_reused",
		    "this Idempotency-Key was used with another request body");
		return;
	case IDEM_REPLAY:
		resp_text(req, a.status, a.content_type != NULL &&
		    strcmp(a.content_type, "application/problem+json") == 0 ?
		    "application/problem+json" : "application/json", a.body != NULL ? a.body : "",
		    a.len);
		resp_header(req, "Idempotent-Replayed", "true");
		idem_answer_free(&a);
		return;
	case IDEM_OWNER:
		break;
	}
	req->route->handler(req);
	idem_finish(&req->app->db, req->user.id, key, req->resp.status, req->resp.content_type,
	    buf_str(&req->resp.body), req->resp.body.len);
}

void
dispatch(struct request *req)
{
	dispatch_table(req, routes, routes_count);
}

void
dispatch_table(struct request *req, const struct route *table, size_t n)
{
	enum route_result rr;
	unsigned	 allow = 0;
	size_t		 idx = 0;
	char		 methods[96];

	request_identify(req);
	cors(req);
	if (!headers_fit(req) || !request_parse_target(req))
		return;
	rr = router_match(table, n, req->method ? req->method : M_GET,
	    req->segs, req->nsegs, &idx, req->params, &req->nparams, &allow);
	if (rr == ROUTE_NO_PATH) {
		resp_problem(req, 404, "not_found", NULL);
		return;
	}
	if (req->method == M_OPTIONS) {
		cors_preflight(req, allow);
		methods_format(allow, methods, sizeof(methods));
		resp_header(req, "Allow", methods);
		resp_empty(req, 204);
		return;
	}
	if (rr == ROUTE_NO_METHOD || req->method == 0) {
		methods_format(allow, methods, sizeof(methods));
		resp_header(req, "Allow", methods);
		resp_problem(req, 405, "method_not_allowed", NULL);
		return;
	}
	req->route = &table[idx];
	req->route_id = idx;
	if (!ip_limits(req))
		return;
	if (req->route->flags & (ROUTE_JSON_BODY | ROUTE_RAW_BODY)) {
		if (!request_read_body(req))
			return;
		if ((req->route->flags & ROUTE_JSON_BODY) && !parse_json_body(req))
			return;
	}
	if (!authorised(req))
		return;
	if ((req->route->flags & ROUTE_IDEMPOTENT) &&
	    request_param(req, "HTTP_IDEMPOTENCY_KEY") != NULL) {
		run_idempotent(req);
		return;
	}
	req->route->handler(req);
}

void
dispatch_finish(struct request *req, long bytes)
{
	static struct buf line;		/* reused: the access log allocates nothing */
	struct timespec	 now;
	double		 secs;
	const char	*route = req->route != NULL ? req->route->pattern : NULL;
	const char	*path = req->path;

	/* A path that is not UTF-8 cannot go into a JSON line. */
	if (path != NULL && utf8_length(path, strlen(path)) < 0)
		path = NULL;

	clock_gettime(CLOCK_MONOTONIC, &now);
	secs = (double)(now.tv_sec - req->started.tv_sec) +
	    (double)(now.tv_nsec - req->started.tv_nsec) / 1e9;
	metrics_http(req->route != NULL ? (unsigned)req->route_id : (unsigned)routes_count,
	    route != NULL ? route : "unmatched",
	    req->method ? method_name(req->method) : "OTHER", req->resp.status, secs);
	/* No query string, no headers, no body: they can carry secrets. */
	if (!log_enabled(req->resp.status >= 500 ? FBLOG_ERROR : FBLOG_INFO))
		return;
	log_begin(&line, req->resp.status >= 500 ? FBLOG_ERROR : FBLOG_INFO);
	log_add_str(&line, "type", "access");
	log_add_str(&line, "method", req->method ? method_name(req->method) : "OTHER");
	log_add_str(&line, "route", route);
	log_add_str(&line, "path", path);
	log_add_int(&line, "status", req->resp.status);
	log_add_num(&line, "duration_ms", secs * 1e3);
	log_add_int(&line, "bytes", bytes > 0 ? bytes : 0);
	if (req->user_id[0] != '\0')
		log_add_str(&line, "user_id", req->user_id);
	log_add_str(&line, "request_id", req->request_id);
	log_add_str(&line, "ip", req->client_ip[0] ? req->client_ip : NULL);
	log_end(&line);
}
