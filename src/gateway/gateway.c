/*
 * gateway — see gateway.h. Request records live in the results table (so a
 * restart keeps them and destinations write into them); Idempotency-Key
 * mappings live in a companion table "<results>.idempotency" with a 24 h
 * TTL. Long polls wait in a hash map by request id, woken by the tables'
 * change callback when an item of the results table becomes final. The
 * records' statuses and how they are written are tables/outcome.h's; the
 * gateway writes ACCEPTED (here) and DEAD_LETTERED (the queues' dead-letter
 * hook), destinations the rest.
 */
#include "gateway/gateway.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gateway/gateway_int.h"
#include "gateway/proxy.h"
#include "queues/queues.h"
#include "tables/outcome.h"
#include "tables/tables.h"
#include "topics/topics.h"
#include "util/alloc.h"
#include "util/clock.h"
#include "util/list.h"
#include "util/logging.h"
#include "util/rand.h"
#include "util/text.h"
#include "util/trace.h"

#define STATUS_PREFIX "/_sluice/requests/"
#define KEYS_PATH "/_sluice/gateway/keys"
#define WAIT_MAX_S 20
#define IDEM_TTL_S (24 * 3600)
#define IDEM_KEY_MAX 255
#define ID_MAX 128
#define ATTRS_MAX 10 /* SQS/SNS: at most 10 message attributes */

typedef struct waiter {
    gateway_t *gw;
    req_ctx_t *ctx;
    char id[ID_MAX];
    loop_timer_t timer;
    list_t link; /* in its id's list */
} waiter_t;

typedef struct wait_list {
    char id[ID_MAX]; /* the map's key */
    list_t waiters;
} wait_list_t;


/* ---- replies ------------------------------------------------------------------------------ */

void gateway__reply_json(req_ctx_t *ctx, int status, const char *extra, const buf_t *b)
{
    router_reply(ctx, status, "application/json", extra, b->data, b->len);
}

/* A JSON body around one string: head, the escaped text, tail. */
static void reply_wrapped(req_ctx_t *ctx, int status, const char *extra, const char *head, const char *text,
                          const char *tail)
{
    buf_t b = BUF_INIT;
    buf_puts(&b, head);
    jv_write_string(&b, text, strlen(text));
    buf_puts(&b, tail);
    gateway__reply_json(ctx, status, extra, &b);
    buf_free(&b);
}

void gateway__reply_message(req_ctx_t *ctx, int status, const char *extra, const char *msg)
{
    reply_wrapped(ctx, status, extra, "{\"message\":", msg, "}");
}

static void reply_invalid(req_ctx_t *ctx, const char *why)
{
    reply_wrapped(ctx, 400, NULL, "{\"message\":\"Invalid request body\",\"errors\":[", why, "]}");
}

/* ---- status ------------------------------------------------------------------------------- */

/* The reply for a request's record (item text, or NULL when unknown):
 * 200 when final (a pending record past its deadline reads EXPIRED), else
 * 202 with Retry-After. */
static void reply_record(req_ctx_t *ctx, const char *id, const char *item)
{
    if (!item) {
        reply_wrapped(ctx, 404, NULL, "{\"message\":\"No request with this id\",\"requestId\":", id, "}");
        return;
    }
    jv_doc_t *d = jv_doc_new();
    jv_t *v = jv_parse_cstr(d, item);
    const char *status = jv_str(jv_get(v, "status"));
    buf_t b = BUF_INIT;
    if (outcome_is_final(status)) {
        buf_puts(&b, item);
        trace_hop_once(id, TRACE_GATEWAY_RESULT, ctx->path, status); /* a final result served, once */
        gateway__reply_json(ctx, 200, NULL, &b);
    } else {
        uint64_t deadline = clock_iso8601_parse(jv_str(jv_get(v, "deadline")));
        int expired = deadline && clock_wall_ms() >= deadline;
        for (size_t i = 0; expired && jv_is(v, JV_OBJECT) && i < v->len; i++) /* replace, not add: one status */
            if (v->u.pairs[i].klen == 6 && memcmp(v->u.pairs[i].key, "status", 6) == 0)
                v->u.pairs[i].val = jv_string(d, "EXPIRED");
        jv_write(v, &b);
        if (expired)
            trace_hop_once(id, TRACE_GATEWAY_RESULT, ctx->path, "EXPIRED");
        gateway__reply_json(ctx, expired ? 200 : 202, expired ? NULL : "Retry-After: 1\r\n", &b);
    }
    buf_free(&b);
    jv_doc_free(d);
}

static int get_record(gateway_t *gw, const char *id, buf_t *out)
{
    table_t *t = tables_find(gw->ts, gw->results);
    err_t err;
    return t && table_get(t, id, NULL, out, &err) == ST_OK ? 0 : -1;
}

/* ---- long polls ---------------------------------------------------------------------------- */

static void waiter_remove(waiter_t *w)
{
    list_del(&w->link);
    if (loop_timer_active(&w->timer))
        loop_timer_stop(w->gw->loop, &w->timer);
    wait_list_t *l = hmap_get(&w->gw->waiting, w->id, strlen(w->id));
    if (l && list_empty(&l->waiters)) {
        hmap_del(&w->gw->waiting, w->id, strlen(w->id));
        free(l);
    }
}

/* The client went away: the router frees ctx. */
static void waiter_cancel(void *arg)
{
    waiter_t *w = arg;
    waiter_remove(w);
    free(w);
}

