/* router — request dispatch and the reply path shared by all front-ends. */
#include "proto/router.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>

#include "gateway/gateway.h"
#include "proto/console_http.h"
#include "proto/form.h"
#include "proto/lambda_api.h"
#include "proto/sigv4.h"
#include "proto/sns_query.h"
#include "proto/tables_http.h"
#include "util/alloc.h"
#include "util/clock.h"
#include "util/logging.h"
#include "util/rand.h"
#include "util/trace.h"

#if !defined(__SANITIZE_ADDRESS__) && defined(__has_include)
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h> /* a header-only client request: no library */
#define CTX_UNDER_VALGRIND() RUNNING_ON_VALGRIND
#endif
#endif
#ifndef CTX_UNDER_VALGRIND
#define CTX_UNDER_VALGRIND() 0
#endif

void router_header(const http_head_t *h, const char *name, char *out, size_t n)
{
    const http_header_t *hd = http_head_find(h, name);
    size_t k = hd ? hd->value_len : 0;
    if (n == 0)
        return;
    if (k >= n)
        k = n - 1; /* cut, as before */
    if (k)
        memcpy(out, hd->value, k);
    out[k] = '\0';
}

/* A context is 2 KB of mostly strings, one per request: finished ones are
 * kept (up to CTX_SPARE_MAX) rather than freed and calloc'ed again, and only
 * its fixed fields are cleared (every string is written below). */
#define CTX_SPARE_MAX 256

static void ctx_free(req_ctx_t *ctx);
static void reply_simple(req_ctx_t *ctx, int status, const char *body);

static req_ctx_t *ctx_new(router_t *rt, http_ex_t *ex)
{
    req_ctx_t *ctx = rt->spare;
    if (ctx) {
        rt->spare = ctx->next_spare;
        rt->nspare--;
    } else {
        ctx = xmalloc(sizeof *ctx);
    }
    ctx->rt = rt;
    ctx->capture = NULL;
    ctx->next_spare = NULL;
    ctx->path_cut = 0;
    ctx->action[0] = 0;
    ctx->call = NULL;
    ctx->cancel = NULL;
    ctx->cancel_arg = NULL;
    ctx->query = 0;
    ctx->shed = 0;
    ctx->route = NULL;
    ctx->t0_ns = clock_mono_ns();
    ctx->ex = ex;
    rand_uuid(ctx->request_id);
    router_header(ex->head, "Host", ctx->host, sizeof ctx->host);
    router_header(ex->head, "X-Amzn-Trace-Id", ctx->trace, sizeof ctx->trace);
    sigv4_scope(ex->head, ctx->access_key, sizeof ctx->access_key, ctx->service, sizeof ctx->service);
    const char *q = memchr(ex->head->target, '?', ex->head->target_len);
    size_t plen = q ? (size_t)(q - ex->head->target) : ex->head->target_len;
    if (plen >= sizeof ctx->path) {
        plen = sizeof ctx->path - 1;
        ctx->path_cut = 1;
    }
    memcpy(ctx->path, ex->head->target, plen);
    ctx->path[plen] = 0;
    return ctx;
}

static void reply_capture(req_ctx_t *ctx, int status, const char *ctype, const char *extra, const char *body,
                          size_t len)
{
    http_canned_t *k = ctx->capture;
    k->status = status;
    snprintf(k->ctype, sizeof k->ctype, "%s", ctype ? ctype : "");
    snprintf(k->headers, sizeof k->headers, "x-amzn-RequestId: %s\r\nRetry-After: 1\r\n%s", ctx->request_id,
             extra ? extra : "");
    k->body_len = len < sizeof k->body ? len : sizeof k->body - 1;
    memcpy(k->body, body, k->body_len);
    k->body[k->body_len] = 0;
}

