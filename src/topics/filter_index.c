/*
 * filter_index — matching: messages flattened for matching, the evaluation
 * of compiled filters (see filter.h for the compiled form and filter.c for
 * compiling), and filter sets that index many filters by anchor values.
 *
 * A flattened message (filter__msg_t) owns arrays that are reused from one
 * message to the next: the leaf values, each linked to the next value of the
 * same path, and an open-addressing table from path to its first value
 * whose slots are invalidated by bumping a generation number, so loading a
 * message costs what the message holds, not what the largest one held.
 * Values point into the caller's input or into the message's jv document.
 *
 * A filter set keeps, per scope, a hash from anchor key (a path and an exact
 * value, hashed together) to the branches anchored there, and a list of the
 * branches without an anchor. Matching loads the message once per scope,
 * probes the hash once per leaf value of the message and evaluates the
 * branches found there and the unanchored ones; generation stamps make each
 * branch evaluated and each filter reported at most once per message.
 */
#include "topics/filter.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "util/alloc.h"
#include "util/buf.h"
#include "util/hmap.h"

#define VEC_PUSH FILTER__PUSH

void *filter__grow(void *p, size_t *cap, size_t elem)
{
    *cap = *cap ? *cap * 2 : 8;
    return xrealloc(p, *cap * elem);
}

static int is_digit(int c)
{
    return c >= '0' && c <= '9';
}

int filter__hexval(int c)
{
    return is_digit(c) ? c - '0' : (c >= 'a' && c <= 'f') ? c - 'a' + 10 : (c >= 'A' && c <= 'F') ? c - 'A' + 10 : -1;
}

/* ---- numbers ------------------------------------------------------------------- */

int filter__number_fx(double d, int64_t *fx)
{
    if (!(d >= -1e9 && d <= 1e9))
        return 0;
    double x = d * 1e6;
    *fx = (int64_t)(x < 0 ? x - 0.5 : x + 0.5); /* rounded; no libm in the link */
    return 1;
}

int filter__number_parse(const char *s, size_t n, double *d)
{
    size_t i = 0, digits = 0;
    if (n && (s[i] == '+' || s[i] == '-'))
        i++;
    for (; i < n && is_digit(s[i]); i++)
        digits++;
    if (i < n && s[i] == '.')
        for (i++; i < n && is_digit(s[i]); i++)
            digits++;
    if (!digits)
        return 0;
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        size_t e = ++i;
        if (i < n && (s[i] == '+' || s[i] == '-'))
            e = ++i;
        while (i < n && is_digit(s[i]))
            i++;
        if (i == e)
            return 0;
    }
    if (i != n)
        return 0;
    char tmp[128], *copy = n < sizeof tmp ? tmp : xmalloc(n + 1);
    memcpy(copy, s, n);
    copy[n] = '\0';
    *d = strtod(copy, NULL);
    if (copy != tmp)
        free(copy);
    return 1;
}

/* ---- IP addresses ---------------------------------------------------------------- */

/* Four dotted decimal parts ([0-9]+ each, as ruler's pattern has it). */
static int ip4_parse(const char *s, size_t n, uint8_t out[16])
{
    size_t i = 0;
    int bad = 0;
    for (int part = 0; part < 4; part++) {
        unsigned v = 0;
        size_t from = i;
        for (; i < n && is_digit(s[i]); i++)
            if (v <= 255)
                v = v * 10 + (unsigned)(s[i] - '0');
        if (i == from)
            return 0;
        if (part < 3 && (i >= n || s[i++] != '.'))
            return 0;
        bad |= v > 255;
        out[part] = (uint8_t)v;
    }
    return i != n ? 0 : bad ? -1 : 4;
}

/* Only hex digits and colons, at least one colon (ruler's pattern). */
static int ip6_looks(const char *s, size_t n)
{
    int colon = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == ':')
            colon = 1;
        else if (filter__hexval((unsigned char)s[i]) < 0)
            return 0;
    }
    return colon;
}