static void waiter_answer(waiter_t *w, const char *item)
{
    req_ctx_t *ctx = w->ctx;
    ctx->cancel = NULL;
    waiter_remove(w);
    reply_record(ctx, w->id, item);
    free(w);
}

static void on_wait_timeout(loop_t *loop, loop_timer_t *t)
{
    (void)loop;
    waiter_t *w = t->arg;
    buf_t b = BUF_INIT;
    waiter_answer(w, get_record(w->gw, w->id, &b) == 0 ? b.data : NULL);
    buf_free(&b);
}

static void wait_for(gateway_t *gw, req_ctx_t *ctx, const char *id, uint64_t wait_ms)
{
    waiter_t *w = xcalloc(1, sizeof *w);
    w->gw = gw;
    w->ctx = ctx;
    snprintf(w->id, sizeof w->id, "%s", id);
    wait_list_t *l = hmap_get(&gw->waiting, id, strlen(id));
    if (!l) {
        l = xcalloc(1, sizeof *l);
        snprintf(l->id, sizeof l->id, "%s", id);
        list_init(&l->waiters);
        hmap_put(&gw->waiting, l->id, strlen(l->id), l);
    }
    list_push_back(&l->waiters, &w->link);
    loop_timer_init(&w->timer, on_wait_timeout, w);
    loop_timer_start(gw->loop, &w->timer, wait_ms);
    ctx->cancel = waiter_cancel;
    ctx->cancel_arg = w;
    router_park(ctx);
}

/* The tables' change callback: a record of the results table that became
 * final answers its waiters. */
static void on_change(void *arg, table_t *t, const char *old_item, const char *new_item)
{
    gateway_t *gw = arg;
    (void)old_item;
    if (!new_item || !gw->waiting.n || strcmp(table_name(t), gw->results) != 0)
        return;
    jv_doc_t *d = jv_doc_new_small();
    jv_t *v = jv_parse_cstr(d, new_item);
    const char *id = jv_str(jv_get(v, "requestId"));
    int final = outcome_is_final(jv_str(jv_get(v, "status")));
    wait_list_t *l = id && final ? hmap_get(&gw->waiting, id, strlen(id)) : NULL;
    while (l) { /* answering the last waiter frees the list */
        int last = l->waiters.next->next == &l->waiters;
        waiter_answer(list_entry(l->waiters.next, waiter_t, link), new_item);
        if (last)
            break;
    }
    jv_doc_free(d);
}

/* The queues' dead-letter hook: a request whose message reached a
 * dead-letter queue will not be retried; its record (when the request is
 * ours, and not final) says so, and the change callback above answers its
 * long polls. */
static void on_dead_letter(void *arg, queue_t *src, queue_t *dlq, const message_t *m, const char *request_id)
{
    gateway_t *gw = arg;
    table_t *t = request_id ? tables_find(gw->ts, gw->results) : NULL;
    err_t err;
    (void)src;
    if (t && outcome_dead_lettered(t, request_id, queue_name(dlq), m->recv_count, &err) == OUTCOME_REFUSED)
        log_warn("gateway_record_refused", "request_id=%s reason=\"%s\"", request_id, err.msg);
}

void gateway_wake_all(gateway_t *gw)
{
    if (!gw)
        return;
    if (gw->qs)
        queues_remove_dead_letter_cb(gw->qs, on_dead_letter, gw);
    tables_set_change_cb(gw->ts, NULL, NULL); /* table writes after this (teardown) must not reach gw */
    size_t it = 0;
    void *v;
    wait_list_t **lists = xcalloc(gw->waiting.n + 1, sizeof *lists);
    size_t n = 0;
    while (hmap_next(&gw->waiting, &it, &v)) /* collected first: answering changes the map */
        lists[n++] = v;
    for (size_t i = 0; i < n; i++) {
        wait_list_t *l = lists[i];
        for (int last = 0; !last;) {
            waiter_t *w = list_entry(l->waiters.next, waiter_t, link);
            last = l->waiters.next->next == &l->waiters;
            on_wait_timeout(gw->loop, &w->timer);
        }
    }
    free(lists);
}

/* ---- reading a status ---------------------------------------------------------------------- */

/* ?wait=N: 0 when absent; -1 when malformed. */
static int wait_param(const kvv_t *query, uint32_t *out)
{
    const char *w = kvv_get(query, "wait");
    *out = 0;
    if (!w)
        return 0;
    char *end;
    long n = strtol(w, &end, 10);
    if (!*w || *end || n < 0 || n > WAIT_MAX_S)
        return -1;
    *out = (uint32_t)n;
    return 0;
}

static void serve_status(gateway_t *gw, req_ctx_t *ctx, const char *id, const kvv_t *query)
{
    uint32_t wait_s;
    if (!*id || strlen(id) >= ID_MAX) {
        gateway__reply_message(ctx, 400, NULL, "A request id is 1 to 127 characters");
        return;
    }
    if (wait_param(query, &wait_s) != 0) {
        gateway__reply_message(ctx, 400, NULL, "wait must be a whole number of seconds from 0 to 20");
        return;
    }
    buf_t b = BUF_INIT;
    int found = get_record(gw, id, &b) == 0;
    jv_doc_t *d = jv_doc_new_small();
    const char *status = found ? jv_str(jv_get(jv_parse_cstr(d, b.data), "status")) : NULL;
    uint64_t deadline = found ? clock_iso8601_parse(jv_str(jv_get(jv_parse_cstr(d, b.data), "deadline"))) : 0;
    uint64_t now = clock_wall_ms(), wait_ms = (uint64_t)wait_s * 1000;
    if (deadline > now && deadline - now < wait_ms) /* a pending request expires at its deadline: answer then */
        wait_ms = deadline - now + 5;                /* (+5: the loop's timers and the wall clock differ by < 1 ms) */
    if (found && wait_s && !outcome_is_final(status) && !(deadline && deadline <= now))
        wait_for(gw, ctx, id, wait_ms);
    else
        reply_record(ctx, id, found ? b.data : NULL);
    jv_doc_free(d);
    buf_free(&b);
}

