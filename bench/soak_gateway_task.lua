-- bench/soak's pool task in gateway mode: the example's task (examples/openresty/
-- mmc_event_push.lua), unchanged, and the thread VM's report after it (soak_report.lua).
local mmc_event_push = require "mmc_event_push"
local soak_report = require "soak_report"

local soak_gateway_task = {}

function soak_gateway_task.set_status(id, status)
    local code, err = mmc_event_push.set_status(id, status)
    soak_report.tick()
    return code, err
end

return soak_gateway_task
