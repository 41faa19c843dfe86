-- Many calls at once (client:request_all, mmc.request_all; src/engine.h): results in order,
-- one authentication per batch (also after a 401 on several calls at once), one call's failure
-- never fails another, retries and Retry-After per call, at most `concurrency` calls in
-- flight (the mock counts them), and bad input refused before anything is sent, named by its
-- index.
local mock = require "mock"
local mmc = require "mmc"

local STATUS = mock.CHANGE_STATUS

local function change(id, status)
    return { "PUT", STATUS, { query = { id = id, status = status or 0 } } }
end

-- Checks that no result holds a secret, and returns the results.
local function checked(results)
    for _, r in ipairs(results) do
        if r.err then mock.assert_no_secret(r.err) end
        if r.body then mock.assert_no_secret(require("cjson").encode(r.body)) end
    end
    return results
end

local function ids(n)
    local list = {}
    for i = 1, n do list[i] = mock.WEBHOOK_ID end
    return list
end

describe("request_all", function()
    before_each(function() mock.setup() end)
    after_each(function() mock.clear_faults() end)

    it("returns the results in the order of the requests, with status, body and headers", function()
        local client = mmc.new(mock.options())
        local requests = {}
        for i = 1, 20 do
            requests[i] = i % 5 == 0 and { "GET", mock.LINK_CONFIG } or change(mock.WEBHOOK_ID, i % 2)
        end
        local results = checked(client:request_all(requests, { concurrency = 4 }))
        assert.are.equal(20, #results)
        for i = 1, 20 do
            assert.are.equal(200, results[i].status, results[i].err)
            assert.is_nil(results[i].err)
            assert.are.equal("table", type(results[i].headers))
            assert.matches("json", results[i].headers["content-type"])
            assert.is_string(results[i].headers["x-request-id"])
        end
        -- the mock saw each call's own request: the GETs are those at 5, 10, 15, 20
        local seen = {}
        for _, r in ipairs(mock.requests()) do
            if r.path == STATUS or r.path == mock.LINK_CONFIG then seen[#seen + 1] = r.method end
        end
        assert.are.equal(20, #seen)
        local gets = 0
        for _, m in ipairs(seen) do if m == "GET" then gets = gets + 1 end end
        assert.are.equal(4, gets)
        -- an empty batch is an empty array
        assert.are.same({}, client:request_all({}))
    end)
end)