const char *gateway__source(const req_ctx_t *ctx, const char *from, const kvv_t *params, const kvv_t *query,
                            char *hdr, size_t hn)
{
    if (strncmp(from, "header.", 7) == 0) {
        router_header(ctx->ex->head, from + 7, hdr, hn);
        return hdr[0] ? hdr : NULL;
    }
    if (strncmp(from, "path.", 5) == 0)
        return kvv_get(params, from + 5);
    if (strncmp(from, "query.", 6) == 0)
        return kvv_get(query, from + 6);
    if (strncmp(from, "value:", 6) == 0)
        return from + 6;
    return NULL;
}

/* ---- accepting ----------------------------------------------------------------------------- */

int gateway__body(const route_t *r, req_ctx_t *ctx, jv_doc_t *d, int strict, jv_t **body)
{
    char why[512];
    *body = ctx->ex->body_len ? jv_parse(d, ctx->ex->body, ctx->ex->body_len, why, sizeof why) : NULL;
    if (!*body && (r->schema || (strict && ctx->ex->body_len))) {
        reply_invalid(ctx, "$: the body is not JSON");
        return -1;
    }
    if (r->schema && schema_validate(r->schema, *body, why, sizeof why) != 0) {
        reply_invalid(ctx, why);
        return -1;
    }
    return 0;
}

typedef struct accepted {
    char id[64];
    char message_id[40]; /* enqueue: the SQS message id (seed 001's status key); else "" */
    char accepted_at[32], deadline[32];
    uint64_t accepted_ms;
} accepted_t;

/* The fields every accepted request's record and reply start with, as
 * plain appends: this runs once per request on the accept path, where
 * printf-style formatting showed up in profiles. The id, message id and
 * times are Sluice's own (UUIDs, ISO 8601): nothing in them to escape. */
static void accepted_head(const accepted_t *a, buf_t *b, const char *status)
{
    buf_puts(b, "{\"requestId\":\"");
    buf_puts(b, a->id);
    if (a->message_id[0]) {
        buf_puts(b, "\",\"messageId\":\"");
        buf_puts(b, a->message_id);
    }
    buf_puts(b, "\",\"status\":\"");
    buf_puts(b, status);
    buf_puts(b, "\",\"acceptedAt\":\"");
    buf_puts(b, a->accepted_at);
    buf_puts(b, "\",\"deadline\":\"");
    buf_puts(b, a->deadline);
    buf_puts(b, "\"");
}

static void accepted_body(const accepted_t *a, buf_t *b, const char *status)
{
    accepted_head(a, b, status);
    buf_puts(b, ",\"statusUrl\":\"" STATUS_PREFIX);
    buf_puts(b, a->id);
    buf_puts(b, "\"}");
}

static void reply_accepted(req_ctx_t *ctx, const accepted_t *a, const char *status)
{
    buf_t b = BUF_INIT;
    char loc[160] = "Location: " STATUS_PREFIX;
    buf_reserve(&b, 384); /* the whole body: one allocation */
    accepted_body(a, &b, status);
    size_t n = strlen(loc), idn = strlen(a->id);
    memcpy(loc + n, a->id, idn); /* a->id: < 64 bytes */
    memcpy(loc + n + idn, "\r\n", 3);
    gateway__reply_json(ctx, 202, loc, &b);
    buf_free(&b);
}

/* The record of the request an earlier call with this Idempotency-Key
 * made, as accepted_t; 0 when there is one. */
static int idem_lookup(gateway_t *gw, const char *key, const route_t *r, accepted_t *a, char *why, size_t wn)
{
    table_t *t = tables_find(gw->ts, gw->idem);
    buf_t b = BUF_INIT, rec = BUF_INIT;
    err_t err;
    int rc = -1;
    if (t && table_get(t, key, NULL, &b, &err) == ST_OK) {
        jv_doc_t *d = jv_doc_new_small();
        jv_t *v = jv_parse_cstr(d, b.data);
        const char *id = jv_str(jv_get(v, "requestId")), *route = jv_str(jv_get(v, "route"));
        if (route && strcmp(route, r->label) != 0) {
            snprintf(why, wn, "this Idempotency-Key was used for %s", route);
            rc = 1;
        } else if (id && get_record(gw, id, &rec) == 0) {
            jv_t *rv = jv_parse_cstr(d, rec.data);
            snprintf(a->id, sizeof a->id, "%s", id);
            const char *at = jv_str(jv_get(rv, "acceptedAt")), *dl = jv_str(jv_get(rv, "deadline"));
            const char *mid = jv_str(jv_get(rv, "messageId"));
            snprintf(a->message_id, sizeof a->message_id, "%s", mid ? mid : "");
            snprintf(a->accepted_at, sizeof a->accepted_at, "%s", at ? at : "");
            snprintf(a->deadline, sizeof a->deadline, "%s", dl ? dl : "");
            rc = 0;
        }
        jv_doc_free(d);
    }
    buf_free(&b);
    buf_free(&rec);
    return rc;
}

