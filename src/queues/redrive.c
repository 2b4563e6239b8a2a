/*
 * redrive — dead-letter queues: the RedrivePolicy / RedriveAllowPolicy
 * documents, the move of a message into its DLQ (on the receive that would
 * exceed maxReceiveCount), and message move tasks that take messages out of
 * a DLQ again, back to where they came from or to a chosen queue, at a rate.
 *
 * A move is one record (REC_MSG_MOVE) holding both ends, so a crash can never
 * leave a message in both queues or in neither.
 *
 * A move task remembers the sequence numbers present in the source when it
 * started; each tick (every 100 ms) it moves as many of them that are
 * visible as the rate allows since the last tick, and revisits the ones in
 * flight until they come back or go away.
 * Task state changes are records; the moved count is approximate across a
 * restart, as AWS's is.
 *
 * Bytes held (queues.h): a move changes no total. A dead-letter move is
 * never refused — the DLQ may go over its own bound, since keeping the
 * message would hand it to its consumer again past maxReceiveCount. A move
 * task, an operator's redrive at a rate, waits instead while its
 * destination's own bound leaves no room for the next message.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "queues/queue_int.h"
#include "util/alloc.h"
#include "util/jv.h"
#include "util/rand.h"
#include "util/text.h"

#define TASK_TICK_MS 100
#define TASK_DEFAULT_RATE 10000 /* messages per second when no rate is given */
#define TASK_RATE_MAX 500
#define TASKS_KEPT 10

enum { TASK_RUNNING, TASK_COMPLETED, TASK_CANCELLING, TASK_CANCELLED, TASK_FAILED };
static const char *const task_status_names[] = {"RUNNING", "COMPLETED", "CANCELLING", "CANCELLED", "FAILED"};

struct move_task {
    list_t link;
    uint64_t id;
    char uuid[37]; /* the taskId inside the handle */
    int status;
    char *source_arn, *dest_arn; /* dest NULL: back to each message's source */
    int rate;                    /* -1: not given */
    uint64_t moved, to_move, started;
    char *failure;
    uint64_t *seqs; /* still to move, ascending */
    size_t nseqs;
    uint64_t upto; /* source messages with seq <= upto are the task's */
    int loaded;    /* seqs built (after recovery they are rebuilt lazily) */
    uint64_t credit, last; /* rate budget in thousandths of a message, as of wall ms last */
};

/* ---- RedrivePolicy --------------------------------------------------------------- */

/* The value as the client wrote it (a string without quotes), for messages. */
static void value_text(const jv_t *v, char *out, size_t n)
{
    if (jv_is(v, JV_STRING) || jv_is(v, JV_NUMBER))
        snprintf(out, n, "%.*s", (int)v->len, v->u.str);
    else
        snprintf(out, n, "%s", "null");
}

static status_t redrive_invalid(const char *json, const char *reason, err_t *err)
{
    return err_set(err, ST_INVALID_PARAMETER_VALUE, "Value %s for parameter RedrivePolicy is invalid. Reason: %s",
                   json, reason);
}

/* maxReceiveCount may be sent as a number or a numeric string. */
static int int_like(const jv_t *v, long long *out)
{
    int64_t n;
    if (jv_is_int(v))
        return *out = v->i, 1;
    if (jv_is(v, JV_STRING) && text_parse_i64(jv_str(v), &n) == 0)
        return *out = n, 1;
    return 0;
}

static int arn_listed(const jv_t *arns, const char *arn)
{
    for (size_t i = 0; i < jv_count(arns); i++) {
        const char *s = jv_str(jv_at(arns, i));
        if (s && strcmp(s, arn) == 0)
            return 1;
    }
    return 0;
}

/* Whether the DLQ's RedriveAllowPolicy lets src use it. */
static int allow_policy_permits(const queue_t *dlq, const queue_t *src)
{
    if (!dlq->redrive_allow)
        return 1;
    jv_doc_t *d = jv_doc_new();
    jv_t *doc = jv_parse_cstr(d, dlq->redrive_allow);
    const char *perm = jv_str(jv_get(doc, "redrivePermission"));
    int ok = !perm || strcmp(perm, "allowAll") == 0;
    if (perm && strcmp(perm, "byQueue") == 0) {
        char arn[256];
        queue_arn(src, arn, sizeof arn);
        ok = arn_listed(jv_get(doc, "sourceQueueArns"), arn);
    }
    jv_doc_free(d);
    return ok;
}

