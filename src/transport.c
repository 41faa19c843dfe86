#include "transport.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "clock.h"
#include "crypto.h"
#include "curl_global.h"
#include "message.h"
#include "token.h"

/* Collects the body, refusing to grow past the cap: returning a short count makes libcurl
 * abort the transfer with CURLE_WRITE_ERROR. With a sink (transport.h, mmc_transfer), a 2xx
 * answer's body goes there instead, and any other answer's stays in memory (for its error). */
static size_t on_body(char *data, size_t size, size_t count, void *userdata) {
    mmc_transport *transport = userdata;
    size_t length = size * count;
    if (transport->transfer != NULL && transport->transfer->sink != NULL) {
        if (transport->body_to_sink < 0) {
            long status = 0;
            curl_easy_getinfo(transport->easy, CURLINFO_RESPONSE_CODE, &status);
            transport->body_to_sink = status >= 200 && status < 300;
        }
        if (transport->body_to_sink)
            return mmc_sink_write(transport->transfer->sink, data, length) == 0 ? length : 0;
    }
    if (length > transport->max_body - transport->body.length) {
        transport->body_too_large = 1;
        return 0;
    }
    if (mmc_buffer_append(&transport->body, data, length) != 0)
        return 0;
    return length;
}

/* The figures progress is told: the body received, or the form sent. */
static void progress_figures(const mmc_transport *transport, curl_off_t dltotal,
                             curl_off_t dlnow, curl_off_t ultotal, curl_off_t ulnow,
                             uint64_t *done, uint64_t *total) {
    int upload = transport->transfer->form != NULL;
    curl_off_t now = upload ? ulnow : dlnow, all = upload ? ultotal : dltotal;
    *done = now > 0 ? (uint64_t)now : 0;
    *total = all > 0 ? (uint64_t)all : 0;
}

/* libcurl's progress meter, passed on to the transfer's progress when bytes moved: at once the
 * first time, then at most every 0.1 s. A non-zero return aborts the transfer (CURLE_ABORTED_BY_CALLBACK). */
static int on_progress(void *userdata, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                       curl_off_t ulnow) {
    mmc_transport *transport = userdata;
    mmc_transfer *transfer = transport->transfer;
    if (transfer == NULL || transfer->progress == NULL)
        return 0;
    uint64_t done, total;
    progress_figures(transport, dltotal, dlnow, ultotal, ulnow, &done, &total);
    double now = mmc_clock_monotonic();
    if (done == transport->progress_done || now - transport->progress_at < 0.1)
        return 0;
    transport->progress_at = now;
    transport->progress_done = done;
    if (transfer->progress(transfer->progress_ctx, done, total, 0, &transfer->stopped) != 0) {
        transport->stopped = 1;
        return 1;
    }
    return 0;
}

/* The last progress call, once the transfer completed. CURLE_OK, or CURLE_ABORTED_BY_CALLBACK
 * when it says stop: the body is then not kept, as when it said so earlier. */
static CURLcode final_progress(mmc_transport *transport) {
    mmc_transfer *transfer = transport->transfer;
    if (transfer == NULL || transfer->progress == NULL)
        return CURLE_OK;
    curl_off_t down = 0, up = 0, down_total = -1, up_total = -1;
    curl_easy_getinfo(transport->easy, CURLINFO_SIZE_DOWNLOAD_T, &down);
    curl_easy_getinfo(transport->easy, CURLINFO_SIZE_UPLOAD_T, &up);
    curl_easy_getinfo(transport->easy, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &down_total);
    curl_easy_getinfo(transport->easy, CURLINFO_CONTENT_LENGTH_UPLOAD_T, &up_total);
    uint64_t done, total;
    progress_figures(transport, down_total, down, up_total, up, &done, &total);
    if (total == 0)
        total = done;
    if (transfer->progress(transfer->progress_ctx, done, total, 1, &transfer->stopped) != 0) {
        transport->stopped = 1;
        return CURLE_ABORTED_BY_CALLBACK;
    }
    return CURLE_OK;
}

/* Picks X-Request-Id out of the answer's headers, and notes the blank line that ends them. A
 * status line starts a new answer (after a
 * 100 Continue, say), so it forgets any earlier one. */
