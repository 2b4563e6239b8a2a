/*
 * sqs_messages — the message actions of the SQS layer: SendMessage(Batch),
 * ReceiveMessage with long polling, DeleteMessage(Batch) and
 * ChangeMessageVisibility(Batch).
 *
 * Batches are checked as a whole first (entry count, entry ids, total size,
 * and on FIFO queues the group/dedup ids AWS rejects for the whole request),
 * then each entry runs as its own engine call and lands in Successful or
 * Failed.
 *
 * A receive that finds nothing and may wait becomes a pending call: it sits
 * on the queue's waiter list with a loop timer for its WaitTimeSeconds, and
 * answers as soon as the engine wakes it with something to take, when the
 * timer fires, or at shutdown.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/sqs_api_int.h"
#include "proto/sqs_errors.h"
#include "util/alloc.h"
#include "util/text.h"

#define BATCH_MAX 10
#define BATCH_BYTES_MAX 1048576
#define BATCH_ID_MAX 80

/* ---- message attributes from a document ------------------------------------------ */

/* Binary values decoded from base64 live here until the send is done. */
typedef struct scratch {
    buf_t bufs[24];
    int n;
} scratch_t;

static void scratch_free(scratch_t *s)
{
    for (int i = 0; i < s->n; i++)
        buf_free(&s->bufs[i]);
    s->n = 0;
}

static int attr_value(act_t *a, const char *name, jv_t *v, msg_attr_t *out, scratch_t *s)
{
    const char *type = jv_str(jv_get(v, "DataType"));
    const char *sv = jv_str(jv_get(v, "StringValue"));
    const char *bv = jv_str(jv_get(v, "BinaryValue"));
    out->name = name;
    out->type = type;
    out->value = NULL;
    out->value_len = 0;
    if (type && strncmp(type, "Binary", 6) == 0 && bv) {
        if (s->n == (int)(sizeof s->bufs / sizeof s->bufs[0]))
            return act_fail(a, ST_INVALID_PARAMETER_VALUE, "Too many binary attributes.");
        buf_t *b = &s->bufs[s->n++];
        buf_init(b);
        if (text_b64_decode(bv, strlen(bv), b) != 0)
            return act_fail(a, ST_INVALID_PARAMETER_VALUE, "Value for parameter BinaryValue of message attribute "
                            "'%s' is not valid base64.", name);
        out->value = b->data ? b->data : "";
        out->value_len = b->len;
    } else if (sv) {
        out->value = sv;
        out->value_len = jv_get(v, "StringValue")->len; /* may hold U+0000 */
    }
    return 0;
}

/* Reads {name: {DataType, StringValue|BinaryValue}} into attrs (at most max+1,
 * so that "too many" is the engine's to report). */
static size_t attrs_from(act_t *a, jv_t *obj, msg_attr_t *attrs, size_t max, scratch_t *s)
{
    size_t n = 0;
    for (size_t k = 0; k < jv_count(obj); k++) {
        const char *key = obj->u.pairs[k].key;
        jv_t *v = obj->u.pairs[k].val;
        if (n == max)
            break;
        if (!jv_is(v, JV_OBJECT)) {
            act_fail(a, ST_MALFORMED_REQUEST, "Expected a structure for message attribute %s.", key);
            break;
        }
        if (attr_value(a, key, v, &attrs[n++], s) != 0)
            break;
    }
    return n;
}

/* ---- send ---------------------------------------------------------------------------- */

typedef struct send_in {
    send_req_t r;
    msg_attr_t attrs[11], sys[2];
    char sender[32];
    scratch_t scratch;
    status_t st; /* a batch entry's outcome */
    err_t err;
} send_in_t;

