/* client: making and freeing a client, and what it tells of itself (client.h). */
#include "client.h"
#include "client_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "crypto.h"
#include "proxy.h"
#include "token_cache.h"
#include "version.h"

void mmc_result_init(mmc_result *result) {
    mmc_result_init_in(result, NULL);
}

void mmc_result_init_in(mmc_result *result, mmc_memory *memory) {
    result->status = 0;
    mmc_buffer_init_in(&result->message, memory);
    result->body = NULL;
    result->body_length = 0;
    result->body_is_json = 0;
}

void mmc_result_free(mmc_result *result) {
    mmc_buffer_free(&result->message);
    result->body = NULL;
    result->body_length = 0;
}

static void free_secret(mmc_memory *memory, char *text) {
    if (text != NULL) {
        mmc_wipe(text, strlen(text));
        mmc_memory_free(memory, text);
    }
}

/* A copy of an optional string: NULL and "" both stay NULL. Returns -1 when out of memory. */
static int copy_optional(mmc_memory *memory, char **to, const char *from) {
    *to = NULL;
    if (from == NULL || from[0] == '\0')
        return 0;
    *to = mmc_memory_strdup(memory, from);
    return *to != NULL ? 0 : -1;
}

mmc_client *mmc_client_new(const mmc_config *config, mmc_buffer *problem) {
    const char *bad = mmc_config_problem(config);
    if (bad != NULL) {
        mmc_buffer_append_string(problem, bad);
        return NULL;
    }
    if (config->ca_file != NULL && mmc_ca_file_problem(config->ca_file, problem) != 0)
        return NULL;
    mmc_memory *memory = config->memory;
    mmc_client *client = mmc_memory_calloc(memory, 1, sizeof *client);
    if (client == NULL) {
        mmc_buffer_append_string(problem, "out of memory");
        return NULL;
    }
    client->memory = memory;
    mmc_token_init(&client->token, memory);
    mmc_buffer_init_in(&client->cache_key, memory);
    mmc_buffer_init_in(&client->cache_value, memory);
    mmc_buffer_init_in(&client->url, memory);
    mmc_buffer_init_in(&client->request, memory);
    mmc_redactor_init(&client->redactor, memory);
    mmc_buffer_init_in(&client->query, memory);
    mmc_buffer_init_in(&client->header_text, memory);
    mmc_exchange_log_init(&client->exchanges, memory);
    client->record_exchanges = config->record_exchanges;
    client->sp_mode = config->sp_mode;
    client->timeout = config->timeout;
    client->retries = config->retries;

    const char *endpoint = config->endpoint ? config->endpoint : MMC_DEFAULT_ENDPOINT;
    size_t endpoint_length = strlen(endpoint);
    while (endpoint_length > 0 && endpoint[endpoint_length - 1] == '/')
        endpoint_length--;
    client->endpoint = mmc_memory_strndup(memory, endpoint, endpoint_length);
    if (client->endpoint == NULL || copy_optional(memory, &client->app_id, config->app_id) != 0 ||
        copy_optional(memory, &client->app_key, config->app_key) != 0 ||
        copy_optional(memory, &client->user_id, config->user_id) != 0 ||
        copy_optional(memory, &client->corp_id, config->corp_id) != 0 ||
        (config->proxy != NULL &&
         (client->proxy = mmc_memory_strdup(memory, config->proxy)) == NULL)) {
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
        .connect_timeout_ms = mmc_call_milliseconds(config->connect_timeout),
        .max_body = config->max_body,
        .ssl_verify = config->ssl_verify,
        .allow_http = config->allow_http,
        .ca_file = config->ca_file,
        .user_agent = user_agent,
        .proxy = client->proxy,
        .no_proxy = config->no_proxy,
        .memory = memory,
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
    mmc_memory *memory = client->memory;
    mmc_memory_free(memory, client->headers);
    mmc_exchange_log_free(&client->exchanges);
    free_secret(memory, client->proxy);
    free_secret(memory, client->app_key);
    free_secret(memory, client->app_id);
    free_secret(memory, client->user_id);
    free_secret(memory, client->corp_id);
    mmc_memory_free(memory, client->endpoint);
    mmc_memory_free(memory, client);
}

mmc_memory *mmc_client_memory(const mmc_client *client) {
    return client->memory;
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
