/*
 * lua_mmc_token_store: a Lua object as a client's token cache (the `token_store` option).
 *
 * A store is any object with store:get(key) and store:set(key, value, ttl): exactly the shape
 * of ngx.shared.DICT, and of the Redis adapter (mmc.redis_store). When it also has
 * store:add(key, value, ttl), as both of those do, a client that finds no token first takes a
 * lock (add of key .. ":lock", living at most the client's timeout) and only then logs in,
 * while the others wait for its token: a cold fleet logs in once, not once per worker. The
 * lock is released with store:delete(key) when there is one, else it expires.
 *
 * Everything the store does runs in protected mode. A store that raises, answers nonsense or
 * is unreachable only means that the client authenticates by itself, as it would without one.
 * A binding lives for one call: nothing here keeps a lua_State beyond it.
 *
 * One failure is not a store's bad luck but a store that can never work: a method that yields
 * (a cosocket, as lua-resty-redis uses, or coroutine.yield). The store is called from inside a
 * C call, where Lua cannot yield, so the yield fails every time. The binding then stops using
 * the store, makes the core's load fail the call before anything is sent, and the Lua face
 * raises MMC_LUA_TOKEN_STORE_YIELDED once the call is over.
 */
#ifndef LUA_MMC_TOKEN_STORE_H
#define LUA_MMC_TOKEN_STORE_H

#include "lua_mmc_compat.h"
#include "src/token_cache.h"

#define MMC_LUA_TOKEN_STORE_YIELDED                                                                \
    "mmc: the token store yielded (a cosocket or coroutine.yield), but mmc calls it from inside "  \
    "a C call, where nothing can yield: cosocket stores cannot be called from inside a C call; "   \
    "use ngx.shared in nginx, or mmc.redis_store over LuaSocket in a worker thread"

typedef struct mmc_lua_token_store {
    mmc_token_cache cache; /* what the core calls */
    lua_State *L;
    int store;       /* stack index of the store object during the call */
    double lock_ttl; /* seconds */
    int holds_lock;
    int yielded; /* a method tried to yield: the store is not called again */
    char lock_key[128];
    mmc_memory *memory; /* the client's account (memory.h), for the binding's own scratch */
} mmc_lua_token_store;

/* Raises (blaming argument `arg`) unless the value at `index` is a table or userdata with get
 * and set. */
void mmc_lua_check_token_store(lua_State *L, int arg, int index);

/* Binds the store at stack index `store` for one call of a client whose timeout is `lock_ttl`
 * seconds. Returns the cache to hand to the core. */
const mmc_token_cache *mmc_lua_token_store_bind(mmc_lua_token_store *binding, lua_State *L,
                                                int store, double lock_ttl);

/* Ends the binding: lets go of the lock if the call still held it. Returns 1 when a method of
 * the store tried to yield during the call (raise MMC_LUA_TOKEN_STORE_YIELDED), else 0. */
int mmc_lua_token_store_unbind(mmc_lua_token_store *binding);

#endif
