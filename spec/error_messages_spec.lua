-- Error messages name what to fix: the file and the system's reason for a bad ca_file, the
-- environment variable a bad value came from, the option behind a TLS, authentication or
-- connect failure, an endpoint that has a path, a method called with a dot. And none of them
-- holds a secret.
local mock = require "mock"
local mmc = require "mmc"
local socket = require "socket"
local files = require "files"

local INTERPRETER = arg and arg[-1] or "lua5.4"
local NOBODY = 65534

local quote = files.shell_quote
local execute = files.execute

-- Temporary files and directories, removed after each test.
local to_remove = {}

local function temporary_file(text)
    local path = files.write_temp(text)
    to_remove[#to_remove + 1] = path
    return path
end

local function temporary_directory()
    local path = os.tmpname()
    os.remove(path)
    assert(execute("mkdir " .. quote(path)))
    to_remove[#to_remove + 1] = path
    return path
end

-- What `fn` raised, without the "file:line: " Lua puts before it; fails when it did not raise.
-- (Lua 5.1 names a function only where it is called by its field's name, not through pcall.)
local function raised(fn, ...)
    local ok, err = pcall(fn, ...)
    assert(not ok, "did not raise")
    err = tostring(err):gsub("^[^:\n]+:%d+: ", ""):gsub("to 'mmc%.", "to '")
    mock.assert_no_secret(err)
    return err
end

-- Runs `chunk` in a fresh interpreter with only the MMC_* variables in `env` (prefix:
-- "setpriv ..." to run it as another user). Returns what it printed, stdout and stderr.
local function run_child(env, chunk, prefix)
    local parts = { "env" }
    for _, name in ipairs { "MMC_APP_ID", "MMC_APP_KEY", "MMC_USER_ID", "MMC_CORP_ID", "MMC_ENDPOINT", "MMC_CA_FILE" } do
        parts[#parts + 1] = "-u " .. name
    end
    parts[#parts + 1] = mock.child_env()
    for k, v in pairs(env) do parts[#parts + 1] = quote(k .. "=" .. v) end
    if prefix then parts[#parts + 1] = prefix end
    parts[#parts + 1] = quote(INTERPRETER)
    parts[#parts + 1] = "-e " .. quote("package.cpath = " .. ("%q"):format(package.cpath) .. " " .. chunk)
    local pipe = assert(io.popen(table.concat(parts, " ") .. " 2>&1"))
    local output = pipe:read("*a")
    pipe:close()
    mock.assert_no_secret(output)
    return output
end

-- A listening socket that never accepts: the kernel completes TCP connections to it, and then
-- nothing answers (no TLS handshake, no HTTP answer).
local function silent_port()
    local server = assert(socket.bind("127.0.0.1", 0))
    local _, port = server:getsockname()
    return server, port
end

describe("error messages", function()
    before_each(function() mock.setup() end)
    after_each(function()
        for _, path in ipairs(to_remove) do execute("rm -rf " .. quote(path)) end
        to_remove = {}
    end)

    describe("ca_file", function()
        it("names the file and the system's reason when it does not exist", function()
            local path = "/nonexistent/ca.pem"
            assert.are.equal("bad argument #1 to 'new' (ca_file '" .. path .. "' cannot be read: No such file or directory)",
                raised(function() local c = mmc.new(mock.options { ca_file = path }) return c end))
            assert.are.equal("bad argument #1 to 'configure' (ca_file '" .. path .. "' cannot be read: No such file or directory)",
                raised(function() mmc.configure(mock.options { ca_file = path }) end))
        end)

        it("names the reason and the user when the process may not read it (an nginx worker as nobody)", function()
            local path = temporary_file(files.read(mock.ca_file))
            assert(execute("chmod 600 " .. quote(path)))
            local chunk = ([[print(pcall(require("mmc").new, { ca_file = %q }))]]):format(path)
            local output
            if execute("test $(id -u) = 0") then
                -- root reads anything: run the child as nobody, as nginx runs its workers. The
                -- checkout may be where nobody cannot enter (under /root, say): nobody loads a
                -- copy of the module from a directory of its own.
                local modules = temporary_directory()
                assert(execute("cp " .. quote((os.getenv("MMC_BUILD_DIR") or "build") .. "/mmc.so") .. " "
                    .. quote(modules .. "/mmc.so") .. " && chmod 755 " .. quote(modules)
                    .. " && chmod 644 " .. quote(modules .. "/mmc.so")))
                chunk = ("package.cpath = %q .. package.cpath "):format(modules .. "/?.so;") .. chunk
                output = run_child({}, chunk, ("setpriv --reuid=%d --regid=%d --clear-groups"):format(NOBODY, NOBODY))
            else
                assert(execute("chmod 000 " .. quote(path)))
                output = run_child({}, chunk)
            end
            assert.matches("^false\tbad argument #1 to '[^']*' %(ca_file '" .. path:gsub("%p", "%%%0")
                .. "' cannot be read: Permission denied %(this process runs as uid %d+%)%)\n$", output)
        end)

        it("refuses a directory when the client is made", function()
            local directory = temporary_directory()
            assert.are.equal("bad argument #1 to 'new' (ca_file '" .. directory
                .. "' is a directory: give a PEM file of CA certificates)",
                raised(function() local c = mmc.new(mock.options { ca_file = directory }) return c end))
        end)

        it("refuses a device or FIFO when the client is made, without waiting on it", function()
            assert.are.equal("bad argument #1 to 'new' (ca_file '/dev/null' is not a regular file: give a PEM file of CA certificates)",
                raised(function() local c = mmc.new(mock.options { ca_file = "/dev/null" }) return c end))
            local fifo = temporary_directory() .. "/fifo"
            assert(execute("mkfifo " .. quote(fifo)))
            local started = socket.gettime()
            assert.are.equal("bad argument #1 to 'new' (ca_file '" .. fifo .. "' is not a regular file: give a PEM file of CA certificates)",
                raised(function() local c = mmc.new(mock.options { ca_file = fifo }) return c end))
            assert.is_true(socket.gettime() - started < 1) -- opening a FIFO for reading would wait for a writer
        end)

        local not_pem = {
            { "an empty file", "" },
            { "a text file", "hello\n" },
            { "a DER certificate's first bytes", "\48\130\3\89\48\130\2\65\160\3\2\1\2" },
            { "a PEM private key alone", "-----BEGIN PRIVATE KEY-----\nMIIB\n-----END PRIVATE KEY-----\n" },
            { "a BEGIN line cut short", "-----BEGIN CERTIFICA" },
        }
        for _, case in ipairs(not_pem) do
            it("refuses " .. case[1] .. " when the client is made: no PEM certificate", function()
                local path = temporary_file(case[2])
                assert.are.equal("bad argument #1 to 'new' (ca_file '" .. path
                    .. "' holds no PEM certificate (no -----BEGIN CERTIFICATE----- line))",
                    raised(function() local c = mmc.new(mock.options { ca_file = path }) return c end))
            end)
        end

        it("accepts a bundle with text before its certificates, and certificates far into it", function()
            local ca = files.read(mock.ca_file)
            local commented = temporary_file("# the local server's CA\n\n" .. ca)
            local far = temporary_file(string.rep("# padding line of a long bundle header\n", 3000) .. ca)
            for _, path in ipairs { commented, far } do
                local client = mmc.new(mock.options { ca_file = path })
                assert.are.equal(200, (mock.call(client.auth, client)))
                client:close()
            end
        end)

        it("accepts the system's bundle", function()
            local bundle = "/etc/ssl/certs/ca-certificates.crt"
            assert(io.open(bundle), "Debian's ca-certificates bundle is missing")
            mmc.new(mock.options { ca_file = bundle }):close()
        end)

        it("keeps control characters of a path out of the message", function()
            local err = raised(function() local c = mmc.new(mock.options { ca_file = "/nonexistent/\27[31mred\n.pem" }) return c end)
            assert.is_nil(err:find("[%c]"))
            assert.matches("ca_file '/nonexistent/ %[31mred .pem' cannot be read", err)
        end)
    end)

    describe("the environment", function()
        it("names the variable a bad value came from, with the path and the reason", function()
            local output = run_child({ MMC_APP_ID = "a", MMC_APP_KEY = mock.APP_KEY, MMC_CA_FILE = "/nonexistent/ca.pem" },
                [[print(pcall(require("mmc").auth))]])
            assert.are.equal("false\tmmc: bad environment variable MMC_CA_FILE: ca_file '/nonexistent/ca.pem' "
                .. "cannot be read: No such file or directory\n", output)
        end)

        it("names the variable when the options given were fine but one from the environment is not", function()
            local output = run_child({ MMC_APP_KEY = mock.APP_KEY, MMC_ENDPOINT = "https://127.0.0.1/v1" },
                [[print(pcall(require("mmc").new, { app_id = "a", timeout = 3 }))]])
            assert.are.equal("false\tmmc: bad environment variable MMC_ENDPOINT: endpoint must have no path: "
                .. "give only https://host[:port], mmc adds the API's paths\n", output)
            output = run_child({ MMC_APP_KEY = mock.APP_KEY, MMC_APP_ID = string.rep("a", 65) },
                [[print(pcall(require("mmc").configure, { timeout = 3 }))]])
            assert.are.equal("false\tmmc: bad environment variable MMC_APP_ID: app_id must be 1 to 64 characters of UTF-8\n", output)
            output = run_child({ MMC_CORP_ID = string.rep("c", 65) },
                [[print(pcall(require("mmc").new, { sp = true }))]])
            assert.are.equal("false\tmmc: bad environment variable MMC_CORP_ID: corp_id must be at most 64 characters of UTF-8\n", output)
        end)

        it("blames the option, not the variable, when the bad value was given as an option", function()
            local output = run_child({ MMC_CA_FILE = mock.ca_file },
                [[print(pcall(require("mmc").new, { ca_file = "/nonexistent/ca.pem" }))]])
            assert.matches("^false\tbad argument #1 to '[^']*' %(ca_file '/nonexistent/ca%.pem' cannot be read", output)
            -- and an option given wins over a bad variable, which then does not matter
            output = run_child({ MMC_CA_FILE = "/nonexistent/ca.pem" },
                ([[print((pcall(require("mmc").new, { ca_file = %q })))]]):format(mock.ca_file))
            assert.are.equal("true\n", output)
        end)
    end)

    describe("the endpoint", function()
        local refused = {
            { "/v1", "endpoint must have no path: give only https://host[:port], mmc adds the API's paths" },
            { "/v1/", "endpoint must have no path: give only https://host[:port], mmc adds the API's paths" },
            { "/?x=1", "endpoint must not contain a query, a fragment or user info" },
            { "#top", "endpoint must not contain a query, a fragment or user info" },
        }
        for _, case in ipairs(refused) do
            it("refuses one ending in '" .. case[1] .. "' when the client is made", function()
                assert.are.equal("bad argument #1 to 'new' (" .. case[2] .. ")",
                    raised(function() local c = mmc.new(mock.options { endpoint = mock.endpoint .. case[1] }) return c end))
            end)
        end

        it("accepts trailing slashes, which are dropped", function()
            local client = mmc.new(mock.options { endpoint = mock.endpoint .. "//" })
            assert.are.equal(200, (mock.call(client.auth, client)))
        end)
    end)

    describe("a failed call", function()
        it("points at ca_file and MMC_CA_FILE when the server's certificate has an unknown issuer", function()
            local client = mmc.new(mock.options { ca_file = mock.other_ca_file })
            local status, err = mock.call(client.auth, client)
            assert.is_nil(status)
            assert.are.equal("TLS failed: SSL certificate problem: unable to get local issuer certificate; set ca_file "
                .. "(or MMC_CA_FILE) to a PEM file holding the CA that issued the server's certificate", err)
        end)

        it("points at the credentials when authentication is refused with 401", function()
            local client = mmc.new(mock.options { app_key = "not-the-app-key" })
            local status, err = mock.call(client.auth, client)
            assert.are.equal(401, status)
            assert.matches("^USG%.000000011: signature mismatch %(request id %x+%); check the app_id and app_key "
                .. "options, or MMC_APP_ID and MMC_APP_KEY$", err)
            status, err = mock.call(client.set_webhook_status, client, mock.WEBHOOK_ID, mmc.ENABLE)
            assert.are.equal(401, status)
            assert.matches("^authentication failed: USG%.000000011: .*; check the app_id and app_key options, "
                .. "or MMC_APP_ID and MMC_APP_KEY$", err)
            assert.is_nil(err:find("not-the-app-key", 1, true))
        end)

        it("gives no credentials hint for a 401 that is not the authentication's", function()
            mock.fail { status = 401, path = mock.CHANGE_STATUS, count = 2,
                body = mock.json.encode { error_code = "USG.000000004", error_msg = "token invalid" } }
            local client = mmc.new(mock.options { retries = 0 })
            local status, err = mock.call(client.set_webhook_status, client, mock.WEBHOOK_ID, mmc.ENABLE)
            assert.are.equal(401, status)
            assert.matches("^USG%.000000004: token invalid %(request id %x+%)$", err)
        end)

        it("says that connect_timeout applied when the TLS handshake never finished", function()
            local server, port = silent_port()
            local client = mmc.new(mock.options { endpoint = "https://127.0.0.1:" .. port, connect_timeout = 0.3,
                timeout = 5, retries = 0 })
            local started = socket.gettime()
            local status, err = mock.call(client.auth, client)
            local elapsed = socket.gettime() - started
            server:close()
            assert.is_nil(status)
            assert.matches("^timed out: .*; connect_timeout of 0%.3 s applied %(to connect and finish the TLS handshake%)$", err)
            assert.is_true(elapsed < 2, "took " .. elapsed .. " s")
        end)

        it("says that the call's timeout applied, not connect_timeout, when it ran out first", function()
            local server, port = silent_port()
            local client = mmc.new(mock.options { endpoint = "https://127.0.0.1:" .. port, connect_timeout = 5,
                timeout = 0.3, retries = 0 })
            local status, err = mock.call(client.auth, client)
            assert.is_nil(status)
            assert.matches("^timed out: .*; timeout applied %(the limit for the whole call%)$", err)
            assert.is_nil(err:find("connect_timeout", 1, true))
            -- connected over plain http, the answer never came: not a connect timeout either
            client = mmc.new(mock.options { endpoint = "http://127.0.0.1:" .. port, allow_http = true,
                connect_timeout = 0.3, timeout = 0.6, retries = 0 })
            status, err = mock.call(client.auth, client)
            server:close()
            assert.is_nil(status)
            assert.matches("^timed out: .*; timeout applied %(the limit for the whole call%)$", err)
            assert.is_nil(err:find("connect_timeout", 1, true))
        end)
    end)

    describe("a connection that did not happen", function()
        it("says it was the proxy that could not be reached, and which one, without its credentials", function()
            local port = mock.closed_port()
            local client = mmc.new(mock.options { proxy = "http://alice:pr0xy-pw@127.0.0.1:" .. port, retries = 0 })
            local status, err = mock.call(client.auth, client)
            assert.is_nil(status)
            assert.matches("^proxy connection failed: .*127%.0%.0%.1.* %(proxy http://127%.0%.0%.1:" .. port .. "%)$", err)
            assert.is_nil(err:find("pr0xy-pw", 1, true))
            assert.is_nil(err:find("alice", 1, true))
            -- without a proxy, a closed port is the server's, as before
            client = mmc.new(mock.options { endpoint = "https://127.0.0.1:" .. port, retries = 0 })
            status, err = mock.call(client.auth, client)
            assert.is_nil(status)
            assert.matches("^connection failed: ", err)
            assert.is_nil(err:find("proxy", 1, true))
        end)

        it("suggests https:// when an http:// endpoint (allow_http) meets a TLS server", function()
            local client = mmc.new(mock.options { endpoint = (mock.endpoint:gsub("^https:", "http:")), allow_http = true,
                retries = 0 })
            local status, err = mock.call(client.auth, client)
            assert.is_nil(status)
            assert.are.equal("connection lost: Empty reply from server; the endpoint is http:// (allow_http = true): "
                .. "if the server speaks TLS, use https://", err)
        end)
    end)

    describe("a method called with a dot", function()
        local client
        before_each(function() client = mmc.new(mock.options()) end)
        after_each(function() client:close() end)

        -- (each call is a statement, not a tail call, so that every Lua names the function)
        local calls = {
            { "set_webhook_status", function(c) c.set_webhook_status(mock.WEBHOOK_ID, 0) end, "string" },
            { "set_webhook_status", function(c) c.set_webhook_status(0) end, "number" },
            { "delete_webhook_config", function(c) c.delete_webhook_config(mock.WEBHOOK_ID) end, "string" },
            { "set_webhook_config", function(c) c.set_webhook_config { url = "https://127.0.0.1/x" } end, "table" },
            { "get_webhook_config", function(c) c.get_webhook_config() end, "no value" },
            { "auth", function(c) c.auth() end, "no value" },
            { "logout", function(c) c.logout() end, "no value" },
            { "close", function(c) c.close() end, "no value" },
            { "request", function(c) c.request("GET", "/v1/mmc/management/conferences") end, "string" },
        }
        for _, case in ipairs(calls) do
            it("says to use client:" .. case[1] .. "(...) when given " .. case[3], function()
                assert.are.equal("bad argument #1 to '" .. case[1] .. "' (mmc.client expected, got " .. case[3]
                    .. "; call methods with a colon: client:" .. case[1] .. "(...))", raised(case[2], client))
            end)
        end

        -- Called through pcall or as a tail call, Lua itself knows no name for the function.
        for _, case in ipairs(calls) do
            it("names " .. case[1] .. " when Lua knows no name for it (pcall(client." .. case[1] .. "))", function()
                assert.are.equal("bad argument #1 to '" .. case[1] .. "' (mmc.client expected, got no value"
                    .. "; call methods with a colon: client:" .. case[1] .. "(...))", raised(client[case[1]]))
            end)
        end

        it("still checks the id first on a method called with a colon", function()
            assert.are.equal("bad argument #1 to 'set_webhook_status' (id must be a non-empty string, got number)",
                raised(function() client:set_webhook_status(0, 0) end))
        end)
    end)
end)
