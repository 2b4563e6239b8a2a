/*
 * proxy — see proxy.h. One request in flight is a pending_t: the caller's
 * context, the client's request id and the URL (for logs). It is freed by
 * whichever comes first: the upstream's answer (or failure), or the caller
 * hanging up, which cancels the upstream request so that its callback
 * never runs.
 */
#include "gateway/proxy.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util/alloc.h"
#include "util/logging.h"

#define HEADERS_MAX (HTTP_MAX_HEADERS + 3) /* the request's, plus the X-Forwarded-* three */

/* ---- the upstream URL -------------------------------------------------------------------- */

/* RFC 3986 pchar without the escapes: what a path segment holds as is. */
static int pchar_plain(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c && strchr("-._~!$&'()*+,;=:@", c));
}

static int is_hex(unsigned char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* A decoded value as one path segment: all but pchar percent-encoded. */
static void put_value(buf_t *b, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (pchar_plain(c))
            buf_putc(b, (char)c);
        else
            buf_printf(b, "%%%02X", c);
    }
}

/* Text already in URL form (a greedy parameter, a path or a query as sent)
 * is kept; only what a URL may not hold — space, control and non-ASCII
 * bytes, '#', a '%' that starts no escape — is encoded. */
static void put_as_sent(buf_t *b, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        int bad = c <= 0x20 || c >= 0x7f || c == '#' ||
                  (c == '%' && !(i + 2 < n && is_hex((unsigned char)s[i + 1]) && is_hex((unsigned char)s[i + 2])));
        if (bad)
            buf_printf(b, "%%%02X", c);
        else
            buf_putc(b, (char)c);
    }
}

/* The placeholder that starts at s ('{'): the length of its name (without a
 * trailing '+') and of the whole {…}; -1 when it is not {name} or {name+}. */
static int placeholder(const char *s, size_t *name_len, size_t *total)
{
    size_t k = strcspn(s + 1, "{}/?#");
    if (s[1 + k] != '}' || k == 0 || (k == 1 && s[1] == '+'))
        return -1;
    *name_len = s[k] == '+' ? k - 1 : k;
    *total = k + 2;
    return 0;
}

/* How the route's path template holds parameter name: 0 not at all, 1 as
 * {name}, 2 as the greedy {name+}. */
static int param_kind(const char *tmpl, const char *name, size_t n)
{
    for (const char *p = strchr(tmpl, '{'); p; p = strchr(p + 1, '{')) {
        if (strncmp(p + 1, name, n) != 0)
            continue;
        if (p[1 + n] == '}')
            return 1;
        if (p[1 + n] == '+' && p[2 + n] == '}')
            return 2;
    }
    return 0;
}

/* Where the URL's path starts: after "scheme://authority". */
static size_t path_start(const char *u)
{
    const char *p = strstr(u, "://");
    if (!p)
        return 0;
    p += 3;
    return (size_t)(p - u) + strcspn(p, "/?#");
}

/* Walks the placeholders, filling sample with the URL as it would be sent;
 * -1 with why at the first one that is wrong. */
static int check_placeholders(const char *upstream, const char *path, buf_t *sample, char *why, size_t n)
{
    size_t start = path_start(upstream), qpos = strcspn(upstream, "?");
    if (strchr(upstream, '#'))
        return snprintf(why, n, "upstream %s: a fragment (#) is never sent", upstream), -1;
    for (const char *p = upstream; *p; p++) {
        size_t nl, total, at = (size_t)(p - upstream);
        if (*p == '}')
            return snprintf(why, n, "upstream %s: a '}' that closes no placeholder", upstream), -1;
        if (*p != '{') {
            buf_putc(sample, *p);
            continue;
        }
        if (placeholder(p, &nl, &total) != 0)
            return snprintf(why, n, "upstream %s: a placeholder is {name} or {name+}", upstream), -1;
        if (at < start || at > qpos)
            return snprintf(why, n, "upstream %s: placeholders belong in the URL's path", upstream), -1;
        if (!param_kind(path, p + 1, nl))
            return snprintf(why, n, "upstream %s names {%.*s}, which is not a parameter of the path %s", upstream,
                            (int)nl, p + 1, path), -1;
        buf_putc(sample, 'p');
        p += total - 1;
    }
    return 0;
}

