/*
 * test_http_client — URL parsing, and the outbound client against a tiny
 * HTTP/1.1 server started by each test on 127.0.0.1.
 *
 * The server runs on threads with blocking sockets (an acceptor, one thread
 * per connection), so it is independent of the loop under test; every wait
 * polls with a short timeout and a stop flag, so srv_stop() always returns.
 * It counts accepts, requests and live connections (with the maximum seen),
 * and acts on the request target:
 *   /hello     200, Content-Length "hello" (no body for HEAD)
 *   /chunked   200, chunked "hello world" in three chunks
 *   /close     200, close-delimited body, then closes
 *   /echo      200, the whole request as received, as the body
 *   /slow      sleeps 100 ms, then /hello
 *   /never     no answer; waits for the client to go away
 *   /drop      closes without answering
 *   /big       200, Content-Length 2 MiB (sent while the client reads)
 *   /bigclose  200, close-delimited 2 MiB
 *   /bad       a response with an obs-folded header
 *   /interim   100 Continue, then 200 "ok"
 *   /notfound  404 "nope"
 *   /quit      200 "bye" on a keep-alive response, then closes anyway
 * Modes: drop_reused closes, unanswered, any request that is not the first
 * on its connection (a server that timed out a kept-alive connection).
 * With an SSL_CTX the server speaks TLS with a self-signed certificate for
 * localhost / 127.0.0.1 generated in memory.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "harness.h"
#include "loop_fixture.h"
#include "net/http_client.h"
#include "net/http_parser.h"
#include "util/buf.h"
#include "util/clock.h"

#define WAIT_MS 5000
#define SRV_MAX_CONNS 64
#define BIG (2 << 20)

/* ---- the test server ---- */

typedef struct srv srv_t;

typedef struct sconn {
    srv_t *s;
    int fd;
    SSL *ssl;
    pthread_t th;
    int done; /* under s->mu: the thread has closed fd */
    int served;
} sconn_t;

struct srv {
    int lfd, port;
    SSL_CTX *tls;
    pthread_t th;
    atomic_int stop, drop_reused;
    atomic_int accepts, requests, live, max_live;
    pthread_mutex_t mu;
    sconn_t *conns[SRV_MAX_CONNS];
    int nconns;
};

/* Waits until fd is readable (1) or the server stops (0). */
static int srv_wait(srv_t *s, int fd)
{
    while (!atomic_load(&s->stop)) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, 20) > 0)
            return 1;
    }
    return 0;
}

/* Appends what arrives to in; returns bytes, or <= 0 at EOF, error or stop. */
static int sconn_fill(sconn_t *k, buf_t *in)
{
    char b[16384];
    if ((!k->ssl || !SSL_pending(k->ssl)) && !srv_wait(k->s, k->fd))
        return 0;
    int n = k->ssl ? SSL_read(k->ssl, b, sizeof b) : (int)recv(k->fd, b, sizeof b, 0);
    if (n > 0)
        buf_append(in, b, (size_t)n);
    return n;
}

static void sconn_send(sconn_t *k, const char *p, size_t n)
{
    while (n > 0) {
        int w = k->ssl ? SSL_write(k->ssl, p, (int)n) : (int)send(k->fd, p, n, MSG_NOSIGNAL);
        if (w <= 0)
            return;
        p += w;
        n -= (size_t)w;
    }
}

static void sconn_puts(sconn_t *k, const char *s)
{
    sconn_send(k, s, strlen(s));
}

static void send_big(sconn_t *k, const char *head)
{
    static char chunk[65536];
    memset(chunk, 'b', sizeof chunk);
    sconn_puts(k, head);
    for (int sent = 0; sent < BIG && !atomic_load(&k->s->stop); sent += (int)sizeof chunk)
        sconn_send(k, chunk, sizeof chunk);
}

static int target_is(const http_head_t *h, const char *t)
{
    return h->target_len == strlen(t) && !memcmp(h->target, t, h->target_len);
}

