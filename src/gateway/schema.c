/*
 * schema — JSON Schema subset for request validation; the contract and the
 * semantics are in schema.h.
 *
 * Model. A schema compiles into a tree of nodes, one per (sub)schema. A
 * node is either the false schema or a list of rules in the order its
 * keywords were written; each rule is one keyword with its value prepared
 * for checking (a type set, a parsed decimal bound, a compiled regex, child
 * nodes). A keyword table gives each keyword its compile, check and release
 * functions; annotations have none and compile to nothing. Validation walks
 * the node tree, so its recursion is bounded by the schema's depth, never
 * by the request's. The schema document is copied into a document the
 * schema owns, and rules point into that copy (bounds keep their number
 * text, enum and const their values, for checks and messages alike).
 *
 * Why PCRE2 for pattern: JSON Schema patterns are ECMA-262 regular
 * expressions, with \d, lookahead, lazy quantifiers and the like that POSIX
 * regex.h lacks; PCRE2 is in Debian, has options for the ECMA-262 spellings,
 * compiles a pattern once into a code object that threads may share, and
 * bounds backtracking, so a hostile body cannot spin a worker on it.
 *
 * Messages are built only on failure: the path is kept as a stack of
 * segments (keys and indices) and written out when a rule fails.
 */
#include "gateway/schema.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/alloc.h"
#include "util/buf.h"

/* ECMA-262 spellings: \uXXXX and \xXX escapes (ALT_BSUX), [] and [^] as the
 * empty and the any class, $ only at the very end; UTF-8 throughout, where
 * invalid bytes in a request string simply never match; no \C, which would
 * split a character. */
#define PATTERN_OPTIONS                                                                  \
    (PCRE2_UTF | PCRE2_MATCH_INVALID_UTF | PCRE2_ALT_BSUX | PCRE2_ALLOW_EMPTY_CLASS |    \
     PCRE2_DOLLAR_ENDONLY | PCRE2_NEVER_BACKSLASH_C)
/* Backtracking budget of one match (PCRE2's default is 10 million): a body
 * that drives a pattern into catastrophic backtracking fails its pattern
 * check instead of holding a thread for seconds. */
#define MATCH_LIMIT 1000000
/* Exponents are clamped here; numbers beyond it are not told apart. */
#define EXP_CLAMP 1000000000000000000LL
/* Path segments: two per schema level (properties, name), a keyword and an
 * index at the deepest; validation needs one per level plus one. */
#define PATH_SEGS (2 * SCHEMA_MAX_DEPTH + 4)

/* ---- decimals ----------------------------------------------------------------
 * A JSON number as sign × 0.D × 10^exp, where the digit string D is a‖b (the
 * integer and fraction digits of the text, which it points into) with
 * leading and trailing zeros removed. Zero has no digits. Two such values
 * compare by sign, then exponent, then D as text. */
typedef struct dec {
    int neg;
    const char *a, *b;
    size_t alen, blen;
    int64_t exp;
} dec_t;

static size_t skip_digits(const char *s, size_t i, size_t n)
{
    while (i < n && s[i] >= '0' && s[i] <= '9')
        i++;
    return i;
}

/* The exponent part at s[i..n) ("e-12"), clamped to ±EXP_CLAMP. */
static int64_t parse_exponent(const char *s, size_t i, size_t n)
{
    if (i >= n || (s[i] != 'e' && s[i] != 'E'))
        return 0;
    int neg = ++i < n && s[i] == '-';
    i += i < n && (s[i] == '-' || s[i] == '+');
    int64_t e = 0;
    for (; i < n && s[i] >= '0' && s[i] <= '9'; i++)
        e = e < EXP_CLAMP / 10 ? e * 10 + (s[i] - '0') : EXP_CLAMP;
    return neg ? -e : e;
}

/* Removes leading and trailing zeros from a‖b, keeping the value. */
static void dec_trim(dec_t *d)
{
    for (; d->alen && *d->a == '0'; d->a++, d->alen--)
        d->exp--;
    for (; !d->alen && d->blen && *d->b == '0'; d->b++, d->blen--)
        d->exp--;
    while (d->blen && d->b[d->blen - 1] == '0')
        d->blen--;
    while (!d->blen && d->alen && d->a[d->alen - 1] == '0')
        d->alen--;
    if (!d->alen && !d->blen)
        d->neg = 0, d->exp = 0;
}

