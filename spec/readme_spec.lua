-- What README promises beyond running as written (docs_spec.lua runs every block):
--   - its Lua blocks give back every token they take: a user runs them again and again, and
--     one user may hold only 64 tokens (the oldest is then revoked, logging out another
--     program). Each block is run twice as docs_spec.lua runs it, against the local server
--     set up from examples/local-server.json, and the server's count of active tokens must
--     not grow;
--   - "Several Luas in one shell" keeps Lua 5.4 and LuaJIT apart: its block, run with a home
--     whose LuaRocks tree holds a Lua 5.4 mmc.so (as `luarocks --local make` leaves it),
--     loads mmc in lua5.4, while luajit does not see it, where README's plain `eval "$(luarocks
--     ... path)"` makes luajit load it and fail.
local mock = require "mock"
local docs = require "docs"
local files = require "files"
local cjson = require("cjson").new()

local INTERPRETER = arg and arg[-1] or "lua5.4"
local BUILD_DIR = os.getenv("MMC_BUILD_DIR") or "build"
local quote = files.shell_quote

local local_server = cjson.decode((assert(files.read_or_nil("examples/local-server.json"))))

local function run(script)
    local env = {
        MMC_ENDPOINT = mock.endpoint, MMC_CA_FILE = mock.ca_file,
        MMC_APP_ID = local_server.apps[1].app_id, MMC_APP_KEY = local_server.apps[1].app_key,
        MMC_WEBHOOK_ID = local_server.webhook_ids[1],
        LUA_PATH = "lua/?.lua;;", LUA_CPATH = BUILD_DIR .. "/?.so;;",
    }
    local parts = { "env -u MMC_USER_ID -u MMC_CORP_ID -u LUA_INIT -u LUA_PATH_5_4 -u LUA_CPATH_5_4", mock.child_env() }
    for name, value in pairs(env) do parts[#parts + 1] = name .. "=" .. quote(value) end
    parts[#parts + 1] = "timeout 60 " .. quote(INTERPRETER) .. " " .. quote(script) .. " 2>&1; echo \"exit=$?\""
    local pipe = assert(io.popen(table.concat(parts, " ")))
    local output = pipe:read("*a")
    pipe:close()
    mock.assert_no_secret(output)
    return output
end

describe("README's Lua blocks", function()
    before_each(function()
        mock.setup { apps = local_server.apps, webhook_ids = local_server.webhook_ids,
                     token_valid_period = local_server.token_valid_period }
    end)

    local blocks = {}
    for _, block in ipairs(docs.blocks("README.md")) do
        if block.lang == "lua" and not block.marker then blocks[#blocks + 1] = block end
    end

    it("are there to run", function()
        assert.is_true(#blocks >= 2, "README.md has " .. #blocks .. " Lua blocks")
    end)

    for _, block in ipairs(blocks) do
        it("leave no token behind: the block at line " .. block.line .. ", run twice", function()
            local script = files.write_temp(block.text, ".lua")
            local before = mock.tokens()
            for _ = 1, 2 do
                local output = run(script)
                assert.matches("exit=0\n$", output)
            end
            os.remove(script)
            local after = mock.tokens()
            assert.is_true(after.issued > before.issued, "the block took no token at all")
            assert.are.equal(before.active, after.active,
                ("README.md:%d: %d tokens issued, %d still active after two runs"):format(block.line,
                    after.issued - before.issued, after.active - before.active))
        end)
    end

    describe("several Luas in one shell", function()
        local home
        after_each(function() if home then files.execute("rm -rf " .. quote(home)) end end)

        -- The Lua 5.4 module: the suite's when it runs under Lua 5.4, else build/'s (which
        -- scripts/test builds first).
        local function module_for_5_4()
            local path = (INTERPRETER:match("lua5%.4$") and BUILD_DIR or "build") .. "/mmc.so"
            assert(files.read_or_nil(path), "a Lua 5.4 build of mmc is needed at " .. path)
            return path
        end

        -- Runs `text` with sh -e from the repository root, with HOME at `home` and no Lua
        -- paths set; "lua5.4" in it is the suite's 5.4 interpreter (sanitized, in a sanitized run).
        local function run_in_home(text)
            local prefix, lua54 = docs.sanitized_child("lua5.4")
            local script = files.write_temp((text:gsub("lua5%.4", lua54)), ".sh")
            local unset = "-u LUA_PATH -u LUA_CPATH -u LUA_INIT"
            for _, v in ipairs { "5_1", "5_2", "5_3", "5_4" } do
                unset = unset .. " -u LUA_PATH_" .. v .. " -u LUA_CPATH_" .. v .. " -u LUA_INIT_" .. v
            end
            local pipe = assert(io.popen(prefix .. "env " .. unset .. " HOME=" .. quote(home)
                .. " timeout 60 sh -e " .. quote(script) .. " 2>&1; echo \"exit=$?\""))
            local output = pipe:read("*a")
            pipe:close()
            os.remove(script)
            return output
        end

        it("keeps lua5.4's module out of luajit's way, as its block runs", function()
            local text
            for _, block in ipairs(docs.marked_blocks("README.md", "run by spec/readme_spec.lua")) do
                if block.text:find("LUA_CPATH_5_4", 1, true) then text = block.text end
            end
            assert(text, "README.md has no block run by spec/readme_spec.lua that sets LUA_CPATH_5_4")
            home = os.tmpname()
            os.remove(home)
            assert(files.execute("mkdir -p " .. quote(home .. "/.luarocks/lib/lua/5.4") .. " && cp "
                .. quote(module_for_5_4()) .. " " .. quote(home .. "/.luarocks/lib/lua/5.4/mmc.so")))

            -- the way README warns about: luajit finds the 5.4 module, and cannot load it
            local output = run_in_home('eval "$(luarocks --lua-version=5.4 --local path)"\n'
                .. 'luajit -e \'require "mmc"\' || true\n')
            assert.matches("undefined symbol", output)

            output = run_in_home(text)
            assert.matches("exit=0\n$", output)
            assert.matches("^mmc %d+%.%d+%.%d+\n", output)
            assert.matches("\nfalse\tmodule 'mmc' not found:", output)
            assert.is_nil(output:find("undefined symbol", 1, true), output)
        end)
    end)
end)
