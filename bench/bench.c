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
 *   publish       SNS Publish (query protocol) to a topic with -S queue
 *                 subscriptions (default 2), each filtered on its own value of
 *                 the `operation` attribute; messages cycle through the
 *                 values, so each lands in exactly one queue (seed 000's shape)
 *   publish-latency  -c publishers (at most 64) at -r publishes/s in all (open
 *                 loop) and 8 long-polling receivers per queue; reports
 *                 publish-sent → message-received latency (the body carries
 *                 the send time)
 *   worker        SendMessageBatch of multiplication requests into queue
 *                 "bench", which the daemon's config maps to a function
 *                 storing each result in table "bench-results"
 *                 (bench/run.sh writes that config); reports messages sent
 *                 and results stored per second, counted until the table
 *                 holds every result sent in -d seconds
 *   worker-latency  -c senders at -r messages/s in all (open loop, in
 *                 SendMessageBatch requests of 10 like `worker`), plus one
 *                 probe that sends a message and polls the table for its
 *                 result, 100 times a second; reports send → result latency
 * SQS scenarios use queue "bench" (created if missing). The receive scenarios
 * first fill the queue with enough messages for the run (-n, default 400k).
 * Output: one line, "scenario conns secs requests req/s msgs/s p50 p90 p99 max"
 * (latencies in ms, per request; for recv-delete, a receive and its delete
 * are two requests).
 */
#include <arpa/inet.h>
#include <pthread.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <stdint.h>
#include <time.h>
#include <unistd.h>

#include "util/buf.h"
#include "util/jv.h"

#define MAX_CONNS 1024

typedef enum {
    SC_STATIC,
    SC_SEND,
    SC_SEND_BATCH,
    SC_RECV_DELETE,
    SC_RECV_DELETE_BATCH,
    SC_FILL,
    SC_PUBLISH,
    SC_PUBLISH_LATENCY,
    SC_WORKER,
    SC_WORKER_LATENCY
} scenario_t;

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
    int subs;
    double rate;
    char topic_arn[256];
    char sub_urls[64][256];
} B = {.conns = 64, .seconds = 10, .body = 100, .fill = 400000, .path = "/", .subs = 2, .rate = 1000};

static const char *const scenario_names[] = {"static", "send", "send-batch", "recv-delete", "recv-delete-batch",
                                             "fill", "publish", "publish-latency", "worker", "worker-latency"};
#define NSCENARIOS (sizeof scenario_names / sizeof scenario_names[0])

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

/* For the worker scenarios: a multiplication request, as JSON in a JSON string. */
static void worker_body(char *out, size_t n)
{
    snprintf(out, n, "{\\\"number\\\":%llu,\\\"factor\\\":2}", (unsigned long long)++B.seq);
}

static void req_send(buf_t *out, int batch)
{
    char body[4096];
    buf_t j = BUF_INIT;
    int worker = B.sc == SC_WORKER || B.sc == SC_WORKER_LATENCY;
    if (!batch) {
        worker ? worker_body(body, sizeof body) : body_text(body, B.body);
        buf_printf(&j, "{\"QueueUrl\":\"%s\",\"MessageBody\":\"%s\"}", B.queue_url, body);
        sqs_request(out, "SendMessage", j.data);
    } else {
        buf_printf(&j, "{\"QueueUrl\":\"%s\",\"Entries\":[", B.queue_url);
        for (int i = 0; i < 10; i++) {
            worker ? worker_body(body, sizeof body) : body_text(body, B.body);
            buf_printf(&j, "%s{\"Id\":\"m%d\",\"MessageBody\":\"%s\"}", i ? "," : "", i, body);
        }
        buf_puts(&j, "]}");
        sqs_request(out, "SendMessageBatch", j.data);
    }
    buf_free(&j);
}

static void sns_request(buf_t *out, const char *form)
{
    buf_printf(out,
               "POST / HTTP/1.1\r\nHost: %s:%d\r\nContent-Type: application/x-www-form-urlencoded\r\n"
               "Content-Length: %zu\r\n\r\n%s",
               B.host, B.port, strlen(form), form);
}

