#include "client.h"
#include "client_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <curl/curl.h>

#include "appauth.h"
#include "clock.h"
#include "crypto.h"
#include "json_scan.h"
#include "json_write.h"
#include "message.h"
#include "redact.h"
#include "proxy.h"
#include "retry.h"
#include "request.h"
#include "token.h"
#include "token_cache.h"
#include "transport.h"
#include "url.h"
#include "version.h"


void mmc_config_defaults(mmc_config *config) {
    memset(config, 0, sizeof *config);
    config->ssl_verify = 1;
    config->timeout = MMC_DEFAULT_TIMEOUT;
    config->connect_timeout = MMC_DEFAULT_CONNECT_TIMEOUT;
    config->max_body = MMC_DEFAULT_MAX_BODY;
    config->retries = MMC_DEFAULT_RETRIES;
}

void mmc_result_init(mmc_result *result) {
    result->status = 0;
    mmc_buffer_init(&result->message);
    result->body = NULL;
    result->body_length = 0;
    result->body_is_json = 0;
}

void mmc_result_free(mmc_result *result) {
    mmc_buffer_free(&result->message);
    result->body = NULL;
    result->body_length = 0;
}

static void result_reset(mmc_result *result) {
    result->status = 0;
    mmc_buffer_clear(&result->message);
    result->body = NULL;
    result->body_length = 0;
    result->body_is_json = 0;
}

static void free_secret(char *text) {
    if (text != NULL) {
        mmc_wipe(text, strlen(text));
        free(text);
    }
}

/* A copy of an optional string: NULL and "" both stay NULL. Returns -1 when out of memory. */
static int copy_optional(char **to, const char *from) {
    *to = NULL;
    if (from == NULL || from[0] == '\0')
        return 0;
    *to = strdup(from);
    return *to != NULL ? 0 : -1;
}

/* 1 when an optional identifier is absent, or valid UTF-8 of at most `max_bytes` bytes. */
static int is_short_utf8(const char *text, size_t max_bytes) {
    if (text == NULL)
        return 1;
    size_t length = strlen(text);
    return length <= max_bytes && mmc_utf8_is_valid(text, length);
}

/* Checks what the API or the transport would reject later, so the mistake is reported where
 * it was made. Returns a sentence, or NULL when the config is usable. */
static const char *config_problem(const mmc_config *config) {
    const char *endpoint = config->endpoint ? config->endpoint : MMC_DEFAULT_ENDPOINT;
    const char *endpoint_problem = mmc_url_endpoint_problem(endpoint, config->allow_http);
    if (endpoint_problem != NULL)
        return endpoint_problem;
    if (!is_short_utf8(config->app_id, MMC_APPAUTH_MAX_APP_ID))
        return "app_id must be 1 to 64 characters of UTF-8";
    if (!is_short_utf8(config->user_id, 64))
        return "user_id must be at most 64 characters of UTF-8";
    if (config->corp_id != NULL && config->corp_id[0] != '\0' && !config->sp_mode)
        return "corp_id is only used in SP mode (set sp = true)";
    if (!is_short_utf8(config->corp_id, 64))
        return "corp_id must be at most 64 characters of UTF-8";
    if (!(config->timeout > 0 && config->timeout <= MMC_MAX_TIMEOUT))
        return "timeout must be a number of seconds above 0 and at most 3600";
    if (!(config->connect_timeout > 0 && config->connect_timeout <= MMC_MAX_TIMEOUT))
        return "connect_timeout must be a number of seconds above 0 and at most 3600";
    if (config->max_body == 0)
        return "max_body must be at least 1 byte";
    if (config->retries < 0 || config->retries > MMC_MAX_RETRIES)
        return "retries must be a whole number from 0 to 10";
    if (config->proxy != NULL && config->proxy[0] != '\0')
        return mmc_proxy_problem(config->proxy);
    return NULL;
}

/* The system's reason for `error`, from either flavour of strerror_r (GNU or XSI), since
 * strerror itself need not be thread-safe. */
static const char *system_reason(int error, char *buffer, size_t size) {
#if defined(__GLIBC__) && defined(_GNU_SOURCE)
    return strerror_r(error, buffer, size);
#else
    return strerror_r(error, buffer, size) == 0 ? buffer : "unknown error";
#endif
}

/* 1 when a line (its first bytes, `head`) opens a certificate, as OpenSSL reads a PEM file. */
static int opens_certificate(const char *head, size_t length) {
    static const char *const openings[] = {"-----BEGIN CERTIFICATE-----",
                                           "-----BEGIN X509 CERTIFICATE-----",
                                           "-----BEGIN TRUSTED CERTIFICATE-----"};
    for (size_t i = 0; i < sizeof openings / sizeof openings[0]; i++) {
        size_t opening_length = strlen(openings[i]);
        if (length >= opening_length && memcmp(head, openings[i], opening_length) == 0)
            return 1;
    }
    return 0;
}

/* Checks ca_file when the client is made, so that a file the process may not read (an nginx
 * worker running as nobody), a directory or a file with no PEM certificate is reported then,
 * with its path and the system's reason, instead of as a TLS failure at the first call.
 * libcurl reads the file itself at each new connection; this only looks for the first line
 * that opens a certificate (within MMC_CA_FILE_SCAN_LIMIT bytes). 0, or -1 with a sentence
 * appended to `problem`. */
