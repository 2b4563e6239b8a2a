/*
 * admin_dlq — `sluice dlq show <queue>` and `sluice dlq redrive <queue>`.
 *
 * show: ReceiveMessage with VisibilityTimeout 0, so every message stays
 * visible (AWS's "poll for messages" in the console does the same; the
 * receive count still goes up by one each time, as on AWS). A receive
 * returns at most 10 messages; show receives again while that brings
 * messages it has not printed yet, up to --max (so with more than 10
 * messages waiting, which ones appear is the queue's choice). For a
 * message that carries a gateway request id — the String attribute
 * requestId, an SNS envelope's MessageAttributes.requestId, or a requestId
 * in a JSON body (docs/GATEWAY.md) — the request's record is read
 * (GET /_sluice/requests/{id}) and its status and error printed.
 *
 * redrive: StartMessageMoveTask from the queue's ARN (to its sources, or to
 * --to's ARN), then ListMessageMoveTasks every DLQ_POLL_MS, a progress line
 * whenever the count moves, until the task is no longer RUNNING or
 * --timeout passes.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "daemon/admin.h"
#include "util/alloc.h"
#include "util/clock.h"

#define DLQ_SHOW_DEFAULT 10
#define DLQ_SHOW_MAX 1000
#define DLQ_RECEIVE_ROUNDS_EXTRA 3 /* receives beyond max/10 before giving up on new messages */
#define DLQ_POLL_MS 500
#define DLQ_DEFAULT_TIMEOUT_S 300
#define DLQ_MAX_RATE 500

static const char DLQ_USAGE[] =
    "usage: sluice dlq show <queue> [--max N] [--endpoint URL] [--json]\n"
    "       sluice dlq redrive <queue> [--to QUEUE] [--rate N] [--no-wait] [--timeout S]\n"
    "                          [--endpoint URL] [--json]\n\n"
    "show     prints the messages waiting in a dead-letter queue without taking them\n"
    "         (received with VisibilityTimeout 0): id, receive count, attributes, body,\n"
    "         and for a gateway request its record's status and error.\n"
    "           --max N      at most N messages (default 10, at most 1000)\n"
    "redrive  moves the queue's messages back to the queues they came from, or to\n"
    "         --to QUEUE (StartMessageMoveTask), and follows the task to its end.\n"
    "           --rate N     at most N messages a second (1..500; default: as fast as\n"
    "                        the daemon moves them)\n"
    "           --no-wait    start the task and return\n"
    "           --timeout S  stop following after S seconds (default 300); exit 3\n";

typedef struct dlq_opts {
    long max, rate, timeout_s;
    const char *to;
    int no_wait;
} dlq_opts_t;

static const struct option DLQ_OPTS[] = {
    {"max", required_argument, NULL, 'm'},  {"to", required_argument, NULL, 't'},
    {"rate", required_argument, NULL, 'r'}, {"no-wait", no_argument, NULL, 'W'},
    {"timeout", required_argument, NULL, 'T'}, {NULL, 0, NULL, 0},
};

static int dlq_opt(admin_t *ad, int ch, const char *arg, void *ctx)
{
    dlq_opts_t *o = ctx;
    switch (ch) {
    case 'm': return admin_uint_opt(ad, "--max", arg, 1, DLQ_SHOW_MAX, &o->max);
    case 'r': return admin_uint_opt(ad, "--rate", arg, 1, DLQ_MAX_RATE, &o->rate);
    case 'T': return admin_uint_opt(ad, "--timeout", arg, 1, 86400, &o->timeout_s);
    case 't': o->to = arg; return 0;
    case 'W': o->no_wait = 1; return 0;
    default: return -1;
    }
}

/* ---- queues by name ---------------------------------------------------------------------------- */

