-- mmc.redis_store: processes on different hosts share one token through a real Redis
-- (redis-server started for this spec on 127.0.0.1, stopped at its end).
local mock = require "mock"
local mmc = require "mmc"
local redis_server = require "redis_server"
local redis_store = require "mmc.redis_store"

local interpreter = arg and arg[-1] or "lua5.4"
local build_dir = os.getenv("MMC_BUILD_DIR") or "build"

describe("mmc.redis_store", function()
    local server, redis

    setup(function()
        server = redis_server.start()
        redis = server:connect()
    end)
    teardown(function()
        if server then server:stop() end
    end)
    before_each(function()
        mock.setup()
        redis:flushall()
    end)

    -- Starts a separate Lua process that makes `calls` calls; returns a reader of its output.
    local function start_process(calls)
        local command = ("env %s%s spec/support/redis_worker.lua %d %d %s 2>&1"):format(
            mock.child_env(), interpreter, server.port, calls, build_dir)
        local pipe = assert(io.popen(command))
        return function()
            local output = pipe:read("*a")
            pipe:close()
            return output
        end
    end

    local function count(text, line)
        local n = 0
        for found in text:gmatch("[^\n]+") do
            if found == line then n = n + 1 end
        end
        return n
    end

    it("lets two separate processes share one token: one login between them", function()
        local first = start_process(50)
        local second = start_process(50) -- both start cold, at the same time
        local a, b = first(), second()
        assert.are.equal(50, count(a, "200"), a)
        assert.are.equal(50, count(b, "200"), b)
        assert.are.equal(1, #mock.requests_to(mock.APPAUTH))
        local tokens = {}
        for _, r in ipairs(mock.requests_to(mock.CHANGE_STATUS)) do tokens[r.headers["x-access-token"]] = true end
        assert.are.equal(1, #(function() local k = {} for t in pairs(tokens) do k[#k + 1] = t end return k end)())
        -- And a process started later takes the token from Redis without logging in.
        local later = start_process(5)()
        assert.are.equal(5, count(later, "200"), later)
        assert.are.equal(1, #mock.requests_to(mock.APPAUTH))
    end)

    it("keeps the token in Redis with an expiry, under a key without a secret, and no lock left", function()
        local client = mmc.new(mock.options { token_store = redis_store.new(redis) })
        assert.are.equal(200, (mock.call(client.set_webhook_status, client, mock.WEBHOOK_ID, 0)))
        local keys = redis:keys("*")
        assert.are.equal(1, #keys)
        assert.matches("^mmc:token:%x+$", keys[1])
        mock.assert_no_secret(keys[1])
        local ttl = redis:pttl(keys[1]) / 1000
        assert.is_true(ttl > 86400 - 300 - 5 and ttl <= 86400 - 300, "ttl " .. ttl)
        local token = redis:get(keys[1]):match("^mmc1 %d+ (%S+)$")
        assert.are.equal(mock.requests_to(mock.CHANGE_STATUS)[1].headers["x-access-token"], token)
    end)

    it("replaces a revoked token for every process", function()
        local client = mmc.new(mock.options { token_store = redis_store.new(redis) })
        assert.are.equal(200, (mock.call(client.set_webhook_status, client, mock.WEBHOOK_ID, 0)))
        local key = redis:keys("*")[1]
        local before = redis:get(key)
        mock.revoke()
        local output = start_process(3)()
        assert.are.equal(3, count(output, "200"), output)
        local after = redis:get(key)
        assert.are_not.equal(before, after)
        assert.are.equal(200, (mock.call(client.set_webhook_status, client, mock.WEBHOOK_ID, 1)))
        assert.are.equal(after, redis:get(key)) -- this client took the new token, no third login
        assert.are.equal(2, #mock.requests_to(mock.APPAUTH))
    end)

    it("keeps calls working when Redis is gone, at the cost of one login", function()
        local doomed = redis_server.start()
        local store = redis_store.new(doomed:connect())
        doomed:stop()
        local client = mmc.new(mock.options { token_store = store })
        for i = 1, 3 do
            assert.are.equal(200, (mock.call(client.set_webhook_status, client, mock.WEBHOOK_ID, i % 3)))
        end
        assert.are.equal(1, #mock.requests_to(mock.APPAUTH))
    end)

    it("refuses what is not a Redis client, naming the argument", function()
        assert.has_error(function() redis_store.new("127.0.0.1:6379") end,
            "bad argument #1 to 'new' (a connected Redis client with get, set and del expected)")
        assert.has_error(function() redis_store.new(redis, { prefix = 1 }) end,
            "bad argument #2 to 'new' (option 'prefix' must be a string)")
    end)

    it("puts a prefix before every key", function()
        local client = mmc.new(mock.options { token_store = redis_store.new(redis, { prefix = "gw1:" }) })
        assert.are.equal(200, (mock.call(client.auth, client)))
        assert.matches("^gw1:mmc:token:%x+$", redis:keys("*")[1])
    end)
end)