static status_t check_dlq_target(queue_t *q, const char *json, const char *arn, err_t *err)
{
    if (strncmp(arn, "arn:", 4) != 0 || strchr(arn, ' '))
        return redrive_invalid(json, "Invalid value for deadLetterTargetArn.", err);
    queue_t *dlq = queues_find_arn(q->qs, arn);
    if (!dlq)
        return redrive_invalid(json, "Dead letter target does not exist.", err);
    if (dlq->fifo != q->fifo)
        return redrive_invalid(json, "Dead-letter queue must be same type of queue as the source.", err);
    if (!allow_policy_permits(dlq, q))
        return redrive_invalid(json, "Dead-letter queue does not allow this queue as a source (RedriveAllowPolicy).",
                               err);
    return ST_OK;
}

/* RedrivePolicy is stored as AWS returns it: compact, maxReceiveCount a number. */
char *redrive__normalize(const char *dlq, int max)
{
    buf_t b = BUF_INIT;
    buf_puts(&b, "{\"deadLetterTargetArn\":");
    jv_write_string(&b, dlq, strlen(dlq));
    buf_printf(&b, ",\"maxReceiveCount\":%d}", max);
    return buf_detach(&b, NULL);
}

char *redrive__normalize_text(const char *json)
{
    jv_doc_t *d = jv_doc_new();
    jv_t *doc = jv_parse_cstr(d, json);
    const char *arn = jv_str(jv_get(doc, "deadLetterTargetArn"));
    long long mrc;
    char *out = arn && int_like(jv_get(doc, "maxReceiveCount"), &mrc) ? redrive__normalize(arn, (int)mrc)
                                                                       : xstrdup(json);
    jv_doc_free(d);
    return out;
}

/* The first thing wrong with a policy document, AWS's order of checks. */
static status_t policy_problem(queue_t *q, const char *json, const jv_t *doc, long long *mrc, err_t *err)
{
    char text[64];
    if (!jv_is(doc, JV_OBJECT))
        return redrive_invalid(json, "Redrive policy is not a valid JSON map.", err);
    if (!jv_get(doc, "maxReceiveCount"))
        return redrive_invalid(json, "Redrive policy does not contain mandatory attribute: maxReceiveCount.", err);
    if (!jv_get(doc, "deadLetterTargetArn"))
        return redrive_invalid(json, "Redrive policy does not contain mandatory attribute: deadLetterTargetArn.", err);
    if (!int_like(jv_get(doc, "maxReceiveCount"), mrc) || *mrc < 1 || *mrc > 1000) {
        value_text(jv_get(doc, "maxReceiveCount"), text, sizeof text);
        return err_set(err, ST_INVALID_PARAMETER_VALUE,
                       "Value %s for parameter RedrivePolicy is invalid. Reason: Invalid value for maxReceiveCount: "
                       "%s, valid values are from 1 to 1000 both inclusive.",
                       json, text);
    }
    if (!jv_str(jv_get(doc, "deadLetterTargetArn")))
        return redrive_invalid(json, "Invalid value for deadLetterTargetArn.", err);
    return check_dlq_target(q, json, jv_str(jv_get(doc, "deadLetterTargetArn")), err);
}

status_t redrive__parse_policy(queue_t *q, const char *json, int creating, char **dlq, int *max, err_t *err)
{
    (void)creating;
    *dlq = NULL;
    *max = 0;
    if (!*json)
        return ST_OK; /* an empty policy removes the redrive */
    jv_doc_t *d = jv_doc_new();
    jv_t *doc = jv_parse_cstr(d, json);
    long long mrc = 0;
    status_t st = policy_problem(q, json, doc, &mrc, err);
    if (st == ST_OK) {
        *dlq = xstrdup(jv_str(jv_get(doc, "deadLetterTargetArn")));
        *max = (int)mrc;
    }
    jv_doc_free(d);
    return st;
}

static status_t allow_invalid(const char *reason, err_t *err)
{
    return err_set(err, ST_INVALID_ATTRIBUTE_VALUE,
                   "Invalid value for the parameter RedriveAllowPolicy. Reason: Amazon SQS can't create the redrive "
                   "allow policy%s",
                   reason);
}

