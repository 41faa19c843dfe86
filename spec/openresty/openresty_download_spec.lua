-- client:download in nginx, through ngx.run_worker_thread: the download runs on a pool thread
-- (it blocks that thread for as long as the file takes, never the worker), its output function
-- and progress run there too (pcall'd inside libcurl's callbacks on the thread's own Lua VM),
-- and the worker keeps serving meanwhile.
local mock = require "mock"
local nginx = require "nginx"

local CONF = "a8a4d4e0b6c511ee9a0b5f2c1d3e4f50"

local function sha256(path)
    local pipe = assert(io.popen("sha256sum '" .. path .. "'"))
    local output = pipe:read("*a")
    pipe:close()
    return output:match("^(%x+)")
end

describe("client:download in ngx.run_worker_thread", function()
    local server, dir
    before_each(function()
        mock.setup()
        local pipe = assert(io.popen("mktemp -d \"${TMPDIR:-/tmp}/mmc-nginx-download.XXXXXX\""))
        dir = pipe:read("*l")
        pipe:close()
        os.execute("chmod 777 '" .. dir .. "'") -- whoever the workers run as
        server = nginx.start {
            workers = 1,
            env = { MMC_APP_ID = mock.APP_ID, MMC_APP_KEY = mock.APP_KEY, MMC_ENDPOINT = mock.endpoint,
                    MMC_CA_FILE = mock.ca_file },
            main = "thread_pool mmc threads=2;",
            http = "    lua_shared_dict mmc_tokens 1m;",
            locations = [[
        location = /ping {
            content_by_lua_block { ngx.say("pong") }
        }
        location = /download {
            content_by_lua_block {
                local ok, status, err, bytes, progress = ngx.run_worker_thread("mmc", "thread_download",
                    "fetch", ngx.var.arg_conf, ngx.var.arg_type, ngx.var.arg_path, ngx.var.arg_times)
                if not ok then
                    ngx.status = 500
                    ngx.say("thread failed: ", status)
                    return
                end
                ngx.say(tostring(status), "\t", tostring(err), "\t", tostring(bytes), "\t", tostring(progress))
            }
        }]],
        }
    end)
    after_each(function()
        if server then server:stop() end
        server = nil
        os.execute("rm -rf '" .. dir .. "'")
    end)

    it("writes the file whole from a pool thread while the worker keeps answering", function()
        local files = mock.recording_files().files
        local path = dir .. "/Hd.mp4"
        local slow = server:send("/download?conf=" .. CONF .. "&type=Hd&path=" .. path)
        local ping = server:get("/ping")
        local answer = server:finish(slow)
        assert.are.equal(200, answer.status, server:log())
        local status, err, bytes, progress = answer.body:match("^([^\t]*)\t([^\t]*)\t([^\t]*)\t([^\t]*)\n$")
        assert.are.same({ "200", "nil", tostring(files.Hd.size) }, { status, err, bytes }, answer.body)
        assert.is_true(tonumber(progress) >= 1)
        assert.are.equal(files.Hd.sha256, sha256(path))
        assert.are.equal("pong\n", ping.body)
        assert.is_true(ping.seconds < 0.5, string.format("a ping took %.3f s", ping.seconds))
        assert.are.same({}, server:bad_log_lines(true))
    end)

    it("streams to a function on the pool thread, and says when a token is spent", function()
        local files = mock.recording_files().files
        local answer = server:get("/download?conf=" .. CONF .. "&type=Sd&path=count")
        assert.are.equal(200, answer.status, server:log())
        assert.matches("^200\tnil\t" .. files.Sd.size .. "\t%d+\n$", answer.body)
        answer = server:get("/download?conf=" .. CONF .. "&type=Aux&path=count&times=2")
        assert.are.equal(200, answer.status, server:log())
        assert.matches("^401\tMMC%.111071103: download token already used [^\t]*ask downloadurls again[^\t]*\t0\t0\n$", answer.body)
        mock.assert_no_secret(answer.body)
        assert.are.same({}, server:bad_log_lines(true))
    end)
end)
