/*
 * http_server — connections on the event loop; see http_server.h.
 *
 * A connection is a small state machine:
 *   HEAD    waiting for a complete request head (idle or request timeout)
 *   BODY    head parsed, body arriving (Content-Length or chunked)
 *   EXCH    the handler has the exchange; no timeout of ours applies
 *   CLOSING an error reply or shutdown; close once output is written
 * Only one exchange per connection is outstanding; pipelined requests wait
 * in the read buffer and are parsed once the current one has its reply, so
 * replies are queued in request order without any reordering logic.
 *
 * Output: replies are appended to conn->out with a hold (end offset, LSN).
 * At the end of each loop iteration (and when durability advances) every
 * connection on the flush list writes the prefix whose holds are durable,
 * in one write(2) per connection per iteration.
 */
#include "net/http_server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "util/alloc.h"
#include "util/list.h"
#include "util/logging.h"

#define READ_CHUNK (64 * 1024)
#define READ_MAX_PER_EVENT (1024 * 1024)
#define ACCEPT_MAX_PER_EVENT 64
#define ACCEPT_PAUSE_MS 100

typedef enum { CONN_HEAD, CONN_BODY, CONN_EXCH, CONN_CLOSING } conn_state_t;
enum { TIMER_NONE, TIMER_IDLE, TIMER_REQUEST, TIMER_WRITE };

typedef struct hold {
    size_t end;   /* offset in out where this reply ends */
    uint64_t lsn; /* reply may leave once durable >= lsn */
} hold_t;

typedef struct http_conn {
    loop_io_t io;
    loop_timer_t timer;
    http_server_t *srv;
    list_t link;       /* srv->conns */
    list_t flush_link; /* srv->flush (may write now) or srv->held (waits for durability) */
    conn_state_t state;
    buf_t rbuf;
    size_t rstart;   /* first byte of the current request in rbuf */
    size_t body_off; /* chunked: next undecoded byte */
    http_head_t head;
    http_chunked_t chunk;
    buf_t body;
    int keep_alive;
    int in_handler;
    int peer_eof;
    int want_process; /* a deferred reply arrived; parse on */
    int timer_kind;   /* which deadline the timer holds: TIMER_* */
    http_ex_t *ex;
    buf_t out;
    size_t out_sent;
    hold_t *holds;
    size_t nholds, capholds;
    char peer[INET6_ADDRSTRLEN + 8];
} http_conn_t;

struct http_server {
    loop_t *loop;
    http_server_config_t cfg;
    http_handler_fn handler;
    void *arg;
    loop_io_t listen_io;
    loop_timer_t accept_timer;
    int port;
    list_t conns;
    list_t flush;
    list_t held;
    uint64_t durable;
    int shutting_down;
    void (*done)(void *);
    void *done_arg;
    http_server_stats_t stats;
    time_t date_sec;
    char date[64];
};

static void conn_close(http_conn_t *c);
static void conn_process(http_conn_t *c);
static void conn_arm_timer(http_conn_t *c);

void http_server_config_defaults(http_server_config_t *c)
{
    memset(c, 0, sizeof *c);
    c->host = "127.0.0.1";
    c->port = 4566;
    c->limits.max_head = 64 * 1024;
    c->limits.max_headers = HTTP_MAX_HEADERS;
    c->limits.max_body = 16 * 1024 * 1024;
    c->max_connections = 16384;
    c->idle_timeout_ms = 60000;
    c->request_timeout_ms = 60000;
    c->write_timeout_ms = 60000;
}

static const char *status_reason(int status)
{
    switch (status) {
    case 100: return "Continue";
    case 200: return "OK";
    case 202: return "Accepted";
    case 204: return "No Content";
    case 400: return "Bad Request";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 413: return "Content Too Large";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 503: return "Service Unavailable";
    case 505: return "HTTP Version Not Supported";
    default: return "Status";
    }
}

static const char *server_date(http_server_t *srv)
{
    time_t now = time(NULL);
    if (now != srv->date_sec) {
        struct tm tm;
        gmtime_r(&now, &tm);
        strftime(srv->date, sizeof srv->date, "%a, %d %b %Y %H:%M:%S GMT", &tm);
        srv->date_sec = now;
    }
    return srv->date;
}

/* ---- output ---------------------------------------------------------- */

