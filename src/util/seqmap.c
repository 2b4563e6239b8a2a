/* seqmap — paged directory of sequence numbers; see seqmap.h. */
#include "util/seqmap.h"

#include <stdlib.h>
#include <string.h>

#include "util/alloc.h"

struct seqmap_page {
    size_t count;
    void *slot[SEQMAP_PAGE];
};

void seqmap_init(seqmap_t *m)
{
    memset(m, 0, sizeof *m);
}

void seqmap_free(seqmap_t *m)
{
    for (size_t i = 0; i < m->len; i++)
        free(m->dir[m->head + i]);
    free(m->dir);
    seqmap_init(m);
}

static seqmap_page_t *page_of(const seqmap_t *m, uint64_t key)
{
    uint64_t p = key / SEQMAP_PAGE;
    if (!m->len || p < m->first || p - m->first >= m->len)
        return NULL;
    return m->dir[m->head + (p - m->first)];
}

void *seqmap_get(const seqmap_t *m, uint64_t key)
{
    seqmap_page_t *pg = page_of(m, key);
    return pg ? pg->slot[key % SEQMAP_PAGE] : NULL;
}

/* Makes room for page number p in the directory; returns its slot. */
static seqmap_page_t **dir_slot(seqmap_t *m, uint64_t p)
{
    if (!m->len) {
        m->head = 0;
        m->first = p;
    }
    size_t front = p < m->first ? (size_t)(m->first - p) : 0;
    size_t back = p >= m->first + m->len ? (size_t)(p - m->first - m->len + 1) : 0;
    if (m->head + m->len + back > m->cap || front > m->head) {
        size_t cap = (m->len + front + back) * 2 + 8;
        seqmap_page_t **dir = xcalloc(cap, sizeof *dir);
        if (m->len)
            memcpy(dir + front, m->dir + m->head, m->len * sizeof *dir);
        free(m->dir);
        m->dir = dir;
        m->cap = cap;
        m->head = 0;
    } else if (front) {
        m->head -= front;
    }
    if (front) {
        m->first = p;
        m->len += front;
    }
    m->len += back;
    return &m->dir[m->head + (p - m->first)];
}

void *seqmap_put(seqmap_t *m, uint64_t key, void *val)
{
    seqmap_page_t **slot = dir_slot(m, key / SEQMAP_PAGE);
    if (!*slot)
        *slot = xcalloc(1, sizeof **slot);
    void **s = &(*slot)->slot[key % SEQMAP_PAGE];
    void *old = *s;
    *s = val;
    if (!old) {
        (*slot)->count++;
        m->n++;
    }
    return old;
}

/* Drops empty pages at both ends of the directory. */
static void dir_trim(seqmap_t *m)
{
    while (m->len && !m->dir[m->head]) {
        m->head++;
        m->first++;
        m->len--;
    }
    while (m->len && !m->dir[m->head + m->len - 1])
        m->len--;
    if (!m->len)
        m->head = 0;
}

void *seqmap_del(seqmap_t *m, uint64_t key)
{
    seqmap_page_t *pg = page_of(m, key);
    if (!pg || !pg->slot[key % SEQMAP_PAGE])
        return NULL;
    void *old = pg->slot[key % SEQMAP_PAGE];
    pg->slot[key % SEQMAP_PAGE] = NULL;
    m->n--;
    if (--pg->count == 0) {
        m->dir[m->head + (key / SEQMAP_PAGE - m->first)] = NULL;
        free(pg);
        dir_trim(m);
    }
    return old;
}

int seqmap_next(const seqmap_t *m, uint64_t *key, void **val)
{
    uint64_t k = *key + 1;
    if (!m->len)
        return 0;
    if (k < m->first * SEQMAP_PAGE)
        k = m->first * SEQMAP_PAGE;
    for (uint64_t p = k / SEQMAP_PAGE; p < m->first + m->len; p++, k = p * SEQMAP_PAGE) {
        seqmap_page_t *pg = m->dir[m->head + (p - m->first)];
        if (!pg)
            continue;
        for (size_t i = k % SEQMAP_PAGE; i < SEQMAP_PAGE; i++) {
            if (pg->slot[i]) {
                *key = p * SEQMAP_PAGE + i;
                *val = pg->slot[i];
                return 1;
            }
        }
    }
    return 0;
}
