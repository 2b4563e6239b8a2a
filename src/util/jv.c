/*
 * jv — arena JSON: parser, builder, writer. See jv.h for the model.
 *
 * The parser is recursive descent with a depth limit (JV_MAX_DEPTH), so
 * hostile nesting cannot exhaust the stack; every read is bounds-checked
 * against the end of the input, which need not be NUL-terminated.
 */
#include "util/jv.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/alloc.h"
#include "util/text.h"

#define CHUNK_SIZE (16 * 1024)
#define CHUNK_CACHE 16

typedef struct chunk {
    struct chunk *next;
    size_t size, used;
    _Alignas(16) char data[];
} chunk_t;

struct jv_doc {
    chunk_t *chunks;
    size_t bytes;
    size_t first; /* size of the first block when it is not the default */
};

static _Thread_local chunk_t *chunk_cache;
static _Thread_local int chunk_cached;

/* ---- arena ------------------------------------------------------------------ */

static chunk_t *chunk_new(size_t need, size_t size_hint)
{
    if (size_hint && need <= size_hint) {
        chunk_t *c = xmalloc(sizeof *c + size_hint);
        c->size = size_hint;
        c->used = 0;
        return c;
    }
    if (need <= CHUNK_SIZE && chunk_cache) {
        chunk_t *c = chunk_cache;
        chunk_cache = c->next;
        chunk_cached--;
        c->used = 0;
        return c;
    }
    size_t size = need <= CHUNK_SIZE ? CHUNK_SIZE : need;
    chunk_t *c = xmalloc(sizeof *c + size);
    c->size = size;
    c->used = 0;
    return c;
}

static void *arena_alloc(jv_doc_t *d, size_t n)
{
    n = (n + 15) & ~(size_t)15;
    chunk_t *c = d->chunks;
    if (!c || c->size - c->used < n) {
        c = chunk_new(n, d->chunks ? 0 : d->first);
        d->bytes += c->size;
        if (n > CHUNK_SIZE && d->chunks) { /* a block of its own: keep filling the current chunk */
            c->next = d->chunks->next;
            d->chunks->next = c;
        } else {
            c->next = d->chunks;
            d->chunks = c;
        }
    }
    void *p = c->data + c->used;
    c->used += n;
    return p;
}

void jv_thread_release(void)
{
    while (chunk_cache) {
        chunk_t *c = chunk_cache;
        chunk_cache = c->next;
        free(c);
    }
    chunk_cached = 0;
}

jv_doc_t *jv_doc_new(void)
{
    return xcalloc(1, sizeof(jv_doc_t));
}

jv_doc_t *jv_doc_new_small(void)
{
    jv_doc_t *d = jv_doc_new();
    d->first = 1024;
    return d;
}

void jv_doc_free(jv_doc_t *d)
{
    if (!d)
        return;
    chunk_t *c = d->chunks;
    while (c) {
        chunk_t *next = c->next;
        if (c->size == CHUNK_SIZE && chunk_cached < CHUNK_CACHE) {
            c->next = chunk_cache;
            chunk_cache = c;
            chunk_cached++;
        } else {
            free(c);
        }
        c = next;
    }
    free(d);
}

size_t jv_doc_bytes(const jv_doc_t *d)
{
    return d->bytes;
}

/* ---- building ------------------------------------------------------------------ */

static jv_t *jv_new(jv_doc_t *d, jv_type_t t)
{
    jv_t *v = arena_alloc(d, sizeof *v);
    memset(v, 0, sizeof *v);
    v->type = t;
    return v;
}

jv_t *jv_object(jv_doc_t *d)
{
    return jv_new(d, JV_OBJECT);
}

jv_t *jv_array(jv_doc_t *d)
{
    return jv_new(d, JV_ARRAY);
}

jv_t *jv_null(jv_doc_t *d)
{
    return jv_new(d, JV_NULL);
}

jv_t *jv_bool(jv_doc_t *d, int b)
{
    jv_t *v = jv_new(d, JV_BOOL);
    v->boolean = !!b;
    return v;
}

