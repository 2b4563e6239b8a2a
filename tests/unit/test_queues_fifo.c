/*
 * test_queues_fifo — FIFO queues (send rules, group ordering and blocking,
 * receipt expiry, deduplication, ReceiveRequestAttemptId), dead-letter
 * moves and their hooks, and message move tasks. Same fake-clock engine as
 * test_queues.c.
 */
#include "queues_fixture.h"
#include "util/buf.h"
#include "util/text.h"

static queue_t *fifo(queues_t *qs, const char *name, const kv_t *extra, size_t n)
{
    kv_t attrs[8] = {{"FifoQueue", "true"}};
    for (size_t i = 0; i < n && i < 7; i++)
        attrs[i + 1] = extra[i];
    return qt_create(qs, name, attrs, n + 1);
}

/* Sends body into group g with dedup id body (unique bodies: unique ids). */
static status_t fsend(queue_t *q, const char *g, const char *body)
{
    return qt_send(q, body, g, body, NULL);
}

/* ==== send rules ==== */

TEST(fifo_send_rules)
{
    queues_t *qs = qt_engine();
    queue_t *q = fifo(qs, "f.fifo", KV({"DelaySeconds", "2"}));
    send_req_t r = qt_req("m");
    r.group_id = "g";
    r.dedup_id = "d";
    r.delay_given = 1;
    r.delay = 2;
    CHECK_ERR(qt_send_req(q, &r, NULL, ERR), ST_INVALID_PARAMETER_VALUE,
              "Value 2 for parameter DelaySeconds is invalid. Reason: The request include parameter that is not "
              "valid for this queue type.");
    r.group_id = NULL;
    r.delay_given = 0;
    CHECK_ERR(qt_send_req(q, &r, NULL, ERR), ST_MISSING_PARAMETER,
              "The request must contain the parameter MessageGroupId.");
    r.group_id = "g";
    r.dedup_id = NULL;
    CHECK_ERR(qt_send_req(q, &r, NULL, ERR), ST_INVALID_PARAMETER_VALUE,
              "The queue should either have ContentBasedDeduplication enabled or MessageDeduplicationId provided "
              "explicitly");
    char d129[130], d128[129];
    memset(d129, 'd', 129), d129[129] = '\0';
    memset(d128, 'd', 128), d128[128] = '\0';
    const char *const bad[] = {"", "dedup id", d129};
    for (int i = 0; i < 3; i++) {
        char want[512];
        snprintf(want, sizeof want,
                 "Value %s for parameter MessageDeduplicationId is invalid. Reason: MessageDeduplicationId can only "
                 "include alphanumeric and punctuation characters. 1 to 128 in length.",
                 bad[i]);
        r.dedup_id = bad[i];
        CHECK_ERR(qt_send_req(q, &r, NULL, ERR), ST_INVALID_PARAMETER_VALUE, want);
    }
    CHECK_STR(qt_counts(q), "0/0/0");
    /* DelaySeconds=0 is allowed; the queue's delay still applies */
    send_res_t a, b;
    r.dedup_id = d128;
    r.delay_given = 1;
    r.delay = 0;
    CHECK_ST(qt_send_req(q, &r, &a, NULL), ST_OK);
    CHECK_STR(qt_counts(q), "0/0/1");
    r.dedup_id = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~";
    CHECK_ST(qt_send_req(q, &r, &b, NULL), ST_OK);
    /* SequenceNumbers: 20 digits, increasing */
    CHECK(a.seq >= 10000000000000000000ull);
    CHECK(b.seq > a.seq);
    qt_advance(qs, 2000);
    CHECK_STR(qt_counts(q), "2/0/0");
    queues_free(qs);
}

/* ==== groups ==== */

TEST(fifo_group_order_and_blocking)
{
    queues_t *qs = qt_engine();
    queue_t *q = fifo(qs, "f.fifo", NULL, 0);
    recv_res_t rr;
    err_t err;
    char h1[RECEIPT_MAX], h2[RECEIPT_MAX];
    CHECK_ST(fsend(q, "g1", "a1"), ST_OK);
    CHECK_ST(fsend(q, "g2", "b1"), ST_OK);
    CHECK_ST(fsend(q, "g1", "a2"), ST_OK);
    CHECK_ST(fsend(q, "g3", "c1"), ST_OK);
    CHECK_ST(fsend(q, "g1", "a3"), ST_OK);
    CHECK_ST(fsend(q, "g2", "b2"), ST_OK);
    /* as many of one group as possible, in order, before the next group */
    CHECK_INT(qt_recv(q, 2, 30, &rr), 2);
    CHECK_STR(qt_bodies(&rr), "a1,a2");
    snprintf(h1, sizeof h1, "%s", rr.receipts[0]);
    snprintf(h2, sizeof h2, "%s", rr.receipts[1]);
    CHECK_INT(qt_recv(q, 10, 30, &rr), 3);
    CHECK_STR(qt_bodies(&rr), "b1,b2,c1");
    /* a3 waits behind a1 and a2; so does a message sent now */
    CHECK_ST(fsend(q, "g1", "a4"), ST_OK);
    CHECK_INT(qt_recv(q, 10, 30, &rr), 0);
    CHECK_STR(qt_counts(q), "2/5/0"); /* blocked messages count as visible */
    CHECK_ST(queue_delete_message(q, h1, &err), ST_OK);
    CHECK_INT(qt_recv(q, 10, 30, &rr), 0); /* a partial delete keeps it blocked */
    CHECK_ST(queue_delete_message(q, h2, &err), ST_OK);
    CHECK_INT(qt_recv(q, 10, 30, &rr), 2);
    CHECK_STR(qt_bodies(&rr), "a3,a4");
    CHECK_STR(qt_counts(q), "0/5/0");
    queues_free(qs);
}

TEST(fifo_counts_with_blocked_groups)
{
    queues_t *qs = qt_engine();
    queue_t *q = fifo(qs, "f.fifo", NULL, 0);
    recv_res_t rr;
    for (int g = 1; g <= 3; g++) {
        char gid[16], b1[24], b2[24];
        snprintf(gid, sizeof gid, "g%d", g);
        snprintf(b1, sizeof b1, "m%d-1", g);
        snprintf(b2, sizeof b2, "m%d-2", g);
        CHECK_ST(fsend(q, gid, b1), ST_OK);
        CHECK_ST(fsend(q, gid, b2), ST_OK);
    }
    CHECK_INT(qt_recv(q, 1, 5, &rr), 1);
    CHECK_STR(qt_bodies(&rr), "m1-1");
    CHECK_INT(qt_recv(q, 1, 5, &rr), 1);
    CHECK_STR(qt_bodies(&rr), "m2-1");
    CHECK_STR(qt_counts(q), "4/2/0");
    qt_advance(qs, 5000);
    CHECK_STR(qt_counts(q), "6/0/0");
    queues_free(qs);
}

