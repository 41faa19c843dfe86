/*
 * fuzz_request_path: the generic call's path check (mmc_request_path_problem) and query
 * building (mmc_request_build_query).
 *
 * Untrusted input: a path and query a program builds from what its users typed (a meeting id,
 * a search key). Input layout: the first line is the path; each following pair of lines is a
 * query name and value. Checks, beyond no crash/leak/UB:
 *  - an accepted path, put after an endpoint, is parsed by libcurl (curl_url) as the same
 *    scheme, host and port, with the path exactly as given (no dot segment for libcurl to
 *    remove, nothing that ends it early), and no query or fragment;
 *  - an accepted path holds no "//", no byte below 0x21 or above 0x7e, no '\\';
 *  - a built query holds only unreserved bytes, %XX, '=' and '&', one '=' per pair, pairs in
 *    order by name then value, and its values decode back to the input.
 * Links: src/request.c src/url.c src/buffer.c -lcrypto -lcurl
 */
#include "fuzz/fuzz.h"

#include <curl/curl.h>

#include "src/request.h"

#define ENDPOINT "https://api.example.com:8443/base"

static void check_path(const char *path, size_t length) {
    const char *problem = mmc_request_path_problem(path, length);
    if (problem != NULL) {
        FUZZ_CHECK(problem[0] != '\0', "an empty problem");
        return;
    }
    FUZZ_CHECK(length > 0 && path[0] == '/', "accepted without a leading '/'");
    FUZZ_CHECK(!fuzz_contains(path, length, "//", 2), "accepted an empty segment");
    for (size_t i = 0; i < length; i++)
        FUZZ_CHECK(path[i] > 0x20 && path[i] < 0x7f && path[i] != '\\', "accepted byte 0x%02x",
                   (unsigned char)path[i]);
    char *url = malloc(sizeof ENDPOINT + length);
    FUZZ_CHECK(url != NULL, "out of memory");
    memcpy(url, ENDPOINT, sizeof ENDPOINT - 1);
    memcpy(url + sizeof ENDPOINT - 1, path, length);
    url[sizeof ENDPOINT - 1 + length] = '\0';
    CURLU *parsed = curl_url();
    FUZZ_CHECK(parsed != NULL, "out of memory");
    FUZZ_CHECK(curl_url_set(parsed, CURLUPART_URL, url, 0) == CURLUE_OK, "libcurl refused %s", url);
    char *host = NULL, *port = NULL, *scheme = NULL, *got_path = NULL, *query = NULL,
         *fragment = NULL;
    curl_url_get(parsed, CURLUPART_HOST, &host, 0);
    curl_url_get(parsed, CURLUPART_PORT, &port, 0);
    curl_url_get(parsed, CURLUPART_SCHEME, &scheme, 0);
    curl_url_get(parsed, CURLUPART_PATH, &got_path, 0);
    curl_url_get(parsed, CURLUPART_QUERY, &query, 0);
    curl_url_get(parsed, CURLUPART_FRAGMENT, &fragment, 0);
    FUZZ_CHECK(host != NULL && strcmp(host, "api.example.com") == 0, "host became %s", host);
    FUZZ_CHECK(port != NULL && strcmp(port, "8443") == 0, "port became %s", port);
    FUZZ_CHECK(scheme != NULL && strcmp(scheme, "https") == 0, "scheme became %s", scheme);
    FUZZ_CHECK(got_path != NULL && strncmp(got_path, "/base", 5) == 0 &&
                   strlen(got_path + 5) == length && memcmp(got_path + 5, path, length) == 0,
               "path %s became %s", url, got_path);
    FUZZ_CHECK(query == NULL && fragment == NULL, "a query or fragment appeared");
    curl_free(host);
    curl_free(port);
    curl_free(scheme);
    curl_free(got_path);
    curl_free(query);
    curl_free(fragment);
    curl_url_cleanup(parsed);
    free(url);
}

