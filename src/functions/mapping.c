/*
 * mapping — event source mappings (queue → function), Lambda's SQS poller.
 *
 * Each enabled mapping runs a pump on the loop:
 *   - while fewer than `limit` batches are out (ScalingConfig.MaximumConcurrency,
 *     else the function's concurrency), receive up to 10 messages at a time
 *     into the open batch until it holds batch_size records, the queue is
 *     empty, or the rate limit has no tokens left;
 *   - invoke when the batch is full, or when it is not empty and the batching
 *     window (MaximumBatchingWindowInSeconds, counted from the first record)
 *     has passed — at once when the window is 0;
 *   - with nothing to receive, park on the queue's waiter list; the queue
 *     wakes the pump when messages arrive (no polling while idle).
 * Records are rendered into Lambda's SQS event text as they are received
 * (a message_t is only valid until the next engine call).
 *
 * Outcome of a batch: a function error fails every record. Without
 * ReportBatchItemFailures, success deletes every record. With it, the
 * response's batchItemFailures name the failed records; a response that is
 * not a JSON object (or null), or an itemIdentifier that is missing, empty,
 * not a string or not in the batch, fails the whole batch — never a silent
 * delete. Failed records are simply not deleted: they come back after their
 * visibility timeout and, after maxReceiveCount receives, the queue's redrive
 * policy moves them to its dead-letter queue.
 *
 * A function with a record handler (a plugin's <symbol>_records) also gets
 * the records themselves (function_invoke_batch) and answers one outcome
 * per record: no response document to parse, and each failed record carries
 * its own error to on_failure. Without ReportBatchItemFailures a failed
 * record fails the whole batch.
 *
 * FIFO queues: the queue itself hands out a message group only while none of
 * its messages is in flight, so each group is in one batch at a time and in
 * order. Within a batch, once a record of a group fails every later record
 * of that group counts as failed too (even when the handler said otherwise),
 * so a later message is never deleted before an earlier one succeeds.
 *
 * Throttling: when the function refuses a batch (its backlog is full), the
 * batch's records are made visible again at once and the pump rests 1 s —
 * their receive counts have grown, as with Lambda, so a queue that is
 * throttled often wants a generous maxReceiveCount.
 *
 * Rate limit (Sluice's load leveling, seed 003): a token bucket of `rate`
 * messages per second holding at most min(rate, batch_size) tokens; records
 * are received only against tokens, so over any interval T the mapping takes
 * at most rate·T + min(rate, batch_size) messages.
 *
 * Destinations: on success each record's result goes to on_success under
 * the record's request id (the String message attribute "requestId", else a
 * "requestId" string in a JSON body, else the message id). A result object
 * with "batchItemResults": {messageId: value} gives each record its own
 * value; otherwise every record stores the whole result. Every failed
 * attempt of a record goes to on_failure — to a table as RUNNING with its
 * error, since the queue retries it (dest.c). As a batch is invoked, each
 * record that carries a request id marks its existing record in the
 * mapping's table destinations RUNNING; when the queue dead-letters a
 * message, the dead-letter hook (fn_esm__dead_lettered) marks it
 * DEAD_LETTERED there.
 */
#include "functions/mappings.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "functions/functions_int.h"
#include "queues/queues.h"
#include "tables/outcome.h"
#include "util/alloc.h"
#include "util/clock.h"
#include "util/jv.h"
#include "util/logging.h"
#include "util/rand.h"
#include "util/text.h"
#include "util/trace.h"

#define THROTTLE_MS 1000
#define LOG_FAILED_MAX 10
#define RUNNING_MARK_MS 50 /* a first attempt reads RUNNING once it has run this long */

typedef struct rec {
    char id[37];
    char receipt[RECEIPT_MAX];
    char *group;      /* FIFO group, or NULL */
    char *request_id; /* see the header comment */
    int has_rid;      /* the message carries it (else request_id is the message id) */
    char *trace;      /* the trace id of its AWSTraceHeader (util/trace.h), or NULL */
    uint32_t recv_count;
    size_t off, len;  /* the record's JSON in the batch's text */
    size_t body_off, body_len; /* its body in the batch's bodies */
    uint64_t sent_ms;          /* its SentTimestamp: the lag is measured from it */
} rec_t;

typedef struct batch {
    struct esm *m;
    list_t link; /* in the mapping's out_batches while invoked */
    rec_t *recs;
    size_t n, cap;
    buf_t text; /* "{"Records":[" rec, rec, … */
    int by_record; /* the function takes records one by one: keep their bodies */
    buf_t bodies;
    fn_record_t *lent; /* the records as lent to function_invoke_batch, until done */
    uint64_t opened_ms;
    uint64_t invoked_us; /* wall clock, for the journal's function hops */
    char *trace_header;  /* the first record's AWSTraceHeader, or NULL: the function's trace in a batch of one */
    loop_timer_t mark; /* RUNNING_MARK_MS after the invocation started: mark_running */
    char queue[QUEUE_NAME_MAX + 1];
} batch_t;

struct esm {
    functions_t *fs;
    esm_def_t def; /* strings owned */
    list_t link;
    uint64_t modified_ms;
    batch_t *open;
    unsigned out;       /* batches invoked and not finished */
    list_t out_batches; /* those batches (freed with the mapping at shutdown) */
    queue_waiter_t waiter;
    loop_timer_t timer;
    double tokens;
    uint64_t tokens_ms;
    esm_stats_t stats;
    metrics_hist_t batch_size; /* records per batch invoked */
    metrics_hist_t lag;        /* per record: from its send to its batch's invocation, µs */
    int deleted;
};

