/*
 * invoke — the gateway's `invoke` integration: a route answered by calling
 * a function synchronously and waiting for it, as API Gateway's Lambda
 * integrations do (the synchronous counterpart of publish and enqueue).
 *
 * The event. `payload: body` hands the function the request body (JSON; an
 * empty body is {}, what Lambda gives a call without payload), validated
 * against the route's schema when it has one. `payload: proxy` hands it
 * API Gateway's REST proxy event (payload format 1.0): resource, path,
 * httpMethod, headers and multiValueHeaders, queryStringParameters and
 * multiValueQueryStringParameters, pathParameters, stageVariables (null),
 * requestContext (requestId, resourcePath, httpMethod, path, stage,
 * requestTime, requestTimeEpoch, protocol, domainName, accountId, identity
 * with sourceIp and userAgent), body (null when empty) and isBase64Encoded
 * (a body that is not UTF-8 goes as base64). A header sent several times
 * is one name in headers (its last value) and all values in
 * multiValueHeaders; names are grouped without regard to case.
 *
 * The answer.
 *   body payload   200 with the function's result as sent
 *   proxy payload  the result {statusCode, headers, multiValueHeaders,
 *                  body, isBase64Encoded} mapped onto the reply; a result
 *                  that is not that shape (no integral statusCode in
 *                  200..599, a header that is not a string, number or
 *                  boolean or would break the reply's framing, a body that
 *                  is not a string, bad base64) is 502 {"message":"Internal
 *                  server error"}, as API Gateway answers. Framing headers
 *                  (Content-Length, Transfer-Encoding, Connection, …) from
 *                  the function are dropped: the server frames the reply.
 *   function error (handler error, runtime died, invalid response)
 *                  502 with the function's error document
 *   timeout        504 {"message":"Endpoint request timed out"}
 *   throttled      429 {"message":"Too Many Requests"}: the function has
 *                  no free concurrency (its slots are all running or
 *                  spoken for), as Lambda throttles a synchronous call
 *                  beyond its concurrency; the gateway does not queue.
 *
 * The function's request id is the reply's x-amzn-RequestId (and the proxy
 * event's requestContext.requestId). A client that hangs up makes the call
 * forgotten (function_forget): it runs to its end or timeout, its result
 * dropped.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "functions/functions.h"
#include "gateway/gateway_int.h"
#include "proto/form.h"
#include "util/alloc.h"
#include "util/clock.h"
#include "util/logging.h"
#include "util/text.h"

#define PROXY_HEADERS_MAX 10240 /* bytes of response headers a function may set (API Gateway: 10 KB) */

typedef struct gw_call {
    req_ctx_t *ctx;
    function_t *f;
    const route_t *r; /* lives as long as the gateway, which outlives every exchange */
    uint64_t call;
} gw_call_t;

status_t gateway__invoke_check(gateway_t *gw, const route_t *r, err_t *err)
{
    if (!r->def.target)
        return err_set(err, ST_VALIDATION_ERROR, "route %s: an invoke route needs function", r->label);
    if (!gw->fs || !functions_find(gw->fs, r->def.target))
        return err_set(err, ST_VALIDATION_ERROR, "route %s: no function named %s", r->label, r->def.target);
    return ST_OK;
}

/* ---- the proxy event ----------------------------------------------------------------------- */

static int is_utf8(const char *p, size_t n)
{
    uint32_t cp;
    for (size_t i = 0, k; i < n; i += k)
        if (!(k = text_utf8_next((const unsigned char *)p + i, n - i, &cp)))
            return 0;
    return 1;
}

