/*
 * lua_mmc: the Lua face of mmc: the module, its clients and the webhook operations.
 *
 * The face only translates: it checks arguments (a programmer's mistake is raised, naming the
 * argument), turns option tables and MMC_* environment variables into an mmc_config, calls the
 * Lua-free core in src/, and turns its results into Lua values (lua_mmc_call.h), the body
 * being the answer's JSON decoded by a private lua-cjson instance (cjson.new(), so a host's
 * global cjson settings never apply), never holding a token. The generic call and request_all
 * are in lua_mmc_request.c, receiving pushes in lua_mmc_push.c (lua_mmc_faces.h).
 *
 * No C state is global: the module's state (the default client and the JSON decoder) is a
 * table that every function receives as its first upvalue, so the module can be loaded into
 * any number of Lua states on any number of threads.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "lua_mmc_call.h"
#include "lua_mmc_faces.h"
#include "src/client.h"
#include "src/json_scan.h"
#include "src/proxy.h"
#include "src/version.h"

#define MAX_BODY_LIMIT (1024L * 1024 * 1024)
/* The Lua state's account of mmc's allocations (src/memory.h): a userdata without a finalizer,
 * anchored in the registry, so that it outlives every client and batch charged to it (at
 * lua_close every finalizer runs before any object is freed). */
