/*
 * functions — the registry of declared functions and the one invocation
 * path every caller uses (the Lambda API, mappings, topic subscriptions,
 * asynchronous retries). See functions.h for the model.
 *
 * A call (struct fn_inv) is in the functions' call map from function_invoke
 * until its outcome is known. It waits in its function's backlog while
 * `running` equals the concurrency, then is started on the backend with a
 * timer armed for its timeout. Whichever comes first — the backend's
 * functions__done or the timer — finishes the call; the other finds no call
 * under that id and does nothing. Calls start from the function's kick
 * timer on the next loop pass, so the caller's callback never runs inside
 * function_invoke.
 */
#include "functions/functions_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "queues/queues.h"
#include "util/alloc.h"
#include "util/clock.h"
#include "util/jv.h"
#include "util/logging.h"
#include "util/rand.h"
#include "util/text.h"
#include "util/trace.h"

typedef struct fn_inv {
    uint64_t id;
    function_t *f;
    char *event;
    size_t event_len;
    const fn_record_t *recs; /* borrowed from the caller until done (see function_invoke_batch), or NULL */
    size_t nrecs;
    char request_id[UUID_STR_LEN + 64];
    char *journal;      /* the id its function.* hops go under (function_trace), or NULL */
    char *trace_header; /* handed to the function as its trace id, or NULL */
    fn_done_fn done;
    void *arg;
    int forgotten;
    int started;
    uint64_t t_start_ns;
    loop_timer_t timer; /* the timeout, while started */
    list_t link;        /* in the backlog */
} fn_inv_t;

/* ---- registry ---------------------------------------------------------------------------- */

functions_t *functions_new(const functions_config_t *cfg, loop_t *loop, store_t *store, struct queues *qs,
                           struct topics *tp, struct tables *ts)
{
    functions_t *fs = xcalloc(1, sizeof *fs);
    fs->cfg = *cfg;
    fs->region = xstrdup(cfg->region ? cfg->region : "us-east-1");
    fs->account = xstrdup(cfg->account ? cfg->account : "000000000000");
    fs->loop = loop;
    fs->store = store;
    fs->qs = qs;
    fs->tp = tp;
    fs->ts = ts;
    hmap_init(&fs->by_name);
    hmap_init(&fs->esm_by_uuid);
    seqmap_init(&fs->calls);
    seqmap_init(&fs->async);
    list_init(&fs->esms);
    fs->next_call = 1;
    fs->next_async = 1;
    if (qs) /* a request whose message is dead-lettered has its record say so */
        queues_add_dead_letter_cb(qs, fn_esm__dead_lettered, fs);
    return fs;
}

static void inv_free(fn_inv_t *inv)
{
    free(inv->event);
    free(inv->journal);
    free(inv->trace_header);
    free(inv);
}

static void function_free(function_t *f)
{
    if (loop_timer_active(&f->kick))
        loop_timer_stop(f->fs->loop, &f->kick);
    if (f->ops)
        f->ops->close(f->be);
    free((char *)f->def.name);
    free((char *)f->def.handler);
    free((char *)f->def.command);
    free((char *)f->def.dir);
    free((char *)f->def.on_success);
    free((char *)f->def.on_failure);
    for (size_t i = 0; i < f->def.nenv; i++) {
        free((char *)f->env_own[i].key);
        free((char *)f->env_own[i].val);
    }
    free(f->env_own);
    free(f);
}

void functions_track_requests(functions_t *fs, const char *table)
{
    free(fs->records);
    fs->records = table ? xstrdup(table) : NULL;
}

