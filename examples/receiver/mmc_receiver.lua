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
-- the fields event, event_id and body (the push exactly as received, signature and all).
-- event_id (mmc.push_event_id) is the same for every delivery of one event, re-signed or not:
-- a consumer that stores events keyed on it stores each one once, whatever happens upstream.
--
-- Redis is reached with lua-resty-redis, on nginx's cosockets (a slow Redis holds up the
-- push that waits for it, not the worker): OpenResty's resty.redis, or on Debian the same
-- library as nginx.redis (package lua-nginx-redis).
local receiver = require "mmc.receiver"
local redis_seen = require "mmc.redis_seen"

local found, resty_redis = pcall(require, "resty.redis")
if not found then
    found, resty_redis = pcall(require, "nginx.redis")
    if not found then
        error("the receiver needs lua-resty-redis: resty.redis (OpenResty) or nginx.redis "
            .. "(Debian: apt-get install lua-nginx-redis): " .. tostring(resty_redis))
    end
end

local example = {}

local STREAM = "mmc:events"

local REDIS = {
    host = os.getenv("MMC_REDIS_HOST") or "127.0.0.1",
    port = tonumber(os.getenv("MMC_REDIS_PORT") or "6379"),
    -- Milliseconds for the connect, each send and each read. A Redis that is down or slow
    -- fails the command within this, the push is answered 500 (Huawei sends it again), and
    -- the push's later commands are not tried: a push waits for at most one timeout.
    timeout = 1000,
    pool_size = 32,          -- idle connections kept per nginx worker
    idle_timeout = 60000,    -- milliseconds an idle pooled connection is kept
}

-- What mmc.redis_seen and on_event call: redis:set(...), redis:get(...), redis:del(...),
-- redis:eval(...), redis:xadd(...), any command by its lowercase name. Each one takes a
-- connection from the worker's pool (connecting when none is idle), runs the command, and
-- puts the connection back (set_keepalive), so one object made at start serves every
-- request: a lua-resty-redis object itself belongs to the request that connected it.
-- Answers are lua-resty-redis's: the reply (ngx.null for a null one), false and the message
-- for a Redis error, nil and the message when Redis did not answer.
local redis = setmetatable({}, { __index = function(self, command)
    local function run(_, ...)
        local failed = ngx.ctx.mmc_redis_failed
        if failed then return nil, failed end
        local where = "Redis " .. REDIS.host .. ":" .. REDIS.port .. ": "
        local client = resty_redis:new()
        client:set_timeout(REDIS.timeout)
        local answer, err = client:connect(REDIS.host, REDIS.port)
        if answer then answer, err = client[command](client, ...) end
        if answer == nil then
            client:close() -- an answer still on its way must not reach the next command
            ngx.ctx.mmc_redis_failed = where .. "not tried again in this push, after: " .. tostring(err)
            return nil, where .. tostring(err)
        end
        client:set_keepalive(REDIS.idle_timeout, REDIS.pool_size)
        return answer, err
    end
    rawset(self, command, run)
    return run
end })

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
    the_receiver = receiver.new {
        subscriber_key = read_key(),
        -- Pushes seen by any receiver host that uses this Redis: one host hands a push on.
        seen = redis_seen.new(redis, { prefix = "mmc:seen:" }),
        -- Acknowledged (200) only once the event is in the stream: a failure here answers 500,
        -- and Huawei sends the push again later.
        on_event = function(push, body, event_id)
            local id, err = redis:xadd(STREAM, "*", "event", tostring(push.eventInfo.event),
                "event_id", event_id, "body", body)
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
