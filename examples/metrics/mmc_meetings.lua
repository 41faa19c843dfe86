-- Runs on nginx's thread pool, called from nginx.conf as
--   ngx.run_worker_thread("mmc", "mmc_meetings", "search", search_key)
-- One mmc client per task VM (each VM the pool's tasks run in keeps this module), sharing one
-- token through ngx.shared.mmc_tokens, and counting every exchange into ngx.shared.mmc_metrics.
local mmc = require "mmc"
local metrics = require "mmc_metrics"

local mmc_meetings = {}

local client

-- Huawei's "list meetings" API (SearchMeetings): meetings that have not ended yet whose
-- subject, host or id matches `search_key`. Returns the HTTP status, mmc's message and the
-- meetings (id, subject, start) as plain tables, which is what may leave a pool thread.
function mmc_meetings.search(search_key)
    client = client or mmc.new { token_store = ngx.shared.mmc_tokens, on_request = metrics.on_request }
    local status, err, body = client:request("GET", "/v1/mmc/management/conferences", {
        query = { searchKey = search_key, limit = 50 },
    })
    local meetings = {}
    for i, meeting in ipairs(status == 200 and body.data or {}) do
        meetings[i] = { id = meeting.conferenceID, subject = meeting.subject, start = meeting.startTime }
    end
    return status, err, meetings
end

return mmc_meetings