/* Fills s from an entry document (the request itself for SendMessage). */
static void send_in_read(act_t *a, jv_t *doc, send_in_t *s)
{
    jv_t *saved = a->in;
    long long delay = -1;
    memset(&s->r, 0, sizeof s->r);
    a->in = doc;
    const char *body = p_strn(a, "MessageBody", &s->r.body_len);
    s->r.body = body ? body : "";
    s->r.body_given = body != NULL;
    s->r.delay_given = p_int(a, "DelaySeconds", &delay);
    s->r.delay = (long)delay;
    s->r.group_id = p_str(a, "MessageGroupId");
    s->r.dedup_id = p_str(a, "MessageDeduplicationId");
    s->r.nattrs = attrs_from(a, p_obj(a, "MessageAttributes"), s->attrs, 11, &s->scratch);
    s->r.attrs = s->attrs;
    s->r.nsys = attrs_from(a, p_obj(a, "MessageSystemAttributes"), s->sys, 2, &s->scratch);
    if (!s->r.nsys && a->req->trace_header && *a->req->trace_header) {
        s->sys[0] = (msg_attr_t){"AWSTraceHeader", "String", a->req->trace_header, strlen(a->req->trace_header)};
        s->r.nsys = 1;
    }
    s->r.sys_attrs = s->sys;
    act_sender_id(a, s->sender);
    s->r.sender_id = s->sender;
    a->in = saved;
}

static jv_t *send_result(jv_doc_t *d, const send_res_t *res)
{
    jv_t *o = jv_object(d);
    jv_set(d, o, "MessageId", jv_string(d, res->message_id));
    jv_set(d, o, "MD5OfMessageBody", jv_string(d, res->md5_body));
    if (res->md5_attrs[0])
        jv_set(d, o, "MD5OfMessageAttributes", jv_string(d, res->md5_attrs));
    if (res->md5_sys[0])
        jv_set(d, o, "MD5OfMessageSystemAttributes", jv_string(d, res->md5_sys));
    if (res->seq) {
        char seq[32];
        snprintf(seq, sizeof seq, "%llu", (unsigned long long)res->seq);
        jv_set(d, o, "SequenceNumber", jv_string(d, seq));
    }
    return o;
}

void act_send_message(act_t *a)
{
    queue_t *q = act_queue(a);
    send_in_t s = {0};
    send_res_t res;
    send_in_read(a, a->in, &s);
    if (q && !act_failed(a)) {
        a->st = queue_send(q, &s.r, &res, &a->err);
        if (a->st == ST_OK)
            a->out = send_result(a->od, &res);
    }
    scratch_free(&s.scratch);
}

/* ---- batches --------------------------------------------------------------------------- */

static int batch_id_ok(const char *id)
{
    size_t n = id ? strlen(id) : 0;
    if (n == 0 || n > BATCH_ID_MAX)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = id[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_'))
            return 0;
    }
    return 1;
}

/* The request-level checks every batch action shares. */
static jv_t *batch_entries(act_t *a, const char *entry_name)
{
    jv_t *entries = p_arr(a, "Entries");
    if (act_failed(a))
        return NULL;
    size_t n = jv_count(entries);
    if (n == 0)
        return act_fail(a, ST_EMPTY_BATCH, "There should be at least one %s in the request.", entry_name), NULL;
    if (n > BATCH_MAX)
        return act_fail(a, ST_TOO_MANY_ENTRIES, "Maximum number of entries per request are %d. You have sent %zu.",
                        BATCH_MAX, n),
               NULL;
    for (size_t i = 0; i < n; i++) {
        jv_t *e = jv_at(entries, i);
        const char *id = jv_str(jv_get(e, "Id"));
        if (!jv_is(e, JV_OBJECT) || !batch_id_ok(id))
            return act_fail(a, ST_INVALID_BATCH_ENTRY_ID, "A batch entry id can only contain alphanumeric "
                            "characters, hyphens and underscores. It can be at most 80 letters long."),
                   NULL;
        for (size_t j = 0; j < i; j++)
            if (strcmp(id, jv_str(jv_get(jv_at(entries, j), "Id"))) == 0)
                return act_fail(a, ST_BATCH_IDS_NOT_DISTINCT, "Id %s repeated.", id), NULL;
    }
    return entries;
}