/* Reads JSON number text; anything after the number is ignored. */
static void dec_parse(const char *s, size_t n, dec_t *d)
{
    size_t i = 0;
    d->neg = n > 0 && s[0] == '-';
    i += (size_t)d->neg;
    d->a = s + i;
    i = skip_digits(s, i, n);
    d->alen = (size_t)(s + i - d->a);
    d->b = s + i;
    if (i < n && s[i] == '.') {
        d->b = s + i + 1;
        i = skip_digits(s, i + 1, n);
    }
    d->blen = (size_t)(s + i - d->b);
    d->exp = parse_exponent(s, i, n) + (int64_t)d->alen;
    dec_trim(d);
}

static size_t dec_ndigits(const dec_t *d)
{
    return d->alen + d->blen;
}

static char dec_digit(const dec_t *d, size_t k)
{
    return k < d->alen ? d->a[k] : d->b[k - d->alen];
}

static int dec_cmp_abs(const dec_t *x, const dec_t *y)
{
    if (x->exp != y->exp)
        return x->exp < y->exp ? -1 : 1;
    size_t nx = dec_ndigits(x), ny = dec_ndigits(y);
    for (size_t k = 0; k < nx && k < ny; k++)
        if (dec_digit(x, k) != dec_digit(y, k))
            return dec_digit(x, k) < dec_digit(y, k) ? -1 : 1;
    return nx == ny ? 0 : nx < ny ? -1 : 1;
}

static int dec_sign(const dec_t *d)
{
    return !dec_ndigits(d) ? 0 : d->neg ? -1 : 1;
}

static int dec_cmp(const dec_t *x, const dec_t *y)
{
    int sx = dec_sign(x), sy = dec_sign(y);
    if (sx != sy)
        return sx < sy ? -1 : 1;
    return sx < 0 ? -dec_cmp_abs(x, y) : sx > 0 ? dec_cmp_abs(x, y) : 0;
}

static int dec_is_int(const dec_t *d)
{
    return d->exp >= (int64_t)dec_ndigits(d);
}

/* A non-negative integer as a size, saturating at SIZE_MAX. */
static size_t dec_to_size(const dec_t *d)
{
    size_t v = 0;
    for (int64_t k = 0; k < d->exp; k++) {
        unsigned digit = (size_t)k < dec_ndigits(d) ? (unsigned)(dec_digit(d, (size_t)k) - '0') : 0;
        if (v > (SIZE_MAX - digit) / 10)
            return SIZE_MAX;
        v = v * 10 + digit;
    }
    return v;
}

static dec_t dec_of(const jv_t *num)
{
    dec_t d;
    dec_parse(num->u.str, num->len, &d);
    return d;
}

/* ---- JSON equality (enum, const) -------------------------------------------- */

static int json_equal(const jv_t *x, const jv_t *y);

static int key_is(const jv_pair_t *p, const char *key, size_t klen)
{
    return p->klen == klen && memcmp(p->key, key, klen) == 0;
}

/* The value of the last pair named key in obj (jv_get's choice), or NULL. */
static const jv_t *member(const jv_t *obj, const char *key, size_t klen)
{
    for (size_t i = obj->len; i-- > 0;)
        if (key_is(&obj->u.pairs[i], key, klen))
            return obj->u.pairs[i].val;
    return NULL;
}

/* Objects x (the request's) and y (the schema's) are equal when every pair
 * of x has an equal value under its key in y and every key of y is in x.
 * Values are compared in one direction only: comparing both ways would
 * visit a nested pair twice per level, 2^depth times in all. Checking each
 * pair of x (not each distinct key) makes the request's duplicate keys
 * count: all must agree; y's are read as jv_get reads them, last one wins. */
static int objects_equal(const jv_t *x, const jv_t *y)
{
    for (size_t i = 0; i < x->len; i++) {
        const jv_t *w = member(y, x->u.pairs[i].key, x->u.pairs[i].klen);
        if (!w || !json_equal(x->u.pairs[i].val, w))
            return 0;
    }
    for (size_t i = 0; i < y->len; i++)
        if (!member(x, y->u.pairs[i].key, y->u.pairs[i].klen))
            return 0;
    return 1;
}

