-- GET /run?threads=T&calls=N on the OpenResty client nginx (bench/run): T light threads each
-- make N/T sequential change-status calls, every one offloaded with ngx.run_worker_thread to
-- the thread pool "mmc<T>" (T threads, so T Lua VMs, each with its own mmc client). Answers the
-- RESULT line (see clients/common.lua) for the whole run; CPU time and peak memory are the
-- nginx worker process's (all its threads).
local ffi = require "ffi"
pcall(ffi.cdef, [[
typedef struct { long tv_sec; long tv_nsec; } bench_timespec;
int clock_gettime(int clock, bench_timespec *ts);
]])
local ts = ffi.new("bench_timespec")
local function now(clock)
    ffi.C.clock_gettime(clock, ts)
    return tonumber(ts.tv_sec) + tonumber(ts.tv_nsec) * 1e-9
end
local MONOTONIC, PROCESS_CPU = 1, 2

local function hwm_kb()
    local f = io.open("/proc/self/status")
    local text = f:read("*a")
    f:close()
    return tonumber(text:match("VmHWM:%s*(%d+) kB"))
end

local threads = tonumber(ngx.var.arg_threads) or 1
local calls = tonumber(ngx.var.arg_calls) or 1000
local id = os.getenv("BENCH_WEBHOOK_ID")
local run_worker_thread = ngx.run_worker_thread
local pool = "mmc" .. threads

local function one_call()
    local ok, status, err = run_worker_thread(pool, "mmc_task", "call", id)
    if not ok or status ~= 200 then
        error("call failed: " .. tostring(status) .. " " .. tostring(err))
    end
end

-- Warm-up, not timed: every thread's VM loads mmc and authenticates once.
local warm = {}
for i = 1, threads * 4 do warm[i] = ngx.thread.spawn(one_call) end
for i = 1, #warm do assert(ngx.thread.wait(warm[i])) end

local lat, per = {}, math.floor(calls / threads)
local function worker(first)
    for i = first, first + per - 1 do
        local t = now(MONOTONIC)
        one_call()
        lat[i] = now(MONOTONIC) - t
    end
    return true
end

local wall0, cpu0 = now(MONOTONIC), now(PROCESS_CPU)
local running = {}
for k = 1, threads do running[k] = ngx.thread.spawn(worker, (k - 1) * per + 1) end
for k = 1, threads do
    local ok, err = ngx.thread.wait(running[k])
    if not ok then ngx.status = 500; ngx.say("ERROR ", err); return end
end
local wall, cpu = now(MONOTONIC) - wall0, now(PROCESS_CPU) - cpu0
table.sort(lat)
local n = #lat
ngx.say(("RESULT calls=%d wall=%.6f cpu=%.6f p50=%.1f p99=%.1f hwm=%d"):format(n, wall, cpu,
    lat[math.floor((n - 1) / 2) + 1] * 1e6, lat[math.floor(0.99 * (n - 1) + 0.5) + 1] * 1e6,
    hwm_kb()))
