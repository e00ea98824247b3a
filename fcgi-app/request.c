#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "rand.h"
#include "request.h"
#include "validate.h"

void
request_init(struct request *req, struct app *app, char **envp, FCGX_Stream *in)
{
	const char	*m;

	memset(req, 0, sizeof(*req));
	clock_gettime(CLOCK_MONOTONIC, &req->started);
	req->app = app;
	req->envp = envp;
	req->in = in;
	req->route_id = (size_t)-1;
	m = request_param(req, "REQUEST_METHOD");
	req->method_name = m != NULL ? m : "";
	req->method = method_from_name(req->method_name);
}

void
request_free(struct request *req)
{
	size_t	i;

	free(req->path);
	free(req->segbuf);
	for (i = 0; i < req->nquery; i++) {
		free(req->query[i].name);
		free(req->query[i].value);
	}
	buf_free(&req->body);
	json_decref(req->json);
	buf_free(&req->resp.headers);
	buf_free(&req->resp.body);
	memset(req, 0, sizeof(*req));
}

const char *
request_param(const struct request *req, const char *name)
{
	size_t	 len = strlen(name);
	char	**p;

	if (req->envp == NULL)
		return NULL;
	for (p = req->envp; *p != NULL; p++)
		if (strncmp(*p, name, len) == 0 && (*p)[len] == '=')
			return *p + len + 1;
	return NULL;
}

const char *
request_path_param(const struct request *req, const char *name)
{
	int	i;

	for (i = 0; i < req->nparams; i++)
		if (strcmp(req->params[i].name, name) == 0)
			return req->params[i].value;
	return NULL;
}

const char *
request_query(const struct request *req, const char *name)
{
	size_t	i;

	for (i = 0; i < req->nquery; i++)
		if (strcmp(req->query[i].name, name) == 0)
			return req->query[i].value;
	return NULL;
}

static int
hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = tolower(c);
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/*
 * Percent-decodes s[0..len) into out (at least len+1 bytes), '+' as space
 * when plus_space. Fails on a malformed escape, a NUL byte, a control
 * character or invalid UTF-8 (RFC 3986 §2.1).
 */
static bool
url_decode(const char *s, size_t len, char *out, bool plus_space)
{
	size_t	i, o = 0;
	int	hi, lo;

	for (i = 0; i < len; i++) {
		if (s[i] == '%') {
			if (i + 2 >= len)
				return false;
			hi = hexval((unsigned char)s[i + 1]);
			lo = hexval((unsigned char)s[i + 2]);
			if (hi < 0 || lo < 0)
				return false;
			out[o++] = (char)(hi * 16 + lo);
			i += 2;
		} else if (s[i] == '+' && plus_space)
			out[o++] = ' ';
		else
			out[o++] = s[i];
	}
	out[o] = '\0';
	if (memchr(out, '\0', o) != NULL || has_control_chars(out, o) ||
	    memchr(out, '\t', o) != NULL || memchr(out, '\n', o) != NULL ||
	    memchr(out, '\r', o) != NULL)
		return false;
	return utf8_length(out, o) >= 0;
}

/* The path the client asked for: REQUEST_URI, else SCRIPT_NAME + PATH_INFO. */
static char *
client_path(const struct request *req)
{
	const char	*uri, *sn, *pi;
	size_t		 len;
	char		*p;

	uri = request_param(req, "REQUEST_URI");
	if (uri != NULL && uri[0] == '/')
		return strndup(uri, strcspn(uri, "?#"));
	sn = request_param(req, "SCRIPT_NAME");
	pi = request_param(req, "PATH_INFO");
	sn = sn != NULL ? sn : "";
	pi = pi != NULL ? pi : "";
	len = strlen(sn) + strlen(pi);
	if ((p = malloc(len + 2)) == NULL)
		return NULL;
	snprintf(p, len + 2, "%s%s%s", sn[0] == '/' ? "" : "/", sn, pi);
	return p;
}

