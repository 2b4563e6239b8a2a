/*
 * item — the gateway's `item` integration: a GET that answers an item of a
 * table, as API Gateway's DynamoDB GetItem/Query service integrations do in
 * seed 001 (GET /users/{userId} reads by key; GET /status/{messageId}
 * queries the messageId index).
 *
 * The key comes from the request (path, query or header, as a result
 * route's id). Without `index` it is the table's partition key (tables
 * with a sort key are refused at start: a partition key alone names no one
 * item there); with `index` it is a value of that indexed attribute and the
 * first item in key order holding it answers. `fields` projects the item to
 * those attributes, in that order, leaving out the ones it lacks.
 *
 * Answers: 200 with the item; 404 {"message":"Not found"} when there is none
 * (also for a key that cannot be one, e.g. text for a numeric key); 400 when
 * the request lacks the key; 503 when the table was deleted since start.
 */
#include <stdio.h>
#include <string.h>

#include "gateway/gateway_int.h"
#include "tables/tables.h"
#include "util/alloc.h"

status_t gateway__item_check(gateway_t *gw, route_t *r, err_t *err)
{
    const gw_route_def_t *d = &r->def;
    table_t *t = d->target ? tables_find(gw->ts, d->target) : NULL;
    if (!d->target)
        return err_set(err, ST_VALIDATION_ERROR, "route %s: an item route needs table", r->label);
    if (!t)
        return err_set(err, ST_VALIDATION_ERROR, "route %s: no table named %s", r->label, d->target);
    const table_def_t *td = table_def(t);
    if (td->sk && !d->index)
        return err_set(err, ST_VALIDATION_ERROR, "route %s: table %s has a sort key (%s); an item route reads by "
                                                 "partition key alone, or through an index", r->label, d->target,
                       td->sk);
    int indexed = 0;
    for (size_t i = 0; d->index && i < td->nindexes; i++)
        indexed |= strcmp(td->indexes[i], d->index) == 0;
    if (d->index && !indexed)
        return err_set(err, ST_VALIDATION_ERROR, "route %s: table %s has no index on %s", r->label, d->target,
                       d->index);
    for (size_t i = 0; i < d->nfields; i++) {
        if (!*d->fields[i])
            return err_set(err, ST_VALIDATION_ERROR, "route %s: fields: an empty attribute name", r->label);
        for (size_t j = 0; j < i; j++)
            if (strcmp(d->fields[i], d->fields[j]) == 0)
                return err_set(err, ST_VALIDATION_ERROR, "route %s: fields lists %s twice", r->label, d->fields[i]);
    }
    return ST_OK;
}

/* The item, or the attributes of it the route names. */
static void write_item(const route_t *r, const char *item, buf_t *out)
{
    if (!r->def.nfields) {
        buf_puts(out, item);
        return;
    }
    jv_doc_t *d = jv_doc_new_small();
    jv_t *v = jv_parse_cstr(d, item);
    int first = 1;
    buf_putc(out, '{');
    for (size_t i = 0; i < r->def.nfields; i++) {
        const jv_t *f = jv_get(v, r->def.fields[i]);
        if (!f)
            continue;
        if (!first)
            buf_putc(out, ',');
        first = 0;
        jv_write_string(out, r->def.fields[i], strlen(r->def.fields[i]));
        buf_putc(out, ':');
        jv_write(f, out);
    }
    buf_putc(out, '}');
    jv_doc_free(d);
}

/* The item under key (by partition key or through the index) into out; 0,
 * or -1 when there is none. */
static int find_item(const table_t *t, const route_t *r, const char *key, buf_t *out)
{
    err_t err;
    if (!r->def.index)
        return table_get(t, key, NULL, out, &err) == ST_OK ? 0 : -1;
    strv_t items = {0};
    int rc = table_query_index(t, r->def.index, key, 1, &items, &err) == ST_OK && items.n ? 0 : -1;
    if (rc == 0)
        buf_puts(out, items.v[0]);
    strv_free(&items);
    return rc;
}

void gateway__serve_item(gateway_t *gw, const route_t *r, req_ctx_t *ctx, const kvv_t *params, const kvv_t *query)
{
    char hdr[TABLE_PK_MAX + 2];
    const char *key = gateway__source(ctx, r->def.key_from, params, query, hdr, sizeof hdr);
    const table_t *t = tables_find(gw->ts, r->def.target);
    buf_t item = BUF_INIT, out = BUF_INIT;
    if (!key || !*key) {
        char msg[300];
        snprintf(msg, sizeof msg, "Missing key (%s)", r->def.key_from);
        gateway__reply_message(ctx, 400, NULL, msg);
    } else if (!t) {
        gateway__reply_message(ctx, 503, NULL, "The table of this route is gone");
    } else if (find_item(t, r, key, &item) != 0) {
        gateway__reply_message(ctx, 404, NULL, "Not found");
    } else {
        write_item(r, item.data, &out);
        gateway__reply_json(ctx, 200, NULL, &out);
    }
    buf_free(&item);
    buf_free(&out);
}
