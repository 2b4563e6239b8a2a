/*
 * test_functions — the invocation contract (results, errors, timeouts,
 * concurrency, backlog), event source mappings (batching, windows, rate,
 * partial batch failure, FIFO order), asynchronous retries and
 * destinations — the request records they write (RUNNING at a start and
 * after a failure that is retried, DEAD_LETTERED, EXPIRED past the
 * deadline, FAILED when final) — against the testfn plugin
 * (tests/plugins/testfn.c).
 */
#include <dlfcn.h>
#include <limits.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "functions/functions.h"
#include "functions/mappings.h"
#include "harness.h"
#include "loop_fixture.h"
#include "queues/queues.h"
#include "tables/tables.h"
#include "util/clock.h"
#include "util/jv.h"

typedef struct env {
    loop_t *loop;
    queues_t *qs;
    tables_t *ts;
    functions_t *fs;
    char plugin[PATH_MAX];
    void *dl; /* the plugin, for its counters */
} env_t;

static void env_start(env_t *e)
{
    char exe[PATH_MAX] = {0};
    memset(e, 0, sizeof *e);
    if (readlink("/proc/self/exe", exe, sizeof exe - 1) < 0)
        exe[0] = 0;
    snprintf(e->plugin, sizeof e->plugin, "%s/plugins/testfn.so", dirname(exe));
    e->loop = loop_new();
    queues_config_t qc = {.region = "us-east-1", .account = "000000000000"};
    e->qs = queues_new(&qc, NULL);
    e->ts = tables_new(NULL);
    functions_config_t fc = {.region = "us-east-1", .account = "000000000000", .plugin_threads = 8};
    e->fs = functions_new(&fc, e->loop, NULL, (struct queues *)e->qs, NULL, e->ts);
    e->dl = dlopen(e->plugin, RTLD_NOW);
    void (*reset)(void) = e->dl ? (void (*)(void))dlsym(e->dl, "testfn_reset") : NULL;
    if (reset)
        reset();
}

static void env_stop(env_t *e)
{
    functions_free(e->fs);
    tables_free(e->ts);
    queues_free(e->qs);
    loop_free(e->loop);
    if (e->dl)
        dlclose(e->dl);
}

static void plugin_stats(env_t *e, int *max, int *calls)
{
    void (*stats)(int *, int *) = (void (*)(int *, int *))dlsym(e->dl, "testfn_stats");
    stats(max, calls);
}

static const char *plugin_seen(env_t *e)
{
    const char *(*seen)(void) = (const char *(*)(void))dlsym(e->dl, "testfn_seen");
    return seen();
}

static function_t *declare(env_t *e, const char *name, const char *symbol, unsigned conc, unsigned timeout_ms)
{
    char handler[PATH_MAX + 64];
    snprintf(handler, sizeof handler, "%s:%s", e->plugin, symbol);
    fn_def_t d = {.name = name, .kind = FN_KIND_PLUGIN, .handler = handler, .timeout_ms = timeout_ms,
                  .concurrency = conc, .max_retries = 2};
    function_t *f = NULL;
    err_t err;
    if (functions_declare(e->fs, &d, &f, &err) != ST_OK)
        fprintf(stderr, "declare %s: %s\n", name, err.msg);
    return f;
}

/* ---- one call ------------------------------------------------------------------------------ */

typedef struct got {
    int n, ok;
    char type[64];
    char payload[4096];
} got_t;

static void on_done(void *arg, const fn_result_t *r)
{
    got_t *g = arg;
    g->n++;
    g->ok = r->ok;
    snprintf(g->type, sizeof g->type, "%s", r->error_type ? r->error_type : "");
    snprintf(g->payload, sizeof g->payload, "%.*s", (int)r->len, r->payload);
}

static int got_one(void *arg)
{
    return ((got_t *)arg)->n >= 1;
}

static int call(env_t *e, function_t *f, const char *event, got_t *g)
{
    err_t err;
    memset(g, 0, sizeof *g);
    if (function_invoke(f, event, strlen(event), "req-1", on_done, g, NULL, &err) != ST_OK)
        return 0;
    if (g->n != 0) /* never from inside function_invoke */
        return 0;
    return run_until(e->loop, got_one, g, 5000);
}

TEST(result_and_errors_follow_the_contract)
{
    env_t e;
    env_start(&e);
    CHECK(e.dl);
    function_t *echo = declare(&e, "echo", "echo", 2, 1000), *fail = declare(&e, "fail", "fail", 2, 1000);
    function_t *plain = declare(&e, "plain", "plain_fail", 2, 1000), *junk = declare(&e, "junk", "garbage", 2, 1000);
    CHECK(echo && fail && plain && junk);
    got_t g;
    CHECK(call(&e, echo, "{\"a\":[1,2]}", &g));
    CHECK(g.ok);
    CHECK_STR(g.payload, "{\"a\":[1,2]}");
    CHECK(call(&e, fail, "{}", &g));
    CHECK(!g.ok);
    CHECK_STR(g.type, "Unhandled");
    CHECK(strstr(g.payload, "\"errorMessage\":\"boom\""));
    CHECK(call(&e, plain, "{}", &g));
    CHECK_STR(g.payload, "{\"errorMessage\":\"it broke\",\"errorType\":\"Unhandled\"}");
    CHECK(call(&e, junk, "{}", &g));
    CHECK(!g.ok);
    CHECK_STR(g.type, "Runtime.InvalidResponse");
    env_stop(&e);
}