static bool
parse_query(struct request *req, const char *q)
{
	const char	*p, *amp, *eq;
	size_t		 len, nlen;
	struct query_param *qp;

	for (p = q; *p != '\0'; p = *amp != '\0' ? amp + 1 : amp) {
		amp = strchr(p, '&');
		if (amp == NULL)
			amp = p + strlen(p);
		len = (size_t)(amp - p);
		if (len == 0)
			continue;
		if (req->nquery == REQUEST_QUERY_PARAMS) {
			resp_problem(req, 400, "bad_request", "too many query parameters");
			return false;
		}
		eq = memchr(p, '=', len);
		nlen = eq != NULL ? (size_t)(eq - p) : len;
		qp = &req->query[req->nquery];
		qp->name = malloc(nlen + 1);
		qp->value = malloc(len - nlen + 1);
		if (qp->name == NULL || qp->value == NULL) {
			free(qp->name);
			free(qp->value);
			resp_error(req, FB_ERR_NOMEM);
			return false;
		}
		req->nquery++;
		if (!url_decode(p, nlen, qp->name, true) ||
		    !url_decode(eq != NULL ? eq + 1 : "", eq != NULL ? len - nlen - 1 : 0,
		    qp->value, true)) {
			resp_problem(req, 400, "bad_request",
			    "the query string is not valid percent-encoded UTF-8");
			return false;
		}
	}
	return true;
}

bool
request_page(struct request *req, int *limit, const char **cursor)
{
	const char	*l = request_query(req, "limit");
	char		*end;
	long		 n;

	*limit = 20;
	*cursor = request_query(req, "cursor");
	if (*cursor != NULL && **cursor == '\0')
		*cursor = NULL;
	if (l == NULL)
		return true;
	n = isdigit((unsigned char)*l) ? strtol(l, &end, 10) : 0;
	if (n < 1 || n > 100 || *end != '\0' || strlen(l) > 3) {
		resp_problem(req, 400, "bad_request", "limit must be an integer from 1 to 100");
		return false;
	}
	*limit = (int)n;
	return true;
}

bool
request_parse_target(struct request *req)
{
	const struct config *c = &req->app->cfg;
	const char	*q, *p, *rest;
	size_t		 plen, len, o = 0;
	char		*seg;

	if ((req->path = client_path(req)) == NULL) {
		resp_error(req, FB_ERR_NOMEM);
		return false;
	}
	if (strlen(req->path) > REQUEST_PATH_MAX) {
		resp_problem(req, 414, "uri_too_long", "the path is too long");
		return false;
	}
	q = request_param(req, "QUERY_STRING");
	if (q != NULL && strlen(q) > REQUEST_QUERY_MAX) {
		resp_problem(req, 414, "uri_too_long", "the query string is too long");
		return false;
	}

	/* Strip the mount prefix (PUBLIC_URL's path) when the server kept it. */
	rest = req->path;
	plen = strlen(c->mount_prefix);
	if (plen > 0 && strncmp(rest, c->mount_prefix, plen) == 0 &&
	    (rest[plen] == '/' || rest[plen] == '\0'))
		rest += plen;

	len = strlen(rest);
	if ((req->segbuf = malloc(len + 2)) == NULL) {
		resp_error(req, FB_ERR_NOMEM);
		return false;
	}
	req->nsegs = 0;
	if (*rest == '/')
		rest++;
	for (p = rest; *rest != '\0' || p == rest; ) {
		const char *slash = strchr(p, '/');
		size_t seglen = slash != NULL ? (size_t)(slash - p) : strlen(p);

		if (seglen == 0 && slash == NULL && req->nsegs == 0)
			break;		/* the path "/" */
		if (req->nsegs == ROUTER_MAX_SEGMENTS) {
			resp_problem(req, 404, "not_found", NULL);
			return false;
		}
		seg = req->segbuf + o;
		if (!url_decode(p, seglen, seg, false)) {
			resp_problem(req, 400, "bad_request",
			    "the path is not valid percent-encoded UTF-8");
			return false;
		}
		req->segs[req->nsegs++] = seg;
		o += strlen(seg) + 1;
		if (slash == NULL)
			break;
		p = slash + 1;
	}
	return q == NULL || parse_query(req, q);
}

static bool
sane_request_id(const char *s)
{
	size_t	i;

	for (i = 0; s[i] != '\0'; i++)
		if (i >= REQUEST_ID_MAX || !(isalnum((unsigned char)s[i]) ||
		    s[i] == '-' || s[i] == '_' || s[i] == '.' || s[i] == ':'))
			return false;
	return i > 0;
}

static bool
is_trusted_proxy(const struct config *c, const struct ipaddr *a)
{
	size_t	i;

	for (i = 0; i < c->proxy_count; i++)
		if (cidr_contains(&c->proxies[i], a))
			return true;
	return false;
}

