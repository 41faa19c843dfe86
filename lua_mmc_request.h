/*
 * lua_mmc_request: what client:request's face shares with the other calls that take its
 * arguments (a meeting's control handle, lua_mmc_conference.c): the method and path checked,
 * the options (query, body, headers, retry) read into C views, the core's call made of them.
 */
#ifndef LUA_MMC_REQUEST_H
#define LUA_MMC_REQUEST_H

#include <stddef.h>

#include "lua_mmc_compat.h"
#include "src/client.h"
#include "src/request.h"

#define MMC_LUA_MAX_QUERY_PAIRS 100
#define MMC_LUA_MAX_HEADERS 50
/* The escaped bytes kept for a caller's own query pair (conferenceID=<id>, at most 64 bytes). */
#define MMC_LUA_OWN_QUERY_ROOM 64

/* What client:request's options became: C views of Lua strings that the options table (and,
 * for an encoded body, a string left on the stack) keeps alive until the core copies them,
 * which it does before anything can run Lua. */
typedef struct mmc_lua_request_options {
    mmc_query_pair pairs[MMC_LUA_MAX_QUERY_PAIRS];
    char numbers[MMC_LUA_MAX_QUERY_PAIRS][32]; /* numbers and booleans of the query, as text */
    size_t pair_count;
    size_t raw_query_length; /* of the names and values, unescaped */
    mmc_header headers[MMC_LUA_MAX_HEADERS];
    size_t header_count;
    const char *body;
    size_t body_length;
    int retry;
    int index;        /* in a batch: the request's number (from 1), named in errors; else 0 */
    int requests_arg; /* in a batch: where the array of requests is */
    /* Set by a caller that adds to the request itself (a control handle), else NULL: the query
     * name it adds (refused in options.query, with room kept for it, one pair fewer), and the
     * header names it sends (refused in options.headers, NULL-terminated). Such a caller takes
     * no raw, output, progress or form option. */
    const char *own_query;
    const char *const *own_headers;
} mmc_lua_request_options;

/* Checks the method (argument `method_arg`) and the path (the next argument), raising naming
 * them; sets the method's constant, and the path (a view of the Lua string) and its length. */
void mmc_lua_check_method_and_path(lua_State *L, int method_arg, const char **method,
                                   const char **path, size_t *path_length);

/* Reads the options at `arg` (a table, or nil) into `out` (index, requests_arg, own_query
 * and own_headers set by the caller). Raises on a mistake, naming the option. May leave
 * values on the stack (the body, and its JSON text when it was a table). Only in functions
 * whose first upvalue is the module's state (its JSON encoder). */
void mmc_lua_read_request_options(lua_State *L, int arg, mmc_lua_request_options *out);

/* What is wrong with the options as a whole once each was read (a body on a GET, a query too
 * long once escaped), or NULL. */
const char *mmc_lua_request_options_problem(const char *method,
                                            const mmc_lua_request_options *options);

/* The core's call for a checked method, path and options (the query pairs are lent). */
mmc_api_call mmc_lua_api_call_of(const char *method, const char *path, size_t path_length,
                                 mmc_lua_request_options *options);

#endif
