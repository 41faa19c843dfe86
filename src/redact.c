#include "redact.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "json_scan.h"
#include "json_write.h"

static int is_secret(const mmc_secret *secret) {
    return secret->data != NULL && secret->length >= MMC_REDACT_MIN_SECRET;
}

static uint64_t load_piece(const char *text) {
    uint64_t piece;
    memcpy(&piece, text, sizeof piece);
    return piece;
}

static uint32_t load_gram(const char *text) {
    uint32_t gram;
    memcpy(&gram, text, sizeof gram);
    return gram;
}

/* The bit of a gram in redactor.grams (Fibonacci hashing to 16 bits). */
static unsigned gram_bit(uint32_t gram) {
    return (unsigned)((gram * 0x9E3779B1u) >> 16);
}

/* 0 when the MMC_REDACT_GRAM bytes at `text` are no run of a secret the table holds pieces of;
 * 1 when they may be. */
static int may_be_gram(const mmc_redactor *redactor, const char *text) {
    unsigned bit = gram_bit(load_gram(text));
    return (int)(redactor->grams[bit >> 6] >> (bit & 63) & 1);
}

/* The first slot to look at for a piece (Fibonacci hashing). */
static size_t home_slot(const mmc_redactor *redactor, uint64_t piece) {
    return (size_t)((piece * 0x9E3779B97F4A7C15ull) >> redactor->shift);
}

void mmc_redactor_init(mmc_redactor *redactor, mmc_memory *memory) {
    memset(redactor, 0, sizeof *redactor);
    mmc_buffer_init_in(&redactor->kept, memory);
}

void mmc_redactor_free(mmc_redactor *redactor) {
    if (redactor->slots != NULL) {
        OPENSSL_cleanse(redactor->slots, redactor->capacity * sizeof *redactor->slots);
        mmc_memory_free(redactor->kept.memory, redactor->slots);
    }
    mmc_memory *memory = redactor->kept.memory;
    mmc_memory_free(memory, redactor->used);
    mmc_memory_free(memory, redactor->grams);
    mmc_buffer_free(&redactor->kept); /* wipes */
    mmc_redactor_init(redactor, memory);
}

/* 1 when the redactor was prepared for exactly these secrets (the ones worth looking for). */
static int is_prepared_for(const mmc_redactor *redactor, const mmc_secret *secrets, size_t count) {
    const char *kept = mmc_buffer_text(&redactor->kept), *end = kept + redactor->kept.length;
    for (size_t i = 0; i < count; i++) {
        if (!is_secret(&secrets[i]))
            continue;
        size_t length;
        if ((size_t)(end - kept) < sizeof length)
            return 0;
        memcpy(&length, kept, sizeof length);
        kept += sizeof length;
        if (length != secrets[i].length || (size_t)(end - kept) < length ||
            memcmp(kept, secrets[i].data, length) != 0)
            return 0;
        kept += length;
    }
    return kept == end;
}

static void add_piece(mmc_redactor *redactor, uint64_t piece) {
    size_t slot = home_slot(redactor, piece);
    while (redactor->used[slot] && redactor->slots[slot] != piece)
        slot = (slot + 1) & (redactor->capacity - 1);
    redactor->slots[slot] = piece;
    redactor->used[slot] = 1;
}

/* Notes every MMC_REDACT_GRAM-byte run of a secret (of at least MMC_REDACT_FRAGMENT bytes). */
static void add_grams(mmc_redactor *redactor, const mmc_secret *secret) {
    for (size_t at = 0; at + MMC_REDACT_GRAM <= secret->length; at++) {
        unsigned bit = gram_bit(load_gram(secret->data + at));
        redactor->grams[bit >> 6] |= 1ull << (bit & 63);
    }
}

