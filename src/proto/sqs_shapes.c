/*
 * sqs_shapes — query form <-> JSON 1.0 document <-> query XML, driven by one
 * static table of SQS shapes. See sqs_shapes.h for the wire rules.
 *
 * Form to JSON: the form keys are first arranged in a tree by their dotted
 * segments ("Attribute.1.Name" -> Attribute / 1 / Name), so that walking an
 * input shape is one lookup per member and lists and maps find their
 * indexed entries without rescanning the form: linear in the form's size
 * whatever a hostile client sends. A node is found by its path (the key up
 * to the end of its segment, borrowed from the form) in one seeded hash
 * map; it lists its children and knows the first form pair keyed exactly
 * by its path (no segment is empty: such keys are dropped). The document
 * is built in the caller's jv arena.
 *
 * JSON to XML: the output shape is walked in model order, writing what the
 * document holds.
 */
#include "proto/sqs_shapes.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/xml.h"
#include "util/alloc.h"
#include "util/hmap.h"

/* ---- the shape table ---- */

typedef enum sqs_kind {
    SQS_K_STRING,
    SQS_K_INTEGER, /* 32-bit */
    SQS_K_LONG,    /* 64-bit */
    SQS_K_BOOLEAN,
    SQS_K_BLOB,    /* base64 text in both JSON and query */
    SQS_K_LIST,    /* flattened */
    SQS_K_MAP,     /* flattened */
    SQS_K_STRUCT,
} sqs_kind_t;

typedef struct sqs_shape sqs_shape_t;

typedef struct sqs_member {
    const char *name; /* JSON 1.0 member name */
    const char *wire; /* query name: form key segment and XML element; a list's element name */
    const sqs_shape_t *shape;
} sqs_member_t;

struct sqs_shape {
    sqs_kind_t kind;
    const sqs_member_t *members;       /* struct: ends with a NULL name */
    const sqs_shape_t *item;           /* list: element; map: value */
    const char *key_wire, *value_wire; /* map: the entry's two children */
};

typedef struct sqs_op {
    const char *action;
    const sqs_shape_t *input;
    const sqs_shape_t *output; /* NULL: the response has no <ActionResult> */
} sqs_op_t;

