/*
 * scrape — what GET /metrics answers: every metric Sluice exposes, read at
 * scrape time from the parts that keep them (docs/METRICS.md lists them).
 * Gauges (depths, ages, sizes) are computed now; counters and histograms
 * are the parts' own (queue_get_counts, topic_counts, function stats,
 * the store's log-thread histograms...). Loop thread.
 */
#ifndef SLUICE_SCRAPE_H
#define SLUICE_SCRAPE_H

#include "util/buf.h"

struct queues;
struct topics;
struct tables;
struct functions;
struct gateway;
struct store;
struct sqs_api;
struct http_server;
struct router;

typedef struct scrape_src {
    struct queues *qs;
    struct topics *tp;
    struct tables *ts;
    struct functions *fs;
    struct gateway *gw; /* or NULL */
    struct store *store;
    struct sqs_api *sqs;
    struct http_server *http;
    struct router *router;
} scrape_src_t;

/* Appends the exposition (Prometheus text format 0.0.4) to out. */
void scrape_write(const scrape_src_t *src, buf_t *out);

#endif
