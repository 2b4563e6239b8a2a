/*
 * sns_query — SNS over the AWS query protocol (Version=2010-03-31): form
 * parameters in, XML out, for the 17 topic actions. Each action reads its
 * parameters, calls the topics engine and renders the result; the engine's
 * statuses map to SNS error codes here (table below).
 *
 * Wire shapes (botocore's SNS query model): maps are not flattened
 *   Attributes.entry.N.key / .value          <Attributes><entry><key/><value/></entry></Attributes>
 *   MessageAttributes.entry.N.Name / .Value.DataType / .Value.StringValue / .Value.BinaryValue
 * lists are members
 *   Tags.member.N.Key / .Value, TagKeys.member.N, PublishBatchRequestEntries.member.N.<field>
 *   <Topics><member><TopicArn/></member></Topics>
 * N need not be contiguous; entries are ordered by N. Parameters that name
 * nothing are ignored.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/router.h"
#include "proto/sns_query.h"
#include "proto/xml.h"
#include "topics/topics.h"
#include "util/alloc.h"
#include "util/text.h"

#define SNS_XMLNS "http://sns.amazonaws.com/doc/2010-03-31/"
#define XML_CTYPE "text/xml"
#define BATCH_MAX 10

/* ---- errors --------------------------------------------------------------------------- */

typedef struct sns_error {
    const char *code;
    int http_status;
    int sender;
} sns_error_t;

static const sns_error_t SNS_ERRORS[ST__COUNT] = {
    [ST_INVALID_PARAMETER] = {"InvalidParameter", 400, 1},
    [ST_INVALID_PARAMETER_VALUE] = {"InvalidParameterValue", 400, 1},
    [ST_INVALID_ATTRIBUTE_VALUE] = {"ParameterValueInvalid", 400, 1}, /* message attributes (AWS's wire code) */
    [ST_VALIDATION_ERROR] = {"ValidationError", 400, 1},
    [ST_MISSING_PARAMETER] = {"InvalidParameter", 400, 1},
    [ST_NOT_FOUND] = {"NotFound", 404, 1},
    [ST_RESOURCE_NOT_FOUND] = {"ResourceNotFound", 404, 1},
    [ST_TAG_LIMIT_EXCEEDED] = {"TagLimitExceeded", 400, 1},
    [ST_FILTER_POLICY_LIMIT] = {"FilterPolicyLimitExceeded", 403, 1},
    [ST_AUTHORIZATION_ERROR] = {"AuthorizationError", 403, 1},
    [ST_TOO_MANY_ENTRIES] = {"TooManyEntriesInBatchRequest", 400, 1},
    [ST_EMPTY_BATCH] = {"EmptyBatchRequest", 400, 1},
    [ST_BATCH_IDS_NOT_DISTINCT] = {"BatchEntryIdsNotDistinct", 400, 1},
    [ST_INVALID_BATCH_ENTRY_ID] = {"InvalidBatchEntryId", 400, 1},
    [ST_BATCH_REQUEST_TOO_LONG] = {"BatchRequestTooLong", 400, 1},
    [ST_INVALID_ACTION] = {"InvalidAction", 400, 1},
    [ST_MALFORMED_REQUEST] = {"MalformedQueryString", 400, 1},
    [ST_REQUEST_THROTTLED] = {"Throttled", 429, 1}, /* Publish: a subscribed queue is full (botocore's model) */
    [ST_UNAVAILABLE] = {"ServiceUnavailable", 503, 0},
    /* over server.max_pending_requests: the code SNS throttles with (a
     * throttling code to every boto3 retry mode), as a 503 */
    [ST_OVERLOADED] = {"ThrottlingException", 503, 0},
    [ST_INTERNAL] = {"InternalError", 500, 0},
    /* SNS API reference, Common Error Types (SignatureDoesNotMatch: the
     * query services' code for a signature that does not match) */
    [ST_MISSING_AUTH] = {"MissingAuthenticationToken", 403, 1},
    [ST_INCOMPLETE_SIGNATURE] = {"IncompleteSignature", 400, 1},
    [ST_INVALID_CLIENT_TOKEN] = {"InvalidClientTokenId", 403, 1},
    [ST_SIGNATURE_MISMATCH] = {"SignatureDoesNotMatch", 403, 1},
    [ST_REQUEST_EXPIRED] = {"RequestExpired", 400, 1},
};

static const sns_error_t *error_for(status_t st)
{
    if ((unsigned)st >= ST__COUNT || !SNS_ERRORS[st].code)
        return &SNS_ERRORS[ST_INTERNAL];
    return &SNS_ERRORS[st];
}

static void open_response(xml_t *x, buf_t *out, const char *root)
{
    xml_init(x, out);
    xml_declaration(x);
    xml_open(x, root);
    xml_attr(x, "xmlns", SNS_XMLNS);
}

