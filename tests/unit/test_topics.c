/*
 * test_topics — the SNS engine: fan-out through filters, FIFO sequencing
 * and deduplication, the endpoint outbox with the delivery policy's retry
 * phases, dead-lettering, a full queue refusing a Publish, and durability through the real store (log replay
 * and snapshot give back topics, subscriptions, dedup entries and owed
 * deliveries; a publish is one atomic group).
 *
 * Endpoint deliveries go to a fake deliverer that records each attempt; the
 * test answers them with topics_delivery_result. Time is the queues
 * fixture's fake clock, shared by both engines.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "loop_fixture.h"
#include "queues_fixture.h"
#include "store/store.h"
#include "topics/topics.h"

#define WAIT_MS 5000
#define TT_ARN(name) "arn:aws:sns:" QT_REGION ":" QT_ACCOUNT ":" name

/* ---- a fake deliverer ---- */

typedef struct attempt {
    uint64_t id;
    int n;
    uint64_t at;
    char kind[32];
    char body[4096];
} attempt_t;

static attempt_t attempts[64];
static int nattempts;

static void fake_deliver(void *arg, const delivery_t *d)
{
    (void)arg;
    if (nattempts == 64)
        return;
    attempt_t *a = &attempts[nattempts++];
    a->id = d->id;
    a->n = d->attempt;
    a->at = qt_clock();
    snprintf(a->kind, sizeof a->kind, "%s", d->kind);
    snprintf(a->body, sizeof a->body, "%.*s", (int)d->body_len, d->body);
}

typedef struct eng {
    queues_t *qs;
    topics_t *tp;
} eng_t;

/* An engine pair whose queues hold at most queue_bytes each (0: the default). */
static void eng_open_bounded(eng_t *e, store_t *st, uint64_t queue_bytes)
{
    queues_config_t qc = {.region = QT_REGION, .account = QT_ACCOUNT, .max_queue_bytes = queue_bytes};
    e->qs = queues_new(&qc, st);
    queues_set_clock(e->qs, qt_clock);
    topics_config_t cfg = {.region = QT_REGION, .account = QT_ACCOUNT, .base_url = "http://127.0.0.1:4566"};
    e->tp = topics_new(&cfg, st, e->qs);
    topics_set_clock(e->tp, qt_clock);
    topics_set_deliverer(e->tp, "http", fake_deliver, NULL);
    nattempts = 0;
}

static void eng_open(eng_t *e, store_t *st)
{
    eng_open_bounded(e, st, 0);
}

static void eng_close(eng_t *e)
{
    topics_free(e->tp);
    queues_free(e->qs);
}

static topic_t *mk_topic(eng_t *e, const char *name, const kv_t *attrs, size_t n)
{
    topic_t *t = NULL;
    err_t err;
    if (topics_create(e->tp, name, attrs, n, NULL, 0, &t, &err) != ST_OK)
        fprintf(stderr, "create %s: %s\n", name, err.msg);
    return t;
}

static queue_t *mk_queue(eng_t *e, const char *name)
{
    queue_t *q = NULL;
    err_t err;
    kv_t fifo[] = {{"FifoQueue", "true"}};
    size_t n = strlen(name) > 5 && !strcmp(name + strlen(name) - 5, ".fifo");
    queues_create(e->qs, name, fifo, n, NULL, 0, &q, &err);
    return q;
}

static int count(queue_t *q)
{
    queues_stats_t s;
    (void)s;
    kvv_t out = {0};
    err_t err;
    const char *names[] = {"ApproximateNumberOfMessages"};
    queue_get_attributes(q, names, 1, &out, &err);
    int n = out.n ? atoi(out.v[0].val) : -1;
    kvv_free(&out);
    return n;
}

static status_t pub(topic_t *t, const char *msg, const char *op, publish_res_t *res)
{
    pub_attr_t a = {"operation", "String", op, op ? strlen(op) : 0, 0};
    publish_req_t r = {.message = msg, .message_len = strlen(msg), .attrs = &a, .nattrs = op ? 1 : 0};
    publish_res_t tmp;
    err_t err;
    return topic_publish(t, &r, res ? res : &tmp, &err);
}

