/*
 * test_outcome — request records (tables/outcome.h): writes merge into the
 * record, final statuses are never rewritten, records are created only when
 * asked, and past the deadline an outcome is stored as EXPIRED while a
 * progress mark is skipped. A table engine without a store.
 */
#include <stdio.h>
#include <string.h>

#include "harness.h"
#include "tables/outcome.h"
#include "util/clock.h"
#include "util/jv.h"

static table_t *results(tables_t *ts)
{
    table_def_t def = {.name = "results", .pk = "requestId"};
    table_t *t = NULL;
    err_t err;
    tables_create(ts, &def, &t, &err);
    return t;
}

static void put(table_t *t, const char *item)
{
    err_t err;
    table_put(t, item, strlen(item), NULL, &err);
}

/* The record's text ("" when absent). */
static const char *record(table_t *t, const char *id)
{
    static char out[2048];
    buf_t b = BUF_INIT;
    err_t err;
    out[0] = 0;
    if (table_get(t, id, NULL, &b, &err) == ST_OK)
        snprintf(out, sizeof out, "%s", b.data);
    buf_free(&b);
    return out;
}

/* A record the gateway would have written, with a deadline in_ms from now. */
static void accepted(table_t *t, const char *id, int64_t in_ms)
{
    char dl[32], item[256];
    clock_iso8601((uint64_t)((int64_t)clock_wall_ms() + in_ms), dl);
    snprintf(item, sizeof item,
             "{\"requestId\":\"%s\",\"status\":\"ACCEPTED\",\"acceptedAt\":\"2026-01-01T00:00:00.000Z\","
             "\"deadline\":\"%s\",\"route\":\"POST /x\"}",
             id, dl);
    put(t, item);
}

#define ATTR(name, json) {name, json, sizeof json - 1}

TEST(writes_merge_and_create_only_when_asked)
{
    tables_t *ts = tables_new(NULL);
    table_t *t = results(ts);
    err_t err;
    outcome_attr_t run[] = {ATTR("attempts", "1"), ATTR("lastError", "{\"errorMessage\":\"x\"}")};
    CHECK_INT(outcome_write(t, "nobody", "RUNNING", run, 2, OUTCOME_PROGRESS, &err), OUTCOME_ABSENT);
    CHECK_STR(record(t, "nobody"), "");
    CHECK_INT(outcome_write(t, "new", "RUNNING", run, 2, OUTCOME_CREATE, &err), OUTCOME_WRITTEN);
    CHECK_STR(record(t, "new"), "{\"requestId\":\"new\",\"status\":\"RUNNING\",\"attempts\":1,\"lastError\":"
                                "{\"errorMessage\":\"x\"}}");
    accepted(t, "r1", 60000);
    CHECK_INT(outcome_write(t, "r1", "RUNNING", run, 2, 0, &err), OUTCOME_WRITTEN);
    outcome_attr_t ok[] = {ATTR("result", "{\"v\":2}"), ATTR("attempts", "2")};
    CHECK_INT(outcome_write(t, "r1", "SUCCEEDED", ok, 2, 0, &err), OUTCOME_WRITTEN);
    /* the status and attempts replaced, the rest kept (lastError of the failed attempt too) */
    jv_doc_t *d = jv_doc_new();
    jv_t *v = jv_parse_cstr(d, record(t, "r1"));
    CHECK_STR(jv_str(jv_get(v, "status")), "SUCCEEDED");
    CHECK_INT(jv_get(v, "attempts")->i, 2);
    CHECK_INT(jv_get(jv_get(v, "result"), "v")->i, 2);
    CHECK_STR(jv_str(jv_get(jv_get(v, "lastError"), "errorMessage")), "x");
    CHECK_STR(jv_str(jv_get(v, "route")), "POST /x");
    CHECK_STR(jv_str(jv_get(v, "acceptedAt")), "2026-01-01T00:00:00.000Z");
    const char *text = record(t, "r1"), *first = strstr(text, "\"status\"");
    CHECK(first && !strstr(first + 1, "\"status\"")); /* replaced, not added */
    jv_doc_free(d);
    tables_free(ts);
}

TEST(final_records_are_never_rewritten)
{
    static const char *const finals[] = {"SUCCEEDED", "FAILED", "DEAD_LETTERED", "EXPIRED"};
    tables_t *ts = tables_new(NULL);
    table_t *t = results(ts);
    err_t err;
    outcome_attr_t ok[] = {ATTR("result", "1")};
    for (size_t i = 0; i < 4; i++) {
        char item[128], before[256];
        CHECK(outcome_is_final(finals[i]));
        snprintf(item, sizeof item, "{\"requestId\":\"f\",\"status\":\"%s\",\"error\":{}}", finals[i]);
        put(t, item);
        snprintf(before, sizeof before, "%s", record(t, "f"));
        CHECK_INT(outcome_write(t, "f", "SUCCEEDED", ok, 1, OUTCOME_CREATE, &err), OUTCOME_FINAL);
        CHECK_INT(outcome_dead_lettered(t, "f", "dlq", 3, &err), OUTCOME_FINAL);
        CHECK_STR(record(t, "f"), before);
    }
    CHECK(!outcome_is_final("RUNNING") && !outcome_is_final("ACCEPTED") && !outcome_is_final(NULL));
    tables_free(ts);
}