#define M(name, wire, shape) {name, wire, &shape}
#define STRUCT(id, ...)                                                         \
    static const sqs_member_t id##_members[] = {__VA_ARGS__, {NULL, NULL, NULL}}; \
    static const sqs_shape_t id = {SQS_K_STRUCT, .members = id##_members}

/*
 * Shapes that are identical on the wire share one entry; the comments give
 * the model's shape names. Member order is the model's, which is also the
 * element order of AWS's responses.
 */
static const sqs_shape_t sh_string = {.kind = SQS_K_STRING};
static const sqs_shape_t sh_integer = {.kind = SQS_K_INTEGER};
static const sqs_shape_t sh_long = {.kind = SQS_K_LONG};
static const sqs_shape_t sh_boolean = {.kind = SQS_K_BOOLEAN};
static const sqs_shape_t sh_blob = {.kind = SQS_K_BLOB};
/* AWSAccountIdList, ActionNameList, AttributeNameList, MessageAttributeNameList,
 * MessageSystemAttributeList, QueueUrlList, StringList, TagKeyList */
static const sqs_shape_t sh_string_list = {SQS_K_LIST, .item = &sh_string};
static const sqs_shape_t sh_blob_list = {SQS_K_LIST, .item = &sh_blob}; /* BinaryList */
/* QueueAttributeMap, MessageSystemAttributeMap */
static const sqs_shape_t sh_name_value_map = {SQS_K_MAP, .item = &sh_string, .key_wire = "Name", .value_wire = "Value"};
static const sqs_shape_t sh_tag_map = {SQS_K_MAP, .item = &sh_string, .key_wire = "Key", .value_wire = "Value"};

/* MessageAttributeValue, MessageSystemAttributeValue */
STRUCT(sh_attribute_value,
       M("StringValue", "StringValue", sh_string),
       M("BinaryValue", "BinaryValue", sh_blob),
       M("StringListValues", "StringListValue", sh_string_list),
       M("BinaryListValues", "BinaryListValue", sh_blob_list),
       M("DataType", "DataType", sh_string));
/* MessageBodyAttributeMap, MessageBodySystemAttributeMap */
static const sqs_shape_t sh_attribute_map = {SQS_K_MAP, .item = &sh_attribute_value, .key_wire = "Name",
                                             .value_wire = "Value"};

STRUCT(sh_batch_result_error_entry,
       M("Id", "Id", sh_string),
       M("SenderFault", "SenderFault", sh_boolean),
       M("Code", "Code", sh_string),
       M("Message", "Message", sh_string));
static const sqs_shape_t sh_batch_result_error_entry_list = {SQS_K_LIST, .item = &sh_batch_result_error_entry};
/* ChangeMessageVisibilityBatchResultEntry, DeleteMessageBatchResultEntry */
STRUCT(sh_batch_result_id_entry, M("Id", "Id", sh_string));
static const sqs_shape_t sh_batch_result_id_entry_list = {SQS_K_LIST, .item = &sh_batch_result_id_entry};

/* CreateQueue, DeleteQueue, GetQueueUrl, ListQueues */
STRUCT(sh_create_queue_request,
       M("QueueName", "QueueName", sh_string),
       M("Attributes", "Attribute", sh_name_value_map),
       M("tags", "Tag", sh_tag_map));
/* CreateQueueResult, GetQueueUrlResult */
STRUCT(sh_queue_url_result, M("QueueUrl", "QueueUrl", sh_string));
/* DeleteQueueRequest, PurgeQueueRequest, ListQueueTagsRequest */
STRUCT(sh_queue_url_request, M("QueueUrl", "QueueUrl", sh_string));
STRUCT(sh_get_queue_url_request,
       M("QueueName", "QueueName", sh_string),
       M("QueueOwnerAWSAccountId", "QueueOwnerAWSAccountId", sh_string));
STRUCT(sh_list_queues_request,
       M("QueueNamePrefix", "QueueNamePrefix", sh_string),
       M("NextToken", "NextToken", sh_string),
       M("MaxResults", "MaxResults", sh_integer));
STRUCT(sh_list_queues_result,
       M("QueueUrls", "QueueUrl", sh_string_list),
       M("NextToken", "NextToken", sh_string));

/* GetQueueAttributes, SetQueueAttributes */
STRUCT(sh_get_queue_attributes_request,
       M("QueueUrl", "QueueUrl", sh_string),
       M("AttributeNames", "AttributeName", sh_string_list));
STRUCT(sh_get_queue_attributes_result, M("Attributes", "Attribute", sh_name_value_map));
STRUCT(sh_set_queue_attributes_request,
       M("QueueUrl", "QueueUrl", sh_string),
       M("Attributes", "Attribute", sh_name_value_map));

/* SendMessage, SendMessageBatch */
STRUCT(sh_send_message_request,
       M("QueueUrl", "QueueUrl", sh_string),
       M("MessageBody", "MessageBody", sh_string),
       M("DelaySeconds", "DelaySeconds", sh_integer),
       M("MessageAttributes", "MessageAttribute", sh_attribute_map),
       M("MessageSystemAttributes", "MessageSystemAttribute", sh_attribute_map),
       M("MessageDeduplicationId", "MessageDeduplicationId", sh_string),
       M("MessageGroupId", "MessageGroupId", sh_string));
STRUCT(sh_send_message_result,
       M("MD5OfMessageBody", "MD5OfMessageBody", sh_string),
       M("MD5OfMessageAttributes", "MD5OfMessageAttributes", sh_string),
       M("MD5OfMessageSystemAttributes", "MD5OfMessageSystemAttributes", sh_string),
       M("MessageId", "MessageId", sh_string),
       M("SequenceNumber", "SequenceNumber", sh_string));
STRUCT(sh_send_message_batch_request_entry,
       M("Id", "Id", sh_string),
       M("MessageBody", "MessageBody", sh_string),
       M("DelaySeconds", "DelaySeconds", sh_integer),
       M("MessageAttributes", "MessageAttribute", sh_attribute_map),
       M("MessageSystemAttributes", "MessageSystemAttribute", sh_attribute_map),
       M("MessageDeduplicationId", "MessageDeduplicationId", sh_string),
       M("MessageGroupId", "MessageGroupId", sh_string));
static const sqs_shape_t sh_send_message_batch_request_entry_list = {SQS_K_LIST,
                                                                     .item = &sh_send_message_batch_request_entry};
STRUCT(sh_send_message_batch_request,
       M("QueueUrl", "QueueUrl", sh_string),
       M("Entries", "SendMessageBatchRequestEntry", sh_send_message_batch_request_entry_list));
STRUCT(sh_send_message_batch_result_entry,
       M("Id", "Id", sh_string),
       M("MessageId", "MessageId", sh_string),
       M("MD5OfMessageBody", "MD5OfMessageBody", sh_string),
       M("MD5OfMessageAttributes", "MD5OfMessageAttributes", sh_string),
       M("MD5OfMessageSystemAttributes", "MD5OfMessageSystemAttributes", sh_string),
       M("SequenceNumber", "SequenceNumber", sh_string));
static const sqs_shape_t sh_send_message_batch_result_entry_list = {SQS_K_LIST,
                                                                    .item = &sh_send_message_batch_result_entry};
STRUCT(sh_send_message_batch_result,
       M("Successful", "SendMessageBatchResultEntry", sh_send_message_batch_result_entry_list),
       M("Failed", "BatchResultErrorEntry", sh_batch_result_error_entry_list));

/* ReceiveMessage */
STRUCT(sh_receive_message_request,
       M("QueueUrl", "QueueUrl", sh_string),
       M("AttributeNames", "AttributeName", sh_string_list),
       M("MessageSystemAttributeNames", "MessageSystemAttributeName", sh_string_list),
       M("MessageAttributeNames", "MessageAttributeName", sh_string_list),
       M("MaxNumberOfMessages", "MaxNumberOfMessages", sh_integer),
       M("VisibilityTimeout", "VisibilityTimeout", sh_integer),
       M("WaitTimeSeconds", "WaitTimeSeconds", sh_integer),
       M("ReceiveRequestAttemptId", "ReceiveRequestAttemptId", sh_string));
STRUCT(sh_message,
       M("MessageId", "MessageId", sh_string),
       M("ReceiptHandle", "ReceiptHandle", sh_string),
       M("MD5OfBody", "MD5OfBody", sh_string),
       M("Body", "Body", sh_string),
       M("Attributes", "Attribute", sh_name_value_map),
       M("MD5OfMessageAttributes", "MD5OfMessageAttributes", sh_string),
       M("MessageAttributes", "MessageAttribute", sh_attribute_map));
static const sqs_shape_t sh_message_list = {SQS_K_LIST, .item = &sh_message};
STRUCT(sh_receive_message_result, M("Messages", "Message", sh_message_list));

/* DeleteMessage, DeleteMessageBatch, ChangeMessageVisibility, ChangeMessageVisibilityBatch */
STRUCT(sh_delete_message_request,
       M("QueueUrl", "QueueUrl", sh_string),
       M("ReceiptHandle", "ReceiptHandle", sh_string));
STRUCT(sh_delete_message_batch_request_entry,
       M("Id", "Id", sh_string),
       M("ReceiptHandle", "ReceiptHandle", sh_string));
static const sqs_shape_t sh_delete_message_batch_request_entry_list = {SQS_K_LIST,
                                                                       .item = &sh_delete_message_batch_request_entry};
STRUCT(sh_delete_message_batch_request,
       M("QueueUrl", "QueueUrl", sh_string),
       M("Entries", "DeleteMessageBatchRequestEntry", sh_delete_message_batch_request_entry_list));
STRUCT(sh_delete_message_batch_result,
       M("Successful", "DeleteMessageBatchResultEntry", sh_batch_result_id_entry_list),
       M("Failed", "BatchResultErrorEntry", sh_batch_result_error_entry_list));
STRUCT(sh_change_message_visibility_request,
       M("QueueUrl", "QueueUrl", sh_string),
       M("ReceiptHandle", "ReceiptHandle", sh_string),
       M("VisibilityTimeout", "VisibilityTimeout", sh_integer));
STRUCT(sh_change_message_visibility_batch_request_entry,
       M("Id", "Id", sh_string),
       M("ReceiptHandle", "ReceiptHandle", sh_string),
       M("VisibilityTimeout", "VisibilityTimeout", sh_integer));
static const sqs_shape_t sh_change_message_visibility_batch_request_entry_list = {
    SQS_K_LIST, .item = &sh_change_message_visibility_batch_request_entry};
STRUCT(sh_change_message_visibility_batch_request,
       M("QueueUrl", "QueueUrl", sh_string),
       M("Entries", "ChangeMessageVisibilityBatchRequestEntry",
         sh_change_message_visibility_batch_request_entry_list));
STRUCT(sh_change_message_visibility_batch_result,
       M("Successful", "ChangeMessageVisibilityBatchResultEntry", sh_batch_result_id_entry_list),
       M("Failed", "BatchResultErrorEntry", sh_batch_result_error_entry_list));

/* TagQueue, UntagQueue, ListQueueTags */
STRUCT(sh_tag_queue_request,
       M("QueueUrl", "QueueUrl", sh_string),
       M("Tags", "Tag", sh_tag_map));
STRUCT(sh_untag_queue_request,
       M("QueueUrl", "QueueUrl", sh_string),
       M("TagKeys", "TagKey", sh_string_list));
STRUCT(sh_list_queue_tags_result, M("Tags", "Tag", sh_tag_map));

/* ListDeadLetterSourceQueues and the move tasks */
STRUCT(sh_list_dead_letter_source_queues_request,
       M("QueueUrl", "QueueUrl", sh_string),
       M("NextToken", "NextToken", sh_string),
       M("MaxResults", "MaxResults", sh_integer));
STRUCT(sh_list_dead_letter_source_queues_result,
       M("queueUrls", "QueueUrl", sh_string_list),
       M("NextToken", "NextToken", sh_string));
STRUCT(sh_start_message_move_task_request,
       M("SourceArn", "SourceArn", sh_string),
       M("DestinationArn", "DestinationArn", sh_string),
       M("MaxNumberOfMessagesPerSecond", "MaxNumberOfMessagesPerSecond", sh_integer));
STRUCT(sh_start_message_move_task_result, M("TaskHandle", "TaskHandle", sh_string));
STRUCT(sh_cancel_message_move_task_request, M("TaskHandle", "TaskHandle", sh_string));
STRUCT(sh_cancel_message_move_task_result,
       M("ApproximateNumberOfMessagesMoved", "ApproximateNumberOfMessagesMoved", sh_long));
STRUCT(sh_list_message_move_tasks_request,
       M("SourceArn", "SourceArn", sh_string),
       M("MaxResults", "MaxResults", sh_integer));
STRUCT(sh_list_message_move_tasks_result_entry,
       M("TaskHandle", "TaskHandle", sh_string),
       M("Status", "Status", sh_string),
       M("SourceArn", "SourceArn", sh_string),
       M("DestinationArn", "DestinationArn", sh_string),
       M("MaxNumberOfMessagesPerSecond", "MaxNumberOfMessagesPerSecond", sh_integer),
       M("ApproximateNumberOfMessagesMoved", "ApproximateNumberOfMessagesMoved", sh_long),
       M("ApproximateNumberOfMessagesToMove", "ApproximateNumberOfMessagesToMove", sh_long),
       M("FailureReason", "FailureReason", sh_string),
       M("StartedTimestamp", "StartedTimestamp", sh_long));
static const sqs_shape_t sh_list_message_move_tasks_result_entry_list = {
    SQS_K_LIST, .item = &sh_list_message_move_tasks_result_entry};
STRUCT(sh_list_message_move_tasks_result,
       M("Results", "ListMessageMoveTasksResultEntry", sh_list_message_move_tasks_result_entry_list));

/* AddPermission, RemovePermission */
STRUCT(sh_add_permission_request,
       M("QueueUrl", "QueueUrl", sh_string),
       M("Label", "Label", sh_string),
       M("AWSAccountIds", "AWSAccountId", sh_string_list),
       M("Actions", "ActionName", sh_string_list));
STRUCT(sh_remove_permission_request,
       M("QueueUrl", "QueueUrl", sh_string),
       M("Label", "Label", sh_string));

static const sqs_op_t sqs_ops[] = {
    {"AddPermission", &sh_add_permission_request, NULL},
    {"CancelMessageMoveTask", &sh_cancel_message_move_task_request, &sh_cancel_message_move_task_result},
    {"ChangeMessageVisibility", &sh_change_message_visibility_request, NULL},
    {"ChangeMessageVisibilityBatch", &sh_change_message_visibility_batch_request,
     &sh_change_message_visibility_batch_result},
    {"CreateQueue", &sh_create_queue_request, &sh_queue_url_result},
    {"DeleteMessage", &sh_delete_message_request, NULL},
    {"DeleteMessageBatch", &sh_delete_message_batch_request, &sh_delete_message_batch_result},
    {"DeleteQueue", &sh_queue_url_request, NULL},
    {"GetQueueAttributes", &sh_get_queue_attributes_request, &sh_get_queue_attributes_result},
    {"GetQueueUrl", &sh_get_queue_url_request, &sh_queue_url_result},
    {"ListDeadLetterSourceQueues", &sh_list_dead_letter_source_queues_request,
     &sh_list_dead_letter_source_queues_result},
    {"ListMessageMoveTasks", &sh_list_message_move_tasks_request, &sh_list_message_move_tasks_result},
    {"ListQueueTags", &sh_queue_url_request, &sh_list_queue_tags_result},
    {"ListQueues", &sh_list_queues_request, &sh_list_queues_result},
    {"PurgeQueue", &sh_queue_url_request, NULL},
    {"ReceiveMessage", &sh_receive_message_request, &sh_receive_message_result},
    {"RemovePermission", &sh_remove_permission_request, NULL},
    {"SendMessage", &sh_send_message_request, &sh_send_message_result},
    {"SendMessageBatch", &sh_send_message_batch_request, &sh_send_message_batch_result},
    {"SetQueueAttributes", &sh_set_queue_attributes_request, NULL},
    {"StartMessageMoveTask", &sh_start_message_move_task_request, &sh_start_message_move_task_result},
    {"TagQueue", &sh_tag_queue_request, NULL},
    {"UntagQueue", &sh_untag_queue_request, NULL},
};

static const sqs_op_t *find_op(const char *action)
{
    for (size_t i = 0; action && i < sizeof sqs_ops / sizeof sqs_ops[0]; i++)
        if (strcmp(sqs_ops[i].action, action) == 0)
            return &sqs_ops[i];
    return NULL;
}

int sqs_shapes_known(const char *action)
{
    return find_op(action) != NULL;
}

/* ---- form to JSON ---- */

/* SendMessageBatchRequestEntry.1.MessageAttribute.1.Value.StringListValue.1 has 7. */
#define KEY_MAX_SEGMENTS 8
#define INDEX_MAX_DIGITS 9

typedef struct tnode tnode_t;
struct tnode {
    const char *path; /* the form key up to the end of this segment */
    size_t plen;
    const char *seg; /* the last segment of path, not NUL-terminated */
    size_t slen;
    long pair;       /* the first form pair keyed by path, or -1 */
    tnode_t *child;  /* first child; siblings in reverse form order */
    tnode_t *next;
    size_t nchild;
};

typedef struct conv {
    const kvv_t *form;
    jv_doc_t *d;
    char *why;
    size_t why_len;
    tnode_t *nodes; /* the root, then every other node; sized up front */
    size_t nnodes;
    hmap_t by_path; /* path -> node, root excluded */
    buf_t path;     /* scratch: a path being looked up */
    buf_t text;     /* scratch: text being scrubbed */
} conv_t;

typedef struct indexed {
    unsigned long index;
    const tnode_t *node;
} indexed_t;

static int parse_value(conv_t *c, const sqs_shape_t *sh, const tnode_t *node, jv_t **out);

/* Nodes the form can make: its segments, at most KEY_MAX_SEGMENTS a key, plus the root. */
static size_t tree_capacity(const kvv_t *form)
{
    size_t n = 1;
    for (size_t i = 0; i < form->n; i++) {
        size_t segs = 1;
        for (const char *k = form->v[i].key; *k && segs < KEY_MAX_SEGMENTS; k++)
            segs += *k == '.';
        n += segs;
    }
    return n;
}

static tnode_t *tree_node(conv_t *c, tnode_t *parent, const char *path, size_t plen, const char *seg, size_t slen)
{
    tnode_t *n = &c->nodes[c->nnodes++];
    *n = (tnode_t){path, plen, seg, slen, -1, NULL, parent->child, 0};
    parent->child = n;
    parent->nchild++;
    hmap_put(&c->by_path, path, plen, n);
    return n;
}

/* Files form pair i under its key's segments; keys that cannot name a member are dropped. */
static void tree_add(conv_t *c, const char *key, size_t i)
{
    tnode_t *node = &c->nodes[0];
    const char *seg = key;
    for (int depth = 0;; depth++) {
        const char *dot = strchr(seg, '.');
        size_t len = dot ? (size_t)(dot - seg) : strlen(seg);
        if (len == 0 || depth == KEY_MAX_SEGMENTS)
            return;
        size_t plen = (size_t)(seg - key) + len;
        tnode_t *child = hmap_get(&c->by_path, key, plen);
        node = child ? child : tree_node(c, node, key, plen, seg, len);
        if (!dot)
            break;
        seg = dot + 1;
    }
    if (node->pair < 0)
        node->pair = (long)i;
}

static void tree_build(conv_t *c)
{
    c->nodes = xmalloc(tree_capacity(c->form) * sizeof *c->nodes);
    c->nodes[0] = (tnode_t){"", 0, "", 0, -1, NULL, NULL, 0};
    c->nnodes = 1;
    hmap_init(&c->by_path);
    for (size_t i = 0; i < c->form->n; i++)
        tree_add(c, c->form->v[i].key, i);
}

/* The child of node named name (a member's wire or JSON name), or NULL. */
static const tnode_t *child_named(conv_t *c, const tnode_t *node, const char *name)
{
    if (!node)
        return NULL;
    buf_reset(&c->path);
    if (node->plen) {
        buf_append(&c->path, node->path, node->plen);
        buf_putc(&c->path, '.');
    }
    buf_puts(&c->path, name);
    return hmap_get(&c->by_path, c->path.data, c->path.len);
}

/* The value sent for node itself (and its full form key in *key), or NULL. */
static const char *node_value(const conv_t *c, const tnode_t *node, const char **key)
{
    if (!node || node->pair < 0)
        return NULL;
    if (key)
        *key = c->form->v[node->pair].key;
    return c->form->v[node->pair].val;
}

/* A list sent as just "Name=" (botocore's empty list). */
static int is_empty_marker(const conv_t *c, const tnode_t *node)
{
    const char *v = node_value(c, node, NULL);
    return v && v[0] == '\0';
}

/* Records AWS's wording for a parameter value it refuses; returns -1. */
static int invalid_value(conv_t *c, const char *value, const char *key, const char *reason)
{
    if (c->why_len)
        snprintf(c->why, c->why_len, "Value %s for parameter %s is invalid. Reason: %s", value, key, reason);
    return -1;
}

/* s, each byte of ill-formed UTF-8 replaced by U+FFFD, in c->text. */
static const buf_t *scrubbed(conv_t *c, const char *s)
{
    buf_reset(&c->text);
    xml_utf8_scrub(&c->text, s, strlen(s));
    return &c->text;
}

static jv_t *text_json(conv_t *c, const char *s)
{
    const buf_t *t = scrubbed(c, s);
    return jv_stringn(c->d, t->data ? t->data : "", t->len);
}

/* Optional sign and decimal digits, within 32 bits (Integer) or 64 (Long). */
static int parse_integer(conv_t *c, sqs_kind_t kind, const char *key, const char *v, jv_t **out)
{
    const char *digits = v + (*v == '-' || *v == '+');
    int ok = *digits && strspn(digits, "0123456789") == strlen(digits);
    errno = 0;
    long long x = ok ? strtoll(v, NULL, 10) : 0;
    if (ok && errno == 0 && (kind == SQS_K_LONG || (x >= INT32_MIN && x <= INT32_MAX))) {
        *out = jv_int(c->d, x);
        return 0;
    }
    return invalid_value(c, v, key, "Must be an integer.");
}

static int parse_scalar(conv_t *c, sqs_kind_t kind, const tnode_t *node, jv_t **out)
{
    const char *key, *v = node_value(c, node, &key);
    if (!v)
        return 0;
    if (kind == SQS_K_INTEGER || kind == SQS_K_LONG)
        return parse_integer(c, kind, key, v, out);
    if (kind != SQS_K_BOOLEAN) {
        *out = text_json(c, v);
        return 0;
    }
    if (strcmp(v, "true") != 0 && strcmp(v, "false") != 0)
        return invalid_value(c, v, key, "Must be a boolean.");
    *out = jv_bool(c->d, v[0] == 't');
    return 0;
}

/* A canonical decimal index segment ("7", not "07" or "+7"), into *index. */
static int parse_index(const char *seg, size_t n, unsigned long *index)
{
    if (n == 0 || n > INDEX_MAX_DIGITS || (seg[0] == '0' && n > 1))
        return 0;
    unsigned long v = 0;
    for (size_t i = 0; i < n; i++) {
        if (seg[i] < '0' || seg[i] > '9')
            return 0;
        v = v * 10 + (unsigned long)(seg[i] - '0');
    }
    *index = v;
    return 1;
}

static int by_index(const void *a, const void *b)
{
    unsigned long x = ((const indexed_t *)a)->index, y = ((const indexed_t *)b)->index;
    return x < y ? -1 : x > y;
}

/* The children of node named by an index, sorted by it, in a malloc'd array. */
static size_t indexed_children(const tnode_t *node, indexed_t **out)
{
    indexed_t *v = xmalloc((node->nchild + 1) * sizeof *v);
    size_t n = 0;
    for (const tnode_t *ch = node->child; ch; ch = ch->next)
        if (parse_index(ch->seg, ch->slen, &v[n].index))
            v[n++].node = ch;
    qsort(v, n, sizeof *v, by_index);
    *out = v;
    return n;
}

static int parse_list(conv_t *c, const sqs_shape_t *sh, const tnode_t *node, jv_t **out)
{
    indexed_t *el;
    size_t n = indexed_children(node, &el);
    jv_t *arr = jv_array(c->d);
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        jv_t *v = NULL;
        rc = parse_value(c, sh->item, el[i].node, &v);
        jv_push(c->d, arr, v);
    }
    free(el);
    if (rc == 0 && (jv_count(arr) > 0 || is_empty_marker(c, node)))
        *out = arr;
    return rc;
}

