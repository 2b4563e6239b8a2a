/*
 * sqs_api — the action table, parameter readers, queue URLs, and the
 * queue-level actions (create/delete/list queues, attributes, tags,
 * permissions, dead-letter sources, move tasks). Message actions are in
 * sqs_messages.c. See sqs_api.h for the model.
 */
#include "proto/sqs_api_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/alloc.h"
#include "util/digest.h"
#include "util/text.h"

/* ---- parameters --------------------------------------------------------------- */

int act_fail(act_t *a, status_t st, const char *fmt, ...)
{
    if (a->st != ST_OK)
        return -1; /* the first error wins */
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(a->err.msg, sizeof a->err.msg, fmt, ap);
    va_end(ap);
    a->st = st;
    return -1;
}

int act_failed(const act_t *a)
{
    return a->st != ST_OK;
}

static jv_t *p_get(act_t *a, const char *name)
{
    jv_t *v = jv_get(a->in, name);
    return jv_is(v, JV_NULL) ? NULL : v;
}

const char *p_strn(act_t *a, const char *name, size_t *len)
{
    const char *s = p_str(a, name);
    *len = s ? p_get(a, name)->len : 0;
    return s;
}

const char *p_str(act_t *a, const char *name)
{
    jv_t *v = p_get(a, name);
    if (v && !jv_is(v, JV_STRING)) {
        act_fail(a, ST_MALFORMED_REQUEST, "Start of structure or map found where not expected for %s.", name);
        return NULL;
    }
    return v ? jv_str(v) : NULL;
}

int p_int(act_t *a, const char *name, long long *out)
{
    jv_t *v = p_get(a, name);
    if (!v)
        return 0;
    int64_t n;
    if (jv_is_int(v))
        *out = (v)->i;
    else if (jv_is(v, JV_STRING) && text_parse_i64(jv_str(v), &n) == 0)
        *out = n;
    else
        return act_fail(a, ST_INVALID_PARAMETER_VALUE, "Value %s for parameter %s is invalid. Reason: Must be an "
                        "integer.", jv_is(v, JV_STRING) ? jv_str(v) : "(non-integer)", name), 0;
    return 1;
}

jv_t *p_arr(act_t *a, const char *name)
{
    jv_t *v = p_get(a, name);
    if (v && !jv_is(v, JV_ARRAY)) {
        act_fail(a, ST_MALFORMED_REQUEST, "Expected a list for %s.", name);
        return NULL;
    }
    return v;
}

jv_t *p_obj(act_t *a, const char *name)
{
    jv_t *v = p_get(a, name);
    if (v && !jv_is(v, JV_OBJECT)) {
        act_fail(a, ST_MALFORMED_REQUEST, "Expected a map for %s.", name);
        return NULL;
    }
    return v;
}

static const char *p_required(act_t *a, const char *name)
{
    const char *v = p_str(a, name);
    if (!v && !act_failed(a))
        act_fail(a, ST_MISSING_PARAMETER, "The request must contain the parameter %s.", name);
    return v;
}

/* Reads a {string: string} map into a kv array (borrowed strings). */
static kv_t *p_string_map(act_t *a, jv_t *obj, size_t *n)
{
    *n = jv_count(obj);
    kv_t *kv = xcalloc(*n ? *n : 1, sizeof *kv);
    size_t i = 0;
    for (size_t k = 0; k < *n; k++) {
        const char *key = obj->u.pairs[k].key;
        jv_t *v = obj->u.pairs[k].val;
        if (!jv_is(v, JV_STRING)) {
            act_fail(a, ST_INVALID_PARAMETER_VALUE, "Value for parameter %s is invalid. Reason: must be a string.",
                     key);
            break;
        }
        kv[i].key = key;
        kv[i++].val = jv_str(v);
    }
    *n = i;
    return kv;
}

/* Reads a [string] list (borrowed strings). */
static const char **p_string_list(act_t *a, jv_t *arr, size_t *n)
{
    *n = jv_count(arr);
    const char **v = xcalloc(*n ? *n : 1, sizeof *v);
    for (size_t i = 0; i < *n; i++) {
        v[i] = jv_str(jv_at(arr, i));
        if (!v[i]) {
            act_fail(a, ST_MALFORMED_REQUEST, "Expected a list of strings.");
            *n = i;
            break;
        }
    }
    return v;
}

