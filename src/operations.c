/* operations: the API calls, each described as an mmc_api_call and made by call.c. */
#include "client.h"
#include "client_internal.h"

#include <string.h>

#include "json_write.h"
#include "url.h"

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
    mmc_call_start(client, result);
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
    return mmc_call_finish(client, result, mmc_call_make(client, &call, 1, result));
}

/* ---- event-push subscription ---------------------------------------------------------- */

/* 1 when an optional text is absent, or valid UTF-8 of at most `max_bytes` bytes with no
 * control character (these end up in JSON bodies and URLs). */
static int is_short_text(const char *text, size_t max_bytes) {
    if (!mmc_is_short_utf8(text, max_bytes))
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
    mmc_call_start(client, result);
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
        return mmc_call_finish(client, result, -1);
    }
    mmc_api_call call = fixed_call("POST", MMC_WEBHOOK_CONFIG_PATH, NULL);
    call.body = body->data;
    call.body_length = body->length;
    int outcome = mmc_call_make(client, &call, 1, result); /* it clears the body */
    mmc_call_redact(client, result, config->subscriber_key); /* and the other secrets, as mmc_call_finish() */
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
    mmc_call_start(client, result);
    const char *problem = mmc_tenant_ids_problem(corp_id, sp_id);
    if (problem != NULL) {
        mmc_buffer_append_string(&result->message, problem);
        return -1;
    }
    mmc_buffer_clear(&client->query);
    if (append_query(&client->query, "corpId", corp_id, corp_id ? strlen(corp_id) : 0) != 0 ||
        append_query(&client->query, "spId", sp_id, sp_id ? strlen(sp_id) : 0) != 0) {
        mmc_buffer_append_string(&result->message, "out of memory");
        return mmc_call_finish(client, result, -1);
    }
    mmc_api_call call = fixed_call("GET", MMC_WEBHOOK_CONFIG_PATH, &client->query);
    return mmc_call_finish(client, result, mmc_call_make(client, &call, 1, result));
}

int mmc_client_delete_webhook_config(mmc_client *client, const char *id, size_t id_length,
                                     mmc_result *result) {
    mmc_call_start(client, result);
    if (id_length == 0 || id_length > MMC_MAX_ID_LENGTH) {
        mmc_buffer_append_string(&result->message, "invalid id");
        return -1;
    }
    mmc_buffer_clear(&client->query);
    if (append_query(&client->query, "id", id, id_length) != 0) {
        mmc_buffer_append_string(&result->message, "out of memory");
        return mmc_call_finish(client, result, -1);
    }
    mmc_api_call call = fixed_call("DELETE", MMC_WEBHOOK_CONFIG_PATH, &client->query);
    return mmc_call_finish(client, result, mmc_call_make(client, &call, 1, result));
}

int mmc_client_logout(mmc_client *client, mmc_result *result) {
    mmc_call_start(client, result);
    if (client->token.value.length == 0) {
        mmc_buffer_append_string(&result->message,
                                 "not logged in: the client holds no token to log out");
        return -1;
    }
    /* With the token it holds: no authentication first, none after a 401. */
    mmc_api_call call = fixed_call("DELETE", MMC_TOKEN_PATH, NULL);
    int outcome = mmc_call_make(client, &call, 0, result);
    /* Redact before the token is forgotten: mmc_call_finish() can no longer see it afterwards. */
    mmc_call_finish(client, result, outcome);
    if (mmc_session_has_cache(client) && client->cache->drop != NULL && client->cache_value.length > 0)
        client->cache->drop(client->cache->context, client->cache_key.data,
                            client->cache_value.data);
    mmc_buffer_clear(&client->cache_value);
    mmc_token_forget(&client->token);
    return outcome;
}
