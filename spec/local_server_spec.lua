-- scripts/mock, the local server kept running for users' own experiments
-- (docs/local-server.md): the commands the docs give, run as they stand, except that
-- lua5.4 and build/ become the interpreter and the build the specs run with (the same when
-- the suite runs under Lua 5.4 from build/), and TMPDIR is a directory of the spec's own.
local mock = require "mock"
local docs = require "docs"
local socket = require "socket"
local files = require "files"

local INTERPRETER = arg and arg[-1] or "lua5.4"
local BUILD_DIR = os.getenv("MMC_BUILD_DIR") or "build"
-- In a sanitized run, the shell and the local server run without the sanitizer's runtime,
-- the Lua interpreter with it (docs.sanitized_child).
local SHELL_PREFIX, LUA_COMMAND = docs.sanitized_child(INTERPRETER)

local read = files.read_or_nil
local shell_quote = files.shell_quote

-- Runs a shell command; returns whether it exited 0 and its output. The output goes through a
-- file, so a background process the command leaves behind cannot hold the spec up.
local function capture(command)
    local file = os.tmpname()
    local status = os.execute(SHELL_PREFIX .. "sh -c " .. shell_quote(command) .. " >" .. shell_quote(file) .. " 2>&1 </dev/null")
    local output = read(file) or ""
    os.remove(file)
    return status == true or status == 0, output
end

local function for_this_suite(command)
    return (command:gsub("lua5%.4", LUA_COMMAND):gsub("build/", BUILD_DIR .. "/"))
end

local function wait_for(seconds, condition)
    local deadline = socket.gettime() + seconds
    while socket.gettime() < deadline do
        if condition() then return true end
        socket.sleep(0.05)
    end
    return condition()
end

local function alive(pid)
    local stat = read("/proc/" .. pid .. "/stat")
    return stat ~= nil and stat:match("^%d+ %b() (%a)") ~= "Z"
end

describe("scripts/mock", function()
    local tmp, pid
    before_each(function()
        local pipe = assert(io.popen("mktemp -d \"${TMPDIR:-/tmp}/mmc-mock-spec.XXXXXX\""))
        tmp = pipe:read("*l")
        pipe:close()
    end)
    after_each(function()
        if pid and alive(pid) then os.execute("kill -KILL " .. pid) end
        pid = nil
        os.execute("rm -rf " .. shell_quote(tmp))
    end)

    it("runs as README says, prints the environment to export, and cleans up when stopped", function()
        local command = docs.marked_block("README.md", "run by spec/local_server_spec.lua"):gsub("\n$", "")
        assert.are.equal("scripts/mock", command)
        assert.are.equal(command .. "\n", docs.marked_blocks("docs/local-server.md", "run by spec/local_server_spec.lua")[1].text)
        local out = tmp .. "/out"
        local pipe = assert(io.popen(SHELL_PREFIX .. "env TMPDIR=" .. shell_quote(tmp) .. " " .. command .. " >" .. shell_quote(out)
            .. " 2>&1 </dev/null & echo $!"))
        pid = tonumber(pipe:read("*l"))
        pipe:close()
        assert(wait_for(20, function() return (read(out) or ""):find("MMC_TEST_RECEIVER_KEY", 1, true) end),
            "scripts/mock printed no environment:\n" .. (read(out) or ""))
        local printed = read(out)
        local exports = {}
        for name, value in printed:gmatch("\nexport (MMC_[%u_]+)=(%S+)") do exports[name] = value end
        assert.are.equal("demo-app", exports.MMC_APP_ID)
        assert.are.equal("demo-app-key-change-me", exports.MMC_APP_KEY)
        assert.are.equal("b21e0291639911ecb31073dbfc5b38fa", exports.MMC_WEBHOOK_ID)
        assert.matches("^https://127%.0%.0%.1:%d+$", exports.MMC_ENDPOINT)
        assert.are.equal(exports.MMC_ENDPOINT, exports.MMC_TEST_ENDPOINT)
        assert.matches("^http://127%.0%.0%.1:%d+$", exports.MMC_TEST_CONTROL)
        -- The CA (and the directories above it) readable by every user: nginx's workers.
        local ok, modes = capture("stat -c %a " .. exports.MMC_CA_FILE .. " $(dirname " .. exports.MMC_CA_FILE
            .. ") $(dirname $(dirname " .. exports.MMC_CA_FILE .. "))")
        assert(ok, modes)
        assert.are.equal("644\n755\n755\n", modes)

        -- Pasted into another shell: mmc talks to it.
        local lines = {}
        for line in printed:gmatch("export [^\n]+") do lines[#lines + 1] = line end
        local ran, output = capture("sh -ec " .. shell_quote(table.concat(lines, "\n") .. "\n"
            .. LUA_COMMAND .. " examples/webhook_status.lua"))
        assert(ran, output)
        assert.are.equal("auth     200\nenable   200\ndisable  200\n", output)

        os.execute("kill -TERM " .. pid)
        assert(wait_for(10, function() return not alive(pid) end), "scripts/mock did not stop on TERM")
        assert.is_nil(read(exports.MMC_CA_FILE), "scripts/mock left its certificates behind")
        local still, listening = capture(LUA_COMMAND .. " -e \"local s = require('socket').tcp() s:settimeout(1) assert(not s:connect('127.0.0.1', "
            .. exports.MMC_ENDPOINT:match("%d+$") .. "))\"")
        assert(still, "the local server still listens after scripts/mock stopped: " .. listening)
    end)

    it("runs docs/local-server.md's --env-file recipe as written", function()
        local block = docs.marked_blocks("docs/local-server.md", "run by spec/local_server_spec.lua")[2]
        assert(block and block.text:find("--env-file", 1, true), "docs/local-server.md: no --env-file block")
        local script = for_this_suite(block.text)
        local ok, output = capture("env -u MMC_APP_ID -u MMC_APP_KEY -u MMC_ENDPOINT -u MMC_CA_FILE TMPDIR="
            .. shell_quote(tmp) .. " timeout 60 sh -ec " .. shell_quote(script))
        assert(ok, script .. "----\n" .. output)
        assert.are.equal("auth     200\nenable   200\ndisable  200\n", output)
        -- kill $server stopped it: the env file goes with it.
        assert(wait_for(10, function() return read(tmp .. "/local-server.env") == nil end),
            "scripts/mock did not remove its --env-file after kill $server")
        mock.assert_no_secret(output)
    end)
end)
