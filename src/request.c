#include "request.h"

#include <stdlib.h>
#include <string.h>

#include "url.h"

const char *mmc_request_known_method(const char *method) {
    static const char *const methods[] = {"GET", "POST", "PUT", "DELETE", "PATCH"};
    for (size_t i = 0; method != NULL && i < sizeof methods / sizeof methods[0]; i++)
        if (strcmp(method, methods[i]) == 0)
            return methods[i];
    return NULL;
}

int mmc_request_method_is_idempotent(const char *method) {
    return strcmp(method, "GET") == 0 || strcmp(method, "PUT") == 0 ||
           strcmp(method, "DELETE") == 0;
}

const char *mmc_request_body_problem(const char *method, int has_body) {
    return has_body && strcmp(method, "GET") == 0 ? MMC_GET_BODY_PROBLEM : NULL;
}

static int hex_value(unsigned char c) {
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

/* What each byte is in a path segment: RFC 3986 pchar less '%' (unreserved, sub-delims, ':'
 * and '@') is PATH_PLAIN, '.' and '%' are told apart, anything else is refused. A table: this
 * runs for every byte of every path (bench/run's callgrind mode counts it). */
enum { PATH_REFUSED = 0, PATH_PLAIN, PATH_DOT, PATH_PERCENT };
static const unsigned char path_byte_class[256] = {
    ['a' ... 'z'] = PATH_PLAIN, ['A' ... 'Z'] = PATH_PLAIN, ['0' ... '9'] = PATH_PLAIN,
    ['-'] = PATH_PLAIN,         ['_'] = PATH_PLAIN,         ['~'] = PATH_PLAIN,
    ['!'] = PATH_PLAIN,         ['$'] = PATH_PLAIN,         ['&'] = PATH_PLAIN,
    ['\''] = PATH_PLAIN,        ['('] = PATH_PLAIN,         [')'] = PATH_PLAIN,
    ['*'] = PATH_PLAIN,         ['+'] = PATH_PLAIN,         [','] = PATH_PLAIN,
    [';'] = PATH_PLAIN,         ['='] = PATH_PLAIN,         [':'] = PATH_PLAIN,
    ['@'] = PATH_PLAIN,         ['.'] = PATH_DOT,           ['%'] = PATH_PERCENT,
};

/* Why a byte that is not allowed in a path is refused. */
static const char *byte_problem(unsigned char c) {
    if (c == '?' || c == '#')
        return "path must not hold a query or a fragment: pass the query in options.query";
    if (c <= 0x20 || c == 0x7f)
        return "path must not hold white space or control characters";
    return "path holds a character that must be percent-encoded";
}

/* Checks one segment (between slashes). A segment that is "." or "..", spelt plainly or with
 * %2E, would let a server that normalises paths climb out of the API path. */
static const char *segment_problem(const char *segment, size_t length) {
    if (length == 0)
        return "path must not have an empty segment ('//')";
    size_t i = 0;
    while (i < length && path_byte_class[(unsigned char)segment[i]] == PATH_PLAIN)
        i++; /* the usual segment has nothing else: done in one tight loop */
    if (i == length)
        return NULL;
    size_t dots = 0, decoded = i;
    for (; i < length; i++, decoded++) {
        unsigned char c = (unsigned char)segment[i];
        switch (path_byte_class[c]) {
        case PATH_PLAIN:
            break;
        case PATH_DOT:
            dots++;
            break;
        case PATH_PERCENT: {
            if (i + 2 >= length || hex_value((unsigned char)segment[i + 1]) < 0 ||
                hex_value((unsigned char)segment[i + 2]) < 0)
                return "path has a '%' that is not followed by two hex digits";
            int byte = hex_value((unsigned char)segment[i + 1]) * 16 +
                       hex_value((unsigned char)segment[i + 2]);
            if (byte < 0x20 || byte == 0x7f)
                return "path must not hold an encoded control character";
            if (byte == '/' || byte == '\\')
                return "path must not hold an encoded slash or backslash";
            dots += byte == '.';
            i += 2;
            break;
        }
        default:
            return byte_problem(c);
        }
    }
    if (dots == decoded && decoded <= 2)
        return "path must not have a '.' or '..' segment";
    return NULL;
}

const char *mmc_request_path_problem(const char *path, size_t length) {
    if (length == 0 || path[0] != '/')
        return "path must start with '/' (an API path on the configured endpoint, not a URL)";
    if (length > MMC_MAX_PATH_LENGTH)
        return "path is longer than 2048 bytes";
    if (length == 1)
        return NULL;
    const char *segment = path + 1, *end = path + length;
    for (;;) {
        const char *slash = memchr(segment, '/', (size_t)(end - segment));
        const char *segment_end = slash != NULL ? slash : end;
        /* A trailing slash ("/v1/x/") ends the path with an empty segment: allowed. */
        if (!(slash == NULL && segment == end)) {
            const char *problem = segment_problem(segment, (size_t)(segment_end - segment));
            if (problem != NULL)
                return problem;
        }
        if (slash == NULL)
            return NULL;
        segment = slash + 1;
    }
}

/* RFC 9110 token characters. */
static int is_token_character(unsigned char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
           (c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

int mmc_request_header_is(const char *name, size_t length, const char *expected) {
    size_t expected_length = strlen(expected);
    if (length != expected_length)
        return 0;
    for (size_t i = 0; i < length; i++) {
        unsigned char a = (unsigned char)name[i], b = (unsigned char)expected[i];
        if (a >= 'A' && a <= 'Z')
            a = (unsigned char)(a - 'A' + 'a');
        if (b >= 'A' && b <= 'Z')
            b = (unsigned char)(b - 'A' + 'a');
        if (a != b)
            return 0;
    }
    return 1;
}

const char *mmc_request_header_problem(const mmc_header *header) {
    static const char *const reserved[] = {"Authorization", "X-Access-Token", "Host",
                                           "Content-Length", "Transfer-Encoding"};
    for (size_t i = 0; i < header->name_length; i++)
        if (header->name[i] == '\r' || header->name[i] == '\n' || header->name[i] == '\0')
            return "header names must not hold CR, LF or NUL";
    for (size_t i = 0; i < header->value_length; i++)
        if (header->value[i] == '\r' || header->value[i] == '\n' || header->value[i] == '\0')
            return "header values must not hold CR, LF or NUL";
    if (header->name_length == 0 || header->name_length > MMC_MAX_HEADER_NAME_LENGTH)
        return "header names must be 1 to 64 characters";
    for (size_t i = 0; i < header->name_length; i++)
        if (!is_token_character((unsigned char)header->name[i]))
            return "header names must be HTTP tokens (letters, digits, '-' and the like)";
    for (size_t i = 0; i < sizeof reserved / sizeof reserved[0]; i++)
        if (mmc_request_header_is(header->name, header->name_length, reserved[i]))
            return "Authorization, X-Access-Token, Host, Content-Length and Transfer-Encoding "
                   "are set by mmc and cannot be given";
    if (header->value_length > MMC_MAX_HEADER_VALUE_LENGTH)
        return "header values must be at most 4096 bytes";
    for (size_t i = 0; i < header->value_length; i++) {
        unsigned char c = (unsigned char)header->value[i];
        if ((c < 0x20 && c != '\t') || c == 0x7f)
            return "header values must not hold control characters";
    }
    return NULL;
}

static int compare_bytes(const char *a, size_t a_length, const char *b, size_t b_length) {
    int order = memcmp(a, b, a_length < b_length ? a_length : b_length);
    if (order != 0)
        return order;
    return a_length < b_length ? -1 : a_length > b_length;
}

static int compare_pairs(const void *left, const void *right) {
    const mmc_query_pair *a = left, *b = right;
    int order = compare_bytes(a->name, a->name_length, b->name, b->name_length);
    return order != 0 ? order : compare_bytes(a->value, a->value_length, b->value, b->value_length);
}

static size_t escaped_length(const char *text, size_t length) {
    size_t total = length;
    for (size_t i = 0; i < length; i++) {
        unsigned char c = (unsigned char)text[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '.' || c == '_' || c == '~'))
            total += 2;
    }
    return total;
}

size_t mmc_request_query_length(const mmc_query_pair *pairs, size_t count) {
    size_t total = 0;
    for (size_t i = 0; i < count; i++)
        total += (i > 0) + escaped_length(pairs[i].name, pairs[i].name_length) + 1 +
                 escaped_length(pairs[i].value, pairs[i].value_length);
    return total;
}

/* Sorts the pairs: by insertion when they are few (the usual case: no allocation, no call
 * through a pointer), else with qsort. */
static void sort_pairs(mmc_query_pair *pairs, size_t count) {
    if (count > 16) {
        qsort(pairs, count, sizeof *pairs, compare_pairs);
        return;
    }
    for (size_t i = 1; i < count; i++) {
        mmc_query_pair pair = pairs[i];
        size_t j = i;
        for (; j > 0 && compare_pairs(&pairs[j - 1], &pair) > 0; j--)
            pairs[j] = pairs[j - 1];
        pairs[j] = pair;
    }
}

int mmc_request_build_query(mmc_buffer *out, mmc_query_pair *pairs, size_t count) {
    sort_pairs(pairs, count);
    size_t start = out->length;
    for (size_t i = 0; i < count; i++) {
        if ((i > 0 && mmc_buffer_append(out, "&", 1) != 0) ||
            mmc_url_append_escaped(out, pairs[i].name, pairs[i].name_length) != 0 ||
            mmc_buffer_append(out, "=", 1) != 0 ||
            mmc_url_append_escaped(out, pairs[i].value, pairs[i].value_length) != 0)
            return -1;
        if (out->length - start > MMC_MAX_QUERY_LENGTH)
            return -1;
    }
    return 0;
}
