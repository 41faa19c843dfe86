-- The OpenResty specs' nginx: Debian's nginx with the Lua module, started on 127.0.0.1 with a
-- config of the spec's own in a throw-away prefix, and stopped at teardown whatever happened.
--
--   local nginx = require "nginx"
--   local server = nginx.start {
--       main = "thread_pool mmc threads=8;",                 -- main-context directives
--       http = "lua_shared_dict mmc_tokens 1m;",             -- http-context directives
--       locations = [[location = /x { content_by_lua_block { ngx.say("x") } }]],
--       env = { MMC_APP_ID = "..." },                       -- set for nginx and passed by `env`
--   }
--   local response = server:get("/x")                      -- {status, headers, body, seconds}
--   server:stop()                                           -- QUIT, then KILL if it lingers
--   nginx.free_port(), nginx.is_root()                      -- for a spec that runs nginx its own way
--
-- Every config gets: the ndk and lua modules, `lua_package_cpath` on MMC_BUILD_DIR (the LuaJIT
-- build of mmc), `lua_package_path` on spec/openresty/lua, an error log and a pid file in the
-- prefix, `user root;` when the specs run as root (the checkout may live where nobody can
-- read), and `env` for every MMC_TEST_* variable. nginx.start_conf runs a complete config
-- of the caller's instead (the README example), in a prefix the caller fills.
--
-- Nothing here talks to anything but 127.0.0.1. A watchdog shell stops nginx if the Lua
-- process that started it dies before its teardown ran.
local socket = require "socket"
local files = require "files"

local nginx = {}

nginx.binary = os.getenv("MMC_NGINX") or "/usr/sbin/nginx"
nginx.modules = os.getenv("MMC_NGINX_MODULES") or "/usr/lib/nginx/modules"

local shell_quote = files.shell_quote

local function run(command)
    local ok, how, code = os.execute(command)
    if type(ok) == "number" then return ok == 0, ok end -- Lua 5.1: one status number
    return ok == true, code, how
end

local read_file = files.read_or_nil
local write_file = files.write

local function absolute(path)
    if path:sub(1, 1) == "/" then return path end
    local pipe = assert(io.popen("pwd"))
    local cwd = pipe:read("*l")
    pipe:close()
    return cwd .. "/" .. path:gsub("^%./", "")
end

-- The repository root (the specs run from there) and the module build directory.
nginx.root = absolute(".")
nginx.build_dir = absolute(os.getenv("MMC_BUILD_DIR") or "build")

local function own_pid()
    return tonumber(read_file("/proc/self/stat"):match("^(%d+)"))
end

-- Whether the specs run as root.
function nginx.is_root()
    local status = read_file("/proc/self/status") or ""
    return status:match("\nUid:%s+(%d+)") == "0"
end

-- Whether `pid` is a live nginx process (so a pid reused by another process is never signalled).
local function alive(pid)
    local stat = read_file("/proc/" .. pid .. "/stat")
    -- A zombie (state Z) has exited already; only its parent's wait is missing.
    return stat ~= nil and stat:match("^%d+ %b() (%a)") ~= "Z"
        and (read_file("/proc/" .. pid .. "/cmdline") or ""):find("nginx", 1, true) ~= nil
end

