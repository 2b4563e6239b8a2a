/*
 * test_runtime — process functions end to end: functions_declare with kind
 * FN_KIND_PROCESS spawns real runtimes that speak the Lambda runtime API,
 * and function_invoke drives them on a test loop.
 *
 * Runtimes: examples/runtimes/python/bootstrap with the handlers of
 * tests/fixtures/runtime/handlers.py (and badimport.py), the bash + curl
 * bootstrap of tests/fixtures/runtime/curl, and tests/fixtures/runtime/probe,
 * which reports how the API answers requests a runtime should not make.
 * Paths are found from this binary's own path (<repo>/<build>/tests/...).
 *
 * No test asserts timing: overlap is shown by a file barrier that both
 * handlers must pass, replacement by a changed pid.
 */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"
#include "loop_fixture.h"
#include "functions/functions.h"
#include "util/alloc.h"
#include "util/jv.h"

#define WAIT_MS 20000
#define PY_BOOTSTRAP "examples/runtimes/python/bootstrap"
#define FIXTURES "tests/fixtures/runtime"

/* ---- fixture ------------------------------------------------------------------------------------- */

typedef struct fx {
    loop_t *loop;
    functions_t *fs;
    function_t *f;
} fx_t;

typedef struct fx_def {
    const char *name;
    const char *command; /* relative to the repository */
    const char *dir;
    const char *handler;
    uint32_t timeout_ms, concurrency, memory_mb;
} fx_def_t;

static status_t fx_open(fx_t *fx, const fx_def_t *d, err_t *err)
{
    char cmd[PATH_MAX], dir[PATH_MAX], cwd[PATH_MAX];
    if (!getcwd(cwd, sizeof cwd))
        return ST_INTERNAL;
    /* TMPDIR: what a runtime leaves (curl/bootstrap's header files) goes with the test's directory */
    kv_t env[] = {{"SLUICE_TEST_VAR", "from-def"}, {"PYTHONDONTWRITEBYTECODE", "1"}, {"TMPDIR", cwd}};
    fn_def_t def = {.name = d->name,
                    .kind = FN_KIND_PROCESS,
                    .handler = d->handler,
                    .command = harness_repo_path(d->command, cmd, sizeof cmd),
                    .dir = harness_repo_path(d->dir, dir, sizeof dir),
                    .env = env,
                    .nenv = 3,
                    .timeout_ms = d->timeout_ms ? d->timeout_ms : 10000,
                    .concurrency = d->concurrency ? d->concurrency : 1,
                    .memory_mb = d->memory_mb};
    functions_config_t cfg = {.region = "eu-west-1", .account = "123456789012"};
    fx->loop = loop_new();
    fx->fs = functions_new(&cfg, fx->loop, NULL, NULL, NULL, NULL);
    fx->f = NULL;
    return functions_declare(fx->fs, &def, &fx->f, err);
}

static void fx_close(fx_t *fx)
{
    functions_free(fx->fs);
    loop_free(fx->loop);
}

typedef struct res {
    int done, ok;
    char *payload;
    size_t len;
    char error_type[64];
    jv_doc_t *doc;
    jv_t *v; /* the payload parsed, or NULL */
} res_t;

static void on_done(void *arg, const fn_result_t *r)
{
    res_t *x = arg;
    char why[128];
    x->done = 1;
    x->ok = r->ok;
    x->payload = xmemdup(r->payload, r->len);
    x->len = r->len;
    snprintf(x->error_type, sizeof x->error_type, "%s", r->error_type ? r->error_type : "");
    x->doc = jv_doc_new();
    x->v = jv_parse(x->doc, x->payload, x->len, why, sizeof why);
}

static void res_free(res_t *x)
{
    free(x->payload);
    if (x->doc)
        jv_doc_free(x->doc);
    memset(x, 0, sizeof *x);
}

static int res_done(void *arg)
{
    return ((res_t *)arg)->done;
}

static int both_done(void *arg)
{
    res_t *r = arg;
    return r[0].done && r[1].done;
}

/* The process is gone: dead and reaped (a zombie still answers kill 0). */
static int reaped(void *arg)
{
    return kill(*(pid_t *)arg, 0) < 0 && errno == ESRCH;
}

static status_t start(fx_t *fx, const char *event, const char *request_id, res_t *r)
{
    err_t err;
    memset(r, 0, sizeof *r);
    return function_invoke(fx->f, event, strlen(event), request_id, on_done, r, NULL, &err);
}

