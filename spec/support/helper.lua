-- Loaded by busted before any spec: finds the module that was just built.
local build_dir = os.getenv("MMC_BUILD_DIR") or "build"
package.cpath = build_dir .. "/?.so;" .. package.cpath
