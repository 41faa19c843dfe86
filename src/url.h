/*
 * url: building request URLs from the configured endpoint, a fixed path and user values.
 *
 * Every value placed in a query string is percent-encoded here, with only RFC 3986's
 * unreserved characters left as they are, so an id such as "x&status=0" stays one parameter
 * and CR, LF or NUL can never reach the request line.
 */
#ifndef MMC_URL_H
#define MMC_URL_H

#include <stddef.h>

#include "buffer.h"

/* Appends `length` bytes percent-encoded (A-Z a-z 0-9 - . _ ~ kept). 0 or -1. */
int mmc_url_append_escaped(mmc_buffer *out, const char *text, size_t length);

/* An endpoint is "https://host[:port]" ("http://" too when allowed), with nothing after it
 * but trailing slashes: no path, query, fragment, user info, white space or control
 * characters. Returns NULL when it is fine, else a sentence saying what is wrong. */
const char *mmc_url_endpoint_problem(const char *endpoint, int allow_http);

#endif
