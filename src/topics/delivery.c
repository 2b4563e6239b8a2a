/*
 * delivery — the outbox of deliveries owed to endpoints (http, https, and
 * functions once they exist), the SNS delivery policy's retry schedule, and
 * the subscription dead-letter queue.
 *
 * An owed delivery is a DLV_PUT record (written in the publish's group) and
 * an outbox item in memory; it leaves the outbox with a DLV_DEL record when
 * the endpoint took it, or when the policy is exhausted (or the failure is
 * permanent) and the message went to the subscription's RedrivePolicy DLQ —
 * in one group, so a crash cannot both lose the message and drop the item.
 * Items whose subscription is gone are dropped (SNS stops delivering to a
 * deleted subscription). A dead letter from the outbox is never refused by
 * the DLQ's bound on bytes held: the item it leaves was holding the same
 * bytes, and refusing would lose a message SNS accepted.
 *
 * Retry schedule for retry k (1-based) of a policy with N = numRetries:
 *   k <= numNoDelayRetries                     at once
 *   k <= no + numMinDelayRetries               minDelayTarget
 *   k <= N - numMaxDelayRetries                backoff phase from min to max
 *   otherwise                                  maxDelayTarget
 * The backoff phase spreads its B retries from min to max by the policy's
 * function: linear (even steps), arithmetic (steps growing by one unit),
 * geometric (constant ratio) or exponential (doubling). SNS does not publish
 * its exact curves; these reach the same end points.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "topics/topics_int.h"
#include "util/alloc.h"
#include "util/logging.h"
#include "util/trace.h"

static outbox_item_t *item_get(const topics_t *tp, uint64_t id)
{
    return hmap_get(&tp->outbox, &id, sizeof id);
}

static void item_release(outbox_item_t *it)
{
    free(it->kind);
    free(it->message_id);
    free(it->body);
    free(it->last_error);
    free(it);
}

static void item_free(topics_t *tp, outbox_item_t *it)
{
    hmap_del(&tp->outbox, &it->id, sizeof it->id);
    if (heap_contains(&it->due))
        heap_remove(&tp->retry_heap, &it->due);
    item_release(it);
}

static void schedule(topics_t *tp, outbox_item_t *it, uint64_t at)
{
    it->due_at = at;
    heap_set(&tp->retry_heap, &it->due, at);
    topics__ask_deadline(tp, at);
}

static outbox_item_t *item_add(topics_t *tp, uint64_t id, uint64_t sub_id, uint64_t created, const char *kind,
                               const char *msg_id, const char *body, size_t len)
{
    outbox_item_t *it = xcalloc(1, sizeof *it);
    it->id = id;
    it->sub_id = sub_id;
    it->created = created;
    it->kind = xstrdup(kind);
    it->message_id = xstrdup(msg_id);
    it->body = xmemdup(body, len);
    it->body_len = len;
    heap_node_init(&it->due);
    hmap_put(&tp->outbox, &it->id, sizeof it->id, it);
    if (id >= tp->next_dlv)
        tp->next_dlv = id + 1;
    return it;
}

static void encode_put(const outbox_item_t *it, buf_t *b)
{
    buf_put_u64(b, it->id);
    buf_put_u64(b, it->sub_id);
    buf_put_u64(b, it->created);
    buf_put_str(b, it->kind);
    buf_put_str(b, it->message_id);
    buf_put_bytes(b, it->body, (uint32_t)it->body_len);
}

void delivery__owe(topics_t *tp, const sub_t *s, const char *kind, const char *msg_id, const char *body, size_t len)
{
    outbox_item_t *it = item_add(tp, tp->next_dlv, s->id, topics__now(tp), kind, msg_id, body, len);
    buf_t b = BUF_INIT;
    encode_put(it, &b);
    topics__emit(tp, REC_DLV_PUT, &b);
    buf_free(&b);
    schedule(tp, it, topics__now(tp));
}

int delivery__apply_put(topics_t *tp, reader_t *r)
{
    uint64_t id = reader_u64(r), sub_id = reader_u64(r), created = reader_u64(r);
    char *kind = reader_strdup(r), *msg_id = reader_strdup(r);
    uint32_t len;
    const char *body = reader_bytes(r, &len);
    int rc = -1;
    if (!r->err && kind && msg_id && !item_get(tp, id)) {
        outbox_item_t *it = item_add(tp, id, sub_id, created, kind, msg_id, body, len);
        it->due_at = 0;
        heap_set(&tp->retry_heap, &it->due, 0); /* due at once after recovery */
        rc = 0;
    }
    free(kind);
    free(msg_id);
    return rc;
}