static void batch_fail(jv_doc_t *d, jv_t *failed, const char *id, status_t st, const char *msg)
{
    const sqs_error_t *e = sqs_error_for(st);
    jv_t *o = jv_object(d);
    jv_set(d, o, "Id", jv_string(d, id));
    jv_set(d, o, "SenderFault", jv_bool(d, e->sender_fault));
    jv_set(d, o, "Code", jv_string(d, e->code));
    jv_set(d, o, "Message", jv_string(d, msg));
    jv_push(d, failed, o);
}

static void batch_output(act_t *a, jv_t *ok, jv_t *failed)
{
    if (jv_count(ok))
        jv_set(a->od, a->out, "Successful", ok);
    if (jv_count(failed))
        jv_set(a->od, a->out, "Failed", failed);
}

/* AWS rejects a FIFO batch as a whole when an entry lacks these. */
static int batch_fifo_check(act_t *a, const queue_t *q, send_in_t *s, size_t n)
{
    kvv_t attrs = {0};
    const char *name = "ContentBasedDeduplication";
    queue_get_attributes((queue_t *)q, &name, 1, &attrs, &a->err);
    int cbd = kvv_get(&attrs, name) && strcmp(kvv_get(&attrs, name), "true") == 0;
    kvv_free(&attrs);
    for (size_t i = 0; i < n; i++)
        if (!s[i].r.group_id)
            return act_fail(a, ST_INVALID_PARAMETER_VALUE, "The request must contain the parameter MessageGroupId.");
    for (size_t i = 0; i < n && !cbd; i++)
        if (!s[i].r.dedup_id)
            return act_fail(a, ST_INVALID_PARAMETER_VALUE, "The queue should either have ContentBasedDeduplication "
                            "enabled or MessageDeduplicationId provided explicitly");
    return 0;
}

static int batch_size_check(act_t *a, send_in_t *s, size_t n)
{
    size_t total = 0;
    for (size_t i = 0; i < n; i++)
        total += send_req_size(&s[i].r);
    if (total > BATCH_BYTES_MAX)
        return act_fail(a, ST_BATCH_REQUEST_TOO_LONG,
                        "Batch requests cannot be longer than %d bytes. You have sent %zu bytes.", BATCH_BYTES_MAX,
                        total);
    return 0;
}

/* A batch entry's size error reads "cannot be validated" where SendMessage says "are invalid". */
static const char *entry_message(const err_t *err, char *tmp, size_t n)
{
    static const char from[] = "One or more parameters are invalid.";
    if (strncmp(err->msg, from, sizeof from - 1) != 0)
        return err->msg;
    snprintf(tmp, n, "One or more parameters cannot be validated.%s", err->msg + sizeof from - 1);
    return tmp;
}

/* FIFO: the earlier entry of s[i]'s group that a full queue refused, or -1.
 * s[i] is refused with it, so the group's order holds when the client
 * sends both again. */
static int group_refused(const send_in_t *s, size_t i)
{
    for (size_t j = 0; j < i; j++)
        if (s[j].st == ST_OVER_LIMIT && strcmp(s[j].r.group_id, s[i].r.group_id) == 0)
            return (int)j;
    return -1;
}

static void send_batch_entries(jv_doc_t *d, queue_t *q, jv_t *entries, send_in_t *s, jv_t *ok, jv_t *failed)
{
    for (size_t i = 0; i < jv_count(entries); i++) {
        const char *id = jv_str(jv_get(jv_at(entries, i), "Id"));
        send_res_t res;
        char tmp[sizeof s[i].err.msg + 32];
        int k = queue_is_fifo(q) ? group_refused(s, i) : -1;
        if (k >= 0)
            s[i].st = s[k].st, s[i].err = s[k].err;
        else
            s[i].st = queue_send(q, &s[i].r, &res, &s[i].err);
        if (s[i].st != ST_OK) {
            batch_fail(d, failed, id, s[i].st, entry_message(&s[i].err, tmp, sizeof tmp));
            continue;
        }
        jv_t *o = send_result(d, &res);
        jv_set(d, o, "Id", jv_string(d, id));
        jv_push(d, ok, o);
    }
}

