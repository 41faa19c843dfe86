/*
 * lua_mmc_transfer: client:request's options for how one call's bodies move, beyond a JSON
 * body in and a decoded body out (src/transport.h, mmc_transfer):
 *
 *   raw = true                  the body returned as a string, undecoded, whatever its type
 *   output = path | function    a 2xx body streamed to a file (renamed into place when
 *                               complete) or to function(chunk); `body` is the byte count
 *   max_size = n                the most output may take (bytes)
 *   progress = function(done, total)   called as bytes move (output, forms)
 *   form = { name = "text", file = mmc.file(path [, content_type [, filename]]) }
 *
 * and mmc.file. Lua functions run from libcurl's callbacks through lua_pcall only (never a
 * longjmp across libcurl), while the client is marked busy; every string libcurl reads later
 * (form values, paths) is anchored on the stack for the length of the call.
 */
#ifndef LUA_MMC_TRANSFER_H
#define LUA_MMC_TRANSFER_H

#include "lua_mmc_compat.h"
#include "src/client.h"
#include "src/sink.h"
#include "src/transport.h"

#define MMC_LUA_MAX_FORM_PARTS 32

typedef struct mmc_lua_transfer {
    int wanted;          /* any of the options was given */
    int raw;
    int output_at;       /* stack index of options.output (a string or function), or 0 */
    uint64_t max_size;
    int sync;            /* options.sync: the output file is fsync'd before the rename */
    int progress_at;     /* stack index of options.progress, or 0 */
    int helper_at;       /* stack index of the C function that calls them, protected */
    mmc_form_part parts[MMC_LUA_MAX_FORM_PARTS];
    size_t part_count;
    int has_form;
    lua_State *L;
    mmc_sink sink;
    int has_sink;
    uint64_t bytes; /* written to output, once the call is over */
    int output_ok;  /* the output is complete (and, for a path, in place) */
    int arg;        /* where the options are on the stack */
    mmc_transfer transfer;
} mmc_lua_transfer;

/* 1 when `name` is one of the options above. */
int mmc_lua_transfer_is_option(const char *name);

/* Reads and checks the options above from the options table at `arg` (raising on a mistake,
 * naming the option), `method` and `has_body` for the rules between them. Leaves values on
 * the stack (the functions and anchored strings). */
void mmc_lua_transfer_read(lua_State *L, int arg, const char *method, int has_body,
                           int has_content_type, mmc_lua_transfer *transfer);

/* Opens the output (raising when its path cannot be written) and returns the core's
 * transfer, or NULL when none was asked for. */
mmc_transfer *mmc_lua_transfer_begin(lua_State *L, mmc_lua_transfer *transfer);

/* After the core call: finishes the output on a 2xx answer (a failure to finish becomes the
 * result's message), else removes what was written. Raises nothing. */
void mmc_lua_transfer_end(mmc_lua_transfer *transfer, mmc_result *result);

/* Replaces the body result (the top of `count` values just pushed from `result`) as the
 * options ask: the byte count for output, the string for raw. Returns `count`. */
int mmc_lua_transfer_results(lua_State *L, const mmc_lua_transfer *transfer,
                             const mmc_result *result, int count);

/* mmc.file(path [, content_type [, filename]]). */
int mmc_lua_file(lua_State *L);

#endif
