/*
 * client: the Huawei Cloud Meeting API as C calls, with the token handled for the caller.
 *
 * A client holds its configuration (copied; the app key is wiped when the client is freed),
 * one transport (so calls share a kept-alive connection) and the current access token.
 * A call that needs a token authenticates first when there is none or it is due for renewal
 * (token.h), and when the server answers 401 it drops the token, authenticates once more and
 * retries once; a second 401 is returned as it is.
 *
 * Retries: an idempotent request (authentication, PUT, GET, DELETE; not the POST that sets a
 * subscription, nor a POST or PATCH of mmc_client_request unless its call allows it) that gets no
 * answer because the connection was refused, reset or closed early, or that is answered 429, 502,
 * 503 or 504 (or throttled with APIG.0308), is sent again, up to `retries` times, after the wait
 * retry.h chooses: what Retry-After asks, 2 to 5 s after a throttled answer, else an exponential
 * backoff with jitter. A wait that would end past the call's timeout is not started (a
 * throttled answer's is shortened when 2 s still fit): the last answer or failure is returned
 * at once. Everything else is
 * returned at once. With a token cache, the client takes a shared token before authenticating, and
 * shares every token it obtains (token_cache.h).
 *
 * Results follow one rule: `status` is the HTTP status of the last answer, 0 when no answer
 * arrived; `message` is empty on success and otherwise says what went wrong; `body` is the
 * last answer's body. Neither holds any 8 bytes of the app key, the token or a subscriber key,
 * however the server echoed them (redact.h): a JSON body has every string checked decoded,
 * and an authentication answer has its accessToken and refreshToken wiped (they read null).
 * This file is Lua-free, so a C test drives the whole flow against the local server.
 */
#ifndef MMC_CLIENT_H
#define MMC_CLIENT_H

#include <stddef.h>

#include "buffer.h"
#include "exchange_log.h"
#include "request.h"
#include "token_cache.h"

#define MMC_DEFAULT_ENDPOINT "https://api.meeting.huaweicloud.com"
#define MMC_DEFAULT_TIMEOUT 10.0        /* seconds, the whole call */
#define MMC_DEFAULT_CONNECT_TIMEOUT 5.0 /* seconds, TCP and TLS set-up */
#define MMC_DEFAULT_MAX_BODY ((size_t)1024 * 1024)
#define MMC_MAX_TIMEOUT 3600.0
#define MMC_MAX_ID_LENGTH 128
#define MMC_DEFAULT_RETRIES 2
#define MMC_MAX_RETRIES 10
#define MMC_CA_FILE_SCAN_LIMIT ((size_t)16 * 1024 * 1024) /* bytes searched for a certificate */

/* Appended to the message of an authentication answered 401. */
#define MMC_CREDENTIALS_HINT "; check the app_id and app_key options, or MMC_APP_ID and MMC_APP_KEY"

#define MMC_WEBHOOK_STATUS_PATH "/v1/mmc/management/webhook/change-status"
#define MMC_WEBHOOK_CONFIG_PATH "/v1/mmc/management/webhook/link-config"
#define MMC_TOKEN_PATH "/v1/usg/acs/token"

/* Limits of the subscription's fields (assumed: the API reference states none). */
#define MMC_MAX_SUBSCRIBER_ID_LENGTH 64
#define MMC_MAX_SUBSCRIBER_KEY_LENGTH 128
#define MMC_MAX_URL_LENGTH 2048
#define MMC_MAX_TENANT_ID_LENGTH 64 /* corpId, spId */

typedef enum { MMC_ENABLE = 0, MMC_DISABLE = 1, MMC_LOCK = 2 } mmc_webhook_status;