status_t redrive__parse_allow(const char *json, err_t *err)
{
    jv_doc_t *d = jv_doc_new();
    jv_t *doc = jv_parse_cstr(d, json);
    const char *perm = jv_str(jv_get(doc, "redrivePermission"));
    jv_t *arns = jv_get(doc, "sourceQueueArns");
    status_t st = ST_OK;
    if (!jv_is(doc, JV_OBJECT) || !perm ||
        (strcmp(perm, "allowAll") && strcmp(perm, "denyAll") && strcmp(perm, "byQueue")))
        st = allow_invalid(", as it’s in an unsupported format.", err);
    else if (strcmp(perm, "byQueue") == 0 && (!jv_is(arns, JV_ARRAY) || jv_count(arns) == 0 || jv_count(arns) > 10))
        st = allow_invalid(". When you specify the byQueue permission type, you must also specify one or more "
                           "sourceQueueArns values.",
                           err);
    else if (strcmp(perm, "byQueue") != 0 && arns)
        st = allow_invalid(". To specify one or more source queues, you must set redrivePermission to byQueue.", err);
    jv_doc_free(d);
    return st;
}

/* ---- moves ------------------------------------------------------------------------ */

void redrive__move(queue_t *src, message_t *m, queue_t *dst, int to_dlq)
{
    uint64_t src_seq = m->seq;
    uint64_t now = queues_now(src->qs);
    queue__remove(src, m);
    free(m->dlq_source_arn);
    m->dlq_source_arn = NULL;
    if (to_dlq) {
        char arn[256];
        queue_arn(src, arn, sizeof arn);
        m->dlq_source_arn = xstrdup(arn);
    } else {
        /* A redriven message starts over: were its receive count kept, a
         * source with maxReceiveCount 1 would send it straight back on its
         * first receive (AWS: test_move_task_workflow_with_default_destination). */
        m->recv_count = 0;
        m->first_recv_ts = m->recv_ts = 0;
    }
    m->seq = ++dst->next_seq;
    m->enq_ts = now;
    m->visible_at = 0;
    rec__msg_move(src, src_seq, dst, m);
    queue__insert(dst, m);
}

/* ---- move tasks ------------------------------------------------------------------- */

static void task_free(move_task_t *t)
{
    free(t->source_arn);
    free(t->dest_arn);
    free(t->failure);
    free(t->seqs);
    free(t);
}

void redrive__free_tasks(queues_t *qs)
{
    list_t *pos;
    while ((pos = list_first(&qs->tasks))) {
        list_del(pos);
        task_free(list_entry(pos, move_task_t, link));
    }
}

static void task_encode(const move_task_t *t, buf_t *b)
{
    buf_put_u64(b, t->id);
    buf_append(b, t->uuid, 36);
    buf_put_u8(b, (uint8_t)t->status);
    buf_put_str(b, t->source_arn);
    buf_put_str(b, t->dest_arn);
    buf_put_u32(b, (uint32_t)t->rate);
    buf_put_u64(b, t->moved);
    buf_put_u64(b, t->to_move);
    buf_put_u64(b, t->started);
    buf_put_str(b, t->failure);
    buf_put_u64(b, t->upto);
}

static void task_persist(queues_t *qs, const move_task_t *t)
{
    buf_t b = BUF_INIT;
    task_encode(t, &b);
    rec__task_put(qs, b.data, b.len);
    buf_free(&b);
}

static move_task_t *task_find(queues_t *qs, uint64_t id)
{
    list_t *pos;
    for (pos = qs->tasks.next; pos != &qs->tasks; pos = pos->next) {
        move_task_t *t = list_entry(pos, move_task_t, link);
        if (t->id == id)
            return t;
    }
    return NULL;
}

/* Keeps the newest TASKS_KEPT finished tasks per source, as ListMessageMoveTasks shows. */
static void task_trim(queues_t *qs, const char *source)
{
    int kept = 0;
    list_t *pos, *tmp;
    list_for_each_safe(pos, tmp, &qs->tasks)
    {
        move_task_t *t = list_entry(pos, move_task_t, link);
        if (strcmp(t->source_arn, source) != 0)
            continue;
        if (++kept > TASKS_KEPT && t->status != TASK_RUNNING) {
            list_del(pos);
            task_free(t);
        }
    }
}

