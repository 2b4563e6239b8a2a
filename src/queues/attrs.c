/*
 * attrs — queue attributes as one table: name, kind, bounds, default, which
 * queue types and calls accept it, and where it lives in struct queue. The
 * table drives CreateQueue and SetQueueAttributes validation, the
 * QueueAlreadyExists comparison and GetQueueAttributes output alike, so a
 * rule is written once.
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "queues/queue_int.h"
#include "util/alloc.h"
#include "util/jv.h"
#include "util/text.h"

typedef enum { A_INT, A_BOOL, A_ENUM, A_TEXT, A_READONLY } akind_t;

enum {
    F_FIFO_ONLY = 1,   /* only FIFO queues know it */
    F_CREATE_ONLY = 2, /* FifoQueue: cannot be changed */
    F_SSE = 4,         /* KMS and SQS-managed SSE exclude each other */
};

typedef struct attr_def {
    const char *name;
    akind_t kind;
    long min, max, def;
    const char *choices[3]; /* A_ENUM values; index stored in the int field */
    size_t int_off;          /* A_INT / A_BOOL / A_ENUM: int field */
    size_t str_off;          /* A_TEXT: char * field */
    int flags;
} attr_def_t;

#define IOFF(f) offsetof(struct queue, f), 0
#define SOFF(f) 0, offsetof(struct queue, f)

static const attr_def_t attr_table[] = {
    {"DelaySeconds", A_INT, 0, 900, 0, {0}, IOFF(delay), 0},
    {"MaximumMessageSize", A_INT, 1024, 1048576, 1048576, {0}, IOFF(max_size), 0},
    {"MessageRetentionPeriod", A_INT, 60, 1209600, 345600, {0}, IOFF(retention), 0},
    {"ReceiveMessageWaitTimeSeconds", A_INT, 0, 20, 0, {0}, IOFF(wait), 0},
    {"VisibilityTimeout", A_INT, 0, 43200, 30, {0}, IOFF(visibility), 0},
    {"Policy", A_TEXT, 0, 0, 0, {0}, SOFF(policy), 0},
    {"RedrivePolicy", A_TEXT, 0, 0, 0, {0}, SOFF(redrive_policy), 0},
    {"RedriveAllowPolicy", A_TEXT, 0, 0, 0, {0}, SOFF(redrive_allow), 0},
    {"KmsMasterKeyId", A_TEXT, 0, 0, 0, {0}, SOFF(kms_key), F_SSE},
    {"KmsDataKeyReusePeriodSeconds", A_INT, 60, 86400, 300, {0}, IOFF(kms_reuse), 0},
    {"SqsManagedSseEnabled", A_BOOL, 0, 1, 1, {0}, IOFF(sse), F_SSE},
    {"FifoQueue", A_BOOL, 0, 1, 0, {0}, IOFF(fifo), F_FIFO_ONLY | F_CREATE_ONLY},
    {"ContentBasedDeduplication", A_BOOL, 0, 1, 0, {0}, IOFF(content_dedup), F_FIFO_ONLY},
    {"DeduplicationScope", A_ENUM, 0, 1, 0, {"queue", "messageGroup"}, IOFF(dedup_scope_group), F_FIFO_ONLY},
    {"FifoThroughputLimit", A_ENUM, 0, 1, 0, {"perQueue", "perMessageGroupId"}, IOFF(throughput_group),
     F_FIFO_ONLY},
};
#define ATTR_COUNT (sizeof attr_table / sizeof attr_table[0])

static const char *const readonly_names[] = {
    "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible", "ApproximateNumberOfMessagesDelayed",
    "CreatedTimestamp", "LastModifiedTimestamp", "QueueArn",
};
#define READONLY_COUNT (sizeof readonly_names / sizeof readonly_names[0])

static const attr_def_t *attr_find(const char *name)
{
    for (size_t i = 0; i < ATTR_COUNT; i++)
        if (strcmp(attr_table[i].name, name) == 0)
            return &attr_table[i];
    return NULL;
}

static int *attr_int(queue_t *q, const attr_def_t *d)
{
    return (int *)((char *)q + d->int_off);
}

static char **attr_str(queue_t *q, const attr_def_t *d)
{
    return (char **)((char *)q + d->str_off);
}

void qattr__defaults(queue_t *q)
{
    for (size_t i = 0; i < ATTR_COUNT; i++) {
        const attr_def_t *d = &attr_table[i];
        if (d->kind != A_TEXT && strcmp(d->name, "FifoQueue") != 0)
            *attr_int(q, d) = (int)d->def;
    }
    q->max_receive = 0;
}

/* ---- parsing one value ------------------------------------------------------ */

