/*
 * dest — where outcomes go: "table:<name>" stores the result (or error)
 * under the request id; "queue:<name>" and "topic:<name>" (or their ARNs)
 * receive Lambda's destination record:
 *
 *   {"version":"1.0","timestamp":…,"requestContext":{"requestId":…,
 *    "functionArn":…:$LATEST,"condition":"Success"|"RetriesExhausted"|…,
 *    "approximateInvokeCount":n},"requestPayload":<event>,
 *    "responseContext":{"statusCode":200,"executedVersion":"$LATEST"
 *    [,"functionError":"Unhandled"]},"responsePayload":<result or error>}
 *
 * "items:<name>" puts a successful result, which must be a JSON object
 * holding the table's key, as the item itself.
 *
 * The table item is {<pk>: request id, "status": "SUCCEEDED"|"FAILED",
 * "result"|"error": …, "function": name, "attempts": n, "completedAt": ISO
 * time}, plus whatever other attributes the item it replaces had (the
 * gateway's acceptedAt, deadline, route and expiresAt). A put never replaces
 * an item whose status is already final — SUCCEEDED, DEAD_LETTERED or
 * EXPIRED — so each request's result is written at most once however often
 * its message is processed (a redelivery after a crash, a duplicate).
 *
 * A destination that does not exist when an outcome arrives (deleted since
 * it was checked) drops the record and logs why; the invocation is not
 * retried for it, as in Lambda.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "functions/functions_int.h"
#include "queues/queues.h"
#include "tables/tables.h"
#include "topics/topics.h"
#include "util/clock.h"
#include "util/jv.h"
#include "util/logging.h"

typedef enum { DEST_NONE, DEST_TABLE, DEST_ITEMS, DEST_QUEUE, DEST_TOPIC } dest_kind_t;

/* Splits a destination into kind and name (name: up to 256 bytes). */
static dest_kind_t dest_parse(const char *d, char *name, size_t n)
{
    static const struct {
        const char *prefix;
        dest_kind_t kind;
    } forms[] = {{"table:", DEST_TABLE}, {"items:", DEST_ITEMS}, {"queue:", DEST_QUEUE}, {"topic:", DEST_TOPIC},
                 {"arn:aws:sqs:", DEST_QUEUE}, {"arn:aws:sns:", DEST_TOPIC}, {"arn:aws:dynamodb:", DEST_TABLE}};
    for (size_t i = 0; i < sizeof forms / sizeof forms[0]; i++) {
        size_t pl = strlen(forms[i].prefix);
        if (strncmp(d, forms[i].prefix, pl) != 0)
            continue;
        const char *s = d + pl;
        if (forms[i].prefix[0] == 'a') { /* ARN: the name is after the last ':' or "table/" */
            const char *slash = strstr(s, ":table/"), *colon = strrchr(s, ':');
            s = forms[i].kind == DEST_TABLE ? (slash ? slash + 7 : NULL) : (colon ? colon + 1 : NULL);
        }
        if (!s || !*s || strlen(s) >= n)
            return DEST_NONE;
        snprintf(name, n, "%s", s);
        return forms[i].kind;
    }
    return DEST_NONE;
}

static void topic_arn_for(const functions_t *fs, const char *name, char *out, size_t n)
{
    snprintf(out, n, "arn:aws:sns:%s:%s:%s", functions_region(fs), functions_account(fs), name);
}

int fn_dest__valid(const functions_t *fs, const char *dest, char *why, size_t why_len)
{
    char name[260], arn[400];
    switch (dest_parse(dest, name, sizeof name)) {
    case DEST_TABLE:
    case DEST_ITEMS:
        if (fs->ts && !tables_find(fs->ts, name))
            return snprintf(why, why_len, "no table named %s", name), -1;
        return 0;
    case DEST_QUEUE:
        if (fs->qs && !queues_find(fs->qs, name))
            return snprintf(why, why_len, "no queue named %s", name), -1;
        return 0;
    case DEST_TOPIC:
        topic_arn_for(fs, name, arn, sizeof arn);
        if (fs->tp && !topics_find_arn(fs->tp, arn))
            return snprintf(why, why_len, "no topic named %s", name), -1;
        return 0;
    case DEST_NONE:
        break;
    }
    snprintf(why, why_len, "must be table:<name>, items:<name>, queue:<name>, topic:<name> or a queue, topic or "
                           "table ARN");
    return -1;
}

