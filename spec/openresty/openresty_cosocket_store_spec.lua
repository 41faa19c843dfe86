-- A token store on cosockets (what lua-resty-redis is built on) in real nginx. mmc calls the
-- store from inside a C call, where LuaJIT cannot yield, and a cosocket yields whenever it
-- waits: such a store can never work. It is refused with an error that names the problem,
-- in a request and in a timer alike, and the client and the request go on normally after it.
local mock = require "mock"
local nginx = require "nginx"

local EXPLANATION = "cosocket stores cannot be called from inside a C call; use ngx.shared in nginx, "
    .. "or mmc.redis_store over LuaSocket in a worker thread"

-- Builds a client whose store's get waits the way `kind` says, makes one call with it, and
-- returns what the call did. Runs in the request's (or the timer's) coroutine.
local STORE_CALL = [[
local function call_with_store(kind)
    local mmc = require "mmc"
    local calls = 0
    local store = {
        get = function()
            calls = calls + 1
            if calls > 1 then return nil end -- only the first call yields
            if kind == "sleep" then
                ngx.sleep(0)
            else -- a cosocket that waits for an answer, as lua-resty-redis does
                local sock = ngx.socket.tcp()
                sock:settimeout(1000)
                assert(sock:connect("127.0.0.1", tonumber(os.getenv("MMC_TEST_CONTROL"):match(":(%d+)"))))
                sock:receive("*l")
                sock:close()
            end
            return nil
        end,
        set = function() return true end,
    }
    local client = mmc.new { token_store = store }
    local ok, err = pcall(client.set_webhook_status, client, os.getenv("MMC_TEST_WEBHOOK_ID"), mmc.LOCK)
    -- the client is not stuck in the refused call: the next one runs (its store no longer yields)
    local status = client:set_webhook_status(os.getenv("MMC_TEST_WEBHOOK_ID"), mmc.ENABLE)
    client:close()
    return (ok and "returned " or "raised ") .. tostring(err), tostring(status)
end
]]

describe("a cosocket token store in nginx", function()
    local server
    after_each(function() if server then server:stop() end server = nil end)

    it("is refused with an error naming the problem, in content_by_lua and in a timer", function()
        mock.setup()
        server = nginx.start {
            env = { MMC_APP_ID = mock.APP_ID, MMC_APP_KEY = mock.APP_KEY, MMC_ENDPOINT = mock.endpoint,
                    MMC_CA_FILE = mock.ca_file, MMC_TEST_WEBHOOK_ID = mock.WEBHOOK_ID },
            http = "    lua_shared_dict results 1m;",
            locations = [[
        location = /content {
            content_by_lua_block {
                ]] .. STORE_CALL .. [[
                local refused, next_status = call_with_store(ngx.var.arg_kind)
                ngx.sleep(0.01) -- the request's own coroutine still yields normally afterwards
                ngx.say(refused)
                ngx.say("next call ", next_status)
            }
        }
        location = /timer {
            content_by_lua_block {
                ]] .. STORE_CALL .. [[
                local results = ngx.shared.results
                results:delete("timer")
                local kind = ngx.var.arg_kind
                assert(ngx.timer.at(0, function()
                    local refused, next_status = call_with_store(kind)
                    results:set("timer", refused .. "\nnext call " .. next_status)
                end))
                for _ = 1, 200 do
                    if results:get("timer") then break end
                    ngx.sleep(0.01)
                end
                ngx.say(results:get("timer"))
            }
        }]],
        }
        for _, path in ipairs { "/content?kind=sleep", "/content?kind=socket", "/timer?kind=sleep", "/timer?kind=socket" } do
            local before = #mock.requests_to(mock.CHANGE_STATUS)
            local response = server:get(path)
            assert.are.equal(200, response.status, path .. "\n" .. server:log())
            local refused, next_call = response.body:match("^(.-)\nnext call (%S+)\n$")
            assert.is_not_nil(refused, path .. ": " .. response.body)
            assert.matches("^raised ", refused, nil, path)
            assert.is_truthy(refused:find(EXPLANATION, 1, true), path .. ": " .. refused)
            assert.are.equal("200", next_call, path)
            -- the refused call sent nothing: the server saw only the next call's request
            local puts = mock.requests_to(mock.CHANGE_STATUS)
            assert.are.equal(before + 1, #puts, path)
            assert.matches("status=0", puts[#puts].query, nil, path)
        end
        assert.are.same({}, server:bad_log_lines(false))
    end)
end)