/* Answers one request; returns 1 to keep the connection, 0 to close it. */
static int srv_answer(sconn_t *k, const http_head_t *h, const char *req, size_t req_len)
{
    char head[256];
    if (target_is(h, "/hello") || target_is(h, "/slow")) {
        if (target_is(h, "/slow"))
            usleep(100 * 1000);
        sconn_puts(k, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\n");
        if (h->method_len != 4 || memcmp(h->method, "HEAD", 4) != 0)
            sconn_puts(k, "hello");
    } else if (target_is(h, "/chunked")) {
        sconn_puts(k, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
        sconn_puts(k, "5\r\nhello\r\n1\r\n \r\n5;x=y\r\nworld\r\n0\r\n\r\n");
    } else if (target_is(h, "/close")) {
        sconn_puts(k, "HTTP/1.1 200 OK\r\n\r\nuntil the end");
        return 0;
    } else if (h->target_len >= 5 && !memcmp(h->target, "/echo", 5)) {
        snprintf(head, sizeof head, "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\n\r\n", req_len);
        sconn_puts(k, head);
        sconn_send(k, req, req_len);
    } else if (target_is(h, "/never")) {
        buf_t sink = BUF_INIT;
        while (sconn_fill(k, &sink) > 0)
            buf_reset(&sink);
        buf_free(&sink);
        return 0;
    } else if (target_is(h, "/drop")) {
        return 0;
    } else if (target_is(h, "/big")) {
        snprintf(head, sizeof head, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n", BIG);
        send_big(k, head);
    } else if (target_is(h, "/bigclose")) {
        send_big(k, "HTTP/1.1 200 OK\r\n\r\n");
        return 0;
    } else if (target_is(h, "/bad")) {
        sconn_puts(k, "HTTP/1.1 200 OK\r\nX-Folded: a\r\n b\r\nContent-Length: 2\r\n\r\nok");
    } else if (target_is(h, "/interim")) {
        sconn_puts(k, "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
    } else if (target_is(h, "/quit")) {
        sconn_puts(k, "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nbye");
        return 0;
    } else {
        sconn_puts(k, "HTTP/1.1 404 Not Found\r\nContent-Length: 4\r\n\r\nnope");
    }
    return 1;
}

/* Reads one request into in (head and Content-Length body); its length, or 0. */
static size_t sconn_request(sconn_t *k, buf_t *in, http_head_t *h)
{
    static const http_limits_t lim = {65536, 64, 4 << 20};
    ssize_t hl;
    while ((hl = http_parse_head(in->data, in->len, &lim, h)) == 0)
        if (sconn_fill(k, in) <= 0)
            return 0;
    if (hl < 0)
        return 0;
    size_t need = (size_t)hl + (size_t)(h->content_length > 0 ? h->content_length : 0);
    while (in->len < need)
        if (sconn_fill(k, in) <= 0)
            return 0;
    return need;
}

static void sconn_serve(sconn_t *k)
{
    srv_t *s = k->s;
    buf_t in = BUF_INIT;
    http_head_t h;
    size_t n;
    while ((n = sconn_request(k, &in, &h)) > 0) {
        atomic_fetch_add(&s->requests, 1);
        if (k->served++ && atomic_load(&s->drop_reused))
            break;
        if (!srv_answer(k, &h, in.data, n))
            break;
        buf_consume(&in, n);
    }
    buf_free(&in);
}

static void *sconn_main(void *arg)
{
    sconn_t *k = arg;
    srv_t *s = k->s;
    if (!k->ssl || SSL_accept(k->ssl) == 1)
        sconn_serve(k);
    pthread_mutex_lock(&s->mu);
    if (k->ssl) {
        SSL_shutdown(k->ssl);
        SSL_free(k->ssl);
    }
    close(k->fd);
    k->done = 1;
    atomic_fetch_sub(&s->live, 1);
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

static void srv_accept_one(srv_t *s, int fd)
{
    sconn_t *k = calloc(1, sizeof *k);
    k->s = s;
    k->fd = fd;
    if (s->tls) {
        k->ssl = SSL_new(s->tls);
        SSL_set_fd(k->ssl, fd);
    }
    int live = atomic_fetch_add(&s->live, 1) + 1;
    if (live > atomic_load(&s->max_live))
        atomic_store(&s->max_live, live);
    atomic_fetch_add(&s->accepts, 1);
    pthread_mutex_lock(&s->mu);
    s->conns[s->nconns++] = k;
    pthread_mutex_unlock(&s->mu);
    pthread_create(&k->th, NULL, sconn_main, k);
}

static void *srv_main(void *arg)
{
    srv_t *s = arg;
    while (srv_wait(s, s->lfd)) {
        int fd = accept(s->lfd, NULL, NULL);
        if (fd < 0)
            continue;
        if (s->nconns == SRV_MAX_CONNS) {
            close(fd);
            continue;
        }
        srv_accept_one(s, fd);
    }
    return NULL;
}

/* A listening socket on 127.0.0.1 and a free port; with listen 0 it is not
 * listening (a closed port: connections are refused). */
static int srv_socket(int do_listen, int *port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(fd, (struct sockaddr *)&a, sizeof a) < 0 || (do_listen && listen(fd, 64) < 0) ||
        getsockname(fd, (struct sockaddr *)&a, &len) < 0) {
        close(fd);
        return -1;
    }
    *port = ntohs(a.sin_port);
    return fd;
}

static srv_t *srv_start(SSL_CTX *tls)
{
    srv_t *s = calloc(1, sizeof *s);
    signal(SIGPIPE, SIG_IGN); /* the blocking TLS server writes with write(2) */
    s->lfd = srv_socket(1, &s->port);
    s->tls = tls;
    pthread_mutex_init(&s->mu, NULL);
    if (s->lfd < 0 || pthread_create(&s->th, NULL, srv_main, s) != 0)
        abort();
    return s;
}

static void srv_stop(srv_t *s)
{
    atomic_store(&s->stop, 1);
    pthread_join(s->th, NULL);
    pthread_mutex_lock(&s->mu);
    for (int i = 0; i < s->nconns; i++)
        if (!s->conns[i]->done)
            shutdown(s->conns[i]->fd, SHUT_RDWR);
    pthread_mutex_unlock(&s->mu);
    for (int i = 0; i < s->nconns; i++) {
        pthread_join(s->conns[i]->th, NULL);
        free(s->conns[i]);
    }
    close(s->lfd);
    if (s->tls)
        SSL_CTX_free(s->tls);
    pthread_mutex_destroy(&s->mu);
    free(s);
}

/* ---- an in-memory self-signed certificate ---- */

static X509 *make_cert(EVP_PKEY *key)
{
    X509 *x = X509_new();
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
    X509_gmtime_adj(X509_getm_notBefore(x), -3600);
    X509_gmtime_adj(X509_getm_notAfter(x), 86400);
    X509_set_pubkey(x, key);
    X509_NAME *name = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)"localhost", -1, -1, 0);
    X509_set_issuer_name(x, name);
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, x, x, NULL, NULL, 0);
    X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &ctx, NID_subject_alt_name, "DNS:localhost,IP:127.0.0.1");
    X509_add_ext(x, ext, -1);
    X509_EXTENSION_free(ext);
    X509_sign(x, key, EVP_sha256());
    return x;
}

/* A server context with a fresh key and certificate; the certificate is
 * also written to pem_path (in the test's directory) when given. */
static SSL_CTX *tls_server_ctx(const char *pem_path)
{
    EVP_PKEY *key = EVP_EC_gen("P-256");
    X509 *cert = make_cert(key);
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (!key || !cert || !ctx || SSL_CTX_use_certificate(ctx, cert) != 1 || SSL_CTX_use_PrivateKey(ctx, key) != 1)
        abort();
    if (pem_path) {
        FILE *f = fopen(pem_path, "w");
        PEM_write_X509(f, cert);
        fclose(f);
    }
    X509_free(cert);
    EVP_PKEY_free(key);
    return ctx;
}

/* ---- the client side ---- */

typedef struct got {
    int calls, id;
    http_client_err_t err;
    int status, minor;
    char reason[64];
    char detail[256];
    char body[4096];
    size_t body_len;
    char ctype[64];
    int nheaders;
} got_t;

static void on_done(const http_client_result_t *res, void *arg)
{
    got_t *g = arg;
    g->calls++;
    g->id = res->id;
    g->err = res->err;
    g->status = res->status;
    g->minor = res->minor_version;
    snprintf(g->reason, sizeof g->reason, "%.*s", (int)res->reason_len, res->reason ? res->reason : "");
    g->nheaders = (int)res->nheaders;
    snprintf(g->detail, sizeof g->detail, "%s", res->detail);
    g->body_len = res->body_len;
    memcpy(g->body, res->body, res->body_len < sizeof g->body - 1 ? res->body_len : sizeof g->body - 1);
    g->body[res->body_len < sizeof g->body - 1 ? res->body_len : sizeof g->body - 1] = '\0';
    g->ctype[0] = '\0';
    for (size_t i = 0; i < res->nheaders; i++)
        if (res->headers[i].name_len == 12 && !strncasecmp(res->headers[i].name, "content-type", 12))
            snprintf(g->ctype, sizeof g->ctype, "%.*s", (int)res->headers[i].value_len, res->headers[i].value);
}

