-- An event-push receiver for nginx with the Lua module: checks every push Huawei sends with
-- mmc.verify_push, answers it with mmc.push_reply (the meeting.verify handshake included),
-- handles each event once, and refuses anything forged, changed, unsigned or too old.
--
-- Used by examples/receiver/nginx.conf:
--   init_by_lua_block    { require("mmc_receiver").init() }
--   content_by_lua_block { require("mmc_receiver").handle() }
-- The subscriber key is read once, at start, from the file named by MMC_SUBSCRIBER_KEY_FILE
-- (absolute, or relative to nginx's prefix).
local mmc = require "mmc"

local receiver = {}

-- Pushes signed longer ago than this (or this far in the future) are refused. Huawei retries
-- a failed push for 24 hours; a receiver that was down longer than this loses those retries,
-- so choose it with that in mind.
local MAX_AGE = 300

local subscriber_key

function receiver.init()
    local path = os.getenv("MMC_SUBSCRIBER_KEY_FILE")
    assert(path and path ~= "", "MMC_SUBSCRIBER_KEY_FILE must name the file holding the subscriber key")
    if path:sub(1, 1) ~= "/" then
        path = ngx.config.prefix() .. path -- relative to nginx's prefix (-p)
    end
    local file = assert(io.open(path, "rb"))
    subscriber_key = file:read("*a"):gsub("\r?\n$", "")
    file:close()
    assert(subscriber_key ~= "", "the subscriber key file is empty")
end

-- What the gateway does with an event: here, a line in the error log. Replace with a queue,
-- a database, a call to another service...
local function handle_event(push)
    local info = push.eventInfo
    local meeting = type(info.payload) == "table" and type(info.payload.meetingInfo) == "table"
        and info.payload.meetingInfo.meetingID or "-"
    ngx.log(ngx.NOTICE, "event push: ", info.event, " meeting ", tostring(meeting), " nonce ", push.nonce)
end

function receiver.handle()
    if ngx.req.get_method() ~= "POST" then
        return ngx.exit(ngx.HTTP_NOT_ALLOWED)
    end
    ngx.req.read_body()
    -- The exact text is needed (the signature covers it): nginx.conf keeps bodies up to its
    -- client_max_body_size in memory, so a body in a file is one that is too large anyway.
    local body = ngx.req.get_body_data()
    if not body then
        ngx.status = ngx.HTTP_BAD_REQUEST
        return ngx.say("no body")
    end

    local push, reason = mmc.verify_push(body, subscriber_key, MAX_AGE)
    if not push then
        ngx.log(ngx.WARN, "event push refused: ", reason)
        ngx.status = ngx.HTTP_UNAUTHORIZED
        return ngx.say("refused")
    end

    -- A push seen before (same nonce, within the window) is acknowledged, not handled again.
    local first_time = ngx.shared.mmc_push_nonces:add(push.nonce, true, 2 * MAX_AGE)
    if first_time and push.eventInfo.event ~= "meeting.verify" then
        handle_event(push)
    elseif not first_time then
        ngx.log(ngx.NOTICE, "event push seen before, not handled again: nonce ", push.nonce)
    end

    local status, reply = mmc.push_reply(push)
    ngx.status = status
    if reply ~= "" then
        ngx.header["Content-Type"] = "application/json"
    end
    ngx.print(reply)
end

return receiver