/* Sets key -> v in a map being built; a key seen before keeps its place and takes v. */
static void map_put(conv_t *c, jv_t *obj, hmap_t *seen, const buf_t *key, jv_t *v)
{
    const char *k = key->data ? key->data : "";
    uintptr_t at = (uintptr_t)hmap_get(seen, k, key->len);
    if (at) {
        obj->u.pairs[at - 1].val = v;
        return;
    }
    jv_set_copy(c->d, obj, k, key->len, v);
    const jv_pair_t *p = &obj->u.pairs[obj->len - 1];
    hmap_put(seen, p->key, p->klen, (void *)(uintptr_t)obj->len);
}

/* One "Name.N.<key>" / "Name.N.<value>..." entry into obj; entries lacking either are ignored. */
static int parse_map_entry(conv_t *c, const sqs_shape_t *sh, const tnode_t *entry, jv_t *obj, hmap_t *seen)
{
    const char *name = node_value(c, child_named(c, entry, sh->key_wire), NULL);
    jv_t *v = NULL;
    if (!name)
        return 0;
    if (parse_value(c, sh->item, child_named(c, entry, sh->value_wire), &v) != 0)
        return -1;
    if (v)
        map_put(c, obj, seen, scrubbed(c, name), v);
    return 0;
}

static int parse_map(conv_t *c, const sqs_shape_t *sh, const tnode_t *node, jv_t **out)
{
    indexed_t *el;
    size_t n = indexed_children(node, &el);
    jv_t *obj = jv_object(c->d);
    hmap_t seen;
    hmap_init(&seen);
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++)
        rc = parse_map_entry(c, sh, el[i].node, obj, &seen);
    hmap_free(&seen);
    free(el);
    if (rc == 0 && jv_count(obj) > 0)
        *out = obj;
    return rc;
}

