/*
 * items — the items of one table: validating item text into a typed key,
 * linking an item into the key map, the key order, its index buckets and
 * the TTL heap; conditional puts and deletes; and the reads (get, query,
 * index query, scan).
 *
 * Key order (queries, index queries, scans): partitions by pk text,
 * bytewise (for number keys too: 10 before 9); within a partition by sort
 * key, strings bytewise and numbers numerically (2 before 10; equal values
 * by their text, so 1 before 1.0). A table's items share one pk type and
 * one sk type (tables.h), so the key texts the reads take name exactly one
 * typed key, and a scan resumed after a key continues exactly there — also
 * when that item has gone meanwhile.
 *
 * Identity is by text: number keys and index values are the number's text
 * as put (1 and 1.0 are different keys). An item is stored as the compact
 * JSON jv_write makes of it; when the JSON repeats an attribute, the last
 * one counts (as jv_get reads it).
 *
 * A put builds the new item fully before it touches the table. A replace
 * (same key) moves the new text and expiry into the item already in the
 * table, whose places in the key map and the key order depend only on the
 * key, and relinks its index buckets; the replaced text stays alive until
 * the change callback has seen it.
 *
 * The key order and each index bucket are B+ trees (bptree.h) keyed by
 * tables__item_key; iterations over them never mutate the table, and scans
 * resume by re-seeking after a key, never by holding a position.
 */
#include <stdlib.h>
#include <string.h>

#include "tables/tables_int.h"
#include "util/alloc.h"

/* ---- order ----------------------------------------------------------------------- */

static int bytes_cmp(const char *a, size_t an, const char *b, size_t bn)
{
    int c = memcmp(a, b, an < bn ? an : bn);
    return c ? c : (an > bn) - (an < bn);
}

static int type_rank(char type)
{
    return type == 0 ? 0 : type == TV_STR ? 1 : 2;
}

static int tval_cmp(const tval_t *a, const tval_t *b)
{
    if (a->type != b->type)
        return type_rank(a->type) - type_rank(b->type);
    if (a->type == TV_NUM && a->num != b->num)
        return a->num < b->num ? -1 : 1;
    return bytes_cmp(a->s, a->n, b->s, b->n);
}

int tables__item_cmp(const void *a, const void *b)
{
    const titem_t *x = a, *y = b;
    int c = bytes_cmp(x->pk.s, x->pk.n, y->pk.s, y->pk.n);
    if (!c)
        c = type_rank(x->pk.type) - type_rank(y->pk.type);
    return c ? c : tval_cmp(&x->sk, &y->sk);
}

/* The ordered sets' key (see bptree.h): the first 8 bytes of the partition
 * key, big-endian, zero-padded — the order tables__item_cmp starts with. A
 * shorter key that is a prefix of a longer one ties and is left to cmp. */
uint64_t tables__item_key(const void *a)
{
    const titem_t *x = a;
    uint64_t k = 0;
    for (size_t i = 0; i < 8; i++)
        k = k << 8 | (i < x->pk.n ? (unsigned char)x->pk.s[i] : 0);
    return k;
}

static tval_t tval_make(char type, const char *s, size_t n)
{
    tval_t v = {type, s, n, 0};
    if (type == TV_NUM)
        v.num = strtold(s, NULL);
    return v;
}

/* ---- items ----------------------------------------------------------------------- */

static void key_encode(buf_t *b, const tval_t *pk, const tval_t *sk)
{
    buf_putc(b, pk->type);
    buf_append(b, pk->s, pk->n);
    buf_putc(b, '\0');
    if (sk->type) {
        buf_putc(b, sk->type);
        buf_append(b, sk->s, sk->n);
    }
}

static titem_t *item_new(table_t *t, buf_t *text, const tval_t *pk, const tval_t *sk, uint64_t expires)
{
    titem_t *it = xcalloc(1, sizeof *it);
    buf_t key = BUF_INIT;
    it->t = t;
    it->text = buf_detach(text, &it->len);
    key_encode(&key, pk, sk);
    it->key = buf_detach(&key, &it->klen);
    it->pk = tval_make(pk->type, it->key + 1, pk->n);
    it->sk = sk->type ? tval_make(sk->type, it->key + pk->n + 3, sk->n) : tval_make(0, "", 0);
    it->bkt = t->def.nindexes ? xcalloc(t->def.nindexes, sizeof *it->bkt) : NULL;
    it->expires = expires;
    heap_node_init(&it->ttl);
    return it;
}

