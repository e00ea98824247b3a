/*
 * test_ratelimit — the parts of shared/ratelimit.c that need no store:
 * argument checks, a disabled limit, failing open with no store configured,
 * and the header values. The stores themselves are in test_ratelimit_store
 * (tests/integration/60-ratelimit-store.t).
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "ratelimit.h"
#include "tap.h"

/* A result with every field set to garbage, to see what a call overwrites. */
static void
dirty(struct rl_result *r)
{
	memset(r, 0x5a, sizeof(*r));
}

/* Log lines (stderr) of the calls between capture_begin() and capture_end()
 * go to a file and then into buf. Test results are reported after
 * capture_end(), so that failures are seen. */
static struct {
	FILE	*f;
	int	 saved;
} capture;

static void
capture_begin(void)
{
	fflush(stderr);
	if ((capture.f = tmpfile()) == NULL || (capture.saved = dup(2)) < 0 ||
	    dup2(fileno(capture.f), 2) < 0)
		bail_out("cannot redirect stderr");
}

static void
capture_end(char *buf, size_t size)
{
	size_t	n;

	fflush(stderr);
	dup2(capture.saved, 2);
	close(capture.saved);
	rewind(capture.f);
	n = fread(buf, 1, size - 1, capture.f);
	buf[n] = '\0';
	fclose(capture.f);
}

static void
test_keys(void)
{
	static const struct {
		const char	*key;
		const char	*what;
	} bad[] = {
		{ "",			"empty" },
		{ "auth:\xff",		"a byte that is never UTF-8" },
		{ "auth:\xc3",		"a truncated sequence" },
		{ "auth:\xc3(",		"a bad continuation byte" },
		{ "auth:\xc0\xaf",	"an overlong '/'" },
		{ "auth:\xe0\x80\xaf",	"an overlong '/' in three bytes" },
		{ "auth:\xed\xa0\x80",	"a UTF-16 surrogate (U+D800)" },
		{ "auth:\xf4\x90\x80\x80", "above U+10FFFF" },
		{ "auth:\xf8\x88\x80\x80\x80", "a five-byte form" },
	};
	struct ratelimit	rl = { .kv = NULL, .db = NULL };
	struct rl_result	r;
	char			key[RL_KEY_MAX + 2];
	size_t			i;

	memset(key, 'k', sizeof(key) - 1);
	key[sizeof(key) - 1] = '\0';	/* RL_KEY_MAX + 1 bytes */
	dirty(&r);
	is_int(ratelimit_hit(&rl, key, 5, 60, &r), FB_ERR_INVALID,
	    "hit: a key of %d bytes is refused", RL_KEY_MAX + 1);
	ok(!r.allowed && r.count == 0 && r.limit == 0, "hit: *out is zeroed on error");
	is_int(ratelimit_hit(&rl, key, 0, 60, &r), FB_ERR_INVALID,
	    "hit: also when the limit is disabled");
	is_int(ratelimit_peek(&rl, key, 5, 60, &r), FB_ERR_INVALID,
	    "peek: a key of %d bytes is refused", RL_KEY_MAX + 1);
	is_int(ratelimit_clear(&rl, key), FB_ERR_INVALID,
	    "clear: a key of %d bytes is refused", RL_KEY_MAX + 1);

	key[RL_KEY_MAX] = '\0';
	is_int(ratelimit_hit(&rl, key, 0, 60, &r), FB_OK,
	    "hit: a key of %d bytes is accepted", RL_KEY_MAX);
	is_int(ratelimit_hit(&rl, NULL, 0, 60, &r), FB_ERR_INVALID, "hit: NULL key");
	is_int(ratelimit_peek(&rl, NULL, 5, 60, &r), FB_ERR_INVALID, "peek: NULL key");
	is_int(ratelimit_clear(&rl, NULL), FB_ERR_INVALID, "clear: NULL key");
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		is_int(ratelimit_hit(&rl, bad[i].key, 5, 60, &r), FB_ERR_INVALID,
		    "hit: %s", bad[i].what);
		is_int(ratelimit_clear(&rl, bad[i].key), FB_ERR_INVALID,
		    "clear: %s", bad[i].what);
	}
	is_int(ratelimit_hit(&rl, "login:ip-email:192.0.2.1:Jos\xc3\xa9@example.com",
	    0, 60, &r), FB_OK, "hit: UTF-8 is fine");
	is_int(ratelimit_hit(&rl, "x:\xf0\x9f\x98\x80\xf4\x8f\xbf\xbf\xed\x9f\xbf",
	    0, 60, &r), FB_OK, "hit: U+1F600, U+10FFFF and U+D7FF are fine");
}

