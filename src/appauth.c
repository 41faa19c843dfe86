#include "appauth.h"

#include <string.h>

#include "crypto.h"
#include "json_scan.h"
#include "json_write.h"
#include "token.h"

static const char *or_empty(const char *text) {
    return text != NULL ? text : "";
}

static int append_member(mmc_buffer *body, const char *name, const char *value) {
    return mmc_buffer_append_format(body, ",\"%s\":", name) != 0 ||
                   mmc_json_append_string(body, value, strlen(value)) != 0
               ? -1
               : 0;
}

int mmc_appauth_build(const mmc_credentials *credentials, long long unix_now, const char *nonce,
                      mmc_buffer *body, mmc_buffer *authorization) {
    const char *user_id = or_empty(credentials->user_id);
    const char *corp_id = or_empty(credentials->corp_id);
    long long expire_time = unix_now + MMC_APPAUTH_SIGNATURE_LIFETIME;
    char signature[MMC_SHA256_HEX_LENGTH + 1];
    mmc_buffer to_sign;
    int status = -1;

    mmc_buffer_init_in(&to_sign, body->memory);
    if (credentials->sp_mode) {
        if (mmc_buffer_append_format(&to_sign, "%s:%s:%s:%lld:%s", credentials->app_id, corp_id,
                                     user_id, expire_time, nonce) != 0)
            goto done;
    } else if (mmc_buffer_append_format(&to_sign, "%s:%s:%lld:%s", credentials->app_id, user_id,
                                        expire_time, nonce) != 0) {
        goto done;
    }
    if (mmc_hmac_sha256_hex(credentials->app_key, strlen(credentials->app_key),
                            mmc_buffer_text(&to_sign), to_sign.length, signature) != 0)
        goto done;

    size_t app_id_length = strlen(credentials->app_id);
    char access[4 * ((MMC_APPAUTH_MAX_APP_ID + 2) / 3) + 1];
    if (app_id_length > MMC_APPAUTH_MAX_APP_ID ||
        mmc_base64_encode(credentials->app_id, app_id_length, access, sizeof access) < 0)
        goto done;
    if (mmc_buffer_append_format(authorization, "HMAC-SHA256 signature=%s,access=%s", signature,
                                 access) != 0)
        goto done;

    if (mmc_buffer_append_string(body, "{\"appId\":") != 0 ||
        mmc_json_append_string(body, credentials->app_id, app_id_length) != 0 ||
        mmc_buffer_append_format(body, ",\"clientType\":%d,\"expireTime\":%lld",
                                 MMC_APPAUTH_CLIENT_TYPE, expire_time) != 0 ||
        append_member(body, "nonce", nonce) != 0)
        goto done;
    if (user_id[0] != '\0' && append_member(body, "userId", user_id) != 0)
        goto done;
    if (credentials->sp_mode && append_member(body, "corpId", corp_id) != 0)
        goto done;
    if (mmc_buffer_append(body, "}", 1) != 0)
        goto done;
    status = 0;
done:
    mmc_wipe(signature, sizeof signature);
    mmc_buffer_free(&to_sign);
    return status;
}

int mmc_appauth_read_grant(const char *body, size_t length, long long unix_now, mmc_buffer *token,
                           double *lifetime, const char **problem) {
    enum { ACCESS_TOKEN, VALID_PERIOD, EXPIRE_TIME };
    mmc_json_field fields[] = {{"accessToken", {0}}, {"validPeriod", {0}}, {"expireTime", {0}}};
    mmc_json_status status = mmc_json_scan(body, length, fields, 3);
    long long seconds;

    if (status != MMC_JSON_OK) {
        *problem = status == MMC_JSON_NOT_OBJECT ? "authentication answer is not a JSON object"
                                                 : "authentication answer is malformed JSON";
        return -1;
    }
    const mmc_json_value *access_token = &fields[ACCESS_TOKEN].value;
    if (access_token->type != MMC_JSON_STRING) {
        *problem = "authentication answer has no accessToken";
        return -1;
    }
    size_t mark = token->length;
    if (mmc_json_string_value(access_token, token) != 0) {
        *problem = "out of memory";
        return -1;
    }
    if (!mmc_token_is_well_formed(token->data + mark, token->length - mark)) {
        *problem = "authentication answer has a malformed accessToken";
        return -1;
    }

    *lifetime = -1;
    if (mmc_json_integer_value(&fields[VALID_PERIOD].value, &seconds) == 0 && seconds > 0)
        *lifetime = (double)seconds;
    else if (mmc_json_integer_value(&fields[EXPIRE_TIME].value, &seconds) == 0 && seconds > 0)
        *lifetime = seconds > unix_now ? (double)(seconds - unix_now) : 0;
    /* A server's number is not trusted to be sane: beyond a year, it is a year. */
    if (*lifetime > MMC_APPAUTH_MAX_LIFETIME)
        *lifetime = MMC_APPAUTH_MAX_LIFETIME;
    return 0;
}
