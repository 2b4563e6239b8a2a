/*
 * fuzz_jv — libFuzzer target for util/jv: parser, writer, jv_copy, jv_get.
 *
 * Any input is parsed. When it is refused, the reason has the documented
 * "offset N: ..." form with N inside the input. When it parses:
 *   - the input must have been JSON by two independent facts: it is valid
 *     UTF-8 as a whole, and its only bytes below 0x20 are the four
 *     whitespace characters (strings must escape the others);
 *   - no array or object is nested deeper than JV_MAX_DEPTH;
 *   - its written text parses again, into a tree equal to the first one in
 *     every byte (types, string and key bytes, number text, order), and
 *     writes the very same bytes (the writer is a fixed point);
 *   - the written text is compact: outside strings it has no whitespace;
 *   - a jv_copy into another document, whose source is then freed, writes
 *     the same bytes;
 *   - jv_get on every key (of objects of modest size) returns the value of
 *     the last pair with that key, found by an independent scan.
 * The input is also written as a JSON string with jv_write_string: that
 * must parse back into a string equal to the input when the input is valid
 * UTF-8, and into valid UTF-8 with U+FFFD in it otherwise.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "util/jv.h"
#include "util/text.h"

static int valid_utf8(const uint8_t *p, size_t n)
{
    uint32_t cp;
    for (size_t i = 0, k; i < n; i += k)
        if ((k = text_utf8_next(p + i, n - i, &cp)) == 0)
            return 0;
    return 1;
}

static int only_whitespace_controls(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] < 0x20 && p[i] != ' ' && p[i] != '\t' && p[i] != '\n' && p[i] != '\r')
            return 0;
    return 1;
}

/* Deepest array/object nesting of v (a scalar is 0). */
static int depth_of(const jv_t *v)
{
    int max = 0, d;
    for (size_t i = 0; v->type == JV_ARRAY && i < v->len; i++)
        if ((d = depth_of(v->u.items[i])) > max)
            max = d;
    for (size_t i = 0; v->type == JV_OBJECT && i < v->len; i++)
        if ((d = depth_of(v->u.pairs[i].val)) > max)
            max = d;
    return max + (v->type == JV_ARRAY || v->type == JV_OBJECT);
}

static int same_bytes(const char *a, size_t alen, const char *b, size_t blen)
{
    return alen == blen && memcmp(a, b, alen) == 0;
}

/* Byte-exact tree equality. */
static int same_tree(const jv_t *a, const jv_t *b)
{
    if (a->type != b->type || a->len != b->len)
        return 0;
    switch (a->type) {
    case JV_NULL: return 1;
    case JV_BOOL: return a->boolean == b->boolean;
    case JV_NUMBER: return a->is_int == b->is_int && (!a->is_int || a->i == b->i) && same_bytes(a->u.str, a->len, b->u.str, b->len);
    case JV_STRING: return same_bytes(a->u.str, a->len, b->u.str, b->len) && a->u.str[a->len] == '\0';
    case JV_ARRAY:
        for (size_t i = 0; i < a->len; i++)
            if (!same_tree(a->u.items[i], b->u.items[i]))
                return 0;
        return 1;
    case JV_OBJECT:
        for (size_t i = 0; i < a->len; i++)
            if (!same_bytes(a->u.pairs[i].key, a->u.pairs[i].klen, b->u.pairs[i].key, b->u.pairs[i].klen) ||
                !same_tree(a->u.pairs[i].val, b->u.pairs[i].val))
                return 0;
        return 1;
    }
    return 0;
}

/* jv_get agrees with a scan for the last pair of each key (keys without NUL). */
static void check_get(const jv_t *v)
{
    for (size_t i = 0; v->type == JV_ARRAY && i < v->len; i++)
        check_get(v->u.items[i]);
    if (v->type != JV_OBJECT)
        return;
    for (size_t i = 0; i < v->len; i++) {
        const jv_pair_t *p = &v->u.pairs[i];
        check_get(p->val);
        if (v->len > 64 || strlen(p->key) != p->klen)
            continue;
        const jv_t *last = p->val;
        for (size_t j = i + 1; j < v->len; j++)
            if (same_bytes(v->u.pairs[j].key, v->u.pairs[j].klen, p->key, p->klen))
                last = v->u.pairs[j].val;
        FUZZ_CHECK(jv_get(v, p->key) == last);
    }
}

/* Outside string literals the compact text has no whitespace. */
static void check_compact(const buf_t *b)
{
    int in_string = 0;
    for (size_t i = 0; i < b->len; i++) {
        char c = b->data[i];
        if (in_string && c == '\\')
            i++;
        else if (c == '"')
            in_string = !in_string;
        else if (!in_string)
            FUZZ_CHECK(c != ' ' && c != '\t' && c != '\n' && c != '\r');
        else
            FUZZ_CHECK((unsigned char)c >= 0x20);
    }
    FUZZ_CHECK(!in_string);
}

static void check_refused(const char *why, size_t size)
{
    unsigned long off;
    int consumed = 0;
    FUZZ_CHECK(sscanf(why, "offset %lu: %n", &off, &consumed) == 1 && consumed > 0);
    FUZZ_CHECK(off <= size && why[consumed] != '\0');
}

static void check_parsed(const uint8_t *data, size_t size, const jv_t *v)
{
    FUZZ_CHECK(valid_utf8(data, size) && only_whitespace_controls(data, size));
    FUZZ_CHECK(depth_of(v) <= JV_MAX_DEPTH);
    buf_t once = BUF_INIT, twice = BUF_INIT, copied = BUF_INIT;
    jv_write(v, &once);
    check_compact(&once);
    jv_doc_t *d2 = jv_doc_new(), *d3 = jv_doc_new();
    char why[128] = "";
    jv_t *again = jv_parse(d2, once.data, once.len, why, sizeof why);
    FUZZ_CHECK(again != NULL && same_tree(v, again));
    jv_write(again, &twice);
    FUZZ_CHECK(same_bytes(once.data, once.len, twice.data, twice.len));
    check_get(v);
    jv_t *copy = jv_copy(d3, again);
    jv_doc_free(d2); /* the copy must not need its source */
    jv_write(copy, &copied);
    FUZZ_CHECK(same_bytes(once.data, once.len, copied.data, copied.len));
    FUZZ_CHECK(same_tree(v, copy));
    jv_doc_free(d3);
    buf_free(&once);
    buf_free(&twice);
    buf_free(&copied);
}

/* Any bytes written as a JSON string literal come back as the string (or its repair). */
static void check_string_writer(const uint8_t *data, size_t size)
{
    buf_t lit = BUF_INIT;
    jv_write_string(&lit, (const char *)data, size);
    jv_doc_t *d = jv_doc_new();
    jv_t *s = jv_parse(d, lit.data, lit.len, NULL, 0);
    FUZZ_CHECK(jv_is(s, JV_STRING));
    if (valid_utf8(data, size))
        FUZZ_CHECK(same_bytes(s->u.str, s->len, (const char *)data, size));
    else
        FUZZ_CHECK(s->len > size && memmem(s->u.str, s->len, "\xef\xbf\xbd", 3) != NULL);
    jv_doc_free(d);
    buf_free(&lit);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    jv_doc_t *d = jv_doc_new();
    char why[128] = "";
    jv_t *v = jv_parse(d, (const char *)data, size, why, sizeof why);
    if (v)
        check_parsed(data, size, v);
    else
        check_refused(why, size);
    jv_doc_free(d);
    check_string_writer(data, size);
    return 0;
}
