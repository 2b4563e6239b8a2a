/*
 * seqmap — a map from sequence numbers to pointers for keys that are handed
 * out in increasing order and mostly removed in roughly that order (a
 * queue's messages). Keys live in pages of SEQMAP_PAGE slots; a directory
 * covers the pages between the oldest and newest live key. Lookup, insert
 * and delete are O(1) with no hashing, neighbours share cache lines, and
 * iteration is in key order. A page is freed as soon as it holds nothing, so
 * memory stays proportional to the live keys (plus one page per straggler).
 */
#ifndef SLUICE_SEQMAP_H
#define SLUICE_SEQMAP_H

#include <stddef.h>
#include <stdint.h>

#define SEQMAP_PAGE 512

typedef struct seqmap_page seqmap_page_t;

typedef struct seqmap {
    seqmap_page_t **dir; /* dir[i] holds keys of page number first + i (NULL: none) */
    size_t head;         /* first used directory slot */
    size_t len;          /* used slots after head */
    size_t cap;
    uint64_t first;      /* page number of dir[head] */
    size_t n;            /* keys in the map */
} seqmap_t;

void seqmap_init(seqmap_t *m);
void seqmap_free(seqmap_t *m); /* frees pages, not values */
void *seqmap_get(const seqmap_t *m, uint64_t key);
/* Inserts or replaces; returns the previous value or NULL. */
void *seqmap_put(seqmap_t *m, uint64_t key, void *val);
/* Removes; returns the removed value or NULL. */
void *seqmap_del(seqmap_t *m, uint64_t key);
/* In key order: start with *key = 0; returns 1 and sets *key and *val while
 * there are keys above the one given. Do not modify the map meanwhile. */
int seqmap_next(const seqmap_t *m, uint64_t *key, void **val);

#endif