void sns_query_fail(req_ctx_t *ctx, status_t st, const char *message)
{
    const sns_error_t *e = error_for(st);
    buf_t b = BUF_INIT;
    xml_t x;
    open_response(&x, &b, "ErrorResponse");
    xml_open(&x, "Error");
    xml_leaf(&x, "Type", e->sender ? "Sender" : "Receiver");
    xml_leaf(&x, "Code", e->code);
    xml_leaf(&x, "Message", message ? message : "");
    xml_close(&x);
    xml_leaf(&x, "RequestId", ctx->request_id);
    xml_finish(&x);
    router_reply(ctx, e->http_status, XML_CTYPE, NULL, b.data, b.len);
    buf_free(&b);
}

/* ---- parameters ---------------------------------------------------------------------- */

/* Entries of an indexed prefix ("Attributes.entry."), each with its fields
 * (the rest of the key after "N."), ordered by N. */
typedef struct fgroup {
    unsigned long idx;
    kvv_t f;
} fgroup_t;

typedef struct fgroups {
    fgroup_t *v;
    size_t n;
    int overflow; /* more than GROUPS_MAX entries were sent; the rest were not read */
} fgroups_t;

/* Far above every SNS limit (10 batch entries, 50 tags, the attribute maps),
 * and low enough that a hostile form cannot make the lookups quadratic. */
#define GROUPS_MAX 64

static fgroup_t *group_for(fgroups_t *g, unsigned long idx)
{
    for (size_t i = 0; i < g->n; i++)
        if (g->v[i].idx == idx)
            return &g->v[i];
    if (g->n == GROUPS_MAX) {
        g->overflow = 1;
        return NULL;
    }
    g->v = xrealloc(g->v, (g->n + 1) * sizeof *g->v);
    g->v[g->n] = (fgroup_t){idx, {0}};
    return &g->v[g->n++];
}

static int cmp_group(const void *a, const void *b)
{
    unsigned long x = ((const fgroup_t *)a)->idx, y = ((const fgroup_t *)b)->idx;
    return x < y ? -1 : x > y;
}

static void groups_collect(const kvv_t *form, const char *prefix, fgroups_t *g)
{
    size_t pl = strlen(prefix);
    memset(g, 0, sizeof *g);
    for (size_t i = 0; i < form->n; i++) {
        const char *k = form->v[i].key;
        if (strncmp(k, prefix, pl) != 0)
            continue;
        const char *p = k + pl;
        size_t digits = strspn(p, "0123456789");
        if (!digits || digits > 9 || *p == '0' || (p[digits] != '.' && p[digits] != '\0'))
            continue;
        fgroup_t *e = group_for(g, strtoul(p, NULL, 10));
        if (!e)
            continue;
        if (!kvv_get(&e->f, p[digits] ? p + digits + 1 : ""))
            kvv_add(&e->f, p[digits] ? p + digits + 1 : "", form->v[i].val);
    }
    if (g->n > 1)
        qsort(g->v, g->n, sizeof *g->v, cmp_group);
}

/* Answers the request when a list or map had more entries than any SNS
 * action takes; returns 1 then. */
static int groups_overflow(req_ctx_t *ctx, const fgroups_t *g, const char *what)
{
    if (!g->overflow)
        return 0;
    char msg[160];
    snprintf(msg, sizeof msg, "Invalid parameter: %s Reason: more than %d entries", what,
             GROUPS_MAX); /* text not confirmed against AWS */
    sns_query_fail(ctx, ST_INVALID_PARAMETER, msg);
    return 1;
}

static void groups_free(fgroups_t *g)
{
    for (size_t i = 0; i < g->n; i++)
        kvv_free(&g->v[i].f);
    free(g->v);
}

/* name/value pairs of a map or tag list as borrowed kv_t (pointing into g). */
static kv_t *pairs_of(const fgroups_t *g, const char *kname, const char *vname, size_t *n)
{
    kv_t *v = xcalloc(g->n + 1, sizeof *v);
    *n = 0;
    for (size_t i = 0; i < g->n; i++) {
        const char *k = kvv_get(&g->v[i].f, kname), *val = kvv_get(&g->v[i].f, vname);
        if (!k)
            continue;
        v[(*n)++] = (kv_t){k, val ? val : ""};
    }
    return v;
}

static const char *need(req_ctx_t *ctx, const kvv_t *form, const char *name)
{
    const char *v = kvv_get(form, name);
    if (!v) {
        char msg[160];
        snprintf(msg, sizeof msg, "Invalid parameter: %s Reason: no value for required parameter", name);
        sns_query_fail(ctx, ST_INVALID_PARAMETER, msg);
    }
    return v;
}

