/*
 * functions — named handlers behind one invocation contract: an event (JSON
 * text) goes in, a result (JSON text) or an error comes out, within the
 * function's timeout and with at most `concurrency` invocations of it at
 * once. Three kinds of handler sit behind the contract (backends):
 *
 *   plugin   a shared object (include/sluice_plugin.h) run on a worker pool
 *   process  child processes speaking the AWS Lambda runtime API (runtime.c)
 *   http     an HTTP POST of the event to a URL; the response body is the result
 *
 * Model. Functions are declared in config and live for the daemon's life.
 * An invocation is a call: it waits in the function's backlog until a slot
 * is free, then the backend runs it. This module owns the slots, the
 * backlog and the timeout: when the timeout passes first, the caller gets a
 * Sandbox.Timedout error at once, the backend is told to cancel (the process
 * backend kills the runtime), and a late result is ignored.
 *
 * Asynchronous invocations (Invoke with InvocationType=Event, and topic
 * subscriptions with protocol lambda) are durable: accepted means a store
 * record exists; they run with up to max_retries retries and then go to the
 * function's on-success or on-failure destination. After a crash, accepted
 * asynchronous invocations that had not finished run again (at least once).
 *
 * Threads: loop thread only (backends use their own threads inside).
 */
#ifndef SLUICE_FUNCTIONS_H
#define SLUICE_FUNCTIONS_H

#include <stddef.h>
#include <stdint.h>

#include "net/loop.h"
#include "store/store.h"
#include "util/kv.h"
#include "util/metrics.h"
#include "util/status.h"

struct queues;
struct topics;
struct tables;

/* Record types of this part (async invocations, event source mappings). */
#define FUNCTIONS_REC_MIN 80
#define FUNCTIONS_REC_MAX 99

#define FN_NAME_MAX 64
#define FN_EVENT_MAX (256 * 1024)   /* asynchronous invocation payload (AWS: 256 KB) */
#define FN_SYNC_EVENT_MAX (6 << 20) /* synchronous invocation payload (AWS: 6 MB) */
#define FN_BACKLOG_MAX 10000        /* calls waiting for a slot, per function */

typedef struct functions functions_t;
typedef struct function function_t;

typedef enum { FN_KIND_PLUGIN, FN_KIND_PROCESS, FN_KIND_HTTP } fn_kind_t;

typedef struct fn_def {
    const char *name;     /* 1..64 of [A-Za-z0-9_-] */
    fn_kind_t kind;
    const char *handler;  /* plugin: "path.so[:symbol]"; process: the _HANDLER value; http: the URL */
    const char *command;  /* process: the runtime executable (a Lambda `bootstrap`) */
    const char *dir;      /* process: working directory and LAMBDA_TASK_ROOT (NULL: the command's) */
    const kv_t *env;      /* process: extra environment */
    size_t nenv;
    uint32_t timeout_ms;  /* 1 ms .. 900 s; default 3 s as in Lambda */
    uint32_t concurrency; /* calls at once; for process, the warm pool size. 1..1000 */
    uint32_t memory_mb;   /* process: address-space limit; 0 = none */
    int max_retries;      /* asynchronous invocations: 0..2, default 2 */
    const char *on_success; /* destination of asynchronous results, or NULL */
    const char *on_failure;
} fn_def_t;

/* The outcome of one invocation. payload is JSON text (valid during the
 * callback only): the result when ok, else the error document
 * {"errorMessage": ..., "errorType": ...}. error_type names the failure:
 * "Unhandled" (the handler failed), "Sandbox.Timedout", "Runtime.ExitError"
 * (the runtime died), "Runtime.InvalidResponse", "Throttled". */
/* A batch's records, handed one by one to a handler that takes them so (a
 * plugin's record handler, include/sluice_plugin.h) next to the event. */
typedef struct fn_record {
    const char *id;         /* messageId */
    const char *body;       /* the message body as sent */
    size_t body_len;
    const char *request_id; /* where a table destination files the result */
    const char *group;      /* FIFO MessageGroupId, or NULL */
    uint32_t recv_count;
} fn_record_t;

/* A record handler's outcome for one record: its result (JSON) or, when
 * failed, its error document {"errorMessage", "errorType"}. */
typedef struct fn_record_result {
    int failed;
    const char *payload;
    size_t len;
} fn_record_result_t;

typedef struct fn_result {
    int ok;
    const char *payload;
    size_t len;
    const char *error_type;
    uint64_t duration_us;
    /* ok and the handler took the records one by one: one outcome per
     * record, in the records' order (payload is then "null"); else NULL */
    const fn_record_result_t *records;
} fn_result_t;