/* x is the request's value, y the schema's. Recurses only while both sides
 * nest, so no deeper than the schema's value. */
static int json_equal(const jv_t *x, const jv_t *y)
{
    if (x->type != y->type)
        return 0;
    switch (x->type) {
    case JV_NULL: return 1;
    case JV_BOOL: return !x->boolean == !y->boolean;
    case JV_STRING: return x->len == y->len && memcmp(x->u.str, y->u.str, x->len) == 0;
    case JV_NUMBER: {
        dec_t dx = dec_of(x), dy = dec_of(y);
        return dec_cmp(&dx, &dy) == 0;
    }
    case JV_ARRAY:
        if (x->len != y->len)
            return 0;
        for (size_t i = 0; i < x->len; i++)
            if (!json_equal(x->u.items[i], y->u.items[i]))
                return 0;
        return 1;
    case JV_OBJECT: return objects_equal(x, y);
    }
    return 0;
}

/* ---- paths and messages ------------------------------------------------------ */

typedef struct seg {
    const char *key; /* NULL: an array index */
    size_t klen, idx;
} seg_t;

typedef struct path {
    seg_t seg[PATH_SEGS];
    int n;
} path_t;

static void push_key(path_t *p, const char *key, size_t klen)
{
    if (p->n < PATH_SEGS)
        p->seg[p->n] = (seg_t){key, klen, 0};
    p->n++;
}

static void push_index(path_t *p, size_t idx)
{
    if (p->n < PATH_SEGS)
        p->seg[p->n] = (seg_t){NULL, 0, idx};
    p->n++;
}

static int is_ident(const char *k, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char c = k[i];
        if (!(c == '_' || c == '$' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (i > 0 && c >= '0' && c <= '9')))
            return 0;
    }
    return n > 0;
}

/* Writes the path after whatever b holds: .key, ["other key"], [3]. */
static void put_path(buf_t *b, const path_t *p)
{
    for (int i = 0; i < p->n && i < PATH_SEGS; i++) {
        const seg_t *s = &p->seg[i];
        if (!s->key) {
            buf_printf(b, "[%zu]", s->idx);
        } else if (is_ident(s->key, s->klen)) {
            if (b->len)
                buf_putc(b, '.');
            buf_append(b, s->key, s->klen);
        } else {
            buf_putc(b, '[');
            jv_write_string(b, s->key, s->klen);
            buf_putc(b, ']');
        }
    }
}

static void copy_out(char *out, size_t out_len, const buf_t *b)
{
    if (out && out_len)
        snprintf(out, out_len, "%s", b->data ? b->data : "");
}

/* ---- compiled form ---------------------------------------------------------- */

typedef struct node node_t;
typedef struct rule rule_t;
typedef struct cctx cctx_t;
typedef struct vctx vctx_t;

typedef struct keyword {
    const char *name;
    int (*compile)(cctx_t *c, rule_t *r); /* NULL: an annotation, ignored */
    int (*check)(vctx_t *c, const rule_t *r, const jv_t *v);
    void (*release)(rule_t *r); /* NULL: nothing owned */
} keyword_t;

typedef struct prop {
    const char *key;
    size_t klen;
    node_t *node;
} prop_t;

struct rule {
    const keyword_t *kw;
    const jv_t *val; /* the keyword's value, in the schema's own document */
    union {
        unsigned types;
        dec_t bound;
        size_t count;
        pcre2_code *re;
        node_t *sub; /* items, additionalProperties */
        struct {
            prop_t *v;
            size_t n;
        } props;
    } u;
    const rule_t *declared; /* additionalProperties: the sibling properties rule */
};

struct node {
    int is_false; /* the false schema; otherwise rules[0..n) must all hold */
    rule_t *rules;
    size_t n;
};

struct schema {
    jv_doc_t *doc;
    node_t *root;
    pcre2_match_context *mctx; /* read-only once compiled, so shareable */
};

struct cctx {
    path_t path;
    int depth;
    char *why;
    size_t why_len;
};

struct vctx {
    path_t path;
    char *msg;
    size_t msg_len;
    pcre2_match_data *md; /* created on the first pattern check of a call */
    pcre2_match_context *mctx;
};

static void node_free(node_t *n)
{
    if (!n)
        return;
    for (size_t i = 0; i < n->n; i++)
        if (n->rules[i].kw->release)
            n->rules[i].kw->release(&n->rules[i]);
    free(n->rules);
    free(n);
}

