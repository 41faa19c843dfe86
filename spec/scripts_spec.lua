-- The scripts a user runs first: `--help` prints the usage and exits 0 (scripts/demo does not
-- run the demo for it), and scripts/deps prints an install line that works for whoever runs it:
-- as root, `apt-get install ...`; as a user, `sudo apt-get install ...` where sudo is installed,
-- else `su -c 'apt-get install ...'` (a stock Debian has no sudo). The system's tools are
-- replaced by stand-ins on a PATH of their own: nothing is built or installed here.
local files = require "files"

local quote = files.shell_quote
local execute = files.execute

-- Runs `command` with `sh`; returns its exit status, stdout and stderr. (Without a sanitizer
-- runtime the specs' interpreter may have preloaded: the scripts and their tools are not ours.)
local function run(command)
    local out, err = os.tmpname(), os.tmpname()
    local pipe = assert(io.popen("env -u LD_PRELOAD sh -c " .. files.shell_quote(command) .. " </dev/null >" .. out
        .. " 2>" .. err .. "; echo $?"))
    local code = tonumber(pipe:read("*a"))
    pipe:close()
    local result = { code = code, stdout = files.read(out), stderr = files.read(err) }
    os.remove(out)
    os.remove(err)
    return result
end

-- A directory of stand-ins, made for one test and removed after it.
local bin
local function stand_in(name, script)
    local path = bin .. "/" .. name
    local file = assert(io.open(path, "w"))
    file:write("#!/bin/sh\n", script, "\n")
    file:close()
    assert(execute("chmod 755 " .. quote(path)))
end
local function real(name)
    local path = assert(io.popen("command -v " .. name)):read("*l")
    assert(path and path ~= "", name .. " not found")
    assert(execute("ln -sf " .. quote(path) .. " " .. quote(bin .. "/" .. name)))
end

describe("scripts", function()
    before_each(function()
        bin = os.tmpname()
        os.remove(bin)
        assert(execute("mkdir " .. quote(bin)))
        stand_in("cmake", 'echo "cmake $*" >>"$(dirname "$0")/ran"; exit 1')
    end)
    after_each(function() execute("rm -rf " .. quote(bin)) end)

    local function ran()
        return files.read_or_nil(bin .. "/ran") or ""
    end

    describe("--help", function()
        it("scripts/demo --help prints the usage, exits 0, and builds and runs nothing", function()
            for _, flag in ipairs { "--help", "-h" } do
                local result = run("PATH=" .. quote(bin) .. ":$PATH scripts/demo " .. flag)
                assert.are.equal(0, result.code, result.stderr)
                assert.matches("scripts/demo %[%-%-help%]", result.stdout)
                assert.matches("local server", result.stdout)
                assert.are.equal("", result.stderr)
                assert.are.equal("", ran(), "scripts/demo " .. flag .. " ran the build")
            end
            -- an argument it does not know: the usage on stderr, exit 2, nothing run
            local result = run("PATH=" .. quote(bin) .. ":$PATH scripts/demo --bogus")
            assert.are.equal(2, result.code)
            assert.matches("unknown argument '%-%-bogus'", result.stderr)
            assert.are.equal("", ran())
        end)

        it("scripts/mock --help prints the usage and exits 0; a wrong argument exits 2", function()
            local result = run("scripts/mock --help")
            assert.are.equal(0, result.code, result.stderr)
            assert.matches("scripts/mock %[%-%-config FILE%.json%]", result.stdout)
            assert.are.equal("", result.stderr)
            result = run("scripts/mock --bogus")
            assert.are.equal(2, result.code)
            assert.are.equal("", result.stdout)
            assert.matches("unknown argument '%-%-bogus'", result.stderr)
        end)

        it("spec/support/with-mock --help prints the usage and exits 0, without starting the mock", function()
            stand_in("python3", 'echo "python3 $*" >>"$(dirname "$0")/ran"; exit 1')
            local result = run("PATH=" .. quote(bin) .. ":$PATH spec/support/with-mock --help")
            assert.are.equal(0, result.code, result.stderr)
            assert.matches("spec/support/with%-mock COMMAND", result.stdout)
            assert.matches("MMC_TEST_ENDPOINT", result.stdout)
            assert.are.equal("", ran())
            result = run("PATH=" .. quote(bin) .. ":$PATH spec/support/with-mock")
            assert.are.equal(2, result.code)
            assert.matches("a command to run is needed", result.stderr)
        end)
    end)

    describe("scripts/deps", function()
        -- A machine where every package is missing, `id -u` says `uid`, and apt-get records
        -- what it was asked (and fails when `apt_fails`).
        local function machine(uid, apt_fails)
            for _, tool in ipairs { "sh", "bash", "grep", "dirname", "cat" } do real(tool) end
            stand_in("dpkg-query", "exit 1")
            stand_in("id", 'echo ' .. uid)
            stand_in("apt-get", 'echo "apt-get $* (uid $(id -u))" >>"$(dirname "$0")/ran"; exit ' .. (apt_fails and 1 or 0))
        end

        -- Runs scripts/deps demo on the machine; returns the result and the install line printed.
        local function deps()
            local result = run("PATH=" .. quote(bin) .. " bash scripts/deps demo")
            return result, result.stderr:match("\n  ([^\n]+)\n$")
        end

        -- Runs the printed line on the machine, as a user would paste it.
        local function paste(line)
            return run("PATH=" .. quote(bin) .. " sh -c " .. quote(line))
        end

        it("prints a line that works for a user on a Debian without sudo (su -c)", function()
            machine(1000)
            -- su: asks for root's password, then runs the command as root
            stand_in("su", '[ "$1" = -c ] || exit 9; printf "%s\\n" 0 >"$(dirname "$0")/uid"; exec sh -c "$2"')
            stand_in("id", 'cat "$(dirname "$0")/uid" 2>/dev/null || echo 1000')
            local result, line = deps()
            assert.are.equal(1, result.code)
            assert.truthy(line, result.stderr)
            assert.matches("^su %-c 'apt%-get install %-y gcc .*openssl'$", line)
            local pasted = paste(line)
            assert.are.equal(0, pasted.code, line .. ": " .. pasted.stderr)
            assert.matches("^apt%-get install %-y gcc .* %(uid 0%)\n$", ran())
        end)

        it("prints sudo apt-get for a user where sudo is installed", function()
            machine(1000)
            stand_in("sudo", 'printf "%s\\n" 0 >"$(dirname "$0")/uid"; exec "$@"')
            stand_in("id", 'cat "$(dirname "$0")/uid" 2>/dev/null || echo 1000')
            local result, line = deps()
            assert.are.equal(1, result.code)
            assert.matches("^sudo apt%-get install %-y gcc .*openssl$", line)
            local pasted = paste(line)
            assert.are.equal(0, pasted.code, pasted.stderr)
            assert.matches("^apt%-get install %-y gcc .* %(uid 0%)\n$", ran())
        end)

        it("installs as root, and prints a line root can run (no sudo) when apt-get fails", function()
            machine(0)
            local result = deps()
            assert.are.equal(0, result.code, result.stderr)
            assert.matches("apt%-get update", ran())
            assert.matches("apt%-get install %-y %-q %-%-no%-install%-recommends gcc ", ran())

            execute("rm -f " .. quote(bin .. "/ran"))
            machine(0, true)
            local line
            result, line = deps()
            assert.are.equal(1, result.code)
            assert.matches("^apt%-get install %-y gcc .*openssl$", line)
        end)
    end)
end)