int mmc_redactor_prepare(mmc_redactor *redactor, const mmc_secret *secrets, size_t count) {
    if (is_prepared_for(redactor, secrets, count))
        return 0;
    mmc_redactor_free(redactor);
    size_t pieces = 0;
    for (size_t i = 0; i < count; i++) {
        if (!is_secret(&secrets[i]))
            continue;
        if (mmc_buffer_append(&redactor->kept, &secrets[i].length, sizeof secrets[i].length) != 0 ||
            mmc_buffer_append(&redactor->kept, secrets[i].data, secrets[i].length) != 0)
            goto fail;
        if (secrets[i].length < MMC_REDACT_FRAGMENT)
            redactor->has_short = 1;
        else
            pieces += secrets[i].length - MMC_REDACT_FRAGMENT + 1;
    }
    if (pieces > 0) {
        /* At most half full, so that a look finds a free slot soon. */
        redactor->capacity = 16;
        redactor->shift = 60;
        while (redactor->capacity < 2 * pieces) {
            redactor->capacity *= 2;
            redactor->shift--;
        }
        mmc_memory *memory = redactor->kept.memory;
        redactor->slots = mmc_memory_calloc(memory, redactor->capacity, sizeof *redactor->slots);
        redactor->used = mmc_memory_calloc(memory, redactor->capacity, 1);
        redactor->grams = mmc_memory_calloc(memory, 65536 / 64, sizeof *redactor->grams);
        if (redactor->slots == NULL || redactor->used == NULL || redactor->grams == NULL)
            goto fail;
        for (size_t i = 0; i < count; i++) {
            if (!is_secret(&secrets[i]) || secrets[i].length < MMC_REDACT_FRAGMENT)
                continue;
            add_grams(redactor, &secrets[i]);
            for (size_t at = 0; at + MMC_REDACT_FRAGMENT <= secrets[i].length; at++)
                add_piece(redactor, load_piece(secrets[i].data + at));
        }
    }
    return 0;
fail:
    mmc_redactor_free(redactor);
    return -1;
}

static int is_empty(const mmc_redactor *redactor) {
    return redactor->kept.length == 0;
}

/* The length of the longest fragment that starts at `text` (of `available` bytes), or 0. */
static size_t fragment_at(const mmc_redactor *redactor, const char *text, size_t available) {
    size_t found = 0;
    if (redactor->capacity > 0 && available >= MMC_REDACT_FRAGMENT) {
        uint64_t piece = load_piece(text);
        /* a piece starts with a run of its secret: without one, no look in the table */
        int may_be_piece = may_be_gram(redactor, text);
        for (size_t slot = home_slot(redactor, piece); may_be_piece && redactor->used[slot];
             slot = (slot + 1) & (redactor->capacity - 1)) {
            if (redactor->slots[slot] == piece) {
                found = MMC_REDACT_FRAGMENT;
                break;
            }
        }
    }
    if (redactor->has_short) {
        const char *kept = redactor->kept.data, *end = kept + redactor->kept.length;
        while (kept < end) {
            size_t length;
            memcpy(&length, kept, sizeof length);
            kept += sizeof length;
            if (length < MMC_REDACT_FRAGMENT && length > found && length <= available &&
                memcmp(text, kept, length) == 0)
                found = length;
            kept += length;
        }
    }
    return found;
}

/* The first offset from `at` on where a fragment of `text` (of `length` bytes) may start:
 * `at` itself unless the quick look rules bytes out, or `length` when none can. The quick look
 * (without a secret shorter than a fragment, every fragment is a piece of the table): a
 * fragment that starts anywhere from `at` to `at` + SKIP - 1 holds the MMC_REDACT_GRAM bytes
 * that end the fragment starting at `at` (SKIP = MMC_REDACT_FRAGMENT - MMC_REDACT_GRAM + 1);
 * when they are no run of a secret, those SKIP starts are all ruled out at once. */
static size_t next_candidate(const mmc_redactor *redactor, const char *text, size_t at,
                             size_t length) {
    if (redactor->has_short || redactor->grams == NULL)
        return at;
    const size_t skip = MMC_REDACT_FRAGMENT - MMC_REDACT_GRAM + 1;
    while (at + MMC_REDACT_FRAGMENT <= length) {
        if (may_be_gram(redactor, text + at + MMC_REDACT_FRAGMENT - MMC_REDACT_GRAM))
            return at;
        at += skip;
    }
    return length; /* no fragment fits in what is left */
}