static int ca_file_problem(const char *path, mmc_buffer *problem) {
    char reason[128];
    int error = 0, found = 0;
    /* O_NONBLOCK: opening a FIFO must not wait for a writer. */
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    struct stat status;
    if (fd < 0 || fstat(fd, &status) != 0) {
        error = errno;
    } else if (S_ISREG(status.st_mode)) {
        char chunk[4096], head[40];
        size_t head_length = 0, scanned = 0;
        while (!found && scanned < MMC_CA_FILE_SCAN_LIMIT) {
            ssize_t got = read(fd, chunk, sizeof chunk);
            if (got < 0 && errno == EINTR)
                continue;
            if (got < 0)
                error = errno;
            if (got <= 0)
                break;
            scanned += (size_t)got;
            for (ssize_t i = 0; i < got && !found; i++) {
                if (chunk[i] == '\n') {
                    found = opens_certificate(head, head_length);
                    head_length = 0;
                } else if (head_length < sizeof head) {
                    head[head_length++] = chunk[i];
                }
            }
        }
        found = found || (error == 0 && opens_certificate(head, head_length)); /* last line */
    }
    if (fd >= 0)
        close(fd);
    if (found)
        return 0;
    mmc_buffer_append_string(problem, "ca_file '");
    mmc_message_append_clean(problem, path, strlen(path), 256);
    if (error == EACCES)
        mmc_buffer_append_format(problem, "' cannot be read: %s (this process runs as uid %u)",
                                 system_reason(error, reason, sizeof reason), (unsigned)geteuid());
    else if (error != 0)
        mmc_buffer_append_format(problem, "' cannot be read: %s",
                                 system_reason(error, reason, sizeof reason));
    else if (S_ISDIR(status.st_mode))
        mmc_buffer_append_string(problem, "' is a directory: give a PEM file of CA certificates");
    else if (!S_ISREG(status.st_mode))
        mmc_buffer_append_string(problem,
                                 "' is not a regular file: give a PEM file of CA certificates");
    else
        mmc_buffer_append_string(
            problem, "' holds no PEM certificate (no -----BEGIN CERTIFICATE----- line)");
    return -1;
}

static long to_milliseconds(double seconds) {
    double ms = ceil(seconds * 1000);
    return ms < 1 ? 1 : (long)ms;
}

mmc_client *mmc_client_new(const mmc_config *config, mmc_buffer *problem) {
    const char *bad = config_problem(config);
    if (bad != NULL) {
        mmc_buffer_append_string(problem, bad);
        return NULL;
    }
    if (config->ca_file != NULL && ca_file_problem(config->ca_file, problem) != 0)
        return NULL;
    mmc_client *client = calloc(1, sizeof *client);
    if (client == NULL) {
        mmc_buffer_append_string(problem, "out of memory");
        return NULL;
    }
    mmc_token_init(&client->token);
    mmc_buffer_init(&client->cache_key);
    mmc_buffer_init(&client->cache_value);
    mmc_buffer_init(&client->url);
    mmc_buffer_init(&client->request);
    mmc_redactor_init(&client->redactor);
    mmc_buffer_init(&client->query);
    mmc_buffer_init(&client->header_text);
    mmc_exchange_log_init(&client->exchanges);
    client->record_exchanges = config->record_exchanges;
    client->sp_mode = config->sp_mode;
    client->timeout = config->timeout;
    client->retries = config->retries;

    const char *endpoint = config->endpoint ? config->endpoint : MMC_DEFAULT_ENDPOINT;
    size_t endpoint_length = strlen(endpoint);
    while (endpoint_length > 0 && endpoint[endpoint_length - 1] == '/')
        endpoint_length--;
    client->endpoint = strndup(endpoint, endpoint_length);
    if (client->endpoint == NULL || copy_optional(&client->app_id, config->app_id) != 0 ||
        copy_optional(&client->app_key, config->app_key) != 0 ||
        copy_optional(&client->user_id, config->user_id) != 0 ||
        copy_optional(&client->corp_id, config->corp_id) != 0 ||
        (config->proxy != NULL && (client->proxy = strdup(config->proxy)) == NULL)) {
        mmc_buffer_append_string(problem, "out of memory");
        mmc_client_free(client);
        return NULL;
    }
    if (client->app_id != NULL && client->app_key != NULL &&
        mmc_token_cache_key(client->app_key, client->endpoint, client->app_id, client->user_id,
                            client->corp_id, &client->cache_key) != 0) {
        mmc_buffer_append_string(problem, "out of memory");
        mmc_client_free(client);
        return NULL;
    }

    char user_agent[128];
    snprintf(user_agent, sizeof user_agent, "mmc/%s libcurl/%s", MMC_VERSION,
             curl_version_info(CURLVERSION_NOW)->version);
    mmc_transport_options options = {
        .connect_timeout_ms = to_milliseconds(config->connect_timeout),
        .max_body = config->max_body,
        .ssl_verify = config->ssl_verify,
        .allow_http = config->allow_http,
        .ca_file = config->ca_file,
        .user_agent = user_agent,
        .proxy = client->proxy,
        .no_proxy = config->no_proxy,
    };
    if (mmc_transport_open(&client->transport, &options, problem) != 0) {
        mmc_client_free(client);
        return NULL;
    }
    return client;
}

