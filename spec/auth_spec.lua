-- App ID authentication, against the local mock, which checks every signature itself.
local mock = require "mock"
local mmc = require "mmc"

describe("mmc.auth", function()
    before_each(function() mock.setup() end)

    it("authenticates as the enterprise administrator when no user id is set", function()
        local client = mmc.new(mock.options())
        local status, err, body = mock.call(client.auth, client)
        assert.are.equal(200, status)
        assert.is_nil(err)
        assert.are.equal(86400, body.validPeriod)
        local auth = mock.requests_to(mock.APPAUTH)
        assert.are.equal(1, #auth)
        assert.is_true(auth[1].signature_valid)
        local sent = mock.json.decode(auth[1].body)
        assert.are.equal(72, sent.clientType)
        assert.is_nil(sent.userId)
        assert.is_nil(sent.corpId)
        assert.is_true(#sent.nonce >= 32 and #sent.nonce <= 64)
        assert.is_true(math.abs(sent.expireTime - (os.time() + 600)) <= 5)
        client:close()
    end)

    it("signs and sends the user id when one is set", function()
        local client = mmc.new(mock.options { user_id = "alice@example.com" })
        assert.are.equal(200, (mock.call(client.auth, client)))
        local auth = mock.requests_to(mock.APPAUTH)[1]
        assert.is_true(auth.signature_valid)
        assert.are.equal("alice@example.com", mock.json.decode(auth.body).userId)
    end)

    it("signs the corp id in SP mode", function()
        local client = mmc.new(mock.options {
            app_id = mock.SP_APP_ID, app_key = mock.SP_APP_KEY, sp = true, corp_id = mock.CORP_ID, user_id = "bob",
        })
        assert.are.equal(200, (mock.call(client.auth, client)))
        local auth = mock.requests_to(mock.APPAUTH)[1]
        assert.is_true(auth.signature_valid)
        local sent = mock.json.decode(auth.body)
        assert.are.equal(mock.CORP_ID, sent.corpId)
        assert.are.equal("bob", sent.userId)
    end)

    it("logs in as the SP administrator in SP mode without a corp id", function()
        local client = mmc.new(mock.options { app_id = mock.SP_APP_ID, app_key = mock.SP_APP_KEY, sp = true })
        assert.are.equal(200, (mock.call(client.auth, client)))
        local auth = mock.requests_to(mock.APPAUTH)[1]
        assert.is_true(auth.signature_valid)
        assert.are.equal("", mock.json.decode(auth.body).corpId)
    end)

    it("sends the documented Authorization header, lowercase hex and base64 app id", function()
        local client = mmc.new(mock.options())
        mock.call(client.auth, client)
        local header = mock.requests_to(mock.APPAUTH)[1].headers.authorization
        assert.matches("^HMAC%-SHA256 signature=[0-9a-f]+,access=[A-Za-z0-9+/=]+$", header)
        assert.are.equal(64, #header:match("signature=(%x+)"))
    end)

    it("uses a fresh nonce and request id every time", function()
        local client = mmc.new(mock.options())
        for _ = 1, 3 do assert.are.equal(200, (mock.call(client.auth, client))) end
        local nonces, ids = {}, {}
        for _, r in ipairs(mock.requests_to(mock.APPAUTH)) do
            nonces[mock.json.decode(r.body).nonce] = true
            ids[r.headers["x-request-id"]] = true
        end
        local function count(t) local n = 0 for _ in pairs(t) do n = n + 1 end return n end
        assert.are.equal(3, count(nonces))
        assert.are.equal(3, count(ids))
    end)

    it("returns 401 and the server's error for a wrong app key", function()
        local client = mmc.new(mock.options { app_key = "not-the-right-key" })
        local status, err, body = mock.call(client.auth, client)
        assert.are.equal(401, status)
        assert.matches("^USG%.000000011: .* %(request id %x+%); check the app_id and app_key options, or MMC_APP_ID and MMC_APP_KEY$", err)
        assert.are.equal("USG.000000011", body.error_code)
        assert.is_false(mock.requests_to(mock.APPAUTH)[1].signature_valid)
    end)

    it("returns 401 for an unknown app id", function()
        local client = mmc.new(mock.options { app_id = "no-such-app" })
        local status, err = mock.call(client.auth, client)
        assert.are.equal(401, status)
        assert.matches("^USG%.", err)
    end)

    it("returns the decoded answer without the token in it", function()
        local client = mmc.new(mock.options())
        local _, _, body = mock.call(client.auth, client)
        assert.is_nil(body.accessToken)
        assert.is_nil(body.refreshToken)
        assert.is_number(body.expireTime)
    end)

    it("returns an error for an answer that is not JSON", function()
        mock.fail { status = 200, body = "<html>\0\1garbage", path = mock.APPAUTH, count = 1 }
        local client = mmc.new(mock.options())
        local status, err, body = mock.call(client.auth, client)
        assert.are.equal(200, status)
        assert.matches("not JSON", err)
        assert.is_nil(body)
    end)

    it("returns an error for a JSON answer without an accessToken", function()
        mock.fail { status = 200, body = '{"validPeriod":100}', path = mock.APPAUTH, count = 1 }
        local client = mmc.new(mock.options())
        local status, err = mock.call(client.auth, client)
        assert.are.equal(200, status)
        assert.are.equal("authentication answer has no accessToken", err)
    end)

    it("refuses a token that would smuggle a header into the next request", function()
        mock.fail { status = 200, body = '{"accessToken":"abc\\r\\nX-Evil: 1","validPeriod":100}', path = mock.APPAUTH }
        local client = mmc.new(mock.options())
        local status, err = mock.call(client.auth, client)
        assert.are.equal(200, status)
        assert.matches("malformed accessToken", err)
    end)
end)