/* ---- fan-out ---- */

/* topics_find: by name, the same topic its ARN finds; other names none. */
TEST(find_by_name_matches_find_by_arn)
{
    eng_t e;
    eng_open(&e, NULL);
    topic_t *t = mk_topic(&e, "requests", NULL, 0);
    CHECK(topics_find(e.tp, "requests") == t);
    CHECK(topics_find(e.tp, "requests") == topics_find_arn(e.tp, TT_ARN("requests")));
    CHECK(topics_find(e.tp, "request") == NULL);
    CHECK(topics_find(e.tp, "") == NULL);
    char longname[500];
    memset(longname, 'a', sizeof longname - 1);
    longname[sizeof longname - 1] = '\0';
    CHECK(topics_find(e.tp, longname) == NULL);
    eng_close(&e);
}

TEST(filtered_fan_out_reaches_only_matching_queues)
{
    eng_t e;
    eng_open(&e, NULL);
    topic_t *t = mk_topic(&e, "requests", NULL, 0);
    queue_t *div = mk_queue(&e, "division"), *mul = mk_queue(&e, "multiplication"), *all = mk_queue(&e, "all");
    char arn[SUB_ARN_MAX];
    err_t err;
    CHECK_ST(topic_subscribe(t, "sqs", QT_ARN("division"), KV({"FilterPolicy", "{\"operation\":[\"division\"]}"}), 1,
                             arn, &err),
             ST_OK);
    CHECK_ST(topic_subscribe(t, "sqs", QT_ARN("multiplication"),
                             KV({"FilterPolicy", "{\"operation\":[\"multiplication\"]}"}), 1, arn, &err),
             ST_OK);
    CHECK_ST(topic_subscribe(t, "sqs", QT_ARN("all"), NULL, 0, 1, arn, &err), ST_OK);
    for (int i = 0; i < 10; i++)
        CHECK_ST(pub(t, "{}", i % 2 ? "division" : "multiplication", NULL), ST_OK);
    CHECK_ST(pub(t, "{}", NULL, NULL), ST_OK);
    CHECK_INT(count(div), 5);
    CHECK_INT(count(mul), 5);
    CHECK_INT(count(all), 11);
    eng_close(&e);
}

TEST(fifo_topic_sequences_and_deduplicates)
{
    eng_t e;
    eng_open(&e, NULL);
    topic_t *t = mk_topic(&e, "t.fifo", KV({"FifoTopic", "true"}, {"ContentBasedDeduplication", "true"}));
    CHECK(t != NULL);
    queue_t *q = mk_queue(&e, "q.fifo");
    char arn[SUB_ARN_MAX];
    err_t err;
    CHECK_ST(topic_subscribe(t, "sqs", QT_ARN("q.fifo"), NULL, 0, 1, arn, &err), ST_OK);
    publish_req_t r = {.message = "hello", .message_len = 5, .group_id = "g"};
    publish_res_t a, b, c;
    CHECK_ST(topic_publish(t, &r, &a, &err), ST_OK);
    CHECK_ST(topic_publish(t, &r, &b, &err), ST_OK);
    CHECK_STR(a.message_id, b.message_id);
    CHECK_STR(a.seq, b.seq);
    CHECK_INT(count(q), 1);
    qt_now_ms += 5 * 60 * 1000 + 1; /* the window has passed */
    topics_tick(e.tp);
    CHECK_ST(topic_publish(t, &r, &c, &err), ST_OK);
    CHECK(strcmp(a.message_id, c.message_id) != 0);
    CHECK(strcmp(c.seq, a.seq) > 0);
    CHECK_INT(count(q), 2);
    eng_close(&e);
}

