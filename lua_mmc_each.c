/* lua_mmc_each: client:each(path [, options]) and mmc.each: every item of one of Huawei's
 * lists, page after page.
 *
 *     for item, err in client:each(path [, options]) do ... end
 *
 * Huawei's lists take `offset` (from 0) and `limit` (at most 500) in the query and answer
 * {"offset","limit","count","data":[...]}, `count` being every match. The iterator asks for
 * one page at a time (GET, through the core's one call, mmc_client_request, so the token,
 * retries, on_request and redaction are those of client:request), returns the page's items one
 * by one, and asks for the next page from where the items seen end. It stops once it has seen
 * `count` items (the latest page's count: a list that grows or shrinks meanwhile is followed as
 * far as its newest count says) or after an empty page; so a list of N items takes exactly
 * ceil(N / limit) requests when each page is full. A page shorter than asked only moves the
 * offset by what it held. A failure (no answer, an answer that is not 2xx, an answer without a
 * `data` array or a whole `count`) is returned once as `false, message`, and the loop ends.
 *
 * Everything is checked when each() is called, before anything is sent: the path as
 * client:request checks it, and the options: `limit` (1..500, default 100), `query` (strings,
 * numbers and booleans; never `offset` or `limit`, which are each's own), `headers`. The query
 * and headers are copied then, so changing the table afterwards changes nothing.
 */
#include <stdio.h>
#include <string.h>

#include "lua_mmc_call.h"
#include "lua_mmc_faces.h"
#include "src/request.h"

#define EACH_DEFAULT_LIMIT 100
#define EACH_MAX_LIMIT 500
#define EACH_MAX_QUERY_PAIRS 98 /* with offset and limit: client:request's 100 */
#define EACH_MAX_HEADERS 50

/* The walk's progress, in a userdata upvalue of the iterator. */
typedef struct each_walk {
    lua_Integer limit;
    lua_Integer offset;      /* the next page's offset: the items seen so far */
    lua_Integer count;       /* the latest page's count, -1 before the first */
    lua_Integer index;       /* items of the current page already returned */
    lua_Integer page_length; /* items in the current page */
    int done;
} each_walk;

/* Upvalues of the iterator. */
enum {
    UP_STATE = 1, /* the module's state (mmc_lua_push_decoded_body reads it) */
    UP_CLIENT,
    UP_PATH,
    UP_QUERY,   /* name -> value, both strings, copied */
    UP_HEADERS, /* name -> value, both strings, copied */
    UP_WALK,    /* each_walk */
    UP_PAGE,    /* the current page's data, or false */
    UP_COUNT
};

/* Writes an integer in decimal into `text` (room for 24 bytes). */
static void integer_text(char *text, size_t size, lua_Integer value) {
    snprintf(text, size, "%lld", (long long)value);
}

