-- What the each spec runs in nginx's thread pool with ngx.run_worker_thread("mmc",
-- "thread_each", "walk", path, limit): client:each in a pool thread's own Lua VM. An iterator
-- cannot cross back to the worker, so the walk happens here and only plain values return.
local mmc = require "mmc"

local thread_each = {}

local client

-- Walks the list at `path`, `limit` items a page; returns the number of items, the first and
-- last items' conferenceID, and the failure message (nil when none).
function thread_each.walk(path, limit)
    client = client or mmc.new { token_store = ngx.shared.mmc_tokens }
    local count, first, last, failure = 0, nil, nil, nil
    for item, err in client:each(path, { limit = limit }) do
        if item == false then
            failure = err
        else
            count = count + 1
            first = first or item.conferenceID
            last = item.conferenceID
        end
    end
    return count, first, last, failure
end

return thread_each