int redrive__apply_task(queues_t *qs, const void *p, size_t n)
{
    reader_t r;
    reader_init(&r, p, n);
    move_task_t *t = xcalloc(1, sizeof *t);
    t->id = reader_u64(&r);
    if (r.len - r.off >= 36 && !r.err) {
        memcpy(t->uuid, r.p + r.off, 36);
        r.off += 36;
    } else {
        r.err = 1;
    }
    t->status = reader_u8(&r);
    t->source_arn = reader_strdup(&r);
    t->dest_arn = reader_strdup(&r);
    t->rate = (int)reader_u32(&r);
    t->moved = reader_u64(&r);
    t->to_move = reader_u64(&r);
    t->started = reader_u64(&r);
    t->failure = reader_strdup(&r);
    t->upto = reader_u64(&r);
    if (r.err || !t->source_arn || t->status > TASK_FAILED) {
        task_free(t);
        return -1;
    }
    move_task_t *old = task_find(qs, t->id);
    if (old) {
        list_del(&old->link);
        task_free(old);
    }
    list_push_front(&qs->tasks, &t->link);
    if (t->id >= qs->next_task)
        qs->next_task = t->id + 1;
    return 0;
}

int redrive__dump_tasks(queues_t *qs, store_snap_t *snap)
{
    list_t *pos;
    /* oldest first, so replay rebuilds the newest-first order */
    for (pos = qs->tasks.prev; pos != &qs->tasks; pos = pos->prev) {
        buf_t b = BUF_INIT;
        task_encode(list_entry(pos, move_task_t, link), &b);
        store_snap_put(snap, REC_TASK_PUT, b.data, b.len);
        buf_free(&b);
    }
    return 0;
}

/* The task's messages: those in the source now with seq <= upto, in order. */
static void task_load(move_task_t *t, queue_t *src)
{
    uint64_t seq = 0;
    void *v;
    t->seqs = xrealloc(t->seqs, (src->msgs.n ? src->msgs.n : 1) * sizeof *t->seqs);
    t->nseqs = 0;
    while (seqmap_next(&src->msgs, &seq, &v) && seq <= t->upto)
        t->seqs[t->nseqs++] = seq;
    t->loaded = 1;
}

static void task_finish(queues_t *qs, move_task_t *t, int status, const char *failure)
{
    t->status = status;
    free(t->failure);
    t->failure = failure ? xstrdup(failure) : NULL;
    free(t->seqs);
    t->seqs = NULL;
    t->nseqs = 0;
    task_persist(qs, t);
}

static queue_t *task_destination(queues_t *qs, const move_task_t *t, const message_t *m)
{
    return queues_find_arn(qs, t->dest_arn ? t->dest_arn : m->dlq_source_arn);
}

/* Moves up to budget visible messages; in-flight ones are kept for later. */
static void task_step(queues_t *qs, move_task_t *t, queue_t *src, uint64_t budget)
{
    size_t keep = 0, i;
    for (i = 0; i < t->nseqs && budget > 0; i++) {
        message_t *m = queue__find(src, t->seqs[i]);
        if (!m)
            continue; /* deleted meanwhile */
        if (m->state != MSG_READY) {
            t->seqs[keep++] = t->seqs[i];
            continue;
        }
        queue_t *dst = task_destination(qs, t, m);
        if (!dst) {
            task_finish(qs, t, TASK_FAILED, "AWS.SimpleQueueService.NonExistentQueue");
            return;
        }
        if (!queue__room(dst, msg__bytes(m)))
            break; /* the destination is full: wait, in order, for it to drain */
        redrive__move(src, m, dst, 0);
        t->moved++;
        budget--;
    }
    memmove(t->seqs + keep, t->seqs + i, (t->nseqs - i) * sizeof *t->seqs);
    t->nseqs = keep + (t->nseqs - i);
    if (t->nseqs == 0)
        task_finish(qs, t, TASK_COMPLETED, NULL);
}

/* The rate as a budget: credit accrues at rate messages per second and is
 * capped at one tick's worth (at least one message), so ticks that come
 * early, late or in bursts never move more than the rate allows. */
static uint64_t task_budget(move_task_t *t, uint64_t now)
{
    uint64_t rate = t->rate > 0 ? (uint64_t)t->rate : TASK_DEFAULT_RATE;
    uint64_t cap = rate * TASK_TICK_MS > 1000 ? rate * TASK_TICK_MS : 1000;
    if (!t->last || now < t->last)
        t->last = now; /* first tick after a restart */
    t->credit += rate * (now - t->last);
    if (t->credit > cap)
        t->credit = cap;
    t->last = now;
    return t->credit / 1000;
}

