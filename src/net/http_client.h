/*
 * http_client — an asynchronous HTTP/1.1 client on the event loop, for
 * outbound calls: SNS http/https subscription delivery, function `http`
 * handlers, the gateway's proxy routes.
 *
 * Model. A request names a URL; the client keeps a pool of connections per
 * origin (scheme, host, port): at most max_conns_per_host of them, requests
 * beyond that wait in the origin's FIFO queue. A connection carries one
 * exchange at a time (no pipelining); after a keep-alive response it goes
 * idle and serves the next queued request, and it is closed once it has
 * been idle for idle_timeout_ms, or when the server closes it. A request
 * sent on a reused connection that the server turns out to have closed —
 * EOF or reset before any response byte — is retried once on a fresh
 * connection; no other failure is retried (the caller owns retry policy).
 *
 * Names. Numeric IPv4/IPv6 addresses and "localhost" (127.0.0.1, then ::1)
 * resolve at once. Any other name is resolved per new connection by
 * getaddrinfo on a small pool of resolver threads (cfg resolver_threads),
 * whose answers come back through loop_async; nothing is cached. The loop
 * thread never blocks: connect, TLS and I/O are all non-blocking.
 *
 * TLS (https): OpenSSL, TLS 1.2 or later, SNI set for names. The server's
 * certificate is verified by default — against the system store, or
 * tls_ca_file — including the host name (or IP address) of the URL; with
 * tls_verify = 0 nothing is verified (self-signed test servers only). A
 * close-delimited body over TLS may end without close_notify (servers
 * commonly do that), so such a body could be truncated by an attacker on
 * the path; Content-Length and chunked bodies cannot.
 *
 * Bounds. The response head is limited to max_response_head bytes and
 * HTTP_MAX_HEADERS lines, the decoded body to max_response_body (TOO_LARGE
 * beyond); the request is the caller's and is copied once; at most
 * max_queued_per_host requests wait per origin (OVERLOADED beyond). Each
 * request has one total deadline covering queueing, resolution, connect,
 * TLS, sending and receiving.
 *
 * Callbacks. Each accepted request's callback runs exactly once, on the loop
 * thread, never from inside http_client_request — with the response, or an
 * error — except after http_client_cancel, which suppresses it. Callbacks
 * may issue and cancel requests; they must not call http_client_free.
 *
 * Threads: loop thread only (the resolver threads are internal).
 */
#ifndef SLUICE_HTTP_CLIENT_H
#define SLUICE_HTTP_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include "net/http_parser.h"
#include "net/loop.h"

typedef struct http_client http_client_t;

/* Why a request failed. The text goes to logs, not to the wire. */
#define HTTP_CLIENT_ERR_MAP(X)                                                                     \
    X(OK, "ok")                                                                                    \
    X(CONNECT, "could not connect (refused, unreachable)")                                        \
    X(DNS, "name resolution failed")                                                               \
    X(TIMEOUT, "request timed out")                                                                \
    X(TLS, "TLS handshake or certificate verification failed")                                    \
    X(PROTOCOL, "malformed response, or connection lost before a complete response")             \
    X(TOO_LARGE, "response head or body over the limit")                                           \
    X(OVERLOADED, "too many requests already wait for this origin")                                \
    X(CANCELLED, "client freed before the request completed")

typedef enum {
#define HTTP_CLIENT_ENUM(name, text) HTTP_CLIENT_##name,
    HTTP_CLIENT_ERR_MAP(HTTP_CLIENT_ENUM)
#undef HTTP_CLIENT_ENUM
        HTTP_CLIENT__COUNT
} http_client_err_t;

const char *http_client_err_name(http_client_err_t e); /* "TIMEOUT" */
const char *http_client_err_text(http_client_err_t e);

typedef struct http_client_config {
    unsigned max_conns_per_host; /* per (scheme, host, port); default 16 */
    size_t max_queued_per_host;  /* requests waiting for a connection, per origin; default 4096;
                                    more fail with OVERLOADED */
    uint64_t idle_timeout_ms;    /* keep-alive connection with nothing to do; default 15000 */
    uint64_t timeout_ms;         /* total per request when its spec says 0; default 30000 */
    size_t max_response_head;    /* status line + headers, bytes; default 16 KiB */
    size_t max_response_body;    /* decoded body, bytes; default 1 MiB */
    const char *user_agent;      /* copied; default "sluice" (also when it holds a control byte) */
    int tls_verify;              /* verify certificate and host name; default 1 */
    const char *tls_ca_file;     /* PEM trust anchors instead of the system store; copied; NULL */
    unsigned resolver_threads;   /* getaddrinfo threads, started on first need; default 2 */
} http_client_config_t;

void http_client_config_defaults(http_client_config_t *cfg);

/* One request header line. Both strings NUL-terminated; copied. */
typedef struct http_client_header {
    const char *name;
    const char *value;
} http_client_header_t;

