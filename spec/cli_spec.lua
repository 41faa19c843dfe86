-- The mmc command (bin/mmc): run as a separate process under the interpreter that runs the
-- specs (arg[-1]), against the local mock. Every run is checked for secrets in its output.
local mock = require "mock"
local cjson = mock.json
local files = require "files"

local INTERPRETER = arg and arg[-1] or "lua5.4"
local BUILD_DIR = os.getenv("MMC_BUILD_DIR") or "build"
local SCRIPT = "bin/mmc"
local SUBSCRIBER_KEY = "cli-subscriber-key-5f3a9c0e"
local ENV_SUBSCRIBER_KEY = "cli-env-subscriber-key-77d1"
local HOOK_URL = "https://127.0.0.1:9/events" -- nothing listens there: enabling it fails the handshake

-- Every variable the command reads, cleared for each run unless the run sets it.
local CLEARED = {
    "MMC_APP_ID", "MMC_APP_KEY", "MMC_USER_ID", "MMC_CORP_ID", "MMC_ENDPOINT", "MMC_CA_FILE",
    "MMC_SUBSCRIBER_KEY", "MMC_BUILD_DIR", "LUA_CPATH", "LUA_CPATH_5_2", "LUA_CPATH_5_3", "LUA_CPATH_5_4",
}

local quote = files.shell_quote
local slurp = files.read

-- Temporary files, removed after each test whatever happened (busted keeps one `finally`).
local to_remove = {}

