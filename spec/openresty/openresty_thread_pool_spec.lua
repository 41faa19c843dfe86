-- mmc on nginx's thread pool (ngx.run_worker_thread): a libcurl call blocks the thread that
-- makes it, so request paths run it in the pool, where each thread has a Lua VM of its own,
-- and the worker's event loop stays free for every other request.
local mock = require "mock"
local nginx = require "nginx"

local THREADS = 8

local function start_server()
    return nginx.start {
        workers = 1,
        env = { MMC_APP_ID = mock.APP_ID, MMC_APP_KEY = mock.APP_KEY, MMC_ENDPOINT = mock.endpoint,
                MMC_CA_FILE = mock.ca_file, MMC_TEST_WEBHOOK_ID = mock.WEBHOOK_ID },
        main = "thread_pool mmc threads=" .. THREADS .. ";",
        http = [[
    lua_shared_dict mmc_tokens 1m;
    init_worker_by_lua_block { require("worker_client").open {} }]],
        locations = [[
        location = /ping {
            content_by_lua_block { ngx.say("pong") }
        }
        # The call on the thread pool: the request's coroutine yields until the thread is done.
        location = /thread {
            content_by_lua_block {
                local ok, status, err = ngx.run_worker_thread("mmc", "thread_calls", "set_status",
                    os.getenv("MMC_TEST_WEBHOOK_ID"), tonumber(ngx.var.arg_status))
                if not ok then
                    ngx.status = 500
                    ngx.say("thread failed: ", status)
                    return
                end
                require("worker_client").answer(status, err)
            }
        }
        # The same call made directly in the request: it blocks the whole worker.
        location = /blocking {
            content_by_lua_block {
                local client = require("worker_client").client
                require("worker_client").answer(client:set_webhook_status(
                    os.getenv("MMC_TEST_WEBHOOK_ID"), tonumber(ngx.var.arg_status)))
            }
        }]],
    }
end

-- Waits until the mock has received `count` change-status requests; returns the last one.
local function wait_for_puts(count)
    local deadline = mock.now() + 5
    while mock.now() < deadline do
        local puts = mock.requests_to(mock.CHANGE_STATUS)
        if #puts >= count then return puts[count] end
        mock.sleep(0.01)
    end
    error("the mock never received change-status request " .. count)
end

describe("mmc on nginx's thread pool", function()
    local server
    before_each(function()
        mock.setup()
        server = start_server()
    end)
    after_each(function() if server then server:stop() end server = nil end)

    it("keeps the worker answering other requests within milliseconds while a slow call runs", function()
        assert.are.equal("200 nil\n", server:get("/thread?status=1").body, server:log()) -- logs in
        mock.delay(2, 1) -- the next API request is answered after 2 s
        local slow = server:send("/thread?status=0")
        local slow_put = wait_for_puts(2) -- in flight: the mock holds it for 2 s from now
        local pings, slowest, last_end, ping_workers = 0, 0, 0, {}
        while mock.now() < slow_put.time + 1.5 do
            local ping = server:get("/ping")
            assert.are.equal("pong\n", ping.body)
            ping_workers[ping.headers["x-worker-pid"]] = true
            pings, slowest, last_end = pings + 1, math.max(slowest, ping.seconds), mock.now()
            mock.sleep(0.02)
        end
        local answer = server:finish(slow)
        print(string.format("\n  thread pool: %d pings while the 2 s call was in flight, slowest %.1f ms; "
            .. "the slow request took %.2f s", pings, slowest * 1000, answer.seconds))
        assert.is_true(pings >= 20, "only " .. pings .. " pings")
        assert.is_true(slowest < 0.1, string.format("a ping took %.3f s", slowest))
        assert.is_true(last_end < slow_put.time + 2) -- every ping was answered before the slow call could be
        assert.are.equal(200, answer.status)
        assert.are.equal("200 nil\n", answer.body, server:log())
        assert.is_true(answer.seconds >= 2, string.format("the slow call took %.3f s", answer.seconds))
        assert.are.equal(0, mock.webhooks()[mock.WEBHOOK_ID])
        -- The worker that waits for the slow call is the one that answered every ping.
        assert.are.same({ [answer.headers["x-worker-pid"]] = true }, ping_workers)
        assert.are.equal(1, #server:workers())
        assert.are.same({}, server:bad_log_lines(true))
    end)

    it("is needed: the same call made directly in a request holds up every request of the worker", function()
        assert.are.equal("200 nil\n", server:get("/blocking?status=1").body, server:log())
        mock.delay(1, 1)
        local slow = server:send("/blocking?status=0")
        wait_for_puts(2)
        local ping = server:get("/ping")
        local answer = server:finish(slow)
        assert.are.equal("200 nil\n", answer.body)
        -- The ping waited for the blocking call: nearly the whole second.
        assert.is_true(ping.seconds > 0.5, string.format("the ping took only %.3f s", ping.seconds))
    end)

    it("runs 8 calls at once on 8 threads, from a cold start with one login for all of them", function()
        mock.delay(0.5, 1 + THREADS) -- every API request (the login, then 8 changes) takes 0.5 s
        local started = mock.now()
        local answers = server:parallel(THREADS, THREADS, function(i) return "/thread?status=" .. (i % 3) end)
        local elapsed = mock.now() - started
        for i, answer in ipairs(answers) do
            assert.are.equal(200, answer.status, server:log())
            assert.are.equal("200 nil\n", answer.body, "call " .. i)
        end
        -- One login (0.5 s) then 8 changes side by side (0.5 s); in turn they would take 4.5 s.
        assert.is_true(elapsed >= 1 and elapsed < 2.5, string.format("8 calls took %.2f s", elapsed))
        assert.are.equal(1, #mock.requests_to(mock.APPAUTH)) -- 8 VMs, one token in the shared dict
        local puts = mock.requests_to(mock.CHANGE_STATUS)
        assert.are.equal(THREADS, #puts)
        for _, put in ipairs(puts) do
            assert.are.equal(200, put.status)
            assert.are.equal(puts[1].headers["x-access-token"], put.headers["x-access-token"])
        end
        assert.are.same({}, server:bad_log_lines(true))
    end)

    it("runs 200 rounds of 8 concurrent calls without a crash or a leak", function()
        local pid
        local function rounds(count)
            for round = 1, count do
                local answers = server:parallel(THREADS, THREADS, function(i) return "/thread?status=" .. ((round + i) % 3) end)
                for i, answer in ipairs(answers) do
                    assert.are.equal("200 nil\n", answer.body, "round " .. round .. ", call " .. i .. "\n" .. server:log())
                    pid = pid or answer.headers["x-worker-pid"]
                    assert.are.equal(pid, answer.headers["x-worker-pid"]) -- the one worker, never respawned
                end
            end
        end
        rounds(20) -- every thread has its VM, client and connection by now
        local warm = nginx.rss_kib(pid)
        rounds(180)
        local after = nginx.rss_kib(pid)
        print(string.format("\n  worker %s RSS: %d KiB after 20 rounds of 8, %d KiB after 200 (%+d KiB)",
            pid, warm, after, after - warm))
        -- 1,440 more calls: a leak of 1 KiB a call would show as 1.4 MiB.
        assert.is_true(after - warm < 1024, string.format("RSS grew from %d to %d KiB", warm, after))
        assert.are.equal(200 * THREADS, #mock.requests_to(mock.CHANGE_STATUS))
        assert.are.equal(1, #mock.requests_to(mock.APPAUTH))
        assert.are.same({ tonumber(pid) }, server:workers())
        assert.are.same({}, server:bad_log_lines(true))
    end)
end)
