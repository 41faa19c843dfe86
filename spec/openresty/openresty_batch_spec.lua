-- Many calls in one ngx.run_worker_thread task: the task runs one request_all batch on its pool
-- thread (a pool of one thread here), so the calls overlap on that thread, with one token,
-- while the worker serves other requests.
local mock = require "mock"
local nginx = require "nginx"

local COUNT = 16

describe("request_all in one ngx.run_worker_thread task", function()
    local server
    before_each(function()
        local ids = {}
        for i = 1, COUNT do ids[i] = string.format("hook%02d", i) end
        mock.setup { webhook_ids = ids }
        server = nginx.start {
            workers = 1,
            env = { MMC_APP_ID = mock.APP_ID, MMC_APP_KEY = mock.APP_KEY, MMC_ENDPOINT = mock.endpoint,
                    MMC_CA_FILE = mock.ca_file },
            main = "thread_pool mmc threads=1;",
            http = "    lua_shared_dict mmc_tokens 1m;",
            locations = [[
        location = /ping {
            content_by_lua_block { ngx.say("pong") }
        }
        location = /batch {
            content_by_lua_block {
                local ids = {}
                for i = 1, tonumber(ngx.var.arg_count) do ids[i] = string.format("hook%02d", i) end
                local ok, lines = ngx.run_worker_thread("mmc", "thread_calls", "set_statuses",
                    tonumber(ngx.var.arg_status), unpack(ids))
                if not ok then
                    ngx.status = 500
                    ngx.say("thread failed: ", lines)
                    return
                end
                ngx.say(lines)
            }
        }]],
        }
    end)
    after_each(function() if server then server:stop() end server = nil end)

    it("runs a whole batch on one pool thread, the calls side by side, one login", function()
        mock.delay(0.5) -- every API request takes 0.5 s
        local started = mock.now()
        local slow = server:send("/batch?status=0&count=" .. COUNT)
        mock.sleep(0.3)
        local ping = server:get("/ping")
        local answer = server:finish(slow)
        local elapsed = mock.now() - started
        mock.clear_faults()
        assert.are.equal(200, answer.status, server:log())
        local expected = {}
        for i = 1, COUNT do expected[i] = string.format("hook%02d 200", i) end
        assert.are.equal(table.concat(expected, "\n") .. "\n", answer.body)
        -- one login (0.5 s), then 16 calls 8 at a time (2 x 0.5 s); one after another: 8.5 s
        assert.is_true(elapsed >= 1.4 and elapsed < 4.5, string.format("the batch took %.2f s", elapsed))
        assert.is_true(ping.seconds < 0.2, string.format("a ping took %.3f s", ping.seconds))
        assert.are.equal(1, #mock.requests_to(mock.APPAUTH))
        local most = mock.in_flight().max_in_flight
        assert.is_true(most >= 4 and most <= 8, "at most 8 in flight, and several: " .. most)
        for i = 1, COUNT do assert.are.equal(0, mock.webhooks()[string.format("hook%02d", i)]) end
        assert.are.same({}, server:bad_log_lines(true))
    end)
end)
