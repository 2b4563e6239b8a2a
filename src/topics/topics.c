/*
 * topics — the registry of topics: create/delete/list, topic attributes and
 * tags, the engine's records (apply and dump) and its clock and deadlines.
 *
 * Records (little-endian, buf_put_*):
 *   TOPIC_PUT  id, name, fifo, next_seq, subs_deleted, attrs, tags
 *   TOPIC_DEL  id
 *   SUB_PUT / SUB_DEL, FIFO_PUB, DLV_PUT / DLV_DEL: see subs.c, publish.c,
 *   delivery.c. A snapshot writes topics, then subscriptions, FIFO dedup
 *   entries and owed deliveries — the same records replay reads.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "topics/topics_int.h"
#include "util/alloc.h"
#include "util/clock.h"
#include "util/jv.h"
#include "util/logging.h"
#include "util/text.h"

topics_t *topics_new(const topics_config_t *cfg, store_t *store, queues_t *qs)
{
    topics_t *tp = xcalloc(1, sizeof *tp);
    tp->region = xstrdup(cfg->region);
    tp->account = xstrdup(cfg->account);
    buf_t pre = BUF_INIT;
    buf_printf(&pre, "arn:aws:sns:%s:%s:", tp->region, tp->account);
    tp->arn_prefix = pre.data;
    tp->arn_prefix_len = pre.len;
    tp->base_url = xstrdup(cfg->base_url ? cfg->base_url : "http://127.0.0.1:4566");
    tp->store = store;
    tp->qs = qs;
    hmap_init(&tp->by_arn);
    hmap_init(&tp->subs_by_arn);
    hmap_init(&tp->subs_by_id);
    hmap_init(&tp->outbox);
    list_init(&tp->order);
    heap_init(&tp->retry_heap);
    tp->next_id = tp->next_sub = tp->next_dlv = 1;
    tp->clock = clock_wall_ms;
    return tp;
}

void topics_set_base_url(topics_t *tp, const char *base_url)
{
    free(tp->base_url);
    tp->base_url = xstrdup(base_url);
}

void topics_set_signer(topics_t *tp, const signer_t *s)
{
    tp->signer = s;
}

const char *topics_region(const topics_t *tp)
{
    return tp->region;
}

static void topic_free(topic_t *t)
{
    while (!list_empty(&t->subs))
        subs__free(list_entry(t->subs.next, sub_t, link));
    publish__free_dedup(t);
    filter_set_free(t->filters);
    kvv_free(&t->attrs);
    kvv_free(&t->tags);
    free(t->name);
    free(t->arn);
    free(t);
}

void topics_free(topics_t *tp)
{
    if (!tp)
        return;
    delivery__free_all(tp);
    while (!list_empty(&tp->order)) {
        topic_t *t = list_entry(tp->order.next, topic_t, link);
        list_del(&t->link);
        topic_free(t);
    }
    hmap_free(&tp->by_arn);
    hmap_free(&tp->subs_by_arn);
    hmap_free(&tp->subs_by_id);
    hmap_free(&tp->outbox);
    heap_free(&tp->retry_heap);
    filter_ids_free(&tp->matched);
    free(tp->region);
    free(tp->account);
    free(tp->arn_prefix);
    free(tp->base_url);
    free(tp);
}

void topics_set_clock(topics_t *tp, uint64_t (*clock)(void))
{
    tp->clock = clock;
}

uint64_t topics__now(const topics_t *tp)
{
    return tp->clock();
}

void topics_set_deadline_cb(topics_t *tp, void (*cb)(void *, uint64_t), void *arg)
{
    tp->deadline_cb = cb;
    tp->deadline_arg = arg;
}

void topics__ask_deadline(topics_t *tp, uint64_t at)
{
    if (tp->deadline_cb && !tp->replaying)
        tp->deadline_cb(tp->deadline_arg, at);
}

uint64_t topics_tick(topics_t *tp)
{
    uint64_t now = topics__now(tp), next = 0;
    list_for_each(it, &tp->order) {
        topic_t *t = list_entry(it, topic_t, link);
        publish__expire(t, now);
        if (!list_empty(&t->dedup_order)) {
            uint64_t e = list_entry(t->dedup_order.next, tdedup_t, link)->expires;
            if (!next || e < next)
                next = e;
        }
    }
    uint64_t d = delivery__tick(tp, now);
    return d && (!next || d < next) ? d : next;
}

void topics__emit(topics_t *tp, uint8_t type, const buf_t *b)
{
    if (tp->store && !tp->replaying)
        store_append(tp->store, type, b->data, b->len);
}

void topics__begin(topics_t *tp)
{
    if (tp->store && !tp->replaying)
        store_group_begin(tp->store);
}

void topics__end(topics_t *tp)
{
    if (tp->store && !tp->replaying)
        store_group_end(tp->store);
}

int topics__json_ok(const char *s)
{
    jv_doc_t *d = jv_doc_new();
    char why[128];
    int ok = jv_parse(d, s, strlen(s), why, sizeof why) != NULL;
    jv_doc_free(d);
    return ok;
}

/* ---- names and attributes ------------------------------------------------------ */

