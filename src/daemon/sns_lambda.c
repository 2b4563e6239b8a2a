/*
 * sns_lambda — see sns_lambda.h. The event, per Lambda's SNS event shape:
 *
 *   {"Records":[{"EventSource":"aws:sns","EventVersion":"1.0",
 *     "EventSubscriptionArn":…,"Sns":{"Type":…,"MessageId":…,"TopicArn":…,
 *     "Subject":…|null,"Message":…,"Timestamp":…,"SignatureVersion":…,
 *     "Signature":…,"SigningCertUrl":…,"UnsubscribeUrl":…,
 *     "MessageAttributes":{name:{"Type":…,"Value":…}}}}]}
 *
 * built from the envelope the topics engine renders (whose URL members are
 * spelled SigningCertURL/UnsubscribeURL there and …Url here).
 */
#include "daemon/sns_lambda.h"

#include <stdlib.h>
#include <string.h>

#include "queues/queues.h"
#include "util/alloc.h"
#include "util/buf.h"
#include "util/jv.h"
#include "util/rand.h"
#include "util/trace.h"

struct sns_lambda {
    topics_t *tp;
    functions_t *fs;
};
typedef sns_lambda_t ctx_t;

static const char *const SNS_KEYS[][2] = {
    {"Type", "Type"},           {"MessageId", "MessageId"},
    {"TopicArn", "TopicArn"},   {"Subject", "Subject"},
    {"Message", "Message"},     {"Timestamp", "Timestamp"},
    {"SignatureVersion", "SignatureVersion"}, {"Signature", "Signature"},
    {"SigningCertURL", "SigningCertUrl"},     {"UnsubscribeURL", "UnsubscribeUrl"},
    {"MessageAttributes", "MessageAttributes"},
};

static int build_event(const delivery_t *d, buf_t *out)
{
    jv_doc_t *doc = jv_doc_new();
    char why[128];
    jv_t *env = jv_parse(doc, d->body, d->body_len, why, sizeof why);
    if (!jv_is(env, JV_OBJECT)) {
        jv_doc_free(doc);
        return -1;
    }
    jv_t *sns = jv_object(doc);
    for (size_t i = 0; i < sizeof SNS_KEYS / sizeof SNS_KEYS[0]; i++) {
        jv_t *v = jv_get(env, SNS_KEYS[i][0]);
        if (!v && strcmp(SNS_KEYS[i][0], "Subject") == 0)
            v = jv_null(doc);
        if (!v && strcmp(SNS_KEYS[i][0], "MessageAttributes") == 0)
            v = jv_object(doc);
        jv_set(doc, sns, SNS_KEYS[i][1], v);
    }
    jv_t *rec = jv_object(doc);
    jv_set(doc, rec, "EventSource", jv_string(doc, "aws:sns"));
    jv_set(doc, rec, "EventVersion", jv_string(doc, "1.0"));
    jv_set(doc, rec, "EventSubscriptionArn", jv_string(doc, d->sub_arn));
    jv_set(doc, rec, "Sns", sns);
    jv_t *root = jv_object(doc), *recs = jv_array(doc);
    jv_push(doc, recs, rec);
    jv_set(doc, root, "Records", recs);
    jv_write(root, out);
    jv_doc_free(doc);
    return 0;
}

static void deliver(void *arg, const delivery_t *d)
{
    ctx_t *c = arg;
    function_t *f = functions_find_ref(c->fs, d->endpoint);
    buf_t ev = BUF_INIT;
    err_t err;
    if (!f) {
        topics_delivery_result(c->tp, d->id, 0, 1, "no such function");
    } else if (build_event(d, &ev) != 0) {
        topics_delivery_result(c->tp, d->id, 0, 1, "the message could not be rendered as an event");
    } else {
        /* a gateway request's message: the invocation runs under its id, so
         * its outcome reaches the request's record (functions_track_requests) */
        char *rid = msg_body_request_id(d->body, d->body_len), id[UUID_STR_LEN];
        if (function_invoke_async(f, ev.data, ev.len, rid, id, &err) != ST_OK) {
            topics_delivery_result(c->tp, d->id, 0, 1, err.msg);
        } else {
            /* the invocation's hops go under its request id: the message's journey leads there */
            if (!rid || strcmp(rid, d->message_id) != 0)
                trace_hop_link(d->message_id, TRACE_FUNCTION_QUEUED, function_def(f)->name, id, id);
            topics_delivery_result(c->tp, d->id, 1, 0, "");
        }
        free(rid);
    }
    buf_free(&ev);
}

sns_lambda_t *sns_lambda_new(topics_t *tp, functions_t *fs)
{
    sns_lambda_t *c = xcalloc(1, sizeof *c);
    c->tp = tp;
    c->fs = fs;
    topics_set_deliverer(tp, "lambda", deliver, c);
    return c;
}

void sns_lambda_free(sns_lambda_t *c)
{
    free(c);
}
