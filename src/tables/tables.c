/*
 * tables — the registry of tables (create, delete, find, list), the
 * engine's records (apply and dump), its clock and the TTL clockwork.
 * The items of a table live in items.c.
 *
 * Records (little-endian, buf_put_*; exactly one per mutation):
 *   TBL_CREATE (64)  name, pk, sk|NULL, u32 n, n × index attribute, ttl_attr|NULL
 *   TBL_DROP   (65)  name: the table and all its items go
 *   ITEM_PUT   (66)  table name, bytes: the item as compact JSON (replaces the
 *                    item with its key)
 *   ITEM_DEL   (67)  table name, bytes: the item's typed key — pk type ('S' or
 *                    'N'), pk bytes, NUL, then with a sort key sk type and sk
 *                    bytes (a delete and a TTL expiry alike)
 * Strings are u32 length + bytes (0xffffffff: NULL), bytes the same without
 * the NULL. A snapshot writes TBL_CREATE for each table followed by ITEM_PUT
 * for each of its items: the same records replay reads.
 *
 * Replay rebuilds the indexes and the TTL heap as live puts do, but it is
 * not a change: it writes no record and calls neither the change callback
 * nor the deadline callback (the daemon calls tables_tick after recovery to
 * learn the first deadline). Items whose expiry passed while the daemon was
 * down are replayed and go at that first tick, with a durable delete. A
 * record that does not decode in full, or does not apply (unknown table,
 * invalid definition or item, absent key, a differing re-create), is
 * refused with -1: recovery stops rather than guess.
 *
 * TTL: all tables share one heap of expiring items, keyed by expiry in wall
 * ms (the ttl attribute's seconds × 1000; an attribute that is not a number,
 * is negative or beyond 1e15 s means no expiry). tables_tick deletes at most
 * TICK_BATCH expired items per call, so a backlog after a long stop does not
 * hold the loop; its return value is then already due and the daemon ticks
 * again at once. The deadline callback runs, with the heap's earliest
 * expiry, when that is earlier than the deadline last asked for or returned
 * by tables_tick.
 */
#include <stdlib.h>
#include <string.h>

#include "tables/tables_int.h"
#include "util/alloc.h"
#include "util/clock.h"
#include "util/logging.h"
#include "util/text.h"

#define TICK_BATCH 1024
#define ATTR_NAME_MAX 255

tables_t *tables_new(store_t *store)
{
    tables_t *ts = xcalloc(1, sizeof *ts);
    ts->store = store;
    hmap_init(&ts->by_name);
    heap_init(&ts->ttl);
    ts->clock = clock_wall_ms;
    return ts;
}

static void def_free(table_def_t *d)
{
    for (size_t i = 0; i < d->nindexes; i++)
        free((char *)d->indexes[i]);
    free((char **)d->indexes);
    free((char *)d->name);
    free((char *)d->pk);
    free((char *)d->sk);
    free((char *)d->ttl_attr);
    memset(d, 0, sizeof *d);
}

/* Frees the table and its items; it must be out of ts->by_name already. */
static void table_free(table_t *t)
{
    tables__free_items(t);
    for (size_t i = 0; i < t->def.nindexes; i++)
        hmap_free(&t->ix[i].buckets);
    free(t->ix);
    hmap_free(&t->items);
    def_free(&t->def);
    free(t->counts);
    free(t);
}

const table_counts_t *table_counts(const table_t *t)
{
    return t->counts;
}

void tables_free(tables_t *ts)
{
    if (!ts)
        return;
    void *v;
    for (size_t it = 0; hmap_next(&ts->by_name, &it, &v);)
        table_free(v);
    hmap_free(&ts->by_name);
    heap_free(&ts->ttl);
    buf_free(&ts->rec_buf);
    free(ts);
}

void tables_set_clock(tables_t *ts, uint64_t (*clock)(void))
{
    ts->clock = clock;
}

void tables_set_deadline_cb(tables_t *ts, void (*cb)(void *, uint64_t), void *arg)
{
    ts->deadline_cb = cb;
    ts->deadline_arg = arg;
}

void tables_set_change_cb(tables_t *ts, tables_change_fn cb, void *arg)
{
    ts->change_cb = cb;
    ts->change_arg = arg;
}

void tables_get_stats(const tables_t *ts, tables_stats_t *out)
{
    *out = ts->stats;
}

