/*
 * lua_mmc: the Lua face of mmc.
 *
 * This file only translates: it checks arguments (a programmer's mistake is raised, naming the
 * argument), turns option tables and MMC_* environment variables into an mmc_config, calls the
 * Lua-free core in src/, and turns its results into Lua values:
 *
 *     status, nil, body        on a 2xx answer
 *     status, message, body    on any other answer (or a 2xx whose body is not JSON)
 *     nil, message             when no answer arrived (DNS, connect, TLS, timeout, ...)
 *
 * where body is the answer's JSON decoded by a private lua-cjson instance (cjson.new(), so a
 * host's global cjson settings never apply) and never holds a token.
 *
 * No C state is global: the module's state (the default client and the JSON decoder) is a
 * table that every function receives as its first upvalue, so the module can be loaded into
 * any number of Lua states on any number of threads.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "lua_mmc_compat.h"
#include "lua_mmc_token_store.h"
#include "src/client.h"
#include "src/engine.h"
#include "src/clock.h"
#include "src/json_scan.h"
#include "src/proxy.h"
#include "src/push.h"
#include "src/version.h"

#define CLIENT_METATABLE "mmc.client"
#define BATCH_METATABLE "mmc.batch"
#define STATE_DEFAULT_CLIENT "default"
#define STATE_JSON_DECODE "decode"
#define STATE_JSON_ENCODE "encode"
#define CLIENT_TOKEN_STORE "token_store" /* in the client's user value table */
#define CLIENT_ON_REQUEST "on_request"   /* in the client's user value table */
#define MAX_BODY_LIMIT (1024L * 1024 * 1024)
/* The Lua state's account of mmc's allocations (src/memory.h): a userdata without a finalizer,
 * anchored in the registry, so that it outlives every client and batch charged to it (at
 * lua_close every finalizer runs before any object is freed). */
#define REGISTRY_MEMORY "mmc.memory"

typedef struct client_box {
    mmc_client *client; /* NULL once closed */
    int busy;           /* in a call: its token store must not call back into it */
} client_box;

/* ---- options ---------------------------------------------------------------------------- */

#define OPTION_OBJECT (-2) /* not a Lua type: a table or userdata with methods */
#define OPTION_PROXY (-3)  /* not a Lua type: a string, or false */

typedef struct option_spec {
    const char *name;
    int lua_type;            /* or OPTION_OBJECT */
    const char *environment; /* the variable that fills it when it is not given, or NULL */
} option_spec;

static const option_spec option_specs[] = {
    {"app_id", LUA_TSTRING, "MMC_APP_ID"},
    {"app_key", LUA_TSTRING, "MMC_APP_KEY"},
    {"user_id", LUA_TSTRING, "MMC_USER_ID"},
    {"corp_id", LUA_TSTRING, "MMC_CORP_ID"},
    {"sp", LUA_TBOOLEAN, NULL},
    {"endpoint", LUA_TSTRING, "MMC_ENDPOINT"},
    {"ca_file", LUA_TSTRING, "MMC_CA_FILE"},
    {"ssl_verify", LUA_TBOOLEAN, NULL},
    {"allow_http", LUA_TBOOLEAN, NULL},
    {"timeout", LUA_TNUMBER, NULL},
    {"connect_timeout", LUA_TNUMBER, NULL},
    {"max_body", LUA_TNUMBER, NULL},
    {"retries", LUA_TNUMBER, NULL},
    {"token_store", OPTION_OBJECT, NULL},
    {"proxy", OPTION_PROXY, "MMC_PROXY"},
    {"on_request", LUA_TFUNCTION, NULL},
    {NULL, 0, NULL},
};

/* The spec of the option called `name`, or NULL. */
static const option_spec *find_option(const char *name) {
    for (const option_spec *spec = option_specs; spec->name != NULL; spec++)
        if (strcmp(spec->name, name) == 0)
            return spec;
    return NULL;
}

/* Raises unless the proxy option (at the top) is a usable URL or false. The URL itself is
 * never quoted: it may hold credentials. */
static void check_proxy_option(lua_State *L, int arg) {
    if (lua_type(L, -1) == LUA_TBOOLEAN && !lua_toboolean(L, -1))
        return;
    size_t length = 0;
    const char *proxy = lua_type(L, -1) == LUA_TSTRING ? lua_tolstring(L, -1, &length) : NULL;
    if (proxy == NULL)
        luaL_argerror(
            L, arg,
            lua_pushfstring(L, "option 'proxy' must be a string or false, got %s",
                            lua_type(L, -1) == LUA_TBOOLEAN ? "true" : luaL_typename(L, -1)));
    const char *problem =
        strlen(proxy) != length ? "option 'proxy' must not contain NUL" : mmc_proxy_problem(proxy);
    if (problem != NULL)
        luaL_argerror(L, arg, lua_pushfstring(L, "option 'proxy': %s", problem));
}

/* Raises unless every key of the options table (at `arg`) is a known option of the right
 * type: a misspelt key would otherwise be silently ignored. */
static void check_option_names(lua_State *L, int arg) {
    lua_pushnil(L);
    while (lua_next(L, arg) != 0) {
        const option_spec *spec =
            lua_type(L, -2) == LUA_TSTRING ? find_option(lua_tostring(L, -2)) : NULL;
        if (spec == NULL) {
            lua_pushvalue(L, -2);
            const char *key = mmc_compat_tolstring(L, -1);
            luaL_argerror(L, arg, lua_pushfstring(L, "unknown option '%s'", key));
            return;
        }
        if (spec->lua_type == OPTION_OBJECT)
            mmc_lua_check_token_store(L, arg, lua_gettop(L));
        else if (spec->lua_type == OPTION_PROXY)
            check_proxy_option(L, arg);
        else if (lua_type(L, -1) != spec->lua_type)
            luaL_argerror(L, arg,
                          lua_pushfstring(L, "option '%s' must be a %s, got %s", spec->name,
                                          lua_typename(L, spec->lua_type), luaL_typename(L, -1)));
        lua_pop(L, 1);
    }
}

/* A string option from the table, else from its environment variable, else NULL. Leaves the
 * value read from the table on the stack, where it anchors the string: the table need not
 * hold it (an __index may compute it), and reading the next option runs Lua code that may
 * collect garbage. */
static const char *string_option(lua_State *L, int arg, const char *name) {
    const char *value = NULL;
    size_t length = 0;
    lua_getfield(L, arg, name);
    if (lua_type(L, -1) == LUA_TSTRING) {
        value = lua_tolstring(L, -1, &length);
        if (strlen(value) != length)
            luaL_argerror(L, arg, lua_pushfstring(L, "option '%s' must not contain NUL", name));
    }
    const option_spec *spec = find_option(name);
    if (value == NULL && spec != NULL && spec->environment != NULL) {
        value = getenv(spec->environment);
        if (value != NULL && value[0] == '\0')
            value = NULL;
    }
    return value;
}

static int boolean_option(lua_State *L, int arg, const char *name, int fallback) {
    lua_getfield(L, arg, name);
    int value = lua_isnil(L, -1) ? fallback : lua_toboolean(L, -1);
    lua_pop(L, 1);
    return value;
}

static double number_option(lua_State *L, int arg, const char *name, double fallback) {
    lua_getfield(L, arg, name);
    double value = lua_isnil(L, -1) ? fallback : (double)lua_tonumber(L, -1);
    lua_pop(L, 1);
    return value;
}

/* The environment variable the setting a problem is about came from ("ca_file '...' cannot be
 * read" names ca_file, which came from MMC_CA_FILE when the options table lacks it), or NULL
 * when it came from the table or the problem names no setting. */
static const char *problem_variable(lua_State *L, int arg, const char *problem) {
    char name[32];
    size_t length = strcspn(problem, " ");
    if (length >= sizeof name)
        return NULL;
    memcpy(name, problem, length);
    name[length] = '\0';
    const option_spec *spec = find_option(name);
    if (spec == NULL || spec->environment == NULL)
        return NULL;
    lua_getfield(L, arg, name);
    int given = !lua_isnil(L, -1);
    lua_pop(L, 1);
    const char *value = getenv(spec->environment);
    return !given && value != NULL && value[0] != '\0' ? spec->environment : NULL;
}

/* Reads the environment's proxy for the client's endpoint (https_proxy and the like, as
 * libcurl would: proxy.h) into the config, so that it is checked, redacted and trusted as the
 * proxy option is, and no_proxy with it. A value without a scheme is http://, as for libcurl.
 * Raises on a proxy that is not usable, naming the variable and never quoting it. Leaves
 * strings on the stack (the config points into them). */
