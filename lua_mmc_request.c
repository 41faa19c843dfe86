/* lua_mmc_request: client:request and client:request_all (and mmc.request, mmc.request_all):
 * any API call with the client's token, checked here before anything is sent, and many of
 * them at once on the engine (src/engine.h). */
#include <stdio.h>
#include <string.h>

#include "lua_mmc_call.h"
#include "lua_mmc_faces.h"
#include "lua_mmc_request.h"
#include "lua_mmc_transfer.h"
#include "src/engine.h"
#include "src/request.h"

#define BATCH_METATABLE "mmc.batch"

/* ---- the generic call ----------------------------------------------------------------- */


/* What is wrong with a request's options as a whole once each was read: a body on a GET, or a
 * query too long once escaped (counted exactly only when the quick bound says it may be). The
 * same rule for client:request and each request of request_all. */
const char *mmc_lua_request_options_problem(const char *method, const mmc_lua_request_options *options) {
    const char *problem = mmc_request_body_problem(method, options->body != NULL);
    /* a caller that adds a pair of its own (a control handle's conferenceID) keeps room for it */
    size_t most = MMC_MAX_QUERY_LENGTH - (options->own_query != NULL ? MMC_LUA_OWN_QUERY_ROOM : 0);
    if (problem == NULL && options->raw_query_length * 3 + 2 * options->pair_count > most &&
        mmc_request_query_length(options->pairs, options->pair_count) > most)
        problem = options->own_query != NULL
                      ? "options.query is longer than 8128 bytes escaped"
                      : "options.query is longer than 8192 bytes escaped";
    return problem;
}

/* The core's call for a checked method, path and options (the core sorts the query pairs in
 * place, so they are lent, not copied). */
mmc_api_call mmc_lua_api_call_of(const char *method, const char *path, size_t path_length,
                                 mmc_lua_request_options *options) {
    mmc_api_call api_call = {.method = method,
                             .path = path,
                             .path_length = path_length,
                             .query_pairs = options->pairs,
                             .query_pair_count = options->pair_count,
                             .body = options->body,
                             .body_length = options->body_length,
                             .headers = options->headers,
                             .header_count = options->header_count,
                             .retry = options->retry};
    return api_call;
}

/* Raises a mistake in the options at `arg`; in a batch, naming the request: "requests[7].
 * options.query must be ...". */
static int option_error(lua_State *L, int arg, const mmc_lua_request_options *out, const char *message) {
    if (out->index == 0)
        return luaL_argerror(L, arg, message);
    return luaL_argerror(L, out->requests_arg,
                         lua_pushfstring(L, "requests[%d].%s%s", out->index,
                                         strncmp(message, "options", 7) == 0 ? "" : "options: ",
                                         message));
}

/* Writes `integer` in decimal (without snprintf, which costs more than the rest of a query:
 * bench/run's callgrind mode counts it). `text` has room for 21 bytes. */
static void format_integer(char *text, lua_Integer integer) {
    char digits[24];
    size_t count = 0;
    unsigned long long magnitude =
        integer < 0 ? 0ULL - (unsigned long long)integer : (unsigned long long)integer;
    do {
        digits[count++] = (char)('0' + magnitude % 10);
        magnitude /= 10;
    } while (magnitude > 0);
    if (integer < 0)
        *text++ = '-';
    while (count > 0)
        *text++ = digits[--count];
    *text = '\0';
}

