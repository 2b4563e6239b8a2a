/*
 * test_sqs_shapes — the query <-> JSON 1.0 translation of every SQS action.
 *
 * The QUERY_CASE fixtures are real wire data: each form body is what
 * botocore 1.29.27 (boto3 1.26, the query protocol) sends for a call, and
 * the expected document is what botocore 1.43.11 (boto3 1.43, JSON 1.0)
 * sends for the very same call; both were captured offline with a
 * before-send hook. Move-task actions and MessageSystemAttributeNames were
 * serialized by 1.26 from a query model extended with their shapes.
 *
 * The XML_CASE fixtures pair a JSON 1.0 output document with the exact XML
 * this module writes for it; each XML was checked to parse, with botocore
 * 1.26's query parser, into the same dict that botocore 1.43's JSON parser
 * makes of the document (blobs as bytes, \r kept, empty lists aside).
 */
#include "proto/sqs_shapes.h"

#include <stdlib.h>

#include "harness.h"
#include "proto/form.h"
#include "proto/xml.h"

/* Converts body as action into d; returns the document (or NULL) and the status in *rc. */
static jv_t *convert(jv_doc_t *d, const char *action, const char *body, int *rc, char *why, size_t why_len)
{
    kvv_t form = {0};
    jv_t *doc = NULL;
    *rc = form_parse(body, strlen(body), &form, why, why_len);
    if (*rc == 0)
        *rc = sqs_query_to_json(action, &form, d, &doc, why, why_len);
    kvv_free(&form);
    return doc;
}

/* A JSON text parsed into d (NULL when it does not parse). */
static jv_t *parse_text(jv_doc_t *d, const char *text)
{
    return text ? jv_parse(d, text, strlen(text), NULL, 0) : NULL;
}

static int same_value(const jv_t *a, const jv_t *b);

/* Every key of a is in b with an equal value (of a repeated key, the last counts). */
static int same_members(const jv_t *a, const jv_t *b)
{
    for (size_t i = 0; i < a->len; i++)
        if (!same_value(jv_get(a, a->u.pairs[i].key), jv_get(b, a->u.pairs[i].key)))
            return 0;
    return 1;
}

/* Semantic equality: objects regardless of key order, integers by value,
 * other numbers by their text. */
static int same_value(const jv_t *a, const jv_t *b)
{
    if (!a || !b || a->type != b->type)
        return 0;
    switch (a->type) {
    case JV_NULL: return 1;
    case JV_BOOL: return a->boolean == b->boolean;
    case JV_NUMBER:
        if (a->is_int || b->is_int)
            return a->is_int && b->is_int && a->i == b->i;
        return a->len == b->len && memcmp(a->u.str, b->u.str, a->len) == 0;
    case JV_STRING: return a->len == b->len && memcmp(a->u.str, b->u.str, a->len) == 0;
    case JV_ARRAY:
        if (a->len != b->len)
            return 0;
        for (size_t i = 0; i < a->len; i++)
            if (!same_value(jv_at(a, i), jv_at(b, i)))
                return 0;
        return 1;
    case JV_OBJECT: return same_members(a, b) && same_members(b, a);
    }
    return 0;
}

/* No object in v has a key twice: the converter writes each key once. */
static int keys_distinct(const jv_t *v)
{
    for (size_t i = 0; v->type == JV_OBJECT && i < v->len; i++) {
        for (size_t j = i + 1; j < v->len; j++)
            if (v->u.pairs[i].klen == v->u.pairs[j].klen &&
                memcmp(v->u.pairs[i].key, v->u.pairs[j].key, v->u.pairs[i].klen) == 0)
                return 0;
        if (!keys_distinct(v->u.pairs[i].val))
            return 0;
    }
    for (size_t i = 0; v->type == JV_ARRAY && i < v->len; i++)
        if (!keys_distinct(jv_at(v, i)))
            return 0;
    return 1;
}

/* harness_fail with both documents when they differ. */
static int same_json(const jv_t *got, const char *want_text)
{
    jv_doc_t *d = jv_doc_new();
    jv_t *want = parse_text(d, want_text);
    int same = want && got && same_value(got, want) && keys_distinct(got);
    if (!same) {
        buf_t g = BUF_INIT, w = BUF_INIT;
        if (got)
            jv_write(got, &g);
        if (want)
            jv_write(want, &w);
        harness_fail(__FILE__, __LINE__, "got %s\n      want %s", got ? g.data : "(null)",
                     want ? w.data : "(bad JSON)");
        buf_free(&g);
        buf_free(&w);
    }
    jv_doc_free(d);
    return same;
}

static void check_query(const char *action, const char *body, const char *want)
{
    char why[256] = "";
    int rc;
    jv_doc_t *d = jv_doc_new();
    jv_t *doc = convert(d, action, body, &rc, why, sizeof why);
    int same = same_json(doc, want);
    jv_doc_free(d);
    CHECK_STR(why, "");
    CHECK_INT(rc, SQS_SHAPES_OK);
    CHECK(same);
}

static void check_xml(const char *action, const char *doc_text, const char *want)
{
    jv_doc_t *d = jv_doc_new();
    jv_t *doc = parse_text(d, doc_text);
    buf_t out = BUF_INIT;
    int rc = doc ? sqs_json_to_xml(action, doc, "req-1", &out) : -99;
    jv_doc_free(d);
    CHECK(doc != NULL);
    CHECK_INT(rc, SQS_SHAPES_OK);
    CHECK_STR(out.data, want);
    buf_free(&out);
}

#define S_(lit) (lit), (sizeof(lit) - 1) /* literal and its length, NULs included */

