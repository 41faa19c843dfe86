-- The proxy specs' forward proxy (spec/support/connect_proxy.py), started on a free 127.0.0.1
-- port for one spec and stopped afterwards.
--
--   local connect_proxy = require "connect_proxy"
--   local proxy = connect_proxy.start { user = "alice:pw", tls = true, socks = true } -- all optional
--   proxy.port; proxy:entries() -- one table per connection; proxy:raw() -- every client byte
--   proxy:stop()
local socket = require "socket"
local cjson = require("cjson").new()
local read_file = require("files").read_or_nil

local proxy = {}
proxy.__index = proxy

function proxy.start(options)
    options = options or {}
    local dir = os.tmpname()
    os.remove(dir)
    assert(os.execute("mkdir -p " .. dir))
    local self = setmetatable({ dir = dir }, proxy)
    local args = { "--ready-file", dir .. "/ready.json", "--log", dir .. "/log.jsonl", "--raw-log", dir .. "/raw.bin" }
    if options.user then args[#args + 1] = "--user " .. options.user end
    if options.socks then args[#args + 1] = "--socks" end
    if options.tls then
        local certs = assert(os.getenv("MMC_TEST_CERTS"))
        args[#args + 1] = "--tls-cert " .. certs .. "/server.pem --tls-key " .. certs .. "/server.key"
    end
    -- env -u LD_PRELOAD: a sanitizer runtime preloaded for the specs is not for Python.
    assert(os.execute("env -u LD_PRELOAD python3 spec/support/connect_proxy.py " .. table.concat(args, " ")
        .. " >" .. dir .. "/out 2>" .. dir .. "/err &"))
    local deadline = socket.gettime() + 10
    repeat
        local ready = read_file(dir .. "/ready.json")
        if ready and #ready > 0 then
            local info = cjson.decode(ready)
            self.port, self.pid = ("%d"):format(info.port), ("%d"):format(info.pid)
            return self
        end
        socket.sleep(0.05)
    until socket.gettime() > deadline
    error("the proxy did not start: " .. tostring(read_file(dir .. "/err")))
end

-- One table per connection the proxy took, oldest first: { kind, request_line, headers,
-- target, status }.
function proxy:entries()
    local list = {}
    for line in (read_file(self.dir .. "/log.jsonl") or ""):gmatch("[^\n]+") do
        list[#list + 1] = cjson.decode(line)
    end
    return list
end

-- Every byte clients sent the proxy.
function proxy:raw()
    return read_file(self.dir .. "/raw.bin") or ""
end

function proxy:stop()
    if self.pid then
        -- Until it is gone or a zombie (its parent, a finished shell, left it to init to reap).
        os.execute(("kill %s 2>/dev/null; while kill -0 %s 2>/dev/null && [ \"$(cut -d' ' -f3 /proc/%s/stat "
            .. "2>/dev/null)\" != Z ]; do sleep 0.05; done"):format(self.pid, self.pid, self.pid))
        self.pid = nil
    end
    os.execute("rm -rf " .. self.dir)
end

return proxy
