-- An event-push receiver for nginx with the Lua module, on mmc.receiver: every push is
-- checked, meeting.verify is answered, and every other event is appended to a Redis stream
-- before it is acknowledged, once for all the receiver hosts that share the Redis.
--
-- Used by examples/receiver/nginx.conf:
--   init_by_lua_block    { require("mmc_receiver").init() }
--   content_by_lua_block { require("mmc_receiver").serve() }
-- Environment (read once, at start):
--   MMC_SUBSCRIBER_KEY_FILE  the file holding the subscriber key (absolute, or relative to
--                            nginx's prefix); the key is never in the config
--   MMC_REDIS_HOST, MMC_REDIS_PORT  the Redis that holds the stream and the pushes seen
--                            (default 127.0.0.1:6379)
-- Whatever consumes the events reads the stream "mmc:events" (XREADGROUP), each entry with
-- the fields event, signature and body (the push exactly as received, signature and all).
local receiver = require "mmc.receiver"
local redis_seen = require "mmc.redis_seen"
local mmc_redis = require "mmc_redis" -- a minimal Redis client on nginx's cosockets

local example = {}

local STREAM = "mmc:events"

local the_receiver

local function read_key()
    local path = os.getenv("MMC_SUBSCRIBER_KEY_FILE")
    assert(path and path ~= "", "MMC_SUBSCRIBER_KEY_FILE must name the file holding the subscriber key")
    if path:sub(1, 1) ~= "/" then
        path = ngx.config.prefix() .. path -- relative to nginx's prefix (-p)
    end
    local file = assert(io.open(path, "rb"))
    local key = file:read("*a"):gsub("\r?\n$", "")
    file:close()
    assert(key ~= "", "the subscriber key file is empty")
    return key
end

function example.init()
    local redis = mmc_redis.new {
        host = os.getenv("MMC_REDIS_HOST") or "127.0.0.1",
        port = tonumber(os.getenv("MMC_REDIS_PORT") or "6379"),
    }
    the_receiver = receiver.new {
        subscriber_key = read_key(),
        -- Pushes seen by any receiver host that uses this Redis: one host hands a push on.
        seen = redis_seen.new(redis, { prefix = "mmc:seen:" }),
        -- Acknowledged (200) only once the event is in the stream: a failure here answers 500,
        -- and Huawei sends the push again later.
        on_event = function(push, body)
            local id, err = redis:xadd(STREAM, "*", "event", tostring(push.eventInfo.event),
                "signature", push.signature:lower(), "body", body)
            if not id then return nil, "XADD " .. STREAM .. " failed: " .. tostring(err) end
            ngx.log(ngx.NOTICE, "event push stored: ", tostring(push.eventInfo.event), " as ", id)
            return true
        end,
        -- max_age: the default, 25 hours, keeps Huawei's retries (24 hours) acceptable.
    }
end

function example.serve()
    return the_receiver:serve()
end

return example
