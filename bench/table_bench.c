/*
 * table-bench — the cost of a table's operations at a million items, the
 * shape of the gateway's accept path: one item per request keyed by a random
 * UUID, then its result stored over it. Through the tables API (no store, no
 * HTTP), one thread; prints ns per operation for
 *   insert   table_put of a new item (key map + ordered index)
 *   replace  table_put over each item once (same key: its place is kept)
 *   get      table_get of each item
 *   scan     table_scan in pages of 100 resumed after the last key, as the
 *            HTTP API pages (ns per item)
 * Item texts are built before each timed phase, so the figures are the
 * engine's. Keys come from a fixed-seed generator: runs are comparable.
 *
 *   table-bench [-n items]      (default 1000000)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "tables/tables.h"
#include "util/buf.h"
#include "util/kv.h"

#define UUID_LEN 36
#define PAGE 100

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint64_t rng = 0x9e3779b97f4a7c15ull;

static uint64_t next_rand(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

/* A version-4-shaped UUID in lower-case hex. */
static void uuid_make(char out[UUID_LEN + 1])
{
    static const char hex[] = "0123456789abcdef";
    uint64_t hi = next_rand(), lo = next_rand();
    for (int i = 0, d = 0; i < UUID_LEN; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            out[i] = '-';
            continue;
        }
        uint64_t *w = d < 16 ? &hi : &lo;
        out[i] = hex[*w & 15];
        *w >>= 4;
        d++;
    }
    out[14] = '4';
    out[UUID_LEN] = '\0';
}

static void fail(const char *what, const err_t *err)
{
    fprintf(stderr, "table-bench: %s: %s\n", what, err ? err->msg : "unexpected result");
    exit(1);
}

/* One item text per key, from fmt with the key in it. */
static char **texts(char (*keys)[UUID_LEN + 1], size_t n, const char *fmt)
{
    char **v = malloc(n * sizeof *v);
    char tmp[256];
    for (size_t i = 0; i < n; i++) {
        snprintf(tmp, sizeof tmp, fmt, keys[i]);
        v[i] = strdup(tmp);
    }
    return v;
}

static void texts_free(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

static double put_all(table_t *t, char **items, size_t n)
{
    err_t err;
    double t0 = now();
    for (size_t i = 0; i < n; i++)
        if (table_put(t, items[i], strlen(items[i]), NULL, &err) != ST_OK)
            fail("put", &err);
    return (now() - t0) * 1e9 / (double)n;
}

static double get_all(table_t *t, char (*keys)[UUID_LEN + 1], size_t n)
{
    buf_t b = BUF_INIT;
    err_t err;
    double t0 = now();
    for (size_t i = 0; i < n; i++) {
        buf_reset(&b);
        if (table_get(t, keys[i], NULL, &b, &err) != ST_OK)
            fail("get", &err);
    }
    double ns = (now() - t0) * 1e9 / (double)n;
    buf_free(&b);
    return ns;
}

/* The key of an item text {"id":"<uuid>",...} into after. */
static void key_of(const char *item, char after[UUID_LEN + 1])
{
    const char *p = strstr(item, "\"id\":\"");
    if (!p)
        fail("scan: an item without its key", NULL);
    memcpy(after, p + 6, UUID_LEN);
    after[UUID_LEN] = '\0';
}

/* Pages through the whole table; ns per item. */
static double scan_all(table_t *t, size_t n)
{
    char after[UUID_LEN + 1];
    size_t seen = 0;
    int more = 1;
    err_t err;
    double t0 = now();
    for (int first = 1; more; first = 0) {
        strv_t page = {0};
        if (table_scan(t, first ? NULL : after, NULL, PAGE, &page, &more, &err) != ST_OK)
            fail("scan", &err);
        if (page.n)
            key_of(page.v[page.n - 1], after);
        seen += page.n;
        strv_free(&page);
        if (seen > n)
            break;
    }
    double ns = (now() - t0) * 1e9 / (double)n;
    if (seen != n)
        fail("scan: a different number of items than put", NULL);
    return ns;
}

int main(int argc, char **argv)
{
    size_t n = 1000000;
    for (int c; (c = getopt(argc, argv, "n:")) != -1;) {
        if (c != 'n' || atol(optarg) < 1) {
            fprintf(stderr, "usage: table-bench [-n items]\n");
            return 2;
        }
        n = (size_t)atol(optarg);
    }
    char(*keys)[UUID_LEN + 1] = malloc(n * sizeof *keys);
    for (size_t i = 0; i < n; i++)
        uuid_make(keys[i]);
    tables_t *ts = tables_new(NULL);
    table_def_t def = {.name = "bench", .pk = "id"};
    table_t *t;
    err_t err;
    if (tables_create(ts, &def, &t, &err) != ST_OK)
        fail("create", &err);

    char **items = texts(keys, n, "{\"id\":\"%s\",\"status\":\"ACCEPTED\"}");
    double ins = put_all(t, items, n);
    texts_free(items, n);
    if (table_count(t) != n)
        fail("insert: duplicate keys from the generator", NULL);
    items = texts(keys, n, "{\"id\":\"%s\",\"status\":\"SUCCEEDED\",\"result\":42}");
    double rep = put_all(t, items, n);
    texts_free(items, n);
    double get = get_all(t, keys, n);
    double scan = scan_all(t, n);
    printf("items %zu  insert %.0f ns/op  replace %.0f ns/op  get %.0f ns/op  scan %.0f ns/item\n", n, ins, rep, get,
           scan);
    tables_free(ts);
    free(keys);
    return 0;
}
