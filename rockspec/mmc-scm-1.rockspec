-- mmc: Huawei Cloud Meeting event-push (webhook) management from Lua, in C on libcurl.
-- The development version, for `luarocks make` from a checkout, in its root (README.md,
-- "From a checkout"):
--   luarocks --lua-version=5.4 --local make --deps-mode=none rockspec/mmc-scm-1.rockspec
-- A release is not this file: scripts/release makes dist/mmc-<version>-1.src.rock, which
-- `luarocks install` builds with no network (README.md, "From a release").
rockspec_format = "3.0"
package = "mmc"
version = "scm-1"
source = {
    -- The checkout itself: `luarocks make` builds the directory it runs in and never reads
    -- source.url. mmc has no repository or download host to name here; "." (this directory)
    -- is the only honest source, and `luarocks build` or `install` of this file stops with
    -- "Couldn't extract archive" instead of fetching anything.
    url = ".",
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
-- Checked by LuaRocks before the build; CMake finds them again for the build itself.
external_dependencies = {
    CURL = { library = "curl" }, -- by library: Debian keeps curl/curl.h in a multiarch folder
    OPENSSL = { header = "openssl/hmac.h", library = "crypto" },
}
build = {
    -- CMake builds mmc.so (Release, no tests) in a directory of its own under the system's
    -- temporary directory, which is removed afterwards: `luarocks make` leaves the checkout
    -- as it was (no mmc.so or *.o in it for a later run to load by mistake). The sources are
    -- listed once, in CMakeLists.txt. $(LUA) and $(LUA_INCDIR) are the Lua LuaRocks targets.
    type = "command",
    install_command = [[
set -e
build=`mktemp -d "${TMPDIR:-/tmp}/mmc-luarocks.XXXXXX"`
trap 'rm -rf "$build"' EXIT
lua_version=`"$(LUA)" -e "io.write((_VERSION:gsub('Lua ', '')))"`
$(CMAKE) -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DBUILD_TESTING=OFF -DMMC_LUA="$lua_version" -DLUA_INCDIR="$(LUA_INCDIR)"
$(CMAKE) --build "$build"
mkdir -p "$(LIBDIR)"
cp "$build/mmc.so" "$(LIBDIR)/mmc.so"
]],
    install = {
        lua = {
            ["mmc.redis_store"] = "lua/mmc/redis_store.lua",
            ["mmc.receiver"] = "lua/mmc/receiver.lua",
            ["mmc.redis_seen"] = "lua/mmc/redis_seen.lua",
        },
        bin = { mmc = "bin/mmc" }, -- the command for administrators
    },
    copy_directories = {},
}
