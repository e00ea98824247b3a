/*
 * ratelimit — counters for rate limits, shared by every process of the pool.
 *
 * A limit is "at most `limit` hits per `window_seconds` per key", counted in
 * a fixed window per key: the window starts at the first hit on the key and
 * ends window_seconds later, when the count starts again from zero. (A client
 * may therefore see up to 2 × limit hits accepted across a window boundary;
 * XXX: a sliding window would be smoother.)
 *
 * Where the counts live: in Redis when the process has a Redis connection
 * (one EVAL of a small Lua script per call), else in PostgreSQL (one
 * statement on the table rate_limits, schema/003_ratelimit.sql). Both are
 * atomic: any number of processes may count the same key at once and exactly
 * `limit` hits of a window are allowed.
 *
 * When Redis does not answer, the call is counted in PostgreSQL instead, and
 * Redis is left alone for RL_KV_RETRY_SECONDS before it is tried again (so a
 * Redis that hangs costs one timeout, not one per request). The two stores
 * keep separate counts: a key whose counting moves from one to the other
 * starts from the count that store has.
 *
 * When no store answers, a limit fails open: the hit is allowed, uncounted,
 * and the failure is logged. A down Redis or database must not lock everyone
 * out (the database being down fails those requests anyway).
 *
 * Keys are the caller's: any valid UTF-8 string of 1 to RL_KEY_MAX bytes,
 * conventionally "<tier>:<what>:<value>" ("auth:ip:192.0.2.1"). The part
 * before the first ':' is the only part logged; the rest may be personal data
 * (an IP address, an email address) and is never logged. Hash long or
 * unbounded parts before building a key.
 *
 * Nothing here allocates memory that outlives a call; struct ratelimit holds
 * borrowed pointers only.
 */
#ifndef FB_RATELIMIT_H
#define FB_RATELIMIT_H

#include <stdbool.h>
#include <time.h>

#include "db.h"
#include "err.h"
#include "kv.h"

/* Longest key, in bytes (the rate_limits.key CHECK says the same). */
#define RL_KEY_MAX		200
/* Largest limit accepted; far below the 2^31 of the database counter. */
#define RL_LIMIT_MAX		1000000000L
/* Longest window: 31 days. */
#define RL_WINDOW_MAX		(31L * 24 * 3600)
/* After Redis failed, count in PostgreSQL for this long before trying
 * Redis again. */
#define RL_KV_RETRY_SECONDS	5
/* Size of each buffer of ratelimit_headers(): a long in decimal and a NUL. */
#define RL_HEADER_SIZE		24

/*
 * The stores of one process. Initialise with designated initialisers or
 * memset 0: { .kv = kv_or_NULL, .db = db }. Both pointers are borrowed.
 */
struct ratelimit {
	struct kv	*kv;		/* (or NULL: count in PostgreSQL) */
	struct db	*db;		/* (or NULL: Redis only, else fail open) */
	struct timespec	 kv_retry_at;	/* CLOCK_MONOTONIC: skip Redis until then */
};

enum rl_store {
	RL_STORE_NONE,		/* disabled (limit 0) or failed open */
	RL_STORE_REDIS,
	RL_STORE_DB,
};

struct rl_result {
	bool		 allowed;
	long		 limit;
	long		 remaining;	/* after this hit (peek: before the next), ≥ 0 */
	long		 reset_seconds;	/* until the window resets (RateLimit-Reset), ≥ 0 */
	long		 retry_after;	/* seconds, when !allowed (Retry-After); else 0 */
	long		 count;		/* hits in the window, including this one */
	enum rl_store	 store;		/* which store counted */
	bool		 is_failed_open; /* no store answered: allowed, uncounted */
};

/*
 * Counts one hit on key in a window of window_seconds; out->allowed while the
 * count, this hit included, is at most limit. Refused hits are counted too,
 * but never extend the window, so retry_after is exact (rounded up to a
 * whole second, 1..window_seconds).
 *
 * limit 0 disables the limit: allowed, nothing stored, store RL_STORE_NONE.
 *
 * Returns FB_OK with *out filled, also when failing open (out->is_failed_open;
 * allowed, count 0, remaining limit, reset window_seconds). FB_ERR_INVALID
 * when key is NULL, empty, longer than RL_KEY_MAX or not UTF-8, limit is not
 * in 0..RL_LIMIT_MAX, or (limit > 0) window_seconds not in 1..RL_WINDOW_MAX;
 * *out is then zeroed.
 *
 * In PostgreSQL the hit is one autocommitted statement: call it outside
 * db_begin/db_commit, or the count shares the caller's transaction (it would
 * be rolled back with it, and hold the key's row lock until then).
 */
enum fb_err	ratelimit_hit(struct ratelimit *rl, const char *key, long limit,
		    long window_seconds, struct rl_result *out);

/*
 * The state of key without counting a hit: out->count is the hits so far in
 * the current window (0 when none), out->allowed whether one more hit would
 * be allowed (count < limit), out->remaining how many more would be
 * (limit - count, ≥ 0), out->reset_seconds when the window ends
 * (window_seconds when no window is open). For limits that count failures:
 * peek before the attempt, refuse when !allowed, ratelimit_hit() only when the
 * attempt failed. Errors and failing open as ratelimit_hit().
 */
enum fb_err	ratelimit_peek(struct ratelimit *rl, const char *key, long limit,
		    long window_seconds, struct rl_result *out);

/*
 * Forgets key in the store in use (Redis when it answers, else PostgreSQL):
 * its next hit opens a new window. FB_OK also when key had no count;
 * FB_ERR_INVALID for a bad key as above; FB_ERR_UNAVAILABLE (logged) when no
 * store answered.
 */
enum fb_err	ratelimit_clear(struct ratelimit *rl, const char *key);

/*
 * Formats the header values of r (draft-ietf-httpapi-ratelimit-headers, and
 * RFC 9110 §10.2.3 Retry-After as delay-seconds) as decimal strings: limit,
 * remaining and reset always, negative values as "0"; retry_after only when
 * !r->allowed, else "" (send no Retry-After). Each buffer is RL_HEADER_SIZE
 * bytes. A disabled limit (r->limit 0) should get no headers at all: that is
 * the caller's choice.
 */
void		ratelimit_headers(const struct rl_result *r,
		    char limit[RL_HEADER_SIZE], char remaining[RL_HEADER_SIZE],
		    char reset[RL_HEADER_SIZE], char retry_after[RL_HEADER_SIZE]);

#endif
