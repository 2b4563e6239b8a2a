/*
 * async — asynchronous invocations (Invoke with InvocationType=Event, topic
 * subscriptions to functions): Lambda's internal event queue, made durable.
 *
 * An accepted invocation is an ASYNC_PUT record; it runs through the normal
 * call path, and on an error is retried up to the function's max_retries
 * (Lambda's default 2) after retry_delay(attempt) — 1 s, then 2 s; Lambda
 * waits about 1 and 2 minutes, which Sluice shortens because nothing here
 * is shared capacity to protect. The outcome goes to the on-success or
 * on-failure destination, then an ASYNC_DEL record retires it. A throttled
 * attempt (backlog full) does not count and is tried again 1 s later.
 *
 * After a crash every invocation with a PUT and no DEL runs again from its
 * first attempt: delivery is at least once, as in Lambda.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "functions/functions_int.h"
#include "util/alloc.h"
#include "util/clock.h"
#include "util/logging.h"
#include "util/rand.h"

#define RETRY_BASE_MS 1000
#define THROTTLE_RETRY_MS 1000

typedef struct fn_async {
    uint64_t id;
    char *fname;
    char *request_id;
    char *event;
    size_t event_len;
    uint64_t accepted_ms;
    int attempts;
    functions_t *fs;
    loop_timer_t timer;
} fn_async_t;

static void async_free(functions_t *fs, fn_async_t *a)
{
    if (loop_timer_active(&a->timer))
        loop_timer_stop(fs->loop, &a->timer);
    free(a->fname);
    free(a->request_id);
    free(a->event);
    free(a);
}

static void encode_put(buf_t *b, const fn_async_t *a)
{
    buf_put_u64(b, a->id);
    buf_put_str(b, a->fname);
    buf_put_str(b, a->request_id);
    buf_put_u64(b, a->accepted_ms);
    buf_put_bytes(b, a->event, (uint32_t)a->event_len);
}

static void retire(functions_t *fs, fn_async_t *a)
{
    if (fs->store) {
        buf_t b = BUF_INIT;
        buf_put_u64(&b, a->id);
        store_append(fs->store, FN_REC_ASYNC_DEL, b.data, b.len);
        buf_free(&b);
    }
    seqmap_del(&fs->async, a->id);
    async_free(fs, a);
}

static void run(fn_async_t *a);

static void on_timer(loop_t *loop, loop_timer_t *t)
{
    (void)loop;
    run(t->arg);
}

static void outcome(fn_async_t *a, function_t *f, const fn_result_t *r, const char *condition)
{
    const char *dest = r->ok ? f->def.on_success : f->def.on_failure;
    fn_outcome_t o = {.f = f,
                      .request_id = a->request_id,
                      .journal = a->request_id, /* its hops' id (function_trace in run) */
                      .event = a->event,
                      .event_len = a->event_len,
                      .res = r,
                      .condition = condition,
                      .attempts = a->attempts};
    if (!r->ok)
        log_warn("async_invocation_failed", "function=%s request_id=%s attempts=%d error_type=%s", f->def.name,
                 a->request_id, a->attempts, r->error_type ? r->error_type : "");
    if (dest)
        fn_dest__send(a->fs, dest, &o);
    fn_dest__track(a->fs, dest, &o);
}

static void on_done(void *arg, const fn_result_t *r)
{
    fn_async_t *a = arg;
    function_t *f = functions_find(a->fs, a->fname);
    a->attempts++;
    if (!f) {
        retire(a->fs, a);
        return;
    }
    if (!r->ok && a->attempts <= f->def.max_retries) {
        loop_timer_start(a->fs->loop, &a->timer, (uint64_t)RETRY_BASE_MS << (a->attempts - 1));
        return;
    }
    outcome(a, f, r, r->ok ? "Success" : "RetriesExhausted");
    retire(a->fs, a);
}

