-- Throttling (issue 16, item 3): Huawei's API gateway refuses a request over the rate limit with
-- HTTP 429 and error_code APIG.0308, and Huawei's guidance is to wait 2 to 5 seconds before trying
-- again. A throttled answer without Retry-After (429, or any answer carrying APIG.0308) is sent
-- again after 2 to 5 s (jittered), never past the call's timeout; Retry-After, when the answer
-- has one, still decides (checked with the fault server, which sends the header; faults_spec.lua
-- checks a bare 429 with it). Time budget: 30 s (four waits of 2 to 5 s, one of 1 s, one of 6 s).
package.path = "spec/faults/?.lua;" .. package.path
local mock = require "mock"
local mmc = require "mmc"
local faults = require "fault_server"

local THROTTLED = '{"error_code":"APIG.0308","error_msg":"The request is throttled."}'

local function timed(fn, ...)
    local started = mock.now()
    local status, err = mock.call(fn, ...)
    return mock.now() - started, status, err
end

-- The seconds between the first and the second request to `path`, as the mock saw them.
local function gap(path)
    local requests = mock.requests_to(path)
    assert.are.equal(2, #requests)
    return requests[2].time - requests[1].time
end

describe("a throttled call", function()
    before_each(function() mock.setup() end)
    after_each(function() mock.clear_faults() end)

    it("waits 2 to 5 s after a 429 APIG.0308 without Retry-After, then returns 200 (default options)", function()
        local seen = {}
        local client = mmc.new(mock.options { on_request = function(e) seen[#seen + 1] = e end })
        mock.call(client.auth, client)
        mock.fail { status = 429, count = 1, path = mock.CHANGE_STATUS, body = THROTTLED }
        local elapsed, status, err = timed(client.set_webhook_status, client, mock.WEBHOOK_ID, mmc.ENABLE)
        assert.are.equal(200, status, err)
        assert.is_nil(err)
        local waited = gap(mock.CHANGE_STATUS)
        -- the upper bounds leave room for a slow machine (the wait itself is at most 5 s)
        assert.is_true(waited >= 2 and waited < 5.5, ("the retry came %.3f s after the 429"):format(waited))
        assert.is_true(elapsed >= 2 and elapsed < 6, ("the call took %.3f s"):format(elapsed))
        -- on_request is told the wait chosen
        local throttled = seen[#seen - 1]
        assert.are.equal(429, throttled.status)
        assert.is_true(throttled.retry_in >= 2 and throttled.retry_in <= 5, "retry_in " .. tostring(throttled.retry_in))
        io.stderr:write(("throttle: 429 APIG.0308, retried after %.3f s, call took %.3f s\n"):format(waited, elapsed))
    end)

    it("waits 2 to 5 s for APIG.0308 whatever the status, and for a bare 429", function()
        local client = mmc.new(mock.options())
        mock.call(client.auth, client)
        mock.fail { status = 403, count = 1, path = mock.CHANGE_STATUS, body = THROTTLED }
        assert.are.equal(200, (mock.call(client.set_webhook_status, client, mock.WEBHOOK_ID, mmc.ENABLE)))
        local waited = gap(mock.CHANGE_STATUS)
        assert.is_true(waited >= 2 and waited < 5.5, ("APIG.0308 in a 403: retried after %.3f s"):format(waited))

        mock.setup()
        mock.call(client.auth, client)
        mock.fail { status = 429, count = 1, path = mock.CHANGE_STATUS, body = "{}" }
        assert.are.equal(200, (mock.call(client.set_webhook_status, client, mock.WEBHOOK_ID, mmc.ENABLE)))
        waited = gap(mock.CHANGE_STATUS)
        assert.is_true(waited >= 2 and waited < 5.5, ("a bare 429: retried after %.3f s"):format(waited))
    end)

    it("shortens the wait to fit the call's timeout, and returns the 429 when 2 s do not fit", function()
        local client = mmc.new(mock.options { timeout = 3 })
        mock.call(client.auth, client)
        mock.fail { status = 429, count = 1, path = mock.CHANGE_STATUS, body = THROTTLED }
        local elapsed, status = timed(client.set_webhook_status, client, mock.WEBHOOK_ID, mmc.ENABLE)
        assert.are.equal(200, status)
        assert.is_true(gap(mock.CHANGE_STATUS) >= 2, "waited less than 2 s")
        assert.is_true(elapsed < 3, ("took %.3f s with a 3 s timeout"):format(elapsed))

        mock.setup()
        local short = mmc.new(mock.options { timeout = 1.5 })
        mock.call(short.auth, short)
        mock.fail { status = 429, count = 1, path = mock.CHANGE_STATUS, body = THROTTLED }
        local took, answered, err = timed(short.set_webhook_status, short, mock.WEBHOOK_ID, mmc.ENABLE)
        assert.are.equal(429, answered)
        assert.matches("^APIG%.0308: The request is throttled%.", err)
        assert.is_true(took < 1, ("took %.3f s"):format(took))
        assert.are.equal(1, #mock.requests_to(mock.CHANGE_STATUS))
    end)

    it("waits what Retry-After says instead, shorter or longer than 2 to 5 s", function()
        local server = faults.start()
        local ok, failure = pcall(function()
            for _, case in ipairs { { "1", 0.95, 1.9 }, { "6", 5.95, 7 } } do
                server:reset()
                local client = mmc.new { app_id = "throttle-app", app_key = "throttle-app-key-0123456789",
                    endpoint = server.endpoint, ca_file = server.ca_file, timeout = 10 }
                assert.are.equal(200, (client:auth()))
                server:fault { on = "request", action = "respond", path = mock.CHANGE_STATUS, status = 429,
                    headers = { ["Retry-After"] = case[1] }, body = THROTTLED }
                local status, err = client:set_webhook_status(mock.WEBHOOK_ID, mmc.ENABLE)
                assert.are.equal(200, status, err)
                local puts = server:requests("main", mock.CHANGE_STATUS)
                assert.are.equal(2, #puts)
                local waited = puts[2].t - puts[1].t
                assert.is_true(waited >= case[2] and waited < case[3],
                    ("Retry-After: %s, the retry came %.3f s after the 429"):format(case[1], waited))
                client:close()
            end
        end)
        server:stop()
        assert(ok, failure)
    end)
end)
