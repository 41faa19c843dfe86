/*
 * fuzz_push_verify: checking an event push (mmc_push_verify) and the meeting.verify reply.
 *
 * Untrusted input: the push body, which anyone who can reach the subscriber URL may send.
 * Input layout: line 1 is the subscriber key, the rest is the body. Checks, beyond no
 * crash/leak/UB:
 *  - a reason is given exactly when the push is refused, and it never depends on the key
 *    (so it cannot hold it): two keys that both refuse a body give the same reason;
 *  - a body accepted with the key is refused with another (the key and one more byte), and is
 *    accepted with a max age only if it is accepted without one;
 *  - a body whose timestamp is not exactly 13 digits (Unix milliseconds) is never accepted;
 *  - forgery: from the body's eventInfo (and appID, nonce, timestamp when usable) a push is
 *    signed here with OpenSSL directly; it must be accepted, and the same push with one byte
 *    (chosen from the input) changed must be refused, unless only a signature hex digit's case
 *    changed;
 *  - the same push signed over eventInfo without the whitespace between its tokens (as Huawei
 *    signs) but sent as it stands must be accepted too;
 *  - an accepted push has an event id (mmc_push_event_id) of 64 lowercase hex digits;
 *  - mmc_push_verify_reply succeeds exactly for valid UTF-8, and its JSON reads back to
 *    event "meeting.verify" and the same nonce.
 * Links: src/push.c src/json_scan.c src/json_write.c src/crypto.c src/buffer.c -lcrypto
 * Dictionary: fuzz/json.dict
 */
#include "fuzz/fuzz.h"

#include <ctype.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "src/json_scan.h"
#include "src/json_write.h"
#include "src/push.h"

#define NOW_MS 1764300000000LL

static int verify(const char *body, size_t length, const char *key, size_t key_length,
                  double max_age, long long now_ms, mmc_buffer *reason) {
    mmc_buffer_clear(reason);
    mmc_push_key keys[1] = {{key, key_length}};
    int status = mmc_push_verify(body, length, keys, 1, max_age, now_ms, reason);
    FUZZ_CHECK(status == 0 || status == -1, "status %d", status);
    FUZZ_CHECK((status == 0) == (reason->length == 0), "status %d with reason '%s'", status,
               mmc_buffer_text(reason));
    if (status == 0) {
        char id[MMC_SHA256_HEX_LENGTH + 1];
        mmc_buffer id_reason;
        mmc_buffer_init(&id_reason);
        FUZZ_CHECK(mmc_push_event_id(body, length, id, &id_reason) == 0, "no event id: %s",
                   mmc_buffer_text(&id_reason));
        FUZZ_CHECK(strlen(id) == 64 && strspn(id, "0123456789abcdef") == 64, "event id '%s'", id);
        mmc_buffer_free(&id_reason);
    }
    return status;
}

/* A JSON string written here rather than by json_write.c, so the check is independent. */
static void append_json_string(mmc_buffer *out, const char *text, size_t length) {
    mmc_buffer_append(out, "\"", 1);
    for (size_t i = 0; i < length; i++) {
        unsigned char c = (unsigned char)text[i];
        if (c == '"' || c == '\\')
            mmc_buffer_append_format(out, "\\%c", c);
        else if (c < 0x20)
            mmc_buffer_append_format(out, "\\u%04x", c);
        else
            mmc_buffer_append(out, &text[i], 1);
    }
    mmc_buffer_append(out, "\"", 1);
}

static void decoded_or(const mmc_json_value *value, const char *fallback, mmc_buffer *out) {
    if (value->type != MMC_JSON_STRING || mmc_json_string_value(value, out) != 0)
        mmc_buffer_append_string(out, fallback);
}

/* 1 when byte `at` is one of the four hex digits of a \uXXXX escape. */
static int in_unicode_escape(const char *text, size_t at) {
    for (size_t k = 2; k <= 5 && k <= at; k++) {
        if (text[at - k + 1] != 'u')
            continue;
        size_t backslashes = 0; /* an escape's backslash follows an even run of them */
        while (backslashes < at - k + 1 && text[at - k - backslashes] == '\\')
            backslashes++;
        if (backslashes % 2 == 1)
            return 1;
    }
    return 0;
}

/* `json` without the whitespace between its tokens, written here rather than taken from
 * push.c, so the check is independent. */
