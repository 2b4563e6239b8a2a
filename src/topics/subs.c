/*
 * subs — subscriptions of a topic: subscribe (idempotent), confirmation of
 * endpoints that must confirm (http, https), unsubscribe, listing, the
 * subscription attributes with their validation (FilterPolicy compiled here,
 * RedrivePolicy, DeliveryPolicy, RawMessageDelivery), and the delivery
 * policy in force for a subscription.
 *
 * Record SUB_PUT: id, topic id, arn, protocol, endpoint, owner, token,
 * pending, auth_unsub, attrs. SUB_DEL: id. A subscription's compiled filter
 * is rebuilt from its FilterPolicy attribute on replay.
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "topics/topics_int.h"
#include "util/alloc.h"
#include "util/jv.h"
#include "util/rand.h"
#include "util/text.h"

/* ---- protocols ---------------------------------------------------------------- */

typedef struct proto_def {
    const char *name;
    int confirm; /* the endpoint must confirm */
    int fifo_ok; /* may subscribe to a FIFO topic */
} proto_def_t;

static const proto_def_t PROTOCOLS[] = {
    {"sqs", 0, 1},
    {"http", 1, 0},
    {"https", 1, 0},
    {"lambda", 0, 0},
    {"function", 0, 0},
};

static const proto_def_t *proto_def(const char *name)
{
    for (size_t i = 0; i < sizeof PROTOCOLS / sizeof PROTOCOLS[0]; i++)
        if (strcmp(PROTOCOLS[i].name, name) == 0)
            return &PROTOCOLS[i];
    return NULL;
}

_Static_assert(sizeof PROTOCOLS / sizeof PROTOCOLS[0] == TOPIC_PROTOCOLS, "TOPIC_PROTOCOLS is the table's size");

const char *topics_protocol_name(int p)
{
    return p >= 0 && p < TOPIC_PROTOCOLS ? PROTOCOLS[p].name : "";
}

const char *topics_outcome_name(int o)
{
    static const char *const names[TOPIC_OUTCOMES] = {"delivered", "filtered", "retried", "failed"};
    return o >= 0 && o < TOPIC_OUTCOMES ? names[o] : "";
}

void subs__count(const sub_t *s, int outcome)
{
    s->t->counts.outcomes[s->proto][outcome]++;
}

static int is_endpoint_proto(const char *p)
{
    return strcmp(p, "sqs") != 0;
}

/* ---- delivery policies ---------------------------------------------------------- */

static const dpolicy_t DEFAULT_POLICY = {20, 20, 3, 0, 0, 0, DP_LINEAR, 0, 0, "text/plain; charset=UTF-8"};

static int parse_request(const jv_t *o, dpolicy_t *p, char *why, size_t n)
{
    if (!o || jv_is(o, JV_NULL))
        return 0;
    const char *ct = jv_str(jv_get(o, "headerContentType"));
    if (!jv_is(o, JV_OBJECT) || (jv_get(o, "headerContentType") && (!ct || strlen(ct) >= sizeof p->content_type))) {
        snprintf(why, n, "requestPolicy.headerContentType must be a content type"); /* text not confirmed against AWS */
        return -1;
    }
    if (ct)
        snprintf(p->content_type, sizeof p->content_type, "%s", ct);
    return 0;
}

/* An integer member of a policy section; reasons as AWS words them
 * ("healthyRetryPolicy.minDelayTarget must be greater than or equal to 1"). */
static int json_int(const jv_t *o, const char *section, const char *key, int lo, int hi, int *out, char *why,
                    size_t n)
{
    const jv_t *v = jv_get(o, key);
    if (!v)
        return 0;
    if (!jv_is(v, JV_NUMBER) || !jv_is_int(v)) {
        snprintf(why, n, "%s.%s must be an integer", section, key); /* text not confirmed against AWS */
        return -1;
    }
    if (v->i < lo || v->i > hi) {
        snprintf(why, n, "%s.%s must be %s than or equal to %d", section, key, v->i < lo ? "greater" : "less",
                 v->i < lo ? lo : hi);
        return -1;
    }
    *out = (int)v->i;
    return 0;
}

