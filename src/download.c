#define _GNU_SOURCE /* sync_file_range (Linux) */
#include "download.h"

#include <fcntl.h>

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "client_internal.h"
#include "clock.h"
#include "crypto.h"
#include "message.h"
#include "sink.h"
#include "token.h"
#include "transport.h"

#define ERROR_BODY_MAX ((size_t)64 * 1024) /* of an error answer, for its message */
/* With `sync`: bytes written to a file between two requests to start writing them to disk, so
 * that the fsync of a complete file (sink.h) waits for the last few MiB, not the whole
 * recording. */
#define WRITE_BEHIND ((uint64_t)2 * 1024 * 1024)

typedef struct download_state {
    const mmc_download *download;
    CURL *easy;
    mmc_sink sink;        /* the file (written beside it, renamed when whole) or the callback */
    long status;          /* the answer's status, 0 until its body starts */
    int is_body;          /* 2xx: the body goes to the output */
    uint64_t written;
    uint64_t total;       /* Content-Length, or 0 */
    uint64_t flushed;     /* bytes of the file already handed to the disk (write-behind) */
    mmc_buffer error_body; /* the start of an error answer's body */
    mmc_buffer problem;   /* why the transfer was stopped on our side */
    int stopped;
    double last_progress;
} download_state;

const char *mmc_download_url_problem(const char *url) {
    if (strncmp(url, "https://", 8) != 0)
        return "must be an https:// URL (a download never goes over plain http)";
    size_t length = strlen(url);
    if (length > MMC_DOWNLOAD_MAX_URL_LENGTH)
        return "is longer than 4096 bytes";
    for (size_t i = 0; i < length; i++) {
        unsigned char c = (unsigned char)url[i];
        if (c <= 0x20 || c == 0x7f)
            return "holds a space or a control character";
    }
    const char *host = url + 8;
    size_t authority = strcspn(host, "/?#");
    if (authority == 0)
        return "names no host";
    if (memchr(host, '@', authority) != NULL)
        return "must not hold a user name or password";
    return NULL;
}

int mmc_download_path_problem(const char *path, mmc_buffer *problem) {
    return mmc_sink_check_path(path, problem);
}

/* The sink's side of a callback download: the caller's write, its reason kept. */
static int write_to_callback(void *context, const char *data, size_t length) {
    download_state *state = context;
    const mmc_download_callbacks *callbacks = &state->download->callbacks;
    mmc_buffer_clear(&state->problem);
    if (callbacks->write(callbacks->context, data, length, &state->problem) != 0) {
        mmc_sink_fail(&state->sink, state->problem.length > 0 ? mmc_buffer_text(&state->problem)
                                                              : "the output function stopped "
                                                                "the transfer");
        return -1;
    }
    return 0;
}

static void stop(download_state *state) {
    state->stopped = 1;
}

static size_t on_data(char *data, size_t size, size_t count, void *userdata) {
    download_state *state = userdata;
    size_t length = size * count;
    if (state->status == 0) {
        curl_easy_getinfo(state->easy, CURLINFO_RESPONSE_CODE, &state->status);
        state->is_body = state->status >= 200 && state->status < 300;
        curl_off_t total = -1;
        if (curl_easy_getinfo(state->easy, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &total) ==
                CURLE_OK &&
            total > 0)
            state->total = (uint64_t)total;
    }
    if (!state->is_body) {
        size_t room = ERROR_BODY_MAX - state->error_body.length;
        if (mmc_buffer_append(&state->error_body, data, length < room ? length : room) != 0)
            return 0;
        return length;
    }
    if (mmc_sink_write(&state->sink, data, length) != 0) {
        mmc_buffer_clear(&state->problem);
        mmc_buffer_append(&state->problem, state->sink.problem.data, state->sink.problem.length);
        stop(state);
        return 0;
    }
    state->written += length;
#ifdef SYNC_FILE_RANGE_WRITE
    if (state->sink.sync && state->sink.fd >= 0 &&
        state->written - state->flushed >= WRITE_BEHIND) {
        /* Starts the writing out, without waiting for it: a hint, whose failure changes
         * nothing (the fsync at the end decides). */
        (void)sync_file_range(state->sink.fd, (off_t)state->flushed,
                              (off_t)(state->written - state->flushed), SYNC_FILE_RANGE_WRITE);
        state->flushed = state->written;
    }
#endif
    return length;
}