static size_t on_header(char *line, size_t size, size_t count, void *userdata) {
    mmc_transport *transport = userdata;
    size_t length = size * count;
    static const char name[] = "x-request-id:";
    if (length >= 5 && memcmp(line, "HTTP/", 5) == 0) {
        transport->request_id[0] = '\0';
        transport->body_to_sink = -1;
        transport->headers_complete = 0;
        if (transport->collect_headers)
            mmc_buffer_clear(&transport->headers);
        return length;
    }
    if (transport->collect_headers && length > 2 &&
        mmc_buffer_append(&transport->headers, line, length) != 0)
        return 0;
    if ((length == 2 && line[0] == '\r' && line[1] == '\n') ||
               (length == 1 && line[0] == '\n')) {
        transport->headers_complete = 1;
    } else if (length > sizeof name - 1 && strncasecmp(line, name, sizeof name - 1) == 0) {
        const char *value = line + sizeof name - 1, *end = line + length;
        while (value < end && (*value == ' ' || *value == '\t'))
            value++;
        while (end > value && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' '))
            end--;
        size_t kept = 0;
        for (; value < end && kept < MMC_REQUEST_ID_MAX; value++) {
            unsigned char c = (unsigned char)*value;
            if (c > 0x20 && c < 0x7f)
                transport->request_id[kept++] = (char)c;
        }
        transport->request_id[kept] = '\0';
    }
    return length;
}

#define SET(option, value)                                                                         \
    do {                                                                                           \
        if (curl_easy_setopt(easy, option, value) != CURLE_OK)                                     \
            return #option;                                                                        \
    } while (0)

/* The settings that never change for a client. Returns the name of an option libcurl
 * refused, or NULL. */
static const char *set_fixed_options(mmc_transport *transport,
                                     const mmc_transport_options *options) {
    CURL *easy = transport->easy;
    SET(CURLOPT_NOSIGNAL, 1L);
    SET(CURLOPT_ERRORBUFFER, transport->curl_error);
    SET(CURLOPT_WRITEFUNCTION, on_body);
    SET(CURLOPT_WRITEDATA, transport);
    SET(CURLOPT_HEADERFUNCTION, on_header);
    SET(CURLOPT_HEADERDATA, transport);
    SET(CURLOPT_XFERINFOFUNCTION, on_progress);
    SET(CURLOPT_XFERINFODATA, transport);
    SET(CURLOPT_CONNECTTIMEOUT_MS, options->connect_timeout_ms);
    SET(CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)options->max_body);
    SET(CURLOPT_FOLLOWLOCATION, 0L);
    SET(CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
    SET(CURLOPT_TCP_KEEPALIVE, 1L);
    SET(CURLOPT_OPENSOCKETFUNCTION, mmc_owned_sockets_open);
    SET(CURLOPT_OPENSOCKETDATA, &transport->sockets);
    SET(CURLOPT_CLOSESOCKETFUNCTION, mmc_owned_sockets_close);
    SET(CURLOPT_CLOSESOCKETDATA, &transport->sockets);
    SET(CURLOPT_USERAGENT, options->user_agent);
#if LIBCURL_VERSION_NUM >= 0x075500 /* 7.85.0 */
    SET(CURLOPT_PROTOCOLS_STR, options->allow_http ? "https,http" : "https");
#else
    SET(CURLOPT_PROTOCOLS,
        options->allow_http ? (long)(CURLPROTO_HTTPS | CURLPROTO_HTTP) : (long)CURLPROTO_HTTPS);
#endif
    SET(CURLOPT_SSL_VERIFYPEER, options->ssl_verify ? 1L : 0L);
    SET(CURLOPT_SSL_VERIFYHOST, options->ssl_verify ? 2L : 0L);
    if (options->ca_file != NULL) { /* the only trust anchor: not libcurl's CA directory too */
        SET(CURLOPT_CAINFO, options->ca_file);
        SET(CURLOPT_CAPATH, (char *)NULL);
    }
    /* The same trust for an https:// proxy, wherever its URL came from (the option, the
     * environment, or libcurl's own reading of it for a C caller that passed NULL). */
    SET(CURLOPT_PROXY_SSL_VERIFYPEER, options->ssl_verify ? 1L : 0L);
    SET(CURLOPT_PROXY_SSL_VERIFYHOST, options->ssl_verify ? 2L : 0L);
    if (options->ca_file != NULL) {
        SET(CURLOPT_PROXY_CAINFO, options->ca_file);
        SET(CURLOPT_PROXY_CAPATH, (char *)NULL);
    }
    return NULL;
}

