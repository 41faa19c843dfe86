/*
 * crypto: the few cryptographic primitives mmc needs, all taken from OpenSSL's libcrypto.
 *
 * Nothing here is hand-written cryptography: these are thin wrappers that fix the output
 * formats the Huawei API expects (lowercase hex, standard base64) and the randomness source
 * (OpenSSL's CSPRNG).
 */
#ifndef MMC_CRYPTO_H
#define MMC_CRYPTO_H

#include <stddef.h>

#define MMC_SHA256_HEX_LENGTH 64
#define MMC_UUID_LENGTH 36

/* HMAC-SHA256(key, message) as 64 lowercase hex digits plus NUL into `hex_out`. 0 or -1. */
int mmc_hmac_sha256_hex(const char *key, size_t key_length, const char *message,
                        size_t message_length, char hex_out[MMC_SHA256_HEX_LENGTH + 1]);

/* SHA-256(message) as 64 lowercase hex digits plus NUL into `hex_out`. 0 or -1. */
int mmc_sha256_hex(const char *message, size_t message_length,
                   char hex_out[MMC_SHA256_HEX_LENGTH + 1]);

/* Standard base64 (with padding) of `length` bytes, NUL-terminated into `out`, which must
 * hold 4 * ceil(length / 3) + 1 bytes. Returns the encoded length, or -1. */
int mmc_base64_encode(const void *bytes, size_t length, char *out, size_t out_size);

/* `2 * byte_count` lowercase hex digits of fresh CSPRNG output plus NUL. 0, or -1 when the
 * generator is not seeded (never silently weaker randomness). */
int mmc_random_hex(size_t byte_count, char *out, size_t out_size);

/* A random (version 4) UUID in its canonical 36-character form, for X-Request-ID. 0 or -1. */
int mmc_random_uuid(char out[MMC_UUID_LENGTH + 1]);

/* A random number from 0 (included) to 1 (excluded), for jitter; 0.5 if the generator failed. */
double mmc_random_unit(void);

/* Overwrites memory in a way the compiler cannot optimise away. */
void mmc_wipe(void *memory, size_t length);

/* 1 when the two byte strings are equal, taking the same time whatever they hold (for
 * comparing a received signature with the expected one). */
int mmc_constant_time_equal(const void *a, const void *b, size_t length);

#endif
