/*
 * codec — the engine's records: how each mutation is written to the store,
 * how recovery applies it, and how a snapshot writes the whole state as the
 * same records. One encoding serves log and snapshot, so replay has a single
 * path to get right.
 *
 * Payloads (little-endian, see buf_put_*):
 *   QUEUE_PUT  the queue's full definition (attributes, tags, counters)
 *   QUEUE_DEL  qid, time (older records end after qid)
 *   NAME_DELETED  name, time: a recently deleted name, in snapshots only
 *   MSG_PUT    qid, dedup key, message
 *   MSG_RECV   qid, seq, receive count, first receive, visible_at, nonce, receive time
 *   MSG_VIS    qid, seq, visible_at
 *   MSG_DEL    qid, seq
 *   MSG_MOVE   src qid, src seq, dst qid, message (with its new seq)
 *   PURGE      qid, time
 *   DEDUP      qid, key, message id, seq, expiry
 *   TASK_PUT   a move task
 * Recovery rejects a record that does not decode or names a queue or message
 * that does not exist: the checksum passed, so that is corruption or a bug,
 * and starting on a state that silently differs from the log would be worse.
 */
#include <stdlib.h>
#include <string.h>

#include "queues/queue_int.h"
#include "util/alloc.h"
#include "util/logging.h"

static void rec_emit(queues_t *qs, uint8_t type, const buf_t *b)
{
    if (qs->store && !qs->replaying)
        store_append(qs->store, type, b->data, b->len);
}

/* The registry's record buffer, emptied: store_append copies a record, so
 * one buffer serves every record and the hot path allocates nothing. */
static buf_t *rec_buf(queues_t *qs)
{
    buf_reset(&qs->rec_buf);
    return &qs->rec_buf;
}

/* ---- queue definitions ------------------------------------------------------ */

void queue__encode_def(const queue_t *q, buf_t *b)
{
    buf_put_u64(b, q->id);
    buf_put_str(b, q->name);
    buf_put_u8(b, (uint8_t)q->fifo);
    buf_put_u64(b, q->created);
    buf_put_u64(b, q->modified);
    buf_put_u64(b, q->next_seq);
    buf_put_u64(b, q->last_purge);
    const int ints[] = {q->delay,     q->max_size, q->retention,     q->wait,
                        q->visibility, q->kms_reuse, q->sse,          q->content_dedup,
                        q->dedup_scope_group, q->throughput_group, q->max_receive, q->dedup_by_group};
    buf_put_u32(b, (uint32_t)(sizeof ints / sizeof ints[0]));
    for (size_t i = 0; i < sizeof ints / sizeof ints[0]; i++)
        buf_put_u32(b, (uint32_t)ints[i]);
    buf_put_str(b, q->kms_key);
    buf_put_str(b, q->redrive_policy);
    buf_put_str(b, q->dlq_arn);
    buf_put_str(b, q->redrive_allow);
    buf_put_str(b, q->policy);
    buf_put_u32(b, (uint32_t)q->tags.n);
    for (size_t i = 0; i < q->tags.n; i++) {
        buf_put_str(b, q->tags.v[i].key);
        buf_put_str(b, q->tags.v[i].val);
    }
}

static void replace_str(char **slot, char *v)
{
    free(*slot);
    *slot = v;
}

static int decode_def_ints(queue_t *q, reader_t *r)
{
    int *const fields[] = {&q->delay,     &q->max_size, &q->retention,     &q->wait,
                           &q->visibility, &q->kms_reuse, &q->sse,          &q->content_dedup,
                           &q->dedup_scope_group, &q->throughput_group, &q->max_receive, &q->dedup_by_group};
    uint32_t n = reader_u32(r), all = sizeof fields / sizeof fields[0];
    if (n != all && n != all - 1) /* older records lack dedup_by_group */
        return -1;
    for (uint32_t i = 0; i < n; i++)
        *fields[i] = (int)reader_u32(r);
    if (n < all)
        q->dedup_by_group = q->dedup_scope_group;
    return 0;
}

