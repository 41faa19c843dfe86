-- The README's OpenResty example, examples/openresty/nginx.conf, run as it is: only its port
-- changes, and it gets a prefix laid out as its header says (conf/, lua/, lib/).
local mock = require "mock"
local nginx = require "nginx"

local EXAMPLE = "examples/openresty"

local function read(path)
    local file = assert(io.open(path, "rb"))
    local text = file:read("*a")
    file:close()
    return text
end

-- Starts the example with these MMC_* settings (default: the mock's app).
local function start_example(environment)
    local conf, listens = read(EXAMPLE .. "/nginx.conf"):gsub("listen 127%.0%.0%.1:8080;", "listen 127.0.0.1:@PORT@;")
    assert.are.equal(1, listens, "the example should listen on 127.0.0.1:8080")
    return nginx.start_conf(conf, environment or {
        MMC_APP_ID = mock.APP_ID, MMC_APP_KEY = mock.APP_KEY,
        MMC_ENDPOINT = mock.endpoint, MMC_CA_FILE = mock.ca_file,
    }, function(prefix)
        assert(os.execute(string.format("mkdir -p '%s/lua' '%s/lib' && ln -s '%s/%s/mmc_event_push.lua' '%s/lua/' && ln -s '%s/mmc.so' '%s/lib/'",
            prefix, prefix, nginx.root, EXAMPLE, prefix, nginx.build_dir, prefix)))
    end)
end

describe("the OpenResty example (examples/openresty)", function()
    local server
    before_each(function()
        mock.setup()
        server = start_example()
    end)
    after_each(function() if server then server:stop() end server = nil end)

    it("enables, locks and disables a subscription through the thread pool", function()
        local path = "/event-push/%s?id=" .. mock.WEBHOOK_ID
        local enabled = server:post(path:format("enable"))
        assert.are.equal(200, enabled.status, server:log())
        assert.are.equal("enabled\n", enabled.body)
        assert.are.equal(0, mock.webhooks()[mock.WEBHOOK_ID])
        assert.are.equal("locked\n", server:post(path:format("lock")).body)
        assert.are.equal(2, mock.webhooks()[mock.WEBHOOK_ID])
        assert.are.equal("disabled\n", server:post(path:format("disable")).body)
        assert.are.equal(1, mock.webhooks()[mock.WEBHOOK_ID])
        assert.are.equal(1, #mock.requests_to(mock.APPAUTH))
        assert.are.equal(3, #mock.requests_to(mock.CHANGE_STATUS))
        assert.are.same({}, server:bad_log_lines(true))
    end)

    it("answers what went wrong: a refused change, a missing id, a GET", function()
        local refused = server:post("/event-push/enable?id=no-such-record")
        assert.are.equal(502, refused.status)
        assert.matches("^HTTP 4%d%d: ", refused.body)
        assert.matches("request id", refused.body)
        mock.assert_no_secret(refused.body)
        assert.are.equal(400, server:post("/event-push/enable").status)
        assert.are.equal(405, server:get("/event-push/enable?id=" .. mock.WEBHOOK_ID).status)
        assert.are.equal(404, server:post("/event-push/delete?id=" .. mock.WEBHOOK_ID).status)
        assert.are.equal(1, mock.webhooks()[mock.WEBHOOK_ID]) -- untouched
        assert.matches("event push: HTTP 4%d%d: ", server:log()) -- the refusal, logged...
        mock.assert_no_secret(server:log())                   -- ...with no key or token
        assert.are.same({}, server:bad_log_lines(false))
    end)

    it("answers 504 with the reason when Huawei cannot be reached", function()
        server:stop()
        server = start_example {
            MMC_APP_ID = mock.APP_ID, MMC_APP_KEY = mock.APP_KEY,
            MMC_ENDPOINT = "https://127.0.0.1:" .. mock.closed_port(), MMC_CA_FILE = mock.ca_file,
        }
        local answer = server:post("/event-push/enable?id=" .. mock.WEBHOOK_ID)
        assert.are.equal(504, answer.status)
        assert.matches("^no answer: authentication failed: connection failed", answer.body)
        assert.matches("event push: no answer: authentication failed: connection failed", server:log())
        mock.assert_no_secret(server:log())
    end)
end)
