/*
 * test_http_server — the event loop (timer order, cancel and re-arm, a timer
 * that re-arms itself at 0 delay, wake-ups from another thread, deferred
 * frees and hooks) and the HTTP connection layer on an in-process loop.
 *
 * The server listens on a free loopback port; test clients are blocking
 * sockets in the same thread (connect() completes from the listen backlog
 * and small sends fit the socket buffer), read without blocking while the
 * loop runs. run_until() runs the loop, polling a predicate every
 * millisecond, and gives up after a deadline, so nothing can hang.
 *
 * The test handler acts on the request target:
 *   /defer       keeps the exchange (on_abort set) for the test to answer
 *   /park        as /defer, declared waiting (a long poll: not load)
 *   /held/<lsn>  answers at once with that LSN (leaves when durable)
 *   /wake        answers the oldest kept exchange, then itself
 *   /echo        answers with the request body
 *   anything     answers "ok:<target>"
 * A request that comes over the admission bound (ex->overloaded) is
 * answered 503 "shed" at once, whatever its target.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "harness.h"
#include "loop_fixture.h"
#include "net/http_server.h"
#include "net/loop.h"
#include "util/clock.h"

#define WAIT_MS 3000
#define CLIENT_BUF (1 << 20)


/* Runs the loop for ms whatever happens. */
static void run_for(loop_t *loop, uint64_t ms)
{
    run_until(loop, never, NULL, ms);
}

/* ---- loop: timers ---- */

typedef struct tick {
    loop_timer_t t;
    int id;
    int *log, *n;
} tick_t;

static void tick_fire(loop_t *loop, loop_timer_t *t)
{
    (void)loop;
    tick_t *k = t->arg;
    k->log[(*k->n)++] = k->id;
}

static void tick_init(tick_t *k, int id, int *log, int *n)
{
    k->id = id;
    k->log = log;
    k->n = n;
    loop_timer_init(&k->t, tick_fire, k);
}

static int fired_4(void *arg)
{
    return *(int *)arg >= 4;
}

TEST(loop_timers_fire_in_due_order_cancel_and_rearm)
{
    loop_t *loop = loop_new();
    int log[16], n = 0;
    tick_t k[5];
    for (int i = 0; i < 5; i++)
        tick_init(&k[i], i, log, &n);
    loop_timer_start(loop, &k[0].t, 30);
    loop_timer_start(loop, &k[1].t, 10);
    loop_timer_start(loop, &k[2].t, 20);
    loop_timer_start(loop, &k[3].t, 15);
    loop_timer_stop(loop, &k[3].t); /* cancelled: never fires */
    CHECK(!loop_timer_active(&k[3].t));
    loop_timer_start(loop, &k[4].t, 5);
    loop_timer_start(loop, &k[4].t, 40); /* re-armed later: fires once, last */
    uint64_t t0 = clock_mono_ms();
    CHECK(run_until(loop, fired_4, &n, WAIT_MS));
    run_for(loop, 30);
    CHECK_INT(n, 4);
    CHECK_INT(log[0], 1);
    CHECK_INT(log[1], 2);
    CHECK_INT(log[2], 0);
    CHECK_INT(log[3], 4);
    CHECK(clock_mono_ms() - t0 >= 40);
    for (int i = 0; i < 5; i++)
        CHECK(!loop_timer_active(&k[i].t));
    loop_free(loop);
}

typedef struct spin {
    loop_timer_t t;
    loop_io_t io;
    int count, count_at_io, io_seen;
} spin_t;

static void spin_fire(loop_t *loop, loop_timer_t *t)
{
    spin_t *s = t->arg;
    if (++s->count < 100000 && !s->io_seen)
        loop_timer_start(loop, t, 0);
}

static void spin_io(loop_t *loop, int fd, uint32_t events, void *arg)
{
    (void)events;
    spin_t *s = arg;
    char b[16];
    if (read(fd, b, sizeof b) > 0 && !s->io_seen) {
        s->io_seen = 1;
        s->count_at_io = s->count;
    }
    loop_io_stop(loop, &s->io);
}

static int spin_done(void *arg)
{
    return ((spin_t *)arg)->io_seen;
}

/* A timer re-arming itself at 0 delay from its callback used to spin
 * inside one timer pass and starve every socket. */
TEST(loop_timer_rearmed_at_zero_does_not_starve_io)
{
    loop_t *loop = loop_new();
    spin_t s = {0};
    int p[2];
    CHECK(pipe(p) == 0);
    CHECK(write(p[1], "x", 1) == 1);
    loop_timer_init(&s.t, spin_fire, &s);
    loop_timer_start(loop, &s.t, 0);
    CHECK(loop_io_start(loop, &s.io, p[0], EPOLLIN, spin_io, &s) == 0);
    CHECK(run_until(loop, spin_done, &s, WAIT_MS));
    CHECK(s.count_at_io < 10);
    loop_timer_stop(loop, &s.t);
    close(p[0]);
    close(p[1]);
    loop_free(loop);
}

/* ---- loop: wake-ups from another thread ---- */

typedef struct wake {
    loop_async_t a;
    atomic_int sent, done;
    int calls, saw_done;
} wake_t;

static void wake_cb(loop_t *loop, loop_async_t *a)
{
    (void)loop;
    wake_t *w = a->arg;
    w->calls++;
    if (atomic_load(&w->done))
        w->saw_done = 1;
}

static void *wake_thread(void *arg)
{
    wake_t *w = arg;
    for (int i = 0; i < 1000; i++) {
        atomic_fetch_add(&w->sent, 1);
        loop_async_send(&w->a);
        if (i % 100 == 0)
            usleep(1000);
    }
    atomic_store(&w->done, 1);
    loop_async_send(&w->a);
    return NULL;
}

static int wake_finished(void *arg)
{
    return ((wake_t *)arg)->saw_done;
}

