/*
 * gateway — the seeds' front door: routes declared in config turn HTTP
 * requests into work and answer 202 Accepted with a request id, and let
 * the client read the request's status and result by that id.
 *
 * Integrations (one per route):
 *   publish  the body goes to a topic, with message attributes taken from
 *            the request (body fields, headers, path or query parameters)
 *   enqueue  the body goes to a queue, with attributes the same way
 *   result   the status and result of the request whose id the route takes
 *            from a header, a path parameter or a query parameter
 *   item     an item of a table, by partition key or through a secondary
 *            index, the key taken from the request like result's id;
 *            optionally projected to some attributes (gateway/item.c)
 *   invoke   a synchronous call of a function: the body, or an API Gateway
 *            REST proxy event, goes in; the result (or, for proxy, the
 *            {statusCode, headers, body} it describes) comes out
 *            (gateway/invoke.c)
 *   proxy    the request goes to an upstream HTTP service and its answer
 *            comes back as is: seed 003's strangler facade (gateway/proxy.h)
 * Every accepted request carries its id as the String message attribute
 * "requestId", which mappings and destinations already use: the worker's
 * outcome lands in the results table under that id.
 *
 * Accepting. The body is validated against the route's JSON Schema subset
 * (gateway/schema.h) → 400 naming the field and rule. The request id is new,
 * or the one an earlier request with the same Idempotency-Key header got
 * within 24 h (then nothing is published again). Before the message is sent
 * the results table gets {requestId, status: ACCEPTED, acceptedAt, deadline,
 * route, expiresAt}; the reply is 202 with {requestId, status, acceptedAt,
 * deadline, statusUrl} and Location: statusUrl, and like every reply it
 * leaves once both records are durable. An enqueue route's record and reply
 * also carry messageId, the SQS message id (seed 001 polls by it).
 *
 * Statuses (tables/outcome.h): ACCEPTED → RUNNING (a mapping took the
 * message; again, with lastError, after a failed attempt that will be
 * retried) → SUCCEEDED or FAILED (a table destination), DEAD_LETTERED (the
 * message reached a dead-letter queue: the queues' dead-letter hook) or
 * EXPIRED (the deadline passed: a pending record reads so, and a late
 * outcome is stored so). Final statuses are never rewritten. Reading: 200 with the
 * item when final, 202 with Retry-After while pending, 404 for an unknown
 * id; ?wait=N (N ≤ 20 s) holds the request until the status is final or N
 * passes (the results table's change callback wakes it). Items expire
 * results_ttl after acceptance (the table's TTL attribute expiresAt).
 *
 * API keys (gateway/keys.h): a route with api_key set wants x-api-key:
 * 403 {"message":"Forbidden"} when missing or unknown, 429 with Retry-After
 * when throttled or over quota, as API Gateway answers.
 *
 * Admin: GET /_sluice/gateway/keys answers keys_write_json — each key's
 * plan, counters, bucket and quota, never its hash.
 *
 * Threads: loop thread only.
 */
#ifndef SLUICE_GATEWAY_H
#define SLUICE_GATEWAY_H

#include <stddef.h>
#include <stdint.h>

#include "gateway/keys.h"
#include "net/loop.h"
#include "proto/router.h"
#include "util/status.h"

struct functions;
struct queues;
struct tables;
struct http_client;

typedef struct gateway gateway_t;

#define GATEWAY_RESULTS_DEFAULT "requests"

typedef enum { GW_PUBLISH, GW_ENQUEUE, GW_RESULT, GW_ITEM, GW_INVOKE, GW_PROXY } gw_kind_t;

/* What an invoke route hands its function. */
typedef enum {
    GW_PAYLOAD_BODY, /* the request body (JSON; empty: {}) */
    GW_PAYLOAD_PROXY /* API Gateway's REST proxy event; the result is a proxy response */
} gw_payload_t;

/* A message attribute of an accepted request: name and where its value
 * comes from — "body.<field>" (a top-level string, number or boolean of the
 * JSON body), "header.<name>", "path.<param>", "query.<name>", or
 * "value:<text>". A source that is absent sets no attribute. */
typedef struct gw_attr_def {
    const char *name;
    const char *from;
} gw_attr_def_t;

typedef struct gw_route_def {
    const char *method;      /* GET, POST, …, ANY */
    const char *path;        /* template: /users/{userId} */
    gw_kind_t kind;
    /* publish: topic name; enqueue: queue name; item: table name; invoke:
     * function name */
    const char *target;
    const gw_attr_def_t *attrs;
    size_t nattrs;
    const char *id_from;     /* result: header.<name> | path.<param> | query.<name> */
    const char *key_from;    /* item: the partition key (or index value), sourced as id_from */
    const char *index;       /* item: the indexed attribute key_from is looked up in, or NULL */
    const char *const *fields; /* item: the attributes answered (projection); none: all */
    size_t nfields;
    gw_payload_t payload;    /* invoke */
    const char *schema;      /* JSON Schema subset (JSON text), or NULL; enqueue, publish, invoke */
    uint32_t sla_s;          /* accepted → deadline; default 30 */
    int api_key;             /* x-api-key required */
    const char *upstream;    /* proxy: URL template (gateway/proxy.h) */
    uint32_t timeout_s;      /* proxy: 1..300; default 29 */
} gw_route_def_t;

typedef struct gateway_config {
    const char *region, *account;
    const char *results_table;   /* default "requests"; created when absent */
    uint32_t results_ttl_s;      /* default 86400 */
    const gw_route_def_t *routes;
    size_t nroutes;
    const keys_plan_def_t *plans;
    size_t nplans;
    const keys_key_def_t *keys;
    size_t nkeys;
    struct http_client *client;  /* proxy routes' upstream requests (the caller's;
                                    outlives the gateway); NULL: no proxy routes */
} gateway_config_t;

/* Checks and builds the gateway: every route's target must exist (an item
 * route's table with the index it names and no sort key; an invoke route's
 * function), schemas must compile, keys name existing plans. Creates the
 * results table (and its idempotency companion) when absent; call after
 * recovery and after tables and functions are declared. NULL with
 * ST_VALIDATION_ERROR in err. Takes the tables' change callback and adds a
 * queues dead-letter hook (removed by gateway_free). fs may be NULL when no
 * route invokes. */
gateway_t *gateway_new(const gateway_config_t *cfg, loop_t *loop, struct queues *qs, topics_t *tp,
                       struct tables *ts, struct functions *fs, err_t *err);
/* Requests on proxy routes must be answered or aborted before (the daemon
 * frees the HTTP server first, which cancels them). */
void gateway_free(gateway_t *gw);

/* Creates the results table and its idempotency companion when absent
 * (the same definition again is fine; another is ST_VALIDATION_ERROR). The
 * daemon calls it before functions and mappings, whose table destinations
 * must exist when they are declared. */
status_t gateway_declare_tables(struct tables *ts, const char *results_table, err_t *err);

/* 1 when the request is the gateway's (then ctx is answered, now or later;
 * one that came over the admission bound with a JSON 503 at once), 0 when
 * no route's template matches its path. */
int gateway_handle(gateway_t *gw, req_ctx_t *ctx);

/* Answers every long poll now with the record as it stands (shutdown). */
void gateway_wake_all(gateway_t *gw);

/* The i-th route's label ("POST /orders") and request counts (owned by
 * the gateway); 0 past the last route or when gw is NULL. */
int gateway_route_stats(const gateway_t *gw, size_t i, const char **label, const router_route_stats_t **stats);

/* Whether a path template collides with Sluice's own endpoints. */
int gateway_reserved_path(const char *tmpl);

#endif
