-- ca_file pins the CAs a client trusts: given, it is the only trust anchor, whatever the
-- system's store holds. Proven in a private mount namespace (unshare --mount, as root) where a
-- directory holding the test server's CA, in the system's layout (a bundle and hashed names,
-- as `openssl rehash` makes them), is mounted over /etc/ssl/certs for one child Lua process:
-- the system then trusts the test server, and a client whose ca_file names an unrelated CA
-- must still refuse it. Nothing outside that child's namespace changes.
--
-- This spec needs root (CI runs the specs as root) and fails, saying so, where the namespace
-- cannot be made: it never skips.
local mock = require "mock"

local SYSTEM_CERTS = "/etc/ssl/certs"

local function quote(text) return "'" .. tostring(text):gsub("'", [['\'']]) .. "'" end

local function run(command)
    local pipe = assert(io.popen(command .. " 2>&1; echo \"exit=$?\""))
    local output = pipe:read("*a")
    pipe:close()
    return output
end

describe("a client's ca_file", function()
    local dir
    before_each(function()
        mock.setup()
        local pipe = assert(io.popen("mktemp -d \"${TMPDIR:-/tmp}/mmc-trust.XXXXXX\""))
        dir = pipe:read("*l")
        pipe:close()
        -- A system-style store that trusts the test server: Debian's bundle file, and the CA
        -- under its subject hash (what libcurl's CA path looks up).
        local output = run(string.format("cp %s %s/mmc-test-ca.pem && cp %s %s/ca-certificates.crt && openssl rehash %s",
            quote(mock.ca_file), quote(dir), quote(mock.ca_file), quote(dir), quote(dir)))
        assert.matches("exit=0", output, "could not make the test CA store: " .. output)
    end)
    after_each(function() if dir then os.execute("rm -rf " .. quote(dir)) end end)

    -- Runs `chunk` in a fresh Lua, in a mount namespace of its own where the test CA store is
    -- /etc/ssl/certs, with `env` set; returns its output, ending in "exit=<status>".
    local function run_with_test_ca_as_system_store(env, chunk)
        local assignments = {}
        for k, v in pairs(env) do assignments[#assignments + 1] = k .. "=" .. quote(v) end
        local inner = string.format("mount --bind %s %s && exec env -u MMC_CA_FILE %s %s -e %s",
            quote(dir), SYSTEM_CERTS, table.concat(assignments, " "),
            quote(arg and arg[-1] or "lua5.4"), quote("package.cpath=" .. string.format("%q", package.cpath)
                .. " local mmc = require 'mmc' " .. chunk))
        return run(mock.child_env() .. "unshare --mount sh -c " .. quote(inner))
    end

    local CALL = "print(client:set_webhook_status('" .. mock.WEBHOOK_ID .. "', mmc.LOCK))"

    -- Without ca_file the system's store decides: the namespace really makes it trust the
    -- test server (so the refusals below are ca_file's doing, not a broken setup).
    it("leaves the system's store in charge when it is not given", function()
        local output = run_with_test_ca_as_system_store({},
            "local client = mmc.new { app_id = '" .. mock.APP_ID .. "', app_key = '" .. mock.APP_KEY
                .. "', endpoint = '" .. mock.endpoint .. "' } " .. CALL)
        assert.matches("^200\tnil\ttable: [^\n]*\nexit=0\n$", output,
            "the private mount namespace could not be used (root and unshare --mount are needed): " .. output)
    end)

    it("is the only trust anchor: a server the system trusts but ca_file does not is refused", function()
        local output = run_with_test_ca_as_system_store({},
            "local client = mmc.new { app_id = '" .. mock.APP_ID .. "', app_key = '" .. mock.APP_KEY
                .. "', endpoint = '" .. mock.endpoint .. "', ca_file = '" .. mock.other_ca_file .. "' } " .. CALL)
        assert.matches("^nil\tauthentication failed: TLS failed: SSL certificate problem: [^\n]*\nexit=0\n$", output)
        assert.are.equal(0, #mock.requests())
    end)

    it("is the only trust anchor when given as MMC_CA_FILE", function()
        local output = run_with_test_ca_as_system_store({
            MMC_APP_ID = mock.APP_ID, MMC_APP_KEY = mock.APP_KEY, MMC_ENDPOINT = mock.endpoint,
            MMC_CA_FILE = mock.other_ca_file,
        }, "local client = mmc.new {} " .. CALL)
        assert.matches("^nil\tauthentication failed: TLS failed: SSL certificate problem: [^\n]*\nexit=0\n$", output)
        assert.are.equal(0, #mock.requests())
    end)
end)