/* The proxy settings (transport.h, mmc_transport_options.proxy). Returns the name of an
 * option libcurl refused, or NULL. */
static const char *set_proxy_options(mmc_transport *transport,
                                     const mmc_transport_options *options) {
    CURL *easy = transport->easy;
    if (options->proxy == NULL)
        return NULL;                    /* libcurl's own reading of the environment */
    SET(CURLOPT_PROXY, options->proxy); /* "" turns the environment's proxies off */
    if (options->proxy[0] == '\0')
        return NULL;
    /* Every request goes through it but for the hosts `no_proxy` lists (none for the option's
     * proxy: libcurl would otherwise read the environment's), and an http(s) proxy only ever
     * sees CONNECT host:port: the request, with its token, travels inside the TLS tunnel. */
    SET(CURLOPT_NOPROXY, options->no_proxy != NULL ? options->no_proxy : "");
    SET(CURLOPT_HTTPPROXYTUNNEL, 1L);
    return NULL;
}

int mmc_transport_open(mmc_transport *transport, const mmc_transport_options *options,
                       mmc_buffer *problem) {
    memset(transport, 0, sizeof *transport);
    mmc_buffer_init_in(&transport->body, options->memory);
    mmc_buffer_init_in(&transport->headers, options->memory);
    mmc_owned_sockets_init(&transport->sockets, options->memory);
    transport->owner = getpid();
    transport->max_body = options->max_body;
    transport->connect_timeout_ms = options->connect_timeout_ms;
    if (mmc_curl_global_init() != 0) {
        mmc_buffer_append_string(problem, "libcurl could not be initialised");
        return -1;
    }
    transport->easy = curl_easy_init();
    if (transport->easy == NULL) {
        mmc_buffer_append_string(problem, "libcurl could not create a handle");
        return -1;
    }
    if (mmc_owned_sockets_reserve(&transport->sockets) != 0) {
        mmc_buffer_append_string(problem, "out of memory");
        mmc_transport_close(transport);
        return -1;
    }
    const char *refused = set_fixed_options(transport, options);
    if (refused == NULL)
        refused = set_proxy_options(transport, options);
    if (refused != NULL) {
        mmc_buffer_append_format(problem, "libcurl refused %s", refused);
        mmc_transport_close(transport);
        return -1;
    }
    return 0;
}

/* A fork's child lets go of the handle it inherited: closes its copies of the parent's
 * connections (those still there: owned_sockets.h) and abandons the handle, deliberately
 * leaking it. curl_easy_cleanup would send the parent's TLS close_notify on a connection
 * whose descriptor the child may still share, and close descriptors mmc never opened and
 * cannot identify (libcurl's internal socketpair), whose numbers the child may have reused
 * for files of its own. The leak is one handle's memory, once per client per fork. */
static void abandon_inherited(mmc_transport *transport) {
    mmc_owned_sockets_disown(&transport->sockets);
    transport->easy = NULL;
}

void mmc_transport_close(mmc_transport *transport) {
    if (transport->easy != NULL) {
        if (transport->owner == getpid())
            curl_easy_cleanup(transport->easy);
        else
            abandon_inherited(transport);
        transport->easy = NULL;
    }
    mmc_owned_sockets_free(&transport->sockets);
    mmc_buffer_free(&transport->body);
    mmc_buffer_free(&transport->headers);
}