TEST(loop_async_wakes_from_another_thread)
{
    loop_t *loop = loop_new();
    wake_t *w = calloc(1, sizeof *w);
    CHECK(loop_async_init(loop, &w->a, wake_cb, w) == 0);
    pthread_t th;
    CHECK(pthread_create(&th, NULL, wake_thread, w) == 0);
    int ok = run_until(loop, wake_finished, w, WAIT_MS);
    pthread_join(th, NULL);
    CHECK(ok);
    CHECK(w->calls >= 1);
    CHECK(w->calls <= 1001); /* sends coalesce: never more calls than sends */
    CHECK_INT(atomic_load(&w->sent), 1000);
    loop_async_close(loop, &w->a);
    free(w);
    loop_free(loop);
}

/* ---- loop: deferred frees and hooks ---- */

typedef struct victim {
    loop_io_t io;
    int fd[2];
    int magic;
    struct victim *other;
    int *calls;
    struct victim **first;
} victim_t;

static void victim_io(loop_t *loop, int fd, uint32_t events, void *arg)
{
    (void)fd;
    (void)events;
    victim_t *v = arg;
    (*v->calls)++;
    if (*v->first)
        return;
    *v->first = v;
    /* retire the other one, whose event is pending in the same batch */
    victim_t *o = v->other;
    loop_io_stop(loop, &o->io);
    close(o->fd[0]);
    close(o->fd[1]);
    loop_defer_free(loop, o);
    loop_stop(loop);
}

typedef struct hooks {
    int a, b, c;
    victim_t **first;
    int magic_seen;
} hooks_t;

static void hook_b(loop_t *loop, void *arg);

static void hook_a(loop_t *loop, void *arg)
{
    hooks_t *h = arg;
    h->a++;
    if (h->a == 1) {
        h->magic_seen = (*h->first)->other->magic; /* retired in this iteration: still valid in hooks */
        loop_remove_hook(loop, hook_b, h);         /* b has not run yet this iteration: it must not */
    }
}

static void hook_b(loop_t *loop, void *arg)
{
    (void)loop;
    ((hooks_t *)arg)->b++;
}

static void hook_c(loop_t *loop, void *arg)
{
    hooks_t *h = arg;
    h->c++;
    loop_remove_hook(loop, hook_c, h); /* removing itself */
}

TEST(loop_defer_free_and_hooks)
{
    loop_t *loop = loop_new();
    int calls = 0;
    victim_t *first = NULL;
    victim_t *v[2];
    for (int i = 0; i < 2; i++) {
        v[i] = calloc(1, sizeof *v[i]);
        CHECK(pipe(v[i]->fd) == 0);
        CHECK(write(v[i]->fd[1], "x", 1) == 1);
        v[i]->magic = 0x5eed;
        v[i]->calls = &calls;
        v[i]->first = &first;
    }
    v[0]->other = v[1];
    v[1]->other = v[0];
    for (int i = 0; i < 2; i++)
        CHECK(loop_io_start(loop, &v[i]->io, v[i]->fd[0], EPOLLIN, victim_io, v[i]) == 0);
    hooks_t h = {.first = &first};
    loop_add_hook(loop, hook_c, &h);
    loop_add_hook(loop, hook_a, &h);
    loop_add_hook(loop, hook_b, &h);
    /* both pipes are readable: one epoll batch holds both events */
    loop_run(loop);
    CHECK_INT(calls, 1); /* the retired one's pending event was skipped */
    CHECK(first != NULL);
    CHECK_INT(h.c, 1);
    CHECK_INT(h.a, 1);
    CHECK_INT(h.b, 0);
    CHECK_INT(h.magic_seen, 0x5eed);
    CHECK_INT(loop_remove_hook(loop, hook_b, &h), -ENOENT);
    CHECK_INT(loop_remove_hook(loop, hook_c, &h), -ENOENT);
    run_for(loop, 5); /* the other one was freed at the end of the first iteration (ASan checks) */
    CHECK_INT(h.c, 1);
    CHECK(h.a >= 2);
    CHECK_INT(h.b, 0);
    CHECK_INT(loop_remove_hook(loop, hook_a, &h), 0);
    loop_io_stop(loop, &first->io);
    close(first->fd[0]);
    close(first->fd[1]);
    free(first);
    loop_free(loop);
}

/* ---- an HTTP server under test ---- */

#define MAXPEND 16

typedef struct tsrv {
    loop_t *loop;
    http_server_t *srv;
    int port;
    int handled, aborts, done_called, shed;
    int after_store_hook, late_appends; /* see http_dispatch_precedes_store_hook */
    http_ex_t *pending[MAXPEND];
    int npending;
    char order[512]; /* targets in handler order, ";"-separated */
} tsrv_t;

static void t_abort(http_ex_t *ex, void *arg)
{
    tsrv_t *t = arg;
    t->aborts++;
    for (int i = 0; i < t->npending; i++) {
        if (t->pending[i] != ex)
            continue;
        memmove(&t->pending[i], &t->pending[i + 1], (size_t)(t->npending - i - 1) * sizeof t->pending[0]);
        t->npending--;
        return;
    }
}

static void t_reply(http_ex_t *ex, const char *body, uint64_t lsn)
{
    http_ex_reply(ex, 200, "text/plain", NULL, body, strlen(body), lsn);
}

/* Answers the oldest kept exchange. */
static void t_answer(tsrv_t *t, const char *body)
{
    http_ex_t *ex = t->pending[0];
    memmove(&t->pending[0], &t->pending[1], (size_t)(t->npending - 1) * sizeof t->pending[0]);
    t->npending--;
    t_reply(ex, body, 0);
}

