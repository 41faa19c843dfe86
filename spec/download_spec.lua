-- client:download(entry, path [, options]) and mmc.download: a recording fetched from the local
-- server's second HTTPS host (spec/mock/mock_recordings.py) with the one-time token downloadurls
-- gave. The bytes are checked against the SHA-256 the mock computed when it made the file; what
-- reached the download host is read from its records.
--
-- The disk cases (a full disk, a read-only folder) run one child Lua in a private mount
-- namespace (unshare --mount, as root, as trust_store_spec does) over a small tmpfs: nothing
-- outside that child changes. They fail, saying so, where the namespace cannot be made.
local mock = require "mock"
local mmc = require "mmc"
local files = require "files"

local URLS = "/v1/mmc/management/record/downloadurls"
local CONF = "a8a4d4e0b6c511ee9a0b5f2c1d3e4f50" -- the mock's recorded meeting

local function quote(text) return "'" .. tostring(text):gsub("'", [['\'']]) .. "'" end

local function run(command)
    local pipe = assert(io.popen(command .. " 2>&1; echo \"exit=$?\""))
    local output = pipe:read("*a")
    pipe:close()
    return output
end

local function sha256_of_file(path)
    local output = run("sha256sum " .. quote(path))
    return output:match("^(%x+)")
end

local function sha256_of_text(text)
    local name = files.write_temp(text)
    local hash = sha256_of_file(name)
    os.remove(name)
    return hash
end

-- `text` as a Lua pattern that matches exactly it.
local function literal(text) return (text:gsub("[%^%$%(%)%%%.%[%]%*%+%-%?]", "%%%0")) end

local function temp_dir()
    local pipe = assert(io.popen("mktemp -d \"${TMPDIR:-/tmp}/mmc-download.XXXXXX\""))
    local dir = pipe:read("*l")
    pipe:close()
    return dir
end

-- The names in a folder, sorted ("" when empty).
local function listing(dir)
    return (run("ls -A " .. quote(dir)):gsub("exit=0\n$", ""))
end

-- downloadurls' urls for the recorded meeting, by fileType. Not through mock.call: this body
-- is where the download tokens are handed out, so it holds them by design.
local function entries(client)
    local status, err, body = client:request("GET", URLS, { query = { confUUID = CONF } })
    assert.are.equal(200, status, err)
    local by_type = {}
    for _, entry in ipairs(body.recordUrls[1].urls) do by_type[entry.fileType] = entry end
    return by_type
end

-- What client:download(...) raised, called as a method, or nil when it did not raise.
local function raised(client, ...)
    local ok, err = pcall(function(...)
        local status = client:download(...) -- not a tail call: LuaJIT would lose the name
        return status
    end, ...)
    if not ok then return err end
end

