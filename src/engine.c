#include "engine.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>

#include "client_internal.h"
#include "clock.h"
#include "crypto.h"
#include "request.h"

/* The client's engine: one multi handle and the easy handles it runs, kept between calls: its
 * connections are the client's one pool, whichever call (single, batch, login) opened them. */
struct mmc_engine {
    mmc_memory *memory; /* the account it is charged to (memory.h) */
    CURLM *multi;
    pid_t owner; /* the process that made it: a fork's child makes its own */
    mmc_transport slots[MMC_MAX_CONCURRENCY + 1]; /* + 1: the login's */
    struct batch_call *running[MMC_MAX_CONCURRENCY + 1]; /* the call each slot carries, or NULL */
    int slot_count;
    unsigned generation; /* counts the tokens the engine obtained */
    /* The server answered over HTTP/2: a new transfer waits for a connection being set up
     * (CURLOPT_PIPEWAIT) to multiplex on it rather than open another. Over HTTP/1.1 waiting
     * would only serialise the connections a batch opens. */
    int multiplexes;
};

typedef enum { CALL_READY, CALL_IN_FLIGHT, CALL_WAITING, CALL_DONE } call_state;

typedef struct batch_call {
    /* the call, as set: what is sent (pointers into the buffers below, for a batch's copy, or
     * into the caller's, for a single call) */
    const char *method; /* a string constant (request.h) */
    int idempotent;
    int may_authenticate; /* 0: with the token held, neither a login first nor after a 401 */
    int is_login;
    const char *send_url, *send_body, *authorization;
    size_t send_body_length;
    const mmc_header *send_headers;
    size_t header_count;
    size_t url_at; /* a batch's call: where its URL starts in the batch's `urls` */
    mmc_buffer body, header_text;
    mmc_header *headers;
    int is_set;
    int borrow; /* a single call: the answer stays in the handle's buffers */
    int wants_headers; /* the answer's header lines are kept (not for the fixed operations) */
    /* A single call's streamed output, form, progress or raw body (transport.h), or NULL. */
    struct mmc_transfer *transfer;
    /* its life */
    call_state state;
    int attempt;  /* retries made since the last new token */
    int reauthed; /* a 401 already led to a new token */
    unsigned generation; /* the token it was sent with */
    double deadline, wake_at, started;
    int slot;
    mmc_request request;
    mmc_response response;
    /* its outcome */
    mmc_result *result;
    mmc_result own_result;
    /* A batch's call: where its last answer, redacted, lies in the batch's `answers` (its body,
     * then its header lines), and whether it had a body. */
    size_t answer_at, answer_body_length, answer_headers_length;
    int answer_has_body;
    int redacted; /* its answer was redacted as it was kept: finish_call has only the message */
    mmc_exchange_log *log;
    mmc_exchange_log exchanges;
} batch_call;

struct mmc_batch {
    mmc_memory *memory; /* the account it is charged to (memory.h) */
    batch_call *calls;
    size_t count;
    /* Every call's URL, one after another, each ending with a NUL: one block for the batch
     * rather than one (grown twice) per call. */
    mmc_buffer urls;
    /* Every call's last answer (redacted), body then header lines, one after another: one block
     * for the batch rather than two per call, each allocated, grown, wiped and freed. */
    mmc_buffer answers;
    size_t checked_path_at, checked_path_length; /* the last path set: in `urls`, from here */
};

static long to_milliseconds(double seconds) {
    double ms = ceil(seconds * 1000);
    return ms < 1 ? 1 : (long)ms;
}

/* A call whose buffers are charged to `memory` (memory.h). */
static void call_init(batch_call *call, mmc_memory *memory) {
    memset(call, 0, sizeof *call);
    mmc_buffer_init_in(&call->body, memory);
    mmc_buffer_init_in(&call->header_text, memory);
    mmc_result_init_in(&call->own_result, memory);
    call->result = &call->own_result;
    mmc_exchange_log_init(&call->exchanges, memory);
    call->log = &call->exchanges;
    call->may_authenticate = 1;
    call->wants_headers = 1;
    call->slot = -1;
}

