/*
 * json_write: just enough JSON output for the request bodies mmc sends.
 *
 * Request bodies are small objects of strings and integers, so they are written directly
 * rather than through a document model. Strings are escaped per RFC 8259; text that is not
 * valid UTF-8 is refused earlier, by mmc_utf8_is_valid, so the output is always valid JSON.
 */
#ifndef MMC_JSON_WRITE_H
#define MMC_JSON_WRITE_H

#include <stddef.h>

#include "buffer.h"

/* Appends `"text"` with quotes, backslashes and control characters escaped. 0 or -1. */
int mmc_json_append_string(mmc_buffer *out, const char *text, size_t length);

/* The length in bytes (1 to 4) of the well-formed UTF-8 character that `text` starts with,
 * within `available` bytes; 0 when there is none there (a NUL, a stray or truncated
 * sequence, an overlong form, a surrogate). */
size_t mmc_utf8_character_length(const char *text, size_t available);

/* 1 when `length` bytes are well-formed UTF-8 (no overlongs, surrogates or NULs), else 0. */
int mmc_utf8_is_valid(const char *text, size_t length);

#endif