typedef struct mmc_config {
    const char *app_id;  /* NULL until set; checked when a call needs it */
    const char *app_key; /* NULL until set; checked when a call needs it */
    const char *user_id; /* NULL or "": the administrator */
    const char *corp_id; /* SP mode only */
    int sp_mode;
    const char *endpoint; /* NULL: MMC_DEFAULT_ENDPOINT */
    const char *ca_file;  /* NULL: the system's trust store */
    int ssl_verify;
    int allow_http;
    double timeout;         /* seconds */
    double connect_timeout; /* seconds */
    size_t max_body;        /* bytes */
    int retries;            /* 0..MMC_MAX_RETRIES: see "Retries" above */
    const char *proxy;      /* NULL: libcurl's environment behaviour; "": none; else a URL
                             * (proxy.h, transport.h), the option's or the environment's
                             * (mmc_proxy_from_environment) */
    const char *no_proxy;   /* with a proxy URL: the hosts that bypass it (libcurl's no_proxy
                             * syntax), or NULL for none */
    int record_exchanges;   /* 1: keep an exchange log of each call (exchange_log.h) */
    mmc_memory *memory;     /* the account the client's storage is charged to (memory.h);
                             * NULL: none (C tests) */
} mmc_config;

/* An event-push subscription, as set by POST .../link-config. NULL or "" leaves a field out;
 * url, subscriber_id and subscriber_key are required. */
typedef struct mmc_webhook_config {
    const char *url; /* https:// */
    const char *subscriber_id;
    const char *subscriber_key; /* the key Huawei signs pushes with: a secret */
    const char *corp_id;
    const char *sp_id;
} mmc_webhook_config;

typedef struct mmc_result {
    long status;
    mmc_buffer message;
    const char *body; /* valid until the client's next call */
    size_t body_length;
    int body_is_json; /* the body is strict JSON (RFC 8259, UTF-8 included): worth decoding */
} mmc_result;

typedef struct mmc_client mmc_client;

/* One API request, as every operation describes it to mmc_client_request. The pointers need
 * only live until mmc_client_request starts sending: it copies what it keeps. */
typedef struct mmc_api_call {
    const char *method; /* "GET", "POST", "PUT", "DELETE" or "PATCH" */
    const char *path;   /* the API path (request.h's rules), without a query */
    size_t path_length;
    const char *query; /* escaped "name=value&..." without '?', or NULL */
    size_t query_length;
    mmc_query_pair *query_pairs; /* or these, sorted and escaped here (request.h); or NULL */
    size_t query_pair_count;
    const char *body; /* sent as it is, or NULL for none */
    size_t body_length;
    const mmc_header *headers; /* extra headers (request.h's rules), or NULL */
    size_t header_count;
    int retry; /* 1: may be retried, 0: not, -1: as the method says (request.h) */
    /* Streamed output, a form, progress, a raw body (transport.h, mmc_transfer), or NULL.
     * With a sink, a 2xx answer's result has no body (the sink has it, sink->bytes long):
     * the caller finishes or abandons the sink afterwards. */
    struct mmc_transfer *transfer;
    /* 1: a 401 refuses a credential the caller sent itself (a meeting's control token in
     * X-Conference-Authorization), not the client's token: the answer is returned as it came,
     * with no login and no second try; the caller renews its own credential. */
    int refusal_is_callers;
} mmc_api_call;

#define MMC_RETRY_AS_METHOD (-1)

/* A config with every default filled in and no credentials. */
void mmc_config_defaults(mmc_config *config);

/* A new client, or NULL with a sentence naming the bad setting appended to `problem`: it
 * starts with the setting's name ("ca_file '/etc/x.pem' cannot be read: ..."). A ca_file is
 * checked now: readable, a regular file, with a PEM certificate. */
mmc_client *mmc_client_new(const mmc_config *config, mmc_buffer *problem);
/* Closes the connection, wipes the key and the token, frees. NULL is fine. */
void mmc_client_free(mmc_client *client);

/* "app_id" or "app_key" when the client lacks it (calls would fail), else NULL. */
const char *mmc_client_missing_credential(const mmc_client *client);