static int parse_struct(conv_t *c, const sqs_shape_t *sh, const tnode_t *node, jv_t **out)
{
    jv_t *obj = jv_object(c->d);
    for (const sqs_member_t *m = sh->members; m->name; m++) {
        jv_t *v = NULL;
        if (parse_value(c, m->shape, child_named(c, node, m->wire), &v) != 0)
            return -1;
        if (!v && m->shape->kind == SQS_K_LIST && is_empty_marker(c, child_named(c, node, m->name)))
            v = jv_array(c->d);
        jv_set(c->d, obj, m->name, v); /* names are static: borrowed */
    }
    *out = obj;
    return 0;
}

/* Leaves *out NULL when node holds nothing for the shape. */
static int parse_value(conv_t *c, const sqs_shape_t *sh, const tnode_t *node, jv_t **out)
{
    *out = NULL;
    if (!node)
        return 0;
    switch (sh->kind) {
    case SQS_K_STRUCT:
        return parse_struct(c, sh, node, out);
    case SQS_K_LIST:
        return parse_list(c, sh, node, out);
    case SQS_K_MAP:
        return parse_map(c, sh, node, out);
    default:
        return parse_scalar(c, sh->kind, node, out);
    }
}

int sqs_query_to_json(const char *action, const kvv_t *form, jv_doc_t *d, jv_t **out, char *why, size_t why_len)
{
    const sqs_op_t *op = find_op(action);
    *out = NULL;
    if (!op) {
        if (why_len)
            snprintf(why, why_len, "The action or operation requested is invalid. "
                                   "Verify that the action is typed correctly.");
        return SQS_SHAPES_UNKNOWN_ACTION;
    }
    conv_t c = {.form = form, .d = d, .why = why, .why_len = why_len, .path = BUF_INIT, .text = BUF_INIT};
    tree_build(&c);
    int rc = parse_struct(&c, op->input, &c.nodes[0], out);
    hmap_free(&c.by_path);
    free(c.nodes);
    buf_free(&c.path);
    buf_free(&c.text);
    return rc == 0 ? SQS_SHAPES_OK : SQS_SHAPES_INVALID;
}