int mmc_transport_open_like(mmc_transport *transport, const mmc_transport *model, int http2) {
    memset(transport, 0, sizeof *transport);
    mmc_buffer_init_in(&transport->body, model->body.memory);
    mmc_buffer_init_in(&transport->headers, model->body.memory);
    mmc_owned_sockets_init(&transport->sockets, model->body.memory);
    transport->owner = getpid();
    transport->max_body = model->max_body;
    transport->connect_timeout_ms = model->connect_timeout_ms;
    transport->collect_headers = 1;
    transport->easy = model->easy != NULL ? curl_easy_duphandle(model->easy) : NULL;
    if (transport->easy == NULL)
        return -1;
    if (mmc_owned_sockets_reserve(&transport->sockets) != 0) {
        mmc_transport_close(transport);
        return -1;
    }
    CURL *easy = transport->easy;
    if (curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, transport->curl_error) != CURLE_OK ||
        curl_easy_setopt(easy, CURLOPT_WRITEDATA, transport) != CURLE_OK ||
        curl_easy_setopt(easy, CURLOPT_HEADERDATA, transport) != CURLE_OK ||
        curl_easy_setopt(easy, CURLOPT_XFERINFODATA, transport) != CURLE_OK ||
        curl_easy_setopt(easy, CURLOPT_OPENSOCKETDATA, &transport->sockets) != CURLE_OK ||
        curl_easy_setopt(easy, CURLOPT_CLOSESOCKETDATA, &transport->sockets) != CURLE_OK ||
        curl_easy_setopt(easy, CURLOPT_PRIVATE, transport) != CURLE_OK ||
        (http2 && curl_easy_setopt(easy, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS) !=
                      CURLE_OK)) {
        mmc_transport_close(transport);
        return -1;
    }
    return 0;
}


/* A fork's child inherits the handle with the parent's open connection and its TLS state:
 * both processes writing on it would mix up their requests and answers. The child goes on
 * with a copy of the handle (the same settings, no connection) and abandons the inherited one
 * without a byte on the wire. Returns -1, keeping the inherited handle unused, when no copy
 * could be made. */
static int leave_parent_connections(mmc_transport *transport) {
    CURL *fresh = curl_easy_duphandle(transport->easy);
    if (fresh == NULL)
        return -1;
    abandon_inherited(transport);
    transport->easy = fresh;
    transport->owner = getpid();
    return 0;
}

/* What kind of failure a libcurl code is, in words a gateway operator can act on. */
static const char *failure_kind(CURLcode code) {
    switch (code) {
    case CURLE_OPERATION_TIMEDOUT:
        return "timed out";
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
        return "DNS lookup failed";
    case CURLE_COULDNT_CONNECT:
        return "connection failed";
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_ENGINE_NOTFOUND:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_SSL_INVALIDCERTSTATUS:
    case CURLE_SSL_CRL_BADFILE:
    case CURLE_USE_SSL_FAILED:
        return "TLS failed";
    case CURLE_GOT_NOTHING:
    case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR:
    case CURLE_PARTIAL_FILE:
        return "connection lost";
    case CURLE_WEIRD_SERVER_REPLY:
        return "invalid HTTP answer";
    case CURLE_UNSUPPORTED_PROTOCOL:
        /* The endpoint's scheme was checked when the client was made and redirects are not
         * followed: only the server's answer (HTTP/0.9, a made-up version) gets here. */
        return "invalid HTTP answer";
    case CURLE_OUT_OF_MEMORY:
        return "out of memory";
#if LIBCURL_VERSION_NUM >= 0x074900 /* 7.73.0 */
    case CURLE_PROXY:
        return "proxy failed";
#endif
    default:
        return "request failed";
    }
}

static int describe_failure(mmc_transport *transport, CURLcode code, mmc_buffer *problem) {
    mmc_transfer *transfer = transport->transfer;
    if (transfer != NULL && transport->stopped) {
        transport->failure_kind = "stopped";
        if (transfer->stopped.length > 0)
            return mmc_buffer_append(problem, transfer->stopped.data, transfer->stopped.length);
        return mmc_buffer_append_string(problem, "stopped: the progress function said stop");
    }
    if (transfer != NULL && transfer->sink != NULL && transfer->sink->failed) {
        transport->failure_kind = "output failed";
        return mmc_buffer_append(problem, transfer->sink->problem.data,
                                 transfer->sink->problem.length);
    }
    if (code == CURLE_FILESIZE_EXCEEDED || transport->body_too_large) {
        transport->failure_kind = "response too large";
        return mmc_buffer_append_format(problem, "response too large: body exceeds %zu bytes",
                                        transport->max_body);
    }
    transport->failure_kind = failure_kind(code);
    const char *detail =
        transport->curl_error[0] ? transport->curl_error : curl_easy_strerror(code);
    if (mmc_buffer_append_format(problem, "%s: ", failure_kind(code)) != 0)
        return -1;
    return mmc_message_append_clean(problem, detail, strlen(detail), 256);
}

