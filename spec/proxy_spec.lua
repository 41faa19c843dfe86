-- The proxy option: every request of the client goes through the proxy it names (http://,
-- https:// or socks5h://), and an http(s) proxy only ever sees "CONNECT host:port": the token
-- travels inside the TLS tunnel. proxy = false ignores the environment's proxies; unset keeps
-- libcurl's reading of https_proxy and no_proxy. Proxy credentials never show.
local mock = require "mock"
local mmc = require "mmc"
local connect_proxy = require "connect_proxy"

local CONFERENCES = "/v1/mmc/management/conferences"
local MOCK_TARGET = mock.endpoint:match("^https://(.*)$") -- 127.0.0.1:PORT

-- Runs a Lua chunk in a fresh interpreter with `env` set and the proxy variables in `unset`
-- removed; returns its output.
local function run_with_env(env, chunk)
    local assignments = {}
    for k, v in pairs(env) do assignments[#assignments + 1] = k .. "='" .. v .. "'" end
    local command = string.format("env -u https_proxy -u HTTPS_PROXY -u all_proxy -u ALL_PROXY -u no_proxy "
        .. "-u NO_PROXY -u MMC_PROXY %s%s %s -e %q 2>&1", mock.child_env(), table.concat(assignments, " "),
        arg and arg[-1] or "lua5.4", "package.cpath='" .. package.cpath .. "' package.path='" .. package.path
        .. "' " .. chunk)
    local pipe = assert(io.popen(command))
    local output = pipe:read("*a")
    pipe:close()
    return output
end

-- A chunk that makes one client with `options_source` (Lua text for mock.options' extras) and
-- prints what one meeting list call returned.
local function list_chunk(options_source)
    return "local mock = require 'mock'; local mmc = require 'mmc'; "
        .. "local c = mmc.new(mock.options(" .. options_source .. ")); "
        .. "print(c:request('GET', '" .. CONFERENCES .. "'))"
end

describe("the proxy option", function()
    local proxy
    before_each(function() mock.setup() end)
    after_each(function()
        if proxy then proxy:stop() end
        proxy = nil
    end)

    it("sends every request through an http:// proxy that sees only CONNECT host:port", function()
        proxy = connect_proxy.start()
        local client = mmc.new(mock.options { proxy = "http://127.0.0.1:" .. proxy.port })
        assert.are.equal(200, (mock.call(client.request, client, "GET", CONFERENCES)))
        assert.are.equal(200, (mock.call(client.set_webhook_status, client, mock.WEBHOOK_ID, mmc.DISABLE)))
        assert.are.equal(200, (mock.call(client.logout, client)))
        client:close()

        local entries = proxy:entries()
        assert.are.equal(1, #entries) -- one tunnel, kept alive for the four requests
        assert.are.equal("CONNECT " .. MOCK_TARGET .. " HTTP/1.1", entries[1].request_line)
        for name in pairs(entries[1].headers) do
            assert.truthy(({ host = true, ["user-agent"] = true, ["proxy-connection"] = true })[name], name)
        end
        assert.are.equal(4, #mock.requests())
        -- nothing of the requests crossed the proxy in clear: no header name, no token, no key
        local raw = proxy:raw()
        assert.truthy(raw:find("CONNECT " .. MOCK_TARGET, 1, true))
        for _, secret in ipairs { "X-Access-Token", "Authorization:", "appauth", "conferences", mock.APP_ID } do
            assert.is_nil(raw:find(secret, 1, true), secret)
        end
        for _, r in ipairs(mock.requests()) do
            if r.headers["x-access-token"] then assert.is_nil(raw:find(r.headers["x-access-token"], 1, true)) end
        end
    end)

    it("works through an https:// proxy, verified with the client's CA, and a socks5h:// one", function()
        for _, kind in ipairs { "tls", "socks" } do
            proxy = connect_proxy.start { [kind] = true }
            local scheme = kind == "tls" and "https" or "socks5h"
            local client = mmc.new(mock.options { proxy = scheme .. "://127.0.0.1:" .. proxy.port })
            local status, err = mock.call(client.request, client, "GET", CONFERENCES)
            assert.are.equal(200, status, err)
            client:close()
            local entries = proxy:entries()
            assert.are.equal(1, #entries)
            assert.matches(MOCK_TARGET, entries[1].target, 1, true)
            assert.is_nil(proxy:raw():find("X-Access-Token", 1, true))
            proxy:stop()
            proxy = nil
        end
        -- an https:// proxy whose certificate the client cannot verify is refused
        mock.setup()
        proxy = connect_proxy.start { tls = true }
        local client = mmc.new(mock.options { proxy = "https://127.0.0.1:" .. proxy.port, retries = 0,
            ca_file = mock.other_ca_file })
        local status, err = mock.call(client.request, client, "GET", CONFERENCES)
        assert.is_nil(status)
        assert.matches("TLS failed", err, 1, true)
        assert.are.same({}, mock.requests())
    end)

    it("sends proxy credentials to the proxy only, and never shows them", function()
        proxy = connect_proxy.start { user = "alice:s3cret-pw" }
        local url = "http://alice:s3cret-pw@127.0.0.1:" .. proxy.port
        local client = mmc.new(mock.options { proxy = url })
        assert.are.equal(200, (mock.call(client.request, client, "GET", CONFERENCES)))
        assert.are.equal("Basic " .. "YWxpY2U6czNjcmV0LXB3", proxy:entries()[1].headers["proxy-authorization"])
        local description = tostring(client)
        assert.matches("proxy http://127.0.0.1:" .. proxy.port, description, 1, true)
        assert.is_nil(description:find("alice", 1, true))
        assert.is_nil(description:find("s3cret", 1, true))
        -- a server that echoes the password gets it redacted
        mock.fail { status = 500, count = 1, path = CONFERENCES,
            body = '{"error_code":"MMC.0","error_msg":"saw s3cret-pw and alice:s3cret-pw"}' }
        local _, err = client:request("GET", CONFERENCES)
        assert.are.equal("MMC.0: saw *** and *** (request id", err:sub(1, 34))

        -- a refused password: a message naming the proxy's answer, and never the password
        local wrong = mmc.new(mock.options { proxy = "http://alice:wrong-pw@127.0.0.1:" .. proxy.port })
        local status, why = wrong:request("GET", CONFERENCES)
        assert.is_nil(status)
        assert.are.equal("authentication failed: proxy failed: CONNECT tunnel failed, response 407", why)
        assert.are.equal(407, proxy:entries()[2].status) -- and not retried: a retry would not help
        assert.are.equal(2, #proxy:entries())
    end)

    it("refuses a proxy option it cannot use, without quoting it", function()
        local bad = { "ftp://127.0.0.1:21", "socks4://127.0.0.1:1080", "127.0.0.1:3128", "http://", "http://:80",
            "http://127.0.0.1:0", "http://127.0.0.1:99999", "http://127.0.0.1:x", "http://127.0.0.1/path",
            "http://127.0.0.1?q", "http://h st", "http://[::1", true, 1, {} }
        for _, value in ipairs(bad) do
            local ok, err = pcall(mmc.new, mock.options { proxy = value })
            assert.is_false(ok, tostring(value))
            assert.matches("option 'proxy'", err, 1, true)
        end
        local ok, err = pcall(mmc.new, mock.options { proxy = "gopher://bob:hunter2-secret@127.0.0.1:70" })
        assert.is_false(ok)
        assert.is_nil(err:find("hunter2", 1, true))
    end)

    it("comes from MMC_PROXY when the option is not given", function()
        proxy = connect_proxy.start()
        local output = run_with_env({ MMC_PROXY = "http://127.0.0.1:" .. proxy.port }, list_chunk("{}"))
        assert.matches("^200\tnil\ttable", output)
        assert.are.equal(1, #proxy:entries())
        output = run_with_env({ MMC_PROXY = "ftp://127.0.0.1:" .. proxy.port },
            "local mmc = require 'mmc'; print(pcall(mmc.request, 'GET', '/'))")
        assert.matches("MMC_PROXY: proxy must be an http://", output, 1, true)
    end)

    it("goes through the proxy even for hosts that no_proxy lists", function()
        proxy = connect_proxy.start()
        local output = run_with_env({ no_proxy = "127.0.0.1,localhost", NO_PROXY = "127.0.0.1,localhost" },
            list_chunk("{ proxy = 'http://127.0.0.1:" .. proxy.port .. "' }"))
        assert.matches("^200\tnil\ttable", output)
        assert.are.equal(1, #proxy:entries())
    end)

    it("with proxy = false, ignores a dead https_proxy from the environment", function()
        local dead = "http://127.0.0.1:" .. mock.closed_port()
        local env = { https_proxy = dead, HTTPS_PROXY = dead }
        -- unset: libcurl's own behaviour, which takes the environment's proxy (and fails)
        local output = run_with_env(env, list_chunk("{ retries = 0 }"))
        assert.matches("^nil\tauthentication failed: connection failed", output)
        assert.are.same({}, mock.requests())
        -- false: straight to the endpoint
        output = run_with_env(env, list_chunk("{ proxy = false }"))
        assert.matches("^200\tnil\ttable", output)
        assert.are.equal(2, #mock.requests())
        -- tostring says so
        assert.matches(", proxy none%)$", tostring(mmc.new(mock.options { proxy = false })))
    end)
end)
