#include "url.h"

#include <string.h>
#include <strings.h>

/* RFC 3986's unreserved characters (A-Z a-z 0-9 - . _ ~): 1, the rest 0. A table, as the
 * bytes of every query name and value go through it. */
static const unsigned char unreserved[256] = {
    ['-'] = 1, ['.'] = 1, ['_'] = 1, ['~'] = 1, ['0'] = 1, ['1'] = 1, ['2'] = 1, ['3'] = 1,
    ['4'] = 1, ['5'] = 1, ['6'] = 1, ['7'] = 1, ['8'] = 1, ['9'] = 1, ['A'] = 1, ['B'] = 1,
    ['C'] = 1, ['D'] = 1, ['E'] = 1, ['F'] = 1, ['G'] = 1, ['H'] = 1, ['I'] = 1, ['J'] = 1,
    ['K'] = 1, ['L'] = 1, ['M'] = 1, ['N'] = 1, ['O'] = 1, ['P'] = 1, ['Q'] = 1, ['R'] = 1,
    ['S'] = 1, ['T'] = 1, ['U'] = 1, ['V'] = 1, ['W'] = 1, ['X'] = 1, ['Y'] = 1, ['Z'] = 1,
    ['a'] = 1, ['b'] = 1, ['c'] = 1, ['d'] = 1, ['e'] = 1, ['f'] = 1, ['g'] = 1, ['h'] = 1,
    ['i'] = 1, ['j'] = 1, ['k'] = 1, ['l'] = 1, ['m'] = 1, ['n'] = 1, ['o'] = 1, ['p'] = 1,
    ['q'] = 1, ['r'] = 1, ['s'] = 1, ['t'] = 1, ['u'] = 1, ['v'] = 1, ['w'] = 1, ['x'] = 1,
    ['y'] = 1, ['z'] = 1,
};

int mmc_url_append_escaped(mmc_buffer *out, const char *text, size_t length) {
    static const char hex[] = "0123456789ABCDEF";
    size_t run_start = 0;
    for (size_t i = 0; i < length; i++) {
        unsigned char c = (unsigned char)text[i];
        if (unreserved[c])
            continue;
        char escaped[3] = {'%', hex[c >> 4], hex[c & 0x0f]};
        if (mmc_buffer_append(out, text + run_start, i - run_start) != 0 ||
            mmc_buffer_append(out, escaped, 3) != 0)
            return -1;
        run_start = i + 1;
    }
    return mmc_buffer_append(out, text + run_start, length - run_start);
}

/* The host and port of an endpoint (its text up to the first '/'), checked so that a mistake
 * shows when the client is made rather than at its first call. */
static const char *authority_problem(const char *authority, size_t length) {
    const char *end = authority + length, *port = NULL;
    if (authority[0] == '[') {
        const char *close = memchr(authority, ']', length);
        if (close == NULL || close == authority + 1)
            return "endpoint has a malformed [IPv6] host";
        if (close + 1 < end) {
            if (close[1] != ':')
                return "endpoint has a malformed [IPv6] host";
            port = close + 2;
        }
    } else {
        const char *colon = memchr(authority, ':', length);
        if (colon == authority)
            return "endpoint has no host name";
        if (colon != NULL)
            port = colon + 1;
    }
    if (port != NULL) {
        long number = 0;
        if (port == end || end - port > 5)
            return "endpoint has a malformed port (1 to 65535)";
        for (const char *p = port; p < end; p++) {
            if (*p < '0' || *p > '9')
                return "endpoint has a malformed port (1 to 65535)";
            number = number * 10 + (*p - '0');
        }
        if (number < 1 || number > 65535)
            return "endpoint has a malformed port (1 to 65535)";
    }
    return NULL;
}

const char *mmc_url_endpoint_problem(const char *endpoint, int allow_http) {
    const char *rest;
    if (strncasecmp(endpoint, "https://", 8) == 0) {
        rest = endpoint + 8;
    } else if (strncasecmp(endpoint, "http://", 7) == 0) {
        if (!allow_http)
            return "endpoint must use https:// (plain http:// only with allow_http = true)";
        rest = endpoint + 7;
    } else {
        return "endpoint must start with https://";
    }
    if (*rest == '\0' || *rest == '/')
        return "endpoint has no host name";
    for (const unsigned char *p = (const unsigned char *)rest; *p; p++) {
        if (*p <= 0x20 || *p == 0x7f)
            return "endpoint must not contain white space or control characters";
        if (*p == '?' || *p == '#' || *p == '@')
            return "endpoint must not contain a query, a fragment or user info";
    }
    size_t authority_length = strcspn(rest, "/");
    /* The API's paths start at the root: a base path would only make every call 404. */
    if (rest[authority_length + strspn(rest + authority_length, "/")] != '\0')
        return "endpoint must have no path: give only https://host[:port], mmc adds the API's "
               "paths";
    return authority_problem(rest, authority_length);
}