/* Invokes and waits for the outcome; 1 when it came. */
static int call(fx_t *fx, const char *event, res_t *r)
{
    return start(fx, event, NULL, r) == ST_OK && run_until(fx->loop, res_done, r, WAIT_MS);
}

static const char *field(const res_t *r, const char *key)
{
    return jv_str(jv_get(r->v, key));
}

static int64_t field_int(const jv_t *v, const char *key)
{
    const jv_t *x = jv_get(v, key);
    return jv_is_int(x) ? x->i : -1;
}

/* [status, doc, allow] as the probe runtime records an answer. */
static int answer_is(const jv_t *a, int64_t status, const char *error_type)
{
    const jv_t *st = jv_at(a, 0), *doc = jv_at(a, 1);
    if (!jv_is_int(st) || st->i != status)
        return 0;
    return !error_type || (jv_str(jv_get(doc, "errorType")) && strcmp(jv_str(jv_get(doc, "errorType")), error_type) == 0);
}

/* ---- results ------------------------------------------------------------------------------------- */

TEST(runtime_echo_and_environment)
{
    fx_t fx;
    err_t err;
    res_t r;
    char dir[PATH_MAX];
    fx_def_t d = {"echo", PY_BOOTSTRAP, FIXTURES, "handlers.echo", 5000, 1, 0};
    CHECK_INT(fx_open(&fx, &d, &err), ST_OK);
    const char *event = "{\"hello\":\"world\",\"n\":[1,2]}";
    CHECK_INT(start(&fx, event, "req-echo-1", &r), ST_OK);
    CHECK(run_until(fx.loop, res_done, &r, WAIT_MS));
    CHECK(r.ok);
    CHECK(r.v);
    char *ev = jv_dump(jv_get(r.v, "event"));
    CHECK_STR(ev, event);
    free(ev);
    CHECK_STR(field(&r, "request_id"), "req-echo-1");
    CHECK_STR(field(&r, "function_name"), "echo");
    CHECK_STR(field(&r, "arn"), "arn:aws:lambda:eu-west-1:123456789012:function:echo");
    int64_t left = field_int(r.v, "remaining_ms");
    CHECK(left > 0 && left <= 5000);
    harness_repo_path(FIXTURES, dir, sizeof dir);
    CHECK_STR(field(&r, "cwd"), dir);
    const jv_t *env = jv_get(r.v, "env");
    CHECK(strncmp(jv_str(jv_get(env, "AWS_LAMBDA_RUNTIME_API")), "127.0.0.1:", 10) == 0);
    CHECK_STR(jv_str(jv_get(env, "_HANDLER")), "handlers.echo");
    CHECK_STR(jv_str(jv_get(env, "LAMBDA_TASK_ROOT")), dir);
    CHECK_STR(jv_str(jv_get(env, "AWS_LAMBDA_FUNCTION_NAME")), "echo");
    CHECK_STR(jv_str(jv_get(env, "AWS_LAMBDA_FUNCTION_VERSION")), "$LATEST");
    CHECK_STR(jv_str(jv_get(env, "AWS_LAMBDA_FUNCTION_MEMORY_SIZE")), "128");
    CHECK_STR(jv_str(jv_get(env, "AWS_REGION")), "eu-west-1");
    CHECK_STR(jv_str(jv_get(env, "AWS_DEFAULT_REGION")), "eu-west-1");
    CHECK_STR(jv_str(jv_get(env, "AWS_LAMBDA_LOG_GROUP_NAME")), "/aws/lambda/echo");
    CHECK_STR(jv_str(jv_get(env, "TZ")), ":UTC");
    CHECK_STR(jv_str(jv_get(env, "SLUICE_TEST_VAR")), "from-def");
    int64_t pid = field_int(r.v, "pid");
    res_free(&r);
    /* warm: the same process serves the next call */
    CHECK(call(&fx, "{}", &r));
    CHECK(r.ok);
    CHECK_INT(field_int(r.v, "pid"), pid);
    res_free(&r);
    fx_close(&fx);
}

TEST(runtime_handler_error)
{
    fx_t fx;
    err_t err;
    res_t r;
    fx_def_t d = {"fail", PY_BOOTSTRAP, FIXTURES, "handlers.fail", 5000, 1, 0};
    CHECK_INT(fx_open(&fx, &d, &err), ST_OK);
    CHECK(call(&fx, "{\"why\":\"bad input\"}", &r));
    CHECK(!r.ok);
    CHECK_STR(r.error_type, "Unhandled");
    CHECK(r.v);
    CHECK_STR(field(&r, "errorMessage"), "boom: bad input");
    CHECK_STR(field(&r, "errorType"), "ValueError");
    CHECK(jv_is(jv_get(r.v, "stackTrace"), JV_ARRAY));
    res_free(&r);
    fx_close(&fx);
}