static int parse_retry(const jv_t *o, dpolicy_t *p, char *why, size_t n)
{
    if (!jv_is(o, JV_OBJECT)) {
        snprintf(why, n, "healthyRetryPolicy must be an object");
        return -1;
    }
    static const char S[] = "healthyRetryPolicy";
    if (json_int(o, S, "minDelayTarget", 1, 3600, &p->min_delay, why, n) < 0 ||
        json_int(o, S, "maxDelayTarget", 1, 3600, &p->max_delay, why, n) < 0 ||
        json_int(o, S, "numRetries", 0, 100, &p->num_retries, why, n) < 0 ||
        json_int(o, S, "numNoDelayRetries", 0, 100, &p->no_delay, why, n) < 0 ||
        json_int(o, S, "numMinDelayRetries", 0, 100, &p->min_retries, why, n) < 0 ||
        json_int(o, S, "numMaxDelayRetries", 0, 100, &p->max_retries, why, n) < 0)
        return -1;
    const jv_t *bf = jv_get(o, "backoffFunction");
    if (bf) {
        static const char *const names[] = {"linear", "arithmetic", "geometric", "exponential"};
        const char *name = jv_str(bf);
        p->backoff = -1;
        for (int i = 0; i < 4 && name; i++)
            if (strcmp(name, names[i]) == 0)
                p->backoff = i;
        if (p->backoff < 0) {
            snprintf(why, n, "backoffFunction must be one of linear, arithmetic, geometric, exponential");
            return -1;
        }
    }
    if (p->min_delay > p->max_delay) {
        snprintf(why, n, "healthyRetryPolicy.minDelayTarget must be less than or equal to maxDelayTarget"); /* text not confirmed against AWS */
        return -1;
    }
    if (p->no_delay + p->min_retries + p->max_retries > p->num_retries) {
        snprintf(why, n, "healthyRetryPolicy: numNoDelayRetries + numMinDelayRetries + numMaxDelayRetries must not "
                         "exceed numRetries"); /* text not confirmed against AWS */
        return -1;
    }
    return 0;
}

static int parse_throttle(const jv_t *o, dpolicy_t *p, char *why, size_t n)
{
    if (!o)
        return 0;
    if (!jv_is(o, JV_OBJECT)) {
        snprintf(why, n, "throttlePolicy must be an object");
        return -1;
    }
    return json_int(o, "throttlePolicy", "maxReceivesPerSecond", 1, 1000000, &p->max_per_second, why, n);
}

/* topic_level: {"http":{"defaultHealthyRetryPolicy":..,"defaultThrottlePolicy":..,
 * "disableSubscriptionOverrides":..}}; else {"healthyRetryPolicy":..,"throttlePolicy":..}. */
int subs__parse_policy(const char *json, int topic_level, dpolicy_t *out, char *why, size_t why_len)
{
    jv_doc_t *d = jv_doc_new();
    *out = DEFAULT_POLICY;
    int rc = -1;
    const jv_t *v = jv_parse(d, json, strlen(json), why, why_len);
    if (!jv_is(v, JV_OBJECT)) {
        if (v)
            snprintf(why, why_len, "the policy must be a JSON object");
        goto out;
    }
    if (topic_level) {
        const jv_t *h = jv_get(v, "http");
        if (!h) {
            rc = 0;
            goto out;
        }
        const jv_t *r = jv_get(h, "defaultHealthyRetryPolicy");
        const jv_t *dso = jv_get(h, "disableSubscriptionOverrides");
        if (!jv_is(h, JV_OBJECT) || (r && !jv_is(r, JV_NULL) && parse_retry(r, out, why, why_len) < 0) ||
            parse_throttle(jv_get(h, "defaultThrottlePolicy"), out, why, why_len) < 0 ||
            parse_request(jv_get(h, "defaultRequestPolicy"), out, why, why_len) < 0)
            goto out;
        if (dso && !jv_is(dso, JV_BOOL)) {
            snprintf(why, why_len, "disableSubscriptionOverrides must be a boolean");
            goto out;
        }
        out->no_overrides = dso && dso->boolean;
    } else {
        const jv_t *r = jv_get(v, "healthyRetryPolicy");
        if ((r && !jv_is(r, JV_NULL) && parse_retry(r, out, why, why_len) < 0) ||
            parse_throttle(jv_get(v, "throttlePolicy"), out, why, why_len) < 0 ||
            parse_request(jv_get(v, "requestPolicy"), out, why, why_len) < 0)
            goto out;
    }
    rc = 0;
out:
    jv_doc_free(d);
    return rc;
}

/* The subscription's sections where it has them (unless the topic disables
 * overrides), else the topic's defaults, else SNS's. */
void subs__policy(const sub_t *s, dpolicy_t *out)
{
    char why[128];
    const char *tpol = kvv_get(&s->t->attrs, "DeliveryPolicy");
    const char *spol = kvv_get(&s->attrs, "DeliveryPolicy");
    *out = DEFAULT_POLICY;
    if (tpol)
        subs__parse_policy(tpol, 1, out, why, sizeof why);
    if (spol && !out->no_overrides) {
        dpolicy_t sp, base = *out;
        jv_doc_t *d = jv_doc_new();
        const jv_t *v = jv_parse_cstr(d, spol);
        if (subs__parse_policy(spol, 0, &sp, why, sizeof why) == 0) {
            /* parsing starts from SNS's defaults: keep the topic's sections the subscription leaves out */
            if (!jv_is(jv_get(v, "healthyRetryPolicy"), JV_OBJECT))
                memcpy(&sp, &base, offsetof(dpolicy_t, max_per_second));
            if (!jv_is(jv_get(v, "throttlePolicy"), JV_OBJECT))
                sp.max_per_second = base.max_per_second;
            if (!jv_is(jv_get(v, "requestPolicy"), JV_OBJECT))
                memcpy(sp.content_type, base.content_type, sizeof sp.content_type);
            *out = sp;
        }
        jv_doc_free(d);
    }
}

