/* lua_mmc_push: receiving pushes: mmc.verify_push, mmc.push_reply, mmc.push_event_id (the
 * checks themselves are src/push.c's). */
#include <string.h>

#include "lua_mmc_call.h"
#include "lua_mmc_faces.h"
#include "src/clock.h"
#include "src/push.h"

/* ---- receiving pushes ----------------------------------------------------------------- */

/* The subscriber keys at `arg` (a string, or a list of them, the current key first) into an
 * array that lives on the stack (with the strings, which the table at `arg` keeps alive);
 * raises naming the argument when they are wrong. Sets `*count`. */
static mmc_push_key *check_push_keys(lua_State *L, int arg, size_t *count) {
    if (lua_type(L, arg) == LUA_TSTRING) {
        mmc_push_key *key = mmc_compat_newuserdata(L, sizeof *key);
        key->data = lua_tolstring(L, arg, &key->length);
        if (key->length == 0)
            luaL_argerror(L, arg, "subscriber_key must not be empty");
        *count = 1;
        return key;
    }
    if (lua_type(L, arg) != LUA_TTABLE)
        luaL_argerror(L, arg,
                      lua_pushfstring(L,
                                      "subscriber_key must be a string or a list of strings, "
                                      "got %s",
                                      luaL_typename(L, arg)));
    size_t n = 0;
    for (;;) {
        lua_rawgeti(L, arg, (int)n + 1);
        int absent = lua_isnil(L, -1);
        size_t key_length = 0;
        if (lua_type(L, -1) == LUA_TSTRING)
            lua_tolstring(L, -1, &key_length);
        if (!absent && key_length == 0)
            luaL_argerror(
                L, arg,
                lua_pushfstring(
                    L, "subscriber_key[%d] must be a non-empty string, got %s", (int)n + 1,
                    lua_type(L, -1) == LUA_TSTRING ? "an empty string" : luaL_typename(L, -1)));
        lua_pop(L, 1);
        if (absent)
            break;
        n++;
    }
    if (n == 0)
        luaL_argerror(L, arg, "subscriber_key is an empty list");
    mmc_push_key *keys = mmc_compat_newuserdata(L, n * sizeof *keys);
    for (size_t i = 0; i < n; i++) {
        lua_rawgeti(L, arg, (int)i + 1);
        keys[i].data = lua_tolstring(L, -1, &keys[i].length);
        lua_pop(L, 1); /* the table keeps the string */
    }
    *count = n;
    return keys;
}

/* mmc.verify_push(body, subscriber_key [, max_age_seconds]): the decoded push when it is
 * authentic (and recent enough), else nil and the reason. subscriber_key is a key or a list
 * of keys (a rotation: any of them verifies). A hostile body never raises; only wrong
 * arguments do. */
static int module_verify_push(lua_State *L) {
    size_t body_length = 0, key_count = 0;
    if (lua_type(L, 1) != LUA_TSTRING)
        luaL_argerror(L, 1,
                      lua_pushfstring(L, "body must be a string, got %s", luaL_typename(L, 1)));
    const char *body = lua_tolstring(L, 1, &body_length);
    int given = lua_gettop(L);
    const mmc_push_key *keys = check_push_keys(L, 2, &key_count); /* pushed above the arguments */
    double max_age = 0;
    if (given >= 3 && !lua_isnil(L, 3)) {
        max_age = lua_type(L, 3) == LUA_TNUMBER ? (double)lua_tonumber(L, 3) : -1;
        if (!(max_age > 0 && max_age <= 1e9))
            luaL_argerror(L, 3, "max_age_seconds must be a number of seconds above 0");
    }

    mmc_buffer reason;
    mmc_buffer_init_in(&reason, mmc_lua_state_memory(L));
    long long now_ms = (long long)(mmc_clock_unix_precise() * 1000);
    if (mmc_push_verify(body, body_length, keys, key_count, max_age, now_ms, &reason) != 0) {
        lua_pushnil(L);
        lua_pushlstring(L, reason.data, reason.length);
        mmc_buffer_free(&reason);
        return 2;
    }
    mmc_buffer_free(&reason);
    lua_settop(L, 1);
    lua_getfield(L, lua_upvalueindex(1), STATE_JSON_DECODE);
    lua_pushvalue(L, 1);
    if (lua_pcall(L, 1, 1, 0) != LUA_OK || !lua_istable(L, -1)) {
        lua_pushnil(L);
        lua_pushstring(L, "the push is authentic but its JSON could not be decoded");
        return 2;
    }
    mmc_lua_integers_from_json(L, -1);
    return 1;
}

/* mmc.push_event_id(body): the id of the event a (verified) push carries, the same whatever
 * envelope it came in (see push.h); nil and the reason for a body with no appID or eventInfo. */
static int module_push_event_id(lua_State *L) {
    size_t body_length = 0;
    if (lua_type(L, 1) != LUA_TSTRING)
        luaL_argerror(L, 1,
                      lua_pushfstring(L, "body must be a string, got %s", luaL_typename(L, 1)));
    const char *body = lua_tolstring(L, 1, &body_length);
    char id[MMC_SHA256_HEX_LENGTH + 1];
    mmc_buffer reason;
    mmc_buffer_init_in(&reason, mmc_lua_state_memory(L));
    if (mmc_push_event_id(body, body_length, id, &reason) != 0) {
        lua_pushnil(L);
        lua_pushlstring(L, reason.data, reason.length);
        mmc_buffer_free(&reason);
        return 2;
    }
    mmc_buffer_free(&reason);
    lua_pushstring(L, id);
    return 1;
}

/* mmc.push_reply(push): the status and body to answer a verified push with. */
static int module_push_reply(lua_State *L) {
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_getfield(L, 1, "eventInfo");
    const char *event = NULL;
    if (lua_istable(L, -1)) {
        lua_getfield(L, -1, "event");
        event = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
    }
    lua_pushinteger(L, 200);
    if (event == NULL || strcmp(event, MMC_PUSH_VERIFY_EVENT) != 0) {
        lua_pushliteral(L, "");
        return 2;
    }
    lua_getfield(L, 1, "nonce");
    size_t nonce_length = 0;
    const char *nonce = lua_type(L, -1) == LUA_TSTRING ? lua_tolstring(L, -1, &nonce_length) : NULL;
    if (nonce == NULL)
        luaL_argerror(L, 1, "a meeting.verify push must have a string 'nonce'");
    mmc_buffer reply;
    mmc_buffer_init_in(&reply, mmc_lua_state_memory(L));
    if (mmc_push_verify_reply(nonce, nonce_length, &reply) != 0) {
        mmc_buffer_free(&reply);
        luaL_argerror(L, 1, "the push's nonce is not valid UTF-8");
    }
    lua_pop(L, 1);
    lua_pushlstring(L, reply.data, reply.length);
    mmc_buffer_free(&reply);
    return 2;
}

const luaL_Reg mmc_lua_push_functions[] = {
    {"verify_push", module_verify_push},
    {"push_reply", module_push_reply},
    {"push_event_id", module_push_event_id},
    {NULL, NULL},
};
