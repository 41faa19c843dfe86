#include "retry.h"

#include <string.h>

#include "crypto.h"
#include "json_scan.h"

int mmc_retry_is_throttled(long status, const char *body, size_t body_length) {
    if (status == 429)
        return 1;
    if (body == NULL || body_length == 0 || status < 400)
        return 0;
    mmc_json_field code = {"error_code", {0}};
    mmc_json_scan(body, body_length, &code, 1);
    return code.value.type == MMC_JSON_STRING && code.value.length == strlen(MMC_THROTTLE_CODE) &&
           memcmp(code.value.start, MMC_THROTTLE_CODE, code.value.length) == 0;
}

int mmc_retry_is_worth_it(long status, const char *body, size_t body_length) {
    return status == 502 || status == 503 || status == 504 ||
           mmc_retry_is_throttled(status, body, body_length);
}

double mmc_retry_backoff(int attempt) {
    double delay = MMC_RETRY_BASE_DELAY * (double)(1u << (attempt < 16 ? attempt : 16));
    if (delay > MMC_RETRY_MAX_DELAY)
        delay = MMC_RETRY_MAX_DELAY;
    return delay * (0.5 + 0.5 * mmc_random_unit());
}

double mmc_retry_wait_after_answer(int attempt, long status, const char *body, size_t body_length,
                                   long retry_after) {
    if (retry_after >= 0)
        return (double)retry_after;
    if (mmc_retry_is_throttled(status, body, body_length))
        return MMC_THROTTLE_MIN_DELAY +
               (MMC_THROTTLE_MAX_DELAY - MMC_THROTTLE_MIN_DELAY) * mmc_random_unit();
    return mmc_retry_backoff(attempt);
}

double mmc_retry_fit(double wait, double shortest, double left) {
    if (wait < left)
        return wait;
    if (shortest > 0 && left - MMC_RETRY_MARGIN >= shortest)
        return left - MMC_RETRY_MARGIN;
    return -1;
}
