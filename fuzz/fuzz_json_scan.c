/*
 * fuzz_json_scan: the strict JSON scanner and its on-demand decoders.
 *
 * Untrusted input: the whole input is a response body as the network delivered it (an
 * authentication answer, an error body, a push). Beyond "no crash, leak or UB", checks:
 *  - a status other than OK finds no field; each field found lies inside the input: a string
 *    between its two quotes, a number starting with '-' or a digit, anything else with
 *    '{', '[', 't', 'f' or 'n';
 *  - JSON accepted is valid UTF-8 as a whole (RFC 8259 section 8.1), and each string found
 *    decodes to valid UTF-8 (U+0000 aside); the decoded text, written back with
 *    mmc_json_append_string, scans and decodes to the same bytes;
 *  - mmc_json_integer_value agrees with strtoll: equal when it succeeds, and it fails only for
 *    an exponent or a value outside long long;
 *  - a valid body wrapped in [ ] is still valid (or one level too deep).
 * Links: src/json_scan.c src/json_write.c src/buffer.c -lcrypto
 * Dictionary: fuzz/json.dict
 */
#include "fuzz/fuzz.h"

#include <errno.h>
#include <limits.h>

#include "src/json_scan.h"
#include "src/json_write.h"

static const char *const wanted[] = {"accessToken", "validPeriod", "error_code", "request_id",
                                     "eventInfo",   "a",           "",           "\xc3\xa9"};
#define WANTED_COUNT (sizeof wanted / sizeof wanted[0])

/* Valid UTF-8 once the NULs (from \u0000) are set aside. */
static int utf8_valid_allowing_nul(const char *text, size_t length) {
    size_t start = 0;
    for (size_t i = 0; i <= length; i++) {
        if (i == length || text[i] == '\0') {
            if (!mmc_utf8_is_valid(text + start, i - start))
                return 0;
            start = i + 1;
        }
    }
    return 1;
}

static void check_string(const mmc_json_value *value) {
    mmc_buffer decoded, written;
    mmc_buffer_init(&decoded);
    mmc_buffer_init(&written);
    FUZZ_CHECK(value->start[-1] == '"' && value->start[value->length] == '"',
               "a string value is not between quotes");
    FUZZ_CHECK(mmc_json_string_value(value, &decoded) == 0, "a scanned string does not decode");
    FUZZ_CHECK(utf8_valid_allowing_nul(mmc_buffer_text(&decoded), decoded.length),
               "a string decoded to invalid UTF-8");

    mmc_json_field field = {"k", {0}};
    FUZZ_CHECK(mmc_buffer_append_string(&written, "{\"k\":") == 0 &&
                   mmc_json_append_string(&written, mmc_buffer_text(&decoded), decoded.length) ==
                       0 &&
                   mmc_buffer_append_string(&written, "}") == 0,
               "out of memory");
    FUZZ_CHECK(mmc_json_scan(written.data, written.length, &field, 1) == MMC_JSON_OK &&
                   field.value.type == MMC_JSON_STRING,
               "mmc_json_append_string wrote JSON the scanner refuses: %s", written.data);
    mmc_buffer again;
    mmc_buffer_init(&again);
    FUZZ_CHECK(mmc_json_string_value(&field.value, &again) == 0 && again.length == decoded.length &&
                   memcmp(mmc_buffer_text(&again), mmc_buffer_text(&decoded), decoded.length) == 0,
               "a string written and read back changed");
    mmc_buffer_free(&again);
    mmc_buffer_free(&written);
    mmc_buffer_free(&decoded);
}

static void check_number(const mmc_json_value *value) {
    long long number = 0;
    int status = mmc_json_integer_value(value, &number);
    int exponent = memchr(value->start, 'e', value->length) != NULL ||
                   memchr(value->start, 'E', value->length) != NULL;
    size_t integer_length = 0; /* sign and digits before any '.' or exponent */
    while (integer_length < value->length && value->start[integer_length] != '.' &&
           value->start[integer_length] != 'e' && value->start[integer_length] != 'E')
        integer_length++;
    char *integer = fuzz_copy(value->start, integer_length);
    errno = 0;
    long long expected = strtoll(integer, NULL, 10);
    int out_of_range = errno == ERANGE || expected == LLONG_MIN;
    if (status == 0)
        FUZZ_CHECK(!exponent && number == expected, "integer %lld read from %s (strtoll: %lld)",
                   number, integer, expected);
    else
        FUZZ_CHECK(exponent || out_of_range, "integer refused: %s", integer);
    free(integer);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *text = (const char *)data;
    mmc_json_field fields[WANTED_COUNT];
    for (size_t i = 0; i < WANTED_COUNT; i++)
        fields[i].key = wanted[i];
    mmc_json_status status = mmc_json_scan(text, size, fields, WANTED_COUNT);
    FUZZ_CHECK(status >= MMC_JSON_OK && status <= MMC_JSON_BAD_UTF8, "status %d", (int)status);
    if (status == MMC_JSON_OK || status == MMC_JSON_NOT_OBJECT)
        FUZZ_CHECK(mmc_utf8_is_valid(text, size), "JSON accepted that is not UTF-8");
    FUZZ_CHECK(mmc_json_scan(text, size, NULL, 0) == status, "the status depends on the fields");

    for (size_t i = 0; i < WANTED_COUNT; i++) {
        const mmc_json_value *value = &fields[i].value;
        if (status != MMC_JSON_OK) {
            FUZZ_CHECK(value->type == MMC_JSON_ABSENT, "a field found in a body that is not OK");
            continue;
        }
        if (value->type == MMC_JSON_ABSENT)
            continue;
        FUZZ_CHECK(value->start >= text && value->length <= size &&
                       (size_t)(value->start - text) <= size - value->length,
                   "a value lies outside the input");
        if (value->type == MMC_JSON_STRING) {
            check_string(value);
        } else if (value->type == MMC_JSON_NUMBER) {
            FUZZ_CHECK(value->length > 0 && (value->start[0] == '-' ||
                                             (value->start[0] >= '0' && value->start[0] <= '9')),
                       "a number that does not start like one");
            check_number(value);
        } else {
            FUZZ_CHECK(value->length > 0 && strchr("{[tfn", value->start[0]) != NULL,
                       "an 'other' value that starts with %c", value->start[0]);
            FUZZ_CHECK(mmc_json_string_value(value, &(mmc_buffer){0}) == -1,
                       "a non-string decoded as a string");
        }
    }

    if (status == MMC_JSON_OK || status == MMC_JSON_NOT_OBJECT) {
        char *wrapped = malloc(size + 2);
        wrapped[0] = '[';
        memcpy(wrapped + 1, data, size);
        wrapped[size + 1] = ']';
        mmc_json_status inside = mmc_json_scan(wrapped, size + 2, NULL, 0);
        FUZZ_CHECK(inside == MMC_JSON_NOT_OBJECT || inside == MMC_JSON_TOO_DEEP,
                   "valid JSON is %s inside [ ]", mmc_json_status_text(inside));
        free(wrapped);
    }
    return 0;
}