void mmc_client_free(mmc_client *client) {
    if (client == NULL)
        return;
    mmc_engine_free(client->engine);
    mmc_transport_close(&client->transport);
    mmc_token_free(&client->token);
    mmc_buffer_free(&client->cache_key);
    mmc_buffer_free(&client->cache_value);
    mmc_buffer_free(&client->url);
    mmc_buffer_free(&client->request);
    mmc_redactor_free(&client->redactor);
    mmc_buffer_free(&client->query);
    mmc_buffer_free(&client->header_text);
    free(client->headers);
    mmc_exchange_log_free(&client->exchanges);
    free_secret(client->proxy);
    free_secret(client->app_key);
    free_secret(client->app_id);
    free_secret(client->user_id);
    free_secret(client->corp_id);
    free(client->endpoint);
    free(client);
}

const char *mmc_client_missing_credential(const mmc_client *client) {
    if (client->app_id == NULL)
        return "app_id";
    if (client->app_key == NULL)
        return "app_key";
    return NULL;
}

const char *mmc_client_app_id(const mmc_client *client) {
    return client->app_id != NULL ? client->app_id : "";
}

const char *mmc_client_endpoint(const mmc_client *client) {
    return client->endpoint;
}

double mmc_client_timeout(const mmc_client *client) {
    return client->timeout;
}

void mmc_client_use_token_cache(mmc_client *client, const mmc_token_cache *cache) {
    client->cache = cache;
}

/* Starts the clock of a public call: everything it does shares one timeout. */
static void start_call(mmc_client *client, mmc_result *result) {
    result_reset(result);
    client->deadline = mmc_clock_monotonic() + client->timeout;
    if (client->record_exchanges)
        mmc_exchange_log_clear(&client->exchanges);
}

/* Notes one exchange in the client's log: its API path is the URL past the endpoint, up to
 * the query. */
static mmc_exchange *record_exchange(mmc_client *client, const mmc_request *request,
                                     const mmc_response *response, int outcome, double seconds) {
    size_t endpoint_length = strlen(client->endpoint);
    const char *path = request->url;
    if (strncmp(path, client->endpoint, endpoint_length) == 0)
        path += endpoint_length;
    mmc_exchange *entry =
        mmc_exchange_log_add(&client->exchanges, request->method, path, strcspn(path, "?"),
                             client->transport.sent_request_id);
    if (entry == NULL)
        return NULL;
    entry->seconds = seconds;
    if (outcome == 0) {
        entry->status = response->status;
    } else {
        entry->error = client->transport.failure_kind;
        if (entry->error == NULL)
            entry->error = "request failed";
    }
    return entry;
}

/* Sets the wait before the retry that follows the last recorded exchange. */
static void note_retry(mmc_client *client, double wait) {
    if (client->record_exchanges && client->exchanges.count > 0)
        client->exchanges.entries[client->exchanges.count - 1].retry_in = wait;
}

/* A connection that failed through a proxy the client was given failed to the proxy: the API's
 * host is the proxy's to reach, and a proxy that cannot reach it answers CONNECT with an error
 * (a "proxy failed"). libcurl's message names only an address, so say that it was the proxy,
 * and which one (without its credentials). (A proxy's name that does not resolve, libcurl
 * already calls "Could not resolve proxy".) */
static void name_proxy_of(mmc_client *client, const mmc_transport *transport,
                          mmc_result *result) {
    const char *kind = transport->failure_kind;
    if (client->proxy == NULL || client->proxy[0] == '\0' || kind == NULL ||
        strcmp(kind, "connection failed") != 0)
        return;
    mmc_buffer named;
    mmc_buffer_init(&named);
    if (mmc_buffer_append_format(&named, "proxy %s (proxy ", mmc_buffer_text(&result->message)) ==
            0 &&
        mmc_proxy_describe(&named, client->proxy) == 0 && mmc_buffer_append_string(&named, ")") == 0) {
        mmc_buffer_free(&result->message);
        result->message = named;
    } else {
        mmc_buffer_free(&named);
    }
}

static void name_the_proxy(mmc_client *client, mmc_result *result) {
    name_proxy_of(client, &client->transport, result);
}

void mmc_client_name_the_proxy(mmc_client *client, const mmc_transport *transport,
                               mmc_result *result) {
    name_proxy_of(client, transport, result);
}

/* Sends one request within what is left of the call's time. 0 when an answer arrived. */
static int send_request(mmc_client *client, mmc_request *request, mmc_response *response,
                        mmc_result *result) {
    double left = client->deadline - mmc_clock_monotonic();
    if (left <= 0) {
        mmc_buffer_append_format(&result->message, "timed out: the call took longer than %g s",
                                 client->timeout);
        return -1;
    }
    request->timeout_ms = to_milliseconds(left);
    double started = client->record_exchanges ? mmc_clock_monotonic() : 0;
    int outcome = mmc_transport_perform(&client->transport, request, response, &result->message);
    if (client->record_exchanges)
        record_exchange(client, request, response, outcome, mmc_clock_monotonic() - started);
    if (outcome != 0)
        name_the_proxy(client, result);
    return outcome;
}

/* send_request, again after a failure or an answer worth retrying, when `idempotent` (see
 * client.h, "Retries", and retry.h for the waits). Returns what the last attempt returned. */
