-- Enabling, disabling and locking event push: the request on the wire and the results.
local mock = require "mock"
local mmc = require "mmc"

describe("mmc.set_webhook_status", function()
    before_each(function() mock.setup() end)

    it("exports the three statuses as the API numbers them", function()
        assert.are.equal(0, mmc.ENABLE)
        assert.are.equal(1, mmc.DISABLE)
        assert.are.equal(2, mmc.LOCK)
        assert.matches("^mmc %d+%.%d+%.%d+$", mmc._VERSION)
    end)

    for _, case in ipairs { { "ENABLE", 0 }, { "DISABLE", 1 }, { "LOCK", 2 } } do
        it("sends status " .. case[2] .. " (" .. case[1] .. ") with the token", function()
            local client = mmc.new(mock.options())
            local status, err = mock.call(client.set_webhook_status, client, mock.WEBHOOK_ID, mmc[case[1]])
            assert.are.equal(200, status)
            assert.is_nil(err)
            assert.are.equal(case[2], mock.webhooks()[mock.WEBHOOK_ID])
            local put = mock.requests_to(mock.CHANGE_STATUS)[1]
            assert.are.equal("PUT", put.method)
            assert.are.equal("id=" .. mock.WEBHOOK_ID .. "&status=" .. case[2], put.query)
            assert.is_true(#put.headers["x-access-token"] > 0)
            assert.matches("^%x+%-%x+%-4%x+%-[89ab]%x+%-%x+$", put.headers["x-request-id"])
            assert.are.equal("0", put.headers["content-length"])
            assert.is_nil(put.headers["content-type"]) -- no body, so no type
        end)
    end

    it("authenticates first when the client has no token", function()
        local client = mmc.new(mock.options())
        assert.are.equal(200, (mock.call(client.set_webhook_status, client, mock.WEBHOOK_ID, mmc.DISABLE)))
        local seen = mock.requests()
        assert.are.equal(2, #seen)
        assert.are.equal(mock.APPAUTH, seen[1].path)
        assert.are.equal(mock.CHANGE_STATUS, seen[2].path)
    end)

    it("works through the module's default client", function()
        mmc.configure(mock.options())
        local status, err, body = mock.call(mmc.set_webhook_status, mock.WEBHOOK_ID, mmc.ENABLE)
        assert.are.equal(200, status)
        assert.is_nil(err)
        assert.are.same({ returnCode = 0, returnDesc = "success" }, body)
        assert.are.equal(200, (mock.call(mmc.auth)))
    end)

    it("escapes the id, so it cannot forge a parameter", function()
        local client = mmc.new(mock.options())
        local status, err = mock.call(client.set_webhook_status, client, "x&status=0", mmc.LOCK)
        assert.are.equal(400, status)
        assert.matches("^MMC%.111070002", err) -- one unknown id, not a second status
        local put = mock.requests_to(mock.CHANGE_STATUS)[1]
        assert.are.equal("id=x%26status%3D0&status=2", put.query)
    end)

    it("escapes CR, LF, NUL and non-ASCII bytes in the id", function()
        local client = mmc.new(mock.options())
        local status = mock.call(client.set_webhook_status, client, "a\r\nX-Evil: 1\0é#/", mmc.ENABLE)
        assert.are.equal(400, status)
        local put = mock.requests_to(mock.CHANGE_STATUS)[1]
        assert.are.equal("id=a%0D%0AX-Evil%3A%201%00%C3%A9%23%2F&status=0", put.query)
        assert.is_nil(put.headers["x-evil"])
    end)

    it("returns the status and the server's error for an unknown id", function()
        local client = mmc.new(mock.options())
        local status, err, body = mock.call(client.set_webhook_status, client, "0123456789abcdef", mmc.ENABLE)
        assert.are.equal(400, status)
        assert.matches("^MMC%.111070002: webhook config not found %(request id %x+%)$", err)
        assert.are.equal("MMC.111070002", body.error_code)
    end)

    it("returns 'HTTP <status>' when the error body is not the documented JSON", function()
        mock.fail { status = 503, body = "<html>Service Unavailable</html>", content_type = "text/html", path = mock.CHANGE_STATUS }
        local client = mmc.new(mock.options { retries = 0 }) -- a 503 is otherwise retried
        local status, err, body = mock.call(client.set_webhook_status, client, mock.WEBHOOK_ID, mmc.ENABLE)
        assert.are.equal(503, status)
        assert.matches("^HTTP 503 %(request id %x+%)$", err)
        assert.is_nil(body)
    end)

    it("returns an error for a body full of garbage", function()
        mock.fail { status = 200, body = "\0\1{{{[[[", path = mock.CHANGE_STATUS }
        local client = mmc.new(mock.options())
        local status, err, body = mock.call(client.set_webhook_status, client, mock.WEBHOOK_ID, mmc.ENABLE)
        assert.are.equal(200, status)
        assert.matches("not JSON", err)
        assert.is_nil(body)
    end)

    it("returns an error for JSON nested too deeply to decode", function()
        mock.fail { status = 500, body = string.rep("[", 5000) .. string.rep("]", 5000), path = mock.CHANGE_STATUS }
        local client = mmc.new(mock.options())
        local status, err, body = mock.call(client.set_webhook_status, client, mock.WEBHOOK_ID, mmc.ENABLE)
        assert.are.equal(500, status)
        assert.matches("^HTTP 500", err)
        assert.is_nil(body)
    end)

    it("returns the HTTP status as an integer, its value on every Lua", function()
        local client = mmc.new(mock.options { retries = 0 })
        mock.fail { status = 503, body = "{}", path = mock.CHANGE_STATUS, count = 1 }
        for _, expected in ipairs { 503, 200 } do
            local status = mock.call(client.set_webhook_status, client, mock.WEBHOOK_ID, mmc.ENABLE)
            assert.are.equal(expected, status)
            assert.are.equal(tostring(expected), tostring(status)) -- not "200.0"
            if math.type then -- Lua 5.3 and later tell integers from floats
                assert.are.equal("integer", math.type(status))
            end
        end
    end)
end)
