-- `mmc recordings download CONF_UUID --to DIR` (bin/mmc): run as a separate process under the
-- interpreter that runs the specs (arg[-1]), against the local mock, whose recorded meeting has
-- three files (Hd, Sd, Aux) on its second HTTPS host. Every run is checked for secrets (the
-- app key, the API's tokens and the one-time download tokens) in its output.
local mock = require "mock"
local cjson = mock.json
local files = require "files"

local INTERPRETER = arg and arg[-1] or "lua5.4"
local BUILD_DIR = os.getenv("MMC_BUILD_DIR") or "build"
local CONF = "a8a4d4e0b6c511ee9a0b5f2c1d3e4f50"
local URLS = "/v1/mmc/management/record/downloadurls"
local quote = files.shell_quote

local CLEARED = {
    "MMC_APP_ID", "MMC_APP_KEY", "MMC_USER_ID", "MMC_CORP_ID", "MMC_ENDPOINT", "MMC_CA_FILE",
    "MMC_BUILD_DIR", "LUA_CPATH", "LUA_CPATH_5_2", "LUA_CPATH_5_3", "LUA_CPATH_5_4",
}

local function shell(command)
    local pipe = assert(io.popen(command))
    local output = pipe:read("*a")
    pipe:close()
    return output
end

-- Runs bin/mmc with `args` against the mock; with `terminal`, inside a pseudo-terminal
-- (script(1)), stdout and stderr together. Returns { code =, stdout =, stderr =, json = }.
local function run(args, terminal)
    local parts = { "env" }
    for _, name in ipairs(CLEARED) do parts[#parts + 1] = "-u " .. name end
    parts[#parts + 1] = mock.child_env()
    for k, v in pairs { MMC_APP_ID = mock.APP_ID, MMC_APP_KEY = mock.APP_KEY, MMC_ENDPOINT = mock.endpoint,
                        MMC_CA_FILE = mock.ca_file, MMC_BUILD_DIR = BUILD_DIR } do
        parts[#parts + 1] = quote(k .. "=" .. v)
    end
    parts[#parts + 1] = quote(INTERPRETER) .. " bin/mmc"
    local json = false
    for _, a in ipairs(args) do
        parts[#parts + 1] = quote(a)
        json = json or a == "--json"
    end
    local command = table.concat(parts, " ")
    local out, err = os.tmpname(), os.tmpname()
    local code
    if terminal then
        -- script(1) itself, under the suite's ASan preload, must not report its own leaks
        code = tonumber(shell(mock.child_env() .. "script -qec " .. quote(command) .. " /dev/null >" .. out .. " 2>" .. err .. " </dev/null; echo $?"))
    else
        code = tonumber(shell(command .. " </dev/null >" .. out .. " 2>" .. err .. "; echo $?"))
    end
    local result = { code = code, stdout = files.read(out), stderr = files.read(err) }
    os.remove(out)
    os.remove(err)
    mock.assert_no_secret(result.stdout)
    mock.assert_no_secret(result.stderr)
    if json then
        result.json = cjson.decode(result.stdout)
        assert.are.equal(code, result.json.exit)
    end
    return result
end

local function sha256(path) return shell("sha256sum " .. quote(path)):match("^(%x+)") end

describe("mmc recordings download", function()
    local dir, recording
    before_each(function()
        mock.setup()
        mock.clear_file_requests()
        mock.clear_faults()
        dir = shell("mktemp -d \"${TMPDIR:-/tmp}/mmc-cli-rec.XXXXXX\""):gsub("\n$", "")
        recording = mock.recording_files()
    end)
    after_each(function()
        mock.clear_faults()
        os.execute("rm -rf " .. quote(dir))
    end)

    it("writes each file as <CONF_UUID>-<fileType>.mp4, whole, one line each", function()
        local r = run { "recordings", "download", CONF, "--to", dir }
        assert.are.equal(0, r.code, r.stderr)
        for _, file_type in ipairs { "Hd", "Sd", "Aux" } do
            local file = CONF .. "-" .. file_type .. ".mp4"
            assert.are.equal(recording.files[file_type].sha256, sha256(dir .. "/" .. file))
            assert.matches(file .. ": " .. string.format("%.1f", recording.files[file_type].size / 1048576)
                .. " MiB written (HTTP 200)\n", r.stdout, 1, true)
        end
        assert.are.equal(3, select(2, r.stdout:gsub("\n", "")))
        assert.are.equal("", r.stderr)
        assert.are.equal(3, #mock.file_requests())
        assert.are.equal(CONF .. "-Aux.mp4\n" .. CONF .. "-Hd.mp4\n" .. CONF .. "-Sd.mp4\n", shell("ls -A " .. quote(dir)))
    end)

    it("skips the files already there, without a request to their host", function()
        assert.are.equal(0, run({ "recordings", "download", CONF, "--to", dir }).code)
        os.remove(dir .. "/" .. CONF .. "-Sd.mp4")
        mock.clear_file_requests()
        local r = run { "recordings", "download", CONF, "--to", dir .. "/", "--json" }
        assert.are.equal(0, r.code, r.stderr)
        local by_type = {}
        for _, row in ipairs(r.json.data.files) do by_type[row.file_type] = row end
        assert.is_true(by_type.Hd.skipped and by_type.Aux.skipped)
        assert.are.equal(recording.files.Hd.size, by_type.Hd.bytes)
        assert.is_nil(by_type.Sd.skipped)
        assert.are.same({ 200, recording.files.Sd.size, true }, { by_type.Sd.status, by_type.Sd.bytes, by_type.Sd.ok })
        local seen = mock.file_requests()
        assert.are.equal(1, #seen)
        assert.matches("/Sd%.mp4$", seen[1].path)
        assert.are.equal(recording.files.Sd.sha256, sha256(dir .. "/" .. CONF .. "-Sd.mp4"))
    end)

    it("draws a progress bar on a terminal", function()
        local r = run({ "recordings", "download", CONF, "--to", dir }, true)
        assert.are.equal(0, r.code, r.stdout .. r.stderr)
        assert.matches("\r" .. CONF .. "%-Hd%.mp4 %[#+%] 100%% 64%.0 MiB / 64%.0 MiB\r?\n", r.stdout)
    end)

    it("refuses a missing --to or folder before asking anything (exit 2)", function()
        local r = run { "recordings", "download", CONF }
        assert.are.equal(2, r.code)
        assert.matches("recordings download needs --to DIR", r.stderr, 1, true)
        r = run { "recordings", "download", CONF, "--to", dir .. "/missing" }
        assert.are.equal(2, r.code)
        assert.matches("--to " .. dir .. "/missing: no such folder, or not writable", r.stderr, 1, true)
        r = run { "recordings", "download", "../etc", "--to", dir }
        assert.are.equal(2, r.code)
        assert.matches("CONF_UUID must be", r.stderr, 1, true)
        r = run { "recordings", "fetch", CONF, "--to", dir }
        assert.are.equal(2, r.code)
        assert.matches("unknown recordings subcommand 'fetch' (download)", r.stderr, 1, true)
        assert.are.equal(0, #mock.requests())
    end)

    it("says when a meeting has no recordings, and when downloadurls fails (exit 1)", function()
        local r = run { "recordings", "download", "no-such-meeting", "--to", dir }
        assert.are.equal(1, r.code)
        assert.matches("no recordings for no-such-meeting", r.stderr, 1, true)
        mock.fail { status = 400, path = URLS, count = 1,
                    body = '{"error_code":"MMC.111070001","error_msg":"bad confUUID"}' }
        r = run { "recordings", "download", CONF, "--to", dir, "--json" }
        assert.are.equal(1, r.code)
        assert.are.equal(400, r.json.status)
        assert.matches("MMC.111070001: bad confUUID", r.json.error, 1, true)
        assert.are.equal("", shell("ls -A " .. quote(dir)))
    end)
end)
