/*
 * test_router — matching a table defined here: literals before params,
 * 404 (no path) vs 405 (no method, with the Allow mask), HEAD as GET,
 * trailing slashes and empty segments, captured params, methods_format.
 */
#include <string.h>

#include "../../fcgi-app/router.h"
#include "tap.h"

static void h(struct request *r) { (void)r; }

static const struct route table[] = {
	{ M_GET,		"/",				h, AUTH_NONE, NULL, 0, NULL },
	{ M_GET | M_POST,	"/teams",			h, AUTH_NONE, NULL, 0, NULL },
	{ M_GET,		"/teams/mine",			h, AUTH_NONE, NULL, 0, NULL },
	{ M_GET | M_DELETE,	"/teams/{id}",			h, AUTH_NONE, NULL, 0, NULL },
	{ M_PUT,		"/teams/{id}",			h, AUTH_NONE, NULL, 0, NULL },
	{ M_GET,		"/teams/{id}/members/{uid}",	h, AUTH_NONE, NULL, 0, NULL },
	{ M_POST,		"/auth/login",			h, AUTH_NONE, NULL, 0, NULL },
	{ M_GET,		"/a/{p1}/{p2}/{p3}/{p4}/{p5}/{p6}/{p7}/{p8}/{p9}",
								h, AUTH_NONE, NULL, 0, NULL },
	{ M_GET,		"/x/{a_param_name_longer_than_31_bytes_for_sure}",
								h, AUTH_NONE, NULL, 0, NULL },
};
#define NTABLE (sizeof(table) / sizeof(table[0]))

struct result {
	enum route_result	 rr;
	size_t			 index;
	struct route_param	 params[ROUTER_MAX_PARAMS];
	int			 nparams;
	unsigned		 allow;
};

/* Splits path ("/a/b") into segments the way the request does (no
 * decoding) and matches it. */
static enum route_result
match(unsigned method, const char *path, struct result *r)
{
	static char	 buf[1024];
	char		*segs[ROUTER_MAX_SEGMENTS], *p;
	size_t		 n = 0;

	memset(r, 0, sizeof(*r));
	r->index = 999;
	snprintf(buf, sizeof(buf), "%s", path[0] == '/' ? path + 1 : path);
	if (buf[0] != '\0' || strcmp(path, "/") != 0) {
		for (p = buf; n < ROUTER_MAX_SEGMENTS; ) {
			segs[n++] = p;
			if ((p = strchr(p, '/')) == NULL)
				break;
			*p++ = '\0';
		}
	}
	if (strcmp(path, "/") == 0)
		n = 0;
	r->rr = router_match(table, NTABLE, method, segs, n, &r->index, r->params,
	    &r->nparams, &r->allow);
	return r->rr;
}

static const char *
param(const struct result *r, const char *name)
{
	int	i;

	for (i = 0; i < r->nparams; i++)
		if (strcmp(r->params[i].name, name) == 0)
			return r->params[i].value;
	return NULL;
}

static void
test_found(void)
{
	struct result	r;

	is_int(match(M_GET, "/", &r), ROUTE_FOUND, "GET /");
	is_int(r.index, 0, "GET / is route 0");
	is_int(match(M_GET, "/teams", &r), ROUTE_FOUND, "GET /teams");
	is_int(r.index, 1, "route 1");
	is_int(r.nparams, 0, "no params");
	is_int(match(M_POST, "/teams", &r), ROUTE_FOUND, "POST /teams");
	is_int(r.index, 1, "POST /teams is route 1 too");
	is_int(match(M_POST, "/auth/login", &r), ROUTE_FOUND, "POST /auth/login");
	is_int(r.index, 6, "route 6");
}

static void
test_priority(void)
{
	struct result	r;

	is_int(match(M_GET, "/teams/mine", &r), ROUTE_FOUND, "GET /teams/mine");
	is_int(r.index, 2, "the literal wins over {id}");
	is_int(r.nparams, 0, "and captures nothing");
	is_int(match(M_GET, "/teams/42", &r), ROUTE_FOUND, "GET /teams/42");
	is_int(r.index, 3, "the param route");
	is_str(param(&r, "id"), "42", "id captured");
	/* The literal takes no DELETE, so the next matching route answers. */
	is_int(match(M_DELETE, "/teams/mine", &r), ROUTE_FOUND, "DELETE /teams/mine");
	is_int(r.index, 3, "falls through to {id}");
	is_str(param(&r, "id"), "mine", "with id=mine");
	is_int(match(M_PUT, "/teams/7", &r), ROUTE_FOUND, "PUT /teams/7");
	is_int(r.index, 4, "a second entry of the same pattern");
	is_str(param(&r, "id"), "7", "id captured there too");
}

static void
test_head(void)
{
	struct result	r;

	is_int(match(M_HEAD, "/teams", &r), ROUTE_FOUND, "HEAD matches a GET route");
	is_int(r.index, 1, "HEAD /teams is route 1");
	is_int(match(M_HEAD, "/teams/9", &r), ROUTE_FOUND, "HEAD /teams/9");
	is_str(param(&r, "id"), "9", "HEAD captures params");
	is_int(match(M_HEAD, "/auth/login", &r), ROUTE_NO_METHOD, "HEAD on a POST-only route");
	is_int(r.allow, M_POST, "Allow is POST");
}