/* Publish with operation=op<k>; the body starts with the send time in ns. */
static void req_publish(buf_t *out, int k, uint64_t sent_ns)
{
    char body[4096];
    body_text(body, B.body);
    if (sent_ns) {
        char ts[24];
        snprintf(ts, sizeof ts, "%020llu", (unsigned long long)sent_ns);
        memcpy(body, ts, 20);
    }
    buf_t f = BUF_INIT;
    buf_printf(&f,
               "Action=Publish&Version=2010-03-31&TopicArn=%s&Message=%s&MessageAttributes.entry.1.Name=operation&"
               "MessageAttributes.entry.1.Value.DataType=String&MessageAttributes.entry.1.Value.StringValue=op%d",
               B.topic_arn, body, k);
    sns_request(out, f.data);
    buf_free(&f);
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

static void xml_value(const char *xml, const char *tag, char *out, size_t n)
{
    char open[64];
    snprintf(open, sizeof open, "<%s>", tag);
    const char *p = strstr(xml, open);
    out[0] = '\0';
    if (p) {
        p += strlen(open);
        size_t k = strcspn(p, "<");
        snprintf(out, n, "%.*s", (int)(k < n ? k : n - 1), p);
    }
}

/* A topic and B.subs queues, queue i subscribed raw with {"operation":["op<i>"]}. */
static void setup_topic(void)
{
    int fd = dial();
    buf_t req = BUF_INIT, reply = BUF_INIT, f = BUF_INIT;
    sns_request(&req, "Action=CreateTopic&Version=2010-03-31&Name=bench-topic");
    if (roundtrip(fd, &req, &reply) != 200)
        die("CreateTopic");
    xml_value(reply.data, "TopicArn", B.topic_arn, sizeof B.topic_arn);
    for (int i = 0; i < B.subs; i++) {
        char j[256], arn[256];
        snprintf(j, sizeof j, "{\"QueueName\":\"bench-q-%d\"}", i);
        buf_reset(&req);
        sqs_request(&req, "CreateQueue", j);
        if (roundtrip(fd, &req, &reply) != 200)
            die("CreateQueue");
        jv_doc_t *d = jv_doc_new();
        snprintf(B.sub_urls[i], sizeof B.sub_urls[i], "%s", jv_str(jv_get(jv_parse_cstr(d, reply.data), "QueueUrl")));
        jv_doc_free(d);
        const char *name = strrchr(B.sub_urls[i], '/') + 1;
        snprintf(arn, sizeof arn, "arn:aws:sqs:us-east-1:000000000000:%s", name);
        buf_reset(&f);
        buf_printf(&f,
                   "Action=Subscribe&Version=2010-03-31&TopicArn=%s&Protocol=sqs&Endpoint=%s&Attributes.entry.1.key="
                   "RawMessageDelivery&Attributes.entry.1.value=true&Attributes.entry.2.key=FilterPolicy&"
                   "Attributes.entry.2.value=%%7B%%22operation%%22%%3A%%5B%%22op%d%%22%%5D%%7D",
                   B.topic_arn, arn, i);
        buf_reset(&req);
        sns_request(&req, f.data);
        if (roundtrip(fd, &req, &reply) != 200) {
            fprintf(stderr, "sluice-bench: Subscribe failed: %s\n", reply.data);
            exit(1);
        }
    }
    buf_free(&req);
    buf_free(&reply);
    buf_free(&f);
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
    case SC_WORKER:
        if (reply)
            B.msgs += B.sc == SC_SEND ? 1 : 10;
        req_send(out, B.sc != SC_SEND);
        break;
    case SC_WORKER_LATENCY:
        if (reply)
            B.msgs++;
        req_send(out, 0);
        break;
    case SC_PUBLISH:
        if (reply)
            B.msgs++;
        req_publish(out, (int)(B.seq % (uint64_t)B.subs), 0);
        break;
    case SC_PUBLISH_LATENCY:
        break; /* run_latency drives its own requests */
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

/* ---- publish → receive latency --------------------------------------------------- */

static void receive_on(conn_t *c, int q)
{
    char j[512];
    buf_reset(&c->req);
    snprintf(j, sizeof j,
             "{\"QueueUrl\":\"%s\",\"MaxNumberOfMessages\":10,\"WaitTimeSeconds\":20,\"VisibilityTimeout\":600}",
             B.sub_urls[q]);
    sqs_request(&c->req, "ReceiveMessage", j);
    send_all(c->fd, &c->req);
}

/* Reads what the connection has into c->in (an open-loop run: no reconnects). */
static void conn_read(conn_t *c)
{
    buf_reserve(&c->in, 65536);
    ssize_t r = read(c->fd, c->in.data + c->in.len, c->in.cap - c->in.len - 1);
    if (r <= 0)
        die("read");
    c->in.len += (size_t)r;
}

/* Each received body starts with the ns it was published at. */
static void record_bodies(const char *reply, size_t len, uint64_t now)
{
    jv_doc_t *d = jv_doc_new();
    jv_t *msgs = jv_get(jv_parse(d, reply, len, NULL, 0), "Messages");
    for (size_t i = 0; i < jv_count(msgs); i++) {
        const char *b = jv_str(jv_get(jv_at(msgs, i), "Body"));
        if (b) {
            record(now - strtoull(b, NULL, 10));
            B.msgs++;
        }
    }
    jv_doc_free(d);
}

/* P = -c publisher connections (at most 64), each open loop at rate/P: a
 * publish goes out at its scheduled time, or as soon as the connection's
 * previous one is answered. RECV_PER_QUEUE long-polling receivers per queue,
 * so receiving keeps up and the figure is the pipeline's latency, not a
 * backlog's. */
static void run_latency(void)
{
    enum { MAXP = 64, RECV_PER_QUEUE = 8 };
    static conn_t conns[MAXP + 64 * RECV_PER_QUEUE];
    int np = B.conns < MAXP ? B.conns : MAXP, n = np + B.subs * RECV_PER_QUEUE;
    int ep = epfd = epoll_create1(0);
    /* the load arrives as the throughput scenario sends it: SendMessageBatch of 10 */
    uint64_t t0 = now_ns(), stop_at = t0 + (uint64_t)(B.seconds * 1e9), gap = (uint64_t)(1e9 * np * 10 / B.rate);
    uint64_t next_pub[MAXP], published = 0;
    int busy[MAXP] = {0};
    for (int i = 0; i < n; i++) {
        conns[i].fd = dial();
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &conns[i]};
        epoll_ctl(ep, EPOLL_CTL_ADD, conns[i].fd, &ev);
        if (i >= np)
            receive_on(&conns[i], (i - np) % B.subs);
        else
            next_pub[i] = t0 + 200000000ull + gap * (uint64_t)i / (uint64_t)np; /* receivers wait first */
    }
    while (now_ns() < stop_at + 2000000000ull && (now_ns() < stop_at || B.msgs < published)) {
        uint64_t now = now_ns(), soonest = UINT64_MAX;
        for (int p = 0; p < np; p++) {
            if (!busy[p] && now >= next_pub[p] && now < stop_at) {
                buf_reset(&conns[p].req);
                req_publish(&conns[p].req, (int)(published % (uint64_t)B.subs), now);
                send_all(conns[p].fd, &conns[p].req);
                busy[p] = 1;
                published++;
                next_pub[p] += gap;
            }
            if (!busy[p] && next_pub[p] < soonest)
                soonest = next_pub[p];
        }
        int wait_ms = soonest == UINT64_MAX ? 100 : soonest > now ? (int)((soonest - now) / 1000000) : 0;
        struct epoll_event evs[80];
        int k = epoll_wait(ep, evs, 80, wait_ms);
        for (int i = 0; i < k; i++) {
            conn_t *c = evs[i].data.ptr;
            int idx = (int)(c - conns);
            conn_read(c);
            int status;
            const char *body;
            size_t blen, total;
            while ((total = response_complete(&c->in, &status, &body, &blen))) {
                if (status != 200) {
                    fprintf(stderr, "sluice-bench: HTTP %d: %.*s\n", status, (int)blen, body);
                    exit(1);
                }
                if (idx < np)
                    busy[idx] = 0;
                else
                    record_bodies(body, blen, now_ns());
                buf_consume(&c->in, total);
                if (idx >= np)
                    receive_on(c, (idx - np) % B.subs);
            }
        }
    }
    if (!B.nlat)
        die("no message arrived");
    qsort(B.lat, B.nlat, sizeof *B.lat, cmp_u64);
    double secs = B.seconds;
    printf("%-18s subs=%d publishers=%d target=%.0f/s achieved=%.0f/s received=%llu p50=%.3fms p90=%.3fms "
           "p99=%.3fms max=%.3fms\n",
           scenario_names[B.sc], B.subs, np, B.rate, (double)published / secs, (unsigned long long)B.msgs, pct(0.5),
           pct(0.9), pct(0.99), (double)B.lat[B.nlat - 1] / 1e6);
}

/* ---- queue → function → table ------------------------------------------------------ */

#define WORKER_TABLE "bench-results"

/* Items in the results table (one blocking request). */
static uint64_t table_count(int fd)
{
    buf_t req = BUF_INIT, reply = BUF_INIT;
    buf_printf(&req, "GET /_sluice/tables/" WORKER_TABLE "?limit=1 HTTP/1.1\r\nHost: %s\r\n\r\n", B.host);
    if (roundtrip(fd, &req, &reply) != 200) {
        fprintf(stderr, "sluice-bench: no table " WORKER_TABLE " (start sluice with the worker config): %s\n",
                reply.data);
        exit(1);
    }
    const char *p = strstr(reply.data, "\"ItemCount\":");
    uint64_t n = p ? strtoull(p + 12, NULL, 10) : 0;
    buf_free(&req);
    buf_free(&reply);
    return n;
}

/* Sends for -d seconds (closed loop, like send-batch), then waits until the
 * table holds a result for every message sent. */
static void run_worker(void)
{
    int fd = dial();
    uint64_t before = table_count(fd), t0 = now_ns();
    run();
    uint64_t sent_done = now_ns(), n = 0;
    while ((n = table_count(fd) - before) < B.msgs && now_ns() < sent_done + 120000000000ull) {
        struct timespec ts = {0, 2000000};
        nanosleep(&ts, NULL);
    }
    double all = (double)(now_ns() - t0) / 1e9;
    printf("%-18s sent=%llu results=%llu secs_to_last_result=%.1f results/s=%.0f\n", "worker-results",
           (unsigned long long)B.msgs, (unsigned long long)n, all, (double)n / all);
    close(fd);
}

/* The probe: sends one message, polls for its result, 100 times a second. */
static void *probe_main(void *arg)
{
    uint64_t stop_at = *(uint64_t *)arg;
    int fd = dial();
    buf_t req = BUF_INIT, reply = BUF_INIT, get = BUF_INIT;
    char id[64];
    while (now_ns() < stop_at) {
        buf_reset(&req);
        req_send(&req, 0);
        uint64_t t = now_ns();
        if (roundtrip(fd, &req, &reply) != 200)
            die("probe send");
        jv_doc_t *d = jv_doc_new();
        snprintf(id, sizeof id, "%s", jv_str(jv_get(jv_parse_cstr(d, reply.data), "MessageId")));
        jv_doc_free(d);
        buf_reset(&get);
        buf_printf(&get, "GET /_sluice/tables/" WORKER_TABLE "/items/%s HTTP/1.1\r\nHost: %s\r\n\r\n", id, B.host);
        while (roundtrip(fd, &get, &reply) != 200 && now_ns() < t + 10000000000ull)
            ;
        record(now_ns() - t);
        struct timespec ts = {0, 10000000};
        nanosleep(&ts, NULL);
    }
    buf_free(&req);
    buf_free(&reply);
    buf_free(&get);
    close(fd);
    return NULL;
}

/* -c senders open loop at -r messages/s in all, and the probe alongside. */
static void run_worker_latency(void)
{
    enum { MAXP = 64 };
    static conn_t conns[MAXP];
    int np = B.conns < MAXP ? B.conns : MAXP;
    /* the load arrives as the throughput scenario sends it: SendMessageBatch of 10 */
    uint64_t t0 = now_ns(), stop_at = t0 + (uint64_t)(B.seconds * 1e9), gap = (uint64_t)(1e9 * np * 10 / B.rate);
    uint64_t next[MAXP], sent = 0;
    int busy[MAXP] = {0}, ep = epoll_create1(0);
    for (int i = 0; i < np; i++) {
        conns[i].fd = dial();
        struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (uint32_t)i};
        epoll_ctl(ep, EPOLL_CTL_ADD, conns[i].fd, &ev);
        next[i] = t0 + gap * (uint64_t)i / (uint64_t)np;
    }
    pthread_t probe;
    pthread_create(&probe, NULL, probe_main, &stop_at);
    while (now_ns() < stop_at) {
        uint64_t now = now_ns(), soonest = UINT64_MAX;
        for (int p = 0; p < np; p++) {
            if (!busy[p] && now >= next[p]) {
                buf_reset(&conns[p].req);
                req_send(&conns[p].req, 1);
                send_all(conns[p].fd, &conns[p].req);
                busy[p] = 1;
                sent += 10;
                next[p] += gap;
            }
            if (!busy[p] && next[p] < soonest)
                soonest = next[p];
        }
        struct epoll_event evs[MAXP];
        int k = epoll_wait(ep, evs, MAXP, soonest == UINT64_MAX ? 10 : soonest > now ? (int)((soonest - now) / 1000000) : 0);
        for (int i = 0; i < k; i++) {
            conn_t *c = &conns[evs[i].data.u32];
            conn_read(c);
            int status;
            const char *body;
            size_t blen, total;
            while ((total = response_complete(&c->in, &status, &body, &blen))) {
                if (status != 200)
                    die("send");
                busy[evs[i].data.u32] = 0;
                buf_consume(&c->in, total);
            }
        }
    }
    pthread_join(probe, NULL);
    if (!B.nlat)
        die("no probe finished");
    qsort(B.lat, B.nlat, sizeof *B.lat, cmp_u64);
    printf("%-18s senders=%d target=%.0f/s achieved=%.0f/s probes=%zu p50=%.3fms p90=%.3fms p99=%.3fms max=%.3fms\n",
           scenario_names[B.sc], np, B.rate, (double)sent / B.seconds, B.nlat, pct(0.5), pct(0.9), pct(0.99),
           (double)B.lat[B.nlat - 1] / 1e6);
}