/* Groups of 1-4 hex digits, at most one "::". */
static int ip6_groups(const char *s, size_t n, uint16_t g[8], int *ng, int *gap)
{
    size_t i = 0;
    *ng = 0;
    *gap = -1;
    if (n >= 2 && s[0] == ':' && s[1] == ':') {
        *gap = 0;
        i = 2;
    } else if (n && s[0] == ':') {
        return -1;
    }
    while (i < n) {
        unsigned v = 0;
        size_t from = i;
        for (; i < n && s[i] != ':'; i++)
            v = v * 16 + (unsigned)filter__hexval((unsigned char)s[i]);
        if (i == from || i - from > 4 || *ng == 8)
            return -1;
        g[(*ng)++] = (uint16_t)v;
        if (i == n)
            break;
        if (++i == n)
            return -1; /* a trailing single ':' */
        if (s[i] == ':') {
            if (*gap >= 0)
                return -1;
            *gap = *ng;
            i++;
        }
    }
    return (*gap < 0 && *ng != 8) || (*gap >= 0 && *ng > 7) ? -1 : 0;
}

static int ip6_parse(const char *s, size_t n, uint8_t out[16])
{
    static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    uint16_t g[8];
    int ng, gap;
    if (ip6_groups(s, n, g, &ng, &gap) < 0)
        return -1;
    memset(out, 0, 16);
    for (int k = 0; k < ng; k++) {
        int at = (gap >= 0 && k >= gap) ? 8 - (ng - gap) + (k - gap) : k;
        out[2 * at] = (uint8_t)(g[k] >> 8);
        out[2 * at + 1] = (uint8_t)g[k];
    }
    if (memcmp(out, mapped, 12) == 0) { /* Java reads an IPv4-mapped address as IPv4 */
        memmove(out, out + 12, 4);
        return 4;
    }
    return 16;
}

int filter__ip_parse(const char *s, size_t n, uint8_t out[16])
{
    int r = ip4_parse(s, n, out);
    if (r)
        return r;
    return ip6_looks(s, n) ? ip6_parse(s, n, out) : 0;
}

/* ---- hashing ----------------------------------------------------------------------- */

static uint64_t mix64(uint64_t x)
{
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

/* A per-process seed, so that hash collisions cannot be planned. */
static uint64_t hash_seed(void)
{
    static _Atomic uint64_t seed;
    uint64_t s = atomic_load_explicit(&seed, memory_order_relaxed);
    if (!s) {
        s = hmap_hash("sluice-filter", 13) | 1;
        atomic_store_explicit(&seed, s, memory_order_relaxed);
    }
    return s;
}

uint64_t filter__hash_more(uint64_t h, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) {
        h ^= b[i];
        h *= 0x100000001b3ull;
    }
    return h;
}

uint64_t filter__hash(const void *p, size_t n)
{
    return filter__hash_more(0xcbf29ce484222325ull ^ hash_seed(), p, n);
}

uint64_t filter__value_key(uint64_t path_hash, int kind, const char *s, size_t len, int has_fx, int64_t fx)
{
    uint64_t h = (uint64_t)kind;
    if (kind == FILTER__V_STR || (kind == FILTER__V_NUM && !has_fx))
        h = filter__hash(s, len) + (uint64_t)kind;
    else if (kind == FILTER__V_NUM)
        h = mix64((uint64_t)fx) ^ 0x6e756dull;
    return mix64(path_hash ^ mix64(h + 0x9e3779b97f4a7c15ull));
}

/* ---- flattened messages ---------------------------------------------------------- */

typedef struct mval {
    const char *s;             /* string bytes, or the number's text */
    size_t len;
    int64_t fx;
    uint64_t key;              /* filter__value_key */
    uint32_t next;             /* next value of the same path, or FILTER__NONE */
    uint8_t kind, has_fx;      /* filter__vkind_t */
    int8_t iplen;              /* 0 not parsed yet, -1 not an address, 4 or 16 */
    uint8_t ip[16];
} mval_t;

typedef struct mpath {
    uint64_t hash;
    const char *s;             /* the attribute name, or NULL: names.data + off */
    uint32_t off, len;
    uint32_t head;             /* first value */
} mpath_t;

struct filter__msg {
    mval_t *v;
    size_t nv, capv;
    mpath_t *p;
    size_t np, capp;
    uint32_t *slot, *sgen;     /* path table: path index, valid when sgen == gen */
    size_t scap;
    uint32_t gen;
    buf_t cur;                 /* the path being flattened */
    buf_t names;               /* body paths */
    jv_doc_t *doc;             /* the parsed body, String.Array values */
};

