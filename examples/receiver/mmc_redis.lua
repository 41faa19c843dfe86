-- A minimal Redis client for nginx's Lua module, on its non-blocking cosockets
-- (ngx.socket.tcp), for the receiver example: Debian packages no lua-resty-redis, and a
-- blocking client (LuaSocket's redis-lua) would stall the whole worker while Redis answers.
--
--   local redis = require("mmc_redis").new { host = "127.0.0.1", port = 6379 }
--   local id, err = redis:xadd("stream", "*", "field", "value")   -- any command, lowercase
--
-- Each command takes a connection from nginx's pool for that host and port (connecting when
-- there is none), sends the command, reads the answer and gives the connection back, so one
-- object made at start serves every request. Answers are as lua-resty-redis gives them: a
-- string ("OK" for a status), a number, a table, ngx.null for a null reply; false and the
-- message for a Redis error; nil and the message when Redis could not be reached or
-- answered nothing. Only in phases where cosockets work (content, access, rewrite, timers).
local mmc_redis = {}

local Client = {}

function mmc_redis.new(options)
    options = options or {}
    local self = {
        host = options.host or "127.0.0.1",
        port = options.port or 6379,
        password = options.password or false, -- AUTH once per new connection, when set
        timeout = options.timeout or 2000, -- milliseconds, for connect, send and each read
        pool_size = options.pool_size or 32,
        idle = options.idle or 60000,    -- milliseconds an idle pooled connection is kept
    }
    return setmetatable(self, Client)
end

local function request(args)
    local parts = { "*", #args, "\r\n" }
    for _, arg in ipairs(args) do
        local text = tostring(arg)
        parts[#parts + 1] = "$" .. #text .. "\r\n" .. text .. "\r\n"
    end
    return table.concat(parts)
end

-- One answer (RESP2) from `sock`.
local function read_reply(sock)
    local line, err = sock:receive("*l")
    if not line then return nil, err end
    local kind, rest = line:sub(1, 1), line:sub(2)
    if kind == "+" then
        return rest
    elseif kind == "-" then
        return false, rest
    elseif kind == ":" then
        return tonumber(rest)
    elseif kind == "$" then
        local length = tonumber(rest)
        if length < 0 then return ngx.null end
        local data, read_err = sock:receive(length + 2)
        if not data then return nil, read_err end
        return data:sub(1, length)
    elseif kind == "*" then
        local count = tonumber(rest)
        if count < 0 then return ngx.null end
        local items = {}
        for i = 1, count do
            local item, item_err = read_reply(sock)
            if item == nil then return nil, item_err end
            items[i] = item
        end
        return items
    end
    return nil, "not a Redis answer"
end

local function connect(self)
    local sock = ngx.socket.tcp()
    sock:settimeout(self.timeout)
    local ok, err = sock:connect(self.host, self.port)
    if not ok then return nil, "cannot reach Redis: " .. tostring(err) end
    if self.password and sock:getreusedtimes() == 0 then
        sock:send(request { "AUTH", self.password })
        local answer, auth_err = read_reply(sock)
        if not answer then
            sock:close()
            return nil, "Redis refused AUTH: " .. tostring(auth_err)
        end
    end
    return sock
end

-- Sends one command and reads its answer.
function Client:command(...)
    local sock, err = connect(self)
    if not sock then return nil, err end
    local sent, send_err = sock:send(request { ... })
    if not sent then
        sock:close()
        return nil, "Redis: " .. tostring(send_err)
    end
    local answer, answer_err = read_reply(sock)
    if answer == nil then
        sock:close() -- an unread answer must not reach the next user of the connection
        return nil, "Redis: " .. tostring(answer_err)
    end
    sock:setkeepalive(self.idle, self.pool_size)
    return answer, answer_err
end

-- redis:set(...), redis:xadd(...): any command by its lowercase name.
Client.__index = function(_, name)
    if Client[name] then return Client[name] end
    return function(self, ...) return self:command(name:upper(), ...) end
end

return mmc_redis
