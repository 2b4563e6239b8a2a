/*
 * message — message objects: validation of what a sender gives, the compact
 * encoding of message attributes, AWS's MD5 digests, and receipt handles.
 *
 * Attributes are kept encoded in one allocation per message:
 *   u32 count, then per attribute: u16 name_len, name NUL, u16 type_len,
 *   type NUL, u32 value_len, value (binary values as raw bytes).
 * MD5OfMessageAttributes (what the SDKs verify) is computed over the
 * attributes sorted by name: for each, u32be name length, name, u32be type
 * length, type, a transport byte (1 string/number, 2 binary), u32be value
 * length, value.
 *
 * A receipt handle carries (queue id, seq, nonce): the nonce changes on every
 * receive, so an older handle for the same message is recognisably stale.
 *
 * The request id (msg_request_id) is Sluice's convention for tying a message
 * to the request it carries (queues.h); it reads a body only when no
 * attribute names it, and is not on any SQS path.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "queues/queue_int.h"
#include "util/alloc.h"
#include "util/digest.h"
#include "util/jv.h"
#include "util/rand.h"
#include "util/text.h"

#define MSG_ATTRS_MAX 10
#define ATTR_NAME_MAX 256
#define ATTR_TYPE_MAX 256 /* both well under the u16 length of the encoding */
#define RECEIPT_VERSION 1

size_t send_req_size(const send_req_t *r)
{
    size_t n = r->body_len;
    for (size_t i = 0; i < r->nattrs; i++)
        n += strlen(r->attrs[i].name) + (r->attrs[i].type ? strlen(r->attrs[i].type) : 0) + r->attrs[i].value_len;
    return n;
}

/* The length msg__encode_attrs gives n > 0 attributes (none: nothing is kept). */
static size_t attrs_encoded_len(const msg_attr_t *a, size_t n)
{
    size_t len = n ? 4 : 0;
    for (size_t i = 0; i < n; i++)
        len += 2 + strlen(a[i].name) + 1 + 2 + strlen(a[i].type) + 1 + 4 + a[i].value_len;
    return len;
}

size_t queue_msg_bytes(const send_req_t *r)
{
    return QUEUE_MSG_OVERHEAD + r->body_len + attrs_encoded_len(r->attrs, r->nattrs);
}

size_t msg__bytes(const message_t *m)
{
    return QUEUE_MSG_OVERHEAD + m->body_len + m->attrs_len;
}

/* ---- attribute validation ------------------------------------------------ */

/* Bytes of the name character at s: ASCII letters, digits, _ - . and, as AWS
 * accepts "attr.1øßä" but refuses "§", the Latin letters U+00C0..U+017F
 * (UTF-8 lead bytes C3..C5). 0 when the character is not allowed. */
static size_t attr_name_char(const unsigned char *s)
{
    unsigned char c = s[0];
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-' ||
        c == '.')
        return 1;
    return c >= 0xC3 && c <= 0xC5 && s[1] >= 0x80 && s[1] <= 0xBF ? 2 : 0;
}

static status_t attr_check_name(const char *name, err_t *err)
{
    size_t n = strlen(name), k;
    int ok = n > 0 && n <= ATTR_NAME_MAX && name[0] != '.' && name[n - 1] != '.' && !strstr(name, "..");
    for (size_t i = 0; ok && i < n; i += k)
        ok = (k = attr_name_char((const unsigned char *)name + i)) != 0;
    if (!ok)
        return err_set(err, ST_INVALID_PARAMETER_VALUE,
                       "Message (user) attribute name '%s' is invalid. Attribute name can contain A-Z, a-z, 0-9, "
                       "underscore (_), hyphen (-), and period (.) characters.",
                       name);
    if (text_starts_with_ci(name, "AWS.") || text_starts_with_ci(name, "Amazon."))
        return err_set(err, ST_INVALID_PARAMETER_VALUE,
                       "Message (user) attribute name '%s' is invalid. Attribute name cannot start with \"AWS.\" "
                       "or \"Amazon.\" prefixes.",
                       name);
    return ST_OK;
}