/* ---- engine internals ------------------------------------------------------------ */

void tables__emit(tables_t *ts, uint8_t type, const buf_t *b)
{
    if (ts->store && !ts->replaying)
        store_append(ts->store, type, b->data, b->len);
}

void tables__ask_deadline(tables_t *ts)
{
    heap_node_t *n = heap_min(&ts->ttl);
    if (n && ts->deadline_cb && !ts->replaying && (!ts->armed || n->key < ts->armed)) {
        ts->armed = n->key;
        ts->deadline_cb(ts->deadline_arg, n->key);
    }
}

void tables__changed(table_t *t, const char *old_item, const char *new_item)
{
    tables_t *ts = t->ts;
    if (ts->change_cb && !ts->replaying)
        ts->change_cb(ts->change_arg, t, old_item, new_item);
}

uint64_t tables_tick(tables_t *ts)
{
    uint64_t now = ts->clock();
    heap_node_t *n;
    ts->armed = 0;
    for (size_t done = 0; done < TICK_BATCH && (n = heap_min(&ts->ttl)) && n->key <= now; done++) {
        titem_t *it = tables__item_of_ttl(n);
        ts->stats.expired++;
        tables__remove(it->t, it, 1);
    }
    n = heap_min(&ts->ttl);
    ts->armed = n ? n->key : 0;
    return ts->armed;
}

/* ---- definitions ----------------------------------------------------------------- */

static int name_chars_ok(const char *name)
{
    return text_name_chars(name, strlen(name), "_-.");
}

static status_t name_check(const char *name, err_t *err)
{
    size_t n = name ? strlen(name) : 0;
    if (n < 3 || n > TABLE_NAME_MAX)
        return err_set(err, ST_VALIDATION_ERROR,
                       "1 validation error detected: Value '%.300s' at 'tableName' failed to satisfy constraint: "
                       "Member must have length %s",
                       name ? name : "", n < 3 ? "greater than or equal to 3" : "less than or equal to 255");
    if (!name_chars_ok(name))
        return err_set(err, ST_VALIDATION_ERROR,
                       "1 validation error detected: Value '%.300s' at 'tableName' failed to satisfy constraint: "
                       "Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+",
                       name);
    return ST_OK;
}

static status_t attr_check(const char *what, const char *attr, err_t *err)
{
    if (!attr || !*attr || strlen(attr) > ATTR_NAME_MAX)
        return err_set(err, ST_VALIDATION_ERROR,
                       "One or more parameter values were invalid: the %s attribute name must be 1 to 255 bytes",
                       what);
    return ST_OK;
}

static int str_eq(const char *a, const char *b)
{
    return a == b || (a && b && strcmp(a, b) == 0);
}

static int has_index(const table_def_t *d, size_t upto, const char *attr)
{
    for (size_t i = 0; i < upto; i++)
        if (strcmp(d->indexes[i], attr) == 0)
            return 1;
    return 0;
}

static status_t indexes_check(const table_def_t *d, err_t *err)
{
    if (d->nindexes > TABLE_INDEXES_MAX || (d->nindexes && !d->indexes))
        return err_set(err, ST_VALIDATION_ERROR,
                       "One or more parameter values were invalid: a table has at most %d indexes", TABLE_INDEXES_MAX);
    for (size_t i = 0; i < d->nindexes; i++) {
        status_t st = attr_check("index", d->indexes[i], err);
        if (st != ST_OK)
            return st;
        if (has_index(d, i, d->indexes[i]))
            return err_set(err, ST_VALIDATION_ERROR,
                           "One or more parameter values were invalid: duplicate index on attribute %.300s",
                           d->indexes[i]);
    }
    return ST_OK;
}

static status_t def_check(const table_def_t *d, err_t *err)
{
    status_t st = name_check(d->name, err);
    if (st == ST_OK)
        st = attr_check("partition key", d->pk, err);
    if (st == ST_OK && d->sk)
        st = attr_check("sort key", d->sk, err);
    if (st == ST_OK && d->sk && strcmp(d->sk, d->pk) == 0)
        st = err_set(err, ST_VALIDATION_ERROR,
                     "One or more parameter values were invalid: the sort key must differ from the partition key");
    if (st == ST_OK && d->ttl_attr)
        st = attr_check("ttl", d->ttl_attr, err);
    return st == ST_OK ? indexes_check(d, err) : st;
}

