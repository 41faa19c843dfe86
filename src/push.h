/*
 * push: checking an event push that Huawei sent to a subscriber, and the reply it expects.
 *
 * A push is a JSON body {"appID","timestamp","nonce","signature","eventInfo"} whose signature
 * is hex(HMAC-SHA256(subscriberKey, appID .. timestamp .. nonce .. eventInfo)). Huawei's
 * documented example signs eventInfo compact (no whitespace between tokens) while printing the
 * body indented, so eventInfo is checked as its exact text in the body first, then as that
 * text without the whitespace between its tokens (strings, escapes and key order untouched).
 * timestamp is Unix milliseconds, exactly 13 digits: the signed text has no separators, and a
 * fixed width stops digits from moving between timestamp and nonce. Everything in a push
 * comes from the network, so this reads it with the strict scanner (json_scan.h), never
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