static const char *const BACKOFF_NAMES[] = {"linear", "arithmetic", "geometric", "exponential"};

void subs__effective_topic_policy(const topic_t *t, buf_t *out)
{
    char why[128];
    dpolicy_t p = DEFAULT_POLICY;
    const char *tpol = kvv_get(&t->attrs, "DeliveryPolicy");
    if (tpol)
        subs__parse_policy(tpol, 1, &p, why, sizeof why);
    buf_printf(out,
               "{\"http\":{\"defaultHealthyRetryPolicy\":{\"minDelayTarget\":%d,\"maxDelayTarget\":%d,"
               "\"numRetries\":%d,\"numMaxDelayRetries\":%d,\"numNoDelayRetries\":%d,\"numMinDelayRetries\":%d,"
               "\"backoffFunction\":\"%s\"},\"disableSubscriptionOverrides\":%s,",
               p.min_delay, p.max_delay, p.num_retries, p.max_retries, p.no_delay, p.min_retries,
               BACKOFF_NAMES[p.backoff], p.no_overrides ? "true" : "false");
    if (p.max_per_second)
        buf_printf(out, "\"defaultThrottlePolicy\":{\"maxReceivesPerSecond\":%d},", p.max_per_second);
    buf_puts(out, "\"defaultRequestPolicy\":{\"headerContentType\":");
    jv_write_string(out, p.content_type, strlen(p.content_type));
    buf_puts(out, "}}}");
}

/* ---- attributes ------------------------------------------------------------------------ */

static const char *const SUB_ATTRS[] = {"DeliveryPolicy", "FilterPolicy",        "FilterPolicyScope",
                                        "RawMessageDelivery", "RedrivePolicy", "SubscriptionRoleArn",
                                        "ReplayPolicy"};

static int sub_attr_known(const char *name)
{
    for (size_t i = 0; i < sizeof SUB_ATTRS / sizeof SUB_ATTRS[0]; i++)
        if (strcmp(SUB_ATTRS[i], name) == 0)
            return 1;
    return 0;
}

/* RedrivePolicy: {"deadLetterTargetArn": "<sqs arn>"} and nothing else.
 * Returns the target (malloc'd) or NULL with AWS's reason. */
static char *redrive_target(const char *json, char *why, size_t n)
{
    jv_doc_t *d = jv_doc_new();
    char *arn = NULL, perr[256];
    const jv_t *v = jv_parse(d, json, strlen(json), perr, sizeof perr);
    const char *t = jv_str(jv_get(v, "deadLetterTargetArn"));
    if (!v) {
        snprintf(why, n, "RedrivePolicy: failed to parse JSON. %s", perr);
        goto out;
    }
    for (size_t i = 0; jv_is(v, JV_OBJECT) && i < jv_count(v); i++)
        if (strcmp(v->u.pairs[i].key, "deadLetterTargetArn") != 0) {
            snprintf(why, n, "RedrivePolicy: invalid JSON. Attribute %.100s is unknown.", v->u.pairs[i].key);
            goto out;
        }
    if (!t || strncmp(t, "arn:aws:sqs:", 12) != 0 || strchr(t + 12, ':') == NULL)
        snprintf(why, n, "RedrivePolicy: deadLetterTargetArn is an invalid arn");
    else
        arn = xstrdup(t);
out:
    jv_doc_free(d);
    return arn;
}

static filter_scope_t scope_of(const char *s)
{
    return s && strcmp(s, "MessageBody") == 0 ? FILTER_SCOPE_BODY : FILTER_SCOPE_ATTRIBUTES;
}

/* What a valid attribute change compiles to. */
typedef struct sub_change {
    filter_t *filter;
    int filter_set;
    char *dlq;
    int dlq_set;
} sub_change_t;

static int is_bool_ci(const char *v)
{
    return strcasecmp(v, "true") == 0 || strcasecmp(v, "false") == 0;
}

/* Checks name=value for a subscription of protocol on t; on failure writes
 * AWS's reason ("RawMessageDelivery: Invalid value [x]. ...") into why —
 * the caller adds "Invalid parameter: " (and, for Subscribe, "Attributes
 * Reason: "). */
