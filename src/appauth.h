/*
 * appauth: App ID authentication, POST /v2/usg/acs/auth/appauth, both ways.
 *
 * Building: the string to sign is
 *     appId ":" userId ":" expireTime ":" nonce            (single enterprise)
 *     appId ":" corpId ":" userId ":" expireTime ":" nonce (SP mode)
 * with an absent userId (or corpId) as the empty string, so both colons stay. The signature is
 * HMAC-SHA256 keyed with the app key, in lowercase hex, and goes into
 *     Authorization: HMAC-SHA256 signature=<hex>,access=<base64(appId)>
 * The body carries exactly what was signed: userId only when there is one, corpId only in SP
 * mode, clientType 72 (API client). See ../shared/mmc-api.md section 1 for the sources.
 *
 * Reading: a 200 answer carries accessToken and its lifetime (validPeriod seconds, or the Unix
 * time expireTime). The nonce and the current time are parameters, so that tests can fix them.
 */
#ifndef MMC_APPAUTH_H
#define MMC_APPAUTH_H

#include <stddef.h>

#include "buffer.h"

#define MMC_APPAUTH_PATH "/v2/usg/acs/auth/appauth"
#define MMC_APPAUTH_CLIENT_TYPE 72
#define MMC_APPAUTH_SIGNATURE_LIFETIME 600 /* seconds, as the official SDKs use */
#define MMC_APPAUTH_NONCE_BYTES 24         /* 48 hex characters, inside the 32..64 allowed */
#define MMC_APPAUTH_MAX_APP_ID 64          /* the API allows 1..64 characters */
#define MMC_APPAUTH_MAX_LIFETIME 31536000  /* a token lives 12..24 h: a stated year is plenty */

typedef struct mmc_credentials {
    const char *app_id;
    const char *app_key;
    const char *user_id; /* NULL or "" for the enterprise (or SP) administrator */
    const char *corp_id; /* SP mode only; NULL or "" for the SP administrator */
    int sp_mode;
} mmc_credentials;

/* Fills `body` with the JSON request and `authorization` with the header's value, for a
 * signature that expires MMC_APPAUTH_SIGNATURE_LIFETIME seconds after `unix_now`. 0 or -1. */
int mmc_appauth_build(const mmc_credentials *credentials, long long unix_now, const char *nonce,
                      mmc_buffer *body, mmc_buffer *authorization);

/* Reads a successful answer. On success returns 0, appends the token to `token` and sets
 * `*lifetime` (seconds, at most MMC_APPAUTH_MAX_LIFETIME; -1 when the answer does not say). On failure returns -1 and sets
 * `*problem` to a sentence fit for the user. */
int mmc_appauth_read_grant(const char *body, size_t length, long long unix_now, mmc_buffer *token,
                           double *lifetime, const char **problem);

#endif
