/*
 * fuzz_http_error: the message built from an HTTP error answer, then cleaned and redacted.
 *
 * Untrusted input: the error body and the X-Request-Id header come from the server; the
 * server may also echo a secret. Input layout (text, so the seeds stay readable):
 *     line 1: "<status> <secret>"   line 2: the X-Request-Id header ("" = none)   rest: body
 * Checks, beyond no crash/leak/UB:
 *  - the message is never empty, holds no control character (C0 or DEL), and is bounded;
 *  - it starts with "HTTP <status>" when the body has no string error_code;
 *  - it is valid UTF-8 whatever the body and header hold;
 *  - after mmc_message_redact with a secret of 4 bytes or more, neither the message nor the raw
 *    body contains any 8 bytes of the secret (all of it when shorter), so not even the start
 *    of one cut by the 300-byte cap; a secret with no such part there (or shorter than 4
 *    bytes) changes nothing; UTF-8 text stays UTF-8;
 *  - mmc_message_append_clean output is UTF-8 without control characters, bounded, ends in
 *    "..." when cut; valid UTF-8 is kept as it was, cut at most 3 bytes short of the limit and
 *    never inside a character.
 * Links: src/message.c src/redact.c src/json_scan.c src/json_write.c src/buffer.c -lcrypto
 * Dictionary: fuzz/json.dict
 */
#include "fuzz/fuzz.h"
#include "src/json_scan.h"
#include "src/json_write.h"
#include "src/message.h"

/* The longest message: error_code and error_msg each cut to 300 bytes plus "...", ": ", and a
 * request id of up to 300 bytes plus "..." inside " (request id " ... ")". */
#define MAX_MESSAGE (3 * (MMC_MESSAGE_MAX_SERVER_TEXT + 3) + 2 + 13 + 1)

/* 1 when `text` holds 8 bytes of `secret` (all of it when it is shorter, from 4 bytes). */
static int holds_part(const char *text, size_t length, const char *secret, size_t secret_length) {
    if (secret_length < 4)
        return 0;
    size_t part = secret_length < 8 ? secret_length : 8;
    for (size_t at = 0; at + part <= secret_length; at++)
        if (fuzz_contains(text, length, secret + at, part))
            return 1;
    return 0;
}

static void check_redaction(mmc_buffer *message, const char *secret, size_t secret_length) {
    char *before = fuzz_copy(mmc_buffer_text(message), message->length);
    size_t before_length = message->length;
    int present = holds_part(before, before_length, secret, secret_length);
    FUZZ_CHECK(mmc_message_redact(message, secret, secret_length) == 0, "redaction failed");
    FUZZ_CHECK(!holds_part(mmc_buffer_text(message), message->length, secret, secret_length),
               "a part of the secret is still in the message after redaction: %s",
               mmc_buffer_text(message));
    if (mmc_utf8_is_valid(before, before_length))
        FUZZ_CHECK(message->length == 0 || mmc_utf8_is_valid(message->data, message->length),
                   "redaction broke UTF-8");
    if (secret_length < 4 || !present)
        FUZZ_CHECK(message->length == before_length &&
                       memcmp(mmc_buffer_text(message), before, before_length) == 0,
                   "redaction changed a message without the secret");
    free(before);
}

/* Cleaning alone: at most `limit` bytes of the input, cut between characters, then "...";
 * always valid UTF-8 without control characters; valid UTF-8 in is kept as it was. */
static void check_clean(const char *text, size_t length, size_t limit) {
    mmc_buffer clean;
    mmc_buffer_init(&clean);
    FUZZ_CHECK(mmc_message_append_clean(&clean, text, length, limit) == 0, "out of memory");
    const char *out = mmc_buffer_text(&clean);
    FUZZ_CHECK(fuzz_no_controls(out, clean.length), "a control character");
    FUZZ_CHECK(mmc_utf8_is_valid(out, clean.length), "cleaned text is not UTF-8");
    int cut = length > limit;
    FUZZ_CHECK(clean.length <= 3 * (cut ? limit : length) + (cut ? 3 : 0),
               "%zu bytes (limit %zu) cleaned to %zu", length, limit, clean.length);
    if (cut)
        FUZZ_CHECK(clean.length >= 3 && memcmp(out + clean.length - 3, "...", 3) == 0,
                   "a cut without '...'");
    if (mmc_utf8_is_valid(text, length)) {
        size_t kept = cut ? clean.length - 3 : clean.length;
        FUZZ_CHECK(kept == length || (cut && kept <= limit && kept + 3 >= limit &&
                                      ((unsigned char)text[kept] & 0xc0) != 0x80),
                   "kept %zu bytes of %zu (limit %zu)", kept, length, limit);
        for (size_t i = 0; i < kept; i++)
            FUZZ_CHECK(out[i] == text[i] || (out[i] == ' ' && !fuzz_no_controls(text + i, 1)),
                       "byte %zu changed", i);
    }
    mmc_buffer_free(&clean);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *first, *header;
    size_t first_length, header_length;
    fuzz_take_line(&data, &size, &first, &first_length);
    fuzz_take_line(&data, &size, &header, &header_length);
    long status = 0;
    size_t at = 0;
    while (at < first_length && at < 3 && first[at] >= '0' && first[at] <= '9')
        status = status * 10 + (first[at++] - '0');
    if (at < first_length && first[at] == ' ')
        at++;
    const char *secret = first + at;
    size_t secret_length = first_length - at;
    char *request_id = header_length > 0 ? fuzz_copy(header, header_length) : NULL;
    const char *body = (const char *)data;

    mmc_buffer message;
    mmc_buffer_init(&message);
    FUZZ_CHECK(mmc_message_append_http_error(&message, status, body, size, request_id) == 0,
               "out of memory");
    const char *text = mmc_buffer_text(&message);
    mmc_json_field code = {"error_code", {0}};
    mmc_json_scan(body, size, &code, 1);
    /* (an empty error_code once gave an empty message: fuzz/corpus/fuzz_http_error/empty-error-code) */
    FUZZ_CHECK(message.length > 0, "an empty message");
    FUZZ_CHECK(message.length <= MAX_MESSAGE, "a message of %zu bytes", message.length);
    FUZZ_CHECK(fuzz_no_controls(text, message.length), "a control character in: %s", text);

    char http[32];
    int http_length = snprintf(http, sizeof http, "HTTP %ld", status);
    int starts_http =
        message.length >= (size_t)http_length && memcmp(text, http, (size_t)http_length) == 0;
    if (code.value.type != MMC_JSON_STRING || code.value.length == 0)
        FUZZ_CHECK(starts_http, "no error_code, yet the message is: %s", text);

    FUZZ_CHECK(message.length == 0 || mmc_utf8_is_valid(text, message.length),
               "a message that is not UTF-8: %s", text);

    check_redaction(&message, secret, secret_length);
    mmc_buffer_free(&message);

    /* The raw body too: the client redacts the body it hands back. */
    mmc_buffer raw;
    mmc_buffer_init(&raw);
    FUZZ_CHECK(mmc_buffer_append(&raw, body, size) == 0, "out of memory");
    check_redaction(&raw, secret, secret_length);
    mmc_buffer_free(&raw);

    check_clean(body, size, (size_t)status % 64);
    free(request_id);
    return 0;
}