void
request_identify(struct request *req)
{
	const struct config *c = &req->app->cfg;
	const char	*rid, *ra, *xff, *end, *start;
	char		 item[64];
	struct ipaddr	 a;
	size_t		 len;

	rid = request_param(req, "HTTP_X_REQUEST_ID");
	if (rid != NULL && sane_request_id(rid))
		snprintf(req->request_id, sizeof(req->request_id), "%s", rid);
	else if (rand_uuid(req->request_id) != FB_OK)
		snprintf(req->request_id, sizeof(req->request_id), "unknown");

	ra = request_param(req, "REMOTE_ADDR");
	if (ra == NULL || ipaddr_parse(ra, &req->client_addr) != FB_OK)
		return;
	req->has_client_addr = true;
	snprintf(req->client_ip, sizeof(req->client_ip), "%s", ra);

	/* X-Forwarded-For is believed only from TRUSTED_PROXIES: walk it from
	 * the right, past trusted hops; the first other address is the client. */
	xff = request_param(req, "HTTP_X_FORWARDED_FOR");
	if (xff == NULL || !is_trusted_proxy(c, &req->client_addr))
		return;
	end = xff + strlen(xff);
	while (end > xff) {
		start = end;
		while (start > xff && start[-1] != ',')
			start--;
		len = (size_t)(end - start);
		while (len > 0 && *start == ' ') {
			start++;
			len--;
		}
		while (len > 0 && start[len - 1] == ' ')
			len--;
		if (len == 0 || len >= sizeof(item) - 1)
			return;
		memcpy(item, start, len);
		item[len] = '\0';
		if (ipaddr_parse(item, &a) != FB_OK)
			return;
		req->client_addr = a;
		snprintf(req->client_ip, sizeof(req->client_ip), "%s", item);
		if (!is_trusted_proxy(c, &a))
			return;
		end = start > xff ? start - 1 : xff;
		while (end > xff && end[-1] == ',')
			end--;
		if (start == xff)
			return;
	}
}

static bool
read_some(struct request *req, char *dst, size_t n, size_t *got)
{
	int	r;

	if (req->in == NULL) {
		size_t left = req->test_body_len - req->body.len;
		*got = n < left ? n : left;
		memcpy(dst, req->test_body + req->body.len, *got);
		return true;
	}
	r = FCGX_GetStr(dst, (int)n, req->in);
	if (r < 0)
		return false;
	*got = (size_t)r;
	return true;
}

bool
request_read_body(struct request *req)
{
	const char	*cl = request_param(req, "CONTENT_LENGTH");
	long		 max = req->app->cfg.max_body_bytes;
	unsigned long long want = 0;
	bool		 known = false;
	char		 chunk[16384];
	size_t		 got, n;
	char		*end;

	if (cl != NULL && *cl != '\0') {
		if (!isdigit((unsigned char)*cl)) {
			resp_problem(req, 400, "bad_request", "Content-Length is not a number");
			return false;
		}
		errno = 0;
		want = strtoull(cl, &end, 10);
		if (*end != '\0' || errno != 0) {
			resp_problem(req, 400, "bad_request", "Content-Length is not a number");
			return false;
		}
		known = true;
		if (want > (unsigned long long)max) {
			resp_problem(req, 413, "payload_too_large",
			    "the body is larger than MAX_BODY_BYTES");
			return false;
		}
	}
	for (;;) {
		n = sizeof(chunk);
		if (known && want - req->body.len < n)
			n = (size_t)(want - req->body.len);
		if (n == 0)
			break;
		if (!read_some(req, chunk, n, &got)) {
			resp_problem(req, 400, "bad_request", "the body could not be read");
			return false;
		}
		if (got == 0)
			break;
		buf_append(&req->body, chunk, got);
		if (buf_failed(&req->body)) {
			resp_error(req, FB_ERR_NOMEM);
			return false;
		}
		if (req->body.len > (size_t)max) {
			resp_problem(req, 413, "payload_too_large",
			    "the body is larger than MAX_BODY_BYTES");
			return false;
		}
	}
	if (known && req->body.len != want) {
		resp_problem(req, 400, "bad_request", "the body is shorter than Content-Length");
		return false;
	}
	return true;
}
