/* sqs_errors — the status → SQS error table; see sqs_errors.h. */
#include "proto/sqs_errors.h"

#define CORAL "com.amazon.coral.service"

static const sqs_error_t sqs_errors[ST__COUNT] = {
    [ST_OK] = {"", "", 200, 0},
    [ST_INVALID_PARAMETER_VALUE] = {"InvalidParameterValue", "InvalidParameterValueException", 400, 1},
    [ST_MISSING_PARAMETER] = {"MissingParameter", "MissingRequiredParameterException", 400, 1},
    [ST_INVALID_PARAMETER_COMBINATION] = {"InvalidParameterCombination", "InvalidParameterCombination", 400, 1},
    [ST_INVALID_ATTRIBUTE_NAME] = {"InvalidAttributeName", "InvalidAttributeName", 400, 1},
    [ST_INVALID_ATTRIBUTE_VALUE] = {"InvalidAttributeValue", "InvalidAttributeValue", 400, 1},
    [ST_QUEUE_DOES_NOT_EXIST] = {"AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist", 400, 1},
    [ST_QUEUE_ALREADY_EXISTS] = {"QueueAlreadyExists", "QueueNameExists", 400, 1},
    [ST_QUEUE_DELETED_RECENTLY] = {"AWS.SimpleQueueService.QueueDeletedRecently", "QueueDeletedRecently", 400, 1},
    [ST_PURGE_IN_PROGRESS] = {"AWS.SimpleQueueService.PurgeQueueInProgress", "PurgeQueueInProgress", 403, 1},
    [ST_RECEIPT_HANDLE_INVALID] = {"ReceiptHandleIsInvalid", "ReceiptHandleIsInvalid", 404, 1},
    [ST_MESSAGE_NOT_INFLIGHT] = {"AWS.SimpleQueueService.MessageNotInflight", "MessageNotInflight", 400, 1},
    [ST_INVALID_MESSAGE_CONTENTS] = {"InvalidMessageContents", "InvalidMessageContents", 400, 1},
    [ST_TOO_MANY_ENTRIES] = {"AWS.SimpleQueueService.TooManyEntriesInBatchRequest", "TooManyEntriesInBatchRequest",
                             400, 1},
    [ST_EMPTY_BATCH] = {"AWS.SimpleQueueService.EmptyBatchRequest", "EmptyBatchRequest", 400, 1},
    [ST_BATCH_IDS_NOT_DISTINCT] = {"AWS.SimpleQueueService.BatchEntryIdsNotDistinct", "BatchEntryIdsNotDistinct",
                                   400, 1},
    [ST_INVALID_BATCH_ENTRY_ID] = {"AWS.SimpleQueueService.InvalidBatchEntryId", "InvalidBatchEntryId", 400, 1},
    [ST_BATCH_REQUEST_TOO_LONG] = {"AWS.SimpleQueueService.BatchRequestTooLong", "BatchRequestTooLong", 400, 1},
    [ST_RESOURCE_NOT_FOUND] = {"ResourceNotFoundException", "ResourceNotFoundException", 404, 1},
    [ST_UNSUPPORTED_OPERATION] = {"AWS.SimpleQueueService.UnsupportedOperation", "UnsupportedOperation", 400, 1},
    [ST_OVER_LIMIT] = {"OverLimit", "OverLimit", 403, 1},
    [ST_INVALID_ADDRESS] = {"InvalidAddress", "InvalidAddress", 404, 1},
    [ST_INVALID_ACTION] = {"InvalidAction", "InvalidAction", 400, 1},
    [ST_MALFORMED_REQUEST] = {"MalformedQueryString", "SerializationException", 400, 1},
    [ST_REQUEST_THROTTLED] = {"RequestThrottled", "RequestThrottled", 403, 1},
    [ST_UNAVAILABLE] = {"ServiceUnavailable", "ServiceUnavailable", 503, 0},
    /* over server.max_pending_requests: SQS's own throttling error (boto3
     * raises RequestThrottled, and every retry mode backs off on it, the
     * adaptive one slowing its rate), with the 503 of a server that is busy */
    [ST_OVERLOADED] = {"RequestThrottled", "RequestThrottled", 503, 0},
    [ST_INTERNAL] = {"InternalError", "InternalError", 500, 0},
    /* AWS's common errors (SQS API reference, Common Errors); the JSON
     * __type is the AWS front door's exception of the same meaning */
    [ST_MISSING_AUTH] = {"MissingAuthenticationToken", "MissingAuthenticationTokenException", 403, 1, CORAL},
    [ST_INCOMPLETE_SIGNATURE] = {"IncompleteSignature", "IncompleteSignatureException", 400, 1, CORAL},
    [ST_INVALID_CLIENT_TOKEN] = {"InvalidClientTokenId", "UnrecognizedClientException", 403, 1, CORAL},
    [ST_SIGNATURE_MISMATCH] = {"SignatureDoesNotMatch", "InvalidSignatureException", 403, 1, CORAL},
    [ST_REQUEST_EXPIRED] = {"RequestExpired", "InvalidSignatureException", 400, 1, CORAL},
};

const sqs_error_t *sqs_error_for(status_t st)
{
    if ((unsigned)st >= ST__COUNT || !sqs_errors[st].code)
        return &sqs_errors[ST_INTERNAL];
    return &sqs_errors[st];
}