static void item_free(titem_t *it)
{
    if (!it)
        return;
    free(it->text);
    free(it->key);
    free(it->bkt);
    free(it);
}

titem_t *tables__item_of_ttl(heap_node_t *n)
{
    return (titem_t *)((char *)n - offsetof(titem_t, ttl));
}

static ix_bucket_t *bucket_get(tindex_t *ix, char type, const char *s, size_t n, int create)
{
    buf_t key = BUF_INIT;
    buf_putc(&key, type);
    buf_append(&key, s, n);
    ix_bucket_t *b = hmap_get(&ix->buckets, key.data, key.len);
    if (!b && create) {
        b = xcalloc(1, sizeof *b);
        b->key = buf_detach(&key, &b->klen);
        bptree_init(&b->items, tables__item_cmp, tables__item_key);
        hmap_put(&ix->buckets, b->key, b->klen, b);
    }
    buf_free(&key);
    return b;
}

static void bucket_free(ix_bucket_t *b)
{
    bptree_free(&b->items);
    free(b->key);
    free(b);
}

static void index_link(table_t *t, titem_t *it, const jv_t *v)
{
    for (size_t i = 0; i < t->def.nindexes; i++) {
        const jv_t *a = jv_get(v, t->ix[i].attr);
        if (!jv_is(a, JV_STRING) && !jv_is(a, JV_NUMBER))
            continue;
        it->bkt[i] = bucket_get(&t->ix[i], a->type == JV_STRING ? TV_STR : TV_NUM, a->u.str, a->len, 1);
        bptree_insert(&it->bkt[i]->items, it);
    }
}

static void index_unlink(table_t *t, titem_t *it)
{
    for (size_t i = 0; i < t->def.nindexes; i++) {
        ix_bucket_t *b = it->bkt[i];
        if (!b)
            continue;
        bptree_remove(&b->items, it);
        it->bkt[i] = NULL;
        if (!b->items.n) {
            hmap_del(&t->ix[i].buckets, b->key, b->klen);
            bucket_free(b);
        }
    }
}

/* v is the item's parsed JSON, for its index values. */
static void item_link(table_t *t, titem_t *it, const jv_t *v)
{
    if (!t->items.n) {
        t->pk_type = it->pk.type;
        t->sk_type = it->sk.type;
    }
    hmap_put(&t->items, it->key, it->klen, it);
    bptree_insert(&t->order, it);
    index_link(t, it, v);
    t->ts->stats.items++;
    if (it->expires) {
        heap_set(&t->ts->ttl, &it->ttl, it->expires);
        tables__ask_deadline(t->ts);
    }
}

static void item_unlink(table_t *t, titem_t *it)
{
    hmap_del(&t->items, it->key, it->klen);
    bptree_remove(&t->order, it);
    index_unlink(t, it);
    heap_remove(&t->ts->ttl, &it->ttl);
    t->ts->stats.items--;
    if (!t->items.n)
        t->pk_type = t->sk_type = 0;
}

/* A put over cur, the item with fresh's key: cur stays in the table and
 * takes fresh's text and expiry, fresh gets the replaced text (for the
 * change callback; the caller frees it). Neither the key map nor the key
 * order is touched — the common case of a result stored over its request's
 * record costs no walk down the order. */
static void item_replace(table_t *t, titem_t *cur, titem_t *fresh, const jv_t *v)
{
    char *text = cur->text;
    size_t len = cur->len;
    index_unlink(t, cur);
    cur->text = fresh->text;
    cur->len = fresh->len;
    cur->expires = fresh->expires;
    fresh->text = text;
    fresh->len = len;
    index_link(t, cur, v);
    if (!cur->expires) {
        heap_remove(&t->ts->ttl, &cur->ttl);
        return;
    }
    heap_set(&t->ts->ttl, &cur->ttl, cur->expires);
    tables__ask_deadline(t->ts);
}

