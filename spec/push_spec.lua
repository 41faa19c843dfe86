-- Receiving event pushes: mmc.verify_push checks what Huawei sent (signed with the subscriber
-- key), and mmc.push_reply says what to answer. The pushes here are signed by Python's hmac
-- module (spec/support/push_signer.lua), not by mmc.
local mmc = require "mmc"
local signer = require "push_signer"

local KEY = "subscriber-key-0123456789"
local now_ms = function() return math.floor(os.time() * 1000) end

describe("mmc.verify_push", function()
    it("returns an authentic push, decoded", function()
        local body = signer.push { key = KEY, nonce = "abc123", app_id = "sub-1" }
        local push, err = mmc.verify_push(body, KEY)
        assert.is_nil(err)
        assert.are.equal("sub-1", push.appID)
        assert.are.equal("abc123", push.nonce)
        assert.are.equal("meeting.started", push.eventInfo.event)
        assert.are.equal("987654321", push.eventInfo.payload.meetingInfo.meetingID)
    end)

    -- Huawei's page "Event of Verifying Configuration Enabling" gives this known answer: the
    -- signature is over the compact eventInfo, while the page prints the body pretty-printed.
    local VECTOR_KEY = "123456"
    local VECTOR_SIGNATURE = "262ccb5f8854f824c41ea5854ba1798bfa850706fbc85b2be9fd7535ed6b8ff3"
    local VECTOR_COMPACT = '{"appID":"1988692299","timestamp":1629183619116,"nonce":"85262798",'
        .. '"signature":"' .. VECTOR_SIGNATURE .. '",'
        .. '"eventInfo":{"event":"meeting.verify","timestamp":1629183619116}}'
    local VECTOR_PRINTED = '{\n\t"appID": "1988692299",\n\t"timestamp": 1629183619116,\n'
        .. '\t"nonce": "85262798",\n\t"signature": "' .. VECTOR_SIGNATURE .. '",\n'
        .. '\t"eventInfo": {\n\t\t"event": "meeting.verify",\n\t\t"timestamp": 1629183619116\n\t}\n}'

    it("accepts Huawei's documented push, compact and as the documentation prints it", function()
        for name, body in pairs { compact = VECTOR_COMPACT, printed = VECTOR_PRINTED } do
            local push, err = mmc.verify_push(body, VECTOR_KEY)
            assert.is_nil(err, name)
            assert.are.equal("1988692299", push.appID, name)
            assert.are.equal("85262798", push.nonce, name)
            assert.are.equal("meeting.verify", push.eventInfo.event, name)
            local status, reply = mmc.push_reply(push)
            assert.are.equal(200, status)
            assert.are.equal('{"event":"meeting.verify","nonce":"85262798"}', reply)
        end
        -- and refuses it with any other key
        assert.matches("^wrong signature", select(2, mmc.verify_push(VECTOR_PRINTED, "1234567")))
    end)

    it("refuses the documented push with a change that is not whitespace between tokens", function()
        for _, change in ipairs {
            { '"meeting%.verify"', '"meeting.verify "' },      -- a space inside a string counts
            { '"meeting%.verify"', '"meeting\\u002everify"' }, -- the same string, escaped otherwise
            { '"event": ', '"Event": ' },
            { '1629183619116\n\t}', '1629183619117\n\t}' },
            { '"event": "meeting%.verify",\n\t\t"timestamp": 1629183619116',
              '"timestamp": 1629183619116,\n\t\t"event": "meeting.verify"' }, -- key order counts
        } do
            local changed, n = VECTOR_PRINTED:gsub(change[1], change[2])
            assert.are.equal(1, n, change[1])
            local push, err = mmc.verify_push(changed, VECTOR_KEY)
            assert.is_nil(push, change[2])
            assert.matches("^wrong signature", err, change[2])
        end
    end)

    it("checks the signature over eventInfo as it stands, then with whitespace between tokens removed", function()
        local spaced = '{ "event" : "meeting.end", "timestamp" : 1, "payload" : { "note" : "a b" } }'
        -- signed as it stands (spaces and all)
        assert.is_table(mmc.verify_push(signer.push { key = KEY, event_info = spaced }, KEY))
        -- signed compactly, sent with spaces (and with CR LF): the same push
        local compact = '{"event":"meeting.end","timestamp":1,"payload":{"note":"a b"}}'
        local signature = signer.hmac(KEY, "12345678" .. "1700000000000" .. "n" .. compact)
        for _, sent in ipairs { spaced, (spaced:gsub(" : ", ":\r\n  ")) } do
            local reformatted = signer.push { key = KEY, timestamp = 1700000000000, nonce = "n",
                                              event_info = sent, signature = signature }
            local push, err = mmc.verify_push(reformatted, KEY)
            assert.is_nil(err)
            assert.are.equal("a b", push.eventInfo.payload.note)
        end
        -- whitespace inside a string is part of it: "a  b" is not what was signed
        local inside = signer.push { key = KEY, timestamp = 1700000000000, nonce = "n",
                                     event_info = (spaced:gsub('"a b"', '"a  b"')), signature = signature }
        assert.matches("^wrong signature", select(2, mmc.verify_push(inside, KEY)))
    end)

    it("accepts the signature in upper-case hex too", function()
        local body = signer.push { key = KEY }
        local upper = body:gsub('"signature":"(%x+)"', function(hex) return '"signature":"' .. hex:upper() .. '"' end)
        assert.is_table(mmc.verify_push(upper, KEY))
    end)

    it("rejects a push signed with another key", function()
        local push, err = mmc.verify_push(signer.push { key = "another-key" }, KEY)
        assert.is_nil(push)
        assert.matches("^wrong signature: the push was not signed with this subscriber key", err)
    end)

    it("rejects a push changed on the way, wherever the change is", function()
        local body = signer.push { key = KEY, nonce = "nonce-1" }
        for _, change in ipairs {
            { '"appID":"12345678"', '"appID":"12345679"' },
            { '"nonce":"nonce%-1"', '"nonce":"nonce-2"' },
            { '"meetingID":"987654321"', '"meetingID":"987654322"' },
            { '"event":"meeting.started"', '"event":"meeting.end"' },
        } do
            local tampered, n = body:gsub(change[1], change[2])
            assert.are.equal(1, n, change[1])
            local push, err = mmc.verify_push(tampered, KEY)
            assert.is_nil(push, change[1])
            assert.matches("^wrong signature", err)
        end
        local timestamp = body:match('"timestamp":(%d+)')
        local later = body:gsub('"timestamp":' .. timestamp, '"timestamp":' .. string.format("%d", tonumber(timestamp) + 1), 1)
        assert.matches("^wrong signature", select(2, mmc.verify_push(later, KEY)))
    end)

    it("rejects every truncation of a push, without raising", function()
        local body = signer.push { key = KEY }
        for cut = 0, #body - 1 do
            local ok, push, err = pcall(mmc.verify_push, body:sub(1, cut), KEY)
            assert.is_true(ok, "raised at " .. cut)
            assert.is_nil(push, "accepted a push cut at " .. cut)
            assert.is_string(err)
        end
    end)

    it("rejects an unsigned push, and names each missing member", function()
        for _, name in ipairs { "appID", "timestamp", "nonce", "eventInfo" } do
            local push, err = mmc.verify_push(signer.push { key = KEY, omit = { [name] = true } }, KEY)
            assert.is_nil(push)
            assert.are.equal("the push has no '" .. name .. "'", err)
        end
        local push, err = mmc.verify_push(signer.push { key = KEY, omit = { signature = true } }, KEY)
        assert.is_nil(push)
        assert.are.equal("the push is unsigned: it has no 'signature'", err)
    end)

    it("rejects members of the wrong kind", function()
        local cases = {
            { '"timestamp":(%d+)', '"timestamp":"%1"', "the push's 'timestamp' is not a whole number" },
            { '"timestamp":(%d+)', '"timestamp":%1.5', "the push's 'timestamp' is not a whole number" },
            { '"timestamp":(%d+)', '"timestamp":1e12', "the push's 'timestamp' is not a whole number" },
            { '"timestamp":(%d+)', '"timestamp":-%1', "the push's 'timestamp' is not a whole number" },
            { '"timestamp":(%d+)', '"timestamp":1%1', "the push's 'timestamp' is not Unix milliseconds (13 digits)" },
            { '"timestamp":(%d+)', '"timestamp":1700000000', "the push's 'timestamp' is not Unix milliseconds (13 digits)" },
            { '"timestamp":(%d+)', '"timestamp":0', "the push's 'timestamp' is not Unix milliseconds (13 digits)" },
            { '"appID":"12345678"', '"appID":12345678', "the push's 'appID' is not a string" },
            { '"signature":"%x+"', '"signature":"zz"', "the push's signature is not 64 hex digits" },
            { '"eventInfo":{', '"eventInfo":[{', "the push's 'eventInfo' is not an object" },
        }
        for _, case in ipairs(cases) do
            local body = signer.push { key = KEY }
            local changed = body:gsub(case[1], case[2], 1)
            if case[2] == '"eventInfo":[{' then changed = changed:sub(1, -2) .. "]}" end
            local push, err = mmc.verify_push(changed, KEY)
            assert.is_nil(push, case[2])
            assert.are.equal(case[3], err)
        end
    end)

    it("rejects what is not a JSON object, however hostile, without raising", function()
        local deep = string.rep("[", 100000) .. string.rep("]", 100000)
        local bodies = { "", "null", "[]", '"a push"', "{", "{}", "\0\1\2", deep,
                         '{"eventInfo":' .. string.rep('{"a":', 5000) .. "1" .. string.rep("}", 5000) .. "}",
                         "{\"appID\":\"\xff\xfe\"}", string.rep("x", 1024 * 1024) }
        for _, body in ipairs(bodies) do
            local ok, push, err = pcall(mmc.verify_push, body, KEY)
            assert.is_true(ok)
            assert.is_nil(push)
            assert.is_string(err)
        end
        assert.matches("^the push is not a JSON object", select(2, mmc.verify_push("[]", KEY)))
        assert.matches("too deep", select(2, mmc.verify_push(deep, KEY)))
    end)

    it("survives random damage: never raises, never accepts a changed push", function()
        local body = signer.push { key = KEY }
        math.randomseed(42)
        for _ = 1, 2000 do
            local bytes = { body:byte(1, -1) }
            for _ = 1, math.random(1, 4) do
                bytes[math.random(1, #bytes)] = math.random(0, 255)
            end
            local damaged = string.char((table.unpack or unpack)(bytes))
            local ok, push = pcall(mmc.verify_push, damaged, KEY)
            assert.is_true(ok)
            if damaged ~= body and push ~= nil then
                -- Only changes JSON ignores (in the signature's hex case) may still verify.
                assert.are.equal(body:lower(), damaged:lower())
            end
        end
    end)

    it("refuses a re-framed push: a timestamp digit moved into the nonce, the signature kept", function()
        -- appID .. timestamp .. nonce has no separators, so this is the same signed text
        local body = signer.push { key = KEY, timestamp = 1700000000123, nonce = "n-1" }
        assert.is_table(mmc.verify_push(body, KEY))
        local reframed, n = body:gsub('"timestamp":1700000000123,"nonce":"n%-1"', '"timestamp":170000000012,"nonce":"3n-1"')
        assert.are.equal(1, n)
        local push, err = mmc.verify_push(reframed, KEY)
        assert.is_nil(push)
        assert.are.equal("the push's 'timestamp' is not Unix milliseconds (13 digits)", err)
    end)

    describe("during a key rotation (a list of keys, the current one first)", function()
        it("verifies a push signed with any of them", function()
            local old = signer.push { key = "old-key", nonce = "n-old" }
            local new = signer.push { key = "new-key", nonce = "n-new" }
            local keys = { "new-key", "old-key" }
            assert.are.equal("n-new", mmc.verify_push(new, keys).nonce)
            assert.are.equal("n-old", mmc.verify_push(old, keys, 300).nonce)
            assert.are.equal("n-old", mmc.verify_push(old, { "old-key" }).nonce)
            -- a key dropped from the list no longer verifies
            assert.are.same({ nil, "wrong signature: the push was not signed with this subscriber key, or was changed on the way" },
                { mmc.verify_push(old, { "new-key" }) })
            assert.are.same({ nil, "wrong signature: the push was not signed with any of these subscriber keys, or was changed on the way" },
                { mmc.verify_push(old, { "new-key", "newer-key" }) })
            -- a list stops at its first hole
            assert.is_nil(mmc.verify_push(old, { "new-key", nil, "old-key" }))
        end)
    end)

    describe("mmc.push_event_id", function()
        -- hex(SHA-256(appID .. "\n" .. eventInfo without whitespace between tokens)), by Python
        local function python_event_id(app_id, compact_event_info)
            local pipe = assert(io.popen("env -u LD_PRELOAD python3 -c 'import hashlib, sys; "
                .. "print(hashlib.sha256((sys.argv[1] + chr(10) + sys.argv[2]).encode()).hexdigest())' '"
                .. app_id .. "' '" .. compact_event_info .. "'"))
            local hex = pipe:read("*l")
            pipe:close()
            return hex
        end

        it("is the SHA-256 of the appID and the compact eventInfo, whitespace or not", function()
            local expected = python_event_id("1988692299", '{"event":"meeting.verify","timestamp":1629183619116}')
            assert.are.equal(64, #expected)
            assert.are.equal(expected, mmc.push_event_id(VECTOR_COMPACT))
            assert.are.equal(expected, mmc.push_event_id(VECTOR_PRINTED))
        end)

        it("stays the same when the event is sent again signed afresh (new timestamp, nonce, signature)", function()
            local info = '{"event":"meeting.started","timestamp":1700000000000,"payload":{"meetingInfo":{"meetingID":"981"}}}'
            local first = signer.push { key = KEY, app_id = "sub-1", timestamp = now_ms(), nonce = "first", event_info = info }
            local retry = signer.push { key = KEY, app_id = "sub-1", timestamp = now_ms() + 30000, nonce = "retry",
                                        event_info = (info:gsub(",", ", ")) }
            assert.is_table(mmc.verify_push(first, KEY))
            assert.is_table(mmc.verify_push(retry, KEY))
            assert.are.equal(python_event_id("sub-1", info), mmc.push_event_id(first))
            assert.are.equal(mmc.push_event_id(first), mmc.push_event_id(retry))
            -- another event, or the same one for another subscriber, has another id
            local other = signer.push { key = KEY, app_id = "sub-1", nonce = "first",
                                        event_info = (info:gsub('"981"', '"982"')) }
            local elsewhere = signer.push { key = KEY, app_id = "sub-2", nonce = "first", event_info = info }
            assert.are_not.equal(mmc.push_event_id(first), mmc.push_event_id(other))
            assert.are_not.equal(mmc.push_event_id(first), mmc.push_event_id(elsewhere))
        end)

        it("answers nil and the reason for what is not a push, and raises for a body that is no string", function()
            assert.are.same({ nil, "the push is not a JSON object (another JSON value)" }, { mmc.push_event_id("[]") })
            assert.are.same({ nil, "the push has no string 'appID' and object 'eventInfo'" },
                { mmc.push_event_id('{"appID":"a","eventInfo":[]}') })
            assert.has_error(function() mmc.push_event_id(nil) end,
                "bad argument #1 to 'push_event_id' (body must be a string, got nil)")
        end)
    end)

    describe("with a maximum age", function()
        it("accepts a recent push and rejects an old one, or one from the future", function()
            assert.is_table(mmc.verify_push(signer.push { key = KEY, timestamp = now_ms() - 5000 }, KEY, 60))
            local push, err = mmc.verify_push(signer.push { key = KEY, timestamp = now_ms() - 600 * 1000 }, KEY, 300)
            assert.is_nil(push)
            assert.matches("^too old: the push was signed 6%d%d s ago %(at most 300 s allowed%)$", err)
            push, err = mmc.verify_push(signer.push { key = KEY, timestamp = now_ms() + 3600 * 1000 }, KEY, 300)
            assert.is_nil(push)
            assert.matches("in the future", err)
            -- without one, age is the caller's business (Huawei retries failed pushes for 24 h)
            assert.is_table(mmc.verify_push(signer.push { key = KEY, timestamp = now_ms() - 86400 * 1000 }, KEY))
        end)

        it("checks the signature before the age: a forged old push is 'wrong signature'", function()
            local forged = signer.push { key = "not-the-key", timestamp = now_ms() - 600 * 1000 }
            assert.matches("^wrong signature", select(2, mmc.verify_push(forged, KEY, 300)))
        end)
    end)

    it("raises for wrong argument types, naming the argument", function()
        local body = signer.push { key = KEY }
        assert.has_error(function() mmc.verify_push(nil, KEY) end,
            "bad argument #1 to 'verify_push' (body must be a string, got nil)")
        assert.has_error(function() mmc.verify_push(42, KEY) end,
            "bad argument #1 to 'verify_push' (body must be a string, got number)")
        assert.has_error(function() mmc.verify_push(body) end,
            "bad argument #2 to 'verify_push' (subscriber_key must be a string or a list of strings, got no value)")
        assert.has_error(function() mmc.verify_push(body, 42) end,
            "bad argument #2 to 'verify_push' (subscriber_key must be a string or a list of strings, got number)")
        assert.has_error(function() mmc.verify_push(body, "") end,
            "bad argument #2 to 'verify_push' (subscriber_key must not be empty)")
        assert.has_error(function() mmc.verify_push(body, {}) end,
            "bad argument #2 to 'verify_push' (subscriber_key is an empty list)")
        assert.has_error(function() mmc.verify_push(body, { current = KEY }) end,
            "bad argument #2 to 'verify_push' (subscriber_key is an empty list)")
        assert.has_error(function() mmc.verify_push(body, { KEY, 42 }) end,
            "bad argument #2 to 'verify_push' (subscriber_key[2] must be a non-empty string, got number)")
        assert.has_error(function() mmc.verify_push(body, { KEY, "" }) end,
            "bad argument #2 to 'verify_push' (subscriber_key[2] must be a non-empty string, got an empty string)")
        assert.has_error(function() mmc.verify_push(body, { {} }) end,
            "bad argument #2 to 'verify_push' (subscriber_key[1] must be a non-empty string, got table)")
        for _, bad in ipairs { -1, 0, 0 / 0, "60", {} } do
            assert.has_error(function() mmc.verify_push(body, KEY, bad) end,
                "bad argument #3 to 'verify_push' (max_age_seconds must be a number of seconds above 0)")
        end
    end)
end)

describe("mmc.push_reply", function()
    it("answers meeting.verify with the event and the push's nonce", function()
        local push = assert(mmc.verify_push(signer.push {
            key = KEY, nonce = "n-42",
            event_info = '{"event":"meeting.verify","timestamp":1,"payload":{}}',
        }, KEY))
        local status, body = mmc.push_reply(push)
        assert.are.equal(200, status)
        assert.are.equal('{"event":"meeting.verify","nonce":"n-42"}', body)
    end)

    it("escapes the nonce it echoes", function()
        local status, body = mmc.push_reply { nonce = 'a"b\\c\n€', eventInfo = { event = "meeting.verify" } }
        assert.are.equal(200, status)
        assert.are.same({ event = "meeting.verify", nonce = 'a"b\\c\n€' }, require("cjson").decode(body))
    end)

    it("answers any other event with 200 and an empty body", function()
        for _, event in ipairs { "meeting.started", "meeting.end", "record.finish" } do
            local status, body = mmc.push_reply { nonce = "n", eventInfo = { event = event } }
            assert.are.equal(200, status)
            assert.are.equal("", body)
        end
    end)

    it("raises for what is not a push", function()
        assert.has_error(function() mmc.push_reply("push") end,
            "bad argument #1 to 'push_reply' (table expected, got string)")
        assert.has_error(function() mmc.push_reply { eventInfo = { event = "meeting.verify" } } end,
            "bad argument #1 to 'push_reply' (a meeting.verify push must have a string 'nonce')")
    end)
end)