/* ---- compiling ---------------------------------------------------------------- */

static int compile_node(cctx_t *c, const jv_t *s, node_t **out);

__attribute__((format(printf, 2, 3))) static int cfail(cctx_t *c, const char *fmt, ...)
{
    buf_t b = BUF_INIT;
    put_path(&b, &c->path);
    buf_puts(&b, b.len ? ": " : "(root): ");
    va_list ap;
    va_start(ap, fmt);
    buf_vprintf(&b, fmt, ap);
    va_end(ap);
    copy_out(c->why, c->why_len, &b);
    buf_free(&b);
    return -1;
}

/* A type set has bit k for type_names[k]; type_of gives a value's bits. */
static const char *const type_names[] = {"null", "boolean", "object", "array", "number", "string", "integer"};
enum { T_NULL = 1, T_BOOLEAN = 2, T_OBJECT = 4, T_ARRAY = 8, T_NUMBER = 16, T_STRING = 32, T_INTEGER = 64 };
#define NTYPES (sizeof type_names / sizeof type_names[0])

static int add_type(cctx_t *c, const jv_t *name, unsigned *set)
{
    for (size_t k = 0; jv_is(name, JV_STRING) && k < NTYPES; k++) {
        if (strlen(type_names[k]) != name->len || memcmp(type_names[k], name->u.str, name->len) != 0)
            continue;
        if (*set & (1u << k))
            return cfail(c, "duplicate type");
        *set |= 1u << k;
        return 0;
    }
    return cfail(c, "must be one of object, array, string, number, integer, boolean, null");
}

static int c_type(cctx_t *c, rule_t *r)
{
    if (jv_is(r->val, JV_STRING))
        return add_type(c, r->val, &r->u.types);
    if (!jv_is(r->val, JV_ARRAY) || r->val->len == 0)
        return cfail(c, "must be a type name or a non-empty array of type names");
    for (size_t i = 0; i < r->val->len; i++) {
        push_index(&c->path, i);
        int rc = add_type(c, r->val->u.items[i], &r->u.types);
        c->path.n--;
        if (rc)
            return -1;
    }
    return 0;
}

static int c_enum(cctx_t *c, rule_t *r)
{
    return jv_is(r->val, JV_ARRAY) && r->val->len ? 0 : cfail(c, "must be a non-empty array");
}

static int c_const(cctx_t *c, rule_t *r)
{
    (void)c, (void)r;
    return 0;
}

static int c_bound(cctx_t *c, rule_t *r)
{
    if (!jv_is(r->val, JV_NUMBER))
        return cfail(c, "must be a number");
    r->u.bound = dec_of(r->val);
    return 0;
}

static int c_count(cctx_t *c, rule_t *r)
{
    dec_t d = jv_is(r->val, JV_NUMBER) ? dec_of(r->val) : (dec_t){.neg = 1};
    if (d.neg || !dec_is_int(&d))
        return cfail(c, "must be a non-negative integer");
    r->u.count = dec_to_size(&d);
    return 0;
}

static int c_pattern(cctx_t *c, rule_t *r)
{
    if (!jv_is(r->val, JV_STRING))
        return cfail(c, "must be a string");
    int err;
    PCRE2_SIZE off;
    r->u.re = pcre2_compile((PCRE2_SPTR)r->val->u.str, r->val->len, PATTERN_OPTIONS, &err, &off, NULL);
    if (r->u.re)
        return 0;
    PCRE2_UCHAR text[160];
    if (pcre2_get_error_message(err, text, sizeof text) < 0)
        snprintf((char *)text, sizeof text, "error %d", err);
    return cfail(c, "invalid regular expression at offset %zu: %s", (size_t)off, (const char *)text);
}

static void r_pattern(rule_t *r)
{
    pcre2_code_free(r->u.re);
}

/* Whether pair i of obj repeats the key of an earlier pair. */
static int key_repeated(const jv_t *obj, size_t i)
{
    for (size_t j = 0; j < i; j++)
        if (key_is(&obj->u.pairs[j], obj->u.pairs[i].key, obj->u.pairs[i].klen))
            return 1;
    return 0;
}

