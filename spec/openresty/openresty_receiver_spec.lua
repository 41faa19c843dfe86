-- The whole event-push lifecycle, as the real service runs it: the subscription points at
-- the receiver example (examples/receiver, in a real nginx over TLS, on mmc.receiver, with a
-- real redis-server), enabling it makes the mock send a signed meeting.verify push that the
-- receiver must answer with its nonce, then events arrive, are checked and appended to a
-- Redis stream once; disable, delete, logout. And what the receiver refuses, how a handler
-- failure is handled by the mock's retry, and two nginx instances sharing one Redis. How the
-- example uses Redis (lua-resty-redis: the pool, a Redis that is down or never answers). And
-- the commands of docs/receiving.md's recipe, run as they stand, from an empty directory to
-- one stored event.
--
-- At the end it prints the counts (pushes sent, handled, refused, duplicates, retries...).
local mock = require "mock"
local mmc = require "mmc"
local nginx = require "nginx"
local redis_server = require "redis_server"
local https = require "ssl.https"
local ltn12 = require "ltn12"
local socket = require "socket"
local files = require "files"
local docs = require "docs"

local EXAMPLE = "examples/receiver"
local DOC = "docs/receiving.md"
local SUBSCRIBER_KEY = "receiver-subscriber-key-4f8a2c"
local STREAM = "mmc:events"

local read = files.read
local shell_quote = files.shell_quote

-- What the receivers did, over the whole file (printed at the end).
local counts = { sent = 0, answered_200 = 0, handled = 0, refused = 0, duplicates = 0,
                 held_off_503 = 0, failed_500 = 0, retries = 0, verify_answered = 0 }
local servers_seen = {}

local redis, store

