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
#include <string.h>

#include "lua_mmc_call.h"
#include "lua_mmc_faces.h"
#include "lua_mmc_request.h"
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
    const char *method, *path, *problem;
    size_t path_length;
    mmc_lua_check_method_and_path(L, 2, &method, &path, &path_length);
    if (!lua_isnil(L, 4) && lua_type(L, 4) != LUA_TTABLE)
        luaL_argerror(L, 4,
                      lua_pushfstring(L, "options must be a table, got %s", luaL_typename(L, 4)));
    static const char *const own_headers[] = {"X-Conference-Authorization", "X-Password",
                                              "X-Login-Type", NULL};
    mmc_lua_request_options options;
    options.index = 0;
    options.own_query = "conferenceID";
    options.own_headers = own_headers;
    mmc_lua_read_request_options(L, 4, &options);
    problem = mmc_lua_request_options_problem(method, &options);
    if (problem != NULL)
        luaL_argerror(L, 4, problem);
    if (box->conference == NULL)
        luaL_error(L, "mmc: the control handle is closed");

    mmc_compat_getuservalue(L, 1);
    lua_rawgeti(L, -1, 1); /* the client */
    int client_at = lua_gettop(L);
    mmc_api_call api_call = mmc_lua_api_call_of(method, path, path_length, &options);
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
