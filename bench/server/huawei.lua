-- The fast stand-in for Huawei Cloud Meeting's API, run inside nginx (lua-nginx-module) by
-- bench/run. It answers the two calls mmc makes as the real service does (shared/mmc-api.md):
--
--   POST /v2/usg/acs/auth/appauth                  checks the body, the HMAC-SHA256 signature
--                                                  (OpenSSL through the FFI), the access part and
--                                                  the nonce (no replay); issues a token
--   PUT  /v1/mmc/management/webhook/change-status  checks X-Access-Token, id and status
--
-- Answers carry Content-Type application/json;charset=UTF-8 and a 32-hex X-Request-Id, and
-- errors the {"error_code","error_msg","request_id"} body. Tokens and nonces live in shared
-- dictionaries, so every worker process knows them. GET /stats on the control listener tells
-- how many authentications were answered (the one-appauth-per-token check).
local ffi = require "ffi"
local cjson = require "cjson.safe"
local config = require "bench_config" -- written by bench/run: app_id, app_key, webhook_id

ffi.cdef [[
typedef struct evp_md_st EVP_MD;
const EVP_MD *EVP_sha256(void);
unsigned char *HMAC(const EVP_MD *evp_md, const void *key, int key_len,
                    const unsigned char *d, size_t n, unsigned char *md, unsigned int *md_len);
int RAND_bytes(unsigned char *buf, int num);
]]
-- nginx links libcrypto, so its symbols are already in the process.
local C = ffi.C
local ok_sym = pcall(function() return C.HMAC end)
if not ok_sym then C = ffi.load("crypto") end

local tokens = ngx.shared.tokens
local nonces = ngx.shared.nonces
local counters = ngx.shared.counters
local JSON_CT = "application/json;charset=UTF-8"
local VALID_PERIOD = 86400
local SUCCESS = '{"returnCode":0,"returnDesc":"success"}'

local md = ffi.new("unsigned char[32]")
local md_len = ffi.new("unsigned int[1]")
local rand = ffi.new("unsigned char[20]")
local HEX32 = ("%02x"):rep(32)
local HEX20 = ("%02x"):rep(20)