static void pump(struct esm *m);
static void def_free(esm_def_t *d);
static void esm_destroy(struct esm *m);
static void esm_release_open(struct esm *m);

/* ---- records ---------------------------------------------------------------------------------- */

static void put_attr_value(buf_t *b, const msg_attr_t *a)
{
    int binary = strncmp(a->type, "Binary", 6) == 0;
    buf_puts(b, binary ? "{\"binaryValue\":" : "{\"stringValue\":");
    if (binary) {
        buf_putc(b, '"');
        text_b64_encode(a->value, a->value_len, b);
        buf_putc(b, '"');
    } else {
        jv_write_string(b, a->value, a->value_len);
    }
    buf_puts(b, ",\"stringListValues\":[],\"binaryListValues\":[],\"dataType\":");
    jv_write_string(b, a->type, strlen(a->type));
    buf_putc(b, '}');
}

/* messageAttributes, and the request id when a String attribute names it. */
static void put_msg_attrs(buf_t *b, const message_t *msg, char **request_id, char md5[33])
{
    msg_attr_t a, all[64];
    size_t off = 0, n = 0;
    buf_puts(b, ",\"messageAttributes\":{");
    while (msg_attrs_next(msg->attrs, msg->attrs_len, &off, &a)) {
        if (n)
            buf_putc(b, ',');
        jv_write_string(b, a.name, strlen(a.name));
        buf_putc(b, ':');
        put_attr_value(b, &a);
        if (!*request_id && strcmp(a.name, "requestId") == 0 && strncmp(a.type, "String", 6) == 0)
            *request_id = xmemdup(a.value, a.value_len);
        if (n < 64)
            all[n++] = a;
    }
    buf_putc(b, '}');
    md5[0] = 0;
    if (n)
        msg_attrs_md5(all, n, md5);
}

static void put_sys_attr(buf_t *b, int *first, const char *name, const char *val)
{
    buf_printf(b, "%s\"%s\":", *first ? "" : ",", name);
    jv_write_string(b, val, strlen(val));
    *first = 0;
}

static void put_attributes(buf_t *b, const message_t *msg)
{
    char num[32];
    int first = 1;
    buf_puts(b, ",\"attributes\":{");
    snprintf(num, sizeof num, "%u", msg->recv_count);
    put_sys_attr(b, &first, "ApproximateReceiveCount", num);
    if (msg->trace_header)
        put_sys_attr(b, &first, "AWSTraceHeader", msg->trace_header);
    snprintf(num, sizeof num, "%llu", (unsigned long long)msg->sent_ts);
    put_sys_attr(b, &first, "SentTimestamp", num);
    if (msg->group_id) {
        snprintf(num, sizeof num, "%llu", (unsigned long long)msg->seq);
        put_sys_attr(b, &first, "SequenceNumber", num);
        put_sys_attr(b, &first, "MessageGroupId", msg->group_id);
    }
    put_sys_attr(b, &first, "SenderId", msg->sender_id ? msg->sender_id : "");
    if (msg->dedup_id)
        put_sys_attr(b, &first, "MessageDeduplicationId", msg->dedup_id);
    snprintf(num, sizeof num, "%llu", (unsigned long long)msg->first_recv_ts);
    put_sys_attr(b, &first, "ApproximateFirstReceiveTimestamp", num);
    buf_putc(b, '}');
}

/* A record's id in the journal: its trace, else its message id. */
static const char *journal_id(const rec_t *r)
{
    return r->trace ? r->trace : trace_untraced() ? r->id : NULL;
}

static void batch_add(batch_t *bt, const message_t *msg, const char *receipt, const char *arn, const char *region)
{
    if (bt->n == bt->cap) {
        bt->cap = bt->cap ? bt->cap * 2 : 16;
        bt->recs = xrealloc(bt->recs, bt->cap * sizeof *bt->recs);
    }
    rec_t *r = &bt->recs[bt->n++];
    memset(r, 0, sizeof *r);
    snprintf(r->id, sizeof r->id, "%s", msg->id);
    snprintf(r->receipt, sizeof r->receipt, "%s", receipt);
    r->group = msg->group_id ? xstrdup(msg->group_id) : NULL;
    r->recv_count = msg->recv_count;
    r->sent_ms = msg->sent_ts;
    char key[TRACE_ID_MAX + 1];
    r->trace = trace_key(msg->trace_header, key) ? xstrdup(key) : NULL;
    if (r->trace && !bt->trace_header)
        bt->trace_header = xstrdup(msg->trace_header);
    if (bt->by_record) {
        r->body_off = bt->bodies.len;
        r->body_len = msg->body_len;
        buf_append(&bt->bodies, msg->body, msg->body_len);
    }
    buf_t *b = &bt->text;
    if (bt->n > 1)
        buf_putc(b, ',');
    r->off = b->len;
    char md5b[33], md5a[33];
    text_hex(msg->md5_body, 16, md5b);
    buf_printf(b, "{\"messageId\":\"%s\",\"receiptHandle\":", msg->id);
    jv_write_string(b, receipt, strlen(receipt));
    buf_puts(b, ",\"body\":");
    jv_write_string(b, msg->body, msg->body_len);
    put_attributes(b, msg);
    put_msg_attrs(b, msg, &r->request_id, md5a);
    if (!r->request_id)
        r->request_id = msg_body_request_id(msg->body, msg->body_len);
    r->has_rid = r->request_id != NULL;
    if (!r->request_id)
        r->request_id = xstrdup(msg->id);
    if (md5a[0])
        buf_printf(b, ",\"md5OfMessageAttributes\":\"%s\"", md5a);
    buf_printf(b, ",\"md5OfBody\":\"%s\",\"eventSource\":\"aws:sqs\",\"eventSourceARN\":\"%s\",\"awsRegion\":\"%s\"}",
               md5b, arn, region);
    r->len = b->len - r->off;
}