void tables__free_items(table_t *t)
{
    bptree_iter_t at = bptree_first(&t->order);
    for (titem_t *it; (it = bptree_next(&at));) {
        heap_remove(&t->ts->ttl, &it->ttl);
        item_free(it);
    }
    t->ts->stats.items -= t->order.n;
    bptree_free(&t->order);
    for (size_t i = 0; i < t->def.nindexes; i++) {
        void *b;
        for (size_t k = 0; hmap_next(&t->ix[i].buckets, &k, &b);)
            bucket_free(b);
    }
}

/* ---- validation ------------------------------------------------------------------ */

static const char *ddb_type(const jv_t *v)
{
    switch (v->type) {
    case JV_NULL: return "NULL";
    case JV_BOOL: return "BOOL";
    case JV_ARRAY: return "L";
    case JV_OBJECT: return "M";
    case JV_NUMBER: return "N";
    default: return "S";
    }
}

static status_t key_of(const jv_t *item, const char *attr, size_t max, tval_t *out, err_t *err)
{
    const jv_t *k = jv_get(item, attr);
    if (!k)
        return err_set(err, ST_VALIDATION_ERROR,
                       "One or more parameter values were invalid: Missing the key %s in the item", attr);
    if (!jv_is(k, JV_STRING) && !jv_is(k, JV_NUMBER))
        return err_set(err, ST_VALIDATION_ERROR,
                       "One or more parameter values were invalid: Type mismatch for key %s expected: S or N actual: %s",
                       attr, ddb_type(k));
    if (k->type == JV_STRING && (!k->len || memchr(k->u.str, 0, k->len)))
        return err_set(err, ST_VALIDATION_ERROR,
                       "One or more parameter values are not valid. The AttributeValue for a key attribute cannot "
                       "contain an empty string value or U+0000. Key: %s",
                       attr);
    if (k->len > max)
        return err_set(err, ST_VALIDATION_ERROR,
                       "One or more parameter values were invalid: Size of key %s has exceeded the maximum size "
                       "limit of %zu bytes",
                       attr, max);
    *out = (tval_t){k->type == JV_STRING ? TV_STR : TV_NUM, k->u.str, k->len, 0};
    return ST_OK;
}

static status_t type_check(const table_t *t, const char *attr, char have, char want, err_t *err)
{
    if (!t->items.n || have == want)
        return ST_OK;
    return err_set(err, ST_VALIDATION_ERROR,
                   "One or more parameter values were invalid: Type mismatch for key %s expected: %c actual: %c", attr,
                   want, have);
}

static status_t keys_of(const table_t *t, const jv_t *item, tval_t *pk, tval_t *sk, err_t *err)
{
    *sk = tval_make(0, "", 0);
    status_t st = key_of(item, t->def.pk, TABLE_PK_MAX, pk, err);
    if (st == ST_OK && t->def.sk)
        st = key_of(item, t->def.sk, TABLE_SK_MAX, sk, err);
    if (st == ST_OK)
        st = type_check(t, t->def.pk, pk->type, t->pk_type, err);
    if (st == ST_OK && t->def.sk)
        st = type_check(t, t->def.sk, sk->type, t->sk_type, err);
    return st;
}

/* The ttl attribute as an expiry in wall ms, or 0. */
static uint64_t expiry_of(const table_t *t, const jv_t *item)
{
    const jv_t *a = t->def.ttl_attr ? jv_get(item, t->def.ttl_attr) : NULL;
    if (!jv_is(a, JV_NUMBER))
        return 0;
    long double secs = strtold(a->u.str, NULL);
    if (!(secs >= 0) || secs >= 1e15L)
        return 0;
    uint64_t ms = (uint64_t)(secs * 1000);
    return ms ? ms : 1;
}

static status_t parse_object(jv_doc_t *d, const char *text, size_t len, const jv_t **out, err_t *err)
{
    char why[128];
    *out = jv_parse(d, text, len, why, sizeof why);
    if (!*out)
        return err_set(err, ST_VALIDATION_ERROR, "One or more parameter values were invalid: the item is not JSON (%s)",
                       why);
    if (!jv_is(*out, JV_OBJECT))
        return err_set(err, ST_VALIDATION_ERROR,
                       "One or more parameter values were invalid: the item must be a JSON object");
    return ST_OK;
}