static void
test_bounds(void)
{
	struct ratelimit	rl = { .kv = NULL, .db = NULL };
	struct rl_result	r;
	enum fb_err		e;
	char			logged[4096];

	is_int(ratelimit_hit(&rl, "k", -1, 60, &r), FB_ERR_INVALID, "limit -1");
	is_int(ratelimit_hit(&rl, "k", RL_LIMIT_MAX + 1, 60, &r), FB_ERR_INVALID,
	    "limit RL_LIMIT_MAX + 1");
	is_int(ratelimit_hit(&rl, "k", 5, 0, &r), FB_ERR_INVALID, "window 0");
	is_int(ratelimit_hit(&rl, "k", 5, -60, &r), FB_ERR_INVALID, "window -60");
	is_int(ratelimit_peek(&rl, "k", 5, 0, &r), FB_ERR_INVALID, "peek: window 0");
	is_int(ratelimit_hit(&rl, "k", 5, RL_WINDOW_MAX + 1, &r), FB_ERR_INVALID,
	    "window RL_WINDOW_MAX + 1");
	is_int(ratelimit_hit(&rl, "k", 0, 0, &r), FB_OK,
	    "a disabled limit needs no window");
	capture_begin();	/* it fails open: no store */
	e = ratelimit_hit(&rl, "k", RL_LIMIT_MAX, RL_WINDOW_MAX, &r);
	capture_end(logged, sizeof(logged));
	is_int(e, FB_OK, "the largest limit and window");
}

static void
test_disabled(void)
{
	/* No store at all: a disabled limit must not need one. */
	struct ratelimit	rl = { .kv = NULL, .db = NULL };
	struct rl_result	r;
	int			i, good = 0;

	for (i = 0; i < 1000; i++) {
		dirty(&r);
		if (ratelimit_hit(&rl, "general:ip:192.0.2.1", 0, 60, &r) == FB_OK &&
		    r.allowed && r.store == RL_STORE_NONE && !r.is_failed_open &&
		    r.count == 0 && r.limit == 0 && r.remaining == 0 &&
		    r.retry_after == 0)
			good++;
	}
	is_int(good, 1000, "limit 0: 1000 hits allowed, nothing counted");
	dirty(&r);
	is_int(ratelimit_peek(&rl, "general:ip:192.0.2.1", 0, 60, &r), FB_OK,
	    "limit 0: peek");
	ok(r.allowed && r.store == RL_STORE_NONE && !r.is_failed_open,
	    "limit 0: peek allows");
}

