/*
 * sqs_api — the 23 SQS actions, written once over JSON-shaped documents (the
 * JSON 1.0 protocol's input and output). Both wire front-ends call it:
 * sqs_json passes the parsed body, sqs_query converts its form first
 * (sqs_shapes). This layer turns documents into engine calls and engine
 * results into documents, and checks what belongs to the request rather
 * than the engine: parameter presence and types, batch ids and sizes,
 * queue URLs. Long-polling receives live here too: a receive that finds
 * nothing waits on the queue (and a loop timer) and answers later.
 *
 * Threads: loop thread only.
 */
#ifndef SLUICE_SQS_API_H
#define SLUICE_SQS_API_H

#include "net/loop.h"
#include "queues/queues.h"
#include "util/jv.h"
#include "util/status.h"

typedef struct sqs_api sqs_api_t;
typedef struct sqs_call sqs_call_t;

typedef struct sqs_request {
    const char *action;         /* e.g. "SendMessage" */
    jv_doc_t *doc;              /* holds input; sqs_api_call takes it over */
    jv_t *input;                /* the JSON-shaped input */
    const char *host;           /* Host header, for queue URLs */
    const char *path_queue_url; /* the request path when it addresses a queue, else NULL */
    const char *access_key;     /* caller's access key id, or NULL */
    const char *trace_header;   /* X-Amzn-Trace-Id, or NULL */
    int query;                  /* query protocol (wording and precedence differ) */
} sqs_request_t;

/* Receives the outcome: st == ST_OK with output (owned by the API, valid
 * during the call), or a failure with its message. */
typedef void (*sqs_done_fn)(void *arg, status_t st, const char *message, const jv_t *output);

sqs_api_t *sqs_api_new(queues_t *qs, loop_t *loop, const char *default_host);
void sqs_api_free(sqs_api_t *api);

#define SQS_API_ACTIONS 23

/* The i-th action's name and how many calls it has had (a known action
 * with any outcome); 0 past the last action. */
int sqs_api_requests(const sqs_api_t *api, size_t i, const char **action, uint64_t *calls);

/* 1 when action is an SQS action this layer serves. */
int sqs_api_known(const char *action);

/* Runs the action and calls done exactly once, possibly before returning.
 * Takes over req->doc (freed before this returns). Returns a handle while the
 * answer is still to come (a waiting receive), NULL when done has already run. */
sqs_call_t *sqs_api_call(sqs_api_t *api, const sqs_request_t *req, sqs_done_fn done, void *arg);
/* The caller has gone: done will not run; the call's resources are freed. */
void sqs_api_cancel(sqs_call_t *c);

#endif