/* AWS test_fifo_group_visibility_extends_with_change_message_visibility:
 * three messages in one group, all received; one of them extended; once the
 * others are visible again, only the ones before the extended one come. */
TEST(fifo_group_head_rule_with_extended_visibility)
{
    static const struct {
        int extend; /* index, -1 none, 3 all */
        const char *want;
    } cases[] = {{0, ""}, {1, "foo"}, {2, "foo,bar"}, {-1, "foo,bar,baz"}, {3, ""}};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        queues_t *qs = qt_engine();
        queue_t *q = fifo(qs, "f.fifo", KV({"VisibilityTimeout", "1"}));
        recv_res_t rr;
        err_t err;
        char h[3][RECEIPT_MAX];
        CHECK_ST(fsend(q, "g", "foo"), ST_OK);
        CHECK_ST(fsend(q, "g", "bar"), ST_OK);
        CHECK_ST(fsend(q, "g", "baz"), ST_OK);
        CHECK_INT(qt_recv(q, 10, -1, &rr), 3);
        for (int i = 0; i < 3; i++)
            snprintf(h[i], sizeof h[i], "%s", rr.receipts[i]);
        for (int i = 0; i < 3; i++)
            if (cases[c].extend == i || cases[c].extend == 3)
                CHECK_ST(queue_change_visibility(q, h[i], 4, &err), ST_OK);
        qt_advance(qs, 2500);
        int n = qt_recv(q, 10, -1, &rr);
        if (strcmp(qt_bodies(&rr), cases[c].want) != 0)
            harness_fail(__FILE__, __LINE__, "extend %d: got \"%s\" (%d), want \"%s\"", cases[c].extend,
                         qt_bodies(&rr), n, cases[c].want);
        queues_free(qs);
        if (harness_failed)
            return;
    }
}

typedef struct fpoller {
    queue_waiter_t w;
    int woken;
    char body[32];
} fpoller_t;

static void fpoller_wake(queue_waiter_t *w)
{
    fpoller_t *p = (fpoller_t *)w;
    recv_res_t rr;
    p->woken++;
    if (!w->q_gone && qt_recv(w->q, 1, 30, &rr) == 1)
        snprintf(p->body, sizeof p->body, "%s", rr.msgs[0]->body);
}

TEST(fifo_blocked_group_wakes_no_waiter)
{
    queues_t *qs = qt_engine();
    queue_t *q = fifo(qs, "f.fifo", NULL, 0);
    recv_res_t rr;
    err_t err;
    fpoller_t p = {.w.wake = fpoller_wake};
    list_init(&p.w.link);
    CHECK_ST(fsend(q, "g1", "a"), ST_OK);
    CHECK_INT(qt_recv(q, 1, 30, &rr), 1);
    queue_wait(q, &p.w);
    CHECK_ST(fsend(q, "g1", "b"), ST_OK); /* behind "a", in flight */
    CHECK_INT(p.woken, 0);
    CHECK_ST(queue_delete_message(q, rr.receipts[0], &err), ST_OK); /* the group opens */
    CHECK_INT(p.woken, 1);
    CHECK_STR(p.body, "b");
    queue_wait(q, &p.w);
    CHECK_ST(fsend(q, "g1", "c"), ST_OK);
    CHECK_INT(p.woken, 1);
    CHECK_ST(fsend(q, "g2", "d"), ST_OK); /* another group is free */
    CHECK_INT(p.woken, 2);
    CHECK_STR(p.body, "d");
    queues_free(qs);
}

TEST(fifo_order_kept_across_redelivery)
{
    queues_t *qs = qt_engine();
    queue_t *q = fifo(qs, "f.fifo", NULL, 0);
    recv_res_t rr;
    err_t err;
    CHECK_ST(fsend(q, "g", "m1"), ST_OK);
    CHECK_ST(fsend(q, "g", "m2"), ST_OK);
    CHECK_ST(fsend(q, "g", "m3"), ST_OK);
    CHECK_INT(qt_recv(q, 1, 5, &rr), 1);
    CHECK_STR(qt_bodies(&rr), "m1");
    CHECK_INT(qt_recv(q, 10, 5, &rr), 0);
    qt_advance(qs, 5000);
    CHECK_INT(qt_recv(q, 2, 5, &rr), 2);
    CHECK_STR(qt_bodies(&rr), "m1,m2");
    CHECK_INT(rr.msgs[0]->recv_count, 2);
    CHECK_INT(rr.msgs[1]->recv_count, 1);
    /* the head visible again is deliverable; m2, in flight, still blocks m3 */
    CHECK_ST(queue_change_visibility(q, rr.receipts[0], 0, &err), ST_OK);
    CHECK_INT(qt_recv(q, 10, 5, &rr), 1);
    CHECK_STR(qt_bodies(&rr), "m1");
    CHECK_INT(rr.msgs[0]->recv_count, 3);
    qt_advance(qs, 5000);
    CHECK_INT(qt_recv(q, 10, 5, &rr), 3);
    CHECK_STR(qt_bodies(&rr), "m1,m2,m3");
    /* an emptied group does not wedge the queue */
    for (int i = 0; i < 3; i++)
        CHECK_ST(queue_delete_message(q, rr.receipts[i], &err), ST_OK);
    CHECK_INT(qt_recv(q, 10, 5, &rr), 0);
    CHECK_ST(fsend(q, "g", "m4"), ST_OK);
    CHECK_INT(qt_recv(q, 10, 5, &rr), 1);
    CHECK_STR(qt_bodies(&rr), "m4");
    queues_free(qs);
}