void act_send_message_batch(act_t *a)
{
    queue_t *q = act_queue(a);
    jv_t *entries = q ? batch_entries(a, "SendMessageBatchRequestEntry") : NULL;
    size_t n = jv_count(entries);
    send_in_t *s = xcalloc(n ? n : 1, sizeof *s);
    for (size_t i = 0; i < n && !act_failed(a); i++)
        send_in_read(a, jv_at(entries, i), &s[i]);
    if (q && entries && !act_failed(a) && batch_size_check(a, s, n) == 0 &&
        (!queue_is_fifo(q) || batch_fifo_check(a, q, s, n) == 0)) {
        jv_t *ok = jv_array(a->od), *failed = jv_array(a->od);
        send_batch_entries(a->od, q, entries, s, ok, failed);
        batch_output(a, ok, failed);
    }
    for (size_t i = 0; i < n; i++)
        scratch_free(&s[i].scratch);
    free(s);
}

/* ---- delete and visibility ------------------------------------------------------------- */

void act_delete_message(act_t *a)
{
    queue_t *q = act_queue(a);
    const char *receipt = p_str(a, "ReceiptHandle");
    if (!q || act_failed(a))
        return;
    if (!receipt) {
        act_fail(a, ST_MISSING_PARAMETER, "The request must contain the parameter ReceiptHandle.");
        return;
    }
    a->st = queue_delete_message(q, receipt, &a->err);
}

void act_delete_message_batch(act_t *a)
{
    queue_t *q = act_queue(a);
    jv_t *entries = q ? batch_entries(a, "DeleteMessageBatchRequestEntry") : NULL;
    if (!entries || act_failed(a))
        return;
    jv_t *ok = jv_array(a->od), *failed = jv_array(a->od);
    for (size_t i = 0; i < jv_count(entries); i++) {
        jv_t *e = jv_at(entries, i);
        const char *id = jv_str(jv_get(e, "Id"));
        const char *receipt = jv_str(jv_get(e, "ReceiptHandle"));
        err_t err;
        status_t st = receipt ? queue_delete_message(q, receipt, &err)
                              : err_set(&err, ST_MISSING_PARAMETER,
                                        "The request must contain the parameter ReceiptHandle.");
        if (st != ST_OK)
            batch_fail(a->od, failed, id, st, err.msg);
        else
            jv_push(a->od, ok, jv_set(a->od, jv_object(a->od), "Id", jv_string(a->od, id)));
    }
    batch_output(a, ok, failed);
}

static status_t change_one(queue_t *q, jv_t *doc, err_t *err)
{
    const char *receipt = jv_str(jv_get(doc, "ReceiptHandle"));
    jv_t *vt = jv_get(doc, "VisibilityTimeout");
    int64_t v;
    if (!receipt)
        return err_set(err, ST_MISSING_PARAMETER, "The request must contain the parameter ReceiptHandle.");
    if (!vt)
        return err_set(err, ST_MISSING_PARAMETER, "The request must contain the parameter VisibilityTimeout.");
    if (jv_is_int(vt))
        v = (vt)->i;
    else if (!jv_is(vt, JV_STRING) || text_parse_i64(jv_str(vt), &v) != 0)
        return err_set(err, ST_INVALID_PARAMETER_VALUE,
                       "Value for parameter VisibilityTimeout is invalid. Reason: Must be an integer.");
    return queue_change_visibility(q, receipt, (long)v, err);
}

void act_change_visibility(act_t *a)
{
    queue_t *q = act_queue(a);
    if (q && !act_failed(a))
        a->st = change_one(q, a->in, &a->err);
}