#define QUERY_CASE(name, action, body, want)                                    \
    TEST(query_##name)                                                          \
    {                                                                           \
        check_query(action, body, want);                                        \
    }

#define XML_CASE(name, action, doc, want)                                       \
    TEST(name)                                                                  \
    {                                                                           \
        check_xml(action, doc, want);                                           \
    }

/* ---- form -> JSON 1.0: botocore 1.26 bodies against botocore 1.43 documents ---- */

QUERY_CASE(create_queue, "CreateQueue",
           "Action=CreateQueue&Version=2012-11-05&QueueName=jobs.fifo&Attribute.1.Name=FifoQueue&"
           "Attribute.1.Value=true&Attribute.2.Name=ContentBasedDeduplication&Attribute.2.Value=true&"
           "Attribute.3.Name=VisibilityTimeout&Attribute.3.Value=45&Attribute.4.Name=RedrivePolicy&"
           "Attribute.4.Value=%7B%22deadLetterTargetArn%22%3A%22arn%3Aaws%3Asqs%3Aus-east-1%3A123456789012%3"
           "Aorders-dlq%22%2C%22maxReceiveCount%22%3A%225%22%7D&Attribute.5.Name=Policy&"
           "Attribute.5.Value=%7B%22Version%22%3A%222012-10-17%22%2C%22Statement%22%3A%5B%7B%22Effect%22%3A%"
           "22Allow%22%2C%22Principal%22%3A%22%2A%22%2C%22Action%22%3A%22sqs%3ASendMessage%22%2C%22Resource%"
           "22%3A%22%2A%22%7D%5D%7D&Tag.1.Key=team&Tag.1.Value=payments&Tag.2.Key=cost+center&"
           "Tag.2.Value=a%2Bb%3Dc%26d",
           "{\"QueueName\":\"jobs.fifo\",\"Attributes\":{\"FifoQueue\":\"true\","
           "\"ContentBasedDeduplication\":\"true\",\"VisibilityTimeout\":\"45\","
           "\"RedrivePolicy\":\"{\\\"deadLetterTargetArn\\\":\\\"arn:aws:sqs:us-east-1:123456789012:orders-d"
           "lq\\\",\\\"maxReceiveCount\\\":\\\"5\\\"}\",\"Policy\":\"{\\\"Version\\\":\\\"2012-10-17\\\","
           "\\\"Statement\\\":[{\\\"Effect\\\":\\\"Allow\\\",\\\"Principal\\\":\\\"*\\\","
           "\\\"Action\\\":\\\"sqs:SendMessage\\\",\\\"Resource\\\":\\\"*\\\"}]}\"},"
           "\"tags\":{\"team\":\"payments\",\"cost center\":\"a+b=c&d\"}}")

QUERY_CASE(create_queue_min, "CreateQueue",
           "Action=CreateQueue&Version=2012-11-05&QueueName=orders-queue",
           "{\"QueueName\":\"orders-queue\"}")

QUERY_CASE(delete_queue, "DeleteQueue",
           "Action=DeleteQueue&Version=2012-11-05&"
           "QueueUrl=http%3A%2F%2F127.0.0.1%3A4566%2F000000000000%2Forders-queue",
           "{\"QueueUrl\":\"http://127.0.0.1:4566/000000000000/orders-queue\"}")

QUERY_CASE(get_queue_url, "GetQueueUrl",
           "Action=GetQueueUrl&Version=2012-11-05&QueueName=orders-queue&QueueOwnerAWSAccountId=123456789012",
           "{\"QueueName\":\"orders-queue\",\"QueueOwnerAWSAccountId\":\"123456789012\"}")

QUERY_CASE(list_queues, "ListQueues",
           "Action=ListQueues&Version=2012-11-05&QueueNamePrefix=ord&NextToken=tok%2Ben%2F%3D%3D&"
           "MaxResults=50",
           "{\"QueueNamePrefix\":\"ord\",\"NextToken\":\"tok+en/==\",\"MaxResults\":50}")

QUERY_CASE(get_queue_attributes, "GetQueueAttributes",
           "Action=GetQueueAttributes&Version=2012-11-05&"
           "QueueUrl=http%3A%2F%2F127.0.0.1%3A4566%2F000000000000%2Forders-queue&AttributeName.1=All&"
           "AttributeName.2=VisibilityTimeout&AttributeName.3=ApproximateNumberOfMessages",
           "{\"QueueUrl\":\"http://127.0.0.1:4566/000000000000/orders-queue\",\"AttributeNames\":[\"All\","
           "\"VisibilityTimeout\",\"ApproximateNumberOfMessages\"]}")

QUERY_CASE(get_queue_attributes_empty, "GetQueueAttributes",
           "Action=GetQueueAttributes&Version=2012-11-05&"
           "QueueUrl=http%3A%2F%2F127.0.0.1%3A4566%2F000000000000%2Forders-queue&AttributeNames=",
           "{\"QueueUrl\":\"http://127.0.0.1:4566/000000000000/orders-queue\",\"AttributeNames\":[]}")

QUERY_CASE(set_queue_attributes, "SetQueueAttributes",
           "Action=SetQueueAttributes&Version=2012-11-05&"
           "QueueUrl=http%3A%2F%2F127.0.0.1%3A4566%2F000000000000%2Forders-queue&"
           "Attribute.1.Name=DelaySeconds&Attribute.1.Value=0&Attribute.2.Name=MaximumMessageSize&"
           "Attribute.2.Value=262144&Attribute.3.Name=ReceiveMessageWaitTimeSeconds&Attribute.3.Value=20&"
           "Attribute.4.Name=RedriveAllowPolicy&"
           "Attribute.4.Value=%7B%22redrivePermission%22%3A%22allowAll%22%7D",
           "{\"QueueUrl\":\"http://127.0.0.1:4566/000000000000/orders-queue\","
           "\"Attributes\":{\"DelaySeconds\":\"0\",\"MaximumMessageSize\":\"262144\","
           "\"ReceiveMessageWaitTimeSeconds\":\"20\","
           "\"RedriveAllowPolicy\":\"{\\\"redrivePermission\\\":\\\"allowAll\\\"}\"}}")

QUERY_CASE(purge_queue, "PurgeQueue",
           "Action=PurgeQueue&Version=2012-11-05&"
           "QueueUrl=http%3A%2F%2F127.0.0.1%3A4566%2F000000000000%2Forders-queue",
           "{\"QueueUrl\":\"http://127.0.0.1:4566/000000000000/orders-queue\"}")

QUERY_CASE(send_message, "SendMessage",
           "Action=SendMessage&Version=2012-11-05&"
           "QueueUrl=http%3A%2F%2F127.0.0.1%3A4566%2F000000000000%2Forders-queue&"
           "MessageBody=line1%0Aline2%0D%0ATab%09here+%26+%3Cxml+attr%3D%22q%22%3E+it%27s+100%25+%2Bplus%3D+"
           "caf%C3%A9+%E2%98%83+%F0%9F%98%80+~%2A%3F%2F%23%5B%5D&DelaySeconds=10&"
           "MessageAttribute.1.Name=trace&MessageAttribute.1.Value.DataType=String&"
           "MessageAttribute.1.Value.StringValue=abc+123+%26+%3C%3E&MessageAttribute.2.Name=count&"
           "MessageAttribute.2.Value.DataType=Number&MessageAttribute.2.Value.StringValue=-42.5e3&"
           "MessageAttribute.3.Name=blob&MessageAttribute.3.Value.DataType=Binary&"
           "MessageAttribute.3.Value.BinaryValue=AAH%2B%2FyBiaW5hcnk%3D&MessageAttribute.4.Name=custom&"
           "MessageAttribute.4.Value.DataType=String.json&"
           "MessageAttribute.4.Value.StringValue=%7B%22a%22%3A%5B1%2C2%5D%7D&MessageAttribute.5.Name=lists&"
           "MessageAttribute.5.Value.DataType=String&MessageAttribute.5.Value.StringListValue.1=x&"
           "MessageAttribute.5.Value.StringListValue.2=y+z&"
           "MessageAttribute.5.Value.BinaryListValue.1=AQ%3D%3D&"
           "MessageAttribute.5.Value.BinaryListValue.2=AgM%3D&MessageSystemAttribute.1.Name=AWSTraceHeader&"
           "MessageSystemAttribute.1.Value.DataType=String&"
           "MessageSystemAttribute.1.Value.StringValue=Root%3D1-5759e988-bd862e3fe1be46a994272793%3BSampled%"
           "3D1",
           "{\"QueueUrl\":\"http://127.0.0.1:4566/000000000000/orders-queue\","
           "\"MessageBody\":\"line1\\nline2\\r\\nTab\\there & <xml attr=\\\"q\\\"> it's 100% +plus= "
           "caf\\u00e9 \\u2603 \\ud83d\\ude00 ~*?/#[]\",\"DelaySeconds\":10,"
           "\"MessageAttributes\":{\"trace\":{\"DataType\":\"String\",\"StringValue\":\"abc 123 & <>\"},"
           "\"count\":{\"DataType\":\"Number\",\"StringValue\":\"-42.5e3\"},"
           "\"blob\":{\"DataType\":\"Binary\",\"BinaryValue\":\"AAH+/yBiaW5hcnk=\"},"
           "\"custom\":{\"DataType\":\"String.json\",\"StringValue\":\"{\\\"a\\\":[1,2]}\"},"
           "\"lists\":{\"DataType\":\"String\",\"StringListValues\":[\"x\",\"y z\"],"
           "\"BinaryListValues\":[\"AQ==\",\"AgM=\"]}},"
           "\"MessageSystemAttributes\":{\"AWSTraceHeader\":{\"DataType\":\"String\","
           "\"StringValue\":\"Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1\"}}}")

QUERY_CASE(send_message_fifo, "SendMessage",
           "Action=SendMessage&Version=2012-11-05&"
           "QueueUrl=https%3A%2F%2Fsqs.us-east-1.amazonaws.com%2F123456789012%2Fjobs.fifo&"
           "MessageBody=%7B%22order%22%3A17%7D&MessageDeduplicationId=dedup-17&MessageGroupId=group-a",
           "{\"QueueUrl\":\"https://sqs.us-east-1.amazonaws.com/123456789012/jobs.fifo\","
           "\"MessageBody\":\"{\\\"order\\\":17}\",\"MessageDeduplicationId\":\"dedup-17\","
           "\"MessageGroupId\":\"group-a\"}")

QUERY_CASE(send_message_batch, "SendMessageBatch",
           "Action=SendMessageBatch&Version=2012-11-05&"
           "QueueUrl=https%3A%2F%2Fsqs.us-east-1.amazonaws.com%2F123456789012%2Fjobs.fifo&"
           "SendMessageBatchRequestEntry.1.Id=m1&SendMessageBatchRequestEntry.1.MessageBody=first&"
           "SendMessageBatchRequestEntry.1.MessageGroupId=g1&"
           "SendMessageBatchRequestEntry.1.MessageDeduplicationId=d1&"
           "SendMessageBatchRequestEntry.1.MessageAttribute.1.Name=k&"
           "SendMessageBatchRequestEntry.1.MessageAttribute.1.Value.DataType=String&"
           "SendMessageBatchRequestEntry.1.MessageAttribute.1.Value.StringValue=v&"
           "SendMessageBatchRequestEntry.1.MessageAttribute.2.Name=n&"
           "SendMessageBatchRequestEntry.1.MessageAttribute.2.Value.DataType=Number&"
           "SendMessageBatchRequestEntry.1.MessageAttribute.2.Value.StringValue=7&"
           "SendMessageBatchRequestEntry.2.Id=m-2_x&"
           "SendMessageBatchRequestEntry.2.MessageBody=second%0D%0Aline&"
           "SendMessageBatchRequestEntry.2.DelaySeconds=0&"
           "SendMessageBatchRequestEntry.2.MessageSystemAttribute.1.Name=AWSTraceHeader&"
           "SendMessageBatchRequestEntry.2.MessageSystemAttribute.1.Value.DataType=String&"
           "SendMessageBatchRequestEntry.2.MessageSystemAttribute.1.Value.StringValue=Root%3D1-abc&"
           "SendMessageBatchRequestEntry.3.Id=m3&"
           "SendMessageBatchRequestEntry.3.MessageBody=line1%0Aline2%0D%0ATab%09here+%26+%3Cxml+attr%3D%22q%"
           "22%3E+it%27s+100%25+%2Bplus%3D+caf%C3%A9+%E2%98%83+%F0%9F%98%80+~%2A%3F%2F%23%5B%5D&"
           "SendMessageBatchRequestEntry.3.DelaySeconds=900&"
           "SendMessageBatchRequestEntry.3.MessageAttribute.1.Name=b&"
           "SendMessageBatchRequestEntry.3.MessageAttribute.1.Value.DataType=Binary&"
           "SendMessageBatchRequestEntry.3.MessageAttribute.1.Value.BinaryValue=3q2%2B7w%3D%3D",
           "{\"QueueUrl\":\"https://sqs.us-east-1.amazonaws.com/123456789012/jobs.fifo\","
           "\"Entries\":[{\"Id\":\"m1\",\"MessageBody\":\"first\",\"MessageGroupId\":\"g1\","
           "\"MessageDeduplicationId\":\"d1\",\"MessageAttributes\":{\"k\":{\"DataType\":\"String\","
           "\"StringValue\":\"v\"},\"n\":{\"DataType\":\"Number\",\"StringValue\":\"7\"}}},"
           "{\"Id\":\"m-2_x\",\"MessageBody\":\"second\\r\\nline\",\"DelaySeconds\":0,"
           "\"MessageSystemAttributes\":{\"AWSTraceHeader\":{\"DataType\":\"String\","
           "\"StringValue\":\"Root=1-abc\"}}},{\"Id\":\"m3\","
           "\"MessageBody\":\"line1\\nline2\\r\\nTab\\there & <xml attr=\\\"q\\\"> it's 100% +plus= "
           "caf\\u00e9 \\u2603 \\ud83d\\ude00 ~*?/#[]\",\"DelaySeconds\":900,"
           "\"MessageAttributes\":{\"b\":{\"DataType\":\"Binary\",\"BinaryValue\":\"3q2+7w==\"}}}]}")

QUERY_CASE(receive_message, "ReceiveMessage",
           "Action=ReceiveMessage&Version=2012-11-05&"
           "QueueUrl=http%3A%2F%2F127.0.0.1%3A4566%2F000000000000%2Forders-queue&AttributeName.1=All&"
           "MessageAttributeName.1=All&MessageAttributeName.2=trace.%2A&MaxNumberOfMessages=10&"
           "VisibilityTimeout=30&WaitTimeSeconds=20&ReceiveRequestAttemptId=attempt-1",
           "{\"QueueUrl\":\"http://127.0.0.1:4566/000000000000/orders-queue\",\"AttributeNames\":[\"All\"],"
           "\"MessageAttributeNames\":[\"All\",\"trace.*\"],\"MaxNumberOfMessages\":10,"
           "\"VisibilityTimeout\":30,\"WaitTimeSeconds\":20,\"ReceiveRequestAttemptId\":\"attempt-1\"}")

QUERY_CASE(receive_message_sysattrs, "ReceiveMessage",
           "Action=ReceiveMessage&Version=2012-11-05&"
           "QueueUrl=http%3A%2F%2F127.0.0.1%3A4566%2F000000000000%2Forders-queue&"
           "MessageSystemAttributeName.1=SenderId&MessageSystemAttributeName.2=ApproximateReceiveCount&"
           "MessageSystemAttributeName.3=AWSTraceHeader&MaxNumberOfMessages=1",
           "{\"QueueUrl\":\"http://127.0.0.1:4566/000000000000/orders-queue\","
           "\"MessageSystemAttributeNames\":[\"SenderId\",\"ApproximateReceiveCount\",\"AWSTraceHeader\"],"
           "\"MaxNumberOfMessages\":1}")

QUERY_CASE(delete_message, "DeleteMessage",
           "Action=DeleteMessage&Version=2012-11-05&"
           "QueueUrl=http%3A%2F%2F127.0.0.1%3A4566%2F000000000000%2Forders-queue&"
           "ReceiptHandle=AQEBzbVv%2B3nZ%2FJc0qU6y2sj8Q%3D%3D%26x",
           "{\"QueueUrl\":\"http://127.0.0.1:4566/000000000000/orders-queue\","
           "\"ReceiptHandle\":\"AQEBzbVv+3nZ/Jc0qU6y2sj8Q==&x\"}")

QUERY_CASE(delete_message_batch, "DeleteMessageBatch",
           "Action=DeleteMessageBatch&Version=2012-11-05&"
           "QueueUrl=http%3A%2F%2F127.0.0.1%3A4566%2F000000000000%2Forders-queue&"
           "DeleteMessageBatchRequestEntry.1.Id=a&"
           "DeleteMessageBatchRequestEntry.1.ReceiptHandle=rh-1%2B%2F%3D&"
           "DeleteMessageBatchRequestEntry.2.Id=b&DeleteMessageBatchRequestEntry.2.ReceiptHandle=rh-2",
           "{\"QueueUrl\":\"http://127.0.0.1:4566/000000000000/orders-queue\",\"Entries\":[{\"Id\":\"a\","
           "\"ReceiptHandle\":\"rh-1+/=\"},{\"Id\":\"b\",\"ReceiptHandle\":\"rh-2\"}]}")

QUERY_CASE(change_message_visibility, "ChangeMessageVisibility",
           "Action=ChangeMessageVisibility&Version=2012-11-05&"
           "QueueUrl=http%3A%2F%2F127.0.0.1%3A4566%2F000000000000%2Forders-queue&ReceiptHandle=rh%2B1%2F%3D&"
           "VisibilityTimeout=43200",
           "{\"QueueUrl\":\"http://127.0.0.1:4566/000000000000/orders-queue\",\"ReceiptHandle\":\"rh+1/=\","
           "\"VisibilityTimeout\":43200}")

QUERY_CASE(change_message_visibility_batch, "ChangeMessageVisibilityBatch",
           "Action=ChangeMessageVisibilityBatch&Version=2012-11-05&"
           "QueueUrl=http%3A%2F%2F127.0.0.1%3A4566%2F000000000000%2Forders-queue&"
           "ChangeMessageVisibilityBatchRequestEntry.1.Id=a&"
           "ChangeMessageVisibilityBatchRequestEntry.1.ReceiptHandle=rh-1&"
           "ChangeMessageVisibilityBatchRequestEntry.1.VisibilityTimeout=0&"
           "ChangeMessageVisibilityBatchRequestEntry.2.Id=b&"
           "ChangeMessageVisibilityBatchRequestEntry.2.ReceiptHandle=rh-2&"
           "ChangeMessageVisibilityBatchRequestEntry.2.VisibilityTimeout=600&"
           "ChangeMessageVisibilityBatchRequestEntry.3.Id=c&"
           "ChangeMessageVisibilityBatchRequestEntry.3.ReceiptHandle=rh-3",
           "{\"QueueUrl\":\"http://127.0.0.1:4566/000000000000/orders-queue\",\"Entries\":[{\"Id\":\"a\","
           "\"ReceiptHandle\":\"rh-1\",\"VisibilityTimeout\":0},{\"Id\":\"b\",\"ReceiptHandle\":\"rh-2\","
           "\"VisibilityTimeout\":600},{\"Id\":\"c\",\"ReceiptHandle\":\"rh-3\"}]}")

QUERY_CASE(tag_queue, "TagQueue",
           "Action=TagQueue&Version=2012-11-05&"
           "QueueUrl=http%3A%2F%2F127.0.0.1%3A4566%2F000000000000%2Forders-queue&Tag.1.Key=env&"
           "Tag.1.Value=prod&Tag.2.Key=owner&Tag.2.Value=team%40example.com&Tag.3.Key=empty&Tag.3.Value=",
           "{\"QueueUrl\":\"http://127.0.0.1:4566/000000000000/orders-queue\",\"Tags\":{\"env\":\"prod\","
           "\"owner\":\"team@example.com\",\"empty\":\"\"}}")

QUERY_CASE(untag_queue, "UntagQueue",
           "Action=UntagQueue&Version=2012-11-05&"
           "QueueUrl=http%3A%2F%2F127.0.0.1%3A4566%2F000000000000%2Forders-queue&TagKey.1=env&TagKey.2=owner",
           "{\"QueueUrl\":\"http://127.0.0.1:4566/000000000000/orders-queue\",\"TagKeys\":[\"env\","
           "\"owner\"]}")

QUERY_CASE(list_queue_tags, "ListQueueTags",
           "Action=ListQueueTags&Version=2012-11-05&"
           "QueueUrl=http%3A%2F%2F127.0.0.1%3A4566%2F000000000000%2Forders-queue",
           "{\"QueueUrl\":\"http://127.0.0.1:4566/000000000000/orders-queue\"}")

QUERY_CASE(list_dead_letter_source_queues, "ListDeadLetterSourceQueues",
           "Action=ListDeadLetterSourceQueues&Version=2012-11-05&"
           "QueueUrl=http%3A%2F%2F127.0.0.1%3A4566%2F000000000000%2Forders-queue&NextToken=n1&MaxResults=2",
           "{\"QueueUrl\":\"http://127.0.0.1:4566/000000000000/orders-queue\",\"NextToken\":\"n1\","
           "\"MaxResults\":2}")

QUERY_CASE(start_message_move_task, "StartMessageMoveTask",
           "Action=StartMessageMoveTask&Version=2012-11-05&"
           "SourceArn=arn%3Aaws%3Asqs%3Aus-east-1%3A123456789012%3Aorders-dlq&"
           "DestinationArn=arn%3Aaws%3Asqs%3Aus-east-1%3A123456789012%3Aorders-queue&"
           "MaxNumberOfMessagesPerSecond=50",
           "{\"SourceArn\":\"arn:aws:sqs:us-east-1:123456789012:orders-dlq\","
           "\"DestinationArn\":\"arn:aws:sqs:us-east-1:123456789012:orders-queue\","
           "\"MaxNumberOfMessagesPerSecond\":50}")

QUERY_CASE(cancel_message_move_task, "CancelMessageMoveTask",
           "Action=CancelMessageMoveTask&Version=2012-11-05&TaskHandle=eyJ0YXNrSWQiOiJkYzE2In0%3D",
           "{\"TaskHandle\":\"eyJ0YXNrSWQiOiJkYzE2In0=\"}")

QUERY_CASE(list_message_move_tasks, "ListMessageMoveTasks",
           "Action=ListMessageMoveTasks&Version=2012-11-05&"
           "SourceArn=arn%3Aaws%3Asqs%3Aus-east-1%3A123456789012%3Aorders-dlq&MaxResults=10",
           "{\"SourceArn\":\"arn:aws:sqs:us-east-1:123456789012:orders-dlq\",\"MaxResults\":10}")

QUERY_CASE(add_permission, "AddPermission",
           "Action=AddPermission&Version=2012-11-05&"
           "QueueUrl=http%3A%2F%2F127.0.0.1%3A4566%2F000000000000%2Forders-queue&Label=AliceSend&"
           "AWSAccountId.1=111122223333&AWSAccountId.2=444455556666&ActionName.1=SendMessage&"
           "ActionName.2=ReceiveMessage",
           "{\"QueueUrl\":\"http://127.0.0.1:4566/000000000000/orders-queue\",\"Label\":\"AliceSend\","
           "\"AWSAccountIds\":[\"111122223333\",\"444455556666\"],\"Actions\":[\"SendMessage\","
           "\"ReceiveMessage\"]}")

QUERY_CASE(remove_permission, "RemovePermission",
           "Action=RemovePermission&Version=2012-11-05&"
           "QueueUrl=http%3A%2F%2F127.0.0.1%3A4566%2F000000000000%2Forders-queue&Label=AliceSend",
           "{\"QueueUrl\":\"http://127.0.0.1:4566/000000000000/orders-queue\",\"Label\":\"AliceSend\"}")

/* ---- JSON 1.0 -> XML: documents against the exact XML (checked with botocore 1.26) ---- */

XML_CASE(xml_create_queue, "CreateQueue",
         "{\"QueueUrl\":\"http://127.0.0.1:4566/000000000000/orders-queue\"}",
         "<?xml version=\"1.0\"?><CreateQueueResponse "
         "xmlns=\"http://queue.amazonaws.com/doc/2012-11-05/\"><CreateQueueResult><QueueUrl>"
         "http://127.0.0.1:4566/000000000000/orders-queue</QueueUrl></CreateQueueResult><ResponseMetadata>"
         "<RequestId>req-1</RequestId></ResponseMetadata></CreateQueueResponse>")

XML_CASE(xml_get_queue_url, "GetQueueUrl",
         "{\"QueueUrl\":\"http://127.0.0.1:4566/000000000000/orders-queue\"}",
         "<?xml version=\"1.0\"?><GetQueueUrlResponse "
         "xmlns=\"http://queue.amazonaws.com/doc/2012-11-05/\"><GetQueueUrlResult><QueueUrl>"
         "http://127.0.0.1:4566/000000000000/orders-queue</QueueUrl></GetQueueUrlResult><ResponseMetadata>"
         "<RequestId>req-1</RequestId></ResponseMetadata></GetQueueUrlResponse>")

XML_CASE(xml_list_queues, "ListQueues",
         "{\"QueueUrls\":[\"http://127.0.0.1:4566/000000000000/orders-queue\","
         "\"http://127.0.0.1:4566/000000000000/orders-queue-2\",\"http://h/0/a&b\"],"
         "\"NextToken\":\"tok+/==\"}",
         "<?xml version=\"1.0\"?><ListQueuesResponse xmlns=\"http://queue.amazonaws.com/doc/2012-11-05/\">"
         "<ListQueuesResult><QueueUrl>http://127.0.0.1:4566/000000000000/orders-queue</QueueUrl><QueueUrl>"
         "http://127.0.0.1:4566/000000000000/orders-queue-2</QueueUrl><QueueUrl>http://h/0/a&"
         "amp;b</QueueUrl><NextToken>tok+/==</NextToken></ListQueuesResult><ResponseMetadata><RequestId>"
         "req-1</RequestId></ResponseMetadata></ListQueuesResponse>")

XML_CASE(xml_list_queues_2, "ListQueues",
         "{}",
         "<?xml version=\"1.0\"?><ListQueuesResponse xmlns=\"http://queue.amazonaws.com/doc/2012-11-05/\">"
         "<ListQueuesResult/><ResponseMetadata><RequestId>req-1</RequestId></ResponseMetadata>"
         "</ListQueuesResponse>")

XML_CASE(xml_get_queue_attributes, "GetQueueAttributes",
         "{\"Attributes\":{\"VisibilityTimeout\":\"30\","
         "\"QueueArn\":\"arn:aws:sqs:us-east-1:000000000000:orders-queue\","
         "\"Policy\":\"{\\\"Version\\\":\\\"2012-10-17\\\",\\\"Statement\\\":[{\\\"Sid\\\":\\\"a<b>&"
         "c\\\"}]}\",\"ApproximateNumberOfMessages\":\"0\","
         "\"RedrivePolicy\":\"{\\\"deadLetterTargetArn\\\":\\\"arn:aws:sqs:us-east-1:000000000000:dlq\\\","
         "\\\"maxReceiveCount\\\":5}\"}}",
         "<?xml version=\"1.0\"?><GetQueueAttributesResponse "
         "xmlns=\"http://queue.amazonaws.com/doc/2012-11-05/\"><GetQueueAttributesResult><Attribute><Name>"
         "VisibilityTimeout</Name><Value>30</Value></Attribute><Attribute><Name>QueueArn</Name><Value>"
         "arn:aws:sqs:us-east-1:000000000000:orders-queue</Value></Attribute><Attribute><Name>"
         "Policy</Name><Value>{&quot;Version&quot;:&quot;2012-10-17&quot;,&quot;Statement&quot;:[{&"
         "quot;Sid&quot;:&quot;a&lt;b&gt;&amp;c&quot;}]}</Value></Attribute><Attribute><Name>"
         "ApproximateNumberOfMessages</Name><Value>0</Value></Attribute><Attribute><Name>"
         "RedrivePolicy</Name><Value>{&quot;deadLetterTargetArn&quot;:&"
         "quot;arn:aws:sqs:us-east-1:000000000000:dlq&quot;,&quot;maxReceiveCount&quot;:5}</Value>"
         "</Attribute></GetQueueAttributesResult><ResponseMetadata><RequestId>req-1</RequestId>"
         "</ResponseMetadata></GetQueueAttributesResponse>")

XML_CASE(xml_send_message, "SendMessage",
         "{\"MD5OfMessageBody\":\"51b0a325c5ad8e9c4d8f3d6c4a3b3e2e\","
         "\"MD5OfMessageAttributes\":\"3ae8f24a165a8cedc005670c81a27295\","
         "\"MD5OfMessageSystemAttributes\":\"5ae4d5d7636402d80f4eb6d213245a88\","
         "\"MessageId\":\"5fea7756-0ea4-451a-a703-a558b933e274\","
         "\"SequenceNumber\":\"18849496460467696128\"}",
         "<?xml version=\"1.0\"?><SendMessageResponse "
         "xmlns=\"http://queue.amazonaws.com/doc/2012-11-05/\"><SendMessageResult><MD5OfMessageBody>"
         "51b0a325c5ad8e9c4d8f3d6c4a3b3e2e</MD5OfMessageBody><MD5OfMessageAttributes>"
         "3ae8f24a165a8cedc005670c81a27295</MD5OfMessageAttributes><MD5OfMessageSystemAttributes>"
         "5ae4d5d7636402d80f4eb6d213245a88</MD5OfMessageSystemAttributes><MessageId>"
         "5fea7756-0ea4-451a-a703-a558b933e274</MessageId><SequenceNumber>"
         "18849496460467696128</SequenceNumber></SendMessageResult><ResponseMetadata><RequestId>"
         "req-1</RequestId></ResponseMetadata></SendMessageResponse>")

XML_CASE(xml_send_message_batch, "SendMessageBatch",
         "{\"Successful\":[{\"Id\":\"m1\",\"MessageId\":\"id-1\",\"MD5OfMessageBody\":\"aa\","
         "\"MD5OfMessageAttributes\":\"bb\",\"SequenceNumber\":\"1\"},{\"Id\":\"m2\","
         "\"MessageId\":\"id-2\",\"MD5OfMessageBody\":\"cc\",\"MD5OfMessageSystemAttributes\":\"dd\"}],"
         "\"Failed\":[{\"Id\":\"m3\",\"SenderFault\":true,\"Code\":\"InvalidParameterValue\","
         "\"Message\":\"One or more parameters are invalid. Reason: Message must be shorter than 262144 "
         "bytes.\"},{\"Id\":\"m4\",\"SenderFault\":false,\"Code\":\"InternalError\",\"Message\":\"x\"}]}",
         "<?xml version=\"1.0\"?><SendMessageBatchResponse "
         "xmlns=\"http://queue.amazonaws.com/doc/2012-11-05/\"><SendMessageBatchResult>"
         "<SendMessageBatchResultEntry><Id>m1</Id><MessageId>id-1</MessageId><MD5OfMessageBody>"
         "aa</MD5OfMessageBody><MD5OfMessageAttributes>bb</MD5OfMessageAttributes><SequenceNumber>"
         "1</SequenceNumber></SendMessageBatchResultEntry><SendMessageBatchResultEntry><Id>m2</Id>"
         "<MessageId>id-2</MessageId><MD5OfMessageBody>cc</MD5OfMessageBody><MD5OfMessageSystemAttributes>"
         "dd</MD5OfMessageSystemAttributes></SendMessageBatchResultEntry><BatchResultErrorEntry><Id>"
         "m3</Id><SenderFault>true</SenderFault><Code>InvalidParameterValue</Code><Message>One or more "
         "parameters are invalid. Reason: Message must be shorter than 262144 bytes.</Message>"
         "</BatchResultErrorEntry><BatchResultErrorEntry><Id>m4</Id><SenderFault>false</SenderFault><Code>"
         "InternalError</Code><Message>x</Message></BatchResultErrorEntry></SendMessageBatchResult>"
         "<ResponseMetadata><RequestId>req-1</RequestId></ResponseMetadata></SendMessageBatchResponse>")

XML_CASE(xml_receive_message, "ReceiveMessage",
         "{\"Messages\":[{\"MessageId\":\"id-1\",\"ReceiptHandle\":\"AQEB+/=&<rh>\",\"MD5OfBody\":\"ee\","
         "\"Body\":\"line1\\nline2\\r\\nTab\\there & <xml attr=\\\"q\\\"> it's 100% +plus= caf\\u00e9 "
         "\\u2603 \\ud83d\\ude00 ]]> \\r\",\"Attributes\":{\"SenderId\":\"AIDAEXAMPLE\","
         "\"SentTimestamp\":\"1700000000000\",\"ApproximateReceiveCount\":\"3\","
         "\"AWSTraceHeader\":\"Root=1-abc;Sampled=1\"},\"MD5OfMessageAttributes\":\"ff\","
         "\"MessageAttributes\":{\"trace\":{\"StringValue\":\"abc & <def>\",\"DataType\":\"String\"},"
         "\"blob\":{\"BinaryValue\":\"AAH+/yBiaW5hcnk=\",\"DataType\":\"Binary\"},"
         "\"num\":{\"StringValue\":\"-42.5e3\",\"DataType\":\"Number.float\"},"
         "\"lists\":{\"StringListValues\":[\"x\",\"y\\r\\nz\"],\"BinaryListValues\":[\"AQ==\",\"AgM=\"],"
         "\"DataType\":\"String\"}}},{\"MessageId\":\"id-2\",\"ReceiptHandle\":\"rh2\","
         "\"MD5OfBody\":\"d41d8cd98f00b204e9800998ecf8427e\",\"Body\":\"\"}]}",
         "<?xml version=\"1.0\"?><ReceiveMessageResponse "
         "xmlns=\"http://queue.amazonaws.com/doc/2012-11-05/\"><ReceiveMessageResult><Message><MessageId>"
         "id-1</MessageId><ReceiptHandle>AQEB+/=&amp;&lt;rh&gt;</ReceiptHandle><MD5OfBody>ee</MD5OfBody>"
         "<Body>line1\nline2&#xD;\nTab\there &amp; &lt;xml attr=&quot;q&quot;&gt; it&apos;s 100% +plus= "
         "caf\303\251 \342\230\203 \360\237\230\200 ]]&gt; &#xD;</Body><Attribute><Name>SenderId</Name>"
         "<Value>AIDAEXAMPLE</Value></Attribute><Attribute><Name>SentTimestamp</Name><Value>"
         "1700000000000</Value></Attribute><Attribute><Name>ApproximateReceiveCount</Name><Value>3</Value>"
         "</Attribute><Attribute><Name>AWSTraceHeader</Name><Value>Root=1-abc;Sampled=1</Value>"
         "</Attribute><MD5OfMessageAttributes>ff</MD5OfMessageAttributes><MessageAttribute><Name>"
         "trace</Name><Value><StringValue>abc &amp; &lt;def&gt;</StringValue><DataType>String</DataType>"
         "</Value></MessageAttribute><MessageAttribute><Name>blob</Name><Value><BinaryValue>"
         "AAH+/yBiaW5hcnk=</BinaryValue><DataType>Binary</DataType></Value></MessageAttribute>"
         "<MessageAttribute><Name>num</Name><Value><StringValue>-42.5e3</StringValue><DataType>"
         "Number.float</DataType></Value></MessageAttribute><MessageAttribute><Name>lists</Name><Value>"
         "<StringListValue>x</StringListValue><StringListValue>y&#xD;\nz</StringListValue>"
         "<BinaryListValue>AQ==</BinaryListValue><BinaryListValue>AgM=</BinaryListValue><DataType>"
         "String</DataType></Value></MessageAttribute></Message><Message><MessageId>id-2</MessageId>"
         "<ReceiptHandle>rh2</ReceiptHandle><MD5OfBody>d41d8cd98f00b204e9800998ecf8427e</MD5OfBody><Body>"
         "</Body></Message></ReceiveMessageResult><ResponseMetadata><RequestId>req-1</RequestId>"
         "</ResponseMetadata></ReceiveMessageResponse>")

XML_CASE(xml_receive_message_2, "ReceiveMessage",
         "{\"Messages\":[]}",
         "<?xml version=\"1.0\"?><ReceiveMessageResponse "
         "xmlns=\"http://queue.amazonaws.com/doc/2012-11-05/\"><ReceiveMessageResult/><ResponseMetadata>"
         "<RequestId>req-1</RequestId></ResponseMetadata></ReceiveMessageResponse>")

XML_CASE(xml_delete_message_batch, "DeleteMessageBatch",
         "{\"Successful\":[{\"Id\":\"a\"},{\"Id\":\"b\"}],\"Failed\":[{\"Id\":\"c\",\"SenderFault\":true,"
         "\"Code\":\"ReceiptHandleIsInvalid\",\"Message\":\"The input receipt handle \\\"x\\\" is not a "
         "valid receipt handle.\"}]}",
         "<?xml version=\"1.0\"?><DeleteMessageBatchResponse "
         "xmlns=\"http://queue.amazonaws.com/doc/2012-11-05/\"><DeleteMessageBatchResult>"
         "<DeleteMessageBatchResultEntry><Id>a</Id></DeleteMessageBatchResultEntry>"
         "<DeleteMessageBatchResultEntry><Id>b</Id></DeleteMessageBatchResultEntry><BatchResultErrorEntry>"
         "<Id>c</Id><SenderFault>true</SenderFault><Code>ReceiptHandleIsInvalid</Code><Message>The input "
         "receipt handle &quot;x&quot; is not a valid receipt handle.</Message></BatchResultErrorEntry>"
         "</DeleteMessageBatchResult><ResponseMetadata><RequestId>req-1</RequestId></ResponseMetadata>"
         "</DeleteMessageBatchResponse>")

XML_CASE(xml_change_message_visibility_batch, "ChangeMessageVisibilityBatch",
         "{\"Successful\":[{\"Id\":\"a\"}],\"Failed\":[]}",
         "<?xml version=\"1.0\"?><ChangeMessageVisibilityBatchResponse "
         "xmlns=\"http://queue.amazonaws.com/doc/2012-11-05/\"><ChangeMessageVisibilityBatchResult>"
         "<ChangeMessageVisibilityBatchResultEntry><Id>a</Id></ChangeMessageVisibilityBatchResultEntry>"
         "</ChangeMessageVisibilityBatchResult><ResponseMetadata><RequestId>req-1</RequestId>"
         "</ResponseMetadata></ChangeMessageVisibilityBatchResponse>")

XML_CASE(xml_list_queue_tags, "ListQueueTags",
         "{\"Tags\":{\"env\":\"prod\",\"owner\":\"team@example.com\",\"empty\":\"\",\"q\\\"t\":\"<&>\"}}",
         "<?xml version=\"1.0\"?><ListQueueTagsResponse "
         "xmlns=\"http://queue.amazonaws.com/doc/2012-11-05/\"><ListQueueTagsResult><Tag><Key>env</Key>"
         "<Value>prod</Value></Tag><Tag><Key>owner</Key><Value>team@example.com</Value></Tag><Tag><Key>"
         "empty</Key><Value></Value></Tag><Tag><Key>q&quot;t</Key><Value>&lt;&amp;&gt;</Value></Tag>"
         "</ListQueueTagsResult><ResponseMetadata><RequestId>req-1</RequestId></ResponseMetadata>"
         "</ListQueueTagsResponse>")

XML_CASE(xml_list_dead_letter_source_queues, "ListDeadLetterSourceQueues",
         "{\"queueUrls\":[\"http://127.0.0.1:4566/000000000000/orders-queue\","
         "\"http://127.0.0.1:4566/000000000000/orders-queue-b\"],\"NextToken\":\"nt\"}",
         "<?xml version=\"1.0\"?><ListDeadLetterSourceQueuesResponse "
         "xmlns=\"http://queue.amazonaws.com/doc/2012-11-05/\"><ListDeadLetterSourceQueuesResult>"
         "<QueueUrl>http://127.0.0.1:4566/000000000000/orders-queue</QueueUrl><QueueUrl>"
         "http://127.0.0.1:4566/000000000000/orders-queue-b</QueueUrl><NextToken>nt</NextToken>"
         "</ListDeadLetterSourceQueuesResult><ResponseMetadata><RequestId>req-1</RequestId>"
         "</ResponseMetadata></ListDeadLetterSourceQueuesResponse>")

XML_CASE(xml_start_message_move_task, "StartMessageMoveTask",
         "{\"TaskHandle\":\"eyJ0YXNrSWQiOiJkYzE2In0=\"}",
         "<?xml version=\"1.0\"?><StartMessageMoveTaskResponse "
         "xmlns=\"http://queue.amazonaws.com/doc/2012-11-05/\"><StartMessageMoveTaskResult><TaskHandle>"
         "eyJ0YXNrSWQiOiJkYzE2In0=</TaskHandle></StartMessageMoveTaskResult><ResponseMetadata><RequestId>"
         "req-1</RequestId></ResponseMetadata></StartMessageMoveTaskResponse>")

XML_CASE(xml_cancel_message_move_task, "CancelMessageMoveTask",
         "{\"ApproximateNumberOfMessagesMoved\":12345678901}",
         "<?xml version=\"1.0\"?><CancelMessageMoveTaskResponse "
         "xmlns=\"http://queue.amazonaws.com/doc/2012-11-05/\"><CancelMessageMoveTaskResult>"
         "<ApproximateNumberOfMessagesMoved>12345678901</ApproximateNumberOfMessagesMoved>"
         "</CancelMessageMoveTaskResult><ResponseMetadata><RequestId>req-1</RequestId></ResponseMetadata>"
         "</CancelMessageMoveTaskResponse>")

XML_CASE(xml_list_message_move_tasks, "ListMessageMoveTasks",
         "{\"Results\":[{\"TaskHandle\":\"th\",\"Status\":\"RUNNING\","
         "\"SourceArn\":\"arn:aws:sqs:us-east-1:0:dlq\",\"DestinationArn\":\"arn:aws:sqs:us-east-1:0:q\","
         "\"MaxNumberOfMessagesPerSecond\":50,\"ApproximateNumberOfMessagesMoved\":10,"
         "\"ApproximateNumberOfMessagesToMove\":90,\"StartedTimestamp\":1700000000000},"
         "{\"Status\":\"FAILED\",\"SourceArn\":\"arn:aws:sqs:us-east-1:0:dlq\","
         "\"ApproximateNumberOfMessagesMoved\":0,"
         "\"FailureReason\":\"AWS.SimpleQueueService.NonExistentQueue\","
         "\"StartedTimestamp\":1600000000000}]}",
         "<?xml version=\"1.0\"?><ListMessageMoveTasksResponse "
         "xmlns=\"http://queue.amazonaws.com/doc/2012-11-05/\"><ListMessageMoveTasksResult>"
         "<ListMessageMoveTasksResultEntry><TaskHandle>th</TaskHandle><Status>RUNNING</Status><SourceArn>"
         "arn:aws:sqs:us-east-1:0:dlq</SourceArn><DestinationArn>"
         "arn:aws:sqs:us-east-1:0:q</DestinationArn><MaxNumberOfMessagesPerSecond>"
         "50</MaxNumberOfMessagesPerSecond><ApproximateNumberOfMessagesMoved>"
         "10</ApproximateNumberOfMessagesMoved><ApproximateNumberOfMessagesToMove>"
         "90</ApproximateNumberOfMessagesToMove><StartedTimestamp>1700000000000</StartedTimestamp>"
         "</ListMessageMoveTasksResultEntry><ListMessageMoveTasksResultEntry><Status>FAILED</Status>"
         "<SourceArn>arn:aws:sqs:us-east-1:0:dlq</SourceArn><ApproximateNumberOfMessagesMoved>"
         "0</ApproximateNumberOfMessagesMoved><FailureReason>"
         "AWS.SimpleQueueService.NonExistentQueue</FailureReason><StartedTimestamp>"
         "1600000000000</StartedTimestamp></ListMessageMoveTasksResultEntry></ListMessageMoveTasksResult>"
         "<ResponseMetadata><RequestId>req-1</RequestId></ResponseMetadata></ListMessageMoveTasksResponse>")

XML_CASE(xml_delete_queue, "DeleteQueue",
         "{}",
         "<?xml version=\"1.0\"?><DeleteQueueResponse "
         "xmlns=\"http://queue.amazonaws.com/doc/2012-11-05/\"><ResponseMetadata><RequestId>"
         "req-1</RequestId></ResponseMetadata></DeleteQueueResponse>")

XML_CASE(xml_set_queue_attributes, "SetQueueAttributes",
         "{}",
         "<?xml version=\"1.0\"?><SetQueueAttributesResponse "
         "xmlns=\"http://queue.amazonaws.com/doc/2012-11-05/\"><ResponseMetadata><RequestId>"
         "req-1</RequestId></ResponseMetadata></SetQueueAttributesResponse>")

XML_CASE(xml_purge_queue, "PurgeQueue",
         "{}",
         "<?xml version=\"1.0\"?><PurgeQueueResponse xmlns=\"http://queue.amazonaws.com/doc/2012-11-05/\">"
         "<ResponseMetadata><RequestId>req-1</RequestId></ResponseMetadata></PurgeQueueResponse>")

XML_CASE(xml_delete_message, "DeleteMessage",
         "{}",
         "<?xml version=\"1.0\"?><DeleteMessageResponse "
         "xmlns=\"http://queue.amazonaws.com/doc/2012-11-05/\"><ResponseMetadata><RequestId>"
         "req-1</RequestId></ResponseMetadata></DeleteMessageResponse>")

XML_CASE(xml_change_message_visibility, "ChangeMessageVisibility",
         "{}",
         "<?xml version=\"1.0\"?><ChangeMessageVisibilityResponse "
         "xmlns=\"http://queue.amazonaws.com/doc/2012-11-05/\"><ResponseMetadata><RequestId>"
         "req-1</RequestId></ResponseMetadata></ChangeMessageVisibilityResponse>")

XML_CASE(xml_tag_queue, "TagQueue",
         "{}",
         "<?xml version=\"1.0\"?><TagQueueResponse xmlns=\"http://queue.amazonaws.com/doc/2012-11-05/\">"
         "<ResponseMetadata><RequestId>req-1</RequestId></ResponseMetadata></TagQueueResponse>")

XML_CASE(xml_untag_queue, "UntagQueue",
         "{}",
         "<?xml version=\"1.0\"?><UntagQueueResponse xmlns=\"http://queue.amazonaws.com/doc/2012-11-05/\">"
         "<ResponseMetadata><RequestId>req-1</RequestId></ResponseMetadata></UntagQueueResponse>")

XML_CASE(xml_add_permission, "AddPermission",
         "{}",
         "<?xml version=\"1.0\"?><AddPermissionResponse "
         "xmlns=\"http://queue.amazonaws.com/doc/2012-11-05/\"><ResponseMetadata><RequestId>"
         "req-1</RequestId></ResponseMetadata></AddPermissionResponse>")

XML_CASE(xml_remove_permission, "RemovePermission",
         "{}",
         "<?xml version=\"1.0\"?><RemovePermissionResponse "
         "xmlns=\"http://queue.amazonaws.com/doc/2012-11-05/\"><ResponseMetadata><RequestId>"
         "req-1</RequestId></ResponseMetadata></RemovePermissionResponse>")

/* ---- form -> JSON: the rules around the fixtures ---- */

/* Converts body and compares with want (a JSON text); the conversion must succeed. */
#define CHECK_CONVERTS(action, body, want)                                      \
    do {                                                                        \
        char why_[256] = "";                                                    \
        int rc_;                                                                \
        jv_doc_t *d_ = jv_doc_new();                                            \
        jv_t *doc_ = convert(d_, action, body, &rc_, why_, sizeof why_);        \
        int same_ = same_json(doc_, want);                                      \
        jv_doc_free(d_);                                                        \
        CHECK_STR(why_, "");                                                    \
        CHECK(same_);                                                           \
    } while (0)

/* Converts body, which must fail with status want_rc and the message want_why. */
#define CHECK_REJECTS(action, body, want_rc, want_why)                          \
    do {                                                                        \
        char why_[512] = "";                                                    \
        int rc_;                                                                \
        jv_doc_t *d_ = jv_doc_new();                                            \
        jv_t *doc_ = convert(d_, action, body, &rc_, why_, sizeof why_);        \
        jv_doc_free(d_);                                                        \
        CHECK(doc_ == NULL);                                                    \
        CHECK_INT(rc_, want_rc);                                                \
        CHECK_STR(why_, want_why);                                              \
    } while (0)

TEST(indices_order_numerically_and_may_have_gaps)
{
    CHECK_CONVERTS("GetQueueAttributes",
                   "QueueUrl=q&AttributeName.10=Policy&AttributeName.2=QueueArn&AttributeName.7=All",
                   "{\"QueueUrl\":\"q\",\"AttributeNames\":[\"QueueArn\",\"All\",\"Policy\"]}");
    CHECK_CONVERTS("DeleteMessageBatch",
                   "QueueUrl=q&DeleteMessageBatchRequestEntry.3.Id=c&DeleteMessageBatchRequestEntry.1.Id=a&"
                   "DeleteMessageBatchRequestEntry.3.ReceiptHandle=r3&DeleteMessageBatchRequestEntry.1.ReceiptHandle=r1",
                   "{\"QueueUrl\":\"q\",\"Entries\":[{\"Id\":\"a\",\"ReceiptHandle\":\"r1\"},"
                   "{\"Id\":\"c\",\"ReceiptHandle\":\"r3\"}]}");
}

TEST(index_segments_must_be_canonical_decimal)
{
    /* "01", "+1", " 1", "1x" and ten digits name no element; "0" does. */
    CHECK_CONVERTS("UntagQueue",
                   "QueueUrl=q&TagKey.01=a&TagKey.%2B1=b&TagKey.+1=c&TagKey.1x=d&TagKey.1234567890=e&"
                   "TagKey.0=zero&TagKey.123456789=big",
                   "{\"QueueUrl\":\"q\",\"TagKeys\":[\"zero\",\"big\"]}");
}

TEST(unknown_keys_and_protocol_parameters_are_ignored)
{
    CHECK_CONVERTS("DeleteQueue",
                   "Action=DeleteQueue&Version=2012-11-05&AWSAccessKeyId=AKID&Signature=xyz&SignatureVersion=2&"
                   "QueueUrl=q&Bogus=1&QueueUrl.1=x&queueurl=lower&Attribute.1.Name=A&Attribute.1.Value=B",
                   "{\"QueueUrl\":\"q\"}");
}

TEST(repeated_key_first_value_counts)
{
    CHECK_CONVERTS("ChangeMessageVisibility", "QueueUrl=a&ReceiptHandle=r&QueueUrl=b&VisibilityTimeout=5&"
                   "VisibilityTimeout=x",
                   "{\"QueueUrl\":\"a\",\"ReceiptHandle\":\"r\",\"VisibilityTimeout\":5}");
}

TEST(map_entries_need_name_and_value_later_name_wins)
{
    CHECK_CONVERTS("SetQueueAttributes",
                   "QueueUrl=q&Attribute.1.Name=DelaySeconds&Attribute.1.Value=1&Attribute.2.Value=orphan&"
                   "Attribute.3.Name=NoValue&Attribute.4.Name=DelaySeconds&Attribute.4.Value=4&"
                   "Attribute.5.Name=&Attribute.5.Value=empty-name",
                   "{\"QueueUrl\":\"q\",\"Attributes\":{\"DelaySeconds\":\"4\",\"\":\"empty-name\"}}");
}

TEST(map_key_sent_twice_keeps_its_first_place_and_last_value)
{
    char why[64] = "";
    int rc;
    jv_doc_t *d = jv_doc_new();
    jv_t *doc = convert(d, "TagQueue",
                        "Tag.1.Key=a&Tag.1.Value=1&Tag.2.Key=b&Tag.2.Value=2&Tag.3.Key=a&Tag.3.Value=3&"
                        "Tag.4.Key=a%FF&Tag.4.Value=4&Tag.5.Key=a%FE&Tag.5.Value=5",
                        &rc, why, sizeof why);
    buf_t s = BUF_INIT;
    if (doc)
        jv_write(doc, &s);
    jv_doc_free(d);
    CHECK_INT(rc, SQS_SHAPES_OK);
    /* two different ill-formed keys scrub to the same text: one key */
    CHECK_STR(s.data, "{\"Tags\":{\"a\":\"3\",\"b\":\"2\",\"a\xef\xbf\xbd\":\"5\"}}");
    buf_free(&s);
}

TEST(message_attribute_without_known_members_is_kept_empty)
{
    /* The engine then reports the missing DataType, as AWS does. */
    CHECK_CONVERTS("SendMessage",
                   "QueueUrl=q&MessageBody=b&MessageAttribute.1.Name=a&MessageAttribute.1.Value.Foo=1",
                   "{\"QueueUrl\":\"q\",\"MessageBody\":\"b\",\"MessageAttributes\":{\"a\":{}}}");
}

TEST(batch_entry_without_known_members_is_kept_in_place)
{
    CHECK_CONVERTS("SendMessageBatch",
                   "QueueUrl=q&SendMessageBatchRequestEntry.1.Foo=x&SendMessageBatchRequestEntry.2.Id=b&"
                   "SendMessageBatchRequestEntry.2.MessageBody=body",
                   "{\"QueueUrl\":\"q\",\"Entries\":[{},{\"Id\":\"b\",\"MessageBody\":\"body\"}]}");
}

TEST(empty_list_markers)
{
    /* botocore sends an empty list as its member name with an empty value. */
    CHECK_CONVERTS("UntagQueue", "QueueUrl=q&TagKeys=", "{\"QueueUrl\":\"q\",\"TagKeys\":[]}");
    CHECK_CONVERTS("UntagQueue", "QueueUrl=q&TagKey=", "{\"QueueUrl\":\"q\",\"TagKeys\":[]}");
    CHECK_CONVERTS("UntagQueue", "QueueUrl=q&TagKeys=x", "{\"QueueUrl\":\"q\"}");
    CHECK_CONVERTS("ReceiveMessage", "QueueUrl=q&MessageAttributeNames=&AttributeNames=",
                   "{\"QueueUrl\":\"q\",\"AttributeNames\":[],\"MessageAttributeNames\":[]}");
    /* elements win over a marker */
    CHECK_CONVERTS("UntagQueue", "QueueUrl=q&TagKeys=&TagKey.1=k", "{\"QueueUrl\":\"q\",\"TagKeys\":[\"k\"]}");
}

TEST(integers_accept_sign_and_reject_anything_else)
{
    CHECK_CONVERTS("ReceiveMessage",
                   "QueueUrl=q&MaxNumberOfMessages=%2B7&VisibilityTimeout=-1&WaitTimeSeconds=0020",
                   "{\"QueueUrl\":\"q\",\"MaxNumberOfMessages\":7,\"VisibilityTimeout\":-1,\"WaitTimeSeconds\":20}");
    CHECK_CONVERTS("ChangeMessageVisibility", "VisibilityTimeout=2147483647", "{\"VisibilityTimeout\":2147483647}");
    CHECK_CONVERTS("ChangeMessageVisibility", "VisibilityTimeout=-2147483648",
                   "{\"VisibilityTimeout\":-2147483648}");
    CHECK_REJECTS("ReceiveMessage", "QueueUrl=q&MaxNumberOfMessages=ten", SQS_SHAPES_INVALID,
                  "Value ten for parameter MaxNumberOfMessages is invalid. Reason: Must be an integer.");
    CHECK_REJECTS("ChangeMessageVisibility", "VisibilityTimeout=2147483648", SQS_SHAPES_INVALID,
                  "Value 2147483648 for parameter VisibilityTimeout is invalid. Reason: Must be an integer.");
    CHECK_REJECTS("SendMessage", "DelaySeconds=", SQS_SHAPES_INVALID,
                  "Value  for parameter DelaySeconds is invalid. Reason: Must be an integer.");
    CHECK_REJECTS("SendMessage", "DelaySeconds=+5", SQS_SHAPES_INVALID, /* '+' is a space in a form */
                  "Value  5 for parameter DelaySeconds is invalid. Reason: Must be an integer.");
    CHECK_REJECTS("SendMessage", "DelaySeconds=1.5", SQS_SHAPES_INVALID,
                  "Value 1.5 for parameter DelaySeconds is invalid. Reason: Must be an integer.");
    CHECK_REJECTS("ListQueues", "MaxResults=-", SQS_SHAPES_INVALID,
                  "Value - for parameter MaxResults is invalid. Reason: Must be an integer.");
    CHECK_REJECTS("ListQueues", "MaxResults=0x10", SQS_SHAPES_INVALID,
                  "Value 0x10 for parameter MaxResults is invalid. Reason: Must be an integer.");
}

TEST(nested_integer_error_names_the_form_key)
{
    CHECK_REJECTS("SendMessageBatch",
                  "QueueUrl=q&SendMessageBatchRequestEntry.1.Id=a&SendMessageBatchRequestEntry.1.DelaySeconds=1&"
                  "SendMessageBatchRequestEntry.2.Id=b&SendMessageBatchRequestEntry.2.DelaySeconds=soon",
                  SQS_SHAPES_INVALID,
                  "Value soon for parameter SendMessageBatchRequestEntry.2.DelaySeconds is invalid. Reason: Must "
                  "be an integer.");
    CHECK_REJECTS("ChangeMessageVisibilityBatch",
                  "ChangeMessageVisibilityBatchRequestEntry.4.VisibilityTimeout=9999999999", SQS_SHAPES_INVALID,
                  "Value 9999999999 for parameter ChangeMessageVisibilityBatchRequestEntry.4.VisibilityTimeout is "
                  "invalid. Reason: Must be an integer.");
}

TEST(error_message_is_truncated_to_the_buffer)
{
    kvv_t form = {0};
    jv_t *doc = (jv_t *)1;
    char why[16];
    jv_doc_t *d = jv_doc_new();
    kvv_add(&form, "DelaySeconds", "abc");
    int rc = sqs_query_to_json("SendMessage", &form, d, &doc, why, sizeof why);
    int rc_no_why = sqs_query_to_json("SendMessage", &form, d, &doc, NULL, 0);
    kvv_free(&form);
    jv_doc_free(d);
    CHECK_INT(rc, SQS_SHAPES_INVALID);
    CHECK(doc == NULL);
    CHECK_STR(why, "Value abc for p");
    CHECK_INT(rc_no_why, SQS_SHAPES_INVALID);
}

TEST(unknown_action)
{
    CHECK_REJECTS("SendMessages", "QueueUrl=q", SQS_SHAPES_UNKNOWN_ACTION,
                  "The action or operation requested is invalid. Verify that the action is typed correctly.");
    CHECK_REJECTS("sendmessage", "", SQS_SHAPES_UNKNOWN_ACTION,
                  "The action or operation requested is invalid. Verify that the action is typed correctly.");
    CHECK(!sqs_shapes_known(NULL));
    CHECK(!sqs_shapes_known(""));
    CHECK(!sqs_shapes_known("AmazonSQS.SendMessage"));
}

TEST(all_23_actions_are_known)
{
    static const char *const actions[] = {
        "CreateQueue", "DeleteQueue", "GetQueueUrl", "ListQueues", "GetQueueAttributes", "SetQueueAttributes",
        "PurgeQueue", "SendMessage", "SendMessageBatch", "ReceiveMessage", "DeleteMessage",
        "DeleteMessageBatch", "ChangeMessageVisibility", "ChangeMessageVisibilityBatch", "TagQueue",
        "UntagQueue", "ListQueueTags", "ListDeadLetterSourceQueues", "StartMessageMoveTask",
        "CancelMessageMoveTask", "ListMessageMoveTasks", "AddPermission", "RemovePermission",
    };
    for (size_t i = 0; i < sizeof actions / sizeof actions[0]; i++) {
        kvv_t empty = {0};
        jv_t *doc = NULL;
        jv_doc_t *d = jv_doc_new();
        int rc = sqs_query_to_json(actions[i], &empty, d, &doc, NULL, 0);
        int empty_object = jv_is(doc, JV_OBJECT) && jv_count(doc) == 0;
        jv_doc_free(d);
        CHECK(sqs_shapes_known(actions[i]));
        CHECK_INT(rc, SQS_SHAPES_OK);
        CHECK(empty_object);
    }
}

TEST(ill_formed_utf8_becomes_replacement_characters)
{
    /* A lone continuation byte, a truncated sequence, an encoded surrogate. */
    CHECK_CONVERTS("SendMessage", "MessageBody=a%80b%E2%98c%ED%A0%80d&MessageAttribute.1.Name=k%FF&"
                   "MessageAttribute.1.Value.DataType=String&MessageAttribute.1.Value.StringValue=%C3%A9",
                   "{\"MessageBody\":\"a\\ufffdb\\ufffd\\ufffdc\\ufffd\\ufffd\\ufffdd\","
                   "\"MessageAttributes\":{\"k\\ufffd\":{\"DataType\":\"String\",\"StringValue\":\"\\u00e9\"}}}");
}

TEST(control_characters_pass_through_for_the_engine_to_judge)
{
    CHECK_CONVERTS("SendMessage", "MessageBody=%01%09%0D%0A%7F", "{\"MessageBody\":\"\\u0001\\t\\r\\n\\u007f\"}");
}

TEST(keys_with_empty_or_too_many_segments_name_nothing)
{
    CHECK_CONVERTS("SendMessageBatch",
                   "QueueUrl.=x&.QueueUrl=y&QueueUrl=q&SendMessageBatchRequestEntry..1.Id=x&"
                   "SendMessageBatchRequestEntry.1.MessageAttribute.1.Value.StringListValue.1.x=deep&"
                   "SendMessageBatchRequestEntry.1.MessageAttribute.1.Name=n&"
                   "SendMessageBatchRequestEntry.1.MessageAttribute.1.Value.StringListValue.1=ok",
                   "{\"QueueUrl\":\"q\",\"Entries\":[{\"MessageAttributes\":{\"n\":{\"StringListValues\":[\"ok\"]}}}]}");
}

TEST(every_message_attribute_form_rebuilds)
{
    CHECK_CONVERTS("SendMessage",
                   "MessageAttribute.2.Name=bin&MessageAttribute.2.Value.DataType=Binary&"
                   "MessageAttribute.2.Value.BinaryValue=3q2%2B7w%3D%3D&"
                   "MessageAttribute.1.Name=list&MessageAttribute.1.Value.DataType=String&"
                   "MessageAttribute.1.Value.StringListValue.2=b&MessageAttribute.1.Value.StringListValue.1=a&"
                   "MessageAttribute.1.Value.BinaryListValue.1=AQ%3D%3D&"
                   "MessageSystemAttribute.1.Name=AWSTraceHeader&MessageSystemAttribute.1.Value.DataType=String&"
                   "MessageSystemAttribute.1.Value.StringValue=Root%3D1-a",
                   "{\"MessageAttributes\":{\"bin\":{\"DataType\":\"Binary\",\"BinaryValue\":\"3q2+7w==\"},"
                   "\"list\":{\"DataType\":\"String\",\"StringListValues\":[\"a\",\"b\"],\"BinaryListValues\":[\"AQ==\"]}},"
                   "\"MessageSystemAttributes\":{\"AWSTraceHeader\":{\"DataType\":\"String\",\"StringValue\":\"Root=1-a\"}}}");
}

TEST(map_keys_keep_form_order)
{
    char why[64] = "";
    int rc;
    jv_doc_t *d = jv_doc_new();
    jv_t *doc = convert(d, "TagQueue", "Tag.3.Key=c&Tag.3.Value=3&Tag.1.Key=a&Tag.1.Value=1&Tag.2.Key=b&Tag.2.Value=2",
                        &rc, why, sizeof why);
    buf_t s = BUF_INIT;
    if (doc)
        jv_write(doc, &s);
    jv_doc_free(d);
    CHECK_INT(rc, SQS_SHAPES_OK);
    CHECK_STR(s.data, "{\"Tags\":{\"a\":\"1\",\"b\":\"2\",\"c\":\"3\"}}");
    buf_free(&s);
}

/* ---- JSON -> XML: around the fixtures ---- */

static void to_xml(const char *action, const char *doc_text, buf_t *out)
{
    jv_doc_t *d = jv_doc_new();
    jv_t *doc = parse_text(d, doc_text);
    if (doc || !doc_text)
        sqs_json_to_xml(action, doc, "r", out);
    jv_doc_free(d);
}

#define XML_HEAD "<?xml version=\"1.0\"?>"
#define XMLNS " xmlns=\"" SQS_XMLNS "\""
#define META "<ResponseMetadata><RequestId>r</RequestId></ResponseMetadata>"

TEST(xml_null_result_counts_as_empty)
{
    buf_t out = BUF_INIT;
    to_xml("ListQueueTags", NULL, &out);
    CHECK_STR(out.data, XML_HEAD "<ListQueueTagsResponse" XMLNS "><ListQueueTagsResult/>" META
                                 "</ListQueueTagsResponse>");
    buf_free(&out);
}

TEST(xml_unknown_and_ill_kinded_members_are_left_out)
{
    buf_t out = BUF_INIT;
    to_xml("SendMessage",
           "{\"MessageId\":\"m\",\"Bogus\":\"x\",\"MD5OfMessageBody\":null,\"SequenceNumber\":[1],"
           "\"MD5OfMessageAttributes\":{\"a\":1}}",
           &out);
    CHECK_STR(out.data, XML_HEAD "<SendMessageResponse" XMLNS
                                 "><SendMessageResult><MessageId>m</MessageId></SendMessageResult>" META
                                 "</SendMessageResponse>");
    buf_free(&out);
    to_xml("ReceiveMessage",
           "{\"Messages\":[{\"MessageId\":\"a\",\"Attributes\":{\"k\":null,\"n\":[1],\"ok\":\"v\"},"
           "\"MessageAttributes\":{\"bad\":\"not-an-object\",\"good\":{\"DataType\":\"Number\",\"StringValue\":\"1\"}}},"
           "\"not-a-message\",{\"MessageId\":\"b\"}]}",
           &out);
    CHECK_STR(out.data, XML_HEAD "<ReceiveMessageResponse" XMLNS "><ReceiveMessageResult>"
                                 "<Message><MessageId>a</MessageId>"
                                 "<Attribute><Name>ok</Name><Value>v</Value></Attribute>"
                                 "<MessageAttribute><Name>good</Name><Value><StringValue>1</StringValue>"
                                 "<DataType>Number</DataType></Value></MessageAttribute></Message>"
                                 "<Message><MessageId>b</MessageId></Message>"
                                 "</ReceiveMessageResult>" META "</ReceiveMessageResponse>");
    buf_free(&out);
}

TEST(xml_scalars_of_any_json_kind_become_text)
{
    buf_t out = BUF_INIT;
    to_xml("ListMessageMoveTasks",
           "{\"Results\":[{\"Status\":\"RUNNING\",\"MaxNumberOfMessagesPerSecond\":\"7\","
           "\"ApproximateNumberOfMessagesMoved\":-9223372036854775807,\"ApproximateNumberOfMessagesToMove\":0.5,"
           "\"StartedTimestamp\":true}]}",
           &out);
    CHECK_STR(out.data, XML_HEAD "<ListMessageMoveTasksResponse" XMLNS "><ListMessageMoveTasksResult>"
                                 "<ListMessageMoveTasksResultEntry><Status>RUNNING</Status>"
                                 "<MaxNumberOfMessagesPerSecond>7</MaxNumberOfMessagesPerSecond>"
                                 "<ApproximateNumberOfMessagesMoved>-9223372036854775807"
                                 "</ApproximateNumberOfMessagesMoved>"
                                 "<ApproximateNumberOfMessagesToMove>0.5</ApproximateNumberOfMessagesToMove>"
                                 "<StartedTimestamp>true</StartedTimestamp></ListMessageMoveTasksResultEntry>"
                                 "</ListMessageMoveTasksResult>" META "</ListMessageMoveTasksResponse>");
    buf_free(&out);
}

TEST(xml_numbers_integers_in_decimal_others_as_their_json_text)
{
    buf_t out = BUF_INIT;
    to_xml("ListMessageMoveTasks",
           "{\"Results\":[{\"MaxNumberOfMessagesPerSecond\":-0,\"ApproximateNumberOfMessagesMoved\":1E+2,"
           "\"ApproximateNumberOfMessagesToMove\":12345678901234567890,\"StartedTimestamp\":-9223372036854775808}]}",
           &out);
    CHECK_STR(out.data, XML_HEAD "<ListMessageMoveTasksResponse" XMLNS "><ListMessageMoveTasksResult>"
                                 "<ListMessageMoveTasksResultEntry>"
                                 "<MaxNumberOfMessagesPerSecond>0</MaxNumberOfMessagesPerSecond>"
                                 "<ApproximateNumberOfMessagesMoved>1E+2</ApproximateNumberOfMessagesMoved>"
                                 "<ApproximateNumberOfMessagesToMove>12345678901234567890"
                                 "</ApproximateNumberOfMessagesToMove>"
                                 "<StartedTimestamp>-9223372036854775808</StartedTimestamp>"
                                 "</ListMessageMoveTasksResultEntry>"
                                 "</ListMessageMoveTasksResult>" META "</ListMessageMoveTasksResponse>");
    buf_free(&out);
}

TEST(xml_map_key_repeated_in_the_document_is_written_once_with_its_last_value)
{
    buf_t out = BUF_INIT;
    to_xml("ListQueueTags", "{\"Tags\":{\"a\":\"1\",\"b\":\"2\",\"a\":\"3\",\"c\":null,\"c\":\"4\",\"b\":[]}}", &out);
    CHECK_STR(out.data, XML_HEAD "<ListQueueTagsResponse" XMLNS "><ListQueueTagsResult>"
                                 "<Tag><Key>a</Key><Value>3</Value></Tag>"
                                 "<Tag><Key>c</Key><Value>4</Value></Tag>"
                                 "</ListQueueTagsResult>" META "</ListQueueTagsResponse>");
    buf_free(&out);
}

TEST(xml_text_that_xml_cannot_carry_is_replaced)
{
    buf_t out = BUF_INIT;
    jv_doc_t *d = jv_doc_new();
    jv_t *msg = jv_set(d, jv_object(d), "Body", jv_stringn(d, S_("a\0b\x01" "c\xef\xbf\xbe")));
    jv_t *doc = jv_set(d, jv_object(d), "Messages", jv_push(d, jv_array(d), msg));
    sqs_json_to_xml("ReceiveMessage", doc, "r", &out);
    jv_doc_free(d);
    CHECK_STR(out.data, XML_HEAD "<ReceiveMessageResponse" XMLNS "><ReceiveMessageResult><Message><Body>"
                                 "a\xef\xbf\xbd" "b\xef\xbf\xbd" "c\xef\xbf\xbd"
                                 "</Body></Message></ReceiveMessageResult>" META "</ReceiveMessageResponse>");
    buf_free(&out);
}

TEST(xml_unknown_action_writes_nothing)
{
    buf_t out = BUF_INIT;
    buf_puts(&out, "keep");
    CHECK_INT(sqs_json_to_xml("<Evil>", NULL, "r", &out), SQS_SHAPES_UNKNOWN_ACTION);
    CHECK_STR(out.data, "keep");
    buf_free(&out);
}

TEST(xml_appends_and_escapes_request_id)
{
    buf_t out = BUF_INIT;
    buf_puts(&out, "x");
    CHECK_INT(sqs_json_to_xml("PurgeQueue", NULL, "a<b>&\"c\"", &out), SQS_SHAPES_OK);
    CHECK_STR(out.data, "x" XML_HEAD "<PurgeQueueResponse" XMLNS "><ResponseMetadata><RequestId>"
                        "a&lt;b&gt;&amp;&quot;c&quot;</RequestId></ResponseMetadata></PurgeQueueResponse>");
    buf_free(&out);
    CHECK_INT(sqs_json_to_xml("PurgeQueue", NULL, NULL, &out), SQS_SHAPES_OK);
    CHECK_STR(out.data, XML_HEAD "<PurgeQueueResponse" XMLNS "><ResponseMetadata><RequestId></RequestId>"
                                 "</ResponseMetadata></PurgeQueueResponse>");
    buf_free(&out);
}

TEST(query_to_json_to_xml_round_trip_keeps_carriage_returns)
{
    /* A body as botocore 1.26 sends it, echoed back as a received message. */
    char why[64] = "";
    int rc;
    jv_doc_t *in_doc = jv_doc_new(), *d = jv_doc_new();
    jv_t *in = convert(in_doc, "SendMessage", "MessageBody=a%0D%0Ab%0Dc%09%26", &rc, why, sizeof why);
    jv_t *body = jv_get(in, "MessageBody");
    jv_t *out_doc = NULL;
    if (body) { /* the body outlives the request document, as a stored message does */
        jv_t *msg = jv_set(d, jv_object(d), "Body", jv_copy(d, body));
        out_doc = jv_set(d, jv_object(d), "Messages", jv_push(d, jv_array(d), msg));
    }
    jv_doc_free(in_doc);
    buf_t out = BUF_INIT;
    if (out_doc)
        sqs_json_to_xml("ReceiveMessage", out_doc, "r", &out);
    jv_doc_free(d);
    CHECK_INT(rc, SQS_SHAPES_OK);
    CHECK(out_doc != NULL);
    CHECK(strstr(out.data, "<Body>a&#xD;\nb&#xD;c\t&amp;</Body>") != NULL);
    buf_free(&out);
}

/* ---- errors ---- */

TEST(error_document_layout)
{
    buf_t out = BUF_INIT;
    sqs_query_error_xml("AWS.SimpleQueueService.NonExistentQueue",
                        "The specified queue does not exist for this wsdl version.", 1, "7a62c49f-347e", &out);
    CHECK_STR(out.data, XML_HEAD "<ErrorResponse" XMLNS "><Error><Type>Sender</Type>"
                                 "<Code>AWS.SimpleQueueService.NonExistentQueue</Code>"
                                 "<Message>The specified queue does not exist for this wsdl version.</Message>"
                                 "<Detail/></Error><RequestId>7a62c49f-347e</RequestId></ErrorResponse>");
    buf_free(&out);
}

TEST(error_receiver_fault_escaping_and_no_message)
{
    buf_t out = BUF_INIT;
    sqs_query_error_xml("InternalError", "a \"quoted\" <b> & 'c'\r", 0, "r", &out);
    CHECK_STR(out.data, XML_HEAD "<ErrorResponse" XMLNS "><Error><Type>Receiver</Type><Code>InternalError</Code>"
                                 "<Message>a &quot;quoted&quot; &lt;b&gt; &amp; &apos;c&apos;&#xD;</Message>"
                                 "<Detail/></Error><RequestId>r</RequestId></ErrorResponse>");
    buf_free(&out);
    sqs_query_error_xml("AccessDenied", NULL, 1, "r", &out);
    CHECK_STR(out.data, XML_HEAD "<ErrorResponse" XMLNS "><Error><Type>Sender</Type><Code>AccessDenied</Code>"
                                 "<Detail/></Error><RequestId>r</RequestId></ErrorResponse>");
    buf_free(&out);
}

/* ---- the xml writer underneath ---- */

static const char *escaped(const char *s, size_t n, buf_t *out)
{
    buf_reset(out);
    xml_escape(out, s, n);
    return out->data;
}

TEST(xml_escape_markup_and_carriage_return)
{
    buf_t out = BUF_INIT;
    CHECK_STR(escaped(S_("a&b<c>d\"e'f"), &out), "a&amp;b&lt;c&gt;d&quot;e&apos;f");
    CHECK_STR(escaped(S_("\r\n\t\r"), &out), "&#xD;\n\t&#xD;");
    CHECK_STR(escaped(S_("]]>"), &out), "]]&gt;");
    CHECK_STR(escaped(S_("&amp;"), &out), "&amp;amp;");
    CHECK_STR(escaped(S_("plain \xc3\xa9\xe2\x98\x83\xf0\x9f\x98\x80"), &out), "plain \xc3\xa9\xe2\x98\x83\xf0\x9f\x98\x80");
    CHECK_STR(escaped(S_(""), &out), "");
    buf_free(&out);
}

TEST(xml_escape_replaces_what_xml_cannot_carry)
{
    buf_t out = BUF_INIT;
#define FFFD "\xef\xbf\xbd"
    CHECK_STR(escaped(S_("\x00\x01\x08\x0b\x0c\x1f"), &out), FFFD FFFD FFFD FFFD FFFD FFFD);
    CHECK_STR(escaped(S_("\xef\xbf\xbe\xef\xbf\xbf"), &out), FFFD FFFD);         /* U+FFFE, U+FFFF */
    CHECK_STR(escaped(S_("\xed\xa0\x80"), &out), FFFD FFFD FFFD);               /* a surrogate */
    CHECK_STR(escaped(S_("\xc0\xaf"), &out), FFFD FFFD);                        /* overlong '/' */
    CHECK_STR(escaped(S_("\xf4\x90\x80\x80"), &out), FFFD FFFD FFFD FFFD);      /* past U+10FFFF */
    CHECK_STR(escaped(S_("a\xe2\x98"), &out), "a" FFFD FFFD);                   /* truncated */
    CHECK_STR(escaped(S_("\x80<"), &out), FFFD "&lt;");                         /* stray continuation */
    CHECK_STR(escaped(S_("\x7f\xc2\x80\xef\xbf\xbd\xf4\x8f\xbf\xbf"), &out), "\x7f\xc2\x80\xef\xbf\xbd\xf4\x8f\xbf\xbf");
#undef FFFD
    buf_free(&out);
}

TEST(xml_utf8_scrub_keeps_controls)
{
    buf_t out = BUF_INIT;
    xml_utf8_scrub(&out, S_("\x01\x00\xc3\xa9\xc3"));
    CHECK_MEM(out.data, out.len, "\x01\x00\xc3\xa9\xef\xbf\xbd", (size_t)7);
    buf_free(&out);
}

TEST(xml_writer_elements_attributes_and_self_closing)
{
    buf_t out = BUF_INIT;
    xml_t x;
    xml_init(&x, &out);
    xml_declaration(&x);
    xml_open(&x, "a");
    xml_attr(&x, "xmlns", "u\"<&>");
    xml_open(&x, "empty");
    xml_close(&x);
    xml_leaf(&x, "t", "");
    xml_open(&x, "b");
    xml_text(&x, "1<2", 3);
    xml_text(&x, "x", 0);
    xml_open(&x, "c");
    xml_finish(&x);
    CHECK_INT(x.depth, 0);
    CHECK_STR(out.data, "<?xml version=\"1.0\"?><a xmlns=\"u&quot;&lt;&amp;&gt;\"><empty/><t></t><b>1&lt;2<c/></b></a>");
    buf_free(&out);
}