static void environment_proxy(lua_State *L, mmc_config *config) {
    const char *endpoint = config->endpoint != NULL ? config->endpoint : MMC_DEFAULT_ENDPOINT;
    const char *variable = NULL;
    const char *proxy =
        mmc_proxy_from_environment(strncasecmp(endpoint, "http://", 7) != 0, &variable);
    if (proxy == NULL)
        return; /* none: nothing for libcurl to find either */
    proxy = lua_pushfstring(L, strstr(proxy, "://") != NULL ? "%s" : "http://%s", proxy);
    const char *problem = mmc_proxy_problem(proxy);
    if (problem != NULL)
        luaL_error(L, "mmc: bad environment variable %s: %s", variable, problem);
    config->proxy = proxy;
    const char *no_proxy = mmc_proxy_no_proxy_from_environment();
    config->no_proxy = no_proxy != NULL ? lua_pushfstring(L, "%s", no_proxy) : NULL;
}

/* Builds a client from the options table at `arg` (or none, when it is nil) and the
 * environment, and pushes it as a userdata. Raises on a bad option: as a bad argument when it
 * was given in the table, else naming the environment variable it came from. The option
 * strings stay on the stack until mmc_client_new has copied them. */
/* The Lua state's account (REGISTRY_MEMORY), made by luaopen_mmc. */
static mmc_memory *state_memory(lua_State *L) {
    lua_getfield(L, LUA_REGISTRYINDEX, REGISTRY_MEMORY);
    mmc_memory *memory = lua_touserdata(L, -1);
    lua_pop(L, 1);
    return memory;
}

static void push_new_client(lua_State *L, int arg) {
    int top = lua_gettop(L);
    luaL_checkstack(L, 16, "mmc: no room on the Lua stack for the options");
    int from_environment_only = lua_isnoneornil(L, arg);
    if (lua_isnoneornil(L, arg)) {
        lua_newtable(L);
        lua_replace(L, arg);
    }
    luaL_checktype(L, arg, LUA_TTABLE);
    check_option_names(L, arg);

    mmc_config config;
    mmc_config_defaults(&config);
    config.app_id = string_option(L, arg, "app_id");
    config.app_key = string_option(L, arg, "app_key");
    config.user_id = string_option(L, arg, "user_id");
    config.sp_mode = boolean_option(L, arg, "sp", 0);
    /* MMC_CORP_ID applies only to a client that asked for SP mode. */
    lua_getfield(L, arg, "corp_id");
    int corp_id_given = !lua_isnil(L, -1);
    lua_pop(L, 1);
    if (corp_id_given || config.sp_mode)
        config.corp_id = string_option(L, arg, "corp_id");
    config.endpoint = string_option(L, arg, "endpoint");
    config.ca_file = string_option(L, arg, "ca_file");
    config.ssl_verify = boolean_option(L, arg, "ssl_verify", 1);
    config.allow_http = boolean_option(L, arg, "allow_http", 0);
    config.timeout = number_option(L, arg, "timeout", config.timeout);
    config.connect_timeout = number_option(L, arg, "connect_timeout", config.connect_timeout);
    double max_body = number_option(L, arg, "max_body", (double)config.max_body);
    if (!(max_body >= 1 && max_body <= (double)MAX_BODY_LIMIT) ||
        max_body != (double)(long)max_body)
        luaL_argerror(L, arg, "option 'max_body' must be a whole number of bytes from 1 to 1 GiB");
    config.max_body = (size_t)max_body;
    double retries = number_option(L, arg, "retries", (double)config.retries);
    if (!(retries >= 0 && retries <= MMC_MAX_RETRIES) || retries != (double)(int)retries)
        luaL_argerror(L, arg, "option 'retries' must be a whole number from 0 to 10");
    config.retries = (int)retries;
    /* proxy = false: no proxy, whatever the environment says; unset: MMC_PROXY, else the
     * environment's https_proxy and the like. */
    lua_getfield(L, arg, "proxy");
    int proxy_off = lua_type(L, -1) == LUA_TBOOLEAN;
    lua_pop(L, 1);
    config.proxy = proxy_off ? "" : string_option(L, arg, "proxy");
    if (config.proxy != NULL && config.proxy[0] != '\0' && mmc_proxy_problem(config.proxy)) {
        /* Only MMC_PROXY gets here unchecked (an option was checked with the others). */
        luaL_error(L, "mmc: bad environment variable MMC_PROXY: %s",
                   mmc_proxy_problem(config.proxy));
    }
    if (config.proxy == NULL)
        environment_proxy(L, &config);
    lua_getfield(L, arg, "on_request");
    config.record_exchanges = lua_isfunction(L, -1);
    lua_pop(L, 1);

    /* The userdata comes first, so that whatever happens next it is collected. */
    client_box *box = mmc_compat_newuserdata(L, sizeof *box);
    box->client = NULL;
    box->busy = 0;
    mmc_compat_setmetatable(L, CLIENT_METATABLE);
    /* Its Lua values (the token store) live in its user value, a table of its own. */
    lua_newtable(L);
    lua_getfield(L, arg, "token_store");
    lua_setfield(L, -2, CLIENT_TOKEN_STORE);
    lua_getfield(L, arg, "on_request");
    lua_setfield(L, -2, CLIENT_ON_REQUEST);
    mmc_compat_setuservalue(L, -2);

    config.memory = state_memory(L);
    mmc_buffer problem;
    mmc_buffer_init_in(&problem, config.memory);
    box->client = mmc_client_new(&config, &problem);
    if (box->client == NULL) {
        lua_pushstring(L, mmc_buffer_text(&problem));
        mmc_buffer_free(&problem);
        const char *variable = problem_variable(L, arg, lua_tostring(L, -1));
        if (variable != NULL)
            luaL_error(L, "mmc: bad environment variable %s: %s", variable, lua_tostring(L, -1));
        if (from_environment_only) /* libcurl or memory: no setting to blame */
            luaL_error(L, "mmc: %s", lua_tostring(L, -1));
        luaL_argerror(L, arg, lua_tostring(L, -1));
    }
    mmc_buffer_free(&problem);
    /* The client copied the options: only it stays pushed. */
    lua_replace(L, top + 1);
    lua_settop(L, top + 1);
}

/* ---- clients ---------------------------------------------------------------------------- */

static client_box *check_box(lua_State *L, int arg) {
    return luaL_checkudata(L, arg, CLIENT_METATABLE);
}

/* The client a method was called on. A method called with a dot (c.auth(), c.set_webhook_status(
 * id, 0)) gets something else first: say so before any other argument is checked, since "id
 * must be a non-empty string, got number" would hide the mistake. The method is named here,
 * not by luaL_argerror, which finds no name (and says '?') for a function called through
 * pcall(c.auth) or as a tail call. */
static client_box *check_self(lua_State *L, const char *method) {
    int is_client = 0;
    if (lua_type(L, 1) == LUA_TUSERDATA && lua_getmetatable(L, 1)) {
        luaL_getmetatable(L, CLIENT_METATABLE);
        is_client = lua_rawequal(L, -1, -2);
        lua_pop(L, 2);
    }
    if (!is_client) {
        const char *got = luaL_typename(L, 1); /* before anything is pushed: 1 may be none */
        luaL_where(L, 1);
        lua_pushfstring(L,
                        "bad argument #1 to '%s' (mmc.client expected, got %s; call methods "
                        "with a colon: client:%s(...))",
                        method, got, method);
        lua_concat(L, 2);
        lua_error(L);
    }
    return lua_touserdata(L, 1);
}

/* The open client at `arg`, ready for a call that authenticates: raises when it is closed or
 * lacks credentials, since both are mistakes in the calling program. */
static mmc_client *check_ready_client(lua_State *L, int arg) {
    client_box *box = check_box(L, arg);
    if (box->client == NULL)
        luaL_error(L, "mmc: the client is closed");
    if (box->busy)
        luaL_error(L, "mmc: the client is in a call already (a token store must not use it)");
    const char *missing = mmc_client_missing_credential(box->client);
    if (missing != NULL)
        luaL_error(L,
                   "mmc: %s is not set: pass %s to mmc.configure{} or mmc.new{}, or set the "
                   "environment variable MMC_%s",
                   missing, missing, strcmp(missing, "app_id") == 0 ? "APP_ID" : "APP_KEY");
    return box->client;
}

/* Pushes the module's default client, creating it from the environment on first use. */
static int push_default_client(lua_State *L) {
    lua_getfield(L, lua_upvalueindex(1), STATE_DEFAULT_CLIENT);
    if (lua_isnil(L, -1)) {
        lua_pop(L, 1);
        lua_pushnil(L); /* no options: the environment alone */
        push_new_client(L, lua_gettop(L));
        lua_pushvalue(L, -1);
        lua_setfield(L, lua_upvalueindex(1), STATE_DEFAULT_CLIENT);
        lua_remove(L, -2);
    }
    return lua_gettop(L);
}

