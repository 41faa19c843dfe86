-- mmc.redis_seen: the pushes a fleet of receivers has seen, in Redis, for mmc.receiver's
-- `seen` option: every receiver host that shares the Redis hands a push on at most once.
--
--   local redis = require "redis"                     -- redis-lua (Debian: lua-redis)
--   local seen = require("mmc.redis_seen").new(redis.connect("127.0.0.1", 6379))
--   local r = require("mmc.receiver").new { subscriber_key = ..., on_event = ..., seen = seen }
--
-- Any connected client whose set, get, del and eval send those Redis commands works:
-- redis-lua (which raises on a broken connection), lua-resty-redis and alike (which return
-- nil and a message). Each method answers as ngx.shared.DICT's does, and never raises: add is
-- SET NX PX, true when this call set the key, false, "exists" when it was there, nil and the
-- error when Redis could not say. release(key, value) is a compare-and-delete (one EVAL): it
-- deletes the key only while it holds `value`, so a receiver releases only its own claim.
-- The keys hold no secret (a prefix, then the event's id).
local redis_seen = {}

local Seen = {}
Seen.__index = Seen

local function is_object(value)
    local kind = type(value)
    return kind == "table" or kind == "userdata"
end

--- A `seen` on `redis`, a connected client with set, get, del and eval.
-- options.prefix: put before every key (default "").
function redis_seen.new(redis, options)
    if not is_object(redis) or redis.get == nil or redis.set == nil or redis.del == nil or redis.eval == nil then
        error("bad argument #1 to 'new' (a connected Redis client with set, get, del and eval expected)", 2)
    end
    local prefix = options and options.prefix or ""
    if type(prefix) ~= "string" then
        error("bad argument #2 to 'new' (option 'prefix' must be a string)", 2)
    end
    return setmetatable({ redis = redis, prefix = prefix }, Seen)
end

-- Redis takes whole milliseconds; a TTL never rounds down to "no expiry".
local function milliseconds(ttl)
    return string.format("%d", math.max(1, math.ceil((tonumber(ttl) or 0) * 1000)))
end

-- Calls redis:<command>(...) in protected mode: the answer, or nil and the error (raised by
-- redis-lua, returned by lua-resty-redis).
function Seen:call(command, ...)
    local ok, answer, err = pcall(self.redis[command], self.redis, ...)
    if not ok then return nil, tostring(answer) end
    if answer == nil and err ~= nil then return nil, tostring(err) end
    if answer == false then return nil, tostring(err or "Redis answered an error") end
    return answer or false -- false: nil from redis-lua, a null reply
end

function Seen:add(key, value, ttl)
    local answer, err = self:call("set", self.prefix .. key, value, "PX", milliseconds(ttl), "NX")
    if answer == nil then return nil, err end
    if answer == true or answer == "OK" then return true end
    return false, "exists" -- a null reply: redis-lua's nil, lua-resty-redis's ngx.null
end

function Seen:set(key, value, ttl)
    local answer, err = self:call("set", self.prefix .. key, value, "PX", milliseconds(ttl))
    if answer == true or answer == "OK" then return true end
    return nil, err or "Redis did not answer OK"
end

-- The value, or nil when the key is absent (or Redis could not say).
function Seen:get(key)
    local answer = self:call("get", self.prefix .. key)
    if type(answer) == "string" then return answer end
    return nil
end

function Seen:delete(key)
    local answer, err = self:call("del", self.prefix .. key)
    if answer == nil then return nil, err end
    return true
end

-- Deletes KEYS[1] only while it holds ARGV[1], in one step on the server.
local RELEASE_SCRIPT = [[
if redis.call("get", KEYS[1]) == ARGV[1] then return redis.call("del", KEYS[1]) end
return 0]]

--- Compare-and-delete: true when the key held `value` and is deleted, false when it holds
-- something else (or nothing), nil and the error when Redis could not say.
function Seen:release(key, value)
    local answer, err = self:call("eval", RELEASE_SCRIPT, 1, self.prefix .. key, value)
    if answer == nil then return nil, err end
    return tonumber(answer) == 1
end

return redis_seen
