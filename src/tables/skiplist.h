/*
 * skiplist — an ordered set of pointers under a caller's comparator, for
 * the tables engine: every item of a table in key order, and the items of
 * one secondary-index value in key order. Insert, remove and seek are
 * O(log n) expected; iteration walks level 0.
 *
 * The set does not own its values. The comparator must order them totally:
 * two values comparing equal are the same element (insert assumes the value
 * is not present yet; remove finds it by comparison). Node heights come
 * from a per-set xorshift generator seeded from getrandom, so inputs cannot
 * be chosen to line up with tall nodes.
 *
 * Keyed sets: an optional key function maps a value to a 64-bit summary of
 * its order (key(a) < key(b) must imply cmp(a, b) < 0, so equal values have
 * equal keys). Nodes keep the key inline and the walk compares keys first,
 * calling cmp only on a tie: most steps then touch only the node instead of
 * chasing the value's pointers, which is where a walk through millions of
 * items spends its time (cache misses).
 */
#ifndef SLUICE_TABLES_SKIPLIST_H
#define SLUICE_TABLES_SKIPLIST_H

#include <stddef.h>
#include <stdint.h>

#define SKIPLIST_LEVELS 16 /* with p = 1/4: fine up to ~4^16 elements */

typedef int (*skiplist_cmp_fn)(const void *a, const void *b);
typedef uint64_t (*skiplist_key_fn)(const void *v);

typedef struct skiplist_node {
    void *val;
    uint64_t key; /* key(val) in a keyed set, else 0 */
    struct skiplist_node *next[]; /* as many as the node's height */
} skiplist_node_t;

typedef struct skiplist {
    skiplist_node_t *head[SKIPLIST_LEVELS];
    size_t n;
    uint64_t rng;
    skiplist_cmp_fn cmp;
    skiplist_key_fn key; /* NULL: not keyed */
} skiplist_t;

/* key may be NULL (see the header comment). */
void skiplist_init(skiplist_t *s, skiplist_cmp_fn cmp, skiplist_key_fn key);
/* Frees the nodes (not the values). */
void skiplist_free(skiplist_t *s);
/* Returns the new node: a caller may keep it to swap in an equal value
 * (same key, same place) without a walk. */
skiplist_node_t *skiplist_insert(skiplist_t *s, void *val);
/* Removes the value comparing equal to probe; returns it, or NULL when absent. */
void *skiplist_remove(skiplist_t *s, const void *probe);
/* The first node whose value is >= probe (strict: > probe), or NULL. */
skiplist_node_t *skiplist_seek(const skiplist_t *s, const void *probe, int strict);

static inline skiplist_node_t *skiplist_first(const skiplist_t *s)
{
    return s->head[0];
}

static inline skiplist_node_t *skiplist_next(const skiplist_node_t *n)
{
    return n->next[0];
}

#endif
