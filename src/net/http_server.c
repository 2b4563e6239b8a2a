/*
 * http_server — connections on the event loop; see http_server.h.
 *
 * A connection is a small state machine:
 *   HEAD    waiting for a complete request head (idle or request timeout)
 *   BODY    head parsed, body arriving (Content-Length or chunked)
 *   EXCH    the handler has the exchange; no timeout of ours applies
 *   CLOSING an error reply, Connection: close, a client that stopped sending,
 *           or shutdown: input is read and dropped, and the connection ends
 *           once its output is written
 *   LINGER  output written and our side shut down (FIN sent): input is still
 *           drained until the peer closes or LINGER_MS pass, because close()
 *           with unread input sends a RST that can destroy the reply still
 *           in flight (the 400/413/503 the client must see)
 * Only one exchange per connection is outstanding; pipelined requests wait
 * in the read buffer and are parsed once the current one has its reply, so
 * replies are queued in request order without any reordering logic.
 *
 * Input: rbuf holds bytes from rstart (the current request) on. A reply
 * moves rstart past its request; chunked framing already decoded is cut out
 * as it goes, so memory follows the decoded body, not the framing. Reading
 * stops (no EPOLLIN) while a client leaves OUT_HIGH_WATER bytes of replies
 * unread, and while an exchange is out once a next head's worth is buffered:
 * a client's backlog waits in its socket, not in our memory.
 *
 * Output: replies are appended to conn->out with a hold (end offset, LSN).
 * At the end of each loop iteration (and when durability advances) every
 * connection on the flush list writes the prefix whose holds are durable,
 * in one write per connection per iteration.
 *
 * Deferred replies (a long poll answered from another connection's handler
 * or a timer) put the connection on srv->process; a zero-delay timer parses
 * its pipelined requests in the loop's timer phase, before the
 * end-of-iteration hooks, so records their handlers append reach the store's
 * hook in the same iteration instead of waiting for the next wake-up.
 *
 * Load (the admission bound, cfg.max_pending): busy counts the exchanges
 * out that no handler declared waiting; unflushed the admitted replies
 * queued in this loop iteration (the flush hook zeroes it); nheld the
 * admitted replies waiting for the log. Replies are queued in LSN order
 * server-wide (the store's last LSN only grows), so those are kept as runs
 * of equal LSN, oldest first, and each durability advance drops whole runs
 * from the front. Under a CPU-bound overload the loop's iterations grow,
 * and the bound caps what one takes on; under a slow disk the held replies
 * grow, and it caps that. Replies to refused requests are not load. A
 * connection that closes with held replies leaves them counted until the
 * log reaches them: their records are still queued for it.
 *
 * Lifetime: conn_close() stops and closes at once and frees with
 * loop_defer_free(), since other events of the same batch may still point
 * at the connection (their io.fd is then -1 and the loop skips them).
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
#include "util/hmap.h"
#include "util/list.h"
#include "util/logging.h"
#include "util/text.h"

#define READ_FIRST 4096              /* first read into an empty buffer */
#define READ_CHUNK (64 * 1024)       /* later reads */
#define READ_MAX_PER_EVENT (1024 * 1024)
#define BUF_KEEP (16 * 1024)         /* buffers larger than this are freed when empty, so an
                                      * idle connection costs little more than its struct */
#define OUT_HIGH_WATER (256 * 1024)  /* unread replies beyond which we stop reading */
#define LINGER_MS 2000
#define REJECT_LINGER_MAX 256        /* rejected (503) connections lingering at once */
#define ACCEPT_MAX_PER_EVENT 64
#define ACCEPT_PAUSE_MS 100
#define LISTEN_BACKLOG 4096
#define SHED_LOG_MS 1000             /* at most one log line a second while shedding */

typedef enum { CONN_HEAD, CONN_BODY, CONN_EXCH, CONN_CLOSING, CONN_LINGER } conn_state_t;
typedef enum { TIMER_NONE, TIMER_IDLE, TIMER_REQUEST, TIMER_WRITE, TIMER_LINGER } timer_kind_t;

typedef struct hold {
    size_t end;          /* offset in out where this reply ends */
    uint64_t lsn;        /* reply may leave once durable >= lsn */
    unsigned char shape; /* its exchange's shape: which failure reply replaces it */
    unsigned char head;  /* a HEAD request's: a replacement carries no body either */
} hold_t;

typedef struct http_conn {
    loop_io_t io;
    loop_timer_t timer;
    http_server_t *srv;
    list_t link;         /* srv->conns */
    list_t flush_link;   /* srv->flush (may write now) or srv->held (waits for durability) */
    list_t process_link; /* srv->process: parsing may go on (deferred reply, drained backlog) */
    conn_state_t state;
    buf_t rbuf;
    size_t rstart;   /* first byte of the current request in rbuf */
    size_t body_off; /* chunked: next undecoded byte */
    http_head_t head;
    buf_t hbuf; /* the dispatched request's head, NUL-terminated; ex->head points here */
    http_chunked_t chunk;
    buf_t body;
    int keep_alive;
    int http10;        /* the current request is HTTP/1.0 */
    int continued;     /* 100 Continue queued for the current request */
    int in_handler;
    int peer_eof;      /* the peer sends no more (EOF, error, or half-close seen) */
    int paused;        /* parsing stopped on the output backlog */
    int write_blocked; /* the last write hit EAGAIN: EPOLLOUT wanted */
    int rejected;      /* over max_connections: 503 written, lingering */
    timer_kind_t timer_kind; /* which deadline the timer holds */
    http_ex_t *ex;
    buf_t out;
    size_t out_sent;
    size_t out_ready; /* end of the output whose holds are released (it may be written) */
    hold_t *holds;
    size_t nholds, capholds;
    char peer[INET6_ADDRSTRLEN + 8];
    struct peer_count *from; /* its peer address's count, under max_per_client */
} http_conn_t;

