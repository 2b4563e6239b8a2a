/*
 * bptree — see bptree.h. Inserts and removes walk down once, recording the
 * path (inner node and child index per level), and repair on the way back
 * up: a full node splits into two halves and its parent gains
 * a child; a node under a quarter full merges with a sibling, or evens out
 * with it when both would not fit in one node; and a node whose first
 * element changed rewrites its fence in the parent — and, when it is the
 * parent's first child, the parent's fence a level up, and so on.
 *
 * Leaves and inner nodes share the array moves through span_t (the node's
 * count, keys, values and, for inner nodes, children), so a split, merge or
 * shift is written once for both.
 */
#include <stdlib.h>
#include <string.h>

#include "tables/bptree.h"
#include "util/alloc.h"

/* Inner levels. Nodes below the root have at least 16 children, so 16
 * levels hold more than 2^64 elements. */
#define BPT_HEIGHT_MAX 16
#define LEAF_MIN (BPT_LEAF_MAX / 4)
#define INNER_MIN (BPT_INNER_MAX / 4)

typedef struct bpt_inner {
    uint32_t n;                  /* children */
    uint64_t key[BPT_INNER_MAX]; /* key[i], val[i]: child i's first element (its fence) */
    void *val[BPT_INNER_MAX];
    void *child[BPT_INNER_MAX];
} bpt_inner_t;

typedef struct bpt_step {
    bpt_inner_t *node;
    unsigned c; /* the child taken */
} bpt_step_t;

typedef struct span {
    uint32_t *n;
    uint64_t *key;
    void **val;
    void **child; /* NULL for a leaf */
} span_t;

static span_t span_of(void *node, int leaf)
{
    if (leaf) {
        bpt_leaf_t *l = node;
        return (span_t){&l->n, l->key, bpt_leaf_vals(l), NULL};
    }
    bpt_inner_t *in = node;
    return (span_t){&in->n, in->key, in->val, in->child};
}

/* Moves m entries from s at from to d at to (d and s may be the same node). */
static void span_move(span_t d, unsigned to, span_t s, unsigned from, unsigned m)
{
    memmove(d.key + to, s.key + from, m * sizeof *d.key);
    memmove(d.val + to, s.val + from, m * sizeof *d.val);
    if (d.child)
        memmove(d.child + to, s.child + from, m * sizeof *d.child);
}

static bpt_leaf_t *leaf_new(uint32_t cap)
{
    bpt_leaf_t *l = xmalloc(sizeof *l + cap * (sizeof l->key[0] + sizeof(void *)));
    l->n = 0;
    l->cap = cap;
    l->next = NULL;
    return l;
}

/* The root leaf of a small set, with twice the room. */
static bpt_leaf_t *leaf_grow(bpt_leaf_t *l)
{
    bpt_leaf_t *g = leaf_new(l->cap * 2);
    span_move(span_of(g, 1), 0, span_of(l, 1), 0, l->n);
    g->n = l->n;
    free(l);
    return g;
}

static bpt_inner_t *inner_new(void)
{
    bpt_inner_t *in = xmalloc(sizeof *in);
    in->n = 0;
    return in;
}

static void fence_set(bpt_inner_t *p, unsigned c, span_t child)
{
    p->key[c] = child.key[0];
    p->val[c] = child.val[0];
}

void bptree_init(bptree_t *t, bptree_cmp_fn cmp, bptree_key_fn key)
{
    t->root = NULL;
    t->height = 0;
    t->n = 0;
    t->cmp = cmp;
    t->key = key;
}

static void node_free(void *node, unsigned levels_below)
{
    if (levels_below) {
        bpt_inner_t *in = node;
        for (unsigned c = 0; c < in->n; c++)
            node_free(in->child[c], levels_below - 1);
    }
    free(node);
}

void bptree_free(bptree_t *t)
{
    if (t->root)
        node_free(t->root, t->height);
    t->root = NULL;
    t->height = 0;
    t->n = 0;
}

