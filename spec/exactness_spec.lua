-- Exactness, tested case by case rather than left to the fuzzers: every hex position of a push
-- signature, every byte value in query names, query values and path segments (table-driven
-- against RFC 3986), and each kind of secret in each place a server can echo it.
local mock = require "mock"
local mmc = require "mmc"

describe("a push signature", function()
    -- Huawei's documented push (docs/receiving.md); its subscriber key is "123456".
    local SIGNATURE = "262ccb5f8854f824c41ea5854ba1798bfa850706fbc85b2be9fd7535ed6b8ff3"
    local function push(signature)
        return '{"appID":"1988692299","timestamp":1629183619116,"nonce":"85262798",'
            .. '"signature":"' .. signature .. '",'
            .. '"eventInfo":{"event":"meeting.verify","timestamp":1629183619116}}'
    end
    local HEX = "0123456789abcdef"

    it("is accepted as signed, in lower or upper case", function()
        assert.is_table((mmc.verify_push(push(SIGNATURE), "123456")))
        assert.is_table((mmc.verify_push(push(SIGNATURE:upper()), "123456")))
    end)

    it("is refused when any one of its 64 hex digits is changed to any other digit", function()
        assert.are.equal(64, #SIGNATURE)
        for position = 1, 64 do
            local digit = SIGNATURE:sub(position, position)
            for other in HEX:gmatch(".") do
                if other ~= digit then
                    local changed = SIGNATURE:sub(1, position - 1) .. other .. SIGNATURE:sub(position + 1)
                    local result, reason = mmc.verify_push(push(changed), "123456")
                    assert(result == nil, ("a signature with digit %d changed from %s to %s was accepted")
                        :format(position, digit, other))
                    assert.matches("signature", reason)
                end
            end
        end
    end)

    it("is accepted when any one of its letters is in the other case", function()
        local letters = 0
        for position = 1, 64 do
            local digit = SIGNATURE:sub(position, position)
            if digit:match("%a") then
                letters = letters + 1
                local changed = SIGNATURE:sub(1, position - 1) .. digit:upper() .. SIGNATURE:sub(position + 1)
                local result, reason = mmc.verify_push(push(changed), "123456")
                assert(result, ("digit %d in upper case was refused: %s"):format(position, tostring(reason)))
            end
        end
        assert.is_true(letters > 20)
    end)

    it("is refused when it is one digit short or long, or holds a byte that is no hex digit", function()
        for _, bad in ipairs { SIGNATURE:sub(1, 63), SIGNATURE .. "0", SIGNATURE:sub(1, 63) .. "g",
                               "x" .. SIGNATURE:sub(2), SIGNATURE:sub(1, 31) .. " " .. SIGNATURE:sub(33) } do
            assert.is_nil((mmc.verify_push(push(bad), "123456")), bad)
        end
    end)
end)

-- RFC 3986, section 2.3 and 3.3.
local function is_unreserved(c) return c:match("^[%w%-%._~]$") ~= nil end
local function is_sub_delim(c) return c:match("^[!%$&'%(%)%*%+,;=]$") ~= nil end
local function is_pchar(c) return is_unreserved(c) or is_sub_delim(c) or c == ":" or c == "@" end
local function percent(c) return ("%%%02X"):format(c:byte()) end

describe("every byte value", function()
    local CONFERENCES = "/v1/mmc/management/conferences"
    local client
    setup(function()
        mock.setup()
        client = mmc.new(mock.options { retries = 0 })
    end)
    teardown(function() client:close() end)

    -- The requests sent since the last look, in order (one look at the mock's log per test).
    local seen = 0
    local function new_requests()
        local all, fresh = mock.requests(), {}
        for i = seen + 1, #all do
            if all[i].path:sub(1, #CONFERENCES) == CONFERENCES then fresh[#fresh + 1] = all[i] end
        end
        seen = #all
        return fresh
    end

    it("in a query name and a query value is sent as RFC 3986 says: unreserved as it is, all else %XX", function()
        new_requests()
        for byte = 0, 255 do
            local c = string.char(byte)
            mock.call(client.request, client, "GET", CONFERENCES, { query = { ["n" .. c .. "n"] = "v" .. c .. "v" } })
        end
        local sent = new_requests()
        assert.are.equal(256, #sent)
        for byte = 0, 255 do
            local c = string.char(byte)
            local expected = is_unreserved(c) and c or percent(c)
            assert.are.equal(CONFERENCES, sent[byte + 1].path)
            assert.are.equal("n" .. expected .. "n=v" .. expected .. "v", sent[byte + 1].query, "byte " .. byte)
        end
    end)

    it("in a path segment is sent as it is when RFC 3986 allows it there, else refused with the reason", function()
        new_requests()
        local expected = {}
        for byte = 0, 255 do
            local c = string.char(byte)
            local path = CONFERENCES .. "/x" .. c .. "y"
            local ok, err = pcall(client.request, client, "GET", path)
            local why
            if c == "%" then why = "not followed by two hex digits"
            elseif c == "?" or c == "#" then why = "must not hold a query or a fragment"
            elseif byte <= 0x20 or byte == 0x7f then why = "must not hold white space or control characters"
            elseif not (is_pchar(c) or c == "/") then why = "must be percent%-encoded"
            end
            if why then
                assert(not ok, "byte " .. byte .. " was sent in a path")
                assert.matches(why, err)
            else
                assert(ok, "byte " .. byte .. ": " .. tostring(err))
                expected[#expected + 1] = path
            end
        end
        local sent = new_requests()
        assert.are.equal(#expected, #sent)
        for i, path in ipairs(expected) do assert.are.equal(path, sent[i].path) end
        assert.are.equal(256 - 33 - 1 - 1 - 2 - 11 - 128, #expected) -- controls and space, DEL, %, ? #, 11 others, 128 bytes > 0x7f
    end)

    it("percent-encoded in a path segment is sent as written, but for control characters and slashes", function()
        new_requests()
        local expected = {}
        for byte = 0, 255 do
            for _, encoded in ipairs { percent(string.char(byte)), percent(string.char(byte)):lower() } do
                local path = CONFERENCES .. "/x" .. encoded .. "y"
                local ok, err = pcall(client.request, client, "GET", path)
                local why
                if byte < 0x20 or byte == 0x7f then why = "must not hold an encoded control character"
                elseif byte == 0x2f or byte == 0x5c then why = "must not hold an encoded slash or backslash"
                end
                if why then
                    assert(not ok, encoded .. " was sent in a path")
                    assert.matches(why, err)
                else
                    assert(ok, encoded .. ": " .. tostring(err))
                    expected[#expected + 1] = path
                end
            end
        end
        local sent = new_requests()
        assert.are.equal(2 * (256 - 32 - 1 - 2), #sent)
        for i, path in ipairs(expected) do assert.are.equal(path, sent[i].path) end
    end)
end)

describe("each kind of secret, in each place a server can echo it", function()
    local APP_ID, APP_KEY = "exact-app", "Ek/7xQa+Lm3/Zp7Wd2+Hs5/Tn8Vb4"
    local SUBSCRIBER_KEY = "sub/key+Ab7Qp2/Lm9Wd4+Zs"
    local FRAGMENT = 8

    local function assert_clean(text, secret, where)
        for i = 1, #secret - FRAGMENT + 1 do
            local piece = secret:sub(i, i + FRAGMENT - 1)
            assert(not text:find(piece, 1, true), ("%s holds %q, a part of the secret: %s"):format(where, piece, text))
        end
    end
    local function assert_body_clean(value, secret, where)
        if type(value) == "string" then
            assert_clean(value, secret, where)
        elseif type(value) == "table" then
            for k, v in pairs(value) do
                assert_body_clean(k, secret, where .. " (a key)")
                assert_body_clean(v, secret, where .. "." .. tostring(k))
            end
        end
    end

    local escapes = {
        plain = function(s) return s end,
        ["\\/"] = function(s) return (s:gsub("/", "\\/")) end,
        ["\\uXXXX"] = function(s) return (s:gsub(".", function(c) return ("\\u%04x"):format(c:byte()) end)) end,
        ["every other byte \\u00XX"] = function(s)
            local i = 0
            return (s:gsub(".", function(c)
                i = i + 1
                return i % 2 == 0 and ("\\u%04X"):format(c:byte()) or c
            end))
        end,
    }
    -- Where in the answer: status and body around the escaped secret `e`.
    local places = {
        ["an error message"] = function(e) return 400, '{"error_code":"MMC.1","error_msg":"bad ' .. e .. ' here"}' end,
        ["an error message, cut at 300 bytes"] = function(e)
            return 400, '{"error_code":"MMC.1","error_msg":"' .. string.rep("m", 290) .. e .. string.rep("z", 50) .. '"}'
        end,
        ["a member value of a 200 answer"] = function(e) return 200, '{"echo":"' .. e .. '","n":1}' end,
        ["a member name"] = function(e) return 400, '{"error_code":"MMC.1","error_msg":"x","' .. e .. '":1}' end,
        ["an array in a nested object"] = function(e) return 200, '{"a":{"b":["' .. e .. '"]}}' end,
    }
    -- The secret kinds, with the call that makes the client hold each and the path it answers.
    local kinds = {
        { "the app key", function() return APP_KEY end, mock.CHANGE_STATUS,
          function(client) return client:set_webhook_status(mock.WEBHOOK_ID, mmc.DISABLE) end },
        { "the token", function(client)
              assert.are.equal(200, (client:set_webhook_status(mock.WEBHOOK_ID, mmc.ENABLE)))
              local puts = mock.requests_to(mock.CHANGE_STATUS)
              return puts[#puts].headers["x-access-token"]
          end, "/v1/mmc/management/conferences",
          function(client) return client:request("GET", "/v1/mmc/management/conferences") end },
        { "a subscriber key", function() return SUBSCRIBER_KEY end, mock.LINK_CONFIG,
          function(client)
              return client:set_webhook_config { url = "https://127.0.0.1:8443/push", subscriber_id = "sub-1",
                                                 subscriber_key = SUBSCRIBER_KEY }
          end },
    }

    for _, kind in ipairs(kinds) do
        local name, secret_of, path, call = kind[1], kind[2], kind[3], kind[4]
        it("keeps " .. name .. " out of the message and the decoded body, in every place and escape", function()
            mock.setup { apps = { { app_id = APP_ID, app_key = APP_KEY, mode = "enterprise" } },
                         webhook_ids = { mock.WEBHOOK_ID } }
            local client = mmc.new { app_id = APP_ID, app_key = APP_KEY, endpoint = mock.endpoint,
                                     ca_file = mock.ca_file, retries = 0 }
            local secret = secret_of(client)
            assert.is_true(#secret >= 16, name)
            local tried = 0
            for place, answer in pairs(places) do
                for escape_name, escape in pairs(escapes) do
                    local where = name .. " in " .. place .. ", escaped " .. escape_name
                    local status, body = answer(escape(secret))
                    mock.fail { status = status, path = path, body = body, count = 1 }
                    local got, err, decoded = call(client)
                    assert.are.equal(status, got, where .. ": " .. tostring(err))
                    if err then assert_clean(err, secret, where .. ": the message") end
                    assert_body_clean(decoded, secret, where .. ": the body")
                    tried = tried + 1
                end
            end
            assert.are.equal(20, tried)
            client:close()
        end)
    end
end)
