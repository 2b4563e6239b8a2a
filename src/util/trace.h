/*
 * trace — the trace journal: a bounded in-memory ring of the hops a traced
 * request makes (gateway → topic → queue → function → table), read back by
 * GET /_sluice/trace/{id} and `sluice trace <id>`.
 *
 * Model. A trace id is the key of one request's journey: the gateway's
 * request id, or the Root of an AWS trace header (X-Amzn-Trace-Id,
 * AWSTraceHeader: "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=…;
 * Sampled=1" is traced as "1-5759e988-bd862e3fe1be46a994272793"); a header
 * without Root= is its own id. trace_key gives that id of a header. A
 * message that carries no header is traced under its own message id
 * (trace_msg_key): Sluice never invents an AWSTraceHeader a client would
 * see, so where such a journey moves to a new message (a topic's delivery
 * to a queue, a function's destination) the hop names the new id as its
 * link, and a lookup follows links: the hops of every id reached.
 *
 * The journal is one process-wide ring of fixed-size entries, set up once
 * (trace_init) with a count of entries; when full, each new hop overwrites
 * the oldest. Appending is O(1) and copies bounded strings (longer ones are
 * cut). A lookup scans the ring once, probing a small set of the ids it
 * visits by hash: fine for a debugging command, never on a request path. A hop with a NULL or empty
 * trace id records nothing and costs a test; with no journal (entries 0,
 * or before trace_init) nothing is recorded at all.
 *
 * Threads: loop thread only, like every engine object.
 */
#ifndef SLUICE_TRACE_H
#define SLUICE_TRACE_H

#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"

#define TRACE_ID_MAX 100      /* bytes of a trace id kept (longer ids are cut) */
#define TRACE_RESOURCE_MAX 80 /* a queue's, function's or route's name; a topic's is cut */
#define TRACE_DETAIL_MAX 95
#define TRACE_LINK_MAX 40     /* a linked id: a message id (36) */
#define TRACE_LINKS_FOLLOWED 64 /* ids one lookup visits, the first included (more: "truncated") */

#define TRACE_HOPS(X)                                                                                       \
    X(GATEWAY_ACCEPTED, "gateway.accepted")                                                                 \
    X(GATEWAY_RESULT, "gateway.result")                                                                     \
    X(TOPIC_PUBLISHED, "topic.published")                                                                   \
    X(SUB_DELIVERED, "subscription.delivered")                                                              \
    X(SUB_FILTERED, "subscription.filtered")                                                                \
    X(SUB_SENT, "subscription.sent")                                                                        \
    X(SUB_FAILED, "subscription.failed")                                                                    \
    X(QUEUE_SENT, "queue.sent")                                                                             \
    X(QUEUE_RECEIVED, "queue.received")                                                                     \
    X(QUEUE_DELETED, "queue.deleted")                                                                       \
    X(QUEUE_DEAD_LETTERED, "queue.dead_lettered")                                                           \
    X(FUNCTION_QUEUED, "function.queued")                                                                   \
    X(FUNCTION_INVOKED, "function.invoked")                                                                 \
    X(FUNCTION_FINISHED, "function.finished")                                                               \
    X(FUNCTION_FAILED, "function.failed")                                                                   \
    X(DESTINATION_SENT, "destination.sent")                                                                 \
    X(DESTINATION_FAILED, "destination.failed")                                                             \
    X(TABLE_WRITTEN, "table.written")

typedef enum {
#define TRACE_ENUM(e, s) TRACE_##e,
    TRACE_HOPS(TRACE_ENUM)
#undef TRACE_ENUM
        TRACE_KINDS
} trace_kind_t;

typedef struct trace_hop {
    char id[TRACE_ID_MAX + 1];
    char resource[TRACE_RESOURCE_MAX + 1];
    char detail[TRACE_DETAIL_MAX + 1];
    char link[TRACE_LINK_MAX + 1]; /* the id the journey goes on under, or "" */
    uint32_t hash;   /* of id */
    uint8_t kind;    /* trace_kind_t */
    uint64_t ts_us;  /* wall clock, µs since the epoch */
    uint64_t dur_us; /* the step's own duration (function.*), else 0 */
    uint64_t seq;    /* order of appending, from 1 */
} trace_hop_t;