/* A subscription to a queue that does not exist, with "dlq" as its dead-letter queue. */
static status_t sub_missing_queue(topic_t *t)
{
    char arn[SUB_ARN_MAX];
    err_t err;
    return topic_subscribe(t, "sqs", QT_ARN("missing"),
                           KV({"RedrivePolicy", "{\"deadLetterTargetArn\":\"" QT_ARN("dlq") "\"}"}), 1, arn, &err);
}

TEST(queue_refusal_goes_to_subscription_dlq)
{
    eng_t e;
    eng_open(&e, NULL);
    topic_t *t = mk_topic(&e, "t", NULL, 0);
    queue_t *dlq = mk_queue(&e, "dlq");
    CHECK_ST(sub_missing_queue(t), ST_OK);
    CHECK_ST(pub(t, "lost?", NULL, NULL), ST_OK);
    CHECK_INT(count(dlq), 1);
    topics_stats_t s;
    topics_get_stats(e.tp, &s);
    CHECK_INT(s.dead_lettered, 1);
    eng_close(&e);
}

/* ---- endpoint deliveries ---- */

static char last_token[300]; /* the confirmation token http_sub used */

static sub_t *http_sub(eng_t *e, topic_t *t, const char *policy, const char *dlq)
{
    char arn[SUB_ARN_MAX], redrive[256];
    err_t err;
    kv_t kv[2];
    size_t n = 0;
    if (policy)
        kv[n++] = (kv_t){"DeliveryPolicy", policy};
    if (dlq) {
        snprintf(redrive, sizeof redrive, "{\"deadLetterTargetArn\":\"%s\"}", dlq);
        kv[n++] = (kv_t){"RedrivePolicy", redrive};
    }
    if (topic_subscribe(t, "http", "http://127.0.0.1:9/hook", kv, n, 1, arn, &err) != ST_OK) {
        fprintf(stderr, "subscribe: %s\n", err.msg);
        return NULL;
    }
    topics_tick(e->tp); /* sends the confirmation request */
    if (nattempts != 1 || strcmp(attempts[0].kind, "SubscriptionConfirmation") != 0)
        return NULL;
    const char *tok = strstr(attempts[0].body, "\"Token\" : \"");
    if (!tok || sscanf(tok + 11, "%288[0-9a-f]", last_token) != 1)
        return NULL;
    topics_delivery_result(e->tp, attempts[0].id, 1, 0, NULL);
    nattempts = 0;
    if (topics_confirm(e->tp, last_token, 0, arn, &err) != ST_OK)
        return NULL;
    return topics_find_sub(e->tp, arn);
}

TEST(http_subscription_confirms_then_receives)
{
    eng_t e;
    eng_open(&e, NULL);
    topic_t *t = mk_topic(&e, "t", NULL, 0);
    char arn[SUB_ARN_MAX];
    err_t err;
    CHECK_ST(topic_subscribe(t, "http", "http://127.0.0.1:9/hook", NULL, 0, 0, arn, &err), ST_OK);
    CHECK_STR(arn, "pending confirmation");
    CHECK_ST(pub(t, "before confirmation", NULL, NULL), ST_OK);
    topics_tick(e.tp);
    CHECK_INT(nattempts, 1); /* only the confirmation request */
    CHECK_STR(attempts[0].kind, "SubscriptionConfirmation");
    CHECK(strstr(attempts[0].body, "\"SubscribeURL\" : \"http://127.0.0.1:4566/?Action=ConfirmSubscription&TopicArn="
                                   TT_ARN("t") "&Token=") != NULL);
    CHECK_ERR(topics_confirm(e.tp, "randomtoken", 0, arn, ERR), ST_INVALID_PARAMETER, "Invalid token");
    eng_close(&e);
    eng_open(&e, NULL);
    t = mk_topic(&e, "t", NULL, 0);
    sub_t *s = http_sub(&e, t, NULL, NULL);
    CHECK(s != NULL);
    CHECK_ST(pub(t, "after", NULL, NULL), ST_OK);
    topics_tick(e.tp);
    CHECK_INT(nattempts, 1);
    CHECK_STR(attempts[0].kind, "Notification");
    CHECK(strstr(attempts[0].body, "\"Message\" : \"after\"") != NULL);
    eng_close(&e);
}

