/* Event pushes: Huawei's documented known answer, compact and as its page prints it, the
 * shape rules (13-digit timestamp) that keep a re-framed push out, a list of keys (a key
 * rotation) and the event's id, the same whatever envelope the event came in. */
#include <string.h>

#include "../../src/push.h"
#include "check.h"

#define KEY "123456"
#define SIGNATURE "262ccb5f8854f824c41ea5854ba1798bfa850706fbc85b2be9fd7535ed6b8ff3"

/* From the page "Event of Verifying Configuration Enabling": signed over the compact eventInfo. */
static const char compact_push[] =
    "{\"appID\":\"1988692299\",\"timestamp\":1629183619116,\"nonce\":\"85262798\","
    "\"signature\":\"" SIGNATURE "\","
    "\"eventInfo\":{\"event\":\"meeting.verify\",\"timestamp\":1629183619116}}";

/* The same push as the page prints it: newlines, tabs and ": ". */
static const char printed_push[] = "{\n"
                                   "\t\"appID\": \"1988692299\",\n"
                                   "\t\"timestamp\": 1629183619116,\n"
                                   "\t\"nonce\": \"85262798\",\n"
                                   "\t\"signature\": \"" SIGNATURE "\",\n"
                                   "\t\"eventInfo\": {\n"
                                   "\t\t\"event\": \"meeting.verify\",\n"
                                   "\t\t\"timestamp\": 1629183619116\n"
                                   "\t}\n"
                                   "}";

/* hex(SHA-256("1988692299\n" .. the compact eventInfo)), by Python's hashlib. */
#define EVENT_ID "ad3d32157f7efd2a51a838e103dd096b9fdcb73a3fb08af92d5babd508ea673d"

static int verify_with(const char *body, const mmc_push_key *keys, size_t key_count, double max_age,
                       long long now_ms, mmc_buffer *reason) {
    mmc_buffer_clear(reason);
    return mmc_push_verify(body, strlen(body), keys, key_count, max_age, now_ms, reason);
}

static int verify(const char *body, const char *key, mmc_buffer *reason) {
    mmc_push_key keys[1] = {{key, strlen(key)}};
    return verify_with(body, keys, 1, 0, 0, reason);
}

static int event_id(const char *body, char id[MMC_SHA256_HEX_LENGTH + 1], mmc_buffer *reason) {
    mmc_buffer_clear(reason);
    memset(id, 0, MMC_SHA256_HEX_LENGTH + 1);
    return mmc_push_event_id(body, strlen(body), id, reason);
}

static void accepts_the_documented_push(void) {
    mmc_buffer reason;
    mmc_buffer_init(&reason);
    CHECK(verify(compact_push, KEY, &reason) == 0);
    CHECK_STR(mmc_buffer_text(&reason), "");
    CHECK(verify(printed_push, KEY, &reason) == 0);
    CHECK_STR(mmc_buffer_text(&reason), "");
    CHECK(verify(printed_push, "1234567", &reason) == -1);
    CHECK(strncmp(mmc_buffer_text(&reason), "wrong signature", 15) == 0);
    /* within a day of when it was signed, and not a year later */
    mmc_push_key key[1] = {{KEY, 6}};
    CHECK(verify_with(printed_push, key, 1, 86400, 1629183619116LL + 3600000, &reason) == 0);
    CHECK(verify_with(printed_push, key, 1, 86400, 1629183619116LL + 365LL * 86400000, &reason) ==
          -1);
    mmc_buffer_free(&reason);
}

/* Each of these changes one thing that is not whitespace between tokens. */
static void refuses_any_other_change(void) {
    static const struct {
        const char *from, *to;
    } changes[] = {
        {"\"meeting.verify\"", "\"meeting.verify \""},
        {"\"meeting.verify\"", "\"meeting\\u002everify\""},
        {"\"event\": ", "\"Event\": "},
        {"1629183619116\n\t}", "1629183619117\n\t}"},
        {"\"85262798\"", "\"85262799\""},
    };
    mmc_buffer reason, body;
    mmc_buffer_init(&reason), mmc_buffer_init(&body);
    for (size_t i = 0; i < sizeof changes / sizeof changes[0]; i++) {
        const char *at = strstr(printed_push, changes[i].from);
        CHECK(at != NULL);
        if (at == NULL)
            continue;
        mmc_buffer_clear(&body);
        mmc_buffer_append(&body, printed_push, (size_t)(at - printed_push));
        mmc_buffer_append_string(&body, changes[i].to);
        mmc_buffer_append_string(&body, at + strlen(changes[i].from));
        CHECK(verify(mmc_buffer_text(&body), KEY, &reason) == -1);
        CHECK(strncmp(mmc_buffer_text(&reason), "wrong signature", 15) == 0);
    }
    mmc_buffer_free(&reason), mmc_buffer_free(&body);
}

