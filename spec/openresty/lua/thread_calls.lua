-- What the specs run in nginx's thread pool with ngx.run_worker_thread("mmc", "thread_calls",
-- "set_status", id, status). Each pool thread runs its tasks in a Lua VM of its own, separate
-- from the worker's, that keeps its loaded modules between tasks: so each VM keeps one client
-- (its connection stays open), and all of them share one token through the shared dict
-- mmc_tokens, which thread VMs can use (lua-nginx-module 0.10.23 gives them ngx.shared).
local mmc = require "mmc"

local thread_calls = {}

local client

-- Sets the event-push status; returns what mmc returned: the HTTP status (nil when no answer
-- came) and the error message (nil on success). Only such plain values cross back.
function thread_calls.set_status(id, status)
    client = client or mmc.new { token_store = ngx.shared.mmc_tokens }
    local code, err = client:set_webhook_status(id, status)
    return code, err
end

-- Sets the status of many subscriptions in one task: one batch (client:request_all), up to 8
-- calls in flight on this one thread, one token for all of them. Returns one "id status" line
-- per id, in order (the HTTP status, or "none: <message>" when no answer came).
function thread_calls.set_statuses(status, ...)
    client = client or mmc.new { token_store = ngx.shared.mmc_tokens }
    local ids, requests = { ... }, {}
    for i, id in ipairs(ids) do
        requests[i] = { "PUT", "/v1/mmc/management/webhook/change-status",
                        { query = { id = id, status = status } } }
    end
    local lines = {}
    for i, result in ipairs(client:request_all(requests, { concurrency = 8 })) do
        lines[i] = ids[i] .. " " .. (result.status or ("none: " .. result.err))
    end
    return table.concat(lines, "\n")
end

return thread_calls
