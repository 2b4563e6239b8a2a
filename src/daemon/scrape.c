/* scrape — the metrics GET /metrics answers; see scrape.h and docs/METRICS.md. */
#include "daemon/scrape.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "functions/functions.h"
#include "functions/mappings.h"
#include "gateway/gateway.h"
#include "net/http_server.h"
#include "proto/router.h"
#include "proto/sqs_api.h"
#include "queues/queues.h"
#include "store/store.h"
#include "tables/tables.h"
#include "topics/topics.h"
#include "util/clock.h"
#include "util/kv.h"
#include "util/metrics.h"

typedef metrics_label_t label_t;

/* ---- queues ------------------------------------------------------------------------------- */

static void sqs_requests(const scrape_src_t *s, buf_t *out)
{
    const char *action;
    uint64_t n;
    metrics_family(out, "sluice_sqs_requests_total", "counter", "SQS API calls by action, whatever their outcome.");
    for (size_t i = 0; sqs_api_requests(s->sqs, i, &action, &n); i++)
        metrics_sample_u64(out, "sluice_sqs_requests_total", (label_t[]){{"action", action}}, 1, n);
}

typedef enum { Q_SENT, Q_RECEIVED, Q_DELETED, Q_DEAD_LETTERED } queue_counter_t;

static uint64_t queue_counter(const queue_counts_t *c, queue_counter_t which)
{
    switch (which) {
    case Q_SENT: return c->sent;
    case Q_RECEIVED: return c->received;
    case Q_DELETED: return c->deleted;
    default: return c->dead_lettered;
    }
}

static void queue_counter_family(const scrape_src_t *s, buf_t *out, const char *name, queue_counter_t which,
                                 const char *help)
{
    queue_counts_t c;
    size_t it = 0;
    metrics_family(out, name, "counter", help);
    for (queue_t *q; (q = queues_next(s->qs, &it));) {
        queue_get_counts(q, &c);
        metrics_sample_u64(out, name, (label_t[]){{"queue", queue_name(q)}}, 1, queue_counter(&c, which));
    }
}

static void queue_gauges(const scrape_src_t *s, buf_t *out)
{
    queue_counts_t c;
    size_t it = 0;
    metrics_family(out, "sluice_queue_messages", "gauge",
                   "Messages a queue holds, by state: visible (deliverable), inflight (received, not yet deleted "
                   "or visible again), delayed.");
    for (queue_t *q; (q = queues_next(s->qs, &it));) {
        queue_get_counts(q, &c);
        const char *name = queue_name(q);
        metrics_sample_u64(out, "sluice_queue_messages", (label_t[]){{"queue", name}, {"state", "visible"}}, 2,
                           c.visible);
        metrics_sample_u64(out, "sluice_queue_messages", (label_t[]){{"queue", name}, {"state", "inflight"}}, 2,
                           c.inflight);
        metrics_sample_u64(out, "sluice_queue_messages", (label_t[]){{"queue", name}, {"state", "delayed"}}, 2,
                           c.delayed);
    }
    metrics_family(out, "sluice_queue_oldest_message_age_seconds", "gauge",
                   "Age of the oldest message a queue holds (0 when empty), from its retention origin.");
    uint64_t now = queues_now(s->qs);
    it = 0;
    for (queue_t *q; (q = queues_next(s->qs, &it));) {
        queue_get_counts(q, &c);
        double age = c.oldest_ms && now > c.oldest_ms ? (double)(now - c.oldest_ms) / 1000.0 : 0;
        metrics_sample(out, "sluice_queue_oldest_message_age_seconds", (label_t[]){{"queue", queue_name(q)}}, 1,
                       age);
    }
}

static void queue_metrics(const scrape_src_t *s, buf_t *out)
{
    sqs_requests(s, out);
    queue_gauges(s, out);
    queue_counter_family(s, out, "sluice_queue_sent_total", Q_SENT, "Messages a queue took since the daemon started.");
    queue_counter_family(s, out, "sluice_queue_received_total", Q_RECEIVED,
                         "Messages a queue handed to receivers since the daemon started.");
    queue_counter_family(s, out, "sluice_queue_deleted_total", Q_DELETED,
                         "Messages deleted from a queue by receipt handle since the daemon started.");
    queue_counter_family(s, out, "sluice_queue_dead_lettered_total", Q_DEAD_LETTERED,
                         "Messages a receive moved from a queue to its dead-letter queue since the daemon started.");
}

/* ---- topics ------------------------------------------------------------------------------- */