static void idem_record(gateway_t *gw, const char *key, const route_t *r, const accepted_t *a)
{
    table_t *t = tables_find(gw->ts, gw->idem);
    buf_t b = BUF_INIT;
    err_t err;
    buf_puts(&b, "{\"key\":");
    jv_write_string(&b, key, strlen(key));
    buf_printf(&b, ",\"requestId\":\"%s\",\"route\":", a->id);
    jv_write_string(&b, r->label, strlen(r->label));
    buf_printf(&b, ",\"expiresAt\":%llu}", (unsigned long long)(a->accepted_ms / 1000 + IDEM_TTL_S));
    if (t)
        table_put(t, b.data, b.len, NULL, &err);
    buf_free(&b);
}

static void put_record(gateway_t *gw, const route_t *r, const accepted_t *a)
{
    table_t *t = tables_find(gw->ts, gw->results);
    buf_t b = BUF_INIT;
    err_t err;
    char exp[32];
    buf_reserve(&b, 384);
    accepted_head(a, &b, "ACCEPTED");
    buf_puts(&b, ",\"route\":");
    jv_write_string(&b, r->label, strlen(r->label));
    buf_puts(&b, ",\"expiresAt\":");
    buf_puts(&b, text_u64(a->accepted_ms / 1000 + gw->ttl_s, exp));
    buf_putc(&b, '}');
    table_cond_t cond = {.if_absent = 1};
    if (t)
        table_put(t, b.data, b.len, &cond, &err);
    buf_free(&b);
}

/* The message attributes of an accepted request: requestId first, then the
 * route's (strings point into v, query, params or the scratch buffers). */
typedef struct attr_set {
    const char *name[ATTRS_MAX + 1], *type[ATTRS_MAX + 1], *value[ATTRS_MAX + 1];
    size_t len[ATTRS_MAX + 1];
    size_t n;
    char scratch[ATTRS_MAX][256];
} attr_set_t;

static void attrs_collect(const route_t *r, const req_ctx_t *ctx, const jv_t *body, const kvv_t *params,
                          const kvv_t *query, const char *id, attr_set_t *s)
{
    s->n = 0;
    s->name[0] = "requestId", s->type[0] = "String", s->value[0] = id, s->len[0] = strlen(id);
    s->n = 1;
    for (size_t i = 0; i < r->def.nattrs && s->n <= ATTRS_MAX; i++) {
        const char *from = r->attrs[i].from, *val = NULL, *type = "String";
        size_t len = 0;
        if (strncmp(from, "body.", 5) == 0) {
            const jv_t *f = jv_get(body, from + 5);
            if (jv_is(f, JV_STRING) || jv_is(f, JV_NUMBER)) {
                val = f->u.str, len = f->len;
                type = jv_is(f, JV_NUMBER) ? "Number" : "String";
            } else if (jv_is(f, JV_BOOL)) {
                val = f->boolean ? "true" : "false", len = strlen(val);
            }
        } else {
            val = gateway__source(ctx, from, params, query, s->scratch[i], sizeof s->scratch[i]);
            len = val ? strlen(val) : 0;
        }
        if (!val || !len)
            continue;
        s->name[s->n] = r->attrs[i].name, s->type[s->n] = type, s->value[s->n] = val, s->len[s->n] = len;
        s->n++;
    }
}

/* Publishes or enqueues the body; an enqueued message's id goes to a->message_id. */
static status_t send_work(gateway_t *gw, const route_t *r, req_ctx_t *ctx, const attr_set_t *s, accepted_t *a,
                          err_t *err)
{
    const char *body = ctx->ex->body;
    size_t blen = ctx->ex->body_len;
    if (r->def.kind == GW_PUBLISH) {
        pub_attr_t pa[ATTRS_MAX + 1];
        for (size_t i = 0; i < s->n; i++)
            pa[i] = (pub_attr_t){.name = s->name[i], .type = s->type[i], .value = s->value[i], .value_len = s->len[i]};
        topic_t *t = topics_find(gw->tp, r->def.target);
        publish_req_t pr = {.message = body, .message_len = blen, .attrs = pa, .nattrs = s->n, .trace = a->id};
        publish_res_t res;
        if (!t)
            return err_set(err, ST_NOT_FOUND, "topic %s is gone", r->def.target);
        return topic_publish(t, &pr, &res, err);
    }
    msg_attr_t ma[ATTRS_MAX + 1];
    for (size_t i = 0; i < s->n; i++)
        ma[i] = (msg_attr_t){.name = s->name[i], .type = s->type[i], .value = s->value[i], .value_len = s->len[i]};
    queue_t *q = queues_find(gw->qs, r->def.target);
    /* the request id is the trace id of the work (docs/TRACING.md) */
    msg_attr_t trace = {"AWSTraceHeader", "String", a->id, strlen(a->id)};
    send_req_t sr = {.body = body, .body_len = blen, .body_given = 1, .attrs = ma, .nattrs = s->n,
                     .sys_attrs = &trace, .nsys = 1};
    send_res_t res;
    if (!q)
        return err_set(err, ST_NOT_FOUND, "queue %s is gone", r->def.target);
    if (queue_is_fifo(q)) { /* one group per route, deduplicated by request id */
        sr.group_id = r->group;
        sr.dedup_id = s->value[0];
    }
    status_t st = queue_send(q, &sr, &res, err);
    if (st == ST_OK)
        snprintf(a->message_id, sizeof a->message_id, "%s", res.message_id);
    return st;
}

/* Work the engine would not take: its target gone (503), a queue full (429:
 * the queue's bound on bytes held, directly or through a topic — come back
 * when consumers have drained it), or a message it refuses (400). */
