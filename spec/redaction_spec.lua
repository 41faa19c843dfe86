-- Secrets a server echoes never reach the caller: no part of the app key, the token or a
-- subscriber key (8 bytes or more of it) is in any message, or in any string (key or value)
-- of the decoded body, however the server escapes (\/, \uXXXX) or pads its echo, and wherever
-- a long message is cut. The mock answers with the crafted bodies (mock.fail).
local mock = require "mock"
local mmc = require "mmc"

-- An app key of the usual base64 shape, with the '/' that JSON may escape as \/.
local APP_ID = "redaction-app"
local APP_KEY = "Rk/9xQa+Lm3/Zp7Wd2+Hs5/Tn8Vb4"
local SUBSCRIBER_KEY = "sub/key+Xy7Qp2/Lm9Wd4+Zs"
local FRAGMENT = 8

-- Every FRAGMENT-byte piece of `secret`.
local function fragments(secret)
    local pieces = {}
    for i = 1, #secret - FRAGMENT + 1 do pieces[#pieces + 1] = secret:sub(i, i + FRAGMENT - 1) end
    return pieces
end

-- Fails when `text` holds 8 bytes or more of a secret.
local function assert_no_fragment(text, secrets, where)
    for _, secret in ipairs(secrets) do
        for _, piece in ipairs(fragments(secret)) do
            assert(not text:find(piece, 1, true),
                ("%s holds %q, a part of a secret: %s"):format(where, piece, text))
        end
    end
end

-- Checks every string of a decoded body, keys included.
local function assert_body_clean(value, secrets, where)
    if type(value) == "string" then
        assert_no_fragment(value, secrets, where)
    elseif type(value) == "table" then
        for k, v in pairs(value) do
            assert_body_clean(k, secrets, where .. " (a key)")
            assert_body_clean(v, secrets, where .. "." .. tostring(k))
        end
    end
end

-- The ways a server may write a secret into a JSON string.
local function slashes(text) return (text:gsub("/", "\\/")) end
local function unicode(text)
    return (text:gsub(".", function(c) return ("\\u%04x"):format(c:byte()) end))
end
local function mixed(text) -- every other byte as \u00XX, slashes as \/
    local i = 0
    return (text:gsub(".", function(c)
        i = i + 1
        if c == "/" then return "\\/" end
        return i % 2 == 0 and ("\\u%04X"):format(c:byte()) or c
    end))
end

local function error_body(message, extra)
    return '{"error_code":"MMC.111070005","error_msg":"' .. message .. '"' .. (extra or "") .. "}"
end

