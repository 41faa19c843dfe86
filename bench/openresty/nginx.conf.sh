# shellcheck shell=bash
# Prints the OpenResty client's nginx.conf: one worker process, and thread pools mmc1, mmc2 and
# mmc4 of 1, 2 and 4 threads. Sourced by bench/run, which sets TMP, BENCH, CLIENT_PORT,
# MMC_JIT_DIR (the LuaJIT build of mmc.so) and RUN_AS_ROOT.
client_conf() {
cat <<CONF
$( [ "$RUN_AS_ROOT" = 1 ] && echo "user root;" )
worker_processes 1;
pid $TMP/openresty/nginx.pid;
error_log $TMP/openresty/error.log warn;
load_module /usr/lib/nginx/modules/ndk_http_module.so;
load_module /usr/lib/nginx/modules/ngx_http_lua_module.so;
thread_pool mmc1 threads=1;
thread_pool mmc2 threads=2;
thread_pool mmc4 threads=4;
env MMC_APP_ID;
env MMC_APP_KEY;
env MMC_ENDPOINT;
env MMC_CA_FILE;
env BENCH_WEBHOOK_ID;
events { worker_connections 1024; }
http {
    access_log off;
    client_body_temp_path $TMP/openresty/body;
    proxy_temp_path $TMP/openresty/proxy;
    fastcgi_temp_path $TMP/openresty/fastcgi;
    uwsgi_temp_path $TMP/openresty/uwsgi;
    scgi_temp_path $TMP/openresty/scgi;
    lua_package_path "$BENCH/openresty/?.lua;/usr/share/lua/5.1/?.lua;;";
    lua_package_cpath "$MMC_JIT_DIR/?.so;/usr/lib/x86_64-linux-gnu/lua/5.1/?.so;;";
    server {
        listen 127.0.0.1:$CLIENT_PORT;
        location = /ping { return 200 "ok\n"; }
        location = /run {
            lua_code_cache on;
            content_by_lua_file $BENCH/openresty/driver.lua;
        }
    }
}
CONF
}