/* ---- queue URLs ------------------------------------------------------------------ */

void act_queue_url(const act_t *a, const char *name, buf_t *out)
{
    const char *host = a->req->host && *a->req->host ? a->req->host : a->api->default_host;
    buf_printf(out, "http://%s/%s/%s", host, queues_account(a->api->qs), name);
}

static status_t queue_missing(act_t *a)
{
    return act_fail(a, ST_QUEUE_DOES_NOT_EXIST, a->req->query ? "The specified queue does not exist for this wsdl "
                                                                "version."
                                                              : "The specified queue does not exist."),
           ST_QUEUE_DOES_NOT_EXIST;
}

/* Accepts "scheme://host[:port]/<account>/<name>", "/<account>/<name>" and
 * "<account>/<name>"; the account must be ours. */
static queue_t *queue_from_url(act_t *a, const char *url)
{
    const char *p = strstr(url, "://");
    p = p ? strchr(p + 3, '/') : url;
    if (!p || !strchr(url, '/')) {
        act_fail(a, ST_INVALID_ADDRESS, "The address %s is not valid for this endpoint.", url);
        return NULL;
    }
    while (*p == '/')
        p++;
    const char *slash = strchr(p, '/');
    if (!slash || strchr(slash + 1, '/') || !slash[1]) {
        queue_missing(a);
        return NULL;
    }
    const char *account = queues_account(a->api->qs);
    if ((size_t)(slash - p) != strlen(account) || strncmp(p, account, strlen(account)) != 0) {
        queue_missing(a);
        return NULL;
    }
    queue_t *q = queues_find(a->api->qs, slash + 1);
    if (!q)
        queue_missing(a);
    return q;
}

queue_t *act_queue(act_t *a)
{
    const char *url = p_str(a, "QueueUrl");
    if (act_failed(a))
        return NULL;
    if (!url)
        url = a->req->path_queue_url;
    if (!url) {
        act_fail(a, ST_MISSING_PARAMETER, "The request must contain the parameter QueueUrl.");
        return NULL;
    }
    return queue_from_url(a, url);
}

/* SenderId: AWS shows the caller's IAM unique id (21 upper-case letters and
 * digits); Sluice derives a stable one from the access key. */
