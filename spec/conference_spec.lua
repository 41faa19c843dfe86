-- client:conference(conference_id, { password = host_password }): a meeting's control handle.
-- Its :request adds conferenceID and sends the control token as X-Conference-Authorization:
-- obtained with the host password on first use, kept, renewed before it ends (with itself,
-- then with the password), and obtained once more after a 401. The mock's meeting control is
-- spec/mock/mock_control.py; its host password is mock.HOST_PASSWORD.
local mock = require "mock"
local mmc = require "mmc"

local CONFERENCE = "914083136"
local MUTE = mock.MUTE

local function query_of(request)
    local query = {}
    for name, value in request.query:gmatch("([^&=]+)=([^&]*)") do query[name] = value end
    return query
end

-- The control-token requests the mock saw, each as "password" or "token" (what it carried).
local function token_requests()
    local kinds = {}
    for i, r in ipairs(mock.requests_to(mock.CONTROL_TOKEN)) do
        assert.are.equal(CONFERENCE, query_of(r).conferenceID)
        if r.headers["x-password"] then
            assert.are.equal("1", r.headers["x-login-type"])
            assert.is_nil(r.headers["x-conference-authorization"])
            kinds[i] = "password"
        else
            assert.is_nil(r.headers["x-login-type"])
            kinds[i] = "token"
        end
    end
    return kinds
end

local function mute(handle, value)
    return mock.call(handle.request, handle, "PUT", MUTE, { body = { isMute = value } })
end

local function raised(fn)
    local ok, err = pcall(fn)
    assert.is_false(ok, "did not raise")
    return err
end