static status_t attr_check(const topic_t *t, const char *protocol, const char *endpoint, const char *name,
                           const char *value, const char *scope, sub_change_t *ch, char *why, size_t n)
{
    dpolicy_t dp;
    if (!sub_attr_known(name)) {
        snprintf(why, n, "AttributeName");
        return ST_INVALID_PARAMETER;
    }
    if (strcmp(name, "RawMessageDelivery") == 0) {
        if (!is_bool_ci(value)) {
            snprintf(why, n, "RawMessageDelivery: Invalid value [%.200s]. Must be true or false.", value);
            return ST_INVALID_PARAMETER;
        }
        if (strcmp(protocol, "lambda") == 0 || strcmp(protocol, "function") == 0) {
            snprintf(why, n, "Delivery protocol [%s] does not support raw message delivery.", protocol);
            return ST_INVALID_PARAMETER;
        }
    } else if (strcmp(name, "FilterPolicyScope") == 0) {
        if (strcmp(value, "MessageAttributes") != 0 && strcmp(value, "MessageBody") != 0) {
            snprintf(why, n, "FilterPolicyScope: Invalid value [%.200s]. Please use either MessageBody or MessageAttributes",
                     value);
            return ST_INVALID_PARAMETER;
        }
    } else if (strcmp(name, "FilterPolicy") == 0) {
        filter_free(ch->filter);
        ch->filter = NULL;
        if (*value) {
            char fwhy[512];
            ch->filter = filter_compile(value, strlen(value), scope_of(scope), fwhy, sizeof fwhy);
            if (!ch->filter) {
                const char *r = strncmp(fwhy, FILTER_WHY_PREFIX, strlen(FILTER_WHY_PREFIX)) == 0
                                    ? fwhy + strlen(FILTER_WHY_PREFIX)
                                    : fwhy;
                snprintf(why, n, "%s", r);
                return ST_INVALID_PARAMETER;
            }
        }
        ch->filter_set = 1;
    } else if (strcmp(name, "RedrivePolicy") == 0) {
        free(ch->dlq);
        ch->dlq = NULL;
        if (*value && !(ch->dlq = redrive_target(value, why, n)))
            return ST_INVALID_PARAMETER;
        size_t el = strlen(endpoint), dl = ch->dlq ? strlen(ch->dlq) : 0;
        if (ch->dlq && t->fifo && el > 5 && !strcmp(endpoint + el - 5, ".fifo") &&
            !(dl > 5 && !strcmp(ch->dlq + dl - 5, ".fifo"))) {
            snprintf(why, n, "RedrivePolicy: must use a FIFO queue as DLQ for a FIFO Subscription to a FIFO Topic.");
            return ST_INVALID_PARAMETER;
        }
        ch->dlq_set = 1;
    } else if (strcmp(name, "DeliveryPolicy") == 0) {
        char pwhy[256];
        if (strcmp(protocol, "http") != 0 && strcmp(protocol, "https") != 0) {
            snprintf(why, n, "DeliveryPolicy: Delivery policy can only be set for HTTP/HTTPS subscriptions"); /* text not confirmed against AWS */
            return ST_INVALID_PARAMETER;
        }
        if (subs__parse_policy(value, 0, &dp, pwhy, sizeof pwhy) != 0) {
            snprintf(why, n, "DeliveryPolicy: %s", pwhy);
            return ST_INVALID_PARAMETER;
        }
    }
    return ST_OK;
}

static void change_free(sub_change_t *ch)
{
    filter_free(ch->filter);
    free(ch->dlq);
}

/* Keeps the topic's filter index in step with s->filter. */
static void index_filter(sub_t *s, filter_t *old)
{
    s->t->tp->subs_gen++;
    if (old)
        filter_set_remove(s->t->filters, s->id);
    else
        s->t->unfiltered--;
    if (s->filter)
        filter_set_add(s->t->filters, s->filter, s->id);
    else
        s->t->unfiltered++;
}

static void sub_apply_change(sub_t *s, sub_change_t *ch)
{
    const char *raw_given = kvv_get(&s->attrs, "RawMessageDelivery");
    if (raw_given)
        kvv_set(&s->attrs, "RawMessageDelivery", strcasecmp(raw_given, "true") == 0 ? "true" : "false");
    const char *fp = kvv_get(&s->attrs, "FilterPolicy");
    if (fp && !*fp)
        kvv_del(&s->attrs, "FilterPolicy");
    if (ch->filter_set) {
        filter_t *old = s->filter;
        s->filter = ch->filter;
        ch->filter = NULL;
        index_filter(s, old);
        filter_free(old);
    }
    if (ch->dlq_set) {
        free(s->dlq_arn);
        s->dlq_arn = ch->dlq;
        ch->dlq = NULL;
    }
    const char *raw = kvv_get(&s->attrs, "RawMessageDelivery");
    s->raw = raw && strcasecmp(raw, "true") == 0;
}

/* ---- records ---------------------------------------------------------------------------- */