/* ---- responses ------------------------------------------------------------------------- */

typedef struct resp {
    buf_t b;
    xml_t x;
    int result;                /* a <ActionResult> element is open */
    char root[96], inner[96]; /* element names: the xml writer keeps pointers to them */
} resp_t;

/* Actions without output (DeleteTopic, Unsubscribe, Set*Attributes) answer
 * with ResponseMetadata only; the rest wrap their output in <ActionResult>. */
static void resp_open(resp_t *r, const char *action, int result)
{
    memset(r, 0, sizeof *r);
    snprintf(r->root, sizeof r->root, "%sResponse", action);
    open_response(&r->x, &r->b, r->root);
    r->result = result;
    if (result) {
        snprintf(r->inner, sizeof r->inner, "%sResult", action);
        xml_open(&r->x, r->inner);
    }
}

static void resp_begin(resp_t *r, const char *action)
{
    resp_open(r, action, 1);
}

static void resp_send(req_ctx_t *ctx, resp_t *r)
{
    if (r->result)
        xml_close(&r->x);
    xml_open(&r->x, "ResponseMetadata");
    xml_leaf(&r->x, "RequestId", ctx->request_id);
    xml_close(&r->x);
    xml_finish(&r->x);
    router_reply(ctx, 200, XML_CTYPE, NULL, r->b.data, r->b.len);
    buf_free(&r->b);
}

static void reply_leaf(req_ctx_t *ctx, const char *action, const char *name, const char *value)
{
    resp_t r;
    resp_open(&r, action, name != NULL);
    if (name)
        xml_leaf(&r.x, name, value);
    resp_send(ctx, &r);
}

static void reply_empty_result(req_ctx_t *ctx, const char *action)
{
    resp_t r;
    resp_open(&r, action, 1);
    resp_send(ctx, &r);
}

static void render_map(xml_t *x, const char *name, const kvv_t *m)
{
    xml_open(x, name);
    for (size_t i = 0; i < m->n; i++) {
        xml_open(x, "entry");
        xml_leaf(x, "key", m->v[i].key);
        xml_leaf(x, "value", m->v[i].val);
        xml_close(x);
    }
    xml_close(x);
}

static int fail_if(req_ctx_t *ctx, status_t st, const err_t *err)
{
    if (st == ST_OK)
        return 0;
    sns_query_fail(ctx, st, err->msg);
    return 1;
}

static size_t arn_parts(const char *arn)
{
    size_t parts = 1;
    for (const char *p = arn; *p; p++)
        parts += *p == ':';
    return parts;
}

/* ARN form checks as AWS makes them: fewer than six ':'-separated parts, or
 * another region. Returns 0 or answers the request and returns -1. */
static int arn_check(req_ctx_t *ctx, const char *param, const char *arn, const char *region_param)
{
    char msg[256];
    size_t parts = arn_parts(arn);
    if (parts < 6) {
        snprintf(msg, sizeof msg, "Invalid parameter: %s Reason: An ARN must have at least 6 elements, not %zu", param,
                 parts);
        sns_query_fail(ctx, ST_INVALID_PARAMETER, msg);
        return -1;
    }
    const char *region = arn;
    for (int i = 0; i < 3; i++)
        region = strchr(region, ':') + 1;
    size_t rl = strcspn(region, ":");
    const char *want = topics_region(ctx->rt->topics);
    if (rl != strlen(want) || strncmp(region, want, rl) != 0) {
        snprintf(msg, sizeof msg, "Invalid parameter: %s", region_param);
        sns_query_fail(ctx, ST_INVALID_PARAMETER, msg);
        return -1;
    }
    return 0;
}

static topic_t *topic_of(req_ctx_t *ctx, const kvv_t *form, const char *param)
{
    const char *arn = need(ctx, form, param);
    if (!arn || arn_check(ctx, param, arn, param) != 0)
        return NULL;
    topic_t *t = topics_find_arn(ctx->rt->topics, arn);
    if (!t)
        sns_query_fail(ctx, ST_NOT_FOUND, "Topic does not exist");
    return t;
}

/* ---- topics ------------------------------------------------------------------------------- */