static void on_mark(loop_t *loop, loop_timer_t *t);

static batch_t *batch_new(struct esm *m)
{
    batch_t *bt = xcalloc(1, sizeof *bt);
    bt->m = m;
    bt->opened_ms = loop_now_ms(m->fs->loop);
    loop_timer_init(&bt->mark, on_mark, bt);
    snprintf(bt->queue, sizeof bt->queue, "%s", m->def.queue);
    function_t *f = functions_find(m->fs, m->def.function);
    bt->by_record = f && function_takes_records(f);
    buf_puts(&bt->text, "{\"Records\":[");
    return bt;
}

static void batch_free(batch_t *bt)
{
    if (loop_timer_active(&bt->mark))
        loop_timer_stop(bt->m->fs->loop, &bt->mark);
    for (size_t i = 0; i < bt->n; i++) {
        free(bt->recs[i].group);
        free(bt->recs[i].request_id);
        free(bt->recs[i].trace);
    }
    free(bt->trace_header);
    free(bt->recs);
    buf_free(&bt->text);
    buf_free(&bt->bodies);
    free(bt->lent);
    free(bt);
}

/* ---- outcome ---------------------------------------------------------------------------------- */

static ssize_t rec_index(const batch_t *bt, const char *id, size_t len)
{
    for (size_t i = 0; i < bt->n; i++)
        if (strlen(bt->recs[i].id) == len && memcmp(bt->recs[i].id, id, len) == 0)
            return (ssize_t)i;
    return -1;
}

/* Marks failed[i] from batchItemFailures; -1 when the response must fail
 * the whole batch. */
static int parse_failures(const batch_t *bt, const jv_t *v, char *failed)
{
    jv_t *list = jv_is(v, JV_OBJECT) ? jv_get(v, "batchItemFailures") : NULL;
    if (!v || !(jv_is(v, JV_OBJECT) || jv_is(v, JV_NULL)) || (list && !jv_is(list, JV_ARRAY) && !jv_is(list, JV_NULL)))
        return -1;
    for (size_t i = 0; jv_is(list, JV_ARRAY) && i < jv_count(list); i++) {
        jv_t *id = jv_get(jv_at(list, i), "itemIdentifier");
        ssize_t k = jv_is(id, JV_STRING) && id->len ? rec_index(bt, id->u.str, id->len) : -1;
        if (k < 0)
            return -1;
        failed[k] = 1;
    }
    return 0;
}

/* FIFO: a failed record fails the later records of its group. */
static void fifo_propagate(const batch_t *bt, char *failed)
{
    for (size_t i = 0; i < bt->n; i++) {
        if (!failed[i] || !bt->recs[i].group)
            continue;
        for (size_t k = i + 1; k < bt->n; k++)
            if (bt->recs[k].group && strcmp(bt->recs[k].group, bt->recs[i].group) == 0)
                failed[k] = 1;
    }
}

/* The value stored for record i: its entry in the result's batchItemResults
 * (parsed once per batch into results), else the whole result. */
static void record_result(const batch_t *bt, size_t i, const jv_t *results, const fn_result_t *r, buf_t *out)
{
    jv_t *mine = jv_get(results, bt->recs[i].id);
    if (mine)
        jv_write(mine, out);
    else
        buf_append(out, r->payload, r->len);
}

/* Marks failed[i] from a record handler's outcomes; -1 when the batch
 * fails whole (a failed record without ReportBatchItemFailures). */
static int record_failures(const struct esm *m, const batch_t *bt, const fn_result_t *r, char *failed)
{
    for (size_t i = 0; i < bt->n; i++) {
        failed[i] = r->records[i].failed != 0;
        if (failed[i] && !m->def.report_failures)
            return -1;
    }
    return 0;
}

/* A line per failed record (at most LOG_FAILED_MAX a batch; the batch's
 * own line counts them all), naming the request it belongs to. */
static void log_failed(const struct esm *m, const rec_t *rec, size_t *logged)
{
    if ((*logged)++ >= LOG_FAILED_MAX)
        return;
    log_warn("mapping_record_failed", "uuid=%s function=%s message_id=%s attempts=%u%s%.128s%s%s", m->def.uuid,
             m->def.function, rec->id, rec->recv_count, rec->has_rid ? " request_id=" : "",
             rec->has_rid ? rec->request_id : "", rec->trace ? " trace=" : "", rec->trace ? rec->trace : "");
}

