/*
 * fuzz_request_id: reading the answer's header lines (transport.c's on_header, a static
 * libcurl header callback, reached by including transport.c): X-Request-Id, end of headers.
 *
 * Untrusted input: the response headers, one line per '\n' in the input, each handed to the
 * callback as libcurl would (with its line end). The request id ends up in error messages.
 * Checks, beyond no crash/leak/UB:
 *  - the callback always takes the whole line;
 *  - the id held is at most 64 visible ASCII bytes (no CR, LF, NUL, space), NUL-terminated;
 *  - a status line forgets it, and "X-Request-Id: <visible ASCII, 1..64 bytes>" sets it exactly;
 *  - a blank line marks the headers complete, and a status line starts them again.
 * Links: src/curl_global.c src/message.c src/json_scan.c src/json_write.c src/token.c
 *        src/crypto.c src/buffer.c src/owned_sockets.c src/redact.c src/request.c src/url.c
 *        src/sink.c src/clock.c
 *        -lcurl -lcrypto -lpthread
 */
#include "fuzz/fuzz.h"

#include "src/transport.c"

static int is_simple_id(const char *line, size_t length, const char **id, size_t *id_length) {
    static const char name[] = "X-Request-Id: ";
    size_t end = length;
    while (end > 0 && (line[end - 1] == '\n' || line[end - 1] == '\r'))
        end--;
    if (end <= sizeof name - 1 || memcmp(line, name, sizeof name - 1) != 0 ||
        end - (sizeof name - 1) > MMC_REQUEST_ID_MAX)
        return 0;
    *id = line + sizeof name - 1;
    *id_length = end - (sizeof name - 1);
    for (size_t i = 0; i < *id_length; i++)
        if ((*id)[i] < 0x21 || (*id)[i] > 0x7e)
            return 0;
    return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    mmc_transport transport;
    memset(&transport, 0, sizeof transport);
    memset(transport.request_id, 'Z', sizeof transport.request_id - 1); /* not yet terminated */
    transport.request_id[0] = '\0';
    while (size > 0) {
        const uint8_t *newline = memchr(data, '\n', size);
        size_t length = newline != NULL ? (size_t)(newline - data) + 1 : size;
        char *line = fuzz_copy(data, length); /* libcurl's buffer is not NUL-terminated: */
        line[length] = 'Q';                   /* neither is this one, in effect */
        FUZZ_CHECK(on_header(line, 1, length, &transport) == length, "a header line cut short");

        const char *id = transport.request_id;
        size_t id_length = strnlen(id, sizeof transport.request_id);
        FUZZ_CHECK(id_length <= MMC_REQUEST_ID_MAX, "an unterminated request id");
        for (size_t i = 0; i < id_length; i++)
            FUZZ_CHECK(id[i] > 0x20 && id[i] < 0x7f, "request id byte 0x%02x",
                       (unsigned char)id[i]);
        const char *expected;
        size_t expected_length;
        if (length >= 5 && memcmp(line, "HTTP/", 5) == 0)
            FUZZ_CHECK(id_length == 0 && !transport.headers_complete,
                       "a status line kept the request id, or the end of headers");
        else if ((length == 2 && memcmp(line, "\r\n", 2) == 0) || (length == 1 && line[0] == '\n'))
            FUZZ_CHECK(transport.headers_complete, "a blank line did not end the headers");
        else if (is_simple_id(line, length, &expected, &expected_length))
            FUZZ_CHECK(id_length == expected_length && memcmp(id, expected, id_length) == 0,
                       "request id '%s' from: %.*s", id, (int)length, line);
        free(line);
        data += length;
        size -= length;
    }
    return 0;
}
