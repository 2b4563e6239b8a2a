/*
 * skiplist — see skiplist.h. The head is an array of SKIPLIST_LEVELS
 * forward pointers inside the set; a node carries only as many forward
 * pointers as its height. locate() walks down from the top level and
 * records, per level, the forward array whose slot precedes the probe: the
 * slots insert and remove rewrite.
 */
#include <stdlib.h>

#include "tables/skiplist.h"
#include "util/alloc.h"
#include "util/rand.h"

void skiplist_init(skiplist_t *s, skiplist_cmp_fn cmp, skiplist_key_fn key)
{
    for (int i = 0; i < SKIPLIST_LEVELS; i++)
        s->head[i] = NULL;
    s->n = 0;
    s->cmp = cmp;
    s->key = key;
    rand_bytes(&s->rng, sizeof s->rng);
    s->rng |= 1; /* xorshift must not start at 0 */
}

void skiplist_free(skiplist_t *s)
{
    skiplist_node_t *n = s->head[0];
    while (n) {
        skiplist_node_t *next = n->next[0];
        free(n);
        n = next;
    }
    for (int i = 0; i < SKIPLIST_LEVELS; i++)
        s->head[i] = NULL;
    s->n = 0;
}

/* 1 with probability 3/4, 2 with 3/16, ...: p = 1/4 per extra level. */
static int random_height(skiplist_t *s)
{
    uint64_t x = s->rng;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    s->rng = x;
    int h = 1;
    while (h < SKIPLIST_LEVELS && (x & 3) == 0) {
        h++;
        x >>= 2;
    }
    return h;
}

/* Fills upd[i] (when upd is not NULL) with the forward array whose slot i
 * holds the first node of level i that is >= probe (strict: > probe), and
 * returns that node at level 0. */
static skiplist_node_t *locate(const skiplist_t *s, const void *probe, int strict, skiplist_node_t **upd[])
{
    skiplist_node_t **fw = (skiplist_node_t **)s->head;
    uint64_t k = s->key ? s->key(probe) : 0;
    for (int i = SKIPLIST_LEVELS - 1; i >= 0; i--) {
        while (fw[i]) {
            uint64_t nk = fw[i]->key;
            int c = nk != k ? (nk < k ? -1 : 1) : s->cmp(fw[i]->val, probe);
            if (c > 0 || (c == 0 && !strict))
                break;
            fw = fw[i]->next;
        }
        if (upd)
            upd[i] = fw;
    }
    return fw[0];
}

skiplist_node_t *skiplist_insert(skiplist_t *s, void *val)
{
    skiplist_node_t **upd[SKIPLIST_LEVELS];
    locate(s, val, 0, upd);
    int h = random_height(s);
    skiplist_node_t *n = xmalloc(sizeof *n + (size_t)h * sizeof n->next[0]);
    n->val = val;
    n->key = s->key ? s->key(val) : 0;
    for (int i = 0; i < h; i++) {
        n->next[i] = upd[i][i];
        upd[i][i] = n;
    }
    s->n++;
    return n;
}

void *skiplist_remove(skiplist_t *s, const void *probe)
{
    skiplist_node_t **upd[SKIPLIST_LEVELS];
    skiplist_node_t *n = locate(s, probe, 0, upd);
    if (!n || s->cmp(n->val, probe) != 0)
        return NULL;
    for (int i = 0; i < SKIPLIST_LEVELS && upd[i][i] == n; i++)
        upd[i][i] = n->next[i];
    void *val = n->val;
    free(n);
    s->n--;
    return val;
}

skiplist_node_t *skiplist_seek(const skiplist_t *s, const void *probe, int strict)
{
    return locate(s, probe, strict, NULL);
}
