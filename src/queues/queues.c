/*
 * queues — the registry of queues and the engine's clockwork: create,
 * delete, list and find queues; the deadline heap that turns in-flight and
 * delayed messages visible again; the periodic retention sweep; and the
 * wake-ups of long-polling receivers.
 *
 * Wake-ups are deferred: code that makes a message deliverable only marks
 * its queue (queues__notify); queues__flush_notify, called at the end of each
 * public mutating call, then hands messages to waiters one by one. So a
 * waiter's receive never runs in the middle of another engine operation,
 * and a burst of sends to a queue with 10k idle pollers wakes only as many
 * pollers as there are messages.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "queues/queue_int.h"
#include "util/alloc.h"
#include "util/clock.h"
#include "util/logging.h"
#include "util/rand.h"
#include "util/trace.h"

#define SWEEP_INTERVAL_MS 1000
#define LIST_DEFAULT_MAX 1000

queues_t *queues_new(const queues_config_t *cfg, store_t *store)
{
    queues_t *qs = xcalloc(1, sizeof *qs);
    qs->region = xstrdup(cfg->region ? cfg->region : "us-east-1");
    qs->account = xstrdup(cfg->account ? cfg->account : "000000000000");
    qs->store = store;
    qs->max_inflight = cfg->max_inflight ? cfg->max_inflight : QUEUE_INFLIGHT_MAX;
    qs->max_queue_bytes = cfg->max_queue_bytes ? cfg->max_queue_bytes : QUEUE_BYTES_MAX;
    qs->max_total_bytes = cfg->max_total_bytes ? cfg->max_total_bytes : QUEUES_TOTAL_BYTES_MAX;
    buf_t pre = BUF_INIT;
    buf_printf(&pre, "arn:aws:sqs:%s:%s:", qs->region, qs->account);
    qs->arn_prefix = pre.data;
    qs->arn_prefix_len = pre.len;
    hmap_init(&qs->by_name);
    hmap_init(&qs->by_id);
    hmap_init(&qs->deleted);
    heap_init(&qs->deadlines);
    list_init(&qs->notify_list);
    list_init(&qs->tasks);
    qs->next_id = 1;
    qs->next_task = 1;
    qs->clock = clock_wall_ms;
    return qs;
}

static void free_deleted(queues_t *qs)
{
    void *v;
    for (size_t it = 0; hmap_next(&qs->deleted, &it, &v);) {
        deleted_name_t *d = v;
        free(d->name);
        free(d);
    }
    hmap_free(&qs->deleted);
}

void queues_free(queues_t *qs)
{
    if (!qs)
        return;
    void *v;
    while (qs->by_id.n) {
        size_t it = 0;
        hmap_next(&qs->by_id, &it, &v);
        queues__drop_queue(qs, v);
    }
    hmap_free(&qs->by_name);
    hmap_free(&qs->by_id);
    heap_free(&qs->deadlines);
    free_deleted(qs);
    redrive__free_tasks(qs);
    buf_free(&qs->rec_buf);
    free(qs->arn_prefix);
    free(qs->region);
    free(qs->account);
    free(qs);
}

void queues_set_clock(queues_t *qs, queues_clock_fn clock)
{
    qs->clock = clock;
}

uint64_t queues_now(const queues_t *qs)
{
    return qs->clock();
}

void queues_set_deadline_cb(queues_t *qs, void (*cb)(void *, uint64_t), void *arg)
{
    qs->deadline_cb = cb;
    qs->deadline_arg = arg;
}

int queues_add_dead_letter_cb(queues_t *qs, queues_dead_letter_fn cb, void *arg)
{
    for (size_t i = 0; i < QUEUES_DEAD_LETTER_HOOKS; i++)
        if (!qs->dl_hooks[i].cb) {
            qs->dl_hooks[i].cb = cb;
            qs->dl_hooks[i].arg = arg;
            return 0;
        }
    return -1;
}

void queues_remove_dead_letter_cb(queues_t *qs, queues_dead_letter_fn cb, void *arg)
{
    for (size_t i = 0; i < QUEUES_DEAD_LETTER_HOOKS; i++)
        if (qs->dl_hooks[i].cb == cb && qs->dl_hooks[i].arg == arg) {
            /* keep the order of the rest: hooks run in the order added */
            memmove(&qs->dl_hooks[i], &qs->dl_hooks[i + 1],
                    (QUEUES_DEAD_LETTER_HOOKS - 1 - i) * sizeof qs->dl_hooks[0]);
            qs->dl_hooks[QUEUES_DEAD_LETTER_HOOKS - 1].cb = NULL;
            return;
        }
}