static void t_handler(http_ex_t *ex, void *arg)
{
    tsrv_t *t = arg;
    char target[128], body[192];
    snprintf(target, sizeof target, "%.*s", (int)ex->head->target_len, ex->head->target);
    t->handled++;
    t->late_appends += t->after_store_hook;
    if (strlen(t->order) + strlen(target) + 2 < sizeof t->order) {
        strcat(t->order, target);
        strcat(t->order, ";");
    }
    if (ex->overloaded) {
        t->shed++;
        http_ex_reply(ex, 503, "text/plain", "Retry-After: 1\r\n", "shed", 4, 0);
    } else if ((strcmp(target, "/defer") == 0 || strcmp(target, "/park") == 0) && t->npending < MAXPEND) {
        ex->on_abort = t_abort;
        ex->abort_arg = t;
        t->pending[t->npending++] = ex;
        if (target[1] == 'p')
            http_ex_waiting(ex);
    } else if (strncmp(target, "/held/", 6) == 0) {
        ex->shape = 3;
        t_reply(ex, "held", strtoull(target + 6, NULL, 10));
    } else if (strcmp(target, "/wake") == 0 && t->npending) {
        t_answer(t, "woken");
        t_reply(ex, "waker", 0);
    } else if (strcmp(target, "/echo") == 0) {
        http_ex_reply(ex, 200, "text/plain", NULL, ex->body, ex->body_len, 0);
    } else if (strncmp(target, "/big/", 5) == 0) { /* that many bytes, held until LSN 1 is durable */
        size_t n = strtoul(target + 5, NULL, 10);
        char *big = malloc(n);
        memset(big, 'z', n);
        http_ex_reply(ex, 200, "text/plain", NULL, big, n, 1);
        free(big);
    } else {
        snprintf(body, sizeof body, "ok:%s", target);
        t_reply(ex, body, 0);
    }
}

static tsrv_t *tsrv_start_loop(loop_t *loop, http_server_config_t *cfg)
{
    tsrv_t *t = calloc(1, sizeof *t);
    char why[256];
    t->loop = loop;
    cfg->port = 0;
    t->srv = http_server_new(t->loop, cfg, t_handler, t, why, sizeof why);
    if (!t->srv) {
        fprintf(stderr, "http_server_new: %s\n", why);
        abort();
    }
    t->port = http_server_port(t->srv);
    return t;
}

static tsrv_t *tsrv_start_cfg(http_server_config_t *cfg)
{
    return tsrv_start_loop(loop_new(), cfg);
}

static tsrv_t *tsrv_start(void)
{
    http_server_config_t cfg;
    http_server_config_defaults(&cfg);
    return tsrv_start_cfg(&cfg);
}

static void tsrv_free(tsrv_t *t)
{
    if (t->srv)
        http_server_free(t->srv);
    loop_free(t->loop);
    free(t);
}

static http_server_stats_t tsrv_stats(tsrv_t *t)
{
    http_server_stats_t st;
    http_server_get_stats(t->srv, &st);
    return st;
}

/* ---- clients ---- */

typedef struct client {
    int fd;
    int eof, reset;
    size_t len;
    char buf[CLIENT_BUF];
} client_t;

static client_t *client_open(int port)
{
    client_t *c = calloc(1, sizeof *c);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (c->fd < 0 || connect(c->fd, (struct sockaddr *)&a, sizeof a) != 0) {
        perror("client connect");
        abort();
    }
    return c;
}

static void client_send(client_t *c, const char *s)
{
    size_t n = strlen(s), off = 0;
    while (off < n) {
        ssize_t w = send(c->fd, s + off, n - off, MSG_NOSIGNAL);
        if (w <= 0)
            return;
        off += (size_t)w;
    }
}

static void client_close(client_t *c)
{
    if (c->fd >= 0)
        close(c->fd);
    free(c);
}

/* Reads what has arrived, without blocking. */
static void client_pump(client_t *c)
{
    while (!c->eof && c->len < CLIENT_BUF - 1) {
        ssize_t n = recv(c->fd, c->buf + c->len, CLIENT_BUF - 1 - c->len, MSG_DONTWAIT);
        if (n > 0) {
            c->len += (size_t)n;
            c->buf[c->len] = '\0';
        } else if (n == 0) {
            c->eof = 1;
        } else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
            c->eof = 1;
            c->reset = errno == ECONNRESET;
        } else {
            return;
        }
    }
}

typedef struct resp {
    int status;
    int close; /* Connection: close */
    char body[4096];
    size_t body_len;
} resp_t;

/* Parses the complete responses in the client's buffer (1xx included, which
 * have no body). Returns how many, at most max. */
static int client_responses(const client_t *c, resp_t *out, int max)
{
    int n = 0;
    size_t off = 0;
    while (n < max && off < c->len) {
        const char *start = c->buf + off, *end = memmem(start, c->len - off, "\r\n\r\n", 4);
        if (!end || strncmp(start, "HTTP/1.1 ", 9) != 0)
            break;
        char head[2048];
        size_t hlen = (size_t)(end + 4 - start);
        snprintf(head, sizeof head, "%.*s", (int)hlen, start);
        const char *cl = strstr(head, "Content-Length: ");
        size_t blen = cl ? strtoul(cl + 16, NULL, 10) : 0;
        if (off + hlen + blen > c->len)
            break;
        resp_t *r = &out[n++];
        r->status = atoi(start + 9);
        r->close = strstr(head, "Connection: close\r\n") != NULL;
        r->body_len = blen < sizeof r->body - 1 ? blen : sizeof r->body - 1;
        memcpy(r->body, start + hlen, r->body_len);
        r->body[r->body_len] = '\0';
        off += hlen + blen;
    }
    return n;
}

typedef struct want {
    client_t *c;
    int n;
} want_t;

static int has_responses(void *arg)
{
    want_t *w = arg;
    resp_t r[64];
    client_pump(w->c);
    return client_responses(w->c, r, 64) >= w->n;
}

static int got_eof(void *arg)
{
    client_t *c = arg;
    client_pump(c);
    return c->eof;
}