static int send_with_retries(mmc_client *client, mmc_request *request, mmc_response *response,
                             mmc_result *result, int idempotent) {
    for (int attempt = 0;; attempt++) {
        int outcome = send_request(client, request, response, result);
        if (!idempotent || attempt >= client->retries)
            return outcome;
        double wait, shortest = 0;
        if (outcome != 0 && client->transport.failure_is_transient)
            wait = mmc_retry_backoff(attempt);
        else if (outcome != 0 ||
                 !mmc_retry_after_answer(attempt, response->status, response->body,
                                         response->body_length, response->retry_after, &wait,
                                         &shortest))
            return outcome;
        wait = mmc_retry_fit(wait, shortest, client->deadline - mmc_clock_monotonic());
        if (wait < 0)
            return outcome;
        note_retry(client, wait);
        mmc_clock_sleep(wait);
        mmc_buffer_clear(&result->message); /* this attempt's failure is not the call's */
    }
}

static int is_success(long status) {
    return status >= 200 && status < 300;
}

/* Takes every part of the call's secrets (the app key, the token, and `extra`, a subscriber
 * key, when given) out of the result's message and out of the body it returns, however the
 * server wrote them (redact.h). A body that cannot be shown without one is not returned. */
static void redact_in(mmc_client *client, mmc_result *result, const char *extra, mmc_buffer *body,
                      mmc_buffer *headers) {
    size_t proxy_user_info_length = 0;
    const char *proxy_user_info =
        client->proxy != NULL ? mmc_proxy_user_info(client->proxy, &proxy_user_info_length) : NULL;
    const char *proxy_password =
        proxy_user_info != NULL ? memchr(proxy_user_info, ':', proxy_user_info_length) : NULL;
    if (proxy_password != NULL)
        proxy_password++;
    mmc_secret secrets[] = {
        {client->app_key, client->app_key != NULL ? strlen(client->app_key) : 0},
        {client->token.value.data, client->token.value.length},
        {extra, extra != NULL ? strlen(extra) : 0},
        /* the proxy's "user:password", and the password on its own */
        {proxy_user_info, proxy_user_info_length},
        {proxy_password,
         proxy_password != NULL
             ? proxy_user_info_length - (size_t)(proxy_password - proxy_user_info)
             : 0},
    };
    int owns_body = result->body != NULL && result->body == body->data;
    if (mmc_redactor_prepare(&client->redactor, secrets, sizeof secrets / sizeof secrets[0]) != 0) {
        /* Out of memory: nothing that may hold a secret is handed back. */
        mmc_buffer_clear(&result->message);
        if (owns_body)
            mmc_buffer_clear(body);
        if (headers != NULL)
            mmc_buffer_clear(headers);
    } else {
        mmc_redactor_text(&client->redactor, &result->message);
        if (headers != NULL)
            mmc_redactor_text(&client->redactor, headers);
        if (owns_body && result->body_is_json)
            mmc_redactor_json(&client->redactor, body);
        else if (owns_body)
            mmc_redactor_text(&client->redactor, body);
    }
    if (owns_body) { /* redacted in place or rebuilt; emptied when withheld */
        result->body = body->length > 0 ? body->data : NULL;
        result->body_length = body->length;
        result->body_is_json = result->body != NULL && result->body_is_json;
    }
}

static void redact(mmc_client *client, mmc_result *result, const char *extra) {
    redact_in(client, result, extra, &client->transport.body, NULL);
}

void mmc_client_redact(mmc_client *client, mmc_result *result, mmc_buffer *body,
                       mmc_buffer *headers) {
    redact_in(client, result, NULL, body, headers);
}

/* The last step of every call: no message or body leaves the core holding a secret. */
static int finish(mmc_client *client, mmc_result *result, int outcome) {
    redact(client, result, NULL);
    return outcome;
}

static void take_answer(mmc_result *result, const mmc_response *response) {
    result->status = response->status;
    result->body = response->body;
    result->body_length = response->body_length;
    result->body_is_json = 0;
}

/* An answer was received: on an error status, describe it; on success, check the body is
 * JSON when there is one. 0 for a 2xx with a usable body, else -1. */
static int judge_answer(mmc_result *result, const mmc_response *response) {
    take_answer(result, response);
    mmc_json_status json = MMC_JSON_INVALID;
    if (response->body_length > 0) {
        json = mmc_json_scan(response->body, response->body_length, NULL, 0);
        result->body_is_json = json == MMC_JSON_OK || json == MMC_JSON_NOT_OBJECT;
    }
    if (!is_success(response->status)) {
        mmc_message_append_http_error(&result->message, response->status, response->body,
                                      response->body_length, response->request_id);
        return -1;
    }
    if (response->body_length > 0 && !result->body_is_json) {
        mmc_buffer_append_format(&result->message, "HTTP %ld with a body that is not JSON (%s)",
                                 response->status, mmc_json_status_text(json));
        return -1;
    }
    return 0;
}

int mmc_client_judge_answer(mmc_result *result, const mmc_response *response) {
    return judge_answer(result, response);
}

/* Wipes the tokens out of an authentication answer, in the client's buffer, once they have
 * been read: the access token lives in the client alone, and the refresh token (never used)
 * nowhere. The body returned then reads "accessToken": null. */