static void call_free(batch_call *call, mmc_memory *memory) {
    mmc_buffer_free(&call->body); /* wiped: it may hold a secret */
    mmc_buffer_free(&call->header_text);
    mmc_memory_free(memory, call->headers);
    mmc_result_free(&call->own_result);
    mmc_exchange_log_free(&call->exchanges);
}

/* Room for `count` more like one of `size` bytes, at most 1 MiB: a batch's blocks (URLs,
 * answers) grow once rather than a dozen times, each time copied and the old one wiped. It is
 * an estimate (the calls differ) and only that: past it, a block grows as any buffer does. */
#define BATCH_RESERVE_MOST ((size_t)1 << 20)
static size_t room_for(size_t count, size_t size) {
    if (size != 0 && count > BATCH_RESERVE_MOST / size)
        return BATCH_RESERVE_MOST;
    return count * size;
}

mmc_batch *mmc_batch_new(size_t count, mmc_memory *memory) {
    if (count > MMC_MAX_BATCH)
        return NULL;
    mmc_batch *batch = mmc_memory_calloc(memory, 1, sizeof *batch);
    if (batch == NULL)
        return NULL;
    batch->memory = memory;
    mmc_buffer_init_in(&batch->urls, memory);
    mmc_buffer_init_in(&batch->answers, memory);
    /* not zeroed here: call_init clears each call */
    batch->calls = mmc_memory_alloc(memory, (count > 0 ? count : 1) * sizeof *batch->calls);
    if (batch->calls == NULL) {
        mmc_memory_free(memory, batch);
        return NULL;
    }
    batch->count = count;
    for (size_t i = 0; i < count; i++)
        call_init(&batch->calls[i], memory);
    return batch;
}

void mmc_batch_free(mmc_batch *batch) {
    if (batch == NULL)
        return;
    for (size_t i = 0; i < batch->count; i++)
        call_free(&batch->calls[i], batch->memory);
    mmc_buffer_free(&batch->urls);
    mmc_buffer_free(&batch->answers); /* wiped: an answer may hold what the server echoed */
    mmc_memory *memory = batch->memory;
    mmc_memory_free(memory, batch->calls);
    mmc_memory_free(memory, batch);
}

int mmc_batch_set(mmc_batch *batch, size_t index, const mmc_client *client,
                  const mmc_api_call *call, mmc_buffer *problem, const char **field) {
    batch_call *to = &batch->calls[index];
    /* The calls of a batch mostly share their path: the last one set, good, is not checked
     * again (it is in the last URL, after the endpoint). */
    const char *checked =
        batch->checked_path_length > 0 ? batch->urls.data + batch->checked_path_at : NULL;
    const char *bad = mmc_client_call_problem(call, checked, batch->checked_path_length, field);
    if (bad != NULL)
        return mmc_buffer_append_string(problem, bad), -1;
    const char *method = mmc_request_known_method(call->method);
    to->method = method;
    to->idempotent =
        call->retry == MMC_RETRY_AS_METHOD ? mmc_request_method_is_idempotent(method) : call->retry;
    to->url_at = batch->urls.length;
    if (mmc_client_call_url(client, call, &batch->urls) != 0 ||
        mmc_buffer_append(&batch->urls, "", 1) != 0 || /* its NUL */
        (call->body != NULL && mmc_buffer_append(&to->body, call->body, call->body_length) != 0)) {
        if (batch->urls.length > to->url_at) /* what was written of it is wiped and dropped */
            mmc_wipe(batch->urls.data + to->url_at, batch->urls.length - to->url_at);
        batch->urls.length = to->url_at;
        return mmc_buffer_append_string(problem, "out of memory"), -1;
    }
    if (to->url_at == 0) /* the first: room for as many more like it */
        mmc_buffer_reserve(&batch->urls, room_for(batch->count - index - 1, batch->urls.length));
    batch->checked_path_at = to->url_at + strlen(client->endpoint);
    batch->checked_path_length = call->path_length;
    if (call->header_count > 0) {
        to->headers = mmc_memory_calloc(batch->memory, call->header_count, sizeof *to->headers);
        if (to->headers == NULL)
            return mmc_buffer_append_string(problem, "out of memory"), -1;
        for (size_t i = 0; i < call->header_count; i++)
            if (mmc_buffer_append(&to->header_text, call->headers[i].name,
                                  call->headers[i].name_length) != 0 ||
                mmc_buffer_append(&to->header_text, call->headers[i].value,
                                  call->headers[i].value_length) != 0)
                return mmc_buffer_append_string(problem, "out of memory"), -1;
        size_t offset = 0;
        for (size_t i = 0; i < call->header_count; i++) {
            to->headers[i].name = to->header_text.data + offset;
            to->headers[i].name_length = call->headers[i].name_length;
            offset += call->headers[i].name_length;
            to->headers[i].value = to->header_text.data + offset;
            to->headers[i].value_length = call->headers[i].value_length;
            offset += call->headers[i].value_length;
        }
        to->header_count = call->header_count;
        to->send_headers = to->headers;
    }
    to->send_body = to->body.length ? to->body.data : NULL;
    to->send_body_length = to->body.length;
    to->is_set = 1;
    return 0;
}