/* Adds to a failure's description the setting that decides it, where one does: the CA to
 * trust for a certificate whose issuer is unknown, and connect_timeout when it is what ran out
 * (the connection phase, TLS handshake included, ends at the earlier of connect_timeout and
 * what is left of the call's timeout). */
static int append_hint(mmc_transport *transport, CURLcode code, const mmc_request *request,
                       mmc_buffer *problem) {
    const char *detail = transport->curl_error;
    if ((code == CURLE_PEER_FAILED_VERIFICATION || code == CURLE_SSL_ISSUER_ERROR) &&
        (strstr(detail, "issuer") || strstr(detail, "self signed") ||
         strstr(detail, "self-signed")))
        return mmc_buffer_append_string(problem,
                                        "; set ca_file (or MMC_CA_FILE) to a PEM file holding the "
                                        "CA that issued the server's certificate");
    /* A TLS server closes a plain-HTTP connection without a byte of answer. */
    if (code == CURLE_GOT_NOTHING && strncmp(request->url, "http://", 7) == 0)
        return mmc_buffer_append_string(problem,
                                        "; the endpoint is http:// (allow_http = true): if the "
                                        "server speaks TLS, use https://");
    if (code != CURLE_OPERATION_TIMEDOUT)
        return 0;
    curl_off_t pretransfer = 0;
    if (transport->connect_timeout_ms <= request->timeout_ms &&
        curl_easy_getinfo(transport->easy, CURLINFO_PRETRANSFER_TIME_T, &pretransfer) == CURLE_OK &&
        pretransfer == 0)
        return mmc_buffer_append_format(problem,
                                        "; connect_timeout of %g s applied (to connect and finish "
                                        "the TLS handshake)",
                                        (double)transport->connect_timeout_ms / 1000);
    /* libcurl says "Connection timed out" in the connection phase, whichever limit it was. */
    return mmc_buffer_append_string(problem, "; timeout applied (the limit for the whole call)");
}

/* Header lines are built on the stack and copied by curl_slist_append; the stack copy is
 * wiped, as are the list's copies in free_headers, since some carry credentials. Every value
 * mmc sends is bounded (the longest is a token, at most MMC_TOKEN_MAX_LENGTH). The line is
 * put together with memcpy, not snprintf, which cost several times as much (bench/run's
 * callgrind mode measures instructions per call). */
static int add_header_bytes(struct curl_slist **list, const char *name, size_t name_length,
                            const char *value, size_t value_length, char empty) {
    char line[(MMC_TOKEN_MAX_LENGTH > MMC_MAX_HEADER_VALUE_LENGTH ? MMC_TOKEN_MAX_LENGTH
                                                                  : MMC_MAX_HEADER_VALUE_LENGTH) +
              MMC_MAX_HEADER_NAME_LENGTH + 4];
    /* "Name:" with no value tells libcurl to leave that header out altogether; "Name;" sends
     * it empty. */
    size_t length = name_length + 1 + (value_length > 0 ? 1 + value_length : 0);
    if (name_length >= sizeof line || value_length >= sizeof line || length >= sizeof line)
        return -1;
    memcpy(line, name, name_length);
    line[name_length] = value_length > 0 ? ':' : empty;
    if (value_length > 0) {
        line[name_length + 1] = ' ';
        memcpy(line + name_length + 2, value, value_length);
    }
    line[length] = '\0';
    struct curl_slist *grown = curl_slist_append(*list, line);
    mmc_wipe(line, length);
    if (grown == NULL)
        return -1;
    *list = grown;
    return 0;
}

static int add_header(struct curl_slist **list, const char *name, const char *value) {
    return add_header_bytes(list, name, strlen(name), value, strlen(value), ':');
}

/* The extra header called `name`, or NULL. */
static const mmc_header *extra_header(const mmc_request *request, const char *name) {
    for (size_t i = 0; i < request->header_count; i++)
        if (mmc_request_header_is(request->headers[i].name, request->headers[i].name_length, name))
            return &request->headers[i];
    return NULL;
}

static void free_headers(struct curl_slist *list) {
    for (struct curl_slist *node = list; node != NULL; node = node->next)
        mmc_wipe(node->data, strlen(node->data));
    curl_slist_free_all(list);
}

