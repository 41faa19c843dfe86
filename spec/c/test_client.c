/* The core on its own, with no interpreter: a client authenticates and changes the event-push
 * status against the local mock (started by spec/support/with-mock with mock_config.json). */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../src/client.h"
#include "../../src/sink.h"
#include "../../src/transport.h"
#include "../../src/json_scan.h"
#include "check.h"

#define APP_ID "c-core-app"
#define APP_KEY "c-core-key-0123456789"
#define WEBHOOK_ID "0123456789abcdef0123456789abcdef"

static mmc_client *new_client(const char *app_key, const char *ca_file) {
    mmc_config config;
    mmc_config_defaults(&config);
    config.app_id = APP_ID;
    config.app_key = app_key;
    config.endpoint = getenv("MMC_TEST_ENDPOINT");
    config.ca_file = ca_file;
    mmc_buffer problem;
    mmc_buffer_init(&problem);
    mmc_client *client = mmc_client_new(&config, &problem);
    CHECK(client != NULL);
    mmc_buffer_free(&problem);
    return client;
}

static void authenticates_and_changes_status(void) {
    mmc_client *client = new_client(APP_KEY, getenv("MMC_TEST_CA"));
    mmc_result result;
    mmc_result_init(&result);
    CHECK(mmc_client_auth(client, &result) == 0);
    CHECK(result.status == 200);
    CHECK(result.message.length == 0);
    /* The answer handed on (to the Lua face's decoder) holds neither token: both were wiped
     * in the client's buffer, and read null; the rest of the answer is intact. */
    mmc_json_field fields[] = {{"accessToken", {0}}, {"refreshToken", {0}}, {"validPeriod", {0}}};
    CHECK(result.body != NULL && result.body_is_json &&
          mmc_json_scan(result.body, result.body_length, fields, 3) == MMC_JSON_OK);
    CHECK(fields[0].value.type == MMC_JSON_OTHER && fields[0].value.length == 4);
    CHECK(fields[1].value.type == MMC_JSON_OTHER && fields[1].value.length == 4);
    CHECK(fields[2].value.type == MMC_JSON_NUMBER);
    for (int status = MMC_ENABLE; status <= MMC_LOCK; status++) {
        CHECK(mmc_client_set_webhook_status(client, WEBHOOK_ID, strlen(WEBHOOK_ID), status,
                                            &result) == 0);
        CHECK(result.status == 200);
        CHECK(result.body != NULL && strstr(result.body, "\"returnCode\":0") != NULL);
    }
    CHECK(mmc_client_set_webhook_status(client, "unknown", 7, MMC_LOCK, &result) == -1);
    CHECK(result.status == 400);
    CHECK(strncmp(mmc_buffer_text(&result.message), "MMC.111070002: ", 15) == 0);
    mmc_result_free(&result);
    mmc_client_free(client);
}

static void reports_a_wrong_key(void) {
    mmc_client *client = new_client("wrong-key-wrong-key", getenv("MMC_TEST_CA"));
    mmc_result result;
    mmc_result_init(&result);
    CHECK(mmc_client_set_webhook_status(client, WEBHOOK_ID, strlen(WEBHOOK_ID), MMC_ENABLE,
                                        &result) == -1);
    CHECK(result.status == 401);
    CHECK(strncmp(mmc_buffer_text(&result.message), "authentication failed: USG.", 27) == 0);
    CHECK(strstr(mmc_buffer_text(&result.message), "wrong-key-wrong-key") == NULL);
    mmc_result_free(&result);
    mmc_client_free(client);
}

static void refuses_an_unknown_ca(void) {
    mmc_client *client = new_client(APP_KEY, getenv("MMC_TEST_OTHER_CA"));
    mmc_result result;
    mmc_result_init(&result);
    CHECK(mmc_client_auth(client, &result) == -1);
    CHECK(result.status == 0);
    CHECK(strncmp(mmc_buffer_text(&result.message), "TLS failed: ", 12) == 0);
    mmc_result_free(&result);
    mmc_client_free(client);
}

/* The generic call and a named one take the same way: both authenticate when needed, and
 * the exchange log sees every exchange of a call, with its path and the id it sent. */
static void makes_generic_calls_and_logs_exchanges(void) {
    mmc_config config;
    mmc_config_defaults(&config);
    config.app_id = APP_ID;
    config.app_key = APP_KEY;
    config.endpoint = getenv("MMC_TEST_ENDPOINT");
    config.ca_file = getenv("MMC_TEST_CA");
    config.record_exchanges = 1;
    mmc_buffer problem;
    mmc_buffer_init(&problem);
    mmc_client *client = mmc_client_new(&config, &problem);
    mmc_buffer_free(&problem);
    CHECK(client != NULL);
    if (client == NULL)
        return;
    mmc_query_pair pairs[] = {{"searchKey", 9, "Weekly", 6}, {"limit", 5, "5", 1}};
    mmc_api_call call = {.method = "GET",
                         .path = "/v1/mmc/management/conferences",
                         .path_length = 30,
                         .query_pairs = pairs,
                         .query_pair_count = 2,
                         .retry = MMC_RETRY_AS_METHOD};
    mmc_result result;
    mmc_result_init(&result);
    CHECK(mmc_client_request(client, &call, &result) == 0);
    CHECK(result.status == 200);
    CHECK(result.body != NULL && strstr(result.body, "\"Weekly sync\"") != NULL);
    const mmc_exchange_log *log = mmc_client_exchanges(client);
    CHECK(log->count == 2);
    if (log->count == 2) {
        CHECK_STR(log->entries[0].method, "POST");
        /* paths are kept one after the other: each is path_length bytes */
        CHECK(strncmp(mmc_exchange_path(log, &log->entries[0]), "/v2/usg/acs/auth/appauth", 24) ==
              0);
        CHECK(strncmp(mmc_exchange_path(log, &log->entries[1]), "/v1/mmc/management/conferences",
                      30) == 0);
        CHECK(log->entries[0].path_length == 24 && log->entries[1].path_length == 30);
        CHECK(log->entries[1].status == 200 && log->entries[1].attempt == 1);
        CHECK(log->entries[1].retry_in < 0 && log->entries[1].error == NULL);
        CHECK(strlen(log->entries[1].request_id) == 36);
    }
    /* a named call: the log starts afresh, and needs no authentication now */
    CHECK(mmc_client_set_webhook_status(client, WEBHOOK_ID, strlen(WEBHOOK_ID), MMC_DISABLE,
                                        &result) == 0);
    CHECK(log->count == 1 && log->entries[0].status == 200);
    /* a bad call is refused before anything is sent */
    call.path = "//evil.example/x";
    call.path_length = 16;
    CHECK(mmc_client_request(client, &call, &result) == -1);
    CHECK(result.status == 0 && log->count == 0);
    CHECK_STR(mmc_buffer_text(&result.message), "path must not have an empty segment ('//')");
    mmc_result_free(&result);
    mmc_client_free(client);
}

