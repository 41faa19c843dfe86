-- Prometheus metrics of mmc's HTTP exchanges, kept in the shared dict mmc_metrics: a counter
-- and a latency histogram, written and exposed the way nginx-lua-prometheus does it.
--
-- mmc's calls run on nginx's thread pool (mmc_meetings.lua), where nginx-lua-prometheus
-- itself cannot run (it needs init_worker_by_lua and timers, which pool threads lack); but
-- ngx.shared is there, so the on_request hook adds to the dict directly, and /metrics (in a
-- worker) prints it.
local metrics = {}

-- Seconds: the histogram's upper bounds (le), as nginx-lua-prometheus's defaults run.
local BUCKETS = { 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10 }

local function label(value)
    return (tostring(value):gsub("[\\\n\"]", { ["\\"] = "\\\\", ["\n"] = "\\n", ['"'] = '\\"' }))
end

local function add(dict, key, value)
    dict:incr(key, value, 0)
end

-- mmc's on_request hook: one call per exchange (authentication and retries included). Its
-- event holds no token, key or query value, so every field may become a label. `path` has no
-- query string; a path with ids in it (".../conferences/<id>") makes one series per id:
-- replace the ids with a placeholder first.
function metrics.on_request(event)
    local dict = ngx.shared.mmc_metrics
    local outcome = event.status and tostring(event.status) or event.error
    local labels = ('method="%s",path="%s"'):format(label(event.method), label(event.path))
    add(dict, ('mmc_http_requests_total{%s,outcome="%s"}'):format(labels, label(outcome)), 1)
    if event.retry_in then
        add(dict, ("mmc_http_retries_total{%s}"):format(labels), 1)
    end
    for _, le in ipairs(BUCKETS) do
        if event.seconds <= le then
            add(dict, ('mmc_http_request_duration_seconds_bucket{%s,le="%s"}'):format(labels, le), 1)
        end
    end
    add(dict, ('mmc_http_request_duration_seconds_bucket{%s,le="+Inf"}'):format(labels), 1)
    add(dict, ("mmc_http_request_duration_seconds_count{%s}"):format(labels), 1)
    add(dict, ("mmc_http_request_duration_seconds_sum{%s}"):format(labels), event.seconds)
end

local HELP = {
    mmc_http_requests_total = "HTTP exchanges with Huawei Cloud Meeting, by outcome "
        .. "(status, or the kind of failure)",
    mmc_http_retries_total = "HTTP exchanges that mmc followed with a retry",
    mmc_http_request_duration_seconds = "Duration of an HTTP exchange with Huawei Cloud Meeting",
}

-- The metrics in Prometheus' text format, for a /metrics location.
function metrics.collect()
    local dict = ngx.shared.mmc_metrics
    local keys = dict:get_keys(0)
    table.sort(keys)
    local lines, described = {}, {}
    for _, key in ipairs(keys) do
        local name = key:match("^[%w_]+")
        local family = name:gsub("_bucket$", ""):gsub("_count$", ""):gsub("_sum$", "")
        if not described[family] then
            described[family] = true
            lines[#lines + 1] = ("# HELP %s %s"):format(family, HELP[family] or family)
            lines[#lines + 1] = ("# TYPE %s %s"):format(family,
                family:match("_total$") and "counter" or "histogram")
        end
        lines[#lines + 1] = ("%s %s"):format(key, dict:get(key) or 0)
    end
    return table.concat(lines, "\n") .. "\n"
end

return metrics