int proxy_check(const char *upstream, const char *path, char *why, size_t n)
{
    /* A '%' that is not an escape would join a request's value: "%{p}" with
     * p = "2e." forwards "%2e." — a ".." segment the checks on values never
     * see (found by fuzz_proxy_url). */
    for (const char *p = upstream; (p = strchr(p, '%')); p++)
        if (!isxdigit((unsigned char)p[1]) || !isxdigit((unsigned char)p[2])) {
            snprintf(why, n, "upstream %s has a '%%' that is not a %%XX escape", upstream);
            return -1;
        }
    buf_t sample = BUF_INIT; /* every placeholder filled in, for the URL parser */
    http_url_t u;
    int rc = check_placeholders(upstream, path, &sample, why, n);
    int scheme = strncasecmp(upstream, "http://", 7) == 0 || strncasecmp(upstream, "https://", 8) == 0;
    if (rc == 0 && (!scheme || http_url_parse(sample.data ? sample.data : "", sample.len, &u) != 0)) {
        snprintf(why, n, "upstream %s is not an http:// or https:// URL", upstream);
        rc = -1;
    }
    buf_free(&sample);
    return rc;
}

/* Whether URL-form path text holds a "." or ".." segment, spelled plainly
 * or percent-encoded (%2e): the upstream (or a proxy before it) would
 * resolve it and the request would leave the prefix the route forwards to. */
static int has_dot_segment(const char *s, size_t n)
{
    size_t i = 0;
    while (i <= n) {
        size_t j = i, dots = 0, other = 0;
        while (j < n && s[j] != '/') {
            if (s[j] == '.')
                dots++, j++;
            else if (s[j] == '%' && j + 2 < n && s[j + 1] == '2' && (s[j + 2] == 'e' || s[j + 2] == 'E'))
                dots++, j += 3;
            else
                other++, j++;
        }
        if (!other && (dots == 1 || dots == 2))
            return 1;
        i = j + 1;
    }
    return 0;
}

/* The URL's path part with the placeholders filled in; -1 when one has no
 * value, -2 when a value is a dot-segment or holds one. */
static int substitute(const char *upstream, size_t len, const char *path, const kvv_t *params, buf_t *out)
{
    char name[128];
    for (size_t i = 0; i < len; i++) {
        size_t nl, total;
        if (upstream[i] != '{') {
            buf_putc(out, upstream[i]);
            continue;
        }
        if (placeholder(upstream + i, &nl, &total) != 0 || nl >= sizeof name)
            return -1;
        memcpy(name, upstream + i + 1, nl);
        name[nl] = 0;
        const char *v = kvv_get(params, name);
        if (!v)
            return -1;
        if (has_dot_segment(v, strlen(v)))
            return -2; /* a plain value is one segment, so "." and ".." are the cases there */
        if (param_kind(path, name, nl) == 2)
            put_as_sent(out, v, strlen(v));
        else
            put_value(out, v, strlen(v));
        i += total - 1;
    }
    return 0;
}

int proxy_url(const char *upstream, const char *path, const kvv_t *params, const char *req_path, size_t req_path_len,
              const char *query, size_t query_len, buf_t *out)
{
    size_t qpos = strcspn(upstream, "?");
    if (memchr(upstream, '{', qpos)) {
        int rc = substitute(upstream, qpos, path, params, out);
        if (rc != 0)
            return rc;
    } else {
        if (has_dot_segment(req_path, req_path_len))
            return -2; /* the whole path, after the URL's own (one '/' between them) */
        size_t bl = qpos;
        if (bl && upstream[bl - 1] == '/' && req_path_len && req_path[0] == '/')
            bl--;
        buf_append(out, upstream, bl);
        put_as_sent(out, req_path, req_path_len);
    }
    const char *own = upstream[qpos] ? upstream + qpos + 1 : NULL;
    if ((own && *own) || query) {
        buf_putc(out, '?');
        if (own)
            buf_puts(out, own);
        if (own && *own && query && query_len)
            buf_putc(out, '&');
        if (query)
            put_as_sent(out, query, query_len);
    }
    return 0;
}

/* ---- headers ----------------------------------------------------------------------------- */

static int name_is(const http_header_t *h, const char *name)
{
    return h->name_len == strlen(name) && strncasecmp(h->name, name, h->name_len) == 0;
}

static int name_in(const http_header_t *h, const char *const *names, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (name_is(h, names[i]))
            return 1;
    return 0;
}

