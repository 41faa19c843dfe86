-- The upload row of bench/run (issue 19): one PUT /v1/wss/webinar/open/res/file of FILE
-- through options.form and mmc.file, against the local server (spec/mock, through
-- spec/support/with-mock), with the client's peak resident memory before and after.
--
--   lua5.4 bench/clients/mmc_upload.lua FILE
--
-- Prints "UPLOAD bytes=N seconds=S rss_before=KB hwm_before=KB hwm_after=KB status=200"
-- (VmRSS and VmHWM of /proc/self/status: the file must be streamed, not held).
package.cpath = os.getenv("MMC_BUILD_DIR") .. "/?.so;" .. package.cpath
package.path = "spec/support/?.lua;" .. package.path
local mmc = require "mmc"
local mock = require "mock" -- the specs' helper: the local server's app and control API

local path = assert(arg[1], "usage: mmc_upload.lua FILE")

local function status_kb(name)
    local file = assert(io.open("/proc/self/status"))
    local text = file:read("*a")
    file:close()
    return tonumber(text:match(name .. ":%s*(%d+) kB"))
end

local file = assert(io.open(path, "rb"))
local bytes = file:seek("end")
file:close()

mock.setup()
local client = mmc.new(mock.options({ timeout = 300 }))
assert(client:auth() == 200, "authentication failed")
collectgarbage()
local rss_before, hwm_before = status_kb("VmRSS"), status_kb("VmHWM")
local started = mock.now()
local status, err = client:request("PUT", "/v1/wss/webinar/open/res/file",
    { form = { file = mmc.file(path, "video/mp4", "bench.mp4") } })
local seconds = mock.now() - started
assert(status == 200, tostring(err or status))
local hwm_after = status_kb("VmHWM")
-- what arrived is the file (the server hashed it as it came; sha256sum hashes it here)
local found = mock.requests_to("/v1/wss/webinar/open/res/file")
local part = found[#found].parts[1]
local pipe = assert(io.popen("sha256sum '" .. path .. "'"))
local sha256 = pipe:read("*l"):match("^(%x+)")
pipe:close()
assert(part.size == bytes and part.sha256 == sha256, "the server did not get the file")
print(("UPLOAD bytes=%d seconds=%.3f rss_before=%d hwm_before=%d hwm_after=%d status=%d"):format(
    bytes, seconds, rss_before, hwm_before, hwm_after, status))