static int name_ok(const char *name, int fifo)
{
    size_t n = strlen(name), base = n;
    if (fifo) {
        if (n < 6 || strcmp(name + n - 5, ".fifo") != 0)
            return 0;
        base = n - 5;
    }
    if (n < 1 || n > 256 || base < 1)
        return 0;
    return text_name_chars(name, base, "-_");
}

enum { A_ANY, A_JSON, A_BOOL, A_SIGVER, A_TRACING, A_SCOPE, A_DELIVERY, A_RATE };

typedef struct attr_def {
    const char *name;
    int kind;
    int fifo_only;
} attr_def_t;

static const attr_def_t TOPIC_ATTRS[] = {
    {"DeliveryPolicy", A_DELIVERY, 0},
    {"DisplayName", A_ANY, 0},
    {"Policy", A_JSON, 0},
    {"KmsMasterKeyId", A_ANY, 0},
    {"SignatureVersion", A_SIGVER, 0},
    {"TracingConfig", A_TRACING, 0},
    {"ContentBasedDeduplication", A_BOOL, 1},
    {"FifoThroughputScope", A_SCOPE, 1},
    {"ArchivePolicy", A_JSON, 1},
    {"DataProtectionPolicy", A_JSON, 0},
    {"HTTPSuccessFeedbackRoleArn", A_ANY, 0},
    {"HTTPSuccessFeedbackSampleRate", A_RATE, 0},
    {"HTTPFailureFeedbackRoleArn", A_ANY, 0},
    {"SQSSuccessFeedbackRoleArn", A_ANY, 0},
    {"SQSSuccessFeedbackSampleRate", A_RATE, 0},
    {"SQSFailureFeedbackRoleArn", A_ANY, 0},
    {"LambdaSuccessFeedbackRoleArn", A_ANY, 0},
    {"LambdaSuccessFeedbackSampleRate", A_RATE, 0},
    {"LambdaFailureFeedbackRoleArn", A_ANY, 0},
    {"ApplicationSuccessFeedbackRoleArn", A_ANY, 0},
    {"ApplicationSuccessFeedbackSampleRate", A_RATE, 0},
    {"ApplicationFailureFeedbackRoleArn", A_ANY, 0},
    {"FirehoseSuccessFeedbackRoleArn", A_ANY, 0},
    {"FirehoseSuccessFeedbackSampleRate", A_RATE, 0},
    {"FirehoseFailureFeedbackRoleArn", A_ANY, 0},
};

static const attr_def_t *topic_attr_def(const char *name)
{
    for (size_t i = 0; i < sizeof TOPIC_ATTRS / sizeof TOPIC_ATTRS[0]; i++)
        if (strcmp(TOPIC_ATTRS[i].name, name) == 0)
            return &TOPIC_ATTRS[i];
    return NULL;
}

static int is_bool(const char *v)
{
    return strcasecmp(v, "true") == 0 || strcasecmp(v, "false") == 0;
}

