/*
 * publish — Publish on a topic: validation, FIFO sequencing and 5-minute
 * deduplication, filtering, and the fan-out to every matching subscription
 * inside one atomic store group (see topics.h).
 *
 * Queue subscriptions are served at once through queue_send — the message is
 * in the queue when Publish returns. Endpoint subscriptions get an outbox
 * entry (delivery.c). A queue that refuses the message (deleted, message too
 * large for it, more attributes than SQS takes) sends it to the
 * subscription's dead-letter queue: that is the client-side failure SNS does
 * not retry. A queue without room for the message (queues.h, bytes held)
 * refuses the whole Publish beforehand (room_for): REQUEST_THROTTLED.
 *
 * Record FIFO_PUB: topic id, seq, dedup key, message id, expiry — the
 * topic's sequence counter and its dedup entry, written in the same group.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "topics/topics_int.h"
#include "util/alloc.h"
#include "util/clock.h"
#include "util/digest.h"
#include "util/jv.h"
#include "util/logging.h"
#include "util/rand.h"
#include "util/text.h"
#include "util/trace.h"

#define SEQ_BASE 10000000000000000000ull /* 20-digit SequenceNumbers, as AWS shows them */

/* ---- FIFO dedup ------------------------------------------------------------------ */

static tdedup_t *dedup_put(topic_t *t, const char *key, size_t keylen, const char *msg_id, uint64_t seq,
                           uint64_t expires)
{
    tdedup_t *d = hmap_get(&t->dedup, key, keylen);
    if (d) {
        list_del(&d->link);
    } else {
        d = xcalloc(1, sizeof *d);
        d->key = xmemdup(key, keylen);
        d->keylen = keylen;
        hmap_put(&t->dedup, d->key, keylen, d);
    }
    snprintf(d->msg_id, sizeof d->msg_id, "%s", msg_id);
    d->seq = seq;
    d->expires = expires;
    list_push_back(&t->dedup_order, &d->link); /* expiries grow with time, so the list stays ordered */
    return d;
}

static void dedup_drop(topic_t *t, tdedup_t *d)
{
    hmap_del(&t->dedup, d->key, d->keylen);
    list_del(&d->link);
    free(d->key);
    free(d);
}

void publish__expire(topic_t *t, uint64_t now)
{
    while (!list_empty(&t->dedup_order)) {
        tdedup_t *d = list_entry(t->dedup_order.next, tdedup_t, link);
        if (d->expires > now)
            break;
        dedup_drop(t, d);
    }
}

void publish__free_dedup(topic_t *t)
{
    while (!list_empty(&t->dedup_order))
        dedup_drop(t, list_entry(t->dedup_order.next, tdedup_t, link));
    hmap_free(&t->dedup);
}

static void fifo_encode(const topic_t *t, const tdedup_t *d, buf_t *b)
{
    buf_put_u64(b, t->id);
    buf_put_u64(b, d->seq);
    buf_put_bytes(b, d->key, (uint32_t)d->keylen);
    buf_put_str(b, d->msg_id);
    buf_put_u64(b, d->expires);
}

int publish__apply_fifo(topics_t *tp, reader_t *r)
{
    topic_t *t = topics__topic_by_id(tp, reader_u64(r));
    uint64_t seq = reader_u64(r);
    uint32_t keylen;
    const char *key = reader_bytes(r, &keylen);
    char *msg_id = reader_strdup(r);
    uint64_t expires = reader_u64(r);
    int rc = -1;
    if (!r->err && t && msg_id && strlen(msg_id) < 37) {
        if (seq >= t->next_seq)
            t->next_seq = seq + 1;
        if (expires > topics__now(tp))
            dedup_put(t, key, keylen, msg_id, seq, expires);
        rc = 0;
    }
    free(msg_id);
    return rc;
}

void publish__dump_fifo(const topic_t *t, store_snap_t *snap)
{
    buf_t b = BUF_INIT;
    list_for_each(it, &t->dedup_order) {
        buf_reset(&b);
        fifo_encode(t, list_entry(it, tdedup_t, link), &b);
        store_snap_put(snap, REC_FIFO_PUB, b.data, b.len);
    }
    buf_free(&b);
}