/* headers and multiValueHeaders: one name per header, without regard to case. */
static void proxy_headers(jv_doc_t *d, jv_t *ev, const http_head_t *h)
{
    jv_t *one = jv_object(d), *multi = jv_object(d);
    for (size_t i = 0; i < h->nheaders; i++) {
        const http_header_t *a = &h->headers[i];
        int seen = 0;
        for (size_t j = 0; j < i && !seen; j++)
            seen = h->headers[j].name_len == a->name_len && !strncasecmp(h->headers[j].name, a->name, a->name_len);
        if (seen)
            continue;
        jv_t *all = jv_array(d), *last = NULL;
        for (size_t j = i; j < h->nheaders; j++) {
            const http_header_t *b = &h->headers[j];
            if (b->name_len == a->name_len && !strncasecmp(b->name, a->name, a->name_len))
                jv_push(d, all, last = jv_stringn(d, b->value, b->value_len));
        }
        jv_set_copy(d, one, a->name, a->name_len, last);
        jv_set_copy(d, multi, a->name, a->name_len, all);
    }
    jv_set(d, ev, "headers", jv_count(one) ? one : jv_null(d));
    jv_set(d, ev, "multiValueHeaders", jv_count(multi) ? multi : jv_null(d));
}

/* queryStringParameters (last value of each name) and the multi-valued form. */
static void proxy_query(jv_doc_t *d, jv_t *ev, const kvv_t *q)
{
    jv_t *one = jv_object(d), *multi = jv_object(d);
    for (size_t i = 0; i < q->n; i++) {
        int seen = 0;
        for (size_t j = 0; j < i && !seen; j++)
            seen = strcmp(q->v[j].key, q->v[i].key) == 0;
        if (seen)
            continue;
        jv_t *all = jv_array(d), *last = NULL;
        for (size_t j = i; j < q->n; j++)
            if (strcmp(q->v[j].key, q->v[i].key) == 0)
                jv_push(d, all, last = jv_string(d, q->v[j].val));
        jv_set_copy(d, one, q->v[i].key, strlen(q->v[i].key), last);
        jv_set_copy(d, multi, q->v[i].key, strlen(q->v[i].key), all);
    }
    jv_set(d, ev, "queryStringParameters", q->n ? one : jv_null(d));
    jv_set(d, ev, "multiValueQueryStringParameters", q->n ? multi : jv_null(d));
}

static jv_t *proxy_context(gateway_t *gw, const route_t *r, req_ctx_t *ctx, jv_doc_t *d, const char *method)
{
    uint64_t now = clock_wall_ms();
    time_t secs = (time_t)(now / 1000);
    struct tm tm;
    char when[40], ip[64], ua[512];
    gmtime_r(&secs, &tm);
    strftime(when, sizeof when, "%d/%b/%Y:%H:%M:%S +0000", &tm);
    const char *peer = ctx->ex->peer ? ctx->ex->peer : "", *colon = strrchr(peer, ':');
    snprintf(ip, sizeof ip, "%.*s", (int)(colon ? (size_t)(colon - peer) : strlen(peer)), peer);
    router_header(ctx->ex->head, "User-Agent", ua, sizeof ua);
    jv_t *id = jv_object(d), *c = jv_object(d);
    jv_set(d, id, "sourceIp", jv_string(d, ip));
    jv_set(d, id, "userAgent", ua[0] ? jv_string(d, ua) : jv_null(d));
    jv_set(d, c, "accountId", jv_string(d, gw->account));
    jv_set(d, c, "apiId", jv_string(d, "sluice"));
    jv_set(d, c, "domainName", jv_string(d, ctx->host));
    jv_set(d, c, "httpMethod", jv_string(d, method));
    jv_set(d, c, "identity", id);
    jv_set(d, c, "path", jv_string(d, ctx->path));
    jv_set(d, c, "protocol", jv_string(d, ctx->ex->head->minor_version ? "HTTP/1.1" : "HTTP/1.0"));
    jv_set(d, c, "requestId", jv_string(d, ctx->request_id));
    jv_set(d, c, "requestTime", jv_string(d, when));
    jv_set(d, c, "requestTimeEpoch", jv_int(d, (int64_t)now));
    jv_set(d, c, "resourcePath", jv_string(d, r->def.path));
    jv_set(d, c, "stage", jv_string(d, "sluice"));
    return c;
}