/* Same definition: indexes compare as sets (def_check refused repeats). */
static int def_same(const table_def_t *a, const table_def_t *b)
{
    if (!str_eq(a->pk, b->pk) || !str_eq(a->sk, b->sk) || !str_eq(a->ttl_attr, b->ttl_attr) ||
        a->nindexes != b->nindexes)
        return 0;
    for (size_t i = 0; i < b->nindexes; i++)
        if (!has_index(a, a->nindexes, b->indexes[i]))
            return 0;
    return 1;
}

static void def_copy(table_def_t *dst, const table_def_t *src)
{
    char **ix = src->nindexes ? xcalloc(src->nindexes, sizeof *ix) : NULL;
    for (size_t i = 0; i < src->nindexes; i++)
        ix[i] = xstrdup(src->indexes[i]);
    dst->name = xstrdup(src->name);
    dst->pk = xstrdup(src->pk);
    dst->sk = xstrdup_opt(src->sk);
    dst->indexes = (const char *const *)ix;
    dst->nindexes = src->nindexes;
    dst->ttl_attr = xstrdup_opt(src->ttl_attr);
}

static table_t *table_new(tables_t *ts, const table_def_t *def)
{
    table_t *t = xcalloc(1, sizeof *t);
    t->counts = xcalloc(1, sizeof *t->counts);
    t->ts = ts;
    def_copy(&t->def, def);
    hmap_init(&t->items);
    bptree_init(&t->order, tables__item_cmp, tables__item_key);
    t->ix = t->def.nindexes ? xcalloc(t->def.nindexes, sizeof *t->ix) : NULL;
    for (size_t i = 0; i < t->def.nindexes; i++) {
        t->ix[i].attr = t->def.indexes[i];
        hmap_init(&t->ix[i].buckets);
    }
    hmap_put(&ts->by_name, t->def.name, strlen(t->def.name), t);
    ts->stats.tables++;
    return t;
}

static void table_drop(tables_t *ts, table_t *t)
{
    hmap_del(&ts->by_name, t->def.name, strlen(t->def.name));
    ts->stats.tables--;
    table_free(t);
}

/* ---- records --------------------------------------------------------------------- */

static void def_encode(const table_def_t *d, buf_t *b)
{
    buf_put_str(b, d->name);
    buf_put_str(b, d->pk);
    buf_put_str(b, d->sk);
    buf_put_u32(b, (uint32_t)d->nindexes);
    for (size_t i = 0; i < d->nindexes; i++)
        buf_put_str(b, d->indexes[i]);
    buf_put_str(b, d->ttl_attr);
}

/* A string field: 0 with a copy in *out (NULL for the encoded NULL), or -1
 * when it overruns or holds a NUL byte. */
static int rd_str(reader_t *r, const char **out)
{
    uint32_t n;
    const char *p = reader_bytes(r, &n);
    *out = NULL;
    if (r->err || (p && memchr(p, 0, n)))
        return -1;
    *out = p ? xmemdup(p, n) : NULL;
    return 0;
}

static int def_decode(reader_t *r, table_def_t *d)
{
    memset(d, 0, sizeof *d);
    if (rd_str(r, &d->name) || rd_str(r, &d->pk) || rd_str(r, &d->sk))
        return -1;
    uint32_t n = reader_u32(r);
    if (r->err || n > TABLE_INDEXES_MAX)
        return -1;
    char **ix = n ? xcalloc(n, sizeof *ix) : NULL;
    d->indexes = (const char *const *)ix;
    d->nindexes = n;
    for (uint32_t i = 0; i < n; i++)
        if (rd_str(r, (const char **)&ix[i]) || !ix[i])
            return -1;
    return rd_str(r, &d->ttl_attr);
}

static int rd_end(const reader_t *r)
{
    return r->err || r->off != r->len ? -1 : 0;
}

/* The table named by the next bytes field, or NULL. */
static table_t *rd_table(tables_t *ts, reader_t *r)
{
    uint32_t n;
    const char *p = reader_bytes(r, &n);
    return p ? hmap_get(&ts->by_name, p, n) : NULL;
}

