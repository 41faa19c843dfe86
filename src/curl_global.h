/*
 * curl_global: libcurl's process-wide initialisation, done exactly once.
 *
 * curl_global_init must run once before any handle is made and, before libcurl 7.84, was not
 * thread-safe. The module can be loaded into many Lua states on many threads at once, so the
 * call is guarded by pthread_once. The once-flag is the only static state in mmc, and it is
 * written only by pthread_once. curl_global_cleanup is never called: other users of libcurl
 * in the same process (a host application, another module) may still need it.
 */
#ifndef MMC_CURL_GLOBAL_H
#define MMC_CURL_GLOBAL_H

/* Runs curl_global_init the first time it is called, in any thread. 0, or -1 when the guard
 * itself failed. */
int mmc_curl_global_init(void);

#endif