/* Copies options.query (at `query`) into a new table of strings on top of the stack. */
static void copy_query(lua_State *L, int options_arg, int query) {
    if (lua_type(L, query) != LUA_TTABLE)
        luaL_argerror(L, options_arg,
                      lua_pushfstring(L, "options.query must be a table, got %s",
                                      luaL_typename(L, query)));
    lua_newtable(L);
    int copy = lua_gettop(L);
    int pairs = 0;
    size_t raw_length = 0;
    lua_pushnil(L);
    while (lua_next(L, query) != 0) {
        size_t name_length = 0;
        if (lua_type(L, -2) != LUA_TSTRING ||
            (lua_tolstring(L, -2, &name_length), name_length) == 0)
            luaL_argerror(L, options_arg, "options.query names must be non-empty strings");
        const char *name = lua_tostring(L, -2);
        if (strcmp(name, "offset") == 0 || strcmp(name, "limit") == 0)
            luaL_argerror(L, options_arg,
                          lua_pushfstring(L,
                                          "options.query.%s: each sends offset and limit itself "
                                          "(the page size is options.limit)",
                                          name));
        if (++pairs > EACH_MAX_QUERY_PAIRS)
            luaL_argerror(L, options_arg, "options.query has more than 98 names");
        int type = lua_type(L, -1);
        lua_pushvalue(L, -2); /* the name, for the copy */
        if (type == LUA_TSTRING) {
            lua_pushvalue(L, -2);
        } else if (type == LUA_TBOOLEAN) {
            lua_pushstring(L, lua_toboolean(L, -2) ? "true" : "false");
        } else if (type == LUA_TNUMBER) {
            int is_integer = 0;
            lua_Integer integer = mmc_compat_tointegerx(L, -2, &is_integer);
            lua_Number number = lua_tonumber(L, -2);
            char text[32];
            if (is_integer)
                integer_text(text, sizeof text, integer);
            else if (number == number && number - number == 0)
                snprintf(text, sizeof text, "%.14g", (double)number);
            else
                luaL_argerror(L, options_arg,
                              lua_pushfstring(L, "options.query.%s must be a finite number", name));
            lua_pushstring(L, text);
        } else {
            luaL_argerror(L, options_arg,
                          lua_pushfstring(L,
                                          "options.query.%s must be a string, number or boolean, "
                                          "got %s",
                                          name, luaL_typename(L, -2)));
        }
        raw_length += name_length + mmc_compat_rawlen(L, -1);
        lua_rawset(L, copy);
        lua_pop(L, 1);
    }
    /* Escaping at most triples each byte; offset and limit add fewer than 40 bytes. */
    if (raw_length * 3 + 2 * (size_t)pairs + 40 > MMC_MAX_QUERY_LENGTH)
        luaL_argerror(L, options_arg, "options.query is longer than 8000 bytes escaped");
}

/* Copies options.headers (at `headers`) into a new table on top of the stack. */
static void copy_headers(lua_State *L, int options_arg, int headers) {
    if (lua_type(L, headers) != LUA_TTABLE)
        luaL_argerror(L, options_arg,
                      lua_pushfstring(L, "options.headers must be a table, got %s",
                                      luaL_typename(L, headers)));
    lua_newtable(L);
    int copy = lua_gettop(L), count = 0;
    lua_pushnil(L);
    while (lua_next(L, headers) != 0) {
        if (lua_type(L, -2) != LUA_TSTRING || lua_type(L, -1) != LUA_TSTRING)
            luaL_argerror(L, options_arg, "options.headers must map header names to string values");
        if (++count > EACH_MAX_HEADERS)
            luaL_argerror(L, options_arg, "options.headers has more than 50 headers");
        mmc_header header;
        header.name = lua_tolstring(L, -2, &header.name_length);
        header.value = lua_tolstring(L, -1, &header.value_length);
        const char *problem = mmc_request_header_problem(&header);
        if (problem != NULL)
            luaL_argerror(L, options_arg, lua_pushfstring(L, "options.headers: %s", problem));
        lua_pushvalue(L, -2);
        lua_pushvalue(L, -2);
        lua_rawset(L, copy);
        lua_pop(L, 1);
    }
}

/* Pushes false and a message; ends the walk. */
static int walk_failed(lua_State *L, each_walk *walk, const char *message) {
    walk->done = 1;
    lua_pushboolean(L, 0);
    lua_pushstring(L, message);
    return 2;
}

/* 1 when the table at `index` is an array (keys 1..n only; empty counts); its length in *n. */
static int is_array(lua_State *L, int index, lua_Integer *n) {
    lua_Integer length = (lua_Integer)mmc_compat_rawlen(L, index), keys = 0;
    lua_pushnil(L);
    while (lua_next(L, index) != 0) {
        lua_pop(L, 1);
        int is_integer = 0;
        lua_Integer key =
            lua_type(L, -1) == LUA_TNUMBER ? mmc_compat_tointegerx(L, -1, &is_integer) : 0;
        if (!is_integer || key < 1 || key > length) {
            lua_pop(L, 1);
            return 0;
        }
        keys++;
    }
    *n = length;
    return keys == length;
}

/* Asks for the page at walk->offset. On success the page's data is in UP_PAGE and returns 0;
 * else pushes false, message and returns 2. */