static scenario_t parse_scenario(const char *s)
{
    for (size_t i = 0; i < NSCENARIOS; i++)
        if (strcmp(s, scenario_names[i]) == 0)
            return (scenario_t)i;
    fprintf(stderr, "sluice-bench: unknown scenario %s\n", s);
    exit(2);
}

int main(int argc, char **argv)
{
    int opt;
    while ((opt = getopt(argc, argv, "c:d:s:n:S:r:")) != -1) {
        if (opt == 'c')
            B.conns = atoi(optarg);
        else if (opt == 'd')
            B.seconds = atof(optarg);
        else if (opt == 's')
            B.body = (size_t)atol(optarg);
        else if (opt == 'n')
            B.fill = atol(optarg);
        else if (opt == 'S')
            B.subs = atoi(optarg);
        else if (opt == 'r')
            B.rate = atof(optarg);
    }
    if (argc - optind < 2 || B.conns < 1 || B.conns > MAX_CONNS || B.body < 20 || B.body > 4000 || B.subs < 1 ||
        B.subs > 64 || B.rate <= 0) {
        fprintf(stderr, "usage: sluice-bench [-c conns<=1024] [-d secs] [-s bytes 20..4000] [-n fill] [-S subs<=64] "
                        "[-r publishes/s] HOST:PORT static|send|send-batch|recv-delete|recv-delete-batch|fill|publish|"
                        "publish-latency|worker|worker-latency [PATH]\n");
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
    if (B.sc == SC_PUBLISH || B.sc == SC_PUBLISH_LATENCY)
        setup_topic();
    else if (B.sc != SC_STATIC)
        setup_queue();
    if (B.sc == SC_FILL)
        B.seconds = 3600; /* until -n messages are in */
    if (B.sc == SC_PUBLISH_LATENCY)
        run_latency();
    else if (B.sc == SC_WORKER)
        run_worker();
    else if (B.sc == SC_WORKER_LATENCY)
        run_worker_latency();
    else
        run();
    return 0;
}
