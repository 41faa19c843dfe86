/*
 * lua_mmc_download: client:download and mmc.download (lua_mmc_download.c).
 */
#ifndef LUA_MMC_DOWNLOAD_H
#define LUA_MMC_DOWNLOAD_H

#include "lua_mmc_compat.h"
#include "src/client.h"

/* The download of the entry at `entry_arg` (then the path or function, then the options) with
 * `client`, marking it busy (`*busy`) while it runs. Raises on bad arguments; returns the
 * number of results pushed (status, message, bytes). */
int mmc_lua_download(lua_State *L, mmc_client *client, int *busy, int entry_arg);

#endif