static void act_create_topic(req_ctx_t *ctx, const kvv_t *form)
{
    const char *name = need(ctx, form, "Name");
    if (!name)
        return;
    fgroups_t ag, tg;
    groups_collect(form, "Attributes.entry.", &ag);
    groups_collect(form, "Tags.member.", &tg);
    if (groups_overflow(ctx, &ag, "Attributes") || groups_overflow(ctx, &tg, "Tags")) {
        groups_free(&ag);
        groups_free(&tg);
        return;
    }
    size_t na, nt;
    kv_t *attrs = pairs_of(&ag, "key", "value", &na), *tags = pairs_of(&tg, "Key", "Value", &nt);
    const char *dpp = kvv_get(form, "DataProtectionPolicy");
    if (dpp)
        attrs[na++] = (kv_t){"DataProtectionPolicy", dpp};
    topic_t *t;
    err_t err;
    status_t st = topics_create(ctx->rt->topics, name, attrs, na, tags, nt, &t, &err);
    if (!fail_if(ctx, st, &err))
        reply_leaf(ctx, "CreateTopic", "TopicArn", topic_arn(t));
    free(attrs);
    free(tags);
    groups_free(&ag);
    groups_free(&tg);
}

static void act_delete_topic(req_ctx_t *ctx, const kvv_t *form)
{
    const char *arn = need(ctx, form, "TopicArn");
    if (!arn || arn_check(ctx, "TopicArn", arn, "TopicArn") != 0)
        return;
    topic_t *t = topics_find_arn(ctx->rt->topics, arn);
    err_t err;
    if (t && fail_if(ctx, topics_delete(ctx->rt->topics, t, &err), &err))
        return;
    reply_leaf(ctx, "DeleteTopic", NULL, NULL);
}

static void act_list_topics(req_ctx_t *ctx, const kvv_t *form)
{
    strv_t arns = {0};
    char *next = NULL;
    err_t err;
    if (fail_if(ctx, topics_list(ctx->rt->topics, kvv_get(form, "NextToken"), &arns, &next, &err), &err))
        return;
    resp_t r;
    resp_begin(&r, "ListTopics");
    xml_open(&r.x, "Topics");
    for (size_t i = 0; i < arns.n; i++) {
        xml_open(&r.x, "member");
        xml_leaf(&r.x, "TopicArn", arns.v[i]);
        xml_close(&r.x);
    }
    xml_close(&r.x);
    if (next)
        xml_leaf(&r.x, "NextToken", next);
    resp_send(ctx, &r);
    strv_free(&arns);
    free(next);
}

static void act_get_topic_attributes(req_ctx_t *ctx, const kvv_t *form)
{
    topic_t *t = topic_of(ctx, form, "TopicArn");
    if (!t)
        return;
    kvv_t attrs = {0};
    topic_get_attributes(t, &attrs);
    resp_t r;
    resp_begin(&r, "GetTopicAttributes");
    render_map(&r.x, "Attributes", &attrs);
    resp_send(ctx, &r);
    kvv_free(&attrs);
}

static void act_set_topic_attributes(req_ctx_t *ctx, const kvv_t *form)
{
    const char *name = need(ctx, form, "AttributeName");
    topic_t *t = name ? topic_of(ctx, form, "TopicArn") : NULL;
    if (!t)
        return;
    const char *value = kvv_get(form, "AttributeValue");
    err_t err;
    if (!fail_if(ctx, topic_set_attribute(t, name, value ? value : "", &err), &err))
        reply_leaf(ctx, "SetTopicAttributes", NULL, NULL);
}

/* ---- subscriptions ------------------------------------------------------------------------- */

static int is_true(const char *v)
{
    return v && strcasecmp(v, "true") == 0;
}

static void act_subscribe(req_ctx_t *ctx, const kvv_t *form)
{
    const char *protocol = need(ctx, form, "Protocol");
    topic_t *t = protocol ? topic_of(ctx, form, "TopicArn") : NULL;
    if (!t)
        return;
    const char *endpoint = kvv_get(form, "Endpoint");
    fgroups_t ag;
    groups_collect(form, "Attributes.entry.", &ag);
    if (groups_overflow(ctx, &ag, "Attributes")) {
        groups_free(&ag);
        return;
    }
    size_t na;
    kv_t *attrs = pairs_of(&ag, "key", "value", &na);
    char arn[SUB_ARN_MAX];
    err_t err;
    status_t st = topic_subscribe(t, protocol, endpoint ? endpoint : "", attrs, na,
                                  is_true(kvv_get(form, "ReturnSubscriptionArn")), arn, &err);
    if (!fail_if(ctx, st, &err))
        reply_leaf(ctx, "Subscribe", "SubscriptionArn", arn);
    free(attrs);
    groups_free(&ag);
}

static void act_confirm_subscription(req_ctx_t *ctx, const kvv_t *form)
{
    const char *token = need(ctx, form, "Token");
    const char *topic = token ? need(ctx, form, "TopicArn") : NULL;
    if (!topic || arn_check(ctx, "Topic", topic, "Topic") != 0)
        return;
    char arn[SUB_ARN_MAX];
    err_t err;
    status_t st = topics_confirm(ctx->rt->topics, token, is_true(kvv_get(form, "AuthenticateOnUnsubscribe")), arn, &err);
    if (!fail_if(ctx, st, &err))
        reply_leaf(ctx, "ConfirmSubscription", "SubscriptionArn", arn);
}

