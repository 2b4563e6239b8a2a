/*
 * queue — the messages of one queue: send, receive, delete, visibility,
 * purge, and the structures that make each of them cheap (see queue_int.h).
 *
 * Invariants:
 *  - a message is in q->msgs from send until deleted, expired or moved;
 *  - READY messages of a standard queue are on q->ready; READY heads of FIFO
 *    groups with nothing in flight put their group on q->ready_groups;
 *  - INFLIGHT and DELAYED messages are in the engine's deadline heap, keyed
 *    by visible_at;
 *  - every mutation appends exactly one record before returning.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "queues/queue_int.h"
#include "util/alloc.h"
#include "util/digest.h"
#include "util/rand.h"
#include "util/text.h"
#include "util/trace.h"

/* ---- structure maintenance ---------------------------------------------- */

static uint64_t *state_counter(queue_t *q, int state)
{
    return state == MSG_READY ? &q->n_visible : state == MSG_INFLIGHT ? &q->n_inflight : &q->n_delayed;
}

static group_t *group_get(queue_t *q, const char *id)
{
    group_t *g = hmap_get(&q->groups, id, strlen(id));
    if (!g) {
        g = xcalloc(1, sizeof *g);
        g->id = xstrdup(id);
        list_init(&g->msgs);
        list_init(&g->ready_link);
        hmap_put(&q->groups, g->id, strlen(g->id), g);
    }
    return g;
}

static void group_drop_if_empty(queue_t *q, group_t *g)
{
    if (!list_empty(&g->msgs))
        return;
    if (list_linked(&g->ready_link))
        list_del(&g->ready_link);
    hmap_del(&q->groups, g->id, strlen(g->id));
    free(g->id);
    free(g);
}

/* A FIFO group may deliver while its head message is READY: a message in
 * flight blocks everything behind it, while messages ahead of it that became
 * visible again can be received (AWS: test_fifo_group_visibility_extends_...). */
static void group_refresh(queue_t *q, group_t *g)
{
    list_t *first = list_first(&g->msgs);
    int ready = first && list_entry(first, message_t, link)->state == MSG_READY;
    if (ready && !list_linked(&g->ready_link)) {
        list_push_back(&q->ready_groups, &g->ready_link);
        queues__notify(q);
    } else if (!ready && list_linked(&g->ready_link)) {
        list_del(&g->ready_link);
    }
}

static uint64_t retention_origin(const queue_t *q, const message_t *m)
{
    return q->fifo ? m->enq_ts : m->sent_ts;
}

/* Sets m's state, keeping counters, lists and the deadline heap in step. */
void queue__set_state(queue_t *q, message_t *m, int state)
{
    if (m->state)
        (*state_counter(q, m->state))--;
    int was = m->state;
    m->state = state;
    (*state_counter(q, state))++;
    if (was == MSG_INFLIGHT && state != MSG_INFLIGHT)
        queues__notify(q); /* room under the in-flight bound */
    if (state == MSG_READY) {
        heap_remove(&q->qs->deadlines, &m->deadline);
        m->visible_at = 0;
    } else {
        queues__schedule(q->qs, m);
    }
    if (!q->fifo) {
        if (list_linked(&m->link))
            list_del(&m->link);
        if (state == MSG_READY) {
            /* redelivered messages go first: they are older than new ones */
            if (was == MSG_INFLIGHT)
                list_push_front(&q->ready, &m->link);
            else
                list_push_back(&q->ready, &m->link);
            queues__notify(q);
        }
        return;
    }
    (void)was;
    group_refresh(q, m->group);
}

static int initial_state(const message_t *m, uint64_t now)
{
    if (m->visible_at <= now)
        return MSG_READY;
    return m->recv_count ? MSG_INFLIGHT : MSG_DELAYED;
}

