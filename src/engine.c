#include "engine.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>

#include "client_internal.h"
#include "clock.h"
#include "request.h"

/* The client's engine: one multi handle and the easy handles it runs, kept between batches. */
struct mmc_engine {
    mmc_memory *memory; /* the account it is charged to (memory.h) */
    CURLM *multi;
    pid_t owner; /* the process that made it: a fork's child makes its own */
    mmc_transport slots[MMC_MAX_CONCURRENCY];
    struct batch_call *running[MMC_MAX_CONCURRENCY]; /* the call each slot carries, or NULL */
    int slot_count;
    unsigned generation; /* counts the tokens the engine obtained */
};

typedef enum { CALL_READY, CALL_IN_FLIGHT, CALL_WAITING, CALL_DONE } call_state;

typedef struct batch_call {
    /* the call, as set */
    const char *method; /* a string constant (request.h) */
    int idempotent;
    mmc_buffer url, body, header_text;
    mmc_header *headers;
    size_t header_count;
    int is_set;
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
    mmc_result result;
    mmc_buffer answer_body, answer_headers;
    mmc_exchange_log exchanges;
} batch_call;

struct mmc_batch {
    mmc_memory *memory; /* the account it is charged to (memory.h) */
    batch_call *calls;
    size_t count;
};

static long to_milliseconds(double seconds) {
    double ms = ceil(seconds * 1000);
    return ms < 1 ? 1 : (long)ms;
}

mmc_batch *mmc_batch_new(size_t count, mmc_memory *memory) {
    if (count > MMC_MAX_BATCH)
        return NULL;
    mmc_batch *batch = mmc_memory_calloc(memory, 1, sizeof *batch);
    if (batch == NULL)
        return NULL;
    batch->memory = memory;
    batch->calls = mmc_memory_calloc(memory, count > 0 ? count : 1, sizeof *batch->calls);
    if (batch->calls == NULL) {
        mmc_memory_free(memory, batch);
        return NULL;
    }
    batch->count = count;
    for (size_t i = 0; i < count; i++) {
        batch_call *call = &batch->calls[i];
        mmc_buffer_init_in(&call->url, memory);
        mmc_buffer_init_in(&call->body, memory);
        mmc_buffer_init_in(&call->header_text, memory);
        mmc_result_init_in(&call->result, memory);
        mmc_buffer_init_in(&call->answer_body, memory);
        mmc_buffer_init_in(&call->answer_headers, memory);
        mmc_exchange_log_init(&call->exchanges, memory);
        call->slot = -1;
    }
    return batch;
}

void mmc_batch_free(mmc_batch *batch) {
    if (batch == NULL)
        return;
    for (size_t i = 0; i < batch->count; i++) {
        batch_call *call = &batch->calls[i];
        mmc_buffer_free(&call->url);
        mmc_buffer_free(&call->body); /* wiped: it may hold a secret */
        mmc_buffer_free(&call->header_text);
        mmc_memory_free(batch->memory, call->headers);
        mmc_result_free(&call->result);
        mmc_buffer_free(&call->answer_body);
        mmc_buffer_free(&call->answer_headers);
        mmc_exchange_log_free(&call->exchanges);
    }
    mmc_memory *memory = batch->memory;
    mmc_memory_free(memory, batch->calls);
    mmc_memory_free(memory, batch);
}

int mmc_batch_set(mmc_batch *batch, size_t index, const mmc_client *client,
                  const mmc_api_call *call, mmc_buffer *problem) {
    batch_call *to = &batch->calls[index];
    const char *bad = mmc_client_call_problem(call);
    if (bad != NULL)
        return mmc_buffer_append_string(problem, bad), -1;
    const char *method = mmc_request_known_method(call->method);
    to->method = method;
    to->idempotent =
        call->retry == MMC_RETRY_AS_METHOD ? mmc_request_method_is_idempotent(method) : call->retry;
    if (mmc_client_call_url(client, call, &to->url) != 0 ||
        (call->body != NULL && mmc_buffer_append(&to->body, call->body, call->body_length) != 0))
        return mmc_buffer_append_string(problem, "out of memory"), -1;
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
    }
    to->is_set = 1;
    return 0;
}

const mmc_result *mmc_batch_result(const mmc_batch *batch, size_t index) {
    return &batch->calls[index].result;
}

const mmc_buffer *mmc_batch_headers(const mmc_batch *batch, size_t index) {
    return &batch->calls[index].answer_headers;
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
    while (engine->slot_count < slots) {
        if (mmc_transport_open_like(&engine->slots[engine->slot_count], &client->transport, 1) !=
            0)
            return NULL;
        engine->running[engine->slot_count++] = NULL;
    }
    return engine;
}

