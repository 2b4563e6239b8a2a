/*
 * sqs_shapes — the SQS query protocol as a translation of the JSON 1.0
 * protocol. The SQS engine front-end speaks one representation: the JSON
 * document an SDK sends and receives with X-Amz-Target: AmazonSQS.<Action>
 * (member names of botocore's JSON model, 2012-11-05, boto3 1.43). This
 * module turns a decoded query form (Action=...&QueueUrl=...) into that
 * input document, and the engine's JSON-shaped output into the query
 * protocol's XML response, so the action logic exists once. It knows
 * nothing about queues: it only knows shapes.
 *
 * The model is a hand-written table of the 23 actions, taken from botocore's
 * query model (boto3 1.26: locationName, flattened) for the wire names and
 * its JSON model for the document names. The three move-task actions and
 * ReceiveMessage's MessageSystemAttributeNames are newer than the last
 * query model in botocore; their wire names follow the query model botocore
 * shipped until 1.31.80 (preserved by LocalStack as sqs-query) and the AWS
 * SDKs of that time: plain members, MessageSystemAttributeName.N, and
 * flattened <ListMessageMoveTasksResultEntry> results.
 *
 * Every list and map in SQS is "flattened" on the wire:
 *   list   AttributeName.1=All&AttributeName.2=Policy     <AttributeName>..</AttributeName>*
 *   map    Attribute.1.Name=k&Attribute.1.Value=v         <Attribute><Name>k</Name><Value>v</Value></Attribute>*
 *   nested SendMessageBatchRequestEntry.2.MessageAttribute.1.Value.StringValue=...
 * Indices need not start at 1 or be contiguous; elements are ordered by
 * numeric index. Index segments are decimal without leading zeros, at most
 * 9 digits. Keys that name no member are ignored, as AWS does. When a key
 * repeats, its first value counts. A list member sent as just its name with
 * an empty value (botocore writes "AttributeNames=" for an empty list)
 * becomes an empty array.
 *
 * Stateless and thread-safe; the table is static const data.
 */
#ifndef SLUICE_SQS_SHAPES_H
#define SLUICE_SQS_SHAPES_H

#include <stddef.h>

#include "util/buf.h"
#include "util/jv.h"
#include "util/kv.h"

#define SQS_XMLNS "http://queue.amazonaws.com/doc/2012-11-05/"

enum {
    SQS_SHAPES_OK = 0,
    SQS_SHAPES_UNKNOWN_ACTION = -1, /* answer InvalidAction (400) */
    SQS_SHAPES_INVALID = -2,        /* answer InvalidParameterValue (400) with why */
};

/* 1 when action (e.g. "SendMessage") is one of the 23 SQS actions, else 0. */
int sqs_shapes_known(const char *action);

/*
 * Builds the JSON 1.0 input document of action, in d, from the decoded form
 * (see form_parse), which is only read during the call; the document holds
 * copies of every string. Action, Version and authentication parameters
 * may stay in form: they name no member and are ignored. The caller adds
 * "QueueUrl" itself when the query request addressed the queue by its URL
 * path.
 *
 * Conversion: integer members become JSON integers (32-bit for Integer,
 * 64-bit for Long; an optional sign, which in a form must be sent as %2B
 * for '+', then decimal digits only); blob members
 * (BinaryValue, BinaryListValue.N) stay base64 text exactly as the JSON
 * protocol carries them; everything else is a JSON string. Text that is not
 * well-formed UTF-8 has each bad byte replaced by U+FFFD (JSON text is
 * UTF-8; a Java front end decoding the form as UTF-8 does the same). A map
 * key sent twice keeps its first position and the value of its last entry.
 *
 * Returns SQS_SHAPES_OK with the document, an object, in *out: allocated in
 * d and valid until jv_doc_free(d). Or an error with *out NULL and a message
 * in why (truncated to why_len); d may then hold unreachable values, which
 * go with it:
 *   SQS_SHAPES_UNKNOWN_ACTION  "The action or operation requested is invalid.
 *                               Verify that the action is typed correctly."
 *   SQS_SHAPES_INVALID         an integer member that is not an integer:
 *                               "Value <v> for parameter <key> is invalid.
 *                               Reason: Must be an integer." where <key> is
 *                               the form key as sent (e.g. DelaySeconds or
 *                               SendMessageBatchRequestEntry.2.DelaySeconds).
 * The wording of the integer error follows AWS's query-protocol messages
 * for parameter values ("Value 11 for parameter MaxNumberOfMessages is
 * invalid. Reason: ..." in the recorded AWS responses); the exact reason
 * AWS gives for a non-numeric value could not be confirmed from any
 * recording and is this module's choice.
 */
int sqs_query_to_json(const char *action, const kvv_t *form, jv_doc_t *d, jv_t **out, char *why, size_t why_len);

/*
 * Appends the query-protocol XML response for action to out:
 *   <?xml version="1.0"?><ActionResponse xmlns="SQS_XMLNS">
 *     <ActionResult>...</ActionResult>
 *     <ResponseMetadata><RequestId>request_id</RequestId></ResponseMetadata>
 *   </ActionResponse>
 * result is the JSON 1.0 output document, borrowed (NULL counts as {}).
 * Members are written in model order under their query names, lists and
 * maps flattened (a key the map holds twice is written once, with the
 * value jv_get finds: the last),
 * integers in decimal, other numbers as their JSON text, booleans as
 * true/false; members that are absent, null, of the wrong JSON kind or
 * unknown to the model are left out.
 * Actions without output in the model (DeleteQueue, DeleteMessage,
 * TagQueue, ...) get no Result element, only ResponseMetadata, as AWS
 * answers them; an action with output always has its Result element,
 * self-closed when empty (<ReceiveMessageResult/>).
 * request_id is escaped (NULL writes it empty).
 * Returns SQS_SHAPES_OK, or SQS_SHAPES_UNKNOWN_ACTION with out untouched.
 */
int sqs_json_to_xml(const char *action, const jv_t *result, const char *request_id, buf_t *out);

/*
 * Appends a query-protocol error document to out:
 *   <?xml version="1.0"?><ErrorResponse xmlns="SQS_XMLNS"><Error>
 *     <Type>Sender|Receiver</Type><Code>code</Code><Message>message</Message>
 *     <Detail/></Error><RequestId>request_id</RequestId></ErrorResponse>
 * the layout of AWS's SQS query errors, which botocore reads as Error
 * {Type, Code, Message, Detail: None} (see aws-recorded/sqs.snapshot.json).
 * All text is escaped; message may be NULL (no Message element) and
 * request_id NULL (empty RequestId). The HTTP status is the caller's.
 */
void sqs_query_error_xml(const char *code, const char *message, int sender_fault, const char *request_id,
                         buf_t *out);

#endif