void queue__insert(queue_t *q, message_t *m)
{
    m->q = q;
    q->bytes += msg__bytes(m);
    q->qs->bytes += msg__bytes(m);
    seqmap_put(&q->msgs, m->seq, m);
    heap_set(&q->by_age, &m->age, retention_origin(q, m));
    if (m->seq > q->next_seq)
        q->next_seq = m->seq;
    if (q->fifo) {
        m->group = group_get(q, m->group_id ? m->group_id : "");
        /* seq order within the group; appends are the common case */
        list_t *pos = m->group->msgs.prev;
        while (pos != &m->group->msgs && list_entry(pos, message_t, link)->seq > m->seq)
            pos = pos->prev;
        list__insert(&m->link, pos, pos->next);
    }
    queue__set_state(q, m, initial_state(m, queues_now(q->qs)));
}

void queue__remove(queue_t *q, message_t *m)
{
    q->bytes -= msg__bytes(m);
    q->qs->bytes -= msg__bytes(m);
    (*state_counter(q, m->state))--;
    if (m->state == MSG_INFLIGHT)
        queues__notify(q); /* room under the in-flight bound */
    heap_remove(&q->qs->deadlines, &m->deadline);
    heap_remove(&q->by_age, &m->age);
    seqmap_del(&q->msgs, m->seq);
    if (list_linked(&m->link))
        list_del(&m->link);
    if (q->fifo) {
        group_t *g = m->group;
        group_refresh(q, g);
        group_drop_if_empty(q, g);
    }
    m->state = 0;
}

message_t *queue__find(const queue_t *q, uint64_t seq)
{
    return seqmap_get(&q->msgs, seq);
}

/* Removes and frees every message (purge, delete). */
void queue__clear(queue_t *q)
{
    heap_node_t *n;
    while ((n = heap_min(&q->by_age))) {
        message_t *m = (message_t *)((char *)n - offsetof(message_t, age));
        queue__remove(q, m);
        msg__free(m);
    }
}

/* Drops messages older than the retention period. Expiry needs no record:
 * replaying the log reaches the same verdict from the same timestamps. */
void queue__expire(queue_t *q, uint64_t now)
{
    heap_node_t *n;
    uint64_t keep = (uint64_t)q->retention * 1000;
    while ((n = heap_min(&q->by_age)) && n->key + keep <= now) {
        message_t *m = (message_t *)((char *)n - offsetof(message_t, age));
        queue__remove(q, m);
        msg__free(m);
    }
}

/* ---- deduplication ------------------------------------------------------ */

void queue__dedup_add(queue_t *q, const char *key, size_t keylen, const char *msg_id, uint64_t seq,
                      uint64_t expires)
{
    dedup_t *d = hmap_get(&q->dedup, key, keylen);
    if (d) {
        hmap_del(&q->dedup, d->key, d->keylen);
        list_del(&d->link);
        free(d->key);
        free(d);
    }
    d = xcalloc(1, sizeof *d);
    d->key = xmemdup(key, keylen);
    d->keylen = keylen;
    snprintf(d->msg_id, sizeof d->msg_id, "%s", msg_id);
    d->seq = seq;
    d->expires = expires;
    hmap_put(&q->dedup, d->key, d->keylen, d);
    list_push_back(&q->dedup_order, &d->link);
}

void queue__dedup_expire(queue_t *q, uint64_t now)
{
    list_t *pos;
    while ((pos = list_first(&q->dedup_order))) {
        dedup_t *d = list_entry(pos, dedup_t, link);
        if (d->expires > now)
            break;
        hmap_del(&q->dedup, d->key, d->keylen);
        list_del(&d->link);
        free(d->key);
        free(d);
    }
}

/* The dedup key: the deduplication id, scoped by group when the queue
 * deduplicates per message group. */
static void dedup_key(const queue_t *q, const send_req_t *r, buf_t *key)
{
    if (q->dedup_by_group) {
        buf_puts(key, r->group_id);
        buf_putc(key, '\0');
    }
    buf_puts(key, r->dedup_id);
}

/* ---- the bounds on bytes held ------------------------------------------- */

int queue__room(const queue_t *q, uint64_t bytes)
{
    return q->bytes <= q->qs->max_queue_bytes && bytes <= q->qs->max_queue_bytes - q->bytes;
}

