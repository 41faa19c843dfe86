-- The code blocks of the user documentation (README.md and docs/*.md), for the specs that run
-- them: spec/docs_spec.lua (every block), spec/openresty/openresty_example_spec.lua and
-- spec/support/luarocks-check (the shell blocks marked as theirs).
--
--   local docs = require "docs"
--   for _, block in ipairs(docs.blocks("README.md")) do
--       -- block.lang ("lua", "sh", "nginx", "text", ...), block.text (ends with "\n"),
--       -- block.line (of the opening fence), block.marker (the HTML comment on the line
--       -- directly above the fence, without "<!--" and "-->", or nil)
--   end
--   local text = docs.marked_block("docs/openresty.md", "run by spec/openresty/openresty_example_spec.lua")
local files = require "files"

local docs = {}

local read = files.read
docs.read = read

-- README.md, then docs/*.md in name order.
function docs.files()
    local files = { "README.md" }
    local pipe = assert(io.popen("ls docs/*.md 2>/dev/null"))
    for name in pipe:lines() do files[#files + 1] = name end
    pipe:close()
    return files
end

-- Every fenced block (```lang ... ```) of a Markdown file, in order.
function docs.blocks(path)
    local blocks, lines = {}, {}
    for line in (read(path) .. "\n"):gmatch("([^\n]*)\n") do lines[#lines + 1] = line end
    local i = 1
    while i <= #lines do
        local fence, lang = lines[i]:match("^(```+)%s*([%w_+-]*)%s*$")
        if fence then
            local marker = i > 1 and lines[i - 1]:match("^<!%-%-%s*(.-)%s*%-%->%s*$") or nil
            local body, j = {}, i + 1
            while j <= #lines and lines[j] ~= fence do
                body[#body + 1] = lines[j]
                j = j + 1
            end
            assert(j <= #lines, path .. ":" .. i .. ": a code block that is never closed")
            blocks[#blocks + 1] = {
                path = path, line = i, lang = lang, marker = marker,
                text = table.concat(body, "\n") .. (#body > 0 and "\n" or ""),
            }
            i = j + 1
        else
            i = i + 1
        end
    end
    return blocks
end

-- The blocks of `path` whose marker is `marker`, in order.
function docs.marked_blocks(path, marker)
    local found = {}
    for _, block in ipairs(docs.blocks(path)) do
        if block.marker == marker then found[#found + 1] = block end
    end
    return found
end

-- The text of the one block of `path` whose marker is `marker`.
function docs.marked_block(path, marker)
    local found
    for _, block in ipairs(docs.blocks(path)) do
        if block.marker == marker then
            assert(not found, path .. ": more than one block marked '" .. marker .. "'")
            found = block
        end
    end
    assert(found, path .. ": no block marked <!-- " .. marker .. " -->")
    return found.text, found
end

-- How the specs run a documented shell command in a sanitized run (the module built with
-- ASan, its runtime preloaded into the spec process): the shell and what it starts (python3,
-- openssl, curl) without the runtime, and only the Lua interpreter with it, leak checks off
-- as for every child (mock.child_env). Returns the prefix for the shell command and the
-- command that stands for `interpreter`; outside a sanitized run, "" and the interpreter.
function docs.sanitized_child(interpreter)
    local preload = os.getenv("LD_PRELOAD") or ""
    if not preload:find("asan", 1, true) then return "", interpreter end
    return "env -u LD_PRELOAD ", "env LD_PRELOAD=" .. preload .. " ASAN_OPTIONS=detect_leaks=0 " .. interpreter
end

return docs