/* Admitted replies waiting for the log with one LSN. */
typedef struct held_run {
    uint64_t lsn;
    size_t n;
} held_run_t;

struct http_server {
    loop_t *loop;
    http_server_config_t cfg;
    http_handler_fn handler;
    void *arg;
    loop_io_t listen_io;
    loop_timer_t accept_timer;
    loop_timer_t process_timer;
    int port;
    list_t conns;
    list_t flush;
    list_t held;
    list_t process;
    unsigned nrejecting;
    hmap_t peers; /* peer address → peer_count_t, under max_per_client */
    uint64_t durable;
    int shutting_down;
    http_fail_fn fail; /* set once the store failed: held replies are replaced */
    void *fail_arg;
    void (*done)(void *);
    void *done_arg;
    http_server_stats_t stats;
    /* the load (see the file comment) */
    size_t busy, unflushed, nheld;
    held_run_t *runs; /* runs[run0 .. run0 + nruns) */
    size_t run0, nruns, caprun;
    uint64_t shed_logged, shed_log_ms; /* stats.shed at the last shed log line, and when */
    time_t date_sec;
    char date[64];
};

/* Open connections from one client (family byte + IPv4 address or IPv6 /64; see peer_count). */
typedef struct peer_count {
    unsigned n;
    size_t klen;
    uint8_t key[9];
} peer_count_t;

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
    case 201: return "Created";
    case 202: return "Accepted";
    case 204: return "No Content";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 303: return "See Other";
    case 304: return "Not Modified";
    case 307: return "Temporary Redirect";
    case 308: return "Permanent Redirect";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 410: return "Gone";
    case 413: return "Content Too Large";
    case 414: return "URI Too Long";
    case 415: return "Unsupported Media Type";
    case 422: return "Unprocessable Content";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
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

/* ---- events and scheduling ------------------------------------------------ */

static size_t conn_backlog(const http_conn_t *c)
{
    return c->out.len - c->out_sent;
}

/* Where the current request ends in rbuf (its body fully arrived). */
static size_t conn_request_end(const http_conn_t *c)
{
    if (c->head.chunked)
        return c->body_off;
    return c->rstart + c->head.head_len + (size_t)c->head.content_length;
}

/* Whether the connection wants input now; see the file comment. CLOSING
 * and LINGER read only to drop. */
static int conn_reads(const http_conn_t *c)
{
    if (c->peer_eof)
        return 0;
    if (c->state == CONN_CLOSING || c->state == CONN_LINGER)
        return 1;
    if (c->state == CONN_EXCH && c->rbuf.len - conn_request_end(c) >= c->srv->cfg.limits.max_head + READ_CHUNK)
        return 0;
    return conn_backlog(c) < OUT_HIGH_WATER;
}

static uint32_t conn_events(const http_conn_t *c)
{
    uint32_t ev = c->write_blocked ? EPOLLOUT : 0;
    if (conn_reads(c))
        ev |= EPOLLIN | EPOLLRDHUP;
    else if (c->state == CONN_EXCH && !c->peer_eof)
        ev |= EPOLLRDHUP; /* a pending exchange still learns that its client left */
    return ev;
}

static void conn_update_events(http_conn_t *c)
{
    loop_io_modify(c->srv->loop, &c->io, conn_events(c));
}

static void conn_schedule_flush(http_conn_t *c)
{
    if (!list_linked(&c->flush_link))
        list_push_back(&c->srv->flush, &c->flush_link);
}

static void conn_schedule_process(http_conn_t *c)
{
    http_server_t *srv = c->srv;
    if (!list_linked(&c->process_link))
        list_push_back(&srv->process, &c->process_link);
    if (!loop_timer_active(&srv->process_timer))
        loop_timer_start(srv->loop, &srv->process_timer, 0);
}

/* Timer phase: parse on where parsing was waiting (see the file comment). */
static void server_on_process(loop_t *loop, loop_timer_t *t)
{
    (void)loop;
    http_server_t *srv = t->arg;
    list_t *pos;
    while ((pos = list_first(&srv->process))) {
        http_conn_t *c = list_entry(pos, http_conn_t, process_link);
        list_del(pos);
        if (c->state != CONN_HEAD && c->state != CONN_BODY)
            continue;
        conn_process(c);
        if (c->io.fd >= 0)
            conn_update_events(c);
    }
}

/* ---- load: the admission bound (see the file comment) ------------------ */

static size_t server_load(const http_server_t *srv)
{
    return srv->busy + srv->unflushed + srv->nheld;
}

