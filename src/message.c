#include "message.h"

#include <string.h>

#include "json_scan.h"
#include "json_write.h"
#include "redact.h"

int mmc_message_append_clean(mmc_buffer *out, const char *text, size_t length, size_t limit) {
    size_t kept = length > limit ? limit : length;
    /* A cut never splits a UTF-8 sequence: back up to the start of the character. */
    while (kept > 0 && kept < length && ((unsigned char)text[kept] & 0xC0) == 0x80)
        kept--;
    for (size_t i = 0; i < kept; i++) {
        unsigned char c = (unsigned char)text[i];
        if (c >= 0x80) {
            /* A whole UTF-8 character is kept; a byte that starts none becomes U+FFFD. */
            size_t sequence = mmc_utf8_character_length(text + i, kept - i);
            if (mmc_buffer_append(out, sequence ? text + i : "\xef\xbf\xbd",
                                  sequence ? sequence : 3) != 0)
                return -1;
            i += sequence ? sequence - 1 : 0;
            continue;
        }
        char safe = (c < 0x20 || c == 0x7f) ? (char)' ' : (char)c;
        if (mmc_buffer_append(out, &safe, 1) != 0)
            return -1;
    }
    return kept < length ? mmc_buffer_append_string(out, "...") : 0;
}

/* Appends a decoded JSON string member, cleaned. */
static int append_clean_member(mmc_buffer *out, const mmc_json_value *value) {
    mmc_buffer decoded;
    mmc_buffer_init_in(&decoded, out->memory);
    int status = mmc_json_string_value(value, &decoded) != 0 ||
                         mmc_message_append_clean(out, mmc_buffer_text(&decoded), decoded.length,
                                                  MMC_MESSAGE_MAX_SERVER_TEXT) != 0
                     ? -1
                     : 0;
    mmc_buffer_free(&decoded);
    return status;
}

int mmc_message_append_http_error(mmc_buffer *out, long status, const char *body, size_t length,
                                  const char *header_request_id) {
    enum { CODE, TEXT, REQUEST_ID };
    mmc_json_field fields[] = {{"error_code", {0}}, {"error_msg", {0}}, {"request_id", {0}}};
    mmc_json_scan(body, length, fields, 3);

    int failed = 0;
    /* An empty error_code says nothing: the status does (and a message is never empty). */
    if (fields[CODE].value.type == MMC_JSON_STRING && fields[CODE].value.length > 0) {
        failed |= append_clean_member(out, &fields[CODE].value);
        if (fields[TEXT].value.type == MMC_JSON_STRING) {
            failed |= mmc_buffer_append_string(out, ": ");
            failed |= append_clean_member(out, &fields[TEXT].value);
        }
    } else {
        failed |= mmc_buffer_append_format(out, "HTTP %ld", status);
        if (status >= 300 && status < 400)
            failed |= mmc_buffer_append_string(out, " (redirects are not followed)");
    }
    if (header_request_id != NULL && header_request_id[0] != '\0') {
        failed |= mmc_buffer_append_string(out, " (request id ");
        failed |= mmc_message_append_clean(out, header_request_id, strlen(header_request_id), 64);
        failed |= mmc_buffer_append_string(out, ")");
    } else if (fields[REQUEST_ID].value.type == MMC_JSON_STRING) {
        failed |= mmc_buffer_append_string(out, " (request id ");
        failed |= append_clean_member(out, &fields[REQUEST_ID].value);
        failed |= mmc_buffer_append_string(out, ")");
    }
    return failed ? -1 : 0;
}

int mmc_message_redact(mmc_buffer *message, const char *secret, size_t secret_length) {
    mmc_secret one = {secret, secret_length};
    return mmc_redact_text(message, &one, 1);
}
