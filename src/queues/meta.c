/*
 * meta — what describes a queue rather than its messages: attributes (the
 * rules live in attrs.c), tags, and the access policy that AddPermission /
 * RemovePermission edit. Every change rewrites the queue's definition record.
 *
 * The Policy attribute is an IAM policy document; AddPermission adds one
 * statement per label in the layout AWS produces, so GetQueueAttributes
 * returns what an AWS user would see.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "queues/queue_int.h"
#include "util/alloc.h"
#include "util/jv.h"

#define TAGS_MAX 50
#define TAG_KEY_MAX 128
#define TAG_VALUE_MAX 256
#define LABEL_MAX 80

status_t queue_get_attributes(queue_t *q, const char *const *names, size_t nnames, kvv_t *out, err_t *err)
{
    return qattr__get(q, names, nnames, out, err);
}

status_t queue_set_attributes(queue_t *q, const kv_t *attrs, size_t nattrs, err_t *err)
{
    status_t st = qattr__set(q, attrs, nattrs, 0, err);
    if (st != ST_OK)
        return st;
    q->modified = queues_now(q->qs);
    rec__queue_put(q);
    return ST_OK;
}

/* ---- tags ----------------------------------------------------------------- */

/* Checks every given tag, then that the queue would hold at most TAGS_MAX
 * (total: its tag count after the change). */
status_t queue__check_tags(const kv_t *tags, size_t n, size_t total, err_t *err)
{
    for (size_t i = 0; i < n; i++) {
        size_t kl = strlen(tags[i].key), vl = strlen(tags[i].val);
        if (kl == 0 || kl > TAG_KEY_MAX)
            return err_set(err, ST_INVALID_PARAMETER_VALUE, "Tag keys must be between 1 and 128 characters in length.");
        if (vl > TAG_VALUE_MAX)
            return err_set(err, ST_INVALID_PARAMETER_VALUE,
                           "Tag values must be between 0 and 256 characters in length.");
        if (strncmp(tags[i].key, "aws:", 4) == 0)
            return err_set(err, ST_INVALID_PARAMETER_VALUE, "Tag keys cannot start with aws:.");
    }
    if (total > TAGS_MAX)
        return err_set(err, ST_INVALID_PARAMETER_VALUE, "Too many tags added for queue.");
    return ST_OK;
}

static size_t tags_new_keys(const queue_t *q, const kv_t *tags, size_t n)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (!kvv_get(&q->tags, tags[i].key) && !kv_get(tags, i, tags[i].key))
            k++;
    return k;
}

status_t queue_tag(queue_t *q, const kv_t *tags, size_t n, err_t *err)
{
    if (n == 0)
        return err_set(err, ST_MISSING_PARAMETER, "The request must contain the parameter Tags.");
    status_t st = queue__check_tags(tags, n, q->tags.n + tags_new_keys(q, tags, n), err);
    if (st != ST_OK)
        return st;
    for (size_t i = 0; i < n; i++) {
        size_t j;
        for (j = 0; j < q->tags.n && strcmp(q->tags.v[j].key, tags[i].key) != 0; j++)
            ;
        if (j < q->tags.n) {
            free(q->tags.v[j].val);
            q->tags.v[j].val = xstrdup(tags[i].val);
        } else {
            kvv_add(&q->tags, tags[i].key, tags[i].val);
        }
    }
    rec__queue_put(q);
    return ST_OK;
}

status_t queue_untag(queue_t *q, const char *const *keys, size_t n, err_t *err)
{
    if (n == 0)
        return err_set(err, ST_MISSING_PARAMETER, "The request must contain the parameter TagKeys.");
    for (size_t i = 0; i < n; i++) {
        for (size_t j = 0; j < q->tags.n; j++) {
            if (strcmp(q->tags.v[j].key, keys[i]) != 0)
                continue;
            free(q->tags.v[j].key);
            free(q->tags.v[j].val);
            q->tags.v[j] = q->tags.v[--q->tags.n];
            break;
        }
    }
    rec__queue_put(q);
    return ST_OK;
}

void queue_list_tags(const queue_t *q, kvv_t *out)
{
    for (size_t i = 0; i < q->tags.n; i++)
        kvv_add(out, q->tags.v[i].key, q->tags.v[i].val);
}

/* ---- permissions ------------------------------------------------------------- */

static jv_t *policy_load(jv_doc_t *d, const queue_t *q)
{
    jv_t *doc = jv_parse_cstr(d, q->policy);
    if (jv_is(doc, JV_OBJECT) && jv_is(jv_get(doc, "Statement"), JV_ARRAY))
        return doc;
    char arn[256], id[300];
    queue_arn(q, arn, sizeof arn);
    snprintf(id, sizeof id, "%s/SQSDefaultPolicy", arn);
    doc = jv_object(d);
    jv_set(d, doc, "Version", jv_string(d, "2008-10-17"));
    jv_set(d, doc, "Id", jv_string(d, id));
    return jv_set(d, doc, "Statement", jv_array(d));
}

/* Keeps the document, or drops the attribute once no statement is left. */
static void policy_store(queue_t *q, const jv_t *doc)
{
    free(q->policy);
    q->policy = jv_count(jv_get(doc, "Statement")) > 0 ? jv_dump(doc) : NULL;
    q->modified = queues_now(q->qs);
    rec__queue_put(q);
}

static int policy_find(const jv_t *stmts, const char *label)
{
    for (size_t i = 0; i < jv_count(stmts); i++) {
        const char *sid = jv_str(jv_get(jv_at(stmts, i), "Sid"));
        if (sid && strcmp(sid, label) == 0)
            return (int)i;
    }
    return -1;
}

