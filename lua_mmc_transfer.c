/* lua_mmc_transfer: raw, output, max_size, sync, progress, form and mmc.file (lua_mmc_transfer.h). */
#include "lua_mmc_transfer.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lua_mmc_faces.h"

#define FILE_METATABLE "mmc.file"
#define MAX_CALLBACK_ERROR 300 /* bytes of what a callback raised, kept in the message */

static const char *const option_names[] = {"raw",      "output", "max_size",
                                            "progress", "form",   "sync",     NULL};

int mmc_lua_transfer_is_option(const char *name) {
    for (int i = 0; option_names[i] != NULL; i++)
        if (strcmp(name, option_names[i]) == 0)
            return 1;
    return 0;
}

/* ---- mmc.file ------------------------------------------------------------------------- */

/* 1 when `text` (length bytes) has no NUL, CR, LF or double quote: safe in a part's headers. */
static int is_header_safe(const char *text, size_t length) {
    for (size_t i = 0; i < length; i++)
        if (text[i] == '\0' || text[i] == '\r' || text[i] == '\n' || text[i] == '"')
            return 0;
    return 1;
}

/* An optional string argument of mmc.file: nil, or a non-empty string safe in a header. */
static void check_file_text(lua_State *L, int arg, const char *name) {
    if (lua_isnoneornil(L, arg))
        return;
    size_t length = 0;
    if (lua_type(L, arg) != LUA_TSTRING)
        luaL_argerror(L, arg,
                      lua_pushfstring(L, "%s must be a string, got %s", name,
                                      luaL_typename(L, arg)));
    const char *text = lua_tolstring(L, arg, &length);
    if (length == 0 || length > 255 || !is_header_safe(text, length))
        luaL_argerror(L, arg,
                      lua_pushfstring(L,
                                      "%s must be 1 to 255 bytes without quotes, line breaks "
                                      "or NUL",
                                      name));
}

/* mmc.file(path [, content_type [, filename]]): a file part for options.form, read from disk
 * as it is sent. A table { path =, content_type =, filename = } with the mmc.file metatable;
 * the file is checked when a request uses it. */
int mmc_lua_file(lua_State *L) {
    size_t length = 0;
    if (lua_type(L, 1) != LUA_TSTRING)
        luaL_argerror(L, 1,
                      lua_pushfstring(L, "path must be a string, got %s", luaL_typename(L, 1)));
    const char *path = lua_tolstring(L, 1, &length);
    if (length == 0 || strlen(path) != length)
        luaL_argerror(L, 1, "path must be a file path: not empty, no NUL");
    check_file_text(L, 2, "content_type");
    check_file_text(L, 3, "filename");
    lua_createtable(L, 0, 3);
    lua_pushvalue(L, 1);
    lua_setfield(L, -2, "path");
    if (!lua_isnoneornil(L, 2)) {
        lua_pushvalue(L, 2);
        lua_setfield(L, -2, "content_type");
    }
    if (!lua_isnoneornil(L, 3)) {
        lua_pushvalue(L, 3);
        lua_setfield(L, -2, "filename");
    }
    luaL_newmetatable(L, FILE_METATABLE);
    lua_setmetatable(L, -2);
    return 1;
}

/* 1 when the value at `index` was made by mmc.file. */
static int is_file(lua_State *L, int index) {
    if (!lua_istable(L, index) || !lua_getmetatable(L, index))
        return 0;
    luaL_getmetatable(L, FILE_METATABLE);
    int same = lua_rawequal(L, -1, -2);
    lua_pop(L, 2);
    return same;
}

/* ---- reading the options ---------------------------------------------------------------- */

/* The string field `name` of the table at `table`, anchored in the table at `anchor` (so it
 * lives as long as the call whatever Lua code changes meanwhile), or NULL. */
static const char *anchored_field(lua_State *L, int table, const char *name, int anchor,
                                  size_t *length) {
    lua_getfield(L, table, name);
    if (lua_type(L, -1) != LUA_TSTRING) {
        lua_pop(L, 1);
        return NULL;
    }
    const char *text = lua_tolstring(L, -1, length);
    lua_rawseti(L, anchor, (int)mmc_compat_rawlen(L, anchor) + 1);
    return text;
}

/* Checks the file of a part: it opens for reading and is a regular file. Raises naming the
 * path and the reason. */
static void check_form_file(lua_State *L, int arg, const char *name, const char *path) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    const char *reason = NULL;
    struct stat info;
    if (fd < 0)
        reason = strerror(errno);
    else if (fstat(fd, &info) != 0)
        reason = strerror(errno);
    else if (!S_ISREG(info.st_mode))
        reason = "not a regular file";
    if (fd >= 0)
        close(fd);
    if (reason != NULL)
        luaL_argerror(L, arg,
                      lua_pushfstring(L, "options.form.%s: cannot read '%s': %s", name, path,
                                      reason));
}

