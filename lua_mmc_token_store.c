#include "lua_mmc_token_store.h"

#include <stdio.h>
#include <string.h>

#include "src/clock.h"

#define LOCK_SUFFIX ":lock"
#define LOCK_VALUE "locked"
#define POLL_INTERVAL 0.01 /* seconds between two looks while another client logs in */

/* One store method call, described for call_store_method. */
typedef struct store_request {
    const char *method;
    const char *key;
    const char *value; /* NULL: the method takes the key alone */
    size_t value_length;
    double ttl;
} store_request;

typedef enum { STORE_RAISED = -1, STORE_NO_METHOD = 0, STORE_RAN = 1 } store_outcome;

/* Runs store:method(key [, value, ttl]) with the store as argument 1 and the request as
 * argument 2. Returns whether the method exists, and its first result. Called through
 * lua_pcall, so an error anywhere (even in an __index) is caught. */
static int call_store_method(lua_State *L) {
    const store_request *request = lua_touserdata(L, 2);
    lua_getfield(L, 1, request->method);
    if (lua_isnil(L, -1)) {
        lua_pushboolean(L, 0);
        lua_pushnil(L);
        return 2;
    }
    lua_pushvalue(L, 1);
    lua_pushstring(L, request->key);
    int argument_count = 2;
    if (request->value != NULL) {
        lua_pushlstring(L, request->value, request->value_length);
        lua_pushnumber(L, (lua_Number)request->ttl);
        argument_count += 2;
    }
    lua_call(L, argument_count, 1);
    lua_pushboolean(L, 1);
    lua_insert(L, -2);
    return 2;
}

/* 1 when the error at the top of the stack is Lua refusing a yield. Its wording differs:
 * "attempt to yield across metamethod/C-call boundary" (5.1), "... across C-call boundary"
 * (LuaJIT, OpenResty), "... across a C-call boundary" and "attempt to yield from outside a
 * coroutine" (5.2 to 5.4). */
static int is_yield_error(lua_State *L) {
    const char *message = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
    return message != NULL && strstr(message, "attempt to yield") != NULL;
}

/* Calls the method and leaves one value on the stack: its first result, or nil when it
 * raised or does not exist. Once a method tried to yield, none is called again. */
static store_outcome store_call(mmc_lua_token_store *binding, const store_request *request) {
    lua_State *L = binding->L;
    if (binding->yielded) {
        lua_pushnil(L);
        return STORE_RAISED;
    }
    lua_pushcfunction(L, call_store_method);
    lua_pushvalue(L, binding->store);
    lua_pushlightuserdata(L, (void *)request);
    if (lua_pcall(L, 2, 2, 0) != LUA_OK) {
        binding->yielded |= is_yield_error(L);
        lua_pop(L, 1);
        lua_pushnil(L);
        return STORE_RAISED;
    }
    store_outcome outcome = lua_toboolean(L, -2) ? STORE_RAN : STORE_NO_METHOD;
    lua_remove(L, -2);
    return outcome;
}

/* 1 when the store holds a string under `key` other than `stale`, copied into `value`. */
static int store_get(mmc_lua_token_store *binding, const char *key, const char *stale,
                     mmc_buffer *value) {
    store_request request = {"get", key, NULL, 0, 0};
    store_call(binding, &request);
    int found = 0;
    if (lua_type(binding->L, -1) == LUA_TSTRING) {
        size_t length = 0;
        const char *text = lua_tolstring(binding->L, -1, &length);
        if (length > 0 && (stale == NULL || strcmp(text, stale) != 0)) {
            mmc_buffer_clear(value);
            found = mmc_buffer_append(value, text, length) == 0;
        }
    }
    lua_pop(binding->L, 1);
    return found;
}

/* 1 when store:add took the lock for this client, 0 when another client holds it, -1 when
 * the store cannot lock (no add method, or it raised): then there is nobody to wait for. */
static int take_lock(mmc_lua_token_store *binding) {
    store_request request = {"add", binding->lock_key, LOCK_VALUE, strlen(LOCK_VALUE),
                             binding->lock_ttl};
    store_outcome outcome = store_call(binding, &request);
    int taken = lua_toboolean(binding->L, -1);
    lua_pop(binding->L, 1);
    return outcome == STORE_RAN ? taken : -1;
}

static void release_lock(mmc_lua_token_store *binding) {
    if (!binding->holds_lock)
        return;
    store_request request = {"delete", binding->lock_key, NULL, 0, 0};
    store_call(binding, &request);
    lua_pop(binding->L, 1);
    binding->holds_lock = 0;
}

