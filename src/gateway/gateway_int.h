/*
 * gateway internals shared by gateway.c (routes, keys, accepting work,
 * request records) and the files of the synchronous integrations: item.c
 * (a table's item) and invoke.c (a function's answer). Loop thread only.
 */
#ifndef SLUICE_GATEWAY_INT_H
#define SLUICE_GATEWAY_INT_H

#include "gateway/gateway.h"
#include "gateway/proxy.h"
#include "gateway/routes.h"
#include "gateway/schema.h"
#include "util/hmap.h"
#include "util/jv.h"

typedef struct route {
    gw_route_def_t def; /* strings owned */
    gw_attr_def_t *attrs;
    char **fields;      /* item: def.fields, owned */
    schema_t *schema;
    proxy_route_t proxy; /* proxy routes: strings of def */
    char label[ROUTES_PATH_MAX + 16]; /* "POST /inbound" for records, logs and metrics: never cut (two cut
                                       * labels could name one series twice) */
    char group[129]; /* a FIFO target's MessageGroupId: the label as SQS allows one ("POST:/inbound", at
                      * most 128 of alphanumerics and punctuation) */
    router_route_stats_t *stats; /* its requests by status and their durations (the metrics) */
} route_t;

struct gateway {
    loop_t *loop;
    struct queues *qs;
    topics_t *tp;
    struct tables *ts;
    struct functions *fs;
    char *region, *account;
    char *results, *idem;
    uint32_t ttl_s;
    routes_t *routes;
    route_t **list;
    size_t n;
    keys_t *keys;
    http_client_t *client; /* proxy routes' (the daemon's) */
    hmap_t waiting; /* request id → wait_list_t */
};

/* Replies (JSON bodies; extra: more "Name: value\r\n" lines or NULL). */
void gateway__reply_json(req_ctx_t *ctx, int status, const char *extra, const buf_t *b);
void gateway__reply_message(req_ctx_t *ctx, int status, const char *extra, const char *msg);

/* Where a route takes a value from: header.X, path.X, query.X, value:X.
 * A header is copied into hdr (hn bytes); NULL when the source is absent. */
const char *gateway__source(const req_ctx_t *ctx, const char *from, const kvv_t *params, const kvv_t *query,
                            char *hdr, size_t hn);

/* The request body parsed into d and validated against the route's schema
 * when it has one: 0 with *body, or -1 after answering 400. A body that is
 * not JSON is a 400 with a schema or when strict; otherwise *body is NULL,
 * as it is for an empty body. */
int gateway__body(const route_t *r, req_ctx_t *ctx, jv_doc_t *d, int strict, jv_t **body);

/* item.c */
status_t gateway__item_check(gateway_t *gw, route_t *r, err_t *err);
void gateway__serve_item(gateway_t *gw, const route_t *r, req_ctx_t *ctx, const kvv_t *params,
                         const kvv_t *query);

/* invoke.c */
status_t gateway__invoke_check(gateway_t *gw, const route_t *r, err_t *err);
void gateway__serve_invoke(gateway_t *gw, const route_t *r, req_ctx_t *ctx, const kvv_t *params,
                           const kvv_t *query);

#endif
