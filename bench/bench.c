/*
 * sluice-bench — drives a running server over HTTP/1.1 and prints throughput
 * and latency percentiles. Closed loop, like wrk: each of C keep-alive
 * connections has one request outstanding; one thread, epoll.
 *
 *   sluice-bench [-c conns] [-d seconds] [-s bytes] HOST:PORT SCENARIO [URL-PATH]
 * Scenarios:
 *   static        GET PATH (default /), the ceiling reference (nginx)
 *   send          SendMessage, one message per request (AWS JSON 1.0)
 *   send-batch    SendMessageBatch, 10 messages per request
 *   recv-delete   ReceiveMessage(1) then DeleteMessage, per connection
 *   recv-delete-batch  ReceiveMessage(10) then DeleteMessageBatch
 *   fill          SendMessageBatch until -n messages are in (for recovery timing)
 * SQS scenarios use queue "bench" (created if missing). The receive scenarios
 * first fill the queue with enough messages for the run (-n, default 400k).
 * Output: one line, "scenario conns secs requests req/s msgs/s p50 p90 p99 max"
 * (latencies in ms, per request; for recv-delete, a receive and its delete
 * are two requests).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "util/buf.h"
#include "util/jv.h"

#define MAX_CONNS 1024

typedef enum { SC_STATIC, SC_SEND, SC_SEND_BATCH, SC_RECV_DELETE, SC_RECV_DELETE_BATCH, SC_FILL } scenario_t;

typedef struct conn {
    int fd;
    buf_t in;
    uint64_t started;
    buf_t req; /* the request in flight, kept to resend after a reconnect */
    int phase; /* recv-delete: 0 receive sent, 1 delete sent */
    int msgs_in_flight;
} conn_t;

static struct {
    const char *host;
    int port;
    int conns;
    double seconds;
    size_t body;
    long fill;
    scenario_t sc;
    const char *path;
    char queue_url[256];
    uint64_t *lat;
    size_t nlat, caplat;
    uint64_t msgs;
    uint64_t seq;
} B = {.conns = 64, .seconds = 10, .body = 100, .fill = 400000, .path = "/"};

static const char *const scenario_names[] = {"static", "send", "send-batch", "recv-delete", "recv-delete-batch",
                                             "fill"};

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void die(const char *what)
{
    fprintf(stderr, "sluice-bench: %s: %s\n", what, strerror(errno));
    exit(1);
}

static int dial(void)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)B.port)};
    inet_pton(AF_INET, B.host, &a.sin_addr);
    int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a) < 0)
        die("connect");
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
}

/* ---- requests ------------------------------------------------------------------ */

static void sqs_request(buf_t *out, const char *action, const char *json)
{
    buf_printf(out,
               "POST / HTTP/1.1\r\nHost: %s:%d\r\nContent-Type: application/x-amz-json-1.0\r\n"
               "X-Amz-Target: AmazonSQS.%s\r\nContent-Length: %zu\r\n\r\n%s",
               B.host, B.port, action, strlen(json), json);
}

static void body_text(char *out, size_t n)
{
    /* distinct bodies of the chosen size */
    int k = snprintf(out, n + 1, "%020llu", (unsigned long long)++B.seq);
    for (size_t i = (size_t)k; i < n; i++)
        out[i] = 'x';
    out[n] = '\0';
}

static void req_send(buf_t *out, int batch)
{
    char body[4096];
    buf_t j = BUF_INIT;
    if (!batch) {
        body_text(body, B.body);
        buf_printf(&j, "{\"QueueUrl\":\"%s\",\"MessageBody\":\"%s\"}", B.queue_url, body);
        sqs_request(out, "SendMessage", j.data);
    } else {
        buf_printf(&j, "{\"QueueUrl\":\"%s\",\"Entries\":[", B.queue_url);
        for (int i = 0; i < 10; i++) {
            body_text(body, B.body);
            buf_printf(&j, "%s{\"Id\":\"m%d\",\"MessageBody\":\"%s\"}", i ? "," : "", i, body);
        }
        buf_puts(&j, "]}");
        sqs_request(out, "SendMessageBatch", j.data);
    }
    buf_free(&j);
}

