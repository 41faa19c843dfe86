/* URLs, messages and tokens: escaping, error wording, secret redaction, renewal timing. */
#include <string.h>

#include "../../src/json_write.h"
#include "../../src/message.h"
#include "../../src/token.h"
#include "../../src/url.h"
#include "check.h"

static void escapes_url_values(void) {
    mmc_buffer out;
    mmc_buffer_init(&out);
    CHECK(mmc_url_append_escaped(&out, "x&status=0 #/%\r\n\xc3\xa9~._-", 22) == 0);
    CHECK_STR(mmc_buffer_text(&out), "x%26status%3D0%20%23%2F%25%0D%0A%C3%A9~._-");
    mmc_buffer_clear(&out);
    CHECK(mmc_url_append_escaped(&out, "a\0b", 3) == 0);
    CHECK_STR(mmc_buffer_text(&out), "a%00b");
    mmc_buffer_free(&out);
}

static void checks_endpoints(void) {
    CHECK(mmc_url_endpoint_problem("https://api.meeting.huaweicloud.com", 0) == NULL);
    CHECK(mmc_url_endpoint_problem("https://127.0.0.1:8443/", 0) == NULL);
    CHECK(mmc_url_endpoint_problem("https://127.0.0.1:8443//", 0) == NULL);
    /* a path would be put before every API path: refused rather than 404 on every call */
    CHECK_STR(mmc_url_endpoint_problem("https://127.0.0.1:8443/base/", 0),
              "endpoint must have no path: give only https://host[:port], mmc adds the API's "
              "paths");
    CHECK(mmc_url_endpoint_problem("https://host/v1", 0) != NULL);
    CHECK(mmc_url_endpoint_problem("https://host//v1", 0) != NULL);
    CHECK(mmc_url_endpoint_problem("http://127.0.0.1:8080", 1) == NULL);
    CHECK(mmc_url_endpoint_problem("http://127.0.0.1:8080", 0) != NULL);
    CHECK(mmc_url_endpoint_problem("ftp://x", 1) != NULL);
    CHECK(mmc_url_endpoint_problem("https://", 0) != NULL);
    CHECK(mmc_url_endpoint_problem("https://a b", 0) != NULL);
    CHECK(mmc_url_endpoint_problem("https://host/?q=1", 0) != NULL);
    CHECK(mmc_url_endpoint_problem("https://user@host", 0) != NULL);
    CHECK(mmc_url_endpoint_problem("https://host\r\nX: y", 0) != NULL);
    /* host and port (found by fuzzing: libcurl only refused these at the first call) */
    CHECK(mmc_url_endpoint_problem("https://[::1]:8443/", 0) == NULL);
    CHECK(mmc_url_endpoint_problem("https://[::1]", 0) == NULL);
    CHECK_STR(mmc_url_endpoint_problem("https://:443", 0), "endpoint has no host name");
    CHECK_STR(mmc_url_endpoint_problem("https://host:abc", 0),
              "endpoint has a malformed port (1 to 65535)");
    CHECK(mmc_url_endpoint_problem("https://host:", 0) != NULL);
    CHECK(mmc_url_endpoint_problem("https://host:0", 0) != NULL);
    CHECK(mmc_url_endpoint_problem("https://host:65536", 0) != NULL);
    CHECK(mmc_url_endpoint_problem("https://host:443443", 0) != NULL);
    CHECK_STR(mmc_url_endpoint_problem("https://[::1", 0), "endpoint has a malformed [IPv6] host");
    CHECK(mmc_url_endpoint_problem("https://[::1]x", 0) != NULL);
    CHECK(mmc_url_endpoint_problem("https://[]", 0) != NULL);
}

static void describes_http_errors(void) {
    mmc_buffer out;
    mmc_buffer_init(&out);
    const char *documented =
        "{\"error_code\":\"USG.000000004\",\"error_msg\":\"token\\r\\ninvalid\","
        "\"request_id\":\"body-id\"}";
    CHECK(mmc_message_append_http_error(&out, 401, documented, strlen(documented), "hdr-id") == 0);
    CHECK_STR(mmc_buffer_text(&out), "USG.000000004: token  invalid (request id hdr-id)");
    mmc_buffer_clear(&out);
    CHECK(mmc_message_append_http_error(&out, 401, documented, strlen(documented), "") == 0);
    CHECK_STR(mmc_buffer_text(&out), "USG.000000004: token  invalid (request id body-id)");
    mmc_buffer_clear(&out);
    CHECK(mmc_message_append_http_error(&out, 502, "<html>bad gateway</html>", 24, "") == 0);
    CHECK_STR(mmc_buffer_text(&out), "HTTP 502");
    mmc_buffer_clear(&out);
    CHECK(mmc_message_append_http_error(&out, 302, "", 0, "") == 0);
    CHECK_STR(mmc_buffer_text(&out), "HTTP 302 (redirects are not followed)");
    /* an empty error_code is no description: the status is (found by fuzzing) */
    mmc_buffer_clear(&out);
    const char *empty_code = "{\"error_code\":\"\",\"error_msg\":null}";
    CHECK(mmc_message_append_http_error(&out, 502, empty_code, strlen(empty_code), "") == 0);
    CHECK_STR(mmc_buffer_text(&out), "HTTP 502");
    mmc_buffer_free(&out);
}

