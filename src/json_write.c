#include "json_write.h"

int mmc_json_append_string(mmc_buffer *out, const char *text, size_t length) {
    static const char hex[] = "0123456789abcdef";
    if (mmc_buffer_append(out, "\"", 1) != 0)
        return -1;
    size_t run_start = 0; /* bytes that need no escaping are copied in runs */
    for (size_t i = 0; i < length; i++) {
        unsigned char c = (unsigned char)text[i];
        char escape[7];
        size_t escape_length = 2;
        escape[0] = '\\';
        if (c == '"' || c == '\\') {
            escape[1] = (char)c;
        } else if (c == '\n') {
            escape[1] = 'n';
        } else if (c == '\r') {
            escape[1] = 'r';
        } else if (c == '\t') {
            escape[1] = 't';
        } else if (c < 0x20 || c == 0x7f) {
            escape[1] = 'u';
            escape[2] = '0';
            escape[3] = '0';
            escape[4] = hex[c >> 4];
            escape[5] = hex[c & 0x0f];
            escape_length = 6;
        } else {
            continue;
        }
        if (mmc_buffer_append(out, text + run_start, i - run_start) != 0 ||
            mmc_buffer_append(out, escape, escape_length) != 0)
            return -1;
        run_start = i + 1;
    }
    if (mmc_buffer_append(out, text + run_start, length - run_start) != 0)
        return -1;
    return mmc_buffer_append(out, "\"", 1);
}

size_t mmc_utf8_character_length(const char *text, size_t available) {
    const unsigned char *s = (const unsigned char *)text;
    if (available == 0 || s[0] == 0)
        return 0;
    unsigned char c = s[0];
    size_t extra;
    unsigned int min, code;
    if (c < 0x80)
        return 1;
    else if ((c & 0xe0) == 0xc0)
        extra = 1, min = 0x80, code = c & 0x1f;
    else if ((c & 0xf0) == 0xe0)
        extra = 2, min = 0x800, code = c & 0x0f;
    else if ((c & 0xf8) == 0xf0)
        extra = 3, min = 0x10000, code = c & 0x07;
    else
        return 0;
    if (available <= extra)
        return 0;
    for (size_t k = 1; k <= extra; k++) {
        if ((s[k] & 0xc0) != 0x80)
            return 0;
        code = (code << 6) | (s[k] & 0x3f);
    }
    if (code < min || code > 0x10ffff || (code >= 0xd800 && code <= 0xdfff))
        return 0;
    return extra + 1;
}

int mmc_utf8_is_valid(const char *text, size_t length) {
    for (size_t i = 0; i < length;) {
        size_t character = mmc_utf8_character_length(text + i, length - i);
        if (character == 0)
            return 0;
        i += character;
    }
    return 1;
}
