/*
 * fuzz_url: percent-encoding query values (mmc_url_append_escaped) and checking an endpoint
 * (mmc_url_endpoint_problem).
 *
 * Untrusted input: ids and values that end up in a request URL (a meeting id may come from a
 * push or a web form), and the endpoint from configuration. Input layout: byte 0's low bit is
 * allow_http; the rest is the text. Checks, beyond no crash/leak/UB:
 *  - the escaped text holds only A-Z a-z 0-9 - . _ ~ and %XX (uppercase hex), so no CR, LF,
 *    NUL, space, & or # can reach the request line, and it decodes back to the input exactly;
 *  - an endpoint accepted starts with https:// (or http:// when allowed), has something
 *    before any '/' and nothing but '/' after it (no path), and holds no white space, control
 *    character, '?', '#' or '@';
 *  - an endpoint accepted without allow_http is accepted with it.
 * Links: src/url.c src/buffer.c -lcrypto
 */
#include "fuzz/fuzz.h"

#include <strings.h>

#include "src/url.h"

static int hex_value(char c) {
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1; /* lowercase hex is not what we write */
}

static int unreserved(unsigned char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '.' || c == '_' || c == '~';
}

static void check_escaped(const char *text, size_t length) {
    mmc_buffer out;
    mmc_buffer_init(&out);
    mmc_buffer_append_string(&out, "id=");
    FUZZ_CHECK(mmc_url_append_escaped(&out, text, length) == 0, "out of memory");
    const char *escaped = out.data + 3;
    size_t escaped_length = out.length - 3, read = 0;
    for (size_t i = 0; i < escaped_length; read++) {
        unsigned char c = (unsigned char)escaped[i];
        FUZZ_CHECK(read < length, "the escaped text is longer than the input says");
        if (c == '%') {
            FUZZ_CHECK(i + 2 < escaped_length, "a cut %% escape");
            int high = hex_value(escaped[i + 1]), low = hex_value(escaped[i + 2]);
            FUZZ_CHECK(high >= 0 && low >= 0, "a bad %% escape: %.3s", escaped + i);
            FUZZ_CHECK((unsigned char)text[read] == (high << 4 | low) &&
                           !unreserved((unsigned char)text[read]),
                       "byte %zu escaped wrongly", read);
            i += 3;
        } else {
            FUZZ_CHECK(unreserved(c), "byte 0x%02x left unescaped", c);
            FUZZ_CHECK(text[read] == (char)c, "byte %zu changed", read);
            i++;
        }
    }
    FUZZ_CHECK(read == length, "%zu of %zu bytes read back", read, length);
    mmc_buffer_free(&out);
}

static void check_endpoint(const char *endpoint, int allow_http) {
    const char *problem = mmc_url_endpoint_problem(endpoint, allow_http);
    if (problem != NULL) {
        FUZZ_CHECK(problem[0] != '\0', "an empty problem");
        return;
    }
    size_t scheme = 0;
    if (strncasecmp(endpoint, "https://", 8) == 0)
        scheme = 8;
    else if (allow_http && strncasecmp(endpoint, "http://", 7) == 0)
        scheme = 7;
    FUZZ_CHECK(scheme > 0, "accepted without https://: %s", endpoint);
    FUZZ_CHECK(endpoint[scheme] != '\0' && endpoint[scheme] != '/', "no host: %s", endpoint);
    const char *slash = strchr(endpoint + scheme, '/');
    FUZZ_CHECK(slash == NULL || slash[strspn(slash, "/")] == '\0', "accepted a path: %s", endpoint);
    for (const unsigned char *p = (const unsigned char *)endpoint; *p; p++)
        FUZZ_CHECK(*p > 0x20 && *p != 0x7f && *p != '?' && *p != '#' && *p != '@',
                   "accepted with byte 0x%02x: %s", *p, endpoint);
    if (!allow_http)
        FUZZ_CHECK(mmc_url_endpoint_problem(endpoint, 1) == NULL, "refused with allow_http");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size == 0)
        return 0;
    int allow_http = data[0] & 1;
    const char *text = (const char *)data + 1;
    size_t length = size - 1;
    check_escaped(text, length);
    char *endpoint = fuzz_copy(text, length); /* a C string: up to the first NUL */
    check_endpoint(endpoint, allow_http);
    free(endpoint);
    return 0;
}