static void wipe_answer_tokens(mmc_client *client, const mmc_result *result) {
    static const char *const members[] = {"accessToken", "refreshToken"};
    mmc_buffer *body = &client->transport.body;
    if (result->body_is_json && result->body == body->data)
        mmc_redact_drop_members(body->data, body->length, members, 2);
}

/* One App ID authentication. On success the client holds the new token. It uses buffers of
 * its own, since it may run in the middle of another call whose request is already built. */
static int authenticate(mmc_client *client, mmc_result *result) {
    mmc_credentials credentials = {client->app_id, client->app_key, client->user_id,
                                   client->corp_id, client->sp_mode};
    char nonce[2 * MMC_APPAUTH_NONCE_BYTES + 1];
    mmc_buffer url, body, authorization, token;
    mmc_response response;
    int outcome = -1;

    mmc_buffer_init(&url);
    mmc_buffer_init(&body);
    mmc_buffer_init(&authorization);
    mmc_buffer_init(&token);
    double sent_at = mmc_clock_monotonic();
    long long unix_now = mmc_clock_unix();
    if (mmc_random_hex(MMC_APPAUTH_NONCE_BYTES, nonce, sizeof nonce) != 0 ||
        mmc_appauth_build(&credentials, unix_now, nonce, &body, &authorization) != 0 ||
        mmc_buffer_append_format(&url, "%s%s", client->endpoint, MMC_APPAUTH_PATH) != 0) {
        mmc_buffer_append_string(&result->message, "could not build the authentication request");
        goto done;
    }
    mmc_request request = {"POST", url.data, NULL, authorization.data, body.data, body.length,
                           0,      NULL,     0,    0};
    if (send_with_retries(client, &request, &response, result, 1) != 0)
        goto done;
    if (judge_answer(result, &response) != 0) {
        if (response.status == 401) /* the app id, or the signature made with the app key */
            mmc_buffer_append_string(&result->message, MMC_CREDENTIALS_HINT);
    } else {
        double lifetime = -1;
        const char *problem = NULL;
        mmc_token_forget(&client->token);
        if (mmc_appauth_read_grant(response.body, response.body_length, unix_now, &token, &lifetime,
                                   &problem) != 0)
            mmc_buffer_append_string(&result->message, problem);
        else if (mmc_token_store(&client->token, token.data, token.length, lifetime, sent_at) != 0)
            mmc_buffer_append_string(&result->message, "out of memory");
        else
            outcome = 0;
    }
    wipe_answer_tokens(client, result);
done:
    mmc_buffer_free(&url);
    mmc_buffer_free(&body);
    mmc_buffer_free(&authorization);
    mmc_buffer_free(&token);
    return outcome;
}

static int has_cache(const mmc_client *client) {
    return client->cache != NULL && client->cache_key.length > 0;
}

/* Asks the cache for a token other than the one the server just refused (when
 * `after_rejection`). 1 when the client now holds the cache's token, 0 when it has none to
 * give, -1 when the cache cannot be used. */
static int take_shared_token(mmc_client *client, int after_rejection) {
    const char *stale =
        after_rejection && client->cache_value.length > 0 ? client->cache_value.data : NULL;
    double left = client->deadline - mmc_clock_monotonic();
    mmc_buffer value;
    mmc_buffer_init(&value);
    int taken = 0;
    int loaded = client->cache->load(client->cache->context, client->cache_key.data, stale,
                                     left > 0 ? left / 2 : 0, &value);
    if (loaded < 0)
        taken = -1;
    else if (loaded == 1) {
        const char *token = NULL;
        size_t token_length = 0;
        long long renew_at = 0;
        long long now_unix = mmc_clock_unix();
        double now = mmc_clock_monotonic();
        if (mmc_token_cache_decode(value.data, value.length, now_unix, &token, &token_length,
                                   &renew_at) == 0 &&
            mmc_token_adopt(&client->token, token, token_length,
                            renew_at == 0 ? 0 : now + (double)(renew_at - now_unix)) == 0) {
            mmc_buffer swap = client->cache_value;
            client->cache_value = value;
            value = swap;
            taken = 1;
        }
    }
    mmc_buffer_free(&value);
    return taken;
}

/* Gives the cache the token just obtained (or, after a failed authentication, nothing), with a
 * time to live that ends when clients are due to renew it. A token with less than a second
 * left is not worth sharing. */
static void share_token(mmc_client *client, int authenticated) {
    const mmc_token_cache *cache = client->cache;
    long long renew_at = 0;
    double ttl = 0;
    if (authenticated && client->token.renew_at != 0) {
        double left = client->token.renew_at - mmc_clock_monotonic();
        long long now_unix = mmc_clock_unix();
        authenticated = left >= 1;
        renew_at = now_unix + (long long)left; /* rounded down: early rather than late */
        ttl = (double)(renew_at - now_unix);
    }
    if (authenticated &&
        mmc_token_cache_encode(client->token.value.data, client->token.value.length, renew_at,
                               &client->cache_value) == 0)
        cache->save(cache->context, client->cache_key.data, client->cache_value.data,
                    client->cache_value.length, ttl);
    else
        cache->save(cache->context, client->cache_key.data, NULL, 0, 0);
}

/* A token for the next request: the cache's, when it has one, else a new authentication
 * (which the cache then shares). */