static void reply_refused(req_ctx_t *ctx, status_t st, const char *why)
{
    if (st == ST_OVER_LIMIT || st == ST_REQUEST_THROTTLED)
        gateway__reply_message(ctx, 429, "Retry-After: 1\r\n", why);
    else
        gateway__reply_message(ctx, st == ST_NOT_FOUND ? 503 : 400, NULL, why);
}

static void serve_accept(gateway_t *gw, const route_t *r, req_ctx_t *ctx, const kvv_t *params, const kvv_t *query)
{
    jv_doc_t *d = jv_doc_new();
    char why[512], key[IDEM_KEY_MAX + 2];
    jv_t *body = NULL;
    int needs_body = r->schema != NULL;
    for (size_t i = 0; i < r->def.nattrs; i++)
        needs_body |= strncmp(r->attrs[i].from, "body.", 5) == 0;
    if (needs_body && gateway__body(r, ctx, d, 0, &body) != 0)
        goto out;
    router_header(ctx->ex->head, "Idempotency-Key", key, sizeof key);
    if (strlen(key) > IDEM_KEY_MAX) {
        gateway__reply_message(ctx, 400, NULL, "Idempotency-Key is at most 255 characters");
        goto out;
    }
    accepted_t a = {0};
    int again = key[0] ? idem_lookup(gw, key, r, &a, why, sizeof why) : -1;
    if (again == 1) {
        gateway__reply_message(ctx, 422, NULL, why);
        goto out;
    }
    if (again == 0) { /* the same request again: its id, nothing published */
        reply_accepted(ctx, &a, "ACCEPTED");
        goto out;
    }
    rand_uuid(a.id);
    a.accepted_ms = clock_wall_ms();
    clock_iso8601(a.accepted_ms, a.accepted_at);
    clock_iso8601(a.accepted_ms + (uint64_t)r->def.sla_s * 1000, a.deadline);
    attr_set_t s;
    err_t err;
    attrs_collect(r, ctx, body, params, query, a.id, &s);
    uint64_t t_us = clock_wall_us(); /* the accepted hop comes first, though recorded once the work is in */
    status_t st = send_work(gw, r, ctx, &s, &a, &err);
    if (st != ST_OK) {
        log_warn("gateway_refused", "route=\"%s\" request_id=%s reason=\"%s\"", r->label, a.id, err.msg);
        reply_refused(ctx, st, err.msg);
        goto out;
    }
    put_record(gw, r, &a);
    if (key[0])
        idem_record(gw, key, r, &a);
    trace_hop_at(a.id, TRACE_GATEWAY_ACCEPTED, r->label, r->def.target, 0, t_us);
    log_debug("request_accepted", "route=\"%s\" request_id=%s trace=%s", r->label, a.id, a.id);
    reply_accepted(ctx, &a, "ACCEPTED");
out:
    jv_doc_free(d);
}

/* ---- dispatch ------------------------------------------------------------------------------ */

static int admit(gateway_t *gw, const route_t *r, req_ctx_t *ctx)
{
    if (!r->def.api_key)
        return 1;
    const http_header_t *h = http_head_find(ctx->ex->head, "x-api-key");
    keys_verdict_t v;
    keys_admit_t a = keys_admit(gw->keys, h ? h->value : NULL, h ? h->value_len : 0, clock_wall_ms(), &v);
    if (a == KEYS_ADMIT_OK)
        return 1;
    if (a == KEYS_ADMIT_MISSING || a == KEYS_ADMIT_UNKNOWN) {
        gateway__reply_message(ctx, 403, NULL, "Forbidden");
        return 0;
    }
    char extra[64];
    snprintf(extra, sizeof extra, "Retry-After: %llu\r\n", (unsigned long long)v.retry_after_s);
    log_debug("request_throttled", "route=\"%s\" key=%s reason=%s", r->label, v.key ? v.key : "-", keys_admit_name(a));
    gateway__reply_message(ctx, 429, extra, a == KEYS_ADMIT_THROTTLED ? "Too Many Requests" : "Limit Exceeded");
    return 0;
}

/* GET /_sluice/gateway/keys: every key's counters, bucket and quota. */
static void serve_keys(gateway_t *gw, req_ctx_t *ctx, int get)
{
    buf_t b = BUF_INIT;
    if (!get) {
        gateway__reply_message(ctx, 405, "Allow: GET\r\n", "Method Not Allowed");
        return;
    }
    keys_write_json(gw->keys, clock_wall_ms(), &b);
    gateway__reply_json(ctx, 200, NULL, &b);
    buf_free(&b);
}

/* A route of a matched method, its key admitted. */
static void serve_route(gateway_t *gw, const route_t *r, req_ctx_t *ctx, const kvv_t *params, const kvv_t *query)
{
    char hdr[ID_MAX + 2];
    const char *id;
    switch (r->def.kind) {
    case GW_RESULT:
        if (!(id = gateway__source(ctx, r->def.id_from, params, query, hdr, sizeof hdr)))
            gateway__reply_message(ctx, 400, NULL, "The request id is missing");
        else
            serve_status(gw, ctx, id, query);
        break;
    case GW_ITEM:
        gateway__serve_item(gw, r, ctx, params, query);
        break;
    case GW_INVOKE:
        gateway__serve_invoke(gw, r, ctx, params, query);
        break;
    default:
        serve_accept(gw, r, ctx, params, query);
    }
}