/* Sets up the journal with room for `entries` hops (0: no journal); an
 * earlier journal is dropped. */
void trace_init(size_t entries);
void trace_shutdown(void);
/* The name of a kind ("queue.sent"), "?" when out of range. */
const char *trace_kind_name(trace_kind_t k);

/* The trace id of a header value (see the model) into out; returns out,
 * or NULL (out "") when the header is NULL or gives an empty id. */
const char *trace_key(const char *header, char out[TRACE_ID_MAX + 1]);

/* Whether messages without a trace header are journaled under their
 * message id (trace.messages: all, the default after trace_init) or not
 * at all (traced). */
void trace_set_untraced(int on);
int trace_untraced(void);

/* The journal's id of a message: the key of its trace header when it has
 * one, else its message id (nothing, with trace_set_untraced(0)). Returns
 * out ("" when there is none). */
const char *trace_msg_key(const char *header, const char *msg_id, char out[TRACE_ID_MAX + 1]);

/* Records a hop of trace id `id` (a key, as trace_key gives; NULL or ""
 * records nothing). resource and detail may be NULL. The time is now, or
 * ts_us when it is not 0. */
void trace_hop(const char *id, trace_kind_t kind, const char *resource, const char *detail, uint64_t dur_us);
void trace_hop_at(const char *id, trace_kind_t kind, const char *resource, const char *detail, uint64_t dur_us,
                  uint64_t ts_us);
/* trace_hop, unless a trace_hop_once of the same id and kind was recorded
 * lately (a table of TRACE_ONCE_SLOTS remembers the last per slot): a status
 * polled many times is one hop, not one per poll. A slot's collision may
 * let a repeat through; two ids must share a 32-bit hash to lose one. */
#define TRACE_ONCE_SLOTS 4096
void trace_hop_once(const char *id, trace_kind_t kind, const char *resource, const char *detail);
/* trace_hop for a header value: its key (trace_key) is the id. */
void trace_hop_header(const char *header, trace_kind_t kind, const char *resource, const char *detail,
                      uint64_t dur_us);
/* trace_hop of a message: under trace_msg_key(header, msg_id). */
void trace_hop_msg(const char *header, const char *msg_id, trace_kind_t kind, const char *resource,
                   const char *detail, uint64_t dur_us);
/* A hop whose journey goes on under `link` (NULL or "": none; cut at
 * TRACE_LINK_MAX). Returns the hop's seq, 0 when nothing was recorded. */
uint64_t trace_hop_link(const char *id, trace_kind_t kind, const char *resource, const char *detail,
                        const char *link);
/* Sets the link of the hop numbered seq, when the ring still holds it: a hop
 * recorded before the id it leads to was known keeps its place in order
 * (and comes before that id's hops, as a lookup needs). */
void trace_set_link(uint64_t seq, const char *link);
/* Makes the hop numbered seq another kind with another detail, when the
 * ring still holds it: a step recorded before it was tried that failed. */
void trace_amend(uint64_t seq, trace_kind_t kind, const char *detail);

/* Copies up to max hops of id (trace_key is applied to it first) and of
 * the ids its hops link to (transitively, up to TRACE_LINKS_FOLLOWED ids;
 * a link leads to hops appended after the one naming it), in one pass
 * over the ring: the first max by order of appending, then sorted by time
 * (then that order) into out; returns how many the journal holds (may
 * exceed max: only max were copied). */
size_t trace_lookup(const char *id, trace_hop_t *out, size_t max);
/* The hops of id as a JSON document: {"traceId":…, "hops":[{"kind",
 * "resource","detail","timestamp" (ISO 8601, ms),"timeUs" (µs since the epoch),"durationUs",
 * "traceId" (the hop's own id: another than the asked one when reached by a link), "link" (when set)}…],
 * "truncated": more than the 1000 listed, "journalEntries": capacity}. */
void trace_write_json(const char *id, buf_t *out);

/* The journal's capacity and the hops it holds now (for tests and /metrics). */
size_t trace_capacity(void);
size_t trace_count(void);

#endif