/* A confirmation may arrive unsigned (the token is the proof): once one asked
 * for AuthenticateOnUnsubscribe, a later one must not take it back, or an
 * unsigned Unsubscribe would succeed again. */
TEST(authenticate_on_unsubscribe_is_one_way)
{
    eng_t e;
    eng_open(&e, NULL);
    topic_t *t = mk_topic(&e, "t", NULL, 0);
    sub_t *s = http_sub(&e, t, NULL, NULL);
    char arn[SUB_ARN_MAX];
    err_t err;
    CHECK(s != NULL);
    CHECK_INT(sub_auth_unsubscribe(s), 0);
    CHECK_ST(topics_confirm(e.tp, last_token, 1, arn, &err), ST_OK);
    CHECK_INT(sub_auth_unsubscribe(s), 1);
    CHECK_ST(topics_confirm(e.tp, last_token, 0, arn, &err), ST_OK);
    CHECK_INT(sub_auth_unsubscribe(s), 1);
    eng_close(&e);
}

/* A failure at each attempt; returns the delays (ms) between attempts. */
static int run_schedule(eng_t *e, int *delays, int max, int dlq_count_want, queue_t *dlq)
{
    int n = 0;
    uint64_t last = qt_clock();
    for (int guard = 0; guard < 200 && n < max; guard++) {
        int before = nattempts;
        uint64_t next = topics_tick(e->tp);
        if (nattempts > before) {
            attempt_t *a = &attempts[nattempts - 1];
            delays[n++] = (int)(a->at - last);
            last = a->at;
            topics_delivery_result(e->tp, a->id, 0, 0, "HTTP 500");
            continue;
        }
        if (!next)
            break;
        qt_now_ms = next > qt_now_ms ? next : qt_now_ms;
    }
    return dlq && count(dlq) != dlq_count_want ? -1 : n;
}

TEST(retry_phases_follow_the_delivery_policy)
{
    eng_t e;
    eng_open(&e, NULL);
    topic_t *t = mk_topic(&e, "t", NULL, 0);
    queue_t *dlq = mk_queue(&e, "dlq");
    /* 1 immediate, 1 at min, 2 backoff from 2 s to 10 s, 1 at max: 5 retries */
    sub_t *s = http_sub(&e, t,
                        "{\"healthyRetryPolicy\":{\"minDelayTarget\":2,\"maxDelayTarget\":10,\"numRetries\":5,"
                        "\"numNoDelayRetries\":1,\"numMinDelayRetries\":1,\"numMaxDelayRetries\":1,"
                        "\"backoffFunction\":\"linear\"}}",
                        QT_ARN("dlq"));
    CHECK(s != NULL);
    CHECK_ST(pub(t, "m", NULL, NULL), ST_OK);
    int d[16];
    int n = run_schedule(&e, d, 16, 1, dlq);
    CHECK_INT(n, 6); /* the first attempt and five retries, then the DLQ */
    CHECK_INT(d[0], 0);
    CHECK_INT(d[1], 0);
    CHECK_INT(d[2], 2000);
    CHECK_INT(d[3], 6000);
    CHECK_INT(d[4], 10000);
    CHECK_INT(d[5], 10000);
    eng_close(&e);
}

/* Publishes msg to t (one confirmed http subscription) and answers its one
 * attempt with a 403, a permanent failure. Returns 1, or 0 when the
 * publish failed or made other than one attempt. */
static int publish_refused_by_endpoint(eng_t *e, topic_t *t, const char *msg)
{
    nattempts = 0;
    if (pub(t, msg, NULL, NULL) != ST_OK)
        return 0;
    topics_tick(e->tp);
    if (nattempts != 1)
        return 0;
    topics_delivery_result(e->tp, attempts[0].id, 0, 1, "HTTP 403");
    return 1;
}

