/* lua_mmc_call: one call's life as Lua sees it, and its results as Lua values
 * (lua_mmc_call.h). */
#include "lua_mmc_call.h"

#include <string.h>

#include "src/json_scan.h"

/* ---- results ---------------------------------------------------------------------------- */

/* lua-cjson decodes every JSON number as a float: under Lua 5.3 and 5.4 a role of 1 would read
 * 1.0 (and print so). Turns each float with an integral value within +-2^53 (where a double
 * holds every integer exactly) of the decoded value at `index` into an integer, in place, at
 * every depth (bounded by the decoder's MMC_JSON_MAX_DEPTH). Lua 5.1, 5.2 and LuaJIT have only
 * floats, which already print as 1. */
void mmc_lua_integers_from_json(lua_State *L, int index) {
#if LUA_VERSION_NUM >= 503
    if (!lua_istable(L, index))
        return;
    index = mmc_compat_absindex(L, index);
    luaL_checkstack(L, 3, "decoded JSON");
    lua_pushnil(L);
    while (lua_next(L, index) != 0) {
        if (lua_type(L, -1) == LUA_TNUMBER && !lua_isinteger(L, -1)) {
            lua_Number number = lua_tonumber(L, -1);
            if (number >= -9007199254740992.0 && number <= 9007199254740992.0 &&
                number == (lua_Number)(lua_Integer)number) {
                lua_pushvalue(L, -2);
                lua_pushinteger(L, (lua_Integer)number);
                lua_rawset(L, index); /* an existing key: lua_next goes on as before */
            }
        } else if (lua_istable(L, -1)) {
            mmc_lua_integers_from_json(L, -1);
        }
        lua_pop(L, 1);
    }
#else
    (void)L;
    (void)index;
#endif
}

/* Decodes a JSON body with the module's private cjson. Pushes the value, or nil when the body
 * is empty, or is not the strict JSON the core checked for (cjson would take invalid UTF-8),
 * or cjson refuses it: the core has then set a message. */
void mmc_lua_push_decoded_body(lua_State *L, const mmc_result *result) {
    if (result->body == NULL || result->body_length == 0 || !result->body_is_json) {
        lua_pushnil(L);
        return;
    }
    lua_getfield(L, lua_upvalueindex(1), STATE_JSON_DECODE);
    lua_pushlstring(L, result->body, result->body_length);
    if (lua_pcall(L, 1, 1, 0) != LUA_OK) {
        lua_pop(L, 1);
        lua_pushnil(L);
        return;
    }
    mmc_lua_integers_from_json(L, -1);
    if (lua_istable(L, -1)) {
        /* The token lives in the client and nowhere else. */
        lua_pushnil(L);
        lua_setfield(L, -2, "accessToken");
        lua_pushnil(L);
        lua_setfield(L, -2, "refreshToken");
    }
}

int mmc_lua_push_result(lua_State *L, mmc_result *result) {
    if (result->status == 0) {
        lua_pushnil(L);
        lua_pushstring(L, mmc_buffer_text(&result->message));
        mmc_result_free(result);
        return 2;
    }
    lua_pushinteger(L, (lua_Integer)result->status);
    if (result->message.length > 0)
        lua_pushlstring(L, result->message.data, result->message.length);
    else
        lua_pushnil(L);
    mmc_buffer_free(&result->message);
    mmc_lua_push_decoded_body(L, result);
    return 3;
}

/* ---- calls ------------------------------------------------------------------------------ */

/* Starts a call on the client at `client_arg` (raising when it cannot make one) and returns
 * the core client; the call's result is call->result. Leaves one value on the stack: the
 * client's token store, or nil. */
mmc_client *mmc_lua_begin_call(lua_State *L, int client_arg, mmc_lua_call *call) {
    mmc_client *client = mmc_lua_check_ready_client(L, client_arg);
    call->box = lua_touserdata(L, client_arg);
    call->L = L;
    call->client_arg = mmc_compat_absindex(L, client_arg);
    mmc_compat_getuservalue(L, client_arg);
    lua_getfield(L, -1, CLIENT_TOKEN_STORE);
    lua_remove(L, -2);
    const mmc_token_cache *cache = NULL;
    if (!lua_isnil(L, -1))
        cache = mmc_lua_token_store_bind(&call->store, L, -1, mmc_client_timeout(client));
    call->store.memory = mmc_client_memory(client);
    call->has_store = cache != NULL;
    mmc_client_use_token_cache(client, cache);
    call->box->busy = 1;
    mmc_result_init_in(&call->result, mmc_client_memory(client));
    return client;
}