/* ---- one batch ---------------------------------------------------------------------------- */

typedef struct run_state {
    mmc_client *client;
    struct mmc_engine *engine;
    mmc_batch *batch;
    int concurrency;
    int in_flight;
    size_t done;
    int rejected; /* the token in use was refused: the next one is asked for after a refusal */
    size_t waiting; /* calls waiting to retry */
    size_t first;   /* no call before this one is left to start */
} run_state;

static void finish_call(run_state *run, batch_call *call) {
    mmc_client_redact(run->client, &call->result, &call->answer_body, &call->answer_headers);
    call->state = CALL_DONE;
    run->done++;
}

/* Notes one exchange of a call in its log (the API path: the URL past the endpoint). */
static void record(run_state *run, batch_call *call, const mmc_transport *slot, int outcome,
                   double seconds) {
    if (!run->client->record_exchanges)
        return;
    size_t endpoint_length = strlen(run->client->endpoint);
    const char *path = call->url.data + endpoint_length;
    mmc_exchange *entry = mmc_exchange_log_add(&call->exchanges, call->method, path,
                                               strcspn(path, "?"), slot->sent_request_id);
    if (entry == NULL)
        return;
    entry->seconds = seconds;
    if (outcome == 0)
        entry->status = call->response.status;
    else
        entry->error = slot->failure_kind != NULL ? slot->failure_kind : "request failed";
}

static void note_retry(run_state *run, batch_call *call, double wait) {
    if (run->client->record_exchanges && call->exchanges.count > 0)
        call->exchanges.entries[call->exchanges.count - 1].retry_in = wait;
}

/* Starts a ready call on a free handle. */
static void launch(run_state *run, batch_call *call, double now) {
    mmc_client *client = run->client;
    double left = call->deadline - now;
    mmc_buffer_clear(&call->result.message); /* an earlier attempt's failure is not the call's */
    if (left <= 0) {
        mmc_buffer_append_format(&call->result.message,
                                 "timed out: the call took longer than %g s", client->timeout);
        finish_call(run, call);
        return;
    }
    int free_slot = 0;
    while (run->engine->running[free_slot] != NULL)
        free_slot++;
    mmc_transport *slot = &run->engine->slots[free_slot];
    mmc_request request = {call->method,
                           call->url.data,
                           client->token.value.data,
                           NULL,
                           call->body.length ? call->body.data : NULL,
                           call->body.length,
                           to_milliseconds(left),
                           call->header_count ? call->headers : NULL,
                           call->header_count,
                           !call->idempotent};
    call->request = request;
    if (mmc_transport_begin(slot, &call->request, &call->result.message) != 0) {
        finish_call(run, call);
        return;
    }
    if (curl_multi_add_handle(run->engine->multi, slot->easy) != CURLM_OK) {
        mmc_transport_end(slot, CURLE_FAILED_INIT, &call->request, NULL, &call->result.message);
        finish_call(run, call);
        return;
    }
    run->engine->running[free_slot] = call;
    call->slot = free_slot;
    call->generation = run->engine->generation;
    call->started = now;
    call->state = CALL_IN_FLIGHT;
    run->in_flight++;
}

/* A transfer is over: judge it, as a single call would (client.c), and decide what is next:
 * done, a retry after a wait, or a new token first. */
static void conclude(run_state *run, batch_call *call, CURLcode code) {
    mmc_client *client = run->client;
    mmc_transport *slot = &run->engine->slots[call->slot];
    mmc_result *result = &call->result;
    double now = mmc_clock_monotonic();
    int outcome = mmc_transport_end(slot, code, &call->request, &call->response, &result->message);
    record(run, call, slot, outcome, now - call->started);
    if (outcome != 0)
        mmc_client_name_the_proxy(client, slot, result);
    run->engine->running[call->slot] = NULL;
    call->slot = -1;
    run->in_flight--;

    if (outcome == 0 && call->response.status == 401 && !call->reauthed) {
        /* Refused: one new token for every call refused, whichever is first. */
        note_retry(run, call, 0);
        call->reauthed = 1;
        call->attempt = 0;
        if (call->generation == run->engine->generation &&
            mmc_token_is_fresh(&client->token, now)) {
            mmc_token_forget(&client->token);
            run->rejected = 1;
        }
        call->state = CALL_READY;
        return;
    }
    double wait = mmc_client_retry_wait(client, slot, outcome, &call->response, call->attempt,
                                        call->idempotent, call->deadline);
    if (wait >= 0) {
        note_retry(run, call, wait);
        call->attempt++;
        call->wake_at = mmc_clock_monotonic() + wait;
        call->state = CALL_WAITING;
        run->waiting++;
        return;
    }
    if (outcome == 0) {
        mmc_client_judge_answer(result, &call->response);
        /* The handle's buffers serve the next transfer: the call keeps its own copies. */
        if (mmc_buffer_append(&call->answer_body, call->response.body,
                              call->response.body_length) != 0 ||
            mmc_buffer_append(&call->answer_headers, slot->headers.data,
                              slot->headers.length) != 0) {
            mmc_buffer_clear(&call->answer_body);
            mmc_buffer_clear(&call->answer_headers);
            mmc_buffer_clear(&result->message);
            mmc_buffer_append_string(&result->message, "out of memory");
            result->body = NULL;
            result->body_length = 0;
        } else if (result->body != NULL) {
            result->body = call->answer_body.length ? call->answer_body.data : NULL;
            result->body_length = call->answer_body.length;
        }
    }
    finish_call(run, call);
}

