#include "token.h"

void mmc_token_init(mmc_token *token, mmc_memory *memory) {
    mmc_buffer_init_in(&token->value, memory);
    token->renew_at = 0;
}

void mmc_token_forget(mmc_token *token) {
    mmc_buffer_clear(&token->value);
    token->renew_at = 0;
}

void mmc_token_free(mmc_token *token) {
    mmc_buffer_free(&token->value);
    token->renew_at = 0;
}

int mmc_token_is_fresh(const mmc_token *token, double now) {
    if (token->value.length == 0)
        return 0;
    return token->renew_at == 0 || now < token->renew_at;
}

int mmc_token_store(mmc_token *token, const char *value, size_t length, double lifetime,
                    double sent_at) {
    mmc_token_forget(token);
    if (mmc_buffer_append(&token->value, value, length) != 0)
        return -1;
    if (lifetime >= 0) {
        double margin = lifetime / 10;
        if (margin > MMC_TOKEN_MAX_RENEWAL_MARGIN)
            margin = MMC_TOKEN_MAX_RENEWAL_MARGIN;
        token->renew_at = sent_at + lifetime - margin;
        if (token->renew_at <= 0)
            token->renew_at = 1e-9; /* a zero lifetime: renew at the next use */
    }
    return 0;
}

int mmc_token_adopt(mmc_token *token, const char *value, size_t length, double renew_at) {
    mmc_token_forget(token);
    if (mmc_buffer_append(&token->value, value, length) != 0)
        return -1;
    token->renew_at = renew_at;
    return 0;
}

int mmc_token_is_well_formed(const char *value, size_t length) {
    if (length == 0 || length > MMC_TOKEN_MAX_LENGTH)
        return 0;
    for (size_t i = 0; i < length; i++) {
        unsigned char c = (unsigned char)value[i];
        if (c < 0x21 || c > 0x7e)
            return 0;
    }
    return 1;
}
