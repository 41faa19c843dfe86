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

int main(void) {
    redacts_every_part_of_a_secret_in_text();
    redacts_json_strings_however_escaped();
    drops_the_tokens_of_an_authentication_answer();
    return check_report("redact");
}