TEST(declare_checks_the_definition)
{
    env_t e;
    env_start(&e);
    err_t err;
    fn_def_t d = {.name = "bad name", .kind = FN_KIND_PLUGIN, .handler = e.plugin, .timeout_ms = 1000,
                  .concurrency = 1};
    CHECK_INT(functions_declare(e.fs, &d, NULL, &err), ST_VALIDATION_ERROR);
    d.name = "ok";
    d.concurrency = 0;
    CHECK_INT(functions_declare(e.fs, &d, NULL, &err), ST_VALIDATION_ERROR);
    d.concurrency = 1;
    d.handler = "/nonexistent/x.so:h";
    CHECK_INT(functions_declare(e.fs, &d, NULL, &err), ST_VALIDATION_ERROR);
    CHECK(strstr(err.msg, "cannot load"));
    char h[PATH_MAX + 16];
    snprintf(h, sizeof h, "%s:no_such_symbol", e.plugin);
    d.handler = h;
    CHECK_INT(functions_declare(e.fs, &d, NULL, &err), ST_VALIDATION_ERROR);
    d.on_success = "table:missing";
    snprintf(h, sizeof h, "%s:echo", e.plugin);
    CHECK_INT(functions_declare(e.fs, &d, NULL, &err), ST_VALIDATION_ERROR);
    d.on_success = NULL;
    CHECK_INT(functions_declare(e.fs, &d, NULL, &err), ST_OK);
    CHECK_INT(functions_declare(e.fs, &d, NULL, &err), ST_ALREADY_EXISTS);
    CHECK(functions_find_ref(e.fs, "arn:aws:lambda:us-east-1:000000000000:function:ok"));
    CHECK(functions_find_ref(e.fs, "arn:aws:lambda:us-east-1:000000000000:function:ok:$LATEST"));
    CHECK(!functions_find_ref(e.fs, "arn:aws:lambda:eu-west-1:000000000000:function:ok"));
    env_stop(&e);
}

TEST(timeout_answers_and_ignores_the_late_result)
{
    env_t e;
    env_start(&e);
    function_t *f = declare(&e, "slow", "sleepy", 1, 50);
    got_t g;
    CHECK(call(&e, f, "{\"ms\":300}", &g));
    CHECK(!g.ok);
    CHECK_STR(g.type, "Sandbox.Timedout");
    CHECK(strstr(g.payload, "Task timed out after 0.05 seconds"));
    function_stats_t st;
    function_get_stats(f, &st);
    CHECK_INT(st.timeouts, 1);
    CHECK(!run_until(e.loop, never, NULL, 400)); /* the late result arrives and is dropped */
    CHECK_INT(g.n, 1);
    env_stop(&e);
}

typedef struct many {
    int done, ok;
} many_t;

static void on_many(void *arg, const fn_result_t *r)
{
    many_t *m = arg;
    m->done++;
    m->ok += r->ok;
}

static int many_done(void *arg)
{
    many_t *m = arg;
    return m->done >= 12;
}

TEST(concurrency_limits_calls_in_flight)
{
    env_t e;
    env_start(&e);
    function_t *f = declare(&e, "conc", "sleepy", 3, 2000);
    many_t m = {0};
    err_t err;
    for (int i = 0; i < 12; i++)
        CHECK_INT(function_invoke(f, "{\"ms\":30}", 9, NULL, on_many, &m, NULL, &err), ST_OK);
    CHECK(run_until(e.loop, many_done, &m, 5000));
    CHECK_INT(m.ok, 12);
    int max, calls;
    plugin_stats(&e, &max, &calls);
    CHECK_INT(calls, 12);
    CHECK(max <= 3);
    CHECK_INT(max, 3);
    env_stop(&e);
}

static int all_done(void *arg)
{
    many_t *m = arg;
    return m->done >= FN_BACKLOG_MAX + 1;
}

TEST(full_backlog_throttles)
{
    env_t e;
    env_start(&e);
    function_t *f = declare(&e, "echo", "echo", 1, 2000);
    many_t m = {0};
    err_t err;
    for (int i = 0; i < FN_BACKLOG_MAX + 1; i++)
        CHECK_INT(function_invoke(f, "{}", 2, NULL, on_many, &m, NULL, &err), ST_OK);
    CHECK_INT(function_invoke(f, "{}", 2, NULL, on_many, &m, NULL, &err), ST_REQUEST_THROTTLED);
    CHECK(run_until(e.loop, all_done, &m, 20000));
    CHECK_INT(m.ok, FN_BACKLOG_MAX + 1);
    env_stop(&e);
}

