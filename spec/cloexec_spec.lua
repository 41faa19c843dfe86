-- After a call the client keeps its connection to the server open for the next one. A process
-- the program starts afterwards (os.execute, io.popen) must not inherit that socket: it would
-- keep the connection to Huawei alive after the client closed it, and could write on it.
local mock = require "mock"
local mmc = require "mmc"

local API_PORT = tonumber(mock.endpoint:match(":(%d+)$"))

-- The socket inode of the TCP connection from 127.0.0.1:`local_port` to the mock's API port,
-- from /proc/net/tcp.
local function connection_inode(local_port)
    local here_wanted = string.format(":%04X", local_port)
    local there_wanted = string.format(":%04X", API_PORT)
    for line in io.lines("/proc/net/tcp") do
        local here, there, inode = line:match("^%s*%d+:%s+(%x+:%x+)%s+(%x+:%x+)%s+%x%x%s+%S+%s+%S+%s+%S+%s+%d+%s+%d+%s+(%d+)")
        if here and here:sub(-5) == here_wanted and there:sub(-5) == there_wanted then return inode end
    end
    return nil
end

-- The socket inodes among the open descriptors that `command` (run by sh) lists with ls.
local function socket_inodes(command)
    local pipe = assert(io.popen(mock.child_env() .. command))
    local inodes = {}
    for line in pipe:lines() do
        local inode = line:match("socket:%[(%d+)%]")
        if inode then inodes[inode] = true end
    end
    pipe:close()
    return inodes
end

local function own_pid()
    local file = assert(io.open("/proc/self/stat"))
    local pid = file:read("*l"):match("^(%d+)")
    file:close()
    return pid
end

describe("the client's kept-alive connection", function()
    before_each(function() mock.setup() end)

    it("is not inherited by a child process started after a call (close-on-exec)", function()
        local client = mmc.new(mock.options())
        assert.are.equal(200, (mock.call(client.set_webhook_status, client, mock.WEBHOOK_ID, mmc.LOCK)))
        local port = math.floor(mock.requests_to(mock.CHANGE_STATUS)[1].client_port)
        local inode = connection_inode(port)
        assert.is_not_nil(inode, "no connection from port " .. port .. " in /proc/net/tcp")
        -- This process holds it (ls lists this process's descriptors, not its own)...
        assert.is_true(socket_inodes("ls -l /proc/" .. own_pid() .. "/fd")[inode] == true,
            "the client's connection is not open in this process")
        -- ...a child does not: neither the shell io.popen starts nor what that shell runs.
        assert.is_nil(socket_inodes("ls -l /proc/self/fd")[inode], "a child process inherited the connection")
        assert.is_nil(socket_inodes("sh -c 'ls -l /proc/$$/fd'")[inode], "the shell inherited the connection")
        -- The connection is still the client's: the next call reuses it.
        assert.are.equal(200, (mock.call(client.set_webhook_status, client, mock.WEBHOOK_ID, mmc.DISABLE)))
        assert.are.equal(port, mock.requests_to(mock.CHANGE_STATUS)[2].client_port)
        client:close()
    end)

    it("nor is the connection to a proxy (issue 16, 4.6: mmc opens both sockets)", function()
        local connect_proxy = require "connect_proxy"
        local proxy = connect_proxy.start()
        local ok, failure = pcall(function()
            local client = mmc.new(mock.options { proxy = "http://127.0.0.1:" .. proxy.port })
            assert.are.equal(200, (mock.call(client.set_webhook_status, client, mock.WEBHOOK_ID, mmc.LOCK)))
            local wanted, inode = string.format(":%04X", tonumber(proxy.port)), nil
            local mine = socket_inodes("ls -l /proc/" .. own_pid() .. "/fd")
            for line in io.lines("/proc/net/tcp") do
                local there, found = line:match("^%s*%d+:%s+%x+:%x+%s+(%x+:%x+)%s+%x%x%s+%S+%s+%S+%s+%S+%s+%d+%s+%d+%s+(%d+)")
                if there and there:sub(-5) == wanted and mine[found] then inode = found end
            end
            assert.is_not_nil(inode, "this process holds no connection to the proxy")
            assert.is_nil(socket_inodes("sh -c 'ls -l /proc/$$/fd'")[inode], "the shell inherited the proxy connection")
            client:close()
        end)
        proxy:stop()
        assert(ok, failure)
    end)
end)
