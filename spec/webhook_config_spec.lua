-- The subscription itself: set (POST link-config), get, delete, and logging out, in the
-- module's conventions (results, token handling, escaping, no secret in any message).
local mock = require "mock"
local mmc = require "mmc"

local SUBSCRIBER_KEY = "subscriber-key-5f2b9c"

local function config(extra)
    local c = { url = "https://127.0.0.1:8443/mmc/push", subscriber_id = "sub-001",
                subscriber_key = SUBSCRIBER_KEY }
    for k, v in pairs(extra or {}) do c[k] = v end
    return c
end

describe("the event-push subscription", function()
    local client
    before_each(function()
        mock.setup()
        client = mmc.new(mock.options())
    end)

    it("is set with POST link-config, and the server stores exactly what was given", function()
        local status, err, body = mock.call(client.set_webhook_config, client, config())
        assert.are.equal(200, status)
        assert.is_nil(err)
        assert.is_nil(body) -- the API answers with no body
        local stored = mock.webhook_configs()
        assert.are.equal(1, #stored)
        assert.are.equal("sub-001", stored[1].subscriberId)
        assert.are.equal(SUBSCRIBER_KEY, stored[1].subscriberKey)
        assert.are.equal("https://127.0.0.1:8443/mmc/push", stored[1].url)
        local post = mock.requests_to(mock.LINK_CONFIG)[1]
        assert.are.equal("POST", post.method)
        assert.are.same({ subscriberId = "sub-001", subscriberKey = SUBSCRIBER_KEY,
                          url = "https://127.0.0.1:8443/mmc/push" }, mock.json.decode(post.body))
    end)

    it("is read back with GET link-config as id, subscriber_id, url, status and status_name", function()
        mock.call(client.set_webhook_config, client, config())
        local status, err, subscription = mock.call(client.get_webhook_config, client)
        assert.are.equal(200, status)
        assert.is_nil(err)
        assert.are.same({
            id = mock.webhook_configs()[1].id, subscriber_id = "sub-001",
            url = "https://127.0.0.1:8443/mmc/push", status = 1, status_name = "disabled",
        }, subscription)
        assert.are.equal("", mock.requests_to(mock.LINK_CONFIG)[2].query)
    end)

    it("sends corp_id and sp_id as escaped query parameters in SP mode", function()
        local sp = mmc.new { app_id = mock.SP_APP_ID, app_key = mock.SP_APP_KEY, sp = true,
                             endpoint = mock.endpoint, ca_file = mock.ca_file }
        local status = mock.call(sp.set_webhook_config, sp, config { corp_id = mock.CORP_ID })
        assert.are.equal(200, status)
        local _, err, subscription = mock.call(sp.get_webhook_config, sp, { corp_id = mock.CORP_ID })
        assert.is_nil(err)
        assert.are.equal("sub-001", subscription.subscriber_id)
        local get = mock.requests_to(mock.LINK_CONFIG)[2]
        assert.are.equal("corpId=" .. mock.CORP_ID, get.query)
        -- a value that needs escaping arrives escaped, as one parameter
        mock.call(sp.get_webhook_config, sp, { corp_id = "a&spId=b c", sp_id = "sp/1" })
        assert.are.equal("corpId=a%26spId%3Db%20c&spId=sp%2F1", mock.requests_to(mock.LINK_CONFIG)[3].query)
    end)

    it("says when there is none: the server's 404, as an error", function()
        local status, err = mock.call(client.get_webhook_config, client)
        assert.are.equal(404, status)
        assert.matches("^MMC%.%d+: ", err)
    end)

    it("is deleted with DELETE link-config?id=", function()
        mock.call(client.set_webhook_config, client, config())
        local id = mock.webhook_configs()[1].id
        local status, err = mock.call(client.delete_webhook_config, client, id)
        assert.are.equal(200, status)
        assert.is_nil(err)
        assert.are.same({}, mock.webhook_configs())
        local delete = mock.requests_to(mock.LINK_CONFIG)[2]
        assert.are.equal("DELETE", delete.method)
        assert.are.equal("id=" .. id, delete.query)
        local again = mock.call(client.delete_webhook_config, client, id)
        assert.are.equal(400, again)
    end)

    it("can be enabled, disabled and locked by its id", function()
        mock.call(client.set_webhook_config, client, config())
        local id = mock.webhook_configs()[1].id
        assert.are.equal(200, (mock.call(client.set_webhook_status, client, id, mmc.LOCK)))
        assert.are.equal("locked", select(3, mock.call(client.get_webhook_config, client)).status_name)
        assert.are.equal(200, (mock.call(client.set_webhook_status, client, id, mmc.DISABLE)))
        assert.are.equal("disabled", select(3, mock.call(client.get_webhook_config, client)).status_name)
    end)

    it("never shows the subscriber key, even when the server echoes it in an error", function()
        mock.fail {
            status = 400, path = mock.LINK_CONFIG,
            -- (not "bad subscriberKey": its first 8 bytes are a part of this key, and go too)
            body = '{"error_code":"MMC.111070005","error_msg":"bad key ' .. SUBSCRIBER_KEY .. '"}',
        }
        local status, err, body = client:set_webhook_config(config())
        assert.are.equal(400, status)
        assert.is_nil(err:find(SUBSCRIBER_KEY, 1, true))
        assert.matches("bad key %*%*%*", err)
        assert.matches("bad key %*%*%*", body.error_msg) -- nor in the body it returns
    end)

    it("is not sent twice: the POST that sets it is not retried", function()
        mock.call(client.auth, client)
        mock.fail { status = 503, count = 1, path = mock.LINK_CONFIG, body = "{}" }
        local status = mock.call(client.set_webhook_config, client, config())
        assert.are.equal(503, status)
        assert.are.equal(1, #mock.requests_to(mock.LINK_CONFIG))
    end)

    it("refuses bad fields before anything is sent, naming them, never showing the key", function()
        local cases = {
            { config { url = "http://127.0.0.1/hook" }, "url must be an https:// URL" },
            { config { url = "https://" }, "url must be an https:// URL" },
            { config { url = "https://a b" }, "url must be at most 2048 bytes, with no space, control character or quote" },
            { config { subscriber_id = "" }, "subscriber_id must be 1 to 64 bytes of UTF-8 text" },
            { config { subscriber_key = string.rep("k", 129) }, "subscriber_key must be 1 to 128 bytes of UTF-8 text" },
            { config { corp_id = string.rep("c", 65) }, "corp_id must be at most 64 bytes of UTF-8 text" },
            { config { extra = "x" }, "unknown field 'extra'" },
            { config { subscriber_key = 42 }, "field 'subscriber_key' must be a string, got number" },
        }
        for _, case in ipairs(cases) do
            local ok, err = pcall(client.set_webhook_config, client, case[1])
            assert.is_false(ok)
            assert.matches("bad argument #%d to '[%w_?]*' %(" .. case[2]:gsub("%p", "%%%0") .. "%)$", err)
            assert.is_nil(err:find(SUBSCRIBER_KEY, 1, true))
        end
        assert.are.equal(0, #mock.requests())
    end)
end)

describe("logout", function()
    before_each(function() mock.setup() end)

    it("invalidates the token with DELETE /v1/usg/acs/token, and the client forgets it", function()
        local client = mmc.new(mock.options())
        mock.call(client.set_webhook_status, client, mock.WEBHOOK_ID, mmc.ENABLE)
        local status, err = mock.call(client.logout, client)
        assert.are.equal(200, status)
        assert.is_nil(err)
        local logout = mock.requests_to(mock.TOKEN)[1]
        assert.are.equal("DELETE", logout.method)
        assert.are.equal(mock.requests_to(mock.CHANGE_STATUS)[1].headers["x-access-token"],
                         logout.headers["x-access-token"])
        assert.are.equal(1, mock.tokens().logged_out)
        -- the next call logs in again instead of trying the dead token
        assert.are.equal(200, (mock.call(client.set_webhook_status, client, mock.WEBHOOK_ID, mmc.DISABLE)))
        assert.are.equal(2, #mock.requests_to(mock.APPAUTH))
        for _, r in ipairs(mock.requests_to(mock.CHANGE_STATUS)) do assert.are.equal(200, r.status) end
    end)

    it("with no token, sends nothing and says so", function()
        local client = mmc.new(mock.options())
        local status, err = mock.call(client.logout, client)
        assert.is_nil(status)
        assert.are.equal("not logged in: the client holds no token to log out", err)
        assert.are.equal(0, #mock.requests())
    end)

    it("works on the default client", function()
        mmc.configure(mock.options())
        assert.are.equal(200, (mock.call(mmc.auth)))
        assert.are.equal(200, (mock.call(mmc.logout)))
        assert.are.equal(1, mock.tokens().logged_out)
    end)

    it("takes the token out of a shared store, so other clients log in instead of being refused twice", function()
        local data = {}
        local store = {
            get = function(_, k) return data[k] end,
            set = function(_, k, v) data[k] = v ~= "" and v or nil return true end,
            add = function(_, k, v) if data[k] then return false end data[k] = v return true end,
            delete = function(_, k) data[k] = nil end,
        }
        local a = mmc.new(mock.options { token_store = store })
        local b = mmc.new(mock.options { token_store = store })
        mock.call(a.set_webhook_status, a, mock.WEBHOOK_ID, mmc.ENABLE)
        mock.call(b.set_webhook_status, b, mock.WEBHOOK_ID, mmc.DISABLE)
        assert.are.equal(200, (mock.call(a.logout, a)))
        assert.is_nil(next(data))
        -- b's token is dead: one 401, then a new login, shared again
        assert.are.equal(200, (mock.call(b.set_webhook_status, b, mock.WEBHOOK_ID, mmc.LOCK)))
        assert.are.equal(2, #mock.requests_to(mock.APPAUTH))
        assert.is_not_nil(next(data))
    end)
end)