static int obtain_token(mmc_client *client, mmc_result *result, int after_rejection) {
    if (!has_cache(client))
        return authenticate(client, result);
    int taken = take_shared_token(client, after_rejection);
    if (taken == 1)
        return 0;
    if (taken < 0) {
        mmc_buffer_append_string(&result->message, "the token store cannot be used");
        return -1;
    }
    int outcome = authenticate(client, result);
    share_token(client, outcome == 0);
    return outcome;
}

static void mark_as_authentication(mmc_result *result);

int mmc_client_obtain_token(mmc_client *client, mmc_result *result, int after_rejection) {
    if (obtain_token(client, result, after_rejection) == 0)
        return 0;
    mark_as_authentication(result);
    return -1;
}

int mmc_client_auth(mmc_client *client, mmc_result *result) {
    start_call(client, result);
    int outcome = authenticate(client, result);
    if (has_cache(client))
        share_token(client, outcome == 0);
    return finish(client, result, outcome);
}

/* Puts "authentication failed: " before the message of a failed authentication, so that a
 * caller of another call can tell which step failed. */
static void mark_as_authentication(mmc_result *result) {
    mmc_buffer marked;
    mmc_buffer_init(&marked);
    if (mmc_buffer_append_format(&marked, "authentication failed: %s",
                                 mmc_buffer_text(&result->message)) == 0) {
        mmc_buffer_free(&result->message);
        result->message = marked;
    } else {
        mmc_buffer_free(&marked);
    }
}

/* Sends the request prepared in client->url (and client->request, when it has a body, and
 * client->headers) with the token: authenticates first when needed (`may_authenticate`), and
 * once more after a 401, retrying once. */
static int call_with_token(mmc_client *client, const char *method, int idempotent,
                           int may_authenticate, mmc_result *result) {
    for (int attempt = 0;; attempt++) {
        if (may_authenticate && !mmc_token_is_fresh(&client->token, mmc_clock_monotonic())) {
            if (obtain_token(client, result, attempt > 0) != 0) {
                mark_as_authentication(result);
                return -1;
            }
            result_reset(result);
        }
        mmc_request request = {method,
                               client->url.data,
                               client->token.value.data,
                               NULL,
                               client->request.length ? client->request.data : NULL,
                               client->request.length,
                               0,
                               client->header_count ? client->headers : NULL,
                               client->header_count,
                               !idempotent};
        mmc_response response;
        if (send_with_retries(client, &request, &response, result, idempotent) != 0)
            return -1;
        if (response.status == 401 && attempt == 0 && may_authenticate) {
            note_retry(client, 0);
            mmc_token_forget(&client->token);
            continue;
        }
        return judge_answer(result, &response);
    }
}

/* Copies the call's extra headers into the client, which keeps them for every attempt. */
static int keep_headers(mmc_client *client, const mmc_header *headers, size_t count) {
    client->header_count = 0;
    mmc_buffer_clear(&client->header_text);
    if (count == 0)
        return 0;
    if (count > client->header_capacity) {
        mmc_header *grown = realloc(client->headers, count * sizeof *grown);
        if (grown == NULL)
            return -1;
        client->headers = grown;
        client->header_capacity = count;
    }
    for (size_t i = 0; i < count; i++)
        if (mmc_buffer_append(&client->header_text, headers[i].name, headers[i].name_length) != 0 ||
            mmc_buffer_append(&client->header_text, headers[i].value, headers[i].value_length) != 0)
            return -1;
    size_t offset = 0;
    for (size_t i = 0; i < count; i++) {
        mmc_header *kept = &client->headers[i];
        kept->name = client->header_text.data + offset;
        kept->name_length = headers[i].name_length;
        offset += kept->name_length;
        kept->value = client->header_text.data + offset;
        kept->value_length = headers[i].value_length;
        offset += kept->value_length;
    }
    client->header_count = count;
    return 0;
}

/* A sentence saying what is wrong with the call, or NULL. */
static const char *call_problem(const mmc_api_call *call) {
    if (mmc_request_known_method(call->method) == NULL)
        return "method must be GET, POST, PUT, DELETE or PATCH";
    const char *problem = mmc_request_body_problem(call->method, call->body != NULL);
    if (problem == NULL)
        problem = mmc_request_path_problem(call->path, call->path_length);
    for (size_t i = 0; problem == NULL && i < call->header_count; i++)
        problem = mmc_request_header_problem(&call->headers[i]);
    if (problem == NULL && call->query_length > MMC_MAX_QUERY_LENGTH)
        problem = "query is longer than 8192 bytes";
    return problem;
}

/* Appends "?" and the call's query to the URL being built, when it has one. 0 or -1. */
static int append_call_query(mmc_buffer *url, const mmc_api_call *call) {
    if (call->query_length == 0 && call->query_pair_count == 0)
        return 0;
    if (mmc_buffer_append(url, "?", 1) != 0)
        return -1;
    if (call->query_length > 0)
        return mmc_buffer_append(url, call->query, call->query_length);
    return mmc_request_build_query(url, call->query_pairs, call->query_pair_count);
}

/* The body of every operation once its call is described: the call's started (start_call),
 * and what it returns still needs finish(). Every request with a token goes through here. */