static int got_one(void *arg)
{
    return ((got_t *)arg)->calls > 0;
}

typedef struct many {
    got_t *g;
    int n;
} many_t;

static int got_all(void *arg)
{
    many_t *m = arg;
    for (int i = 0; i < m->n; i++)
        if (!m->g[i].calls)
            return 0;
    return 1;
}

static int get(http_client_t *c, const char *method, const char *url, got_t *g)
{
    memset(g, 0, sizeof *g);
    http_request_spec_t spec = {.method = method, .url = url};
    return http_client_request(c, &spec, on_done, g);
}

/* One request, run to completion. */
static int fetch(loop_t *loop, http_client_t *c, const char *url, got_t *g)
{
    if (get(c, NULL, url, g) < 0)
        return 0;
    return run_until(loop, got_one, g, WAIT_MS);
}

static void url_of(char *out, size_t n, const char *scheme, const srv_t *s, const char *path)
{
    snprintf(out, n, "%s://127.0.0.1:%d%s", scheme, s->port, path);
}

static int client_open_is(void *arg)
{
    http_client_stats_t st;
    http_client_get_stats(arg, &st);
    return st.open == 0;
}

static int srv_idle(void *arg)
{
    return atomic_load(&((srv_t *)arg)->live) == 0;
}

typedef struct env {
    loop_t *loop;
    http_client_t *c;
    srv_t *s;
} env_t;

static void env_start(env_t *e, const http_client_config_t *cfg, SSL_CTX *tls)
{
    e->loop = loop_new();
    e->c = http_client_new(e->loop, cfg);
    e->s = srv_start(tls);
}

static void env_stop(env_t *e)
{
    http_client_free(e->c);
    srv_stop(e->s);
    loop_free(e->loop);
}

/* ---- URLs ---- */

TEST(url_parse_accepts)
{
    http_url_t u;
    const char *s = "HTTPS://Example.com:8443/a/b%20c?x=1&y=/?#frag";
    CHECK_INT(http_url_parse(s, strlen(s), &u), 0);
    CHECK_INT(u.https, 1);
    CHECK_STR(u.host, "Example.com");
    CHECK_INT(u.port, 8443);
    CHECK_INT(u.port_explicit, 1);
    CHECK_MEM(u.path, u.path_len, "/a/b%20c", 8);
    CHECK_MEM(u.query, u.query_len, "x=1&y=/?", 8);
    s = "http://10.0.0.1";
    CHECK_INT(http_url_parse(s, strlen(s), &u), 0);
    CHECK_STR(u.host, "10.0.0.1");
    CHECK_INT(u.port, 80);
    CHECK_INT(u.port_explicit, 0);
    CHECK_INT(u.path_len, 0);
    CHECK(u.query == NULL);
    s = "https://[::1]:444?q";
    CHECK_INT(http_url_parse(s, strlen(s), &u), 0);
    CHECK_STR(u.host, "::1");
    CHECK_INT(u.host_ipv6, 1);
    CHECK_INT(u.port, 444);
    CHECK_INT(u.path_len, 0);
    CHECK_MEM(u.query, u.query_len, "q", 1);
    s = "https://[2001:db8::7]/";
    CHECK_INT(http_url_parse(s, strlen(s), &u), 0);
    CHECK_INT(u.port, 443);
    CHECK_MEM(u.path, u.path_len, "/", 1);
    s = "http://my_host-1.internal.:65535/x?";
    CHECK_INT(http_url_parse(s, strlen(s), &u), 0);
    CHECK_STR(u.host, "my_host-1.internal.");
    CHECK_INT(u.port, 65535);
    CHECK_INT(u.query_len, 0);
    CHECK(u.query != NULL);
    s = "http://h/p#";
    CHECK_INT(http_url_parse(s, strlen(s), &u), 0);
    CHECK_MEM(u.path, u.path_len, "/p", 2);
}

TEST(url_parse_rejects_garbage)
{
    static const char *bad[] = {
        "",
        "http",
        "http://",
        "http:///path",
        "ftp://host/",
        "http:/host/",
        "httpx://host/",
        "http://user@host/",
        "http://user:pw@host/",
        "http://host:/",
        "http://host:0/",
        "http://host:65536/",
        "http://host:123456/",
        "http://host:80x/",
        "http://host:-1/",
        "http://ho st/",
        "http://h%41st/",
        "http://host/a b",
        "http://host/a\tb",
        "http://host/\x7f",
        "http://host/\xc3\xa9",
        "http://host/?q=\x01",
        "http://host/#a b",
        "http://[::1/",
        "http://[::1]x/",
        "http://[]/",
        "http://[::1%eth0]/",
        "http://[1.2.3.4]/",
        "http://1.2.3/",
        "http://300.1.1.1/",
        "http://80/",
        "http://host:80:81/",
        "http://[::1]:/",
        " http://host/",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        http_url_t u;
        if (http_url_parse(bad[i], strlen(bad[i]), &u) != -1)
            harness_fail(__FILE__, __LINE__, "accepted \"%s\"", bad[i]);
    }
    http_url_t u;
    CHECK_INT(http_url_parse("http://host/\0x", 14, &u), -1); /* NUL inside */
    CHECK_INT(http_url_parse("http://[::1\0]/", 14, &u), -1);
    CHECK_INT(http_url_parse("http://ho\0st/", 13, &u), -1);
    char longname[300];
    memset(longname, 'a', sizeof longname);
    memcpy(longname, "http://", 7);
    CHECK_INT(http_url_parse(longname, 7 + 254, &u), -1);
    CHECK_INT(http_url_parse(longname, 7 + 253, &u), 0);
    char *huge = malloc(HTTP_URL_MAX + 2);
    memset(huge, 'a', HTTP_URL_MAX + 1);
    memcpy(huge, "http://h/", 9);
    CHECK_INT(http_url_parse(huge, HTTP_URL_MAX, &u), 0);
    CHECK_INT(http_url_parse(huge, HTTP_URL_MAX + 1, &u), -1);
    free(huge);
}

/* ---- requests and responses ---- */

TEST(simple_200_with_body)
{
    env_t e;
    env_start(&e, NULL, NULL);
    char url[128];
    got_t g;
    url_of(url, sizeof url, "http", e.s, "/hello");
    CHECK(fetch(e.loop, e.c, url, &g));
    CHECK_INT(g.calls, 1);
    CHECK_INT(g.err, HTTP_CLIENT_OK);
    CHECK_INT(g.status, 200);
    CHECK_STR(g.body, "hello");
    CHECK_STR(g.ctype, "text/plain");
    CHECK_STR(g.detail, "");
    http_client_stats_t st;
    http_client_get_stats(e.c, &st);
    CHECK_INT(st.requests, 1);
    CHECK_INT(st.connects, 1);
    CHECK_INT(st.in_flight, 0);
    CHECK_INT(st.idle, 1);
    env_stop(&e);
}

