-- mmc._memory(): mmc's own live allocations in this Lua state, counted in the core
-- (src/memory.c). After calls, failures, batches and pushes, and once the clients are closed or
-- collected, the count is back where it started: what bench/soak watches over hours. The same
-- after a download, a body written to a file, a form sent, a list walked with each and a
-- meeting's control handle; and what those hold while they run is on the account too.
local mock = require "mock"
local mmc = require "mmc"
local signer = require "push_signer"

local KEY = "subscriber-key-0123456789"
local URLS = "/v1/mmc/management/record/downloadurls"
local RECORDED = "a8a4d4e0b6c511ee9a0b5f2c1d3e4f50" -- the mock's recorded meeting
local CONFERENCE = "914083136"

local function temp_folder()
    local pipe = assert(io.popen("mktemp -d \"${TMPDIR:-/tmp}/mmc-memory.XXXXXX\""))
    local folder = pipe:read("*l")
    pipe:close()
    return folder
end

-- downloadurls' urls for the recorded meeting, by fileType (each with a new one-time token).
local function recordings(client)
    local status, err, body = client:request("GET", URLS, { query = { confUUID = RECORDED } })
    assert.are.equal(200, status, err)
    local by_type = {}
    for _, entry in ipairs(body.recordUrls[1].urls) do by_type[entry.fileType] = entry end
    return by_type
end

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

    describe("around the calls that stream", function()
        local folder
        before_each(function() folder = temp_folder() end)
        after_each(function() os.execute("rm -rf '" .. folder .. "'") end)

        it("is back to its baseline after downloads to a file and to a function, and a failed one",
           function()
            local before = count()
            local client = mmc.new(mock.options())
            local recorded = recordings(client)
            local idle = count()
            -- while the file is written, its path, the temporary file's name and the call's
            -- copies of the URL and token are on the account
            local during
            local status, err = client:download(recorded.Aux, folder .. "/Aux.mp4", {
                progress = function() during = during or mmc._memory() end,
            })
            assert.are.equal(200, status, err)
            assert.is_true(during.allocations > idle.allocations)
            local chunks = 0
            status, err = client:download(recorded.Sd, function() chunks = chunks + 1 end)
            assert.are.equal(200, status, err)
            assert.is_true(chunks > 1)
            -- the same token again: refused, nothing kept
            status, err = client:download(recorded.Aux, folder .. "/again.mp4")
            assert.is_not.equal(200, status)
            assert.is_string(err)
            recorded = nil
            client:close()
            assert.are.same(before, count())
        end)

        it("is back to its baseline after a body written to a file, a form sent and a failed output",
           function()
            local before = count()
            local client = mmc.new(mock.options({ retries = 0 }))
            assert.are.equal(200, (client:request("GET", mock.CONFERENCES)))
            local idle = count()
            local during
            local status, err, bytes = client:request("GET", mock.CONFERENCES, {
                output = folder .. "/answer.json",
                progress = function() during = during or mmc._memory() end,
            })
            assert.are.equal(200, status, err)
            assert.is_true(bytes > 0)
            assert.is_true(during.allocations > idle.allocations) -- the sink's paths
            local image = folder .. "/logo.png"
            local file = assert(io.open(image, "wb"))
            file:write("\137PNG\r\n\26\n" .. string.rep("x", 5000))
            file:close()
            status, err = client:request("POST", "/v1/usg/sss/materials", {
                form = { file = mmc.file(image, "image/png") },
            })
            assert.are.equal(200, status, err)
            mock.fail { status = 500, count = 1, path = mock.CONFERENCES, body = "{}" }
            status = client:request("GET", mock.CONFERENCES, { output = folder .. "/failed.json" })
            assert.are.equal(500, status)
            assert.has_error(function()
                client:request("GET", mock.CONFERENCES, { output = folder .. "/no/such/folder/x" })
            end)
            client:close()
            assert.are.same(before, count())
        end)
    end)

    it("is back to its baseline after walking a list with each, whole and left half-way", function()
        mock.setup { meetings = 300 }
        local before = count()
        local client = mmc.new(mock.options())
        local items = 0
        for item, err in client:each(mock.CONFERENCES, { limit = 50 }) do
            assert.is_nil(err)
            items = items + (item and 1 or 0)
        end
        assert.are.equal(300, items)
        for _ in client:each(mock.CONFERENCES, { limit = 100 }) do break end
        client:close()
        assert.are.same(before, count())
    end)

    it("counts a meeting's control handle while it lives and is back to its baseline once it is collected",
       function()
        local before = count()
        local client = mmc.new(mock.options())
        local function mute_twice(handle)
            for value = 0, 1 do
                local status, err = handle:request("PUT", mock.MUTE, { body = { isMute = value } })
                assert.are.equal(200, status, err)
            end
        end
        mute_twice(client:conference(CONFERENCE, { password = mock.HOST_PASSWORD }))
        local warm = count() -- the client's buffers have grown to what these calls need
        local handle = client:conference(CONFERENCE, { password = mock.HOST_PASSWORD })
        assert.is_true(count().allocations > warm.allocations) -- the handle, its id and password
        mute_twice(handle)
        handle = nil
        assert.are.same(warm, count())
        client:close()
        assert.are.same(before, count())
    end)
end)
