/*
 * floor: the raw-libcurl floor that bench/run measures every client against.
 *
 *   floor status N     one authentication (not timed), then N timed change-status calls
 *   floor auth N       N timed App ID authentications, each signed as mmc signs them
 *   floor cold N       the first call from a cold handle (connect, TLS, authentication,
 *                      call) timed on its own, then N steady change-status calls
 *   floor plain N      one authentication, then N change-status calls with no timing at
 *                      all (for callgrind: the instructions of the calls alone)
 *
 * Read from the environment: BENCH_ENDPOINT (https://127.0.0.1:port), BENCH_CA, BENCH_APP_ID,
 * BENCH_APP_KEY, BENCH_WEBHOOK_ID.
 *
 * It does on the wire what mmc does (the same request line and headers, a fresh X-Request-ID
 * each call, HMAC-SHA256 signing with a 48-hex nonce from OpenSSL) with one reused easy handle
 * and nothing more: no JSON validation or decoding, no message building, no Lua. Each run
 * prints one line:
 *
 *   RESULT calls=N wall=S cpu=S p50=US p99=US hwm=KB [first=US]
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include "version.h" /* mmc's, so the User-Agent is byte for byte the one mmc sends */

static const char *endpoint, *ca_file, *app_id, *app_key, *webhook_id;
static char status_url[1024], auth_url[1024], token[256], user_agent[128];

typedef struct {
    char data[8192];
    size_t length;
} body_buffer;
static body_buffer body;

static double now(clockid_t clock) {
    struct timespec ts;
    clock_gettime(clock, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static size_t on_body(char *data, size_t size, size_t count, void *userdata) {
    body_buffer *b = userdata;
    size_t n = size * count;
    if (n > sizeof b->data - 1 - b->length)
        return 0;
    memcpy(b->data + b->length, data, n);
    b->length += n;
    b->data[b->length] = '\0';
    return n;
}

static void die(const char *what) {
    fprintf(stderr, "floor: %s\n", what);
    exit(1);
}

static void hex(const unsigned char *in, size_t n, char *out) {
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 15];
    }
    out[2 * n] = '\0';
}

/* A random UUID, version 4, as mmc sends in X-Request-ID. */
static void uuid(char out[37]) {
    unsigned char b[16];
    char h[33];
    if (RAND_bytes(b, sizeof b) != 1)
        die("RAND_bytes failed");
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
    hex(b, sizeof b, h);
    snprintf(out, 37, "%.8s-%.4s-%.4s-%.4s-%.12s", h, h + 8, h + 12, h + 16, h + 20);
}

static CURL *open_handle(void) {
    CURL *easy = curl_easy_init();
    if (easy == NULL)
        die("curl_easy_init failed");
    curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(easy, CURLOPT_WRITEDATA, &body);
    curl_easy_setopt(easy, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
    curl_easy_setopt(easy, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(easy, CURLOPT_USERAGENT, user_agent);
    curl_easy_setopt(easy, CURLOPT_CAINFO, ca_file);
    curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, 10000L);
    return easy;
}

/* One change-status call with the token; returns the HTTP status. */
static long change_status(CURL *easy) {
    char line[320], rid[37], rid_line[64];
    uuid(rid);
    snprintf(rid_line, sizeof rid_line, "X-Request-ID: %s", rid);
    snprintf(line, sizeof line, "X-Access-Token: %s", token);
    struct curl_slist *h = curl_slist_append(NULL, "Accept: application/json");
    h = curl_slist_append(h, rid_line);
    h = curl_slist_append(h, "Content-Type:");
    h = curl_slist_append(h, "Expect:");
    h = curl_slist_append(h, line);
    body.length = 0;
    curl_easy_setopt(easy, CURLOPT_URL, status_url);
    curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)0);
    curl_easy_setopt(easy, CURLOPT_POSTFIELDS, "");
    curl_easy_setopt(easy, CURLOPT_CUSTOMREQUEST, "PUT");
    curl_easy_setopt(easy, CURLOPT_HTTPHEADER, h);
    CURLcode code = curl_easy_perform(easy);
    curl_easy_setopt(easy, CURLOPT_HTTPHEADER, NULL);
    curl_slist_free_all(h);
    if (code != CURLE_OK)
        die(curl_easy_strerror(code));
    long status = 0;
    curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
    return status;
}

