/*
 * router — the one HTTP handler of the daemon: it looks at each request and
 * hands it to the protocol front-end that speaks it.
 *   X-Amz-Target: AmazonSQS.<Action>          → sqs_json (AWS JSON 1.0)
 *   form or query string with Action=<SQS op>  → sqs_query (AWS query)
 *   /2015-03-31/functions…, /2015-03-31/event-source-mappings…
 *                                              → lambda_api (REST-JSON)
 *   GET /health                                → liveness answer
 *   GET /ready                                 → readiness (503 while draining)
 *   GET /metrics                               → Prometheus text exposition (rt->metrics)
 *   a gateway route's path, /_sluice/requests/…  → gateway (routes from config),
 *                                                unless SigV4-signed for sqs or sns
 * Front-ends share the request context defined here: the request id, the
 * caller's access key and the Host, and reply through router_reply so that
 * every response carries x-amzn-RequestId and waits for durability.
 *
 * With auth.mode sigv4 (rt->auth set) every request bound for an AWS
 * front-end — SQS JSON and query, SNS query, the Lambda API, the tables
 * view — has its signature verified here, before the front-end sees it; a
 * refusal is answered in that front-end's error shape. Not checked: the
 * gateway's routes (API keys), /health, the SNS signing certificate, and an
 * unsigned SNS ConfirmSubscription or Unsubscribe that AWS also takes
 * unsigned (the token, or the subscription's AuthenticateOnUnsubscribe, decides).
 *
 * Load shedding: a request the HTTP layer dispatched over its admission
 * bound (server.max_pending_requests; http_ex.overloaded) is refused here,
 * once its front-end is known and before its body is parsed or its
 * signature checked: ST_OVERLOADED in that front-end's error shape (SQS
 * RequestThrottled, SNS ThrottlingException, both 503; Lambda
 * TooManyRequestsException, 429; the gateway's and the tables view's JSON
 * 503), with Retry-After: 1, sent without waiting for the log. /health,
 * /ready, /metrics and the SNS certificate are answered whatever the load.
 */
#ifndef SLUICE_ROUTER_H
#define SLUICE_ROUTER_H

#include "net/http_server.h"
#include "proto/sqs_api.h"
#include "store/store.h"
#include "util/buf.h"
#include "util/metrics.h"

typedef struct topics topics_t;
struct functions;
struct sigv4;

#define SNS_CERT_PATH "/_sluice/sns/SimpleNotificationService.pem"
#define ROUTER_STATUS_MAX 600

/* A gateway route's requests, counted as their replies are made (the
 * route's owner keeps it; router_reply fills it in). codes[s]: replies
 * with status s; duration_us: from dispatch to the reply being made (the
 * wait for the log to make it durable not included). */
typedef struct router_route_stats {
    uint64_t codes[ROUTER_STATUS_MAX];
    metrics_hist_t duration_us;
} router_route_stats_t;
void router_route_stats_init(router_route_stats_t *s);

typedef struct router {
    sqs_api_t *sqs;
    topics_t *topics; /* SNS; NULL: SNS requests are refused */
    struct tables *tables;       /* read-only view under /_sluice/tables */
    struct functions *functions; /* Lambda; NULL: Lambda requests get ServiceException */
    struct gateway *gateway;     /* routes from config, checked before the AWS protocols; or NULL */
    const char *sns_cert; /* PEM served at SNS_CERT_PATH (SigningCertURL), or NULL */
    size_t sns_cert_len;
    store_t *store; /* replies wait for its durable LSN; NULL: no waiting */
    struct sigv4 *auth; /* auth.mode sigv4: the verifier; NULL: AWS-protocol requests are not authenticated */
    char *ops_token; /* GET /metrics and /_sluice/trace need "Authorization: Bearer" it; NULL: open */
    int draining;   /* shutting down: new requests get 503, /ready too */
    /* GET /metrics: writes the Prometheus exposition into out; NULL: 404. */
    void (*metrics)(void *arg, buf_t *out);
    void *metrics_arg;
    uint64_t shed; /* requests refused for load (router_shed) */
    struct req_ctx *spare; /* finished contexts kept for the next requests */
    unsigned nspare;
} router_t;

/* What every front-end knows about the request it is serving. Strings are
 * copies owned by the context. */
/* Which front-end answers an exchange: its error shape stands in for a
 * reply the store failed to make durable (http_ex.shape). */
typedef enum { SHAPE_NATIVE, SHAPE_SQS_JSON, SHAPE_SQS_QUERY, SHAPE_SNS_QUERY, SHAPE_LAMBDA, SHAPE_TABLES } router_shape_t;

typedef struct req_ctx {
    router_t *rt;
    struct http_canned *capture; /* router_fail_reply's: the reply lands here, not on the wire */
    struct req_ctx *next_spare;
    http_ex_t *ex;
    char request_id[40];
    char host[256];
    char access_key[129]; /* an access key id is at most 128 characters */
    char service[16]; /* SigV4 credential scope service ("sqs", "sns"), or "" */
    char trace[512];
    char path[1024]; /* request path without the query string */
    int path_cut;    /* the path did not fit: answered 414 */
    char action[64];
    sqs_call_t *call; /* a pending SQS call, cancelled if the client goes */
    /* Any other front-end's reply that comes later: run (then ctx freed)
     * if the client goes first; the front-end clears it when it replies. */
    void (*cancel)(void *arg);
    void *cancel_arg;
    int query;
    int shed; /* refused for load: the reply carries Retry-After and waits for no log write */
    router_route_stats_t *route; /* a gateway route's: counts this request's reply, or NULL */
    uint64_t t0_ns;              /* when the request was dispatched (monotonic) */
} req_ctx_t;

void router_handle(http_ex_t *ex, void *arg);
/* http_fail_fn for http_server_fail: each front-end's own ServiceUnavailable
 * (503; the Lambda API's ServiceException, 500) in the shape given; arg is
 * the router. */
void router_fail_reply(void *arg, unsigned shape, struct http_canned *out);
/* Frees the contexts kept for reuse (after the HTTP server is gone). */
void router_release(router_t *rt);

/* Copies the value of header name (first occurrence) into out; "" when absent. */
void router_header(const http_head_t *h, const char *name, char *out, size_t n);
/* Appends the URL's query parameters to out; 0, or -1 with why (form.h rules). */
int router_query(const http_ex_t *ex, kvv_t *out, char *why, size_t n);

/* Sends a reply for ctx and frees ctx. extra: more "Name: value\r\n" lines
 * (any number), or NULL. */
void router_reply(req_ctx_t *ctx, int status, const char *ctype, const char *extra, const char *body, size_t len);

/* Arms cancellation for a reply that comes later: if the client goes first,
 * ctx->call is cancelled, ctx->cancel run, and ctx freed. */
void router_watch(req_ctx_t *ctx);
/* router_watch for a long poll: the request waits for an event, not for
 * work, and does not count toward the admission bound while it waits. */
void router_park(req_ctx_t *ctx);

/* 1 when the request came over the admission bound: ctx is marked so that
 * its reply carries Retry-After: 1 and leaves without waiting for the log,
 * and the caller answers ST_OVERLOADED in its protocol's shape. */
int router_shed(req_ctx_t *ctx);

/* Front-ends; each replies (now or later) through router_reply. */
void sqs_json_handle(req_ctx_t *ctx, const char *action);
void sqs_json_fail(req_ctx_t *ctx, status_t st, const char *message);
void sqs_query_handle(req_ctx_t *ctx, const kvv_t *form);
void sqs_query_fail(req_ctx_t *ctx, status_t st, const char *message);

#endif