static int call_progress(download_state *state) {
    const mmc_download_callbacks *callbacks = &state->download->callbacks;
    state->last_progress = mmc_clock_monotonic();
    if (callbacks->progress(callbacks->context, state->written, state->total, &state->problem) !=
        0) {
        stop(state);
        return -1;
    }
    return 0;
}

static int on_progress(void *userdata, curl_off_t download_total, curl_off_t download_now,
                       curl_off_t upload_total, curl_off_t upload_now) {
    (void)download_total;
    (void)download_now;
    (void)upload_total;
    (void)upload_now;
    download_state *state = userdata;
    if (!state->is_body || state->download->callbacks.progress == NULL || state->written == 0)
        return 0;
    if (mmc_clock_monotonic() - state->last_progress < MMC_DOWNLOAD_PROGRESS_INTERVAL)
        return 0;
    return call_progress(state) != 0;
}

#define SET(option, value)                                                                         \
    do {                                                                                           \
        if (curl_easy_setopt(easy, option, value) != CURLE_OK)                                     \
            return -1;                                                                             \
    } while (0)

static int set_download_options(CURL *easy, download_state *state, const mmc_client *client) {
    const mmc_download *download = state->download;
    SET(CURLOPT_WRITEFUNCTION, on_data);
    SET(CURLOPT_WRITEDATA, state);
    SET(CURLOPT_NOPROGRESS, 0L);
    SET(CURLOPT_XFERINFOFUNCTION, on_progress);
    SET(CURLOPT_XFERINFODATA, state);
    /* The client's max_body is for API answers: a recording has max_size or no limit. */
    SET(CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)(download->max_size <= INT64_MAX
                                                    ? download->max_size
                                                    : 0));
    SET(CURLOPT_FOLLOWLOCATION, 0L);
#if LIBCURL_VERSION_NUM >= 0x075500 /* 7.85.0 */
    SET(CURLOPT_PROTOCOLS_STR, "https");
#else
    SET(CURLOPT_PROTOCOLS, (long)CURLPROTO_HTTPS);
#endif
    SET(CURLOPT_ACCEPT_ENCODING, (char *)NULL);
    if (!download->ssl_verify) {
        SET(CURLOPT_SSL_VERIFYPEER, 0L);
        SET(CURLOPT_SSL_VERIFYHOST, 0L);
    }
    /* A stalled transfer (not a byte for the client's timeout) ends; a slow one goes on. */
    long stall = (long)ceil(client->timeout);
    SET(CURLOPT_LOW_SPEED_LIMIT, 1L);
    SET(CURLOPT_LOW_SPEED_TIME, stall > 0 ? stall : 1L);
    SET(CURLOPT_BUFFERSIZE, 256L * 1024);
    return 0;
}

/* The message of an answer that is not 2xx. */
static void describe_answer(download_state *state, const mmc_response *response,
                            mmc_buffer *message) {
    mmc_message_append_http_error(message, state->status ? state->status : response->status,
                                  state->error_body.data, state->error_body.length,
                                  response->request_id);
    long status = state->status ? state->status : response->status;
    if (status == 401 || status == 403)
        mmc_buffer_append_string(message,
                                 "; the download token was refused: it is spent or expired (each "
                                 "works once, within an hour of downloadurls): ask downloadurls "
                                 "again for a new one");
    else if (status >= 300 && status < 400)
        mmc_buffer_append_string(message, "; the download host answered a redirect, which mmc "
                                          "does not follow");
}

