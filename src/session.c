/* session: the token's life: the App ID authentication's request and answer (engine.c sends it,
 * as one more transfer), the token store, re-authentication. */
#include "client.h"
#include "client_internal.h"

#include <string.h>

#include "appauth.h"
#include "clock.h"
#include "crypto.h"
#include "redact.h"
#include "token_cache.h"

/* Wipes the tokens out of an authentication answer, in the buffer that holds it, once they
 * have been read: the access token lives in the client alone, and the refresh token (never
 * used) nowhere. The body returned then reads "accessToken": null. */
static void wipe_answer_tokens(const mmc_result *result, mmc_buffer *body) {
    static const char *const members[] = {"accessToken", "refreshToken"};
    if (result->body_is_json && result->body == body->data)
        mmc_redact_drop_members(body->data, body->length, members, 2);
}

void mmc_login_init(mmc_login *login, mmc_memory *memory) {
    mmc_buffer_init_in(&login->url, memory);
    mmc_buffer_init_in(&login->body, memory);
    mmc_buffer_init_in(&login->authorization, memory);
    login->unix_now = 0;
    login->sent_at = 0;
}

void mmc_login_free(mmc_login *login) {
    mmc_buffer_free(&login->url);
    mmc_buffer_free(&login->body);
    mmc_buffer_free(&login->authorization);
}

int mmc_session_login_request(mmc_client *client, mmc_login *login, mmc_buffer *problem) {
    mmc_credentials credentials = {client->app_id, client->app_key, client->user_id,
                                   client->corp_id, client->sp_mode};
    char nonce[2 * MMC_APPAUTH_NONCE_BYTES + 1];
    mmc_buffer_clear(&login->url);
    mmc_buffer_clear(&login->body);
    mmc_buffer_clear(&login->authorization);
    login->sent_at = mmc_clock_monotonic();
    login->unix_now = mmc_clock_unix();
    if (mmc_random_hex(MMC_APPAUTH_NONCE_BYTES, nonce, sizeof nonce) != 0 ||
        mmc_appauth_build(&credentials, login->unix_now, nonce, &login->body,
                          &login->authorization) != 0 ||
        mmc_buffer_append_format(&login->url, "%s%s", client->endpoint, MMC_APPAUTH_PATH) != 0) {
        mmc_buffer_append_string(problem, "could not build the authentication request");
        return -1;
    }
    return 0;
}

int mmc_session_login_answer(mmc_client *client, const mmc_login *login,
                             const mmc_response *response, mmc_buffer *body,
                             mmc_result *result) {
    int outcome = -1;
    if (mmc_client_judge_answer(result, response) != 0) {
        if (response->status == 401) /* the app id, or the signature made with the app key */
            mmc_buffer_append_string(&result->message, MMC_CREDENTIALS_HINT);
    } else {
        double lifetime = -1;
        const char *problem = NULL;
        mmc_buffer token;
        mmc_buffer_init_in(&token, client->memory);
        mmc_token_forget(&client->token);
        if (mmc_appauth_read_grant(response->body, response->body_length, login->unix_now,
                                   &token, &lifetime, &problem) != 0)
            mmc_buffer_append_string(&result->message, problem);
        else if (mmc_token_store(&client->token, token.data, token.length, lifetime,
                                 login->sent_at) != 0)
            mmc_buffer_append_string(&result->message, "out of memory");
        else
            outcome = 0;
        mmc_buffer_free(&token);
    }
    wipe_answer_tokens(result, body);
    return outcome;
}

int mmc_session_has_cache(const mmc_client *client) {
    return client->cache != NULL && client->cache_key.length > 0;
}

/* Asks the cache for a token other than the one the server just refused (when
 * `after_rejection`). 1 when the client now holds the cache's token, 0 when it has none to
 * give, -1 when the cache cannot be used. */
int mmc_session_take_shared_token(mmc_client *client, int after_rejection) {
    const char *stale =
        after_rejection && client->cache_value.length > 0 ? client->cache_value.data : NULL;
    double left = client->deadline - mmc_clock_monotonic();
    mmc_buffer value;
    mmc_buffer_init_in(&value, client->memory);
    int taken = 0;
    int loaded = client->cache->load(client->cache->context, client->cache_key.data, stale,
                                     left > 0 ? left / 2 : 0, &value);
    if (loaded < 0)
        taken = -1;
    else if (loaded == 1) {
        const char *token = NULL;
        size_t token_length = 0;
        long long renew_at = 0;
        long long now_unix = mmc_clock_unix();
        double now = mmc_clock_monotonic();
        if (mmc_token_cache_decode(value.data, value.length, now_unix, &token, &token_length,
                                   &renew_at) == 0 &&
            mmc_token_adopt(&client->token, token, token_length,
                            renew_at == 0 ? 0 : now + (double)(renew_at - now_unix)) == 0) {
            mmc_buffer swap = client->cache_value;
            client->cache_value = value;
            value = swap;
            taken = 1;
        }
    }
    mmc_buffer_free(&value);
    return taken;
}

/* Gives the cache the token just obtained (or, after a failed authentication, nothing), with a
 * time to live that ends when clients are due to renew it. A token with less than a second
 * left is not worth sharing. */
void mmc_session_share_token(mmc_client *client, int authenticated) {
    const mmc_token_cache *cache = client->cache;
    long long renew_at = 0;
    double ttl = 0;
    if (authenticated && client->token.renew_at != 0) {
        double left = client->token.renew_at - mmc_clock_monotonic();
        long long now_unix = mmc_clock_unix();
        authenticated = left >= 1;
        renew_at = now_unix + (long long)left; /* rounded down: early rather than late */
        ttl = (double)(renew_at - now_unix);
    }
    if (authenticated &&
        mmc_token_cache_encode(client->token.value.data, client->token.value.length, renew_at,
                               &client->cache_value) == 0)
        cache->save(cache->context, client->cache_key.data, client->cache_value.data,
                    client->cache_value.length, ttl);
    else
        cache->save(cache->context, client->cache_key.data, NULL, 0, 0);
}

/* Puts "authentication failed: " before the message of a failed authentication, so that a
 * caller of another call can tell which step failed. */
void mmc_session_mark_failure(mmc_result *result) {
    mmc_buffer marked;
    mmc_buffer_init_in(&marked, result->message.memory);
    if (mmc_buffer_append_format(&marked, "authentication failed: %s",
                                 mmc_buffer_text(&result->message)) == 0) {
        mmc_buffer_free(&result->message);
        result->message = marked;
    } else {
        mmc_buffer_free(&marked);
    }
}

int mmc_client_auth(mmc_client *client, mmc_result *result) {
    mmc_call_start(client, result);
    return mmc_call_finish(client, result, mmc_engine_login(client, result));
}
