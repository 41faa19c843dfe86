#include "curl_global.h"

#include <pthread.h>

#include <curl/curl.h>

static pthread_once_t once = PTHREAD_ONCE_INIT;

/* A failure here is not kept: libcurl then refuses to make handles, and curl_easy_init's NULL
 * is what the transport reports. */
static void init_once(void) {
    (void)curl_global_init(CURL_GLOBAL_DEFAULT);
}

int mmc_curl_global_init(void) {
    return pthread_once(&once, init_once) == 0 ? 0 : -1;
}