static void redacts_secrets(void) {
    mmc_buffer out;
    mmc_buffer_init(&out);
    mmc_buffer_append_string(&out, "key s3cret-key and again s3cret-key!");
    CHECK(mmc_message_redact(&out, "s3cret-key", 10) == 0);
    CHECK_STR(mmc_buffer_text(&out), "key *** and again ***!");
    CHECK(mmc_message_redact(&out, "abc", 3) == 0); /* too short to redact safely */
    CHECK_STR(mmc_buffer_text(&out), "key *** and again ***!");
    /* the "***" put in cannot rebuild a secret that ends with '*' (found by fuzzing) */
    mmc_buffer_clear(&out);
    mmc_buffer_append_string(&out, "x k3yk3y* y");
    CHECK(mmc_message_redact(&out, "k3y*", 4) == 0);
    CHECK(strstr(mmc_buffer_text(&out), "k3y*") == NULL);
    mmc_buffer_free(&out);
}

static void cleans_server_text(void) {
    mmc_buffer out;
    mmc_buffer_init(&out);
    CHECK(mmc_message_append_clean(&out, "a\x1b[31mb\x7f", 8, 100) == 0);
    CHECK_STR(mmc_buffer_text(&out), "a [31mb ");
    mmc_buffer_clear(&out);
    CHECK(mmc_message_append_clean(&out, "abcdef", 6, 3) == 0);
    CHECK_STR(mmc_buffer_text(&out), "abc...");
    /* a cut inside a character ("é" is two bytes) backs up to its start */
    mmc_buffer_clear(&out);
    CHECK(mmc_message_append_clean(&out, "x\xc3\xa9\xc3\xa9", 5, 4) == 0);
    CHECK_STR(mmc_buffer_text(&out), "x\xc3\xa9...");
    mmc_buffer_clear(&out);
    CHECK(mmc_message_append_clean(&out, "\xe2\x82\xac\xe2\x82\xac", 6, 5) == 0);
    CHECK_STR(mmc_buffer_text(&out), "\xe2\x82\xac...");
    /* bytes that are not UTF-8 become U+FFFD: a message is always valid UTF-8 */
    mmc_buffer_clear(&out);
    CHECK(mmc_message_append_clean(&out, "a\xff\xc3(b\xe2\x82", 7, 100) == 0);
    CHECK_STR(mmc_buffer_text(&out), "a\xef\xbf\xbd\xef\xbf\xbd(b\xef\xbf\xbd\xef\xbf\xbd");
    CHECK(mmc_utf8_is_valid(out.data, out.length));
    mmc_buffer_free(&out);
}

static void renews_tokens_before_they_expire(void) {
    mmc_token token;
    mmc_token_init(&token, NULL);
    CHECK(!mmc_token_is_fresh(&token, 100));
    CHECK(mmc_token_store(&token, "tok", 3, 86400, 1000) == 0);
    CHECK(mmc_token_is_fresh(&token, 1000 + 86400 - 301));
    CHECK(!mmc_token_is_fresh(&token, 1000 + 86400 - 300)); /* 5 min margin, capped */
    CHECK(mmc_token_store(&token, "tok", 3, 60, 1000) == 0);
    CHECK(mmc_token_is_fresh(&token, 1053.9));
    CHECK(!mmc_token_is_fresh(&token, 1054)); /* a tenth of 60 s */
    CHECK(mmc_token_store(&token, "tok", 3, -1, 1000) == 0);
    CHECK(mmc_token_is_fresh(&token, 1e9)); /* lifetime unstated: used until refused */
    mmc_token_forget(&token);
    CHECK(!mmc_token_is_fresh(&token, 1000));
    mmc_token_free(&token);
}

static void checks_token_shape(void) {
    CHECK(mmc_token_is_well_formed("abc-DEF_123.~+/=", 16));
    CHECK(!mmc_token_is_well_formed("", 0));
    CHECK(!mmc_token_is_well_formed("a b", 3));
    CHECK(!mmc_token_is_well_formed("a\r\nb", 4));
    CHECK(!mmc_token_is_well_formed("\xc3\xa9", 2));
}

int main(void) {
    escapes_url_values();
    checks_endpoints();
    describes_http_errors();
    redacts_secrets();
    cleans_server_text();
    renews_tokens_before_they_expire();
    checks_token_shape();
    return check_report("text");
}
