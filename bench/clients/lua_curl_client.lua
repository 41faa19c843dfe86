-- What a Lua user would otherwise write by hand: Lua 5.1 on Debian's lua-curl binding with one
-- reused easy handle (so one kept-alive TLS connection), for bench/run:
--
--   lua5.1 lua_curl_client.lua status N   authenticate (not timed), then N timed calls
--   lua5.1 lua_curl_client.lua cold N     the first call from cold (connect, TLS,
--                                         authentication, call) timed alone, then N calls
--
-- Lua 5.1 has no HMAC, so the authentication request comes signed from bench/run
-- (BENCH_AUTH_BODY, BENCH_AUTH_HEADER: the same bytes a signing client would send).
local dir = arg[0]:match("^(.*)/[^/]*$") or "."
package.path = dir .. "/?.lua;" .. package.path
local common = require "common"
local curl = require "curl"

local mode, n = arg[1], tonumber(arg[2])
local endpoint = common.env("BENCH_ENDPOINT")
local status_url = endpoint .. "/v1/mmc/management/webhook/change-status?id=" ..
    common.env("BENCH_WEBHOOK_ID") .. "&status=0"

local c = curl.easy_init()
local chunks, status = {}, nil
c:setopt(curl.OPT_CAINFO, common.env("BENCH_CA"))
c:setopt(curl.OPT_NOSIGNAL, 1)
c:setopt(curl.OPT_TIMEOUT, 30)
c:setopt(curl.OPT_WRITEFUNCTION, function(s)
    chunks[#chunks + 1] = s
    return #s
end)
c:setopt(curl.OPT_HEADERFUNCTION, function(s)
    local code = s:match("^HTTP/%S+ (%d%d%d)")
    if code then status = tonumber(code) end
    return #s
end)

local token
local function authenticate()
    local body = common.env("BENCH_AUTH_BODY")
    chunks, status = {}, nil
    c:setopt(curl.OPT_URL, endpoint .. "/v2/usg/acs/auth/appauth")
    c:setopt(curl.OPT_HTTPHEADER, { "Content-Type: application/json; charset=UTF-8",
        "Authorization: " .. common.env("BENCH_AUTH_HEADER"), "Expect:" })
    c:setopt(curl.OPT_POSTFIELDS, body)
    c:perform()
    token = table.concat(chunks):match('"accessToken":"([^"]+)"')
    assert(status == 200 and token, "authentication failed")
    -- From here on: PUT change-status with the token, no body.
    c:setopt(curl.OPT_URL, status_url)
    c:setopt(curl.OPT_HTTPHEADER, { "Accept: application/json", "X-Access-Token: " .. token,
        "Content-Type:", "Expect:" })
    c:setopt(curl.OPT_POSTFIELDS, "")
    c:setopt(curl.OPT_CUSTOMREQUEST, "PUT")
end

local function call()
    chunks, status = {}, nil
    c:perform()
    return status == 200, status
end

local extra = {}
if mode == "cold" then
    local t = common.now()
    authenticate()
    assert(call())
    extra[1] = ("first=%.1f"):format((common.now() - t) * 1e6)
elseif mode == "status" then
    authenticate()
else
    error("mode must be status or cold")
end
local lat, wall, cpu = common.loop(n, call)
common.report(lat, wall, cpu, extra)
