/* The core's meeting control (src/conference.h) with no interpreter, against the local mock
 * (started by spec/support/with-mock with mock_config.json; its meeting control is
 * spec/mock/mock_control.py, host password Hp-4711-9265-ZX for every meeting). */
#include <stdlib.h>
#include <string.h>

#include "../../src/conference.h"
#include "check.h"

#define APP_ID "c-core-app"
#define APP_KEY "c-core-key-0123456789"
#define CONFERENCE "914083136"
#define PASSWORD "Hp-4711-9265-ZX"
#define MUTE "/v1/mmc/control/conferences/mute"

static mmc_client *new_client(void) {
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
    return client;
}

/* Counts, from each of the client's calls, the exchanges with the control-token path. */
static void count_token_requests(void *data, mmc_client *client) {
    int *count = data;
    const mmc_exchange_log *log = mmc_client_exchanges(client);
    for (size_t i = 0; i < log->count; i++) {
        const char *path = mmc_exchange_path(log, &log->entries[i]);
        if (log->entries[i].path_length == strlen(MMC_CONTROL_TOKEN_PATH) &&
            memcmp(path, MMC_CONTROL_TOKEN_PATH, log->entries[i].path_length) == 0)
            (*count)++;
    }
}

static int mute(mmc_conference *conference, mmc_client *client, const char *body,
                mmc_result *result) {
    mmc_api_call call = {.method = "PUT",
                         .path = MUTE,
                         .path_length = strlen(MUTE),
                         .body = body,
                         .body_length = strlen(body),
                         .retry = MMC_RETRY_AS_METHOD};
    return mmc_conference_request(conference, client, &call, result);
}

static void checks_its_inputs(void) {
    CHECK(mmc_conference_id_problem(CONFERENCE, strlen(CONFERENCE)) == NULL);
    CHECK(mmc_conference_id_problem("", 0) != NULL);
    char long_id[66];
    memset(long_id, '9', 65);
    long_id[65] = '\0';
    CHECK(mmc_conference_id_problem(long_id, 65) != NULL);
    CHECK(mmc_conference_id_problem(long_id, 64) == NULL);
    CHECK(mmc_conference_id_problem("91\n4", 4) != NULL);
    CHECK(mmc_conference_password_problem(PASSWORD, strlen(PASSWORD)) == NULL);
    CHECK(mmc_conference_password_problem("", 0) != NULL);
    CHECK(mmc_conference_password_problem("a\tb", 3) != NULL);
    mmc_conference_free(NULL);
}

static void obtains_the_token_once_and_mutes(void) {
    mmc_client *client = new_client();
    mmc_conference *conference = mmc_conference_new(CONFERENCE, strlen(CONFERENCE), PASSWORD,
                                                    strlen(PASSWORD), NULL);
    CHECK(client != NULL && conference != NULL);
    if (client == NULL || conference == NULL)
        return;
    CHECK_STR(mmc_conference_id(conference), CONFERENCE);
    CHECK(!mmc_conference_has_token(conference));
    int token_requests = 0;
    mmc_conference_set_hook(conference, count_token_requests, &token_requests);
    mmc_result result;
    mmc_result_init(&result);
    for (int i = 0; i < 3; i++) {
        CHECK(mute(conference, client, i % 2 ? "{\"isMute\":0}" : "{\"isMute\":1}", &result) == 0);
        CHECK(result.status == 200);
        CHECK(result.message.length == 0);
    }
    CHECK(mmc_conference_has_token(conference));
    CHECK(token_requests == 1);
    /* a body the mock refuses: its answer comes back as it is, the token kept */
    CHECK(mute(conference, client, "{\"isMute\":7}", &result) == -1);
    CHECK(result.status == 400);
    CHECK(strstr(mmc_buffer_text(&result.message), "MMC.111070001") != NULL);
    CHECK(token_requests == 1);
    mmc_result_free(&result);
    mmc_conference_free(conference);
    mmc_client_free(client);
}

static void reports_a_wrong_password_without_showing_it(void) {
    static const char wrong[] = "Zq-wrong-pin-5508";
    mmc_client *client = new_client();
    mmc_conference *conference = mmc_conference_new(CONFERENCE, strlen(CONFERENCE), wrong,
                                                    strlen(wrong), NULL);
    CHECK(client != NULL && conference != NULL);
    if (client == NULL || conference == NULL)
        return;
    mmc_result result;
    mmc_result_init(&result);
    CHECK(mute(conference, client, "{\"isMute\":1}", &result) == -1);
    CHECK(result.status == 403);
    const char *message = mmc_buffer_text(&result.message);
    CHECK(strncmp(message, "meeting " CONFERENCE ": no control token (with the host password): ",
                  strlen("meeting " CONFERENCE ": no control token (with the host password): ")) ==
          0);
    CHECK(strstr(message, "MMC.111070006") != NULL);
    CHECK(strstr(message, "wrong-pi") == NULL);
    CHECK(!mmc_conference_has_token(conference));
    mmc_result_free(&result);
    mmc_conference_free(conference);
    mmc_client_free(client);
}

int main(void) {
    checks_its_inputs();
    if (getenv("MMC_TEST_ENDPOINT") == NULL) {
        fprintf(stderr, "run through spec/support/with-mock\n");
        return 1;
    }
    obtains_the_token_once_and_mutes();
    reports_a_wrong_password_without_showing_it();
    return check_report("conference");
}