static int decode_def_rest(queue_t *q, reader_t *r)
{
    replace_str(&q->kms_key, reader_strdup(r));
    replace_str(&q->redrive_policy, reader_strdup(r));
    replace_str(&q->dlq_arn, reader_strdup(r));
    replace_str(&q->redrive_allow, reader_strdup(r));
    replace_str(&q->policy, reader_strdup(r));
    kvv_free(&q->tags);
    uint32_t ntags = reader_u32(r);
    for (uint32_t i = 0; i < ntags && !r->err; i++) {
        char *k = reader_strdup(r), *v = reader_strdup(r);
        if (k && v)
            kvv_add_own(&q->tags, k, v), v = NULL;
        free(k);
        free(v);
    }
    return r->err ? -1 : 0;
}

static int apply_queue_put(queues_t *qs, reader_t *r)
{
    uint64_t id = reader_u64(r);
    char *name = reader_strdup(r);
    int fifo = reader_u8(r);
    if (r->err || !name || !id) {
        free(name);
        return -1;
    }
    queue_t *q = queues__by_id(qs, id);
    if (!q) {
        if (queues_find(qs, name)) { /* a second queue of that name: corrupt */
            free(name);
            return -1;
        }
        q = queues__new_queue(qs, id, name, fifo);
        hmap_put(&qs->by_name, q->name, strlen(q->name), q);
        hmap_put(&qs->by_id, &q->id, sizeof q->id, q);
    }
    free(name);
    q->created = reader_u64(r);
    q->modified = reader_u64(r);
    uint64_t next_seq = reader_u64(r);
    if (next_seq > q->next_seq)
        q->next_seq = next_seq;
    q->last_purge = reader_u64(r);
    if (decode_def_ints(q, r) != 0 || decode_def_rest(q, r) != 0)
        return -1;
    return 0;
}

void rec__queue_put(queue_t *q)
{
    buf_t b = BUF_INIT;
    queue__encode_def(q, &b);
    rec_emit(q->qs, REC_QUEUE_PUT, &b);
    buf_free(&b);
}

void rec__queue_del(queue_t *q, uint64_t at)
{
    buf_t b = BUF_INIT;
    buf_put_u64(&b, q->id);
    buf_put_u64(&b, at); /* the name's QueueDeletedRecently window outlives a restart */
    rec_emit(q->qs, REC_QUEUE_DEL, &b);
    buf_free(&b);
}

/* ---- messages ------------------------------------------------------------------ */

void rec__msg_put(queue_t *q, const message_t *m, const char *key, size_t keylen)
{
    buf_t *b = rec_buf(q->qs);
    buf_put_u64(b, q->id);
    buf_put_bytes(b, key ? key : "", (uint32_t)keylen);
    msg__encode(m, b);
    rec_emit(q->qs, REC_MSG_PUT, b);
}

void rec__msg_recv(queue_t *q, const message_t *m)
{
    buf_t *b = rec_buf(q->qs);
    buf_put_u64(b, q->id);
    buf_put_u64(b, m->seq);
    buf_put_u32(b, m->recv_count);
    buf_put_u64(b, m->first_recv_ts);
    buf_put_u64(b, m->visible_at);
    buf_put_u64(b, m->nonce);
    buf_put_u64(b, m->recv_ts);
    rec_emit(q->qs, REC_MSG_RECV, b);
}

void rec__msg_vis(queue_t *q, const message_t *m)
{
    buf_t *b = rec_buf(q->qs);
    buf_put_u64(b, q->id);
    buf_put_u64(b, m->seq);
    buf_put_u64(b, m->visible_at);
    rec_emit(q->qs, REC_MSG_VIS, b);
}

void rec__msg_del(queue_t *q, uint64_t seq)
{
    buf_t *b = rec_buf(q->qs);
    buf_put_u64(b, q->id);
    buf_put_u64(b, seq);
    rec_emit(q->qs, REC_MSG_DEL, b);
}

void rec__msg_move(queue_t *src, uint64_t src_seq, queue_t *dst, const message_t *m)
{
    buf_t *b = rec_buf(src->qs);
    buf_put_u64(b, src->id);
    buf_put_u64(b, src_seq);
    buf_put_u64(b, dst->id);
    msg__encode(m, b);
    rec_emit(src->qs, REC_MSG_MOVE, b);
}

void rec__purge(queue_t *q)
{
    buf_t b = BUF_INIT;
    buf_put_u64(&b, q->id);
    buf_put_u64(&b, q->last_purge);
    rec_emit(q->qs, REC_PURGE, &b);
    buf_free(&b);
}

