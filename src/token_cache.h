/*
 * token_cache: one access token shared by many clients (workers, processes, hosts).
 *
 * Huawei lets one App ID user hold at most 64 tokens; the 65th login silently revokes the
 * oldest. A fleet whose clients each log in therefore evicts its own tokens, and every call
 * turns into a 401 and a new login. A client given a cache asks it before authenticating and
 * gives it every token it obtains, so the whole fleet logs in once per token lifetime.
 *
 * The cache itself belongs to the caller (the Lua face binds it to any object with get and
 * set, such as ngx.shared.DICT or Redis). This file defines what passes through it:
 *
 *   key    "mmc:token:" .. hex(HMAC-SHA256(app key, "mmc-token-v1\n" endpoint "\n" app id "\n"
 *          user id "\n" corp id)): it identifies the four, names nothing secret, and a client
 *          with another app key never finds (or overwrites) the token.
 *   value  "mmc1 " .. renew_at .. " " .. token: renew_at is the Unix second from which clients
 *          renew the token (0: the server stated no lifetime), so clients on other hosts, with
 *          clocks of their own, all stop using it at the same moment.
 *
 * A value that does not parse, or is past its renew_at, counts as no value: the cache may be
 * shared with other programs, and a token goes into an HTTP header.
 */
#ifndef MMC_TOKEN_CACHE_H
#define MMC_TOKEN_CACHE_H

#include <stddef.h>

#include "buffer.h"

#define MMC_TOKEN_CACHE_KEY_PREFIX "mmc:token:"

typedef struct mmc_token_cache {
    void *context;
    /* Looks `key` up and puts the value found into `value`: 1 when one was found that is not
     * `stale` (the value of a token the server just refused, or NULL), else 0. When there is
     * none yet the cache may wait up to `may_wait` seconds for another client that is
     * authenticating to share one; it returns 0 when the caller should authenticate itself,
     * and -1 when the cache cannot be used at all (a misconfiguration, such as a store that can
     * never answer from inside a C call): the call then fails at once, sending nothing. */
    int (*load)(void *context, const char *key, const char *stale, double may_wait,
                mmc_buffer *value);
    /* After the caller authenticated: shares `value` for `ttl` seconds (0: no expiry) or, when
     * `value` is NULL (the authentication failed), shares nothing. Either way the cache lets go
     * of whatever load took to make others wait. */
    void (*save)(void *context, const char *key, const char *value, size_t length, double ttl);
    /* After a logout: removes `value` from the cache, if the cache still holds that value. */
    void (*drop)(void *context, const char *key, const char *value);
} mmc_token_cache;

/* The cache key of a client (see above). 0, or -1 when out of memory. */
int mmc_token_cache_key(const char *app_key, const char *endpoint, const char *app_id,
                        const char *user_id, const char *corp_id, mmc_buffer *key);

/* The cache value of a token renewed from Unix second `renew_at` (0: never). 0 or -1. */
int mmc_token_cache_encode(const char *token, size_t length, long long renew_at,
                           mmc_buffer *value);

/* Reads a cache value at Unix second `now`: 0 with the token (pointing into `value`) and its
 * renew_at, or -1 when it is malformed, holds a token unfit for a header, or is due for
 * renewal. */
int mmc_token_cache_decode(const char *value, size_t length, long long now, const char **token,
                           size_t *token_length, long long *renew_at);

#endif
