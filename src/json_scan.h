/*
 * json_scan: a strict, allocation-free JSON validator that also picks out top-level members.
 *
 * The core must read an authentication response (accessToken, validPeriod, expireTime) and
 * error bodies (error_code, error_msg, request_id) without a Lua interpreter, and must treat
 * every byte from the network as hostile. So this does one thing: check that a body is exactly
 * one RFC 8259 value, nested no deeper than MMC_JSON_MAX_DEPTH, and, when it is an object,
 * report where the requested top-level members' values lie. Values are then decoded on demand
 * (mmc_json_string_value, mmc_json_integer_value). The Lua face decodes whole bodies for users
 * with lua-cjson; this scanner exists so that the C core can stand on its own.
 */
#ifndef MMC_JSON_SCAN_H
#define MMC_JSON_SCAN_H

#include <stddef.h>

#include "buffer.h"

#define MMC_JSON_MAX_DEPTH 128

typedef enum {
    MMC_JSON_ABSENT = 0, /* the member was not in the object */
    MMC_JSON_STRING,
    MMC_JSON_NUMBER,
    MMC_JSON_OTHER /* object, array, true, false or null */
} mmc_json_type;

typedef struct mmc_json_value {
    mmc_json_type type;
    const char *start; /* for a string: just inside the opening quote, still escaped */
    size_t length;
} mmc_json_value;

typedef struct mmc_json_field {
    const char *key;      /* the member wanted (in), compared after unescaping */
    mmc_json_value value; /* where it is (out); the last one wins when a key repeats */
} mmc_json_field;

typedef enum {
    MMC_JSON_OK = 0,
    MMC_JSON_NOT_OBJECT, /* valid JSON, but not an object: no fields are found */
    MMC_JSON_INVALID,
    MMC_JSON_TOO_DEEP,
    MMC_JSON_BAD_UTF8 /* a string holds bytes that are not UTF-8 (RFC 8259, section 8.1) */
} mmc_json_status;

/* Validates `text` and fills in each field's value. */
mmc_json_status mmc_json_scan(const char *text, size_t length, mmc_json_field *fields,
                              size_t field_count);

/* Appends a scanned string's decoded UTF-8 to `out` (\uXXXX and surrogate pairs decoded; a
 * lone surrogate becomes U+FFFD). 0, or -1 when the value is not a string or memory ran out. */
int mmc_json_string_value(const mmc_json_value *value, mmc_buffer *out);

/* A scanned number's integer part (a fraction is dropped; an exponent or a value outside
 * long long is refused). Locale-independent. 0 or -1. */
int mmc_json_integer_value(const mmc_json_value *value, long long *out);

const char *mmc_json_status_text(mmc_json_status status);

#endif
