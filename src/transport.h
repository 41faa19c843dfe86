/*
 * transport: one HTTPS exchange at a time over one reused libcurl easy handle.
 *
 * A client owns one transport, so consecutive calls share one kept-alive TLS connection (and
 * its TLS session), which is most of the cost of a call. The transport fixes the safety
 * settings once, when it is opened: the connect timeout, certificate and host name
 * verification (unless explicitly turned off), no redirects, https only (http only when
 * allowed), HTTP/1.1, no signals (threads), a cap on the size of a response body. Per request
 * it sets only the method, URL, headers, body and time allowed, and always sends a fresh
 * X-Request-ID.
 *
 * Its sockets are close-on-exec, and a process forked from the one that opened it never uses
 * or closes the parent's connection (nor its TLS state): before its first request, or when it
 * closes the transport, the child closes its copies of the sockets that are still the ones
 * opened (owned_sockets.h), abandons the inherited libcurl handle (never cleaned up: that
 * would close descriptor numbers the child may have reused), and goes on with a fresh handle
 * with the same settings. libcurl's own socketpair (made with the handle's first request, for
 * its internal wake-ups) is libcurl's: not close-on-exec in libcurl 7.88, and left to the child
 * as it inherited it.
 *
 * It knows nothing of the Huawei API: answers of any status are returned as they came, and a
 * failure to get one is described as "<what failed>: <libcurl's detail>[; <hint>]", the hint
 * naming the setting to look at (ca_file for an unknown issuer, connect_timeout when it ran
 * out).
 */
#ifndef MMC_TRANSPORT_H
#define MMC_TRANSPORT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <curl/curl.h>

#include "buffer.h"
#include "owned_sockets.h"
#include "request.h"
#include "sink.h"

/* One part of a multipart/form-data body: a text field or a file streamed from disk. */
typedef struct mmc_form_part {
    const char *name;
    const char *value; /* a text field's value (value_length bytes), or NULL for a file */
    size_t value_length;
    const char *file_path;    /* a file's path (read as it is sent, never whole), or NULL */
    const char *content_type; /* the part's Content-Type, or NULL: libcurl's guess from the
                               * file name's extension, else application/octet-stream */
    const char *filename;     /* the filename sent, or NULL: the path's last part */
} mmc_form_part;

/* Told how the transfer goes: `done` bytes of `total` (0 when the total is unknown) of the
 * body received (of the form sent, for a request with a form); `final` is 1 for the last
 * call, made once the transfer completed. Return 0 to go on, anything else to stop the
 * transfer (after appending why to `why`): the call then fails, even at the final call (a
 * body in a sink is then not kept). Called when the first bytes move, then at most every
 * 0.1 s, and once at the end. */
typedef int (*mmc_progress_fn)(void *ctx, uint64_t done, uint64_t total, int final,
                               mmc_buffer *why);

/* How one request's bodies move, beyond a JSON body in and a body in memory out. Every field
 * is optional (zero: as without it). */
typedef struct mmc_transfer {
    /* A 2xx answer's body goes here, not into memory, with no cap but the sink's max_size.
     * Any other answer's body is kept in memory as usual (an error's JSON, for its message).
     * The caller finishes or abandons the sink after the call (sink.h). */
    mmc_sink *sink;
    int raw; /* the answer's body is the caller's, whatever its type: not judged as JSON */
    mmc_progress_fn progress;
    void *progress_ctx;
    const mmc_form_part *form; /* sent as multipart/form-data (POST or PUT), or NULL */
    size_t form_count;
    mmc_buffer stopped; /* why progress stopped the transfer (the transport fills it) */
} mmc_transfer;

typedef struct mmc_transport_options {
    long connect_timeout_ms; /* TCP and TLS set-up */
    size_t max_body;         /* bytes; a longer response body is a failure */
    int ssl_verify;          /* 0 only when the user explicitly turned verification off */
    int allow_http;          /* 1 allows plain http:// (local test servers) */
    const char *ca_file;     /* PEM bundle to trust instead of the system's (all of it), or NULL */
    const char *user_agent;
    /* NULL: libcurl's own behaviour (https_proxy, HTTPS_PROXY, all_proxy and no_proxy from the
     * environment); "": no proxy, whatever the environment says; else the proxy URL
     * (http://, https:// or socks5h://), used for every request, through a CONNECT tunnel for
     * http(s):// proxies, whatever no_proxy says. */
    const char *proxy;
    /* With a proxy URL, the hosts that bypass it (libcurl's CURLOPT_NOPROXY syntax, as the
     * environment's no_proxy), or NULL: none. */
    const char *no_proxy;
    mmc_memory *memory; /* the account the transport's storage is charged to (memory.h) */
} mmc_transport_options;

