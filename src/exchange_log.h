/*
 * exchange_log: what each HTTP exchange of one call looked like, for a caller's hook.
 *
 * A client that is asked to (mmc_client_record_exchanges) notes every exchange it makes during
 * a call, authentication and retries included: method, API path (never the query), status or
 * the kind of failure, duration, attempt number, the X-Request-ID it sent and, when a retry
 * follows, the wait before it. Nothing recorded is secret: no token, key, signature, header
 * or query value. The log is reset when a call starts and read after it returns, so the Lua
 * face can call a hook with it without running Lua in the middle of a call.
 */
#ifndef MMC_EXCHANGE_LOG_H
#define MMC_EXCHANGE_LOG_H

#include <stddef.h>

#include "buffer.h"

#define MMC_EXCHANGE_REQUEST_ID_MAX 64

typedef struct mmc_exchange {
    const char *method; /* a string constant: "GET", "POST", ... */
    size_t path_offset; /* in the log's path text */
    size_t path_length;
    long status;       /* 0: no answer */
    const char *error; /* the failure kind ("timed out", ...) when status is 0, else NULL */
    double seconds;    /* the exchange's duration */
    int attempt;       /* 1 for the first try of this request in the call */
    double retry_in;   /* seconds before the retry that follows, or -1: none */
    char request_id[MMC_EXCHANGE_REQUEST_ID_MAX + 1]; /* the X-Request-ID sent */
} mmc_exchange;

typedef struct mmc_exchange_log {
    mmc_exchange *entries;
    size_t count;
    size_t capacity;
    mmc_buffer paths; /* the paths, one after the other */
} mmc_exchange_log;

/* Its storage is charged to `memory` (memory.h; paths.memory holds it). */
void mmc_exchange_log_init(mmc_exchange_log *log, mmc_memory *memory);
void mmc_exchange_log_free(mmc_exchange_log *log);
/* Forgets every entry, keeping the storage. */
void mmc_exchange_log_clear(mmc_exchange_log *log);

/* Adds an entry (copying the path and request id); its attempt number is 1 plus the number
 * of earlier entries with the same method and path. Returns it, or NULL when out of memory
 * (the exchange then goes unrecorded). */
mmc_exchange *mmc_exchange_log_add(mmc_exchange_log *log, const char *method, const char *path,
                                   size_t path_length, const char *request_id);

/* The path of an entry, and its length. */
const char *mmc_exchange_path(const mmc_exchange_log *log, const mmc_exchange *entry);

#endif
