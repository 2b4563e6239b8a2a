/*
 * fuzz_tables_apply — the tables engine's replay of arbitrary records.
 *
 * Input: a sequence of records, each [u8 t][u16 len, little-endian][len
 * payload bytes] with type TABLES_REC_MIN + (t & 15); a last record whose
 * payload is cut short takes what is left. Every record goes to
 * tables_apply on a store-less engine on a fixed clock, accepted or not.
 * Checks:
 *   - after every record the engine's invariants hold (tables__verify: key
 *     map, key order, index buckets, TTL heap, counters);
 *   - a scan in pages of 3, resumed after each page's last key as a caller
 *     would (the key read back from the item), returns exactly the items of
 *     one full scan, and the full scan returns table_count items;
 *   - what replay built is a state live calls can reach: a second engine
 *     given each table's definition and each item through tables_create and
 *     table_put accepts them all and scans the same;
 *   - once both engines have ticked until nothing is due, they still scan
 *     the same and verify.
 * Nothing may crash, leak or hang.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "tables/tables.h"
#include "tables/tables_int.h"
#include "util/jv.h"
#include "util/logging.h"

#define FZ_NOW 1700000000000ull

static uint64_t fz_clock(void)
{
    return FZ_NOW;
}

static void fz_apply_all(tables_t *ts, const uint8_t *p, size_t n)
{
    while (n >= 3) {
        uint8_t type = (uint8_t)(TABLES_REC_MIN + (p[0] & 15));
        size_t len = (size_t)(p[1] | p[2] << 8);
        p += 3;
        n -= 3;
        if (len > n)
            len = n;
        tables_apply(ts, type, p, len);
        FUZZ_CHECK(tables__verify(ts) == 0);
        p += len;
        n -= len;
    }
}

/* The key texts of item (a string's characters, a number's text) into
 * pk/sk bufs; sk stays empty without a sort key. */
static void fz_key_of(const table_def_t *d, const char *item, buf_t *pk, buf_t *sk)
{
    jv_doc_t *doc = jv_doc_new();
    const jv_t *v = jv_parse(doc, item, strlen(item), NULL, 0);
    const jv_t *k = jv_get(v, d->pk), *s = d->sk ? jv_get(v, d->sk) : NULL;
    FUZZ_CHECK(k && (k->type == JV_STRING || k->type == JV_NUMBER) && (!d->sk || s));
    buf_reset(pk);
    buf_reset(sk);
    buf_append(pk, k->u.str, k->len);
    if (s)
        buf_append(sk, s->u.str, s->len);
    jv_doc_free(doc);
}

static void fz_check_paging(const table_t *t, const strv_t *all)
{
    const table_def_t *d = table_def(t);
    buf_t pk = BUF_INIT, sk = BUF_INIT;
    size_t seen = 0;
    int more = 1, first = 1;
    while (more) {
        strv_t page = {0};
        FUZZ_CHECK(table_scan(t, first ? NULL : pk.data, first || !d->sk ? NULL : sk.data, 3, &page, &more, NULL) ==
                   ST_OK);
        FUZZ_CHECK(page.n <= 3 && (!more || page.n == 3) && seen + page.n <= all->n);
        for (size_t i = 0; i < page.n; i++)
            FUZZ_CHECK(strcmp(page.v[i], all->v[seen + i]) == 0);
        seen += page.n;
        if (page.n)
            fz_key_of(d, page.v[page.n - 1], &pk, &sk);
        first = 0;
        strv_free(&page);
    }
    FUZZ_CHECK(seen == all->n);
    buf_free(&pk);
    buf_free(&sk);
}

static void fz_scan_all(const table_t *t, strv_t *out)
{
    int more;
    FUZZ_CHECK(table_scan(t, NULL, NULL, 0, out, &more, NULL) == ST_OK && !more);
    FUZZ_CHECK(out->n == table_count(t));
}

/* Rebuilds table t in engine live through the public calls. */
static void fz_rebuild(tables_t *live, const table_t *t, const strv_t *items)
{
    table_t *copy = NULL;
    err_t err;
    FUZZ_CHECK(tables_create(live, table_def(t), &copy, &err) == ST_OK);
    for (size_t i = 0; i < items->n; i++)
        FUZZ_CHECK(table_put(copy, items->v[i], strlen(items->v[i]), NULL, &err) == ST_OK);
}

static void fz_same_scans(const tables_t *a, const tables_t *b)
{
    strv_t names = {0};
    tables_list(a, &names);
    for (size_t i = 0; i < names.n; i++) {
        strv_t x = {0}, y = {0};
        const table_t *tb = tables_find(b, names.v[i]);
        FUZZ_CHECK(tb != NULL);
        fz_scan_all(tables_find(a, names.v[i]), &x);
        fz_scan_all(tb, &y);
        FUZZ_CHECK(x.n == y.n);
        for (size_t k = 0; k < x.n; k++)
            FUZZ_CHECK(strcmp(x.v[k], y.v[k]) == 0);
        strv_free(&x);
        strv_free(&y);
    }
    strv_free(&names);
}

/* Paging and the live rebuild, for every table replay made. */
static void fz_check_tables(const tables_t *ts, tables_t *live)
{
    strv_t names = {0};
    tables_list(ts, &names);
    for (size_t i = 0; i < names.n; i++) {
        const table_t *t = tables_find(ts, names.v[i]);
        strv_t all = {0};
        fz_scan_all(t, &all);
        fz_check_paging(t, &all);
        fz_rebuild(live, t, &all);
        strv_free(&all);
    }
    strv_free(&names);
}

/* Ticks until nothing more is due (a tick deletes a bounded batch). */
static void fz_tick_all(tables_t *ts)
{
    uint64_t next;
    while ((next = tables_tick(ts)) != 0 && next <= FZ_NOW)
        ;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int quiet;
    if (!quiet) {
        log_set_level(LOG_FATAL);
        quiet = 1;
    }
    tables_t *ts = tables_new(NULL), *live = tables_new(NULL);
    tables_set_clock(ts, fz_clock);
    tables_set_clock(live, fz_clock);
    fz_apply_all(ts, data, size);
    fz_check_tables(ts, live);
    FUZZ_CHECK(tables__verify(live) == 0);
    fz_same_scans(ts, live);
    fz_tick_all(ts);
    fz_tick_all(live);
    FUZZ_CHECK(tables__verify(ts) == 0 && tables__verify(live) == 0);
    fz_same_scans(ts, live);
    tables_free(ts);
    tables_free(live);
    return 0;
}
