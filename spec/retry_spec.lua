-- Retries: idempotent requests (authentication, PUT, GET, DELETE) that got no answer because
-- the connection was refused, reset or closed early, or that were answered 429, 502, 503 or
-- 504, are sent again up to `retries` times (default 2), after an exponential backoff with
-- jitter (0.25 s doubling, times 0.5..1), never past the call's timeout; a throttled answer
-- (429, APIG.0308) waits 2 to 5 s instead (throttle_spec.lua). Everything else is returned at
-- once: a POST or PATCH is never sent twice. (Retry-After needs a server that sends headers on
-- a failure: spec/faults_spec.lua's "retry policy" tests it, and scripts/reliability runs these
-- files for its retry row.)
local mock = require "mock"
local mmc = require "mmc"

local function statuses(path)
    local list = {}
    for i, r in ipairs(mock.requests_to(path)) do list[i] = r.status or "dropped" end
    return list
end

local function timed(fn, ...)
    local started = mock.now()
    local status, err, body = mock.call(fn, ...)
    return mock.now() - started, status, err, body
end

describe("retries", function()
    before_each(function() mock.setup() end)
    after_each(function() mock.clear_faults() end)

    for _, code in ipairs { 429, 502, 503, 504 } do
        it("sends a change-status answered " .. code .. " again, and succeeds", function()
            local client = mmc.new(mock.options())
            mock.call(client.auth, client)
            mock.fail { status = code, count = 1, path = mock.CHANGE_STATUS, body = "{}" }
            local status, err = mock.call(client.set_webhook_status, client, mock.WEBHOOK_ID, mmc.ENABLE)
            assert.are.equal(200, status)
            assert.is_nil(err)
            assert.are.same({ code, 200 }, statuses(mock.CHANGE_STATUS))
        end)
    end

    it("gives up after `retries` retries and returns the last answer", function()
        local client = mmc.new(mock.options())
        mock.call(client.auth, client)
        mock.fail { status = 503, count = 10, path = mock.CHANGE_STATUS, body = "{}" }
        local status, err = mock.call(client.set_webhook_status, client, mock.WEBHOOK_ID, mmc.ENABLE)
        assert.are.equal(503, status)
        assert.matches("^HTTP 503", err)
        assert.are.same({ 503, 503, 503 }, statuses(mock.CHANGE_STATUS)) -- 1 + 2 retries
        mock.setup()
        local five = mmc.new(mock.options { retries = 5, timeout = 30 })
        mock.call(five.auth, five)
        mock.fail { status = 503, count = 4, path = mock.CHANGE_STATUS, body = "{}" }
        assert.are.equal(200, (mock.call(five.set_webhook_status, five, mock.WEBHOOK_ID, mmc.ENABLE)))
        assert.are.same({ 503, 503, 503, 503, 200 }, statuses(mock.CHANGE_STATUS))
    end)

    it("returns other errors at once: 500, 400, 403", function()
        for _, code in ipairs { 500, 400, 403 } do
            mock.setup()
            local client = mmc.new(mock.options())
            mock.call(client.auth, client)
            mock.fail { status = code, count = 3, path = mock.CHANGE_STATUS, body = "{}" }
            local elapsed, status = timed(client.set_webhook_status, client, mock.WEBHOOK_ID, mmc.ENABLE)
            assert.are.equal(code, status)
            assert.are.same({ code }, statuses(mock.CHANGE_STATUS))
            -- no backoff either (the shortest is 0.125 s; the margin is for Valgrind)
            assert.is_true(elapsed < 0.5, "waited " .. elapsed .. " s before returning " .. code)
        end
    end)

    it("is off with retries = 0", function()
        local client = mmc.new(mock.options { retries = 0 })
        mock.call(client.auth, client)
        mock.fail { status = 503, count = 1, path = mock.CHANGE_STATUS, body = "{}" }
        assert.are.equal(503, (mock.call(client.set_webhook_status, client, mock.WEBHOOK_ID, mmc.ENABLE)))
        assert.are.same({ 503 }, statuses(mock.CHANGE_STATUS))
    end)

    it("retries authentication too", function()
        mock.fail { status = 502, count = 1, path = mock.APPAUTH, body = "{}" }
        local client = mmc.new(mock.options())
        assert.are.equal(200, (mock.call(client.set_webhook_status, client, mock.WEBHOOK_ID, mmc.ENABLE)))
        assert.are.same({ 502, 200 }, statuses(mock.APPAUTH))
    end)

    it("retries a connection the server dropped without an answer", function()
        local client = mmc.new(mock.options())
        mock.call(client.auth, client)
        mock.fail { status = 500, drop = true, count = 1, path = mock.CHANGE_STATUS } -- no status is sent
        local status, err = mock.call(client.set_webhook_status, client, mock.WEBHOOK_ID, mmc.ENABLE)
        assert.are.equal(200, status)
        assert.is_nil(err)
        assert.are.equal(2, #mock.requests_to(mock.CHANGE_STATUS))
    end)

    it("retries a refused connection, then says what failed", function()
        local client = mmc.new(mock.options { endpoint = "https://127.0.0.1:" .. mock.closed_port() })
        local elapsed, status, err = timed(client.auth, client)
        assert.is_nil(status)
        assert.matches("^connection failed: ", err)
        -- two backoffs: 0.125..0.25 s, then 0.25..0.5 s
        assert.is_true(elapsed >= 0.375 and elapsed < 1.5, "took " .. elapsed)
        local once = mmc.new(mock.options { endpoint = "https://127.0.0.1:" .. mock.closed_port(), retries = 0 })
        assert.is_true((timed(once.auth, once)) < 0.35) -- less than the two backoffs above
    end)

    it("backs off exponentially, with jitter", function()
        local client = mmc.new(mock.options { retries = 3, timeout = 30 })
        mock.call(client.auth, client)
        local waits = {}
        for round = 1, 4 do
            mock.setup()
            mock.call(client.auth, client)
            mock.fail { status = 503, count = 3, path = mock.CHANGE_STATUS, body = "{}" }
            local elapsed = timed(client.set_webhook_status, client, mock.WEBHOOK_ID, mmc.ENABLE)
            -- waits of 0.125..0.25, 0.25..0.5 and 0.5..1 s: 0.875..1.75 s in all
            assert.is_true(elapsed >= 0.875 and elapsed < 2.25, "round " .. round .. " took " .. elapsed)
            waits[round] = elapsed
        end
        table.sort(waits)
        assert.is_true(waits[4] - waits[1] > 0.01, "no jitter: " .. table.concat(waits, ", "))
    end)

    it("never waits past the call's timeout: the last answer comes back in time", function()
        local client = mmc.new(mock.options { retries = 10, timeout = 1 })
        mock.call(client.auth, client)
        mock.fail { status = 503, count = 100, path = mock.CHANGE_STATUS, body = "{}" }
        local elapsed, status = timed(client.set_webhook_status, client, mock.WEBHOOK_ID, mmc.ENABLE)
        assert.are.equal(503, status)
        -- no wait ends past the deadline; the last answer itself may take a moment to read
        -- (0.2 s allows for a client slowed twentyfold under Valgrind)
        assert.is_true(elapsed < 1.2, "took " .. elapsed)
        local sent = #mock.requests_to(mock.CHANGE_STATUS)
        assert.is_true(sent >= 2 and sent < 11, sent .. " requests")
    end)

    local function never_sends_again(failures_of_the_connection)
        local failures = { { status = 429 }, { status = 502 }, { status = 503 }, { status = 504 } }
        local sends = {
            { mock.LINK_CONFIG, function(client)
                return client:set_webhook_config { url = "https://127.0.0.1:8443/hook", subscriber_id = "sub",
                                                   subscriber_key = "subscriber-key-123" }
            end },
            { "/v1/mmc/management/conferences", function(client)
                return client:request("POST", "/v1/mmc/management/conferences", { body = "{}" })
            end },
            { "/v1/mmc/management/conferences", function(client)
                return client:request("PATCH", "/v1/mmc/management/conferences", { body = "{}" })
            end },
        }
        if failures_of_the_connection then
            failures = { { status = 500, drop = true } } -- the server read it, then closed
        end
        for _, failure in ipairs(failures) do
            for _, send in ipairs(sends) do
                mock.setup()
                local client = mmc.new(mock.options { retries = 3, timeout = 10 })
                mock.call(client.auth, client)
                mock.fail { status = failure.status, drop = failure.drop, count = 1, path = send[1], body = "{}" }
                local elapsed, status = timed(send[2], client)
                local what = (failure.drop and "dropped" or failure.status) .. " " .. send[1]
                assert.are.equal(1, #mock.requests_to(send[1]), what .. " was sent again")
                if not failure.drop then assert.are.equal(failure.status, status, what) end
                assert.is_true(elapsed < 0.5, what .. ": waited " .. elapsed .. " s")
            end
        end
    end

    it("never sends a POST or PATCH again when it is answered 429, 502, 503 or 504", function()
        never_sends_again(false)
    end)

    it("never sends a POST or PATCH again when the connection closed without an answer", function()
        never_sends_again(true)
    end)

    it("is checked when the client is made", function()
        for _, bad in ipairs { -1, 11, 1.5, 0 / 0 } do
            assert.has_error(function() mmc.new(mock.options { retries = bad }) end,
                "bad argument #1 to 'new' (option 'retries' must be a whole number from 0 to 10)")
        end
    end)
end)