/* Runs the loop until c holds n complete responses; returns how many it has. */
static int wait_responses(tsrv_t *t, client_t *c, int n, resp_t *out, int max)
{
    want_t w = {c, n};
    run_until(t->loop, has_responses, &w, WAIT_MS);
    return client_responses(c, out, max);
}

#define GET(path) "GET " path " HTTP/1.1\r\nHost: t\r\n\r\n"

/* ---- http_server ---- */

TEST(http_sync_reply)
{
    tsrv_t *t = tsrv_start();
    client_t *c = client_open(t->port);
    resp_t r[4];
    client_send(c, GET("/hello"));
    CHECK_INT(wait_responses(t, c, 1, r, 4), 1);
    CHECK_INT(r[0].status, 200);
    CHECK_STR(r[0].body, "ok:/hello");
    CHECK(!r[0].close);
    CHECK(strstr(c->buf, "\r\nContent-Type: text/plain\r\n") != NULL);
    /* keep-alive: a second request on the same connection */
    client_send(c, GET("/again"));
    CHECK_INT(wait_responses(t, c, 2, r, 4), 2);
    CHECK_STR(r[1].body, "ok:/again");
    CHECK_INT(tsrv_stats(t).requests, 2);
    CHECK_INT(tsrv_stats(t).open, 1);
    client_close(c);
    tsrv_free(t);
}

TEST(http_reply_held_until_durable)
{
    tsrv_t *t = tsrv_start();
    client_t *c = client_open(t->port);
    resp_t r[4];
    client_send(c, GET("/held/5"));
    run_for(t->loop, 50);
    client_pump(c);
    CHECK_INT(t->handled, 1);
    CHECK_INT(c->len, 0); /* answered, but not durable: nothing leaves */
    http_server_durable(t->srv, 4);
    run_for(t->loop, 20);
    client_pump(c);
    CHECK_INT(c->len, 0);
    http_server_durable(t->srv, 5);
    CHECK_INT(wait_responses(t, c, 1, r, 4), 1);
    CHECK_STR(r[0].body, "held");
    /* already durable: leaves at once */
    client_send(c, GET("/held/3"));
    CHECK_INT(wait_responses(t, c, 2, r, 4), 2);
    client_close(c);
    tsrv_free(t);
}

static void t_fail(void *arg, unsigned shape, http_canned_t *out)
{
    (void)arg;
    out->status = 503;
    snprintf(out->ctype, sizeof out->ctype, "text/plain");
    snprintf(out->headers, sizeof out->headers, "Retry-After: 1\r\n");
    out->body_len = (size_t)snprintf(out->body, sizeof out->body, "failed:%u", shape);
}

/* The store failed with LSN 2 durable: replies held beyond it become the
 * failure reply of their shape, in place; what was durable keeps its bytes
 * and order; later replies beyond it fail too, and the connection closes. */
TEST(http_store_failure_replaces_held_replies)
{
    tsrv_t *t = tsrv_start();
    client_t *c = client_open(t->port), *d = client_open(t->port);
    resp_t r[8];
    http_server_durable(t->srv, 2);
    client_send(c, GET("/held/2") GET("/held/7") GET("/a") GET("/held/9"));
    client_send(d, GET("/held/4"));
    run_for(t->loop, 50);
    CHECK_INT(t->handled, 5);
    http_server_fail(t->srv, t_fail, NULL);
    CHECK_INT(wait_responses(t, c, 4, r, 8), 4);
    CHECK_INT(r[0].status, 200);
    CHECK_STR(r[0].body, "held");
    CHECK_INT(r[1].status, 503);
    CHECK_STR(r[1].body, "failed:3");
    CHECK_INT(r[1].close, 0);
    CHECK_INT(r[2].status, 200);
    CHECK_STR(r[2].body, "ok:/a");
    CHECK_INT(r[3].status, 503);
    CHECK_INT(r[3].close, 1);
    CHECK(run_until(t->loop, got_eof, c, 2000));
    CHECK_INT(wait_responses(t, d, 1, r, 8), 1);
    CHECK_STR(r[0].body, "failed:3");
    client_t *e = client_open(t->port); /* after the failure */
    client_send(e, GET("/a") GET("/held/3"));
    CHECK_INT(wait_responses(t, e, 2, r, 8), 2);
    CHECK_STR(r[0].body, "ok:/a");
    CHECK_INT(r[1].status, 503);
    CHECK_INT(r[1].close, 1);
    http_server_durable(t->srv, 9); /* nothing is held any more: no effect */
    client_close(c);
    client_close(d);
    client_close(e);
    tsrv_free(t);
}

/* A HEAD request's replacement is a head alone, as its reply would have
 * been: a body would be read as the start of the next response. */
TEST(http_store_failure_replaces_a_head_reply_with_a_head)
{
    tsrv_t *t = tsrv_start();
    client_t *c = client_open(t->port);
    client_send(c, "HEAD /held/7 HTTP/1.1\r\nHost: t\r\n\r\n" GET("/held/8"));
    run_for(t->loop, 50);
    CHECK_INT(t->handled, 2);
    http_server_fail(t->srv, t_fail, NULL);
    CHECK(run_until(t->loop, got_eof, c, 2000));
    const char *first = memmem(c->buf, c->len, "\r\n\r\n", 4);
    CHECK(strncmp(c->buf, "HTTP/1.1 503 ", 13) == 0);
    CHECK(first != NULL && (size_t)(first + 4 - c->buf) + 13 <= c->len);
    CHECK(first && strncmp(first + 4, "HTTP/1.1 503 ", 13) == 0); /* no body between */
    CHECK(memmem(c->buf, c->len, "failed:3", 8) != NULL);        /* the GET's body */
    client_close(c);
    tsrv_free(t);
}

