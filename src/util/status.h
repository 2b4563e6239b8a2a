/*
 * status — the one status enum of the engine, generated from STATUS_MAP.
 * Engine calls return a status_t and, on failure, fill an err_t with the
 * human text the client will see. Protocol front-ends map each status to
 * their own error shape (code, HTTP status, sender/receiver); the engine
 * knows nothing of those.
 */
#ifndef SLUICE_STATUS_H
#define SLUICE_STATUS_H

#include <stdarg.h>

#define STATUS_MAP(X)                                                          \
    X(OK, "ok")                                                                \
    X(INVALID_PARAMETER_VALUE, "a parameter value is invalid")                 \
    X(MISSING_PARAMETER, "a required parameter is missing")                    \
    X(INVALID_PARAMETER_COMBINATION, "parameters conflict")                    \
    X(INVALID_ATTRIBUTE_NAME, "unknown attribute name")                        \
    X(INVALID_ATTRIBUTE_VALUE, "attribute value is invalid")                   \
    X(QUEUE_DOES_NOT_EXIST, "no such queue")                                   \
    X(QUEUE_ALREADY_EXISTS, "queue exists with other attributes")              \
    X(QUEUE_DELETED_RECENTLY, "queue was deleted less than 60 s ago")          \
    X(PURGE_IN_PROGRESS, "a purge ran less than 60 s ago")                     \
    X(RECEIPT_HANDLE_INVALID, "receipt handle is malformed")                   \
    X(MESSAGE_NOT_INFLIGHT, "message is not in flight")                        \
    X(INVALID_MESSAGE_CONTENTS, "message body has invalid characters")         \
    X(TOO_MANY_ENTRIES, "too many entries in a batch")                         \
    X(EMPTY_BATCH, "batch has no entries")                                     \
    X(BATCH_IDS_NOT_DISTINCT, "batch entry ids repeat")                        \
    X(INVALID_BATCH_ENTRY_ID, "batch entry id is malformed")                   \
    X(BATCH_REQUEST_TOO_LONG, "batch is too large")                            \
    X(RESOURCE_NOT_FOUND, "resource not found")                                \
    X(UNSUPPORTED_OPERATION, "operation not supported here")                   \
    X(OVER_LIMIT, "a limit was reached")                                       \
    X(INVALID_ADDRESS, "queue address is invalid")                             \
    X(INVALID_ACTION, "unknown action")                                        \
    X(MALFORMED_REQUEST, "request could not be parsed")                        \
    X(REQUEST_THROTTLED, "request rate exceeded")                              \
    X(UNAVAILABLE, "service is shutting down or storage failed")               \
    X(OVERLOADED, "too many requests in progress: refused, retry later")       \
    X(INVALID_PARAMETER, "a parameter is invalid (SNS)")                      \
    X(NOT_FOUND, "no such topic or subscription")                              \
    X(TAG_LIMIT_EXCEEDED, "too many tags")                                     \
    X(FILTER_POLICY_LIMIT, "too many filter policies")                         \
    X(AUTHORIZATION_ERROR, "not authorized")                                   \
    X(VALIDATION_ERROR, "request fails the API model's constraints")            \
    X(ALREADY_EXISTS, "a resource with that name exists and differs")          \
    X(CONDITION_FAILED, "the condition on the write does not hold")           \
    X(TOO_LARGE, "a payload exceeds its size limit")                           \
    X(MISSING_AUTH, "the request carries no signature")                        \
    X(INCOMPLETE_SIGNATURE, "the signature is malformed or incomplete")        \
    X(INVALID_CLIENT_TOKEN, "unknown access key id or security token")         \
    X(SIGNATURE_MISMATCH, "the signature does not match the request")          \
    X(REQUEST_EXPIRED, "the signed date is outside the allowed window")        \
    X(INTERNAL, "internal error")

typedef enum {
#define STATUS_ENUM(name, text) ST_##name,
    STATUS_MAP(STATUS_ENUM)
#undef STATUS_ENUM
        ST__COUNT
} status_t;

const char *status_name(status_t s);
const char *status_text(status_t s);

/* The client-facing message that goes with a failure status. */
typedef struct err {
    char msg[1024];
} err_t;

/* Sets e->msg (if e is not NULL) and returns s, so callers can write
 * `return err_set(e, ST_X, "...", ...);`. */
status_t err_set(err_t *e, status_t s, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#endif