void router_fail_reply(void *arg, unsigned shape, http_canned_t *out)
{
    static const char msg[] = "Sluice's storage failed; this request's outcome is unknown. Retry once Sluice has "
                              "restarted.";
    req_ctx_t ctx;
    memset(&ctx, 0, sizeof ctx);
    ctx.rt = arg;
    ctx.capture = out;
    rand_uuid(ctx.request_id);
    switch ((router_shape_t)shape) {
    case SHAPE_SQS_JSON: sqs_json_fail(&ctx, ST_UNAVAILABLE, msg); break;
    case SHAPE_SQS_QUERY: sqs_query_fail(&ctx, ST_UNAVAILABLE, msg); break;
    case SHAPE_SNS_QUERY: sns_query_fail(&ctx, ST_UNAVAILABLE, msg); break;
    case SHAPE_LAMBDA: lambda_api_fail(&ctx, ST_UNAVAILABLE, msg); break;
    case SHAPE_TABLES: tables_http_fail(&ctx, ST_UNAVAILABLE, msg); break;
    default: reply_simple(&ctx, 503, "{\"message\":\"Sluice's storage failed; this request's outcome is unknown\"}");
    }
}

/* What a refusal for load adds to the front-end's headers. */
static const char RETRY_AFTER[] = "Retry-After: 1\r\n";

void router_route_stats_init(router_route_stats_t *s)
{
    memset(s->codes, 0, sizeof s->codes);
    metrics_hist_init(&s->duration_us, METRICS_DURATION_US, METRICS_DURATION_US_N, 1e6);
}

static void count_route(req_ctx_t *ctx, int status)
{
    router_route_stats_t *s = ctx->route;
    if (status >= 100 && status < ROUTER_STATUS_MAX)
        s->codes[status]++;
    metrics_hist_observe(&s->duration_us, (clock_mono_ns() - ctx->t0_ns) / 1000);
}

void router_reply(req_ctx_t *ctx, int status, const char *ctype, const char *extra, const char *body, size_t len)
{
    if (ctx->route && !ctx->capture)
        count_route(ctx, status);
    if (ctx->capture) {
        reply_capture(ctx, status, ctype, extra, body, len);
        return;
    }
    char small[1024];
    buf_t big = BUF_INIT, retry = BUF_INIT; /* a proxied answer's headers may be many */
    const char *hdrs = small;
    static const char name[] = "x-amzn-RequestId: ";
    if (ctx->shed) {
        buf_printf(&retry, "%s%s", extra ? extra : "", RETRY_AFTER);
        extra = retry.data;
    }
    size_t idn = strlen(ctx->request_id), en = extra ? strlen(extra) : 0;
    size_t hn = sizeof name - 1 + idn + 2;
    if (hn + en < sizeof small) { /* memcpy, not printf: every reply passes here */
        memcpy(small, name, sizeof name - 1);
        memcpy(small + sizeof name - 1, ctx->request_id, idn);
        memcpy(small + hn - 2, "\r\n", 2);
        if (en)
            memcpy(small + hn, extra, en);
        small[hn + en] = '\0';
    } else {
        buf_printf(&big, "%s%s\r\n%s", name, ctx->request_id, extra);
        hdrs = big.data;
    }
    /* Everything this reply reports was appended before now: it may leave
     * once the store has made the log durable up to here. A refusal
     * reports nothing. */
    uint64_t lsn = ctx->rt->store && !ctx->shed ? store_last_lsn(ctx->rt->store) : 0;
    http_ex_reply(ctx->ex, status, ctype, hdrs, body, len, lsn);
    buf_free(&big);
    buf_free(&retry);
    ctx_free(ctx);
}

static void ctx_free(req_ctx_t *ctx)
{
    router_t *rt = ctx->rt;
#if defined(__SANITIZE_ADDRESS__)
    int keep = 0; /* under ASan every context is freed: a use after the reply is caught */
#else
    int keep = rt->nspare < CTX_SPARE_MAX && !CTX_UNDER_VALGRIND(); /* and under memcheck */
#endif
    if (!keep) {
        free(ctx);
        return;
    }
    ctx->next_spare = rt->spare;
    rt->spare = ctx;
    rt->nspare++;
}

void router_release(router_t *rt)
{
    while (rt->spare) {
        req_ctx_t *next = rt->spare->next_spare;
        free(rt->spare);
        rt->spare = next;
    }
    rt->nspare = 0;
}

static void ctx_abort(http_ex_t *ex, void *arg)
{
    (void)ex;
    req_ctx_t *ctx = arg;
    if (ctx->call)
        sqs_api_cancel(ctx->call);
    if (ctx->cancel)
        ctx->cancel(ctx->cancel_arg);
    ctx_free(ctx);
}

void router_watch(req_ctx_t *ctx)
{
    ctx->ex->on_abort = ctx_abort;
    ctx->ex->abort_arg = ctx;
}