static void send_outcomes(struct esm *m, const batch_t *bt, const fn_result_t *r, const jv_t *v,
                          const char *failed)
{
    function_t *f = functions_find(m->fs, m->def.function);
    jv_t *results = jv_get(v, "batchItemResults");
    size_t logged = 0;
    for (size_t i = 0; f && i < bt->n; i++) {
        const char *dest = failed[i] ? m->def.on_failure : m->def.on_success;
        if (failed[i])
            log_failed(m, &bt->recs[i], &logged);
        if (!dest && !(m->fs->records && bt->recs[i].has_rid))
            continue;
        buf_t val = BUF_INIT;
        fn_result_t rr = *r;
        const fn_record_result_t *own = r->ok && r->records ? &r->records[i] : NULL;
        if (own && own->failed == failed[i]) { /* the record handler's own result or error */
            rr.payload = own->payload;
            rr.len = own->len;
            rr.ok = !failed[i];
            rr.error_type = failed[i] ? "BatchItemFailure" : NULL;
        } else if (!failed[i]) {
            record_result(bt, i, results, r, &val);
            rr.payload = val.data;
            rr.len = val.len;
        } else if (r->ok) {
            fn__error_doc(&val, "BatchItemFailure", "the handler reported this record as failed");
            rr = (fn_result_t){.ok = 0, .payload = val.data, .len = val.len, .error_type = "BatchItemFailure"};
        }
        fn_outcome_t o = {.f = f,
                          .request_id = bt->recs[i].request_id,
                          .trace = bt->recs[i].trace,
                          .journal = journal_id(&bt->recs[i]),
                          .event = bt->text.data + bt->recs[i].off,
                          .event_len = bt->recs[i].len,
                          .res = &rr,
                          .condition = failed[i] ? "RetriesExhausted" : "Success",
                          .attempts = (int)bt->recs[i].recv_count,
                          .retried = failed[i]}; /* the queue delivers it again, or dead-letters it */
        if (dest)
            fn_dest__send(m->fs, dest, &o);
        if (bt->recs[i].has_rid)
            fn_dest__track(m->fs, dest, &o);
        buf_free(&val);
    }
}

static void delete_succeeded(struct esm *m, const batch_t *bt, const char *failed)
{
    queue_t *q = queues_find(m->fs->qs, bt->queue);
    err_t err;
    for (size_t i = 0; q && i < bt->n; i++)
        if (!failed[i] && queue_delete_message(q, bt->recs[i].receipt, &err) != ST_OK)
            log_warn("mapping_delete_failed", "uuid=%s message_id=%s reason=\"%s\"", m->def.uuid, bt->recs[i].id,
                     err.msg);
}

/* The journal's hops of a batch: one per record. */
static void trace_invoked(const struct esm *m, batch_t *bt)
{
    char detail[160], suffix[100]; /* the journal cuts the detail */
    bt->invoked_us = clock_wall_us();
    if (!trace_capacity())
        return;
    /* the batch's part once; per record its id in front */
    size_t sn = (size_t)snprintf(suffix, sizeof suffix, " in a batch of %zu, mapping %s", bt->n, m->def.uuid);
    sn = sn < sizeof suffix ? sn : sizeof suffix - 1;
    for (size_t i = 0; i < bt->n; i++) {
        const char *id = journal_id(&bt->recs[i]);
        if (!id)
            continue;
        size_t n = strlen(bt->recs[i].id);
        memcpy(detail, bt->recs[i].id, n);
        memcpy(detail + n, suffix, sn + 1);
        trace_hop_at(id, TRACE_FUNCTION_INVOKED, m->def.function, detail, 0, bt->invoked_us);
    }
}

static void trace_done(const struct esm *m, const batch_t *bt, const fn_result_t *r, const char *failed)
{
    uint64_t now = clock_wall_us(), took = now > bt->invoked_us ? now - bt->invoked_us : 0;
    for (size_t i = 0; i < bt->n && trace_capacity(); i++)
        trace_hop_at(journal_id(&bt->recs[i]), failed[i] ? TRACE_FUNCTION_FAILED : TRACE_FUNCTION_FINISHED,
                     m->def.function,
                     failed[i] ? (!r->ok && r->error_type ? r->error_type : "BatchItemFailure") : bt->recs[i].id, took,
                     now);
}

static void on_batch_done(void *arg, const fn_result_t *r)
{
    batch_t *bt = arg;
    struct esm *m = bt->m;
    char *failed = xcalloc(bt->n ? bt->n : 1, 1);
    /* the response, parsed once for batchItemFailures and batchItemResults */
    jv_doc_t *d = jv_doc_new();
    char why[64];
    jv_t *v = !r->ok || r->records ? NULL : r->len ? jv_parse(d, r->payload, r->len, why, sizeof why) : jv_null(d);
    int whole = !r->ok || (r->records ? record_failures(m, bt, r, failed) != 0
                                      : m->def.report_failures && parse_failures(bt, v, failed) != 0);
    if (whole) {
        memset(failed, 1, bt->n);
        m->stats.whole_batch_failures++;
        log_warn("mapping_batch_failed", "uuid=%s function=%s records=%zu error_type=%s", m->def.uuid,
                 m->def.function, bt->n,
                 !r->ok ? r->error_type : r->records ? "BatchItemFailure" : "InvalidBatchResponse");
    }
    fifo_propagate(bt, failed);
    trace_done(m, bt, r, failed);
    delete_succeeded(m, bt, failed);
    send_outcomes(m, bt, r, v, failed);
    for (size_t i = 0; i < bt->n; i++)
        failed[i] ? m->stats.failed++ : m->stats.succeeded++;
    jv_doc_free(d);
    free(failed);
    list_del(&bt->link);
    batch_free(bt);
    m->out--;
    if (m->deleted) {
        if (m->out == 0)
            esm_destroy(m);
        return;
    }
    pump(m);
}

