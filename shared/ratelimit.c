#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "ratelimit.h"

/* Keys in Redis are namespaced: "rl:" + the caller's key. */
#define RL_KV_PREFIX	"rl:"

/*
 * One hit, atomically (a script runs alone in Redis): INCR, and a new
 * window's expiry set on its first hit. A key without an expiry (PTTL -1,
 * say a value left by hand) gets one too, so no counter lives forever.
 * Returns {count, milliseconds left in the window}.
 */
static const char rl_lua_hit[] =
	"local c = redis.call('INCR', KEYS[1])\n"
	"local t = redis.call('PTTL', KEYS[1])\n"
	"if c == 1 or t < 0 then\n"
	"  redis.call('PEXPIRE', KEYS[1], ARGV[1])\n"
	"  t = tonumber(ARGV[1])\n"
	"end\n"
	"return {c, t}\n";

/* The count and the milliseconds left, read together: {0, -2} when there is
 * no open window; a count of -1 when the value is not a number. */
static const char rl_lua_peek[] =
	"local c = redis.call('GET', KEYS[1])\n"
	"if not c then return {0, -2} end\n"
	"return {tonumber(c) or -1, redis.call('PTTL', KEYS[1])}\n";

/*
 * One hit in PostgreSQL: the upsert is atomic per key (concurrent ones wait
 * for the row lock and then update the row the winner left). An expired row
 * is a new window. statement_timestamp(), not now(): correct even inside a
 * caller's transaction. The count saturates at the integer maximum.
 */
static const char rl_sql_hit[] =
	"INSERT INTO rate_limits AS r (key, window_start, count, expires_at)"
	" VALUES ($1, statement_timestamp(), 1,"
	"  statement_timestamp() + $2::integer * interval '1 second')"
	" ON CONFLICT (key) DO UPDATE SET"
	"  window_start = CASE WHEN r.expires_at <= statement_timestamp()"
	"   THEN statement_timestamp() ELSE r.window_start END,"
	"  count = CASE WHEN r.expires_at <= statement_timestamp() THEN 1"
	"   WHEN r.count < 2147483647 THEN r.count + 1 ELSE r.count END,"
	"  expires_at = CASE WHEN r.expires_at <= statement_timestamp()"
	"   THEN statement_timestamp() + $2::integer * interval '1 second'"
	"   ELSE r.expires_at END"
	" RETURNING count,"
	"  ceil(extract(epoch FROM expires_at - statement_timestamp()) * 1000)::bigint"
	"  AS ttl_ms";

static const char rl_sql_peek[] =
	"SELECT count,"
	" ceil(extract(epoch FROM expires_at - statement_timestamp()) * 1000)::bigint"
	" AS ttl_ms"
	" FROM rate_limits WHERE key = $1 AND expires_at > statement_timestamp()";

static const char rl_sql_clear[] = "DELETE FROM rate_limits WHERE key = $1";

/* Strict UTF-8 (RFC 3629 §4): no overlong forms, surrogates or code points
 * above U+10FFFF, as PostgreSQL checks text. */
static bool
rl_utf8_valid(const unsigned char *s, size_t len)
{
	size_t	i = 0, n, k;
	unsigned char c;

	while (i < len) {
		c = s[i];
		if (c < 0x80) {
			i++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf)
			n = 1;
		else if (c >= 0xe0 && c <= 0xef)
			n = 2;
		else if (c >= 0xf0 && c <= 0xf4)
			n = 3;
		else
			return false;
		if (len - i <= n)
			return false;
		for (k = 1; k <= n; k++)
			if ((s[i + k] & 0xc0) != 0x80)
				return false;
		/* The second byte's range excludes overlongs and surrogates. */
		if ((c == 0xe0 && s[i + 1] < 0xa0) ||
		    (c == 0xed && s[i + 1] > 0x9f) ||
		    (c == 0xf0 && s[i + 1] < 0x90) ||
		    (c == 0xf4 && s[i + 1] > 0x8f))
			return false;
		i += n + 1;
	}
	return true;
}

/* Length of key, or 0 when it is not a key this module accepts. */
static size_t
rl_key_len(const char *key)
{
	size_t	len;

	if (key == NULL)
		return 0;
	len = strnlen(key, RL_KEY_MAX + 1);
	if (len == 0 || len > RL_KEY_MAX ||
	    !rl_utf8_valid((const unsigned char *)key, len))
		return 0;
	return len;
}