static void
test_fail_open(void)
{
	/* No store configured is the extreme of "no store answers". */
	struct ratelimit	rl = { .kv = NULL, .db = NULL };
	struct rl_result	r, peek;
	enum fb_err		peek_e, clear_e;
	char			logged[8192];
	int			i, good = 0;

	capture_begin();
	for (i = 0; i < 10; i++) {
		dirty(&r);
		if (ratelimit_hit(&rl, "auth:ip:192.0.2.1", 1, 60, &r) == FB_OK &&
		    r.allowed && r.is_failed_open && r.store == RL_STORE_NONE &&
		    r.count == 0 && r.limit == 1 && r.remaining == 1 &&
		    r.reset_seconds == 60 && r.retry_after == 0)
			good++;
	}
	dirty(&peek);
	peek_e = ratelimit_peek(&rl, "auth:ip:192.0.2.1", 1, 60, &peek);
	clear_e = ratelimit_clear(&rl, "auth:ip:192.0.2.1");
	ratelimit_hit(&rl, "nocolon@example.com", 1, 60, &r);
	capture_end(logged, sizeof(logged));

	is_int(good, 10, "no store: limit 1, 10 hits allowed, failed open");
	is_int(peek_e, FB_OK, "no store: peek");
	ok(peek.allowed && peek.is_failed_open, "no store: peek fails open");
	is_int(clear_e, FB_ERR_UNAVAILABLE, "no store: clear says unavailable");
	has_str(logged, "\"scope\":\"auth\"", "failing open is logged with the key's scope");
	has_str(logged, "no store answered", "... and says so");
	lacks_str(logged, "192.0.2.1", "... but not the rest of the key");
	lacks_str(logged, "example.com", "... nor a key without a scope");
}

static void
test_headers(void)
{
	static const struct {
		struct rl_result r;
		const char	*limit, *remaining, *reset, *retry_after;
		const char	*what;
	} cases[] = {
		{ { .allowed = true, .limit = 5, .remaining = 4, .reset_seconds = 60,
		    .count = 1 }, "5", "4", "60", "", "first hit" },
		{ { .allowed = true, .limit = 5, .remaining = 0, .reset_seconds = 1,
		    .count = 5 }, "5", "0", "1", "", "last allowed hit" },
		{ { .allowed = false, .limit = 5, .remaining = 0, .reset_seconds = 42,
		    .retry_after = 42, .count = 6 }, "5", "0", "42", "42", "refused" },
		{ { .allowed = false, .limit = 5, .remaining = 0, .reset_seconds = 0,
		    .retry_after = 0, .count = 6 }, "5", "0", "0", "1",
		    "refused without a delay: Retry-After at least 1" },
		{ { .allowed = true, .limit = 300, .remaining = -3, .reset_seconds = -1 },
		    "300", "0", "0", "", "negative values as 0" },
		{ { .allowed = false, .limit = RL_LIMIT_MAX, .remaining = 0,
		    .reset_seconds = RL_WINDOW_MAX, .retry_after = RL_WINDOW_MAX },
		    "1000000000", "0", "2678400", "2678400", "the largest values" },
		{ { .allowed = false, .limit = 9223372036854775807L, .remaining = 0,
		    .reset_seconds = 9223372036854775807L,
		    .retry_after = 9223372036854775807L },
		    "9223372036854775807", "0", "9223372036854775807",
		    "9223372036854775807", "LONG_MAX fits" },
	};
	char	limit[RL_HEADER_SIZE], remaining[RL_HEADER_SIZE];
	char	reset[RL_HEADER_SIZE], retry_after[RL_HEADER_SIZE];
	size_t	i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		memset(limit, 'x', sizeof(limit));
		memset(remaining, 'x', sizeof(remaining));
		memset(reset, 'x', sizeof(reset));
		memset(retry_after, 'x', sizeof(retry_after));
		ratelimit_headers(&cases[i].r, limit, remaining, reset, retry_after);
		is_str(limit, cases[i].limit, "%s: RateLimit-Limit", cases[i].what);
		is_str(remaining, cases[i].remaining, "%s: RateLimit-Remaining",
		    cases[i].what);
		is_str(reset, cases[i].reset, "%s: RateLimit-Reset", cases[i].what);
		is_str(retry_after, cases[i].retry_after, "%s: Retry-After",
		    cases[i].what);
	}
}

int
main(void)
{
	log_setup("test_ratelimit", FBLOG_ERROR);
	test_keys();
	test_bounds();
	test_disabled();
	test_fail_open();
	test_headers();
	return done_testing();
}
