/*
 * http_client — outbound HTTP/1.1 on the event loop; see http_client.h for
 * the contract.
 *
 * Objects. The client owns origins (one per scheme/host/port, in a hash map
 * by "scheme://host:port"), each with a FIFO queue of waiting requests, its
 * connections and the idle subset of them. A request is either queued on its
 * origin or bound to exactly one connection; a connection carries at most
 * one request (k->req, NULL when idle).
 *
 * Connection states:
 *   RESOLVING  a resolver thread is looking the name up (k->job)
 *   CONNECTING non-blocking connect() in progress; on failure the next
 *              resolved address is tried
 *   HANDSHAKE  https: SSL_connect wants to read or write
 *   ACTIVE     writing the request and reading the response, both at once
 *              (a server may answer before it has read the whole body)
 *   IDLE       kept alive, no request; any input (EOF included) closes it
 *   CLOSED     unregistered; freed at the end of the loop iteration
 * A new connection is opened for a particular request (bound from the start),
 * so a failure to resolve, connect or handshake fails that request only;
 * the origin's other queued requests then get connections of their own.
 *
 * Scheduling. Nothing is dispatched synchronously from http_client_request
 * or from a completion: they put the origin on the dirty list and arm the
 * zero-delay kick timer, whose callback hands queued requests to idle
 * connections or opens new ones up to the cap, and frees origins left with
 * no connection and no queue. So origins are freed in one place only, and a
 * callback never runs inside http_client_request. One kick handles the
 * origins and requests that were waiting when it started; what callbacks
 * add meanwhile waits for the next kick (the next loop iteration), so a
 * callback that re-requests at once on failure cannot spin the loop. A
 * request over its origin's queue limit goes on the refused list and fails
 * (OVERLOADED) at the kick. An origin is freed once it has neither requests
 * (queued, refused or on a connection: o->nreqs) nor connections.
 *
 * Callbacks may issue and cancel requests. After running one, code touches
 * nothing but what the callback cannot have freed: a request is unhooked
 * (id map, queue, connection) before its callback; a connection whose
 * request completed is out of every request's reach while its callback runs
 * (cancel only closes connections that carry a request); closed
 * connections are freed with loop_defer_free, so pending events of the same
 * batch find io.fd == -1 and are skipped by the loop.
 *
 * Resolver. Jobs go to a small pool of detached threads through a mutex-
 * protected queue; answers come back on the done list and wake the loop
 * through an async. A connection that gives up on its lookup abandons the
 * job (freed at once if still queued, otherwise job->conn = NULL and the
 * loop drops the answer). The pool is refcounted (client + each thread), so
 * http_client_free never waits for a getaddrinfo in progress; the threads
 * only touch the client's async under the mutex while not stopping.
 *
 * TLS. Sockets are wrapped in a minimal BIO that sends with MSG_NOSIGNAL, so
 * a server that resets a TLS connection cannot raise SIGPIPE whatever the
 * process's signal disposition.
 */
#include "net/http_client.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "net/http_response.h"
#include "util/alloc.h"
#include "util/buf.h"
#include "util/clock.h"
#include "util/hmap.h"
#include "util/list.h"
#include "util/logging.h"

#define MAX_ADDRS 8
#define READ_CHUNK (16 * 1024)
#define READ_MAX_PER_EVENT (1024 * 1024) /* then yield to other sockets */
#define DETAIL_MAX 256

enum { IO_AGAIN = -1, IO_ERR = -2 };

typedef enum { CONN_RESOLVING, CONN_CONNECTING, CONN_HANDSHAKE, CONN_ACTIVE, CONN_IDLE, CONN_CLOSED } conn_state_t;

typedef struct origin origin_t;
typedef struct hc_conn hc_conn_t;
typedef struct resolver resolver_t;

typedef struct resolve_job {
    list_t link;
    char host[256];
    char port[8];
    struct sockaddr_storage addrs[MAX_ADDRS];
    int naddrs;
    int gai_err;
    int state;       /* JOB_*, under the resolver's mutex */
    hc_conn_t *conn; /* loop side; NULL once abandoned */
} resolve_job_t;

enum { JOB_TODO, JOB_RUNNING, JOB_DONE };

struct resolver {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    list_t todo, done;
    int stopping;
    int refs; /* the client, and each thread */
    unsigned threads, idle, max_threads;
    loop_async_t *async; /* the client's; used under mu while !stopping */
};

typedef struct hc_req {
    int id;
    http_client_t *client;
    origin_t *origin;
    hc_conn_t *conn; /* NULL while queued */
    list_t link;     /* origin->queue while queued, or client->refused */
    int refused;     /* on client->refused: the origin's queue was full */
    list_t all;      /* client->all */
    buf_t wire;      /* request line, headers and body */
    int head_request;
    int retried;
    uint64_t timeout_ms;
    loop_timer_t timer;
    http_client_cb cb;
    void *arg;
} hc_req_t;

struct hc_conn {
    origin_t *origin;
    list_t link;      /* origin->conns */
    list_t idle_link; /* origin->idle while IDLE */
    conn_state_t state;
    loop_io_t io;
    int fd;
    SSL *ssl;
    int tls_ok;       /* handshake done, no fatal TLS error: may send close_notify */
    int tls_want_out; /* a TLS read needs the socket writable */
    resolve_job_t *job;
    struct sockaddr_storage addrs[MAX_ADDRS];
    int naddrs, next_addr;
    int last_errno;
    hc_req_t *req;
    size_t sent;       /* bytes of req->wire written */
    int wdead;         /* writing failed; the read side decides */
    uint64_t received; /* response bytes read for req */
    unsigned served;   /* exchanges completed */
    http_response_t resp;
    int resp_live;
    loop_timer_t idle_timer;
    http_client_err_t io_kind; /* what an IO_ERR was */
    char why[DETAIL_MAX];      /* ... in words */
};

struct origin {
    http_client_t *client;
    char *key; /* "scheme://host:port", lower-case; the map key */
    char host[256];
    uint16_t port;
    int https, ipv6, ip_literal;
    list_t queue, conns, idle;
    size_t nqueued;
    size_t nreqs; /* outstanding requests for this origin, wherever they are */
    unsigned nconns;
    list_t dirty_link;
};

struct http_client {
    loop_t *loop;
    http_client_config_t cfg;
    char *user_agent, *ca_file;
    hmap_t origins;
    hmap_t reqs; /* id -> request */
    list_t all;  /* every outstanding request */
    int next_id;
    list_t dirty;
    list_t refused; /* requests to fail with OVERLOADED at the next kick */
    loop_timer_t kick;
    SSL_CTX *ssl_ctx;
    BIO_METHOD *bio_meth;
    resolver_t *resolver;
    loop_async_t async;
    int closing, in_callback;
    uint64_t requests, connects, reuses, retries;
    uint64_t nopen, nidle, nqueued;
};

