-- Many calls at once (client:request_all, mmc.request_all; src/engine.h): results in order,
-- one authentication per batch (also after a 401 on several calls at once), one call's failure
-- never fails another, retries and Retry-After per call without holding up the others, at most
-- `concurrency` calls in flight (the mock counts the requests it serves at once), and bad input
-- refused before anything is sent, named by its index.
local mock = require "mock"
local mmc = require "mmc"
local cjson = require "cjson"

local STATUS = mock.CHANGE_STATUS

local function hook_id(i) return string.format("hook%02d", i) end

-- A mock knowing hook01..hookNN (all disabled).
local function setup_hooks(n)
    local list = {}
    for i = 1, n do list[i] = hook_id(i) end
    mock.setup { webhook_ids = list }
end

local function change(id, status)
    return { "PUT", STATUS, { query = { id = id, status = status } } }
end

-- Checks that no result holds a secret, and returns the results.
local function checked(results)
    for _, r in ipairs(results) do
        if r.err then mock.assert_no_secret(r.err) end
        if r.body then mock.assert_no_secret(cjson.encode(r.body)) end
        if r.headers then mock.assert_no_secret(cjson.encode(r.headers)) end
    end
    return results
end

local function count(path, status)
    local n = 0
    for _, r in ipairs(mock.requests_to(path)) do
        if status == nil or r.status == status then n = n + 1 end
    end
    return n
end

