-- One "host" of the Redis spec: a separate Lua process with its own mmc client, sharing its
-- token through Redis. Prints one line per call: "<status> <token seen by the mock is not
-- printed>" is never needed, so it prints the status only.
--
--   <lua> spec/support/redis_worker.lua <redis port> <calls> <build dir>
local port, calls, build_dir = tonumber(arg[1]), tonumber(arg[2]), arg[3]
package.cpath = build_dir .. "/?.so;" .. package.cpath
package.path = "lua/?.lua;spec/support/?.lua;" .. package.path

local mmc = require "mmc"
local mock = require "mock"
local redis_server = require "redis_server"
local redis_store = require "mmc.redis_store"

local store = redis_store.new(redis_server.client_library().connect("127.0.0.1", port))
local client = mmc.new(mock.options { token_store = store })
for i = 1, calls do
    local status, err = client:set_webhook_status(mock.WEBHOOK_ID, i % 3)
    io.write(tostring(status), err and (" " .. err) or "", "\n")
end
