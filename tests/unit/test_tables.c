/*
 * test_tables — the tables engine: table definitions and names, puts with
 * the typed key (a table's items share one key type), sort-key order,
 * queries, secondary indexes kept in step with every change, conditions,
 * validation, TTL expiry on a fake clock with its deadlines, the change
 * callback, scan paging, and durability through the real store: recovery
 * from the log and from a snapshot gives back the same items, indexes and
 * TTL heap, each mutation is exactly one record, and hostile records are
 * refused without harm.
 *
 * After every test that changes state, tables__verify checks the engine's
 * internal invariants (key map, order, buckets, heap, counters). Time and
 * the status checks are the queues fixture's.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "loop_fixture.h"
#include "queues_fixture.h"
#include "store/store.h"
#include "tables/tables.h"
#include "tables/bptree.h"
#include "tables/tables_int.h"
#include "util/buf.h"
#include "util/logging.h"

#define WAIT_MS 5000
#define T0 QT_T0

#define CHECK_OK(ts) CHECK_INT(tables__verify(ts), 0)

/* ---- fixtures (clock and status checks: the queues fixture's) ---- */

static tables_t *engine_on(store_t *st)
{
    tables_t *ts = tables_new(st);
    tables_set_clock(ts, qt_clock);
    return ts;
}

static tables_t *engine(void)
{
    qt_now_ms = T0;
    return engine_on(NULL);
}

static table_t *mk_table(tables_t *ts, const char *name, const char *pk, const char *sk, const char *const *ix,
                         size_t nix, const char *ttl)
{
    table_def_t d = {.name = name, .pk = pk, .sk = sk, .indexes = ix, .nindexes = nix, .ttl_attr = ttl};
    table_t *t = NULL;
    err_t err;
    if (tables_create(ts, &d, &t, &err) != ST_OK)
        fprintf(stderr, "    create %s: %s\n", name, err.msg);
    return t;
}

static status_t put(table_t *t, const char *item)
{
    err_t err;
    return table_put(t, item, strlen(item), NULL, &err);
}

static status_t put_if(table_t *t, const char *item, const table_cond_t *c)
{
    err_t err;
    return table_put(t, item, strlen(item), c, &err);
}

/* The item's text, or "-" when absent (a static buffer). */
static const char *get(const table_t *t, const char *pk, const char *sk)
{
    static char out[8192];
    buf_t b = BUF_INIT;
    err_t err;
    status_t st = table_get(t, pk, sk, &b, &err);
    snprintf(out, sizeof out, "%s", st == ST_OK ? b.data : "-");
    buf_free(&b);
    return out;
}

/* Items joined with ' ' (a static buffer), then freed. */
static const char *joined(strv_t *v)
{
    static char out[16384];
    size_t o = 0;
    out[0] = '\0';
    for (size_t i = 0; i < v->n; i++)
        o += (size_t)snprintf(out + o, sizeof out - o, "%s%s", i ? " " : "", v->v[i]);
    strv_free(v);
    return out;
}

static const char *query(const table_t *t, const char *pk, size_t max)
{
    strv_t v = {0};
    err_t err;
    if (table_query(t, pk, max, &v, &err) != ST_OK)
        return "error";
    return joined(&v);
}

static const char *query_ix(const table_t *t, const char *attr, const char *value)
{
    strv_t v = {0};
    err_t err;
    if (table_query_index(t, attr, value, 0, &v, &err) != ST_OK)
        return "error";
    return joined(&v);
}

/* ---- tables ---- */

TEST(create_is_idempotent_and_refuses_a_differing_definition)
{
    tables_t *ts = engine();
    const char *ix[] = {"status", "owner"}, *ix2[] = {"owner", "status"};
    table_t *t = mk_table(ts, "results", "id", NULL, ix, 2, "expires");
    CHECK(t != NULL);
    CHECK(mk_table(ts, "results", "id", NULL, ix2, 2, "expires") == t); /* index order does not matter */
    table_def_t other = {.name = "results", .pk = "id", .sk = "at", .indexes = ix, .nindexes = 2,
                         .ttl_attr = "expires"};
    table_t *out = NULL;
    CHECK_ERR(tables_create(ts, &other, &out, ERR), ST_ALREADY_EXISTS, "Table already exists: results");
    other = (table_def_t){.name = "results", .pk = "id", .indexes = ix, .nindexes = 1, .ttl_attr = "expires"};
    CHECK_ST(tables_create(ts, &other, &out, NULL), ST_ALREADY_EXISTS);
    CHECK(mk_table(ts, "a.b-c_9", "k", "s", NULL, 0, NULL) != NULL);
    CHECK_STR(table_name(t), "results");
    CHECK_STR(table_def(t)->ttl_attr, "expires");
    CHECK_INT(table_def(t)->nindexes, 2);
    CHECK(tables_find(ts, "results") == t && tables_find(ts, "nope") == NULL);
    strv_t names = {0};
    tables_list(ts, &names);
    CHECK_STR(joined(&names), "a.b-c_9 results");
    tables_stats_t s;
    tables_get_stats(ts, &s);
    CHECK_INT(s.tables, 2);
    CHECK_ST(tables_delete(ts, t, NULL), ST_OK);
    CHECK(tables_find(ts, "results") == NULL);
    CHECK_OK(ts);
    tables_free(ts);
}

TEST(bad_names_and_definitions_are_validation_errors)
{
    tables_t *ts = engine();
    table_t *t;
    table_def_t d = {.name = "ab", .pk = "id"};
    CHECK_ERR(tables_create(ts, &d, &t, ERR), ST_VALIDATION_ERROR,
              "1 validation error detected: Value 'ab' at 'tableName' failed to satisfy constraint: Member must "
              "have length greater than or equal to 3");
    d.name = "has space";
    CHECK_ERR(tables_create(ts, &d, &t, ERR), ST_VALIDATION_ERROR,
              "1 validation error detected: Value 'has space' at 'tableName' failed to satisfy constraint: Member "
              "must satisfy regular expression pattern: [a-zA-Z0-9_.-]+");
    char long_name[300];
    memset(long_name, 'x', 256);
    long_name[256] = '\0';
    d.name = long_name;
    CHECK_ST(tables_create(ts, &d, &t, NULL), ST_VALIDATION_ERROR);
    long_name[255] = '\0';
    CHECK_ST(tables_create(ts, &d, &t, NULL), ST_OK);
    d = (table_def_t){.name = "good", .pk = ""};
    CHECK_ST(tables_create(ts, &d, &t, NULL), ST_VALIDATION_ERROR);
    d = (table_def_t){.name = "good", .pk = "id", .sk = "id"};
    CHECK_ST(tables_create(ts, &d, &t, NULL), ST_VALIDATION_ERROR);
    const char *dup[] = {"a", "a"};
    d = (table_def_t){.name = "good", .pk = "id", .indexes = dup, .nindexes = 2};
    CHECK_ERR(tables_create(ts, &d, &t, ERR), ST_VALIDATION_ERROR,
              "One or more parameter values were invalid: duplicate index on attribute a");
    const char *many[TABLE_INDEXES_MAX + 1];
    char names[TABLE_INDEXES_MAX + 1][16];
    for (int i = 0; i <= TABLE_INDEXES_MAX; i++) {
        snprintf(names[i], sizeof names[i], "a%d", i);
        many[i] = names[i];
    }
    d = (table_def_t){.name = "good", .pk = "id", .indexes = many, .nindexes = TABLE_INDEXES_MAX + 1};
    CHECK_ST(tables_create(ts, &d, &t, NULL), ST_VALIDATION_ERROR);
    d.nindexes = TABLE_INDEXES_MAX;
    CHECK_ST(tables_create(ts, &d, &t, NULL), ST_OK);
    CHECK_OK(ts);
    tables_free(ts);
}

/* ---- items ---- */