static void
test_405(void)
{
	struct result	r;
	char		allow[96];

	is_int(match(M_DELETE, "/teams", &r), ROUTE_NO_METHOD, "DELETE /teams: 405");
	is_int(r.allow, M_GET | M_POST, "Allow mask GET|POST");
	is_int(match(M_POST, "/teams/5", &r), ROUTE_NO_METHOD, "POST /teams/5: 405");
	is_int(r.allow, M_GET | M_DELETE | M_PUT, "the mask joins both {id} entries");
	methods_format(r.allow, allow, sizeof(allow));
	is_str(allow, "GET, HEAD, PUT, DELETE, OPTIONS", "Allow text");
	is_int(match(M_POST, "/teams/mine", &r), ROUTE_NO_METHOD, "POST /teams/mine: 405");
	is_int(r.allow, M_GET | M_DELETE | M_PUT, "literal and {id} masks joined");
	is_int(match(M_GET, "/auth/login", &r), ROUTE_NO_METHOD, "GET on a POST-only route");
	is_int(match(M_OPTIONS, "/teams", &r), ROUTE_NO_METHOD,
	    "OPTIONS is not in any route (dispatch answers it)");
	is_int(r.allow, M_GET | M_POST, "but the mask is there for Allow");
	is_int(match(M_PATCH, "/", &r), ROUTE_NO_METHOD, "PATCH /: 405");
}

static void
test_404(void)
{
	static const char *const paths[] = {
		"/nope", "/teams/", "/teams//", "//teams", "/teams/1/", "/teams//members/2",
		"/teams/1/members", "/teams/1/members/", "/teams/1/members/2/x",
		"/Teams", "/teams/mine/x", "/auth", "/auth/login/", "",
	};
	struct result	r;
	size_t		i;

	for (i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
		is_int(match(M_GET, paths[i], &r), ROUTE_NO_PATH, "GET \"%s\": 404", paths[i]);
		is_int(r.allow, 0, "GET \"%s\": no Allow", paths[i]);
	}
	is_int(match(M_DELETE, "/nope", &r), ROUTE_NO_PATH, "the method does not matter");
}

static void
test_params(void)
{
	struct result	r;

	is_int(match(M_GET, "/teams/t1/members/u2", &r), ROUTE_FOUND, "two params");
	is_int(r.index, 5, "route 5");
	is_int(r.nparams, 2, "two captured");
	is_str(param(&r, "id"), "t1", "id");
	is_str(param(&r, "uid"), "u2", "uid");
	ok(param(&r, "nope") == NULL, "no such param");
	is_str(r.params[0].name, "id", "params in pattern order");

	is_int(match(M_GET, "/a/1/2/3/4/5/6/7/8/9", &r), ROUTE_NO_PATH,
	    "a pattern of 9 params (over ROUTER_MAX_PARAMS) never matches");
	is_int(match(M_GET, "/x/value", &r), ROUTE_FOUND, "a long param name");
	is_int(strlen(r.params[0].name), sizeof(r.params[0].name) - 1,
	    "is cut to fit its buffer");
	is_str(r.params[0].value, "value", "and still captures");
}

static void
test_methods(void)
{
	char	out[96], small[8];

	methods_format(0, out, sizeof(out));
	is_str(out, "OPTIONS", "no method: OPTIONS");
	methods_format(M_GET, out, sizeof(out));
	is_str(out, "GET, HEAD, OPTIONS", "GET implies HEAD");
	methods_format(M_POST, out, sizeof(out));
	is_str(out, "POST, OPTIONS", "POST");
	methods_format(M_GET | M_POST | M_PUT | M_PATCH | M_DELETE, out, sizeof(out));
	is_str(out, "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS", "everything, in order");
	methods_format(M_DELETE | M_GET, out, sizeof(out));
	is_str(out, "GET, HEAD, DELETE, OPTIONS", "order is fixed, not the mask's");
	methods_format(M_GET | M_POST, small, sizeof(small));
	ok(strlen(small) < sizeof(small), "a small buffer stays terminated");

	is_int(method_from_name("GET"), M_GET, "GET");
	is_int(method_from_name("HEAD"), M_HEAD, "HEAD");
	is_int(method_from_name("DELETE"), M_DELETE, "DELETE");
	is_int(method_from_name("OPTIONS"), M_OPTIONS, "OPTIONS");
	is_int(method_from_name("get"), 0, "methods are case-sensitive (RFC 9110 §9.1)");
	is_int(method_from_name("TRACE"), 0, "TRACE is unknown");
	is_int(method_from_name("CONNECT"), 0, "CONNECT is unknown");
	is_int(method_from_name(""), 0, "empty is unknown");
	is_int(method_from_name("GETX"), 0, "a longer name is unknown");
	is_str(method_name(M_PATCH), "PATCH", "method_name(M_PATCH)");
	is_str(method_name(0), "OTHER", "method_name(0)");
	is_str(method_name(M_GET | M_POST), "OTHER", "method_name of a mask");
}

int
main(void)
{
	test_found();
	test_priority();
	test_head();
	test_405();
	test_404();
	test_params();
	test_methods();
	return done_testing();
}