static int client_close(lua_State *L) {
    client_box *box = check_self(L, "close");
    if (box->busy)
        luaL_error(L, "mmc: the client is in a call and cannot be closed now");
    mmc_client_free(box->client);
    box->client = NULL;
    return 0;
}

static int client_tostring(lua_State *L) {
    client_box *box = check_box(L, 1);
    if (box->client == NULL)
        lua_pushstring(L, "mmc.client (closed)");
    else {
        /* The proxy is shown without its credentials, and only when one was chosen. */
        mmc_buffer proxy;
        mmc_buffer_init_in(&proxy, mmc_client_memory(box->client));
        if (mmc_client_describe_proxy(box->client, &proxy) != 0 ||
            strcmp(mmc_buffer_text(&proxy), "from the environment") == 0)
            mmc_buffer_clear(&proxy);
        lua_pushfstring(L, "mmc.client (app_id '%s', %s%s%s)", mmc_client_app_id(box->client),
                        mmc_client_endpoint(box->client), proxy.length ? ", proxy " : "",
                        mmc_buffer_text(&proxy));
        mmc_buffer_free(&proxy);
    }
    return 1;
}

/* ---- results ---------------------------------------------------------------------------- */

/* lua-cjson decodes every JSON number as a float: under Lua 5.3 and 5.4 a role of 1 would read
 * 1.0 (and print so). Turns each float with an integral value within +-2^53 (where a double
 * holds every integer exactly) of the decoded value at `index` into an integer, in place, at
 * every depth (bounded by the decoder's MMC_JSON_MAX_DEPTH). Lua 5.1, 5.2 and LuaJIT have only
 * floats, which already print as 1. */
static void integers_from_json(lua_State *L, int index) {
#if LUA_VERSION_NUM >= 503
    if (!lua_istable(L, index))
        return;
    index = mmc_compat_absindex(L, index);
    luaL_checkstack(L, 3, "decoded JSON");
    lua_pushnil(L);
    while (lua_next(L, index) != 0) {
        if (lua_type(L, -1) == LUA_TNUMBER && !lua_isinteger(L, -1)) {
            lua_Number number = lua_tonumber(L, -1);
            if (number >= -9007199254740992.0 && number <= 9007199254740992.0 &&
                number == (lua_Number)(lua_Integer)number) {
                lua_pushvalue(L, -2);
                lua_pushinteger(L, (lua_Integer)number);
                lua_rawset(L, index); /* an existing key: lua_next goes on as before */
            }
        } else if (lua_istable(L, -1)) {
            integers_from_json(L, -1);
        }
        lua_pop(L, 1);
    }
#else
    (void)L;
    (void)index;
#endif
}

/* Decodes a JSON body with the module's private cjson. Pushes the value, or nil when the body
 * is empty, or is not the strict JSON the core checked for (cjson would take invalid UTF-8),
 * or cjson refuses it: the core has then set a message. */
static void push_decoded_body(lua_State *L, const mmc_result *result) {
    if (result->body == NULL || result->body_length == 0 || !result->body_is_json) {
        lua_pushnil(L);
        return;
    }
    lua_getfield(L, lua_upvalueindex(1), STATE_JSON_DECODE);
    lua_pushlstring(L, result->body, result->body_length);
    if (lua_pcall(L, 1, 1, 0) != LUA_OK) {
        lua_pop(L, 1);
        lua_pushnil(L);
        return;
    }
    integers_from_json(L, -1);
    if (lua_istable(L, -1)) {
        /* The token lives in the client and nowhere else. */
        lua_pushnil(L);
        lua_setfield(L, -2, "accessToken");
        lua_pushnil(L);
        lua_setfield(L, -2, "refreshToken");
    }
}

static int push_result(lua_State *L, mmc_result *result) {
    if (result->status == 0) {
        lua_pushnil(L);
        lua_pushstring(L, mmc_buffer_text(&result->message));
        mmc_result_free(result);
        return 2;
    }
    lua_pushinteger(L, (lua_Integer)result->status);
    if (result->message.length > 0)
        lua_pushlstring(L, result->message.data, result->message.length);
    else
        lua_pushnil(L);
    mmc_buffer_free(&result->message);
    push_decoded_body(L, result);
    return 3;
}

/* ---- calls ------------------------------------------------------------------------------ */

/* One call in progress on a client, with its token store (if any) bound for that call. */
typedef struct call_context {
    client_box *box;
    mmc_lua_token_store store;
    int has_store;
    lua_State *L;   /* for this call only */
    int client_arg; /* where the client is on L's stack */
    mmc_result result;
} call_context;

/* Starts a call on the client at `client_arg` (raising when it cannot make one) and returns
 * the core client; the call's result is call->result. Leaves one value on the stack: the
 * client's token store, or nil. */
static mmc_client *begin_call(lua_State *L, int client_arg, call_context *call) {
    mmc_client *client = check_ready_client(L, client_arg);
    call->box = lua_touserdata(L, client_arg);
    call->L = L;
    call->client_arg = mmc_compat_absindex(L, client_arg);
    mmc_compat_getuservalue(L, client_arg);
    lua_getfield(L, -1, CLIENT_TOKEN_STORE);
    lua_remove(L, -2);
    const mmc_token_cache *cache = NULL;
    if (!lua_isnil(L, -1))
        cache = mmc_lua_token_store_bind(&call->store, L, -1, mmc_client_timeout(client));
    call->store.memory = mmc_client_memory(client);
    call->has_store = cache != NULL;
    mmc_client_use_token_cache(client, cache);
    call->box->busy = 1;
    mmc_result_init_in(&call->result, mmc_client_memory(client));
    return client;
}

/* Pushes the on_request event of one exchange. */
static void push_exchange(lua_State *L, const mmc_exchange_log *log, const mmc_exchange *entry) {
    lua_createtable(L, 0, 8);
    lua_pushstring(L, entry->method);
    lua_setfield(L, -2, "method");
    lua_pushlstring(L, mmc_exchange_path(log, entry), entry->path_length);
    lua_setfield(L, -2, "path");
    if (entry->status != 0) {
        lua_pushinteger(L, (lua_Integer)entry->status);
        lua_setfield(L, -2, "status");
    }
    if (entry->error != NULL) {
        lua_pushstring(L, entry->error);
        lua_setfield(L, -2, "error");
    }
    lua_pushnumber(L, (lua_Number)entry->seconds);
    lua_setfield(L, -2, "seconds");
    lua_pushinteger(L, entry->attempt);
    lua_setfield(L, -2, "attempt");
    lua_pushstring(L, entry->request_id);
    lua_setfield(L, -2, "request_id");
    if (entry->retry_in >= 0) {
        lua_pushnumber(L, (lua_Number)entry->retry_in);
        lua_setfield(L, -2, "retry_in");
    }
}

/* Calls the hook (argument 2) once per exchange of the log (argument 1, a light userdata), in
 * order. Runs protected, so that even running out of memory while building an event cannot
 * raise out of the call; what the hook itself raises is caught for each event. */
static int call_hook_for_each(lua_State *L) {
    const mmc_exchange_log *log = lua_touserdata(L, 1);
    luaL_checkstack(L, 4, "on_request");
    for (size_t i = 0; i < log->count; i++) {
        lua_pushvalue(L, 2);
        push_exchange(L, log, &log->entries[i]);
        if (lua_pcall(L, 1, 0, 0) != LUA_OK)
            lua_pop(L, 1);
    }
    return 0;
}

/* Calls the client's on_request hook once per exchange of the call just made, in order. It
 * runs after the core call has returned (no Lua ever runs inside one) and while the client is
 * still marked busy, so the hook cannot start a call on it that would overwrite the result
 * not yet returned. What the hook raises is caught and dropped: it never changes the result. */
static void report_log(call_context *call, const mmc_exchange_log *log) {
    lua_State *L = call->L;
    if (log->count == 0)
        return;
    lua_pushcfunction(L, call_hook_for_each);
    lua_pushlightuserdata(L, (void *)log);
    mmc_compat_getuservalue(L, call->client_arg);
    lua_getfield(L, -1, CLIENT_ON_REQUEST);
    lua_remove(L, -2);
    if (lua_pcall(L, 2, 0, 0) != LUA_OK)
        lua_pop(L, 1);
}

static void report_exchanges(call_context *call) {
    report_log(call, mmc_client_exchanges(call->box->client));
}