/* ---- search ---------------------------------------------------------------------- */

/* The first index in [lo, hi) whose element does not come before probe
 * (hi if all do), pk being probe's key. "Comes before": is < probe, or
 * <= probe when strict. The keys are counted in one pass without branches
 * rather than bisected: the loads do not depend on each other, so the
 * node's cache lines are fetched together instead of one miss after
 * another. The run of keys equal to pk is then bisected with cmp. */
static unsigned rank(const bptree_t *t, const uint64_t *key, void *const *val, unsigned lo, unsigned hi,
                     const void *probe, uint64_t pk, int strict)
{
    unsigned lt = lo, le = lo;
    for (unsigned i = lo; i < hi; i++) {
        lt += key[i] < pk;
        le += key[i] <= pk;
    }
    while (lt < le) {
        unsigned mid = lt + (le - lt) / 2;
        int c = t->cmp(val[mid], probe);
        if (c < 0 || (strict && c == 0))
            lt = mid + 1;
        else
            le = mid;
    }
    return lt;
}

/* Walks down to the leaf whose range holds the first element not before
 * probe — or, when every element of that leaf comes before it, whose next
 * leaf starts there. Each level takes the last child whose fence comes
 * before probe (child 0 when none does). path (may be NULL) gets the steps. */
static bpt_leaf_t *descend(const bptree_t *t, const void *probe, uint64_t pk, int strict, bpt_step_t *path)
{
    void *node = t->root;
    for (unsigned h = 0; h < t->height; h++) {
        bpt_inner_t *in = node;
        unsigned c = rank(t, in->key, in->val, 1, in->n, probe, pk, strict) - 1;
        if (path)
            path[h] = (bpt_step_t){in, c};
        node = in->child[c];
    }
    return node;
}

/* The leaf where probe is or would go (the set is not empty): *i is the
 * number of its elements <= probe, and *found says the last of those is
 * equal to probe. */
static bpt_leaf_t *locate(const bptree_t *t, const void *probe, bpt_step_t *path, unsigned *i, int *found)
{
    uint64_t pk = t->key(probe);
    bpt_leaf_t *l = descend(t, probe, pk, 1, path);
    void **v = bpt_leaf_vals(l);
    *i = rank(t, l->key, v, 0, l->n, probe, pk, 1);
    *found = *i && l->key[*i - 1] == pk && t->cmp(v[*i - 1], probe) == 0;
    return l;
}

static bptree_iter_t iter_at(const bpt_leaf_t *l, unsigned i)
{
    if (i == l->n) /* then the next leaf's first element; no leaf is empty */
        return (bptree_iter_t){l->next, 0};
    return (bptree_iter_t){l, i};
}

bptree_iter_t bptree_seek(const bptree_t *t, const void *probe, int strict)
{
    if (!t->root)
        return (bptree_iter_t){NULL, 0};
    uint64_t pk = t->key(probe);
    bpt_leaf_t *l = descend(t, probe, pk, strict, NULL);
    return iter_at(l, rank(t, l->key, bpt_leaf_vals(l), 0, l->n, probe, pk, strict));
}

bptree_iter_t bptree_first(const bptree_t *t)
{
    void *node = t->root;
    for (unsigned h = 0; node && h < t->height; h++)
        node = ((bpt_inner_t *)node)->child[0];
    return (bptree_iter_t){node, 0};
}

/* ---- insert ---------------------------------------------------------------------- */

/* Inserts (k, v, child) at i of a node, splitting a full node into two
 * halves first; returns the new right half, or NULL. */