-- Starts a receiver config (the example's, by default) in a prefix laid out as its header
-- says, with the key file, the test certificate for 127.0.0.1 and the spec's Redis.
-- `receiver_lua`, when given, replaces the example's mmc_receiver.lua. options.redis_port:
-- another Redis; options.files: { [path in the prefix] = text } added to the prefix.
local function start_receiver(conf, receiver_lua, options)
    options = options or {}
    conf = conf or read(EXAMPLE .. "/nginx.conf")
    local listens
    conf, listens = conf:gsub("listen 127%.0%.0%.1:8443 ssl;", "listen 127.0.0.1:@PORT@ ssl;")
    assert.are.equal(1, listens, "the receiver should listen on 127.0.0.1:8443")
    -- a relative key file is found in nginx's prefix
    local environment = { MMC_SUBSCRIBER_KEY_FILE = "conf/subscriber.key", MMC_REDIS_HOST = "127.0.0.1",
                          MMC_REDIS_PORT = tostring(options.redis_port or redis.port) }
    local server = nginx.start_conf(conf, environment, function(prefix)
        local links = {
            { nginx.root .. "/" .. EXAMPLE .. "/mmc_receiver.lua", "lua/" },
            { nginx.root .. "/lua/mmc/receiver.lua", "lua/mmc/" },
            { nginx.root .. "/lua/mmc/redis_seen.lua", "lua/mmc/" },
            { nginx.build_dir .. "/mmc.so", "lib/" },
        }
        local commands = { "mkdir -p " .. shell_quote(prefix .. "/conf") .. " " .. shell_quote(prefix .. "/lua/mmc")
            .. " " .. shell_quote(prefix .. "/lib"),
            "cp " .. shell_quote(mock.receiver_cert_file) .. " " .. shell_quote(prefix .. "/conf/receiver.pem"),
            "cp " .. shell_quote(mock.receiver_key_file) .. " " .. shell_quote(prefix .. "/conf/receiver.key"),
            "printf '%s\\n' " .. shell_quote(SUBSCRIBER_KEY) .. " > " .. shell_quote(prefix .. "/conf/subscriber.key") }
        for _, link in ipairs(links) do
            if not (receiver_lua and link[1]:find("/mmc_receiver%.lua$")) then
                commands[#commands + 1] = "ln -s " .. shell_quote(link[1]) .. " " .. shell_quote(prefix .. "/" .. link[2])
            end
        end
        assert(os.execute(table.concat(commands, " && ")))
        if receiver_lua then
            local file = assert(io.open(prefix .. "/lua/mmc_receiver.lua", "wb"))
            file:write(receiver_lua)
            file:close()
        end
        for path, text in pairs(options.files or {}) do
            assert(os.execute("mkdir -p " .. shell_quote((prefix .. "/" .. path):match("^(.*)/"))))
            local file = assert(io.open(prefix .. "/" .. path, "wb"))
            file:write(text)
            file:close()
        end
    end)
    servers_seen[#servers_seen + 1] = server
    return server
end

local function url_of(server) return "https://127.0.0.1:" .. server.port .. "/mmc/push" end

-- POSTs `body` to the receiver over TLS, verifying it with the test CA.
local function post(server, body)
    local answer = {}
    local _, status = https.request {
        url = url_of(server), method = "POST",
        headers = { ["content-type"] = "application/json", ["content-length"] = #body },
        source = ltn12.source.string(body), sink = ltn12.sink.table(answer),
        cafile = mock.ca_file, verify = "peer", protocol = "any", options = { "all", "no_sslv2", "no_sslv3" },
    }
    counts.sent = counts.sent + 1
    return status, table.concat(answer)
end

-- POSTs the same body to every server at once; their statuses. Python's threads each open
-- a TLS connection, wait for the others, then send together.
local SEND_AT_ONCE = [[
import http.client, ssl, sys, threading
ca, body_file, ports = sys.argv[1], sys.argv[2], sys.argv[3:]
body = open(body_file, "rb").read()
context = ssl.create_default_context(cafile=ca)
barrier, statuses = threading.Barrier(len(ports)), {}
def send(i, port):
    connection = http.client.HTTPSConnection("127.0.0.1", int(port), context=context, timeout=10)
    connection.connect()
    barrier.wait()
    connection.request("POST", "/mmc/push", body, {"Content-Type": "application/json"})
    statuses[i] = connection.getresponse().status
threads = [threading.Thread(target=send, args=(i + 1, port)) for i, port in enumerate(ports)]
for t in threads: t.start()
for t in threads: t.join()
for i in sorted(statuses): print(i, statuses[i])
]]
local function post_to_all_at_once(servers, body)
    local file = os.tmpname()
    local handle = assert(io.open(file, "wb"))
    handle:write(body)
    handle:close()
    local ports = {}
    for i, server in ipairs(servers) do ports[i] = server.port end
    local pipe = assert(io.popen("python3 -c " .. shell_quote(SEND_AT_ONCE) .. " " .. shell_quote(mock.ca_file)
        .. " " .. shell_quote(file) .. " " .. table.concat(ports, " ")))
    local statuses = {}
    for line in pipe:lines() do
        local i, status = line:match("^(%d+) (%d+)$")
        statuses[tonumber(i)] = tonumber(status)
    end
    pipe:close()
    os.remove(file)
    assert.are.equal(#servers, #statuses, "not every server answered")
    counts.sent = counts.sent + #servers
    return statuses
end

-- The stream the example appends to: { {id =, event =, signature =, body =}, ... }.
local function stream()
    local entries = {}
    for _, entry in ipairs(store:xrange(STREAM, "-", "+")) do
        local fields = {}
        for i = 1, #entry[2], 2 do fields[entry[2][i]] = entry[2][i + 1] end
        fields.id = entry[1]
        entries[#entries + 1] = fields
    end
    return entries
end

-- "event meetingID" of each stored event.
local function stored_events()
    local events = {}
    for _, entry in ipairs(stream()) do
        local push = mock.json.decode(entry.body)
        local info = push.eventInfo.payload.meetingInfo
        events[#events + 1] = entry.event .. " " .. (info and info.meetingID or "-")
    end
    return events
end

local function count_in(text, pattern)
    local n = 0
    for _ in text:gmatch(pattern) do n = n + 1 end
    return n
end

local function wait_for(condition, seconds)
    local deadline = socket.gettime() + seconds
    while not condition() do
        if socket.gettime() > deadline then return false end
        socket.sleep(0.05)
    end
    return true
end

-- The Redis timeout the example states (milliseconds), in seconds.
local REDIS_TIMEOUT = tonumber(read(EXAMPLE .. "/mmc_receiver.lua"):match("\n    timeout = (%d+),")) / 1000

-- A stand-in for a Redis that stops answering: it accepts every connection, reads the
-- commands sent, answers the first `answered` of them (all connections together) with +OK
-- and then nothing, ever. It writes its port to DIR/port and each command's name to
-- DIR/commands, and exits when the process that started it (WATCH) is gone.
local SILENT_REDIS = [[
import os, socket, sys, threading, time
answered, directory, watch = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
server = socket.socket()
server.bind(("127.0.0.1", 0))
server.listen(16)
server.settimeout(1)
lock, state = threading.Lock(), {"answered": 0}
def serve(connection):
    reader = connection.makefile("rb")
    try:
        while True:
            line = reader.readline()
            if not line.startswith(b"*"):
                return
            args = []
            for _ in range(int(line[1:])):
                size = int(reader.readline()[1:])
                args.append(reader.read(size + 2)[:size])
            with lock:
                with open(os.path.join(directory, "commands"), "a") as log:
                    log.write(args[0].decode().upper() + "\n")
                answer = state["answered"] < answered
                state["answered"] += answer
            if answer:
                connection.sendall(b"+OK\r\n")
    except OSError:
        pass
with open(os.path.join(directory, "port.tmp"), "w") as f:
    f.write(str(server.getsockname()[1]))
os.rename(os.path.join(directory, "port.tmp"), os.path.join(directory, "port"))
while True:
    try:
        os.kill(watch, 0)
    except OSError:
        break
    try:
        connection, _ = server.accept()
    except socket.timeout:
        continue
    threading.Thread(target=serve, args=(connection,), daemon=True).start()
]]
local function start_silent_redis(answered)
    local pipe = assert(io.popen("mktemp -d \"${TMPDIR:-/tmp}/mmc-silent-redis.XXXXXX\""))
    local dir = pipe:read("*l")
    pipe:close()
    -- $PPID in os.execute's shell is this process
    assert(os.execute("python3 -c " .. shell_quote(SILENT_REDIS) .. " " .. answered .. " " .. shell_quote(dir)
        .. " \"$PPID\" </dev/null >/dev/null 2>&1 & echo $! >" .. shell_quote(dir .. "/pid")))
    assert(wait_for(function() return files.read_or_nil(dir .. "/port") ~= nil end, 10), "the silent Redis did not start")
    return {
        port = tonumber(read(dir .. "/port")),
        -- The names of the commands it was sent, in order.
        commands = function()
            local names = {}
            for name in (files.read_or_nil(dir .. "/commands") or ""):gmatch("[^\n]+") do names[#names + 1] = name end
            return names
        end,
        stop = function()
            os.execute("kill " .. read(dir .. "/pid"):match("%d+") .. " 2>/dev/null; rm -rf " .. shell_quote(dir))
        end,
    }
end

describe("the event-push lifecycle, end to end", function()
    local server, client
    setup(function()
        redis = redis_server.start()
        store = redis:connect()
        store:define_command("xrange")
    end)
    teardown(function()
        if redis then redis:stop() end
        io.stderr:write(("\nreceiver counts: pushes sent %d (answered 200: %d), handled %d, refused %d, "
            .. "duplicates %d, held off while in flight (503) %d, handler failures (500) %d, retries %d, "
            .. "meeting.verify answered %d\n"):format(counts.sent, counts.answered_200, counts.handled,
            counts.refused, counts.duplicates, counts.held_off_503, counts.failed_500, counts.retries,
            counts.verify_answered))
    end)
    before_each(function()
        mock.setup()
        store:flushall()
        client = mmc.new(mock.options())
    end)
    after_each(function()
        for _, push in ipairs(mock.pushes()) do
            counts.sent = counts.sent + 1
            if push.kind == "retry" then counts.retries = counts.retries + 1 end
        end
        for _, each in ipairs(servers_seen) do
            local log = read(each.prefix .. "/logs/error.log")
            counts.handled = counts.handled + count_in(log, "event push handled: ")
            counts.refused = counts.refused + count_in(log, "event push refused: ")
            counts.duplicates = counts.duplicates + count_in(log, "event push seen before, not handled again")
            counts.held_off_503 = counts.held_off_503 + count_in(log, "being handled by another call, answered 503")
            counts.failed_500 = counts.failed_500 + count_in(log, "event push not handled, answered 500")
            counts.verify_answered = counts.verify_answered + count_in(log, "event push answered: meeting.verify")
            local access = read(each.prefix .. "/logs/access.log")
            counts.answered_200 = counts.answered_200 + count_in(access, "\"POST /mmc/push HTTP/1%.[01]\" 200 ")
            each:stop()
        end
        servers_seen = {}
        server = nil
    end)

    it("configures, enables with the verify handshake, receives events into the stream, disables, deletes, logs out", function()
        server = start_receiver()
        local url = url_of(server)
        assert.are.equal(200, (mock.call(client.set_webhook_config, client,
            { url = url, subscriber_id = "sub-e2e", subscriber_key = SUBSCRIBER_KEY })))

        local _, err, subscription = mock.call(client.get_webhook_config, client)
        assert.is_nil(err)
        assert.are.equal(url, subscription.url)
        assert.are.equal("disabled", subscription.status_name)
        local id = subscription.id

        -- Enabling: the mock POSTs a signed meeting.verify push; the receiver echoes its nonce.
        local status, enable_err = mock.call(client.set_webhook_status, client, id, mmc.ENABLE)
        assert.are.equal(200, status, enable_err)
        local verify = mock.pushes()[1]
        assert.are.equal("meeting.verify", verify.event)
        assert.are.equal(200, verify.status)
        assert.are.same({ event = "meeting.verify", nonce = verify.nonce }, mock.json.decode(verify.body))
        assert.are.equal("enabled", select(3, mock.call(client.get_webhook_config, client)).status_name)

        -- Events: signed by the mock, checked by the receiver and stored once in the stream.
        local sent = {}
        for _, event in ipairs { "meeting.started", "meeting.end" } do
            local answer = mock.push(id, event)
            assert.are.equal(200, answer.status, server:log())
            assert.are.equal("", answer.body)
            sent[#sent + 1] = answer.sent_body
        end
        -- (985472154: the meeting id in the mock's default payload)
        assert.are.same({ "meeting.started 985472154", "meeting.end 985472154" }, stored_events())
        local entries = stream()
        for i, entry in ipairs(entries) do
            assert.are.equal(sent[i], entry.body) -- exactly as received: it can be checked again
            assert.is_table(mmc.verify_push(entry.body, SUBSCRIBER_KEY))
            assert.are.equal(mmc.push_event_id(entry.body), entry.event_id) -- a key for idempotent consumers
            assert.are.equal("handled", store:get("mmc:seen:mmc:event:" .. entry.event_id))
        end

        assert.are.equal(200, (mock.call(client.set_webhook_status, client, id, mmc.DISABLE)))
        assert.are.equal("disabled", select(3, mock.call(client.get_webhook_config, client)).status_name)
        assert.are.equal(200, (mock.call(client.delete_webhook_config, client, id)))
        assert.are.equal(404, (mock.call(client.get_webhook_config, client)))
        assert.are.equal(200, (mock.call(client.logout, client)))
        assert.are.equal(1, mock.tokens().logged_out)
        assert.are.same({}, server:bad_log_lines(true))
        mock.assert_no_secret(server:log())
        assert.is_nil(server:log():find(SUBSCRIBER_KEY, 1, true))
    end)

    it("cannot enable a subscription whose receiver answers the wrong nonce", function()
        local wrong, n = read(EXAMPLE .. "/nginx.conf"):gsub('require%("mmc_receiver"%)%.serve%(%)',
            [[ngx.req.read_body()
                local push = require("mmc").verify_push(ngx.req.get_body_data(), "]] .. SUBSCRIBER_KEY .. [[")
                ngx.print('{"event":"meeting.verify","nonce":"not-' .. push.nonce .. '"}')]])
        assert.are.equal(1, n)
        server = start_receiver(wrong)
        mock.call(client.set_webhook_config, client, {
            url = url_of(server), subscriber_id = "sub-e2e", subscriber_key = SUBSCRIBER_KEY })
        local id = mock.webhook_configs()[1].id
        local status, err = mock.call(client.set_webhook_status, client, id, mmc.ENABLE)
        assert.are.equal(400, status)
        assert.matches("^MMC%.111070008: ", err)
        assert.are.equal("disabled", select(3, mock.call(client.get_webhook_config, client)).status_name)
        assert.are.equal(200, mock.pushes()[1].status) -- it answered, wrongly
    end)

    describe("the receiver", function()
        local id
        before_each(function()
            server = start_receiver()
            mock.call(client.set_webhook_config, client, {
                url = url_of(server), subscriber_id = "sub-e2e", subscriber_key = SUBSCRIBER_KEY })
            id = mock.webhook_configs()[1].id
        end)

        it("refuses a tampered push, a truncated one, an unsigned one and one signed with another key, saying nothing why", function()
            local body = mock.sign_push { id = id, event = "meeting.started" }
            assert.are.equal(200, (post(server, body))) -- the genuine one is accepted
            local fresh = mock.sign_push { id = id, event = "meeting.started" }
            local bad = {
                tampered = { 401, (fresh:gsub('"meeting%.started"', '"meeting.end"', 1)) },
                truncated = { 400, fresh:sub(1, #fresh - 10) },
                unsigned = { 401, (fresh:gsub('"signature":"%x+",?', "")) },
                ["another key"] = { 401, (fresh:gsub('"signature":"%x+"', '"signature":"' .. string.rep("ab", 32) .. '"')) },
                ["re-framed"] = { 401, (fresh:gsub('"timestamp":(%d+)(%d),"nonce":"', '"timestamp":%1,"nonce":"%2')) },
            }
            for what, case in pairs(bad) do
                local status, answer = post(server, case[2])
                assert.are.equal(case[1], status, what)
                assert.are.equal("", answer, what)
            end
            assert.are.equal(400, (post(server, ""))) -- no body
            local _, get_status = https.request { url = url_of(server), cafile = mock.ca_file, verify = "peer",
                protocol = "any", options = { "all", "no_sslv2", "no_sslv3" } }
            assert.are.equal(405, get_status) -- only POST
            assert.are.equal(1, #stream())
            assert.matches("event push refused: wrong signature", server:log())
            assert.matches("event push refused: the push is unsigned", server:log())
            assert.matches("event push refused: the push's 'timestamp' is not Unix milliseconds", server:log())
        end)

        it("refuses an old push, and stores a replayed one only once", function()
            local old = mock.sign_push { id = id, event = "meeting.end", timestamp = (os.time() - 26 * 3600) * 1000 }
            assert.are.equal(401, (post(server, old)))
            assert.matches("event push refused: too old", server:log())
            local body = mock.sign_push { id = id, event = "meeting.started" }
            assert.are.equal(200, (post(server, body)))
            assert.are.equal(200, (post(server, body))) -- acknowledged...
            assert.are.equal(1, #stream()) -- ...not stored twice
            assert.matches("seen before, not handled again", server:log())
        end)

        it("accepts a push re-formatted on the way (whitespace between tokens), and a large one read back from a file", function()
            local compact = mock.sign_push { id = id, event = "meeting.join" }
            local pretty = compact:gsub(',"', ',\n\t"'):gsub('":', '": ')
            assert.are_not.equal(compact, pretty)
            assert.are.equal(200, (post(server, pretty)))
            local large = mock.sign_push { id = id, event = "record.finish",
                payload = { meetingInfo = { meetingID = "big" }, note = string.rep("x", 200000) } }
            assert.is_true(#large > 64 * 1024) -- more than client_body_buffer_size
            assert.are.equal(200, (post(server, large)))
            assert.are.same({ "meeting.join 985472154", "record.finish big" }, stored_events())
            assert.are.equal(large, stream()[2].body)
            assert.matches("a client request body is buffered to a temporary file", server:log())
        end)

        it("answers 500 when the event cannot be stored, and stores it once when the retry comes", function()
            mock.push_retry { first = 1, every = 1, ["for"] = 20 }
            store:set(STREAM, "not a stream") -- XADD fails: WRONGTYPE
            local first = mock.push(id, "meeting.end")
            assert.are.equal(500, first.status, server:log())
            assert.are.equal("", first.body)
            store:del(STREAM) -- storage is back before Huawei (the mock) retries
            assert.is_true(wait_for(function()
                local pushes = mock.pushes()
                return pushes[#pushes].kind == "retry" and pushes[#pushes].status == 200
            end, 10), server:log())
            socket.sleep(1.5) -- and no retry after the one answered 200
            local pushes = mock.pushes()
            assert.are.same({ "control 500", "retry 200" }, (function()
                local seen = {}
                for i, p in ipairs(pushes) do seen[i] = p.kind .. " " .. tostring(p.status) end
                return seen
            end)())
            assert.are.equal(first.sent_body, pushes[2].sent_body)
            assert.are.same({ "meeting.end 985472154" }, stored_events())
            assert.matches("event push not handled, answered 500 so that it is sent again: meeting.end .*"
                .. "XADD mmc:events failed: WRONGTYPE", server:log())
            assert.are.same({}, server:bad_log_lines(false))
        end)
    end)

    it("with ngx.shared.DICT as seen, the workers of one nginx store a push sent twice at once exactly once", function()
        local conf, n = read(EXAMPLE .. "/nginx.conf"):gsub("(\n    init_by_lua_block)", "\n    lua_shared_dict mmc_seen 10m;\n%1")
        assert.are.equal(1, n)
        local lua, m = read(EXAMPLE .. "/mmc_receiver.lua"):gsub('seen = redis_seen%.new%(redis, { prefix = "mmc:seen:" }%)',
            "seen = ngx.shared.mmc_seen")
        assert.are.equal(1, m)
        server = start_receiver(conf, lua)
        mock.call(client.set_webhook_config, client, {
            url = url_of(server), subscriber_id = "sub-e2e", subscriber_key = SUBSCRIBER_KEY })
        local id = mock.webhook_configs()[1].id
        local ROUNDS = 10
        for round = 1, ROUNDS do
            local body = mock.sign_push { id = id, event = "meeting.left",
                payload = { meetingInfo = { meetingID = "d" .. round } } }
            local statuses = post_to_all_at_once({ server, server }, body)
            table.sort(statuses)
            local outcome = table.concat(statuses, "+")
            assert.is_true(outcome == "200+200" or outcome == "200+503", outcome)
            assert.are.equal(200, (post(server, body)))
        end
        assert.are.equal(ROUNDS, #stream())
        assert.is_nil(store:get("mmc:seen:mmc:event:" .. mmc.push_event_id(stream()[1].body))) -- not in Redis
        assert.are.same({}, server:bad_log_lines(true))
    end)

    it("two nginx instances sharing one Redis store a push sent to both exactly once", function()
        local first, second = start_receiver(), start_receiver()
        mock.call(client.set_webhook_config, client, {
            url = url_of(first), subscriber_id = "sub-e2e", subscriber_key = SUBSCRIBER_KEY })
        local id = mock.webhook_configs()[1].id
        local ROUNDS = 20
        local outcomes = {}
        for round = 1, ROUNDS do
            local body = mock.sign_push { id = id, event = "meeting.join",
                payload = { meetingInfo = { meetingID = "m" .. round } } }
            local statuses = post_to_all_at_once({ first, second }, body)
            table.sort(statuses)
            local outcome = table.concat(statuses, "+")
            outcomes[outcome] = (outcomes[outcome] or 0) + 1
            -- one of them stored it (200); the other found it stored (200) or in flight (503)
            assert.is_true(outcome == "200+200" or outcome == "200+503", outcome)
            -- and later deliveries to either are duplicates
            assert.are.equal(200, (post(first, body)))
            assert.are.equal(200, (post(second, body)))
        end
        local entries = stream()
        assert.are.equal(ROUNDS, #entries)
        local events = {}
        for _, entry in ipairs(entries) do
            assert.are.equal(mmc.push_event_id(entry.body), entry.event_id)
            assert.is_nil(events[entry.event_id], "stored twice: " .. entry.event_id)
            events[entry.event_id] = true
        end
        local handled = count_in(read(first.prefix .. "/logs/error.log"), "event push handled: ")
            + count_in(read(second.prefix .. "/logs/error.log"), "event push handled: ")
        assert.are.equal(ROUNDS, handled)
        io.stderr:write("\ntwo receivers, one Redis, " .. ROUNDS .. " pushes sent to both at once: ")
        for outcome, n in pairs(outcomes) do io.stderr:write(outcome, " x", n, "; ") end
        io.stderr:write("\n")
        assert.are.same({}, first:bad_log_lines(true))
        assert.are.same({}, second:bad_log_lines(true))
    end)

    describe("on lua-resty-redis", function()
        local silent
        after_each(function()
            if silent then silent.stop() end
            silent = nil
        end)

        local function subscribe(receiver_server)
            mock.call(client.set_webhook_config, client, {
                url = url_of(receiver_server), subscriber_id = "sub-e2e", subscriber_key = SUBSCRIBER_KEY })
            return mock.webhook_configs()[1].id
        end

        -- POSTs a fresh push; its status and how long the answer took.
        local function timed_push(receiver_server, id)
            local started = socket.gettime()
            local status = post(receiver_server, mock.sign_push { id = id, event = "meeting.started" })
            return status, socket.gettime() - started
        end

        it("gives each connection back to the pool: 20 pushes open at most one Redis connection per worker", function()
            server = start_receiver()
            local id = subscribe(server)
            local function connections() return tonumber(store:info().stats.total_connections_received) end
            local before = connections()
            for round = 1, 20 do
                local body = mock.sign_push { id = id, event = "meeting.join",
                    payload = { meetingInfo = { meetingID = "p" .. round } } }
                assert.are.equal(200, (post(server, body)), server:log())
            end
            local opened, workers = connections() - before, #server:workers()
            io.stderr:write("\n20 pushes, " .. workers .. " workers: " .. opened .. " Redis connections opened\n")
            assert.is_true(opened >= 1 and opened <= workers, opened .. " connections for " .. workers .. " workers")
            assert.are.equal(20, #stream())
            assert.are.same({}, server:bad_log_lines(true))
        end)

        it("answers 500 at once when Redis is down (a closed port)", function()
            server = start_receiver(nil, nil, { redis_port = nginx.free_port() })
            local status, took = timed_push(server, subscribe(server))
            assert.are.equal(500, status, server:log())
            assert.is_true(took < REDIS_TIMEOUT + 3, took .. " s")
            assert.matches("event push not handled, answered 500 so that it is sent again: seen store failed: "
                .. "Redis 127%.0%.0%.1:%d+: connection refused", server:log())
        end)

        it("answers 500 within the stated timeout when Redis accepts the connection and never answers", function()
            silent = start_silent_redis(0)
            server = start_receiver(nil, nil, { redis_port = silent.port })
            local status, took = timed_push(server, subscribe(server))
            assert.are.equal(500, status, server:log())
            assert.is_true(took >= REDIS_TIMEOUT * 0.9 and took < REDIS_TIMEOUT + 3, took .. " s")
            assert.matches("seen store failed: Redis 127%.0%.0%.1:%d+: timeout", server:log())
            assert.are.same({ "SET" }, silent.commands()) -- the claim, then nothing more
        end)

        it("stops a push's commands once Redis stopped answering: the claim, the XADD that times out, then 500", function()
            silent = start_silent_redis(1) -- answers the claim (SET ... NX) only
            server = start_receiver(nil, nil, { redis_port = silent.port })
            local status, took = timed_push(server, subscribe(server))
            assert.are.equal(500, status, server:log())
            assert.is_true(took >= REDIS_TIMEOUT * 0.9 and took < REDIS_TIMEOUT + 3, took .. " s")
            assert.matches("XADD mmc:events failed: Redis 127%.0%.0%.1:%d+: timeout", server:log())
            -- no release of the claim after the timeout: it would wait a second timeout
            assert.are.same({ "SET", "XADD" }, silent.commands())
        end)

        it("takes resty.redis when it is there, as in OpenResty", function()
            server = start_receiver(nil, nil, { files = { ["lua/resty/redis.lua"] =
                'ngx.log(ngx.NOTICE, "resty.redis: the spec\'s stand-in")\nreturn require "nginx.redis"\n' } })
            assert.are.equal(200, (timed_push(server, subscribe(server))), server:log())
            assert.are.equal(1, #stream())
            assert.truthy(server:log():find("resty.redis: the spec's stand-in", 1, true))
        end)
    end)
end)

-- The parts of the doc's block: the commands before nginx starts, those from its start to
-- before the stop line, and the stop lines; `prefix`, the ports and the builds replaced.
local function recipe_parts(prefix, port, redis_port)
    local block = docs.marked_block(DOC, "run by spec/openresty/openresty_receiver_spec.lua")
    local interpreter = arg and arg[-1] or "luajit"
    local text = block:gsub("\\\n%s*", " ") -- one command a line
    local n
    text, n = text:gsub("127%.0%.0%.1:8443/", "127.0.0.1:" .. port .. "/")
    assert.are.equal(1, n, "the recipe should give the URL https://127.0.0.1:8443/...")
    text, n = text:gsub("%f[%d]6390%f[%D]", tostring(redis_port))
    assert.is_true(n > 0, "the recipe should start Redis on 6390")
    text = text:gsub("build%-luajit/mmc%.so", nginx.build_dir .. "/mmc.so")
        :gsub("MMC_BUILD_DIR=build%-luajit luajit ", "MMC_BUILD_DIR=" .. shell_quote(nginx.build_dir) .. " " .. interpreter .. " ")
    local parts, current, prefixes = { {}, {}, {} }, 1, 0
    for line in text:gmatch("[^\n]+") do
        if line:match("^prefix=") then
            prefixes = prefixes + 1
            line = "prefix=" .. shell_quote(prefix)
        elseif line:match("nginx %-p .*%-s quit$") then
            current = 3
        elseif line:match("nginx %-p ") then
            current = 2
        end
        table.insert(parts[current], line)
    end
    assert.are.equal(1, prefixes, "the recipe should set prefix= once")
    assert(#parts[2] > 0 and #parts[3] > 0, "the recipe should start nginx and stop it")
    local set_prefix = "prefix=" .. shell_quote(prefix) .. "\n"
    return table.concat(parts[1], "\n"), set_prefix .. table.concat(parts[2], "\n"), set_prefix .. table.concat(parts[3], "\n")
end

local sh = files.sh

local function nginx_master(prefix)
    local pid = tonumber(files.read_or_nil(prefix .. "/logs/nginx.pid") or "")
    if pid and (files.read_or_nil("/proc/" .. pid .. "/cmdline") or ""):find("nginx", 1, true) then return pid end
end

describe("the receiver, run as docs/receiving.md says", function()
    local parent, prefix, redis_port
    before_each(function()
        mock.setup()
        -- A directory every user can enter, as /srv is: mktemp makes it 0700.
        local pipe = assert(io.popen("mktemp -d \"${TMPDIR:-/tmp}/mmc-doc-receiver.XXXXXX\""))
        parent = pipe:read("*l")
        pipe:close()
        assert(os.execute("chmod 755 " .. shell_quote(parent)))
        prefix = parent .. "/mmc-receiver"
    end)
    after_each(function()
        local master = nginx_master(prefix)
        if master then os.execute("kill -KILL " .. master) end
        if redis_port then os.execute("redis-cli -p " .. redis_port .. " shutdown nosave >/dev/null 2>&1") end
        os.execute("rm -rf " .. shell_quote(parent))
    end)

    it("goes from an empty directory to one event in the stream, the workers running as nobody under root", function()
        local port = nginx.free_port()
        redis_port = nginx.free_port()
        local setup, run, stop = recipe_parts(prefix, port, redis_port)
        local environment = {
            MMC_APP_ID = mock.APP_ID, MMC_APP_KEY = mock.APP_KEY, MMC_ENDPOINT = mock.endpoint,
            MMC_CA_FILE = mock.ca_file, MMC_TEST_CONTROL = mock.control,
            MMC_TEST_RECEIVER_CERT = mock.receiver_cert_file, MMC_TEST_RECEIVER_KEY = mock.receiver_key_file,
        }
        local output, ok, errors = sh(setup, environment)
        assert(ok, output .. errors)
        -- The port, moved in the copied config before nginx starts.
        local conf_path = prefix .. "/conf/nginx.conf"
        local conf, listens = read(conf_path):gsub("listen 127%.0%.0%.1:8443 ssl;", "listen 127.0.0.1:" .. port .. " ssl;")
        assert.are.equal(1, listens, "the example should listen on 127.0.0.1:8443")
        files.write(conf_path, conf)

        output, ok, errors = sh(run, environment)
        local log = files.read_or_nil(prefix .. "/logs/error.log") or ""
        assert(ok, output .. errors .. log)
        local lines = {}
        for line in output:gmatch("[^\n]+") do lines[#lines + 1] = line end
        assert.matches("^event push %x+ enabled %(HTTP 200%)$", lines[1])
        assert.are.equal(200, mock.json.decode(lines[2]).status)
        assert.are.equal("1", lines[3]) -- redis-cli xlen mmc:events
        assert.are.equal(3, #lines)
        local pushes = mock.pushes()
        assert.are.same({ "meeting.verify 200", "meeting.started 200" },
            { pushes[1].event .. " " .. pushes[1].status, pushes[2].event .. " " .. pushes[2].status })
        local master = nginx_master(prefix)
        assert(master, "no nginx master")
        if nginx.is_root() then -- the workers run as nobody, not as root
            local workers = 0
            local listing = assert(io.popen("ls /proc"))
            for entry in listing:lines() do
                local stat = entry:match("^%d+$") and files.read_or_nil("/proc/" .. entry .. "/stat") or ""
                local ppid = stat:match("^%d+ %b() %a (%d+)")
                if tonumber(ppid) == master then
                    workers = workers + 1
                    assert.are_not.equal("0", (files.read_or_nil("/proc/" .. entry .. "/status") or ""):match("\nUid:%s+(%d+)"))
                end
            end
            listing:close()
            assert.is_true(workers > 0)
        end

        output, ok, errors = sh(stop, environment)
        assert(ok, output .. errors)
        assert(wait_for(function() return nginx_master(prefix) == nil end, 5), "the doc's stop line should stop nginx")
        assert(wait_for(function()
            local probe = socket.connect("127.0.0.1", redis_port)
            if probe then probe:close() end
            return probe == nil
        end, 5), "the doc's last line should stop Redis")
        redis_port = nil
        log = files.read_or_nil(prefix .. "/logs/error.log") or ""
        assert.matches("event push answered: meeting.verify", log)
        assert.matches("event push stored: meeting.started as %d+%-%d+", log)
        assert.is_nil(log:find("%[emerg%]") or log:find("%[alert%]") or log:find("%[crit%]") or log:find("%[error%]"), log)
        mock.assert_no_secret(log)
    end)
end)