TEST(fifo_receipt_expires_with_visibility)
{
    queues_t *qs = qt_engine();
    queue_t *q = fifo(qs, "f.fifo", KV({"VisibilityTimeout", "1"}));
    recv_res_t rr;
    err_t err;
    char h[RECEIPT_MAX], h2[RECEIPT_MAX], want[512];
    CHECK_ST(fsend(q, "g", "m"), ST_OK);
    CHECK_INT(qt_recv(q, 1, -1, &rr), 1);
    snprintf(h, sizeof h, "%s", rr.receipts[0]);
    qt_advance(qs, 2000);
    snprintf(want, sizeof want,
             "Value %s for parameter ReceiptHandle is invalid. Reason: The receipt handle has expired.", h);
    CHECK_ERR(queue_delete_message(q, h, ERR), ST_INVALID_PARAMETER_VALUE, want);
    CHECK_ERR(queue_change_visibility(q, h, 10, ERR), ST_INVALID_PARAMETER_VALUE, want);
    CHECK_STR(qt_counts(q), "1/0/0");
    /* after a new receive only the new handle works */
    CHECK_INT(qt_recv(q, 1, -1, &rr), 1);
    snprintf(h2, sizeof h2, "%s", rr.receipts[0]);
    CHECK_ERR(queue_delete_message(q, h, ERR), ST_INVALID_PARAMETER_VALUE, want);
    /* expired even when no tick has run yet */
    qt_now_ms += 1000;
    snprintf(want, sizeof want,
             "Value %s for parameter ReceiptHandle is invalid. Reason: The receipt handle has expired.", h2);
    CHECK_ERR(queue_delete_message(q, h2, ERR), ST_INVALID_PARAMETER_VALUE, want);
    queues_tick(qs);
    CHECK_INT(qt_recv(q, 1, -1, &rr), 1);
    snprintf(h2, sizeof h2, "%s", rr.receipts[0]);
    CHECK_ST(queue_delete_message(q, h2, &err), ST_OK);
    CHECK_STR(qt_counts(q), "0/0/0");

    /* extended before it expired: deleting after the original timeout works */
    CHECK_ST(fsend(q, "g", "n"), ST_OK);
    CHECK_INT(qt_recv(q, 1, -1, &rr), 1);
    snprintf(h, sizeof h, "%s", rr.receipts[0]);
    CHECK_ST(queue_change_visibility(q, h, 5, &err), ST_OK);
    qt_advance(qs, 1500);
    CHECK_ST(queue_delete_message(q, h, &err), ST_OK);
    CHECK_STR(qt_counts(q), "0/0/0");
    queues_free(qs);
}

/* ==== deduplication ==== */

TEST(fifo_dedup_by_id_for_five_minutes)
{
    queues_t *qs = qt_engine();
    queue_t *q = fifo(qs, "f.fifo", NULL, 0);
    recv_res_t rr;
    err_t err;
    send_res_t first, dup;
    CHECK_ST(qt_send(q, "a", "g1", "d1", &first), ST_OK);
    send_req_t r = qt_req("message");
    msg_attr_t trace = {"AWSTraceHeader", "String",
                        "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1", 74};
    r.group_id = "g1";
    r.dedup_id = "d1";
    r.sys_attrs = &trace;
    r.nsys = 1;
    CHECK_ST(qt_send_req(q, &r, &dup, NULL), ST_OK); /* accepted, not delivered */
    CHECK_STR(dup.message_id, first.message_id);
    CHECK_INT(dup.seq, first.seq);
    CHECK_STR(dup.md5_body, "78e731027d8fd50ed642340b7c9a63b3"); /* the MD5s are of what was sent */
    CHECK_STR(dup.md5_sys, "5ae4d5d7636402d80f4eb6d213245a88");
    CHECK_STR(dup.md5_attrs, "");
    CHECK_STR(qt_counts(q), "1/0/0");
    CHECK_INT(qt_recv(q, 10, 30, &rr), 1);
    CHECK_STR(qt_bodies(&rr), "a");
    CHECK_ST(queue_delete_message(q, rr.receipts[0], &err), ST_OK);
    /* still a duplicate after the first was deleted, and in another group (scope queue) */
    qt_advance(qs, 60000);
    CHECK_ST(qt_send(q, "a", "g1", "d1", &dup), ST_OK);
    CHECK_ST(qt_send(q, "a", "g2", "d1", &dup), ST_OK);
    CHECK_STR(dup.message_id, first.message_id);
    CHECK_STR(qt_counts(q), "0/0/0");
    qt_set_time(299999);
    CHECK_ST(qt_send(q, "a", "g1", "d1", &dup), ST_OK);
    CHECK_STR(qt_counts(q), "0/0/0");
    qt_set_time(300000);
    send_res_t fresh;
    CHECK_ST(qt_send(q, "a", "g1", "d1", &fresh), ST_OK);
    CHECK(strcmp(fresh.message_id, first.message_id) != 0);
    CHECK(fresh.seq > first.seq);
    CHECK_STR(qt_counts(q), "1/0/0");
    queues_free(qs);
}

TEST(fifo_content_based_dedup)
{
    queues_t *qs = qt_engine();
    queue_t *q = fifo(qs, "c.fifo", KV({"ContentBasedDeduplication", "true"}));
    recv_res_t rr;
    CHECK_ST(qt_send(q, "x", "g1", NULL, NULL), ST_OK);
    CHECK_ST(qt_send(q, "x", "g2", NULL, NULL), ST_OK); /* the body is the id, scope queue */
    CHECK_ST(qt_send(q, "y", "g1", NULL, NULL), ST_OK);
    CHECK_ST(qt_send(q, "x", "g1", "explicit", NULL), ST_OK); /* an explicit id wins */
    CHECK_INT(qt_recv(q, 10, 30, &rr), 3);
    CHECK_STR(qt_bodies(&rr), "x,y,x");
    CHECK(rr.msgs[0]->dedup_id != NULL);
    CHECK_STR(rr.msgs[0]->dedup_id, "2d711642b726b04401627ca9fbac32f5c8530fb1903cc4db02258717921a4881");
    CHECK_STR(rr.msgs[2]->dedup_id, "explicit");
    queues_free(qs);
}

TEST(fifo_dedup_scope_message_group)
{
    queues_t *qs = qt_engine();
    const kv_t high[] = {{"DeduplicationScope", "messageGroup"}, {"FifoThroughputLimit", "perMessageGroupId"}};
    const kv_t regular[] = {{"DeduplicationScope", "queue"}, {"FifoThroughputLimit", "perQueue"}};
    queue_t *q = fifo(qs, "hp.fifo", high, 2);
    recv_res_t rr;
    CHECK_ST(qt_send(q, "Test1", "group-1", "same", NULL), ST_OK);
    CHECK_ST(qt_send(q, "Test2", "group-2", "same", NULL), ST_OK);
    CHECK_ST(qt_send(q, "Test3", "group-1", "same", NULL), ST_OK);
    CHECK_INT(qt_recv(q, 10, 30, &rr), 2);
    CHECK_STR(qt_bodies(&rr), "Test1,Test2");

    /* AWS keeps the scope a queue was created with (recorded:
     * test_fifo_change_to_high_throughput_after_creation and _regular_) */
    queue_t *up = fifo(qs, "up.fifo", NULL, 0);
    err_t err;
    CHECK_ST(qt_send(up, "Test1", "group-1", "same", NULL), ST_OK);
    CHECK_ST(queue_set_attributes(up, high, 2, &err), ST_OK);
    CHECK_STR(qt_attr(up, "DeduplicationScope"), "messageGroup");
    CHECK_ST(qt_send(up, "Test2", "group-2", "same", NULL), ST_OK);
    CHECK_ST(qt_send(up, "Test4", "group-3", "dedup2", NULL), ST_OK);
    CHECK_ST(qt_send(up, "Test5", "group-4", "dedup2", NULL), ST_OK);
    CHECK_INT(qt_recv(up, 10, 30, &rr), 2);
    CHECK_STR(qt_bodies(&rr), "Test1,Test4");

    queue_t *down = fifo(qs, "down.fifo", high, 2);
    CHECK_ST(qt_send(down, "Test1", "group-1", "same", NULL), ST_OK);
    CHECK_ST(qt_send(down, "Test2", "group-2", "same", NULL), ST_OK);
    CHECK_ST(queue_set_attributes(down, regular, 2, &err), ST_OK);
    CHECK_ST(qt_send(down, "Test3", "group-3", "same", NULL), ST_OK);
    CHECK_INT(qt_recv(down, 10, 30, &rr), 3);
    CHECK_STR(qt_bodies(&rr), "Test1,Test2,Test3");
    CHECK_ERR(queue_set_attributes(down, KV({"FifoThroughputLimit", "perMessageGroupId"}), ERR),
              ST_INVALID_ATTRIBUTE_VALUE,
              "The perMessageGroupId value is allowed only when the value for DeduplicationScope is messageGroup");
    queues_free(qs);
}