static void origin_touch(origin_t *o);
static void conn_connect(hc_conn_t *k);
static void conn_open(origin_t *o, hc_req_t *r);

/* ---- names ---- */

static const char *const client_err_names[] = {
#define HTTP_CLIENT_NAME(name, text) #name,
    HTTP_CLIENT_ERR_MAP(HTTP_CLIENT_NAME)
#undef HTTP_CLIENT_NAME
};

static const char *const client_err_texts[] = {
#define HTTP_CLIENT_TEXT(name, text) text,
    HTTP_CLIENT_ERR_MAP(HTTP_CLIENT_TEXT)
#undef HTTP_CLIENT_TEXT
};

const char *http_client_err_name(http_client_err_t e)
{
    return (unsigned)e < HTTP_CLIENT__COUNT ? client_err_names[e] : "UNKNOWN";
}

const char *http_client_err_text(http_client_err_t e)
{
    return (unsigned)e < HTTP_CLIENT__COUNT ? client_err_texts[e] : "unknown error";
}

void http_client_config_defaults(http_client_config_t *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->max_conns_per_host = 16;
    cfg->max_queued_per_host = 4096;
    cfg->idle_timeout_ms = 15000;
    cfg->timeout_ms = 30000;
    cfg->max_response_head = 16 * 1024;
    cfg->max_response_body = 1 << 20;
    cfg->user_agent = "sluice";
    cfg->tls_verify = 1;
    cfg->tls_ca_file = NULL;
    cfg->resolver_threads = 2;
}

/* ---- URLs ---- */

static int ieq_prefix(const char *p, const char *end, const char *lit)
{
    size_t n = strlen(lit);
    return (size_t)(end - p) >= n && strncasecmp(p, lit, n) == 0;
}

static int url_visible(char c)
{
    return c > 0x20 && c < 0x7f;
}

static int url_host_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '.' || c == '_';
}

/* "[v6]" into out->host; returns the byte after ']' or NULL. */
static const char *url_ipv6(const char *p, const char *end, http_url_t *out)
{
    const char *rb = memchr(p, ']', (size_t)(end - p));
    size_t n = rb ? (size_t)(rb - p - 1) : 0;
    struct in6_addr a;
    if (n == 0 || n >= sizeof out->host)
        return NULL;
    memcpy(out->host, p + 1, n);
    out->host[n] = '\0';
    if (strlen(out->host) != n || inet_pton(AF_INET6, out->host, &a) != 1)
        return NULL;
    out->host_ipv6 = 1;
    return rb + 1;
}

/* A name or dotted quad into out->host; returns where it ends or NULL. */
static const char *url_name(const char *p, const char *end, http_url_t *out)
{
    const char *s = p;
    int numeric = 1;
    while (p < end && *p != ':') {
        if (!url_host_char(*p))
            return NULL;
        numeric &= (*p >= '0' && *p <= '9') || *p == '.';
        p++;
    }
    size_t n = (size_t)(p - s);
    struct in_addr a;
    if (n == 0 || n > 253)
        return NULL;
    memcpy(out->host, s, n);
    out->host[n] = '\0';
    if (numeric && inet_pton(AF_INET, out->host, &a) != 1)
        return NULL; /* "1.2.3", "300.1.1.1", "80": not names either */
    return p;
}

/* host [":" port] spanning exactly [p, end). */
static int url_authority(const char *p, const char *end, http_url_t *out)
{
    if (memchr(p, '@', (size_t)(end - p)))
        return -1;
    p = p < end && *p == '[' ? url_ipv6(p, end, out) : url_name(p, end, out);
    if (!p)
        return -1;
    out->port = out->https ? 443 : 80;
    if (p == end)
        return 0;
    if (*p++ != ':' || p == end || end - p > 5)
        return -1;
    unsigned port = 0;
    for (; p < end; p++) {
        if (*p < '0' || *p > '9')
            return -1;
        port = port * 10 + (unsigned)(*p - '0');
    }
    if (port == 0 || port > 65535)
        return -1;
    out->port = (uint16_t)port;
    out->port_explicit = 1;
    return 0;
}

/* Advances over visible ASCII up to a stop byte; NULL on anything else. */
static const char *url_span(const char *p, const char *end, char stop1, char stop2)
{
    for (; p < end && *p != stop1 && *p != stop2; p++)
        if (!url_visible(*p))
            return NULL;
    return p;
}

int http_url_parse(const char *url, size_t len, http_url_t *out)
{
    const char *p = url, *end = url + len;
    memset(out, 0, sizeof *out);
    if (len > HTTP_URL_MAX)
        return -1;
    if (ieq_prefix(p, end, "https://"))
        out->https = 1, p += 8;
    else if (ieq_prefix(p, end, "http://"))
        p += 7;
    else
        return -1;
    const char *a = p;
    while (p < end && *p != '/' && *p != '?' && *p != '#')
        p++;
    if (url_authority(a, p, out) < 0)
        return -1;
    out->path = p;
    if (!(p = url_span(p, end, '?', '#')))
        return -1;
    out->path_len = (size_t)(p - out->path);
    if (p < end && *p == '?') {
        out->query = ++p;
        if (!(p = url_span(p, end, '#', '#')))
            return -1;
        out->query_len = (size_t)(p - out->query);
    }
    if (p < end && !url_span(p + 1, end, '\0', '\0')) /* '#' fragment: checked, dropped */
        return -1;
    return 0;
}

/* ---- request serialisation ---- */

static int is_tchar(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c && strchr("!#$%&'*+-.^_`|~", c));
}

static int token_ok(const char *s)
{
    if (!s || !*s)
        return 0;
    for (; *s; s++)
        if (!is_tchar((unsigned char)*s))
            return 0;
    return 1;
}

/* field-value: VCHAR, obs-text, SP, HTAB; no leading or trailing space needed */
static int value_ok(const char *s)
{
    if (!s)
        return 0;
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 ? *s != '\t' : *s == 0x7f)
            return 0;
    return 1;
}

static int reserved_header(const char *name)
{
    return !strcasecmp(name, "host") || !strcasecmp(name, "content-length") ||
           !strcasecmp(name, "transfer-encoding") || !strcasecmp(name, "connection");
}

/* Checks the caller's headers; sets *own_ua when one is a User-Agent. */
static int headers_ok(const http_request_spec_t *s, int *own_ua)
{
    *own_ua = 0;
    for (size_t i = 0; i < s->nheaders; i++) {
        const http_client_header_t *h = &s->headers[i];
        if (!token_ok(h->name) || !value_ok(h->value) || reserved_header(h->name))
            return -1;
        *own_ua |= !strcasecmp(h->name, "user-agent");
    }
    return 0;
}