/* One App ID authentication signed as the API asks; keeps the token. Returns the status. */
static long authenticate(CURL *easy) {
    unsigned char random[24], mac[32];
    char nonce[49], signature[65], to_sign[512], json[512], authorization[256], access[128],
        rid[37], rid_line[64];
    unsigned int mac_length = 0;
    if (RAND_bytes(random, sizeof random) != 1)
        die("RAND_bytes failed");
    hex(random, sizeof random, nonce);
    long long expire = (long long)time(NULL) + 600;
    int n = snprintf(to_sign, sizeof to_sign, "%s::%lld:%s", app_id, expire, nonce);
    HMAC(EVP_sha256(), app_key, (int)strlen(app_key), (unsigned char *)to_sign, (size_t)n, mac,
         &mac_length);
    hex(mac, 32, signature);
    EVP_EncodeBlock((unsigned char *)access, (const unsigned char *)app_id, (int)strlen(app_id));
    snprintf(authorization, sizeof authorization,
             "Authorization: HMAC-SHA256 signature=%s,access=%s", signature, access);
    int length =
        snprintf(json, sizeof json,
                 "{\"appId\":\"%s\",\"clientType\":72,\"expireTime\":%lld,\"nonce\":\"%s\"}",
                 app_id, expire, nonce);
    uuid(rid);
    snprintf(rid_line, sizeof rid_line, "X-Request-ID: %s", rid);
    struct curl_slist *h = curl_slist_append(NULL, "Accept: application/json");
    h = curl_slist_append(h, rid_line);
    h = curl_slist_append(h, "Content-Type: application/json; charset=UTF-8");
    h = curl_slist_append(h, "Expect:");
    h = curl_slist_append(h, authorization);
    body.length = 0;
    curl_easy_setopt(easy, CURLOPT_URL, auth_url);
    curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)length);
    curl_easy_setopt(easy, CURLOPT_POSTFIELDS, json);
    curl_easy_setopt(easy, CURLOPT_CUSTOMREQUEST, NULL);
    curl_easy_setopt(easy, CURLOPT_HTTPHEADER, h);
    CURLcode code = curl_easy_perform(easy);
    curl_easy_setopt(easy, CURLOPT_HTTPHEADER, NULL);
    curl_easy_setopt(easy, CURLOPT_POSTFIELDS, NULL);
    curl_slist_free_all(h);
    if (code != CURLE_OK)
        die(curl_easy_strerror(code));
    long status = 0;
    curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
    /* The token, found the quick way: "accessToken":"..." */
    const char *at = strstr(body.data, "\"accessToken\":\"");
    if (status != 200 || at == NULL)
        die("authentication refused");
    at += strlen("\"accessToken\":\"");
    const char *end = strchr(at, '"');
    if (end == NULL || (size_t)(end - at) >= sizeof token)
        die("bad accessToken");
    memcpy(token, at, (size_t)(end - at));
    token[end - at] = '\0';
    return status;
}

static long high_water_kb(void) {
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kb = -1;
    while (f != NULL && fgets(line, sizeof line, f) != NULL)
        if (sscanf(line, "VmHWM: %ld kB", &kb) == 1)
            break;
    if (f != NULL)
        fclose(f);
    return kb;
}

static int by_value(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void report(double *lat, int n, double wall, double cpu, double first) {
    qsort(lat, (size_t)n, sizeof *lat, by_value);
    int p99 = (int)(0.99 * (n - 1) + 0.5);
    printf("RESULT calls=%d wall=%.6f cpu=%.6f p50=%.1f p99=%.1f hwm=%ld", n, wall, cpu,
           lat[(n - 1) / 2] * 1e6, lat[p99] * 1e6, high_water_kb());
    if (first >= 0)
        printf(" first=%.1f", first * 1e6);
    printf("\n");
}

static const char *need(const char *name) {
    const char *v = getenv(name);
    if (v == NULL || v[0] == '\0') {
        fprintf(stderr, "floor: %s is not set\n", name);
        exit(2);
    }
    return v;
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: floor status|auth|cold|plain N\n");
        return 2;
    }
    const char *mode = argv[1];
    int n = atoi(argv[2]);
    if (n < 1)
        die("N must be at least 1");
    endpoint = need("BENCH_ENDPOINT");
    ca_file = need("BENCH_CA");
    app_id = need("BENCH_APP_ID");
    app_key = need("BENCH_APP_KEY");
    webhook_id = need("BENCH_WEBHOOK_ID");
    snprintf(status_url, sizeof status_url,
             "%s/v1/mmc/management/webhook/change-status?id=%s&status=0", endpoint, webhook_id);
    snprintf(auth_url, sizeof auth_url, "%s/v2/usg/acs/auth/appauth", endpoint);
    snprintf(user_agent, sizeof user_agent, "mmc/%s libcurl/%s", MMC_VERSION,
             curl_version_info(CURLVERSION_NOW)->version);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    CURL *easy = open_handle();
    double *lat = calloc((size_t)n, sizeof *lat);
    if (lat == NULL)
        die("out of memory");
    double first = -1;

    if (strcmp(mode, "cold") == 0) {
        double t0 = now(CLOCK_MONOTONIC);
        if (authenticate(easy) != 200 || change_status(easy) != 200)
            die("cold call failed");
        first = now(CLOCK_MONOTONIC) - t0;
    } else if (strcmp(mode, "status") == 0) {
        authenticate(easy);
    } else if (strcmp(mode, "plain") == 0) {
        authenticate(easy);
        for (int i = 0; i < n; i++)
            if (change_status(easy) != 200)
                die("call failed");
        printf("PLAIN calls=%d\n", n);
        return 0;
    } else if (strcmp(mode, "auth") != 0) {
        die("mode must be status, auth, cold or plain");
    }
    int auth = strcmp(mode, "auth") == 0;
    double wall0 = now(CLOCK_MONOTONIC), cpu0 = now(CLOCK_PROCESS_CPUTIME_ID);
    for (int i = 0; i < n; i++) {
        double t = now(CLOCK_MONOTONIC);
        long status = auth ? authenticate(easy) : change_status(easy);
        lat[i] = now(CLOCK_MONOTONIC) - t;
        if (status != 200) {
            fprintf(stderr, "floor: HTTP %ld: %s\n", status, body.data);
            return 1;
        }
    }
    double wall = now(CLOCK_MONOTONIC) - wall0, cpu = now(CLOCK_PROCESS_CPUTIME_ID) - cpu0;
    report(lat, n, wall, cpu, first);
    curl_easy_cleanup(easy);
    free(lat);
    curl_global_cleanup();
    return 0;
}
