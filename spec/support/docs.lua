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

-- Documented output. In a Lua block, `-->` shows what the block prints (stdout and stderr):
--   code --> expected            what the block printed since the previous `-->`, up to and
--                                including this line
--   --> expected                 (lines of their own, one after another) what it printed since
--   --> more expected            the previous `-->`, up to the code line above them
-- The comparison is line by line, after trailing blank lines are dropped: a run of spaces or
-- tabs stands for any run of spaces and tabs (print separates with a tab, the docs align with
-- spaces), and `...` for any text within the line (an address, a request id, a duration).
-- docs.expected_output(text) returns the script to run in place of `text` (the same lines,
-- each checkpoint writing a marker to an unbuffered stdout) and the list of expectations
-- { line = N, text = "expected\nlines" }, or text unchanged and {} when it has no `-->`.
docs.OUTPUT_MARKER = "\1mmc-docs-checkpoint\1"

function docs.expected_output(text)
    local lines, expected = {}, {}
    for line in text:gmatch("([^\n]*)\n") do lines[#lines + 1] = line end
    local mark = ("io.stdout:write(%q)"):format(docs.OUTPUT_MARKER)
    local i = 1
    while i <= #lines do
        local code, shown = lines[i]:match("^(.-)%s*%-%->%s?(.*)$")
        if code and code:match("^%s*$") then -- a run of `-->` lines of their own
            local run = { shown }
            local first = i
            while lines[i + 1] and lines[i + 1]:match("^%s*%-%->") do
                i = i + 1
                run[#run + 1] = lines[i]:match("^%s*%-%->%s?(.*)$")
            end
            lines[first] = mark
            expected[#expected + 1] = { line = first, text = table.concat(run, "\n") }
        elseif code then
            lines[i] = code:gsub(";%s*$", "") .. "; " .. mark
            expected[#expected + 1] = { line = i, text = shown }
        end
        i = i + 1
    end
    if #expected == 0 then return text, expected end
    lines[1] = 'io.stdout:setvbuf("no") ' .. lines[1]
    return table.concat(lines, "\n") .. "\n", expected
end

-- Whether `actual` (what was printed) is what `expected` shows, by the rules above; when not,
-- also the first line that differs.
function docs.output_matches(expected, actual)
    local function lines_of(s)
        local list = {}
        for line in (s:gsub("%s+$", "") .. "\n"):gmatch("([^\n]*)\n") do list[#list + 1] = line end
        if #list == 1 and list[1] == "" then list = {} end
        return list
    end
    local function pattern_of(line) -- "a ...b" becomes "^a[ \t]+.-b$"
        local parts = {}
        for piece in (line:gsub("%s+$", "") .. "..."):gmatch("(.-)%.%.%.") do
            parts[#parts + 1] = (piece:gsub("[%^%$%(%)%%%.%[%]%*%+%-%?]", "%%%0"):gsub("%s+", "[ \t]+"))
        end
        return "^" .. table.concat(parts, ".-") .. "$"
    end
    local want, got = lines_of(expected), lines_of(actual)
    for n = 1, math.max(#want, #got) do
        local w, g = want[n], got[n]
        if not w or not g or not g:gsub("%s+$", ""):match(pattern_of(w)) then
            return false, ("line %d: expected %q, printed %q"):format(n, w or "(nothing)", g or "(nothing)")
        end
    end
    return true
end

return docs