void redrive__tick(queues_t *qs, uint64_t now)
{
    list_t *pos;
    for (pos = qs->tasks.next; pos != &qs->tasks; pos = pos->next) {
        move_task_t *t = list_entry(pos, move_task_t, link);
        if (t->status != TASK_RUNNING)
            continue;
        queue_t *src = queues_find_arn(qs, t->source_arn);
        if (!src || (t->dest_arn && !queues_find_arn(qs, t->dest_arn))) {
            task_finish(qs, t, TASK_FAILED, "AWS.SimpleQueueService.NonExistentQueue");
            continue;
        }
        if (!t->loaded)
            task_load(t, src);
        uint64_t before = t->moved;
        task_step(qs, t, src, task_budget(t, now));
        t->credit -= (t->moved - before) * 1000;
    }
}

uint64_t redrive__next_deadline(const queues_t *qs)
{
    list_t *pos;
    for (pos = qs->tasks.next; pos != &qs->tasks; pos = pos->next)
        if (list_entry(pos, move_task_t, link)->status == TASK_RUNNING)
            return queues_now(qs) + TASK_TICK_MS;
    return 0;
}

/* ---- the API ---------------------------------------------------------------------- */

static int is_dead_letter_queue(queues_t *qs, const char *arn)
{
    void *v;
    for (size_t it = 0; hmap_next(&qs->by_id, &it, &v);) {
        const queue_t *q = v;
        if (q->dlq_arn && strcmp(q->dlq_arn, arn) == 0)
            return 1;
    }
    return 0;
}

static status_t check_start(queues_t *qs, const char *source, const char *dest, int rate, queue_t **src,
                            err_t *err)
{
    if (!source || !*source)
        return err_set(err, ST_MISSING_PARAMETER, "The request must contain the parameter SourceArn.");
    *src = queues_find_arn(qs, source);
    if (!*src)
        return err_set(err, ST_RESOURCE_NOT_FOUND, "The resource that you specified for the SourceArn parameter "
                                                   "doesn't exist.");
    if (!is_dead_letter_queue(qs, source))
        return err_set(err, ST_INVALID_PARAMETER_VALUE, "Source queue must be configured as a Dead Letter Queue.");
    if (dest && *dest && !queues_find_arn(qs, dest))
        return err_set(err, ST_RESOURCE_NOT_FOUND, "The resource that you specified for the DestinationArn "
                                                   "parameter doesn't exist.");
    if (rate != -1 && (rate < 1 || rate > TASK_RATE_MAX))
        return err_set(err, ST_INVALID_PARAMETER_VALUE,
                       "Value %d for parameter MaxNumberOfMessagesPerSecond is invalid. Reason: You must enter a "
                       "number that's between 1 and 500.",
                       rate);
    list_t *pos;
    for (pos = qs->tasks.next; pos != &qs->tasks; pos = pos->next) {
        move_task_t *t = list_entry(pos, move_task_t, link);
        if (t->status == TASK_RUNNING && strcmp(t->source_arn, source) == 0)
            return err_set(err, ST_INVALID_PARAMETER_VALUE, "There is already a task running. Only one active task "
                                                            "is allowed for a source queue arn at a given time.");
    }
    return ST_OK;
}

static void task_handle(const move_task_t *t, char out[MOVE_HANDLE_MAX])
{
    char raw[MOVE_HANDLE_MAX];
    buf_t b = BUF_INIT;
    snprintf(raw, sizeof raw, "{\"taskId\":\"%s\",\"sourceArn\":\"%s\"}", t->uuid, t->source_arn);
    text_b64_encode(raw, strlen(raw), &b);
    snprintf(out, MOVE_HANDLE_MAX, "%s", b.data);
    buf_free(&b);
}

status_t queues_start_move_task(queues_t *qs, const char *source_arn, const char *dest_arn, int rate,
                                char handle_out[MOVE_HANDLE_MAX], err_t *err)
{
    queue_t *src = NULL;
    status_t st = check_start(qs, source_arn, dest_arn, rate, &src, err);
    if (st != ST_OK)
        return st;
    move_task_t *t = xcalloc(1, sizeof *t);
    t->id = qs->next_task++;
    rand_uuid(t->uuid);
    t->status = TASK_RUNNING;
    t->source_arn = xstrdup(source_arn);
    t->dest_arn = dest_arn && *dest_arn ? xstrdup(dest_arn) : NULL;
    t->rate = rate;
    t->started = t->last = queues_now(qs);
    t->upto = src->next_seq;
    t->to_move = src->msgs.n;
    task_load(t, src);
    list_push_front(&qs->tasks, &t->link);
    task_persist(qs, t);
    task_trim(qs, source_arn);
    task_handle(t, handle_out);
    uint64_t next = redrive__next_deadline(qs);
    if (qs->deadline_cb && next)
        qs->deadline_cb(qs->deadline_arg, next);
    return ST_OK;
}

