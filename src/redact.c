#include "redact.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "json_scan.h"
#include "json_write.h"

/* What to look for: every MMC_REDACT_FRAGMENT-byte piece of the longer secrets, sorted so that
 * a lookup is a binary search, and the shorter secrets as they are. */
typedef struct fragment_set {
    mmc_buffer pieces; /* piece_count records of MMC_REDACT_FRAGMENT bytes, sorted */
    size_t piece_count;
    unsigned char starts[256]; /* 1 for a byte that begins some piece */
    const mmc_secret *secrets;
    size_t count;
    int short_secrets; /* some secret is matched whole (shorter than a fragment) */
} fragment_set;

static int compare_pieces(const void *a, const void *b) {
    return memcmp(a, b, MMC_REDACT_FRAGMENT);
}

static int is_secret(const mmc_secret *secret) {
    return secret->data != NULL && secret->length >= MMC_REDACT_MIN_SECRET;
}

/* 0, or -1 when memory ran out. The set holds copies of secret bytes: fragment_set_free wipes
 * them. */
static int fragment_set_init(fragment_set *set, const mmc_secret *secrets, size_t count) {
    memset(set, 0, sizeof *set);
    mmc_buffer_init(&set->pieces);
    set->secrets = secrets;
    set->count = count;
    for (size_t i = 0; i < count; i++) {
        if (!is_secret(&secrets[i]))
            continue;
        if (secrets[i].length < MMC_REDACT_FRAGMENT) {
            set->short_secrets = 1;
            continue;
        }
        for (size_t at = 0; at + MMC_REDACT_FRAGMENT <= secrets[i].length; at++) {
            if (mmc_buffer_append(&set->pieces, secrets[i].data + at, MMC_REDACT_FRAGMENT) != 0)
                return -1;
            set->starts[(unsigned char)secrets[i].data[at]] = 1;
            set->piece_count++;
        }
    }
    if (set->piece_count > 1)
        qsort(set->pieces.data, set->piece_count, MMC_REDACT_FRAGMENT, compare_pieces);
    return 0;
}

static void fragment_set_free(fragment_set *set) {
    mmc_buffer_free(&set->pieces); /* wipes */
    OPENSSL_cleanse(set->starts, sizeof set->starts);
}

static int fragment_set_is_empty(const fragment_set *set) {
    return set->piece_count == 0 && !set->short_secrets;
}

/* The length of the longest fragment that starts at `text` (of `available` bytes), or 0. */
static size_t fragment_at(const fragment_set *set, const char *text, size_t available) {
    size_t found = 0;
    if (set->piece_count > 0 && available >= MMC_REDACT_FRAGMENT &&
        set->starts[(unsigned char)text[0]] &&
        bsearch(text, set->pieces.data, set->piece_count, MMC_REDACT_FRAGMENT, compare_pieces))
        found = MMC_REDACT_FRAGMENT;
    if (set->short_secrets) {
        for (size_t i = 0; i < set->count; i++) {
            const mmc_secret *secret = &set->secrets[i];
            if (is_secret(secret) && secret->length < MMC_REDACT_FRAGMENT &&
                secret->length > found && secret->length <= available &&
                memcmp(text, secret->data, secret->length) == 0)
                found = secret->length;
        }
    }
    return found;
}

static int set_contains(const fragment_set *set, const char *text, size_t length) {
    for (size_t at = 0; at < length; at++)
        if (fragment_at(set, text + at, length - at) > 0)
            return 1;
    return 0;
}

int mmc_redact_contains(const char *text, size_t length, const mmc_secret *secrets, size_t count) {
    fragment_set set;
    int found = fragment_set_init(&set, secrets, count) == 0 && set_contains(&set, text, length);
    fragment_set_free(&set);
    return found;
}

static int is_continuation(char c) {
    return ((unsigned char)c & 0xC0) == 0x80;
}

/* One pass over `text`: each run of bytes covered by fragments (overlapping or adjacent ones
 * joined), widened to whole UTF-8 characters, becomes the marker. Sets *changed when it replaced
 * any. */