TEST(forgotten_call_does_not_call_back)
{
    env_t e;
    env_start(&e);
    function_t *f = declare(&e, "echo", "echo", 1, 2000);
    got_t g = {0};
    uint64_t id;
    err_t err;
    CHECK_INT(function_invoke(f, "{}", 2, NULL, on_done, &g, &id, &err), ST_OK);
    function_forget(f, id);
    CHECK(!run_until(e.loop, never, NULL, 100));
    CHECK_INT(g.n, 0);
    env_stop(&e);
}

/* ---- mappings ------------------------------------------------------------------------------- */

static queue_t *make_queue(env_t *e, const char *name, int fifo)
{
    queue_t *q = NULL;
    err_t err;
    kv_t attrs[] = {{"FifoQueue", "true"}, {"ContentBasedDeduplication", "true"}};
    queues_create(e->qs, name, attrs, fifo ? 2 : 0, NULL, 0, &q, &err);
    return q;
}

static void send_body(queue_t *q, const char *body, const char *group)
{
    send_req_t r = {.body = body, .body_len = strlen(body), .body_given = 1, .group_id = group};
    send_res_t res;
    err_t err;
    queue_send(q, &r, &res, &err);
}

static esm_t *map(env_t *e, const char *fn, const char *queue, uint32_t batch, uint32_t window, int report)
{
    esm_def_t d = {.function = fn, .queue = queue, .batch_size = batch, .window_s = window,
                   .report_failures = report, .enabled = 1};
    esm_t *m = NULL;
    err_t err;
    if (esm_create(e->fs, &d, &m, &err) != ST_OK)
        fprintf(stderr, "esm_create: %s\n", err.msg);
    return m;
}

typedef struct settle {
    esm_t *m;
    uint64_t records;
} settle_t;

static int settled(void *arg)
{
    settle_t *s = arg;
    esm_stats_t st;
    esm_get_stats(s->m, &st);
    return st.records >= s->records && st.inflight_batches == 0 && st.succeeded + st.failed >= s->records;
}

static uint64_t queue_messages(env_t *e, uint64_t *inflight)
{
    queues_stats_t st;
    queues_get_stats(e->qs, &st);
    *inflight = st.inflight;
    return st.messages;
}

TEST(mapping_delivers_lambda_sqs_events_and_deletes)
{
    env_t e;
    env_start(&e);
    CHECK(declare(&e, "echoer", "echo", 2, 2000));
    queue_t *q = make_queue(&e, "inbox", 0);
    for (int i = 0; i < 25; i++)
        send_body(q, "hello", NULL);
    functions_start(e.fs);
    settle_t s = {map(&e, "echoer", "inbox", 10, 0, 0), 25};
    CHECK(s.m);
    CHECK(run_until(e.loop, settled, &s, 5000));
    esm_stats_t st;
    esm_get_stats(s.m, &st);
    CHECK_INT(st.succeeded, 25);
    CHECK(st.batches >= 3);
    uint64_t inflight;
    CHECK_INT(queue_messages(&e, &inflight), 0);
    env_stop(&e);
}

TEST(mapping_event_shape)
{
    env_t e;
    env_start(&e);
    CHECK(declare(&e, "echoer", "echo", 1, 2000));
    queue_t *q = make_queue(&e, "shape", 0);
    msg_attr_t a = {.name = "requestId", .type = "String", .value = "r-42", .value_len = 4};
    send_req_t r = {.body = "{\"x\":1}", .body_len = 7, .body_given = 1, .attrs = &a, .nattrs = 1};
    send_res_t res;
    err_t err;
    CHECK_INT(queue_send(q, &r, &res, &err), ST_OK);
    table_def_t td = {.name = "results", .pk = "requestId"};
    table_t *t;
    CHECK_INT(tables_create(e.ts, &td, &t, &err), ST_OK);
    esm_def_t d = {.function = "echoer", .queue = "shape", .batch_size = 1, .enabled = 1,
                   .on_success = "table:results"};
    esm_t *m;
    CHECK_INT(esm_create(e.fs, &d, &m, &err), ST_OK);
    functions_start(e.fs);
    settle_t s = {m, 1};
    CHECK(run_until(e.loop, settled, &s, 5000));
    buf_t item = BUF_INIT;
    CHECK_INT(table_get(t, "r-42", NULL, &item, &err), ST_OK);
    jv_doc_t *doc = jv_doc_new();
    jv_t *v = jv_parse_cstr(doc, item.data);
    CHECK(v);
    CHECK_STR(jv_str(jv_get(v, "status")), "SUCCEEDED");
    jv_t *rec = jv_at(jv_get(jv_get(v, "result"), "Records"), 0); /* echo: the result is the event */
    CHECK(rec);
    CHECK_STR(jv_str(jv_get(rec, "messageId")), res.message_id);
    CHECK_STR(jv_str(jv_get(rec, "body")), "{\"x\":1}");
    CHECK_STR(jv_str(jv_get(rec, "eventSource")), "aws:sqs");
    CHECK_STR(jv_str(jv_get(rec, "eventSourceARN")), "arn:aws:sqs:us-east-1:000000000000:shape");
    CHECK_STR(jv_str(jv_get(rec, "awsRegion")), "us-east-1");
    CHECK_STR(jv_str(jv_get(rec, "md5OfBody")), res.md5_body);
    CHECK_STR(jv_str(jv_get(rec, "md5OfMessageAttributes")), res.md5_attrs);
    CHECK(jv_str(jv_get(rec, "receiptHandle")));
    CHECK_STR(jv_str(jv_get(jv_get(rec, "attributes"), "ApproximateReceiveCount")), "1");
    CHECK(jv_str(jv_get(jv_get(rec, "attributes"), "SentTimestamp")));
    jv_t *ma = jv_get(jv_get(rec, "messageAttributes"), "requestId");
    CHECK_STR(jv_str(jv_get(ma, "stringValue")), "r-42");
    CHECK_STR(jv_str(jv_get(ma, "dataType")), "String");
    CHECK(jv_is(jv_get(ma, "stringListValues"), JV_ARRAY));
    jv_doc_free(doc);
    buf_free(&item);
    env_stop(&e);
}

