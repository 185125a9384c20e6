/* The one clock for timeouts, deadlines and durations: CLOCK_MONOTONIC, which
 * never jumps when the wall clock is set. */
#ifndef MB_CLOCK_H
#define MB_CLOCK_H

#include <stdint.h>

/* Milliseconds on the monotonic clock (for deadlines in poll() loops). */
int64_t mb_clock_ms(void);
/* Seconds on the monotonic clock, with fractions. */
double mb_clock_now(void);
/* Sleeps that many seconds (fractions too), carrying on after signals;
 * nothing for 0 or less. */
void mb_clock_sleep(double seconds);

#endif