static int compare_parts(const void *a, const void *b) {
    return strcmp(((const mmc_form_part *)a)->name, ((const mmc_form_part *)b)->name);
}

/* options.form: { name = "text" | mmc.file(...) }, sent in the order of the names. */
static void read_form(lua_State *L, int arg, int form, mmc_lua_transfer *out) {
    if (lua_type(L, form) != LUA_TTABLE)
        luaL_argerror(L, arg,
                      lua_pushfstring(L, "options.form must be a table, got %s",
                                      luaL_typename(L, form)));
    lua_newtable(L); /* the anchor: every string the parts point into */
    int anchor = lua_gettop(L);
    lua_pushnil(L);
    while (lua_next(L, form) != 0) {
        size_t name_length = 0;
        if (lua_type(L, -2) != LUA_TSTRING)
            luaL_argerror(L, arg, "options.form's names must be strings");
        const char *name = lua_tolstring(L, -2, &name_length);
        if (name_length == 0 || name_length > 255 || !is_header_safe(name, name_length))
            luaL_argerror(L, arg,
                          lua_pushfstring(L,
                                          "options.form: the name '%s' must be 1 to 255 bytes "
                                          "without quotes, line breaks or NUL",
                                          name));
        if (out->part_count == MMC_LUA_MAX_FORM_PARTS)
            luaL_argerror(L, arg, "options.form has more than 32 fields");
        mmc_form_part *part = &out->parts[out->part_count++];
        memset(part, 0, sizeof *part);
        lua_pushvalue(L, -2);
        lua_rawseti(L, anchor, (int)mmc_compat_rawlen(L, anchor) + 1);
        part->name = name;
        int value = lua_gettop(L);
        if (lua_type(L, value) == LUA_TSTRING) {
            part->value = lua_tolstring(L, value, &part->value_length);
            lua_pushvalue(L, value);
            lua_rawseti(L, anchor, (int)mmc_compat_rawlen(L, anchor) + 1);
        } else if (is_file(L, value)) {
            size_t length = 0;
            part->file_path = anchored_field(L, value, "path", anchor, &length);
            part->content_type = anchored_field(L, value, "content_type", anchor, &length);
            part->filename = anchored_field(L, value, "filename", anchor, &length);
            if (part->file_path == NULL)
                luaL_argerror(L, arg,
                              lua_pushfstring(L, "options.form.%s: the file has no path", name));
            check_form_file(L, arg, name, part->file_path);
        } else {
            luaL_argerror(L, arg,
                          lua_pushfstring(L,
                                          "options.form.%s must be a string or mmc.file(path), "
                                          "got %s",
                                          name, luaL_typename(L, value)));
        }
        lua_pop(L, 1);
    }
    qsort(out->parts, out->part_count, sizeof out->parts[0], compare_parts);
    out->has_form = 1;
}

