-- mmc's client for bench/run, under Lua 5.4 or LuaJIT (MMC_BUILD_DIR picks the mmc.so):
--
--   mmc_client.lua status N   one authentication (not timed), then N timed calls of
--                             mmc.set_webhook_status
--   mmc_client.lua auth N     N timed mmc.auth()
--   mmc_client.lua cold N     the first set_webhook_status from cold (connect, TLS,
--                             authentication, call) timed on its own, then N steady calls
--   mmc_client.lua plain N    one authentication, then N calls with no timing at all (for
--                             callgrind: the instructions of the calls alone)
--   mmc_client.lua request N  as plain, the same change-status call made with mmc.request
--   mmc_client.lua hook N     as plain, with an on_request hook set (a counter and a sum, as a
--                             metrics hook keeps)
--   mmc_client.lua count N    N calls from cold, nothing else (bench/run counts the
--                             authentications the server saw: there must be exactly one)
--   mmc_client.lua rss N      N calls; prints resident memory after 1,000 calls and after N
--                             (each after a full garbage collection)
--
-- Uses the module functions (the default client), configured from BENCH_* variables.
local dir = arg[0]:match("^(.*)/[^/]*$") or "."
package.path = dir .. "/?.lua;" .. package.path
package.cpath = os.getenv("MMC_BUILD_DIR") .. "/?.so;" .. package.cpath
local common = require "common"
local mmc = require "mmc"

local mode, n = arg[1], tonumber(arg[2])
local exchanges, exchange_seconds = 0, 0
mmc.configure {
    endpoint = common.env("BENCH_ENDPOINT"),
    ca_file = common.env("BENCH_CA"),
    app_id = common.env("BENCH_APP_ID"),
    app_key = common.env("BENCH_APP_KEY"),
    timeout = 30,
    on_request = mode == "hook" and function(event)
        exchanges = exchanges + 1
        exchange_seconds = exchange_seconds + event.seconds
    end or nil,
}
local id = common.env("BENCH_WEBHOOK_ID")
local set_webhook_status, ENABLE = mmc.set_webhook_status, mmc.ENABLE

local function call()
    local status, err = set_webhook_status(id, ENABLE)
    return status == 200, err or status
end

local function auth()
    local status, err = mmc.auth()
    return status == 200, err or status
end

local extra = {}
if mode == "cold" then
    local t = common.now()
    local ok, why = call()
    extra[1] = ("first=%.1f"):format((common.now() - t) * 1e6)
    assert(ok, why)
elseif mode == "status" then
    assert(auth())
elseif mode == "count" then
    for _ = 1, n do
        local status, err = set_webhook_status(id, ENABLE)
        if status ~= 200 then error(err or status) end
    end
    print("COUNTED calls=" .. n)
    return
elseif mode == "plain" or mode == "hook" then
    assert(auth())
    for _ = 1, n do
        local status, err = set_webhook_status(id, ENABLE)
        if status ~= 200 then error(err or status) end
    end
    assert(mode == "plain" or exchanges == n + 1, "the hook missed exchanges")
    print("PLAIN calls=" .. n)
    return
elseif mode == "request" then
    -- The same request as set_webhook_status(id, ENABLE), options built afresh for each call
    local request, PATH = mmc.request, "/v1/mmc/management/webhook/change-status"
    assert(auth())
    for _ = 1, n do
        local status, err = request("PUT", PATH, { query = { id = id, status = ENABLE } })
        if status ~= 200 then error(err or status) end
    end
    print("PLAIN calls=" .. n)
    return
elseif mode == "rss" then
    -- No latency table here: it would be most of the growth measured.
    assert(auth())
    local function calls(count)
        for _ = 1, count do
            local ok, why = call()
            if not ok then error(why) end
        end
        collectgarbage("collect")
        return common.rss_kb()
    end
    local rss_1k = calls(1000)
    local rss_n = calls(n - 1000)
    print(("RSS calls=%d rss_1k=%d rss_n=%d hwm=%d"):format(n, rss_1k, rss_n, common.hwm_kb()))
    return
elseif mode ~= "auth" then
    error("mode must be status, auth, cold or rss")
end
local lat, wall, cpu = common.loop(n, mode == "auth" and auth or call)
common.report(lat, wall, cpu, extra)