/* Parses and validates item text into a new, unlinked item. */
static status_t item_build(table_t *t, jv_doc_t *d, const char *text, size_t len, const jv_t **v, titem_t **out,
                           err_t *err)
{
    buf_t compact = BUF_INIT;
    tval_t pk, sk;
    *out = NULL;
    status_t st = parse_object(d, text, len, v, err);
    if (st != ST_OK)
        return st;
    jv_write(*v, &compact);
    if (compact.len > TABLE_ITEM_MAX)
        st = err_set(err, ST_VALIDATION_ERROR, "Item size has exceeded the maximum allowed size");
    if (st == ST_OK)
        st = keys_of(t, *v, &pk, &sk, err);
    if (st == ST_OK)
        *out = item_new(t, &compact, &pk, &sk, expiry_of(t, *v));
    buf_free(&compact);
    return st;
}

/* ---- changes --------------------------------------------------------------------- */

static int str_is(const jv_t *a, const char *value)
{
    return value && jv_is(a, JV_STRING) && a->len == strlen(value) && memcmp(a->u.str, value, a->len) == 0;
}

/* Whether the item's attr is the string value or one of values. */
static int attr_is_string(const titem_t *it, const char *attr, const char *value, const char *const *values)
{
    jv_doc_t *d = jv_doc_new_small();
    const jv_t *a = jv_get(jv_parse(d, it->text, it->len, NULL, 0), attr);
    int is = str_is(a, value);
    for (size_t i = 0; values && values[i] && !is; i++)
        is = str_is(a, values[i]);
    jv_doc_free(d);
    return is;
}

static status_t cond_check(const titem_t *old, const table_cond_t *c, err_t *err)
{
    if (!old || !c)
        return ST_OK;
    if (c->if_absent ||
        (c->unless_attr && (c->unless_value || c->unless_values) &&
         attr_is_string(old, c->unless_attr, c->unless_value, c->unless_values)))
        return err_set(err, ST_CONDITION_FAILED, "The conditional request failed");
    return ST_OK;
}

/* The store copies a record, so the registry's one buffer serves them all. */
static void emit_item(table_t *t, uint8_t type, const char *p, size_t n)
{
    buf_t *b = &t->ts->rec_buf;
    buf_reset(b);
    buf_put_str(b, t->def.name);
    buf_put_bytes(b, p, (uint32_t)n);
    tables__emit(t->ts, type, b);
}

/* cur: the item with it's key, or NULL. */
static void commit_put(table_t *t, titem_t *cur, titem_t *it, const jv_t *v, int live)
{
    if (live)
        emit_item(t, REC_ITEM_PUT, it->text, it->len);
    if (cur)
        item_replace(t, cur, it, v); /* it has the replaced text now */
    else
        item_link(t, it, v);
    if (live) {
        t->ts->stats.puts++;
        tables__changed(t, cur ? it->text : NULL, cur ? cur->text : it->text);
    }
    if (cur)
        item_free(it);
}

status_t tables__put(table_t *t, const char *text, size_t len, const table_cond_t *cond, int live, err_t *err)
{
    jv_doc_t *d = jv_doc_new();
    const jv_t *v = NULL;
    titem_t *it;
    status_t st = item_build(t, d, text, len, &v, &it, err);
    titem_t *old = st == ST_OK ? hmap_get(&t->items, it->key, it->klen) : NULL;
    if (st == ST_OK && live)
        st = cond_check(old, cond, err);
    if (st == ST_OK)
        commit_put(t, old, it, v, live);
    else
        item_free(it);
    jv_doc_free(d);
    return st;
}

void tables__remove(table_t *t, titem_t *it, int live)
{
    if (live)
        emit_item(t, REC_ITEM_DEL, it->key, it->klen);
    item_unlink(t, it);
    if (live)
        tables__changed(t, it->text, NULL);
    item_free(it);
}

status_t table_put(table_t *t, const char *item, size_t len, const table_cond_t *cond, err_t *err)
{
    t->counts->writes++;
    return tables__put(t, item, len, cond, 1, err);
}

void tables__dump_items(const table_t *t, store_snap_t *snap)
{
    buf_t b = BUF_INIT;
    bptree_iter_t at = bptree_first(&t->order);
    for (const titem_t *it; (it = bptree_next(&at));) {
        buf_reset(&b);
        buf_put_str(&b, t->def.name);
        buf_put_bytes(&b, it->text, (uint32_t)it->len);
        store_snap_put(snap, REC_ITEM_PUT, b.data, b.len);
    }
    buf_free(&b);
}

