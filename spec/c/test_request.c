/* The generic call's inputs: which paths and headers are refused, and how a query is built. */
#include <string.h>

#include "../../src/proxy.h"
#include "../../src/request.h"
#include "check.h"

static int path_ok(const char *path) {
    return mmc_request_path_problem(path, strlen(path)) == NULL;
}

static void accepts_api_paths(void) {
    CHECK(path_ok("/"));
    CHECK(path_ok("/v1/mmc/management/conferences"));
    CHECK(path_ok("/v1/mmc/management/conferences/confDetail"));
    CHECK(path_ok("/v1/x/"));
    CHECK(path_ok("/v1/a:b@c"));
    CHECK(path_ok("/v1/%E4%BC%9A"));
    CHECK(path_ok("/v1/a.b/...x/..."));
    CHECK(path_ok("/v1/-._~!$&'()*+,;="));
}

static void refuses_paths_that_could_leave_the_endpoint(void) {
    static const char *const bad[] = {
        "",
        "v1",
        "https://evil.example/",
        "//evil.example/x",
        "/v1?x=1",
        "/v1#f",
        "/..",
        "/.",
        "/v1/../x",
        "/v1/./x",
        "/v1/%2e%2e/x",
        "/v1/.%2E",
        "/v1/%2E",
        "/v1//x",
        "/v1 x",
        "/v1\tx",
        "/v1\r\nX: y",
        "/v1\\x",
        "/v1/%2F",
        "/v1/%5C",
        "/v1/%zz",
        "/v1/%4",
        "/v1/%",
        "/v1/%00",
        "/v1/%7F",
        "/caf\xc3\xa9",
        "/v1/<x>",
        "/v1/{id}",
        "/v1/\"",
        "/v1/`",
        "/v1/|",
        "/v1/^",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (path_ok(bad[i]))
            fprintf(stderr, "accepted: %s\n", bad[i]);
        CHECK(!path_ok(bad[i]));
    }
    CHECK(mmc_request_path_problem("/v1\0x", 4) != NULL);
    char long_path[MMC_MAX_PATH_LENGTH + 2];
    memset(long_path, 'a', sizeof long_path);
    long_path[0] = '/';
    CHECK(mmc_request_path_problem(long_path, MMC_MAX_PATH_LENGTH) == NULL);
    CHECK(mmc_request_path_problem(long_path, MMC_MAX_PATH_LENGTH + 1) != NULL);
}

static int header_ok(const char *name, const char *value) {
    mmc_header header = {name, strlen(name), value, strlen(value)};
    return mmc_request_header_problem(&header) == NULL;
}

static void checks_headers(void) {
    CHECK(header_ok("Accept-Language", "en-US"));
    CHECK(header_ok("X-Type", "2"));
    CHECK(header_ok("X-Empty", ""));
    CHECK(header_ok("X-Tab", "a\tb"));
    CHECK(!header_ok("Authorization", "x"));
    CHECK(!header_ok("x-access-token", "x"));
    CHECK(!header_ok("HOST", "x"));
    CHECK(!header_ok("Content-length", "0"));
    CHECK(!header_ok("Transfer-Encoding", "chunked"));
    CHECK(!header_ok("X-A", "a\r\nb"));
    CHECK(!header_ok("X-A", "a\nb"));
    CHECK(!header_ok("X-A\r\nX-B", "b"));
    CHECK(!header_ok("X A", "b"));
    CHECK(!header_ok("X:A", "b"));
    CHECK(!header_ok("", "b"));
    CHECK(!header_ok("X-A", "\x01"));
    mmc_header nul_value = {"X-A", 3, "a\0b", 3};
    CHECK_STR(mmc_request_header_problem(&nul_value), "header values must not hold CR, LF or NUL");
    mmc_header nul_name = {"X\0A", 3, "b", 1};
    CHECK_STR(mmc_request_header_problem(&nul_name), "header names must not hold CR, LF or NUL");
}

static void builds_sorted_escaped_queries(void) {
    mmc_query_pair pairs[] = {
        {"searchKey", 9, "Release review: Q1", 18},
        {"limit", 5, "5", 1},
        {"a b", 3, "x&y=z", 5},
        {"limit", 5, "10", 2},
        {"\xc3\xbc", 2, "/?#%", 4},
    };
    mmc_buffer out;
    mmc_buffer_init(&out);
    CHECK(mmc_request_build_query(&out, pairs, 5) == 0);
    CHECK_STR(mmc_buffer_text(&out),
              "a%20b=x%26y%3Dz&limit=10&limit=5&searchKey=Release%20review%3A%20Q1"
              "&%C3%BC=%2F%3F%23%25");
    mmc_buffer_clear(&out);
    CHECK(mmc_request_build_query(&out, pairs, 0) == 0);
    CHECK(out.length == 0);
    mmc_buffer_free(&out);
}

static void checks_proxies_and_hides_their_credentials(void) {
    CHECK(mmc_proxy_problem("http://127.0.0.1:3128") == NULL);
    CHECK(mmc_proxy_problem("https://proxy.example:443/") == NULL);
    CHECK(mmc_proxy_problem("socks5h://u:p@[::1]:1080") == NULL);
    CHECK(mmc_proxy_problem("socks4://h:1080") != NULL);
    CHECK(mmc_proxy_problem("http://h:0") != NULL);
    CHECK(mmc_proxy_problem("http://h/x") != NULL);
    CHECK(mmc_proxy_problem("http://u:p@") != NULL);
    CHECK(mmc_proxy_problem("http://h x") != NULL);
    /* an '@' in the user info must be written %40 (libcurl would end the user info there) */
    CHECK(mmc_proxy_problem("http://alice:p@ss@127.0.0.1:1") != NULL);
    CHECK(strstr(mmc_proxy_problem("http://alice:p@ss@127.0.0.1:1"), "%40") != NULL);
    CHECK(mmc_proxy_problem("http://alice:p%40ss@127.0.0.1:1") == NULL);
    size_t length = 0;
    const char *user_info = mmc_proxy_user_info("http://alice:p@ss@127.0.0.1:1", &length);
    CHECK(user_info != NULL && length == 10 && memcmp(user_info, "alice:p@ss", 10) == 0);
    mmc_buffer out;
    mmc_buffer_init(&out);
    CHECK(mmc_proxy_describe(&out, "http://alice:s3cret@127.0.0.1:3128/") == 0);
    CHECK_STR(mmc_buffer_text(&out), "http://127.0.0.1:3128");
    mmc_buffer_free(&out);
}

/* A GET has no body; every other method may have one. */
static void refuses_a_get_with_a_body(void) {
    CHECK(mmc_request_body_problem("GET", 1) != NULL);
    CHECK(mmc_request_body_problem("GET", 0) == NULL);
    CHECK(mmc_request_body_problem("DELETE", 1) == NULL);
    CHECK(mmc_request_body_problem("PATCH", 1) == NULL);
    CHECK(mmc_request_body_problem("PUT", 0) == NULL);
}

int main(void) {
    accepts_api_paths();
    refuses_paths_that_could_leave_the_endpoint();
    checks_headers();
    builds_sorted_escaped_queries();
    checks_proxies_and_hides_their_credentials();
    refuses_a_get_with_a_body();
    return check_report("request");
}
