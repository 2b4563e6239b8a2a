/*
 * sns_query — SNS over the AWS query protocol (see sns_query.c for the wire
 * shapes). The router sends a query request here when it is meant for SNS:
 * its SigV4 credential scope names sns, or Version is 2010-03-31, or the
 * action exists only in SNS.
 */
#ifndef SLUICE_SNS_QUERY_H
#define SLUICE_SNS_QUERY_H

#include "proto/router.h"
#include "util/kv.h"
#include "util/status.h"

#define SNS_VERSION "2010-03-31"

/* 1 when action is one of the SNS actions Sluice serves. */
int sns_query_known(const char *action);
void sns_query_handle(req_ctx_t *ctx, const kvv_t *form);
void sns_query_fail(req_ctx_t *ctx, status_t st, const char *message);

/* 1 for an unsigned request AWS takes without a signature: ConfirmSubscription
 * (the token is the proof; AuthenticateOnUnsubscribe=true needs a signature)
 * and Unsubscribe of a subscription confirmed without AuthenticateOnUnsubscribe
 * (the SubscribeURL and UnsubscribeURL an endpoint is sent). */
int sns_query_unsigned_ok(const topics_t *tp, const kvv_t *form);

#endif
