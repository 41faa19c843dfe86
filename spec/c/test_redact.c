/* Secrets out of messages and bodies, in any form a server echoes them: parts of them, JSON
 * escapes, member names, numbers; and the tokens wiped out of an authentication answer. */
#include <stdlib.h>
#include <string.h>

#include "../../src/json_scan.h"
#include "../../src/json_write.h"
#include "../../src/redact.h"
#include "check.h"

#define KEY "Rk/9xQa+Lm3/Zp7W"

static const mmc_secret key_only[] = {{KEY, sizeof KEY - 1}};

/* The text of `input` after mmc_redact_text with `secrets`, in `out`. */
static const char *redacted_text(mmc_buffer *out, const char *input, const mmc_secret *secrets,
                                 size_t count) {
    mmc_buffer_clear(out);
    mmc_buffer_append_string(out, input);
    CHECK(mmc_redact_text(out, secrets, count) == 0);
    return mmc_buffer_text(out);
}

static void redacts_every_part_of_a_secret_in_text(void) {
    mmc_buffer out;
    mmc_buffer_init(&out);
    CHECK_STR(redacted_text(&out, "key " KEY " again " KEY "!", key_only, 1), "key *** again ***!");
    /* a secret cut short: 8 bytes of it go, 7 stay (too common to be a secret's) */
    CHECK_STR(redacted_text(&out, "cut Rk/9xQa+...", key_only, 1), "cut ***...");
    CHECK_STR(redacted_text(&out, "cut Rk/9xQa...", key_only, 1), "cut Rk/9xQa...");
    /* a piece from the middle, and two overlapping pieces as one run */
    CHECK_STR(redacted_text(&out, "[xQa+Lm3/Z]", key_only, 1), "[***]");
    CHECK_STR(redacted_text(&out, "Rk/9xQa+Lm3/Zp7WRk/9xQa+", key_only, 1), "***");
    /* a piece that starts inside a character takes the whole character: the text stays UTF-8 */
    const mmc_secret accented[] = {{"\303\2511234567", 9}};
    const char *text = redacted_text(&out, "x\304\2511234567y", accented, 1);
    CHECK_STR(text, "x***y");
    CHECK(mmc_utf8_is_valid(text, strlen(text)));
    /* no secret, or one too short to look for: nothing changes */
    const mmc_secret none[] = {{NULL, 0}, {"abc", 3}};
    CHECK_STR(redacted_text(&out, "abc abcd", none, 2), "abc abcd");
    /* several secrets at once */
    const mmc_secret two[] = {{KEY, sizeof KEY - 1}, {"token-0123456789", 16}};
    CHECK_STR(redacted_text(&out, "k=Rk/9xQa+L t=en-01234567", two, 2), "k=*** t=***");
    CHECK(mmc_redact_contains("..xQa+Lm3/..", 12, key_only, 1) == 1);
    CHECK(mmc_redact_contains("..xQa+Lm3..", 11, key_only, 1) == 0);
    mmc_buffer_free(&out);
}

static int is_json(const mmc_buffer *text) {
    mmc_json_status status = mmc_json_scan(text->data, text->length, NULL, 0);
    return status == MMC_JSON_OK || status == MMC_JSON_NOT_OBJECT;
}

/* The JSON of `input` after mmc_redact_json, in `out`; *status gets its result. */
static const char *redacted_json(mmc_buffer *out, const char *input, const mmc_secret *secrets,
                                 size_t count, int *status) {
    mmc_buffer_clear(out);
    mmc_buffer_append_string(out, input);
    CHECK(is_json(out));
    *status = mmc_redact_json(out, secrets, count);
    if (*status == 0)
        CHECK(is_json(out));
    return mmc_buffer_text(out);
}

static void redacts_json_strings_however_escaped(void) {
    mmc_buffer out;
    mmc_buffer_init(&out);
    int status = -1;
    /* \/ escapes: the string is decoded, redacted and written back; the rest is kept */
    CHECK_STR(redacted_json(&out, "{\"msg\":\"bad key Rk\\/9xQa+Lm3\\/Zp7W\",\"n\":1}", key_only, 1,
                            &status),
              "{\"msg\":\"bad key ***\",\"n\":1}");
    CHECK(status == 0);
    /* \uXXXX escapes, in a member name too */
    CHECK_STR(redacted_json(&out,
                            "{\"\\u0052\\u006b\\u002f\\u0039\\u0078\\u0051\\u0061\\u002bLm\":[\"ab "
                            "\\u0051a+Lm3\\/Zp\"]}",
                            key_only, 1, &status),
              "{\"***\":[\"ab ***\"]}");
    CHECK(status == 0);
    /* a number that holds a secret made of digits becomes a string */
    const mmc_secret digits[] = {{"12345678901234", 14}};
    CHECK_STR(redacted_json(&out, "[1,9912345678900,\"a\"]", digits, 1, &status),
              "[1,\"***\",\"a\"]");
    CHECK(status == 0);
    /* nothing to redact: the body is left exactly as it was */
    CHECK_STR(redacted_json(&out, "{\"a\":\"\\u00e9 \\/\"}", key_only, 1, &status),
              "{\"a\":\"\\u00e9 \\/\"}");
    CHECK(status == 0);
    /* a secret spread over JSON syntax is in no string, yet in the bytes: the body is withheld */
    const mmc_secret spread[] = {{"abcd\",\"efgh", 11}};
    CHECK_STR(redacted_json(&out, "{\"x\":\"abcd\",\"efgh\":1}", spread, 1, &status), "");
    CHECK(status == 1);
    mmc_buffer_free(&out);
}

