-- Makes many calls on one client, with failures mixed in, for memory checkers:
--
--   spec/support/with-mock valgrind ... lua5.4 spec/support/many_calls.lua 1000
--
-- Every 10th call uses an unknown id (400), every 50th follows a token revocation (401, then
-- re-authentication), every 100th gets a garbage body, every 200th opens and closes a second
-- client that shares the main client's token through a token store (with a lock); every
-- 300th call finds the store raising. Every 7th call also goes through client:request on a
-- client with an on_request hook that raises every other time (a query and a header; every
-- 21st a JSON body the server refuses). All clients are closed or collected before the end.
--
-- It also prints the process's resident memory after the first tenth of the calls (at most
-- 1,000: allocators and caches warmed up) and at the end; with MMC_RSS_LIMIT_KIB set, a
-- growth beyond that many KiB fails the run. Exits non-zero when any result
-- differs from what the server was made to do.
package.path = "spec/support/?.lua;" .. package.path
package.cpath = (os.getenv("MMC_BUILD_DIR") or "build") .. "/?.so;" .. package.cpath
local mock = require "mock"
local mmc = require "mmc"

local calls = tonumber(arg[1]) or 1000
mock.setup()
-- A store with the shape of ngx.shared.DICT, which can be told to fail.
local store = { data = {}, broken = false }
function store:get(key) assert(not self.broken, "store down") return self.data[key] end
function store:set(key, value) assert(not self.broken, "store down") self.data[key] = value return true end
function store:add(key, value)
    assert(not self.broken, "store down")
    if self.data[key] then return false, "exists" end
    self.data[key] = value
    return true
end
function store:delete(key) self.data[key] = nil end
local client = mmc.new(mock.options { token_store = store })
local failures = 0
local CONFERENCES = "/v1/mmc/management/conferences"
local hook_calls = 0
local generic = mmc.new(mock.options { proxy = false, on_request = function()
    hook_calls = hook_calls + 1
    if hook_calls % 2 == 0 then error("hook failed") end
end })

local function expect(wanted, status, err)
    if status ~= wanted then
        failures = failures + 1
        io.stderr:write(("expected %s, got %s (%s)\n"):format(wanted, tostring(status), tostring(err)))
    end
end

local function resident_kib()
    local status = io.open("/proc/self/status")
    local text = status and status:read("*a") or ""
    if status then status:close() end
    return tonumber(text:match("VmRSS:%s*(%d+) kB"))
end
local warm_up = math.min(1000, math.max(1, math.floor(calls / 10)))
local rss_before

for i = 1, calls do
    if i == warm_up + 1 then
        collectgarbage()
        rss_before = resident_kib()
    end
    if i % 200 == 0 then
        local other = mmc.new(mock.options { token_store = store })
        expect(200, other:set_webhook_status(mock.WEBHOOK_ID, i % 3))
        other:close()
    end
    if i % 21 == 0 then
        expect(400, generic:request("POST", CONFERENCES, { body = { subject = "no media type" } }))
    elseif i % 7 == 0 then
        expect(200, generic:request("GET", CONFERENCES,
            { query = { limit = 1, searchKey = "Weekly" }, headers = { ["Accept-Language"] = "en-US" } }))
    end
    store.broken = i % 300 == 0
    if i % 100 == 0 then
        mock.fail { status = 200, body = "\1garbage{", path = mock.CHANGE_STATUS }
        expect(200, client:set_webhook_status(mock.WEBHOOK_ID, i % 3))
    elseif i % 50 == 0 then
        mock.revoke()
        expect(200, client:set_webhook_status(mock.WEBHOOK_ID, i % 3))
    elseif i % 10 == 0 then
        expect(400, client:set_webhook_status("no-such-id", i % 3))
    else
        expect(200, client:set_webhook_status(mock.WEBHOOK_ID, i % 3))
    end
end
collectgarbage()
local rss_after = resident_kib()
mmc.new(mock.options()) -- left for the collector
client:close()
generic:close()
collectgarbage()
print(("%d calls, %d unexpected results, %d authentications"):format(calls, failures, #mock.requests_to(mock.APPAUTH)))
local limit = tonumber(os.getenv("MMC_RSS_LIMIT_KIB") or "")
if rss_before and rss_after then
    print(("resident memory after call %d: %d KiB; after call %d: %d KiB; growth %d KiB%s"):format(
        warm_up, rss_before, calls, rss_after, rss_after - rss_before,
        limit and (" (limit %d KiB)"):format(limit) or ""))
    if limit and rss_after - rss_before > limit then failures = failures + 1 end
end
os.exit(failures == 0 and 0 or 1, true)
