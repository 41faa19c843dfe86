/*
 * redact: keeping secrets out of what a caller sees, in whatever form a server echoes them.
 *
 * The secrets are the app key, the access token and a subscriber key. A server may echo one
 * in an answer: whole or in part, padded, escaped as JSON allows (\/, \uXXXX), and mmc itself
 * cuts long server text to 300 bytes, which can leave the start of a secret at the end of a
 * message. So what counts is a fragment: any MMC_REDACT_FRAGMENT consecutive bytes of a
 * secret (of a secret shorter than that, the whole of it; secrets under 4 bytes are ignored,
 * as they would match ordinary words).
 *
 *   text (a message, or a body that is not JSON): every run of bytes that lies in a fragment,
 *        widened to whole UTF-8 characters, becomes "***", until no fragment is left.
 *   JSON (a body the Lua face decodes): every string, member names included, is decoded and
 *        checked; one that holds a fragment (decoded or as written) is redacted as text and
 *        written back, or becomes "***" when even that would show a fragment; a number that
 *        holds one becomes the string "***". What comes out holds no fragment in any decoded
 *        string nor in its bytes; a body where one would remain (spread over JSON syntax) is
 *        withheld whole.
 *   members (the authentication answer): the values of named top-level members are
 *        overwritten in place (null, or 0 where null does not fit, padded with spaces), so the
 *        tokens they held are wiped before anything else reads the body.
 */
#ifndef MMC_REDACT_H
#define MMC_REDACT_H

#include <stddef.h>
#include <stdint.h>

#include "buffer.h"

#define MMC_REDACT_FRAGMENT 8
#define MMC_REDACT_GRAM 4 /* the runs of a secret the quick look knows (redactor.grams) */
#define MMC_REDACT_MIN_SECRET 4
#define MMC_REDACT_MARKER "***"

typedef struct mmc_secret {
    const char *data; /* NULL or shorter than MMC_REDACT_MIN_SECRET: not a secret to look for */
    size_t length;
} mmc_secret;

/* The secrets, prepared for looking: each MMC_REDACT_FRAGMENT-byte piece of the longer ones
 * in a hash table, the shorter ones as they are. It holds copies of the secrets, wiped when it
 * is freed or prepared anew. A client keeps one, so that a call only looks. */
typedef struct mmc_redactor {
    mmc_buffer kept;     /* the secrets prepared for: each as its length, then its bytes */
    uint64_t *slots;     /* the pieces, as 8-byte integers */
    unsigned char *used; /* 1 for a slot that holds a piece */
    size_t capacity;     /* slots: a power of 2, or 0 for none */
    unsigned int shift;  /* 64 - log2(capacity) */
    int has_short;       /* some secret is shorter than a fragment */
    uint64_t *grams;     /* one bit per hash of each MMC_REDACT_GRAM-byte run of the secrets
                          * the table holds pieces of: a text's bytes are ruled out with it,
                          * several at a time, before the table is looked at */
} mmc_redactor;

/* Its storage is charged to `memory` (memory.h; kept.memory holds it). */
void mmc_redactor_init(mmc_redactor *redactor, mmc_memory *memory);
void mmc_redactor_free(mmc_redactor *redactor);

/* Prepares for `secrets` (cheap when they are the ones already prepared for). 0, or -1 when
 * memory ran out: the redactor is then empty. */
int mmc_redactor_prepare(mmc_redactor *redactor, const mmc_secret *secrets, size_t count);

/* As mmc_redact_contains, mmc_redact_text and mmc_redact_json below, with prepared secrets. */
int mmc_redactor_contains(const mmc_redactor *redactor, const char *text, size_t length);
int mmc_redactor_text(const mmc_redactor *redactor, mmc_buffer *text);
int mmc_redactor_json(const mmc_redactor *redactor, mmc_buffer *json);

/* 1 when `text` holds a fragment of one of the secrets, else 0. */
int mmc_redact_contains(const char *text, size_t length, const mmc_secret *secrets, size_t count);

/* Redacts `text` as text (see above). 0, or -1 when memory ran out: `text` is then emptied,
 * never left holding a fragment. */
int mmc_redact_text(mmc_buffer *text, const mmc_secret *secrets, size_t count);

/* Redacts `json`, which must hold strict JSON (mmc_json_scan said so), as JSON (see above).
 * 0 when it is still JSON; 1 when it was withheld (emptied); -1 when memory ran out
 * (emptied too). */
int mmc_redact_json(mmc_buffer *json, const mmc_secret *secrets, size_t count);

/* Overwrites in place the value of every top-level member of the JSON object in `json`
 * (strict JSON) whose name is one of `names`, wiping what it held. The length is unchanged
 * and the text stays valid JSON. Returns how many values were overwritten. */
size_t mmc_redact_drop_members(char *json, size_t length, const char *const *names,
                               size_t name_count);

#endif