status_t queue_check_room(const queue_t *q, size_t bytes, err_t *err)
{
    const queues_t *qs = q->qs;
    if (!queue__room(q, bytes))
        return err_set(err, ST_OVER_LIMIT,
                       "The maximum size of the messages held per queue (%llu bytes: limits.queue_bytes) has been "
                       "reached for this queue.",
                       (unsigned long long)qs->max_queue_bytes);
    if (qs->bytes > qs->max_total_bytes || bytes > qs->max_total_bytes - qs->bytes)
        return err_set(err, ST_OVER_LIMIT,
                       "The maximum size of the messages held by all queues (%llu bytes: limits.total_queue_bytes) "
                       "has been reached.",
                       (unsigned long long)qs->max_total_bytes);
    return ST_OK;
}

uint64_t queue_bytes(const queue_t *q)
{
    return q->bytes;
}

/* ---- send ---------------------------------------------------------------- */

static void fill_send_res(const queue_t *q, const message_t *m, const send_req_t *r, send_res_t *res)
{
    snprintf(res->message_id, sizeof res->message_id, "%s", m->id);
    text_hex(m->md5_body, 16, res->md5_body);
    msg_attrs_md5(r->attrs, r->nattrs, res->md5_attrs);
    msg__sys_md5(m, res->md5_sys);
    res->seq = q->fifo ? SEQ_DISPLAY_BASE + m->seq : 0;
}

static int send_dedup_hit(queue_t *q, const send_req_t *r, const buf_t *key, send_res_t *res)
{
    queue__dedup_expire(q, queues_now(q->qs));
    dedup_t *d = hmap_get(&q->dedup, key->data, key->len);
    if (!d)
        return 0;
    if (!res)
        return 1;
    unsigned char md5[16];
    digest_md5(r->body, r->body_len, md5);
    snprintf(res->message_id, sizeof res->message_id, "%s", d->msg_id);
    text_hex(md5, 16, res->md5_body);
    msg_attrs_md5(r->attrs, r->nattrs, res->md5_attrs);
    msg_attrs_md5(r->sys_attrs, r->nsys, res->md5_sys); /* validated: AWSTraceHeader only */
    res->seq = SEQ_DISPLAY_BASE + d->seq;
    return 1;
}

status_t queue_send(queue_t *q, const send_req_t *r, send_res_t *res, err_t *err)
{
    status_t st = msg__validate(q, r, err);
    if (st != ST_OK)
        return st;
    buf_t key = BUF_INIT;
    send_req_t cbd;
    char hash[65];
    if (q->fifo && !r->dedup_id) {
        /* content-based: the body's SHA-256 is the message's deduplication id */
        unsigned char d[32];
        digest_sha256(r->body, r->body_len, d);
        text_hex(d, 32, hash);
        cbd = *r;
        cbd.dedup_id = hash;
        r = &cbd;
    }
    if (q->fifo) {
        dedup_key(q, r, &key);
        if (send_dedup_hit(q, r, &key, res)) {
            buf_free(&key);
            return ST_OK;
        }
    }
    if (!r->unbounded && (st = queue_check_room(q, queue_msg_bytes(r), err)) != ST_OK) {
        buf_free(&key);
        return st;
    }
    uint64_t now = queues_now(q->qs);
    message_t *m = msg__new(q, r, now);
    rec__msg_put(q, m, key.data, key.len);
    if (q->fifo)
        queue__dedup_add(q, key.data, key.len, m->id, m->seq, now + DEDUP_WINDOW_MS);
    queue__insert(q, m);
    q->n_sent++;
    trace_hop_msg(m->trace_header, m->id, TRACE_QUEUE_SENT, q->name, m->id, 0);
    if (res)
        fill_send_res(q, m, r, res);
    buf_free(&key);
    queues__flush_notify(q->qs);
    return ST_OK;
}

/* ---- receive ------------------------------------------------------------- */