/* Builds the request's headers, and notes the X-Request-ID sent in `sent_request_id`. */
static struct curl_slist *build_headers(const mmc_request *request,
                                        char sent_request_id[MMC_REQUEST_ID_MAX + 1]) {
    struct curl_slist *list = NULL;
    int has_form = request->transfer != NULL && request->transfer->form != NULL;
    char request_id[MMC_UUID_LENGTH + 1];
    int failed = 0;
    const mmc_header *given_id = extra_header(request, "X-Request-ID");
    if (given_id == NULL) {
        failed = mmc_random_uuid(request_id) != 0;
        memcpy(sent_request_id, request_id, sizeof request_id);
    } else {
        size_t length = given_id->value_length < MMC_REQUEST_ID_MAX ? given_id->value_length
                                                                    : MMC_REQUEST_ID_MAX;
        memcpy(sent_request_id, given_id->value, length);
        sent_request_id[length] = '\0';
    }
    if (extra_header(request, "Accept") == NULL)
        failed = failed || add_header(&list, "Accept", "application/json") != 0;
    if (given_id == NULL)
        failed = failed || add_header(&list, "X-Request-ID", request_id) != 0;
    /* Without a body there is no Content-Type; libcurl would otherwise add a form type. */
    /* A form's Content-Type is libcurl's, with the boundary it chose. */
    if (extra_header(request, "Content-Type") == NULL && !has_form)
        failed = failed || add_header(&list, "Content-Type",
                                      request->body ? "application/json; charset=UTF-8" : "") != 0;
    if (extra_header(request, "Expect") == NULL)
        failed = failed || add_header(&list, "Expect", "") != 0;
    for (size_t i = 0; !failed && i < request->header_count; i++) {
        const mmc_header *header = &request->headers[i];
        failed = add_header_bytes(&list, header->name, header->name_length, header->value,
                                  header->value_length, ';') != 0;
    }
    if (!failed && request->authorization != NULL)
        failed = add_header(&list, "Authorization", request->authorization) != 0;
    if (!failed && request->access_token != NULL)
        failed = add_header(&list, "X-Access-Token", request->access_token) != 0;
    if (failed) {
        free_headers(list);
        return NULL;
    }
    return list;
}

/* Method and body. A PUT or POST without a body still sends "Content-Length: 0". libcurl
 * sends POST with a body and GET without one: any other method (a GET with a body included,
 * though the client refuses those before they get here) is named with CUSTOMREQUEST, so the
 * method on the wire is always the one asked. */
static CURLcode set_method(CURL *easy, const mmc_request *request, curl_mime *mime) {
    CURLcode code = CURLE_OK;
    int has_body = request->body != NULL || strcmp(request->method, "PUT") == 0 ||
                   strcmp(request->method, "POST") == 0;
    if (mime != NULL) {
        code = curl_easy_setopt(easy, CURLOPT_MIMEPOST, mime);
    } else if (!has_body) {
        code = curl_easy_setopt(easy, CURLOPT_HTTPGET, 1L);
    } else {
        const char *body = request->body != NULL ? request->body : "";
        code = curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE_LARGE,
                                (curl_off_t)(request->body != NULL ? request->body_length : 0));
        if (code == CURLE_OK)
            code = curl_easy_setopt(easy, CURLOPT_POSTFIELDS, body);
    }
    if (code == CURLE_OK)
        code = curl_easy_setopt(easy, CURLOPT_CUSTOMREQUEST,
                                strcmp(request->method, has_body ? "POST" : "GET") == 0
                                    ? NULL
                                    : request->method);
    return code;
}

/* The form as libcurl's mime structure: text parts copied, files named (libcurl opens and
 * reads each as it is sent). NULL when out of memory or libcurl refused a part. */