TEST(put_get_replace_and_delete_with_compact_text)
{
    tables_t *ts = engine();
    table_t *t = mk_table(ts, "things", "id", NULL, NULL, 0, NULL);
    CHECK_ST(put(t, " { \"id\" : \"a\", \"n\" : [1, 2, {\"x\": null}], \"s\": \"\\u00e9\\n\" } "), ST_OK);
    CHECK_STR(get(t, "a", NULL), "{\"id\":\"a\",\"n\":[1,2,{\"x\":null}],\"s\":\"\xc3\xa9\\n\"}");
    CHECK_ST(put(t, "{\"id\":\"a\",\"v\":2}"), ST_OK);
    CHECK_STR(get(t, "a", NULL), "{\"id\":\"a\",\"v\":2}");
    CHECK_INT(table_count(t), 1);
    CHECK_ST(put(t, "{\"id\":\"b\"}"), ST_OK);
    CHECK_INT(table_count(t), 2);
    buf_t old = BUF_INIT;
    CHECK_ST(table_delete_item(t, "a", NULL, &old, NULL), ST_OK);
    CHECK_STR(old.data, "{\"id\":\"a\",\"v\":2}");
    buf_free(&old);
    CHECK_STR(get(t, "a", NULL), "-");
    CHECK_ERR(table_delete_item(t, "a", NULL, NULL, ERR), ST_NOT_FOUND, "The item does not exist");
    buf_t b = BUF_INIT;
    CHECK_ERR(table_get(t, "zz", NULL, &b, ERR), ST_NOT_FOUND, "The item does not exist");
    CHECK_ERR(table_get(t, "b", "x", &b, ERR), ST_VALIDATION_ERROR,
              "The provided key element does not match the schema");
    CHECK_INT(b.len, 0);
    tables_stats_t s;
    tables_get_stats(ts, &s);
    CHECK_INT(s.items, 1);
    CHECK_INT(s.puts, 3);
    CHECK_INT(s.deletes, 1);
    CHECK_OK(ts);
    tables_free(ts);
}

TEST(key_types_are_part_of_the_key_and_shared_by_a_tables_items)
{
    tables_t *ts = engine();
    table_t *t = mk_table(ts, "nums", "id", NULL, NULL, 0, NULL);
    CHECK_ST(put(t, "{\"id\":1,\"v\":\"one\"}"), ST_OK);
    CHECK_ST(put(t, "{\"id\":1.0,\"v\":\"one point oh\"}"), ST_OK); /* identity is the number's text */
    CHECK_INT(table_count(t), 2);
    CHECK_STR(get(t, "1", NULL), "{\"id\":1,\"v\":\"one\"}");
    CHECK_STR(get(t, "1.0", NULL), "{\"id\":1.0,\"v\":\"one point oh\"}");
    CHECK_ERR(table_put(t, "{\"id\":\"1\"}", 10, NULL, ERR), ST_VALIDATION_ERROR,
              "One or more parameter values were invalid: Type mismatch for key id expected: N actual: S");
    CHECK_ST(table_delete_item(t, "1", NULL, NULL, NULL), ST_OK);
    CHECK_ST(table_delete_item(t, "1.0", NULL, NULL, NULL), ST_OK);
    CHECK_OK(ts);
    /* empty again: the next item sets the type afresh */
    CHECK_ST(put(t, "{\"id\":\"1\",\"v\":\"string\"}"), ST_OK);
    CHECK_STR(get(t, "1", NULL), "{\"id\":\"1\",\"v\":\"string\"}");
    CHECK_ST(put(t, "{\"id\":1}"), ST_VALIDATION_ERROR);
    CHECK_INT(table_count(t), 1);
    table_t *ts2 = mk_table(ts, "pairs", "p", "s", NULL, 0, NULL);
    CHECK_ST(put(ts2, "{\"p\":\"a\",\"s\":5}"), ST_OK);
    CHECK_ERR(table_put(ts2, "{\"p\":\"a\",\"s\":\"5\"}", 17, NULL, ERR), ST_VALIDATION_ERROR,
              "One or more parameter values were invalid: Type mismatch for key s expected: N actual: S");
    CHECK_OK(ts);
    tables_free(ts);
}

TEST(sort_keys_order_numbers_numerically_and_strings_bytewise)
{
    tables_t *ts = engine();
    table_t *n = mk_table(ts, "series", "p", "s", NULL, 0, NULL);
    const char *nums[] = {"10", "2", "-1", "1.5", "1e1", "100", "-20", "0"};
    char item[64];
    for (size_t i = 0; i < sizeof nums / sizeof nums[0]; i++) {
        snprintf(item, sizeof item, "{\"p\":\"x\",\"s\":%s}", nums[i]);
        CHECK_ST(put(n, item), ST_OK);
    }
    CHECK_ST(put(n, "{\"p\":\"y\",\"s\":3}"), ST_OK);
    CHECK_STR(query(n, "x", 0), "{\"p\":\"x\",\"s\":-20} {\"p\":\"x\",\"s\":-1} {\"p\":\"x\",\"s\":0} "
                                "{\"p\":\"x\",\"s\":1.5} {\"p\":\"x\",\"s\":2} {\"p\":\"x\",\"s\":10} "
                                "{\"p\":\"x\",\"s\":1e1} {\"p\":\"x\",\"s\":100}");
    CHECK_STR(query(n, "x", 3), "{\"p\":\"x\",\"s\":-20} {\"p\":\"x\",\"s\":-1} {\"p\":\"x\",\"s\":0}");
    CHECK_STR(query(n, "y", 0), "{\"p\":\"y\",\"s\":3}");
    CHECK_STR(query(n, "z", 0), "");
    CHECK_STR(get(n, "x", "1e1"), "{\"p\":\"x\",\"s\":1e1}");
    table_t *s = mk_table(ts, "words", "p", "s", NULL, 0, NULL);
    CHECK_ST(put(s, "{\"p\":\"x\",\"s\":\"10\"}"), ST_OK);
    CHECK_ST(put(s, "{\"p\":\"x\",\"s\":\"2\"}"), ST_OK);
    CHECK_ST(put(s, "{\"p\":\"x\",\"s\":\"B\"}"), ST_OK);
    CHECK_ST(put(s, "{\"p\":\"x\",\"s\":\"a\"}"), ST_OK);
    CHECK_ST(put(s, "{\"p\":\"x\",\"s\":\"\xc3\xa9\"}"), ST_OK);
    CHECK_STR(query(s, "x", 0), "{\"p\":\"x\",\"s\":\"10\"} {\"p\":\"x\",\"s\":\"2\"} {\"p\":\"x\",\"s\":\"B\"} "
                                "{\"p\":\"x\",\"s\":\"a\"} {\"p\":\"x\",\"s\":\"\xc3\xa9\"}");
    table_t *one = mk_table(ts, "single", "p", NULL, NULL, 0, NULL);
    CHECK_ST(put(one, "{\"p\":\"k\"}"), ST_OK);
    CHECK_STR(query(one, "k", 0), "{\"p\":\"k\"}");
    CHECK_OK(ts);
    tables_free(ts);
}