/* ---- the pump --------------------------------------------------------------------------------- */

static unsigned limit_of(const struct esm *m)
{
    function_t *f = functions_find(m->fs, m->def.function);
    unsigned fc = f ? function_def(f)->concurrency : 1;
    return m->def.max_concurrency ? m->def.max_concurrency : fc;
}

static void refill(struct esm *m)
{
    uint64_t now = loop_now_ms(m->fs->loop);
    double cap = m->def.rate < m->def.batch_size ? m->def.rate : m->def.batch_size;
    m->tokens += (double)(now - m->tokens_ms) * m->def.rate / 1000.0;
    if (m->tokens > cap)
        m->tokens = cap;
    m->tokens_ms = now;
}

/* The queue calls this from inside the send that made a message available:
 * pump on the next loop pass instead, so the rest of that SendMessageBatch
 * (and of the iteration) lands in the same batch. */
static void on_wake(queue_waiter_t *w)
{
    struct esm *m = list_entry(w, struct esm, waiter);
    if (!w->q_gone && !w->stop)
        loop_timer_start(m->fs->loop, &m->timer, 0); /* pump re-arms a window or rate timer */
}

static void on_timer(loop_t *loop, loop_timer_t *t)
{
    (void)loop;
    pump(t->arg);
}

static void esm_destroy(struct esm *m)
{
    while (!list_empty(&m->out_batches)) {
        batch_t *bt = list_entry(m->out_batches.next, batch_t, link);
        list_del(&bt->link);
        batch_free(bt);
    }
    def_free(&m->def);
    free(m);
}

/* The batch's invocation has started: the records of requests whose record
 * is in a table destination (or the request records table) read RUNNING
 * (fn_dest__running writes only existing records: a mapping without the
 * gateway in front costs one lookup per record). retries: the records of
 * later attempts (marked at once: their records hold the last attempt's
 * lastError), else those of first attempts — marked only once the
 * invocation has run RUNNING_MARK_MS, so that a worker faster than that
 * takes its requests from ACCEPTED straight to their outcome, without a
 * write (and a store record) per request that no reader could have used. */
static void mark_running(struct esm *m, const batch_t *bt, int retries)
{
    table_t *t[3] = {fn_dest__table(m->fs, m->def.on_success), fn_dest__table(m->fs, m->def.on_failure),
                     fn_dest__records(m->fs)};
    if (t[1] == t[0])
        t[1] = NULL;
    if (t[2] == t[0] || t[2] == t[1])
        t[2] = NULL;
    for (size_t i = 0; (t[0] || t[1] || t[2]) && i < bt->n; i++)
        for (int k = 0; k < 3 && bt->recs[i].has_rid && (bt->recs[i].recv_count > 1) == !!retries; k++)
            if (t[k])
                fn_dest__running(t[k], bt->recs[i].request_id, bt->recs[i].recv_count);
}

static void on_mark(loop_t *loop, loop_timer_t *t)
{
    (void)loop;
    batch_t *bt = t->arg;
    mark_running(bt->m, bt, 0);
}

/* Invokes the open batch. -1 when the function refused it (its backlog is
 * full, or it is gone): the records go back to the queue at once and the
 * pump rests THROTTLE_MS, rather than taking and refusing the whole queue. */
static int dispatch(struct esm *m)
{
    batch_t *bt = m->open;
    function_t *f = functions_find(m->fs, m->def.function);
    err_t err;
    m->open = NULL;
    buf_puts(&bt->text, "]}");
    free(bt->lent);
    fn_record_t *recs = bt->lent = bt->by_record ? xcalloc(bt->n, sizeof *recs) : NULL;
    for (size_t i = 0; recs && i < bt->n; i++)
        recs[i] = (fn_record_t){.id = bt->recs[i].id,
                                .body = bt->bodies.data + bt->recs[i].body_off,
                                .body_len = bt->recs[i].body_len,
                                .request_id = bt->recs[i].request_id,
                                .group = bt->recs[i].group,
                                .recv_count = bt->recs[i].recv_count};
    uint64_t call;
    status_t st = f ? function_invoke_batch(f, bt->text.data, bt->text.len, recs, recs ? bt->n : 0, on_batch_done,
                                            bt, &call, &err)
                    : ST_RESOURCE_NOT_FOUND;
    /* The records' hops are the mapping's own. A batch of one record
     * continues that record's trace; a batch of several has no one trace
     * (Lambda links a batch's records rather than continuing one of them). */
    if (st == ST_OK)
        function_trace(f, call, NULL, bt->n == 1 ? bt->trace_header : NULL);
    if (st != ST_OK) {
        m->open = bt;
        esm_release_open(m);
        m->stats.throttled++;
        return -1;
    }
    m->out++;
    list_push_back(&m->out_batches, &bt->link);
    trace_invoked(m, bt);
    m->stats.batches++;
    m->stats.records += bt->n;
    metrics_hist_observe(&m->batch_size, bt->n);
    uint64_t now_ms = clock_wall_ms();
    for (size_t i = 0; i < bt->n; i++)
        metrics_hist_observe(&m->lag, now_ms > bt->recs[i].sent_ms ? (now_ms - bt->recs[i].sent_ms) * 1000 : 0);
    mark_running(m, bt, 1); /* done never runs from inside the invoke: bt is still ours here */
    loop_timer_start(m->fs->loop, &bt->mark, RUNNING_MARK_MS);
    return 0;
}

