-- The LuaJIT build of mmc in nginx's own Lua phases: loaded and calling the local Huawei
-- mock from init_by_lua (the master, before the fork), init_worker_by_lua (each worker) and
-- content_by_lua (a request). Each of these blocks the nginx process while the call runs:
-- fine at start-up, and fine for a request only where nothing else is waiting (see the
-- thread-pool spec for request paths).
local mock = require "mock"
local nginx = require "nginx"

local function mock_env()
    return { MMC_APP_ID = mock.APP_ID, MMC_APP_KEY = mock.APP_KEY, MMC_ENDPOINT = mock.endpoint,
             MMC_CA_FILE = mock.ca_file, MMC_TEST_WEBHOOK_ID = mock.WEBHOOK_ID }
end

local function query_status(request) return tonumber(request.query:match("status=(%d)")) end

describe("mmc in nginx's Lua phases", function()
    local server
    after_each(function() if server then server:stop() end server = nil end)

    it("loads and calls the server from init_by_lua, init_worker_by_lua and content_by_lua", function()
        mock.setup()
        server = nginx.start {
            env = mock_env(),
            http = [[
    lua_shared_dict results 1m;
    lua_shared_dict mmc_tokens 1m;
    init_by_lua_block {
        local mmc = require "mmc"
        local client = mmc.new {}
        local status, err = client:set_webhook_status(os.getenv("MMC_TEST_WEBHOOK_ID"), mmc.LOCK)
        client:close()   -- no connection is carried over the fork into the workers
        ngx.shared.results:set("init_by_lua", tostring(status) .. " " .. tostring(err))
        ngx.shared.results:set("interpreter", jit.version .. ", " .. mmc._VERSION)
    }
    init_worker_by_lua_block {
        local mmc = require "mmc"
        mmc.configure { token_store = ngx.shared.mmc_tokens } -- the worker's default client
        if ngx.worker.id() == 0 then
            local status, err = mmc.set_webhook_status(os.getenv("MMC_TEST_WEBHOOK_ID"), mmc.ENABLE)
            ngx.shared.results:set("init_worker_by_lua", tostring(status) .. " " .. tostring(err))
        end
    }]],
            locations = [[
        location = /phases {
            content_by_lua_block {
                local mmc = require "mmc"
                local status, err = mmc.set_webhook_status(os.getenv("MMC_TEST_WEBHOOK_ID"), mmc.DISABLE)
                local results = ngx.shared.results
                ngx.say("interpreter ", results:get("interpreter"))
                ngx.say("init_by_lua ", results:get("init_by_lua"))
                ngx.say("init_worker_by_lua ", results:get("init_worker_by_lua"))
                ngx.say("content_by_lua ", tostring(status), " ", tostring(err))
            }
        }]],
        }
        local response = server:get("/phases")
        assert.are.equal(200, response.status, server:log())
        local lines = {}
        for name, value in response.body:gmatch("(%S+) ([^\n]*)") do lines[name] = value end
        assert.matches("^LuaJIT 2%.1", lines.interpreter)
        assert.matches("mmc %d+%.%d+%.%d+$", lines.interpreter)
        assert.are.equal("200 nil", lines.init_by_lua, server:log())
        assert.are.equal("200 nil", lines.init_worker_by_lua, server:log())
        assert.are.equal("200 nil", lines.content_by_lua, server:log())

        -- The server saw exactly that: LOCK from the master, ENABLE from the worker's start,
        -- DISABLE from the request, each properly signed and authorised.
        local puts = mock.requests_to(mock.CHANGE_STATUS)
        assert.are.equal(3, #puts)
        assert.are.same({ 2, 0, 1 }, { query_status(puts[1]), query_status(puts[2]), query_status(puts[3]) })
        for _, put in ipairs(puts) do assert.are.equal(200, put.status) end
        local logins = mock.requests_to(mock.APPAUTH)
        assert.are.equal(2, #logins) -- the master's client, then the worker's: the request reused it
        for _, login in ipairs(logins) do assert.is_true(login.signature_valid) end
        assert.are.equal(puts[2].headers["x-access-token"], puts[3].headers["x-access-token"])
        assert.are.equal(puts[2].client_port, puts[3].client_port) -- the worker kept its connection
        assert.are.equal(1, mock.webhooks()[mock.WEBHOOK_ID])
        assert.are.same({}, server:bad_log_lines(true))
    end)

    it("stops nginx at start-up with the reason when mmc cannot be loaded", function()
        -- What a user sees when lua_package_cpath misses the LuaJIT build: a clear error at
        -- start, not at the first request.
        local ok, err = pcall(nginx.start, {
            cpath = "/nonexistent/?.so",
            http = [[
    init_by_lua_block { require "mmc" }]],
        })
        assert.is_false(ok)
        assert.matches("module 'mmc' not found", err)
    end)
end)
