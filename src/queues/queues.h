/*
 * queues — the SQS engine: standard and FIFO queues of one account, with
 * AWS semantics (visibility, delay, retention, long-poll wake-ups, receive
 * counts, dead-letter redrive, FIFO groups and deduplication, purge, tags,
 * permissions, message move tasks).
 *
 * Model. All state lives in memory, owned by the event-loop thread. Every
 * mutation is described by one record handed to the store (store_append)
 * before the call returns; recovery replays those records through
 * queues_apply(), and a snapshot is the state written out as records by
 * queues_dump(). Replies that report a mutation must wait for the store's
 * durable LSN to reach store_last_lsn() as it was when the reply was made.
 *
 * Time. The engine reads wall-clock milliseconds through qs->clock (real
 * time unless a test installs its own). Deadlines (visibility, delay) are
 * wall-clock so they survive a restart. queues_tick() does the work that is
 * due; the engine asks for a wake-up through the deadline callback whenever
 * its earliest deadline moves earlier.
 *
 * What the engine knows nothing of: HTTP, JSON/XML wire shapes, URLs. It
 * takes names, C strings and numbers, and returns status_t with the AWS
 * message text in err_t. Protocol front-ends map status_t to wire errors.
 * (One exception, outside every SQS path: msg_request_id reads the request
 * id a body carries, for mappings, the gateway and the dead-letter log line.)
 *
 * Bounded memory. Every message counts its bytes (queue_msg_bytes: body,
 * encoded attributes and QUEUE_MSG_OVERHEAD) against its queue's bound and
 * the bound of all queues together. Only new messages are refused at a
 * bound (queue_send: ST_OVER_LIMIT). Messages already held are not: a
 * dead-letter move is never refused (a move changes no total), nor a send
 * with send_req_t.unbounded; a move task waits for room in its destination.
 * Recovery applies every record whatever the bounds. So a queue can be over
 * its bound — after a restart with smaller bounds, after a dead-letter move
 * — and takes new messages again once deletes bring it under. The counts
 * are kept where every message enters and leaves a queue (queue__insert,
 * queue__remove), so replay and snapshot load rebuild them exactly.
 *
 * Dead-letter moves (a receive that would exceed maxReceiveCount) are
 * logged with the message's request id and reported to the dead-letter
 * hooks (queues_add_dead_letter_cb): that is how a request's record learns
 * that its message will not be retried.
 */
#ifndef SLUICE_QUEUES_H
#define SLUICE_QUEUES_H

#include <stddef.h>
#include <stdint.h>

#include "store/store.h"
#include "util/heap.h"
#include "util/kv.h"
#include "util/list.h"
#include "util/status.h"

typedef struct queues queues_t;
typedef struct queue queue_t;
typedef struct message message_t;

#define QUEUE_NAME_MAX 80
#define RECEIPT_MAX 64
#define MOVE_HANDLE_MAX 256

#define QUEUE_INFLIGHT_MAX 120000 /* AWS's in-flight bound per queue */
#define QUEUE_BYTES_MAX (1ull << 30)         /* default bound of the bytes one queue holds */
#define QUEUES_TOTAL_BYTES_MAX (2ull << 30)  /* default bound of the bytes all queues hold */
/* What a message counts beyond its body and attributes: its object, ids and
 * index entries take about 350 bytes on x86-64 (a 1-byte standard message);
 * the rest is room for FIFO ids and allocator slack. */
#define QUEUE_MSG_OVERHEAD 512

typedef struct queues_config {
    const char *region;       /* for ARNs, e.g. "us-east-1" */
    const char *account;      /* 12 digits, e.g. "000000000000" */
    uint64_t max_inflight;    /* per queue; 0: QUEUE_INFLIGHT_MAX */
    uint64_t max_queue_bytes; /* bytes held per queue; 0: QUEUE_BYTES_MAX */
    uint64_t max_total_bytes; /* bytes held by all queues; 0: QUEUES_TOTAL_BYTES_MAX */
} queues_config_t;

/* store may be NULL: nothing is persisted (unit tests). */
queues_t *queues_new(const queues_config_t *cfg, store_t *store);
void queues_free(queues_t *qs);