filter__msg_t *filter__msg_new(void)
{
    return xcalloc(1, sizeof(filter__msg_t));
}

void filter__msg_free(filter__msg_t *m)
{
    if (!m)
        return;
    free(m->v);
    free(m->p);
    free(m->slot);
    free(m->sgen);
    buf_free(&m->cur);
    buf_free(&m->names);
    if (m->doc)
        jv_doc_free(m->doc);
    free(m);
}

static const char *path_text(const filter__msg_t *m, const mpath_t *p)
{
    return p->s ? p->s : m->names.data ? m->names.data + p->off : "";
}

static int same_bytes(const char *a, const char *b, size_t n)
{
    return n == 0 || memcmp(a, b, n) == 0;
}

/* The table slot of a path: where it is, or the empty slot where it would go. */
static size_t slot_of(const filter__msg_t *m, uint64_t hash, const char *s, size_t len)
{
    size_t mask = m->scap - 1, i = (size_t)mix64(hash) & mask;
    for (;; i = (i + 1) & mask) {
        if (m->sgen[i] != m->gen)
            return i;
        const mpath_t *p = &m->p[m->slot[i]];
        if (p->hash == hash && p->len == len && same_bytes(path_text(m, p), s, len))
            return i;
    }
}

static void table_grow(filter__msg_t *m)
{
    size_t cap = m->scap ? m->scap * 2 : 64;
    free(m->slot);
    free(m->sgen);
    m->slot = xmalloc(cap * sizeof *m->slot);
    m->sgen = xcalloc(cap, sizeof *m->sgen);
    m->scap = cap;
    m->gen = 1;
    for (size_t k = 0; k < m->np; k++) {
        size_t i = slot_of(m, m->p[k].hash, path_text(m, &m->p[k]), m->p[k].len);
        m->slot[i] = (uint32_t)k;
        m->sgen[i] = m->gen;
    }
}

static void msg_reset(filter__msg_t *m)
{
    m->nv = m->np = 0;
    m->names.len = 0;
    if (++m->gen == 0) {
        if (m->sgen)
            memset(m->sgen, 0, m->scap * sizeof *m->sgen);
        m->gen = 1;
    }
    if (m->doc) {
        jv_doc_free(m->doc);
        m->doc = NULL;
    }
}

/* The path's index, added when new (name: the attribute name to point at,
 * or NULL to copy s into names). */
static uint32_t path_get(filter__msg_t *m, uint64_t hash, const char *s, size_t len, const char *name)
{
    if ((m->np + 1) * 2 > m->scap)
        table_grow(m);
    size_t i = slot_of(m, hash, s, len);
    if (m->sgen[i] == m->gen)
        return m->slot[i];
    mpath_t *p = VEC_PUSH(m->p, m->np, m->capp);
    p->hash = hash;
    p->s = name;
    p->len = (uint32_t)len;
    p->off = (uint32_t)m->names.len;
    p->head = FILTER__NONE;
    if (!name)
        buf_append(&m->names, s, len);
    m->slot[i] = (uint32_t)(m->np - 1);
    m->sgen[i] = m->gen;
    return (uint32_t)(m->np - 1);
}

static void value_add(filter__msg_t *m, uint32_t path, int kind, const char *s, size_t len)
{
    mval_t *v = VEC_PUSH(m->v, m->nv, m->capv);
    mpath_t *p = &m->p[path];
    double d;
    v->kind = (uint8_t)kind;
    v->s = s;
    v->len = len;
    v->fx = 0;
    v->has_fx = (uint8_t)(kind == FILTER__V_NUM && filter__number_parse(s, len, &d) && filter__number_fx(d, &v->fx));
    v->iplen = 0;
    v->key = filter__value_key(p->hash, kind, s, len, v->has_fx, v->fx);
    v->next = p->head;
    p->head = (uint32_t)(m->nv - 1);
}