void router_park(req_ctx_t *ctx)
{
    router_watch(ctx);
    http_ex_waiting(ctx->ex);
}

int router_shed(req_ctx_t *ctx)
{
    if (ctx->ex->overloaded && !ctx->shed) {
        ctx->shed = 1;
        ctx->rt->shed++;
    }
    return ctx->shed;
}

static int target_action(const http_head_t *h, char *action, size_t n)
{
    const http_header_t *t = http_head_find(h, "X-Amz-Target");
    static const char prefix[] = "AmazonSQS.";
    if (!t)
        return 0;
    if (t->value_len >= sizeof prefix - 1 && strncmp(t->value, prefix, sizeof prefix - 1) == 0)
        snprintf(action, n, "%.*s", (int)(t->value_len - (sizeof prefix - 1)), t->value + sizeof prefix - 1);
    else
        snprintf(action, n, "%.*s", (int)t->value_len, t->value);
    return 1;
}

static int is_form(const http_head_t *h)
{
    const http_header_t *ct = http_head_find(h, "Content-Type");
    return ct && ct->value_len >= 33 && strncasecmp(ct->value, "application/x-www-form-urlencoded", 33) == 0;
}

int router_query(const http_ex_t *ex, kvv_t *out, char *why, size_t n)
{
    const char *q = memchr(ex->head->target, '?', ex->head->target_len);
    if (!q)
        return 0;
    return form_parse(q + 1, ex->head->target_len - (size_t)(q + 1 - ex->head->target), out, why, n);
}

/* Query parameters come from the URL and, for form posts, the body. */
static int query_form(http_ex_t *ex, kvv_t *form, char *why, size_t n)
{
    if (router_query(ex, form, why, n) != 0)
        return -1;
    if (is_form(ex->head) && form_parse(ex->body, ex->body_len, form, why, n) != 0)
        return -1;
    return 0;
}

static void reply_simple(req_ctx_t *ctx, int status, const char *body)
{
    router_reply(ctx, status, "application/json", NULL, body, strlen(body));
}

/* The SigV4 scope decides; without one, the API version; without that, an
 * action only SNS has. */
static int is_sns(const req_ctx_t *ctx, const kvv_t *form)
{
    if (ctx->service[0])
        return strcmp(ctx->service, "sns") == 0;
    const char *v = kvv_get(form, "Version");
    if (v)
        return strcmp(v, SNS_VERSION) == 0;
    const char *a = kvv_get(form, "Action");
    return sns_query_known(a) && !sqs_api_known(a);
}

typedef void (*fail_fn)(req_ctx_t *ctx, status_t st, const char *message);

#define OVERLOAD_MSG "Too many requests in progress; retry after a pause."

/* Over the admission bound: answers with fail's ST_OVERLOADED and returns 1. */
static int shed(req_ctx_t *ctx, fail_fn fail)
{
    if (!router_shed(ctx))
        return 0;
    fail(ctx, ST_OVERLOADED, OVERLOAD_MSG);
    return 1;
}

/* auth.mode sigv4: 1 when the request's signature holds for service (NULL:
 * any) and covers the header must_sign (NULL: none) the request is routed
 * by; otherwise answers with fail and returns 0. An aws-chunked body is
 * decoded in place, so front-ends read the payload. */
static int authorized(req_ctx_t *ctx, const char *service, const char *must_sign, fail_fn fail)
{
    if (!ctx->rt->auth)
        return 1;
    http_ex_t *ex = ctx->ex;
    sigv4_request_t rq = {.head = ex->head, .body = ex->body, .body_len = ex->body_len, .service = service,
                          .must_sign = must_sign, .now_ms = clock_wall_ms()};
    err_t err;
    status_t st = sigv4_verify(ctx->rt->auth, &rq, &err);
    ex->body_len = rq.body_len;
    if (st == ST_OK) {
        snprintf(ctx->access_key, sizeof ctx->access_key, "%s", rq.key_id);
        return 1;
    }
    char key[4 * sizeof ctx->access_key], why[2 * sizeof err.msg]; /* the reason quotes the client's text */
    log_debug("auth_refused", "status=%s key=\"%s\" peer=%s reason=\"%s\"", status_name(st),
              log_quote(ctx->access_key, key, sizeof key), ex->peer ? ex->peer : "", log_quote(err.msg, why, sizeof why));
    fail(ctx, st, err.msg);
    return 0;
}