-- The pids of the live children of `pid` (nginx's workers are the master's children).
local function children_of(pid)
    local found = {}
    local pipe = assert(io.popen("ls /proc"))
    for entry in pipe:lines() do
        if entry:match("^%d+$") then
            local stat = read_file("/proc/" .. entry .. "/stat") or ""
            local state, ppid = stat:match("^%d+ %b() (%a) (%d+)")
            if ppid and tonumber(ppid) == pid and state ~= "Z" then found[#found + 1] = tonumber(entry) end
        end
    end
    pipe:close()
    table.sort(found)
    return found
end

-- A free 127.0.0.1 port: bound by the kernel's choice, then released for nginx.
function nginx.free_port()
    local server = assert(socket.bind("127.0.0.1", 0))
    local _, port = server:getsockname()
    server:close()
    return tonumber(port)
end

local function make_prefix()
    local pipe = assert(io.popen("mktemp -d \"${TMPDIR:-/tmp}/mmc-nginx.XXXXXX\""))
    local prefix = pipe:read("*l")
    pipe:close()
    assert(prefix and prefix ~= "", "mktemp failed")
    assert(run("mkdir -p " .. shell_quote(prefix .. "/conf") .. " " .. shell_quote(prefix .. "/logs")
        .. " " .. shell_quote(prefix .. "/temp")))
    -- The workers run as root (user root;) or as the caller: either can use the prefix.
    return prefix
end
nginx.make_prefix = make_prefix

-- Replaces @NAME@ by vars.NAME; an @NAME@ without a value is a mistake in the spec.
local function fill(template, vars)
    return (template:gsub("@([%u_]+)@", function(name)
        local value = vars[name]
        assert(value ~= nil, "nginx template: no value for @" .. name .. "@")
        return tostring(value)
    end))
end
nginx.fill = fill

local TEMPLATE = [[
# Written by spec/support/nginx.lua for one spec run.
@USER@
worker_processes @WORKERS@;
daemon on;
pid @PREFIX@/logs/nginx.pid;
error_log @PREFIX@/logs/error.log info;
load_module @MODULES@/ndk_http_module.so;
load_module @MODULES@/ngx_http_lua_module.so;
@ENV@
@MAIN@
events { worker_connections 1024; }
http {
    access_log off;
    client_body_temp_path @PREFIX@/temp/body;
    proxy_temp_path @PREFIX@/temp/proxy;
    fastcgi_temp_path @PREFIX@/temp/fastcgi;
    uwsgi_temp_path @PREFIX@/temp/uwsgi;
    scgi_temp_path @PREFIX@/temp/scgi;
    lua_package_cpath "@CPATH@";
    lua_package_path "@ROOT@/spec/openresty/lua/?.lua;;";
@HTTP@
    server {
        listen 127.0.0.1:@PORT@@LISTEN_OPTIONS@;
        # Which worker answered: the specs count workers and read their memory.
        header_filter_by_lua_block { ngx.header["X-Worker-Pid"] = ngx.worker.pid() }
@LOCATIONS@
    }
}
]]

local server_methods = {}
server_methods.__index = server_methods

-- Starts nginx on a prefix that holds conf/nginx.conf already, with `environment` set and
-- `globals` (main-context directives, as nginx -g) added. Waits until it accepts connections
-- and, when `workers` is given, until that many workers run.
local function launch(prefix, port, environment, globals, workers)
    local assignments = {}
    for name, value in pairs(environment or {}) do
        assignments[#assignments + 1] = name .. "=" .. shell_quote(value)
    end
    table.sort(assignments)
    local command = string.format("env %s %s -p %s -c %s -e %s %s >%s 2>&1",
        table.concat(assignments, " "), shell_quote(nginx.binary), shell_quote(prefix .. "/"),
        shell_quote(prefix .. "/conf/nginx.conf"), shell_quote(prefix .. "/logs/error.log"),
        globals and globals ~= "" and ("-g " .. shell_quote(globals)) or "",
        shell_quote(prefix .. "/logs/startup.out"))
    local server = setmetatable({ prefix = prefix, port = port, started = socket.gettime() }, server_methods)
    local ok = run(command)
    if not ok then
        local message = "nginx did not start:\n" .. (read_file(prefix .. "/logs/startup.out") or "")
            .. "\n" .. server:log()
        run("rm -rf " .. shell_quote(prefix))
        error(message, 3)
    end
    local deadline = socket.gettime() + 10
    while true do
        local pid = tonumber(read_file(prefix .. "/logs/nginx.pid") or "")
        if pid and not server.master then
            server.master = pid
            -- The watchdog: stops nginx if this process dies without its teardown.
            run(string.format("(while kill -0 %d 2>/dev/null; do if ! kill -0 %d 2>/dev/null; then "
                .. "kill -QUIT %d; sleep 5; grep -qs nginx /proc/%d/cmdline && kill -KILL %d; rm -rf %s; break; fi; "
                .. "sleep 1; done) </dev/null >/dev/null 2>&1 &", pid, own_pid(), pid, pid, pid, shell_quote(prefix)))
        end
        if server.master then
            local probe = socket.tcp()
            probe:settimeout(0.2)
            local connected = probe:connect("127.0.0.1", port)
            probe:close()
            if connected and (workers == nil or #children_of(server.master) >= workers) then return server end
            if not alive(server.master) then break end
        end
        if socket.gettime() > deadline then break end
        socket.sleep(0.05)
    end
    local message = "nginx did not answer on 127.0.0.1:" .. port .. "\n" .. server:log()
    server:stop()
    error(message, 3)
end

-- Starts nginx with the specs' template; `options` as in the header comment, plus
-- workers (default 1), listen_options (e.g. " reuseport") and cpath (lua_package_cpath).
function nginx.start(options)
    options = options or {}
    local prefix = make_prefix()
    local port = nginx.free_port()
    local environment = {}
    for name, value in pairs(options.env or {}) do environment[name] = value end
    local env_lines = {}
    for _, name in ipairs { "MMC_TEST_ENDPOINT", "MMC_TEST_CONTROL", "MMC_TEST_CA" } do
        environment[name] = environment[name] or os.getenv(name)
    end
    for name in pairs(environment) do env_lines[#env_lines + 1] = "env " .. name .. ";" end
    table.sort(env_lines)
    local conf = fill(TEMPLATE, {
        USER = nginx.is_root() and "user root;" or "",
        WORKERS = options.workers or 1,
        PREFIX = prefix,
        MODULES = nginx.modules,
        ENV = table.concat(env_lines, "\n"),
        MAIN = options.main or "",
        CPATH = options.cpath or (nginx.build_dir .. "/?.so;;"),
        ROOT = nginx.root,
        HTTP = options.http or "",
        PORT = port,
        LISTEN_OPTIONS = options.listen_options or "",
        LOCATIONS = options.locations or "",
    })
    write_file(prefix .. "/conf/nginx.conf", conf)
    return launch(prefix, port, environment, nil, options.workers or 1)
end

-- Starts a complete config of the caller's: `conf` is its text with @PORT@ for the port to
-- listen on; `setup(prefix)` may put files in the prefix first. Runs as root (-g 'user root;')
-- when the specs do; the config's relative paths are relative to the prefix.
function nginx.start_conf(conf, environment, setup)
    local prefix = make_prefix()
    local port = nginx.free_port()
    if setup then setup(prefix) end
    write_file(prefix .. "/conf/nginx.conf", fill(conf, { PORT = port }))
    return launch(prefix, port, environment, nginx.is_root() and "user root;" or nil)
end

function server_methods:log()
    local text = read_file(self.prefix .. "/logs/error.log") or "(no error log)"
    if #text > 20000 then text = "...\n" .. text:sub(-20000) end
    return "---- nginx error log (" .. self.prefix .. "/logs/error.log) ----\n" .. text .. "\n---- end of error log ----"
end

-- The error log's lines that mean nginx or a worker went wrong: alerts, critical errors, a
-- worker that exited (it is respawned after a crash), a signal; and Lua errors when
-- `with_errors`.
function server_methods:bad_log_lines(with_errors)
    local bad = {}
    for line in (read_file(self.prefix .. "/logs/error.log") or ""):gmatch("[^\n]+") do
        if line:find("%[alert%]") or line:find("%[crit%]") or line:find("%[emerg%]")
            or line:find("signal") or line:find("worker process %d+ exited")
            or (with_errors and line:find("%[error%]")) then
            bad[#bad + 1] = line
        end
    end
    return bad
end

function server_methods:workers()
    return self.master and children_of(self.master) or {}
end

-- Resident memory of a process in KiB, from /proc/<pid>/status.
function nginx.rss_kib(pid)
    local status = read_file("/proc/" .. pid .. "/status")
    return status and tonumber(status:match("VmRSS:%s*(%d+) kB"))
end

-- Stops nginx: QUIT (graceful), then KILL for the master and its workers if they linger.
-- Idempotent; removes the prefix unless MMC_KEEP_NGINX is set.
function server_methods:stop()
    if self.stopped then return end
    self.stopped = true
    if self.master and alive(self.master) then
        local workers = children_of(self.master)
        run("kill -QUIT " .. self.master .. " 2>/dev/null")
        local deadline = socket.gettime() + 5
        while alive(self.master) and socket.gettime() < deadline do socket.sleep(0.05) end
        if alive(self.master) then run("kill -KILL " .. self.master .. " 2>/dev/null") end
        for _, pid in ipairs(workers) do
            if alive(pid) then run("kill -KILL " .. pid .. " 2>/dev/null") end
        end
    end
    if os.getenv("MMC_KEEP_NGINX") then
        io.stderr:write("nginx prefix kept: ", self.prefix, "\n")
    else
        run("rm -rf " .. shell_quote(self.prefix))
    end
end

---------------------------------------------------------------------------- HTTP clients
-- Plain HTTP/1.0 over LuaSocket: one connection per request, the answer read to its end.

local function parse_response(raw)
    local head, body = raw:match("^(.-)\r\n\r\n(.*)$")
    if not head then return nil, "no complete HTTP answer: " .. raw:sub(1, 200) end
    local status = tonumber(head:match("^HTTP/1%.%d (%d%d%d)"))
    local headers = {}
    for name, value in head:gmatch("\r\n([^:\r\n]+):%s*([^\r\n]*)") do headers[name:lower()] = value end
    return { status = status, headers = headers, body = body }
end

local function request_text(method, path)
    return method .. " " .. path .. " HTTP/1.0\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\n\r\n"
end

-- Sends a request and returns the open connection, to read with server:finish(connection).
function server_methods:send(path, method)
    local connection = socket.tcp()
    connection:settimeout(10)
    assert(connection:connect("127.0.0.1", self.port))
    assert(connection:send(request_text(method or "GET", path)))
    return { socket = connection, started = socket.gettime() }
end

function server_methods:finish(pending)
    local raw, err, partial = pending.socket:receive("*a")
    pending.socket:close()
    local response, problem = parse_response(raw or partial or "")
    assert(response, "request failed (" .. tostring(err) .. "): " .. tostring(problem) .. "\n" .. self:log())
    response.seconds = socket.gettime() - pending.started
    return response
end

-- One request; returns {status, headers, body, seconds}.
function server_methods:request(method, path)
    return self:finish(self:send(path, method))
end

function server_methods:get(path) return self:request("GET", path) end
function server_methods:post(path) return self:request("POST", path) end

-- Runs `count` requests to path_of(i), at most `concurrency` at a time, with non-blocking
-- sockets; returns the responses in request order.
function server_methods:parallel(count, concurrency, path_of, method)
    local responses, active, next_index = {}, {}, 1
    local function start_one()
        local pending = self:send(path_of(next_index), method)
        pending.socket:settimeout(0)
        pending.index, pending.chunks = next_index, {}
        active[pending.socket] = pending
        next_index = next_index + 1
    end
    while next_index <= count or next(active) do
        local in_flight = 0
        for _ in pairs(active) do in_flight = in_flight + 1 end
        while next_index <= count and in_flight < concurrency do
            start_one()
            in_flight = in_flight + 1
        end
        local readers = {}
        for s in pairs(active) do readers[#readers + 1] = s end
        local ready, err = socket.select(readers, nil, 10)
        assert(#ready > 0, "no answer within 10 s (" .. tostring(err) .. ")\n" .. self:log())
        for _, s in ipairs(ready) do
            local pending = active[s]
            local data, status, partial = s:receive(65536)
            local piece = data or partial
            if piece and #piece > 0 then pending.chunks[#pending.chunks + 1] = piece end
            if status == "closed" then
                s:close()
                active[s] = nil
                local response, problem = parse_response(table.concat(pending.chunks))
                assert(response, "request " .. pending.index .. ": " .. tostring(problem) .. "\n" .. self:log())
                response.seconds = socket.gettime() - pending.started
                responses[pending.index] = response
            elseif status ~= "timeout" and status ~= nil then
                error("request " .. pending.index .. ": " .. tostring(status) .. "\n" .. self:log())
            end
        end
    end
    return responses
end

return nginx