int mmc_redactor_contains(const mmc_redactor *redactor, const char *text, size_t length) {
    if (is_empty(redactor))
        return 0;
    for (size_t at = next_candidate(redactor, text, 0, length); at < length;
         at = next_candidate(redactor, text, at + 1, length))
        if (fragment_at(redactor, text + at, length - at) > 0)
            return 1;
    return 0;
}

int mmc_redact_contains(const char *text, size_t length, const mmc_secret *secrets, size_t count) {
    mmc_redactor redactor;
    mmc_redactor_init(&redactor, NULL); /* no account at hand: C tests and fuzzers only */
    int found = mmc_redactor_prepare(&redactor, secrets, count) == 0 &&
                mmc_redactor_contains(&redactor, text, length);
    mmc_redactor_free(&redactor);
    return found;
}

static int is_continuation(char c) {
    return ((unsigned char)c & 0xC0) == 0x80;
}

/* One pass over `text`: each run of bytes covered by fragments (overlapping or adjacent ones
 * joined), widened to whole UTF-8 characters, becomes the marker. Sets *changed when it replaced
 * any. */
static int redact_pass(const mmc_redactor *redactor, mmc_buffer *text, int *changed) {
    const char *data = mmc_buffer_text(text);
    size_t length = text->length, copied = 0;
    mmc_buffer out;
    mmc_buffer_init_in(&out, text->memory);
    *changed = 0;
    for (size_t at = 0; at < length;) {
        at = next_candidate(redactor, data, at, length);
        if (at >= length)
            break;
        size_t found = fragment_at(redactor, data + at, length - at);
        if (found == 0) {
            at++;
            continue;
        }
        size_t start = at, end = at + found;
        for (size_t next = at + 1; next < end; next++) {
            size_t more = fragment_at(redactor, data + next, length - next);
            if (more > 0 && next + more > end)
                end = next + more;
        }
        while (start > copied && is_continuation(data[start]))
            start--;
        while (end < length && is_continuation(data[end]))
            end++;
        /* A run right after the last one joins it under the same marker. */
        int joins = *changed && start == copied;
        if (mmc_buffer_append(&out, data + copied, start - copied) != 0 ||
            (!joins && mmc_buffer_append_string(&out, MMC_REDACT_MARKER) != 0))
            goto fail;
        *changed = 1;
        copied = at = end;
    }
    if (!*changed) {
        mmc_buffer_free(&out);
        return 0;
    }
    if (mmc_buffer_append(&out, data + copied, length - copied) != 0)
        goto fail;
    mmc_buffer_free(text);
    *text = out;
    return 0;
fail:
    mmc_buffer_free(&out);
    return -1;
}

/* Passes again while a fragment is found: a marker put in may join its neighbours into a new
 * one (a secret with '*' in it). Each pass that changes anything makes the text shorter (a
 * run is at least MMC_REDACT_MIN_SECRET bytes, the marker 3), so this ends. */
static int redact_with(const mmc_redactor *redactor, mmc_buffer *text) {
    int changed = 1;
    while (changed) {
        if (redact_pass(redactor, text, &changed) != 0) {
            mmc_buffer_clear(text);
            return -1;
        }
    }
    return 0;
}

int mmc_redactor_text(const mmc_redactor *redactor, mmc_buffer *text) {
    if (text->length == 0 || is_empty(redactor))
        return 0;
    return redact_with(redactor, text);
}

int mmc_redact_text(mmc_buffer *text, const mmc_secret *secrets, size_t count) {
    mmc_redactor redactor;
    mmc_redactor_init(&redactor, text->memory);
    int status = mmc_redactor_prepare(&redactor, secrets, count) == 0
                     ? mmc_redactor_text(&redactor, text)
                     : -1;
    if (status != 0)
        mmc_buffer_clear(text);
    mmc_redactor_free(&redactor);
    return status;
}