/* Ends the call begun by begin_call, so that the client is ready for another, and pushes its
 * result (status, message, body: see push_result). Raises instead (after freeing the result)
 * when its token store turned out to be one that can never work here. */
static int finish_call(lua_State *L, call_context *call) {
    int store_yielded = call->has_store && mmc_lua_token_store_unbind(&call->store);
    mmc_client_use_token_cache(call->box->client, NULL);
    report_exchanges(call);
    call->box->busy = 0;
    if (store_yielded) {
        mmc_result_free(&call->result);
        luaL_error(L, "%s", MMC_LUA_TOKEN_STORE_YIELDED);
    }
    return push_result(L, &call->result);
}

static int do_auth(lua_State *L, int client_arg) {
    call_context call;
    mmc_client *client = begin_call(L, client_arg, &call);
    mmc_client_auth(client, &call.result);
    return finish_call(L, &call);
}

/* The subscription id at `arg`: a non-empty string of at most 128 bytes (any bytes: it is
 * escaped into the URL). */
static const char *check_id(lua_State *L, int arg, size_t *length) {
    const char *id = lua_type(L, arg) == LUA_TSTRING ? lua_tolstring(L, arg, length) : NULL;
    if (id == NULL || *length == 0)
        luaL_argerror(L, arg,
                      lua_pushfstring(L, "id must be a non-empty string, got %s",
                                      id == NULL ? luaL_typename(L, arg) : "an empty string"));
    if (*length > MMC_MAX_ID_LENGTH)
        luaL_argerror(L, arg, "id is longer than 128 bytes");
    return id;
}

static int do_set_webhook_status(lua_State *L, int client_arg, int id_arg) {
    size_t id_length = 0;
    const char *id = check_id(L, id_arg, &id_length);

    int status_arg = id_arg + 1;
    int is_integer = 0;
    lua_Integer status = lua_type(L, status_arg) == LUA_TNUMBER
                             ? mmc_compat_tointegerx(L, status_arg, &is_integer)
                             : 0;
    if (!is_integer || status < MMC_ENABLE || status > MMC_LOCK) {
        /* A number is shown; anything else only by its type, since a misplaced argument may
         * be a secret. */
        const char *got = lua_type(L, status_arg) == LUA_TNUMBER
                              ? mmc_compat_tolstring(L, status_arg)
                              : luaL_typename(L, status_arg);
        luaL_argerror(L, status_arg,
                      lua_pushfstring(L,
                                      "status must be mmc.ENABLE (0), mmc.DISABLE (1) or "
                                      "mmc.LOCK (2), got %s",
                                      got));
    }

    call_context call;
    mmc_client *client = begin_call(L, client_arg, &call);
    mmc_client_set_webhook_status(client, id, id_length, (int)status, &call.result);
    return finish_call(L, &call);
}

/* Raises unless the value at `arg` is nil/none (when `optional`) or a table whose keys are
 * all among `names` with string values; reads them into `values`. Pushes one value: a table
 * holding those strings, which keeps them alive while it stays on the stack, whatever Lua code
 * (a token store, say) does to the caller's table in the meantime. */
static void read_string_table(lua_State *L, int arg, const char *const *names, const char **values,
                              size_t count, int optional) {
    for (size_t i = 0; i < count; i++)
        values[i] = NULL;
    lua_createtable(L, (int)count, 0);
    if (optional && lua_isnoneornil(L, arg))
        return;
    luaL_checktype(L, arg, LUA_TTABLE);
    int anchors = lua_gettop(L);
    lua_pushnil(L);
    while (lua_next(L, arg) != 0) {
        size_t i = count;
        if (lua_type(L, -2) == LUA_TSTRING)
            for (i = 0; i < count && strcmp(names[i], lua_tostring(L, -2)) != 0; i++) {
            }
        if (i == count) {
            lua_pushvalue(L, -2);
            luaL_argerror(L, arg,
                          lua_pushfstring(L, "unknown field '%s'", mmc_compat_tolstring(L, -1)));
        }
        size_t length = 0;
        if (lua_type(L, -1) != LUA_TSTRING)
            luaL_argerror(L, arg,
                          lua_pushfstring(L, "field '%s' must be a string, got %s", names[i],
                                          luaL_typename(L, -1)));
        values[i] = lua_tolstring(L, -1, &length);
        if (strlen(values[i]) != length)
            luaL_argerror(L, arg, lua_pushfstring(L, "field '%s' must not contain NUL", names[i]));
        lua_rawseti(L, anchors, (int)i + 1);
    }
}

static int do_set_webhook_config(lua_State *L, int client_arg, int config_arg) {
    static const char *const names[] = {"url", "subscriber_id", "subscriber_key", "corp_id",
                                        "sp_id"};
    const char *values[5];
    read_string_table(L, config_arg, names, values, 5, 0);
    mmc_webhook_config config = {values[0], values[1], values[2], values[3], values[4]};
    const char *problem = mmc_webhook_config_problem(&config);
    if (problem != NULL)
        luaL_argerror(L, config_arg, problem);

    call_context call;
    mmc_client *client = begin_call(L, client_arg, &call);
    mmc_client_set_webhook_config(client, &config, &call.result);
    return finish_call(L, &call);
}

static const char *const status_names[] = {"enabled", "disabled", "locked"};

/* Replaces the decoded subscription (a table at the top) by what users read:
 * {id, subscriber_id, url, status, status_name}. */
static void reshape_webhook_config(lua_State *L) {
    int decoded = lua_gettop(L);
    lua_createtable(L, 0, 5);
    lua_getfield(L, decoded, "id");
    lua_setfield(L, -2, "id");
    lua_getfield(L, decoded, "subscriberId");
    lua_setfield(L, -2, "subscriber_id");
    lua_getfield(L, decoded, "url");
    lua_setfield(L, -2, "url");
    lua_getfield(L, decoded, "status");
    int is_integer = 0;
    lua_Integer status = mmc_compat_tointegerx(L, -1, &is_integer);
    lua_pop(L, 1);
    if (is_integer) {
        lua_pushinteger(L, status);
        lua_setfield(L, -2, "status");
        if (status >= MMC_ENABLE && status <= MMC_LOCK) {
            lua_pushstring(L, status_names[status]);
            lua_setfield(L, -2, "status_name");
        }
    }
    lua_replace(L, decoded);
}

static int do_get_webhook_config(lua_State *L, int client_arg, int filter_arg) {
    static const char *const names[] = {"corp_id", "sp_id"};
    const char *values[2];
    read_string_table(L, filter_arg, names, values, 2, 1);
    const char *problem = mmc_tenant_ids_problem(values[0], values[1]);
    if (problem != NULL)
        luaL_argerror(L, filter_arg, problem);

    call_context call;
    mmc_client *client = begin_call(L, client_arg, &call);
    int outcome = mmc_client_get_webhook_config(client, values[0], values[1], &call.result);
    int count = finish_call(L, &call);
    if (outcome == 0 && count == 3 && lua_istable(L, -1))
        reshape_webhook_config(L);
    return count;
}

static int do_delete_webhook_config(lua_State *L, int client_arg, int id_arg) {
    size_t id_length = 0;
    const char *id = check_id(L, id_arg, &id_length);
    call_context call;
    mmc_client *client = begin_call(L, client_arg, &call);
    mmc_client_delete_webhook_config(client, id, id_length, &call.result);
    return finish_call(L, &call);
}

static int do_logout(lua_State *L, int client_arg) {
    call_context call;
    mmc_client *client = begin_call(L, client_arg, &call);
    mmc_client_logout(client, &call.result);
    return finish_call(L, &call);
}

/* ---- the generic call ----------------------------------------------------------------- */

#define MAX_QUERY_PAIRS 100
#define MAX_HEADERS 50

/* What client:request's options became: C views of Lua strings that the options table (and,
 * for an encoded body, a string left on the stack) keeps alive until the core copies them,
 * which it does before anything can run Lua. */
typedef struct request_options {
    mmc_query_pair pairs[MAX_QUERY_PAIRS];
    char numbers[MAX_QUERY_PAIRS][32]; /* numbers and booleans of the query, as text */
    size_t pair_count;
    size_t raw_query_length; /* of the names and values, unescaped */
    mmc_header headers[MAX_HEADERS];
    size_t header_count;
    const char *body;
    size_t body_length;
    int retry;
    int index;        /* in a batch: the request's number (from 1), named in errors; else 0 */
    int requests_arg; /* in a batch: where the array of requests is */
} request_options;

/* What is wrong with a request's options as a whole once each was read: a body on a GET, or a
 * query too long once escaped (counted exactly only when the quick bound says it may be). The
 * same rule for client:request and each request of request_all. */
