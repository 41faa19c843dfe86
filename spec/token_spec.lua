-- The token lives in the client: reused, renewed before it expires, replaced once when revoked.
local mock = require "mock"
local mmc = require "mmc"

local function paths()
    local list = {}
    for _, r in ipairs(mock.requests()) do
        list[#list + 1] = (r.path == mock.APPAUTH and "auth " or "put ") .. string.format("%d", r.status)
    end
    return list
end

describe("the client's token", function()
    before_each(function() mock.setup() end)

    it("is reused: many calls, one authentication, one connection", function()
        local client = mmc.new(mock.options())
        for i = 1, 20 do
            assert.are.equal(200, (mock.call(client.set_webhook_status, client, mock.WEBHOOK_ID, i % 3)))
        end
        assert.are.equal(1, #mock.requests_to(mock.APPAUTH))
        local ports = {}
        for _, r in ipairs(mock.requests()) do ports[r.client_port] = true end
        assert.are.equal(1, #(function() local k = {} for p in pairs(ports) do k[#k + 1] = p end return k end)())
    end)

    it("is renewed once, transparently, when the server revoked it", function()
        local client = mmc.new(mock.options())
        assert.are.equal(200, (mock.call(client.set_webhook_status, client, mock.WEBHOOK_ID, mmc.ENABLE)))
        mock.revoke()
        local status, err = mock.call(client.set_webhook_status, client, mock.WEBHOOK_ID, mmc.DISABLE)
        assert.are.equal(200, status)
        assert.is_nil(err)
        assert.are.same({ "auth 200", "put 200", "put 401", "auth 200", "put 200" }, paths())
        assert.are.equal(1, mock.webhooks()[mock.WEBHOOK_ID])
    end)

    it("returns a second 401 instead of trying again", function()
        local client = mmc.new(mock.options())
        mock.call(client.auth, client)
        mock.fail {
            status = 401, count = 2, path = mock.CHANGE_STATUS,
            body = '{"error_code":"USG.000000004","error_msg":"token invalid"}',
        }
        local status, err = mock.call(client.set_webhook_status, client, mock.WEBHOOK_ID, mmc.ENABLE)
        assert.are.equal(401, status)
        assert.matches("^USG%.000000004: token invalid", err)
        assert.are.same({ "auth 200", "put 401", "auth 200", "put 401" }, paths())
    end)

    it("is renewed before the call when it is about to expire", function()
        mock.setup { token_valid_period = 2 } -- renewed a tenth of its life early: after 1.8 s
        local client = mmc.new(mock.options())
        assert.are.equal(200, (mock.call(client.set_webhook_status, client, mock.WEBHOOK_ID, mmc.ENABLE)))
        assert.are.equal(200, (mock.call(client.set_webhook_status, client, mock.WEBHOOK_ID, mmc.DISABLE)))
        mock.sleep(1.9)
        assert.are.equal(200, (mock.call(client.set_webhook_status, client, mock.WEBHOOK_ID, mmc.LOCK)))
        -- no 401 anywhere: the client did not wait to be refused
        assert.are.same({ "auth 200", "put 200", "put 200", "auth 200", "put 200" }, paths())
    end)

    it("is replaced by an explicit auth()", function()
        local client = mmc.new(mock.options())
        mock.call(client.auth, client)
        mock.call(client.auth, client)
        mock.call(client.set_webhook_status, client, mock.WEBHOOK_ID, mmc.ENABLE)
        local tokens = {}
        for _, r in ipairs(mock.requests_to(mock.CHANGE_STATUS)) do tokens[#tokens + 1] = r.headers["x-access-token"] end
        assert.are.equal(2, mock.tokens().issued)
        assert.are.equal(1, #tokens)
    end)

    it("is not kept after a failed authentication", function()
        local client = mmc.new(mock.options())
        mock.call(client.auth, client)
        mock.fail { status = 200, body = "{}", path = mock.APPAUTH }
        assert.are.equal(200, (mock.call(client.auth, client))) -- the answer had no token
        mock.call(client.set_webhook_status, client, mock.WEBHOOK_ID, mmc.ENABLE)
        assert.are.same({ "auth 200", "auth 200", "auth 200", "put 200" }, paths())
    end)

    it("is reported as an authentication failure when renewing it fails", function()
        local client = mmc.new(mock.options { app_key = "wrong-key-for-this-app" })
        local status, err = mock.call(client.set_webhook_status, client, mock.WEBHOOK_ID, mmc.ENABLE)
        assert.are.equal(401, status)
        assert.matches("^authentication failed: USG%.000000011: ", err)
        assert.are.equal(0, #mock.requests_to(mock.CHANGE_STATUS))
    end)
end)
