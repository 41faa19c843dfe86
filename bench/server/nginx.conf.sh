# shellcheck shell=bash
# Prints the fast server's nginx.conf. Sourced by bench/run, which sets:
#   TMP (the run's temporary dir), BENCH (bench/), PORT (TLS API), CONTROL_PORT (plain /stats),
#   SERVER_WORKERS, RUN_AS_ROOT (1 when nginx's master runs as root), H2_PORT (the same API
#   with HTTP/2 offered by ALPN, for the batch rows; PORT stays HTTP/1.1 only),
#   BENCH_DOWNLOAD_TOKEN (the token of the download rows' file, $TMP/files/bench.mp4)
api_server() { # PORT LISTEN_FLAGS [LINE]: the API's server block (nginx 1.22: "listen ... http2")
cat <<CONF
    server {
        listen 127.0.0.1:$1 ssl$2;
        ${3:-}
        ssl_certificate $TMP/certs/server.pem;
        ssl_certificate_key $TMP/certs/server.key;
        ssl_protocols TLSv1.2 TLSv1.3;
        ssl_session_cache shared:SSL:10m;
        location = /v2/usg/acs/auth/appauth { content_by_lua_block { require("huawei").appauth() } }
        location = /v1/mmc/management/webhook/change-status {
            content_by_lua_block { require("huawei").change_status() }
        }
        # issue 19: a recording as Huawei's download hosts serve one, against its token
        location = /recordings/bench.mp4 {
            if (\$http_authorization != "$BENCH_DOWNLOAD_TOKEN") { return 401; }
            types { } default_type video/mp4;
            alias $TMP/files/bench.mp4;
        }
        location / { content_by_lua_block { require("huawei").not_found() } }
    }
CONF
}
server_conf() {
cat <<CONF
$( [ "$RUN_AS_ROOT" = 1 ] && echo "user root;" )
worker_processes $SERVER_WORKERS;
pid $TMP/server/nginx.pid;
error_log $TMP/server/error.log warn;
load_module /usr/lib/nginx/modules/ndk_http_module.so;
load_module /usr/lib/nginx/modules/ngx_http_lua_module.so;
events { worker_connections 4096; }
http {
    access_log off;
    log_format connection '\$connection \$server_protocol \$uri';   # the HTTP/2 rows: one connection?
    client_body_temp_path $TMP/server/body;
    proxy_temp_path $TMP/server/proxy;
    fastcgi_temp_path $TMP/server/fastcgi;
    uwsgi_temp_path $TMP/server/uwsgi;
    scgi_temp_path $TMP/server/scgi;
    keepalive_requests 10000000;
    keepalive_timeout 300s;
    server_tokens off;
    default_type application/json;
    lua_package_path "$TMP/server/?.lua;$BENCH/server/?.lua;/usr/share/lua/5.1/?.lua;;";
    lua_package_cpath "/usr/lib/x86_64-linux-gnu/lua/5.1/?.so;;";
    lua_shared_dict tokens 32m;
    lua_shared_dict nonces 32m;
    lua_shared_dict counters 1m;
    init_by_lua_block { require "huawei" }
$(api_server "$PORT" "")
$(api_server "$H2_PORT" " http2" "access_log $TMP/server/h2.log connection;")
    server {
        listen 127.0.0.1:$CONTROL_PORT;
        location = /stats { content_by_lua_block { require("huawei").stats() } }
    }
}
CONF
}