/* "String", "Number", "Binary", optionally followed by ".custom". */
static int attr_base_type(const char *type, int *binary)
{
    static const char *const bases[] = {"String", "Number", "Binary"};
    for (int i = 0; i < 3; i++) {
        size_t k = strlen(bases[i]);
        if (strncmp(type, bases[i], k) == 0 && (type[k] == '\0' || type[k] == '.')) {
            *binary = i == 2;
            return i;
        }
    }
    return -1;
}

/* A decimal number: sign, digits with an optional point, optional exponent;
 * at most 38 significant digits and an exponent within AWS's 10^-128..10^126
 * (no nan, inf, hex or blanks, which strtod would take). */
static int attr_number_ok(const char *s, size_t n)
{
    size_t i = 0, digits = 0, lead = 1;
    long exp = 0, point = -1, first_nz = -1;
    if (i < n && (s[i] == '-' || s[i] == '+'))
        i++;
    for (; i < n && ((s[i] >= '0' && s[i] <= '9') || (s[i] == '.' && point < 0)); i++) {
        if (s[i] == '.') {
            point = (long)digits;
            continue;
        }
        if (s[i] != '0' && first_nz < 0)
            first_nz = (long)digits;
        lead = lead && s[i] == '0';
        digits++;
    }
    if (digits == 0)
        return 0;
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        int64_t e;
        char tmp[16];
        size_t k = n - i - 1;
        if (k == 0 || k >= sizeof tmp)
            return 0;
        memcpy(tmp, s + i + 1, k);
        tmp[k] = '\0';
        if (text_parse_i64(tmp, &e) != 0)
            return 0;
        exp = (long)e;
        i = n;
    }
    if (i != n)
        return 0;
    if (lead)
        return 1; /* zero */
    long magnitude = (point < 0 ? (long)digits : point) - first_nz - 1 + exp; /* decimal exponent of the value */
    return digits - (size_t)first_nz <= 38 && magnitude >= -128 && magnitude <= 126;
}

static status_t attr_check(const msg_attr_t *a, const char *kind, err_t *err)
{
    status_t st = attr_check_name(a->name, err);
    if (st != ST_OK)
        return st;
    int binary = 0;
    if (!a->type || !*a->type)
        return err_set(err, ST_INVALID_PARAMETER_VALUE,
                       "The message (%s) attribute '%s' must contain a non-empty message attribute type.", kind,
                       a->name);
    int base = attr_base_type(a->type, &binary);
    if (base < 0 || strlen(a->type) > ATTR_TYPE_MAX)
        return err_set(err, ST_INVALID_PARAMETER_VALUE,
                       "The type of message (%s) attribute '%s' is invalid. You must use only the following "
                       "supported type prefixes: Binary, Number, String.",
                       kind, a->name);
    static const char *const base_names[] = {"String", "Number", "Binary"};
    if (!a->value || a->value_len == 0)
        return err_set(err, ST_INVALID_PARAMETER_VALUE,
                       "Message (%s) attribute '%s' must contain a non-empty value of type '%s'.", kind, a->name,
                       base_names[base]);
    if (base == 1 && !attr_number_ok(a->value, a->value_len))
        return err_set(err, ST_INVALID_PARAMETER_VALUE,
                       "Could not cast message (%s) attribute '%s' to type Number.", kind, a->name);
    if (!binary && !text_xml_chars_ok(a->value, a->value_len))
        return err_set(err, ST_INVALID_PARAMETER_VALUE,
                       "Message (%s) attribute '%s' contains invalid characters.", kind, a->name);
    return ST_OK;
}

static status_t attrs_check(const msg_attr_t *attrs, size_t n, err_t *err)
{
    if (n > MSG_ATTRS_MAX)
        return err_set(err, ST_INVALID_PARAMETER_VALUE,
                       "Number of message attributes [%zu] exceeds the allowed maximum [%d].", n, MSG_ATTRS_MAX);
    for (size_t i = 0; i < n; i++) {
        status_t st = attr_check(&attrs[i], "user", err);
        if (st != ST_OK)
            return st;
    }
    return ST_OK;
}

