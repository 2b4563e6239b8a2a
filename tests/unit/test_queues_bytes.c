/*
 * test_queues_bytes — the bounds on the bytes of messages held, per queue
 * and over all queues: what a message counts, sends refused at a bound and
 * taken again once deletes, expiry, purge or a queue's deletion free room;
 * FIFO duplicates at the bound; dead-letter moves that are never refused and
 * move tasks that wait for room. Recovery's count is in
 * test_queues_recovery.c. Same fake-clock engine as test_queues.c.
 */
#include "queues_fixture.h"

#define REDRIVE1(dlq) "{\"deadLetterTargetArn\":\"" QT_ARN(dlq) "\",\"maxReceiveCount\":1}"
#define QUEUE_FULL(n)                                                                                        \
    "The maximum size of the messages held per queue (" #n " bytes: limits.queue_bytes) has been reached for " \
    "this queue."

static queues_t *bounded(uint64_t per_queue, uint64_t total)
{
    qt_now_ms = QT_T0;
    queues_config_t cfg = {
        .region = QT_REGION, .account = QT_ACCOUNT, .max_queue_bytes = per_queue, .max_total_bytes = total};
    queues_t *qs = queues_new(&cfg, NULL);
    queues_set_clock(qs, qt_clock);
    return qs;
}

/* A body of n letters (n < 4096) in a buffer of its own per slot: 'a' for
 * slot 0, 'b' for 1, ... */
static const char *body_of(size_t n, int slot)
{
    static char bodies[4][4096];
    memset(bodies[slot], 'a' + slot, n);
    bodies[slot][n] = '\0';
    return bodies[slot];
}

/* A message counts its body, its attributes as kept (u32 count; per
 * attribute u16 + name + NUL, u16 + type + NUL, u32 + value) and 512. */
TEST(a_message_counts_body_attributes_and_overhead)
{
    queues_t *qs = bounded(0, 0);
    queue_t *q = qt_create(qs, "q", NULL, 0);
    CHECK_ST(qt_send(q, "hello", NULL, NULL, NULL), ST_OK);
    CHECK_INT(queue_bytes(q), 512 + 5);
    msg_attr_t attrs[] = {{"Foo", "String", "Bar", 3}, {"n", "Number", "12", 2}};
    send_req_t r = qt_req("hi");
    r.attrs = attrs;
    r.nattrs = 2;
    CHECK_INT(queue_msg_bytes(&r), 512 + 2 + 4 + (2 + 4 + 2 + 7 + 4 + 3) + (2 + 2 + 2 + 7 + 4 + 2));
    CHECK_ST(qt_send_req(q, &r, NULL, NULL), ST_OK);
    CHECK_INT(queue_bytes(q), 517 + queue_msg_bytes(&r));
    CHECK_INT(queues_bytes(qs), queue_bytes(q));
    queues_stats_t s;
    queues_get_stats(qs, &s);
    CHECK_INT(s.bytes, queue_bytes(q));
    queues_free(qs);
}

/* Send until the bound, refused with OverLimit (and nothing added); a
 * delete makes room again. Sends are taken one by one, as a batch's entries
 * are: one that does not fit the room left is refused while a smaller one
 * after it fits. */
TEST(send_until_the_bound_then_refused_until_a_delete)
{
    err_t err;
    queues_t *qs = bounded(3 * 612, 0); /* three 100-byte messages */
    queue_t *q = qt_create(qs, "q", NULL, 0);
    for (int i = 0; i < 3; i++)
        CHECK_ST(qt_send(q, body_of(100, 0), NULL, NULL, NULL), ST_OK);
    CHECK_INT(queue_bytes(q), 1836);
    send_req_t r = qt_req("y");
    CHECK_ERR(queue_send(q, &r, NULL, ERR), ST_OVER_LIMIT, QUEUE_FULL(1836));
    CHECK_STR(qt_counts(q), "3/0/0");
    CHECK_INT(queue_bytes(q), 1836);
    recv_res_t rr;
    CHECK_INT(qt_recv(q, 1, 30, &rr), 1);
    CHECK_INT(queue_bytes(q), 1836); /* in flight is still held */
    CHECK_ST(queue_delete_message(q, rr.receipts[0], &err), ST_OK);
    CHECK_INT(queue_bytes(q), 1224);
    CHECK_ST(qt_send(q, body_of(101, 0), NULL, NULL, NULL), ST_OVER_LIMIT); /* 613 > 612 left */
    CHECK_ST(qt_send(q, body_of(100, 1), NULL, NULL, NULL), ST_OK);
    CHECK_INT(queue_bytes(q), 1836);
    CHECK_ST(qt_send(q, "y", NULL, NULL, NULL), ST_OVER_LIMIT);
    CHECK_STR(qt_counts(q), "3/0/0");
    queues_free(qs);
}

