#include "exchange_log.h"

#include <stdlib.h>
#include <string.h>

void mmc_exchange_log_init(mmc_exchange_log *log, mmc_memory *memory) {
    log->entries = NULL;
    log->count = 0;
    log->capacity = 0;
    mmc_buffer_init_in(&log->paths, memory);
}

void mmc_exchange_log_free(mmc_exchange_log *log) {
    mmc_memory *memory = log->paths.memory;
    mmc_memory_free(memory, log->entries);
    mmc_buffer_free(&log->paths);
    mmc_exchange_log_init(log, memory);
}

void mmc_exchange_log_clear(mmc_exchange_log *log) {
    log->count = 0;
    mmc_buffer_clear(&log->paths);
}

mmc_exchange *mmc_exchange_log_add(mmc_exchange_log *log, const char *method, const char *path,
                                   size_t path_length, const char *request_id) {
    if (log->count == log->capacity) {
        size_t capacity = log->capacity ? 2 * log->capacity : 8;
        mmc_exchange *grown = mmc_memory_realloc(log->paths.memory, log->entries, capacity * sizeof *grown);
        if (grown == NULL)
            return NULL;
        log->entries = grown;
        log->capacity = capacity;
    }
    size_t offset = log->paths.length;
    if (mmc_buffer_append(&log->paths, path, path_length) != 0)
        return NULL;
    int attempt = 1;
    for (size_t i = 0; i < log->count; i++) {
        const mmc_exchange *earlier = &log->entries[i];
        if (strcmp(earlier->method, method) == 0 && earlier->path_length == path_length &&
            memcmp(log->paths.data + earlier->path_offset, path, path_length) == 0)
            attempt++;
    }
    mmc_exchange *entry = &log->entries[log->count++];
    memset(entry, 0, sizeof *entry);
    entry->method = method;
    entry->path_offset = offset;
    entry->path_length = path_length;
    entry->attempt = attempt;
    entry->retry_in = -1;
    size_t id_length = strlen(request_id);
    if (id_length > MMC_EXCHANGE_REQUEST_ID_MAX)
        id_length = MMC_EXCHANGE_REQUEST_ID_MAX;
    memcpy(entry->request_id, request_id, id_length);
    entry->request_id[id_length] = '\0';
    return entry;
}

const char *mmc_exchange_path(const mmc_exchange_log *log, const mmc_exchange *entry) {
    return log->paths.data != NULL ? log->paths.data + entry->path_offset : "";
}