/* Receives into the open batch; returns the number of messages taken. */
static size_t fill(struct esm *m, queue_t *q)
{
    char arn[256];
    size_t took = 0;
    queue_arn(q, arn, sizeof arn);
    for (;;) {
        size_t want = m->def.batch_size - (m->open ? m->open->n : 0);
        if (m->def.rate) {
            refill(m);
            size_t tok = (size_t)floor(m->tokens);
            want = tok < want ? tok : want;
        }
        if (want == 0)
            return took;
        recv_req_t rq = {.max = want < 10 ? (long)want : 10};
        recv_res_t rs;
        err_t err;
        if (queue_receive(q, &rq, &rs, &err) != ST_OK || rs.n == 0)
            return took;
        if (!m->open)
            m->open = batch_new(m);
        for (int i = 0; i < rs.n; i++)
            batch_add(m->open, rs.msgs[i], rs.receipts[i], arn, functions_region(m->fs));
        m->tokens -= rs.n;
        took += (size_t)rs.n;
    }
}

/* When the rate limit is what stops us: the time a whole token is back. */
static uint64_t token_wait_ms(const struct esm *m)
{
    double need = 1.0 - m->tokens;
    return need <= 0 ? 1 : (uint64_t)ceil(need * 1000.0 / m->def.rate);
}

static void pump(struct esm *m)
{
    queue_t *q = queues_find(m->fs->qs, m->def.queue);
    if (!m->def.enabled || m->deleted || !q)
        return;
    queue_unwait(&m->waiter);
    if (loop_timer_active(&m->timer))
        loop_timer_stop(m->fs->loop, &m->timer);
    while (m->out < limit_of(m)) {
        fill(m, q);
        size_t n = m->open ? m->open->n : 0;
        uint64_t now = loop_now_ms(m->fs->loop);
        if (n && (n >= m->def.batch_size || now >= m->open->opened_ms + m->def.window_s * 1000ull)) {
            if (dispatch(m) == 0)
                continue;
            loop_timer_start(m->fs->loop, &m->timer, THROTTLE_MS);
            return;
        }
        if (n) /* the window is open: invoke when it closes, or sooner if the batch fills */
            loop_timer_at(m->fs->loop, &m->timer, m->open->opened_ms + m->def.window_s * 1000ull);
        if (m->def.rate && m->tokens < 1.0)
            loop_timer_start(m->fs->loop, &m->timer, token_wait_ms(m));
        else
            queue_wait(q, &m->waiter);
        return;
    }
}

/* ---- definitions ------------------------------------------------------------------------------ */

static void def_free(esm_def_t *d)
{
    free((char *)d->function);
    free((char *)d->queue);
    free((char *)d->on_success);
    free((char *)d->on_failure);
}

static void def_copy(esm_def_t *dst, const esm_def_t *src)
{
    *dst = *src;
    dst->function = xstrdup(src->function);
    dst->queue = xstrdup(src->queue);
    dst->on_success = xstrdup_opt(src->on_success);
    dst->on_failure = xstrdup_opt(src->on_failure);
}

static status_t def_check(functions_t *fs, const esm_def_t *d, err_t *err)
{
    char why[256];
    queue_t *q = fs->qs ? queues_find(fs->qs, d->queue ? d->queue : "") : NULL;
    if (!functions_find(fs, d->function ? d->function : ""))
        return err_set(err, ST_RESOURCE_NOT_FOUND, "Function not found: %s", d->function ? d->function : "");
    if (!q)
        return err_set(err, ST_INVALID_PARAMETER_VALUE, "Error occurred while ReceiveMessage. SQS Error Code: "
                       "AWS.SimpleQueueService.NonExistentQueue. SQS Error Message: The specified queue does not exist");
    uint32_t max = queue_is_fifo(q) ? 10 : ESM_BATCH_MAX;
    if (d->batch_size < 1 || d->batch_size > max)
        return err_set(err, ST_INVALID_PARAMETER_VALUE, "BatchSize must be between 1 and %u for this queue", max);
    if (d->window_s > 300)
        return err_set(err, ST_INVALID_PARAMETER_VALUE, "MaximumBatchingWindowInSeconds must be between 0 and 300");
    if (d->batch_size > 10 && d->window_s < 1)
        return err_set(err, ST_INVALID_PARAMETER_VALUE,
                       "Maximum batch window in seconds must be greater than 0 if maximum batch size is greater than 10");
    if (d->max_concurrency && (d->max_concurrency < 2 || d->max_concurrency > 1000))
        return err_set(err, ST_INVALID_PARAMETER_VALUE, "MaximumConcurrency must be between 2 and 1000");
    const char *dests[2] = {d->on_success, d->on_failure};
    for (int i = 0; i < 2; i++)
        if (dests[i] && fn_dest__valid(fs, dests[i], why, sizeof why) != 0)
            return err_set(err, ST_INVALID_PARAMETER_VALUE, "destination %s: %s", dests[i], why);
    return ST_OK;
}