static void receive_one(queue_t *q, message_t *m, uint64_t now, int vis, recv_res_t *res)
{
    m->recv_count++;
    if (!m->first_recv_ts)
        m->first_recv_ts = now;
    m->recv_ts = now;
    rand_bytes(&m->nonce, sizeof m->nonce);
    /* A zero timeout still passes through INFLIGHT: the message is visible
     * again at the next tick, never twice in one receive. */
    m->visible_at = now + (uint64_t)vis * 1000;
    queue__set_state(q, m, MSG_INFLIGHT);
    rec__msg_recv(q, m);
    if (trace_capacity() && (m->trace_header || trace_untraced())) {
        /* "<id> receive <n>", put together without a format per receive */
        char detail[sizeof m->id + 32], num[21];
        size_t n = strlen(m->id);
        memcpy(detail, m->id, n);
        memcpy(detail + n, " receive ", 9);
        strcpy(detail + n + 9, text_u64(m->recv_count, num));
        trace_hop_msg(m->trace_header, m->id, TRACE_QUEUE_RECEIVED, q->name, detail, 0);
    }
    msg__receipt(m, res->receipts[res->n]);
    res->msgs[res->n++] = m;
}

/* Dead-lettering: a message about to be received more than maxReceiveCount
 * times goes to the DLQ instead. Returns 1 when m was moved. */
static int maybe_dead_letter(queue_t *q, message_t *m)
{
    if (!q->dlq_arn || m->recv_count < (uint32_t)q->max_receive)
        return 0;
    queue_t *dlq = queues_find_arn(q->qs, q->dlq_arn);
    if (!dlq || dlq == q)
        return 0; /* a missing DLQ keeps the message where it is, as AWS does */
    redrive__move(q, m, dlq, 1);
    q->n_dead_lettered++;
    queues__dead_lettered(q->qs, q, dlq, m);
    return 1;
}

static void receive_standard(queue_t *q, int max, int vis, uint64_t now, recv_res_t *res)
{
    list_t *pos;
    while (res->n < max && (pos = list_first(&q->ready))) {
        message_t *m = list_entry(pos, message_t, link);
        if (!maybe_dead_letter(q, m))
            receive_one(q, m, now, vis, res);
    }
}

/* Takes groups in the order they became deliverable and, from each, the run
 * of READY messages at its head, in order; the first message not READY ends
 * the run (and blocks the group once it is in flight). */
static void receive_fifo(queue_t *q, int max, int vis, uint64_t now, recv_res_t *res)
{
    list_t *gpos;
    while (res->n < max && (gpos = list_first(&q->ready_groups))) {
        group_t *g = list_entry(gpos, group_t, ready_link);
        list_t *pos = g->msgs.next;
        while (res->n < max && pos != &g->msgs) {
            message_t *m = list_entry(pos, message_t, link);
            if (m->state != MSG_READY)
                break;
            pos = pos->next;
            if (!maybe_dead_letter(q, m))
                receive_one(q, m, now, vis, res);
        }
        /* Receiving blocked the group and a dead-lettered one is gone or has
         * moved on; still first means no progress is possible. */
        if (list_first(&q->ready_groups) == gpos)
            break;
    }
}

static void attempt_expire(queue_t *q, uint64_t now)
{
    list_t *pos;
    while ((pos = list_first(&q->attempt_order))) {
        attempt_t *a = list_entry(pos, attempt_t, link);
        if (a->expires > now)
            break;
        hmap_del(&q->attempts, a->id, strlen(a->id));
        list_del(&a->link);
        free(a->id);
        free(a);
    }
}

/* ReceiveRequestAttemptId: a retried receive gets the same messages and
 * receipts back, with their visibility timeout started afresh, as long as
 * none of them was deleted or had its visibility changed since. Returns 1
 * when replayed, 0 when the id is new, -1 when it can no longer be retried. */
static int attempt_replay(queue_t *q, const char *id, int vis, uint64_t now, recv_res_t *res)
{
    attempt_t *a = hmap_get(&q->attempts, id, strlen(id));
    if (!a)
        return 0;
    for (int i = 0; i < a->n; i++) {
        message_t *m = queue__find(q, a->seqs[i]);
        if (!m || m->nonce != a->nonces[i] || m->state != MSG_INFLIGHT || m->visible_at != a->vis_until[i])
            return -1;
    }
    for (int i = 0; i < a->n; i++) {
        message_t *m = queue__find(q, a->seqs[i]);
        m->visible_at = now + (uint64_t)vis * 1000;
        a->vis_until[i] = m->visible_at;
        queue__set_state(q, m, MSG_INFLIGHT);
        rec__msg_vis(q, m);
        msg__receipt(m, res->receipts[i]);
        res->msgs[i] = m;
    }
    res->n = a->n;
    return 1;
}

