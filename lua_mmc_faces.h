/*
 * lua_mmc_faces: the functions each file of the Lua face adds to the module (luaopen_mmc in
 * lua_mmc.c registers them all, each with the module's state as its first upvalue).
 */
#ifndef LUA_MMC_FACES_H
#define LUA_MMC_FACES_H

#include "lua_mmc_compat.h"
#include "src/memory.h"

/* lua_mmc.c: the Lua state's account of mmc's allocations (src/memory.h), made by luaopen_mmc
 * and kept in the registry; every client, batch and buffer of the face is charged to it. */
mmc_memory *mmc_lua_state_memory(lua_State *L);

/* lua_mmc_request.c: client:request, client:request_all, mmc.request, mmc.request_all. */
extern const luaL_Reg mmc_lua_request_methods[];
extern const luaL_Reg mmc_lua_request_functions[];

/* lua_mmc_push.c: mmc.verify_push, mmc.push_reply, mmc.push_event_id. */
extern const luaL_Reg mmc_lua_push_functions[];

/* lua_mmc_each.c: client:each, mmc.each. */
extern const luaL_Reg mmc_lua_each_methods[];
extern const luaL_Reg mmc_lua_each_functions[];

/* lua_mmc_conference.c: client:conference. */
extern const luaL_Reg mmc_lua_conference_methods[];
/* lua_mmc_download.c: client:download, mmc.download. */
extern const luaL_Reg mmc_lua_download_methods[];
extern const luaL_Reg mmc_lua_download_functions[];

#endif