static int apply_create(tables_t *ts, reader_t *r)
{
    table_def_t d;
    err_t err;
    int rc = -1;
    if (def_decode(r, &d) == 0 && rd_end(r) == 0 && d.name && d.pk && def_check(&d, &err) == ST_OK) {
        table_t *t = tables_find(ts, d.name);
        rc = t && !def_same(&t->def, &d) ? -1 : 0;
        if (!t)
            table_new(ts, &d);
    }
    def_free(&d);
    return rc;
}

static int apply_drop(tables_t *ts, reader_t *r)
{
    table_t *t = rd_table(ts, r);
    if (!t || rd_end(r))
        return -1;
    table_drop(ts, t);
    return 0;
}

static int apply_item_put(tables_t *ts, reader_t *r)
{
    table_t *t = rd_table(ts, r);
    uint32_t n;
    const char *item = reader_bytes(r, &n);
    err_t err;
    if (!t || !item || rd_end(r))
        return -1;
    return tables__put(t, item, n, NULL, 0, &err) == ST_OK ? 0 : -1;
}

static int apply_item_del(tables_t *ts, reader_t *r)
{
    table_t *t = rd_table(ts, r);
    uint32_t n;
    const char *key = reader_bytes(r, &n);
    titem_t *it = t && key ? hmap_get(&t->items, key, n) : NULL;
    if (!it || rd_end(r))
        return -1;
    tables__remove(t, it, 0);
    return 0;
}

int tables_apply(void *arg, uint8_t type, const void *payload, size_t len)
{
    tables_t *ts = arg;
    reader_t r;
    int rc;
    reader_init(&r, payload, len);
    ts->replaying = 1;
    switch (type) {
    case REC_TBL_CREATE: rc = apply_create(ts, &r); break;
    case REC_TBL_DROP: rc = apply_drop(ts, &r); break;
    case REC_ITEM_PUT: rc = apply_item_put(ts, &r); break;
    case REC_ITEM_DEL: rc = apply_item_del(ts, &r); break;
    default: rc = -1;
    }
    ts->replaying = 0;
    if (rc != 0)
        log_error("tables_record_rejected", "type=%u len=%zu", type, len);
    return rc;
}

int tables_dump(void *arg, store_snap_t *snap)
{
    tables_t *ts = arg;
    buf_t b = BUF_INIT;
    void *v;
    for (size_t it = 0; hmap_next(&ts->by_name, &it, &v);) {
        table_t *t = v;
        buf_reset(&b);
        def_encode(&t->def, &b);
        store_snap_put(snap, REC_TBL_CREATE, b.data, b.len);
        tables__dump_items(t, snap);
    }
    buf_free(&b);
    return 0;
}

/* ---- tables ---------------------------------------------------------------------- */

status_t tables_create(tables_t *ts, const table_def_t *def, table_t **out, err_t *err)
{
    status_t st = def_check(def, err);
    if (st != ST_OK)
        return st;
    table_t *t = tables_find(ts, def->name);
    if (t && !def_same(&t->def, def))
        return err_set(err, ST_ALREADY_EXISTS, "Table already exists: %s", def->name);
    if (!t) {
        buf_t b = BUF_INIT;
        t = table_new(ts, def);
        def_encode(&t->def, &b);
        tables__emit(ts, REC_TBL_CREATE, &b);
        buf_free(&b);
    }
    *out = t;
    return ST_OK;
}

status_t tables_delete(tables_t *ts, table_t *t, err_t *err)
{
    (void)err;
    buf_t b = BUF_INIT;
    buf_put_str(&b, t->def.name);
    tables__emit(ts, REC_TBL_DROP, &b);
    buf_free(&b);
    table_drop(ts, t);
    return ST_OK;
}

table_t *tables_find(const tables_t *ts, const char *name)
{
    return hmap_get(&ts->by_name, name, strlen(name));
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

void tables_list(const tables_t *ts, strv_t *names)
{
    size_t from = names->n;
    void *v;
    for (size_t it = 0; hmap_next(&ts->by_name, &it, &v);)
        strv_add(names, ((table_t *)v)->def.name);
    if (names->n > from)
        qsort(names->v + from, names->n - from, sizeof *names->v, cmp_names);
}

const char *table_name(const table_t *t)
{
    return t->def.name;
}

const table_def_t *table_def(const table_t *t)
{
    return &t->def;
}

uint64_t table_count(const table_t *t)
{
    return t->items.n;
}
