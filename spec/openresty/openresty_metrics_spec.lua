-- The metrics example, examples/metrics/nginx.conf, run as it is (only its port changes): a
-- meeting search through the thread pool, and Prometheus metrics of every exchange, written
-- by mmc's on_request hook into a shared dict.
local mock = require "mock"
local nginx = require "nginx"
local files = require "files"

local EXAMPLE = "examples/metrics"
local CONFERENCES = "/v1/mmc/management/conferences"

local function start_example()
    local conf, listens = files.read(EXAMPLE .. "/nginx.conf"):gsub("listen 127%.0%.0%.1:8080;", "listen 127.0.0.1:@PORT@;")
    assert.are.equal(1, listens, "the example should listen on 127.0.0.1:8080")
    return nginx.start_conf(conf, {
        MMC_APP_ID = mock.APP_ID, MMC_APP_KEY = mock.APP_KEY,
        MMC_ENDPOINT = mock.endpoint, MMC_CA_FILE = mock.ca_file,
    }, function(prefix)
        assert(os.execute(string.format("mkdir -p '%s/lua' '%s/lib' && ln -s '%s/%s/mmc_meetings.lua' "
            .. "'%s/%s/mmc_metrics.lua' '%s/lua/' && ln -s '%s/mmc.so' '%s/lib/'", prefix, prefix, nginx.root,
            EXAMPLE, nginx.root, EXAMPLE, prefix, nginx.build_dir, prefix)))
    end)
end

-- The value of one sample line of the /metrics page, or nil.
local function sample(page, line_start)
    for line in page:gmatch("[^\n]+") do
        if line:sub(1, #line_start + 1) == line_start .. " " then return tonumber(line:sub(#line_start + 2)) end
    end
end

describe("the metrics example (examples/metrics)", function()
    local server
    before_each(function()
        mock.setup()
        server = start_example()
    end)
    after_each(function()
        mock.clear_faults()
        if server then server:stop() end
        server = nil
    end)

    it("searches meetings and counts every exchange, retries included, with a latency histogram", function()
        local found = server:get("/meetings?search=Weekly")
        assert.are.equal(200, found.status, server:log())
        assert.are.same({ { id = "914083136", subject = "Weekly sync", start = "2030-01-07 02:00" } },
            mock.json.decode(found.body))
        mock.fail { status = 503, count = 1, path = CONFERENCES, body = "{}" }
        assert.are.equal(200, server:get("/meetings?search=Release").status)
        assert.are.equal("[]\n", server:get("/meetings?search=nothing%20like%20it").body)

        local page = server:get("/metrics").body
        local get = 'method="GET",path="' .. CONFERENCES .. '"'
        local auth = 'method="POST",path="/v2/usg/acs/auth/appauth"'
        assert.are.equal(1, sample(page, "mmc_http_requests_total{" .. auth .. ',outcome="200"}'))
        assert.are.equal(3, sample(page, "mmc_http_requests_total{" .. get .. ',outcome="200"}'))
        assert.are.equal(1, sample(page, "mmc_http_requests_total{" .. get .. ',outcome="503"}'))
        assert.are.equal(1, sample(page, "mmc_http_retries_total{" .. get .. "}"))
        assert.are.equal(4, sample(page, "mmc_http_request_duration_seconds_count{" .. get .. "}"))
        assert.are.equal(4, sample(page, "mmc_http_request_duration_seconds_bucket{" .. get .. ',le="+Inf"}'))
        assert.is_true(sample(page, "mmc_http_request_duration_seconds_bucket{" .. get .. ',le="10"}') == 4)
        assert.is_true(sample(page, "mmc_http_request_duration_seconds_sum{" .. get .. "}") > 0)
        assert.matches("# TYPE mmc_http_request_duration_seconds histogram", page, 1, true)
        assert.matches("# TYPE mmc_http_requests_total counter", page, 1, true)
        assert.is_nil(page:find("Release", 1, true)) -- no query value
        mock.assert_no_secret(page)
        assert.are.same({}, server:bad_log_lines(false))
    end)

    it("counts an exchange that got no answer by the kind of failure", function()
        server:stop()
        local conf = files.read(EXAMPLE .. "/nginx.conf"):gsub("listen 127%.0%.0%.1:8080;", "listen 127.0.0.1:@PORT@;")
        server = nginx.start_conf(conf, {
            MMC_APP_ID = mock.APP_ID, MMC_APP_KEY = mock.APP_KEY, MMC_CA_FILE = mock.ca_file,
            MMC_ENDPOINT = "https://127.0.0.1:" .. mock.closed_port(),
        }, function(prefix)
            assert(os.execute(string.format("mkdir -p '%s/lua' '%s/lib' && ln -s '%s/%s/mmc_meetings.lua' "
                .. "'%s/%s/mmc_metrics.lua' '%s/lua/' && ln -s '%s/mmc.so' '%s/lib/'", prefix, prefix, nginx.root,
                EXAMPLE, nginx.root, EXAMPLE, prefix, nginx.build_dir, prefix)))
        end)
        local answer = server:get("/meetings?search=Weekly")
        assert.are.equal(502, answer.status)
        assert.matches("^authentication failed: connection failed", answer.body)
        local page = server:get("/metrics").body
        -- one try and the two retries of the default policy
        assert.are.equal(3, sample(page, 'mmc_http_requests_total{method="POST",path="/v2/usg/acs/auth/appauth",'
            .. 'outcome="connection failed"}'), page)
    end)
end)
