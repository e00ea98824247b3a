/*
 * test_clock — monotonic milliseconds: never go back, and follow a sleep.
 */
#include <time.h>

#include "clock.h"
#include "tap.h"

int
main(void)
{
	struct timespec	nap = { 0, 50 * 1000000 };
	long long	a, b, prev, now;
	int		i, back = 0;

	prev = monotonic_ms();
	for (i = 0; i < 100000; i++) {
		now = monotonic_ms();
		back += now < prev;
		prev = now;
	}
	is_int(back, 0, "100,000 readings never go back");
	a = monotonic_ms();
	nanosleep(&nap, NULL);
	b = monotonic_ms();
	ok(b - a >= 50, "a 50 ms sleep advances it by at least 50 ms");
	ok(b - a < 5000, "and by less than 5 s");
	ok(a > 0, "positive");
	return done_testing();
}
