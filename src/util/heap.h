/*
 * heap — an intrusive binary min-heap on a 64-bit key. Objects embed a
 * heap_node_t; the heap stores pointers and keeps each node's slot index, so
 * a node can be removed or re-keyed in O(log n) without a search. A node not
 * in any heap has idx == HEAP_NONE. Used for event-loop timers and for the
 * queues' visibility/delay deadlines.
 */
#ifndef SLUICE_HEAP_H
#define SLUICE_HEAP_H

#include <stddef.h>
#include <stdint.h>

#define HEAP_NONE ((size_t)-1)

typedef struct heap_node {
    uint64_t key;
    size_t idx;
} heap_node_t;

typedef struct heap {
    heap_node_t **v;
    size_t n, cap;
} heap_t;

void heap_init(heap_t *h);
void heap_free(heap_t *h);
static inline void heap_node_init(heap_node_t *n)
{
    n->idx = HEAP_NONE;
}
static inline int heap_contains(const heap_node_t *n)
{
    return n->idx != HEAP_NONE;
}
static inline heap_node_t *heap_min(const heap_t *h)
{
    return h->n ? h->v[0] : NULL;
}
/* Inserts n with key, or re-keys it if it is already in the heap. */
void heap_set(heap_t *h, heap_node_t *n, uint64_t key);
/* Removes n if present; a no-op otherwise. */
void heap_remove(heap_t *h, heap_node_t *n);
heap_node_t *heap_pop(heap_t *h);

#endif
