/* Unit tests for util/metrics: histogram buckets and the Prometheus text format. */
#include <math.h>
#include <pthread.h>

#include "harness.h"
#include "util/metrics.h"

/* A buf's text, or "" when nothing was written. */
static const char *text(const buf_t *b)
{
    return b->data ? b->data : "";
}

TEST(label_values_are_escaped)
{
    buf_t b = BUF_INIT;
    metrics_escape_label(&b, "a\\b\"c\nd");
    CHECK_STR(text(&b), "a\\\\b\\\"c\\nd");
    buf_free(&b);
}

TEST(family_and_samples)
{
    buf_t b = BUF_INIT;
    metrics_label_t l[] = {{"queue", "q\"1"}, {"state", "visible"}};
    metrics_family(&b, "sluice_x", "gauge", "Line one\\two\nthree");
    metrics_sample(&b, "sluice_x", l, 2, 3);
    metrics_sample(&b, "sluice_x", NULL, 0, 0.25);
    metrics_sample_u64(&b, "sluice_x", l, 1, 18446744073709551615ull);
    metrics_sample(&b, "sluice_x", NULL, 0, INFINITY);
    metrics_sample(&b, "sluice_x", NULL, 0, 1700000000.123);
    CHECK_STR(text(&b), "# HELP sluice_x Line one\\\\two\\nthree\n"
                        "# TYPE sluice_x gauge\n"
                        "sluice_x{queue=\"q\\\"1\",state=\"visible\"} 3\n"
                        "sluice_x 0.25\n"
                        "sluice_x{queue=\"q\\\"1\"} 18446744073709551615\n"
                        "sluice_x +Inf\n"
                        "sluice_x 1700000000.123\n");
    buf_free(&b);
}

TEST(histogram_buckets_are_cumulative)
{
    static const uint64_t bounds[] = {1000, 5000, 25000};
    metrics_hist_t h;
    metrics_hist_init(&h, bounds, 3, 1e6);
    metrics_hist_observe(&h, 0);     /* le 0.001 */
    metrics_hist_observe(&h, 1000);  /* le 0.001: a bound is inclusive */
    metrics_hist_observe(&h, 1001);  /* le 0.005 */
    metrics_hist_observe(&h, 30000); /* +Inf only */
    CHECK_INT(metrics_hist_count(&h), 4);
    buf_t b = BUF_INIT;
    metrics_label_t l[] = {{"function", "f"}};
    metrics_hist_write(&b, "d_seconds", l, 1, &h);
    CHECK_STR(text(&b), "d_seconds_bucket{function=\"f\",le=\"0.001\"} 2\n"
                        "d_seconds_bucket{function=\"f\",le=\"0.005\"} 3\n"
                        "d_seconds_bucket{function=\"f\",le=\"0.025\"} 3\n"
                        "d_seconds_bucket{function=\"f\",le=\"+Inf\"} 4\n"
                        "d_seconds_sum{function=\"f\"} 0.032001\n"
                        "d_seconds_count{function=\"f\"} 4\n");
    buf_free(&b);
}

TEST(bucket_bounds_print_exactly)
{
    metrics_hist_t h;
    metrics_hist_init(&h, METRICS_DURATION_US, METRICS_DURATION_US_N, 1e6);
    buf_t b = BUF_INIT;
    metrics_hist_write(&b, "t", NULL, 0, &h);
    CHECK(strstr(text(&b), "t_bucket{le=\"0.0001\"} 0\n") != NULL);
    CHECK(strstr(text(&b), "t_bucket{le=\"0.00025\"} 0\n") != NULL);
    CHECK(strstr(text(&b), "t_bucket{le=\"60\"} 0\n") != NULL);
    CHECK(strstr(text(&b), "t_sum 0\nt_count 0\n") != NULL);
    buf_free(&b);
}

static metrics_shared_hist_t shared;

static void *observer(void *arg)
{
    (void)arg;
    for (int i = 0; i < 100000; i++)
        metrics_shared_observe(&shared, (uint64_t)(i % 7));
    return NULL;
}

TEST(shared_histogram_read_while_written)
{
    metrics_shared_init(&shared, METRICS_SIZE, METRICS_SIZE_N, 1);
    pthread_t th;
    CHECK(pthread_create(&th, NULL, observer, NULL) == 0);
    metrics_hist_t h;
    uint64_t last = 0;
    for (int i = 0; i < 1000; i++) { /* counts only grow, buckets and count agree */
        metrics_shared_read(&shared, &h);
        uint64_t n = metrics_hist_count(&h);
        CHECK(n >= last);
        last = n;
    }
    pthread_join(th, NULL);
    metrics_shared_read(&shared, &h);
    CHECK_INT(metrics_hist_count(&h), 100000);
    CHECK_INT(h.counts[0], 100000 / 7 * 2 + 2); /* 0 and 1 fall in le 1; 100000 = 14285*7 + 5 */
}
