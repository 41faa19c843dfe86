#include "buffer.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

void mmc_buffer_init_in(mmc_buffer *buffer, mmc_memory *memory) {
    buffer->data = NULL;
    buffer->length = 0;
    buffer->capacity = 0;
    buffer->memory = memory;
}

void mmc_buffer_init(mmc_buffer *buffer) {
    mmc_buffer_init_in(buffer, NULL);
}

/* Only the bytes written are wiped: past `length` (and its terminator) nothing was ever
 * written, as every append writes at `length` and code that shortens a buffer (clear, and the
 * engine's rollbacks) wipes what it drops. A block reserved large is not wiped whole. */
void mmc_buffer_free(mmc_buffer *buffer) {
    if (buffer->data != NULL) {
        OPENSSL_cleanse(buffer->data, buffer->length + 1);
        mmc_memory_free(buffer->memory, buffer->data);
    }
    mmc_buffer_init_in(buffer, buffer->memory);
}

void mmc_buffer_clear(mmc_buffer *buffer) {
    if (buffer->data != NULL) {
        OPENSSL_cleanse(buffer->data, buffer->length);
        buffer->data[0] = '\0';
    }
    buffer->length = 0;
}

/* Makes room for `extra` more bytes plus the terminator, growing geometrically. The old
 * storage is wiped before it is released, for the same reason as in mmc_buffer_free. */
int mmc_buffer_reserve(mmc_buffer *buffer, size_t extra) {
    if (extra > (size_t)-1 / 2 - buffer->length)
        return -1;
    size_t needed = buffer->length + extra + 1;
    if (needed <= buffer->capacity)
        return 0;
    size_t capacity = buffer->capacity ? buffer->capacity : 64;
    while (capacity < needed)
        capacity *= 2;
    char *data = mmc_memory_alloc(buffer->memory, capacity);
    if (data == NULL)
        return -1;
    if (buffer->data != NULL) {
        memcpy(data, buffer->data, buffer->length + 1);
        OPENSSL_cleanse(buffer->data, buffer->length + 1);
        mmc_memory_free(buffer->memory, buffer->data);
    } else {
        data[0] = '\0';
    }
    buffer->data = data;
    buffer->capacity = capacity;
    return 0;
}

/* Once there is room, the inline append (buffer.h) does the rest. */
int mmc_buffer_append_growing(mmc_buffer *buffer, const void *bytes, size_t length) {
    if (mmc_buffer_reserve(buffer, length) != 0)
        return -1;
    return mmc_buffer_append(buffer, bytes, length);
}

int mmc_buffer_append_string(mmc_buffer *buffer, const char *text) {
    return mmc_buffer_append(buffer, text, strlen(text));
}

int mmc_buffer_append_format(mmc_buffer *buffer, const char *format, ...) {
    va_list args;
    va_start(args, format);
    int needed = vsnprintf(NULL, 0, format, args);
    va_end(args);
    if (needed < 0 || mmc_buffer_reserve(buffer, (size_t)needed) != 0)
        return -1;
    va_start(args, format);
    vsnprintf(buffer->data + buffer->length, (size_t)needed + 1, format, args);
    va_end(args);
    buffer->length += (size_t)needed;
    return 0;
}

const char *mmc_buffer_text(const mmc_buffer *buffer) {
    return buffer->data != NULL ? buffer->data : "";
}