static curl_mime *build_form(CURL *easy, const mmc_transfer *transfer) {
    curl_mime *mime = curl_mime_init(easy);
    if (mime == NULL)
        return NULL;
    for (size_t i = 0; i < transfer->form_count; i++) {
        const mmc_form_part *part = &transfer->form[i];
        curl_mimepart *field = curl_mime_addpart(mime);
        CURLcode code = field != NULL ? curl_mime_name(field, part->name) : CURLE_OUT_OF_MEMORY;
        if (code == CURLE_OK && part->file_path != NULL) {
            code = curl_mime_filedata(field, part->file_path);
            if (code == CURLE_OK && part->filename != NULL)
                code = curl_mime_filename(field, part->filename);
        } else if (code == CURLE_OK) {
            code = curl_mime_data(field, part->value, part->value_length);
        }
        if (code == CURLE_OK && part->content_type != NULL)
            code = curl_mime_type(field, part->content_type);
        if (code != CURLE_OK) {
            curl_mime_free(mime);
            return NULL;
        }
    }
    return mime;
}

/* Sets the transfer's settings for this request (transport.h, mmc_transfer). */
static CURLcode begin_transfer(mmc_transport *transport, mmc_transfer *transfer) {
    CURL *easy = transport->easy;
    transport->transfer = transfer;
    transport->body_to_sink = -1;
    transport->stopped = 0;
    transport->progress_at = -1; /* the first bytes are told at once */
    transport->progress_done = 0;
    if (transfer == NULL)
        return CURLE_OK;
    mmc_buffer_clear(&transfer->stopped);
    CURLcode code = CURLE_OK;
    if (transfer->sink != NULL) {
        /* A retry starts the body again; what already reached a function cannot be. */
        if (transfer->sink->bytes > 0 && mmc_sink_rewind(transfer->sink) != 0)
            return CURLE_WRITE_ERROR;
        code = curl_easy_setopt(easy, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)0);
    }
    if (code == CURLE_OK && transfer->progress != NULL)
        code = curl_easy_setopt(easy, CURLOPT_NOPROGRESS, 0L);
    if (code == CURLE_OK && transfer->form != NULL) {
        transport->mime = build_form(easy, transfer);
        if (transport->mime == NULL)
            code = CURLE_OUT_OF_MEMORY;
    }
    return code;
}

/* Undoes begin_transfer's settings: the handle's next request is a plain one. */
static void end_transfer(mmc_transport *transport) {
    CURL *easy = transport->easy;
    if (transport->transfer == NULL)
        return;
    curl_easy_setopt(easy, CURLOPT_NOPROGRESS, 1L);
    curl_easy_setopt(easy, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)transport->max_body);
    if (transport->mime != NULL) {
        curl_easy_setopt(easy, CURLOPT_MIMEPOST, (curl_mime *)NULL);
        curl_mime_free(transport->mime);
        transport->mime = NULL;
    }
}

int mmc_transport_begin(mmc_transport *transport, const mmc_request *request,
                        mmc_buffer *problem) {
    if (transport->easy == NULL) {
        mmc_buffer_append_string(problem, "client is closed");
        return -1;
    }
    if (transport->owner != getpid() && leave_parent_connections(transport) != 0) {
        mmc_buffer_append_string(problem, "out of memory");
        return -1;
    }
    CURL *easy = transport->easy;
    mmc_buffer_clear(&transport->body);
    if (transport->collect_headers)
        mmc_buffer_clear(&transport->headers);
    transport->body_too_large = 0;
    transport->headers_complete = 0;
    transport->request_id[0] = '\0';
    transport->curl_error[0] = '\0';
    transport->failure_is_transient = 0;
    transport->failure_kind = NULL;
    transport->sent_request_id[0] = '\0';

    struct curl_slist *headers = build_headers(request, transport->sent_request_id);
    if (headers == NULL) {
        transport->failure_kind = "out of memory";
        mmc_buffer_append_string(problem, "out of memory");
        return -1;
    }
    CURLcode code = begin_transfer(transport, request->transfer);
    if (code == CURLE_OK)
        code = curl_easy_setopt(easy, CURLOPT_URL, request->url);
    if (code == CURLE_OK)
        code = curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, request->timeout_ms);
    if (code == CURLE_OK)
        code = set_method(easy, request, transport->mime);
    if (code == CURLE_OK)
        code = curl_easy_setopt(easy, CURLOPT_HTTPHEADER, headers);
    /* A request that must not be sent twice never goes on a kept-alive connection: libcurl
     * sends a request again, on a new connection, when a reused one dies before any answer
     * (whatever the method), and the server may have read the first. */
    if (code == CURLE_OK)
        code = curl_easy_setopt(easy, CURLOPT_FRESH_CONNECT, request->fresh_connection ? 1L : 0L);
    transport->header_list = headers;
    if (code != CURLE_OK) {
        mmc_transport_end(transport, code, request, NULL, problem);
        return -1;
    }
    return 0;
}