static void *node_add(void *node, int leaf, unsigned i, uint64_t k, void *v, void *child)
{
    span_t s = span_of(node, leaf);
    void *right = NULL;
    if (*s.n == (leaf ? BPT_LEAF_MAX : BPT_INNER_MAX)) {
        right = leaf ? (void *)leaf_new(BPT_LEAF_MAX) : (void *)inner_new();
        span_t r = span_of(right, leaf);
        unsigned half = *s.n / 2;
        span_move(r, 0, s, half, *s.n - half);
        *r.n = *s.n - half;
        *s.n = half;
        if (leaf) {
            ((bpt_leaf_t *)right)->next = ((bpt_leaf_t *)node)->next;
            ((bpt_leaf_t *)node)->next = right;
        }
        if (i > half) {
            s = r;
            i -= half;
        }
    }
    span_move(s, i + 1, s, i, *s.n - i);
    s.key[i] = k;
    s.val[i] = v;
    if (s.child)
        s.child[i] = child;
    (*s.n)++;
    return right;
}

static void grow_root(bptree_t *t, void *left, void *right)
{
    int leaf = t->height == 0;
    bpt_inner_t *r = inner_new();
    r->n = 2;
    r->child[0] = left;
    r->child[1] = right;
    fence_set(r, 0, span_of(left, leaf));
    fence_set(r, 1, span_of(right, leaf));
    t->root = r;
    t->height++;
}

int bptree_insert(bptree_t *t, void *val)
{
    bpt_step_t path[BPT_HEIGHT_MAX];
    unsigned i;
    int found;
    if (!t->root)
        t->root = leaf_new(2);
    bpt_leaf_t *l = locate(t, val, path, &i, &found);
    if (found)
        return -1;
    if (l->n == l->cap && l->cap < BPT_LEAF_MAX) /* only the root leaf is ever smaller */
        t->root = l = leaf_grow(l);
    void *node = l, *sib = node_add(l, 1, i, t->key(val), val, NULL);
    int moved = i == 0; /* node's first element changed: its fence must follow */
    t->n++;
    for (unsigned h = t->height; h-- > 0 && (moved || sib);) {
        bpt_inner_t *p = path[h].node;
        unsigned c = path[h].c;
        int leaf = h + 1 == t->height;
        if (moved)
            fence_set(p, c, span_of(node, leaf));
        moved = moved && c == 0;
        if (sib) {
            span_t r = span_of(sib, leaf);
            sib = node_add(p, 0, c + 1, r.key[0], r.val[0], sib);
        }
        node = p;
    }
    if (sib) /* node is the old root */
        grow_root(t, node, sib);
    return 0;
}

/* ---- remove ---------------------------------------------------------------------- */

/* Evens out two siblings whose entries do not fit in one node. */
static void redistribute(span_t x, span_t y)
{
    unsigned total = *x.n + *y.n, want = total / 2;
    if (*x.n < want) {
        unsigned m = want - *x.n;
        span_move(x, *x.n, y, 0, m);
        span_move(y, 0, y, m, *y.n - m);
    } else {
        unsigned m = *x.n - want;
        span_move(y, m, y, 0, *y.n);
        span_move(y, 0, x, want, m);
    }
    *x.n = want;
    *y.n = total - want;
}

/* Child c of p is under a quarter full: merges it with a neighbour (the
 * right one into the left one) when both fit in one node, else evens the
 * two out; the pair's fences are rewritten either way. */
static void fix_underflow(bpt_inner_t *p, unsigned c, int leaf)
{
    unsigned a = c ? c - 1 : 0;
    span_t x = span_of(p->child[a], leaf), y = span_of(p->child[a + 1], leaf);
    if (*x.n + *y.n <= (leaf ? BPT_LEAF_MAX : BPT_INNER_MAX)) {
        span_move(x, *x.n, y, 0, *y.n);
        *x.n += *y.n;
        if (leaf)
            ((bpt_leaf_t *)p->child[a])->next = ((bpt_leaf_t *)p->child[a + 1])->next;
        free(p->child[a + 1]);
        span_t ps = span_of(p, 0);
        span_move(ps, a + 1, ps, a + 2, p->n - a - 2);
        p->n--;
    } else {
        redistribute(x, y);
        fence_set(p, a + 1, y);
    }
    fence_set(p, a, x);
}

