/*
 * tables_int — the tables engine's internal structures, shared by the files
 * of src/tables/ only (tables.c: registry, records, TTL clockwork; items.c:
 * the items of one table, their indexes and reads).
 *
 * Ownership: tables_t owns its tables (by name); a table owns its items,
 * its index buckets and the strings of its definition. An item owns its
 * text and its typed key; its key values point into that key. Index
 * buckets and the TTL heap hold pointers to items and never own them.
 *
 * Invariants (tables__verify checks them):
 *   - every item is in t->items (by key) and in t->order (key order), and
 *     t->order and every bucket's set are well-formed B+ trees;
 *   - every item holding a string or number at an indexed attribute is in
 *     exactly that value's bucket of the index; buckets are never empty;
 *   - an item is in ts->ttl exactly when it has an expiry;
 *   - all items of a table have the same pk type and the same sk type,
 *     t->pk_type / t->sk_type (0 while the table is empty).
 */
#ifndef SLUICE_TABLES_INT_H
#define SLUICE_TABLES_INT_H

#include "tables/bptree.h"
#include "tables/tables.h"
#include "util/buf.h"
#include "util/heap.h"
#include "util/hmap.h"
#include "util/jv.h"

enum {
    REC_TBL_CREATE = TABLES_REC_MIN, /* name, pk, sk|NULL, u32 n, n × index attribute, ttl_attr|NULL */
    REC_TBL_DROP = 65,               /* name */
    REC_ITEM_PUT = 66,               /* table name, bytes: the item's compact JSON */
    REC_ITEM_DEL = 67,               /* table name, bytes: the item's typed key (titem_t.key) */
};

#define TV_NUM 'N'
#define TV_STR 'S'

/* A key or index value: its JSON type and its text (a string's bytes, a
 * number's text as written). */
typedef struct tval {
    char type;       /* TV_STR, TV_NUM, or 0: none */
    const char *s;   /* NUL-terminated; memory kept by the value's owner */
    size_t n;
    long double num; /* TV_NUM: the value, for sort-key order */
} tval_t;

typedef struct ix_bucket {
    char *key; /* type byte + value bytes: the hmap key */
    size_t klen;
    bptree_t items; /* the items holding the value, in key order */
} ix_bucket_t;

typedef struct tindex {
    const char *attr; /* t->def.indexes[i] */
    hmap_t buckets;   /* typed value → ix_bucket_t */
} tindex_t;

typedef struct titem {
    table_t *t;
    char *text; /* compact JSON */
    size_t len;
    /* Typed key: pk type, pk bytes, NUL, then (tables with a sort key)
     * sk type, sk bytes; NUL-terminated. The hmap key, and ITEM_DEL's. */
    char *key;
    size_t klen;
    tval_t pk, sk;     /* point into key; sk.type 0 without a sort key */
    ix_bucket_t **bkt; /* per index: the bucket holding the item, or NULL */
    uint64_t expires;  /* wall ms, or 0: none */
    heap_node_t ttl;   /* in ts->ttl while expires != 0 */
} titem_t;

struct table {
    tables_t *ts;
    table_def_t def; /* its strings and array are owned */
    hmap_t items;    /* typed key → titem_t */
    bptree_t order;  /* every item, in key order */
    tindex_t *ix;    /* def.nindexes */
    char pk_type, sk_type;
    /* Requests since the daemon started (table_counts). Behind a pointer so
     * that reads, which take a const table, can count themselves. */
    table_counts_t *counts;
};

struct tables {
    store_t *store;
    buf_t rec_buf; /* an item record being encoded (items.c): one buffer, kept */
    hmap_t by_name; /* name → table_t */
    heap_t ttl;     /* items with an expiry, earliest first */
    uint64_t armed; /* the deadline last asked for (0: none) */
    uint64_t (*clock)(void);
    void (*deadline_cb)(void *, uint64_t);
    void *deadline_arg;
    tables_change_fn change_cb;
    void *change_arg;
    int replaying;
    tables_stats_t stats;
};

/* tables.c */
void tables__emit(tables_t *ts, uint8_t type, const buf_t *b);
/* Calls the deadline callback when the earliest expiry is earlier than the
 * deadline last asked for (not while replaying). */
void tables__ask_deadline(tables_t *ts);
void tables__changed(table_t *t, const char *old_item, const char *new_item);

/* items.c */
int tables__item_cmp(const void *a, const void *b);
/* Its 64-bit order summary for the ordered sets (see bptree.h). */
uint64_t tables__item_key(const void *a);
/* Puts item text: validates, (live) checks cond and writes ITEM_PUT, links
 * it in place of the item with its key; live puts call the change callback. */
status_t tables__put(table_t *t, const char *text, size_t len, const table_cond_t *cond, int live, err_t *err);
/* Unlinks and frees the item; live: writes ITEM_DEL and calls the change callback. */
void tables__remove(table_t *t, titem_t *it, int live);
titem_t *tables__item_of_ttl(heap_node_t *n);
void tables__free_items(table_t *t); /* leaves t->items and the bucket maps dangling: for table_free */
void tables__dump_items(const table_t *t, store_snap_t *snap);
/* The structural invariants above, for tests and fuzzing: 0 or -1. */
int tables__verify(const tables_t *ts);

#endif