describe("request_all", function()
    before_each(function() mock.setup() end)
    after_each(function() mock.clear_faults() end)

    it("returns one result per request, in order, each call doing its own work", function()
        setup_hooks(24)
        local client = mmc.new(mock.options())
        local requests = {}
        for i = 1, 24 do requests[i] = change(hook_id(i), i % 2) end -- odd: disable, even: enable
        requests[25] = change("no-such-hook", 0)
        requests[26] = { "GET", mock.LINK_CONFIG, { query = { corpId = "x" } } }
        local results = checked(client:request_all(requests, { concurrency = 6 }))
        assert.are.equal(26, #results)
        local webhooks = mock.webhooks()
        for i = 1, 24 do
            assert.are.equal(200, results[i].status, results[i].err)
            assert.is_nil(results[i].err)
            assert.matches("json", results[i].headers["content-type"])
            assert.matches("^%x+$", results[i].headers["x-request-id"])
            assert.are.equal(i % 2, webhooks[hook_id(i)]) -- 0 enabled, 1 disabled
        end
        assert.is_true(results[25].status >= 400, results[25].err)
        assert.matches("MMC.111070002", results[25].err)
        assert.are.equal("table", type(results[25].body))
        assert.is_number(results[26].status)
        assert.are.same({}, client:request_all({}))
    end)

    it("authenticates once for a batch that starts without a token", function()
        setup_hooks(16)
        local client = mmc.new(mock.options())
        local requests = {}
        for i = 1, 16 do requests[i] = change(hook_id(i), 0) end
        local results = checked(client:request_all(requests))
        for i = 1, 16 do assert.are.equal(200, results[i].status, results[i].err) end
        assert.are.equal(1, count(mock.APPAUTH))
        -- the next batch goes on with the same token
        checked(client:request_all(requests))
        assert.are.equal(1, count(mock.APPAUTH))
    end)

    it("authenticates once when the token is refused on several calls at once", function()
        setup_hooks(16)
        local client = mmc.new(mock.options())
        assert.are.equal(200, (mock.call(client.auth, client)))
        mock.revoke()
        mock.delay(0.3, 8) -- the first 8 requests are answered (401) together
        local requests = {}
        for i = 1, 16 do requests[i] = change(hook_id(i), 0) end
        local results = checked(client:request_all(requests, { concurrency = 8 }))
        for i = 1, 16 do assert.are.equal(200, results[i].status, results[i].err) end
        assert.is_true(count(STATUS, 401) >= 2, "several calls were refused at once")
        assert.are.equal(2, count(mock.APPAUTH)) -- client:auth() and one more
        assert.are.equal(16, count(STATUS, 200))
    end)

    it("returns a failed authentication for every call, having tried once", function()
        local client = mmc.new(mock.options { app_key = string.rep("k", 32), retries = 0 })
        local results = checked(client:request_all { change(mock.WEBHOOK_ID, 0), change(mock.WEBHOOK_ID, 1) })
        assert.are.equal(1, count(mock.APPAUTH))
        assert.are.equal(0, count(STATUS))
        for i = 1, 2 do
            assert.are.equal(401, results[i].status)
            assert.matches("^authentication failed: ", results[i].err)
        end
    end)

    it("keeps one call's failure to that call", function()
        setup_hooks(8)
        local client = mmc.new(mock.options { retries = 0 })
        mock.call(client.auth, client)
        mock.fail { status = 500, path = STATUS, query = "id=hook03", body = "{}" }
        -- libcurl itself sends a request again when a kept-alive connection dies unanswered, up
        -- to 5 times while the next connection is a kept one too (the spec below): 6 drops make
        -- the call fail however many connections the batch keeps
        mock.fail { status = 200, drop = true, count = 6, path = STATUS, query = "id=hook06" }
        local requests = {}
        for i = 1, 8 do requests[i] = change(hook_id(i), 0) end
        local results = checked(client:request_all(requests, { concurrency = 4 }))
        for i = 1, 8 do
            if i == 3 then
                assert.are.equal(500, results[i].status)
                assert.matches("^HTTP 500", results[i].err)
            elseif i == 6 then
                assert.is_nil(results[i].status)
                assert.matches("^connection lost", results[i].err)
            else
                assert.are.equal(200, results[i].status, results[i].err)
            end
        end
    end)

    it("leaves a request lost on kept-alive connections to libcurl: sent again at most 5 times", function()
        setup_hooks(8)
        local client = mmc.new(mock.options { retries = 0 })
        mock.call(client.auth, client)
        local warm = {}
        for i = 1, 8 do warm[i] = change(hook_id(i), 0) end
        for i, r in ipairs(checked(client:request_all(warm, { concurrency = 8 }))) do
            assert.are.equal(200, r.status, "warm-up call " .. i .. ": " .. tostring(r.err))
        end
        -- eight kept-alive connections now; the server reads hook06's request and closes, each time
        local before = #mock.requests_to(STATUS)
        mock.fail { status = 200, drop = true, count = 10, path = STATUS, query = "id=hook06" }
        local results = checked(client:request_all { change(hook_id(6), 1) })
        assert.is_nil(results[1].status)
        assert.matches("^connection lost", results[1].err)
        assert.are.equal(6, #mock.requests_to(STATUS) - before) -- once, then libcurl's 5
    end)

    it("retries each call on its own, after its own Retry-After, without holding up the others", function()
        setup_hooks(8)
        local client = mmc.new(mock.options { timeout = 20 })
        mock.call(client.auth, client)
        mock.fail { status = 503, path = STATUS, query = "id=hook02", retry_after = 2, body = "{}" }
        mock.fail { status = 502, count = 2, path = STATUS, query = "id=hook05", body = "{}" }
        local events = {}
        client = mmc.new(mock.options { timeout = 20, on_request = function(e) events[#events + 1] = e end })
        local requests = {}
        for i = 1, 8 do requests[i] = change(hook_id(i), 0) end
        local started = mock.now()
        local results = checked(client:request_all(requests, { concurrency = 8 }))
        local took = mock.now() - started
        for i = 1, 8 do assert.are.equal(200, results[i].status, results[i].err) end
        assert.is_true(took >= 2 and took < 10, "took " .. took .. " s")
        -- hook02 was sent again after 2 s, hook05 twice after a short backoff; the others
        -- were answered first, once each
        local order, times = {}, {}
        for _, r in ipairs(mock.requests_to(STATUS)) do
            local id = r.query:match("id=(hook%d+)")
            order[#order + 1] = id
            times[id] = times[id] or {}
            table.insert(times[id], r.time)
        end
        assert.are.equal(2, #times.hook02)
        assert.are.equal(3, #times.hook05)
        assert.is_true(times.hook02[2] - times.hook02[1] >= 1.9)
        assert.are.equal("hook02", order[#order])
        for i = 1, 8 do
            if i ~= 2 and i ~= 5 then assert.are.equal(1, #times[hook_id(i)]) end
        end
        -- each call's own events: 8 + 1 + 2 exchanges, after the new client's one authentication
        assert.are.equal(12, #events)
        assert.are.equal(mock.APPAUTH, events[1].path)
        local retries = 0
        for _, e in ipairs(events) do if e.retry_in then retries = retries + 1 end end
        assert.are.equal(3, retries)
    end)

    it("keeps at most `concurrency` calls in flight", function()
        setup_hooks(12)
        local client = mmc.new(mock.options())
        mock.call(client.auth, client)
        local requests = {}
        for i = 1, 12 do requests[i] = change(hook_id(i), 0) end
        for _, concurrency in ipairs { 1, 3 } do
            mock.setup { webhook_ids = { "hook01", "hook02", "hook03", "hook04", "hook05", "hook06",
                "hook07", "hook08", "hook09", "hook10", "hook11", "hook12" } }
            mock.call(client.auth, client)
            mock.delay(0.3)
            local results = checked(client:request_all(requests, { concurrency = concurrency }))
            mock.clear_faults()
            for i = 1, 12 do assert.are.equal(200, results[i].status, results[i].err) end
            local seen = mock.in_flight()
            assert.is_true(seen.max_in_flight <= concurrency, "max in flight " .. seen.max_in_flight)
            assert.is_true(seen.max_in_flight >= math.min(concurrency, 2), "max in flight " .. seen.max_in_flight)
            -- over HTTP/1.1, one connection per call in flight at most
            local ports = {}
            for _, r in ipairs(mock.requests_to(STATUS)) do ports[r.client_port] = true end
            local connections = 0
            for _ in pairs(ports) do connections = connections + 1 end
            assert.is_true(connections <= concurrency, connections .. " connections")
        end
    end)

    it("refuses bad input before anything is sent, naming the request", function()
        local client = mmc.new(mock.options())
        local good = change(mock.WEBHOOK_ID, 0)
        local function refused(requests, options, pattern)
            local ok, err = pcall(client.request_all, client, requests, options)
            assert.is_false(ok)
            assert.matches(pattern, err)
        end
        refused(nil, nil, "requests must be an array")
        refused({ good, "PUT" }, nil, "requests%[2%] must be a table", 1)
        refused({ good, good, { "FETCH", "/v1/x" } }, nil, "requests%[3%]%.method must be")
        refused({ good, { "GET", "/v1/../x" } }, nil, "requests%[2%]%.path: ")
        refused({ good, { "GET", 7 } }, nil, "requests%[2%]%.path: path must be a string, got number")
        local seven = {}
        for i = 1, 6 do seven[i] = good end
        seven[7] = { "GET", "/v1/x", { query = { a = {} } } }
        refused(seven, nil, "requests%[7%]%.options%.query%.a must be a string, number or boolean")
        refused({ { "GET", "/v1/x", { body = "{}" } } }, nil, "requests%[1%]%.options%.body: a GET has no body")
        refused({ { "GET", "/v1/x", { colour = 1 } } }, nil, "requests%[1%]%.options: unknown option 'colour'")
        refused({ { "GET", "/v1/x", { headers = { ["X-A"] = "a\r\nb" } } } }, nil, "requests%[1%]%.options%.headers: ")
        refused({ good }, { concurrency = 0 }, "options%.concurrency must be a whole number from 1 to 64")
        refused({ good }, { concurrency = 65 }, "options%.concurrency must be a whole number from 1 to 64")
        refused({ good }, { concurrency = 1.5 }, "options%.concurrency must be a whole number from 1 to 64")
        refused({ good }, { parallel = 2 }, "unknown option 'parallel'")
        refused({ good }, 8, "options must be a table")
        assert.are.equal(0, #mock.requests())
        -- called with a dot
        local ok, err = pcall(client.request_all, { good })
        assert.is_false(ok)
        assert.matches("client:request_all", err)
    end)

    it("runs on the module's default client as mmc.request_all", function()
        mmc.configure(mock.options())
        local results = checked(mmc.request_all { change(mock.WEBHOOK_ID, 0), { "GET", mock.LINK_CONFIG } })
        assert.are.equal(200, results[1].status, results[1].err)
        assert.are.equal(2, #results)
    end)

    it("takes named fields as well as positions, and the method's body rules", function()
        local client = mmc.new(mock.options())
        local results = checked(client:request_all {
            { method = "PUT", path = STATUS, options = { query = { id = mock.WEBHOOK_ID, status = 0 } } },
        })
        assert.are.equal(200, results[1].status, results[1].err)
    end)

    it("sends a POST once when the server closes the kept-alive connection without answering", function()
        local client = mmc.new(mock.options { retries = 3 })
        mock.call(client.auth, client)
        mock.fail { status = 200, drop = true, path = mock.LINK_CONFIG }
        -- the first call leaves a kept-alive connection the POST would go on
        local results = checked(client:request_all({
            change(mock.WEBHOOK_ID, 0),
            { "POST", mock.LINK_CONFIG, { body = { url = "https://example.invalid/x", subscriberId = "s",
                subscriberKey = "key-that-is-secret-0123456789" } } },
        }, { concurrency = 1 }))
        assert.are.equal(200, results[1].status, results[1].err)
        assert.is_nil(results[2].status)
        assert.matches("connection lost", results[2].err)
        assert.are.equal(1, count(mock.LINK_CONFIG))
    end)

    it("shares one connection pool with the single calls (a single call is a batch of one)", function()
        local client = mmc.new(mock.options())
        mock.setup {}
        local function ports_of(path)
            local ports = {}
            for _, r in ipairs(mock.requests_to(path)) do ports[#ports + 1] = r.client_port end
            return ports
        end
        -- the login, a single call, a batch of one, a single call again: one connection
        mock.call(client.auth, client)
        assert.are.equal(200, (mock.call(client.set_webhook_status, client, mock.WEBHOOK_ID, mmc.ENABLE)))
        local results = checked(client:request_all({ change(mock.WEBHOOK_ID, 1) }, { concurrency = 1 }))
        assert.are.equal(200, results[1].status, results[1].err)
        assert.are.equal(200, (mock.call(client.request, client, "PUT", STATUS,
            { query = { id = mock.WEBHOOK_ID, status = 0 } })))
        local login, calls = ports_of(mock.APPAUTH), ports_of(STATUS)
        assert.are.equal(1, #login)
        assert.are.equal(3, #calls)
        for i = 1, 3 do assert.are.equal(login[1], calls[i], "call " .. i .. " on its own connection") end
    end)

    it("keeps every connection a batch opened for the next batch", function()
        setup_hooks(8)
        local client = mmc.new(mock.options())
        mock.call(client.auth, client)
        local requests = {}
        for i = 1, 8 do requests[i] = change(hook_id(i), 0) end
        local function ports()
            local seen = {}
            for _, r in ipairs(mock.requests_to(STATUS)) do seen[r.client_port] = true end
            return seen
        end
        mock.delay(0.3) -- the 8 calls overlap: 8 connections
        local results = checked(client:request_all(requests, { concurrency = 8 }))
        for i = 1, 8 do assert.are.equal(200, results[i].status, results[i].err) end
        local first = ports()
        local opened = 0
        for _ in pairs(first) do opened = opened + 1 end
        assert.is_true(opened >= 6, opened .. " connections")
        mock.clear_faults()
        mock.setup { webhook_ids = { "hook01", "hook02", "hook03", "hook04", "hook05", "hook06", "hook07", "hook08" } }
        mock.delay(0.3)
        results = checked(client:request_all(requests, { concurrency = 8 }))
        mock.clear_faults()
        for i = 1, 8 do assert.are.equal(200, results[i].status, results[i].err) end
        for port in pairs(ports()) do
            assert.is_true(first[port], "the second batch opened a connection (port " .. port .. ")")
        end
    end)
end)