void rec__task_put(queues_t *qs, const void *p, size_t n)
{
    buf_t b = {(char *)p, n, n};
    rec_emit(qs, REC_TASK_PUT, &b);
}

static void dedup_from_put(queue_t *q, const char *key, uint32_t keylen, const message_t *m)
{
    if (keylen && q->fifo)
        queue__dedup_add(q, key, keylen, m->id, m->seq, m->sent_ts + DEDUP_WINDOW_MS);
}

static int apply_msg_put(queues_t *qs, reader_t *r)
{
    queue_t *q = queues__by_id(qs, reader_u64(r));
    uint32_t keylen;
    const char *key = reader_bytes(r, &keylen);
    if (!q || r->err)
        return -1;
    message_t *m = msg__decode(q, r);
    if (!m || queue__find(q, m->seq)) {
        msg__free(m);
        return -1;
    }
    queue__insert(q, m);
    dedup_from_put(q, key, keylen, m);
    return 0;
}

/* Finds the message a record names. */
static message_t *rec_target(queues_t *qs, reader_t *r, queue_t **qout)
{
    queue_t *q = queues__by_id(qs, reader_u64(r));
    uint64_t seq = reader_u64(r);
    *qout = q;
    return q && !r->err ? queue__find(q, seq) : NULL;
}

static int visibility_state(const message_t *m, uint64_t now)
{
    if (m->visible_at <= now)
        return MSG_READY;
    return m->recv_count ? MSG_INFLIGHT : MSG_DELAYED;
}

static int apply_msg_recv(queues_t *qs, reader_t *r)
{
    queue_t *q;
    message_t *m = rec_target(qs, r, &q);
    if (!m)
        return -1;
    m->recv_count = reader_u32(r);
    m->first_recv_ts = reader_u64(r);
    m->visible_at = reader_u64(r);
    m->nonce = reader_u64(r);
    m->recv_ts = r->off < r->len ? reader_u64(r) : 0; /* absent in older records */
    if (r->err)
        return -1;
    queue__set_state(q, m, visibility_state(m, queues_now(qs)));
    return 0;
}

static int apply_msg_vis(queues_t *qs, reader_t *r)
{
    queue_t *q;
    message_t *m = rec_target(qs, r, &q);
    if (!m)
        return -1;
    m->visible_at = reader_u64(r);
    if (r->err)
        return -1;
    queue__set_state(q, m, visibility_state(m, queues_now(qs)));
    return 0;
}

static int apply_msg_del(queues_t *qs, reader_t *r)
{
    queue_t *q;
    message_t *m = rec_target(qs, r, &q);
    if (!q || r->err)
        return -1;
    if (m) { /* already gone by retention is fine */
        queue__remove(q, m);
        msg__free(m);
    }
    return 0;
}

static int apply_msg_move(queues_t *qs, reader_t *r)
{
    queue_t *src;
    message_t *old = rec_target(qs, r, &src);
    queue_t *dst = queues__by_id(qs, reader_u64(r));
    if (!src || !dst || r->err)
        return -1;
    message_t *m = msg__decode(dst, r);
    if (!m || queue__find(dst, m->seq)) {
        msg__free(m);
        return -1;
    }
    if (old) {
        queue__remove(src, old);
        msg__free(old);
    }
    queue__insert(dst, m);
    return 0;
}

static int apply_purge(queues_t *qs, reader_t *r)
{
    queue_t *q = queues__by_id(qs, reader_u64(r));
    uint64_t at = reader_u64(r);
    if (!q || r->err)
        return -1;
    q->last_purge = at;
    queue__clear(q);
    queue__dedup_expire(q, UINT64_MAX);
    return 0;
}

static int apply_dedup(queues_t *qs, reader_t *r)
{
    queue_t *q = queues__by_id(qs, reader_u64(r));
    uint32_t keylen, idlen;
    const char *key = reader_bytes(r, &keylen);
    const char *id = reader_bytes(r, &idlen);
    uint64_t seq = reader_u64(r), expires = reader_u64(r);
    if (!q || r->err || !key || !id || idlen > 36)
        return -1;
    char idz[37];
    memcpy(idz, id, idlen);
    idz[idlen] = '\0';
    queue__dedup_add(q, key, keylen, idz, seq, expires);
    return 0;
}