int sns_query_unsigned_ok(const topics_t *tp, const kvv_t *form)
{
    const char *action = kvv_get(form, "Action");
    if (action && strcmp(action, "ConfirmSubscription") == 0)
        return !is_true(kvv_get(form, "AuthenticateOnUnsubscribe"));
    if (!action || strcmp(action, "Unsubscribe") != 0)
        return 0;
    const char *arn = kvv_get(form, "SubscriptionArn");
    const sub_t *s = arn ? topics_find_sub(tp, arn) : NULL;
    return !s || !sub_auth_unsubscribe(s);
}

static void act_unsubscribe(req_ctx_t *ctx, const kvv_t *form)
{
    const char *arn = need(ctx, form, "SubscriptionArn");
    if (!arn || arn_check(ctx, "SubscriptionArn", arn, "SubscriptionArn") != 0)
        return;
    if (arn_parts(arn) == 6) { /* a topic's ARN: no subscription id */
        sns_query_fail(ctx, ST_INVALID_PARAMETER, "Invalid parameter: SubscriptionId");
        return;
    }
    err_t err;
    if (!fail_if(ctx, topics_unsubscribe(ctx->rt->topics, arn, &err), &err))
        reply_leaf(ctx, "Unsubscribe", NULL, NULL);
}

static void list_subs(req_ctx_t *ctx, const kvv_t *form, const topic_t *t, const char *action)
{
    sub_view_t *v;
    size_t n;
    char *next = NULL;
    err_t err;
    if (fail_if(ctx, topics_list_subs(ctx->rt->topics, t, kvv_get(form, "NextToken"), &v, &n, &next, &err), &err))
        return;
    resp_t r;
    resp_begin(&r, action);
    xml_open(&r.x, "Subscriptions");
    for (size_t i = 0; i < n; i++) {
        xml_open(&r.x, "member");
        xml_leaf(&r.x, "TopicArn", v[i].topic_arn);
        xml_leaf(&r.x, "Protocol", v[i].protocol);
        xml_leaf(&r.x, "SubscriptionArn", v[i].arn);
        xml_leaf(&r.x, "Owner", v[i].owner);
        xml_leaf(&r.x, "Endpoint", v[i].endpoint);
        xml_close(&r.x);
    }
    xml_close(&r.x);
    if (next)
        xml_leaf(&r.x, "NextToken", next);
    resp_send(ctx, &r);
    free(v);
    free(next);
}

static void act_list_subscriptions(req_ctx_t *ctx, const kvv_t *form)
{
    list_subs(ctx, form, NULL, "ListSubscriptions");
}

static void act_list_subscriptions_by_topic(req_ctx_t *ctx, const kvv_t *form)
{
    topic_t *t = topic_of(ctx, form, "TopicArn");
    if (t)
        list_subs(ctx, form, t, "ListSubscriptionsByTopic");
}

static sub_t *sub_of(req_ctx_t *ctx, const kvv_t *form)
{
    const char *arn = need(ctx, form, "SubscriptionArn");
    if (!arn)
        return NULL;
    sub_t *s = topics_find_sub(ctx->rt->topics, arn);
    if (!s)
        sns_query_fail(ctx, ST_NOT_FOUND, "Subscription does not exist");
    return s;
}

static void act_get_subscription_attributes(req_ctx_t *ctx, const kvv_t *form)
{
    sub_t *s = sub_of(ctx, form);
    if (!s)
        return;
    kvv_t attrs = {0};
    sub_get_attributes(s, &attrs);
    resp_t r;
    resp_begin(&r, "GetSubscriptionAttributes");
    render_map(&r.x, "Attributes", &attrs);
    resp_send(ctx, &r);
    kvv_free(&attrs);
}

static void act_set_subscription_attributes(req_ctx_t *ctx, const kvv_t *form)
{
    const char *name = need(ctx, form, "AttributeName");
    sub_t *s = name ? sub_of(ctx, form) : NULL;
    if (!s)
        return;
    const char *value = kvv_get(form, "AttributeValue");
    err_t err;
    if (!fail_if(ctx, sub_set_attribute(s, name, value ? value : "", &err), &err))
        reply_leaf(ctx, "SetSubscriptionAttributes", NULL, NULL);
}

/* ---- publishing ----------------------------------------------------------------------------- */

typedef struct pub_parse {
    fgroups_t ag;
    pub_attr_t *attrs;
    buf_t *bins; /* decoded BinaryValues */
    size_t n;
} pub_parse_t;