void subs__encode(const sub_t *s, buf_t *b)
{
    buf_put_u64(b, s->id);
    buf_put_u64(b, s->t->id);
    buf_put_str(b, s->arn);
    buf_put_str(b, s->protocol);
    buf_put_str(b, s->endpoint);
    buf_put_str(b, s->owner);
    buf_put_str(b, s->token);
    buf_put_u8(b, (uint8_t)s->pending);
    buf_put_u8(b, (uint8_t)s->auth_unsub);
    buf_put_u32(b, (uint32_t)s->attrs.n);
    for (size_t i = 0; i < s->attrs.n; i++) {
        buf_put_str(b, s->attrs.v[i].key);
        buf_put_str(b, s->attrs.v[i].val);
    }
}

static void sub_put(const sub_t *s)
{
    buf_t b = BUF_INIT;
    s->t->tp->subs_gen++; /* a subscription put may have changed its state */
    subs__encode(s, &b);
    topics__emit(s->t->tp, REC_SUB_PUT, &b);
    buf_free(&b);
}

void subs__free(sub_t *s)
{
    s->t->tp->subs_gen++;
    list_del(&s->link);
    if (s->filter)
        filter_set_remove(s->t->filters, s->id);
    else
        s->t->unfiltered--;
    filter_free(s->filter);
    kvv_free(&s->attrs);
    free(s->arn);
    free(s->protocol);
    free(s->endpoint);
    free(s->owner);
    free(s->token);
    free(s->dlq_arn);
    free(s);
}

sub_t *subs__by_id(const topics_t *tp, uint64_t id)
{
    return hmap_get(&tp->subs_by_id, &id, sizeof id);
}

static sub_t *sub_new(topic_t *t, uint64_t id, const char *arn, const char *protocol, const char *endpoint)
{
    topics_t *tp = t->tp;
    sub_t *s = xcalloc(1, sizeof *s);
    s->t = t;
    s->id = id;
    s->arn = xstrdup(arn);
    s->protocol = xstrdup(protocol);
    s->endpoint = xstrdup(endpoint);
    s->owner = xstrdup(tp->account);
    const proto_def_t *pd = proto_def(protocol);
    s->proto = pd ? (int)(pd - PROTOCOLS) : 0;
    tp->subs_gen++;
    list_push_back(&t->subs, &s->link);
    t->unfiltered++;
    hmap_put(&tp->subs_by_arn, s->arn, strlen(s->arn), s);
    hmap_put(&tp->subs_by_id, &s->id, sizeof s->id, s);
    if (id >= tp->next_sub)
        tp->next_sub = id + 1;
    tp->stats.subs++;
    return s;
}

/* Rebuilds the compiled parts of s from its attributes (replay). */
static int sub_compile(sub_t *s)
{
    sub_change_t ch = {0};
    char why[512];
    const char *fp = kvv_get(&s->attrs, "FilterPolicy");
    const char *rp = kvv_get(&s->attrs, "RedrivePolicy");
    const char *scope = kvv_get(&s->attrs, "FilterPolicyScope");
    int rc = 0;
    if ((fp && attr_check(s->t, s->protocol, s->endpoint, "FilterPolicy", fp, scope, &ch, why, sizeof why) != ST_OK) ||
        (rp && attr_check(s->t, s->protocol, s->endpoint, "RedrivePolicy", rp, scope, &ch, why, sizeof why) != ST_OK))
        rc = -1;
    ch.filter_set = ch.dlq_set = 1;
    sub_apply_change(s, &ch);
    change_free(&ch);
    return rc;
}

int subs__apply_put(topics_t *tp, reader_t *r)
{
    uint64_t id = reader_u64(r), tid = reader_u64(r);
    char *arn = reader_strdup(r), *proto = reader_strdup(r), *ep = reader_strdup(r), *owner = reader_strdup(r);
    char *token = reader_strdup(r);
    int pending = reader_u8(r), auth = reader_u8(r);
    uint32_t n = reader_u32(r);
    kvv_t attrs = {0};
    for (uint32_t i = 0; i < n && !r->err; i++) {
        char *k = reader_strdup(r), *v = reader_strdup(r);
        if (k && v)
            kvv_add(&attrs, k, v);
        free(k);
        free(v);
    }
    topic_t *t = topics__topic_by_id(tp, tid);
    int rc = -1;
    if (r->err || !t || !arn || !proto || !ep || !owner)
        goto out;
    sub_t *s = hmap_get(&tp->subs_by_arn, arn, strlen(arn));
    if (!s)
        s = sub_new(t, id, arn, proto, ep);
    else if (s->id != id)
        goto out;
    free(s->token);
    s->token = token;
    token = NULL;
    s->pending = pending;
    tp->subs_gen++;
    s->auth_unsub = auth;
    kvv_free(&s->attrs);
    s->attrs = attrs;
    memset(&attrs, 0, sizeof attrs);
    rc = sub_compile(s);
out:
    kvv_free(&attrs);
    free(arn);
    free(proto);
    free(ep);
    free(owner);
    free(token);
    return rc;
}