static int make_request(mmc_client *client, const mmc_api_call *call, int may_authenticate,
                        mmc_result *result) {
    const char *problem = call_problem(call);
    if (problem != NULL) {
        mmc_buffer_append_string(&result->message, problem);
        return -1;
    }
    mmc_buffer_clear(&client->url);
    if (call->body != client->request.data)
        mmc_buffer_clear(&client->request);
    if (mmc_buffer_append_string(&client->url, client->endpoint) != 0 ||
        mmc_buffer_append(&client->url, call->path, call->path_length) != 0 ||
        append_call_query(&client->url, call) != 0 ||
        (call->body != NULL && call->body != client->request.data &&
         mmc_buffer_append(&client->request, call->body, call->body_length) != 0) ||
        keep_headers(client, call->headers, call->header_count) != 0) {
        mmc_buffer_clear(&client->request);
        mmc_buffer_append_string(&result->message, "out of memory");
        return -1;
    }
    const char *method = mmc_request_known_method(call->method);
    int idempotent =
        call->retry == MMC_RETRY_AS_METHOD ? mmc_request_method_is_idempotent(method) : call->retry;
    int outcome = call_with_token(client, method, idempotent, may_authenticate, result);
    mmc_buffer_clear(&client->request); /* it may have held a secret (a subscriber key) */
    keep_headers(client, NULL, 0);
    return outcome;
}

const char *mmc_client_call_problem(const mmc_api_call *call) {
    return call_problem(call);
}

int mmc_client_call_url(const mmc_client *client, const mmc_api_call *call, mmc_buffer *url) {
    return mmc_buffer_append_string(url, client->endpoint) != 0 ||
                   mmc_buffer_append(url, call->path, call->path_length) != 0 ||
                   append_call_query(url, call) != 0
               ? -1
               : 0;
}

int mmc_client_request(mmc_client *client, const mmc_api_call *call, mmc_result *result) {
    start_call(client, result);
    return finish(client, result, make_request(client, call, 1, result));
}

const mmc_exchange_log *mmc_client_exchanges(const mmc_client *client) {
    return &client->exchanges;
}

int mmc_client_describe_proxy(const mmc_client *client, mmc_buffer *out) {
    if (client->proxy == NULL)
        return mmc_buffer_append_string(out, "from the environment");
    if (client->proxy[0] == '\0')
        return mmc_buffer_append_string(out, "none");
    return mmc_proxy_describe(out, client->proxy);
}

/* A call on one of the fixed API paths. */
static mmc_api_call fixed_call(const char *method, const char *path, const mmc_buffer *query) {
    mmc_api_call call = {
        .method = method, .path = path, .path_length = strlen(path), .retry = MMC_RETRY_AS_METHOD};
    if (query != NULL && query->length > 0) {
        call.query = query->data;
        call.query_length = query->length;
    }
    return call;
}

int mmc_client_set_webhook_status(mmc_client *client, const char *id, size_t id_length, int status,
                                  mmc_result *result) {
    start_call(client, result);
    mmc_buffer_clear(&client->query);
    if (id_length == 0 || id_length > MMC_MAX_ID_LENGTH || status < MMC_ENABLE ||
        status > MMC_LOCK) {
        mmc_buffer_append_string(&result->message, "invalid id or status");
        return -1;
    }
    /* Without printf: this runs on every call (bench/run's callgrind mode counts it). */
    char status_part[] = "&status=0";
    status_part[sizeof status_part - 2] = (char)('0' + status);
    if (mmc_buffer_append(&client->query, "id=", 3) != 0 ||
        mmc_url_append_escaped(&client->query, id, id_length) != 0 ||
        mmc_buffer_append(&client->query, status_part, sizeof status_part - 1) != 0) {
        mmc_buffer_append_string(&result->message, "out of memory");
        return -1;
    }
    mmc_api_call call = fixed_call("PUT", MMC_WEBHOOK_STATUS_PATH, &client->query);
    return finish(client, result, make_request(client, &call, 1, result));
}

/* ---- event-push subscription ---------------------------------------------------------- */

/* 1 when an optional text is absent, or valid UTF-8 of at most `max_bytes` bytes with no
 * control character (these end up in JSON bodies and URLs). */
static int is_short_text(const char *text, size_t max_bytes) {
    if (!is_short_utf8(text, max_bytes))
        return 0;
    for (size_t i = 0; text != NULL && text[i] != '\0'; i++)
        if ((unsigned char)text[i] < 0x20 || text[i] == 0x7f)
            return 0;
    return 1;
}

static int is_given(const char *text) {
    return text != NULL && text[0] != '\0';
}

const char *mmc_webhook_config_problem(const mmc_webhook_config *config) {
    if (!is_given(config->url) || strncmp(config->url, "https://", 8) != 0 ||
        config->url[8] == '\0')
        return "url must be an https:// URL";
    if (!is_short_text(config->url, MMC_MAX_URL_LENGTH) || strpbrk(config->url, " \"<>\\^`{|}"))
        return "url must be at most 2048 bytes, with no space, control character or quote";
    if (!is_given(config->subscriber_id) ||
        !is_short_text(config->subscriber_id, MMC_MAX_SUBSCRIBER_ID_LENGTH))
        return "subscriber_id must be 1 to 64 bytes of UTF-8 text";
    if (!is_given(config->subscriber_key) ||
        !is_short_text(config->subscriber_key, MMC_MAX_SUBSCRIBER_KEY_LENGTH))
        return "subscriber_key must be 1 to 128 bytes of UTF-8 text";
    return mmc_tenant_ids_problem(config->corp_id, config->sp_id);
}

