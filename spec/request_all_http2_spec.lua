-- request_all over HTTP/2: against a local h2 server (nginx with `http2`, TLS with the test
-- CA's 127.0.0.1 certificate, proxying to the mock), a batch's calls go as streams multiplexed
-- on one connection. nginx's access log names the connection ($connection) and the protocol
-- of every request it served. Runs under every Lua: nginx needs no Lua module here.
local mock = require "mock"
local nginx = require "nginx"
local files = require "files"
local mmc = require "mmc"

local CONF = [[
worker_processes 1;
daemon on;
pid logs/nginx.pid;
error_log logs/error.log info;
events { worker_connections 256; }
http {
    log_format connections '$connection $server_protocol $request_method $uri $status';
    access_log logs/access.log connections;
    client_body_temp_path temp/body;
    proxy_temp_path temp/proxy;
    fastcgi_temp_path temp/fastcgi;
    uwsgi_temp_path temp/uwsgi;
    scgi_temp_path temp/scgi;
    upstream mock { server @UPSTREAM@; keepalive 64; }
    server {
        listen 127.0.0.1:@PORT@ ssl http2;
        ssl_certificate @CERT@;
        ssl_certificate_key @KEY@;
        location / {
            proxy_pass https://mock;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_ssl_verify off;
        }
    }
}
]]

local function start_h2()
    local conf = CONF:gsub("@CERT@", os.getenv("MMC_TEST_RECEIVER_CERT"))
        :gsub("@KEY@", os.getenv("MMC_TEST_RECEIVER_KEY")):gsub("@UPSTREAM@", (mock.endpoint:gsub("^https://", "")))
    return nginx.start_conf(conf, {})
end

-- The access log's lines as { connection, protocol, method, uri, status }.
local function served(server)
    local lines = {}
    for line in (files.read_or_nil(server.prefix .. "/logs/access.log") or ""):gmatch("[^\n]+") do
        local c, p, m, u, s = line:match("^(%d+) (%S+) (%S+) (%S+) (%d+)$")
        if c then lines[#lines + 1] = { connection = c, protocol = p, method = m, uri = u, status = tonumber(s) } end
    end
    return lines
end

describe("request_all over HTTP/2", function()
    local server
    before_each(function()
        local ids = {}
        for i = 1, 32 do ids[i] = string.format("hook%02d", i) end
        mock.setup { webhook_ids = ids }
        server = start_h2()
    end)
    after_each(function() if server then server:stop() end server = nil end)

    it("multiplexes a batch's calls as streams on one connection", function()
        local client = mmc.new(mock.options { endpoint = "https://127.0.0.1:" .. server.port })
        mock.delay(0.2) -- every call takes 0.2 s: 32 at once overlap
        local requests = {}
        for i = 1, 32 do
            requests[i] = { "PUT", mock.CHANGE_STATUS, { query = { id = string.format("hook%02d", i), status = 0 } } }
        end
        local started = mock.now()
        local results = client:request_all(requests, { concurrency = 32 })
        local took = mock.now() - started
        mock.clear_faults()
        print(string.format("\n  32 calls over HTTP/2 (0.2 s each, and the login): %.2f s, max in flight %d",
            took, mock.in_flight().max_in_flight))
        for i = 1, 32 do assert.are.equal(200, results[i].status, results[i].err) end
        local connections, puts = {}, 0
        for _, line in ipairs(served(server)) do
            if line.uri == mock.CHANGE_STATUS then
                puts = puts + 1
                assert.are.equal("HTTP/2.0", line.protocol)
                connections[line.connection] = true
            end
        end
        local count = 0
        for _ in pairs(connections) do count = count + 1 end
        assert.are.equal(32, puts)
        assert.are.equal(1, count, "the batch used " .. count .. " connections")
        assert.is_true(mock.in_flight().max_in_flight >= 4, "the streams ran side by side")
        -- the next batch goes on the same connection
        results = client:request_all({ requests[1], requests[2] })
        assert.are.equal(200, results[2].status, results[2].err)
        local after = {}
        for _, line in ipairs(served(server)) do
            if line.uri == mock.CHANGE_STATUS then after[line.connection] = true end
        end
        count = 0
        for _ in pairs(after) do count = count + 1 end
        assert.are.equal(1, count)
    end)
end)