TEST(request_wire_format)
{
    env_t e;
    http_client_config_t cfg;
    http_client_config_defaults(&cfg);
    cfg.user_agent = "test-agent/1";
    env_start(&e, &cfg, NULL);
    char url[128], want[512];
    url_of(url, sizeof url, "http", e.s, "/echo?x=1#dropped");
    http_client_header_t hdrs[] = {{"X-Custom", "v 1"}, {"Content-Type", "application/json"}};
    http_request_spec_t spec = {.method = "POST", .url = url, .headers = hdrs, .nheaders = 2, .body = "{\"a\":1}",
                                .body_len = 7};
    got_t g = {0};
    CHECK(http_client_request(e.c, &spec, on_done, &g) > 0);
    CHECK(run_until(e.loop, got_one, &g, WAIT_MS));
    snprintf(want, sizeof want,
             "POST /echo?x=1 HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUser-Agent: test-agent/1\r\nX-Custom: v 1\r\n"
             "Content-Type: application/json\r\nContent-Length: 7\r\nConnection: keep-alive\r\n\r\n{\"a\":1}",
             e.s->port);
    CHECK_STR(g.body, want);
    /* GET: no Content-Length; a caller's User-Agent replaces the configured one */
    http_client_header_t ua[] = {{"user-agent", "mine"}};
    http_request_spec_t spec2 = {.url = url, .headers = ua, .nheaders = 1};
    memset(&g, 0, sizeof g);
    CHECK(http_client_request(e.c, &spec2, on_done, &g) > 0);
    CHECK(run_until(e.loop, got_one, &g, WAIT_MS));
    snprintf(want, sizeof want,
             "GET /echo?x=1 HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nuser-agent: mine\r\nConnection: keep-alive\r\n\r\n",
             e.s->port);
    CHECK_STR(g.body, want);
    env_stop(&e);
}

TEST(content_length_chunked_and_close_delimited)
{
    env_t e;
    env_start(&e, NULL, NULL);
    char url[128];
    got_t g;
    url_of(url, sizeof url, "http", e.s, "/chunked");
    CHECK(fetch(e.loop, e.c, url, &g));
    CHECK_INT(g.err, HTTP_CLIENT_OK);
    CHECK_STR(g.body, "hello world");
    url_of(url, sizeof url, "http", e.s, "/close");
    CHECK(fetch(e.loop, e.c, url, &g));
    CHECK_INT(g.err, HTTP_CLIENT_OK);
    CHECK_STR(g.body, "until the end");
    CHECK(fetch(e.loop, e.c, url, &g)); /* a close-delimited response ends its connection */
    CHECK_STR(g.body, "until the end");
    url_of(url, sizeof url, "http", e.s, "/hello");
    CHECK(fetch(e.loop, e.c, url, &g));
    CHECK_STR(g.body, "hello");
    CHECK_INT(atomic_load(&e.s->accepts), 3); /* chunked, close, close; hello reuses the first */
    env_stop(&e);
}

TEST(status_and_interim_responses_pass_through)
{
    env_t e;
    env_start(&e, NULL, NULL);
    char url[128];
    got_t g;
    url_of(url, sizeof url, "http", e.s, "/notfound");
    CHECK(fetch(e.loop, e.c, url, &g));
    CHECK_INT(g.err, HTTP_CLIENT_OK);
    CHECK_INT(g.status, 404);
    CHECK_STR(g.reason, "Not Found");
    CHECK_INT(g.minor, 1);
    CHECK_STR(g.body, "nope");
    url_of(url, sizeof url, "http", e.s, "/interim");
    CHECK(fetch(e.loop, e.c, url, &g));
    CHECK_INT(g.err, HTTP_CLIENT_OK);
    CHECK_INT(g.status, 200);
    CHECK_STR(g.body, "ok");
    CHECK_INT(atomic_load(&e.s->accepts), 1);
    env_stop(&e);
}

TEST(head_request_has_no_body_and_keeps_the_connection)
{
    env_t e;
    env_start(&e, NULL, NULL);
    char url[128];
    got_t g;
    url_of(url, sizeof url, "http", e.s, "/hello");
    CHECK(get(e.c, "HEAD", url, &g) > 0);
    CHECK(run_until(e.loop, got_one, &g, WAIT_MS));
    CHECK_INT(g.err, HTTP_CLIENT_OK);
    CHECK_INT(g.status, 200);
    CHECK_INT(g.body_len, 0);
    CHECK(fetch(e.loop, e.c, url, &g));
    CHECK_STR(g.body, "hello");
    CHECK_INT(atomic_load(&e.s->accepts), 1);
    env_stop(&e);
}

/* ---- connection reuse, cap, queueing ---- */

TEST(keep_alive_reuses_one_connection)
{
    env_t e;
    env_start(&e, NULL, NULL);
    char url[128];
    got_t g;
    url_of(url, sizeof url, "http", e.s, "/hello");
    for (int i = 0; i < 3; i++) {
        CHECK(fetch(e.loop, e.c, url, &g));
        CHECK_INT(g.err, HTTP_CLIENT_OK);
    }
    CHECK_INT(atomic_load(&e.s->accepts), 1);
    CHECK_INT(atomic_load(&e.s->requests), 3);
    http_client_stats_t st;
    http_client_get_stats(e.c, &st);
    CHECK_INT(st.connects, 1);
    CHECK_INT(st.reuses, 2);
    CHECK_INT(st.retries, 0);
    env_stop(&e);
}

/* A request issued from a callback goes out on the connection just freed. */
typedef struct chain {
    http_client_t *c;
    const char *url;
    int left;
    got_t g;
} chain_t;

static void chain_done(const http_client_result_t *res, void *arg)
{
    chain_t *ch = arg;
    on_done(res, &ch->g);
    if (res->err == HTTP_CLIENT_OK && --ch->left > 0) {
        http_request_spec_t spec = {.url = ch->url};
        ch->g.calls = http_client_request(ch->c, &spec, chain_done, ch) > 0 ? 0 : -1;
    }
}

static int chain_finished(void *arg)
{
    return ((chain_t *)arg)->left == 0 || ((chain_t *)arg)->g.calls < 0 ||
           ((chain_t *)arg)->g.err != HTTP_CLIENT_OK;
}