TEST(secondary_index_follows_puts_replaces_and_deletes)
{
    tables_t *ts = engine();
    const char *ix[] = {"status"};
    table_t *t = mk_table(ts, "jobs", "id", NULL, ix, 1, NULL);
    CHECK_ST(put(t, "{\"id\":\"c\",\"status\":\"PENDING\"}"), ST_OK);
    CHECK_ST(put(t, "{\"id\":\"a\",\"status\":\"PENDING\"}"), ST_OK);
    CHECK_ST(put(t, "{\"id\":\"b\",\"status\":\"DONE\"}"), ST_OK);
    CHECK_ST(put(t, "{\"id\":\"d\"}"), ST_OK);                     /* no attribute: not indexed */
    CHECK_ST(put(t, "{\"id\":\"e\",\"status\":[\"PENDING\"]}"), ST_OK); /* not a string/number */
    CHECK_ST(put(t, "{\"id\":\"f\",\"status\":200}"), ST_OK);
    CHECK_ST(put(t, "{\"id\":\"g\",\"status\":\"200\"}"), ST_OK);
    CHECK_STR(query_ix(t, "status", "PENDING"), "{\"id\":\"a\",\"status\":\"PENDING\"} {\"id\":\"c\",\"status\":\"PENDING\"}");
    CHECK_STR(query_ix(t, "status", "200"), "{\"id\":\"f\",\"status\":200} {\"id\":\"g\",\"status\":\"200\"}");
    CHECK_ST(put(t, "{\"id\":\"a\",\"status\":\"DONE\"}"), ST_OK); /* moves to DONE */
    CHECK_STR(query_ix(t, "status", "PENDING"), "{\"id\":\"c\",\"status\":\"PENDING\"}");
    CHECK_STR(query_ix(t, "status", "DONE"), "{\"id\":\"a\",\"status\":\"DONE\"} {\"id\":\"b\",\"status\":\"DONE\"}");
    CHECK_ST(put(t, "{\"id\":\"c\"}"), ST_OK); /* loses the attribute */
    CHECK_STR(query_ix(t, "status", "PENDING"), "");
    CHECK_ST(table_delete_item(t, "b", NULL, NULL, NULL), ST_OK);
    CHECK_STR(query_ix(t, "status", "DONE"), "{\"id\":\"a\",\"status\":\"DONE\"}");
    strv_t v = {0};
    CHECK_ST(table_query_index(t, "status", "200", 1, &v, NULL), ST_OK);
    CHECK_STR(joined(&v), "{\"id\":\"f\",\"status\":200}");
    CHECK_ERR(table_query_index(t, "owner", "x", 0, &v, ERR), ST_VALIDATION_ERROR,
              "The table does not have the specified index: owner");
    CHECK_OK(ts);
    tables_free(ts);
}

TEST(conditions_fail_without_changing_anything)
{
    tables_t *ts = engine();
    table_t *t = mk_table(ts, "results", "id", NULL, NULL, 0, NULL);
    table_cond_t absent = {.if_absent = 1};
    table_cond_t unless = {.unless_attr = "status", .unless_value = "SUCCEEDED"};
    CHECK_ST(put_if(t, "{\"id\":\"r1\",\"status\":\"RUNNING\"}", &absent), ST_OK);
    CHECK_ERR(table_put(t, "{\"id\":\"r1\"}", 11, &absent, ERR), ST_CONDITION_FAILED, "The conditional request failed");
    CHECK_STR(get(t, "r1", NULL), "{\"id\":\"r1\",\"status\":\"RUNNING\"}");
    CHECK_ST(put_if(t, "{\"id\":\"r1\",\"status\":\"SUCCEEDED\"}", &unless), ST_OK); /* RUNNING: allowed */
    CHECK_ST(put_if(t, "{\"id\":\"r1\",\"status\":\"FAILED\"}", &unless), ST_CONDITION_FAILED);
    CHECK_STR(get(t, "r1", NULL), "{\"id\":\"r1\",\"status\":\"SUCCEEDED\"}");
    CHECK_ST(put_if(t, "{\"id\":\"r2\",\"status\":\"FAILED\"}", &unless), ST_OK); /* no item: allowed */
    CHECK_ST(put(t, "{\"id\":\"r3\",\"status\":{\"s\":\"SUCCEEDED\"}}"), ST_OK);
    CHECK_ST(put_if(t, "{\"id\":\"r3\"}", &unless), ST_OK); /* not the string: allowed */
    tables_stats_t s;
    tables_get_stats(ts, &s);
    CHECK_INT(s.puts, 5);
    CHECK_OK(ts);
    tables_free(ts);
}

TEST(invalid_items_are_validation_errors)
{
    tables_t *ts = engine();
    table_t *t = mk_table(ts, "strict", "pk", "sk", NULL, 0, NULL);
    CHECK_ERR(table_put(t, "{\"pk\":", 6, NULL, ERR), ST_VALIDATION_ERROR,
              "One or more parameter values were invalid: the item is not JSON (offset 6: unexpected end of input)");
    CHECK_ERR(table_put(t, "[1]", 3, NULL, ERR), ST_VALIDATION_ERROR,
              "One or more parameter values were invalid: the item must be a JSON object");
    CHECK_ERR(table_put(t, "{\"pk\":\"a\"}", 10, NULL, ERR), ST_VALIDATION_ERROR,
              "One or more parameter values were invalid: Missing the key sk in the item");
    CHECK_ERR(table_put(t, "{\"pk\":true,\"sk\":1}", 18, NULL, ERR), ST_VALIDATION_ERROR,
              "One or more parameter values were invalid: Type mismatch for key pk expected: S or N actual: BOOL");
    CHECK_ERR(table_put(t, "{\"pk\":\"a\",\"sk\":{}}", 18, NULL, ERR), ST_VALIDATION_ERROR,
              "One or more parameter values were invalid: Type mismatch for key sk expected: S or N actual: M");
    CHECK_ERR(table_put(t, "{\"pk\":\"\",\"sk\":1}", 16, NULL, ERR), ST_VALIDATION_ERROR,
              "One or more parameter values are not valid. The AttributeValue for a key attribute cannot contain an "
              "empty string value or U+0000. Key: pk");
    CHECK_ST(put(t, "{\"pk\":\"a\\u0000b\",\"sk\":1}"), ST_VALIDATION_ERROR);
    buf_t big = BUF_INIT;
    buf_puts(&big, "{\"pk\":\"");
    for (int i = 0; i < TABLE_PK_MAX + 1; i++)
        buf_putc(&big, 'k');
    buf_puts(&big, "\",\"sk\":1}");
    CHECK_ERR(table_put(t, big.data, big.len, NULL, ERR), ST_VALIDATION_ERROR,
              "One or more parameter values were invalid: Size of key pk has exceeded the maximum size limit of "
              "2048 bytes");
    buf_reset(&big);
    buf_puts(&big, "{\"pk\":\"a\",\"sk\":1,\"blob\":\"");
    while (big.len < TABLE_ITEM_MAX)
        buf_puts(&big, "0123456789");
    buf_puts(&big, "\"}");
    CHECK_ERR(table_put(t, big.data, big.len, NULL, ERR), ST_VALIDATION_ERROR,
              "Item size has exceeded the maximum allowed size");
    buf_free(&big);
    CHECK_INT(table_count(t), 0);
    buf_t out = BUF_INIT;
    CHECK_ST(table_get(t, "a", NULL, &out, NULL), ST_VALIDATION_ERROR);
    CHECK_ST(table_get(t, NULL, "1", &out, NULL), ST_VALIDATION_ERROR);
    CHECK_OK(ts);
    tables_free(ts);
}

/* ---- TTL and callbacks ---- */

static uint64_t deadlines[16];
static int ndeadlines;

static void on_deadline(void *arg, uint64_t at)
{
    (void)arg;
    if (ndeadlines < 16)
        deadlines[ndeadlines++] = at;
}

static char changes[16][256];
static int nchanges;

static void on_change(void *arg, table_t *t, const char *old_item, const char *new_item)
{
    (void)arg;
    if (nchanges < 16)
        snprintf(changes[nchanges++], sizeof changes[0], "%s: %s -> %s", table_name(t), old_item ? old_item : "NULL",
                 new_item ? new_item : "NULL");
}

#define SECS(ms) ((ms) / 1000)

