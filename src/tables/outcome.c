/*
 * outcome — request records; see outcome.h for the model. The merge is
 * done on text: the new item is the key, the status and the attributes
 * written, then the old record's other members copied from its one parse.
 */
#include "tables/outcome.h"

#include <stdio.h>
#include <string.h>

#include "util/buf.h"
#include "util/clock.h"
#include "util/jv.h"

static const char *const FINAL[] = {"SUCCEEDED", "FAILED", "DEAD_LETTERED", "EXPIRED"};

const char *outcome_res_name(outcome_res_t r)
{
    static const char *const names[] = {
#define OUTCOME_NAME(e, s) s,
        OUTCOME_RESULTS(OUTCOME_NAME)
#undef OUTCOME_NAME
    };
    return (size_t)r < sizeof names / sizeof names[0] ? names[r] : "?";
}

int outcome_is_final(const char *status)
{
    for (size_t i = 0; status && i < sizeof FINAL / sizeof FINAL[0]; i++)
        if (strcmp(status, FINAL[i]) == 0)
            return 1;
    return 0;
}

static int key_is(const jv_pair_t *p, const char *name)
{
    return strlen(name) == p->klen && memcmp(name, p->key, p->klen) == 0;
}

/* Whether the old record's member p is replaced by the write. */
static int replaced(const jv_pair_t *p, const char *pk, const outcome_attr_t *attrs, size_t n, int completed)
{
    if (key_is(p, pk) || key_is(p, "status") || (completed && key_is(p, "completedAt")))
        return 1;
    for (size_t i = 0; i < n; i++)
        if (key_is(p, attrs[i].name))
            return 1;
    return 0;
}

static void put_member(buf_t *b, const char *name, const char *json, size_t len)
{
    buf_putc(b, ',');
    jv_write_string(b, name, strlen(name));
    buf_putc(b, ':');
    buf_append(b, json, len);
}

/* The merged item: key, status, the written attributes (and completedAt
 * when the write became EXPIRED without naming one), then the rest of old. */
static void merge(buf_t *b, const char *pk, const char *id, const char *status, const outcome_attr_t *attrs,
                  size_t n, int add_completed, const jv_t *old)
{
    buf_putc(b, '{');
    jv_write_string(b, pk, strlen(pk));
    buf_putc(b, ':');
    jv_write_string(b, id, strlen(id));
    buf_puts(b, ",\"status\":");
    jv_write_string(b, status, strlen(status));
    for (size_t i = 0; i < n; i++)
        put_member(b, attrs[i].name, attrs[i].json, attrs[i].len);
    if (add_completed) {
        char ts[32];
        clock_iso8601(clock_wall_ms(), ts);
        buf_printf(b, ",\"completedAt\":\"%s\"", ts);
    }
    for (size_t i = 0; jv_is(old, JV_OBJECT) && i < old->len; i++) {
        const jv_pair_t *p = &old->u.pairs[i];
        if (replaced(p, pk, attrs, n, add_completed))
            continue;
        buf_putc(b, ',');
        jv_write_string(b, p->key, p->klen);
        buf_putc(b, ':');
        jv_write(p->val, b);
    }
    buf_putc(b, '}');
}

static int names_completed(const outcome_attr_t *attrs, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(attrs[i].name, "completedAt") == 0)
            return 1;
    return 0;
}

outcome_res_t outcome_write(table_t *t, const char *id, const char *status, const outcome_attr_t *attrs,
                            size_t nattrs, int flags, err_t *err)
{
    const table_def_t *def = table_def(t);
    if (def->sk) {
        err_set(err, ST_VALIDATION_ERROR, "a result table has no sort key");
        return OUTCOME_REFUSED;
    }
    buf_t old = BUF_INIT, item = BUF_INIT;
    int found = table_get(t, id, NULL, &old, err) == ST_OK;
    if (!found && !(flags & OUTCOME_CREATE)) {
        buf_free(&old);
        return OUTCOME_ABSENT;
    }
    jv_doc_t *d = jv_doc_new_small();
    jv_t *v = found ? jv_parse(d, old.data, old.len, NULL, 0) : NULL;
    uint64_t deadline = clock_iso8601_parse(jv_str(jv_get(v, "deadline")));
    int late = deadline && clock_wall_ms() >= deadline;
    outcome_res_t res = outcome_is_final(jv_str(jv_get(v, "status"))) ? OUTCOME_FINAL
                        : late && (flags & OUTCOME_PROGRESS)          ? OUTCOME_LATE
                        : late                                        ? OUTCOME_EXPIRED
                                                                      : OUTCOME_WRITTEN;
    if (res == OUTCOME_WRITTEN || res == OUTCOME_EXPIRED) {
        /* Nothing runs between the read above and this put (loop thread), so
         * the checks made on the read hold: the put needs no condition. */
        merge(&item, def->pk, id, late ? "EXPIRED" : status, attrs, nattrs, late && !names_completed(attrs, nattrs),
              v);
        if (table_put(t, item.data, item.len, NULL, err) != ST_OK)
            res = OUTCOME_REFUSED;
    }
    jv_doc_free(d);
    buf_free(&old);
    buf_free(&item);
    return res;
}

outcome_res_t outcome_dead_lettered(table_t *t, const char *id, const char *dlq, uint32_t attempts, err_t *err)
{
    char ts[40], num[16];
    buf_t q = BUF_INIT;
    ts[0] = '"';
    clock_iso8601(clock_wall_ms(), ts + 1);
    strcat(ts, "\"");
    jv_write_string(&q, dlq, strlen(dlq));
    snprintf(num, sizeof num, "%u", attempts);
    outcome_attr_t attrs[] = {{"deadLetteredAt", ts, strlen(ts)},
                              {"deadLetterQueue", q.data, q.len},
                              {"attempts", num, strlen(num)}};
    outcome_res_t r = outcome_write(t, id, "DEAD_LETTERED", attrs, 3, 0, err);
    buf_free(&q);
    return r;
}
