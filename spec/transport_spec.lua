-- What the transport does when the network or the server misbehaves, and its safety defaults.
local unpack = table.unpack or unpack -- Lua 5.1 and LuaJIT: unpack
local pack = table.pack or function(...) return { n = select("#", ...), ... } end
local mock = require "mock"
local mmc = require "mmc"

local function timed(fn, ...)
    local started = mock.now()
    local results = pack(mock.call(fn, ...))
    return mock.now() - started, unpack(results, 1, results.n)
end

describe("the transport", function()
    before_each(function() mock.setup() end)
    after_each(function() mock.clear_faults(); mock.delay(0) end)

    it("returns nil and a message when the connection is refused", function()
        local client = mmc.new(mock.options { endpoint = "https://127.0.0.1:" .. mock.closed_port(), timeout = 2 })
        local elapsed, status, err = timed(client.auth, client)
        assert.is_nil(status)
        assert.matches("^connection failed: ", err)
        assert.is_true(elapsed < 3)
    end)

    -- A request the client gave up on is still answered by the mock later, with a token;
    -- waiting for that keeps it out of the next spec's counts.
    local function let_the_mock_finish(at) mock.sleep(math.max(0, at - mock.now())) end

    it("returns nil within the timeout plus a second when the server is slower than it", function()
        mock.delay(1.6, 1)
        local answered_at = mock.now() + 1.7
        local client = mmc.new(mock.options { timeout = 1 })
        local elapsed, status, err = timed(client.auth, client)
        assert.is_nil(status)
        assert.matches("^timed out: ", err)
        assert.is_true(elapsed >= 0.9 and elapsed < 2, "took " .. elapsed .. " s")
        -- and the next call works once the server is fast again
        assert.are.equal(200, (mock.call(client.auth, client)))
        let_the_mock_finish(answered_at)
    end)

    it("times out a call whose token request was fast but whose call is slow", function()
        local client = mmc.new(mock.options { timeout = 1 })
        mock.call(client.auth, client)
        mock.delay(1.6, 1)
        local answered_at = mock.now() + 1.7
        local elapsed, status, err = timed(client.set_webhook_status, client, mock.WEBHOOK_ID, mmc.ENABLE)
        assert.is_nil(status)
        assert.matches("^timed out: ", err)
        assert.is_true(elapsed < 2, "took " .. elapsed .. " s")
        let_the_mock_finish(answered_at)
    end)

    it("keeps the whole call, authentication included, within the timeout", function()
        mock.delay(0.7) -- each answer alone is well inside the timeout; the two together are not
        local client = mmc.new(mock.options { timeout = 1 })
        local elapsed, status, err = timed(client.set_webhook_status, client, mock.WEBHOOK_ID, mmc.ENABLE)
        assert.is_nil(status)
        assert.matches("^timed out: ", err)
        assert.is_true(elapsed >= 0.9 and elapsed < 2, "took " .. elapsed .. " s")
        let_the_mock_finish(mock.now() + 0.8)
    end)

    it("refuses a certificate from an unknown CA", function()
        local before = mock.tls_errors().count
        local client = mmc.new(mock.options { ca_file = mock.other_ca_file })
        local status, err = mock.call(client.auth, client)
        assert.is_nil(status)
        assert.matches("^TLS failed: ", err)
        assert.are.equal(0, #mock.requests())
        -- The mock notes the failed handshake in its own thread, which on a busy machine can
        -- come after the client has returned: it is waited for (at most 5 s).
        local deadline = mock.now() + 5
        while mock.tls_errors().count <= before and mock.now() < deadline do mock.sleep(0.02) end
        assert.is_true(mock.tls_errors().count > before)
    end)

    it("verifies certificates against the system store by default", function()
        local options = mock.options()
        options.ca_file = nil -- the test CA is in no system store
        local client = mmc.new(options)
        local status, err = mock.call(client.auth, client)
        assert.is_nil(status)
        assert.matches("^TLS failed: ", err)
    end)

    it("skips verification only when ssl_verify = false", function()
        local client = mmc.new(mock.options { ca_file = mock.other_ca_file, ssl_verify = false })
        assert.are.equal(200, (mock.call(client.auth, client)))
    end)

    it("does not follow redirects", function()
        mock.fail { status = 302, body = "", path = mock.CHANGE_STATUS }
        local client = mmc.new(mock.options())
        local status, err = mock.call(client.set_webhook_status, client, mock.WEBHOOK_ID, mmc.ENABLE)
        assert.are.equal(302, status)
        assert.matches("^HTTP 302 %(redirects are not followed%)", err)
        assert.are.equal(1, #mock.requests_to(mock.CHANGE_STATUS))
    end)

    it("caps the size of a response body", function()
        mock.fail { status = 500, body = string.rep("x", 4096), path = mock.APPAUTH }
        local client = mmc.new(mock.options { max_body = 1000 })
        local status, err = mock.call(client.auth, client)
        assert.is_nil(status)
        assert.are.equal("response too large: body exceeds 1000 bytes", err)
        assert.are.equal(200, (mock.call(client.auth, client)))
    end)

    it("reconnects transparently when the server closed the kept-alive connection", function()
        local client = mmc.new(mock.options())
        mock.fail { status = 200, body = '{"accessToken":"abcdef","validPeriod":100}', path = mock.APPAUTH, close = true }
        mock.call(client.auth, client)
        mock.call(client.auth, client)
        local ports = {}
        for _, r in ipairs(mock.requests()) do ports[#ports + 1] = r.client_port end
        assert.are.equal(2, #ports)
        assert.are_not.equal(ports[1], ports[2])
    end)

    it("sends a User-Agent naming mmc and libcurl", function()
        local client = mmc.new(mock.options())
        mock.call(client.auth, client)
        assert.matches("^mmc/%d+%.%d+%.%d+ libcurl/%d", mock.requests()[1].headers["user-agent"])
    end)

    it("refuses plain http unless allow_http is set", function()
        assert.error_matches(function() mmc.new(mock.options { endpoint = "http://127.0.0.1:1" }) end,
            "(endpoint must use https:// (plain http:// only with allow_http = true))", nil, true)
        local client = mmc.new(mock.options { endpoint = "http://127.0.0.1:" .. mock.closed_port(), allow_http = true })
        local status, err = mock.call(client.auth, client)
        assert.is_nil(status)
        assert.matches("^connection failed", err)
    end)
end)
