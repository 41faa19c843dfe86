-- A one-shot HTTPS event-push receiver for spec/cli_spec.lua: run as its own process while the
-- mmc command enables a subscription, so the mock's meeting.verify handshake has someone to ask.
--
--   MMC_SUBSCRIBER_KEY=... <lua> spec/support/cli_receiver.lua PORT_FILE LOG_FILE CERT KEY [WRONG]
--
-- Listens on 127.0.0.1 (an ephemeral port, written to PORT_FILE once listening), serves one
-- POST with the test certificate, checks it with mmc.verify_push and answers with
-- mmc.push_reply (or, with WRONG, echoes a wrong nonce), writes what happened to LOG_FILE
-- ("verified <event>", or "refused: <reason>") and exits. It gives up after 20 s.
-- The key comes from the environment, like the mmc command's: never from the command line.
local socket = require "socket"
local ssl = require "ssl"
local mmc = require "mmc"

local port_file, log_file, cert, key, wrong = arg[1], arg[2], arg[3], arg[4], arg[5] == "WRONG"
local subscriber_key = assert(os.getenv("MMC_SUBSCRIBER_KEY"), "MMC_SUBSCRIBER_KEY is not set")

local function log(text)
    local handle = assert(io.open(log_file, "a"))
    handle:write(text, "\n")
    handle:close()
end

local server = assert(socket.bind("127.0.0.1", 0))
server:settimeout(20)
local _, port = server:getsockname()
local handle = assert(io.open(port_file .. ".tmp", "w"))
handle:write(port, "\n")
handle:close()
assert(os.rename(port_file .. ".tmp", port_file)) -- the spec never reads half a file

local connection = server:accept()
if not connection then
    log("refused: nobody came")
    os.exit(1)
end
connection:settimeout(10)
local context = assert(ssl.newcontext { mode = "server", protocol = "any", key = key, certificate = cert })
local tls = assert(ssl.wrap(connection, context))
assert(tls:dohandshake())

local request_line = assert(tls:receive("*l"))
local length = 0
while true do
    local line = assert(tls:receive("*l"))
    if line == "" then break end
    local name, value = line:match("^([^:]+):%s*(.*)$")
    if name and name:lower() == "content-length" then length = tonumber(value) end
end
local body = length > 0 and assert(tls:receive(length)) or ""

local status, reply = 401, "refused"
local push, reason = mmc.verify_push(body, subscriber_key, 300)
if push then
    status, reply = mmc.push_reply(push)
    if wrong then reply = reply:gsub('"nonce":"[^"]*"', '"nonce":"not-the-nonce"') end
    log("verified " .. tostring(push.eventInfo.event) .. " (" .. request_line:match("^%S+ %S+") .. ")")
else
    log("refused: " .. tostring(reason))
end
tls:send(("HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s")
    :format(status, status == 200 and "OK" or "Unauthorized", #reply, reply))
tls:close()
server:close()