static void conn_push_hold(http_conn_t *c, uint64_t lsn)
{
    if (c->nholds == c->capholds) {
        c->capholds = c->capholds ? c->capholds * 2 : 4;
        c->holds = xrealloc(c->holds, c->capholds * sizeof *c->holds);
    }
    c->holds[c->nholds].end = c->out.len;
    c->holds[c->nholds].lsn = lsn;
    c->nholds++;
}

static void conn_schedule_flush(http_conn_t *c)
{
    if (!list_linked(&c->flush_link))
        list_push_back(&c->srv->flush, &c->flush_link);
}

/* The end of the output that may be written now. */
static size_t conn_writable_end(http_conn_t *c)
{
    size_t i = 0, end = c->out_sent;
    while (i < c->nholds && c->holds[i].lsn <= c->srv->durable)
        end = c->holds[i++].end;
    if (i) {
        memmove(c->holds, c->holds + i, (c->nholds - i) * sizeof *c->holds);
        c->nholds -= i;
    }
    return end > c->out_sent ? end : c->out_sent;
}

static uint32_t conn_events(const http_conn_t *c, int want_out)
{
    uint32_t ev = c->peer_eof ? 0 : EPOLLRDHUP;
    /* While an exchange is with its handler, read ahead only a bounded
     * amount of pipelined data; a request still arriving is always read. */
    int busy = c->state == CONN_EXCH && (c->rbuf.len - c->rstart) >= c->srv->cfg.limits.max_head + READ_CHUNK;
    if (!c->peer_eof && c->state != CONN_CLOSING && !busy)
        ev |= EPOLLIN;
    if (want_out)
        ev |= EPOLLOUT;
    return ev;
}

/* Writes what may be written. Returns -1 if the connection was closed. */
static int conn_write(http_conn_t *c)
{
    size_t end = conn_writable_end(c);
    while (c->out_sent < end) {
        ssize_t n = write(c->io.fd, c->out.data + c->out_sent, end - c->out_sent);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            loop_io_modify(c->srv->loop, &c->io, conn_events(c, 1));
            conn_arm_timer(c);
            return 0;
        }
        if (n <= 0) {
            conn_close(c);
            return -1;
        }
        c->out_sent += (size_t)n;
    }
    if (c->out_sent == c->out.len) {
        buf_reset(&c->out); /* every hold has been released */
        c->out_sent = 0;
        if (c->out.cap > 4 * READ_CHUNK)
            buf_free(&c->out);
        if (c->state == CONN_CLOSING || (c->state == CONN_HEAD && !c->keep_alive)) {
            conn_close(c);
            return -1;
        }
    } else if (c->out_sent > 64 * 1024 && c->out_sent * 2 > c->out.len) {
        /* compact: drop what has been written and shift the holds */
        buf_consume(&c->out, c->out_sent);
        for (size_t i = 0; i < c->nholds; i++)
            c->holds[i].end -= c->out_sent;
        c->out_sent = 0;
    }
    loop_io_modify(c->srv->loop, &c->io, conn_events(c, 0));
    conn_arm_timer(c);
    if (c->nholds && !list_linked(&c->flush_link))
        list_push_back(&c->srv->held, &c->flush_link);
    return 0;
}

/* End-of-iteration hook: parse on where deferred replies freed a connection,
 * and write what may be written. Connections still waiting for durability
 * park on srv->held, so this loop always ends. */
static void server_flush(loop_t *loop, void *arg)
{
    (void)loop;
    http_server_t *srv = arg;
    list_t *pos;
    while ((pos = list_first(&srv->flush))) {
        http_conn_t *c = list_entry(pos, http_conn_t, flush_link);
        list_del(&c->flush_link);
        if (c->want_process) {
            c->want_process = 0;
            conn_process(c);
            if (c->io.fd < 0)
                continue;
        }
        conn_write(c);
    }
}

void http_server_durable(http_server_t *srv, uint64_t durable_lsn)
{
    if (durable_lsn <= srv->durable)
        return;
    srv->durable = durable_lsn;
    list_t *pos;
    while ((pos = list_first(&srv->held))) {
        list_del(pos);
        list_push_back(&srv->flush, pos);
    }
}