/* The gateway's own paths: the usage-plan admin and request records. */
static void serve_own(gateway_t *gw, req_ctx_t *ctx, int get)
{
    kvv_t query = {0};
    char why[128];
    if (strcmp(ctx->path, KEYS_PATH) == 0)
        serve_keys(gw, ctx, get);
    else if (!get)
        gateway__reply_message(ctx, 405, "Allow: GET\r\n", "Method Not Allowed");
    else if (router_query(ctx->ex, &query, why, sizeof why) != 0)
        gateway__reply_message(ctx, 400, NULL, why);
    else
        serve_status(gw, ctx, ctx->path + strlen(STATUS_PREFIX), &query);
    kvv_free(&query);
}

/* A route's path matched (m: its method too, or not). */
static void serve_matched(gateway_t *gw, req_ctx_t *ctx, routes_result_t m, const route_t *r, kvv_t *params,
                          const char *allow)
{
    kvv_t query = {0};
    char why[128];
    if (m == ROUTES_NO_METHOD) {
        char extra[128];
        snprintf(extra, sizeof extra, "Allow: %s\r\n", allow);
        gateway__reply_message(ctx, 405, extra, "Method Not Allowed");
    } else if (r->def.kind == GW_PROXY) { /* the query goes on as it came, parsed or not */
        if (admit(gw, r, ctx))
            proxy_forward(gw->client, &r->proxy, ctx, params);
    } else if (router_query(ctx->ex, &query, why, sizeof why) != 0) {
        gateway__reply_message(ctx, 400, NULL, why);
    } else if (admit(gw, r, ctx)) {
        serve_route(gw, r, ctx, params, &query);
    }
    kvv_free(&query);
}

int gateway_handle(gateway_t *gw, req_ctx_t *ctx)
{
    const http_head_t *h = ctx->ex->head;
    char method[16];
    kvv_t params = {0};
    size_t mlen = h->method_len < 15 ? h->method_len : 15;
    memcpy(method, h->method, mlen);
    method[mlen] = '\0';
    int own = strcmp(ctx->path, KEYS_PATH) == 0 || strncmp(ctx->path, STATUS_PREFIX, strlen(STATUS_PREFIX)) == 0;
    void *val = NULL;
    char allow[96];
    routes_result_t m = own ? ROUTES_NO_PATH
                            : routes_match(gw->routes, method, ctx->path, strlen(ctx->path), &val, &params, allow,
                                           sizeof allow);
    if (!own && m == ROUTES_NO_PATH)
        return 0;
    if (m == ROUTES_MATCHED)
        ctx->route = ((const route_t *)val)->stats;
    if (router_shed(ctx)) /* over server.max_pending_requests; the router adds Retry-After */
        gateway__reply_message(ctx, 503, NULL, "Too many requests in progress; retry after a pause.");
    else if (own)
        serve_own(gw, ctx, strcmp(method, "GET") == 0);
    else
        serve_matched(gw, ctx, m, val, &params, allow);
    kvv_free(&params);
    return 1;
}

/* ---- building ------------------------------------------------------------------------------ */

int gateway_route_stats(const gateway_t *gw, size_t i, const char **label, const router_route_stats_t **stats)
{
    if (!gw || i >= gw->n)
        return 0;
    *label = gw->list[i]->label;
    *stats = gw->list[i]->stats;
    return 1;
}

int gateway_reserved_path(const char *tmpl)
{
    static const char *const reserved[] = {"/_sluice", "/2015-03-31", "/2018-06-01", "/health", "/ready", "/metrics"};
    if (strcmp(tmpl, "/") == 0)
        return 1; /* the AWS query protocol posts to / */
    for (size_t i = 0; i < sizeof reserved / sizeof reserved[0]; i++) {
        size_t n = strlen(reserved[i]);
        if (strncmp(tmpl, reserved[i], n) == 0 && (tmpl[n] == 0 || tmpl[n] == '/'))
            return 1;
    }
    return 0;
}

static void route_free(route_t *r)
{
    free((char *)r->def.method);
    free((char *)r->def.path);
    free((char *)r->def.target);
    free((char *)r->def.id_from);
    free((char *)r->def.key_from);
    free((char *)r->def.index);
    free((char *)r->def.schema);
    for (size_t i = 0; i < r->def.nfields; i++)
        free(r->fields[i]);
    free(r->fields);
    free((char *)r->def.upstream);
    for (size_t i = 0; i < r->def.nattrs; i++) {
        free((char *)r->attrs[i].name);
        free((char *)r->attrs[i].from);
    }
    free(r->attrs);
    schema_free(r->schema);
    free(r->stats);
    free(r);
}

static int source_ok(const char *from, int body_allowed)
{
    static const char *const kinds[] = {"header.", "path.", "query.", "value:", "body."};
    for (size_t i = 0; from && i < sizeof kinds / sizeof kinds[0] - (body_allowed ? 0 : 1); i++)
        if (strncmp(from, kinds[i], strlen(kinds[i])) == 0 && from[strlen(kinds[i])])
            return 1;
    return 0;
}

/* Whether a route template has the parameter {name} (or greedy {name+}). */
static int template_has_param(const char *tmpl, const char *name)
{
    size_t n = strlen(name);
    for (const char *p = tmpl ? strchr(tmpl, '{') : NULL; p; p = strchr(p + 1, '{'))
        if (strncmp(p + 1, name, n) == 0 && (p[n + 1] == '}' || (p[n + 1] == '+' && p[n + 2] == '}')))
            return 1;
    return 0;
}

/* A proxy route forwards the request as it is: attributes and a schema
 * would be silently ignored, so they are refused. */