typedef uint64_t (*queues_clock_fn)(void);
void queues_set_clock(queues_t *qs, queues_clock_fn clock);
uint64_t queues_now(const queues_t *qs);
/* cb(arg, wall_ms) runs whenever the earliest deadline becomes earlier. */
void queues_set_deadline_cb(queues_t *qs, void (*cb)(void *, uint64_t), void *arg);
/* Does what is due (visibility/delay expiry, retention, move tasks); returns
 * the next deadline in wall ms, or 0 when nothing is scheduled. */
uint64_t queues_tick(queues_t *qs);

/* Store hooks: recovery and snapshot. */
int queues_apply(void *qs, uint8_t type, const void *payload, size_t len);
int queues_dump(void *qs, store_snap_t *snap);

const char *queues_account(const queues_t *qs);
const char *queues_region(const queues_t *qs);

/* ---- queues -------------------------------------------------------------- */

/* Creates a queue, or returns the existing one when every given attribute
 * matches it (QueueAlreadyExists otherwise). *out is owned by the engine and
 * valid until the queue is deleted. */
status_t queues_create(queues_t *qs, const char *name, const kv_t *attrs, size_t nattrs, const kv_t *tags,
                       size_t ntags, queue_t **out, err_t *err);
status_t queues_delete(queues_t *qs, queue_t *q, err_t *err);
queue_t *queues_find(const queues_t *qs, const char *name);
/* Finds "arn:aws:sqs:<region>:<account>:<name>" of this engine. */
queue_t *queues_find_arn(const queues_t *qs, const char *arn);

/* Queue names in name order after next_token (NULL: from the start) that
 * start with prefix (NULL: all). max 0 means "no MaxResults": at most 1000 and
 * no token. *next_out is set (malloc'd, caller frees) when more remain. */
status_t queues_list(const queues_t *qs, const char *prefix, int max, const char *next_token, strv_t *names,
                     char **next_out, err_t *err);
/* Queues whose RedrivePolicy targets q; same paging rules as queues_list. */
status_t queues_dead_letter_sources(const queues_t *qs, const queue_t *q, int max, const char *next_token,
                                    strv_t *names, char **next_out, err_t *err);

const char *queue_name(const queue_t *q);
int queue_is_fifo(const queue_t *q);
/* Writes the queue's ARN into out (size >= 256). */
void queue_arn(const queue_t *q, char *out, size_t n);

/* names: attribute names as requested ("All" allowed). Appends name/value
 * pairs to out in AWS's order. */
status_t queue_get_attributes(queue_t *q, const char *const *names, size_t nnames, kvv_t *out, err_t *err);
status_t queue_set_attributes(queue_t *q, const kv_t *attrs, size_t nattrs, err_t *err);
/* The queue's ReceiveMessageWaitTimeSeconds (long-poll default). */
int queue_default_wait(const queue_t *q);

status_t queue_tag(queue_t *q, const kv_t *tags, size_t n, err_t *err);
status_t queue_untag(queue_t *q, const char *const *keys, size_t n, err_t *err);
void queue_list_tags(const queue_t *q, kvv_t *out);

status_t queue_add_permission(queue_t *q, const char *label, const char *const *accounts, size_t naccounts,
                              const char *const *actions, size_t nactions, err_t *err);
status_t queue_remove_permission(queue_t *q, const char *label, err_t *err);

status_t queue_purge(queue_t *q, err_t *err);

/* ---- messages ------------------------------------------------------------ */

/* One message attribute as the client gave it. For Binary types value holds
 * the decoded bytes. */
typedef struct msg_attr {
    const char *name;
    const char *type;
    const char *value;
    size_t value_len;
} msg_attr_t;

typedef struct send_req {
    const char *body;
    size_t body_len;
    int body_given;     /* MessageBody present (even if empty) */
    long delay;         /* DelaySeconds, when delay_given */
    int delay_given;
    const msg_attr_t *attrs;
    size_t nattrs;
    const msg_attr_t *sys_attrs; /* MessageSystemAttributes (AWSTraceHeader) */
    size_t nsys;
    const char *group_id; /* NULL when not given */
    const char *dedup_id; /* NULL when not given */
    const char *sender_id;
    /* 1: the bounds on bytes held do not refuse this message — one already
     * accepted elsewhere (a Publish that passed queue_check_room, a dead
     * letter leaving the SNS outbox). */
    int unbounded;
} send_req_t;

