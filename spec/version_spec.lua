-- The version is written once, in src/version.h; everything that states it must agree: the
-- module's _VERSION, the mmc command, the release rockspec (its version and its tag), and
-- CHANGELOG.md. The release rockspec differs from the scm one only in version and source.
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

    it("has a release rockspec that builds the tag v" .. tostring(VERSION), function()
        local rockspec = load_rockspec("rockspec/mmc-" .. VERSION .. "-1.rockspec")
        assert.are.equal("mmc", rockspec.package)
        assert.are.equal(VERSION .. "-1", rockspec.version)
        assert.are.equal("v" .. VERSION, rockspec.source.tag)
        assert.matches("^git%+https://", rockspec.source.url)
    end)

    it("has a release rockspec that is the scm one but for version and source", function()
        local release = load_rockspec("rockspec/mmc-" .. VERSION .. "-1.rockspec")
        local scm = load_rockspec("rockspec/mmc-scm-1.rockspec")
        assert.are.equal(scm.source.url, release.source.url)
        for _, field in ipairs { "rockspec_format", "package", "description", "dependencies",
                                 "external_dependencies", "build" } do
            assert(same(scm[field], release[field]), "the rockspecs differ in " .. field)
        end
    end)

    it("has its section in CHANGELOG.md", function()
        assert.truthy(read("CHANGELOG.md"):find("\n## %[" .. VERSION:gsub("%.", "%%.") .. "%] %- %d%d%d%d%-%d%d%-%d%d\n"))
    end)
end)
