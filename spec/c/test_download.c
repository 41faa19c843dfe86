/* The download core on its own, with no interpreter (src/download.h): a client asks the local
 * mock for a meeting's recordings (downloadurls) and fetches them from the mock's second HTTPS
 * host with their one-time tokens, to a file and to a callback. Run by spec/support/with-mock
 * with mock_config.json; the mock's recording is its default 64 MiB (Aux: 4 MiB, Sd: 16 MiB). */
#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../src/client.h"
#include "../../src/download.h"
#include "check.h"

#define APP_ID "c-core-app"
#define APP_KEY "c-core-key-0123456789"
#define CONF_UUID "a8a4d4e0b6c511ee9a0b5f2c1d3e4f50"
#define AUX_SIZE ((uint64_t)4 * 1024 * 1024)
#define SD_SIZE ((uint64_t)16 * 1024 * 1024)

typedef struct entry {
    char url[512];
    char token[256];
} entry;

/* The string value of "name" inside [from, to) of the JSON text, into out. */
static int string_member(const char *from, const char *to, const char *name, char *out,
                         size_t size) {
    char key[64];
    snprintf(key, sizeof key, "\"%s\":\"", name);
    const char *at = strstr(from, key);
    if (at == NULL || at >= to)
        return -1;
    at += strlen(key);
    const char *end = strchr(at, '"');
    if (end == NULL || end > to || (size_t)(end - at) >= size)
        return -1;
    memcpy(out, at, (size_t)(end - at));
    out[end - at] = '\0';
    return 0;
}

/* The url and token of the file of `file_type`, from a fresh downloadurls answer. */
static int ask_downloadurls(mmc_client *client, const char *file_type, entry *out) {
    mmc_query_pair query[] = {{"confUUID", 8, CONF_UUID, strlen(CONF_UUID)}};
    mmc_api_call call = {.method = "GET",
                         .path = "/v1/mmc/management/record/downloadurls",
                         .path_length = strlen("/v1/mmc/management/record/downloadurls"),
                         .query_pairs = query,
                         .query_pair_count = 1,
                         .retry = MMC_RETRY_AS_METHOD};
    mmc_result result;
    mmc_result_init(&result);
    int outcome = -1;
    if (mmc_client_request(client, &call, &result) == 0 && result.body != NULL) {
        char marker[64];
        snprintf(marker, sizeof marker, "\"fileType\":\"%s\"", file_type);
        const char *type = strstr(result.body, marker);
        const char *open = type;
        while (open != NULL && open > result.body && *open != '{')
            open--;
        if (type != NULL && string_member(open, type, "url", out->url, sizeof out->url) == 0 &&
            string_member(open, type, "token", out->token, sizeof out->token) == 0)
            outcome = 0;
    }
    mmc_result_free(&result);
    return outcome;
}

static int entries_in(const char *dir) {
    DIR *d = opendir(dir);
    int count = 0;
    for (struct dirent *e; d != NULL && (e = readdir(d)) != NULL;)
        count += strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
    if (d != NULL)
        closedir(d);
    return count;
}

typedef struct counting {
    uint64_t bytes, last_done, last_total;
    int progress_calls;
    uint64_t stop_after; /* 0: never stop */
} counting;

static int count_write(void *context, const char *data, size_t length, mmc_buffer *problem) {
    counting *c = context;
    (void)data;
    c->bytes += length;
    if (c->stop_after > 0 && c->bytes >= c->stop_after) {
        mmc_buffer_append_string(problem, "stopped by the test");
        return -1;
    }
    return 0;
}

static int count_progress(void *context, uint64_t done, uint64_t total, mmc_buffer *problem) {
    counting *c = context;
    (void)problem;
    c->progress_calls++;
    c->last_done = done;
    c->last_total = total;
    return 0;
}

