-- Faults: what a client does when the network, TLS or the server misbehaves.
--
-- A fault-injecting server (spec/faults/fault_server.py, raw sockets and ssl, started here on
-- free 127.0.0.1 ports) does, per connection or per request, what each test arms. For every
-- fault the call must return (never raise, never hang) within its timeout plus a second, with
-- `nil, message` or `status, message` as README "Results" says and a message that names the
-- fault, and the next call on the same client must succeed once the fault is gone.
--
-- Every fault test counts: at the end a line `FAULTS tried=N survived=M` goes to stdout, or to
-- the file named by MMC_FAULT_REPORT. With MMC_FAULT_VERBOSE=1 each fault's time and message
-- go to stderr as well.
--
-- Retries are off in the fault tests (retries = 0), so that each fault is seen exactly once. The describe "retry policy" at the end turns them on and
-- checks, from the server's request log, how many times and when a request was sent again; its
-- tests are counted apart: `RETRIES tried=N verified=M` (same place).
local unpack = table.unpack or unpack -- Lua 5.1 and LuaJIT: unpack
local pack = table.pack or function(...) return { n = select("#", ...), ... } end
package.path = "spec/faults/?.lua;" .. package.path
local faults = require "fault_server"
local mmc = require "mmc"
local mime = require "mime"

local TIMEOUT, CONNECT_TIMEOUT = 2, 1
local APP_ID, APP_KEY = "fault-app", "fault-app-key-0123456789"
local WEBHOOK_ID = "b21e0291639911ecb31073dbfc5b38fa"
local APPAUTH = "/v2/usg/acs/auth/appauth"
local CHANGE_STATUS = "/v1/mmc/management/webhook/change-status"
local MiB = 1024 * 1024

local server
local tally = { tried = 0, survived = 0, seen = {}, retries_tried = 0, retries_verified = 0 }

local function options(extra)
    local o = {
        app_id = APP_ID, app_key = APP_KEY, endpoint = server.endpoint, ca_file = server.ca_file,
        timeout = TIMEOUT, connect_timeout = CONNECT_TIMEOUT, retries = 0,
    }
    for k, v in pairs(extra or {}) do o[k] = v end
    return o
end

local timeouts = setmetatable({}, { __mode = "k" }) -- each client's timeout, for call()

local function new_client(extra)
    local o = options(extra)
    local client = mmc.new(o)
    timeouts[client] = o.timeout
    return client
end

-- 1 when `text` is well-formed UTF-8 (any Lua: no utf8 library needed).
local function is_utf8(text)
    local i, n = 1, #text
    while i <= n do
        local c = text:byte(i)
        local extra
        if c < 0x80 then extra = 0
        elseif c >= 0xC2 and c <= 0xDF then extra = 1
        elseif c >= 0xE0 and c <= 0xEF then extra = 2
        elseif c >= 0xF0 and c <= 0xF4 then extra = 3
        else return false end
        for j = i + 1, i + extra do
            local d = text:byte(j)
            if not d or d < 0x80 or d > 0xBF then return false end
        end
        i = i + extra + 1
    end
    return true
end

local function resident_kib()
    local f = io.open("/proc/self/status")
    if not f then return 0 end
    local text = f:read("*a")
    f:close()
    return tonumber(text:match("VmRSS:%s*(%d+)")) or 0
end

local function assert_no_secret(text)
    assert(not text:find(APP_KEY, 1, true), "the app key leaked into: " .. text)
    for _, token in ipairs(server:tokens()) do
        assert(not text:find(token, 1, true), "a token leaked into: " .. text)
    end
end

-- Calls client[method](client, ...) in protected mode and checks what every fault must give:
-- it returned (did not raise), within the timeout plus a second, with no secret in the message
-- and a message whenever there is no status. Returns elapsed seconds, then the call's results.
local current
local quiet = false
local function call(client, method, ...)
    local started = faults.now()
    local results = pack(pcall(client[method], client, ...))
    local elapsed = faults.now() - started
    assert(results[1], "the call raised: " .. tostring(results[2]))
    local status, err = results[2], results[3]
    if current and not quiet and current.elapsed == nil then -- the fault's own call
        current.elapsed, current.status, current.err = elapsed, status, err
    end
    local timeout = timeouts[client] or TIMEOUT
    assert(elapsed < timeout + 1, ("took %.2f s, more than the timeout (%g s) plus a second"):format(elapsed, timeout))
    if status == nil then assert.is_string(err) end
    if type(err) == "string" then
        assert_no_secret(err)
        assert(is_utf8(err), "the message is not UTF-8: " .. err)
    end
    if type(results[4]) == "table" then
        assert(results[4].accessToken == nil, "a token was returned in the body")
    end
    return elapsed, unpack(results, 2, results.n)
end

-- call(), for a step that is not the fault's own call (not shown in the verbose list).
local function quietly(client, method, ...)
    quiet = true
    local results = pack(pcall(call, client, method, ...))
    quiet = false
    assert(results[1], results[2])
    return unpack(results, 2, results.n)
end

