/*
 * proxy: the proxy URL a client may be given, checked and described without its credentials.
 *
 * A proxy is "http://", "https://" or "socks5h://" (the proxy resolves the API's host name),
 * then optional "user:password@", a host and an optional port, and nothing else but an
 * optional "/". The credentials are secrets: messages are redacted of them and a description
 * of the client shows the proxy without them.
 */
#ifndef MMC_PROXY_H
#define MMC_PROXY_H

#include <stddef.h>

#include "buffer.h"

#define MMC_MAX_PROXY_LENGTH 2048

/* NULL when `proxy` is usable, else a sentence saying why not (never quoting the URL). */
const char *mmc_proxy_problem(const char *proxy);

/* Appends the proxy URL without its user info ("http://host:port"). 0 or -1. */
int mmc_proxy_describe(mmc_buffer *out, const char *proxy);

/* The user info of the proxy URL ("user:password", between "://" and the last '@' of the
 * authority), or NULL with *length 0 when there is none. */
const char *mmc_proxy_user_info(const char *proxy, size_t *length);

#endif
