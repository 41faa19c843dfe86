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

return thread_calls
