/* Unit tests for daemon/cost: the metrics text parser, the price table and
 * the arithmetic, on a fixed metrics text (the names of docs/CLI.md). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/cost.h"
#include "harness.h"
#include "util/buf.h"

static int near(double a, double b)
{
    return fabs(a - b) <= 1e-9 * (fabs(b) > 1 ? fabs(b) : 1);
}
#define NEAR(a, b) near((a), (b))

static const char METRICS[] =
    "# HELP sluice_route_requests_total Gateway requests by route and status code.\n"
    "# TYPE sluice_route_requests_total counter\n"
    "sluice_route_requests_total{route=\"POST /rides\",code=\"202\"} 900000\n"
    "sluice_route_requests_total{route=\"POST /rides\",code=\"400\"} 100000\n"
    "sluice_sns_publishes_total{topic=\"rides\"} 1000000\n"
    "sluice_subscription_deliveries_total{topic=\"rides\",protocol=\"sqs\",outcome=\"delivered\"} 1000000\n"
    "sluice_subscription_deliveries_total{topic=\"rides\",protocol=\"https\",outcome=\"delivered\"} 400000\n"
    "sluice_subscription_deliveries_total{topic=\"rides\",protocol=\"http\",outcome=\"failed\"} 100000\n"
    "sluice_subscription_deliveries_total{topic=\"rides\",protocol=\"lambda\",outcome=\"delivered\"} 7\n"
    "sluice_subscription_deliveries_total{topic=\"rides\",protocol=\"https\",outcome=\"filtered\"} 300000\n"
    "sluice_subscription_deliveries_total{topic=\"rides\",protocol=\"https\",outcome=\"retried\"} 200000\n"
    "sluice_sqs_requests_total{action=\"SendMessage\"} 1500000\n"
    "sluice_sqs_requests_total{action=\"ReceiveMessage\"} 500000\n"
    "sluice_function_invocations_total{function=\"recorder\"} 1000000\n"
    "sluice_function_duration_seconds_sum{function=\"recorder\"} 100000\n"
    "sluice_function_duration_seconds_count{function=\"recorder\"} 1000000\n"
    "sluice_function_memory_mb{function=\"recorder\"} 128\n"
    "sluice_function_duration_seconds_sum{function=\"big\"} 10\n"
    "sluice_function_memory_mb{function=\"big\"} 2048\n"
    "sluice_table_reads_total{table=\"rides\"} 2000000\n"
    "sluice_table_writes_total{table=\"rides\"} 1000000\n"
    "sluice_table_writes_total{table=\"a \\\"quoted\\\" name\"} 0\n"
    "sluice_uptime_seconds 12.5\n"
    "this is not a sample\n"
    "\n";

static void seed_prices(cost_prices_t *p)
{
    *p = (cost_prices_t){
        .apigateway_rest_requests_per_million = 3.50, .sns_publishes_per_million = 0.50,
        .sns_http_deliveries_per_million = 0.60, .sqs_requests_per_million = 0.40,
        .lambda_requests_per_million = 0.20, .lambda_gb_second = 0.0000166667,
        .dynamodb_write_request_units_per_million = 0.625, .dynamodb_read_request_units_per_million = 0.125,
    };
}

TEST(parse_sums_the_billable_units)
{
    cost_usage_t u;
    cost_usage_parse(METRICS, strlen(METRICS), &u);
    CHECK(NEAR(u.apigw_requests, 1e6));
    CHECK(NEAR(u.sns_publishes, 1e6));
    CHECK(NEAR(u.sns_http_deliveries, 5e5)); /* http and https only: SQS and Lambda deliveries are free;
                                              * filtered ones were never sent, retries are not more */
    CHECK(NEAR(u.sqs_requests, 2e6));
    CHECK(NEAR(u.lambda_requests, 1e6));
    /* 100000 s at 128 MB = 12500 GB-s, plus 10 s at 2 GB = 20 */
    CHECK(NEAR(u.lambda_gb_seconds, 12520));
    CHECK(NEAR(u.ddb_reads, 2e6));
    CHECK(NEAR(u.ddb_writes, 1e6));
    CHECK_INT(u.skipped, 1);
    CHECK_INT(u.samples, 19);
}

/* The text need not end in a NUL: a last line without a newline is read up
 * to n and no further (ASan: a heap copy of exactly n bytes). */
TEST(parse_stops_at_n_without_a_terminator)
{
    static const char line[] = "sluice_sns_publishes_total 5";
    char *text = malloc(sizeof line - 1);
    memcpy(text, line, sizeof line - 1);
    cost_usage_t u;
    cost_usage_parse(text, sizeof line - 1, &u);
    CHECK(NEAR(u.sns_publishes, 5));
    cost_usage_parse(text, sizeof line - 2, &u); /* "... 5" cut before the 5 */
    CHECK(NEAR(u.sns_publishes, 0));
    free(text);
}

TEST(parse_is_line_by_line_and_bounded)
{
    cost_usage_t u;
    const char *t = "sluice_sqs_requests_total{action=\"x\"} 5\nsluice_sqs_requests_total{action=\"y\"";
    cost_usage_parse(t, strlen(t), &u); /* the unterminated last line is malformed, not a crash */
    CHECK(NEAR(u.sqs_requests, 5));
    CHECK_INT(u.skipped, 1);
    cost_usage_parse("sluice_sqs_requests_total 7", 25, &u); /* n cuts the value: "7" not seen */
    CHECK(NEAR(u.sqs_requests, 0));
    CHECK_INT(u.skipped, 1);
    cost_usage_parse("sluice_sqs_requests_total NaN\nsluice_sqs_requests_total 2 1700000000000\r\n", 69, &u);
    CHECK(NEAR(u.sqs_requests, 2));
    CHECK_INT(u.skipped, 1);
    /* a duration without a memory sample counts at 128 MB */
    const char *d = "sluice_function_duration_seconds_sum{function=\"f\"} 8\n";
    cost_usage_parse(d, strlen(d), &u);
    CHECK(NEAR(u.lambda_gb_seconds, 1));
}