void subs__drop(sub_t *s)
{
    topics_t *tp = s->t->tp;
    hmap_del(&tp->subs_by_arn, s->arn, strlen(s->arn));
    hmap_del(&tp->subs_by_id, &s->id, sizeof s->id);
    s->t->subs_deleted++;
    tp->stats.subs--;
    subs__free(s);
}

int subs__apply_del(topics_t *tp, reader_t *r)
{
    sub_t *s = subs__by_id(tp, reader_u64(r));
    if (r->err || !s)
        return -1;
    subs__drop(s);
    return 0;
}

/* ---- subscribe ------------------------------------------------------------------------------ */

static status_t endpoint_check(topic_t *t, const proto_def_t *p, const char *endpoint, err_t *err)
{
    if (strcmp(p->name, "sqs") == 0) {
        if (strncmp(endpoint, "arn:aws:sqs:", 12) != 0)
            return err_set(err, ST_INVALID_PARAMETER, "Invalid parameter: SQS endpoint ARN");
        queue_t *q = queues_find_arn(t->tp->qs, endpoint);
        size_t n = strlen(endpoint);
        int fifo_q = q ? queue_is_fifo(q) : n > 5 && strcmp(endpoint + n - 5, ".fifo") == 0;
        if (fifo_q && !t->fifo)
            return err_set(err, ST_INVALID_PARAMETER,
                           "Invalid parameter: Invalid parameter: Endpoint Reason: FIFO SQS Queues can not be "
                           "subscribed to standard SNS topics");
        return ST_OK;
    }
    if (strcmp(p->name, "http") == 0 || strcmp(p->name, "https") == 0) {
        size_t k = strlen(p->name) + 3;
        if (strncmp(endpoint, p->name, k - 3) != 0 || strncmp(endpoint + k - 3, "://", 3) != 0 || !endpoint[k])
            return err_set(err, ST_INVALID_PARAMETER, "Invalid parameter: Endpoint must match the specified protocol");
        return ST_OK;
    }
    if (!*endpoint)
        return err_set(err, ST_INVALID_PARAMETER, "Invalid parameter: Endpoint");
    return ST_OK;
}

static status_t subscribe_check(topic_t *t, const char *protocol, const char *endpoint, const proto_def_t **pd,
                                err_t *err)
{
    *pd = proto_def(protocol);
    if (!*pd)
        return err_set(err, ST_INVALID_PARAMETER, "Invalid parameter: Amazon SNS does not support this protocol string: %s",
                       protocol); /* text not confirmed against AWS */
    if (t->fifo && !(*pd)->fifo_ok)
        return err_set(err, ST_INVALID_PARAMETER, "Invalid parameter: Invalid protocol type: %s", protocol);
    if (is_endpoint_proto(protocol)) {
        int have = 0;
        for (int i = 0; i < t->tp->ndeliverers; i++)
            have |= strcmp(t->tp->deliverers[i].protocol, protocol) == 0;
        if (!have && !t->tp->replaying)
            return err_set(err, ST_INVALID_PARAMETER,
                           "Invalid parameter: Protocol: this Sluice has no deliverer for %s endpoints", protocol);
    }
    return endpoint_check(t, *pd, endpoint, err);
}

static sub_t *find_same(topic_t *t, const char *protocol, const char *endpoint)
{
    list_for_each(it, &t->subs) {
        sub_t *s = list_entry(it, sub_t, link);
        if (strcmp(s->protocol, protocol) == 0 && strcmp(s->endpoint, endpoint) == 0)
            return s;
    }
    return NULL;
}

/* Every attribute in the request equals the stored (or default) value;
 * attributes not in the request do not matter (AWS's recorded rule). */
static int attrs_same(const sub_t *s, const kv_t *attrs, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const char *k = attrs[i].key, *v = kvv_get(&s->attrs, k);
        if (strcmp(k, "RawMessageDelivery") == 0) {
            if ((strcasecmp(attrs[i].val, "true") == 0) != s->raw)
                return 0;
            continue;
        }
        if (!v && strcmp(k, "FilterPolicyScope") == 0)
            v = "MessageAttributes";
        if (!v && strcmp(k, "FilterPolicy") == 0)
            v = "";
        if (!v || strcmp(v, attrs[i].val) != 0)
            return 0;
    }
    return 1;
}

static void sub_arn_out(const sub_t *s, int return_arn, char out[SUB_ARN_MAX])
{
    snprintf(out, SUB_ARN_MAX, "%s", s->pending && !return_arn ? "pending confirmation" : s->arn);
}

static void send_confirmation(sub_t *s)
{
    char msg_id[UUID_STR_LEN];
    rand_uuid(msg_id);
    buf_t b = BUF_INIT;
    publish__envelope(s, "SubscriptionConfirmation", msg_id, NULL, NULL, 0, NULL, 0, NULL, s->token, &b);
    delivery__owe(s->t->tp, s, "SubscriptionConfirmation", msg_id, b.data, b.len);
    buf_free(&b);
}

