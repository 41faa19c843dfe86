/* conference: a meeting's control token and the calls that send it (conference.h). */
#include "conference.h"

#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "crypto.h"
#include "json_scan.h"
#include "redact.h"
#include "request.h"

struct mmc_conference {
    mmc_memory *memory; /* the account it is charged to (memory.h) */
    char *id;
    size_t id_length;
    char *password; /* a secret: wiped when freed */
    size_t password_length;
    mmc_buffer token; /* the control token, a secret; empty when there is none */
    double renew_at;  /* monotonic seconds: renew from then on */
    double expires_at;
    mmc_buffer body; /* the last result's body, redacted */
    mmc_conference_hook hook;
    void *hook_data;
};

static const char *text_problem(const char *text, size_t length, size_t longest, const char *what,
                                const char *empty, const char *too_long, const char *bad) {
    (void)what;
    if (length == 0)
        return empty;
    if (length > longest)
        return too_long;
    for (size_t i = 0; i < length; i++)
        if ((unsigned char)text[i] < 0x20 || text[i] == 0x7f)
            return bad;
    return NULL;
}

const char *mmc_conference_id_problem(const char *id, size_t length) {
    return text_problem(id, length, MMC_MAX_CONFERENCE_ID_LENGTH, "conference_id",
                        "conference_id must not be empty",
                        "conference_id is longer than 64 bytes",
                        "conference_id must not hold control characters");
}

const char *mmc_conference_password_problem(const char *password, size_t length) {
    return text_problem(password, length, MMC_MAX_HOST_PASSWORD_LENGTH, "password",
                        "options.password (the host password) must not be empty",
                        "options.password is longer than 128 bytes",
                        "options.password must not hold control characters");
}

static char *copy_text(mmc_memory *memory, const char *text, size_t length) {
    char *copy = mmc_memory_alloc(memory, length + 1);
    if (copy != NULL) {
        memcpy(copy, text, length);
        copy[length] = '\0';
    }
    return copy;
}

mmc_conference *mmc_conference_new(const char *id, size_t id_length, const char *password,
                                   size_t password_length, mmc_memory *memory) {
    mmc_conference *conference = mmc_memory_calloc(memory, 1, sizeof *conference);
    if (conference == NULL)
        return NULL;
    conference->memory = memory;
    mmc_buffer_init_in(&conference->token, memory);
    mmc_buffer_init_in(&conference->body, memory);
    conference->id = copy_text(memory, id, id_length);
    conference->password = copy_text(memory, password, password_length);
    if (conference->id == NULL || conference->password == NULL) {
        mmc_conference_free(conference);
        return NULL;
    }
    conference->id_length = id_length;
    conference->password_length = password_length;
    return conference;
}

void mmc_conference_free(mmc_conference *conference) {
    if (conference == NULL)
        return;
    mmc_memory *memory = conference->memory;
    mmc_memory_free(memory, conference->id);
    if (conference->password != NULL) {
        mmc_wipe(conference->password, conference->password_length);
        mmc_memory_free(memory, conference->password);
    }
    mmc_buffer_free(&conference->token); /* wipes */
    mmc_buffer_free(&conference->body);
    mmc_memory_free(memory, conference);
}

const char *mmc_conference_id(const mmc_conference *conference) { return conference->id; }

int mmc_conference_has_token(const mmc_conference *conference) {
    return conference->token.length > 0;
}

void mmc_conference_set_hook(mmc_conference *conference, mmc_conference_hook hook, void *data) {
    conference->hook = hook;
    conference->hook_data = data;
}

static void forget_token(mmc_conference *conference) {
    if (conference->token.data != NULL)
        mmc_wipe(conference->token.data, conference->token.length);
    mmc_buffer_clear(&conference->token);
}

/* Runs the caller's hook after one of the client's calls. */
static void after_call(mmc_conference *conference, mmc_client *client) {
    if (conference->hook != NULL)
        conference->hook(conference->hook_data, client);
}

/* The secrets a result must not show: the password and the token (the one held, and the one a
 * renewal used, which `old` keeps). */
static size_t secrets_of(const mmc_conference *conference, const mmc_buffer *old,
                         mmc_secret secrets[3]) {
    size_t count = 0;
    secrets[count++] = (mmc_secret){conference->password, conference->password_length};
    if (conference->token.length > 0)
        secrets[count++] = (mmc_secret){conference->token.data, conference->token.length};
    if (old != NULL && old->length > 0)
        secrets[count++] = (mmc_secret){old->data, old->length};
    return count;
}