/* An admitted reply was queued to leave once lsn is durable. An LSN older
 * than the newest run's rides with that run: it is released no sooner. */
static void load_add_reply(http_server_t *srv, uint64_t lsn)
{
    if (lsn <= srv->durable) {
        srv->unflushed++;
        return;
    }
    srv->nheld++;
    if (srv->nruns && srv->runs[srv->run0 + srv->nruns - 1].lsn >= lsn) {
        srv->runs[srv->run0 + srv->nruns - 1].n++;
        return;
    }
    if (srv->run0 + srv->nruns == srv->caprun) {
        if (srv->run0 && srv->run0 >= srv->caprun / 2) {
            memmove(srv->runs, srv->runs + srv->run0, srv->nruns * sizeof *srv->runs);
            srv->run0 = 0;
        } else {
            srv->caprun = srv->caprun ? srv->caprun * 2 : 64;
            srv->runs = xrealloc(srv->runs, srv->caprun * sizeof *srv->runs);
        }
    }
    srv->runs[srv->run0 + srv->nruns++] = (held_run_t){lsn, 1};
}

/* Durability advanced: the runs it reached are no longer load. */
static void load_release(http_server_t *srv)
{
    while (srv->nruns && srv->runs[srv->run0].lsn <= srv->durable) {
        srv->nheld -= srv->runs[srv->run0].n;
        srv->run0++;
        srv->nruns--;
    }
    if (!srv->nruns)
        srv->run0 = 0;
}

/* Whether a request dispatched now comes over the bound: the load is at
 * max_pending, even after durability not yet reported has released what
 * it could. */
static int server_over_bound(http_server_t *srv)
{
    if (!srv->cfg.max_pending || server_load(srv) < srv->cfg.max_pending)
        return 0;
    if (srv->cfg.poll_durable)
        srv->cfg.poll_durable(srv->cfg.poll_arg);
    return server_load(srv) >= srv->cfg.max_pending;
}

/* Counts a refused request; one log line a second at most says how many. */
static void server_note_shed(http_server_t *srv)
{
    uint64_t now = loop_now_ms(srv->loop);
    srv->stats.shed++;
    if (srv->shed_log_ms && now - srv->shed_log_ms < SHED_LOG_MS)
        return;
    log_warn("http_shed", "requests=%llu load=%zu bound=%u",
             (unsigned long long)(srv->stats.shed - srv->shed_logged), server_load(srv), srv->cfg.max_pending);
    srv->shed_logged = srv->stats.shed;
    srv->shed_log_ms = now;
}

/* ---- output ---------------------------------------------------------- */

static void conn_push_hold(http_conn_t *c, uint64_t lsn, unsigned shape, int head)
{
    if (c->nholds == c->capholds) {
        c->capholds = c->capholds ? c->capholds * 2 : 4;
        c->holds = xrealloc(c->holds, c->capholds * sizeof *c->holds);
    }
    c->holds[c->nholds].end = c->out.len;
    c->holds[c->nholds].lsn = lsn;
    c->holds[c->nholds].shape = (unsigned char)shape;
    c->holds[c->nholds].head = (unsigned char)head;
    c->nholds++;
}

/* The end of the output that may be written now. */
static size_t conn_writable_end(http_conn_t *c)
{
    size_t i = 0;
    while (i < c->nholds && c->holds[i].lsn <= c->srv->durable)
        c->out_ready = c->holds[i++].end; /* kept: a reply bigger than the socket takes several writes */
    if (i) {
        memmove(c->holds, c->holds + i, (c->nholds - i) * sizeof *c->holds);
        c->nholds -= i;
    }
    return c->out_ready > c->out_sent ? c->out_ready : c->out_sent;
}

static void conn_set_closing(http_conn_t *c)
{
    c->keep_alive = 0;
    c->state = CONN_CLOSING;
    conn_schedule_flush(c);
}

/* Everything is written: shut our side and drain the peer (LINGER), or
 * close at once when the peer has finished too or the server is stopping. */
static void conn_end(http_conn_t *c)
{
    if (c->peer_eof || c->srv->shutting_down) {
        conn_close(c);
        return;
    }
    shutdown(c->io.fd, SHUT_WR);
    c->state = CONN_LINGER;
    c->write_blocked = 0;
    if (list_linked(&c->flush_link))
        list_del(&c->flush_link);
    conn_update_events(c);
    conn_arm_timer(c);
}

/* All output is written. Returns -1 if the connection ended (closed or
 * lingering), 0 if it goes on. */
static int conn_output_done(http_conn_t *c)
{
    buf_reset(&c->out); /* every hold has been released */
    c->out_sent = c->out_ready = 0;
    if (c->out.cap > BUF_KEEP)
        buf_free(&c->out);
    if (c->state == CONN_CLOSING || (c->state == CONN_HEAD && !c->keep_alive)) {
        conn_end(c);
        return -1;
    }
    return 0;
}

/* Drops what has been written once it is most of the buffer. */
static void conn_compact_out(http_conn_t *c)
{
    if (c->out_sent <= 64 * 1024 || c->out_sent * 2 <= c->out.len)
        return;
    buf_consume(&c->out, c->out_sent);
    for (size_t i = 0; i < c->nholds; i++)
        c->holds[i].end -= c->out_sent;
    c->out_ready = c->out_ready > c->out_sent ? c->out_ready - c->out_sent : 0;
    c->out_sent = 0;
}

