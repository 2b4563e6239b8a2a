/*
 * topics — the SNS engine: standard and FIFO topics of one account, their
 * subscriptions (sqs, http, https, and the function seam), filter policies,
 * publishing with fan-out, and the delivery of messages to endpoints with
 * the SNS delivery policy's retries and the subscription's dead-letter queue.
 *
 * Model. All state lives in memory on the event-loop thread; every mutation
 * is a record handed to the store, as in the queues engine. A publish is one
 * atomic store group (store_group_begin/end): the messages it puts into local
 * queues, the deliveries it owes to remote endpoints and, on FIFO topics, its
 * sequence number and deduplication entry are durable together or not at all,
 * so a crash never leaves some subscriptions served and others not.
 *
 * Deliveries to endpoints (http, https, functions) sit in an outbox: a
 * DLV_PUT record when owed, a DLV_DEL record once delivered or handed to the
 * dead-letter queue. The engine does not speak HTTP: the daemon registers a
 * deliverer per protocol (topics_set_deliverer) that performs one attempt
 * and reports back through topics_delivery_result. Attempt counts are not
 * persisted: after a restart every owed delivery starts its policy over
 * (delivery is at least once, as in SNS).
 *
 * What the engine knows nothing of: HTTP, XML, the query protocol. Names,
 * C strings and numbers in; status_t and AWS's message text in err_t out.
 */
#ifndef SLUICE_TOPICS_H
#define SLUICE_TOPICS_H

#include <stddef.h>
#include <stdint.h>

#include "queues/queues.h"
#include "store/store.h"
#include "util/kv.h"
#include "util/status.h"

typedef struct topics topics_t;
typedef struct topic topic_t;
typedef struct sub sub_t;

#define TOPIC_ARN_MAX 320
#define SUB_ARN_MAX 384

typedef struct topics_config {
    const char *region;
    const char *account;
    /* Where clients reach this server ("http://127.0.0.1:4566"): the base of
     * SubscribeURL, UnsubscribeURL and SigningCertURL in messages. */
    const char *base_url;
} topics_config_t;

/* qs is where sqs subscriptions deliver; store may be NULL (unit tests). */
topics_t *topics_new(const topics_config_t *cfg, store_t *store, queues_t *qs);
/* Sets base_url once the listening port is known. */
void topics_set_base_url(topics_t *tp, const char *base_url);
const char *topics_region(const topics_t *tp);
/* Signs enveloped messages from now on (NULL: unsigned, Signature ""). The
 * signer must outlive the engine's use of it. */
struct signer;
void topics_set_signer(topics_t *tp, const struct signer *s);
void topics_free(topics_t *tp);

/* Records of this engine use types TOPICS_REC_MIN..TOPICS_REC_MAX. */
#define TOPICS_REC_MIN 40
#define TOPICS_REC_MAX 63
int topics_apply(void *tp, uint8_t type, const void *payload, size_t len);
int topics_dump(void *tp, store_snap_t *snap);

/* Does what is due (retries, dedup expiry); returns the next deadline in
 * wall ms or 0. The deadline callback runs when the earliest one moves earlier. */
uint64_t topics_tick(topics_t *tp);
void topics_set_deadline_cb(topics_t *tp, void (*cb)(void *, uint64_t), void *arg);
void topics_set_clock(topics_t *tp, uint64_t (*clock)(void));

/* ---- topics --------------------------------------------------------------- */

/* Creates a topic or returns the existing one when the given attributes and
 * tags agree with it. *out owned by the engine, valid until deleted. */
status_t topics_create(topics_t *tp, const char *name, const kv_t *attrs, size_t nattrs, const kv_t *tags,
                       size_t ntags, topic_t **out, err_t *err);
status_t topics_delete(topics_t *tp, topic_t *t, err_t *err);
topic_t *topics_find_arn(const topics_t *tp, const char *arn);
topic_t *topics_find(const topics_t *tp, const char *name); /* by name, in this region and account */
/* Topic ARNs in creation order, 100 a page; *next_out malloc'd when more remain. */
status_t topics_list(const topics_t *tp, const char *next_token, strv_t *arns, char **next_out, err_t *err);

const char *topic_arn(const topic_t *t);
int topic_is_fifo(const topic_t *t);
void topic_get_attributes(const topic_t *t, kvv_t *out);
status_t topic_set_attribute(topic_t *t, const char *name, const char *value, err_t *err);

status_t topics_tag(topics_t *tp, const char *arn, const kv_t *tags, size_t n, err_t *err);
status_t topics_untag(topics_t *tp, const char *arn, const char *const *keys, size_t n, err_t *err);
status_t topics_list_tags(const topics_t *tp, const char *arn, kvv_t *out, err_t *err);

/* ---- subscriptions ------------------------------------------------------------ */

/* Subscribes (idempotent for the same protocol, endpoint and attributes).
 * arn_out receives the subscription ARN, or "pending confirmation" when the
 * endpoint must confirm first and return_arn is 0. */
status_t topic_subscribe(topic_t *t, const char *protocol, const char *endpoint, const kv_t *attrs, size_t nattrs,
                         int return_arn, char arn_out[SUB_ARN_MAX], err_t *err);
/* Creates the subscription (confirmed, for config-declared endpoints), or
 * brings an existing one with the same protocol and endpoint to attrs. */
status_t topic_declare_sub(topic_t *t, const char *protocol, const char *endpoint, const kv_t *attrs, size_t nattrs,
                           err_t *err);
/* Confirms the subscription that was sent token (SNS finds it by the token
 * alone; the TopicArn of the request is only checked for form). A nonzero
 * auth_unsubscribe sets the subscription's flag for good: a later
 * confirmation with 0 leaves it set. */