void functions_free(functions_t *fs)
{
    if (!fs)
        return;
    if (fs->qs)
        queues_remove_dead_letter_cb(fs->qs, fn_esm__dead_lettered, fs);
    fn_esm__free(fs);
    fn_async__free(fs);
    free(fs->records);
    uint64_t key = 0;
    void *v;
    while (seqmap_next(&fs->calls, &key, &v)) {
        fn_inv_t *inv = v;
        if (loop_timer_active(&inv->timer))
            loop_timer_stop(fs->loop, &inv->timer);
        inv_free(inv);
    }
    seqmap_free(&fs->calls);
    size_t it = 0;
    while (hmap_next(&fs->by_name, &it, &v))
        function_free(v);
    hmap_free(&fs->by_name);
    hmap_free(&fs->esm_by_uuid);
    free(fs->region);
    free(fs->account);
    free(fs);
}

loop_t *functions_loop(const functions_t *fs)
{
    return fs->loop;
}

const char *functions_region(const functions_t *fs)
{
    return fs->region;
}

const char *functions_account(const functions_t *fs)
{
    return fs->account;
}

static int name_ok(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (n < 1 || n > FN_NAME_MAX)
        return 0;
    return text_name_chars(s, n, "-_");
}

static void on_kick(loop_t *loop, loop_timer_t *t);

static status_t def_check(const functions_t *fs, const fn_def_t *d, err_t *err)
{
    char why[256];
    if (!name_ok(d->name))
        return err_set(err, ST_VALIDATION_ERROR, "function name '%s' must be 1-64 of A-Z a-z 0-9 - _",
                       d->name ? d->name : "");
    if (!d->handler || !*d->handler)
        return err_set(err, ST_VALIDATION_ERROR, "function %s: handler is required", d->name);
    if (d->kind == FN_KIND_PROCESS && (!d->command || !*d->command))
        return err_set(err, ST_VALIDATION_ERROR, "function %s: a process function needs a command", d->name);
    if (d->timeout_ms < 1 || d->timeout_ms > 900000)
        return err_set(err, ST_VALIDATION_ERROR, "function %s: timeout must be 1 ms..900 s", d->name);
    if (d->concurrency < 1 || d->concurrency > 1000)
        return err_set(err, ST_VALIDATION_ERROR, "function %s: concurrency must be 1..1000", d->name);
    if (d->max_retries < 0 || d->max_retries > 2)
        return err_set(err, ST_VALIDATION_ERROR, "function %s: max_retries must be 0..2", d->name);
    const char *dests[2] = {d->on_success, d->on_failure};
    for (int i = 0; i < 2; i++)
        if (dests[i] && fn_dest__valid(fs, dests[i], why, sizeof why) != 0)
            return err_set(err, ST_VALIDATION_ERROR, "function %s: destination %s: %s", d->name, dests[i], why);
    return ST_OK;
}

static function_t *function_copy(functions_t *fs, const fn_def_t *d)
{
    function_t *f = xcalloc(1, sizeof *f);
    metrics_hist_init(&f->duration_us, METRICS_DURATION_US, METRICS_DURATION_US_N, 1e6);
    f->fs = fs;
    f->def = *d;
    f->def.name = xstrdup(d->name);
    f->def.handler = xstrdup(d->handler);
    f->def.command = xstrdup_opt(d->command);
    f->def.dir = xstrdup_opt(d->dir);
    f->def.on_success = xstrdup_opt(d->on_success);
    f->def.on_failure = xstrdup_opt(d->on_failure);
    f->env_own = d->nenv ? xcalloc(d->nenv, sizeof *f->env_own) : NULL;
    for (size_t i = 0; i < d->nenv; i++)
        f->env_own[i] = (kv_t){xstrdup(d->env[i].key), xstrdup(d->env[i].val)};
    f->def.env = f->env_own;
    f->declared_ms = clock_wall_ms();
    list_init(&f->backlog);
    loop_timer_init(&f->kick, on_kick, f);
    return f;
}

static int backend_open(functions_t *fs, function_t *f, char *why, size_t n)
{
    switch (f->def.kind) {
    case FN_KIND_PLUGIN:
        return fn_plugin_open(fs, f, &f->def, fs->cfg.plugin_threads, &f->ops, &f->be, why, n);
    case FN_KIND_PROCESS:
        return fn_runtime_open(fs, f, &f->def, &f->ops, &f->be, why, n);
    case FN_KIND_HTTP:
        return fn_http_open(fs, f, &f->def, &f->ops, &f->be, why, n);
    }
    snprintf(why, n, "unknown kind");
    return -1;
}