static void conn_after_write(http_conn_t *c, int progressed)
{
    http_server_t *srv = c->srv;
    conn_update_events(c);
    conn_arm_timer(c);
    if (progressed && c->timer_kind == TIMER_WRITE)
        loop_timer_start(srv->loop, &c->timer, srv->cfg.write_timeout_ms); /* only progress pushes it back */
    if (c->nholds && !list_linked(&c->flush_link))
        list_push_back(&srv->held, &c->flush_link);
    if (c->paused && conn_backlog(c) < OUT_HIGH_WATER / 2)
        conn_schedule_process(c);
}

/* Writes what may be written. Returns -1 if the connection ended. */
static int conn_write(http_conn_t *c)
{
    if (c->state == CONN_LINGER)
        return -1;
    size_t end = conn_writable_end(c), before = c->out_sent;
    c->write_blocked = 0;
    while (c->out_sent < end) {
        ssize_t n = send(c->io.fd, c->out.data + c->out_sent, end - c->out_sent, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            c->write_blocked = 1;
            break;
        }
        if (n <= 0) {
            conn_close(c); /* EPIPE, ECONNRESET: nobody reads any more */
            return -1;
        }
        c->out_sent += (size_t)n;
    }
    int progressed = c->out_sent != before;
    if (c->out_sent == c->out.len && conn_output_done(c) < 0)
        return -1;
    conn_compact_out(c);
    conn_after_write(c, progressed);
    return 0;
}

/* End-of-iteration hook: write what may be written. Connections still
 * waiting for durability park on srv->held, so this loop always ends. */
static void server_flush(loop_t *loop, void *arg)
{
    (void)loop;
    http_server_t *srv = arg;
    list_t *pos;

    srv->unflushed = 0; /* what this iteration queued leaves now, or waits for the log (nheld) */
    while ((pos = list_first(&srv->flush))) {
        http_conn_t *c = list_entry(pos, http_conn_t, flush_link);
        list_del(&c->flush_link);
        conn_write(c);
    }
}

static void conn_append_failed(http_conn_t *c, unsigned shape, int head, int last);

/* Replaces the replies still held (beyond the durable LSN) by failure
 * replies; those already releasable keep their bytes and order. */
static void conn_fail_held(http_conn_t *c)
{
    conn_writable_end(c);
    if (!c->nholds)
        return;
    size_t from = c->out_ready > c->out_sent ? c->out_ready : c->out_sent, n = c->nholds;
    hold_t *holds = c->holds;
    buf_t tail = BUF_INIT;
    buf_append(&tail, c->out.data + from, c->out.len - from);
    c->out.len = from;
    c->holds = NULL;
    c->nholds = c->capholds = 0;
    for (size_t i = 0, at = from; i < n; at = holds[i++].end) {
        if (holds[i].lsn > c->srv->durable) {
            conn_append_failed(c, holds[i].shape, holds[i].head, i == n - 1 && c->state != CONN_EXCH);
            continue;
        }
        buf_append(&c->out, tail.data + (at - from), holds[i].end - at);
        conn_push_hold(c, holds[i].lsn, holds[i].shape, holds[i].head);
    }
    free(holds);
    buf_free(&tail);
    if (c->state == CONN_HEAD)
        c->state = CONN_CLOSING;
    if (list_linked(&c->flush_link))
        list_del(&c->flush_link); /* off srv->held */
    conn_schedule_flush(c);
}

void http_server_fail(http_server_t *srv, http_fail_fn fail, void *arg)
{
    srv->fail = fail;
    srv->fail_arg = arg;
    list_for_each(pos, &srv->conns) {
        http_conn_t *c = list_entry(pos, http_conn_t, link);
        if (c->io.fd >= 0 && c->nholds)
            conn_fail_held(c);
    }
    srv->nheld = srv->nruns = srv->run0 = 0; /* replaced: no longer waiting, so no longer load */
}

void http_server_durable(http_server_t *srv, uint64_t durable_lsn)
{
    if (durable_lsn <= srv->durable)
        return;
    srv->durable = durable_lsn;
    load_release(srv);
    list_t *pos;
    while ((pos = list_first(&srv->held))) {
        list_del(pos);
        list_push_back(&srv->flush, pos);
    }
}

/* Built with puts, not printf: it runs for every reply and printf showed in
 * profiles. */
static void conn_append_head(http_conn_t *c, int status, const char *ctype, const char *extra, size_t body_len)
{
    char num[24];
    buf_t *o = &c->out;
    buf_reserve(o, 160);
    buf_puts(o, "HTTP/1.1 ");
    buf_puts(o, text_u64((uint64_t)status, num));
    buf_putc(o, ' ');
    buf_puts(o, status_reason(status));
    buf_puts(o, "\r\nServer: Sluice\r\nDate: ");
    buf_puts(o, server_date(c->srv));
    buf_puts(o, "\r\nContent-Length: ");
    buf_puts(o, text_u64((uint64_t)body_len, num));
    buf_puts(o, "\r\n");
    if (ctype) {
        buf_puts(o, "Content-Type: ");
        buf_puts(o, ctype);
        buf_puts(o, "\r\n");
    }
    if (extra)
        buf_puts(o, extra);
    if (!c->keep_alive)
        buf_puts(o, "Connection: close\r\n");
    else if (c->http10)
        buf_puts(o, "Connection: keep-alive\r\n"); /* a 1.0 client assumes close otherwise */
    buf_puts(o, "\r\n");
}