const mmc_result *mmc_batch_result(const mmc_batch *batch, size_t index) {
    return batch->calls[index].result;
}

const char *mmc_batch_headers(const mmc_batch *batch, size_t index, size_t *length) {
    const batch_call *call = &batch->calls[index];
    *length = call->answer_headers_length;
    if (call->answer_headers_length == 0)
        return NULL;
    return batch->answers.data + call->answer_at + call->answer_body_length;
}

const mmc_exchange_log *mmc_batch_exchanges(const mmc_batch *batch, size_t index) {
    return &batch->calls[index].exchanges;
}

/* ---- the engine: multi handle and easy handles ------------------------------------------- */

/* In the process that made it, closes everything: the multi handle first (it closes the
 * connections, through the close-socket callbacks of the handles that opened them), then the
 * handles. In a fork's child, lets go of it all without a byte on the wire: each handle's
 * sockets are closed when still theirs (transport.h), and the inherited multi handle is
 * abandoned (its memory, once per fork). */
static void engine_release(struct mmc_engine *engine) {
    if (engine->multi != NULL) {
        for (int i = 0; i < engine->slot_count; i++)
            if (engine->running[i] != NULL && engine->owner == getpid())
                curl_multi_remove_handle(engine->multi, engine->slots[i].easy);
        if (engine->owner == getpid())
            curl_multi_cleanup(engine->multi);
        engine->multi = NULL;
    }
    for (int i = 0; i < engine->slot_count; i++) {
        mmc_transport_close(&engine->slots[i]);
        engine->running[i] = NULL;
    }
    engine->slot_count = 0;
}

void mmc_engine_free(struct mmc_engine *engine) {
    if (engine == NULL)
        return;
    engine_release(engine);
    mmc_memory_free(engine->memory, engine);
}

/* The client's engine with `slots` easy handles, made (or remade, in a fork's child) as
 * needed. NULL when it cannot be. */
static struct mmc_engine *engine_for(mmc_client *client, int slots) {
    struct mmc_engine *engine = client->engine;
    if (engine == NULL) {
        engine = mmc_memory_calloc(client->memory, 1, sizeof *engine);
        if (engine == NULL)
            return NULL;
        engine->memory = client->memory;
        client->engine = engine;
    }
    if (engine->multi != NULL && engine->owner != getpid())
        engine_release(engine);
    if (engine->multi == NULL) {
        engine->multi = curl_multi_init();
        if (engine->multi == NULL)
            return NULL;
        engine->owner = getpid();
    }
    if (slots > MMC_MAX_CONCURRENCY + 1)
        slots = MMC_MAX_CONCURRENCY + 1;
    int added = engine->slot_count < slots;
    while (engine->slot_count < slots) {
        if (mmc_transport_open_like(&engine->slots[engine->slot_count], &client->transport, 1) !=
            0)
            return NULL;
        engine->running[engine->slot_count++] = NULL;
    }
    /* Keeps the connections the largest batch so far opened (one per easy handle) for the next
     * calls, and no more. libcurl's default (4 per easy handle, counted as transfers end)
     * shrinks as a batch's last transfers end, closing connections the next batch wants; a
     * fixed large cap lets idle ones pile up (a POST goes on a fresh connection, which then
     * stays), each with its socket and TLS state. */
    if (added)
        curl_multi_setopt(engine->multi, CURLMOPT_MAXCONNECTS, (long)engine->slot_count);
    return engine;
}