/* Query requests. A signature (either form) names its service and may come
 * with an aws-chunked body: it is checked before the form is read, so the
 * front-end reads only a verified, decoded body. Otherwise the form says
 * which service it is for, and an unsigned request may still be one SNS
 * takes without a signature. */
static void route_query(req_ctx_t *ctx)
{
    router_t *rt = ctx->rt;
    kvv_t form = {0};
    char why[256];
    int parsed, sns, ok = 1;
    ctx->query = 1;
    ctx->ex->shape = SHAPE_SQS_QUERY;
    if (ctx->service[0] || (rt->auth && sigv4_present(ctx->ex->head))) {
        sns = rt->topics && strcmp(ctx->service, "sns") == 0;
        ctx->ex->shape = sns ? SHAPE_SNS_QUERY : SHAPE_SQS_QUERY;
        if (shed(ctx, sns ? sns_query_fail : sqs_query_fail) ||
            !authorized(ctx, sns ? "sns" : "sqs", NULL, sns ? sns_query_fail : sqs_query_fail))
            return;
        parsed = query_form(ctx->ex, &form, why, sizeof why) == 0;
    } else {
        /* unsigned: only the form tells SNS from SQS */
        parsed = query_form(ctx->ex, &form, why, sizeof why) == 0;
        sns = parsed && rt->topics && is_sns(ctx, &form);
        ctx->ex->shape = sns ? SHAPE_SNS_QUERY : SHAPE_SQS_QUERY;
        int exempt = sns && rt->auth && sns_query_unsigned_ok(rt->topics, &form);
        ok = !shed(ctx, sns ? sns_query_fail : sqs_query_fail) &&
             (exempt || authorized(ctx, sns ? "sns" : "sqs", NULL, sns ? sns_query_fail : sqs_query_fail));
    }
    if (ok && !parsed)
        sqs_query_fail(ctx, ST_MALFORMED_REQUEST, why);
    else if (ok)
        (sns ? sns_query_handle : sqs_query_handle)(ctx, &form);
    kvv_free(&form);
}

#define TRACE_PATH "/_sluice/trace/"

/* GET /_sluice/trace/{id}: the journal's hops of one trace (util/trace.h). */
static void serve_trace(req_ctx_t *ctx, const char *seg)
{
    char id[TRACE_ID_MAX * 3 + 1];
    if (!*seg || strchr(seg, '/') || form_decode_segment(seg, strlen(seg), id, sizeof id) != 0 || !*id) {
        reply_simple(ctx, 400, "{\"message\":\"GET /_sluice/trace/{id}: one path segment, the trace id\"}");
        return;
    }
    buf_t out = BUF_INIT;
    trace_write_json(id, &out);
    router_reply(ctx, 200, "application/json", NULL, out.data, out.len);
    buf_free(&out);
}

/* auth.ops_token_env: 1 when the request carries the operations token as
 * a bearer token (compared in constant time), or none is set; else answers
 * 401 with a Bearer challenge (RFC 6750) and returns 0. */
static int ops_allowed(req_ctx_t *ctx)
{
    const char *tok = ctx->rt->ops_token;
    if (!tok)
        return 1;
    const http_header_t *h = http_head_find(ctx->ex->head, "Authorization");
    size_t n = strlen(tok);
    if (h && h->value_len == 7 + n && strncasecmp(h->value, "Bearer ", 7) == 0 &&
        CRYPTO_memcmp(h->value + 7, tok, n) == 0)
        return 1;
    static const char body[] =
        "{\"message\":\"this path needs the operations token (auth.ops_token_env) as Authorization: Bearer\"}";
    router_reply(ctx, 401, "application/json", "WWW-Authenticate: Bearer realm=\"sluice\"\r\n", body,
                 sizeof body - 1);
    return 0;
}

/* Sluice's own GET paths that are answered whatever the load and before
 * anything else (a gateway catch-all route included): /ready, /metrics
 * and /_sluice/trace/{id} (the last two behind the operations token when
 * one is set). Returns 1 when it answered. */