static void req_receive(buf_t *out, int max)
{
    char j[512];
    snprintf(j, sizeof j, "{\"QueueUrl\":\"%s\",\"MaxNumberOfMessages\":%d,\"VisibilityTimeout\":60}", B.queue_url,
             max);
    sqs_request(out, "ReceiveMessage", j);
}

/* Builds the delete for the handles in a receive reply; returns how many. */
static int req_delete(buf_t *out, const char *reply, size_t len)
{
    jv_doc_t *d = jv_doc_new();
    jv_t *msgs = jv_get(jv_parse(d, reply, len, NULL, 0), "Messages");
    size_t n = jv_count(msgs);
    buf_t j = BUF_INIT;
    if (n == 1) {
        buf_printf(&j, "{\"QueueUrl\":\"%s\",\"ReceiptHandle\":\"%s\"}", B.queue_url,
                   jv_str(jv_get(jv_at(msgs, 0), "ReceiptHandle")));
        sqs_request(out, "DeleteMessage", j.data);
    } else if (n > 1) {
        buf_printf(&j, "{\"QueueUrl\":\"%s\",\"Entries\":[", B.queue_url);
        for (size_t i = 0; i < n; i++)
            buf_printf(&j, "%s{\"Id\":\"d%zu\",\"ReceiptHandle\":\"%s\"}", i ? "," : "", i,
                       jv_str(jv_get(jv_at(msgs, i), "ReceiptHandle")));
        buf_puts(&j, "]}");
        sqs_request(out, "DeleteMessageBatch", j.data);
    }
    buf_free(&j);
    jv_doc_free(d);
    return (int)n;
}

/* ---- responses -------------------------------------------------------------------- */

/* Returns the length of a complete response at the front of in (0 if partial);
 * *status and the body are set, *closing when the server will close. */
static size_t response_head_closes(const char *head, size_t len)
{
    return memmem(head, len, "Connection: close", 17) || memmem(head, len, "connection: close", 17);
}

static size_t response_complete(const buf_t *in, int *status, const char **body, size_t *blen)
{
    const char *end = in->len ? memmem(in->data, in->len, "\r\n\r\n", 4) : NULL;
    if (!end)
        return 0;
    const char *cl = memmem(in->data, (size_t)(end - in->data), "Content-Length: ", 16);
    if (!cl)
        cl = memmem(in->data, (size_t)(end - in->data), "content-length: ", 16);
    size_t len = cl ? strtoul(cl + 16, NULL, 10) : 0;
    size_t total = (size_t)(end + 4 - in->data) + len;
    if (in->len < total)
        return 0;
    *status = atoi(in->data + 9);
    *body = end + 4;
    *blen = len;
    return total;
}

static void send_all(int fd, const buf_t *b)
{
    size_t off = 0;
    while (off < b->len) {
        ssize_t n = write(fd, b->data + off, b->len - off);
        if (n <= 0)
            die("write");
        off += (size_t)n;
    }
}

/* A blocking round trip on its own connection (setup work). */
static int roundtrip(int fd, const buf_t *req, buf_t *reply)
{
    int status;
    const char *body;
    size_t blen, total;
    send_all(fd, req);
    buf_reset(reply);
    while (!(total = response_complete(reply, &status, &body, &blen))) {
        buf_reserve(reply, 65536);
        ssize_t n = read(fd, reply->data + reply->len, reply->cap - reply->len - 1);
        if (n <= 0)
            die("read");
        reply->len += (size_t)n;
        reply->data[reply->len] = '\0';
    }
    memmove(reply->data, body, blen);
    reply->len = blen;
    reply->data[blen] = '\0';
    return status;
}