static void value_json(filter__msg_t *m, uint32_t path, const jv_t *v)
{
    switch (v->type) {
    case JV_NULL: value_add(m, path, FILTER__V_NULL, NULL, 0); break;
    case JV_BOOL: value_add(m, path, v->boolean ? FILTER__V_TRUE : FILTER__V_FALSE, NULL, 0); break;
    case JV_NUMBER: value_add(m, path, FILTER__V_NUM, v->u.str, v->len); break;
    case JV_STRING: value_add(m, path, FILTER__V_STR, v->u.str, v->len); break;
    default: break;
    }
}

/* The elements of a String.Array value (nested arrays flattened, objects skipped). */
static void flatten_elements(filter__msg_t *m, uint32_t path, const jv_t *arr)
{
    for (size_t i = 0; i < arr->len; i++) {
        const jv_t *e = arr->u.items[i];
        if (e->type == JV_ARRAY)
            flatten_elements(m, path, e);
        else
            value_json(m, path, e);
    }
}

static void flatten_value(filter__msg_t *m, const jv_t *v, uint64_t hash);

/* Members of a body object under the path in m->cur (hash: its hash). */
static void flatten_object(filter__msg_t *m, const jv_t *obj, uint64_t hash)
{
    size_t save = m->cur.len;
    for (size_t i = 0; i < obj->len; i++) {
        const jv_pair_t *pr = &obj->u.pairs[i];
        uint64_t h = hash;
        if (save) {
            buf_putc(&m->cur, '.');
            h = filter__hash_more(h, ".", 1);
        }
        buf_append(&m->cur, pr->key, pr->klen);
        flatten_value(m, pr->val, filter__hash_more(h, pr->key, pr->klen));
        m->cur.len = save;
    }
}

static void flatten_value(filter__msg_t *m, const jv_t *v, uint64_t hash)
{
    if (v->type == JV_OBJECT) {
        flatten_object(m, v, hash);
    } else if (v->type == JV_ARRAY) {
        for (size_t i = 0; i < v->len; i++)
            flatten_value(m, v->u.items[i], hash);
    } else {
        value_json(m, path_get(m, hash, m->cur.data ? m->cur.data : "", m->cur.len, NULL), v);
    }
}

/* A body: only a JSON object can match. */
static int load_object(filter__msg_t *m, const jv_t *doc)
{
    if (!jv_is(doc, JV_OBJECT))
        return 0;
    m->cur.len = 0;
    flatten_object(m, doc, filter__hash(NULL, 0));
    return 1;
}

int filter__msg_load_json(filter__msg_t *m, const jv_t *doc)
{
    msg_reset(m);
    return load_object(m, doc);
}

int filter__msg_load_body(filter__msg_t *m, const char *body, size_t len)
{
    msg_reset(m);
    if (!body)
        return 0;
    m->doc = jv_doc_new();
    return load_object(m, jv_parse(m->doc, body, len, NULL, 0));
}

static void attr_add(filter__msg_t *m, const filter_attr_t *a)
{
    const char *t = a->type ? a->type : "";
    size_t base = strcspn(t, ".");
    /* AWS's numeric matching page also shows a "Number.Array" attribute: read as an array too */
    int array = strcmp(t, "String.Array") == 0 || strcmp(t, "Number.Array") == 0;
    int str = base == 6 && memcmp(t, "String", 6) == 0, num = base == 6 && memcmp(t, "Number", 6) == 0;
    if (!str && !num) /* Binary and unknown types are ignored */
        return;
    size_t nlen = strlen(a->name);
    uint32_t path = path_get(m, filter__hash(a->name, nlen), a->name, nlen, a->name);
    const char *val = a->value ? a->value : "";
    if (!array) {
        value_add(m, path, num ? FILTER__V_NUM : FILTER__V_STR, val, a->value_len);
        return;
    }
    if (!m->doc)
        m->doc = jv_doc_new();
    const jv_t *arr = jv_parse(m->doc, val, a->value_len, NULL, 0);
    if (jv_is(arr, JV_ARRAY))
        flatten_elements(m, path, arr);
}

int filter__msg_load_attrs(filter__msg_t *m, const filter_attr_t *attrs, size_t n)
{
    msg_reset(m);
    for (size_t i = 0; i < n; i++)
        attr_add(m, &attrs[i]);
    return n > 0; /* AWS: an empty set of attributes matches no filter */
}

