/*
 * conference: meeting control, the calls that need a meeting's control token.
 *
 * Huawei's 45 meeting-control operations (mute, lock, record, hand, layout, ...) live under
 * /v1/mmc/control/conferences... and each needs the meeting's control token in
 * X-Conference-Authorization. The token is obtained with
 *     GET /v1/mmc/control/conferences/token?conferenceID=<id>
 *         X-Password: <the host password>   X-Login-Type: 1
 * and answered as {"data":{"token":..,"expireTime":<Unix ms>,"confTokenExpireTime":<s>,..}};
 * it lasts 30 minutes and is kept alive by the same request with X-Conference-Authorization:
 * <the token> instead of the password.
 *
 * A control handle (mmc_conference) holds a meeting's id, its host password and its control
 * token, as session.c holds the access token: obtained on the first call, kept, renewed before
 * it ends (when less than a third of its life, at most 5 minutes, is left: with the token
 * itself, then with the password if that fails), and obtained anew with the password once when
 * a control call is answered 401 (the call is then sent once more). Its life is
 * confTokenExpireTime seconds (from when it was asked for), else expireTime less the wall
 * clock, else 30 minutes; it is tracked on the monotonic clock.
 *
 * Every call goes through the client's one call (mmc_client_request), so the access token,
 * retries and the exchange log are the client's. A 401 to a control call or a keep-alive
 * refuses the control token (mmc_api_call.refusal_is_callers): it is returned here, the
 * client's own token kept (no login), and the control token renewed; a 401 to the request
 * made with the password is the access token's, renewed as for any call. The password and the control token are secrets: they are wiped when
 * the handle is freed, and every message and body a call returns has them redacted (redact.h),
 * however a server echoed them. Lua-free.
 */
#ifndef MMC_CONFERENCE_H
#define MMC_CONFERENCE_H

#include <stddef.h>

#include "buffer.h"
#include "client.h"

#define MMC_CONTROL_TOKEN_PATH "/v1/mmc/control/conferences/token"
#define MMC_CONTROL_TOKEN_LIFE 1800.0         /* seconds, when the answer says nothing */
#define MMC_CONTROL_TOKEN_RENEW_MARGIN 300.0  /* renewed at most this long before it ends */
#define MMC_MAX_CONFERENCE_ID_LENGTH 64       /* assumed: Huawei's ids are 9 to 20 digits */
#define MMC_MAX_HOST_PASSWORD_LENGTH 128      /* assumed */
#define MMC_CONFERENCE_MAX_HEADERS 50         /* the caller's, besides the control token */
#define MMC_CONFERENCE_MAX_QUERY_PAIRS 99     /* the caller's, besides conferenceID */

typedef struct mmc_conference mmc_conference;

/* A sentence saying what is wrong with a conference id or a host password, or NULL. */
const char *mmc_conference_id_problem(const char *id, size_t length);
const char *mmc_conference_password_problem(const char *password, size_t length);

/* A handle for the meeting `id` with its host password (both copied), charged to `memory`
 * (memory.h; the client's), or NULL when memory ran out. Both must have passed the checks
 * above. */
mmc_conference *mmc_conference_new(const char *id, size_t id_length, const char *password,
                                   size_t password_length, mmc_memory *memory);
/* Wipes the password and the token, frees. NULL is fine. */
void mmc_conference_free(mmc_conference *conference);

/* The meeting's id (NUL-terminated). */
const char *mmc_conference_id(const mmc_conference *conference);

/* Called after each of the client's calls a control call makes (a token request, the call,
 * its retry), before the next one: the Lua face reports the client's exchanges with it. */
typedef void (*mmc_conference_hook)(void *data, mmc_client *client);
void mmc_conference_set_hook(mmc_conference *conference, mmc_conference_hook hook, void *data);

/* 1 when the handle holds a control token now (for tests and descriptions; never the token). */
int mmc_conference_has_token(const mmc_conference *conference);

/* Sends `call` on `client` as a control call: conferenceID added to its query pairs (the call
 * must give pairs, not a query string, and neither conferenceID nor any of the headers
 * X-Conference-Authorization, X-Password, X-Login-Type), the control token (obtained or renewed
 * first, as above) as X-Conference-Authorization. The result is mmc_client_request's, the body
 * pointing into the handle (valid until its next call); when no control token could be had, it
 * is the token request's, with a message that says so. 0 or -1. */
int mmc_conference_request(mmc_conference *conference, mmc_client *client,
                           const mmc_api_call *call, mmc_result *result);

#endif