static void run_batch_case(env_t *e, const char *const *bodies, int n, int report, uint64_t *left,
                           uint64_t *inflight)
{
    queue_t *q = make_queue(e, "work", 0);
    for (int i = 0; i < n; i++)
        send_body(q, bodies[i], NULL);
    declare(e, "batcher", "batch", 1, 2000);
    functions_start(e->fs);
    settle_t s = {map(e, "batcher", "work", 10, 0, report), (uint64_t)n};
    run_until(e->loop, settled, &s, 5000);
    *left = queue_messages(e, inflight);
}

TEST(partial_batch_failure_keeps_only_the_failed)
{
    env_t e;
    env_start(&e);
    const char *bodies[] = {"ok1", "fail2", "ok3", "fail4"};
    uint64_t left, inflight;
    run_batch_case(&e, bodies, 4, 1, &left, &inflight);
    CHECK_INT(left, 2);
    CHECK_INT(inflight, 2);
    env_stop(&e);
}

TEST(unknown_item_identifier_fails_the_whole_batch)
{
    env_t e;
    env_start(&e);
    const char *bodies[] = {"ok1", "badid", "ok3"};
    uint64_t left, inflight;
    run_batch_case(&e, bodies, 3, 1, &left, &inflight);
    CHECK_INT(left, 3);
    env_stop(&e);
}

TEST(non_object_response_fails_the_whole_batch)
{
    env_t e;
    env_start(&e);
    const char *bodies[] = {"ok1", "string"};
    uint64_t left, inflight;
    run_batch_case(&e, bodies, 2, 1, &left, &inflight);
    CHECK_INT(left, 2);
    env_stop(&e);
}

TEST(function_error_fails_the_whole_batch)
{
    env_t e;
    env_start(&e);
    const char *bodies[] = {"ok1", "error", "ok3"};
    uint64_t left, inflight;
    run_batch_case(&e, bodies, 3, 1, &left, &inflight);
    CHECK_INT(left, 3);
    env_stop(&e);
}

TEST(without_report_failures_the_list_is_ignored)
{
    env_t e;
    env_start(&e);
    const char *bodies[] = {"ok1", "fail2"};
    uint64_t left, inflight;
    run_batch_case(&e, bodies, 2, 0, &left, &inflight);
    CHECK_INT(left, 0);
    env_stop(&e);
}

/* ---- record handlers -------------------------------------------------------------------------- */

static void send_with_id(queue_t *q, const char *body, const char *rid)
{
    msg_attr_t a = {.name = "requestId", .type = "String", .value = rid, .value_len = strlen(rid)};
    send_req_t r = {.body = body, .body_len = strlen(body), .body_given = 1, .attrs = &a, .nattrs = 1};
    send_res_t res;
    err_t err;
    queue_send(q, &r, &res, &err);
}

/* Sends bodies[i] with request id r<i> through a mapping to function "rec"
 * (results and errors to table results); returns the messages left. */
static uint64_t run_records_case(env_t *e, const char *const *bodies, int n, int report, table_t **t)
{
    err_t err;
    queue_t *q = make_queue(e, "work", 0);
    for (int i = 0; i < n; i++) {
        char rid[16];
        snprintf(rid, sizeof rid, "r%d", i);
        send_with_id(q, bodies[i], rid);
    }
    table_def_t td = {.name = "results", .pk = "requestId"};
    tables_create(e->ts, &td, t, &err);
    declare(e, "rec", "rec", 1, 2000);
    esm_def_t d = {.function = "rec", .queue = "work", .batch_size = 10, .report_failures = report, .enabled = 1,
                   .on_success = "table:results", .on_failure = "table:results"};
    esm_t *m = NULL;
    esm_create(e->fs, &d, &m, &err);
    functions_start(e->fs);
    settle_t s = {m, (uint64_t)n};
    run_until(e->loop, settled, &s, 5000);
    uint64_t inflight;
    return queue_messages(e, &inflight);
}

/* The item stored under rid, parsed into doc. */
static jv_t *result_item(table_t *t, const char *rid, jv_doc_t *doc)
{
    buf_t item = BUF_INIT;
    err_t err;
    jv_t *v = table_get(t, rid, NULL, &item, &err) == ST_OK ? jv_parse_cstr(doc, item.data) : NULL;
    buf_free(&item);
    return v;
}