/* An error found by the connection layer itself: reply and close. */
static void conn_fail(http_conn_t *c, int status)
{
    static const char body[] = "{\"message\":\"request rejected by the HTTP layer\"}";
    c->keep_alive = 0;
    conn_append_head(c, status, "application/json", NULL, sizeof body - 1);
    buf_append(&c->out, body, sizeof body - 1);
    conn_push_hold(c, 0, 0, 0);
    conn_set_closing(c);
}

/* ---- requests -------------------------------------------------------- */

/* The handler has answered: step past the request. Buffers are recycled by
 * conn_begin_request, after the handler has returned. */
static void conn_finish_request(http_conn_t *c)
{
    c->rstart = conn_request_end(c);
    c->state = (c->srv->shutting_down || !c->keep_alive) ? CONN_CLOSING : CONN_HEAD;
}

/* In place of a reply that can never become durable: the failure reply of
 * its shape (to a HEAD request: its head only). The last one says the
 * connection closes after it. */
static void conn_append_failed(http_conn_t *c, unsigned shape, int head, int last)
{
    http_canned_t k;
    memset(&k, 0, sizeof k);
    c->srv->fail(c->srv->fail_arg, shape, &k);
    if (last)
        c->keep_alive = 0;
    conn_append_head(c, k.status, k.ctype, k.headers, k.body_len);
    if (!head)
        buf_append(&c->out, k.body, k.body_len);
    conn_push_hold(c, 0, 0, head);
}

void http_ex_reply(http_ex_t *ex, int status, const char *ctype, const char *extra, const char *body,
                   size_t body_len, uint64_t lsn)
{
    http_conn_t *c = ex->conn;
    unsigned shape = ex->shape;
    int admitted = !ex->overloaded;
    if (ex->busy)
        c->srv->busy--;
    free(ex);
    c->ex = NULL;
    c->srv->stats.pending_exchanges--;
    /* HEAD: the head a GET would have (its Content-Length too), no body —
     * a body here would be read as the start of the next response */
    int head_only = c->head.method_len == 4 && memcmp(c->head.method, "HEAD", 4) == 0;
    if (c->srv->fail && lsn > c->srv->durable) {
        conn_append_failed(c, shape, head_only, 1);
    } else {
        conn_append_head(c, status, ctype, extra, body_len);
        if (!head_only)
            buf_append(&c->out, body, body_len);
        conn_push_hold(c, lsn, shape, head_only);
        if (admitted)
            load_add_reply(c->srv, lsn);
    }
    conn_finish_request(c);
    if (!c->in_handler)
        conn_schedule_process(c); /* deferred reply: parse pipelined requests */
    conn_schedule_flush(c);
}

static void conn_dispatch(http_conn_t *c)
{
    http_server_t *srv = c->srv;
    /* The handler gets a head of its own: rbuf may move while the exchange
     * is out, and a value read as a C string stops at the end of this head
     * instead of running on through every pipelined request behind it. */
    buf_reset(&c->hbuf);
    buf_append(&c->hbuf, c->rbuf.data + c->rstart, c->head.head_len);
    http_parse_head(c->hbuf.data, c->hbuf.len, &srv->cfg.limits, &c->head);
    if (c->head.content_length < 0)
        c->head.content_length = 0;
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
    ex->overloaded = server_over_bound(srv);
    if (ex->overloaded) {
        server_note_shed(srv);
    } else {
        ex->busy = 1;
        srv->busy++;
    }
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

/* Decoded chunked framing is dead weight: move what follows it down to just
 * after the head (which conn_dispatch copies for the handler). */
static void conn_drop_framing(http_conn_t *c)
{
    size_t keep = c->rstart + c->head.head_len;
    size_t dead = c->body_off - keep;
    if (dead < READ_CHUNK)
        return;
    memmove(c->rbuf.data + keep, c->rbuf.data + c->body_off, c->rbuf.len - c->body_off + 1); /* with the NUL */
    c->rbuf.len -= dead;
    c->body_off = keep;
}

/* Returns 1 when the body is complete, 0 when more is needed, -1 on error. */
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
    if (c->chunk.done)
        return 1;
    conn_drop_framing(c);
    return 0;
}

/* The body is incomplete: a client that asked for it gets its 100 now. */
static void conn_continue(http_conn_t *c)
{
    if (!c->head.expect_continue || c->continued)
        return;
    c->continued = 1;
    buf_puts(&c->out, "HTTP/1.1 100 Continue\r\n\r\n");
    conn_push_hold(c, 0, 0, 0);
    conn_schedule_flush(c);
}