/* The text of a query value at the top of the stack, for pair `i`. Raises on other types. */
static void read_query_value(lua_State *L, int arg, mmc_lua_request_options *out, size_t i) {
    mmc_query_pair *pair = &out->pairs[i];
    char *text = out->numbers[i];
    int type = lua_type(L, -1);
    if (type == LUA_TSTRING) {
        pair->value = lua_tolstring(L, -1, &pair->value_length);
    } else if (type == LUA_TBOOLEAN) {
        pair->value = lua_toboolean(L, -1) ? "true" : "false";
        pair->value_length = strlen(pair->value);
    } else if (type == LUA_TNUMBER) {
        int is_integer = 0;
        lua_Integer integer = mmc_compat_tointegerx(L, -1, &is_integer);
        lua_Number number = is_integer ? 0 : lua_tonumber(L, -1);
        if (is_integer)
            format_integer(text, integer);
        else if (number == number && number - number == 0) /* finite */
            snprintf(text, sizeof out->numbers[i], "%.14g", (double)number);
        else
            option_error(L, arg, out, lua_pushfstring(L, "options.query.%s must be a finite number", pair->name));
        pair->value = text;
        pair->value_length = strlen(text);
    } else {
        option_error(L, arg, out,
                      lua_pushfstring(L,
                                      "options.query.%s must be a string, number or boolean, "
                                      "got %s",
                                      pair->name, luaL_typename(L, -1)));
    }
}

static void read_query(lua_State *L, int arg, int query, mmc_lua_request_options *out) {
    if (lua_type(L, query) != LUA_TTABLE)
        option_error(L, arg, out,
            lua_pushfstring(L, "options.query must be a table, got %s", luaL_typename(L, query)));
    lua_pushnil(L);
    while (lua_next(L, query) != 0) {
        size_t name_length = 0;
        const char *name =
            lua_type(L, -2) == LUA_TSTRING ? lua_tolstring(L, -2, &name_length) : NULL;
        if (name_length == 0)
            option_error(L, arg, out, "options.query names must be non-empty strings");
        if (out->pair_count == MMC_LUA_MAX_QUERY_PAIRS - (out->own_query != NULL))
            option_error(L, arg, out,
                         out->own_query != NULL ? "options.query has more than 99 names"
                                                : "options.query has more than 100 names");
        mmc_query_pair *pair = &out->pairs[out->pair_count];
        pair->name = name;
        pair->name_length = name_length;
        if (out->own_query != NULL && strcmp(pair->name, out->own_query) == 0)
            option_error(L, arg, out,
                         lua_pushfstring(L, "options.query.%s: the handle adds it", pair->name));
        read_query_value(L, arg, out, out->pair_count);
        out->raw_query_length += pair->name_length + pair->value_length;
        out->pair_count++;
        lua_pop(L, 1);
    }
}

static void read_headers(lua_State *L, int arg, int headers, mmc_lua_request_options *out) {
    if (lua_type(L, headers) != LUA_TTABLE)
        option_error(L, arg, out,
                      lua_pushfstring(L, "options.headers must be a table, got %s",
                                      luaL_typename(L, headers)));
    lua_pushnil(L);
    while (lua_next(L, headers) != 0) {
        if (lua_type(L, -2) != LUA_TSTRING || lua_type(L, -1) != LUA_TSTRING)
            option_error(L, arg, out, "options.headers must map header names to string values");
        if (out->header_count == MMC_LUA_MAX_HEADERS)
            option_error(L, arg, out, "options.headers has more than 50 headers");
        mmc_header *header = &out->headers[out->header_count++];
        header->name = lua_tolstring(L, -2, &header->name_length);
        header->value = lua_tolstring(L, -1, &header->value_length);
        const char *problem = mmc_request_header_problem(header);
        if (problem != NULL)
            option_error(L, arg, out, lua_pushfstring(L, "options.headers: %s", problem));
        for (const char *const *own = out->own_headers; own != NULL && *own != NULL; own++)
            if (mmc_request_header_is(header->name, header->name_length, *own))
                option_error(L, arg, out,
                             lua_pushfstring(L, "options.headers: %s is the handle's own", *own));
        lua_pop(L, 1);
    }
}

/* Encodes a table body with the module's private cjson; leaves the text on the stack. */
static void encode_body(lua_State *L, int arg, int body, mmc_lua_request_options *out) {
    lua_getfield(L, lua_upvalueindex(1), STATE_JSON_ENCODE);
    lua_pushvalue(L, body);
    if (lua_pcall(L, 1, 1, 0) != LUA_OK || lua_type(L, -1) != LUA_TSTRING)
        option_error(L, arg, out,
            lua_pushfstring(L, "options.body could not be encoded as JSON: %s",
                            lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : "no text"));
    out->body = lua_tolstring(L, -1, &out->body_length);
}