TEST(runtime_crash_fails_call_and_restarts)
{
    fx_t fx;
    err_t err;
    res_t r;
    fx_def_t d = {"crash", PY_BOOTSTRAP, FIXTURES, "handlers.crash", 10000, 1, 0};
    CHECK_INT(fx_open(&fx, &d, &err), ST_OK);
    CHECK(call(&fx, "{\"crash\":false}", &r));
    CHECK(r.ok);
    int64_t pid1 = field_int(r.v, "pid");
    res_free(&r);
    CHECK(call(&fx, "{\"crash\":true}", &r));
    CHECK(!r.ok);
    CHECK_STR(r.error_type, "Runtime.ExitError");
    CHECK_STR(field(&r, "errorType"), "Runtime.ExitError");
    CHECK(strstr(field(&r, "errorMessage"), "Runtime exited with error: exit status 3"));
    CHECK(strncmp(field(&r, "errorMessage"), "RequestId: ", 11) == 0);
    res_free(&r);
    CHECK(call(&fx, "{\"crash\":false}", &r));
    CHECK(r.ok);
    CHECK(field_int(r.v, "pid") != pid1);
    res_free(&r);
    fx_close(&fx);
}

TEST(runtime_killed_while_idle_is_replaced)
{
    fx_t fx;
    err_t err;
    res_t r;
    fx_def_t d = {"idlekill", PY_BOOTSTRAP, FIXTURES, "handlers.crash", 10000, 1, 0};
    CHECK_INT(fx_open(&fx, &d, &err), ST_OK);
    CHECK(call(&fx, "{}", &r));
    CHECK(r.ok);
    int64_t pid1 = field_int(r.v, "pid");
    res_free(&r);
    pid_t victim = (pid_t)pid1;
    CHECK_INT(kill(victim, SIGKILL), 0);
    CHECK(run_until(fx.loop, reaped, &victim, WAIT_MS)); /* else the call may go to it while it dies */
    CHECK(call(&fx, "{}", &r));
    CHECK(r.ok);
    CHECK(field_int(r.v, "pid") != pid1);
    res_free(&r);
    fx_close(&fx);
}

TEST(runtime_timeout_kills_and_replaces)
{
    fx_t fx;
    err_t err;
    res_t r;
    fx_def_t d = {"sleepy", PY_BOOTSTRAP, FIXTURES, "handlers.sleep", 5000, 1, 0};
    CHECK_INT(fx_open(&fx, &d, &err), ST_OK);
    CHECK(call(&fx, "{\"seconds\":0}", &r));
    CHECK(r.ok);
    int64_t pid1 = field_int(r.v, "pid");
    res_free(&r);
    CHECK(call(&fx, "{\"seconds\":60}", &r));
    CHECK(!r.ok);
    CHECK_STR(r.error_type, "Sandbox.Timedout");
    res_free(&r);
    CHECK(call(&fx, "{\"seconds\":0}", &r));
    CHECK(r.ok);
    CHECK(field_int(r.v, "pid") != pid1);
    CHECK(kill((pid_t)pid1, 0) < 0 && errno == ESRCH); /* killed and reaped */
    res_free(&r);
    fx_close(&fx);
}

TEST(runtime_invalid_json_response)
{
    fx_t fx;
    err_t err;
    res_t r;
    fx_def_t d = {"garbage", FIXTURES "/curl/bootstrap", FIXTURES "/curl", "function.garbage_handler", 10000, 1, 0};
    CHECK_INT(fx_open(&fx, &d, &err), ST_OK);
    CHECK(call(&fx, "{}", &r));
    CHECK(!r.ok);
    CHECK_STR(r.error_type, "Runtime.InvalidResponse");
    CHECK(strstr(field(&r, "errorMessage"), "not JSON"));
    res_free(&r);
    fx_close(&fx);
}