/* Decodes a TaskHandle: base64 of {"taskId": ..., "sourceArn": ...}. */
static status_t task_by_handle(queues_t *qs, const char *handle, move_task_t **out, err_t *err)
{
    buf_t b = BUF_INIT;
    jv_doc_t *d = jv_doc_new();
    jv_t *doc = NULL;
    *out = NULL;
    if (text_b64_decode(handle, strlen(handle), &b) == 0 && b.data)
        doc = jv_parse(d, b.data, b.len, NULL, 0);
    buf_free(&b);
    const char *id = jv_str(jv_get(doc, "taskId"));
    const char *src = jv_str(jv_get(doc, "sourceArn"));
    status_t st = ST_OK;
    if (!id || !src)
        st = err_set(err, ST_INVALID_PARAMETER_VALUE, "Value for parameter TaskHandle is invalid.");
    else if (!queues_find_arn(qs, src))
        st = err_set(err, ST_RESOURCE_NOT_FOUND,
                     "The resource that you specified for the SourceArn parameter doesn't exist.");
    for (list_t *pos = qs->tasks.next; st == ST_OK && !*out && pos != &qs->tasks; pos = pos->next) {
        move_task_t *t = list_entry(pos, move_task_t, link);
        if (strcmp(t->uuid, id) == 0 && strcmp(t->source_arn, src) == 0)
            *out = t;
    }
    if (st == ST_OK && !*out)
        st = err_set(err, ST_RESOURCE_NOT_FOUND, "Task does not exist.");
    jv_doc_free(d);
    return st;
}

status_t queues_cancel_move_task(queues_t *qs, const char *handle, uint64_t *moved, err_t *err)
{
    move_task_t *t;
    if (!handle || !*handle)
        return err_set(err, ST_MISSING_PARAMETER, "The request must contain the parameter TaskHandle.");
    status_t st = task_by_handle(qs, handle, &t, err);
    if (st != ST_OK)
        return st;
    if (t->status != TASK_RUNNING)
        return err_set(err, ST_INVALID_PARAMETER_VALUE, "Only active tasks can be cancelled.");
    *moved = t->moved;
    task_finish(qs, t, TASK_CANCELLED, NULL);
    return ST_OK;
}

static void task_view(const move_task_t *t, move_task_view_t *v)
{
    memset(v, 0, sizeof *v);
    if (t->status == TASK_RUNNING)
        task_handle(t, v->handle);
    v->status = task_status_names[t->status];
    snprintf(v->source_arn, sizeof v->source_arn, "%s", t->source_arn);
    snprintf(v->dest_arn, sizeof v->dest_arn, "%s", t->dest_arn ? t->dest_arn : "");
    v->rate = t->rate;
    v->moved = t->moved;
    v->to_move = t->to_move;
    v->started_ts = t->started;
    snprintf(v->failure, sizeof v->failure, "%s", t->failure ? t->failure : "");
}

status_t queues_list_move_tasks(queues_t *qs, const char *source_arn, int max, move_task_view_t *out, int *n,
                                err_t *err)
{
    *n = 0;
    if (!source_arn || !*source_arn)
        return err_set(err, ST_MISSING_PARAMETER, "The request must contain the parameter SourceArn.");
    if (max < 1 || max > 10)
        return err_set(err, ST_INVALID_PARAMETER_VALUE,
                       "Value %d for parameter MaxResults is invalid. Reason: You must enter a number that's between "
                       "1 and 10.",
                       max);
    if (!queues_find_arn(qs, source_arn))
        return err_set(err, ST_RESOURCE_NOT_FOUND, "The resource that you specified for the SourceArn parameter "
                                                   "doesn't exist.");
    list_t *pos;
    for (pos = qs->tasks.next; pos != &qs->tasks && *n < max; pos = pos->next) {
        move_task_t *t = list_entry(pos, move_task_t, link);
        if (strcmp(t->source_arn, source_arn) == 0)
            task_view(t, &out[(*n)++]);
    }
    return ST_OK;
}
