-- mmc.redis_store: a token_store on Redis, so that processes on many hosts share one token.
--
--   local redis = require "redis"                   -- redis-lua (Debian: lua-redis)
--   local store = require("mmc.redis_store").new(redis.connect("127.0.0.1", 6379))
--   local client = mmc.new { app_id = ..., app_key = ..., token_store = store }
--
-- mmc calls the store from inside a C call, where Lua cannot yield, so the Redis client must
-- block (redis-lua, over LuaSocket). A cosocket client such as lua-resty-redis can never work,
-- in any nginx phase, timer or worker thread: mmc refuses it with an error on first use. In
-- OpenResty, use ngx.shared.DICT (every phase, one nginx), or this module over redis-lua in a
-- worker thread (ngx.run_worker_thread), where blocking is fine; init_by_lua and
-- init_worker_by_lua may block too.
--
-- The store keeps what mmc gives it: the key "mmc:token:<hash>" (no secret in it), the token
-- itself, and a short-lived "<key>:lock" that lets one client log in while the others wait.
-- Anyone who can read this Redis can read the token: protect it accordingly
-- (requirepass or ACL, bound to a private network, TLS where it crosses one).
--
-- Errors: redis-lua raises on a broken connection. mmc calls the store in protected mode and
-- treats that as "no token", so a Redis outage costs one login per client, not a failed call.
local redis_store = {}

local Store = {}
Store.__index = Store

local function is_object(value)
    local kind = type(value)
    return kind == "table" or kind == "userdata"
end

--- A store on `redis`, a connected blocking client with get, set and del (redis-lua).
-- options.prefix: put before every key (default "").
function redis_store.new(redis, options)
    if not is_object(redis) or redis.get == nil or redis.set == nil or redis.del == nil then
        error("bad argument #1 to 'new' (a connected Redis client with get, set and del expected)", 2)
    end
    local prefix = options and options.prefix or ""
    if type(prefix) ~= "string" then
        error("bad argument #2 to 'new' (option 'prefix' must be a string)", 2)
    end
    return setmetatable({ redis = redis, prefix = prefix }, Store)
end

-- Redis takes whole milliseconds; a TTL never rounds down to "no expiry".
local function milliseconds(ttl)
    return math.max(1, math.ceil(ttl * 1000))
end

-- A string, or nil (redis-lua answers nil for a missing key; anything else counts as none).
function Store:get(key)
    local value = self.redis:get(self.prefix .. key)
    if type(value) == "string" then return value end
    return nil
end

-- ttl in seconds; 0 or less: no expiry.
function Store:set(key, value, ttl)
    if ttl and ttl > 0 then
        return self.redis:set(self.prefix .. key, value, "PX", milliseconds(ttl))
    end
    return self.redis:set(self.prefix .. key, value)
end

-- Sets only when the key is absent (SET NX): true when this call set it.
function Store:add(key, value, ttl)
    local answer = self.redis:set(self.prefix .. key, value, "PX", milliseconds(ttl or 0), "NX")
    return answer == true or answer == "OK"
end

function Store:delete(key)
    self.redis:del(self.prefix .. key)
end

return redis_store
