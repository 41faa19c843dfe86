-- Loaded by busted before any spec: finds the module that was just built, and the Lua
-- modules that ship beside it (lua/mmc/*.lua), and makes a test that asserts nothing fail.
local build_dir = os.getenv("MMC_BUILD_DIR") or "build"
package.cpath = build_dir .. "/?.so;" .. package.cpath
package.path = "lua/?.lua;" .. package.path

-- A test that makes no assertion proves nothing: it fails with "made no assertion". Every
-- call of `assert(value, message)` and of every luassert assertion (`assert.are.equal`,
-- `assert.has_error`, `assert.spy(s).was.called()`, ...) counts; a test that calls
-- `pending()` is pending, not failed. The wrappers end in tail calls, so a failing assertion
-- is still reported at the spec's line.
do
    local busted = require "busted"
    local luassert = require "luassert"
    local namespaces = require "luassert.namespaces"

    local made = 0
    local meta = getmetatable(luassert)
    local plain_call = meta.__call
    meta.__call = function(...)
        made = made + 1
        return plain_call(...)
    end

    local function counted(callback)
        return function(...)
            made = made + 1
            return callback(...)
        end
    end
    for _, assertion in pairs(namespaces.assertion) do assertion.callback = counted(assertion.callback) end
    local register = luassert.register
    rawset(luassert, "register", function(self, namespace, name, callback, ...)
        if namespace == "assertion" then callback = counted(callback) end
        return register(self, namespace, name, callback, ...)
    end)

    busted.subscribe({ "test", "start" }, function(element)
        if element.descriptor ~= "it" or element.counts_assertions then return nil, true end
        element.counts_assertions = true
        local run = element.run
        element.run = function(...)
            made = 0
            run(...)
            if made == 0 then
                error("this test made no assertion: it cannot fail, so it proves nothing", 0)
            end
        end
        return nil, true
    end)
end
