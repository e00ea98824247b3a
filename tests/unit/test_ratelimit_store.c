/*
 * test_ratelimit_store — shared/ratelimit.c against a real PostgreSQL
 * (TEST_DATABASE_URL, a database migrated with schema/) and a real Redis
 * (TEST_REDIS_URL). Skipped unless both are set: run by
 * tests/integration/60-ratelimit-store.t, which starts both.
 *
 * The same cases run on each store: the limit and the values of a window,
 * peek, clear, a window's end, and 8 processes counting one key at once.
 * Then Redis is shut down (SHUTDOWN NOSAVE: this program stops the Redis it
 * was given) and the counting moves to PostgreSQL; then with an unreachable
 * PostgreSQL too, every hit is allowed (fail open).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "db.h"
#include "kv.h"
#include "log.h"
#include "ratelimit.h"
#include "tap.h"

/* Processes and hits per process of the concurrency case. */
#define CONC_PROCS	8
#define CONC_HITS	50
#define CONC_LIMIT	200

/* What every case needs. */
struct ctx {
	const char	*db_url;
	const char	*kv_url;	/* (or NULL: the PostgreSQL store alone) */
	struct db	*db;		/* for checks behind the module's back */
	struct ratelimit *rl;
	enum rl_store	 store;		/* the store that must answer */
	const char	*name;		/* of the store, in test names and keys */
	long		 pid;		/* keys are unique per run */
};

static const char *
store_name(enum rl_store s)
{
	switch (s) {
	case RL_STORE_NONE:	return "none";
	case RL_STORE_REDIS:	return "redis";
	case RL_STORE_DB:	return "db";
	}
	return "?";
}

/* True when r is as wanted; else says what it is. */
static bool
expect(enum fb_err e, const struct rl_result *r, bool allowed, long count,
    long remaining, enum rl_store store)
{
	if (e == FB_OK && r->allowed == allowed && r->count == count &&
	    r->remaining == remaining && r->store == store &&
	    r->is_failed_open == (store == RL_STORE_NONE))
		return true;
	diag("got %s: allowed %d count %ld remaining %ld reset %ld retry_after %ld"
	    " store %s failed_open %d", fb_strerror(e), r->allowed, r->count,
	    r->remaining, r->reset_seconds, r->retry_after, store_name(r->store),
	    r->is_failed_open);
	diag("wanted: allowed %d count %ld remaining %ld store %s", allowed,
	    count, remaining, store_name(store));
	return false;
}

static void
mkkey(char *key, size_t size, const struct ctx *c, const char *what)
{
	if ((size_t)snprintf(key, size, "%s:%s:%ld", c->name, what, c->pid) >= size)
		bail_out("key too long");
}