typedef struct send_res {
    char message_id[40];
    char md5_body[33];
    char md5_attrs[33]; /* "" when the message has no attributes */
    char md5_sys[33];   /* "" when it has no system attributes */
    uint64_t seq;       /* FIFO SequenceNumber; 0 on standard queues */
} send_res_t;

/* The size AWS counts against MaximumMessageSize: body plus, for every
 * attribute, name + type + value bytes. */
size_t send_req_size(const send_req_t *r);

/* The bytes a message sent with r counts against the bounds while it is
 * held: body + encoded attributes (u32 count, then per attribute u16 + name
 * + NUL, u16 + type + NUL, u32 + value) + QUEUE_MSG_OVERHEAD. It does not
 * change while the message is held, moves included. */
size_t queue_msg_bytes(const send_req_t *r);

/* ST_OK when q can take a message of `bytes` (queue_msg_bytes) now: its own
 * bytes and the bytes of all queues stay within their bounds. Otherwise
 * ST_OVER_LIMIT with the bound's value in err. */
status_t queue_check_room(const queue_t *q, size_t bytes, err_t *err);
/* The bytes q holds, and all queues (exact: every message counted once). */
uint64_t queue_bytes(const queue_t *q);
uint64_t queues_bytes(const queues_t *qs);

/* res may be NULL when the caller needs no result (fan-out, destinations):
 * the MD5 digests of the reply are then not computed. A new message that
 * does not fit (queue_check_room, unless r->unbounded) is refused with
 * ST_OVER_LIMIT after every validation; a FIFO duplicate is answered as
 * always, full or not (it adds nothing). */
status_t queue_send(queue_t *q, const send_req_t *r, send_res_t *res, err_t *err);

/* A message as seen by a receiver. Read-only; valid until the next engine call. */
struct message {
    uint64_t seq;
    char id[37];
    uint32_t body_len;
    char *body;
    uint32_t attrs_len; /* encoded attributes, see msg_attrs_* */
    uint8_t *attrs;
    char *group_id, *dedup_id, *sender_id, *trace_header, *dlq_source_arn;
    uint64_t sent_ts, first_recv_ts, visible_at, enq_ts;
    uint64_t recv_ts; /* the latest receive: ChangeMessageVisibility's 12 hours count from it */
    uint32_t recv_count;
    uint64_t nonce; /* current receipt */
    unsigned char md5_body[16];
    /* engine internals below */
    queue_t *q;
    int state;
    heap_node_t deadline;
    heap_node_t age;
    list_t link;
    struct group *group;
};

typedef struct recv_req {
    long max;        /* 1..10 */
    long visibility; /* when visibility_given; else the queue's VisibilityTimeout */
    int visibility_given;
    const char *attempt_id;
} recv_req_t;

typedef struct recv_res {
    message_t *msgs[10];
    char receipts[10][RECEIPT_MAX];
    int n;
} recv_res_t;

/* Returns at once with what is available (possibly nothing). */
status_t queue_receive(queue_t *q, const recv_req_t *r, recv_res_t *res, err_t *err);
status_t queue_delete_message(queue_t *q, const char *receipt, err_t *err);
status_t queue_change_visibility(queue_t *q, const char *receipt, long timeout, err_t *err);

/* Iterates the encoded attributes of m: returns 1 and fills a while more remain. */
int msg_attrs_next(const uint8_t *p, uint32_t len, size_t *off, msg_attr_t *a);
/* MD5 over the given attributes in AWS's encoding (name-sorted), as hex. */
void msg_attrs_md5(const msg_attr_t *attrs, size_t n, char out[33]);

/* Sluice's request id of a message, the one convention shared by mappings,
 * the gateway and log lines: its String message attribute "requestId";
 * else, for a body that is an SNS envelope (a non-raw subscription's
 * {"Type":"Notification",…,"MessageAttributes":{"requestId":{"Type":
 * "String","Value":…}}}), that attribute's value; else a "requestId" string
 * of a JSON object body. malloc'd (caller frees), or NULL when there is none. */