/* A path parameter's value, percent-decoded like API Gateway's: the routes
 * keep a greedy one as sent (a proxy forwards it), so it is decoded here. */
static jv_t *path_param(jv_doc_t *d, const route_t *r, const kvv_t *params, size_t i)
{
    char greedy[ROUTES_PATH_MAX], dec[ROUTES_PATH_MAX];
    const char *val = params->v[i].val;
    snprintf(greedy, sizeof greedy, "{%s+}", params->v[i].key);
    if (strstr(r->def.path, greedy) && form_decode_segment(val, strlen(val), dec, sizeof dec) == 0)
        val = dec;
    return jv_string(d, val);
}

static void proxy_event(gateway_t *gw, const route_t *r, req_ctx_t *ctx, const kvv_t *params, const kvv_t *query,
                        buf_t *out)
{
    jv_doc_t *d = jv_doc_new();
    const http_head_t *h = ctx->ex->head;
    char method[16];
    snprintf(method, sizeof method, "%.*s", (int)(h->method_len < 15 ? h->method_len : 15), h->method);
    jv_t *ev = jv_object(d), *pp = jv_object(d);
    jv_set(d, ev, "resource", jv_string(d, r->def.path));
    jv_set(d, ev, "path", jv_string(d, ctx->path));
    jv_set(d, ev, "httpMethod", jv_string(d, method));
    proxy_headers(d, ev, h);
    proxy_query(d, ev, query);
    for (size_t i = 0; i < params->n; i++)
        jv_set_copy(d, pp, params->v[i].key, strlen(params->v[i].key), path_param(d, r, params, i));
    jv_set(d, ev, "pathParameters", params->n ? pp : jv_null(d));
    jv_set(d, ev, "stageVariables", jv_null(d));
    jv_set(d, ev, "requestContext", proxy_context(gw, r, ctx, d, method));
    const char *body = ctx->ex->body;
    size_t n = ctx->ex->body_len;
    int text = is_utf8(body, n);
    if (!n) {
        jv_set(d, ev, "body", jv_null(d));
    } else if (text) {
        jv_set(d, ev, "body", jv_string_ref(d, body, n));
    } else {
        buf_t b64 = BUF_INIT;
        text_b64_encode(body, n, &b64);
        jv_set(d, ev, "body", jv_stringn(d, b64.data, b64.len));
        buf_free(&b64);
    }
    jv_set(d, ev, "isBase64Encoded", jv_bool(d, !text));
    jv_write(ev, out);
    jv_doc_free(d);
}

/* ---- the proxy response -------------------------------------------------------------------- */

/* Headers the server sets itself: a function's would break or double the framing. */
static int server_header(const char *name, size_t n)
{
    static const char *const own[] = {"content-length", "transfer-encoding", "connection", "keep-alive",
                                      "upgrade", "te", "trailer", "proxy-connection", "date", "server",
                                      "x-amzn-requestid"};
    for (size_t i = 0; i < sizeof own / sizeof own[0]; i++)
        if (strlen(own[i]) == n && strncasecmp(own[i], name, n) == 0)
            return 1;
    return 0;
}

static int token_char(unsigned char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c && strchr("!#$%&'*+-.^_`|~", c));
}

/* One header line from a proxy response into extra (Content-Type into
 * ctype instead); -1 when the name or value cannot be sent as they are. */
static int proxy_header(const char *name, size_t nlen, const jv_t *v, buf_t *extra, buf_t *ctype)
{
    const char *val = jv_is(v, JV_STRING) || jv_is(v, JV_NUMBER) ? v->u.str
                      : jv_is(v, JV_BOOL)                        ? (v->boolean ? "true" : "false")
                                                                 : NULL;
    size_t vlen = jv_is(v, JV_BOOL) ? strlen(val) : val ? v->len : 0;
    if (!val || !nlen)
        return -1;
    for (size_t i = 0; i < nlen; i++)
        if (!token_char((unsigned char)name[i]))
            return -1;
    for (size_t i = 0; i < vlen; i++) /* field-content: no CR, LF, NUL or other controls but HTAB */
        if (((unsigned char)val[i] < 0x20 && val[i] != '\t') || val[i] == 0x7f)
            return -1;
    if (server_header(name, nlen))
        return 0;
    if (nlen == 12 && !strncasecmp(name, "content-type", 12)) { /* the reply's one Content-Type */
        buf_reset(ctype);
        buf_append(ctype, val, vlen);
        return 0;
    }
    buf_append(extra, name, nlen);
    buf_puts(extra, ": ");
    buf_append(extra, val, vlen);
    buf_puts(extra, "\r\n");
    return 0;
}

