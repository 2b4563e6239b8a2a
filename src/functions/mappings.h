/*
 * mappings — event source mappings: a poller per mapping that receives
 * batches from a queue, invokes a function with Lambda's SQS event, deletes
 * what succeeded and leaves what failed to come back after its visibility
 * timeout (and reach the queue's dead-letter queue through its redrive
 * policy). See mapping.c for the poller's model.
 *
 * Mappings are durable (created through the Lambda API or declared in
 * config); their definitions are records of the functions part.
 */
#ifndef SLUICE_MAPPINGS_H
#define SLUICE_MAPPINGS_H

#include "functions/functions.h"

#define ESM_BATCH_MAX 10000

typedef struct esm esm_t;

typedef struct esm_def {
    char uuid[37];           /* set by esm_create */
    const char *function;    /* function name */
    const char *queue;       /* queue name */
    uint32_t batch_size;     /* 1..10000 (FIFO: 1..10); default 10 */
    uint32_t window_s;       /* MaximumBatchingWindowInSeconds 0..300 */
    uint32_t max_concurrency; /* ScalingConfig.MaximumConcurrency 2..1000; 0: the function's concurrency */
    uint32_t rate;           /* messages per second at most (load leveling); 0: no limit */
    int report_failures;     /* FunctionResponseTypes: ReportBatchItemFailures */
    int enabled;
    const char *on_success;  /* destination per successful record (table:…), or NULL */
    const char *on_failure;  /* destination per failed record, or NULL */
} esm_def_t;

/* Checks def (the queue and function must exist) and creates the mapping;
 * it starts polling at once when enabled. ST_ALREADY_EXISTS when a mapping
 * of that queue to that function exists (Lambda's ResourceConflictException). */
status_t esm_create(functions_t *fs, const esm_def_t *def, esm_t **out, err_t *err);
/* Replaces the definition (uuid, function and queue stay). */
status_t esm_update(esm_t *m, const esm_def_t *def, err_t *err);
status_t esm_delete(esm_t *m, err_t *err);
esm_t *esm_find(const functions_t *fs, const char *uuid);
/* The mapping of queue to function, or NULL. */
esm_t *esm_find_pair(const functions_t *fs, const char *function, const char *queue);
/* Mappings in creation order matching function and queue (NULL: any). *out
 * is malloc'd (caller frees the array only). */
void esm_list(const functions_t *fs, const char *function, const char *queue, esm_t ***out, size_t *n);
const esm_def_t *esm_get_def(const esm_t *m); /* owned by the mapping */
const char *esm_state(const esm_t *m);        /* "Enabled", "Disabled" */
uint64_t esm_last_modified_ms(const esm_t *m);

typedef struct esm_stats {
    uint64_t batches, records, succeeded, failed, inflight_batches, whole_batch_failures;
    uint64_t throttled; /* batches the function refused (backlog full): records given back */
} esm_stats_t;
void esm_get_stats(const esm_t *m, esm_stats_t *out);
/* Records per batch the mapping invoked (owned by the mapping). */
const metrics_hist_t *esm_batch_sizes(const esm_t *m);
/* Per record, the time from its send to its batch's invocation (seconds). */
const metrics_hist_t *esm_lags(const esm_t *m);

#endif
