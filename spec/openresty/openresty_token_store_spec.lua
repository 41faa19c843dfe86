-- token_store = ngx.shared.DICT: the workers of one nginx share one token. One App ID user
-- holds at most 64 tokens and the 65th silently revokes the oldest, so a fleet where every
-- worker logs in for itself evicts its own tokens. With the shared dict, 4 workers log in
-- once between them, and replace the token once when the server revokes it.
local mock = require "mock"
local nginx = require "nginx"

local WORKERS = 4

local function start_server()
    return nginx.start {
        workers = WORKERS,
        listen_options = " reuseport", -- one listening socket per worker: the kernel spreads connections
        env = { MMC_APP_ID = mock.APP_ID, MMC_APP_KEY = mock.APP_KEY, MMC_ENDPOINT = mock.endpoint,
                MMC_CA_FILE = mock.ca_file, MMC_TEST_WEBHOOK_ID = mock.WEBHOOK_ID },
        http = [[
    lua_shared_dict mmc_tokens 1m;
    init_worker_by_lua_block {
        require("worker_client").open { token_store = ngx.shared.mmc_tokens }
    }]],
        locations = [[
        location = /change {
            content_by_lua_block {
                local client = require("worker_client").client
                require("worker_client").answer(client:set_webhook_status(
                    os.getenv("MMC_TEST_WEBHOOK_ID"), tonumber(ngx.var.arg_status)))
            }
        }
        # What the dict holds (the specs compare it with what the server issued).
        location = /store {
            content_by_lua_block {
                local dict = ngx.shared.mmc_tokens
                for _, key in ipairs(dict:get_keys(0)) do ngx.say(key, " ", dict:get(key)) end
            }
        }]],
    }
end

-- Sends `count` change-status requests, 16 at a time; checks each was answered 200 and
-- returns how many each worker answered.
local function change_status(server, count)
    local per_worker = {}
    local answers = server:parallel(count, 16, function(i) return "/change?status=" .. (i % 3) end)
    for i, answer in ipairs(answers) do
        assert.are.equal("200 nil\n", answer.body, "request " .. i .. "\n" .. server:log())
        local pid = answer.headers["x-worker-pid"]
        per_worker[pid] = (per_worker[pid] or 0) + 1
    end
    return per_worker
end

local function describe_workers(per_worker)
    local parts, count = {}, 0
    for pid, n in pairs(per_worker) do parts[#parts + 1] = pid .. ": " .. n count = count + 1 end
    table.sort(parts)
    return count, table.concat(parts, ", ")
end

-- The tokens the change-status requests carried, in order, and how many were refused.
local function tokens_sent()
    local tokens, refused = {}, 0
    for i, put in ipairs(mock.requests_to(mock.CHANGE_STATUS)) do
        tokens[i] = put.headers["x-access-token"]
        if put.status == 401 then refused = refused + 1 end
    end
    return tokens, refused
end

-- The token the shared dict holds (its only key that is not a lock).
local function stored_token(server)
    local found
    for key, value in server:get("/store").body:gmatch("(%S+) ([^\n]*)") do
        if not key:find(":lock$") then
            assert.is_nil(found, "more than one token in the dict")
            found = value:match("^mmc1 %d+ (%S+)$")
        end
    end
    return found
end

describe("a shared dict as token_store in nginx", function()
    local server
    after_each(function() if server then server:stop() end server = nil end)

    it("lets 4 workers answer 1,000 requests with exactly one login, and replace a revoked token once", function()
        mock.setup()
        server = start_server()
        assert.are.equal(WORKERS, #server:workers())

        local workers, spread = describe_workers(change_status(server, 1000))
        local logins = #mock.requests_to(mock.APPAUTH)
        local tokens, refused = tokens_sent()
        print(string.format("\n  shared dict: 1,000 requests answered by %d workers (%s): %d appauth, %d change-status",
            workers, spread, logins, #tokens))
        assert.are.equal(WORKERS, workers) -- every worker took part, cold, at the same time
        assert.are.equal(1, logins, server:log())
        assert.are.equal(1000, #tokens)
        assert.are.equal(0, refused)
        for i = 2, #tokens do assert.are.equal(tokens[1], tokens[i]) end
        assert.are.equal(tokens[1], stored_token(server))

        -- The server revokes every token. Each worker holds the old one; its next call is
        -- refused (401), and the client then looks in the dict for a token other than the one
        -- refused, under the dict's lock: the first worker there logs in and shares; the
        -- others wait for its token instead of logging in too. So: one new login, and at most
        -- one refused request per worker.
        assert.are.equal(1, mock.revoke().revoked)
        workers, spread = describe_workers(change_status(server, 200))
        local new_logins = #mock.requests_to(mock.APPAUTH) - logins
        local after, refused_after = tokens_sent()
        print(string.format("  after a revocation: 200 requests answered by %d workers (%s): %d new appauth, %d refused with 401",
            workers, spread, new_logins, refused_after))
        assert.are.equal(1, new_logins, server:log())
        assert.is_true(refused_after >= 1 and refused_after <= WORKERS, refused_after .. " requests refused")
        assert.are.equal(1000 + 200 + refused_after, #after)
        local new_token = stored_token(server)
        assert.are_not.equal(tokens[1], new_token) -- the dict holds the replacement...
        local puts = mock.requests_to(mock.CHANGE_STATUS)
        for i = 1001, #puts do -- ...which every accepted request since has carried
            if puts[i].status == 200 then assert.are.equal(new_token, puts[i].headers["x-access-token"]) end
        end
        assert.are.same({}, server:bad_log_lines(true))
    end)
end)