TEST(http_pipelined_order_with_held_reply_in_front)
{
    tsrv_t *t = tsrv_start();
    client_t *c = client_open(t->port);
    resp_t r[8];
    client_send(c, GET("/held/7") GET("/a") GET("/b") GET("/held/2") GET("/c"));
    run_for(t->loop, 50);
    client_pump(c);
    CHECK_INT(t->handled, 5); /* parsing does not wait for durability */
    CHECK_STR(t->order, "/held/7;/a;/b;/held/2;/c;");
    CHECK_INT(c->len, 0);     /* but nothing may overtake the held reply */
    http_server_durable(t->srv, 7);
    CHECK_INT(wait_responses(t, c, 5, r, 8), 5);
    CHECK_STR(r[0].body, "held");
    CHECK_STR(r[1].body, "ok:/a");
    CHECK_STR(r[2].body, "ok:/b");
    CHECK_STR(r[3].body, "held");
    CHECK_STR(r[4].body, "ok:/c");
    client_close(c);
    tsrv_free(t);
}

TEST(http_deferred_reply_then_pipelined_requests)
{
    tsrv_t *t = tsrv_start();
    client_t *c = client_open(t->port);
    resp_t r[8];
    client_send(c, GET("/defer") GET("/after"));
    run_for(t->loop, 30);
    CHECK_INT(t->handled, 1); /* one exchange at a time per connection */
    CHECK_INT(t->npending, 1);
    CHECK_INT(tsrv_stats(t).pending_exchanges, 1);
    t_answer(t, "late"); /* outside any handler, as a timer would */
    CHECK_INT(wait_responses(t, c, 2, r, 8), 2);
    CHECK_STR(r[0].body, "late");
    CHECK_STR(r[1].body, "ok:/after");
    CHECK_INT(tsrv_stats(t).pending_exchanges, 0);
    client_close(c);
    tsrv_free(t);
}

TEST(http_deferred_reply_from_another_connections_handler)
{
    tsrv_t *t = tsrv_start();
    client_t *a = client_open(t->port), *b = client_open(t->port);
    resp_t r[4];
    client_send(a, GET("/defer") GET("/next"));
    run_for(t->loop, 20);
    CHECK_INT(t->npending, 1);
    client_send(b, GET("/wake"));
    CHECK_INT(wait_responses(t, b, 1, r, 4), 1);
    CHECK_STR(r[0].body, "waker");
    CHECK_INT(wait_responses(t, a, 2, r, 4), 2);
    CHECK_STR(r[0].body, "woken");
    CHECK_STR(r[1].body, "ok:/next");
    CHECK_INT(t->aborts, 0);
    client_close(a);
    client_close(b);
    tsrv_free(t);
}

static int one_abort(void *arg)
{
    return ((tsrv_t *)arg)->aborts >= 1;
}

static int no_conns(void *arg)
{
    return tsrv_stats(arg).open == 0;
}

TEST(http_on_abort_when_client_closes)
{
    tsrv_t *t = tsrv_start();
    client_t *c = client_open(t->port);
    client_send(c, GET("/defer"));
    run_for(t->loop, 20);
    CHECK_INT(t->npending, 1);
    close(c->fd);
    c->fd = -1;
    CHECK(run_until(t->loop, one_abort, t, WAIT_MS));
    CHECK_INT(t->npending, 0);
    CHECK(run_until(t->loop, no_conns, t, WAIT_MS));
    CHECK_INT(tsrv_stats(t).pending_exchanges, 0);
    client_close(c);
    tsrv_free(t);
}

TEST(http_half_close_after_request_still_answered)
{
    tsrv_t *t = tsrv_start();
    client_t *c = client_open(t->port);
    resp_t r[4];
    client_send(c, GET("/x") GET("/y"));
    shutdown(c->fd, SHUT_WR);
    CHECK(run_until(t->loop, got_eof, c, WAIT_MS));
    CHECK_INT(client_responses(c, r, 4), 2);
    CHECK_STR(r[1].body, "ok:/y");
    CHECK(!c->reset);
    CHECK(run_until(t->loop, no_conns, t, WAIT_MS));
    client_close(c);
    tsrv_free(t);
}

TEST(http_chunked_body_split_across_sends)
{
    tsrv_t *t = tsrv_start();
    client_t *c = client_open(t->port);
    resp_t r[4];
    client_send(c, "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhel");
    run_for(t->loop, 10);
    client_send(c, "lo\r\n");
    run_for(t->loop, 10);
    client_send(c, "5\r\n, wor\r\n2\r\nld\r\n0\r\nX-Trailer: v\r\n\r\n" GET("/z"));
    CHECK_INT(wait_responses(t, c, 2, r, 4), 2);
    CHECK_STR(r[0].body, "hello, world");
    CHECK_STR(r[1].body, "ok:/z");
    client_close(c);
    tsrv_free(t);
}

TEST(http_expect_100_continue)
{
    tsrv_t *t = tsrv_start();
    client_t *c = client_open(t->port);
    resp_t r[4];
    client_send(c, "PUT /echo HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n");
    CHECK_INT(wait_responses(t, c, 1, r, 4), 1);
    CHECK_INT(r[0].status, 100);
    CHECK_STR(c->buf, "HTTP/1.1 100 Continue\r\n\r\n");
    CHECK_INT(t->handled, 0);
    client_send(c, "abcde");
    CHECK_INT(wait_responses(t, c, 2, r, 4), 2);
    CHECK_INT(r[1].status, 200);
    CHECK_STR(r[1].body, "abcde");
    /* the body already there: no 100 */
    client_send(c, "PUT /echo HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\nhi");
    CHECK_INT(wait_responses(t, c, 3, r, 4), 3);
    CHECK_INT(r[2].status, 200);
    CHECK_STR(r[2].body, "hi");
    client_close(c);
    tsrv_free(t);
}

/* A rejected request whose body is still arriving: the error reply must
 * reach the client intact (lingering close), not be destroyed by a RST. */