/* The queue's URL and ARN (new strings in *url, *arn). */
static int resolve_queue(admin_t *ad, const char *name, char **url, char **arn)
{
    buf_t b = BUF_INIT;
    buf_puts(&b, "{\"QueueName\":");
    jv_write_string(&b, name, strlen(name));
    buf_putc(&b, '}');
    int rc = admin_sqs_quiet(ad, "GetQueueUrl", b.data);
    buf_free(&b);
    if (rc != ADMIN_EXIT_OK && ad->a.status == 400 && strstr(ad->a.body.data ? ad->a.body.data : "", "QueueDoesNotExist"))
        return admin_fail(ad, ADMIN_EXIT_FAILED, "no queue named %s", name);
    if (rc != ADMIN_EXIT_OK)
        return rc;
    *url = xstrdup(jv_str(jv_get(ad->a.json, "QueueUrl")) ? jv_str(jv_get(ad->a.json, "QueueUrl")) : "");
    const jv_t *attrs;
    rc = admin_queue_attributes(ad, *url, "\"QueueArn\"", &attrs);
    const char *a = jv_str(jv_get(attrs, "QueueArn"));
    *arn = rc == ADMIN_EXIT_OK && a ? xstrdup(a) : NULL;
    if (rc == ADMIN_EXIT_OK && !*arn)
        rc = admin_fail(ad, ADMIN_EXIT_FAILED, "queue %s has no QueueArn", name);
    return rc;
}

/* ---- show -------------------------------------------------------------------------------------- */

/* One ReceiveMessage (VisibilityTimeout 0) of up to n messages. */
static int receive_peek(admin_t *ad, const char *url, long n)
{
    buf_t b = BUF_INIT;
    buf_printf(&b, "{\"MaxNumberOfMessages\":%ld,\"VisibilityTimeout\":0,\"WaitTimeSeconds\":0,"
                   "\"AttributeNames\":[\"All\"],\"MessageSystemAttributeNames\":[\"All\"],"
                   "\"MessageAttributeNames\":[\"All\"],\"QueueUrl\":",
               n);
    jv_write_string(&b, url, strlen(url));
    buf_putc(&b, '}');
    int rc = admin_sqs(ad, "ReceiveMessage", b.data);
    buf_free(&b);
    return rc;
}

static int seen(const jv_t *msgs, const char *id)
{
    for (size_t i = 0; id && i < jv_count(msgs); i++)
        if (!strcmp(jv_str(jv_get(jv_at(msgs, i), "MessageId")) ? jv_str(jv_get(jv_at(msgs, i), "MessageId")) : "", id))
            return 1;
    return 0;
}

/* Up to max distinct messages of the queue into msgs. */
static int peek_messages(admin_t *ad, const char *url, long max, jv_doc_t *d, jv_t *msgs)
{
    long rounds = max / 10 + DLQ_RECEIVE_ROUNDS_EXTRA;
    for (long r = 0; r < rounds && (long)jv_count(msgs) < max; r++) {
        long want = max - (long)jv_count(msgs);
        int rc = receive_peek(ad, url, want > 10 ? 10 : want);
        if (rc != ADMIN_EXIT_OK)
            return rc;
        const jv_t *got = jv_get(ad->a.json, "Messages");
        size_t added = 0;
        for (size_t i = 0; i < jv_count(got) && (long)jv_count(msgs) < max; i++) {
            if (seen(msgs, jv_str(jv_get(jv_at(got, i), "MessageId"))))
                continue;
            jv_push(d, msgs, jv_copy(d, jv_at(got, i)));
            added++;
        }
        if (!added)
            break;
    }
    return ADMIN_EXIT_OK;
}

/* The gateway request id a message carries, or NULL (docs/GATEWAY.md). */
static const char *request_id_of(const jv_t *msg, jv_doc_t *d)
{
    const char *id = jv_str(jv_get(jv_get(jv_get(msg, "MessageAttributes"), "requestId"), "StringValue"));
    const char *body = jv_str(jv_get(msg, "Body"));
    const jv_t *bj = !id && body ? jv_parse(d, body, strlen(body), NULL, 0) : NULL;
    if (!id)
        id = jv_str(jv_get(jv_get(jv_get(bj, "MessageAttributes"), "requestId"), "Value"));
    if (!id && jv_str(jv_get(bj, "Type")) == NULL)
        id = jv_str(jv_get(bj, "requestId"));
    return id;
}

/* The request's record (GET /_sluice/requests/{id}) copied into d; NULL when none. */
static jv_t *request_record(admin_t *ad, const char *id, jv_doc_t *d)
{
    buf_t p = BUF_INIT;
    buf_puts(&p, "/_sluice/requests/");
    admin_urlencode(&p, id);
    int rc = admin_get(ad, p.data, 1);
    buf_free(&p);
    if (ad->a.status == 202)
        rc = ADMIN_EXIT_OK;
    return (rc == ADMIN_EXIT_OK || ad->a.status == 202) && ad->a.json ? jv_copy(d, ad->a.json) : NULL;
}

