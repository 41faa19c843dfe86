-- Runs inside nginx's worker threads (ngx.run_worker_thread): each thread has its own Lua VM,
-- which keeps this module, and so mmc's default client (its token and its kept-alive
-- connection), from one task to the next. mmc reads its settings from the MMC_* variables
-- that nginx.conf passes through with `env`.
local mmc = require "mmc"
local set_webhook_status, ENABLE = mmc.set_webhook_status, mmc.ENABLE

local _M = {}

function _M.call(id)
    local status, err = set_webhook_status(id, ENABLE)
    return status, err
end

return _M