char *msg_request_id(const message_t *m);
/* The body half of msg_request_id (one parse, only of a body that starts
 * with '{'), for a caller that has looked at the attributes itself. */
char *msg_body_request_id(const char *body, size_t len);

/* ---- dead-letter hook --------------------------------------------------- */

/* Called when a receive moves m from src to its dead-letter queue dlq
 * because m had already been received maxReceiveCount times. m is the
 * message as it now sits in dlq (body, attributes, recv_count = the
 * receives it had in src); request_id is msg_request_id(m) or NULL. Both
 * are valid during the call only. It runs on the loop thread inside the
 * receive that moved m, so it must not call back into the queues engine.
 * Not called for moves replayed at recovery, nor for move tasks (redrive
 * out of a dead-letter queue). */
typedef void (*queues_dead_letter_fn)(void *arg, queue_t *src, queue_t *dlq, const message_t *m,
                                      const char *request_id);
#define QUEUES_DEAD_LETTER_HOOKS 4
/* Adds a hook; hooks run in the order added. -1 when QUEUES_DEAD_LETTER_HOOKS
 * are set already. */
int queues_add_dead_letter_cb(queues_t *qs, queues_dead_letter_fn cb, void *arg);
/* Removes the hook added with exactly cb and arg (if any). */
void queues_remove_dead_letter_cb(queues_t *qs, queues_dead_letter_fn cb, void *arg);

/* ---- long polling ------------------------------------------------------- */

/* A receive waiting for messages. wake() runs on the loop when the queue may
 * have something for it (the waiter has been removed from the queue's list
 * first), or when the queue is deleted (q_gone set). */
typedef struct queue_waiter {
    list_t link;
    queue_t *q;
    int q_gone; /* the queue was deleted: q is no longer valid */
    int stop;   /* shutting down: answer now, do not wait again */
    void (*wake)(struct queue_waiter *w);
} queue_waiter_t;

void queue_wait(queue_t *q, queue_waiter_t *w);
void queue_unwait(queue_waiter_t *w);
/* Wakes every waiter on every queue with stop set (shutdown: they answer
 * with what they have). */
void queues_wake_all(queues_t *qs);

/* ---- message move tasks ------------------------------------------------- */

typedef struct move_task_view {
    char handle[MOVE_HANDLE_MAX];
    const char *status; /* RUNNING, COMPLETED, CANCELLING, CANCELLED, FAILED */
    char source_arn[256];
    char dest_arn[256]; /* "" when moving back to the original sources */
    int rate;           /* -1 when not set */
    uint64_t moved, to_move, started_ts;
    char failure[256];
} move_task_view_t;

status_t queues_start_move_task(queues_t *qs, const char *source_arn, const char *dest_arn, int rate,
                                char handle_out[MOVE_HANDLE_MAX], err_t *err);
status_t queues_cancel_move_task(queues_t *qs, const char *handle, uint64_t *moved, err_t *err);
/* Most recent first; at most max (1..10). */
status_t queues_list_move_tasks(queues_t *qs, const char *source_arn, int max, move_task_view_t *out, int *n,
                                err_t *err);

typedef struct queues_stats {
    uint64_t queues, messages, inflight, delayed, waiters, bytes;
} queues_stats_t;
void queues_get_stats(const queues_t *qs, queues_stats_t *out);

/* One queue's depth and what was done with it since the daemon started
 * (live operations: replayed records count nothing). sent counts messages
 * a queue took (a FIFO duplicate is not one), received messages handed
 * out (a FIFO receive attempt answered again is not counted twice),
 * deleted messages deleted by receipt, dead_lettered messages moved to the
 * dead-letter queue by a receive. oldest_ms is the retention origin of the
 * oldest message held (wall ms; 0: none). */
typedef struct queue_counts {
    uint64_t visible, inflight, delayed, oldest_ms;
    uint64_t sent, received, deleted, dead_lettered;
} queue_counts_t;
void queue_get_counts(const queue_t *q, queue_counts_t *out);
/* Iterates the queues in no particular order: *it starts at 0; NULL at the
 * end. Queues must not be created or deleted during the walk. */
queue_t *queues_next(const queues_t *qs, size_t *it);

#endif
