#include "curl_global.h"

#include <pthread.h>

#include <curl/curl.h>

static pthread_once_t once = PTHREAD_ONCE_INIT;
static CURLcode init_result = CURLE_FAILED_INIT;

static void init_once(void) {
    init_result = curl_global_init(CURL_GLOBAL_DEFAULT);
}

int mmc_curl_global_init(void) {
    if (pthread_once(&once, init_once) != 0)
        return -1;
    return init_result == CURLE_OK ? 0 : -1;
}