static void pub_parse_free(pub_parse_t *p)
{
    for (size_t i = 0; i < p->n; i++)
        buf_free(&p->bins[i]);
    free(p->bins);
    free(p->attrs);
    groups_free(&p->ag);
}

/* MessageAttributes.entry.N.* of f (a form or a batch entry's fields). */
static status_t pub_attrs(const kvv_t *f, pub_parse_t *p, err_t *err)
{
    memset(p, 0, sizeof *p);
    groups_collect(f, "MessageAttributes.entry.", &p->ag);
    if (p->ag.overflow)
        return err_set(err, ST_INVALID_PARAMETER, "Invalid parameter: MessageAttributes Reason: more than %d entries",
                       GROUPS_MAX); /* text not confirmed against AWS */
    p->attrs = xcalloc(p->ag.n + 1, sizeof *p->attrs);
    p->bins = xcalloc(p->ag.n + 1, sizeof *p->bins);
    for (size_t i = 0; i < p->ag.n; i++) {
        const kvv_t *e = &p->ag.v[i].f;
        pub_attr_t *a = &p->attrs[p->n];
        a->name = kvv_get(e, "Name");
        a->type = kvv_get(e, "Value.DataType");
        const char *sv = kvv_get(e, "Value.StringValue"), *bv = kvv_get(e, "Value.BinaryValue");
        buf_t *bin = &p->bins[p->n];
        p->n++;
        if (!a->name)
            a->name = "";
        if (bv) {
            a->binary_field = 1;
            if (text_b64_decode(bv, strlen(bv), bin) != 0)
                return err_set(err, ST_INVALID_ATTRIBUTE_VALUE,
                               "The message attribute '%s' has a BinaryValue that is not valid base64.",
                               a->name); /* text not confirmed against AWS */
            a->value = bin->data ? bin->data : "";
            a->value_len = bin->len;
        } else if (sv) {
            a->value = sv;
            a->value_len = strlen(sv);
        }
    }
    return ST_OK;
}

static void pub_req_of(const kvv_t *f, const pub_parse_t *p, publish_req_t *r)
{
    const char *m = kvv_get(f, "Message");
    *r = (publish_req_t){.message = m,
                         .message_len = m ? strlen(m) : 0,
                         .subject = kvv_get(f, "Subject"),
                         .structure = kvv_get(f, "MessageStructure"),
                         .attrs = p->attrs,
                         .nattrs = p->n,
                         .group_id = kvv_get(f, "MessageGroupId"),
                         .dedup_id = kvv_get(f, "MessageDeduplicationId")};
}

static void act_publish(req_ctx_t *ctx, const kvv_t *form)
{
    const char *param = kvv_get(form, "TopicArn") ? "TopicArn" : "TargetArn";
    if (!kvv_get(form, param)) {
        sns_query_fail(ctx, ST_INVALID_PARAMETER, kvv_get(form, "PhoneNumber")
                                                      ? "Invalid parameter: PhoneNumber: SMS is not supported by Sluice"
                                                      : "Invalid parameter: TopicArn or TargetArn Reason: no value for required parameter");
        return;
    }
    topic_t *t = topic_of(ctx, form, param);
    if (!t)
        return;
    pub_parse_t p;
    err_t err;
    status_t st = pub_attrs(form, &p, &err);
    publish_req_t r;
    publish_res_t res;
    pub_req_of(form, &p, &r);
    r.trace = ctx->trace[0] ? ctx->trace : NULL; /* X-Amzn-Trace-Id: on to queue subscriptions */
    if (st == ST_OK)
        st = topic_publish(t, &r, &res, &err);
    if (!fail_if(ctx, st, &err)) {
        resp_t rp;
        resp_begin(&rp, "Publish");
        xml_leaf(&rp.x, "MessageId", res.message_id);
        if (res.seq[0])
            xml_leaf(&rp.x, "SequenceNumber", res.seq);
        resp_send(ctx, &rp);
    }
    pub_parse_free(&p);
}