static int method_has_body(const char *m)
{
    return !strcmp(m, "POST") || !strcmp(m, "PUT") || !strcmp(m, "PATCH");
}

static void wire_target_and_host(buf_t *w, const http_url_t *u)
{
    if (u->path_len)
        buf_append(w, u->path, u->path_len);
    else
        buf_putc(w, '/');
    if (u->query) {
        buf_putc(w, '?');
        buf_append(w, u->query, u->query_len);
    }
    buf_printf(w, " HTTP/1.1\r\nHost: %s%s%s", u->host_ipv6 ? "[" : "", u->host, u->host_ipv6 ? "]" : "");
    if (u->port != (u->https ? 443 : 80))
        buf_printf(w, ":%u", (unsigned)u->port);
    buf_puts(w, "\r\n");
}

/* The request as sent; -1 if the spec is malformed. */
static int wire_build(const http_client_t *c, const http_request_spec_t *s, const http_url_t *u, buf_t *w)
{
    const char *method = s->method ? s->method : "GET";
    int own_ua;
    if (!token_ok(method) || headers_ok(s, &own_ua) < 0 || (s->body_len && !s->body))
        return -1;
    buf_printf(w, "%s ", method);
    wire_target_and_host(w, u);
    if (!own_ua)
        buf_printf(w, "User-Agent: %s\r\n", c->user_agent);
    for (size_t i = 0; i < s->nheaders; i++)
        buf_printf(w, "%s: %s\r\n", s->headers[i].name, s->headers[i].value);
    if (s->body_len || method_has_body(method))
        buf_printf(w, "Content-Length: %zu\r\n", s->body_len);
    buf_puts(w, "Connection: keep-alive\r\n\r\n");
    if (s->body_len)
        buf_append(w, s->body, s->body_len);
    return 0;
}

/* ---- resolver ---- */

static void job_resolve(resolve_job_t *j)
{
    struct addrinfo hints = {0}, *res = NULL;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV;
    j->gai_err = getaddrinfo(j->host, j->port, &hints, &res);
    for (struct addrinfo *ai = res; ai && j->naddrs < MAX_ADDRS; ai = ai->ai_next) {
        if (ai->ai_addrlen > sizeof j->addrs[0])
            continue;
        memcpy(&j->addrs[j->naddrs++], ai->ai_addr, ai->ai_addrlen);
    }
    if (!j->gai_err && !j->naddrs)
        j->gai_err = EAI_NONAME;
    if (res)
        freeaddrinfo(res);
}

static void resolver_drop_jobs(list_t *l)
{
    list_t *n;
    while ((n = list_first(l))) {
        list_del(n);
        free(list_entry(n, resolve_job_t, link));
    }
}

static void resolver_destroy(resolver_t *rs)
{
    resolver_drop_jobs(&rs->todo);
    resolver_drop_jobs(&rs->done);
    pthread_mutex_destroy(&rs->mu);
    pthread_cond_destroy(&rs->cv);
    free(rs);
}

/* Takes the next job, waiting for one; NULL once stopping. Called with mu held. */
static resolve_job_t *resolver_next(resolver_t *rs)
{
    while (!rs->stopping && list_empty(&rs->todo)) {
        rs->idle++;
        pthread_cond_wait(&rs->cv, &rs->mu);
        rs->idle--;
    }
    if (rs->stopping)
        return NULL;
    resolve_job_t *j = list_entry(list_first(&rs->todo), resolve_job_t, link);
    list_del(&j->link);
    j->state = JOB_RUNNING;
    return j;
}

static void *resolver_main(void *arg)
{
    resolver_t *rs = arg;
    resolve_job_t *j;
    pthread_mutex_lock(&rs->mu);
    while ((j = resolver_next(rs))) {
        pthread_mutex_unlock(&rs->mu);
        job_resolve(j);
        pthread_mutex_lock(&rs->mu);
        if (rs->stopping) {
            free(j);
            break;
        }
        j->state = JOB_DONE;
        list_push_back(&rs->done, &j->link);
        loop_async_send(rs->async);
    }
    int last = --rs->refs == 0;
    pthread_mutex_unlock(&rs->mu);
    if (last)
        resolver_destroy(rs);
    return NULL;
}

/* Starts one more detached thread, signals blocked. Called with mu held. */
static int resolver_spawn(resolver_t *rs)
{
    pthread_t th;
    pthread_attr_t attr;
    sigset_t all, old;
    sigfillset(&all);
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int rc = pthread_create(&th, &attr, resolver_main, rs);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    pthread_attr_destroy(&attr);
    if (rc != 0)
        return -1;
    rs->threads++;
    rs->refs++;
    return 0;
}

static void client_on_resolved(loop_t *loop, loop_async_t *a);

static resolver_t *resolver_get(http_client_t *c)
{
    if (c->resolver)
        return c->resolver;
    if (loop_async_init(c->loop, &c->async, client_on_resolved, c) < 0)
        return NULL;
    resolver_t *rs = xcalloc(1, sizeof *rs);
    pthread_mutex_init(&rs->mu, NULL);
    pthread_cond_init(&rs->cv, NULL);
    list_init(&rs->todo);
    list_init(&rs->done);
    rs->refs = 1;
    rs->max_threads = c->cfg.resolver_threads ? c->cfg.resolver_threads : 1;
    rs->async = &c->async;
    return c->resolver = rs;
}

/* Queues a lookup for k; -1 if no thread can run it. */
static int resolver_submit(http_client_t *c, hc_conn_t *k)
{
    resolver_t *rs = resolver_get(c);
    if (!rs)
        return -1;
    resolve_job_t *j = xcalloc(1, sizeof *j);
    snprintf(j->host, sizeof j->host, "%s", k->origin->host);
    snprintf(j->port, sizeof j->port, "%u", (unsigned)k->origin->port);
    j->conn = k;
    pthread_mutex_lock(&rs->mu);
    if (rs->idle == 0 && rs->threads < rs->max_threads)
        resolver_spawn(rs);
    int ok = rs->threads > 0;
    if (ok) {
        list_push_back(&rs->todo, &j->link);
        pthread_cond_signal(&rs->cv);
    }
    pthread_mutex_unlock(&rs->mu);
    if (!ok) {
        free(j);
        return -1;
    }
    k->job = j;
    return 0;
}

