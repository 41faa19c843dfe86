/*
 * fuzz.h: the few helpers the libFuzzer targets share.
 *
 * FUZZ_CHECK aborts with a message when an invariant fails, so libFuzzer records the input
 * as a crash (with ASan's stack) exactly as it does for a memory error.
 */
#ifndef MMC_FUZZ_H
#define MMC_FUZZ_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* memmem */
#endif
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FUZZ_CHECK(condition, ...)                                                                 \
    do {                                                                                           \
        if (!(condition)) {                                                                        \
            fprintf(stderr, "\nINVARIANT FAILED at %s:%d: %s\n  ", __FILE__, __LINE__,             \
                    #condition);                                                                   \
            fprintf(stderr, __VA_ARGS__);                                                          \
            fprintf(stderr, "\n");                                                                 \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

/* Takes the bytes up to the first '\n' (or all of them) off the front of the input. */
static inline void fuzz_take_line(const uint8_t **data, size_t *size, const char **line,
                                  size_t *line_length) {
    const uint8_t *newline = memchr(*data, '\n', *size);
    size_t length = newline != NULL ? (size_t)(newline - *data) : *size;
    *line = (const char *)*data;
    *line_length = length;
    *data += newline != NULL ? length + 1 : length;
    *size -= newline != NULL ? length + 1 : length;
}

/* A NUL-terminated heap copy, so that ASan sees any read past the end. */
static inline char *fuzz_copy(const void *bytes, size_t length) {
    char *copy = malloc(length + 1);
    if (copy == NULL)
        abort();
    memcpy(copy, bytes, length);
    copy[length] = '\0';
    return copy;
}

static inline int fuzz_contains(const void *text, size_t length, const void *part,
                                size_t part_length) {
    return part_length > 0 && memmem(text, length, part, part_length) != NULL;
}

/* 1 when no byte is a control character (C0 or DEL). */
static inline int fuzz_no_controls(const char *text, size_t length) {
    for (size_t i = 0; i < length; i++)
        if ((unsigned char)text[i] < 0x20 || (unsigned char)text[i] == 0x7f)
            return 0;
    return 1;
}

/* FNV-1a, to derive choices (a position, a byte) from the input deterministically. */
static inline uint32_t fuzz_hash(const uint8_t *data, size_t size) {
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < size; i++)
        h = (h ^ data[i]) * 16777619u;
    return h;
}

#endif
