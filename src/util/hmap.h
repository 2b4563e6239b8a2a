/*
 * hmap — open-addressing hash map from byte-string keys to pointers.
 * The map does not own keys or values: a key must stay valid and unchanged
 * while its entry is in the map (callers point it into the value object,
 * e.g. a queue's name). Linear probing with backward-shift deletion, so no
 * tombstones build up under churn. Hash is 64-bit FNV-1a mixed; fine for
 * keys an attacker can choose because the table also carries a per-process
 * random seed.
 */
#ifndef SLUICE_HMAP_H
#define SLUICE_HMAP_H

#include <stddef.h>
#include <stdint.h>

typedef struct hmap_slot {
    const void *key;
    uint32_t klen;
    uint32_t hash;
    void *val;
} hmap_slot_t;

typedef struct hmap {
    hmap_slot_t *slots;
    size_t cap; /* power of two, or 0 */
    size_t n;
} hmap_t;

void hmap_init(hmap_t *m);
void hmap_free(hmap_t *m); /* frees the table only */
void *hmap_get(const hmap_t *m, const void *key, size_t klen);
/* Inserts or replaces; returns the previous value or NULL. */
void *hmap_put(hmap_t *m, const void *key, size_t klen, void *val);
/* Removes; returns the removed value or NULL. */
void *hmap_del(hmap_t *m, const void *key, size_t klen);

/* Iteration: for (size_t i = 0; hmap_next(m, &i, &val);) ... — do not mutate meanwhile. */
int hmap_next(const hmap_t *m, size_t *iter, void **val);

uint64_t hmap_hash(const void *key, size_t len);

#endif
