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

double mmc_retry_backoff(int attempt) {
    double delay = MMC_RETRY_BASE_DELAY * (double)(1u << (attempt < 16 ? attempt : 16));
    if (delay > MMC_RETRY_MAX_DELAY)
        delay = MMC_RETRY_MAX_DELAY;
    return delay * (0.5 + 0.5 * mmc_random_unit());
}

int mmc_retry_after_answer(int attempt, long status, const char *body, size_t body_length,
                           long retry_after, double *wait, double *shortest) {
    int throttled = mmc_retry_is_throttled(status, body, body_length);
    *shortest = 0;
    if (!throttled && status != 502 && status != 503 && status != 504)
        return 0;
    if (retry_after >= 0) {
        *wait = (double)retry_after;
    } else if (throttled) {
        *wait = MMC_THROTTLE_MIN_DELAY +
                (MMC_THROTTLE_MAX_DELAY - MMC_THROTTLE_MIN_DELAY) * mmc_random_unit();
        *shortest = MMC_THROTTLE_MIN_DELAY;
    } else {
        *wait = mmc_retry_backoff(attempt);
    }
    return 1;
}

double mmc_retry_fit(double wait, double shortest, double left) {
    if (wait < left)
        return wait;
    if (shortest > 0 && left - MMC_RETRY_MARGIN >= shortest)
        return left - MMC_RETRY_MARGIN;
    return -1;
}