/* POST /v2/usg/acs/auth/appauth; on success the client holds the new token (and the body, the
 * answer, holds it no more). 0 or -1. */
int mmc_client_auth(mmc_client *client, mmc_result *result);

/* PUT .../webhook/change-status?id=<id>&status=<status>. 0 or -1. The id is any byte string of
 * 1..MMC_MAX_ID_LENGTH bytes (escaped into the URL); status is 0, 1 or 2. */
int mmc_client_set_webhook_status(mmc_client *client, const char *id, size_t id_length, int status,
                                  mmc_result *result);

/* POST .../webhook/link-config: creates or replaces the subscription. 0 or -1. The subscriber
 * key is wiped from the client's buffers after the call and redacted from any message. */
int mmc_client_set_webhook_config(mmc_client *client, const mmc_webhook_config *config,
                                  mmc_result *result);

/* GET .../webhook/link-config[?corpId=&spId=]: the subscription (corp_id, sp_id: NULL or ""
 * for none). 0 or -1. */
int mmc_client_get_webhook_config(mmc_client *client, const char *corp_id, const char *sp_id,
                                  mmc_result *result);

/* DELETE .../webhook/link-config?id=<id>. 0 or -1. */
int mmc_client_delete_webhook_config(mmc_client *client, const char *id, size_t id_length,
                                     mmc_result *result);

/* The one way an API request with the token is made: checks the call (a bad method, path or
 * header is a -1 with a message), builds the URL on the configured endpoint, authenticates
 * when needed, sends with retries when allowed, re-authenticates once after a 401, and judges
 * the answer as every operation does. 0 or -1. The operations below take the same path
 * (call.c, then engine.c, as a batch of one): one copy of the token, retry and result logic.
 * The answer's header lines are then mmc_client_answer_headers'. */
int mmc_client_request(mmc_client *client, const mmc_api_call *call, mmc_result *result);

/* The header lines ("Name: value\r\n" each, secrets redacted) of the answer mmc_client_request
 * last returned, or NULL when none arrived; valid until the client's next call. */
const mmc_buffer *mmc_client_answer_headers(const mmc_client *client);

/* The exchanges of the client's last call, when it records them (config.record_exchanges);
 * valid until its next call. */
const mmc_exchange_log *mmc_client_exchanges(const mmc_client *client);

/* Appends a description of the client's proxy without credentials: the URL, "none" (turned
 * off) or "from the environment". 0 or -1. */
int mmc_client_describe_proxy(const mmc_client *client, mmc_buffer *out);

/* DELETE /v1/usg/acs/token: invalidates the client's token. Whatever the answer, the client
 * forgets the token (and takes it out of a token cache that still holds it). With no token
 * there is nothing to log out: -1, status 0, and a message saying so. */
int mmc_client_logout(mmc_client *client, mmc_result *result);

/* A sentence saying what is wrong with `config`, or NULL when it can be sent. */
const char *mmc_webhook_config_problem(const mmc_webhook_config *config);

/* A sentence saying what is wrong with these optional tenant ids, or NULL. */
const char *mmc_tenant_ids_problem(const char *corp_id, const char *sp_id);

/* Shares the client's token through `cache` (token_cache.h) from now on; NULL stops it. The
 * cache must outlive its use: the Lua face sets it for the length of one call. */
void mmc_client_use_token_cache(mmc_client *client, const mmc_token_cache *cache);

/* Seconds a whole call may take. */
double mmc_client_timeout(const mmc_client *client);

/* The app id and endpoint, for a description of the client. */
const char *mmc_client_app_id(const mmc_client *client);
const char *mmc_client_endpoint(const mmc_client *client);

void mmc_result_init(mmc_result *result);
/* The same, its message charged to `memory` (memory.h). */
void mmc_result_init_in(mmc_result *result, mmc_memory *memory);
/* The account a client's storage is charged to. */
mmc_memory *mmc_client_memory(const mmc_client *client);
void mmc_result_free(mmc_result *result);

#endif