/* The core's load: the store's token if it has one; otherwise the lock, or a wait for the
 * client holding it (taking the lock over when it lets go without sharing a token). -1 as
 * soon as the store yielded: the call must fail rather than log in without it. */
static int store_load(void *context, const char *key, const char *stale, double may_wait,
                      mmc_buffer *value) {
    mmc_lua_token_store *binding = context;
    if (store_get(binding, key, stale, value))
        return 1;
    if (binding->yielded)
        return -1;
    if (snprintf(binding->lock_key, sizeof binding->lock_key, "%s%s", key, LOCK_SUFFIX) >=
        (int)sizeof binding->lock_key)
        return 0;
    double give_up = mmc_clock_monotonic() + may_wait;
    for (;;) {
        int lock = take_lock(binding);
        if (binding->yielded)
            return -1;
        if (lock == 1) {
            binding->holds_lock = 1;
            /* The client that held the lock may have shared its token and let go between our
             * look and our lock: look once more before logging in. */
            if (store_get(binding, key, stale, value)) {
                release_lock(binding);
                return 1;
            }
            return binding->yielded ? -1 : 0;
        }
        if (lock == -1)
            return 0;
        double left = give_up - mmc_clock_monotonic();
        if (left <= 0)
            return 0;
        mmc_clock_sleep(left < POLL_INTERVAL ? left : POLL_INTERVAL);
        if (store_get(binding, key, stale, value))
            return 1;
        if (binding->yielded)
            return -1;
    }
}

/* The core's save: shares the token (if any) and lets go of the lock. */
static void store_save(void *context, const char *key, const char *value, size_t length,
                       double ttl) {
    mmc_lua_token_store *binding = context;
    if (value != NULL) {
        store_request request = {"set", key, value, length, ttl};
        store_call(binding, &request);
        lua_pop(binding->L, 1);
    }
    release_lock(binding);
}

/* Returns store.get and store.set; through lua_pcall, since indexing may raise. */
static int index_methods(lua_State *L) {
    lua_getfield(L, 1, "get");
    lua_getfield(L, 1, "set");
    return 2;
}

/* The core's drop (after a logout): takes the logged-out token out of the store when the
 * store still holds it, with delete, or else by setting an empty value that soon expires. */
static void store_drop(void *context, const char *key, const char *value) {
    mmc_lua_token_store *binding = context;
    mmc_buffer current;
    mmc_buffer_init_in(&current, binding->memory);
    int holds_it = store_get(binding, key, NULL, &current) && strcmp(current.data, value) == 0;
    mmc_buffer_free(&current);
    if (!holds_it)
        return;
    store_request remove = {"delete", key, NULL, 0, 0};
    if (store_call(binding, &remove) != STORE_RAN) {
        store_request blank = {"set", key, "", 0, 1};
        lua_pop(binding->L, 1);
        store_call(binding, &blank);
    }
    lua_pop(binding->L, 1);
}

void mmc_lua_check_token_store(lua_State *L, int arg, int index) {
    int type = lua_type(L, index);
    if (type != LUA_TTABLE && type != LUA_TUSERDATA)
        luaL_argerror(L, arg,
                      lua_pushfstring(L,
                                      "option 'token_store' must be a table or userdata with "
                                      "get and set methods, got %s",
                                      luaL_typename(L, index)));
    lua_pushcfunction(L, index_methods);
    lua_pushvalue(L, index);
    if (lua_pcall(L, 1, 2, 0) != LUA_OK)
        luaL_argerror(L, arg, "option 'token_store' cannot be indexed");
    const char *missing = lua_isnil(L, -2) ? "get" : lua_isnil(L, -1) ? "set" : NULL;
    if (missing != NULL)
        luaL_argerror(L, arg,
                      lua_pushfstring(L, "option 'token_store' has no '%s' method", missing));
    lua_pop(L, 2);
}

const mmc_token_cache *mmc_lua_token_store_bind(mmc_lua_token_store *binding, lua_State *L,
                                                int store, double lock_ttl) {
    binding->cache.context = binding;
    binding->cache.load = store_load;
    binding->cache.save = store_save;
    binding->cache.drop = store_drop;
    binding->L = L;
    binding->store = mmc_compat_absindex(L, store);
    binding->lock_ttl = lock_ttl;
    binding->holds_lock = 0;
    binding->yielded = 0;
    binding->lock_key[0] = '\0';
    return &binding->cache;
}

int mmc_lua_token_store_unbind(mmc_lua_token_store *binding) {
    release_lock(binding);
    binding->L = NULL;
    return binding->yielded;
}