TEST(ttl_expiry_by_tick_with_deadlines)
{
    tables_t *ts = engine();
    char item[128];
    ndeadlines = nchanges = 0;
    tables_set_deadline_cb(ts, on_deadline, NULL);
    tables_set_change_cb(ts, on_change, NULL);
    table_t *t = mk_table(ts, "sessions", "id", NULL, NULL, 0, "exp");
    CHECK_INT(tables_tick(ts), 0); /* nothing expires */
    snprintf(item, sizeof item, "{\"id\":\"a\",\"exp\":%llu}", (unsigned long long)SECS(T0) + 60);
    CHECK_ST(put(t, item), ST_OK);
    CHECK_INT(ndeadlines, 1);
    CHECK_INT(deadlines[0], T0 + 60000);
    snprintf(item, sizeof item, "{\"id\":\"b\",\"exp\":%llu}", (unsigned long long)SECS(T0) + 120);
    CHECK_ST(put(t, item), ST_OK);
    CHECK_INT(ndeadlines, 1); /* later: no new deadline */
    snprintf(item, sizeof item, "{\"id\":\"c\",\"exp\":%llu.5}", (unsigned long long)SECS(T0) + 30);
    CHECK_ST(put(t, item), ST_OK);
    CHECK_INT(ndeadlines, 2);
    CHECK_INT(deadlines[1], T0 + 30500);
    CHECK_ST(put(t, "{\"id\":\"d\",\"exp\":\"tomorrow\"}"), ST_OK); /* not a number: never expires */
    CHECK_ST(put(t, "{\"id\":\"e\",\"exp\":-5}"), ST_OK);           /* negative: never expires */
    CHECK_INT(tables_tick(ts), T0 + 30500);
    qt_now_ms = T0 + 30500;
    nchanges = 0;
    CHECK_INT(tables_tick(ts), T0 + 60000);
    CHECK_INT(nchanges, 1);
    snprintf(item, sizeof item, "sessions: {\"id\":\"c\",\"exp\":%llu.5} -> NULL", (unsigned long long)SECS(T0) + 30);
    CHECK_STR(changes[0], item);
    CHECK_STR(get(t, "c", NULL), "-");
    /* already past at put time: stored, gone at the next tick */
    CHECK_ST(put(t, "{\"id\":\"old\",\"exp\":1000}"), ST_OK);
    CHECK_STR(get(t, "old", NULL), "{\"id\":\"old\",\"exp\":1000}");
    CHECK_INT(deadlines[ndeadlines - 1], 1000000);
    /* replacing an item re-keys its expiry: "b" now never expires */
    CHECK_ST(put(t, "{\"id\":\"b\"}"), ST_OK);
    qt_now_ms = T0 + 1000000;
    CHECK_INT(tables_tick(ts), 0);
    CHECK_STR(get(t, "a", NULL), "-");
    CHECK_STR(get(t, "old", NULL), "-");
    CHECK_STR(get(t, "b", NULL), "{\"id\":\"b\"}");
    CHECK_INT(table_count(t), 3); /* b, d, e */
    tables_stats_t s;
    tables_get_stats(ts, &s);
    CHECK_INT(s.expired, 3);
    CHECK_INT(s.deletes, 0);
    CHECK_OK(ts);
    tables_free(ts);
}

TEST(a_backlog_of_expired_items_goes_in_batches)
{
    tables_t *ts = engine();
    table_t *t = mk_table(ts, "many", "id", NULL, NULL, 0, "exp");
    char item[64];
    for (int i = 0; i < 1500; i++) {
        snprintf(item, sizeof item, "{\"id\":%d,\"exp\":%d}", i, 100 + i % 7);
        CHECK_ST(put(t, item), ST_OK);
    }
    uint64_t next = tables_tick(ts);
    CHECK(next != 0 && next <= qt_now_ms); /* more are due: tick again */
    CHECK_INT(table_count(t), 1500 - 1024);
    CHECK_INT(tables_tick(ts), 0);
    CHECK_INT(table_count(t), 0);
    CHECK_OK(ts);
    tables_free(ts);
}

TEST(change_callback_sees_each_live_change)
{
    tables_t *ts = engine();
    nchanges = 0;
    tables_set_change_cb(ts, on_change, NULL);
    table_t *t = mk_table(ts, "watched", "id", NULL, NULL, 0, NULL);
    CHECK_ST(put(t, "{\"id\":\"a\",\"v\":1}"), ST_OK);
    CHECK_ST(put(t, "{\"id\":\"a\",\"v\":2}"), ST_OK);
    CHECK_ST(put_if(t, "{\"id\":\"a\",\"v\":3}", &(table_cond_t){.if_absent = 1}), ST_CONDITION_FAILED);
    CHECK_ST(put(t, "{\"id\":\"b\"}"), ST_OK);
    CHECK_ST(table_delete_item(t, "a", NULL, NULL, NULL), ST_OK);
    CHECK_ST(tables_delete(ts, t, NULL), ST_OK); /* dropping a table is not an item change */
    CHECK_INT(nchanges, 4);
    CHECK_STR(changes[0], "watched: NULL -> {\"id\":\"a\",\"v\":1}");
    CHECK_STR(changes[1], "watched: {\"id\":\"a\",\"v\":1} -> {\"id\":\"a\",\"v\":2}");
    CHECK_STR(changes[2], "watched: NULL -> {\"id\":\"b\"}");
    CHECK_STR(changes[3], "watched: {\"id\":\"a\",\"v\":2} -> NULL");
    CHECK_OK(ts);
    tables_free(ts);
}

/* ---- scans ---- */

/* Scans the whole table in pages of max, resuming after each page's last
 * key (read back from the item as the caller would); returns all items. */
static int scan_paged(const table_t *t, size_t max, strv_t *all, int *pages)
{
    char pk[64] = "", sk[64] = "";
    int more = 1, first = 1;
    *pages = 0;
    while (more) {
        strv_t page = {0};
        if (table_scan(t, first ? NULL : pk, first || !table_def(t)->sk ? NULL : sk, max, &page, &more, NULL) !=
                ST_OK ||
            page.n > max || (more && page.n != max))
            return -1;
        first = 0;
        (*pages)++;
        for (size_t i = 0; i < page.n; i++)
            strv_add(all, page.v[i]);
        if (page.n && sscanf(page.v[page.n - 1], "{\"p\":\"%63[^\"]\",\"s\":%63[^}]}", pk, sk) < 1)
            return -1;
        strv_free(&page);
    }
    return 0;
}

TEST(scan_pages_in_key_order_and_resumes_after_a_key)
{
    tables_t *ts = engine();
    table_t *t = mk_table(ts, "grid", "p", "s", NULL, 0, NULL);
    char item[64];
    for (int p = 0; p < 5; p++)
        for (int s = 0; s < 5; s++) {
            snprintf(item, sizeof item, "{\"p\":\"p%d\",\"s\":%d}", (p * 3) % 5, 10 - 2 * s);
            CHECK_ST(put(t, item), ST_OK);
        }
    strv_t all = {0}, paged = {0};
    int more = 1, pages;
    CHECK_ST(table_scan(t, NULL, NULL, 0, &all, &more, NULL), ST_OK);
    CHECK_INT(all.n, 25);
    CHECK_INT(more, 0);
    CHECK_STR(all.v[0], "{\"p\":\"p0\",\"s\":2}");
    CHECK_STR(all.v[4], "{\"p\":\"p0\",\"s\":10}");
    CHECK_STR(all.v[5], "{\"p\":\"p1\",\"s\":2}");
    CHECK_STR(all.v[24], "{\"p\":\"p4\",\"s\":10}");
    CHECK_INT(scan_paged(t, 7, &paged, &pages), 0);
    CHECK_INT(pages, 4);
    CHECK_INT(paged.n, 25);
    for (size_t i = 0; i < 25; i++)
        CHECK_STR(paged.v[i], all.v[i]);
    strv_free(&paged);
    strv_free(&all);
    /* the after key's item went away meanwhile: still resumes right after it */
    CHECK_ST(table_delete_item(t, "p2", "6", NULL, NULL), ST_OK);
    CHECK_ST(table_scan(t, "p2", "6", 2, &all, &more, NULL), ST_OK);
    CHECK_STR(joined(&all), "{\"p\":\"p2\",\"s\":8} {\"p\":\"p2\",\"s\":10}");
    CHECK_INT(more, 1);
    CHECK_ST(table_scan(t, "p4", "10", 2, &all, &more, NULL), ST_OK);
    CHECK_INT(all.n, 0);
    CHECK_INT(more, 0);
    CHECK_ST(table_scan(t, "p4", NULL, 2, &all, &more, NULL), ST_VALIDATION_ERROR);
    /* pages of one, and an empty table */
    CHECK_INT(scan_paged(t, 1, &paged, &pages), 0);
    CHECK_INT(paged.n, 24);
    strv_free(&paged);
    table_t *empty = mk_table(ts, "empty", "p", NULL, NULL, 0, NULL);
    CHECK_ST(table_scan(empty, NULL, NULL, 5, &all, &more, NULL), ST_OK);
    CHECK_INT(all.n + more, 0);
    CHECK_OK(ts);
    tables_free(ts);
}