typedef struct mmc_request {
    const char *method; /* "GET", "POST", "PUT", "DELETE" or "PATCH" */
    const char *url;
    const char *access_token;  /* sent as X-Access-Token, or NULL */
    const char *authorization; /* sent as Authorization, or NULL */
    const char *body;          /* a JSON body, or NULL for none */
    size_t body_length;
    long timeout_ms; /* the whole exchange, connect included; above 0 */
    /* Extra headers (request.h checked them), each replacing mmc's own of the same name
     * (Accept, Content-Type, X-Request-ID, Expect, User-Agent); NULL when none. */
    const mmc_header *headers;
    size_t header_count;
    /* 1: never on a kept-alive connection, for a request that must not be sent twice (libcurl
     * sends a request again when a reused connection dies before the answer). */
    int fresh_connection;
    /* Streamed output, a form, progress, a raw body (see mmc_transfer), or NULL. The form's
     * strings need only live until the request ends. */
    mmc_transfer *transfer;
} mmc_request;

typedef struct mmc_response {
    long status;      /* the HTTP status */
    const char *body; /* the body, NUL-terminated; valid until the next request */
    size_t body_length;
    const char *request_id; /* the X-Request-Id answered, or "" */
    long retry_after;       /* seconds the answer's Retry-After asks to wait, or -1 */
    int raw;                /* the request's transfer asked for the body as it came */
} mmc_response;

#define MMC_REQUEST_ID_MAX 64

typedef struct mmc_transport {
    CURL *easy;
    size_t max_body;
    long connect_timeout_ms; /* for a failure's description */
    int body_too_large;   /* set by the write callback */
    int headers_complete; /* the blank line ending the answer's headers arrived */
    mmc_buffer body;    /* the response body being received */
    char request_id[MMC_REQUEST_ID_MAX + 1];
    char curl_error[CURL_ERROR_SIZE]; /* libcurl's detail for the last failure */
    int failure_is_transient; /* the last failure may pass: refused, reset, closed early */
    /* The handle's sockets: close-on-exec, disowned after a fork. */
    mmc_owned_sockets sockets;
    /* The process `easy` belongs to: a fork's child makes a handle of its own. */
    pid_t owner;
    const char *failure_kind; /* the last failure's kind ("timed out", ...), or NULL */
    char sent_request_id[MMC_REQUEST_ID_MAX + 1]; /* the X-Request-ID of the last request */
    struct curl_slist *header_list; /* the request's headers, between begin and end */
    int collect_headers;  /* 1: keep the answer's header lines in `headers` */
    int pipewait;         /* CURLOPT_PIPEWAIT as last set (engine.c) */
    mmc_buffer headers;   /* "Name: value\r\n" lines of the answer (its last status line on) */
    /* The current request's transfer (between begin and end), or NULL, and its state. */
    mmc_transfer *transfer;
    curl_mime *mime;    /* the form being sent */
    int body_to_sink;   /* -1: not known yet (no body byte arrived), 1: a 2xx body to the sink */
    int stopped;        /* progress said stop */
    double progress_at; /* monotonic time of the last progress call */
    uint64_t progress_done; /* what it was told then */
} mmc_transport;

/* Opens the transport. 0, or -1 with the reason appended to `problem`. */
int mmc_transport_open(mmc_transport *transport, const mmc_transport_options *options,
                       mmc_buffer *problem);

/* Closes the connection and frees everything. Safe to call twice. */
void mmc_transport_close(mmc_transport *transport);

/* Sends one request. 0 when an HTTP answer arrived (whatever its status), filling `response`;
 * -1 when none did, with "<what failed>: <detail>" appended to `problem`, and
 * failure_is_transient set when trying again may succeed (the connection was refused, reset
 * or closed before the answer: not a timeout, a DNS or a TLS failure). */
int mmc_transport_perform(mmc_transport *transport, const mmc_request *request,
                          mmc_response *response, mmc_buffer *problem);

/* mmc_transport_perform in two halves, for a handle a multi handle runs (engine.h): begin sets
 * the request on the handle (-1 with the problem appended when it cannot), end reads the
 * outcome once libcurl reports the transfer done with `code`. perform is begin, then
 * curl_easy_perform, then end: the same rules whichever runs the transfer. */
int mmc_transport_begin(mmc_transport *transport, const mmc_request *request,
                        mmc_buffer *problem);
int mmc_transport_end(mmc_transport *transport, CURLcode code, const mmc_request *request,
                      mmc_response *response, mmc_buffer *problem);

/* Opens a transport with the settings of `model` (a copy of its handle, no connection), that
 * keeps the answer's headers and, with `http2`, offers HTTP/2 through ALPN (the engine sets
 * CURLOPT_PIPEWAIT per transfer, once it knows the server multiplexes). CURLOPT_PRIVATE is
 * the transport. 0 or -1. */
int mmc_transport_open_like(mmc_transport *transport, const mmc_transport *model, int http2);

#endif
