-- client:request(method, path [, options]) and mmc.request: any Huawei Cloud Meeting API with
-- mmc's token handling, retries and results. The mock answers a few real meeting APIs
-- (SearchMeetings, ShowMeetingDetail, CreateMeeting, CancelMeeting) and records every request.
local mock = require "mock"
local mmc = require "mmc"

local CONFERENCES = "/v1/mmc/management/conferences"
local CONF_DETAIL = "/v1/mmc/management/conferences/confDetail"

local function statuses(path)
    local list = {}
    for i, r in ipairs(mock.requests_to(path)) do list[i] = r.status or "dropped" end
    return list
end

-- What client:request(...) raised, called as a method (so arguments are numbered as users
-- see them), or nil when it did not raise.
local function raised(client, ...)
    local ok, err = pcall(function(...)
        local status = client:request(...) -- not a tail call: LuaJIT would lose the name
        return status
    end, ...)
    if not ok then return err end
end

-- The one request the mock saw on `path` (fails unless there was exactly one).
local function only_request(path)
    local found = mock.requests_to(path)
    assert.are.equal(1, #found, "requests to " .. path)
    return found[1]
end

describe("client:request", function()
    local client
    before_each(function()
        mock.setup()
        client = mmc.new(mock.options())
    end)
    after_each(function()
        mock.clear_faults()
        client:close()
    end)

    it("lists meetings (SearchMeetings) with the query sorted by name and percent-escaped", function()
        local status, err, body = mock.call(client.request, client, "GET", CONFERENCES, {
            query = { searchKey = "Release review: Q1", limit = 5, offset = 0, queryAll = false },
        })
        assert.are.equal(200, status)
        assert.is_nil(err)
        assert.are.equal(1, body.count)
        assert.are.equal("914083137", body.data[1].conferenceID)
        assert.are.equal("Release review: Q1", body.data[1].subject)
        assert.are.equal(CONFERENCES .. "?limit=5&offset=0&queryAll=false&searchKey=Release%20review%3A%20Q1",
            only_request(CONFERENCES).raw_target)
    end)

    it("shows one meeting's details (ShowMeetingDetail)", function()
        local status, err, body = mock.call(client.request, client, "GET", CONF_DETAIL,
            { query = { conferenceID = "914083136" } })
        assert.are.equal(200, status)
        assert.is_nil(err)
        assert.are.equal("Weekly sync", body.conferenceData.subject)
        assert.are.equal(2, body.data.count)
        assert.are.equal("conferenceID=914083136", only_request(CONF_DETAIL).query)
    end)

    it("escapes every byte of names and values that is not unreserved", function()
        mock.call(client.request, client, "GET", "/v1/mmc/management/echo", {
            query = { ["a b"] = "x&y=z", ["\195\188"] = "/?#%+", ["-._~"] = "\r\n\0" },
        })
        assert.are.equal("-._~=%0D%0A%00&a%20b=x%26y%3Dz&%C3%BC=%2F%3F%23%25%2B",
            only_request("/v1/mmc/management/echo").query)
    end)

    it("makes the same URL from the same query, whatever order the table was filled in", function()
        local names = { "sortType", "limit", "a", "B", "offset", "searchKey", "queryAll", "z", "Z", "b" }
        local queries = {}
        for round = 1, 3 do
            local query = {}
            for i = 1, #names do
                local name = names[(i * round + round) % #names + 1]
                query[name] = name .. "-value"
            end
            for _, name in ipairs(names) do query[name] = name .. "-value" end
            mock.call(client.request, client, "GET", "/v1/mmc/management/echo", { query = query })
        end
        for i, r in ipairs(mock.requests_to("/v1/mmc/management/echo")) do queries[i] = r.query end
        assert.are.equal(3, #queries)
        assert.are.equal("B=B-value&Z=Z-value&a=a-value&b=b-value&limit=limit-value&offset=offset-value"
            .. "&queryAll=queryAll-value&searchKey=searchKey-value&sortType=sortType-value&z=z-value", queries[1])
        assert.are.equal(queries[1], queries[2])
        assert.are.equal(queries[1], queries[3])
    end)

    it("writes numbers and booleans as the API expects them", function()
        mock.call(client.request, client, "GET", "/v1/mmc/management/echo",
            { query = { limit = 20.0, offset = 0, queryAll = true, ratio = 1.5, big = 2 ^ 40, neg = -3 } })
        assert.are.equal("big=1099511627776&limit=20&neg=-3&offset=0&queryAll=true&ratio=1.5",
            only_request("/v1/mmc/management/echo").query)
    end)

    it("sends a table body as JSON, with the JSON Content-Type (CreateMeeting)", function()
        local status, err, body = mock.call(client.request, client, "POST", CONFERENCES, {
            body = { subject = "Board meeting \226\128\148 Q2", mediaTypes = "Voice,HDVideo", length = 45,
                startTime = "2030-02-01 08:00" },
        })
        assert.are.equal(200, status)
        assert.is_nil(err)
        assert.are.equal("Board meeting \226\128\148 Q2", body[1].subject)
        local sent = only_request(CONFERENCES)
        assert.are.equal("application/json; charset=UTF-8", sent.headers["content-type"])
        assert.are.same({ subject = "Board meeting \226\128\148 Q2", mediaTypes = "Voice,HDVideo", length = 45,
            startTime = "2030-02-01 08:00" }, mock.json.decode(sent.body))
        -- and the meeting is there to list
        local _, _, list = mock.call(client.request, client, "GET", CONFERENCES, { query = { searchKey = "Board" } })
        assert.are.equal(body[1].conferenceID, list.data[1].conferenceID)
    end)

    it("sends a string body as it is, as JSON unless a Content-Type header says otherwise", function()
        local text = '{ "subject":"raw text",  "mediaTypes":"Voice" }'
        assert.are.equal(200, (mock.call(client.request, client, "POST", CONFERENCES, { body = text })))
        local sent = only_request(CONFERENCES)
        assert.are.equal(text, sent.body)
        assert.are.equal("application/json; charset=UTF-8", sent.headers["content-type"])

        local status, err = mock.call(client.request, client, "POST", CONFERENCES,
            { body = "subject=raw", headers = { ["Content-Type"] = "text/plain" } })
        assert.are.equal(400, status)
        assert.matches("Content%-Type must be application/json", err)
        assert.are.equal("text/plain", mock.requests_to(CONFERENCES)[2].headers["content-type"])
    end)

    it("sends extra headers, each replacing mmc's own of the same name", function()
        mock.call(client.request, client, "GET", CONFERENCES, {
            headers = { ["Accept-Language"] = "en-US", accept = "application/json;charset=UTF-8", ["X-Empty"] = "" },
        })
        local sent = only_request(CONFERENCES)
        assert.are.equal("en-US", sent.headers["accept-language"])
        assert.are.equal("application/json;charset=UTF-8", sent.headers["accept"]) -- one, not two
        assert.are.equal("", sent.headers["x-empty"])
        assert.is_string(sent.headers["x-access-token"])
    end)

    it("refuses, before sending anything, a path that could reach anything but the endpoint", function()
        local bad = { "", "v1/x", "https://evil.example/v1", "//evil.example/v1", "http:/x", "/v1?x=1", "/v1#x",
            "/v1/../usg", "/v1/./x", "/..", "/v1/%2e%2E/x", "/v1/.%2e", "/v1/%2E", "/v1//x", "/v1 x", "/v1\tx",
            "/v1\r\nHost: evil", "/v1\0x", "/v1\\x", "/v1/%2F", "/v1/%5c", "/v1/%zz", "/v1/%4", "/v1/%00",
            "/caf\195\169", "/v1/<x>", "/v1/{id}", "/" .. string.rep("a", 2048) }
        for _, path in ipairs(bad) do
            local err = raised(client, "GET", path)
            assert.is_string(err, "accepted " .. ("%q"):format(path))
            assert.matches("bad argument #2 to 'request'", err, 1, true)
            assert.matches("path", err, 1, true)
        end
        for _, path in ipairs { 1, true, {} } do
            assert.is_false((pcall(client.request, client, "GET", path)))
        end
        assert.are.same({}, mock.requests())
    end)

    it("accepts every legitimate API path", function()
        for _, path in ipairs { "/", "/v1/mmc/x/", "/v1/a:b@c", "/v1/%E4%BC%9A%E8%AE%AE", "/v1/a.b", "/v1/...",
            "/v1/a-b_c~d!$&'()*+,;=" } do
            local status, err = mock.call(client.request, client, "GET", path)
            assert.are.equal(404, status, path .. ": " .. tostring(err))
            assert.are.equal(path, mock.requests()[#mock.requests()].raw_target)
        end
    end)

    it("refuses methods other than GET, POST, PUT, DELETE and PATCH", function()
        for _, method in ipairs { "get", "HEAD", "OPTIONS", "TRACE", "CONNECT", "GET ", "GET\0", "", 1 } do
            local err = raised(client, method, CONFERENCES)
            assert.matches("bad argument #1 to 'request' (method must be", err, 1, true)
        end
        assert.is_false((pcall(client.request, client)))
        assert.are.same({}, mock.requests())
    end)

    it("refuses headers that carry credentials or frame the request, and CR, LF or NUL", function()
        local bad = {
            { Authorization = "HMAC-SHA256 x" }, { ["x-access-token"] = "stolen" }, { HOST = "evil.example" },
            { ["Content-Length"] = "0" }, { ["transfer-encoding"] = "chunked" },
            { ["X-A"] = "a\r\nX-Access-Token: x" }, { ["X-A"] = "a\nb" }, { ["X-A"] = "a\0b" },
            { ["X-A\r\nX-B"] = "b" }, { ["X\0A"] = "b" }, { ["X A"] = "b" }, { ["X:A"] = "b" }, { [""] = "b" },
            { ["X-A"] = 1 }, { ["X-A"] = true }, { "positional" }, { [string.rep("x", 65)] = "b" },
            { ["X-A"] = string.rep("v", 4097) },
        }
        for _, headers in ipairs(bad) do
            local err = raised(client, "GET", CONFERENCES, { headers = headers })
            assert.matches("bad argument #3 to 'request' (options.headers", err, 1, true)
            assert.is_nil(err:find("stolen", 1, true))
        end
        assert.are.same({}, mock.requests())
    end)

    it("refuses unknown options and options of the wrong type, naming them", function()
        local cases = {
            { { querry = {} }, "unknown option 'querry'" },
            { { query = "limit=5" }, "options.query must be a table" },
            { { query = { "positional" } }, "options.query names must be non-empty strings" },
            { { query = { [""] = "x" } }, "options.query names must be non-empty strings" },
            { { query = { limit = {} } }, "options.query.limit must be a string, number or boolean" },
            { { query = { limit = 0 / 0 } }, "options.query.limit must be a finite number" },
            { { query = { limit = math.huge } }, "options.query.limit must be a finite number" },
            { { body = 42 }, "options.body must be a table or a string" },
            { { body = { f = print } }, "options.body could not be encoded as JSON" },
            { { body = { n = 0 / 0 } }, "options.body could not be encoded as JSON" },
            { { retry = "yes" }, "options.retry must be a boolean" },
            { { query = { q = string.rep("\195\169", 1400) } }, "options.query is longer than 8192 bytes escaped" },
            { { query = (function()
                local many = {}
                for i = 1, 101 do many["p" .. i] = i end
                return many
            end)() }, "options.query has more than 100 names" },
            { "not a table", "table expected" },
        }
        for _, case in ipairs(cases) do
            local err = raised(client, "GET", CONFERENCES, case[1])
            assert.matches(case[2], err, 1, true)
        end
        assert.are.same({}, mock.requests())
    end)

    -- issue 16, 4.1: the method on the wire is the method asked, body or none, and on_request
    -- reports that method.
    it("sends every method as asked, with a body or without, and reports it to on_request", function()
        local seen = {}
        local watched = mmc.new(mock.options { on_request = function(e) seen[#seen + 1] = e.method end })
        mock.call(watched.auth, watched)
        local body = { subject = "method", mediaTypes = "Voice" }
        local calls = { { "GET" }, { "DELETE" }, { "DELETE", body }, { "PUT" }, { "PUT", body },
            { "POST" }, { "POST", body }, { "PATCH" }, { "PATCH", body } }
        for i, call in ipairs(calls) do
            seen = {}
            mock.call(watched.request, watched, call[1], CONFERENCES, { body = call[2], retry = false })
            local label = call[1] .. (call[2] and " with a body" or "")
            local sent = mock.requests_to(CONFERENCES)
            assert.are.equal(i, #sent, label)
            assert.are.equal(call[1], sent[i].method, label)
            assert.are.same({ call[1] }, seen, label)
        end
        watched:close()
    end)

    it("refuses a GET with a body before sending anything, naming options.body", function()
        mock.call(client.auth, client)
        mock.setup()
        for _, body in ipairs { { subject = "x" }, "{}", "" } do
            local err = raised(client, "GET", CONFERENCES, { body = body })
            assert.matches("bad argument #3 to 'request' (options.body: a GET has no body "
                .. "(send it with POST or PUT, or put the parameters in options.query))", err, 1, true)
        end
        assert.are.same({}, mock.requests())
    end)

    describe("retries", function()
        before_each(function() mock.call(client.auth, client) end)

        it("retries GET, PUT and DELETE by default, as the other calls do", function()
            local calls = {
                { "GET", CONFERENCES, nil },
                { "PUT", mock.CHANGE_STATUS, { query = { id = mock.WEBHOOK_ID, status = 1 } } },
                { "DELETE", CONFERENCES, { query = { conferenceID = "914083136" } } },
            }
            for _, call in ipairs(calls) do
                mock.fail { status = 503, count = 1, path = call[2], body = "{}" }
                local status, err = mock.call(client.request, client, call[1], call[2], call[3])
                assert.are.equal(200, status, call[1] .. " " .. tostring(err))
                assert.are.same({ 503, 200 }, statuses(call[2]))
                mock.setup()
                client:close()
                client = mmc.new(mock.options())
            end
        end)

        it("does not retry POST or PATCH by default", function()
            for _, method in ipairs { "POST", "PATCH" } do
                mock.fail { status = 503, count = 1, path = CONFERENCES, body = "{}" }
                local status, err = mock.call(client.request, client, method, CONFERENCES,
                    { body = { subject = "once", mediaTypes = "Voice" } })
                assert.are.equal(503, status)
                assert.matches("^HTTP 503", err)
                assert.are.same({ 503 }, statuses(CONFERENCES))
                mock.setup()
                mock.call(client.auth, client)
            end
        end)

        it("follows options.retry when it is given", function()
            mock.fail { status = 503, count = 1, path = CONFERENCES, body = "{}" }
            assert.are.equal(503, (mock.call(client.request, client, "GET", CONFERENCES, { retry = false })))
            assert.are.same({ 503 }, statuses(CONFERENCES))
            mock.setup()
            mock.call(client.auth, client)
            mock.fail { status = 503, count = 1, path = CONFERENCES, body = "{}" }
            local status, err, body = mock.call(client.request, client, "POST", CONFERENCES,
                { body = { subject = "retried", mediaTypes = "Voice" }, retry = true })
            assert.are.equal(200, status, err)
            assert.are.equal("retried", body[1].subject)
            assert.are.same({ 503, 200 }, statuses(CONFERENCES))
        end)
    end)

    it("authenticates first, and once more when the token was revoked (401)", function()
        assert.are.equal(200, (mock.call(client.request, client, "GET", CONFERENCES)))
        assert.are.equal(1, #mock.requests_to(mock.APPAUTH))
        mock.revoke()
        local status, err = mock.call(client.request, client, "GET", CONFERENCES)
        assert.are.equal(200, status, err)
        assert.are.same({ 200, 200 }, statuses(mock.APPAUTH))
        assert.are.same({ 200, 401, 200 }, statuses(CONFERENCES))
        local sent = mock.requests_to(CONFERENCES)
        assert.are_not.equal(sent[2].headers["x-access-token"], sent[3].headers["x-access-token"])
    end)

    it("returns what the other calls return: status, message, body or nil, message", function()
        local status, err, body = mock.call(client.request, client, "GET", CONF_DETAIL,
            { query = { conferenceID = "404404404" } })
        assert.are.equal(404, status)
        assert.matches("^MMC%.111071001: conference not found %(request id %x+%)$", err)
        assert.are.equal("MMC.111071001", body.error_code)

        local dead = mmc.new(mock.options { endpoint = "https://127.0.0.1:" .. mock.closed_port(), retries = 0 })
        local nothing, why = mock.call(dead.request, dead, "GET", CONFERENCES)
        assert.is_nil(nothing)
        assert.matches("^authentication failed: connection failed", why)
    end)

    it("returns the answer's headers as a fourth value, names in lower case", function()
        local status, err, body, headers = mock.call(client.request, client, "GET", CONFERENCES)
        assert.are.equal(200, status, err)
        assert.is_table(body)
        assert.is_table(headers)
        assert.matches("^application/json", headers["content-type"])
        assert.matches("^%x+$", headers["x-request-id"])
        for name in pairs(headers) do assert.are.equal(name:lower(), name) end
        mock.assert_no_secret(mock.json.encode(headers))
        -- an error answer's too, Retry-After included
        local picky = mmc.new(mock.options { retries = 0 })
        mock.fail { status = 429, count = 1, path = CONFERENCES, retry_after = 7 }
        local refused, why, _, answer = mock.call(picky.request, picky, "GET", CONFERENCES)
        assert.are.equal(429, refused, why)
        assert.are.equal("7", answer["retry-after"])
        -- no answer: no headers
        local dead = mmc.new(mock.options { endpoint = "https://127.0.0.1:" .. mock.closed_port(), retries = 0 })
        assert.are.equal(2, select("#", mock.call(dead.request, dead, "GET", CONFERENCES)))
    end)

    it("never returns a token, even when the server echoes one", function()
        mock.call(client.request, client, "GET", CONFERENCES)
        local token = only_request(CONFERENCES).headers["x-access-token"]
        mock.fail { status = 200, count = 1, path = CONFERENCES,
            body = mock.json.encode { accessToken = token, refreshToken = "r", echo = "token " .. token } }
        local status, err, body = mock.call(client.request, client, "GET", CONFERENCES)
        assert.are.equal(200, status)
        assert.is_nil(err)
        assert.is_nil(body.accessToken)
        assert.is_nil(body.refreshToken)
        assert.are.equal("token ***", body.echo)
    end)

    it("raises on a closed client or one without credentials", function()
        client:close()
        assert.has_error(function() client:request("GET", CONFERENCES) end, "mmc: the client is closed")
        local anonymous = mmc.new { endpoint = mock.endpoint, ca_file = mock.ca_file, app_id = "x" }
        assert.has_error(function() anonymous:request("GET", CONFERENCES) end)
        assert.are.same({}, mock.requests())
    end)
end)

describe("mmc.request", function()
    before_each(function() mock.setup() end)

    it("makes the call with the default client", function()
        mmc.configure(mock.options())
        local status, err, body = mock.call(mmc.request, "GET", CONFERENCES, { query = { limit = 1 } })
        assert.are.equal(200, status)
        assert.is_nil(err)
        assert.are.equal(1, #body.data)
        assert.are.equal(1000, body.count) -- the mock's meetings (spec/mock/mock_control.py)
        assert.are.equal("limit=1", only_request(CONFERENCES).query)
        local ok, why = pcall(mmc.request, "GET", "https://evil.example/")
        assert.is_false(ok)
        assert.matches("bad argument #2 to '", why, 1, true)
        assert.matches("path must start with '/'", why, 1, true)
    end)
end)
