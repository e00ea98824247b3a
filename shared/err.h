/*
 * err — the status every shared/ function returns. 0 is success; each other
 * value names a class of failure that callers (and http_status_for()) map to
 * an answer. The detail of a failure is logged where it happens, never here.
 */
#ifndef FB_ERR_H
#define FB_ERR_H

enum fb_err {
	FB_OK = 0,
	FB_ERR_NOMEM,		/* an allocation failed */
	FB_ERR_INVALID,		/* input is malformed or out of bounds */
	FB_ERR_NOTFOUND,	/* no such row or object */
	FB_ERR_CONFLICT,	/* unique value taken or state conflict (SQLSTATE 23505) */
	FB_ERR_RETRY,		/* serialization failure or deadlock: try again */
	FB_ERR_UNAVAILABLE,	/* a dependency (database, Redis) cannot be reached */
	FB_ERR_TIMEOUT,		/* a statement or call ran past its limit */
	FB_ERR_TOOBIG,		/* a value is over its size cap */
	FB_ERR_IO,		/* a system call failed */
	FB_ERR_INTERNAL,	/* a bug or an unexpected answer */
};

/* A short constant English name for e, for logs. */
const char *fb_strerror(enum fb_err e);

#endif