/* Whether the comma-separated list v[0..vn) holds the token name[0..nn). */
static int list_has(const char *v, size_t vn, const char *name, size_t nn)
{
    size_t i = 0;
    while (i < vn) {
        while (i < vn && (v[i] == ' ' || v[i] == '\t' || v[i] == ','))
            i++;
        size_t s = i;
        while (i < vn && v[i] != ',' && v[i] != ' ' && v[i] != '\t')
            i++;
        if (i - s == nn && nn && strncasecmp(v + s, name, nn) == 0)
            return 1;
    }
    return 0;
}

int proxy_hop_by_hop(const http_header_t *h, const http_header_t *all, size_t n)
{
    static const char *const HOP[] = {"connection", "keep-alive", "te", "trailer", "trailers", "transfer-encoding",
                                      "upgrade"};
    if (name_in(h, HOP, sizeof HOP / sizeof HOP[0]))
        return 1;
    if (h->name_len >= 6 && strncasecmp(h->name, "proxy-", 6) == 0)
        return 1;
    for (size_t i = 0; i < n; i++)
        if (name_is(&all[i], "connection") && list_has(all[i].value, all[i].value_len, h->name, h->name_len))
            return 1;
    return 0;
}

/* The request's headers as the client wants them: NUL-terminated copies. */
typedef struct hdrs {
    buf_t text;
    size_t off[HEADERS_MAX][2];
    http_client_header_t h[HEADERS_MAX];
    size_t n;
} hdrs_t;

static void hdrs_add(hdrs_t *s, const char *name, size_t nl, const char *val, size_t vl)
{
    if (s->n == HEADERS_MAX)
        return;
    s->off[s->n][0] = s->text.len;
    buf_append(&s->text, name, nl);
    buf_putc(&s->text, 0);
    s->off[s->n][1] = s->text.len;
    buf_append(&s->text, val, vl);
    buf_putc(&s->text, 0);
    s->n++;
}

/* The caller's headers minus those that do not cross a proxy, then the
 * X-Forwarded-* three: For gets the caller's address appended to what
 * earlier proxies wrote. */
static void request_headers(const req_ctx_t *ctx, hdrs_t *s)
{
    static const char *const OWN[] = {"host", "content-length", "expect", "x-forwarded-for", "x-forwarded-proto",
                                      "x-forwarded-host"};
    const http_head_t *h = ctx->ex->head;
    buf_t xff = BUF_INIT;
    for (size_t i = 0; i < h->nheaders; i++) {
        const http_header_t *x = &h->headers[i];
        if (name_is(x, "x-forwarded-for") && x->value_len) {
            buf_append(&xff, x->value, x->value_len);
            buf_puts(&xff, ", ");
        }
        if (!name_in(x, OWN, sizeof OWN / sizeof OWN[0]) && !proxy_hop_by_hop(x, h->headers, h->nheaders))
            hdrs_add(s, x->name, x->name_len, x->value, x->value_len);
    }
    const char *peer = ctx->ex->peer ? ctx->ex->peer : "";
    const char *colon = strrchr(peer, ':'); /* "ip:port" */
    buf_append(&xff, peer, colon ? (size_t)(colon - peer) : strlen(peer));
    hdrs_add(s, "X-Forwarded-For", 15, xff.data, xff.len);
    hdrs_add(s, "X-Forwarded-Proto", 17, "http", 4);
    const http_header_t *host = http_head_find(h, "Host");
    if (host)
        hdrs_add(s, "X-Forwarded-Host", 16, host->value, host->value_len);
    for (size_t i = 0; i < s->n; i++)
        s->h[i] = (http_client_header_t){s->text.data + s->off[i][0], s->text.data + s->off[i][1]};
    buf_free(&xff);
}

/* ---- answers ----------------------------------------------------------------------------- */

typedef struct pending {
    http_client_t *client;
    const proxy_route_t *route;
    req_ctx_t *ctx;
    int id;
    char *url;
} pending_t;

static void pending_free(pending_t *p)
{
    free(p->url);
    free(p);
}

static void reply_failure(req_ctx_t *ctx, const proxy_route_t *r, const char *url, http_client_err_t e,
                          const char *detail)
{
    static const char timed_out[] = "{\"message\":\"Endpoint request timed out\"}";
    static const char bad[] = "{\"message\":\"Bad Gateway\"}";
    int timeout = e == HTTP_CLIENT_TIMEOUT;
    log_warn("proxy_failed", "route=\"%s\" upstream=\"%.*s\" status=%d error=%s reason=\"%s\"", r->label,
             (int)strcspn(url, "?"), url, timeout ? 504 : 502, http_client_err_name(e), detail); /* no query: it may hold tokens */
    router_reply(ctx, timeout ? 504 : 502, "application/json", NULL, timeout ? timed_out : bad,
                 timeout ? sizeof timed_out - 1 : sizeof bad - 1);
}