/* ---- one run: a batch, or a single call ------------------------------------------------ */

typedef struct run_state {
    mmc_client *client;
    struct mmc_engine *engine;
    batch_call *calls;
    size_t count;
    mmc_buffer *answers; /* a batch's block of answers (NULL for a single call or a login) */
    int concurrency;
    int in_flight; /* the calls' transfers (the login's is not counted) */
    size_t done;
    int rejected; /* the token in use was refused: the next one is asked for after a refusal */
    size_t waiting; /* calls waiting to retry */
    size_t first;   /* no call before this one is left to start */
    /* The one login in flight (a transfer like the others), its request, and its outcome. */
    batch_call login;
    mmc_login login_request;
    int login_running;
    int login_only;  /* mmc_client_auth: the run is the login alone */
    int login_failed; /* the last login failed: its result says why */
} run_state;

static void login_concluded(run_state *run, int outcome, const mmc_transport *slot);

static void finish_call(run_state *run, batch_call *call) {
    if (call->is_login) {
        login_concluded(run, -1, NULL);
        return;
    }
    if (!call->borrow && !call->redacted) { /* a single call's caller redacts it */
        mmc_buffer none;
        mmc_buffer_init_in(&none, run->client->memory);
        mmc_client_redact(run->client, call->result, &none, NULL);
    }
    call->state = CALL_DONE;
    run->done++;
}

/* Notes one exchange of a call in its log (the API path: the URL past the endpoint). */
static void record(run_state *run, batch_call *call, const mmc_transport *slot, int outcome,
                   double seconds) {
    if (!run->client->record_exchanges)
        return;
    size_t endpoint_length = strlen(run->client->endpoint);
    const char *path = call->send_url + endpoint_length;
    mmc_exchange *entry = mmc_exchange_log_add(call->log, call->method, path,
                                               strcspn(path, "?"), slot->sent_request_id);
    if (entry == NULL)
        return;
    entry->seconds = seconds;
    if (outcome == 0)
        entry->status = call->response.status;
    else
        entry->error = slot->failure_kind != NULL ? slot->failure_kind : "request failed";
}

static void note_retry(batch_call *call, double wait) {
    if (call->log->count > 0)
        call->log->entries[call->log->count - 1].retry_in = wait;
}

/* Starts a ready call on a free handle. */
static void launch(run_state *run, batch_call *call, double now) {
    mmc_client *client = run->client;
    struct mmc_engine *engine = run->engine;
    double left = call->deadline - now;
    mmc_buffer_clear(&call->result->message); /* an earlier attempt's failure is not the call's */
    if (left <= 0) {
        mmc_buffer_append_format(&call->result->message,
                                 "timed out: the call took longer than %g s", client->timeout);
        finish_call(run, call);
        return;
    }
    int free_slot = 0;
    while (engine->running[free_slot] != NULL)
        free_slot++;
    mmc_transport *slot = &engine->slots[free_slot];
    mmc_request request = {call->method,
                           call->send_url,
                           call->is_login ? NULL : client->token.value.data,
                           call->authorization,
                           call->send_body,
                           call->send_body_length,
                           to_milliseconds(left),
                           call->header_count ? call->send_headers : NULL,
                           call->header_count,
                           !call->idempotent,
                           call->transfer};
    call->request = request;
    slot->collect_headers = call->wants_headers;
    if (mmc_transport_begin(slot, &call->request, &call->result->message) != 0) {
        finish_call(run, call);
        return;
    }
    if (engine->multiplexes != slot->pipewait) {
        slot->pipewait = engine->multiplexes;
        curl_easy_setopt(slot->easy, CURLOPT_PIPEWAIT, (long)slot->pipewait);
    }
    if (curl_multi_add_handle(engine->multi, slot->easy) != CURLM_OK) {
        mmc_transport_end(slot, CURLE_FAILED_INIT, &call->request, NULL, &call->result->message);
        finish_call(run, call);
        return;
    }
    engine->running[free_slot] = call;
    call->slot = free_slot;
    call->generation = engine->generation;
    call->started = now;
    call->state = CALL_IN_FLIGHT;
    if (call->is_login)
        run->login_running = 1;
    else
        run->in_flight++;
}

