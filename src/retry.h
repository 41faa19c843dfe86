/*
 * retry: whether an answer is worth sending the request again for, and how long to wait first.
 *
 * Worth a retry: 429, 502, 503, 504, and any answer whose error_code is APIG.0308 (Huawei's API
 * gateway throttling the caller, normally with 429). The wait, in order of precedence:
 *   - the answer's Retry-After, when it has one;
 *   - for a throttled answer (429 or APIG.0308), MMC_THROTTLE_MIN_DELAY to
 *     MMC_THROTTLE_MAX_DELAY seconds, jittered: Huawei's guidance is to wait 2 to 5 seconds,
 *     and the short backoff below would give up inside one second;
 *   - otherwise (and after a failure to get any answer) the backoff: MMC_RETRY_BASE_DELAY
 *     doubling with each attempt, at most MMC_RETRY_MAX_DELAY, times a random factor from 0.5
 *     to 1, so that clients refused at once do not come back at once.
 * The caller decides whether the wait fits in what is left of the call (mmc_retry_fit).
 */
#ifndef MMC_RETRY_H
#define MMC_RETRY_H

#include <stddef.h>

#define MMC_RETRY_BASE_DELAY 0.25  /* seconds before the first retry, doubling each time */
#define MMC_RETRY_MAX_DELAY 8.0    /* seconds: the longest backoff (Retry-After may ask more) */
#define MMC_THROTTLE_MIN_DELAY 2.0 /* seconds: the shortest wait after a throttled answer */
#define MMC_THROTTLE_MAX_DELAY 5.0 /* seconds: the longest (unless Retry-After asks more) */
#define MMC_THROTTLE_CODE "APIG.0308"

/* 1 when an answer with this status and body is throttling (429, or error_code APIG.0308). */
int mmc_retry_is_throttled(long status, const char *body, size_t body_length);

/* Whether an answer is worth sending the request again for (see above): 1, with the wait
 * before retry number `attempt` + 1 in *wait and, for a throttled answer without Retry-After,
 * the shortest wait it may be cut to in *shortest (else 0); or 0. `retry_after` is the
 * answer's Retry-After in seconds, or -1. */
int mmc_retry_after_answer(int attempt, long status, const char *body, size_t body_length,
                           long retry_after, double *wait, double *shortest);

/* The wait before retry number `attempt` + 1 after no answer arrived. */
double mmc_retry_backoff(int attempt);

/* The wait to use when `left` seconds remain in the call, or -1 when none fits: the wait
 * itself when it ends before the deadline, else (`shortest` > 0) the time left less
 * MMC_RETRY_MARGIN, when that is still at least `shortest`. */
#define MMC_RETRY_MARGIN 0.5 /* seconds kept for the retry itself when a wait is shortened */
double mmc_retry_fit(double wait, double shortest, double left);

#endif
