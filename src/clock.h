/*
 * clock: the two clocks mmc reads.
 *
 * Token lifetimes are tracked on the monotonic clock, so a wall-clock step (NTP, an operator)
 * can neither keep a dead token in use nor throw a good one away. The wall clock is read only
 * for what the API defines in Unix time: a signature's expireTime.
 */
#ifndef MMC_CLOCK_H
#define MMC_CLOCK_H

/* Seconds on a clock that never steps backwards (CLOCK_MONOTONIC). */
double mmc_clock_monotonic(void);

/* Unix time in whole seconds. */
long long mmc_clock_unix(void);

/* Sleeps `seconds` (resumed after a signal). */
void mmc_clock_sleep(double seconds);

/* Unix time in seconds with its fraction (for millisecond timestamps). */
double mmc_clock_unix_precise(void);

#endif
