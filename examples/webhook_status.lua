-- Authenticate with an App ID, then enable and disable event push, printing each status.
--
--   MMC_APP_ID=... MMC_APP_KEY=... lua5.4 examples/webhook_status.lua <webhook id>
--
-- The id is the event-push record's id (from the console, or from the query API); it can also
-- come from MMC_WEBHOOK_ID. Everything else comes from the MMC_* environment variables.
package.cpath = (os.getenv("MMC_BUILD_DIR") or "build") .. "/?.so;" .. package.cpath
local mmc = require "mmc"

local id = arg[1] or os.getenv("MMC_WEBHOOK_ID")
if not id then
    io.stderr:write("usage: lua5.4 examples/webhook_status.lua <webhook id>  (or set MMC_WEBHOOK_ID)\n")
    os.exit(2)
end

local function report(what, status, err)
    print(("%-8s %s%s"):format(what, status or "no answer", err and ("  " .. err) or ""))
    return status ~= nil and status >= 200 and status < 300
end

local ok = report("auth", mmc.auth())
ok = report("enable", mmc.set_webhook_status(id, mmc.ENABLE)) and ok
ok = report("disable", mmc.set_webhook_status(id, mmc.DISABLE)) and ok
os.exit(ok and 0 or 1)
