#include "push.h"

#include <math.h>
#include <string.h>

#include "crypto.h"
#include "json_scan.h"
#include "json_write.h"

enum { APP_ID, TIMESTAMP, NONCE, SIGNATURE, EVENT_INFO, FIELD_COUNT };

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

/* appID .. timestamp .. nonce .. eventInfo: the strings decoded, the others as they stand. */
static int build_signed_text(const mmc_json_field *fields, mmc_buffer *text) {
    return mmc_json_string_value(&fields[APP_ID].value, text) != 0 ||
                   mmc_buffer_append(text, fields[TIMESTAMP].value.start,
                                     fields[TIMESTAMP].value.length) != 0 ||
                   mmc_json_string_value(&fields[NONCE].value, text) != 0 ||
                   mmc_buffer_append(text, fields[EVENT_INFO].value.start,
                                     fields[EVENT_INFO].value.length) != 0
               ? -1
               : 0;
}

int mmc_push_verify(const char *body, size_t length, const char *key, size_t key_length,
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
    char expected[MMC_SHA256_HEX_LENGTH + 1];
    mmc_buffer text;
    mmc_buffer_init(&text);
    int built = build_signed_text(fields, &text) == 0 &&
                mmc_hmac_sha256_hex(key, key_length, text.data, text.length, expected) == 0;
    mmc_buffer_free(&text);
    if (!built) {
        mmc_buffer_append_string(reason, "out of memory");
        return -1;
    }
    int matches = mmc_constant_time_equal(received, expected, MMC_SHA256_HEX_LENGTH);
    mmc_wipe(expected, sizeof expected);
    if (!matches) {
        mmc_buffer_append_string(reason, "wrong signature: the push was not signed with this "
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

int mmc_push_verify_reply(const char *nonce, size_t length, mmc_buffer *out) {
    if (!mmc_utf8_is_valid(nonce, length))
        return -1;
    mmc_buffer_clear(out);
    if (mmc_buffer_append_string(out, "{\"event\":\"" MMC_PUSH_VERIFY_EVENT "\",\"nonce\":") != 0 ||
        mmc_json_append_string(out, nonce, length) != 0 || mmc_buffer_append_string(out, "}") != 0)
        return -1;
    return 0;
}
