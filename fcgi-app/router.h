/*
 * router — routes as data. A route is {methods, pattern, handler, auth,
 * declared inputs, flags}; patterns are literal segments and {params} that
 * match one non-empty segment. router_match() tells "no such path" (404) from
 * "path exists, method does not" (405 with the methods for Allow). The first
 * route in table order that matches wins, so literals go before params.
 */
#ifndef FB_ROUTER_H
#define FB_ROUTER_H

#include <stddef.h>

#include "validate.h"

enum http_method {
	M_GET		= 1 << 0,
	M_HEAD		= 1 << 1,
	M_POST		= 1 << 2,
	M_PUT		= 1 << 3,
	M_PATCH		= 1 << 4,
	M_DELETE	= 1 << 5,
	M_OPTIONS	= 1 << 6,
};

enum route_auth {
	AUTH_NONE,		/* anyone */
	AUTH_METRICS,		/* METRICS_TOKEN bearer, or a loopback client */
	AUTH_USER,		/* a valid access token of a live session */
	AUTH_ADMIN,		/* the same, of a user with role admin */
	AUTH_TOKEN,		/* a valid access token; the handler checks its session
				 * in its own query (one round trip instead of two) */
	AUTH_OPTIONAL,		/* anyone; a bearer token, when sent, must be valid
				 * (401 otherwise) and makes the caller known */
};

#define ROUTE_JSON_BODY		0x1	/* takes a JSON object checked against inputs */
#define ROUTE_RAW_BODY		0x2	/* takes a body the handler reads itself */
#define ROUTE_AUTH_LIMIT	0x4	/* the auth tier: RATE_LIMIT_AUTH_IP per IP */
#define ROUTE_NO_LIMIT		0x8	/* outside the general per-IP/per-user limits */
#define ROUTE_IDEMPOTENT	0x10	/* creates things: honours Idempotency-Key */

struct request;
typedef void (*route_handler)(struct request *);

struct route {
	unsigned		 methods;	/* M_* mask; GET implies HEAD */
	const char		*pattern;	/* "/api/teams/{id}" */
	route_handler		 handler;
	enum route_auth		 auth;
	const struct field	*inputs;	/* declared body fields (or NULL) */
	unsigned		 flags;		/* ROUTE_* */
	const char		*summary;	/* one line for the OpenAPI document */
};

#define ROUTER_MAX_PARAMS	8
#define ROUTER_MAX_SEGMENTS	32

struct route_param {
	char	name[32];
	const char *value;	/* points into the caller's segments */
};

enum route_result {
	ROUTE_FOUND,
	ROUTE_NO_METHOD,	/* *allow holds the methods the path takes */
	ROUTE_NO_PATH,
};

enum route_result router_match(const struct route *table, size_t n,
		    unsigned method, char *const *segs, size_t nsegs,
		    size_t *index, struct route_param *params, int *nparams,
		    unsigned *allow);
/* M_* for a method name; 0 for a method we do not know. */
unsigned	method_from_name(const char *name);
const char	*method_name(unsigned m);
/* "GET, HEAD, OPTIONS" for a mask (always with OPTIONS), into out. */
void		methods_format(unsigned mask, char *out, size_t len);

#endif