TEST(compute_multiplies_and_sums)
{
    cost_usage_t u;
    cost_prices_t p;
    cost_estimate_t e;
    seed_prices(&p);
    cost_usage_parse(METRICS, strlen(METRICS), &u);
    cost_compute(&u, &p, &e);
    CHECK_STR(e.line[0].service, "API Gateway");
    CHECK(NEAR(e.line[0].cost, 3.50));
    CHECK(NEAR(e.line[1].cost, 0.50));
    CHECK(NEAR(e.line[2].cost, 0.30));
    CHECK(NEAR(e.line[3].cost, 0.80));
    CHECK(NEAR(e.line[4].cost, 0.20));
    CHECK(NEAR(e.line[5].cost, 12520 * 0.0000166667));
    CHECK(NEAR(e.line[6].cost, 0.625));
    CHECK(NEAR(e.line[7].cost, 0.25));
    double total = 3.50 + 0.50 + 0.30 + 0.80 + 0.20 + 12520 * 0.0000166667 + 0.625 + 0.25;
    CHECK(NEAR(e.total, total));
    CHECK(NEAR(e.per_million, total)); /* a million gateway requests */
    cost_usage_t none = {0};
    cost_compute(&none, &p, &e);
    CHECK(e.total == 0 && e.per_million < 0);
}

/* Seed 002's question: 10 million requests a month, 100 ms at 128 MB. */
TEST(seed_002_lambda_and_api_gateway)
{
    cost_usage_t u = {.apigw_requests = 1e7, .lambda_requests = 1e7, .lambda_gb_seconds = 1e7 * 0.1 * 128 / 1024};
    cost_prices_t p;
    cost_estimate_t e;
    seed_prices(&p);
    cost_compute(&u, &p, &e);
    CHECK(NEAR(e.line[0].cost, 35.0));                  /* API Gateway */
    CHECK(NEAR(e.line[4].cost + e.line[5].cost, 2.0 + 125000 * 0.0000166667)); /* Lambda ≈ 4.08 */
}

TEST(prices_load_the_repo_table)
{
    cost_prices_t p;
    char why[300];
    char path[4096];
    harness_repo_path("share/prices/aws-us-east-1.yaml", path, sizeof path);
    int rc = cost_prices_load(path, &p, why, sizeof why);
    if (rc != 0)
        harness_fail(__FILE__, __LINE__, "%s", why);
    CHECK_INT(rc, 0);
    CHECK_STR(p.region, "us-east-1");
    CHECK(p.as_of[0] && strstr(p.source, "aws.amazon.com"));
    CHECK(NEAR(p.apigateway_rest_requests_per_million, 3.50));
    CHECK(NEAR(p.lambda_gb_second, 0.0000166667));
}

static int load_text(const char *text, char *why, size_t n)
{
    FILE *f = fopen("prices.yaml", "w");
    fputs(text, f);
    fclose(f);
    cost_prices_t p;
    return cost_prices_load("prices.yaml", &p, why, n);
}

TEST(prices_refuse_bad_tables)
{
    char why[300];
    static const char full[] = "apigateway_rest_requests_per_million: 1\nsns_publishes_per_million: 1\n"
                               "sns_http_deliveries_per_million: 1\nsqs_requests_per_million: 1\n"
                               "lambda_requests_per_million: 1\nlambda_gb_second: 1\n"
                               "dynamodb_write_request_units_per_million: 1\n";
    CHECK_INT(load_text(full, why, sizeof why), -1);
    CHECK(strstr(why, "dynamodb_read_request_units_per_million") != NULL);
    buf_t b = BUF_INIT;
    buf_printf(&b, "%sdynamodb_read_request_units_per_million: cheap\n", full);
    CHECK_INT(load_text(b.data, why, sizeof why), -1);
    CHECK(strstr(why, "not a price") != NULL);
    buf_reset(&b);
    buf_printf(&b, "%sdynamodb_read_request_units_per_million: 0.5\nextra: [1, 2]\n", full);
    CHECK_INT(load_text(b.data, why, sizeof why), 0);
    buf_free(&b);
    CHECK_INT(load_text("- a list\n", why, sizeof why), -1);
    CHECK_INT(load_text("a: [unclosed\n", why, sizeof why), -1);
    cost_prices_t p;
    CHECK_INT(cost_prices_load("/nonexistent/prices.yaml", &p, why, sizeof why), -1);
}

TEST(render_text_and_json)
{
    cost_usage_t u;
    cost_prices_t p;
    cost_estimate_t e;
    seed_prices(&p);
    snprintf(p.region, sizeof p.region, "us-east-1");
    snprintf(p.as_of, sizeof p.as_of, "2026-11-24");
    cost_usage_parse(METRICS, strlen(METRICS), &u);
    cost_compute(&u, &p, &e);
    buf_t b = BUF_INIT;
    cost_render(&e, &p, 0, &b);
    CHECK(strstr(b.data, "API Gateway\n") && strstr(b.data, "DynamoDB\n") && strstr(b.data, "TOTAL"));
    CHECK(strstr(b.data, "Per million gateway requests: 6.3837 USD") != NULL);
    buf_reset(&b);
    cost_render(&e, &p, 1, &b);
    CHECK(strstr(b.data, "\"perMillionGatewayRequests\":6.38") != NULL);
    CHECK(strstr(b.data, "\"freeTiers\":\"ignored\"") != NULL);
    buf_free(&b);
}