TEST(requests_from_callbacks_reuse_the_connection)
{
    env_t e;
    env_start(&e, NULL, NULL);
    char url[128];
    url_of(url, sizeof url, "http", e.s, "/hello");
    chain_t ch = {.c = e.c, .url = url, .left = 5};
    http_request_spec_t spec = {.url = url};
    CHECK(http_client_request(e.c, &spec, chain_done, &ch) > 0);
    CHECK(run_until(e.loop, chain_finished, &ch, WAIT_MS));
    CHECK_INT(ch.left, 0);
    CHECK_INT(ch.g.err, HTTP_CLIENT_OK);
    CHECK_INT(atomic_load(&e.s->accepts), 1);
    CHECK_INT(atomic_load(&e.s->requests), 5);
    env_stop(&e);
}

static int two_open(void *arg)
{
    http_client_stats_t st;
    http_client_get_stats(arg, &st);
    return st.open == 2;
}

static int srv_got_request(void *arg)
{
    return atomic_load(&((srv_t *)arg)->requests) > 0;
}

TEST(per_host_cap_queues_the_rest)
{
    env_t e;
    http_client_config_t cfg;
    http_client_config_defaults(&cfg);
    cfg.max_conns_per_host = 2;
    env_start(&e, &cfg, NULL);
    char url[128];
    url_of(url, sizeof url, "http", e.s, "/slow");
    got_t g[6];
    for (int i = 0; i < 6; i++)
        CHECK(get(e.c, NULL, url, &g[i]) > 0);
    http_client_stats_t st;
    CHECK(run_until(e.loop, two_open, e.c, WAIT_MS)); /* at the first dispatch */
    http_client_get_stats(e.c, &st);
    CHECK_INT(st.open, 2);
    CHECK_INT(st.queued, 4);
    CHECK_INT(st.in_flight, 6);
    many_t m = {g, 6};
    CHECK(run_until(e.loop, got_all, &m, WAIT_MS));
    for (int i = 0; i < 6; i++) {
        CHECK_INT(g[i].err, HTTP_CLIENT_OK);
        CHECK_STR(g[i].body, "hello");
    }
    CHECK_INT(atomic_load(&e.s->accepts), 2);
    CHECK_INT(atomic_load(&e.s->max_live), 2);
    http_client_get_stats(e.c, &st);
    CHECK_INT(st.connects, 2);
    CHECK_INT(st.reuses, 4);
    CHECK_INT(st.queued, 0);
    /* a second origin (same server, other host spelling) has its own cap */
    char url2[128];
    snprintf(url2, sizeof url2, "http://localhost:%d/slow", e.s->port);
    for (int i = 0; i < 3; i++)
        CHECK(get(e.c, NULL, i < 2 ? url2 : url, &g[i]) > 0);
    m.n = 3;
    CHECK(run_until(e.loop, got_all, &m, WAIT_MS));
    CHECK_INT(atomic_load(&e.s->accepts), 4);
    env_stop(&e);
}

TEST(idle_connections_close_after_the_idle_timeout)
{
    env_t e;
    http_client_config_t cfg;
    http_client_config_defaults(&cfg);
    cfg.idle_timeout_ms = 50;
    env_start(&e, &cfg, NULL);
    char url[128];
    got_t g;
    url_of(url, sizeof url, "http", e.s, "/hello");
    CHECK(fetch(e.loop, e.c, url, &g));
    CHECK_INT(atomic_load(&e.s->live), 1);
    CHECK(run_until(e.loop, client_open_is, e.c, WAIT_MS));
    CHECK(run_until(e.loop, srv_idle, e.s, WAIT_MS)); /* the server saw the close */
    CHECK(fetch(e.loop, e.c, url, &g));
    CHECK_INT(g.err, HTTP_CLIENT_OK);
    CHECK_INT(atomic_load(&e.s->accepts), 2);
    env_stop(&e);
}

TEST(server_closing_an_idle_connection_is_noticed)
{
    env_t e;
    env_start(&e, NULL, NULL);
    char url[128];
    got_t g;
    url_of(url, sizeof url, "http", e.s, "/quit");
    CHECK(fetch(e.loop, e.c, url, &g));
    CHECK_STR(g.body, "bye");
    CHECK(run_until(e.loop, client_open_is, e.c, WAIT_MS));
    url_of(url, sizeof url, "http", e.s, "/hello");
    CHECK(fetch(e.loop, e.c, url, &g));
    CHECK_INT(g.err, HTTP_CLIENT_OK);
    http_client_stats_t st;
    http_client_get_stats(e.c, &st);
    CHECK_INT(st.retries, 0);
    CHECK_INT(st.connects, 2);
    env_stop(&e);
}

TEST(reused_connection_closed_by_server_is_retried_once)
{
    env_t e;
    env_start(&e, NULL, NULL);
    atomic_store(&e.s->drop_reused, 1);
    char url[128];
    got_t g;
    url_of(url, sizeof url, "http", e.s, "/hello");
    CHECK(fetch(e.loop, e.c, url, &g));
    CHECK_INT(g.err, HTTP_CLIENT_OK);
    CHECK(fetch(e.loop, e.c, url, &g)); /* sent on the kept-alive connection, dropped, retried */
    CHECK_INT(g.err, HTTP_CLIENT_OK);
    CHECK_STR(g.body, "hello");
    CHECK_INT(atomic_load(&e.s->accepts), 2);
    CHECK_INT(atomic_load(&e.s->requests), 3);
    http_client_stats_t st;
    http_client_get_stats(e.c, &st);
    CHECK_INT(st.retries, 1);
    CHECK_INT(st.reuses, 1);
    env_stop(&e);
}

TEST(retry_happens_once_and_only_on_reused_connections)
{
    env_t e;
    env_start(&e, NULL, NULL);
    char url[128];
    got_t g;
    url_of(url, sizeof url, "http", e.s, "/drop");
    CHECK(fetch(e.loop, e.c, url, &g)); /* fresh connection: no retry */
    CHECK_INT(g.err, HTTP_CLIENT_PROTOCOL);
    CHECK_INT(g.status, 0);
    CHECK_INT(atomic_load(&e.s->accepts), 1);
    url_of(url, sizeof url, "http", e.s, "/hello");
    CHECK(fetch(e.loop, e.c, url, &g));
    CHECK_INT(g.err, HTTP_CLIENT_OK);
    url_of(url, sizeof url, "http", e.s, "/drop");
    CHECK(fetch(e.loop, e.c, url, &g)); /* reused, dropped; retried fresh, dropped again: fails */
    CHECK_INT(g.err, HTTP_CLIENT_PROTOCOL);
    CHECK_INT(atomic_load(&e.s->accepts), 3);
    http_client_stats_t st;
    http_client_get_stats(e.c, &st);
    CHECK_INT(st.retries, 1);
    env_stop(&e);
}