static void conn_start_body(http_conn_t *c)
{
    c->keep_alive = c->head.keep_alive && !c->srv->shutting_down;
    c->http10 = c->head.minor_version == 0;
    c->continued = 0;
    c->state = CONN_BODY;
    if (c->head.content_length < 0)
        c->head.content_length = 0; /* no framing header: no body */
    buf_reset(&c->body);
    if (c->body.cap > BUF_KEEP)
        buf_free(&c->body);
    if (c->head.chunked) {
        http_chunked_init(&c->chunk);
        c->body_off = c->rstart + c->head.head_len;
    }
}

/* Drops consumed input: all of it when nothing is left, else compacts. */
static void conn_recycle_input(http_conn_t *c)
{
    if (c->rstart == c->rbuf.len) {
        c->rstart = 0;
        buf_reset(&c->rbuf);
        if (c->rbuf.cap > BUF_KEEP)
            buf_free(&c->rbuf);
        if (c->body.cap > BUF_KEEP)
            buf_free(&c->body);
    } else if (c->rstart > 0 && c->rstart * 2 >= c->rbuf.len) {
        buf_consume(&c->rbuf, c->rstart);
        c->rstart = 0;
    }
}

/* HEAD: parses the next request head. Returns 1 when it moved to BODY, 0 to
 * wait for more, -1 when the connection failed, closes or closed. */
static int conn_begin_request(http_conn_t *c)
{
    conn_recycle_input(c);
    if (conn_backlog(c) >= OUT_HIGH_WATER) {
        c->paused = 1; /* the client is not reading; conn_after_write resumes */
        return 0;
    }
    if (c->rstart == c->rbuf.len) {
        if (c->peer_eof)
            conn_set_closing(c); /* answered everything it sent */
        return 0;
    }
    ssize_t n = http_parse_head(c->rbuf.data + c->rstart, c->rbuf.len - c->rstart, &c->srv->cfg.limits, &c->head);
    if (n < 0) {
        conn_fail(c, (int)-n);
        return -1;
    }
    if (n == 0) {
        if (c->peer_eof)
            conn_set_closing(c); /* a head that will never complete */
        return 0;
    }
    conn_start_body(c);
    return 1;
}

/* Parses and dispatches as many buffered requests as the state allows. */
static void conn_process(http_conn_t *c)
{
    c->paused = 0;
    while (c->io.fd >= 0 && (c->state == CONN_HEAD || c->state == CONN_BODY)) {
        if (c->state == CONN_HEAD && conn_begin_request(c) <= 0)
            break;
        int r = conn_read_body(c);
        if (r < 0)
            break;
        if (r == 0) {
            if (c->peer_eof)
                conn_set_closing(c); /* a body that will never complete */
            else
                conn_continue(c);
            break;
        }
        conn_dispatch(c);
    }
    if (c->io.fd >= 0)
        conn_arm_timer(c);
}

/* ---- connection I/O ---------------------------------------------------- */

/* One read. Returns the byte count, 0 when the socket is drained, -1 at EOF
 * or on an error (peer_eof is then set). */
static ssize_t conn_read(http_conn_t *c, char *p, size_t n)
{
    for (;;) {
        ssize_t r = read(c->io.fd, p, n);
        if (r > 0)
            return r;
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return 0;
        c->peer_eof = 1;
        return -1;
    }
}

/* CLOSING and LINGER: read and drop, so close() finds nothing unread. */
static void conn_drain(http_conn_t *c)
{
    char scratch[16384];
    size_t total = 0;
    ssize_t n;
    while (total < READ_MAX_PER_EVENT && (n = conn_read(c, scratch, sizeof scratch)) > 0)
        total += (size_t)n;
}

/* Reads what the socket has, up to READ_MAX_PER_EVENT. */
static void conn_fill(http_conn_t *c)
{
    if (c->state == CONN_CLOSING || c->state == CONN_LINGER) {
        conn_drain(c);
        return;
    }
    size_t total = 0;
    while (total < READ_MAX_PER_EVENT) {
        buf_reserve(&c->rbuf, c->rbuf.len ? READ_CHUNK : READ_FIRST - 1);
        size_t room = c->rbuf.cap - c->rbuf.len - 1;
        ssize_t n = conn_read(c, c->rbuf.data + c->rbuf.len, room);
        if (n <= 0)
            break;
        c->rbuf.len += (size_t)n;
        c->rbuf.data[c->rbuf.len] = '\0';
        total += (size_t)n;
        if ((size_t)n < room)
            break;
    }
}

static void conn_abort_exchange(http_conn_t *c)
{
    http_ex_t *ex = c->ex;
    if (!ex)
        return;
    c->ex = NULL;
    c->srv->stats.pending_exchanges--;
    if (ex->busy)
        c->srv->busy--;
    if (ex->on_abort)
        ex->on_abort(ex, ex->abort_arg);
    free(ex);
}

/* The peer sends no more while its exchange is out: it is not waiting for
 * the answer (a closed long poll). Replies already queued still go out. */
static void conn_client_left(http_conn_t *c)
{
    c->peer_eof = 1;
    conn_abort_exchange(c);
    conn_set_closing(c);
}