describe("client:conference", function()
    local client
    before_each(function()
        mock.setup()
        client = mmc.new(mock.options())
    end)
    after_each(function()
        mock.clear_faults()
        client:close()
    end)

    it("fetches the control token once on first use and reuses it; mute works", function()
        local handle = client:conference(CONFERENCE, { password = mock.HOST_PASSWORD })
        assert.are.equal("mmc.conference " .. CONFERENCE, tostring(handle))
        assert.are.same({}, mock.requests()) -- nothing sent before the first call
        for i = 1, 5 do
            local status, err, body = mute(handle, i % 2)
            assert.are.equal(200, status, err)
            assert.is_nil(err)
            assert.is_nil(body)
        end
        assert.are.same({ "password" }, token_requests())
        assert.are.equal(1, mock.conference_control().muted[CONFERENCE])
        local tokens = mock.conference_control().tokens
        local mutes = mock.requests_to(MUTE)
        assert.are.equal(5, #mutes)
        for _, r in ipairs(mutes) do
            assert.are.equal(tokens[1], r.headers["x-conference-authorization"])
            assert.are.equal(CONFERENCE, query_of(r).conferenceID)
            assert.is_nil(r.headers["x-password"])
        end
    end)

    it("adds conferenceID to the caller's query and passes the caller's headers", function()
        local handle = client:conference(CONFERENCE, { password = mock.HOST_PASSWORD })
        local status = mute(handle, 1)
        assert.are.equal(200, status)
        -- the mock refuses unknown query names: the caller's query reaches it beside conferenceID
        local err
        status, err = mock.call(handle.request, handle, "PUT", MUTE,
            { body = '{"isMute": 0}', query = { extra = "x" }, headers = { ["X-Trace"] = "t-2" } })
        assert.are.equal(400, status)
        assert.matches("unknown query parameters: extra", err, 1, true)
        local last = mock.requests_to(MUTE)[2]
        assert.are.equal("t-2", last.headers["x-trace"])
        assert.are.equal("conferenceID=" .. CONFERENCE .. "&extra=x", last.query)
    end)

    it("renews the token with itself before it ends", function()
        mock.conference_control { token_life = 3 } -- renewed when less than 1 s is left
        local handle = client:conference(CONFERENCE, { password = mock.HOST_PASSWORD })
        assert.are.equal(200, (mute(handle, 1)))
        local first = mock.conference_control().tokens[1]
        mock.sleep(2.2)
        assert.are.equal(200, (mute(handle, 0)))
        local kinds = token_requests()
        assert.are.same({ "password", "token" }, kinds)
        assert.are.equal(first, mock.requests_to(mock.CONTROL_TOKEN)[2].headers["x-conference-authorization"])
        local second = mock.conference_control().tokens[2]
        assert.are.equal(second, mock.requests_to(MUTE)[2].headers["x-conference-authorization"])
    end)

    it("falls back to the password when keeping the token alive fails", function()
        mock.conference_control { token_life = 3 }
        local handle = client:conference(CONFERENCE, { password = mock.HOST_PASSWORD })
        assert.are.equal(200, (mute(handle, 1)))
        mock.sleep(2.2)
        mock.conference_control { revoke = true }
        local logins = #mock.requests_to(mock.APPAUTH)
        assert.are.equal(200, (mute(handle, 0)))
        -- the keep-alive is answered 401 (the control token's refusal: the client's own token
        -- is kept, no login), then the password gives a new token
        assert.are.same({ "password", "token", "password" }, token_requests())
        local statuses = {}
        for i, r in ipairs(mock.requests_to(mock.CONTROL_TOKEN)) do statuses[i] = r.status end
        assert.are.same({ 200, 401, 200 }, statuses)
        assert.are.equal(logins, #mock.requests_to(mock.APPAUTH))
        assert.are.equal(0, mock.conference_control().muted[CONFERENCE])
    end)

    it("a 401 leads to one new token and one more try", function()
        local handle = client:conference(CONFERENCE, { password = mock.HOST_PASSWORD })
        assert.are.equal(200, (mute(handle, 1)))
        mock.conference_control { revoke = true }
        local logins = #mock.requests_to(mock.APPAUTH)
        assert.are.equal(200, (mute(handle, 0)))
        assert.are.same({ "password", "password" }, token_requests())
        local statuses = {}
        for i, r in ipairs(mock.requests_to(MUTE)) do statuses[i] = r.status end
        -- the second mute is answered 401: the control token was refused, not the client's
        -- (no login, no second try with the same token); it goes through with a new one
        assert.are.same({ 200, 401, 200 }, statuses)
        assert.are.equal(logins, #mock.requests_to(mock.APPAUTH))
        assert.are.equal(0, mock.conference_control().muted[CONFERENCE])
    end)

    it("a 401 that persists is returned after the one retry", function()
        mock.fail { status = 401, count = 10, path = MUTE,
                    body = '{"error_code":"MMC.111070005","error_msg":"token invalid"}' }
        local handle = client:conference(CONFERENCE, { password = mock.HOST_PASSWORD })
        local status, err = mute(handle, 1)
        assert.are.equal(401, status)
        assert.matches("MMC.111070005", err, 1, true)
        assert.are.same({ "password", "password" }, token_requests())
    end)

    it("a wrong password is returned as the token request's failure, the password never shown", function()
        mock.conference_control { password = "Q7-other-pin-81" }
        local handle = client:conference(CONFERENCE, { password = mock.HOST_PASSWORD })
        local status, err, body = mute(handle, 1)
        assert.are.equal(403, status)
        assert.matches("meeting " .. CONFERENCE .. ": no control token (with the host password): ", err, 1, true)
        assert.matches("MMC.111070006", err, 1, true)
        assert.are.equal("MMC.111070006", body.error_code)
        assert.are.same({}, mock.requests_to(MUTE))
    end)

    it("never shows the control token or the password, however the server echoes them", function()
        local handle = client:conference(CONFERENCE, { password = mock.HOST_PASSWORD })
        assert.are.equal(200, (mute(handle, 1)))
        local token = mock.conference_control().tokens[1]
        local echo = ('{"error_code":"MMC.1","error_msg":"token %s password %s","token":"%s","pwd":"%s"}')
            :format(token, mock.HOST_PASSWORD, token, mock.HOST_PASSWORD)
        mock.fail { status = 400, count = 1, path = MUTE, body = echo }
        local status, err, body = mute(handle, 0)
        assert.are.equal(400, status)
        assert.is_nil(err:find(token, 1, true))
        assert.is_nil(err:find(mock.HOST_PASSWORD, 1, true))
        local text = mock.json.encode(body)
        assert.is_nil(text:find(token:sub(1, 8), 1, true))
        assert.is_nil(text:find(mock.HOST_PASSWORD:sub(1, 8), 1, true))
        mock.assert_no_secret(err)
        mock.assert_no_secret(text)
        -- and a 200 that echoes them
        mock.fail { status = 200, count = 1, path = MUTE, body = echo }
        status, err, body = mute(handle, 0)
        assert.are.equal(200, status)
        mock.assert_no_secret(mock.json.encode(body))
    end)

    it("reports every exchange to on_request, with no secret in any event", function()
        local events = {}
        local watched = mmc.new(mock.options { on_request = function(e) events[#events + 1] = e end })
        local handle = watched:conference(CONFERENCE, { password = mock.HOST_PASSWORD })
        assert.are.equal(200, (mute(handle, 1)))
        local paths = {}
        for i, e in ipairs(events) do
            paths[i] = e.path
            for _, v in pairs(e) do if type(v) == "string" then mock.assert_no_secret(v) end end
        end
        assert.are.same({ mock.APPAUTH, mock.CONTROL_TOKEN, MUTE }, paths)
        watched:close()
    end)

    it("keeps its client alive and works after the client variable is gone", function()
        local handle = mmc.new(mock.options()):conference(CONFERENCE, { password = mock.HOST_PASSWORD })
        collectgarbage()
        collectgarbage()
        assert.are.equal(200, (mute(handle, 1)))
        handle = nil -- luacheck: ignore
        collectgarbage()
    end)

    it("raises on bad input, naming the argument, before anything is sent", function()
        local unpack = table.unpack or unpack
        local cases = {
            { { 914083136, { password = "x" } }, "bad argument #1 to 'conference' %(conference_id must be a string, got number%)" },
            { { "", { password = "x" } }, "conference_id must not be empty" },
            { { ("9"):rep(65), { password = "x" } }, "conference_id is longer than 64 bytes" },
            { { "91\n4", { password = "x" } }, "conference_id must not hold control characters" },
            { { CONFERENCE }, "bad argument #2 to 'conference' %(options must be a table { password = ... }, got nil%)" },
            { { CONFERENCE, {} }, "options.password %(the host password%) must be a string, got nil" },
            { { CONFERENCE, { password = 1234 } }, "options.password %(the host password%) must be a string, got number" },
            { { CONFERENCE, { password = "" } }, "options.password %(the host password%) must not be empty" },
            { { CONFERENCE, { password = "x", pin = 1 } }, "unknown option 'pin' %(password%)" },
        }
        for _, case in ipairs(cases) do
            local err = raised(function()
                local handle = client:conference(unpack(case[1])) -- not a tail call: keeps the name
                return handle
            end)
            assert.matches(case[2], err, nil, false, case[2])
        end
        local handle = client:conference(CONFERENCE, { password = mock.HOST_PASSWORD })
        local request_cases = {
            { { "FETCH", MUTE }, "bad argument #1 to 'request' %(method must be" },
            { { "PUT", 7 }, "bad argument #2 to 'request' %(path must be a string, got number%)" },
            { { "PUT", "https://x/y" }, "bad argument #2 to 'request'" },
            { { "PUT", MUTE, "x" }, "bad argument #3 to 'request' %(options must be a table, got string%)" },
            { { "PUT", MUTE, { query = { conferenceID = "1" } } }, "options.query.conferenceID: the handle adds it" },
            { { "PUT", MUTE, { headers = { ["x-conference-authorization"] = "t" } } }, "X%-Conference%-Authorization is the handle's own" },
            { { "PUT", MUTE, { headers = { ["X-Password"] = "t" } } }, "X%-Password is the handle's own" },
            { { "PUT", MUTE, { headers = { ["X-Login-Type"] = "1" } } }, "X%-Login%-Type is the handle's own" },
            { { "GET", MUTE, { body = "{}" } }, "a GET has no body" },
            { { "PUT", MUTE, { body = 5 } }, "options.body must be a table or a string, got number" },
            { { "PUT", MUTE, { nope = 5 } }, "unknown option 'nope'" },
        }
        for _, case in ipairs(request_cases) do
            local err = raised(function()
                local status = handle:request(unpack(case[1])) -- not a tail call: keeps the name
                return status
            end)
            assert.matches(case[2], err, nil, false, case[2])
        end
        assert.matches("mmc.client expected", raised(function() return client.conference(CONFERENCE) end), 1, true)
        assert.are.same({}, mock.requests())
        -- a secret never appears in what raised
        local err = raised(function()
            local h = client:conference(CONFERENCE, { password = mock.HOST_PASSWORD, pin = 1 })
            return h
        end)
        mock.assert_no_secret(err)
    end)
end)