static void setup_queue(void)
{
    int fd = dial();
    buf_t req = BUF_INIT, reply = BUF_INIT;
    sqs_request(&req, "CreateQueue", "{\"QueueName\":\"bench\"}");
    if (roundtrip(fd, &req, &reply) != 200) {
        fprintf(stderr, "sluice-bench: CreateQueue failed: %s\n", reply.data);
        exit(1);
    }
    jv_doc_t *d = jv_doc_new();
    snprintf(B.queue_url, sizeof B.queue_url, "%s", jv_str(jv_get(jv_parse_cstr(d, reply.data), "QueueUrl")));
    jv_doc_free(d);
    if (B.sc == SC_RECV_DELETE || B.sc == SC_RECV_DELETE_BATCH) {
        for (long i = 0; i < B.fill; i += 10) {
            buf_reset(&req);
            req_send(&req, 1);
            if (roundtrip(fd, &req, &reply) != 200)
                die("fill");
        }
    }
    buf_free(&req);
    buf_free(&reply);
    close(fd);
}

/* ---- the closed loop --------------------------------------------------------------------- */

static void next_request(conn_t *c, buf_t *out, const char *reply, size_t rlen)
{
    buf_reset(out);
    switch (B.sc) {
    case SC_STATIC:
        buf_printf(out, "GET %s HTTP/1.1\r\nHost: %s\r\n\r\n", B.path, B.host);
        break;
    case SC_SEND:
    case SC_SEND_BATCH:
    case SC_FILL:
        if (reply)
            B.msgs += B.sc == SC_SEND ? 1 : 10;
        req_send(out, B.sc != SC_SEND);
        break;
    case SC_RECV_DELETE:
    case SC_RECV_DELETE_BATCH:
        if (reply && c->phase == 0 && (c->msgs_in_flight = req_delete(out, reply, rlen)) > 0) {
            c->phase = 1;
            break;
        }
        if (reply && c->phase == 1)
            B.msgs += (uint64_t)c->msgs_in_flight;
        c->phase = 0;
        req_receive(out, B.sc == SC_RECV_DELETE ? 1 : 10);
        break;
    }
}

static void record(uint64_t ns)
{
    if (B.nlat == B.caplat) {
        B.caplat = B.caplat ? B.caplat * 2 : 1 << 20;
        B.lat = realloc(B.lat, B.caplat * sizeof *B.lat);
        if (!B.lat)
            die("realloc");
    }
    B.lat[B.nlat++] = ns;
}

static int outstanding; /* connections with a request in flight */
static int epfd;

/* A server that closes after each reply (moto's): dial again. */
static void redial(conn_t *c)
{
    close(c->fd);
    c->fd = dial();
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
    epoll_ctl(epfd, EPOLL_CTL_ADD, c->fd, &ev);
    buf_reset(&c->in);
}