/* ---- JSON to XML ---- */

static void write_value(xml_t *x, const sqs_shape_t *sh, const char *wire, const jv_t *v);

/* Whether write_value writes an element for v (a map entry needs its value). */
static int writable(const sqs_shape_t *sh, const jv_t *v)
{
    if (sh->kind == SQS_K_STRUCT)
        return jv_is(v, JV_OBJECT);
    if (sh->kind == SQS_K_LIST || sh->kind == SQS_K_MAP)
        return 0; /* no SQS map holds these */
    return jv_is(v, JV_STRING) || jv_is(v, JV_NUMBER) || jv_is(v, JV_BOOL);
}

static void write_scalar(xml_t *x, const char *wire, const jv_t *v)
{
    char num[24];
    const char *text = v->u.str;
    size_t len = v->len;
    if (v->type == JV_NUMBER && v->is_int) {
        len = (size_t)snprintf(num, sizeof num, "%lld", (long long)v->i);
        text = num;
    } else if (v->type == JV_BOOL) {
        text = v->boolean ? "true" : "false";
        len = strlen(text);
    } else if (v->type != JV_STRING && v->type != JV_NUMBER) {
        return;
    }
    xml_open(x, wire);
    xml_text(x, text, len);
    xml_close(x);
}

static void write_members(xml_t *x, const sqs_shape_t *sh, const jv_t *obj)
{
    for (const sqs_member_t *m = sh->members; m->name; m++) {
        const jv_t *v = jv_get(obj, m->name);
        if (v)
            write_value(x, m->shape, m->wire, v);
    }
}