/* Results, error documents and events are JSON text by the invocation
 * contract (every backend checks what a handler returns; the Lambda API
 * checks payloads), so they are copied as they are, not parsed again; a
 * table put still validates the whole item. */
static void put_json(buf_t *b, const char *p, size_t n)
{
    if (n)
        buf_append(b, p, n);
    else
        buf_puts(b, "null");
}

/* Appends the attributes of the item being replaced that the outcome does
 * not set itself (the request's record as the gateway wrote it). */
static void carry_over(buf_t *b, const table_t *t, const table_def_t *def, const char *id)
{
    static const char *const own[] = {"status", "result", "error", "function", "attempts", "completedAt"};
    buf_t old = BUF_INIT;
    err_t err;
    if (table_get(t, id, NULL, &old, &err) != ST_OK)
        return;
    jv_doc_t *d = jv_doc_new_small();
    jv_t *v = jv_parse_cstr(d, old.data);
    for (size_t i = 0; jv_is(v, JV_OBJECT) && i < v->len; i++) {
        const jv_pair_t *p = &v->u.pairs[i];
        int skip = strlen(def->pk) == p->klen && !memcmp(def->pk, p->key, p->klen);
        for (size_t k = 0; k < sizeof own / sizeof own[0] && !skip; k++)
            skip = strlen(own[k]) == p->klen && !memcmp(own[k], p->key, p->klen);
        if (skip)
            continue;
        buf_putc(b, ',');
        jv_write_string(b, p->key, p->klen);
        buf_putc(b, ':');
        jv_write(p->val, b);
    }
    jv_doc_free(d);
    buf_free(&old);
}

static void table_item(buf_t *b, const table_t *t, const table_def_t *def, const fn_outcome_t *o)
{
    char ts[32];
    clock_iso8601(clock_wall_ms(), ts);
    buf_putc(b, '{');
    jv_write_string(b, def->pk, strlen(def->pk));
    buf_putc(b, ':');
    jv_write_string(b, o->request_id, strlen(o->request_id));
    buf_printf(b, ",\"status\":\"%s\",\"%s\":", o->res->ok ? "SUCCEEDED" : "FAILED", o->res->ok ? "result" : "error");
    put_json(b, o->res->payload, o->res->len);
    buf_puts(b, ",\"function\":");
    jv_write_string(b, o->f->def.name, strlen(o->f->def.name));
    buf_printf(b, ",\"attempts\":%d,\"completedAt\":\"%s\"", o->attempts, ts);
    carry_over(b, t, def, o->request_id);
    buf_putc(b, '}');
}

static int send_table(functions_t *fs, const char *name, const fn_outcome_t *o)
{
    table_t *t = fs->ts ? tables_find(fs->ts, name) : NULL;
    if (!t) {
        log_warn("destination_missing", "function=%s table=%s request_id=%s", o->f->def.name, name, o->request_id);
        return -1;
    }
    const table_def_t *def = table_def(t);
    if (def->sk) {
        log_warn("destination_refused", "function=%s table=%s reason=\"a result table has no sort key\"",
                 o->f->def.name, name);
        return -1;
    }
    buf_t b = BUF_INIT;
    static const char *const final[] = {"SUCCEEDED", "DEAD_LETTERED", "EXPIRED", NULL};
    table_item(&b, t, def, o);
    table_cond_t cond = {.unless_attr = "status", .unless_values = final};
    err_t err;
    status_t st = table_put(t, b.data, b.len, &cond, &err);
    buf_free(&b);
    if (st != ST_OK && st != ST_CONDITION_FAILED) {
        log_warn("destination_refused", "function=%s table=%s request_id=%s reason=\"%s\"", o->f->def.name, name,
                 o->request_id, err.msg);
        return -1;
    }
    return 0;
}