/* send_req_t.unbounded: a message already accepted elsewhere is taken past
 * the bound; the queue then refuses others until it is under again. */
TEST(unbounded_sends_go_past_the_bound)
{
    err_t err;
    queues_t *qs = bounded(612, 0);
    queue_t *q = qt_create(qs, "q", NULL, 0);
    CHECK_ST(qt_send(q, body_of(100, 0), NULL, NULL, NULL), ST_OK);
    send_req_t r = qt_req(body_of(100, 0));
    r.unbounded = 1;
    CHECK_ST(queue_send(q, &r, NULL, &err), ST_OK);
    CHECK_INT(queue_bytes(q), 1224);
    CHECK_ERR(queue_check_room(q, 513, ERR), ST_OVER_LIMIT, QUEUE_FULL(612));
    recv_res_t rr;
    CHECK_INT(qt_recv(q, 10, 30, &rr), 2);
    CHECK_ST(queue_delete_message(q, rr.receipts[0], &err), ST_OK);
    CHECK_ST(qt_send(q, "y", NULL, NULL, NULL), ST_OVER_LIMIT); /* 612 held: at the bound */
    CHECK_ST(queue_delete_message(q, rr.receipts[1], &err), ST_OK);
    CHECK_ST(qt_send(q, "y", NULL, NULL, NULL), ST_OK);
    queues_free(qs);
}

/* The bound over all queues: a queue with room of its own is refused when
 * the others hold the total. */
TEST(the_total_bound_spans_queues)
{
    err_t err;
    queues_t *qs = bounded(100000, 2 * 612);
    queue_t *a = qt_create(qs, "a", NULL, 0), *b = qt_create(qs, "b", NULL, 0);
    CHECK_ST(qt_send(a, body_of(100, 0), NULL, NULL, NULL), ST_OK);
    CHECK_ST(qt_send(b, body_of(100, 0), NULL, NULL, NULL), ST_OK);
    CHECK_INT(queues_bytes(qs), 1224);
    send_req_t r = qt_req("y");
    CHECK_ERR(queue_send(b, &r, NULL, ERR), ST_OVER_LIMIT,
              "The maximum size of the messages held by all queues (1224 bytes: limits.total_queue_bytes) has "
              "been reached.");
    recv_res_t rr;
    CHECK_INT(qt_recv(a, 1, 30, &rr), 1);
    CHECK_ST(queue_delete_message(a, rr.receipts[0], &err), ST_OK);
    CHECK_INT(queues_bytes(qs), 612);
    CHECK_ST(qt_send(b, body_of(100, 0), NULL, NULL, NULL), ST_OK);
    CHECK_INT(queue_bytes(a), 0);
    CHECK_INT(queue_bytes(b), 1224);
    queues_free(qs);
}

/* A FIFO duplicate adds nothing, so a full queue answers it as always. */
TEST(fifo_duplicates_are_answered_at_the_bound)
{
    queues_t *qs = bounded(612, 0);
    queue_t *f = qt_create(qs, "f.fifo", KV({"FifoQueue", "true"}));
    send_res_t first, again;
    CHECK_ST(qt_send(f, body_of(100, 0), "g", "d1", &first), ST_OK);
    CHECK_INT(queue_bytes(f), 612); /* FIFO ids are in the overhead */
    CHECK_ST(qt_send(f, body_of(100, 0), "g", "d1", &again), ST_OK);
    CHECK_STR(again.message_id, first.message_id);
    CHECK_ST(qt_send(f, body_of(100, 0), "g", "d2", NULL), ST_OVER_LIMIT);
    CHECK_STR(qt_counts(f), "1/0/0");
    queues_free(qs);
}

/* Retention, purge and deleting a queue free what they drop. */
TEST(expiry_purge_and_queue_deletion_free_bytes)
{
    err_t err;
    queues_t *qs = bounded(0, 0);
    queue_t *q = qt_create(qs, "q", KV({"MessageRetentionPeriod", "60"}));
    queue_t *p = qt_create(qs, "p", NULL, 0), *gone = qt_create(qs, "gone", NULL, 0);
    CHECK_ST(qt_send(q, "a", NULL, NULL, NULL), ST_OK);
    CHECK_INT(qt_recv(q, 1, 600, NULL), 1); /* in flight expires too */
    CHECK_ST(qt_send(q, "b", NULL, NULL, NULL), ST_OK);
    CHECK_ST(qt_send(p, "c", NULL, NULL, NULL), ST_OK);
    CHECK_ST(qt_send(gone, "d", NULL, NULL, NULL), ST_OK);
    CHECK_INT(queues_bytes(qs), 4 * 513);
    qt_advance(qs, 61000);
    CHECK_INT(queue_bytes(q), 0);
    CHECK_INT(queues_bytes(qs), 2 * 513);
    CHECK_ST(queue_purge(p, &err), ST_OK);
    CHECK_INT(queue_bytes(p), 0);
    CHECK_ST(queues_delete(qs, gone, &err), ST_OK);
    CHECK_INT(queues_bytes(qs), 0);
    queues_free(qs);
}