static void
sleep_ms(long ms)
{
	struct timespec	ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* Limit 5: five allowed (remaining 4..0), then refused until the window ends. */
static void
case_basic(struct ctx *c)
{
	struct rl_result r;
	enum fb_err	 e;
	char		 key[128];
	long		 i;

	mkkey(key, sizeof(key), c, "basic");
	for (i = 1; i <= 5; i++) {
		e = ratelimit_hit(c->rl, key, 5, 60, &r);
		ok(expect(e, &r, true, i, 5 - i, c->store),
		    "%s: hit %ld of limit 5 allowed, remaining %ld", c->name, i, 5 - i);
		ok(r.limit == 5 && r.reset_seconds >= 1 && r.reset_seconds <= 60 &&
		    r.retry_after == 0, "%s: hit %ld: limit 5, reset %ld in [1, 60],"
		    " no retry_after", c->name, i, r.reset_seconds);
	}
	e = ratelimit_hit(c->rl, key, 5, 60, &r);
	ok(expect(e, &r, false, 6, 0, c->store), "%s: hit 6 refused", c->name);
	ok(r.retry_after > 0 && r.retry_after <= 60,
	    "%s: hit 6: retry_after %ld in (0, 60]", c->name, r.retry_after);
	is_int(r.retry_after, r.reset_seconds, "%s: hit 6: retry_after = reset",
	    c->name);
	e = ratelimit_hit(c->rl, key, 5, 60, &r);
	ok(expect(e, &r, false, 7, 0, c->store),
	    "%s: hit 7 refused and counted", c->name);
	/* Another key is another count. */
	mkkey(key, sizeof(key), c, "basic-other");
	e = ratelimit_hit(c->rl, key, 5, 60, &r);
	ok(expect(e, &r, true, 1, 4, c->store), "%s: another key starts at 1",
	    c->name);
}

/* Peek counts nothing and tells whether one more hit would pass. */
static void
case_peek(struct ctx *c)
{
	struct rl_result r;
	enum fb_err	 e;
	char		 key[128];
	int		 i;

	mkkey(key, sizeof(key), c, "peek");
	e = ratelimit_peek(c->rl, key, 5, 60, &r);
	ok(expect(e, &r, true, 0, 5, c->store), "%s: peek at a new key: count 0",
	    c->name);
	is_int(r.reset_seconds, 60, "%s: peek at a new key: reset is a whole window",
	    c->name);
	ratelimit_hit(c->rl, key, 5, 60, &r);
	ratelimit_hit(c->rl, key, 5, 60, &r);
	for (i = 0; i < 3; i++) {
		e = ratelimit_peek(c->rl, key, 5, 60, &r);
		ok(expect(e, &r, true, 2, 3, c->store),
		    "%s: peek %d after 2 hits: count 2, remaining 3", c->name, i + 1);
	}
	e = ratelimit_hit(c->rl, key, 5, 60, &r);
	ok(expect(e, &r, true, 3, 2, c->store),
	    "%s: the next hit is the 3rd: peeks did not count", c->name);
	ratelimit_hit(c->rl, key, 5, 60, &r);
	ratelimit_hit(c->rl, key, 5, 60, &r);
	e = ratelimit_peek(c->rl, key, 5, 60, &r);
	ok(expect(e, &r, false, 5, 0, c->store),
	    "%s: peek after 5 of 5: one more would be refused", c->name);
	ok(r.retry_after > 0 && r.retry_after <= 60,
	    "%s: ... retry_after %ld in (0, 60]", c->name, r.retry_after);
}

static void
case_clear(struct ctx *c)
{
	struct rl_result r;
	enum fb_err	 e;
	char		 key[128];
	int		 i;

	mkkey(key, sizeof(key), c, "clear");
	for (i = 0; i < 6; i++)
		e = ratelimit_hit(c->rl, key, 5, 60, &r);
	ok(expect(e, &r, false, 6, 0, c->store), "%s: 6 hits of 5: refused", c->name);
	is_int(ratelimit_clear(c->rl, key), FB_OK, "%s: clear", c->name);
	e = ratelimit_peek(c->rl, key, 5, 60, &r);
	ok(expect(e, &r, true, 0, 5, c->store), "%s: after clear: count 0", c->name);
	e = ratelimit_hit(c->rl, key, 5, 60, &r);
	ok(expect(e, &r, true, 1, 4, c->store), "%s: after clear: a new window",
	    c->name);
	mkkey(key, sizeof(key), c, "clear-never-hit");
	is_int(ratelimit_clear(c->rl, key), FB_OK, "%s: clear of an unknown key",
	    c->name);
}

/* A window of 1 s: refused, then allowed again once it ended. */
static void
case_window(struct ctx *c)
{
	struct rl_result r;
	enum fb_err	 e;
	char		 key[128];

	mkkey(key, sizeof(key), c, "window");
	ratelimit_hit(c->rl, key, 2, 1, &r);
	ratelimit_hit(c->rl, key, 2, 1, &r);
	e = ratelimit_hit(c->rl, key, 2, 1, &r);
	ok(expect(e, &r, false, 3, 0, c->store), "%s: window 1 s: 3rd of 2 refused",
	    c->name);
	ok(r.retry_after == 1 && r.reset_seconds == 1,
	    "%s: window 1 s: retry_after %ld, reset %ld: 1", c->name, r.retry_after,
	    r.reset_seconds);
	sleep_ms(1200);
	e = ratelimit_peek(c->rl, key, 2, 1, &r);
	ok(expect(e, &r, true, 0, 2, c->store), "%s: after the window: peek 0",
	    c->name);
	e = ratelimit_hit(c->rl, key, 2, 1, &r);
	ok(expect(e, &r, true, 1, 1, c->store), "%s: after the window: allowed, count 1",
	    c->name);

	/* The same window semantics for a 2 s window that we watch run out. */
	mkkey(key, sizeof(key), c, "window2");
	ratelimit_hit(c->rl, key, 1, 2, &r);
	sleep_ms(1100);
	e = ratelimit_hit(c->rl, key, 1, 2, &r);
	ok(expect(e, &r, false, 2, 0, c->store) && r.retry_after == 1,
	    "%s: window 2 s, 1.1 s in: refused, retry_after %ld = 1", c->name,
	    r.retry_after);
	sleep_ms(1000);
	e = ratelimit_hit(c->rl, key, 1, 2, &r);
	ok(expect(e, &r, true, 1, 0, c->store),
	    "%s: window 2 s, 2.1 s in: a new window (not extended by the refusal)",
	    c->name);
}

/* Keys are text: UTF-8 goes through both stores unchanged. */
static void
case_utf8(struct ctx *c)
{
	struct rl_result r;
	enum fb_err	 e;
	char		 key[128];

	mkkey(key, sizeof(key), c, "login:192.0.2.1:jos\xc3\xa9@\xe4\xbe\x8b\xe3\x81\x88.jp");
	ratelimit_hit(c->rl, key, 5, 60, &r);
	e = ratelimit_hit(c->rl, key, 5, 60, &r);
	ok(expect(e, &r, true, 2, 3, c->store), "%s: a UTF-8 key counts", c->name);
}

/*
 * One child of case_concurrency: own connections, wait for the start (the
 * parent closes the pipe), CONC_HITS hits. Exit status: the hits allowed,
 * or 100 + something when a call failed or another store answered.
 */
static void
conc_child(const struct ctx *c, const char *key, int startfd)
{
	struct kv	 kv;
	struct db	 db;
	struct ratelimit rl;
	struct rl_result r;
	char		 b;
	int		 i, allowed = 0, status = 0;

	log_after_fork();
	memset(&rl, 0, sizeof(rl));
	if (db_open(&db, c->db_url, 0, "test_ratelimit_store") != FB_OK)
		status = 101;
	rl.db = &db;
	if (c->kv_url != NULL) {
		if (kv_open(&kv, c->kv_url) != FB_OK)
			status = 102;
		rl.kv = &kv;
	}
	while (read(startfd, &b, 1) < 0 && errno == EINTR)
		;
	for (i = 0; i < CONC_HITS && status == 0; i++) {
		if (ratelimit_hit(&rl, key, CONC_LIMIT, 60, &r) != FB_OK)
			status = 103;
		else if (r.store != c->store)
			status = 104;
		else if (r.allowed)
			allowed++;
	}
	if (c->kv_url != NULL)
		kv_close(&kv);
	db_close(&db);
	/* _exit: the parent's stdio buffers and connections are not ours. */
	_exit(status != 0 ? status : allowed);
}

/* CONC_PROCS processes × CONC_HITS hits on one key, limit CONC_LIMIT:
 * exactly CONC_LIMIT are allowed. */
static void
case_concurrency(struct ctx *c)
{
	struct rl_result r;
	pid_t		 pids[CONC_PROCS];
	char		 key[128];
	int		 startpipe[2], i, st, total = 0, bad = 0, nkids = 0;
	enum fb_err	 e;

	mkkey(key, sizeof(key), c, "concurrency");
	if (pipe(startpipe) < 0)
		bail_out("pipe: %s", strerror(errno));
	fflush(stdout);
	fflush(stderr);
	for (i = 0; i < CONC_PROCS; i++) {
		if ((pids[i] = fork()) < 0) {
			diag("fork: %s", strerror(errno));
			bad++;
			break;
		}
		if (pids[i] == 0) {
			close(startpipe[1]);
			conc_child(c, key, startpipe[0]);
		}
		nkids++;
	}
	close(startpipe[0]);
	close(startpipe[1]);	/* go */
	for (i = 0; i < nkids; i++) {
		while (waitpid(pids[i], &st, 0) < 0)
			if (errno != EINTR)
				bail_out("waitpid: %s", strerror(errno));
		if (!WIFEXITED(st) || WEXITSTATUS(st) > CONC_HITS) {
			diag("child %d: %s %d", i, WIFEXITED(st) ? "exit" : "signal",
			    WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));
			bad++;
		} else
			total += WEXITSTATUS(st);
	}
	is_int(bad, 0, "%s: %d processes × %d hits: every process counted",
	    c->name, CONC_PROCS, CONC_HITS);
	is_int(total, CONC_LIMIT, "%s: %d processes × %d hits, limit %d: exactly %d"
	    " allowed", c->name, CONC_PROCS, CONC_HITS, CONC_LIMIT, CONC_LIMIT);
	e = ratelimit_peek(c->rl, key, CONC_LIMIT, 60, &r);
	ok(expect(e, &r, false, CONC_PROCS * CONC_HITS, 0, c->store),
	    "%s: every hit was counted (%d)", c->name, CONC_PROCS * CONC_HITS);
}