TEST(runtime_response_size_limit)
{
    fx_t fx;
    err_t err;
    res_t r;
    fx_def_t d = {"big", PY_BOOTSTRAP, FIXTURES, "handlers.big", 10000, 1, 0};
    CHECK_INT(fx_open(&fx, &d, &err), ST_OK);
    CHECK(call(&fx, "{\"bytes\":7000000}", &r));
    CHECK(!r.ok);
    CHECK_STR(r.error_type, "Function.ResponseSizeTooLarge");
    CHECK(strstr(field(&r, "errorMessage"), "6291556 bytes"));
    res_free(&r);
    CHECK(call(&fx, "{\"bytes\":6000000}", &r)); /* under the limit, and the runtime went on */
    CHECK(r.ok);
    CHECK_INT(r.len, 6000002);
    res_free(&r);
    fx_close(&fx);
}

/* ---- init ---------------------------------------------------------------------------------------- */

TEST(runtime_init_error_fails_calls)
{
    fx_t fx;
    err_t err;
    res_t r;
    fx_def_t d = {"badimport", PY_BOOTSTRAP, FIXTURES, "badimport.handler", 60000, 1, 0};
    CHECK_INT(fx_open(&fx, &d, &err), ST_OK);
    for (int i = 0; i < 2; i++) { /* each failed init fails a waiting call, long before the timeout */
        CHECK(call(&fx, "{}", &r));
        CHECK(!r.ok);
        CHECK_STR(r.error_type, "Runtime.InitError");
        CHECK_STR(field(&r, "errorType"), "Runtime.ImportModuleError");
        CHECK(strstr(field(&r, "errorMessage"), "sluice_no_such_module"));
        res_free(&r);
    }
    fx_close(&fx);
}

TEST(runtime_bad_command_refused)
{
    fx_t fx;
    err_t err;
    fx_def_t d = {"nocmd", FIXTURES "/no-such-bootstrap", FIXTURES, "handlers.echo", 1000, 1, 0};
    CHECK_INT(fx_open(&fx, &d, &err), ST_VALIDATION_ERROR);
    CHECK(strstr(err.msg, "not an executable file"));
    CHECK(fx.f == NULL);
    fx_close(&fx);
}

/* ---- pool ---------------------------------------------------------------------------------------- */

TEST(runtime_concurrency_runs_calls_at_once)
{
    fx_t fx;
    err_t err;
    res_t r[2];
    char cwd[PATH_MAX], event[PATH_MAX + 64];
    fx_def_t d = {"barrier", PY_BOOTSTRAP, FIXTURES, "handlers.barrier", 15000, 2, 0};
    CHECK(getcwd(cwd, sizeof cwd));
    CHECK_INT(mkdir("barrier", 0755), 0);
    snprintf(event, sizeof event, "{\"dir\":\"%s/barrier\",\"n\":2}", cwd);
    CHECK_INT(fx_open(&fx, &d, &err), ST_OK);
    CHECK_INT(start(&fx, event, NULL, &r[0]), ST_OK);
    CHECK_INT(start(&fx, event, NULL, &r[1]), ST_OK);
    CHECK(run_until(fx.loop, both_done, r, WAIT_MS));
    for (int i = 0; i < 2; i++) {
        CHECK(r[i].ok);
        CHECK_INT(field_int(r[i].v, "saw"), 2); /* each saw the other in flight */
    }
    CHECK(field_int(r[0].v, "pid") != field_int(r[1].v, "pid"));
    res_free(&r[0]);
    res_free(&r[1]);
    fx_close(&fx);
}

TEST(runtime_memory_limit)
{
    fx_t fx;
    err_t err;
    res_t r;
    fx_def_t d = {"alloc", PY_BOOTSTRAP, FIXTURES, "handlers.alloc", 10000, 1, 256};
    CHECK_INT(fx_open(&fx, &d, &err), ST_OK);
    CHECK(call(&fx, "{\"mb\":1}", &r));
    CHECK(r.ok);
    res_free(&r);
    CHECK(call(&fx, "{\"mb\":1024}", &r));
    CHECK(!r.ok);
    CHECK(strcmp(r.error_type, "Unhandled") == 0 || strcmp(r.error_type, "Runtime.ExitError") == 0);
    if (strcmp(r.error_type, "Unhandled") == 0)
        CHECK_STR(field(&r, "errorType"), "MemoryError");
    res_free(&r);
    CHECK(call(&fx, "{\"mb\":2}", &r));
    CHECK(r.ok);
    res_free(&r);
    fx_close(&fx);
}