/* ---- reads ----------------------------------------------------------------------- */

static status_t key_args(const table_t *t, const char *pk, const char *sk, err_t *err)
{
    if (!pk || !sk != !t->def.sk)
        return err_set(err, ST_VALIDATION_ERROR, "The provided key element does not match the schema");
    return ST_OK;
}

/* A probe for the key order: (pk, sk) typed as the table's items are; sk
 * NULL sorts before every sort key of the partition. */
static void probe_init(const table_t *t, titem_t *p, const char *pk, const char *sk)
{
    memset(p, 0, sizeof *p);
    p->pk = tval_make(t->pk_type, pk, strlen(pk));
    p->sk = sk && t->sk_type ? tval_make(t->sk_type, sk, strlen(sk)) : tval_make(0, "", 0);
}

static titem_t *find_item(const table_t *t, const char *pk, const char *sk)
{
    if (!t->items.n)
        return NULL;
    titem_t p;
    buf_t key = BUF_INIT;
    probe_init(t, &p, pk, sk);
    key_encode(&key, &p.pk, &p.sk);
    titem_t *it = hmap_get(&t->items, key.data, key.len);
    buf_free(&key);
    return it;
}

static status_t lookup(const table_t *t, const char *pk, const char *sk, titem_t **out, err_t *err)
{
    status_t st = key_args(t, pk, sk, err);
    if (st != ST_OK)
        return st;
    *out = find_item(t, pk, sk);
    return *out ? ST_OK : err_set(err, ST_NOT_FOUND, "The item does not exist");
}

status_t table_get(const table_t *t, const char *pk, const char *sk, buf_t *out, err_t *err)
{
    t->counts->reads++;
    titem_t *it;
    status_t st = lookup(t, pk, sk, &it, err);
    if (st == ST_OK)
        buf_append(out, it->text, it->len);
    return st;
}

status_t table_delete_item(table_t *t, const char *pk, const char *sk, buf_t *old_out, err_t *err)
{
    t->counts->writes++;
    titem_t *it;
    status_t st = lookup(t, pk, sk, &it, err);
    if (st != ST_OK)
        return st;
    if (old_out)
        buf_append(old_out, it->text, it->len);
    t->ts->stats.deletes++;
    tables__remove(t, it, 1);
    return ST_OK;
}

status_t table_query(const table_t *t, const char *pk, size_t max, strv_t *items, err_t *err)
{
    t->counts->reads++;
    if (!pk)
        return err_set(err, ST_VALIDATION_ERROR, "The provided key element does not match the schema");
    titem_t p;
    probe_init(t, &p, pk, NULL);
    bptree_iter_t i = bptree_seek(&t->order, &p, 0);
    const titem_t *it;
    for (size_t k = 0; (!max || k < max) && (it = bptree_next(&i)); k++) {
        if (bytes_cmp(it->pk.s, it->pk.n, p.pk.s, p.pk.n) != 0)
            break;
        strv_add(items, it->text);
    }
    return ST_OK;
}

static const tindex_t *index_of(const table_t *t, const char *attr)
{
    for (size_t i = 0; attr && i < t->def.nindexes; i++)
        if (strcmp(t->ix[i].attr, attr) == 0)
            return &t->ix[i];
    return NULL;
}

static bptree_iter_t bucket_first(const tindex_t *ix, char type, const char *value)
{
    const ix_bucket_t *b = bucket_get((tindex_t *)ix, type, value, strlen(value), 0);
    return b ? bptree_first(&b->items) : (bptree_iter_t){NULL, 0};
}

/* Index values are not type-locked: a text names the string and the number
 * with that text, and their items come merged in key order. */
status_t table_query_index(const table_t *t, const char *attr, const char *value, size_t max, strv_t *items,
                           err_t *err)
{
    t->counts->reads++;
    const tindex_t *ix = index_of(t, attr);
    if (!ix)
        return err_set(err, ST_VALIDATION_ERROR, "The table does not have the specified index: %s",
                       attr ? attr : "(none)");
    if (!value)
        return err_set(err, ST_VALIDATION_ERROR, "An index query needs a value");
    bptree_iter_t s = bucket_first(ix, TV_STR, value), n = bucket_first(ix, TV_NUM, value);
    for (size_t k = 0; (s.leaf || n.leaf) && (!max || k < max); k++) {
        const titem_t *a = bptree_peek(&s), *b = bptree_peek(&n);
        bptree_iter_t *pick = !b || (a && tables__item_cmp(a, b) < 0) ? &s : &n;
        strv_add(items, ((const titem_t *)bptree_next(pick))->text);
    }
    return ST_OK;
}

