/*
 * lua_mmc_download: the Lua face of client:download(entry, path [, options]) and mmc.download.
 *
 *     status, nil, bytes        the file was written whole (renamed into place)
 *     status, message, bytes    an answer arrived but the file was not written (a refused
 *                               token, an error status, a cut body, a full disk, a callback
 *                               that stopped it)
 *     nil, message, bytes       no answer arrived (DNS, connect, TLS, timeout)
 *
 * The output function and options.progress run inside libcurl's callbacks: each is called
 * through lua_pcall (via a C trampoline that makes the chunk's string inside the protected
 * call, so not even running out of memory jumps across libcurl), and an error or `false` from
 * it stops the transfer and becomes the message. The client is marked busy for the whole
 * download, so a callback that uses it again (a request, another download, close) gets a clear
 * error instead of corrupting the call in progress.
 */
#include <string.h>

#include "lua_mmc_call.h"
#include "lua_mmc_faces.h"

#include "src/buffer.h"
#include "src/crypto.h"
#include "src/download.h"
#include "src/token.h"

typedef struct lua_output {
    lua_State *L;
    int trampoline; /* stack index of the C trampoline */
    int output;     /* stack index of the output function, or 0 */
    int progress;   /* stack index of the progress function, or 0 */
    int is_chunk;   /* what the trampoline is to call */
    const char *chunk;
    size_t chunk_length;
    uint64_t done, total;
} lua_output;

/* Runs inside lua_pcall: makes the arguments and calls the user's function. */
static int trampoline(lua_State *L) {
    lua_output *out = lua_touserdata(L, 2);
    lua_pushvalue(L, 1);
    if (out->is_chunk) {
        lua_pushlstring(L, out->chunk, out->chunk_length);
        lua_call(L, 1, 1);
    } else {
        lua_pushinteger(L, (lua_Integer)out->done);
        if (out->total > 0)
            lua_pushinteger(L, (lua_Integer)out->total);
        else
            lua_pushnil(L);
        lua_call(L, 2, 1);
    }
    return 1;
}

/* Calls the function at `function` through the trampoline: 0 to go on, -1 to stop with the
 * reason in `problem`. */
static int call_user(lua_output *out, int function, const char *what, mmc_buffer *problem) {
    lua_State *L = out->L;
    lua_pushvalue(L, out->trampoline);
    lua_pushvalue(L, function);
    lua_pushlightuserdata(L, out);
    int status = lua_pcall(L, 2, 1, 0);
    int stop = 0;
    if (status != 0) {
        const char *text = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
        mmc_buffer_append_format(problem, "the %s function failed: %s", what,
                                 text != NULL ? text : "(an error that is not a string)");
        stop = 1;
    } else if (lua_type(L, -1) == LUA_TBOOLEAN && !lua_toboolean(L, -1)) {
        mmc_buffer_append_format(problem, "the %s function returned false: download stopped",
                                 what);
        stop = 1;
    }
    lua_pop(L, 1);
    return stop ? -1 : 0;
}

static int on_write(void *context, const char *data, size_t length, mmc_buffer *problem) {
    lua_output *out = context;
    out->is_chunk = 1;
    out->chunk = data;
    out->chunk_length = length;
    int outcome = call_user(out, out->output, "output", problem);
    out->chunk = NULL;
    return outcome;
}

static int on_progress(void *context, uint64_t done, uint64_t total, mmc_buffer *problem) {
    lua_output *out = context;
    out->is_chunk = 0;
    out->done = done;
    out->total = total;
    return call_user(out, out->progress, "progress", problem);
}

/* Raises "bad argument #arg to 'download' (message)". */
static int argument_error(lua_State *L, int arg, const char *message) {
    return luaL_argerror(L, arg, message);
}

/* A copy of the string field `name` of the table at `arg` (NUL-free), or raises. */
static void copy_entry_field(lua_State *L, int arg, const char *name, mmc_buffer *out) {
    lua_getfield(L, arg, name);
    size_t length = 0;
    const char *value = lua_type(L, -1) == LUA_TSTRING ? lua_tolstring(L, -1, &length) : NULL;
    if (value == NULL || length == 0 || memchr(value, '\0', length) != NULL) {
        lua_pushfstring(L, "entry.%s must be a non-empty string without NUL, got %s", name,
                        value == NULL ? luaL_typename(L, -1) : "another string");
        argument_error(L, arg, lua_tostring(L, -1));
    }
    if (mmc_buffer_append(out, value, length) != 0 || mmc_buffer_append(out, "", 0) != 0)
        luaL_error(L, "mmc: out of memory");
    lua_pop(L, 1);
}

typedef struct download_options {
    uint64_t max_size;
    int ssl_verify;
    double timeout;
    int sync;
    int progress; /* stack index, or 0 */
} download_options;

