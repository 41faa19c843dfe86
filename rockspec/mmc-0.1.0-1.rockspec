-- mmc: Huawei Cloud Meeting event-push (webhook) management from Lua, in C on libcurl.
-- The 0.1.0 release. scripts/release packs this file and the tarball it makes of the
-- committed tree into dist/mmc-0.1.0-1.src.rock, which installs with no network:
--   luarocks --lua-version=5.4 --local install --deps-mode=none mmc-0.1.0-1.src.rock
-- Everything but the version and the source is the same as in mmc-scm-1.rockspec (a spec,
-- spec/version_spec.lua, checks it, and that 0.1.0 is the version src/version.h gives).
rockspec_format = "3.0"
package = "mmc"
version = "0.1.0-1"
source = {
    -- The tarball scripts/release makes (`git archive` of the release's commit, everything
    -- under mmc-0.1.0/), by its file name: it travels inside the source rock, where
    -- `luarocks install` finds it and fetches nothing. mmc has no download host; this name
    -- is all there is to say.
    url = "mmc-0.1.0.tar.gz",
    dir = "mmc-0.1.0",
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