static mval_t *msg_find(filter__msg_t *m, const char *s, size_t len, uint64_t hash)
{
    if (!m->scap)
        return NULL;
    size_t i = slot_of(m, hash, s, len);
    if (m->sgen[i] != m->gen)
        return NULL;
    uint32_t head = m->p[m->slot[i]].head;
    return head == FILTER__NONE ? NULL : &m->v[head];
}

static mval_t *msg_next(filter__msg_t *m, const mval_t *v)
{
    return v->next == FILTER__NONE ? NULL : &m->v[v->next];
}

/* ---- evaluation ---------------------------------------------------------------- */

static int ascii_eq_ci(const char *a, const char *b, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char x = (unsigned char)a[i], y = (unsigned char)b[i];
        if (x >= 'A' && x <= 'Z')
            x = (unsigned char)(x + 32);
        if (y >= 'A' && y <= 'Z')
            y = (unsigned char)(y + 32);
        if (x != y)
            return 0;
    }
    return 1;
}

static int in_strs(const filter_t *f, const filter__cond_t *k, const char *s, size_t len)
{
    size_t lo = 0, hi = k->len;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const filter__strref_t *r = &f->strs[k->off + mid];
        int cmp = r->len != len ? (r->len < len ? -1 : 1) : memcmp(f->text + r->off, s, len);
        if (cmp == 0)
            return 1;
        if (cmp < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return 0;
}

static int in_nums(const filter_t *f, const filter__cond_t *k, int64_t fx)
{
    const int64_t *base = f->nums + k->off;
    size_t lo = 0, hi = k->len;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (base[mid] == fx)
            return 1;
        if (base[mid] < fx)
            lo = mid + 1;
        else
            hi = mid;
    }
    return 0;
}

static int in_range(const filter__cond_t *k, int64_t fx)
{
    if (k->has_lo && (k->lo_open ? fx <= k->lo : fx < k->lo))
        return 0;
    if (k->has_hi && (k->hi_open ? fx >= k->hi : fx > k->hi))
        return 0;
    return 1;
}

static int value_ip(mval_t *v)
{
    if (!v->iplen) {
        int r = filter__ip_parse(v->s, v->len, v->ip);
        v->iplen = (int8_t)(r > 0 ? r : -1);
    }
    return v->iplen;
}

static int has_prefix(const mval_t *v, const char *t, size_t n)
{
    return v->kind == FILTER__V_STR && v->len >= n && memcmp(v->s, t, n) == 0;
}

static int has_suffix(const mval_t *v, const char *t, size_t n)
{
    return v->kind == FILTER__V_STR && v->len >= n && memcmp(v->s + v->len - n, t, n) == 0;
}

static int cond_holds(const filter_t *f, const filter__cond_t *k, mval_t *v)
{
    const char *t = f->text + k->off;
    int str = v->kind == FILTER__V_STR, num = v->kind == FILTER__V_NUM, null = v->kind == FILTER__V_NULL;
    switch ((filter__ckind_t)k->kind) {
    case FILTER__C_STR: return str && v->len == k->len && memcmp(v->s, t, k->len) == 0;
    case FILTER__C_NUM:
        return num && ((k->has_fx && v->has_fx && k->fx == v->fx) || (v->len == k->len && memcmp(v->s, t, k->len) == 0));
    case FILTER__C_TRUE: return v->kind == FILTER__V_TRUE;
    case FILTER__C_FALSE: return v->kind == FILTER__V_FALSE;
    case FILTER__C_NULL: return null;
    case FILTER__C_PREFIX: return has_prefix(v, t, k->len);
    case FILTER__C_SUFFIX: return has_suffix(v, t, k->len);
    case FILTER__C_EQIC: return str && v->len == k->len && ascii_eq_ci(v->s, t, k->len);
    case FILTER__C_NUMERIC: return num && v->has_fx && in_range(k, v->fx);
    case FILTER__C_CIDR:
        return str && value_ip(v) == k->iplen && memcmp(v->ip, k->ip_lo, k->iplen) >= 0 &&
               memcmp(v->ip, k->ip_hi, k->iplen) <= 0;
    case FILTER__C_NOT_STRS: return !null && !(str && in_strs(f, k, v->s, v->len));
    case FILTER__C_NOT_NUMS: return !null && !(num && v->has_fx && in_nums(f, k, v->fx));
    case FILTER__C_NOT_PREFIX: return !null && !has_prefix(v, t, k->len);
    case FILTER__C_NOT_SUFFIX: return !null && !has_suffix(v, t, k->len);
    case FILTER__C_EXISTS:
    case FILTER__C_ABSENT: break; /* about the path, not a value: see entry_holds */
    }
    return 0;
}