const char *mmc_tenant_ids_problem(const char *corp_id, const char *sp_id) {
    if (!is_short_text(corp_id, MMC_MAX_TENANT_ID_LENGTH))
        return "corp_id must be at most 64 bytes of UTF-8 text";
    if (!is_short_text(sp_id, MMC_MAX_TENANT_ID_LENGTH))
        return "sp_id must be at most 64 bytes of UTF-8 text";
    return NULL;
}

/* Appends ,"name":"value" (or "name":"value" first) when the value is given. */
static int append_member(mmc_buffer *body, const char *name, const char *value) {
    if (!is_given(value))
        return 0;
    return mmc_buffer_append_format(body, "%s\"%s\":", body->length > 1 ? "," : "", name) != 0 ||
                   mmc_json_append_string(body, value, strlen(value)) != 0
               ? -1
               : 0;
}

int mmc_client_set_webhook_config(mmc_client *client, const mmc_webhook_config *config,
                                  mmc_result *result) {
    start_call(client, result);
    const char *problem = mmc_webhook_config_problem(config);
    if (problem != NULL) {
        mmc_buffer_append_string(&result->message, problem);
        return -1;
    }
    mmc_buffer *body = &client->request;
    mmc_buffer_clear(body);
    if (mmc_buffer_append_string(body, "{") != 0 ||
        append_member(body, "subscriberId", config->subscriber_id) != 0 ||
        append_member(body, "subscriberKey", config->subscriber_key) != 0 ||
        append_member(body, "url", config->url) != 0 ||
        append_member(body, "corpId", config->corp_id) != 0 ||
        append_member(body, "spId", config->sp_id) != 0 ||
        mmc_buffer_append_string(body, "}") != 0) {
        mmc_buffer_clear(body);
        mmc_buffer_append_string(&result->message, "out of memory");
        return finish(client, result, -1);
    }
    mmc_api_call call = fixed_call("POST", MMC_WEBHOOK_CONFIG_PATH, NULL);
    call.body = body->data;
    call.body_length = body->length;
    int outcome = make_request(client, &call, 1, result); /* it clears the body */
    redact(client, result, config->subscriber_key); /* and the other secrets, as finish() */
    return outcome;
}

/* Appends name=value (after a '&' when the query has something), escaped, when the value is
 * given. */
static int append_query(mmc_buffer *query, const char *name, const char *value, size_t length) {
    if (value == NULL || length == 0)
        return 0;
    return mmc_buffer_append_format(query, "%s%s=", query->length > 0 ? "&" : "", name) != 0 ||
                   mmc_url_append_escaped(query, value, length) != 0
               ? -1
               : 0;
}

int mmc_client_get_webhook_config(mmc_client *client, const char *corp_id, const char *sp_id,
                                  mmc_result *result) {
    start_call(client, result);
    const char *problem = mmc_tenant_ids_problem(corp_id, sp_id);
    if (problem != NULL) {
        mmc_buffer_append_string(&result->message, problem);
        return -1;
    }
    mmc_buffer_clear(&client->query);
    if (append_query(&client->query, "corpId", corp_id, corp_id ? strlen(corp_id) : 0) != 0 ||
        append_query(&client->query, "spId", sp_id, sp_id ? strlen(sp_id) : 0) != 0) {
        mmc_buffer_append_string(&result->message, "out of memory");
        return finish(client, result, -1);
    }
    mmc_api_call call = fixed_call("GET", MMC_WEBHOOK_CONFIG_PATH, &client->query);
    return finish(client, result, make_request(client, &call, 1, result));
}

int mmc_client_delete_webhook_config(mmc_client *client, const char *id, size_t id_length,
                                     mmc_result *result) {
    start_call(client, result);
    if (id_length == 0 || id_length > MMC_MAX_ID_LENGTH) {
        mmc_buffer_append_string(&result->message, "invalid id");
        return -1;
    }
    mmc_buffer_clear(&client->query);
    if (append_query(&client->query, "id", id, id_length) != 0) {
        mmc_buffer_append_string(&result->message, "out of memory");
        return finish(client, result, -1);
    }
    mmc_api_call call = fixed_call("DELETE", MMC_WEBHOOK_CONFIG_PATH, &client->query);
    return finish(client, result, make_request(client, &call, 1, result));
}

int mmc_client_logout(mmc_client *client, mmc_result *result) {
    start_call(client, result);
    if (client->token.value.length == 0) {
        mmc_buffer_append_string(&result->message,
                                 "not logged in: the client holds no token to log out");
        return -1;
    }
    /* With the token it holds: no authentication first, none after a 401. */
    mmc_api_call call = fixed_call("DELETE", MMC_TOKEN_PATH, NULL);
    int outcome = make_request(client, &call, 0, result);
    /* Redact before the token is forgotten: finish() can no longer see it afterwards. */
    finish(client, result, outcome);
    if (has_cache(client) && client->cache->drop != NULL && client->cache_value.length > 0)
        client->cache->drop(client->cache->context, client->cache_key.data,
                            client->cache_value.data);
    mmc_buffer_clear(&client->cache_value);
    mmc_token_forget(&client->token);
    return outcome;
}