/* Validates one topic attribute value; the message is AWS's InvalidParameter text. */
static status_t topic_attr_check(const attr_def_t *a, const char *v, int fifo, err_t *err)
{
    char why[256];
    dpolicy_t dp;
    if (a->fifo_only && !fifo)
        return err_set(err, ST_INVALID_PARAMETER, "Invalid parameter: Attributes Reason: %s : The attribute %s can only be set for FIFO topics",
                       a->name, a->name); /* text not confirmed against AWS */
    switch (a->kind) {
    case A_JSON:
        if (!topics__json_ok(v))
            return err_set(err, ST_INVALID_PARAMETER, "Invalid parameter: %s", a->name);
        break;
    case A_BOOL:
        if (!is_bool(v))
            return err_set(err, ST_INVALID_PARAMETER, "Invalid parameter: %s", a->name);
        break;
    case A_SIGVER:
        if (strcmp(v, "1") != 0 && strcmp(v, "2") != 0)
            return err_set(err, ST_INVALID_PARAMETER, "Invalid parameter: SignatureVersion");
        break;
    case A_TRACING:
        if (strcmp(v, "PassThrough") != 0 && strcmp(v, "Active") != 0)
            return err_set(err, ST_INVALID_PARAMETER, "Invalid parameter: TracingConfig");
        break;
    case A_SCOPE:
        if (strcmp(v, "Topic") != 0 && strcmp(v, "MessageGroup") != 0)
            return err_set(err, ST_INVALID_PARAMETER, "Invalid parameter: FifoThroughputScope");
        break;
    case A_RATE: {
        char *end;
        long n = strtol(v, &end, 10);
        if (!*v || *end || n < 0 || n > 100)
            return err_set(err, ST_INVALID_PARAMETER, "Invalid parameter: %s", a->name);
        break;
    }
    case A_DELIVERY:
        if (subs__parse_policy(v, 1, &dp, why, sizeof why) != 0)
            return err_set(err, ST_INVALID_PARAMETER, "Invalid parameter: DeliveryPolicy: %s", why);
        break;
    default:
        break;
    }
    return ST_OK;
}

static int kvv_equal_given(const kvv_t *have, const kv_t *given, size_t n, const char *skip)
{
    for (size_t i = 0; i < n; i++) {
        if (skip && strcmp(given[i].key, skip) == 0)
            continue;
        const char *v = kvv_get(have, given[i].key);
        if (!v || strcmp(v, given[i].val) != 0)
            return 0;
    }
    return 1;
}

/* ---- records ----------------------------------------------------------------------- */

static void put_kvv(buf_t *b, const kvv_t *k)
{
    buf_put_u32(b, (uint32_t)k->n);
    for (size_t i = 0; i < k->n; i++) {
        buf_put_str(b, k->v[i].key);
        buf_put_str(b, k->v[i].val);
    }
}

static int get_kvv(reader_t *r, kvv_t *k)
{
    uint32_t n = reader_u32(r);
    for (uint32_t i = 0; i < n && !r->err; i++) {
        char *key = reader_strdup(r), *val = reader_strdup(r);
        if (key && val)
            kvv_add(k, key, val);
        free(key);
        free(val);
    }
    return r->err ? -1 : 0;
}

static void topic_encode(const topic_t *t, buf_t *b)
{
    buf_put_u64(b, t->id);
    buf_put_str(b, t->name);
    buf_put_u8(b, (uint8_t)t->fifo);
    buf_put_u64(b, t->next_seq);
    buf_put_u64(b, t->subs_deleted);
    put_kvv(b, &t->attrs);
    put_kvv(b, &t->tags);
}

void topics__put_topic(topic_t *t)
{
    buf_t b = BUF_INIT;
    topic_encode(t, &b);
    topics__emit(t->tp, REC_TOPIC_PUT, &b);
    buf_free(&b);
}

static topic_t *topic_new(topics_t *tp, uint64_t id, const char *name, int fifo)
{
    topic_t *t = xcalloc(1, sizeof *t);
    t->tp = tp;
    t->id = id;
    t->name = xstrdup(name);
    t->fifo = fifo;
    char arn[TOPIC_ARN_MAX];
    snprintf(arn, sizeof arn, "arn:aws:sns:%s:%s:%s", tp->region, tp->account, name);
    t->arn = xstrdup(arn);
    list_init(&t->subs);
    t->filters = filter_set_new();
    list_init(&t->dedup_order);
    hmap_init(&t->dedup);
    t->next_seq = 1;
    hmap_put(&tp->by_arn, t->arn, strlen(t->arn), t);
    list_push_back(&tp->order, &t->link);
    if (id >= tp->next_id)
        tp->next_id = id + 1;
    tp->stats.topics++;
    return t;
}

