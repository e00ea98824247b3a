/*
 * request — one HTTP request as the responder sees it, and its response
 * under construction. request_init() takes the FastCGI parameters (envp) and
 * the input stream; it copies what it keeps, so the struct outlives nothing
 * of libfcgi's. request_free() releases everything, on every path.
 */
#ifndef FB_REQUEST_H
#define FB_REQUEST_H

#include <stdbool.h>
#include <time.h>

#include <fcgiapp.h>
#include <jansson.h>

#include "app.h"
#include "buf.h"
#include "ipaddr.h"
#include "router.h"
#include "users.h"

#define REQUEST_ID_MAX		64	/* longest X-Request-Id we echo */
#define REQUEST_PATH_MAX	4096	/* longer paths get 414 */
#define REQUEST_QUERY_MAX	8192	/* longer query strings get 414 */
#define REQUEST_HEADER_MAX	16384	/* a longer header value gets 431 */
#define REQUEST_HEADERS_MAX	65536	/* all headers together */
#define REQUEST_QUERY_PARAMS	64	/* more query parameters: 400 */

struct query_param {
	char	*name;
	char	*value;
};

struct response {
	int		 status;		/* 0 until a handler answers */
	struct buf	 headers;		/* "Name: value\r\n" lines */
	struct buf	 body;
	const char	*content_type;		/* (or NULL with an empty body) */
	bool		 has_cache_control;
	bool		 is_html;		/* gets the HTML page CSP */
};

struct request {
	struct app	*app;
	char		**envp;			/* FastCGI parameters (libfcgi's) */
	FCGX_Stream	*in;			/* (or NULL: test_body is the body) */
	const char	*test_body;
	size_t		 test_body_len;

	const char	*method_name;		/* REQUEST_METHOD as sent */
	unsigned	 method;		/* M_* (0: unknown method) */
	char		*path;			/* path after the mount prefix, raw */
	char		*segbuf;		/* decoded segments, NUL-separated */
	char		*segs[ROUTER_MAX_SEGMENTS];
	size_t		 nsegs;
	struct query_param query[REQUEST_QUERY_PARAMS];
	size_t		 nquery;

	const struct route *route;		/* (or NULL) */
	size_t		 route_id;
	struct route_param params[ROUTER_MAX_PARAMS];
	int		 nparams;

	char		 request_id[REQUEST_ID_MAX + 1];
	char		 client_ip[64];
	struct ipaddr	 client_addr;
	bool		 has_client_addr;
	bool		 cors_allowed;		/* Origin is in CORS_ORIGINS */

	struct buf	 body;
	json_t		*json;			/* parsed body (or NULL) */
	char		 user_id[37];		/* "" when anonymous */
	struct user	 user;			/* the caller (AUTH_USER routes) */
	char		 session_id[37];	/* the caller's session */
	char		 amr[64];		/* its amr claim, JSON array text */

	struct timespec	 started;
	struct response	 resp;
};

void		 request_init(struct request *req, struct app *app, char **envp,
		    FCGX_Stream *in);
void		 request_free(struct request *req);
/* A FastCGI parameter ("HTTP_ORIGIN", "REMOTE_ADDR"...) or NULL. */
const char	*request_param(const struct request *req, const char *name);
/* A {param} of the matched route, or NULL. */
const char	*request_path_param(const struct request *req, const char *name);
/* A decoded query parameter (the first of that name), or NULL. */
const char	*request_query(const struct request *req, const char *name);

/* api.md lists: ?limit= (1 to 100, default 20) into *limit and ?cursor= into
 * *cursor (or NULL). On a malformed limit answers 400 and returns false. */
bool		 request_page(struct request *req, int *limit, const char **cursor);
/* Parses the path and query. On failure the response is set (400/414). */
bool		 request_parse_target(struct request *req);
/* Picks the request id and the client address. */
void		 request_identify(struct request *req);
/* Reads the body (413 over MAX_BODY_BYTES). On failure the response is set. */
bool		 request_read_body(struct request *req);

/* Responses. Each sets status and body; the last call wins. */
void		 resp_json(struct request *req, int status, json_t *body);	/* steals body */
void		 resp_text(struct request *req, int status, const char *ctype,
		    const char *text, size_t len);
void		 resp_empty(struct request *req, int status);
/* RFC 9457 problem+json; detail may be NULL. */
void		 resp_problem(struct request *req, int status, const char *code,
		    const char *detail);
/* A problem built by the caller (e.g. by validate_object); steals it. */
void		 resp_problem_json(struct request *req, json_t *problem);
/* 422 validation_failed naming one field (code and message for errors[]). */
void		 resp_field_problem(struct request *req, const char *field, const char *code,
		    const char *message);
/* The answer for an fb_err from shared/ (the one place that maps them). */
void		 resp_error(struct request *req, enum fb_err e);
void		 resp_header(struct request *req, const char *name, const char *value);

/* Writes the response (status line, security headers, body) to out.
 * Returns the number of body bytes written, or -1 on a write error. */
long		 response_write(struct request *req, FCGX_Stream *out);
/* Serialises the full response (for unit tests). Caller frees. */
char		*response_format(struct request *req);

#endif