static int c_required(cctx_t *c, rule_t *r)
{
    if (!jv_is(r->val, JV_ARRAY))
        return cfail(c, "must be an array of property names");
    for (size_t i = 0; i < r->val->len; i++) {
        const jv_t *name = r->val->u.items[i];
        push_index(&c->path, i);
        int rc = !jv_is(name, JV_STRING) ? cfail(c, "must be a string") : 0;
        for (size_t j = 0; j < i && !rc; j++)
            if (json_equal(name, r->val->u.items[j]))
                rc = cfail(c, "duplicate property name");
        c->path.n--;
        if (rc)
            return -1;
    }
    return 0;
}

static int c_properties(cctx_t *c, rule_t *r)
{
    if (!jv_is(r->val, JV_OBJECT))
        return cfail(c, "must be an object of schemas");
    r->u.props.n = r->val->len;
    r->u.props.v = xcalloc(r->val->len ? r->val->len : 1, sizeof *r->u.props.v);
    for (size_t i = 0; i < r->val->len; i++) {
        const jv_pair_t *p = &r->val->u.pairs[i];
        prop_t *prop = &r->u.props.v[i];
        prop->key = p->key;
        prop->klen = p->klen;
        push_key(&c->path, p->key, p->klen);
        int rc = key_repeated(r->val, i) ? cfail(c, "property declared twice") : compile_node(c, p->val, &prop->node);
        c->path.n--;
        if (rc)
            return -1;
    }
    return 0;
}

static void r_properties(rule_t *r)
{
    for (size_t i = 0; i < r->u.props.n; i++)
        node_free(r->u.props.v[i].node);
    free(r->u.props.v);
}

static int c_subschema(cctx_t *c, rule_t *r)
{
    return compile_node(c, r->val, &r->u.sub);
}

static void r_subschema(rule_t *r)
{
    node_free(r->u.sub);
}

/* ---- checking ------------------------------------------------------------------ */

static int check_node(vctx_t *c, const node_t *n, const jv_t *v);

/* Records "path: what (keyword)" and returns -1. */
__attribute__((format(printf, 3, 4))) static int vfail(vctx_t *c, const char *keyword, const char *fmt, ...)
{
    if (!c->msg || !c->msg_len)
        return -1;
    buf_t b = BUF_INIT;
    buf_putc(&b, '$');
    put_path(&b, &c->path);
    buf_puts(&b, ": ");
    va_list ap;
    va_start(ap, fmt);
    buf_vprintf(&b, fmt, ap);
    va_end(ap);
    buf_printf(&b, " (%s)", keyword);
    copy_out(c->msg, c->msg_len, &b);
    buf_free(&b);
    return -1;
}

static unsigned type_of(const jv_t *v)
{
    switch (v->type) {
    case JV_NULL: return T_NULL;
    case JV_BOOL: return T_BOOLEAN;
    case JV_OBJECT: return T_OBJECT;
    case JV_ARRAY: return T_ARRAY;
    case JV_STRING: return T_STRING;
    case JV_NUMBER: {
        dec_t d = dec_of(v);
        return T_NUMBER | (v->is_int || dec_is_int(&d) ? T_INTEGER : 0);
    }
    }
    return 0;
}

/* "a", "a or b", "a, b or c": the type names as the schema wrote them. */
static void put_type_list(buf_t *b, const jv_t *t)
{
    size_t n = jv_is(t, JV_ARRAY) ? t->len : 1;
    for (size_t i = 0; i < n; i++) {
        const jv_t *name = jv_is(t, JV_ARRAY) ? t->u.items[i] : t;
        buf_puts(b, i == 0 ? "" : i + 1 < n ? ", " : " or ");
        buf_append(b, name->u.str, name->len);
    }
}

static int v_type(vctx_t *c, const rule_t *r, const jv_t *v)
{
    if (type_of(v) & r->u.types)
        return 0;
    buf_t list = BUF_INIT;
    put_type_list(&list, r->val);
    int rc = vfail(c, r->kw->name, "must be %s", list.data);
    buf_free(&list);
    return rc;
}

static int v_enum(vctx_t *c, const rule_t *r, const jv_t *v)
{
    for (size_t i = 0; i < r->val->len; i++)
        if (json_equal(v, r->val->u.items[i]))
            return 0;
    buf_t list = BUF_INIT;
    for (size_t i = 0; i < r->val->len; i++) {
        buf_puts(&list, i ? ", " : "");
        jv_write(r->val->u.items[i], &list);
    }
    int rc = vfail(c, r->kw->name, "must be one of %s", list.data);
    buf_free(&list);
    return rc;
}