static void run(fn_async_t *a)
{
    function_t *f = functions_find(a->fs, a->fname);
    err_t err;
    if (!f) {
        log_warn("async_invocation_dropped", "function=%s request_id=%s reason=\"no such function\"", a->fname,
                 a->request_id);
        retire(a->fs, a);
        return;
    }
    uint64_t call;
    if (function_invoke(f, a->event, a->event_len, a->request_id, on_done, a, &call, &err) != ST_OK)
        loop_timer_start(a->fs->loop, &a->timer, THROTTLE_RETRY_MS);
    else
        function_trace(f, call, a->request_id, NULL); /* each attempt's hops, under its request id */
}

static fn_async_t *async_new(functions_t *fs, uint64_t id)
{
    fn_async_t *a = xcalloc(1, sizeof *a);
    a->id = id;
    a->fs = fs;
    loop_timer_init(&a->timer, on_timer, a);
    seqmap_put(&fs->async, id, a);
    if (id >= fs->next_async)
        fs->next_async = id + 1;
    return a;
}

status_t function_invoke_async(function_t *f, const char *event, size_t len, const char *request_id,
                               char *id_out, err_t *err)
{
    functions_t *fs = f->fs;
    if (len > FN_EVENT_MAX)
        return err_set(err, ST_TOO_LARGE, "%zu byte payload is too large for the Event invocation type (limit %d bytes)",
                       len, FN_EVENT_MAX);
    fn_async_t *a = async_new(fs, fs->next_async);
    char rid[UUID_STR_LEN];
    if (!request_id || !*request_id) {
        rand_uuid(rid);
        request_id = rid;
    }
    a->fname = xstrdup(f->def.name);
    a->request_id = xstrdup(request_id);
    a->event = xmemdup(event, len);
    a->event_len = len;
    a->accepted_ms = clock_wall_ms();
    if (fs->store) {
        buf_t b = BUF_INIT;
        encode_put(&b, a);
        store_append(fs->store, FN_REC_ASYNC_PUT, b.data, b.len);
        buf_free(&b);
    }
    if (id_out)
        snprintf(id_out, UUID_STR_LEN, "%s", a->request_id);
    if (fs->started)
        run(a);
    return ST_OK;
}

/* ---- store --------------------------------------------------------------------------------- */

int fn_async__apply(functions_t *fs, uint8_t type, const void *p, size_t len)
{
    reader_t r;
    reader_init(&r, p, len);
    uint64_t id = reader_u64(&r);
    if (type == FN_REC_ASYNC_DEL) {
        fn_async_t *a = r.err ? NULL : seqmap_del(&fs->async, id);
        if (a)
            async_free(fs, a);
        return r.err || r.off != len ? -1 : 0;
    }
    char *fname = reader_strdup(&r), *rid = reader_strdup(&r);
    uint64_t accepted = reader_u64(&r);
    uint32_t n = 0;
    const char *ev = reader_bytes(&r, &n);
    if (r.err || r.off != len || !fname || !rid || id == 0 || seqmap_get(&fs->async, id)) {
        free(fname);
        free(rid);
        return -1;
    }
    fn_async_t *a = async_new(fs, id);
    a->fname = fname;
    a->request_id = rid;
    a->accepted_ms = accepted;
    a->event = xmemdup(ev, n);
    a->event_len = n;
    return 0;
}

int fn_async__dump(functions_t *fs, store_snap_t *snap)
{
    uint64_t key = 0;
    void *v;
    buf_t b = BUF_INIT;
    while (seqmap_next(&fs->async, &key, &v)) {
        buf_reset(&b);
        encode_put(&b, v);
        store_snap_put(snap, FN_REC_ASYNC_PUT, b.data, b.len);
    }
    buf_free(&b);
    return 0;
}

void fn_async__start(functions_t *fs)
{
    uint64_t key = 0;
    void *v;
    size_t n = 0;
    while (seqmap_next(&fs->async, &key, &v)) {
        fn_async_t *a = v;
        loop_timer_start(fs->loop, &a->timer, 0); /* not run() here: it may retire while we iterate */
        n++;
    }
    if (n)
        log_info("async_invocations_resumed", "count=%zu", n);
}

void fn_async__free(functions_t *fs)
{
    uint64_t key = 0;
    void *v;
    while (seqmap_next(&fs->async, &key, &v)) {
        async_free(fs, v);
    }
    seqmap_free(&fs->async);
}
