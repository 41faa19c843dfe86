-- The specs' handle on the local Huawei mock (spec/mock/huawei_mock.py), started around the
-- test run by spec/support/with-mock. It talks to the mock's control API over plain HTTP with
-- LuaSocket, so nothing here shares code with the module under test.
local unpack = table.unpack or unpack -- Lua 5.1 and LuaJIT: unpack
local pack = table.pack or function(...) return { n = select("#", ...), ... } end
local http = require "socket.http"
local ltn12 = require "ltn12"
local socket = require "socket"
local cjson = require("cjson").new()

local mock = {}

mock.endpoint = assert(os.getenv("MMC_TEST_ENDPOINT"), "run the specs through spec/support/with-mock")
mock.control = assert(os.getenv("MMC_TEST_CONTROL"))
mock.ca_file = assert(os.getenv("MMC_TEST_CA"))
mock.other_ca_file = assert(os.getenv("MMC_TEST_OTHER_CA"))
-- For a webhook receiver (nginx on 127.0.0.1) the mock pushes to: signed by the test CA, for
-- IP:127.0.0.1 and DNS:localhost.
mock.receiver_cert_file = os.getenv("MMC_TEST_RECEIVER_CERT")
mock.receiver_key_file = os.getenv("MMC_TEST_RECEIVER_KEY")

mock.APP_ID = "mmc-spec-app"
mock.APP_KEY = "spec-app-key-0123456789"
mock.SP_APP_ID = "mmc-spec-sp-app"
mock.SP_APP_KEY = "spec-sp-key-9876543210"
mock.CORP_ID = "corp-0042"
mock.WEBHOOK_ID = "b21e0291639911ecb31073dbfc5b38fa"