static void resolver_abandon(http_client_t *c, resolve_job_t *j)
{
    resolver_t *rs = c->resolver;
    pthread_mutex_lock(&rs->mu);
    if (j->state == JOB_TODO) {
        list_del(&j->link);
        free(j);
    } else {
        j->conn = NULL;
    }
    pthread_mutex_unlock(&rs->mu);
}

static void resolver_stop(http_client_t *c)
{
    resolver_t *rs = c->resolver;
    if (!rs)
        return;
    pthread_mutex_lock(&rs->mu);
    rs->stopping = 1;
    resolver_drop_jobs(&rs->todo);
    resolver_drop_jobs(&rs->done);
    int last = --rs->refs == 0;
    pthread_cond_broadcast(&rs->cv);
    pthread_mutex_unlock(&rs->mu);
    loop_async_close(c->loop, &c->async);
    if (last)
        resolver_destroy(rs);
    c->resolver = NULL;
}

/* ---- TLS plumbing ---- */

static int sockbio_write(BIO *b, const char *in, int n)
{
    BIO_clear_retry_flags(b);
    ssize_t w = send((int)(intptr_t)BIO_get_data(b), in, (size_t)n, MSG_NOSIGNAL);
    if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
        BIO_set_retry_write(b);
    return (int)w;
}

static int sockbio_read(BIO *b, char *out, int n)
{
    BIO_clear_retry_flags(b);
    ssize_t r = recv((int)(intptr_t)BIO_get_data(b), out, (size_t)n, 0);
    if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
        BIO_set_retry_read(b);
    return (int)r;
}

static long sockbio_ctrl(BIO *b, int cmd, long num, void *ptr)
{
    (void)b;
    (void)num;
    (void)ptr;
    return cmd == BIO_CTRL_FLUSH ? 1 : 0;
}

static BIO_METHOD *sockbio_method(void)
{
    BIO_METHOD *m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "sluice-socket");
    if (m && (!BIO_meth_set_write(m, sockbio_write) || !BIO_meth_set_read(m, sockbio_read) ||
              !BIO_meth_set_ctrl(m, sockbio_ctrl))) {
        BIO_meth_free(m);
        m = NULL;
    }
    return m;
}

static SSL_CTX *tls_ctx_new(const http_client_config_t *cfg)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    if (!ctx)
        return NULL;
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
#ifdef SSL_OP_IGNORE_UNEXPECTED_EOF
    SSL_CTX_set_options(ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);
#endif
    if (!cfg->tls_verify) {
        SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
        return ctx;
    }
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    int ok = cfg->tls_ca_file ? SSL_CTX_load_verify_locations(ctx, cfg->tls_ca_file, NULL)
                              : SSL_CTX_set_default_verify_paths(ctx);
    if (!ok) {
        SSL_CTX_free(ctx);
        return NULL;
    }
    return ctx;
}

/* Why the TLS layer failed, into k->why. */
static void tls_why(hc_conn_t *k, const char *what)
{
    const http_client_t *c = k->origin->client;
    long v = c->cfg.tls_verify ? SSL_get_verify_result(k->ssl) : X509_V_OK;
    unsigned long e = ERR_peek_last_error();
    char msg[160] = "connection closed";
    if (v != X509_V_OK)
        snprintf(msg, sizeof msg, "certificate: %s", X509_verify_cert_error_string(v));
    else if (e)
        ERR_error_string_n(e, msg, sizeof msg);
    else if (errno)
        snprintf(msg, sizeof msg, "%s", strerror(errno));
    snprintf(k->why, sizeof k->why, "%s: %s", what, msg);
    ERR_clear_error();
}

/* ---- socket I/O: bytes, 0 at EOF, IO_AGAIN, or IO_ERR with io_kind/why set ---- */

static ssize_t io_errno(hc_conn_t *k, const char *what)
{
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
        return IO_AGAIN;
    k->io_kind = HTTP_CLIENT_PROTOCOL;
    snprintf(k->why, sizeof k->why, "%s: %s", what, strerror(errno));
    return IO_ERR;
}

/* The outcome of a failed SSL_read/SSL_write. */
static ssize_t io_tls(hc_conn_t *k, int r, const char *what)
{
    switch (SSL_get_error(k->ssl, r)) {
    case SSL_ERROR_WANT_READ:
        return IO_AGAIN;
    case SSL_ERROR_WANT_WRITE:
        k->tls_want_out = 1;
        return IO_AGAIN;
    case SSL_ERROR_ZERO_RETURN:
        return 0;
    case SSL_ERROR_SYSCALL:
        k->tls_ok = 0;
        if (errno == 0 && ERR_peek_error() == 0)
            return 0; /* EOF without close_notify */
        k->io_kind = HTTP_CLIENT_PROTOCOL;
        snprintf(k->why, sizeof k->why, "%s: %s", what, strerror(errno ? errno : EPIPE));
        return IO_ERR;
    default:
        k->tls_ok = 0;
        k->io_kind = HTTP_CLIENT_TLS;
        tls_why(k, what);
        return IO_ERR;
    }
}

static ssize_t conn_recv(hc_conn_t *k, char *buf, size_t n)
{
    if (!k->ssl) {
        ssize_t r = recv(k->fd, buf, n, 0);
        return r >= 0 ? r : io_errno(k, "recv");
    }
    ERR_clear_error();
    errno = 0;
    int r = SSL_read(k->ssl, buf, (int)n);
    return r > 0 ? r : io_tls(k, r, "tls read");
}

static ssize_t conn_send(hc_conn_t *k, const char *buf, size_t n)
{
    if (!k->ssl) {
        ssize_t w = send(k->fd, buf, n, MSG_NOSIGNAL);
        return w >= 0 ? w : io_errno(k, "send");
    }
    ERR_clear_error();
    errno = 0;
    int w = SSL_write(k->ssl, buf, n > INT_MAX ? INT_MAX : (int)n);
    if (w > 0)
        return w;
    ssize_t st = io_tls(k, w, "tls write");
    if (st == 0) { /* closed while we still send: the peer is gone */
        k->io_kind = HTTP_CLIENT_PROTOCOL;
        snprintf(k->why, sizeof k->why, "tls write: connection closed");
        st = IO_ERR;
    }
    return st;
}

/* ---- requests ---- */

static void req_unqueue(hc_req_t *r)
{
    if (list_linked(&r->link)) {
        list_del(&r->link);
        if (!r->refused) {
            r->client->nqueued--;
            r->origin->nqueued--;
        }
    }
}

/* Unhooks r from the client (not from a connection) and frees it. */
static void req_release(hc_req_t *r)
{
    http_client_t *c = r->client;
    hmap_del(&c->reqs, &r->id, sizeof r->id);
    list_del(&r->all);
    loop_timer_stop(c->loop, &r->timer);
    req_unqueue(r);
    r->origin->nreqs--;
    buf_free(&r->wire);
    free(r);
}