static const char *request_options_problem(const char *method, const request_options *options) {
    const char *problem = mmc_request_body_problem(method, options->body != NULL);
    if (problem == NULL &&
        options->raw_query_length * 3 + 2 * options->pair_count > MMC_MAX_QUERY_LENGTH &&
        mmc_request_query_length(options->pairs, options->pair_count) > MMC_MAX_QUERY_LENGTH)
        problem = "options.query is longer than 8192 bytes escaped";
    return problem;
}

/* The core's call for a checked method, path and options (the core sorts the query pairs in
 * place, so they are lent, not copied). */
static mmc_api_call api_call_of(const char *method, const char *path, size_t path_length,
                                request_options *options) {
    mmc_api_call api_call = {.method = method,
                             .path = path,
                             .path_length = path_length,
                             .query_pairs = options->pairs,
                             .query_pair_count = options->pair_count,
                             .body = options->body,
                             .body_length = options->body_length,
                             .headers = options->headers,
                             .header_count = options->header_count,
                             .retry = options->retry};
    return api_call;
}

/* Raises a mistake in the options at `arg`; in a batch, naming the request: "requests[7].
 * options.query must be ...". */
static int option_error(lua_State *L, int arg, const request_options *out, const char *message) {
    if (out->index == 0)
        return luaL_argerror(L, arg, message);
    return luaL_argerror(L, out->requests_arg,
                         lua_pushfstring(L, "requests[%d].%s%s", out->index,
                                         strncmp(message, "options", 7) == 0 ? "" : "options: ",
                                         message));
}

/* Writes `integer` in decimal (without snprintf, which costs more than the rest of a query:
 * bench/run's callgrind mode counts it). `text` has room for 21 bytes. */
static void format_integer(char *text, lua_Integer integer) {
    char digits[24];
    size_t count = 0;
    unsigned long long magnitude =
        integer < 0 ? 0ULL - (unsigned long long)integer : (unsigned long long)integer;
    do {
        digits[count++] = (char)('0' + magnitude % 10);
        magnitude /= 10;
    } while (magnitude > 0);
    if (integer < 0)
        *text++ = '-';
    while (count > 0)
        *text++ = digits[--count];
    *text = '\0';
}

/* The text of a query value at the top of the stack, for pair `i`. Raises on other types. */
static void read_query_value(lua_State *L, int arg, request_options *out, size_t i) {
    mmc_query_pair *pair = &out->pairs[i];
    char *text = out->numbers[i];
    int type = lua_type(L, -1);
    if (type == LUA_TSTRING) {
        pair->value = lua_tolstring(L, -1, &pair->value_length);
    } else if (type == LUA_TBOOLEAN) {
        pair->value = lua_toboolean(L, -1) ? "true" : "false";
        pair->value_length = strlen(pair->value);
    } else if (type == LUA_TNUMBER) {
        int is_integer = 0;
        lua_Integer integer = mmc_compat_tointegerx(L, -1, &is_integer);
        lua_Number number = lua_tonumber(L, -1);
        if (is_integer)
            format_integer(text, integer);
        else if (number == number && number - number == 0) /* finite */
            snprintf(text, sizeof out->numbers[i], "%.14g", (double)number);
        else
            option_error(L, arg, out, lua_pushfstring(L, "options.query.%s must be a finite number", pair->name));
        pair->value = text;
        pair->value_length = strlen(text);
    } else {
        option_error(L, arg, out,
                      lua_pushfstring(L,
                                      "options.query.%s must be a string, number or boolean, "
                                      "got %s",
                                      pair->name, luaL_typename(L, -1)));
    }
}

static void read_query(lua_State *L, int arg, int query, request_options *out) {
    if (lua_type(L, query) != LUA_TTABLE)
        option_error(L, arg, out,
            lua_pushfstring(L, "options.query must be a table, got %s", luaL_typename(L, query)));
    lua_pushnil(L);
    while (lua_next(L, query) != 0) {
        size_t name_length = 0;
        if (lua_type(L, -2) != LUA_TSTRING ||
            (lua_tolstring(L, -2, &name_length), name_length) == 0)
            option_error(L, arg, out, "options.query names must be non-empty strings");
        if (out->pair_count == MAX_QUERY_PAIRS)
            option_error(L, arg, out, "options.query has more than 100 names");
        mmc_query_pair *pair = &out->pairs[out->pair_count];
        pair->name = lua_tolstring(L, -2, &pair->name_length);
        read_query_value(L, arg, out, out->pair_count);
        out->raw_query_length += pair->name_length + pair->value_length;
        out->pair_count++;
        lua_pop(L, 1);
    }
}

static void read_headers(lua_State *L, int arg, int headers, request_options *out) {
    if (lua_type(L, headers) != LUA_TTABLE)
        option_error(L, arg, out,
                      lua_pushfstring(L, "options.headers must be a table, got %s",
                                      luaL_typename(L, headers)));
    lua_pushnil(L);
    while (lua_next(L, headers) != 0) {
        if (lua_type(L, -2) != LUA_TSTRING || lua_type(L, -1) != LUA_TSTRING)
            option_error(L, arg, out, "options.headers must map header names to string values");
        if (out->header_count == MAX_HEADERS)
            option_error(L, arg, out, "options.headers has more than 50 headers");
        mmc_header *header = &out->headers[out->header_count++];
        header->name = lua_tolstring(L, -2, &header->name_length);
        header->value = lua_tolstring(L, -1, &header->value_length);
        const char *problem = mmc_request_header_problem(header);
        if (problem != NULL)
            option_error(L, arg, out, lua_pushfstring(L, "options.headers: %s", problem));
        lua_pop(L, 1);
    }
}

/* Encodes a table body with the module's private cjson; leaves the text on the stack. */
static void encode_body(lua_State *L, int arg, int body, request_options *out) {
    lua_getfield(L, lua_upvalueindex(1), STATE_JSON_ENCODE);
    lua_pushvalue(L, body);
    if (lua_pcall(L, 1, 1, 0) != LUA_OK || lua_type(L, -1) != LUA_TSTRING)
        option_error(L, arg, out,
            lua_pushfstring(L, "options.body could not be encoded as JSON: %s",
                            lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : "no text"));
    out->body = lua_tolstring(L, -1, &out->body_length);
}

/* Reads client:request's options (at `arg`: a table, or nil) into `out`, in one pass over
 * the table. Raises on a mistake, naming the option. May leave values on the stack (the body,
 * and its JSON text when it was a table). */
static void read_request_options(lua_State *L, int arg, request_options *out) {
    out->pair_count = 0;
    out->raw_query_length = 0;
    out->header_count = 0;
    out->body = NULL;
    out->body_length = 0;
    out->retry = MMC_RETRY_AS_METHOD;
    if (lua_isnoneornil(L, arg))
        return;
    if (out->index == 0)
        luaL_checktype(L, arg, LUA_TTABLE);
    else if (lua_type(L, arg) != LUA_TTABLE)
        option_error(L, arg, out,
                     lua_pushfstring(L, "options must be a table, got %s", luaL_typename(L, arg)));
    int has_body = 0;
    lua_pushnil(L);
    while (lua_next(L, arg) != 0) {
        const char *name = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : "";
        int value = lua_gettop(L);
        if (strcmp(name, "query") == 0) {
            read_query(L, arg, value, out);
        } else if (strcmp(name, "headers") == 0) {
            read_headers(L, arg, value, out);
        } else if (strcmp(name, "retry") == 0) {
            if (lua_type(L, value) != LUA_TBOOLEAN)
                option_error(L, arg, out,
                              lua_pushfstring(L, "options.retry must be a boolean, got %s",
                                              luaL_typename(L, value)));
            out->retry = lua_toboolean(L, value);
        } else if (strcmp(name, "body") == 0) {
            has_body = 1; /* read below: encoding it leaves a string on the stack */
        } else {
            lua_pushvalue(L, -2);
            option_error(L, arg, out,
                          lua_pushfstring(L, "unknown option '%s' (query, body, headers, retry)",
                                          mmc_compat_tolstring(L, -1)));
        }
        lua_settop(L, value - 1);
    }
    if (!has_body)
        return;
    lua_getfield(L, arg, "body");
    if (lua_type(L, -1) == LUA_TSTRING)
        out->body = lua_tolstring(L, -1, &out->body_length);
    else if (lua_type(L, -1) == LUA_TTABLE)
        encode_body(L, arg, lua_gettop(L), out);
    else
        option_error(L, arg, out,
                      lua_pushfstring(L, "options.body must be a table or a string, got %s",
                                      luaL_typename(L, -1)));
}

