-- Loaded by busted before any spec: finds the module that was just built, and the Lua
-- modules that ship beside it (lua/mmc/*.lua).
local build_dir = os.getenv("MMC_BUILD_DIR") or "build"
package.cpath = build_dir .. "/?.so;" .. package.cpath
package.path = "lua/?.lua;" .. package.path
