-- Bad input, table-driven: every public function, every argument, every kind of wrong value.
-- Each either raises an error that names the argument (a programmer's mistake) or returns an
-- error as the conventions say; nothing crashes, and no request with a forged parameter or
-- header reaches the server (the mock records everything it got).
local unpack = table.unpack or unpack
local mock = require "mock"
local mmc = require "mmc"
local redis_store = require "mmc.redis_store"

local MiB = string.rep("x", 1024 * 1024)

-- Values that are wrong wherever a string, number, table or boolean is due.
local values = {
    { "nil", nil }, { "true", true }, { "false", false },
    { "NaN", 0 / 0 }, { "inf", math.huge }, { "-inf", -math.huge }, { "-1", -1 }, { "0", 0 },
    { "2^53", 2 ^ 53 }, { "2^63", 2 ^ 63 }, { "1e308", 1e308 }, { "0.5", 0.5 },
    { "empty string", "" }, { "NUL", "\0" }, { "inner NUL", "id\0tail" }, { "CR", "\r" },
    { "LF", "\n" }, { "header injection", "x\r\nX-Evil: 1" }, { "ampersand", "a&status=2" },
    { "equals", "a=b" }, { "percent", "%" }, { "bad escape", "%zz%00" }, { "hash", "a#b" },
    { "slash", "../../v1/usg/acs/token" }, { "question mark", "a?b" }, { "space", "a b" },
    { "unicode", "订阅€😀" }, { "invalid UTF-8", "\xff\xfe\xc0\x80" }, { "1 MiB", MiB },
    { "table", {} }, { "array", { "x" } }, { "table with __tostring", setmetatable({}, { __tostring = function() return "x" end }) },
    { "function", function() end }, { "coroutine", coroutine.create(function() end) },
    { "file", io.stdout },
}

-- The query parameters of a recorded request, decoded.
local function query_of(request)
    local pairs_found = {}
    for pair in (request.query or ""):gmatch("[^&]+") do
        local name, value = pair:match("^([^=]*)=(.*)$")
        local function decode(text)
            return (text:gsub("%%(%x%x)", function(hex) return string.char(tonumber(hex, 16)) end))
        end
        pairs_found[#pairs_found + 1] = { decode(name or pair), decode(value or "") }
    end
    return pairs_found
end

local ALLOWED_HEADERS = {
    host = true, ["user-agent"] = true, accept = true, ["x-request-id"] = true,
    ["x-access-token"] = true, ["content-type"] = true, ["content-length"] = true, authorization = true,
}

-- What each request that reached the server must look like.
local function assert_nothing_forged(expected_queries)
    for _, request in ipairs(mock.requests()) do
        for name in pairs(request.headers) do
            assert(ALLOWED_HEADERS[name], "a forged header reached the server: " .. name)
        end
        local expected = expected_queries[request.path]
        if expected then
            local found = query_of(request)
            assert.are.same(expected(request), found)
        end
    end
end

local tried, raised, returned = 0, 0, 0

-- Calls fn with the arguments and classifies what happened. A raise must name argument `n`
-- (counting self, since methods are called here as plain functions, when Lua cannot name
-- them: "bad argument #2 to '?'") of function `name`. A call's return must follow the result
-- conventions (status, nil, body / status, message, body / nil, message); `returns_any`
-- marks functions that return something else (new, configure, verify_push...).
local function try(name, n, fn, ...)
    tried = tried + 1
    local results = { pcall(fn, ...) }
    if not results[1] then
        raised = raised + 1
        local err = tostring(results[2])
        local named = err:find("bad argument #" .. n .. " to '[%w_.:]*" .. name .. "'")
            or err:find("bad argument #" .. n .. " to '?'", 1, true)
            -- a client made without a credential raises at its first call, naming the option
            or err:find("mmc: app_id is not set", 1, true) or err:find("mmc: app_key is not set", 1, true)
        assert(named, "raised without naming argument #" .. n .. " of " .. name .. ": " .. err)
        mock.assert_no_secret(err)
        return "raised"
    end
    returned = returned + 1
    return "returned", results
end

-- try() for the API calls: a return must follow the result conventions.
local function try_call(name, n, fn, ...)
    local outcome, results = try(name, n, fn, ...)
    if outcome == "returned" then
        local status, message = results[2], results[3]
        assert(status == nil or math.type == nil or math.type(status) == "integer", "odd status")
        if status == nil or status < 200 or status >= 300 then
            assert.is_string(message)
            mock.assert_no_secret(message)
        end
    end
    return outcome
end

describe("bad input", function()
    local client
    before_each(function()
        mock.setup()
        client = mmc.new(mock.options { retries = 0 })
        mmc.configure(mock.options { retries = 0 })
    end)

    it("to the id of set_webhook_status, delete_webhook_config: never forges a parameter", function()
        for _, case in ipairs(values) do
            local value = case[2]
            try_call("set_webhook_status", 2, client.set_webhook_status, client, value, 0)
            try_call("set_webhook_status", 1, mmc.set_webhook_status, value, 0)
            try_call("delete_webhook_config", 2, client.delete_webhook_config, client, value)
        end
        assert_nothing_forged {
            [mock.CHANGE_STATUS] = function(request)
                local q = query_of(request)
                -- exactly id=<what was passed> and status=0, in that order
                assert.are.equal(2, #q)
                assert.are.equal("id", q[1][1])
                return { { "id", q[1][2] }, { "status", "0" } }
            end,
        }
        -- Every id that reached the server arrived exactly as it was passed.
        local passed = {}
        for _, case in ipairs(values) do
            if type(case[2]) == "string" then passed[case[2]] = true end
        end
        for _, request in ipairs(mock.requests_to(mock.CHANGE_STATUS)) do
            assert.is_true(passed[query_of(request)[1][2]] == true)
        end
    end)

    it("to the status of set_webhook_status", function()
        for _, case in ipairs(values) do
            try_call("set_webhook_status", 3, client.set_webhook_status, client, mock.WEBHOOK_ID, case[2])
            try_call("set_webhook_status", 2, mmc.set_webhook_status, mock.WEBHOOK_ID, case[2])
        end
        for _, request in ipairs(mock.requests_to(mock.CHANGE_STATUS)) do
            local q = query_of(request)
            assert.are.same({ { "id", mock.WEBHOOK_ID }, { "status", q[2][2] } }, q)
            assert.matches("^[012]$", q[2][2])
        end
    end)

    it("to every option of new and configure", function()
        local options = { "app_id", "app_key", "user_id", "corp_id", "sp", "endpoint", "ca_file",
                          "ssl_verify", "allow_http", "timeout", "connect_timeout", "max_body",
                          "retries", "token_store", "no_such_option", "appId" }
        for _, option in ipairs(options) do
            for _, case in ipairs(values) do
                local given = mock.options { timeout = 2, retries = 0 }
                given[option] = case[2]
                local outcome = try("new", 1, mmc.new, given)
                try("configure", 1, mmc.configure, given)
                if outcome == "returned" then
                    -- a client was made: its calls answer, never crash
                    local made = mmc.new(given)
                    try_call("auth", 1, made.auth, made)
                    made:close()
                end
            end
        end
        -- not a table at all
        for _, case in ipairs(values) do
            if type(case[2]) ~= "table" and case[2] ~= nil then
                assert.equal("raised", try("new", 1, mmc.new, case[2]))
            end
        end
        assert_nothing_forged {}
    end)

    it("to every field of set_webhook_config and get_webhook_config", function()
        local fields = { "url", "subscriber_id", "subscriber_key", "corp_id", "sp_id", "unknown" }
        for _, field in ipairs(fields) do
            for _, case in ipairs(values) do
                local config = { url = "https://example.invalid/hook", subscriber_id = "sub",
                                 subscriber_key = "bad-input-subscriber-key-7d1e" }
                config[field] = case[2]
                if field == "subscriber_key" and type(case[2]) == "string" and #case[2] >= 8 then
                    -- A stored key counts as a secret for the whole run, and a message may
                    -- rightly echo the same text given as another option (a ca_file path).
                    config[field] = "key " .. case[2]
                end
                try_call("set_webhook_config", 2, client.set_webhook_config, client, config)
                try_call("set_webhook_config", 1, mmc.set_webhook_config, config)
                if field == "corp_id" or field == "sp_id" or field == "unknown" then
                    try_call("get_webhook_config", 2, client.get_webhook_config, client, { [field] = case[2] })
                end
            end
        end
        for _, case in ipairs(values) do
            try_call("set_webhook_config", 2, client.set_webhook_config, client, case[2])
            if case[2] ~= nil then
                try_call("get_webhook_config", 2, client.get_webhook_config, client, case[2])
            end
        end
        assert_nothing_forged {
            [mock.LINK_CONFIG or "/v1/mmc/management/webhook/link-config"] = function(request)
                local q = query_of(request)
                for _, pair in ipairs(q) do
                    assert.is_true(pair[1] == "corpId" or pair[1] == "spId" or pair[1] == "id")
                end
                return q
            end,
        }
    end)

    it("to verify_push, push_event_id and push_reply", function()
        for _, body in ipairs(values) do
            for _, key in ipairs(values) do
                try("verify_push", type(body[2]) == "string" and 2 or 1, mmc.verify_push, body[2], key[2])
            end
            try("verify_push", 3, mmc.verify_push, "{}", "key", body[2])
            -- a string is the body (an id, or nil and why); anything else is named
            if try("push_event_id", 1, mmc.push_event_id, body[2]) == "returned" then
                assert.is_string(body[2])
            end
            try("push_reply", 1, mmc.push_reply, body[2])
            try("push_reply", 1, mmc.push_reply, { eventInfo = { event = "meeting.verify" }, nonce = body[2] })
        end
    end)

    it("to download: the entry, its url and token, the path and every option", function()
        -- a well-formed entry goes to a closed port: it returns nil and why, and never leaves
        -- a file behind; everything else raises naming its argument
        local url = "https://127.0.0.1:" .. mock.closed_port() .. "/recordings/x.mp4"
        local dir = os.tmpname()
        os.remove(dir)
        assert(os.execute("mkdir " .. dir))
        local good = { url = url, token = "a-good-download-token" }
        for _, case in ipairs(values) do
            local value = case[2]
            try_call("download", 2, client.download, client, value, dir .. "/a.mp4")
            try_call("download", 1, mmc.download, value, dir .. "/a.mp4")
            try_call("download", 2, client.download, client, { url = value, token = good.token }, dir .. "/a.mp4")
            try_call("download", 2, client.download, client, { url = url, token = value }, dir .. "/a.mp4")
            local path = type(value) == "string" and value:sub(1, 1) ~= "/" and dir .. "/" .. value or value
            try_call("download", 3, client.download, client, good, path)
            try_call("download", 4, client.download, client, good, dir .. "/a.mp4", value)
            for _, option in ipairs { "progress", "max_size", "ssl_verify", "timeout" } do
                try_call("download", 4, client.download, client, good, dir .. "/a.mp4", { [option] = value })
            end
        end
        local pipe = assert(io.popen("ls -A " .. dir))
        local left = pipe:read("*a")
        pipe:close()
        os.execute("rm -rf " .. dir)
        assert.are.equal("", left)
        assert.are.equal(0, #mock.file_requests())
    end)

    it("to mmc.redis_store.new", function()
        for _, case in ipairs(values) do
            try("new", 1, redis_store.new, case[2])
        end
    end)

    it("to a closed client, and to methods called on the wrong object", function()
        local calls = {
            auth = {}, logout = {}, get_webhook_config = {},
            set_webhook_status = { mock.WEBHOOK_ID, 0 }, delete_webhook_config = { mock.WEBHOOK_ID },
            set_webhook_config = { { url = "https://127.0.0.1/hook", subscriber_id = "s", subscriber_key = "k" } },
        }
        local methods = {}
        for method, args in pairs(calls) do methods[method] = client[method] end
        client:close()
        for method, args in pairs(calls) do
            assert.has_error(function() methods[method](client, unpack(args)) end, "mmc: the client is closed")
            for _, case in ipairs(values) do
                local ok, err = pcall(methods[method], case[2], unpack(args))
                assert.is_false(ok)
                assert.matches("mmc.client expected", err)
                tried = tried + 1
                raised = raised + 1
            end
        end
        assert.are.equal(0, #mock.requests())
    end)

    teardown(function()
        print(("\nBAD_INPUT tried=%d raised=%d returned=%d"):format(tried, raised, returned))
        local report = os.getenv("MMC_BAD_INPUT_REPORT")
        if report then
            local file = assert(io.open(report, "w"))
            file:write(("tried=%d raised=%d returned=%d\n"):format(tried, raised, returned))
            file:close()
        end
    end)
end)