static status_t sys_attrs_check(const msg_attr_t *attrs, size_t n, err_t *err)
{
    for (size_t i = 0; i < n; i++) {
        if (strcmp(attrs[i].name, "AWSTraceHeader") != 0)
            return err_set(err, ST_INVALID_PARAMETER_VALUE,
                           "Message system attribute name '%s' is invalid.", attrs[i].name);
        if (!attrs[i].type || strcmp(attrs[i].type, "String") != 0)
            return err_set(err, ST_INVALID_PARAMETER_VALUE,
                           "Message system attribute '%s' must be of type String.", attrs[i].name);
        if (!attrs[i].value || !attrs[i].value_len)
            return err_set(err, ST_INVALID_PARAMETER_VALUE,
                           "Message (system) attribute '%s' must contain a non-empty value of type 'String'.",
                           attrs[i].name);
    }
    return ST_OK;
}

/* MessageGroupId / MessageDeduplicationId: 1..128 of alphanumerics and punctuation. */
static int id_token_ok(const char *s)
{
    size_t n = strlen(s);
    if (n < 1 || n > 128)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (s[i] < 0x21 || s[i] > 0x7e)
            return 0;
    return 1;
}

static status_t check_id_token(const char *v, const char *param, err_t *err)
{
    if (v && !id_token_ok(v))
        return err_set(err, ST_INVALID_PARAMETER_VALUE,
                       "Value %s for parameter %s is invalid. Reason: %s can only include alphanumeric and "
                       "punctuation characters. 1 to 128 in length.",
                       v, param, param);
    return ST_OK;
}

static status_t msg_check_fifo(const queue_t *q, const send_req_t *r, err_t *err)
{
    if (!q->fifo) {
        if (r->dedup_id)
            return err_set(err, ST_INVALID_PARAMETER_VALUE,
                           "Value %s for parameter MessageDeduplicationId is invalid. Reason: The request includes "
                           "a parameter that is not valid for this queue type.",
                           r->dedup_id);
        return ST_OK;
    }
    if (r->delay_given && r->delay > 0)
        return err_set(err, ST_INVALID_PARAMETER_VALUE,
                       "Value %ld for parameter DelaySeconds is invalid. Reason: The request include parameter that "
                       "is not valid for this queue type.",
                       r->delay);
    if (!r->group_id)
        return err_set(err, ST_MISSING_PARAMETER, "The request must contain the parameter MessageGroupId.");
    if (!r->dedup_id && !q->content_dedup)
        return err_set(err, ST_INVALID_PARAMETER_VALUE,
                       "The queue should either have ContentBasedDeduplication enabled or MessageDeduplicationId "
                       "provided explicitly");
    return ST_OK;
}

status_t msg__validate(const queue_t *q, const send_req_t *r, err_t *err)
{
    status_t st;
    if (!r->body_given || r->body_len == 0)
        return err_set(err, ST_MISSING_PARAMETER, "The request must contain the parameter MessageBody.");
    if ((st = check_id_token(r->group_id, "MessageGroupId", err)) != ST_OK ||
        (st = check_id_token(r->dedup_id, "MessageDeduplicationId", err)) != ST_OK)
        return st;
    if (r->delay_given && (r->delay < 0 || r->delay > 900))
        return err_set(err, ST_INVALID_PARAMETER_VALUE,
                       "Value %ld for parameter DelaySeconds is invalid. Reason: DelaySeconds must be >= 0 and "
                       "<= 900.",
                       r->delay);
    if ((st = msg_check_fifo(q, r, err)) != ST_OK)
        return st;
    if (!text_xml_chars_ok(r->body, r->body_len))
        return err_set(err, ST_INVALID_MESSAGE_CONTENTS,
                       "Invalid characters found. Valid unicode characters are #x9 | #xA | #xD | #x20 to #xD7FF | "
                       "#xE000 to #xFFFD | #x10000 to #x10FFFF");
    if ((st = attrs_check(r->attrs, r->nattrs, err)) != ST_OK ||
        (st = sys_attrs_check(r->sys_attrs, r->nsys, err)) != ST_OK)
        return st;
    if (send_req_size(r) > (size_t)q->max_size)
        return err_set(err, ST_INVALID_PARAMETER_VALUE,
                       "One or more parameters are invalid. Reason: Message must be shorter than %d bytes.",
                       q->max_size);
    return ST_OK;
}

