/* hmap — open addressing with linear probing and backward-shift delete. */
#include "util/hmap.h"

#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "util/alloc.h"

static uint64_t hmap_seed;

uint64_t hmap_hash(const void *key, size_t len)
{
    if (!hmap_seed) {
        uint64_t s = 0;
        if (getrandom(&s, sizeof s, 0) != (ssize_t)sizeof s)
            s = 0x9e3779b97f4a7c15ull;
        hmap_seed = s | 1;
    }
    const unsigned char *p = key;
    uint64_t h = 0xcbf29ce484222325ull ^ hmap_seed;
    for (size_t i = 0; i < len; i++) {
        h ^= p[i];
        h *= 0x100000001b3ull;
    }
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    return h;
}

void hmap_init(hmap_t *m)
{
    m->slots = NULL;
    m->cap = m->n = 0;
}

void hmap_free(hmap_t *m)
{
    free(m->slots);
    hmap_init(m);
}

static size_t hmap_find(const hmap_t *m, const void *key, size_t klen, uint32_t h)
{
    size_t mask = m->cap - 1;
    for (size_t i = h & mask;; i = (i + 1) & mask) {
        const hmap_slot_t *s = &m->slots[i];
        if (!s->key)
            return i;
        if (s->hash == h && s->klen == klen && memcmp(s->key, key, klen) == 0)
            return i;
    }
}

static void hmap_grow(hmap_t *m)
{
    hmap_slot_t *old = m->slots;
    size_t oldcap = m->cap;
    m->cap = oldcap ? oldcap * 2 : 16;
    m->slots = xcalloc(m->cap, sizeof *m->slots);
    for (size_t i = 0; i < oldcap; i++) {
        if (old[i].key)
            m->slots[hmap_find(m, old[i].key, old[i].klen, old[i].hash)] = old[i];
    }
    free(old);
}

void *hmap_get(const hmap_t *m, const void *key, size_t klen)
{
    if (!m->n)
        return NULL;
    const hmap_slot_t *s = &m->slots[hmap_find(m, key, klen, (uint32_t)hmap_hash(key, klen))];
    return s->key ? s->val : NULL;
}

void *hmap_put(hmap_t *m, const void *key, size_t klen, void *val)
{
    if ((m->n + 1) * 4 > m->cap * 3)
        hmap_grow(m);
    uint32_t h = (uint32_t)hmap_hash(key, klen);
    hmap_slot_t *s = &m->slots[hmap_find(m, key, klen, h)];
    void *prev = s->key ? s->val : NULL;
    if (!s->key)
        m->n++;
    s->key = key;
    s->klen = (uint32_t)klen;
    s->hash = h;
    s->val = val;
    return prev;
}

void *hmap_del(hmap_t *m, const void *key, size_t klen)
{
    if (!m->n)
        return NULL;
    size_t mask = m->cap - 1;
    size_t i = hmap_find(m, key, klen, (uint32_t)hmap_hash(key, klen));
    if (!m->slots[i].key)
        return NULL;
    void *val = m->slots[i].val;
    m->n--;
    /* backward shift: pull later entries of the probe run into the hole */
    for (size_t j = (i + 1) & mask;; j = (j + 1) & mask) {
        hmap_slot_t *s = &m->slots[j];
        if (!s->key)
            break;
        size_t home = s->hash & mask;
        if (((j - home) & mask) >= ((j - i) & mask)) {
            m->slots[i] = *s;
            i = j;
        }
    }
    memset(&m->slots[i], 0, sizeof m->slots[i]);
    return val;
}

int hmap_next(const hmap_t *m, size_t *iter, void **val)
{
    for (size_t i = *iter; i < m->cap; i++) {
        if (m->slots[i].key) {
            *val = m->slots[i].val;
            *iter = i + 1;
            return 1;
        }
    }
    return 0;
}