/* ---- validation ---------------------------------------------------------------------- */

static int type_base_ok(const char *type)
{
    static const char *const bases[] = {"String", "Number", "Binary"};
    if (strcmp(type, "String.Array") == 0)
        return 1;
    for (size_t i = 0; i < 3; i++) {
        size_t n = strlen(bases[i]);
        if (strncmp(type, bases[i], n) == 0 && (type[n] == '\0' || (type[n] == '.' && type[n + 1])))
            return 1;
    }
    return 0;
}

static status_t name_check(const char *name, err_t *err)
{
    size_t n = strlen(name);
    if (n > 256)
        return err_set(err, ST_INVALID_ATTRIBUTE_VALUE, "Length of message attribute name must be less than 256 bytes.");
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
              c == '.'))
            return err_set(err, ST_INVALID_ATTRIBUTE_VALUE,
                           "Invalid non-alphanumeric character '#x%X' was found in the message attribute name. Can "
                           "only include alphanumeric characters, hyphens, underscores, or dots.",
                           c);
    }
    if (name[0] == '.')
        return err_set(err, ST_INVALID_ATTRIBUTE_VALUE,
                       "Invalid message attribute name starting with character '.' was found.");
    if (n && name[n - 1] == '.')
        return err_set(err, ST_INVALID_ATTRIBUTE_VALUE, "Invalid message attribute name ending with character '.' was found.");
    if (strstr(name, ".."))
        return err_set(err, ST_INVALID_ATTRIBUTE_VALUE, "Message attribute name can not have successive '.' character.");
    if (text_starts_with_ci(name, "AWS.") || text_starts_with_ci(name, "Amazon."))
        return err_set(err, ST_INVALID_ATTRIBUTE_VALUE,
                       "The message attribute name '%s' is reserved.", name); /* text not confirmed against AWS */
    return ST_OK;
}

static status_t attr_check(const pub_attr_t *a, err_t *err)
{
    status_t st = name_check(a->name, err);
    if (st != ST_OK)
        return st;
    if (!a->type)
        return err_set(err, ST_VALIDATION_ERROR,
                       "1 validation error detected: Value null at 'messageAttributes.%s.member.dataType' failed to "
                       "satisfy constraint: Member must not be null",
                       a->name);
    if (!type_base_ok(a->type))
        return err_set(err, ST_INVALID_ATTRIBUTE_VALUE,
                       "The message attribute '%s' has an invalid message attribute type, the set of supported type "
                       "prefixes is Binary, Number, and String.",
                       a->name);
    int binary = strncmp(a->type, "Binary", 6) == 0;
    const char *base = binary ? "Binary" : strncmp(a->type, "Number", 6) == 0 ? "Number" : "String";
    if (a->value && a->binary_field != binary)
        return err_set(err, ST_INVALID_ATTRIBUTE_VALUE, "The message attribute '%s' with type '%s' must use field '%s'.",
                       a->name, base, binary ? "Binary" : "String");
    if (!a->value || !a->value_len)
        return err_set(err, ST_INVALID_ATTRIBUTE_VALUE,
                       "The message attribute '%s' must contain non-empty message attribute value for message "
                       "attribute type '%s'.",
                       a->name, base);
    if (strcmp(base, "Number") == 0) {
        char *end;
        strtod(a->value, &end);
        if (*end || end == a->value)
            return err_set(err, ST_INVALID_ATTRIBUTE_VALUE,
                           "Could not cast message attribute '%s' value to number.", a->name); /* text not confirmed against AWS */
    }
    if (strcmp(a->type, "String.Array") == 0) {
        jv_doc_t *d = jv_doc_new();
        const jv_t *v = jv_parse(d, a->value, a->value_len, NULL, 0);
        int ok = jv_is(v, JV_ARRAY);
        for (size_t i = 0; ok && i < jv_count(v); i++)
            ok = !jv_is(jv_at(v, i), JV_ARRAY) && !jv_is(jv_at(v, i), JV_OBJECT);
        jv_doc_free(d);
        if (!ok)
            return err_set(err, ST_INVALID_ATTRIBUTE_VALUE,
                           "The message attribute '%s' with type 'String.Array' must be a JSON array of strings, "
                           "numbers, booleans or null.",
                           a->name); /* text not confirmed against AWS */
    }
    return ST_OK;
}

