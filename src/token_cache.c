#include "token_cache.h"

#include <string.h>

#include "crypto.h"
#include "token.h"

#define VALUE_PREFIX "mmc1 "
#define KEY_CONTEXT "mmc-token-v1"
#define MAX_RENEW_AT_DIGITS 18 /* far beyond any Unix second, and no overflow in parsing */

int mmc_token_cache_key(const char *app_key, const char *endpoint, const char *app_id,
                        const char *user_id, const char *corp_id, mmc_buffer *key) {
    mmc_buffer identity;
    char digest[MMC_SHA256_HEX_LENGTH + 1];
    int outcome = -1;
    mmc_buffer_init_in(&identity, key->memory);
    if (mmc_buffer_append_format(&identity, "%s\n%s\n%s\n%s\n%s", KEY_CONTEXT, endpoint, app_id,
                                 user_id ? user_id : "", corp_id ? corp_id : "") == 0 &&
        mmc_hmac_sha256_hex(app_key, strlen(app_key), identity.data, identity.length, digest) ==
            0) {
        mmc_buffer_clear(key);
        outcome = mmc_buffer_append_format(key, "%s%s", MMC_TOKEN_CACHE_KEY_PREFIX, digest);
    }
    mmc_buffer_free(&identity);
    return outcome;
}

int mmc_token_cache_encode(const char *token, size_t length, long long renew_at,
                           mmc_buffer *value) {
    mmc_buffer_clear(value);
    if (mmc_buffer_append_format(value, "%s%lld ", VALUE_PREFIX, renew_at) != 0 ||
        mmc_buffer_append(value, token, length) != 0)
        return -1;
    return 0;
}

int mmc_token_cache_decode(const char *value, size_t length, long long now, const char **token,
                           size_t *token_length, long long *renew_at) {
    size_t prefix_length = strlen(VALUE_PREFIX);
    if (length < prefix_length || memcmp(value, VALUE_PREFIX, prefix_length) != 0)
        return -1;
    size_t at = prefix_length;
    long long when = 0;
    size_t digits = 0;
    while (at < length && value[at] >= '0' && value[at] <= '9' && digits < MAX_RENEW_AT_DIGITS) {
        when = when * 10 + (value[at] - '0');
        at++;
        digits++;
    }
    if (digits == 0 || at >= length || value[at] != ' ')
        return -1;
    at++;
    if (!mmc_token_is_well_formed(value + at, length - at))
        return -1;
    if (when != 0 && when <= now)
        return -1;
    *token = value + at;
    *token_length = length - at;
    *renew_at = when;
    return 0;
}
