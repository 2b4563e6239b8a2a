/*
 * tables_http — a read-only HTTP view of tables under /_sluice/tables (see
 * tables_http.c for the routes). Replies through router_reply.
 */
#ifndef SLUICE_TABLES_HTTP_H
#define SLUICE_TABLES_HTTP_H

#include "proto/router.h"

struct tables;

/* True for paths this module serves. */
int tables_http_match(const char *path);
void tables_http_handle(req_ctx_t *ctx, struct tables *ts);
/* Answers ctx with st (the router's signature check). */
void tables_http_fail(req_ctx_t *ctx, status_t st, const char *message);

#endif