static void print_attr(const jv_pair_t *pair)
{
    const char *type = jv_str(jv_get(pair->val, "DataType")), *v = jv_str(jv_get(pair->val, "StringValue"));
    printf("  attribute %.*s (%s): %s\n", (int)pair->klen, pair->key, type ? type : "?", v ? v : "(binary)");
}

static void print_message(const jv_t *m, const jv_t *rec, size_t i)
{
    const jv_t *sys = jv_get(m, "Attributes"), *attrs = jv_get(m, "MessageAttributes");
    const char *rc = jv_str(jv_get(sys, "ApproximateReceiveCount"));
    const char *sent = jv_str(jv_get(sys, "SentTimestamp"));
    char when[32] = "-";
    if (sent)
        clock_iso8601((uint64_t)strtoull(sent, NULL, 10), when);
    printf("message %zu: %s\n  receive count: %s\n  sent: %s\n", i + 1, jv_str(jv_get(m, "MessageId")),
           rc ? rc : "?", when);
    for (size_t k = 0; attrs && attrs->type == JV_OBJECT && k < attrs->len; k++)
        print_attr(&attrs->u.pairs[k]);
    const char *body = jv_str(jv_get(m, "Body")) ? jv_str(jv_get(m, "Body")) : "";
    size_t n = strlen(body);
    while (n && (body[n - 1] == '\n' || body[n - 1] == '\r'))
        n--;
    printf("  body: %.*s\n", (int)n, body);
    if (!rec)
        return;
    const jv_t *err = jv_get(rec, "error") ? jv_get(rec, "error") : jv_get(rec, "lastError");
    char *es = admin_cell(err);
    printf("  request %s: %s\n  error: %s\n", jv_str(jv_get(rec, "requestId")), jv_str(jv_get(rec, "status")),
           es);
    free(es);
}

static int dlq_show(admin_t *ad, const char *queue, const dlq_opts_t *o)
{
    char *url = NULL, *arn = NULL;
    int rc = resolve_queue(ad, queue, &url, &arn);
    jv_doc_t *d = jv_doc_new();
    jv_t *msgs = jv_array(d), *out = jv_array(d);
    if (rc == ADMIN_EXIT_OK)
        rc = peek_messages(ad, url, o->max, d, msgs);
    for (size_t i = 0; rc == ADMIN_EXIT_OK && i < jv_count(msgs); i++) {
        jv_t *m = jv_at(msgs, i);
        const char *id = request_id_of(m, d);
        jv_t *rec = id ? request_record(ad, id, d) : NULL;
        if (ad->json) {
            jv_t *c = jv_copy(d, m);
            jv_push(d, out, c);
            if (rec)
                jv_set(d, c, "Request", rec);
        } else {
            print_message(m, rec, i);
        }
    }
    if (rc == ADMIN_EXIT_OK && ad->json) {
        buf_t b = BUF_INIT;
        jv_write(out, &b);
        printf("%s\n", b.data);
        buf_free(&b);
    } else if (rc == ADMIN_EXIT_OK && !jv_count(msgs)) {
        printf("%s: no messages\n", queue);
    }
    jv_doc_free(d);
    free(url);
    free(arn);
    return rc;
}

/* ---- redrive ----------------------------------------------------------------------------------- */

static int start_task(admin_t *ad, const char *src, const char *dst, long rate)
{
    buf_t b = BUF_INIT;
    buf_puts(&b, "{\"SourceArn\":");
    jv_write_string(&b, src, strlen(src));
    if (dst) {
        buf_puts(&b, ",\"DestinationArn\":");
        jv_write_string(&b, dst, strlen(dst));
    }
    if (rate)
        buf_printf(&b, ",\"MaxNumberOfMessagesPerSecond\":%ld", rate);
    buf_putc(&b, '}');
    int rc = admin_sqs(ad, "StartMessageMoveTask", b.data);
    buf_free(&b);
    return rc;
}

