#include <stdio.h>
#include <string.h>

#include "log.h"
#include "problem.h"
#include "request.h"

static void
resp_reset(struct request *req, int status)
{
	req->resp.status = status;
	buf_reset(&req->resp.body);
	req->resp.content_type = NULL;
}

void
resp_json(struct request *req, int status, json_t *body)
{
	char	*text;

	resp_reset(req, status);
	text = body != NULL ? json_dumps(body, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(6)) : NULL;
	json_decref(body);
	if (text == NULL) {
		resp_error(req, FB_ERR_NOMEM);
		return;
	}
	buf_puts(&req->resp.body, text);
	free(text);
	req->resp.content_type = "application/json";
}

void
resp_text(struct request *req, int status, const char *ctype, const char *text,
    size_t len)
{
	resp_reset(req, status);
	buf_append(&req->resp.body, text, len);
	req->resp.content_type = ctype;
}

void
resp_empty(struct request *req, int status)
{
	resp_reset(req, status);
}

void
resp_problem_json(struct request *req, json_t *problem)
{
	char	*text;
	int	 status;

	if (problem == NULL) {
		/* Out of memory while building the problem: a fixed answer. */
		static const char oom[] = "{\"type\":\"about:blank\",\"title\":\"Internal error\","
		    "\"status\":500,\"code\":\"internal\"}";
		resp_text(req, 500, "application/problem+json", oom, sizeof(oom) - 1);
		return;
	}
	status = (int)json_integer_value(json_object_get(problem, "status"));
	json_object_set_new(problem, "request_id", json_string(req->request_id));
	text = json_dumps(problem, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(6));
	json_decref(problem);
	if (text == NULL) {
		resp_problem_json(req, NULL);
		return;
	}
	resp_reset(req, status);
	buf_puts(&req->resp.body, text);
	free(text);
	req->resp.content_type = "application/problem+json";
}

void
resp_problem(struct request *req, int status, const char *code, const char *detail)
{
	resp_problem_json(req, problem_new(status, code, detail));
}

void
resp_field_problem(struct request *req, const char *field, const char *code,
    const char *message)
{
	json_t	*p = problem_new(422, "validation_failed", "1 field is invalid");

	problem_add_field(p, field, code, message);
	resp_problem_json(req, p);
}

void
resp_error(struct request *req, enum fb_err e)
{
	int		 status = problem_status_for(e);
	const char	*detail = NULL;

	if (e == FB_ERR_UNAVAILABLE || e == FB_ERR_TIMEOUT || e == FB_ERR_RETRY)
		detail = "a dependency is unavailable; try again shortly";
	if (status == 500)
		log_event(FBLOG_ERROR, json_pack("{s:s,s:s,s:s}", "msg", "internal error",
		    "error", fb_strerror(e), "request_id", req->request_id));
	if (status == 503)
		resp_header(req, "Retry-After", "1");
	resp_problem(req, status, problem_code_for(e), detail);
}

void
resp_header(struct request *req, const char *name, const char *value)
{
	/* Header values come from our own code, but never let one split a line. */
	if (strpbrk(value, "\r\n") != NULL || strpbrk(name, "\r\n:") != NULL)
		return;
	if (strcasecmp(name, "Cache-Control") == 0)
		req->resp.has_cache_control = true;
	buf_printf(&req->resp.headers, "%s: %s\r\n", name, value);
}

/* Status line, headers and blank line for the current response. */
static void
format_head(struct request *req, struct buf *out)
{
	const struct config *c = &req->app->cfg;
	int	 status = req->resp.status;
	bool	 has_body = status != 204 && status != 304;

	/* Built with puts, not printf: this runs for every answer. */
	buf_puts(out, "Status: ");
	buf_put_int(out, status);
	buf_puts(out, " ");
	buf_puts(out, http_reason(status));
	buf_puts(out, "\r\n");
	if (has_body && req->resp.content_type != NULL) {
		buf_puts(out, "Content-Type: ");
		buf_puts(out, req->resp.content_type);
		if (strncmp(req->resp.content_type, "text/", 5) == 0)
			buf_puts(out, "; charset=utf-8");
		buf_puts(out, "\r\n");
	}
	if (has_body) {
		buf_puts(out, "Content-Length: ");
		buf_put_int(out, (long long)req->resp.body.len);
		buf_puts(out, "\r\n");
	}
	buf_puts(out, "X-Request-Id: ");
	buf_puts(out, req->request_id);
	buf_puts(out, "\r\n");
	buf_puts(out, "X-Content-Type-Options: nosniff\r\n"
	    "Referrer-Policy: no-referrer\r\n"
	    "X-Frame-Options: DENY\r\n"
	    "Cross-Origin-Resource-Policy: same-origin\r\n");
	if (req->resp.is_html)
		buf_puts(out, "Content-Security-Policy: default-src 'none'; "
		    "script-src 'self'; style-src 'self'; img-src 'self' data:; "
		    "connect-src 'self'; base-uri 'none'; form-action 'none'; "
		    "frame-ancestors 'none'\r\n");
	else
		buf_puts(out, "Content-Security-Policy: default-src 'none'; "
		    "frame-ancestors 'none'\r\n");
	if (c->public_https)
		buf_puts(out, "Strict-Transport-Security: max-age=63072000; "
		    "includeSubDomains\r\n");
	if (!req->resp.has_cache_control)
		buf_puts(out, "Cache-Control: no-store\r\n");
	buf_append(out, buf_str(&req->resp.headers), req->resp.headers.len);
	buf_puts(out, "\r\n");
}

long
response_write(struct request *req, FCGX_Stream *out)
{
	struct buf	 head = BUF_INIT;
	bool		 has_body;
	long		 written = 0;

	if (req->resp.status == 0)
		resp_error(req, FB_ERR_INTERNAL);	/* a handler forgot to answer */
	format_head(req, &head);
	if (buf_failed(&head) || buf_failed(&req->resp.body) ||
	    buf_failed(&req->resp.headers)) {
		buf_free(&head);
		return -1;
	}
	if (FCGX_PutStr(head.data, (int)head.len, out) != (int)head.len) {
		buf_free(&head);
		return -1;
	}
	buf_free(&head);
	has_body = req->resp.status != 204 && req->resp.status != 304 &&
	    req->method != M_HEAD;
	if (has_body && req->resp.body.len > 0) {
		if (FCGX_PutStr(req->resp.body.data, (int)req->resp.body.len, out) !=
		    (int)req->resp.body.len)
			return -1;
		written = (long)req->resp.body.len;
	}
	return written;
}

char *
response_format(struct request *req)
{
	struct buf	out = BUF_INIT;

	if (req->resp.status == 0)
		resp_error(req, FB_ERR_INTERNAL);
	format_head(req, &out);
	if (req->method != M_HEAD)
		buf_append(&out, buf_str(&req->resp.body), req->resp.body.len);
	return buf_take(&out);
}
