-- token_store: many clients (workers, processes, hosts) share one token instead of each
-- logging in, since one App ID user holds at most 64 tokens and the 65th evicts the oldest.
-- The stores here are plain Lua tables with the shape of ngx.shared.DICT; the nginx and Redis
-- specs use the real things.
local mock = require "mock"
local mmc = require "mmc"

-- A store like ngx.shared.DICT: get, set with a TTL (0: none), and, when `with_lock`, add and
-- delete. Every method call is logged; `hooks` may replace what get returns.
local function table_store(with_lock, hooks)
    local store = { data = {}, log = {} }
    local function live(key)
        local entry = store.data[key]
        if entry and (entry.expires == nil or entry.expires > mock.now()) then return entry end
    end
    function store:get(key)
        self.log[#self.log + 1] = "get"
        if hooks and hooks.get then return hooks.get(self, key) end
        local entry = live(key)
        return entry and entry.value
    end
    function store:set(key, value, ttl)
        self.log[#self.log + 1] = "set"
        self.data[key] = { value = value, ttl = ttl, expires = ttl > 0 and mock.now() + ttl or nil }
        return true
    end
    if with_lock then
        function store:add(key, value, ttl)
            self.log[#self.log + 1] = "add"
            if live(key) then return false, "exists" end
            self:set(key, value, ttl)
            return true
        end
        function store:delete(key)
            self.log[#self.log + 1] = "delete"
            self.data[key] = nil
        end
    end
    return store
end

-- The only key of a store that is not a lock, and its value.
local function token_entry(store)
    local found_key, found
    for key, entry in pairs(store.data) do
        if not key:find(":lock$") then
            assert(found_key == nil, "more than one token key in the store")
            found_key, found = key, entry
        end
    end
    return found_key, found
end

local function tokens_sent()
    local list = {}
    for i, r in ipairs(mock.requests_to(mock.CHANGE_STATUS)) do list[i] = r.headers["x-access-token"] end
    return list
end

describe("a token store", function()
    before_each(function() mock.setup() end)

    it("lets many clients share one token: one login for all of them", function()
        local store = table_store(true)
        local clients = {}
        for i = 1, 5 do clients[i] = mmc.new(mock.options { token_store = store }) end
        for round = 1, 3 do
            for _, client in ipairs(clients) do
                assert.are.equal(200, (mock.call(client.set_webhook_status, client, mock.WEBHOOK_ID, round % 3)))
            end
        end
        assert.are.equal(1, #mock.requests_to(mock.APPAUTH))
        local sent = tokens_sent()
        assert.are.equal(15, #sent)
        for i = 2, #sent do assert.are.equal(sent[1], sent[i]) end
    end)

    it("answers the 64-token limit: without a store, the newest logins evict the oldest", function()
        mock.setup { max_tokens_per_user = 4 }
        local function five_clients_then_the_first_again(options)
            local clients = {}
            for i = 1, 5 do
                clients[i] = mmc.new(options)
                assert.are.equal(200, (mock.call(clients[i].set_webhook_status, clients[i], mock.WEBHOOK_ID, 0)))
            end
            assert.are.equal(200, (mock.call(clients[1].set_webhook_status, clients[1], mock.WEBHOOK_ID, 1)))
        end
        five_clients_then_the_first_again(mock.options())
        local refused = 0
        for _, r in ipairs(mock.requests_to(mock.CHANGE_STATUS)) do
            if r.status == 401 then refused = refused + 1 end
        end
        assert.are.equal(1, refused) -- the first client's token was evicted by the fifth login
        assert.are.equal(6, #mock.requests_to(mock.APPAUTH))

        mock.setup { max_tokens_per_user = 4 }
        five_clients_then_the_first_again(mock.options { token_store = table_store(true) })
        for _, r in ipairs(mock.requests_to(mock.CHANGE_STATUS)) do assert.are.equal(200, r.status) end
        assert.are.equal(1, #mock.requests_to(mock.APPAUTH))
    end)

    it("keeps the token under a key that names no secret, until clients are due to renew it", function()
        local store = table_store(false)
        local client = mmc.new(mock.options { token_store = store })
        assert.are.equal(200, (mock.call(client.set_webhook_status, client, mock.WEBHOOK_ID, 0)))
        local key, entry = token_entry(store)
        assert.matches("^mmc:token:%x+$", key)
        assert.are.equal(#"mmc:token:" + 64, #key)
        assert.is_nil(key:find(mock.APP_ID, 1, true))
        mock.assert_no_secret(key)
        local renew_at, token = entry.value:match("^mmc1 (%d+) (%S+)$")
        assert.are.equal(tokens_sent()[1], token)
        -- A 24 h token is renewed 5 min early; the store forgets it at that moment.
        assert.is_true(entry.ttl > 86400 - 300 - 5 and entry.ttl <= 86400 - 300)
        assert.is_true(math.abs(tonumber(renew_at) - (os.time() + entry.ttl)) <= 2)
    end)

    it("uses one key per endpoint, app, user and corp, and another app key never finds it", function()
        local function key_of(options)
            local store = table_store(false)
            options.token_store = store
            local client = mmc.new(options)
            local status = mock.call(client.auth, client)
            return (token_entry(store)), status
        end
        local base = key_of(mock.options())
        assert.are.equal(base, (key_of(mock.options())))
        assert.are_not.equal(base, (key_of(mock.options { user_id = "someone" })))
        local other_host, status = key_of(mock.options { endpoint = (mock.endpoint:gsub("127%.0%.0%.1", "localhost")) })
        assert.are.equal(200, status)
        assert.are_not.equal(base, other_host)
        local sp = key_of { app_id = mock.SP_APP_ID, app_key = mock.SP_APP_KEY, sp = true,
                            corp_id = mock.CORP_ID, endpoint = mock.endpoint, ca_file = mock.ca_file }
        assert.are_not.equal(base, sp)
        local wrong_key, status = key_of(mock.options { app_key = "not-the-app-key" })
        assert.are.equal(401, status) -- the mock refuses the login...
        assert.is_nil(wrong_key)     -- ...and nothing was shared under any key
        -- A client with another key looks under another key, so it cannot borrow the token.
        local store = table_store(false)
        local good = mmc.new(mock.options { token_store = store })
        mock.call(good.auth, good)
        local looked_up = {}
        local spy = setmetatable({
            get = function(_, key) looked_up[#looked_up + 1] = key return store:get(key) end,
            set = function(_, ...) return store:set(...) end,
        }, {})
        local other = mmc.new(mock.options { app_key = "not-the-app-key", token_store = spy })
        assert.are.equal(401, (mock.call(other.set_webhook_status, other, mock.WEBHOOK_ID, 0)))
        assert.are_not.equal(base, looked_up[1])
        assert.are.equal(0, #mock.requests_to(mock.CHANGE_STATUS)) -- its login failed: no PUT
    end)

    it("replaces a revoked token in the store, and the other clients take the new one", function()
        local store = table_store(true)
        local a = mmc.new(mock.options { token_store = store })
        local b = mmc.new(mock.options { token_store = store })
        assert.are.equal(200, (mock.call(a.set_webhook_status, a, mock.WEBHOOK_ID, 0)))
        assert.are.equal(200, (mock.call(b.set_webhook_status, b, mock.WEBHOOK_ID, 1)))
        local _, before = token_entry(store)
        mock.revoke()
        assert.are.equal(200, (mock.call(a.set_webhook_status, a, mock.WEBHOOK_ID, 2)))
        local _, after = token_entry(store)
        assert.are_not.equal(before.value, after.value)
        assert.are.equal(200, (mock.call(b.set_webhook_status, b, mock.WEBHOOK_ID, 0)))
        -- b was refused once, then found a's new token in the store instead of logging in.
        assert.are.equal(2, #mock.requests_to(mock.APPAUTH))
        local sent = tokens_sent()
        assert.are.equal(6, #sent) -- a: 200; b: 200; a: 401, 200; b: 401, 200
        assert.are.equal(sent[4], sent[6])
    end)

    it("ignores values it cannot trust: malformed, past renewal, or unfit for a header", function()
        for _, bad in ipairs {
            "garbage", "mmc1 x token", "mmc1 1 token", "mmc1 99999999999 to\r\nken",
            "mmc1 99999999999 ", "mmc2 99999999999 token", "",
        } do
            mock.setup()
            local store = table_store(false, {
                get = function(self, key) return self.data[key] and self.data[key].value or bad end,
            })
            local client = mmc.new(mock.options { token_store = store })
            assert.are.equal(200, (mock.call(client.set_webhook_status, client, mock.WEBHOOK_ID, 0)), bad)
            -- One login and no refusal: the bad value was never sent as a token.
            assert.are.equal(1, #mock.requests_to(mock.APPAUTH), bad)
            for _, r in ipairs(mock.requests_to(mock.CHANGE_STATUS)) do assert.are.equal(200, r.status, bad) end
        end
    end)

    it("keeps calls working when the store raises, and only costs a login", function()
        local broken = {
            get = function() error("redis: connection refused") end,
            set = function() error("redis: connection refused") end,
            add = function() error("redis: connection refused") end,
        }
        local client = mmc.new(mock.options { token_store = broken })
        for i = 1, 3 do
            assert.are.equal(200, (mock.call(client.set_webhook_status, client, mock.WEBHOOK_ID, i % 3)))
        end
        assert.are.equal(1, #mock.requests_to(mock.APPAUTH))
    end)

    it("writes what an explicit auth obtains", function()
        local store = table_store(false)
        local client = mmc.new(mock.options { token_store = store })
        assert.are.equal(200, (mock.call(client.auth, client)))
        local _, entry = token_entry(store)
        assert.is_not_nil(entry)
        local other = mmc.new(mock.options { token_store = store })
        assert.are.equal(200, (mock.call(other.set_webhook_status, other, mock.WEBHOOK_ID, 0)))
        assert.are.equal(1, #mock.requests_to(mock.APPAUTH))
    end)

    describe("with add and delete (a lock)", function()
        it("waits for the client that holds the lock instead of logging in too", function()
            local shared = table_store(true)
            local first = mmc.new(mock.options { token_store = shared })
            mock.call(first.auth, first)
            local key, entry = token_entry(shared)
            -- Another worker is logging in: the token is not there yet, the lock is taken.
            local looks = 0
            local store = table_store(true, {
                get = function(self, k)
                    looks = looks + 1
                    if looks == 4 then self.data[key] = entry end -- the other worker shares its token
                    return self.data[k] and self.data[k].value
                end,
            })
            store.data = { [key .. ":lock"] = { value = "locked" } }
            local second = mmc.new(mock.options { token_store = store })
            local started = mock.now()
            assert.are.equal(200, (mock.call(second.set_webhook_status, second, mock.WEBHOOK_ID, 0)))
            assert.is_true(mock.now() - started < 1)
            assert.are.equal(1, #mock.requests_to(mock.APPAUTH)) -- the first client's, only
            assert.are.equal(4, looks)
            assert.is_not_nil(store.data[key .. ":lock"]) -- not ours to release
        end)

        it("takes the lock, logs in, shares the token and releases the lock", function()
            local store = table_store(true)
            local client = mmc.new(mock.options { token_store = store })
            assert.are.equal(200, (mock.call(client.set_webhook_status, client, mock.WEBHOOK_ID, 0)))
            -- look, lock, look again (another client may have shared between the two), log in, share, unlock
            assert.are.same({ "get", "add", "set", "get", "set", "delete" }, store.log)
            local key = token_entry(store)
            assert.is_nil(store.data[key .. ":lock"])
        end)

        it("looks again after taking the lock: the holder may have shared and let go just before", function()
            local shared = table_store(true)
            local first = mmc.new(mock.options { token_store = shared })
            mock.call(first.auth, first)
            local key, entry = token_entry(shared)
            -- The other client shares its token and releases the lock between our first look
            -- and our lock.
            local store = table_store(true)
            local add = store.add
            function store:add(k, v, ttl)
                self.data[key] = entry
                return add(self, k, v, ttl)
            end
            local second = mmc.new(mock.options { token_store = store })
            assert.are.equal(200, (mock.call(second.set_webhook_status, second, mock.WEBHOOK_ID, 0)))
            assert.are.equal(1, #mock.requests_to(mock.APPAUTH)) -- the first client's, only
            assert.is_nil(store.data[key .. ":lock"])
        end)

        it("releases the lock when the login fails", function()
            local store = table_store(true)
            mock.fail { status = 500, count = 1, path = mock.APPAUTH }
            local client = mmc.new(mock.options { token_store = store })
            local status, err = mock.call(client.set_webhook_status, client, mock.WEBHOOK_ID, 0)
            assert.are.equal(500, status)
            assert.matches("^authentication failed", err)
            assert.is_nil(next(store.data))
        end)

        it("stops waiting for a lock that is never released after half its timeout", function()
            local store = table_store(true)
            store.add = function() return false, "exists" end -- someone holds it, forever
            local client = mmc.new(mock.options { token_store = store, timeout = 1 })
            local started = mock.now()
            assert.are.equal(200, (mock.call(client.set_webhook_status, client, mock.WEBHOOK_ID, 0)))
            local took = mock.now() - started
            -- half the timeout waiting, then its own login and call (with a margin for Valgrind)
            assert.is_true(took >= 0.45 and took < 1.5, "took " .. took)
            assert.are.equal(1, #mock.requests_to(mock.APPAUTH))
        end)
    end)

    it("must not call back into the client it serves", function()
        local client
        local complaint
        local store = {
            get = function()
                local ok, err = pcall(client.auth, client)
                complaint = not ok and err
                return nil
            end,
            set = function() return true end,
        }
        client = mmc.new(mock.options { token_store = store })
        assert.are.equal(200, (mock.call(client.set_webhook_status, client, mock.WEBHOOK_ID, 0)))
        assert.matches("in a call already", complaint)
        local closer = { get = function() return pcall(client.close, client) and nil end, set = function() end }
        client = mmc.new(mock.options { token_store = closer })
        assert.are.equal(200, (mock.call(client.set_webhook_status, client, mock.WEBHOOK_ID, 1)))
        assert.are.equal(200, (mock.call(client.set_webhook_status, client, mock.WEBHOOK_ID, 2)))
    end)

    it("is checked when the client is made", function()
        assert.has_error(function() mmc.new(mock.options { token_store = "redis" }) end,
            "bad argument #1 to 'new' (option 'token_store' must be a table or userdata with get and set methods, got string)")
        assert.has_error(function() mmc.new(mock.options { token_store = { get = function() end } }) end,
            "bad argument #1 to 'new' (option 'token_store' has no 'set' method)")
        local hostile = setmetatable({}, { __index = function() error("boom") end })
        assert.has_error(function() mmc.new(mock.options { token_store = hostile }) end,
            "bad argument #1 to 'new' (option 'token_store' cannot be indexed)")
    end)
end)

-- A store whose methods yield: a cosocket store (lua-resty-redis over ngx.socket.tcp) or any
-- method that calls coroutine.yield. mmc calls the store from inside a C call, where nothing
-- can yield, so such a store can never work: it is refused with an error that says so, rather
-- than caught as a failing store (which would make every client log in on its own: the token
-- evictions a store exists to stop). spec/openresty/openresty_cosocket_store_spec.lua does
-- the same with real cosockets in nginx.
describe("a token store that yields", function()
    local EXPLANATION = "cosocket stores cannot be called from inside a C call; use ngx.shared in nginx, "
        .. "or mmc.redis_store over LuaSocket in a worker thread"
    before_each(function() mock.setup() end)

    local function yielding_store(yields)
        local store = { calls = 0 }
        function store:get()
            self.calls = self.calls + 1
            if yields() then coroutine.yield() end
            return nil
        end
        function store:set() return true end
        return store
    end

    it("is refused with an error naming the problem, before anything is sent", function()
        local client = mmc.new(mock.options { token_store = yielding_store(function() return true end) })
        local thread = coroutine.create(function()
            return client:set_webhook_status(mock.WEBHOOK_ID, mmc.LOCK)
        end)
        local ok, err = coroutine.resume(thread)
        assert.is_false(ok, "the call did not raise")
        assert.is_truthy(tostring(err):find(EXPLANATION, 1, true), err)
        assert.matches("token store", err)
        -- outside a coroutine (Lua 5.2+: "attempt to yield from outside a coroutine")
        local ok_main, err_main = pcall(client.set_webhook_status, client, mock.WEBHOOK_ID, mmc.LOCK)
        assert.is_false(ok_main)
        assert.is_truthy(tostring(err_main):find(EXPLANATION, 1, true), err_main)
        assert.are.equal(0, #mock.requests()) -- no login, no request: nothing was done silently
    end)

    it("leaves the client usable: the call that refused it is over", function()
        local first = true
        local store = yielding_store(function()
            local yields = first
            first = false
            return yields
        end)
        local client = mmc.new(mock.options { token_store = store })
        local ok, err = coroutine.resume(coroutine.create(function()
            return client:set_webhook_status(mock.WEBHOOK_ID, mmc.DISABLE)
        end))
        assert.is_false(ok)
        assert.is_truthy(tostring(err):find(EXPLANATION, 1, true), err)
        -- not "in a call already": the next call runs, and uses the store
        assert.are.equal(200, (mock.call(client.set_webhook_status, client, mock.WEBHOOK_ID, mmc.ENABLE)))
        assert.are.equal(2, store.calls)
        client:close()
    end)

    it("is refused when set is the method that yields (an explicit auth shares its token first)", function()
        local store = { get = function() return nil end, set = function() coroutine.yield() end }
        local client = mmc.new(mock.options { token_store = store })
        local ok, err = coroutine.resume(coroutine.create(function() return client:auth() end))
        assert.is_false(ok)
        assert.is_truthy(tostring(err):find(EXPLANATION, 1, true), err)
        client:close()
    end)
end)