size_t publish__size(const publish_req_t *r)
{
    size_t n = r->message_len;
    for (size_t i = 0; i < r->nattrs; i++)
        n += strlen(r->attrs[i].name) + strlen(r->attrs[i].type) + r->attrs[i].value_len;
    return n;
}

/* Subject: 1..100 characters of UTF-8 without control characters or line breaks. */
static status_t subject_check(const char *s, err_t *err)
{
    size_t n = strlen(s), chars = 0;
    for (size_t i = 0; i < n; chars++) {
        uint32_t cp;
        size_t k = text_utf8_next((const unsigned char *)s + i, n - i, &cp);
        if (!k || cp < 0x20 || cp == 0x7f)
            return err_set(err, ST_INVALID_PARAMETER, "Invalid parameter: Subject");
        i += k;
    }
    if (chars == 0 || chars > 100)
        return err_set(err, ST_INVALID_PARAMETER, "Invalid parameter: Subject");
    return ST_OK;
}

static status_t structure_check(const publish_req_t *r, err_t *err)
{
    if (strcmp(r->structure, "json") != 0)
        return err_set(err, ST_INVALID_PARAMETER, "Invalid parameter: MessageStructure");
    jv_doc_t *d = jv_doc_new();
    const jv_t *v = jv_parse(d, r->message, r->message_len, NULL, 0);
    status_t st = ST_OK;
    if (!jv_is(v, JV_OBJECT))
        st = err_set(err, ST_INVALID_PARAMETER, "Invalid parameter: Message Structure - JSON message body failed to parse");
    else if (!jv_is(jv_get(v, "default"), JV_STRING))
        st = err_set(err, ST_INVALID_PARAMETER, "Invalid parameter: Message Structure - No default entry in JSON message body");
    jv_doc_free(d);
    return st;
}

static status_t fifo_check(const topic_t *t, const publish_req_t *r, err_t *err)
{
    if (!t->fifo) {
        if (r->dedup_id)
            return err_set(err, ST_INVALID_PARAMETER,
                           "Invalid parameter: MessageDeduplicationId Reason: The request includes "
                           "MessageDeduplicationId parameter that is not valid for this topic type");
        return ST_OK;
    }
    if (!r->group_id)
        return err_set(err, ST_INVALID_PARAMETER,
                       "Invalid parameter: The MessageGroupId parameter is required for FIFO topics");
    const char *cbd = kvv_get(&t->attrs, "ContentBasedDeduplication");
    if (!r->dedup_id && !(cbd && strcasecmp(cbd, "true") == 0))
        return err_set(err, ST_INVALID_PARAMETER,
                       "Invalid parameter: The topic should either have ContentBasedDeduplication enabled or "
                       "MessageDeduplicationId provided explicitly");
    const char *ids[2] = {r->group_id, r->dedup_id};
    for (int i = 0; i < 2; i++) {
        if (!ids[i])
            continue;
        size_t n = strlen(ids[i]);
        int ok = n >= 1 && n <= 128;
        for (size_t k = 0; ok && k < n; k++)
            ok = ids[i][k] >= 0x21 && ids[i][k] <= 0x7e;
        if (!ok)
            return err_set(err, ST_INVALID_PARAMETER, "Invalid parameter: %s", i ? "MessageDeduplicationId" : "MessageGroupId");
    }
    return ST_OK;
}