topic_t *topics__topic_by_id(const topics_t *tp, uint64_t id)
{
    list_for_each(it, &tp->order) {
        topic_t *t = list_entry(it, topic_t, link);
        if (t->id == id)
            return t;
    }
    return NULL;
}

static int apply_topic_put(topics_t *tp, reader_t *r)
{
    uint64_t id = reader_u64(r);
    char *name = reader_strdup(r);
    int fifo = reader_u8(r);
    uint64_t next_seq = reader_u64(r), deleted = reader_u64(r);
    kvv_t attrs = {0}, tags = {0};
    int rc = -1;
    if (!name || get_kvv(r, &attrs) < 0 || get_kvv(r, &tags) < 0 || !name_ok(name, fifo))
        goto out;
    topic_t *t = topics__topic_by_id(tp, id);
    if (!t)
        t = topic_new(tp, id, name, fifo);
    else if (strcmp(t->name, name) != 0)
        goto out;
    kvv_free(&t->attrs);
    kvv_free(&t->tags);
    t->attrs = attrs;
    t->tags = tags;
    memset(&attrs, 0, sizeof attrs);
    memset(&tags, 0, sizeof tags);
    t->next_seq = next_seq;
    t->subs_deleted = deleted;
    rc = 0;
out:
    kvv_free(&attrs);
    kvv_free(&tags);
    free(name);
    return rc;
}

static void topic_remove(topics_t *tp, topic_t *t)
{
    list_for_each(it, &t->subs) {
        sub_t *s = list_entry(it, sub_t, link);
        hmap_del(&tp->subs_by_arn, s->arn, strlen(s->arn));
        hmap_del(&tp->subs_by_id, &s->id, sizeof s->id);
    }
    hmap_del(&tp->by_arn, t->arn, strlen(t->arn));
    list_del(&t->link);
    tp->stats.topics--;
    topic_free(t);
}

static int apply_topic_del(topics_t *tp, reader_t *r)
{
    topic_t *t = topics__topic_by_id(tp, reader_u64(r));
    if (r->err || !t)
        return -1;
    topic_remove(tp, t);
    return 0;
}

int topics_apply(void *arg, uint8_t type, const void *payload, size_t len)
{
    topics_t *tp = arg;
    reader_t r;
    reader_init(&r, payload, len);
    int rc;
    tp->replaying = 1;
    switch (type) {
    case REC_TOPIC_PUT: rc = apply_topic_put(tp, &r); break;
    case REC_TOPIC_DEL: rc = apply_topic_del(tp, &r); break;
    case REC_SUB_PUT: rc = subs__apply_put(tp, &r); break;
    case REC_SUB_DEL: rc = subs__apply_del(tp, &r); break;
    case REC_FIFO_PUB: rc = publish__apply_fifo(tp, &r); break;
    case REC_DLV_PUT: rc = delivery__apply_put(tp, &r); break;
    case REC_DLV_DEL: rc = delivery__apply_del(tp, &r); break;
    default: rc = -1;
    }
    tp->replaying = 0;
    if (rc == 0 && r.err)
        rc = -1;
    if (rc != 0)
        log_error("topics_record_rejected", "type=%u len=%zu", type, len);
    return rc;
}

int topics_dump(void *arg, store_snap_t *snap)
{
    topics_t *tp = arg;
    buf_t b = BUF_INIT;
    list_for_each(it, &tp->order) {
        topic_t *t = list_entry(it, topic_t, link);
        buf_reset(&b);
        topic_encode(t, &b);
        store_snap_put(snap, REC_TOPIC_PUT, b.data, b.len);
        list_for_each(si, &t->subs) {
            buf_reset(&b);
            subs__encode(list_entry(si, sub_t, link), &b);
            store_snap_put(snap, REC_SUB_PUT, b.data, b.len);
        }
        publish__dump_fifo(t, snap);
    }
    delivery__dump(tp, snap);
    buf_free(&b);
    return 0;
}

/* ---- topics ------------------------------------------------------------------------------ */