static void encode(buf_t *b, const struct esm *m)
{
    const esm_def_t *d = &m->def;
    buf_put_str(b, d->uuid);
    buf_put_str(b, d->function);
    buf_put_str(b, d->queue);
    buf_put_u32(b, d->batch_size);
    buf_put_u32(b, d->window_s);
    buf_put_u32(b, d->max_concurrency);
    buf_put_u32(b, d->rate);
    buf_put_u8(b, (uint8_t)(d->report_failures | (d->enabled << 1)));
    buf_put_str(b, d->on_success);
    buf_put_str(b, d->on_failure);
    buf_put_u64(b, m->modified_ms);
}

static void persist(struct esm *m)
{
    if (!m->fs->store)
        return;
    buf_t b = BUF_INIT;
    encode(&b, m);
    store_append(m->fs->store, FN_REC_ESM_PUT, b.data, b.len);
    buf_free(&b);
}

static struct esm *esm_insert(functions_t *fs, const esm_def_t *d, uint64_t modified_ms)
{
    struct esm *m = xcalloc(1, sizeof *m);
    metrics_hist_init(&m->batch_size, METRICS_SIZE, METRICS_SIZE_N, 1);
    metrics_hist_init(&m->lag, METRICS_DURATION_US, METRICS_DURATION_US_N, 1e6);
    m->fs = fs;
    def_copy(&m->def, d);
    m->modified_ms = modified_ms;
    m->waiter.wake = on_wake;
    list_init(&m->waiter.link);
    list_init(&m->out_batches);
    loop_timer_init(&m->timer, on_timer, m);
    m->tokens_ms = fs->loop ? loop_now_ms(fs->loop) : 0;
    list_push_back(&fs->esms, &m->link);
    hmap_put(&fs->esm_by_uuid, m->def.uuid, strlen(m->def.uuid), m);
    return m;
}

static void esm_stop(struct esm *m)
{
    queue_unwait(&m->waiter);
    if (loop_timer_active(&m->timer))
        loop_timer_stop(m->fs->loop, &m->timer);
}

/* Records received into a batch that will not be invoked go back at once. */
static void esm_release_open(struct esm *m)
{
    batch_t *bt = m->open;
    queue_t *q = bt ? queues_find(m->fs->qs, bt->queue) : NULL;
    err_t err;
    for (size_t i = 0; q && i < bt->n; i++)
        queue_change_visibility(q, bt->recs[i].receipt, 0, &err);
    if (bt)
        batch_free(bt);
    m->open = NULL;
}

status_t esm_create(functions_t *fs, const esm_def_t *def, esm_t **out, err_t *err)
{
    status_t st = def_check(fs, def, err);
    if (st != ST_OK)
        return st;
    esm_t *old = esm_find_pair(fs, def->function, def->queue);
    if (old)
        return err_set(err, ST_ALREADY_EXISTS,
                       "An event source mapping with SQS arn (\" arn:aws:sqs:%s:%s:%s \") and function (\" %s \") "
                       "already exists. Please update or delete the existing mapping with UUID %s",
                       fs->region, fs->account, def->queue, def->function, old->def.uuid);
    esm_def_t d = *def;
    rand_uuid(d.uuid);
    struct esm *m = esm_insert(fs, &d, clock_wall_ms());
    persist(m);
    log_info("mapping_created", "uuid=%s function=%s queue=%s batch_size=%u", m->def.uuid, m->def.function,
             m->def.queue, m->def.batch_size);
    if (fs->started)
        pump(m);
    *out = m;
    return ST_OK;
}

status_t esm_update(esm_t *m, const esm_def_t *def, err_t *err)
{
    esm_def_t d = *def;
    d.function = m->def.function;
    d.queue = m->def.queue;
    memcpy(d.uuid, m->def.uuid, sizeof d.uuid);
    status_t st = def_check(m->fs, &d, err);
    if (st != ST_OK)
        return st;
    esm_def_t old = m->def;
    def_copy(&m->def, &d);
    def_free(&old);
    m->modified_ms = clock_wall_ms();
    persist(m);
    esm_stop(m);
    if (!m->def.enabled)
        esm_release_open(m);
    else if (m->fs->started)
        pump(m);
    return ST_OK;
}

/* Out of the registry now; the memory goes once no batch is out. */
static void esm_unlink(struct esm *m)
{
    esm_stop(m);
    esm_release_open(m);
    list_del(&m->link);
    hmap_del(&m->fs->esm_by_uuid, m->def.uuid, strlen(m->def.uuid));
    m->deleted = 1;
    if (m->out == 0)
        esm_destroy(m);
}

status_t esm_delete(esm_t *m, err_t *err)
{
    (void)err;
    if (m->fs->store) {
        buf_t b = BUF_INIT;
        buf_put_str(&b, m->def.uuid);
        store_append(m->fs->store, FN_REC_ESM_DEL, b.data, b.len);
        buf_free(&b);
    }
    log_info("mapping_deleted", "uuid=%s", m->def.uuid);
    esm_unlink(m);
    return ST_OK;
}

esm_t *esm_find(const functions_t *fs, const char *uuid)
{
    return uuid ? hmap_get(&fs->esm_by_uuid, uuid, strlen(uuid)) : NULL;
}