int delivery__apply_del(topics_t *tp, reader_t *r)
{
    outbox_item_t *it = item_get(tp, reader_u64(r));
    if (r->err || !it)
        return -1;
    item_free(tp, it);
    return 0;
}

void delivery__dump(const topics_t *tp, store_snap_t *snap)
{
    buf_t b = BUF_INIT;
    void *v;
    for (size_t i = 0; hmap_next(&tp->outbox, &i, &v);) {
        buf_reset(&b);
        encode_put(v, &b);
        store_snap_put(snap, REC_DLV_PUT, b.data, b.len);
    }
    buf_free(&b);
}

void delivery__free_all(topics_t *tp)
{
    void *v;
    for (size_t i = 0; hmap_next(&tp->outbox, &i, &v);)
        item_release(v);
}

static void finish(topics_t *tp, outbox_item_t *it)
{
    buf_t b = BUF_INIT;
    buf_put_u64(&b, it->id);
    topics__emit(tp, REC_DLV_DEL, &b);
    buf_free(&b);
    item_free(tp, it);
}

/* ---- the schedule --------------------------------------------------------------------------- */

static double backoff_delay(const dpolicy_t *p, int i, int b)
{
    double lo = p->min_delay, hi = p->max_delay, f = (double)i / b;
    switch (p->backoff) {
    case DP_ARITHMETIC: return lo + (hi - lo) * ((double)i * (i + 1)) / ((double)b * (b + 1));
    case DP_GEOMETRIC: return lo * pow(hi / lo, f);
    case DP_EXPONENTIAL: return lo + (hi - lo) * (pow(2, i) - 1) / (pow(2, b) - 1);
    default: return lo + (hi - lo) * f;
    }
}

/* Seconds before retry k (1-based) under p. */
static double retry_delay(const dpolicy_t *p, int k)
{
    int backoff_end = p->num_retries - p->max_retries;
    int backoff_start = p->no_delay + p->min_retries; /* retries before the backoff phase */
    if (k <= p->no_delay)
        return 0;
    if (k <= backoff_start)
        return p->min_delay;
    if (k <= backoff_end)
        return backoff_delay(p, k - backoff_start, backoff_end - backoff_start);
    return p->max_delay;
}

static const deliverer_t *deliverer_for(const topics_t *tp, const char *protocol)
{
    for (int i = 0; i < tp->ndeliverers; i++)
        if (strcmp(tp->deliverers[i].protocol, protocol) == 0)
            return &tp->deliverers[i];
    return NULL;
}

static void attempt(topics_t *tp, outbox_item_t *it, const sub_t *s)
{
    const deliverer_t *d = deliverer_for(tp, s->protocol);
    if (!d) {
        topics_delivery_result(tp, it->id, 0, 0, "no deliverer for this protocol");
        return;
    }
    it->in_flight = 1;
    it->attempt++;
    dpolicy_t p;
    subs__policy(s, &p);
    int note = strcmp(it->kind, "Notification") == 0;
    delivery_t dv = {it->id,   s->protocol, s->endpoint,  s->arn,       s->t->arn,
                     it->message_id, it->kind, it->body, it->body_len, s->raw && note,
                     it->attempt, note ? p.content_type : "text/plain; charset=UTF-8"};
    d->fn(d->arg, &dv);
}

uint64_t delivery__tick(topics_t *tp, uint64_t now)
{
    heap_node_t *n;
    while ((n = heap_min(&tp->retry_heap)) && n->key <= now) {
        heap_remove(&tp->retry_heap, n);
        outbox_item_t *it = (outbox_item_t *)((char *)n - offsetof(outbox_item_t, due));
        const sub_t *s = subs__by_id(tp, it->sub_id);
        if (!s)
            finish(tp, it);
        else
            attempt(tp, it, s);
    }
    return (n = heap_min(&tp->retry_heap)) ? (n->key ? n->key : 1) : 0;
}

