/*
 * message: the error strings mmc returns, built from what a server sent.
 *
 * A message is read by people and written to logs, so server text is cleaned before it is
 * used (control characters become spaces, length is capped) and the client's secrets are
 * redacted from it (after the cap), whatever the server echoed. Format, for an answer that is not 2xx:
 *     "<error_code>: <error_msg> (request id <id>)"   from a documented error body
 *     "HTTP <status> (request id <id>)"               otherwise
 * with the request id from the X-Request-Id header, else from the body, else left out.
 */
#ifndef MMC_MESSAGE_H
#define MMC_MESSAGE_H

#include <stddef.h>

#include "buffer.h"

#define MMC_MESSAGE_MAX_SERVER_TEXT 300

/* Appends the message for an HTTP error answer. 0 or -1. */
int mmc_message_append_http_error(mmc_buffer *out, long status, const char *body, size_t length,
                                  const char *header_request_id);

/* Appends at most `limit` bytes of `text` (of the input), control characters replaced by
 * spaces, bytes that are not UTF-8 by U+FFFD, and an ellipsis where it was cut (never inside
 * a character). The result is always valid UTF-8. 0 or -1. */
int mmc_message_append_clean(mmc_buffer *out, const char *text, size_t length, size_t limit);

/* Replaces every part of `secret` in `message` by "***": every run of MMC_REDACT_FRAGMENT (8)
 * bytes of it, so that a secret cut short by the length cap goes too (redact.h). Secrets
 * shorter than four bytes are left alone (they would match ordinary words). 0 or -1 (then
 * the message is emptied). */
int mmc_message_redact(mmc_buffer *message, const char *secret, size_t secret_length);

#endif
