/*
 * clock — milliseconds on the monotonic clock, for timeouts and ages that
 * must not jump when the wall clock is set.
 */
#ifndef FB_CLOCK_H
#define FB_CLOCK_H

long long	monotonic_ms(void);

#endif