static status_t invalid_value(const char *name, const char *reason, err_t *err)
{
    if (reason)
        return err_set(err, ST_INVALID_ATTRIBUTE_VALUE, "Invalid value for the parameter %s. Reason: %s", name,
                       reason);
    return err_set(err, ST_INVALID_ATTRIBUTE_VALUE, "Invalid value for the parameter %s.", name);
}

static status_t parse_value(const attr_def_t *d, const char *v, int *iv, err_t *err)
{
    int64_t n;
    switch (d->kind) {
    case A_INT:
        if (text_parse_i64(v, &n) != 0 || n < d->min || n > d->max)
            return invalid_value(d->name, NULL, err);
        *iv = (int)n;
        return ST_OK;
    case A_BOOL:
        if (strcmp(v, "true") == 0 || strcmp(v, "True") == 0)
            return *iv = 1, ST_OK;
        if (strcmp(v, "false") == 0 || strcmp(v, "False") == 0)
            return *iv = 0, ST_OK;
        return invalid_value(d->name, NULL, err);
    case A_ENUM:
        for (int i = 0; i < 2; i++)
            if (strcmp(v, d->choices[i]) == 0)
                return *iv = i, ST_OK;
        return invalid_value(d->name, NULL, err);
    default:
        return ST_OK;
    }
}

/* ---- whole-request checks ------------------------------------------------------ */

static status_t check_names(queue_t *q, const kv_t *attrs, size_t n, int creating, err_t *err)
{
    for (size_t i = 0; i < n; i++) {
        const attr_def_t *d = attr_find(attrs[i].key);
        if (!d)
            return err_set(err, ST_INVALID_ATTRIBUTE_NAME, "Unknown Attribute %s.", attrs[i].key);
        if ((d->flags & F_FIFO_ONLY) && !q->fifo) {
            if (strcmp(d->name, "DeduplicationScope") == 0 || strcmp(d->name, "FifoThroughputLimit") == 0)
                return err_set(err, ST_INVALID_ATTRIBUTE_NAME,
                               "You can specify the %s only when FifoQueue is set to true.", d->name);
            if (strcmp(d->name, "FifoQueue") != 0 || creating)
                return err_set(err, ST_INVALID_ATTRIBUTE_NAME, "Unknown Attribute %s.", d->name);
        }
        if ((d->flags & F_CREATE_ONLY) && !creating) {
            if (!q->fifo)
                return err_set(err, ST_INVALID_ATTRIBUTE_NAME, "Unknown Attribute %s.", d->name);
            /* restating the type a FIFO queue has is no change (AWS accepts FifoQueue=true) */
            if (strcasecmp(attrs[i].val, "true") != 0)
                return invalid_value(d->name, "Modifying queue type is not supported.", err);
        }
    }
    return ST_OK;
}

static status_t check_combination(queue_t *q, const kv_t *attrs, size_t n, err_t *err)
{
    const char *kms = kv_get(attrs, n, "KmsMasterKeyId");
    const char *sse = kv_get(attrs, n, "SqsManagedSseEnabled");
    if (kms && *kms && sse && strcmp(sse, "true") == 0)
        return err_set(err, ST_INVALID_ATTRIBUTE_NAME,
                       "You can use one type of server-side encryption (SSE) at one time. You can either enable "
                       "KMS SSE or SQS SSE.");
    (void)q;
    return ST_OK;
}

/* Policy must be an IAM policy document: a JSON object ("" removes it). */
static status_t check_policy(const char *v, err_t *err)
{
    jv_doc_t *d = jv_doc_new();
    int ok = jv_is(jv_parse_cstr(d, v), JV_OBJECT);
    jv_doc_free(d);
    return ok ? ST_OK : invalid_value("Policy", NULL, err);
}

/* Validates a text attribute; a RedrivePolicy is parsed into dlq/max. */
static status_t check_text(queue_t *q, const attr_def_t *d, const char *v, int creating, char **dlq, int *max,
                           err_t *err)
{
    if (strcmp(d->name, "RedrivePolicy") == 0)
        return redrive__parse_policy(q, v, creating, dlq, max, err);
    if (strcmp(d->name, "RedriveAllowPolicy") == 0 && *v)
        return redrive__parse_allow(v, err);
    if (strcmp(d->name, "Policy") == 0 && *v)
        return check_policy(v, err);
    return ST_OK;
}

static void apply_text(queue_t *q, const attr_def_t *d, const char *v, char **dlq, int max)
{
    char **slot = attr_str(q, d);
    free(*slot);
    *slot = *v ? xstrdup(v) : NULL;
    if (strcmp(d->name, "RedrivePolicy") == 0) {
        free(*slot);
        *slot = *dlq ? redrive__normalize(*dlq, max) : NULL;
        free(q->dlq_arn);
        q->dlq_arn = *dlq; /* NULL when the policy was cleared */
        q->max_receive = *dlq ? max : 0;
        *dlq = NULL;
    }
}

