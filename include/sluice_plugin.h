/*
 * sluice_plugin.h — the C ABI of an in-process Sluice function (kind
 * `plugin`). A plugin is a shared object that exports one handler per
 * function (the symbol named after the ':' in the function's `handler`
 * setting, "sluice_handler" when none is named) and optionally
 * sluice_plugin_init, called once after loading.
 *
 * Threads: handlers run on Sluice's worker threads, never on its event
 * loop, and the same handler may run on several threads at once (up to the
 * function's concurrency). A handler must be thread-safe and must not
 * block for longer than the function's timeout: past it, Sluice reports the
 * invocation as timed out and ignores its late result, but it cannot stop
 * the thread, which stays busy until the handler returns.
 *
 * Memory: *out must be allocated with malloc (Sluice frees it with free),
 * or left NULL for an empty result.
 *
 * Record handlers. A plugin may also export <symbol>_records (a
 * sluice_records_fn). An event source mapping then hands it the batch's
 * records directly — message id, body, request id — and takes one outcome
 * per record, so the handler parses neither Lambda's SQS event nor writes
 * a batchItemFailures response; Invoke and topic subscriptions still call
 * <symbol> with the event. Returning non-zero fails the whole batch.
 * A record marked failed returns to its queue (and to the dead-letter
 * queue by its redrive policy) when the mapping reports batch item
 * failures; without ReportBatchItemFailures any failed record fails the
 * whole batch, since nothing may be deleted that was not handled.
 *
 * Build: cc -shared -fPIC -o worker.so worker.c -I<sluice>/include
 */
#ifndef SLUICE_PLUGIN_H
#define SLUICE_PLUGIN_H

#include <stddef.h>
#include <stdint.h>

#define SLUICE_PLUGIN_ABI 1

typedef struct sluice_invocation {
    const char *event;        /* the event, JSON text, NUL-terminated */
    size_t event_len;
    const char *request_id;   /* the invocation's id (Lambda's awsRequestId) */
    const char *function_name;
    int64_t deadline_ms;      /* wall clock, epoch ms, when the invocation times out */
} sluice_invocation_t;

/*
 * Returns 0 for success with the result (JSON text) in *out and *out_len, or
 * non-zero for a handler error with the error in *out: either a JSON object
 * {"errorMessage": "...", "errorType": "..."} or plain text, which Sluice
 * wraps as the errorMessage.
 */
typedef int (*sluice_handler_fn)(const sluice_invocation_t *inv, char **out, size_t *out_len);

/* One message of a batch, as a record handler gets it. */
typedef struct sluice_record {
    const char *message_id;
    const char *body;          /* the message body as sent, NUL-terminated */
    size_t body_len;
    const char *request_id;    /* the id a table destination files the result under */
    const char *group_id;      /* FIFO MessageGroupId, or NULL */
    uint32_t receive_count;    /* ApproximateReceiveCount, this delivery included */
    /* Set by the handler. result is malloc'd (Sluice frees it) or NULL.
     * Not failed: result is the record's result, JSON text (NULL: null).
     * Failed: result is its error, a JSON object {"errorMessage": "...",
     * "errorType": "..."} or plain text (the errorMessage), or NULL. */
    int failed;
    char *result;
    size_t result_len;         /* 0: strlen(result) */
} sluice_record_t;

/* inv->event is the batch's SQS event, as the plain handler would get it. */
typedef int (*sluice_records_fn)(const sluice_invocation_t *inv, sluice_record_t *records, size_t n);

/* Optional. Returns SLUICE_PLUGIN_ABI, or anything else to refuse loading. */
typedef int (*sluice_plugin_init_fn)(void);

#endif
