/*
 * lua_mmc_call: what the Lua face's files share: the client userdata, the module state's
 * names, and one call's life as Lua sees it (the client checked and marked busy, its token
 * store bound, the core's result turned into Lua values, the on_request hook run after the
 * core returns).
 *
 *     status, nil, body        on a 2xx answer
 *     status, message, body    on any other answer (or a 2xx whose body is not JSON)
 *     nil, message             when no answer arrived (DNS, connect, TLS, timeout, ...)
 *
 * Each face file (lua_mmc.c: clients and the webhook operations; lua_mmc_request.c: the
 * generic call and request_all; lua_mmc_push.c: receiving pushes) adds its functions to the
 * module through the tables lua_mmc_faces.h names.
 */
#ifndef LUA_MMC_CALL_H
#define LUA_MMC_CALL_H

#include "lua_mmc_compat.h"
#include "lua_mmc_token_store.h"
#include "src/client.h"
#include "src/exchange_log.h"

#define CLIENT_METATABLE "mmc.client"
#define STATE_DEFAULT_CLIENT "default"
#define STATE_JSON_DECODE "decode"
#define STATE_JSON_ENCODE "encode"
#define CLIENT_TOKEN_STORE "token_store" /* in the client's user value table */
#define CLIENT_ON_REQUEST "on_request"   /* in the client's user value table */

typedef struct client_box {
    mmc_client *client; /* NULL once closed */
    int busy;           /* in a call: its token store must not call back into it */
} client_box;

/* One call in progress on a client, with its token store (if any) bound for that call. */
typedef struct mmc_lua_call {
    client_box *box;
    mmc_lua_token_store store;
    int has_store;
    lua_State *L;   /* for this call only */
    int client_arg; /* where the client is on L's stack */
    mmc_result result;
} mmc_lua_call;

/* The client userdata at `arg` (raises on anything else). */
client_box *mmc_lua_check_box(lua_State *L, int arg);

/* The client a method was called on (argument 1); raises naming `method` when the method was
 * called with a dot. */
client_box *mmc_lua_check_self(lua_State *L, const char *method);

/* The open client at `arg`, ready for a call that authenticates: raises when it is closed,
 * busy or lacks credentials. */
mmc_client *mmc_lua_check_ready_client(lua_State *L, int arg);

/* Pushes the module's default client (made from the environment on first use); returns its
 * stack index. Only in functions whose first upvalue is the module's state. */
int mmc_lua_push_default_client(lua_State *L);

/* Turns each integral float of the decoded JSON value at `index` into an integer, in place
 * (Lua 5.3 and 5.4; nothing to do elsewhere). */
void mmc_lua_integers_from_json(lua_State *L, int index);

/* Pushes the decoded JSON body of `result`, or nil (see lua_mmc_call.c). */
void mmc_lua_push_decoded_body(lua_State *L, const mmc_result *result);

/* Pushes status, message, body (or nil, message) and frees `result`; returns the count. */
int mmc_lua_push_result(lua_State *L, mmc_result *result);

/* Starts a call on the client at `client_arg`; leaves the client's token store (or nil) on the
 * stack. */
mmc_client *mmc_lua_begin_call(lua_State *L, int client_arg, mmc_lua_call *call);

/* Runs the client's on_request hook once per exchange of `log`, protected. */
void mmc_lua_report_log(mmc_lua_call *call, const mmc_exchange_log *log);
void mmc_lua_report_exchanges(mmc_lua_call *call);

/* Ends the call and pushes its result (mmc_lua_push_result); raises when the token store
 * yielded. */
int mmc_lua_finish_call(lua_State *L, mmc_lua_call *call);

#endif