/* ---- the ordered set (bptree) against a reference ---- */

/* Keys are byte strings over {0, 'a', 'b', 'c'} of length 4..11: many share
 * their first 8 bytes (the set's inline key) and many are prefixes of
 * others, so both the key compare and the tie-breaking cmp are exercised. */
typedef struct bkey {
    char s[12];
    size_t n;
} bkey_t;

static int bkey_cmp(const void *a, const void *b)
{
    const bkey_t *x = a, *y = b;
    int c = memcmp(x->s, y->s, x->n < y->n ? x->n : y->n);
    return c ? c : (x->n > y->n) - (x->n < y->n);
}

static uint64_t bkey_key(const void *a)
{
    const bkey_t *x = a;
    uint64_t k = 0;
    for (size_t i = 0; i < 8; i++)
        k = k << 8 | (i < x->n ? (unsigned char)x->s[i] : 0);
    return k;
}

static uint64_t bt_rand(uint64_t *x)
{
    *x ^= *x << 13, *x ^= *x >> 7, *x ^= *x << 17;
    return *x;
}

static void bkey_random(bkey_t *k, uint64_t *x)
{
    static const char alphabet[] = {0, 'a', 'b', 'c'};
    uint64_t r = bt_rand(x);
    k->n = 4 + r % 8;
    for (size_t j = 0; j < k->n; j++)
        k->s[j] = alphabet[(r >> (8 + 2 * j)) & 3];
}

/* The reference: a sorted array of distinct keys, twice (two objects per
 * key, equal but not the same pointer, so the set is seen to keep the one
 * inserted and to find it by an equal probe), and which of the two is in
 * the set (-1: neither). */
typedef struct bt_ref {
    bkey_t *keys[2];
    int *in;
    size_t n, present;
} bt_ref_t;

static void bt_ref_init(bt_ref_t *r, size_t want, uint64_t *x)
{
    bkey_t *k = calloc(want, sizeof *k);
    for (size_t i = 0; i < want; i++)
        bkey_random(&k[i], x);
    qsort(k, want, sizeof *k, bkey_cmp);
    r->n = 0;
    for (size_t i = 0; i < want; i++)
        if (!r->n || bkey_cmp(&k[r->n - 1], &k[i]) != 0)
            k[r->n++] = k[i];
    r->keys[0] = k;
    r->keys[1] = malloc(r->n * sizeof *k);
    memcpy(r->keys[1], k, r->n * sizeof *k);
    r->in = malloc(r->n * sizeof *r->in);
    for (size_t i = 0; i < r->n; i++)
        r->in[i] = -1;
    r->present = 0;
}

static void bt_ref_free(bt_ref_t *r)
{
    free(r->keys[0]);
    free(r->keys[1]);
    free(r->in);
}

/* The object in the set at reference index i, or NULL. */
static const bkey_t *bt_ref_at(const bt_ref_t *r, size_t i)
{
    return r->in[i] < 0 ? NULL : &r->keys[r->in[i]][i];
}

/* The first present index whose key is >= probe (strict: > probe), or r->n. */
static size_t bt_ref_seek(const bt_ref_t *r, const bkey_t *probe, int strict)
{
    size_t lo = 0, hi = r->n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = bkey_cmp(&r->keys[0][mid], probe);
        if (c < 0 || (strict && c == 0))
            lo = mid + 1;
        else
            hi = mid;
    }
    while (lo < r->n && r->in[lo] < 0)
        lo++;
    return lo;
}

/* The whole set walks as the reference's present objects, in order. */
static int bt_same(const bptree_t *t, const bt_ref_t *r)
{
    bptree_iter_t it = bptree_first(t);
    for (size_t i = 0; i < r->n; i++)
        if (r->in[i] >= 0 && bptree_next(&it) != bt_ref_at(r, i))
            return 0;
    return !bptree_peek(&it) && t->n == r->present && bptree_verify(t) == 0;
}

/* One operation on index i — 0: insert, 1: remove, 2: seek — checked
 * against the reference. */
static int bt_op(bptree_t *t, bt_ref_t *r, unsigned op, size_t i, uint64_t *x)
{
    int w = (int)(bt_rand(x) & 1), was = r->in[i];
    const bkey_t *old = bt_ref_at(r, i);
    if (op == 0) { /* insert: refused when an equal key is in */
        if (bptree_insert(t, &r->keys[w][i]) != (old ? -1 : 0))
            return 0;
        r->in[i] = old ? was : w;
        r->present += !old;
    } else if (op == 1) { /* remove by an equal probe, whichever object is in */
        if (bptree_remove(t, &r->keys[w][i]) != old)
            return 0;
        r->in[i] = -1;
        r->present -= old != NULL;
    } else { /* seek a fresh key or a present one, then walk a few steps */
        bkey_t fresh;
        bkey_random(&fresh, x);
        const bkey_t *probe = w ? &fresh : &r->keys[0][i];
        int strict = (int)(bt_rand(x) & 1);
        bptree_iter_t it = bptree_seek(t, probe, strict);
        size_t j = bt_ref_seek(r, probe, strict);
        for (int step = 0; step < 5; step++) {
            if (bptree_next(&it) != (j < r->n ? bt_ref_at(r, j) : NULL))
                return 0;
            for (j++; j < r->n && r->in[j] < 0; j++)
                ;
        }
    }
    return 1;
}

TEST(ordered_set_matches_a_sorted_array_under_random_changes)
{
    enum { KEYS = 20000, OPS = 400000, VERIFY_EVERY = 2000 };
    uint64_t x = 88172645463325252ull;
    bt_ref_t r;
    bt_ref_init(&r, KEYS, &x);
    CHECK(r.n > KEYS / 2);
    bptree_t t;
    bptree_init(&t, bkey_cmp, bkey_key);
    unsigned tallest = 0;
    for (long n = 0; n < OPS; n++) {
        /* first half mostly inserts (splits), second half mostly removes (merges) */
        unsigned roll = (unsigned)(bt_rand(&x) % 10), grow = n < OPS / 2;
        unsigned op = roll < 5 ? (grow ? 0 : 1) : roll < 7 ? (grow ? 1 : 0) : 2;
        CHECK(bt_op(&t, &r, op, (size_t)(bt_rand(&x) % r.n), &x));
        tallest = t.height > tallest ? t.height : tallest;
        if (n % VERIFY_EVERY == 0)
            CHECK(bt_same(&t, &r));
    }
    CHECK(bt_same(&t, &r));
    CHECK(tallest >= 2); /* inner nodes split and merged, not only leaves */
    for (size_t i = 0; i < r.n; i++)
        CHECK(bt_op(&t, &r, 1, i, &x));
    CHECK(bt_same(&t, &r));
    CHECK(t.root == NULL && t.height == 0);
    bptree_free(&t);
    bt_ref_free(&r);
}