/* The upstream's answer as ours: its status, headers and body; the server
 * writes Content-Length, Date and Server itself, the router the request id. */
static void reply_upstream(req_ctx_t *ctx, const http_client_result_t *res)
{
    static const char *const OWN[] = {"content-length", "content-type", "date", "server", "x-amzn-requestid"};
    buf_t extra = BUF_INIT;
    char *ctype = NULL;
    for (size_t i = 0; i < res->nheaders; i++) {
        const http_header_t *h = &res->headers[i];
        if (!ctype && name_is(h, "content-type"))
            ctype = xmemdup(h->value, h->value_len);
        if (!name_in(h, OWN, sizeof OWN / sizeof OWN[0]) && !proxy_hop_by_hop(h, res->headers, res->nheaders))
            buf_printf(&extra, "%.*s: %.*s\r\n", (int)h->name_len, h->name, (int)h->value_len, h->value);
    }
    router_reply(ctx, res->status, ctype, extra.data, res->body, res->body_len);
    free(ctype);
    buf_free(&extra);
}

static void on_response(const http_client_result_t *res, void *arg)
{
    pending_t *p = arg;
    req_ctx_t *ctx = p->ctx;
    ctx->cancel = NULL;
    if (res->err == HTTP_CLIENT_OK)
        reply_upstream(ctx, res);
    else /* CANCELLED too: the client was freed under a caller that is still there */
        reply_failure(ctx, p->route, p->url, res->err, res->detail);
    pending_free(p);
}

/* The caller hung up: the router frees ctx. */
static void on_caller_gone(void *arg)
{
    pending_t *p = arg;
    http_client_cancel(p->client, p->id);
    log_info("proxy_cancelled", "route=\"%s\" upstream=\"%.*s\" reason=\"the caller hung up\"", p->route->label,
             (int)strcspn(p->url, "?"), p->url);
    pending_free(p);
}

void proxy_forward(http_client_t *client, const proxy_route_t *r, req_ctx_t *ctx, const kvv_t *params)
{
    const http_head_t *h = ctx->ex->head;
    const char *q = memchr(h->target, '?', h->target_len);
    size_t plen = q ? (size_t)(q - h->target) : h->target_len;
    buf_t url = BUF_INIT;
    int rc = proxy_url(r->upstream, r->path, params, h->target, plen, q ? q + 1 : NULL,
                       q ? h->target_len - plen - 1 : 0, &url);
    if (rc == -2) { /* never forwarded: it would leave the upstream prefix */
        static const char dots[] = "{\"message\":\"The path has a . or .. segment\"}";
        log_info("proxy_refused", "route=\"%s\" reason=\"dot segment in the path\"", r->label);
        router_reply(ctx, 400, "application/json", NULL, dots, sizeof dots - 1);
        buf_free(&url);
        return;
    }
    if (rc != 0) {
        reply_failure(ctx, r, r->upstream, HTTP_CLIENT_PROTOCOL, "a placeholder has no value");
        buf_free(&url);
        return;
    }
    hdrs_t *s = xcalloc(1, sizeof *s);
    request_headers(ctx, s);
    char *method = xmemdup(h->method, h->method_len);
    http_request_spec_t spec = {.method = method, .url = url.data, .headers = s->h, .nheaders = s->n,
                                .body = ctx->ex->body, .body_len = ctx->ex->body_len,
                                .timeout_ms = (uint64_t)r->timeout_s * 1000};
    pending_t *p = xcalloc(1, sizeof *p);
    p->client = client;
    p->route = r;
    p->ctx = ctx;
    p->url = buf_detach(&url, NULL);
    p->id = http_client_request(client, &spec, on_response, p);
    if (p->id < 0) { /* the URL or a header is unusable: nothing was sent */
        reply_failure(ctx, r, p->url, HTTP_CLIENT_PROTOCOL, "the request cannot be sent (URL or header)");
        pending_free(p);
    } else {
        ctx->cancel = on_caller_gone;
        ctx->cancel_arg = p;
        router_watch(ctx);
    }
    free(method);
    buf_free(&s->text);
    free(s);
}