/* A batch's call has its answer: redacted where it lies (the handle's buffers serve the next
 * transfer, so they may be changed), then copied to the batch's block of answers. The body's
 * place is set once the block moves no more (mmc_client_run_batch). */
static void keep_answer(run_state *run, batch_call *call, mmc_transport *slot) {
    mmc_result *result = call->result;
    mmc_buffer *answers = run->answers;
    mmc_client_redact(run->client, result, &slot->body, &slot->headers);
    call->redacted = 1;
    size_t body_length = result->body != NULL ? result->body_length : 0;
    size_t headers_length = slot->headers.length;
    call->answer_at = answers->length;
    if (call->answer_at == 0) /* the first: room for as many more like it, and a quarter */
        mmc_buffer_reserve(answers, room_for(run->count, (body_length + headers_length) / 4 * 5));
    if (mmc_buffer_append(answers, result->body, body_length) != 0 ||
        mmc_buffer_append(answers, slot->headers.data, headers_length) != 0) {
        /* what was written of it is wiped and dropped; the answers kept before stay */
        if (answers->length > call->answer_at)
            mmc_wipe(answers->data + call->answer_at, answers->length - call->answer_at);
        answers->length = call->answer_at;
        mmc_buffer_clear(&result->message);
        mmc_buffer_append_string(&result->message, "out of memory");
        result->body = NULL;
        body_length = headers_length = 0;
    }
    call->answer_has_body = result->body != NULL && body_length > 0;
    call->answer_body_length = body_length;
    call->answer_headers_length = headers_length;
    result->body = NULL; /* its place in the block is set at the end of the run */
    result->body_length = body_length;
}

/* A transfer is over: judge it and decide what is next: done, a retry after a wait, or a new
 * token first. */
static void conclude(run_state *run, batch_call *call, CURLcode code) {
    mmc_client *client = run->client;
    struct mmc_engine *engine = run->engine;
    mmc_transport *slot = &engine->slots[call->slot];
    mmc_result *result = call->result;
    double now = mmc_clock_monotonic();
    int outcome = mmc_transport_end(slot, code, &call->request, &call->response, &result->message);
    record(run, call, slot, outcome, now - call->started);
    if (outcome != 0) {
        mmc_client_name_the_proxy(client, slot, result);
    } else if (!engine->multiplexes) {
        long version = 0;
        if (curl_easy_getinfo(slot->easy, CURLINFO_HTTP_VERSION, &version) == CURLE_OK &&
            version == CURL_HTTP_VERSION_2_0)
            engine->multiplexes = 1;
    }
    engine->running[call->slot] = NULL;
    call->slot = -1;
    if (call->is_login)
        run->login_running = 0;
    else
        run->in_flight--;

    int refused = outcome == 0 && call->response.status == 401;
    if (refused && !call->reauthed && call->may_authenticate) {
        /* Refused: one new token for every call refused, whichever is first. */
        if (client->record_exchanges)
            note_retry(call, 0);
        call->reauthed = 1;
        call->attempt = 0;
        if (call->generation == engine->generation && mmc_token_is_fresh(&client->token, now)) {
            mmc_token_forget(&client->token);
            run->rejected = 1;
        }
        call->state = CALL_READY;
        return;
    }
    double wait = mmc_client_retry_wait(client, slot, outcome, &call->response, call->attempt,
                                        call->idempotent, call->deadline);
    if (wait >= 0) {
        if (client->record_exchanges)
            note_retry(call, wait);
        call->attempt++;
        call->wake_at = mmc_clock_monotonic() + wait;
        call->state = CALL_WAITING;
        if (!call->is_login)
            run->waiting++;
        return;
    }
    if (call->is_login) {
        login_concluded(run, outcome, slot);
        return;
    }
    if (outcome == 0) {
        mmc_client_judge_answer(result, &call->response);
        if (call->borrow) {
            /* A single call's answer stays in the handle's buffers until its next transfer. */
            client->answer_body = &slot->body;
            client->answer_headers = &slot->headers;
        } else {
            keep_answer(run, call, slot);
        }
    }
    finish_call(run, call);
}