/* A request that reached a dead-letter queue has failed for good: worth a
 * line, with the request id that ties it to the client's 202. */
void queues__dead_lettered(queues_t *qs, queue_t *src, queue_t *dlq, const message_t *m)
{
    char *rid = msg_request_id(m), trace[TRACE_ID_MAX + 1], journal[TRACE_ID_MAX + 1], detail[80];
    trace_key(m->trace_header, trace);
    log_warn("message_dead_lettered", "queue=%s dead_letter_queue=%s message_id=%s receive_count=%u%s%.128s%s%s",
             queue_name(src), queue_name(dlq), m->id, m->recv_count, rid ? " request_id=" : "", rid ? rid : "",
             *trace ? " trace=" : "", trace);
    if (trace_capacity()) {
        snprintf(detail, sizeof detail, "%s to %s after %u receives", m->id, queue_name(dlq), m->recv_count);
        trace_hop(trace_msg_key(m->trace_header, m->id, journal), TRACE_QUEUE_DEAD_LETTERED, queue_name(src),
                  detail, 0);
    }
    for (size_t i = 0; i < QUEUES_DEAD_LETTER_HOOKS && qs->dl_hooks[i].cb; i++)
        qs->dl_hooks[i].cb(qs->dl_hooks[i].arg, src, dlq, m, rid);
    free(rid);
}

uint64_t queues_bytes(const queues_t *qs)
{
    return qs->bytes;
}

const char *queues_account(const queues_t *qs)
{
    return qs->account;
}

const char *queues_region(const queues_t *qs)
{
    return qs->region;
}

/* ---- deadlines and wake-ups --------------------------------------------- */

static void queues_ask_wakeup(queues_t *qs, uint64_t at)
{
    if (qs->deadline_cb && (!qs->armed || at < qs->armed)) {
        qs->armed = at;
        qs->deadline_cb(qs->deadline_arg, at);
    }
}

void queues__schedule(queues_t *qs, message_t *m)
{
    heap_set(&qs->deadlines, &m->deadline, m->visible_at);
    queues_ask_wakeup(qs, m->visible_at);
}

void queues__notify(queue_t *q)
{
    if (!list_empty(&q->waiters) && !list_linked(&q->notify_link))
        list_push_back(&q->qs->notify_list, &q->notify_link);
}

/* A queue at its in-flight bound delivers nothing: a waiter is woken when
 * a message leaves flight (queue.c), not by sends it could not take. */
static int queue_deliverable(const queue_t *q)
{
    if (q->n_inflight >= q->qs->max_inflight)
        return 0;
    return q->fifo ? !list_empty(&q->ready_groups) : !list_empty(&q->ready);
}

static void queue_wake_waiters(queue_t *q)
{
    /* Each wake either takes messages or re-waits at the tail; bounding by
     * the waiters present now makes the loop finite either way. */
    size_t budget = 0;
    list_t *pos;
    for (pos = q->waiters.next; pos != &q->waiters; pos = pos->next)
        budget++;
    while (budget-- > 0 && queue_deliverable(q) && (pos = list_first(&q->waiters))) {
        queue_waiter_t *w = list_entry(pos, queue_waiter_t, link);
        list_del(&w->link);
        w->wake(w);
    }
}

void queues__flush_notify(queues_t *qs)
{
    if (qs->notifying || qs->replaying)
        return;
    qs->notifying = 1;
    list_t *pos;
    while ((pos = list_first(&qs->notify_list))) {
        list_del(pos);
        queue_wake_waiters(list_entry(pos, queue_t, notify_link));
    }
    qs->notifying = 0;
}

void queue_wait(queue_t *q, queue_waiter_t *w)
{
    w->q = q;
    w->q_gone = 0;
    list_push_back(&q->waiters, &w->link);
    if (queue_deliverable(q))
        queues__notify(q);
}

void queue_unwait(queue_waiter_t *w)
{
    if (list_linked(&w->link))
        list_del(&w->link);
}

static void wake_all_of(queue_t *q, int gone)
{
    list_t *pos;
    while ((pos = list_first(&q->waiters))) {
        queue_waiter_t *w = list_entry(pos, queue_waiter_t, link);
        list_del(&w->link);
        w->q_gone = gone;
        w->stop = 1;
        w->wake(w);
    }
}