static int label_ok(const char *label)
{
    size_t n = strlen(label);
    if (n == 0 || n > LABEL_MAX)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = label[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_'))
            return 0;
    }
    return 1;
}

/* One principal or action is written as a string, several as a list. */
static jv_t *one_or_list(jv_doc_t *d, const char *fmt, const char *const *v, size_t n)
{
    char tmp[512];
    if (n == 1) {
        snprintf(tmp, sizeof tmp, fmt, v[0]);
        return jv_string(d, tmp);
    }
    jv_t *a = jv_array(d);
    for (size_t i = 0; i < n; i++) {
        snprintf(tmp, sizeof tmp, fmt, v[i]);
        jv_push(d, a, jv_string(d, tmp));
    }
    return a;
}

static const char *const permission_actions[] = {
    "*", "ChangeMessageVisibility", "DeleteMessage", "GetQueueAttributes", "GetQueueUrl",
    "ListDeadLetterSourceQueues", "PurgeQueue", "ReceiveMessage", "SendMessage",
};
#define PERMISSION_ACTIONS_MAX 7

static int action_ok(const char *a)
{
    for (size_t i = 0; i < sizeof permission_actions / sizeof permission_actions[0]; i++)
        if (strcmp(a, permission_actions[i]) == 0)
            return 1;
    return 0;
}

static int account_ok(const char *a)
{
    size_t n = strlen(a);
    for (size_t i = 0; i < n; i++)
        if (a[i] < '0' || a[i] > '9')
            return 0;
    return n == 12;
}

static status_t check_principals(const char *const *accounts, size_t naccounts, const char *const *actions,
                                 size_t nactions, err_t *err)
{
    if (nactions > PERMISSION_ACTIONS_MAX)
        return err_set(err, ST_OVER_LIMIT, "%zu Actions were found, maximum allowed is %d.", nactions,
                       PERMISSION_ACTIONS_MAX);
    for (size_t i = 0; i < nactions; i++)
        if (!action_ok(actions[i]))
            return err_set(err, ST_INVALID_PARAMETER_VALUE,
                           "Value SQS:%s for parameter ActionName is invalid. Reason: Please refer to the appropriate "
                           "WSDL for a list of valid actions.",
                           actions[i]);
    for (size_t i = 0; i < naccounts; i++)
        if (!account_ok(accounts[i]))
            return err_set(err, ST_INVALID_PARAMETER_VALUE,
                           "Value [%s] for parameter PrincipalId is invalid. Reason: Unable to verify.", accounts[i]);
    return ST_OK;
}

static status_t check_permission(const char *label, size_t naccounts, size_t nactions, err_t *err)
{
    if (!label)
        return err_set(err, ST_MISSING_PARAMETER, "The request must contain the parameter Label.");
    if (!label_ok(label))
        return err_set(err, ST_INVALID_PARAMETER_VALUE,
                       "Value %s for parameter Label is invalid. Reason: Can only include alphanumeric characters, "
                       "hyphens, or underscores. 1 to 80 in length.",
                       label);
    if (naccounts == 0)
        return err_set(err, ST_MISSING_PARAMETER, "The request must contain the parameter AWSAccountIds.");
    if (nactions == 0)
        return err_set(err, ST_MISSING_PARAMETER, "The request must contain the parameter Actions.");
    return ST_OK;
}

status_t queue_add_permission(queue_t *q, const char *label, const char *const *accounts, size_t naccounts,
                              const char *const *actions, size_t nactions, err_t *err)
{
    status_t st = check_permission(label, naccounts, nactions, err);
    if (st == ST_OK)
        st = check_principals(accounts, naccounts, actions, nactions, err);
    if (st != ST_OK)
        return st;
    jv_doc_t *d = jv_doc_new();
    jv_t *doc = policy_load(d, q), *stmts = jv_get(doc, "Statement");
    if (policy_find(stmts, label) >= 0) {
        jv_doc_free(d);
        return err_set(err, ST_INVALID_PARAMETER_VALUE,
                       "Value %s for parameter Label is invalid. Reason: Already exists.", label);
    }
    char arn[256];
    queue_arn(q, arn, sizeof arn);
    jv_t *stmt = jv_object(d);
    jv_set(d, stmt, "Sid", jv_string(d, label));
    jv_set(d, stmt, "Effect", jv_string(d, "Allow"));
    jv_set(d, stmt, "Principal",
           jv_set(d, jv_object(d), "AWS", one_or_list(d, "arn:aws:iam::%s:root", accounts, naccounts)));
    jv_set(d, stmt, "Action", one_or_list(d, "SQS:%s", actions, nactions));
    jv_set(d, stmt, "Resource", jv_string(d, arn));
    jv_push(d, stmts, stmt);
    policy_store(q, doc);
    jv_doc_free(d);
    return ST_OK;
}

status_t queue_remove_permission(queue_t *q, const char *label, err_t *err)
{
    if (!label)
        return err_set(err, ST_MISSING_PARAMETER, "The request must contain the parameter Label.");
    jv_doc_t *d = jv_doc_new();
    jv_t *doc = policy_load(d, q), *stmts = jv_get(doc, "Statement");
    int i = policy_find(stmts, label);
    if (i < 0) {
        jv_doc_free(d);
        return err_set(err, ST_INVALID_PARAMETER_VALUE,
                       "Value %s for parameter Label is invalid. Reason: can't find label.", label);
    }
    jv_remove_at(stmts, (size_t)i);
    policy_store(q, doc);
    jv_doc_free(d);
    return ST_OK;
}
