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
 * trusts a length or a type, and compares signatures in constant time. Several keys may be
 * given (a key rotation: the new one and the old ones); each is tried in turn. A push's
 * event also has an id, the same whatever envelope the event came in.
 */
#ifndef MMC_PUSH_H
#define MMC_PUSH_H

#include <stddef.h>

#include "buffer.h"
#include "crypto.h"

#define MMC_PUSH_VERIFY_EVENT "meeting.verify"

/* A subscriber key: `length` bytes at `data`. */
typedef struct {
    const char *data;
    size_t length;
} mmc_push_key;

/* Checks `body` against `keys` (`key_count` of them, at least one; any of them verifies it,
 * as during a key rotation). When `max_age` > 0 (seconds), a push whose timestamp is more
 * than that far from `now_ms` (Unix milliseconds), either way, is refused too. 0 when it is
 * authentic; -1 with the reason (no secret in it) appended to `reason`. */
int mmc_push_verify(const char *body, size_t length, const mmc_push_key *keys, size_t key_count,
                    double max_age, long long now_ms, mmc_buffer *reason);

/* The id of the event a push carries: hex(SHA-256(appID .. "\n" .. eventInfo)), appID
 * decoded, eventInfo without the whitespace between its tokens. The same event sent again in
 * a new envelope (new timestamp, nonce and signature: a retry signed afresh) has the same id.
 * Compact eventInfo holds no raw line break, so the hashed text splits one way only. 0, or
 * -1 with the reason appended to `reason` when `body` has no string appID and object
 * eventInfo (it checks nothing else: verify the push first). */
int mmc_push_event_id(const char *body, size_t length, char out[MMC_SHA256_HEX_LENGTH + 1],
                      mmc_buffer *reason);

/* The body answering a meeting.verify push: {"event":"meeting.verify","nonce":"<nonce>"}.
 * 0, or -1 when out of memory or the nonce is not valid UTF-8. */
int mmc_push_verify_reply(const char *nonce, size_t length, mmc_buffer *out);

#endif