TEST(queue_limit_per_origin)
{
    env_t e;
    http_client_config_t cfg;
    http_client_config_defaults(&cfg);
    cfg.max_conns_per_host = 1;
    cfg.max_queued_per_host = 2;
    env_start(&e, &cfg, NULL);
    char url[128];
    url_of(url, sizeof url, "http", e.s, "/slow");
    got_t g[5];
    CHECK(get(e.c, NULL, url, &g[0]) > 0);
    CHECK(get(e.c, NULL, url, &g[1]) > 0);
    CHECK(get(e.c, NULL, url, &g[2]) > 0); /* the first two still wait for the first kick */
    CHECK_INT(g[2].calls, 0);              /* and the refusal comes from the loop */
    CHECK(run_until(e.loop, got_one, &g[2], WAIT_MS));
    CHECK_INT(g[2].err, HTTP_CLIENT_OVERLOADED);
    CHECK_INT(g[2].status, 0);
    CHECK(strstr(g[2].detail, "2 requests already wait") != NULL);
    CHECK(get(e.c, NULL, url, &g[3]) > 0); /* one is on the connection now: room for one */
    CHECK(get(e.c, NULL, url, &g[4]) > 0);
    many_t m = {g, 5};
    CHECK(run_until(e.loop, got_all, &m, WAIT_MS));
    CHECK_INT(g[0].err, HTTP_CLIENT_OK);
    CHECK_INT(g[1].err, HTTP_CLIENT_OK);
    CHECK_INT(g[3].err, HTTP_CLIENT_OK);
    CHECK_INT(g[4].err, HTTP_CLIENT_OVERLOADED);
    CHECK_INT(atomic_load(&e.s->requests), 3);
    http_client_stats_t st;
    http_client_get_stats(e.c, &st);
    CHECK_INT(st.in_flight, 0);
    CHECK_INT(st.requests, 5);
    env_stop(&e);
}

/* ---- failures ---- */

TEST(connection_refused)
{
    loop_t *loop = loop_new();
    http_client_t *c = http_client_new(loop, NULL);
    int port;
    int fd = srv_socket(0, &port); /* bound, not listening */
    CHECK(fd >= 0);
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/", port);
    got_t g;
    CHECK(get(c, NULL, url, &g) > 0);
    CHECK_INT(g.calls, 0); /* never from inside http_client_request */
    CHECK(run_until(loop, got_one, &g, WAIT_MS));
    CHECK_INT(g.err, HTTP_CLIENT_CONNECT);
    CHECK_INT(g.status, 0);
    CHECK(strstr(g.detail, "refused") != NULL);
    CHECK_INT(g.body_len, 0);
    http_client_stats_t st;
    http_client_get_stats(c, &st);
    CHECK_INT(st.open, 0);
    close(fd);
    http_client_free(c);
    loop_free(loop);
}

/* A callback that re-requests at once on failure must not keep the loop
 * inside one dispatch pass: the loop's own timers still run. */
typedef struct hammer {
    http_client_t *c;
    char url[128];
    int failures;
} hammer_t;

static void hammer_done(const http_client_result_t *res, void *arg)
{
    hammer_t *h = arg;
    if (res->err != HTTP_CLIENT_CONNECT)
        return;
    h->failures++;
    http_request_spec_t spec = {.url = h->url};
    http_client_request(h->c, &spec, hammer_done, h);
}

TEST(immediate_re_requests_do_not_starve_the_loop)
{
    loop_t *loop = loop_new();
    hammer_t h = {.c = http_client_new(loop, NULL)};
    int port, fd = srv_socket(0, &port);
    snprintf(h.url, sizeof h.url, "http://127.0.0.1:%d/", port);
    http_request_spec_t spec = {.url = h.url};
    CHECK(http_client_request(h.c, &spec, hammer_done, &h) > 0);
    uint64_t t0 = clock_mono_ms();
    run_until(loop, never, NULL, 100); /* returns: the deadline timer got its turn */
    CHECK(clock_mono_ms() - t0 < 2000);
    CHECK(h.failures > 1);
    http_client_free(h.c); /* the last one ends CANCELLED, which does not re-request */
    close(fd);
    loop_free(loop);
}

TEST(timeout_when_the_server_never_answers)
{
    env_t e;
    env_start(&e, NULL, NULL);
    char url[128];
    url_of(url, sizeof url, "http", e.s, "/never");
    got_t g = {0};
    http_request_spec_t spec = {.url = url, .timeout_ms = 150};
    uint64_t t0 = clock_mono_ms();
    CHECK(http_client_request(e.c, &spec, on_done, &g) > 0);
    CHECK(run_until(e.loop, got_one, &g, WAIT_MS));
    uint64_t took = clock_mono_ms() - t0;
    CHECK_INT(g.err, HTTP_CLIENT_TIMEOUT);
    CHECK_INT(g.status, 0);
    CHECK(took >= 150 && took < 2000);
    http_client_stats_t st;
    http_client_get_stats(e.c, &st);
    CHECK_INT(st.open, 0);
    CHECK(run_until(e.loop, srv_idle, e.s, WAIT_MS));
    env_stop(&e);
}

TEST(response_too_large)
{
    env_t e;
    env_start(&e, NULL, NULL);
    char url[128];
    got_t g;
    url_of(url, sizeof url, "http", e.s, "/big");
    CHECK(fetch(e.loop, e.c, url, &g));
    CHECK_INT(g.err, HTTP_CLIENT_TOO_LARGE);
    CHECK_INT(g.status, 0);
    url_of(url, sizeof url, "http", e.s, "/bigclose");
    CHECK(fetch(e.loop, e.c, url, &g));
    CHECK_INT(g.err, HTTP_CLIENT_TOO_LARGE);
    http_client_free(e.c);
    /* and a head over the limit */
    http_client_config_t cfg;
    http_client_config_defaults(&cfg);
    cfg.max_response_head = 40;
    e.c = http_client_new(e.loop, &cfg);
    url_of(url, sizeof url, "http", e.s, "/hello");
    CHECK(fetch(e.loop, e.c, url, &g));
    CHECK_INT(g.err, HTTP_CLIENT_TOO_LARGE);
    env_stop(&e);
}

TEST(large_body_within_the_limit)
{
    env_t e;
    http_client_config_t cfg;
    http_client_config_defaults(&cfg);
    cfg.max_response_body = BIG;
    env_start(&e, &cfg, NULL);
    char url[128];
    url_of(url, sizeof url, "http", e.s, "/big");
    got_t g;
    CHECK(fetch(e.loop, e.c, url, &g));
    CHECK_INT(g.err, HTTP_CLIENT_OK);
    CHECK_INT(g.body_len, BIG);
    env_stop(&e);
}

