/*
 * sink: where a response body goes when it is not kept in memory. Lua-free.
 *
 * Two kinds:
 * - a file path. The body is written to a temporary file beside the target (same folder,
 *   named ".<name>.mmc-<random>", created O_EXCL | O_CLOEXEC with mode 0666 & ~umask) and
 *   renamed onto the path by mmc_sink_finish only when the body is complete and closed
 *   without error (and, with `sync` set, fsync'd first, so that the file at the path survives
 *   a power loss too: a disk write the curl command does not wait for, so off by default). After any failure (the network, a full disk: every write and the
 *   close are checked, a callback that says stop, max_size passed) mmc_sink_abandon removes the
 *   temporary file: nothing is at the path that was not there before, and no temporary file
 *   remains. A path whose folder does not exist or is not writable is refused by
 *   mmc_sink_open_path (and mmc_sink_check_path) before anything is sent.
 * - a callback `write(ctx, data, length)`: 0 to go on, anything else to stop the transfer
 *   (it may call mmc_sink_fail first to say why).
 *
 * Both count the bytes written and refuse to go past `max_size` (0: no cap).
 *
 * Life of a sink: open (path or callback) -> mmc_sink_write as bytes arrive (mmc_sink_rewind
 * before a retry starts the body again, when it can) -> mmc_sink_finish on a complete body, or
 * mmc_sink_abandon on any failure. mmc_sink_abandon is safe after mmc_sink_finish and twice:
 * always call it last, to free the sink.
 */
#ifndef MMC_SINK_H
#define MMC_SINK_H

#include <stddef.h>
#include <stdint.h>

#include "buffer.h"

typedef int (*mmc_sink_write_fn)(void *ctx, const char *data, size_t length);

typedef struct mmc_sink {
    mmc_sink_write_fn write; /* the callback kind, or NULL for a path */
    void *ctx;
    char *path;      /* the target (a copy), or NULL */
    char *temp_path; /* the temporary file beside it while it exists, or NULL */
    int fd;          /* the temporary file, or -1 */
    uint64_t max_size; /* bytes; 0: no cap */
    uint64_t bytes;    /* written so far */
    int failed;        /* a write failed or was refused: only abandon is left */
    int sync;          /* 1: a file is fsync'd before the rename (set after opening) */
    mmc_buffer problem; /* why it failed ("writing '/x/y': No space left on device", ...) */
    mmc_memory *memory; /* the account its paths and problem are charged to (memory.h) */
} mmc_sink;

/* 0 when a file can be created in the folder of `path` (it exists, is a folder, and this
 * process may write and search it) and `path` is not itself a folder; else -1 with
 * "output '<path>': <reason>" appended to `problem`, the reason from errno where there is one. */
int mmc_sink_check_path(const char *path, mmc_buffer *problem);

/* Checks `path` and creates the temporary file beside it. 0, or -1 with the problem appended
 * (nothing is created). The sink is usable (for mmc_sink_abandon) either way, and charged to
 * the account of `problem` (memory.h). */
int mmc_sink_open_path(mmc_sink *sink, const char *path, uint64_t max_size, mmc_buffer *problem);

/* A sink that hands every piece of the body to `write`, charged to `memory`. Cannot fail. */
void mmc_sink_open_callback(mmc_sink *sink, mmc_sink_write_fn write, void *ctx,
                            uint64_t max_size, mmc_memory *memory);

/* Writes `length` bytes. 0, or -1 when the write failed, the callback said stop or max_size
 * would be passed (the sink is then failed, with the reason in sink->problem). */
int mmc_sink_write(mmc_sink *sink, const char *data, size_t length);

/* Records why a callback is about to stop the transfer (the first reason is kept). */
void mmc_sink_fail(mmc_sink *sink, const char *reason);

/* Starts the body again (before a retry): a file is emptied; a callback sink can only start
 * again when nothing reached it yet. 0, or -1 when it cannot. */
int mmc_sink_rewind(mmc_sink *sink);

/* The body is complete: fsync (with `sync`), close (both checked) and rename onto the path. 0, or -1 with
 * the problem appended (the temporary file is then removed). Nothing to do for a callback. */
int mmc_sink_finish(mmc_sink *sink, mmc_buffer *problem);

/* Removes the temporary file if it is still there, closes, frees. Safe twice. */
void mmc_sink_abandon(mmc_sink *sink);

#endif