static int apply_queue_del(queues_t *qs, reader_t *r)
{
    queue_t *q = queues__by_id(qs, reader_u64(r));
    uint64_t at = r->off < r->len ? reader_u64(r) : 0;
    if (!q || r->err)
        return -1;
    if (at)
        queues__remember_deleted(qs, q->name, at);
    queues__drop_queue(qs, q);
    return 0;
}

static int apply_name_deleted(queues_t *qs, reader_t *r)
{
    char *name = reader_strdup(r);
    uint64_t at = reader_u64(r);
    if (!name || r->err) {
        free(name);
        return -1;
    }
    queues__remember_deleted(qs, name, at);
    free(name);
    return 0;
}

int queues_apply(void *ctx, uint8_t type, const void *payload, size_t len)
{
    queues_t *qs = ctx;
    reader_t r;
    int rc;
    reader_init(&r, payload, len);
    qs->replaying = 1;
    switch (type) {
    case REC_QUEUE_PUT: rc = apply_queue_put(qs, &r); break;
    case REC_QUEUE_DEL: rc = apply_queue_del(qs, &r); break;
    case REC_MSG_PUT: rc = apply_msg_put(qs, &r); break;
    case REC_MSG_RECV: rc = apply_msg_recv(qs, &r); break;
    case REC_MSG_VIS: rc = apply_msg_vis(qs, &r); break;
    case REC_MSG_DEL: rc = apply_msg_del(qs, &r); break;
    case REC_MSG_MOVE: rc = apply_msg_move(qs, &r); break;
    case REC_PURGE: rc = apply_purge(qs, &r); break;
    case REC_DEDUP: rc = apply_dedup(qs, &r); break;
    case REC_TASK_PUT: rc = redrive__apply_task(qs, payload, len); break;
    case REC_NAME_DELETED: rc = apply_name_deleted(qs, &r); break;
    default: rc = -1;
    }
    qs->replaying = 0;
    if (rc != 0)
        log_error("recovery_record_rejected", "type=%u len=%zu", type, len);
    return rc;
}

/* ---- snapshot ------------------------------------------------------------------- */

/* Messages in sequence order, so replay appends to each FIFO group. */
static void dump_messages(queue_t *q, store_snap_t *snap, buf_t *b)
{
    uint64_t seq = 0;
    void *v;
    while (seqmap_next(&q->msgs, &seq, &v)) {
        buf_reset(b);
        buf_put_u64(b, q->id);
        buf_put_bytes(b, "", 0);
        msg__encode(v, b);
        store_snap_put(snap, REC_MSG_PUT, b->data, b->len);
    }
}

static void dump_dedup(queue_t *q, store_snap_t *snap, buf_t *b)
{
    list_t *pos;
    for (pos = q->dedup_order.next; pos != &q->dedup_order; pos = pos->next) {
        const dedup_t *d = list_entry(pos, dedup_t, link);
        buf_reset(b);
        buf_put_u64(b, q->id);
        buf_put_bytes(b, d->key, (uint32_t)d->keylen);
        buf_put_bytes(b, d->msg_id, (uint32_t)strlen(d->msg_id));
        buf_put_u64(b, d->seq);
        buf_put_u64(b, d->expires);
        store_snap_put(snap, REC_DEDUP, b->data, b->len);
    }
}

/* Names still in their QueueDeletedRecently window; their queues are gone,
 * so a record of their own carries them. */
static void dump_deleted(queues_t *qs, store_snap_t *snap, buf_t *b)
{
    void *v;
    for (size_t it = 0; hmap_next(&qs->deleted, &it, &v);) {
        const deleted_name_t *d = v;
        buf_reset(b);
        buf_put_str(b, d->name);
        buf_put_u64(b, d->at);
        store_snap_put(snap, REC_NAME_DELETED, b->data, b->len);
    }
}

int queues_dump(void *ctx, store_snap_t *snap)
{
    queues_t *qs = ctx;
    buf_t b = BUF_INIT;
    void *v;
    for (size_t it = 0; hmap_next(&qs->by_id, &it, &v);) {
        queue_t *q = v;
        buf_reset(&b);
        queue__encode_def(q, &b);
        store_snap_put(snap, REC_QUEUE_PUT, b.data, b.len);
        dump_messages(q, snap, &b);
        dump_dedup(q, snap, &b);
    }
    dump_deleted(qs, snap, &b);
    buf_free(&b);
    return redrive__dump_tasks(qs, snap);
}