static int want_fifo(const kv_t *attrs, size_t n)
{
    const char *v = kv_get(attrs, n, "FifoTopic");
    return v && strcasecmp(v, "true") == 0;
}

static status_t create_check(const char *name, const kv_t *attrs, size_t nattrs, const kv_t *tags, size_t ntags,
                             err_t *err)
{
    int fifo = want_fifo(attrs, nattrs);
    const char *f = kv_get(attrs, nattrs, "FifoTopic");
    if (f && !is_bool(f))
        return err_set(err, ST_INVALID_PARAMETER, "Invalid parameter: FifoTopic");
    if (!name_ok(name, fifo)) {
        if (fifo || (strlen(name) > 5 && strcmp(name + strlen(name) - 5, ".fifo") == 0 && name_ok(name, 1)))
            return err_set(err, ST_INVALID_PARAMETER,
                           "Invalid parameter: Fifo Topic names must end with .fifo and must be made up of only "
                           "uppercase and lowercase ASCII letters, numbers, underscores, and hyphens, and must be "
                           "between 1 and 256 characters long.");
        return err_set(err, ST_INVALID_PARAMETER, "Invalid parameter: Topic Name");
    }
    for (size_t i = 0; i < nattrs; i++) {
        if (strcmp(attrs[i].key, "FifoTopic") == 0)
            continue;
        const attr_def_t *a = topic_attr_def(attrs[i].key);
        if (!a)
            return err_set(err, ST_INVALID_PARAMETER, "Invalid parameter: Attributes Reason: Unknown attribute %s",
                           attrs[i].key); /* text not confirmed against AWS */
        status_t st = topic_attr_check(a, attrs[i].val, fifo, err);
        if (st != ST_OK)
            return st;
    }
    for (size_t i = 0; i < ntags; i++)
        if (strlen(tags[i].key) < 1 || strlen(tags[i].key) > 128 || strlen(tags[i].val) > 256)
            return err_set(err, ST_INVALID_PARAMETER, "Invalid parameter: Tags");
    if (ntags > 50)
        return err_set(err, ST_TAG_LIMIT_EXCEEDED, "Can't add more than 50 tags to a topic.");
    return ST_OK;
}

status_t topics_create(topics_t *tp, const char *name, const kv_t *attrs, size_t nattrs, const kv_t *tags,
                       size_t ntags, topic_t **out, err_t *err)
{
    status_t st = create_check(name, attrs, nattrs, tags, ntags, err);
    if (st != ST_OK)
        return st;
    char arn[TOPIC_ARN_MAX];
    snprintf(arn, sizeof arn, "arn:aws:sns:%s:%s:%s", tp->region, tp->account, name);
    topic_t *t = topics_find_arn(tp, arn);
    if (t) {
        if (!kvv_equal_given(&t->attrs, attrs, nattrs, "FifoTopic"))
            return err_set(err, ST_INVALID_PARAMETER,
                           "Invalid parameter: Attributes Reason: Topic already exists with different attributes");
        for (size_t i = 0; i < ntags; i++) {
            const char *v = kvv_get(&t->tags, tags[i].key);
            if (!v || strcmp(v, tags[i].val) != 0)
                return err_set(err, ST_INVALID_PARAMETER,
                               "Invalid parameter: Tags Reason: Topic already exists with different tags");
        }
        *out = t;
        return ST_OK;
    }
    t = topic_new(tp, tp->next_id, name, want_fifo(attrs, nattrs));
    for (size_t i = 0; i < nattrs; i++)
        if (strcmp(attrs[i].key, "FifoTopic") != 0)
            kvv_set(&t->attrs, attrs[i].key, attrs[i].val);
    for (size_t i = 0; i < ntags; i++)
        kvv_set(&t->tags, tags[i].key, tags[i].val);
    topics__put_topic(t);
    *out = t;
    return ST_OK;
}

status_t topics_delete(topics_t *tp, topic_t *t, err_t *err)
{
    (void)err;
    buf_t b = BUF_INIT;
    buf_put_u64(&b, t->id);
    topics__emit(tp, REC_TOPIC_DEL, &b);
    buf_free(&b);
    topic_remove(tp, t);
    return ST_OK;
}

topic_t *topics_find_arn(const topics_t *tp, const char *arn)
{
    return hmap_get(&tp->by_arn, arn, strlen(arn));
}

