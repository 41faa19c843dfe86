/* memory: the account of mmc's own allocations (src/memory.h) sees every live block, a leaked
 * one included, and returns to zero when all are freed. */
#include <string.h>

#include "../../src/buffer.h"
#include "../../src/memory.h"
#include "../../src/redact.h"
#include "check.h"

static void counts_blocks_and_bytes(void) {
    mmc_memory memory = {0, 0};
    char *a = mmc_memory_alloc(&memory, 10);
    int *b = mmc_memory_calloc(&memory, 4, sizeof *b);
    CHECK(a != NULL && b != NULL && b[0] == 0 && b[3] == 0);
    CHECK(memory.allocations == 2 && memory.bytes == 10 + 4 * sizeof *b);
    a = mmc_memory_realloc(&memory, a, 100);
    CHECK(a != NULL && memory.allocations == 2 && memory.bytes == 100 + 4 * sizeof *b);
    char *c = mmc_memory_strndup(&memory, "abcdef", 3);
    CHECK_STR(c, "abc");
    CHECK(memory.allocations == 3 && memory.bytes == 104 + 4 * sizeof *b);
    mmc_memory_free(&memory, a);
    mmc_memory_free(&memory, b);
    mmc_memory_free(&memory, c);
    mmc_memory_free(&memory, NULL);
    CHECK(memory.allocations == 0 && memory.bytes == 0);
    CHECK(mmc_memory_alloc(&memory, (size_t)-1) == NULL && memory.allocations == 0);
}

static void counts_buffers_and_redactors(void) {
    mmc_memory memory = {0, 0};
    mmc_buffer text;
    mmc_buffer_init_in(&text, &memory);
    CHECK(mmc_buffer_append_string(&text, "the secret is spec-app-key-0123456789") == 0);
    CHECK(memory.allocations == 1 && memory.bytes == text.capacity);
    mmc_secret secret = {"spec-app-key-0123456789", 23};
    CHECK(mmc_redact_text(&text, &secret, 1) == 0); /* its scratch is charged, then freed */
    CHECK(strstr(mmc_buffer_text(&text), "0123456789") == NULL);
    CHECK(memory.allocations == 1 && memory.bytes == text.capacity);
    mmc_buffer_free(&text);
    CHECK(memory.allocations == 0 && memory.bytes == 0);
}

/* A block allocated and never freed is what the account is for: it stays on it. */
static void sees_a_leaked_block(void) {
    mmc_memory memory = {0, 0};
    mmc_buffer kept, leaked;
    mmc_buffer_init_in(&kept, &memory);
    mmc_buffer_init_in(&leaked, &memory);
    CHECK(mmc_buffer_append_string(&kept, "freed") == 0);
    CHECK(mmc_buffer_append_string(&leaked, "never freed") == 0);
    mmc_buffer_free(&kept);
    CHECK(memory.allocations == 1 && memory.bytes == leaked.capacity);
    char *block = leaked.data; /* let go of by hand here, so the test itself does not leak */
    leaked.data = NULL;
    mmc_memory_free(NULL, block);
    CHECK(memory.allocations == 1); /* freed on no account: the leak is still on this one */
}

int main(void) {
    counts_blocks_and_bytes();
    counts_buffers_and_redactors();
    sees_a_leaked_block();
    return check_report("memory");
}
