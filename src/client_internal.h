/*
 * client_internal: what the client's files share and nothing else sees. client.c holds the
 * configuration, the token's life and the operations; engine.c runs many calls at once on
 * the same rules (the token, the judging of an answer, the redaction), through these.
 */
#ifndef MMC_CLIENT_INTERNAL_H
#define MMC_CLIENT_INTERNAL_H

#include "client.h"
#include "redact.h"
#include "token.h"
#include "transport.h"

struct mmc_engine;

struct mmc_client {
    char *app_id;
    char *app_key;
    char *user_id;
    char *corp_id;
    char *endpoint; /* without a trailing slash */
    int sp_mode;
    double timeout;  /* seconds a whole call may take, re-authentication and retry included */
    int retries;     /* how many times an idempotent request may be sent again */
    double deadline; /* monotonic time by which the current call must be done */
    mmc_transport transport;
    mmc_token token;
    const mmc_token_cache *cache; /* shares the token with other clients; NULL: none */
    mmc_buffer cache_key;         /* empty without an app key */
    mmc_buffer cache_value;       /* the token as last loaded from or saved to the cache */
    mmc_redactor redactor;        /* the secrets last redacted, prepared (redact.h) */
    mmc_buffer url;               /* scratch: the URL of the request being made */
    mmc_buffer request;           /* scratch: its body */
    mmc_buffer query;             /* scratch: an operation's query string */
    char *proxy;                  /* NULL: the environment's; "": none; else the URL (secret) */
    mmc_buffer header_text;       /* the current call's extra headers: names and values */
    mmc_header *headers;          /* ... and where each one is in header_text */
    size_t header_count;
    size_t header_capacity;
    int record_exchanges;       /* keep `exchanges` for each call */
    mmc_exchange_log exchanges; /* the current (or last) call's exchanges */
    struct mmc_engine *engine;  /* runs every request (engine.h): made on first use */
    /* The last single call's answer, in the buffers of the handle that received it (until its
     * next transfer), or NULL: what mmc_call_finish redacts. */
    mmc_buffer *answer_body;
    mmc_buffer *answer_headers;
    int wants_headers; /* the single call under way returns the answer's headers (request) */
    mmc_memory *memory;         /* the account all of the above is charged to (memory.h) */
};

/* ---- config.c */

/* A sentence saying what is wrong with a config, or NULL when it is usable. */
const char *mmc_config_problem(const mmc_config *config);
/* 0 when ca_file is a readable regular file with a PEM certificate, else -1 with a sentence
 * appended to `problem`. */
int mmc_ca_file_problem(const char *path, mmc_buffer *problem);
/* 1 when an optional text is absent, or valid UTF-8 of at most `max_bytes` bytes. */
int mmc_is_short_utf8(const char *text, size_t max_bytes);

/* ---- call.c: one request's life */

/* Starts the clock of a public call: everything it does shares one timeout. */
void mmc_call_start(mmc_client *client, mmc_result *result);
/* The last step of every call: redacts the result (redact.h). Returns `outcome`. */
int mmc_call_finish(mmc_client *client, mmc_result *result, int outcome);
/* Redacts the result, with `extra` (a subscriber key) among the secrets. */
void mmc_call_redact(mmc_client *client, mmc_result *result, const char *extra);
/* Checks and makes the call: the token first when `may_authenticate` (and once more after a
 * 401), retries when allowed, the answer judged. 0 or -1; mmc_call_finish follows. */
int mmc_call_make(mmc_client *client, const mmc_api_call *call, int may_authenticate,
                  mmc_result *result);
/* Redacts the result, and the answer's header lines `headers` (client->answer_headers). */
void mmc_call_redact_headers(mmc_client *client, mmc_result *result, mmc_buffer *headers);
/* Seconds as libcurl's milliseconds, at least 1. */
long mmc_call_milliseconds(double seconds);

/* ---- session.c: the token */

/* 1 when the client shares its token through a token store. */
int mmc_session_has_cache(const mmc_client *client);

/* One App ID authentication: its request (built by mmc_session_login_request, sent by the
 * engine as one more transfer) and what it needs to read the answer. */
typedef struct mmc_login {
    mmc_buffer url, body, authorization;
    long long unix_now;
    double sent_at;
} mmc_login;
/* A login whose buffers are charged to `memory` (memory.h). */
void mmc_login_init(mmc_login *login, mmc_memory *memory);
void mmc_login_free(mmc_login *login);
/* Builds the login's request. 0, or -1 with the problem appended. */
int mmc_session_login_request(mmc_client *client, mmc_login *login, mmc_buffer *problem);
/* Reads the login's answer (its body in `body`, whose tokens are then wiped): 0 when the
 * client now holds the new token, else -1 with the result saying why. */
int mmc_session_login_answer(mmc_client *client, const mmc_login *login,
                             const mmc_response *response, mmc_buffer *body, mmc_result *result);
/* The token store's token, other than the one just refused (`after_rejection`): 1 when the
 * client now holds it, 0 when the store has none, -1 when it cannot be used. */
int mmc_session_take_shared_token(mmc_client *client, int after_rejection);
/* Gives the token store the token just obtained (`authenticated`), or nothing. */
void mmc_session_share_token(mmc_client *client, int authenticated);
/* Puts "authentication failed: " before the result's message. */
void mmc_session_mark_failure(mmc_result *result);

/* Judges an answer as every call does (client.h, "Results"): 0 for a 2xx with a usable body. */
int mmc_client_judge_answer(mmc_result *result, const mmc_response *response);

/* Takes every secret out of the result's message, and out of `body` (the buffer that holds
 * the result's body, redacted in place) and `headers` (or NULL). */
void mmc_client_redact(mmc_client *client, mmc_result *result, mmc_buffer *body,
                       mmc_buffer *headers);

/* The proxy named in a failure to connect through it, as for a single call. */
void mmc_client_name_the_proxy(mmc_client *client, const mmc_transport *transport,
                               mmc_result *result);

/* The one retry rule (client.h, "Retries"; retry.h): the seconds to wait before sending
 * again a request whose attempt number `attempt` (from 0) ended with `outcome` (0: `response`
 * arrived; -1: none, `transport` says whether the failure may pass), or -1: no retry. */
double mmc_client_retry_wait(const mmc_client *client, const mmc_transport *transport,
                             int outcome, const mmc_response *response, int attempt,
                             int idempotent, double deadline);

/* What is wrong with a call (a bad method, path, header or query), or NULL. */
const char *mmc_client_call_problem(const mmc_api_call *call, const char *checked,
                                    size_t checked_length, const char **field);

/* Appends the call's URL on the client's endpoint. 0 or -1 (out of memory). */
int mmc_client_call_url(const mmc_client *client, const mmc_api_call *call, mmc_buffer *url);

/* ---- engine.c: every request's life */

/* The engine's end: its connections closed (or let go of, in a fork's child). */
void mmc_engine_free(struct mmc_engine *engine);
/* One call, as a batch of one, on the engine: to `url`, with the call's method, body and
 * headers (which must live until it returns), within client->deadline; a login first when
 * `may_authenticate` and the client holds no fresh token (and once more after a 401). The
 * answer stays in client->answer_body/answer_headers; the result is not yet redacted
 * (mmc_call_finish). 0 for a 2xx with a usable body, else -1. */
int mmc_engine_call(mmc_client *client, const char *url, const mmc_api_call *call,
                    int may_authenticate, mmc_result *result);
/* One login, on the engine, within client->deadline (mmc_client_auth). 0 or -1. */
int mmc_engine_login(mmc_client *client, mmc_result *result);

#endif