/* Turning on one kind of server-side encryption turns off the other. */
static void sse_exclusive(queue_t *q, const attr_def_t *d, const char *v, int iv)
{
    if (strcmp(d->name, "KmsMasterKeyId") == 0 && *v)
        q->sse = 0;
    if (strcmp(d->name, "SqsManagedSseEnabled") == 0 && iv) {
        free(q->kms_key);
        q->kms_key = NULL;
    }
}

static status_t validate_all(queue_t *q, const kv_t *attrs, size_t n, int creating, int *vals, char **dlq,
                             int *max, err_t *err)
{
    status_t st;
    if ((st = check_names(q, attrs, n, creating, err)) != ST_OK || (st = check_combination(q, attrs, n, err)))
        return st;
    for (size_t i = 0; i < n; i++) {
        const attr_def_t *d = attr_find(attrs[i].key);
        st = d->kind == A_TEXT ? check_text(q, d, attrs[i].val, creating, dlq, max, err)
                               : parse_value(d, attrs[i].val, &vals[i], err);
        if (st != ST_OK)
            return st;
    }
    /* the throughput rule looks at the values the queue would end up with */
    int tg = q->throughput_group, ds = q->dedup_scope_group;
    for (size_t i = 0; i < n; i++) {
        if (strcmp(attrs[i].key, "FifoThroughputLimit") == 0)
            tg = vals[i];
        else if (strcmp(attrs[i].key, "DeduplicationScope") == 0)
            ds = vals[i];
    }
    if (q->fifo && tg && !ds)
        return err_set(err, ST_INVALID_ATTRIBUTE_VALUE,
                       "The perMessageGroupId value is allowed only when the value for DeduplicationScope is "
                       "messageGroup");
    return ST_OK;
}

/* Validates every value before changing anything, so a failed call leaves the
 * queue as it was; then applies them in order. */
status_t qattr__set(queue_t *q, const kv_t *attrs, size_t n, int creating, err_t *err)
{
    int *vals = xcalloc(n ? n : 1, sizeof *vals);
    char *dlq = NULL;
    int max = 0;
    status_t st = validate_all(q, attrs, n, creating, vals, &dlq, &max, err);
    for (size_t i = 0; i < n && st == ST_OK; i++) {
        const attr_def_t *d = attr_find(attrs[i].key);
        if (d->kind == A_TEXT)
            apply_text(q, d, attrs[i].val, &dlq, max);
        else if (strcmp(d->name, "FifoQueue") != 0)
            *attr_int(q, d) = vals[i];
        if (d->flags & F_SSE)
            sse_exclusive(q, d, attrs[i].val, vals[i]);
    }
    free(dlq);
    free(vals);
    return st;
}

/* ---- QueueAlreadyExists -------------------------------------------------------- */

static int same_text(const char *a, const char *b)
{
    return strcmp(a ? a : "", b ? b : "") == 0;
}

/* The rules CreateQueue applies to a new queue hold for an existing one too:
 * an unknown name or a bad value is reported as such, not as a difference. */
static status_t validate_scratch(queue_t *q, const kv_t *attrs, size_t n, err_t *err)
{
    queue_t *scratch = queues__new_queue(q->qs, 0, q->name, q->fifo);
    status_t st = qattr__set(scratch, attrs, n, 1, err);
    queues__drop_queue(q->qs, scratch);
    return st;
}

status_t qattr__compare(queue_t *q, const kv_t *attrs, size_t n, err_t *err)
{
    status_t st = validate_scratch(q, attrs, n, err);
    if (st != ST_OK)
        return st;
    for (size_t i = 0; i < n; i++) {
        const attr_def_t *d = attr_find(attrs[i].key);
        int differs;
        if (!d)
            continue;
        if (d->kind == A_TEXT && strcmp(d->name, "RedrivePolicy") == 0) {
            char *norm = redrive__normalize_text(attrs[i].val);
            differs = !same_text(*attr_str(q, d), norm);
            free(norm);
        } else if (d->kind == A_TEXT) {
            differs = !same_text(*attr_str(q, d), attrs[i].val);
        } else {
            int v = 0;
            err_t scratch;
            if (parse_value(d, attrs[i].val, &v, &scratch) != ST_OK)
                continue; /* cannot happen: validated above */
            differs = (strcmp(d->name, "FifoQueue") == 0 ? q->fifo : *attr_int(q, d)) != v;
        }
        if (differs)
            return err_set(err, ST_QUEUE_ALREADY_EXISTS,
                           "A queue already exists with the same name and a different value for attribute %s",
                           d->name);
    }
    return ST_OK;
}