TEST(client_error_is_permanent_and_dead_letters_at_once)
{
    eng_t e;
    eng_open(&e, NULL);
    topic_t *t = mk_topic(&e, "t", NULL, 0);
    queue_t *dlq = mk_queue(&e, "dlq");
    CHECK(http_sub(&e, t, NULL, QT_ARN("dlq")) != NULL);
    CHECK_INT(publish_refused_by_endpoint(&e, t, "m"), 1);
    CHECK_INT(count(dlq), 1);
    CHECK_INT(topics_tick(e.tp), 0);
    eng_close(&e);
}

/* A Publish is admitted only when every queue it goes to has room for the
 * message (queue_check_room): a full queue refuses it whole, before any
 * subscription is served or any delivery owed, with REQUEST_THROTTLED. */
TEST(publish_into_a_full_queue_is_refused_whole)
{
    eng_t e;
    eng_open_bounded(&e, NULL, 2 * 513); /* two 1-byte messages a queue */
    topic_t *t = mk_topic(&e, "t", NULL, 0);
    queue_t *full = mk_queue(&e, "full"), *other = mk_queue(&e, "other");
    char arn[SUB_ARN_MAX];
    err_t err;
    CHECK_ST(topic_subscribe(t, "sqs", QT_ARN("other"), KV({"RawMessageDelivery", "true"}), 1, arn, &err), ST_OK);
    CHECK_ST(topic_subscribe(t, "sqs", QT_ARN("full"), KV({"RawMessageDelivery", "true"}), 1, arn, &err), ST_OK);
    CHECK(http_sub(&e, t, NULL, NULL) != NULL);
    CHECK_ST(qt_send(full, "x", NULL, NULL, NULL), ST_OK);
    CHECK_ST(pub(t, "m", NULL, NULL), ST_OK); /* fits: 2 x 513 */
    CHECK_INT(count(full), 2);
    CHECK_INT(count(other), 1);
    topics_tick(e.tp);
    CHECK_INT(nattempts, 1); /* the endpoint's delivery */
    publish_req_t r = {.message = "m", .message_len = 1};
    publish_res_t res;
    CHECK_ST(topic_publish(t, &r, &res, &err), ST_REQUEST_THROTTLED);
    CHECK(strstr(err.msg, "Queue full of subscription " TT_ARN("t") ":") == err.msg);
    CHECK(strstr(err.msg, "cannot take the message: The maximum size of the messages held per queue (1026 bytes: "
                          "limits.queue_bytes) has been reached for this queue.") != NULL);
    CHECK_INT(count(other), 1); /* nobody was served, nothing owed */
    topics_tick(e.tp);
    CHECK_INT(nattempts, 1);
    topics_stats_t s;
    topics_get_stats(e.tp, &s);
    CHECK_INT(s.published, 1);
    /* a receive and delete make room: the next Publish reaches both */
    recv_res_t rr;
    CHECK_INT(qt_recv(full, 1, 30, &rr), 1);
    CHECK_ST(queue_delete_message(full, rr.receipts[0], &err), ST_OK);
    CHECK_ST(topic_publish(t, &r, &res, &err), ST_OK);
    CHECK_INT(count(full), 2);
    CHECK_INT(count(other), 2);
    topics_tick(e.tp);
    CHECK_INT(nattempts, 2);
    eng_close(&e);
}

/* Dead letters and the bound: one a queue refused in a Publish is a new
 * message, dropped (and counted) when the DLQ is full, like one whose DLQ
 * is missing; one from the outbox was accepted and is held, so the DLQ
 * takes it past its bound. */
