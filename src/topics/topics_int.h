/*
 * topics_int — the SNS engine's internal structures, shared by the files of
 * src/topics/ only (topics.c registry and records, subs.c subscriptions,
 * publish.c fan-out, delivery.c the endpoint outbox and retry policy).
 *
 * Ownership: topics_t owns topics (by ARN and in creation order); a topic
 * owns its subscriptions; a subscription owns its compiled filter. The outbox
 * holds deliveries by id; a delivery names its subscription by id, so an
 * unsubscribe simply lets its owed deliveries lapse.
 */
#ifndef SLUICE_TOPICS_INT_H
#define SLUICE_TOPICS_INT_H

#include "topics/filter.h"
#include "topics/signer.h"
#include "topics/topics.h"
#include "util/buf.h"
#include "util/heap.h"
#include "util/hmap.h"
#include "util/list.h"

enum {
    REC_TOPIC_PUT = 40,
    REC_TOPIC_DEL = 41,
    REC_SUB_PUT = 42,
    REC_SUB_DEL = 43,
    REC_FIFO_PUB = 44, /* topic id, seq, dedup key, message id, expiry */
    REC_DLV_PUT = 45,
    REC_DLV_DEL = 46,
};

#define TOPIC_DEDUP_WINDOW_MS (5 * 60 * 1000)
#define PUBLISH_MAX_BYTES (256 * 1024)
#define TOPICS_PAGE 100 /* ListTopics / ListSubscriptions page size, as AWS */

/* An SNS delivery policy, resolved (healthyRetryPolicy + throttle). */
typedef struct dpolicy {
    int min_delay, max_delay; /* seconds */
    int num_retries, no_delay, min_retries, max_retries;
    int backoff; /* DP_LINEAR, ... */
    int max_per_second; /* 0: none */
    int no_overrides;   /* topic: disableSubscriptionOverrides */
    char content_type[128]; /* requestPolicy.headerContentType */
} dpolicy_t;
enum { DP_LINEAR, DP_ARITHMETIC, DP_GEOMETRIC, DP_EXPONENTIAL };

typedef struct tdedup {
    char *key;
    size_t keylen;
    char msg_id[37];
    uint64_t seq, expires;
    list_t link; /* t->dedup_order, oldest first */
} tdedup_t;

struct topic {
    topics_t *tp;
    uint64_t id;
    char *name, *arn;
    int fifo;
    kvv_t attrs; /* settable attributes as set, by name */
    kvv_t tags;
    list_t subs;
    filter_set_t *filters; /* the subscriptions' filter policies, by subscription id */
    size_t unfiltered;     /* subscriptions without a filter policy */
    list_t link; /* tp->order */
    uint64_t next_seq;
    hmap_t dedup;
    list_t dedup_order;
    uint64_t subs_deleted;
    topic_counts_t counts;
    /* Confirmed subscriptions with a filter policy, per protocol, as of
     * tp->subs_gen == filtered_gen (recounted on a publish after a change). */
    uint32_t nfiltered[TOPIC_PROTOCOLS];
    uint64_t filtered_gen;
};

struct sub {
    topic_t *t;
    uint64_t id;
    char *arn, *protocol, *endpoint, *owner, *token;
    int pending, auth_unsub;
    kvv_t attrs; /* settable attributes as set */
    filter_t *filter; /* compiled FilterPolicy, or NULL */
    int proto;        /* index in the protocol table (topics_protocol_name) */
    int raw;
    char *dlq_arn;
    list_t link; /* t->subs */
};

typedef struct outbox_item {
    uint64_t id, sub_id, created;
    char *kind, *message_id;
    char *body;
    size_t body_len;
    int attempt;      /* attempts made so far */
    int in_flight;    /* the deliverer has it */
    heap_node_t due;  /* tp->retry_heap while waiting */
    uint64_t due_at;
    char *last_error;
} outbox_item_t;

typedef struct deliverer {
    char protocol[16];
    topics_deliver_fn fn;
    void *arg;
} deliverer_t;

