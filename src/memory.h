/*
 * memory: mmc's own allocations, counted.
 *
 * Every block the core and the Lua face allocate comes from here and is charged to an account,
 * an mmc_memory: how many blocks are live and how many bytes they hold. The Lua face keeps one
 * account per Lua state (a userdata anchored in the registry, lua_mmc.c), hands it to each
 * client through mmc_config.memory, and mmc._memory() reads it; a long-running host can thus
 * tell mmc's live allocations from libcurl's, OpenSSL's, Lua's and its own.
 *
 * There is no global: the account travels with what allocates (a client, a buffer, a batch).
 * An account is used by one thread at a time (that of its Lua state), so plain counters do.
 * A NULL account allocates uncounted (the C tests and the fuzzers, which have no Lua state).
 *
 * Each block carries a small header with its size, so a free knows how many bytes to take
 * off the account; a block must go back to mmc_memory_free/realloc with the account it came
 * from, never to free().
 */
#ifndef MMC_MEMORY_H
#define MMC_MEMORY_H

#include <stddef.h>

typedef struct mmc_memory {
    size_t allocations; /* live blocks */
    size_t bytes;       /* the bytes they were asked for (headers not counted) */
} mmc_memory;

void *mmc_memory_alloc(mmc_memory *memory, size_t size);
void *mmc_memory_calloc(mmc_memory *memory, size_t count, size_t size);
/* As realloc: NULL `block` allocates; on failure the block is unchanged and NULL returned. */
void *mmc_memory_realloc(mmc_memory *memory, void *block, size_t size);
void mmc_memory_free(mmc_memory *memory, void *block);
char *mmc_memory_strdup(mmc_memory *memory, const char *text);
char *mmc_memory_strndup(mmc_memory *memory, const char *text, size_t length);

#endif
