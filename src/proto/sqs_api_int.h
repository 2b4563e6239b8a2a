/*
 * sqs_api_int — what the files of the SQS action layer share: one action in
 * progress (act_t), parameter readers that record the first error, and the
 * queue URL helpers.
 */
#ifndef SLUICE_SQS_API_INT_H
#define SLUICE_SQS_API_INT_H

#include "proto/sqs_api.h"
#include "util/buf.h"

struct sqs_api {
    queues_t *qs;
    loop_t *loop;
    char *default_host;
    unsigned pending; /* waiting receives */
    uint64_t requests[SQS_API_ACTIONS]; /* calls per action, in the action table's order */
};

typedef struct act {
    sqs_api_t *api;
    const sqs_request_t *req;
    jv_t *in;
    jv_doc_t *od; /* the output document's arena */
    jv_t *out;    /* success document */
    status_t st;
    err_t err;
    sqs_done_fn done;
    void *arg;
    sqs_call_t *pending; /* set by a receive that waits */
} act_t;

/* Parameter readers: absent → NULL/0; wrong type → records an error. */
const char *p_str(act_t *a, const char *name);
/* A string that may contain U+0000: its exact length in *len. */
const char *p_strn(act_t *a, const char *name, size_t *len);
int p_int(act_t *a, const char *name, long long *out);
jv_t *p_arr(act_t *a, const char *name);
jv_t *p_obj(act_t *a, const char *name);
int act_fail(act_t *a, status_t st, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
int act_failed(const act_t *a);
/* The queue named by QueueUrl (or the request path). */
queue_t *act_queue(act_t *a);
void act_queue_url(const act_t *a, const char *name, buf_t *out);
void act_sender_id(const act_t *a, char out[32]);

/* sqs_messages.c */
void act_send_message(act_t *a);
void act_send_message_batch(act_t *a);
void act_receive_message(act_t *a);
void act_delete_message(act_t *a);
void act_delete_message_batch(act_t *a);
void act_change_visibility(act_t *a);
void act_change_visibility_batch(act_t *a);
void sqs__begin(act_t *a);
void sqs__finish(act_t *a);

#endif