/* Runs r's callback with the outcome (resp: a complete response, or NULL)
 * and frees r. r must no longer be bound to a connection. */
static void req_finish(hc_req_t *r, http_client_err_t err, const char *detail, const http_response_t *resp)
{
    http_client_t *c = r->client;
    http_client_result_t res = {.id = r->id, .err = err, .detail = detail ? detail : "", .body = ""};
    if (resp) {
        res.status = resp->status;
        res.minor_version = resp->minor_version;
        res.reason = resp->reason;
        res.reason_len = resp->reason_len;
        res.headers = resp->headers;
        res.nheaders = resp->nheaders;
        res.body = resp->body.len ? resp->body.data : "";
        res.body_len = resp->body.len;
    }
    http_client_cb cb = r->cb;
    void *arg = r->arg;
    origin_touch(r->origin);
    req_release(r);
    c->in_callback++;
    cb(&res, arg);
    c->in_callback--;
}

static void req_on_timeout(loop_t *loop, loop_timer_t *t);

/* ---- connections ---- */

static void addr_text(const struct sockaddr_storage *sa, char *out, size_t n)
{
    char ip[INET6_ADDRSTRLEN] = "?";
    if (sa->ss_family == AF_INET6) {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)sa;
        inet_ntop(AF_INET6, &a->sin6_addr, ip, sizeof ip);
        snprintf(out, n, "[%s]:%u", ip, (unsigned)ntohs(a->sin6_port));
    } else {
        const struct sockaddr_in *a = (const struct sockaddr_in *)sa;
        inet_ntop(AF_INET, &a->sin_addr, ip, sizeof ip);
        snprintf(out, n, "%s:%u", ip, (unsigned)ntohs(a->sin_port));
    }
}

static void conn_mask(hc_conn_t *k)
{
    uint32_t ev = EPOLLIN;
    if (k->state == CONN_ACTIVE && (k->tls_want_out || (!k->wdead && k->sent < k->req->wire.len)))
        ev |= EPOLLOUT;
    loop_io_modify(k->origin->client->loop, &k->io, ev);
}

static void conn_close(hc_conn_t *k)
{
    origin_t *o = k->origin;
    http_client_t *c = o->client;
    if (k->state == CONN_CLOSED)
        return;
    if (k->job)
        resolver_abandon(c, k->job);
    if (k->state == CONN_IDLE) {
        list_del(&k->idle_link);
        c->nidle--;
    }
    loop_timer_stop(c->loop, &k->idle_timer);
    if (k->ssl) {
        if (k->tls_ok)
            SSL_shutdown(k->ssl); /* best effort close_notify; never waits */
        SSL_free(k->ssl);
    }
    if (k->fd >= 0) {
        loop_io_stop(c->loop, &k->io);
        close(k->fd);
    }
    if (k->resp_live)
        http_response_free(&k->resp);
    list_del(&k->link);
    o->nconns--;
    c->nopen--;
    k->state = CONN_CLOSED;
    origin_touch(o);
    loop_defer_free(c->loop, k);
}

/* Closes k and fails its request. Returns -1: the caller stops touching k. */
static int conn_fail(hc_conn_t *k, http_client_err_t err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int conn_fail(hc_conn_t *k, http_client_err_t err, const char *fmt, ...)
{
    char detail[DETAIL_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof detail, fmt, ap);
    va_end(ap);
    hc_req_t *r = k->req;
    k->req = NULL;
    if (r)
        r->conn = NULL;
    conn_close(k);
    if (r)
        req_finish(r, err, detail, NULL);
    return -1;
}

/* The request on k, sent on a reused connection, met a closed connection
 * before any response byte: once, it moves to a fresh connection. */
static int conn_lost(hc_conn_t *k)
{
    hc_req_t *r = k->req;
    if (k->received || !k->served || r->retried)
        return conn_fail(k, k->io_kind, "%s", k->why);
    log_debug("http_client_retry", "origin=%s served=%u", k->origin->key, k->served);
    origin_t *o = k->origin;
    k->req = NULL;
    r->conn = NULL;
    conn_close(k);
    r->retried = 1;
    o->client->retries++;
    conn_open(o, r);
    return -1;
}

static void conn_on_idle_timeout(loop_t *loop, loop_timer_t *t)
{
    (void)loop;
    conn_close(t->arg);
}

static void conn_go_idle(hc_conn_t *k)
{
    http_client_t *c = k->origin->client;
    k->state = CONN_IDLE;
    list_push_back(&k->origin->idle, &k->idle_link);
    c->nidle++;
    loop_timer_start(c->loop, &k->idle_timer, c->cfg.idle_timeout_ms);
    conn_mask(k);
    origin_touch(k->origin);
}

/* A complete response: callback, then idle or close. */
static int conn_complete(hc_conn_t *k, int extra_bytes)
{
    hc_req_t *r = k->req;
    int reuse = k->resp.keep_alive && !extra_bytes && !k->wdead && k->sent == r->wire.len &&
                (!k->ssl || k->tls_ok);
    k->req = NULL;
    r->conn = NULL;
    k->served++;
    req_finish(r, HTTP_CLIENT_OK, "", &k->resp); /* k is out of the callback's reach */
    http_response_free(&k->resp);
    k->resp_live = 0;
    if (reuse)
        conn_go_idle(k);
    else
        conn_close(k);
    return -1;
}

static int conn_resp_error(hc_conn_t *k, int e)
{
    http_client_err_t kind = e == HTTP_RESP_MALFORMED || e == HTTP_RESP_TRUNCATED ? HTTP_CLIENT_PROTOCOL
                                                                                   : HTTP_CLIENT_TOO_LARGE;
    return conn_fail(k, kind, "%s", http_resp_err_text(e));
}

static int conn_eof(hc_conn_t *k)
{
    if (http_response_eof(&k->resp) == 0)
        return conn_complete(k, 1);
    k->io_kind = HTTP_CLIENT_PROTOCOL;
    snprintf(k->why, sizeof k->why, "connection closed %s",
             k->received ? "before the response was complete" : "before any response");
    return conn_lost(k);
}

/* Reads and parses; returns 0 while the exchange goes on, -1 once it ended. */
static int conn_read(hc_conn_t *k)
{
    char buf[READ_CHUNK];
    size_t total = 0;
    for (;;) {
        ssize_t n = conn_recv(k, buf, sizeof buf);
        if (n == IO_AGAIN)
            return 0;
        if (n == 0)
            return conn_eof(k);
        if (n < 0)
            return conn_lost(k);
        k->received += (uint64_t)n;
        ssize_t used = http_response_feed(&k->resp, buf, (size_t)n);
        if (used < 0)
            return conn_resp_error(k, (int)used);
        if (k->resp.done)
            return conn_complete(k, used < n);
        total += (size_t)n;
        if (total >= READ_MAX_PER_EVENT && !(k->ssl && SSL_pending(k->ssl)))
            return 0; /* level-triggered: the rest comes next iteration */
    }
}

/* Writes what it can; returns 0, or -1 once the exchange ended. A plain
 * socket that fails to write leaves the verdict to the read side, which may
 * still hold the server's answer (an early error reply, say). */
static int conn_write(hc_conn_t *k)
{
    hc_req_t *r = k->req;
    while (!k->wdead && k->sent < r->wire.len) {
        ssize_t n = conn_send(k, r->wire.data + k->sent, r->wire.len - k->sent);
        if (n == IO_AGAIN)
            break;
        if (n < 0 && k->ssl)
            return conn_lost(k);
        if (n < 0)
            k->wdead = 1;
        else
            k->sent += (size_t)n;
    }
    return 0;
}

static void conn_active_io(hc_conn_t *k)
{
    k->tls_want_out = 0;
    if (conn_write(k) < 0 || conn_read(k) < 0)
        return;
    conn_mask(k);
}

/* Puts k's request on the wire: used once connected, and for reuse. */
static void conn_begin(hc_conn_t *k)
{
    http_client_t *c = k->origin->client;
    http_limits_t lim = {c->cfg.max_response_head, HTTP_MAX_HEADERS, c->cfg.max_response_body};
    k->state = CONN_ACTIVE;
    k->sent = 0;
    k->wdead = 0;
    k->received = 0;
    http_response_init(&k->resp, &lim, k->req->head_request);
    k->resp_live = 1;
}

static void conn_handshake(hc_conn_t *k)
{
    ERR_clear_error();
    errno = 0;
    int r = SSL_connect(k->ssl);
    if (r == 1) {
        k->tls_ok = 1;
        conn_begin(k);
        conn_active_io(k);
        return;
    }
    int e = SSL_get_error(k->ssl, r);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
        loop_io_modify(k->origin->client->loop, &k->io, e == SSL_ERROR_WANT_READ ? EPOLLIN : EPOLLOUT);
        return;
    }
    tls_why(k, "tls handshake");
    conn_fail(k, HTTP_CLIENT_TLS, "%s", k->why);
}