status_t functions_declare(functions_t *fs, const fn_def_t *def, function_t **out, err_t *err)
{
    char why[512];
    status_t st = def_check(fs, def, err);
    if (st != ST_OK)
        return st;
    if (functions_find(fs, def->name))
        return err_set(err, ST_ALREADY_EXISTS, "Function already exist: %s", def->name);
    function_t *f = function_copy(fs, def);
    if (backend_open(fs, f, why, sizeof why) != 0) {
        f->ops = NULL;
        function_free(f);
        return err_set(err, ST_VALIDATION_ERROR, "function %s: %s", def->name, why);
    }
    hmap_put(&fs->by_name, f->def.name, strlen(f->def.name), f);
    log_info("function_declared", "function=%s kind=%s concurrency=%u timeout_ms=%u", f->def.name,
             f->def.kind == FN_KIND_PLUGIN ? "plugin" : f->def.kind == FN_KIND_PROCESS ? "process" : "http",
             f->def.concurrency, f->def.timeout_ms);
    if (out)
        *out = f;
    return ST_OK;
}

function_t *functions_find(const functions_t *fs, const char *name)
{
    return name ? hmap_get(&fs->by_name, name, strlen(name)) : NULL;
}

/* arn:aws:lambda:<region>:<account>:function:<name>[:qualifier]; a partial
 * ARN <account>:function:<name> is not accepted. */