TEST(ordered_set_keeps_order_under_sorted_runs)
{
    uint64_t x = 2463534242ull;
    bt_ref_t r;
    bt_ref_init(&r, 6000, &x);
    bptree_t t;
    bptree_init(&t, bkey_cmp, bkey_key);
    for (int round = 0; round < 2; round++) {
        /* round 0: insert ascending, remove descending; round 1 the other way */
        for (size_t k = 0; k < r.n; k++)
            CHECK(bt_op(&t, &r, 0, round ? r.n - 1 - k : k, &x));
        CHECK(bt_same(&t, &r));
        CHECK(t.height >= 1);
        for (size_t k = 0; k < r.n; k++) {
            CHECK(bt_op(&t, &r, 1, round ? k : r.n - 1 - k, &x));
            if (k % 500 == 0)
                CHECK(bt_same(&t, &r));
        }
        CHECK(bt_same(&t, &r) && !t.root);
    }
    bptree_free(&t);
    bt_ref_free(&r);
}

/* ---- reads across many leaves ---- */

enum { DEEP_PARTS = 10, DEEP_SORTS = 400 };

typedef struct deep {
    int in[DEEP_PARTS][DEEP_SORTS];    /* present */
    int group[DEEP_PARTS][DEEP_SORTS]; /* the indexed attribute's value */
} deep_t;

static const char *deep_text(const deep_t *d, int p, int s)
{
    static char out[96];
    snprintf(out, sizeof out, "{\"p\":\"partition-%d\",\"s\":%d,\"g\":\"g%d\"}", p, s, d->group[p][s]);
    return out;
}

/* Whether items are exactly the present items in key order (partition part
 * only, group g only, when not -1), then frees them. */
static int deep_same(const deep_t *d, strv_t *items, int part, int g)
{
    size_t k = 0;
    int ok = 1;
    for (int p = 0; p < DEEP_PARTS; p++)
        for (int s = 0; s < DEEP_SORTS; s++)
            if (d->in[p][s] && (part < 0 || p == part) && (g < 0 || d->group[p][s] == g))
                ok = ok && k < items->n && strcmp(items->v[k++], deep_text(d, p, s)) == 0;
    ok = ok && k == items->n;
    strv_free(items);
    return ok;
}

/* Scans in pages of max, resuming after the last key of each page, into all. */
static int deep_scan(const table_t *t, size_t max, strv_t *all)
{
    char pk[32] = "", sk[16] = "";
    int more = 1, first = 1;
    for (int pages = 0; more; pages++, first = 0) {
        strv_t page = {0};
        if (pages > DEEP_PARTS * DEEP_SORTS ||
            table_scan(t, first ? NULL : pk, first ? NULL : sk, max, &page, &more, NULL) != ST_OK)
            return -1;
        for (size_t i = 0; i < page.n; i++)
            strv_add(all, page.v[i]);
        if (page.n && sscanf(page.v[page.n - 1], "{\"p\":\"%31[^\"]\",\"s\":%15[0-9]", pk, sk) != 2)
            return -1;
        strv_free(&page);
    }
    return 0;
}

/* Thousands of items, partition keys that share their first 8 bytes (every
 * comparison in the order is a tie on the inline key), puts in shuffled
 * order, replaces that move items between index values, deletes: scans,
 * queries and index queries walk many leaves and come out in key order. */
TEST(reads_walk_many_leaves_in_key_order)
{
    static deep_t d;
    const char *ix[] = {"g"};
    tables_t *ts = engine();
    table_t *t = mk_table(ts, "deep", "p", "s", ix, 1, NULL);
    char pk[32];
    uint64_t x = 362436069;
    memset(&d, 0, sizeof d);
    for (long n = 0; n < DEEP_PARTS * DEEP_SORTS; n++) {
        long k = n * 7919 % (DEEP_PARTS * DEEP_SORTS); /* a prime stride: each key once */
        int p = (int)(k / DEEP_SORTS), s = (int)(k % DEEP_SORTS);
        d.group[p][s] = (int)(bt_rand(&x) % 5);
        d.in[p][s] = 1;
        CHECK_ST(put(t, deep_text(&d, p, s)), ST_OK);
    }
    for (int p = 0; p < DEEP_PARTS; p++)
        for (int s = 0; s < DEEP_SORTS; s++) {
            if ((p + s) % 3 == 0) {
                d.group[p][s] = (d.group[p][s] + 1) % 5;
                CHECK_ST(put(t, deep_text(&d, p, s)), ST_OK);
            }
            if ((p * DEEP_SORTS + s) % 5 == 0) {
                char sk[16];
                snprintf(pk, sizeof pk, "partition-%d", p);
                snprintf(sk, sizeof sk, "%d", s);
                CHECK_ST(table_delete_item(t, pk, sk, NULL, NULL), ST_OK);
                d.in[p][s] = 0;
            }
        }
    CHECK_OK(ts);
    CHECK(t->order.height >= 1);
    strv_t items = {0};
    CHECK_INT(deep_scan(t, 37, &items), 0);
    CHECK(deep_same(&d, &items, -1, -1));
    for (int p = 0; p < DEEP_PARTS; p++) {
        snprintf(pk, sizeof pk, "partition-%d", p);
        CHECK_ST(table_query(t, pk, 0, &items, NULL), ST_OK);
        CHECK(deep_same(&d, &items, p, -1));
    }
    for (int g = 0; g < 5; g++) {
        char value[16];
        snprintf(value, sizeof value, "g%d", g);
        CHECK_ST(table_query_index(t, "g", value, 0, &items, NULL), ST_OK);
        CHECK(deep_same(&d, &items, -1, g));
    }
    tables_free(ts);
}

TEST(partition_keys_sharing_long_prefixes_keep_bytewise_order)
{
    tables_t *ts = engine();
    table_t *t = mk_table(ts, "pfx", "p", NULL, NULL, 0, NULL);
    const char *pks[] = {"requests-0001b", "requests-0001", "requests", "requests-0001a", "request", "requests-0002",
                         "requests-000"};
    char item[64];
    for (size_t i = 0; i < sizeof pks / sizeof pks[0]; i++) {
        snprintf(item, sizeof item, "{\"p\":\"%s\"}", pks[i]);
        CHECK_ST(put(t, item), ST_OK);
    }
    strv_t all = {0};
    int more = 0;
    CHECK_ST(table_scan(t, NULL, NULL, 0, &all, &more, NULL), ST_OK);
    CHECK_STR(joined(&all), "{\"p\":\"request\"} {\"p\":\"requests\"} {\"p\":\"requests-000\"} "
                            "{\"p\":\"requests-0001\"} {\"p\":\"requests-0001a\"} {\"p\":\"requests-0001b\"} "
                            "{\"p\":\"requests-0002\"}");
    strv_free(&all);
    CHECK_ST(table_scan(t, "requests-0001", NULL, 2, &all, &more, NULL), ST_OK);
    CHECK_STR(joined(&all), "{\"p\":\"requests-0001a\"} {\"p\":\"requests-0001b\"}");
    CHECK_INT(more, 1);
    strv_free(&all);
    CHECK_OK(ts);
    tables_free(ts);
}

/* ---- durability ---- */

typedef struct rig {
    loop_t *loop;
    store_t *st;
    tables_t *ts;
    uint64_t durable, recovered; /* durable LSN; the last LSN recovery found */
    char why[512];
} rig_t;

static void rig_durable(void *arg, uint64_t lsn, int failed)
{
    rig_t *r = arg;
    if (!failed)
        r->durable = lsn;
}

static int rig_synced(void *arg)
{
    rig_t *r = arg;
    uint64_t last = store_last_lsn(r->st);
    return last == r->recovered || r->durable == last;
}

