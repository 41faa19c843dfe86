#include "push.h"

#include <math.h>
#include <string.h>

#include "crypto.h"
#include "json_scan.h"
#include "json_write.h"

enum { APP_ID, TIMESTAMP, NONCE, SIGNATURE, EVENT_INFO, FIELD_COUNT };

/* Unix milliseconds have 13 digits from 2001-09-09 to 2286-11-20. A fixed width also keeps
 * digits from moving between timestamp and nonce in the signed text, which has no separators
 * (a push re-framed that way would still carry a valid signature). */
#define TIMESTAMP_DIGITS 13

/* 1 when a scanned number is a plain non-negative integer: what was signed is the number's
 * own digits, so a fraction or an exponent cannot stand for it. */
static int is_plain_integer(const mmc_json_value *value) {
    if (value->length == 0 || value->length > 18)
        return 0;
    for (size_t i = 0; i < value->length; i++)
        if (value->start[i] < '0' || value->start[i] > '9')
            return 0;
    return 1;
}

static int is_milliseconds(const mmc_json_value *value) {
    return value->length == TIMESTAMP_DIGITS;
}

static int has_type(const mmc_json_value *value, int field) {
    switch (field) {
    case TIMESTAMP:
        return value->type == MMC_JSON_NUMBER && is_plain_integer(value);
    case EVENT_INFO:
        return value->type == MMC_JSON_OTHER && value->start[0] == '{';
    default:
        return value->type == MMC_JSON_STRING;
    }
}

/* Checks each member is there with its type; appends what is wrong with the first that is
 * not, and returns -1. */
static int check_fields(const mmc_json_field *fields, mmc_buffer *reason) {
    static const char *const kinds[FIELD_COUNT] = {"a string", "a whole number", "a string",
                                                   "a string", "an object"};
    for (int i = 0; i < FIELD_COUNT; i++) {
        if (fields[i].value.type == MMC_JSON_ABSENT) {
            mmc_buffer_append_format(reason, "%s '%s'",
                                     i == SIGNATURE ? "the push is unsigned: it has no"
                                                    : "the push has no",
                                     fields[i].key);
            return -1;
        }
        if (!has_type(&fields[i].value, i)) {
            mmc_buffer_append_format(reason, "the push's '%s' is not %s", fields[i].key, kinds[i]);
            return -1;
        }
    }
    if (!is_milliseconds(&fields[TIMESTAMP].value)) {
        mmc_buffer_append_string(reason,
                                 "the push's 'timestamp' is not Unix milliseconds (13 digits)");
        return -1;
    }
    return 0;
}

/* The received signature, lowercased, when it is 64 hex digits; else -1. */
static int read_signature(const mmc_json_value *value, char out[MMC_SHA256_HEX_LENGTH + 1]) {
    if (value->length != MMC_SHA256_HEX_LENGTH)
        return -1;
    for (size_t i = 0; i < MMC_SHA256_HEX_LENGTH; i++) {
        char c = value->start[i];
        if (c >= 'A' && c <= 'F')
            c = (char)(c - 'A' + 'a');
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
            return -1;
        out[i] = c;
    }
    out[MMC_SHA256_HEX_LENGTH] = '\0';
    return 0;
}

static long long digits_value(const mmc_json_value *value) {
    long long number = 0;
    for (size_t i = 0; i < value->length; i++)
        number = number * 10 + (value->start[i] - '0');
    return number;
}

