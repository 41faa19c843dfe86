-- client:request's shapes of one call's answer: options.raw (the body as it came),
-- options.output (streamed to a file renamed into place when complete, or to a function),
-- options.max_size, and options.progress; every bad input raises naming the option.
local mock = require "mock"
local mmc = require "mmc"

local CONFERENCES = "/v1/mmc/management/conferences"

-- A fresh empty folder.
local function new_folder()
    local path = os.tmpname()
    os.remove(path)
    assert(os.execute("mkdir -m 700 '" .. path .. "'"))
    return path
end

-- The names in a folder, sorted, hidden ones included.
local function entries(folder)
    local pipe = assert(io.popen("ls -A '" .. folder .. "'"))
    local names = {}
    for name in pipe:lines() do names[#names + 1] = name end
    pipe:close()
    return names
end

local function read_file(path)
    local file = io.open(path, "rb")
    if not file then return nil end
    local text = file:read("*a")
    file:close()
    return text
end

-- What client:request(...) raised (called as a method), or nil.
local function raised(client, ...)
    local ok, err = pcall(function(...)
        local status = client:request(...)
        return status
    end, ...)
    if not ok then return err end
end

-- An answer of `size` bytes for the next GET of CONFERENCES (a JSON string, so it is valid
-- JSON too).
local function big_answer(size, status)
    local body = '"' .. string.rep("x", size - 2) .. '"'
    mock.fail({ path = CONFERENCES, status = status or 200, body = body, count = 1 })
    return body
end


-- status, err and body of a call (its fourth value, the answer's headers, is request_spec's)
local function results3(status, err, body) return { status, err, body } end

describe("options.raw", function()
    local client
    before_each(function()
        mock.setup()
        client = mmc.new(mock.options())
    end)
    after_each(function() mock.clear_faults() end)

    it("returns a JSON body as the string that arrived, undecoded", function()
        local status, err, body = mock.call(client.request, client, "GET", CONFERENCES, { raw = true })
        assert.are.equal(200, status)
        assert.is_nil(err)
        assert.are.equal("string", type(body))
        assert.are.equal(1000, mock.json.decode(body).count) -- the local server lists 1,000 meetings
    end)

    it("returns a body that is not JSON, with no error, whatever its type", function()
        mock.fail({ path = CONFERENCES, status = 200, body = "plain text, not JSON", content_type = "text/plain" })
        local status, err, body = client:request("GET", CONFERENCES, { raw = true })
        assert.are.same({ 200, nil, "plain text, not JSON" }, { status, err, body })
        -- without raw, the same answer is an error
        mock.fail({ path = CONFERENCES, status = 200, body = "plain text, not JSON", content_type = "text/plain" })
        local _, plain_err = client:request("GET", CONFERENCES)
        assert.matches("not JSON", plain_err)
    end)

    it("returns an error answer's body as a string too, with the error", function()
        local status, err, body = client:request("GET", CONFERENCES .. "/nothing-here", { raw = true })
        assert.are.equal(404, status)
        assert.matches("no such API", err)
        assert.are.equal("string", type(body))
        assert.matches('"error_code"', body)
    end)

    it("returns an empty body as an empty string", function()
        mock.fail({ path = CONFERENCES, status = 200, body = "" })
        assert.are.same({ 200, nil, "" }, results3(client:request("GET", CONFERENCES, { raw = true })))
    end)
end)

describe("options.output", function()
    local client, folder
    before_each(function()
        mock.setup()
        client = mmc.new(mock.options())
        folder = new_folder()
    end)
    after_each(function()
        mock.clear_faults()
        os.execute("rm -rf '" .. folder .. "'")
    end)

    it("writes a 2xx body to a file and returns the number of bytes", function()
        local sent = big_answer(300000)
        local path = folder .. "/answer.json"
        local status, err, bytes = mock.call(client.request, client, "GET", CONFERENCES, { output = path })
        assert.are.same({ 200, nil, #sent }, { status, err, bytes })
        assert.are.equal(sent, read_file(path))
        assert.are.same({ "answer.json" }, entries(folder))
    end)

    it("replaces a file already at the path only once the body is complete", function()
        local path = folder .. "/answer.json"
        local old = assert(io.open(path, "wb"))
        old:write("old contents")
        old:close()
        mock.fail({ path = CONFERENCES, status = 200, body = '"new"' })
        assert.are.same({ 200, nil, 5 }, results3(client:request("GET", CONFERENCES, { output = path })))
        assert.are.equal('"new"', read_file(path))
    end)

    it("passes the body to a function, chunk by chunk", function()
        local sent = big_answer(300000)
        local chunks = {}
        local status, err, bytes = client:request("GET", CONFERENCES, {
            output = function(chunk) chunks[#chunks + 1] = chunk end,
        })
        assert.are.same({ 200, nil, #sent }, { status, err, bytes })
        assert.are.equal(sent, table.concat(chunks))
        assert.is_true(#chunks > 1)
    end)

    it("keeps an error answer's body out of the file: it is the error, and nothing is written", function()
        local path = folder .. "/answer.json"
        mock.fail({ path = CONFERENCES, status = 403, body = '{"error_code":"MMC.111070005","error_msg":"no right"}' })
        local status, err, body = client:request("GET", CONFERENCES, { output = path })
        assert.are.equal(403, status)
        assert.matches("MMC.111070005", err)
        assert.are.equal("MMC.111070005", body.error_code)
        assert.are.same({}, entries(folder))
        local got = {}
        mock.fail({ path = CONFERENCES, status = 500, body = '{"error_code":"X","error_msg":"down"}' })
        local status2 = client:request("GET", CONFERENCES, {
            output = function(chunk) got[#got + 1] = chunk end, retry = false,
        })
        assert.are.equal(500, status2)
        assert.are.same({}, got)
    end)

    it("stops when the function returns false: nothing kept, an error saying so", function()
        big_answer(300000)
        local calls = 0
        local status, err = client:request("GET", CONFERENCES, {
            output = function() calls = calls + 1; return false end,
        })
        assert.is_nil(status)
        assert.are.equal("stopped: options.output returned false", err)
        assert.are.equal(1, calls)
        -- the client goes on working
        assert.are.equal(200, (client:request("GET", CONFERENCES)))
    end)

    it("stops when the function raises, with what it raised", function()
        big_answer(300000)
        local status, err = client:request("GET", CONFERENCES, {
            output = function() error("disk on fire") end,
        })
        assert.is_nil(status)
        assert.matches("^stopped: options.output raised: .*disk on fire", err)
    end)

    it("does not let the function use the client it is called from", function()
        big_answer(1000)
        local inner
        local status, err = client:request("GET", CONFERENCES, {
            output = function()
                local ok, message = pcall(client.request, client, "GET", CONFERENCES)
                inner = ok and "no error" or message
                return false
            end,
        })
        assert.is_nil(status)
        assert.matches("stopped", err)
        assert.matches("in a call already", inner)
        local ok, close_err = pcall(function()
            big_answer(1000)
            client:request("GET", CONFERENCES, { output = function() client:close() end })
        end)
        assert.is_true(ok, close_err)
        assert.are.equal(200, (client:request("GET", CONFERENCES))) -- still open
        -- another client is fine
        local other, count = mmc.new(mock.options()), nil
        assert.are.equal(200, (client:request("GET", CONFERENCES, {
            output = function() count = select(3, other:request("GET", CONFERENCES)).count end,
        })))
        assert.are.equal(1000, count)
    end)

    it("stops past max_size, leaving nothing behind", function()
        big_answer(300000)
        local path = folder .. "/capped.json"
        local status, err = client:request("GET", CONFERENCES, { output = path, max_size = 100000 })
        assert.is_nil(status)
        assert.are.equal("output exceeds max_size of 100000 bytes", err)
        assert.are.same({}, entries(folder))
        -- exactly max_size is fine
        local sent = big_answer(1000)
        assert.are.same({ 200, nil, 1000 }, results3(client:request("GET", CONFERENCES, { output = path, max_size = #sent })))
    end)

    it("streams past the client's max_body (the cap of a body in memory)", function()
        local small = mmc.new(mock.options({ max_body = 10000 }))
        local sent = big_answer(300000)
        local path = folder .. "/big.json"
        assert.are.same({ 200, nil, #sent }, results3(small:request("GET", CONFERENCES, { output = path })))
        big_answer(300000)
        local status, err = small:request("GET", CONFERENCES)
        assert.is_nil(status)
        assert.matches("too large", err)
    end)

    it("leaves nothing at the path, nor beside it, when the call fails", function()
        local path = folder .. "/late.json"
        mock.delay(2, 1)
        local quick = mmc.new(mock.options({ timeout = 0.5, retries = 0 }))
        local status, err = quick:request("GET", CONFERENCES, { output = path })
        assert.is_nil(status)
        assert.matches("timed out", err)
        assert.are.same({}, entries(folder))
    end)

    it("leaves nothing behind when the disk is full", function()
        -- A child process whose files may not grow past 32 KiB (SIGXFSZ ignored, so the write
        -- fails with EFBIG, as on a full disk).
        local sent = big_answer(300000)
        local path = folder .. "/full.json"
        local chunk = "package.cpath='" .. package.cpath .. "' local mmc = require 'mmc' " ..
            "local c = mmc.new{app_id='" .. mock.APP_ID .. "', app_key='" .. mock.APP_KEY ..
            "', endpoint='" .. mock.endpoint .. "', ca_file='" .. mock.ca_file .. "'} " ..
            "print(c:request('GET', '" .. CONFERENCES .. "', { output = '" .. path .. "' }))"
        local command = string.format("%ssh -c 'ulimit -f 64; trap \"\" XFSZ; exec \"$0\" -e \"$1\"' %s %q 2>&1",
            mock.child_env(), arg and arg[-1] or "lua5.4", chunk)
        local pipe = assert(io.popen(command))
        local output = pipe:read("*a")
        pipe:close()
        assert.matches("^nil\twriting '" .. path:gsub("%p", "%%%0") .. "': File too large", output)
        assert.are.same({}, entries(folder))
        assert.is_true(#sent > 64 * 1024)
    end)

    it("writes the file to disk (fsync) before its rename with sync = true, and not without", function()
        -- the system calls of a child that makes the call, as strace sees them
        local function calls_of(sync)
            local path = folder .. "/synced-" .. tostring(sync) .. ".json"
            local trace = os.tmpname()
            local chunk = "package.cpath='" .. package.cpath .. "' local mmc = require 'mmc' " ..
                "local c = mmc.new{app_id='" .. mock.APP_ID .. "', app_key='" .. mock.APP_KEY ..
                "', endpoint='" .. mock.endpoint .. "', ca_file='" .. mock.ca_file .. "'} " ..
                "print(c:request('GET', '" .. CONFERENCES .. "', { output = '" .. path ..
                "', sync = " .. tostring(sync) .. " }))"
            local command = string.format("%sstrace -f -qq -e trace=fsync,fdatasync,rename,renameat,renameat2 -o %s %s -e %q 2>&1",
                mock.child_env(), trace, arg and arg[-1] or "lua5.4", chunk)
            local pipe = assert(io.popen(command))
            local output = pipe:read("*a")
            pipe:close()
            local log = read_file(trace) or ""
            os.remove(trace)
            assert.matches("^200\tnil\t%d+", output)
            assert.is_not_nil(read_file(path), "no file at " .. path)
            return log
        end
        local synced = calls_of(true)
        local fsync_at, rename_at = synced:find("fsync%("), synced:find("rename[a-z2]*%(")
        assert.is_not_nil(fsync_at, synced)
        assert.is_not_nil(rename_at, synced)
        assert.is_true(fsync_at < rename_at, synced)
        local plain = calls_of(false)
        assert.is_nil(plain:find("fsync%(") or plain:find("fdatasync%("), plain)
        assert.matches("rename[a-z2]*%(", plain)
    end)

    it("refuses bad outputs before anything is sent, naming them", function()
        mock.setup()
        local function check(options, pattern)
            local err = raised(client, "GET", CONFERENCES, options)
            assert.is_not_nil(err, "no error for " .. pattern)
            assert.matches(pattern, err)
        end
        check({ output = 42 }, "bad argument #3 to '[^']*' %(options.output must be a file path %(a string%) or a function%(chunk%), got number")
        check({ output = true }, "options.output must be a file path .* got boolean")
        check({ output = {} }, "options.output must be a file path .* got table")
        check({ output = "" }, "options.output must be a file path: not empty")
        check({ output = "/no/such/folder/x.json" },
            "output '/no/such/folder/x.json': its folder '/no/such/folder' cannot be written: No such file or directory")
        check({ output = folder }, "output '" .. folder:gsub("%p", "%%%0") .. "': the path is a folder")
        check({ output = folder .. "/" }, "the path names a folder")
        -- /proc takes no new file, even from root
        check({ output = "/proc/mmc-output.json" }, "output '/proc/mmc%-output.json'")
        check({ output = folder .. "/x", max_size = 0 }, "options.max_size must be a whole number of bytes, at least 1")
        check({ output = folder .. "/x", max_size = 1.5 }, "options.max_size must be a whole number")
        check({ output = folder .. "/x", max_size = "10" }, "options.max_size must be a whole number")
        check({ max_size = 10 }, "options.max_size needs options.output")
        check({ output = folder .. "/x", raw = true }, "options.raw and options.output cannot go together")
        check({ raw = "yes" }, "options.raw must be a boolean, got string")
        check({ progress = "fast" }, "options.progress must be a function%(done, total%), got string")
        check({ progress = 1 }, "options.progress must be a function%(done, total%), got number")
        check({ output = folder .. "/x", sync = "yes" }, "options.sync must be a boolean, got string")
        check({ output = function() end, sync = true }, "options.sync needs options.output to be a file path")
        check({ sync = true }, "options.sync needs options.output to be a file path")
        assert.are.same({}, mock.requests_to(CONFERENCES))
        assert.are.same({}, entries(folder))
    end)

    it("is refused in request_all, naming the request", function()
        for _, name in ipairs({ "output", "raw", "progress", "form", "max_size" }) do
            local ok, err = pcall(client.request_all, client, {
                { "GET", CONFERENCES },
                { "GET", CONFERENCES, { [name] = "x" } },
            })
            assert.is_false(ok)
            assert.matches("requests%[2%]%.options%." .. name .. " is not available in request_all: use client:request", err)
        end
    end)
end)

describe("options.progress", function()
    local client
    before_each(function()
        mock.setup()
        client = mmc.new(mock.options())
    end)
    after_each(function() mock.clear_faults() end)

    it("is told the bytes as they arrive, at most about 10 times a second, and once at the end", function()
        local sent = big_answer(900000)
        local calls = {}
        local started = mock.now()
        local status, _, bytes = client:request("GET", CONFERENCES, {
            output = function() end,
            progress = function(done, total) calls[#calls + 1] = { done, total } end,
        })
        local seconds = mock.now() - started
        assert.are.equal(200, status)
        assert.are.equal(#sent, bytes)
        assert.is_true(#calls >= 1)
        assert.is_true(#calls <= math.floor(seconds * 10) + 2, #calls .. " calls in " .. seconds .. " s")
        assert.are.same({ #sent, #sent }, calls[#calls])
        for i = 2, #calls do assert.is_true(calls[i][1] >= calls[i - 1][1]) end
    end)

    it("stops the transfer when it returns false, and its errors are caught", function()
        big_answer(900000)
        local status, err = client:request("GET", CONFERENCES, {
            output = function() end,
            progress = function() return false end,
        })
        assert.is_nil(status)
        assert.are.equal("stopped: options.progress returned false", err)
        big_answer(900000)
        status, err = client:request("GET", CONFERENCES, {
            output = function() end,
            progress = function() error("progress bar broke") end,
        })
        assert.is_nil(status)
        assert.matches("^stopped: options.progress raised: .*progress bar broke", err)
        -- false at the final call too: the file is not kept
        local folder = new_folder()
        big_answer(1000)
        status, err = client:request("GET", CONFERENCES, {
            output = folder .. "/x.json",
            progress = function(done, total) return done < total end,
        })
        assert.is_nil(status)
        assert.are.equal("stopped: options.progress returned false", err)
        assert.are.same({}, entries(folder))
        os.execute("rm -rf '" .. folder .. "'")
    end)

    it("works on a body kept in memory too", function()
        local last
        local status, _, body = client:request("GET", CONFERENCES, {
            progress = function(done, total) last = { done, total } end,
        })
        assert.are.equal(200, status)
        assert.are.equal(1000, body.count)
        assert.are.equal(last[1], last[2])
        assert.is_true(last[1] > 0)
    end)
end)
