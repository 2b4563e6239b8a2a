/*
 * test_queues_recovery — the engine's durability through the real store:
 * after a run of every kind of mutation, a fresh engine recovered from the
 * store directory must hold exactly the same state (queues and attributes,
 * tags, messages with receive counts, visibility and receipts, FIFO groups
 * and deduplication, purge times, move tasks, recently deleted names) — from
 * the log alone, from a snapshot plus the log after it, and from a snapshot
 * alone; and older record layouts still apply.
 *
 * State is compared as text: every queue's definition record, its counts
 * and bytes held, every message record with its state, every live dedup
 * entry and every move task, in a fixed order (engine_state). Both engines are on the same fake clock and
 * both have ticked at the same instant before they are compared.
 */
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "loop_fixture.h"
#include "net/loop.h"
#include "queues/queue_int.h"
#include "queues_fixture.h"
#include "store/store.h"
#include "util/buf.h"
#include "util/text.h"

#define WAIT_MS 5000

/* ---- a store with an engine on it ---- */

typedef struct rig {
    loop_t *loop;
    store_t *st;
    queues_t *qs;
    uint64_t durable;
    char why[512];
} rig_t;

static void rig_durable(void *arg, uint64_t lsn, int failed)
{
    rig_t *r = arg;
    if (!failed)
        r->durable = lsn;
}

/* Opens ./db, recovers a new engine with bounds on bytes held (0: the
 * defaults) from it and starts the log. */
static int rig_open_bounded(rig_t *r, uint64_t queue_bytes)
{
    store_config_t cfg = {.dir = "db", .fsync = FSYNC_OFF, .fsync_interval_ms = 1000, .segment_bytes = 64u << 20,
                          .compact_bytes = 256u << 20};
    queues_config_t qc = {.region = QT_REGION, .account = QT_ACCOUNT, .max_queue_bytes = queue_bytes};
    memset(r, 0, sizeof *r);
    r->loop = loop_new();
    if (store_open(&cfg, r->loop, &r->st, r->why, sizeof r->why) < 0)
        return 1;
    r->qs = queues_new(&qc, r->st);
    queues_set_clock(r->qs, qt_clock);
    if (store_recover(r->st, queues_apply, r->qs, r->why, sizeof r->why) < 0)
        return 2;
    return store_start(r->st, rig_durable, r, r->why, sizeof r->why) < 0 ? 3 : 0;
}

static int rig_open(rig_t *r)
{
    return rig_open_bounded(r, 0);
}

static void rig_close(rig_t *r)
{
    store_close(r->st);
    queues_free(r->qs);
    loop_free(r->loop);
    memset(r, 0, sizeof *r);
}

typedef struct rig_pred {
    int (*pred)(rig_t *);
    rig_t *r;
} rig_pred_t;

static int rig_pred_call(void *arg)
{
    rig_pred_t *p = arg;
    return p->pred(p->r);
}

/* Runs the loop until pred holds (1) or WAIT_MS pass (0). */
static int rig_run_until(rig_t *r, int (*pred)(rig_t *))
{
    rig_pred_t p = {pred, r};
    return run_until(r->loop, rig_pred_call, &p, WAIT_MS);
}

static int all_durable(rig_t *r)
{
    return r->durable == store_last_lsn(r->st);
}

static int checkpoint_done(rig_t *r)
{
    return !store_checkpoint_running(r->st);
}

/* ---- the engine's state as text ---- */

static void put_hex(buf_t *out, const void *p, size_t n)
{
    char *h = malloc(2 * n + 1);
    text_hex(p, n, h);
    buf_puts(out, h);
    free(h);
}

static int cmp_queue_name(const void *a, const void *b)
{
    return strcmp((*(queue_t *const *)a)->name, (*(queue_t *const *)b)->name);
}

static size_t list_len(const list_t *l)
{
    size_t n = 0;
    for (const list_t *p = l->next; p != l; p = p->next)
        n++;
    return n;
}

static void state_messages(queue_t *q, buf_t *out, buf_t *tmp)
{
    uint64_t seq = 0;
    void *v;
    while (seqmap_next(&q->msgs, &seq, &v)) {
        message_t *m = v;
        buf_reset(tmp);
        msg__encode(m, tmp);
        buf_printf(out, "  msg %llu state=%d ", (unsigned long long)m->seq, m->state);
        put_hex(out, tmp->data, tmp->len);
        buf_putc(out, '\n');
    }
}

