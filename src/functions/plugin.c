/*
 * plugin — the in-process kind of function: a shared object loaded with
 * dlopen whose handler (include/sluice_plugin.h) runs on worker threads.
 *
 * Threads. Each plugin function has its own small pool: min(concurrency,
 * threads) workers blocked on a job queue (mutex + condition variable). The
 * loop thread pushes jobs; a worker runs the handler, checks that a result
 * is JSON, and pushes the outcome on a done list and wakes the loop through
 * a loop_async; the loop drains the list and reports each outcome with
 * functions__done. Handlers never run on the loop thread.
 *
 * Record handlers: when the plugin exports <symbol>_records and a call
 * carries its batch's records (an event source mapping), the worker calls
 * that instead and reports one outcome per record (fn_result_t.records).
 *
 * Cancel (timeout): a job still queued is dropped; a job already running
 * cannot be stopped — its thread stays busy until the handler returns and
 * its result is then ignored (functions.c has already answered the call).
 */
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sluice_plugin.h"
#include "functions/functions_int.h"
#include "util/alloc.h"
#include "util/jv.h"
#include "util/logging.h"

typedef struct job {
    uint64_t id;
    char *event;
    size_t event_len;
    char *request_id;
    int64_t deadline_ms;
    fn_record_t *recs; /* records_copy, for the record handler; else NULL */
    size_t nrecs;
    /* outcome, filled by the worker */
    int ok;
    const char *error_type;
    char *out;
    size_t out_len;
    sluice_record_t *rec_out; /* the record handler's outcomes, settled */
    struct job *next;
} job_t;

typedef struct plugin {
    functions_t *fs;
    const char *name;
    void *dl;
    sluice_handler_fn handler;
    sluice_records_fn records; /* <symbol>_records, or NULL */
    pthread_t *threads;
    unsigned nthreads;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    job_t *head, *tail; /* waiting jobs */
    job_t *done;        /* finished, newest first */
    int stopping;
    loop_async_t wake;
} plugin_t;

static void job_free(job_t *j)
{
    for (size_t i = 0; j->rec_out && i < j->nrecs; i++)
        free(j->rec_out[i].result);
    free(j->rec_out);
    free(j->recs);
    free(j->event);
    free(j->request_id);
    free(j->out);
    free(j);
}

/* ---- worker side -------------------------------------------------------------------------- */

/* Turns what the handler returned into the contract's shape: a result must
 * be JSON; an error is an error document, plain text being its message. */
static void job_settle(job_t *j, int rc)
{
    jv_doc_t *d = jv_doc_new_small();
    char why[128];
    const char *text = j->out ? j->out : (rc == 0 ? "null" : "");
    size_t len = j->out ? j->out_len : strlen(text);
    jv_t *v = len ? jv_parse(d, text, len, why, sizeof why) : NULL;
    buf_t b = BUF_INIT;
    if (rc == 0 && v) {
        j->ok = 1;
        if (!j->out)
            buf_puts(&b, "null");
    } else if (rc == 0) {
        j->error_type = "Runtime.InvalidResponse";
        fn__error_doc(&b, j->error_type, "The handler's result is not valid JSON.");
    } else if (jv_is(v, JV_OBJECT) && jv_str(jv_get(v, "errorMessage"))) {
        j->error_type = "Unhandled";
    } else {
        j->error_type = "Unhandled";
        char *msg = xmemdup(text, len);
        fn__error_doc(&b, j->error_type, msg);
        free(msg);
    }
    if (b.len) {
        free(j->out);
        j->out = buf_detach(&b, &j->out_len);
    }
    buf_free(&b);
    jv_doc_free(d);
}

/* A record's outcome in the contract's shape: a result must be JSON (0,
 * else -1); an error becomes an error document. */