esm_t *esm_find_pair(const functions_t *fs, const char *function, const char *queue)
{
    list_for_each(pos, &fs->esms)
    {
        struct esm *m = list_entry(pos, struct esm, link);
        if (strcmp(m->def.function, function) == 0 && strcmp(m->def.queue, queue) == 0)
            return m;
    }
    return NULL;
}

void esm_list(const functions_t *fs, const char *function, const char *queue, esm_t ***out, size_t *n)
{
    size_t cap = 0;
    *out = NULL;
    *n = 0;
    list_for_each(pos, &fs->esms)
    {
        struct esm *m = list_entry(pos, struct esm, link);
        if ((function && strcmp(m->def.function, function) != 0) || (queue && strcmp(m->def.queue, queue) != 0))
            continue;
        if (*n == cap) {
            cap = cap ? cap * 2 : 8;
            *out = xrealloc(*out, cap * sizeof **out);
        }
        (*out)[(*n)++] = m;
    }
}

const esm_def_t *esm_get_def(const esm_t *m)
{
    return &m->def;
}

const char *esm_state(const esm_t *m)
{
    return m->def.enabled ? "Enabled" : "Disabled";
}

uint64_t esm_last_modified_ms(const esm_t *m)
{
    return m->modified_ms;
}

const metrics_hist_t *esm_lags(const esm_t *m)
{
    return &m->lag;
}

const metrics_hist_t *esm_batch_sizes(const esm_t *m)
{
    return &m->batch_size;
}

void esm_get_stats(const esm_t *m, esm_stats_t *out)
{
    *out = m->stats;
    out->inflight_batches = m->out;
}

/* ---- dead letters ------------------------------------------------------------------------------ */

void fn_esm__dead_lettered(void *arg, queue_t *src, queue_t *dlq, const message_t *msg, const char *request_id)
{
    functions_t *fs = arg;
    err_t err;
    if (!request_id)
        return;
    list_for_each(pos, &fs->esms)
    {
        struct esm *m = list_entry(pos, struct esm, link);
        if (strcmp(m->def.queue, queue_name(src)) != 0)
            continue;
        table_t *t[2] = {fn_dest__table(fs, m->def.on_success), fn_dest__table(fs, m->def.on_failure)};
        for (int k = 0; k < 2; k++)
            if (t[k] && (k == 0 || t[1] != t[0]) &&
                outcome_dead_lettered(t[k], request_id, queue_name(dlq), msg->recv_count, &err) == OUTCOME_REFUSED)
                log_warn("destination_refused", "function=%s table=%s request_id=%s reason=\"%s\"",
                         m->def.function, table_name(t[k]), request_id, err.msg);
    }
}

/* ---- store and lifecycle ------------------------------------------------------------------------- */

int fn_esm__apply(functions_t *fs, uint8_t type, const void *p, size_t len)
{
    reader_t r;
    reader_init(&r, p, len);
    char *uuid = reader_strdup(&r);
    esm_t *old = uuid ? esm_find(fs, uuid) : NULL;
    int rc = -1;
    if (type == FN_REC_ESM_DEL) {
        if (!r.err && r.off == len && uuid) {
            if (old)
                esm_unlink(old);
            rc = 0;
        }
        free(uuid);
        return rc;
    }
    esm_def_t d = {0};
    char *fn = reader_strdup(&r), *q = reader_strdup(&r);
    d.batch_size = reader_u32(&r);
    d.window_s = reader_u32(&r);
    d.max_concurrency = reader_u32(&r);
    d.rate = reader_u32(&r);
    uint8_t flags = reader_u8(&r);
    char *ok = reader_strdup(&r), *ko = reader_strdup(&r);
    uint64_t modified = reader_u64(&r);
    if (!r.err && r.off == len && uuid && strlen(uuid) < sizeof d.uuid && fn && q) {
        snprintf(d.uuid, sizeof d.uuid, "%s", uuid);
        d.function = fn;
        d.queue = q;
        d.report_failures = flags & 1;
        d.enabled = (flags >> 1) & 1;
        d.on_success = ok;
        d.on_failure = ko;
        if (old)
            esm_unlink(old);
        esm_insert(fs, &d, modified);
        rc = 0;
    }
    free(uuid);
    free(fn);
    free(q);
    free(ok);
    free(ko);
    return rc;
}

int fn_esm__dump(functions_t *fs, store_snap_t *snap)
{
    buf_t b = BUF_INIT;
    list_for_each(pos, &fs->esms)
    {
        buf_reset(&b);
        encode(&b, list_entry(pos, struct esm, link));
        store_snap_put(snap, FN_REC_ESM_PUT, b.data, b.len);
    }
    buf_free(&b);
    return 0;
}

void fn_esm__start(functions_t *fs)
{
    list_for_each(pos, &fs->esms)
    {
        struct esm *m = list_entry(pos, struct esm, link);
        loop_timer_start(fs->loop, &m->timer, 0);
    }
}

void fn_esm__free(functions_t *fs)
{
    while (!list_empty(&fs->esms)) {
        struct esm *m = list_entry(fs->esms.next, struct esm, link);
        esm_stop(m);
        if (m->open)
            batch_free(m->open);
        m->open = NULL;
        list_del(&m->link);
        esm_destroy(m); /* batches still out are dropped with their calls */
    }
}
