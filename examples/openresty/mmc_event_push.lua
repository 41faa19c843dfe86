-- Runs on nginx's thread pool, called from nginx.conf as
--   ngx.run_worker_thread("mmc", "mmc_event_push", "set_status", id, status)
--
-- Each pool thread has a Lua VM of its own that keeps this module between tasks: so each keeps
-- one mmc client, with its connection to Huawei kept alive. The clients share one token
-- through the shared dict mmc_tokens, which pool threads can use (ngx.shared is among the few
-- ngx APIs there; ngx.log and cosockets are not). Only plain values (strings, numbers,
-- booleans, nil, tables of those) go in and come back.
local mmc = require "mmc"

local mmc_event_push = {}

local client

-- Sets the status of event-push record `id` to `status` (mmc.ENABLE, mmc.DISABLE or
-- mmc.LOCK); returns mmc's HTTP status and error message (nil, message: no answer).
function mmc_event_push.set_status(id, status)
    -- App ID, key, user, endpoint and CA come from the MMC_* variables (`env` in nginx.conf).
    client = client or mmc.new { token_store = ngx.shared.mmc_tokens }
    local code, err = client:set_webhook_status(id, status)
    return code, err
end

return mmc_event_push