static int fetch_page(lua_State *L, each_walk *walk) {
    mmc_query_pair pairs[EACH_MAX_QUERY_PAIRS + 2];
    mmc_header headers[EACH_MAX_HEADERS];
    size_t pair_count = 0, header_count = 0;
    char offset_text[32], limit_text[32];
    integer_text(offset_text, sizeof offset_text, walk->offset);
    integer_text(limit_text, sizeof limit_text, walk->limit);
    /* The copies are upvalues: their strings live as long as the iterator. */
    lua_pushnil(L);
    while (lua_next(L, lua_upvalueindex(UP_QUERY)) != 0) {
        mmc_query_pair *pair = &pairs[pair_count++];
        pair->name = lua_tolstring(L, -2, &pair->name_length);
        pair->value = lua_tolstring(L, -1, &pair->value_length);
        lua_pop(L, 1);
    }
    pairs[pair_count++] = (mmc_query_pair){"offset", 6, offset_text, strlen(offset_text)};
    pairs[pair_count++] = (mmc_query_pair){"limit", 5, limit_text, strlen(limit_text)};
    lua_pushnil(L);
    while (lua_next(L, lua_upvalueindex(UP_HEADERS)) != 0) {
        mmc_header *header = &headers[header_count++];
        header->name = lua_tolstring(L, -2, &header->name_length);
        header->value = lua_tolstring(L, -1, &header->value_length);
        lua_pop(L, 1);
    }
    size_t path_length = 0;
    const char *path = lua_tolstring(L, lua_upvalueindex(UP_PATH), &path_length);
    mmc_api_call api_call = {.method = "GET",
                             .path = path,
                             .path_length = path_length,
                             .query_pairs = pairs,
                             .query_pair_count = pair_count,
                             .headers = header_count ? headers : NULL,
                             .header_count = header_count,
                             .retry = MMC_RETRY_AS_METHOD};
    int base = lua_gettop(L);
    lua_pushvalue(L, lua_upvalueindex(UP_CLIENT));
    mmc_lua_call call;
    mmc_client *client = mmc_lua_begin_call(L, base + 1, &call);
    mmc_client_request(client, &api_call, &call.result);
    int results = mmc_lua_finish_call(L, &call);
    int first = lua_gettop(L) - results + 1; /* status (or nil), message, body */
    if (lua_isnil(L, first) || !lua_isnil(L, first + 1)) {
        const char *message = lua_isstring(L, first + 1) ? lua_tostring(L, first + 1) : "failed";
        return walk_failed(L, walk, message);
    }
    int body = first + 2;
    if (!lua_istable(L, body))
        return walk_failed(L, walk,
                           lua_pushfstring(L, "each: the answer to GET %s (offset %s) is not a "
                                              "page: no JSON object",
                                           path, offset_text));
    lua_getfield(L, body, "count");
    int is_integer = 0;
    lua_Integer count =
        lua_type(L, -1) == LUA_TNUMBER ? mmc_compat_tointegerx(L, -1, &is_integer) : -1;
    if (!is_integer || count < 0)
        return walk_failed(L, walk,
                           lua_pushfstring(L, "each: the answer to GET %s (offset %s) is not a "
                                              "page: no whole \"count\"",
                                           path, offset_text));
    lua_getfield(L, body, "data");
    lua_Integer length = 0;
    if (!lua_istable(L, -1) || !is_array(L, lua_gettop(L), &length))
        return walk_failed(L, walk,
                           lua_pushfstring(L, "each: the answer to GET %s (offset %s) is not a "
                                              "page: no \"data\" array",
                                           path, offset_text));
    walk->count = count;
    walk->page_length = length;
    walk->index = 0;
    walk->offset += length;
    lua_replace(L, lua_upvalueindex(UP_PAGE));
    lua_settop(L, base);
    return 0;
}