static status_t subscribe(topic_t *t, const char *protocol, const char *endpoint, const kv_t *attrs, size_t nattrs,
                          int return_arn, int owner_confirmed, char arn_out[SUB_ARN_MAX], err_t *err)
{
    const proto_def_t *pd;
    status_t st = subscribe_check(t, protocol, endpoint, &pd, err);
    if (st != ST_OK)
        return st;
    sub_t *old = find_same(t, protocol, endpoint);
    if (old) {
        if (!attrs_same(old, attrs, nattrs))
            return err_set(err, ST_INVALID_PARAMETER,
                           "Invalid parameter: Attributes Reason: Subscription already exists with different attributes");
        sub_arn_out(old, return_arn, arn_out);
        return ST_OK;
    }
    sub_change_t ch = {0};
    char why[512];
    const char *scope = kv_get(attrs, nattrs, "FilterPolicyScope");
    for (size_t i = 0; i < nattrs && st == ST_OK; i++)
        st = attr_check(t, protocol, endpoint, attrs[i].key, attrs[i].val, scope, &ch, why, sizeof why);
    if (st != ST_OK) {
        change_free(&ch);
        return err_set(err, st, "Invalid parameter: Attributes Reason: %s", why);
    }
    char uuid[UUID_STR_LEN], arn[SUB_ARN_MAX];
    rand_uuid(uuid);
    snprintf(arn, sizeof arn, "%s:%s", t->arn, uuid);
    sub_t *s = sub_new(t, t->tp->next_sub, arn, protocol, endpoint);
    for (size_t i = 0; i < nattrs; i++)
        kvv_set(&s->attrs, attrs[i].key, attrs[i].val);
    sub_apply_change(s, &ch);
    change_free(&ch);
    if (pd->confirm && !owner_confirmed) {
        unsigned char raw[144]; /* AWS's tokens are 288 hex characters */
        char hex[289];
        rand_bytes(raw, sizeof raw);
        text_hex(raw, sizeof raw, hex);
        s->token = xstrdup(hex);
        s->pending = 1;
    }
    topics__begin(t->tp);
    sub_put(s);
    if (s->pending)
        send_confirmation(s);
    topics__end(t->tp);
    sub_arn_out(s, return_arn, arn_out);
    return ST_OK;
}

status_t topic_subscribe(topic_t *t, const char *protocol, const char *endpoint, const kv_t *attrs, size_t nattrs,
                         int return_arn, char arn_out[SUB_ARN_MAX], err_t *err)
{
    return subscribe(t, protocol, endpoint, attrs, nattrs, return_arn, 0, arn_out, err);
}

/* Declared in the configuration: the file is the owner's word, so endpoints
 * that would have to confirm are confirmed at once. */
status_t topic_declare_sub(topic_t *t, const char *protocol, const char *endpoint, const kv_t *attrs, size_t nattrs,
                           err_t *err)
{
    char arn[SUB_ARN_MAX];
    sub_t *s = find_same(t, protocol, endpoint);
    if (!s)
        return subscribe(t, protocol, endpoint, attrs, nattrs, 1, 1, arn, err);
    for (size_t i = 0; i < nattrs; i++) {
        const char *have = kvv_get(&s->attrs, attrs[i].key);
        status_t st = have && strcmp(have, attrs[i].val) == 0 ? ST_OK
                                                               : sub_set_attribute(s, attrs[i].key, attrs[i].val, err);
        if (st != ST_OK)
            return st;
    }
    return ST_OK;
}

static int is_token_shaped(const char *token)
{
    size_t n = strlen(token);
    return n == 288 && strspn(token, "0123456789abcdef") == n;
}

status_t topics_confirm(topics_t *tp, const char *token, int auth_unsubscribe, char arn_out[SUB_ARN_MAX], err_t *err)
{
    list_for_each(ti, &tp->order) {
        topic_t *t = list_entry(ti, topic_t, link);
        list_for_each(it, &t->subs) {
            sub_t *s = list_entry(it, sub_t, link);
            if (!s->token || strcmp(s->token, token) != 0)
                continue;
            /* One way: a confirmation may come unsigned, and must not take
             * back a signature requirement on Unsubscribe. */
            if (s->pending || (auth_unsubscribe && !s->auth_unsub)) {
                s->pending = 0;
                s->auth_unsub |= auth_unsubscribe != 0;
                sub_put(s);
            }
            snprintf(arn_out, SUB_ARN_MAX, "%s", s->arn);
            return ST_OK;
        }
    }
    if (is_token_shaped(token))
        return err_set(err, ST_INVALID_PARAMETER, "Invalid parameter: Token");
    return err_set(err, ST_INVALID_PARAMETER, "Invalid token");
}

sub_t *topics_find_sub(const topics_t *tp, const char *arn)
{
    return hmap_get(&tp->subs_by_arn, arn, strlen(arn));
}

int sub_auth_unsubscribe(const sub_t *s)
{
    return s->auth_unsub;
}