static void on_readable(conn_t *c, uint64_t stop_at)
{
    buf_reserve(&c->in, 65536);
    ssize_t n = read(c->fd, c->in.data + c->in.len, c->in.cap - c->in.len - 1);
    if (n == 0 && c->in.len == 0) { /* closed before answering: ask again */
        redial(c);
        send_all(c->fd, &c->req);
        return;
    }
    if (n <= 0)
        die("read (server closed?)");
    c->in.len += (size_t)n;
    int status;
    const char *body;
    size_t blen, total;
    while ((total = response_complete(&c->in, &status, &body, &blen))) {
        uint64_t t = now_ns();
        if (status != 200) {
            fprintf(stderr, "sluice-bench: HTTP %d: %.*s\n", status, (int)blen, body);
            exit(1);
        }
        record(t - c->started);
        int closes = response_head_closes(c->in.data, (size_t)(body - c->in.data));
        int more = t < stop_at && !(B.sc == SC_FILL && B.msgs >= (uint64_t)B.fill);
        if (more)
            next_request(c, &c->req, body, blen);
        buf_consume(&c->in, total);
        if (!more) {
            outstanding--;
            continue;
        }
        if (closes)
            redial(c);
        c->started = now_ns();
        send_all(c->fd, &c->req);
        if (closes)
            return;
    }
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static double pct(double p)
{
    size_t i = (size_t)(p * (double)(B.nlat - 1));
    return (double)B.lat[i] / 1e6;
}

static void run(void)
{
    static conn_t conns[MAX_CONNS];
    int ep = epfd = epoll_create1(0);
    uint64_t t0 = now_ns(), stop_at = t0 + (uint64_t)(B.seconds * 1e9);
    for (int i = 0; i < B.conns; i++) {
        conns[i].fd = dial();
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &conns[i]};
        epoll_ctl(ep, EPOLL_CTL_ADD, conns[i].fd, &ev);
        next_request(&conns[i], &conns[i].req, NULL, 0);
        conns[i].started = now_ns();
        send_all(conns[i].fd, &conns[i].req);
    }
    outstanding = B.conns;
    /* until every connection has its last reply (the stragglers past stop_at
     * are measured too, so the tail is not cut off) */
    while (outstanding > 0 && now_ns() < stop_at + 10000000000ull) {
        struct epoll_event evs[256];
        int n = epoll_wait(ep, evs, 256, 100);
        for (int i = 0; i < n; i++)
            on_readable(evs[i].data.ptr, stop_at);
    }
    double secs = (double)(now_ns() - t0) / 1e9;
    qsort(B.lat, B.nlat, sizeof *B.lat, cmp_u64);
    if (B.sc == SC_STATIC)
        B.msgs = B.nlat;
    printf("%-18s conns=%d secs=%.1f requests=%zu req/s=%.0f msgs/s=%.0f p50=%.2fms p90=%.2fms p99=%.2fms "
           "max=%.2fms\n",
           scenario_names[B.sc], B.conns, secs, B.nlat, (double)B.nlat / secs, (double)B.msgs / secs, pct(0.5), pct(0.9),
           pct(0.99), (double)B.lat[B.nlat - 1] / 1e6);
}

static scenario_t parse_scenario(const char *s)
{
    for (int i = 0; i < 6; i++)
        if (strcmp(s, scenario_names[i]) == 0)
            return (scenario_t)i;
    fprintf(stderr, "sluice-bench: unknown scenario %s\n", s);
    exit(2);
}

int main(int argc, char **argv)
{
    int opt;
    while ((opt = getopt(argc, argv, "c:d:s:n:")) != -1) {
        if (opt == 'c')
            B.conns = atoi(optarg);
        else if (opt == 'd')
            B.seconds = atof(optarg);
        else if (opt == 's')
            B.body = (size_t)atol(optarg);
        else if (opt == 'n')
            B.fill = atol(optarg);
    }
    if (argc - optind < 2 || B.conns < 1 || B.conns > MAX_CONNS || B.body < 20 || B.body > 4000) {
        fprintf(stderr, "usage: sluice-bench [-c conns<=1024] [-d secs] [-s bytes 20..4000] [-n fill] HOST:PORT "
                        "static|send|send-batch|recv-delete|recv-delete-batch [PATH]\n");
        return 2;
    }
    static char host[64];
    snprintf(host, sizeof host, "%s", argv[optind]);
    char *colon = strchr(host, ':');
    if (!colon)
        return 2;
    *colon = '\0';
    B.host = host;
    B.port = atoi(colon + 1);
    B.sc = parse_scenario(argv[optind + 1]);
    if (argc - optind > 2)
        B.path = argv[optind + 2];
    if (B.sc != SC_STATIC)
        setup_queue();
    if (B.sc == SC_FILL)
        B.seconds = 3600; /* until -n messages are in */
    run();
    return 0;
}
