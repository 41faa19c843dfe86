-- Programmer errors raise, naming the argument; nothing reaches the server.
local mock = require "mock"
local mmc = require "mmc"

-- Asserts that fn raises `expected`, after the "file:line: " where it was called. Lua names
-- the function as it was called ('new' or 'mmc.new'), so an "mmc." before the name is allowed.
local function raises(expected, fn)
    local ok, err = pcall(fn)
    assert.is_false(ok, "did not raise: " .. expected)
    err = tostring(err):gsub("^[^:]+:%d+: ", ""):gsub("to 'mmc%.", "to '")
    assert.are.equal(expected, err)
end

describe("argument checks", function()
    local client
    before_each(function()
        mock.setup()
        client = mmc.new(mock.options())
    end)
    after_each(function()
        client:close()
        assert.are.equal(0, #mock.requests(), "a request reached the server")
    end)

    describe("set_webhook_status", function()
        local bad_ids = {
            { nil, "id must be a non-empty string, got nil" },
            { 42, "id must be a non-empty string, got number" },
            { {}, "id must be a non-empty string, got table" },
            { "", "id must be a non-empty string, got an empty string" },
            { string.rep("a", 129), "id is longer than 128 bytes" },
        }
        for _, case in ipairs(bad_ids) do
            it("raises for the id " .. tostring(case[1]):sub(1, 20), function()
                raises("bad argument #1 to 'set_webhook_status' (" .. case[2] .. ")",
                    function() client:set_webhook_status(case[1], 0) end)
                raises("bad argument #1 to 'set_webhook_status' (" .. case[2] .. ")",
                    function() mmc.set_webhook_status(case[1], 0) end)
            end)
        end

        local bad_statuses = { 3, -1, 1.5, 0 / 0, math.huge, 2 ^ 63, "0", true, {}, nil }
        for i = 1, 10 do
            local value = bad_statuses[i]
            it("raises for the status " .. tostring(value), function()
                local shown = type(value) == "number" and tostring(value) or type(value)
                local expected = "bad argument #2 to 'set_webhook_status' (status must be mmc.ENABLE (0), "
                    .. "mmc.DISABLE (1) or mmc.LOCK (2), got " .. shown .. ")"
                raises(expected, function() client:set_webhook_status(mock.WEBHOOK_ID, value) end)
                raises(expected, function() mmc.set_webhook_status(mock.WEBHOOK_ID, value) end)
            end)
        end

        it("accepts a float with an integer value", function()
            mock.setup()
            assert.are.equal(200, (mock.call(client.set_webhook_status, client, mock.WEBHOOK_ID, 1.0)))
            mock.setup() -- nothing above counts as a stray request
        end)

        it("does not show a string passed as the status, which may be a secret", function()
            local ok, err = pcall(client.set_webhook_status, client, mock.WEBHOOK_ID, mock.APP_KEY)
            assert.is_false(ok)
            assert.is_nil(err:find(mock.APP_KEY, 1, true))
            assert.matches("got string%)$", err)
        end)

        it("raises on a closed client", function()
            local closed = mmc.new(mock.options())
            closed:close()
            raises("mmc: the client is closed", function() closed:set_webhook_status(mock.WEBHOOK_ID, 0) end)
            raises("mmc: the client is closed", function() closed:auth() end)
        end)

        it("raises when called on something that is not a client", function()
            raises("bad argument #1 to 'set_webhook_status' (mmc.client expected, got table; call methods with a colon: client:set_webhook_status(...))",
                function() client.set_webhook_status({}, "x", 0) end)
        end)
    end)

    describe("options", function()
        local bad_options = {
            { { app_secret = "x" }, "unknown option 'app_secret'" },
            { { [1] = "x" }, "unknown option '1'" },
            { { timeout = "10" }, "option 'timeout' must be a number, got string" },
            { { app_id = 12 }, "option 'app_id' must be a string, got number" },
            { { sp = "yes" }, "option 'sp' must be a boolean, got string" },
            { { ssl_verify = 0 }, "option 'ssl_verify' must be a boolean, got number" },
            { { app_key = {} }, "option 'app_key' must be a string, got table" },
            { { timeout = 0 }, "timeout must be a number of seconds above 0 and at most 3600" },
            { { timeout = -1 }, "timeout must be a number of seconds above 0 and at most 3600" },
            { { timeout = 0 / 0 }, "timeout must be a number of seconds above 0 and at most 3600" },
            { { timeout = math.huge }, "timeout must be a number of seconds above 0 and at most 3600" },
            { { connect_timeout = 1e9 }, "connect_timeout must be a number of seconds above 0 and at most 3600" },
            { { max_body = 0 }, "option 'max_body' must be a whole number of bytes from 1 to 1 GiB" },
            { { max_body = 1.5 }, "option 'max_body' must be a whole number of bytes from 1 to 1 GiB" },
            { { endpoint = "ftp://x" }, "endpoint must start with https://" },
            { { endpoint = "https://host/x?y=1" }, "endpoint must not contain a query, a fragment or user info" },
            { { endpoint = "https://host\r\nX: 1" }, "endpoint must not contain white space or control characters" },
            { { corp_id = "c" }, "corp_id is only used in SP mode (set sp = true)" },
            { { app_id = string.rep("a", 65) }, "app_id must be 1 to 64 characters of UTF-8" },
            { { user_id = "\255" }, "user_id must be at most 64 characters of UTF-8" },
            { { app_key = "k\0ey" }, "option 'app_key' must not contain NUL" },
            { { ca_file = "/nonexistent/ca.pem" }, "ca_file '/nonexistent/ca.pem' cannot be read: No such file or directory" },
            { { endpoint = "https://host/v1" }, "endpoint must have no path: give only https://host[:port], mmc adds the API's paths" },
        }
        for _, case in ipairs(bad_options) do
            it("raises: " .. case[2], function()
                local options = mock.options()
                for k, v in pairs(case[1]) do options[k] = v end
                raises("bad argument #1 to 'new' (" .. case[2] .. ")", function() mmc.new(options) end)
                raises("bad argument #1 to 'configure' (" .. case[2] .. ")", function() mmc.configure(options) end)
            end)
        end

        it("raises when the options are not a table", function()
            raises("bad argument #1 to 'new' (table expected, got string)", function() mmc.new("app_id=x") end)
        end)

        it("keeps the old default client when configure raises", function()
            mmc.configure(mock.options())
            pcall(mmc.configure, { timeout = -1 })
            mock.setup()
            assert.are.equal(200, (mock.call(mmc.auth)))
            mock.setup()
        end)

        it("raises, saying how to set it, when a call needs a missing app_id or app_key", function()
            local no_id = mmc.new { app_key = "k", endpoint = mock.endpoint }
            raises("mmc: app_id is not set: pass app_id to mmc.configure{} or mmc.new{}, or set the environment variable MMC_APP_ID",
                function() no_id:auth() end)
            local no_key = mmc.new { app_id = "a", endpoint = mock.endpoint }
            raises("mmc: app_key is not set: pass app_key to mmc.configure{} or mmc.new{}, or set the environment variable MMC_APP_KEY",
                function() no_key:set_webhook_status(mock.WEBHOOK_ID, 0) end)
        end)
    end)
end)