status_t topic_publish_check(const topic_t *t, const publish_req_t *r, err_t *err)
{
    status_t st;
    if (!r->message || r->message_len == 0)
        return err_set(err, ST_INVALID_PARAMETER, "Invalid parameter: Empty message");
    if (r->subject && (st = subject_check(r->subject, err)) != ST_OK)
        return st;
    if (r->structure && (st = structure_check(r, err)) != ST_OK)
        return st;
    for (size_t i = 0; i < r->nattrs; i++) {
        if ((st = attr_check(&r->attrs[i], err)) != ST_OK)
            return st;
        for (size_t j = 0; j < i; j++)
            if (strcmp(r->attrs[i].name, r->attrs[j].name) == 0)
                return err_set(err, ST_INVALID_PARAMETER, "Invalid parameter: MessageAttributes"); /* text not confirmed against AWS */
    }
    if (publish__size(r) > PUBLISH_MAX_BYTES)
        return err_set(err, ST_INVALID_PARAMETER, "Invalid parameter: Message too long");
    return fifo_check(t, r, err);
}

/* ---- rendering ----------------------------------------------------------------------- */

/* AWS's envelope layout: one "Key" : value member per line, two-space indent. */
static void put_field(buf_t *out, int *first, const char *key, const char *val, size_t len)
{
    buf_puts(out, *first ? "{\n  " : ",\n  ");
    *first = 0;
    jv_write_string(out, key, strlen(key));
    buf_puts(out, " : ");
    jv_write_string(out, val, len);
}

static void put_attrs(buf_t *out, const pub_attr_t *attrs, size_t n)
{
    buf_puts(out, ",\n  \"MessageAttributes\" : {");
    for (size_t i = 0; i < n; i++) {
        const pub_attr_t *a = &attrs[i];
        buf_puts(out, i ? ",\n    " : "\n    ");
        jv_write_string(out, a->name, strlen(a->name));
        buf_puts(out, " : {\"Type\":");
        jv_write_string(out, a->type, strlen(a->type));
        buf_puts(out, ",\"Value\":");
        if (strncmp(a->type, "Binary", 6) == 0) {
            buf_t b64 = BUF_INIT;
            text_b64_encode(a->value, a->value_len, &b64);
            jv_write_string(out, b64.data ? b64.data : "", b64.len);
            buf_free(&b64);
        } else {
            jv_write_string(out, a->value, a->value_len);
        }
        buf_putc(out, '}');
    }
    buf_puts(out, "\n  }");
}

/* The string SNS signs: the signed fields in byte order, "Name\nValue\n" each
 * (Subject only when present); UnsubscribeURL, SequenceNumber and message
 * attributes are not signed. */
static void string_to_sign(buf_t *b, const char *type, const char *msg_id, const char *subject, const char *message,
                           size_t message_len, const char *subscribe_url, const char *ts, const char *token,
                           const char *topic_arn)
{
    buf_puts(b, "Message\n");
    buf_append(b, message, message_len);
    buf_printf(b, "\nMessageId\n%s\n", msg_id);
    if (subscribe_url)
        buf_printf(b, "SubscribeURL\n%s\n", subscribe_url);
    if (subject)
        buf_printf(b, "Subject\n%s\n", subject);
    buf_printf(b, "Timestamp\n%s\n", ts);
    if (token)
        buf_printf(b, "Token\n%s\n", token);
    buf_printf(b, "TopicArn\n%s\nType\n%s\n", topic_arn, type);
}

/* Notification:  Type, MessageId, [SequenceNumber], TopicArn, [Subject], Message,
 *                Timestamp, [SignatureVersion, Signature, SigningCertURL], UnsubscribeURL,
 *                [MessageAttributes]
 * Confirmation:  Type, MessageId, Token, TopicArn, Message, SubscribeURL, Timestamp,
 *                SignatureVersion, Signature, SigningCertURL
 * FIFO topics carry no signature fields (AWS's recorded envelopes). The
 * signature is empty unless a signer is installed (server.sns_signing). */
