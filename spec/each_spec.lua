-- client:each(path [, options]) and mmc.each: every item of one of Huawei's lists, a page at a
-- time (offset/limit in the query, {"offset","limit","count","data":[...]} back). The mock
-- has 1,000 meetings per app by default and as many as the setup asks ("meetings").
local mock = require "mock"
local mmc = require "mmc"
local unpack = table.unpack or unpack

local CONFERENCES = mock.CONFERENCES

-- The query of a recorded request, as a table.
local function query_of(request)
    local query = {}
    for name, value in request.query:gmatch("([^&=]+)=([^&]*)") do query[name] = value end
    return query
end

-- Walks the list; returns the items and the failures (each as { position, message }).
local function walk(iterator)
    local items, failures = {}, {}
    for item, err in iterator do
        if item == false then
            mock.assert_no_secret(err)
            failures[#failures + 1] = { #items, err }
        else
            assert.is_nil(err)
            items[#items + 1] = item
        end
    end
    return items, failures
end

local function raised(fn, ...)
    local ok, err = pcall(fn, ...)
    assert.is_false(ok, "did not raise")
    return err
end

describe("client:each", function()
    local client
    before_each(function()
        mock.setup()
        client = mmc.new(mock.options())
    end)
    after_each(function()
        mock.clear_faults()
        client:close()
    end)

    for _, case in ipairs { { n = 1000, limit = nil, pages = 10 }, { n = 1000, limit = 500, pages = 2 },
                            { n = 1000, limit = 300, pages = 4 }, { n = 2500, limit = 7, pages = 358 } } do
        it(("walks %d meetings with limit %s in exactly %d requests, in order"):format(case.n,
            tostring(case.limit), case.pages), function()
            mock.setup { meetings = case.n }
            local items, failures = walk(client:each(CONFERENCES, case.limit and { limit = case.limit }))
            assert.are.same({}, failures)
            assert.are.equal(case.n, #items)
            assert.are.equal("914083136", items[1].conferenceID)
            assert.are.equal("914083137", items[2].conferenceID)
            for i = 3, case.n do assert.are.equal(tostring(920000000 + i - 3), items[i].conferenceID) end
            local requests = mock.requests_to(CONFERENCES)
            assert.are.equal(case.pages, #requests)
            for i, request in ipairs(requests) do
                local query = query_of(request)
                assert.are.equal(tostring((i - 1) * (case.limit or 100)), query.offset)
                assert.are.equal(tostring(case.limit or 100), query.limit)
                assert.are.equal("GET", request.method)
            end
        end)
    end

    it("sends options.query and options.headers with every page, and mmc.each uses the default client", function()
        local items = walk(client:each(CONFERENCES, {
            limit = 1, query = { searchKey = "Meeting 99", queryAll = true }, headers = { ["X-Trace"] = "t-1" },
        }))
        -- "Meeting 99", "Meeting 990".."Meeting 998" (the generated subjects run to "Meeting 998")
        assert.are.equal(10, #items)
        local requests = mock.requests_to(CONFERENCES)
        assert.are.equal(10, #requests)
        for _, request in ipairs(requests) do
            local query = query_of(request)
            assert.are.equal("Meeting%2099", query.searchKey)
            assert.are.equal("true", query.queryAll)
            assert.are.equal("t-1", request.headers["x-trace"])
        end
        mmc.configure(mock.options())
        local count = 0
        for item in mmc.each(CONFERENCES, { limit = 500 }) do
            assert.is_table(item)
            count = count + 1
        end
        assert.are.equal(1000, count)
    end)

    it("copies the query when called: changing the table afterwards changes nothing", function()
        local query = { searchKey = "Weekly" }
        local iterator = client:each(CONFERENCES, { query = query })
        query.searchKey = "nothing matches this"
        local items = walk(iterator)
        assert.are.equal(1, #items)
        assert.are.equal("Weekly sync", items[1].subject)
    end)

    it("an empty list takes one request and yields nothing", function()
        local items, failures = walk(client:each(CONFERENCES, { query = { searchKey = "no such meeting" } }))
        assert.are.same({}, items)
        assert.are.same({}, failures)
        assert.are.equal(1, #mock.requests_to(CONFERENCES))
    end)

    it("a failure mid-walk yields false, err once after the items before it, then ends", function()
        mock.fail { status = 400, count = 1, path = CONFERENCES, query = "offset=200",
                    body = '{"error_code":"MMC.111070001","error_msg":"bad"}' }
        local items, failures = walk(client:each(CONFERENCES, { limit = 100 }))
        assert.are.equal(200, #items)
        assert.are.equal(1, #failures)
        assert.are.equal(200, failures[1][1])
        assert.matches("MMC.111070001", failures[1][2], 1, true)
        assert.are.equal(3, #mock.requests_to(CONFERENCES))
    end)

    it("no answer at all is a failure too", function()
        local dead = mmc.new(mock.options { endpoint = "https://127.0.0.1:" .. mock.closed_port(), retries = 0 })
        local items, failures = walk(dead:each(CONFERENCES))
        assert.are.same({}, items)
        assert.are.equal(1, #failures)
        assert.is_string(failures[1][2])
        dead:close()
    end)

    it("an answer that is not a page (no data array, no whole count) is a failure", function()
        for _, body in ipairs { '{"count":5}', '{"count":5,"data":{"a":1}}', '{"data":[1,2]}',
                                '{"count":"5","data":[1]}', '{"count":1.5,"data":[1]}', '[1,2]' } do
            mock.setup()
            mock.fail { status = 200, count = 1, path = CONFERENCES, body = body }
            local items, failures = walk(client:each(CONFERENCES))
            assert.are.same({}, items, body)
            assert.are.equal(1, #failures, body)
            assert.matches("is not a page", failures[1][2], 1, true)
            assert.are.equal(1, #mock.requests_to(CONFERENCES), body)
        end
    end)

    it("a page shorter than asked moves the offset by what it held; a count that shrinks ends the walk sooner", function()
        mock.fail { status = 200, count = 1, path = CONFERENCES,
                    body = '{"offset":0,"limit":100,"count":1000,"data":[{"n":1},{"n":2},{"n":3}]}' }
        mock.fail { status = 200, count = 1, path = CONFERENCES,
                    body = '{"offset":3,"limit":100,"count":5,"data":[{"n":4},{"n":5}]}' }
        local items, failures = walk(client:each(CONFERENCES))
        assert.are.same({}, failures)
        assert.are.same({ { n = 1 }, { n = 2 }, { n = 3 }, { n = 4 }, { n = 5 } }, items)
        local requests = mock.requests_to(CONFERENCES)
        assert.are.equal(2, #requests)
        assert.are.equal("3", query_of(requests[2]).offset)
    end)

    it("after the end, the iterator keeps returning nil and sends nothing", function()
        local iterator = client:each(CONFERENCES, { query = { searchKey = "Weekly" } })
        assert.is_table(iterator())
        assert.is_nil(iterator())
        assert.is_nil(iterator())
        assert.are.equal(1, #mock.requests_to(CONFERENCES))
    end)

    it("raises on bad input before anything is sent, naming the argument", function()
        local cases = {
            { { 42 }, "bad argument #1 to 'each' %(path must be a string, got number%)" },
            { { "https://elsewhere/v1" }, "bad argument #1 to 'each'" },
            { { CONFERENCES, "x" }, "bad argument #2 to 'each' %(options must be a table, got string%)" },
            { { CONFERENCES, { limit = 0 } }, "options.limit must be a whole number from 1 to 500" },
            { { CONFERENCES, { limit = 501 } }, "options.limit must be a whole number from 1 to 500" },
            { { CONFERENCES, { limit = 1.5 } }, "options.limit must be a whole number from 1 to 500" },
            { { CONFERENCES, { limit = "10" } }, "options.limit must be a whole number from 1 to 500" },
            { { CONFERENCES, { query = { offset = 5 } } }, "options.query.offset: each sends offset and limit itself" },
            { { CONFERENCES, { query = { limit = 5 } } }, "options.query.limit: each sends offset and limit itself" },
            { { CONFERENCES, { query = "a=b" } }, "options.query must be a table, got string" },
            { { CONFERENCES, { query = { a = {} } } }, "options.query.a must be a string, number or boolean, got table" },
            { { CONFERENCES, { query = { a = 0 / 0 } } }, "options.query.a must be a finite number" },
            { { CONFERENCES, { headers = { ["X-Access-Token"] = "x" } } }, "options.headers: " },
            { { CONFERENCES, { headers = { a = 1 } } }, "options.headers must map header names to string values" },
            { { CONFERENCES, { page = 1 } }, "unknown option 'page' %(limit, query, headers%)" },
        }
        for _, case in ipairs(cases) do
            local err = raised(function()
                local iterator = client:each(unpack(case[1])) -- not a tail call: LuaJIT would lose the name
                return iterator
            end)
            assert.matches(case[2], err, nil, false, case[2])
        end
        assert.matches("mmc.client expected", raised(function() return client.each("x") end), 1, true)
        local closed = mmc.new(mock.options())
        closed:close()
        assert.matches("closed", raised(function() return closed:each(CONFERENCES) end), 1, true)
        local keyless = mmc.new { endpoint = mock.endpoint, ca_file = mock.ca_file, app_id = "a" }
        assert.matches("app_key", raised(function() return keyless:each(CONFERENCES) end), 1, true)
        assert.are.same({}, mock.requests())
    end)
end)