void act_change_visibility_batch(act_t *a)
{
    queue_t *q = act_queue(a);
    jv_t *entries = q ? batch_entries(a, "ChangeMessageVisibilityBatchRequestEntry") : NULL;
    if (!entries || act_failed(a))
        return;
    jv_t *ok = jv_array(a->od), *failed = jv_array(a->od);
    for (size_t i = 0; i < jv_count(entries); i++) {
        jv_t *e = jv_at(entries, i);
        const char *id = jv_str(jv_get(e, "Id"));
        err_t err;
        status_t st = change_one(q, e, &err);
        if (st != ST_OK)
            batch_fail(a->od, failed, id, st, err.msg);
        else
            jv_push(a->od, ok, jv_set(a->od, jv_object(a->od), "Id", jv_string(a->od, id)));
    }
    batch_output(a, ok, failed);
}

/* ---- receive: rendering -------------------------------------------------------------------- */

typedef struct recv_view {
    int all_sys;
    const char *sys[16];
    size_t nsys;
    int all_user;
    const char *user[16];
    size_t nuser;
} recv_view_t;

static void view_names(jv_t *arr, const char **out, size_t *n, int *all)
{
    *n = 0;
    *all = 0;
    for (size_t i = 0; i < jv_count(arr); i++) {
        const char *s = jv_str(jv_at(arr, i));
        if (!s)
            continue;
        if (strcmp(s, "All") == 0 || strcmp(s, "*") == 0 || strcmp(s, ".*") == 0)
            *all = 1;
        else if (*n < 16)
            out[(*n)++] = s;
    }
}

/* Which attributes the receiver asked for. The JSON protocol prefers
 * MessageSystemAttributeNames when both lists are sent, the query protocol
 * AttributeNames (as AWS does). */
static void view_read(const act_t *a, jv_t *in, recv_view_t *v)
{
    jv_t *legacy = jv_get(in, "AttributeNames");
    jv_t *sys = jv_get(in, "MessageSystemAttributeNames");
    jv_t *pick = a->req->query ? (legacy ? legacy : sys) : (sys ? sys : legacy);
    view_names(pick, v->sys, &v->nsys, &v->all_sys);
    view_names(jv_get(in, "MessageAttributeNames"), v->user, &v->nuser, &v->all_user);
}

static int sys_wanted(const recv_view_t *v, const char *name)
{
    if (v->all_sys)
        return 1;
    for (size_t i = 0; i < v->nsys; i++)
        if (strcmp(v->sys[i], name) == 0)
            return 1;
    return 0;
}

/* "name", or "prefix.*" for every attribute starting with "prefix.". */
static int user_wanted(const recv_view_t *v, const char *name)
{
    if (v->all_user)
        return 1;
    for (size_t i = 0; i < v->nuser; i++) {
        const char *w = v->user[i];
        size_t n = strlen(w);
        if (strcmp(w, name) == 0)
            return 1;
        if (n > 2 && strcmp(w + n - 2, ".*") == 0 && strncmp(name, w, n - 2) == 0)
            return 1;
    }
    return 0;
}

static void put_u64(jv_doc_t *d, jv_t *o, const char *k, uint64_t v)
{
    char tmp[32];
    snprintf(tmp, sizeof tmp, "%llu", (unsigned long long)v);
    jv_set(d, o, k, jv_string(d, tmp));
}

static void put_sys(jv_doc_t *d, jv_t *o, const recv_view_t *v, const char *k, const char *val)
{
    if (val && sys_wanted(v, k))
        jv_set(d, o, k, jv_string(d, val));
}

static jv_t *sys_attrs(jv_doc_t *d, const message_t *m, int fifo, const recv_view_t *v)
{
    jv_t *o = jv_object(d);
    if (sys_wanted(v, "SenderId") && m->sender_id)
        jv_set(d, o, "SenderId", jv_string(d, m->sender_id));
    if (sys_wanted(v, "SentTimestamp"))
        put_u64(d, o, "SentTimestamp", m->sent_ts);
    if (sys_wanted(v, "ApproximateReceiveCount"))
        put_u64(d, o, "ApproximateReceiveCount", m->recv_count);
    if (sys_wanted(v, "ApproximateFirstReceiveTimestamp"))
        put_u64(d, o, "ApproximateFirstReceiveTimestamp", m->first_recv_ts);
    put_sys(d, o, v, "AWSTraceHeader", m->trace_header);
    put_sys(d, o, v, "DeadLetterQueueSourceArn", m->dlq_source_arn);
    put_sys(d, o, v, "MessageGroupId", m->group_id);
    if (fifo) {
        put_sys(d, o, v, "MessageDeduplicationId", m->dedup_id);
        if (sys_wanted(v, "SequenceNumber"))
            put_u64(d, o, "SequenceNumber", 10000000000000000000ull + m->seq);
    }
    return o;
}