static int serve_own(req_ctx_t *ctx)
{
    router_t *rt = ctx->rt;
    const http_head_t *h = ctx->ex->head;
    if (h->method_len != 3 || memcmp(h->method, "GET", 3) != 0)
        return 0;
    if (strcmp(ctx->path, "/ready") == 0) {
        /* Requests are served from loop_run on, after recovery and the
         * config's declarations: answering at all means ready. */
        if (rt->draining)
            reply_simple(ctx, 503, "{\"status\":\"draining\"}");
        else
            reply_simple(ctx, 200, "{\"status\":\"ready\"}");
        return 1;
    }
    if (strncmp(ctx->path, TRACE_PATH, sizeof TRACE_PATH - 1) == 0) {
        if (ops_allowed(ctx))
            serve_trace(ctx, ctx->path + sizeof TRACE_PATH - 1);
        return 1;
    }
    if (strcmp(ctx->path, "/metrics") != 0 || !rt->metrics)
        return 0;
    if (!ops_allowed(ctx))
        return 1;
    buf_t out = BUF_INIT;
    rt->metrics(rt->metrics_arg, &out);
    router_reply(ctx, 200, "text/plain; version=0.0.4; charset=utf-8", NULL, out.data ? out.data : "", out.len);
    buf_free(&out);
    return 1;
}

void router_handle(http_ex_t *ex, void *arg)
{
    router_t *rt = arg;
    req_ctx_t *ctx = ctx_new(rt, ex);
    char action[128];
    if (!ctx->path_cut && serve_own(ctx))
        return;
    if (rt->draining) {
        reply_simple(ctx, 503, "{\"message\":\"Sluice is shutting down\"}");
        return;
    }
    if (ctx->path_cut) { /* matching a cut path would answer for another one */
        reply_simple(ctx, 414, "{\"message\":\"The request path is over 1023 bytes\"}");
        return;
    }
    if (target_action(ex->head, action, sizeof action)) {
        ex->shape = SHAPE_SQS_JSON;
        if (!shed(ctx, sqs_json_fail) && authorized(ctx, "sqs", "x-amz-target", sqs_json_fail))
            sqs_json_handle(ctx, action);
        return;
    }
    int get = ex->head->method_len == 3 && !memcmp(ex->head->method, "GET", 3);
    if (strcmp(ctx->path, "/health") == 0 && get) {
        reply_simple(ctx, 200, "{\"status\":\"ok\"}");
        return;
    }
    if (strcmp(ctx->path, SNS_CERT_PATH) == 0 && get) {
        if (rt->sns_cert)
            router_reply(ctx, 200, "application/x-pem-file", NULL, rt->sns_cert, rt->sns_cert_len);
        else
            reply_simple(ctx, 404, "{\"message\":\"SNS message signing is off (server.sns_signing)\"}");
        return;
    }
    if (console_http_match(ctx->path)) { /* static files: never shed, never signed */
        console_http_handle(ctx);
        return;
    }
    /* A request signed for SQS, SNS or Lambda is never the gateway's, so a
     * catch-all proxy route (/{proxy+}) leaves queue URLs to the SQS query
     * protocol; nor is a request to Sluice's own paths (the Lambda API, the
     * tables view, /health; the console is answered above) — only the
     * gateway's own /_sluice/requests/ and /_sluice/gateway/. */
    int aws = !strcmp(ctx->service, "sqs") || !strcmp(ctx->service, "sns") || !strcmp(ctx->service, "lambda");
    int own = gateway_reserved_path(ctx->path) && strncmp(ctx->path, "/_sluice/requests/", 18) != 0 &&
              strncmp(ctx->path, "/_sluice/gateway/", 17) != 0;
    if (rt->gateway && !aws && !own && gateway_handle(rt->gateway, ctx))
        return;
    if (tables_http_match(ctx->path)) {
        ex->shape = SHAPE_TABLES;
        if (!shed(ctx, tables_http_fail) && authorized(ctx, NULL, NULL, tables_http_fail))
            tables_http_handle(ctx, rt->tables);
        return;
    }
    if (lambda_api_match(ctx->path)) {
        ex->shape = SHAPE_LAMBDA;
        if (!shed(ctx, lambda_api_fail) && authorized(ctx, "lambda", NULL, lambda_api_fail))
            lambda_api_handle(ctx);
        return;
    }
    route_query(ctx);
}