void publish__envelope(const sub_t *s, const char *type, const char *msg_id, const char *subject, const char *message,
                       size_t message_len, const pub_attr_t *attrs, size_t nattrs, const char *seq, const char *token,
                       buf_t *out)
{
    const topics_t *tp = s->t->tp;
    char ts[32], url[2048], subscribe_url[2048], text[1024];
    clock_iso8601(topics__now(tp), ts);
    if (token) {
        int n = strcmp(type, "SubscriptionConfirmation") == 0
                    ? snprintf(text, sizeof text,
                               "You have chosen to subscribe to the topic %s.\nTo confirm the subscription, visit "
                               "the SubscribeURL included in this message.",
                               s->t->arn)
                    : snprintf(text, sizeof text,
                               "You have chosen to deactivate subscription %s.\nTo cancel this operation and restore "
                               "the subscription, visit the SubscribeURL included in this message.",
                               s->arn);
        message = text;
        message_len = (size_t)n;
        snprintf(subscribe_url, sizeof subscribe_url, "%s/?Action=ConfirmSubscription&TopicArn=%s&Token=%s",
                 tp->base_url, s->t->arn, token);
    }
    const char *sv = kvv_get(&s->t->attrs, "SignatureVersion");
    buf_t sig = BUF_INIT;
    if (tp->signer && !s->t->fifo) {
        buf_t sts = BUF_INIT;
        string_to_sign(&sts, type, msg_id, subject, message, message_len, token ? subscribe_url : NULL, ts, token,
                       s->t->arn);
        signer_sign(tp->signer, sv && strcmp(sv, "2") == 0 ? 2 : 1, sts.data, sts.len, &sig);
        buf_free(&sts);
    }
    int first = 1;
    put_field(out, &first, "Type", type, strlen(type));
    put_field(out, &first, "MessageId", msg_id, strlen(msg_id));
    if (token)
        put_field(out, &first, "Token", token, strlen(token));
    if (seq && *seq)
        put_field(out, &first, "SequenceNumber", seq, strlen(seq));
    put_field(out, &first, "TopicArn", s->t->arn, strlen(s->t->arn));
    if (subject)
        put_field(out, &first, "Subject", subject, strlen(subject));
    put_field(out, &first, "Message", message, message_len);
    if (token)
        put_field(out, &first, "SubscribeURL", subscribe_url, strlen(subscribe_url));
    put_field(out, &first, "Timestamp", ts, strlen(ts));
    if (!s->t->fifo) {
        put_field(out, &first, "SignatureVersion", sv ? sv : "1", 1);
        put_field(out, &first, "Signature", sig.data ? sig.data : "", sig.len);
        snprintf(url, sizeof url, "%s/_sluice/sns/SimpleNotificationService.pem", tp->base_url);
        put_field(out, &first, "SigningCertURL", url, strlen(url));
    }
    buf_free(&sig);
    if (!token) {
        snprintf(url, sizeof url, "%s/?Action=Unsubscribe&SubscriptionArn=%s", tp->base_url, s->arn);
        put_field(out, &first, "UnsubscribeURL", url, strlen(url));
    }
    if (nattrs)
        put_attrs(out, attrs, nattrs);
    buf_puts(out, "\n}");
}

/* ---- fan-out --------------------------------------------------------------------------- */

typedef struct pub_ctx {
    topic_t *t;
    const publish_req_t *r;
    const char *msg_id, *seq, *dedup_id;
    jv_doc_t *structure; /* parsed MessageStructure=json, or NULL */
    const jv_t *bodies;
    uint32_t *matched; /* per protocol: filtered subscriptions the message went to */
    const char *journal; /* the journal's id (trace_msg_key), or NULL when there is no journal */
} pub_ctx_t;

/* The message text a protocol gets (MessageStructure=json picks per protocol). */
static const char *message_for(const pub_ctx_t *c, const char *protocol, size_t *len)
{
    if (!c->bodies) {
        *len = c->r->message_len;
        return c->r->message;
    }
    const jv_t *v = jv_get(c->bodies, protocol);
    if (!jv_is(v, JV_STRING))
        v = jv_get(c->bodies, "default");
    *len = v->len;
    return v->u.str;
}

/* The send request a queue subscription makes of body: attributes when
 * raw, the FIFO ids the queue's kind takes. Returns the queue, or NULL when
 * it does not exist. */