static void
run_cases(struct ctx *c)
{
	case_basic(c);
	case_peek(c);
	case_clear(c);
	case_window(c);
	case_utf8(c);
	case_concurrency(c);
}

/* The value of a one-row, one-column query, in buf ("" on failure). */
static const char *
q1(struct db *db, const char *sql, const char *param, char *buf, size_t size)
{
	PGresult	*res;
	const char	*params[1] = { param };

	buf[0] = '\0';
	if (db_query(db, &res, sql, param != NULL ? 1 : 0, params) != FB_OK)
		return buf;
	if (PQntuples(res) == 1 && PQnfields(res) == 1)
		snprintf(buf, size, "%s", PQgetvalue(res, 0, 0));
	PQclear(res);
	return buf;
}

static void
check_db_rows(struct ctx *c)
{
	char	key[128], v[128];

	mkkey(key, sizeof(key), c, "basic");
	is_str(q1(c->db, "SELECT count || ' ' || extract(epoch FROM expires_at -"
	    " window_start) FROM rate_limits WHERE key = $1", key, v, sizeof(v)),
	    "7 60.000000", "db: the row of the basic case: count 7, a 60 s window");
}

/* Redis has the window in "rl:" + key, with its expiry. */
static void
check_kv_keys(struct ctx *c, struct kv *kv)
{
	char		 key[128], rkey[140];
	const char	*argv[2];
	redisReply	*r;
	long long	 ttl = -3;

	mkkey(key, sizeof(key), c, "basic");
	snprintf(rkey, sizeof(rkey), "rl:%s", key);
	argv[0] = "PTTL";
	argv[1] = rkey;
	if (kv_command(kv, &r, 2, argv, NULL) == FB_OK) {
		if (r->type == REDIS_REPLY_INTEGER)
			ttl = r->integer;
		freeReplyObject(r);
	}
	ok(ttl > 50000 && ttl <= 60000, "redis: rl:<key> expires with its window"
	    " (PTTL %lld ms)", ttl);
}