TEST(http_413_survives_unread_body)
{
    http_server_config_t cfg;
    http_server_config_defaults(&cfg);
    cfg.limits.max_body = 1024;
    tsrv_t *t = tsrv_start_cfg(&cfg);
    client_t *c = client_open(t->port);
    resp_t r[2];
    static char req[200000];
    int n = snprintf(req, sizeof req, "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 150000\r\n\r\n");
    memset(req + n, 'x', 150000);
    req[n + 150000] = '\0';
    client_send(c, req);
    CHECK(run_until(t->loop, got_eof, c, WAIT_MS));
    CHECK(!c->reset);
    CHECK_INT(client_responses(c, r, 2), 1);
    CHECK_INT(r[0].status, 413);
    CHECK(r[0].close);
    CHECK_INT(t->handled, 0);
    CHECK(run_until(t->loop, no_conns, t, WAIT_MS));
    client_close(c);
    tsrv_free(t);
}

TEST(http_idle_and_request_timeouts)
{
    http_server_config_t cfg;
    http_server_config_defaults(&cfg);
    cfg.idle_timeout_ms = 100;
    cfg.request_timeout_ms = 150;
    tsrv_t *t = tsrv_start_cfg(&cfg);
    client_t *idle = client_open(t->port), *slow = client_open(t->port);
    resp_t r[2];
    client_send(slow, "GET /slow HTTP/1.1\r\n");
    uint64_t t0 = clock_mono_ms();
    for (int i = 0; i < 3; i++) { /* later bytes do not push the deadline back */
        run_for(t->loop, 40);
        client_send(slow, "X-A: b\r\n");
    }
    CHECK(run_until(t->loop, got_eof, idle, WAIT_MS));
    CHECK_INT(idle->len, 0); /* idle: closed without a word */
    CHECK(run_until(t->loop, got_eof, slow, WAIT_MS));
    uint64_t took = clock_mono_ms() - t0;
    CHECK(took >= 140 && took < 1000);
    CHECK_INT(client_responses(slow, r, 2), 1);
    CHECK_INT(r[0].status, 408);
    CHECK(r[0].close);
    client_close(idle);
    client_close(slow);
    tsrv_free(t);
}

TEST(http_connection_limit_503_then_recovers)
{
    http_server_config_t cfg;
    http_server_config_defaults(&cfg);
    cfg.max_connections = 1;
    tsrv_t *t = tsrv_start_cfg(&cfg);
    client_t *a = client_open(t->port);
    resp_t r[2];
    client_send(a, GET("/first"));
    CHECK_INT(wait_responses(t, a, 1, r, 2), 1);
    client_t *b = client_open(t->port);
    client_send(b, GET("/second")); /* already sent when the 503 comes */
    CHECK(run_until(t->loop, got_eof, b, WAIT_MS));
    CHECK(!b->reset);
    CHECK_INT(client_responses(b, r, 2), 1);
    CHECK_INT(r[0].status, 503);
    CHECK(r[0].close);
    CHECK_INT(tsrv_stats(t).rejected, 1);
    client_close(a);
    CHECK(run_until(t->loop, no_conns, t, WAIT_MS));
    client_t *d = client_open(t->port);
    client_send(d, GET("/third"));
    CHECK_INT(wait_responses(t, d, 1, r, 2), 1);
    CHECK_STR(r[0].body, "ok:/third");
    client_close(b);
    client_close(d);
    tsrv_free(t);
}

static void on_done(void *arg)
{
    ((tsrv_t *)arg)->done_called++;
}

TEST(http_shutdown_drains_pending_exchange)
{
    tsrv_t *t = tsrv_start();
    client_t *busy = client_open(t->port), *idle = client_open(t->port);
    resp_t r[2];
    client_send(busy, GET("/defer"));
    client_send(idle, GET("/i"));
    CHECK_INT(wait_responses(t, idle, 1, r, 2), 1);
    CHECK_INT(t->npending, 1);
    http_server_shutdown(t->srv, on_done, t);
    CHECK(run_until(t->loop, got_eof, idle, WAIT_MS)); /* idle keep-alive: closed at once */
    CHECK_INT(t->done_called, 0);
    t_answer(t, "bye");
    CHECK(run_until(t->loop, got_eof, busy, WAIT_MS));
    CHECK_INT(client_responses(busy, r, 2), 1);
    CHECK_STR(r[0].body, "bye");
    CHECK(r[0].close);
    CHECK_INT(t->done_called, 1);
    client_close(busy);
    client_close(idle);
    tsrv_free(t);
}

/* http_server_free aborts what is pending and leaves the loop usable. */
TEST(http_free_aborts_and_loop_runs_on)
{
    tsrv_t *t = tsrv_start();
    client_t *c = client_open(t->port);
    client_send(c, GET("/defer"));
    run_for(t->loop, 20);
    CHECK_INT(t->npending, 1);
    http_server_free(t->srv);
    t->srv = NULL;
    CHECK_INT(t->aborts, 1);
    CHECK_INT(t->npending, 0);
    run_for(t->loop, 10); /* the flush hook must be gone with the server */
    CHECK(got_eof(c));
    client_close(c);
    tsrv_free(t);
}

/* A client that pipelines without reading its replies stops being read
 * (its requests wait in its socket, not in our memory); others go on. */
