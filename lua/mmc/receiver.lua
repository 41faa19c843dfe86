-- mmc.receiver: receives Huawei Cloud Meeting event pushes, so that every push is checked,
-- handled at most once, and never acknowledged before the handler has stored it.
--
--   local receiver = require "mmc.receiver"
--   local r = receiver.new {
--       subscriber_key = key,                  -- required: the key the subscription was set with,
--                                              -- or a list (a rotation): { new_key, old_key }
--       on_event = function(push, body, event_id) ... end, -- required: true once stored
--       max_age = 90000,                       -- optional, seconds; default 25 h
--       seen = ngx.shared.mmc_seen,            -- optional: add/set (and get/delete/release)
--                                              -- as ngx.shared.DICT; default memory_seen()
--       log = function(level, message) end,    -- optional: default ngx.log, else io.stderr
--   }
--   local status, body = r:handle(raw_body)   -- any Lua: no I/O but `seen`, `on_event`, `log`
--   r:serve()                                 -- OpenResty content phase: read, handle, answer
--
-- What a push gets:
--   400  the body is not a JSON object (or there is no body)
--   401  it does not verify: unsigned, tampered, another key, timestamp not 13 digits, older
--        (or further in the future) than max_age...; the reason is logged, never sent
--   200  meeting.verify: mmc.push_reply's answer (on_event is not called for it)
--   200  any other event, handed to on_event once, which returned true: marked seen
--   200  a duplicate (the same event, already handled): not handed on again
--   503  the same event is being handled right now (another worker or host): sent again later
--   500  on_event returned false/nil or raised, or `seen` failed: not marked, sent again later
-- Huawei retries a push that was not answered 200 (after 30 s, three times, then every 30
-- minutes, for 24 h), so 500 and 503 lose nothing. Every answer but 200 for meeting.verify
-- has an empty body.
--
-- Pushes are told apart by their event (mmc.push_event_id: the SHA-256 of appID and the
-- compact eventInfo), not by their envelope: whether Huawei signs a retry afresh (new
-- timestamp, nonce and signature) is not documented, and senders that follow Standard
-- Webhooks or Svix do. A claim holds a random token, and a failed on_event releases only a
-- claim that still holds its own token.
local mmc = require "mmc"

local receiver = {}