/* A member of a proxy response that may be left out (or null). */
static int absent_or(const jv_t *v, jv_type_t t)
{
    return !v || jv_is(v, JV_NULL) || jv_is(v, t);
}

static int named_in(const jv_t *obj, const char *name, size_t n)
{
    for (size_t i = 0; jv_is(obj, JV_OBJECT) && i < obj->len; i++)
        if (obj->u.pairs[i].klen == n && !strncasecmp(obj->u.pairs[i].key, name, n))
            return 1;
    return 0;
}

/* multiValueHeaders, then the headers it does not name (API Gateway merges
 * the two; for a name in both, multiValueHeaders' values win). */
static int proxy_headers_out(const jv_t *res, buf_t *extra, buf_t *ctype)
{
    const jv_t *multi = jv_get(res, "multiValueHeaders"), *one = jv_get(res, "headers");
    if (!absent_or(multi, JV_OBJECT) || !absent_or(one, JV_OBJECT))
        return -1;
    for (size_t i = 0; jv_is(multi, JV_OBJECT) && i < multi->len; i++) {
        const jv_pair_t *p = &multi->u.pairs[i];
        if (!jv_is(p->val, JV_ARRAY))
            return -1;
        for (size_t k = 0; k < p->val->len; k++)
            if (proxy_header(p->key, p->klen, p->val->u.items[k], extra, ctype) != 0)
                return -1;
    }
    for (size_t i = 0; jv_is(one, JV_OBJECT) && i < one->len; i++) {
        const jv_pair_t *p = &one->u.pairs[i];
        if (!named_in(multi, p->key, p->klen) && proxy_header(p->key, p->klen, p->val, extra, ctype) != 0)
            return -1;
    }
    return extra->len + ctype->len > PROXY_HEADERS_MAX ? -1 : 0;
}

/* Answers ctx with the reply a proxy response describes; -1 (ctx untouched)
 * when the result is not one. */
static int proxy_reply(req_ctx_t *ctx, const char *result, size_t len)
{
    jv_doc_t *d = jv_doc_new();
    char why[128];
    const jv_t *res = jv_parse(d, result, len, why, sizeof why), *code = jv_get(res, "statusCode");
    const jv_t *body = jv_get(res, "body"), *b64 = jv_get(res, "isBase64Encoded");
    buf_t extra = BUF_INIT, ctype = BUF_INIT, decoded = BUF_INIT;
    int rc = -1;
    if (!jv_is_int(code) || code->i < 200 || code->i > 599 || !absent_or(body, JV_STRING) || !absent_or(b64, JV_BOOL) ||
        proxy_headers_out(res, &extra, &ctype) != 0)
        goto out;
    const char *p = jv_str(body) ? body->u.str : "";
    size_t n = jv_str(body) ? body->len : 0;
    if (jv_is(b64, JV_BOOL) && b64->boolean) {
        if (text_b64_decode(p, n, &decoded) != 0)
            goto out;
        p = decoded.data ? decoded.data : "", n = decoded.len;
    }
    if (code->i == 204 || code->i == 304) /* no content, by definition */
        n = 0;
    router_reply(ctx, (int)code->i, ctype.len ? ctype.data : "application/json", extra.data, p, n);
    rc = 0;
out:
    buf_free(&extra);
    buf_free(&ctype);
    buf_free(&decoded);
    jv_doc_free(d);
    return rc;
}