void mmc_lua_transfer_read(lua_State *L, int arg, const char *method, int has_body,
                           int has_content_type, mmc_lua_transfer *out) {
    memset(out, 0, sizeof *out);
    out->L = L;
    out->arg = arg;
    if (lua_type(L, arg) != LUA_TTABLE)
        return;
    lua_getfield(L, arg, "raw");
    if (!lua_isnil(L, -1)) {
        if (lua_type(L, -1) != LUA_TBOOLEAN)
            luaL_argerror(L, arg,
                          lua_pushfstring(L, "options.raw must be a boolean, got %s",
                                          luaL_typename(L, -1)));
        out->raw = lua_toboolean(L, -1);
        out->wanted = 1;
    }
    lua_pop(L, 1);
    lua_getfield(L, arg, "output");
    if (lua_isnil(L, -1)) {
        lua_pop(L, 1);
    } else if (lua_type(L, -1) == LUA_TSTRING || lua_type(L, -1) == LUA_TFUNCTION) {
        size_t length = 0;
        if (lua_type(L, -1) == LUA_TSTRING) {
            const char *path = lua_tolstring(L, -1, &length);
            if (length == 0 || strlen(path) != length)
                luaL_argerror(L, arg, "options.output must be a file path: not empty, no NUL");
        }
        out->output_at = lua_gettop(L);
        out->wanted = 1;
        if (out->raw)
            luaL_argerror(L, arg,
                          "options.raw and options.output cannot go together (output is "
                          "always the body as it came)");
    } else {
        luaL_argerror(L, arg,
                      lua_pushfstring(L,
                                      "options.output must be a file path (a string) or a "
                                      "function(chunk), got %s",
                                      luaL_typename(L, -1)));
    }
    lua_getfield(L, arg, "max_size");
    if (!lua_isnil(L, -1)) {
        int is_integer = 0;
        lua_Integer size =
            lua_type(L, -1) == LUA_TNUMBER ? mmc_compat_tointegerx(L, -1, &is_integer) : 0;
        if (!is_integer || size < 1)
            luaL_argerror(L, arg, "options.max_size must be a whole number of bytes, at least 1");
        if (out->output_at == 0)
            luaL_argerror(L, arg,
                          "options.max_size needs options.output (the body in memory is capped "
                          "by the client's max_body)");
        out->max_size = (uint64_t)size;
    }
    lua_pop(L, 1);
    lua_getfield(L, arg, "sync");
    if (!lua_isnil(L, -1)) {
        if (lua_type(L, -1) != LUA_TBOOLEAN)
            luaL_argerror(L, arg,
                          lua_pushfstring(L, "options.sync must be a boolean, got %s",
                                          luaL_typename(L, -1)));
        if (lua_toboolean(L, -1) &&
            (out->output_at == 0 || lua_type(L, out->output_at) != LUA_TSTRING))
            luaL_argerror(L, arg, "options.sync needs options.output to be a file path");
        out->sync = lua_toboolean(L, -1);
    }
    lua_pop(L, 1);
    lua_getfield(L, arg, "progress");
    if (lua_isnil(L, -1)) {
        lua_pop(L, 1);
    } else if (lua_type(L, -1) == LUA_TFUNCTION) {
        out->progress_at = lua_gettop(L);
        out->wanted = 1;
    } else {
        luaL_argerror(L, arg,
                      lua_pushfstring(L, "options.progress must be a function(done, total), got %s",
                                      luaL_typename(L, -1)));
    }
    lua_getfield(L, arg, "form");
    if (lua_isnil(L, -1)) {
        lua_pop(L, 1);
        return;
    }
    out->wanted = 1;
    if (has_body)
        luaL_argerror(L, arg, "options.form and options.body cannot go together: send one");
    if (strcmp(method, "POST") != 0 && strcmp(method, "PUT") != 0)
        luaL_argerror(L, arg, "options.form needs the POST or PUT method");
    if (has_content_type)
        luaL_argerror(L, arg,
                      "options.form sets its own Content-Type (multipart/form-data with its "
                      "boundary): leave it out of options.headers");
    read_form(L, arg, lua_gettop(L), out);
}

/* ---- the callbacks ---------------------------------------------------------------------- */

/* Pushes a byte count: an integer where Lua has them. */
static void push_count(lua_State *L, uint64_t count) {
#if LUA_VERSION_NUM >= 503
    if (count <= (uint64_t)LUA_MAXINTEGER) {
        lua_pushinteger(L, (lua_Integer)count);
        return;
    }
#endif
    lua_pushnumber(L, (lua_Number)count);
}

/* What a callback hands to the protected helper. */
typedef struct callback_call {
    int function_at;
    const char *data; /* a chunk for output, or NULL for progress */
    size_t length;
    uint64_t done, total;
} callback_call;

/* Runs protected (lua_pcall), so that whatever it raises (running out of memory making the
 * chunk's string included) is caught: calls the function with a chunk, or with done and
 * total (nil when unknown). Returns its first result. */
static int call_function(lua_State *L) {
    callback_call *call = lua_touserdata(L, 1);
    lua_pushvalue(L, 2); /* the function */
    if (call->data != NULL) {
        lua_pushlstring(L, call->data, call->length);
        lua_call(L, 1, 1);
        return 1;
    }
    push_count(L, call->done);
    if (call->total > 0)
        push_count(L, call->total);
    else
        lua_pushnil(L);
    lua_call(L, 2, 1);
    return 1;
}

/* Calls a user function through the helper. 0 to go on; -1 when it returned false or raised,
 * with "stopped: options.<name> ..." appended to `why`. */
