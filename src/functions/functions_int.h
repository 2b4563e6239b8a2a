/*
 * functions_int — what the files of the functions part share: the registry,
 * a function, and the hooks between functions.c, async.c, dest.c and
 * mapping.c. Not for use outside src/functions/.
 */
#ifndef SLUICE_FUNCTIONS_INT_H
#define SLUICE_FUNCTIONS_INT_H

#include "functions/backend.h"
#include "functions/functions.h"
#include "util/buf.h"
#include "util/hmap.h"
#include "util/list.h"
#include "util/seqmap.h"

struct queue;
struct message;
struct table;

/* Record types (FUNCTIONS_REC_MIN..MAX). */
enum {
    FN_REC_ASYNC_PUT = 80, /* id, function, request id, accepted ts, event */
    FN_REC_ASYNC_DEL = 81, /* id */
    FN_REC_ESM_PUT = 82,   /* a mapping's whole definition and state */
    FN_REC_ESM_DEL = 83,   /* uuid */
};

struct function {
    functions_t *fs;
    fn_def_t def; /* strings owned (copied at declare) */
    kv_t *env_own;
    const fn_backend_ops_t *ops;
    void *be;
    unsigned running; /* calls started and not finished */
    list_t backlog;   /* struct fn_inv waiting for a slot */
    loop_timer_t kick; /* starts the backlog on the next loop pass */
    size_t nbacklog;
    function_stats_t stats;
    metrics_hist_t duration_us; /* calls that started: start to outcome */
    uint64_t declared_ms;
    int takes_records; /* the backend has a record handler (function_invoke_batch) */
};

struct functions {
    functions_config_t cfg;
    char *region, *account;
    loop_t *loop;
    store_t *store;
    struct queues *qs;
    struct topics *tp;
    struct tables *ts;
    hmap_t by_name;
    seqmap_t calls; /* id → struct fn_inv, started or waiting */
    uint64_t next_call;
    /* asynchronous invocations */
    seqmap_t async;  /* id → struct fn_async */
    uint64_t next_async;
    int started;
    /* event source mappings */
    hmap_t esm_by_uuid;
    list_t esms;
    char *records; /* the gateway's request records table, or NULL (functions_track_requests) */
};

/* async.c */
int fn_async__apply(functions_t *fs, uint8_t type, const void *p, size_t len);
int fn_async__dump(functions_t *fs, store_snap_t *snap);
void fn_async__start(functions_t *fs);
void fn_async__free(functions_t *fs);

/* dest.c — destinations: "table:<name>", "queue:<name>", "topic:<name>" or
 * the ARN of a queue, topic or table (arn:aws:dynamodb:...:table/<name>). */
int fn_dest__valid(const functions_t *fs, const char *dest, char *why, size_t why_len);
/* Stores a result under request_id in a table destination (see dest.c for
 * the record's statuses), or sends the Lambda destination record to a queue
 * or topic. res->ok selects the success or failure shape; its payload is
 * the result or error document; event the request payload. Returns 0, or
 * -1 when the destination refused it (the reason is logged). */
typedef struct fn_outcome {
    const function_t *f;
    const char *request_id;
    const char *trace;   /* the trace id its AWSTraceHeader gives (util/trace.h), or NULL */
    const char *journal; /* its id in the journal: trace, else the message's id; NULL: none */
    const char *event;
    size_t event_len;
    const fn_result_t *res;
    const char *condition; /* "Success", "RetriesExhausted", ... */
    int attempts;
    int retried; /* a failure that will be tried again (a mapping's record): not final */
} fn_outcome_t;
int fn_dest__send(functions_t *fs, const char *dest, const fn_outcome_t *o);
/* The outcome into the request's record in fs->records as well — when that
 * record exists and dest (the destination the outcome went to, or NULL) is
 * not that table already: whatever a worker's destination, the request's
 * client learns how it ended. */
void fn_dest__track(functions_t *fs, const char *dest, const fn_outcome_t *o);
/* fs->records, when there is one: the table RUNNING marks go to as well. */
struct table *fn_dest__records(const functions_t *fs);
/* The table of a "table:" destination, or NULL (another kind, or no such table). */
struct table *fn_dest__table(const functions_t *fs, const char *dest);
/* An invocation of the request starts: its existing, not final record in t
 * becomes RUNNING with attempts and startedAt (nothing past its deadline). */
void fn_dest__running(struct table *t, const char *request_id, uint32_t attempts);

/* mapping.c */
int fn_esm__apply(functions_t *fs, uint8_t type, const void *p, size_t len);
int fn_esm__dump(functions_t *fs, store_snap_t *snap);
void fn_esm__start(functions_t *fs);
void fn_esm__free(functions_t *fs);
/* The queues' dead-letter hook (queues_add_dead_letter_cb, arg fs): the
 * request's record in the table destinations of src's mappings becomes
 * DEAD_LETTERED. */
void fn_esm__dead_lettered(void *arg, struct queue *src, struct queue *dlq, const struct message *msg,
                           const char *request_id);

#endif