TEST(record_handler_takes_records_and_answers_each)
{
    env_t e;
    env_start(&e);
    const char *bodies[] = {"ok0", "fail1", "errdoc", "ok3"};
    table_t *t = NULL;
    CHECK_INT(run_records_case(&e, bodies, 4, 1, &t), 2); /* the two failed stay */
    CHECK_STR(plugin_seen(&e), "ok0\nfail1\nerrdoc\nok3\n");
    jv_doc_t *doc = jv_doc_new();
    jv_t *ok = result_item(t, "r3", doc);
    CHECK_STR(jv_str(jv_get(ok, "status")), "SUCCEEDED");
    CHECK_STR(jv_str(jv_get(jv_get(ok, "result"), "via")), "records");
    CHECK_STR(jv_str(jv_get(jv_get(ok, "result"), "req")), "r3");
    CHECK_INT(jv_get(jv_get(ok, "result"), "n")->i, 1);
    /* a failed record will be delivered again: RUNNING with its error, not a final FAILED */
    jv_t *plain = result_item(t, "r1", doc);
    CHECK_STR(jv_str(jv_get(plain, "status")), "RUNNING");
    CHECK(!strncmp(jv_str(jv_get(jv_get(plain, "lastError"), "errorMessage")), "broken ", 7));
    CHECK_STR(jv_str(jv_get(jv_get(plain, "lastError"), "errorType")), "BatchItemFailure");
    CHECK_INT(jv_get(plain, "attempts")->i, 1);
    CHECK(!jv_get(plain, "error") && !jv_get(plain, "completedAt"));
    jv_t *own = result_item(t, "r2", doc);
    CHECK_STR(jv_str(jv_get(jv_get(own, "lastError"), "errorMessage")), "own");
    CHECK_STR(jv_str(jv_get(jv_get(own, "lastError"), "errorType")), "Custom");
    jv_doc_free(doc);
    /* Invoke still calls the plain handler with the event */
    got_t g;
    CHECK(call(&e, functions_find(e.fs, "rec"), "{}", &g));
    CHECK_STR(g.payload, "{\"via\":\"event\"}");
    env_stop(&e);
}

TEST(record_handler_garbage_or_batch_error_fails_the_whole_batch)
{
    const char *garbage[] = {"ok0", "garbage"}, *error[] = {"ok0", "batcherror"};
    const char *const *cases[] = {garbage, error};
    for (int c = 0; c < 2; c++) {
        env_t e;
        env_start(&e);
        table_t *t = NULL;
        CHECK_INT(run_records_case(&e, cases[c], 2, 1, &t), 2);
        jv_doc_t *doc = jv_doc_new();
        CHECK_STR(jv_str(jv_get(result_item(t, "r0", doc), "status")), "RUNNING");
        jv_doc_free(doc);
        env_stop(&e);
    }
}

/* ---- request records ------------------------------------------------------------------------- */

/* A record as the gateway writes it, its deadline in_ms from now. */
static void put_accepted(table_t *t, const char *rid, int64_t in_ms)
{
    char dl[32], item[256];
    err_t err;
    clock_iso8601((uint64_t)((int64_t)clock_wall_ms() + in_ms), dl);
    snprintf(item, sizeof item, "{\"requestId\":\"%s\",\"status\":\"ACCEPTED\",\"deadline\":\"%s\"}", rid, dl);
    table_put(t, item, strlen(item), NULL, &err);
}

typedef struct dead_wait {
    env_t *e;
    table_t *t;
} dead_wait_t;

/* Drives the queues' clock (visibility 0: failed records come back at the
 * next tick) until r0's record is DEAD_LETTERED. */
static int r0_dead(void *arg)
{
    dead_wait_t *w = arg;
    jv_doc_t *doc = jv_doc_new();
    queues_tick(w->e->qs);
    const char *st = jv_str(jv_get(result_item(w->t, "r0", doc), "status"));
    int dead = st && strcmp(st, "DEAD_LETTERED") == 0;
    jv_doc_free(doc);
    return dead;
}