TEST(malformed_response_is_a_protocol_error)
{
    env_t e;
    env_start(&e, NULL, NULL);
    char url[128];
    got_t g;
    url_of(url, sizeof url, "http", e.s, "/bad");
    CHECK(fetch(e.loop, e.c, url, &g));
    CHECK_INT(g.err, HTTP_CLIENT_PROTOCOL);
    CHECK_INT(g.status, 0);
    CHECK(strstr(g.detail, "malformed") != NULL);
    http_client_stats_t st;
    http_client_get_stats(e.c, &st);
    CHECK_INT(st.open, 0);
    env_stop(&e);
}

TEST(bad_requests_fail_synchronously)
{
    loop_t *loop = loop_new();
    http_client_t *c = http_client_new(loop, NULL);
    got_t g = {0};
    http_request_spec_t spec = {.url = "http://exa mple.com/"};
    CHECK_INT(http_client_request(c, &spec, on_done, &g), -1);
    spec.url = "http://example.com/";
    spec.method = "GE T";
    CHECK_INT(http_client_request(c, &spec, on_done, &g), -1);
    spec.method = "GET";
    http_client_header_t h1[] = {{"Content-Length", "5"}};
    spec.headers = h1;
    spec.nheaders = 1;
    CHECK_INT(http_client_request(c, &spec, on_done, &g), -1);
    http_client_header_t h2[] = {{"X-A", "a\r\nX-Injected: 1"}};
    spec.headers = h2;
    CHECK_INT(http_client_request(c, &spec, on_done, &g), -1);
    http_client_header_t h3[] = {{"X A", "a"}};
    spec.headers = h3;
    CHECK_INT(http_client_request(c, &spec, on_done, &g), -1);
    run_until(loop, never, NULL, 20);
    CHECK_INT(g.calls, 0);
    http_client_stats_t st;
    http_client_get_stats(c, &st);
    CHECK_INT(st.requests, 0);
    http_client_free(c);
    loop_free(loop);
}

/* ---- names ---- */

TEST(dns_failure)
{
    loop_t *loop = loop_new();
    http_client_t *c = http_client_new(loop, NULL);
    got_t g;
    CHECK(get(c, NULL, "http://nonexistent.invalid/", &g) > 0);
    CHECK(run_until(loop, got_one, &g, 20000));
    CHECK_INT(g.err, HTTP_CLIENT_DNS);
    CHECK(strstr(g.detail, "nonexistent.invalid") != NULL);
    http_client_free(c);
    loop_free(loop);
}

TEST(localhost_resolves_without_a_thread)
{
    env_t e;
    env_start(&e, NULL, NULL);
    char url[128];
    snprintf(url, sizeof url, "http://LocalHost:%d/hello", e.s->port);
    got_t g;
    CHECK(fetch(e.loop, e.c, url, &g));
    CHECK_INT(g.err, HTTP_CLIENT_OK);
    CHECK_STR(g.body, "hello");
    env_stop(&e);
}

/* The machine's own name, when it resolves to loopback, goes through the
 * resolver threads; otherwise there is nothing to test here. */
TEST(names_resolve_on_the_resolver_threads)
{
    char name[256];
    struct addrinfo hints = {.ai_family = AF_INET, .ai_socktype = SOCK_STREAM}, *res = NULL;
    if (gethostname(name, sizeof name) != 0 || getaddrinfo(name, NULL, &hints, &res) != 0)
        return;
    int loopback = ((struct sockaddr_in *)res->ai_addr)->sin_addr.s_addr == htonl(INADDR_LOOPBACK);
    freeaddrinfo(res);
    if (!loopback || !strcasecmp(name, "localhost"))
        return;
    env_t e;
    env_start(&e, NULL, NULL);
    char url[512];
    snprintf(url, sizeof url, "http://%s:%d/hello", name, e.s->port);
    got_t g[3];
    for (int i = 0; i < 3; i++)
        CHECK(get(e.c, NULL, url, &g[i]) > 0);
    many_t m = {g, 3};
    CHECK(run_until(e.loop, got_all, &m, WAIT_MS));
    for (int i = 0; i < 3; i++)
        CHECK_INT(g[i].err, HTTP_CLIENT_OK);
    env_stop(&e);
}

/* A lookup abandoned (cancel, then free) while a thread may hold it. */
TEST(cancel_and_free_during_resolution)
{
    loop_t *loop = loop_new();
    http_client_t *c = http_client_new(loop, NULL);
    got_t g[4];
    int id0 = get(c, NULL, "http://nonexistent.invalid/a", &g[0]);
    CHECK(id0 > 0);
    CHECK(get(c, NULL, "http://also-nonexistent.invalid/b", &g[1]) > 0);
    run_until(loop, never, NULL, 0); /* one iteration: the lookups are handed to the threads */
    CHECK_INT(http_client_cancel(c, id0), 0);
    http_client_free(c);
    CHECK_INT(g[0].calls, 0);
    CHECK_INT(g[1].calls, 1);
    CHECK_INT(g[1].err, HTTP_CLIENT_CANCELLED);
    run_until(loop, never, NULL, 20);
    loop_free(loop);
}

/* ---- cancel and free ---- */

TEST(cancel_in_flight_and_queued)
{
    env_t e;
    http_client_config_t cfg;
    http_client_config_defaults(&cfg);
    cfg.max_conns_per_host = 1;
    env_start(&e, &cfg, NULL);
    char url[128], slow[128];
    url_of(url, sizeof url, "http", e.s, "/never");
    url_of(slow, sizeof slow, "http", e.s, "/slow");
    got_t g[3];
    int id = get(e.c, NULL, url, &g[0]);
    CHECK(id > 0);
    CHECK(run_until(e.loop, srv_got_request, e.s, WAIT_MS));
    CHECK_INT(http_client_cancel(e.c, id), 0);
    CHECK_INT(http_client_cancel(e.c, id), -1);
    CHECK_INT(http_client_cancel(e.c, 12345), -1);
    CHECK(run_until(e.loop, srv_idle, e.s, WAIT_MS)); /* the connection was closed */
    /* one in flight, one queued behind it (cap 1): cancel the queued one */
    CHECK(get(e.c, NULL, slow, &g[1]) > 0);
    int queued = get(e.c, NULL, slow, &g[2]);
    CHECK(queued > 0);
    run_until(e.loop, never, NULL, 20);
    CHECK_INT(http_client_cancel(e.c, queued), 0);
    CHECK(run_until(e.loop, got_one, &g[1], WAIT_MS));
    CHECK_INT(g[1].err, HTTP_CLIENT_OK);
    run_until(e.loop, never, NULL, 150);
    CHECK_INT(g[0].calls, 0);
    CHECK_INT(g[2].calls, 0);
    CHECK_INT(atomic_load(&e.s->requests), 2);
    CHECK_INT(http_client_cancel(e.c, g[1].id), -1); /* completed */
    http_client_stats_t st;
    http_client_get_stats(e.c, &st);
    CHECK_INT(st.in_flight, 0);
    env_stop(&e);
}