/* ---- encoding ------------------------------------------------------------ */

void msg__encode_attrs(const msg_attr_t *a, size_t n, buf_t *out)
{
    buf_put_u32(out, (uint32_t)n);
    for (size_t i = 0; i < n; i++) {
        /* names and types keep their NUL so readers can point into the blob */
        uint16_t nl = (uint16_t)(strlen(a[i].name) + 1), tl = (uint16_t)(strlen(a[i].type) + 1);
        buf_append(out, &nl, 2);
        buf_append(out, a[i].name, nl);
        buf_append(out, &tl, 2);
        buf_append(out, a[i].type, tl);
        buf_put_bytes(out, a[i].value, (uint32_t)a[i].value_len);
    }
}

int msg_attrs_next(const uint8_t *p, uint32_t len, size_t *off, msg_attr_t *a)
{
    size_t o = *off ? *off : 4;
    uint16_t nl, tl;
    uint32_t vl;
    if (len < 4 || o + 2 > len)
        return 0;
    memcpy(&nl, p + o, 2);
    if (nl == 0 || o + 2 + nl + 2 > len || p[o + 2 + nl - 1] != '\0')
        return 0;
    memcpy(&tl, p + o + 2 + nl, 2);
    size_t vo = o + 4 + nl + tl;
    if (tl == 0 || vo + 4 > len || p[vo - 1] != '\0')
        return 0;
    memcpy(&vl, p + vo, 4);
    if (vl > len || vo + 4 + vl > len)
        return 0;
    a->name = (const char *)p + o + 2;
    a->type = (const char *)p + o + 4 + nl;
    a->value = (const char *)p + vo + 4;
    a->value_len = vl;
    *off = vo + 4 + vl;
    return 1;
}

/* ---- the request id ------------------------------------------------------ */

char *msg_body_request_id(const char *body, size_t len)
{
    if (len < 2 || body[0] != '{')
        return NULL;
    /* A mapping asks this of every message it takes: parse only a body that
     * can hold the name — spelled out, or behind an escape (a key may be
     * written \u0072equestId). */
    if (!memmem(body, len, "requestId", 9) && !memchr(body, '\\', len))
        return NULL;
    jv_doc_t *d = jv_doc_new_small();
    char *out = NULL;
    jv_t *v = jv_parse(d, body, len, NULL, 0);
    const char *s = jv_str(jv_get(v, "requestId")), *type = jv_str(jv_get(v, "Type"));
    if (!s && type && strcmp(type, "Notification") == 0) {
        jv_t *a = jv_get(jv_get(v, "MessageAttributes"), "requestId");
        const char *at = jv_str(jv_get(a, "Type"));
        s = at && strncmp(at, "String", 6) == 0 ? jv_str(jv_get(a, "Value")) : NULL;
    }
    if (s && *s)
        out = xstrdup(s);
    jv_doc_free(d);
    return out;
}

char *msg_request_id(const message_t *m)
{
    msg_attr_t a;
    size_t off = 0;
    while (msg_attrs_next(m->attrs, m->attrs_len, &off, &a))
        if (strcmp(a.name, "requestId") == 0 && strncmp(a.type, "String", 6) == 0 && a.value_len)
            return xmemdup(a.value, a.value_len);
    return msg_body_request_id(m->body, m->body_len);
}

static int attr_cmp(const void *x, const void *y)
{
    return strcmp(((const msg_attr_t *)x)->name, ((const msg_attr_t *)y)->name);
}

