/*
 * metrics — counters, fixed-bucket histograms and the Prometheus text
 * exposition format (version 0.0.4) they are scraped in.
 *
 * Model. A counter is a plain uint64_t in whatever object it counts for
 * (a queue's sends, a function's errors): the loop thread owns it and
 * increments it, at the cost of an add. A histogram (metrics_hist_t) is a
 * fixed table of bucket upper bounds, chosen once (a static array), and a
 * count per bucket; observing a value finds its bucket by a short linear
 * search (at most METRICS_BUCKETS_MAX compares) and adds one. Values are
 * integers in the histogram's own unit (microseconds, records); the writer
 * divides them (metrics_hist_t.per_unit) into the exposed base unit, so a
 * duration in µs is exposed in seconds as Prometheus wants.
 *
 * Threads. metrics_hist_t is loop-thread only. metrics_shared_hist_t is
 * the same histogram written by one other thread (the store's log thread)
 * with relaxed atomic adds; the loop thread reads a copy of it with
 * metrics_shared_read. The copy's count is the sum of its bucket counts,
 * so buckets and _count always agree; _sum may lag by the observation
 * being made.
 *
 * Exposition. A scrape is written into a buf_t family by family: each
 * family opens with metrics_family (# HELP and # TYPE lines), then every
 * sample of that family follows (metrics_sample, metrics_hist_write),
 * before the next family opens — the format wants a family's samples
 * together. Label values are escaped as the format asks (\\, \" and \n);
 * HELP text escapes \\ and \n.
 */
#ifndef SLUICE_METRICS_H
#define SLUICE_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"

#define METRICS_BUCKETS_MAX 20

typedef struct metrics_hist {
    const uint64_t *bounds; /* ascending upper bounds (le), nbounds of them; +Inf is implied */
    unsigned nbounds;       /* <= METRICS_BUCKETS_MAX */
    double per_unit;        /* values per exposed unit: exposed = value / per_unit (1e6: µs as seconds) */
    uint64_t counts[METRICS_BUCKETS_MAX + 1]; /* per bucket, not cumulative; the last is +Inf */
    uint64_t sum;
} metrics_hist_t;

typedef struct metrics_shared_hist {
    const uint64_t *bounds;
    unsigned nbounds;
    double per_unit;
    _Atomic uint64_t counts[METRICS_BUCKETS_MAX + 1];
    _Atomic uint64_t sum;
} metrics_shared_hist_t;

/* Bucket tables shared by Sluice's histograms. */
extern const uint64_t METRICS_DURATION_US[]; /* 100 µs .. 60 s */
extern const unsigned METRICS_DURATION_US_N;
extern const uint64_t METRICS_SIZE[]; /* 1 .. 10000: batch sizes, records */
extern const unsigned METRICS_SIZE_N;

/* bounds must outlive h (a static table). */
void metrics_hist_init(metrics_hist_t *h, const uint64_t *bounds, unsigned nbounds, double per_unit);
void metrics_hist_observe(metrics_hist_t *h, uint64_t v);
uint64_t metrics_hist_count(const metrics_hist_t *h);

void metrics_shared_init(metrics_shared_hist_t *h, const uint64_t *bounds, unsigned nbounds, double per_unit);
/* From the one writing thread. */
void metrics_shared_observe(metrics_shared_hist_t *h, uint64_t v);
/* From any thread: a consistent-enough copy (see the header comment). */
void metrics_shared_read(const metrics_shared_hist_t *h, metrics_hist_t *out);

/* One label: name (a valid label name, not escaped) and value (any text). */
typedef struct metrics_label {
    const char *name;
    const char *value;
} metrics_label_t;

/* # HELP name help / # TYPE name type ("counter", "gauge", "histogram"). */
void metrics_family(buf_t *out, const char *name, const char *type, const char *help);
/* name{labels} value — value as an integer when it is one, else shortest
 * round-trip decimal; +Inf, -Inf and NaN as the format spells them. */
void metrics_sample(buf_t *out, const char *name, const metrics_label_t *labels, size_t nlabels, double value);
/* An integer sample (counters): exact beyond 2^53. */
void metrics_sample_u64(buf_t *out, const char *name, const metrics_label_t *labels, size_t nlabels, uint64_t value);
/* name_bucket{labels,le="…"} for every bound and +Inf (cumulative), then
 * name_sum and name_count. At most METRICS_LABELS_MAX labels. */
#define METRICS_LABELS_MAX 7
void metrics_hist_write(buf_t *out, const char *name, const metrics_label_t *labels, size_t nlabels,
                        const metrics_hist_t *h);

/* The escaped form of a label value (exposed for tests). */
void metrics_escape_label(buf_t *out, const char *value);

#endif
