/*
 * queue_int — the engine's internal structures, shared by the files of
 * src/queues/ only. Cross-file internals carry a double underscore.
 *
 * Per queue:
 *   msgs       seq → message, every message the queue holds
 *   by_age     min-heap on the retention origin (SentTimestamp for standard
 *              queues, enqueue time for FIFO) so expiry is O(expired)
 *   ready      standard: deliverable messages, oldest first
 *   groups     FIFO: group id → group; a group lists its messages in order
 *   ready_groups FIFO: groups with no message in flight whose head is visible
 * Engine-wide:
 *   deadlines  messages that are in flight or delayed, by visible_at
 *
 * Message states: READY (deliverable), INFLIGHT (received, hidden until
 * visible_at), DELAYED (sent with a delay, hidden until visible_at). The
 * counters n_visible/n_inflight/n_delayed follow the states exactly; they are
 * the Approximate* attributes. q->bytes and qs->bytes (the sum over queues)
 * count msg__bytes of every message held, kept by queue__insert and
 * queue__remove alone.
 */
#ifndef SLUICE_QUEUE_INT_H
#define SLUICE_QUEUE_INT_H

#include "queues/queues.h"
#include "util/buf.h"
#include "util/hmap.h"
#include "util/seqmap.h"
#include "util/kv.h"

enum { MSG_READY = 1, MSG_INFLIGHT, MSG_DELAYED };

#define DEDUP_WINDOW_MS (5 * 60 * 1000)
#define PURGE_WINDOW_MS (60 * 1000)
#define DELETED_NAME_WINDOW_MS (60 * 1000)
#define SEQ_DISPLAY_BASE 10000000000000000000ull /* 20-digit SequenceNumbers */

typedef struct group {
    char *id;
    list_t msgs;       /* messages of the group in seq order */
    list_t ready_link; /* in q->ready_groups while its head is READY */
} group_t;

typedef struct dedup {
    char *key;
    size_t keylen;
    char msg_id[37];
    uint64_t seq;
    uint64_t expires;
    list_t link; /* q->dedup_order, oldest first */
} dedup_t;

typedef struct attempt {
    char *id;
    uint64_t expires;
    int n;
    uint64_t seqs[10];
    uint64_t nonces[10];
    uint64_t vis_until[10];
    list_t link;
} attempt_t;

struct queue {
    queues_t *qs;
    uint64_t id;
    char *name;
    int fifo;
    /* settable attributes */
    int delay, max_size, retention, wait, visibility;
    int kms_reuse, sse;
    char *kms_key;
    int content_dedup, dedup_scope_group, throughput_group;
    /* The deduplication scope in force: the DeduplicationScope the queue was
     * created with. AWS updates the attribute on SetQueueAttributes but keeps
     * deduplicating as at creation (recorded: test_fifo_change_to_*_throughput). */
    int dedup_by_group;
    char *redrive_policy; /* as set; NULL when none */
    char *dlq_arn;        /* parsed from redrive_policy */
    int max_receive;
    char *redrive_allow;
    char *policy;
    uint64_t created, modified; /* wall ms */
    kvv_t tags;
    /* messages */
    seqmap_t msgs;
    heap_t by_age;
    list_t ready;
    hmap_t groups;
    list_t ready_groups;
    uint64_t next_seq;
    uint64_t n_visible, n_inflight, n_delayed;
    uint64_t bytes; /* msg__bytes of the messages held */
    /* Live operations since the daemon started (replay does not count):
     * the metrics' counters (queue_get_counts). */
    uint64_t n_sent, n_received, n_deleted, n_dead_lettered;
    hmap_t dedup;
    list_t dedup_order;
    hmap_t attempts;
    list_t attempt_order;
    list_t waiters;
    list_t notify_link;
    uint64_t last_purge;
};

typedef struct move_task move_task_t;

struct queues {
    char *region, *account;
    store_t *store;
    buf_t rec_buf; /* the record being encoded (codec.c): one buffer, kept */
    char *arn_prefix; /* "arn:aws:sqs:REGION:ACCOUNT:", for queues_find_arn */
    size_t arn_prefix_len;
    hmap_t by_name;
    hmap_t by_id;
    uint64_t next_id;
    heap_t deadlines;
    queues_clock_fn clock;
    void (*deadline_cb)(void *, uint64_t);
    void *deadline_arg;
    uint64_t armed; /* deadline last asked for, 0 none */
    uint64_t max_inflight; /* per queue (see queue_receive) */
    uint64_t max_queue_bytes, max_total_bytes; /* see queue_check_room */
    uint64_t bytes;                            /* held by all queues */
    list_t notify_list;
    int notifying;
    hmap_t deleted; /* name → deleted_t, for QueueDeletedRecently */
    list_t tasks;   /* move tasks, newest first */
    uint64_t next_task;
    int replaying;
    uint64_t next_sweep;
    struct {
        queues_dead_letter_fn cb;
        void *arg;
    } dl_hooks[QUEUES_DEAD_LETTER_HOOKS];
};

/* A name deleted at `at` (wall ms): CreateQueue refuses it for 60 s. */
typedef struct deleted_name {
    char *name;
    uint64_t at;
} deleted_name_t;