static void md5_put_len(size_t n)
{
    unsigned char b[4] = {(unsigned char)(n >> 24), (unsigned char)(n >> 16), (unsigned char)(n >> 8),
                          (unsigned char)n};
    digest_md5_update(b, 4);
}

void msg_attrs_md5(const msg_attr_t *attrs, size_t n, char out[33])
{
    msg_attr_t sorted[MSG_ATTRS_MAX + 2];
    if (n == 0 || n > MSG_ATTRS_MAX + 2) {
        out[0] = '\0';
        return;
    }
    memcpy(sorted, attrs, n * sizeof *attrs);
    qsort(sorted, n, sizeof *sorted, attr_cmp);
    digest_md5_begin();
    for (size_t i = 0; i < n; i++) {
        int binary = 0;
        attr_base_type(sorted[i].type, &binary);
        md5_put_len(strlen(sorted[i].name));
        digest_md5_update(sorted[i].name, strlen(sorted[i].name));
        md5_put_len(strlen(sorted[i].type));
        digest_md5_update(sorted[i].type, strlen(sorted[i].type));
        unsigned char transport = binary ? 2 : 1;
        digest_md5_update(&transport, 1);
        md5_put_len(sorted[i].value_len);
        digest_md5_update(sorted[i].value, sorted[i].value_len);
    }
    unsigned char d[16];
    digest_md5_end(d);
    text_hex(d, 16, out);
}

void msg__sys_md5(const message_t *m, char out[33])
{
    if (!m->trace_header) {
        out[0] = '\0';
        return;
    }
    msg_attr_t a = {"AWSTraceHeader", "String", m->trace_header, strlen(m->trace_header)};
    msg_attrs_md5(&a, 1, out);
}

/* ---- objects --------------------------------------------------------------- */

static void body_md5(const char *p, size_t n, unsigned char out[16])
{
    digest_md5(p, n, out);
}

message_t *msg__new(queue_t *q, const send_req_t *r, uint64_t now)
{
    message_t *m = xcalloc(1, sizeof *m);
    m->q = q;
    m->seq = ++q->next_seq;
    rand_uuid(m->id);
    m->body = xmemdup(r->body, r->body_len);
    m->body_len = (uint32_t)r->body_len;
    body_md5(r->body, r->body_len, m->md5_body);
    if (r->nattrs) {
        buf_t b = BUF_INIT;
        msg__encode_attrs(r->attrs, r->nattrs, &b);
        m->attrs_len = (uint32_t)b.len;
        m->attrs = (uint8_t *)buf_detach(&b, NULL);
    }
    m->group_id = xstrdup_opt(r->group_id);
    m->dedup_id = xstrdup_opt(r->dedup_id);
    m->sender_id = xstrdup_opt(r->sender_id);
    for (size_t i = 0; i < r->nsys; i++)
        if (strcmp(r->sys_attrs[i].name, "AWSTraceHeader") == 0)
            m->trace_header = xmemdup(r->sys_attrs[i].value, r->sys_attrs[i].value_len);
    m->sent_ts = m->enq_ts = now;
    long delay = r->delay_given && !q->fifo ? r->delay : q->delay;
    m->visible_at = delay > 0 ? now + (uint64_t)delay * 1000 : 0;
    heap_node_init(&m->deadline);
    heap_node_init(&m->age);
    list_init(&m->link);
    return m;
}

void msg__free(message_t *m)
{
    if (!m)
        return;
    free(m->body);
    free(m->attrs);
    free(m->group_id);
    free(m->dedup_id);
    free(m->sender_id);
    free(m->trace_header);
    free(m->dlq_source_arn);
    free(m);
}