static int record_settle(sluice_record_t *r)
{
    jv_doc_t *d = jv_doc_new_small();
    char why[128];
    if (r->result && r->result_len == 0)
        r->result_len = strlen(r->result);
    jv_t *v = r->result && r->result_len ? jv_parse(d, r->result, r->result_len, why, sizeof why) : NULL;
    int rc = 0;
    if (!r->failed && !r->result) {
        r->result = xstrdup("null");
        r->result_len = 4;
    } else if (!r->failed) {
        rc = v ? 0 : -1;
    } else if (!jv_is(v, JV_OBJECT) || !jv_str(jv_get(v, "errorMessage"))) {
        buf_t b = BUF_INIT;
        char *msg = r->result && r->result_len ? xmemdup(r->result, r->result_len)
                                               : xstrdup("the handler reported this record as failed");
        fn__error_doc(&b, "BatchItemFailure", msg);
        free(msg);
        free(r->result);
        r->result = buf_detach(&b, &r->result_len);
    }
    jv_doc_free(d);
    return rc;
}

static void run_records(plugin_t *p, job_t *j, const sluice_invocation_t *inv)
{
    j->rec_out = xcalloc(j->nrecs, sizeof *j->rec_out);
    for (size_t i = 0; i < j->nrecs; i++)
        j->rec_out[i] = (sluice_record_t){.message_id = j->recs[i].id,
                                          .body = j->recs[i].body,
                                          .body_len = j->recs[i].body_len,
                                          .request_id = j->recs[i].request_id,
                                          .group_id = j->recs[i].group,
                                          .receive_count = j->recs[i].recv_count};
    int rc = p->records(inv, j->rec_out, j->nrecs);
    buf_t b = BUF_INIT;
    size_t total = 0;
    for (size_t i = 0; rc == 0 && i < j->nrecs; i++) {
        if (record_settle(&j->rec_out[i]) != 0) {
            j->error_type = "Runtime.InvalidResponse";
            buf_printf(&b, "The handler's result for record %s is not valid JSON.", j->recs[i].id);
            break;
        }
        total += j->rec_out[i].result_len;
    }
    if (rc != 0) {
        j->error_type = "Unhandled";
        buf_printf(&b, "The record handler failed the batch (it returned %d).", rc);
    } else if (!j->error_type && total > FN_SYNC_EVENT_MAX) {
        j->error_type = "Function.ResponseSizeTooLarge";
        buf_printf(&b, "The records' results (%zu bytes) exceed the response limit.", total);
    }
    if (j->error_type) {
        char *msg = buf_detach(&b, NULL);
        buf_t doc = BUF_INIT;
        fn__error_doc(&doc, j->error_type, msg);
        free(msg);
        j->out = buf_detach(&doc, &j->out_len);
        for (size_t i = 0; i < j->nrecs; i++)
            free(j->rec_out[i].result);
        free(j->rec_out);
        j->rec_out = NULL;
        return;
    }
    buf_free(&b);
    j->ok = 1;
}

static void job_run(plugin_t *p, job_t *j)
{
    sluice_invocation_t inv = {.event = j->event,
                               .event_len = j->event_len,
                               .request_id = j->request_id,
                               .function_name = p->name,
                               .deadline_ms = j->deadline_ms};
    j->out = NULL;
    j->out_len = 0;
    if (j->recs && p->records) {
        run_records(p, j, &inv);
        return;
    }
    int rc = p->handler(&inv, &j->out, &j->out_len);
    if (j->out && j->out_len == 0)
        j->out_len = strlen(j->out);
    job_settle(j, rc);
}

static void *worker_main(void *arg)
{
    plugin_t *p = arg;
    pthread_mutex_lock(&p->mu);
    for (;;) {
        while (!p->head && !p->stopping)
            pthread_cond_wait(&p->cv, &p->mu);
        if (p->stopping)
            break;
        job_t *j = p->head;
        p->head = j->next;
        if (!p->head)
            p->tail = NULL;
        pthread_mutex_unlock(&p->mu);
        job_run(p, j);
        pthread_mutex_lock(&p->mu);
        j->next = p->done;
        p->done = j;
        pthread_mutex_unlock(&p->mu);
        loop_async_send(&p->wake);
        pthread_mutex_lock(&p->mu);
    }
    pthread_mutex_unlock(&p->mu);
    jv_thread_release();
    return NULL;
}