static jv_t *attr_json(jv_doc_t *d, const msg_attr_t *at)
{
    jv_t *o = jv_object(d);
    jv_set(d, o, "DataType", jv_string(d, at->type));
    if (strncmp(at->type, "Binary", 6) == 0) {
        buf_t b = BUF_INIT;
        text_b64_encode(at->value, at->value_len, &b);
        jv_set(d, o, "BinaryValue", jv_string(d, b.data ? b.data : ""));
        buf_free(&b);
    } else {
        jv_set(d, o, "StringValue", jv_stringn(d, at->value, at->value_len));
    }
    return o;
}

static void user_attrs(jv_doc_t *d, jv_t *o, const message_t *m, const recv_view_t *v)
{
    msg_attr_t picked[12];
    size_t n = 0, off = 0;
    msg_attr_t at;
    while (n < 12 && msg_attrs_next(m->attrs, m->attrs_len, &off, &at))
        if (user_wanted(v, at.name))
            picked[n++] = at;
    if (!n)
        return;
    char md5[33];
    jv_t *attrs = jv_object(d);
    for (size_t i = 0; i < n; i++)
        jv_set(d, attrs, picked[i].name, attr_json(d, &picked[i]));
    msg_attrs_md5(picked, n, md5);
    jv_set(d, o, "MD5OfMessageAttributes", jv_string(d, md5));
    jv_set(d, o, "MessageAttributes", attrs);
}

static jv_t *message_json(jv_doc_t *d, const message_t *m, const char *receipt, int fifo, const recv_view_t *v)
{
    char md5[33];
    jv_t *o = jv_object(d);
    text_hex(m->md5_body, 16, md5);
    jv_set(d, o, "MessageId", jv_string(d, m->id));
    jv_set(d, o, "ReceiptHandle", jv_string(d, receipt));
    jv_set(d, o, "MD5OfBody", jv_string(d, md5));
    jv_set(d, o, "Body", jv_string_ref(d, m->body, m->body_len)); /* written before the message can change */
    jv_t *sys = sys_attrs(d, m, fifo, v);
    if (jv_count(sys))
        jv_set(d, o, "Attributes", sys);
    user_attrs(d, o, m, v);
    return o;
}

static void recv_render(act_t *a, jv_t *in, int fifo, const recv_res_t *res)
{
    if (!res->n)
        return;
    recv_view_t v;
    view_read(a, in, &v);
    jv_t *arr = jv_array(a->od);
    for (int i = 0; i < res->n; i++)
        jv_push(a->od, arr, message_json(a->od, res->msgs[i], res->receipts[i], fifo, &v));
    jv_set(a->od, a->out, "Messages", arr);
}

/* ---- receive: waiting ---------------------------------------------------------------------- */

struct sqs_call {
    sqs_api_t *api;
    sqs_request_t req; /* query flag and action; host etc. are not needed later */
    jv_doc_t *doc;     /* the request's input document, kept for the answer */
    jv_t *in;
    recv_req_t r;
    queue_waiter_t w;
    loop_timer_t timer;
    sqs_done_fn done;
    void *arg;
};

static void call_free(sqs_call_t *c)
{
    queue_unwait(&c->w);
    loop_timer_stop(c->api->loop, &c->timer);
    c->api->pending--;
    jv_doc_free(c->doc);
    free(c);
}

/* Renders res (or the error in a) as the call's answer, and ends the call. */
static void call_finish(sqs_call_t *c, act_t *a, queue_t *q, const recv_res_t *res)
{
    if (a->st == ST_OK && q)
        recv_render(a, c->in, queue_is_fifo(q), res);
    sqs__finish(a);
    call_free(c);
}