/* Every call waiting for a token ends with the login's failure. */
static void fail_ready_calls(run_state *run, const mmc_result *failure) {
    for (size_t i = run->first; i < run->count; i++) {
        batch_call *call = &run->calls[i];
        if (call->state != CALL_READY || !call->may_authenticate)
            continue;
        call->result->status = failure->status;
        mmc_buffer_clear(&call->result->message);
        mmc_buffer_append(&call->result->message, failure->message.data, failure->message.length);
        if (call->borrow) { /* a single call returns the login's answer, as it came */
            call->result->body = failure->body;
            call->result->body_length = failure->body_length;
            call->result->body_is_json = failure->body_is_json;
        }
        finish_call(run, call);
    }
}

/* The login's transfer is over (outcome 0: `slot` holds its answer), or could not be made
 * (-1, with no slot). The client then holds the new token, which the token store shares; or
 * every call waiting for it fails, saying why. */
static void login_concluded(run_state *run, int outcome, const mmc_transport *slot) {
    mmc_client *client = run->client;
    batch_call *login = &run->login;
    mmc_result *result = login->result;
    run->login_running = 0;
    login->state = CALL_DONE;
    if (outcome == 0) {
        outcome = mmc_session_login_answer(client, &run->login_request, &login->response,
                                           (mmc_buffer *)&slot->body, result);
        client->answer_body = (mmc_buffer *)&slot->body;
        client->answer_headers = (mmc_buffer *)&slot->headers;
    }
    if (mmc_session_has_cache(client))
        mmc_session_share_token(client, outcome == 0);
    if (outcome == 0) {
        run->engine->generation++;
        run->rejected = 0;
        run->login_failed = 0;
        return;
    }
    run->login_failed = 1;
    if (run->login_only)
        return;
    mmc_session_mark_failure(result);
    fail_ready_calls(run, result);
}

/* Starts the login (the token store's token first, when there is one): 0 when it is under
 * way or the client holds a token again, -1 when it failed (the ready calls are then done). */
static int start_login(run_state *run, double now) {
    mmc_client *client = run->client;
    batch_call *login = &run->login;
    double deadline = 0;
    for (size_t i = run->first; i < run->count; i++) {
        batch_call *call = &run->calls[i];
        if (call->state == CALL_READY && (deadline == 0 || call->deadline < deadline))
            deadline = call->deadline;
    }
    if (run->login_only)
        deadline = client->deadline;
    if (deadline == 0)
        return 0;
    client->deadline = deadline;
    mmc_buffer_clear(&login->own_result.message);
    login->own_result.status = 0;
    login->own_result.body = NULL;
    login->own_result.body_length = 0;
    login->own_result.body_is_json = 0;
    if (!run->login_only && mmc_session_has_cache(client)) {
        int taken = mmc_session_take_shared_token(client, run->rejected);
        if (taken == 1) {
            run->engine->generation++;
            run->rejected = 0;
            return 0;
        }
        if (taken < 0) {
            mmc_buffer_append_string(&login->own_result.message, "the token store cannot be used");
            run->login_failed = 1;
            mmc_session_mark_failure(&login->own_result);
            fail_ready_calls(run, &login->own_result);
            return -1;
        }
    }
    if (mmc_session_login_request(client, &run->login_request, &login->own_result.message) != 0) {
        login_concluded(run, -1, NULL);
        return -1;
    }
    login->method = "POST";
    login->idempotent = 1;
    login->reauthed = 1;
    login->attempt = 0;
    login->send_url = run->login_request.url.data;
    login->send_body = run->login_request.body.data;
    login->send_body_length = run->login_request.body.length;
    login->authorization = run->login_request.authorization.data;
    login->deadline = deadline;
    launch(run, login, now);
    return run->login_failed ? -1 : 0;
}

/* 1 when a ready call can be sent now: the client holds a fresh token. Otherwise the one
 * login is started, when none is under way, and the call waits for it. */