function_t *functions_find_ref(const functions_t *fs, const char *ref)
{
    if (!ref)
        return NULL;
    if (strncmp(ref, "arn:", 4) != 0)
        return functions_find(fs, ref);
    char prefix[256];
    int n = snprintf(prefix, sizeof prefix, "arn:aws:lambda:%s:%s:function:", fs->region, fs->account);
    if (n <= 0 || strncmp(ref, prefix, (size_t)n) != 0)
        return NULL;
    char name[FN_NAME_MAX + 1];
    const char *p = ref + n, *colon = strchr(p, ':');
    size_t len = colon ? (size_t)(colon - p) : strlen(p);
    if (len == 0 || len > FN_NAME_MAX || (colon && strcmp(colon + 1, "$LATEST") != 0))
        return NULL;
    memcpy(name, p, len);
    name[len] = 0;
    return functions_find(fs, name);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

void functions_list(const functions_t *fs, strv_t *names)
{
    size_t it = 0;
    void *v;
    while (hmap_next(&fs->by_name, &it, &v))
        strv_add(names, ((function_t *)v)->def.name);
    if (names->n > 1)
        qsort(names->v, names->n, sizeof *names->v, cmp_str);
}

const fn_def_t *function_def(const function_t *f)
{
    return &f->def;
}

int function_takes_records(const function_t *f)
{
    return f->takes_records;
}

void function_arn(const function_t *f, char *out, size_t n)
{
    snprintf(out, n, "arn:aws:lambda:%s:%s:function:%s", f->fs->region, f->fs->account, f->def.name);
}

uint64_t function_declared_ms(const function_t *f)
{
    return f->declared_ms;
}

const metrics_hist_t *function_durations(const function_t *f)
{
    return &f->duration_us;
}

void function_get_stats(const function_t *f, function_stats_t *out)
{
    *out = f->stats;
    out->running = f->running;
    out->waiting = f->nbacklog;
}

/* ---- calls -------------------------------------------------------------------------------- */

void fn__error_doc(buf_t *out, const char *type, const char *msg)
{
    buf_puts(out, "{\"errorMessage\":");
    jv_write_string(out, msg, strlen(msg));
    buf_puts(out, ",\"errorType\":");
    jv_write_string(out, type, strlen(type));
    buf_putc(out, '}');
}

static void try_start(function_t *f);

/* Ends the call: removes it, frees its slot, tells the caller. */
static void finish(fn_inv_t *inv, const fn_result_t *r)
{
    function_t *f = inv->f;
    seqmap_del(&f->fs->calls, inv->id);
    if (loop_timer_active(&inv->timer))
        loop_timer_stop(f->fs->loop, &inv->timer);
    if (inv->started)
        f->running--;
    f->stats.invocations++;
    if (!r->ok)
        f->stats.errors++;
    uint64_t duration_us = inv->started ? (clock_mono_ns() - inv->t_start_ns) / 1000 : 0;
    if (inv->started)
        metrics_hist_observe(&f->duration_us, duration_us);
    if (inv->journal)
        trace_hop_at(inv->journal, r->ok ? TRACE_FUNCTION_FINISHED : TRACE_FUNCTION_FAILED, f->def.name,
                     r->ok ? inv->request_id : r->error_type ? r->error_type : "Unhandled", duration_us, 0);
    if (!inv->forgotten && inv->done) {
        fn_result_t rr = *r;
        rr.duration_us = duration_us;
        inv->done(inv->arg, &rr);
    }
    inv_free(inv);
    try_start(f);
}

static void finish_error(fn_inv_t *inv, const char *type, const char *msg)
{
    buf_t b = BUF_INIT;
    fn__error_doc(&b, type, msg);
    fn_result_t r = {.ok = 0, .payload = b.data, .len = b.len, .error_type = type};
    finish(inv, &r);
    buf_free(&b);
}

static void on_timeout(loop_t *loop, loop_timer_t *t)
{
    (void)loop;
    fn_inv_t *inv = t->arg;
    function_t *f = inv->f;
    char msg[160];
    f->stats.timeouts++;
    log_warn("function_timeout", "function=%s request_id=%s timeout_ms=%u", f->def.name, inv->request_id,
             f->def.timeout_ms);
    snprintf(msg, sizeof msg, "%s Task timed out after %.2f seconds", inv->request_id,
             f->def.timeout_ms / 1000.0);
    /* out of the map first: whatever the backend reports while cancelling is ignored */
    seqmap_del(&f->fs->calls, inv->id);
    f->ops->cancel(f->be, inv->id);
    finish_error(inv, "Sandbox.Timedout", msg);
}

static void start_call(function_t *f, fn_inv_t *inv)
{
    inv->started = 1;
    inv->t_start_ns = clock_mono_ns();
    trace_hop(inv->journal, TRACE_FUNCTION_INVOKED, f->def.name, inv->request_id, 0);
    f->running++;
    loop_timer_start(f->fs->loop, &inv->timer, f->def.timeout_ms);
    fn_call_t call = {.id = inv->id,
                      .event = inv->event,
                      .event_len = inv->event_len,
                      .request_id = inv->request_id,
                      .trace_header = inv->trace_header,
                      .deadline_wall_ms = clock_wall_ms() + f->def.timeout_ms,
                      .records = inv->recs,
                      .nrecords = inv->nrecs};
    f->ops->start(f->be, &call); /* may finish the call at once */
}

static void try_start(function_t *f)
{
    while (f->running < f->def.concurrency && !list_empty(&f->backlog)) {
        fn_inv_t *inv = list_entry(f->backlog.next, fn_inv_t, link);
        list_del(&inv->link);
        f->nbacklog--;
        start_call(f, inv);
    }
}

void functions__done(functions_t *fs, uint64_t call_id, const fn_result_t *r)
{
    fn_inv_t *inv = seqmap_get(&fs->calls, call_id);
    if (inv && inv->started)
        finish(inv, r);
}

/* Starting waits for the next loop pass (the function's kick timer), so
 * done never runs inside function_invoke even when the backend answers at once. */
static void on_kick(loop_t *loop, loop_timer_t *t)
{
    (void)loop;
    try_start(t->arg);
}

status_t function_invoke_batch(function_t *f, const char *event, size_t len, const fn_record_t *recs, size_t n,
                               fn_done_fn done, void *arg, uint64_t *call_out, err_t *err)
{
    uint64_t call;
    status_t st = function_invoke(f, event, len, NULL, done, arg, &call, err);
    if (st == ST_OK && n) { /* safe: the call starts on the next loop pass at the earliest */
        fn_inv_t *inv = seqmap_get(&f->fs->calls, call);
        inv->recs = recs;
        inv->nrecs = n;
    }
    if (call_out)
        *call_out = call;
    return st;
}

status_t function_invoke(function_t *f, const char *event, size_t len, const char *request_id, fn_done_fn done,
                         void *arg, uint64_t *call_out, err_t *err)
{
    functions_t *fs = f->fs;
    if (f->nbacklog + f->running >= FN_BACKLOG_MAX + f->def.concurrency) {
        f->stats.throttles++;
        return err_set(err, ST_REQUEST_THROTTLED, "Rate Exceeded.");
    }
    fn_inv_t *inv = xcalloc(1, sizeof *inv);
    inv->id = fs->next_call++;
    inv->f = f;
    inv->event = xmemdup(event, len);
    inv->event_len = len;
    inv->done = done;
    inv->arg = arg;
    list_init(&inv->link);
    loop_timer_init(&inv->timer, on_timeout, inv);
    if (request_id && *request_id)
        snprintf(inv->request_id, sizeof inv->request_id, "%s", request_id);
    else
        rand_uuid(inv->request_id);
    seqmap_put(&fs->calls, inv->id, inv);
    list_push_back(&f->backlog, &inv->link);
    f->nbacklog++;
    if (!loop_timer_active(&f->kick))
        loop_timer_start(fs->loop, &f->kick, 0);
    if (call_out)
        *call_out = inv->id;
    return ST_OK;
}

/* A header fit to hand on in an HTTP header: printable ASCII, bounded. */
static int header_fit(const char *h)
{
    size_t n = 0;
    for (; h[n]; n++)
        if (h[n] < 0x20 || h[n] > 0x7e || n == FN_TRACE_HEADER_MAX)
            return 0;
    return n > 0;
}

void function_trace(function_t *f, uint64_t call, const char *journal, const char *trace_header)
{
    fn_inv_t *inv = seqmap_get(&f->fs->calls, call);
    if (!inv || inv->started)
        return;
    free(inv->journal);
    free(inv->trace_header);
    inv->journal = journal && *journal && trace_capacity() ? xstrdup(journal) : NULL;
    inv->trace_header = trace_header && header_fit(trace_header) ? xstrdup(trace_header) : NULL;
}

void function_forget(function_t *f, uint64_t call)
{
    fn_inv_t *inv = seqmap_get(&f->fs->calls, call);
    if (inv)
        inv->forgotten = 1;
    if (inv && !inv->started) { /* the caller may free its records now; the event alone will do */
        inv->recs = NULL;
        inv->nrecs = 0;
    }
}

/* ---- store hooks -------------------------------------------------------------------------------- */

int functions_apply(void *arg, uint8_t type, const void *payload, size_t len)
{
    functions_t *fs = arg;
    if (type == FN_REC_ASYNC_PUT || type == FN_REC_ASYNC_DEL)
        return fn_async__apply(fs, type, payload, len);
    if (type == FN_REC_ESM_PUT || type == FN_REC_ESM_DEL)
        return fn_esm__apply(fs, type, payload, len);
    return -1;
}

int functions_dump(void *arg, store_snap_t *snap)
{
    functions_t *fs = arg;
    return fn_async__dump(fs, snap) != 0 ? -1 : fn_esm__dump(fs, snap);
}

void functions_start(functions_t *fs)
{
    if (fs->started)
        return;
    fs->started = 1;
    fn_async__start(fs);
    fn_esm__start(fs);
}
