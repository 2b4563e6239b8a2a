/*
 * dest — where outcomes go: "table:<name>" keeps the request's record
 * (below); "queue:<name>" and "topic:<name>" (or their ARNs)
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
 * "table:<name>" writes the request's record (tables/outcome.h: statuses,
 * final ones never rewritten, merging into the gateway's record, EXPIRED
 * past its deadline) under the request id:
 *
 *   success                       SUCCEEDED, "result", function, attempts, completedAt
 *   failure, a retry follows      RUNNING, "lastError", function, attempts
 *     (a mapping's failed record: its queue delivers it again, or moves it
 *      to its dead-letter queue, which writes DEAD_LETTERED)
 *   failure, nothing retries      FAILED, "error", function, attempts, completedAt
 *     (an asynchronous invocation whose retries are exhausted)
 *   an invocation starts          RUNNING, attempts, startedAt (fn_dest__running:
 *                                 only into an existing record, skipped past its deadline)
 *
 * Queue and topic destinations get Lambda's record for every outcome they
 * are named for (a mapping's on_failure: each failed attempt).
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
#include "tables/outcome.h"
#include "tables/tables.h"
#include "topics/topics.h"
#include "util/clock.h"
#include "util/jv.h"
#include "util/logging.h"
#include "util/trace.h"

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

table_t *fn_dest__table(const functions_t *fs, const char *dest)
{
    char name[260];
    return fs->ts && dest && dest_parse(dest, name, sizeof name) == DEST_TABLE ? tables_find(fs->ts, name) : NULL;
}

/* "2026-11-24T05:00:00.123Z" with its quotes: a JSON value. */
static const char *json_now(char out[40])
{
    out[0] = '"';
    clock_iso8601(clock_wall_ms(), out + 1);
    strcat(out, "\"");
    return out;
}

/* The record's new status and attributes: SUCCEEDED with the result; a
 * failure that will be retried leaves it RUNNING with lastError; a failure
 * nothing retries is FAILED with the error. */
/* The outcome's id in the journal. */
static const char *journal(const fn_outcome_t *o)
{
    return o->journal ? o->journal : o->trace;
}

static int table_outcome(functions_t *fs, const char *name, const fn_outcome_t *o, int flags)
{
    table_t *t = fs->ts ? tables_find(fs->ts, name) : NULL;
    if (!t) {
        log_warn("destination_missing", "function=%s table=%s request_id=%s", o->f->def.name, name, o->request_id);
        return -1;
    }
    char ts[40], num[16];
    buf_t fname = BUF_INIT;
    jv_write_string(&fname, o->f->def.name, strlen(o->f->def.name));
    snprintf(num, sizeof num, "%d", o->attempts);
    int retried = !o->res->ok && o->retried;
    const char *status = o->res->ok ? "SUCCEEDED" : retried ? "RUNNING" : "FAILED";
    const char *key = o->res->ok ? "result" : retried ? "lastError" : "error";
    const char *value = o->res->len ? o->res->payload : "null"; /* JSON by the contract, see put_json */
    outcome_attr_t a[] = {{key, value, o->res->len ? o->res->len : 4},
                          {"function", fname.data, fname.len},
                          {"attempts", num, strlen(num)},
                          {"completedAt", json_now(ts), strlen(ts)}};
    err_t err;
    outcome_res_t r = outcome_write(t, o->request_id, status, a, retried ? 3 : 4, flags, &err);
    buf_free(&fname);
    const char *tr = o->trace ? o->trace : "", *trk = o->trace ? " trace=" : "";
    if (r == OUTCOME_REFUSED) {
        log_warn("destination_refused", "function=%s table=%s request_id=%s reason=\"%s\"%s%s", o->f->def.name,
                 name, o->request_id, err.msg, trk, tr);
        return -1;
    }
    if (r == OUTCOME_EXPIRED)
        log_info("request_expired",
                 "function=%s table=%s request_id=%s outcome=%s reason=\"after its deadline\"%s%s", o->f->def.name,
                 name, o->request_id, status, trk, tr);
    trace_hop(journal(o), TRACE_TABLE_WRITTEN, name, r == OUTCOME_EXPIRED ? "EXPIRED (after its deadline)" : status,
              0);
    return 0;
}

