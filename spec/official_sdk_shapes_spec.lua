-- The requests Huawei's official Python SDK (huaweicloud-sdk-python-v3, packages
-- huaweicloud-sdk-core and huaweicloud-sdk-meeting 3.1.211, MeetingCredentials with an App ID)
-- sends, byte for byte as captured on the wire, written out here by hand and sent over TLS
-- with LuaSocket and LuaSec: the local server must take them, since they are the only way that
-- SDK logs in and Huawei accepts them. None of the SDK's code is here or runs here.
--
-- What the SDK sends that mmc does not: a login body with "userId": "", "corpId": null (single
-- enterprise) and "deptCode": null, a UUID nonce with dashes (36 characters), an UPPERCASE hex
-- signature, JSON with ", " and ": " separators in its own member order, "Content-Type:
-- application/json" on bodiless GET, PUT and DELETE, and "Content-Length: 0" on PUT and DELETE.
local mock = require "mock"
local mmc = require "mmc"
local signer = require "push_signer"
local socket = require "socket"
local ssl = require "ssl"
local mime = require "mime"

local HOST_PORT = assert(mock.endpoint:match("^https://(127%.0%.0%.1:%d+)$"), "the mock listens on 127.0.0.1")
-- The two User-Agents the SDK sends: requests' own for the login, the SDK's for every API call.
local LOGIN_AGENT = "python-requests/2.28.1"
local SDK_AGENT = "huaweicloud-usdk-python/3.0; os/Linux##1_SMP_PREEMPT_DYNAMIC_@0#x86_64 "
    .. "python/3.11.2 impl/CPython; app/a2bcea04-6850-4e90-b082-b63334a9d8a6"
local SUBSCRIBER = { id = "sdk-subscriber", key = "sdk-subscriber-key-0123", url = "https://127.0.0.1:9/hook" }

-- A random version-4 UUID with dashes: what the SDK uses as its nonce (str(uuid.uuid4())).
local function uuid4()
    local hex = {}
    for i = 1, 32 do hex[i] = string.format("%x", math.random(0, 15)) end
    hex[13] = "4"
    hex[17] = string.format("%x", 8 + math.random(0, 3))
    local s = table.concat(hex)
    return s:sub(1, 8) .. "-" .. s:sub(9, 12) .. "-" .. s:sub(13, 16) .. "-" .. s:sub(17, 20) .. "-" .. s:sub(21)
end

-- One kept-alive TLS connection to the mock, verified against the test CA, as the SDK's
-- requests session keeps one. conn:exchange(raw) sends the exact bytes of one request and
-- returns the status, the headers (lower-case names) and the body of the answer.
local function connect()
    local tcp = assert(socket.tcp())
    tcp:settimeout(10)
    local host, port = HOST_PORT:match("^(.*):(%d+)$")
    assert(tcp:connect(host, tonumber(port)))
    local tls = assert(ssl.wrap(tcp, { mode = "client", protocol = "any", verify = "peer",
                                       cafile = mock.ca_file, options = "all" }))
    tls:settimeout(10)
    assert(tls:dohandshake())
    local conn = {}
    function conn.exchange(_, raw)
        assert(tls:send(raw))
        local status_line = assert(tls:receive("*l"))
        local status = assert(tonumber(status_line:match("^HTTP/1%.1 (%d%d%d) ")), status_line)
        local headers = {}
        while true do
            local line = assert(tls:receive("*l"))
            if line == "" then break end
            local name, value = line:match("^([^:]+):%s*(.-)%s*$")
            headers[name:lower()] = value
        end
        local length = assert(tonumber(headers["content-length"]), "an answer without Content-Length")
        local body = length > 0 and assert(tls:receive(length)) or ""
        return status, headers, body
    end
    function conn.close() tls:close() end
    return conn
end

