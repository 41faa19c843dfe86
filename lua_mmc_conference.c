/* lua_mmc_conference: client:conference(conference_id, { password = host_password }), a
 * meeting's control handle, and its :request(method, path [, options]) (src/conference.h).
 *
 * The handle is a userdata whose user value (a table) holds its client, so the client lives as long as
 * the handle; its __gc wipes the password and the control token. :request takes
 * client:request's options (query, body, headers, retry), checked here before anything is sent;
 * conferenceID in the query and the headers X-Conference-Authorization, X-Password and
 * X-Login-Type are the handle's own and refused. Results are client:request's: status, nil,
 * body; status, message, body; nil, message. Neither the password nor the control token is
 * ever returned: the core redacts both from messages and bodies, and on_request events hold no
 * header.
 */
#include <stdio.h>
#include <string.h>

#include "lua_mmc_call.h"
#include "lua_mmc_faces.h"
#include "src/conference.h"
#include "src/request.h"

#define CONFERENCE_METATABLE "mmc.conference"

typedef struct conference_box {
    mmc_conference *conference; /* NULL once collected */
} conference_box;

static int conference_gc(lua_State *L) {
    conference_box *box = luaL_checkudata(L, 1, CONFERENCE_METATABLE);
    mmc_conference_free(box->conference);
    box->conference = NULL;
    return 0;
}

static int conference_tostring(lua_State *L) {
    conference_box *box = luaL_checkudata(L, 1, CONFERENCE_METATABLE);
    if (box->conference == NULL)
        lua_pushliteral(L, "mmc.conference (closed)");
    else
        lua_pushfstring(L, "mmc.conference %s", mmc_conference_id(box->conference));
    return 1;
}

/* ---- options ---------------------------------------------------------------------------- */

typedef struct control_options {
    mmc_query_pair pairs[MMC_CONFERENCE_MAX_QUERY_PAIRS];
    char numbers[MMC_CONFERENCE_MAX_QUERY_PAIRS][32];
    size_t pair_count;
    size_t raw_query_length;
    mmc_header headers[MMC_CONFERENCE_MAX_HEADERS];
    size_t header_count;
    const char *body;
    size_t body_length;
    int retry;
} control_options;

static void read_query(lua_State *L, int arg, int query, control_options *out) {
    if (lua_type(L, query) != LUA_TTABLE)
        luaL_argerror(L, arg,
                      lua_pushfstring(L, "options.query must be a table, got %s",
                                      luaL_typename(L, query)));
    lua_pushnil(L);
    while (lua_next(L, query) != 0) {
        size_t name_length = 0;
        if (lua_type(L, -2) != LUA_TSTRING ||
            (lua_tolstring(L, -2, &name_length), name_length) == 0)
            luaL_argerror(L, arg, "options.query names must be non-empty strings");
        if (out->pair_count == MMC_CONFERENCE_MAX_QUERY_PAIRS)
            luaL_argerror(L, arg, "options.query has more than 99 names");
        mmc_query_pair *pair = &out->pairs[out->pair_count];
        pair->name = lua_tolstring(L, -2, &pair->name_length);
        if (strcmp(pair->name, "conferenceID") == 0)
            luaL_argerror(L, arg, "options.query.conferenceID: the handle adds it");
        char *text = out->numbers[out->pair_count];
        int type = lua_type(L, -1);
        if (type == LUA_TSTRING) {
            pair->value = lua_tolstring(L, -1, &pair->value_length);
        } else if (type == LUA_TBOOLEAN) {
            pair->value = lua_toboolean(L, -1) ? "true" : "false";
            pair->value_length = strlen(pair->value);
        } else if (type == LUA_TNUMBER) {
            int is_integer = 0;
            lua_Integer integer = mmc_compat_tointegerx(L, -1, &is_integer);
            lua_Number number = lua_tonumber(L, -1);
            if (is_integer)
                snprintf(text, 32, "%lld", (long long)integer);
            else if (number == number && number - number == 0)
                snprintf(text, 32, "%.14g", (double)number);
            else
                luaL_argerror(L, arg,
                              lua_pushfstring(L, "options.query.%s must be a finite number",
                                              pair->name));
            pair->value = text;
            pair->value_length = strlen(text);
        } else {
            luaL_argerror(L, arg,
                          lua_pushfstring(L,
                                          "options.query.%s must be a string, number or boolean, "
                                          "got %s",
                                          pair->name, luaL_typename(L, -1)));
        }
        out->raw_query_length += pair->name_length + pair->value_length;
        out->pair_count++;
        lua_pop(L, 1);
    }
}