/* appID .. timestamp .. nonce has no separators: the last timestamp digit moved to the front
 * of the nonce leaves the signed text, and so the signature, as it was. */
static void refuses_a_reframed_push(void) {
    static const char reframed[] =
        "{\"appID\":\"1988692299\",\"timestamp\":162918361911,\"nonce\":\"685262798\","
        "\"signature\":\"" SIGNATURE "\","
        "\"eventInfo\":{\"event\":\"meeting.verify\",\"timestamp\":1629183619116}}";
    mmc_buffer reason;
    mmc_buffer_init(&reason);
    CHECK(verify(reframed, KEY, &reason) == -1);
    CHECK_STR(mmc_buffer_text(&reason),
              "the push's 'timestamp' is not Unix milliseconds (13 digits)");
    mmc_buffer_free(&reason);
}

/* Any key of the list verifies; none: refused. */
static void takes_a_list_of_keys(void) {
    mmc_buffer reason;
    mmc_buffer_init(&reason);
    mmc_push_key rotated[3] = {{"new-key", 7}, {KEY, 6}, {"older-key", 9}};
    CHECK(verify_with(printed_push, rotated, 3, 0, 0, &reason) == 0);
    CHECK(verify_with(compact_push, rotated + 1, 2, 0, 0, &reason) == 0);
    CHECK(verify_with(compact_push, rotated + 2, 1, 0, 0, &reason) == -1);
    CHECK_STR(mmc_buffer_text(&reason), "wrong signature: the push was not signed with this "
                                        "subscriber key, or was changed on the way");
    mmc_push_key wrong[2] = {{"new-key", 7}, {"older-key", 9}};
    CHECK(verify_with(compact_push, wrong, 2, 0, 0, &reason) == -1);
    CHECK_STR(mmc_buffer_text(&reason), "wrong signature: the push was not signed with any of "
                                        "these subscriber keys, or was changed on the way");
    mmc_buffer_free(&reason);
}

/* The event's id does not depend on the envelope: compact or printed, and signed afresh with
 * another timestamp and nonce, the same event has the same id; another event another id. */
static void gives_the_event_id(void) {
    mmc_buffer reason, body, text;
    mmc_buffer_init(&reason), mmc_buffer_init(&body), mmc_buffer_init(&text);
    char id[MMC_SHA256_HEX_LENGTH + 1];
    CHECK(event_id(compact_push, id, &reason) == 0);
    CHECK_STR(id, EVENT_ID);
    CHECK(event_id(printed_push, id, &reason) == 0);
    CHECK_STR(id, EVENT_ID);

    mmc_push_key key[1] = {{KEY, 6}};
    char signature[MMC_SHA256_HEX_LENGTH + 1];
    const char *events[2] = {"{\"event\":\"meeting.verify\",\"timestamp\":1629183619116}",
                             "{\"event\":\"meeting.verify\",\"timestamp\":1629183619117}"};
    for (int i = 0; i < 2; i++) {
        mmc_buffer_clear(&text), mmc_buffer_clear(&body);
        mmc_buffer_append_format(&text, "1988692299%s%s%s", "1764300000000", "retry-2", events[i]);
        CHECK(mmc_hmac_sha256_hex(KEY, 6, text.data, text.length, signature) == 0);
        mmc_buffer_append_format(&body,
                                 "{\"appID\":\"1988692299\",\"timestamp\":1764300000000,"
                                 "\"nonce\":\"retry-2\",\"signature\":\"%s\",\"eventInfo\":%s}",
                                 signature, events[i]);
        CHECK(verify_with(mmc_buffer_text(&body), key, 1, 0, 0, &reason) == 0);
        CHECK(event_id(mmc_buffer_text(&body), id, &reason) == 0);
        CHECK((strcmp(id, EVENT_ID) == 0) == (i == 0));
    }
    CHECK(event_id("[1]", id, &reason) == -1);
    CHECK_STR(mmc_buffer_text(&reason), "the push is not a JSON object (another JSON value)");
    CHECK(event_id("{\"appID\":1,\"eventInfo\":{}}", id, &reason) == -1);
    CHECK_STR(mmc_buffer_text(&reason), "the push has no string 'appID' and object 'eventInfo'");
    mmc_buffer_free(&reason), mmc_buffer_free(&body), mmc_buffer_free(&text);
}

int main(void) {
    accepts_the_documented_push();
    takes_a_list_of_keys();
    gives_the_event_id();
    refuses_any_other_change();
    refuses_a_reframed_push();
    return check_report("push");
}
