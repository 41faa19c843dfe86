/*
 * lua_mmc_compat: the few Lua C API differences between the versions mmc builds for
 * (Lua 5.1, 5.2, 5.3, 5.4 and LuaJIT 2.1, from one source).
 *
 * mmc is written against the Lua 5.4 API. Whatever an older API lacks is bridged here, and
 * only here, under names of our own (mmc_compat_*), as static inline functions: nothing
 * collides with a host that already defines some 5.2 functions itself (LuaJIT exports
 * luaL_setfuncs, luaL_setmetatable and lua_tointegerx, the PUC 5.1 library does not), and
 * nothing is exported from the module.
 */
#ifndef LUA_MMC_COMPAT_H
#define LUA_MMC_COMPAT_H

#include <lauxlib.h>
#include <lua.h>

#ifndef LUA_OK
#define LUA_OK 0
#endif

/* A userdata with one user value: a table the Lua face keeps per-object Lua values in. */
#if LUA_VERSION_NUM >= 504
#define mmc_compat_newuserdata(L, size) lua_newuserdatauv((L), (size), 1)
#define mmc_compat_setuservalue(L, index) ((void)lua_setiuservalue((L), (index), 1))
#define mmc_compat_getuservalue(L, index) ((void)lua_getiuservalue((L), (index), 1))
#elif LUA_VERSION_NUM >= 502
#define mmc_compat_newuserdata(L, size) lua_newuserdata((L), (size))
#define mmc_compat_setuservalue(L, index) lua_setuservalue((L), (index))
#define mmc_compat_getuservalue(L, index) ((void)lua_getuservalue((L), (index)))
#else
/* 5.1 and LuaJIT: a userdata's environment table serves as its user value. */
#define mmc_compat_newuserdata(L, size) lua_newuserdata((L), (size))
#define mmc_compat_setuservalue(L, index) ((void)lua_setfenv((L), (index)))
#define mmc_compat_getuservalue(L, index) lua_getfenv((L), (index))
#endif

#if LUA_VERSION_NUM >= 502
#define mmc_compat_absindex(L, index) lua_absindex((L), (index))
#else
#define mmc_compat_absindex(L, index) \
    ((index) > 0 || (index) <= LUA_REGISTRYINDEX ? (index) : lua_gettop(L) + (index) + 1)
#endif

#if LUA_VERSION_NUM >= 502
#define mmc_compat_setfuncs(L, functions, upvalues) luaL_setfuncs((L), (functions), (upvalues))
#define mmc_compat_setmetatable(L, name) luaL_setmetatable((L), (name))
#else
/* luaL_setfuncs of 5.2: sets each function into the table below `upvalues` values, each with
 * those values as its upvalues, then pops them. */
static inline void mmc_compat_setfuncs(lua_State *L, const luaL_Reg *functions, int upvalues) {
    luaL_checkstack(L, upvalues, "too many upvalues");
    for (; functions->name != NULL; functions++) {
        for (int i = 0; i < upvalues; i++)
            lua_pushvalue(L, -upvalues);
        lua_pushcclosure(L, functions->func, upvalues);
        lua_setfield(L, -(upvalues + 2), functions->name);
    }
    lua_pop(L, upvalues);
}

static inline void mmc_compat_setmetatable(lua_State *L, const char *name) {
    luaL_getmetatable(L, name);
    lua_setmetatable(L, -2);
}
#endif

/* The integer at `index`, with *is_integer set only when the value is a number with an exact
 * integer value (as 5.3's lua_tointegerx does; 5.1 and 5.2 would truncate 1.5 to 1). */
#if LUA_VERSION_NUM >= 503
#define mmc_compat_tointegerx(L, index, is_integer) lua_tointegerx((L), (index), (is_integer))
#else
static inline lua_Integer mmc_compat_tointegerx(lua_State *L, int index, int *is_integer) {
    *is_integer = 0;
    if (lua_type(L, index) != LUA_TNUMBER)
        return 0;
    lua_Number number = lua_tonumber(L, index);
    /* The range test is written so that NaN fails it too. */
    if (!(number >= -9007199254740992.0 && number <= 9007199254740992.0))
        return 0;
    lua_Integer integer = (lua_Integer)number;
    if ((lua_Number)integer != number)
        return 0;
    *is_integer = 1;
    return integer;
}
#endif

/* The length of the table at `index`, without metamethods. */
#if LUA_VERSION_NUM >= 502
#define mmc_compat_rawlen(L, index) lua_rawlen((L), (index))
#else
#define mmc_compat_rawlen(L, index) lua_objlen((L), (index))
#endif

/* Pushes a printable form of any value and returns it, as 5.2's luaL_tolstring does (without
 * __tostring, which mmc never needs for the keys and numbers it shows). */
#if LUA_VERSION_NUM >= 502
#define mmc_compat_tolstring(L, index) luaL_tolstring((L), (index), NULL)
#else
static inline const char *mmc_compat_tolstring(lua_State *L, int index) {
    switch (lua_type(L, index)) {
    case LUA_TNUMBER:
    case LUA_TSTRING:
        lua_pushvalue(L, index);
        lua_tostring(L, -1); /* a number becomes its text in place */
        break;
    case LUA_TBOOLEAN:
        lua_pushstring(L, lua_toboolean(L, index) ? "true" : "false");
        break;
    case LUA_TNIL:
        lua_pushliteral(L, "nil");
        break;
    default:
        lua_pushfstring(L, "%s: %p", luaL_typename(L, index), lua_topointer(L, index));
        break;
    }
    return lua_tostring(L, -1);
}
#endif

#endif
