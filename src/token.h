/*
 * token: the access token a client holds, and when to renew it.
 *
 * A token is renewed *before* it expires, by a margin of a tenth of its lifetime capped at
 * five minutes (so a 24 h token is renewed 5 min early and a 60 s test token 6 s early). The
 * lifetime is the one the server gave with the token (see appauth.h), measured on the
 * monotonic clock from the moment the authentication request was sent, which errs on the
 * early side. A token whose lifetime the server did not state is used until it is refused.
 */
#ifndef MMC_TOKEN_H
#define MMC_TOKEN_H

#include <stddef.h>

#include "buffer.h"

#define MMC_TOKEN_MAX_LENGTH 1024
#define MMC_TOKEN_MAX_RENEWAL_MARGIN 300.0

typedef struct mmc_token {
    mmc_buffer value; /* empty when the client holds no token */
    double renew_at;  /* monotonic seconds from which it is renewed before use; 0 = never */
} mmc_token;

/* Its storage is charged to `memory` (memory.h). */
void mmc_token_init(mmc_token *token, mmc_memory *memory);
/* Wipes and drops the token (after a 401, on close). */
void mmc_token_forget(mmc_token *token);
void mmc_token_free(mmc_token *token);

/* 1 when the client holds a token that needs no renewal at monotonic time `now`. */
int mmc_token_is_fresh(const mmc_token *token, double now);

/* Stores a token obtained by a request sent at monotonic time `sent_at`, valid for
 * `lifetime` seconds (a negative lifetime: not stated). 0, or -1 when memory ran out. */
int mmc_token_store(mmc_token *token, const char *value, size_t length, double lifetime,
                    double sent_at);

/* Stores a token that another client obtained, to be renewed from monotonic time `renew_at`
 * (0: never). 0, or -1 when memory ran out. */
int mmc_token_adopt(mmc_token *token, const char *value, size_t length, double renew_at);

/* A token goes into an HTTP header: 1..MMC_TOKEN_MAX_LENGTH visible ASCII characters only, so
 * that a hostile server cannot smuggle CR/LF into our next request. */
int mmc_token_is_well_formed(const char *value, size_t length);

#endif
