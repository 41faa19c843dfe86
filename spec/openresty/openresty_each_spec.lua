-- client:each on nginx's thread pool (ngx.run_worker_thread): the walk over every page runs in
-- a pool thread, so the worker's event loop stays free, and the request's coroutine gets the
-- count back when the thread is done.
local mock = require "mock"
local nginx = require "nginx"

local function start_server()
    return nginx.start {
        workers = 1,
        env = { MMC_APP_ID = mock.APP_ID, MMC_APP_KEY = mock.APP_KEY, MMC_ENDPOINT = mock.endpoint,
                MMC_CA_FILE = mock.ca_file },
        main = "thread_pool mmc threads=2;",
        http = [[
    lua_shared_dict mmc_tokens 1m;]],
        locations = [[
        location = /each {
            content_by_lua_block {
                local ok, count, first, last, failure = ngx.run_worker_thread("mmc", "thread_each",
                    "walk", "/v1/mmc/management/conferences", tonumber(ngx.var.arg_limit))
                if not ok then
                    ngx.status = 500
                    ngx.say("thread failed: ", count)
                    return
                end
                ngx.say(count, " ", first, " ", last, " ", failure or "no failure")
            }
        }
        location = /ping {
            content_by_lua_block { ngx.say("pong") }
        }]],
    }
end

describe("client:each on nginx's thread pool", function()
    local server
    before_each(function()
        mock.setup { meetings = 1000 }
        server = start_server()
    end)
    after_each(function()
        mock.clear_faults()
        if server then server:stop() end
        server = nil
    end)

    it("walks 1,000 meetings in ceil(1000 / limit) requests", function()
        local answer = server:get("/each?limit=300")
        assert.are.equal("1000 914083136 920000997 no failure\n", answer.body, server:log())
        assert.are.equal(4, #mock.requests_to(mock.CONFERENCES))
    end)

    it("keeps the worker free while the walk waits, and returns a failure as a value", function()
        mock.delay(1, 1)
        mock.fail { status = 503, count = 10, path = mock.CONFERENCES, query = "offset=500", body = "{}" }
        local slow = server:send("/each?limit=500")
        local ping = server:get("/ping")
        assert.are.equal("pong\n", ping.body)
        assert.is_true(ping.seconds < 0.9, "a ping took " .. ping.seconds .. " s")
        local answer = server:finish(slow)
        assert.matches("^500 914083136 920000497 .*503", answer.body)
    end)
end)