static enum fb_err
rl_check(const char *key, long limit, long window_seconds, size_t *keylen)
{
	if ((*keylen = rl_key_len(key)) == 0)
		return FB_ERR_INVALID;
	if (limit < 0 || limit > RL_LIMIT_MAX)
		return FB_ERR_INVALID;
	if (limit > 0 && (window_seconds < 1 || window_seconds > RL_WINDOW_MAX))
		return FB_ERR_INVALID;
	return FB_OK;
}

/* Logs a failure without the personal part of the key: only its first
 * component (before ':'), when it has one. */
static void
rl_log(enum fblog_level lvl, const char *msg, const char *key, enum fb_err e)
{
	const char	*colon;

	colon = strchr(key, ':');
	log_event(lvl, json_pack("{s:s,s:s%,s:s}", "msg", msg,
	    "scope", key, colon != NULL ? (size_t)(colon - key) : (size_t)0,
	    "error", fb_strerror(e)));
}

/*
 * Fills out from a count and the milliseconds left in the window (≤ 0:
 * unknown or no window). For a hit, count includes it and the limit is
 * count ≤ limit; for a peek, the question is whether one more would pass.
 */
static void
rl_fill(struct rl_result *out, enum rl_store store, bool is_hit, long limit,
    long window_seconds, long long count, long long ttl_ms)
{
	long long	reset;

	reset = ttl_ms > 0 ? (ttl_ms + 999) / 1000 : window_seconds;
	if (reset < 1)
		reset = 1;
	/* A statement that waited for the row lock may see a window opened
	 * after it started: never say more than a window. */
	if (reset > window_seconds)
		reset = window_seconds;
	memset(out, 0, sizeof(*out));
	out->limit = limit;
	out->count = (long)count;
	out->allowed = is_hit ? count <= limit : count < limit;
	out->remaining = count < limit ? (long)(limit - count) : 0;
	out->reset_seconds = (long)reset;
	out->retry_after = out->allowed ? 0 : (long)reset;
	out->store = store;
}

static void
rl_fail_open(struct rl_result *out, long limit, long window_seconds)
{
	memset(out, 0, sizeof(*out));
	out->allowed = true;
	out->limit = limit;
	out->remaining = limit;
	out->reset_seconds = window_seconds;
	out->store = RL_STORE_NONE;
	out->is_failed_open = true;
}

static void
rl_disabled(struct rl_result *out)
{
	memset(out, 0, sizeof(*out));
	out->allowed = true;
	out->store = RL_STORE_NONE;
}

/* ---- Redis ------------------------------------------------------------- */

static bool
rl_kv_usable(const struct ratelimit *rl)
{
	struct timespec	now;

	if (rl->kv == NULL)
		return false;
	if (rl->kv_retry_at.tv_sec == 0 && rl->kv_retry_at.tv_nsec == 0)
		return true;
	clock_gettime(CLOCK_MONOTONIC, &now);
	return now.tv_sec > rl->kv_retry_at.tv_sec ||
	    (now.tv_sec == rl->kv_retry_at.tv_sec &&
	    now.tv_nsec >= rl->kv_retry_at.tv_nsec);
}

/* After a failure of Redis: a lost connection keeps us away from it for a
 * while; an error reply (about this key, or LOADING and the like) does not. */
static void
rl_kv_failed(struct ratelimit *rl, const char *key, enum fb_err e)
{
	if (e == FB_ERR_UNAVAILABLE) {
		clock_gettime(CLOCK_MONOTONIC, &rl->kv_retry_at);
		rl->kv_retry_at.tv_sec += RL_KV_RETRY_SECONDS;
		rl_log(FBLOG_WARN, "ratelimit: redis unavailable, counting in "
		    "the database for a while", key, e);
	} else
		rl_log(FBLOG_WARN, "ratelimit: redis failed, counting in the "
		    "database", key, e);
}

/* Runs script on "rl:"+key with arg (or NULL); *a and *b get the two
 * integers of its reply. */