void msg__encode(const message_t *m, buf_t *b)
{
    buf_put_u64(b, m->seq);
    buf_append(b, m->id, 36);
    buf_put_bytes(b, m->body, m->body_len);
    buf_put_bytes(b, m->attrs ? (const char *)m->attrs : "", m->attrs_len);
    buf_put_str(b, m->group_id);
    buf_put_str(b, m->dedup_id);
    buf_put_str(b, m->sender_id);
    buf_put_str(b, m->trace_header);
    buf_put_str(b, m->dlq_source_arn);
    buf_put_u64(b, m->sent_ts);
    buf_put_u64(b, m->enq_ts);
    buf_put_u64(b, m->first_recv_ts);
    buf_put_u64(b, m->visible_at);
    buf_put_u32(b, m->recv_count);
    buf_put_u64(b, m->nonce);
    buf_put_u64(b, m->recv_ts); /* last: records written before it existed end here */
}

message_t *msg__decode(queue_t *q, reader_t *r)
{
    message_t *m = xcalloc(1, sizeof *m);
    uint32_t n;
    m->q = q;
    m->seq = reader_u64(r);
    if (r->len - r->off >= 36 && !r->err) {
        memcpy(m->id, r->p + r->off, 36);
        r->off += 36;
    } else {
        r->err = 1;
    }
    const char *body = reader_bytes(r, &n);
    m->body = xmemdup(body ? body : "", n);
    m->body_len = n;
    const char *attrs = reader_bytes(r, &n);
    if (attrs && n) {
        m->attrs = (uint8_t *)xmemdup(attrs, n);
        m->attrs_len = n;
    }
    m->group_id = reader_strdup(r);
    m->dedup_id = reader_strdup(r);
    m->sender_id = reader_strdup(r);
    m->trace_header = reader_strdup(r);
    m->dlq_source_arn = reader_strdup(r);
    m->sent_ts = reader_u64(r);
    m->enq_ts = reader_u64(r);
    m->first_recv_ts = reader_u64(r);
    m->visible_at = reader_u64(r);
    m->recv_count = reader_u32(r);
    m->nonce = reader_u64(r);
    m->recv_ts = r->off < r->len ? reader_u64(r) : 0;
    body_md5(m->body, m->body_len, m->md5_body);
    heap_node_init(&m->deadline);
    heap_node_init(&m->age);
    list_init(&m->link);
    if (r->err || m->seq == 0) {
        msg__free(m);
        return NULL;
    }
    return m;
}

/* ---- receipt handles ------------------------------------------------------ */

void msg__receipt(const message_t *m, char out[RECEIPT_MAX])
{
    unsigned char raw[25];
    raw[0] = RECEIPT_VERSION;
    uint64_t v[3] = {m->q->id, m->seq, m->nonce};
    for (int i = 0; i < 3; i++)
        for (int k = 0; k < 8; k++)
            raw[1 + i * 8 + k] = (unsigned char)(v[i] >> (8 * k));
    buf_t b = BUF_INIT;
    text_b64_encode(raw, sizeof raw, &b);
    /* URL- and form-safe alphabet, so a handle never needs escaping */
    for (size_t i = 0; i < b.len; i++)
        b.data[i] = b.data[i] == '+' ? '-' : b.data[i] == '/' ? '_' : b.data[i];
    snprintf(out, RECEIPT_MAX, "%s", b.data);
    buf_free(&b);
}

int msg__parse_receipt(const char *s, uint64_t *qid, uint64_t *seq, uint64_t *nonce)
{
    char tmp[RECEIPT_MAX];
    size_t n = strlen(s);
    if (n == 0 || n >= sizeof tmp)
        return -1;
    for (size_t i = 0; i <= n; i++)
        tmp[i] = s[i] == '-' ? '+' : s[i] == '_' ? '/' : s[i];
    buf_t b = BUF_INIT;
    int rc = text_b64_decode(tmp, n, &b);
    if (rc != 0 || b.len != 25 || (unsigned char)b.data[0] != RECEIPT_VERSION) {
        buf_free(&b);
        return -1;
    }
    uint64_t v[3] = {0, 0, 0};
    for (int i = 0; i < 3; i++)
        for (int k = 0; k < 8; k++)
            v[i] |= (uint64_t)(unsigned char)b.data[1 + i * 8 + k] << (8 * k);
    buf_free(&b);
    *qid = v[0];
    *seq = v[1];
    *nonce = v[2];
    return 0;
}