-- The fault is gone: the same client's next call works.
local function assert_recovers(client)
    local _, status, err = quietly(client, "set_webhook_status", WEBHOOK_ID, mmc.ENABLE)
    assert.is_nil(err)
    assert.are.equal(200, status)
end

-- A client that holds a token, whose kept-alive connection the server then closed: its next
-- call opens a new connection, which is what a connection fault hits.
local function authenticated_client(extra)
    local client = new_client(extra)
    local _, status, err = quietly(client, "auth")
    assert.are.equal(200, status, err)
    server:drop()
    return client
end

local function fault(name, body)
    it(name, function()
        tally.tried = tally.tried + 1
        current = { name = name }
        tally.seen[#tally.seen + 1] = current
        body()
        current.survived = true
        tally.survived = tally.survived + 1
    end)
end

-- A test of the retry policy: counted as a retry verified, not as a fault.
local function retry(name, body)
    it("[retry policy] " .. name, function()
        tally.retries_tried = tally.retries_tried + 1
        body()
        tally.retries_verified = tally.retries_verified + 1
    end)
end

local function report()
    local line = ("FAULTS tried=%d survived=%d\nRETRIES tried=%d verified=%d\n"):format(
        tally.tried, tally.survived, tally.retries_tried, tally.retries_verified)
    local file_name = os.getenv("MMC_FAULT_REPORT")
    if file_name and file_name ~= "" then
        local f = assert(io.open(file_name, "w"))
        f:write(line)
        f:close()
    else
        io.stdout:write("\n", line)
    end
    if os.getenv("MMC_FAULT_VERBOSE") == "1" then
        for _, r in ipairs(tally.seen) do
            io.stderr:write(("FAULT %-60s %s %5.2f s  %s  %s\n"):format(r.name, r.survived and "ok  " or "FAIL",
                r.elapsed or -1, tostring(r.status), tostring(r.err)))
        end
    end
end

local function respond(rule)
    rule.on, rule.action = "request", "respond"
    rule.path = rule.path or CHANGE_STATUS
    return server:fault(rule)
end

describe("faults", function()
    setup(function() server = faults.start() end)
    teardown(function()
        report()
        if server then server:stop() end
    end)
    before_each(function() server:reset() end)

    describe("before any answer", function()
        fault("connection refused, on authentication", function()
            local client = new_client()
            server:listen(false)
            local _, status, err = call(client, "auth")
            assert.is_nil(status)
            assert.matches("^connection failed: ", err)
            server:listen(true)
            assert_recovers(client)
        end)

        fault("connection refused, on a call with a token", function()
            local client = authenticated_client()
            server:listen(false)
            local _, status, err = call(client, "set_webhook_status", WEBHOOK_ID, mmc.ENABLE)
            assert.is_nil(status)
            assert.matches("^connection failed: ", err)
            server:listen(true)
            assert_recovers(client)
        end)

        fault("connection refused, on a call that must authenticate first", function()
            local client = new_client()
            server:listen(false)
            local _, status, err = call(client, "set_webhook_status", WEBHOOK_ID, mmc.ENABLE)
            assert.is_nil(status)
            assert.matches("^authentication failed: connection failed: ", err)
            server:listen(true)
            assert_recovers(client)
        end)

        fault("connection refused, plain http", function()
            local client = new_client { endpoint = server.plain_endpoint, allow_http = true }
            server:listen(false, "plain")
            local _, status, err = call(client, "auth")
            assert.is_nil(status)
            assert.matches("^connection failed: ", err)
            server:listen(true, "plain")
            assert_recovers(client)
        end)

        fault("accept then silence, on authentication", function()
            local client = new_client()
            server:fault { on = "connection", action = "silence" }
            local elapsed, status, err = call(client, "auth")
            assert.is_nil(status)
            assert.matches("^timed out: ", err)
            assert.is_true(elapsed >= CONNECT_TIMEOUT - 0.1, "gave up after " .. elapsed .. " s")
            assert_recovers(client)
        end)

        fault("accept then silence, on a call with a token", function()
            local client = authenticated_client()
            server:fault { on = "connection", action = "silence" }
            local _, status, err = call(client, "set_webhook_status", WEBHOOK_ID, mmc.ENABLE)
            assert.is_nil(status)
            assert.matches("^timed out: ", err)
            assert_recovers(client)
        end)

        fault("accept then silence, plain http", function()
            local client = new_client { endpoint = server.plain_endpoint, allow_http = true }
            server:fault { listener = "plain", on = "connection", action = "silence" }
            local elapsed, status, err = call(client, "auth")
            assert.is_nil(status)
            assert.matches("^timed out: ", err)
            assert.is_true(elapsed >= TIMEOUT - 0.1, "gave up after " .. elapsed .. " s")
            assert_recovers(client)
        end)

        fault("connection reset at accept", function()
            local client = authenticated_client()
            server:fault { on = "connection", action = "reset" }
            local _, status, err = call(client, "set_webhook_status", WEBHOOK_ID, mmc.ENABLE)
            assert.is_nil(status)
            -- the RST may beat libcurl's connect check ("connection failed", or "connection
            -- lost: getpeername() failed ... not connected" on a slow client), or come in the
            -- TLS handshake ("connection lost: ... reset")
            assert.is_truthy(err:match("^connection failed: ") or err:match("^connection lost: "), err)
            assert_recovers(client)
        end)
    end)

    describe("TLS", function()
        -- `patterns`: what the message may be (any one); by default "TLS failed: ..."
        local function tls_fault(name, rule, patterns)
            fault(name, function()
                local client = authenticated_client()
                rule.on = "connection"
                server:fault(rule)
                local _, status, err = call(client, "set_webhook_status", WEBHOOK_ID, mmc.ENABLE)
                assert.is_nil(status)
                local named = false
                for _, pattern in ipairs(patterns or { "^TLS failed: " }) do
                    named = named or err:match(pattern) ~= nil
                end
                assert(named, "the message does not name the fault: " .. err)
                -- nothing reached the API on the bad connection
                assert.are.equal(0, #server:requests("main", CHANGE_STATUS))
                assert_recovers(client)
            end)
        end
        tls_fault("TLS handshake failure: garbage instead of a ServerHello", { action = "tls_garbage" })
        -- a reset in the handshake is a lost connection as much as a TLS failure
        tls_fault("TLS handshake failure: the server resets after the ClientHello", { action = "tls_abort" },
            { "^TLS failed: .*reset", "^connection lost: .*reset" })
        tls_fault("a certificate for another host name", { action = "cert", cert = "wrong_host" },
            { "^TLS failed: .*host name '127%.0%.0%.1'" })
        tls_fault("an expired certificate", { action = "cert", cert = "expired" }, { "^TLS failed: .*expired" })
        tls_fault("a self-signed certificate", { action = "cert", cert = "self_signed" }, { "^TLS failed: .*self%-signed" })

        fault("a bad certificate on authentication (fresh client)", function()
            local client = new_client()
            server:fault { on = "connection", action = "cert", cert = "expired" }
            local _, status, err = call(client, "auth")
            assert.is_nil(status)
            assert.matches("^TLS failed: .*expired", err)
            assert.are.equal(0, #server:requests())
            assert_recovers(client)
        end)
    end)

    describe("an answer that stops", function()
        fault("headers then silence", function()
            local client = authenticated_client()
            server:fault { on = "request", action = "headers_silence", path = CHANGE_STATUS }
            local elapsed, status, err = call(client, "set_webhook_status", WEBHOOK_ID, mmc.ENABLE)
            assert.is_nil(status)
            assert.matches("^timed out: ", err)
            assert.is_true(elapsed >= TIMEOUT - 0.1, "gave up after " .. elapsed .. " s")
            assert_recovers(client)
        end)

        fault("headers then silence, on authentication", function()
            local client = new_client()
            server:fault { on = "request", action = "headers_silence", path = APPAUTH }
            local _, status, err = call(client, "set_webhook_status", WEBHOOK_ID, mmc.ENABLE)
            assert.is_nil(status)
            assert.matches("^authentication failed: timed out: ", err)
            assert_recovers(client)
        end)

        fault("a body that stops half way (Content-Length larger than sent, then close)", function()
            local client = new_client()
            server:fault { on = "request", action = "half_body", path = CHANGE_STATUS }
            local _, status, err = call(client, "set_webhook_status", WEBHOOK_ID, mmc.ENABLE)
            assert.is_nil(status)
            assert.matches("^connection lost: ", err)
            assert_recovers(client)
        end)

        fault("a body that stops half way, plain http", function()
            local client = new_client { endpoint = server.plain_endpoint, allow_http = true }
            server:fault { listener = "plain", on = "request", action = "half_body", path = CHANGE_STATUS }
            local _, status, err = call(client, "set_webhook_status", WEBHOOK_ID, mmc.ENABLE)
            assert.is_nil(status)
            assert.matches("^connection lost: ", err)
            assert_recovers(client)
        end)

        fault("connection reset mid-response (SO_LINGER 0)", function()
            local client = new_client()
            server:fault { on = "request", action = "reset_mid", path = CHANGE_STATUS }
            local _, status, err = call(client, "set_webhook_status", WEBHOOK_ID, mmc.ENABLE)
            assert.is_nil(status)
            assert.matches("^connection lost: ", err)
            assert_recovers(client)
        end)

        fault("connection reset mid-response, on authentication", function()
            local client = new_client()
            server:fault { on = "request", action = "reset_mid", path = APPAUTH }
            local _, status, err = call(client, "auth")
            assert.is_nil(status)
            assert.matches("^connection lost: ", err)
            assert_recovers(client)
        end)
    end)

    describe("answers that are not HTTP", function()
        -- On authentication, the first request of a fresh client: its connection is new, so
        -- libcurl does not send the request again (see the kept-alive tests for a reused one).
        local function raw(name, listener, data, words)
            fault(name, function()
                local plain = listener == "plain"
                local client = new_client(plain and { endpoint = server.plain_endpoint, allow_http = true } or nil)
                server:fault { listener = listener, on = "request", action = "raw", path = APPAUTH, data_b64 = mime.b64(data) }
                local _, status, err = call(client, "auth")
                assert.is_nil(status)
                assert.is_string(err)
                assert.matches(words, err)
                assert_recovers(client)
            end)
        end
        raw("no status line at all (plain http)", "plain", "HELLO THERE\r\n\r\n", "^invalid HTTP answer: ")
        raw("no status line at all (https)", "main", "HELLO THERE\r\n\r\n", "^invalid HTTP answer: ")
        raw("a status line that is not HTTP/1.x", "main", "HTTP/9.9 200 OK\r\nContent-Length: 2\r\n\r\n{}", "^invalid HTTP answer: ")
        raw("a negative Content-Length", "main", "HTTP/1.1 200 OK\r\nContent-Length: -5\r\n\r\n{}", "^invalid HTTP answer: ")
        raw("the connection closed with no answer", "main", "", "^connection lost: ")

        -- A PUT on a new connection (the kept-alive one was closed by the server) answered
        -- with a status line and part of the headers, then FIN: no complete answer arrived.
        local function cut_headers(name, data)
            fault(name, function()
                local client = authenticated_client()
                server:fault { on = "request", action = "raw", path = CHANGE_STATUS, data = data }
                local _, status, err = call(client, "set_webhook_status", WEBHOOK_ID, mmc.ENABLE)
                assert.is_nil(status, "an answer cut inside its headers was taken for a whole one")
                assert.is_string(err)
                assert.is_truthy(err:match("^connection lost: ") or err:match("^invalid HTTP answer: "), err)
                assert_recovers(client)
            end)
        end
        cut_headers("headers cut off after the status line, then close", "HTTP/1.1 200 OK\r\n")
        cut_headers("headers cut off inside a header, then close", "HTTP/1.1 200 OK\r\nContent-Le")
        cut_headers("headers cut off after Content-Length, then close", "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n")
    end)

    describe("framing", function()
        it("returns a repeated header's values joined with \", \", names in lower case, in request_all as in request", function()
            local client = new_client()
            local answer = { status = 200, body = "{}", count = 2,
                headers = { ["X-Dup"] = "one", ["x-dup"] = "two", ["X-Other"] = "three" } }
            local request = { "PUT", CHANGE_STATUS, { query = { id = WEBHOOK_ID, status = 0 } } }
            local function check(headers)
                -- the fault server writes a table's headers in no set order
                local joined = headers["x-dup"]
                assert.is_true(joined == "one, two" or joined == "two, one", tostring(joined))
                assert.are.equal("three", headers["x-other"])
                for name in pairs(headers) do assert.are.equal(name:lower(), name) end
            end
            respond(answer)
            local results = client:request_all { request, request }
            for i = 1, 2 do
                assert.are.equal(200, results[i].status, results[i].err)
                check(results[i].headers)
            end
            answer.count = 1
            respond(answer)
            local status, err, _, headers = client:request(request[1], request[2], request[3])
            assert.are.equal(200, status, err)
            check(headers)
        end)

        it("redacts the app key and the token echoed in a batch's answers, headers and bodies, as in request", function()
            local client = new_client()
            assert.are.equal(200, (client:auth()))
            local tokens = server:tokens()
            local token = tokens[#tokens]
            local answer = { status = 200, count = 3,
                body = '{"returnCode":0,"echo":"' .. token .. '","key":"' .. APP_KEY .. '"}',
                headers = { ["X-Echo"] = "token " .. token, ["X-Key"] = APP_KEY, ["X-Plain"] = "kept" } }
            local request = { "PUT", CHANGE_STATUS, { query = { id = WEBHOOK_ID, status = 0 } } }
            respond(answer)
            local results = client:request_all { request, request, request }
            for i = 1, 3 do
                local r = results[i]
                assert.are.equal(200, r.status, r.err)
                assert.are.equal("token ***", r.headers["x-echo"])
                assert.are.equal("***", r.headers["x-key"])
                assert.are.equal("kept", r.headers["x-plain"])
                assert.are.equal("***", r.body.echo)
                assert.are.equal("***", r.body.key)
                for name, value in pairs(r.headers) do assert_no_secret(name .. ": " .. value) end
            end
        end)

        fault("an HTTP/1.0 close-delimited body", function()
            local client = new_client()
            respond { http10 = true, status = 200, body = '{"returnCode":0,"returnDesc":"one-oh"}' }
            local _, status, err, body = call(client, "set_webhook_status", WEBHOOK_ID, mmc.ENABLE)
            assert.is_nil(err)
            assert.are.equal(200, status)
            assert.are.equal("one-oh", body.returnDesc)
            assert_recovers(client)
        end)

        fault("an HTTP/1.0 close-delimited error body, plain http", function()
            local client = new_client { endpoint = server.plain_endpoint, allow_http = true }
            server:fault { listener = "plain", on = "request", action = "respond", path = CHANGE_STATUS, http10 = true,
                status = 500, body = '{"error_code":"MMC.500","error_msg":"old server"}' }
            local _, status, err = call(client, "set_webhook_status", WEBHOOK_ID, mmc.ENABLE)
            assert.are.equal(500, status)
            assert.matches("^MMC%.500: old server", err)
            assert_recovers(client)
        end)

        fault("a chunked JSON body over several chunks", function()
            local client = new_client()
            respond { status = 200, chunks = { '{"return', 'Code":0,', '"returnDesc":"chu', 'nked"}' } }
            local _, status, err, body = call(client, "set_webhook_status", WEBHOOK_ID, mmc.ENABLE)
            assert.is_nil(err)
            assert.are.equal(200, status)
            assert.are.equal("chunked", body.returnDesc)
            assert_recovers(client)
        end)

        fault("a chunked authentication answer, the token split across chunks", function()
            local client = new_client()
            respond { path = APPAUTH, status = 200, issue_token = true,
                chunks = { '{"accessToken":"', '{token}', '","validPeriod":', '3600}' } }
            local _, status, err = call(client, "set_webhook_status", WEBHOOK_ID, mmc.ENABLE)
            assert.is_nil(err)
            assert.are.equal(200, status)
            assert_recovers(client)
        end)
    end)

    describe("size", function()
        local function huge(name, chunked)
            fault(name, function()
                local client = new_client { max_body = MiB }
                collectgarbage()
                local before = resident_kib()
                server:fault { on = "request", action = "huge", path = CHANGE_STATUS, chunked = chunked, size = 100 * MiB }
                local elapsed, status, err = call(client, "set_webhook_status", WEBHOOK_ID, mmc.ENABLE)
                local grown = resident_kib() - before
                assert.is_nil(status)
                assert.are.equal("response too large: body exceeds 1048576 bytes", err)
                assert.is_true(elapsed < 1, "took " .. elapsed .. " s to give up")
                assert.is_true(grown < 16 * 1024, "resident size grew by " .. grown .. " KiB")
                local sent = server:requests("main", CHANGE_STATUS)[1].sent
                assert.is_true(sent < 20 * MiB, "the client read " .. sent .. " bytes before cutting")
                assert_recovers(client)
            end)
        end
        huge("a 100 MiB body with Content-Length", false)
        huge("a 100 MiB chunked body (no length announced)", true)
    end)

    describe("redirects", function()
        local function redirect(code)
            fault(code .. " to another host", function()
                local client = new_client()
                server:fault { on = "request", action = "redirect", status = code, path = CHANGE_STATUS }
                local _, status, err = call(client, "set_webhook_status", WEBHOOK_ID, mmc.ENABLE)
                assert.are.equal(code, status)
                assert.matches("^HTTP " .. code .. " %(redirects are not followed%)", err)
                -- not followed: the target saw nothing, so never the token
                assert.are.equal(0, #server:requests("target"))
                assert.are.equal(0, server:connections("target"))
                assert.are.equal(1, #server:requests("main", CHANGE_STATUS))
                assert_recovers(client)
                assert.are.equal(0, #server:requests("target"))
            end)
        end
        redirect(301)
        redirect(302)

        fault("a redirect of the authentication request", function()
            local client = new_client()
            server:fault { on = "request", action = "redirect", status = 307, path = APPAUTH }
            local _, status, err = call(client, "set_webhook_status", WEBHOOK_ID, mmc.ENABLE)
            assert.are.equal(307, status)
            assert.matches("^authentication failed: HTTP 307 %(redirects are not followed%)", err)
            assert.are.equal(0, #server:requests("target"))
            assert_recovers(client)
        end)
    end)

    describe("error statuses", function()
        for _, code in ipairs { 500, 502, 503, 504 } do
            fault(code .. " with a JSON error body", function()
                local client = new_client()
                respond { status = code, body = ('{"error_code":"MMC.%d","error_msg":"server trouble"}'):format(code) }
                local _, status, err, body = call(client, "set_webhook_status", WEBHOOK_ID, mmc.ENABLE)
                assert.are.equal(code, status)
                assert.matches(("^MMC%%.%d: server trouble %%(request id req%%-"):format(code), err)
                assert.are.equal("MMC." .. code, body.error_code)
                assert.are.equal(1, #server:requests("main", CHANGE_STATUS))
                assert_recovers(client)
            end)
            fault(code .. " without a JSON body", function()
                local client = new_client()
                respond { status = code, body = "<html><body>Bad Gateway</body></html>",
                    headers = { ["Content-Type"] = "text/html" } }
                local _, status, err, body = call(client, "set_webhook_status", WEBHOOK_ID, mmc.ENABLE)
                assert.are.equal(code, status)
                assert.matches(("^HTTP %d %%(request id req%%-"):format(code), err)
                assert.is_nil(body)
                assert_recovers(client)
            end)
        end

        fault("503 with an empty body", function()
            local client = new_client()
            respond { status = 503, body = "" }
            local _, status, err = call(client, "set_webhook_status", WEBHOOK_ID, mmc.ENABLE)
            assert.are.equal(503, status)
            assert.matches("^HTTP 503", err)
            assert_recovers(client)
        end)

        fault("429 with Retry-After", function()
            local client = new_client()
            respond { status = 429, headers = { ["Retry-After"] = "1" },
                body = '{"error_code":"MMC.429","error_msg":"too many requests"}' }
            local elapsed, status, err = call(client, "set_webhook_status", WEBHOOK_ID, mmc.ENABLE)
            assert.are.equal(429, status)
            assert.matches("^MMC%.429: too many requests", err)
            -- retries off: returned at once
            assert.is_true(elapsed < 0.9, "took " .. elapsed .. " s")
            assert.are.equal(1, #server:requests("main", CHANGE_STATUS))
            assert_recovers(client)
        end)

        fault("401 with a garbage body (every time)", function()
            local client = new_client()
            respond { status = 401, count = 2, body = "\1\2garbage<<>>\r\n" }
            local _, status, err, body = call(client, "set_webhook_status", WEBHOOK_ID, mmc.ENABLE)
            assert.are.equal(401, status)
            assert.matches("^HTTP 401", err)
            assert.is_nil(body)
            -- README: on a 401 the client logs in again and retries once
            local seen = {}
            for _, r in ipairs(server:requests()) do seen[#seen + 1] = r.path end
            assert.are.same({ APPAUTH, CHANGE_STATUS, APPAUTH, CHANGE_STATUS }, seen)
            assert_recovers(client)
        end)

        fault("401 with a garbage body, on authentication", function()
            local client = new_client()
            respond { path = APPAUTH, status = 401, body_b64 = mime.b64("\0\255garbage\r\n") }
            local _, status, err = call(client, "auth")
            assert.are.equal(401, status)
            assert.matches("^HTTP 401", err)
            assert_recovers(client)
        end)
    end)

    describe("bad JSON", function()
        local bad_utf8 = '{"returnCode":0,"returnDesc":"\255\254 bad \192\175"}'

        fault("invalid UTF-8 in a 200's JSON body", function()
            local client = new_client()
            respond { status = 200, body_b64 = mime.b64(bad_utf8) }
            local _, status, err, body = call(client, "set_webhook_status", WEBHOOK_ID, mmc.ENABLE)
            assert.are.equal(200, status)
            -- RFC 8259 8.1: JSON text is UTF-8; README: a 2xx whose body is not JSON is
            -- `status, message, nil`
            assert.is_string(err, "a body with invalid UTF-8 was accepted as JSON")
            assert.matches("^HTTP 200 with a body that is not JSON", err)
            assert.is_nil(body)
            assert_recovers(client)
        end)

        fault("invalid UTF-8 in an error body", function()
            local client = new_client()
            respond { status = 500, body_b64 = mime.b64('{"error_code":"MMC.500","error_msg":"bad \255\254 text"}') }
            local _, status, err, body = call(client, "set_webhook_status", WEBHOOK_ID, mmc.ENABLE)
            assert.are.equal(500, status)
            assert.matches("^HTTP 500", err)
            assert.is_nil(body, "README: body is nil when the answer was not JSON")
            assert_recovers(client)
        end)

        fault("invalid UTF-8 in the authentication answer's token", function()
            local client = new_client()
            respond { path = APPAUTH, status = 200, body_b64 = mime.b64('{"accessToken":"tok\255\254","validPeriod":3600}') }
            local _, status, err = call(client, "auth")
            assert.are.equal(200, status)
            assert.is_string(err)
            assert.is_truthy(err:match("^authentication answer has a malformed accessToken")
                or err:match("^HTTP 200 with a body that is not JSON %(invalid UTF%-8"), err)
            assert_recovers(client)
        end)

        fault("a long error message in multi-byte UTF-8 (cut at the message limit)", function()
            local client = new_client()
            respond { status = 500, body = '{"error_code":"MMC.500","error_msg":"x' .. string.rep("\195\169", 400) .. '"}' }
            local _, status, err = call(client, "set_webhook_status", WEBHOOK_ID, mmc.ENABLE)
            assert.are.equal(500, status)
            assert.matches("^MMC%.500: x\195\169", err) -- and call() checks it is still UTF-8
            assert_recovers(client)
        end)

        local function nested(depth)
            return string.rep('{"a":', depth) .. "1" .. string.rep("}", depth)
        end

        fault("deeply nested JSON in a 200 (100,000 levels)", function()
            local client = new_client()
            respond { status = 200, body = nested(100000) }
            local _, status, err, body = call(client, "set_webhook_status", WEBHOOK_ID, mmc.ENABLE)
            assert.are.equal(200, status)
            assert.matches("^HTTP 200 with a body that is not JSON %(.*deep", err)
            assert.is_nil(body)
            assert_recovers(client)
        end)

        fault("deeply nested JSON arrays in an error body", function()
            local client = new_client()
            respond { status = 500, body = '{"error_code":"MMC.500","x":' .. string.rep("[", 50000) .. string.rep("]", 50000) .. "}" }
            local _, status, err = call(client, "set_webhook_status", WEBHOOK_ID, mmc.ENABLE)
            assert.are.equal(500, status)
            assert.matches("^HTTP 500", err)
            assert_recovers(client)
        end)

        fault("deeply nested JSON in the authentication answer", function()
            local client = new_client()
            respond { path = APPAUTH, status = 200, body = '{"accessToken":"tok123456","x":' .. nested(100000) .. "}" }
            local _, status, err = call(client, "auth")
            assert.are.equal(200, status)
            assert.matches("^HTTP 200 with a body that is not JSON %(JSON nested too deeply%)", err)
            assert_recovers(client)
        end)

        fault("nested JSON at the validator's depth limit (128) and one past it", function()
            local client = new_client()
            respond { status = 200, body = nested(127) .. "" }
            local _, status, err, body = call(client, "set_webhook_status", WEBHOOK_ID, mmc.ENABLE)
            assert.are.equal(200, status)
            assert.is_nil(err)
            assert.are.equal("table", type(body.a))
            respond { status = 200, body = "[" .. nested(128) .. "]" }
            _, status, err, body = call(client, "set_webhook_status", WEBHOOK_ID, mmc.ENABLE)
            assert.are.equal(200, status)
            assert.matches("^HTTP 200 with a body that is not JSON %(JSON nested too deeply%)", err)
            assert.is_nil(body)
            assert_recovers(client)
        end)
    end)

    describe("kept-alive connections", function()
        fault("the server closes the connection after every answer", function()
            local client = new_client()
            server:fault { on = "request", action = "close_idle", count = -1 }
            for _ = 1, 4 do
                local _, status, err = call(client, "set_webhook_status", WEBHOOK_ID, mmc.ENABLE)
                assert.is_nil(err)
                assert.are.equal(200, status)
            end
            -- one authentication and four calls, each on a connection of its own
            assert.are.equal(5, #server:requests())
            assert.are.equal(5, server:connections())
        end)

        fault("the server closes idle connections between calls", function()
            local client = new_client()
            for _ = 1, 3 do
                local _, status, err = call(client, "set_webhook_status", WEBHOOK_ID, mmc.ENABLE)
                assert.is_nil(err)
                assert.are.equal(200, status)
                server:drop()
                faults.sleep(0.05)
            end
            assert.are.equal(3, server:connections())
        end)

        fault("a kept-alive connection closed with no answer to the next request", function()
            -- The server read the request and closed: libcurl sends it again on the next
            -- connection (it does so only for a reused connection that gave nothing back; here
            -- the only one, so the next is new: request_all_spec shows the chain over kept ones).
            local client = new_client()
            quietly(client, "auth")
            server:fault { on = "request", action = "raw", path = CHANGE_STATUS, data = "" }
            local _, status, err = call(client, "set_webhook_status", WEBHOOK_ID, mmc.ENABLE)
            assert.is_nil(err)
            assert.are.equal(200, status)
            assert.are.equal(2, #server:requests("main", CHANGE_STATUS))
            assert.are.equal(2, server:connections())
        end)

        fault("a connection reused while it is fine is not reopened", function()
            local client = new_client()
            for _ = 1, 3 do
                local _, status = call(client, "set_webhook_status", WEBHOOK_ID, mmc.ENABLE)
                assert.are.equal(200, status)
            end
            assert.are.equal(1, server:connections())
        end)
    end)
    -- The retry policy (client.h, "Retries"): idempotent calls (authentication, PUT, GET,
    -- DELETE) that got no answer because the connection was refused, reset or closed early, or
    -- that were answered 429, 502, 503 or 504, are sent again up to `retries` times with
    -- backoff, honouring Retry-After, never past the call's timeout.
    describe("retry policy", function()
        local function retrying(extra)
            local o = { retries = 2, timeout = 3 }
            for k, v in pairs(extra or {}) do o[k] = v end
            return new_client(o)
        end
        local function paths(listener)
            local seen = {}
            for _, r in ipairs(server:requests(listener)) do seen[#seen + 1] = r.method .. " " .. r.path end
            return seen
        end

        for _, code in ipairs { 502, 503, 504 } do
            retry(code .. " then 200 on a PUT: succeeds with 2 requests", function()
                local client = retrying()
                quietly(client, "auth")
                respond { status = code, body = "" }
                local _, status, err = call(client, "set_webhook_status", WEBHOOK_ID, mmc.ENABLE)
                assert.is_nil(err)
                assert.are.equal(200, status)
                assert.are.equal(2, #server:requests("main", CHANGE_STATUS))
            end)
        end

        retry("503 every time: gives up after `retries` (2) retries, 3 requests, the last answer returned", function()
            local client = retrying()
            quietly(client, "auth")
            respond { status = 503, count = -1, body = '{"error_code":"MMC.503","error_msg":"busy"}' }
            local _, status, err = call(client, "set_webhook_status", WEBHOOK_ID, mmc.ENABLE)
            assert.are.equal(503, status)
            assert.matches("^MMC%.503: busy", err)
            assert.are.equal(3, #server:requests("main", CHANGE_STATUS))
        end)

        retry("429 with Retry-After: 1 waits at least 1 s before the next request", function()
            local client = retrying()
            quietly(client, "auth")
            respond { status = 429, headers = { ["Retry-After"] = "1" }, body = "" }
            local elapsed, status, err = call(client, "set_webhook_status", WEBHOOK_ID, mmc.ENABLE)
            assert.is_nil(err)
            assert.are.equal(200, status)
            local puts = server:requests("main", CHANGE_STATUS)
            assert.are.equal(2, #puts)
            local gap = puts[2].t - puts[1].t
            assert.is_true(gap >= 0.95, ("the retry came %.3f s after the 429"):format(gap))
            assert.is_true(elapsed >= 0.95 and elapsed < 2, ("took %.3f s"):format(elapsed))
        end)

        retry("429 with a Retry-After past the timeout is returned at once", function()
            local client = retrying { timeout = 2 }
            quietly(client, "auth")
            respond { status = 429, headers = { ["Retry-After"] = "30" }, body = "" }
            local elapsed, status, err = call(client, "set_webhook_status", WEBHOOK_ID, mmc.ENABLE)
            assert.are.equal(429, status)
            assert.matches("^HTTP 429", err)
            assert.is_true(elapsed < 1, ("took %.3f s"):format(elapsed))
            assert.are.equal(1, #server:requests("main", CHANGE_STATUS))
        end)

        retry("a PUT answered 500 is not retried", function()
            local client = retrying()
            quietly(client, "auth")
            respond { status = 500, count = -1, body = "" }
            local _, status = call(client, "set_webhook_status", WEBHOOK_ID, mmc.ENABLE)
            assert.are.equal(500, status)
            assert.are.equal(1, #server:requests("main", CHANGE_STATUS))
        end)

        retry("the POST that sets a subscription is not retried on 503", function()
            local client = retrying()
            quietly(client, "auth")
            respond { status = 503, count = -1, body = "", path = "/v1/mmc/management/webhook/link-config" }
            local _, status = call(client, "set_webhook_config",
                { url = "https://hooks.example/x", subscriber_id = "sub", subscriber_key = "subscriber-key-123" })
            assert.are.equal(503, status)
            assert.are.equal(1, #server:requests("main", "/v1/mmc/management/webhook/link-config"))
        end)

        retry("authentication answered 503 is retried", function()
            local client = retrying()
            respond { path = APPAUTH, status = 503, body = "" }
            local _, status, err = call(client, "auth")
            assert.is_nil(err)
            assert.are.equal(200, status)
            assert.are.same({ "POST " .. APPAUTH, "POST " .. APPAUTH }, paths())
        end)

        retry("connection refused is retried (the server listens again 0.1 s later)", function()
            local client = retrying()
            quietly(client, "auth")
            server:drop()
            server:listen(false, "main", 0.1)
            local elapsed, status, err = call(client, "set_webhook_status", WEBHOOK_ID, mmc.ENABLE)
            assert.is_nil(err)
            assert.are.equal(200, status)
            assert.is_true(elapsed >= 0.1, ("took %.3f s"):format(elapsed))
            assert.are.equal(1, #server:requests("main", CHANGE_STATUS))
        end)

        retry("connection refused with retries = 0 is not retried", function()
            local client = retrying { retries = 0 }
            quietly(client, "auth")
            server:drop()
            server:listen(false, "main", 0.1)
            local _, status, err = call(client, "set_webhook_status", WEBHOOK_ID, mmc.ENABLE)
            assert.is_nil(status)
            assert.matches("^connection failed: ", err)
        end)

        retry("a connection reset during the TLS handshake is retried (no request was sent)", function()
            -- The server reads the ClientHello, then resets. (A reset at accept races libcurl's
            -- connect check: "connection failed" or this; this one is deterministic.)
            local client = retrying()
            quietly(client, "auth")
            server:drop()
            server:fault { on = "connection", action = "tls_abort" }
            local _, status, err = call(client, "set_webhook_status", WEBHOOK_ID, mmc.ENABLE)
            assert.is_nil(err)
            assert.are.equal(200, status)
            assert.are.equal(3, server:connections()) -- auth, the reset one, the retry
        end)

        retry("a PUT whose answer stops half way is retried", function()
            local client = retrying()
            quietly(client, "auth")
            server:fault { on = "request", action = "half_body", path = CHANGE_STATUS }
            local _, status, err = call(client, "set_webhook_status", WEBHOOK_ID, mmc.ENABLE)
            assert.is_nil(err)
            assert.are.equal(200, status)
            assert.are.equal(2, #server:requests("main", CHANGE_STATUS))
        end)

        retry("a PUT whose connection is reset mid-answer is retried", function()
            local client = retrying()
            quietly(client, "auth")
            server:fault { on = "request", action = "reset_mid", path = CHANGE_STATUS }
            local _, status, err = call(client, "set_webhook_status", WEBHOOK_ID, mmc.ENABLE)
            assert.is_nil(err)
            assert.are.equal(200, status)
            assert.are.equal(2, #server:requests("main", CHANGE_STATUS))
        end)

        retry("a timeout is not retried past the call's timeout", function()
            local client = retrying { timeout = 2 }
            quietly(client, "auth")
            server:fault { on = "request", action = "headers_silence", path = CHANGE_STATUS, count = -1 }
            local elapsed, status, err = call(client, "set_webhook_status", WEBHOOK_ID, mmc.ENABLE)
            assert.is_nil(status)
            assert.matches("^timed out: ", err)
            assert.is_true(elapsed < 3, ("took %.3f s"):format(elapsed))
        end)
    end)
end)