static void conn_append_head(http_conn_t *c, int status, const char *ctype, const char *extra, size_t body_len)
{
    buf_printf(&c->out,
               "HTTP/1.1 %d %s\r\nServer: Sluice\r\nDate: %s\r\nContent-Length: %zu\r\n", status,
               status_reason(status), server_date(c->srv), body_len);
    if (ctype)
        buf_printf(&c->out, "Content-Type: %s\r\n", ctype);
    if (extra)
        buf_puts(&c->out, extra);
    if (!c->keep_alive)
        buf_puts(&c->out, "Connection: close\r\n");
    buf_puts(&c->out, "\r\n");
}

/* An error found by the connection layer itself: reply and close. */
static void conn_fail(http_conn_t *c, int status)
{
    static const char body[] = "{\"message\":\"request rejected by the HTTP layer\"}";
    c->keep_alive = 0;
    c->state = CONN_CLOSING;
    conn_append_head(c, status, "application/json", NULL, sizeof body - 1);
    buf_append(&c->out, body, sizeof body - 1);
    conn_push_hold(c, 0);
    conn_schedule_flush(c);
}

/* ---- requests -------------------------------------------------------- */

static void conn_finish_request(http_conn_t *c)
{
    size_t end = c->head.chunked ? c->body_off : c->rstart + c->head.head_len + (size_t)c->head.content_length;
    c->rstart = end;
    if (c->rstart == c->rbuf.len) {
        c->rstart = 0;
        buf_reset(&c->rbuf);
        if (c->rbuf.cap > 4 * READ_CHUNK)
            buf_free(&c->rbuf);
    }
    buf_reset(&c->body);
    if (c->body.cap > 4 * READ_CHUNK)
        buf_free(&c->body);
    if (c->state == CONN_EXCH)
        c->state = (c->srv->shutting_down || !c->keep_alive) ? CONN_CLOSING : CONN_HEAD;
}

void http_ex_reply(http_ex_t *ex, int status, const char *ctype, const char *extra, const char *body,
                   size_t body_len, uint64_t lsn)
{
    http_conn_t *c = ex->conn;
    free(ex);
    c->ex = NULL;
    c->srv->stats.pending_exchanges--;
    conn_append_head(c, status, ctype, extra, body_len);
    buf_append(&c->out, body, body_len);
    conn_push_hold(c, lsn);
    conn_finish_request(c);
    if (!c->in_handler)
        c->want_process = 1; /* deferred reply: parse pipelined requests at the flush */
    conn_schedule_flush(c);
}

static void conn_dispatch(http_conn_t *c)
{
    http_server_t *srv = c->srv;
    /* Re-parse: the buffer may have moved since the head was first seen. */
    http_parse_head(c->rbuf.data + c->rstart, c->rbuf.len - c->rstart, &srv->cfg.limits, &c->head);
    if (!c->head.chunked) {
        buf_reset(&c->body);
        buf_append(&c->body, c->rbuf.data + c->rstart + c->head.head_len, (size_t)c->head.content_length);
    }
    if (!c->body.data)
        buf_append(&c->body, "", 0);
    http_ex_t *ex = xcalloc(1, sizeof *ex);
    ex->head = &c->head;
    ex->body = c->body.data;
    ex->body_len = c->body.len;
    ex->peer = c->peer;
    ex->conn = c;
    c->ex = ex;
    c->state = CONN_EXCH;
    srv->stats.requests++;
    srv->stats.pending_exchanges++;
    loop_timer_stop(srv->loop, &c->timer);
    c->timer_kind = TIMER_NONE;
    c->in_handler = 1;
    srv->handler(ex, srv->arg);
    c->in_handler = 0;
}

static int conn_read_body(http_conn_t *c)
{
    if (!c->head.chunked) {
        size_t have = c->rbuf.len - c->rstart - c->head.head_len;
        return have >= (size_t)c->head.content_length ? 1 : 0;
    }
    ssize_t n = http_chunked_decode(&c->chunk, c->rbuf.data + c->body_off, c->rbuf.len - c->body_off, &c->body,
                                    c->srv->cfg.limits.max_body);
    if (n < 0) {
        conn_fail(c, (int)-n);
        return -1;
    }
    c->body_off += (size_t)n;
    return c->chunk.done ? 1 : 0;
}

