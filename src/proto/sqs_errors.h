/*
 * sqs_errors — how each engine status looks on the SQS wire. Both SQS
 * protocols share one table: the query protocol shows `code` in its XML
 * Error/Code; the JSON protocol sends `json_type` as __type (prefixed with
 * the service namespace) and `code` in the x-amzn-query-error header, which
 * the SDKs surface as the error code. Batch entry failures use `code` too.
 */
#ifndef SLUICE_SQS_ERRORS_H
#define SLUICE_SQS_ERRORS_H

#include "util/status.h"

typedef struct sqs_error {
    const char *code;      /* e.g. AWS.SimpleQueueService.NonExistentQueue */
    const char *json_type; /* e.g. QueueDoesNotExist */
    int http_status;
    int sender_fault;
    const char *json_ns; /* __type's namespace when not the SQS model's (the
                          * signature checks are the AWS front door's) */
} sqs_error_t;

const sqs_error_t *sqs_error_for(status_t st);

#endif
