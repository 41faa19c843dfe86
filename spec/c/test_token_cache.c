/* The shared form of a token: its cache key (checked against Python's hmac module) and the
 * value format, read strictly. */
#include "../../src/token_cache.h"
#include "check.h"

static void keys_name_the_identity_and_no_secret(void) {
    mmc_buffer key;
    mmc_buffer_init(&key);
    /* python3 -c "import hmac,hashlib; print(hmac.new(b'secret-key',
     *   b'mmc-token-v1\nhttps://api.example\napp-1\nuser-9\n', hashlib.sha256).hexdigest())" */
    CHECK(mmc_token_cache_key("secret-key", "https://api.example", "app-1", "user-9", NULL, &key) ==
          0);
    CHECK_STR(mmc_buffer_text(&key),
              "mmc:token:6837e9aa85f4a97a32471604a6007400380b0e6c8dcd401d58b755d039c6b039");
    CHECK(strstr(mmc_buffer_text(&key), "secret-key") == NULL);
    CHECK(mmc_token_cache_key("secret-key", "https://api.example", "app-1", NULL, "corp", &key) ==
          0);
    CHECK_STR(mmc_buffer_text(&key),
              "mmc:token:67f02d03341e35c03e83146eb13d8b8ad8fd5c7346cb278ae9847969a1e18635");
    mmc_buffer_free(&key);
}

static void values_round_trip(void) {
    mmc_buffer value;
    mmc_buffer_init(&value);
    CHECK(mmc_token_cache_encode("tok-123", 7, 1700000300, &value) == 0);
    CHECK_STR(mmc_buffer_text(&value), "mmc1 1700000300 tok-123");
    const char *token = NULL;
    size_t length = 0;
    long long renew_at = 0;
    CHECK(mmc_token_cache_decode(value.data, value.length, 1700000000, &token, &length,
                                 &renew_at) == 0);
    CHECK(length == 7 && memcmp(token, "tok-123", 7) == 0 && renew_at == 1700000300);
    /* due for renewal: no longer handed out */
    CHECK(mmc_token_cache_decode(value.data, value.length, 1700000300, &token, &length,
                                 &renew_at) == -1);
    /* a token without a stated lifetime never falls due */
    CHECK(mmc_token_cache_encode("tok", 3, 0, &value) == 0);
    CHECK(mmc_token_cache_decode(value.data, value.length, 1700000000, &token, &length,
                                 &renew_at) == 0);
    CHECK(renew_at == 0 && length == 3);
    mmc_buffer_free(&value);
}

static void refuses_values_it_cannot_trust(void) {
    static const char *const bad[] = {
        "",
        "mmc1",
        "mmc1 ",
        "mmc1  tok",
        "mmc1 x tok",
        "mmc1 -5 tok",
        "mmc1 99999999999 ",
        "mmc1 99999999999 to k",
        "mmc1 99999999999 to\r\nX-Evil: 1",
        "mmc2 99999999999 tok",
        "MMC1 99999999999 tok",
        "mmc1 9999999999999999999999 tok", /* more digits than any Unix second */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        const char *token = NULL;
        size_t length = 0;
        long long renew_at = 0;
        int outcome =
            mmc_token_cache_decode(bad[i], strlen(bad[i]), 1700000000, &token, &length, &renew_at);
        if (outcome != -1)
            fprintf(stderr, "accepted: \"%s\"\n", bad[i]);
        CHECK(outcome == -1);
    }
    /* a NUL inside is not part of a token */
    const char with_nul[] = "mmc1 99999999999 to\0k";
    const char *token = NULL;
    size_t length = 0;
    long long renew_at = 0;
    CHECK(mmc_token_cache_decode(with_nul, sizeof with_nul - 1, 1700000000, &token, &length,
                                 &renew_at) == -1);
}

int main(void) {
    keys_name_the_identity_and_no_secret();
    values_round_trip();
    refuses_values_it_cannot_trust();
    return check_report("token_cache");
}