static void state_dedup(queue_t *q, buf_t *out)
{
    for (list_t *p = q->dedup_order.next; p != &q->dedup_order; p = p->next) {
        const dedup_t *d = list_entry(p, dedup_t, link);
        buf_puts(out, "  dedup ");
        put_hex(out, d->key, d->keylen);
        buf_printf(out, " %s %llu %llu\n", d->msg_id, (unsigned long long)d->seq, (unsigned long long)d->expires);
    }
}

static void state_tasks(queues_t *qs, queue_t *q, buf_t *out)
{
    char arn[256];
    move_task_view_t v[10];
    int n = 0;
    err_t err;
    queue_arn(q, arn, sizeof arn);
    queues_list_move_tasks(qs, arn, 10, v, &n, &err);
    for (int i = 0; i < n; i++)
        buf_printf(out, "  task %s %s->%s rate=%d moved=%llu/%llu started=%llu failure=%s handle=%s\n", v[i].status,
                   v[i].source_arn, v[i].dest_arn, v[i].rate, (unsigned long long)v[i].moved,
                   (unsigned long long)v[i].to_move, (unsigned long long)v[i].started_ts, v[i].failure, v[i].handle);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Names still in their QueueDeletedRecently window, sorted. */
static void state_deleted(queues_t *qs, buf_t *out)
{
    char *lines[64];
    size_t n = 0;
    void *v;
    for (size_t it = 0; n < 64 && hmap_next(&qs->deleted, &it, &v);) {
        const deleted_name_t *d = v;
        if (d->at + DELETED_NAME_WINDOW_MS > queues_now(qs)) {
            buf_t b = BUF_INIT;
            buf_printf(&b, "deleted %s %llu\n", d->name, (unsigned long long)d->at);
            lines[n++] = buf_detach(&b, NULL);
        }
    }
    qsort(lines, n, sizeof *lines, cmp_str);
    for (size_t i = 0; i < n; i++) {
        buf_puts(out, lines[i]);
        free(lines[i]);
    }
}

/* Everything recovery must reproduce, in a fixed order. Caller frees. */
static char *engine_state(queues_t *qs)
{
    buf_t out = BUF_INIT, tmp = BUF_INIT;
    queue_t *qv[64];
    size_t nq = 0;
    void *v;
    for (size_t it = 0; nq < 64 && hmap_next(&qs->by_id, &it, &v);)
        qv[nq++] = v;
    qsort(qv, nq, sizeof *qv, cmp_queue_name);
    buf_printf(&out, "queues %zu\n", nq);
    for (size_t i = 0; i < nq; i++) {
        queue_t *q = qv[i];
        queue__expire(q, queues_now(qs));
        queue__dedup_expire(q, queues_now(qs));
        buf_reset(&tmp);
        queue__encode_def(q, &tmp);
        buf_printf(&out, "queue %s counts=%llu/%llu/%llu bytes=%llu groups=%zu ready_groups=%zu ready=%zu\n  def ",
                   q->name, (unsigned long long)q->n_visible, (unsigned long long)q->n_inflight,
                   (unsigned long long)q->n_delayed, (unsigned long long)q->bytes, q->groups.n,
                   list_len(&q->ready_groups), list_len(&q->ready));
        put_hex(&out, tmp.data, tmp.len);
        buf_putc(&out, '\n');
        state_messages(q, &out, &tmp);
        state_dedup(q, &out);
        state_tasks(qs, q, &out);
    }
    state_deleted(qs, &out);
    buf_printf(&out, "bytes %llu\n", (unsigned long long)qs->bytes);
    buf_free(&tmp);
    return buf_detach(&out, NULL);
}

/* Equal states, or a failure naming the first line that differs. */
static int same_state(const char *a, const char *b)
{
    if (strcmp(a, b) == 0)
        return 1;
    size_t i = 0, line = 0;
    while (a[i] && a[i] == b[i])
        if (a[i++] == '\n')
            line = i;
    fprintf(stderr, "    states differ from:\n    before: %.300s\n    after:  %.300s\n", a + line, b + line);
    return 0;
}

/* ---- a workload with every kind of mutation ---- */

#define REDRIVE(dlq, n) "{\"deadLetterTargetArn\":\"" QT_ARN(dlq) "\",\"maxReceiveCount\":" #n "}"

typedef struct keep {
    char std_receipt[RECEIPT_MAX];  /* a standard message in flight */
    char fifo_receipt[RECEIPT_MAX]; /* a FIFO message in flight */
} keep_t;

static queue_t *mk(queues_t *qs, const char *name, const kv_t *attrs, size_t n)
{
    return qt_create(qs, name, attrs, n);
}

/* Returns 0, or the line that failed. */
static int phase1(queues_t *qs, keep_t *k)
{
    err_t err;
    recv_res_t rr;
    queue_t *std = NULL, *q;
    if (queues_create(qs, "std", KV({"VisibilityTimeout", "20"}, {"MessageRetentionPeriod", "3600"}),
                      KV({"team", "a"}, {"cost", "1"}), &std, &err) != ST_OK)
        return __LINE__;
    if (!mk(qs, "dlq", NULL, 0) || !mk(qs, "src", KV({"RedrivePolicy", REDRIVE("dlq", 1)})) || !mk(qs, "dst", NULL, 0))
        return __LINE__;
    queue_t *f = mk(qs, "f.fifo", KV({"FifoQueue", "true"}, {"ContentBasedDeduplication", "true"}));
    queue_t *hp = mk(qs, "hp.fifo", KV({"FifoQueue", "true"}, {"DeduplicationScope", "messageGroup"}));
    if (!f || !hp)
        return __LINE__;
    /* attributes, tags, permissions */
    if (queue_set_attributes(std, KV({"DelaySeconds", "0"}, {"KmsMasterKeyId", "alias/k"}), &err) != ST_OK ||
        queue_tag(std, KV({"env", "test"}, {"team", "b"}), &err) != ST_OK ||
        queue_untag(std, STRS("cost"), &err) != ST_OK ||
        queue_add_permission(std, "p1", STRS("111111111111"), STRS("SendMessage"), &err) != ST_OK ||
        queue_add_permission(std, "p2", STRS("222222222222"), STRS("ReceiveMessage"), &err) != ST_OK ||
        queue_remove_permission(std, "p1", &err) != ST_OK)
        return __LINE__;
    /* standard messages in every state */
    msg_attr_t attrs[] = {{"Foo", "String", "Bar", 3}, {"bin", "Binary", "\x00\x01", 2}};
    msg_attr_t trace = {"AWSTraceHeader", "String", "Root=1-abc", 10};
    send_req_t r = qt_req("m1");
    r.attrs = attrs;
    r.nattrs = 2;
    r.sys_attrs = &trace;
    r.nsys = 1;
    if (qt_send_req(std, &r, NULL, NULL) != ST_OK || qt_send_delay(std, "m2-delayed", 300) != ST_OK ||
        qt_send(std, "m3", NULL, NULL, NULL) != ST_OK || qt_send(std, "m4", NULL, NULL, NULL) != ST_OK)
        return __LINE__;
    qt_advance(qs, 1000);
    if (qt_recv(std, 3, -1, &rr) != 3)
        return __LINE__;
    char h[3][RECEIPT_MAX];
    for (int i = 0; i < 3; i++)
        snprintf(h[i], sizeof h[i], "%s", rr.receipts[i]);
    if (queue_delete_message(std, h[2], &err) != ST_OK || queue_change_visibility(std, h[1], 100, &err) != ST_OK ||
        queue_change_visibility(std, h[0], 0, &err) != ST_OK)
        return __LINE__;
    snprintf(k->std_receipt, sizeof k->std_receipt, "%s", h[1]);
    /* FIFO: groups, dedup (by content), an attempt id */
    if (qt_send(f, "a", "g1", NULL, NULL) != ST_OK || qt_send(f, "b", "g1", NULL, NULL) != ST_OK ||
        qt_send(f, "c", "g2", NULL, NULL) != ST_OK || qt_send(f, "a", "g2", NULL, NULL) != ST_OK)
        return __LINE__;
    recv_req_t att = {.max = 1, .attempt_id = "att-1"};
    if (queue_receive(f, &att, &rr, &err) != ST_OK || rr.n != 1)
        return __LINE__;
    qt_advance(qs, 500);
    if (queue_receive(f, &att, &rr, &err) != ST_OK || rr.n != 1) /* a replay: MSG_VIS */
        return __LINE__;
    snprintf(k->fifo_receipt, sizeof k->fifo_receipt, "%s", rr.receipts[0]);
    /* messageGroup scope, then switched back: the creation scope stays */
    if (qt_send(hp, "T1", "g1", "same", NULL) != ST_OK || qt_send(hp, "T2", "g2", "same", NULL) != ST_OK ||
        queue_set_attributes(hp, KV({"DeduplicationScope", "queue"}), &err) != ST_OK)
        return __LINE__;
    /* a dead-letter move */
    q = queues_find(qs, "src");
    if (qt_send(q, "x", NULL, NULL, NULL) != ST_OK || qt_send(q, "y", NULL, NULL, NULL) != ST_OK ||
        qt_recv(q, 10, 0, &rr) != 2)
        return __LINE__;
    qt_advance(qs, 0);
    if (qt_recv(q, 1, 0, &rr) != 0) /* both were received once: both move */
        return __LINE__;
    /* a queue that goes away; purges */
    queue_t *doomed = mk(qs, "doomed", NULL, 0);
    queue_t *pf = mk(qs, "pf.fifo", KV({"FifoQueue", "true"}));
    if (!doomed || !pf || qt_send(doomed, "bye", NULL, NULL, NULL) != ST_OK ||
        queues_delete(qs, doomed, &err) != ST_OK || qt_send(pf, "p", "g", "d1", NULL) != ST_OK ||
        queue_purge(pf, &err) != ST_OK || qt_send(pf, "p2", "g", "d1", NULL) != ST_OK)
        return __LINE__;
    /* a finished move task */
    char handle[MOVE_HANDLE_MAX];
    if (queues_start_move_task(qs, QT_ARN("dlq"), QT_ARN("dst"), 500, handle, &err) != ST_OK)
        return __LINE__;
    qt_advance(qs, 100);
    return 0;
}

static int phase2(queues_t *qs, const keep_t *k)
{
    err_t err;
    recv_res_t rr;
    queue_t *std = queues_find(qs, "std"), *f = queues_find(qs, "f.fifo");
    if (!std || !f)
        return __LINE__;
    qt_advance(qs, 2000);
    if (qt_send(std, "m5", NULL, NULL, NULL) != ST_OK || qt_recv(std, 1, 50, &rr) != 1 ||
        queue_change_visibility(std, k->std_receipt, 200, &err) != ST_OK ||
        queue_set_attributes(std, KV({"VisibilityTimeout", "45"}), &err) != ST_OK ||
        queue_tag(std, KV({"phase", "2"}), &err) != ST_OK)
        return __LINE__;
    if (queue_delete_message(f, k->fifo_receipt, &err) != ST_OK || qt_send(f, "d", "g3", NULL, NULL) != ST_OK ||
        qt_recv(f, 10, 60, &rr) < 1)
        return __LINE__;
    queue_t *later = mk(qs, "later", NULL, 0);
    if (!later || qt_send(later, "l", NULL, NULL, NULL) != ST_OK || queues_delete(qs, later, &err) != ST_OK)
        return __LINE__;
    /* a second dead-letter pipe whose move task is running at the end */
    queue_t *tdlq = mk(qs, "tdlq", NULL, 0), *tsrc = mk(qs, "tsrc", KV({"RedrivePolicy", REDRIVE("tdlq", 1)}));
    if (!tdlq || !tsrc)
        return __LINE__;
    for (int i = 0; i < 3; i++) {
        if (qt_send(tsrc, "t", NULL, NULL, NULL) != ST_OK || qt_recv(tsrc, 1, 0, &rr) != 1)
            return __LINE__;
        qt_advance(qs, 0);
        if (qt_recv(tsrc, 1, 0, &rr) != 0)
            return __LINE__;
    }
    char handle[MOVE_HANDLE_MAX];
    if (queues_start_move_task(qs, QT_ARN("tdlq"), NULL, 1, handle, &err) != ST_OK)
        return __LINE__;
    queues_tick(qs); /* at the start instant: nothing moved yet */
    return 0;
}

/* Runs the workload with a checkpoint after phase 1 (ckpt 1), after phase 2
 * (ckpt 2) or none (0); recovers into a fresh engine and compares. */
static int roundtrip(int ckpt)
{
    rig_t a, b;
    keep_t k;
    qt_set_time(0);
    if (rig_open(&a) != 0)
        return __LINE__;
    int line = phase1(a.qs, &k);
    if (line)
        return line;
    if (!rig_run_until(&a, all_durable))
        return __LINE__;
    if (ckpt == 1 && (store_checkpoint(a.st, queues_dump, a.qs) != 0 || !rig_run_until(&a, checkpoint_done)))
        return __LINE__;
    if ((line = phase2(a.qs, &k)))
        return line;
    if (!rig_run_until(&a, all_durable))
        return __LINE__;
    if (ckpt == 2 && (store_checkpoint(a.st, queues_dump, a.qs) != 0 || !rig_run_until(&a, checkpoint_done)))
        return __LINE__;
    queues_tick(a.qs);
    char *before = engine_state(a.qs);
    rig_close(&a);

    if (rig_open(&b) != 0) {
        free(before);
        return __LINE__;
    }
    store_stats_t s;
    store_get_stats(b.st, &s);
    queues_tick(b.qs);
    char *after = engine_state(b.qs);
    int same = same_state(before, after);
    free(before);
    free(after);
    if (!same)
        return __LINE__;
    if ((ckpt != 0) != (s.snapshot_lsn != 0))
        return __LINE__;

    /* the recovered engine behaves as the old one would have */
    queue_t *std = queues_find(b.qs, "std"), *f = queues_find(b.qs, "f.fifo"), *hp = queues_find(b.qs, "hp.fifo");
    err_t err;
    if (!std || !f || !hp || queues_find(b.qs, "doomed") || queues_find(b.qs, "later"))
        return __LINE__;
    if (queue_delete_message(std, k.std_receipt, &err) != ST_OK) /* receipts survive */
        return __LINE__;
    char counts[160];
    snprintf(counts, sizeof counts, "%s", qt_counts(f));
    if (qt_send(f, "c", "g9", NULL, NULL) != ST_OK || strcmp(qt_counts(f), counts) != 0) /* "c": a duplicate */
        return __LINE__;
    if (qt_send(hp, "T3", "g3", "same", NULL) != ST_OK || strcmp(qt_counts(hp), "3/0/0") != 0)
        return __LINE__; /* T3 is new: the creation scope (messageGroup) is kept */
    if (queue_purge(queues_find(b.qs, "pf.fifo"), &err) != ST_PURGE_IN_PROGRESS)
        return __LINE__;
    /* the running task goes on: one message a second */
    qt_advance(b.qs, 1000);
    if (strcmp(qt_counts(queues_find(b.qs, "tsrc")), "1/0/0") != 0)
        return __LINE__;
    rig_close(&b);
    return 0;
}

TEST(recovery_from_log_reproduces_state)
{
    CHECK_INT(roundtrip(0), 0);
}

TEST(recovery_from_snapshot_and_log_reproduces_state)
{
    CHECK_INT(roundtrip(1), 0);
}

TEST(recovery_from_snapshot_alone_reproduces_state)
{
    CHECK_INT(roundtrip(2), 0);
}

TEST(recovery_keeps_dedup_and_visibility_exactly)
{
    rig_t a;
    qt_set_time(0);
    CHECK_INT(rig_open(&a), 0);
    queue_t *f = qt_create(a.qs, "f.fifo", KV({"FifoQueue", "true"}, {"VisibilityTimeout", "10"}));
    CHECK(f != NULL);
    send_res_t first, again;
    CHECK_ST(qt_send(f, "a", "g", "d", &first), ST_OK);
    recv_res_t rr;
    CHECK_INT(qt_recv(f, 1, -1, &rr), 1);
    char h[RECEIPT_MAX];
    snprintf(h, sizeof h, "%s", rr.receipts[0]);
    rig_close(&a);

    qt_set_time(5000);
    CHECK_INT(rig_open(&a), 0);
    f = queues_find(a.qs, "f.fifo");
    CHECK(f != NULL);
    CHECK_STR(qt_counts(f), "0/1/0");
    CHECK_ST(qt_send(f, "a", "g", "d", &again), ST_OK); /* still a duplicate */
    CHECK_STR(again.message_id, first.message_id);
    CHECK_INT(again.seq, first.seq);
    CHECK_INT(qt_advance(a.qs, 4999), QT_T0 + 10000); /* the visibility deadline survived */
    CHECK_STR(qt_counts(f), "0/1/0");
    qt_advance(a.qs, 1);
    CHECK_STR(qt_counts(f), "1/0/0");
    char want[512];
    snprintf(want, sizeof want,
             "Value %s for parameter ReceiptHandle is invalid. Reason: The receipt handle has expired.", h);
    CHECK_ERR(queue_delete_message(f, h, ERR), ST_INVALID_PARAMETER_VALUE, want);
    rig_close(&a);

    /* after the window the id is free again, across a restart too */
    qt_set_time(300000);
    CHECK_INT(rig_open(&a), 0);
    f = queues_find(a.qs, "f.fifo");
    CHECK_ST(qt_send(f, "a", "g", "d", &again), ST_OK);
    CHECK(strcmp(again.message_id, first.message_id) != 0);
    CHECK_STR(qt_counts(f), "2/0/0");
    rig_close(&a);
}

TEST(recovery_rejects_records_it_cannot_apply)
{
    queues_t *qs = qt_engine();
    uint8_t junk[16] = {0};
    CHECK_INT(queues_apply(qs, 0xEE, junk, sizeof junk), -1); /* unknown type */
    CHECK_INT(queues_apply(qs, REC_QUEUE_PUT, junk, 3), -1);  /* truncated */
    buf_t b = BUF_INIT;
    buf_put_u64(&b, 42); /* a queue that does not exist */
    buf_put_u64(&b, 1);
    CHECK_INT(queues_apply(qs, REC_MSG_DEL, b.data, b.len), -1);
    CHECK_INT(queues_apply(qs, REC_QUEUE_DEL, b.data, 8), -1);
    buf_free(&b);
    queues_stats_t s;
    queues_get_stats(qs, &s);
    CHECK_INT(s.queues, 0);
    queues_free(qs);
}

/* Records written before a queue's creation-time dedup scope and a message's
 * receive time were recorded still apply. */
TEST(recovery_reads_records_without_newer_fields)
{
    queues_t *a = qt_engine();
    queue_t *q = qt_create(a, "hp.fifo", KV({"FifoQueue", "true"}, {"DeduplicationScope", "messageGroup"}));
    CHECK(q != NULL);
    CHECK_ST(qt_send(q, "m", "g", "d", NULL), ST_OK);
    recv_res_t rr;
    CHECK_INT(qt_recv(q, 1, 30, &rr), 1);
    message_t *m = rr.msgs[0];

    /* the definition with 11 ints: no dedup_by_group */
    buf_t def = BUF_INIT, old = BUF_INIT;
    queue__encode_def(q, &def);
    size_t at = 8 + 4 + strlen("hp.fifo") + 1 + 4 * 8;
    uint32_t count, eleven = 11;
    memcpy(&count, def.data + at, 4);
    CHECK_INT(count, 12);
    buf_append(&old, def.data, at);
    buf_append(&old, &eleven, 4);
    buf_append(&old, def.data + at + 4, 11 * 4);
    buf_append(&old, def.data + at + 4 + 12 * 4, def.len - (at + 4 + 12 * 4));
    /* the message without its receive time */
    buf_t put = BUF_INIT, msg = BUF_INIT, recv = BUF_INIT;
    msg__encode(m, &msg);
    buf_put_u64(&put, q->id);
    buf_put_bytes(&put, "", 0);
    buf_append(&put, msg.data, msg.len - 8);
    buf_put_u64(&recv, q->id);
    buf_put_u64(&recv, m->seq);
    buf_put_u32(&recv, 2);
    buf_put_u64(&recv, m->first_recv_ts);
    buf_put_u64(&recv, QT_T0 + 60000);
    buf_put_u64(&recv, m->nonce);

    queues_t *b = qt_engine_on(NULL);
    int rc1 = queues_apply(b, REC_QUEUE_PUT, old.data, old.len);
    int rc2 = queues_apply(b, REC_MSG_PUT, put.data, put.len);
    int rc3 = queues_apply(b, REC_MSG_RECV, recv.data, recv.len);
    buf_free(&def), buf_free(&old), buf_free(&put), buf_free(&msg), buf_free(&recv);
    CHECK_INT(rc1, 0);
    CHECK_INT(rc2, 0);
    CHECK_INT(rc3, 0);
    queue_t *qb = queues_find(b, "hp.fifo");
    CHECK(qb != NULL);
    CHECK_INT(qb->dedup_by_group, 1); /* taken from DeduplicationScope */
    message_t *mb = queue__find(qb, 1);
    CHECK(mb != NULL);
    CHECK_INT(mb->recv_count, 2);
    CHECK_INT(mb->recv_ts, 0);
    CHECK_INT(mb->visible_at, QT_T0 + 60000);
    CHECK_STR(qt_counts(qb), "0/1/0");
    /* the 12 hours then count from the first receive */
    err_t err;
    CHECK_ST(queue_change_visibility(qb, rr.receipts[0], 43200, &err), ST_OK);
    queues_free(a);
    queues_free(b);
}

/* QueueDeletedRecently outlives a restart, from the log or a snapshot. */
static int deleted_name_survives(int ckpt)
{
    rig_t r;
    err_t err;
    queue_t *q;
    char dir[16];
    snprintf(dir, sizeof dir, "run%d", ckpt); /* a store of its own */
    if (mkdir(dir, 0755) != 0 || chdir(dir) != 0)
        return __LINE__;
    qt_set_time(0);
    if (rig_open(&r) != 0 || !(q = qt_create(r.qs, "gone", NULL, 0)) || queues_delete(r.qs, q, &err) != ST_OK)
        return __LINE__;
    if (ckpt && (!qt_create(r.qs, "other", NULL, 0) || !rig_run_until(&r, all_durable) ||
                 store_checkpoint(r.st, queues_dump, r.qs) != 0 || !rig_run_until(&r, checkpoint_done)))
        return __LINE__;
    rig_close(&r);
    qt_set_time(59999);
    if (rig_open(&r) != 0)
        return __LINE__;
    store_stats_t s;
    store_get_stats(r.st, &s);
    if ((s.snapshot_lsn != 0) != (ckpt != 0))
        return __LINE__;
    if (queues_create(r.qs, "gone", NULL, 0, NULL, 0, &q, &err) != ST_QUEUE_DELETED_RECENTLY)
        return __LINE__;
    qt_set_time(60000);
    if (queues_create(r.qs, "gone", NULL, 0, NULL, 0, &q, &err) != ST_OK)
        return __LINE__;
    rig_close(&r);
    return chdir("..") == 0 ? 0 : __LINE__;
}

TEST(recovery_keeps_recently_deleted_names)
{
    CHECK_INT(deleted_name_survives(0), 0);
    CHECK_INT(deleted_name_survives(1), 0);
}

/* The bounds on bytes held apply to new sends only: recovery applies every
 * record however small the bounds it restarts with, from the log or a
 * snapshot, and its count is exact — the queue refuses sends until deletes
 * bring it under. */
static int recovery_over_the_bound(int ckpt)
{
    rig_t r;
    err_t err;
    char dir[16];
    snprintf(dir, sizeof dir, "over%d", ckpt);
    if (mkdir(dir, 0755) != 0 || chdir(dir) != 0)
        return __LINE__;
    qt_set_time(0);
    queue_t *q;
    if (rig_open(&r) != 0 || !(q = qt_create(r.qs, "q", NULL, 0)))
        return __LINE__;
    for (int i = 0; i < 3; i++)
        if (qt_send(q, "0123456789", NULL, NULL, NULL) != ST_OK) /* 522 bytes each */
            return __LINE__;
    if (!rig_run_until(&r, all_durable) ||
        (ckpt && (store_checkpoint(r.st, queues_dump, r.qs) != 0 || !rig_run_until(&r, checkpoint_done))))
        return __LINE__;
    rig_close(&r);
    if (rig_open_bounded(&r, 1100) != 0) /* room for two of them, not three */
        return __LINE__;
    q = queues_find(r.qs, "q");
    if (!q || strcmp(qt_counts(q), "3/0/0") != 0 || queue_bytes(q) != 3 * 522 || queues_bytes(r.qs) != 3 * 522)
        return __LINE__;
    recv_res_t rr;
    if (qt_send(q, "x", NULL, NULL, NULL) != ST_OVER_LIMIT || qt_recv(q, 3, 30, &rr) != 3)
        return __LINE__;
    for (int i = 0; i < 2; i++)
        if (queue_delete_message(q, rr.receipts[i], &err) != ST_OK)
            return __LINE__;
    if (queue_bytes(q) != 522 || qt_send(q, "x", NULL, NULL, NULL) != ST_OK || queue_bytes(q) != 522 + 513)
        return __LINE__;
    rig_close(&r);
    return chdir("..") == 0 ? 0 : __LINE__;
}

TEST(recovery_applies_records_past_the_bounds_and_counts_them)
{
    CHECK_INT(recovery_over_the_bound(0), 0);
    CHECK_INT(recovery_over_the_bound(1), 0);
}