typedef void (*fn_done_fn)(void *arg, const fn_result_t *r);

typedef struct functions_config {
    const char *region;
    const char *account;
    unsigned plugin_threads; /* worker threads for plugins; 0: one per CPU */
} functions_config_t;

/* qs, tp, ts are where destinations and mappings reach; any may be NULL in
 * unit tests. store NULL: asynchronous invocations are not persisted. */
functions_t *functions_new(const functions_config_t *cfg, loop_t *loop, store_t *store, struct queues *qs,
                           struct topics *tp, struct tables *ts);
/* Stops backends (kills runtimes, joins workers). Calls still out are
 * dropped without their callbacks running. */
void functions_free(functions_t *fs);

/* Declares a function; its backend starts now (a process function's warm
 * pool is spawned). Returns ST_OK, or ST_VALIDATION_ERROR with the reason. */
status_t functions_declare(functions_t *fs, const fn_def_t *def, function_t **out, err_t *err);
function_t *functions_find(const functions_t *fs, const char *name);
/* By name, or by ARN arn:aws:lambda:<region>:<account>:function:<name>[:qualifier]. */
function_t *functions_find_ref(const functions_t *fs, const char *name_or_arn);
/* Function names in name order. */
void functions_list(const functions_t *fs, strv_t *names);
const fn_def_t *function_def(const function_t *f); /* owned by the function */
void function_arn(const function_t *f, char *out, size_t n);
uint64_t function_declared_ms(const function_t *f); /* wall ms of functions_declare */
loop_t *functions_loop(const functions_t *fs);
const char *functions_region(const functions_t *fs);
const char *functions_account(const functions_t *fs);

/* Runs one invocation. request_id may be NULL (one is made). The event is
 * copied. done runs on the loop exactly once, never from within this call,
 * unless the call is forgotten first. ST_REQUEST_THROTTLED when the backlog
 * is full. *call_out (may be NULL) identifies the call for function_forget. */
status_t function_invoke(function_t *f, const char *event, size_t len, const char *request_id, fn_done_fn done,
                         void *arg, uint64_t *call_out, err_t *err);
/* function_invoke with the event's records alongside, for a handler that
 * takes them one by one; other handlers get the event. The records are
 * borrowed, not copied: they must stay valid until done runs or the call is
 * forgotten (a backend copies what it keeps past its start). */
status_t function_invoke_batch(function_t *f, const char *event, size_t len, const fn_record_t *recs, size_t n,
                               fn_done_fn done, void *arg, uint64_t *call_out, err_t *err);
/* Names a call's journey (util/trace.h) before it starts (the next loop
 * pass at the earliest): journal, the id its function.invoked and
 * function.finished/failed hops go under (NULL: none; a mapping records its
 * own, per record); trace_header, what the function is handed as its trace
 * (Lambda-Runtime-Trace-Id; NULL, or not printable ASCII of at most
 * FN_TRACE_HEADER_MAX bytes: none). */
#define FN_TRACE_HEADER_MAX 256
void function_trace(function_t *f, uint64_t call, const char *journal, const char *trace_header);
/* Whether f has a record handler, so function_invoke_batch's records are worth passing. */
int function_takes_records(const function_t *f);
/* The caller no longer wants the result (its client went away): done will
 * not run. The call itself still finishes or times out. */
void function_forget(function_t *f, uint64_t call);

/* Accepts an asynchronous invocation: durable once the store reaches
 * store_last_lsn(). request_id may be NULL (one is made and written to
 * id_out, >= 37 bytes, when that is not NULL). */
status_t function_invoke_async(function_t *f, const char *event, size_t len, const char *request_id,
                               char *id_out, err_t *err);

/* Names the table of request records (the gateway's results table): from
 * now on every outcome of a request whose record is there — a mapping's
 * record, an asynchronous invocation (a topic's function subscription runs
 * under the request id its message carries) — is written into it too
 * (RUNNING as a mapping starts it, then its outcome), whatever the
 * function's destinations. NULL stops it. */
void functions_track_requests(functions_t *fs, const char *table);

/* Store hooks. */
int functions_apply(void *fs, uint8_t type, const void *payload, size_t len);
int functions_dump(void *fs, store_snap_t *snap);
/* Starts what recovery left owed (asynchronous invocations, mappings). Call
 * once after recovery and after functions and queues are declared. */
void functions_start(functions_t *fs);

typedef struct function_stats {
    uint64_t invocations, errors, timeouts, throttles, running, waiting;
} function_stats_t;
void function_get_stats(const function_t *f, function_stats_t *out);
/* How long the calls that started took, start to outcome, in µs (owned by
 * the function). */
const metrics_hist_t *function_durations(const function_t *f);

#endif