/* ---- the call ------------------------------------------------------------------------------ */

static void invoke_done(void *arg, const fn_result_t *res)
{
    gw_call_t *c = arg;
    req_ctx_t *ctx = c->ctx;
    const char *type = res->error_type ? res->error_type : "";
    ctx->cancel = NULL;
    if (!res->ok)
        log_warn("gateway_invoke_failed", "route=\"%s\" function=%s request_id=%s error_type=%s", c->r->label,
                 c->r->def.target, ctx->request_id, type);
    if (!res->ok && strcmp(type, "Sandbox.Timedout") == 0) {
        gateway__reply_message(ctx, 504, NULL, "Endpoint request timed out");
    } else if (!res->ok && strcmp(type, "Throttled") == 0) {
        gateway__reply_message(ctx, 429, NULL, "Too Many Requests");
    } else if (!res->ok) {
        router_reply(ctx, 502, "application/json", NULL, res->payload, res->len);
    } else if (c->r->def.payload == GW_PAYLOAD_BODY) {
        router_reply(ctx, 200, "application/json", NULL, res->payload, res->len);
    } else if (proxy_reply(ctx, res->payload, res->len) != 0) {
        log_warn("gateway_proxy_malformed", "route=\"%s\" function=%s request_id=%s", c->r->label,
                 c->r->def.target, ctx->request_id);
        gateway__reply_message(ctx, 502, NULL, "Internal server error");
    }
    free(c);
}

/* The client went away: the call runs on, its result is not wanted. */
static void invoke_cancel(void *arg)
{
    gw_call_t *c = arg;
    function_forget(c->f, c->call);
    free(c);
}

/* Whether f has no free concurrency: every slot running or spoken for. */
static int no_slot(const function_t *f)
{
    function_stats_t st;
    function_get_stats(f, &st);
    return st.running + st.waiting >= function_def(f)->concurrency;
}

static void call_function(function_t *f, const route_t *r, req_ctx_t *ctx, const char *event, size_t len)
{
    err_t err;
    gw_call_t *c = xcalloc(1, sizeof *c);
    c->ctx = ctx;
    c->f = f;
    c->r = r;
    status_t st = function_invoke(f, event, len, ctx->request_id, invoke_done, c, &c->call, &err);
    if (st != ST_OK) {
        free(c);
        if (st == ST_REQUEST_THROTTLED)
            gateway__reply_message(ctx, 429, NULL, "Too Many Requests");
        else
            gateway__reply_message(ctx, 500, NULL, "Internal server error");
        return;
    }
    ctx->cancel = invoke_cancel;
    ctx->cancel_arg = c;
    router_watch(ctx);
}

void gateway__serve_invoke(gateway_t *gw, const route_t *r, req_ctx_t *ctx, const kvv_t *params,
                           const kvv_t *query)
{
    function_t *f = functions_find(gw->fs, r->def.target);
    jv_doc_t *d = jv_doc_new();
    jv_t *body = NULL;
    buf_t ev = BUF_INIT;
    int strict = r->def.payload == GW_PAYLOAD_BODY; /* the body is the event: JSON */
    if ((strict || r->schema) && gateway__body(r, ctx, d, strict, &body) != 0)
        goto out;
    if (r->def.payload == GW_PAYLOAD_PROXY)
        proxy_event(gw, r, ctx, params, query, &ev);
    else if (ctx->ex->body_len)
        buf_append(&ev, ctx->ex->body, ctx->ex->body_len);
    else
        buf_puts(&ev, "{}");
    if (!f)
        gateway__reply_message(ctx, 503, NULL, "The function of this route is gone");
    else if (ev.len > FN_SYNC_EVENT_MAX)
        gateway__reply_message(ctx, 413, NULL, "Request Too Long");
    else if (no_slot(f))
        gateway__reply_message(ctx, 429, NULL, "Too Many Requests");
    else
        call_function(f, r, ctx, ev.data, ev.len);
out:
    buf_free(&ev);
    jv_doc_free(d);
}