TEST(mapping_writes_running_then_the_outcome_or_dead_lettered)
{
    env_t e;
    env_start(&e);
    err_t err;
    queue_t *dlq = make_queue(&e, "work-dlq", 0), *q = NULL;
    kv_t attrs[] = {{"VisibilityTimeout", "0"},
                    {"RedrivePolicy", "{\"deadLetterTargetArn\":\"arn:aws:sqs:us-east-1:000000000000:work-dlq\","
                                      "\"maxReceiveCount\":2}"}};
    CHECK_INT(queues_create(e.qs, "work", attrs, 2, NULL, 0, &q, &err), ST_OK);
    table_def_t td = {.name = "results", .pk = "requestId"};
    table_t *t;
    CHECK_INT(tables_create(e.ts, &td, &t, &err), ST_OK);
    put_accepted(t, "r0", 60000);  /* fails every time */
    put_accepted(t, "r1", 60000);  /* succeeds */
    put_accepted(t, "r3", -1000);  /* succeeds after its deadline */
    send_with_id(q, "fail0", "r0"); /* r2 (no record before) succeeds */
    send_with_id(q, "ok1", "r1");
    send_with_id(q, "ok2", "r2");
    send_with_id(q, "ok3", "r3");
    CHECK(declare(&e, "rec", "rec", 1, 2000));
    esm_def_t d = {.function = "rec", .queue = "work", .batch_size = 10, .report_failures = 1, .enabled = 1,
                   .on_success = "table:results", .on_failure = "table:results"};
    esm_t *m = NULL;
    CHECK_INT(esm_create(e.fs, &d, &m, &err), ST_OK);
    functions_start(e.fs);
    settle_t s = {m, 4};
    CHECK(run_until(e.loop, settled, &s, 5000));
    jv_doc_t *doc = jv_doc_new();
    /* a first attempt that ends within RUNNING_MARK_MS goes straight to its
     * outcome: no RUNNING mark (no startedAt), the accepted fields kept */
    jv_t *ok = result_item(t, "r1", doc);
    CHECK_STR(jv_str(jv_get(ok, "status")), "SUCCEEDED");
    CHECK(!jv_get(ok, "startedAt"));
    CHECK(jv_str(jv_get(ok, "deadline")));
    /* no record before: none made at the start, only the outcome */
    jv_t *fresh = result_item(t, "r2", doc);
    CHECK_STR(jv_str(jv_get(fresh, "status")), "SUCCEEDED");
    CHECK(!jv_get(fresh, "startedAt"));
    /* past its deadline: no RUNNING mark, and the result is stored as EXPIRED */
    jv_t *late = result_item(t, "r3", doc);
    CHECK_STR(jv_str(jv_get(late, "status")), "EXPIRED");
    CHECK_STR(jv_str(jv_get(jv_get(late, "result"), "via")), "records");
    CHECK(jv_str(jv_get(late, "completedAt")) && !jv_get(late, "startedAt"));
    /* the failure will be retried: RUNNING with its error */
    jv_t *failed = result_item(t, "r0", doc);
    CHECK_STR(jv_str(jv_get(failed, "status")), "RUNNING");
    CHECK_INT(jv_get(failed, "attempts")->i, 1);
    CHECK(!strncmp(jv_str(jv_get(jv_get(failed, "lastError"), "errorMessage")), "broken ", 7));
    /* second failure, then the receive that moves it: DEAD_LETTERED, its last error kept */
    dead_wait_t w = {&e, t};
    CHECK(run_until(e.loop, r0_dead, &w, 5000));
    jv_t *dead = result_item(t, "r0", doc);
    CHECK_INT(jv_get(dead, "attempts")->i, 2);
    CHECK_STR(jv_str(jv_get(dead, "deadLetterQueue")), "work-dlq");
    CHECK(clock_iso8601_parse(jv_str(jv_get(dead, "startedAt"))) > 0); /* the retry was marked at once */
    CHECK(clock_iso8601_parse(jv_str(jv_get(dead, "deadLetteredAt"))) > 0);
    CHECK(!strncmp(jv_str(jv_get(jv_get(dead, "lastError"), "errorMessage")), "broken ", 7));
    CHECK(jv_str(jv_get(dead, "deadline")));
    queues_stats_t qst;
    queues_get_stats(e.qs, &qst);
    CHECK_INT(qst.messages, 1); /* in the DLQ */
    (void)dlq;
    jv_doc_free(doc);
    env_stop(&e);
}

TEST(record_handler_failure_without_report_failures_fails_the_batch)
{
    env_t e;
    env_start(&e);
    const char *bodies[] = {"ok0", "fail1"};
    table_t *t = NULL;
    CHECK_INT(run_records_case(&e, bodies, 2, 0, &t), 2);
    env_stop(&e);
}

TEST(fifo_failure_holds_back_the_rest_of_its_group)
{
    env_t e;
    env_start(&e);
    queue_t *q = make_queue(&e, "work.fifo", 1);
    send_body(q, "a1", "A");
    send_body(q, "fail-a2", "A");
    send_body(q, "a3", "A");
    send_body(q, "b1", "B");
    declare(&e, "batcher", "batch", 1, 2000);
    functions_start(e.fs);
    settle_t s = {map(&e, "batcher", "work.fifo", 10, 0, 1), 4};
    CHECK(run_until(e.loop, settled, &s, 5000));
    uint64_t inflight;
    CHECK_INT(queue_messages(&e, &inflight), 2); /* fail-a2 and a3 */
    CHECK_STR(plugin_seen(&e), "a1\nfail-a2\na3\nb1\n");
    env_stop(&e);
}

TEST(mapping_concurrency_is_bounded)
{
    env_t e;
    env_start(&e);
    queue_t *q = make_queue(&e, "busy", 0);
    for (int i = 0; i < 40; i++)
        send_body(q, "slow", NULL);
    declare(&e, "batcher", "batch", 10, 5000);
    esm_def_t d = {.function = "batcher", .queue = "busy", .batch_size = 2, .max_concurrency = 3, .enabled = 1};
    esm_t *m;
    err_t err;
    CHECK_INT(esm_create(e.fs, &d, &m, &err), ST_OK);
    functions_start(e.fs);
    settle_t s = {m, 40};
    CHECK(run_until(e.loop, settled, &s, 10000));
    int max, calls;
    plugin_stats(&e, &max, &calls);
    CHECK_INT(calls, 20);
    CHECK(max <= 3);
    CHECK(max >= 2);
    env_stop(&e);
}

