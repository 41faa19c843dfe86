-- mmc: Huawei Cloud Meeting event-push (webhook) management from Lua, in C on libcurl.
--   luarocks make --deps-mode=none rockspec/mmc-scm-1.rockspec   (from a checkout)
rockspec_format = "3.0"
package = "mmc"
version = "scm-1"
source = {
    url = "git+https://example.invalid/mmc.git", -- a checkout is built with `luarocks make`
}
description = {
    summary = "Huawei Cloud Meeting event push (webhook) management, in C on libcurl",
    detailed = [[
        App ID authentication and event-push status (enable, disable, lock) for Huawei Cloud
        Meeting's server API, with the token kept and renewed in the client, one kept-alive
        TLS connection per client, verified certificates and no secret in any message.
    ]],
    license = "MIT",
    labels = { "huawei", "meeting", "webhook", "libcurl", "http" },
}
dependencies = {
    "lua >= 5.1, < 5.5", -- and LuaJIT 2.1 (it reports itself as 5.1)
    "lua-cjson >= 2.1",
}
external_dependencies = {
    CURL = { library = "curl" }, -- by library: Debian keeps curl/curl.h in a multiarch folder
    OPENSSL = { header = "openssl/hmac.h", library = "crypto" },
}
build = {
    type = "builtin",
    modules = {
        mmc = {
            sources = {
                "lua_mmc.c", "lua_mmc_token_store.c",
                "src/appauth.c", "src/buffer.c", "src/client.c", "src/clock.c", "src/crypto.c",
                "src/curl_global.c", "src/json_scan.c", "src/json_write.c", "src/message.c",
                "src/push.c", "src/token.c", "src/token_cache.c", "src/transport.c", "src/url.c",
                "src/owned_sockets.c",
            },
            incdirs = { "$(CURL_INCDIR)", "$(OPENSSL_INCDIR)" },
            libdirs = { "$(CURL_LIBDIR)", "$(OPENSSL_LIBDIR)" },
            libraries = { "curl", "crypto", "pthread", "m" },
        },
        ["mmc.redis_store"] = "lua/mmc/redis_store.lua",
        ["mmc.receiver"] = "lua/mmc/receiver.lua",
        ["mmc.redis_seen"] = "lua/mmc/redis_seen.lua",
    },
    install = {
        bin = { mmc = "bin/mmc" }, -- the command for administrators
    },
    copy_directories = {},
}
