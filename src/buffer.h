/*
 * buffer: a growable byte string with an optional size cap.
 *
 * Every string the core builds (URLs, request bodies, messages) and every response body it
 * receives goes through one of these, so bounds are checked in exactly one place. The data is
 * always NUL-terminated, which lets it double as a C string when it holds text.
 */
#ifndef MMC_BUFFER_H
#define MMC_BUFFER_H

#include <stddef.h>
#include <string.h>

#include "memory.h"

typedef struct mmc_buffer {
    char *data;      /* NUL-terminated; NULL until the first append */
    size_t length;   /* bytes used, not counting the terminator */
    size_t capacity; /* bytes allocated, counting the terminator */
    mmc_memory *memory; /* the account its storage is charged to (memory.h), NULL: none */
} mmc_buffer;

/* An empty buffer charging its storage to `memory` (memory.h). */
void mmc_buffer_init_in(mmc_buffer *buffer, mmc_memory *memory);
/* An empty buffer charged to no account: for the C tests and fuzzers only. */
void mmc_buffer_init(mmc_buffer *buffer);
/* Frees the storage after overwriting what was written in it (buffers may have held a token
 * or a signature). Code that shortens a buffer other than by mmc_buffer_clear wipes the bytes it
 * drops, so that nothing past `length` was ever written. */
void mmc_buffer_free(mmc_buffer *buffer);
/* Empties the buffer but keeps its storage for reuse. */
void mmc_buffer_clear(mmc_buffer *buffer);

/* Makes room for `extra` more bytes at once (a block whose size is known ahead grows once):
 * 0, or -1 when memory ran out (the buffer is unchanged). */
int mmc_buffer_reserve(mmc_buffer *buffer, size_t extra);

/* Each append returns 0 on success and -1 when memory ran out (the buffer is unchanged). */
int mmc_buffer_append_growing(mmc_buffer *buffer, const void *bytes, size_t length);
/* The common case, where the bytes fit, inline: appends are made by the dozen per call. */
static inline int mmc_buffer_append(mmc_buffer *buffer, const void *bytes, size_t length) {
    if (buffer->data == NULL || length >= buffer->capacity - buffer->length)
        return mmc_buffer_append_growing(buffer, bytes, length);
    if (length > 0) /* `bytes` may be NULL when there are none */
        memcpy(buffer->data + buffer->length, bytes, length);
    buffer->length += length;
    buffer->data[buffer->length] = '\0';
    return 0;
}
int mmc_buffer_append_string(mmc_buffer *buffer, const char *text);
int mmc_buffer_append_format(mmc_buffer *buffer, const char *format, ...)
    __attribute__((format(printf, 2, 3)));

/* The text held, or "" for a buffer never written to. */
const char *mmc_buffer_text(const mmc_buffer *buffer);

#endif
