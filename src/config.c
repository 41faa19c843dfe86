/* config: the client's settings checked where they are given (client.h, client_internal.h). */
#include "client.h"
#include "client_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "appauth.h"
#include "json_write.h"
#include "message.h"
#include "proxy.h"
#include "url.h"

void mmc_config_defaults(mmc_config *config) {
    memset(config, 0, sizeof *config);
    config->ssl_verify = 1;
    config->timeout = MMC_DEFAULT_TIMEOUT;
    config->connect_timeout = MMC_DEFAULT_CONNECT_TIMEOUT;
    config->max_body = MMC_DEFAULT_MAX_BODY;
    config->retries = MMC_DEFAULT_RETRIES;
}

/* 1 when an optional identifier is absent, or valid UTF-8 of at most `max_bytes` bytes. */
int mmc_is_short_utf8(const char *text, size_t max_bytes) {
    if (text == NULL)
        return 1;
    size_t length = strlen(text);
    return length <= max_bytes && mmc_utf8_is_valid(text, length);
}

/* Checks what the API or the transport would reject later, so the mistake is reported where
 * it was made. Returns a sentence, or NULL when the config is usable. */
const char *mmc_config_problem(const mmc_config *config) {
    const char *endpoint = config->endpoint ? config->endpoint : MMC_DEFAULT_ENDPOINT;
    const char *endpoint_problem = mmc_url_endpoint_problem(endpoint, config->allow_http);
    if (endpoint_problem != NULL)
        return endpoint_problem;
    if (!mmc_is_short_utf8(config->app_id, MMC_APPAUTH_MAX_APP_ID))
        return "app_id must be 1 to 64 characters of UTF-8";
    if (!mmc_is_short_utf8(config->user_id, 64))
        return "user_id must be at most 64 characters of UTF-8";
    if (config->corp_id != NULL && config->corp_id[0] != '\0' && !config->sp_mode)
        return "corp_id is only used in SP mode (set sp = true)";
    if (!mmc_is_short_utf8(config->corp_id, 64))
        return "corp_id must be at most 64 characters of UTF-8";
    if (!(config->timeout > 0 && config->timeout <= MMC_MAX_TIMEOUT))
        return "timeout must be a number of seconds above 0 and at most 3600";
    if (!(config->connect_timeout > 0 && config->connect_timeout <= MMC_MAX_TIMEOUT))
        return "connect_timeout must be a number of seconds above 0 and at most 3600";
    if (config->max_body == 0)
        return "max_body must be at least 1 byte";
    if (config->retries < 0 || config->retries > MMC_MAX_RETRIES)
        return "retries must be a whole number from 0 to 10";
    if (config->proxy != NULL && config->proxy[0] != '\0')
        return mmc_proxy_problem(config->proxy);
    return NULL;
}

/* The system's reason for `error`, from either flavour of strerror_r (GNU or XSI), since
 * strerror itself need not be thread-safe. */
static const char *system_reason(int error, char *buffer, size_t size) {
#if defined(__GLIBC__) && defined(_GNU_SOURCE)
    return strerror_r(error, buffer, size);
#else
    return strerror_r(error, buffer, size) == 0 ? buffer : "unknown error";
#endif
}

/* 1 when a line (its first bytes, `head`) opens a certificate, as OpenSSL reads a PEM file. */
static int opens_certificate(const char *head, size_t length) {
    static const char *const openings[] = {"-----BEGIN CERTIFICATE-----",
                                           "-----BEGIN X509 CERTIFICATE-----",
                                           "-----BEGIN TRUSTED CERTIFICATE-----"};
    for (size_t i = 0; i < sizeof openings / sizeof openings[0]; i++) {
        size_t opening_length = strlen(openings[i]);
        if (length >= opening_length && memcmp(head, openings[i], opening_length) == 0)
            return 1;
    }
    return 0;
}

/* Checks ca_file when the client is made, so that a file the process may not read (an nginx
 * worker running as nobody), a directory or a file with no PEM certificate is reported then,
 * with its path and the system's reason, instead of as a TLS failure at the first call.
 * libcurl reads the file itself at each new connection; this only looks for the first line
 * that opens a certificate (within MMC_CA_FILE_SCAN_LIMIT bytes). 0, or -1 with a sentence
 * appended to `problem`. */
int mmc_ca_file_problem(const char *path, mmc_buffer *problem) {
    char reason[128];
    int error = 0, found = 0;
    /* O_NONBLOCK: opening a FIFO must not wait for a writer. */
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    struct stat status;
    if (fd < 0 || fstat(fd, &status) != 0) {
        error = errno;
    } else if (S_ISREG(status.st_mode)) {
        char chunk[4096], head[40];
        size_t head_length = 0, scanned = 0;
        while (!found && scanned < MMC_CA_FILE_SCAN_LIMIT) {
            ssize_t got = read(fd, chunk, sizeof chunk);
            if (got < 0 && errno == EINTR)
                continue;
            if (got < 0)
                error = errno;
            if (got <= 0)
                break;
            scanned += (size_t)got;
            for (ssize_t i = 0; i < got && !found; i++) {
                if (chunk[i] == '\n') {
                    found = opens_certificate(head, head_length);
                    head_length = 0;
                } else if (head_length < sizeof head) {
                    head[head_length++] = chunk[i];
                }
            }
        }
        found = found || (error == 0 && opens_certificate(head, head_length)); /* last line */
    }
    if (fd >= 0)
        close(fd);
    if (found)
        return 0;
    mmc_buffer_append_string(problem, "ca_file '");
    mmc_message_append_clean(problem, path, strlen(path), 256);
    if (error == EACCES)
        mmc_buffer_append_format(problem, "' cannot be read: %s (this process runs as uid %u)",
                                 system_reason(error, reason, sizeof reason), (unsigned)geteuid());
    else if (error != 0)
        mmc_buffer_append_format(problem, "' cannot be read: %s",
                                 system_reason(error, reason, sizeof reason));
    else if (S_ISDIR(status.st_mode))
        mmc_buffer_append_string(problem, "' is a directory: give a PEM file of CA certificates");
    else if (!S_ISREG(status.st_mode))
        mmc_buffer_append_string(problem,
                                 "' is not a regular file: give a PEM file of CA certificates");
    else
        mmc_buffer_append_string(
            problem, "' holds no PEM certificate (no -----BEGIN CERTIFICATE----- line)");
    return -1;
}