void act_sender_id(const act_t *a, char out[32])
{
    const char *key = a->req->access_key && *a->req->access_key ? a->req->access_key : queues_account(a->api->qs);
    unsigned char d[32];
    static const char digits[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    digest_sha256(key, strlen(key), d);
    memcpy(out, "AIDA", 4);
    for (int i = 0; i < 17; i++)
        out[4 + i] = digits[d[i] & 31];
    out[21] = '\0';
}

/* ---- queue actions ---------------------------------------------------------------- */

static void out_url(act_t *a, const char *key, const char *name)
{
    buf_t b = BUF_INIT;
    act_queue_url(a, name, &b);
    jv_set(a->od, a->out, key, jv_string(a->od, b.data));
    buf_free(&b);
}

static void act_create_queue(act_t *a)
{
    const char *name = p_required(a, "QueueName");
    jv_t *attrs = p_obj(a, "Attributes"), *tags = p_obj(a, "tags");
    if (!tags)
        tags = p_obj(a, "Tags");
    size_t na = 0, nt = 0;
    kv_t *kattrs = p_string_map(a, attrs, &na), *ktags = p_string_map(a, tags, &nt);
    queue_t *q;
    if (!act_failed(a)) {
        status_t st = queues_create(a->api->qs, name, kattrs, na, ktags, nt, &q, &a->err);
        if (st != ST_OK)
            a->st = st;
        else
            out_url(a, "QueueUrl", queue_name(q));
    }
    free(kattrs);
    free(ktags);
}

static void act_delete_queue(act_t *a)
{
    queue_t *q = act_queue(a);
    if (q)
        a->st = queues_delete(a->api->qs, q, &a->err);
}

static void act_get_queue_url(act_t *a)
{
    const char *name = p_required(a, "QueueName");
    const char *owner = p_str(a, "QueueOwnerAWSAccountId");
    if (act_failed(a))
        return;
    queue_t *q = queues_find(a->api->qs, name);
    if (!q || (owner && strcmp(owner, queues_account(a->api->qs)) != 0)) {
        queue_missing(a);
        return;
    }
    out_url(a, "QueueUrl", queue_name(q));
}

/* NextToken is base64 of the last name of the previous page. */
static int token_decode(act_t *a, char **name)
{
    const char *tok = p_str(a, "NextToken");
    buf_t b = BUF_INIT;
    *name = NULL;
    if (!tok || !*tok)
        return 0;
    if (text_b64_decode(tok, strlen(tok), &b) != 0 || !b.data || memchr(b.data, 0, b.len)) {
        buf_free(&b);
        return act_fail(a, ST_INVALID_PARAMETER_VALUE, "Invalid NextToken value.");
    }
    *name = buf_detach(&b, NULL);
    return 0;
}

static void out_page(act_t *a, const char *key, strv_t *names, char *next)
{
    if (names->n) {
        jv_t *arr = jv_array(a->od);
        buf_t b = BUF_INIT;
        for (size_t i = 0; i < names->n; i++) {
            buf_reset(&b);
            act_queue_url(a, names->v[i], &b);
            jv_push(a->od, arr, jv_string(a->od, b.data));
        }
        buf_free(&b);
        jv_set(a->od, a->out, key, arr);
    }
    if (next) {
        buf_t t = BUF_INIT;
        text_b64_encode(next, strlen(next), &t);
        jv_set(a->od, a->out, "NextToken", jv_string(a->od, t.data));
        buf_free(&t);
    }
}

static int p_max_results(act_t *a, int *max)
{
    long long m = 0;
    *max = 0;
    if (p_int(a, "MaxResults", &m) && (m < 1 || m > 1000))
        return act_fail(a, ST_INVALID_PARAMETER_VALUE,
                        "Value %lld for parameter MaxResults is invalid. Reason: MaxResults must be an integer "
                        "between 1 and 1000.",
                        m);
    *max = (int)m;
    return 0;
}

static void act_list_queues(act_t *a)
{
    const char *prefix = p_str(a, "QueueNamePrefix");
    int max;
    char *tok = NULL, *next = NULL;
    strv_t names = {0};
    p_max_results(a, &max);
    token_decode(a, &tok);
    if (!act_failed(a)) {
        a->st = queues_list(a->api->qs, prefix, max, tok, &names, &next, &a->err);
        if (a->st == ST_OK)
            out_page(a, "QueueUrls", &names, next);
    }
    strv_free(&names);
    free(tok);
    free(next);
}

static void act_list_dead_letter_sources(act_t *a)
{
    queue_t *q = act_queue(a);
    int max;
    char *tok = NULL, *next = NULL;
    strv_t names = {0};
    p_max_results(a, &max);
    token_decode(a, &tok);
    if (q && !act_failed(a)) {
        a->st = queues_dead_letter_sources(a->api->qs, q, max, tok, &names, &next, &a->err);
        if (a->st == ST_OK) {
            out_page(a, "queueUrls", &names, next);
            if (!names.n)
                jv_set(a->od, a->out, "queueUrls", jv_array(a->od)); /* a required member */
        }
    }
    strv_free(&names);
    free(tok);
    free(next);
}

static void out_map(act_t *a, const char *key, const kvv_t *kv)
{
    if (!kv->n)
        return;
    jv_t *obj = jv_object(a->od);
    for (size_t i = 0; i < kv->n; i++)
        jv_set_copy(a->od, obj, kv->v[i].key, strlen(kv->v[i].key), jv_string(a->od, kv->v[i].val));
    jv_set(a->od, a->out, key, obj);
}

static void act_get_queue_attributes(act_t *a)
{
    queue_t *q = act_queue(a);
    jv_t *names = p_arr(a, "AttributeNames");
    size_t n;
    const char **v = p_string_list(a, names, &n);
    kvv_t out = {0};
    if (q && !act_failed(a)) {
        a->st = queue_get_attributes(q, v, n, &out, &a->err);
        if (a->st == ST_OK)
            out_map(a, "Attributes", &out);
    }
    kvv_free(&out);
    free(v);
}

static void act_set_queue_attributes(act_t *a)
{
    queue_t *q = act_queue(a);
    jv_t *attrs = p_obj(a, "Attributes");
    size_t n;
    kv_t *kv = p_string_map(a, attrs, &n);
    if (q && !act_failed(a))
        a->st = queue_set_attributes(q, kv, n, &a->err);
    free(kv);
}

static void act_purge_queue(act_t *a)
{
    queue_t *q = act_queue(a);
    if (q)
        a->st = queue_purge(q, &a->err);
}

static void act_tag_queue(act_t *a)
{
    queue_t *q = act_queue(a);
    size_t n;
    kv_t *kv = p_string_map(a, p_obj(a, "Tags"), &n);
    if (q && !act_failed(a))
        a->st = queue_tag(q, kv, n, &a->err);
    free(kv);
}

static void act_untag_queue(act_t *a)
{
    queue_t *q = act_queue(a);
    size_t n;
    const char **keys = p_string_list(a, p_arr(a, "TagKeys"), &n);
    if (q && !act_failed(a))
        a->st = queue_untag(q, keys, n, &a->err);
    free(keys);
}

static void act_list_queue_tags(act_t *a)
{
    queue_t *q = act_queue(a);
    kvv_t tags = {0};
    if (q) {
        queue_list_tags(q, &tags);
        out_map(a, "Tags", &tags);
    }
    kvv_free(&tags);
}

static void act_add_permission(act_t *a)
{
    queue_t *q = act_queue(a);
    const char *label = p_str(a, "Label");
    size_t nacc, nact;
    const char **acc = p_string_list(a, p_arr(a, "AWSAccountIds"), &nacc);
    const char **actions = p_string_list(a, p_arr(a, "Actions"), &nact);
    if (q && !act_failed(a))
        a->st = queue_add_permission(q, label, acc, nacc, actions, nact, &a->err);
    free(acc);
    free(actions);
}

static void act_remove_permission(act_t *a)
{
    queue_t *q = act_queue(a);
    const char *label = p_str(a, "Label");
    if (q && !act_failed(a))
        a->st = queue_remove_permission(q, label, &a->err);
}

/* ---- move tasks --------------------------------------------------------------------- */

static void act_start_move_task(act_t *a)
{
    const char *src = p_str(a, "SourceArn"), *dst = p_str(a, "DestinationArn");
    long long rate = -1;
    char handle[MOVE_HANDLE_MAX];
    p_int(a, "MaxNumberOfMessagesPerSecond", &rate);
    if (act_failed(a))
        return;
    a->st = queues_start_move_task(a->api->qs, src, dst, (int)rate, handle, &a->err);
    if (a->st == ST_OK)
        jv_set(a->od, a->out, "TaskHandle", jv_string(a->od, handle));
}

static void act_cancel_move_task(act_t *a)
{
    const char *handle = p_str(a, "TaskHandle");
    uint64_t moved = 0;
    if (act_failed(a))
        return;
    a->st = queues_cancel_move_task(a->api->qs, handle, &moved, &a->err);
    if (a->st == ST_OK)
        jv_set(a->od, a->out, "ApproximateNumberOfMessagesMoved", jv_int(a->od, (int64_t)moved));
}

static jv_t *move_task_json(act_t *a, const move_task_view_t *v)
{
    jv_t *o = jv_object(a->od);
    if (v->handle[0])
        jv_set(a->od, o, "TaskHandle", jv_string(a->od, v->handle));
    jv_set(a->od, o, "Status", jv_string(a->od, v->status));
    jv_set(a->od, o, "SourceArn", jv_string(a->od, v->source_arn));
    if (v->dest_arn[0])
        jv_set(a->od, o, "DestinationArn", jv_string(a->od, v->dest_arn));
    if (v->rate > 0)
        jv_set(a->od, o, "MaxNumberOfMessagesPerSecond", jv_int(a->od, v->rate));
    jv_set(a->od, o, "ApproximateNumberOfMessagesMoved", jv_int(a->od, (int64_t)v->moved));
    jv_set(a->od, o, "ApproximateNumberOfMessagesToMove", jv_int(a->od, (int64_t)v->to_move));
    if (v->failure[0])
        jv_set(a->od, o, "FailureReason", jv_string(a->od, v->failure));
    jv_set(a->od, o, "StartedTimestamp", jv_int(a->od, (int64_t)v->started_ts));
    return o;
}

static void act_list_move_tasks(act_t *a)
{
    const char *src = p_str(a, "SourceArn");
    long long max = 1;
    move_task_view_t views[10];
    int n = 0;
    p_int(a, "MaxResults", &max);
    if (act_failed(a))
        return;
    a->st = queues_list_move_tasks(a->api->qs, src, (int)max, views, &n, &a->err);
    if (a->st != ST_OK)
        return;
    jv_t *arr = jv_array(a->od);
    for (int i = 0; i < n; i++)
        jv_push(a->od, arr, move_task_json(a, &views[i]));
    jv_set(a->od, a->out, "Results", arr);
}

/* ---- dispatch ------------------------------------------------------------------------- */

typedef struct action_def {
    const char *name;
    void (*fn)(act_t *a);
} action_def_t;

static const action_def_t actions[] = {
    {"CreateQueue", act_create_queue},
    {"DeleteQueue", act_delete_queue},
    {"GetQueueUrl", act_get_queue_url},
    {"ListQueues", act_list_queues},
    {"GetQueueAttributes", act_get_queue_attributes},
    {"SetQueueAttributes", act_set_queue_attributes},
    {"PurgeQueue", act_purge_queue},
    {"SendMessage", act_send_message},
    {"SendMessageBatch", act_send_message_batch},
    {"ReceiveMessage", act_receive_message},
    {"DeleteMessage", act_delete_message},
    {"DeleteMessageBatch", act_delete_message_batch},
    {"ChangeMessageVisibility", act_change_visibility},
    {"ChangeMessageVisibilityBatch", act_change_visibility_batch},
    {"TagQueue", act_tag_queue},
    {"UntagQueue", act_untag_queue},
    {"ListQueueTags", act_list_queue_tags},
    {"ListDeadLetterSourceQueues", act_list_dead_letter_sources},
    {"StartMessageMoveTask", act_start_move_task},
    {"CancelMessageMoveTask", act_cancel_move_task},
    {"ListMessageMoveTasks", act_list_move_tasks},
    {"AddPermission", act_add_permission},
    {"RemovePermission", act_remove_permission},
};

static const action_def_t *action_find(const char *name)
{
    for (size_t i = 0; i < sizeof actions / sizeof actions[0]; i++)
        if (strcmp(actions[i].name, name) == 0)
            return &actions[i];
    return NULL;
}

_Static_assert(sizeof actions / sizeof actions[0] == SQS_API_ACTIONS, "SQS_API_ACTIONS is the table's size");

int sqs_api_requests(const sqs_api_t *api, size_t i, const char **action, uint64_t *calls)
{
    if (i >= SQS_API_ACTIONS)
        return 0;
    *action = actions[i].name;
    *calls = api->requests[i];
    return 1;
}

int sqs_api_known(const char *action)
{
    return action && action_find(action) != NULL;
}

sqs_api_t *sqs_api_new(queues_t *qs, loop_t *loop, const char *default_host)
{
    sqs_api_t *api = xcalloc(1, sizeof *api);
    api->qs = qs;
    api->loop = loop;
    api->default_host = xstrdup(default_host);
    return api;
}

void sqs_api_free(sqs_api_t *api)
{
    if (!api)
        return;
    free(api->default_host);
    free(api);
}

/* Starts the output document of an action. */
void sqs__begin(act_t *a)
{
    a->od = jv_doc_new();
    a->out = jv_object(a->od);
}

/* Delivers the outcome of a finished action and frees its output. */
void sqs__finish(act_t *a)
{
    if (a->st == ST_OK)
        a->done(a->arg, ST_OK, NULL, a->out);
    else
        a->done(a->arg, a->st, a->err.msg, NULL);
    jv_doc_free(a->od);
    a->od = NULL;
    a->out = NULL;
}

sqs_call_t *sqs_api_call(sqs_api_t *api, const sqs_request_t *req, sqs_done_fn done, void *arg)
{
    act_t a = {.api = api, .req = req, .in = req->input, .st = ST_OK, .done = done, .arg = arg};
    const action_def_t *def = action_find(req->action);
    if (!def || !jv_is(a.in, JV_OBJECT)) {
        jv_doc_free(req->doc);
        if (!def)
            done(arg, ST_INVALID_ACTION, "The action or operation requested is invalid.", NULL);
        else
            done(arg, ST_MALFORMED_REQUEST, "The request body must be a JSON object.", NULL);
        return NULL;
    }
    api->requests[def - actions]++;
    sqs__begin(&a);
    def->fn(&a);
    jv_doc_free(req->doc); /* a waiting call keeps its own copy */
    if (a.pending) {
        jv_doc_free(a.od);
        return a.pending;
    }
    sqs__finish(&a);
    return NULL;
}
