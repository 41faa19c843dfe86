-- mmc's download client for bench/run (issue 19), under Lua 5.4 or LuaJIT (MMC_BUILD_DIR picks
-- the mmc.so):
--
--   mmc_download.lua URL TOKEN PATH   one client:download of URL with TOKEN into PATH, timed
--
-- Prints one line: DOWNLOAD bytes=N wall=S cpu=S rss0=KB hwm=KB, where rss0 is the resident
-- memory just before the download (module loaded, client made) and hwm the peak resident
-- memory of the whole process at the end: hwm - rss0 is what the download made it grow by.
local dir = arg[0]:match("^(.*)/[^/]*$") or "."
package.path = dir .. "/?.lua;" .. package.path
package.cpath = os.getenv("MMC_BUILD_DIR") .. "/?.so;" .. package.cpath
local common = require "common"
local mmc = require "mmc"

local url, token, path = arg[1], arg[2], arg[3]
local client = mmc.new { ca_file = common.env("BENCH_CA") }
collectgarbage()
local rss0 = common.rss_kb()
local started, cpu = common.now(), common.cpu()
local status, err, bytes = client:download({ url = url, token = token }, path)
local wall, cpu_used = common.now() - started, common.cpu() - cpu
if status ~= 200 or err then
    io.stderr:write("bench: download failed: ", tostring(status), " ", tostring(err), "\n")
    os.exit(1)
end
print(("DOWNLOAD bytes=%d wall=%.6f cpu=%.6f rss0=%d hwm=%d"):format(bytes, wall, cpu_used, rss0,
    common.hwm_kb()))
client:close()