/* Redacts the result's message, and copies its body into the handle, redacted. On running out
 * of memory the body is withheld. */
static void redact_result(mmc_conference *conference, const mmc_buffer *old, mmc_result *result) {
    mmc_secret secrets[3];
    size_t count = secrets_of(conference, old, secrets);
    mmc_redact_text(&result->message, secrets, count);
    mmc_buffer_clear(&conference->body);
    if (result->body == NULL || result->body_length == 0)
        return;
    int failed = mmc_buffer_append(&conference->body, result->body, result->body_length) != 0;
    if (!failed && result->body_is_json)
        failed = mmc_redact_json(&conference->body, secrets, count) != 0;
    else if (!failed)
        failed = mmc_redact_text(&conference->body, secrets, count) != 0;
    if (failed || conference->body.length == 0) {
        mmc_buffer_clear(&conference->body);
        result->body = NULL;
        result->body_length = 0;
        result->body_is_json = 0;
        return;
    }
    result->body = conference->body.data;
    result->body_length = conference->body.length;
}

/* Reads the token and its life from a token answer's body. 0 or -1. */
static int read_token(mmc_conference *conference, const mmc_result *result, double asked_at) {
    mmc_json_field top[] = {{"data", {MMC_JSON_ABSENT, NULL, 0}}};
    if (result->body == NULL ||
        mmc_json_scan(result->body, result->body_length, top, 1) != MMC_JSON_OK ||
        top[0].value.type != MMC_JSON_OTHER)
        return -1;
    mmc_json_field fields[] = {{"token", {MMC_JSON_ABSENT, NULL, 0}},
                               {"confTokenExpireTime", {MMC_JSON_ABSENT, NULL, 0}},
                               {"expireTime", {MMC_JSON_ABSENT, NULL, 0}}};
    if (mmc_json_scan(top[0].value.start, top[0].value.length, fields, 3) != MMC_JSON_OK ||
        fields[0].value.type != MMC_JSON_STRING)
        return -1;
    forget_token(conference);
    if (mmc_json_string_value(&fields[0].value, &conference->token) != 0 ||
        conference->token.length == 0)
        return -1;
    double life = MMC_CONTROL_TOKEN_LIFE;
    long long value = 0;
    if (fields[1].value.type == MMC_JSON_NUMBER &&
        mmc_json_integer_value(&fields[1].value, &value) == 0 && value > 0 && value <= 86400)
        life = (double)value;
    else if (fields[2].value.type == MMC_JSON_NUMBER &&
             mmc_json_integer_value(&fields[2].value, &value) == 0) {
        double left = (double)value / 1000.0 - mmc_clock_unix_precise();
        if (left > 0 && left <= 86400)
            life = left;
    }
    double margin = life / 3 < MMC_CONTROL_TOKEN_RENEW_MARGIN ? life / 3
                                                               : MMC_CONTROL_TOKEN_RENEW_MARGIN;
    conference->expires_at = asked_at + life;
    conference->renew_at = conference->expires_at - margin;
    return 0;
}

/* Asks for a control token: with the password, or (`renew`) with the token held. 0, or -1 with
 * the failure in `result`. */