/* ---- GetQueueAttributes -------------------------------------------------------- */

static int name_known(const char *name)
{
    if (strcmp(name, "All") == 0 || attr_find(name))
        return 1;
    for (size_t i = 0; i < READONLY_COUNT; i++)
        if (strcmp(readonly_names[i], name) == 0)
            return 1;
    return 0;
}

static int wanted(const char *const *names, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(names[i], "All") == 0 || strcmp(names[i], name) == 0)
            return 1;
    return 0;
}

static void put_u64(kvv_t *out, const char *name, uint64_t v)
{
    char tmp[32];
    snprintf(tmp, sizeof tmp, "%llu", (unsigned long long)v);
    kvv_add(out, name, tmp);
}

static void get_readonly(queue_t *q, const char *const *names, size_t n, kvv_t *out)
{
    char arn[256];
    if (wanted(names, n, "QueueArn"))
        queue_arn(q, arn, sizeof arn), kvv_add(out, "QueueArn", arn);
    if (wanted(names, n, "ApproximateNumberOfMessages"))
        put_u64(out, "ApproximateNumberOfMessages", q->n_visible);
    if (wanted(names, n, "ApproximateNumberOfMessagesNotVisible"))
        put_u64(out, "ApproximateNumberOfMessagesNotVisible", q->n_inflight);
    if (wanted(names, n, "ApproximateNumberOfMessagesDelayed"))
        put_u64(out, "ApproximateNumberOfMessagesDelayed", q->n_delayed);
    if (wanted(names, n, "CreatedTimestamp"))
        put_u64(out, "CreatedTimestamp", q->created / 1000);
    if (wanted(names, n, "LastModifiedTimestamp"))
        put_u64(out, "LastModifiedTimestamp", q->modified / 1000);
}

static void get_setting(queue_t *q, const attr_def_t *d, kvv_t *out)
{
    char tmp[32];
    if (d->kind == A_TEXT) {
        const char *v = *attr_str(q, d);
        if (v)
            kvv_add(out, d->name, v);
        return;
    }
    if ((d->flags & F_FIFO_ONLY) && !q->fifo)
        return;
    if (strcmp(d->name, "KmsDataKeyReusePeriodSeconds") == 0 && !q->kms_key)
        return;
    int v = strcmp(d->name, "FifoQueue") == 0 ? q->fifo : *attr_int(q, d);
    if (d->kind == A_INT)
        snprintf(tmp, sizeof tmp, "%d", v);
    else if (d->kind == A_BOOL)
        snprintf(tmp, sizeof tmp, "%s", v ? "true" : "false");
    else
        snprintf(tmp, sizeof tmp, "%s", d->choices[v]);
    kvv_add(out, d->name, tmp);
}

status_t qattr__get(queue_t *q, const char *const *names, size_t n, kvv_t *out, err_t *err)
{
    for (size_t i = 0; i < n; i++)
        if (!name_known(names[i]))
            return err_set(err, ST_INVALID_ATTRIBUTE_NAME, "Unknown Attribute %s.", names[i]);
    get_readonly(q, names, n, out);
    for (size_t i = 0; i < ATTR_COUNT; i++)
        if (wanted(names, n, attr_table[i].name))
            get_setting(q, &attr_table[i], out);
    return ST_OK;
}

/* FifoQueue on CreateQueue decides the queue type before anything else, and
 * must agree with the .fifo suffix. */
status_t qattr__check_fifo_flag(const char *name, const kv_t *attrs, size_t n, int *fifo, err_t *err)
{
    const char *v = kv_get(attrs, n, "FifoQueue");
    size_t len = strlen(name);
    int suffix = len > 5 && strcmp(name + len - 5, ".fifo") == 0;
    *fifo = 0;
    if (v) {
        int iv;
        if (parse_value(attr_find("FifoQueue"), v, &iv, err) != ST_OK)
            return ST_INVALID_ATTRIBUTE_VALUE;
        *fifo = iv;
    }
    if (*fifo && !suffix)
        return err_set(err, ST_INVALID_PARAMETER_VALUE,
                       "The name of a FIFO queue can only include alphanumeric characters, hyphens, or "
                       "underscores, must end with .fifo suffix and be 1 to 80 in length.");
    if (!*fifo && suffix)
        return err_set(err, ST_INVALID_PARAMETER_VALUE,
                       "Can only include alphanumeric characters, hyphens, or underscores. 1 to 80 in length");
    return ST_OK;
}