static void conn_tls_start(hc_conn_t *k)
{
    origin_t *o = k->origin;
    http_client_t *c = o->client;
    BIO *b = BIO_new(c->bio_meth);
    k->ssl = b ? SSL_new(c->ssl_ctx) : NULL;
    if (!k->ssl) {
        BIO_free(b);
        conn_fail(k, HTTP_CLIENT_TLS, "tls: cannot create a session");
        return;
    }
    BIO_set_data(b, (void *)(intptr_t)k->fd);
    BIO_set_init(b, 1);
    SSL_set_bio(k->ssl, b, b);
    SSL_set_connect_state(k->ssl);
    if (!o->ip_literal)
        SSL_set_tlsext_host_name(k->ssl, o->host);
    if (c->cfg.tls_verify && o->ip_literal)
        X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(k->ssl), o->host);
    else if (c->cfg.tls_verify)
        SSL_set1_host(k->ssl, o->host);
    k->state = CONN_HANDSHAKE;
    conn_handshake(k);
}

/* The non-blocking connect finished, one way or the other. */
static void conn_connected(hc_conn_t *k)
{
    int err = 0;
    socklen_t len = sizeof err;
    if (getsockopt(k->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
        err = errno;
    if (err) {
        k->last_errno = err;
        loop_io_stop(k->origin->client->loop, &k->io);
        close(k->fd);
        k->fd = -1;
        conn_connect(k); /* the next address, or the failure */
        return;
    }
    if (k->origin->https) {
        conn_tls_start(k);
        return;
    }
    conn_begin(k);
    conn_active_io(k);
}

static void conn_idle_io(hc_conn_t *k)
{
    char b[256];
    if (conn_recv(k, b, sizeof b) != IO_AGAIN) /* EOF, error, or bytes nobody asked for */
        conn_close(k);
}

static void conn_on_io(loop_t *loop, int fd, uint32_t events, void *arg)
{
    (void)loop;
    (void)fd;
    (void)events;
    hc_conn_t *k = arg;
    switch (k->state) {
    case CONN_CONNECTING:
        conn_connected(k);
        break;
    case CONN_HANDSHAKE:
        conn_handshake(k);
        break;
    case CONN_ACTIVE:
        conn_active_io(k);
        break;
    case CONN_IDLE:
        conn_idle_io(k);
        break;
    default:
        break;
    }
}

/* Starts connecting to the next address; fails the request when none is left. */
static void conn_connect(hc_conn_t *k)
{
    http_client_t *c = k->origin->client;
    while (k->next_addr < k->naddrs) {
        const struct sockaddr_storage *sa = &k->addrs[k->next_addr++];
        socklen_t len = sa->ss_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
        int one = 1, fd = socket(sa->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0) {
            k->last_errno = errno;
            continue;
        }
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        int rc = connect(fd, (const struct sockaddr *)sa, len) == 0 || errno == EINPROGRESS ? 0 : -errno;
        if (rc == 0)
            rc = loop_io_start(c->loop, &k->io, fd, EPOLLOUT, conn_on_io, k);
        if (rc == 0) {
            k->fd = fd;
            k->state = CONN_CONNECTING;
            return;
        }
        k->last_errno = -rc;
        close(fd);
    }
    char where[INET6_ADDRSTRLEN + 16] = "";
    if (k->naddrs)
        addr_text(&k->addrs[k->naddrs - 1], where, sizeof where);
    conn_fail(k, HTTP_CLIENT_CONNECT, "connect %s: %s", where, strerror(k->last_errno));
}

static void addr_set(struct sockaddr_storage *ss, int family, const void *ip, uint16_t port)
{
    memset(ss, 0, sizeof *ss);
    if (family == AF_INET6) {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)ss;
        a->sin6_family = AF_INET6;
        a->sin6_port = htons(port);
        memcpy(&a->sin6_addr, ip, sizeof a->sin6_addr);
    } else {
        struct sockaddr_in *a = (struct sockaddr_in *)ss;
        a->sin_family = AF_INET;
        a->sin_port = htons(port);
        memcpy(&a->sin_addr, ip, sizeof a->sin_addr);
    }
}

/* Literal addresses and "localhost" into k->addrs; 0 if a lookup is needed. */
static int conn_resolve_now(hc_conn_t *k)
{
    const origin_t *o = k->origin;
    struct in6_addr a6;
    struct in_addr a4;
    if (o->ipv6 && inet_pton(AF_INET6, o->host, &a6) == 1) {
        addr_set(&k->addrs[k->naddrs++], AF_INET6, &a6, o->port);
    } else if (inet_pton(AF_INET, o->host, &a4) == 1) {
        addr_set(&k->addrs[k->naddrs++], AF_INET, &a4, o->port);
    } else if (!strcasecmp(o->host, "localhost")) {
        a4.s_addr = htonl(INADDR_LOOPBACK);
        addr_set(&k->addrs[k->naddrs++], AF_INET, &a4, o->port);
        addr_set(&k->addrs[k->naddrs++], AF_INET6, &in6addr_loopback, o->port);
    }
    return k->naddrs > 0;
}

static void conn_resolved(hc_conn_t *k, const resolve_job_t *j)
{
    if (j->gai_err) {
        conn_fail(k, HTTP_CLIENT_DNS, "resolve %s: %s", k->origin->host, gai_strerror(j->gai_err));
        return;
    }
    memcpy(k->addrs, j->addrs, sizeof k->addrs);
    k->naddrs = j->naddrs;
    conn_connect(k);
}

static void client_on_resolved(loop_t *loop, loop_async_t *a)
{
    (void)loop;
    http_client_t *c = a->arg;
    resolver_t *rs = c->resolver;
    list_t done, *n;
    list_init(&done);
    pthread_mutex_lock(&rs->mu);
    while ((n = list_first(&rs->done))) {
        list_del(n);
        list_push_back(&done, n);
    }
    pthread_mutex_unlock(&rs->mu);
    while ((n = list_first(&done))) {
        resolve_job_t *j = list_entry(n, resolve_job_t, link);
        list_del(n);
        hc_conn_t *k = j->conn; /* a callback below may abandon a later job: then NULL */
        if (k) {
            k->job = NULL;
            conn_resolved(k, j);
        }
        free(j);
    }
}

/* A new connection for r, bound to it from the start. */
static void conn_open(origin_t *o, hc_req_t *r)
{
    http_client_t *c = o->client;
    hc_conn_t *k = xcalloc(1, sizeof *k);
    k->origin = o;
    k->fd = -1;
    k->io.fd = -1;
    k->state = CONN_RESOLVING;
    list_init(&k->idle_link);
    loop_timer_init(&k->idle_timer, conn_on_idle_timeout, k);
    list_push_back(&o->conns, &k->link);
    o->nconns++;
    c->nopen++;
    c->connects++;
    k->req = r;
    r->conn = k;
    if (conn_resolve_now(k))
        conn_connect(k);
    else if (resolver_submit(c, k) < 0)
        conn_fail(k, HTTP_CLIENT_DNS, "resolve %s: no resolver thread", o->host);
}

/* An idle connection takes r. */
static void conn_assign(hc_conn_t *k, hc_req_t *r)
{
    http_client_t *c = k->origin->client;
    list_del(&k->idle_link);
    c->nidle--;
    loop_timer_stop(c->loop, &k->idle_timer);
    c->reuses++;
    k->req = r;
    r->conn = k;
    conn_begin(k);
    conn_mask(k); /* EPOLLOUT: the loop reports the socket writable next */
}

/* ---- origins and scheduling ---- */

static void origin_touch(origin_t *o)
{
    http_client_t *c = o->client;
    if (!list_linked(&o->dirty_link))
        list_push_back(&c->dirty, &o->dirty_link);
    if (!loop_timer_active(&c->kick))
        loop_timer_start(c->loop, &c->kick, 0);
}

static origin_t *origin_get(http_client_t *c, const http_url_t *u)
{
    char key[300];
    int n = snprintf(key, sizeof key, "%s://%s%s%s:%u", u->https ? "https" : "http", u->host_ipv6 ? "[" : "",
                     u->host, u->host_ipv6 ? "]" : "", (unsigned)u->port);
    for (int i = 0; i < n; i++)
        key[i] = (char)((key[i] >= 'A' && key[i] <= 'Z') ? key[i] + 32 : key[i]);
    origin_t *o = hmap_get(&c->origins, key, (size_t)n);
    if (o)
        return o;
    o = xcalloc(1, sizeof *o);
    o->client = c;
    o->key = xstrdup(key);
    snprintf(o->host, sizeof o->host, "%s", u->host);
    o->port = u->port;
    o->https = u->https;
    o->ipv6 = u->host_ipv6;
    struct in_addr a4;
    o->ip_literal = u->host_ipv6 || inet_pton(AF_INET, u->host, &a4) == 1;
    list_init(&o->queue);
    list_init(&o->conns);
    list_init(&o->idle);
    list_init(&o->dirty_link);
    hmap_put(&c->origins, o->key, (size_t)n, o);
    return o;
}

static void origin_free(origin_t *o)
{
    hmap_del(&o->client->origins, o->key, strlen(o->key));
    list_del(&o->dirty_link);
    free(o->key);
    free(o);
}

/* Hands queued requests to idle connections, or to new ones up to the cap.
 * Only as many as were queued on entry: a callback that re-requests at once
 * on a synchronous failure must not keep this loop going. */
static void origin_pump(origin_t *o)
{
    http_client_t *c = o->client;
    list_t *n;
    for (size_t budget = o->nqueued; budget && (n = list_first(&o->queue)); budget--) {
        hc_req_t *r = list_entry(n, hc_req_t, link);
        list_t *idle = list_first(&o->idle);
        if (!idle && o->nconns >= c->cfg.max_conns_per_host)
            break;
        req_unqueue(r);
        if (idle)
            conn_assign(list_entry(idle, hc_conn_t, idle_link), r);
        else
            conn_open(o, r); /* a callback may run here; the loop re-reads the queue */
    }
}

/* Fails the requests refused since the last kick (their origins, which
 * they count in, are still there). Ones refused meanwhile wait. */
static void client_fail_refused(http_client_t *c)
{
    list_t batch, *n;
    list_init(&batch);
    while ((n = list_first(&c->refused))) {
        list_del(n);
        list_push_back(&batch, n);
    }
    while ((n = list_first(&batch))) {
        hc_req_t *r = list_entry(n, hc_req_t, link);
        char detail[96];
        list_del(n);
        snprintf(detail, sizeof detail, "%zu requests already wait for %s", r->origin->nqueued, r->origin->key);
        req_finish(r, HTTP_CLIENT_OVERLOADED, detail, NULL);
    }
}

/* The kick: origins touched since the last one. Origins touched while it
 * runs (by callbacks) wait for the next kick, at the next iteration. */
static void client_kick(loop_t *loop, loop_timer_t *t)
{
    (void)loop;
    http_client_t *c = t->arg;
    list_t batch, *n;
    list_init(&batch);
    client_fail_refused(c);
    while ((n = list_first(&c->dirty))) {
        list_del(n);
        list_push_back(&batch, n);
    }
    while ((n = list_first(&batch))) {
        origin_t *o = list_entry(n, origin_t, dirty_link);
        list_del(n);
        origin_pump(o);
        if (o->nreqs == 0 && o->nconns == 0)
            origin_free(o);
    }
}

/* ---- the public calls ---- */

static void req_on_timeout(loop_t *loop, loop_timer_t *t)
{
    (void)loop;
    hc_req_t *r = t->arg;
    char detail[64];
    snprintf(detail, sizeof detail, "no complete response within %llu ms", (unsigned long long)r->timeout_ms);
    if (r->conn)
        conn_fail(r->conn, HTTP_CLIENT_TIMEOUT, "%s", detail);
    else
        req_finish(r, HTTP_CLIENT_TIMEOUT, detail, NULL);
}

static int client_next_id(http_client_t *c)
{
    do {
        c->next_id = c->next_id == INT_MAX ? 1 : c->next_id + 1;
    } while (hmap_get(&c->reqs, &c->next_id, sizeof c->next_id));
    return c->next_id;
}

int http_client_request(http_client_t *c, const http_request_spec_t *spec, http_client_cb cb, void *arg)
{
    http_url_t u;
    buf_t wire = BUF_INIT;
    if (c->closing || !spec->url || !cb || http_url_parse(spec->url, strlen(spec->url), &u) < 0 ||
        wire_build(c, spec, &u, &wire) < 0) {
        buf_free(&wire);
        return -1;
    }
    origin_t *o = origin_get(c, &u);
    hc_req_t *r = xcalloc(1, sizeof *r);
    r->client = c;
    r->id = client_next_id(c);
    r->wire = wire;
    r->head_request = spec->method && !strcmp(spec->method, "HEAD");
    r->cb = cb;
    r->arg = arg;
    r->timeout_ms = spec->timeout_ms ? spec->timeout_ms : c->cfg.timeout_ms;
    r->origin = o;
    o->nreqs++;
    hmap_put(&c->reqs, &r->id, sizeof r->id, r);
    list_push_back(&c->all, &r->all);
    if (o->nqueued >= c->cfg.max_queued_per_host) {
        r->refused = 1; /* failed from the kick, like any other failure */
        list_push_back(&c->refused, &r->link);
    } else {
        list_push_back(&o->queue, &r->link);
        o->nqueued++;
        c->nqueued++;
    }
    c->requests++;
    loop_timer_init(&r->timer, req_on_timeout, r);
    loop_timer_at(c->loop, &r->timer, clock_mono_ms() + r->timeout_ms); /* not the cached now */
    origin_touch(r->origin);
    return r->id;
}

int http_client_cancel(http_client_t *c, int id)
{
    hc_req_t *r = hmap_get(&c->reqs, &id, sizeof id);
    if (!r)
        return -1;
    hc_conn_t *k = r->conn;
    if (k) {
        k->req = NULL;
        r->conn = NULL;
        conn_close(k);
    }
    origin_touch(r->origin);
    req_release(r);
    return 0;
}

static int client_tls_init(http_client_t *c)
{
    c->ssl_ctx = tls_ctx_new(&c->cfg);
    c->bio_meth = c->ssl_ctx ? sockbio_method() : NULL;
    if (c->bio_meth)
        return 0;
    char msg[160] = "";
    ERR_error_string_n(ERR_get_error(), msg, sizeof msg);
    log_error("http_client_tls", "ca_file=\"%s\" error=\"%s\"", c->ca_file ? c->ca_file : "", msg);
    return -1;
}

http_client_t *http_client_new(loop_t *loop, const http_client_config_t *cfg)
{
    http_client_t *c = xcalloc(1, sizeof *c);
    if (cfg)
        c->cfg = *cfg;
    else
        http_client_config_defaults(&c->cfg);
    c->loop = loop;
    const char *ua = c->cfg.user_agent && value_ok(c->cfg.user_agent) ? c->cfg.user_agent : "sluice";
    c->user_agent = xstrdup(ua);
    c->cfg.user_agent = c->user_agent;
    c->ca_file = c->cfg.tls_ca_file ? xstrdup(c->cfg.tls_ca_file) : NULL;
    c->cfg.tls_ca_file = c->ca_file;
    if (!c->cfg.max_conns_per_host)
        c->cfg.max_conns_per_host = 1;
    if (!c->cfg.max_queued_per_host)
        c->cfg.max_queued_per_host = 1;
    hmap_init(&c->origins);
    hmap_init(&c->reqs);
    list_init(&c->all);
    list_init(&c->dirty);
    list_init(&c->refused);
    loop_timer_init(&c->kick, client_kick, c);
    if (client_tls_init(c) < 0) {
        http_client_free(c);
        return NULL;
    }
    return c;
}

/* Closes every connection of every origin and frees the origins. */
static void client_close_origins(http_client_t *c)
{
    size_t it = 0;
    void *v;
    while (it = 0, hmap_next(&c->origins, &it, &v)) {
        origin_t *o = v;
        list_t *n;
        while ((n = list_first(&o->conns)))
            conn_close(list_entry(n, hc_conn_t, link));
        origin_free(o);
    }
}

void http_client_free(http_client_t *c)
{
    if (!c)
        return;
    if (c->in_callback)
        util_fatal("http_client_free called from an http_client callback");
    c->closing = 1;
    list_t *n;
    while ((n = list_first(&c->all))) {
        hc_req_t *r = list_entry(n, hc_req_t, all);
        hc_conn_t *k = r->conn;
        if (k) {
            k->req = NULL;
            r->conn = NULL;
            conn_close(k);
        }
        req_finish(r, HTTP_CLIENT_CANCELLED, "client freed", NULL);
    }
    client_close_origins(c);
    loop_timer_stop(c->loop, &c->kick);
    resolver_stop(c);
    SSL_CTX_free(c->ssl_ctx);
    BIO_meth_free(c->bio_meth);
    hmap_free(&c->origins);
    hmap_free(&c->reqs);
    free(c->user_agent);
    free(c->ca_file);
    loop_defer_free(c->loop, c); /* a pending event of this batch may still point into it */
}

void http_client_get_stats(const http_client_t *c, http_client_stats_t *out)
{
    out->requests = c->requests;
    out->connects = c->connects;
    out->reuses = c->reuses;
    out->retries = c->retries;
    out->open = c->nopen;
    out->idle = c->nidle;
    out->queued = c->nqueued;
    out->in_flight = c->reqs.n;
}