status_t table_scan(const table_t *t, const char *after_pk, const char *after_sk, size_t max, strv_t *items,
                    int *more, err_t *err)
{
    t->counts->reads++;
    bptree_iter_t i = bptree_first(&t->order);
    *more = 0;
    if (after_pk) {
        status_t st = key_args(t, after_pk, after_sk, err);
        if (st != ST_OK)
            return st;
        titem_t p;
        probe_init(t, &p, after_pk, after_sk);
        i = bptree_seek(&t->order, &p, 1);
    }
    for (size_t k = 0; i.leaf && (!max || k < max); k++)
        strv_add(items, ((const titem_t *)bptree_next(&i))->text);
    *more = i.leaf != NULL;
    return ST_OK;
}

/* ---- verification ---------------------------------------------------------------- */

static int verify_item_index(const table_t *t, const titem_t *it, const jv_t *v, size_t i)
{
    const jv_t *a = jv_get(v, t->ix[i].attr);
    const ix_bucket_t *b = it->bkt[i];
    if (!jv_is(a, JV_STRING) && !jv_is(a, JV_NUMBER))
        return b ? -1 : 0;
    char type = a->type == JV_STRING ? TV_STR : TV_NUM;
    if (!b || b != bucket_get(&t->ix[i], type, a->u.str, a->len, 0))
        return -1;
    bptree_iter_t at = bptree_seek(&b->items, it, 0);
    return bptree_peek(&at) == it ? 0 : -1;
}

static int verify_item(const table_t *t, const titem_t *it)
{
    if (hmap_get(&t->items, it->key, it->klen) != it || it->t != t || it->pk.type != t->pk_type ||
        it->sk.type != t->sk_type || (it->expires != 0) != heap_contains(&it->ttl))
        return -1;
    jv_doc_t *d = jv_doc_new();
    const jv_t *v = jv_parse(d, it->text, it->len, NULL, 0);
    int rc = jv_is(v, JV_OBJECT) ? 0 : -1;
    for (size_t i = 0; rc == 0 && i < t->def.nindexes; i++)
        rc = verify_item_index(t, it, v, i);
    jv_doc_free(d);
    return rc;
}

/* Each bucket is a non-empty, well-formed ordered set (bptree_verify also
 * checks the order) holding only items that point to it. */
static int verify_buckets(const table_t *t, size_t i)
{
    void *v;
    for (size_t k = 0; hmap_next(&t->ix[i].buckets, &k, &v);) {
        const ix_bucket_t *b = v;
        if (!b->items.n || bptree_verify(&b->items))
            return -1;
        bptree_iter_t at = bptree_first(&b->items);
        for (const titem_t *it; (it = bptree_next(&at));)
            if (it->bkt[i] != b)
                return -1;
    }
    return 0;
}

/* The key order is a well-formed set in key order (bptree_verify) of
 * exactly the table's items. */
static int verify_table(const table_t *t, size_t *nttl)
{
    size_t n = 0;
    if (bptree_verify(&t->order))
        return -1;
    bptree_iter_t at = bptree_first(&t->order);
    for (const titem_t *it; (it = bptree_next(&at)); n++) {
        if (verify_item(t, it))
            return -1;
        *nttl += it->expires != 0;
    }
    if (n != t->items.n || n != t->order.n || (!n && (t->pk_type || t->sk_type)))
        return -1;
    for (size_t i = 0; i < t->def.nindexes; i++)
        if (verify_buckets(t, i))
            return -1;
    return 0;
}

int tables__verify(const tables_t *ts)
{
    size_t nttl = 0, nitems = 0;
    void *v;
    for (size_t k = 0; hmap_next(&ts->by_name, &k, &v);) {
        if (verify_table(v, &nttl))
            return -1;
        nitems += ((const table_t *)v)->items.n;
    }
    return nitems == ts->stats.items && nttl == ts->ttl.n && ts->by_name.n == ts->stats.tables ? 0 : -1;
}