void queues_wake_all(queues_t *qs)
{
    void *v;
    for (size_t it = 0; hmap_next(&qs->by_id, &it, &v);)
        wake_all_of(v, 0);
}

static void queues_sweep(queues_t *qs, uint64_t now)
{
    void *v;
    for (size_t it = 0; hmap_next(&qs->by_id, &it, &v);) {
        queue_t *q = v;
        queue__expire(q, now);
        queue__dedup_expire(q, now);
    }
    void *d;
    for (size_t it = 0; hmap_next(&qs->deleted, &it, &d);) {
        deleted_name_t *dn = d;
        if (dn->at + DELETED_NAME_WINDOW_MS <= now) {
            hmap_del(&qs->deleted, dn->name, strlen(dn->name));
            free(dn->name);
            free(dn);
            it = 0; /* the table changed under the iterator */
        }
    }
}

uint64_t queues_tick(queues_t *qs)
{
    uint64_t now = queues_now(qs);
    heap_node_t *n;
    qs->armed = 0;
    while ((n = heap_min(&qs->deadlines)) && n->key <= now) {
        message_t *m = (message_t *)((char *)n - offsetof(message_t, deadline));
        queue__set_state(m->q, m, MSG_READY); /* no record: visible_at says it all */
    }
    if (now >= qs->next_sweep) {
        queues_sweep(qs, now);
        qs->next_sweep = now + SWEEP_INTERVAL_MS;
    }
    redrive__tick(qs, now);
    queues__flush_notify(qs);
    uint64_t next = qs->next_sweep;
    if ((n = heap_min(&qs->deadlines)) && n->key < next)
        next = n->key;
    uint64_t task = redrive__next_deadline(qs);
    if (task && task < next)
        next = task;
    qs->armed = next;
    return next;
}

/* ---- the registry --------------------------------------------------------- */

queue_t *queues__new_queue(queues_t *qs, uint64_t id, const char *name, int fifo)
{
    queue_t *q = xcalloc(1, sizeof *q);
    q->qs = qs;
    q->id = id;
    q->name = xstrdup(name);
    q->fifo = fifo;
    qattr__defaults(q);
    seqmap_init(&q->msgs);
    heap_init(&q->by_age);
    list_init(&q->ready);
    hmap_init(&q->groups);
    list_init(&q->ready_groups);
    hmap_init(&q->dedup);
    list_init(&q->dedup_order);
    hmap_init(&q->attempts);
    list_init(&q->attempt_order);
    list_init(&q->waiters);
    list_init(&q->notify_link);
    return q;
}

static void queue_register(queues_t *qs, queue_t *q)
{
    hmap_put(&qs->by_name, q->name, strlen(q->name), q);
    hmap_put(&qs->by_id, &q->id, sizeof q->id, q);
    if (q->id >= qs->next_id)
        qs->next_id = q->id + 1;
}

static void queue_free_aux(queue_t *q)
{
    queue__dedup_expire(q, UINT64_MAX);
    list_t *pos;
    while ((pos = list_first(&q->attempt_order))) {
        attempt_t *a = list_entry(pos, attempt_t, link);
        list_del(pos);
        free(a->id);
        free(a);
    }
    seqmap_free(&q->msgs);
    heap_free(&q->by_age);
    hmap_free(&q->groups);
    hmap_free(&q->dedup);
    hmap_free(&q->attempts);
    kvv_free(&q->tags);
}

/* Unregisters (if registered) and frees q with everything it holds. */
void queues__drop_queue(queues_t *qs, queue_t *q)
{
    if (hmap_get(&qs->by_id, &q->id, sizeof q->id) == q) {
        hmap_del(&qs->by_name, q->name, strlen(q->name));
        hmap_del(&qs->by_id, &q->id, sizeof q->id);
    }
    wake_all_of(q, 1);
    if (list_linked(&q->notify_link))
        list_del(&q->notify_link);
    queue__clear(q);
    queue_free_aux(q);
    free(q->name);
    free(q->kms_key);
    free(q->redrive_policy);
    free(q->dlq_arn);
    free(q->redrive_allow);
    free(q->policy);
    free(q);
}

queue_t *queues__by_id(const queues_t *qs, uint64_t id)
{
    return hmap_get(&qs->by_id, &id, sizeof id);
}