-- A temporary file holding `text`.
local function write_file(text)
    local path = files.write_temp(text)
    to_remove[#to_remove + 1] = path
    return path
end

local function assert_no_secret(text)
    mock.assert_no_secret(text) -- both app keys and every token the mock has seen
    for _, secret in ipairs { SUBSCRIBER_KEY, ENV_SUBSCRIBER_KEY } do
        assert(not text:find(secret, 1, true), "a subscriber key leaked into: " .. text)
    end
end

local function default_env()
    return {
        MMC_APP_ID = mock.APP_ID, MMC_APP_KEY = mock.APP_KEY,
        MMC_ENDPOINT = mock.endpoint, MMC_CA_FILE = mock.ca_file, MMC_BUILD_DIR = BUILD_DIR,
    }
end

-- Runs `<interpreter> bin/mmc <args>` with the mock's environment changed by `env` (false
-- unsets a variable). Returns { code =, stdout =, stderr =, json = <stdout decoded, with --json> }.
local function run(args, env)
    local environment = default_env()
    for k, v in pairs(env or {}) do environment[k] = v or nil end
    local parts = { "env" }
    for _, name in ipairs(CLEARED) do parts[#parts + 1] = "-u " .. name end
    parts[#parts + 1] = mock.child_env()
    for k, v in pairs(environment) do parts[#parts + 1] = quote(k .. "=" .. v) end
    parts[#parts + 1] = quote(INTERPRETER)
    parts[#parts + 1] = SCRIPT
    local json = false
    for _, a in ipairs(args) do
        parts[#parts + 1] = quote(a)
        json = json or a == "--json"
    end
    local out, err = os.tmpname(), os.tmpname()
    local pipe = assert(io.popen(table.concat(parts, " ") .. " </dev/null >" .. out .. " 2>" .. err .. "; echo $?"))
    local code = tonumber(pipe:read("*a"))
    pipe:close()
    local result = { code = code, stdout = slurp(out), stderr = slurp(err) }
    os.remove(out)
    os.remove(err)
    assert_no_secret(result.stdout)
    assert_no_secret(result.stderr)
    if json then
        assert(result.stdout:match("^{.*}\n$") and result.stdout:find("\n", 1, true) == #result.stdout,
            "--json must print one JSON object on one line: " .. result.stdout)
        result.json = cjson.decode(result.stdout)
        assert.are.equal(code, result.json.exit)
        assert.are.equal(code == 0, result.json.ok)
    end
    return result
end

-- The exit status, with the command's output in the message when it is not the expected one.
local function assert_exit(code, result)
    assert(result.code == code, ("exit status %s, expected %d; stdout: %s; stderr: %s")
        :format(tostring(result.code), code, result.stdout, result.stderr))
end

local function requests_to(path, method)
    local found = {}
    for _, r in ipairs(mock.requests_to(path)) do
        if not method or r.method == method then found[#found + 1] = r end
    end
    return found
end

-- The command logs in once, makes its one call (and `then_method` to the same path, when
-- given: webhook set reads the subscription back), and logs the token out. `since`: how many
-- requests the mock had recorded before the command ran (default 0).
local function assert_one_session(call_path, call_method, since, then_method)
    local seen = {}
    for i, r in ipairs(mock.requests()) do
        if i > (since or 0) then seen[#seen + 1] = r end
    end
    if then_method then
        assert.are.equal(4, #seen)
        local follow_up = table.remove(seen, 3)
        assert.are.equal(call_path, follow_up.path)
        assert.are.equal(then_method, follow_up.method)
        assert.are.equal(seen[2].headers["x-access-token"], follow_up.headers["x-access-token"])
    end
    assert.are.equal(3, #seen)
    assert.are.equal(mock.APPAUTH, seen[1].path)
    assert.is_true(seen[1].signature_valid)
    assert.are.equal(call_path, seen[2].path)
    assert.are.equal(call_method, seen[2].method)
    assert.are.equal(mock.TOKEN, seen[3].path)
    assert.are.equal("DELETE", seen[3].method)
    assert.are.equal(seen[2].headers["x-access-token"], seen[3].headers["x-access-token"])
    assert.are.equal(200, seen[3].status) -- the session's token was logged out
    -- (not "no active token at the mock": a request another spec timed out on may still be
    -- answered by the mock later, with a token nobody will use)
    return seen[2]
end

local function assert_usage_error(result, pattern)
    assert_exit(2, result)
    assert.are.equal("", result.stdout)
    assert.matches("^mmc: ", result.stderr)
    assert.is_nil(result.stderr:find("mmc: mmc ", 1, true), "a doubled prefix")
    if pattern then assert.matches(pattern, result.stderr) end
    assert.matches("\nRun 'mmc [^']*%-%-help' for ", result.stderr)
end

-- Makes a config through the API (as another administrator would) and returns its id.
local function make_config(extra)
    local client = require("mmc").new(mock.options())
    local config = { url = HOOK_URL, subscriber_id = "sub-0001", subscriber_key = SUBSCRIBER_KEY }
    for k, v in pairs(extra or {}) do config[k] = v end
    assert.are.equal(200, (client:set_webhook_config(config)))
    assert.are.equal(200, (client:logout()))
    client:close()
    local configs = mock.webhook_configs()
    return configs[#configs].id
end

describe("the mmc command", function()
    before_each(function() mock.setup() end)
    after_each(function()
        for _, path in ipairs(to_remove) do os.remove(path) end
        to_remove = {}
    end)

    describe("help and usage", function()
        it("prints the usage with --help and -h, and needs no environment for it", function()
            for _, flag in ipairs { "--help", "-h" } do
                local result = run({ flag }, { MMC_APP_ID = false, MMC_APP_KEY = false })
                assert_exit(0, result)
                assert.are.equal("", result.stderr)
                assert.matches("^usage: mmc ", result.stdout)
                for _, command in ipairs { "auth", "webhook show", "webhook set", "webhook enable ID",
                    "webhook disable ID", "webhook lock ID", "webhook delete ID", "Exit status" } do
                    assert.is_truthy(result.stdout:find(command, 1, true), command)
                end
            end
            assert.are.equal(0, #mock.requests())
        end)

        for _, command in ipairs { "auth", "webhook", "webhook show", "webhook set", "webhook enable",
            "webhook disable", "webhook lock", "webhook delete" } do
            it("prints the usage of '" .. command .. "' with --help, wherever it stands", function()
                local before, after = { "--help" }, {}
                for word in command:gmatch("%S+") do
                    before[#before + 1] = word
                    after[#after + 1] = word
                end
                after[#after + 1] = "-h"
                for _, args in ipairs { before, after } do
                    local result = run(args)
                    assert_exit(0, result)
                    assert.are.equal("", result.stderr)
                    assert.matches("^usage: mmc " .. command:gsub("%-", "%%-"), result.stdout)
                end
                assert.are.equal(0, #mock.requests())
            end)
        end

        it("documents where each secret comes from in 'webhook set --help'", function()
            local result = run { "webhook", "set", "--help" }
            assert.matches("%-%-subscriber%-key%-file FILE", result.stdout)
            assert.matches("MMC_SUBSCRIBER_KEY", result.stdout)
            assert.matches("MMC_APP_KEY", result.stdout)
        end)

        it("prints its version and the module's", function()
            local result = run { "--version" }
            assert_exit(0, result)
            assert.matches("^mmc %d+%.%d+%.%d+ %(module: mmc %d+%.%d+%.%d+; Lua 5%.%d%)\n$", result.stdout)
            result = run { "--version", "--json" }
            assert.matches("^%d+%.%d+%.%d+$", result.json.version)
            assert.matches("^mmc %d", result.json.module)
        end)

        it("exits 2 for --version when the module does not load, saying why", function()
            local env = { MMC_BUILD_DIR = false, LUA_CPATH = "/nonexistent/?.so" }
            local result = run({ "--version" }, env)
            assert_exit(2, result)
            assert.matches("^mmc %d+%.%d+%.%d+ %(module: not loaded; Lua 5%.%d%)\n$", result.stdout)
            assert.matches("^mmc: cannot load the Lua module mmc for Lua 5%.%d: module 'mmc' not found", result.stderr)
            assert.matches("LUA_CPATH or MMC_BUILD_DIR", result.stderr)
            result = run({ "--version", "--json" }, env)
            assert_exit(2, result)
            assert.are.equal(cjson.null, result.json.module)
            assert.matches("^cannot load the Lua module mmc", result.json.error)
            assert.matches("^mmc: cannot load", result.stderr)
        end)

        it("prints the usage inside the JSON object with --help --json", function()
            local result = run { "webhook", "set", "--help", "--json" }
            assert_exit(0, result)
            assert.are.equal("", result.stderr)
            assert.matches("^usage: mmc webhook set ", result.json.help)
            assert.are.equal("webhook set", result.json.command)
        end)

        local usage_cases = {
            { {}, "a command is needed" },
            { { "frobnicate" }, "unknown command 'frobnicate'" },
            { { "webhook" }, "webhook needs a subcommand" },
            { { "webhook", "frob" }, "unknown webhook subcommand 'frob'" },
            { { "webhook", "enable" }, "needs ID" },
            { { "webhook", "delete" }, "needs ID" },
            { { "webhook", "lock", mock.WEBHOOK_ID, "extra" }, "too many arguments" },
            { { "auth", "extra" }, "too many arguments" },
            { { "auth", "--bogus" }, "unknown option '%-%-bogus'" },
            { { "--jsn", "auth" }, "unknown option '%-%-jsn' %(did you mean %-%-json%?%)" },
            { { "webhook", "show", "--corpid", "c" }, "unknown option '%-%-corpid' %(did you mean %-%-corp%-id%?%)" },
            -- the mistyped option, not the word after it taken for a command
            { { "--timout", "3", "auth" }, "unknown option '%-%-timout' %(did you mean %-%-timeout%?%)" },
            { { "webhook", "lock", mock.WEBHOOK_ID, "--id-only" }, "option '%-%-id%-only' does not apply" },
            { { "auth", "-x" }, "unknown option '%-x'" },
            { { "auth", "--url", "https://x" }, "option '%-%-url' does not apply to 'mmc auth'" },
            { { "webhook", "enable", mock.WEBHOOK_ID, "--corp-id", "c" }, "does not apply" },
            { { "webhook", "show", "--corp-id" }, "option '%-%-corp%-id' needs a value" },
            { { "webhook", "show", "--corp-id=" }, "needs a non%-empty value" },
            { { "webhook", "show", "--corp-id", "a", "--corp-id", "b" }, "given twice" },
            { { "auth", "--json=yes" }, "option '%-%-json' takes no value" },
            { { "webhook", "set", "--subscriber-id", "s" }, "needs %-%-url" },
            { { "webhook", "set", "--url", HOOK_URL }, "needs %-%-subscriber%-id" },
            { { "auth", "--timeout", "soon" }, "%-%-timeout needs a number" },
            { { "--version", "auth" }, "%-%-version takes no command" },
        }
        for _, case in ipairs(usage_cases) do
            it("refuses 'mmc " .. table.concat(case[1], " ") .. "' with exit status 2", function()
                assert_usage_error(run(case[1]), case[2])
                local args = { "--json" }
                for i, a in ipairs(case[1]) do args[i + 1] = a end
                local result = run(args)
                assert_exit(2, result)
                assert.is_false(result.json.ok)
                assert.matches(case[2], result.json.error)
                assert.are.equal(cjson.null, result.json.status)
                assert.are.equal(0, #mock.requests())
            end)
        end

        it("suggests only an option that is close to the mistyped one", function()
            assert.are.equal("mmc: unknown option '--bogus'\n", run({ "auth", "--bogus" }).stderr:match("^[^\n]*\n"))
            assert.are.equal("mmc: unknown option '--js'\n", run({ "auth", "--js" }).stderr:match("^[^\n]*\n"))
            assert.are.equal("mmc: unknown option '--jsno' (did you mean --json?)\n",
                run({ "auth", "--jsno" }).stderr:match("^[^\n]*\n"))
        end)

        it("refuses --id-only with --json: the id is the JSON object's data.id", function()
            local result = run { "webhook", "show", "--id-only", "--json" }
            assert_exit(2, result)
            assert.are.equal("--id-only and --json do not go together: the id is data.id of the JSON object", result.json.error)
            assert.are.equal(0, #mock.requests())
        end)

        it("never echoes the value of an unknown option or a stray argument", function()
            local result = run { "auth", "--pasword=" .. SUBSCRIBER_KEY .. "x", "-" .. SUBSCRIBER_KEY }
            assert_usage_error(result, "unknown option '%-%-pasword'")
            result = run { "webhook", "set", "--url", HOOK_URL, "--subscriber-id", "s", SUBSCRIBER_KEY }
            assert_usage_error(result, "too many arguments")
            assert_usage_error(run { SUBSCRIBER_KEY }, "unknown command %(not shown%)")
            assert_usage_error(run { "webhook", SUBSCRIBER_KEY }, "unknown webhook subcommand %(not shown%)")
        end)

        -- What the module raises as a programmer's mistake is the user's usage error here.
        local bad_values = {
            { { "webhook", "enable", "" }, "id must be a non%-empty string" },
            { { "webhook", "delete", string.rep("a", 129) }, "id is longer than 128 bytes" },
            { { "webhook", "show", "--corp-id", string.rep("c", 65) }, "corp_id must be at most 64 bytes" },
            { { "auth", "--timeout", "0" }, "timeout must be a number of seconds above 0" },
            { { "webhook", "set", "--url", "http://127.0.0.1/x", "--subscriber-id", "s" }, "url must be an https:// URL" },
            { { "webhook", "set", "--url", HOOK_URL, "--subscriber-id", string.rep("s", 65) }, "subscriber_id must be 1 to 64 bytes" },
        }
        for _, case in ipairs(bad_values) do
            it("turns the module's 'bad argument' into a usage error: " .. case[2]:gsub("%%", ""), function()
                local result = run(case[1], { MMC_SUBSCRIBER_KEY = ENV_SUBSCRIBER_KEY })
                assert_usage_error(result, "^mmc: " .. case[2])
                assert.is_falsy(result.stderr:find("bad argument", 1, true))
                assert.are.equal(0, #mock.requests())
            end)
        end
    end)

    describe("output", function()
        it("prints the same bytes for the same result with --json: keys sorted at every level", function()
            local expected = '{"command":"webhook lock","data":{"id":"' .. mock.WEBHOOK_ID .. '","status":2,'
                .. '"status_name":"locked"},"error":null,"exit":0,"ok":true,"status":200}\n'
            for _ = 1, 3 do -- a Lua table's order changes from run to run (hash seeds)
                local result = run { "webhook", "lock", mock.WEBHOOK_ID, "--json" }
                assert.are.equal(expected, result.stdout)
            end
            local result = run({ "auth", "--json" }, { MMC_ENDPOINT = "https://127.0.0.1:" .. mock.closed_port() })
            assert.matches('^{"command":"auth","error":"connection failed: [^"]*","exit":3,"ok":false,"status":null}\n$', result.stdout)
        end)

        it("writes JSON strings escaped, and as valid UTF-8 whatever bytes it was given", function()
            local odd_id = 'a\1b"c\\d\127'
            mock.setup { webhook_ids = { odd_id } }
            local result = run { "webhook", "lock", odd_id, "--json" }
            assert_exit(0, result)
            assert.is_truthy(result.stdout:find('"id":"a\\u0001b\\"c\\\\d\\u007f"', 1, true), result.stdout)
            assert.are.equal(odd_id, result.json.data.id)
            -- a byte that is no UTF-8 (in an unknown option's name, echoed) becomes U+FFFD
            result = run { "auth", "--x\255y", "--json" }
            assert_exit(2, result)
            assert.are.equal("unknown option '--x\239\191\189y'", result.json.error)
        end)

        -- One rule: errors and warnings on stderr, the same with or without --json; with --json,
        -- stdout holds exactly one JSON object (run() checks that), errors included.
        local errors = {
            { "a usage error", { "webhook", "enable" }, nil, 2 },
            { "a configuration error", { "auth" }, { MMC_CA_FILE = "/nonexistent/ca.pem" }, 2 },
            { "an API error", { "webhook", "show" }, nil, 1 },
            { "no answer", { "auth" }, { MMC_ENDPOINT = "https://127.0.0.1:1" }, 3 },
        }
        for _, case in ipairs(errors) do
            it("reports " .. case[1] .. " on stderr with or without --json", function()
                local text = run(case[2], case[3])
                local args = { "--json" }
                for i, a in ipairs(case[2]) do args[i + 1] = a end
                local json = run(args, case[3])
                assert_exit(case[4], text)
                assert_exit(case[4], json)
                assert.are.equal("", text.stdout)
                assert.matches("^mmc: ", text.stderr)
                local function without_ids(t) return (t:gsub("%(request id %x+%)", "(request id ...)")) end
                assert.are.equal(without_ids(text.stderr), without_ids(json.stderr))
                assert.is_false(json.json.ok)
                assert.is_string(json.json.error)
            end)
        end
    end)

    describe("configuration", function()
        it("needs MMC_APP_ID and MMC_APP_KEY, and says so", function()
            for _, variable in ipairs { "MMC_APP_ID", "MMC_APP_KEY" } do
                local result = run({ "auth" }, { [variable] = false })
                assert_exit(2, result)
                assert.matches("^mmc: " .. variable .. " is not set: export the App ", result.stderr)
                result = run({ "webhook", "show", "--json" }, { [variable] = "" }) -- empty counts as unset
                assert_exit(2, result)
                assert.matches(variable .. " is not set", result.json.error)
            end
            assert.are.equal(0, #mock.requests())
        end)

        it("reports a bad MMC_* variable as a configuration error, naming the variable", function()
            local result = run({ "auth" }, { MMC_ENDPOINT = "http://127.0.0.1:1" })
            assert_exit(2, result)
            assert.matches("^mmc: bad environment variable MMC_ENDPOINT: endpoint must use https:// "
                .. "%(plain http:// only with %-%-allow%-http%)\n", result.stderr)
            assert.is_nil(result.stderr:find("allow_http", 1, true)) -- the command cannot set that
            result = run({ "auth", "--sp", "--timeout", "3" }, { MMC_CA_FILE = "/nonexistent/ca.pem" })
            assert_exit(2, result)
            assert.matches("^mmc: bad environment variable MMC_CA_FILE: ca_file '/nonexistent/ca%.pem' cannot be read: "
                .. "No such file or directory\n", result.stderr)
            result = run({ "auth" }, { MMC_ENDPOINT = mock.endpoint .. "/v1" })
            assert_exit(2, result)
            assert.matches("^mmc: bad environment variable MMC_ENDPOINT: endpoint must have no path", result.stderr)
            assert.are.equal(0, #mock.requests())
        end)

        it("takes a plain http:// MMC_ENDPOINT with --allow-http", function()
            local endpoint = "http://127.0.0.1:" .. mock.closed_port()
            local result = run({ "--allow-http", "auth" }, { MMC_ENDPOINT = endpoint })
            assert_exit(3, result) -- accepted, and tried: nothing listens there
            assert.matches("^mmc: auth: no answer: connection failed", result.stderr)
            assert.matches("%-%-allow%-http", run({ "--help" }).stdout)
        end)

        it("finds the module with a plain require through LUA_CPATH, as an installed rock does", function()
            local result = run({ "auth" }, { MMC_BUILD_DIR = false, LUA_CPATH = BUILD_DIR .. "/?.so;;" })
            assert_exit(0, result)
            result = run({ "auth" }, { MMC_BUILD_DIR = false, LUA_CPATH = "/nonexistent/?.so" })
            assert_exit(2, result)
            assert.matches("^mmc: cannot load the Lua module mmc for Lua 5%.%d: module 'mmc' not found", result.stderr)
            assert.matches("LUA_CPATH or MMC_BUILD_DIR", result.stderr)
        end)

        it("is a Lua 5.1 to 5.4 script whose shebang names lua5.4, not the ambiguous lua", function()
            local first_line = slurp(SCRIPT):match("^[^\n]*")
            assert.are.equal("#!/usr/bin/env lua5.4", first_line)
            local pipe = assert(io.popen("test -x " .. SCRIPT .. " && echo executable"))
            assert.are.equal("executable\n", pipe:read("*a"))
            pipe:close()
            if INTERPRETER:match("lua5%.4$") then -- run through the shebang itself
                pipe = assert(io.popen("MMC_BUILD_DIR=" .. quote(BUILD_DIR) .. " ./" .. SCRIPT .. " --version; echo $?"))
                assert.matches("^mmc %d+%.%d+%.%d+ %(module: mmc [^\n]*Lua 5%.4%)\n0\n$", pipe:read("*a"))
                pipe:close()
            end
        end)
    end)

    describe("auth", function()
        it("authenticates, reports who, and logs the token out again", function()
            local result = run { "auth" }
            assert_exit(0, result)
            assert.are.equal("", result.stderr)
            assert.matches("^authenticated as admin %(HTTP 200%)\ntoken valid for 86400 s", result.stdout)
            local seen = mock.requests()
            assert.are.equal(2, #seen)
            assert.are.equal(mock.APPAUTH, seen[1].path)
            assert.is_true(seen[1].signature_valid)
            assert.are.equal(mock.TOKEN, seen[2].path)
            assert.are.equal("DELETE", seen[2].method)
            assert.are.equal(1, mock.tokens().logged_out)
            assert.are.equal(0, mock.tokens().active)
        end)

        it("logs in as MMC_USER_ID", function()
            local result = run({ "auth", "--json" }, { MMC_USER_ID = "cli-user" })
            assert_exit(0, result)
            assert.are.equal("cli-user", result.json.data.user_id)
            assert.are.equal("cli-user", cjson.decode(mock.requests_to(mock.APPAUTH)[1].body).userId)
        end)

        it("prints one JSON object with --json, wherever it stands", function()
            for _, args in ipairs { { "--json", "auth" }, { "auth", "--json" } } do
                local result = run(args)
                assert_exit(0, result)
                assert.are.equal("", result.stderr)
                local j = result.json
                assert.is_true(j.ok)
                assert.are.equal("auth", j.command)
                assert.are.equal(200, j.status)
                assert.are.equal(cjson.null, j.error)
                assert.are.equal(86400, j.data.valid_period)
                assert.are.equal("admin", j.data.user_id)
                assert.is_nil(j.data.accessToken)
            end
        end)

        it("authenticates in SP mode with --sp, as the tenant in MMC_CORP_ID", function()
            local result = run({ "--sp", "auth" }, { MMC_APP_ID = mock.SP_APP_ID, MMC_APP_KEY = mock.SP_APP_KEY, MMC_CORP_ID = mock.CORP_ID })
            assert_exit(0, result)
            local auth = mock.requests_to(mock.APPAUTH)[1]
            assert.are.equal(mock.CORP_ID, cjson.decode(auth.body).corpId)
            assert.is_true(auth.signature_valid)
        end)

        it("exits 1 when the API refuses, with its code and request id", function()
            local result = run({ "auth" }, { MMC_APP_KEY = "not-the-app-key" })
            assert_exit(1, result)
            assert.are.equal("", result.stdout)
            assert.matches("^mmc: auth: HTTP 401: USG%.000000011: signature mismatch %(request id %x+%); "
                .. "check MMC_APP_ID and MMC_APP_KEY\n$", result.stderr)
            result = run({ "auth", "--json" }, { MMC_APP_KEY = "not-the-app-key" })
            assert.are.equal(401, result.json.status)
            assert.are.equal("USG.000000011", result.json.error_code)
            assert.matches("^%x+$", result.json.request_id)
            assert.is_nil(result.json.data)
            assert.are.equal(0, #requests_to(mock.TOKEN)) -- no token, nothing to log out
        end)
    end)

    describe("webhook enable, disable and lock", function()
        for _, case in ipairs { { "enable", 0, "enabled" }, { "disable", 1, "disabled" }, { "lock", 2, "locked" } } do
            it(case[1] .. "s the subscription: status " .. case[2] .. " for that id", function()
                local result = run { "webhook", case[1], mock.WEBHOOK_ID }
                assert_exit(0, result)
                assert.are.equal("", result.stderr)
                assert.are.equal("event push " .. mock.WEBHOOK_ID .. " " .. case[3] .. " (HTTP 200)\n", result.stdout)
                local put = assert_one_session(mock.CHANGE_STATUS, "PUT")
                assert.are.equal("id=" .. mock.WEBHOOK_ID .. "&status=" .. case[2], put.query)
                assert.are.equal(case[2], mock.webhooks()[mock.WEBHOOK_ID])

                mock.setup()
                result = run { "--json", "webhook", case[1], mock.WEBHOOK_ID }
                assert.are.same({ id = mock.WEBHOOK_ID, status = case[2], status_name = case[3] }, result.json.data)
                assert.are.equal("webhook " .. case[1], result.json.command)
                assert.are.equal(200, result.json.status)
            end)
        end

        it("enables and disables many ids as one batch, one line per id, in order", function()
            local ids = {}
            for i = 1, 10 do ids[i] = string.format("hook%02d", i) end
            mock.setup { webhook_ids = ids }
            local args = { "webhook", "enable" }
            for i = 1, 10 do args[#args + 1] = ids[i] end
            args[#args + 1] = "nope"
            local result = run(args)
            assert_exit(1, result)
            local expected = {}
            for i = 1, 10 do expected[i] = "event push " .. ids[i] .. " enabled (HTTP 200)" end
            local lines = {}
            for line in result.stdout:gmatch("[^\n]+") do lines[#lines + 1] = line end
            assert.are.equal(11, #lines)
            for i = 1, 10 do assert.are.equal(expected[i], lines[i]) end
            assert.matches("^event push nope not enabled: HTTP 400: MMC%.111070002: .*check the id", lines[11])
            for i = 1, 10 do assert.are.equal(0, mock.webhooks()[ids[i]]) end
            assert.are.equal(1, #mock.requests_to(mock.APPAUTH)) -- one batch, one authentication
            assert.are.equal(11, #mock.requests_to(mock.CHANGE_STATUS))
            assert.are.equal(1, #mock.requests_to(mock.TOKEN)) -- logged out once

            args[2] = "disable"
            args[#args] = nil
            result = run(args)
            assert_exit(0, result)
            for i = 1, 10 do assert.are.equal(1, mock.webhooks()[ids[i]]) end
            assert.matches("^event push hook01 disabled %(HTTP 200%)\n.*event push hook10 disabled %(HTTP 200%)\n$", result.stdout)

            table.insert(args, 1, "--json")
            result = run(args)
            assert_exit(0, result)
            assert.is_true(result.json.ok)
            assert.are.equal(10, #result.json.data.results)
            assert.are.same({ id = "hook03", status = 200, ok = true }, result.json.data.results[3])
        end)

        it("takes one id for lock, as before", function()
            local result = run { "webhook", "lock", mock.WEBHOOK_ID, "extra" }
            assert_exit(2, result)
        end)

        it("exits 1 for an unknown id, and the id stays one parameter", function()
            local result = run { "webhook", "lock", "x&status=0" }
            assert_exit(1, result)
            assert.matches("^mmc: webhook lock: HTTP 400: MMC%.111070002: ", result.stderr)
            assert.are.equal("id=x%26status%3D0&status=2", mock.requests_to(mock.CHANGE_STATUS)[1].query)
            result = run { "webhook", "lock", "nope", "--json" }
            assert.is_false(result.json.ok)
            assert.are.equal(400, result.json.status)
            assert.are.equal("MMC.111070002", result.json.error_code)
            assert.matches("^MMC%.111070002: webhook config not found %(request id %x+%); check the id: "
                .. "'mmc webhook show' prints the subscription's$", result.json.error)
        end)

        it("points at 'mmc webhook show' for an id the server does not know", function()
            for _, verb in ipairs { "enable", "disable", "lock", "delete" } do
                local result = run { "webhook", verb, "nope" }
                assert_exit(1, result)
                assert.matches("^mmc: webhook " .. verb .. ": HTTP 400: MMC%.111070002: webhook config not found "
                    .. "%(request id %x+%); check the id: 'mmc webhook show' prints the subscription's\n$", result.stderr)
            end
        end)

        it("takes an id that starts with '-' after '--'", function()
            local result = run { "webhook", "lock", "--", "-x" }
            assert_exit(1, result)
            assert.are.equal("id=-x&status=2", mock.requests_to(mock.CHANGE_STATUS)[1].query)
        end)

        it("exits 1 for an answer that is not Huawei's JSON", function()
            mock.fail { status = 400, path = mock.CHANGE_STATUS, body = "<html>no</html>", content_type = "text/html" }
            local result = run { "webhook", "disable", mock.WEBHOOK_ID }
            assert_exit(1, result)
            assert.matches("^mmc: webhook disable: HTTP 400: HTTP 400", result.stderr)
        end)

        it("replaces control characters in what the server says", function()
            mock.fail { status = 400, path = mock.CHANGE_STATUS,
                body = cjson.encode { error_code = "MMC.1", error_msg = "bad\27[31m red" } }
            local result = run { "webhook", "disable", mock.WEBHOOK_ID }
            assert_exit(1, result)
            assert.is_falsy(result.stderr:find("\27", 1, true))
        end)
    end)

    describe("no answer", function()
        it("exits 3 when nothing listens, and tries no logout", function()
            local endpoint = "https://127.0.0.1:" .. mock.closed_port()
            local result = run({ "webhook", "enable", mock.WEBHOOK_ID }, { MMC_ENDPOINT = endpoint })
            assert_exit(3, result)
            assert.are.equal("", result.stdout)
            assert.matches("^mmc: webhook enable: no answer: authentication failed: connection failed", result.stderr)
            result = run({ "auth", "--json" }, { MMC_ENDPOINT = endpoint })
            assert_exit(3, result)
            assert.are.equal(cjson.null, result.json.status)
            assert.matches("^connection failed", result.json.error) -- auth itself: no prefix
            assert.is_nil(result.json.error_code)
        end)

        it("exits 3 when the certificate is not trusted", function()
            local result = run({ "auth" }, { MMC_CA_FILE = mock.other_ca_file })
            assert_exit(3, result)
            assert.matches("no answer: TLS failed: .*unable to get local issuer certificate; set MMC_CA_FILE to a PEM file", result.stderr)
            assert.are.equal(0, #mock.requests())
        end)

        it("exits 3 after --timeout seconds", function()
            mock.delay(1.5, 1)
            local started = mock.now()
            local result = run { "auth", "--timeout", "0.5" }
            assert_exit(3, result)
            assert.matches("no answer: timed out", result.stderr)
            assert.is_true(mock.now() - started < 1.4)
            -- the mock still answers the request given up on, with a token: let it, so that
            -- the token falls to the next spec's setup instead of into its counts
            mock.sleep(math.max(0, started + 1.6 - mock.now()))
        end)
    end)

    describe("secrets", function()
        local refused = {
            { "--app-key", { "auth", "--app-key", mock.APP_KEY } },
            { "--app-key", { "auth", "--app-key=" .. mock.APP_KEY } },
            { "--app-secret", { "--app-secret", mock.APP_KEY, "auth" } },
            { "--subscriber-key", { "webhook", "set", "--url", HOOK_URL, "--subscriber-id", "s", "--subscriber-key", SUBSCRIBER_KEY } },
            { "--subscriber-key", { "webhook", "set", "--subscriber-key=" .. SUBSCRIBER_KEY, "--help" } },
            { "--token", { "webhook", "show", "--token", "a-token-value" } },
            { "--access-token", { "webhook", "show", "--access-token=a-token-value", "--json" } },
        }
        for _, case in ipairs(refused) do
            local option, args = case[1], case[2]
            it("refuses a secret on the command line: mmc " .. table.concat(args, " "):gsub("=.*", "=..."), function()
                local result = run(args) -- run() fails on either key in the output
                assert_exit(2, result)
                local output = result.stderr .. result.stdout
                assert.matches("^mmc: " .. option:gsub("%-", "%%-") .. " is refused: a secret on the command line", result.stderr)
                assert.matches("MMC_[%u_]*KEY", output) -- where a secret comes from instead
                if option:find("subscriber", 1, true) then
                    assert.matches("use %-%-subscriber%-key%-file FILE or the environment variable MMC_SUBSCRIBER_KEY", output)
                end
                assert.is_falsy(output:find("a-token-value", 1, true))
                if result.json then assert.is_false(result.json.ok) end
                assert.are.equal(0, #mock.requests())
            end)
        end

        it("points to the file and the environment for the subscriber key", function()
            local result = run { "webhook", "set", "--subscriber-key", SUBSCRIBER_KEY }
            assert.matches("use %-%-subscriber%-key%-file FILE or the environment variable MMC_SUBSCRIBER_KEY", result.stderr)
        end)

        it("redacts the app key and subscriber key when the server echoes them", function()
            mock.fail { status = 400, path = mock.LINK_CONFIG, count = 2, body = cjson.encode {
                error_code = "MMC.111070005", error_msg = "key " .. SUBSCRIBER_KEY .. " app " .. mock.APP_KEY } }
            local key_file = write_file(SUBSCRIBER_KEY .. "\n")
            for _, json in ipairs { false, true } do
                local args = { "webhook", "set", "--url", HOOK_URL, "--subscriber-id", "s", "--subscriber-key-file", key_file }
                if json then args[#args + 1] = "--json" end
                local result = run(args) -- run() fails on any secret in the output
                assert_exit(1, result)
                assert.matches("MMC%.111070005: key %*%*%* app %*%*%*", json and result.json.error or result.stderr)
            end
            os.remove(key_file)
        end)

        it("shows no token and no key in any output of a whole session", function()
            local key_file = write_file(SUBSCRIBER_KEY)
            local outputs = {}
            local function each(args, env)
                for _, json in ipairs { false, true } do
                    local a = {}
                    for i, v in ipairs(args) do a[i] = v end
                    if json then a[#a + 1] = "--json" end
                    local result = run(a, env)
                    outputs[#outputs + 1] = result.stdout .. result.stderr
                end
            end
            each { "auth" }
            each { "webhook", "set", "--url", HOOK_URL, "--subscriber-id", "s", "--subscriber-key-file", key_file }
            each({ "webhook", "set", "--url", HOOK_URL, "--subscriber-id", "s" }, { MMC_SUBSCRIBER_KEY = ENV_SUBSCRIBER_KEY })
            each { "webhook", "show" }
            each { "webhook", "enable", mock.WEBHOOK_ID }
            each { "webhook", "lock", mock.webhook_configs()[1].id }
            each { "webhook", "delete", mock.webhook_configs()[1].id }
            each { "webhook", "show" }
            local help = run { "--help" }
            outputs[#outputs + 1] = help.stdout .. help.stderr
            os.remove(key_file)
            -- Checked again now that the mock has seen every token of the session.
            assert_no_secret(table.concat(outputs, "\n"))
            assert.is_true(#requests_to(mock.APPAUTH) >= 16)
        end)
    end)

    describe("webhook set", function()
        it("sends the url, subscriber id and the key from the file, without its trailing newline", function()
            local key_file = write_file(SUBSCRIBER_KEY .. "\n")
            local result = run { "webhook", "set", "--url", HOOK_URL, "--subscriber-id", "sub-0001", "--subscriber-key-file", key_file }
            os.remove(key_file)
            assert_exit(0, result)
            assert.are.equal("", result.stderr)
            assert.matches("^event push set: " .. HOOK_URL:gsub("%p", "%%%0") .. " %(subscriber id sub%-0001%), HTTP 200\n", result.stdout)
            local post = assert_one_session(mock.LINK_CONFIG, "POST", 0, "GET")
            assert.are.same({ url = HOOK_URL, subscriberId = "sub-0001", subscriberKey = SUBSCRIBER_KEY }, cjson.decode(post.body))
            local configs = mock.webhook_configs()
            assert.are.equal(1, #configs)
            assert.are.equal(SUBSCRIBER_KEY, configs[1].subscriberKey)
            assert.are.equal(1, configs[1].status) -- a new config starts disabled
            -- the id it printed is the one just made, read back with a show
            assert.are.equal("event push set: " .. HOOK_URL .. " (subscriber id sub-0001), HTTP 200\n"
                .. "id " .. configs[1].id .. "\n"
                .. "enable it with 'mmc webhook enable " .. configs[1].id .. "'\n", result.stdout)
        end)

        it("prints the new subscription's id alone with --id-only", function()
            local result = run({ "webhook", "set", "--url", HOOK_URL, "--subscriber-id", "sub-0001", "--id-only" },
                { MMC_SUBSCRIBER_KEY = ENV_SUBSCRIBER_KEY })
            assert_exit(0, result)
            assert.are.equal("", result.stderr)
            local configs = mock.webhook_configs()
            assert.are.equal(1, #configs)
            assert.are.equal(configs[1].id .. "\n", result.stdout)
            -- and nothing, exit 1, when the id cannot be read back
            mock.fail { status = 200, path = mock.LINK_CONFIG, body = "" }
            result = run({ "webhook", "set", "--url", HOOK_URL, "--subscriber-id", "s", "--id-only" },
                { MMC_SUBSCRIBER_KEY = ENV_SUBSCRIBER_KEY })
            assert_exit(1, result)
            assert.are.equal("", result.stdout)
            assert.matches("its id could not be read back", result.stderr)
            assert.matches("mmc: webhook set: no id to print\n$", result.stderr)
        end)

        it("prints the id the API answered with, without reading it back", function()
            mock.fail { status = 200, path = mock.LINK_CONFIG, body = cjson.encode { id = "id-from-the-answer" } }
            local result = run({ "webhook", "set", "--url", HOOK_URL, "--subscriber-id", "s", "--json" },
                { MMC_SUBSCRIBER_KEY = ENV_SUBSCRIBER_KEY })
            assert_exit(0, result)
            assert.are.equal("id-from-the-answer", result.json.data.id)
            assert.are.equal(0, #requests_to(mock.LINK_CONFIG, "GET"))
        end)

        it("still succeeds, with a warning and no id, when the id cannot be read back", function()
            -- the set is answered 200 but not stored: the show that follows finds nothing
            mock.fail { status = 200, path = mock.LINK_CONFIG, body = "" }
            local result = run({ "webhook", "set", "--url", HOOK_URL, "--subscriber-id", "s" }, { MMC_SUBSCRIBER_KEY = ENV_SUBSCRIBER_KEY })
            assert_exit(0, result)
            assert.matches("^event push set: .*\nsee its id with 'mmc webhook show'", result.stdout)
            assert.matches("^mmc: warning: the subscription was set, but its id could not be read back: MMC%.111070002", result.stderr)
            mock.fail { status = 200, path = mock.LINK_CONFIG, body = "" }
            result = run({ "webhook", "set", "--url", HOOK_URL, "--subscriber-id", "s", "--json" }, { MMC_SUBSCRIBER_KEY = ENV_SUBSCRIBER_KEY })
            assert_exit(0, result)
            assert.are.equal(cjson.null, result.json.data.id)
            assert.matches("^mmc: warning: ", result.stderr)
        end)

        it("does not print the id of a subscription other than the one it set", function()
            make_config { url = "https://127.0.0.1:9/other" }
            mock.fail { status = 200, path = mock.LINK_CONFIG, body = "" } -- the set is lost
            local result = run({ "webhook", "set", "--url", HOOK_URL, "--subscriber-id", "s", "--json" }, { MMC_SUBSCRIBER_KEY = ENV_SUBSCRIBER_KEY })
            assert_exit(0, result)
            assert.are.equal(cjson.null, result.json.data.id)
            assert.matches("not the one just set", result.stderr)
        end)

        it("strips one CRLF or LF, and only one", function()
            for _, case in ipairs { { "\r\n", SUBSCRIBER_KEY }, { "", SUBSCRIBER_KEY } } do
                mock.setup()
                local key_file = write_file(SUBSCRIBER_KEY .. case[1])
                local result = run { "webhook", "set", "--url", HOOK_URL, "--subscriber-id", "s", "--subscriber-key-file=" .. key_file }
                os.remove(key_file)
                assert_exit(0, result)
                assert.are.equal(case[2], mock.webhook_configs()[1].subscriberKey)
            end
            -- Two newlines leave one in the key, which the module refuses as a bad key.
            mock.setup()
            local key_file = write_file(SUBSCRIBER_KEY .. "\n\n")
            local result = run { "webhook", "set", "--url", HOOK_URL, "--subscriber-id", "s", "--subscriber-key-file", key_file }
            os.remove(key_file)
            assert_usage_error(result, "^mmc: subscriber_key must be 1 to 128 bytes of UTF%-8 text %(the subscriber key from the file ")
            assert.are.equal(0, #requests_to(mock.LINK_CONFIG))
        end)

        it("takes the key from MMC_SUBSCRIBER_KEY, and the file wins over it", function()
            local result = run({ "webhook", "set", "--url", HOOK_URL, "--subscriber-id", "s", "--json" },
                { MMC_SUBSCRIBER_KEY = ENV_SUBSCRIBER_KEY })
            assert_exit(0, result)
            assert.are.same({ id = mock.webhook_configs()[1].id, url = HOOK_URL, subscriber_id = "s" }, result.json.data)
            assert.are.equal(ENV_SUBSCRIBER_KEY, mock.webhook_configs()[1].subscriberKey)

            local key_file = write_file(SUBSCRIBER_KEY)
            result = run({ "webhook", "set", "--url", HOOK_URL, "--subscriber-id", "s", "--subscriber-key-file", key_file },
                { MMC_SUBSCRIBER_KEY = ENV_SUBSCRIBER_KEY })
            os.remove(key_file)
            assert_exit(0, result)
            local configs = mock.webhook_configs()
            assert.are.equal(1, #configs) -- replaced
            assert.are.equal(SUBSCRIBER_KEY, configs[1].subscriberKey)
        end)

        it("sends --corp-id and --sp-id", function()
            local result = run({ "webhook", "set", "--url", HOOK_URL, "--subscriber-id", "s", "--corp-id", "corp-7", "--sp-id", "sp-9" },
                { MMC_SUBSCRIBER_KEY = ENV_SUBSCRIBER_KEY })
            assert_exit(0, result)
            local body = cjson.decode(requests_to(mock.LINK_CONFIG, "POST")[1].body)
            assert.are.equal("corp-7", body.corpId)
            assert.are.equal("sp-9", body.spId)
        end)

        local refusals = {
            { "no key at all", nil, nil, "webhook set needs the subscriber key: %-%-subscriber%-key%-file FILE, or the environment variable MMC_SUBSCRIBER_KEY" },
            { "a file that cannot be read", "/nonexistent/key", nil, "cannot read the subscriber key file: /nonexistent/key" },
            { "a directory", "/", nil, "subscriber key file /" },
            { "an empty file", "", nil, "the subscriber key file .* is empty" },
            { "a file of one newline", "\n", ENV_SUBSCRIBER_KEY, "the subscriber key file .* is empty" },
            { "an empty MMC_SUBSCRIBER_KEY", nil, "", "webhook set needs the subscriber key" },
            { "a key longer than 128 bytes", string.rep("k", 129), nil, "subscriber_key must be 1 to 128 bytes" },
        }
        for _, case in ipairs(refusals) do
            it("refuses " .. case[1] .. " with exit status 2, sending nothing", function()
                local key_file = case[2]
                if key_file and key_file:sub(1, 1) ~= "/" then key_file = write_file(case[2]) end
                local args = { "webhook", "set", "--url", HOOK_URL, "--subscriber-id", "s" }
                if key_file then
                    args[#args + 1] = "--subscriber-key-file"
                    args[#args + 1] = key_file
                end
                local result = run(args, { MMC_SUBSCRIBER_KEY = case[3] or false })
                if key_file and key_file ~= case[2] then os.remove(key_file) end
                assert_usage_error(result, case[4])
                assert.are.equal(0, #mock.requests())
            end)
        end
    end)

    describe("webhook show", function()
        it("prints the subscription, never its key", function()
            local id = make_config()
            local since = #mock.requests()
            local result = run { "webhook", "show" }
            assert_exit(0, result)
            assert.are.equal("", result.stderr)
            assert.are.equal(table.concat({
                "id             " .. id,
                "url            " .. HOOK_URL,
                "subscriber id  sub-0001",
                "status         disabled (1)",
            }, "\n") .. "\n", result.stdout)
            local get = assert_one_session(mock.LINK_CONFIG, "GET", since)
            assert.are.equal("", get.query)
        end)

        it("prints the id alone with --id-only, for a script", function()
            local id = make_config()
            local result = run { "webhook", "show", "--id-only" }
            assert_exit(0, result)
            assert.are.equal(id .. "\n", result.stdout)
            assert.are.equal("", result.stderr)
        end)

        it("prints it as JSON data with --json", function()
            local id = make_config()
            run { "webhook", "lock", id }
            local result = run { "webhook", "show", "--json" }
            assert_exit(0, result)
            assert.are.same({ id = id, url = HOOK_URL, subscriber_id = "sub-0001", status = 2, status_name = "locked" }, result.json.data)
            assert.are.equal(200, result.json.status)
        end)

        it("asks for --corp-id and --sp-id", function()
            make_config { corp_id = "corp-7" }
            local result = run { "webhook", "show", "--corp-id", "corp-7", "--sp-id=sp-9" }
            assert_exit(0, result)
            assert.are.equal("corpId=corp-7&spId=sp-9", requests_to(mock.LINK_CONFIG, "GET")[1].query)
        end)

        it("exits 1 when there is no subscription", function()
            local result = run { "webhook", "show" }
            assert_exit(1, result)
            assert.matches("^mmc: webhook show: HTTP 404: MMC%.111070002: webhook config not found %(request id %x+%); "
                .. "no subscription is set: 'mmc webhook set' makes one\n$", result.stderr)
            result = run { "webhook", "show", "--id-only" }
            assert_exit(1, result)
            assert.are.equal("", result.stdout)
            result = run { "webhook", "show", "--json" }
            assert.are.equal(404, result.json.status)
            assert.is_nil(result.json.data)
        end)
    end)

    describe("webhook delete", function()
        it("deletes the subscription by id", function()
            local id = make_config()
            local since = #mock.requests()
            local result = run { "webhook", "delete", id }
            assert_exit(0, result)
            assert.are.equal("event push " .. id .. " deleted (HTTP 200)\n", result.stdout)
            local delete = assert_one_session(mock.LINK_CONFIG, "DELETE", since)
            assert.are.equal("id=" .. id, delete.query)
            assert.are.equal(0, #mock.webhook_configs())
        end)

        it("exits 1 for an id that does not exist", function()
            local result = run { "webhook", "delete", "0123456789abcdef", "--json" }
            assert_exit(1, result)
            assert.are.equal("MMC.111070002", result.json.error_code)
        end)
    end)

    describe("webhook enable with a receiver", function()
        -- Starts spec/support/cli_receiver.lua in the background (it serves one push, then
        -- exits, and gives up by itself after 20 s); returns its url and its log file.
        local function start_receiver(wrong)
            local port_file, log_file = os.tmpname(), os.tmpname()
            to_remove[#to_remove + 1] = port_file
            to_remove[#to_remove + 1] = log_file
            os.remove(port_file)
            os.execute(("env MMC_SUBSCRIBER_KEY=%s %s -e %s spec/support/cli_receiver.lua %s %s %s %s %s </dev/null >/dev/null 2>>%s &")
                :format(quote(SUBSCRIBER_KEY), quote(INTERPRETER), quote("package.cpath=" .. ("%q"):format(package.cpath)),
                    port_file, log_file, quote(mock.receiver_cert_file), quote(mock.receiver_key_file), wrong and "WRONG" or "", log_file))
            local deadline = mock.now() + 10
            local port
            repeat
                local handle = io.open(port_file)
                if handle then
                    port = handle:read("*l")
                    handle:close()
                else
                    mock.sleep(0.05)
                end
            until port or mock.now() > deadline
            os.remove(port_file)
            assert(port, "the receiver did not start: " .. slurp(log_file))
            return "https://127.0.0.1:" .. port .. "/events", log_file
        end

        local function set_to(url)
            local key_file = write_file(SUBSCRIBER_KEY .. "\n")
            assert_exit(0, run { "webhook", "set", "--url", url, "--subscriber-id", "sub-e2e", "--subscriber-key-file", key_file })
            os.remove(key_file)
            return mock.webhook_configs()[1].id
        end

        local function wait_for_log(log_file)
            local deadline = mock.now() + 10
            while slurp(log_file) == "" and mock.now() < deadline do mock.sleep(0.05) end
            return slurp(log_file)
        end

        it("enables once the receiver echoes meeting.verify's nonce", function()
            local url, log_file = start_receiver(false)
            local id = set_to(url)
            local result = run { "webhook", "enable", id }
            assert_exit(0, result)
            assert.are.equal("event push " .. id .. " enabled (HTTP 200)\n", result.stdout)
            assert.are.equal("verified meeting.verify (POST /events)\n", wait_for_log(log_file))
            os.remove(log_file)
            local push = mock.pushes()[1]
            assert.are.equal("verify", push.kind)
            assert.are.equal(200, push.status)
            assert.are.equal(0, mock.webhooks()[id])
            assert.are.equal("enabled", run({ "webhook", "show", "--json" }).json.data.status_name)
        end)

        it("exits 1 when the receiver echoes a wrong nonce, and the status stays", function()
            local url, log_file = start_receiver(true)
            local id = set_to(url)
            local result = run { "webhook", "enable", id, "--json" }
            assert_exit(1, result)
            assert.are.equal("MMC.111070008", result.json.error_code)
            assert.matches("echoed the wrong nonce", result.json.error)
            assert.matches("^verified meeting%.verify", wait_for_log(log_file))
            os.remove(log_file)
            assert.are.equal(1, mock.webhooks()[id])
        end)
    end)

    it("runs the lifecycle: set, show, enable (refused: no receiver), disable, lock, delete", function()
        local key_file = write_file(SUBSCRIBER_KEY .. "\n")
        assert_exit(0, run({ "webhook", "set", "--url", HOOK_URL, "--subscriber-id", "life", "--subscriber-key-file", key_file }))
        os.remove(key_file)
        local shown = run { "webhook", "show", "--json" }
        local id = shown.json.data.id
        assert.are.equal("disabled", shown.json.data.status_name)

        -- Huawei first sends meeting.verify to the url; nothing answers there.
        local result = run { "webhook", "enable", id }
        assert_exit(1, result)
        assert.matches("^mmc: webhook enable: HTTP 400: MMC%.111070008: event push verification failed", result.stderr)
        assert.are.equal("meeting.verify", mock.pushes()[1].event)

        assert_exit(0, run({ "webhook", "disable", id }))
        assert_exit(0, run({ "webhook", "lock", id }))
        assert.are.equal("locked", run({ "webhook", "show", "--json" }).json.data.status_name)
        assert_exit(0, run({ "webhook", "delete", id }))
        assert_exit(1, run({ "webhook", "show" }))
        assert.are.equal(0, mock.tokens().active) -- every run logged out
    end)
end)