static int token_ready(run_state *run, double now) {
    if (mmc_token_is_fresh(&run->client->token, now))
        return 1;
    if (!run->login_running && run->login.state != CALL_WAITING)
        start_login(run, now);
    return mmc_token_is_fresh(&run->client->token, now);
}

/* Reads the transfers libcurl has finished. 1 when any did. */
static int collect(run_state *run) {
    int any = 0, left = 0;
    CURLMsg *message;
    while ((message = curl_multi_info_read(run->engine->multi, &left)) != NULL) {
        if (message->msg != CURLMSG_DONE)
            continue;
        mmc_transport *slot = NULL;
        curl_easy_getinfo(message->easy_handle, CURLINFO_PRIVATE, (char **)&slot);
        CURLcode code = message->data.result;
        curl_multi_remove_handle(run->engine->multi, message->easy_handle);
        int index = (int)(slot - run->engine->slots);
        if (slot == NULL || index < 0 || index >= run->engine->slot_count ||
            run->engine->running[index] == NULL)
            continue;
        conclude(run, run->engine->running[index], code);
        any = 1;
    }
    return any;
}

/* Moves the waits that are over to ready, starts what fits, and returns the seconds to the
 * nearest wait still running (or -1: none). */
static double start_ready(run_state *run, double now) {
    double nearest = -1;
    batch_call *calls = run->calls;
    batch_call *login = &run->login;
    if (login->state == CALL_WAITING) { /* the login waits to be sent again */
        if (login->wake_at <= now)
            launch(run, login, now);
        else
            nearest = login->wake_at - now;
    }
    /* Without a call waiting to retry, only the calls from the first not yet started matter,
     * and only while there is room: a batch of many is not scanned whole at every turn. */
    while (run->first < run->count && calls[run->first].state == CALL_DONE)
        run->first++;
    for (size_t i = run->first; i < run->count; i++) {
        if (run->waiting == 0 && run->in_flight >= run->concurrency)
            break;
        batch_call *call = &calls[i];
        if (call->state == CALL_WAITING && call->wake_at <= now) {
            call->state = CALL_READY;
            run->waiting--;
        }
        if (call->state == CALL_READY && run->in_flight < run->concurrency) {
            if (!call->may_authenticate || token_ready(run, now))
                launch(run, call, now);
        } else if (call->state == CALL_WAITING &&
                   (nearest < 0 || call->wake_at - now < nearest)) {
            nearest = call->wake_at - now;
        }
    }
    return nearest;
}

/* Runs the calls (or, with `login_only`, one login) to their end. 0, or -1 when the engine
 * itself could not run (every call's result then says why). */
static int run_calls(mmc_client *client, batch_call *calls, size_t count, mmc_buffer *answers,
                     int concurrency, int login_only) {
    if (concurrency < 1)
        concurrency = 1;
    if (concurrency > MMC_MAX_CONCURRENCY)
        concurrency = MMC_MAX_CONCURRENCY;
    if ((size_t)concurrency > count && count > 0)
        concurrency = (int)count;
    run_state run;
    memset(&run, 0, sizeof run);
    run.client = client;
    run.calls = calls;
    run.count = count;
    run.answers = answers;
    run.concurrency = concurrency;
    run.login_only = login_only;
    call_init(&run.login, client->memory);
    run.login.is_login = 1;
    run.login.state = CALL_DONE;
    run.login.log = &client->exchanges;
    mmc_login_init(&run.login_request, client->memory);
    for (size_t i = 0; i < count; i++)
        run.done += calls[i].state == CALL_DONE;
    run.engine = engine_for(client, concurrency + 1);
    int outcome = 0;
    if (run.engine == NULL) {
        for (size_t i = 0; i < count; i++)
            mmc_buffer_append_string(&calls[i].result->message,
                                     "libcurl could not make its handles");
        if (login_only)
            mmc_buffer_append_string(&run.login.own_result.message,
                                     "libcurl could not make its handles");
        outcome = -1;
    } else if (login_only) {
        start_login(&run, mmc_clock_monotonic());
    }
    while (outcome == 0 && (run.done < count || run.login_running ||
                            (login_only && run.login.state == CALL_WAITING))) {
        double now = mmc_clock_monotonic();
        double nearest = start_ready(&run, now);
        if (run.done == count && !run.login_running && run.login.state != CALL_WAITING)
            break;
        if (run.in_flight == 0 && !run.login_running) {
            if (nearest > 0)
                mmc_clock_sleep(nearest);
            continue;
        }
        int running = 0;
        curl_multi_perform(run.engine->multi, &running);
        if (collect(&run))
            continue;
        long wait_ms = 1000;
        if (nearest >= 0 && to_milliseconds(nearest) < wait_ms)
            wait_ms = to_milliseconds(nearest);
        curl_multi_poll(run.engine->multi, NULL, 0, (int)wait_ms, NULL);
    }
    if (login_only) { /* the login's result is the run's */
        mmc_result *to = calls[0].result;
        mmc_buffer swap = to->message;
        to->message = run.login.own_result.message;
        run.login.own_result.message = swap;
        to->status = run.login.own_result.status;
        to->body = run.login.own_result.body;
        to->body_length = run.login.own_result.body_length;
        to->body_is_json = run.login.own_result.body_is_json;
        outcome = run.login_failed || run.engine == NULL ? -1 : 0;
    }
    mmc_login_free(&run.login_request);
    call_free(&run.login, client->memory);
    return outcome;
}