static void append_compact(mmc_buffer *out, const char *json, size_t length) {
    int in_string = 0, escaped = 0;
    for (size_t i = 0; i < length; i++) {
        char c = json[i];
        if (in_string) {
            if (escaped)
                escaped = 0;
            else if (c == '\\')
                escaped = 1;
            else if (c == '"')
                in_string = 0;
        } else if (c == '"') {
            in_string = 1;
        } else if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
            continue;
        }
        mmc_buffer_append(out, &c, 1);
    }
}

/* The hex HMAC-SHA256 of `text` under `key`, with OpenSSL directly. */
static void sign(const char *key, size_t key_length, const mmc_buffer *text, char hex[65]) {
    unsigned char digest[32];
    unsigned int digest_length = 0;
    FUZZ_CHECK(HMAC(EVP_sha256(), key, (int)key_length, (const unsigned char *)text->data,
                    text->length, digest, &digest_length) != NULL &&
                   digest_length == 32,
               "HMAC failed");
    for (unsigned int i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", digest[i]);
}

/* Signs a push for the body's eventInfo and checks that it, and no one-byte change of it, is
 * accepted; and that it is accepted when signed over eventInfo made compact. */
static void check_forgery(const mmc_json_field *fields, const char *key, size_t key_length,
                          uint32_t choice) {
    const mmc_json_value *event = &fields[4].value, *timestamp = &fields[1].value;
    if (event->type != MMC_JSON_OTHER || event->start[0] != '{')
        return;
    mmc_buffer app_id, nonce, time, signed_text, push, reason;
    mmc_buffer_init(&app_id), mmc_buffer_init(&nonce), mmc_buffer_init(&time);
    mmc_buffer_init(&signed_text), mmc_buffer_init(&push), mmc_buffer_init(&reason);
    decoded_or(&fields[0].value, "app-1", &app_id);
    decoded_or(&fields[2].value, "nonce-1", &nonce);
    int plain = timestamp->type == MMC_JSON_NUMBER && timestamp->length == 13;
    for (size_t i = 0; plain && i < timestamp->length; i++)
        plain = timestamp->start[i] >= '0' && timestamp->start[i] <= '9';
    if (plain)
        mmc_buffer_append(&time, timestamp->start, timestamp->length);
    else
        mmc_buffer_append_format(&time, "%lld", NOW_MS);

    mmc_buffer_append(&signed_text, app_id.data, app_id.length);
    mmc_buffer_append(&signed_text, time.data, time.length);
    mmc_buffer_append(&signed_text, nonce.data, nonce.length);
    size_t event_at = signed_text.length;
    mmc_buffer_append(&signed_text, event->start, event->length);
    char signature[65], compact_signature[65];
    sign(key, key_length, &signed_text, signature);
    signed_text.length = event_at;
    append_compact(&signed_text, event->start, event->length);
    sign(key, key_length, &signed_text, compact_signature);

    mmc_buffer_append_string(&push, "{\"appID\":");
    append_json_string(&push, app_id.data, app_id.length);
    mmc_buffer_append_format(&push, ",\"timestamp\":%s,\"nonce\":", time.data);
    append_json_string(&push, nonce.data, nonce.length);
    mmc_buffer_append_string(&push, ",\"signature\":\"");
    size_t signature_at = push.length;
    mmc_buffer_append(&push, compact_signature, 64);
    mmc_buffer_append_string(&push, "\",\"eventInfo\":");
    mmc_buffer_append(&push, event->start, event->length);
    mmc_buffer_append_string(&push, "}");
    FUZZ_CHECK(verify(push.data, push.length, key, key_length, 0, NOW_MS, &reason) == 0,
               "a push signed over eventInfo made compact was refused (%s): %s",
               mmc_buffer_text(&reason), push.data);

    memcpy(push.data + signature_at, signature, 64);
    long long signed_at = strtoll(time.data, NULL, 10);
    FUZZ_CHECK(verify(push.data, push.length, key, key_length, 0, NOW_MS, &reason) == 0 &&
                   verify(push.data, push.length, key, key_length, 300, signed_at, &reason) == 0,
               "a push signed with the key was refused (%s): %s", mmc_buffer_text(&reason),
               push.data);

    size_t at = choice % push.length;
    char old = push.data[at], new = (char)(old ^ (char)(1 + (choice >> 16) % 255));
    /* A hex digit's case means nothing in the signature, nor in a \uXXXX escape of appID or
     * nonce (eventInfo is signed as it stands, so there it counts). */
    int same_hex = isxdigit((unsigned char)new) && tolower((unsigned char)new) == old &&
                   ((at >= signature_at && at < signature_at + 64) ||
                    (at < signature_at && in_unicode_escape(push.data, at)));
    if (!same_hex) {
        push.data[at] = new;
        FUZZ_CHECK(verify(push.data, push.length, key, key_length, 0, NOW_MS, &reason) != 0,
                   "a push changed at byte %zu (0x%02x -> 0x%02x) was accepted: %s", at,
                   (unsigned char)old, (unsigned char)new, push.data);
    }
    mmc_buffer_free(&app_id), mmc_buffer_free(&nonce), mmc_buffer_free(&time);
    mmc_buffer_free(&signed_text), mmc_buffer_free(&push), mmc_buffer_free(&reason);
}

static void check_reply(const char *nonce, size_t length) {
    mmc_buffer reply;
    mmc_buffer_init(&reply);
    int status = mmc_push_verify_reply(nonce, length, &reply);
    FUZZ_CHECK((status == 0) == mmc_utf8_is_valid(nonce, length), "reply status %d", status);
    if (status == 0) {
        mmc_json_field fields[] = {{"event", {0}}, {"nonce", {0}}};
        mmc_buffer event, read;
        mmc_buffer_init(&event), mmc_buffer_init(&read);
        FUZZ_CHECK(mmc_json_scan(reply.data, reply.length, fields, 2) == MMC_JSON_OK &&
                       mmc_json_string_value(&fields[0].value, &event) == 0 &&
                       mmc_json_string_value(&fields[1].value, &read) == 0,
                   "the reply is not the JSON expected: %s", reply.data);
        FUZZ_CHECK(strcmp(event.data, MMC_PUSH_VERIFY_EVENT) == 0 && read.length == length &&
                       memcmp(mmc_buffer_text(&read), nonce, length) == 0,
                   "the reply does not read back: %s", reply.data);
        FUZZ_CHECK(mmc_utf8_is_valid(reply.data, reply.length), "the reply is not UTF-8");
        mmc_buffer_free(&event), mmc_buffer_free(&read);
    }
    mmc_buffer_free(&reply);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    uint32_t choice = fuzz_hash(data, size);
    const char *key;
    size_t key_length;
    fuzz_take_line(&data, &size, &key, &key_length);
    const char *body = (const char *)data;
    char *other_key = malloc(key_length + 1); /* the key with an 'x' after it */
    memcpy(other_key, key, key_length);
    other_key[key_length] = 'x';

    mmc_buffer reason, other_reason;
    mmc_buffer_init(&reason), mmc_buffer_init(&other_reason);
    int accepted = verify(body, size, key, key_length, 0, NOW_MS, &reason) == 0;
    int other = verify(body, size, other_key, key_length + 1, 0, NOW_MS, &other_reason) == 0;
    if (accepted)
        FUZZ_CHECK(!other, "a push accepted with two different keys");
    else if (!other)
        FUZZ_CHECK(strcmp(mmc_buffer_text(&reason), mmc_buffer_text(&other_reason)) == 0,
                   "the reason depends on the key: '%s' / '%s'", mmc_buffer_text(&reason),
                   mmc_buffer_text(&other_reason));
    if (verify(body, size, key, key_length, 300, NOW_MS, &reason) == 0)
        FUZZ_CHECK(accepted, "accepted with a max age, refused without");

    mmc_json_field fields[] = {
        {"appID", {0}}, {"timestamp", {0}}, {"nonce", {0}}, {"signature", {0}}, {"eventInfo", {0}}};
    mmc_json_scan(body, size, fields, 5);
    if (accepted)
        FUZZ_CHECK(fields[1].value.type == MMC_JSON_NUMBER && fields[1].value.length == 13,
                   "accepted a timestamp that is not 13 digits");
    check_forgery(fields, key, key_length, choice);

    mmc_buffer nonce;
    mmc_buffer_init(&nonce);
    if (fields[2].value.type == MMC_JSON_STRING &&
        mmc_json_string_value(&fields[2].value, &nonce) == 0)
        check_reply(mmc_buffer_text(&nonce), nonce.length);
    check_reply(body, size);
    mmc_buffer_free(&nonce);
    mmc_buffer_free(&reason), mmc_buffer_free(&other_reason);
    free(other_key);
    return 0;
}