static status_t entry_id_check(const char *id, err_t *err)
{
    size_t n = strlen(id);
    for (size_t i = 0; i < n; i++) {
        char c = id[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_'))
            return err_set(err, ST_INVALID_BATCH_ENTRY_ID,
                           "The Id of a batch entry in the batch request contains an impermissible character: %.100s",
                           id);
    }
    if (n > 80)
        return err_set(err, ST_INVALID_BATCH_ENTRY_ID,
                       "The Id of a batch entry in the batch request is too long: %.100s", id);
    if (n == 0)
        return err_set(err, ST_INVALID_BATCH_ENTRY_ID,
                       "The Id of a batch entry in the batch request contains an impermissible character: ");
    return ST_OK;
}

/* One batch entry, parsed, and how its publish went. */
typedef struct batch_entry {
    const char *id;
    pub_parse_t p;
    publish_req_t r;
    status_t st;
    err_t err;
} batch_entry_t;

/* FIFO: the earlier entry of e[i]'s message group that was throttled, or -1.
 * e[i] fails with it, so the group's order holds when the client publishes
 * both again. */
static int group_throttled(const batch_entry_t *e, size_t i)
{
    for (size_t j = 0; j < i; j++)
        if (e[j].st == ST_REQUEST_THROTTLED && e[j].r.group_id && e[i].r.group_id &&
            strcmp(e[j].r.group_id, e[i].r.group_id) == 0)
            return (int)j;
    return -1;
}

/* The Failed list: a BatchResultErrorEntry for each entry that did not publish. */
static void batch_failed(xml_t *x, const batch_entry_t *e, size_t n)
{
    xml_open(x, "Failed");
    for (size_t i = 0; i < n; i++) {
        if (e[i].st == ST_OK)
            continue;
        const sns_error_t *er = error_for(e[i].st);
        xml_open(x, "member");
        xml_leaf(x, "Id", e[i].id);
        xml_leaf(x, "Code", er->code);
        xml_leaf(x, "Message", e[i].err.msg);
        xml_leaf(x, "SenderFault", er->sender ? "true" : "false");
        xml_close(x);
    }
    xml_close(x);
}

/* AWS checks the whole batch before publishing any of it: count, distinct
 * ids, id form, each entry as Publish would, then the total size. */
static status_t batch_check(const fgroups_t *g, const topic_t *t, batch_entry_t *e, err_t *err)
{
    if (g->n == 0)
        return err_set(err, ST_EMPTY_BATCH, "The batch request doesn't contain any entries.");
    if (g->n > BATCH_MAX)
        return err_set(err, ST_TOO_MANY_ENTRIES, "The batch request contains more entries than permissible.");
    for (size_t i = 0; i < g->n; i++) {
        e[i].id = kvv_get(&g->v[i].f, "Id");
        if (!e[i].id)
            e[i].id = "";
        for (size_t j = 0; j < i; j++)
            if (strcmp(e[i].id, e[j].id) == 0)
                return err_set(err, ST_BATCH_IDS_NOT_DISTINCT, "Two or more batch entries in the request have the same Id.");
    }
    status_t st;
    size_t total = 0;
    for (size_t i = 0; i < g->n; i++) {
        if ((st = entry_id_check(e[i].id, err)) != ST_OK || (st = pub_attrs(&g->v[i].f, &e[i].p, err)) != ST_OK)
            return st;
        pub_req_of(&g->v[i].f, &e[i].p, &e[i].r);
        if ((st = topic_publish_check(t, &e[i].r, err)) != ST_OK)
            return st;
        total += publish__size(&e[i].r);
    }
    if (total > 256 * 1024)
        return err_set(err, ST_BATCH_REQUEST_TOO_LONG,
                       "The length of all the messages put together is more than the limit.");
    return ST_OK;
}

static void act_publish_batch(req_ctx_t *ctx, const kvv_t *form)
{
    topic_t *t = topic_of(ctx, form, "TopicArn");
    if (!t)
        return;
    fgroups_t g;
    groups_collect(form, "PublishBatchRequestEntries.member.", &g);
    batch_entry_t e[BATCH_MAX];
    memset(e, 0, sizeof e);
    err_t err;
    status_t st = batch_check(&g, t, e, &err);
    if (!fail_if(ctx, st, &err)) {
        resp_t rp;
        resp_begin(&rp, "PublishBatch");
        xml_open(&rp.x, "Successful");
        for (size_t i = 0; i < g.n; i++) {
            publish_res_t res;
            /* checked above; what is left to fail is room in a queue (Throttled), per entry */
            int k = topic_is_fifo(t) ? group_throttled(e, i) : -1;
            if (k >= 0)
                e[i].st = e[k].st, e[i].err = e[k].err;
            else
                e[i].st = topic_publish(t, &e[i].r, &res, &e[i].err);
            if (e[i].st != ST_OK)
                continue;
            xml_open(&rp.x, "member");
            xml_leaf(&rp.x, "Id", e[i].id);
            xml_leaf(&rp.x, "MessageId", res.message_id);
            if (res.seq[0])
                xml_leaf(&rp.x, "SequenceNumber", res.seq);
            xml_close(&rp.x);
        }
        xml_close(&rp.x);
        batch_failed(&rp.x, e, g.n);
        resp_send(ctx, &rp);
    }
    for (size_t i = 0; i < BATCH_MAX && i < g.n; i++)
        pub_parse_free(&e[i].p);
    groups_free(&g);
}

/* ---- tags --------------------------------------------------------------------------------------- */

static void act_tag_resource(req_ctx_t *ctx, const kvv_t *form)
{
    const char *arn = need(ctx, form, "ResourceArn");
    if (!arn)
        return;
    fgroups_t tg;
    groups_collect(form, "Tags.member.", &tg);
    if (groups_overflow(ctx, &tg, "Tags")) {
        groups_free(&tg);
        return;
    }
    size_t n;
    kv_t *tags = pairs_of(&tg, "Key", "Value", &n);
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < i; j++)
            if (strcmp(tags[i].key, tags[j].key) == 0) {
                sns_query_fail(ctx, ST_INVALID_PARAMETER, "Invalid parameter: Duplicated keys are not allowed.");
                free(tags);
                groups_free(&tg);
                return;
            }
    err_t err;
    if (!fail_if(ctx, topics_tag(ctx->rt->topics, arn, tags, n, &err), &err))
        reply_empty_result(ctx, "TagResource");
    free(tags);
    groups_free(&tg);
}