int mmc_client_run_batch(mmc_client *client, mmc_batch *batch, int concurrency) {
    double now = mmc_clock_monotonic();
    if (client->record_exchanges)
        mmc_exchange_log_clear(&client->exchanges);
    for (size_t i = 0; i < batch->count; i++) {
        batch_call *call = &batch->calls[i];
        call->deadline = now + client->timeout;
        call->state = call->is_set ? CALL_READY : CALL_DONE;
        /* the URLs are all written: their block moves no more */
        call->send_url = call->is_set ? batch->urls.data + call->url_at : NULL;
    }
    int outcome = run_calls(client, batch->calls, batch->count, &batch->answers, concurrency, 0);
    for (size_t i = 0; i < batch->count; i++) {
        batch_call *call = &batch->calls[i];
        /* The last secret-bearing copies: bodies sent are wiped, the token kept by the client. */
        mmc_buffer_clear(&call->body);
        if (call->answer_has_body) /* the block of answers moves no more */
            call->result->body = batch->answers.data + call->answer_at;
    }
    return outcome;
}

int mmc_engine_call(mmc_client *client, const char *url, const mmc_api_call *api_call,
                    int may_authenticate, mmc_result *result) {
    batch_call call;
    call_init(&call, client->memory);
    const char *method = mmc_request_known_method(api_call->method);
    call.method = method;
    call.idempotent = api_call->retry == MMC_RETRY_AS_METHOD
                          ? mmc_request_method_is_idempotent(method)
                          : api_call->retry;
    call.may_authenticate = may_authenticate;
    call.reauthed = !may_authenticate || api_call->refusal_is_callers; /* no login after a 401 */
    call.send_url = url;
    call.send_body = api_call->body;
    call.send_body_length = api_call->body != NULL ? api_call->body_length : 0;
    call.send_headers = api_call->headers;
    call.header_count = api_call->header_count;
    call.borrow = 1;
    call.wants_headers = client->wants_headers;
    call.transfer = api_call->transfer;
    call.result = result;
    call.log = &client->exchanges;
    call.deadline = client->deadline;
    call.state = CALL_READY;
    call.is_set = 1;
    client->answer_body = NULL;
    client->answer_headers = NULL;
    run_calls(client, &call, 1, NULL, 1, 0);
    call_free(&call, client->memory);
    return result->status != 0 && result->message.length == 0 ? 0 : -1;
}

int mmc_engine_login(mmc_client *client, mmc_result *result) {
    batch_call call;
    call_init(&call, client->memory);
    call.result = result;
    call.state = CALL_DONE;
    client->answer_body = NULL;
    client->answer_headers = NULL;
    int outcome = run_calls(client, &call, 1, NULL, 1, 1);
    call_free(&call, client->memory);
    return outcome;
}
