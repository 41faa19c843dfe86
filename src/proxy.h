/*
 * proxy: the proxy URL a client may be given, checked and described without its credentials.
 *
 * A proxy is "http://", "https://" or "socks5h://" (the proxy resolves the API's host name),
 * then optional "user:password@", a host and an optional port, and nothing else but an
 * optional "/". The credentials are secrets: messages are redacted of them and a description
 * of the client shows the proxy without them. An '@' in them must be written %40: libcurl
 * ends the user info at the first '@', and would take the rest of the password for the host.
 */
#ifndef MMC_PROXY_H
#define MMC_PROXY_H

#include <stddef.h>

#include "buffer.h"

#define MMC_MAX_PROXY_LENGTH 2048

/* NULL when `proxy` is usable, else a sentence saying why not (never quoting the URL). */
const char *mmc_proxy_problem(const char *proxy);

/* The proxy the environment names for an endpoint, read as libcurl reads it: for https://,
 * https_proxy, then HTTPS_PROXY; for http://, http_proxy (never HTTP_PROXY, which a CGI
 * request can set); then all_proxy, then ALL_PROXY. An empty variable counts as unset. Returns
 * the value and sets *variable to the name it came from, or returns NULL. */
const char *mmc_proxy_from_environment(int https, const char **variable);

/* The environment's no_proxy (then NO_PROXY), or NULL. */
const char *mmc_proxy_no_proxy_from_environment(void);

/* Appends the proxy URL without its user info ("http://host:port"). 0 or -1. */
int mmc_proxy_describe(mmc_buffer *out, const char *proxy);

/* The user info of the proxy URL ("user:password", between "://" and the last '@' of the
 * authority), or NULL with *length 0 when there is none. */
const char *mmc_proxy_user_info(const char *proxy, size_t *length);

#endif