static queue_t *queue_req(const pub_ctx_t *c, const sub_t *s, const char *body, size_t len, msg_attr_t ma[64],
                          msg_attr_t sys[1], send_req_t *sr)
{
    topics_t *tp = c->t->tp;
    queue_t *q = queues_find_arn(tp->qs, s->endpoint);
    size_t n = 0;
    if (s->raw)
        for (; n < c->r->nattrs && n < 64; n++)
            ma[n] = (msg_attr_t){c->r->attrs[n].name, c->r->attrs[n].type, c->r->attrs[n].value,
                                 c->r->attrs[n].value_len};
    *sr = (send_req_t){.body = body, .body_len = len, .body_given = 1, .attrs = ma, .nattrs = n,
                       .sender_id = tp->account};
    if (c->r->trace) {
        sys[0] = (msg_attr_t){"AWSTraceHeader", "String", c->r->trace, strlen(c->r->trace)};
        sr->sys_attrs = sys, sr->nsys = 1;
    }
    if (c->t->fifo) {
        sr->group_id = c->r->group_id;
        sr->dedup_id = c->dedup_id;
    } else if (q && !queue_is_fifo(q)) {
        sr->group_id = c->r->group_id; /* standard topic: passed on to standard queues */
    }
    return q;
}

/* A Publish is admitted only if every queue it delivers to has room for the
 * message as published (its text, and its attributes when delivered raw):
 * a full queue is refused to the publisher, before anything is written,
 * rather than served by a message dropped or parked in memory elsewhere.
 * An admitted Publish is delivered whole (unbounded sends), so an envelope
 * can take a queue past its bound by its own extra bytes. */
static status_t room_for(const pub_ctx_t *c, const sub_t *s, err_t *err)
{
    if (strcmp(s->protocol, "sqs") != 0)
        return ST_OK;
    size_t len;
    const char *m = message_for(c, s->protocol, &len);
    msg_attr_t ma[64], sys[1];
    send_req_t sr;
    queue_t *q = queue_req(c, s, m, len, ma, sys, &sr);
    err_t why;
    if (!q || queue_check_room(q, queue_msg_bytes(&sr), &why) == ST_OK)
        return ST_OK;
    return err_set(err, ST_REQUEST_THROTTLED, "Queue %s of subscription %s cannot take the message: %s",
                   queue_name(q), s->arn, why.msg);
}

static void to_queue(const pub_ctx_t *c, const sub_t *s, const char *body, size_t len)
{
    topics_t *tp = c->t->tp;
    msg_attr_t ma[64], sys[1];
    send_req_t sr;
    queue_t *q = queue_req(c, s, body, len, ma, sys, &sr);
    sr.unbounded = 1; /* admitted by room_for */
    dead_letter_t dl = {c->msg_id, body, len, ma, sr.nattrs, sr.group_id, sr.dedup_id, 0};
    err_t err;
    if (!q) {
        delivery__dead_letter(tp, s, &dl, "the queue does not exist");
        subs__count(s, TOPIC_FAILED);
        trace_hop(c->journal, TRACE_SUB_FAILED, s->endpoint, "the queue does not exist", 0);
        return;
    }
    if (!queue_is_fifo(q))
        sr.dedup_id = NULL, sr.group_id = c->t->fifo ? NULL : sr.group_id;
    send_res_t res;
    uint64_t hop = trace_hop_link(c->journal, TRACE_SUB_DELIVERED, s->endpoint, "sqs", NULL);
    if (queue_send(q, &sr, &res, &err) != ST_OK) {
        trace_amend(hop, TRACE_SUB_FAILED, err.msg);
        delivery__dead_letter(tp, s, &dl, err.msg);
        subs__count(s, TOPIC_FAILED);
        return;
    }
    if (!c->r->trace) /* a traced message carries its header on; an untraced one goes on under its own id */
        trace_set_link(hop, res.message_id);
    tp->stats.delivered_queue++;
    subs__count(s, TOPIC_DELIVERED);
}