static void sleep_ms(unsigned ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static long long num(const jv_t *v)
{
    return jv_is_int(v) ? (long long)v->i : 0;
}

/* Polls the source's newest task until it ends; prints progress. */
static int follow_task(admin_t *ad, const char *queue, const char *src, long timeout_s)
{
    uint64_t deadline = clock_mono_ms() + (uint64_t)timeout_s * 1000;
    long long last = -1;
    buf_t b = BUF_INIT;
    buf_puts(&b, "{\"MaxResults\":1,\"SourceArn\":");
    jv_write_string(&b, src, strlen(src));
    buf_putc(&b, '}');
    int rc = ADMIN_EXIT_TIMEOUT;
    while (clock_mono_ms() < deadline) {
        if ((rc = admin_sqs(ad, "ListMessageMoveTasks", b.data)) != ADMIN_EXIT_OK)
            break;
        const jv_t *t = jv_at(jv_get(ad->a.json, "Results"), 0);
        const char *st = jv_str(jv_get(t, "Status"));
        long long moved = num(jv_get(t, "ApproximateNumberOfMessagesMoved"));
        long long total = num(jv_get(t, "ApproximateNumberOfMessagesToMove"));
        if (moved != last && !ad->json)
            printf("%s: %s, %lld of %lld moved\n", queue, st ? st : "?", moved, total);
        last = moved;
        if (st && strcmp(st, "RUNNING") != 0) {
            const char *why = jv_str(jv_get(t, "FailureReason"));
            if (ad->json) {
                buf_t o = BUF_INIT;
                jv_write(t, &o);
                printf("%s\n", o.data);
                buf_free(&o);
            }
            rc = strcmp(st, "COMPLETED") == 0 ? ADMIN_EXIT_OK
                                              : admin_fail(ad, ADMIN_EXIT_FAILED, "the move task ended %s%s%s", st,
                                                           why ? ": " : "", why ? why : "");
            break;
        }
        rc = ADMIN_EXIT_TIMEOUT;
        sleep_ms(DLQ_POLL_MS);
    }
    buf_free(&b);
    if (rc == ADMIN_EXIT_TIMEOUT)
        admin_fail(ad, rc, "the move task was still running after %ld s (it goes on; sluice dlq redrive does not "
                   "cancel it)", timeout_s);
    return rc;
}

static int dlq_redrive(admin_t *ad, const char *queue, const dlq_opts_t *o)
{
    char *url = NULL, *arn = NULL, *to_url = NULL, *to_arn = NULL;
    int rc = resolve_queue(ad, queue, &url, &arn);
    if (rc == ADMIN_EXIT_OK && o->to)
        rc = resolve_queue(ad, o->to, &to_url, &to_arn);
    if (rc == ADMIN_EXIT_OK)
        rc = start_task(ad, arn, to_arn, o->rate);
    if (rc == ADMIN_EXIT_OK) {
        const char *h = jv_str(jv_get(ad->a.json, "TaskHandle"));
        if (ad->json && o->no_wait)
            printf("{\"TaskHandle\":\"%s\"}\n", h ? h : "");
        else if (!ad->json)
            printf("%s: move task started to %s (handle %s)\n", queue, o->to ? o->to : "the source queues",
                   h ? h : "?");
        if (!o->no_wait)
            rc = follow_task(ad, queue, arn, o->timeout_s);
    }
    free(url);
    free(arn);
    free(to_url);
    free(to_arn);
    return rc;
}

int admin_dlq(admin_t *ad, int argc, char **argv)
{
    dlq_opts_t o = {.max = DLQ_SHOW_DEFAULT, .timeout_s = DLQ_DEFAULT_TIMEOUT_S};
    int first;
    int rc = admin_getopt(ad, argc, argv, DLQ_OPTS, dlq_opt, &o, DLQ_USAGE, &first);
    if (rc != 0)
        return rc == 1 ? ADMIN_EXIT_OK : ADMIN_EXIT_USAGE;
    const char *verb = first < argc ? argv[first] : "";
    int show = !strcmp(verb, "show"), redrive = !strcmp(verb, "redrive");
    if (!show && !redrive)
        return admin_fail(ad, ADMIN_EXIT_USAGE, "give show or redrive (see sluice dlq --help)");
    ad->cmd = show ? "dlq show" : "dlq redrive";
    if (argc - first != 2)
        return admin_fail(ad, ADMIN_EXIT_USAGE, "give one queue name (see sluice dlq --help)");
    if (show && (o.to || o.rate || o.no_wait))
        return admin_fail(ad, ADMIN_EXIT_USAGE, "--to, --rate and --no-wait are redrive's options");
    return show ? dlq_show(ad, argv[first + 1], &o) : dlq_redrive(ad, argv[first + 1], &o);
}
