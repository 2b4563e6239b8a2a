/*
 * sluice-bench — drives a running server over HTTP/1.1 and prints throughput
 * and latency percentiles. Closed loop, like wrk: each of C keep-alive
 * connections has one request outstanding; one thread, epoll.
 *
 *   sluice-bench [-c conns] [-d seconds] [-s bytes] [-r rate] [-x speed-up] HOST:PORT SCENARIO [URL-PATH]
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
 * Gateway scenarios (the daemon serving examples/calculator/sluice.yaml; PATH, default
 * /inbound, is its accept route; the body is the seed's calculator request,
 * multiplication and division by 1..7 in turn):
 *   gw-accept     closed loop of POST PATH (-k KEY: with x-api-key, as
 *                 every gateway scenario); counts 202s (anything else is
 *                 an error, counted by status, and the run goes on)
 *   gw-e2e        open loop at -r round trips/s over -c connections (-r 0:
 *                 closed loop, the peak): POST PATH, then GET statusUrl?wait=20
 *                 on the same connection until the final 200; latency is POST
 *                 sent → final 200, reported with the POST's own; a final
 *                 status other than SUCCEEDED is an error
 *   gw-replay     seed 002's artillery load — 1,800 scenarios, each those
 *                 round trips — launched as fast as -c connections allow, or
 *                 with -x N on the seed's phase timing sped up N times;
 *                 reports like artillery's summary (scenarios launched and
 *                 completed, requests, response times, codes) and the
 *                 per-scenario time
 *   -d bounds every gateway run: no flow starts after it, and the open ones
 *   get at most 25 s more (then they count as unfinished errors).
 * Overload (bench/overload.sh drives it at twice the measured peak):
 *   overload      open loop: SendMessage offered at -r requests/s for -d
 *                 seconds over -c connections, pipelined whatever the
 *                 answers; reports what was offered, admitted (200), shed
 *                 (503/429) and failed, and the latency of the admitted
 *                 requests from the moment each was due (see run_overload)
 * SQS scenarios use queue "bench" (created if missing). The receive scenarios
 * first fill the queue with enough messages for the run (-n, default 400k).
 * Output: one line, "scenario conns secs requests req/s msgs/s p50 p90 p99 max"
 * (latencies in ms, per request; for recv-delete, a receive and its delete
 * are two requests); the latency, worker and gateway scenarios print their
 * own key=value fields (gw-replay adds artillery's summary below its line).
 */
#include <arpa/inet.h>
#include <pthread.h>
#include <errno.h>
#include <fcntl.h>
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
    SC_WORKER_LATENCY,
    SC_GW_ACCEPT,
    SC_GW_E2E,
    SC_GW_REPLAY,
    SC_OVERLOAD
} scenario_t;

/* A set of latencies in ns; sorted when a percentile is first asked for. */
typedef struct {
    uint64_t *v;
    size_t n, cap;
    int sorted;
} lat_t;

typedef struct conn {
    int fd;
    buf_t in;
    uint64_t started;
    buf_t req; /* the request in flight, kept to resend after a reconnect */
    int phase; /* recv-delete: 0 receive sent, 1 delete sent; gateway flows: FLOW_* */
    int msgs_in_flight;
    uint64_t post_at;    /* gateway flows: when the flow's POST went out */
    char status_url[128]; /* gateway flows: the POST's statusUrl */
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
    const char *api_key; /* -k: sent as x-api-key on the gateway's POSTs */
    char queue_url[256];
    lat_t lat; /* the scenario's latencies */
    uint64_t msgs;
    uint64_t seq;
    int subs;
    double rate;
    char topic_arn[256];
    char sub_urls[64][256];
    double speedup;      /* gw-replay: -x, 0 = as fast as the connections allow */
    uint64_t codes[600]; /* gateway scenarios: answers per HTTP status */
} B = {.conns = 64, .seconds = 10, .body = 100, .fill = 400000, .path = "/", .subs = 2, .rate = 1000};

static const char *const scenario_names[] = {
    "static", "send", "send-batch", "recv-delete", "recv-delete-batch", "fill", "publish",
    "publish-latency", "worker", "worker-latency", "gw-accept", "gw-e2e", "gw-replay", "overload"};
#define NSCENARIOS (sizeof scenario_names / sizeof scenario_names[0])

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* epoll_wait until an event or until deadline (CLOCK_MONOTONIC ns; 0: poll,
 * UINT64_MAX: at most 100 ms). Nanosecond-precise, so that an open loop paced
 * at thousands per second sleeps between sends instead of spinning on a
 * millisecond timeout of 0 and taking a core from the daemon it measures. */
