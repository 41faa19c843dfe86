-- A forked child that reuses the descriptor numbers of what it inherited (issue 16, 4.2).
--
-- After fork(), a child may close the descriptors it inherited and open files that take the
-- same numbers: the client's connection to the server, or libcurl's own socketpair. When the
-- child then uses (or closes) the inherited client, mmc must leave those files alone: it lets
-- go only of the descriptors that are still the sockets it opened (same st_dev and st_ino), and
-- abandons the inherited libcurl handle rather than clean it up (which would close the
-- socketpair's numbers). The child's files keep every line written to them and stay open.
--
-- LuaJIT's ffi forks, closes and opens from Lua, so this spec runs in the suite's LuaJIT run
-- (scripts/test runs every spec under each Lua); under the other Luas it is pending, saying so.
local mock = require "mock"
local mmc = require "mmc"
local has_ffi, ffi = pcall(require, "ffi")

local O_WRONLY, O_CREAT, O_APPEND = 1, 64, 1024 -- Linux's values
local F_GETFD = 1

if has_ffi then
    ffi.cdef [[
        int fork(void);
        int close(int fd);
        int open(const char *path, int flags, int mode);
        int dup2(int old, int new);
        int waitpid(int pid, int *status, int options);
        void _exit(int status);
        long write(int fd, const void *data, size_t length);
        int fcntl(int fd, int command, ...);
    ]]
end

local API_PORT = tonumber(mock.endpoint:match(":(%d+)$"))

-- The descriptors of this process that are sockets: { [fd] = inode }.
local function socket_descriptors()
    local found = {}
    local pipe = assert(io.popen("ls -l /proc/" .. assert(io.open("/proc/self/stat")):read("*l"):match("^(%d+)")
        .. "/fd 2>/dev/null"))
    for line in pipe:lines() do
        local fd, inode = line:match("(%d+) %-> socket:%[(%d+)%]")
        if fd then found[tonumber(fd)] = inode end
    end
    pipe:close()
    return found
end

-- The TCP connection from 127.0.0.1:`local_port` to the mock's API port, from /proc/net/tcp:
-- its inode, and whether it is still established on this end (one the server closed would be
-- CLOSE_WAIT here); nil when there is none.
local function connection(local_port)
    local here_wanted, there_wanted = string.format(":%04X", local_port), string.format(":%04X", API_PORT)
    for line in io.lines("/proc/net/tcp") do
        local here, there, state, inode = line:match("^%s*%d+:%s+(%x+:%x+)%s+(%x+:%x+)%s+(%x%x)%s+%S+%s+%S+%s+%S+%s+%d+%s+%d+%s+(%d+)")
        if here and here:sub(-5) == here_wanted and there:sub(-5) == there_wanted then
            return inode, state == "01"
        end
    end
end

-- Puts a file opened for appending on descriptor `fd` (closed first, as a child would).
local function reopen_as_file(fd, path)
    ffi.C.close(fd)
    local opened = ffi.C.open(path, O_WRONLY + O_CREAT + O_APPEND, 420)
    assert(opened >= 0, "open failed")
    if opened ~= fd then
        assert(ffi.C.dup2(opened, fd) == fd)
        ffi.C.close(opened)
    end
end

local function write_line(fd, text)
    local line = text .. "\n"
    return ffi.C.write(fd, line, #line) == #line and ffi.C.fcntl(fd, F_GETFD) ~= -1
end

-- Runs `child` (which returns true when all went well) in a forked process; whether it did.
local function in_child(child)
    io.stdout:flush()
    io.stderr:flush()
    local pid = ffi.C.fork()
    if pid == 0 then
        local ok, fine = pcall(child)
        if not ok then io.stderr:write("child: ", tostring(fine), "\n") end
        io.stderr:flush()
        ffi.C._exit(ok and fine and 0 or 1) -- never the parent's exit handlers
    end
    assert(pid > 0, "fork failed")
    local status = ffi.new("int[1]")
    assert(ffi.C.waitpid(pid, status, 0) == pid)
    return status[0] == 0
end

local function read_lines(path)
    local lines = {}
    for line in io.lines(path) do lines[#lines + 1] = line end
    return lines
end

local EXPECTED = { "before the call", "after the first call", "after the second call", "after close" }

-- In the child: writes a line to each of `fds`, calls the inherited client twice and closes
-- it, writing a line after each step; true when every write and every call succeeded.
local function use_inherited(client, fds)
    local ok = true
    local function mark(text)
        for _, fd in ipairs(fds) do ok = write_line(fd, text) and ok end
    end
    mark(EXPECTED[1])
    ok = client:set_webhook_status(mock.WEBHOOK_ID, mmc.DISABLE) == 200 and ok
    mark(EXPECTED[2])
    ok = client:set_webhook_status(mock.WEBHOOK_ID, mmc.LOCK) == 200 and ok
    mark(EXPECTED[3])
    client:close()
    mark(EXPECTED[4])
    return ok
end

describe("a forked child that reuses the inherited descriptors' numbers", function()
    if not has_ffi then
        pending("needs LuaJIT's ffi (fork, close, open from Lua): the suite's LuaJIT run runs it")
        return
    end
    local dir
    before_each(function()
        mock.setup()
        dir = os.tmpname()
        os.remove(dir)
        assert(os.execute("mkdir -p " .. dir))
    end)
    after_each(function() os.execute("rm -rf " .. dir) end)

    it("keeps the child's file on the number of the client's connection", function()
        local client = mmc.new(mock.options())
        assert.are.equal(200, (mock.call(client.set_webhook_status, client, mock.WEBHOOK_ID, mmc.ENABLE)))
        local port = mock.requests_to(mock.CHANGE_STATUS)[1].client_port
        local inode = assert(connection(port), "no connection from port " .. port)
        local fd
        for number, socket_inode in pairs(socket_descriptors()) do
            if socket_inode == inode then fd = number end
        end
        assert.is_not_nil(fd, "the connection's descriptor")
        local path = dir .. "/connection.log"
        local child_ok = in_child(function()
            reopen_as_file(fd, path)
            return use_inherited(client, { fd })
        end)
        assert.are.same(EXPECTED, read_lines(path))
        assert.is_true(child_ok, "the child's calls or writes failed")
        -- and the parent's connection was left alone: its next call goes over it
        assert.are.equal(200, (mock.call(client.set_webhook_status, client, mock.WEBHOOK_ID, mmc.ENABLE)))
        local puts = mock.requests_to(mock.CHANGE_STATUS)
        assert.are.equal(port, puts[#puts].client_port)
        client:close()
    end)

    it("gives a child's request_all batch connections of its own, and keeps the parent's", function()
        local ids = { "hook01", "hook02" }
        mock.setup { webhook_ids = ids }
        local client = mmc.new(mock.options())
        local function batch()
            return client:request_all({
                { "PUT", mock.CHANGE_STATUS, { query = { id = ids[1], status = 0 } } },
                { "PUT", mock.CHANGE_STATUS, { query = { id = ids[2], status = 0 } } },
            }, { concurrency = 2 })
        end
        local results = batch()
        assert.are.equal(200, results[1].status, results[1].err)
        assert.are.equal(200, results[2].status, results[2].err)
        local parent_ports = {}
        for _, put in ipairs(mock.requests_to(mock.CHANGE_STATUS)) do parent_ports[put.client_port] = true end
        -- the descriptor of one of the batch's connections, which the child puts a file on
        local fd
        for port in pairs(parent_ports) do
            local inode = connection(port)
            for number, socket_inode in pairs(socket_descriptors()) do
                if socket_inode == inode then fd = number end
            end
        end
        assert.is_not_nil(fd, "a connection's descriptor")
        local path = dir .. "/batch.log"
        local seen = #mock.requests_to(mock.CHANGE_STATUS)
        local child_ok = in_child(function()
            reopen_as_file(fd, path)
            local ok = write_line(fd, "before the batch")
            local got = batch()
            ok = write_line(fd, "after the batch") and ok
            return ok and got[1].status == 200 and got[2].status == 200
        end)
        assert.are.same({ "before the batch", "after the batch" }, read_lines(path))
        assert.is_true(child_ok, "the child's batch or writes failed")
        local puts = mock.requests_to(mock.CHANGE_STATUS)
        assert.are.equal(seen + 2, #puts)
        for i = seen + 1, #puts do
            assert.is_nil(parent_ports[puts[i].client_port], "the child used a parent's connection")
        end
        -- the parent's connections are all still open (its first batch may have run both calls
        -- on one: the second can find the first's connection free again), and its next calls,
        -- one after the other, go over them
        for port in pairs(parent_ports) do
            assert.is_true(select(2, connection(port)), "the parent's connection from port " .. port .. " is gone")
        end
        results = client:request_all({
            { "PUT", mock.CHANGE_STATUS, { query = { id = ids[1], status = 1 } } },
            { "PUT", mock.CHANGE_STATUS, { query = { id = ids[2], status = 1 } } },
        }, { concurrency = 1 })
        assert.are.equal(200, results[1].status, results[1].err)
        assert.are.equal(200, results[2].status, results[2].err)
        puts = mock.requests_to(mock.CHANGE_STATUS)
        for i = #puts - 1, #puts do assert.is_true(parent_ports[puts[i].client_port], "a new connection") end
        client:close()
    end)

    it("keeps the child's files on the numbers of libcurl's socketpair", function()
        local before = socket_descriptors()
        local client = mmc.new(mock.options())
        assert.are.equal(200, (mock.call(client.set_webhook_status, client, mock.WEBHOOK_ID, mmc.ENABLE)))
        local port = mock.requests_to(mock.CHANGE_STATUS)[1].client_port
        local connection_of_call = connection(port)
        local pair = {} -- the sockets the call opened that are not its connection
        for fd, inode in pairs(socket_descriptors()) do
            if not before[fd] and inode ~= connection_of_call then pair[#pair + 1] = fd end
        end
        table.sort(pair)
        assert.are.equal(2, #pair, "libcurl's socketpair: " .. table.concat(pair, ", "))
        local child_ok = in_child(function()
            for i, fd in ipairs(pair) do reopen_as_file(fd, dir .. "/pair" .. i .. ".log") end
            return use_inherited(client, pair)
        end)
        for i = 1, #pair do assert.are.same(EXPECTED, read_lines(dir .. "/pair" .. i .. ".log")) end
        assert.is_true(child_ok, "the child's calls or writes failed")
        client:close()
    end)
end)
