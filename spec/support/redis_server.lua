-- A real Redis for the specs: redis-server (Debian's) started on a free 127.0.0.1 port in a
-- directory of its own, with no persistence, and stopped afterwards.
--
--   local redis_server = require "redis_server"
--   local server = redis_server.start()   -- server.port
--   server:stop()
local socket = require "socket"

local server = {}
server.__index = server

-- The client library: Debian ships redis-lua (lua-redis) for Lua 5.1-5.3 only. It is plain
-- Lua on LuaSocket, so Lua 5.4 loads the 5.3 copy.
function server.client_library()
    local ok, redis = pcall(require, "redis")
    if ok then return redis end
    package.path = package.path .. ";/usr/share/lua/5.3/?.lua"
    return require "redis"
end

local function free_port()
    local probe = assert(socket.bind("127.0.0.1", 0))
    local _, port = probe:getsockname()
    probe:close()
    return port
end

function server.start()
    local dir = os.tmpname()
    os.remove(dir)
    assert(os.execute("mkdir -p " .. dir))
    local self = setmetatable({ dir = dir, port = free_port() }, server)
    -- env -u LD_PRELOAD: a sanitizer runtime preloaded for the specs is not for the server.
    local command = ("env -u LD_PRELOAD redis-server --bind 127.0.0.1 --port %d --dir %s --save '' --appendonly no "
        .. "--daemonize yes --pidfile %s/redis.pid --logfile %s/redis.log"):format(self.port, dir, dir, dir)
    assert(os.execute(command), "could not start redis-server")
    local deadline = socket.gettime() + 10
    repeat
        local connection = socket.connect("127.0.0.1", self.port)
        if connection then
            connection:send("PING\r\n")
            local line = connection:receive("*l")
            connection:close()
            if line == "+PONG" then return self end
        end
        socket.sleep(0.05)
    until socket.gettime() > deadline
    error("redis-server did not answer on port " .. self.port)
end

-- A new connection from the client library.
function server:connect()
    return server.client_library().connect("127.0.0.1", self.port)
end

function server:stop()
    local pid_file = io.open(self.dir .. "/redis.pid")
    if pid_file then
        local pid = pid_file:read("*l")
        pid_file:close()
        os.execute("kill " .. pid .. " 2>/dev/null; while kill -0 " .. pid .. " 2>/dev/null; do sleep 0.05; done")
    end
    os.execute("rm -rf " .. self.dir)
end

return server