static int rig_ckpt_done(void *arg)
{
    return !store_checkpoint_running(((rig_t *)arg)->st);
}

/* Opens ./db and recovers a fresh engine from it. */
static int rig_open(rig_t *r)
{
    store_config_t cfg = {.dir = "db", .fsync = FSYNC_OFF, .fsync_interval_ms = 1000, .segment_bytes = 64u << 20,
                          .compact_bytes = 256u << 20};
    memset(r, 0, sizeof *r);
    r->loop = loop_new();
    if (store_open(&cfg, r->loop, &r->st, r->why, sizeof r->why) < 0)
        return 1;
    r->ts = engine_on(r->st);
    tables_set_deadline_cb(r->ts, on_deadline, NULL);
    tables_set_change_cb(r->ts, on_change, NULL);
    if (store_recover(r->st, tables_apply, r->ts, r->why, sizeof r->why) < 0)
        return 2;
    r->recovered = store_last_lsn(r->st);
    return store_start(r->st, rig_durable, r, r->why, sizeof r->why) < 0 ? 3 : 0;
}

static void rig_close(rig_t *r)
{
    run_until(r->loop, rig_synced, r, WAIT_MS);
    store_close(r->st);
    tables_free(r->ts);
    loop_free(r->loop);
}

/* The whole state as text: each table's definition and items in key order,
 * with the index contents for the values the state uses. */
static void state_text(const tables_t *ts, buf_t *out)
{
    strv_t names = {0};
    tables_list(ts, &names);
    for (size_t i = 0; i < names.n; i++) {
        const table_t *t = tables_find(ts, names.v[i]);
        const table_def_t *d = table_def(t);
        strv_t items = {0};
        int more;
        buf_printf(out, "%s pk=%s sk=%s ttl=%s n=%llu:\n", d->name, d->pk, d->sk ? d->sk : "-",
                   d->ttl_attr ? d->ttl_attr : "-", (unsigned long long)table_count(t));
        table_scan(t, NULL, NULL, 0, &items, &more, NULL);
        for (size_t k = 0; k < items.n; k++)
            buf_printf(out, "  %s\n", items.v[k]);
        strv_free(&items);
        for (size_t x = 0; x < d->nindexes; x++)
            buf_printf(out, " ix %s RUNNING: %s\n", d->indexes[x], query_ix(t, d->indexes[x], "RUNNING"));
    }
    strv_free(&names);
}

static void build_state(tables_t *ts)
{
    const char *ix[] = {"status"};
    table_t *r = mk_table(ts, "results", "id", NULL, ix, 1, "exp");
    table_t *e = mk_table(ts, "events", "p", "s", NULL, 0, NULL);
    table_t *gone = mk_table(ts, "gone", "id", NULL, NULL, 0, NULL);
    char item[128];
    put(gone, "{\"id\":\"x\"}");
    tables_delete(ts, gone, NULL);
    for (int i = 0; i < 6; i++) {
        snprintf(item, sizeof item, "{\"id\":\"r%d\",\"status\":\"%s\",\"exp\":%llu}", i, i % 2 ? "RUNNING" : "DONE",
                 (unsigned long long)SECS(T0) + 100 * (uint64_t)(i + 1));
        put(r, item);
        snprintf(item, sizeof item, "{\"p\":\"e\",\"s\":%d,\"v\":\"\\\"q\\\"\"}", 20 - 3 * i);
        put(e, item);
    }
    put(r, "{\"id\":\"r1\",\"status\":\"DONE\",\"exp\":1}"); /* replace: out of RUNNING, expired */
    table_delete_item(r, "r2", NULL, NULL, NULL);
    table_delete_item(e, "e", "14", NULL, NULL);
}

/* What must hold after recovery: same text, verified structures, and a
 * rebuilt TTL heap (the first tick expires r1, then r0 at its time). */
static void check_recovered(rig_t *r, const char *want)
{
    buf_t got = BUF_INIT;
    state_text(r->ts, &got);
    CHECK_STR(got.data, want);
    buf_free(&got);
    CHECK_OK(r->ts);
    CHECK_INT(ndeadlines, 0); /* replay asks for no deadline */
    CHECK_INT(nchanges, 0);   /* nor is it a change */
    CHECK_INT(tables_tick(r->ts), T0 + 100000);
    CHECK_STR(get(tables_find(r->ts, "results"), "r1", NULL), "-");
    CHECK_INT(nchanges, 1);
    qt_now_ms = T0 + 100000;
    CHECK_INT(tables_tick(r->ts), T0 + 400000); /* r0 goes; r2 was deleted */
    CHECK_STR(query_ix(tables_find(r->ts, "results"), "status", "RUNNING"),
              "{\"id\":\"r3\",\"status\":\"RUNNING\",\"exp\":1700000400} "
              "{\"id\":\"r5\",\"status\":\"RUNNING\",\"exp\":1700000600}");
    CHECK_OK(r->ts);
}

TEST(state_survives_log_replay_and_snapshot)
{
    rig_t r;
    buf_t want = BUF_INIT;
    qt_now_ms = T0;
    CHECK_INT(rig_open(&r), 0);
    build_state(r.ts);
    state_text(r.ts, &want);
    rig_close(&r);
    ndeadlines = nchanges = 0;
    CHECK_INT(rig_open(&r), 0); /* from the log */
    check_recovered(&r, want.data);
    if (harness_failed)
        return;
    rig_close(&r);
    /* reopen (the expiries above were durable deletes), checkpoint, and
     * recover from the snapshot alone */
    qt_now_ms = T0;
    ndeadlines = nchanges = 0;
    CHECK_INT(rig_open(&r), 0);
    buf_reset(&want);
    state_text(r.ts, &want);
    CHECK_INT(store_checkpoint(r.st, tables_dump, r.ts), 0);
    CHECK(run_until(r.loop, rig_ckpt_done, &r, WAIT_MS));
    store_stats_t ss;
    store_get_stats(r.st, &ss);
    CHECK(ss.snapshot_lsn > 0);
    rig_close(&r);
    ndeadlines = nchanges = 0;
    CHECK_INT(rig_open(&r), 0); /* from the snapshot alone */
    buf_t got = BUF_INIT;
    state_text(r.ts, &got);
    CHECK_STR(got.data, want.data);
    buf_free(&got);
    CHECK_OK(r.ts);
    CHECK_INT(ndeadlines + nchanges, 0);
    rig_close(&r);
    buf_free(&want);
}

TEST(snapshot_plus_log_gives_back_indexes_and_ttl)
{
    rig_t r;
    buf_t want = BUF_INIT;
    qt_now_ms = T0;
    CHECK_INT(rig_open(&r), 0);
    const char *ix[] = {"status"};
    table_t *t = mk_table(r.ts, "results", "id", NULL, ix, 1, "exp");
    put(t, "{\"id\":\"a\",\"status\":\"RUNNING\",\"exp\":1700000100}");
    CHECK_INT(store_checkpoint(r.st, tables_dump, r.ts), 0);
    CHECK(run_until(r.loop, rig_ckpt_done, &r, WAIT_MS));
    put(t, "{\"id\":\"b\",\"status\":\"RUNNING\",\"exp\":1700000050}");
    put(t, "{\"id\":\"a\",\"status\":\"DONE\",\"exp\":1700000100}");
    state_text(r.ts, &want);
    rig_close(&r);
    ndeadlines = nchanges = 0;
    CHECK_INT(rig_open(&r), 0);
    buf_t got = BUF_INIT;
    state_text(r.ts, &got);
    CHECK_STR(got.data, want.data);
    buf_free(&got);
    buf_free(&want);
    t = tables_find(r.ts, "results");
    CHECK_STR(query_ix(t, "status", "DONE"), "{\"id\":\"a\",\"status\":\"DONE\",\"exp\":1700000100}");
    /* nothing asked yet after replay: a later expiry asks for the earliest one */
    CHECK_ST(put(t, "{\"id\":\"c\",\"exp\":1700000900}"), ST_OK);
    CHECK_INT(ndeadlines, 1);
    CHECK_INT(deadlines[0], 1700000050000ull);
    CHECK_INT(tables_tick(r.ts), 1700000050000ull);
    CHECK_OK(r.ts);
    rig_close(&r);
}