static int wait_until(int ep, struct epoll_event *evs, int max, uint64_t deadline)
{
    uint64_t now = now_ns(), left = deadline == UINT64_MAX ? 100000000ull : deadline > now ? deadline - now : 0;
    if (left > 100000000ull)
        left = 100000000ull;
    struct timespec ts = {.tv_sec = (time_t)(left / 1000000000ull), .tv_nsec = (long)(left % 1000000000ull)};
    int n = epoll_pwait2(ep, evs, max, &ts, NULL);
    if (n < 0 && errno == ENOSYS) /* kernel before 5.11: round up to whole ms, never 0 for a wait */
        n = epoll_wait(ep, evs, max, (int)((left + 999999) / 1000000));
    return n;
}

static void die(const char *what)
{
    fprintf(stderr, "sluice-bench: %s: %s\n", what, strerror(errno));
    exit(1);
}

static void lat_add(lat_t *l, uint64_t ns)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 1 << 16;
        l->v = realloc(l->v, l->cap * sizeof *l->v);
        if (!l->v)
            die("realloc");
    }
    l->v[l->n++] = ns;
    l->sorted = 0;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* The p-quantile (0..1; 1 is the max) in ms; 0 for an empty set. */
static double lat_ms(lat_t *l, double p)
{
    if (!l->n)
        return 0;
    if (!l->sorted) {
        qsort(l->v, l->n, sizeof *l->v, cmp_u64);
        l->sorted = 1;
    }
    return (double)l->v[(size_t)(p * (double)(l->n - 1))] / 1e6;
}

/* A connected socket, or -1 (errno set). */
static int dial_try(void)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)B.port)};
    inet_pton(AF_INET, B.host, &a.sin_addr);
    int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    if (fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof a) < 0) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    if (fd >= 0)
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
}

