/* call: what is per call around the engine (engine.c runs every request, one or many, through
 * one life: token, send, judge, retry): a single call's clock, its checks, its URL and the
 * copies it keeps, the retry rule, the judging of an answer, and the redaction of a result. */
#include "client.h"
#include "client_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "json_scan.h"
#include "message.h"
#include "proxy.h"
#include "retry.h"
#include "request.h"

static void result_reset(mmc_result *result) {
    result->status = 0;
    mmc_buffer_clear(&result->message);
    result->body = NULL;
    result->body_length = 0;
    result->body_is_json = 0;
}

long mmc_call_milliseconds(double seconds) {
    double ms = ceil(seconds * 1000);
    return ms < 1 ? 1 : (long)ms;
}

/* Starts the clock of a public call: everything it does shares one timeout. */
void mmc_call_start(mmc_client *client, mmc_result *result) {
    result_reset(result);
    client->deadline = mmc_clock_monotonic() + client->timeout;
    if (client->record_exchanges)
        mmc_exchange_log_clear(&client->exchanges);
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
    mmc_buffer_init_in(&named, client->memory);
    if (mmc_buffer_append_format(&named, "proxy %s (proxy ", mmc_buffer_text(&result->message)) ==
            0 &&
        mmc_proxy_describe(&named, client->proxy) == 0 && mmc_buffer_append_string(&named, ")") == 0) {
        mmc_buffer_free(&result->message);
        result->message = named;
    } else {
        mmc_buffer_free(&named);
    }
}

void mmc_client_name_the_proxy(mmc_client *client, const mmc_transport *transport,
                               mmc_result *result) {
    name_proxy_of(client, transport, result);
}

double mmc_client_retry_wait(const mmc_client *client, const mmc_transport *transport,
                             int outcome, const mmc_response *response, int attempt,
                             int idempotent, double deadline) {
    if (!idempotent || attempt >= client->retries)
        return -1;
    double wait, shortest = 0;
    if (outcome != 0 && transport->failure_is_transient)
        wait = mmc_retry_backoff(attempt);
    else if (outcome != 0 ||
             !mmc_retry_after_answer(attempt, response->status, response->body,
                                     response->body_length, response->retry_after, &wait,
                                     &shortest))
        return -1;
    return mmc_retry_fit(wait, shortest, deadline - mmc_clock_monotonic());
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

void mmc_call_redact(mmc_client *client, mmc_result *result, const char *extra) {
    mmc_buffer none;
    mmc_buffer_init_in(&none, client->memory);
    redact_in(client, result, extra, client->answer_body != NULL ? client->answer_body : &none,
              NULL);
}

void mmc_call_redact_headers(mmc_client *client, mmc_result *result, mmc_buffer *headers) {
    mmc_buffer none;
    mmc_buffer_init_in(&none, client->memory);
    redact_in(client, result, NULL, client->answer_body != NULL ? client->answer_body : &none,
              headers);
}

void mmc_client_redact(mmc_client *client, mmc_result *result, mmc_buffer *body,
                       mmc_buffer *headers) {
    redact_in(client, result, NULL, body, headers);
}

/* The last step of every call: no message or body leaves the core holding a secret. */
int mmc_call_finish(mmc_client *client, mmc_result *result, int outcome) {
    mmc_call_redact(client, result, NULL);
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
    if (response->body_length > 0 && !result->body_is_json && !response->raw) {
        mmc_buffer_append_format(&result->message, "HTTP %ld with a body that is not JSON (%s)",
                                 response->status, mmc_json_status_text(json));
        return -1;
    }
    return 0;
}

int mmc_client_judge_answer(mmc_result *result, const mmc_response *response) {
    return judge_answer(result, response);
}

/* Copies the call's extra headers into the client, which keeps them for every attempt. */
static int keep_headers(mmc_client *client, const mmc_header *headers, size_t count) {
    client->header_count = 0;
    mmc_buffer_clear(&client->header_text);
    if (count == 0)
        return 0;
    if (count > client->header_capacity) {
        mmc_header *grown = mmc_memory_realloc(client->memory, client->headers, count * sizeof *grown);
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

/* A sentence saying what is wrong with the call, or NULL; `field`, when not NULL, is set to
 * "path" for a problem of the path (else NULL). A path the same, byte for byte, as `checked`
 * (a path found good before, or NULL) is good again. */
static const char *call_problem(const mmc_api_call *call, const char *checked,
                                size_t checked_length, const char **field) {
    if (field != NULL)
        *field = NULL;
    if (mmc_request_known_method(call->method) == NULL)
        return "method must be GET, POST, PUT, DELETE or PATCH";
    const char *problem = mmc_request_body_problem(call->method, call->body != NULL);
    if (problem == NULL && !(checked != NULL && checked_length == call->path_length &&
                             memcmp(checked, call->path, checked_length) == 0)) {
        problem = mmc_request_path_problem(call->path, call->path_length);
        if (problem != NULL && field != NULL)
            *field = "path";
    }
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
 * and what it returns still needs mmc_call_finish(). Every request with a token goes through here. */
int mmc_call_make(mmc_client *client, const mmc_api_call *call, int may_authenticate,
                        mmc_result *result) {
    const char *problem = call_problem(call, NULL, 0, NULL);
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
    mmc_api_call kept = *call; /* what is sent: the copies the client keeps for the call */
    kept.body = client->request.length ? client->request.data : NULL;
    kept.body_length = client->request.length;
    kept.headers = client->header_count ? client->headers : NULL;
    kept.header_count = client->header_count;
    int outcome = mmc_engine_call(client, client->url.data, &kept, may_authenticate, result);
    mmc_buffer_clear(&client->request); /* it may have held a secret (a subscriber key) */
    keep_headers(client, NULL, 0);
    return outcome;
}

const char *mmc_client_call_problem(const mmc_api_call *call, const char *checked,
                                    size_t checked_length, const char **field) {
    return call_problem(call, checked, checked_length, field);
}

int mmc_client_call_url(const mmc_client *client, const mmc_api_call *call, mmc_buffer *url) {
    return mmc_buffer_append_string(url, client->endpoint) != 0 ||
                   mmc_buffer_append(url, call->path, call->path_length) != 0 ||
                   append_call_query(url, call) != 0
               ? -1
               : 0;
}

int mmc_client_request(mmc_client *client, const mmc_api_call *call, mmc_result *result) {
    mmc_call_start(client, result);
    client->answer_headers = NULL;
    client->wants_headers = 1;
    int outcome = mmc_call_make(client, call, 1, result);
    client->wants_headers = 0;
    if (result->status == 0)
        client->answer_headers = NULL;
    mmc_call_redact_headers(client, result, client->answer_headers);
    return outcome;
}

const mmc_buffer *mmc_client_answer_headers(const mmc_client *client) {
    return client->answer_headers;
}