local function control(method, path, body)
    local response = {}
    local source = body and cjson.encode(body) or nil
    local ok, status = http.request {
        method = method,
        url = mock.control .. path,
        source = source and ltn12.source.string(source) or nil,
        headers = source and { ["content-type"] = "application/json", ["content-length"] = #source } or nil,
        sink = ltn12.sink.table(response),
    }
    assert(ok, "mock control unreachable: " .. tostring(status))
    local decoded = cjson.decode(table.concat(response))
    assert(status == 200, "mock control " .. path .. " answered " .. tostring(status) .. ": " .. table.concat(response))
    return decoded
end

-- Replaces the mock's whole state: one single-enterprise app, one SP app, one webhook record.
function mock.setup(overrides)
    local setup = {
        apps = {
            { app_id = mock.APP_ID, app_key = mock.APP_KEY, mode = "enterprise" },
            { app_id = mock.SP_APP_ID, app_key = mock.SP_APP_KEY, mode = "sp", corp_ids = { mock.CORP_ID } },
        },
        token_valid_period = 86400,
        webhook_ids = { mock.WEBHOOK_ID },
    }
    for k, v in pairs(overrides or {}) do setup[k] = v end
    return control("POST", "/control/setup", setup)
end

function mock.requests() return control("GET", "/control/requests").requests end
function mock.webhooks() return control("GET", "/control/webhooks").webhooks end
function mock.tokens() return control("GET", "/control/tokens") end
-- { in_flight =, max_in_flight = }: API requests being served now, and the most at once since
-- the last setup.
function mock.in_flight() return control("GET", "/control/in-flight") end
function mock.tls_errors() return control("GET", "/control/tls-errors") end
-- The recordings' download host (spec/mock/mock_recordings.py): each file's size and sha256,
-- the requests it read, and its one-time tokens made expired (one, or all with nil).
function mock.recording_files() return control("GET", "/control/recording-files") end
function mock.file_requests() return control("GET", "/control/file-requests").requests end
function mock.clear_file_requests() return control("POST", "/control/clear-file-requests", {}) end
function mock.expire_download(token) return control("POST", "/control/expire-download", token and { token = token } or {}) end
function mock.add_recordings(conf_uuid, file_types) return control("POST", "/control/recordings", { confUUID = conf_uuid, fileTypes = file_types }) end
function mock.revoke(token) return control("POST", "/control/revoke", token and { token = token } or {}) end
function mock.delay(seconds, count) return control("POST", "/control/delay", { seconds = seconds, count = count or cjson.null }) end
-- Meeting control (spec/mock/mock_control.py): { password =, token_life = (seconds),
-- revoke = true } change it; without an argument, its state: { password =, token_life =,
-- tokens = { every control token issued }, muted = { [conferenceID] = 0 or 1 } }.
function mock.conference_control(change)
    if change then return control("POST", "/control/conference-control", change) end
    return control("GET", "/control/conference-control")
end
mock.HOST_PASSWORD = "Hp-4711-9265-ZX"
mock.CONTROL_TOKEN = "/v1/mmc/control/conferences/token"
mock.MUTE = "/v1/mmc/control/conferences/mute"
mock.CONFERENCES = "/v1/mmc/management/conferences"
function mock.fail(rule) return control("POST", "/control/fail", rule) end
function mock.clear_faults() return control("POST", "/control/clear-faults", {}) end

-- The recorded requests to one path, in order.
function mock.requests_to(path)
    local found = {}
    for _, r in ipairs(mock.requests()) do
        if r.path == path then found[#found + 1] = r end
    end
    return found
end

mock.APPAUTH = "/v2/usg/acs/auth/appauth"
mock.CHANGE_STATUS = "/v1/mmc/management/webhook/change-status"
mock.LINK_CONFIG = "/v1/mmc/management/webhook/link-config"
mock.TOKEN = "/v1/usg/acs/token"

-- Event pushes. `id` is the id of a config made by link-config (setup's webhook_ids have no
-- url). Payloads are JSON objects; without one the mock sends a realistic default
-- (meetingInfo and attendeeInfo; {} for meeting.verify).

-- Makes the mock send a signed push to the config's url now (whatever the config's status)
-- and returns what happened: { status = <receiver's HTTP status>, body = <receiver's body>,
-- nonce =, timestamp =, sent_body = <the exact body sent>, url =, event =, id =, kind =
-- "control", seq =, seconds = }, with `error` instead of status/body when no answer came.
-- `options` may set timestamp (integer Unix ms) and nonce.
function mock.push(id, event, payload, options)
    local request = { id = id, event = event, payload = payload }
    for k, v in pairs(options or {}) do request[k] = v end
    if request.timestamp then request.timestamp = math.floor(request.timestamp) end
    return control("POST", "/control/push", request)
end

-- The exact text of a signed push, not sent: { id =, event =, payload = ?, timestamp = ?
-- (integer Unix ms, to make an old push), nonce = ? }. Returns the body text, then
-- { body =, nonce =, timestamp = }.
function mock.sign_push(args)
    local request = {}
    for k, v in pairs(args) do request[k] = v end
    if request.timestamp then request.timestamp = math.floor(request.timestamp) end
    local result = control("POST", "/control/sign-push", request)
    return result.body, result
end

-- Makes the mock retry a push sent by mock.push that was not answered 200, as Huawei does
-- (after 30 s, three times, then every 30 min, for 24 h): { speed = N } runs that schedule N
-- times faster; { first =, times =, every =, ["for"] = } (seconds) change its parts, each
-- defaulting to Huawei's; { off = true } stops retrying (the default; mock.setup resets it).
-- Each retry sends the same body and is recorded in mock.pushes() with kind "retry",
-- retry_of (the first push's seq) and attempt.
function mock.push_retry(policy) return control("POST", "/control/push-retry", policy or {}) end

-- Every push sent (handshakes: kind "verify"; mock.push: kind "control"; retries: kind
-- "retry"), oldest first; each as mock.push returns it. mock.setup clears them.
function mock.pushes() return control("GET", "/control/pushes").pushes end

-- The configs made by link-config, oldest first: { id =, app_id =, subscriberId =,
-- subscriberKey =, url =, corpId = ?, spId = ?, status = }.
function mock.webhook_configs() return control("GET", "/control/webhook-config").configs end

-- Options for a client of the mock's single-enterprise app; `extra` overrides or adds.
function mock.options(extra)
    local options = { app_id = mock.APP_ID, app_key = mock.APP_KEY, endpoint = mock.endpoint, ca_file = mock.ca_file }
    for k, v in pairs(extra or {}) do options[k] = v end
    return options
end

-- A 127.0.0.1 port where nothing listens (bound, then released).
function mock.closed_port()
    local server = assert(socket.bind("127.0.0.1", 0))
    local _, port = server:getsockname()
    server:close()
    return port
end

-- Every secret the suite knows of: both app keys, every token the mock has seen, and every
-- subscriber key it stores. Each one found is also appended to MMC_TEST_SECRET_LOG, when
-- set, so that a check after the whole run can grep everything the suite printed.
local function secrets()
    local found = { mock.APP_KEY, mock.SP_APP_KEY }
    for _, r in ipairs(mock.requests()) do
        -- the access token, and meeting control's host password and control token
        for _, name in ipairs { "x-access-token", "x-password", "x-conference-authorization" } do
            local secret = r.headers[name]
            if secret and #secret >= 8 then found[#found + 1] = secret end
        end
    end
    found[#found + 1] = mock.HOST_PASSWORD
    for _, token in ipairs(mock.conference_control().tokens) do found[#found + 1] = token end
    for _, r in ipairs(mock.file_requests()) do -- the recordings' one-time download tokens
        local token = r.headers["authorization"]
        if token and #token >= 8 then found[#found + 1] = token end
    end
    for _, config in ipairs(mock.webhook_configs()) do
        -- (the bad-input spec stores one-character keys such as "=": not secrets worth a grep)
        if config.subscriberKey and #config.subscriberKey >= 8 then
            found[#found + 1] = config.subscriberKey
        end
    end
    local log = os.getenv("MMC_TEST_SECRET_LOG")
    local file = log and io.open(log, "a")
    if file then
        for _, secret in ipairs(found) do file:write(secret, "\n") end
        file:close()
    end
    return found
end

-- Fails when `text` holds a secret. Every text checked is also appended, as it is, to
-- MMC_TEST_MESSAGE_LOG, when set.
function mock.assert_no_secret(text)
    local log = os.getenv("MMC_TEST_MESSAGE_LOG")
    local file = log and io.open(log, "a")
    if file then
        file:write(text, "\n")
        file:close()
    end
    for _, secret in ipairs(secrets()) do
        assert(not string.find(text, secret, 1, true), "a secret leaked into: " .. text)
    end
end

-- Calls fn(...) and returns what it returned, after checking that neither the message nor the
-- body it returned holds a secret. Every call in the specs goes through here.
function mock.call(fn, ...)
    local results = pack(fn(...))
    if type(results[2]) == "string" then mock.assert_no_secret(results[2]) end
    if type(results[3]) == "table" then
        assert(results[3].accessToken == nil and results[3].refreshToken == nil, "a token was returned in the body")
        mock.assert_no_secret(cjson.encode(results[3]))
    end
    if type(results[4]) == "table" then mock.assert_no_secret(cjson.encode(results[4])) end
    return unpack(results, 1, results.n)
end

-- "VAR=value " assignments for a child Lua process the specs start (through env). In a
-- sanitized run (ASan preloaded), children skip leak checking: LeakSanitizer's tracer has
-- crashed here in short-lived children ("Tracer caught signal 11"). Their memory errors are
-- still caught; leaks are checked in the main process, under Valgrind and by many_calls.
function mock.child_env()
    local preload = os.getenv("LD_PRELOAD") or ""
    return preload:find("asan", 1, true) and "ASAN_OPTIONS=detect_leaks=0 " or ""
end

mock.now = socket.gettime
mock.sleep = socket.sleep
mock.json = cjson

return mock