topic_t *topics_find(const topics_t *tp, const char *name)
{
    char arn[400];
    size_t n = strlen(name);
    if (tp->arn_prefix_len + n >= sizeof arn)
        return NULL;
    memcpy(arn, tp->arn_prefix, tp->arn_prefix_len); /* no printf: the gateway looks up per request */
    memcpy(arn + tp->arn_prefix_len, name, n + 1);
    return topics_find_arn(tp, arn);
}

/* Paging tokens (ListTopics, ListSubscriptions*) are the decimal id of the
 * first item of the next page; ids only grow, so a token stays meaningful
 * while items come and go. */
char *topics__page_token(uint64_t id)
{
    char tok[24];
    snprintf(tok, sizeof tok, "%llu", (unsigned long long)id);
    return xstrdup(tok);
}

status_t topics__page_from(const char *token, uint64_t *from, err_t *err)
{
    char *end;
    *from = 0;
    if (!token || !*token)
        return ST_OK;
    *from = strtoull(token, &end, 10);
    if (*end || !*from)
        return err_set(err, ST_INVALID_PARAMETER, "Invalid parameter: NextToken");
    return ST_OK;
}

status_t topics_list(const topics_t *tp, const char *next_token, strv_t *arns, char **next_out, err_t *err)
{
    uint64_t from = 0;
    *next_out = NULL;
    status_t st = topics__page_from(next_token, &from, err);
    if (st != ST_OK)
        return st;
    size_t n = 0;
    list_for_each(it, &tp->order) {
        topic_t *t = list_entry(it, topic_t, link);
        if (t->id < from)
            continue;
        if (n == TOPICS_PAGE) {
            *next_out = topics__page_token(t->id);
            break;
        }
        strv_add(arns, t->arn);
        n++;
    }
    return ST_OK;
}

const char *topic_name(const topic_t *t)
{
    return t->name;
}

const topic_counts_t *topic_counts(const topic_t *t)
{
    return &t->counts;
}

topic_t *topics_next(const topics_t *tp, const topic_t *prev)
{
    const list_t *next = prev ? prev->link.next : tp->order.next;
    return next == &tp->order ? NULL : list_entry(next, topic_t, link);
}

const char *topic_arn(const topic_t *t)
{
    return t->arn;
}

int topic_is_fifo(const topic_t *t)
{
    return t->fifo;
}

static void add_count(kvv_t *out, const char *key, uint64_t v)
{
    char s[24];
    snprintf(s, sizeof s, "%llu", (unsigned long long)v);
    kvv_add(out, key, s);
}

static char *default_policy(const topic_t *t)
{
    buf_t b = BUF_INIT;
    buf_printf(&b,
               "{\"Version\":\"2008-10-17\",\"Id\":\"__default_policy_ID\",\"Statement\":[{\"Sid\":"
               "\"__default_statement_ID\",\"Effect\":\"Allow\",\"Principal\":{\"AWS\":\"*\"},\"Action\":["
               "\"SNS:GetTopicAttributes\",\"SNS:SetTopicAttributes\",\"SNS:AddPermission\","
               "\"SNS:RemovePermission\",\"SNS:DeleteTopic\",\"SNS:Subscribe\",\"SNS:ListSubscriptionsByTopic\","
               "\"SNS:Publish\"],\"Resource\":\"%s\",\"Condition\":{\"StringEquals\":{\"AWS:SourceOwner\":\"%s\"}}}]}",
               t->arn, t->tp->account);
    return buf_detach(&b, NULL);
}

