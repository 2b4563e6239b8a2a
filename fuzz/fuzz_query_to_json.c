/*
 * fuzz_query_to_json — libFuzzer target for the SQS query translation
 * (sqs_query_to_json, sqs_json_to_xml, sqs_query_error_xml) and the XML
 * writer under it.
 *
 * A form input (anything not starting with '{') is decoded with form_parse
 * and converted as each of the 23 actions. A conversion either succeeds
 * with a JSON object whose strings and keys are valid UTF-8, whose maps
 * hold each key once, and whose text survives a write, parse and write
 * unchanged; or it fails with the documented status and message. The
 * document is then written as the response of its own action and of one
 * other action picked from the input, exercising the writer with whatever
 * shapes happen to overlap.
 *
 * A JSON input (starting with '{') is an output document as the engine
 * would produce it, and is written as the response of every action.
 *
 * Every XML written must be well-formed by a small independent checker:
 * the declaration, then one root element named <Action>Response with the
 * SQS namespace, properly nested tags, text free of '<' and of '&' that does
 * not start one of the writer's entities, and only characters XML 1.0 can
 * carry (util/text's independent text_xml_chars_ok over the whole document).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "proto/form.h"
#include "proto/sqs_shapes.h"
#include "util/hmap.h"
#include "util/jv.h"
#include "util/text.h"

static const char *const actions[] = {
    "AddPermission", "CancelMessageMoveTask", "ChangeMessageVisibility", "ChangeMessageVisibilityBatch",
    "CreateQueue", "DeleteMessage", "DeleteMessageBatch", "DeleteQueue", "GetQueueAttributes", "GetQueueUrl",
    "ListDeadLetterSourceQueues", "ListMessageMoveTasks", "ListQueueTags", "ListQueues", "PurgeQueue",
    "ReceiveMessage", "RemovePermission", "SendMessage", "SendMessageBatch", "SetQueueAttributes",
    "StartMessageMoveTask", "TagQueue", "UntagQueue",
};
#define NACTIONS (sizeof actions / sizeof actions[0])

#define DECL "<?xml version=\"1.0\"?>"

/* ---- an independent well-formedness check of what the writer produced ---- */

static size_t check_entity(const char *s, size_t n, size_t i)
{
    static const char *const ents[] = {"&amp;", "&lt;", "&gt;", "&quot;", "&apos;", "&#xD;"};
    for (size_t k = 0; k < sizeof ents / sizeof ents[0]; k++) {
        size_t len = strlen(ents[k]);
        if (n - i >= len && memcmp(s + i, ents[k], len) == 0)
            return len;
    }
    FUZZ_CHECK(!"unknown entity");
    return 1;
}

/* Reads a tag at s[i] ('<' ...'>'), updating the element stack; returns its length. */
static size_t check_tag(const char *s, size_t n, size_t i, const char **stack, size_t *lens, size_t *depth)
{
    const char *end = memchr(s + i, '>', n - i);
    FUZZ_CHECK(end != NULL);
    size_t len = (size_t)(end - (s + i)) + 1;
    int closing = s[i + 1] == '/', empty = s[i + len - 2] == '/';
    const char *name = s + i + 1 + closing;
    size_t name_len = strcspn(name, " />");
    FUZZ_CHECK(name_len > 0 && !(closing && empty));
    for (size_t k = 0; k < name_len; k++)
        FUZZ_CHECK(strchr("<&\"'=", name[k]) == NULL);
    if (closing) {
        FUZZ_CHECK(*depth > 0);
        --*depth;
        FUZZ_CHECK(lens[*depth] == name_len && memcmp(stack[*depth], name, name_len) == 0);
    } else if (!empty) {
        FUZZ_CHECK(*depth < 64);
        stack[*depth] = name;
        lens[(*depth)++] = name_len;
    }
    return len;
}

static void check_xml(const buf_t *b, size_t from, const char *root)
{
    const char *s = b->data + from;
    size_t n = b->len - from, depth = 0, i = strlen(DECL), roots = 0;
    const char *stack[64];
    size_t lens[64];
    FUZZ_CHECK(n > i && memcmp(s, DECL, i) == 0);
    FUZZ_CHECK(text_xml_chars_ok(s, n));
    FUZZ_CHECK(strncmp(s + i + 1, root, strlen(root)) == 0);
    while (i < n) {
        if (s[i] == '<') {
            roots += depth == 0;
            i += check_tag(s, n, i, stack, lens, &depth);
        } else {
            FUZZ_CHECK(depth > 0 && s[i] != '>');
            i += s[i] == '&' ? check_entity(s, n, i) : 1;
        }
    }
    FUZZ_CHECK(depth == 0 && roots == 1);
}

/* ---- the translation ---- */