/* EPOLLIN / EPOLLRDHUP. Returns -1 if the connection closed. */
static int conn_on_readable(http_conn_t *c)
{
    if (!(c->io.events & EPOLLIN)) {
        /* EPOLLRDHUP alone: only an exchange registers for it */
        if (c->state == CONN_EXCH)
            conn_client_left(c);
        conn_update_events(c);
        return 0;
    }
    conn_fill(c);
    switch (c->state) {
    case CONN_LINGER:
        if (c->peer_eof) {
            conn_close(c);
            return -1;
        }
        return 0;
    case CONN_HEAD:
    case CONN_BODY:
        conn_process(c);
        if (c->io.fd < 0)
            return -1;
        break;
    default:
        break;
    }
    if (c->state == CONN_EXCH && c->peer_eof)
        conn_client_left(c);
    conn_update_events(c);
    return 0;
}

static void conn_on_io(loop_t *loop, int fd, uint32_t events, void *arg)
{
    (void)loop;
    (void)fd;
    http_conn_t *c = arg;
    if (events & (EPOLLHUP | EPOLLERR)) {
        conn_close(c); /* reset, or both directions shut: nothing more can be said */
        return;
    }
    if ((events & (EPOLLIN | EPOLLRDHUP)) && conn_on_readable(c) < 0)
        return;
    if ((events & EPOLLOUT) && c->io.fd >= 0)
        conn_write(c);
}

static void conn_on_timer(loop_t *loop, loop_timer_t *t)
{
    (void)loop;
    http_conn_t *c = t->arg;
    switch (c->timer_kind) {
    case TIMER_REQUEST:
        if (c->state == CONN_HEAD || c->state == CONN_BODY) {
            conn_fail(c, 408); /* a request that takes too long to arrive */
            conn_update_events(c);
            return;
        }
        break;
    case TIMER_WRITE:
        log_info("http_close", "peer=%s reason=write_timeout", c->peer);
        break;
    default: /* idle keep-alive, or lingering done */
        break;
    }
    conn_close(c);
}

static timer_kind_t conn_timer_kind(const http_conn_t *c)
{
    if (c->state == CONN_LINGER)
        return TIMER_LINGER;
    if (c->write_blocked)
        return TIMER_WRITE;
    if (c->state == CONN_EXCH || c->state == CONN_CLOSING || c->out_sent < c->out.len)
        return TIMER_NONE; /* the handler, the store or the flush owns the wait */
    if (c->state == CONN_HEAD && c->rstart == c->rbuf.len)
        return TIMER_IDLE;
    return TIMER_REQUEST;
}

/* One timer per connection; which deadline it holds follows the state. A
 * request deadline runs from the request's first byte and is not pushed
 * back by later bytes; a write deadline is pushed back only by progress
 * (conn_after_write). */
