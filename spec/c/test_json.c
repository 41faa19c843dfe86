/* The JSON scanner and writer: what is valid, what members are found, how values decode. */
#include <string.h>

#include "../../src/json_scan.h"
#include "../../src/json_write.h"
#include "check.h"

static mmc_json_status scan(const char *text) {
    return mmc_json_scan(text, strlen(text), NULL, 0);
}

static void accepts_valid_json(void) {
    const char *valid[] = {"{}",
                           "[]",
                           "0",
                           "-1.5e+3",
                           "\"x\"",
                           "true",
                           "null",
                           " { \"a\" : [1, {\"b\": null}] } ",
                           "{\"u\":\"\\u00e9\\ud83d\\ude00\"}",
                           NULL};
    for (int i = 0; valid[i] != NULL; i++) {
        mmc_json_status status = scan(valid[i]);
        CHECK(status == MMC_JSON_OK || status == MMC_JSON_NOT_OBJECT);
    }
    CHECK(scan("{}") == MMC_JSON_OK);
    CHECK(scan("[1]") == MMC_JSON_NOT_OBJECT);
}

static void refuses_invalid_json(void) {
    const char *invalid[] = {"",         " ",          "{",        "}",           "{\"a\"}",
                             "{\"a\":}", "{\"a\":1,}", "[1,]",     "01",          "1.",
                             "-",        "+1",         ".5",       "1e",          "tru",
                             "nul",      "\"abc",      "\"\\x\"",  "\"\\u12g4\"", "\"tab\there\"",
                             "{} {}",    "NaN",        "Infinity", "{'a':1}",     "{\"a\":1]",
                             NULL};
    for (int i = 0; invalid[i] != NULL; i++) {
        if (scan(invalid[i]) != MMC_JSON_INVALID)
            fprintf(stderr, "accepted: %s\n", invalid[i]);
        CHECK(scan(invalid[i]) == MMC_JSON_INVALID);
    }
}

/* `levels` nested arrays. */
static mmc_json_status scan_nested(int levels) {
    char text[2 * (MMC_JSON_MAX_DEPTH + 1) + 1];
    for (int i = 0; i < levels; i++) {
        text[i] = '[';
        text[2 * levels - 1 - i] = ']';
    }
    text[2 * levels] = '\0';
    return scan(text);
}

static void limits_depth(void) {
    CHECK(scan_nested(MMC_JSON_MAX_DEPTH) == MMC_JSON_NOT_OBJECT); /* exactly the limit: fine */
    CHECK(scan_nested(MMC_JSON_MAX_DEPTH + 1) == MMC_JSON_TOO_DEEP);
}

static void finds_top_level_members(void) {
    const char *text = "{\"nested\":{\"error_code\":\"inner\"},\"error_code\":\"USG.1\","
                       "\"n\":-12.75,\"e\\u0072ror_msg\":\"bad\\nthing\",\"error_code\":\"USG.2\"}";
    mmc_json_field fields[] = {{"error_code", {0}}, {"n", {0}}, {"error_msg", {0}}, {"none", {0}}};
    CHECK(mmc_json_scan(text, strlen(text), fields, 4) == MMC_JSON_OK);
    mmc_buffer value;
    mmc_buffer_init(&value);
    CHECK(mmc_json_string_value(&fields[0].value, &value) == 0);
    CHECK_STR(mmc_buffer_text(&value), "USG.2"); /* the last repeat wins, nested ones do not */
    long long n = 0;
    CHECK(mmc_json_integer_value(&fields[1].value, &n) == 0 && n == -12);
    mmc_buffer_clear(&value);
    CHECK(mmc_json_string_value(&fields[2].value, &value) == 0);
    CHECK_STR(mmc_buffer_text(&value), "bad\nthing");
    CHECK(fields[3].value.type == MMC_JSON_ABSENT);
    mmc_buffer_free(&value);
}

static void decodes_unicode_escapes(void) {
    const char *text = "{\"s\":\"\\u00e9\\ud83d\\ude00\\ud800x\\/\"}";
    mmc_json_field fields[] = {{"s", {0}}};
    CHECK(mmc_json_scan(text, strlen(text), fields, 1) == MMC_JSON_OK);
    mmc_buffer value;
    mmc_buffer_init(&value);
    CHECK(mmc_json_string_value(&fields[0].value, &value) == 0);
    CHECK_STR(mmc_buffer_text(&value), "\xc3\xa9\xf0\x9f\x98\x80\xef\xbf\xbdx/");
    mmc_buffer_free(&value);
}

static void refuses_out_of_range_integers(void) {
    const char *text = "{\"big\":99999999999999999999,\"exp\":1e3}";
    mmc_json_field fields[] = {{"big", {0}}, {"exp", {0}}};
    long long n;
    CHECK(mmc_json_scan(text, strlen(text), fields, 2) == MMC_JSON_OK);
    CHECK(mmc_json_integer_value(&fields[0].value, &n) == -1);
    CHECK(mmc_json_integer_value(&fields[1].value, &n) == -1);
}

static void writes_escaped_strings(void) {
    mmc_buffer out;
    mmc_buffer_init(&out);
    CHECK(mmc_json_append_string(&out, "q\"b\\c\n\x01\x7f\xc3\xa9", 10) == 0);
    CHECK_STR(mmc_buffer_text(&out), "\"q\\\"b\\\\c\\n\\u0001\\u007f\xc3\xa9\"");
    mmc_buffer_free(&out);
}

static void validates_utf8(void) {
    CHECK(mmc_utf8_is_valid("plain", 5));
    CHECK(mmc_utf8_is_valid("\xc3\xa9\xe4\xb8\xad\xf0\x9f\x98\x80", 9));
    CHECK(!mmc_utf8_is_valid("\xc3", 1));             /* truncated */
    CHECK(!mmc_utf8_is_valid("\xc0\xaf", 2));         /* overlong */
    CHECK(!mmc_utf8_is_valid("\xed\xa0\x80", 3));     /* a surrogate */
    CHECK(!mmc_utf8_is_valid("\xf4\x90\x80\x80", 4)); /* above U+10FFFF */
    CHECK(!mmc_utf8_is_valid("a\0b", 3));             /* NUL */
    CHECK(!mmc_utf8_is_valid("\xff", 1));
}

int main(void) {
    accepts_valid_json();
    refuses_invalid_json();
    limits_depth();
    finds_top_level_members();
    decodes_unicode_escapes();
    refuses_out_of_range_integers();
    writes_escaped_strings();
    validates_utf8();
    return check_report("json");
}
