/*
 * lua_mmc_compat: the few Lua C API differences between the versions mmc builds for.
 *
 * mmc is written against the Lua 5.4 API. Anything older is bridged here, and only here, with
 * names of our own (mmc_compat_*), so that nothing collides with a host that already defines
 * the 5.2+ functions itself (LuaJIT does, for some of them).
 */
#ifndef LUA_MMC_COMPAT_H
#define LUA_MMC_COMPAT_H

#include <lauxlib.h>
#include <lua.h>

#if LUA_VERSION_NUM >= 504
#define mmc_compat_newuserdata(L, size) lua_newuserdatauv((L), (size), 0)
#else
#define mmc_compat_newuserdata(L, size) lua_newuserdata((L), (size))
#endif

#if LUA_VERSION_NUM < 502
#error "mmc needs the Lua 5.2+ C API (Lua 5.1 and LuaJIT support is not built yet)"
#endif

#endif
