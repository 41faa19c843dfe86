-- LuaSec's ssl.https.request, for bench/run (under Lua 5.4): each call is a new connection
-- and a new TLS handshake, since ssl.https keeps none alive.
--
--   lua5.4 luasec_client.lua status N   N timed calls with a token (BENCH_TOKEN)
--   lua5.4 luasec_client.lua cold N     authentication (signed by bench/run: BENCH_AUTH_BODY,
--                                       BENCH_AUTH_HEADER) and the first call timed
--                                       together, then N calls
local dir = arg[0]:match("^(.*)/[^/]*$") or "."
package.path = dir .. "/?.lua;" .. package.path
local common = require "common"
local https = require "ssl.https"
local ltn12 = require "ltn12"

local mode, n = arg[1], tonumber(arg[2])
local endpoint = common.env("BENCH_ENDPOINT")
local ca = common.env("BENCH_CA")
local status_url = endpoint .. "/v1/mmc/management/webhook/change-status?id=" ..
    common.env("BENCH_WEBHOOK_ID") .. "&status=0"
local token = os.getenv("BENCH_TOKEN")

local function request(method, url, headers, body)
    local chunks = {}
    local _, code = https.request {
        url = url, method = method, headers = headers,
        source = body and ltn12.source.string(body) or nil,
        sink = ltn12.sink.table(chunks),
        cafile = ca, verify = "peer", protocol = "any",
        options = { "all", "no_sslv2", "no_sslv3", "no_tlsv1", "no_tlsv1_1" },
    }
    return code, table.concat(chunks)
end

local function authenticate()
    local body = common.env("BENCH_AUTH_BODY")
    local code, answer = request("POST", endpoint .. "/v2/usg/acs/auth/appauth", {
        ["content-type"] = "application/json; charset=UTF-8",
        ["content-length"] = tostring(#body),
        ["authorization"] = common.env("BENCH_AUTH_HEADER"),
    }, body)
    token = answer:match('"accessToken":"([^"]+)"')
    assert(code == 200 and token, "authentication failed")
end

local function call()
    local code = request("PUT", status_url, {
        ["accept"] = "application/json", ["x-access-token"] = token,
        ["content-length"] = "0",
    })
    return code == 200, code
end

local extra = {}
if mode == "cold" then
    local t = common.now()
    authenticate()
    assert(call())
    extra[1] = ("first=%.1f"):format((common.now() - t) * 1e6)
elseif mode ~= "status" then
    error("mode must be status or cold")
end
local lat, wall, cpu = common.loop(n, call)
common.report(lat, wall, cpu, extra)