static void topic_metrics(const scrape_src_t *s, buf_t *out)
{
    metrics_family(out, "sluice_sns_publishes_total", "counter", "Messages published to a topic.");
    for (topic_t *t = topics_next(s->tp, NULL); t; t = topics_next(s->tp, t))
        metrics_sample_u64(out, "sluice_sns_publishes_total", (label_t[]){{"topic", topic_name(t)}}, 1,
                           topic_counts(t)->published);
    metrics_family(out, "sluice_subscription_deliveries_total", "counter",
                   "What became of a topic's messages per subscription protocol: delivered, filtered (the filter "
                   "policy did not match), retried (an attempt failed, another is scheduled), failed (given up).");
    for (topic_t *t = topics_next(s->tp, NULL); t; t = topics_next(s->tp, t)) {
        const topic_counts_t *c = topic_counts(t);
        for (int p = 0; p < TOPIC_PROTOCOLS; p++)
            for (int o = 0; o < TOPIC_OUTCOMES; o++)
                if (c->outcomes[p][TOPIC_DELIVERED] || c->outcomes[p][TOPIC_FILTERED] ||
                    c->outcomes[p][TOPIC_RETRIED] || c->outcomes[p][TOPIC_FAILED])
                    metrics_sample_u64(out, "sluice_subscription_deliveries_total",
                                       (label_t[]){{"topic", topic_name(t)},
                                                   {"protocol", topics_protocol_name(p)},
                                                   {"outcome", topics_outcome_name(o)}},
                                       3, c->outcomes[p][o]);
    }
}

/* ---- functions, mappings, tables, routes ---------------------------------------------------- */

typedef enum { F_INVOCATIONS, F_ERRORS, F_THROTTLES, F_MEMORY } fn_value_t;

static void function_family(const scrape_src_t *s, const strv_t *names, buf_t *out, const char *name,
                            const char *type, fn_value_t which, const char *help)
{
    metrics_family(out, name, type, help);
    for (size_t i = 0; i < names->n; i++) {
        const function_t *f = functions_find(s->fs, names->v[i]);
        function_stats_t st;
        function_get_stats(f, &st);
        uint64_t v = which == F_INVOCATIONS ? st.invocations
                     : which == F_ERRORS    ? st.errors
                     : which == F_THROTTLES ? st.throttles
                                            : function_def(f)->memory_mb;
        metrics_sample_u64(out, name, (label_t[]){{"function", names->v[i]}}, 1, v);
    }
}

static void function_metrics(const scrape_src_t *s, buf_t *out)
{
    strv_t names = {0};
    functions_list(s->fs, &names);
    function_family(s, &names, out, "sluice_function_invocations_total", "counter", F_INVOCATIONS,
                    "Calls of a function that finished (any outcome, timeouts included).");
    function_family(s, &names, out, "sluice_function_errors_total", "counter", F_ERRORS,
                    "Calls of a function that failed (the handler's error, a crash, a timeout).");
    function_family(s, &names, out, "sluice_function_throttles_total", "counter", F_THROTTLES,
                    "Calls of a function refused because its backlog was full.");
    function_family(s, &names, out, "sluice_function_memory_mb", "gauge", F_MEMORY,
                    "A function's configured memory (memory_mb), for GB-second estimates.");
    metrics_family(out, "sluice_function_duration_seconds", "histogram",
                   "How long a function's calls ran, from start on a worker to outcome.");
    for (size_t i = 0; i < names.n; i++)
        metrics_hist_write(out, "sluice_function_duration_seconds", (label_t[]){{"function", names.v[i]}}, 1,
                           function_durations(functions_find(s->fs, names.v[i])));
    strv_free(&names);
    esm_t **maps;
    size_t n;
    esm_list(s->fs, NULL, NULL, &maps, &n);
    metrics_family(out, "sluice_mapping_batch_size", "histogram",
                   "Records per batch an event source mapping handed to its function.");
    for (size_t i = 0; i < n; i++) {
        const esm_def_t *d = esm_get_def(maps[i]);
        metrics_hist_write(out, "sluice_mapping_batch_size",
                           (label_t[]){{"function", d->function}, {"queue", d->queue}}, 2, esm_batch_sizes(maps[i]));
    }
    metrics_family(out, "sluice_mapping_lag_seconds", "histogram",
                   "Per record, the time from its send to the invocation of the batch an event source mapping "
                   "handed it to its function in.");
    for (size_t i = 0; i < n; i++) {
        const esm_def_t *d = esm_get_def(maps[i]);
        metrics_hist_write(out, "sluice_mapping_lag_seconds",
                           (label_t[]){{"function", d->function}, {"queue", d->queue}}, 2, esm_lags(maps[i]));
    }
    free(maps);
}