static int transfer(mmc_client *client, download_state *state, mmc_result *result) {
    const mmc_download *download = state->download;
    mmc_transport transport;
    if (mmc_transport_open_like(&transport, &client->transport, 0) != 0) {
        mmc_buffer_append_string(&result->message,
                                 client->transport.easy == NULL ? "client is closed"
                                                                : "out of memory");
        return -1;
    }
    state->easy = transport.easy;
    if (set_download_options(transport.easy, state, client) != 0) {
        mmc_buffer_append_string(&result->message, "libcurl refused a download setting");
        mmc_transport_close(&transport);
        return -1;
    }
    static const mmc_header accept = {"Accept", 6, "*/*", 3};
    mmc_request request = {
        .method = "GET",
        .url = download->url,
        .authorization = download->token,
        .timeout_ms = download->timeout > 0 ? mmc_call_milliseconds(download->timeout) : 0,
        .headers = &accept,
        .header_count = 1,
        .fresh_connection = 1,
    };
    mmc_response response;
    memset(&response, 0, sizeof response);
    mmc_buffer failure;
    mmc_buffer_init_in(&failure, client->memory);
    int outcome = mmc_transport_begin(&transport, &request, &failure);
    if (outcome == 0)
        outcome = mmc_transport_end(&transport, curl_easy_perform(transport.easy), &request,
                                    &response, &failure);
    result->status = state->status ? state->status : (outcome == 0 ? response.status : 0);
    if (state->stopped) {
        mmc_buffer_append(&result->message, state->problem.data, state->problem.length);
        outcome = -1;
    } else if (outcome != 0 && transport.failure_kind != NULL &&
               strcmp(transport.failure_kind, "response too large") == 0) {
        /* libcurl read a Content-Length past max_size before the body started */
        mmc_buffer_append_format(&result->message, "output exceeds max_size of %llu bytes",
                                 (unsigned long long)download->max_size);
    } else if (outcome != 0) {
        mmc_buffer_append(&result->message, failure.data, failure.length);
        if (state->is_body)
            mmc_buffer_append_format(&result->message, " after %llu bytes",
                                     (unsigned long long)state->written);
    } else if (!(result->status >= 200 && result->status < 300)) {
        describe_answer(state, &response, &result->message);
        outcome = -1;
    } else if (state->total > 0 && state->written != state->total) {
        mmc_buffer_append_format(&result->message,
                                 "connection lost: %llu of %llu bytes arrived",
                                 (unsigned long long)state->written,
                                 (unsigned long long)state->total);
        outcome = -1;
    } else {
        state->is_body = 1;
        if (download->callbacks.progress != NULL && call_progress(state) != 0) {
            mmc_buffer_append(&result->message, state->problem.data, state->problem.length);
            outcome = -1;
        } else {
            outcome = mmc_sink_finish(&state->sink, &result->message);
        }
    }
    mmc_buffer_free(&failure);
    mmc_transport_close(&transport);
    return outcome;
}

int mmc_client_download(mmc_client *client, const mmc_download *download, mmc_result *result,
                        uint64_t *bytes) {
    *bytes = 0;
    result->status = 0;
    result->body = NULL;
    result->body_length = 0;
    result->body_is_json = 0;
    const char *bad_url = mmc_download_url_problem(download->url);
    if (bad_url != NULL) {
        mmc_buffer_append_format(&result->message, "the URL %s", bad_url);
        return -1;
    }
    if (!mmc_token_is_well_formed(download->token, strlen(download->token))) {
        mmc_buffer_append_string(&result->message,
                                 "the token must be 1 to 1024 visible ASCII characters");
        return -1;
    }
    if (download->path == NULL && download->callbacks.write == NULL) {
        mmc_buffer_append_string(&result->message, "neither a path nor a write callback");
        return -1;
    }
    download_state state;
    memset(&state, 0, sizeof state);
    state.download = download;
    mmc_buffer_init_in(&state.error_body, client->memory);
    mmc_buffer_init_in(&state.problem, client->memory);
    state.last_progress = mmc_clock_monotonic();
    int outcome = -2; /* the path refused: nothing sent */
    if (download->path == NULL) {
        mmc_sink_open_callback(&state.sink, write_to_callback, &state, download->max_size,
                               client->memory);
        outcome = transfer(client, &state, result);
    } else if (mmc_sink_open_path(&state.sink, download->path, download->max_size,
                                  &result->message) == 0) {
        state.sink.sync = download->sync;
        outcome = transfer(client, &state, result);
        if (outcome != 0 && state.is_body)
            mmc_buffer_append_format(&result->message, "; nothing was kept at '%s'",
                                     download->path);
    }
    mmc_sink_abandon(&state.sink); /* removes a partial file; frees */
    *bytes = state.written;
    mmc_buffer_free(&state.error_body);
    mmc_buffer_free(&state.problem);
    if (outcome != 0 && result->message.length == 0)
        mmc_buffer_append_string(&result->message, "download failed");
    mmc_call_redact(client, result, download->token);
    return outcome;
}