void topics_set_deliverer(topics_t *tp, const char *protocol, topics_deliver_fn fn, void *arg)
{
    deliverer_t *d = (deliverer_t *)deliverer_for(tp, protocol);
    if (!d) {
        if (tp->ndeliverers == (int)(sizeof tp->deliverers / sizeof tp->deliverers[0]))
            util_fatal("topics_set_deliverer: too many protocols");
        d = &tp->deliverers[tp->ndeliverers++];
        snprintf(d->protocol, sizeof d->protocol, "%s", protocol);
    }
    d->fn = fn;
    d->arg = arg;
}

void topics_delivery_result(topics_t *tp, uint64_t id, int ok, int permanent, const char *why)
{
    outbox_item_t *it = item_get(tp, id);
    if (!it)
        return;
    it->in_flight = 0;
    const sub_t *s = subs__by_id(tp, it->sub_id);
    int note = strcmp(it->kind, "Notification") == 0; /* confirmations are not counted as deliveries */
    char detail[TRACE_DETAIL_MAX + 1];
    if (note && s && trace_capacity()) { /* under the message id: subscription.delivered links there */
        if (ok)
            snprintf(detail, sizeof detail, "attempt %d", it->attempt);
        else
            snprintf(detail, sizeof detail, "attempt %d: %s", it->attempt, why ? why : "delivery failed");
        trace_hop(it->message_id, ok ? TRACE_SUB_SENT : TRACE_SUB_FAILED, s->endpoint, detail, 0);
    }
    if (ok || !s) {
        if (ok)
            tp->stats.delivered_endpoint++;
        if (ok && s && note)
            subs__count(s, TOPIC_DELIVERED);
        finish(tp, it);
        return;
    }
    free(it->last_error);
    it->last_error = xstrdup(why ? why : "delivery failed");
    dpolicy_t p;
    subs__policy(s, &p);
    int retry = it->attempt; /* the retry this failure would lead to */
    if (permanent || retry > p.num_retries || strcmp(it->kind, "Notification") != 0) {
        log_info("sns_delivery_failed", "subscription=%s message_id=%s attempts=%d why=\"%s\"", s->arn,
                 it->message_id, it->attempt, it->last_error);
        topics__begin(tp);
        if (strcmp(it->kind, "Notification") == 0) {
            dead_letter_t dl = {it->message_id, it->body, it->body_len, NULL, 0, NULL, NULL, 1};
            delivery__dead_letter(tp, s, &dl, it->last_error);
        }
        finish(tp, it);
        topics__end(tp);
        if (note)
            subs__count(s, TOPIC_FAILED);
        return;
    }
    tp->stats.retries++;
    subs__count(s, TOPIC_RETRIED);
    schedule(tp, it, topics__now(tp) + (uint64_t)(retry_delay(&p, retry) * 1000.0));
}

void delivery__dead_letter(topics_t *tp, const sub_t *s, const dead_letter_t *dl, const char *why)
{
    queue_t *q = s->dlq_arn ? queues_find_arn(tp->qs, s->dlq_arn) : NULL;
    err_t err;
    if (q) {
        send_req_t sr = {.body = dl->body, .body_len = dl->len, .body_given = 1, .attrs = dl->attrs,
                         .nattrs = dl->nattrs, .sender_id = tp->account, .unbounded = dl->held};
        if (queue_is_fifo(q)) {
            sr.group_id = dl->group_id ? dl->group_id : dl->msg_id;
            sr.dedup_id = dl->dedup_id ? dl->dedup_id : dl->msg_id;
        }
        if (queue_send(q, &sr, NULL, &err) == ST_OK) {
            tp->stats.dead_lettered++;
            return;
        }
        why = err.msg;
    }
    tp->stats.dropped++;
    log_warn("sns_message_dropped", "subscription=%s message_id=%s why=\"%s\"%s", s->arn, dl->msg_id, why,
             s->dlq_arn ? " dlq=unusable" : " dlq=none");
}
