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
 * leaves once both records are durable.
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

struct queues;
struct tables;

typedef struct gateway gateway_t;

#define GATEWAY_RESULTS_DEFAULT "requests"

typedef enum { GW_PUBLISH, GW_ENQUEUE, GW_RESULT } gw_kind_t;

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
    const char *target;      /* publish: topic name; enqueue: queue name */
    const gw_attr_def_t *attrs;
    size_t nattrs;
    const char *id_from;     /* result: header.<name> | path.<param> | query.<name> */
    const char *schema;      /* JSON Schema subset (JSON text), or NULL */
    uint32_t sla_s;          /* accepted → deadline; default 30 */
    int api_key;             /* x-api-key required */
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
} gateway_config_t;

/* Checks and builds the gateway: every route's target must exist, schemas
 * must compile, keys name existing plans. Creates the results table (and
 * its idempotency companion) when absent; call after recovery. NULL with
 * ST_VALIDATION_ERROR in err. Takes the tables' change callback and adds a
 * queues dead-letter hook (removed by gateway_free). */
gateway_t *gateway_new(const gateway_config_t *cfg, loop_t *loop, struct queues *qs, topics_t *tp,
                       struct tables *ts, err_t *err);
void gateway_free(gateway_t *gw);

/* Creates the results table and its idempotency companion when absent
 * (the same definition again is fine; another is ST_VALIDATION_ERROR). The
 * daemon calls it before functions and mappings, whose table destinations
 * must exist when they are declared. */
status_t gateway_declare_tables(struct tables *ts, const char *results_table, err_t *err);

/* 1 when the request is the gateway's (then ctx is answered, now or later),
 * 0 when no route's template matches its path. */
int gateway_handle(gateway_t *gw, req_ctx_t *ctx);

/* Answers every long poll now with the record as it stands (shutdown). */
void gateway_wake_all(gateway_t *gw);

/* Whether a path template collides with Sluice's own endpoints. */
int gateway_reserved_path(const char *tmpl);

#endif