/* Reads client:request's options (at `arg`: a table, or nil) into `out`, in one pass over
 * the table. Raises on a mistake, naming the option. May leave values on the stack (the body,
 * and its JSON text when it was a table). */
void mmc_lua_read_request_options(lua_State *L, int arg, mmc_lua_request_options *out) {
    out->pair_count = 0;
    out->raw_query_length = 0;
    out->header_count = 0;
    out->body = NULL;
    out->body_length = 0;
    out->retry = MMC_RETRY_AS_METHOD;
    if (lua_isnoneornil(L, arg))
        return;
    if (out->index == 0)
        luaL_checktype(L, arg, LUA_TTABLE);
    else if (lua_type(L, arg) != LUA_TTABLE)
        option_error(L, arg, out,
                     lua_pushfstring(L, "options must be a table, got %s", luaL_typename(L, arg)));
    int has_body = 0;
    lua_pushnil(L);
    while (lua_next(L, arg) != 0) {
        const char *name = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : "";
        int value = lua_gettop(L);
        if (strcmp(name, "query") == 0) {
            read_query(L, arg, value, out);
        } else if (strcmp(name, "headers") == 0) {
            read_headers(L, arg, value, out);
        } else if (strcmp(name, "retry") == 0) {
            if (lua_type(L, value) != LUA_TBOOLEAN)
                option_error(L, arg, out,
                              lua_pushfstring(L, "options.retry must be a boolean, got %s",
                                              luaL_typename(L, value)));
            out->retry = lua_toboolean(L, value);
        } else if (strcmp(name, "body") == 0) {
            has_body = 1; /* read below: encoding it leaves a string on the stack */
        } else if (out->own_query == NULL && mmc_lua_transfer_is_option(name)) {
            /* read by mmc_lua_transfer_read, for client:request only */
            if (out->index != 0)
                option_error(L, arg, out,
                             lua_pushfstring(L,
                                             "options.%s is not available in request_all: use "
                                             "client:request",
                                             name));
        } else {
            lua_pushvalue(L, -2);
            option_error(L, arg, out,
                          lua_pushfstring(L, "unknown option '%s' (query, body, headers, retry%s)",
                                          mmc_compat_tolstring(L, -1),
                                          out->own_query != NULL
                                              ? ""
                                              : ", raw, output, max_size, sync, progress, form"));
        }
        lua_settop(L, value - 1);
    }
    if (!has_body)
        return;
    lua_getfield(L, arg, "body");
    if (lua_type(L, -1) == LUA_TSTRING)
        out->body = lua_tolstring(L, -1, &out->body_length);
    else if (lua_type(L, -1) == LUA_TTABLE)
        encode_body(L, arg, lua_gettop(L), out);
    else
        option_error(L, arg, out,
                      lua_pushfstring(L, "options.body must be a table or a string, got %s",
                                      luaL_typename(L, -1)));
}

/* The strings already made for a batch's results, reused rather than made again: header
 * names and most values repeat from one answer to the next (server, content-type, ...), and
 * making a Lua string hashes its bytes and looks it up. Each is held in a stack slot reserved
 * below the results (from `first`), with a copy of its bytes here (no pointer into a Lua
 * string is kept). Filled until full; a single call's headers go without (NULL).
 * The answers of a batch come alike, header after header: a line the same, byte for byte, as
 * the same line of an earlier answer is that line's name and value again (`lines`); the n-th
 * string of an answer is looked for first where the n-th string of the answer before was found
 * (`hints`); and its table is sized as the one before was (`last_count`). */
