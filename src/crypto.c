#include "crypto.h"

#include <limits.h>
#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

static const char hex_digits[] = "0123456789abcdef";

static void hex_encode(const unsigned char *bytes, size_t length, char *out) {
    for (size_t i = 0; i < length; i++) {
        out[2 * i] = hex_digits[bytes[i] >> 4];
        out[2 * i + 1] = hex_digits[bytes[i] & 0x0f];
    }
    out[2 * length] = '\0';
}

int mmc_hmac_sha256_hex(const char *key, size_t key_length, const char *message,
                        size_t message_length, char hex_out[MMC_SHA256_HEX_LENGTH + 1]) {
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int digest_length = 0;
    if (key_length > INT_MAX)
        return -1;
    if (HMAC(EVP_sha256(), key, (int)key_length, (const unsigned char *)message, message_length,
             digest, &digest_length) == NULL ||
        digest_length != MMC_SHA256_HEX_LENGTH / 2)
        return -1;
    hex_encode(digest, digest_length, hex_out);
    OPENSSL_cleanse(digest, sizeof digest);
    return 0;
}

int mmc_sha256_hex(const char *message, size_t message_length,
                   char hex_out[MMC_SHA256_HEX_LENGTH + 1]) {
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int digest_length = 0;
    if (EVP_Digest(message, message_length, digest, &digest_length, EVP_sha256(), NULL) != 1 ||
        digest_length != MMC_SHA256_HEX_LENGTH / 2)
        return -1;
    hex_encode(digest, digest_length, hex_out);
    return 0;
}

int mmc_base64_encode(const void *bytes, size_t length, char *out, size_t out_size) {
    if (length > INT_MAX / 2 || out_size < 4 * ((length + 2) / 3) + 1)
        return -1;
    return EVP_EncodeBlock((unsigned char *)out, bytes, (int)length);
}

int mmc_random_hex(size_t byte_count, char *out, size_t out_size) {
    unsigned char bytes[64];
    if (byte_count > sizeof bytes || out_size < 2 * byte_count + 1)
        return -1;
    if (RAND_bytes(bytes, (int)byte_count) != 1)
        return -1;
    hex_encode(bytes, byte_count, out);
    return 0;
}

int mmc_random_uuid(char out[MMC_UUID_LENGTH + 1]) {
    unsigned char b[16];
    if (RAND_bytes(b, sizeof b) != 1)
        return -1;
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40); /* version 4 */
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80); /* RFC 4122 variant */
    /* 8-4-4-4-12 hex digits. Put together by hand: snprintf cost twice as much, on every call
     * (bench/run's callgrind mode counts it). */
    char hex[2 * sizeof b + 1];
    hex_encode(b, sizeof b, hex);
    static const struct {
        unsigned char from, length;
    } groups[] = {{0, 8}, {8, 4}, {12, 4}, {16, 4}, {20, 12}};
    size_t at = 0;
    for (size_t i = 0; i < sizeof groups / sizeof groups[0]; i++) {
        if (i > 0)
            out[at++] = '-';
        memcpy(out + at, hex + groups[i].from, groups[i].length);
        at += groups[i].length;
    }
    out[at] = '\0';
    return 0;
}

void mmc_wipe(void *memory, size_t length) {
    if (memory != NULL)
        OPENSSL_cleanse(memory, length);
}

int mmc_constant_time_equal(const void *a, const void *b, size_t length) {
    return CRYPTO_memcmp(a, b, length) == 0;
}

double mmc_random_unit(void) {
    unsigned char bytes[4];
    if (RAND_bytes(bytes, sizeof bytes) != 1)
        return 0.5;
    unsigned long value = ((unsigned long)bytes[0] << 24) | ((unsigned long)bytes[1] << 16) |
                          ((unsigned long)bytes[2] << 8) | bytes[3];
    return (double)value / 4294967296.0;
}