static int dial(void)
{
    int fd = dial_try();
    if (fd < 0)
        die("connect");
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

/* The gateway scenarios' work: the seed's calculator request, alternating
 * multiplication and division (by 1..7, never 0, so every request can
 * succeed), so that both filtered queues and both workers are busy. */
static void req_gw_post(buf_t *out)
{
    unsigned long long n = ++B.seq;
    char body[160];
    if (n % 2)
        snprintf(body, sizeof body, "{\"operation\":\"multiplication\",\"number\":%llu,\"factor\":2}", n);
    else
        snprintf(body, sizeof body, "{\"operation\":\"division\",\"number\":%llu,\"divisor\":%llu}", n, 1 + n % 7);
    buf_printf(out, "POST %s HTTP/1.1\r\nHost: %s:%d\r\nContent-Type: application/json\r\n", B.path, B.host, B.port);
    if (B.api_key)
        buf_printf(out, "x-api-key: %s\r\n", B.api_key);
    buf_printf(out, "Content-Length: %zu\r\n\r\n%s", strlen(body), body);
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
    case SC_GW_ACCEPT:
        req_gw_post(out);
        break;
    case SC_PUBLISH_LATENCY:
    case SC_GW_E2E:
    case SC_GW_REPLAY:
    case SC_OVERLOAD:
        break; /* run_latency, run_flows and run_overload drive their own requests */
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
    lat_add(&B.lat, ns);
}

/* Counts an answer by status; returns how many had that status so far. */
static uint64_t count_code(int status)
{
    return ++B.codes[status >= 0 && status < 600 ? status : 0];
}

/* "202:1234,500:3" (status 0: an answer that was not HTTP) */
static void codes_text(char *out, size_t n)
{
    size_t k = 0;
    out[0] = '\0';
    for (int i = 0; i < 600 && k < n; i++)
        if (B.codes[i])
            k += (size_t)snprintf(out + k, n - k, "%s%d:%llu", k ? "," : "", i, (unsigned long long)B.codes[i]);
}

/* Whether a closed-loop answer lets the run go on. The gateway's accept
 * counts whatever is not a 202 as an error and goes on (the first few are
 * shown), so that a run under overload reports its errors; every other
 * scenario stops at the first answer that is not a 200. */
static int answer_ok(int status, const char *body, size_t blen)
{
    if (B.sc == SC_GW_ACCEPT) {
        if (count_code(status) <= 3 && status != 202)
            fprintf(stderr, "sluice-bench: HTTP %d: %.*s\n", status, (int)blen, body);
        return 1;
    }
    if (status == 200)
        return 1;
    fprintf(stderr, "sluice-bench: HTTP %d: %.*s\n", status, (int)blen, body);
    return 0;
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
        if (!answer_ok(status, body, blen))
            exit(1);
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

static double pct(double p)
{
    return lat_ms(&B.lat, p);
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
    if (B.sc == SC_STATIC)
        B.msgs = B.lat.n;
    if (B.sc == SC_GW_ACCEPT)
        B.msgs = B.codes[202];
    printf("%-18s conns=%d secs=%.1f requests=%zu req/s=%.0f msgs/s=%.0f p50=%.2fms p90=%.2fms p99=%.2fms "
           "max=%.2fms",
           scenario_names[B.sc], B.conns, secs, B.lat.n, (double)B.lat.n / secs, (double)B.msgs / secs, pct(0.5), pct(0.9),
           pct(0.99), pct(1));
    if (B.sc == SC_GW_ACCEPT) {
        char codes[256];
        codes_text(codes, sizeof codes);
        printf(" accepted=%llu errors=%llu codes=%s", (unsigned long long)B.msgs,
               (unsigned long long)(B.lat.n - B.msgs), codes);
    }
    putchar('\n');
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
    /* one message per Publish: each publisher sends every np/rate seconds */
    uint64_t t0 = now_ns(), stop_at = t0 + (uint64_t)(B.seconds * 1e9), gap = (uint64_t)(1e9 * np / B.rate);
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
        struct epoll_event evs[80];
        int k = wait_until(ep, evs, 80, soonest);
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
    if (!B.lat.n)
        die("no message arrived");
    double secs = B.seconds;
    printf("%-18s subs=%d publishers=%d target=%.0f/s achieved=%.0f/s received=%llu p50=%.3fms p90=%.3fms "
           "p99=%.3fms max=%.3fms\n",
           scenario_names[B.sc], B.subs, np, B.rate, (double)published / secs, (unsigned long long)B.msgs, pct(0.5),
           pct(0.9), pct(0.99), pct(1));
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
        int k = wait_until(ep, evs, MAXP, soonest == UINT64_MAX ? now + 10000000ull : soonest);
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
    if (!B.lat.n)
        die("no probe finished");
    printf("%-18s senders=%d target=%.0f/s achieved=%.0f/s probes=%zu p50=%.3fms p90=%.3fms p99=%.3fms max=%.3fms\n",
           scenario_names[B.sc], np, B.rate, (double)sent / B.seconds, B.lat.n, pct(0.5), pct(0.9), pct(0.99),
           pct(1));
}

/* ---- gateway flows: POST the accept route, then long-poll the statusUrl ------------------- */

/* A flow is one request's round trip through the gateway on one connection:
 * POST PATH → 202 with a statusUrl, then GET statusUrl?wait=20 → 200 with
 * the final record (a 202 means the wait passed with the request still
 * pending: read again). When a flow may start is the scenario's: gw-e2e
 * every 1/-r s (or as soon as a connection is free with -r 0, the closed
 * loop that measures the peak), gw-replay on seed 002's artillery phases
 * (sped up -x times, or with -x 0 as soon as a connection is free). A flow
 * due while every connection is busy starts when one is free and is
 * counted late; its latencies still count from its own POST. */

enum { FLOW_IDLE, FLOW_POST, FLOW_GET };
enum { FE_POST, FE_READ, FE_FINAL, FE_CLOSED, FE_UNFINISHED, FE_N };
static const char *const flow_error_names[FE_N] = {"post", "read", "final", "closed", "unfinished"};
#define FLOW_GRACE_NS 25000000000ull /* past -d, for flows still open: one whole long poll */
#define LATE_NS 1000000ull           /* a flow that started this much after it was due is late */

/* Seed 002's load: `artillery run -c tests/artillery-high-load-config.yml
 * tests/artillery.yml` against RequestRide. The seed gives the command and
 * its summary, not the files: 1,800 scenarios launched, each one request
 * (1,800 requests, all 201), RPS sent 8.7; the workshop's earlier module
 * says the same config "will run the command for 3 minutes" — one phase
 * of 180 s at 10 arrivals/s. Here each scenario is that request made the
 * Sluice way: the POST that RequestRide's API answered, then the read of
 * its result, which Sluice's 202 defers. */
static const struct {
    double secs, arrival_rate;
} replay_phases[] = {{180, 10}};
#define NPHASES (sizeof replay_phases / sizeof replay_phases[0])

static struct {
    lat_t post, e2e, reqs; /* POST → 202; POST sent → final 200; every request */
    uint64_t launched, completed, late, late_max, t_last;
    uint64_t errors[FE_N];
    conn_t *idle[MAX_CONNS];
    int nidle;
} F;

static uint64_t replay_total(void)
{
    double n = 0;
    for (size_t i = 0; i < NPHASES; i++)
        n += replay_phases[i].secs * replay_phases[i].arrival_rate;
    return (uint64_t)n;
}

/* When flow k is due, in ns after the start; UINT64_MAX: there is none. */
static uint64_t flow_due(uint64_t k)
{
    if (B.sc == SC_GW_E2E)
        return B.rate > 0 ? (uint64_t)((double)k * 1e9 / B.rate) : 0;
    double t = 0;
    for (size_t i = 0; i < NPHASES; i++) {
        double n = replay_phases[i].secs * replay_phases[i].arrival_rate;
        if ((double)k < n)
            return B.speedup > 0 ? (uint64_t)((t + (double)k / replay_phases[i].arrival_rate) * 1e9 / B.speedup) : 0;
        k -= (uint64_t)n;
        t += replay_phases[i].secs;
    }
    return UINT64_MAX;
}

static int flow_paced(void)
{
    return B.sc == SC_GW_E2E ? B.rate > 0 : B.speedup > 0;
}

/* A string field of a JSON answer into out; 0 if there is none. */
static int json_field(const char *body, size_t blen, const char *name, char *out, size_t n)
{
    jv_doc_t *d = jv_doc_new_small();
    const char *v = jv_str(jv_get(jv_parse(d, body, blen, NULL, 0), name));
    int ok = v && strlen(v) < n;
    snprintf(out, n, "%s", ok ? v : "");
    jv_doc_free(d);
    return ok;
}

static void flow_send(conn_t *c, int phase)
{
    buf_reset(&c->req);
    if (phase == FLOW_POST)
        req_gw_post(&c->req);
    else
        buf_printf(&c->req, "GET %s?wait=20 HTTP/1.1\r\nHost: %s:%d\r\n\r\n", c->status_url, B.host, B.port);
    c->phase = phase;
    c->started = now_ns();
    if (phase == FLOW_POST)
        c->post_at = c->started;
    send_all(c->fd, &c->req);
}

/* Ends the connection's flow: a success (error < 0) or an error of that kind. */
static void flow_end(conn_t *c, int error)
{
    if (error < 0)
        F.completed++;
    else
        F.errors[error]++;
    c->phase = FLOW_IDLE;
    F.idle[F.nidle++] = c;
    F.t_last = now_ns();
}

static void flow_answer(conn_t *c, int status, const char *body, size_t blen)
{
    uint64_t t = now_ns();
    char final[32];
    lat_add(&F.reqs, t - c->started);
    count_code(status);
    if (c->phase == FLOW_POST) {
        lat_add(&F.post, t - c->started);
        if (status == 202 && json_field(body, blen, "statusUrl", c->status_url, sizeof c->status_url))
            flow_send(c, FLOW_GET);
        else
            flow_end(c, FE_POST);
    } else if (status == 202) {
        flow_send(c, FLOW_GET);
    } else if (status != 200) {
        flow_end(c, FE_READ);
    } else if (json_field(body, blen, "status", final, sizeof final) && strcmp(final, "SUCCEEDED") == 0) {
        lat_add(&F.e2e, t - c->post_at);
        flow_end(c, -1);
    } else {
        flow_end(c, FE_FINAL);
    }
}

/* A connection the server closed ends its flow as an error, and is dialled again. */
static void flow_closed(conn_t *c)
{
    if (c->phase != FLOW_IDLE)
        flow_end(c, FE_CLOSED);
    redial(c);
}

static void flow_readable(conn_t *c)
{
    buf_reserve(&c->in, 65536);
    ssize_t n = read(c->fd, c->in.data + c->in.len, c->in.cap - c->in.len - 1);
    if (n <= 0) {
        flow_closed(c);
        return;
    }
    c->in.len += (size_t)n;
    int status;
    const char *body;
    size_t blen, total;
    while ((total = response_complete(&c->in, &status, &body, &blen))) {
        int closes = response_head_closes(c->in.data, (size_t)(body - c->in.data));
        flow_answer(c, status, body, blen);
        buf_consume(&c->in, total);
        if (closes) {
            flow_closed(c);
            return;
        }
    }
}

/* Starts a flow, due at `due`, on a free connection. */
static void flow_launch(uint64_t now, uint64_t due)
{
    conn_t *c = F.idle[--F.nidle];
    if (flow_paced() && now > due + LATE_NS) {
        F.late++;
        if (now - due > F.late_max)
            F.late_max = now - due;
    }
    F.launched++;
    flow_send(c, FLOW_POST);
}

/* Starts the flows as they fall due for -d seconds, then waits for the open
 * ones (at most FLOW_GRACE_NS; those still open then count as unfinished).
 * Returns the seconds over which to count the rate. */
static double run_flows(void)
{
    static conn_t conns[MAX_CONNS];
    epfd = epoll_create1(0);
    for (int i = 0; i < B.conns; i++) {
        conns[i].fd = dial();
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &conns[i]};
        epoll_ctl(epfd, EPOLL_CTL_ADD, conns[i].fd, &ev);
        F.idle[F.nidle++] = &conns[i];
    }
    uint64_t t0 = now_ns(), stop_at = t0 + (uint64_t)(B.seconds * 1e9), k = 0;
    for (;;) {
        uint64_t now = now_ns(), due = flow_due(k);
        for (; F.nidle && now < stop_at && due != UINT64_MAX && t0 + due <= now; due = flow_due(++k))
            flow_launch(now, t0 + due);
        int more = now < stop_at && due != UINT64_MAX;
        if ((!more && F.nidle == B.conns) || now >= stop_at + FLOW_GRACE_NS)
            break;
        struct epoll_event evs[256];
        int n = wait_until(epfd, evs, 256, more && F.nidle ? t0 + due : UINT64_MAX);
        for (int i = 0; i < n; i++)
            flow_readable(evs[i].data.ptr);
    }
    F.errors[FE_UNFINISHED] = (uint64_t)(B.conns - F.nidle);
    /* the seconds the flows took; a paced run offered its load for all of -d */
    double secs = (double)((F.t_last > t0 ? F.t_last : now_ns()) - t0) / 1e9;
    return flow_paced() && secs < B.seconds ? B.seconds : secs;
}

static uint64_t flow_errors(char *out, size_t n)
{
    uint64_t all = 0;
    size_t k = 0;
    out[0] = '\0';
    for (int i = 0; i < FE_N; i++) {
        all += F.errors[i];
        if (F.errors[i] && k < n)
            k += (size_t)snprintf(out + k, n - k, "%s%s:%llu", k ? "," : "", flow_error_names[i],
                                  (unsigned long long)F.errors[i]);
    }
    return all;
}

/* gw-e2e: one line; p50… are POST sent → final 200, post_… the POST's own. */
static void run_gw_e2e(void)
{
    char target[32], codes[256], errs[128];
    double secs = run_flows();
    uint64_t nerr = flow_errors(errs, sizeof errs);
    codes_text(codes, sizeof codes);
    snprintf(target, sizeof target, B.rate > 0 ? "%.0f/s" : "closed-loop", B.rate);
    printf("%-18s conns=%d target=%s launched=%llu completed=%llu achieved/s=%.0f late=%llu late_max=%.2fms "
           "p50=%.3fms p90=%.3fms p99=%.3fms max=%.3fms post_p50=%.3fms post_p90=%.3fms post_p99=%.3fms "
           "post_max=%.3fms errors=%llu%s%s codes=%s\n",
           scenario_names[B.sc], B.conns, target, (unsigned long long)F.launched, (unsigned long long)F.completed,
           (double)F.completed / secs, (unsigned long long)F.late, (double)F.late_max / 1e6, lat_ms(&F.e2e, 0.5),
           lat_ms(&F.e2e, 0.9), lat_ms(&F.e2e, 0.99), lat_ms(&F.e2e, 1), lat_ms(&F.post, 0.5), lat_ms(&F.post, 0.9),
           lat_ms(&F.post, 0.99), lat_ms(&F.post, 1), (unsigned long long)nerr, *errs ? " errors_by=" : "", errs,
           codes);
}

static void summary_latency(const char *title, lat_t *l)
{
    printf("  %s:\n    min: %.1f\n    max: %.1f\n    median: %.1f\n    p95: %.1f\n    p99: %.1f\n", title, lat_ms(l, 0),
           lat_ms(l, 1), lat_ms(l, 0.5), lat_ms(l, 0.95), lat_ms(l, 0.99));
}

/* gw-replay: one line like the others (p50… are per scenario, req_… per
 * request), then artillery's summary report, in ms as artillery gives it. */
static void run_gw_replay(void)
{
    char speed[32], codes[256], errs[128];
    double secs = run_flows();
    uint64_t nerr = flow_errors(errs, sizeof errs);
    codes_text(codes, sizeof codes);
    snprintf(speed, sizeof speed, B.speedup > 0 ? "x%g" : "full", B.speedup);
    printf("%-18s conns=%d speed=%s scenarios=%llu launched=%llu completed=%llu requests=%zu secs=%.2f "
           "scenarios/s=%.0f req/s=%.0f p50=%.3fms p90=%.3fms p99=%.3fms max=%.3fms req_p50=%.3fms req_p95=%.3fms "
           "req_p99=%.3fms req_max=%.3fms errors=%llu%s%s codes=%s\n",
           scenario_names[B.sc], B.conns, speed, (unsigned long long)replay_total(), (unsigned long long)F.launched,
           (unsigned long long)F.completed, F.reqs.n, secs, (double)F.completed / secs, (double)F.reqs.n / secs,
           lat_ms(&F.e2e, 0.5), lat_ms(&F.e2e, 0.9), lat_ms(&F.e2e, 0.99), lat_ms(&F.e2e, 1), lat_ms(&F.reqs, 0.5),
           lat_ms(&F.reqs, 0.95), lat_ms(&F.reqs, 0.99), lat_ms(&F.reqs, 1), (unsigned long long)nerr,
           *errs ? " errors_by=" : "", errs, codes);
    printf("Summary report (seed 002's load: %llu scenarios; speed %s over %d connections)\n"
           "  Scenarios launched:  %llu\n  Scenarios completed: %llu\n  Requests completed:  %zu\n  RPS sent: %.1f\n",
           (unsigned long long)replay_total(), speed, B.conns, (unsigned long long)F.launched,
           (unsigned long long)F.completed, F.reqs.n, (double)F.reqs.n / secs);
    summary_latency("Request latency", &F.reqs);
    summary_latency("Scenario duration (POST sent to final answer)", &F.e2e);
    printf("  Codes:\n");
    for (int i = 0; i < 600; i++)
        if (B.codes[i])
            printf("    %d: %llu\n", i, (unsigned long long)B.codes[i]);
    if (nerr)
        printf("  Errors: %s\n", errs);
}

/* ---- overload: an open loop that does not wait for answers ------------------------- */

/* Request k is due at k / rate and goes out on connection k mod -c,
 * pipelined behind whatever is still unanswered there (HTTP/1.1 keeps the
 * answers in order), so a slow server does not slow the offer down: no
 * coordinated omission. Requests due within one tick (OVL_TICK_NS) go out
 * together, and latency runs from the moment each was due, so it includes
 * that and any other wait in this client. Answers count as admitted (200),
 * shed (503, 429) or errors (anything else). A connection the server closes
 * or resets counts as a connection failure, its unanswered requests as
 * lost, and it is dialled again (a refused dial is retried every
 * OVL_REDIAL_NS). This client bounds itself: a connection holding
 * OVL_MAX_OUT unanswered requests or OVL_MAX_UNSENT bytes it could not
 * write takes no more, and those requests count as unsent. After -d, the
 * unanswered get OVL_GRACE_NS more; what is still unanswered then is
 * reported as such. */

#define OVL_MAX_OUT 16384
#define OVL_MAX_UNSENT (4u << 20)
#define OVL_TICK_NS 250000ull
#define OVL_GRACE_NS 5000000000ull
#define OVL_REDIAL_NS 100000000ull

typedef struct ovl_conn {
    int fd; /* -1: down; dialled again from redial_at */
    uint64_t redial_at;
    buf_t in, out; /* answers read; requests not yet written (from out_off) */
    size_t out_off;
    uint64_t *due; /* a ring of the unanswered requests' due times */
    size_t head, n;
    int want_out; /* EPOLLOUT registered */
} ovl_conn_t;

static struct {
    int ep;
    lat_t admitted, shed;
    uint64_t offered, n_admitted, n_shed, errors, conn_failures, lost, unsent, unanswered;
} O;

static void ovl_events(ovl_conn_t *c, int out)
{
    struct epoll_event ev = {.events = EPOLLIN | (out ? EPOLLOUT : 0), .data.ptr = c};
    epoll_ctl(O.ep, EPOLL_CTL_MOD, c->fd, &ev);
    c->want_out = out;
}

static void ovl_open(ovl_conn_t *c, uint64_t now)
{
    c->fd = dial_try();
    if (c->fd < 0) {
        O.conn_failures++;
        c->redial_at = now + OVL_REDIAL_NS;
        return;
    }
    fcntl(c->fd, F_SETFL, fcntl(c->fd, F_GETFL) | O_NONBLOCK);
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
    epoll_ctl(O.ep, EPOLL_CTL_ADD, c->fd, &ev);
    c->want_out = 0;
}

/* The server closed or reset the connection: what it did not answer is lost. */
static void ovl_down(ovl_conn_t *c, uint64_t now)
{
    O.conn_failures++;
    O.lost += c->n;
    c->n = c->head = 0;
    close(c->fd);
    buf_reset(&c->in);
    buf_reset(&c->out);
    c->out_off = 0;
    ovl_open(c, now);
}

static void ovl_offer(ovl_conn_t *c, uint64_t due)
{
    O.offered++;
    if (c->fd < 0 || c->n == OVL_MAX_OUT || c->out.len - c->out_off > OVL_MAX_UNSENT) {
        O.unsent++;
        return;
    }
    req_send(&c->out, 0);
    c->due[(c->head + c->n++) % OVL_MAX_OUT] = due;
}

static void ovl_flush(ovl_conn_t *c, uint64_t now)
{
    while (c->fd >= 0 && c->out_off < c->out.len) {
        ssize_t w = send(c->fd, c->out.data + c->out_off, c->out.len - c->out_off, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            if (!c->want_out)
                ovl_events(c, 1);
            return;
        }
        if (w <= 0) {
            ovl_down(c, now);
            return;
        }
        c->out_off += (size_t)w;
    }
    if (c->fd >= 0 && c->want_out)
        ovl_events(c, 0);
    if (c->out_off == c->out.len) {
        buf_reset(&c->out);
        c->out_off = 0;
    }
}

static void ovl_answer(ovl_conn_t *c, int status, uint64_t now)
{
    uint64_t due = c->due[c->head];
    c->head = (c->head + 1) % OVL_MAX_OUT;
    c->n--;
    if (status == 200) {
        O.n_admitted++;
        lat_add(&O.admitted, now - due);
        return;
    }
    count_code(status);
    if (status == 503 || status == 429) {
        O.n_shed++;
        lat_add(&O.shed, now - due);
    } else {
        O.errors++;
    }
}

static void ovl_read(ovl_conn_t *c, uint64_t now)
{
    buf_reserve(&c->in, 65536);
    ssize_t r = read(c->fd, c->in.data + c->in.len, c->in.cap - c->in.len - 1);
    if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
        return;
    if (r <= 0) {
        ovl_down(c, now);
        return;
    }
    c->in.len += (size_t)r;
    int status, closes = 0;
    const char *body;
    size_t blen, total;
    while (c->n && !closes && (total = response_complete(&c->in, &status, &body, &blen))) {
        closes = response_head_closes(c->in.data, (size_t)(body - c->in.data));
        ovl_answer(c, status, now);
        buf_consume(&c->in, total);
    }
    if (closes)
        ovl_down(c, now);
}

/* Offers what has fallen due (none after stop_at); returns the next request's index. */
static uint64_t ovl_offer_due(ovl_conn_t *conns, uint64_t k, uint64_t t0, uint64_t now, uint64_t stop_at)
{
    for (;; k++) {
        uint64_t due = t0 + (uint64_t)((double)k * 1e9 / B.rate);
        if (due > now || due >= stop_at)
            return k;
        ovl_offer(&conns[k % (uint64_t)B.conns], due);
    }
}

static uint64_t ovl_outstanding(const ovl_conn_t *conns)
{
    uint64_t n = 0;
    for (int i = 0; i < B.conns; i++)
        n += conns[i].n;
    return n;
}

static void ovl_drive(ovl_conn_t *conns)
{
    uint64_t t0 = now_ns(), stop_at = t0 + (uint64_t)(B.seconds * 1e9), k = 0;
    for (;;) {
        uint64_t now = now_ns();
        k = ovl_offer_due(conns, k, t0, now, stop_at);
        for (int i = 0; i < B.conns; i++) {
            if (conns[i].fd < 0 && now >= conns[i].redial_at)
                ovl_open(&conns[i], now);
            ovl_flush(&conns[i], now);
        }
        if (now >= stop_at && (!ovl_outstanding(conns) || now >= stop_at + OVL_GRACE_NS))
            break;
        struct epoll_event evs[256];
        int n = wait_until(O.ep, evs, 256, now + (now < stop_at ? OVL_TICK_NS : 100000000ull));
        now = now_ns();
        for (int i = 0; i < n; i++) {
            ovl_conn_t *c = evs[i].data.ptr;
            if (c->fd >= 0 && (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
                ovl_read(c, now);
            if (c->fd >= 0 && (evs[i].events & EPOLLOUT))
                ovl_flush(c, now);
        }
    }
}

static void run_overload(void)
{
    static ovl_conn_t conns[MAX_CONNS];
    char codes[256];
    O.ep = epoll_create1(0);
    for (int i = 0; i < B.conns; i++) {
        conns[i].due = malloc(OVL_MAX_OUT * sizeof *conns[i].due);
        if (!conns[i].due)
            die("malloc");
        ovl_open(&conns[i], now_ns());
    }
    ovl_drive(conns);
    O.unanswered = ovl_outstanding(conns);
    codes_text(codes, sizeof codes);
    double secs = B.seconds;
    printf("%-18s conns=%d secs=%.1f rate=%.0f offered=%llu offered/s=%.0f admitted=%llu admitted/s=%.0f shed=%llu "
           "shed/s=%.0f errors=%llu conn_failures=%llu lost=%llu unsent=%llu unanswered=%llu p50=%.2fms p90=%.2fms "
           "p99=%.2fms max=%.2fms shed_p50=%.2fms shed_p99=%.2fms codes=%s\n",
           scenario_names[B.sc], B.conns, secs, B.rate, (unsigned long long)O.offered, (double)O.offered / secs,
           (unsigned long long)O.n_admitted, (double)O.n_admitted / secs, (unsigned long long)O.n_shed,
           (double)O.n_shed / secs, (unsigned long long)O.errors, (unsigned long long)O.conn_failures,
           (unsigned long long)O.lost, (unsigned long long)O.unsent, (unsigned long long)O.unanswered,
           lat_ms(&O.admitted, 0.5), lat_ms(&O.admitted, 0.9), lat_ms(&O.admitted, 0.99), lat_ms(&O.admitted, 1),
           lat_ms(&O.shed, 0.5), lat_ms(&O.shed, 0.99), *codes ? codes : "-");
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
    while ((opt = getopt(argc, argv, "c:d:s:n:S:r:x:k:")) != -1) {
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
        else if (opt == 'x')
            B.speedup = atof(optarg);
        else if (opt == 'k')
            B.api_key = optarg;
    }
    if (argc - optind >= 2)
        B.sc = parse_scenario(argv[optind + 1]);
    int gateway = B.sc == SC_GW_ACCEPT || B.sc == SC_GW_E2E || B.sc == SC_GW_REPLAY;
    if (argc - optind < 2 || B.conns < 1 || B.conns > MAX_CONNS || B.body < 20 || B.body > 4000 || B.subs < 1 ||
        B.subs > 64 || B.rate < 0 || (B.rate == 0 && B.sc != SC_GW_E2E) || B.speedup < 0) {
        fprintf(stderr, "usage: sluice-bench [-c conns<=1024] [-d secs] [-s bytes 20..4000] [-n fill] [-S subs<=64] "
                        "[-r rate/s] [-x speed-up] [-k api-key] HOST:PORT static|send|send-batch|recv-delete|recv-delete-batch|fill|"
                        "publish|publish-latency|worker|worker-latency|gw-accept|gw-e2e|gw-replay|overload [PATH]\n");
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
    if (argc - optind > 2)
        B.path = argv[optind + 2];
    else if (gateway)
        B.path = "/inbound";
    if (B.sc == SC_PUBLISH || B.sc == SC_PUBLISH_LATENCY)
        setup_topic();
    else if (B.sc != SC_STATIC && !gateway)
        setup_queue();
    if (B.sc == SC_FILL)
        B.seconds = 3600; /* until -n messages are in */
    if (B.sc == SC_PUBLISH_LATENCY)
        run_latency();
    else if (B.sc == SC_WORKER)
        run_worker();
    else if (B.sc == SC_WORKER_LATENCY)
        run_worker_latency();
    else if (B.sc == SC_GW_E2E)
        run_gw_e2e();
    else if (B.sc == SC_GW_REPLAY)
        run_gw_replay();
    else if (B.sc == SC_OVERLOAD)
        run_overload();
    else
        run();
    return 0;
}