/* queues.c */
/* Logs a dead-letter move and runs the dead-letter hooks (live moves only). */
void queues__dead_lettered(queues_t *qs, queue_t *src, queue_t *dlq, const message_t *m);
void queues__remember_deleted(queues_t *qs, const char *name, uint64_t at);
void queues__notify(queue_t *q);
void queues__flush_notify(queues_t *qs);
void queues__schedule(queues_t *qs, message_t *m);
queue_t *queues__by_id(const queues_t *qs, uint64_t id);
queue_t *queues__new_queue(queues_t *qs, uint64_t id, const char *name, int fifo);
void queues__drop_queue(queues_t *qs, queue_t *q);

/* attrs.c — queue attributes */
void qattr__defaults(queue_t *q);
/* Validates and applies attrs; creating selects CreateQueue's rules. */
status_t qattr__set(queue_t *q, const kv_t *attrs, size_t n, int creating, err_t *err);
/* Validates attrs against a scratch queue and reports the first that differs
 * from q (QueueAlreadyExists) */
status_t qattr__compare(queue_t *q, const kv_t *attrs, size_t n, err_t *err);
status_t qattr__get(queue_t *q, const char *const *names, size_t n, kvv_t *out, err_t *err);
status_t qattr__check_fifo_flag(const char *name, const kv_t *attrs, size_t n, int *fifo, err_t *err);

/* message.c — message objects and attribute encoding */
status_t msg__validate(const queue_t *q, const send_req_t *r, err_t *err);
message_t *msg__new(queue_t *q, const send_req_t *r, uint64_t now);
/* What m counts against the bounds: queue_msg_bytes of the request it came from. */
size_t msg__bytes(const message_t *m);
void msg__free(message_t *m);
void msg__encode_attrs(const msg_attr_t *a, size_t n, buf_t *out);
void msg__receipt(const message_t *m, char out[RECEIPT_MAX]);
int msg__parse_receipt(const char *s, uint64_t *qid, uint64_t *seq, uint64_t *nonce);
void msg__sys_md5(const message_t *m, char out[33]);

/* meta.c */
status_t queue__check_tags(const kv_t *tags, size_t n, size_t total, err_t *err);

/* queue.c — placing messages in the structures of their queue */
void queue__insert(queue_t *q, message_t *m);
/* Whether q's own bound leaves room for `bytes` more (moves: the total is unchanged). */
int queue__room(const queue_t *q, uint64_t bytes);
void queue__remove(queue_t *q, message_t *m);
void queue__set_state(queue_t *q, message_t *m, int state);
message_t *queue__find(const queue_t *q, uint64_t seq);
void queue__clear(queue_t *q);
void queue__expire(queue_t *q, uint64_t now);
void queue__dedup_add(queue_t *q, const char *key, size_t keylen, const char *msg_id, uint64_t seq,
                      uint64_t expires);
void queue__dedup_expire(queue_t *q, uint64_t now);

/* redrive.c — dead-letter moves and move tasks */
/* Validates a RedrivePolicy ("" clears it); on success *dlq is the target ARN
 * (malloc'd) or NULL when cleared, and *max its maxReceiveCount. */
status_t redrive__parse_policy(queue_t *q, const char *json, int creating, char **dlq, int *max, err_t *err);
status_t redrive__parse_allow(const char *json, err_t *err);
char *redrive__normalize(const char *dlq_arn, int max_receive);
/* A client's policy text in the stored form when it parses, else a copy. */
char *redrive__normalize_text(const char *json);
/* Moves m from its queue into dst (DLQ move when dlq_source is set). */
void redrive__move(queue_t *src, message_t *m, queue_t *dst, int to_dlq);
void redrive__tick(queues_t *qs, uint64_t now);
uint64_t redrive__next_deadline(const queues_t *qs);
void redrive__free_tasks(queues_t *qs);
int redrive__dump_tasks(queues_t *qs, store_snap_t *snap);
int redrive__apply_task(queues_t *qs, const void *p, size_t n);

/* codec.c — records */
enum {
    REC_QUEUE_PUT = 1,
    REC_QUEUE_DEL = 2,
    REC_MSG_PUT = 3,
    REC_MSG_RECV = 4,
    REC_MSG_VIS = 5,
    REC_MSG_DEL = 6,
    REC_MSG_MOVE = 7,
    REC_PURGE = 8,
    REC_DEDUP = 9,
    REC_TASK_PUT = 10,
    REC_NAME_DELETED = 11, /* snapshots only: a deleted name still in its 60 s */
};
void rec__queue_put(queue_t *q);
void rec__queue_del(queue_t *q, uint64_t at);
void rec__msg_put(queue_t *q, const message_t *m, const char *dedup_key, size_t dedup_len);
void rec__msg_recv(queue_t *q, const message_t *m);
void rec__msg_vis(queue_t *q, const message_t *m);
void rec__msg_del(queue_t *q, uint64_t seq);
void rec__msg_move(queue_t *src, uint64_t src_seq, queue_t *dst, const message_t *m);
void rec__purge(queue_t *q);
void rec__task_put(queues_t *qs, const void *p, size_t n);
void queue__encode_def(const queue_t *q, buf_t *b);
void msg__encode(const message_t *m, buf_t *b);
message_t *msg__decode(queue_t *q, reader_t *r);

#endif
