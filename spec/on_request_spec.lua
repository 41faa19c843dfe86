-- The on_request option: a function called once for every HTTP exchange a client makes
-- (authentication and retries included), in order, when the call returns and before its
-- results do, with { method, path, status | error, seconds, attempt, request_id, retry_in }.
-- Never a token, key, signature or query value; what it raises changes nothing.
local mock = require "mock"
local mmc = require "mmc"

local CONFERENCES = "/v1/mmc/management/conferences"

-- A client whose hook keeps every event; returns the client and the event list.
local function recording_client(extra)
    local events = {}
    local options = mock.options(extra)
    options.on_request = function(event) events[#events + 1] = event end
    return mmc.new(options), events
end

-- Every string and number an event holds, as one text (to search for secrets).
local function event_text(events)
    local parts = {}
    for _, event in ipairs(events) do
        for k, v in pairs(event) do parts[#parts + 1] = tostring(k) .. "=" .. tostring(v) end
    end
    return table.concat(parts, "\n")
end

describe("the on_request hook", function()
    before_each(function() mock.setup() end)
    after_each(function() mock.clear_faults() end)

    it("reports each exchange of a call with one retry, in order, with the request ids sent", function()
        local client, events = recording_client()
        mock.fail { status = 503, count = 1, path = CONFERENCES, body = "{}", }
        local started = mock.now()
        local status = mock.call(client.request, client, "GET", CONFERENCES,
            { query = { searchKey = "private-search-words" } })
        local elapsed = mock.now() - started
        assert.are.equal(200, status)

        assert.are.equal(3, #events)
        local auth, refused, answered = events[1], events[2], events[3]
        assert.are.same({ "POST", "/v2/usg/acs/auth/appauth", 200, 1 },
            { auth.method, auth.path, auth.status, auth.attempt })
        assert.are.same({ "GET", CONFERENCES, 503, 1 }, { refused.method, refused.path, refused.status, refused.attempt })
        assert.are.same({ "GET", CONFERENCES, 200, 2 },
            { answered.method, answered.path, answered.status, answered.attempt })
        assert.is_nil(auth.retry_in)
        assert.is_true(refused.retry_in > 0 and refused.retry_in <= 0.25, tostring(refused.retry_in))
        assert.is_nil(answered.retry_in)
        local total = 0
        for i, event in ipairs(events) do
            assert.is_nil(event.error)
            assert.is_true(event.seconds >= 0)
            total = total + event.seconds
            assert.are.equal(mock.requests()[i].headers["x-request-id"], event.request_id)
        end
        assert.is_true(total + refused.retry_in * 0.5 <= elapsed, "exchanges longer than the call")

        -- no token, key, signature or query value
        local text = event_text(events)
        mock.assert_no_secret(text)
        assert.is_nil(text:find("private-search-words", 1, true))
        assert.is_nil(text:find("searchKey", 1, true))
        assert.is_nil(text:find("HMAC", 1, true))
        for _, r in ipairs(mock.requests()) do
            assert.is_nil(text:find(r.headers["x-access-token"] or "HMAC", 1, true))
        end
    end)

    it("reports an exchange that got no answer by the kind of failure, with no status", function()
        local client, events = recording_client { endpoint = "https://127.0.0.1:" .. mock.closed_port(), retries = 1 }
        local status, err = mock.call(client.request, client, "GET", CONFERENCES)
        assert.is_nil(status)
        assert.matches("^authentication failed: connection failed", err)
        assert.are.equal(2, #events)
        for i, event in ipairs(events) do
            assert.are.equal("POST", event.method)
            assert.are.equal("/v2/usg/acs/auth/appauth", event.path)
            assert.is_nil(event.status)
            assert.are.equal("connection failed", event.error)
            assert.are.equal(i, event.attempt)
            assert.matches("^%x+%-%x+%-%x+%-%x+%-%x+$", event.request_id)
        end
        assert.is_number(events[1].retry_in)
        assert.is_nil(events[2].retry_in)
    end)

    it("reports a 401, the re-authentication and the request sent again", function()
        local client, events = recording_client()
        mock.call(client.auth, client)
        mock.revoke()
        for i = #events, 1, -1 do events[i] = nil end
        assert.are.equal(200, (mock.call(client.request, client, "GET", CONFERENCES)))
        local seen = {}
        for i, event in ipairs(events) do
            seen[i] = ("%s %s %d %d %s"):format(event.method, event.path, event.status, event.attempt,
                event.retry_in and ("%g"):format(event.retry_in) or "nil")
        end
        assert.are.same({
            "GET " .. CONFERENCES .. " 401 1 0",
            "POST /v2/usg/acs/auth/appauth 200 1 nil",
            "GET " .. CONFERENCES .. " 200 2 nil",
        }, seen)
    end)

    it("sees every operation, since they all go the same way", function()
        local client, events = recording_client()
        mock.call(client.auth, client)
        mock.call(client.set_webhook_status, client, mock.WEBHOOK_ID, mmc.DISABLE)
        mock.call(client.get_webhook_config, client)
        mock.call(client.delete_webhook_config, client, "no-such-id")
        mock.call(client.request, client, "DELETE", CONFERENCES, { query = { conferenceID = "914083136" } })
        mock.call(client.logout, client)
        local seen = {}
        for i, event in ipairs(events) do seen[i] = ("%s %s %d"):format(event.method, event.path, event.status) end
        assert.are.same({
            "POST /v2/usg/acs/auth/appauth 200",
            "PUT /v1/mmc/management/webhook/change-status 200",
            "GET /v1/mmc/management/webhook/link-config 404",
            "DELETE /v1/mmc/management/webhook/link-config 400",
            "DELETE " .. CONFERENCES .. " 200",
            "DELETE /v1/usg/acs/token 200",
        }, seen)
    end)

    it("changes nothing when it raises, and is still called for every exchange", function()
        local calls = 0
        local options = mock.options()
        options.on_request = function()
            calls = calls + 1
            if calls % 2 == 1 then error("hook failed") else error({ "a table" }) end
        end
        local raising = mmc.new(options)
        local quiet = mmc.new(mock.options())
        mock.fail { status = 503, count = 1, path = CONFERENCES, body = "{}" }
        local status, err, body = mock.call(raising.request, raising, "GET", CONFERENCES)
        assert.are.equal(200, status)
        assert.is_nil(err)
        assert.are.equal(1000, body.count) -- the mock's meetings (spec/mock/mock_control.py)
        assert.are.equal(3, calls)
        local quiet_status, quiet_err, quiet_body = quiet:request("GET", CONFERENCES)
        assert.are.same({ quiet_status, quiet_err, quiet_body }, { status, err, body })
        -- an error answer too
        local bad_status, bad_err = raising:request("GET", CONFERENCES, { query = { limit = 0 } })
        assert.are.equal(400, bad_status)
        assert.matches("^MMC%.111070001: limit must be", bad_err)
        assert.are.equal(4, calls)
    end)

    it("cannot use the client it observes (that would overwrite the result)", function()
        local inner
        local options = mock.options()
        local client
        options.on_request = function()
            inner = { pcall(client.request, client, "GET", CONFERENCES) }
        end
        client = mmc.new(options)
        local status, _, body = mock.call(client.request, client, "GET", CONFERENCES)
        assert.are.equal(200, status)
        assert.are.equal(1000, body.count)
        assert.is_false(inner[1])
        assert.matches("in a call already", inner[2], 1, true)
        assert.are.equal(1, #mock.requests_to(CONFERENCES))
    end)

    it("works on the default client, and must be a function", function()
        local events = {}
        mmc.configure(mock.options { on_request = function(event) events[#events + 1] = event.path end })
        assert.are.equal(200, (mock.call(mmc.request, "GET", CONFERENCES)))
        assert.are.same({ "/v2/usg/acs/auth/appauth", CONFERENCES }, events)
        local ok, err = pcall(mmc.new, mock.options { on_request = "print" })
        assert.is_false(ok)
        assert.matches("option 'on_request' must be a function, got string", err, 1, true)
        mmc.configure(mock.options())
    end)
end)
