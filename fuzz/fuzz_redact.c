/*
 * fuzz_redact: secrets out of whatever a server sends back (src/redact.c).
 *
 * Untrusted input: the body is the server's, and so is the way it echoes a secret (escaped,
 * padded, cut, spread over JSON syntax). Input layout (text, so the seeds stay readable):
 *     line 1: secret 1 (an app key)   line 2: secret 2 (a token)   rest: the body
 * A "part" of a secret below is any 8 bytes of it (all of it when it is shorter, from 4 bytes),
 * checked here naively, independently of the sorted search redact.c uses. Checks, beyond no
 * crash/leak/UB:
 *  - as text: no part is left; UTF-8 text stays UTF-8; text without a part is unchanged;
 *  - as JSON, when the body is strict JSON: the result is 0 (still strict JSON, with no part
 *    in its bytes nor in any decoded string, member names included) or 1 (withheld: empty);
 *    a body with no part anywhere (bytes or decoded strings) comes back byte for byte;
 *  - dropping accessToken and refreshToken keeps the length and strict JSON, and leaves the
 *    last of each (what a decoder keeps) null or 0.
 * Links: src/redact.c src/json_scan.c src/json_write.c src/buffer.c -lcrypto
 * Dictionary: fuzz/json.dict
 */
#include "fuzz/fuzz.h"
#include "src/json_scan.h"
#include "src/json_write.h"
#include "src/redact.h"

/* 1 when `text` holds a part of `secret`, by brute force. */
static int holds_part(const char *text, size_t length, const mmc_secret *secret) {
    if (secret->length < MMC_REDACT_MIN_SECRET)
        return 0;
    size_t part = secret->length < MMC_REDACT_FRAGMENT ? secret->length : MMC_REDACT_FRAGMENT;
    for (size_t at = 0; at + part <= secret->length; at++)
        if (fuzz_contains(text, length, secret->data + at, part))
            return 1;
    return 0;
}

static int holds_any_part(const char *text, size_t length, const mmc_secret *secrets) {
    return holds_part(text, length, &secrets[0]) || holds_part(text, length, &secrets[1]);
}

/* 1 when some string of the strict JSON `json` (member names included) decodes to text that
 * holds a part of a secret. */
static int some_string_holds_part(const char *json, size_t length, const mmc_secret *secrets) {
    for (size_t at = 0; at < length; at++) {
        if (json[at] != '"')
            continue;
        size_t end = at + 1;
        while (end < length && json[end] != '"')
            end += json[end] == '\\' ? 2 : 1;
        FUZZ_CHECK(end < length, "an unterminated string in JSON that scanned");
        mmc_json_value value = {MMC_JSON_STRING, json + at + 1, end - at - 1};
        mmc_buffer decoded;
        mmc_buffer_init(&decoded);
        FUZZ_CHECK(mmc_json_string_value(&value, &decoded) == 0, "out of memory");
        int holds = holds_any_part(mmc_buffer_text(&decoded), decoded.length, secrets);
        mmc_buffer_free(&decoded);
        if (holds)
            return 1;
        at = end;
    }
    return 0;
}

static int is_strict_json(const char *text, size_t length) {
    mmc_json_status status = mmc_json_scan(text, length, NULL, 0);
    return status == MMC_JSON_OK || status == MMC_JSON_NOT_OBJECT;
}

static void check_text(const char *body, size_t size, const mmc_secret *secrets) {
    mmc_buffer text;
    mmc_buffer_init(&text);
    FUZZ_CHECK(mmc_buffer_append(&text, body, size) == 0, "out of memory");
    FUZZ_CHECK(mmc_redact_text(&text, secrets, 2) == 0, "redaction failed");
    const char *out = mmc_buffer_text(&text);
    FUZZ_CHECK(!holds_any_part(out, text.length, secrets), "a part of a secret is left: %s", out);
    if (mmc_utf8_is_valid(body, size))
        FUZZ_CHECK(text.length == 0 || mmc_utf8_is_valid(out, text.length),
                   "redaction broke UTF-8");
    if (!holds_any_part(body, size, secrets))
        FUZZ_CHECK(text.length == size && memcmp(out, body, size) == 0,
                   "text without a secret was changed");
    mmc_buffer_free(&text);
}

static void check_json(const char *body, size_t size, const mmc_secret *secrets) {
    mmc_buffer json;
    mmc_buffer_init(&json);
    FUZZ_CHECK(mmc_buffer_append(&json, body, size) == 0, "out of memory");
    int status = mmc_redact_json(&json, secrets, 2);
    const char *out = mmc_buffer_text(&json);
    FUZZ_CHECK(status == 0 || status == 1, "redaction failed (%d)", status);
    if (status == 1) {
        FUZZ_CHECK(json.length == 0, "a withheld body of %zu bytes", json.length);
    } else {
        FUZZ_CHECK(is_strict_json(out, json.length), "redaction broke the JSON: %s", out);
        FUZZ_CHECK(!holds_any_part(out, json.length, secrets), "a part left in the bytes: %s", out);
        FUZZ_CHECK(!some_string_holds_part(out, json.length, secrets),
                   "a part left in a decoded string: %s", out);
    }
    if (!holds_any_part(body, size, secrets) && !some_string_holds_part(body, size, secrets))
        FUZZ_CHECK(status == 0 && json.length == size && memcmp(out, body, size) == 0,
                   "JSON without a secret was changed");
    mmc_buffer_free(&json);
}

static void check_drop(const char *body, size_t size) {
    static const char *const members[] = {"accessToken", "refreshToken"};
    char *copy = fuzz_copy(body, size);
    mmc_redact_drop_members(copy, size, members, 2);
    FUZZ_CHECK(is_strict_json(copy, size), "dropping members broke the JSON: %s", copy);
    mmc_json_field fields[] = {{"accessToken", {0}}, {"refreshToken", {0}}};
    mmc_json_scan(copy, size, fields, 2);
    for (size_t i = 0; i < 2; i++) {
        const mmc_json_value *value = &fields[i].value;
        int is_null = value->type == MMC_JSON_OTHER && value->length == 4 &&
                      memcmp(value->start, "null", 4) == 0;
        int is_zero =
            value->type == MMC_JSON_NUMBER && value->length == 1 && value->start[0] == '0';
        FUZZ_CHECK(value->type == MMC_JSON_ABSENT || is_null || is_zero,
                   "%s still holds a value: %s", members[i], copy);
    }
    free(copy);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *first, *second;
    size_t first_length, second_length;
    fuzz_take_line(&data, &size, &first, &first_length);
    fuzz_take_line(&data, &size, &second, &second_length);
    char *key = fuzz_copy(first, first_length), *token = fuzz_copy(second, second_length);
    const mmc_secret secrets[] = {{key, first_length}, {token, second_length}};
    char *body = fuzz_copy(data, size);

    check_text(body, size, secrets);
    if (is_strict_json(body, size)) {
        check_json(body, size, secrets);
        check_drop(body, size);
    }
    free(body);
    free(key);
    free(token);
    return 0;
}
