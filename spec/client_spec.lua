-- Clients: independent of each other, closed once by close/__gc/__close, configured from the
-- environment, and never showing a secret.
local mock = require "mock"
local mmc = require "mmc"

-- Runs a Lua chunk in a fresh interpreter with the given environment; returns its output.
local function run_with_env(env, chunk)
    local assignments = {}
    for k, v in pairs(env) do assignments[#assignments + 1] = k .. "='" .. v .. "'" end
    local command = string.format("env -u MMC_APP_ID -u MMC_APP_KEY %s%s %s -e %q 2>&1",
        mock.child_env(), table.concat(assignments, " "), arg and arg[-1] or "lua5.4",
        "package.cpath='" .. package.cpath .. "' " .. chunk)
    local pipe = assert(io.popen(command))
    local output = pipe:read("*a") -- "*a": every Lua from 5.1 reads it
    pipe:close()
    return output
end

describe("an mmc client", function()
    before_each(function() mock.setup() end)

    it("works from the environment alone, with no configure call", function()
        local output = run_with_env({
            MMC_APP_ID = mock.APP_ID, MMC_APP_KEY = mock.APP_KEY, MMC_USER_ID = "env-user",
            MMC_ENDPOINT = mock.endpoint, MMC_CA_FILE = mock.ca_file,
        }, [[local mmc = require 'mmc'; print(mmc.set_webhook_status(']] .. mock.WEBHOOK_ID .. [[', mmc.LOCK))]])
        assert.matches("^200\tnil\ttable", output)
        local auth = mock.requests_to(mock.APPAUTH)[1]
        assert.are.equal("env-user", mock.json.decode(auth.body).userId)
        assert.is_true(auth.signature_valid)
    end)

    it("reads MMC_CORP_ID in SP mode only", function()
        local output = run_with_env({
            MMC_APP_ID = mock.SP_APP_ID, MMC_APP_KEY = mock.SP_APP_KEY, MMC_CORP_ID = mock.CORP_ID,
            MMC_ENDPOINT = mock.endpoint, MMC_CA_FILE = mock.ca_file,
        }, [[local mmc = require 'mmc'; mmc.configure{ sp = true }; print(mmc.auth())]])
        assert.matches("^200\tnil", output)
        assert.are.equal(mock.CORP_ID, mock.json.decode(mock.requests_to(mock.APPAUTH)[1].body).corpId)
    end)

    it("lets options win over the environment", function()
        local output = run_with_env({ MMC_APP_ID = "from-env", MMC_APP_KEY = "env-key", MMC_ENDPOINT = "https://127.0.0.1:1" },
            ([[local mmc = require 'mmc'; local c = mmc.new{ app_id = %q, app_key = %q, endpoint = %q, ca_file = %q }; print(c:auth())]])
                :format(mock.APP_ID, mock.APP_KEY, mock.endpoint, mock.ca_file))
        assert.matches("^200\tnil", output)
    end)

    it("raises a clear error for a bad environment variable", function()
        local output = run_with_env({ MMC_APP_ID = "a", MMC_APP_KEY = "k", MMC_ENDPOINT = "http://x" },
            [[local mmc = require 'mmc'; print(pcall(mmc.auth))]])
        assert.matches("false\tmmc: bad environment variable MMC_ENDPOINT: endpoint must use https://", output)
    end)

    it("keeps clients independent: each has its own token and connection", function()
        local a, b = mmc.new(mock.options()), mmc.new(mock.options())
        mock.call(a.set_webhook_status, a, mock.WEBHOOK_ID, 0)
        mock.call(b.set_webhook_status, b, mock.WEBHOOK_ID, 1)
        mock.call(a.set_webhook_status, a, mock.WEBHOOK_ID, 2)
        local puts = mock.requests_to(mock.CHANGE_STATUS)
        assert.are.equal(2, #mock.requests_to(mock.APPAUTH))
        assert.are.equal(puts[1].headers["x-access-token"], puts[3].headers["x-access-token"])
        assert.are_not.equal(puts[1].headers["x-access-token"], puts[2].headers["x-access-token"])
        assert.are_not.equal(puts[1].client_port, puts[2].client_port)
    end)

    it("is closed by close, once, and close may be called again", function()
        local client = mmc.new(mock.options())
        client:close()
        client:close()
        assert.are.equal("mmc.client (closed)", tostring(client))
    end)

    -- To-be-closed variables exist from Lua 5.4 on; older parsers cannot even read them.
    if _VERSION >= "Lua 5.4" then
        it("is closed at the end of a <close> scope", function()
            local leave_scope = assert(load([[
                local mmc, mock = ...
                local outer
                do
                    local client <close> = mmc.new(mock.options())
                    outer = client
                    assert(mock.call(client.auth, client) == 200)
                end
                return outer
            ]]))
            local outer = leave_scope(mmc, mock)
            assert.are.equal("mmc.client (closed)", tostring(outer))
        end)
    end

    it("is collected, connection and all, when no longer referenced", function()
        local weak = setmetatable({}, { __mode = "v" })
        for i = 1, 20 do
            local client = mmc.new(mock.options())
            assert.are.equal(200, (mock.call(client.auth, client)))
            weak[i] = client
        end
        collectgarbage()
        collectgarbage()
        assert.is_nil(next(weak)) -- nothing inside mmc keeps a client alive
        assert.are.equal(20, #mock.requests_to(mock.APPAUTH))
    end)

    it("describes itself without its key", function()
        local client = mmc.new(mock.options())
        local text = tostring(client)
        assert.are.equal("mmc.client (app_id '" .. mock.APP_ID .. "', " .. mock.endpoint .. ")", text)
        mock.assert_no_secret(text)
    end)

    it("redacts a token or key the server echoes in an error", function()
        local client = mmc.new(mock.options())
        mock.call(client.set_webhook_status, client, mock.WEBHOOK_ID, 0)
        local token = mock.requests_to(mock.CHANGE_STATUS)[1].headers["x-access-token"]
        mock.fail {
            status = 403, path = mock.CHANGE_STATUS,
            body = mock.json.encode { error_code = "MMC.403", error_msg = "token " .. token .. " key " .. mock.APP_KEY },
        }
        local status, err = client:set_webhook_status(mock.WEBHOOK_ID, 0)
        assert.are.equal(403, status)
        assert.are.equal("MMC.403: token *** key ***", err:gsub(" %(request id %x+%)$", ""))
    end)

    it("hides its metatable", function()
        assert.are.equal("protected", getmetatable(mmc.new(mock.options())))
    end)
end)
