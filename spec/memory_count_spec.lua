-- mmc._memory(): mmc's own live allocations in this Lua state, counted in the core
-- (src/memory.c). After calls, failures, batches and pushes, and once the clients are closed or
-- collected, the count is back where it started: what bench/soak watches over hours.
local mock = require "mock"
local mmc = require "mmc"
local signer = require "push_signer"

local KEY = "subscriber-key-0123456789"

local function count()
    collectgarbage()
    collectgarbage()
    return mmc._memory()
end

describe("mmc._memory", function()
    before_each(function() mock.setup() end)
    after_each(function() mock.clear_faults() end)

    it("returns this Lua state's live allocations and their bytes, whole numbers", function()
        local memory = mmc._memory()
        assert.are.equal("table", type(memory))
        assert.is_true(memory.allocations >= 0 and memory.allocations % 1 == 0)
        assert.is_true(memory.bytes >= memory.allocations and memory.bytes % 1 == 0)
    end)

    it("counts a client while it lives and nothing once it is closed", function()
        local before = count()
        local client = mmc.new(mock.options())
        local living = mmc._memory()
        assert.is_true(living.allocations > before.allocations)
        assert.is_true(living.bytes > before.bytes + 1000) -- the client and its buffers
        client:close()
        assert.are.same(before, count())
    end)

    it("is back to its baseline once a used client is collected, without close", function()
        local before = count()
        do
            local client = mmc.new(mock.options())
            assert.are.equal(200, (client:set_webhook_status(mock.WEBHOOK_ID, mmc.ENABLE)))
        end
        assert.are.same(before, count())
    end)

    it("does not grow over calls, failures and batches once a client is warm", function()
        local before = count()
        local client = mmc.new(mock.options({ retries = 0 }))
        local function round()
            assert.are.equal(200, (client:set_webhook_status(mock.WEBHOOK_ID, mmc.ENABLE)))
            assert.are.equal(200, (client:request("GET", "/v1/mmc/management/conferences")))
            mock.fail { status = 503, count = 1, path = mock.CHANGE_STATUS, body = "{}" }
            assert.are.equal(503, (client:set_webhook_status(mock.WEBHOOK_ID, mmc.DISABLE)))
            local results = client:request_all({
                { "GET", "/v1/mmc/management/conferences" },
                { "PUT", mock.CHANGE_STATUS, { query = { id = mock.WEBHOOK_ID, value = 1 } } },
                { "GET", "/v1/mmc/management/conferences", { headers = { ["X-Spec"] = "1" } } },
            }, { concurrency = 3 })
            assert.are.equal(3, #results)
        end
        round() -- warm: the client's buffers have grown to what these calls need
        local warm = count()
        for _ = 1, 5 do round() end
        assert.are.same(warm, count())
        client:close()
        assert.are.same(before, count())
    end)

    it("is back to its baseline after a failed connection and an out-of-reach endpoint", function()
        local before = count()
        local client = mmc.new(mock.options({
            endpoint = "https://127.0.0.1:" .. mock.closed_port(), retries = 0, timeout = 5,
        }))
        local status, err = client:set_webhook_status(mock.WEBHOOK_ID, mmc.ENABLE)
        assert.is_nil(status)
        assert.is_string(err)
        local results = client:request_all({ { "GET", "/v1/mmc/management/conferences" } })
        assert.is_nil(results[1][1])
        client:close()
        assert.are.same(before, count())
    end)

    it("is back to its baseline after a client the options refuse, and a batch that raises",
       function()
        local before = count()
        assert.has_error(function() mmc.new(mock.options({ ca_file = "/nonexistent/ca.pem" })) end)
        local client = mmc.new(mock.options())
        assert.has_error(function()
            client:request_all({ { "GET", "/v1/mmc/management/conferences" }, { "BREW", "/x" } })
        end)
        client:close()
        assert.are.same(before, count())
    end)

    it("counts push verification's scratch and gives it all back", function()
        local body = signer.push { key = KEY, nonce = "abc123", app_id = "sub-1" }
        local before = count()
        for _ = 1, 20 do
            assert.is_table((mmc.verify_push(body, KEY)))
            assert.is_nil((mmc.verify_push(body, "another-key-0123456789")))
            assert.is_string((mmc.push_event_id(body)))
            assert.are.equal(200, (mmc.push_reply({ nonce = "n-1", eventInfo = { event = "meeting.verify" } })))
        end
        assert.are.same(before, count())
    end)

    it("counts the default client, and gives it back when configure replaces it", function()
        mmc.configure(mock.options())
        assert.are.equal(200, (mmc.set_webhook_status(mock.WEBHOOK_ID, mmc.ENABLE)))
        local one = count()
        mmc.configure(mock.options())
        assert.are.equal(200, (mmc.set_webhook_status(mock.WEBHOOK_ID, mmc.ENABLE)))
        assert.are.same(one, count())
    end)
end)