static void write_checked(const char *action, const jv_t *doc)
{
    char root[80];
    buf_t b = BUF_INIT;
    buf_puts(&b, "prefix"); /* appends, never overwrites */
    snprintf(root, sizeof root, "%sResponse xmlns=\"" SQS_XMLNS "\"", action);
    FUZZ_CHECK(sqs_json_to_xml(action, doc, "req-\"<&>", &b) == SQS_SHAPES_OK);
    FUZZ_CHECK(memcmp(b.data, "prefix", 6) == 0);
    check_xml(&b, 6, root);
    buf_free(&b);
}

static void check_utf8(const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    uint32_t cp;
    for (size_t i = 0, k; i < n; i += k)
        FUZZ_CHECK((k = text_utf8_next(p + i, n - i, &cp)) != 0);
}

/* Strings and keys are valid UTF-8 (the writer would otherwise have to
 * replace bytes) and no object holds a key twice. */
static void check_values(const jv_t *v)
{
    if (v->type == JV_STRING)
        check_utf8(v->u.str, v->len);
    for (size_t i = 0; v->type == JV_ARRAY && i < v->len; i++)
        check_values(jv_at(v, i));
    if (v->type != JV_OBJECT)
        return;
    hmap_t keys;
    hmap_init(&keys);
    for (size_t i = 0; i < v->len; i++) {
        const jv_pair_t *p = &v->u.pairs[i];
        check_utf8(p->key, p->klen);
        FUZZ_CHECK(hmap_put(&keys, p->key, p->klen, (void *)p) == NULL);
        check_values(p->val);
    }
    hmap_free(&keys);
}

/* An object of valid text that writes, parses back and writes the same bytes. */
static void check_document(const jv_t *doc)
{
    FUZZ_CHECK(jv_is(doc, JV_OBJECT));
    check_values(doc);
    buf_t text = BUF_INIT, again = BUF_INIT;
    jv_write(doc, &text);
    jv_doc_t *d = jv_doc_new();
    char why[128];
    jv_t *back = jv_parse(d, text.data, text.len, why, sizeof why);
    FUZZ_CHECK(back != NULL && jv_count(back) == jv_count(doc));
    jv_write(back, &again);
    FUZZ_CHECK(again.len == text.len && memcmp(again.data, text.data, text.len) == 0);
    jv_doc_free(d);
    buf_free(&text);
    buf_free(&again);
}

static void convert_as(size_t a, const kvv_t *form, uint32_t pick)
{
    jv_doc_t *d = jv_doc_new();
    jv_t *doc = (jv_t *)form; /* must be reset to NULL on failure */
    char why[256] = "";
    int rc = sqs_query_to_json(actions[a], form, d, &doc, why, sizeof why);
    if (rc != SQS_SHAPES_OK) {
        FUZZ_CHECK(rc == SQS_SHAPES_INVALID && doc == NULL);
        FUZZ_CHECK(strncmp(why, "Value ", 6) == 0); /* the value is echoed: long ones truncate */
        FUZZ_CHECK(strlen(why) == sizeof why - 1 || strstr(why, " is invalid. Reason: Must be an integer."));
        jv_doc_free(d);
        return;
    }
    check_document(doc);
    write_checked(actions[a], doc);
    write_checked(actions[(a + pick) % NACTIONS], doc);
    jv_doc_free(d);
}

static uint32_t fnv1a(const uint8_t *p, size_t n)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 16777619u;
    return h;
}

static void fuzz_form_input(const uint8_t *data, size_t size)
{
    kvv_t form = {0};
    if (form_parse((const char *)data, size, &form, NULL, 0) != 0)
        return;
    uint32_t pick = fnv1a(data, size);
    for (size_t a = 0; a < NACTIONS; a++)
        convert_as(a, &form, pick);
    jv_doc_t *d = jv_doc_new();
    jv_t *doc = NULL;
    FUZZ_CHECK(sqs_query_to_json("NoSuchAction", &form, d, &doc, NULL, 0) == SQS_SHAPES_UNKNOWN_ACTION && !doc);
    jv_doc_free(d);
    kvv_free(&form);
}

static void fuzz_json_input(const uint8_t *data, size_t size)
{
    jv_doc_t *d = jv_doc_new();
    jv_t *doc = jv_parse(d, (const char *)data, size, NULL, 0);
    for (size_t a = 0; doc && a < NACTIONS; a++)
        write_checked(actions[a], doc);
    jv_doc_free(d);
}

static void fuzz_error(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    memcpy(text, data, size);
    text[size] = '\0';
    buf_t b = BUF_INIT;
    sqs_query_error_xml(text, text, (int)(size & 1), text, &b);
    check_xml(&b, 0, "ErrorResponse xmlns=\"" SQS_XMLNS "\"");
    buf_free(&b);
    free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 0 && data[0] == '{')
        fuzz_json_input(data, size);
    else
        fuzz_form_input(data, size);
    fuzz_error(data, size);
    return 0;
}
