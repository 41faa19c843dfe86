/*
 * fuzz_token_cache: reading a token from the shared store (mmc_token_cache_decode).
 *
 * Untrusted input: the value found under the cache key. The store (ngx.shared.DICT, Redis)
 * may be shared with other programs, and the token read goes into an HTTP header. The whole
 * input is the value. Checks, beyond no crash/leak/UB:
 *  - a decoded token is a suffix of the value, 1..1024 visible ASCII bytes (no CR, LF, NUL),
 *    and its renew_at is 0 or still in the future;
 *  - encoding what was decoded and decoding again gives the same token and renew_at, and the
 *    value is refused from its renew_at on;
 *  - the input taken as a token: encode then decode succeeds exactly when it is well-formed.
 * Links: src/token_cache.c src/token.c src/crypto.c src/buffer.c -lcrypto
 */
#include "fuzz/fuzz.h"
#include "src/token.h"
#include "src/token_cache.h"

#define NOW 1764300000LL

static int visible_ascii(const char *text, size_t length) {
    if (length == 0 || length > MMC_TOKEN_MAX_LENGTH)
        return 0;
    for (size_t i = 0; i < length; i++)
        if (text[i] < 0x21 || text[i] > 0x7e)
            return 0;
    return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *value = (const char *)data, *token = NULL;
    size_t token_length = 0;
    long long renew_at = -1;
    mmc_buffer encoded;
    mmc_buffer_init(&encoded);

    if (mmc_token_cache_decode(value, size, NOW, &token, &token_length, &renew_at) == 0) {
        FUZZ_CHECK(size >= 5 && memcmp(value, "mmc1 ", 5) == 0, "decoded without the prefix");
        FUZZ_CHECK(token >= value && token_length <= size && token + token_length == value + size,
                   "the token is not the value's end");
        FUZZ_CHECK(visible_ascii(token, token_length), "a token unfit for a header was read");
        FUZZ_CHECK(renew_at == 0 || renew_at > NOW, "a token due for renewal: %lld", renew_at);

        const char *again = NULL;
        size_t again_length = 0;
        long long again_renew_at = -1;
        FUZZ_CHECK(mmc_token_cache_encode(token, token_length, renew_at, &encoded) == 0 &&
                       mmc_token_cache_decode(encoded.data, encoded.length, NOW, &again,
                                              &again_length, &again_renew_at) == 0,
                   "a decoded token does not encode and decode again");
        FUZZ_CHECK(again_length == token_length && memcmp(again, token, token_length) == 0 &&
                       again_renew_at == renew_at,
                   "the token changed on the way through the store");
        if (renew_at != 0)
            FUZZ_CHECK(mmc_token_cache_decode(value, size, renew_at, &again, &again_length,
                                              &again_renew_at) == -1,
                       "a token read at its renew_at");
    }

    long long later = NOW + 3600;
    const char *read = NULL;
    size_t read_length = 0;
    FUZZ_CHECK(mmc_token_cache_encode(value, size, later, &encoded) == 0, "out of memory");
    int decoded = mmc_token_cache_decode(encoded.data, encoded.length, NOW, &read, &read_length,
                                         &renew_at) == 0;
    FUZZ_CHECK(decoded == visible_ascii(value, size), "decode %d of a stored token", decoded);
    FUZZ_CHECK(decoded == mmc_token_is_well_formed(value, size), "mmc_token_is_well_formed");
    if (decoded)
        FUZZ_CHECK(read_length == size && memcmp(read, value, size) == 0 && renew_at == later,
                   "a stored token read back differently");
    mmc_buffer_free(&encoded);
    return 0;
}