TEST(runtime_close_with_calls_out)
{
    fx_t fx;
    err_t err;
    res_t r[2];
    fx_def_t d = {"closing", PY_BOOTSTRAP, FIXTURES, "handlers.sleep", 60000, 1, 0};
    CHECK_INT(fx_open(&fx, &d, &err), ST_OK);
    CHECK_INT(start(&fx, "{\"seconds\":60}", NULL, &r[0]), ST_OK);
    CHECK_INT(start(&fx, "{\"seconds\":0}", NULL, &r[1]), ST_OK);
    run_until(fx.loop, never, NULL, 1500); /* the first is handed out (or still waiting) */
    fx_close(&fx);
    CHECK(!r[0].done && !r[1].done); /* no callback after close */
}

/* ---- other runtimes ------------------------------------------------------------------------------ */

TEST(runtime_curl_bootstrap)
{
    fx_t fx;
    err_t err;
    res_t r;
    fx_def_t d = {"curl", FIXTURES "/curl/bootstrap", FIXTURES "/curl", "function.echo_handler", 10000, 1, 0};
    CHECK_INT(fx_open(&fx, &d, &err), ST_OK);
    for (int i = 0; i < 3; i++) {
        char event[64], want[128];
        snprintf(event, sizeof event, "{\"i\":%d}", i);
        snprintf(want, sizeof want, "{\"echo\":{\"i\":%d},\"shell\":\"bash\"}", i);
        CHECK(call(&fx, event, &r));
        CHECK(r.ok);
        CHECK_MEM(r.payload, r.len, want, strlen(want));
        res_free(&r);
    }
    fx_close(&fx);
}

TEST(runtime_api_answers)
{
    fx_t fx;
    err_t err;
    res_t r;
    fx_def_t d = {"probe", FIXTURES "/probe/bootstrap", FIXTURES "/probe", "unused.handler", 10000, 1, 0};
    CHECK_INT(fx_open(&fx, &d, &err), ST_OK);
    /* 1: how requests out of place were answered, and what /next sent */
    CHECK(call(&fx, "{\"probe\":1}", &r));
    CHECK(r.ok);
    CHECK(answer_is(jv_get(r.v, "unknown_id_response"), 400, "InvalidRequestID"));
    CHECK(answer_is(jv_get(r.v, "unknown_id_error"), 400, "InvalidRequestID"));
    CHECK(answer_is(jv_get(r.v, "unknown_path"), 404, NULL));
    CHECK(answer_is(jv_get(r.v, "other_version"), 404, NULL));
    CHECK(answer_is(jv_get(r.v, "next_by_post"), 405, NULL));
    CHECK_STR(jv_str(jv_at(jv_get(r.v, "next_by_post"), 2)), "GET");
    CHECK(answer_is(jv_get(r.v, "response_by_get"), 405, NULL));
    CHECK_STR(jv_str(jv_at(jv_get(r.v, "response_by_get"), 2)), "POST");
    const jv_t *h = jv_get(r.v, "headers");
    CHECK_STR(jv_str(jv_get(h, "Content-Type")), "application/json");
    CHECK_STR(jv_str(jv_get(h, "Lambda-Runtime-Invoked-Function-Arn")),
              "arn:aws:lambda:eu-west-1:123456789012:function:probe");
    CHECK(atoll(jv_str(jv_get(h, "Lambda-Runtime-Deadline-Ms"))) > 1600000000000LL);
    char *ev = jv_dump(jv_get(r.v, "event"));
    CHECK_STR(ev, "{\"probe\":1}");
    free(ev);
    res_free(&r);
    /* 2: an error body that is not JSON becomes the errorMessage; the header gives the type */
    CHECK(call(&fx, "{}", &r));
    CHECK(!r.ok);
    CHECK_STR(r.error_type, "Custom.Type");
    CHECK_STR(field(&r, "errorMessage"), "plain text failure");
    CHECK_STR(field(&r, "errorType"), "Custom.Type");
    res_free(&r);
    /* 3: the answers to its first response, a second one, and a late init error */
    CHECK(call(&fx, "{}", &r));
    CHECK(r.ok);
    const jv_t *first = jv_get(r.v, "first_answer");
    CHECK(answer_is(first, 202, NULL));
    CHECK_STR(jv_str(jv_get(jv_at(first, 1), "status")), "OK");
    CHECK(answer_is(jv_get(r.v, "second_answer"), 400, "InvalidRequestID"));
    CHECK(answer_is(jv_get(r.v, "init_error_after_init"), 403, "InvalidStateTransition"));
    res_free(&r);
    fx_close(&fx);
}