static void conn_start_body(http_conn_t *c)
{
    c->keep_alive = c->head.keep_alive && !c->srv->shutting_down;
    c->state = CONN_BODY;
    buf_reset(&c->body);
    if (c->head.chunked) {
        http_chunked_init(&c->chunk);
        c->body_off = c->rstart + c->head.head_len;
    }
    int needs_body = c->head.chunked || c->head.content_length > 0;
    size_t have = c->rbuf.len - c->rstart - c->head.head_len;
    if (c->head.expect_continue && needs_body && (c->head.chunked || have < (size_t)c->head.content_length)) {
        buf_puts(&c->out, "HTTP/1.1 100 Continue\r\n\r\n");
        conn_push_hold(c, 0);
        conn_schedule_flush(c);
    }
}

/* Parses and dispatches as many buffered requests as the state allows. */
static void conn_process(http_conn_t *c)
{
    while (c->io.fd >= 0 && (c->state == CONN_HEAD || c->state == CONN_BODY)) {
        if (c->state == CONN_HEAD) {
            if (c->rstart == c->rbuf.len) {
                if (c->peer_eof)
                    c->state = CONN_CLOSING, conn_schedule_flush(c);
                break;
            }
            ssize_t n = http_parse_head(c->rbuf.data + c->rstart, c->rbuf.len - c->rstart, &c->srv->cfg.limits,
                                        &c->head);
            if (n < 0) {
                conn_fail(c, (int)-n);
                break;
            }
            if (n == 0) {
                if (c->peer_eof)
                    conn_close(c);
                break;
            }
            conn_start_body(c);
        }
        int r = conn_read_body(c);
        if (r < 0)
            break;
        if (r == 0) {
            if (c->peer_eof)
                conn_close(c);
            break;
        }
        conn_dispatch(c);
    }
    if (c->io.fd >= 0)
        conn_arm_timer(c);
}

/* ---- connection I/O ---------------------------------------------------- */

static int conn_fill(http_conn_t *c)
{
    size_t total = 0;
    while (total < READ_MAX_PER_EVENT) {
        if (c->rstart > 0 && c->rstart * 2 >= c->rbuf.len && c->state == CONN_HEAD) {
            buf_consume(&c->rbuf, c->rstart); /* compact before growing */
            c->rstart = 0;
        }
        buf_reserve(&c->rbuf, READ_CHUNK);
        size_t room = c->rbuf.cap - c->rbuf.len - 1;
        ssize_t n = read(c->io.fd, c->rbuf.data + c->rbuf.len, room);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            break;
        if (n <= 0) {
            c->peer_eof = 1;
            break;
        }
        c->rbuf.len += (size_t)n;
        c->rbuf.data[c->rbuf.len] = '\0';
        total += (size_t)n;
        if ((size_t)n < room)
            break;
    }
    return 0;
}

static void conn_abort_exchange(http_conn_t *c)
{
    http_ex_t *ex = c->ex;
    if (!ex)
        return;
    c->ex = NULL;
    c->srv->stats.pending_exchanges--;
    if (ex->on_abort)
        ex->on_abort(ex, ex->abort_arg);
    free(ex);
}

static void conn_on_io(loop_t *loop, int fd, uint32_t events, void *arg)
{
    (void)loop;
    (void)fd;
    http_conn_t *c = arg;
    if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) {
        conn_fill(c);
        if (c->peer_eof && (c->state == CONN_EXCH || (events & (EPOLLHUP | EPOLLERR)))) {
            conn_close(c); /* the client is gone: nobody will read the reply */
            return;
        }
        if (c->state == CONN_HEAD || c->state == CONN_BODY)
            conn_process(c);
        if (c->io.fd < 0)
            return;
        if (c->peer_eof && c->state == CONN_EXCH)
            return;
        loop_io_modify(c->srv->loop, &c->io, conn_events(c, (c->io.events & EPOLLOUT) != 0));
    }
    if ((events & EPOLLOUT) && c->io.fd >= 0)
        conn_write(c);
}

static void conn_on_timer(loop_t *loop, loop_timer_t *t)
{
    (void)loop;
    http_conn_t *c = t->arg;
    if (c->state == CONN_HEAD && c->rstart == c->rbuf.len && c->out_sent == c->out.len) {
        conn_close(c); /* idle keep-alive */
        return;
    }
    if ((c->state == CONN_HEAD || c->state == CONN_BODY) && c->out_sent == c->out.len) {
        conn_fail(c, 408);
        return;
    }
    log_info("http_close", "peer=%s reason=timeout", c->peer);
    conn_close(c); /* a client that does not read what we write */
}