static int v_const(vctx_t *c, const rule_t *r, const jv_t *v)
{
    if (json_equal(v, r->val))
        return 0;
    buf_t want = BUF_INIT;
    jv_write(r->val, &want);
    int rc = vfail(c, r->kw->name, "must be %s", want.data);
    buf_free(&want);
    return rc;
}

/* Compares a number v with the rule's bound; 0 (no verdict) for non-numbers. */
static int vs_bound(const jv_t *v, const rule_t *r, int *cmp)
{
    if (!jv_is(v, JV_NUMBER))
        return 0;
    dec_t d = dec_of(v);
    *cmp = dec_cmp(&d, &r->u.bound);
    return 1;
}

#define BOUND_TEXT(r) (int)(r)->val->len, (r)->val->u.str

static int v_minimum(vctx_t *c, const rule_t *r, const jv_t *v)
{
    int cmp;
    return vs_bound(v, r, &cmp) && cmp < 0 ? vfail(c, r->kw->name, "must be at least %.*s", BOUND_TEXT(r)) : 0;
}

static int v_maximum(vctx_t *c, const rule_t *r, const jv_t *v)
{
    int cmp;
    return vs_bound(v, r, &cmp) && cmp > 0 ? vfail(c, r->kw->name, "must be at most %.*s", BOUND_TEXT(r)) : 0;
}

static int v_exclusive_minimum(vctx_t *c, const rule_t *r, const jv_t *v)
{
    int cmp;
    return vs_bound(v, r, &cmp) && cmp <= 0 ? vfail(c, r->kw->name, "must be more than %.*s", BOUND_TEXT(r)) : 0;
}

static int v_exclusive_maximum(vctx_t *c, const rule_t *r, const jv_t *v)
{
    int cmp;
    return vs_bound(v, r, &cmp) && cmp >= 0 ? vfail(c, r->kw->name, "must be less than %.*s", BOUND_TEXT(r)) : 0;
}

#define PLURAL(n) ((n) == 1 ? "" : "s")

/* Code points of UTF-8 text: every byte that is not a continuation byte. */
static size_t utf8_length(const char *s, size_t n)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        k += ((unsigned char)s[i] & 0xC0) != 0x80;
    return k;
}

static int v_min_length(vctx_t *c, const rule_t *r, const jv_t *v)
{
    if (!jv_is(v, JV_STRING) || utf8_length(v->u.str, v->len) >= r->u.count)
        return 0;
    return vfail(c, r->kw->name, "must be at least %zu character%s long", r->u.count, PLURAL(r->u.count));
}

static int v_max_length(vctx_t *c, const rule_t *r, const jv_t *v)
{
    if (!jv_is(v, JV_STRING) || utf8_length(v->u.str, v->len) <= r->u.count)
        return 0;
    return vfail(c, r->kw->name, "must be at most %zu character%s long", r->u.count, PLURAL(r->u.count));
}

static int v_pattern(vctx_t *c, const rule_t *r, const jv_t *v)
{
    if (!jv_is(v, JV_STRING))
        return 0;
    /* One pair of offsets is enough: only whether it matches counts (rc 0
     * means a match whose groups did not fit). */
    if (!c->md && !(c->md = pcre2_match_data_create(1, NULL)))
        util_fatal("out of memory (pcre2 match data)");
    int rc = pcre2_match(r->u.re, (PCRE2_SPTR)v->u.str, v->len, 0, 0, c->md, c->mctx);
    if (rc >= 0)
        return 0;
    buf_t pat = BUF_INIT;
    jv_write_string(&pat, r->val->u.str, r->val->len);
    if (rc == PCRE2_ERROR_NOMATCH) {
        vfail(c, r->kw->name, "must match %s", pat.data);
    } else {
        PCRE2_UCHAR text[160];
        if (pcre2_get_error_message(rc, text, sizeof text) < 0)
            snprintf((char *)text, sizeof text, "error %d", rc);
        vfail(c, r->kw->name, "could not be matched against %s: %s", pat.data, (const char *)text);
    }
    buf_free(&pat);
    return -1;
}