TEST(fifo_purge_clears_dedup)
{
    queues_t *qs = qt_engine();
    queue_t *q = fifo(qs, "f.fifo", NULL, 0);
    err_t err;
    CHECK_ST(qt_send(q, "a", "g", "d", NULL), ST_OK);
    CHECK_ST(queue_purge(q, &err), ST_OK);
    CHECK_ST(qt_send(q, "a", "g", "d", NULL), ST_OK);
    CHECK_STR(qt_counts(q), "1/0/0");
    queues_free(qs);
}

/* ==== ReceiveRequestAttemptId ==== */

static int recv_attempt(queue_t *q, const char *id, recv_res_t *rr, err_t *err)
{
    recv_req_t r = {.max = 10, .attempt_id = id};
    return queue_receive(q, &r, rr, err) == ST_OK ? rr->n : -1;
}

#define NOT_RETRYABLE(id)                                                                                  \
    "Value " id " for parameter ReceiveRequestAttemptId is invalid. Reason: The receiveRequestAttemptId is " \
    "not valid anymore since the receive call is not retryable."

TEST(fifo_receive_request_attempt_id)
{
    queues_t *qs = qt_engine();
    queue_t *q = fifo(qs, "f.fifo", NULL, 0);
    recv_res_t rr, again;
    err_t err;
    char h[2][RECEIPT_MAX];
    CHECK_ST(fsend(q, "g1", "a"), ST_OK);
    CHECK_ST(fsend(q, "g1", "b"), ST_OK);
    CHECK_ST(fsend(q, "g2", "c"), ST_OK);
    recv_req_t two = {.max = 2, .attempt_id = "att1"};
    CHECK_ST(queue_receive(q, &two, &rr, &err), ST_OK);
    CHECK_STR(qt_bodies(&rr), "a,b");
    snprintf(h[0], sizeof h[0], "%s", rr.receipts[0]);
    snprintf(h[1], sizeof h[1], "%s", rr.receipts[1]);
    /* a retry returns the same messages and handles, with the timeout restarted */
    qt_advance(qs, 10000);
    CHECK_INT(recv_attempt(q, "att1", &again, &err), 2);
    CHECK_STR(qt_bodies(&again), "a,b");
    CHECK_STR(again.receipts[0], h[0]);
    CHECK_STR(again.receipts[1], h[1]);
    CHECK_INT(again.msgs[0]->visible_at, QT_T0 + 40000);
    CHECK_INT(again.msgs[0]->recv_count, 1);
    CHECK_STR(qt_counts(q), "1/2/0");
    CHECK_INT(recv_attempt(q, "att2", &rr, &err), 1);
    CHECK_STR(qt_bodies(&rr), "c");
    /* a change of visibility or a delete ends the retries */
    CHECK_ST(queue_change_visibility(q, rr.receipts[0], 60, &err), ST_OK);
    CHECK_ERR(queue_receive(q, &(recv_req_t){.max = 10, .attempt_id = "att2"}, &rr, ERR), ST_INVALID_PARAMETER_VALUE,
              NOT_RETRYABLE("att2"));
    CHECK_ST(queue_delete_message(q, h[0], &err), ST_OK);
    CHECK_ERR(queue_receive(q, &(recv_req_t){.max = 10, .attempt_id = "att1"}, &rr, ERR), ST_INVALID_PARAMETER_VALUE,
              NOT_RETRYABLE("att1"));
    /* an empty receive is not remembered; after 5 minutes the id is forgotten */
    CHECK_INT(recv_attempt(q, "att3", &rr, &err), 0);
    qt_set_time(300000);
    queues_tick(qs);
    CHECK_INT(recv_attempt(q, "att1", &rr, &err), 2);
    CHECK_STR(qt_bodies(&rr), "b,c");
    CHECK_INT(rr.msgs[0]->recv_count, 2);

    /* standard queues ignore it */
    queue_t *s = qt_create(qs, "s", NULL, 0);
    CHECK_ST(qt_send(s, "s1", NULL, NULL, NULL), ST_OK);
    CHECK_INT(recv_attempt(s, "x", &rr, &err), 1);
    CHECK_INT(recv_attempt(s, "x", &rr, &err), 0);
    queues_free(qs);
}

/* ==== dead-letter queues ==== */

#define REDRIVE(dlq, n) "{\"deadLetterTargetArn\":\"" QT_ARN(dlq) "\",\"maxReceiveCount\":" #n "}"

TEST(dlq_move_on_receive_beyond_max_receive_count)
{
    queues_t *qs = qt_engine();
    queue_t *dlq = qt_create(qs, "dlq", NULL, 0);
    queue_t *src = qt_create(qs, "src", KV({"RedrivePolicy", REDRIVE("dlq", 2)}));
    recv_res_t rr;
    msg_attr_t attr = {"Foo", "String", "Bar", 3};
    msg_attr_t trace = {"AWSTraceHeader", "String", "Root=1-abc", 10};
    send_req_t r = qt_req("payload");
    send_res_t sent;
    r.attrs = &attr;
    r.nattrs = 1;
    r.sys_attrs = &trace;
    r.nsys = 1;
    CHECK_ST(qt_send_req(src, &r, &sent, NULL), ST_OK);
    for (int i = 1; i <= 2; i++) {
        qt_advance(qs, 1000);
        CHECK_INT(qt_recv(src, 10, 0, &rr), 1);
        CHECK_INT(rr.msgs[0]->recv_count, i);
    }
    qt_advance(qs, 1000);
    CHECK_INT(qt_recv(src, 10, 0, &rr), 0); /* the third receive moves it */
    CHECK_STR(qt_counts(src), "0/0/0");
    CHECK_STR(qt_counts(dlq), "1/0/0");
    qt_advance(qs, 1000);
    CHECK_INT(qt_recv(dlq, 10, 30, &rr), 1);
    message_t *m = rr.msgs[0];
    CHECK_INT(m->recv_count, 3); /* kept; the moving receive did not count */
    CHECK_STR(m->dlq_source_arn, QT_ARN("src"));
    CHECK_STR(m->id, sent.message_id);
    CHECK_STR(m->body, "payload");
    CHECK_INT(m->sent_ts, QT_T0);
    CHECK_INT(m->first_recv_ts, QT_T0 + 1000);
    CHECK_STR(m->trace_header, "Root=1-abc");
    size_t off = 0;
    msg_attr_t got;
    CHECK(msg_attrs_next(m->attrs, m->attrs_len, &off, &got));
    CHECK_STR(got.name, "Foo");
    CHECK_MEM(got.value, got.value_len, "Bar", 3);
    queues_free(qs);
}