static void read_options(lua_State *L, int arg, download_options *options) {
    options->max_size = 0;
    options->ssl_verify = 1;
    options->timeout = 0;
    options->sync = 0;
    options->progress = 0;
    if (lua_isnoneornil(L, arg))
        return;
    if (!lua_istable(L, arg))
        argument_error(L, arg, lua_pushfstring(L, "options must be a table, got %s",
                                               luaL_typename(L, arg)));
    lua_pushnil(L);
    while (lua_next(L, arg) != 0) {
        const char *name = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : NULL;
        if (name == NULL || (strcmp(name, "progress") != 0 && strcmp(name, "max_size") != 0 &&
                             strcmp(name, "ssl_verify") != 0 && strcmp(name, "timeout") != 0 &&
                             strcmp(name, "sync") != 0))
            argument_error(L, arg,
                           lua_pushfstring(L, "options.%s is not an option of download "
                                              "(progress, max_size, ssl_verify, timeout, sync)",
                                           name != NULL ? name : "?"));
        lua_pop(L, 1);
    }
    lua_getfield(L, arg, "progress");
    if (!lua_isnil(L, -1) && !lua_isfunction(L, -1))
        argument_error(L, arg, lua_pushfstring(L, "options.progress must be a function, got %s",
                                               luaL_typename(L, -2)));
    if (lua_isfunction(L, -1))
        options->progress = lua_gettop(L); /* stays on the stack for the call */
    else
        lua_pop(L, 1);
    lua_getfield(L, arg, "max_size");
    if (!lua_isnil(L, -1)) {
        lua_Number n = lua_type(L, -1) == LUA_TNUMBER ? lua_tonumber(L, -1) : -1;
        if (!(n >= 1 && n <= 9007199254740992.0 && n == (lua_Number)(uint64_t)n))
            argument_error(L, arg, "options.max_size must be a whole number of bytes, 1 or more");
        options->max_size = (uint64_t)n;
    }
    lua_pop(L, 1);
    lua_getfield(L, arg, "ssl_verify");
    if (!lua_isnil(L, -1)) {
        if (lua_type(L, -1) != LUA_TBOOLEAN)
            argument_error(L, arg, "options.ssl_verify must be a boolean");
        options->ssl_verify = lua_toboolean(L, -1);
    }
    lua_pop(L, 1);
    lua_getfield(L, arg, "sync");
    if (!lua_isnil(L, -1)) {
        if (lua_type(L, -1) != LUA_TBOOLEAN)
            argument_error(L, arg, "options.sync must be a boolean");
        options->sync = lua_toboolean(L, -1);
    }
    lua_pop(L, 1);
    lua_getfield(L, arg, "timeout");
    if (!lua_isnil(L, -1)) {
        lua_Number n = lua_type(L, -1) == LUA_TNUMBER ? lua_tonumber(L, -1) : -1;
        if (!(n > 0 && n <= 86400))
            argument_error(L, arg, "options.timeout must be a number of seconds above 0, "
                                   "at most 86400");
        options->timeout = n;
    }
    lua_pop(L, 1);
}

/* The download of the entry at `entry_arg` (then the path or function, then the options) with
 * `client`, marking it busy (`*busy`) while it runs. Raises on bad arguments; returns the
 * number of results pushed (status, message, bytes). */