static status_t proxy_route_check(gateway_t *gw, const gw_route_def_t *d, const char *label, err_t *err)
{
    char why[600];
    if (!gw->client)
        return err_set(err, ST_VALIDATION_ERROR, "route %s: proxy routes need the daemon's HTTP client", label);
    if (!d->upstream || !*d->upstream)
        return err_set(err, ST_VALIDATION_ERROR, "route %s: a proxy route needs upstream: <http(s) URL>", label);
    if (d->timeout_s > PROXY_TIMEOUT_MAX_S)
        return err_set(err, ST_VALIDATION_ERROR, "route %s: timeout must be 1..%d seconds", label,
                       PROXY_TIMEOUT_MAX_S);
    if (d->nattrs || d->schema)
        return err_set(err, ST_VALIDATION_ERROR, "route %s: a proxy route forwards the request as it is (no "
                                                 "attributes, no schema)", label);
    if (proxy_check(d->upstream, d->path, why, sizeof why) != 0)
        return err_set(err, ST_VALIDATION_ERROR, "route %s: %s", label, why);
    return ST_OK;
}

static status_t route_check(gateway_t *gw, const gw_route_def_t *d, route_t *r, err_t *err)
{
    const char *label = r->label;
    if (gateway_reserved_path(d->path ? d->path : ""))
        return err_set(err, ST_VALIDATION_ERROR, "route %s: the path is Sluice's own", label);
    if (d->kind == GW_PROXY)
        return proxy_route_check(gw, d, label, err);
    status_t st = ST_OK;
    if (d->kind == GW_RESULT || d->kind == GW_ITEM) { /* a value taken from the request */
        const char *from = d->kind == GW_RESULT ? d->id_from : d->key_from;
        const char *what = d->kind == GW_RESULT ? "id_from" : "key";
        if (!source_ok(from, 0) || strncmp(from, "value:", 6) == 0)
            return err_set(err, ST_VALIDATION_ERROR, "route %s: %s must be header.<name>, path.<param> or "
                                                     "query.<name>", label, what);
        if (strncmp(from, "path.", 5) == 0 && !template_has_param(d->path, from + 5))
            return err_set(err, ST_VALIDATION_ERROR, "route %s: %s %s: the path has no {%s}", label, what, from,
                           from + 5);
        if (d->kind == GW_ITEM)
            st = gateway__item_check(gw, r, err);
    } else if (d->kind == GW_INVOKE) {
        st = gateway__invoke_check(gw, r, err);
    } else {
        char arn[400];
        snprintf(arn, sizeof arn, "arn:aws:sns:%s:%s:%s", gw->region, gw->account, d->target ? d->target : "");
        if (d->kind == GW_PUBLISH && (!d->target || !topics_find_arn(gw->tp, arn)))
            return err_set(err, ST_VALIDATION_ERROR, "route %s: no topic named %s", label, d->target ? d->target : "");
        if (d->kind == GW_ENQUEUE && (!d->target || !queues_find(gw->qs, d->target)))
            return err_set(err, ST_VALIDATION_ERROR, "route %s: no queue named %s", label, d->target ? d->target : "");
    }
    if (st != ST_OK)
        return st;
    if (d->nattrs > ATTRS_MAX - 1)
        return err_set(err, ST_VALIDATION_ERROR, "route %s: at most %d attributes (requestId is one of the 10)", label,
                       ATTRS_MAX - 1);
    for (size_t i = 0; i < d->nattrs; i++) {
        const char *n = d->attrs[i].name;
        if (!n || !*n || strcmp(n, "requestId") == 0 || !source_ok(d->attrs[i].from, 1))
            return err_set(err, ST_VALIDATION_ERROR,
                           "route %s: attribute %s: a name other than requestId, from body.<field>, header.<name>, "
                           "path.<param>, query.<name> or value:<text>", label, n ? n : "(none)");
    }
    if (d->schema) {
        jv_doc_t *doc = jv_doc_new();
        char why[256];
        jv_t *v = jv_parse(doc, d->schema, strlen(d->schema), why, sizeof why);
        r->schema = v ? schema_compile(v, why, sizeof why) : NULL;
        jv_doc_free(doc);
        if (!r->schema)
            return err_set(err, ST_VALIDATION_ERROR, "route %s: schema: %s", label, why);
    }
    return ST_OK;
}

static route_t *route_new(const gw_route_def_t *d)
{
    route_t *r = xcalloc(1, sizeof *r);
    r->stats = xmalloc(sizeof *r->stats);
    router_route_stats_init(r->stats);
    r->def = *d;
    r->def.method = xstrdup(d->method ? d->method : "");
    r->def.path = xstrdup(d->path ? d->path : "");
    r->def.target = xstrdup_opt(d->target);
    r->def.id_from = xstrdup_opt(d->id_from);
    r->def.key_from = xstrdup_opt(d->key_from);
    r->def.index = xstrdup_opt(d->index);
    r->fields = xcalloc(d->nfields ? d->nfields : 1, sizeof *r->fields);
    for (size_t i = 0; i < d->nfields; i++)
        r->fields[i] = xstrdup(d->fields[i] ? d->fields[i] : "");
    r->def.fields = (const char *const *)r->fields;
    r->def.schema = xstrdup_opt(d->schema);
    r->def.upstream = xstrdup_opt(d->upstream);
    r->def.sla_s = d->sla_s ? d->sla_s : 30;
    r->def.timeout_s = d->timeout_s ? d->timeout_s : PROXY_TIMEOUT_DEFAULT_S;
    r->attrs = xcalloc(d->nattrs ? d->nattrs : 1, sizeof *r->attrs);
    for (size_t i = 0; i < d->nattrs; i++) {
        r->attrs[i].name = xstrdup_opt(d->attrs[i].name);
        r->attrs[i].from = xstrdup_opt(d->attrs[i].from);
    }
    r->def.attrs = r->attrs;
    snprintf(r->label, sizeof r->label, "%s %s", r->def.method, r->def.path);
    snprintf(r->group, sizeof r->group, "%s:%s", r->def.method, r->def.path);
    for (char *c = r->group; *c; c++) /* SQS: alphanumerics and punctuation only */
        if (*c <= 0x20 || *c >= 0x7f)
            *c = '_';
    r->proxy = (proxy_route_t){r->def.upstream, r->def.path, r->def.timeout_s, r->label};
    return r;
}