static enum fb_err
rl_kv_eval(struct ratelimit *rl, const char *script, const char *key,
    size_t keylen, const char *arg, long long *a, long long *b)
{
	char		 rkey[sizeof(RL_KV_PREFIX) - 1 + RL_KEY_MAX + 1];
	const char	*argv[5];
	size_t		 argvlen[5];
	redisReply	*r;
	enum fb_err	 e;
	int		 argc;

	memcpy(rkey, RL_KV_PREFIX, sizeof(RL_KV_PREFIX) - 1);
	memcpy(rkey + sizeof(RL_KV_PREFIX) - 1, key, keylen);
	argv[0] = "EVAL";	argvlen[0] = 4;
	argv[1] = script;	argvlen[1] = strlen(script);
	argv[2] = "1";		argvlen[2] = 1;
	argv[3] = rkey;		argvlen[3] = sizeof(RL_KV_PREFIX) - 1 + keylen;
	argc = 4;
	if (arg != NULL) {
		argv[4] = arg;
		argvlen[4] = strlen(arg);
		argc = 5;
	}
	if ((e = kv_command(rl->kv, &r, argc, argv, argvlen)) != FB_OK)
		return e;
	if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
	    r->element[0]->type != REDIS_REPLY_INTEGER ||
	    r->element[1]->type != REDIS_REPLY_INTEGER ||
	    r->element[0]->integer < 0) {
		log_msg(FBLOG_ERROR, "ratelimit: unexpected reply from redis");
		freeReplyObject(r);
		return FB_ERR_INTERNAL;
	}
	*a = r->element[0]->integer;
	*b = r->element[1]->integer;
	freeReplyObject(r);
	return FB_OK;
}

static enum fb_err
rl_kv_clear(struct ratelimit *rl, const char *key, size_t keylen)
{
	char		 rkey[sizeof(RL_KV_PREFIX) - 1 + RL_KEY_MAX + 1];
	const char	*argv[2];
	size_t		 argvlen[2];
	redisReply	*r;
	enum fb_err	 e;

	memcpy(rkey, RL_KV_PREFIX, sizeof(RL_KV_PREFIX) - 1);
	memcpy(rkey + sizeof(RL_KV_PREFIX) - 1, key, keylen);
	argv[0] = "DEL";	argvlen[0] = 3;
	argv[1] = rkey;		argvlen[1] = sizeof(RL_KV_PREFIX) - 1 + keylen;
	if ((e = kv_command(rl->kv, &r, 2, argv, argvlen)) != FB_OK)
		return e;
	e = r->type == REDIS_REPLY_INTEGER ? FB_OK : FB_ERR_INTERNAL;
	freeReplyObject(r);
	return e;
}

/* ---- PostgreSQL -------------------------------------------------------- */

/* Parses a decimal integer column value. */
static bool
rl_parse_ll(const char *s, long long *v)
{
	char	*end;

	if (s == NULL || *s == '\0')
		return false;
	errno = 0;
	*v = strtoll(s, &end, 10);
	return errno == 0 && *end == '\0';
}

/* Runs the hit or the peek statement for key; *count and *ttl_ms of its one row, or
 * 0 and -1 when it returned none. */
static enum fb_err
rl_db_query(struct ratelimit *rl, bool is_hit, const char *key,
    long window_seconds, long long *count, long long *ttl_ms)
{
	char		 window[24];
	const char	*params[2];
	PGresult	*res;
	enum fb_err	 e;
	int		 nparams = 1;

	params[0] = key;
	if (is_hit) {
		/* window_seconds ≤ RL_WINDOW_MAX: no truncation. */
		snprintf(window, sizeof(window), "%ld", window_seconds);
		params[1] = window;
		nparams = 2;
	}
	e = db_query(rl->db, &res, is_hit ? rl_sql_hit : rl_sql_peek, nparams,
	    params);
	if (e != FB_OK)
		return e;
	*count = 0;
	*ttl_ms = -1;
	e = FB_OK;
	if (PQntuples(res) == 1) {
		if (!rl_parse_ll(db_get(res, 0, "count"), count) ||
		    !rl_parse_ll(db_get(res, 0, "ttl_ms"), ttl_ms) || *count < 0) {
			log_msg(FBLOG_ERROR, "ratelimit: unexpected row from the database");
			e = FB_ERR_INTERNAL;
		}
	} else if (PQntuples(res) != 0 || is_hit) {
		log_msg(FBLOG_ERROR, "ratelimit: %d rows from the database",
		    PQntuples(res));
		e = FB_ERR_INTERNAL;
	}
	PQclear(res);
	return e;
}