void topic_get_attributes(const topic_t *t, kvv_t *out)
{
    const char *policy = kvv_get(&t->attrs, "Policy");
    if (policy)
        kvv_add(out, "Policy", policy);
    else
        kvv_add_own(out, "Policy", default_policy(t));
    kvv_add(out, "Owner", t->tp->account);
    uint64_t pending = 0, confirmed = 0;
    list_for_each(it, &t->subs) {
        if (list_entry(it, sub_t, link)->pending)
            pending++;
        else
            confirmed++;
    }
    add_count(out, "SubscriptionsPending", pending);
    kvv_add(out, "TopicArn", t->arn);
    buf_t eff = BUF_INIT;
    subs__effective_topic_policy(t, &eff);
    kvv_add_own(out, "EffectiveDeliveryPolicy", buf_detach(&eff, NULL));
    add_count(out, "SubscriptionsConfirmed", confirmed);
    const char *dn = kvv_get(&t->attrs, "DisplayName");
    kvv_add(out, "DisplayName", dn ? dn : "");
    add_count(out, "SubscriptionsDeleted", t->subs_deleted);
    if (t->fifo) {
        kvv_add(out, "FifoTopic", "true");
        if (!kvv_get(&t->attrs, "ContentBasedDeduplication"))
            kvv_add(out, "ContentBasedDeduplication", "false");
    }
    for (size_t i = 0; i < t->attrs.n; i++) {
        const char *k = t->attrs.v[i].key;
        if (strcmp(k, "Policy") != 0 && strcmp(k, "DisplayName") != 0)
            kvv_add(out, k, t->attrs.v[i].val);
    }
}

status_t topic_set_attribute(topic_t *t, const char *name, const char *value, err_t *err)
{
    const attr_def_t *a = topic_attr_def(name);
    if (!a)
        return err_set(err, ST_INVALID_PARAMETER, "Invalid parameter: AttributeName");
    if (!*value && (a->kind == A_DELIVERY || a->kind == A_JSON)) { /* an empty policy removes it */
        kvv_del(&t->attrs, name);
        topics__put_topic(t);
        return ST_OK;
    }
    status_t st = topic_attr_check(a, value, t->fifo, err);
    if (st != ST_OK)
        return st;
    kvv_set(&t->attrs, name, value);
    topics__put_topic(t);
    return ST_OK;
}

/* ---- tags ------------------------------------------------------------------------------------- */

static status_t tag_target(const topics_t *tp, const char *arn, topic_t **out, err_t *err)
{
    *out = topics_find_arn(tp, arn);
    if (!*out)
        return err_set(err, ST_RESOURCE_NOT_FOUND, "Resource does not exist");
    return ST_OK;
}

status_t topics_tag(topics_t *tp, const char *arn, const kv_t *tags, size_t n, err_t *err)
{
    topic_t *t;
    status_t st = tag_target(tp, arn, &t, err);
    if (st != ST_OK)
        return st;
    size_t added = 0;
    for (size_t i = 0; i < n; i++) {
        if (strlen(tags[i].key) < 1 || strlen(tags[i].key) > 128 || strlen(tags[i].val) > 256)
            return err_set(err, ST_INVALID_PARAMETER, "Invalid parameter: Tags");
        if (!kvv_get(&t->tags, tags[i].key))
            added++;
    }
    if (t->tags.n + added > 50)
        return err_set(err, ST_TAG_LIMIT_EXCEEDED, "Can't add more than 50 tags to a topic.");
    for (size_t i = 0; i < n; i++)
        kvv_set(&t->tags, tags[i].key, tags[i].val);
    topics__put_topic(t);
    return ST_OK;
}

status_t topics_untag(topics_t *tp, const char *arn, const char *const *keys, size_t n, err_t *err)
{
    topic_t *t;
    status_t st = tag_target(tp, arn, &t, err);
    if (st != ST_OK)
        return st;
    kvv_t kept = {0};
    for (size_t i = 0; i < t->tags.n; i++) {
        int drop = 0;
        for (size_t j = 0; j < n && !drop; j++)
            drop = strcmp(keys[j], t->tags.v[i].key) == 0;
        if (!drop)
            kvv_add(&kept, t->tags.v[i].key, t->tags.v[i].val);
    }
    kvv_free(&t->tags);
    t->tags = kept;
    topics__put_topic(t);
    return ST_OK;
}

status_t topics_list_tags(const topics_t *tp, const char *arn, kvv_t *out, err_t *err)
{
    topic_t *t;
    status_t st = tag_target(tp, arn, &t, err);
    if (st != ST_OK)
        return st;
    for (size_t i = 0; i < t->tags.n; i++)
        kvv_add(out, t->tags.v[i].key, t->tags.v[i].val);
    return ST_OK;
}

void topics_get_stats(const topics_t *tp, topics_stats_t *out)
{
    *out = tp->stats;
    out->outbox = tp->outbox.n;
}