TEST(batching_window_gathers_a_batch)
{
    env_t e;
    env_start(&e);
    queue_t *q = make_queue(&e, "gather", 0);
    declare(&e, "batcher", "batch", 1, 2000);
    functions_start(e.fs);
    settle_t s = {map(&e, "batcher", "gather", 50, 1, 0), 6};
    CHECK(s.m);
    for (int i = 0; i < 3; i++)
        send_body(q, "early", NULL);
    CHECK(!run_until(e.loop, never, NULL, 300));
    esm_stats_t st;
    esm_get_stats(s.m, &st);
    CHECK_INT(st.batches, 0); /* the window is still open */
    for (int i = 0; i < 3; i++)
        send_body(q, "late", NULL);
    CHECK(run_until(e.loop, settled, &s, 3000));
    esm_get_stats(s.m, &st);
    CHECK_INT(st.batches, 1);
    CHECK_INT(st.records, 6);
    env_stop(&e);
}

TEST(validation_of_mappings)
{
    env_t e;
    env_start(&e);
    make_queue(&e, "v", 0);
    make_queue(&e, "v.fifo", 1);
    declare(&e, "echoer", "echo", 1, 1000);
    esm_def_t d = {.function = "echoer", .queue = "v", .batch_size = 0, .enabled = 1};
    esm_t *m;
    err_t err;
    CHECK_INT(esm_create(e.fs, &d, &m, &err), ST_INVALID_PARAMETER_VALUE);
    d.batch_size = 10001;
    CHECK_INT(esm_create(e.fs, &d, &m, &err), ST_INVALID_PARAMETER_VALUE);
    d.batch_size = 100;
    CHECK_INT(esm_create(e.fs, &d, &m, &err), ST_INVALID_PARAMETER_VALUE); /* > 10 needs a window */
    d.window_s = 1;
    d.queue = "v.fifo";
    CHECK_INT(esm_create(e.fs, &d, &m, &err), ST_INVALID_PARAMETER_VALUE); /* FIFO: at most 10 */
    d.queue = "missing";
    CHECK_INT(esm_create(e.fs, &d, &m, &err), ST_INVALID_PARAMETER_VALUE);
    d.queue = "v";
    d.function = "nope";
    CHECK_INT(esm_create(e.fs, &d, &m, &err), ST_RESOURCE_NOT_FOUND);
    d.function = "echoer";
    CHECK_INT(esm_create(e.fs, &d, &m, &err), ST_OK);
    CHECK_INT(esm_create(e.fs, &d, &m, &err), ST_ALREADY_EXISTS);
    env_stop(&e);
}

TEST(rate_limit_bounds_what_is_taken)
{
    env_t e;
    env_start(&e);
    queue_t *q = make_queue(&e, "paced", 0);
    for (int i = 0; i < 200; i++)
        send_body(q, "x", NULL);
    declare(&e, "batcher", "batch", 4, 2000);
    esm_def_t d = {.function = "batcher", .queue = "paced", .batch_size = 10, .rate = 50, .enabled = 1};
    esm_t *m;
    err_t err;
    CHECK_INT(esm_create(e.fs, &d, &m, &err), ST_OK);
    functions_start(e.fs);
    CHECK(!run_until(e.loop, never, NULL, 1000));
    esm_stats_t st;
    esm_get_stats(m, &st);
    /* the bucket starts empty and holds at most min(rate, batch) = 10 */
    CHECK(st.records <= 50 + 10);
    CHECK(st.records >= 20);
    env_stop(&e);
}

/* ---- asynchronous invocations and destinations ------------------------------------------------ */

static int queue_has(void *arg)
{
    queue_t *q = arg;
    recv_req_t r = {.max = 1};
    recv_res_t res;
    err_t err;
    return queue_receive(q, &r, &res, &err) == ST_OK && res.n == 1;
}

TEST(async_retries_then_on_failure_destination)
{
    env_t e;
    env_start(&e);
    queue_t *dlq = make_queue(&e, "failures", 0);
    char h[PATH_MAX + 16];
    snprintf(h, sizeof h, "%s:fail", e.plugin);
    fn_def_t d = {.name = "failing", .kind = FN_KIND_PLUGIN, .handler = h, .timeout_ms = 1000, .concurrency = 1,
                  .max_retries = 1, .on_failure = "queue:failures"};
    function_t *f;
    err_t err;
    CHECK_INT(functions_declare(e.fs, &d, &f, &err), ST_OK);
    functions_start(e.fs);
    char id[40];
    CHECK_INT(function_invoke_async(f, "{\"k\":1}", 7, NULL, id, &err), ST_OK);
    CHECK(run_until(e.loop, queue_has, dlq, 5000));
    queues_stats_t qst;
    queues_get_stats(e.qs, &qst);
    CHECK_INT(qst.messages, 1);
    function_stats_t fst;
    function_get_stats(f, &fst);
    CHECK_INT(fst.invocations, 2); /* the first try and one retry */
    env_stop(&e);
}

