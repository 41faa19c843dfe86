/* App ID authentication requests, checked against HMAC values computed independently with
 * `printf '%s' STRING | openssl dgst -sha256 -hmac KEY`, and answers read back. */
#include <string.h>

#include "../../src/appauth.h"
#include "check.h"

#define NONCE "0123456789abcdef0123456789abcdef"
#define NOW 1700000000LL

static void builds(const mmc_credentials *credentials, const char *expected_body,
                   const char *expected_authorization) {
    mmc_buffer body, authorization;
    mmc_buffer_init(&body);
    mmc_buffer_init(&authorization);
    CHECK(mmc_appauth_build(credentials, NOW, NONCE, &body, &authorization) == 0);
    CHECK_STR(mmc_buffer_text(&body), expected_body);
    CHECK_STR(mmc_buffer_text(&authorization), expected_authorization);
    mmc_buffer_free(&body);
    mmc_buffer_free(&authorization);
}

static void signs_with_a_user_id(void) {
    mmc_credentials credentials = {"appid-123", "key-xyz", "alice", NULL, 0};
    builds(&credentials,
           "{\"appId\":\"appid-123\",\"clientType\":72,\"expireTime\":1700000600,"
           "\"nonce\":\"" NONCE "\",\"userId\":\"alice\"}",
           "HMAC-SHA256 signature="
           "efd294a1f383881805ddfac6a12f989736de12f4cacdd868a53cac6528b67897,access=YXBwaWQtMTIz");
}

static void keeps_both_colons_without_a_user_id(void) {
    mmc_credentials credentials = {"appid-123", "key-xyz", NULL, NULL, 0};
    builds(&credentials,
           "{\"appId\":\"appid-123\",\"clientType\":72,\"expireTime\":1700000600,"
           "\"nonce\":\"" NONCE "\"}",
           "HMAC-SHA256 signature="
           "aa3eb4443be0fe1d84d94f8df5d1037a73924d9c5531e9b1fcc896da8dfdec69,access=YXBwaWQtMTIz");
    mmc_credentials empty_user = {"appid-123", "key-xyz", "", NULL, 0};
    builds(&empty_user,
           "{\"appId\":\"appid-123\",\"clientType\":72,\"expireTime\":1700000600,"
           "\"nonce\":\"" NONCE "\"}",
           "HMAC-SHA256 signature="
           "aa3eb4443be0fe1d84d94f8df5d1037a73924d9c5531e9b1fcc896da8dfdec69,access=YXBwaWQtMTIz");
}

static void signs_the_corp_id_in_sp_mode(void) {
    mmc_credentials credentials = {"sp-app", "key-xyz", "bob", "corp-9", 1};
    builds(&credentials,
           "{\"appId\":\"sp-app\",\"clientType\":72,\"expireTime\":1700000600,"
           "\"nonce\":\"" NONCE "\",\"userId\":\"bob\",\"corpId\":\"corp-9\"}",
           "HMAC-SHA256 signature="
           "dd18bca23409aedf8b242ac5f7f78d2e0dc1cfbc20e56c725e273f2ee5979d47,access=c3AtYXBw");
}

static void escapes_json_in_the_body(void) {
    mmc_credentials credentials = {"app", "k", "a\"b\\c\nd", NULL, 0};
    mmc_buffer body, authorization;
    mmc_buffer_init(&body);
    mmc_buffer_init(&authorization);
    CHECK(mmc_appauth_build(&credentials, NOW, NONCE, &body, &authorization) == 0);
    CHECK(strstr(mmc_buffer_text(&body), "\"userId\":\"a\\\"b\\\\c\\nd\"") != NULL);
    mmc_buffer_free(&body);
    mmc_buffer_free(&authorization);
}

static void reads_a_grant(void) {
    const char *answer = "{\"accessToken\":\"tok-ABC_123\",\"validPeriod\":86400,"
                         "\"expireTime\":1700086400,\"createTime\":1700000000000}";
    mmc_buffer token;
    mmc_buffer_init(&token);
    double lifetime = 0;
    const char *problem = NULL;
    CHECK(mmc_appauth_read_grant(answer, strlen(answer), NOW, &token, &lifetime, &problem) == 0);
    CHECK_STR(mmc_buffer_text(&token), "tok-ABC_123");
    CHECK(lifetime == 86400);
    mmc_buffer_free(&token);

    const char *expiry_only = "{\"accessToken\":\"t1234\",\"expireTime\":1700000100}";
    mmc_buffer_init(&token);
    CHECK(mmc_appauth_read_grant(expiry_only, strlen(expiry_only), NOW, &token, &lifetime,
                                 &problem) == 0);
    CHECK(lifetime == 100);
    mmc_buffer_free(&token);

    const char *unstated = "{\"accessToken\":\"t1234\"}";
    mmc_buffer_init(&token);
    CHECK(mmc_appauth_read_grant(unstated, strlen(unstated), NOW, &token, &lifetime, &problem) ==
          0);
    CHECK(lifetime == -1);
    mmc_buffer_free(&token);
}

static void refuses_bad_grants(void) {
    const char *bad[] = {"",
                         "garbage",
                         "[1,2]",
                         "{\"validPeriod\":10}",
                         "{\"accessToken\":42}",
                         "{\"accessToken\":\"\"}",
                         "{\"accessToken\":\"a\\r\\nX-Evil: 1\"}",
                         "{\"accessToken\":\"has space\"}",
                         "{\"accessToken\":\"ok\"",
                         NULL};
    for (int i = 0; bad[i] != NULL; i++) {
        mmc_buffer token;
        mmc_buffer_init(&token);
        double lifetime = 0;
        const char *problem = NULL;
        CHECK(mmc_appauth_read_grant(bad[i], strlen(bad[i]), NOW, &token, &lifetime, &problem) ==
              -1);
        CHECK(problem != NULL && strlen(problem) > 0);
        mmc_buffer_free(&token);
    }
}

int main(void) {
    signs_with_a_user_id();
    keeps_both_colons_without_a_user_id();
    signs_the_corp_id_in_sp_mode();
    escapes_json_in_the_body();
    reads_a_grant();
    refuses_bad_grants();
    return check_report("appauth");
}