static int is_json_whitespace(char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* Copies `json` (a value the strict scanner accepted) to `out` without the whitespace between
 * its tokens, and counts the bytes left out; with `out` NULL, only counts. Huawei signs
 * eventInfo compact, yet its own documentation prints pushes indented. Strings are copied as
 * they stand, escapes and all, and nothing is reordered, so the result is the compact text
 * only if that is what the sender serialized. -1 when out of memory. */
static long long strip_whitespace_between_tokens(const char *json, size_t length, mmc_buffer *out) {
    long long left_out = 0;
    int in_string = 0;
    size_t run = 0; /* the bytes from `run` up to `i` are still to be copied */
    for (size_t i = 0; i < length; i++) {
        char c = json[i];
        if (in_string) {
            if (c == '\\')
                i++; /* the escaped character cannot end the string */
            else if (c == '"')
                in_string = 0;
        } else if (c == '"') {
            in_string = 1;
        } else if (is_json_whitespace(c)) {
            if (out != NULL && mmc_buffer_append(out, json + run, i - run) != 0)
                return -1;
            run = i + 1;
            left_out++;
        }
    }
    if (out != NULL && mmc_buffer_append(out, json + run, length - run) != 0)
        return -1;
    return left_out;
}

/* appID .. timestamp .. nonce .. eventInfo: the strings decoded, the others as they stand
 * (eventInfo without the whitespace between its tokens when `compact`). */
static int build_signed_text(const mmc_json_field *fields, int compact, mmc_buffer *text) {
    const mmc_json_value *event_info = &fields[EVENT_INFO].value;
    if (mmc_json_string_value(&fields[APP_ID].value, text) != 0 ||
        mmc_buffer_append(text, fields[TIMESTAMP].value.start, fields[TIMESTAMP].value.length) !=
            0 ||
        mmc_json_string_value(&fields[NONCE].value, text) != 0)
        return -1;
    if (!compact)
        return mmc_buffer_append(text, event_info->start, event_info->length);
    long long left_out =
        strip_whitespace_between_tokens(event_info->start, event_info->length, text);
    return left_out < 0 ? -1 : 0;
}

/* Whether `received` is the signature of `text` under `key`: 1 matches, 0 does not, -1 out
 * of memory. */
static int signature_matches(const mmc_buffer *text, const mmc_push_key *key,
                             const char *received) {
    char expected[MMC_SHA256_HEX_LENGTH + 1];
    if (mmc_hmac_sha256_hex(key->data, key->length, text->data, text->length, expected) != 0)
        return -1;
    int matches = mmc_constant_time_equal(received, expected, MMC_SHA256_HEX_LENGTH);
    mmc_wipe(expected, sizeof expected);
    return matches ? 1 : 0;
}

/* The index of the first key that signed the push (eventInfo as it stands first, then, if it
 * has any, without the whitespace between its tokens: what Huawei signs, by its documented
 * example); -1 when none did, -2 when out of memory. */
static long long find_signing_key(const mmc_json_field *fields, const mmc_push_key *keys,
                                  size_t key_count, const char *received, mmc_memory *memory) {
    const mmc_json_value *event_info = &fields[EVENT_INFO].value;
    int has_whitespace =
        strip_whitespace_between_tokens(event_info->start, event_info->length, NULL) > 0;
    mmc_buffer as_sent, compact;
    mmc_buffer_init_in(&as_sent, memory);
    mmc_buffer_init_in(&compact, memory);
    long long found = -2;
    if (build_signed_text(fields, 0, &as_sent) != 0 ||
        (has_whitespace && build_signed_text(fields, 1, &compact) != 0))
        goto done;
    found = -1;
    for (size_t i = 0; i < key_count && found == -1; i++) {
        int matches = signature_matches(&as_sent, &keys[i], received);
        if (matches == 0 && has_whitespace)
            matches = signature_matches(&compact, &keys[i], received);
        if (matches < 0)
            found = -2;
        else if (matches)
            found = (long long)i;
    }
done:
    mmc_buffer_free(&as_sent);
    mmc_buffer_free(&compact);
    return found;
}

int mmc_push_verify(const char *body, size_t length, const mmc_push_key *keys, size_t key_count,
                    double max_age, long long now_ms, mmc_buffer *reason) {
    mmc_json_field fields[FIELD_COUNT] = {
        {"appID", {MMC_JSON_ABSENT, NULL, 0}},     {"timestamp", {MMC_JSON_ABSENT, NULL, 0}},
        {"nonce", {MMC_JSON_ABSENT, NULL, 0}},     {"signature", {MMC_JSON_ABSENT, NULL, 0}},
        {"eventInfo", {MMC_JSON_ABSENT, NULL, 0}},
    };
    mmc_json_status status = mmc_json_scan(body, length, fields, FIELD_COUNT);
    if (status != MMC_JSON_OK) {
        mmc_buffer_append_format(reason, "the push is not a JSON object (%s)",
                                 status == MMC_JSON_NOT_OBJECT ? "another JSON value"
                                                               : mmc_json_status_text(status));
        return -1;
    }
    if (check_fields(fields, reason) != 0)
        return -1;

    char received[MMC_SHA256_HEX_LENGTH + 1];
    if (read_signature(&fields[SIGNATURE].value, received) != 0) {
        mmc_buffer_append_string(reason, "the push's signature is not 64 hex digits");
        return -1;
    }
    long long key_index = find_signing_key(fields, keys, key_count, received, reason->memory);
    if (key_index == -2) {
        mmc_buffer_append_string(reason, "out of memory");
        return -1;
    }
    if (key_index < 0) {
        mmc_buffer_append_string(
            reason, key_count > 1 ? "wrong signature: the push was not signed with any of these "
                                    "subscriber keys, or was changed on the way"
                                  : "wrong signature: the push was not signed with this "
                                    "subscriber key, or was changed on the way");
        return -1;
    }

    if (max_age > 0) {
        double age = (double)(now_ms - digits_value(&fields[TIMESTAMP].value)) / 1000;
        if (age > max_age) {
            mmc_buffer_append_format(
                reason, "too old: the push was signed %.0f s ago (at most %g s allowed)",
                floor(age), max_age);
            return -1;
        }
        if (-age > max_age) {
            mmc_buffer_append_format(
                reason, "the push's timestamp is %.0f s in the future (at most %g s allowed)",
                floor(-age), max_age);
            return -1;
        }
    }
    return 0;
}

int mmc_push_event_id(const char *body, size_t length, char out[MMC_SHA256_HEX_LENGTH + 1],
                      mmc_buffer *reason) {
    mmc_json_field fields[2] = {{"appID", {MMC_JSON_ABSENT, NULL, 0}},
                                {"eventInfo", {MMC_JSON_ABSENT, NULL, 0}}};
    mmc_json_status status = mmc_json_scan(body, length, fields, 2);
    if (status != MMC_JSON_OK) {
        mmc_buffer_append_format(reason, "the push is not a JSON object (%s)",
                                 status == MMC_JSON_NOT_OBJECT ? "another JSON value"
                                                               : mmc_json_status_text(status));
        return -1;
    }
    if (!has_type(&fields[0].value, APP_ID) || !has_type(&fields[1].value, EVENT_INFO)) {
        mmc_buffer_append_string(reason, "the push has no string 'appID' and object 'eventInfo'");
        return -1;
    }
    const mmc_json_value *event_info = &fields[1].value;
    mmc_buffer text;
    mmc_buffer_init_in(&text, reason->memory);
    int ok = mmc_json_string_value(&fields[0].value, &text) == 0 &&
             mmc_buffer_append(&text, "\n", 1) == 0 &&
             strip_whitespace_between_tokens(event_info->start, event_info->length, &text) >= 0 &&
             mmc_sha256_hex(text.data, text.length, out) == 0;
    mmc_buffer_free(&text);
    if (!ok)
        mmc_buffer_append_string(reason, "out of memory");
    return ok ? 0 : -1;
}

int mmc_push_verify_reply(const char *nonce, size_t length, mmc_buffer *out) {
    if (!mmc_utf8_is_valid(nonce, length))
        return -1;
    mmc_buffer_clear(out);
    if (mmc_buffer_append_string(out, "{\"event\":\"" MMC_PUSH_VERIFY_EVENT "\",\"nonce\":") != 0 ||
        mmc_json_append_string(out, nonce, length) != 0 || mmc_buffer_append_string(out, "}") != 0)
        return -1;
    return 0;
}