TEST(dlq_max_receive_count_one_and_retention)
{
    queues_t *qs = qt_engine();
    queue_t *dlq = qt_create(qs, "dlq", KV({"MessageRetentionPeriod", "60"}));
    queue_t *src = qt_create(qs, "src", KV({"RedrivePolicy", REDRIVE("dlq", 1)}));
    recv_res_t rr;
    CHECK_ST(qt_send(src, "m", NULL, NULL, NULL), ST_OK);
    CHECK_INT(qt_recv(src, 1, 0, &rr), 1);
    qt_advance(qs, 50000);
    CHECK_INT(qt_recv(src, 1, 0, &rr), 0);
    CHECK_STR(qt_counts(dlq), "1/0/0");
    /* a standard DLQ keeps the original SentTimestamp for retention */
    qt_set_time(59999);
    queues_tick(qs);
    qt_advance(qs, 1001);
    CHECK_STR(qt_counts(dlq), "0/0/0");

    /* a FIFO DLQ counts retention from the move */
    queue_t *fdlq = fifo(qs, "dlq.fifo", KV({"MessageRetentionPeriod", "60"}));
    queue_t *fsrc =
        fifo(qs, "src.fifo", KV({"RedrivePolicy", REDRIVE("dlq.fifo", 1)}, {"ContentBasedDeduplication", "true"}));
    CHECK(fdlq && fsrc);
    uint64_t t = qt_now_ms - QT_T0;
    CHECK_ST(qt_send(fsrc, "fm", "g", NULL, NULL), ST_OK);
    CHECK_INT(qt_recv(fsrc, 1, 0, &rr), 1);
    qt_advance(qs, 50000);
    CHECK_INT(qt_recv(fsrc, 1, 0, &rr), 0);
    CHECK_STR(qt_counts(fdlq), "1/0/0");
    qt_set_time(t + 61000);
    queues_tick(qs);
    CHECK_STR(qt_counts(fdlq), "1/0/0");
    qt_set_time(t + 111000);
    queues_tick(qs);
    CHECK_STR(qt_counts(fdlq), "0/0/0");
    queues_free(qs);
}

TEST(dlq_fifo_with_content_based_dedup)
{
    queues_t *qs = qt_engine();
    queue_t *dlq = fifo(qs, "dlq.fifo", NULL, 0);
    queue_t *src =
        fifo(qs, "src.fifo", KV({"ContentBasedDeduplication", "true"}, {"RedrivePolicy", REDRIVE("dlq.fifo", 2)}));
    recv_res_t rr;
    err_t err;
    CHECK(dlq && src);
    CHECK_ST(qt_send(src, "first", "g", NULL, NULL), ST_OK);
    CHECK_ST(qt_send(src, "second", "g", NULL, NULL), ST_OK);
    for (int i = 0; i < 2; i++) {
        CHECK_INT(qt_recv(src, 1, 0, &rr), 1);
        CHECK_STR(qt_bodies(&rr), "first");
        qt_advance(qs, 0);
    }
    /* the head moves; the group goes on with the next message */
    CHECK_INT(qt_recv(src, 1, 0, &rr), 1);
    CHECK_STR(qt_bodies(&rr), "second");
    CHECK_INT(qt_recv(dlq, 10, 30, &rr), 1);
    CHECK_STR(qt_bodies(&rr), "first");
    CHECK_STR(rr.msgs[0]->group_id, "g");
    CHECK_INT(rr.msgs[0]->recv_count, 3);
    CHECK_ST(queue_delete_message(dlq, rr.receipts[0], &err), ST_OK);
    qt_advance(qs, 0);
    CHECK_INT(qt_recv(src, 1, 30, &rr), 1);
    CHECK_ST(queue_delete_message(src, rr.receipts[0], &err), ST_OK);
    CHECK_ST(qt_send(src, "third", "g", NULL, NULL), ST_OK);
    CHECK_INT(qt_recv(src, 10, 30, &rr), 1);
    CHECK_STR(qt_bodies(&rr), "third");
    queues_free(qs);
}

/* What the dead-letter hooks saw: one line per call. */
typedef struct dl_seen {
    char log[1024];
    int calls;
} dl_seen_t;

static void dl_hook(void *arg, queue_t *src, queue_t *dlq, const message_t *m, const char *rid)
{
    dl_seen_t *s = arg;
    char line[256];
    snprintf(line, sizeof line, "%s>%s %s n=%u id=%s|", queue_name(src), queue_name(dlq), m->body, m->recv_count,
             rid ? rid : "-");
    strncat(s->log, line, sizeof s->log - strlen(s->log) - 1);
    s->calls++;
}

/* Sends body (with a requestId attribute when rid is given) and receives it
 * until the receive that moves it. */
static void send_until_dead(queues_t *qs, queue_t *src, const char *body, const char *rid)
{
    recv_res_t rr;
    msg_attr_t a = {"requestId", "String", rid, rid ? strlen(rid) : 0};
    send_req_t r = qt_req(body);
    r.attrs = &a;
    r.nattrs = rid ? 1 : 0;
    qt_send_req(src, &r, NULL, NULL);
    for (int i = 0; i < 3 && qt_recv(src, 10, 0, &rr) == 1; i++)
        qt_advance(qs, 0);
}