-- The bytes of one request as the SDK's requests session writes them: its four default
-- headers, then the call's own (a list of {name, value}, in order), then Content-Length when
-- there is a body or the method is PUT, POST or DELETE (requests sends 0 for those).
local function wire(method, target, agent, headers, body)
    local lines = { method .. " " .. target .. " HTTP/1.1", "Host: " .. HOST_PORT, "User-Agent: " .. agent,
                    "Accept-Encoding: gzip, deflate", "Accept: */*", "Connection: keep-alive" }
    for _, h in ipairs(headers) do lines[#lines + 1] = h[1] .. ": " .. h[2] end
    if body or method ~= "GET" then lines[#lines + 1] = "Content-Length: " .. #(body or "") end
    return table.concat(lines, "\r\n") .. "\r\n\r\n" .. (body or "")
end

-- The SDK's App ID login (MeetingCredentials.process_request): the body json.dumps makes of
-- its dict, in that order, and HMAC-SHA256 in UPPERCASE hex over appId:userId:expireTime:nonce,
-- or appId:corpId:userId:expireTime:nonce for an SP app (MULTI_TENANT, corpId "" if unset).
-- corp_json is the corpId member's JSON text: "null" for a single enterprise.
local function sdk_login(conn, app_id, app_key, corp_json, sign_corp)
    local expire = os.time() + 600
    local nonce = uuid4()
    local parts = { app_id }
    if sign_corp then parts[#parts + 1] = sign_corp end
    for _, p in ipairs { "", tostring(expire), nonce } do parts[#parts + 1] = p end
    local signature = signer.hmac(app_key, table.concat(parts, ":")):upper()
    local body = string.format('{"appId": "%s", "userId": "", "corpId": %s, "expireTime": %d, "nonce": "%s", '
        .. '"clientType": 72, "deptCode": null}', app_id, corp_json, expire, nonce)
    local status, headers, answer = conn:exchange(wire("POST", mock.APPAUTH, LOGIN_AGENT, {
        { "Authorization", "HMAC-SHA256 signature=" .. signature .. ",access=" .. mime.b64(app_id) },
        { "Content-Type", "application/json" },
    }, body))
    return status, headers, answer, body
end

-- An API call as the SDK makes it: Content-Type: application/json always, then the token.
local function sdk_call(conn, token, method, target, body)
    return conn:exchange(wire(method, target, SDK_AGENT,
        { { "Content-Type", "application/json" }, { "X-Access-Token", token } }, body))
end

-- The token of a login's answer (sdk_login's results).
local function token_of(status, _, answer)
    assert.are.equal(200, status, answer)
    local token = mock.json.decode(answer).accessToken
    assert.is_string(token)
    return token
end

-- The six calls after the login, in the SDK's order, each checked for its effect on the server.
local function sdk_calls(conn, token)
    local status, _, body = sdk_call(conn, token, "PUT", mock.CHANGE_STATUS .. "?id=" .. mock.WEBHOOK_ID .. "&status=0")
    assert.are.equal(200, status, body)
    assert.are.equal(0, mock.webhooks()[mock.WEBHOOK_ID])
    status, _, body = sdk_call(conn, token, "PUT", mock.CHANGE_STATUS .. "?id=" .. mock.WEBHOOK_ID .. "&status=1")
    assert.are.equal(200, status, body)
    assert.are.equal(1, mock.webhooks()[mock.WEBHOOK_ID])

    status, _, body = sdk_call(conn, token, "POST", mock.LINK_CONFIG, string.format(
        '{"subscriberId": "%s", "subscriberKey": "%s", "url": "%s"}', SUBSCRIBER.id, SUBSCRIBER.key, SUBSCRIBER.url))
    assert.are.equal(200, status, body)
    local stored = mock.webhook_configs()
    assert.are.equal(1, #stored)
    assert.are.same({ SUBSCRIBER.id, SUBSCRIBER.key, SUBSCRIBER.url },
                    { stored[1].subscriberId, stored[1].subscriberKey, stored[1].url })

    status, _, body = sdk_call(conn, token, "GET", mock.LINK_CONFIG)
    assert.are.equal(200, status, body)
    local shown = mock.json.decode(body)
    assert.are.equal(stored[1].id, shown.id)
    assert.is_nil(shown.subscriberKey)

    status, _, body = sdk_call(conn, token, "DELETE", mock.LINK_CONFIG .. "?id=" .. shown.id)
    assert.are.equal(200, status, body)
    assert.are.same({}, mock.webhook_configs())

    -- SearchMeetings: the SDK sorts the query's names.
    status, _, body = sdk_call(conn, token, "GET", "/v1/mmc/management/conferences?limit=10&offset=0&searchKey=sync")
    assert.are.equal(200, status, body)
    local page = mock.json.decode(body)
    assert.are.equal(1, page.count)
    assert.are.equal("Weekly sync", page.data[1].subject)

    status, _, body = sdk_call(conn, token, "DELETE", mock.TOKEN)
    assert.are.equal(200, status, body)
    assert.are.equal(1, mock.tokens().logged_out)
end

describe("the local server and the requests of Huawei's official Python SDK", function()
    local conn
    before_each(function()
        mock.setup()
        conn = connect()
    end)
    after_each(function() conn:close() end)

    it("logs in a single-enterprise app with userId \"\", corpId null, deptCode null, a UUID nonce and UPPERCASE hex", function()
        local status, headers, answer, sent = sdk_login(conn, mock.APP_ID, mock.APP_KEY, "null")
        assert.are.equal(200, status, answer)
        assert.are.equal("application/json;charset=UTF-8", headers["content-type"])
        token_of(status, headers, answer)
        local login = mock.requests_to(mock.APPAUTH)[1]
        assert.are.equal(sent, login.body) -- what arrived is what the SDK sends, byte for byte
        assert.matches("^HMAC%-SHA256 signature=[0-9A-F]+,access=", login.headers.authorization)
        assert.are.equal(36, #mock.json.decode(sent).nonce)
        assert.is_true(login.signature_valid)
        assert.are.same({ 200, mock.json.null }, { login.status, login.error_code })
    end)

    it("answers the six calls the SDK makes after a single-enterprise login, on one kept-alive connection", function()
        sdk_calls(conn, token_of(sdk_login(conn, mock.APP_ID, mock.APP_KEY, "null")))
        local requests = mock.requests()
        assert.are.equal(7 + 1, #requests)
        for _, r in ipairs(requests) do assert.are.equal(requests[1].client_port, r.client_port) end
    end)

    it("logs in an SP app as the SP administrator (corpId \"\") and as a tenant, and answers the same calls", function()
        sdk_calls(conn, token_of(sdk_login(conn, mock.SP_APP_ID, mock.SP_APP_KEY, '""', "")))
        token_of(sdk_login(conn, mock.SP_APP_ID, mock.SP_APP_KEY, '"' .. mock.CORP_ID .. '"', mock.CORP_ID))
        for _, r in ipairs(mock.requests_to(mock.APPAUTH)) do assert.is_true(r.signature_valid) end
    end)

    it("still checks what it always checked: the signature, the required fields, the types", function()
        local status, _, answer = sdk_login(conn, mock.APP_ID, "not-the-app-key", "null")
        assert.are.equal(401, status, answer)
        assert.are.equal("USG.000000011", mock.json.decode(answer).error_code)
        -- A corp id that is not null or "" is still refused for a single-enterprise app.
        status, _, answer = sdk_login(conn, mock.APP_ID, mock.APP_KEY, '"corp-x"')
        assert.are.equal(400, status, answer)
        assert.are.equal("USG.000000007", mock.json.decode(answer).error_code)
        -- A token is still required on every call, Content-Type or not.
        status, _, answer = sdk_call(conn, "", "GET", mock.LINK_CONFIG)
        assert.are.equal(401, status, answer)
    end)

    it("sees from mmc the same request lines and bodies as from the SDK, and mmc's login as it was", function()
        local client = mmc.new(mock.options())
        assert.are.equal(200, (mock.call(client.set_webhook_status, client, mock.WEBHOOK_ID, mmc.ENABLE)))
        assert.are.equal(200, (mock.call(client.set_webhook_status, client, mock.WEBHOOK_ID, mmc.DISABLE)))
        assert.are.equal(200, (mock.call(client.set_webhook_config, client,
            { subscriber_id = SUBSCRIBER.id, subscriber_key = SUBSCRIBER.key, url = SUBSCRIBER.url })))
        local _, _, shown = mock.call(client.get_webhook_config, client)
        assert.are.equal(200, (mock.call(client.delete_webhook_config, client, shown.id)))
        assert.are.equal(200, (mock.call(client.request, client, "GET", "/v1/mmc/management/conferences",
            { query = { limit = 10, offset = 0, searchKey = "sync" } })))
        assert.are.equal(200, (mock.call(client.logout, client)))
        client:close()
        local seen = {}
        for _, r in ipairs(mock.requests()) do seen[#seen + 1] = r.method .. " " .. r.raw_target end
        assert.are.same({
            "POST " .. mock.APPAUTH,
            "PUT " .. mock.CHANGE_STATUS .. "?id=" .. mock.WEBHOOK_ID .. "&status=0",
            "PUT " .. mock.CHANGE_STATUS .. "?id=" .. mock.WEBHOOK_ID .. "&status=1",
            "POST " .. mock.LINK_CONFIG,
            "GET " .. mock.LINK_CONFIG,
            "DELETE " .. mock.LINK_CONFIG .. "?id=" .. shown.id,
            "GET /v1/mmc/management/conferences?limit=10&offset=0&searchKey=sync",
            "DELETE " .. mock.TOKEN,
        }, seen)
        local requests = mock.requests()
        -- mmc's login: no userId, corpId or deptCode member, lowercase hex, a 48-hex nonce.
        local login = mock.json.decode(requests[1].body)
        assert.are.same({ "appId", "clientType", "expireTime", "nonce" }, (function()
            local names = {}
            for name in pairs(login) do names[#names + 1] = name end
            table.sort(names)
            return names
        end)())
        assert.matches("^%x+$", login.nonce)
        assert.are.equal(48, #login.nonce)
        assert.matches("^HMAC%-SHA256 signature=[0-9a-f]+,access=", requests[1].headers.authorization)
        -- The subscription's body holds the same members as the SDK's, compact.
        assert.are.equal(string.format('{"subscriberId":"%s","subscriberKey":"%s","url":"%s"}',
            SUBSCRIBER.id, SUBSCRIBER.key, SUBSCRIBER.url), requests[4].body)
        for i = 2, #requests do
            if requests[i].body == "" then
                assert.is_nil(requests[i].headers["content-type"], "mmc sends no Content-Type without a body: " .. seen[i])
            end
        end
    end)
end)