/* Stops the Redis of kv, and waits until it no longer answers. */
static bool
stop_redis(struct kv *kv)
{
	const char	*argv[] = { "SHUTDOWN", "NOSAVE" };
	redisReply	*r;
	double		 ms;
	int		 i;

	/* The server closes the connection: no reply, an error for us. */
	if (kv_command(kv, &r, 2, argv, NULL) == FB_OK)
		freeReplyObject(r);
	for (i = 0; i < 100; i++) {
		if (kv_ping(kv, &ms) != FB_OK)
			return true;
		sleep_ms(100);
	}
	return false;
}

/* Redis gone: the same process counts in PostgreSQL, still limiting. */
static void
case_redis_down(struct ctx *c, struct kv *kv)
{
	struct rl_result r;
	enum fb_err	 e;
	char		 key[128], v[64];
	long		 i;

	mkkey(key, sizeof(key), c, "fallback");
	e = ratelimit_hit(c->rl, key, 3, 60, &r);
	ok(expect(e, &r, true, 1, 2, RL_STORE_REDIS), "redis up: hit 1 in redis");
	if (!ok(stop_redis(kv), "redis stopped (SHUTDOWN NOSAVE)"))
		return;
	/* The window in Redis is gone with it: PostgreSQL starts from 0. */
	for (i = 1; i <= 3; i++) {
		e = ratelimit_hit(c->rl, key, 3, 60, &r);
		ok(expect(e, &r, true, i, 3 - i, RL_STORE_DB),
		    "redis down: hit %ld of 3 allowed, counted in the database", i);
	}
	e = ratelimit_hit(c->rl, key, 3, 60, &r);
	ok(expect(e, &r, false, 4, 0, RL_STORE_DB), "redis down: hit 4 of 3 refused");
	ok(r.retry_after > 0 && r.retry_after <= 60,
	    "redis down: retry_after %ld in (0, 60]", r.retry_after);
	is_str(q1(c->db, "SELECT count FROM rate_limits WHERE key = $1", key, v,
	    sizeof(v)), "4", "redis down: the row is in rate_limits");
	e = ratelimit_peek(c->rl, key, 3, 60, &r);
	ok(expect(e, &r, false, 4, 0, RL_STORE_DB), "redis down: peek in the database");
	is_int(ratelimit_clear(c->rl, key), FB_OK, "redis down: clear");
	is_str(q1(c->db, "SELECT count(*) FROM rate_limits WHERE key = $1", key, v,
	    sizeof(v)), "0", "redis down: clear deleted the row");
	e = ratelimit_hit(c->rl, key, 3, 60, &r);
	ok(expect(e, &r, true, 1, 2, RL_STORE_DB), "redis down: after clear: count 1");

	/* A process whose Redis was never reachable does the same. */
	{
		struct kv	 kv2;
		struct ratelimit rl2 = { .db = c->db };
		char		 url[64];

		snprintf(url, sizeof(url), "redis://127.0.0.1:1/0");
		kv_open(&kv2, url);
		rl2.kv = &kv2;
		mkkey(key, sizeof(key), c, "fallback-never-up");
		ratelimit_hit(&rl2, key, 1, 60, &r);
		e = ratelimit_hit(&rl2, key, 1, 60, &r);
		ok(expect(e, &r, false, 2, 0, RL_STORE_DB),
		    "redis never reachable: limited in the database");
		kv_close(&kv2);
	}
}