/* The one token step: when a call is ready to go and the client holds no fresh token, one
 * authentication (or the token store's token) for all of them. On failure, every ready call
 * is done with that failure. */
static void ensure_token(run_state *run, double now) {
    mmc_client *client = run->client;
    if (mmc_token_is_fresh(&client->token, now))
        return;
    double deadline = 0;
    for (size_t i = 0; i < run->batch->count; i++) {
        batch_call *call = &run->batch->calls[i];
        if (call->state == CALL_READY && (deadline == 0 || call->deadline < deadline))
            deadline = call->deadline;
    }
    if (deadline == 0)
        return;
    client->deadline = deadline;
    mmc_result auth;
    mmc_result_init_in(&auth, client->memory);
    if (mmc_client_obtain_token(client, &auth, run->rejected) == 0) {
        run->engine->generation++;
        run->rejected = 0;
    } else {
        for (size_t i = 0; i < run->batch->count; i++) {
            batch_call *call = &run->batch->calls[i];
            if (call->state != CALL_READY)
                continue;
            call->result.status = auth.status;
            mmc_buffer_clear(&call->result.message);
            mmc_buffer_append(&call->result.message, auth.message.data, auth.message.length);
            finish_call(run, call);
        }
    }
    mmc_result_free(&auth);
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
    batch_call *calls = run->batch->calls;
    /* Without a call waiting to retry, only the calls from the first not yet started matter,
     * and only while there is room: a batch of many is not scanned whole at every turn. */
    while (run->first < run->batch->count && calls[run->first].state == CALL_DONE)
        run->first++;
    for (size_t i = run->first; i < run->batch->count; i++) {
        if (run->waiting == 0 && run->in_flight >= run->concurrency)
            break;
        batch_call *call = &calls[i];
        if (call->state == CALL_WAITING && call->wake_at <= now) {
            call->state = CALL_READY;
            run->waiting--;
        }
        if (call->state == CALL_READY && run->in_flight < run->concurrency) {
            ensure_token(run, now);
            if (call->state == CALL_READY)
                launch(run, call, now);
        } else if (call->state == CALL_WAITING &&
                   (nearest < 0 || call->wake_at - now < nearest)) {
            nearest = call->wake_at - now;
        }
    }
    return nearest;
}

int mmc_client_run_batch(mmc_client *client, mmc_batch *batch, int concurrency) {
    if (concurrency < 1)
        concurrency = 1;
    if (concurrency > MMC_MAX_CONCURRENCY)
        concurrency = MMC_MAX_CONCURRENCY;
    if ((size_t)concurrency > batch->count && batch->count > 0)
        concurrency = (int)batch->count;
    double now = mmc_clock_monotonic();
    if (client->record_exchanges)
        mmc_exchange_log_clear(&client->exchanges);
    run_state run = {client, NULL, batch, concurrency, 0, 0, 0, 0, 0};
    for (size_t i = 0; i < batch->count; i++) {
        batch_call *call = &batch->calls[i];
        call->deadline = now + client->timeout;
        call->state = call->is_set ? CALL_READY : CALL_DONE;
        run.done += !call->is_set;
    }
    run.engine = engine_for(client, concurrency);
    if (run.engine == NULL) {
        for (size_t i = 0; i < batch->count; i++)
            mmc_buffer_append_string(&batch->calls[i].result.message,
                                     "libcurl could not make the handles for many calls");
        return -1;
    }
    while (run.done < batch->count) {
        now = mmc_clock_monotonic();
        double nearest = start_ready(&run, now);
        if (run.done == batch->count)
            break;
        if (run.in_flight == 0) {
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
    /* The last secret-bearing copies: bodies sent are wiped, the token kept by the client. */
    for (size_t i = 0; i < batch->count; i++)
        mmc_buffer_clear(&batch->calls[i].body);
    return 0;
}