int main(void) {
    mmc_config config;
    mmc_config_defaults(&config);
    config.app_id = APP_ID;
    config.app_key = APP_KEY;
    config.endpoint = getenv("MMC_TEST_ENDPOINT");
    config.ca_file = getenv("MMC_TEST_CA");
    mmc_buffer problem;
    mmc_buffer_init(&problem);
    mmc_client *client = mmc_client_new(&config, &problem);
    CHECK(client != NULL);
    mmc_buffer_free(&problem);
    if (client == NULL)
        return check_report("download");

    char dir[] = "/tmp/mmc-c-download.XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    char path[sizeof dir + 16];
    snprintf(path, sizeof path, "%s/Aux.mp4", dir);
    mmc_result result;
    mmc_result_init(&result);
    uint64_t bytes = 0;

    /* To a file: whole, renamed into place, nothing else left in the folder. */
    entry aux;
    CHECK(ask_downloadurls(client, "Aux", &aux) == 0);
    mmc_download to_file = {.url = aux.url, .token = aux.token, .path = path, .ssl_verify = 1};
    CHECK(mmc_client_download(client, &to_file, &result, &bytes) == 0);
    CHECK(result.status == 200 && result.message.length == 0);
    CHECK(bytes == AUX_SIZE);
    struct stat info;
    CHECK(stat(path, &info) == 0 && (uint64_t)info.st_size == AUX_SIZE);
    CHECK(entries_in(dir) == 1);

    /* The same token again: refused, spent or expired, and never shown. */
    mmc_result_free(&result);
    mmc_result_init(&result);
    CHECK(mmc_client_download(client, &to_file, &result, &bytes) == -1);
    CHECK(result.status == 401);
    CHECK(strstr(mmc_buffer_text(&result.message), "ask downloadurls again") != NULL);
    CHECK(strstr(mmc_buffer_text(&result.message), aux.token) == NULL);
    CHECK(entries_in(dir) == 1);

    /* To a callback, with progress: every byte, the last progress call at the end. */
    entry sd;
    CHECK(ask_downloadurls(client, "Sd", &sd) == 0);
    counting c = {0};
    mmc_download to_callback = {.url = sd.url, .token = sd.token, .ssl_verify = 1,
                                .callbacks = {count_write, count_progress, &c}};
    mmc_result_free(&result);
    mmc_result_init(&result);
    CHECK(mmc_client_download(client, &to_callback, &result, &bytes) == 0);
    CHECK(result.status == 200 && bytes == SD_SIZE && c.bytes == SD_SIZE);
    CHECK(c.progress_calls >= 1 && c.last_done == SD_SIZE && c.last_total == SD_SIZE);

    /* A callback that stops the transfer: its reason is the message. */
    CHECK(ask_downloadurls(client, "Sd", &sd) == 0);
    counting stopping = {.stop_after = 1};
    mmc_download stopped = {.url = sd.url, .token = sd.token, .ssl_verify = 1,
                            .callbacks = {count_write, NULL, &stopping}};
    mmc_result_free(&result);
    mmc_result_init(&result);
    CHECK(mmc_client_download(client, &stopped, &result, &bytes) == -1);
    CHECK(result.status == 200);
    CHECK_STR(mmc_buffer_text(&result.message), "stopped by the test");

    /* Refused before anything is sent: plain http, a folder that is not there. */
    mmc_download plain = {.url = "http://127.0.0.1:9/a.mp4", .token = "token-token",
                          .path = path, .ssl_verify = 1};
    mmc_result_free(&result);
    mmc_result_init(&result);
    CHECK(mmc_client_download(client, &plain, &result, &bytes) == -1);
    CHECK(result.status == 0);
    CHECK(strncmp(mmc_buffer_text(&result.message), "the URL must be an https:// URL", 31) == 0);
    char missing[sizeof dir + 32];
    snprintf(missing, sizeof missing, "%s/missing/Aux.mp4", dir);
    CHECK(ask_downloadurls(client, "Aux", &aux) == 0);
    mmc_download nowhere = {.url = aux.url, .token = aux.token, .path = missing, .ssl_verify = 1};
    mmc_result_free(&result);
    mmc_result_init(&result);
    CHECK(mmc_client_download(client, &nowhere, &result, &bytes) == -2);
    CHECK(strstr(mmc_buffer_text(&result.message), "cannot be written") != NULL);
    /* ... and the token was not spent by it */
    mmc_result_free(&result);
    mmc_result_init(&result);
    CHECK(mmc_client_download(client, &(mmc_download){.url = aux.url, .token = aux.token,
                                                      .path = path, .ssl_verify = 1},
                              &result, &bytes) == 0);

    mmc_result_free(&result);
    unlink(path);
    rmdir(dir);
    mmc_client_free(client);
    return check_report("download");
}