static int hex_value(char c) {
    return c >= '0' && c <= '9' ? c - '0' : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* Decodes `length` bytes of %XX text into `out` (which has room). Returns the decoded length. */
static size_t decode(const char *text, size_t length, char *out) {
    size_t n = 0;
    for (size_t i = 0; i < length; i++) {
        if (text[i] == '%') {
            FUZZ_CHECK(i + 2 < length, "a cut %% escape");
            int high = hex_value(text[i + 1]), low = hex_value(text[i + 2]);
            FUZZ_CHECK(high >= 0 && low >= 0, "a bad %% escape");
            out[n++] = (char)(high << 4 | low);
            i += 2;
        } else {
            out[n++] = text[i];
        }
    }
    return n;
}

static int compare(const char *a, size_t a_length, const char *b, size_t b_length) {
    int order = memcmp(a, b, a_length < b_length ? a_length : b_length);
    return order != 0 ? order : (a_length > b_length) - (a_length < b_length);
}

static void check_query(mmc_query_pair *pairs, size_t count) {
    mmc_buffer out;
    mmc_buffer_init(&out);
    if (mmc_request_build_query(&out, pairs, count) != 0) {
        FUZZ_CHECK(out.length > MMC_MAX_QUERY_LENGTH / 2, "refused a short query");
        mmc_buffer_free(&out);
        return;
    }
    char *decoded = malloc(out.length + 1);
    FUZZ_CHECK(decoded != NULL, "out of memory");
    const char *p = out.data ? out.data : "";
    const char *end = p + out.length;
    char *previous_name = NULL, *previous_value = NULL;
    size_t previous_name_length = 0, previous_value_length = 0;
    for (size_t i = 0; i < count; i++) {
        const char *pair_end = memchr(p, '&', (size_t)(end - p));
        if (pair_end == NULL)
            pair_end = end;
        FUZZ_CHECK(i + 1 < count || pair_end == end, "more pairs than given");
        const char *equals = memchr(p, '=', (size_t)(pair_end - p));
        FUZZ_CHECK(equals != NULL, "a pair without '='");
        FUZZ_CHECK(memchr(equals + 1, '=', (size_t)(pair_end - equals - 1)) == NULL,
                   "an unescaped '='");
        for (const char *c = p; c < pair_end; c++)
            FUZZ_CHECK((*c >= 'A' && *c <= 'Z') || (*c >= 'a' && *c <= 'z') ||
                           (*c >= '0' && *c <= '9') || strchr("-._~%=", *c) != NULL,
                       "byte 0x%02x in the query", (unsigned char)*c);
        size_t name_length = decode(p, (size_t)(equals - p), decoded);
        char *name = fuzz_copy(decoded, name_length);
        size_t value_length = decode(equals + 1, (size_t)(pair_end - equals - 1), decoded);
        char *value = fuzz_copy(decoded, value_length);
        FUZZ_CHECK(name_length == pairs[i].name_length &&
                       memcmp(name, pairs[i].name, name_length) == 0 &&
                       value_length == pairs[i].value_length &&
                       memcmp(value, pairs[i].value, value_length) == 0,
                   "pair %zu does not decode to what was sorted there", i);
        if (previous_name != NULL) {
            int order = compare(previous_name, previous_name_length, name, name_length);
            FUZZ_CHECK(order < 0 || (order == 0 && compare(previous_value, previous_value_length,
                                                           value, value_length) <= 0),
                       "pairs out of order");
        }
        free(previous_name);
        free(previous_value);
        previous_name = name, previous_name_length = name_length;
        previous_value = value, previous_value_length = value_length;
        p = pair_end < end ? pair_end + 1 : end;
    }
    free(previous_name);
    free(previous_value);
    free(decoded);
    mmc_buffer_free(&out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *path;
    size_t path_length;
    fuzz_take_line(&data, &size, &path, &path_length);
    char *path_copy = fuzz_copy(path, path_length);
    check_path(path_copy, path_length);
    free(path_copy);

    mmc_query_pair pairs[16];
    size_t count = 0;
    while (size > 0 && count < 16) {
        fuzz_take_line(&data, &size, &pairs[count].name, &pairs[count].name_length);
        fuzz_take_line(&data, &size, &pairs[count].value, &pairs[count].value_length);
        count++;
    }
    check_query(pairs, count);
    return 0;
}