/* ---- the API ----------------------------------------------------------- */

/* A hit or a peek: Redis, else PostgreSQL, else fail open. */
static enum fb_err
rl_count(struct ratelimit *rl, const char *key, long limit,
    long window_seconds, bool is_hit, struct rl_result *out)
{
	char		 window_ms[24];
	long long	 count, ttl_ms;
	size_t		 keylen;
	enum fb_err	 e;

	if ((e = rl_check(key, limit, window_seconds, &keylen)) != FB_OK) {
		memset(out, 0, sizeof(*out));
		return e;
	}
	if (limit == 0) {
		rl_disabled(out);
		return FB_OK;
	}
	e = FB_ERR_UNAVAILABLE;
	if (rl_kv_usable(rl)) {
		/* window_seconds ≤ RL_WINDOW_MAX: no truncation. */
		snprintf(window_ms, sizeof(window_ms), "%ld", window_seconds * 1000);
		e = rl_kv_eval(rl, is_hit ? rl_lua_hit : rl_lua_peek, key, keylen,
		    is_hit ? window_ms : NULL, &count, &ttl_ms);
		if (e == FB_OK) {
			rl_fill(out, RL_STORE_REDIS, is_hit, limit, window_seconds,
			    count, ttl_ms);
			return FB_OK;
		}
		rl_kv_failed(rl, key, e);
	}
	if (rl->db != NULL) {
		e = rl_db_query(rl, is_hit, key, window_seconds, &count,
		    &ttl_ms);
		if (e == FB_OK) {
			rl_fill(out, RL_STORE_DB, is_hit, limit, window_seconds,
			    count, ttl_ms);
			return FB_OK;
		}
	}
	rl_log(FBLOG_ERROR, "ratelimit: no store answered, allowing", key, e);
	rl_fail_open(out, limit, window_seconds);
	return FB_OK;
}

enum fb_err
ratelimit_hit(struct ratelimit *rl, const char *key, long limit,
    long window_seconds, struct rl_result *out)
{
	return rl_count(rl, key, limit, window_seconds, true, out);
}

enum fb_err
ratelimit_peek(struct ratelimit *rl, const char *key, long limit,
    long window_seconds, struct rl_result *out)
{
	return rl_count(rl, key, limit, window_seconds, false, out);
}

enum fb_err
ratelimit_clear(struct ratelimit *rl, const char *key)
{
	const char	*params[1];
	size_t		 keylen;
	enum fb_err	 e;

	if ((keylen = rl_key_len(key)) == 0)
		return FB_ERR_INVALID;
	e = FB_ERR_UNAVAILABLE;
	if (rl_kv_usable(rl)) {
		if ((e = rl_kv_clear(rl, key, keylen)) == FB_OK)
			return FB_OK;
		rl_kv_failed(rl, key, e);
	}
	if (rl->db != NULL) {
		params[0] = key;
		if ((e = db_exec(rl->db, NULL, rl_sql_clear, 1, params)) == FB_OK)
			return FB_OK;
	}
	rl_log(FBLOG_ERROR, "ratelimit: no store answered, key not cleared", key, e);
	return FB_ERR_UNAVAILABLE;
}

/* Writes v (negative as 0) into a buffer of RL_HEADER_SIZE. */
static void
rl_fmt(char *dst, long v)
{
	/* A long has at most 19 digits: never truncated. */
	snprintf(dst, RL_HEADER_SIZE, "%ld", v > 0 ? v : 0);
}

void
ratelimit_headers(const struct rl_result *r, char limit[RL_HEADER_SIZE],
    char remaining[RL_HEADER_SIZE], char reset[RL_HEADER_SIZE],
    char retry_after[RL_HEADER_SIZE])
{
	rl_fmt(limit, r->limit);
	rl_fmt(remaining, r->remaining);
	rl_fmt(reset, r->reset_seconds);
	if (r->allowed)
		retry_after[0] = '\0';
	else
		rl_fmt(retry_after, r->retry_after > 0 ? r->retry_after : 1);
}
