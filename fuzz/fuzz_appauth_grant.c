/*
 * fuzz_appauth_grant: reading the answer to App ID authentication (mmc_appauth_read_grant).
 *
 * Untrusted input: the whole input is the body of a 200 answer from the authentication
 * endpoint; a hostile or broken server controls all of it. Checks, beyond no crash/leak/UB:
 *  - success appends exactly the decoded accessToken after what the buffer already held, and
 *    it is 1..1024 visible ASCII characters (it goes into an X-Access-Token header);
 *  - the lifetime is -1 (not stated) or >= 0, is validPeriod when that is a positive integer,
 *    and is capped at MMC_APPAUTH_MAX_LIFETIME, short enough to be shared through the token cache;
 *  - failure gives a problem sentence and leaves what the buffer held before intact.
 * Links: src/appauth.c src/json_scan.c src/json_write.c src/token.c src/crypto.c src/buffer.c
 *        -lcrypto
 * Dictionary: fuzz/json.dict
 */
#include "fuzz/fuzz.h"
#include "src/appauth.h"
#include "src/json_scan.h"
#include "src/token.h"

#define NOW 1764300000LL /* a fixed Unix second */
#define HELD "held:"     /* what the token buffer holds before the call */

/* What client.c does with a lifetime: renew_at = now + (long long)lifetime, shared through the
 * token cache as at most 18 digits (token_cache.c). So a lifetime must stay small: the grant
 * caps it at MMC_APPAUTH_MAX_LIFETIME (this target found a validPeriod near LLONG_MAX
 * overflowing there; fuzz/corpus/fuzz_appauth_grant/huge-valid-period keeps that input). */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *body = (const char *)data;
    mmc_buffer token;
    mmc_buffer_init(&token);
    mmc_buffer_append_string(&token, HELD);
    double lifetime = -2;
    const char *problem = NULL;
    int status = mmc_appauth_read_grant(body, size, NOW, &token, &lifetime, &problem);
    FUZZ_CHECK(token.length >= strlen(HELD) && memcmp(token.data, HELD, strlen(HELD)) == 0,
               "what the buffer held was changed");

    if (status != 0) {
        FUZZ_CHECK(status == -1 && problem != NULL && problem[0] != '\0', "no problem stated");
        mmc_buffer_free(&token);
        return 0;
    }
    const char *value = token.data + strlen(HELD);
    size_t length = token.length - strlen(HELD);
    FUZZ_CHECK(length >= 1 && length <= MMC_TOKEN_MAX_LENGTH, "token of %zu bytes", length);
    for (size_t i = 0; i < length; i++)
        FUZZ_CHECK(value[i] > 0x20 && value[i] < 0x7f, "token byte 0x%02x",
                   (unsigned char)value[i]);

    /* The same body read independently: the token is its accessToken, decoded. */
    mmc_json_field fields[] = {{"accessToken", {0}}, {"validPeriod", {0}}};
    FUZZ_CHECK(mmc_json_scan(body, size, fields, 2) == MMC_JSON_OK &&
                   fields[0].value.type == MMC_JSON_STRING,
               "a token granted from a body without an accessToken string");
    mmc_buffer expected;
    mmc_buffer_init(&expected);
    FUZZ_CHECK(mmc_json_string_value(&fields[0].value, &expected) == 0 &&
                   expected.length == length && memcmp(expected.data, value, length) == 0,
               "the token granted is not the accessToken");
    mmc_buffer_free(&expected);

    long long period = 0;
    FUZZ_CHECK(lifetime == -1 || lifetime >= 0, "lifetime %g", lifetime);
    FUZZ_CHECK(lifetime <= MMC_APPAUTH_MAX_LIFETIME, "lifetime %g is not capped", lifetime);
    if (mmc_json_integer_value(&fields[1].value, &period) == 0 && period > 0)
        FUZZ_CHECK(lifetime == (double)(period < MMC_APPAUTH_MAX_LIFETIME ? period
                                                                          : MMC_APPAUTH_MAX_LIFETIME),
                   "lifetime %g, validPeriod %lld", lifetime, period);
    mmc_buffer_free(&token);
    return 0;
}
