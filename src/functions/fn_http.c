/*
 * fn_http — the `http` kind of function: each call is one POST of the event
 * (Content-Type: application/json) to the function's URL, with the runtime
 * API's headers (Lambda-Runtime-Aws-Request-Id, -Deadline-Ms,
 * -Invoked-Function-Arn) so one handler can serve both kinds. A 2xx answer
 * is the result (its body must be JSON; an empty body is null). Any other
 * status, or no answer, is a handler error ("Unhandled") whose message
 * says what happened. Each function has its own client (keep-alive pool of
 * up to `concurrency` connections).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "functions/functions_int.h"
#include "net/http_client.h"
#include "util/alloc.h"
#include "util/jv.h"

typedef struct fn_http {
    functions_t *fs;
    http_client_t *client;
    char *url;
    char arn[256];
    hmap_t by_call; /* call id (8 bytes) → struct pending */
} fn_http_t;

typedef struct pending {
    fn_http_t *h;
    uint64_t call;
    int req;
} pending_t;

static void pending_drop(pending_t *p)
{
    hmap_del(&p->h->by_call, &p->call, sizeof p->call);
    free(p);
}

static int json_ok(const char *p, size_t n)
{
    jv_doc_t *d = jv_doc_new_small();
    char why[64];
    int ok = jv_parse(d, p, n, why, sizeof why) != NULL;
    jv_doc_free(d);
    return ok;
}

static void report_error(fn_http_t *h, uint64_t call, const char *type, const char *msg)
{
    buf_t b = BUF_INIT;
    fn__error_doc(&b, type, msg);
    fn_result_t r = {.ok = 0, .payload = b.data, .len = b.len, .error_type = type};
    functions__done(h->fs, call, &r);
    buf_free(&b);
}

static void on_response(const http_client_result_t *res, void *arg)
{
    pending_t *p = arg;
    fn_http_t *h = p->h;
    uint64_t call = p->call;
    char msg[512];
    if (res->err == HTTP_CLIENT_CANCELLED) {
        pending_drop(p);
        return;
    }
    pending_drop(p);
    if (res->err != HTTP_CLIENT_OK) {
        snprintf(msg, sizeof msg, "handler %s unreachable: %s", h->url, res->detail);
        report_error(h, call, "Unhandled", msg);
    } else if (res->status < 200 || res->status > 299) {
        snprintf(msg, sizeof msg, "handler answered HTTP %d: %.300s", res->status, res->body);
        report_error(h, call, "Unhandled", msg);
    } else if (res->body_len && !json_ok(res->body, res->body_len)) {
        report_error(h, call, "Runtime.InvalidResponse", "The handler's result is not valid JSON.");
    } else {
        fn_result_t r = {.ok = 1,
                         .payload = res->body_len ? res->body : "null",
                         .len = res->body_len ? res->body_len : 4};
        functions__done(h->fs, call, &r);
    }
}

static void http_start(void *be, const fn_call_t *call)
{
    fn_http_t *h = be;
    char deadline[24];
    snprintf(deadline, sizeof deadline, "%" PRIu64, call->deadline_wall_ms);
    http_client_header_t hdrs[] = {{"Content-Type", "application/json"},
                                   {"Lambda-Runtime-Aws-Request-Id", call->request_id},
                                   {"Lambda-Runtime-Deadline-Ms", deadline},
                                   {"Lambda-Runtime-Invoked-Function-Arn", h->arn}};
    http_request_spec_t spec = {.method = "POST", .url = h->url, .headers = hdrs, .nheaders = 4,
                                .body = call->event, .body_len = call->event_len};
    pending_t *p = xcalloc(1, sizeof *p);
    p->h = h;
    p->call = call->id;
    hmap_put(&h->by_call, &p->call, sizeof p->call, p);
    p->req = http_client_request(h->client, &spec, on_response, p);
    if (p->req < 0) {
        pending_drop(p);
        report_error(h, call->id, "Unhandled", "the handler URL is not valid");
    }
}

static void http_cancel(void *be, uint64_t id)
{
    fn_http_t *h = be;
    pending_t *p = hmap_get(&h->by_call, &id, sizeof id);
    if (p && http_client_cancel(h->client, p->req) == 0)
        pending_drop(p);
}

static void http_close(void *be)
{
    fn_http_t *h = be;
    http_client_free(h->client); /* cancels what is out: their pendings go */
    hmap_free(&h->by_call);
    free(h->url);
    free(h);
}

static const fn_backend_ops_t HTTP_OPS = {http_start, http_cancel, http_close};

int fn_http_open(functions_t *fs, function_t *f, const fn_def_t *def, const fn_backend_ops_t **ops, void **be,
                 char *why, size_t why_len)
{
    http_url_t u;
    if (http_url_parse(def->handler, strlen(def->handler), &u) != 0) {
        snprintf(why, why_len, "handler %s is not an http(s) URL", def->handler);
        return -1;
    }
    http_client_config_t cfg;
    http_client_config_defaults(&cfg);
    cfg.max_conns_per_host = def->concurrency;
    cfg.max_response_body = FN_SYNC_EVENT_MAX;
    cfg.timeout_ms = def->timeout_ms + 1000; /* functions.c times the call out first */
    cfg.user_agent = "Sluice-Functions";
    fn_http_t *h = xcalloc(1, sizeof *h);
    h->fs = fs;
    h->client = http_client_new(functions_loop(fs), &cfg);
    if (!h->client) {
        free(h);
        snprintf(why, why_len, "cannot create an HTTP client");
        return -1;
    }
    h->url = xstrdup(def->handler);
    function_arn(f, h->arn, sizeof h->arn);
    hmap_init(&h->by_call);
    *ops = &HTTP_OPS;
    *be = h;
    return 0;
}