static void act_untag_resource(req_ctx_t *ctx, const kvv_t *form)
{
    const char *arn = need(ctx, form, "ResourceArn");
    if (!arn)
        return;
    fgroups_t kg;
    groups_collect(form, "TagKeys.member.", &kg);
    if (groups_overflow(ctx, &kg, "TagKeys")) {
        groups_free(&kg);
        return;
    }
    const char **keys = xcalloc(kg.n + 1, sizeof *keys);
    size_t n = 0;
    for (size_t i = 0; i < kg.n; i++)
        if (kvv_get(&kg.v[i].f, ""))
            keys[n++] = kvv_get(&kg.v[i].f, "");
    err_t err;
    if (!fail_if(ctx, topics_untag(ctx->rt->topics, arn, keys, n, &err), &err))
        reply_empty_result(ctx, "UntagResource");
    free(keys);
    groups_free(&kg);
}

static void act_list_tags(req_ctx_t *ctx, const kvv_t *form)
{
    const char *arn = need(ctx, form, "ResourceArn");
    if (!arn)
        return;
    kvv_t tags = {0};
    err_t err;
    if (fail_if(ctx, topics_list_tags(ctx->rt->topics, arn, &tags, &err), &err))
        return;
    resp_t r;
    resp_begin(&r, "ListTagsForResource");
    xml_open(&r.x, "Tags");
    for (size_t i = 0; i < tags.n; i++) {
        xml_open(&r.x, "member");
        xml_leaf(&r.x, "Key", tags.v[i].key);
        xml_leaf(&r.x, "Value", tags.v[i].val);
        xml_close(&r.x);
    }
    xml_close(&r.x);
    resp_send(ctx, &r);
    kvv_free(&tags);
}

/* ---- dispatch ----------------------------------------------------------------------------------- */

typedef void (*sns_action_fn)(req_ctx_t *ctx, const kvv_t *form);

static const struct {
    const char *name;
    sns_action_fn fn;
} ACTIONS[] = {
    {"CreateTopic", act_create_topic},
    {"DeleteTopic", act_delete_topic},
    {"ListTopics", act_list_topics},
    {"GetTopicAttributes", act_get_topic_attributes},
    {"SetTopicAttributes", act_set_topic_attributes},
    {"Subscribe", act_subscribe},
    {"ConfirmSubscription", act_confirm_subscription},
    {"Unsubscribe", act_unsubscribe},
    {"ListSubscriptions", act_list_subscriptions},
    {"ListSubscriptionsByTopic", act_list_subscriptions_by_topic},
    {"GetSubscriptionAttributes", act_get_subscription_attributes},
    {"SetSubscriptionAttributes", act_set_subscription_attributes},
    {"Publish", act_publish},
    {"PublishBatch", act_publish_batch},
    {"TagResource", act_tag_resource},
    {"UntagResource", act_untag_resource},
    {"ListTagsForResource", act_list_tags},
};

int sns_query_known(const char *action)
{
    for (size_t i = 0; action && i < sizeof ACTIONS / sizeof ACTIONS[0]; i++)
        if (strcmp(ACTIONS[i].name, action) == 0)
            return 1;
    return 0;
}

void sns_query_handle(req_ctx_t *ctx, const kvv_t *form)
{
    const char *action = kvv_get(form, "Action");
    for (size_t i = 0; action && i < sizeof ACTIONS / sizeof ACTIONS[0]; i++)
        if (strcmp(ACTIONS[i].name, action) == 0) {
            snprintf(ctx->action, sizeof ctx->action, "%s", action);
            ACTIONS[i].fn(ctx, form);
            return;
        }
    char msg[200];
    snprintf(msg, sizeof msg, "Unrecognized action: %.100s", action ? action : ""); /* text not confirmed against AWS */
    sns_query_fail(ctx, ST_INVALID_ACTION, msg);
}