/* One timer per connection; which deadline it holds follows the state. A
 * write deadline restarts on progress; a request deadline runs from the
 * request's first byte and is not pushed back by later bytes. */
static void conn_arm_timer(http_conn_t *c)
{
    http_server_t *srv = c->srv;
    int kind;
    uint64_t ms = 0;
    if (c->out_sent < c->out.len && (c->io.events & EPOLLOUT))
        kind = TIMER_WRITE, ms = srv->cfg.write_timeout_ms;
    else if (c->state == CONN_EXCH || (c->out_sent < c->out.len && c->nholds))
        kind = TIMER_NONE; /* the handler or the store owns the wait */
    else if (c->state == CONN_HEAD && c->rstart == c->rbuf.len)
        kind = TIMER_IDLE, ms = srv->cfg.idle_timeout_ms;
    else
        kind = TIMER_REQUEST, ms = srv->cfg.request_timeout_ms;
    if (kind == TIMER_NONE) {
        loop_timer_stop(srv->loop, &c->timer);
    } else if (kind != c->timer_kind || kind == TIMER_WRITE || !loop_timer_active(&c->timer)) {
        loop_timer_start(srv->loop, &c->timer, ms);
    }
    c->timer_kind = kind;
}

static void server_check_done(http_server_t *srv)
{
    if (srv->shutting_down && list_empty(&srv->conns) && srv->done) {
        void (*done)(void *) = srv->done;
        srv->done = NULL;
        done(srv->done_arg);
    }
}

static void conn_close(http_conn_t *c)
{
    http_server_t *srv = c->srv;
    if (c->io.fd < 0)
        return;
    conn_abort_exchange(c);
    int fd = c->io.fd;
    loop_io_stop(srv->loop, &c->io);
    close(fd);
    loop_timer_stop(srv->loop, &c->timer);
    list_del(&c->link);
    if (list_linked(&c->flush_link))
        list_del(&c->flush_link);
    buf_free(&c->rbuf);
    buf_free(&c->body);
    buf_free(&c->out);
    free(c->holds);
    srv->stats.open--;
    loop_defer_free(srv->loop, c);
    server_check_done(srv);
}

/* ---- accepting --------------------------------------------------------- */

static void peer_name(const struct sockaddr_storage *ss, char *out, size_t n)
{
    char host[INET6_ADDRSTRLEN] = "?";
    int port = 0;
    if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *a = (const struct sockaddr_in *)ss;
        inet_ntop(AF_INET, &a->sin_addr, host, sizeof host);
        port = ntohs(a->sin_port);
    } else if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)ss;
        inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof host);
        port = ntohs(a->sin6_port);
    }
    snprintf(out, n, "%s:%d", host, port);
}

static void server_reject(http_server_t *srv, int fd)
{
    static const char busy[] = "HTTP/1.1 503 Service Unavailable\r\nServer: Sluice\r\nContent-Length: 0\r\n"
                               "Retry-After: 1\r\nConnection: close\r\n\r\n";
    ssize_t w = write(fd, busy, sizeof busy - 1);
    (void)w;
    close(fd);
    srv->stats.rejected++;
}

static void server_add_conn(http_server_t *srv, int fd, const struct sockaddr_storage *ss)
{
    http_conn_t *c = xcalloc(1, sizeof *c);
    c->srv = srv;
    c->state = CONN_HEAD;
    c->keep_alive = 1;
    list_init(&c->flush_link);
    loop_timer_init(&c->timer, conn_on_timer, c);
    peer_name(ss, c->peer, sizeof c->peer);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (loop_io_start(srv->loop, &c->io, fd, EPOLLIN | EPOLLRDHUP, conn_on_io, c) < 0) {
        close(fd);
        free(c);
        return;
    }
    list_push_back(&srv->conns, &c->link);
    srv->stats.accepted++;
    srv->stats.open++;
    conn_arm_timer(c);
}

static void server_resume_accept(loop_t *loop, loop_timer_t *t)
{
    http_server_t *srv = t->arg;
    if (srv->listen_io.fd >= 0)
        loop_io_modify(loop, &srv->listen_io, EPOLLIN);
}

