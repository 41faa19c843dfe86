-- Fetches a meeting's recordings to disk once its record.finish push has arrived.
--
-- The receiver (examples/receiver) appends every push it accepts to the Redis stream
-- mmc:events, each entry with the fields event, event_id and body (the push as received,
-- already verified). This worker reads that stream in a consumer group of its own,
-- "recordings", so it sees every entry once whatever else reads the stream. For each
-- record.finish it asks Huawei for the meeting's files (downloadurls: an https URL and a
-- one-time token each) and downloads each one into MMC_RECORDINGS_DIR as
-- <meetingUUID>-<fileType>.mp4 (<meetingUUID>-<part>-<fileType>.mp4 when Huawei split the
-- recording in parts), then acknowledges the entry (XACK). Other events are acknowledged
-- and left alone.
--
-- A meeting whose files could not all be fetched (Huawei has not listed them yet, a network
-- failure, a full disk) stays unacknowledged: the worker tries it again RETRY_AFTER seconds
-- later, with fresh tokens (each token works once), and after a restart (it reads its own
-- pending entries first). A file already at its name is not fetched again: mmc puts a file
-- there only once it is whole, so what is there is complete.
--
--   lua5.4 examples/recordings/worker.lua [--once]
--
-- --once: handle what the stream holds now (pending entries included), then exit; without
-- it, wait for new entries for ever.
-- Environment: MMC_APP_ID, MMC_APP_KEY, MMC_ENDPOINT, MMC_CA_FILE (as every mmc program);
-- MMC_REDIS_HOST, MMC_REDIS_PORT (default 127.0.0.1:6379); MMC_RECORDINGS_DIR (default
-- "recordings", which must exist).
--
-- Redis is reached with redis-lua on LuaSocket (Debian: lua-redis, packaged for Lua 5.1-5.3;
-- Lua 5.4 loads the 5.3 copy, it is plain Lua). A download blocks this process while it
-- runs, which is what a worker is for; in nginx, downloads belong on the thread pool
-- (docs/openresty.md), never in a request handler.
local mmc = require "mmc"
local cjson = require "cjson"

local found, redis = pcall(require, "redis")
if not found then
    package.path = package.path .. ";/usr/share/lua/5.3/?.lua"
    redis = require "redis"
end
for _, command in ipairs { "xgroup", "xreadgroup", "xack" } do redis.define_command(command) end

local STREAM, GROUP = "mmc:events", "recordings"
local CONSUMER = "worker-" .. (os.getenv("HOSTNAME") or "1")
local DOWNLOADURLS = "/v1/mmc/management/record/downloadurls"
local RETRY_AFTER = 60 -- seconds before a meeting that failed is tried again
local once = arg and arg[1] == "--once"
local dir = os.getenv("MMC_RECORDINGS_DIR") or "recordings"

local client = mmc.new() -- MMC_APP_ID, MMC_APP_KEY, MMC_ENDPOINT, MMC_CA_FILE
local store = redis.connect(os.getenv("MMC_REDIS_HOST") or "127.0.0.1",
    tonumber(os.getenv("MMC_REDIS_PORT") or "6379"))

-- The group starts at the stream's beginning ("0"), made with the stream if there is none.
local made, err = pcall(store.xgroup, store, "CREATE", STREAM, GROUP, "0", "MKSTREAM")
if not made and not tostring(err):find("BUSYGROUP", 1, true) then error(err) end

-- Every recordUrls part of the meeting, through downloadurls' pages.
local function recording_parts(meeting_uuid)
    local parts, offset = {}, 0
    repeat
        local status, err, body = client:request("GET", DOWNLOADURLS,
            { query = { confUUID = meeting_uuid, offset = offset, limit = 100 } })
        if status ~= 200 or err then return nil, "downloadurls: " .. tostring(err or status) end
        local page = body.recordUrls or {}
        for _, part in ipairs(page) do parts[#parts + 1] = part end
        offset = offset + #page
    until #page == 0 or offset >= (tonumber(body.count) or 0)
    if #parts == 0 then return nil, "no recordings listed yet" end
    return parts
end

local function exists(path)
    local file = io.open(path, "rb")
    if file then file:close() end
    return file ~= nil
end

-- Downloads every file of the meeting that is not on disk yet. true, or nil and why not.
local function fetch_recordings(meeting_uuid)
    local parts, err = recording_parts(meeting_uuid)
    if not parts then return nil, err end
    for number, part in ipairs(parts) do
        for _, entry in ipairs(part.urls or {}) do
            local name = meeting_uuid .. (#parts > 1 and "-" .. number or "") .. "-" .. entry.fileType .. ".mp4"
            local path = dir .. "/" .. name
            if exists(path) then
                print(name .. ": already there")
            else
                -- sync: the file is on disk before the event is acknowledged
                local status, err, bytes = client:download(entry, path, { sync = true })
                if err then return nil, name .. ": " .. err end
                print(string.format("%s: %.1f MiB written (HTTP %d)", name, bytes / 1048576, status))
            end
        end
    end
    return true
end

-- The meetingUUID of a record.finish entry, or nil for any other event.
local function meeting_of(fields)
    if fields.event ~= "record.finish" then return nil end
    local ok, push = pcall(cjson.decode, fields.body)
    local info = ok and type(push) == "table" and push.eventInfo
    local meeting = type(info) == "table" and type(info.payload) == "table" and info.payload.meetingInfo
    local uuid = type(meeting) == "table" and meeting.meetingUUID
    if type(uuid) == "string" and uuid:match("^[%w_%-]+$") then return uuid end
    return nil
end

local failed_at = {} -- entry id -> when it last failed

-- Handles the entries of one XREADGROUP answer; returns how many it read.
local function handle(answer)
    local count = 0
    for _, stream in ipairs(answer or {}) do
        for _, entry in ipairs(stream[2] or {}) do
            local id, list, fields = entry[1], entry[2] or {}, {}
            for i = 1, #list, 2 do fields[list[i]] = list[i + 1] end
            count = count + 1
            local uuid = meeting_of(fields)
            if uuid == nil then
                store:xack(STREAM, GROUP, id) -- not ours
            elseif os.time() - (failed_at[id] or 0) >= RETRY_AFTER then
                local ok, why = fetch_recordings(uuid)
                if ok then
                    store:xack(STREAM, GROUP, id)
                    failed_at[id] = nil
                    print("record.finish " .. uuid .. ": recordings fetched")
                else
                    failed_at[id] = os.time()
                    print("record.finish " .. uuid .. ": not done, tried again later: " .. why)
                end
            end
        end
    end
    return count
end

-- New entries: with --once, those there now; otherwise wait up to 5 s for some.
local function read_new()
    if once then
        return store:xreadgroup("GROUP", GROUP, CONSUMER, "COUNT", 100, "STREAMS", STREAM, ">")
    end
    return store:xreadgroup("GROUP", GROUP, CONSUMER, "COUNT", 100, "BLOCK", 5000, "STREAMS", STREAM, ">")
end

repeat
    -- This consumer's pending entries first (after a restart, or a failure), then new ones.
    handle(store:xreadgroup("GROUP", GROUP, CONSUMER, "COUNT", 100, "STREAMS", STREAM, "0"))
    handle(read_new())
until once
client:close()