TEST(dead_letters_and_a_full_dlq)
{
    eng_t e;
    eng_open_bounded(&e, NULL, 600);
    topic_t *t = mk_topic(&e, "t", NULL, 0);
    queue_t *dlq = mk_queue(&e, "dlq");
    CHECK_ST(sub_missing_queue(t), ST_OK);
    CHECK_ST(qt_send(dlq, "x", NULL, NULL, NULL), ST_OK); /* 513 of 600: no room for an envelope */
    CHECK_ST(pub(t, "lost", NULL, NULL), ST_OK);
    topics_stats_t s;
    topics_get_stats(e.tp, &s);
    CHECK_INT(s.dropped, 1);
    CHECK_INT(count(dlq), 1);
    topic_t *h = mk_topic(&e, "h", NULL, 0);
    CHECK(http_sub(&e, h, NULL, QT_ARN("dlq")) != NULL);
    CHECK_INT(publish_refused_by_endpoint(&e, h, "kept"), 1);
    CHECK_INT(count(dlq), 2);
    CHECK(queue_bytes(dlq) > 600);
    topics_get_stats(e.tp, &s);
    CHECK_INT(s.dropped, 1);
    CHECK_INT(s.dead_lettered, 1);
    eng_close(&e);
}

TEST(delivery_policy_validation)
{
    eng_t e;
    eng_open(&e, NULL);
    topic_t *t = mk_topic(&e, "t", NULL, 0);
    char arn[SUB_ARN_MAX];
    CHECK_ERR(topic_subscribe(t, "http", "http://127.0.0.1:9/x",
                              KV({"DeliveryPolicy", "{\"healthyRetryPolicy\":{\"minDelayTarget\":0,"
                                                    "\"maxDelayTarget\":5,\"numRetries\":1}}"}),
                              1, arn, ERR),
              ST_INVALID_PARAMETER,
              "Invalid parameter: Attributes Reason: DeliveryPolicy: healthyRetryPolicy.minDelayTarget must be "
              "greater than or equal to 1");
    CHECK_ERR(topic_subscribe(t, "http", "ftp://x", NULL, 0, 1, arn, ERR), ST_INVALID_PARAMETER,
              "Invalid parameter: Endpoint must match the specified protocol");
    eng_close(&e);
}

/* ---- durability ---- */

typedef struct rig {
    loop_t *loop;
    store_t *st;
    eng_t e;
    uint64_t durable;
    char why[512];
} rig_t;

static void rig_durable(void *arg, uint64_t lsn, int failed)
{
    rig_t *r = arg;
    if (!failed)
        r->durable = lsn;
}

static int rig_apply(void *arg, uint8_t type, const void *p, size_t len)
{
    rig_t *r = arg;
    if (type >= TOPICS_REC_MIN && type <= TOPICS_REC_MAX)
        return topics_apply(r->e.tp, type, p, len);
    return queues_apply(r->e.qs, type, p, len);
}

static int rig_dump(void *arg, store_snap_t *snap)
{
    rig_t *r = arg;
    return queues_dump(r->e.qs, snap) != 0 ? -1 : topics_dump(r->e.tp, snap);
}

static int rig_open(rig_t *r)
{
    store_config_t cfg = {.dir = "db", .fsync = FSYNC_OFF, .fsync_interval_ms = 1000, .segment_bytes = 64u << 20,
                          .compact_bytes = 256u << 20};
    memset(r, 0, sizeof *r);
    r->loop = loop_new();
    if (store_open(&cfg, r->loop, &r->st, r->why, sizeof r->why) < 0)
        return 1;
    eng_open(&r->e, r->st);
    if (store_recover(r->st, rig_apply, r, r->why, sizeof r->why) < 0)
        return 2;
    return store_start(r->st, rig_durable, r, r->why, sizeof r->why) < 0 ? 3 : 0;
}

static int rig_synced(void *arg)
{
    rig_t *r = arg;
    return r->durable == store_last_lsn(r->st);
}

static int rig_ckpt_done(void *arg)
{
    rig_t *r = arg;
    return !store_checkpoint_running(r->st);
}

static void rig_close(rig_t *r)
{
    run_until(r->loop, rig_synced, r, WAIT_MS);
    store_close(r->st);
    eng_close(&r->e);
    loop_free(r->loop);
}

