/* heap — intrusive binary min-heap; see heap.h. */
#include "util/heap.h"

#include <stdlib.h>

#include "util/alloc.h"

void heap_init(heap_t *h)
{
    h->v = NULL;
    h->n = h->cap = 0;
}

void heap_free(heap_t *h)
{
    free(h->v);
    heap_init(h);
}

static void heap_place(heap_t *h, size_t i, heap_node_t *n)
{
    h->v[i] = n;
    n->idx = i;
}

static void heap_up(heap_t *h, size_t i)
{
    heap_node_t *n = h->v[i];
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (h->v[p]->key <= n->key)
            break;
        heap_place(h, i, h->v[p]);
        i = p;
    }
    heap_place(h, i, n);
}

static void heap_down(heap_t *h, size_t i)
{
    heap_node_t *n = h->v[i];
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= h->n)
            break;
        if (c + 1 < h->n && h->v[c + 1]->key < h->v[c]->key)
            c++;
        if (n->key <= h->v[c]->key)
            break;
        heap_place(h, i, h->v[c]);
        i = c;
    }
    heap_place(h, i, n);
}

void heap_set(heap_t *h, heap_node_t *n, uint64_t key)
{
    if (n->idx != HEAP_NONE) {
        uint64_t old = n->key;
        n->key = key;
        if (key < old)
            heap_up(h, n->idx);
        else
            heap_down(h, n->idx);
        return;
    }
    if (h->n == h->cap) {
        h->cap = h->cap ? h->cap * 2 : 64;
        h->v = xrealloc(h->v, h->cap * sizeof *h->v);
    }
    n->key = key;
    heap_place(h, h->n++, n);
    heap_up(h, n->idx);
}

void heap_remove(heap_t *h, heap_node_t *n)
{
    size_t i = n->idx;
    if (i == HEAP_NONE)
        return;
    n->idx = HEAP_NONE;
    heap_node_t *last = h->v[--h->n];
    if (i == h->n)
        return;
    heap_place(h, i, last);
    heap_up(h, i);
    heap_down(h, last->idx);
}

heap_node_t *heap_pop(heap_t *h)
{
    heap_node_t *n = heap_min(h);
    if (n)
        heap_remove(h, n);
    return n;
}