/* Whether pair i of obj is overridden by a later pair with the same key. */
static int key_repeats_later(const jv_t *obj, size_t i)
{
    const jv_pair_t *p = &obj->u.pairs[i];
    for (size_t j = i + 1; j < obj->len; j++)
        if (obj->u.pairs[j].klen == p->klen && memcmp(obj->u.pairs[j].key, p->key, p->klen) == 0)
            return 1;
    return 0;
}

static void write_map(xml_t *x, const sqs_shape_t *sh, const char *wire, const jv_t *obj)
{
    for (size_t i = 0; i < obj->len; i++) {
        const jv_pair_t *p = &obj->u.pairs[i];
        if (!writable(sh->item, p->val) || key_repeats_later(obj, i))
            continue;
        xml_open(x, wire);
        xml_open(x, sh->key_wire);
        xml_text(x, p->key, p->klen);
        xml_close(x);
        write_value(x, sh->item, sh->value_wire, p->val);
        xml_close(x);
    }
}

static void write_value(xml_t *x, const sqs_shape_t *sh, const char *wire, const jv_t *v)
{
    switch (sh->kind) {
    case SQS_K_STRUCT:
        if (!jv_is(v, JV_OBJECT))
            return;
        xml_open(x, wire);
        write_members(x, sh, v);
        xml_close(x);
        return;
    case SQS_K_LIST:
        for (size_t i = 0; i < jv_count(v) && jv_is(v, JV_ARRAY); i++)
            write_value(x, sh->item, wire, jv_at(v, i));
        return;
    case SQS_K_MAP:
        if (jv_is(v, JV_OBJECT))
            write_map(x, sh, wire, v);
        return;
    default:
        write_scalar(x, wire, v);
    }
}

