-- The specs' handle on spec/faults/fault_server.py: starts it on free 127.0.0.1 ports (with
-- certificates made for the run), talks to its control port with LuaSocket, stops it.
--
--   package.path = "spec/faults/?.lua;" .. package.path
--   local server = require("fault_server").start()
--   server.endpoint          https://127.0.0.1:<main port>
--   server.plain_endpoint    http://127.0.0.1:<plain port>
--   server.ca_file           the CA the main and target listeners' certificate is signed by
--   server:fault { on = "request", action = "respond", status = 503, path = "/v1/..." }
--   server:requests("main")  what a listener received
--   server:stop()
--
-- The server uses the test CA of spec/support/with-mock (MMC_TEST_CERTS) when it is there, or
-- makes one with spec/mock/make_certs.sh. It watches this Lua process and exits when it is
-- gone, so a crashed spec leaves no server behind.
local http = require "socket.http"
local ltn12 = require "ltn12"
local socket = require "socket"
local cjson = require("cjson").new()
local files = require "files"

local M = {}
local Server = {}
Server.__index = Server

local here = "spec/faults"

local execute = files.execute
local read_file = files.read_or_nil

-- This process's id: /proc/self is whoever opens it.
local function own_pid()
    local stat = read_file("/proc/self/stat")
    return stat and tonumber(stat:match("^(%d+)")) or 0
end

function M.start()
    local dir = os.tmpname()
    os.remove(dir)
    assert(execute("mkdir -p " .. dir), "cannot make " .. dir)
    local certs = os.getenv("MMC_TEST_CERTS")
    if not certs or certs == "" or not read_file(certs .. "/ca.key") then
        certs = dir .. "/certs"
        assert(execute("env -u LD_PRELOAD spec/mock/make_certs.sh " .. certs), "make_certs.sh failed")
    end
    local self = setmetatable({ dir = dir, certs = certs, ca_file = certs .. "/ca.pem" }, Server)
    -- env -u LD_PRELOAD: a sanitizer runtime preloaded for the specs is not for the server.
    local command = ("env -u LD_PRELOAD python3 %s/fault_server.py --certs %s --work %s/work "
        .. "--ready-file %s/ready.json --parent-pid %d >%s/server.log 2>&1 &")
        :format(here, certs, dir, dir, own_pid(), dir)
    assert(execute(command), "could not start the fault server")
    local deadline = socket.gettime() + 20
    local ready
    repeat
        local text = read_file(dir .. "/ready.json")
        if text and #text > 0 then ready = cjson.decode(text) end
        if not ready then socket.sleep(0.05) end
    until ready or socket.gettime() > deadline
    if not ready then
        local logged = read_file(dir .. "/server.log") or ""
        execute("rm -rf " .. dir)
        error("the fault server did not start: " .. logged)
    end
    -- cjson gives floats under Lua 5.3+: ports and the pid are printed with %d
    self.pid = ("%d"):format(ready.pid)
    self.ports = {}
    for name, port in pairs(ready.listeners) do self.ports[name] = ("%d"):format(port) end
    self.control_url = ("http://127.0.0.1:%d"):format(ready.control_port)
    self.endpoint = "https://127.0.0.1:" .. self.ports.main
    self.plain_endpoint = "http://127.0.0.1:" .. self.ports.plain
    self.target_endpoint = "https://localhost:" .. self.ports.target
    return self
end

function Server:control(method, path, body)
    local response = {}
    local source = body and cjson.encode(body) or nil
    local ok, status = http.request {
        method = method,
        url = self.control_url .. path,
        source = source and ltn12.source.string(source) or nil,
        headers = source and { ["content-type"] = "application/json", ["content-length"] = #source } or nil,
        sink = ltn12.sink.table(response),
    }
    assert(ok, "fault server control unreachable: " .. tostring(status))
    local text = table.concat(response)
    assert(status == 200, "fault server control " .. path .. " answered " .. tostring(status) .. ": " .. text)
    return cjson.decode(text)
end

function Server:reset() return self:control("POST", "/reset", {}) end
function Server:clear() return self:control("POST", "/clear", {}) end
function Server:fault(rule) return self:control("POST", "/fault", rule) end
function Server:listen(on, listener, seconds)
    return self:control("POST", "/listen", { on = on, listener = listener or "main", ["for"] = seconds })
end
function Server:drop(listener) return self:control("POST", "/drop", { listener = listener or "main" }) end
function Server:state() return self:control("GET", "/state") end

-- What a listener ("main" by default) received, in order; with `path`, only to that path.
function Server:requests(listener, path)
    local found = {}
    for _, r in ipairs(self:state().listeners[listener or "main"].requests) do
        if not path or r.path == path then found[#found + 1] = r end
    end
    return found
end

function Server:connections(listener) return self:state().listeners[listener or "main"].connections end
function Server:tokens() return self:state().tokens end

function Server:stop()
    if self.pid then
        execute(("kill %s 2>/dev/null; i=0; while kill -0 %s 2>/dev/null && [ $i -lt 50 ]; do sleep 0.1; i=$((i+1)); done; "
            .. "kill -9 %s 2>/dev/null; true"):format(self.pid, self.pid, self.pid))
        self.pid = nil
    end
    if self.dir then execute("rm -rf " .. self.dir) end
    self.dir = nil
end

M.json = cjson
M.now = socket.gettime
M.sleep = socket.sleep
return M