/* Pushes the on_request event of one exchange. */
static void push_exchange(lua_State *L, const mmc_exchange_log *log, const mmc_exchange *entry) {
    lua_createtable(L, 0, 8);
    lua_pushstring(L, entry->method);
    lua_setfield(L, -2, "method");
    lua_pushlstring(L, mmc_exchange_path(log, entry), entry->path_length);
    lua_setfield(L, -2, "path");
    if (entry->status != 0) {
        lua_pushinteger(L, (lua_Integer)entry->status);
        lua_setfield(L, -2, "status");
    }
    if (entry->error != NULL) {
        lua_pushstring(L, entry->error);
        lua_setfield(L, -2, "error");
    }
    lua_pushnumber(L, (lua_Number)entry->seconds);
    lua_setfield(L, -2, "seconds");
    lua_pushinteger(L, entry->attempt);
    lua_setfield(L, -2, "attempt");
    lua_pushstring(L, entry->request_id);
    lua_setfield(L, -2, "request_id");
    if (entry->retry_in >= 0) {
        lua_pushnumber(L, (lua_Number)entry->retry_in);
        lua_setfield(L, -2, "retry_in");
    }
}

/* Calls the hook (argument 2) once per exchange of the log (argument 1, a light userdata), in
 * order. Runs protected, so that even running out of memory while building an event cannot
 * raise out of the call; what the hook itself raises is caught for each event. */
static int call_hook_for_each(lua_State *L) {
    const mmc_exchange_log *log = lua_touserdata(L, 1);
    luaL_checkstack(L, 4, "on_request");
    for (size_t i = 0; i < log->count; i++) {
        lua_pushvalue(L, 2);
        push_exchange(L, log, &log->entries[i]);
        if (lua_pcall(L, 1, 0, 0) != LUA_OK)
            lua_pop(L, 1);
    }
    return 0;
}

/* Calls the client's on_request hook once per exchange of the call just made, in order. It
 * runs after the core call has returned (no Lua ever runs inside one) and while the client is
 * still marked busy, so the hook cannot start a call on it that would overwrite the result
 * not yet returned. What the hook raises is caught and dropped: it never changes the result. */
void mmc_lua_report_log(mmc_lua_call *call, const mmc_exchange_log *log) {
    lua_State *L = call->L;
    if (log->count == 0)
        return;
    lua_pushcfunction(L, call_hook_for_each);
    lua_pushlightuserdata(L, (void *)log);
    mmc_compat_getuservalue(L, call->client_arg);
    lua_getfield(L, -1, CLIENT_ON_REQUEST);
    lua_remove(L, -2);
    if (lua_pcall(L, 2, 0, 0) != LUA_OK)
        lua_pop(L, 1);
}

void mmc_lua_report_exchanges(mmc_lua_call *call) {
    mmc_lua_report_log(call, mmc_client_exchanges(call->box->client));
}

/* Ends the call begun by mmc_lua_begin_call, so that the client is ready for another, and pushes its
 * result (status, message, body: see mmc_lua_push_result). Raises instead (after freeing the result)
 * when its token store turned out to be one that can never work here. */
int mmc_lua_finish_call(lua_State *L, mmc_lua_call *call) {
    int store_yielded = call->has_store && mmc_lua_token_store_unbind(&call->store);
    mmc_client_use_token_cache(call->box->client, NULL);
    mmc_lua_report_exchanges(call);
    call->box->busy = 0;
    if (store_yielded) {
        mmc_result_free(&call->result);
        luaL_error(L, "%s", MMC_LUA_TOKEN_STORE_YIELDED);
    }
    return mmc_lua_push_result(L, &call->result);
}