static void read_headers(lua_State *L, int arg, int headers, control_options *out) {
    static const char *const own[] = {"X-Conference-Authorization", "X-Password", "X-Login-Type"};
    if (lua_type(L, headers) != LUA_TTABLE)
        luaL_argerror(L, arg,
                      lua_pushfstring(L, "options.headers must be a table, got %s",
                                      luaL_typename(L, headers)));
    lua_pushnil(L);
    while (lua_next(L, headers) != 0) {
        if (lua_type(L, -2) != LUA_TSTRING || lua_type(L, -1) != LUA_TSTRING)
            luaL_argerror(L, arg, "options.headers must map header names to string values");
        if (out->header_count == MMC_CONFERENCE_MAX_HEADERS)
            luaL_argerror(L, arg, "options.headers has more than 50 headers");
        mmc_header *header = &out->headers[out->header_count++];
        header->name = lua_tolstring(L, -2, &header->name_length);
        header->value = lua_tolstring(L, -1, &header->value_length);
        const char *problem = mmc_request_header_problem(header);
        if (problem != NULL)
            luaL_argerror(L, arg, lua_pushfstring(L, "options.headers: %s", problem));
        for (size_t i = 0; i < sizeof own / sizeof own[0]; i++)
            if (mmc_request_header_is(header->name, header->name_length, own[i]))
                luaL_argerror(L, arg,
                              lua_pushfstring(L, "options.headers: %s is the handle's own",
                                              own[i]));
        lua_pop(L, 1);
    }
}

/* Reads the options at `arg` (a table or nil). May leave the body's JSON text on the stack. */
static void read_options(lua_State *L, int arg, control_options *out) {
    memset(out, 0, sizeof *out);
    out->retry = MMC_RETRY_AS_METHOD;
    if (lua_isnoneornil(L, arg))
        return;
    if (lua_type(L, arg) != LUA_TTABLE)
        luaL_argerror(L, arg,
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
                luaL_argerror(L, arg,
                              lua_pushfstring(L, "options.retry must be a boolean, got %s",
                                              luaL_typename(L, value)));
            out->retry = lua_toboolean(L, value);
        } else if (strcmp(name, "body") == 0) {
            has_body = 1;
        } else {
            lua_pushvalue(L, -2);
            luaL_argerror(L, arg,
                          lua_pushfstring(L, "unknown option '%s' (query, body, headers, retry)",
                                          mmc_compat_tolstring(L, -1)));
        }
        lua_settop(L, value - 1);
    }
    if (out->raw_query_length * 3 + 2 * out->pair_count + 64 > MMC_MAX_QUERY_LENGTH &&
        mmc_request_query_length(out->pairs, out->pair_count) + 64 > MMC_MAX_QUERY_LENGTH)
        luaL_argerror(L, arg, "options.query is longer than 8000 bytes escaped");
    if (!has_body)
        return;
    lua_getfield(L, arg, "body");
    if (lua_type(L, -1) == LUA_TSTRING) {
        out->body = lua_tolstring(L, -1, &out->body_length);
    } else if (lua_type(L, -1) == LUA_TTABLE) {
        lua_getfield(L, lua_upvalueindex(1), STATE_JSON_ENCODE);
        lua_insert(L, -2);
        if (lua_pcall(L, 1, 1, 0) != LUA_OK || lua_type(L, -1) != LUA_TSTRING)
            luaL_argerror(L, arg,
                          lua_pushfstring(L, "options.body could not be encoded as JSON: %s",
                                          lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1)
                                                                         : "no text"));
        out->body = lua_tolstring(L, -1, &out->body_length);
    } else {
        luaL_argerror(L, arg,
                      lua_pushfstring(L, "options.body must be a table or a string, got %s",
                                      luaL_typename(L, -1)));
    }
}

/* ---- calls ------------------------------------------------------------------------------ */

/* After each of the client's calls inside a control call: its exchanges to on_request. */
static void report_exchanges(void *data, mmc_client *client) {
    (void)client;
    mmc_lua_report_exchanges(data);
}

