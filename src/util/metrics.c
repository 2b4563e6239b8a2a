/* metrics — counters' and histograms' exposition; see metrics.h. */
#include "util/metrics.h"

#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/alloc.h"

const uint64_t METRICS_DURATION_US[] = {100,    250,    500,     1000,    2500,    5000,    10000,
                                        25000,  50000,  100000,  250000,  500000,  1000000, 2500000,
                                        5000000, 10000000, 30000000, 60000000};
const unsigned METRICS_DURATION_US_N = sizeof METRICS_DURATION_US / sizeof METRICS_DURATION_US[0];
const uint64_t METRICS_SIZE[] = {1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000};
const unsigned METRICS_SIZE_N = sizeof METRICS_SIZE / sizeof METRICS_SIZE[0];

static void check_bounds(unsigned nbounds)
{
    if (nbounds > METRICS_BUCKETS_MAX)
        util_fatal("metrics: more than METRICS_BUCKETS_MAX buckets");
}

void metrics_hist_init(metrics_hist_t *h, const uint64_t *bounds, unsigned nbounds, double per_unit)
{
    check_bounds(nbounds);
    memset(h, 0, sizeof *h);
    h->bounds = bounds;
    h->nbounds = nbounds;
    h->per_unit = per_unit;
}

/* The bucket v falls in: the first bound >= v, or nbounds (+Inf). */
static unsigned bucket_of(const uint64_t *bounds, unsigned n, uint64_t v)
{
    unsigned i = 0;
    while (i < n && v > bounds[i])
        i++;
    return i;
}

void metrics_hist_observe(metrics_hist_t *h, uint64_t v)
{
    h->counts[bucket_of(h->bounds, h->nbounds, v)]++;
    h->sum += v;
}

uint64_t metrics_hist_count(const metrics_hist_t *h)
{
    uint64_t n = 0;
    for (unsigned i = 0; i <= h->nbounds; i++)
        n += h->counts[i];
    return n;
}

void metrics_shared_init(metrics_shared_hist_t *h, const uint64_t *bounds, unsigned nbounds, double per_unit)
{
    check_bounds(nbounds);
    h->bounds = bounds;
    h->nbounds = nbounds;
    h->per_unit = per_unit;
    for (unsigned i = 0; i <= METRICS_BUCKETS_MAX; i++)
        atomic_init(&h->counts[i], 0);
    atomic_init(&h->sum, 0);
}

void metrics_shared_observe(metrics_shared_hist_t *h, uint64_t v)
{
    atomic_fetch_add_explicit(&h->counts[bucket_of(h->bounds, h->nbounds, v)], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&h->sum, v, memory_order_relaxed);
}

void metrics_shared_read(const metrics_shared_hist_t *h, metrics_hist_t *out)
{
    metrics_hist_init(out, h->bounds, h->nbounds, h->per_unit);
    for (unsigned i = 0; i <= h->nbounds; i++)
        out->counts[i] = atomic_load_explicit(&h->counts[i], memory_order_relaxed);
    out->sum = atomic_load_explicit(&h->sum, memory_order_relaxed);
}

/* ---- exposition ------------------------------------------------------------------------------ */

void metrics_escape_label(buf_t *out, const char *value)
{
    for (const char *p = value ? value : ""; *p; p++) {
        if (*p == '\\')
            buf_puts(out, "\\\\");
        else if (*p == '"')
            buf_puts(out, "\\\"");
        else if (*p == '\n')
            buf_puts(out, "\\n");
        else
            buf_putc(out, *p);
    }
}

void metrics_family(buf_t *out, const char *name, const char *type, const char *help)
{
    buf_printf(out, "# HELP %s ", name);
    for (const char *p = help; *p; p++) {
        if (*p == '\\')
            buf_puts(out, "\\\\");
        else if (*p == '\n')
            buf_puts(out, "\\n");
        else
            buf_putc(out, *p);
    }
    buf_printf(out, "\n# TYPE %s %s\n", name, type);
}

static void put_labels(buf_t *out, const metrics_label_t *labels, size_t n)
{
    if (!n)
        return;
    buf_putc(out, '{');
    for (size_t i = 0; i < n; i++) {
        buf_printf(out, "%s%s=\"", i ? "," : "", labels[i].name);
        metrics_escape_label(out, labels[i].value);
        buf_putc(out, '"');
    }
    buf_putc(out, '}');
}

static void put_value(buf_t *out, double v)
{
    if (isnan(v))
        buf_puts(out, "NaN");
    else if (isinf(v))
        buf_puts(out, v > 0 ? "+Inf" : "-Inf");
    else if (v == floor(v) && fabs(v) < 9007199254740992.0)
        buf_printf(out, "%.0f", v);
    else {
        char s[40];
        for (int prec = 15; prec <= 17; prec++) { /* the shortest that reads back the same */
            snprintf(s, sizeof s, "%.*g", prec, v);
            if (strtod(s, NULL) == v)
                break;
        }
        buf_puts(out, s);
    }
}

void metrics_sample(buf_t *out, const char *name, const metrics_label_t *labels, size_t nlabels, double value)
{
    buf_puts(out, name);
    put_labels(out, labels, nlabels);
    buf_putc(out, ' ');
    put_value(out, value);
    buf_putc(out, '\n');
}

void metrics_sample_u64(buf_t *out, const char *name, const metrics_label_t *labels, size_t nlabels, uint64_t value)
{
    buf_puts(out, name);
    put_labels(out, labels, nlabels);
    buf_printf(out, " %llu\n", (unsigned long long)value);
}

void metrics_hist_write(buf_t *out, const char *name, const metrics_label_t *labels, size_t nlabels,
                        const metrics_hist_t *h)
{
    metrics_label_t l[METRICS_LABELS_MAX + 1];
    char series[160], le[40];
    buf_t le_text = BUF_INIT;
    if (nlabels > METRICS_LABELS_MAX)
        nlabels = METRICS_LABELS_MAX;
    if (nlabels) /* labels may be NULL then */
        memcpy(l, labels, nlabels * sizeof *l);
    l[nlabels] = (metrics_label_t){"le", le};
    snprintf(series, sizeof series, "%s_bucket", name);
    uint64_t cum = 0;
    for (unsigned i = 0; i <= h->nbounds; i++) {
        cum += h->counts[i];
        if (i == h->nbounds) {
            snprintf(le, sizeof le, "+Inf");
        } else {
            buf_reset(&le_text);
            put_value(&le_text, (double)h->bounds[i] / h->per_unit);
            snprintf(le, sizeof le, "%s", le_text.data);
        }
        metrics_sample_u64(out, series, l, nlabels + 1, cum);
    }
    snprintf(series, sizeof series, "%s_sum", name);
    metrics_sample(out, series, labels, nlabels, (double)h->sum / h->per_unit);
    snprintf(series, sizeof series, "%s_count", name);
    metrics_sample_u64(out, series, labels, nlabels, cum);
    buf_free(&le_text);
}