static status_t deliver(const pub_ctx_t *c, const sub_t *s, err_t *err)
{
    (void)err;
    size_t mlen;
    const char *m = message_for(c, s->protocol, &mlen);
    buf_t env = BUF_INIT;
    if (s->filter)
        c->matched[s->proto]++;
    const char *body = m;
    size_t len = mlen;
    if (!s->raw) {
        publish__envelope(s, "Notification", c->msg_id, c->r->subject, m, mlen, c->r->attrs, c->r->nattrs, c->seq,
                          NULL, &env);
        body = env.data;
        len = env.len;
    }
    if (strcmp(s->protocol, "sqs") == 0) {
        to_queue(c, s, body, len);
    } else {
        /* the delivery's attempts are journaled under the message id */
        trace_hop_link(c->journal, TRACE_SUB_DELIVERED, s->endpoint, s->protocol, c->r->trace ? c->msg_id : NULL);
        delivery__owe(c->t->tp, s, "Notification", c->msg_id, body, len);
    }
    buf_free(&env);
    return ST_OK;
}

/* The topic's filter index finds the filtered subscriptions that match (the
 * cost follows the policies that could match, not all of them) into
 * tp->matched; the unfiltered ones take everything. */
static void match(const pub_ctx_t *c)
{
    topic_t *t = c->t;
    filter_ids_t *ids = &t->tp->matched;
    ids->n = 0;
    if (filter_set_count(t->filters) == 0)
        return;
    filter_attr_t fa[64];
    size_t n = c->r->nattrs < 64 ? c->r->nattrs : 64;
    for (size_t i = 0; i < n; i++)
        fa[i] = (filter_attr_t){c->r->attrs[i].name, c->r->attrs[i].type, c->r->attrs[i].value,
                                c->r->attrs[i].value_len};
    size_t mlen;
    const char *m = message_for(c, "default", &mlen);
    filter_set_match(t->filters, fa, n, m, mlen, ids);
}

typedef status_t (*sub_fn)(const pub_ctx_t *c, const sub_t *s, err_t *err);

/* Counts, per protocol, the confirmed filtered subscriptions the message
 * did not go to. Their number is recounted only after a subscription
 * changed, so a publish costs no walk over the subscriptions. */
static void count_filtered(topic_t *t, const uint32_t matched[TOPIC_PROTOCOLS])
{
    if (filter_set_count(t->filters) == 0)
        return;
    if (t->filtered_gen != t->tp->subs_gen) {
        memset(t->nfiltered, 0, sizeof t->nfiltered);
        list_for_each(it, &t->subs) {
            const sub_t *s = list_entry(it, sub_t, link);
            if (s->filter && !s->pending)
                t->nfiltered[s->proto]++;
        }
        t->filtered_gen = t->tp->subs_gen;
    }
    for (int p = 0; p < TOPIC_PROTOCOLS; p++)
        if (t->nfiltered[p] > matched[p])
            t->counts.outcomes[p][TOPIC_FILTERED] += t->nfiltered[p] - matched[p];
}

/* The journal's hops of a publish: the publish, and — when a client or the
 * gateway traced it — each confirmed filtered subscription whose policy
 * the message did not match (a walk of every subscription: an untraced
 * publish, the common case, keeps the filter index's cost). */
static void trace_publish(const pub_ctx_t *c)
{
    char detail[TRACE_DETAIL_MAX + 1];
    const filter_ids_t *ids = &c->t->tp->matched;
    snprintf(detail, sizeof detail, "%s, %zu filtered subscriptions matched", c->msg_id, ids->n);
    trace_hop(c->journal, TRACE_TOPIC_PUBLISHED, c->t->name, detail, 0);
    if (!c->r->trace)
        return;
    list_for_each(it, &c->t->subs) {
        const sub_t *s = list_entry(it, sub_t, link);
        size_t i = 0;
        while (s->filter && i < ids->n && ids->ids[i] != s->id)
            i++;
        if (s->filter && !s->pending && i == ids->n)
            trace_hop(c->journal, TRACE_SUB_FILTERED, s->endpoint, "the filter policy did not match", 0);
    }
}

/* Calls fn for every subscription the message goes to (after match):
 * unfiltered ones, then matched ones; pending subscriptions get nothing.
 * Stops at the first failure. */
