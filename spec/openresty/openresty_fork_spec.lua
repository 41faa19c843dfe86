-- A client made and used in init_by_lua lives on in every nginx worker after the fork: the same
-- Lua object, holding the master's kept-alive TLS connection. Each worker must notice that it
-- is not the process that opened it and connect afresh, never writing a byte (a request, a TLS
-- close_notify) on the master's connection, which the master still holds open. The token is
-- kept: workers do not log in again.
local mock = require "mock"
local nginx = require "nginx"

local WORKERS = 4
local ROUNDS = 5

-- The record id worker `i` changes; the mock answers each with its own body (below).
local function worker_hook(i) return "forkworker" .. i end

-- The TCP state (/proc/net/tcp's hex code: "01" established, "08" close-wait: the server
-- closed its side) of the connection from 127.0.0.1:`local_port` to the mock's API port.
local API_PORT = tonumber(mock.endpoint:match(":(%d+)$"))
local function connection_state(local_port)
    local wanted = string.format(":%04X", local_port)
    local api = string.format(":%04X", API_PORT)
    for line in io.lines("/proc/net/tcp") do
        local here, there, state = line:match("^%s*%d+:%s+(%x+:%x+)%s+(%x+:%x+)%s+(%x%x)")
        if here and here:sub(-5) == wanted and there:sub(-5) == api then return state end
    end
    return nil
end

local CONFIG = {
    workers = WORKERS,
    env = { MMC_APP_ID = mock.APP_ID, MMC_APP_KEY = mock.APP_KEY, MMC_ENDPOINT = mock.endpoint,
            MMC_CA_FILE = mock.ca_file, MMC_TEST_WEBHOOK_ID = mock.WEBHOOK_ID },
    http = [[
    lua_shared_dict results 1m;
    init_by_lua_block {
        local mmc = require "mmc"
        -- Two clients made and used by the master, so each holds a kept-alive connection.
        -- (Globals: the workers' Lua VMs are forked copies of this one.)
        inherited_used = mmc.new {}
        inherited_closed = mmc.new {}
        local a = inherited_used:set_webhook_status(os.getenv("MMC_TEST_WEBHOOK_ID"), mmc.LOCK)
        local b = inherited_closed:set_webhook_status(os.getenv("MMC_TEST_WEBHOOK_ID"), mmc.DISABLE)
        ngx.shared.results:set("master", tostring(a) .. " " .. tostring(b))
    }
    init_worker_by_lua_block {
        local mmc = require "mmc"
        local id = ngx.worker.id()
        -- Each worker uses the first client for a record of its own...
        local status, err, body = inherited_used:set_webhook_status("forkworker" .. id, mmc.DISABLE)
        -- ...and closes the second one without using it.
        inherited_closed:close()
        ngx.shared.results:set("worker " .. id, table.concat({ tostring(status), tostring(err),
            type(body) == "table" and tostring(body.returnDesc) or tostring(body) }, " "))
    }]],
    locations = [[
        location = /results {
            content_by_lua_block {
                local results = ngx.shared.results
                for _, key in ipairs(results:get_keys()) do ngx.say(key, "=", results:get(key)) end
            }
        }]],
}

-- What the workers recorded, once all of them have: { ["worker 0"] = "200 nil ...", ... }.
local function wait_for_results(server)
    local deadline = mock.now() + 10
    while true do
        local results, count = {}, 0
        for key, value in server:get("/results").body:gmatch("([^=\n]+)=([^\n]*)") do
            results[key] = value
            if key:match("^worker ") then count = count + 1 end
        end
        if count >= WORKERS then return results end
        assert(mock.now() < deadline, "not every worker recorded its answer\n" .. server:log())
        mock.sleep(0.05)
    end
end

describe("a client inherited by nginx's workers from init_by_lua", function()
    local server
    after_each(function() if server then server:stop() end server = nil end)

    it("connects afresh in each worker: every request reaches the server once, every worker gets its own answer, and the master's connection is left alone", function()
        for round = 1, ROUNDS do
            mock.setup()
            for i = 0, WORKERS - 1 do
                mock.fail { path = mock.CHANGE_STATUS, query = "id=" .. worker_hook(i) .. "&", count = mock.json.null,
                            status = 200, body = '{"returnCode":0,"returnDesc":"answer for worker ' .. i .. '"}' }
            end
            server = nginx.start(CONFIG)
            local results = wait_for_results(server)
            local context = "round " .. round .. "\n" .. server:log()

            assert.are.equal("200 200", results.master, context)
            for i = 0, WORKERS - 1 do
                assert.are.equal("200 nil answer for worker " .. i, results["worker " .. i], context)
            end

            local by_id, master_ports = {}, {}
            local puts = mock.requests_to(mock.CHANGE_STATUS)
            for _, put in ipairs(puts) do
                local id = put.query:match("^id=([^&]+)")
                if id == mock.WEBHOOK_ID then
                    master_ports[#master_ports + 1] = put.client_port
                else
                    by_id[id] = by_id[id] or {}
                    table.insert(by_id[id], put)
                end
            end
            assert.are.equal(2, #master_ports, context)
            local token = puts[1].headers["x-access-token"]
            for i = 0, WORKERS - 1 do
                local requests = by_id[worker_hook(i)] or {}
                assert.are.equal(1, #requests, "worker " .. i .. "'s request reached the server "
                    .. #requests .. " times in " .. context)
                -- Not on either of the master's connections; with the token the master got.
                assert.are_not.equal(master_ports[1], requests[1].client_port, context)
                assert.are_not.equal(master_ports[2], requests[1].client_port, context)
                assert.are.equal(token, requests[1].headers["x-access-token"], context)
            end
            assert.are.equal(WORKERS + 2, #puts, context)
            -- The token was kept across the fork: one login per client, both in the master.
            assert.are.equal(2, #mock.requests_to(mock.APPAUTH), context)
            -- Nothing was written on the master's connections (a close_notify would make the
            -- server close its side): the master still holds both, open.
            for _, port in ipairs(master_ports) do
                assert.are.equal("01", connection_state(port), "the master's connection from port "
                    .. port .. " is no longer established in " .. context)
            end
            assert.are.same({}, server:bad_log_lines(true), context)
            server:stop()
            server = nil
        end
    end)
end)
