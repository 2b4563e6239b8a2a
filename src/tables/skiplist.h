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
 */
#ifndef SLUICE_TABLES_SKIPLIST_H
#define SLUICE_TABLES_SKIPLIST_H

#include <stddef.h>
#include <stdint.h>

#define SKIPLIST_LEVELS 16 /* with p = 1/4: fine up to ~4^16 elements */

typedef int (*skiplist_cmp_fn)(const void *a, const void *b);

typedef struct skiplist_node {
    void *val;
    struct skiplist_node *next[]; /* as many as the node's height */
} skiplist_node_t;

typedef struct skiplist {
    skiplist_node_t *head[SKIPLIST_LEVELS];
    size_t n;
    uint64_t rng;
    skiplist_cmp_fn cmp;
} skiplist_t;

void skiplist_init(skiplist_t *s, skiplist_cmp_fn cmp);
/* Frees the nodes (not the values). */
void skiplist_free(skiplist_t *s);
void skiplist_insert(skiplist_t *s, void *val);
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
