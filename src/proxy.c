#include "proxy.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* The length of the scheme and "://" of an accepted proxy URL, or 0. */
static size_t scheme_length(const char *proxy) {
    static const char *const schemes[] = {"http://", "https://", "socks5h://"};
    for (size_t i = 0; i < sizeof schemes / sizeof schemes[0]; i++) {
        size_t length = strlen(schemes[i]);
        if (strncasecmp(proxy, schemes[i], length) == 0)
            return length;
    }
    return 0;
}

/* The authority (user info, host, port): from after the scheme to the first '/' or the end. */
static size_t authority_length(const char *proxy, size_t start) {
    return strcspn(proxy + start, "/");
}

const char *mmc_proxy_user_info(const char *proxy, size_t *length) {
    *length = 0;
    size_t start = scheme_length(proxy);
    if (start == 0)
        return NULL;
    size_t authority = authority_length(proxy, start);
    const char *at = NULL;
    for (const char *p = proxy + start; p < proxy + start + authority; p++)
        if (*p == '@')
            at = p;
    if (at == NULL)
        return NULL;
    *length = (size_t)(at - (proxy + start));
    return proxy + start;
}

const char *mmc_proxy_problem(const char *proxy) {
    size_t start = scheme_length(proxy);
    if (start == 0)
        return "proxy must be an http://, https:// or socks5h:// URL (or false)";
    if (strlen(proxy) > MMC_MAX_PROXY_LENGTH)
        return "proxy is longer than 2048 bytes";
    for (const unsigned char *p = (const unsigned char *)proxy; *p; p++)
        if (*p <= 0x20 || *p >= 0x7f)
            return "proxy must not contain white space, control or non-ASCII characters";
    size_t authority = authority_length(proxy, start);
    const char *rest = proxy + start + authority;
    if (rest[0] != '\0' && strcmp(rest, "/") != 0)
        return "proxy must not have a path, a query or a fragment";
    if (memchr(proxy + start, '?', authority) || memchr(proxy + start, '#', authority))
        return "proxy must not have a path, a query or a fragment";
    size_t user_info = 0;
    const char *host = proxy + start;
    if (mmc_proxy_user_info(proxy, &user_info) != NULL) {
        if (memchr(proxy + start, '@', user_info) != NULL)
            return "proxy has an '@' in its user name or password: write it as %40";
        host += user_info + 1;
    }
    size_t host_length = (size_t)(proxy + start + authority - host);
    if (host_length == 0 || host[0] == ':')
        return "proxy has no host name";
    const char *colon = host[0] == '[' ? NULL : memchr(host, ':', host_length);
    if (host[0] == '[') {
        const char *close = memchr(host, ']', host_length);
        if (close == NULL)
            return "proxy has a malformed [IPv6] host";
        if (close + 1 < host + host_length) {
            if (close[1] != ':')
                return "proxy has a malformed [IPv6] host";
            colon = close + 1;
        }
    }
    if (colon != NULL) {
        const char *end = host + host_length;
        long port = 0;
        if (colon + 1 == end || end - colon - 1 > 5)
            return "proxy has a malformed port (1 to 65535)";
        for (const char *p = colon + 1; p < end; p++) {
            if (*p < '0' || *p > '9')
                return "proxy has a malformed port (1 to 65535)";
            port = port * 10 + (*p - '0');
        }
        if (port < 1 || port > 65535)
            return "proxy has a malformed port (1 to 65535)";
    }
    return NULL;
}

int mmc_proxy_describe(mmc_buffer *out, const char *proxy) {
    size_t start = scheme_length(proxy);
    size_t user_info = 0;
    const char *host = proxy + start;
    if (mmc_proxy_user_info(proxy, &user_info) != NULL)
        host += user_info + 1;
    size_t host_length = authority_length(proxy, start) - (size_t)(host - (proxy + start));
    return mmc_buffer_append(out, proxy, start) != 0 || mmc_buffer_append(out, host, host_length)
               ? -1
               : 0;
}

/* The first of `names` set to something, or NULL. */
static const char *first_set(const char *const *names, size_t count, const char **variable) {
    for (size_t i = 0; i < count; i++) {
        const char *value = getenv(names[i]);
        if (value != NULL && value[0] != '\0') {
            *variable = names[i];
            return value;
        }
    }
    return NULL;
}

const char *mmc_proxy_from_environment(int https, const char **variable) {
    static const char *const for_https[] = {"https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"};
    static const char *const for_http[] = {"http_proxy", "all_proxy", "ALL_PROXY"};
    *variable = NULL;
    return https ? first_set(for_https, sizeof for_https / sizeof for_https[0], variable)
                 : first_set(for_http, sizeof for_http / sizeof for_http[0], variable);
}

const char *mmc_proxy_no_proxy_from_environment(void) {
    static const char *const names[] = {"no_proxy", "NO_PROXY"};
    const char *variable = NULL;
    return first_set(names, 2, &variable);
}
