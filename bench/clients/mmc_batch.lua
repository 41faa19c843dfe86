-- mmc's batch client for bench/run (issue 18), under Lua 5.4 (MMC_BUILD_DIR picks the mmc.so):
--
--   mmc_batch.lua seq N          one authentication (not timed), then N change-status calls one
--                                after another with mmc.set_webhook_status, timed together
--   mmc_batch.lua all N C [B]    one authentication (not timed), then B batches (default 2) of
--                                N change-status calls, each one mmc.request_all with
--                                concurrency C, each batch timed on its own: the first opens
--                                the connections it needs, the later ones find them kept
--   mmc_batch.lua plain N        one authentication, then N calls as batches of 100
--                                mmc.request_all (default concurrency), no timing (callgrind)
--   mmc_batch.lua build N        as plain, but only builds the requests, calling nothing
--                                (callgrind: what the program's own tables cost, per call)
--
-- The requests of a batch are the same call as set_webhook_status(id, ENABLE), built afresh for
-- every batch as a program would build them. Every call must answer 200.
-- Prints, per timed batch:
--
--   BATCH batch=B calls=N conc=C wall=S conns=K
--
-- where conns is how many connections the delay proxy accepted during the batch (from the
-- file BENCH_COUNT_FILE, when set; -1 otherwise). When this build of mmc has no request_all,
-- or a call fails, it prints one line `MISSING <why>` instead and exits 0: bench/run reports
-- that row as a failure, never a figure.
local dir = arg[0]:match("^(.*)/[^/]*$") or "."
package.path = dir .. "/?.lua;" .. package.path
package.cpath = os.getenv("MMC_BUILD_DIR") .. "/?.so;" .. package.cpath
local common = require "common"
local mmc = require "mmc"

local mode, n = arg[1], tonumber(arg[2])
local concurrency = tonumber(arg[3])
local batches = tonumber(arg[4]) or 2
mmc.configure {
    endpoint = common.env("BENCH_ENDPOINT"),
    ca_file = common.env("BENCH_CA"),
    app_id = common.env("BENCH_APP_ID"),
    app_key = common.env("BENCH_APP_KEY"),
    timeout = 30,
}
local id = common.env("BENCH_WEBHOOK_ID")
local PATH = "/v1/mmc/management/webhook/change-status"
local count_file = os.getenv("BENCH_COUNT_FILE")

local function missing(why)
    print("MISSING " .. tostring(why):gsub("%s+", " "))
    os.exit(0)
end

local function accepted()
    if not count_file or count_file == "" then return nil end
    local f = assert(io.open(count_file))
    local k = tonumber(f:read("*l"))
    f:close()
    return k
end

local function requests(count)
    local list = {}
    for i = 1, count do
        list[i] = { "PUT", PATH, { query = { id = id, status = mmc.ENABLE } } }
    end
    return list
end

local function check(results, count)
    if type(results) ~= "table" then
        missing("request_all returned " .. tostring(results))
    end
    for i = 1, count do
        local r = results[i]
        if type(r) ~= "table" or r.status ~= 200 then
            missing(("call %d of the batch: %s"):format(i, type(r) == "table" and
                tostring(r.err or r.status) or tostring(r)))
        end
    end
end

local status, err = mmc.auth()
if status ~= 200 then error(err or status) end

if mode == "seq" then
    local before = accepted()
    local t = common.now()
    for i = 1, n do
        local s, e = mmc.set_webhook_status(id, mmc.ENABLE)
        if s ~= 200 then error(("call %d: %s"):format(i, tostring(e or s))) end
    end
    local wall = common.now() - t
    local after = accepted()
    print(("BATCH batch=1 calls=%d conc=1 wall=%.6f conns=%d"):format(
        n, wall, before and after - before or -1))
    return
end

local request_all = mmc.request_all
if type(request_all) ~= "function" then
    missing("engine missing: mmc.request_all is not in this build of mmc")
end

if mode == "all" then
    assert(concurrency, "all N C: the concurrency is missing")
    for b = 1, batches do
        local list = requests(n)
        local before = accepted()
        local t = common.now()
        local ok, results = pcall(request_all, list, { concurrency = concurrency })
        local wall = common.now() - t
        local after = accepted()
        if not ok then missing("request_all raised: " .. tostring(results)) end
        check(results, n)
        print(("BATCH batch=%d calls=%d conc=%d wall=%.6f conns=%d"):format(
            b, n, concurrency, wall, before and after - before or -1))
    end
elseif mode == "build" then
    assert(n % 100 == 0, "build N: N must be a multiple of 100")
    local keep
    for _ = 1, math.floor(n / 100) do keep = requests(100) end
    assert(#keep == 100)
    print("PLAIN calls=" .. n)
elseif mode == "plain" then
    assert(n % 100 == 0, "plain N: N must be a multiple of 100")
    for _ = 1, math.floor(n / 100) do
        local ok, results = pcall(request_all, requests(100))
        if not ok then missing("request_all raised: " .. tostring(results)) end
        check(results, 100)
    end
    print("PLAIN calls=" .. n)
else
    error("mode must be seq, all, plain or build")
end
