-- bench/soak's reporter, loaded in every Lua VM it watches (each nginx pool thread's VM in
-- gateway mode, each worker's in receiver mode): every EVERY-th request the VM handled, it
-- collects its garbage and writes "handled heap_kib allocations bytes" to the shared dict
-- `soak`, under "pid/VM" (its process, and the VM's own table address: a pool thread may run
-- several VMs in turn, since lua-nginx-module gives each task posted while all
-- are busy a VM of its own and keeps it for later tasks). bench/soak reads the dict.
local mmc = require "mmc"

local soak_report = {}

local EVERY = 1000
local handled = 0
local who

local function first_number(path)
    local file = io.open(path, "r")
    if not file then return "?" end
    local line = file:read("*l") or ""
    file:close()
    return line:match("^(%d+)") or "?"
end

function soak_report.tick()
    handled = handled + 1
    if handled % EVERY ~= 1 then return end
    who = who or (first_number("/proc/self/stat") .. "/" ..
        tostring(soak_report):match("0x(%x+)$"):sub(-6))
    collectgarbage()
    local memory = mmc._memory()
    ngx.shared.soak:set(who, string.format("%d %.1f %d %d", handled, collectgarbage("count"),
        memory.allocations, memory.bytes))
end

return soak_report