describe("a secret echoed by the server", function()
    local client
    before_each(function()
        mock.setup { apps = { { app_id = APP_ID, app_key = APP_KEY, mode = "enterprise" } },
                     webhook_ids = { mock.WEBHOOK_ID } }
        client = mmc.new { app_id = APP_ID, app_key = APP_KEY, endpoint = mock.endpoint,
                           ca_file = mock.ca_file, retries = 0 }
    end)
    after_each(function() client:close() end)

    -- The token the client holds now (it logs in first when it has none).
    local function current_token()
        assert.are.equal(200, (client:set_webhook_status(mock.WEBHOOK_ID, mmc.ENABLE)))
        local puts = mock.requests_to(mock.CHANGE_STATUS)
        return puts[#puts].headers["x-access-token"]
    end

    -- Makes the next change-status answer `status` with `body`, calls, and checks the result.
    local function echo(status, body, secrets)
        mock.fail { status = status, path = mock.CHANGE_STATUS, body = body }
        local got_status, err, decoded = client:set_webhook_status(mock.WEBHOOK_ID, mmc.DISABLE)
        assert.are.equal(status, got_status)
        if err then assert_no_fragment(err, secrets, "the message") end
        assert_body_clean(decoded, secrets, "the body")
        return err, decoded
    end

    it("is not in the body when escaped as \\/ (the decoder would unescape it)", function()
        local err, body = echo(400, error_body("bad key " .. slashes(APP_KEY),
            ',"echo":{"' .. slashes(APP_KEY) .. '":["' .. slashes(APP_KEY) .. '"]}'), { APP_KEY })
        assert.matches("^MMC%.111070005: bad key %*%*%*", err)
        assert.matches("^bad key %*%*%*", body.error_msg) -- the rest of the text is kept
        assert.is_table(body.echo)
    end)

    it("is not in the body when escaped as \\uXXXX, or half escaped", function()
        local token = current_token()
        for _, escape in ipairs { unicode, mixed } do
            local err = echo(400, error_body("key " .. escape(APP_KEY) .. " token " .. escape(token),
                ',"token":"' .. escape(token) .. '","' .. escape(APP_KEY) .. '":1'), { APP_KEY, token })
            assert.matches("^MMC%.111070005: key %*%*%* token %*%*%*", err)
        end
    end)

    it("is not in the body of a successful answer either", function()
        local token = current_token()
        echo(200, '{"returnCode":0,"returnDesc":"' .. unicode(token) .. '","debug":["' .. slashes(APP_KEY) .. '"]}',
            { APP_KEY, token })
    end)

    it("leaves no part of it in a long message cut at 300 bytes, from byte 290", function()
        local token = current_token()
        for _, secret in ipairs { APP_KEY, token } do
            local padding = string.rep("m", 290)
            local err, body = echo(400, error_body(padding .. slashes(secret) .. string.rep("z", 100)),
                { APP_KEY, token })
            assert.is_truthy(err:find(padding, 1, true), "the text before the secret was kept")
            assert.is_string(body.error_msg)
        end
    end)

    it("leaves no part of it when only a piece is echoed", function()
        local token = current_token()
        echo(400, error_body("piece " .. unicode(APP_KEY:sub(5, 16)) .. " and " .. token:sub(3, 13)),
            { APP_KEY, token })
    end)

    it("keeps a subscriber key out, however it is escaped", function()
        for _, escape in ipairs { slashes, unicode, mixed } do
            mock.fail { status = 400, path = mock.LINK_CONFIG,
                        body = error_body(string.rep("k", 290) .. escape(SUBSCRIBER_KEY),
                            ',"subscriberKey":"' .. escape(SUBSCRIBER_KEY) .. '"') }
            local status, err, body = client:set_webhook_config {
                url = "https://127.0.0.1:8443/push", subscriber_id = "sub-1", subscriber_key = SUBSCRIBER_KEY }
            assert.are.equal(400, status)
            assert_no_fragment(err, { SUBSCRIBER_KEY, APP_KEY }, "the message")
            assert_body_clean(body, { SUBSCRIBER_KEY, APP_KEY }, "the body")
        end
    end)
end)

describe("the authentication answer", function()
    local ACCESS = "access-token-never-a-lua-string-7Hq2"
    local REFRESH = "refresh-token-never-a-lua-string-9Xw4"

    -- In a fresh interpreter, loads mmc with a JSON decoder that records the text it is given
    -- (the module makes its decoder from require("cjson").new() when it is loaded), calls
    -- auth, and returns what it saw: { status, body = {...}, texts = {...} }.
    local CHILD = [[
local real_cjson = require "cjson"
local texts = {}
package.loaded.cjson = setmetatable({
    new = function()
        local instance = real_cjson.new()
        local decode = instance.decode
        return setmetatable({
            decode = function(text)
                texts[#texts + 1] = text
                return decode(text)
            end,
        }, { __index = instance })
    end,
}, { __index = real_cjson })
local mmc = require "mmc"
local status, err, body = mmc.new({}):auth()
local seen = {}
for k, v in pairs(type(body) == "table" and body or {}) do seen[k] = type(v) == "userdata" and "null" or v end
io.write(real_cjson.encode { status = status or 0, err = err or "", body = seen, texts = texts })
]]
    local function auth_in_child()
        local file = os.tmpname()
        local f = assert(io.open(file, "w"))
        f:write("package.cpath = ", ("%q"):format(package.cpath), "\n", CHILD)
        f:close()
        local command = ("env %sMMC_APP_ID='%s' MMC_APP_KEY='%s' MMC_ENDPOINT='%s' MMC_CA_FILE='%s' %s %s 2>&1")
            :format(mock.child_env(), mock.APP_ID, mock.APP_KEY, mock.endpoint, mock.ca_file,
                    arg and arg[-1] or "lua5.4", file)
        local pipe = assert(io.popen(command))
        local output = pipe:read("*a")
        pipe:close()
        os.remove(file)
        local ok, result = pcall(mock.json.decode, output)
        assert(ok, "the child said: " .. output)
        return result
    end

    it("reaches Lua without its tokens: the text decoded holds neither accessToken nor refreshToken", function()
        mock.setup()
        mock.fail { status = 200, path = mock.APPAUTH,
                    body = '{"accessToken":"' .. ACCESS .. '","validPeriod":3600,"refreshToken":"'
                        .. REFRESH .. '","user":{"name":"Mock User"},"tokenType":0}' }
        local seen = auth_in_child()
        assert.are.equal(200, seen.status, seen.err)
        assert.is_nil(seen.body.accessToken)
        assert.is_nil(seen.body.refreshToken)
        assert.are.equal(3600, seen.body.validPeriod)
        assert.are.equal("Mock User", seen.body.user.name) -- the rest of the answer is there
        assert.are.equal(1, #seen.texts, "the answer was not decoded through the recorded decoder")
        for _, text in ipairs(seen.texts) do
            assert.is_nil(text:find(ACCESS, 1, true), "the access token became a Lua string: " .. text)
            assert.is_nil(text:find(REFRESH, 1, true), "the refresh token became a Lua string: " .. text)
        end
    end)
end)