static void drops_the_tokens_of_an_authentication_answer(void) {
    static const char *const members[] = {"accessToken", "refreshToken"};
    char answer[] = "{\"accessToken\":\"tok-AAAA\",\"user\":{\"accessToken\":\"inner\"},"
                    "\"refresh\\u0054oken\" : \"ref-BBBB\",\"validPeriod\":3600,"
                    "\"accessToken\":\"1\",\"refreshToken\":[\"ref-CCCC\",{}]}";
    size_t length = strlen(answer);
    CHECK(mmc_redact_drop_members(answer, length, members, 2) == 4);
    CHECK(strlen(answer) == length);
    CHECK(mmc_json_scan(answer, length, NULL, 0) == MMC_JSON_OK);
    CHECK(strstr(answer, "tok-AAAA") == NULL);
    CHECK(strstr(answer, "ref-BBBB") == NULL);
    CHECK(strstr(answer, "ref-CCCC") == NULL);
    CHECK(strstr(answer, "\"inner\"") != NULL); /* only top-level members */
    CHECK(strstr(answer, "\"validPeriod\":3600") != NULL);
    mmc_json_field fields[] = {{"accessToken", {0}}, {"refreshToken", {0}}};
    CHECK(mmc_json_scan(answer, length, fields, 2) == MMC_JSON_OK);
    CHECK(fields[0].value.type == MMC_JSON_NUMBER); /* "1" had no room for null: 0 */
    CHECK(fields[1].value.type == MMC_JSON_OTHER);  /* null */
    char not_object[] = "[\"accessToken\",\"x\"]";
    CHECK(mmc_redact_drop_members(not_object, strlen(not_object), members, 2) == 0);
    CHECK_STR(not_object, "[\"accessToken\",\"x\"]");
}

/* 1 when some MMC_REDACT_FRAGMENT bytes of `text` are bytes of `secret` (looked for byte by
 * byte, as the redactor's quick look does not). */
static int holds_fragment(const char *text, size_t length, const char *secret, size_t secret_length) {
    for (size_t at = 0; at + MMC_REDACT_FRAGMENT <= length; at++)
        for (size_t from = 0; from + MMC_REDACT_FRAGMENT <= secret_length; from++)
            if (memcmp(text + at, secret + from, MMC_REDACT_FRAGMENT) == 0)
                return 1;
    return 0;
}

/* The quick look rules bytes out several at a time: every fragment of a secret is still found,
 * at every offset of texts of every length around a fragment's (a wrong skip misses some).
 * The texts around it are of hex digits and letters, as headers are (X-Request-Id, Date). */
static void finds_a_fragment_at_every_offset(void) {
    static const char secret[] = "3f9a0c1e7b2d4a6f8e0b1c3d5a7f9e2b";
    static const char token[] = "0123456789abcdef0123456789abcdef01234567";
    const mmc_secret secrets[] = {{secret, sizeof secret - 1}, {token, sizeof token - 1}};
    const char *const sources[] = {secret, token};
    static const char filler[] = "Date: Thu, 03 Dec 2026 15:16:42 GMT c4e8a2f6b0d1 9e7c5a3b ";
    mmc_buffer out;
    mmc_buffer_init(&out);
    int missed = 0, left = 0;
    for (size_t length = MMC_REDACT_FRAGMENT; length <= 5 * MMC_REDACT_FRAGMENT + 3; length++)
        for (size_t offset = 0; offset + MMC_REDACT_FRAGMENT <= length; offset++)
            for (size_t s = 0; s < 2; s++)
                for (size_t from = 0; from + MMC_REDACT_FRAGMENT <= secrets[s].length; from++) {
                    char text[64];
                    for (size_t i = 0; i < length; i++)
                        text[i] = filler[(i + from) % (sizeof filler - 1)];
                    memcpy(text + offset, sources[s] + from, MMC_REDACT_FRAGMENT);
                    missed += mmc_redact_contains(text, length, secrets, 2) != 1;
                    mmc_buffer_clear(&out);
                    mmc_buffer_append(&out, text, length);
                    CHECK(mmc_redact_text(&out, secrets, 2) == 0);
                    left += holds_fragment(out.data, out.length, secret, sizeof secret - 1) ||
                            holds_fragment(out.data, out.length, token, sizeof token - 1) ||
                            strstr(mmc_buffer_text(&out), MMC_REDACT_MARKER) == NULL;
                }
    CHECK(missed == 0);
    CHECK(left == 0);
    /* and a text without one is left as it was */
    mmc_buffer_clear(&out);
    mmc_buffer_append_string(&out, filler);
    CHECK(mmc_redact_contains(filler, sizeof filler - 1, secrets, 2) == 0);
    CHECK(mmc_redact_text(&out, secrets, 2) == 0);
    CHECK_STR(mmc_buffer_text(&out), filler);
    mmc_buffer_free(&out);
}

int main(void) {
    redacts_every_part_of_a_secret_in_text();
    finds_a_fragment_at_every_offset();
    redacts_json_strings_however_escaped();
    drops_the_tokens_of_an_authentication_answer();
    return check_report("redact");
}