queue_t *queues_find(const queues_t *qs, const char *name)
{
    return hmap_get(&qs->by_name, name, strlen(name));
}

queue_t *queues_find_arn(const queues_t *qs, const char *arn)
{
    if (!arn || strncmp(arn, qs->arn_prefix, qs->arn_prefix_len) != 0)
        return NULL;
    return queues_find(qs, arn + qs->arn_prefix_len);
}

void queue_arn(const queue_t *q, char *out, size_t n)
{
    snprintf(out, n, "arn:aws:sqs:%s:%s:%s", q->qs->region, q->qs->account, q->name);
}

const char *queue_name(const queue_t *q)
{
    return q->name;
}

int queue_is_fifo(const queue_t *q)
{
    return q->fifo;
}

int queue_default_wait(const queue_t *q)
{
    return q->wait;
}

/* ---- CreateQueue / DeleteQueue ---------------------------------------------- */

/* A FIFO queue's bad name gets the FIFO wording (AWS). */
static status_t check_queue_name(const char *name, int fifo, err_t *err)
{
    size_t n = strlen(name);
    size_t base = n > 5 && strcmp(name + n - 5, ".fifo") == 0 ? n - 5 : n;
    int ok = n >= 1 && n <= QUEUE_NAME_MAX && base > 0;
    for (size_t i = 0; ok && i < base; i++) {
        char c = name[i];
        ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
    }
    if (!ok && fifo)
        return err_set(err, ST_INVALID_PARAMETER_VALUE,
                       "The name of a FIFO queue can only include alphanumeric characters, hyphens, or "
                       "underscores, must end with .fifo suffix and be 1 to 80 in length.");
    if (!ok)
        return err_set(err, ST_INVALID_PARAMETER_VALUE,
                       "Can only include alphanumeric characters, hyphens, or underscores. 1 to 80 in length");
    return ST_OK;
}

/* Random ids: a receipt handle from a deleted queue can never match a new
 * queue of the same name, even after a restart. */
static uint64_t new_queue_id(const queues_t *qs)
{
    uint64_t id;
    do
        rand_bytes(&id, sizeof id);
    while (id == 0 || queues__by_id(qs, id));
    return id;
}

static status_t create_new(queues_t *qs, const char *name, int fifo, const kv_t *attrs, size_t nattrs,
                           const kv_t *tags, size_t ntags, queue_t **out, err_t *err)
{
    status_t st = queue__check_tags(tags, ntags, ntags, err);
    if (st != ST_OK)
        return st;
    queue_t *q = queues__new_queue(qs, new_queue_id(qs), name, fifo);
    if ((st = qattr__set(q, attrs, nattrs, 1, err)) != ST_OK) {
        queues__drop_queue(qs, q);
        return st;
    }
    for (size_t i = 0; i < ntags; i++)
        kvv_add(&q->tags, tags[i].key, tags[i].val);
    q->dedup_by_group = q->dedup_scope_group;
    q->created = q->modified = queues_now(qs);
    queue_register(qs, q);
    rec__queue_put(q);
    *out = q;
    return ST_OK;
}

status_t queues_create(queues_t *qs, const char *name, const kv_t *attrs, size_t nattrs, const kv_t *tags,
                       size_t ntags, queue_t **out, err_t *err)
{
    int fifo;
    status_t st;
    if (!name || !*name)
        return err_set(err, ST_MISSING_PARAMETER, "The request must contain the parameter QueueName.");
    if ((st = qattr__check_fifo_flag(name, attrs, nattrs, &fifo, err)) != ST_OK ||
        (st = check_queue_name(name, fifo, err)) != ST_OK)
        return st;
    queue_t *q = queues_find(qs, name);
    if (q) {
        if ((st = qattr__compare(q, attrs, nattrs, err)) != ST_OK)
            return st;
        *out = q;
        return ST_OK;
    }
    deleted_name_t *d = hmap_get(&qs->deleted, name, strlen(name));
    if (d && d->at + DELETED_NAME_WINDOW_MS > queues_now(qs))
        return err_set(err, ST_QUEUE_DELETED_RECENTLY,
                       "You must wait 60 seconds after deleting a queue before you can create another with the "
                       "same name.");
    return create_new(qs, name, fifo, attrs, nattrs, tags, ntags, out, err);
}