static int obtain_token(mmc_conference *conference, mmc_client *client, int renew,
                        mmc_result *result) {
    mmc_buffer old;
    mmc_buffer_init_in(&old, conference->memory);
    if (renew && mmc_buffer_append(&old, conference->token.data, conference->token.length) != 0) {
        mmc_buffer_free(&old);
        return -1;
    }
    mmc_query_pair pair = {"conferenceID", 12, conference->id, conference->id_length};
    mmc_header headers[2];
    size_t header_count = 0;
    if (renew) {
        headers[header_count++] = (mmc_header){"X-Conference-Authorization", 26, old.data,
                                               old.length};
    } else {
        headers[header_count++] = (mmc_header){"X-Password", 10, conference->password,
                                               conference->password_length};
        headers[header_count++] = (mmc_header){"X-Login-Type", 12, "1", 1};
    }
    mmc_api_call call = {.method = "GET",
                         .path = MMC_CONTROL_TOKEN_PATH,
                         .path_length = strlen(MMC_CONTROL_TOKEN_PATH),
                         .query_pairs = &pair,
                         .query_pair_count = 1,
                         .headers = headers,
                         .header_count = header_count,
                         .retry = MMC_RETRY_AS_METHOD,
                         /* a keep-alive's 401 refuses the control token sent, not the client's */
                         .refusal_is_callers = renew};
    double asked_at = mmc_clock_monotonic();
    mmc_client_request(client, &call, result);
    after_call(conference, client);
    int ok = result->status >= 200 && result->status < 300 && result->message.length == 0 &&
             read_token(conference, result, asked_at) == 0;
    if (!ok) {
        forget_token(conference);
        if (result->status != 0 && result->message.length == 0)
            mmc_buffer_append_string(&result->message,
                                     "the answer holds no data.token"); /* a 2xx without one */
        mmc_buffer message;
        mmc_buffer_init_in(&message, conference->memory);
        mmc_buffer_append_format(&message, "meeting %s: no control token (%s): %s",
                                 conference->id,
                                 renew ? "keep-alive with the token" : "with the host password",
                                 mmc_buffer_text(&result->message));
        mmc_buffer_clear(&result->message);
        mmc_buffer_append(&result->message, message.data, message.length);
        mmc_buffer_free(&message);
        redact_result(conference, &old, result);
    }
    mmc_buffer_free(&old);
    return ok ? 0 : -1;
}

/* Makes sure a live control token is held: obtained when there is none or it has ended,
 * renewed with itself when it is due (then with the password if that failed). 0 or -1. */
static int ensure_token(mmc_conference *conference, mmc_client *client, mmc_result *result) {
    double now = mmc_clock_monotonic();
    if (conference->token.length > 0 && now < conference->renew_at)
        return 0;
    if (conference->token.length > 0 && now < conference->expires_at &&
        obtain_token(conference, client, 1, result) == 0)
        return 0;
    return obtain_token(conference, client, 0, result);
}

/* Sends the control call once with the token held. */
static void send_control(mmc_conference *conference, mmc_client *client, const mmc_api_call *call,
                         mmc_query_pair *pairs, mmc_header *headers, mmc_result *result) {
    size_t pair_count = call->query_pair_count, header_count = call->header_count;
    if (pair_count > 0)
        memcpy(pairs, call->query_pairs, pair_count * sizeof *pairs);
    pairs[pair_count++] = (mmc_query_pair){"conferenceID", 12, conference->id,
                                           conference->id_length};
    if (header_count > 0)
        memcpy(headers, call->headers, header_count * sizeof *headers);
    headers[header_count++] = (mmc_header){"X-Conference-Authorization", 26,
                                           conference->token.data, conference->token.length};
    mmc_api_call control = *call;
    control.refusal_is_callers = 1; /* a 401 refuses the control token: renewed here, not the
                                     * client's token */
    control.query_pairs = pairs;
    control.query_pair_count = pair_count;
    control.headers = headers;
    control.header_count = header_count;
    mmc_client_request(client, &control, result);
    after_call(conference, client);
}

int mmc_conference_request(mmc_conference *conference, mmc_client *client,
                           const mmc_api_call *call, mmc_result *result) {
    mmc_query_pair pairs[MMC_CONFERENCE_MAX_QUERY_PAIRS + 1];
    mmc_header headers[MMC_CONFERENCE_MAX_HEADERS + 1];
    mmc_buffer_clear(&conference->body);
    if (call->query_pair_count > MMC_CONFERENCE_MAX_QUERY_PAIRS ||
        call->header_count > MMC_CONFERENCE_MAX_HEADERS || call->query != NULL) {
        result->status = 0;
        mmc_buffer_clear(&result->message);
        mmc_buffer_append_string(&result->message,
                                 "a control call takes at most 99 query pairs and 50 headers");
        return -1;
    }
    if (ensure_token(conference, client, result) != 0)
        return -1;
    send_control(conference, client, call, pairs, headers, result);
    if (result->status == 401) {
        /* The control token may have been revoked or have ended early: once more with a new
         * one. */
        forget_token(conference);
        if (obtain_token(conference, client, 0, result) != 0)
            return -1;
        send_control(conference, client, call, pairs, headers, result);
    }
    redact_result(conference, NULL, result);
    return result->status >= 200 && result->status < 300 && result->message.length == 0 ? 0 : -1;
}