/* client:request(method, path [, options]): any API call with the client's token, judged as
 * the other calls are. Arguments are checked here, so a mistake raises before anything is
 * sent. */
static int do_request(lua_State *L, int client_arg, int method_arg) {
    int path_arg = method_arg + 1, options_arg = method_arg + 2;
    size_t method_length = 0, path_length = 0;
    const char *method =
        lua_type(L, method_arg) == LUA_TSTRING ? lua_tolstring(L, method_arg, &method_length) : "";
    if (strlen(method) != method_length || mmc_request_known_method(method) == NULL)
        luaL_argerror(L, method_arg,
                      "method must be \"GET\", \"POST\", \"PUT\", \"DELETE\" or "
                      "\"PATCH\"");
    if (lua_type(L, path_arg) != LUA_TSTRING)
        luaL_argerror(
            L, path_arg,
            lua_pushfstring(L, "path must be a string, got %s", luaL_typename(L, path_arg)));
    const char *path = lua_tolstring(L, path_arg, &path_length);
    const char *problem = mmc_request_path_problem(path, path_length);
    if (problem != NULL)
        luaL_argerror(L, path_arg, problem);
    request_options options;
    options.index = 0;
    read_request_options(L, options_arg, &options);
    problem = request_options_problem(method, &options);
    if (problem != NULL)
        luaL_argerror(L, options_arg, problem);

    mmc_api_call api_call = api_call_of(method, path, path_length, &options);
    call_context call;
    mmc_client *client = begin_call(L, client_arg, &call);
    mmc_client_request(client, &api_call, &call.result);
    return finish_call(L, &call);
}

/* ---- many calls at once --------------------------------------------------------------- */

/* The batch being built, in a userdata whose __gc frees it: a mistake found in request 7
 * raises after requests 1 to 6 were copied. */
typedef struct batch_box {
    mmc_batch *batch;
} batch_box;

static int batch_gc(lua_State *L) {
    batch_box *box = lua_touserdata(L, 1);
    mmc_batch_free(box->batch);
    box->batch = NULL;
    return 0;
}

/* Pushes the answer's headers (lines "Name: value\r\n") as a table: names in lower case,
 * a repeated header's values joined with ", ". */
