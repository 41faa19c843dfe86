-- JSON numbers in what mmc decodes: a whole number is a Lua integer where the Lua has them
-- (5.3, 5.4), so a role of 1 prints 1, not 1.0; a fraction, and a number too large for a double
-- to hold every integer (beyond 2^53), stays a float. Lua 5.1, 5.2 and LuaJIT have only
-- floats, which print 1 already: the same checks hold there, unchanged. Every decoded result
-- is covered: an answer's body (client:request, auth, the error body), get_webhook_config and
-- mmc.verify_push (and so the receiver).
local mock = require "mock"
local mmc = require "mmc"

local HAS_INTEGERS = math.type ~= nil

-- `value` is the whole number `expected`: an integer where the Lua has them, and printed as
-- one (everywhere up to 14 digits, where Lua 5.1's "%.14g" prints every float).
local function assert_whole(expected, value, what)
    assert.are.equal(expected, value, what)
    if HAS_INTEGERS or math.abs(expected) < 1e14 then
        assert.are.equal(("%d"):format(expected), tostring(value), what)
    end
    if HAS_INTEGERS then assert.are.equal("integer", math.type(value), what) end
end

local function assert_float(expected, value, what)
    assert.are.equal(expected, value, what)
    if HAS_INTEGERS then assert.are.equal("float", math.type(value), what) end
end

describe("JSON numbers mmc decodes", function()
    before_each(function() mock.setup() end)

    it("are integers when whole, at every depth of a request's answer; fractions and huge numbers stay floats", function()
        mock.fail { status = 200, path = "/v1/mmc/management/conferences",
            body = '{"role":1,"list":[2,3.5,{"state":-4,"when":1629183619116}],"e":1e3,"f":2.0,'
                .. '"limit":9007199254740992,"huge":1e300,"tiny":-0.25,"name":"x"}' }
        local client = mmc.new(mock.options())
        local status, err, body = client:request("GET", "/v1/mmc/management/conferences")
        assert.are.equal(200, status, err)
        assert_whole(1, body.role, "role")
        assert_whole(2, body.list[1], "list[1]")
        assert_float(3.5, body.list[2], "list[2]")
        assert_whole(-4, body.list[3].state, "state")
        assert_whole(1629183619116, body.list[3].when, "when")
        assert_whole(1000, body.e, "1e3")
        assert_whole(2, body.f, "2.0")
        assert_whole(9007199254740992, body.limit, "2^53")
        assert_float(1e300, body.huge, "1e300")
        assert_float(-0.25, body.tiny, "-0.25")
        assert.are.equal("x", body.name)
        client:logout()
    end)

    it("are integers in auth's answer and in an error's body", function()
        local client = mmc.new(mock.options())
        local status, err, body = client:auth()
        assert.are.equal(200, status, err)
        assert_whole(86400, body.validPeriod, "validPeriod")
        assert_whole(2, body.user.userType, "userType")
        client:logout()

        mock.fail { status = 400, path = mock.CHANGE_STATUS,
            body = '{"error_code":"MMC.111070002","error_msg":"no","retry":3}' }
        status, err, body = client:set_webhook_status(mock.WEBHOOK_ID, mmc.ENABLE)
        assert.are.equal(400, status, err)
        assert_whole(3, body.retry, "retry")
        client:logout()
    end)

    it("are integers in get_webhook_config's subscription", function()
        local client = mmc.new(mock.options())
        assert.are.equal(200, (client:set_webhook_status(mock.WEBHOOK_ID, mmc.DISABLE)))
        mock.fail { status = 200, path = mock.LINK_CONFIG,
            body = '{"id":"' .. mock.WEBHOOK_ID .. '","url":"https://127.0.0.1:9/x","subscriberId":"s","status":1}' }
        local status, err, config = client:get_webhook_config()
        assert.are.equal(200, status, err)
        assert_whole(1, config.status, "status")
        assert.are.equal("disabled", config.status_name)
        client:logout()
    end)

    it("are integers in a verified push (and so in what the receiver hands on)", function()
        -- Huawei's documented meeting.verify push (push_spec.lua checks its signature).
        local signature = "262ccb5f8854f824c41ea5854ba1798bfa850706fbc85b2be9fd7535ed6b8ff3"
        local body = '{"appID":"1988692299","timestamp":1629183619116,"nonce":"85262798",'
            .. '"signature":"' .. signature .. '",'
            .. '"eventInfo":{"event":"meeting.verify","timestamp":1629183619116}}'
        local push, err = mmc.verify_push(body, "123456")
        assert.is_nil(err)
        assert_whole(1629183619116, push.timestamp, "timestamp")
        assert_whole(1629183619116, push.eventInfo.timestamp, "eventInfo.timestamp")
    end)
end)
