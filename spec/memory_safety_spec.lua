-- Memory safety: every string mmc takes from Lua stays alive for as long as its C code reads
-- it, even when Lua code runs in between (an __index that computes options, a token store
-- that edits the caller's table) and collects garbage.
--
-- The strings here are built afresh each time (string.rep, concatenation), never held by a
-- variable, so that a full collection frees them as soon as mmc lets go. In a plain build a
-- freed string may still read right by chance: these specs are meant for the ASan build
-- (build-asan, which ctest's busted run there uses), where a read of freed memory aborts.
local mock = require "mock"
local mmc = require "mmc"

-- Long identifiers (more than 40 bytes: Lua 5.4 never interns them), made on demand.
local function app_id() return string.rep("memory-safety-app-", 3) end
local function app_key() return string.rep("k", 24) .. string.rep("9", 24) end

local function setup_app()
    mock.setup {
        apps = { { app_id = app_id(), app_key = app_key(), mode = "enterprise" } },
        webhook_ids = { mock.WEBHOOK_ID },
    }
end

-- Options computed by __index, as a vault lookup or a table of defaults would: every read
-- makes fresh strings after a full collection (which frees the ones read before, unless mmc
-- holds on to them).
local function computed_options(extra)
    local reads = 0
    local computed = {
        app_id = app_id,
        app_key = app_key,
        -- trailing slashes (dropped by the client) and "./" steps make each read a new string
        endpoint = function() return mock.endpoint .. string.rep("/", 41 + reads) end,
        ca_file = function() return string.rep("/", 41 + reads) .. mock.ca_file:gsub("^/+", "") end,
        user_id = function() return nil end,
    }
    for name, value in pairs(extra or {}) do computed[name] = value end
    local options = setmetatable({}, {
        __index = function(_, name)
            reads = reads + 1
            collectgarbage()
            collectgarbage()
            local compute = computed[name]
            if type(compute) == "function" then return compute() end
            return compute
        end,
    })
    return options, function() return reads end
end

describe("memory safety", function()
    before_each(setup_app)

    it("keeps options computed by __index alive until the client has copied them", function()
        local options, reads = computed_options()
        local client = mmc.new(options)
        assert.is_true(reads() >= 4, "the options were not read through __index")
        collectgarbage()
        assert.are.equal(200, (mock.call(client.set_webhook_status, client, mock.WEBHOOK_ID, mmc.LOCK)))
        local login = mock.requests_to(mock.APPAUTH)[1]
        assert.is_true(login.signature_valid) -- signed with the app id and key given
        assert.matches("^mmc%.client %(app_id '" .. app_id():gsub("%p", "%%%0") .. "'", tostring(client))
        client:close()
    end)

    it("keeps them alive for mmc.configure too, and in SP mode (corp_id read twice)", function()
        mock.setup {
            apps = { { app_id = app_id(), app_key = app_key(), mode = "sp", corp_ids = { string.rep("c", 44) } } },
            webhook_ids = { mock.WEBHOOK_ID },
        }
        local options = computed_options { sp = true, corp_id = function() return string.rep("c", 44) end }
        mmc.configure(options)
        assert.are.equal(200, (mock.call(mmc.set_webhook_status, mock.WEBHOOK_ID, mmc.ENABLE)))
        assert.is_true(mock.requests_to(mock.APPAUTH)[1].signature_valid)
        mmc.configure(mock.options()) -- leave the default client as the other specs expect
    end)

    it("keeps a subscription's fields alive while a token store edits the caller's table", function()
        local subscription
        local edits = 0
        local store = {
            get = function()
                -- The store (or anything it calls) empties the table mmc is reading from.
                edits = edits + 1
                for name in pairs(subscription) do subscription[name] = nil end
                collectgarbage()
                collectgarbage()
                return nil
            end,
            set = function() return true end,
        }
        local client = mmc.new { app_id = app_id(), app_key = app_key(), endpoint = mock.endpoint,
                                 ca_file = mock.ca_file, token_store = store }
        subscription = {
            url = "https://127.0.0.1:8443/" .. string.rep("p", 48),
            subscriber_id = "sub-" .. string.rep("i", 44),
            subscriber_key = "key-" .. string.rep("s", 44) .. "-end",
        }
        local status, err = client:set_webhook_config(subscription)
        assert.are.equal(200, status, err)
        assert.is_true(edits >= 1, "the store was not used")
        assert.are.same({}, subscription)
        local stored = mock.webhook_configs()[1]
        assert.are.equal("sub-" .. string.rep("i", 44), stored.subscriberId)
        assert.are.equal("key-" .. string.rep("s", 44) .. "-end", stored.subscriberKey)
        assert.are.equal("https://127.0.0.1:8443/" .. string.rep("p", 48), stored.url)

        client:close()

        -- The same for the filter of get_webhook_config.
        local filter
        store.get = function()
            for name in pairs(filter) do filter[name] = nil end
            collectgarbage()
            collectgarbage()
            return nil
        end
        client = mmc.new { app_id = app_id(), app_key = app_key(), endpoint = mock.endpoint,
                           ca_file = mock.ca_file, token_store = store }
        filter = { corp_id = string.rep("c", 44), sp_id = string.rep("s", 44) }
        local get_status = client:get_webhook_config(filter)
        assert.is_number(get_status)
        local get = mock.requests_to(mock.LINK_CONFIG)[2]
        assert.are.equal("corpId=" .. string.rep("c", 44) .. "&spId=" .. string.rep("s", 44), get.query)
        client:close()
    end)
end)