TEST(http_unread_replies_do_not_block_others)
{
    tsrv_t *t = tsrv_start();
    client_t *hog = client_open(t->port), *c = client_open(t->port);
    resp_t r[2];
    int small = 65536;
    setsockopt(hog->fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
    setsockopt(hog->fd, SOL_SOCKET, SO_SNDBUF, &small, sizeof small);
    static char req[1 << 16];
    size_t n = 0;
    const char one[] = "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 2000\r\n\r\n";
    while (n + sizeof one + 2000 < sizeof req) {
        memcpy(req + n, one, sizeof one - 1);
        n += sizeof one - 1;
        memset(req + n, 'y', 2000);
        n += 2000;
    }
    size_t sent = 0, goal = (size_t)64 << 20;
    uint64_t t0 = clock_mono_ms(), last = t0;
    /* a bounded try, none of the replies read; stops once sending stalls */
    while (sent < goal && clock_mono_ms() - t0 < 2000 && clock_mono_ms() - last < 200) {
        ssize_t w = send(hog->fd, req, n, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (w > 0)
            sent += (size_t)w, last = clock_mono_ms();
        run_for(t->loop, 1);
    }
    /* the server stopped reading the hog: it parsed about what the socket
     * buffers hold in replies (~2,000), not everything sent (~32,000) */
    CHECK(t->handled < 8000);
    CHECK(sent < goal / 2);
    int handled = t->handled;
    client_send(c, GET("/other"));
    CHECK_INT(wait_responses(t, c, 1, r, 2), 1);
    CHECK_STR(r[0].body, "ok:/other");
    CHECK_INT(t->handled, handled + 1);
    client_close(hog);
    client_close(c);
    tsrv_free(t);
}

/* A reply far bigger than the socket buffers leaves in many writes, each
 * when the client has read the last: its release by the store is
 * remembered past the first write. */
TEST(http_reply_bigger_than_the_socket_is_written_whole)
{
    tsrv_t *t = tsrv_start();
    client_t *c = client_open(t->port);
    int small = 65536;
    setsockopt(c->fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
    client_send(c, GET("/big/4000000"));
    run_for(t->loop, 20);
    http_server_durable(t->srv, 1);
    static char scratch[65536];
    size_t got = 0;
    uint64_t t0 = clock_mono_ms();
    while (got < 4000000 && clock_mono_ms() - t0 < 5000) { /* bounded: a stall fails the check below */
        run_for(t->loop, 1);
        ssize_t n;
        while ((n = recv(c->fd, scratch, sizeof scratch, MSG_DONTWAIT)) > 0)
            got += (size_t)n;
    }
    CHECK(got > 4000000); /* the head and every byte of the body */
    client_close(c);
    tsrv_free(t);
}

TEST(http_malformed_and_version)
{
    tsrv_t *t = tsrv_start();
    const char *bad[] = {"GET / HTTP/1.1\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
                         "GET / HTTP/2.0\r\nHost: t\r\n\r\n"};
    int want[] = {400, 505};
    for (int i = 0; i < 2; i++) {
        client_t *c = client_open(t->port);
        resp_t r[2];
        client_send(c, bad[i]);
        CHECK(run_until(t->loop, got_eof, c, WAIT_MS));
        CHECK_INT(client_responses(c, r, 2), 1);
        CHECK_INT(r[0].status, want[i]);
        CHECK(r[0].close);
        client_close(c);
    }
    CHECK_INT(t->handled, 0);
    tsrv_free(t);
}

TEST(http_10_keep_alive)
{
    tsrv_t *t = tsrv_start();
    client_t *c = client_open(t->port);
    resp_t r[4];
    client_send(c, "GET /k HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    CHECK_INT(wait_responses(t, c, 1, r, 4), 1);
    CHECK(strstr(c->buf, "\r\nConnection: keep-alive\r\n") != NULL);
    client_send(c, "GET /c HTTP/1.0\r\n\r\n");
    CHECK(run_until(t->loop, got_eof, c, WAIT_MS));
    CHECK_INT(client_responses(c, r, 4), 2);
    CHECK_STR(r[1].body, "ok:/c");
    CHECK(r[1].close);
    client_close(c);
    tsrv_free(t);
}

/* The store hands an iteration's records to its thread in a hook that runs
 * before the server's flush hook. Requests parsed after a deferred reply
 * must be dispatched before that hook (timer phase), or what their handlers
 * append waits for some later wake-up of the loop. */
static void fake_store_hook(loop_t *loop, void *arg)
{
    (void)loop;
    tsrv_t **t = arg;
    if (*t)
        (*t)->after_store_hook = 1;
}

static void end_hook(loop_t *loop, void *arg)
{
    (void)loop;
    tsrv_t **t = arg;
    if (*t)
        (*t)->after_store_hook = 0;
}

TEST(http_dispatch_precedes_store_hook)
{
    loop_t *loop = loop_new();
    tsrv_t *t = NULL;
    loop_add_hook(loop, fake_store_hook, &t);
    http_server_config_t cfg;
    http_server_config_defaults(&cfg);
    t = tsrv_start_loop(loop, &cfg);
    loop_add_hook(loop, end_hook, &t);
    client_t *a = client_open(t->port), *b = client_open(t->port);
    resp_t r[4];
    client_send(a, GET("/defer") GET("/append"));
    run_for(t->loop, 20);
    client_send(b, GET("/wake")); /* answers a's /defer from b's handler */
    CHECK_INT(wait_responses(t, a, 2, r, 4), 2);
    CHECK_STR(r[1].body, "ok:/append");
    client_send(a, GET("/defer") GET("/append2"));
    run_for(t->loop, 20);
    t_answer(t, "late"); /* outside the loop, like a timer */
    CHECK_INT(wait_responses(t, a, 4, r, 4), 4);
    CHECK_INT(t->handled, 5);
    CHECK_INT(t->late_appends, 0);
    client_close(a);
    client_close(b);
    loop_remove_hook(loop, fake_store_hook, &t);
    loop_remove_hook(loop, end_hook, &t);
    tsrv_free(t);
}

/* ---- the admission bound ---- */

static tsrv_t *tsrv_bounded(unsigned max_pending)
{
    http_server_config_t cfg;
    http_server_config_defaults(&cfg);
    cfg.max_pending = max_pending;
    return tsrv_start_cfg(&cfg);
}

/* Replies held for the log are load: past the bound, requests are refused
 * until durability releases them; the refusals are not load themselves. */
TEST(http_admission_bound_counts_held_replies)
{
    tsrv_t *t = tsrv_bounded(3);
    client_t *c = client_open(t->port);
    resp_t r[16];
    client_send(c, GET("/held/5") GET("/held/5") GET("/held/5") GET("/held/5") GET("/held/5"));
    run_for(t->loop, 30);
    CHECK_INT(t->handled, 5);
    CHECK_INT(t->shed, 2);
    CHECK_INT(tsrv_stats(t).shed, 2);
    CHECK_INT(tsrv_stats(t).load, 3);
    client_pump(c);
    CHECK_INT(c->len, 0); /* the refusals wait behind the held replies of their connection */
    client_t *d = client_open(t->port);
    client_send(d, GET("/other"));
    CHECK_INT(wait_responses(t, d, 1, r, 16), 1);
    CHECK_INT(r[0].status, 503); /* another connection's refusal leaves at once */
    CHECK(!r[0].close);          /* and keeps its connection */
    CHECK(strstr(d->buf, "\r\nRetry-After: 1\r\n") != NULL);
    http_server_durable(t->srv, 5);
    CHECK_INT(wait_responses(t, c, 5, r, 16), 5);
    CHECK_INT(r[0].status, 200);
    CHECK_INT(r[2].status, 200);
    CHECK_INT(r[3].status, 503);
    CHECK_INT(r[4].status, 503);
    CHECK_INT(tsrv_stats(t).load, 0);
    client_send(d, GET("/held/6") GET("/again"));
    run_for(t->loop, 30);
    client_pump(d);
    CHECK_INT(client_responses(d, r, 16), 1); /* admitted again: the held one waits */
    CHECK_INT(t->shed, 3);
    http_server_durable(t->srv, 6);
    CHECK_INT(wait_responses(t, d, 3, r, 16), 3);
    CHECK_STR(r[1].body, "held");
    CHECK_STR(r[2].body, "ok:/again");
    client_close(c);
    client_close(d);
    tsrv_free(t);
}

/* Replies that wait for nothing still count until the iteration that queued
 * them has flushed them: the bound caps what one iteration takes on. */
TEST(http_admission_bound_caps_one_iteration)
{
    tsrv_t *t = tsrv_bounded(2);
    client_t *c = client_open(t->port);
    resp_t r[8];
    client_send(c, GET("/a") GET("/b") GET("/c") GET("/d"));
    CHECK_INT(wait_responses(t, c, 4, r, 8), 4);
    CHECK_STR(r[0].body, "ok:/a");
    CHECK_STR(r[1].body, "ok:/b");
    CHECK_INT(r[2].status, 503);
    CHECK_INT(r[3].status, 503);
    CHECK_INT(tsrv_stats(t).load, 0);
    client_send(c, GET("/e"));
    CHECK_INT(wait_responses(t, c, 5, r, 8), 5);
    CHECK_STR(r[4].body, "ok:/e");
    client_close(c);
    tsrv_free(t);
}

/* Exchanges out are load unless declared waiting (long polls); an aborted
 * or answered one stops counting. */
TEST(http_admission_bound_counts_exchanges_not_waiters)
{
    tsrv_t *t = tsrv_bounded(2);
    client_t *p[4], *w[2], *c = client_open(t->port);
    resp_t r[8];
    for (int i = 0; i < 4; i++) {
        p[i] = client_open(t->port);
        client_send(p[i], GET("/park"));
    }
    run_for(t->loop, 30);
    CHECK_INT(t->npending, 4);
    CHECK_INT(t->shed, 0);
    CHECK_INT(tsrv_stats(t).load, 0);
    for (int i = 0; i < 2; i++) {
        w[i] = client_open(t->port);
        client_send(w[i], GET("/defer"));
    }
    run_for(t->loop, 30);
    CHECK_INT(t->npending, 6);
    CHECK_INT(tsrv_stats(t).load, 2);
    client_send(c, GET("/x"));
    CHECK_INT(wait_responses(t, c, 1, r, 8), 1);
    CHECK_INT(r[0].status, 503);
    client_close(w[0]); /* aborted: no longer load */
    client_close(w[1]);
    run_for(t->loop, 30);
    CHECK_INT(t->aborts, 2);
    CHECK_INT(tsrv_stats(t).load, 0);
    client_send(c, GET("/y"));
    CHECK_INT(wait_responses(t, c, 2, r, 8), 2);
    CHECK_STR(r[1].body, "ok:/y");
    for (int i = 0; i < 4; i++)
        client_close(p[i]);
    client_close(c);
    tsrv_free(t);
}

typedef struct poller {
    http_server_t *srv;
    int calls;
} poller_t;

static void poll_release(void *arg)
{
    poller_t *p = arg;
    p->calls++;
    http_server_durable(p->srv, 5);
}

/* Before refusing, the server asks for durability not yet reported: what
 * that releases makes room at once. */
TEST(http_admission_bound_polls_durability_first)
{
    http_server_config_t cfg;
    http_server_config_defaults(&cfg);
    poller_t p = {0};
    cfg.max_pending = 2;
    cfg.poll_durable = poll_release;
    cfg.poll_arg = &p;
    tsrv_t *t = tsrv_start_cfg(&cfg);
    p.srv = t->srv;
    client_t *c = client_open(t->port);
    resp_t r[4];
    client_send(c, GET("/held/5") GET("/held/5") GET("/held/9"));
    CHECK_INT(wait_responses(t, c, 2, r, 4), 2);
    CHECK_INT(p.calls, 1);
    CHECK_INT(t->shed, 0);
    CHECK_INT(tsrv_stats(t).load, 1);
    http_server_durable(t->srv, 9);
    CHECK_INT(wait_responses(t, c, 3, r, 4), 3);
    CHECK_STR(r[2].body, "held");
    client_close(c);
    tsrv_free(t);
}