TEST(free_cancels_outstanding_requests)
{
    env_t e;
    http_client_config_t cfg;
    http_client_config_defaults(&cfg);
    cfg.max_conns_per_host = 1;
    env_start(&e, &cfg, NULL);
    char url[128];
    url_of(url, sizeof url, "http", e.s, "/never");
    got_t g[2];
    CHECK(get(e.c, NULL, url, &g[0]) > 0);
    CHECK(get(e.c, NULL, url, &g[1]) > 0); /* queued */
    run_until(e.loop, never, NULL, 30);
    http_client_free(e.c);
    for (int i = 0; i < 2; i++) {
        CHECK_INT(g[i].calls, 1);
        CHECK_INT(g[i].err, HTTP_CLIENT_CANCELLED);
        CHECK_INT(g[i].status, 0);
    }
    run_until(e.loop, never, NULL, 10);
    e.c = NULL;
    srv_stop(e.s);
    loop_free(e.loop);
}

TEST(error_names)
{
    CHECK_STR(http_client_err_name(HTTP_CLIENT_OK), "OK");
    CHECK_STR(http_client_err_name(HTTP_CLIENT_TOO_LARGE), "TOO_LARGE");
    CHECK_STR(http_client_err_name(HTTP_CLIENT__COUNT), "UNKNOWN");
    CHECK_STR(http_client_err_text(HTTP_CLIENT_TIMEOUT), "request timed out");
}

/* ---- https ---- */

TEST(https_with_verification_disabled)
{
    env_t e;
    http_client_config_t cfg;
    http_client_config_defaults(&cfg);
    cfg.tls_verify = 0;
    env_start(&e, &cfg, tls_server_ctx(NULL));
    char url[128];
    got_t g;
    url_of(url, sizeof url, "https", e.s, "/hello");
    CHECK(fetch(e.loop, e.c, url, &g));
    CHECK_INT(g.err, HTTP_CLIENT_OK);
    CHECK_STR(g.body, "hello");
    url_of(url, sizeof url, "https", e.s, "/chunked");
    CHECK(fetch(e.loop, e.c, url, &g));
    CHECK_STR(g.body, "hello world");
    url_of(url, sizeof url, "https", e.s, "/echo");
    CHECK(fetch(e.loop, e.c, url, &g));
    CHECK(strstr(g.body, "GET /echo HTTP/1.1\r\n") == g.body);
    CHECK_INT(atomic_load(&e.s->accepts), 1); /* kept alive across all three */
    url_of(url, sizeof url, "https", e.s, "/big");
    CHECK(fetch(e.loop, e.c, url, &g));
    CHECK_INT(g.err, HTTP_CLIENT_TOO_LARGE);
    url_of(url, sizeof url, "https", e.s, "/close");
    CHECK(fetch(e.loop, e.c, url, &g));
    CHECK_INT(g.err, HTTP_CLIENT_OK);
    CHECK_STR(g.body, "until the end");
    env_stop(&e);
}

TEST(https_retry_on_a_reused_connection)
{
    env_t e;
    http_client_config_t cfg;
    http_client_config_defaults(&cfg);
    cfg.tls_verify = 0;
    env_start(&e, &cfg, tls_server_ctx(NULL));
    atomic_store(&e.s->drop_reused, 1);
    char url[128];
    got_t g;
    url_of(url, sizeof url, "https", e.s, "/hello");
    CHECK(fetch(e.loop, e.c, url, &g));
    CHECK(fetch(e.loop, e.c, url, &g));
    CHECK_INT(g.err, HTTP_CLIENT_OK);
    CHECK_INT(atomic_load(&e.s->accepts), 2);
    env_stop(&e);
}

TEST(https_verification_rejects_a_self_signed_certificate)
{
    env_t e;
    env_start(&e, NULL, tls_server_ctx(NULL));
    char url[128];
    got_t g;
    url_of(url, sizeof url, "https", e.s, "/hello");
    CHECK(fetch(e.loop, e.c, url, &g));
    CHECK_INT(g.err, HTTP_CLIENT_TLS);
    CHECK_INT(g.status, 0);
    CHECK(strstr(g.detail, "certificate") != NULL);
    env_stop(&e);
}

TEST(https_verification_with_a_ca_file)
{
    env_t e;
    http_client_config_t cfg;
    http_client_config_defaults(&cfg);
    cfg.tls_ca_file = "ca.pem"; /* written by tls_server_ctx into the test's directory */
    SSL_CTX *tls = tls_server_ctx("ca.pem");
    env_start(&e, &cfg, tls);
    CHECK(e.c != NULL);
    char url[128];
    got_t g;
    snprintf(url, sizeof url, "https://localhost:%d/hello", e.s->port);
    CHECK(fetch(e.loop, e.c, url, &g));
    CHECK_INT(g.err, HTTP_CLIENT_OK);
    CHECK_STR(g.body, "hello");
    url_of(url, sizeof url, "https", e.s, "/hello"); /* by IP: the certificate names 127.0.0.1 too */
    CHECK(fetch(e.loop, e.c, url, &g));
    CHECK_INT(g.err, HTTP_CLIENT_OK);
    http_client_free(e.c);
    cfg.tls_ca_file = "missing.pem";
    e.c = http_client_new(e.loop, &cfg);
    CHECK(e.c == NULL);
    cfg.tls_ca_file = "ca.pem";
    e.c = http_client_new(e.loop, &cfg);
    snprintf(url, sizeof url, "https://[::1]:%d/hello", e.s->port); /* wrong name, if it even connects */
    CHECK(fetch(e.loop, e.c, url, &g));
    CHECK(g.err == HTTP_CLIENT_TLS || g.err == HTTP_CLIENT_CONNECT);
    env_stop(&e);
}

TEST(https_to_a_plain_server_fails_in_tls)
{
    env_t e;
    http_client_config_t cfg;
    http_client_config_defaults(&cfg);
    cfg.tls_verify = 0;
    env_start(&e, &cfg, NULL);
    char url[128];
    got_t g;
    url_of(url, sizeof url, "https", e.s, "/hello");
    CHECK(fetch(e.loop, e.c, url, &g));
    CHECK_INT(g.err, HTTP_CLIENT_TLS);
    env_stop(&e);
}