static void table_metrics(const scrape_src_t *s, buf_t *out)
{
    strv_t names = {0};
    tables_list(s->ts, &names);
    metrics_family(out, "sluice_table_reads_total", "counter", "Reads of a table: get, query, index query, scan.");
    for (size_t i = 0; i < names.n; i++)
        metrics_sample_u64(out, "sluice_table_reads_total", (label_t[]){{"table", names.v[i]}}, 1,
                           table_counts(tables_find(s->ts, names.v[i]))->reads);
    metrics_family(out, "sluice_table_writes_total", "counter", "Writes to a table: put, delete.");
    for (size_t i = 0; i < names.n; i++)
        metrics_sample_u64(out, "sluice_table_writes_total", (label_t[]){{"table", names.v[i]}}, 1,
                           table_counts(tables_find(s->ts, names.v[i]))->writes);
    strv_free(&names);
}

static void route_metrics(const scrape_src_t *s, buf_t *out)
{
    const char *label;
    const router_route_stats_t *st;
    char code[16];
    metrics_family(out, "sluice_route_requests_total", "counter", "Requests a gateway route answered, by status code.");
    for (size_t i = 0; gateway_route_stats(s->gw, i, &label, &st); i++)
        for (int c = 100; c < ROUTER_STATUS_MAX; c++)
            if (st->codes[c]) {
                snprintf(code, sizeof code, "%d", c);
                metrics_sample_u64(out, "sluice_route_requests_total", (label_t[]){{"route", label}, {"code", code}},
                                   2, st->codes[c]);
            }
    metrics_family(out, "sluice_route_duration_seconds", "histogram",
                   "How long a gateway route took to make its reply (the wait for the log not included).");
    for (size_t i = 0; gateway_route_stats(s->gw, i, &label, &st); i++)
        metrics_hist_write(out, "sluice_route_duration_seconds", (label_t[]){{"route", label}}, 1, &st->duration_us);
}

/* ---- store and process ---------------------------------------------------------------------- */

static void store_metrics(const scrape_src_t *s, buf_t *out)
{
    metrics_hist_t sync_us, records;
    store_stats_t st;
    store_get_histograms(s->store, &sync_us, &records);
    store_get_stats(s->store, &st);
    metrics_family(out, "sluice_store_fsync_duration_seconds", "histogram", "Each fdatasync of the write-ahead log.");
    metrics_hist_write(out, "sluice_store_fsync_duration_seconds", NULL, 0, &sync_us);
    metrics_family(out, "sluice_store_batch_records", "histogram",
                   "Records per write of the log: the group commit (an atomic group counts one).");
    metrics_hist_write(out, "sluice_store_batch_records", NULL, 0, &records);
    metrics_family(out, "sluice_store_log_bytes", "gauge",
                   "Bytes of log records written since the newest snapshot (what a checkpoint would free).");
    metrics_sample_u64(out, "sluice_store_log_bytes", NULL, 0, st.log_bytes_since_snapshot);
    metrics_family(out, "sluice_store_last_snapshot_timestamp_seconds", "gauge",
                   "When the newest snapshot was written, Unix time (0: none).");
    metrics_sample(out, "sluice_store_last_snapshot_timestamp_seconds", NULL, 0, (double)st.snapshot_wall_ms / 1000.0);
}

/* Resident set size from /proc/self/statm (pages), or 0. */
static uint64_t resident_bytes(void)
{
    unsigned long size = 0, resident = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (!f)
        return 0;
    if (fscanf(f, "%lu %lu", &size, &resident) != 2)
        resident = 0;
    fclose(f);
    return (uint64_t)resident * (uint64_t)sysconf(_SC_PAGESIZE);
}

static void process_metrics(const scrape_src_t *s, buf_t *out)
{
    http_server_stats_t hs;
    http_server_get_stats(s->http, &hs);
    metrics_family(out, "sluice_process_resident_memory_bytes", "gauge", "Resident memory of the daemon.");
    metrics_sample_u64(out, "sluice_process_resident_memory_bytes", NULL, 0, resident_bytes());
    metrics_family(out, "sluice_http_open_connections", "gauge", "Client connections open now.");
    metrics_sample_u64(out, "sluice_http_open_connections", NULL, 0, hs.open);
    metrics_family(out, "sluice_http_requests_shed_total", "counter",
                   "Requests refused at once because server.max_pending_requests was reached.");
    metrics_sample_u64(out, "sluice_http_requests_shed_total", NULL, 0, s->router->shed);
}

void scrape_write(const scrape_src_t *s, buf_t *out)
{
    queue_metrics(s, out);
    topic_metrics(s, out);
    function_metrics(s, out);
    table_metrics(s, out);
    route_metrics(s, out);
    store_metrics(s, out);
    process_metrics(s, out);
}