#define REGISTRY_MEMORY "mmc.memory"

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
mmc_memory *mmc_lua_state_memory(lua_State *L) {
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

    config.memory = mmc_lua_state_memory(L);
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

client_box *mmc_lua_check_box(lua_State *L, int arg) {
    return luaL_checkudata(L, arg, CLIENT_METATABLE);
}

/* The client a method was called on. A method called with a dot (c.auth(), c.set_webhook_status(
 * id, 0)) gets something else first: say so before any other argument is checked, since "id
 * must be a non-empty string, got number" would hide the mistake. The method is named here,
 * not by luaL_argerror, which finds no name (and says '?') for a function called through
 * pcall(c.auth) or as a tail call. */
client_box *mmc_lua_check_self(lua_State *L, const char *method) {
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
mmc_client *mmc_lua_check_ready_client(lua_State *L, int arg) {
    client_box *box = mmc_lua_check_box(L, arg);
    if (box->client == NULL)
        luaL_error(L, "mmc: the client is closed");
    if (box->busy)
        luaL_error(L, "mmc: the client is in a call already (its token store, its on_request hook "
                      "and the output and progress functions of its calls and downloads must "
                      "not use it)");
    const char *missing = mmc_client_missing_credential(box->client);
    if (missing != NULL)
        luaL_error(L,
                   "mmc: %s is not set: pass %s to mmc.configure{} or mmc.new{}, or set the "
                   "environment variable MMC_%s",
                   missing, missing, strcmp(missing, "app_id") == 0 ? "APP_ID" : "APP_KEY");
    return box->client;
}

/* Pushes the module's default client, creating it from the environment on first use. */
int mmc_lua_push_default_client(lua_State *L) {
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
    client_box *box = mmc_lua_check_self(L, "close");
    if (box->busy)
        luaL_error(L, "mmc: the client is in a call and cannot be closed now");
    mmc_client_free(box->client);
    box->client = NULL;
    return 0;
}

static int client_tostring(lua_State *L) {
    client_box *box = mmc_lua_check_box(L, 1);
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

static int do_auth(lua_State *L, int client_arg) {
    mmc_lua_call call;
    mmc_client *client = mmc_lua_begin_call(L, client_arg, &call);
    mmc_client_auth(client, &call.result);
    return mmc_lua_finish_call(L, &call);
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

    mmc_lua_call call;
    mmc_client *client = mmc_lua_begin_call(L, client_arg, &call);
    mmc_client_set_webhook_status(client, id, id_length, (int)status, &call.result);
    return mmc_lua_finish_call(L, &call);
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

    mmc_lua_call call;
    mmc_client *client = mmc_lua_begin_call(L, client_arg, &call);
    mmc_client_set_webhook_config(client, &config, &call.result);
    return mmc_lua_finish_call(L, &call);
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

    mmc_lua_call call;
    mmc_client *client = mmc_lua_begin_call(L, client_arg, &call);
    int outcome = mmc_client_get_webhook_config(client, values[0], values[1], &call.result);
    int count = mmc_lua_finish_call(L, &call);
    if (outcome == 0 && count == 3 && lua_istable(L, -1))
        reshape_webhook_config(L);
    return count;
}

static int do_delete_webhook_config(lua_State *L, int client_arg, int id_arg) {
    size_t id_length = 0;
    const char *id = check_id(L, id_arg, &id_length);
    mmc_lua_call call;
    mmc_client *client = mmc_lua_begin_call(L, client_arg, &call);
    mmc_client_delete_webhook_config(client, id, id_length, &call.result);
    return mmc_lua_finish_call(L, &call);
}

static int do_logout(lua_State *L, int client_arg) {
    mmc_lua_call call;
    mmc_client *client = mmc_lua_begin_call(L, client_arg, &call);
    mmc_client_logout(client, &call.result);
    return mmc_lua_finish_call(L, &call);
}

static int client_auth(lua_State *L) {
    mmc_lua_check_self(L, "auth");
    return do_auth(L, 1);
}

static int client_set_webhook_config(lua_State *L) {
    mmc_lua_check_self(L, "set_webhook_config");
    return do_set_webhook_config(L, 1, 2);
}

static int client_get_webhook_config(lua_State *L) {
    mmc_lua_check_self(L, "get_webhook_config");
    return do_get_webhook_config(L, 1, 2);
}

static int client_delete_webhook_config(lua_State *L) {
    mmc_lua_check_self(L, "delete_webhook_config");
    return do_delete_webhook_config(L, 1, 2);
}

static int client_logout(lua_State *L) {
    mmc_lua_check_self(L, "logout");
    return do_logout(L, 1);
}

static int client_set_webhook_status(lua_State *L) {
    mmc_lua_check_self(L, "set_webhook_status");
    return do_set_webhook_status(L, 1, 2);
}

static int module_auth(lua_State *L) {
    return do_auth(L, mmc_lua_push_default_client(L));
}

static int module_set_webhook_status(lua_State *L) {
    lua_settop(L, 2);
    return do_set_webhook_status(L, mmc_lua_push_default_client(L), 1);
}

static int module_set_webhook_config(lua_State *L) {
    lua_settop(L, 1);
    return do_set_webhook_config(L, mmc_lua_push_default_client(L), 1);
}

static int module_get_webhook_config(lua_State *L) {
    lua_settop(L, 1);
    return do_get_webhook_config(L, mmc_lua_push_default_client(L), 1);
}

static int module_delete_webhook_config(lua_State *L) {
    lua_settop(L, 1);
    return do_delete_webhook_config(L, mmc_lua_push_default_client(L), 1);
}

static int module_logout(lua_State *L) {
    lua_settop(L, 0);
    return do_logout(L, mmc_lua_push_default_client(L));
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
    const mmc_memory *memory = mmc_lua_state_memory(L);
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

/* Adds each list's functions to the table at the top of the stack, each with the module's state
 * (at `state`) as its first upvalue. */
static void add_functions(lua_State *L, int state, const luaL_Reg *const *lists) {
    for (; *lists != NULL; lists++) {
        lua_pushvalue(L, state);
        mmc_compat_setfuncs(L, *lists, 1);
    }
}

/* The one symbol the module exports (everything else is built hidden). */
__attribute__((visibility("default"))) int luaopen_mmc(lua_State *L);

int luaopen_mmc(lua_State *L) {
    static const luaL_Reg *const method_lists[] = {client_methods, mmc_lua_request_methods,
                                                   mmc_lua_each_methods,
                                                   mmc_lua_conference_methods,
                                                   mmc_lua_download_methods, NULL};
    static const luaL_Reg *const function_lists[] = {module_functions, mmc_lua_request_functions,
                                                     mmc_lua_push_functions,
                                                     mmc_lua_each_functions,
                                                     mmc_lua_download_functions, NULL};
    lua_getfield(L, LUA_REGISTRYINDEX, REGISTRY_MEMORY);
    if (lua_isnil(L, -1)) { /* one account per Lua state, however often the module loads */
        mmc_memory *memory = lua_newuserdata(L, sizeof *memory);
        memory->allocations = 0;
        memory->bytes = 0;
        lua_setfield(L, LUA_REGISTRYINDEX, REGISTRY_MEMORY);
    }
    lua_pop(L, 1);
    lua_newtable(L); /* the module's state: the upvalue of every function */
    int state = lua_gettop(L);
    add_json_codec(L);

    if (luaL_newmetatable(L, CLIENT_METATABLE)) {
        lua_pushvalue(L, state);
        mmc_compat_setfuncs(L, client_metamethods, 1);
        lua_newtable(L);
        add_functions(L, state, method_lists);
        lua_setfield(L, -2, "__index");
        lua_pushliteral(L, "protected");
        lua_setfield(L, -2, "__metatable");
    }
    lua_pop(L, 1);

    lua_newtable(L);
    add_functions(L, state, function_lists);
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
