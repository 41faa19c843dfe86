-- The documentation runs as written. For README.md and every docs/*.md:
--   - every ```lua block is a complete script: it is run, from the repository root, with the
--     interpreter that runs the specs, as README tells users to run a script:
--     LUA_PATH='lua/?.lua;;' LUA_CPATH='<MMC_BUILD_DIR>/?.so;;' <lua> script.lua, against the
--     local server set up from examples/local-server.json and its environment (MMC_ENDPOINT,
--     MMC_APP_ID, MMC_APP_KEY, MMC_CA_FILE, MMC_WEBHOOK_ID, as scripts/mock exports them),
--     and must exit 0 within 60 s with no secret in its output; each `--> expected` comment
--     must be what the block printed there (spec/support/docs.lua: `...` stands for any text
--     within a line, a run of spaces for any run of spaces and tabs);
--   - a block directly under `<!-- from PATH -->` (an nginx config, a snippet that runs only
--     inside nginx) is not run here: it must be a verbatim excerpt of PATH, whole lines, and a
--     spec runs PATH; an ```nginx block must have one;
--   - a ```sh block is run the same way with `sh -e` (lua5.4 and build/ in it becoming the
--     interpreter and the build the suite runs with) unless the line above it says who runs
--     it, `<!-- run by FILE -->` (FILE must exist and name the document, or contain each of the
--     block's commands), or why nothing does, `<!-- not run by the docs checker: REASON -->`:
--     installing packages (root and the network), the test suite itself, builds and the
--     benchmark (minutes). Such a block must give its reason; it is not counted as run;
--   - every link stays in the repository: no http(s) link, every relative link names a file
--     that exists, and every #anchor a heading of that file.
local mock = require "mock"
local docs = require "docs"
local cjson = require("cjson").new()
local files = require "files"

local INTERPRETER = arg and arg[-1] or "lua5.4"
local BUILD_DIR = os.getenv("MMC_BUILD_DIR") or "build"

local read = files.read_or_nil
local shell_quote = files.shell_quote

local function exists(path)
    local file = io.open(path, "rb")
    if file then file:close() return true end
    local status = os.execute("test -d " .. shell_quote(path))
    return status == true or status == 0
end

local local_server = cjson.decode((assert(read("examples/local-server.json"))))

-- The environment a user has after exporting what scripts/mock prints, plus the module paths.
local function environment()
    return {
        MMC_ENDPOINT = mock.endpoint, MMC_CA_FILE = mock.ca_file,
        MMC_APP_ID = local_server.apps[1].app_id, MMC_APP_KEY = local_server.apps[1].app_key,
        MMC_WEBHOOK_ID = local_server.webhook_ids[1],
        LUA_PATH = "lua/?.lua;;", LUA_CPATH = BUILD_DIR .. "/?.so;;",
    }
end

-- Runs `command` (a shell command line) from the repository root with the users' environment;
-- returns whether it exited 0 and its output (stdout and stderr).
local function run(command, shell_prefix)
    local assignments = {}
    for name, value in pairs(environment()) do assignments[#assignments + 1] = name .. "=" .. shell_quote(value) end
    table.sort(assignments)
    local unset = "-u MMC_USER_ID -u MMC_CORP_ID -u MMC_SUBSCRIBER_KEY -u MMC_SUBSCRIBER_KEY_FILE -u LUA_INIT"
    for _, v in ipairs { "5_1", "5_2", "5_3", "5_4" } do
        unset = unset .. " -u LUA_PATH_" .. v .. " -u LUA_CPATH_" .. v .. " -u LUA_INIT_" .. v
    end
    -- In a sanitized run, children skip leak checks (mock.child_env says why).
    local pipe = assert(io.popen((shell_prefix or "") .. "env " .. unset .. " " .. mock.child_env() .. table.concat(assignments, " ")
        .. " timeout 60 " .. command .. " 2>&1; echo \"exit=$?\""))
    local output = pipe:read("*a")
    pipe:close()
    local body, status = output:match("^(.*)exit=(%d+)\n$")
    return status == "0", body or output
end

-- GitHub's anchors: lower case, punctuation other than - and _ dropped, spaces to -.
local function anchors_of(path)
    local found = {}
    for line in (read(path) or ""):gmatch("[^\n]+") do
        local heading = line:match("^#+%s+(.-)%s*$")
        if heading then
            local slug = heading:lower():gsub("[^%w%s_-]", ""):gsub("%s", "-")
            found[slug] = true
        end
    end
    return found
end

-- Whether `excerpt` is `text`'s lines from some line to some line.
local function is_excerpt(excerpt, text)
    local start = 1
    while true do
        local at = text:find(excerpt, start, true)
        if not at then return false end
        if (at == 1 or text:sub(at - 1, at - 1) == "\n") then return true end
        start = at + 1
    end
end

local function location(block)
    return block.path .. ":" .. block.line
end

-- Compares each `-->` of a Lua block with what the block printed up to there (docs.lua says
-- how); returns nil when all match, else where and what differs.
local function output_mismatch(block, expected, output)
    local printed = {}
    local from = 1
    while true do
        local at, after = output:find(docs.OUTPUT_MARKER, from, true)
        if not at then break end
        printed[#printed + 1] = output:sub(from, at - 1)
        from = after + 1
    end
    for i, want in ipairs(expected) do
        local where = block.path .. ":" .. (block.line + want.line)
        if not printed[i] then return where .. ": the block ended before this `-->`:\n" .. output end
        local same, why = docs.output_matches(want.text, printed[i])
        if not same then return where .. ": the documented output is not what the line printed (" .. why .. ")" end
    end
    return nil
end

-- Runs a Lua block as a script as users would; returns whether it exited 0, its output and
-- the `-->` that differs from what it printed (nil when none).
local function run_lua_block(block)
    local text, expected = docs.expected_output(block.text)
    local script = files.write_temp(text, ".lua")
    local ok, output = run(shell_quote(INTERPRETER) .. " " .. shell_quote(script))
    os.remove(script)
    return ok, output, output_mismatch(block, expected, output)
end

for _, path in ipairs(docs.files()) do
    describe(path, function()
        before_each(function()
            mock.setup { apps = local_server.apps, webhook_ids = local_server.webhook_ids,
                         token_valid_period = local_server.token_valid_period }
        end)

        for _, block in ipairs(docs.blocks(path)) do
            local marker = block.marker or ""
            local from = marker:match("^from%s+(%S+)$")
            local run_by = marker:match("^run by%s+(%S+)$")
            local not_run = marker:match("^not run by the docs checker:%s*(.-)$")

            if from then
                it("has the block at line " .. block.line .. " exactly as it stands in " .. from, function()
                    local source = read(from)
                    assert(source, location(block) .. ": " .. from .. " does not exist")
                    assert(block.text ~= "", location(block) .. ": an empty excerpt")
                    assert(is_excerpt(block.text, source),
                        location(block) .. ": this block is not a verbatim excerpt of " .. from .. ":\n" .. block.text)
                end)
            elseif block.lang == "lua" then
                it("runs the Lua block at line " .. block.line .. " as a script against the local server", function()
                    assert(marker == "", location(block) .. ": a lua block runs as a script; only <!-- from PATH --> may mark it")
                    local ok, output, mismatch = run_lua_block(block)
                    assert(ok, location(block) .. " failed under " .. INTERPRETER .. ":\n" .. output)
                    mock.assert_no_secret(output)
                    assert(not mismatch, mismatch)
                end)
            elseif block.lang == "nginx" then
                it("shows the nginx block at line " .. block.line .. " from an example a spec runs", function()
                    error(location(block) .. ": an nginx block needs <!-- from examples/PATH --> on the line above it")
                end)
            elseif block.lang == "sh" or block.lang == "bash" or block.lang == "shell" then
                if run_by then
                    it("has the shell block at line " .. block.line .. " run by " .. run_by, function()
                        local runner = read(run_by)
                        assert(runner, location(block) .. ": " .. run_by .. " does not exist")
                        if not runner:find(path, 1, true) then
                            for command in block.text:gmatch("[^\n]+") do
                                assert(runner:find(command, 1, true),
                                    location(block) .. ": " .. run_by .. " names neither " .. path .. " nor `" .. command .. "`")
                            end
                        end
                    end)
                elseif not_run then
                    it("says why the shell block at line " .. block.line .. " is not run here", function()
                        assert(#not_run >= 10, location(block) .. ": say why the block is not run")
                    end)
                else
                    it("runs the shell block at line " .. block.line .. " from the repository root", function()
                        assert(marker == "", location(block) .. ": unknown marker <!-- " .. marker .. " -->")
                        -- As the suite runs: its interpreter and its build (the same as the
                        -- block's under Lua 5.4 from build/).
                        local shell_prefix, interpreter = docs.sanitized_child(INTERPRETER)
                        local text = block.text:gsub("lua5%.4", interpreter):gsub("build/", BUILD_DIR .. "/")
                            :gsub("MMC_BUILD_DIR=build%f[%s]", "MMC_BUILD_DIR=" .. BUILD_DIR)
                        local script = files.write_temp(text, ".sh")
                        local ok, output = run("sh -e " .. shell_quote(script), shell_prefix)
                        os.remove(script)
                        assert(ok, location(block) .. " failed:\n" .. block.text .. "----\n" .. output)
                        mock.assert_no_secret(output)
                    end)
                end
            end
        end

        -- Links outside code spans and blocks (fenced blocks and `code` dropped first). A
        -- document without links has no such test: it would check nothing.
        local links = {}
        local prose = read(path):gsub("\n```.-\n```", "\n"):gsub("`[^`\n]*`", "")
        for target in prose:gmatch("%]%(([^)%s]+)%)") do links[#links + 1] = target end
        if #links > 0 then
            it("links only to files and headings in the repository (" .. #links .. " links)", function()
                local directory = path:match("^(.*)/[^/]*$")
                for _, target in ipairs(links) do
                    assert(not target:match("^%a+:") and not target:match("^//"),
                        path .. ": the link " .. target .. " leaves the repository")
                    local file, anchor = target:match("^([^#]*)#?(.*)$")
                    local resolved = file == "" and path or (directory and (directory .. "/" .. file) or file)
                    resolved = resolved:gsub("[^/]+/%.%./", "")
                    assert(not resolved:match("^%.%./") and not resolved:match("^/"),
                        path .. ": the link " .. target .. " leaves the repository")
                    assert(exists(resolved), path .. ": the link " .. target .. " names a file that does not exist")
                    if anchor ~= "" then
                        assert(anchors_of(resolved)[anchor], path .. ": the link " .. target .. " names no heading of " .. resolved)
                    end
                end
            end)
        end
    end)
end

describe("the documentation's shape", function()
    it("keeps README a front page: at most 300 lines, with its contents", function()
        local text = assert(read("README.md"))
        local lines = select(2, text:gsub("\n", "\n"))
        assert.is_true(lines <= 300, "README.md has " .. lines .. " lines")
        assert.truthy(text:find("\n## Contents\n", 1, true))
    end)

    it("names in its apt-get lines only the Debian packages scripts/deps knows", function()
        local known = {}
        for name in assert(read("scripts/deps")):gsub("#[^\n]*", ""):gmatch("[%w][%w.+-]+") do known[name] = true end
        local named = 0
        for _, path in ipairs(docs.files()) do
            for _, block in ipairs(docs.blocks(path)) do
                local line = block.text:gsub("\\\n", " ")
                for packages in line:gmatch("apt%-get install ([^\n]*)") do
                    for name in packages:gmatch("%S+") do
                        if not name:match("^%-") then
                            named = named + 1
                            assert(known[name], location(block) .. ": the package " .. name .. " is not in scripts/deps")
                        end
                    end
                end
            end
        end
        assert.is_true(named > 0)
    end)

    it("has bench/results.md and the figures of docs/speed.md as bench/report.py writes them from one run", function()
        -- bench/run keeps the run's raw lines in bench/results.txt; a figure edited by hand, or
        -- spliced in from another run, makes the report differ.
        local pipe = assert(io.popen("env -u LD_PRELOAD python3 bench/report.py --check bench/results.txt bench/results.md docs/speed.md 2>&1; echo \"exit=$?\""))
        local output = pipe:read("*a")
        pipe:close()
        assert.are.equal("exit=0\n", output)
        local speed = assert(read("docs/speed.md"))
        assert.truthy(speed:find("<!-- bench/report.py: calls -->\n| client |", 1, true))
        assert.truthy(assert(read("bench/results.txt")):find("\nMETA tree ", 1, true))
    end)

    it("keeps CI calling README's two commands", function()
        local ci = assert(read(".ci/run"))
        local block = docs.marked_block("README.md", "run by .ci/run")
        for command in block:gmatch("[^\n]+") do
            assert.truthy(ci:find("\n" .. command .. "\n", 1, true), ".ci/run does not run `" .. command .. "`")
        end
    end)
end)

describe("the documented-output check (`-->`)", function()
    before_each(function()
        mock.setup { apps = local_server.apps, webhook_ids = local_server.webhook_ids,
                     token_valid_period = local_server.token_valid_period }
    end)

    it("matches `...` to any text within a line and spaces to tabs, and nothing else", function()
        assert.is_true(docs.output_matches("200 ...", "200\tnil\ttable: 0x5581"))
        assert.is_true(docs.output_matches("a ... b", "a  x y\tb\n\n"))
        assert.is_true(docs.output_matches("", ""))
        assert.is_false(docs.output_matches("200 ...", "401\tnil"))
        assert.is_false(docs.output_matches("200 ...", "200"))
        assert.is_false(docs.output_matches("x", "x\ny"))            -- a line more
        assert.is_false(docs.output_matches("x\ny", "x"))            -- a line less
        assert.is_false(docs.output_matches("a...", "b\na"))         -- `...` stays within its line
        assert.is_false(docs.output_matches("a.c", "abc"))            -- other characters are literal
        assert.is_false(docs.output_matches("x", ""))
    end)

    it("finds the checkpoints: `-->` after code, and runs of `-->` lines", function()
        local script, expected = docs.expected_output("print(1) --> 1\nprint(2)\nprint(3)\n--> 2\n--> 3\n")
        assert.are.same({ { line = 1, text = "1" }, { line = 4, text = "2\n3" } }, expected)
        assert.are.equal(5, select(2, script:gsub("\n", "")))                   -- the same lines
        assert.are.same({ "print(2)", "print(3)", "--> 3" }, { script:match("\n(.-)\n(.-)\n.-\n(.-)\n$") })
        local unchanged = "print(1) -- no arrow\n"
        assert.are.equal(unchanged, (docs.expected_output(unchanged)))
    end)

    it("fails README's first block when its documented `200` is changed to `401`", function()
        local block = docs.blocks("README.md")[1]
        assert.truthy(block.text:find("--> 200 ...", 1, true), "README's first block changed: adapt this test")
        local ok, _, mismatch = run_lua_block(block)
        assert.is_true(ok)
        assert.is_nil(mismatch)
        local changed = {}
        for k, v in pairs(block) do changed[k] = v end
        changed.text = block.text:gsub("%-%-> 200 %.%.%.", "--> 401 ...", 1)
        ok, _, mismatch = run_lua_block(changed)
        assert.is_true(ok)
        assert.matches("^README%.md:" .. (block.line + 2) .. ": the documented output is not what the line printed %(line 1: expected \"401", mismatch)
    end)
end)
