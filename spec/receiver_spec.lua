-- mmc.receiver: every push is checked, its event handed to on_event at most once (however
-- often it is sent, and whether or not each copy is signed afresh), and acknowledged (200)
-- only once on_event has stored it; a failed on_event releases only its own claim;
-- mmc.redis_seen shares "seen" between receivers through a real Redis. Pushes are signed by
-- Python's hmac (spec/support/push_signer).
local mmc = require "mmc"
local signer = require "push_signer"
local receiver = require "mmc.receiver"
local redis_seen = require "mmc.redis_seen"
local redis_server = require "redis_server"
local mock = require "mock"

local KEY = "receiver-spec-key-7d1e"
local now_ms = function() return math.floor(os.time() * 1000) end

-- A receiver whose log lines are collected, and whose on_event records what it is handed
-- (and answers with `answer(push)` when given).
local function make(options)
    local made = { lines = {}, handed = {} }
    options = options or {}
    local answer = options.answer
    options.answer = nil
    options.subscriber_key = options.subscriber_key or KEY
    options.on_event = options.on_event or function(push, body, event_id)
        made.handed[#made.handed + 1] = { push = push, body = body, event_id = event_id }
        if answer then return answer(push) end
        return true
    end
    options.log = function(level, message) made.lines[#made.lines + 1] = level .. ": " .. message end
    made.r = receiver.new(options)
    function made.log() return table.concat(made.lines, "\n") end
    return made
end

local function started(meeting, timestamp, nonce)
    return signer.push { key = KEY, timestamp = timestamp or now_ms(), nonce = nonce or ("n-" .. meeting),
        event_info = '{"event":"meeting.started","timestamp":1,"payload":{"meetingInfo":{"meetingID":"'
            .. meeting .. '"}}}' }
end

-- Whether a coroutine can yield from inside on_event (which the receiver calls through
-- pcall): in Lua 5.2 and later and in LuaJIT (OpenResty's light threads do), not in Lua 5.1.
local function can_yield_across_pcall()
    local co = coroutine.create(function() return pcall(coroutine.yield, "yielded") end)
    local _, value = coroutine.resume(co)
    return value == "yielded"
end

-- Two deliveries of one event that overlap: handler 1 runs longer than in_flight (`expire()`
-- lets the claim run out), delivery 2 claims the event meanwhile, then handler 1 fails.
-- Delivery 2's claim must survive: a third delivery is answered 503 while handler 2 runs, and
-- the event is stored once. `bodies` are the three deliveries' bodies.
local function overlapping_deliveries(seen, expire, bodies, in_flight)
    local stored, started_handlers = {}, 0
    local r = receiver.new { subscriber_key = KEY, seen = seen, in_flight = in_flight or 5, log = function() end,
        on_event = function()
            started_handlers = started_handlers + 1
            local me = started_handlers
            coroutine.yield(me) -- the handler takes its time; the spec goes on meanwhile
            if me == 1 then return nil, "database timed out" end
            stored[#stored + 1] = me
            return true
        end }
    local first = coroutine.wrap(function() return r:handle(bodies[1]) end)
    assert.are.equal(1, first()) -- delivery 1 claimed the event; handler 1 runs
    expire()
    local second = coroutine.wrap(function() return r:handle(bodies[2]) end)
    assert.are.equal(2, second()) -- delivery 2 claimed it; handler 2 runs
    assert.are.same({ 500, "" }, { first() }) -- handler 1 fails
    assert.are.same({ 503, "" }, { r:handle(bodies[3]) }) -- delivery 2's claim is still there
    assert.are.same({ 200, "" }, { second() })
    assert.are.same({ 200, "" }, { r:handle(bodies[3]) }) -- now a duplicate
    assert.are.same({ 2 }, stored)
end

describe("mmc.receiver", function()
    it("hands an event to on_event once, with the push and its exact body, and answers 200", function()
        local m = make()
        local body = started("m1")
        local status, answer = m.r:handle(body)
        assert.are.equal(200, status)
        assert.are.equal("", answer)
        assert.are.equal(1, #m.handed)
        assert.are.equal("m1", m.handed[1].push.eventInfo.payload.meetingInfo.meetingID)
        assert.are.equal(body, m.handed[1].body)
        assert.matches("notice: event push handled: meeting.started %(nonce n%-m1%)", m.log())
    end)

    it("answers a duplicate 200 without handing it on again, whatever its signature's hex case", function()
        local m = make()
        local body = started("m2")
        assert.are.equal(200, (m.r:handle(body)))
        assert.are.equal(200, (m.r:handle(body)))
        local upper = body:gsub('"signature":"(%x+)"', function(hex) return '"signature":"' .. hex:upper() .. '"' end)
        assert.are.equal(200, (m.r:handle(upper)))
        assert.are.equal(1, #m.handed)
        assert.matches("seen before, not handled again: meeting.started", m.log())
    end)

    it("tells events apart by what they carry, not by nonce", function()
        local m = make()
        -- two different events that happen to carry the same nonce are both handled
        local a = signer.push { key = KEY, nonce = "same", event_info = '{"event":"meeting.join","timestamp":1}' }
        local b = signer.push { key = KEY, nonce = "same", event_info = '{"event":"meeting.left","timestamp":1}' }
        assert.are.equal(200, (m.r:handle(a)))
        assert.are.equal(200, (m.r:handle(b)))
        assert.are.equal(2, #m.handed)
    end)

    it("hands an event on once when the sender signs each retry afresh (new timestamp, nonce, signature)", function()
        local m = make()
        local first = started("m-resigned", now_ms() - 90 * 1000, "attempt-1")
        local retry = started("m-resigned", now_ms(), "attempt-2")
        local later = started("m-resigned", now_ms() + 1000, "attempt-3"):gsub(",", ", ") -- and re-formatted
        assert.are_not.equal(first:match('"signature":"(%x+)"'), retry:match('"signature":"(%x+)"'))
        for _, body in ipairs { first, retry, later } do
            assert.are.same({ 200, "" }, { m.r:handle(body) })
        end
        assert.are.equal(1, #m.handed)
        assert.are.equal(first, m.handed[1].body)
        assert.are.equal(mmc.push_event_id(first), m.handed[1].event_id) -- on_event's third argument
        assert.matches("seen before, not handled again: meeting.started %(nonce attempt%-2%)", m.log())
        -- another event, signed with the same nonce as the first, is handed on
        assert.are.equal(200, (m.r:handle(started("m-other", now_ms(), "attempt-1"))))
        assert.are.equal(2, #m.handed)
    end)

    it("verifies with every key of a subscriber_key list (a key rotation), and no other", function()
        local m = make { subscriber_key = { "new-key", KEY } }
        local old = started("m-old") -- signed with KEY, the old key
        local new = signer.push { key = "new-key", nonce = "n-new",
            event_info = '{"event":"meeting.started","timestamp":2,"payload":{}}' }
        assert.are.same({ 200, "" }, { m.r:handle(old) })
        assert.are.same({ 200, "" }, { m.r:handle(new) })
        assert.are.equal(2, #m.handed)
        assert.are.same({ 401, "" }, { m.r:handle(signer.push { key = "another-key" }) })
        assert.matches("refused: wrong signature: the push was not signed with any of these subscriber keys", m.log())
        -- the old key dropped: its pushes are refused
        local dropped = make { subscriber_key = { "new-key" } }
        assert.are.same({ 401, "" }, { dropped.r:handle(started("m-old-2")) })
        -- the list is copied: changing it afterwards changes nothing
        local keys = { "new-key", KEY }
        local copied = make { subscriber_key = keys }
        keys[2] = nil
        assert.are.same({ 200, "" }, { copied.r:handle(started("m-old-3")) })
    end)

    it("refuses a re-framed push (a timestamp digit moved into the nonce, same signature)", function()
        local m = make()
        local body = signer.push { key = KEY, timestamp = now_ms(), nonce = "n-r" }
        assert.are.equal(200, (m.r:handle(body)))
        local reframed = body:gsub('"timestamp":(%d+)(%d),"nonce":"', '"timestamp":%1,"nonce":"%2')
        assert.are_not.equal(body, reframed)
        local status, answer = m.r:handle(reframed)
        assert.are.equal(401, status)
        assert.are.equal("", answer)
        assert.are.equal(1, #m.handed)
        assert.matches("event push refused: the push's 'timestamp' is not Unix milliseconds %(13 digits%)", m.log())
    end)

    it("answers meeting.verify with push_reply's answer and does not hand it on", function()
        local m = make()
        local body = signer.push { key = KEY, nonce = "verify-1",
            event_info = '{"event":"meeting.verify","timestamp":' .. now_ms() .. '}' }
        local status, answer = m.r:handle(body)
        assert.are.equal(200, status)
        assert.are.equal('{"event":"meeting.verify","nonce":"verify-1"}', answer)
        assert.are.same({ mmc.push_reply((mmc.verify_push(body, KEY))) }, { status, answer })
        assert.are.equal(0, #m.handed)
        -- answered again when it comes again (enabling twice is fine)
        assert.are.equal(200, (m.r:handle(body)))
    end)

    it("answers Huawei's documented meeting.verify, as its page prints it, when the window allows its age", function()
        local printed = '{\n\t"appID": "1988692299",\n\t"timestamp": 1629183619116,\n\t"nonce": "85262798",\n'
            .. '\t"signature": "262ccb5f8854f824c41ea5854ba1798bfa850706fbc85b2be9fd7535ed6b8ff3",\n'
            .. '\t"eventInfo": {\n\t\t"event": "meeting.verify",\n\t\t"timestamp": 1629183619116\n\t}\n}'
        local old = make { subscriber_key = "123456", max_age = 1e9 }
        assert.are.same({ 200, '{"event":"meeting.verify","nonce":"85262798"}' }, { old.r:handle(printed) })
        -- with the default window (25 h) a push from 2021 is too old
        local default = make { subscriber_key = "123456" }
        assert.are.equal(401, (default.r:handle(printed)))
        assert.matches("refused: too old", default.log())
    end)

    describe("refuses, logging the reason and sending none", function()
        it("what does not verify, with 401", function()
            local m = make()
            local fresh = started("m3")
            local cases = {
                tampered = (fresh:gsub('"meeting%.started"', '"meeting.end"', 1)),
                unsigned = signer.push { key = KEY, omit = { signature = true } },
                ["another key"] = signer.push { key = "another-key" },
                ["too old"] = signer.push { key = KEY, timestamp = now_ms() - 26 * 3600 * 1000 },
                ["from the future"] = signer.push { key = KEY, timestamp = now_ms() + 26 * 3600 * 1000 },
                ["appID not a string"] = (fresh:gsub('"appID":"(%d+)"', '"appID":%1', 1)),
                ["JSON but no push"] = "{}",
            }
            for what, body in pairs(cases) do
                local status, answer = m.r:handle(body)
                assert.are.equal(401, status, what)
                assert.are.equal("", answer, what)
            end
            assert.are.equal(0, #m.handed)
            local log = m.log()
            for _, reason in ipairs { "wrong signature", "the push is unsigned", "too old", "the push's timestamp is ",
                                      "the push's 'appID' is not a string", "the push has no 'appID'" } do
                assert.truthy(log:find("warn: event push refused: " .. reason, 1, true), reason)
            end
            assert.is_nil(log:find(KEY, 1, true))
        end)

        it("what is not a JSON object (or no body at all), with 400", function()
            local m = make()
            for _, body in ipairs { "", "not json", "[1,2]", '"push"', "{", string.rep("[", 10000) } do
                local status, answer = m.r:handle(body)
                assert.are.equal(400, status, body:sub(1, 20))
                assert.are.equal("", answer)
            end
            assert.are.same({ 400, "" }, { m.r:handle(nil) })
            assert.are.same({ 400, "" }, { m.r:handle(42) })
            assert.are.same({ 400, "" }, { m.r:handle({}) })
            assert.are.equal(0, #m.handed)
        end)

        it("random damage, without ever raising or handing on a changed push", function()
            local m = make()
            local body = started("m4")
            math.randomseed(7)
            for _ = 1, 500 do
                local bytes = { body:byte(1, -1) }
                for _ = 1, math.random(1, 3) do bytes[math.random(1, #bytes)] = math.random(0, 255) end
                local damaged = string.char((table.unpack or unpack)(bytes))
                local ok, status = pcall(m.r.handle, m.r, damaged)
                assert.is_true(ok)
                assert.is_number(status)
            end
            for _, handed in ipairs(m.handed) do
                assert.are.equal(body:lower(), handed.body:lower()) -- only the signature's hex case may change
            end
        end)
    end)

    describe("when on_event does not store the event", function()
        for what, on_failure in pairs {
            ["returns false"] = function() return false, "queue full" end,
            ["returns nil"] = function() return nil end,
            ["raises"] = function() error("database down") end,
        } do
            it(what .. ": answers 500, logs why, and hands on the retry", function()
                local fail = true
                local m = make { answer = function(push) if fail then return on_failure(push) end return true end }
                local body = started("m5")
                assert.are.same({ 500, "" }, { m.r:handle(body) })
                assert.matches("error: event push not handled, answered 500 so that it is sent again: meeting.started", m.log())
                fail = false
                assert.are.same({ 200, "" }, { m.r:handle(body) }) -- Huawei's retry
                assert.are.same({ 200, "" }, { m.r:handle(body) }) -- and then a duplicate
                assert.are.equal(2, #m.handed)
            end)
        end

        it("names the failure in the log", function()
            local m = make { answer = function() return false, "queue full" end }
            m.r:handle(started("m6"))
            assert.matches("on_event returned false: queue full", m.log())
            local r = make { answer = function() error("database down") end }
            r.r:handle(started("m6"))
            assert.matches("on_event raised: .*database down", r.log())
        end)
    end)

    it("answers 503 to the same push arriving while it is being handled, and hands it on once", function()
        local m
        local inner
        m = make { answer = function()
            if not inner then inner = { m.r:handle(m.handed[1].body) } end
            return true
        end }
        assert.are.same({ 200, "" }, { m.r:handle(started("m7")) })
        assert.are.same({ 503, "" }, inner)
        assert.are.equal(1, #m.handed)
        assert.matches("being handled by another call, answered 503", m.log())
    end)

    describe("with its seen store", function()
        it("claims an event for in_flight seconds with a value of its own, then marks it for max_age from its timestamp", function()
            local calls = {}
            local seen = receiver.memory_seen()
            local recording = setmetatable({}, { __index = function(_, method)
                return function(_, key, value, ttl)
                    calls[#calls + 1] = { method, key, value, ttl }
                    return seen[method](seen, key, value, ttl)
                end
            end })
            local m = make { seen = recording, max_age = 26 * 3600, in_flight = 7 }
            local before = os.time()
            local body = started("m8", now_ms() + 100 * 1000) -- signed 100 s ahead of this clock
            assert.are.equal(200, (m.r:handle(body)))
            local took = os.time() - before -- whole seconds that passed (a loaded machine)
            local key = "mmc:event:" .. mmc.push_event_id(body)
            assert.are.same({ "add", key, 7 }, { calls[1][1], calls[1][2], calls[1][4] })
            assert.matches("^in%-flight %x+$", calls[1][3])
            assert.are.same({ "set", key, "handled" }, { calls[2][1], calls[2][2], calls[2][3] })
            -- as long as the push could still verify (26 h after its timestamp), plus a minute
            local window = 26 * 3600
            assert.is_true(calls[2][4] >= window + 99 + 60 - took and calls[2][4] <= window + 101 + 61, tostring(calls[2][4]))
            -- each delivery claims with a value of its own
            m.r:handle(started("m8b"))
            assert.matches("^in%-flight %x+$", calls[3][3])
            assert.are_not.equal(calls[1][3], calls[3][3])
        end)

        it("keeps a handled event marked for at least 25 hours, whatever max_age (Huawei retries for 24 h)", function()
            local ttls, t = {}, 1000
            local seen = receiver.memory_seen { clock = function() return t end }
            local m = make { max_age = 300, seen = {
                add = function(_, ...) return seen:add(...) end,
                get = function(_, ...) return seen:get(...) end,
                set = function(_, key, value, ttl) ttls[#ttls + 1] = ttl return seen:set(key, value, ttl) end,
            } }
            assert.are.equal(200, (m.r:handle(started("m-short"))))
            assert.is_true(ttls[1] >= 25 * 3600 + 60, tostring(ttls[1]))
            -- Huawei's last retries come 24 hours on, signed afresh (a recent timestamp, which
            -- a max_age of 300 s lets in): still a duplicate
            t = t + 24 * 3600 + 30 * 60
            assert.are.same({ 200, "" }, { m.r:handle(started("m-short", now_ms(), "a-day-later")) })
            assert.are.equal(1, #m.handed)
            assert.matches("seen before, not handled again", m.log())
        end)

        describe("never releases another delivery's claim: handler 1 outlives in_flight, delivery 2 claims, handler 1 fails", function()
            if can_yield_across_pcall() then
                it("with memory_seen (a compare-and-delete of its own)", function()
                    local t = 1000
                    local seen = receiver.memory_seen { clock = function() return t end }
                    local body = started("m-overlap")
                    overlapping_deliveries(seen, function() t = t + 6 end, { body, body, body })
                end)

                it("with a store that has only add, set, get and delete (as ngx.shared.DICT)", function()
                    local t = 1000
                    local dict = receiver.memory_seen { clock = function() return t end }
                    local plain = {}
                    for _, method in ipairs { "add", "set", "get", "delete" } do
                        plain[method] = function(_, ...) return dict[method](dict, ...) end
                    end
                    local body = started("m-overlap-dict")
                    overlapping_deliveries(plain, function() t = t + 6 end, { body, body, body })
                end)

                it("when each delivery is signed afresh", function()
                    local t = 1000
                    local seen = receiver.memory_seen { clock = function() return t end }
                    overlapping_deliveries(seen, function() t = t + 6 end,
                        { started("m-overlap-2", nil, "a-1"), started("m-overlap-2", nil, "a-2"), started("m-overlap-2", nil, "a-3") })
                end)
            else
                -- Lua 5.1: on_event cannot yield, so two deliveries never overlap in one
                -- process; the rule is checked on the store itself.
                it("(Lua 5.1: memory_seen's compare-and-delete releases only the value given)", function()
                    assert.are.equal("Lua 5.1", _VERSION)
                    assert.is_nil(rawget(_G, "jit"))
                    local seen = receiver.memory_seen()
                    assert.is_true(seen:add("k", "in-flight 2", 10))
                    assert.is_false(seen:release("k", "in-flight 1"))
                    assert.are.equal("in-flight 2", seen:get("k"))
                    assert.is_true(seen:release("k", "in-flight 2"))
                    assert.is_nil(seen:get("k"))
                end)
            end
        end)

        it("without get or release, deletes a failed claim only while it has time left (nginx's clock)", function()
            local t = 1000
            local real_ngx = rawget(_G, "ngx")
            rawset(_G, "ngx", { now = function() return t end, update_time = function() end })
            local ok, err = pcall(function()
                local dict = receiver.memory_seen { clock = function() return t end }
                local store = {} -- as a store with no get (nor release)
                for _, method in ipairs { "add", "set", "delete" } do
                    store[method] = function(_, ...) return dict[method](dict, ...) end
                end
                local body = started("m-no-get")
                local key = "mmc:event:" .. mmc.push_event_id(body)
                local slow = true
                local m = make { seen = store, in_flight = 5, answer = function()
                    if slow then
                        t = t + 6 -- longer than in_flight: the claim ran out...
                        assert(dict:add(key, "in-flight another delivery's", 5)) -- ...and was taken
                    end
                    return false
                end }
                assert.are.same({ 500, "" }, { m.r:handle(body) })
                assert.are.equal("in-flight another delivery's", dict:get(key)) -- left alone
                -- a handler that fails at once releases its claim, so the retry is handled
                dict:delete(key)
                slow = false
                assert.are.same({ 500, "" }, { m.r:handle(body) })
                assert.is_nil(dict:get(key))
            end)
            rawset(_G, "ngx", real_ngx)
            assert(ok, err)
        end)

        it("answers 500 and hands nothing on when the store fails", function()
            for what, broken in pairs {
                raises = { add = function() error("connection refused") end, set = function() end },
                ["returns an error"] = { add = function() return nil, "timeout" end, set = function() end },
            } do
                local m = make { seen = broken }
                assert.are.same({ 500, "" }, { m.r:handle(started("m9")) }, what)
                assert.are.equal(0, #m.handed, what)
                assert.matches("seen store failed: .*" .. (what == "raises" and "connection refused" or "timeout"), m.log())
            end
        end)

        it("acknowledges a stored event even when marking it fails, and says so", function()
            local m = make { seen = { add = function() return true end, set = function() return nil, "READONLY" end } }
            assert.are.same({ 200, "" }, { m.r:handle(started("m10")) })
            assert.matches("handled, but could not be marked as seen: READONLY", m.log())
        end)

        it("accepts ngx.shared.DICT's answers: add gives false, 'exists' for a key it has", function()
            local dict = { data = {} }
            function dict:add(key, value) if self.data[key] then return false, "exists", false end self.data[key] = value return true, nil, false end
            function dict:set(key, value) self.data[key] = value return true, nil, false end
            function dict:get(key) return self.data[key] end
            function dict:delete(key) self.data[key] = nil end
            local m = make { seen = dict }
            local body = started("m11")
            assert.are.equal(200, (m.r:handle(body)))
            assert.are.equal(200, (m.r:handle(body)))
            assert.are.equal(1, #m.handed)
        end)
    end)

    describe("memory_seen (the default)", function()
        it("forgets a mark when its time is up", function()
            local t = 1000
            local seen = receiver.memory_seen { clock = function() return t end }
            assert.is_true(seen:add("a", "x", 10))
            assert.are.same({ false, "exists" }, { seen:add("a", "y", 10) })
            t = 1010
            assert.is_nil(seen:get("a"))
            assert.is_true(seen:add("a", "y", 10))
        end)

        it("stays within max_entries: expired marks go first, then the oldest", function()
            local t = 0
            local seen = receiver.memory_seen { max_entries = 3, clock = function() return t end }
            seen:add("short", 1, 5)
            seen:add("a", 1, 100)
            seen:add("b", 1, 100)
            t = 6
            seen:add("c", 1, 100) -- "short" has expired: it goes, a and b stay
            assert.are.same({ 1, 1, 1 }, { seen:get("a"), seen:get("b"), seen:get("c") })
            seen:add("d", 1, 100) -- full of live marks: the oldest (a) goes
            assert.is_nil(seen:get("a"))
            assert.are.same({ 1, 1, 1 }, { seen:get("b"), seen:get("c"), seen:get("d") })
            assert.are.equal(3, seen.count)
            for i = 1, 1000 do seen:set("k" .. i, 1, 100) end
            assert.are.equal(3, seen.count)
        end)

        it("does not grow while a handler keeps failing (claimed, released, claimed again)", function()
            local seen = receiver.memory_seen { max_entries = 10 }
            local m = make { seen = seen, answer = function() return false end }
            local body = started("m12")
            for _ = 1, 300 do assert.are.equal(500, (m.r:handle(body))) end
            assert.are.equal(0, seen.count)
            assert.is_true(seen.last - seen.first + 1 <= 2 * 10 + 16, tostring(seen.last - seen.first + 1))
        end)
    end)

    it("raises for wrong options, naming them", function()
        local on_event = function() return true end
        for _, case in ipairs {
            { nil, "bad argument #1 to 'new' (table expected, got nil)" },
            { { on_event = on_event }, "option 'subscriber_key' must be a non-empty string or a list of them" },
            { { subscriber_key = "", on_event = on_event }, "option 'subscriber_key' must be a non-empty string or a list of them" },
            { { subscriber_key = 42, on_event = on_event }, "option 'subscriber_key' must be a non-empty string or a list of them" },
            { { subscriber_key = {}, on_event = on_event }, "option 'subscriber_key' must not be an empty list" },
            { { subscriber_key = { KEY, 42 }, on_event = on_event },
              "option 'subscriber_key' must be a list of non-empty strings: entry 2 is a number" },
            { { subscriber_key = { "" }, on_event = on_event },
              "option 'subscriber_key' must be a list of non-empty strings: entry 1 is empty" },
            { { subscriber_key = KEY }, "option 'on_event' must be a function" },
            { { subscriber_key = KEY, on_event = on_event, max_age = 0 }, "option 'max_age' must be a number of seconds above 0" },
            { { subscriber_key = KEY, on_event = on_event, max_age = "1" }, "option 'max_age' must be a number of seconds above 0" },
            { { subscriber_key = KEY, on_event = on_event, seen = {} }, "option 'seen' must have add(key, value, ttl) and set" },
            { { subscriber_key = KEY, on_event = on_event, log = "x" }, "option 'log' must be a function" },
            { { subscriber_key = KEY, on_event = on_event, maxage = 1 }, "option 'maxage' is not known" },
        } do
            local ok, err = pcall(receiver.new, case[1])
            assert.is_false(ok)
            assert.truthy(tostring(err):find(case[2], 1, true), tostring(err))
            assert.is_nil(tostring(err):find(KEY, 1, true))
        end
    end)

    it("logs to standard error when no log function is given (outside nginx)", function()
        local interpreter = arg and arg[-1] or "lua5.4"
        local script = ([[
            package.path = "lua/?.lua;" .. package.path
            package.cpath = "%s/?.so;" .. package.cpath
            local r = require("mmc.receiver").new { subscriber_key = "k", on_event = function() return true end }
            io.stdout:write(select(1, r:handle("nope")))
        ]]):format(os.getenv("MMC_BUILD_DIR") or "build")
        local pipe = assert(io.popen(mock.child_env() .. interpreter .. " -e '" .. script:gsub("'", "'\\''") .. "' 2>&1"))
        local output = pipe:read("*a")
        pipe:close()
        assert.matches("mmc.receiver %[warn%] event push refused: the push is not a JSON object", output)
        assert.matches("400$", output)
    end)
end)

describe("mmc.redis_seen", function()
    local server, connections
    setup(function()
        server = redis_server.start()
    end)
    teardown(function()
        if server then server:stop() end
    end)
    before_each(function()
        connections = { server:connect(), server:connect() }
        connections[1]:flushall()
    end)

    it("lets two receivers sharing one Redis hand a push sent to both on once", function()
        local handed = 0
        local receivers = {}
        for i = 1, 2 do
            receivers[i] = receiver.new { subscriber_key = KEY, log = function() end,
                seen = redis_seen.new(connections[i], { prefix = "spec:" }),
                on_event = function() handed = handed + 1 return true end }
        end
        local body = started("r1")
        assert.are.equal(200, (receivers[1]:handle(body)))
        assert.are.equal(200, (receivers[2]:handle(body)))
        assert.are.equal(1, handed)
        local key = "spec:mmc:event:" .. mmc.push_event_id(body)
        assert.are.equal("handled", connections[1]:get(key))
        local ttl = connections[1]:ttl(key)
        assert.is_true(ttl > 25 * 3600 and ttl <= 25 * 3600 + 61, tostring(ttl))
    end)

    it("holds a push off the second receiver while the first handles it (503), then acknowledges it", function()
        local inner
        local receivers = {}
        for i = 1, 2 do
            receivers[i] = receiver.new { subscriber_key = KEY, log = function() end,
                seen = redis_seen.new(connections[i]),
                on_event = function(_, body)
                    if i == 1 then inner = { receivers[2]:handle(body) } end
                    return true
                end }
        end
        local body = started("r2")
        assert.are.same({ 200, "" }, { receivers[1]:handle(body) })
        assert.are.same({ 503, "" }, inner)
        assert.are.same({ 200, "" }, { receivers[2]:handle(body) }) -- later: a duplicate
    end)

    it("releases a push whose handler failed, so that a retry on another receiver is handled", function()
        local handled = {}
        local receivers = {}
        for i = 1, 2 do
            receivers[i] = receiver.new { subscriber_key = KEY, log = function() end,
                seen = redis_seen.new(connections[i]),
                on_event = function() if i == 1 then return false end handled[#handled + 1] = i return true end }
        end
        local body = started("r3")
        assert.are.equal(500, (receivers[1]:handle(body)))
        assert.are.equal(200, (receivers[2]:handle(body)))
        assert.are.same({ 2 }, handled)
    end)

    it("never lets a failed handler release another delivery's claim (compare-and-delete in Redis)", function()
        local seen = redis_seen.new(connections[1])
        -- the store's own rule, in every Lua
        assert.is_true(seen:add("claim", "in-flight 2", 10))
        assert.are.same({ false }, { seen:release("claim", "in-flight 1") })
        assert.are.equal("in-flight 2", connections[2]:get("claim"))
        assert.are.same({ true }, { seen:release("claim", "in-flight 2") })
        assert.is_nil(connections[2]:get("claim"))
        assert.are.same({ false }, { seen:release("claim", "in-flight 2") })
        if not can_yield_across_pcall() then return end -- Lua 5.1: deliveries cannot overlap in one process
        -- two deliveries that overlap, the first claim left to expire in Redis (in_flight 1 s)
        local body = started("r-overlap")
        local key = "mmc:event:" .. mmc.push_event_id(body)
        overlapping_deliveries(seen, function()
            local socket = require "socket"
            local deadline = socket.gettime() + 10
            repeat socket.sleep(0.05) until connections[2]:get(key) == nil or socket.gettime() > deadline
            assert.is_nil(connections[2]:get(key))
        end, { body, body, body }, 1)
    end)

    it("answers as ngx.shared.DICT does, and never raises when Redis is gone", function()
        local seen = redis_seen.new(connections[1])
        assert.are.same({ true }, { seen:add("k", "v", 10) })
        assert.are.same({ false, "exists" }, { seen:add("k", "w", 10) })
        assert.are.equal("v", seen:get("k"))
        assert.is_true(seen:set("k", "w", 0.001)) -- a TTL below 1 ms is 1 ms, never "no expiry"
        assert.is_true(seen:delete("k"))
        assert.is_nil(seen:get("k"))
        assert.has_error(function() redis_seen.new({}) end,
            "bad argument #1 to 'new' (a connected Redis client with set, get, del and eval expected)")

        local other = redis_server.start()
        local doomed = redis_seen.new(other:connect())
        other:stop()
        local ok, err = doomed:add("k", "v", 10)
        assert.is_nil(ok)
        assert.is_string(err)
        local r = receiver.new { subscriber_key = KEY, seen = doomed, log = function() end,
                                 on_event = function() error("must not be called") end }
        assert.are.same({ 500, "" }, { r:handle(started("r4")) })
    end)
end)