static int v_min_items(vctx_t *c, const rule_t *r, const jv_t *v)
{
    if (!jv_is(v, JV_ARRAY) || v->len >= r->u.count)
        return 0;
    return vfail(c, r->kw->name, "must have at least %zu item%s", r->u.count, PLURAL(r->u.count));
}

static int v_max_items(vctx_t *c, const rule_t *r, const jv_t *v)
{
    if (!jv_is(v, JV_ARRAY) || v->len <= r->u.count)
        return 0;
    return vfail(c, r->kw->name, "must have at most %zu item%s", r->u.count, PLURAL(r->u.count));
}

static int v_items(vctx_t *c, const rule_t *r, const jv_t *v)
{
    for (size_t i = 0; jv_is(v, JV_ARRAY) && i < v->len; i++) {
        push_index(&c->path, i);
        int rc = check_node(c, r->u.sub, v->u.items[i]);
        c->path.n--;
        if (rc)
            return -1;
    }
    return 0;
}

static int v_required(vctx_t *c, const rule_t *r, const jv_t *v)
{
    for (size_t i = 0; jv_is(v, JV_OBJECT) && i < r->val->len; i++) {
        const jv_t *name = r->val->u.items[i];
        if (member(v, name->u.str, name->len))
            continue;
        push_key(&c->path, name->u.str, name->len);
        vfail(c, r->kw->name, "required property missing");
        c->path.n--;
        return -1;
    }
    return 0;
}

/* Checks the value of pair p of the object being validated against n. */
static int check_member(vctx_t *c, const node_t *n, const jv_pair_t *p)
{
    push_key(&c->path, p->key, p->klen);
    int rc = check_node(c, n, p->val);
    c->path.n--;
    return rc;
}

static int v_properties(vctx_t *c, const rule_t *r, const jv_t *v)
{
    for (size_t i = 0; jv_is(v, JV_OBJECT) && i < r->u.props.n; i++) {
        const prop_t *prop = &r->u.props.v[i];
        for (size_t j = 0; j < v->len; j++)
            if (key_is(&v->u.pairs[j], prop->key, prop->klen) && check_member(c, prop->node, &v->u.pairs[j]))
                return -1;
    }
    return 0;
}

static int is_declared(const rule_t *props, const jv_pair_t *p)
{
    for (size_t i = 0; props && i < props->u.props.n; i++)
        if (key_is(p, props->u.props.v[i].key, props->u.props.v[i].klen))
            return 1;
    return 0;
}

static int v_additional(vctx_t *c, const rule_t *r, const jv_t *v)
{
    for (size_t j = 0; jv_is(v, JV_OBJECT) && j < v->len; j++) {
        const jv_pair_t *p = &v->u.pairs[j];
        if (is_declared(r->declared, p))
            continue;
        if (!r->u.sub->is_false) {
            if (check_member(c, r->u.sub, p))
                return -1;
            continue;
        }
        push_key(&c->path, p->key, p->klen);
        vfail(c, r->kw->name, "property not allowed");
        c->path.n--;
        return -1;
    }
    return 0;
}

static int check_node(vctx_t *c, const node_t *n, const jv_t *v)
{
    if (n->is_false)
        return vfail(c, "false schema", "not allowed");
    for (size_t i = 0; i < n->n; i++)
        if (n->rules[i].kw->check(c, &n->rules[i], v))
            return -1;
    return 0;
}

/* ---- the keyword table and the compiler's walk ------------------------------------ */

static const keyword_t keywords[] = {
    {"type", c_type, v_type, NULL},
    {"enum", c_enum, v_enum, NULL},
    {"const", c_const, v_const, NULL},
    {"minimum", c_bound, v_minimum, NULL},
    {"maximum", c_bound, v_maximum, NULL},
    {"exclusiveMinimum", c_bound, v_exclusive_minimum, NULL},
    {"exclusiveMaximum", c_bound, v_exclusive_maximum, NULL},
    {"minLength", c_count, v_min_length, NULL},
    {"maxLength", c_count, v_max_length, NULL},
    {"pattern", c_pattern, v_pattern, r_pattern},
    {"items", c_subschema, v_items, r_subschema},
    {"minItems", c_count, v_min_items, NULL},
    {"maxItems", c_count, v_max_items, NULL},
    {"properties", c_properties, v_properties, r_properties},
    {"required", c_required, v_required, NULL},
    {"additionalProperties", c_subschema, v_additional, r_subschema},
    {"$schema", NULL, NULL, NULL},
    {"$id", NULL, NULL, NULL},
    {"$comment", NULL, NULL, NULL},
    {"title", NULL, NULL, NULL},
    {"description", NULL, NULL, NULL},
    {"examples", NULL, NULL, NULL},
    {"default", NULL, NULL, NULL},
};

