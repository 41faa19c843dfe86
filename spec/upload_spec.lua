-- options.form and mmc.file: multipart/form-data uploads, files streamed from disk. The local
-- server's four upload routes check the body strictly and record each part's size and
-- sha256, which the specs compare with what was sent.
local mock = require "mock"
local mmc = require "mmc"

local MATERIALS = "/v1/usg/sss/materials"
local PROFILE_IMAGES = "/v1/usg/abs/profile-images"
local WEBINAR_FILE = "/v1/wss/webinar/open/res/file"

local function write_file(path, bytes)
    local file = assert(io.open(path, "wb"))
    file:write(bytes)
    file:close()
end

-- sha256 of a file, by the system's sha256sum (independent of the mock and of mmc).
local function sha256_of(path)
    local pipe = assert(io.popen("sha256sum '" .. path .. "'"))
    local line = pipe:read("*l")
    pipe:close()
    return line:match("^(%x+)")
end

local function raised(client, ...)
    local ok, err = pcall(function(...)
        local status = client:request(...)
        return status
    end, ...)
    if not ok then return err end
end

local function last_request(path)
    local found = mock.requests_to(path)
    return found[#found]
end

describe("options.form", function()
    local client, folder, image
    before_each(function()
        mock.setup()
        client = mmc.new(mock.options())
        folder = os.tmpname()
        os.remove(folder)
        assert(os.execute("mkdir -m 700 '" .. folder .. "'"))
        image = folder .. "/logo.png"
        local bytes = {}
        for i = 1, 5000 do bytes[i] = string.char(i % 256) end
        write_file(image, "\137PNG\r\n\26\n" .. table.concat(bytes))
    end)
    after_each(function()
        mock.clear_faults()
        os.execute("rm -rf '" .. folder .. "'")
    end)

    it("uploads a material: the bytes that arrive are the file's", function()
        local status, err, body = mock.call(client.request, client, "POST", MATERIALS, {
            form = { file = mmc.file(image, "image/png") },
        })
        assert.are.same({ 200, nil, nil }, { status, err, body })
        local parts = last_request(MATERIALS).parts
        assert.are.equal(1, #parts)
        assert.are.equal("file", parts[1].name)
        assert.are.equal("logo.png", parts[1].filename)
        assert.are.equal("image/png", parts[1].content_type)
        assert.are.equal(5008, parts[1].size)
        assert.are.equal(sha256_of(image), parts[1].sha256)
    end)

    it("sets a profile image, the user's too (PUT), with a filename of its own", function()
        assert.are.equal(200, (client:request("POST", PROFILE_IMAGES, {
            form = { file = mmc.file(image, "image/png", "me.png") },
        })))
        assert.are.equal("me.png", last_request(PROFILE_IMAGES).parts[1].filename)
        assert.are.equal(200, (client:request("PUT", PROFILE_IMAGES .. "/user-7", {
            form = { file = mmc.file(image, "image/jpeg") },
        })))
        local parts = last_request(PROFILE_IMAGES .. "/user-7").parts
        assert.are.equal("image/jpeg", parts[1].content_type)
        assert.are.equal(sha256_of(image), parts[1].sha256)
    end)

    it("uploads a webinar file, with libcurl's guess of its type, and gets the answer", function()
        local doc = folder .. "/slides.bin"
        write_file(doc, string.rep("slide ", 100000))
        local status, err, body = client:request("PUT", WEBINAR_FILE, { form = { file = mmc.file(doc) } })
        assert.are.same({ 200, nil }, { status, err })
        assert.matches("^%x+$", body.fileId)
        local part = last_request(WEBINAR_FILE).parts[1]
        assert.are.equal("application/octet-stream", part.content_type)
        assert.are.equal(600000, part.size)
        assert.are.equal(sha256_of(doc), part.sha256)
    end)

    it("sends text fields as parts (the server refuses names it does not know)", function()
        local status, err = client:request("PUT", WEBINAR_FILE, {
            form = { file = mmc.file(image), title = "Q4 slides", note = "" },
        })
        assert.are.equal(400, status)
        assert.matches("unknown form fields: note, title", err)
        local parts = last_request(WEBINAR_FILE).parts
        assert.are.same({ "file", "note", "title" }, { parts[1].name, parts[2].name, parts[3].name })
        assert.are.equal("Q4 slides", parts[3].value)
        assert.are.equal("", parts[2].value)
        assert.are.equal(mock.json.null, parts[3].filename) -- a text part has none
    end)

    it("is checked by the server: a profile image must be jpeg or png", function()
        local status, err = client:request("POST", PROFILE_IMAGES, {
            form = { file = mmc.file(image, "text/plain") },
        })
        assert.are.equal(400, status)
        assert.matches("image/jpeg or image/png", err)
    end)

    it("tells progress the bytes sent, and ends with the whole form", function()
        local big = folder .. "/big.bin"
        write_file(big, string.rep("0123456789abcdef", 1024 * 1024)) -- 16 MiB
        local calls = {}
        local started = mock.now()
        local status = client:request("PUT", WEBINAR_FILE, {
            form = { file = mmc.file(big) },
            progress = function(done, total) calls[#calls + 1] = { done, total } end,
        })
        local seconds = mock.now() - started
        assert.are.equal(200, status)
        assert.is_true(#calls <= math.floor(seconds * 10) + 2, #calls .. " calls in " .. seconds .. " s")
        local last = calls[#calls]
        assert.are.equal(last[1], last[2])
        assert.is_true(last[1] > 16 * 1024 * 1024) -- the file and the form around it
        assert.are.equal(sha256_of(big), last_request(WEBINAR_FILE).parts[1].sha256)
    end)

    it("stops an upload when progress returns false", function()
        local status, err = client:request("PUT", WEBINAR_FILE, {
            form = { file = mmc.file(image) },
            progress = function() return false end,
        })
        assert.is_nil(status)
        assert.are.equal("stopped: options.progress returned false", err)
    end)

    it("refuses bad forms before anything is sent, naming the option", function()
        local function check(method, options, pattern)
            local err = raised(client, method, MATERIALS, options)
            assert.is_not_nil(err, "no error for " .. pattern)
            assert.matches(pattern, err)
        end
        local file = mmc.file(image)
        check("POST", { form = { file = file }, body = { a = 1 } },
            "options.form and options.body cannot go together")
        check("POST", { form = { file = file }, body = "x" }, "options.form and options.body cannot go together")
        check("GET", { form = { file = file } }, "options.form needs the POST or PUT method")
        check("DELETE", { form = { file = file } }, "options.form needs the POST or PUT method")
        check("POST", { form = "file" }, "options.form must be a table, got string")
        check("POST", { form = { file = 42 } }, "options.form.file must be a string or mmc.file%(path%), got number")
        check("POST", { form = { file = { path = image } } }, "options.form.file must be a string or mmc.file%(path%), got table")
        check("POST", { form = { [1] = "x" } }, "options.form's names must be strings")
        check("POST", { form = { ['a"b'] = "x" } }, "the name 'a\"b' must be 1 to 255 bytes")
        check("POST", { form = { file = mmc.file(folder .. "/missing.png") } },
            "options.form.file: cannot read '" .. folder:gsub("%p", "%%%0") .. "/missing.png': No such file or directory")
        check("POST", { form = { file = mmc.file(folder) } }, "cannot read '.*': not a regular file")
        check("POST", { form = { file = file }, headers = { ["Content-Type"] = "text/plain" } },
            "options.form sets its own Content%-Type")
        assert.are.same({}, mock.requests_to(MATERIALS))
    end)

    it("refuses bad mmc.file arguments, naming them", function()
        local function check(pattern, ...)
            local ok, err = pcall(mmc.file, ...)
            assert.is_false(ok)
            assert.matches(pattern, err)
        end
        check("bad argument #1 to '[^']*' %(path must be a string, got no value%)")
        check("path must be a string, got number", 42)
        check("path must be a file path: not empty, no NUL", "")
        check("path must be a file path: not empty, no NUL", "a\0b")
        check("bad argument #2 .*content_type must be a string, got number", image, 5)
        check("content_type must be 1 to 255 bytes without quotes, line breaks or NUL", image, "text/plain\r\nX: 1")
        check("content_type must be 1 to 255 bytes", image, "")
        check("bad argument #3 .*filename must be a string, got table", image, nil, {})
        check("filename must be 1 to 255 bytes without quotes", image, "image/png", 'a"b.png')
    end)
end)

describe("options.form after a refused token", function()
    it("is sent again, whole, once the client has logged in again", function()
        mock.setup()
        local client = mmc.new(mock.options())
        assert.are.equal(200, (client:auth()))
        mock.revoke()
        local path = os.tmpname()
        local file = assert(io.open(path, "wb"))
        file:write(string.rep("r", 300000))
        file:close()
        local status, err = client:request("POST", "/v1/usg/sss/materials", {
            form = { file = mmc.file(path, "image/png") },
        })
        assert.are.same({ 200, nil }, { status, err })
        local found = mock.requests_to("/v1/usg/sss/materials")
        assert.are.same({ 401, 200 }, { found[1].status, found[2].status })
        assert.are.equal(sha256_of(path), found[2].parts[1].sha256)
        os.remove(path)
    end)
end)