static char *arena_strdup(jv_doc_t *d, const char *s, size_t n)
{
    char *p = arena_alloc(d, n + 1);
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

jv_t *jv_int(jv_doc_t *d, int64_t i)
{
    char tmp[24];
    int n = snprintf(tmp, sizeof tmp, "%lld", (long long)i);
    jv_t *v = jv_new(d, JV_NUMBER);
    v->is_int = 1;
    v->i = i;
    v->u.str = arena_strdup(d, tmp, (size_t)n);
    v->len = (size_t)n;
    return v;
}

jv_t *jv_string_ref(jv_doc_t *d, const char *s, size_t n)
{
    jv_t *v = jv_new(d, JV_STRING);
    v->u.str = s;
    v->len = n;
    return v;
}

jv_t *jv_stringn(jv_doc_t *d, const char *s, size_t n)
{
    return jv_string_ref(d, arena_strdup(d, s, n), n);
}

jv_t *jv_string(jv_doc_t *d, const char *s)
{
    return jv_stringn(d, s, strlen(s));
}

/* Grows an array's or object's storage (doubling; the old block is left in
 * the arena, which is cheaper than tracking it). */
static void *grow(jv_doc_t *d, void *old, size_t n, size_t *cap, size_t elem)
{
    if (n < *cap)
        return old;
    size_t ncap = *cap ? *cap * 2 : 4;
    void *p = arena_alloc(d, ncap * elem);
    if (n)
        memcpy(p, old, n * elem);
    *cap = ncap;
    return p;
}

static jv_t *set_pair(jv_doc_t *d, jv_t *obj, const char *key, size_t klen, jv_t *val)
{
    if (!val || !obj || obj->type != JV_OBJECT)
        return obj;
    obj->u.pairs = grow(d, obj->u.pairs, obj->len, &obj->cap, sizeof(jv_pair_t));
    obj->u.pairs[obj->len].key = key;
    obj->u.pairs[obj->len].klen = klen;
    obj->u.pairs[obj->len].val = val;
    obj->len++;
    return obj;
}

jv_t *jv_set(jv_doc_t *d, jv_t *obj, const char *key, jv_t *val)
{
    return set_pair(d, obj, key, strlen(key), val);
}

jv_t *jv_set_copy(jv_doc_t *d, jv_t *obj, const char *key, size_t klen, jv_t *val)
{
    return set_pair(d, obj, arena_strdup(d, key, klen), klen, val);
}

jv_t *jv_push(jv_doc_t *d, jv_t *arr, jv_t *val)
{
    if (!val || !arr || arr->type != JV_ARRAY)
        return arr;
    arr->u.items = grow(d, arr->u.items, arr->len, &arr->cap, sizeof(jv_t *));
    arr->u.items[arr->len++] = val;
    return arr;
}

void jv_remove_at(jv_t *arr, size_t i)
{
    if (!arr || arr->type != JV_ARRAY || i >= arr->len)
        return;
    memmove(arr->u.items + i, arr->u.items + i + 1, (arr->len - i - 1) * sizeof *arr->u.items);
    arr->len--;
}

jv_t *jv_copy(jv_doc_t *d, const jv_t *v)
{
    jv_t *c = jv_new(d, v->type);
    *c = *v;
    c->cap = 0;
    if (v->type == JV_STRING || v->type == JV_NUMBER) {
        c->u.str = arena_strdup(d, v->u.str, v->len);
    } else if (v->type == JV_ARRAY) {
        c->len = 0;
        c->u.items = NULL;
        for (size_t i = 0; i < v->len; i++)
            jv_push(d, c, jv_copy(d, v->u.items[i]));
    } else if (v->type == JV_OBJECT) {
        c->len = 0;
        c->u.pairs = NULL;
        for (size_t i = 0; i < v->len; i++)
            jv_set_copy(d, c, v->u.pairs[i].key, v->u.pairs[i].klen, jv_copy(d, v->u.pairs[i].val));
    }
    return c;
}

/* ---- reading ---------------------------------------------------------------------- */

jv_t *jv_get(const jv_t *obj, const char *key)
{
    if (!obj || obj->type != JV_OBJECT)
        return NULL;
    size_t klen = strlen(key);
    for (size_t i = obj->len; i-- > 0;) {
        const jv_pair_t *p = &obj->u.pairs[i];
        if (p->klen == klen && memcmp(p->key, key, klen) == 0)
            return p->val;
    }
    return NULL;
}

const char *jv_str(const jv_t *v)
{
    return v && v->type == JV_STRING ? v->u.str : NULL;
}

size_t jv_count(const jv_t *v)
{
    return v && (v->type == JV_ARRAY || v->type == JV_OBJECT) ? v->len : 0;
}

jv_t *jv_at(const jv_t *arr, size_t i)
{
    return arr && arr->type == JV_ARRAY && i < arr->len ? arr->u.items[i] : NULL;
}

/* ---- parsing ---------------------------------------------------------------------- */

typedef struct parser {
    jv_doc_t *d;
    const unsigned char *start, *p, *end;
    const char *err;
    int depth;
} parser_t;

static jv_t *parse_value(parser_t *ps);

static jv_t *fail(parser_t *ps, const char *why)
{
    if (!ps->err)
        ps->err = why;
    return NULL;
}

static void skip_ws(parser_t *ps)
{
    while (ps->p < ps->end && (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\n' || *ps->p == '\r'))
        ps->p++;
}

static int hex4(const unsigned char *p, uint32_t *out)
{
    uint32_t v = 0;
    for (int i = 0; i < 4; i++) {
        unsigned char c = p[i];
        v <<= 4;
        if (c >= '0' && c <= '9')
            v |= (uint32_t)(c - '0');
        else if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f')
            v |= (uint32_t)((c | 0x20) - 'a' + 10);
        else
            return -1;
    }
    *out = v;
    return 0;
}

static size_t utf8_put(char *o, uint32_t cp)
{
    if (cp < 0x80)
        return o[0] = (char)cp, 1;
    if (cp < 0x800)
        return o[0] = (char)(0xC0 | (cp >> 6)), o[1] = (char)(0x80 | (cp & 0x3F)), 2;
    if (cp < 0x10000)
        return o[0] = (char)(0xE0 | (cp >> 12)), o[1] = (char)(0x80 | ((cp >> 6) & 0x3F)),
               o[2] = (char)(0x80 | (cp & 0x3F)), 3;
    o[0] = (char)(0xF0 | (cp >> 18));
    o[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    o[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    o[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* \uXXXX at ps->p (and its low surrogate, if a high one): the code point, or -1. */
static int parse_u_escape(parser_t *ps, uint32_t *cp)
{
    if (ps->end - ps->p < 6 || hex4(ps->p + 2, cp) != 0)
        return -1;
    ps->p += 6;
    if (*cp >= 0xDC00 && *cp <= 0xDFFF)
        return -1;
    if (*cp < 0xD800 || *cp > 0xDBFF)
        return 0;
    uint32_t lo;
    if (ps->end - ps->p < 6 || ps->p[0] != '\\' || ps->p[1] != 'u' || hex4(ps->p + 2, &lo) != 0 || lo < 0xDC00 ||
        lo > 0xDFFF)
        return -1;
    ps->p += 6;
    *cp = 0x10000 + ((*cp - 0xD800) << 10) + (lo - 0xDC00);
    return 0;
}

static int parse_escape(parser_t *ps, char *o, size_t *olen)
{
    static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
    if (ps->end - ps->p < 2)
        return -1;
    unsigned char c = ps->p[1];
    const char *k = c ? strchr(from, c) : NULL;
    if (k) {
        o[(*olen)++] = to[k - from];
        ps->p += 2;
        return 0;
    }
    uint32_t cp;
    if (c != 'u' || parse_u_escape(ps, &cp) != 0)
        return -1;
    *olen += utf8_put(o + *olen, cp);
    return 0;
}

/* Scans to the closing quote, checking UTF-8 and controls; returns the raw length or -1. */
static long string_scan(parser_t *ps, int *escaped)
{
    const unsigned char *q = ps->p + 1;
    *escaped = 0;
    while (q < ps->end && *q != '"') {
        if (*q == '\\') {
            *escaped = 1;
            q += q + 1 < ps->end ? 2 : 1;
        } else if (*q < 0x20) {
            return -1;
        } else if (*q < 0x80) {
            q++;
        } else {
            uint32_t cp;
            size_t k = text_utf8_next(q, (size_t)(ps->end - q), &cp);
            if (!k)
                return -1;
            q += k;
        }
    }
    return q < ps->end ? (long)(q - ps->p - 1) : -1;
}

static jv_t *parse_string(parser_t *ps)
{
    int escaped;
    long raw = string_scan(ps, &escaped);
    if (raw < 0)
        return fail(ps, "invalid string (unterminated, control character or bad UTF-8)");
    if (!escaped) {
        jv_t *v = jv_stringn(ps->d, (const char *)ps->p + 1, (size_t)raw);
        ps->p += raw + 2;
        return v;
    }
    char *o = arena_alloc(ps->d, (size_t)raw + 1);
    size_t olen = 0;
    const unsigned char *close = ps->p + 1 + raw;
    ps->p++;
    while (ps->p < close) {
        const unsigned char *bs = memchr(ps->p, '\\', (size_t)(close - ps->p));
        size_t run = bs ? (size_t)(bs - ps->p) : (size_t)(close - ps->p);
        memcpy(o + olen, ps->p, run);
        olen += run;
        ps->p += run;
        if (bs && parse_escape(ps, o, &olen) != 0)
            return fail(ps, "invalid escape in string");
    }
    ps->p = close + 1;
    o[olen] = '\0';
    return jv_string_ref(ps->d, o, olen);
}

static int digits(parser_t *ps)
{
    const unsigned char *s = ps->p;
    while (ps->p < ps->end && *ps->p >= '0' && *ps->p <= '9')
        ps->p++;
    return ps->p > s;
}

/* Exact int64 value of an integral literal, if it fits. */
static int int_value(const unsigned char *s, size_t n, int64_t *out)
{
    int neg = *s == '-';
    uint64_t v = 0, limit = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
    for (size_t i = (size_t)neg; i < n; i++) {
        uint64_t digit = (uint64_t)(s[i] - '0');
        if (v > (limit - digit) / 10)
            return 0;
        v = v * 10 + digit;
    }
    *out = neg ? (int64_t)(0 - v) : (int64_t)v;
    return 1;
}

static jv_t *parse_number(parser_t *ps)
{
    const unsigned char *s = ps->p;
    int integral = 1;
    if (ps->p < ps->end && *ps->p == '-')
        ps->p++;
    if (ps->p < ps->end && *ps->p == '0')
        ps->p++;
    else if (!digits(ps))
        return fail(ps, "invalid number");
    if (ps->p < ps->end && *ps->p == '.') {
        ps->p++;
        integral = 0;
        if (!digits(ps))
            return fail(ps, "invalid number");
    }
    if (ps->p < ps->end && (*ps->p == 'e' || *ps->p == 'E')) {
        ps->p++;
        integral = 0;
        if (ps->p < ps->end && (*ps->p == '+' || *ps->p == '-'))
            ps->p++;
        if (!digits(ps))
            return fail(ps, "invalid number");
    }
    jv_t *v = jv_new(ps->d, JV_NUMBER);
    v->len = (size_t)(ps->p - s);
    v->u.str = arena_strdup(ps->d, (const char *)s, v->len);
    v->is_int = integral && int_value(s, v->len, &v->i);
    return v;
}

static jv_t *parse_literal(parser_t *ps, const char *word, jv_t *v)
{
    size_t n = strlen(word);
    if ((size_t)(ps->end - ps->p) < n || memcmp(ps->p, word, n) != 0)
        return fail(ps, "invalid literal");
    ps->p += n;
    return v;
}

static jv_t *parse_array(parser_t *ps)
{
    jv_t *arr = jv_array(ps->d);
    ps->p++;
    skip_ws(ps);
    if (ps->p < ps->end && *ps->p == ']')
        return ps->p++, arr;
    for (;;) {
        jv_t *v = parse_value(ps);
        if (!v)
            return NULL;
        jv_push(ps->d, arr, v);
        skip_ws(ps);
        if (ps->p < ps->end && *ps->p == ',') {
            ps->p++;
            continue;
        }
        if (ps->p < ps->end && *ps->p == ']')
            return ps->p++, arr;
        return fail(ps, "expected , or ] in array");
    }
}

static jv_t *parse_member(parser_t *ps, jv_t *obj)
{
    skip_ws(ps);
    if (ps->p >= ps->end || *ps->p != '"')
        return fail(ps, "expected a string key");
    jv_t *key = parse_string(ps);
    if (!key)
        return NULL;
    skip_ws(ps);
    if (ps->p >= ps->end || *ps->p != ':')
        return fail(ps, "expected : after key");
    ps->p++;
    jv_t *v = parse_value(ps);
    if (!v)
        return NULL;
    return set_pair(ps->d, obj, key->u.str, key->len, v);
}

static jv_t *parse_object(parser_t *ps)
{
    jv_t *obj = jv_object(ps->d);
    ps->p++;
    skip_ws(ps);
    if (ps->p < ps->end && *ps->p == '}')
        return ps->p++, obj;
    for (;;) {
        if (!parse_member(ps, obj))
            return NULL;
        skip_ws(ps);
        if (ps->p < ps->end && *ps->p == ',') {
            ps->p++;
            continue;
        }
        if (ps->p < ps->end && *ps->p == '}')
            return ps->p++, obj;
        return fail(ps, "expected , or } in object");
    }
}

static jv_t *parse_value(parser_t *ps)
{
    skip_ws(ps);
    if (ps->p >= ps->end)
        return fail(ps, "unexpected end of input");
    int nests = *ps->p == '{' || *ps->p == '[';
    if (nests && ++ps->depth > JV_MAX_DEPTH)
        return fail(ps, "nesting too deep");
    jv_t *v;
    switch (*ps->p) {
    case '{': v = parse_object(ps); break;
    case '[': v = parse_array(ps); break;
    case '"': v = parse_string(ps); break;
    case 't': v = parse_literal(ps, "true", jv_bool(ps->d, 1)); break;
    case 'f': v = parse_literal(ps, "false", jv_bool(ps->d, 0)); break;
    case 'n': v = parse_literal(ps, "null", jv_null(ps->d)); break;
    default: v = parse_number(ps);
    }
    ps->depth -= nests;
    return v;
}

jv_t *jv_parse_cstr(jv_doc_t *d, const char *s)
{
    return s ? jv_parse(d, s, strlen(s), NULL, 0) : NULL;
}

jv_t *jv_parse(jv_doc_t *d, const char *p, size_t n, char *why, size_t why_len)
{
    parser_t ps = {d, (const unsigned char *)p, (const unsigned char *)p, (const unsigned char *)p + n, NULL, 0};
    jv_t *v = parse_value(&ps);
    if (v) {
        skip_ws(&ps);
        if (ps.p != ps.end)
            v = fail(&ps, "data after the value");
    }
    if (!v && why)
        snprintf(why, why_len, "offset %zu: %s", (size_t)(ps.p - ps.start), ps.err);
    return v;
}

/* ---- writing ------------------------------------------------------------------------ */

static int needs_escape(unsigned char c)
{
    return c < 0x20 || c == '"' || c == '\\' || c >= 0x80;
}

static void write_escape(buf_t *out, unsigned char c)
{
    static const char hex[] = "0123456789abcdef";
    char e[7] = {'\\', 0, 0, 0, 0, 0, 0};
    switch (c) {
    case '"': e[1] = '"'; break;
    case '\\': e[1] = '\\'; break;
    case '\n': e[1] = 'n'; break;
    case '\r': e[1] = 'r'; break;
    case '\t': e[1] = 't'; break;
    case '\b': e[1] = 'b'; break;
    case '\f': e[1] = 'f'; break;
    default:
        memcpy(e + 1, "u00", 3);
        e[4] = hex[c >> 4];
        e[5] = hex[c & 15];
        buf_append(out, e, 6);
        return;
    }
    buf_append(out, e, 2);
}

void jv_write_string(buf_t *out, const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s, *end = p + n;
    buf_reserve(out, n + 2);
    buf_putc(out, '"');
    while (p < end) {
        const unsigned char *run = p;
        while (p < end && !needs_escape(*p))
            p++;
        buf_append(out, run, (size_t)(p - run));
        if (p == end)
            break;
        if (*p < 0x80) {
            write_escape(out, *p++);
            continue;
        }
        uint32_t cp;
        size_t k = text_utf8_next(p, (size_t)(end - p), &cp);
        if (k) {
            buf_append(out, p, k);
            p += k;
        } else {
            buf_append(out, "\xEF\xBF\xBD", 3); /* U+FFFD */
            p++;
        }
    }
    buf_putc(out, '"');
}

void jv_write(const jv_t *v, buf_t *out)
{
    switch (v->type) {
    case JV_NULL: buf_append(out, "null", 4); return;
    case JV_BOOL: v->boolean ? buf_append(out, "true", 4) : buf_append(out, "false", 5); return;
    case JV_NUMBER: buf_append(out, v->u.str, v->len); return;
    case JV_STRING: jv_write_string(out, v->u.str, v->len); return;
    case JV_ARRAY:
        buf_putc(out, '[');
        for (size_t i = 0; i < v->len; i++) {
            if (i)
                buf_putc(out, ',');
            jv_write(v->u.items[i], out);
        }
        buf_putc(out, ']');
        return;
    case JV_OBJECT:
        buf_putc(out, '{');
        for (size_t i = 0; i < v->len; i++) {
            if (i)
                buf_putc(out, ',');
            jv_write_string(out, v->u.pairs[i].key, v->u.pairs[i].klen);
            buf_putc(out, ':');
            jv_write(v->u.pairs[i].val, out);
        }
        buf_putc(out, '}');
        return;
    }
}

char *jv_dump(const jv_t *v)
{
    buf_t b = BUF_INIT;
    jv_write(v, &b);
    return buf_detach(&b, NULL);
}
