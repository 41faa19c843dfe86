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
    struct mmc_engine *engine;  /* many calls at once (engine.h): made on first use */
};

/* A token for the next request: the token store's, else a new authentication (which the
 * store then shares), within client->deadline. `after_rejection`: the server has just refused
 * the token the client held. 0, or -1 with the result saying why ("authentication failed: "
 * first). */
int mmc_client_obtain_token(mmc_client *client, mmc_result *result, int after_rejection);

/* Judges an answer as every call does (client.h, "Results"): 0 for a 2xx with a usable body. */
int mmc_client_judge_answer(mmc_result *result, const mmc_response *response);

/* Takes every secret out of the result's message, and out of `body` (the buffer that holds
 * the result's body, redacted in place) and `headers` (or NULL). */
void mmc_client_redact(mmc_client *client, mmc_result *result, mmc_buffer *body,
                       mmc_buffer *headers);

/* The proxy named in a failure to connect through it, as for a single call. */
void mmc_client_name_the_proxy(mmc_client *client, const mmc_transport *transport,
                               mmc_result *result);

/* What is wrong with a call (a bad method, path, header or query), or NULL. */
const char *mmc_client_call_problem(const mmc_api_call *call);

/* Appends the call's URL on the client's endpoint. 0 or -1 (out of memory). */
int mmc_client_call_url(const mmc_client *client, const mmc_api_call *call, mmc_buffer *url);

/* The engine's end: its connections closed (or let go of, in a fork's child). */
void mmc_engine_free(struct mmc_engine *engine);

#endif