#define MADE_STRINGS 16
#define MADE_STRING_MOST 40 /* Lua's short strings: the ones it looks up */
#define MADE_HINTS 32       /* the strings of an answer that have a hint: 16 headers */
#define MADE_LINES 16       /* the lines of an answer that are remembered */
#define MADE_LINE_MOST 64
typedef struct made_line {
    size_t length;             /* 0: none */
    int name, value;           /* their slots in `made` */
    char text[MADE_LINE_MOST]; /* the line as it came, without its CR LF */
} made_line;
typedef struct made_strings {
    int first; /* the stack index of the first slot */
    int count;
    int last_count; /* the headers of the answer before (0: none yet) */
    size_t lengths[MADE_STRINGS];
    char texts[MADE_STRINGS][MADE_STRING_MOST];
    unsigned char hints[MADE_HINTS]; /* the slot of the n-th string of the answer before */
    made_line lines[MADE_LINES];
} made_strings;

/* Reserves the slots on the stack (nil each). */
static void made_strings_reserve(lua_State *L, made_strings *made) {
    luaL_checkstack(L, MADE_STRINGS + LUA_MINSTACK, "request_all's results");
    made->first = lua_gettop(L) + 1;
    made->count = 0;
    made->last_count = 0;
    memset(made->hints, 0, sizeof made->hints);
    for (int i = 0; i < MADE_LINES; i++)
        made->lines[i].length = 0;
    for (int i = 0; i < MADE_STRINGS; i++)
        lua_pushnil(L);
}

/* Pushes the string `text`, the `ordinal`-th of its answer: the one made before when `made`
 * holds it, else a new one (kept in `made` while it has room). Returns its slot in `made`, or
 * -1 when it is not kept there. */
static int push_string(lua_State *L, made_strings *made, const char *text, size_t length,
                       int ordinal) {
    if (made == NULL || length > MADE_STRING_MOST) {
        lua_pushlstring(L, text, length);
        return -1;
    }
    int hint = ordinal < MADE_HINTS ? made->hints[ordinal] : 0;
    int found = -1;
    if (hint < made->count && made->lengths[hint] == length &&
        memcmp(made->texts[hint], text, length) == 0) {
        found = hint;
    } else {
        for (int i = 0; i < made->count; i++) {
            if (made->lengths[i] == length && memcmp(made->texts[i], text, length) == 0) {
                found = i;
                break;
            }
        }
    }
    if (found < 0 && made->count < MADE_STRINGS) { /* a new one, kept */
        lua_pushlstring(L, text, length);
        found = made->count++;
        memcpy(made->texts[found], text, length);
        made->lengths[found] = length;
        lua_pushvalue(L, -1);
        lua_replace(L, made->first + found);
    } else if (found < 0) { /* a new one, and no room left */
        lua_pushlstring(L, text, length);
        return -1;
    } else {
        lua_pushvalue(L, made->first + found);
    }
    if (ordinal < MADE_HINTS)
        made->hints[ordinal] = (unsigned char)found;
    return found;
}

/* Pushes the answer's headers (lines "Name: value\r\n", `length` bytes at `lines`, or NULL)
 * as a table: names in lower case, a repeated header's values joined with ", ". The strings
 * come from `made` when it holds them (NULL: none). */