static int each_next(lua_State *L) {
    each_walk *walk = lua_touserdata(L, lua_upvalueindex(UP_WALK));
    if (walk->done)
        return 0;
    if (walk->index >= walk->page_length) {
        if (walk->count >= 0 && walk->offset >= walk->count) {
            walk->done = 1;
            return 0;
        }
        lua_settop(L, 0);
        int failed = fetch_page(L, walk);
        if (failed)
            return failed;
        if (walk->page_length == 0) {
            walk->done = 1;
            return 0;
        }
    }
    lua_rawgeti(L, lua_upvalueindex(UP_PAGE), (int)++walk->index);
    return 1;
}

/* each(path [, options]) on the client at `client_arg`: checks everything, then returns the
 * iterator. */
static int do_each(lua_State *L, int client_arg, int path_arg) {
    int options_arg = path_arg + 1;
    if (lua_type(L, path_arg) != LUA_TSTRING)
        luaL_argerror(
            L, path_arg,
            lua_pushfstring(L, "path must be a string, got %s", luaL_typename(L, path_arg)));
    size_t path_length = 0;
    const char *path = lua_tolstring(L, path_arg, &path_length);
    const char *problem = mmc_request_path_problem(path, path_length);
    if (problem != NULL)
        luaL_argerror(L, path_arg, problem);
    lua_Integer limit = EACH_DEFAULT_LIMIT;
    int query = 0, headers = 0;
    if (!lua_isnoneornil(L, options_arg)) {
        if (lua_type(L, options_arg) != LUA_TTABLE)
            luaL_argerror(L, options_arg,
                          lua_pushfstring(L, "options must be a table, got %s",
                                          luaL_typename(L, options_arg)));
        lua_pushnil(L);
        while (lua_next(L, options_arg) != 0) {
            const char *name = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : "";
            if (strcmp(name, "limit") == 0) {
                int is_integer = 0;
                limit = lua_type(L, -1) == LUA_TNUMBER ? mmc_compat_tointegerx(L, -1, &is_integer)
                                                       : 0;
                if (!is_integer || limit < 1 || limit > EACH_MAX_LIMIT)
                    luaL_argerror(L, options_arg,
                                  "options.limit must be a whole number from 1 to 500");
            } else if (strcmp(name, "query") != 0 && strcmp(name, "headers") != 0) {
                lua_pushvalue(L, -2);
                luaL_argerror(L, options_arg,
                              lua_pushfstring(L, "unknown option '%s' (limit, query, headers)",
                                              mmc_compat_tolstring(L, -1)));
            }
            lua_pop(L, 1);
        }
        lua_getfield(L, options_arg, "query");
        query = lua_gettop(L);
        lua_getfield(L, options_arg, "headers");
        headers = lua_gettop(L);
    }
    mmc_lua_check_ready_client(L, client_arg);

    lua_pushvalue(L, lua_upvalueindex(1)); /* UP_STATE */
    lua_pushvalue(L, client_arg);          /* UP_CLIENT */
    lua_pushvalue(L, path_arg);            /* UP_PATH */
    if (query != 0 && !lua_isnil(L, query))
        copy_query(L, options_arg, query);
    else
        lua_newtable(L);
    if (headers != 0 && !lua_isnil(L, headers))
        copy_headers(L, options_arg, headers);
    else
        lua_newtable(L);
    each_walk *walk = lua_newuserdata(L, sizeof *walk);
    walk->limit = limit;
    walk->offset = 0;
    walk->count = -1;
    walk->index = 0;
    walk->page_length = 0;
    walk->done = 0;
    lua_pushboolean(L, 0); /* UP_PAGE */
    lua_pushcclosure(L, each_next, UP_COUNT - 1);
    return 1;
}

static int client_each(lua_State *L) {
    mmc_lua_check_self(L, "each");
    lua_settop(L, 3);
    return do_each(L, 1, 2);
}

static int module_each(lua_State *L) {
    lua_settop(L, 2);
    return do_each(L, mmc_lua_push_default_client(L), 1);
}

const luaL_Reg mmc_lua_each_methods[] = {
    {"each", client_each},
    {NULL, NULL},
};

const luaL_Reg mmc_lua_each_functions[] = {
    {"each", module_each},
    {NULL, NULL},
};
