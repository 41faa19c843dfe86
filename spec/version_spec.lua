-- The version is written once, in src/version.h; everything that states it must agree: the
-- module's _VERSION, the mmc command, the release rockspec (its version and its source, the
-- tarball scripts/release makes), and CHANGELOG.md. The release rockspec differs from the scm
-- one only in version and source, and no rockspec names a repository, a host or a tag: mmc
-- has none, and a name that is not ours could one day fetch someone else's code.
local mmc = require "mmc"
local files = require "files"

local read = files.read

-- A rockspec's fields: it is Lua assignments, evaluated in an empty environment.
local function load_rockspec(path)
    local fields = {}
    local chunk
    if setfenv then -- Lua 5.1, LuaJIT
        chunk = assert(loadstring(read(path), "@" .. path))
        setfenv(chunk, fields)
    else
        chunk = assert(load(read(path), "@" .. path, "t", fields))
    end
    chunk()
    return fields
end

local function same(a, b)
    if type(a) ~= "table" or type(b) ~= "table" then return a == b end
    for k, v in pairs(a) do if not same(v, b[k]) then return false end end
    for k in pairs(b) do if a[k] == nil then return false end end
    return true
end

local VERSION = read("src/version.h"):match('#define MMC_VERSION "(%d+%.%d+%.%d+)"')

describe("the version", function()
    it("is written in src/version.h", function()
        assert.is_string(VERSION)
    end)

    it("is the module's _VERSION", function()
        assert.are.equal("mmc " .. VERSION, mmc._VERSION)
    end)

    it("is the mmc command's", function()
        assert.truthy(read("bin/mmc"):find('\nlocal VERSION = "' .. VERSION:gsub("%.", "%%.") .. '"\n'),
            "bin/mmc's VERSION is not " .. VERSION)
    end)

    it("has a release rockspec whose source is scripts/release's tarball, mmc-" .. tostring(VERSION) .. ".tar.gz", function()
        local rockspec = load_rockspec("rockspec/mmc-" .. VERSION .. "-1.rockspec")
        assert.are.equal("mmc", rockspec.package)
        assert.are.equal(VERSION .. "-1", rockspec.version)
        assert.are.same({ url = "mmc-" .. VERSION .. ".tar.gz", dir = "mmc-" .. VERSION }, rockspec.source)
        assert.truthy(read("scripts/release"):find('"mmc-$version.tar.gz"', 1, true),
            "scripts/release does not write mmc-<version>.tar.gz")
    end)

    it("has a scm rockspec for `luarocks make` from a checkout, whose source is that checkout", function()
        local text = read("rockspec/mmc-scm-1.rockspec")
        assert.are.same({ url = "." }, load_rockspec("rockspec/mmc-scm-1.rockspec").source)
        assert.truthy(text:find("luarocks --lua-version=5.4 --local make --deps-mode=none rockspec/mmc-scm-1.rockspec", 1, true))
    end)

    it("has rockspecs that name no repository, host or tag", function()
        local pipe = assert(io.popen("ls rockspec/*.rockspec"))
        local count = 0
        for path in pipe:lines() do
            count = count + 1
            local rockspec = load_rockspec(path)
            assert.is_nil(rockspec.source.tag, path .. " names a tag")
            assert.is_nil(rockspec.source.branch, path .. " names a branch")
            assert.is_nil(rockspec.description.homepage, path .. " names a home page")
            assert.is_nil(rockspec.source.url:find(":", 1, true), path .. " gives a URL with a scheme: " .. rockspec.source.url)
            local text = read(path):gsub("%-%-[^\n]*", "") -- comments may explain; no field may name a host
            assert.is_nil(text:find("://", 1, true), path .. " names a host")
            assert.is_nil(text:lower():find("github", 1, true), path .. " names a repository host")
        end
        pipe:close()
        assert.are.equal(2, count)
    end)

    it("has a release rockspec that is the scm one but for version and source", function()
        local release = load_rockspec("rockspec/mmc-" .. VERSION .. "-1.rockspec")
        local scm = load_rockspec("rockspec/mmc-scm-1.rockspec")
        for _, field in ipairs { "rockspec_format", "package", "description", "dependencies",
                                 "external_dependencies", "build" } do
            assert(same(scm[field], release[field]), "the rockspecs differ in " .. field)
        end
    end)

    it("has its section in CHANGELOG.md", function()
        assert.truthy(read("CHANGELOG.md"):find("\n## %[" .. VERSION:gsub("%.", "%%.") .. "%] %- %d%d%d%d%-%d%d%-%d%d\n"))
    end)
end)