static void build_state(rig_t *r)
{
    err_t err;
    char arn[SUB_ARN_MAX];
    topic_t *t = mk_topic(&r->e, "t", NULL, 0), *f = mk_topic(&r->e, "f.fifo", KV({"FifoTopic", "true"}));
    mk_queue(&r->e, "a");
    mk_queue(&r->e, "b");
    mk_queue(&r->e, "f.fifo");
    topic_subscribe(t, "sqs", QT_ARN("a"), KV({"FilterPolicy", "{\"operation\":[\"x\"]}"}), 1, arn, &err);
    topic_subscribe(t, "sqs", QT_ARN("b"), NULL, 0, 1, arn, &err);
    topic_subscribe(f, "sqs", QT_ARN("f.fifo"), NULL, 0, 1, arn, &err);
    topic_subscribe(t, "http", "http://127.0.0.1:9/h", NULL, 0, 1, arn, &err); /* owes a confirmation */
    pub(t, "one", "x", NULL);
    pub(t, "two", "y", NULL);
    publish_req_t fr = {.message = "fifo", .message_len = 4, .group_id = "g", .dedup_id = "d1"};
    publish_res_t res;
    topic_publish(f, &fr, &res, &err);
}

static void check_state(rig_t *r, const char *seq)
{
    topic_t *t = topics_find_arn(r->e.tp, TT_ARN("t")), *f = topics_find_arn(r->e.tp, TT_ARN("f.fifo"));
    if (!t || !f) {
        harness_fail(__FILE__, __LINE__, "topics missing after recovery");
        return;
    }
    if (count(queues_find(r->e.qs, "a")) != 1 || count(queues_find(r->e.qs, "b")) != 2) {
        harness_fail(__FILE__, __LINE__, "queue contents differ after recovery");
        return;
    }
    topics_stats_t s;
    topics_get_stats(r->e.tp, &s);
    if (s.subs != 4 || s.outbox != 1) {
        harness_fail(__FILE__, __LINE__, "subs=%llu outbox=%llu after recovery", (unsigned long long)s.subs,
                     (unsigned long long)s.outbox);
        return;
    }
    /* the dedup entry survived: the same id answers with the first publish's number */
    publish_req_t fr = {.message = "fifo", .message_len = 4, .group_id = "g", .dedup_id = "d1"};
    publish_res_t res;
    err_t err;
    topic_publish(f, &fr, &res, &err);
    if (strcmp(res.seq, seq) != 0)
        harness_fail(__FILE__, __LINE__, "dedup seq %s, want %s", res.seq, seq);
    /* the filter was rebuilt */
    pub(t, "three", "y", NULL);
    if (count(queues_find(r->e.qs, "a")) != 1 || count(queues_find(r->e.qs, "b")) != 3)
        harness_fail(__FILE__, __LINE__, "filter lost in recovery");
}

TEST(state_survives_log_replay_and_snapshot)
{
    rig_t r;
    CHECK_INT(rig_open(&r), 0);
    build_state(&r);
    publish_req_t fr = {.message = "fifo", .message_len = 4, .group_id = "g", .dedup_id = "d1"};
    publish_res_t res;
    err_t err;
    CHECK_ST(topic_publish(topics_find_arn(r.e.tp, TT_ARN("f.fifo")), &fr, &res, &err), ST_OK);
    rig_close(&r);
    CHECK_INT(rig_open(&r), 0); /* from the log */
    check_state(&r, res.seq);
    if (harness_failed)
        return;
    CHECK_INT(store_checkpoint(r.st, rig_dump, &r), 0);
    CHECK(run_until(r.loop, rig_ckpt_done, &r, WAIT_MS));
    rig_close(&r);
    CHECK_INT(rig_open(&r), 0); /* from the snapshot (and the log after it) */
    topics_stats_t s;
    topics_get_stats(r.e.tp, &s);
    CHECK_INT(s.subs, 4);
    CHECK_INT(s.outbox, 1);
    CHECK_INT(count(queues_find(r.e.qs, "b")), 3);
    rig_close(&r);
}