TEST(dlq_hooks_see_each_move_with_its_request_id)
{
    queues_t *qs = qt_engine();
    qt_create(qs, "dlq", NULL, 0);
    queue_t *src = qt_create(qs, "src", KV({"RedrivePolicy", REDRIVE("dlq", 2)}));
    dl_seen_t a = {0}, b = {0};
    CHECK_INT(queues_add_dead_letter_cb(qs, dl_hook, &a), 0);
    CHECK_INT(queues_add_dead_letter_cb(qs, dl_hook, &b), 0);
    send_until_dead(qs, src, "plain", "r-attr");
    /* a non-raw SNS delivery: the id is in the envelope's MessageAttributes */
    send_until_dead(qs, src,
                    "{\"Type\":\"Notification\",\"MessageId\":\"x\",\"Message\":\"{}\",\"MessageAttributes\":"
                    "{\"requestId\":{\"Type\":\"String\",\"Value\":\"r-env\"}}}",
                    NULL);
    send_until_dead(qs, src, "{\"requestId\":\"r-body\"}", NULL);
    send_until_dead(qs, src, "{\"Type\":\"Notification\",\"MessageAttributes\":{\"requestId\":{\"Type\":"
                             "\"Binary\",\"Value\":\"eA==\"}}}", NULL);
    CHECK_INT(a.calls, 4);
    CHECK(strstr(a.log, "src>dlq plain n=2 id=r-attr|"));
    CHECK(strstr(a.log, "n=2 id=r-env|"));
    CHECK(strstr(a.log, "src>dlq {\"requestId\":\"r-body\"} n=2 id=r-body|"));
    CHECK(strstr(a.log, "\"Binary\",\"Value\":\"eA==\"}}} n=2 id=-|")); /* not a String: no id */
    CHECK_STR(b.log, a.log);
    CHECK_STR(qt_counts(src), "0/0/0");
    /* a move task back to the source is no dead-letter move; a removed hook is not called */
    char handle[MOVE_HANDLE_MAX];
    err_t err;
    CHECK_ST(queues_start_move_task(qs, QT_ARN("dlq"), NULL, -1, handle, &err), ST_OK);
    qt_advance(qs, 100);
    CHECK_STR(qt_counts(src), "4/0/0");
    CHECK_INT(a.calls, 4);
    queues_remove_dead_letter_cb(qs, dl_hook, &a);
    recv_res_t rr;
    for (int i = 0; i < 3; i++) {
        qt_recv(src, 10, 0, &rr);
        qt_advance(qs, 0);
    }
    CHECK_STR(qt_counts(src), "0/0/0");
    CHECK_INT(a.calls, 4);
    CHECK_INT(b.calls, 8);
    /* the hooks are bounded */
    dl_seen_t more[QUEUES_DEAD_LETTER_HOOKS];
    int added = 0;
    for (int i = 0; i < QUEUES_DEAD_LETTER_HOOKS; i++)
        added += queues_add_dead_letter_cb(qs, dl_hook, &more[i]) == 0;
    CHECK_INT(added, QUEUES_DEAD_LETTER_HOOKS - 1);
    queues_free(qs);
}

/* ==== move tasks ==== */

/* Dead-letters one message with body b from src (maxReceiveCount 1). */
static int dead_letter(queues_t *qs, queue_t *src, const char *b)
{
    recv_res_t rr;
    if (qt_send(src, b, NULL, NULL, NULL) != ST_OK || qt_recv(src, 10, 0, &rr) != 1)
        return 0;
    qt_advance(qs, 0);
    return qt_recv(src, 10, 0, &rr) == 0;
}

static move_task_view_t *task_of(queues_t *qs, const char *source_arn)
{
    static move_task_view_t v[10];
    int n = 0;
    err_t err;
    if (queues_list_move_tasks(qs, source_arn, 10, v, &n, &err) != ST_OK || n < 1)
        return NULL;
    return &v[0];
}

TEST(move_task_back_to_sources)
{
    queues_t *qs = qt_engine();
    queue_t *dlq = qt_create(qs, "dlq", NULL, 0);
    queue_t *s1 = qt_create(qs, "s1", KV({"RedrivePolicy", REDRIVE("dlq", 1)}));
    queue_t *s2 = qt_create(qs, "s2", KV({"RedrivePolicy", REDRIVE("dlq", 1)}));
    CHECK(dead_letter(qs, s1, "a") && dead_letter(qs, s2, "b") && dead_letter(qs, s1, "c") && dead_letter(qs, s2, "d"));
    CHECK_STR(qt_counts(dlq), "4/0/0");
    char handle[MOVE_HANDLE_MAX];
    err_t err;
    qt_set_time(10000);
    CHECK_ST(queues_start_move_task(qs, QT_ARN("dlq"), NULL, -1, handle, &err), ST_OK);
    /* the handle is base64 of {"taskId": <uuid>, "sourceArn": <dlq>} */
    buf_t dec = BUF_INIT;
    CHECK_INT(text_b64_decode(handle, strlen(handle), &dec), 0);
    CHECK(strncmp(dec.data, "{\"taskId\":\"", 11) == 0);
    CHECK_STR(dec.data + 11 + 36, "\",\"sourceArn\":\"" QT_ARN("dlq") "\"}");
    buf_free(&dec);
    move_task_view_t *v = task_of(qs, QT_ARN("dlq"));
    CHECK(v != NULL);
    CHECK_STR(v->status, "RUNNING");
    CHECK_STR(v->handle, handle);
    CHECK_STR(v->source_arn, QT_ARN("dlq"));
    CHECK_STR(v->dest_arn, "");
    CHECK_INT(v->rate, -1);
    CHECK_INT(v->to_move, 4);
    CHECK_INT(v->moved, 0);
    CHECK_INT(v->started_ts, QT_T0 + 10000);
    qt_advance(qs, 100);
    v = task_of(qs, QT_ARN("dlq"));
    CHECK_STR(v->status, "COMPLETED");
    CHECK_INT(v->moved, 4);
    CHECK_STR(v->handle, "");
    CHECK_STR(qt_counts(dlq), "0/0/0");
    CHECK_STR(qt_counts(s1), "2/0/0");
    CHECK_STR(qt_counts(s2), "2/0/0");
    recv_res_t rr;
    CHECK_INT(qt_recv(s1, 10, 30, &rr), 2);
    CHECK_STR(qt_bodies(&rr), "a,c");
    /* redriven messages start over: no source ARN, first receive again */
    CHECK(rr.msgs[0]->dlq_source_arn == NULL);
    CHECK_INT(rr.msgs[0]->recv_count, 1);
    /* the task is over; nothing more is scheduled for it */
    CHECK_INT(qt_advance(qs, 100), QT_T0 + 10100 + 1000);
    queues_free(qs);
}

