-- `mmc request METHOD PATH [--query NAME=VALUE]... [--body JSON]` (bin/mmc): any API call from
-- the shell, run as a separate process under the interpreter that runs the specs, against the
-- local mock. Every run is checked for secrets in its output.
local mock = require "mock"
local cjson = mock.json
local files = require "files"

local INTERPRETER = arg and arg[-1] or "lua5.4"
local BUILD_DIR = os.getenv("MMC_BUILD_DIR") or "build"
local CONFERENCES = mock.CONFERENCES

local quote = files.shell_quote
local slurp = files.read

-- Runs `<interpreter> bin/mmc <args>` with the mock's environment. Returns { code =, stdout =,
-- stderr =, json = <stdout decoded, with --json> }.
local function run(args)
    local parts = { "env", "-u MMC_USER_ID -u MMC_CORP_ID -u LUA_CPATH -u LUA_CPATH_5_2 -u LUA_CPATH_5_3 -u LUA_CPATH_5_4",
        mock.child_env() }
    for k, v in pairs { MMC_APP_ID = mock.APP_ID, MMC_APP_KEY = mock.APP_KEY, MMC_ENDPOINT = mock.endpoint,
                        MMC_CA_FILE = mock.ca_file, MMC_BUILD_DIR = BUILD_DIR } do
        parts[#parts + 1] = quote(k .. "=" .. v)
    end
    parts[#parts + 1] = quote(INTERPRETER)
    parts[#parts + 1] = "bin/mmc"
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
    mock.assert_no_secret(result.stdout)
    mock.assert_no_secret(result.stderr)
    if json then
        assert(result.stdout:match("^{.*}\n$"), "--json must print one JSON object on one line: " .. result.stdout)
        result.json = cjson.decode(result.stdout)
        assert.are.equal(code, result.json.exit)
    end
    return result
end

local function assert_exit(code, result)
    assert(result.code == code, ("exit status %s, expected %d; stdout: %s; stderr: %s")
        :format(tostring(result.code), code, result.stdout, result.stderr))
end

describe("mmc request", function()
    before_each(function() mock.setup() end)
    after_each(function() mock.clear_faults() end)

    it("makes a GET with the query escaped and prints the status and the JSON body", function()
        local result = run { "request", "GET", CONFERENCES, "--query", "limit=2", "--query", "searchKey=Weekly sync" }
        assert_exit(0, result)
        local status_line, body_line = result.stdout:match("^(HTTP %d+)\n(.-)\n$")
        assert.are.equal("HTTP 200", status_line)
        local body = cjson.decode(body_line)
        assert.are.equal(1, body.count)
        assert.are.equal("Weekly sync", body.data[1].subject)
        assert.are.equal("", result.stderr)
        local requests = mock.requests_to(CONFERENCES)
        assert.are.equal(1, #requests)
        assert.are.equal("limit=2&searchKey=Weekly%20sync", requests[1].query)
        -- the command logs its token out
        assert.are.equal(1, #mock.requests_to(mock.TOKEN))
    end)

    it("sends --body as it is, and --json gives the body as data", function()
        local result = run { "--json", "request", "POST", CONFERENCES, "--body", '{"subject":"cli","mediaTypes":"Voice"}' }
        assert_exit(0, result)
        assert.are.equal(200, result.json.status)
        assert.are.equal("request", result.json.command)
        assert.are.equal("cli", result.json.data[1].subject)
        local sent = mock.requests_to(CONFERENCES)[1]
        assert.are.equal("POST", sent.method)
        assert.are.equal('{"subject":"cli","mediaTypes":"Voice"}', sent.body)
    end)

    it("an error answer exits 1, prints the status and body, and the error on stderr", function()
        local result = run { "request", "GET", CONFERENCES .. "/confDetail", "--query", "conferenceID=1" }
        assert_exit(1, result)
        assert.matches("^HTTP 404\n{.*\"error_code\":\"MMC.111071001\"", result.stdout)
        assert.matches("mmc: request: HTTP 404: MMC.111071001", result.stderr, 1, true)
        local json = run { "--json", "request", "GET", CONFERENCES .. "/confDetail", "--query", "conferenceID=1" }
        assert_exit(1, json)
        assert.are.equal("MMC.111071001", json.json.error_code)
        assert.are.equal("MMC.111071001", json.json.data.error_code)
    end)

    it("no answer exits 3", function()
        mock.fail { status = 503, count = 10, path = CONFERENCES, body = "{}" }
        local result = run { "--timeout", "1", "request", "GET", CONFERENCES }
        assert.is_true(result.code == 3 or result.code == 1, result.stderr)
    end)

    it("refuses bad input with exit 2 before anything is sent", function()
        for _, case in ipairs {
            { { "request" }, "request needs METHOD PATH" },
            { { "request", "GET" }, "request needs METHOD PATH" },
            { { "request", "FETCH", CONFERENCES }, "method must be" },
            { { "request", "GET", "https://elsewhere/x" }, "path must start with '/'" },
            { { "request", "GET", CONFERENCES, "--query", "limit" }, "--query needs NAME=VALUE" },
            { { "request", "GET", CONFERENCES, "--query", "=1" }, "--query needs NAME=VALUE" },
            { { "request", "GET", CONFERENCES, "--query", "a=1", "--query", "a=2" }, "--query a given twice" },
            { { "request", "POST", CONFERENCES, "--body", "{nope" }, "--body is not JSON" },
            { { "request", "POST", CONFERENCES, "--body", "{}", "--body", "{}" }, "option '--body' given twice" },
            { { "request", "GET", CONFERENCES, "--body", "{}" }, "a GET has no body" },
            { { "request", "GET", CONFERENCES, "--url", "x" }, "does not apply to 'mmc request'" },
            { { "request", "GET", CONFERENCES, "extra" }, "too many arguments" },
        } do
            local result = run(case[1])
            assert_exit(2, result)
            assert.matches(case[2], result.stderr, 1, true)
        end
        assert.are.same({}, mock.requests())
    end)

    it("has help, and the top help lists it", function()
        local result = run { "request", "--help" }
        assert_exit(0, result)
        assert.matches("usage: mmc request METHOD PATH [--query NAME=VALUE]... [--body JSON]", result.stdout, 1, true)
        assert.matches("request METHOD PATH", run({ "--help" }).stdout, 1, true)
    end)
end)