/* ---- loop side ------------------------------------------------------------------------------ */

static void report(plugin_t *p, job_t *j)
{
    fn_result_t r = {.ok = j->ok,
                     .payload = j->out ? j->out : "null",
                     .len = j->out ? j->out_len : 4,
                     .error_type = j->error_type};
    fn_record_result_t *rr = NULL;
    if (j->ok && j->rec_out) {
        rr = xmalloc(j->nrecs * sizeof *rr);
        for (size_t i = 0; i < j->nrecs; i++)
            rr[i] = (fn_record_result_t){j->rec_out[i].failed, j->rec_out[i].result, j->rec_out[i].result_len};
        r.records = rr;
    }
    functions__done(p->fs, j->id, &r);
    free(rr);
}

static void on_wake(loop_t *loop, loop_async_t *a)
{
    (void)loop;
    plugin_t *p = a->arg;
    pthread_mutex_lock(&p->mu);
    job_t *list = p->done;
    p->done = NULL;
    pthread_mutex_unlock(&p->mu);
    job_t *rev = NULL; /* oldest first */
    while (list) {
        job_t *n = list->next;
        list->next = rev;
        rev = list;
        list = n;
    }
    while (rev) {
        job_t *n = rev->next;
        report(p, rev);
        job_free(rev);
        rev = n;
    }
}

static size_t str_size(const char *s)
{
    return s ? strlen(s) + 1 : 0;
}

static char *put_str(char **at, const char *s, size_t len)
{
    if (!s)
        return NULL;
    char *p = *at;
    memcpy(p, s, len);
    p[len] = 0;
    *at += len + 1;
    return p;
}

/* One allocation holding a copy of recs[0..n) and their strings (free()):
 * the job outlives the call's own records when its handler overruns. */
static fn_record_t *records_copy(const fn_record_t *recs, size_t n)
{
    size_t size = n * sizeof *recs;
    for (size_t i = 0; i < n; i++)
        size += (recs[i].id ? strlen(recs[i].id) : 0) + 1 + recs[i].body_len + 1 + str_size(recs[i].request_id) + str_size(recs[i].group);
    fn_record_t *out = xmalloc(size ? size : 1);
    char *at = (char *)(out + n);
    for (size_t i = 0; i < n; i++) {
        const fn_record_t *r = &recs[i];
        out[i] = *r;
        out[i].id = put_str(&at, r->id ? r->id : "", r->id ? strlen(r->id) : 0);
        out[i].body = put_str(&at, r->body ? r->body : "", r->body ? r->body_len : 0);
        out[i].request_id = put_str(&at, r->request_id, r->request_id ? strlen(r->request_id) : 0);
        out[i].group = put_str(&at, r->group, r->group ? strlen(r->group) : 0);
    }
    return out;
}

static void plugin_start(void *be, const fn_call_t *call)
{
    plugin_t *p = be;
    job_t *j = xcalloc(1, sizeof *j);
    j->id = call->id;
    j->event = xmemdup(call->event, call->event_len);
    j->event_len = call->event_len;
    j->request_id = xstrdup(call->request_id);
    j->deadline_ms = (int64_t)call->deadline_wall_ms;
    if (p->records && call->nrecords) {
        j->recs = records_copy(call->records, call->nrecords);
        j->nrecs = call->nrecords;
    }
    pthread_mutex_lock(&p->mu);
    if (p->tail)
        p->tail->next = j;
    else
        p->head = j;
    p->tail = j;
    pthread_cond_signal(&p->cv);
    pthread_mutex_unlock(&p->mu);
}