/* Whether the path has a value that exists:true counts (not null). */
static int present(filter__msg_t *m, mval_t *v)
{
    for (; v; v = msg_next(m, v))
        if (v->kind != FILTER__V_NULL)
            return 1;
    return 0;
}

/* One field: any of its conditions holds for any of the path's values. */
static int entry_holds(const filter_t *f, const filter__entry_t *e, filter__msg_t *m)
{
    const filter__path_t *p = &f->paths[e->path];
    mval_t *first = msg_find(m, f->text + p->off, p->len, p->hash);
    int there = -1;
    for (uint32_t i = 0; i < e->n; i++) {
        const filter__cond_t *k = &f->conds[e->first + i];
        if (k->kind == FILTER__C_EXISTS || k->kind == FILTER__C_ABSENT) {
            if (there < 0)
                there = present(m, first);
            if (there == (k->kind == FILTER__C_EXISTS))
                return 1;
            continue;
        }
        for (mval_t *v = first; v; v = msg_next(m, v))
            if (cond_holds(f, k, v))
                return 1;
    }
    return 0;
}

size_t filter__branches(const filter_t *f)
{
    return f->nbranches;
}

int filter__branch_match(const filter_t *f, size_t b, filter__msg_t *m)
{
    const filter__branch_t *br = &f->branches[b];
    for (uint32_t i = 0; i < br->n; i++)
        if (!entry_holds(f, &f->entries[br->first + i], m))
            return 0;
    return 1;
}

size_t filter__anchor_keys(const filter_t *f, size_t b, uint64_t *keys)
{
    static const int kinds[] = {[FILTER__C_STR] = FILTER__V_STR, [FILTER__C_NUM] = FILTER__V_NUM, [FILTER__C_TRUE] = FILTER__V_TRUE,
                                [FILTER__C_FALSE] = FILTER__V_FALSE, [FILTER__C_NULL] = FILTER__V_NULL};
    const filter__branch_t *br = &f->branches[b];
    if (br->anchor == FILTER__NONE)
        return 0;
    const filter__entry_t *e = &f->entries[br->first + br->anchor];
    const filter__path_t *p = &f->paths[e->path];
    for (uint32_t i = 0; i < e->n; i++) {
        const filter__cond_t *k = &f->conds[e->first + i];
        keys[i] = filter__value_key(p->hash, kinds[k->kind], f->text + k->off, k->len, k->has_fx, k->fx);
    }
    return e->n;
}

/* Matching one filter alone loads the message into a per-thread scratch
 * message (its arrays are kept for the next call, its document is not). */
static _Thread_local filter__msg_t *scratch;

static filter__msg_t *scratch_get(void)
{
    if (!scratch)
        scratch = filter__msg_new();
    return scratch;
}

static int match_loaded(const filter_t *f, filter__msg_t *m, int ok)
{
    int r = 0;
    for (size_t b = 0; ok && !r && b < f->nbranches; b++)
        r = filter__branch_match(f, b, m);
    if (m->doc) {
        jv_doc_free(m->doc);
        m->doc = NULL;
    }
    return r;
}

int filter_match_attrs(const filter_t *f, const filter_attr_t *attrs, size_t n)
{
    if (f->scope != FILTER_SCOPE_ATTRIBUTES)
        return 0;
    filter__msg_t *m = scratch_get();
    return match_loaded(f, m, filter__msg_load_attrs(m, attrs, n));
}

int filter_match_body(const filter_t *f, const char *body, size_t len)
{
    if (f->scope != FILTER_SCOPE_BODY)
        return 0;
    filter__msg_t *m = scratch_get();
    return match_loaded(f, m, filter__msg_load_body(m, body, len));
}

int filter_match_json(const filter_t *f, const jv_t *doc)
{
    if (f->scope != FILTER_SCOPE_BODY)
        return 0;
    filter__msg_t *m = scratch_get();
    return match_loaded(f, m, filter__msg_load_json(m, doc));
}