/* A dead-letter move is never refused: the DLQ goes over its own bound
 * (the total is unchanged), and refuses sends until it is under again. */
TEST(dead_letter_moves_take_a_dlq_past_its_bound)
{
    queues_t *qs = bounded(612, 0);
    queue_t *dlq = qt_create(qs, "dlq", NULL, 0);
    queue_t *src = qt_create(qs, "src", KV({"RedrivePolicy", REDRIVE1("dlq")}));
    CHECK_ST(qt_send(dlq, body_of(100, 0), NULL, NULL, NULL), ST_OK);
    CHECK_ST(qt_send(src, body_of(100, 1), NULL, NULL, NULL), ST_OK);
    CHECK_INT(qt_recv(src, 1, 0, NULL), 1);
    qt_advance(qs, 0);
    CHECK_INT(qt_recv(src, 1, 0, NULL), 0); /* received once already: moved */
    CHECK_STR(qt_counts(dlq), "2/0/0");
    CHECK_INT(queue_bytes(dlq), 1224);
    CHECK_INT(queue_bytes(src), 0);
    CHECK_INT(queues_bytes(qs), 1224);
    CHECK_ST(qt_send(dlq, "y", NULL, NULL, NULL), ST_OVER_LIMIT);
    CHECK_ST(qt_send(src, "y", NULL, NULL, NULL), ST_OK);
    queues_free(qs);
}

static const char *task_status(queues_t *qs, const char *arn, uint64_t *moved)
{
    static move_task_view_t v[10];
    int n = 0;
    err_t err;
    if (queues_list_move_tasks(qs, arn, 10, v, &n, &err) != ST_OK || n < 1)
        return "?";
    *moved = v[0].moved;
    return v[0].status;
}

/* A move task waits while its destination is full, and goes on, in order,
 * as deletes make room. */
TEST(move_tasks_wait_for_room_in_the_destination)
{
    err_t err;
    queues_t *qs = bounded(2 * 612, 0);
    queue_t *dlq = qt_create(qs, "dlq", NULL, 0), *dst = qt_create(qs, "dst", NULL, 0);
    CHECK(qt_create(qs, "src", KV({"RedrivePolicy", REDRIVE1("dlq")})) != NULL);
    CHECK_ST(qt_send(dlq, body_of(100, 0), NULL, NULL, NULL), ST_OK);
    CHECK_ST(qt_send(dlq, body_of(100, 1), NULL, NULL, NULL), ST_OK);
    CHECK_ST(qt_send(dst, body_of(100, 2), NULL, NULL, NULL), ST_OK);
    CHECK_ST(qt_send(dst, body_of(100, 3), NULL, NULL, NULL), ST_OK);
    char handle[MOVE_HANDLE_MAX];
    CHECK_ST(queues_start_move_task(qs, QT_ARN("dlq"), QT_ARN("dst"), 500, handle, &err), ST_OK);
    uint64_t moved = 99;
    qt_advance(qs, 100);
    CHECK_STR(task_status(qs, QT_ARN("dlq"), &moved), "RUNNING");
    CHECK_INT(moved, 0);
    CHECK_STR(qt_counts(dlq), "2/0/0");
    recv_res_t rr;
    CHECK_INT(qt_recv(dst, 10, 30, &rr), 2);
    CHECK_ST(queue_delete_message(dst, rr.receipts[0], &err), ST_OK);
    qt_advance(qs, 100);
    CHECK_STR(task_status(qs, QT_ARN("dlq"), &moved), "RUNNING");
    CHECK_INT(moved, 1);
    CHECK_STR(qt_counts(dlq), "1/0/0");
    CHECK_INT(queue_bytes(dst), 1224);
    CHECK_ST(queue_delete_message(dst, rr.receipts[1], &err), ST_OK);
    qt_advance(qs, 100);
    CHECK_STR(task_status(qs, QT_ARN("dlq"), &moved), "COMPLETED");
    CHECK_INT(moved, 2);
    CHECK_INT(qt_recv(dst, 10, 30, &rr), 2);
    CHECK(rr.msgs[0]->body[0] == 'a' && rr.msgs[1]->body[0] == 'b'); /* moved in order */
    queues_free(qs);
}