/* ---- JSON ------------------------------------------------------------------------------ */

/* The index of the quote that closes the string whose contents start at `at`, or `length`. */
static size_t string_end(const char *json, size_t at, size_t length) {
    for (; at < length; at++) {
        if (json[at] == '\\')
            at++;
        else if (json[at] == '"')
            return at;
    }
    return length;
}

static int is_number_byte(char c) {
    return (c >= '0' && c <= '9') || c == '-' || c == '+' || c == '.' || c == 'e' || c == 'E';
}

/* Appends the JSON string whose (escaped) contents are `raw`, redacted: unchanged when it
 * holds no fragment, decoded, redacted and written back when it does, or the marker when even
 * that would show one. */
static int append_redacted_string(const mmc_redactor *redactor, mmc_buffer *out, const char *raw,
                                  size_t raw_length) {
    mmc_buffer decoded, encoded;
    mmc_buffer_init_in(&decoded, out->memory);
    mmc_buffer_init_in(&encoded, out->memory);
    mmc_json_value value = {MMC_JSON_STRING, raw, raw_length};
    int status = -1;
    if (mmc_json_string_value(&value, &decoded) != 0)
        goto done;
    if (!mmc_redactor_contains(redactor, raw, raw_length) &&
        !mmc_redactor_contains(redactor, mmc_buffer_text(&decoded), decoded.length)) {
        status = mmc_buffer_append(out, raw - 1, raw_length + 2); /* with its quotes */
        goto done;
    }
    if (redact_with(redactor, &decoded) != 0 ||
        mmc_json_append_string(&encoded, mmc_buffer_text(&decoded), decoded.length) != 0)
        goto done;
    if (mmc_redactor_contains(redactor, mmc_buffer_text(&encoded), encoded.length))
        status = mmc_buffer_append_string(out, "\"" MMC_REDACT_MARKER "\"");
    else
        status = mmc_buffer_append(out, encoded.data, encoded.length);
done:
    mmc_buffer_free(&decoded);
    mmc_buffer_free(&encoded);
    return status;
}

/* Writes the redacted copy of `json` into `out`: strings and numbers are redacted one by one,
 * everything else (structure, literals, space) is copied. 0 or -1. */
static int redact_json_into(const mmc_redactor *redactor, const char *json, size_t length,
                            mmc_buffer *out) {
    size_t copied = 0;
    for (size_t at = 0; at < length;) {
        if (json[at] == '"') {
            size_t end = string_end(json, at + 1, length);
            if (end >= length)
                return -1; /* not the strict JSON promised */
            if (mmc_buffer_append(out, json + copied, at - copied) != 0 ||
                append_redacted_string(redactor, out, json + at + 1, end - at - 1) != 0)
                return -1;
            copied = at = end + 1;
        } else if (is_number_byte(json[at])) {
            size_t end = at;
            while (end < length && is_number_byte(json[end]))
                end++;
            if (mmc_redactor_contains(redactor, json + at, end - at)) {
                if (mmc_buffer_append(out, json + copied, at - copied) != 0 ||
                    mmc_buffer_append_string(out, "\"" MMC_REDACT_MARKER "\"") != 0)
                    return -1;
                copied = end;
            }
            at = end;
        } else {
            at++;
        }
    }
    return mmc_buffer_append(out, json + copied, length - copied);
}

int mmc_redactor_json(const mmc_redactor *redactor, mmc_buffer *json) {
    if (json->length == 0 || is_empty(redactor))
        return 0;
    const char *text = mmc_buffer_text(json);
    /* Without an escape every string reads as written: no fragment in the bytes, none at all. */
    if (memchr(text, '\\', json->length) == NULL &&
        !mmc_redactor_contains(redactor, text, json->length))
        return 0;
    mmc_buffer out;
    mmc_buffer_init_in(&out, json->memory);
    int status = -1;
    if (redact_json_into(redactor, text, json->length, &out) != 0)
        goto done;
    if (mmc_redactor_contains(redactor, mmc_buffer_text(&out), out.length)) {
        status = 1; /* a fragment spread over the syntax itself: nothing of it is shown */
        goto done;
    }
    mmc_buffer_free(json);
    *json = out;
    mmc_buffer_init_in(&out, json->memory);
    status = 0;
done:
    if (status != 0)
        mmc_buffer_clear(json);
    mmc_buffer_free(&out);
    return status;
}