int filter_match(const filter_t *f, const filter_attr_t *attrs, size_t n, const char *body, size_t len)
{
    return f->scope == FILTER_SCOPE_BODY ? filter_match_body(f, body, len) : filter_match_attrs(f, attrs, n);
}

/* ---- filter sets ------------------------------------------------------------------ */

typedef struct member member_t;

/* One branch of one member, where the index keeps it. */
typedef struct sref {
    member_t *m;
    uint32_t branch;
    uint32_t eval_gen;         /* the match call that last evaluated it */
    size_t pos;                /* index in the unanchored list */
    int anchored;
} sref_t;

struct member {
    uint64_t id;               /* the hmap key points here */
    const filter_t *f;
    uint32_t match_gen;        /* the match call that last reported it */
    sref_t *refs;
    size_t nrefs;
};

typedef struct bucket {
    uint64_t key;              /* the hmap key points here */
    sref_t **v;
    size_t n, cap;
} bucket_t;

typedef struct sindex {
    hmap_t buckets;            /* anchor key -> bucket_t */
    sref_t **loose;            /* branches without an anchor */
    size_t nloose, caploose;
    size_t members;
    filter__msg_t *msg;
} sindex_t;

struct filter_set {
    hmap_t byid;               /* id -> member_t */
    sindex_t idx[2];           /* by filter_scope_t */
    uint32_t gen;
    size_t count;
    uint64_t keys[FILTER_MAX_COMBINATIONS];
};

void filter_ids_free(filter_ids_t *ids)
{
    free(ids->ids);
    ids->ids = NULL;
    ids->n = ids->cap = 0;
}

static void ids_push(filter_ids_t *ids, uint64_t id)
{
    *VEC_PUSH(ids->ids, ids->n, ids->cap) = id;
}

filter_set_t *filter_set_new(void)
{
    filter_set_t *s = xcalloc(1, sizeof *s);
    hmap_init(&s->byid);
    for (int k = 0; k < 2; k++) {
        hmap_init(&s->idx[k].buckets);
        s->idx[k].msg = filter__msg_new();
    }
    return s;
}

static void member_free(member_t *m)
{
    free(m->refs);
    free(m);
}

void filter_set_free(filter_set_t *s)
{
    if (!s)
        return;
    void *val;
    for (size_t i = 0; hmap_next(&s->byid, &i, &val);)
        member_free(val);
    hmap_free(&s->byid);
    for (int k = 0; k < 2; k++) {
        for (size_t i = 0; hmap_next(&s->idx[k].buckets, &i, &val);) {
            free(((bucket_t *)val)->v);
            free(val);
        }
        hmap_free(&s->idx[k].buckets);
        free(s->idx[k].loose);
        filter__msg_free(s->idx[k].msg);
    }
    free(s);
}

size_t filter_set_count(const filter_set_t *s)
{
    return s->count;
}

static void bucket_add(sindex_t *x, uint64_t key, sref_t *r)
{
    bucket_t *b = hmap_get(&x->buckets, &key, sizeof key);
    if (!b) {
        b = xcalloc(1, sizeof *b);
        b->key = key;
        hmap_put(&x->buckets, &b->key, sizeof b->key, b);
    }
    *VEC_PUSH(b->v, b->n, b->cap) = r;
}

static void bucket_remove(sindex_t *x, uint64_t key, const sref_t *r)
{
    bucket_t *b = hmap_get(&x->buckets, &key, sizeof key);
    for (size_t i = 0; b && i < b->n; i++) {
        if (b->v[i] != r)
            continue;
        b->v[i] = b->v[--b->n];
        if (b->n == 0) {
            hmap_del(&x->buckets, &b->key, sizeof b->key);
            free(b->v);
            free(b);
        }
        return;
    }
}

