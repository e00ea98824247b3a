/*
 * test_tokencache — verified tokens remembered per process: a hit gives the
 * claims back; a token differing anywhere misses; expiry is checked on every
 * lookup with the leeway; too-long tokens are not kept; slots are replaced.
 */
#include <stdio.h>
#include <string.h>

#include "tap.h"
#include "tokencache.h"

#define SUB "11111111-1111-4111-8111-111111111111"
#define SID "22222222-2222-4222-8222-222222222222"

int
main(void)
{
	struct tokencache_hit	 hit;
	char			 tok[64], other[64], big[TOKENCACHE_MAX_TOKEN + 2];
	time_t			 now = 1800000000;
	int			 i, hits = 0, misses = 0;

	snprintf(tok, sizeof(tok), "aaa.bbb.ccc");
	ok(!tokencache_get(tok, now, 30, &hit), "an unknown token misses");
	tokencache_put(tok, (double)now + 600, SUB, SID);
	memset(&hit, 0, sizeof(hit));
	ok(tokencache_get(tok, now, 30, &hit), "a remembered token hits");
	is_str(hit.sub, SUB, "sub comes back");
	is_str(hit.sid, SID, "sid comes back");

	snprintf(other, sizeof(other), "aaa.bbb.ccd");
	ok(!tokencache_get(other, now, 30, &hit), "one byte changed (the last): a miss");
	snprintf(other, sizeof(other), "baa.bbb.ccc");
	ok(!tokencache_get(other, now, 30, &hit), "one byte changed (the first): a miss");
	ok(!tokencache_get("aaa.bbb.cc", now, 30, &hit), "a prefix: a miss");
	ok(!tokencache_get("", now, 30, &hit), "the empty token: a miss");

	ok(tokencache_get(tok, now + 629, 30, &hit), "expired 29 s ago, within the 30 s leeway: a hit");
	ok(!tokencache_get(tok, now + 630, 30, &hit), "expired beyond the leeway: a miss");
	ok(!tokencache_get(tok, now, 30, &hit), "... and the entry is gone");

	tokencache_put(tok, (double)now + 600, SUB, SID);
	ok(!tokencache_get(tok, now + 601, -5, &hit), "a negative leeway counts as none");

	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	tokencache_put(big, (double)now + 600, SUB, SID);
	ok(!tokencache_get(big, now, 30, &hit), "a token over TOKENCACHE_MAX_TOKEN is not kept");
	tokencache_put(tok, (double)now + 600, "too-long-subject-that-is-not-a-uuid-at-all", SID);
	ok(!tokencache_get(tok, now, 30, &hit), "a sub that does not fit is not kept");

	/* More tokens than slots: every lookup is right, hit or miss. */
	for (i = 0; i < 4 * TOKENCACHE_SLOTS; i++) {
		snprintf(other, sizeof(other), "tok.%d.sig", i);
		tokencache_put(other, (double)now + 600, SUB, SID);
	}
	for (i = 0; i < 4 * TOKENCACHE_SLOTS; i++) {
		snprintf(other, sizeof(other), "tok.%d.sig", i);
		if (tokencache_get(other, now, 30, &hit))
			hits += strcmp(hit.sid, SID) == 0;
		else
			misses++;
	}
	ok(hits > 0 && hits <= TOKENCACHE_SLOTS, "at most one token per slot is kept");
	is_int(hits + misses, 4 * TOKENCACHE_SLOTS, "every lookup answers");
	snprintf(other, sizeof(other), "tok.%d.sig", 4 * TOKENCACHE_SLOTS - 1);
	ok(tokencache_get(other, now, 30, &hit), "the newest token put is kept");

	tokencache_clear();
	ok(!tokencache_get(other, now, 30, &hit), "cleared: a miss");
	return done_testing();
}
