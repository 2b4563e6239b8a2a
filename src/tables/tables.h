/*
 * tables — the key-value part of Sluice (what DynamoDB is in the seeds):
 * named tables of JSON items keyed by a partition key and an optional sort
 * key, with secondary indexes on single attributes and TTL expiry.
 *
 * Model. An item is a JSON object. Its key attributes must be strings or
 * numbers; an item's key is (pk value, sk value) compared as text with the
 * JSON type (the string "1" and the number 1 are different keys). As in a
 * DynamoDB key schema, the items of a table share one type per key
 * attribute: the first item put into an empty table sets it, and while the
 * table holds items a put with the other type is refused. That is what lets
 * the key texts of the calls below (get, delete, query, scan) name exactly
 * one key. Within a partition, items are ordered by sort key: strings
 * bytewise, numbers numerically. A secondary index maps the (string or
 * number) value of one attribute to the items holding it; items without
 * the attribute are not in the index. TTL: when a table names a ttl attribute, an item whose value
 * there is a number of epoch seconds in the past is deleted by tables_tick()
 * (a durable delete, reported to the change callback like any other).
 *
 * All state lives in memory on the loop thread; every mutation is one store
 * record (types TABLES_REC_MIN..MAX) appended before the call returns, and a
 * snapshot is the state written out as records (tables_dump), as in the
 * queues engine. Nothing here knows HTTP or any wire format.
 *
 * Item text handed out (table_get, queries) is compact JSON as it was put.
 */
#ifndef SLUICE_TABLES_H
#define SLUICE_TABLES_H

#include <stddef.h>
#include <stdint.h>

#include "store/store.h"
#include "util/buf.h"
#include "util/kv.h"
#include "util/status.h"

#define TABLES_REC_MIN 64
#define TABLES_REC_MAX 79

#define TABLE_NAME_MAX 255
#define TABLE_ITEM_MAX (400 * 1024) /* bytes of item JSON */
#define TABLE_PK_MAX 2048
#define TABLE_SK_MAX 1024
#define TABLE_INDEXES_MAX 20

typedef struct tables tables_t;
typedef struct table table_t;

typedef struct table_def {
    const char *name;            /* 3..255 of [A-Za-z0-9_.-] */
    const char *pk;              /* partition key attribute */
    const char *sk;              /* sort key attribute, or NULL */
    const char *const *indexes;  /* attributes with a secondary index */
    size_t nindexes;
    const char *ttl_attr;        /* attribute holding expiry (epoch seconds), or NULL */
} table_def_t;

/* store may be NULL: nothing is persisted (unit tests). */
tables_t *tables_new(store_t *store);
void tables_free(tables_t *ts);
/* Wall-clock milliseconds (real time unless a test installs its own). */
void tables_set_clock(tables_t *ts, uint64_t (*clock)(void));
/* cb(arg, wall_ms) runs whenever the earliest TTL deadline becomes earlier. */
void tables_set_deadline_cb(tables_t *ts, void (*cb)(void *, uint64_t), void *arg);
/* Deletes expired items; returns the next expiry in wall ms, or 0 for none. */
uint64_t tables_tick(tables_t *ts);

/* Called after every change of an item: old (NULL when it was created) and
 * new (NULL when deleted or expired) are the item texts, valid during the
 * call only. A hook for result waiters now and change streams later. */
typedef void (*tables_change_fn)(void *arg, table_t *t, const char *old_item, const char *new_item);
void tables_set_change_cb(tables_t *ts, tables_change_fn cb, void *arg);

/* Store hooks: recovery and snapshot. */
int tables_apply(void *ts, uint8_t type, const void *payload, size_t len);
int tables_dump(void *ts, store_snap_t *snap);

/* ---- tables -------------------------------------------------------------------- */

/* Creates a table, or returns the existing one if its definition is the
 * same (ST_ALREADY_EXISTS if it differs). *out is owned by the engine and
 * valid until the table is deleted. */
status_t tables_create(tables_t *ts, const table_def_t *def, table_t **out, err_t *err);
status_t tables_delete(tables_t *ts, table_t *t, err_t *err);
table_t *tables_find(const tables_t *ts, const char *name);
/* Table names in name order. */
void tables_list(const tables_t *ts, strv_t *names);
const char *table_name(const table_t *t);
const table_def_t *table_def(const table_t *t); /* owned by the table */
uint64_t table_count(const table_t *t);

/* ---- items --------------------------------------------------------------------- */

/* Conditions on a put. if_absent: fail when an item with the key exists.
 * unless_attr/unless_value: fail when the existing item's unless_attr is the
 * string unless_value (e.g. do not overwrite a result whose status is
 * already SUCCEEDED). A failed condition is ST_CONDITION_FAILED and changes
 * nothing. */
typedef struct table_cond {
    int if_absent;
    const char *unless_attr;
    const char *unless_value;
    const char *const *unless_values; /* or any of these (NULL-terminated) */
} table_cond_t;

/* Puts item (JSON object text, len bytes) replacing any item with its key.
 * cond may be NULL. Errors: ST_VALIDATION_ERROR (not an object, a key
 * attribute missing or not a string/number or not of the type of the
 * table's items, too large), ST_CONDITION_FAILED. */
status_t table_put(table_t *t, const char *item, size_t len, const table_cond_t *cond, err_t *err);
/* Appends the item with the key to out. sk NULL when the table has none.
 * Key values are given as text: a string key's characters, or a number's
 * text. ST_NOT_FOUND when there is no such item. */
status_t table_get(const table_t *t, const char *pk, const char *sk, buf_t *out, err_t *err);
/* Deletes the item (ST_NOT_FOUND when absent); its text goes to old_out
 * when that is not NULL. */
status_t table_delete_item(table_t *t, const char *pk, const char *sk, buf_t *old_out, err_t *err);
/* Items of one partition in sort-key order, at most max (0: all). */
status_t table_query(const table_t *t, const char *pk, size_t max, strv_t *items, err_t *err);
/* Items whose indexed attribute attr has value (text, as for keys; index
 * values have no fixed type, so a string and a number with that text both
 * match), in key order, at most max (0: all). ST_VALIDATION_ERROR if attr
 * has no index. */
status_t table_query_index(const table_t *t, const char *attr, const char *value, size_t max, strv_t *items,
                           err_t *err);
/* Items in key order after the item whose key is (after_pk, after_sk)
 * (after_pk NULL: from the start), at most max. *more is set when more remain. */
status_t table_scan(const table_t *t, const char *after_pk, const char *after_sk, size_t max, strv_t *items,
                    int *more, err_t *err);

/* A table's requests since the daemon started: reads (get, query, index
 * query, scan) and writes (put, delete), whatever their outcome. */
typedef struct table_counts {
    uint64_t reads, writes;
} table_counts_t;
const table_counts_t *table_counts(const table_t *t); /* owned by the table */

typedef struct tables_stats {
    uint64_t tables, items, puts, deletes, expired;
} tables_stats_t;
void tables_get_stats(const tables_t *ts, tables_stats_t *out);

#endif