/* Neither store answers: every hit is allowed, flagged failed open. */
static void
case_all_down(struct ctx *c, struct kv *kv)
{
	struct db	 bad;
	struct ratelimit both = { .kv = kv }, dbonly = { .kv = NULL };
	struct rl_result r;
	enum fb_err	 e;
	char		 key[128];
	int		 i, open_hits = 0;

	/* Nothing listens on port 1: the connection is refused at once. */
	db_open(&bad, "postgresql://fastback@127.0.0.1:1/fastback?connect_timeout=2",
	    0, "test_ratelimit_store");
	both.db = &bad;
	dbonly.db = &bad;
	mkkey(key, sizeof(key), c, "all-down");
	for (i = 0; i < 5; i++) {
		e = ratelimit_hit(&both, key, 1, 60, &r);
		if (expect(e, &r, true, 0, 1, RL_STORE_NONE))
			open_hits++;
	}
	is_int(open_hits, 5, "redis and database down: 5 hits of limit 1 allowed"
	    " (failed open)");
	e = ratelimit_peek(&both, key, 1, 60, &r);
	ok(expect(e, &r, true, 0, 1, RL_STORE_NONE),
	    "redis and database down: peek fails open");
	is_int(ratelimit_clear(&both, key), FB_ERR_UNAVAILABLE,
	    "redis and database down: clear is unavailable");
	e = ratelimit_hit(&dbonly, key, 1, 60, &r);
	ok(expect(e, &r, true, 0, 1, RL_STORE_NONE),
	    "no redis, database down: fails open");
	db_close(&bad);
}

int
main(void)
{
	const char	*db_url, *kv_url;
	struct db	 db;
	struct kv	 kv;
	struct ratelimit rl_db, rl_kv;
	struct ctx	 c;
	char		 v[64];

	db_url = getenv("TEST_DATABASE_URL");
	kv_url = getenv("TEST_REDIS_URL");
	if (db_url == NULL || *db_url == '\0' || kv_url == NULL || *kv_url == '\0') {
		printf("1..0 # SKIP TEST_DATABASE_URL and TEST_REDIS_URL not both set"
		    " (see tests/integration/60-ratelimit-store.t)\n");
		return 0;
	}
	/* Warnings (Redis going away) are expected; failures show as errors. */
	log_setup("test_ratelimit_store", FBLOG_ERROR);
	if (db_open(&db, db_url, 0, "test_ratelimit_store") != FB_OK)
		bail_out("cannot connect to TEST_DATABASE_URL");
	if (strcmp(q1(&db, "SELECT to_regclass('rate_limits') IS NOT NULL", NULL,
	    v, sizeof(v)), "t") != 0)
		bail_out("no table rate_limits: is TEST_DATABASE_URL migrated?");
	if (kv_open(&kv, kv_url) != FB_OK)
		bail_out("cannot connect to TEST_REDIS_URL");

	memset(&c, 0, sizeof(c));
	c.db_url = db_url;
	c.db = &db;
	c.pid = (long)getpid();

	/* PostgreSQL alone (a process without Redis). */
	rl_db = (struct ratelimit){ .kv = NULL, .db = &db };
	c.rl = &rl_db;
	c.store = RL_STORE_DB;
	c.name = "db";
	run_cases(&c);
	check_db_rows(&c);

	/* Redis, with PostgreSQL behind it. */
	rl_kv = (struct ratelimit){ .kv = &kv, .db = &db };
	c.rl = &rl_kv;
	c.kv_url = kv_url;
	c.store = RL_STORE_REDIS;
	c.name = "redis";
	run_cases(&c);
	check_kv_keys(&c, &kv);
	is_str(q1(&db, "SELECT count(*) FROM rate_limits WHERE key LIKE 'redis:%'",
	    NULL, v, sizeof(v)), "0", "redis: nothing was counted in the database");

	case_redis_down(&c, &kv);
	case_all_down(&c, &kv);

	kv_close(&kv);
	db_close(&db);
	return done_testing();
}