static int download(lua_State *L, mmc_client *client, int *busy, int entry_arg) {
    int path_arg = entry_arg + 1, options_arg = entry_arg + 2;
    if (!lua_istable(L, entry_arg))
        argument_error(L, entry_arg,
                       lua_pushfstring(L, "entry must be a table with url and token (an element "
                                          "of downloadurls' urls), got %s",
                                       luaL_typename(L, entry_arg)));
    if (lua_type(L, path_arg) != LUA_TSTRING && !lua_isfunction(L, path_arg))
        argument_error(L, path_arg,
                       lua_pushfstring(L, "path must be a file path or a function(chunk), got %s",
                                       luaL_typename(L, path_arg)));
    download_options options;
    read_options(L, options_arg, &options);
    if (options.sync && lua_isfunction(L, path_arg))
        argument_error(L, options_arg, "options.sync needs a file path (a function keeps the body)");

    mmc_memory *memory = mmc_lua_state_memory(L);
    mmc_buffer url, token, path;
    mmc_buffer_init_in(&url, memory);
    mmc_buffer_init_in(&token, memory);
    mmc_buffer_init_in(&path, memory);
    copy_entry_field(L, entry_arg, "url", &url);
    const char *url_problem = mmc_download_url_problem(url.data);
    if (url_problem != NULL) {
        lua_pushfstring(L, "entry.url %s, got '%s'", url_problem, url.data);
        mmc_buffer_free(&url);
        argument_error(L, entry_arg, lua_tostring(L, -1));
    }
    lua_getfield(L, entry_arg, "token");
    size_t token_length = 0;
    const char *token_text =
        lua_type(L, -1) == LUA_TSTRING ? lua_tolstring(L, -1, &token_length) : NULL;
    if (token_text == NULL || !mmc_token_is_well_formed(token_text, token_length)) {
        mmc_buffer_free(&url);
        argument_error(L, entry_arg,
                       "entry.token must be a string of 1 to 1024 visible ASCII characters");
    }
    if (mmc_buffer_append(&token, token_text, token_length) != 0 ||
        mmc_buffer_append(&token, "", 0) != 0) {
        mmc_buffer_free(&url);
        luaL_error(L, "mmc: out of memory");
    }
    lua_pop(L, 1);
    if (lua_type(L, path_arg) == LUA_TSTRING) {
        size_t length = 0;
        const char *text = lua_tolstring(L, path_arg, &length);
        mmc_buffer problem;
        mmc_buffer_init_in(&problem, memory);
        int bad = memchr(text, '\0', length) != NULL
                      ? (mmc_buffer_append_string(&problem, "path holds a NUL byte"), 1)
                      : mmc_download_path_problem(text, &problem) != 0;
        if (bad || mmc_buffer_append(&path, text, length) != 0 ||
            mmc_buffer_append(&path, "", 0) != 0) {
            lua_pushstring(L, problem.length > 0 ? mmc_buffer_text(&problem) : "out of memory");
            mmc_buffer_free(&problem);
            mmc_buffer_free(&url);
            mmc_wipe(token.data, token.length);
            mmc_buffer_free(&token);
            mmc_buffer_free(&path);
            argument_error(L, path_arg, lua_tostring(L, -1));
        }
        mmc_buffer_free(&problem);
    }

    if (!lua_checkstack(L, 8)) {
        mmc_buffer_free(&url);
        mmc_wipe(token.data, token.length);
        mmc_buffer_free(&token);
        mmc_buffer_free(&path);
        return luaL_error(L, "mmc: out of memory");
    }
    lua_output out;
    memset(&out, 0, sizeof out);
    out.L = L;
    lua_pushcfunction(L, trampoline);
    out.trampoline = lua_gettop(L);
    out.output = lua_isfunction(L, path_arg) ? path_arg : 0;
    out.progress = options.progress;

    mmc_download download = {
        .url = url.data,
        .token = token.data,
        .path = path.length > 0 ? path.data : NULL,
        .callbacks = {out.output ? on_write : NULL, out.progress ? on_progress : NULL, &out},
        .max_size = options.max_size,
        .ssl_verify = options.ssl_verify,
        .sync = options.sync,
        .timeout = options.timeout,
    };
    mmc_result result;
    mmc_result_init_in(&result, memory);
    uint64_t bytes = 0;
    *busy = 1;
    int outcome = mmc_client_download(client, &download, &result, &bytes);
    *busy = 0;
    mmc_buffer_free(&url);
    mmc_wipe(token.data, token.length);
    mmc_buffer_free(&token);
    mmc_buffer_free(&path);

    if (outcome == -2) { /* the path refused before anything was sent: a mistake to raise */
        lua_pushlstring(L, result.message.data, result.message.length);
        mmc_result_free(&result);
        return argument_error(L, path_arg, lua_tostring(L, -1));
    }
    if (result.status == 0)
        lua_pushnil(L);
    else
        lua_pushinteger(L, (lua_Integer)result.status);
    if (result.message.length > 0)
        lua_pushlstring(L, result.message.data, result.message.length);
    else
        lua_pushnil(L);
    lua_pushinteger(L, (lua_Integer)bytes);
    mmc_result_free(&result);
    return 3;
}

/* A download needs no credentials (it sends only the entry's token), but an open client that is
 * not in a call already. */
static int download_with(lua_State *L, client_box *box, int entry_arg) {
    if (box->client == NULL)
        return luaL_error(L, "mmc: the client is closed");
    if (box->busy)
        return luaL_error(L, "mmc: the client is in a call already (a download's output or "
                             "progress function, a token store or an on_request hook must not "
                             "use it)");
    return download(L, box->client, &box->busy, entry_arg);
}

/* client:download(entry, path [, options]) */
static int client_download(lua_State *L) {
    return download_with(L, mmc_lua_check_self(L, "download"), 2);
}

/* mmc.download(entry, path [, options]): the default client's */
static int module_download(lua_State *L) {
    lua_settop(L, 3);
    return download_with(L, lua_touserdata(L, mmc_lua_push_default_client(L)), 1);
}

const luaL_Reg mmc_lua_download_methods[] = {
    {"download", client_download},
    {NULL, NULL},
};

const luaL_Reg mmc_lua_download_functions[] = {
    {"download", module_download},
    {NULL, NULL},
};