typedef struct collected {
    size_t bytes;
    int chunks;
    int progress_calls;
    uint64_t last_done, last_total;
    int last_final;
} collected;

static int collect(void *ctx, const char *data, size_t length) {
    collected *into = ctx;
    (void)data;
    into->bytes += length;
    into->chunks++;
    return 0;
}

static int tell(void *ctx, uint64_t done, uint64_t total, int final, mmc_buffer *why) {
    collected *into = ctx;
    (void)why;
    into->progress_calls++;
    into->last_done = done;
    into->last_total = total;
    into->last_final = final;
    return 0;
}

/* The transfer of one call (transport.h, mmc_transfer), Lua-free: a 2xx body to a sink, an
 * error's body in memory, progress, a raw body, and a form streamed from a file. */
static void moves_bodies_through_a_transfer(void) {
    mmc_client *client = new_client(APP_KEY, getenv("MMC_TEST_CA"));
    CHECK(client != NULL);
    if (client == NULL)
        return;
    collected into = {0};
    mmc_sink sink;
    mmc_sink_open_callback(&sink, collect, &into, 0, NULL);
    mmc_transfer transfer = {.sink = &sink, .progress = tell, .progress_ctx = &into};
    mmc_buffer_init(&transfer.stopped);
    mmc_api_call call = {.method = "GET",
                         .path = "/v1/mmc/management/conferences",
                         .path_length = 30,
                         .retry = MMC_RETRY_AS_METHOD,
                         .transfer = &transfer};
    mmc_result result;
    mmc_result_init(&result);
    CHECK(mmc_client_request(client, &call, &result) == 0);
    CHECK(result.status == 200 && result.body_length == 0);
    CHECK(into.bytes > 100 && sink.bytes == into.bytes);
    CHECK(into.progress_calls >= 1 && into.last_final == 1);
    CHECK(into.last_done == into.bytes && into.last_total == into.bytes);
    mmc_sink_abandon(&sink);

    /* an error answer: its body is the error, in memory; nothing reaches the sink */
    collected none = {0};
    mmc_sink_open_callback(&sink, collect, &none, 0, NULL);
    transfer.progress = NULL;
    call.path = "/v1/mmc/management/conferencesX";
    call.path_length = 31;
    CHECK(mmc_client_request(client, &call, &result) == -1);
    CHECK(result.status == 404 && none.bytes == 0 && result.body_is_json);
    CHECK(strstr(mmc_buffer_text(&result.message), "MOCK.404") != NULL);
    mmc_sink_abandon(&sink);

    /* raw: the body in memory, not judged */
    mmc_transfer raw = {.raw = 1};
    call.transfer = &raw;
    call.path = "/v1/mmc/management/conferences";
    call.path_length = 30;
    CHECK(mmc_client_request(client, &call, &result) == 0);
    CHECK(result.status == 200 && result.body_length > 100);

    /* a form: a text field and a file streamed from disk */
    char path[] = "/tmp/mmc-test-client-XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    if (fd >= 0) {
        CHECK(write(fd, "\x89PNG\r\n\x1a\n0123456789", 18) == 18);
        close(fd);
        mmc_form_part parts[] = {{.name = "file", .file_path = path, .content_type = "image/png",
                                  .filename = "x.png"}};
        mmc_transfer form = {.form = parts, .form_count = 1};
        mmc_api_call upload = {.method = "POST",
                               .path = "/v1/usg/sss/materials",
                               .path_length = 21,
                               .retry = MMC_RETRY_AS_METHOD,
                               .transfer = &form};
        CHECK(mmc_client_request(client, &upload, &result) == 0);
        CHECK(result.status == 200);
        /* the handle's next plain request is plain again */
        call.transfer = NULL;
        CHECK(mmc_client_request(client, &call, &result) == 0);
        CHECK(result.status == 200 && result.body_is_json);
        unlink(path);
    }
    mmc_buffer_free(&transfer.stopped);
    mmc_result_free(&result);
    mmc_client_free(client);
}

int main(void) {
    if (getenv("MMC_TEST_ENDPOINT") == NULL) {
        fprintf(stderr, "run through spec/support/with-mock\n");
        return 1;
    }
    authenticates_and_changes_status();
    reports_a_wrong_key();
    refuses_an_unknown_ca();
    makes_generic_calls_and_logs_exchanges();
    moves_bodies_through_a_transfer();
    return check_report("client");
}
