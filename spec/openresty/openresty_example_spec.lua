-- The OpenResty example, examples/openresty/nginx.conf. First run with the commands
-- docs/openresty.md gives (the block marked "run by spec/openresty/openresty_example_spec.lua"),
-- as they stand: only the prefix (a fresh directory) and the port (a free one, in the copied
-- config and in the curl line), and build-luajit/mmc.so is the build the specs run with (the
-- same file when MMC_BUILD_DIR=build-luajit), change. As root, nginx then runs its workers as nobody, as it
-- would for a user. Then run as it is in the specs' own prefix for the error cases.
local mock = require "mock"
local nginx = require "nginx"
local docs = require "docs"
local socket = require "socket"
local files = require "files"

local EXAMPLE = "examples/openresty"
local DOC = "docs/openresty.md"

local read = files.read_or_nil
local shell_quote = files.shell_quote

local sh = files.sh

-- The live children of `pid` (the master's workers).
local function children_of(pid)
    local found = {}
    local pipe = assert(io.popen("ls /proc"))
    for entry in pipe:lines() do
        local stat = entry:match("^%d+$") and read("/proc/" .. entry .. "/stat") or ""
        local state, ppid = stat:match("^%d+ %b() (%a) (%d+)")
        if ppid and tonumber(ppid) == pid and state ~= "Z" then found[#found + 1] = entry end
    end
    pipe:close()
    return found
end

local function master_alive(pid_file)
    local pid = tonumber(read(pid_file) or "")
    return pid ~= nil and (read("/proc/" .. pid .. "/cmdline") or ""):find("nginx", 1, true) ~= nil, pid
end

describe("the OpenResty example, run as docs/openresty.md says", function()
    local parent, prefix, stop_line, environment
    before_each(function()
        mock.setup()
        -- A directory the workers' user can enter, as /srv is: mktemp makes it 0700.
        local pipe = assert(io.popen("mktemp -d \"${TMPDIR:-/tmp}/mmc-doc-gateway.XXXXXX\""))
        parent = pipe:read("*l")
        pipe:close()
        assert(os.execute("chmod 755 " .. shell_quote(parent)))
        prefix = parent .. "/mmc-gateway"
        -- The CA where any user can read it, as scripts/mock puts it.
        assert(os.execute("cp " .. shell_quote(mock.ca_file) .. " " .. shell_quote(parent .. "/ca.pem")
            .. " && chmod 644 " .. shell_quote(parent .. "/ca.pem")))
        environment = {
            MMC_APP_ID = mock.APP_ID, MMC_APP_KEY = mock.APP_KEY,
            MMC_ENDPOINT = mock.endpoint, MMC_CA_FILE = parent .. "/ca.pem",
        }
    end)
    after_each(function()
        if stop_line then sh(stop_line, environment) end
        local alive, pid = master_alive(prefix .. "/logs/nginx.pid")
        if alive then os.execute("kill -KILL " .. pid) end
        os.execute("rm -rf " .. shell_quote(parent))
        stop_line = nil
    end)

    -- The doc's block, split where nginx starts; the port is moved in the copied config.
    local function doc_steps(port)
        local block = docs.marked_block(DOC, "run by spec/openresty/openresty_example_spec.lua")
        local steps = { setup = {}, start = nil, curl = nil, stop = nil }
        local prefixes = 0
        for line in block:gmatch("[^\n]+") do
            -- The LuaJIT build the specs run with (build-luajit when run as the doc says).
            line = line:gsub("build%-luajit/mmc%.so", nginx.build_dir .. "/mmc.so")
            if line:match("^prefix=") then
                prefixes = prefixes + 1
                line = "prefix=" .. shell_quote(prefix)
            end
            if line:match("^nginx .*%-s quit$") then
                steps.stop = "prefix=" .. shell_quote(prefix) .. "\n" .. line
            elseif line:match("^nginx ") then
                steps.start = line
            elseif line:match("^curl ") then
                local moved
                steps.curl, moved = line:gsub("127%.0%.0%.1:8080/", "127.0.0.1:" .. port .. "/")
                assert.are.equal(1, moved, "the curl line should call 127.0.0.1:8080")
            else
                assert.is_nil(steps.start, "a setup command after nginx starts: " .. line)
                table.insert(steps.setup, line)
            end
        end
        assert.are.equal(1, prefixes, "the block should set prefix= once")
        assert(steps.start and steps.curl and steps.stop, "the block should start nginx, call it with curl and stop it")
        return steps
    end

    it("enables a subscription through the thread pool, workers running as nobody under root", function()
        local port = nginx.free_port()
        local steps = doc_steps(port)
        local output, ok, errors = sh(table.concat(steps.setup, "\n"), environment)
        assert(ok, output .. errors)
        local conf_path = prefix .. "/conf/nginx.conf"
        local conf, listens = read(conf_path):gsub("listen 127%.0%.0%.1:8080;", "listen 127.0.0.1:" .. port .. ";")
        assert.are.equal(1, listens, "the example should listen on 127.0.0.1:8080")
        local file = assert(io.open(conf_path, "wb"))
        file:write(conf)
        file:close()

        output, ok, errors = sh("prefix=" .. shell_quote(prefix) .. "\n" .. steps.start, environment)
        assert(ok, "nginx did not start as the doc says:\n" .. output .. errors .. (read(prefix .. "/logs/error.log") or ""))
        stop_line = steps.stop
        local alive, master = master_alive(prefix .. "/logs/nginx.pid")
        assert(alive, "no nginx master")

        local answer
        for _ = 1, 50 do -- the listener is up once the master wrote its pid; the workers follow
            answer, ok = sh(steps.curl, environment)
            if ok then break end
            socket.sleep(0.1)
        end
        assert.are.equal("enabled\n", answer, read(prefix .. "/logs/error.log"))
        assert.are.equal(0, mock.webhooks()[mock.WEBHOOK_ID])
        assert.are.equal(1, #mock.requests_to(mock.APPAUTH))
        if nginx.is_root() then -- the workers that answered run as nobody, not as root
            local workers = children_of(master)
            assert.is_true(#workers > 0)
            for _, worker in ipairs(workers) do
                assert.are_not.equal("0", (read("/proc/" .. worker .. "/status") or ""):match("\nUid:%s+(%d+)"))
            end
        end

        output, ok = sh(steps.stop, environment)
        assert(ok, output)
        stop_line = nil
        local deadline = socket.gettime() + 5
        while master_alive(prefix .. "/logs/nginx.pid") and socket.gettime() < deadline do socket.sleep(0.05) end
        assert.is_false((master_alive(prefix .. "/logs/nginx.pid")), "the doc's stop line should stop nginx")
        local log = read(prefix .. "/logs/error.log") or ""
        assert.is_nil(log:find("%[emerg%]") or log:find("%[alert%]") or log:find("%[crit%]") or log:find("%[error%]"), log)
        mock.assert_no_secret(log)
    end)

    it("answers 500 when the workers cannot read MMC_CA_FILE, the trap the doc warns of", function()
        if not nginx.is_root() then
            return pending("needs root: only then do the workers run as another user (nobody)")
        end
        local port = nginx.free_port()
        local steps = doc_steps(port)
        -- The CA in a directory only root can enter, as a mktemp -d directory is.
        assert(os.execute("mkdir -m 700 " .. shell_quote(parent .. "/private") .. " && cp "
            .. shell_quote(mock.ca_file) .. " " .. shell_quote(parent .. "/private/ca.pem")))
        environment.MMC_CA_FILE = parent .. "/private/ca.pem"
        local output, ok = sh(table.concat(steps.setup, "\n"), environment)
        assert(ok, output)
        local conf_path = prefix .. "/conf/nginx.conf"
        local conf = read(conf_path):gsub("listen 127%.0%.0%.1:8080;", "listen 127.0.0.1:" .. port .. ";")
        local file = assert(io.open(conf_path, "wb"))
        file:write(conf)
        file:close()
        output, ok = sh("prefix=" .. shell_quote(prefix) .. "\n" .. steps.start, environment)
        assert(ok, output)
        stop_line = steps.stop
        local answer
        for _ = 1, 50 do
            answer, ok = sh(steps.curl:gsub("^curl ", "curl -s -o /dev/null -w '%%{http_code}' "), environment)
            if ok then break end
            socket.sleep(0.1)
        end
        assert.are.equal("500", answer)
        -- The message names the variable, the path and the reason, as docs/openresty.md says.
        assert.matches("bad environment variable MMC_CA_FILE: ca_file '[^']*private/ca%.pem' cannot be read: "
            .. "Permission denied %(this process runs as uid %d+%)", read(prefix .. "/logs/error.log"))
        assert.are.equal(1, mock.webhooks()[mock.WEBHOOK_ID]) -- untouched
    end)
end)

-- The same config in the specs' own prefix (workers as root when the specs run as root).
local function start_example(environment)
    local conf, listens = read(EXAMPLE .. "/nginx.conf"):gsub("listen 127%.0%.0%.1:8080;", "listen 127.0.0.1:@PORT@;")
    assert.are.equal(1, listens, "the example should listen on 127.0.0.1:8080")
    return nginx.start_conf(conf, environment or {
        MMC_APP_ID = mock.APP_ID, MMC_APP_KEY = mock.APP_KEY,
        MMC_ENDPOINT = mock.endpoint, MMC_CA_FILE = mock.ca_file,
    }, function(prefix)
        assert(os.execute(string.format("mkdir -p '%s/lua' '%s/lib' && ln -s '%s/%s/mmc_event_push.lua' '%s/lua/' && ln -s '%s/mmc.so' '%s/lib/'",
            prefix, prefix, nginx.root, EXAMPLE, prefix, nginx.build_dir, prefix)))
    end)
end

describe("the OpenResty example (examples/openresty)", function()
    local server
    before_each(function()
        mock.setup()
        server = start_example()
    end)
    after_each(function() if server then server:stop() end server = nil end)

    it("enables, locks and disables a subscription through the thread pool", function()
        local path = "/event-push/%s?id=" .. mock.WEBHOOK_ID
        local enabled = server:post(path:format("enable"))
        assert.are.equal(200, enabled.status, server:log())
        assert.are.equal("enabled\n", enabled.body)
        assert.are.equal(0, mock.webhooks()[mock.WEBHOOK_ID])
        assert.are.equal("locked\n", server:post(path:format("lock")).body)
        assert.are.equal(2, mock.webhooks()[mock.WEBHOOK_ID])
        assert.are.equal("disabled\n", server:post(path:format("disable")).body)
        assert.are.equal(1, mock.webhooks()[mock.WEBHOOK_ID])
        assert.are.equal(1, #mock.requests_to(mock.APPAUTH))
        assert.are.equal(3, #mock.requests_to(mock.CHANGE_STATUS))
        assert.are.same({}, server:bad_log_lines(true))
    end)

    it("answers what went wrong: a refused change, a missing id, a GET", function()
        local refused = server:post("/event-push/enable?id=no-such-record")
        assert.are.equal(502, refused.status)
        assert.matches("^HTTP 4%d%d: ", refused.body)
        assert.matches("request id", refused.body)
        mock.assert_no_secret(refused.body)
        assert.are.equal(400, server:post("/event-push/enable").status)
        assert.are.equal(405, server:get("/event-push/enable?id=" .. mock.WEBHOOK_ID).status)
        assert.are.equal(404, server:post("/event-push/delete?id=" .. mock.WEBHOOK_ID).status)
        assert.are.equal(1, mock.webhooks()[mock.WEBHOOK_ID]) -- untouched
        assert.matches("event push: HTTP 4%d%d: ", server:log()) -- the refusal, logged...
        mock.assert_no_secret(server:log())                   -- ...with no key or token
        assert.are.same({}, server:bad_log_lines(false))
    end)

    it("answers 504 with the reason when Huawei cannot be reached", function()
        server:stop()
        server = start_example {
            MMC_APP_ID = mock.APP_ID, MMC_APP_KEY = mock.APP_KEY,
            MMC_ENDPOINT = "https://127.0.0.1:" .. mock.closed_port(), MMC_CA_FILE = mock.ca_file,
        }
        local answer = server:post("/event-push/enable?id=" .. mock.WEBHOOK_ID)
        assert.are.equal(504, answer.status)
        assert.matches("^no answer: authentication failed: connection failed", answer.body)
        assert.matches("event push: no answer: authentication failed: connection failed", server:log())
        mock.assert_no_secret(server:log())
    end)
end)