receiver.DEFAULT_MAX_AGE = 25 * 3600 -- Huawei retries for 24 h; one more hour for late clocks
receiver.DEFAULT_IN_FLIGHT = 20 -- seconds an event stays claimed while on_event runs (< 30 s, Huawei's first retry)
receiver.DEFAULT_SEEN_ENTRIES = 100000
-- Huawei retries a push for 24 h after the first attempt: a handled event stays marked at
-- least that long, and an hour more, whatever max_age is (a retry signed afresh is recent).
receiver.MIN_SEEN_TIME = 25 * 3600

local VERIFY_EVENT = "meeting.verify"
local KEY_PREFIX = "mmc:event:"
local IN_FLIGHT, HANDLED = "in-flight", "handled"
local CLOCK_MARGIN = 60 -- seconds a mark outlives the window, for clocks that differ a little
-- Without a compare-and-delete (`seen:release`), a claim is released by get and delete: only
-- while it has more than this many seconds left, so that it cannot expire, and be claimed by
-- another delivery, between the two calls.
local RELEASE_MARGIN = 2

local function now()
    local ngx = rawget(_G, "ngx")
    if ngx and ngx.now then return ngx.now() end
    return os.time()
end

-- The time now, not nginx's time cached at the start of this event loop iteration.
local function fresh_now()
    local ngx = rawget(_G, "ngx")
    if ngx and ngx.update_time then ngx.update_time() end
    return now()
end

-- A claim's token: 16 random bytes as hex, from /dev/urandom, opened for each token (no
-- descriptor is kept, for a child process to inherit) and unbuffered (16 bytes read, not a
-- buffer's worth). Without /dev/urandom: the time, the address of a new table, a counter and
-- math.random, unique enough for the few deliveries of one event that can overlap.
local token_count = 0
local function random_token()
    local file = io.open("/dev/urandom", "rb")
    local bytes
    if file then
        file:setvbuf("no")
        bytes = file:read(16)
        file:close()
    end
    if bytes and #bytes == 16 then
        return (bytes:gsub(".", function(c) return string.format("%02x", c:byte()) end))
    end
    token_count = token_count + 1
    return string.format("%s-%s-%d-%d", tostring(fresh_now()), tostring({}):match("0x%x+") or "",
        token_count, math.random(0, 0x7fffffff))
end

---------------------------------------------------------------------------- the default `seen`

local Memory = {}
Memory.__index = Memory

--- A bounded in-process `seen`: good for one process. When it is full, expired marks go
-- first, then the oldest ones (a push whose mark was dropped could then be handled again).
-- options.max_entries (default 100,000), options.clock (seconds; default ngx.now or os.time).
function receiver.memory_seen(options)
    options = options or {}
    local max_entries = options.max_entries or receiver.DEFAULT_SEEN_ENTRIES
    if type(max_entries) ~= "number" or max_entries < 1 or max_entries ~= math.floor(max_entries) then
        error("bad argument #1 to 'memory_seen' (option 'max_entries' must be a whole number above 0)", 2)
    end
    if options.clock ~= nil and type(options.clock) ~= "function" then
        error("bad argument #1 to 'memory_seen' (option 'clock' must be a function)", 2)
    end
    return setmetatable({
        max_entries = max_entries, clock = options.clock or now,
        entries = {}, count = 0,     -- key -> { value =, expires = }
        order = {}, first = 1, last = 0, -- the entries in the order they were written
        swept_at = nil,
    }, Memory)
end

function Memory:live(key)
    local entry = self.entries[key]
    if entry and entry.expires <= self.clock() then
        self.entries[key] = nil
        self.count = self.count - 1
        return nil
    end
    return entry
end

-- Drops expired marks (at most once a second), then the oldest until there is room.
function Memory:make_room()
    if self.count < self.max_entries then return end
    local time = self.clock()
    if self.swept_at ~= time then
        self.swept_at = time
        local order, kept = {}, 0
        for i = self.first, self.last do
            local item = self.order[i]
            local entry = self.entries[item.key]
            if entry == item.entry then
                if entry.expires <= time then
                    self.entries[item.key] = nil
                    self.count = self.count - 1
                else
                    kept = kept + 1
                    order[kept] = item
                end
            end
        end
        self.order, self.first, self.last = order, 1, kept
    end
    while self.count >= self.max_entries and self.first <= self.last do
        local item = self.order[self.first]
        self.order[self.first] = nil
        self.first = self.first + 1
        if self.entries[item.key] == item.entry then
            self.entries[item.key] = nil
            self.count = self.count - 1
        end
    end
end

-- Drops the items of `order` whose mark was rewritten or deleted since.
function Memory:compact()
    local order, kept = {}, 0
    for i = self.first, self.last do
        local item = self.order[i]
        if self.entries[item.key] == item.entry then
            kept = kept + 1
            order[kept] = item
        end
    end
    self.order, self.first, self.last = order, 1, kept
end

function Memory:write(key, value, ttl)
    if not self:live(key) then
        self:make_room()
        self.count = self.count + 1
    end
    local entry = { value = value, expires = self.clock() + ttl }
    self.entries[key] = entry
    self.last = self.last + 1
    self.order[self.last] = { key = key, entry = entry }
    -- (a mark rewritten or deleted leaves its old item behind: never more than twice the marks)
    if self.last - self.first + 1 > 2 * self.max_entries + 16 then self:compact() end
end

--- As ngx.shared.DICT's: true when the key was absent, else false, "exists".
function Memory:add(key, value, ttl)
    if self:live(key) then return false, "exists" end
    self:write(key, value, ttl)
    return true
end

function Memory:set(key, value, ttl)
    self:write(key, value, ttl)
    return true
end

function Memory:get(key)
    local entry = self:live(key)
    return entry and entry.value
end

function Memory:delete(key)
    if self:live(key) then
        self.entries[key] = nil
        self.count = self.count - 1
    end
    return true
end

--- Compare-and-delete: deletes the key only if it holds `value`. true when it did, else false.
function Memory:release(key, value)
    local entry = self:live(key)
    if entry == nil or entry.value ~= value then return false end
    self.entries[key] = nil
    self.count = self.count - 1
    return true
end

---------------------------------------------------------------------------- logging

local function default_log()
    local ngx = rawget(_G, "ngx")
    if ngx and ngx.log then
        local levels = { error = ngx.ERR, warn = ngx.WARN, notice = ngx.NOTICE, info = ngx.INFO }
        return function(level, message) ngx.log(levels[level] or ngx.NOTICE, message) end
    end
    return function(level, message)
        io.stderr:write("mmc.receiver [", level, "] ", message, "\n")
    end
end

-- A push's event and nonce for the log: printable, and short.
local function describe(push)
    local info = push.eventInfo
    local event = type(info) == "table" and type(info.event) == "string" and info.event or "(no event)"
    local nonce = type(push.nonce) == "string" and push.nonce or ""
    local text = event .. " (nonce " .. nonce .. ")"
    if #text > 120 then text = text:sub(1, 117) .. "..." end
    return (text:gsub("[%c\128-\255]", "?"))
end

---------------------------------------------------------------------------- the receiver

local Receiver = {}
Receiver.__index = Receiver

local function option_error(name, what)
    error("bad argument #1 to 'new' (option '" .. name .. "' " .. what .. ")", 3)
end

local function is_object(value)
    local kind = type(value)
    return kind == "table" or kind == "userdata"
end

local KNOWN_OPTIONS = { subscriber_key = true, on_event = true, max_age = true, seen = true,
                        log = true, in_flight = true }

--- A receiver; see the top of this file. Raises on a wrong option, naming it.
function receiver.new(options)
    if type(options) ~= "table" then
        error("bad argument #1 to 'new' (table expected, got " .. type(options) .. ")", 2)
    end
    for name in pairs(options) do
        if not KNOWN_OPTIONS[name] then option_error(tostring(name), "is not known") end
    end
    local key = options.subscriber_key
    if type(key) == "table" then
        local keys = {}
        for i = 1, #key do
            if type(key[i]) ~= "string" or key[i] == "" then
                option_error("subscriber_key", "must be a list of non-empty strings: entry " .. i .. " is "
                    .. (type(key[i]) == "string" and "empty" or ("a " .. type(key[i]))))
            end
            keys[i] = key[i]
        end
        if #keys == 0 then option_error("subscriber_key", "must not be an empty list") end
        key = keys -- a copy: a later change to the caller's list changes nothing here
    elseif type(key) ~= "string" or key == "" then
        option_error("subscriber_key", "must be a non-empty string or a list of them")
    end
    if type(options.on_event) ~= "function" then option_error("on_event", "must be a function") end
    local max_age = options.max_age or receiver.DEFAULT_MAX_AGE
    if type(max_age) ~= "number" or not (max_age > 0 and max_age <= 1e9) then
        option_error("max_age", "must be a number of seconds above 0")
    end
    local in_flight = options.in_flight or receiver.DEFAULT_IN_FLIGHT
    if type(in_flight) ~= "number" or not (in_flight > 0 and in_flight <= 86400) then
        option_error("in_flight", "must be a number of seconds above 0")
    end
    local seen = options.seen
    if seen == nil then
        seen = receiver.memory_seen()
    elseif not is_object(seen) or seen.add == nil or seen.set == nil then
        option_error("seen", "must have add(key, value, ttl) and set(key, value, ttl), as ngx.shared.DICT")
    end
    if options.log ~= nil and type(options.log) ~= "function" then option_error("log", "must be a function") end
    return setmetatable({
        subscriber_key = key, on_event = options.on_event, max_age = max_age,
        in_flight = in_flight, seen = seen, log_function = options.log or default_log(),
    }, Receiver)
end

-- Logging never breaks handling: a log function that raises is ignored.
function Receiver:log(level, message)
    pcall(self.log_function, level, message)
end

-- Calls seen:<method>(...) in protected mode: true and its results, or false and the error.
function Receiver:call_seen(method, ...)
    local fn = self.seen[method]
    if fn == nil then return false, "no method " .. method end
    return pcall(fn, self.seen, ...)
end

-- Claims the event for this call with `value` (unique to it): "claimed", "handled" (a
-- duplicate), "in-flight" (being handled elsewhere right now), or "failed" and the error.
function Receiver:claim(key, value)
    local ok, added, err = self:call_seen("add", key, value, self.in_flight)
    if not ok then return "failed", tostring(added) end
    if added then return "claimed" end
    if err ~= nil and err ~= "exists" then return "failed", tostring(err) end
    if self.seen.get == nil then return HANDLED end
    local read, value = self:call_seen("get", key)
    if read and value == HANDLED then return HANDLED end
    -- in flight, or it was released between the two calls: either way, ask for it again
    return IN_FLIGHT
end

-- Releases this call's claim (`value`, made at `claimed_at`) after a failed on_event, and
-- only that: a claim that expired meanwhile may be another delivery's now. With the store's
-- compare-and-delete when it has one; else get, compare and delete while the claim has
-- more than RELEASE_MARGIN seconds left; else the claim expires by itself.
function Receiver:release(key, value, claimed_at)
    if self.seen.release ~= nil then
        local ok, released, err = self:call_seen("release", key, value)
        if not ok or (released == nil and err ~= nil) then
            self:log("warn", "could not release the claim, it expires by itself: " .. tostring(ok and err or released))
        end
        return
    end
    if self.seen.delete == nil or fresh_now() > claimed_at + self.in_flight - RELEASE_MARGIN then return end
    if self.seen.get ~= nil then
        local ok, current = self:call_seen("get", key)
        if not ok or current ~= value then return end
    end
    self:call_seen("delete", key)
end

-- How long a handled event stays marked: as long as its push could still verify (max_age
-- from its timestamp, which may lie ahead of this clock), at least as long as Huawei retries
-- (MIN_SEEN_TIME: a retry signed afresh verifies all that time), and a little more.
function Receiver:mark_ttl(push)
    local signed_at = tonumber(push.timestamp) or 0
    local ahead = math.max(0, signed_at / 1000 - now())
    return math.ceil(math.max(self.max_age + ahead, receiver.MIN_SEEN_TIME) + CLOCK_MARGIN)
end

function Receiver:hand_on(push, body)
    local event_id = assert(mmc.push_event_id(body)) -- verified, so it has appID and eventInfo
    local key = KEY_PREFIX .. event_id
    local value = IN_FLIGHT .. " " .. random_token()
    local claimed_at = now()
    local state, err = self:claim(key, value)
    if state == "failed" then
        self:log("error", "event push not handled, answered 500 so that it is sent again: seen store failed: " .. err)
        return 500, ""
    elseif state == HANDLED then
        self:log("notice", "event push seen before, not handled again: " .. describe(push))
        return 200, ""
    elseif state == IN_FLIGHT then
        self:log("notice", "event push being handled by another call, answered 503 so that it is sent again: "
            .. describe(push))
        return 503, ""
    end

    local ok, result, detail = pcall(self.on_event, push, body, event_id)
    if not ok or not result then
        local why = not ok and ("on_event raised: " .. tostring(result))
            or ("on_event returned " .. tostring(result) .. (detail ~= nil and (": " .. tostring(detail)) or ""))
        self:release(key, value, claimed_at)
        self:log("error", "event push not handled, answered 500 so that it is sent again: "
            .. describe(push) .. ": " .. why)
        return 500, ""
    end
    local called, marked, mark_err = self:call_seen("set", key, HANDLED, self:mark_ttl(push))
    if not called or not marked then
        -- Stored, so acknowledged; only a replay (or a retry of a lost answer) could come twice.
        self:log("error", "event push handled, but could not be marked as seen: "
            .. tostring(called and mark_err or marked))
    end
    self:log("notice", "event push handled: " .. describe(push))
    return 200, ""
end

function Receiver:handle_checked(body)
    if type(body) ~= "string" or body == "" then
        self:log("warn", "event push refused: no body")
        return 400, ""
    end
    local push, reason = mmc.verify_push(body, self.subscriber_key, self.max_age)
    if not push then
        self:log("warn", "event push refused: " .. reason)
        return reason:find("^the push is not a JSON object") and 400 or 401, ""
    end
    if push.eventInfo.event == VERIFY_EVENT then
        local ok, status, reply = pcall(mmc.push_reply, push)
        if not ok then
            self:log("warn", "event push refused: " .. tostring(status))
            return 400, ""
        end
        self:log("notice", "event push answered: " .. describe(push))
        return status, reply
    end
    return self:hand_on(push, body)
end

--- The status and body to answer a push with (see the top of this file). Never raises.
function Receiver:handle(body)
    local ok, status, answer = pcall(self.handle_checked, self, body)
    if ok then return status, answer end
    self:log("error", "event push not handled, answered 500: " .. tostring(status))
    return 500, ""
end

--- OpenResty (content phase): reads the request body, even one nginx buffered to a file,
-- handles it and answers. Only POST is accepted.
function Receiver:serve()
    local ngx = rawget(_G, "ngx")
    if ngx.req.get_method() ~= "POST" then
        ngx.header["Allow"] = "POST"
        return ngx.exit(ngx.HTTP_NOT_ALLOWED)
    end
    ngx.req.read_body()
    local body = ngx.req.get_body_data()
    if body == nil then
        local path = ngx.req.get_body_file()
        if path then
            local file, err = io.open(path, "rb")
            if file then
                body = file:read("*a")
                file:close()
            else
                self:log("error", "event push: cannot read the buffered body: " .. tostring(err))
            end
        end
    end
    local status, answer = self:handle(body)
    ngx.status = status
    if answer ~= "" then ngx.header["Content-Type"] = "application/json" end
    ngx.header["Content-Length"] = #answer
    ngx.print(answer)
    return ngx.exit(ngx.HTTP_OK)
end

return receiver
