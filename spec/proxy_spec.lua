-- The proxy option: every request of the client goes through the proxy it names (http://,
-- https:// or socks5h://), and an http(s) proxy only ever sees "CONNECT host:port": the token
-- travels inside the TLS tunnel. proxy = false ignores the environment's proxies; unset takes
-- https_proxy and the like (read by mmc as libcurl would, then treated as the option) and
-- no_proxy. Proxy credentials never show.
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
    local command = string.format("env -u https_proxy -u HTTPS_PROXY -u http_proxy -u HTTP_PROXY -u all_proxy "
        .. "-u ALL_PROXY -u no_proxy "
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
        -- unset: the environment's proxy is taken (and fails, naming the proxy)
        local output = run_with_env(env, list_chunk("{ retries = 0 }"))
        assert.matches("^nil\tauthentication failed: proxy connection failed: .*%(proxy " .. dead:gsub("%p", "%%%0") .. "%)", output)
        assert.are.same({}, mock.requests())
        -- false: straight to the endpoint
        output = run_with_env(env, list_chunk("{ proxy = false }"))
        assert.matches("^200\tnil\ttable", output)
        assert.are.equal(2, #mock.requests())
        -- tostring says so
        assert.matches(", proxy none%)$", tostring(mmc.new(mock.options { proxy = false })))
    end)
end)

-- A proxy from the environment (issue 16, 4.3 to 4.5) is read by mmc, as libcurl would read it,
-- and then treated as the option's: checked when the client is made, its credentials redacted,
-- ca_file and ssl_verify applied to it, every request tunnelled; no_proxy still applies.
describe("a proxy from the environment", function()
    local proxy
    before_each(function() mock.setup() end)
    after_each(function()
        mock.clear_faults()
        if proxy then proxy:stop() end
        proxy = nil
    end)

    it("never shows its password, whichever variable names it", function()
        proxy = connect_proxy.start { user = "alice:s3cret-pw" }
        for _, variable in ipairs { "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY" } do
            mock.setup()
            -- the server echoes the password: it is redacted as the option's would be
            mock.fail { status = 500, count = 1, path = CONFERENCES,
                body = '{"error_code":"MMC.0","error_msg":"saw s3cret-pw and alice:s3cret-pw"}' }
            local output = run_with_env({ [variable] = "http://alice:s3cret-pw@127.0.0.1:" .. proxy.port },
                list_chunk("{ retries = 0 }") .. "; print(c)")
            assert.matches("^500\tMMC%.0: saw %*%*%* and %*%*%* %(request id", output, nil, variable)
            assert.matches("proxy http://127.0.0.1:" .. proxy.port, output, 1, true)
            assert.is_nil(output:find("s3cret", 1, true), variable .. ": " .. output)
        end
        -- a refused password is not shown either, nor retried
        local output = run_with_env({ https_proxy = "http://alice:wrong-pw@127.0.0.1:" .. proxy.port },
            list_chunk("{}"))
        assert.matches("^nil\tauthentication failed: proxy failed: ", output)
        assert.is_nil(output:find("wrong-pw", 1, true), output)
    end)

    it("is verified with ca_file, or not at all with ssl_verify = false, when it is https://", function()
        proxy = connect_proxy.start { tls = true }
        local env = { https_proxy = "https://127.0.0.1:" .. proxy.port }
        local output = run_with_env(env, list_chunk("{ retries = 0 }")) -- ca_file is the test CA
        assert.matches("^200\tnil\ttable", output)
        assert.are.equal(1, #proxy:entries())
        output = run_with_env(env, list_chunk("{ retries = 0, ssl_verify = false, ca_file = mock.other_ca_file }"))
        assert.matches("^200\tnil\ttable", output)
        -- verified: a ca_file without the proxy's CA refuses it
        mock.setup()
        output = run_with_env(env, list_chunk("{ retries = 0, ca_file = mock.other_ca_file }"))
        assert.matches("^nil\tauthentication failed: TLS failed", output)
        assert.are.same({}, mock.requests())
    end)

    it("is checked when the client is made, naming the variable and never quoting it", function()
        for _, variable in ipairs { "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY" } do
            local output = run_with_env({ [variable] = "http://127.0.0.1:99999" },
                "local mmc = require 'mmc'; print(pcall(mmc.new, { app_id = 'a', app_key = 'k' }))")
            assert.matches("false\tmmc: bad environment variable " .. variable
                .. ": proxy has a malformed port (1 to 65535)", output, 1, true)
        end
        local output = run_with_env({ https_proxy = "gopher://bob:hunter2-secret@127.0.0.1:70" },
            "local mmc = require 'mmc'; print(pcall(mmc.new, { app_id = 'a', app_key = 'k' }))")
        assert.matches("bad environment variable https_proxy: proxy must be", output, 1, true)
        assert.is_nil(output:find("hunter2", 1, true))
        -- proxy = false and MMC_PROXY still win over it
        output = run_with_env({ https_proxy = "http://127.0.0.1:99999" }, list_chunk("{ proxy = false }"))
        assert.matches("^200\tnil\ttable", output)
    end)

    it("takes a host:port without a scheme as http://, as libcurl does", function()
        proxy = connect_proxy.start()
        local output = run_with_env({ HTTPS_PROXY = "127.0.0.1:" .. proxy.port }, list_chunk("{}"))
        assert.matches("^200\tnil\ttable", output)
        assert.are.equal(1, #proxy:entries())
        assert.are.equal("CONNECT " .. MOCK_TARGET .. " HTTP/1.1", proxy:entries()[1].request_line)
    end)

    it("for an http:// endpoint is http_proxy's (never HTTP_PROXY's), redacted and tunnelled too", function()
        package.path = "spec/faults/?.lua;" .. package.path
        local server = require("fault_server").start()
        proxy = connect_proxy.start { user = "alice:s3cret-pw" }
        local ok, failure = pcall(function()
            server:fault { listener = "plain", on = "request", action = "respond", path = CONFERENCES,
                status = 500, count = -1,
                body = '{"error_code":"MMC.0","error_msg":"saw s3cret-pw"}' }
            local chunk = "local mmc = require 'mmc'; local c = mmc.new { app_id = 'a', app_key = 'k', "
                .. "allow_http = true, retries = 0, endpoint = '" .. server.plain_endpoint .. "' }; "
                .. "print(c:request('GET', '" .. CONFERENCES .. "')); print(c)"
            local output = run_with_env({ http_proxy = "http://alice:s3cret-pw@127.0.0.1:" .. proxy.port }, chunk)
            assert.matches("^500\tMMC%.0: saw %*%*%*", output)
            assert.is_nil(output:find("s3cret", 1, true), output)
            assert.are.equal(1, #proxy:entries())
            assert.matches("^CONNECT ", proxy:entries()[1].request_line)
            -- HTTP_PROXY is not read for http:// (a CGI request can set it), as libcurl does not
            output = run_with_env({ HTTP_PROXY = "http://127.0.0.1:" .. mock.closed_port() }, chunk)
            assert.matches("^500\tMMC%.0: saw ", output) -- answered: the dead proxy was not used
            assert.are.equal(1, #proxy:entries())
        end)
        server:stop()
        assert(ok, failure)
    end)

    it("is not used for the hosts no_proxy lists", function()
        local dead = "http://127.0.0.1:" .. mock.closed_port()
        for _, variable in ipairs { "no_proxy", "NO_PROXY" } do
            mock.setup()
            local output = run_with_env({ https_proxy = dead, [variable] = "localhost,127.0.0.1" }, list_chunk("{}"))
            assert.matches("^200\tnil\ttable", output, nil, variable)
        end
    end)
end)

-- issue 16, 4.5: libcurl reads user info up to the first '@', so "p@ss" would send "p" as the
-- password to a host named "ss@127.0.0.1"; the client refuses it at once instead.
describe("a proxy URL with an unencoded '@' in its user info", function()
    local message = "proxy has an '@' in its user name or password: write it as %40"
    it("is refused when the client is made, as the option and from the environment", function()
        local ok, err = pcall(mmc.new, mock.options { proxy = "http://alice:p@ss-word@127.0.0.1:3128" })
        assert.is_false(ok)
        assert.matches("option 'proxy': " .. message, err, 1, true)
        assert.is_nil(err:find("ss-word", 1, true))
        for _, variable in ipairs { "MMC_PROXY", "https_proxy" } do
            local output = run_with_env({ [variable] = "http://alice:p@ss-word@127.0.0.1:3128" },
                "local mmc = require 'mmc'; print(pcall(mmc.new, { app_id = 'a', app_key = 'k' }))")
            assert.matches("bad environment variable " .. variable .. ": " .. message, output, 1, true)
            assert.is_nil(output:find("ss-word", 1, true))
        end
        -- written as %40 it works
        local proxy = connect_proxy.start { user = "alice:p@ss-word" }
        local client = mmc.new(mock.options { proxy = "http://alice:p%40ss-word@127.0.0.1:" .. proxy.port })
        local status = mock.call(client.request, client, "GET", CONFERENCES)
        proxy:stop()
        assert.are.equal(200, status)
    end)
end)