static void server_on_accept(loop_t *loop, int lfd, uint32_t events, void *arg)
{
    (void)events;
    http_server_t *srv = arg;
    for (int i = 0; i < ACCEPT_MAX_PER_EVENT; i++) {
        struct sockaddr_storage ss;
        socklen_t sl = sizeof ss;
        int fd = accept4(lfd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
                log_warn("accept_paused", "errno=%d reason=\"%s\"", errno, strerror(errno));
                loop_io_modify(loop, &srv->listen_io, 0);
                loop_timer_start(loop, &srv->accept_timer, ACCEPT_PAUSE_MS);
            }
            return;
        }
        if (srv->stats.open >= srv->cfg.max_connections)
            server_reject(srv, fd);
        else
            server_add_conn(srv, fd, &ss);
    }
}

static int server_listen(http_server_t *srv, char *why, size_t why_len)
{
    char portstr[16];
    snprintf(portstr, sizeof portstr, "%d", srv->cfg.port);
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE};
    struct addrinfo *ai = NULL;
    int rc = getaddrinfo(srv->cfg.host, portstr, &hints, &ai);
    if (rc != 0) {
        snprintf(why, why_len, "cannot resolve host %s: %s", srv->cfg.host, gai_strerror(rc));
        return -1;
    }
    int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    if (fd >= 0)
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (fd < 0 || bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, 4096) < 0) {
        snprintf(why, why_len, "cannot listen on %s:%d: %s", srv->cfg.host, srv->cfg.port, strerror(errno));
        if (fd >= 0)
            close(fd);
        freeaddrinfo(ai);
        return -1;
    }
    freeaddrinfo(ai);
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    getsockname(fd, (struct sockaddr *)&ss, &sl);
    srv->port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                                : ((struct sockaddr_in *)&ss)->sin_port);
    return loop_io_start(srv->loop, &srv->listen_io, fd, EPOLLIN, server_on_accept, srv) < 0 ? -1 : 0;
}

http_server_t *http_server_new(loop_t *loop, const http_server_config_t *cfg, http_handler_fn handler, void *arg,
                               char *why, size_t why_len)
{
    http_server_t *srv = xcalloc(1, sizeof *srv);
    srv->loop = loop;
    srv->cfg = *cfg;
    if (srv->cfg.limits.max_headers > HTTP_MAX_HEADERS || !srv->cfg.limits.max_headers)
        srv->cfg.limits.max_headers = HTTP_MAX_HEADERS;
    srv->handler = handler;
    srv->arg = arg;
    srv->listen_io.fd = -1;
    list_init(&srv->conns);
    list_init(&srv->flush);
    list_init(&srv->held);
    loop_timer_init(&srv->accept_timer, server_resume_accept, srv);
    if (server_listen(srv, why, why_len) < 0) {
        free(srv);
        return NULL;
    }
    loop_add_hook(loop, server_flush, srv);
    return srv;
}

int http_server_port(const http_server_t *srv)
{
    return srv->port;
}

static void server_close_listener(http_server_t *srv)
{
    if (srv->listen_io.fd < 0)
        return;
    int fd = srv->listen_io.fd;
    loop_io_stop(srv->loop, &srv->listen_io);
    close(fd);
    loop_timer_stop(srv->loop, &srv->accept_timer);
}

void http_server_shutdown(http_server_t *srv, void (*done)(void *), void *arg)
{
    srv->shutting_down = 1;
    srv->done = done;
    srv->done_arg = arg;
    server_close_listener(srv);
    list_t *pos, *tmp;
    list_for_each_safe(pos, tmp, &srv->conns)
    {
        http_conn_t *c = list_entry(pos, http_conn_t, link);
        c->keep_alive = 0;
        if (c->state == CONN_HEAD && c->rstart == c->rbuf.len && c->out_sent == c->out.len)
            conn_close(c);
        else if (c->state == CONN_HEAD || c->state == CONN_BODY)
            c->state = CONN_CLOSING, conn_schedule_flush(c);
    }
    server_check_done(srv);
}

void http_server_free(http_server_t *srv)
{
    if (!srv)
        return;
    srv->done = NULL;
    server_close_listener(srv);
    while (!list_empty(&srv->conns))
        conn_close(list_entry(srv->conns.next, http_conn_t, link));
    /* The flush hook stays registered on the loop; the loop is freed with us. */
    srv->handler = NULL;
    loop_defer_free(srv->loop, srv);
}

void http_server_get_stats(const http_server_t *srv, http_server_stats_t *out)
{
    *out = srv->stats;
}