void queues__remember_deleted(queues_t *qs, const char *name, uint64_t at)
{
    deleted_name_t *d = hmap_get(&qs->deleted, name, strlen(name));
    if (!d) {
        d = xcalloc(1, sizeof *d);
        d->name = xstrdup(name);
        hmap_put(&qs->deleted, d->name, strlen(d->name), d);
    }
    if (at > d->at)
        d->at = at;
}

status_t queues_delete(queues_t *qs, queue_t *q, err_t *err)
{
    (void)err;
    uint64_t now = queues_now(qs);
    rec__queue_del(q, now);
    queues__remember_deleted(qs, q->name, now);
    queues__drop_queue(qs, q);
    return ST_OK;
}

/* ---- listing ---------------------------------------------------------------- */

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorts names, skips to after the token, cuts at max and sets the token. */
static status_t page_names(strv_t *all, int max, const char *token, strv_t *names, char **next_out, err_t *err)
{
    if (all->n) /* qsort(NULL, 0, ...) is undefined */
        qsort(all->v, all->n, sizeof *all->v, cmp_str);
    size_t i = 0, limit = max > 0 ? (size_t)max : LIST_DEFAULT_MAX;
    if (token && *token) {
        while (i < all->n && strcmp(all->v[i], token) <= 0)
            i++;
    }
    (void)err;
    for (; i < all->n && names->n < limit; i++)
        strv_add(names, all->v[i]);
    *next_out = (max > 0 && i < all->n && names->n) ? xstrdup(names->v[names->n - 1]) : NULL;
    strv_free(all);
    return ST_OK;
}

status_t queues_list(const queues_t *qs, const char *prefix, int max, const char *next_token, strv_t *names,
                     char **next_out, err_t *err)
{
    strv_t all = {0};
    void *v;
    *next_out = NULL;
    if (max < 0 || max > 1000)
        return err_set(err, ST_INVALID_PARAMETER_VALUE,
                       "Value %d for parameter MaxResults is invalid. Reason: MaxResults must be an integer between "
                       "1 and 1000.",
                       max);
    for (size_t it = 0; hmap_next(&qs->by_name, &it, &v);) {
        const queue_t *q = v;
        if (!prefix || strncmp(q->name, prefix, strlen(prefix)) == 0)
            strv_add(&all, q->name);
    }
    return page_names(&all, max, next_token, names, next_out, err);
}

status_t queues_dead_letter_sources(const queues_t *qs, const queue_t *q, int max, const char *next_token,
                                    strv_t *names, char **next_out, err_t *err)
{
    strv_t all = {0};
    char arn[256];
    void *v;
    *next_out = NULL;
    if (max < 0 || max > 1000)
        return err_set(err, ST_INVALID_PARAMETER_VALUE,
                       "Value %d for parameter MaxResults is invalid. Reason: MaxResults must be an integer between "
                       "1 and 1000.",
                       max);
    queue_arn(q, arn, sizeof arn);
    for (size_t it = 0; hmap_next(&qs->by_name, &it, &v);) {
        const queue_t *src = v;
        if (src->dlq_arn && strcmp(src->dlq_arn, arn) == 0)
            strv_add(&all, src->name);
    }
    return page_names(&all, max, next_token, names, next_out, err);
}

void queue_get_counts(const queue_t *q, queue_counts_t *out)
{
    const heap_node_t *oldest = heap_min(&q->by_age);
    *out = (queue_counts_t){.visible = q->n_visible, .inflight = q->n_inflight, .delayed = q->n_delayed,
                            .oldest_ms = oldest ? oldest->key : 0, .sent = q->n_sent, .received = q->n_received,
                            .deleted = q->n_deleted, .dead_lettered = q->n_dead_lettered};
}

queue_t *queues_next(const queues_t *qs, size_t *it)
{
    void *v;
    return hmap_next(&qs->by_id, it, &v) ? v : NULL;
}

void queues_get_stats(const queues_t *qs, queues_stats_t *out)
{
    memset(out, 0, sizeof *out);
    void *v;
    for (size_t it = 0; hmap_next(&qs->by_id, &it, &v);) {
        const queue_t *q = v;
        list_t *pos;
        out->queues++;
        out->messages += q->n_visible + q->n_inflight + q->n_delayed;
        out->inflight += q->n_inflight;
        out->delayed += q->n_delayed;
        out->bytes += q->bytes;
        for (pos = q->waiters.next; pos != &q->waiters; pos = pos->next)
            out->waiters++;
    }
}