describe("client:download", function()
    local client, dir, recording
    before_each(function()
        mock.setup()
        mock.clear_file_requests()
        client = mmc.new(mock.options())
        dir = temp_dir()
        recording = mock.recording_files()
    end)
    after_each(function()
        client:close()
        os.execute("rm -rf " .. quote(dir))
    end)

    it("writes the file whole, byte for byte, and returns status, nil, bytes", function()
        local hd = entries(client).Hd
        local path = dir .. "/Hd.mp4"
        local status, err, bytes = mock.call(client.download, client, hd, path)
        assert.are.same({ 200, nil, recording.files.Hd.size }, { status, err, bytes })
        assert.are.equal(64 * 1024 * 1024, bytes)
        assert.are.equal(recording.files.Hd.sha256, sha256_of_file(path))
        assert.are.equal("Hd.mp4\n", listing(dir)) -- no partial file left beside it
    end)

    it("writes the file whole with sync = true too (on disk before its rename)", function()
        local sd = entries(client).Sd
        local path = dir .. "/Sd.mp4"
        local status, err, bytes = mock.call(client.download, client, sd, path, { sync = true })
        assert.are.same({ 200, nil, recording.files.Sd.size }, { status, err, bytes })
        assert.are.equal(recording.files.Sd.sha256, sha256_of_file(path))
        assert.are.equal("Sd.mp4\n", listing(dir))
    end)

    it("streams to a function(chunk) when given one, in pieces, never the whole file at once", function()
        local sd = entries(client).Sd
        local chunks, largest = {}, 0
        local status, err, bytes = mock.call(client.download, client, sd, function(chunk)
            chunks[#chunks + 1] = chunk
            if #chunk > largest then largest = #chunk end
        end)
        assert.are.same({ 200, nil, recording.files.Sd.size }, { status, err, bytes })
        assert.are.equal(recording.files.Sd.sha256, sha256_of_text(table.concat(chunks)))
        assert.is_true(#chunks > 1 and largest <= 1024 * 1024, #chunks .. " chunks, the largest " .. largest)
    end)

    it("calls progress(done, total) as bytes move, at most about 10 times a second, and once at the end", function()
        local hd = entries(client).Hd
        local calls, started = {}, mock.now()
        local status, err = mock.call(client.download, client, hd, dir .. "/Hd.mp4", {
            progress = function(done, total) calls[#calls + 1] = { done, total, mock.now() } end,
        })
        local elapsed = mock.now() - started
        assert.are.equal(200, status, err)
        assert.is_true(#calls >= 1)
        assert.are.same({ recording.files.Hd.size, recording.files.Hd.size }, { calls[#calls][1], calls[#calls][2] })
        for i = 2, #calls do
            assert.is_true(calls[i][1] >= calls[i - 1][1], "done went backwards")
            if i < #calls then -- the last one is the end's, whenever it comes
                assert.is_true(calls[i][3] - calls[i - 1][3] >= 0.09, "two progress calls within 90 ms")
            end
        end
        assert.is_true(#calls <= elapsed * 10 + 2, #calls .. " calls in " .. elapsed .. " s")
    end)

    it("sends Authorization: <token> to the file's host, and nothing of the client's credentials", function()
        assert.are.equal(200, (mock.call(client.auth, client))) -- the client holds a token
        local aux = entries(client).Aux
        assert.are.equal(200, (mock.call(client.download, client, aux, dir .. "/Aux.mp4")))
        local seen = mock.file_requests()
        assert.are.equal(1, #seen)
        local headers = seen[1].headers
        assert.are.equal(aux.token, headers["authorization"])
        assert.is_nil(headers["x-access-token"])
        local access_token
        for _, r in ipairs(mock.requests()) do access_token = r.headers["x-access-token"] or access_token end
        assert.is_string(access_token)
        for name, value in pairs(headers) do
            for _, secret in ipairs { access_token, mock.APP_KEY, mock.APP_ID } do
                assert.is_nil(value:find(secret, 1, true), name .. " carries a client credential")
            end
        end
        assert.are.equal("GET", seen[1].method)
    end)

    it("refuses anything but https://, naming entry.url, before anything is sent", function()
        for _, url in ipairs { "http://127.0.0.1/a.mp4", "ftp://127.0.0.1/a.mp4", "file:///etc/passwd",
                               "https://user:secret@127.0.0.1/a.mp4", "https:///a.mp4", "127.0.0.1/a.mp4",
                               "https://127.0.0.1/a b.mp4" } do
            local err = raised(client, { url = url, token = "some-token-value" }, dir .. "/a.mp4")
            assert.matches("entry.url", err, 1, true)
        end
        assert.matches("entry must be a table", raised(client, "https://127.0.0.1/", dir .. "/a.mp4"), 1, true)
        assert.matches("entry.url must be a non-empty string", raised(client, { token = "abcdefgh" }, dir .. "/a"), 1, true)
        assert.matches("entry.token must be a string", raised(client, { url = "https://127.0.0.1/a" }, dir .. "/a"), 1, true)
        assert.matches("entry.token must be a string", raised(client, { url = "https://127.0.0.1/a", token = "a\r\nX: y" }, dir .. "/a"), 1, true)
        assert.matches("path must be a file path or a function", raised(client, { url = "https://127.0.0.1/a", token = "abc" }, 42), 1, true)
        assert.matches("options.speed is not an option of download", raised(client, { url = "https://127.0.0.1/a", token = "abc" }, dir .. "/a", { speed = 1 }), 1, true)
        assert.matches("options.max_size must be", raised(client, { url = "https://127.0.0.1/a", token = "abc" }, dir .. "/a", { max_size = 0.5 }), 1, true)
        assert.matches("options.ssl_verify must be a boolean", raised(client, { url = "https://127.0.0.1/a", token = "abc" }, dir .. "/a", { ssl_verify = "no" }), 1, true)
        assert.matches("options.sync must be a boolean", raised(client, { url = "https://127.0.0.1/a", token = "abc" }, dir .. "/a", { sync = 1 }), 1, true)
        assert.matches("options.sync needs a file path", raised(client, { url = "https://127.0.0.1/a", token = "abc" }, function() end, { sync = true }), 1, true)
        assert.are.equal(0, #mock.file_requests())
        assert.are.equal("", listing(dir))
    end)

    it("says a spent token is spent or expired and to ask downloadurls again, never showing it", function()
        local sd = entries(client).Sd
        assert.are.equal(200, (mock.call(client.download, client, sd, dir .. "/Sd.mp4")))
        local status, err, bytes = mock.call(client.download, client, sd, dir .. "/again.mp4")
        assert.are.equal(401, status)
        assert.matches("download token already used", err, 1, true)
        assert.matches("spent or expired", err, 1, true)
        assert.matches("ask downloadurls again", err, 1, true)
        assert.is_nil(err:find(sd.token, 1, true))
        assert.are.equal(0, bytes)
        assert.are.equal("Sd.mp4\n", listing(dir))
    end)

    it("says an expired token is expired, and leaves nothing at the path", function()
        local aux = entries(client).Aux
        mock.expire_download(aux.token)
        local status, err = mock.call(client.download, client, aux, dir .. "/Aux.mp4")
        assert.are.equal(401, status)
        assert.matches("download token expired", err, 1, true)
        assert.matches("ask downloadurls again", err, 1, true)
        assert.are.equal("", listing(dir))
    end)

    it("verifies TLS with the client's ca_file; ssl_verify = false turns it off for that one call only", function()
        local distrusting = mmc.new(mock.options { ca_file = mock.other_ca_file })
        local urls = entries(client)
        local status, err = mock.call(distrusting.download, distrusting, urls.Aux, dir .. "/Aux.mp4")
        assert.is_nil(status)
        assert.matches("^TLS failed", err)
        assert.are.equal(0, #mock.file_requests())
        assert.are.equal("", listing(dir))
        -- the token was not spent: nothing reached the host; explicitly unverified, it goes
        status, err = mock.call(distrusting.download, distrusting, urls.Aux, dir .. "/Aux.mp4", { ssl_verify = false })
        assert.are.same({ 200, nil }, { status, err })
        assert.are.equal(recording.files.Aux.sha256, sha256_of_file(dir .. "/Aux.mp4"))
        -- and the next call verifies again
        status, err = mock.call(distrusting.download, distrusting, urls.Sd, dir .. "/Sd.mp4")
        assert.is_nil(status)
        assert.matches("^TLS failed", err)
        distrusting:close()
    end)

    it("refuses a missing folder (or a file as folder) before anything is sent, naming it", function()
        local aux = entries(client).Aux
        local err = raised(client, aux, dir .. "/missing/Aux.mp4")
        assert.matches("output '" .. dir .. "/missing/Aux.mp4': its folder '" .. dir .. "/missing' cannot be written: No such file or directory", err, 1, true)
        files.write(dir .. "/plain", "x")
        err = raised(client, aux, dir .. "/plain/Aux.mp4")
        assert.matches("its folder '" .. dir .. "/plain' cannot be written: not a folder", err, 1, true)
        err = raised(client, aux, dir)
        assert.matches("output '" .. dir .. "': the path is a folder", err, 1, true)
        assert.are.equal(0, #mock.file_requests())
        -- the token is still good
        assert.are.equal(200, (mock.call(client.download, client, aux, dir .. "/Aux.mp4")))
    end)

    it("stops when the output function returns false or raises, and returns that as the error", function()
        local urls = entries(client)
        local calls = 0
        local status, err, bytes = mock.call(client.download, client, urls.Sd, function()
            calls = calls + 1
            if calls == 2 then return false end
        end)
        assert.are.equal(200, status)
        assert.matches("the output function returned false", err, 1, true)
        assert.are.equal(2, calls)
        assert.is_true(bytes > 0 and bytes < recording.files.Sd.size)
        status, err = mock.call(client.download, client, urls.Aux, function() error("no room here") end)
        assert.are.equal(200, status)
        assert.matches("the output function failed: .*no room here", err)
    end)

    it("stops when progress returns false, and leaves nothing at the path", function()
        local hd = entries(client).Hd
        local status, err = mock.call(client.download, client, hd, dir .. "/Hd.mp4", {
            progress = function() return false end,
        })
        assert.are.equal(200, status)
        assert.matches("the progress function returned false", err, 1, true)
        assert.are.equal("", listing(dir))
    end)

    it("refuses to be used again from inside its own callbacks, with a clear error", function()
        local urls = entries(client)
        local inner
        local status, err = mock.call(client.download, client, urls.Aux, function()
            inner = select(2, pcall(client.download, client, urls.Sd, dir .. "/Sd.mp4"))
            local _, request_err = pcall(client.request, client, "GET", URLS, { query = { confUUID = CONF } })
            inner = inner .. " / " .. request_err
            return false
        end)
        assert.are.equal(200, status)
        assert.matches("returned false", err, 1, true)
        assert.matches("the client is in a call already.*download's output or progress function", inner)
        assert.matches(" / .*the client is in a call already", inner)
        assert.are.equal(1, #mock.file_requests()) -- the inner download never went out
    end)

    it("stops at max_size, keeping nothing", function()
        local sd = entries(client).Sd
        local status, err = mock.call(client.download, client, sd, dir .. "/Sd.mp4", { max_size = 1024 * 1024 })
        assert.is_truthy(status == nil or status == 200)
        assert.matches("max_size", err, 1, true)
        assert.are.equal("", listing(dir))
    end)

    it("is also mmc.download, on the default client", function()
        local aux = entries(client).Aux
        mmc.configure(mock.options())
        local status, err, bytes = mock.call(mmc.download, aux, dir .. "/Aux.mp4")
        assert.are.same({ 200, nil, recording.files.Aux.size }, { status, err, bytes })
    end)

    -- A full disk: a 1 MiB tmpfs gets the 4 MiB Aux file. A read-only folder: a tmpfs mounted
    -- read-only (root writes anywhere else). Each in a child Lua in its own mount namespace.
    local function in_namespace(mount_options, entry)
        local chunk = string.format(
            "local mmc = require 'mmc' local c = mmc.new { ca_file = %q } "
                .. "print(pcall(c.download, c, { url = %q, token = %q }, %q))",
            mock.ca_file, entry.url, entry.token, dir .. "/Aux.mp4")
        local inner = string.format("mount -t tmpfs -o %s tmpfs %s && env %s -e %s; echo listing: $(ls -A %s)",
            mount_options, quote(dir), quote(arg and arg[-1] or "lua5.4"),
            quote("package.cpath=" .. string.format("%q", package.cpath) .. " " .. chunk), quote(dir))
        return run(mock.child_env() .. "unshare --mount sh -c " .. quote(inner))
    end

    it("leaves nothing behind when the disk fills up, and says so", function()
        local aux = entries(client).Aux
        local output = in_namespace("size=1m", aux)
        assert.matches("^true\t200\twriting '" .. literal(dir) .. "/Aux%.mp4': No space left on device; nothing was kept at '"
            .. literal(dir) .. "/Aux%.mp4'\t%d+\nlisting:\nexit=0\n$", output,
            "(root and unshare --mount are needed) " .. output)
        mock.assert_no_secret(output)
    end)

    it("refuses a folder it cannot write to before anything is sent, naming it", function()
        local aux = entries(client).Aux
        local output = in_namespace("ro,size=1m", aux)
        assert.matches("^false\t[^\n]*bad argument #3 to '%?' %(output '" .. literal(dir) .. "/Aux%.mp4': its folder '"
            .. literal(dir) .. "' cannot be written: Read%-only file system%)\nlisting:\nexit=0\n$", output,
            "(root and unshare --mount are needed) " .. output)
        assert.are.equal(0, #mock.file_requests())
    end)
end)