static void open_response(xml_t *x, buf_t *out, const char *root)
{
    xml_init(x, out);
    xml_declaration(x);
    xml_open(x, root);
    xml_attr(x, "xmlns", SQS_XMLNS);
}

int sqs_json_to_xml(const char *action, const jv_t *result, const char *request_id, buf_t *out)
{
    const sqs_op_t *op = find_op(action);
    if (!op)
        return SQS_SHAPES_UNKNOWN_ACTION;
    char root[64], wrapper[64];
    snprintf(root, sizeof root, "%sResponse", op->action);
    snprintf(wrapper, sizeof wrapper, "%sResult", op->action);
    xml_t x;
    open_response(&x, out, root);
    if (op->output) {
        xml_open(&x, wrapper);
        write_members(&x, op->output, result);
        xml_close(&x);
    }
    xml_open(&x, "ResponseMetadata");
    xml_leaf(&x, "RequestId", request_id ? request_id : "");
    xml_finish(&x);
    return SQS_SHAPES_OK;
}

void sqs_query_error_xml(const char *code, const char *message, int sender_fault, const char *request_id,
                         buf_t *out)
{
    xml_t x;
    open_response(&x, out, "ErrorResponse");
    xml_open(&x, "Error");
    xml_leaf(&x, "Type", sender_fault ? "Sender" : "Receiver");
    xml_leaf(&x, "Code", code);
    if (message)
        xml_leaf(&x, "Message", message);
    xml_open(&x, "Detail");
    xml_close(&x);
    xml_close(&x);
    xml_leaf(&x, "RequestId", request_id ? request_id : "");
    xml_finish(&x);
}