struct topics {
    char *region, *account, *base_url;
    char *arn_prefix; /* "arn:aws:sns:REGION:ACCOUNT:", for topics_find */
    size_t arn_prefix_len;
    store_t *store;
    queues_t *qs;
    hmap_t by_arn;
    hmap_t subs_by_arn;
    hmap_t subs_by_id;
    list_t order; /* topics in creation order */
    uint64_t next_id, next_sub, next_dlv;
    hmap_t outbox;      /* id → outbox_item_t */
    heap_t retry_heap;  /* outbox items waiting for their next attempt */
    const signer_t *signer; /* NULL: messages go unsigned */
    filter_ids_t matched;   /* scratch for fan-out: reused, not allocated per publish */
    deliverer_t deliverers[4];
    int ndeliverers;
    uint64_t (*clock)(void);
    void (*deadline_cb)(void *, uint64_t);
    void *deadline_arg;
    int replaying;
    topics_stats_t stats;
    uint64_t subs_gen; /* bumped by every change of a subscription's filter, state or existence */
};

/* topics.c */
void topics__emit(topics_t *tp, uint8_t type, const buf_t *b);
/* An atomic store group around a multi-record change (no-op while replaying). */
void topics__begin(topics_t *tp);
void topics__end(topics_t *tp);
uint64_t topics__now(const topics_t *tp);
void topics__put_topic(topic_t *t);
void topics__ask_deadline(topics_t *tp, uint64_t at);
topic_t *topics__topic_by_id(const topics_t *tp, uint64_t id);
int topics__json_ok(const char *s);
char *topics__page_token(uint64_t id);
status_t topics__page_from(const char *token, uint64_t *from, err_t *err);

/* subs.c */
void subs__encode(const sub_t *s, buf_t *b);
int subs__apply_put(topics_t *tp, reader_t *r);
int subs__apply_del(topics_t *tp, reader_t *r);
void subs__free(sub_t *s);
/* Counts an outcome of a delivery to s (topic_counts_t). */
void subs__count(const sub_t *s, int outcome);
sub_t *subs__by_id(const topics_t *tp, uint64_t id);
void subs__drop(sub_t *s);
/* The delivery policy in force for s (topic's, then subscription's, then defaults). */
void subs__policy(const sub_t *s, dpolicy_t *out);
int subs__parse_policy(const char *json, int topic_level, dpolicy_t *out, char *why, size_t why_len);
/* The topic's EffectiveDeliveryPolicy: its DeliveryPolicy with defaults filled in. */
void subs__effective_topic_policy(const topic_t *t, buf_t *out);

/* publish.c */
void publish__expire(topic_t *t, uint64_t now);
int publish__apply_fifo(topics_t *tp, reader_t *r);
void publish__dump_fifo(const topic_t *t, store_snap_t *snap);
void publish__free_dedup(topic_t *t);
/* Renders the JSON envelope of a message for s. */
void publish__envelope(const sub_t *s, const char *type, const char *msg_id, const char *subject, const char *message,
                       size_t message_len, const pub_attr_t *attrs, size_t nattrs, const char *seq, const char *token,
                       buf_t *out);

/* delivery.c */
void delivery__owe(topics_t *tp, const sub_t *s, const char *kind, const char *msg_id, const char *body, size_t len);
int delivery__apply_put(topics_t *tp, reader_t *r);
int delivery__apply_del(topics_t *tp, reader_t *r);
void delivery__dump(const topics_t *tp, store_snap_t *snap);
uint64_t delivery__tick(topics_t *tp, uint64_t now);
void delivery__free_all(topics_t *tp);
/* What would have been delivered, for the subscription's dead-letter queue:
 * the body and, for raw queue deliveries, the attributes and FIFO ids. */
typedef struct dead_letter {
    const char *msg_id, *body;
    size_t len;
    const msg_attr_t *attrs;
    size_t nattrs;
    const char *group_id, *dedup_id;
    /* 1: a message SNS accepted and held (an outbox item): the DLQ takes it
     * past its bound on bytes held rather than lose it. 0: one a queue just
     * refused in a Publish; a full DLQ drops it, logged, like a missing one. */
    int held;
} dead_letter_t;
/* Puts it on the subscription's dead-letter queue (or logs the drop). */
void delivery__dead_letter(topics_t *tp, const sub_t *s, const dead_letter_t *dl, const char *why);

#endif
