-- Small helpers for files and the shell that the specs and their support modules share, the
-- same under Lua 5.1-5.4 and LuaJIT.
--
--   local files = require "files"
--   files.read(path)                  the whole file; raises io.open's message when it cannot be opened
--   files.read_or_nil(path)           the whole file, or nil when it cannot be opened
--   files.write(path, text)           replaces the file's content; raises on any failure
--   files.write_temp(text, suffix)    a new temporary file holding `text` (suffix optional): its name
--   files.shell_quote(text)           `text` as one word for sh
--   files.execute(command)            whether the shell command exited 0
local files = {}

local function read_and_close(file)
    local text = file:read("*a") -- "*a": every Lua from 5.1 reads it
    file:close()
    return text
end

function files.read(path)
    return read_and_close(assert(io.open(path, "rb")))
end

function files.read_or_nil(path)
    local file = io.open(path, "rb")
    if not file then return nil end
    return read_and_close(file)
end

function files.write(path, text)
    local file = assert(io.open(path, "wb"))
    assert(file:write(text))
    assert(file:close())
end

-- The name comes from os.tmpname, which makes the file; with a suffix (a script's ".lua"), that
-- file is removed and the name with the suffix used instead.
function files.write_temp(text, suffix)
    local name = os.tmpname()
    if suffix then
        os.remove(name)
        name = name .. suffix
    end
    files.write(name, text)
    return name
end

function files.shell_quote(text)
    return "'" .. tostring(text):gsub("'", [['\'']]) .. "'"
end

-- os.execute answers one status number in Lua 5.1 (and LuaJIT without 5.2 compatibility), and
-- true or nil, "exit" or "signal", and the code from Lua 5.2 on.
function files.execute(command)
    local a, _, c = os.execute(command)
    if type(a) == "number" then return a == 0 end
    return a == true and (c == nil or c == 0)
end

-- Runs `script` with sh -e from the current directory, with `environment` (a table of names
-- and values) added; returns its standard output, whether it succeeded, and its standard
-- error (kept apart: curl's progress meter, which a terminal would not show, goes there).
function files.sh(script, environment)
    local assignments = {}
    for name, value in pairs(environment or {}) do
        assignments[#assignments + 1] = name .. "=" .. files.shell_quote(value)
    end
    local errors = os.tmpname()
    local pipe = assert(io.popen("env " .. table.concat(assignments, " ") .. " sh -ec "
        .. files.shell_quote(script) .. " 2>" .. files.shell_quote(errors) .. "; echo \"exit=$?\""))
    local output = pipe:read("*a")
    pipe:close()
    local stderr = files.read_or_nil(errors) or ""
    os.remove(errors)
    local body, status = output:match("^(.*)exit=(%d+)\n$")
    return body, status == "0", stderr
end

return files