TEST(every_mutation_is_one_record)
{
    rig_t r;
    qt_now_ms = T0;
    CHECK_INT(rig_open(&r), 0);
    uint64_t lsn = store_last_lsn(r.st);
    const char *ix[] = {"status"};
    table_t *t = mk_table(r.ts, "results", "id", NULL, ix, 1, "exp");
    CHECK_INT(store_last_lsn(r.st), lsn + 1);
    CHECK(mk_table(r.ts, "results", "id", NULL, ix, 1, "exp") == t); /* unchanged: no record */
    CHECK_INT(store_last_lsn(r.st), lsn + 1);
    CHECK_ST(put(t, "{\"id\":\"a\",\"status\":\"X\",\"exp\":5}"), ST_OK);
    CHECK_INT(store_last_lsn(r.st), lsn + 2);
    CHECK_ST(put(t, "{\"id\":\"a\",\"status\":\"Y\"}"), ST_OK);
    CHECK_INT(store_last_lsn(r.st), lsn + 3);
    CHECK_ST(put_if(t, "{\"id\":\"a\"}", &(table_cond_t){.if_absent = 1}), ST_CONDITION_FAILED);
    CHECK_ST(put(t, "{\"id\":true}"), ST_VALIDATION_ERROR);
    CHECK_INT(store_last_lsn(r.st), lsn + 3);
    CHECK_ST(put(t, "{\"id\":\"b\",\"exp\":5}"), ST_OK);
    CHECK_INT(tables_tick(r.ts), 0); /* b expires */
    CHECK_INT(store_last_lsn(r.st), lsn + 5);
    CHECK_ST(table_delete_item(t, "a", NULL, NULL, NULL), ST_OK);
    CHECK_INT(store_last_lsn(r.st), lsn + 6);
    CHECK_ST(put(t, "{\"id\":\"c\"}"), ST_OK);
    CHECK_ST(tables_delete(r.ts, t, NULL), ST_OK);
    CHECK_INT(store_last_lsn(r.st), lsn + 8);
    rig_close(&r);
    CHECK_INT(rig_open(&r), 0);
    CHECK(tables_find(r.ts, "results") == NULL);
    CHECK_OK(r.ts);
    rig_close(&r);
}

/* ---- hostile records ---- */

/* A TBL_CREATE payload: name (nlen bytes), pk, no sort key, an index count
 * of count followed by nix "status" attributes, no ttl attribute. */
static void enc_create(buf_t *b, const char *name, size_t nlen, const char *pk, uint32_t count, uint32_t nix)
{
    buf_reset(b);
    buf_put_bytes(b, name, (uint32_t)nlen);
    buf_put_str(b, pk);
    buf_put_str(b, NULL);
    buf_put_u32(b, count);
    for (uint32_t i = 0; i < nix; i++)
        buf_put_str(b, "status");
    buf_put_str(b, NULL);
}

/* An ITEM_PUT or ITEM_DEL payload: table name, then n bytes. */
static void enc_item(buf_t *b, const char *table, const char *p, size_t n)
{
    buf_reset(b);
    buf_put_str(b, table);
    buf_put_bytes(b, p, (uint32_t)n);
}

static int apply_buf(tables_t *ts, uint8_t type, const buf_t *b)
{
    return tables_apply(ts, type, b->data, b->len);
}

/* Each malformed or inapplicable record is refused. */
static void apply_hostile(tables_t *ts)
{
    buf_t b = BUF_INIT;
    enc_create(&b, "fresh", 5, "id", 1, 1); /* valid: every truncation, and trailing bytes */
    for (size_t n = 0; n < b.len; n++)
        CHECK(tables_apply(ts, REC_TBL_CREATE, b.data, n) != 0);
    buf_putc(&b, 'x');
    CHECK(apply_buf(ts, REC_TBL_CREATE, &b) != 0);
    enc_create(&b, "fresh", 5, "id", 0xfffffff0u, 0); /* index count beyond the limit */
    CHECK(apply_buf(ts, REC_TBL_CREATE, &b) != 0);
    enc_create(&b, "fr\0sh", 5, "id", 0, 0); /* a NUL inside the name */
    CHECK(apply_buf(ts, REC_TBL_CREATE, &b) != 0);
    enc_create(&b, "x", 1, "id", 0, 0); /* a bad name */
    CHECK(apply_buf(ts, REC_TBL_CREATE, &b) != 0);
    enc_create(&b, "good", 4, "other", 0, 0); /* a differing re-create */
    CHECK(apply_buf(ts, REC_TBL_CREATE, &b) != 0);
    const char *bad_items[] = {"{\"id\":", "[]", "{\"id\":1}", "{\"x\":1}", "{\"id\":\"\"}"};
    for (size_t i = 0; i < sizeof bad_items / sizeof bad_items[0]; i++) {
        enc_item(&b, "good", bad_items[i], strlen(bad_items[i]));
        CHECK(apply_buf(ts, REC_ITEM_PUT, &b) != 0);
    }
    enc_item(&b, "nope", "{\"id\":\"b\"}", 10); /* unknown table */
    CHECK(apply_buf(ts, REC_ITEM_PUT, &b) != 0);
    enc_item(&b, "good", "{\"id\":\"b\"}", 10);
    CHECK(tables_apply(ts, REC_ITEM_PUT, b.data, b.len - 1) != 0); /* truncated */
    enc_item(&b, "good", "Sb", 3); /* absent key */
    CHECK(apply_buf(ts, REC_ITEM_DEL, &b) != 0);
    enc_item(&b, "good", "Sa", 2); /* no NUL after the pk: not a typed key */
    CHECK(apply_buf(ts, REC_ITEM_DEL, &b) != 0);
    enc_item(&b, "nope", "", 0);
    CHECK(apply_buf(ts, REC_TBL_DROP, &b) != 0);
    buf_free(&b);
}

TEST(hostile_records_are_refused_without_harm)
{
    tables_t *ts = engine();
    const char *ix[] = {"status"};
    buf_t before = BUF_INIT, after = BUF_INIT, b = BUF_INIT;
    log_set_level(LOG_FATAL); /* each refusal logs a line */
    table_t *t = mk_table(ts, "good", "id", NULL, ix, 1, "exp");
    CHECK_ST(put(t, "{\"id\":\"a\",\"status\":\"S\",\"exp\":10}"), ST_OK);
    state_text(ts, &before);
    apply_hostile(ts);
    const uint8_t junk[] = {0xff, 0xff, 0xff, 0xff, 0x00, 0x01, 0x02};
    for (int type = TABLES_REC_MIN; type <= TABLES_REC_MAX; type++) { /* garbage, empty, unused types */
        CHECK(tables_apply(ts, (uint8_t)type, junk, sizeof junk) != 0);
        CHECK(tables_apply(ts, (uint8_t)type, "", 0) != 0);
    }
    state_text(ts, &after);
    CHECK_STR(after.data, before.data);
    CHECK_OK(ts);
    enc_item(&b, "good", "Sa", 3); /* and a valid delete still applies */
    CHECK_INT(apply_buf(ts, REC_ITEM_DEL, &b), 0);
    log_set_level(LOG_INFO);
    CHECK_INT(table_count(t), 0);
    CHECK_INT(tables_tick(ts), 0); /* its expiry went with it */
    CHECK_OK(ts);
    buf_free(&b);
    buf_free(&before);
    buf_free(&after);
    tables_free(ts);
}
