/*
 * request: the pieces of a generic API request that a caller supplies, checked.
 *
 * The generic call (client.h, mmc_client_request) sends the client's token to whatever path it
 * is given, so the path must never be able to leave the configured endpoint: it is one API
 * path, "/" followed by RFC 3986 path characters, with no scheme, host, query, fragment, dot
 * segment (plain or percent-encoded), empty segment, backslash, white space, control or
 * non-ASCII byte. Extra headers must not replace what carries credentials or frames the
 * request (Authorization, X-Access-Token, Host, Content-Length, Transfer-Encoding), and no name
 * or value may hold CR, LF or NUL. A query is built here from name/value pairs, sorted by name
 * (then value) and percent-encoded, so the same arguments always make the same URL.
 */
#ifndef MMC_REQUEST_H
#define MMC_REQUEST_H

#include <stddef.h>

#include "buffer.h"

#define MMC_MAX_PATH_LENGTH 2048
#define MMC_MAX_HEADER_NAME_LENGTH 64
#define MMC_MAX_HEADER_VALUE_LENGTH 4096
#define MMC_MAX_QUERY_LENGTH 8192 /* the escaped query string */

typedef struct mmc_header {
    const char *name;
    size_t name_length;
    const char *value;
    size_t value_length;
} mmc_header;

typedef struct mmc_query_pair {
    const char *name;
    size_t name_length;
    const char *value;
    size_t value_length;
} mmc_query_pair;

/* The method's own constant ("GET", "POST", "PUT", "DELETE" or "PATCH", upper case), so that
 * nothing (the exchange log, say) keeps the caller's string; NULL for any other method (or
 * NULL). */
const char *mmc_request_known_method(const char *method);

/* 1 when a request with `method` may be retried unless the caller says otherwise: GET, PUT,
 * DELETE (idempotent), not POST or PATCH. */
int mmc_request_method_is_idempotent(const char *method);

/* The sentence refusing a GET with a body (a GET is sent without one, never turned into
 * something else), or NULL when `method` may carry the body it has (`has_body`). */
#define MMC_GET_BODY_PROBLEM                                                                       \
    "options.body: a GET has no body (send it with POST or PUT, or put the parameters in "        \
    "options.query)"
const char *mmc_request_body_problem(const char *method, int has_body);

/* NULL when `path` (of `length` bytes) is an acceptable API path, else a sentence saying why
 * not. */
const char *mmc_request_path_problem(const char *path, size_t length);

/* NULL when the header may be sent, else a sentence saying why not. */
const char *mmc_request_header_problem(const mmc_header *header);

/* 1 when `name` (of `length` bytes) is `expected`, ignoring ASCII case. */
int mmc_request_header_is(const char *name, size_t length, const char *expected);

/* The length of the query mmc_request_build_query would make of these pairs. */
size_t mmc_request_query_length(const mmc_query_pair *pairs, size_t count);

/* Sorts `pairs` (by name, then value, bytewise) and appends them to `out` as
 * name=value&name=value, both sides percent-encoded. 0, or -1 when memory ran out or the
 * result would pass MMC_MAX_QUERY_LENGTH. */
int mmc_request_build_query(mmc_buffer *out, mmc_query_pair *pairs, size_t count);

#endif
