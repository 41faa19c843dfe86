-- The whole event-push lifecycle, as the real service runs it: the subscription points at
-- the receiver example (examples/receiver, in a real nginx over TLS), enabling it makes the
-- mock send a signed meeting.verify push that the receiver must answer with its nonce, then
-- events arrive and are checked; disable, delete, logout. And what the receiver refuses.
local mock = require "mock"
local mmc = require "mmc"
local nginx = require "nginx"
local https = require "ssl.https"
local ltn12 = require "ltn12"

local EXAMPLE = "examples/receiver"
local SUBSCRIBER_KEY = "receiver-subscriber-key-4f8a2c"

local function read(path)
    local file = assert(io.open(path, "rb"))
    local text = file:read("*a")
    file:close()
    return text
end

-- Starts a receiver config (the example's, by default) in a prefix laid out as its header
-- says, with the key file and the test certificate for 127.0.0.1.
local function start_receiver(conf)
    conf = conf or read(EXAMPLE .. "/nginx.conf")
    local listens
    conf, listens = conf:gsub("listen 127%.0%.0%.1:8443 ssl;", "listen 127.0.0.1:@PORT@ ssl;")
    assert.are.equal(1, listens, "the receiver should listen on 127.0.0.1:8443")
    local key_file
    -- a relative key file is found in nginx's prefix
    local server = nginx.start_conf(conf, { MMC_SUBSCRIBER_KEY_FILE = "conf/subscriber.key" }, function(prefix)
        key_file = prefix .. "/conf/subscriber.key"
        assert(os.execute(string.format(
            "mkdir -p '%s/conf' '%s/lua' '%s/lib' && cp '%s' '%s/conf/receiver.pem' && cp '%s' '%s/conf/receiver.key'"
            .. " && ln -s '%s/%s/mmc_receiver.lua' '%s/lua/' && ln -s '%s/mmc.so' '%s/lib/'"
            .. " && printf '%%s\\n' '%s' > '%s'",
            prefix, prefix, prefix, mock.receiver_cert_file, prefix, mock.receiver_key_file, prefix,
            nginx.root, EXAMPLE, prefix, nginx.build_dir, prefix, SUBSCRIBER_KEY, key_file)))
    end)
    return server
end

-- POSTs `body` to the receiver over TLS, verifying it with the test CA.
local function post(server, body)
    local answer = {}
    local _, status = https.request {
        url = "https://127.0.0.1:" .. server.port .. "/mmc/push", method = "POST",
        headers = { ["content-type"] = "application/json", ["content-length"] = #body },
        source = ltn12.source.string(body), sink = ltn12.sink.table(answer),
        cafile = mock.ca_file, verify = "peer", protocol = "any", options = { "all", "no_sslv2", "no_sslv3" },
    }
    return status, table.concat(answer)
end

local function handled_events(server)
    local events = {}
    for event, meeting in server:log():gmatch("event push: (%S+) meeting (%S+)") do
        events[#events + 1] = event .. " " .. meeting
    end
    return events
end

describe("the event-push lifecycle, end to end", function()
    local server, client
    before_each(function()
        mock.setup()
        client = mmc.new(mock.options())
    end)
    after_each(function()
        if server then server:stop() end
        server = nil
    end)

    it("configures, enables with the verify handshake, receives events, disables, deletes, logs out", function()
        server = start_receiver()
        local url = "https://127.0.0.1:" .. server.port .. "/mmc/push"
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

        -- Events: signed by the mock, checked and handled once by the receiver.
        for _, event in ipairs { "meeting.started", "meeting.end" } do
            local answer = mock.push(id, event)
            assert.are.equal(200, answer.status, server:log())
            assert.are.equal("", answer.body)
        end
        -- (985472154: the meeting id in the mock's default payload)
        assert.are.same({ "meeting.started 985472154", "meeting.end 985472154" }, handled_events(server))

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
        local wrong = read(EXAMPLE .. "/nginx.conf"):gsub('require%("mmc_receiver"%)%.handle%(%)',
            [[ngx.req.read_body()
                local push = require("mmc").verify_push(ngx.req.get_body_data(), "]] .. SUBSCRIBER_KEY .. [[")
                ngx.print('{"event":"meeting.verify","nonce":"not-' .. push.nonce .. '"}')]])
        server = start_receiver(wrong)
        mock.call(client.set_webhook_config, client, {
            url = "https://127.0.0.1:" .. server.port .. "/mmc/push",
            subscriber_id = "sub-e2e", subscriber_key = SUBSCRIBER_KEY })
        local id = mock.webhook_configs()[1].id
        local status, err = mock.call(client.set_webhook_status, client, id, mmc.ENABLE)
        assert.are.equal(400, status)
        assert.matches("^MMC%.111070008: ", err)
        assert.are.equal("disabled", select(3, mock.call(client.get_webhook_config, client)).status_name)
        assert.are.equal(200, mock.pushes()[1].status) -- it answered, wrongly
    end)

    describe("the receiver refuses", function()
        local id
        before_each(function()
            server = start_receiver()
            mock.call(client.set_webhook_config, client, {
                url = "https://127.0.0.1:" .. server.port .. "/mmc/push",
                subscriber_id = "sub-e2e", subscriber_key = SUBSCRIBER_KEY })
            id = mock.webhook_configs()[1].id
        end)

        it("a tampered push, a truncated one, an unsigned one and one signed with another key", function()
            local body = mock.sign_push { id = id, event = "meeting.started" }
            assert.are.equal(200, (post(server, body))) -- the genuine one is accepted
            local fresh = mock.sign_push { id = id, event = "meeting.started" }
            local bad = {
                tampered = (fresh:gsub('"meeting%.started"', '"meeting.end"', 1)),
                truncated = fresh:sub(1, #fresh - 10),
                unsigned = (fresh:gsub('"signature":"%x+",?', "")),
                ["another key"] = (fresh:gsub('"signature":"%x+"', '"signature":"' .. string.rep("ab", 32) .. '"')),
            }
            for what, text in pairs(bad) do
                local status, answer = post(server, text)
                assert.are.equal(401, status, what)
                assert.are.equal("refused\n", answer, what)
            end
            assert.are.equal(1, #handled_events(server))
            assert.matches("event push refused: wrong signature", server:log())
            assert.matches("event push refused: the push is unsigned", server:log())
        end)

        it("an old push, and handles a replayed one only once", function()
            local old = mock.sign_push { id = id, event = "meeting.end", timestamp = (os.time() - 3600) * 1000 }
            assert.are.equal(401, (post(server, old)))
            assert.matches("event push refused: too old", server:log())
            local body = mock.sign_push { id = id, event = "meeting.started" }
            assert.are.equal(200, (post(server, body)))
            assert.are.equal(200, (post(server, body))) -- acknowledged...
            assert.are.equal(1, #handled_events(server)) -- ...not handled twice
            assert.matches("seen before, not handled again", server:log())
        end)
    end)
end)