static void plugin_cancel(void *be, uint64_t id)
{
    plugin_t *p = be;
    pthread_mutex_lock(&p->mu);
    job_t **pp = &p->head, *prev = NULL, *gone = NULL;
    while (*pp && (*pp)->id != id) {
        prev = *pp;
        pp = &(*pp)->next;
    }
    if (*pp) {
        gone = *pp;
        *pp = gone->next;
        if (p->tail == gone)
            p->tail = prev;
    }
    pthread_mutex_unlock(&p->mu);
    if (gone)
        job_free(gone);
}

static void free_jobs(job_t *j)
{
    while (j) {
        job_t *n = j->next;
        job_free(j);
        j = n;
    }
}

static void plugin_close(void *be)
{
    plugin_t *p = be;
    pthread_mutex_lock(&p->mu);
    p->stopping = 1;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    for (unsigned i = 0; i < p->nthreads; i++)
        pthread_join(p->threads[i], NULL);
    loop_async_close(functions_loop(p->fs), &p->wake);
    free_jobs(p->head);
    free_jobs(p->done);
    free(p->threads);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->cv);
    /* the shared object stays loaded: a handler still running on a stuck
     * thread must not have its code unmapped */
    free(p);
}

static const fn_backend_ops_t PLUGIN_OPS = {plugin_start, plugin_cancel, plugin_close};

/* ---- loading ---------------------------------------------------------------------------------- */

static int load(plugin_t *p, const char *spec, char *why, size_t n)
{
    char path[1024];
    const char *colon = strrchr(spec, ':');
    const char *sym = colon && colon[1] ? colon + 1 : "sluice_handler";
    size_t plen = colon ? (size_t)(colon - spec) : strlen(spec);
    if (plen == 0 || plen >= sizeof path)
        return snprintf(why, n, "handler must be path.so[:symbol]"), -1;
    memcpy(path, spec, plen);
    path[plen] = 0;
    p->dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!p->dl)
        return snprintf(why, n, "cannot load %s: %s", path, dlerror()), -1;
    p->handler = (sluice_handler_fn)(uintptr_t)dlsym(p->dl, sym);
    if (!p->handler)
        return snprintf(why, n, "%s does not export %s", path, sym), -1;
    char rsym[256];
    snprintf(rsym, sizeof rsym, "%s_records", sym);
    p->records = (sluice_records_fn)(uintptr_t)dlsym(p->dl, rsym);
    sluice_plugin_init_fn init = (sluice_plugin_init_fn)(uintptr_t)dlsym(p->dl, "sluice_plugin_init");
    if (init && init() != SLUICE_PLUGIN_ABI)
        return snprintf(why, n, "%s: sluice_plugin_init refused (ABI %d expected)", path, SLUICE_PLUGIN_ABI), -1;
    return 0;
}

static unsigned pool_size(const fn_def_t *def, unsigned threads)
{
    if (threads == 0) {
        long c = sysconf(_SC_NPROCESSORS_ONLN);
        threads = c > 0 ? (unsigned)c : 2;
    }
    return def->concurrency < threads ? def->concurrency : threads;
}

int fn_plugin_open(functions_t *fs, function_t *f, const fn_def_t *def, unsigned threads,
                   const fn_backend_ops_t **ops, void **be, char *why, size_t why_len)
{
    plugin_t *p = xcalloc(1, sizeof *p);
    p->fs = fs;
    p->name = def->name;
    if (load(p, def->handler, why, why_len) != 0) {
        if (p->dl)
            dlclose(p->dl);
        free(p);
        return -1;
    }
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    loop_async_init(functions_loop(fs), &p->wake, on_wake, p);
    p->nthreads = pool_size(def, threads);
    p->threads = xcalloc(p->nthreads, sizeof *p->threads);
    for (unsigned i = 0; i < p->nthreads; i++)
        pthread_create(&p->threads[i], NULL, worker_main, p);
    f->takes_records = p->records != NULL;
    *ops = &PLUGIN_OPS;
    *be = p;
    return 0;
}
