-- One mmc client per nginx worker: made by init_worker_by_lua, used by that worker's requests
-- (a module is loaded once per worker VM, so this table lives as long as the worker).
local mmc = require "mmc"

local worker_client = {}

-- Builds the worker's client; options left out come from the MMC_* variables nginx passes
-- with `env`.
function worker_client.open(options)
    worker_client.client = mmc.new(options)
    return worker_client.client
end

-- The header the specs read to tell which worker answered, and a status line for the body.
function worker_client.answer(status, err)
    ngx.header["Content-Type"] = "text/plain"
    ngx.say(tostring(status), " ", tostring(err))
end

return worker_client