static void push_headers(lua_State *L, const char *lines, size_t length, made_strings *made) {
    if (lines == NULL) {
        lua_newtable(L);
        return;
    }
    const char *at = lines, *end = lines + length;
    /* Sized at once: a table grown one header at a time is rehashed at 1, 2, 4 and 8. */
    int count = 0;
    if (made != NULL && made->last_count > 0) {
        count = made->last_count;
    } else {
        for (const char *line = at;
             line != NULL && (line = memchr(line, '\n', (size_t)(end - line))) != NULL; line++)
            count++;
    }
    lua_createtable(L, 0, count);
    char name[256];
    unsigned named = 0; /* the slots of `made` whose strings are names of this table already */
    int ordinal = 0, names = 0, line_number = 0;
    while (at != NULL && at < end) {
        const char *line_end = memchr(at, '\n', (size_t)(end - at));
        const char *next = line_end != NULL ? line_end + 1 : end;
        if (line_end == NULL)
            line_end = end;
        while (line_end > at && (line_end[-1] == '\r' || line_end[-1] == '\n'))
            line_end--;
        size_t line_length = (size_t)(line_end - at);
        made_line *seen =
            made != NULL && line_number < MADE_LINES ? &made->lines[line_number] : NULL;
        line_number++;
        if (seen != NULL && line_length > 0 && seen->length == line_length &&
            (named >> seen->name & 1u) == 0 &&
            memcmp(seen->text, at, line_length) == 0) { /* as before: its name and value again */
            lua_pushvalue(L, made->first + seen->name);
            lua_pushvalue(L, made->first + seen->value);
            lua_rawset(L, -3);
            named |= 1u << seen->name;
            names++;
            ordinal += 2;
            at = next;
            continue;
        }
        const char *colon = memchr(at, ':', (size_t)(line_end - at));
        if (colon != NULL && colon > at && (size_t)(colon - at) < sizeof name) {
            size_t name_length = (size_t)(colon - at);
            for (size_t i = 0; i < name_length; i++) {
                char c = at[i];
                name[i] = (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
            }
            const char *value = colon + 1, *value_end = line_end;
            while (value < value_end && (*value == ' ' || *value == '\t'))
                value++;
            while (value_end > value && (value_end[-1] == ' ' || value_end[-1] == '\t'))
                value_end--;
            int slot = push_string(L, made, name, name_length, ordinal++);
            int repeated;
            if (slot >= 0) { /* the same name is the same slot */
                repeated = (named >> slot & 1u) != 0;
                named |= 1u << slot;
            } else { /* the values of the header already in the table, when it came before */
                lua_pushvalue(L, -1);
                lua_rawget(L, -3);
                repeated = !lua_isnil(L, -1);
                lua_pop(L, 1);
            }
            if (!repeated) {
                int value_slot =
                    push_string(L, made, value, (size_t)(value_end - value), ordinal++);
                names++;
                if (seen != NULL && slot >= 0 && value_slot >= 0 && line_length <= MADE_LINE_MOST) {
                    seen->length = line_length; /* remembered for the answers after it */
                    seen->name = slot;
                    seen->value = value_slot;
                    memcpy(seen->text, at, line_length);
                }
            } else { /* a repeated header: after the values before it */
                lua_pushvalue(L, -1);
                lua_rawget(L, -3);
                lua_pushliteral(L, ", ");
                lua_pushlstring(L, value, (size_t)(value_end - value));
                lua_concat(L, 3);
                ordinal++;
            }
            lua_rawset(L, -3);
        }
        at = next;
    }
    if (made != NULL)
        made->last_count = names;
}

void mmc_lua_check_method_and_path(lua_State *L, int method_arg, const char **method,
                                   const char **path, size_t *path_length) {
    int path_arg = method_arg + 1;
    size_t method_length = 0;
    const char *text =
        lua_type(L, method_arg) == LUA_TSTRING ? lua_tolstring(L, method_arg, &method_length) : "";
    *method = strlen(text) == method_length ? mmc_request_known_method(text) : NULL;
    if (*method == NULL)
        luaL_argerror(L, method_arg,
                      "method must be \"GET\", \"POST\", \"PUT\", \"DELETE\" or "
                      "\"PATCH\"");
    if (lua_type(L, path_arg) != LUA_TSTRING)
        luaL_argerror(
            L, path_arg,
            lua_pushfstring(L, "path must be a string, got %s", luaL_typename(L, path_arg)));
    *path = lua_tolstring(L, path_arg, path_length);
    const char *problem = mmc_request_path_problem(*path, *path_length);
    if (problem != NULL)
        luaL_argerror(L, path_arg, problem);
}

/* client:request(method, path [, options]): any API call with the client's token, judged as
 * the other calls are. Arguments are checked here, so a mistake raises before anything is
 * sent. */
static int do_request(lua_State *L, int client_arg, int method_arg) {
    int options_arg = method_arg + 2;
    const char *method, *path, *problem;
    size_t path_length;
    mmc_lua_check_method_and_path(L, method_arg, &method, &path, &path_length);
    mmc_lua_request_options options;
    options.index = 0;
    options.own_query = NULL;
    options.own_headers = NULL;
    mmc_lua_read_request_options(L, options_arg, &options);
    problem = mmc_lua_request_options_problem(method, &options);
    if (problem != NULL)
        luaL_argerror(L, options_arg, problem);
    int has_content_type = 0;
    for (size_t i = 0; i < options.header_count; i++)
        has_content_type = has_content_type ||
                           mmc_request_header_is(options.headers[i].name,
                                                 options.headers[i].name_length, "Content-Type");
    mmc_lua_transfer transfer;
    mmc_lua_transfer_read(L, options_arg, method, options.body != NULL, has_content_type,
                          &transfer);

    mmc_api_call api_call = mmc_lua_api_call_of(method, path, path_length, &options);
    mmc_lua_check_ready_client(L, client_arg); /* before an output file is made */
    api_call.transfer = mmc_lua_transfer_begin(L, &transfer);
    mmc_lua_call call;
    mmc_client *client = mmc_lua_begin_call(L, client_arg, &call);
    mmc_client_request(client, &api_call, &call.result);
    mmc_lua_transfer_end(&transfer, &call.result);
    /* The fourth value, built before the hooks run (the header lines live in the client). */
    const mmc_buffer *headers = mmc_client_answer_headers(client);
    int answered = call.result.status != 0;
    if (answered)
        push_headers(L, headers != NULL ? headers->data : NULL,
                     headers != NULL ? headers->length : 0, NULL);
    int count = mmc_lua_transfer_results(L, &transfer, &call.result, mmc_lua_finish_call(L, &call));
    if (!answered)
        return count;
    lua_pushvalue(L, -(count + 1));
    lua_remove(L, -(count + 2));
    return count + 1;
}

/* ---- many calls at once --------------------------------------------------------------- */

/* The batch being built, in a userdata whose __gc frees it: a mistake found in request 7
 * raises after requests 1 to 6 were copied. */
typedef struct batch_box {
    mmc_batch *batch;
} batch_box;

static int batch_gc(lua_State *L) {
    batch_box *box = lua_touserdata(L, 1);
    mmc_batch_free(box->batch);
    box->batch = NULL;
    return 0;
}

/* The names of a result's fields, made once for a batch's results (at `keys`, in this order). */
static const char *const RESULT_KEYS[] = {"status", "body", "headers", "err"};
enum { KEY_STATUS, KEY_BODY, KEY_HEADERS, KEY_ERR, KEY_COUNT };

/* Pushes one call's result table: { status = , err = , body = , headers = }. */
static void push_batch_result(lua_State *L, const mmc_batch *batch, size_t index,
                              made_strings *made, int keys) {
    const mmc_result *result = mmc_batch_result(batch, index);
    lua_createtable(L, 0, 4);
    if (result->status != 0) {
        lua_pushvalue(L, keys + KEY_STATUS);
        lua_pushinteger(L, (lua_Integer)result->status);
        lua_rawset(L, -3);
        lua_pushvalue(L, keys + KEY_BODY);
        mmc_lua_push_decoded_body(L, result);
        lua_rawset(L, -3);
        size_t headers_length;
        const char *headers = mmc_batch_headers(batch, index, &headers_length);
        lua_pushvalue(L, keys + KEY_HEADERS);
        push_headers(L, headers != NULL ? headers : "", headers_length, made);
        lua_rawset(L, -3);
    }
    if (result->message.length > 0) {
        lua_pushvalue(L, keys + KEY_ERR);
        lua_pushlstring(L, result->message.data, result->message.length);
        lua_rawset(L, -3);
    }
}

/* The field of a request: its place in the array ({ method, path, options }), or its name. */
static void get_request_field(lua_State *L, int request, int position, const char *name) {
    lua_rawgeti(L, request, position);
    if (lua_isnil(L, -1)) {
        lua_pop(L, 1);
        lua_getfield(L, request, name);
    }
}

/* Checks request number `index` (at the top of the stack) and copies it into the batch.
 * Raises, naming it, on a mistake. */
static void add_batch_request(lua_State *L, int requests_arg, int index, mmc_batch *batch,
                              const mmc_client *client) {
    int request = lua_gettop(L);
    if (lua_type(L, request) != LUA_TTABLE)
        luaL_argerror(L, requests_arg,
                      lua_pushfstring(L, "requests[%d] must be a table { method, path, options }, "
                                         "got %s",
                                      index, luaL_typename(L, request)));
    get_request_field(L, request, 1, "method");
    get_request_field(L, request, 2, "path");
    get_request_field(L, request, 3, "options");
    int method_at = request + 1, path_at = request + 2, options_at = request + 3;
    size_t method_length = 0, path_length = 0;
    const char *method =
        lua_type(L, method_at) == LUA_TSTRING ? lua_tolstring(L, method_at, &method_length) : "";
    if (strlen(method) != method_length || mmc_request_known_method(method) == NULL)
        luaL_argerror(L, requests_arg,
                      lua_pushfstring(L,
                                      "requests[%d].method must be \"GET\", \"POST\", \"PUT\", "
                                      "\"DELETE\" or \"PATCH\"",
                                      index));
    if (lua_type(L, path_at) != LUA_TSTRING)
        luaL_argerror(L, requests_arg,
                      lua_pushfstring(L, "requests[%d].path: path must be a string, got %s", index,
                                      luaL_typename(L, path_at)));
    /* the path is checked with the rest of the call, by mmc_batch_set below */
    const char *path = lua_tolstring(L, path_at, &path_length);
    mmc_lua_request_options options;
    options.index = index;
    options.own_query = NULL;
    options.own_headers = NULL;
    options.requests_arg = requests_arg;
    mmc_lua_read_request_options(L, options_at, &options);
    const char *problem = mmc_lua_request_options_problem(method, &options);
    if (problem != NULL)
        option_error(L, options_at, &options, problem);
    mmc_api_call api_call = mmc_lua_api_call_of(method, path, path_length, &options);
    mmc_buffer bad;
    mmc_buffer_init_in(&bad, mmc_client_memory(client));
    const char *field = NULL;
    if (mmc_batch_set(batch, (size_t)index - 1, client, &api_call, &bad, &field) != 0) {
        if (field != NULL)
            lua_pushfstring(L, "requests[%d].%s: %s", index, field, mmc_buffer_text(&bad));
        else
            lua_pushfstring(L, "requests[%d]: %s", index, mmc_buffer_text(&bad));
        mmc_buffer_free(&bad);
        luaL_argerror(L, requests_arg, lua_tostring(L, -1));
    }
    mmc_buffer_free(&bad);
    lua_settop(L, request - 1);
}

/* The concurrency in the options at `arg` (a table or nil). */
static int batch_concurrency(lua_State *L, int arg) {
    if (lua_isnoneornil(L, arg))
        return MMC_DEFAULT_CONCURRENCY;
    if (lua_type(L, arg) != LUA_TTABLE)
        luaL_argerror(L, arg,
                      lua_pushfstring(L, "options must be a table, got %s", luaL_typename(L, arg)));
    int concurrency = MMC_DEFAULT_CONCURRENCY;
    lua_pushnil(L);
    while (lua_next(L, arg) != 0) {
        if (lua_type(L, -2) != LUA_TSTRING || strcmp(lua_tostring(L, -2), "concurrency") != 0) {
            lua_pushvalue(L, -2);
            luaL_argerror(L, arg,
                          lua_pushfstring(L, "unknown option '%s' (concurrency)",
                                          mmc_compat_tolstring(L, -1)));
        }
        int is_integer = 0;
        lua_Integer value =
            lua_type(L, -1) == LUA_TNUMBER ? mmc_compat_tointegerx(L, -1, &is_integer) : 0;
        if (!is_integer || value < 1 || value > MMC_MAX_CONCURRENCY)
            luaL_argerror(L, arg, "options.concurrency must be a whole number from 1 to 64");
        concurrency = (int)value;
        lua_pop(L, 1);
    }
    return concurrency;
}

/* client:request_all(requests [, options]): many calls at once (engine.h). Every request is
 * checked, and copied, before anything is sent; the results come back in the same order. */
static int do_request_all(lua_State *L, int client_arg, int requests_arg) {
    int options_arg = requests_arg + 1;
    if (lua_type(L, requests_arg) != LUA_TTABLE)
        luaL_argerror(L, requests_arg,
                      lua_pushfstring(L, "requests must be an array of { method, path, options }, "
                                         "got %s",
                                      luaL_typename(L, requests_arg)));
    int concurrency = batch_concurrency(L, options_arg);
    size_t count = mmc_compat_rawlen(L, requests_arg);
    if (count > MMC_MAX_BATCH)
        luaL_argerror(L, requests_arg, "requests has more than 100000 requests");
    mmc_client *client = mmc_lua_check_ready_client(L, client_arg);
    batch_box *box = lua_newuserdata(L, sizeof *box);
    box->batch = NULL;
    if (luaL_newmetatable(L, BATCH_METATABLE)) {
        lua_pushcfunction(L, batch_gc);
        lua_setfield(L, -2, "__gc");
    }
    lua_setmetatable(L, -2);
    box->batch = mmc_batch_new(count, mmc_client_memory(client));
    if (box->batch == NULL)
        luaL_error(L, "mmc: out of memory");
    for (size_t i = 1; i <= count; i++) {
        lua_rawgeti(L, requests_arg, (int)i);
        add_batch_request(L, requests_arg, (int)i, box->batch, client);
    }
    mmc_lua_call call;
    mmc_lua_begin_call(L, client_arg, &call);
    mmc_client_run_batch(client, box->batch, concurrency);
    int store_yielded = call.has_store && mmc_lua_token_store_unbind(&call.store);
    mmc_client_use_token_cache(client, NULL);
    mmc_lua_report_exchanges(&call);
    for (size_t i = 0; i < count; i++)
        mmc_lua_report_log(&call, mmc_batch_exchanges(box->batch, i));
    call.box->busy = 0;
    mmc_result_free(&call.result);
    if (store_yielded)
        luaL_error(L, "%s", MMC_LUA_TOKEN_STORE_YIELDED);
    made_strings made;
    made_strings_reserve(L, &made);
    luaL_checkstack(L, KEY_COUNT + LUA_MINSTACK, "request_all's results");
    int keys = lua_gettop(L) + 1;
    for (int k = 0; k < KEY_COUNT; k++)
        lua_pushstring(L, RESULT_KEYS[k]);
    lua_createtable(L, (int)count, 0);
    for (size_t i = 0; i < count; i++) {
        push_batch_result(L, box->batch, i, &made, keys);
        lua_rawseti(L, -2, (int)i + 1);
    }
    mmc_batch_free(box->batch);
    box->batch = NULL;
    return 1;
}

static int client_request_all(lua_State *L) {
    mmc_lua_check_self(L, "request_all");
    lua_settop(L, 3);
    return do_request_all(L, 1, 2);
}

static int module_request_all(lua_State *L) {
    lua_settop(L, 2);
    return do_request_all(L, mmc_lua_push_default_client(L), 1);
}

static int client_request(lua_State *L) {
    mmc_lua_check_self(L, "request");
    lua_settop(L, 4);
    return do_request(L, 1, 2);
}

static int module_request(lua_State *L) {
    lua_settop(L, 3);
    return do_request(L, mmc_lua_push_default_client(L), 1);
}

const luaL_Reg mmc_lua_request_methods[] = {
    {"request", client_request},
    {"request_all", client_request_all},
    {NULL, NULL},
};

const luaL_Reg mmc_lua_request_functions[] = {
    {"request", module_request},
    {"request_all", module_request_all},
    {"file", mmc_lua_file},
    {NULL, NULL},
};