/* handle:request(method, path [, options]) */
static int conference_request(lua_State *L) {
    lua_settop(L, 4);
    conference_box *box = luaL_checkudata(L, 1, CONFERENCE_METATABLE);
    size_t method_length = 0, path_length = 0;
    const char *method =
        lua_type(L, 2) == LUA_TSTRING ? lua_tolstring(L, 2, &method_length) : "";
    if (strlen(method) != method_length || mmc_request_known_method(method) == NULL)
        luaL_argerror(L, 2,
                      "method must be \"GET\", \"POST\", \"PUT\", \"DELETE\" or \"PATCH\"");
    if (lua_type(L, 3) != LUA_TSTRING)
        luaL_argerror(L, 3,
                      lua_pushfstring(L, "path must be a string, got %s", luaL_typename(L, 3)));
    const char *path = lua_tolstring(L, 3, &path_length);
    const char *problem = mmc_request_path_problem(path, path_length);
    if (problem != NULL)
        luaL_argerror(L, 3, problem);
    control_options options;
    read_options(L, 4, &options);
    problem = mmc_request_body_problem(method, options.body != NULL);
    if (problem != NULL)
        luaL_argerror(L, 4, problem);
    if (box->conference == NULL)
        luaL_error(L, "mmc: the control handle is closed");

    mmc_compat_getuservalue(L, 1);
    lua_rawgeti(L, -1, 1); /* the client */
    int client_at = lua_gettop(L);
    mmc_api_call api_call = {.method = method,
                             .path = path,
                             .path_length = path_length,
                             .query_pairs = options.pairs,
                             .query_pair_count = options.pair_count,
                             .body = options.body,
                             .body_length = options.body_length,
                             .headers = options.header_count ? options.headers : NULL,
                             .header_count = options.header_count,
                             .retry = options.retry};
    mmc_lua_call call;
    mmc_client *client = mmc_lua_begin_call(L, client_at, &call);
    mmc_conference_set_hook(box->conference, report_exchanges, &call);
    mmc_conference_request(box->conference, client, &api_call, &call.result);
    mmc_conference_set_hook(box->conference, NULL, NULL);
    /* As mmc_lua_finish_call, but each exchange was reported as it happened. */
    int store_yielded = call.has_store && mmc_lua_token_store_unbind(&call.store);
    mmc_client_use_token_cache(client, NULL);
    call.box->busy = 0;
    if (store_yielded) {
        mmc_result_free(&call.result);
        luaL_error(L, "%s", MMC_LUA_TOKEN_STORE_YIELDED);
    }
    return mmc_lua_push_result(L, &call.result);
}

/* client:conference(conference_id, { password = host_password }) */
static int client_conference(lua_State *L) {
    mmc_lua_check_self(L, "conference");
    lua_settop(L, 3);
    if (lua_type(L, 2) != LUA_TSTRING)
        luaL_argerror(L, 2,
                      lua_pushfstring(L, "conference_id must be a string, got %s",
                                      luaL_typename(L, 2)));
    size_t id_length = 0, password_length = 0;
    const char *id = lua_tolstring(L, 2, &id_length);
    const char *problem = mmc_conference_id_problem(id, id_length);
    if (problem == NULL && strlen(id) != id_length)
        problem = "conference_id must not hold control characters";
    if (problem != NULL)
        luaL_argerror(L, 2, problem);
    if (lua_type(L, 3) != LUA_TTABLE)
        luaL_argerror(L, 3,
                      lua_pushfstring(L, "options must be a table { password = ... }, got %s",
                                      luaL_typename(L, 3)));
    lua_pushnil(L);
    while (lua_next(L, 3) != 0) {
        if (lua_type(L, -2) != LUA_TSTRING || strcmp(lua_tostring(L, -2), "password") != 0) {
            lua_pushvalue(L, -2);
            luaL_argerror(L, 3,
                          lua_pushfstring(L, "unknown option '%s' (password)",
                                          mmc_compat_tolstring(L, -1)));
        }
        lua_pop(L, 1);
    }
    lua_getfield(L, 3, "password");
    if (lua_type(L, -1) != LUA_TSTRING)
        luaL_argerror(L, 3,
                      lua_pushfstring(L, "options.password (the host password) must be a string, "
                                         "got %s",
                                      luaL_typename(L, -1)));
    const char *password = lua_tolstring(L, -1, &password_length);
    problem = mmc_conference_password_problem(password, password_length);
    if (problem == NULL && strlen(password) != password_length)
        problem = "options.password must not hold control characters";
    if (problem != NULL)
        luaL_argerror(L, 3, problem);

    conference_box *box = mmc_compat_newuserdata(L, sizeof *box);
    box->conference = NULL;
    if (luaL_newmetatable(L, CONFERENCE_METATABLE)) {
        static const luaL_Reg methods[] = {{"request", conference_request}, {NULL, NULL}};
        lua_pushcfunction(L, conference_gc);
        lua_setfield(L, -2, "__gc");
        lua_pushcfunction(L, conference_tostring);
        lua_setfield(L, -2, "__tostring");
        lua_newtable(L);
        lua_pushvalue(L, lua_upvalueindex(1));
        mmc_compat_setfuncs(L, methods, 1);
        lua_setfield(L, -2, "__index");
        lua_pushliteral(L, "protected");
        lua_setfield(L, -2, "__metatable");
    }
    lua_setmetatable(L, -2);
    lua_createtable(L, 1, 0); /* the user value: a table (Lua 5.1 wants one) holding the client */
    lua_pushvalue(L, 1);
    lua_rawseti(L, -2, 1);
    mmc_compat_setuservalue(L, -2);
    box->conference =
        mmc_conference_new(id, id_length, password, password_length, mmc_lua_state_memory(L));
    if (box->conference == NULL)
        luaL_error(L, "mmc: out of memory");
    return 1;
}

const luaL_Reg mmc_lua_conference_methods[] = {
    {"conference", client_conference},
    {NULL, NULL},
};