/* The destination's hop, before the send (whose own hops follow it): a
 * traced outcome's message or publish carries its trace on; an untraced one
 * goes on under the new message's id, linked once the send gave it. */
static uint64_t trace_sending(const fn_outcome_t *o, const char *dest)
{
    return trace_hop_link(journal(o), TRACE_DESTINATION_SENT, dest, NULL, NULL);
}

static void trace_sent(const fn_outcome_t *o, uint64_t hop, const char *msg_id)
{
    if (!o->trace)
        trace_set_link(hop, msg_id);
}

static void trace_refused(uint64_t hop, const char *why)
{
    trace_amend(hop, TRACE_DESTINATION_FAILED, why);
}

static int send_table(functions_t *fs, const char *name, const fn_outcome_t *o)
{
    return table_outcome(fs, name, o, OUTCOME_CREATE);
}

table_t *fn_dest__records(const functions_t *fs)
{
    return fs->records && fs->ts ? tables_find(fs->ts, fs->records) : NULL;
}

void fn_dest__track(functions_t *fs, const char *dest, const fn_outcome_t *o)
{
    char name[260];
    if (!fs->records || !o->request_id || !*o->request_id || !fn_dest__records(fs))
        return;
    if (dest && dest_parse(dest, name, sizeof name) == DEST_TABLE && strcmp(name, fs->records) == 0)
        return; /* written there already */
    table_outcome(fs, fs->records, o, 0);
}

void fn_dest__running(table_t *t, const char *request_id, uint32_t attempts)
{
    char ts[40], num[16];
    snprintf(num, sizeof num, "%u", attempts);
    outcome_attr_t a[] = {{"attempts", num, strlen(num)}, {"startedAt", json_now(ts), strlen(ts)}};
    err_t err;
    if (outcome_write(t, request_id, "RUNNING", a, 2, OUTCOME_PROGRESS, &err) == OUTCOME_REFUSED)
        log_warn("destination_refused", "table=%s request_id=%s reason=\"%s\"", table_name(t), request_id, err.msg);
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
    trace_hop(journal(o), TRACE_TABLE_WRITTEN, name, "item", 0);
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
    msg_attr_t trace = {"AWSTraceHeader", "String", o->trace, o->trace ? strlen(o->trace) : 0};
    send_req_t r = {.body = body, .body_len = len, .body_given = 1, .sys_attrs = &trace, .nsys = o->trace != NULL};
    if (q && queue_is_fifo(q)) {
        r.group_id = o->f->def.name;
        r.dedup_id = o->request_id;
    }
    send_res_t res;
    uint64_t hop = trace_sending(o, name);
    if (!q || queue_send(q, &r, &res, &err) != ST_OK) {
        trace_refused(hop, q ? err.msg : "no such queue");
        log_warn("destination_refused", "function=%s queue=%s request_id=%s reason=\"%s\"", o->f->def.name, name,
                 o->request_id, q ? err.msg : "no such queue");
        return -1;
    }
    trace_sent(o, hop, res.message_id);
    return 0;
}

static int send_topic(functions_t *fs, const char *name, const fn_outcome_t *o, const char *body, size_t len)
{
    char arn[400];
    topic_arn_for(fs, name, arn, sizeof arn);
    topic_t *t = fs->tp ? topics_find_arn(fs->tp, arn) : NULL;
    err_t err;
    publish_res_t res;
    publish_req_t r = {.message = body, .message_len = len, .trace = o->trace};
    uint64_t hop = trace_sending(o, name);
    if (!t || topic_publish(t, &r, &res, &err) != ST_OK) {
        trace_refused(hop, t ? err.msg : "no such topic");
        log_warn("destination_refused", "function=%s topic=%s request_id=%s reason=\"%s\"", o->f->def.name, name,
                 o->request_id, t ? err.msg : "no such topic");
        return -1;
    }
    trace_sent(o, hop, res.message_id);
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