static void attempt_remember(queue_t *q, const char *id, const recv_res_t *res, uint64_t now)
{
    attempt_t *a = hmap_get(&q->attempts, id, strlen(id));
    if (a) {
        hmap_del(&q->attempts, a->id, strlen(a->id));
        list_del(&a->link);
        free(a->id);
        free(a);
    }
    a = xcalloc(1, sizeof *a);
    a->id = xstrdup(id);
    a->expires = now + DEDUP_WINDOW_MS;
    a->n = res->n;
    for (int i = 0; i < res->n; i++) {
        a->seqs[i] = res->msgs[i]->seq;
        a->nonces[i] = res->msgs[i]->nonce;
        a->vis_until[i] = res->msgs[i]->visible_at;
    }
    hmap_put(&q->attempts, a->id, strlen(a->id), a);
    list_push_back(&q->attempt_order, &a->link);
}

status_t queue_receive(queue_t *q, const recv_req_t *r, recv_res_t *res, err_t *err)
{
    res->n = 0;
    if (r->max < 1 || r->max > 10)
        return err_set(err, ST_INVALID_PARAMETER_VALUE,
                       "Value %ld for parameter MaxNumberOfMessages is invalid. Reason: Must be between 1 and 10, "
                       "if provided.",
                       r->max);
    if (r->visibility_given && (r->visibility < 0 || r->visibility > 43200))
        return err_set(err, ST_INVALID_PARAMETER_VALUE,
                       "Value %ld for parameter VisibilityTimeout is invalid. Reason: Must be >= 0 and <= 43200, if "
                       "provided.",
                       r->visibility);
    uint64_t now = queues_now(q->qs);
    queue__expire(q, now);
    int vis = r->visibility_given ? (int)r->visibility : q->visibility;
    int use_attempt = q->fifo && r->attempt_id && *r->attempt_id;
    if (use_attempt) {
        attempt_expire(q, now);
        int rc = attempt_replay(q, r->attempt_id, vis, now, res);
        if (rc > 0)
            return ST_OK;
        if (rc < 0)
            return err_set(err, ST_INVALID_PARAMETER_VALUE,
                           "Value %s for parameter ReceiveRequestAttemptId is invalid. Reason: The "
                           "receiveRequestAttemptId is not valid anymore since the receive call is not retryable.",
                           r->attempt_id);
    }
    /* AWS bounds the messages in flight per queue: a standard queue at the
     * bound answers OverLimit, a FIFO queue returns nothing more. */
    uint64_t room = q->qs->max_inflight > q->n_inflight ? q->qs->max_inflight - q->n_inflight : 0;
    if (!room && !q->fifo)
        return err_set(err, ST_OVER_LIMIT,
                       "The maximum number of in flight messages (%llu) has been reached for this queue.",
                       (unsigned long long)q->qs->max_inflight);
    int max = room < (uint64_t)r->max ? (int)room : (int)r->max;
    if (q->fifo)
        receive_fifo(q, max, vis, now, res);
    else
        receive_standard(q, max, vis, now, res);
    if (use_attempt && res->n)
        attempt_remember(q, r->attempt_id, res, now);
    q->n_received += (uint64_t)res->n;
    queues__flush_notify(q->qs);
    return ST_OK;
}

/* ---- delete and visibility ------------------------------------------------ */

static status_t receipt_invalid(const char *receipt, err_t *err)
{
    return err_set(err, ST_RECEIPT_HANDLE_INVALID, "The input receipt handle \"%s\" is not a valid receipt handle.",
                   receipt);
}

static status_t receipt_foreign(const char *receipt, err_t *err)
{
    return err_set(err, ST_RECEIPT_HANDLE_INVALID, "The receipt handle \"%s\" is not valid for this queue.", receipt);
}

static status_t receipt_expired(const char *receipt, err_t *err)
{
    return err_set(err, ST_INVALID_PARAMETER_VALUE,
                   "Value %s for parameter ReceiptHandle is invalid. Reason: The receipt handle has expired.",
                   receipt);
}