static status_t each_target(const pub_ctx_t *c, sub_fn fn, err_t *err)
{
    topic_t *t = c->t;
    status_t st = ST_OK;
    if (t->unfiltered)
        list_for_each(it, &t->subs) {
            const sub_t *s = list_entry(it, sub_t, link);
            if (!s->filter && !s->pending && (st = fn(c, s, err)) != ST_OK)
                return st;
        }
    const filter_ids_t *ids = &t->tp->matched;
    for (size_t i = 0; i < ids->n; i++) {
        const sub_t *s = subs__by_id(t->tp, ids->ids[i]);
        if (s && !s->pending && (st = fn(c, s, err)) != ST_OK)
            return st;
    }
    return ST_OK;
}

/* The FIFO deduplication id: the given one, or the lowercase hex SHA-256 of
 * the message (AWS's content-based id, passed on to FIFO queues). */
static void dedup_id(const publish_req_t *r, char out[129])
{
    if (r->dedup_id) {
        snprintf(out, 129, "%s", r->dedup_id);
        return;
    }
    unsigned char h[32];
    digest_sha256(r->message, r->message_len, h);
    text_hex(h, sizeof h, out);
}

/* The key the topic deduplicates by: the id, per message group when
 * FifoThroughputScope is MessageGroup. */
static void dedup_key(const topic_t *t, const publish_req_t *r, const char *id, char out[300])
{
    const char *scope = kvv_get(&t->attrs, "FifoThroughputScope");
    if (scope && strcmp(scope, "MessageGroup") == 0)
        snprintf(out, 300, "%s\n%s", r->group_id, id);
    else
        snprintf(out, 300, "%s", id);
}

status_t topic_publish(topic_t *t, const publish_req_t *r, publish_res_t *res, err_t *err)
{
    status_t st = topic_publish_check(t, r, err);
    if (st != ST_OK)
        return st;
    topics_t *tp = t->tp;
    char id[129] = "", key[300] = "";
    res->seq[0] = '\0';
    if (t->fifo) {
        dedup_id(r, id);
        dedup_key(t, r, id, key);
        publish__expire(t, topics__now(tp));
        tdedup_t *d = hmap_get(&t->dedup, key, strlen(key));
        if (d) {
            memcpy(res->message_id, d->msg_id, sizeof res->message_id);
            snprintf(res->seq, sizeof res->seq, "%llu", (unsigned long long)(SEQ_BASE + d->seq));
            return ST_OK;
        }
    }
    rand_uuid(res->message_id);
    uint32_t matched[TOPIC_PROTOCOLS] = {0};
    char journal[TRACE_ID_MAX + 1];
    pub_ctx_t c = {t, r, res->message_id, NULL, t->fifo ? id : NULL, NULL, NULL, matched,
                   trace_capacity() && *trace_msg_key(r->trace, res->message_id, journal) ? journal : NULL};
    if (r->structure) {
        c.structure = jv_doc_new();
        c.bodies = jv_parse(c.structure, r->message, r->message_len, NULL, 0);
    }
    match(&c);
    if ((st = each_target(&c, room_for, err)) != ST_OK) {
        jv_doc_free(c.structure);
        return st;
    }
    topics__begin(tp);
    if (t->fifo) {
        uint64_t seq = t->next_seq++;
        snprintf(res->seq, sizeof res->seq, "%llu", (unsigned long long)(SEQ_BASE + seq));
        c.seq = res->seq;
        tdedup_t *d = dedup_put(t, key, strlen(key), res->message_id, seq, topics__now(tp) + TOPIC_DEDUP_WINDOW_MS);
        buf_t b = BUF_INIT;
        fifo_encode(t, d, &b);
        topics__emit(tp, REC_FIFO_PUB, &b);
        buf_free(&b);
        topics__ask_deadline(tp, d->expires);
    }
    if (c.journal)
        trace_publish(&c); /* before the deliveries' hops */
    each_target(&c, deliver, err);
    topics__end(tp);
    jv_doc_free(c.structure);
    tp->stats.published++;
    t->counts.published++;
    count_filtered(t, matched);
    return ST_OK;
}
