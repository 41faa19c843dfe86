/*
 * push: checking an event push that Huawei sent to a subscriber, and the reply it expects.
 *
 * A push is a JSON body {"appID","timestamp","nonce","signature","eventInfo"} whose signature
 * is hex(HMAC-SHA256(subscriberKey, appID .. timestamp .. nonce .. eventInfo)), eventInfo
 * being the object's exact text in the body (mmc-api.md, section 4; the exact serialization
 * is not documented, so the received text itself is what is signed: assumed). Everything in a
 * push comes from the network, so this reads it with the strict scanner (json_scan.h), never
 * trusts a length or a type, and compares signatures in constant time.
 */
#ifndef MMC_PUSH_H
#define MMC_PUSH_H

#include <stddef.h>

#include "buffer.h"

#define MMC_PUSH_VERIFY_EVENT "meeting.verify"

/* Checks `body` against `key`. When `max_age` > 0 (seconds), a push whose timestamp is more
 * than that far from `now_ms` (Unix milliseconds), either way, is refused too. 0 when it is
 * authentic; -1 with the reason (no secret in it) appended to `reason`. */
int mmc_push_verify(const char *body, size_t length, const char *key, size_t key_length,
                    double max_age, long long now_ms, mmc_buffer *reason);

/* The body answering a meeting.verify push: {"event":"meeting.verify","nonce":"<nonce>"}.
 * 0, or -1 when out of memory or the nonce is not valid UTF-8. */
int mmc_push_verify_reply(const char *nonce, size_t length, mmc_buffer *out);

#endif
