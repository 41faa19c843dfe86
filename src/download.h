/*
 * download: one recording file (or any file Huawei hands out with a one-time token) fetched
 * from the host its URL names, streamed to a file or to the caller, never held in memory.
 *
 * Huawei's downloadurls answers, for each file, an https:// URL on another host (given by IP
 * address) and a token valid one hour and spent on first use. The download:
 *   - goes only to https:// (whatever the client's allow_http says), never follows a redirect,
 *     and sends `Authorization: <token>` and nothing of the client's own credentials (no
 *     X-Access-Token: the API's token never leaves for another host);
 *   - verifies TLS with the client's ca_file and ssl_verify, unless this one call says
 *     otherwise (ssl_verify = 0: explicit, per call);
 *   - uses its own libcurl handle, a copy of the client's settings (proxy, connect timeout),
 *     and its own connection, closed at the end;
 *   - writes the body through a sink (sink.h), as options.output does: a path is written
 *     beside its target and renamed into place only when the body is complete (every byte the
 *     answer's Content-Length announced) and fsync'd: after any failure (the network, the
 *     disk, a callback that stops it, max_size) the partial file is removed and nothing is at
 *     the path; a path whose folder does not exist or is not writable is refused before
 *     anything is sent, naming it;
 *   - calls `progress` at most every 100 ms while bytes move, and once at the end;
 *   - stops with max_size when the body would grow past it;
 *   - tells a refused token (401 or 403) apart: it is spent or expired, and the fix is to ask
 *     downloadurls again.
 * The token is a secret: it is never logged, and redacted from every message.
 */
#ifndef MMC_DOWNLOAD_H
#define MMC_DOWNLOAD_H

#include <stddef.h>
#include <stdint.h>

#include "buffer.h"
#include "client.h"

#define MMC_DOWNLOAD_PROGRESS_INTERVAL 0.1 /* seconds between two progress calls, at least */
#define MMC_DOWNLOAD_MAX_URL_LENGTH 4096

/* The caller's side of a download. Each returns 0 to go on, or -1 to stop the transfer with
 * the reason appended to `problem` (it becomes the call's message). They run inside libcurl's
 * callbacks: they must return, never jump out. */
typedef struct mmc_download_callbacks {
    /* A piece of the body, when the download has no path; NULL with a path. */
    int (*write)(void *context, const char *data, size_t length, mmc_buffer *problem);
    /* Bytes so far and in all (0 when the answer did not say); NULL for none. */
    int (*progress)(void *context, uint64_t done, uint64_t total, mmc_buffer *problem);
    void *context;
} mmc_download_callbacks;

typedef struct mmc_download {
    const char *url;     /* https:// (mmc_download_url_problem) */
    const char *token;   /* sent as Authorization: 1..MMC_TOKEN_MAX_LENGTH visible ASCII */
    const char *path;    /* the file to write, or NULL: callbacks.write gets the body */
    mmc_download_callbacks callbacks;
    uint64_t max_size;   /* bytes; 0: no limit */
    int ssl_verify;      /* 1: as the client says; 0: no certificate check for this call */
    double timeout;      /* seconds the whole transfer may take; 0: no limit */
    int sync;            /* 1: the file is fsync'd before it is renamed into place (sink.h) */
} mmc_download;

/* A sentence saying what is wrong with a download URL (not https://, too long, a control
 * character, user:password@ in it), or NULL. */
const char *mmc_download_url_problem(const char *url);

/* 0 when `path` can be written (its folder exists and is writable, it is not a folder), else -1
 * with a sentence naming the path and its folder appended to `problem` (mmc_sink_check_path). */
int mmc_download_path_problem(const char *path, mmc_buffer *problem);

/* Downloads. 0 when a 2xx answer's body was written whole (renamed into place for a path), -2
 * when the path was refused before anything was sent (its folder is missing or not writable,
 * the partial file cannot be created: the message names it), -1 otherwise; result->status is the answer's status (0 when none arrived) and result->message
 * says what went wrong; *bytes is how many bytes of the body were written. result->body is
 * not used (NULL). */
int mmc_client_download(mmc_client *client, const mmc_download *download, mmc_result *result,
                        uint64_t *bytes);

#endif
