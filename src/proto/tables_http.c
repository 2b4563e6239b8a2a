/*
 * tables_http — Sluice's own read-only view of tables, for operators and
 * tests until the DynamoDB wire API arrives:
 *
 *   GET /_sluice/tables                               {"Tables":[names]}
 *   GET /_sluice/tables/{table}?limit=N&after=PK      {"Items":[...], "More":bool, "ItemCount":n}
 *   GET /_sluice/tables/{table}/items/{pk}[?sk=SK]    the item, or 404
 *   GET /_sluice/tables/{table}/index/{attr}/{value}  {"Items":[...]}
 *
 * Path segments and query values are percent-decoded. Errors are
 * {"message": ...} with 404 (no such table or item), 400 (a bad request) or
 * 405 (not GET). With auth.mode sigv4 the view needs a signature like the
 * AWS APIs (any service in its scope); a refusal carries the AWS common
 * error code in x-amzn-ErrorType and its status.
 */
#include "proto/tables_http.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/form.h"
#include "proto/sqs_errors.h"
#include "tables/tables.h"
#include "util/buf.h"
#include "util/jv.h"
#include "util/kv.h"

#define PREFIX "/_sluice/tables"
#define SEGMENTS_MAX 5

/* {"message": msg}; extra: more header lines or NULL. */
static void reply_message(req_ctx_t *ctx, int status, const char *extra, const char *msg)
{
    buf_t b = BUF_INIT;
    buf_puts(&b, "{\"message\":");
    jv_write_string(&b, msg, strlen(msg));
    buf_putc(&b, '}');
    router_reply(ctx, status, "application/json", extra, b.data, b.len);
    buf_free(&b);
}

static void reply_error(req_ctx_t *ctx, int status, const char *msg)
{
    reply_message(ctx, status, NULL, msg);
}

/* The common error codes are spelt as in SQS's table. */
void tables_http_fail(req_ctx_t *ctx, status_t st, const char *message)
{
    const sqs_error_t *e = sqs_error_for(st);
    char extra[128];
    snprintf(extra, sizeof extra, "x-amzn-ErrorType: %s\r\n", e->code);
    reply_message(ctx, e->http_status, extra, message);
}

static void reply_items(req_ctx_t *ctx, const strv_t *items, int more, const table_t *t)
{
    buf_t b = BUF_INIT;
    buf_puts(&b, "{\"Items\":[");
    for (size_t i = 0; i < items->n; i++) {
        if (i)
            buf_putc(&b, ',');
        buf_puts(&b, items->v[i]);
    }
    buf_printf(&b, "]%s", more ? ",\"More\":true" : "");
    if (t)
        buf_printf(&b, ",\"ItemCount\":%llu", (unsigned long long)table_count(t));
    buf_putc(&b, '}');
    router_reply(ctx, 200, "application/json", NULL, b.data, b.len);
    buf_free(&b);
}

/* Splits the path after PREFIX into decoded segments; -1 when malformed. */
static int split(const char *path, strv_t *segs)
{
    const char *p = path + strlen(PREFIX);
    while (*p == '/') {
        p++;
        size_t n = strcspn(p, "/");
        char seg[TABLE_PK_MAX + 1];
        if (n == 0 || segs->n == SEGMENTS_MAX || form_decode_segment(p, n, seg, sizeof seg) != 0)
            return -1;
        strv_add(segs, seg);
        p += n;
    }
    return *p ? -1 : 0;
}

static void list_tables(req_ctx_t *ctx, tables_t *ts)
{
    strv_t names = {0};
    buf_t b = BUF_INIT;
    tables_list(ts, &names);
    buf_puts(&b, "{\"Tables\":[");
    for (size_t i = 0; i < names.n; i++) {
        if (i)
            buf_putc(&b, ',');
        jv_write_string(&b, names.v[i], strlen(names.v[i]));
    }
    buf_puts(&b, "]}");
    router_reply(ctx, 200, "application/json", NULL, b.data, b.len);
    buf_free(&b);
    strv_free(&names);
}

static void get_item(req_ctx_t *ctx, table_t *t, const char *pk, const kvv_t *q)
{
    buf_t b = BUF_INIT;
    err_t err;
    if (table_get(t, pk, kvv_get(q, "sk"), &b, &err) != ST_OK)
        reply_error(ctx, 404, err.msg);
    else
        router_reply(ctx, 200, "application/json", NULL, b.data, b.len);
    buf_free(&b);
}

static void scan(req_ctx_t *ctx, table_t *t, const kvv_t *q)
{
    const char *lim = kvv_get(q, "limit");
    long max = lim ? strtol(lim, NULL, 10) : 100;
    strv_t items = {0};
    int more = 0;
    err_t err;
    if (max < 1 || max > 1000)
        reply_error(ctx, 400, "limit must be 1..1000");
    else if (table_scan(t, kvv_get(q, "after"), kvv_get(q, "after_sk"), (size_t)max, &items, &more, &err) != ST_OK)
        reply_error(ctx, 400, err.msg);
    else
        reply_items(ctx, &items, more, t);
    strv_free(&items);
}

static void by_index(req_ctx_t *ctx, table_t *t, const char *attr, const char *value)
{
    strv_t items = {0};
    err_t err;
    if (table_query_index(t, attr, value, 1000, &items, &err) != ST_OK)
        reply_error(ctx, 400, err.msg);
    else
        reply_items(ctx, &items, 0, NULL);
    strv_free(&items);
}

static void dispatch(req_ctx_t *ctx, tables_t *ts, const strv_t *s, const kvv_t *q)
{
    table_t *t = s->n ? tables_find(ts, s->v[0]) : NULL;
    if (s->n == 0)
        list_tables(ctx, ts);
    else if (!t)
        reply_error(ctx, 404, "Requested resource not found");
    else if (s->n == 1)
        scan(ctx, t, q);
    else if (s->n == 3 && strcmp(s->v[1], "items") == 0)
        get_item(ctx, t, s->v[2], q);
    else if (s->n == 4 && strcmp(s->v[1], "index") == 0)
        by_index(ctx, t, s->v[2], s->v[3]);
    else
        reply_error(ctx, 404, "no such route");
}

int tables_http_match(const char *path)
{
    size_t n = strlen(PREFIX);
    return strncmp(path, PREFIX, n) == 0 && (path[n] == 0 || path[n] == '/');
}

void tables_http_handle(req_ctx_t *ctx, struct tables *ts)
{
    const http_head_t *h = ctx->ex->head;
    strv_t segs = {0};
    kvv_t q = {0};
    char why[128];
    if (!(h->method_len == 3 && memcmp(h->method, "GET", 3) == 0))
        reply_error(ctx, 405, "tables are read-only here: GET only");
    else if (!ts)
        reply_error(ctx, 404, "Requested resource not found");
    else if (split(ctx->path, &segs) != 0 ||
             router_query(ctx->ex, &q, why, sizeof why) != 0)
        reply_error(ctx, 400, "malformed path or query");
    else
        dispatch(ctx, ts, &segs, &q);
    strv_free(&segs);
    kvv_free(&q);
}
