-- bench/run's row for issue 19: client:each over N items (default 10,000) of the local mock
-- (spec/mock/huawei_mock.py, set up with N meetings), for page sizes 100 and 500; the mock
-- counts the requests. Run under spec/support/with-mock with LUA_PATH on spec/support and
-- MMC_BUILD_DIR on a build. Prints one line per page size:
--   EACH limit=L items=N seen=<items walked> requests=<GETs the mock saw> seconds=<the walk>
local mock = require "mock"
local build_dir = os.getenv("MMC_BUILD_DIR")
if build_dir then package.cpath = build_dir .. "/?.so;" .. package.cpath end
local mmc = require "mmc"

local items = tonumber(arg[1]) or 10000
for _, limit in ipairs { 100, 500 } do
    mock.setup { meetings = items }
    local client = mmc.new(mock.options())
    assert(client:auth()) -- the login is not a page: logged in before the walk
    local started, seen = mock.now(), 0
    for item, err in client:each(mock.CONFERENCES, { limit = limit }) do
        assert(item, err)
        seen = seen + 1
    end
    local seconds = mock.now() - started
    print(("EACH limit=%d items=%d seen=%d requests=%d seconds=%.3f"):format(
        limit, items, seen, #mock.requests_to(mock.CONFERENCES), seconds))
    client:close()
end
