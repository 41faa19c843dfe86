-- Signed event pushes for the specs, made by Python's hmac module (not by mmc), as Huawei
-- signs them: hex(HMAC-SHA256(subscriberKey, appID .. timestamp .. nonce .. eventInfo)),
-- eventInfo being the exact text placed in the body.
local signer = {}

local function shell_quote(text)
    return "'" .. text:gsub("'", "'\\''") .. "'"
end

-- The hex HMAC-SHA256 of `message` under `key`.
function signer.hmac(key, message)
    local command = "env -u LD_PRELOAD python3 -c " .. shell_quote(
        "import hmac, hashlib, sys; print(hmac.new(sys.argv[1].encode(), sys.argv[2].encode(), hashlib.sha256).hexdigest())")
        .. " " .. shell_quote(key) .. " " .. shell_quote(message)
    local pipe = assert(io.popen(command))
    local digest = pipe:read("*l")
    pipe:close()
    assert(digest and #digest == 64, "python3 could not sign")
    return digest
end

-- A push body. fields: key, app_id, timestamp (ms), nonce, event_info (JSON text), and
-- optionally signature (to sign something else), omit = { name = true }.
function signer.push(fields)
    local app_id = fields.app_id or "12345678"
    local timestamp = fields.timestamp or math.floor(os.time() * 1000)
    local nonce = fields.nonce or "9f0c6f5e1b2a4d7c8e3f0a1b2c3d4e5f"
    local event_info = fields.event_info or
        '{"event":"meeting.started","timestamp":' .. string.format("%d", timestamp) ..
        ',"payload":{"meetingInfo":{"meetingID":"987654321","meetingUUID":"a1b2c3"}}}'
    local signature = fields.signature or
        signer.hmac(fields.key, app_id .. string.format("%d", timestamp) .. nonce .. event_info)
    local omit = fields.omit or {}
    local members = {}
    local function add(name, json)
        if not omit[name] then members[#members + 1] = '"' .. name .. '":' .. json end
    end
    add("appID", '"' .. app_id .. '"')
    add("timestamp", string.format("%d", timestamp))
    add("nonce", '"' .. nonce .. '"')
    add("signature", '"' .. signature .. '"')
    add("eventInfo", event_info)
    return "{" .. table.concat(members, ",") .. "}"
end

return signer