local function hmac_hex(key, msg)
    C.HMAC(C.EVP_sha256(), key, #key, msg, #msg, md, md_len)
    return HEX32:format(string.byte(ffi.string(md, 32), 1, 32))
end

local function random_hex20()
    C.RAND_bytes(rand, 20)
    return HEX20:format(string.byte(ffi.string(rand, 20), 1, 20))
end

local function answer(status, body, request_id)
    ngx.status = status
    local h = ngx.header
    h["Content-Type"] = JSON_CT
    h["Content-Length"] = #body
    h["X-Request-Id"] = request_id or ngx.var.request_id
    ngx.print(body)
    return ngx.exit(status)
end

local function fail(status, code, msg)
    -- nginx computes $request_id afresh on each read: read it once.
    local request_id = ngx.var.request_id
    return answer(status, cjson.encode { error_code = code, error_msg = msg,
                                         request_id = request_id }, request_id)
end

local _M = {}

function _M.appauth()
    if ngx.req.get_method() ~= "POST" then
        ngx.header["Allow"] = "POST"
        return fail(405, "APIGW.0101", "method not allowed")
    end
    local ct = ngx.var.http_content_type or ""
    if not ct:lower():find("^application/json") then
        return fail(400, "USG.000000001", "Content-Type must be application/json")
    end
    ngx.req.read_body()
    local req = cjson.decode(ngx.req.get_body_data() or "")
    if type(req) ~= "table" then
        return fail(400, "USG.000000001", "body is not a JSON object")
    end
    if req.clientType ~= 72 then
        return fail(400, "USG.000000002", "clientType must be 72")
    end
    if req.appId ~= config.app_id then
        return fail(401, "USG.000000003", "unknown appId")
    end
    local nonce = req.nonce
    if type(nonce) ~= "string" or #nonce < 32 or #nonce > 64 then
        return fail(400, "USG.000000005", "nonce must be a string of 32..64 chars")
    end
    local expire = req.expireTime
    if type(expire) ~= "number" or expire < 0 or expire % 1 ~= 0 then
        return fail(400, "USG.000000006", "expireTime must be an integer >= 0")
    end
    local now = ngx.time()
    if expire ~= 0 and expire <= now then
        return fail(401, "USG.000000006", "signature expired")
    end
    local user_id = req.userId or ""
    if type(user_id) ~= "string" or #user_id > 64 then
        return fail(400, "USG.000000013", "userId must be a string of 0..64 chars")
    end
    if req.corpId ~= nil then
        return fail(400, "USG.000000007", "corpId not allowed in single-enterprise mode")
    end
    local auth = ngx.var.http_authorization or ""
    local signature, access = auth:match("^HMAC%-SHA256 signature=(%x+),access=([%w+/=]+)$")
    if not signature or #signature ~= 64 then
        return fail(401, "USG.000000009", "Authorization header missing or malformed")
    end
    if ngx.decode_base64(access) ~= config.app_id then
        return fail(401, "USG.000000010", "access does not match appId")
    end
    local expected = hmac_hex(config.app_key,
        config.app_id .. ":" .. user_id .. ":" .. string.format("%d", expire) .. ":" .. nonce)
    if expected ~= signature:lower() then
        return fail(401, "USG.000000011", "signature mismatch")
    end
    if not nonces:safe_add(nonce, true, 700) then
        return fail(401, "USG.000000012", "nonce already used (replay)")
    end
    local token = random_hex20()
    tokens:safe_set(token, user_id, VALID_PERIOD)
    counters:incr("appauth", 1, 0)
    local t = ngx.now()
    return answer(200, cjson.encode {
        accessToken = token,
        validPeriod = VALID_PERIOD,
        expireTime = now + VALID_PERIOD,
        createTime = math.floor(t * 1000),
        tokenIp = "127.0.0.1",
        clientType = 72,
        user = { userId = user_id ~= "" and user_id or "admin", companyId = "corp-1",
                 spId = "", name = "Bench User", userType = 2, adminType = 2 },
        refreshToken = random_hex20(),
        refreshValidPeriod = 2 * VALID_PERIOD,
        refreshExpireTime = now + 2 * VALID_PERIOD,
        tokenType = 0,
        firstLogin = false,
    })
end

function _M.change_status()
    if ngx.req.get_method() ~= "PUT" then
        ngx.header["Allow"] = "PUT"
        return fail(405, "APIGW.0101", "method not allowed")
    end
    local token = ngx.var.http_x_access_token
    if not token or token == "" then
        return fail(401, "USG.000000004", "X-Access-Token missing")
    end
    if not tokens:get(token) then
        return fail(401, "USG.000000004", "token invalid or expired")
    end
    -- Exactly one id and one status, in either order: a third parameter would be injected.
    local args = ngx.var.args or ""
    local id, status = args:match("^id=([^&]+)&status=([^&]*)$")
    if not id then
        status, id = args:match("^status=([^&]*)&id=([^&]+)$")
    end
    if not id then
        return fail(400, "MMC.111070001", "query must be exactly id=<id>&status=<0|1|2>")
    end
    if ngx.unescape_uri(id) ~= config.webhook_id then
        return fail(400, "MMC.111070002", "webhook config not found")
    end
    if status ~= "0" and status ~= "1" and status ~= "2" then
        return fail(400, "MMC.111070003", "status must be 0, 1 or 2")
    end
    local length = ngx.var.content_length
    if (length and length ~= "0") or ngx.var.http_transfer_encoding then
        return fail(400, "MMC.111070001", "request body must be empty")
    end
    return answer(200, SUCCESS)
end

function _M.not_found()
    return fail(404, "APIGW.0101", "no such API")
end

function _M.stats()
    ngx.header["Content-Type"] = "text/plain"
    ngx.say("appauth=", counters:get("appauth") or 0)
end

return _M
