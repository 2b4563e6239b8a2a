/*
 * bptree — an ordered set of pointers under a caller's comparator, for the
 * tables engine: every item of a table in key order, and the items of one
 * secondary-index value in key order. A B+ tree whose nodes are arrays, so
 * that a seek at a million elements costs a handful of cache misses (four
 * levels, of which the upper ones stay in cache) where a linked structure
 * pays one per step.
 *
 * The set does not own its values. The comparator must order them totally:
 * two values comparing equal are the same element, and an insert of a value
 * equal to a present one is refused. A key function maps a value to a
 * 64-bit summary of its order (key(a) < key(b) must imply cmp(a, b) < 0, so
 * equal values have equal keys). Nodes keep the keys in an array of their
 * own beside the value pointers, and every search compares keys first,
 * calling cmp only on a tie: a search in a node reads its cache lines of
 * keys instead of chasing the values' pointers.
 *
 * Shape. Leaves hold up to BPT_LEAF_MAX (key, value) pairs in order and are
 * chained left to right for iteration. An inner node holds up to
 * BPT_INNER_MAX children and, per child, the key and value of that child's
 * first element (its fence, always an element of the set, so comparing
 * against it never reads freed memory). Nodes below the root hold at least
 * a quarter of their capacity: a node that falls below is merged with a
 * sibling or takes elements from it. All leaves are at the same depth. A
 * set of one leaf (the root) grows its arrays by doubling, so a small set —
 * an index value held by one item — costs tens of bytes, not a full leaf.
 *
 * Iterators are (leaf, position) pairs, valid until the next insert or
 * remove on the set; callers that page re-seek by key.
 */
#ifndef SLUICE_TABLES_BPTREE_H
#define SLUICE_TABLES_BPTREE_H

#include <stddef.h>
#include <stdint.h>

#define BPT_LEAF_MAX 64  /* pairs per leaf: 512 bytes of keys */
#define BPT_INNER_MAX 64 /* children per inner node */

typedef int (*bptree_cmp_fn)(const void *a, const void *b);
typedef uint64_t (*bptree_key_fn)(const void *v);

typedef struct bpt_leaf {
    uint32_t n, cap;
    struct bpt_leaf *next;
    uint64_t key[]; /* key[cap], then the values: bpt_leaf_vals() */
} bpt_leaf_t;

typedef struct bptree {
    void *root;      /* a leaf when height is 0, else an inner node; NULL when empty */
    unsigned height; /* inner levels above the leaves */
    size_t n;
    bptree_cmp_fn cmp;
    bptree_key_fn key;
} bptree_t;

typedef struct bptree_iter {
    const bpt_leaf_t *leaf; /* NULL: past the end */
    uint32_t i;
} bptree_iter_t;

void bptree_init(bptree_t *t, bptree_cmp_fn cmp, bptree_key_fn key);
/* Frees the nodes (not the values); the set is empty afterwards. */
void bptree_free(bptree_t *t);
/* Adds val: 0, or -1 (nothing changed) when a value equal to it is present. */
int bptree_insert(bptree_t *t, void *val);
/* Removes the value comparing equal to probe; returns it, or NULL when absent. */
void *bptree_remove(bptree_t *t, const void *probe);
/* At the first value >= probe (strict: > probe). */
bptree_iter_t bptree_seek(const bptree_t *t, const void *probe, int strict);
bptree_iter_t bptree_first(const bptree_t *t);
/* The structure's invariants (order, fences, fill, depth, chain, count): 0 or -1. */
int bptree_verify(const bptree_t *t);

static inline void **bpt_leaf_vals(const bpt_leaf_t *l)
{
    return (void **)(l->key + l->cap);
}

/* The value at the iterator, or NULL past the end. */
static inline void *bptree_peek(const bptree_iter_t *it)
{
    return it->leaf ? bpt_leaf_vals(it->leaf)[it->i] : NULL;
}

/* The value at the iterator (NULL past the end), moving it one on. */
static inline void *bptree_next(bptree_iter_t *it)
{
    if (!it->leaf)
        return NULL;
    void *v = bpt_leaf_vals(it->leaf)[it->i];
    if (++it->i == it->leaf->n) {
        it->leaf = it->leaf->next;
        it->i = 0;
    }
    return v;
}

#endif