/* Declares name (the plugin's symbol sym, no retries) with table:results —
 * created here, *t — as its on_success (ok) or on_failure destination. */
static function_t *declare_async(env_t *e, const char *name, const char *sym, int ok, table_t **t)
{
    err_t err;
    table_def_t td = {.name = "results", .pk = "requestId"};
    char h[PATH_MAX + 16];
    snprintf(h, sizeof h, "%s:%s", e->plugin, sym);
    fn_def_t d = {.name = name, .kind = FN_KIND_PLUGIN, .handler = h, .timeout_ms = 1000, .concurrency = 1,
                  .max_retries = 0, .on_success = ok ? "table:results" : NULL,
                  .on_failure = ok ? NULL : "table:results"};
    function_t *f = NULL;
    if (tables_create(e->ts, &td, t, &err) != ST_OK || functions_declare(e->fs, &d, &f, &err) != ST_OK)
        return NULL;
    functions_start(e->fs);
    return f;
}

TEST(async_failure_after_its_retries_is_final)
{
    env_t e;
    env_start(&e);
    err_t err;
    table_t *t;
    function_t *f = declare_async(&e, "failing", "fail", 0, &t);
    CHECK(f);
    CHECK_INT(function_invoke_async(f, "{}", 2, "once", NULL, &err), ST_OK);
    CHECK(!run_until(e.loop, never, NULL, 200));
    jv_doc_t *doc = jv_doc_new();
    jv_t *v = result_item(t, "once", doc);
    CHECK_STR(jv_str(jv_get(v, "status")), "FAILED"); /* no retry follows */
    CHECK(strstr(jv_str(jv_get(jv_get(v, "error"), "errorMessage")), "boom"));
    CHECK(jv_str(jv_get(v, "completedAt")));
    CHECK_INT(function_invoke_async(f, "{}", 2, "once", NULL, &err), ST_OK); /* a duplicate: not rewritten */
    CHECK(!run_until(e.loop, never, NULL, 200));
    CHECK_STR(jv_str(jv_get(result_item(t, "once", doc), "completedAt")), jv_str(jv_get(v, "completedAt")));
    jv_doc_free(doc);
    env_stop(&e);
}

TEST(table_destination_writes_each_result_once)
{
    env_t e;
    env_start(&e);
    err_t err;
    table_t *t;
    function_t *f = declare_async(&e, "echoer", "echo", 1, &t);
    CHECK(f);
    CHECK_INT(function_invoke_async(f, "{\"v\":1}", 7, "same-id", NULL, &err), ST_OK);
    CHECK(!run_until(e.loop, never, NULL, 200));
    buf_t first = BUF_INIT, second = BUF_INIT;
    CHECK_INT(table_get(t, "same-id", NULL, &first, &err), ST_OK);
    CHECK(strstr(first.data, "\"status\":\"SUCCEEDED\""));
    CHECK(strstr(first.data, "\"result\":{\"v\":1}"));
    CHECK_INT(function_invoke_async(f, "{\"v\":2}", 7, "same-id", NULL, &err), ST_OK);
    CHECK(!run_until(e.loop, never, NULL, 200));
    CHECK_INT(table_get(t, "same-id", NULL, &second, &err), ST_OK);
    CHECK_STR(second.data, first.data); /* not replaced */
    buf_free(&first);
    buf_free(&second);
    env_stop(&e);
}

TEST(a_refused_batch_goes_back_to_the_queue)
{
    env_t e;
    env_start(&e);
    function_t *f = declare(&e, "busy", "sleepy", 1, 5000);
    queue_t *q = make_queue(&e, "waiting", 0);
    many_t m = {0};
    err_t err;
    /* one slow call and a full backlog behind it */
    CHECK_INT(function_invoke(f, "{\"ms\":300}", 10, NULL, on_many, &m, NULL, &err), ST_OK);
    for (int i = 0; i < FN_BACKLOG_MAX; i++)
        CHECK_INT(function_invoke(f, "{\"ms\":0}", 8, NULL, on_many, &m, NULL, &err), ST_OK);
    for (int i = 0; i < 5; i++)
        send_body(q, "{\"ms\":0}", NULL);
    functions_start(e.fs);
    settle_t s = {map(&e, "busy", "waiting", 10, 0, 0), 5};
    CHECK(s.m);
    CHECK(!run_until(e.loop, never, NULL, 100));
    esm_stats_t st;
    esm_get_stats(s.m, &st);
    CHECK(st.throttled >= 1);
    uint64_t inflight;
    CHECK_INT(queue_messages(&e, &inflight), 5);
    CHECK_INT(inflight, 0); /* given back, not held until their visibility timeout */
    CHECK(run_until(e.loop, settled, &s, 20000)); /* taken again once the backlog drains */
    CHECK_INT(queue_messages(&e, &inflight), 0);
    env_stop(&e);
}