status_t topics_unsubscribe(topics_t *tp, const char *sub_arn, err_t *err)
{
    (void)err;
    sub_t *s = topics_find_sub(tp, sub_arn);
    if (!s)
        return ST_OK; /* idempotent, as AWS */
    buf_t b = BUF_INIT;
    buf_put_u64(&b, s->id);
    topics__emit(tp, REC_SUB_DEL, &b);
    buf_free(&b);
    subs__drop(s);
    return ST_OK;
}

status_t topics_list_subs(const topics_t *tp, const topic_t *t, const char *next_token, sub_view_t **out, size_t *n,
                          char **next_out, err_t *err)
{
    uint64_t from = 0;
    *next_out = NULL;
    *n = 0;
    *out = NULL;
    status_t st = topics__page_from(next_token, &from, err);
    if (st != ST_OK)
        return st;
    sub_view_t *v = xcalloc(TOPICS_PAGE, sizeof *v);
    list_for_each(ti, &tp->order) {
        topic_t *tt = list_entry(ti, topic_t, link);
        if (t && tt != t)
            continue;
        list_for_each(si, &tt->subs) {
            sub_t *s = list_entry(si, sub_t, link);
            if (s->id < from)
                continue;
            if (*n == TOPICS_PAGE) {
                *next_out = topics__page_token(s->id);
                *out = v;
                return ST_OK;
            }
            snprintf(v[*n].arn, sizeof v[*n].arn, "%s", s->pending ? "PendingConfirmation" : s->arn);
            snprintf(v[*n].topic_arn, sizeof v[*n].topic_arn, "%s", tt->arn);
            v[*n].protocol = s->protocol;
            v[*n].endpoint = s->endpoint;
            v[*n].owner = s->owner;
            (*n)++;
        }
    }
    *out = v;
    return ST_OK;
}

void sub_get_attributes(const sub_t *s, kvv_t *out)
{
    kvv_add(out, "ConfirmationWasAuthenticated", s->pending ? "false" : "true");
    kvv_add(out, "Owner", s->owner);
    kvv_add(out, "RawMessageDelivery", s->raw ? "true" : "false");
    kvv_add(out, "TopicArn", s->t->arn);
    kvv_add(out, "Endpoint", s->endpoint);
    kvv_add(out, "Protocol", s->protocol);
    kvv_add(out, "PendingConfirmation", s->pending ? "true" : "false");
    kvv_add(out, "SubscriptionArn", s->arn);
    char principal[128];
    snprintf(principal, sizeof principal, "arn:aws:iam::%s:root", s->t->tp->account);
    kvv_add(out, "SubscriptionPrincipal", principal);
    if (strcmp(s->protocol, "http") == 0 || strcmp(s->protocol, "https") == 0) {
        const char *tp = kvv_get(&s->t->attrs, "DeliveryPolicy");
        const char *sp = kvv_get(&s->attrs, "DeliveryPolicy");
        if (sp)
            kvv_add(out, "EffectiveDeliveryPolicy", sp);
        else if (tp)
            kvv_add(out, "EffectiveDeliveryPolicy", tp);
    }
    int has_filter = kvv_get(&s->attrs, "FilterPolicy") != NULL;
    for (size_t i = 0; i < s->attrs.n; i++) {
        const char *k = s->attrs.v[i].key;
        if (strcmp(k, "RawMessageDelivery") != 0 && (has_filter || strcmp(k, "FilterPolicyScope") != 0))
            kvv_add(out, k, s->attrs.v[i].val);
    }
    if (has_filter && !kvv_get(&s->attrs, "FilterPolicyScope"))
        kvv_add(out, "FilterPolicyScope", "MessageAttributes");
}

status_t sub_set_attribute(sub_t *s, const char *name, const char *value, err_t *err)
{
    sub_change_t ch = {0};
    char why[512];
    const char *scope = strcmp(name, "FilterPolicyScope") == 0 ? value : kvv_get(&s->attrs, "FilterPolicyScope");
    status_t st = attr_check(s->t, s->protocol, s->endpoint, name, value, scope, &ch, why, sizeof why);
    const char *fp = kvv_get(&s->attrs, "FilterPolicy");
    /* A new scope must hold for the policy already set. */
    if (st == ST_OK && strcmp(name, "FilterPolicyScope") == 0 && fp && *fp)
        st = attr_check(s->t, s->protocol, s->endpoint, "FilterPolicy", fp, value, &ch, why, sizeof why);
    if (st != ST_OK) {
        change_free(&ch);
        return err_set(err, st, "Invalid parameter: %s", why);
    }
    if (strcmp(name, "FilterPolicy") == 0 && !*value)
        kvv_del(&s->attrs, "FilterPolicy");
    else
        kvv_set(&s->attrs, name, value);
    sub_apply_change(s, &ch);
    change_free(&ch);
    sub_put(s);
    return ST_OK;
}
