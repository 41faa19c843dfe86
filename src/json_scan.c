#include "json_scan.h"

#include <limits.h>
#include <string.h>

#include "json_write.h"

typedef struct scanner {
    const char *at;
    const char *end;
    mmc_json_status status; /* the first error met, or MMC_JSON_OK */
} scanner;

static int fail(scanner *s, mmc_json_status status) {
    if (s->status == MMC_JSON_OK)
        s->status = status;
    return -1;
}

static void skip_space(scanner *s) {
    while (s->at < s->end && (*s->at == ' ' || *s->at == '\t' || *s->at == '\n' || *s->at == '\r'))
        s->at++;
}

static int is_hex(char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static int is_digit(char c) {
    return c >= '0' && c <= '9';
}

/* Consumes a string starting at its opening quote; records its escaped contents. */
static int scan_string(scanner *s, mmc_json_value *out) {
    s->at++; /* the opening quote */
    const char *start = s->at;
    while (s->at < s->end) {
        unsigned char c = (unsigned char)*s->at;
        if (c == '"') {
            out->type = MMC_JSON_STRING;
            out->start = start;
            out->length = (size_t)(s->at - start);
            s->at++;
            return 0;
        }
        if (c < 0x20)
            return fail(s, MMC_JSON_INVALID);
        if (c == '\\') {
            if (s->end - s->at < 2)
                return fail(s, MMC_JSON_INVALID);
            char e = s->at[1];
            if (e == 'u') {
                if (s->end - s->at < 6 || !is_hex(s->at[2]) || !is_hex(s->at[3]) ||
                    !is_hex(s->at[4]) || !is_hex(s->at[5]))
                    return fail(s, MMC_JSON_INVALID);
                s->at += 6;
                continue;
            }
            if (strchr("\"\\/bfnrt", e) == NULL || e == '\0')
                return fail(s, MMC_JSON_INVALID);
            s->at += 2;
            continue;
        }
        if (c >= 0x80) {
            size_t length = mmc_utf8_character_length(s->at, (size_t)(s->end - s->at));
            if (length == 0)
                return fail(s, MMC_JSON_BAD_UTF8);
            s->at += length;
            continue;
        }
        s->at++;
    }
    return fail(s, MMC_JSON_INVALID);
}

static int scan_number(scanner *s, mmc_json_value *out) {
    const char *start = s->at;
    if (s->at < s->end && *s->at == '-')
        s->at++;
    if (s->at >= s->end || !is_digit(*s->at))
        return fail(s, MMC_JSON_INVALID);
    if (*s->at == '0') {
        s->at++;
    } else {
        while (s->at < s->end && is_digit(*s->at))
            s->at++;
    }
    if (s->at < s->end && *s->at == '.') {
        s->at++;
        if (s->at >= s->end || !is_digit(*s->at))
            return fail(s, MMC_JSON_INVALID);
        while (s->at < s->end && is_digit(*s->at))
            s->at++;
    }
    if (s->at < s->end && (*s->at == 'e' || *s->at == 'E')) {
        s->at++;
        if (s->at < s->end && (*s->at == '+' || *s->at == '-'))
            s->at++;
        if (s->at >= s->end || !is_digit(*s->at))
            return fail(s, MMC_JSON_INVALID);
        while (s->at < s->end && is_digit(*s->at))
            s->at++;
    }
    out->type = MMC_JSON_NUMBER;
    out->start = start;
    out->length = (size_t)(s->at - start);
    return 0;
}

static int scan_literal(scanner *s, const char *word, mmc_json_value *out) {
    size_t length = strlen(word);
    if ((size_t)(s->end - s->at) < length || memcmp(s->at, word, length) != 0)
        return fail(s, MMC_JSON_INVALID);
    out->type = MMC_JSON_OTHER;
    out->start = s->at;
    out->length = length;
    s->at += length;
    return 0;
}

/* Compares a scanned (still escaped) key with a plain C string. Keys with escapes are decoded
 * into a small stack buffer; a key too long for it cannot be one of ours anyway. */
static int key_equals(const mmc_json_value *key, const char *wanted) {
    if (memchr(key->start, '\\', key->length) == NULL)
        return strlen(wanted) == key->length && memcmp(key->start, wanted, key->length) == 0;
    mmc_buffer decoded;
    mmc_buffer_init(&decoded);
    int equal = key->length <= 256 && mmc_json_string_value(key, &decoded) == 0 &&
                decoded.length == strlen(wanted) &&
                memcmp(mmc_buffer_text(&decoded), wanted, decoded.length) == 0;
    mmc_buffer_free(&decoded);
    return equal;
}

static int scan_value(scanner *s, int depth, mmc_json_value *out, mmc_json_field *fields,
                      size_t field_count);

/* Consumes an object or array. At depth 0 the members of an object are matched to `fields`. */
static int scan_container(scanner *s, int depth, mmc_json_value *out, mmc_json_field *fields,
                          size_t field_count) {
    const char *start = s->at;
    char close = *s->at == '{' ? '}' : ']';
    int is_object = close == '}';
    if (depth >= MMC_JSON_MAX_DEPTH)
        return fail(s, MMC_JSON_TOO_DEEP);
    s->at++;
    skip_space(s);
    if (s->at < s->end && *s->at == close) {
        s->at++;
    } else {
        for (;;) {
            mmc_json_value key = {MMC_JSON_ABSENT, NULL, 0}, member = {MMC_JSON_ABSENT, NULL, 0};
            if (is_object) {
                skip_space(s);
                if (s->at >= s->end || *s->at != '"' || scan_string(s, &key) != 0)
                    return fail(s, MMC_JSON_INVALID);
                skip_space(s);
                if (s->at >= s->end || *s->at != ':')
                    return fail(s, MMC_JSON_INVALID);
                s->at++;
            }
            if (scan_value(s, depth + 1, &member, NULL, 0) != 0)
                return -1;
            if (is_object && depth == 0) {
                for (size_t i = 0; i < field_count; i++)
                    if (key_equals(&key, fields[i].key))
                        fields[i].value = member;
            }
            skip_space(s);
            if (s->at < s->end && *s->at == ',') {
                s->at++;
                continue;
            }
            if (s->at < s->end && *s->at == close) {
                s->at++;
                break;
            }
            return fail(s, MMC_JSON_INVALID);
        }
    }
    out->type = MMC_JSON_OTHER;
    out->start = start;
    out->length = (size_t)(s->at - start);
    return 0;
}

static int scan_value(scanner *s, int depth, mmc_json_value *out, mmc_json_field *fields,
                      size_t field_count) {
    skip_space(s);
    if (s->at >= s->end)
        return fail(s, MMC_JSON_INVALID);
    switch (*s->at) {
    case '{':
    case '[':
        return scan_container(s, depth, out, fields, field_count);
    case '"':
        return scan_string(s, out);
    case 't':
        return scan_literal(s, "true", out);
    case 'f':
        return scan_literal(s, "false", out);
    case 'n':
        return scan_literal(s, "null", out);
    default:
        return scan_number(s, out);
    }
}

mmc_json_status mmc_json_scan(const char *text, size_t length, mmc_json_field *fields,
                              size_t field_count) {
    mmc_json_value top = {MMC_JSON_ABSENT, NULL, 0};
    for (size_t i = 0; i < field_count; i++)
        fields[i].value = top;
    if (text == NULL)
        return MMC_JSON_INVALID;

    scanner s = {text, text + length, MMC_JSON_OK};
    skip_space(&s);
    int is_object = s.at < s.end && *s.at == '{';
    if (scan_value(&s, 0, &top, fields, field_count) == 0) {
        skip_space(&s);
        if (s.at != s.end)
            fail(&s, MMC_JSON_INVALID);
    }
    if (s.status != MMC_JSON_OK || !is_object) {
        for (size_t i = 0; i < field_count; i++)
            fields[i].value.type = MMC_JSON_ABSENT;
    }
    if (s.status == MMC_JSON_OK && !is_object)
        return MMC_JSON_NOT_OBJECT;
    return s.status;
}

static unsigned int hex4(const char *p) {
    unsigned int value = 0;
    for (int i = 0; i < 4; i++) {
        char c = p[i];
        value <<= 4;
        value |= (unsigned int)(c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10);
    }
    return value;
}

static int append_utf8(mmc_buffer *out, unsigned int code) {
    char bytes[4];
    size_t length;
    if (code < 0x80) {
        bytes[0] = (char)code;
        length = 1;
    } else if (code < 0x800) {
        bytes[0] = (char)(0xc0 | (code >> 6));
        bytes[1] = (char)(0x80 | (code & 0x3f));
        length = 2;
    } else if (code < 0x10000) {
        bytes[0] = (char)(0xe0 | (code >> 12));
        bytes[1] = (char)(0x80 | ((code >> 6) & 0x3f));
        bytes[2] = (char)(0x80 | (code & 0x3f));
        length = 3;
    } else {
        bytes[0] = (char)(0xf0 | (code >> 18));
        bytes[1] = (char)(0x80 | ((code >> 12) & 0x3f));
        bytes[2] = (char)(0x80 | ((code >> 6) & 0x3f));
        bytes[3] = (char)(0x80 | (code & 0x3f));
        length = 4;
    }
    return mmc_buffer_append(out, bytes, length);
}

int mmc_json_string_value(const mmc_json_value *value, mmc_buffer *out) {
    if (value->type != MMC_JSON_STRING)
        return -1;
    const char *p = value->start, *end = value->start + value->length;
    while (p < end) {
        const char *run = p;
        while (p < end && *p != '\\')
            p++;
        if (mmc_buffer_append(out, run, (size_t)(p - run)) != 0)
            return -1;
        if (p >= end)
            break;
        /* The scanner already checked every escape, so these reads stay in bounds. */
        char e = p[1];
        int status = 0;
        if (e == 'u') {
            unsigned int code = hex4(p + 2);
            p += 6;
            if (code >= 0xd800 && code <= 0xdbff && end - p >= 6 && p[0] == '\\' && p[1] == 'u') {
                unsigned int low = hex4(p + 2);
                if (low >= 0xdc00 && low <= 0xdfff) {
                    code = 0x10000 + ((code - 0xd800) << 10) + (low - 0xdc00);
                    p += 6;
                }
            }
            if (code >= 0xd800 && code <= 0xdfff)
                code = 0xfffd;
            status = append_utf8(out, code);
        } else {
            const char *from = "\"\\/bfnrt", *to = "\"\\/\b\f\n\r\t";
            char c = to[strchr(from, e) - from];
            status = mmc_buffer_append(out, &c, 1);
            p += 2;
        }
        if (status != 0)
            return -1;
    }
    return 0;
}

int mmc_json_integer_value(const mmc_json_value *value, long long *out) {
    if (value->type != MMC_JSON_NUMBER)
        return -1;
    const char *p = value->start, *end = value->start + value->length;
    int negative = p < end && *p == '-';
    if (negative)
        p++;
    long long result = 0;
    for (; p < end && is_digit(*p); p++) {
        int digit = *p - '0';
        if (result > (LLONG_MAX - digit) / 10)
            return -1;
        result = result * 10 + digit;
    }
    if (p < end && *p == '.') {
        for (p++; p < end && is_digit(*p); p++)
            ;
    }
    if (p != end)
        return -1; /* an exponent */
    *out = negative ? -result : result;
    return 0;
}

const char *mmc_json_status_text(mmc_json_status status) {
    switch (status) {
    case MMC_JSON_OK:
        return "valid JSON";
    case MMC_JSON_NOT_OBJECT:
        return "JSON is not an object";
    case MMC_JSON_TOO_DEEP:
        return "JSON nested too deeply";
    case MMC_JSON_BAD_UTF8:
        return "invalid UTF-8 in a JSON string";
    case MMC_JSON_INVALID:
    default:
        return "malformed JSON";
    }
}
