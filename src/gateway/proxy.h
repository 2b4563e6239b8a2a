/*
 * proxy — the gateway's `proxy` integration, seed 003's strangler facade:
 * a route that forwards its requests to an upstream HTTP service and
 * answers with what that service answers, so the paths a legacy system
 * still serves and the paths Sluice serves now share one front door.
 *
 * The upstream URL (checked once, at start, by proxy_check). With
 * placeholders — `upstream: http://127.0.0.1:8081/legacy/{proxy}` on the
 * route `/old/{proxy+}` — each {name} is a parameter of the route's path
 * and takes the request's value: a plain parameter (decoded when it was
 * matched) percent-encoded again, a greedy one as it was sent (its slashes
 * stay separators, each segment stays encoded). {name+} in the URL means
 * the same as {name}. Without placeholders the request's whole path is
 * appended to the URL's path. Placeholders live in the URL's path only.
 * The request's query string follows unchanged, after the URL's own ("&").
 *
 * Forwarding (as API Gateway's HTTP proxy integration does): the method,
 * the headers and the body as they came, except the hop-by-hop headers
 * (Connection and the headers it names, Keep-Alive, Proxy-*, TE, Trailer,
 * Transfer-Encoding, Upgrade) and those the client sets itself for the
 * upstream (Host, Content-Length, Expect); X-Forwarded-For gets the
 * caller's address appended, X-Forwarded-Proto and X-Forwarded-Host are
 * set. The answer is the upstream's status, headers (minus hop-by-hop
 * ones and those the server writes itself: Content-Length, Date, Server,
 * x-amzn-RequestId) and body, which is bounded by PROXY_BODY_MAX.
 *
 * Failures, each logged with the route, the upstream and the reason: no
 * answer within the route's timeout → 504 {"message":"Endpoint request
 * timed out"}; anything else (refused, name resolution, TLS, a malformed
 * answer, a body over the limit) → 502 {"message":"Bad Gateway"}. A caller
 * that hangs up while it waits cancels the upstream request (its
 * connection is closed, nothing is retried).
 *
 * Threads: loop thread only.
 */
#ifndef SLUICE_GATEWAY_PROXY_H
#define SLUICE_GATEWAY_PROXY_H

#include <stddef.h>
#include <stdint.h>

#include "net/http_client.h"
#include "proto/router.h"
#include "util/buf.h"
#include "util/kv.h"

#define PROXY_BODY_MAX (10u << 20) /* API Gateway's payload limit */
#define PROXY_TIMEOUT_DEFAULT_S 29 /* API Gateway's integration timeout */
#define PROXY_TIMEOUT_MAX_S 300

/* What proxy_forward needs of a route; the strings belong to the route and
 * outlive every request forwarded on it. */
typedef struct proxy_route {
    const char *upstream;  /* URL template, as checked by proxy_check */
    const char *path;      /* the route's path template: /old/{proxy+} */
    uint32_t timeout_s;    /* 1..PROXY_TIMEOUT_MAX_S */
    const char *label;     /* "ANY /old/{proxy+}", for logs */
} proxy_route_t;

/* Whether upstream is a usable URL template for a route with path template
 * path: an http:// or https:// URL, no fragment, placeholders only in its
 * path and each naming a parameter of path. 0, or -1 with why. */
int proxy_check(const char *upstream, const char *path, char *why, size_t n);

/* The URL of one request (see the header comment): params as routes_match
 * gave them, req_path the request's path as sent (no query), query the
 * text after '?' (NULL when there is none). Appends to out; 0, -2 when the path or a parameter
 * holds a "." or ".." segment (plain or %2e), or -1 when
 * a placeholder has no value in params. Pure. */
int proxy_url(const char *upstream, const char *path, const kvv_t *params, const char *req_path, size_t req_path_len,
              const char *query, size_t query_len, buf_t *out);

/* 1 when header h is hop-by-hop — Connection, Keep-Alive, Proxy-*, TE,
 * Trailer(s), Transfer-Encoding, Upgrade, or a name listed in one of the
 * Connection headers among all[0..n) — else 0. Pure. */
int proxy_hop_by_hop(const http_header_t *h, const http_header_t *all, size_t n);

/* Forwards the request of ctx through client and answers ctx later (or at
 * once when the URL cannot be used). params: the route's parameters. */
void proxy_forward(http_client_t *client, const proxy_route_t *r, req_ctx_t *ctx, const kvv_t *params);

#endif