status_t topics_confirm(topics_t *tp, const char *token, int auth_unsubscribe, char arn_out[SUB_ARN_MAX],
                        err_t *err);
/* Unsubscribing what does not exist succeeds (AWS is idempotent here). */
status_t topics_unsubscribe(topics_t *tp, const char *sub_arn, err_t *err);
sub_t *topics_find_sub(const topics_t *tp, const char *arn);
/* 1 when the subscription was confirmed with AuthenticateOnUnsubscribe=true:
 * unsubscribing it then needs a signature. */
int sub_auth_unsubscribe(const sub_t *s);

typedef struct sub_view {
    char arn[SUB_ARN_MAX]; /* or "PendingConfirmation" */
    char topic_arn[TOPIC_ARN_MAX];
    const char *protocol, *endpoint, *owner;
} sub_view_t;
/* Subscriptions of t (NULL: all topics), 100 a page (ListSubscriptions paging). */
status_t topics_list_subs(const topics_t *tp, const topic_t *t, const char *next_token, sub_view_t **out,
                          size_t *n, char **next_out, err_t *err);

void sub_get_attributes(const sub_t *s, kvv_t *out);
status_t sub_set_attribute(sub_t *s, const char *name, const char *value, err_t *err);

/* ---- publishing ----------------------------------------------------------------- */

typedef struct pub_attr {
    const char *name;
    const char *type; /* String, Number, Binary, String.Array (and custom suffixes) */
    const char *value; /* Binary: the decoded bytes; NULL when no value field was given */
    size_t value_len;
    int binary_field; /* the value came in BinaryValue (not StringValue) */
} pub_attr_t;

typedef struct publish_req {
    const char *message;
    size_t message_len;
    const char *subject;           /* NULL when absent */
    const char *structure;         /* "json" or NULL */
    const pub_attr_t *attrs;
    size_t nattrs;
    const char *group_id, *dedup_id; /* NULL when absent */
    /* The trace header (X-Amzn-Trace-Id; the gateway's request id), or
     * NULL: queue subscriptions get it as the AWSTraceHeader system
     * attribute, and the journal (util/trace.h) records the hops. */
    const char *trace;
} publish_req_t;

typedef struct publish_res {
    char message_id[37];
    char seq[24]; /* FIFO SequenceNumber; "" on standard topics */
} publish_res_t;

/* Publishes r: validation (topic_publish_check), FIFO deduplication, then
 * the fan-out as one atomic store group. ST_REQUEST_THROTTLED, with nothing
 * written or delivered, when a queue the message goes to has no room for it
 * (queue_check_room: the bounds on bytes held); err names the queue. */
status_t topic_publish(topic_t *t, const publish_req_t *r, publish_res_t *res, err_t *err);
/* Validates without publishing (PublishBatch checks every entry first: any
 * invalid entry fails the whole request, as AWS does). */
status_t topic_publish_check(const topic_t *t, const publish_req_t *r, err_t *err);
/* Bytes counted against the 256 KiB limit: message plus each attribute's
 * name, type and value. */
size_t publish__size(const publish_req_t *r);

/* ---- delivery to endpoints ------------------------------------------------------- */

typedef struct delivery {
    uint64_t id;
    const char *protocol, *endpoint;
    const char *sub_arn, *topic_arn, *message_id;
    const char *kind; /* Notification, SubscriptionConfirmation, UnsubscribeConfirmation */
    const char *body;
    size_t body_len;
    int raw;
    int attempt; /* 1 for the first */
    const char *content_type; /* the delivery policy's headerContentType */
} delivery_t;

/* Performs one attempt; must eventually call topics_delivery_result with
 * d->id (possibly from within the call). d is valid during the call only. */
typedef void (*topics_deliver_fn)(void *arg, const delivery_t *d);
void topics_set_deliverer(topics_t *tp, const char *protocol, topics_deliver_fn fn, void *arg);
/* ok: delivered. permanent: the failure is the client's (e.g. 4xx other than
 * 429): no retries. why is recorded with a dead-lettered message. */
void topics_delivery_result(topics_t *tp, uint64_t id, int ok, int permanent, const char *why);

/* What a topic did since the daemon started (live operations; replay
 * counts nothing), for the metrics. outcomes[p][o]: subscriptions of
 * protocol topics_protocol_name(p), per outcome o: DELIVERED (a queue took
 * the message, an endpoint or function acknowledged it), FILTERED (the
 * subscription's filter policy did not match), RETRIED (an attempt failed
 * and another is scheduled), FAILED (given up: dead-lettered or dropped). */
enum { TOPIC_DELIVERED, TOPIC_FILTERED, TOPIC_RETRIED, TOPIC_FAILED, TOPIC_OUTCOMES };
#define TOPIC_PROTOCOLS 5
typedef struct topic_counts {
    uint64_t published;
    uint64_t outcomes[TOPIC_PROTOCOLS][TOPIC_OUTCOMES];
} topic_counts_t;
const char *topics_protocol_name(int p); /* "sqs", "http", "https", "lambda", "function" */
const char *topics_outcome_name(int o);  /* "delivered", "filtered", "retried", "failed" */
const char *topic_name(const topic_t *t);
const topic_counts_t *topic_counts(const topic_t *t); /* owned by the topic */
/* Topics in creation order: prev NULL gives the first; NULL at the end. */
topic_t *topics_next(const topics_t *tp, const topic_t *prev);

typedef struct topics_stats {
    uint64_t topics, subs, published, delivered_queue, delivered_endpoint, retries, dead_lettered, dropped,
        outbox;
} topics_stats_t;
void topics_get_stats(const topics_t *tp, topics_stats_t *out);

#endif