TEST(move_task_rate_budget_per_tick)
{
    queues_t *qs = qt_engine();
    queue_t *dlq = qt_create(qs, "dlq", NULL, 0);
    queue_t *src = qt_create(qs, "src", KV({"RedrivePolicy", REDRIVE("dlq", 1)}));
    queue_t *dst = qt_create(qs, "dst", NULL, 0);
    char b[16], handle[MOVE_HANDLE_MAX];
    err_t err;
    for (int i = 0; i < 5; i++) {
        snprintf(b, sizeof b, "m%d", i);
        CHECK(dead_letter(qs, src, b));
    }
    qt_set_time(10000);
    queues_tick(qs);
    CHECK_ST(queues_start_move_task(qs, QT_ARN("dlq"), QT_ARN("dst"), 20, handle, &err), ST_OK);
    CHECK_INT(qt_advance(qs, 100), QT_T0 + 10200); /* a running task asks for the next 100 ms */
    CHECK_STR(qt_counts(dst), "2/0/0");
    qt_advance(qs, 100);
    CHECK_STR(qt_counts(dst), "4/0/0");
    CHECK_STR(task_of(qs, QT_ARN("dlq"))->status, "RUNNING");
    qt_advance(qs, 100);
    CHECK_STR(qt_counts(dst), "5/0/0");
    move_task_view_t *v = task_of(qs, QT_ARN("dlq"));
    CHECK_STR(v->status, "COMPLETED");
    CHECK_INT(v->moved, 5);
    CHECK_INT(v->rate, 20);
    CHECK_STR(v->dest_arn, QT_ARN("dst"));
    CHECK_STR(qt_counts(dlq), "0/0/0");

    /* 1 message per second: ticks more often than that move nothing extra */
    for (int i = 0; i < 3; i++) {
        snprintf(b, sizeof b, "r%d", i);
        CHECK(dead_letter(qs, src, b));
    }
    CHECK_ST(queue_purge(dst, &err), ST_OK);
    CHECK_ST(queues_start_move_task(qs, QT_ARN("dlq"), QT_ARN("dst"), 1, handle, &err), ST_OK);
    for (int i = 0; i < 9; i++)
        qt_advance(qs, 100);
    CHECK_STR(qt_counts(dst), "0/0/0");
    qt_advance(qs, 100);
    CHECK_STR(qt_counts(dst), "1/0/0");
    qt_advance(qs, 50);
    qt_advance(qs, 900);
    CHECK_STR(qt_counts(dst), "1/0/0");
    qt_advance(qs, 50);
    CHECK_STR(qt_counts(dst), "2/0/0");
    queues_free(qs);
}

TEST(move_task_waits_for_messages_in_flight)
{
    queues_t *qs = qt_engine();
    queue_t *dlq = qt_create(qs, "dlq", NULL, 0);
    queue_t *src = qt_create(qs, "src", KV({"RedrivePolicy", REDRIVE("dlq", 1)}));
    recv_res_t rr;
    char handle[MOVE_HANDLE_MAX];
    err_t err;
    CHECK(dead_letter(qs, src, "a") && dead_letter(qs, src, "b"));
    CHECK_INT(qt_recv(dlq, 1, 1, &rr), 1); /* "a" in flight for 1 s */
    CHECK_ST(queues_start_move_task(qs, QT_ARN("dlq"), NULL, -1, handle, &err), ST_OK);
    /* a message sent to the DLQ after the start is not the task's */
    CHECK_ST(qt_send(dlq, "late", NULL, NULL, NULL), ST_OK);
    qt_advance(qs, 100);
    CHECK_STR(qt_counts(src), "1/0/0");
    CHECK_STR(task_of(qs, QT_ARN("dlq"))->status, "RUNNING");
    qt_advance(qs, 900);
    qt_advance(qs, 100);
    CHECK_STR(qt_counts(src), "2/0/0");
    CHECK_STR(task_of(qs, QT_ARN("dlq"))->status, "COMPLETED");
    CHECK_STR(qt_counts(dlq), "1/0/0");
    queues_free(qs);
}

TEST(move_task_start_errors)
{
    queues_t *qs = qt_engine();
    queue_t *dlq = qt_create(qs, "dlq", NULL, 0);
    CHECK(qt_create(qs, "src", KV({"RedrivePolicy", REDRIVE("dlq", 1)})) != NULL);
    CHECK(qt_create(qs, "plain", NULL, 0) != NULL);
    char handle[MOVE_HANDLE_MAX];
    CHECK_ERR(queues_start_move_task(qs, QT_ARN("plain"), NULL, -1, handle, ERR), ST_INVALID_PARAMETER_VALUE,
              "Source queue must be configured as a Dead Letter Queue.");
    CHECK_ERR(queues_start_move_task(qs, QT_ARN("nope"), NULL, -1, handle, ERR), ST_RESOURCE_NOT_FOUND,
              "The resource that you specified for the SourceArn parameter doesn't exist.");
    CHECK_ERR(queues_start_move_task(qs, QT_ARN("dlq"), QT_ARN("nope"), -1, handle, ERR), ST_RESOURCE_NOT_FOUND,
              "The resource that you specified for the DestinationArn parameter doesn't exist.");
    CHECK_ERR(queues_start_move_task(qs, "", NULL, -1, handle, ERR), ST_MISSING_PARAMETER,
              "The request must contain the parameter SourceArn.");
    CHECK_ERR(queues_start_move_task(qs, QT_ARN("dlq"), NULL, 0, handle, ERR), ST_INVALID_PARAMETER_VALUE,
              "Value 0 for parameter MaxNumberOfMessagesPerSecond is invalid. Reason: You must enter a number "
              "that's between 1 and 500.");
    CHECK_ERR(queues_start_move_task(qs, QT_ARN("dlq"), NULL, 501, handle, ERR), ST_INVALID_PARAMETER_VALUE,
              "Value 501 for parameter MaxNumberOfMessagesPerSecond is invalid. Reason: You must enter a number "
              "that's between 1 and 500.");
    CHECK_ST(qt_send(dlq, "m", NULL, NULL, NULL), ST_OK);
    err_t err;
    CHECK_ST(queues_start_move_task(qs, QT_ARN("dlq"), QT_ARN("plain"), 500, handle, &err), ST_OK);
    CHECK_ERR(queues_start_move_task(qs, QT_ARN("dlq"), NULL, -1, handle, ERR), ST_INVALID_PARAMETER_VALUE,
              "There is already a task running. Only one active task is allowed for a source queue arn at a given "
              "time.");
    move_task_view_t v[10];
    int n;
    CHECK_ERR(queues_list_move_tasks(qs, QT_ARN("dlq"), 0, v, &n, ERR), ST_INVALID_PARAMETER_VALUE,
              "Value 0 for parameter MaxResults is invalid. Reason: You must enter a number that's between 1 and 10.");
    CHECK_ERR(queues_list_move_tasks(qs, QT_ARN("dlq"), 11, v, &n, ERR), ST_INVALID_PARAMETER_VALUE,
              "Value 11 for parameter MaxResults is invalid. Reason: You must enter a number that's between 1 and "
              "10.");
    CHECK_ERR(queues_list_move_tasks(qs, QT_ARN("nope"), 10, v, &n, ERR), ST_RESOURCE_NOT_FOUND,
              "The resource that you specified for the SourceArn parameter doesn't exist.");
    queues_free(qs);
}

