/*
 * engine: many API calls at once on one client, on libcurl's multi interface.
 *
 * A batch is an array of calls (mmc_api_call, as mmc_client_request takes), copied when they
 * are set, and run together: at most `concurrency` transfers in flight, each on an easy handle
 * of the client's (kept for later batches, as the multi handle and its connections are), over
 * HTTP/1.1 connections or, when the server offers HTTP/2 through ALPN, as streams multiplexed
 * on one connection. Each call is a small state machine advanced in one loop:
 *
 *   ready -> in flight -> judged -> done
 *                     \-> waiting to retry (a deadline) -> ready
 *                     \-> refused with 401 -> ready, once, after the one new token
 *
 * One token for the batch: the loop authenticates (or asks the token store) when a ready call
 * finds no fresh token, before sending it; a 401 on many calls at once drops the token once
 * (the first refusal of the token in use), and the calls refused go on with the next token,
 * each at most once, as a single call does. The token store's callbacks run from that step,
 * between transfers, never inside a libcurl callback.
 *
 * Each call has its own timeout (the client's), retries, backoff and Retry-After (retry.h):
 * a wait is a deadline, and the loop sleeps (in curl_multi_poll) toward the nearest while the
 * other transfers go on. One call's failure never fails another. The results follow client.h's
 * rule, one per call, with the answer's headers; nothing in them holds a secret (redact.h).
 *
 * A fork's child never uses the parent's multi handle or connections: it lets go of them as
 * the single transport does (transport.h) and makes its own.
 */
#ifndef MMC_ENGINE_H
#define MMC_ENGINE_H

#include <stddef.h>

#include "buffer.h"
#include "client.h"
#include "exchange_log.h"

#define MMC_DEFAULT_CONCURRENCY 8
#define MMC_MAX_CONCURRENCY 64
#define MMC_MAX_BATCH 100000

typedef struct mmc_batch mmc_batch;

/* A batch of `count` calls, none set yet; NULL when out of memory. */
mmc_batch *mmc_batch_new(size_t count, mmc_memory *memory);
void mmc_batch_free(mmc_batch *batch);

/* Checks call number `index` (as mmc_client_request would) and copies it: 0, or -1 with the
 * problem appended to `problem` and `*field` set to "path" when it is the path's (else NULL). */
int mmc_batch_set(mmc_batch *batch, size_t index, const mmc_client *client,
                  const mmc_api_call *call, mmc_buffer *problem, const char **field);

/* Runs every call of the batch; each one's result is then mmc_batch_result's. 0, or -1 when
 * the engine itself could not run (every result then says why). */
int mmc_client_run_batch(mmc_client *client, mmc_batch *batch, int concurrency);

/* Call `index`'s result (its body valid until the batch is freed), the header lines of its
 * last answer ("Name: value\r\n" each, secrets redacted; NULL and 0 when it has none), and its
 * exchanges (when the client records them). */
const mmc_result *mmc_batch_result(const mmc_batch *batch, size_t index);
const char *mmc_batch_headers(const mmc_batch *batch, size_t index, size_t *length);
const mmc_exchange_log *mmc_batch_exchanges(const mmc_batch *batch, size_t index);

#endif
