/* Event pushes: Huawei's documented known answer, compact and as its page prints it, and the
 * shape rules (13-digit timestamp) that keep a re-framed push out. */
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

static int verify(const char *body, const char *key, mmc_buffer *reason) {
    mmc_buffer_clear(reason);
    return mmc_push_verify(body, strlen(body), key, strlen(key), 0, 0, reason);
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
    CHECK(mmc_push_verify(printed_push, strlen(printed_push), KEY, 6, 86400,
                          1629183619116LL + 3600000, &reason) == 0);
    CHECK(mmc_push_verify(printed_push, strlen(printed_push), KEY, 6, 86400,
                          1629183619116LL + 365LL * 86400000, &reason) == -1);
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

int main(void) {
    accepts_the_documented_push();
    refuses_any_other_change();
    refuses_a_reframed_push();
    return check_report("push");
}