static void handle_for(const char *task_id, const char *source, char out[MOVE_HANDLE_MAX])
{
    char raw[MOVE_HANDLE_MAX];
    buf_t b = BUF_INIT;
    snprintf(raw, sizeof raw, "{\"taskId\":\"%s\",\"sourceArn\":\"%s\"}", task_id, source);
    text_b64_encode(raw, strlen(raw), &b);
    snprintf(out, MOVE_HANDLE_MAX, "%s", b.data);
    buf_free(&b);
}

TEST(move_task_cancel)
{
    queues_t *qs = qt_engine();
    queue_t *dlq = qt_create(qs, "dlq", NULL, 0);
    queue_t *dst = qt_create(qs, "dst", NULL, 0);
    char handle[MOVE_HANDLE_MAX], other[MOVE_HANDLE_MAX];
    uint64_t moved = 99;
    err_t err;
    CHECK(qt_create(qs, "src", KV({"RedrivePolicy", REDRIVE("dlq", 1)})) != NULL);
    for (int i = 0; i < 5; i++)
        CHECK_ST(qt_send(dlq, "m", NULL, NULL, NULL), ST_OK);
    CHECK_ST(queues_start_move_task(qs, QT_ARN("dlq"), QT_ARN("dst"), 10, handle, &err), ST_OK);
    qt_advance(qs, 100);
    CHECK_STR(qt_counts(dst), "1/0/0");
    CHECK_ERR(queues_cancel_move_task(qs, "!!!", &moved, ERR), ST_INVALID_PARAMETER_VALUE,
              "Value for parameter TaskHandle is invalid.");
    handle_for("00000000-0000-4000-8000-000000000000", QT_ARN("dlq"), other);
    CHECK_ERR(queues_cancel_move_task(qs, other, &moved, ERR), ST_RESOURCE_NOT_FOUND, "Task does not exist.");
    handle_for("00000000-0000-4000-8000-000000000000", QT_ARN("gone"), other);
    CHECK_ERR(queues_cancel_move_task(qs, other, &moved, ERR), ST_RESOURCE_NOT_FOUND,
              "The resource that you specified for the SourceArn parameter doesn't exist.");
    CHECK_ERR(queues_cancel_move_task(qs, "", &moved, ERR), ST_MISSING_PARAMETER,
              "The request must contain the parameter TaskHandle.");
    CHECK_ST(queues_cancel_move_task(qs, handle, &moved, &err), ST_OK);
    CHECK_INT(moved, 1);
    move_task_view_t *v = task_of(qs, QT_ARN("dlq"));
    CHECK_STR(v->status, "CANCELLED");
    CHECK_INT(v->moved, 1);
    CHECK_INT(v->to_move, 5);
    qt_advance(qs, 1000);
    CHECK_STR(qt_counts(dst), "1/0/0");
    CHECK_STR(qt_counts(dlq), "4/0/0");
    CHECK_ERR(queues_cancel_move_task(qs, handle, &moved, ERR), ST_INVALID_PARAMETER_VALUE,
              "Only active tasks can be cancelled.");
    queues_free(qs);
}

TEST(move_task_list_newest_first)
{
    queues_t *qs = qt_engine();
    queue_t *dlq = qt_create(qs, "dlq", NULL, 0);
    char handle[MOVE_HANDLE_MAX];
    err_t err;
    uint64_t moved;
    CHECK(qt_create(qs, "src", KV({"RedrivePolicy", REDRIVE("dlq", 1)})) != NULL);
    CHECK(qt_create(qs, "dst", NULL, 0) != NULL);
    for (int i = 1; i <= 12; i++) {
        qt_advance(qs, 1000);
        if (i % 2 == 0)
            CHECK_ST(qt_send(dlq, "m", NULL, NULL, NULL), ST_OK);
        CHECK_ST(queues_start_move_task(qs, QT_ARN("dlq"), QT_ARN("dst"), i, handle, &err), ST_OK);
        if (i % 2)
            CHECK_ST(queues_cancel_move_task(qs, handle, &moved, &err), ST_OK);
        else
            qt_advance(qs, 1000); /* rate i >= 1: one message within a second */
    }
    move_task_view_t v[10];
    int n = 0;
    CHECK_ST(queues_list_move_tasks(qs, QT_ARN("dlq"), 10, v, &n, &err), ST_OK);
    CHECK_INT(n, 10);
    for (int i = 0; i < 10; i++) {
        CHECK_INT(v[i].rate, 12 - i);
        CHECK_STR(v[i].status, (12 - i) % 2 ? "CANCELLED" : "COMPLETED");
    }
    CHECK_ST(queues_list_move_tasks(qs, QT_ARN("dlq"), 1, v, &n, &err), ST_OK);
    CHECK_INT(n, 1);
    CHECK_INT(v[0].rate, 12);
    queues_free(qs);
}

TEST(move_task_fails_when_destination_goes)
{
    queues_t *qs = qt_engine();
    queue_t *dlq = qt_create(qs, "dlq", NULL, 0);
    queue_t *dst = qt_create(qs, "dst", NULL, 0);
    queue_t *src = qt_create(qs, "src", KV({"RedrivePolicy", REDRIVE("dlq", 1)}));
    char handle[MOVE_HANDLE_MAX];
    err_t err;
    for (int i = 0; i < 3; i++)
        CHECK_ST(qt_send(dlq, "m", NULL, NULL, NULL), ST_OK);
    CHECK_ST(queues_start_move_task(qs, QT_ARN("dlq"), QT_ARN("dst"), 10, handle, &err), ST_OK);
    qt_advance(qs, 100);
    CHECK_ST(queues_delete(qs, dst, &err), ST_OK);
    qt_advance(qs, 100);
    move_task_view_t *v = task_of(qs, QT_ARN("dlq"));
    CHECK_STR(v->status, "FAILED");
    CHECK_STR(v->failure, "AWS.SimpleQueueService.NonExistentQueue");
    CHECK_INT(v->moved, 1);
    CHECK_STR(v->handle, "");
    CHECK_STR(qt_counts(dlq), "2/0/0");

    /* back to a source that no longer exists */
    CHECK_ST(queue_purge(dlq, &err), ST_OK);
    CHECK(dead_letter(qs, src, "x"));
    CHECK_ST(queues_delete(qs, src, &err), ST_OK);
    CHECK_ST(queue_set_attributes(qt_create(qs, "keeper", NULL, 0), KV({"RedrivePolicy", REDRIVE("dlq", 1)}), &err),
             ST_OK);
    CHECK_ST(queues_start_move_task(qs, QT_ARN("dlq"), NULL, -1, handle, &err), ST_OK);
    qt_advance(qs, 100);
    v = task_of(qs, QT_ARN("dlq"));
    CHECK_STR(v->status, "FAILED");
    CHECK_STR(v->failure, "AWS.SimpleQueueService.NonExistentQueue");
    CHECK_STR(qt_counts(dlq), "1/0/0");
    queues_free(qs);
}