static void conn_arm_timer(http_conn_t *c)
{
    http_server_t *srv = c->srv;
    timer_kind_t kind = conn_timer_kind(c);
    uint64_t ms = kind == TIMER_IDLE      ? srv->cfg.idle_timeout_ms
                  : kind == TIMER_REQUEST ? srv->cfg.request_timeout_ms
                  : kind == TIMER_WRITE   ? srv->cfg.write_timeout_ms
                                          : LINGER_MS;
    if (kind == TIMER_NONE)
        loop_timer_stop(srv->loop, &c->timer);
    else if (kind != c->timer_kind || !loop_timer_active(&c->timer))
        loop_timer_start(srv->loop, &c->timer, ms);
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
    if (list_linked(&c->process_link))
        list_del(&c->process_link);
    buf_free(&c->rbuf);
    buf_free(&c->hbuf);
    buf_free(&c->body);
    buf_free(&c->out);
    free(c->holds);
    if (c->from && --c->from->n == 0) {
        hmap_del(&srv->peers, c->from->key, c->from->klen);
        free(c->from);
    }
    if (c->rejected)
        srv->nrejecting--;
    else
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

/* The count of ss's client (NULL for other families); with create, made
 * (at 0) when absent. An IPv6 client is its /64: one host commonly holds a
 * whole /64 and may pick a new address per connection. An IPv4 client seen
 * through an IPv6 socket (::ffff:a.b.c.d) is its IPv4 address. */
static peer_count_t *peer_count(http_server_t *srv, const struct sockaddr_storage *ss, int create)
{
    static const uint8_t v4mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    uint8_t key[9];
    size_t klen;
    const uint8_t *a6 = ss->ss_family == AF_INET6 ? ((const struct sockaddr_in6 *)ss)->sin6_addr.s6_addr : NULL;
    if (ss->ss_family == AF_INET) {
        key[0] = 4;
        memcpy(key + 1, &((const struct sockaddr_in *)ss)->sin_addr, 4);
        klen = 5;
    } else if (a6 && memcmp(a6, v4mapped, 12) == 0) {
        key[0] = 4;
        memcpy(key + 1, a6 + 12, 4);
        klen = 5;
    } else if (a6) {
        key[0] = 6;
        memcpy(key + 1, a6, 8);
        klen = 9;
    } else {
        return NULL;
    }
    peer_count_t *p = hmap_get(&srv->peers, key, klen);
    if (!p && create) {
        p = xcalloc(1, sizeof *p);
        memcpy(p->key, key, klen);
        p->klen = klen;
        hmap_put(&srv->peers, p->key, p->klen, p);
    }
    return p;
}

/* Takes fd. Returns the connection, or NULL (fd closed) if it cannot be watched. */
static http_conn_t *conn_new(http_server_t *srv, int fd, const struct sockaddr_storage *ss, int rejected)
{
    http_conn_t *c = xcalloc(1, sizeof *c);
    c->srv = srv;
    c->state = CONN_HEAD;
    c->keep_alive = 1;
    c->rejected = rejected;
    list_init(&c->flush_link);
    list_init(&c->process_link);
    loop_timer_init(&c->timer, conn_on_timer, c);
    peer_name(ss, c->peer, sizeof c->peer);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (loop_io_start(srv->loop, &c->io, fd, EPOLLIN | EPOLLRDHUP, conn_on_io, c) < 0) {
        close(fd);
        free(c);
        return NULL;
    }
    list_push_back(&srv->conns, &c->link);
    if (!rejected && srv->cfg.max_per_client && (c->from = peer_count(srv, ss, 1)))
        c->from->n++;
    if (rejected)
        srv->nrejecting++;
    else
        srv->stats.accepted++, srv->stats.open++;
    conn_arm_timer(c);
    return c;
}

/* Over the limit: 503 and close, lingering (bounded) so the 503 survives a
 * request the client had already sent. */
static void server_reject(http_server_t *srv, int fd, const struct sockaddr_storage *ss)
{
    static const char busy[] = "HTTP/1.1 503 Service Unavailable\r\nServer: Sluice\r\nContent-Length: 0\r\n"
                               "Retry-After: 1\r\nConnection: close\r\n\r\n";
    srv->stats.rejected++;
    ssize_t w = send(fd, busy, sizeof busy - 1, MSG_NOSIGNAL); /* a fresh socket's buffer takes it */
    (void)w;
    if (srv->nrejecting >= REJECT_LINGER_MAX || srv->shutting_down) {
        close(fd);
        return;
    }
    http_conn_t *c = conn_new(srv, fd, ss, 1);
    if (c)
        conn_end(c);
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
    for (int i = 0; i < ACCEPT_MAX_PER_EVENT && srv->listen_io.fd >= 0; i++) {
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
        const peer_count_t *p = srv->cfg.max_per_client ? peer_count(srv, &ss, 0) : NULL;
        if (srv->stats.open >= srv->cfg.max_connections || (p && p->n >= srv->cfg.max_per_client))
            server_reject(srv, fd, &ss);
        else
            conn_new(srv, fd, &ss, 0);
    }
}

/* Returns a listening socket for a, or -1 with errno set. */
static int listen_on(const struct addrinfo *a)
{
    int fd = socket(a->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(fd, a->ai_addr, a->ai_addrlen) == 0 && listen(fd, LISTEN_BACKLOG) == 0)
        return fd;
    int e = errno;
    close(fd);
    errno = e;
    return -1;
}

static int bound_port(int fd)
{
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    if (getsockname(fd, (struct sockaddr *)&ss, &sl) < 0)
        return -1;
    return ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                          : ((struct sockaddr_in *)&ss)->sin_port);
}

/* Listens on the first address of host that binds. */
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
    int fd = -1, err = EADDRNOTAVAIL;
    for (const struct addrinfo *a = ai; a && fd < 0; a = a->ai_next)
        if ((fd = listen_on(a)) < 0)
            err = errno;
    freeaddrinfo(ai);
    if (fd < 0) {
        snprintf(why, why_len, "cannot listen on %s:%d: %s", srv->cfg.host, srv->cfg.port, strerror(err));
        return -1;
    }
    srv->port = bound_port(fd);
    if ((rc = loop_io_start(srv->loop, &srv->listen_io, fd, EPOLLIN, server_on_accept, srv)) < 0) {
        snprintf(why, why_len, "cannot watch the listener: %s", strerror(-rc));
        srv->listen_io.fd = -1;
        close(fd);
        return -1;
    }
    return 0;
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
    hmap_init(&srv->peers);
    list_init(&srv->flush);
    list_init(&srv->held);
    list_init(&srv->process);
    loop_timer_init(&srv->accept_timer, server_resume_accept, srv);
    loop_timer_init(&srv->process_timer, server_on_process, srv);
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
        int idle = c->state == CONN_HEAD && c->rstart == c->rbuf.len && c->out_sent == c->out.len;
        if (idle || c->state == CONN_LINGER)
            conn_close(c);
        else if (c->state == CONN_HEAD || c->state == CONN_BODY)
            conn_set_closing(c); /* a request not yet complete is dropped */
        /* EXCH ends with its reply, CLOSING once its output is written */
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
    loop_timer_stop(srv->loop, &srv->process_timer);
    loop_remove_hook(srv->loop, server_flush, srv);
    hmap_free(&srv->peers); /* empty: every connection has closed */
    free(srv->runs);
    srv->handler = NULL;
    loop_defer_free(srv->loop, srv);
}

void http_ex_waiting(http_ex_t *ex)
{
    if (!ex->busy)
        return;
    ex->busy = 0;
    ex->conn->srv->busy--;
}

void http_server_get_stats(const http_server_t *srv, http_server_stats_t *out)
{
    *out = srv->stats;
    out->load = server_load(srv);
}