static const keyword_t *keyword_find(const char *name, size_t len)
{
    for (size_t i = 0; i < sizeof keywords / sizeof keywords[0]; i++)
        if (strlen(keywords[i].name) == len && memcmp(keywords[i].name, name, len) == 0)
            return &keywords[i];
    return NULL;
}

/* Compiles pair i of schema object s into the next rule of n. A rule is
 * counted in n before it compiles, so that node_free releases whatever a
 * failed compile left half built. */
static int compile_keyword(cctx_t *c, node_t *n, const jv_t *s, size_t i)
{
    const jv_pair_t *p = &s->u.pairs[i];
    const keyword_t *kw = keyword_find(p->key, p->klen);
    push_key(&c->path, p->key, p->klen);
    int rc = 0;
    if (!kw) {
        rc = cfail(c, "unsupported keyword");
    } else if (key_repeated(s, i)) {
        rc = cfail(c, "duplicate keyword");
    } else if (kw->compile) {
        rule_t *r = &n->rules[n->n++];
        r->kw = kw;
        r->val = p->val;
        rc = kw->compile(c, r);
    }
    c->path.n--;
    return rc;
}

/* additionalProperties needs the names its sibling properties declares. */
static void link_declared(node_t *n)
{
    const rule_t *props = NULL;
    for (size_t i = 0; i < n->n; i++)
        if (n->rules[i].kw->compile == c_properties)
            props = &n->rules[i];
    for (size_t i = 0; i < n->n; i++)
        if (n->rules[i].kw->check == v_additional)
            n->rules[i].declared = props;
}

/* Compiles schema s into *out, which is set (possibly half built) even on failure. */
static int compile_node(cctx_t *c, const jv_t *s, node_t **out)
{
    node_t *n = *out = xcalloc(1, sizeof *n);
    if (c->depth >= SCHEMA_MAX_DEPTH)
        return cfail(c, "schema nested deeper than %d levels", SCHEMA_MAX_DEPTH);
    if (jv_is(s, JV_BOOL)) {
        n->is_false = !s->boolean;
        return 0;
    }
    if (!jv_is(s, JV_OBJECT))
        return cfail(c, "must be a schema (an object or a boolean)");
    n->rules = xcalloc(s->len ? s->len : 1, sizeof *n->rules);
    c->depth++;
    int rc = 0;
    for (size_t i = 0; i < s->len && !rc; i++)
        rc = compile_keyword(c, n, s, i);
    c->depth--;
    link_declared(n);
    return rc;
}

/* ---- the interface ------------------------------------------------------------------ */

schema_t *schema_compile(const jv_t *doc, char *why, size_t why_len)
{
    cctx_t c = {.why = why, .why_len = why_len};
    if (why && why_len)
        why[0] = '\0';
    if (!doc) {
        cfail(&c, "no schema");
        return NULL;
    }
    schema_t *s = xcalloc(1, sizeof *s);
    s->doc = jv_doc_new_small();
    if (compile_node(&c, jv_copy(s->doc, doc), &s->root)) {
        schema_free(s);
        return NULL;
    }
    if (!(s->mctx = pcre2_match_context_create(NULL)))
        util_fatal("out of memory (pcre2 match context)");
    pcre2_set_match_limit(s->mctx, MATCH_LIMIT);
    return s;
}

int schema_validate(const schema_t *s, const jv_t *v, char *msg, size_t msg_len)
{
    vctx_t c = {.msg = msg, .msg_len = msg_len, .mctx = s->mctx};
    if (msg && msg_len)
        msg[0] = '\0';
    int rc = check_node(&c, s->root, v);
    pcre2_match_data_free(c.md);
    return rc;
}

void schema_free(schema_t *s)
{
    if (!s)
        return;
    node_free(s->root);
    pcre2_match_context_free(s->mctx);
    jv_doc_free(s->doc);
    free(s);
}
