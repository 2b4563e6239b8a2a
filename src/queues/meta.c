/*
 * meta — what describes a queue rather than its messages: attributes (the
 * rules live in attrs.c), tags, and the access policy that AddPermission /
 * RemovePermission edit. Every change rewrites the queue's definition record.
 *
 * The Policy attribute is an IAM policy document; AddPermission adds one
 * statement per label in the layout AWS produces, so GetQueueAttributes
 * returns what an AWS user would see.
 */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "queues/queue_int.h"
#include "util/alloc.h"

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

static json_t *policy_load(const queue_t *q)
{
    json_t *doc = q->policy ? json_loads(q->policy, 0, NULL) : NULL;
    if (doc && json_is_object(doc) && json_is_array(json_object_get(doc, "Statement")))
        return doc;
    json_decref(doc);
    char arn[256], id[300];
    queue_arn(q, arn, sizeof arn);
    snprintf(id, sizeof id, "%s/SQSDefaultPolicy", arn);
    return json_pack("{s:s, s:s, s:[]}", "Version", "2008-10-17", "Id", id, "Statement");
}

static void policy_store(queue_t *q, json_t *doc)
{
    free(q->policy);
    q->policy = NULL;
    if (json_array_size(json_object_get(doc, "Statement")) > 0)
        q->policy = json_dumps(doc, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(doc);
    q->modified = queues_now(q->qs);
    rec__queue_put(q);
}

static int policy_find(json_t *stmts, const char *label)
{
    for (size_t i = 0; i < json_array_size(stmts); i++) {
        const char *sid = json_string_value(json_object_get(json_array_get(stmts, i), "Sid"));
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
static json_t *one_or_list(const char *fmt, const char *const *v, size_t n)
{
    char tmp[512];
    if (n == 1) {
        snprintf(tmp, sizeof tmp, fmt, v[0]);
        return json_string(tmp);
    }
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++) {
        snprintf(tmp, sizeof tmp, fmt, v[i]);
        json_array_append_new(a, json_string(tmp));
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
    json_t *doc = policy_load(q);
    json_t *stmts = json_object_get(doc, "Statement");
    if (policy_find(stmts, label) >= 0) {
        json_decref(doc);
        return err_set(err, ST_INVALID_PARAMETER_VALUE,
                       "Value %s for parameter Label is invalid. Reason: Already exists.", label);
    }
    char arn[256];
    queue_arn(q, arn, sizeof arn);
    json_t *stmt = json_object();
    json_object_set_new(stmt, "Sid", json_string(label));
    json_object_set_new(stmt, "Effect", json_string("Allow"));
    json_object_set_new(stmt, "Principal",
                        json_pack("{s:o}", "AWS", one_or_list("arn:aws:iam::%s:root", accounts, naccounts)));
    json_object_set_new(stmt, "Action", one_or_list("SQS:%s", actions, nactions));
    json_object_set_new(stmt, "Resource", json_string(arn));
    json_array_append_new(stmts, stmt);
    policy_store(q, doc);
    return ST_OK;
}

status_t queue_remove_permission(queue_t *q, const char *label, err_t *err)
{
    if (!label)
        return err_set(err, ST_MISSING_PARAMETER, "The request must contain the parameter Label.");
    json_t *doc = policy_load(q);
    json_t *stmts = json_object_get(doc, "Statement");
    int i = policy_find(stmts, label);
    if (i < 0) {
        json_decref(doc);
        return err_set(err, ST_INVALID_PARAMETER_VALUE,
                       "Value %s for parameter Label is invalid. Reason: can't find label.", label);
    }
    json_array_remove(stmts, (size_t)i);
    policy_store(q, doc);
    return ST_OK;
}
