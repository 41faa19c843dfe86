-- Shared by bench/run's Lua clients (Lua 5.1 to 5.4 and LuaJIT): the clocks, the environment,
-- and the one RESULT line every client prints:
--
--   RESULT calls=N wall=S cpu=S p50=US p99=US hwm=KB [extra key=value ...]
local M = {}

local ok_ffi, ffi = pcall(require, "ffi")
if ok_ffi then
    ffi.cdef [[
    typedef struct { long tv_sec; long tv_nsec; } bench_timespec;
    int clock_gettime(int clock, bench_timespec *ts);
    ]]
    local ts = ffi.new("bench_timespec")
    function M.now() -- CLOCK_MONOTONIC
        ffi.C.clock_gettime(1, ts)
        return tonumber(ts.tv_sec) + tonumber(ts.tv_nsec) * 1e-9
    end
else
    M.now = require("socket.core").gettime -- gettimeofday: fine for runs of seconds
end

M.cpu = os.clock -- the process's CPU time (user + system)

function M.env(name)
    local v = os.getenv(name)
    if v == nil or v == "" then
        io.stderr:write("bench: ", name, " is not set\n")
        os.exit(2)
    end
    return v
end

local function status_field(field)
    local f = io.open("/proc/self/status")
    if not f then return -1 end
    local text = f:read("*a")
    f:close()
    return tonumber(text:match(field .. ":%s*(%d+) kB")) or -1
end

function M.hwm_kb() return status_field("VmHWM") end
function M.rss_kb() return status_field("VmRSS") end

-- Prints the RESULT line from the per-call latencies (seconds).
function M.report(lat, wall, cpu, extra)
    table.sort(lat)
    local n = #lat
    local p99 = math.floor(0.99 * (n - 1) + 0.5) + 1
    local line = ("RESULT calls=%d wall=%.6f cpu=%.6f p50=%.1f p99=%.1f hwm=%d"):format(
        n, wall, cpu, lat[math.floor((n - 1) / 2) + 1] * 1e6, lat[p99] * 1e6, M.hwm_kb())
    for _, kv in ipairs(extra or {}) do
        line = line .. " " .. kv
    end
    print(line)
    io.stdout:flush()
end

-- Runs fn() n times, timing each call; fn returns true on success. Returns lat, wall, cpu.
function M.loop(n, fn)
    local now, lat = M.now, {}
    for i = 1, n do lat[i] = 0 end
    local wall0, cpu0 = now(), M.cpu()
    for i = 1, n do
        local t = now()
        local ok, why = fn()
        lat[i] = now() - t
        if not ok then
            io.stderr:write("bench: call ", i, " failed: ", tostring(why), "\n")
            os.exit(1)
        end
    end
    return lat, now() - wall0, M.cpu() - cpu0
end

return M