/* A root with one child gives way to it; an empty root leaf goes. */
static void shrink_root(bptree_t *t)
{
    while (t->height && ((bpt_inner_t *)t->root)->n == 1) {
        void *only = ((bpt_inner_t *)t->root)->child[0];
        free(t->root);
        t->root = only;
        t->height--;
    }
    if (!t->height && !((bpt_leaf_t *)t->root)->n) {
        free(t->root);
        t->root = NULL;
    }
}

/* After an element left the leaf node: fixes fill and fences upwards,
 * stopping at the first level where nothing changed. moved: node's first
 * element changed. */
static void rebalance(bptree_t *t, const bpt_step_t *path, void *node, int moved)
{
    for (unsigned h = t->height; h-- > 0;) {
        bpt_inner_t *p = path[h].node;
        int leaf = h + 1 == t->height;
        span_t s = span_of(node, leaf);
        const void *first = p->val[0]; /* compared, never followed: it may be the element removed */
        if (*s.n < (leaf ? LEAF_MIN : INNER_MIN))
            fix_underflow(p, path[h].c, leaf);
        else if (moved)
            fence_set(p, path[h].c, s);
        else
            return;
        moved = p->val[0] != first;
        node = p;
    }
    shrink_root(t);
}

void *bptree_remove(bptree_t *t, const void *probe)
{
    bpt_step_t path[BPT_HEIGHT_MAX];
    unsigned i;
    int found;
    if (!t->root)
        return NULL;
    bpt_leaf_t *l = locate(t, probe, path, &i, &found);
    if (!found)
        return NULL;
    span_t s = span_of(l, 1);
    void *val = s.val[--i];
    span_move(s, i, s, i + 1, l->n - i - 1);
    l->n--;
    t->n--;
    rebalance(t, path, l, i == 0);
    return val;
}

/* ---- verification ---------------------------------------------------------------- */

typedef struct vstate {
    const bptree_t *t;
    const bpt_leaf_t *leaf; /* the next leaf expected, by the chain */
    const void *prev;       /* the last element seen */
    size_t n;
} vstate_t;

static int verify_leaf(vstate_t *s, const bpt_leaf_t *l, int root)
{
    void **v = bpt_leaf_vals(l);
    if (l != s->leaf || l->n > l->cap || !l->n || (!root && (l->cap != BPT_LEAF_MAX || l->n < LEAF_MIN)))
        return -1;
    for (unsigned i = 0; i < l->n; i++) {
        if (l->key[i] != s->t->key(v[i]) || (s->prev && s->t->cmp(s->prev, v[i]) >= 0))
            return -1;
        s->prev = v[i];
    }
    s->n += l->n;
    s->leaf = l->next;
    return 0;
}

static int verify_node(vstate_t *s, void *node, unsigned depth)
{
    if (depth == s->t->height)
        return verify_leaf(s, node, depth == 0);
    const bpt_inner_t *in = node;
    if (in->n > BPT_INNER_MAX || in->n < (depth ? INNER_MIN : 2))
        return -1;
    for (unsigned c = 0; c < in->n; c++) {
        span_t cs = span_of(in->child[c], depth + 1 == s->t->height);
        if (!*cs.n || in->key[c] != cs.key[0] || in->val[c] != cs.val[0] || verify_node(s, in->child[c], depth + 1))
            return -1;
    }
    return 0;
}

int bptree_verify(const bptree_t *t)
{
    if (!t->root)
        return t->n || t->height ? -1 : 0;
    if (t->height >= BPT_HEIGHT_MAX)
        return -1;
    vstate_t s = {t, bptree_first(t).leaf, NULL, 0};
    return verify_node(&s, t->root, 0) == 0 && !s.leaf && s.n == t->n ? 0 : -1;
}
