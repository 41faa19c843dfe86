/* memory: mmc's own allocations, counted (memory.h). */
#include "memory.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* The header before each block: its size, padded so the block stays suitably aligned. */
typedef union block_header {
    size_t size;
    max_align_t align;
} block_header;

static void *counted(mmc_memory *memory, block_header *header, size_t size) {
    header->size = size;
    if (memory != NULL) {
        memory->allocations++;
        memory->bytes += size;
    }
    return header + 1;
}

void *mmc_memory_alloc(mmc_memory *memory, size_t size) {
    if (size > SIZE_MAX - sizeof(block_header))
        return NULL;
    block_header *header = malloc(sizeof *header + size);
    return header != NULL ? counted(memory, header, size) : NULL;
}

void *mmc_memory_calloc(mmc_memory *memory, size_t count, size_t size) {
    if (size != 0 && count > (SIZE_MAX - sizeof(block_header)) / size)
        return NULL;
    block_header *header = calloc(1, sizeof *header + count * size);
    return header != NULL ? counted(memory, header, count * size) : NULL;
}

void *mmc_memory_realloc(mmc_memory *memory, void *block, size_t size) {
    if (block == NULL)
        return mmc_memory_alloc(memory, size);
    if (size > SIZE_MAX - sizeof(block_header))
        return NULL;
    block_header *old = (block_header *)block - 1;
    size_t old_size = old->size;
    block_header *header = realloc(old, sizeof *header + size);
    if (header == NULL)
        return NULL;
    header->size = size;
    if (memory != NULL)
        memory->bytes = memory->bytes - old_size + size;
    return header + 1;
}

void mmc_memory_free(mmc_memory *memory, void *block) {
    if (block == NULL)
        return;
    block_header *header = (block_header *)block - 1;
    if (memory != NULL) {
        memory->allocations--;
        memory->bytes -= header->size;
    }
    free(header);
}

char *mmc_memory_strndup(mmc_memory *memory, const char *text, size_t length) {
    size_t used = strnlen(text, length);
    char *copy = mmc_memory_alloc(memory, used + 1);
    if (copy != NULL) {
        memcpy(copy, text, used);
        copy[used] = '\0';
    }
    return copy;
}

char *mmc_memory_strdup(mmc_memory *memory, const char *text) {
    return mmc_memory_strndup(memory, text, strlen(text));
}