typedef struct http_request_spec {
    const char *method; /* a token such as "POST"; NULL means GET */
    const char *url;    /* http://host[:port][/path][?query] or https://...; NUL-terminated */
    /* Extra headers. Host, Content-Length, Transfer-Encoding and Connection
     * are the client's own and rejected here; a User-Agent replaces the
     * configured one. */
    const http_client_header_t *headers;
    size_t nheaders;
    const void *body; /* copied; Content-Length is sent when body_len > 0 or
                       * the method is POST, PUT or PATCH */
    size_t body_len;
    uint64_t timeout_ms; /* total deadline; 0: the config's timeout_ms */
} http_request_spec_t;

/* What the callback gets. Every pointer is valid during the callback only. */
typedef struct http_client_result {
    int id;                /* as returned by http_client_request */
    http_client_err_t err; /* OK whenever a complete response arrived, whatever its status */
    int status;            /* HTTP status (200..599), or 0 when err != OK */
    int minor_version;     /* HTTP/1.<minor_version> of the status line; 0 when err != OK */
    const char *reason;    /* the status line's reason phrase, not NUL-terminated (may be
                              empty); NULL/0 when err != OK */
    size_t reason_len;
    const char *detail;    /* the failure in words ("connect 127.0.0.1:9: Connection refused");
                              "" on success; never NULL */
    const http_header_t *headers; /* response header lines; NULL/0 on failure */
    size_t nheaders;
    const char *body; /* decoded body, NUL-terminated; "" when none */
    size_t body_len;
} http_client_result_t;

typedef void (*http_client_cb)(const http_client_result_t *res, void *arg);

/* cfg NULL: defaults. Returns NULL only if OpenSSL cannot set up a client
 * context (or load tls_ca_file); the reason is logged. */
http_client_t *http_client_new(loop_t *loop, const http_client_config_t *cfg);

/*
 * Closes every connection, and runs the callback of every outstanding
 * request with err CANCELLED before returning (so owners can release their
 * args there; such callbacks must not issue requests — they would fail with
 * -1). Resolver threads busy in getaddrinfo finish on their own, detached;
 * free never waits for them. Not from inside a callback; before loop_free
 * (the client's memory goes at the end of the loop iteration, or with
 * loop_free).
 */
void http_client_free(http_client_t *c);

/*
 * Starts a request. Returns its id (> 0), or -1 synchronously, without a
 * callback, when the URL does not parse (http_url_parse), the method is not
 * a token, a header is malformed or one of the client's own, or the client
 * is being freed: the request itself is wrong, retrying it is pointless.
 * Otherwise cb(res, arg) runs later, exactly once (unless cancelled) — with
 * OVERLOADED, and no I/O, when the origin already had max_queued_per_host
 * requests waiting. Ids are positive ints, reused only after wrapping past
 * INT_MAX and never while still outstanding.
 */
int http_client_request(http_client_t *c, const http_request_spec_t *spec, http_client_cb cb, void *arg);

/*
 * Abandons request id: its callback will not run, its connection (if it had
 * one) is closed. Returns 0, or -1 if id is unknown or already completed
 * (its callback has run or is running).
 */
int http_client_cancel(http_client_t *c, int id);

typedef struct http_client_stats {
    uint64_t requests;  /* accepted by http_client_request */
    uint64_t connects;  /* connections opened (connect started) */
    uint64_t reuses;    /* requests sent on a connection that had served before */
    uint64_t retries;   /* requests re-sent after a reused connection turned out closed */
    uint64_t open;      /* connections now open, idle or busy */
    uint64_t idle;      /* ... of which idle */
    uint64_t queued;    /* requests now waiting for a connection */
    uint64_t in_flight; /* requests now outstanding (queued included) */
} http_client_stats_t;
void http_client_get_stats(const http_client_t *c, http_client_stats_t *out);

/* ---- URLs ---- */

#define HTTP_URL_MAX 8192 /* longest URL accepted, bytes */

typedef struct http_url {
    int https;            /* 0: http, 1: https */
    char host[256];       /* name, dotted IPv4, or IPv6 without brackets; NUL-terminated */
    int host_ipv6;        /* the host was a bracketed IPv6 literal */
    uint16_t port;        /* explicit, or 80 / 443 */
    int port_explicit;    /* the URL had a port */
    const char *path;     /* "/..." into the input, without the query; path_len 0 when absent */
    size_t path_len;
    const char *query;    /* after '?', into the input; NULL when there is no '?' */
    size_t query_len;
} http_url_t;

/*
 * Parses an absolute http or https URL from url[0..len) (any bytes; no NUL
 * needed). Accepted: scheme "http"/"https" (any case) "://", a host — a name
 * of letters, digits, '-', '.', '_' (at most 253 bytes; one of only digits
 * and dots must be a valid dotted-quad IPv4 address), or an IPv6 address in
 * brackets (no zone) — an optional
 * ":port" of 1..65535, then an optional path ("/..."), query ("?...") and
 * fragment ("#...", dropped); path and query may hold any visible ASCII
 * except '#'. Rejected: userinfo ("user@"), an empty port, percent-escapes
 * or other bytes in the host, spaces, control and non-ASCII bytes anywhere,
 * more than HTTP_URL_MAX bytes. Returns 0, or -1 with *out unspecified.
 */
int http_url_parse(const char *url, size_t len, http_url_t *out);

#endif