/* Resolves a receipt handle to its message. *m is NULL when the message is
 * already gone (deleted, expired, moved), which is not an error. */
static status_t resolve_receipt(queue_t *q, const char *receipt, message_t **m, uint64_t *nonce, err_t *err)
{
    uint64_t qid, seq;
    *m = NULL;
    if (!receipt || msg__parse_receipt(receipt, &qid, &seq, nonce) != 0)
        return receipt_invalid(receipt ? receipt : "", err);
    if (qid != q->id)
        return receipt_foreign(receipt, err);
    *m = queue__find(q, seq);
    return ST_OK;
}

/* A FIFO handle is good only while its receive is the latest and the message
 * is still hidden, even when the tick that makes it visible is yet to run. */
static int fifo_receipt_expired(const queue_t *q, const message_t *m, uint64_t nonce)
{
    return m->nonce != nonce || m->state != MSG_INFLIGHT || m->visible_at <= queues_now(q->qs);
}

status_t queue_delete_message(queue_t *q, const char *receipt, err_t *err)
{
    message_t *m;
    uint64_t nonce;
    status_t st = resolve_receipt(q, receipt, &m, &nonce, err);
    if (st != ST_OK || !m)
        return st;
    /* Standard queues accept any handle the message was received with; FIFO
     * only the latest, and only while the message is still in flight. */
    if (q->fifo && fifo_receipt_expired(q, m, nonce))
        return receipt_expired(receipt, err);
    if (m->recv_count == 0)
        return receipt_invalid(receipt, err);
    rec__msg_del(q, m->seq);
    trace_hop_msg(m->trace_header, m->id, TRACE_QUEUE_DELETED, q->name, m->id, 0);
    queue__remove(q, m);
    msg__free(m);
    q->n_deleted++;
    queues__flush_notify(q->qs);
    return ST_OK;
}

status_t queue_change_visibility(queue_t *q, const char *receipt, long timeout, err_t *err)
{
    message_t *m;
    uint64_t nonce;
    status_t st = resolve_receipt(q, receipt, &m, &nonce, err);
    if (st != ST_OK)
        return st;
    if (timeout < 0 || timeout > 43200)
        return err_set(err, ST_INVALID_PARAMETER_VALUE,
                       "Value %ld for parameter VisibilityTimeout is invalid. Reason: Must be between 0 and 43200, "
                       "if provided.",
                       timeout);
    if (!m || m->recv_count == 0)
        return err_set(err, ST_INVALID_PARAMETER_VALUE,
                       "Value %s for parameter ReceiptHandle is invalid. Reason: Message does not exist or is not "
                       "available for visibility timeout change.",
                       receipt);
    if (q->fifo && fifo_receipt_expired(q, m, nonce))
        return receipt_expired(receipt, err);
    uint64_t now = queues_now(q->qs);
    uint64_t received = m->recv_ts ? m->recv_ts : m->first_recv_ts;
    if (timeout > 0 && received && now + (uint64_t)timeout * 1000 > received + 43200000ull)
        return err_set(err, ST_INVALID_PARAMETER_VALUE,
                       "Value %ld for parameter VisibilityTimeout is invalid. Reason: Total VisibilityTimeout for "
                       "the message is beyond the limit [43200 seconds].",
                       timeout);
    m->visible_at = timeout > 0 ? now + (uint64_t)timeout * 1000 : 0;
    rec__msg_vis(q, m);
    queue__set_state(q, m, timeout > 0 ? MSG_INFLIGHT : MSG_READY);
    queues__flush_notify(q->qs);
    return ST_OK;
}

status_t queue_purge(queue_t *q, err_t *err)
{
    uint64_t now = queues_now(q->qs);
    if (q->last_purge && now < q->last_purge + PURGE_WINDOW_MS)
        return err_set(err, ST_PURGE_IN_PROGRESS, "Only one PurgeQueue operation on %s is allowed every 60 seconds.",
                       q->name);
    q->last_purge = now;
    rec__purge(q);
    queue__clear(q);
    queue__dedup_expire(q, UINT64_MAX); /* a purge also forgets FIFO deduplication */
    return ST_OK;
}