static int run_callback(mmc_lua_transfer *transfer, callback_call *call, const char *name,
                        mmc_buffer *why) {
    lua_State *L = transfer->L;
    if (!lua_checkstack(L, 6)) {
        mmc_buffer_append_format(why, "stopped: no Lua stack left to call options.%s", name);
        return -1;
    }
    lua_pushvalue(L, transfer->helper_at);
    lua_pushlightuserdata(L, call);
    lua_pushvalue(L, call->function_at);
    if (lua_pcall(L, 2, 1, 0) != LUA_OK) {
        size_t length = 0;
        const char *error = lua_type(L, -1) == LUA_TSTRING ? lua_tolstring(L, -1, &length)
                                                           : "(an error that is not a string)";
        if (length == 0)
            length = strlen(error);
        mmc_buffer_append_format(why, "stopped: options.%s raised: %.*s", name,
                                 (int)(length < MAX_CALLBACK_ERROR ? length : MAX_CALLBACK_ERROR),
                                 error);
        lua_pop(L, 1);
        return -1;
    }
    int stop = lua_type(L, -1) == LUA_TBOOLEAN && !lua_toboolean(L, -1);
    lua_pop(L, 1);
    if (stop) {
        mmc_buffer_append_format(why, "stopped: options.%s returned false", name);
        return -1;
    }
    return 0;
}

static int output_write(void *ctx, const char *data, size_t length) {
    mmc_lua_transfer *transfer = ctx;
    callback_call call = {.function_at = transfer->output_at, .data = data, .length = length};
    mmc_buffer why;
    mmc_buffer_init_in(&why, transfer->transfer.stopped.memory);
    int outcome = run_callback(transfer, &call, "output", &why);
    if (outcome != 0)
        mmc_sink_fail(&transfer->sink, mmc_buffer_text(&why));
    mmc_buffer_free(&why);
    return outcome;
}

static int progress(void *ctx, uint64_t done, uint64_t total, int final, mmc_buffer *why) {
    mmc_lua_transfer *transfer = ctx;
    (void)final;
    callback_call call = {.function_at = transfer->progress_at, .done = done, .total = total};
    return run_callback(transfer, &call, "progress", why);
}

/* ---- the call --------------------------------------------------------------------------- */

mmc_transfer *mmc_lua_transfer_begin(lua_State *L, mmc_lua_transfer *transfer) {
    if (!transfer->wanted)
        return NULL;
    mmc_transfer *core = &transfer->transfer;
    memset(core, 0, sizeof *core);
    mmc_memory *memory = mmc_lua_state_memory(L);
    mmc_buffer_init_in(&core->stopped, memory);
    core->raw = transfer->raw;
    if (transfer->output_at != 0 || transfer->progress_at != 0) {
        lua_pushcfunction(L, call_function);
        transfer->helper_at = lua_gettop(L);
    }
    if (transfer->progress_at != 0) {
        core->progress = progress;
        core->progress_ctx = transfer;
    }
    if (transfer->has_form) {
        core->form = transfer->parts;
        core->form_count = transfer->part_count;
    }
    if (transfer->output_at != 0 && lua_type(L, transfer->output_at) == LUA_TFUNCTION) {
        mmc_sink_open_callback(&transfer->sink, output_write, transfer, transfer->max_size,
                               memory);
        transfer->has_sink = 1;
    } else if (transfer->output_at != 0) {
        mmc_buffer problem;
        mmc_buffer_init_in(&problem, memory);
        if (mmc_sink_open_path(&transfer->sink, lua_tostring(L, transfer->output_at),
                               transfer->max_size, &problem) != 0) {
            mmc_sink_abandon(&transfer->sink);
            lua_pushlstring(L, problem.data != NULL ? problem.data : "", problem.length);
            mmc_buffer_free(&problem);
            mmc_buffer_free(&core->stopped);
            luaL_argerror(L, transfer->arg, lua_tostring(L, -1));
        }
        mmc_buffer_free(&problem);
        transfer->sink.sync = transfer->sync;
        transfer->has_sink = 1;
    }
    if (transfer->has_sink)
        core->sink = &transfer->sink;
    return core;
}

void mmc_lua_transfer_end(mmc_lua_transfer *transfer, mmc_result *result) {
    if (!transfer->wanted)
        return;
    if (transfer->has_sink) {
        transfer->bytes = transfer->sink.bytes;
        if (result->status >= 200 && result->status < 300 && result->message.length == 0)
            transfer->output_ok = mmc_sink_finish(&transfer->sink, &result->message) == 0;
        mmc_sink_abandon(&transfer->sink);
        transfer->has_sink = 0;
    }
    if (transfer->raw)
        result->body_is_json = 0; /* not decoded: returned as it came */
    mmc_buffer_free(&transfer->transfer.stopped);
}

int mmc_lua_transfer_results(lua_State *L, const mmc_lua_transfer *transfer,
                             const mmc_result *result, int count) {
    if (count != 3 || !transfer->wanted)
        return count;
    if (transfer->output_ok) {
        lua_pop(L, 1);
        push_count(L, transfer->bytes);
    } else if (transfer->raw) {
        lua_pop(L, 1);
        lua_pushlstring(L, result->body != NULL ? result->body : "", result->body_length);
    }
    return count;
}
