-- What spec/openresty/openresty_download_spec.lua runs in nginx's thread pool with
-- ngx.run_worker_thread("mmc", "thread_download", ...). A recording is large and slow: its
-- download belongs on a pool thread, where it blocks only that thread, never the worker.
local mmc = require "mmc"

local thread_download = {}

local client

-- Asks downloadurls for the meeting's files and downloads the one of `file_type` into `path`
-- (a path) or, with path "count", into a function that counts the bytes; `times` times with
-- the same entry (a token works once). Returns the last download's status, err, bytes and how
-- many progress calls there were (plain values: only those cross back).
function thread_download.fetch(conf_uuid, file_type, path, times)
    client = client or mmc.new { token_store = ngx.shared.mmc_tokens }
    local status, err, body = client:request("GET", "/v1/mmc/management/record/downloadurls",
        { query = { confUUID = conf_uuid } })
    if status ~= 200 then return status, err, 0, 0 end
    local entry
    for _, one in ipairs(body.recordUrls[1].urls) do
        if one.fileType == file_type then entry = one end
    end
    local counted, progress_calls = 0, 0
    local output = path
    if path == "count" then output = function(chunk) counted = counted + #chunk end end
    local code, message, bytes
    for _ = 1, tonumber(times) or 1 do
        counted, progress_calls = 0, 0
        code, message, bytes = client:download(entry, output, {
            progress = function() progress_calls = progress_calls + 1 end,
        })
    end
    if path == "count" and code == 200 and bytes ~= counted then
        return code, "the function got " .. counted .. " bytes, download said " .. bytes, bytes, progress_calls
    end
    return code, message, bytes, progress_calls
end

return thread_download