void filter_set_add(filter_set_t *s, const filter_t *f, uint64_t id)
{
    filter_set_remove(s, id);
    sindex_t *x = &s->idx[filter_scope(f)];
    member_t *m = xcalloc(1, sizeof *m);
    m->id = id;
    m->f = f;
    m->nrefs = filter__branches(f);
    m->refs = xcalloc(m->nrefs, sizeof *m->refs);
    for (size_t b = 0; b < m->nrefs; b++) {
        sref_t *r = &m->refs[b];
        size_t nk = filter__anchor_keys(f, b, s->keys);
        r->m = m;
        r->branch = (uint32_t)b;
        r->anchored = nk > 0;
        for (size_t k = 0; k < nk; k++)
            bucket_add(x, s->keys[k], r);
        if (!nk) {
            r->pos = x->nloose;
            *VEC_PUSH(x->loose, x->nloose, x->caploose) = r;
        }
    }
    hmap_put(&s->byid, &m->id, sizeof m->id, m);
    x->members++;
    s->count++;
}

void filter_set_remove(filter_set_t *s, uint64_t id)
{
    member_t *m = hmap_del(&s->byid, &id, sizeof id);
    if (!m)
        return;
    sindex_t *x = &s->idx[filter_scope(m->f)];
    for (size_t b = 0; b < m->nrefs; b++) {
        sref_t *r = &m->refs[b];
        size_t nk = filter__anchor_keys(m->f, b, s->keys);
        for (size_t k = 0; k < nk; k++)
            bucket_remove(x, s->keys[k], r);
        if (!r->anchored) {
            x->loose[r->pos] = x->loose[--x->nloose];
            x->loose[r->pos]->pos = r->pos;
        }
    }
    x->members--;
    s->count--;
    member_free(m);
}

/* A new match call: stamps older than this one no longer count. */
static void next_gen(filter_set_t *s)
{
    if (++s->gen != 0)
        return;
    void *val;
    for (size_t i = 0; hmap_next(&s->byid, &i, &val);) {
        member_t *m = val;
        m->match_gen = 0;
        for (size_t b = 0; b < m->nrefs; b++)
            m->refs[b].eval_gen = 0;
    }
    s->gen = 1;
}

static void try_ref(filter_set_t *s, sref_t *r, filter__msg_t *msg, filter_ids_t *out)
{
    member_t *m = r->m;
    if (m->match_gen == s->gen || r->eval_gen == s->gen)
        return;
    r->eval_gen = s->gen;
    if (filter__branch_match(m->f, r->branch, msg)) {
        m->match_gen = s->gen;
        ids_push(out, m->id);
    }
}

/* The loaded message of one scope against that scope's index. */
static void match_index(filter_set_t *s, sindex_t *x, filter_ids_t *out)
{
    for (size_t i = 0; i < x->msg->nv; i++) {
        uint64_t key = x->msg->v[i].key;
        bucket_t *b = hmap_get(&x->buckets, &key, sizeof key);
        for (size_t j = 0; b && j < b->n; j++)
            try_ref(s, b->v[j], x->msg, out);
    }
    for (size_t i = 0; i < x->nloose; i++)
        try_ref(s, x->loose[i], x->msg, out);
}

size_t filter_set_match(filter_set_t *s, const filter_attr_t *attrs, size_t n, const char *body, size_t len,
                        filter_ids_t *out)
{
    size_t before = out->n;
    sindex_t *xa = &s->idx[FILTER_SCOPE_ATTRIBUTES], *xb = &s->idx[FILTER_SCOPE_BODY];
    next_gen(s);
    if (xa->members && filter__msg_load_attrs(xa->msg, attrs, n))
        match_index(s, xa, out);
    if (xb->members && filter__msg_load_body(xb->msg, body, len))
        match_index(s, xb, out);
    return out->n - before;
}

size_t filter_set_match_attrs(filter_set_t *s, const filter_attr_t *attrs, size_t n, filter_ids_t *out)
{
    return filter_set_match(s, attrs, n, NULL, 0, out);
}

size_t filter_set_match_body(filter_set_t *s, const char *body, size_t len, filter_ids_t *out)
{
    return filter_set_match(s, NULL, 0, body, len, out);
}

size_t filter_set_match_json(filter_set_t *s, const jv_t *doc, filter_ids_t *out)
{
    size_t before = out->n;
    sindex_t *xb = &s->idx[FILTER_SCOPE_BODY];
    next_gen(s);
    if (xb->members && filter__msg_load_json(xb->msg, doc))
        match_index(s, xb, out);
    return out->n - before;
}