static void push_headers(lua_State *L, const mmc_buffer *lines) {
    lua_newtable(L);
    const char *at = lines->data, *end = lines->data + lines->length;
    char name[256];
    while (at != NULL && at < end) {
        const char *line_end = memchr(at, '\n', (size_t)(end - at));
        const char *next = line_end != NULL ? line_end + 1 : end;
        if (line_end == NULL)
            line_end = end;
        while (line_end > at && (line_end[-1] == '\r' || line_end[-1] == '\n'))
            line_end--;
        const char *colon = memchr(at, ':', (size_t)(line_end - at));
        if (colon != NULL && colon > at && (size_t)(colon - at) < sizeof name) {
            size_t name_length = (size_t)(colon - at);
            for (size_t i = 0; i < name_length; i++) {
                char c = at[i];
                name[i] = (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
            }
            const char *value = colon + 1, *value_end = line_end;
            while (value < value_end && (*value == ' ' || *value == '\t'))
                value++;
            while (value_end > value && (value_end[-1] == ' ' || value_end[-1] == '\t'))
                value_end--;
            lua_pushlstring(L, name, name_length);
            lua_pushvalue(L, -1);
            lua_rawget(L, -3);
            if (lua_isnil(L, -1)) {
                lua_pop(L, 1);
                lua_pushlstring(L, value, (size_t)(value_end - value));
            } else {
                lua_pushliteral(L, ", ");
                lua_pushlstring(L, value, (size_t)(value_end - value));
                lua_concat(L, 3);
            }
            lua_rawset(L, -3);
        }
        at = next;
    }
}

/* Pushes one call's result table: { status = , err = , body = , headers = }. */
static void push_batch_result(lua_State *L, const mmc_batch *batch, size_t index) {
    const mmc_result *result = mmc_batch_result(batch, index);
    lua_createtable(L, 0, 4);
    if (result->status != 0) {
        lua_pushinteger(L, (lua_Integer)result->status);
        lua_setfield(L, -2, "status");
        push_decoded_body(L, result);
        lua_setfield(L, -2, "body");
        push_headers(L, mmc_batch_headers(batch, index));
        lua_setfield(L, -2, "headers");
    }
    if (result->message.length > 0) {
        lua_pushlstring(L, result->message.data, result->message.length);
        lua_setfield(L, -2, "err");
    }
}

/* The field of a request: its place in the array ({ method, path, options }), or its name. */
static void get_request_field(lua_State *L, int request, int position, const char *name) {
    lua_rawgeti(L, request, position);
    if (lua_isnil(L, -1)) {
        lua_pop(L, 1);
        lua_getfield(L, request, name);
    }
}

/* Checks request number `index` (at the top of the stack) and copies it into the batch.
 * Raises, naming it, on a mistake. */
static void add_batch_request(lua_State *L, int requests_arg, int index, mmc_batch *batch,
                              const mmc_client *client) {
    int request = lua_gettop(L);
    if (lua_type(L, request) != LUA_TTABLE)
        luaL_argerror(L, requests_arg,
                      lua_pushfstring(L, "requests[%d] must be a table { method, path, options }, "
                                         "got %s",
                                      index, luaL_typename(L, request)));
    get_request_field(L, request, 1, "method");
    get_request_field(L, request, 2, "path");
    get_request_field(L, request, 3, "options");
    int method_at = request + 1, path_at = request + 2, options_at = request + 3;
    size_t method_length = 0, path_length = 0;
    const char *method =
        lua_type(L, method_at) == LUA_TSTRING ? lua_tolstring(L, method_at, &method_length) : "";
    if (strlen(method) != method_length || mmc_request_known_method(method) == NULL)
        luaL_argerror(L, requests_arg,
                      lua_pushfstring(L,
                                      "requests[%d].method must be \"GET\", \"POST\", \"PUT\", "
                                      "\"DELETE\" or \"PATCH\"",
                                      index));
    if (lua_type(L, path_at) != LUA_TSTRING)
        luaL_argerror(L, requests_arg,
                      lua_pushfstring(L, "requests[%d].path: path must be a string, got %s", index,
                                      luaL_typename(L, path_at)));
    const char *path = lua_tolstring(L, path_at, &path_length);
    const char *problem = mmc_request_path_problem(path, path_length);
    if (problem != NULL)
        luaL_argerror(L, requests_arg,
                      lua_pushfstring(L, "requests[%d].path: %s", index, problem));
    request_options options;
    options.index = index;
    options.requests_arg = requests_arg;
    read_request_options(L, options_at, &options);
    problem = request_options_problem(method, &options);
    if (problem != NULL)
        option_error(L, options_at, &options, problem);
    mmc_api_call api_call = api_call_of(method, path, path_length, &options);
    mmc_buffer bad;
    mmc_buffer_init_in(&bad, mmc_client_memory(client));
    if (mmc_batch_set(batch, (size_t)index - 1, client, &api_call, &bad) != 0) {
        lua_pushfstring(L, "requests[%d]: %s", index, mmc_buffer_text(&bad));
        mmc_buffer_free(&bad);
        luaL_argerror(L, requests_arg, lua_tostring(L, -1));
    }
    mmc_buffer_free(&bad);
    lua_settop(L, request - 1);
}

/* The concurrency in the options at `arg` (a table or nil). */
static int batch_concurrency(lua_State *L, int arg) {
    if (lua_isnoneornil(L, arg))
        return MMC_DEFAULT_CONCURRENCY;
    if (lua_type(L, arg) != LUA_TTABLE)
        luaL_argerror(L, arg,
                      lua_pushfstring(L, "options must be a table, got %s", luaL_typename(L, arg)));
    int concurrency = MMC_DEFAULT_CONCURRENCY;
    lua_pushnil(L);
    while (lua_next(L, arg) != 0) {
        if (lua_type(L, -2) != LUA_TSTRING || strcmp(lua_tostring(L, -2), "concurrency") != 0) {
            lua_pushvalue(L, -2);
            luaL_argerror(L, arg,
                          lua_pushfstring(L, "unknown option '%s' (concurrency)",
                                          mmc_compat_tolstring(L, -1)));
        }
        int is_integer = 0;
        lua_Integer value =
            lua_type(L, -1) == LUA_TNUMBER ? mmc_compat_tointegerx(L, -1, &is_integer) : 0;
        if (!is_integer || value < 1 || value > MMC_MAX_CONCURRENCY)
            luaL_argerror(L, arg, "options.concurrency must be a whole number from 1 to 64");
        concurrency = (int)value;
        lua_pop(L, 1);
    }
    return concurrency;
}

/* client:request_all(requests [, options]): many calls at once (engine.h). Every request is
 * checked, and copied, before anything is sent; the results come back in the same order. */
static int do_request_all(lua_State *L, int client_arg, int requests_arg) {
    int options_arg = requests_arg + 1;
    if (lua_type(L, requests_arg) != LUA_TTABLE)
        luaL_argerror(L, requests_arg,
                      lua_pushfstring(L, "requests must be an array of { method, path, options }, "
                                         "got %s",
                                      luaL_typename(L, requests_arg)));
    int concurrency = batch_concurrency(L, options_arg);
    size_t count = mmc_compat_rawlen(L, requests_arg);
    if (count > MMC_MAX_BATCH)
        luaL_argerror(L, requests_arg, "requests has more than 100000 requests");
    mmc_client *client = check_ready_client(L, client_arg);
    batch_box *box = lua_newuserdata(L, sizeof *box);
    box->batch = NULL;
    if (luaL_newmetatable(L, BATCH_METATABLE)) {
        lua_pushcfunction(L, batch_gc);
        lua_setfield(L, -2, "__gc");
    }
    lua_setmetatable(L, -2);
    int box_at = lua_gettop(L);
    box->batch = mmc_batch_new(count, mmc_client_memory(client));
    if (box->batch == NULL)
        luaL_error(L, "mmc: out of memory");
    for (size_t i = 1; i <= count; i++) {
        lua_rawgeti(L, requests_arg, (int)i);
        add_batch_request(L, requests_arg, (int)i, box->batch, client);
    }
    call_context call;
    begin_call(L, client_arg, &call);
    mmc_client_run_batch(client, box->batch, concurrency);
    int store_yielded = call.has_store && mmc_lua_token_store_unbind(&call.store);
    mmc_client_use_token_cache(client, NULL);
    report_exchanges(&call);
    for (size_t i = 0; i < count; i++)
        report_log(&call, mmc_batch_exchanges(box->batch, i));
    call.box->busy = 0;
    mmc_result_free(&call.result);
    if (store_yielded)
        luaL_error(L, "%s", MMC_LUA_TOKEN_STORE_YIELDED);
    lua_createtable(L, (int)count, 0);
    for (size_t i = 0; i < count; i++) {
        push_batch_result(L, box->batch, i);
        lua_rawseti(L, -2, (int)i + 1);
    }
    mmc_batch_free(box->batch);
    box->batch = NULL;
    (void)box_at;
    return 1;
}

static int client_request_all(lua_State *L) {
    check_self(L, "request_all");
    lua_settop(L, 3);
    return do_request_all(L, 1, 2);
}

static int module_request_all(lua_State *L) {
    lua_settop(L, 2);
    return do_request_all(L, push_default_client(L), 1);
}

static int client_auth(lua_State *L) {
    check_self(L, "auth");
    return do_auth(L, 1);
}

static int client_set_webhook_config(lua_State *L) {
    check_self(L, "set_webhook_config");
    return do_set_webhook_config(L, 1, 2);
}

static int client_get_webhook_config(lua_State *L) {
    check_self(L, "get_webhook_config");
    return do_get_webhook_config(L, 1, 2);
}

static int client_delete_webhook_config(lua_State *L) {
    check_self(L, "delete_webhook_config");
    return do_delete_webhook_config(L, 1, 2);
}

static int client_logout(lua_State *L) {
    check_self(L, "logout");
    return do_logout(L, 1);
}

static int client_set_webhook_status(lua_State *L) {
    check_self(L, "set_webhook_status");
    return do_set_webhook_status(L, 1, 2);
}

static int client_request(lua_State *L) {
    check_self(L, "request");
    lua_settop(L, 4);
    return do_request(L, 1, 2);
}

static int module_auth(lua_State *L) {
    return do_auth(L, push_default_client(L));
}

static int module_set_webhook_status(lua_State *L) {
    lua_settop(L, 2);
    return do_set_webhook_status(L, push_default_client(L), 1);
}

static int module_set_webhook_config(lua_State *L) {
    lua_settop(L, 1);
    return do_set_webhook_config(L, push_default_client(L), 1);
}

static int module_get_webhook_config(lua_State *L) {
    lua_settop(L, 1);
    return do_get_webhook_config(L, push_default_client(L), 1);
}

static int module_delete_webhook_config(lua_State *L) {
    lua_settop(L, 1);
    return do_delete_webhook_config(L, push_default_client(L), 1);
}

static int module_request(lua_State *L) {
    lua_settop(L, 3);
    return do_request(L, push_default_client(L), 1);
}

static int module_logout(lua_State *L) {
    lua_settop(L, 0);
    return do_logout(L, push_default_client(L));
}

/* ---- receiving pushes ----------------------------------------------------------------- */

/* The subscriber keys at `arg` (a string, or a list of them, the current key first) into an
 * array that lives on the stack (with the strings, which the table at `arg` keeps alive);
 * raises naming the argument when they are wrong. Sets `*count`. */
static mmc_push_key *check_push_keys(lua_State *L, int arg, size_t *count) {
    if (lua_type(L, arg) == LUA_TSTRING) {
        mmc_push_key *key = mmc_compat_newuserdata(L, sizeof *key);
        key->data = lua_tolstring(L, arg, &key->length);
        if (key->length == 0)
            luaL_argerror(L, arg, "subscriber_key must not be empty");
        *count = 1;
        return key;
    }
    if (lua_type(L, arg) != LUA_TTABLE)
        luaL_argerror(L, arg,
                      lua_pushfstring(L,
                                      "subscriber_key must be a string or a list of strings, "
                                      "got %s",
                                      luaL_typename(L, arg)));
    size_t n = 0;
    for (;;) {
        lua_rawgeti(L, arg, (int)n + 1);
        int absent = lua_isnil(L, -1);
        size_t key_length = 0;
        if (lua_type(L, -1) == LUA_TSTRING)
            lua_tolstring(L, -1, &key_length);
        if (!absent && key_length == 0)
            luaL_argerror(
                L, arg,
                lua_pushfstring(
                    L, "subscriber_key[%d] must be a non-empty string, got %s", (int)n + 1,
                    lua_type(L, -1) == LUA_TSTRING ? "an empty string" : luaL_typename(L, -1)));
        lua_pop(L, 1);
        if (absent)
            break;
        n++;
    }
    if (n == 0)
        luaL_argerror(L, arg, "subscriber_key is an empty list");
    mmc_push_key *keys = mmc_compat_newuserdata(L, n * sizeof *keys);
    for (size_t i = 0; i < n; i++) {
        lua_rawgeti(L, arg, (int)i + 1);
        keys[i].data = lua_tolstring(L, -1, &keys[i].length);
        lua_pop(L, 1); /* the table keeps the string */
    }
    *count = n;
    return keys;
}

/* mmc.verify_push(body, subscriber_key [, max_age_seconds]): the decoded push when it is
 * authentic (and recent enough), else nil and the reason. subscriber_key is a key or a list
 * of keys (a rotation: any of them verifies). A hostile body never raises; only wrong
 * arguments do. */
static int module_verify_push(lua_State *L) {
    size_t body_length = 0, key_count = 0;
    if (lua_type(L, 1) != LUA_TSTRING)
        luaL_argerror(L, 1,
                      lua_pushfstring(L, "body must be a string, got %s", luaL_typename(L, 1)));
    const char *body = lua_tolstring(L, 1, &body_length);
    int given = lua_gettop(L);
    const mmc_push_key *keys = check_push_keys(L, 2, &key_count); /* pushed above the arguments */
    double max_age = 0;
    if (given >= 3 && !lua_isnil(L, 3)) {
        max_age = lua_type(L, 3) == LUA_TNUMBER ? (double)lua_tonumber(L, 3) : -1;
        if (!(max_age > 0 && max_age <= 1e9))
            luaL_argerror(L, 3, "max_age_seconds must be a number of seconds above 0");
    }

    mmc_buffer reason;
    mmc_buffer_init_in(&reason, state_memory(L));
    long long now_ms = (long long)(mmc_clock_unix_precise() * 1000);
    if (mmc_push_verify(body, body_length, keys, key_count, max_age, now_ms, &reason) != 0) {
        lua_pushnil(L);
        lua_pushlstring(L, reason.data, reason.length);
        mmc_buffer_free(&reason);
        return 2;
    }
    mmc_buffer_free(&reason);
    lua_settop(L, 1);
    lua_getfield(L, lua_upvalueindex(1), STATE_JSON_DECODE);
    lua_pushvalue(L, 1);
    if (lua_pcall(L, 1, 1, 0) != LUA_OK || !lua_istable(L, -1)) {
        lua_pushnil(L);
        lua_pushstring(L, "the push is authentic but its JSON could not be decoded");
        return 2;
    }
    integers_from_json(L, -1);
    return 1;
}

/* mmc.push_event_id(body): the id of the event a (verified) push carries, the same whatever
 * envelope it came in (see push.h); nil and the reason for a body with no appID or eventInfo. */
static int module_push_event_id(lua_State *L) {
    size_t body_length = 0;
    if (lua_type(L, 1) != LUA_TSTRING)
        luaL_argerror(L, 1,
                      lua_pushfstring(L, "body must be a string, got %s", luaL_typename(L, 1)));
    const char *body = lua_tolstring(L, 1, &body_length);
    char id[MMC_SHA256_HEX_LENGTH + 1];
    mmc_buffer reason;
    mmc_buffer_init_in(&reason, state_memory(L));
    if (mmc_push_event_id(body, body_length, id, &reason) != 0) {
        lua_pushnil(L);
        lua_pushlstring(L, reason.data, reason.length);
        mmc_buffer_free(&reason);
        return 2;
    }
    mmc_buffer_free(&reason);
    lua_pushstring(L, id);
    return 1;
}

/* mmc.push_reply(push): the status and body to answer a verified push with. */
static int module_push_reply(lua_State *L) {
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_getfield(L, 1, "eventInfo");
    const char *event = NULL;
    if (lua_istable(L, -1)) {
        lua_getfield(L, -1, "event");
        event = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
    }
    lua_pushinteger(L, 200);
    if (event == NULL || strcmp(event, MMC_PUSH_VERIFY_EVENT) != 0) {
        lua_pushliteral(L, "");
        return 2;
    }
    lua_getfield(L, 1, "nonce");
    size_t nonce_length = 0;
    const char *nonce = lua_type(L, -1) == LUA_TSTRING ? lua_tolstring(L, -1, &nonce_length) : NULL;
    if (nonce == NULL)
        luaL_argerror(L, 1, "a meeting.verify push must have a string 'nonce'");
    mmc_buffer reply;
    mmc_buffer_init_in(&reply, state_memory(L));
    if (mmc_push_verify_reply(nonce, nonce_length, &reply) != 0) {
        mmc_buffer_free(&reply);
        luaL_argerror(L, 1, "the push's nonce is not valid UTF-8");
    }
    lua_pop(L, 1);
    lua_pushlstring(L, reply.data, reply.length);
    mmc_buffer_free(&reply);
    return 2;
}

static int module_new(lua_State *L) {
    lua_settop(L, 1);
    push_new_client(L, 1);
    return 1;
}

/* Replaces the default client. The old one is closed only once the new one is built, so a
 * bad option leaves the module as it was. */
static int module_configure(lua_State *L) {
    lua_settop(L, 1);
    push_new_client(L, 1);
    lua_getfield(L, lua_upvalueindex(1), STATE_DEFAULT_CLIENT);
    if (!lua_isnil(L, -1)) {
        client_box *old = lua_touserdata(L, -1);
        if (old->busy)
            luaL_error(L, "mmc: the default client is in a call and cannot be replaced now");
        mmc_client_free(old->client);
        old->client = NULL;
    }
    lua_pop(L, 1);
    lua_setfield(L, lua_upvalueindex(1), STATE_DEFAULT_CLIENT);
    return 0;
}

/* mmc._memory(): { allocations = N, bytes = M }, mmc's live allocations in this Lua state (all
 * its clients, batches and calls; libcurl's, OpenSSL's and Lua's own are not counted). For
 * tests and long-running hosts (bench/soak); see docs/internals.md. */
static int module_memory(lua_State *L) {
    const mmc_memory *memory = state_memory(L);
    lua_createtable(L, 0, 2);
    lua_pushinteger(L, (lua_Integer)memory->allocations);
    lua_setfield(L, -2, "allocations");
    lua_pushinteger(L, (lua_Integer)memory->bytes);
    lua_setfield(L, -2, "bytes");
    return 1;
}

/* ---- the module --------------------------------------------------------------------------- */

static const luaL_Reg client_methods[] = {
    {"auth", client_auth},
    {"set_webhook_status", client_set_webhook_status},
    {"set_webhook_config", client_set_webhook_config},
    {"get_webhook_config", client_get_webhook_config},
    {"delete_webhook_config", client_delete_webhook_config},
    {"logout", client_logout},
    {"request", client_request},
    {"request_all", client_request_all},
    {"close", client_close},
    {NULL, NULL},
};

static const luaL_Reg client_metamethods[] = {
    {"__gc", client_close},
    {"__close", client_close},
    {"__tostring", client_tostring},
    {NULL, NULL},
};

static const luaL_Reg module_functions[] = {
    {"new", module_new},
    {"configure", module_configure},
    {"_memory", module_memory},
    {"auth", module_auth},
    {"set_webhook_status", module_set_webhook_status},
    {"set_webhook_config", module_set_webhook_config},
    {"get_webhook_config", module_get_webhook_config},
    {"delete_webhook_config", module_delete_webhook_config},
    {"logout", module_logout},
    {"request", module_request},
    {"request_all", module_request_all},
    {"verify_push", module_verify_push},
    {"push_reply", module_push_reply},
    {"push_event_id", module_push_event_id},
    {NULL, NULL},
};

/* Calls the setter `name` of the cjson instance just below the top of the stack with the value
 * on top, which it pops: cjson configures an instance through one function per setting. */
static void call_json_setter(lua_State *L, const char *name) {
    lua_getfield(L, -2, name);
    lua_insert(L, -2);
    lua_call(L, 1, 0);
}

/* Makes a private lua-cjson instance, strict about what it accepts and sends, and stores its
 * decode and encode functions in the state table at the top of the stack. */
static void add_json_codec(lua_State *L) {
    lua_getglobal(L, "require");
    lua_pushstring(L, "cjson");
    lua_call(L, 1, 1);
    lua_getfield(L, -1, "new");
    lua_call(L, 0, 1);
    lua_pushboolean(L, 0);
    call_json_setter(L, "decode_invalid_numbers");
    lua_pushinteger(L, MMC_JSON_MAX_DEPTH);
    call_json_setter(L, "decode_max_depth");
    lua_getfield(L, -1, "decode");
    lua_setfield(L, -4, STATE_JSON_DECODE);
    /* The encoder of client:request's table bodies: NaN and infinity are refused, not sent. */
    lua_pushboolean(L, 0);
    call_json_setter(L, "encode_invalid_numbers");
    lua_pushinteger(L, MMC_JSON_MAX_DEPTH);
    call_json_setter(L, "encode_max_depth");
    lua_getfield(L, -1, "encode");
    lua_setfield(L, -4, STATE_JSON_ENCODE);
    lua_pop(L, 2);
}

/* The one symbol the module exports (everything else is built hidden). */
__attribute__((visibility("default"))) int luaopen_mmc(lua_State *L);

int luaopen_mmc(lua_State *L) {
    lua_getfield(L, LUA_REGISTRYINDEX, REGISTRY_MEMORY);
    if (lua_isnil(L, -1)) { /* one account per Lua state, however often the module loads */
        mmc_memory *memory = lua_newuserdata(L, sizeof *memory);
        memory->allocations = 0;
        memory->bytes = 0;
        lua_setfield(L, LUA_REGISTRYINDEX, REGISTRY_MEMORY);
    }
    lua_pop(L, 1);
    lua_newtable(L); /* the module's state: the upvalue of every function */
    add_json_codec(L);

    if (luaL_newmetatable(L, CLIENT_METATABLE)) {
        lua_pushvalue(L, -2);
        mmc_compat_setfuncs(L, client_metamethods, 1);
        lua_newtable(L);
        lua_pushvalue(L, -3);
        mmc_compat_setfuncs(L, client_methods, 1);
        lua_setfield(L, -2, "__index");
        lua_pushliteral(L, "protected");
        lua_setfield(L, -2, "__metatable");
    }
    lua_pop(L, 1);

    lua_newtable(L);
    lua_pushvalue(L, -2);
    mmc_compat_setfuncs(L, module_functions, 1);
    lua_pushinteger(L, MMC_ENABLE);
    lua_setfield(L, -2, "ENABLE");
    lua_pushinteger(L, MMC_DISABLE);
    lua_setfield(L, -2, "DISABLE");
    lua_pushinteger(L, MMC_LOCK);
    lua_setfield(L, -2, "LOCK");
    lua_pushliteral(L, "mmc " MMC_VERSION);
    lua_setfield(L, -2, "_VERSION");
    return 1;
}