int mmc_redact_json(mmc_buffer *json, const mmc_secret *secrets, size_t count) {
    mmc_redactor redactor;
    mmc_redactor_init(&redactor, json->memory);
    int status = mmc_redactor_prepare(&redactor, secrets, count) == 0
                     ? mmc_redactor_json(&redactor, json)
                     : -1;
    if (status < 0)
        mmc_buffer_clear(json);
    mmc_redactor_free(&redactor);
    return status;
}

/* ---- members ----------------------------------------------------------------------------- */

static int is_space(char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static size_t skip_space(const char *json, size_t at, size_t length) {
    while (at < length && is_space(json[at]))
        at++;
    return at;
}

/* The index just past the value that starts at `at`. */
static size_t value_end(const char *json, size_t at, size_t length) {
    if (at >= length)
        return length;
    if (json[at] == '"')
        return string_end(json, at + 1, length) + 1;
    if (json[at] == '{' || json[at] == '[') {
        size_t depth = 0;
        for (; at < length; at++) {
            char c = json[at];
            if (c == '"')
                at = string_end(json, at + 1, length);
            else if (c == '{' || c == '[')
                depth++;
            else if ((c == '}' || c == ']') && --depth == 0)
                return at + 1;
        }
        return length;
    }
    while (at < length && json[at] != ',' && json[at] != '}' && json[at] != ']' &&
           !is_space(json[at]))
        at++;
    return at;
}

/* 1 when the member name whose (escaped) contents are `raw` is one of `names`. */
static int name_is_one_of(const char *raw, size_t raw_length, const char *const *names,
                          size_t name_count) {
    mmc_buffer decoded;
    mmc_buffer_init(&decoded);
    mmc_json_value value = {MMC_JSON_STRING, raw, raw_length};
    int found = 0;
    if (mmc_json_string_value(&value, &decoded) == 0)
        for (size_t i = 0; i < name_count && !found; i++)
            found = strlen(names[i]) == decoded.length &&
                    memcmp(names[i], mmc_buffer_text(&decoded), decoded.length) == 0;
    mmc_buffer_free(&decoded);
    return found;
}

/* Overwrites a value with null (or, when it is shorter than that, 0) and spaces. */
static void overwrite_value(char *value, size_t length) {
    OPENSSL_cleanse(value, length);
    memset(value, ' ', length);
    if (length >= 4)
        memcpy(value, "null", 4);
    else
        value[0] = '0';
}

size_t mmc_redact_drop_members(char *json, size_t length, const char *const *names,
                               size_t name_count) {
    size_t dropped = 0;
    size_t at = skip_space(json, 0, length);
    if (at >= length || json[at] != '{')
        return 0;
    at++;
    for (;;) {
        at = skip_space(json, at, length);
        if (at >= length || json[at] != '"')
            return dropped;
        size_t name_end = string_end(json, at + 1, length);
        if (name_end >= length)
            return dropped;
        const char *name = json + at + 1;
        size_t name_length = name_end - at - 1;
        at = skip_space(json, name_end + 1, length);
        if (at >= length || json[at] != ':')
            return dropped;
        size_t start = skip_space(json, at + 1, length);
        size_t end = value_end(json, start, length);
        if (end > length || end <= start)
            return dropped;
        if (name_is_one_of(name, name_length, names, name_count)) {
            overwrite_value(json + start, end - start);
            dropped++;
        }
        at = skip_space(json, end, length);
        if (at >= length || json[at] != ',')
            return dropped;
        at++;
    }
}
