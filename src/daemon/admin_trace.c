/*
 * admin_trace — `sluice trace <id> [--json]`: the hops of one trace from
 * the daemon's journal (GET /_sluice/trace/{id}, util/trace.h), in time
 * order, with each hop's time, the time since the first hop and since the
 * one before, and a function's own duration. --json prints the daemon's
 * answer as it is. Reference: docs/TRACING.md.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/admin.h"
#include "util/alloc.h"

static const char TRACE_USAGE[] =
    "usage: sluice trace <id> [--endpoint URL] [--json]\n"
    "\n"
    "The hops the daemon's trace journal holds for <id>: a gateway request id,\n"
    "or the Root of an AWS trace header (X-Amzn-Trace-Id, AWSTraceHeader), in\n"
    "time order: the time of each, +ms since the first hop and since the one\n"
    "before, the hop's kind, the resource (route, topic, queue, function,\n"
    "table) and a detail; a function hop also shows how long the call took.\n"
    "A message without a trace header is traced by its message id; where its\n"
    "journey goes on under another id (a topic's queue message, a function's\n"
    "destination, a queued invocation) the detail ends \"-> <id>\" and that\n"
    "id's hops are listed too.\n"
    "The journal is in memory and bounded (trace.journal_entries): old hops are\n"
    "forgotten, and a restart forgets them all.\n"
    "\n"
    "  --endpoint URL  the daemon (default $SLUICE_ENDPOINT, else http://127.0.0.1:4566)\n"
    "  --json          the daemon's JSON answer as it is\n"
    "\n"
    "Exit status: 0 hops listed; 1 no hop for the id, or the daemon refused;\n"
    "2 usage error; 4 the daemon could not be reached.\n";

static double ms_between(double a_us, double b_us)
{
    return (b_us - a_us) / 1000.0;
}

/* An integral JSON number as a double; 0 for anything else. */
static double num(const jv_t *v)
{
    return jv_is_int(v) ? (double)v->i : 0;
}

static void print_hops(const jv_t *hops)
{
    admin_table_t t = {.ncol = 7};
    const char *head[] = {"TIME", "+FIRST_MS", "+PREV_MS", "HOP", "RESOURCE", "TOOK_MS", "DETAIL"};
    admin_table_row(&t, head);
    double first = 0, prev = 0;
    for (size_t i = 0; i < jv_count(hops); i++) {
        const jv_t *h = jv_at(hops, i);
        double us = num(jv_get(h, "timeUs")), took = num(jv_get(h, "durationUs"));
        if (i == 0)
            first = prev = us;
        char since[32], step[32], dur[32];
        snprintf(since, sizeof since, "%.3f", ms_between(first, us));
        snprintf(step, sizeof step, "%.3f", ms_between(prev, us));
        snprintf(dur, sizeof dur, took > 0 ? "%.3f" : "-", took / 1000.0);
        const char *kind = jv_str(jv_get(h, "kind")), *res = jv_str(jv_get(h, "resource"));
        const char *detail = jv_str(jv_get(h, "detail")), *link = jv_str(jv_get(h, "link"));
        char text[400]; /* the detail, and where the journey goes on when the hop names it */
        snprintf(text, sizeof text, "%s%s%s", detail && *detail ? detail : link ? "" : "-", link ? " -> " : "",
                 link ? link : "");
        const char *cells[] = {jv_str(jv_get(h, "timestamp")), since, step, kind ? kind : "-",
                               res && *res ? res : "-", dur, text};
        admin_table_row(&t, cells);
        prev = us;
    }
    admin_table_print(&t);
}

int admin_trace(admin_t *ad, int argc, char **argv)
{
    int first;
    int rc = admin_getopt(ad, argc, argv, NULL, NULL, NULL, TRACE_USAGE, &first);
    if (rc == 0 && first != argc - 1)
        rc = admin_fail(ad, -1, "one trace id, please (see sluice trace --help)");
    if (rc != 0)
        return rc == 1 ? ADMIN_EXIT_OK : ADMIN_EXIT_USAGE;
    buf_t path = BUF_INIT;
    buf_puts(&path, "/_sluice/trace/");
    admin_urlencode(&path, argv[first]);
    buf_putc(&path, '\0');
    rc = admin_get(ad, path.data, 0);
    buf_free(&path);
    if (rc != ADMIN_EXIT_OK)
        return rc;
    const jv_t *hops = jv_get(ad->a.json, "hops");
    if (!jv_is(hops, JV_ARRAY))
        return admin_fail(ad, ADMIN_EXIT_FAILED, "the answer of %s has no hops (a daemon without tracing?)",
                          ad->origin);
    if (ad->json)
        fwrite(ad->a.body.data, 1, ad->a.body.len, stdout);
    else if (jv_count(hops))
        print_hops(hops);
    if (!jv_count(hops)) {
        if (!ad->json)
            fprintf(stderr, "sluice trace: no hop of %s in the journal (not traced, or forgotten)\n", argv[first]);
        return ADMIN_EXIT_FAILED;
    }
    return ADMIN_EXIT_OK;
}