int mmc_transport_perform(mmc_transport *transport, const mmc_request *request,
                          mmc_response *response, mmc_buffer *problem) {
    if (mmc_transport_begin(transport, request, problem) != 0)
        return -1;
    return mmc_transport_end(transport, curl_easy_perform(transport->easy), request, response,
                             problem);
}

int mmc_transport_end(mmc_transport *transport, CURLcode code, const mmc_request *request,
                      mmc_response *response, mmc_buffer *problem) {
    CURL *easy = transport->easy;
    /* The list must not outlive the exchange: libcurl keeps only the pointer. */
    curl_easy_setopt(easy, CURLOPT_HTTPHEADER, NULL);
    curl_easy_setopt(easy, CURLOPT_POSTFIELDS, NULL);
    free_headers(transport->header_list);
    transport->header_list = NULL;
    if (code == CURLE_OK)
        code = final_progress(transport);
    end_transfer(transport);
    mmc_transfer *transfer = transport->transfer;
    transport->transfer = NULL;

    if (code != CURLE_OK) {
        /* A reset during the TLS handshake is libcurl's TLS error, but a lost connection. */
        long os_error = 0;
        if (code == CURLE_SSL_CONNECT_ERROR &&
            curl_easy_getinfo(easy, CURLINFO_OS_ERRNO, &os_error) == CURLE_OK &&
            (os_error == ECONNRESET || os_error == EPIPE))
            code = CURLE_RECV_ERROR;
        transport->failure_is_transient = code == CURLE_COULDNT_CONNECT ||
                                          code == CURLE_GOT_NOTHING || code == CURLE_SEND_ERROR ||
                                          code == CURLE_RECV_ERROR || code == CURLE_PARTIAL_FILE;
        /* A proxy that refused the tunnel (407, 403, ...) is libcurl's receive error, but
         * nothing a retry would change. */
        long connect_code = 0;
        if (curl_easy_getinfo(easy, CURLINFO_HTTP_CONNECTCODE, &connect_code) == CURLE_OK &&
            connect_code >= 300) {
            transport->failure_is_transient = 0;
            transport->failure_kind = "proxy failed";
            const char *detail =
                transport->curl_error[0] ? transport->curl_error : curl_easy_strerror(code);
            mmc_buffer_append_string(problem, "proxy failed: ");
            mmc_message_append_clean(problem, detail, strlen(detail), 256);
            return -1;
        }
        transport->transfer = transfer; /* for the description */
        if (describe_failure(transport, code, problem) == 0)
            append_hint(transport, code, request, problem);
        /* A stopped transfer is not tried again, nor one whose body already reached a
         * function (a file is emptied for a retry). */
        if (transfer != NULL &&
            (transport->stopped || (transfer->sink != NULL && (transfer->sink->failed ||
                                                               (transfer->sink->write != NULL &&
                                                                transfer->sink->bytes > 0)))))
            transport->failure_is_transient = 0;
        transport->transfer = NULL;
        return -1;
    }
    if (!transport->headers_complete) {
        /* libcurl takes a connection closed inside the headers for a finished answer. */
        transport->failure_is_transient = 1;
        transport->failure_kind = "connection lost";
        mmc_buffer_append_string(problem, "connection lost: the answer ended inside its headers");
        return -1;
    }
    long status = 0;
    curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
    curl_off_t retry_after = 0; /* libcurl reads both delta-seconds and an HTTP date */
    if (curl_easy_getinfo(easy, CURLINFO_RETRY_AFTER, &retry_after) != CURLE_OK)
        retry_after = 0;
    response->retry_after =
        retry_after > 0 ? (long)(retry_after < 86400 ? retry_after : 86400) : -1;
    if (mmc_buffer_append(&transport->body, "", 0) != 0) { /* makes body.data non-NULL */
        mmc_buffer_append_string(problem, "out of memory");
        return -1;
    }
    response->status = status;
    response->raw = transfer != NULL && transfer->raw;
    response->body = transport->body.data;
    response->body_length = transport->body.length;
    response->request_id = transport->request_id;
    return 0;
}