static void idem_name(const char *results, char *out, size_t n)
{
    snprintf(out, n, "%s.idempotency", results);
}

status_t gateway_declare_tables(struct tables *ts, const char *results_table, err_t *err)
{
    table_t *t;
    char idem[TABLE_NAME_MAX + 16];
    const char *name = results_table ? results_table : GATEWAY_RESULTS_DEFAULT;
    idem_name(name, idem, sizeof idem);
    table_def_t res = {.name = name, .pk = "requestId", .ttl_attr = "expiresAt"};
    table_def_t ix = {.name = idem, .pk = "key", .ttl_attr = "expiresAt"};
    status_t st = tables_create(ts, &res, &t, err);
    if (st == ST_OK)
        st = tables_create(ts, &ix, &t, err);
    return st == ST_OK ? ST_OK
                       : err_set(err, ST_VALIDATION_ERROR, "gateway results table %s (partition key requestId, TTL "
                                                           "attribute expiresAt): %s", name, err->msg);
}

gateway_t *gateway_new(const gateway_config_t *cfg, loop_t *loop, struct queues *qs, topics_t *tp,
                       struct tables *ts, struct functions *fs, err_t *err)
{
    gateway_t *gw = xcalloc(1, sizeof *gw);
    gw->loop = loop;
    gw->fs = fs;
    gw->qs = qs;
    gw->tp = tp;
    gw->ts = ts;
    gw->client = cfg->client;
    gw->region = xstrdup(cfg->region ? cfg->region : "us-east-1");
    gw->account = xstrdup(cfg->account ? cfg->account : "000000000000");
    gw->results = xstrdup(cfg->results_table ? cfg->results_table : GATEWAY_RESULTS_DEFAULT);
    size_t n = strlen(gw->results) + 16;
    gw->idem = xmalloc(n);
    idem_name(gw->results, gw->idem, n);
    gw->ttl_s = cfg->results_ttl_s ? cfg->results_ttl_s : 86400;
    gw->routes = routes_new();
    gw->keys = keys_new();
    hmap_init(&gw->waiting);
    status_t st = ST_OK;
    for (size_t i = 0; st == ST_OK && i < cfg->nplans; i++)
        st = keys_add_plan(gw->keys, &cfg->plans[i], err);
    for (size_t i = 0; st == ST_OK && i < cfg->nkeys; i++)
        st = keys_add_key(gw->keys, &cfg->keys[i], err);
    gw->list = xcalloc(cfg->nroutes ? cfg->nroutes : 1, sizeof *gw->list);
    for (size_t i = 0; st == ST_OK && i < cfg->nroutes; i++) {
        route_t *r = route_new(&cfg->routes[i]);
        gw->list[gw->n++] = r;
        st = route_check(gw, &cfg->routes[i], r, err);
        if (st == ST_OK && r->def.api_key && !keys_count(gw->keys))
            st = err_set(err, ST_VALIDATION_ERROR, "route %s wants an API key but no api_keys are declared", r->label);
        if (st == ST_OK && routes_add(gw->routes, r->def.method, r->def.path, r, err) != ST_OK)
            st = err_set(err, ST_VALIDATION_ERROR, "route %s: %s", r->label, err->msg);
    }
    if (st == ST_OK)
        st = gateway_declare_tables(ts, gw->results, err);
    if (st != ST_OK) {
        gateway_free(gw);
        return NULL;
    }
    tables_set_change_cb(ts, on_change, gw);
    if (qs && queues_add_dead_letter_cb(qs, on_dead_letter, gw) != 0)
        log_warn("gateway_dead_letters_unwatched", "reason=\"no free dead-letter hook\"");
    return gw;
}

void gateway_free(gateway_t *gw)
{
    if (!gw)
        return;
    if (gw->qs)
        queues_remove_dead_letter_cb(gw->qs, on_dead_letter, gw);
    size_t it = 0;
    void *v;
    while (hmap_next(&gw->waiting, &it, &v)) { /* the router answers or drops their requests */
        wait_list_t *l = v;
        while (!list_empty(&l->waiters)) {
            waiter_t *w = list_entry(l->waiters.next, waiter_t, link);
            list_del(&w->link);
            if (loop_timer_active(&w->timer))
                loop_timer_stop(gw->loop, &w->timer);
            w->ctx->cancel = NULL;
            free(w);
        }
        free(l);
    }
    hmap_free(&gw->waiting);
    for (size_t i = 0; i < gw->n; i++)
        route_free(gw->list[i]);
    free(gw->list);
    routes_free(gw->routes);
    keys_free(gw->keys);
    free(gw->region);
    free(gw->account);
    free(gw->results);
    free(gw->idem);
    free(gw);
}