TEST(past_the_deadline_outcomes_expire_and_progress_is_skipped)
{
    tables_t *ts = tables_new(NULL);
    table_t *t = results(ts);
    err_t err;
    accepted(t, "late", -1000);
    char before[512];
    snprintf(before, sizeof before, "%s", record(t, "late"));
    outcome_attr_t start[] = {ATTR("attempts", "1"), ATTR("startedAt", "\"2026-01-01T00:00:01.000Z\"")};
    CHECK_INT(outcome_write(t, "late", "RUNNING", start, 2, OUTCOME_PROGRESS, &err), OUTCOME_LATE);
    CHECK_STR(record(t, "late"), before);
    outcome_attr_t ok[] = {ATTR("result", "{\"v\":1}")};
    CHECK_INT(outcome_write(t, "late", "SUCCEEDED", ok, 1, OUTCOME_CREATE, &err), OUTCOME_EXPIRED);
    jv_doc_t *d = jv_doc_new();
    jv_t *v = jv_parse_cstr(d, record(t, "late"));
    CHECK_STR(jv_str(jv_get(v, "status")), "EXPIRED");
    CHECK_INT(jv_get(jv_get(v, "result"), "v")->i, 1); /* the outcome is still stored */
    CHECK(clock_iso8601_parse(jv_str(jv_get(v, "completedAt"))) >= clock_iso8601_parse(jv_str(jv_get(v, "deadline"))));
    jv_doc_free(d);
    /* and from then on the record is final */
    CHECK_INT(outcome_write(t, "late", "SUCCEEDED", ok, 1, 0, &err), OUTCOME_FINAL);
    /* a write that names completedAt keeps its own */
    accepted(t, "late2", -1000);
    outcome_attr_t failed[] = {ATTR("error", "{}"), ATTR("completedAt", "\"2026-01-01T00:00:09.000Z\"")};
    CHECK_INT(outcome_write(t, "late2", "FAILED", failed, 2, 0, &err), OUTCOME_EXPIRED);
    CHECK(strstr(record(t, "late2"),
                 "\"status\":\"EXPIRED\",\"error\":{},\"completedAt\":\"2026-01-01T00:00:09.000Z\""));
    tables_free(ts);
}

TEST(dead_lettered_marks_existing_records_only)
{
    tables_t *ts = tables_new(NULL);
    table_t *t = results(ts);
    err_t err;
    CHECK_INT(outcome_dead_lettered(t, "unknown", "dlq", 3, &err), OUTCOME_ABSENT);
    CHECK_STR(record(t, "unknown"), "");
    accepted(t, "r", 60000);
    outcome_attr_t failed[] = {ATTR("lastError", "{\"errorMessage\":\"division by zero\"}"), ATTR("attempts", "3")};
    CHECK_INT(outcome_write(t, "r", "RUNNING", failed, 2, 0, &err), OUTCOME_WRITTEN);
    CHECK_INT(outcome_dead_lettered(t, "r", "division-dlq", 3, &err), OUTCOME_WRITTEN);
    jv_doc_t *d = jv_doc_new();
    jv_t *v = jv_parse_cstr(d, record(t, "r"));
    CHECK_STR(jv_str(jv_get(v, "status")), "DEAD_LETTERED");
    CHECK_STR(jv_str(jv_get(v, "deadLetterQueue")), "division-dlq");
    CHECK_INT(jv_get(v, "attempts")->i, 3);
    CHECK(clock_iso8601_parse(jv_str(jv_get(v, "deadLetteredAt"))) > 0);
    CHECK_STR(jv_str(jv_get(jv_get(v, "lastError"), "errorMessage")), "division by zero");
    jv_doc_free(d);
    tables_free(ts);
}

TEST(a_table_with_a_sort_key_is_refused)
{
    tables_t *ts = tables_new(NULL);
    table_def_t def = {.name = "sorted", .pk = "requestId", .sk = "n"};
    table_t *t = NULL;
    err_t err;
    CHECK_INT(tables_create(ts, &def, &t, &err), ST_OK);
    outcome_attr_t ok[] = {ATTR("result", "1")};
    CHECK_INT(outcome_write(t, "r", "SUCCEEDED", ok, 1, OUTCOME_CREATE, &err), OUTCOME_REFUSED);
    CHECK(strstr(err.msg, "sort key"));
    CHECK_STR(outcome_res_name(OUTCOME_REFUSED), "refused");
    tables_free(ts);
}