/* items:<table> — the result is the item itself (an entity the handler
 * made, as seed 001's user writer does); errors are not stored. */
static int send_items(functions_t *fs, const char *name, const fn_outcome_t *o)
{
    table_t *t = fs->ts ? tables_find(fs->ts, name) : NULL;
    err_t err;
    if (!o->res->ok)
        return 0;
    if (!t || table_put(t, o->res->payload, o->res->len, NULL, &err) != ST_OK) {
        log_warn("destination_refused", "function=%s table=%s request_id=%s reason=\"%s\"", o->f->def.name, name,
                 o->request_id, t ? err.msg : "no such table");
        return -1;
    }
    return 0;
}

static void record(buf_t *b, const fn_outcome_t *o)
{
    char ts[32], arn[300];
    clock_iso8601(clock_wall_ms(), ts);
    function_arn(o->f, arn, sizeof arn);
    buf_printf(b, "{\"version\":\"1.0\",\"timestamp\":\"%s\",\"requestContext\":{\"requestId\":", ts);
    jv_write_string(b, o->request_id, strlen(o->request_id));
    buf_printf(b, ",\"functionArn\":\"%s:$LATEST\",\"condition\":\"%s\",\"approximateInvokeCount\":%d},", arn,
               o->condition, o->attempts);
    buf_puts(b, "\"requestPayload\":");
    put_json(b, o->event, o->event_len);
    buf_puts(b, ",\"responseContext\":{\"statusCode\":200,\"executedVersion\":\"$LATEST\"");
    if (!o->res->ok)
        buf_puts(b, ",\"functionError\":\"Unhandled\"");
    buf_puts(b, "},\"responsePayload\":");
    put_json(b, o->res->payload, o->res->len);
    buf_putc(b, '}');
}

static int send_queue(functions_t *fs, const char *name, const fn_outcome_t *o, const char *body, size_t len)
{
    queue_t *q = fs->qs ? queues_find(fs->qs, name) : NULL;
    err_t err;
    send_res_t res;
    send_req_t r = {.body = body, .body_len = len, .body_given = 1};
    if (q && queue_is_fifo(q)) {
        r.group_id = o->f->def.name;
        r.dedup_id = o->request_id;
    }
    if (!q || queue_send(q, &r, &res, &err) != ST_OK) {
        log_warn("destination_refused", "function=%s queue=%s request_id=%s reason=\"%s\"", o->f->def.name, name,
                 o->request_id, q ? err.msg : "no such queue");
        return -1;
    }
    return 0;
}

static int send_topic(functions_t *fs, const char *name, const fn_outcome_t *o, const char *body, size_t len)
{
    char arn[400];
    topic_arn_for(fs, name, arn, sizeof arn);
    topic_t *t = fs->tp ? topics_find_arn(fs->tp, arn) : NULL;
    err_t err;
    publish_res_t res;
    publish_req_t r = {.message = body, .message_len = len};
    if (!t || topic_publish(t, &r, &res, &err) != ST_OK) {
        log_warn("destination_refused", "function=%s topic=%s request_id=%s reason=\"%s\"", o->f->def.name, name,
                 o->request_id, t ? err.msg : "no such topic");
        return -1;
    }
    return 0;
}

int fn_dest__send(functions_t *fs, const char *dest, const fn_outcome_t *o)
{
    char name[260];
    dest_kind_t kind = dest_parse(dest, name, sizeof name);
    if (kind == DEST_TABLE)
        return send_table(fs, name, o);
    if (kind == DEST_ITEMS)
        return send_items(fs, name, o);
    if (kind == DEST_NONE)
        return -1;
    buf_t b = BUF_INIT;
    record(&b, o);
    int rc = kind == DEST_QUEUE ? send_queue(fs, name, o, b.data, b.len) : send_topic(fs, name, o, b.data, b.len);
    buf_free(&b);
    return rc;
}
