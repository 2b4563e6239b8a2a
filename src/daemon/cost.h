/*
 * cost — `sluice cost`'s model: what the traffic a daemon has seen would
 * cost on AWS. Three pure steps, each testable on its own:
 *   cost_usage_parse   the daemon's /metrics text (Prometheus exposition
 *                      format) → billable units (cost_usage_t)
 *   cost_prices_load   a price table (YAML, share/prices/) → prices
 *   cost_compute       units × prices → lines, per-service and total sums
 * and cost_render, which prints the lines as tables or JSON.
 *
 * What counts (docs/CLI.md has the table and its caveats):
 *   API Gateway  sluice_route_requests_total (every route, every code)
 *   SNS          sluice_sns_publishes_total; HTTP/S deliveries from
 *                sluice_subscription_deliveries_total{protocol="http|https"}
 *                (SQS and Lambda deliveries are free on AWS)
 *   SQS          sluice_sqs_requests_total (a batch is one request)
 *   Lambda       sluice_function_invocations_total; GB-seconds from
 *                sluice_function_duration_seconds_sum × sluice_function_memory_mb / 1024
 *   DynamoDB     sluice_table_reads_total / sluice_table_writes_total as
 *                on-demand read / write request units
 * Prices are the first tier's; free tiers are ignored.
 */
#ifndef SLUICE_COST_H
#define SLUICE_COST_H

#include <stddef.h>

#include "util/buf.h"

typedef struct cost_usage {
    double apigw_requests;
    double sns_publishes;
    double sns_http_deliveries;
    double sqs_requests;
    double lambda_requests;
    double lambda_gb_seconds;
    double ddb_reads, ddb_writes;
    size_t samples; /* sluice_ samples counted */
    size_t skipped; /* lines that are neither comments nor samples */
} cost_usage_t;

/*
 * Adds up the billable units in a metrics text (text[0..n), not
 * necessarily NUL-terminated). Unknown metric names are ignored; malformed
 * lines are counted in skipped. A function's GB-seconds need both its
 * duration sum and its memory; with no memory sample 128 MB is assumed
 * (Lambda's smallest and Sluice's "unlimited" figure).
 */
void cost_usage_parse(const char *text, size_t n, cost_usage_t *u);

/* The price of each unit, in USD; the names are the YAML keys. */
#define COST_PRICE_KEYS(X)                                                                              \
    X(apigateway_rest_requests_per_million, "API Gateway", "REST API requests", apigw_requests, 1e6)      \
    X(sns_publishes_per_million, "SNS", "publishes", sns_publishes, 1e6)                                  \
    X(sns_http_deliveries_per_million, "SNS", "HTTP/S deliveries", sns_http_deliveries, 1e6)              \
    X(sqs_requests_per_million, "SQS", "requests (standard queues)", sqs_requests, 1e6)                   \
    X(lambda_requests_per_million, "Lambda", "requests", lambda_requests, 1e6)                            \
    X(lambda_gb_second, "Lambda", "compute (GB-seconds)", lambda_gb_seconds, 1)                           \
    X(dynamodb_write_request_units_per_million, "DynamoDB", "write request units", ddb_writes, 1e6)       \
    X(dynamodb_read_request_units_per_million, "DynamoDB", "read request units", ddb_reads, 1e6)

typedef struct cost_prices {
#define COST_FIELD(key, svc, item, usage, per) double key;
    COST_PRICE_KEYS(COST_FIELD)
#undef COST_FIELD
    char region[32];
    char as_of[32];
    char source[256];
} cost_prices_t;

/* Loads a price table: a YAML mapping with every key of COST_PRICE_KEYS
 * (a number ≥ 0) and region, as_of, source (strings); other keys are
 * ignored. 0, or -1 with the reason in why. */
int cost_prices_load(const char *path, cost_prices_t *p, char *why, size_t why_len);

#define COST_LINES 8

typedef struct cost_line {
    const char *service, *item;
    double units;
    double price;    /* USD per `per` units */
    double per;      /* 1e6 or 1 */
    double cost;     /* USD */
} cost_line_t;

typedef struct cost_estimate {
    cost_line_t line[COST_LINES];
    double total;
    double per_million; /* total per million gateway requests; < 0 when there were none */
} cost_estimate_t;

void cost_compute(const cost_usage_t *u, const cost_prices_t *p, cost_estimate_t *e);

/* The estimate as text tables (per service, subtotals, total, the
 * per-million figure) or as one JSON object. */
void cost_render(const cost_estimate_t *e, const cost_prices_t *p, int json, buf_t *out);

#endif