static int redact_pass(const fragment_set *set, mmc_buffer *text, int *changed) {
    const char *data = mmc_buffer_text(text);
    size_t length = text->length, copied = 0;
    mmc_buffer out;
    mmc_buffer_init(&out);
    *changed = 0;
    for (size_t at = 0; at < length;) {
        size_t found = fragment_at(set, data + at, length - at);
        if (found == 0) {
            at++;
            continue;
        }
        size_t start = at, end = at + found;
        for (size_t next = at + 1; next < end; next++) {
            size_t more = fragment_at(set, data + next, length - next);
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
static int redact_with(const fragment_set *set, mmc_buffer *text) {
    int changed = 1;
    while (changed) {
        if (redact_pass(set, text, &changed) != 0) {
            mmc_buffer_clear(text);
            return -1;
        }
    }
    return 0;
}

int mmc_redact_text(mmc_buffer *text, const mmc_secret *secrets, size_t count) {
    fragment_set set;
    int status = -1;
    if (fragment_set_init(&set, secrets, count) == 0)
        status = fragment_set_is_empty(&set) ? 0 : redact_with(&set, text);
    else
        mmc_buffer_clear(text);
    fragment_set_free(&set);
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
static int append_redacted_string(const fragment_set *set, mmc_buffer *out, const char *raw,
                                  size_t raw_length) {
    mmc_buffer decoded, encoded;
    mmc_buffer_init(&decoded);
    mmc_buffer_init(&encoded);
    mmc_json_value value = {MMC_JSON_STRING, raw, raw_length};
    int status = -1;
    if (mmc_json_string_value(&value, &decoded) != 0)
        goto done;
    if (!set_contains(set, raw, raw_length) &&
        !set_contains(set, mmc_buffer_text(&decoded), decoded.length)) {
        status = mmc_buffer_append(out, raw - 1, raw_length + 2); /* with its quotes */
        goto done;
    }
    if (redact_with(set, &decoded) != 0 ||
        mmc_json_append_string(&encoded, mmc_buffer_text(&decoded), decoded.length) != 0)
        goto done;
    if (set_contains(set, mmc_buffer_text(&encoded), encoded.length))
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
static int redact_json_into(const fragment_set *set, const char *json, size_t length,
                            mmc_buffer *out) {
    size_t copied = 0;
    for (size_t at = 0; at < length;) {
        if (json[at] == '"') {
            size_t end = string_end(json, at + 1, length);
            if (end >= length)
                return -1; /* not the strict JSON promised */
            if (mmc_buffer_append(out, json + copied, at - copied) != 0 ||
                append_redacted_string(set, out, json + at + 1, end - at - 1) != 0)
                return -1;
            copied = at = end + 1;
        } else if (is_number_byte(json[at])) {
            size_t end = at;
            while (end < length && is_number_byte(json[end]))
                end++;
            if (set_contains(set, json + at, end - at)) {
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

int mmc_redact_json(mmc_buffer *json, const mmc_secret *secrets, size_t count) {
    fragment_set set;
    mmc_buffer out;
    mmc_buffer_init(&out);
    int status = -1;
    if (fragment_set_init(&set, secrets, count) != 0)
        goto done;
    const char *text = mmc_buffer_text(json);
    /* Without an escape every string reads as written: no fragment in the bytes, none at all. */
    if (fragment_set_is_empty(&set) ||
        (memchr(text, '\\', json->length) == NULL && !set_contains(&set, text, json->length))) {
        status = 0;
        goto done;
    }
    if (redact_json_into(&set, text, json->length, &out) != 0)
        goto done;
    if (set_contains(&set, mmc_buffer_text(&out), out.length)) {
        status = 1; /* a fragment spread over the syntax itself: nothing of it is shown */
        goto done;
    }
    mmc_buffer_free(json);
    *json = out;
    mmc_buffer_init(&out);
    status = 0;
done:
    if (status != 0)
        mmc_buffer_clear(json);
    mmc_buffer_free(&out);
    fragment_set_free(&set);
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