static void call_act(sqs_call_t *c, act_t *a)
{
    *a = (act_t){.api = c->api, .req = &c->req, .in = c->in, .st = ST_OK, .done = c->done, .arg = c->arg};
    sqs__begin(a);
}

/* Answers a pending receive with what the queue has now (q NULL: nothing). */
static void call_answer(sqs_call_t *c, queue_t *q)
{
    act_t a;
    recv_res_t res = {.n = 0};
    call_act(c, &a);
    if (q)
        a.st = queue_receive(q, &c->r, &res, &a.err);
    call_finish(c, &a, q, &res);
}

static void call_wake(queue_waiter_t *w)
{
    sqs_call_t *c = (sqs_call_t *)((char *)w - offsetof(sqs_call_t, w));
    if (w->q_gone || w->stop) {
        call_answer(c, w->q_gone ? NULL : w->q);
        return;
    }
    recv_res_t res = {.n = 0};
    err_t err;
    status_t st = queue_receive(w->q, &c->r, &res, &err);
    if (st == ST_OK && res.n == 0) {
        queue_wait(w->q, w); /* another receiver got there first */
        return;
    }
    act_t a;
    call_act(c, &a);
    a.st = st;
    a.err = err;
    call_finish(c, &a, w->q, &res);
}

static void call_timeout(loop_t *loop, loop_timer_t *t)
{
    (void)loop;
    sqs_call_t *c = t->arg;
    queue_t *q = c->w.q;
    queue_unwait(&c->w);
    call_answer(c, q);
}

/* The receive waits on the queue, with a copy of its request. */
static void recv_wait(act_t *a, queue_t *q, const recv_req_t *r, long long wait)
{
    sqs_call_t *c = xcalloc(1, sizeof *c);
    c->api = a->api;
    c->req.query = a->req->query;
    c->req.action = "ReceiveMessage";
    /* Keep a compact copy of the request: 10k waiting receives should not
     * hold 10k request-sized arenas. */
    c->doc = jv_doc_new_small();
    c->in = jv_copy(c->doc, a->in);
    c->r = *r;
    c->r.attempt_id = jv_str(jv_get(c->in, "ReceiveRequestAttemptId"));
    c->done = a->done;
    c->arg = a->arg;
    c->w.wake = call_wake;
    list_init(&c->w.link);
    loop_timer_init(&c->timer, call_timeout, c);
    loop_timer_start(a->api->loop, &c->timer, (uint64_t)wait * 1000);
    queue_wait(q, &c->w);
    a->api->pending++;
    a->pending = c;
}

void act_receive_message(act_t *a)
{
    queue_t *q = act_queue(a);
    long long max = 1, vis = 0, wait = 0;
    const char *attempt = p_str(a, "ReceiveRequestAttemptId");
    p_int(a, "MaxNumberOfMessages", &max);
    int vis_given = p_int(a, "VisibilityTimeout", &vis);
    int wait_given = p_int(a, "WaitTimeSeconds", &wait);
    if (!q || act_failed(a))
        return;
    if (wait_given && (wait < 0 || wait > 20)) {
        act_fail(a, ST_INVALID_PARAMETER_VALUE,
                 "Value %lld for parameter WaitTimeSeconds is invalid. Reason: Must be >= 0 and <= 20, if provided.",
                 wait);
        return;
    }
    if (!wait_given)
        wait = queue_default_wait(q);
    recv_req_t r = {.max = (long)max, .visibility = (long)vis, .attempt_id = attempt};
    r.visibility_given = vis_given;
    recv_res_t res;
    a->st = queue_receive(q, &r, &res, &a->err);
    if (a->st != ST_OK)
        return;
    if (res.n == 0 && wait > 0) {
        recv_wait(a, q, &r, wait);
        return;
    }
    recv_render(a, a->in, queue_is_fifo(q), &res);
}

void sqs_api_cancel(sqs_call_t *c)
{
    call_free(c);
}
