/*
 * admin_list — `sluice queues`, `sluice topics`, `sluice functions` and
 * `sluice requests`: listings with their key figures, read over the wire
 * APIs (SQS JSON, SNS query, the Lambda REST API, the tables view). Each
 * prints a table, or with --json one JSON document on stdout.
 *
 * Pages are followed (NextToken, NextMarker, the tables view's after=) up
 * to LIST_MAX_PAGES, so a listing always ends.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/admin.h"
#include "util/alloc.h"
#include "util/clock.h"

#define LIST_MAX_PAGES 100
#define REQUESTS_DEFAULT_LIMIT 20
#define REQUESTS_MAX_LIMIT 10000
#define REQUESTS_PAGE 1000
#define ERROR_CELL_MAX 60

static int no_opts(admin_t *ad, int ch, const char *arg, void *ctx)
{
    (void)ch, (void)arg, (void)ctx;
    return admin_fail(ad, -1, "unexpected option");
}

/* Parses a command that takes no options of its own and no operands. */
static int simple_args(admin_t *ad, int argc, char **argv, const char *usage)
{
    int first;
    int rc = admin_getopt(ad, argc, argv, NULL, no_opts, NULL, usage, &first);
    if (rc == 0 && first < argc)
        rc = admin_fail(ad, -1, "unexpected operand %s (see sluice %s --help)", argv[first], ad->cmd);
    return rc;
}

static int args_exit(int rc)
{
    return rc == 1 ? ADMIN_EXIT_OK : ADMIN_EXIT_USAGE;
}

/* The last ':'-separated part of an ARN (a queue's or topic's name). */
static const char *arn_name(const char *arn)
{
    const char *c = arn ? strrchr(arn, ':') : NULL;
    return c ? c + 1 : arn;
}

static void print_json(const jv_t *v)
{
    buf_t b = BUF_INIT;
    jv_write(v, &b);
    printf("%s\n", b.data ? b.data : "null");
    buf_free(&b);
}

/* ---- the listing of a set of names ------------------------------------------------------------- */

typedef int (*item_fn)(admin_t *ad, const char *item, admin_table_t *t, jv_doc_t *d, jv_t *all);

/* Runs fn on each item (after the listing call that returned rc), then
 * prints the table (head: ncol names) or the JSON array; frees items. */
static int print_listing(admin_t *ad, int rc, strv_t *items, item_fn fn, const char *const *head, size_t ncol)
{
    admin_table_t t = {.ncol = ncol};
    admin_table_row(&t, head);
    jv_doc_t *d = jv_doc_new();
    jv_t *all = jv_array(d);
    for (size_t i = 0; rc == ADMIN_EXIT_OK && i < items->n; i++)
        rc = fn(ad, items->v[i], &t, d, all);
    if (rc == ADMIN_EXIT_OK && ad->json)
        print_json(all);
    else if (rc == ADMIN_EXIT_OK)
        admin_table_print(&t);
    strv_free(&t.cells);
    strv_free(items);
    jv_doc_free(d);
    return rc;
}

/* ---- queues ------------------------------------------------------------------------------------ */

static const char QUEUES_USAGE[] =
    "usage: sluice queues [--endpoint URL] [--json]\n\n"
    "Lists the daemon's queues: messages visible, in flight and delayed, the\n"
    "dead-letter queue and maxReceiveCount of the redrive policy.\n";

/* Every queue URL (ListQueues, paged) into urls. */
static int list_queue_urls(admin_t *ad, strv_t *urls)
{
    char *token = NULL;
    for (int page = 0; page < LIST_MAX_PAGES; page++) {
        buf_t body = BUF_INIT;
        buf_puts(&body, "{\"MaxResults\":1000");
        if (token) {
            buf_puts(&body, ",\"NextToken\":");
            jv_write_string(&body, token, strlen(token));
        }
        buf_putc(&body, '}');
        free(token);
        token = NULL;
        int rc = admin_sqs(ad, "ListQueues", body.data);
        buf_free(&body);
        if (rc != ADMIN_EXIT_OK)
            return rc;
        const jv_t *list = jv_get(ad->a.json, "QueueUrls");
        for (size_t i = 0; i < jv_count(list); i++)
            if (jv_str(jv_at(list, i)))
                strv_add(urls, jv_str(jv_at(list, i)));
        if (!jv_str(jv_get(ad->a.json, "NextToken")))
            return ADMIN_EXIT_OK;
        token = xstrdup(jv_str(jv_get(ad->a.json, "NextToken")));
    }
    free(token);
    return ADMIN_EXIT_OK;
}

/* One queue's row: its figures and its redrive policy's target. */
static int queue_row(admin_t *ad, const char *url, admin_table_t *t, jv_doc_t *d, jv_t *all)
{
    const jv_t *attrs;
    int rc = admin_queue_attributes(ad, url, "\"All\"", &attrs);
    if (rc != ADMIN_EXIT_OK)
        return rc;
    jv_doc_t *pd = jv_doc_new();
    const char *policy = jv_str(jv_get(attrs, "RedrivePolicy"));
    const jv_t *rp = policy ? jv_parse(pd, policy, strlen(policy), NULL, 0) : NULL;
    const char *dlq = arn_name(jv_str(jv_get(rp, "deadLetterTargetArn")));
    char *max = rp ? admin_cell(jv_get(rp, "maxReceiveCount")) : xstrdup("-");
    const char *name = arn_name(jv_str(jv_get(attrs, "QueueArn")));
    if (!name)
        name = strrchr(url, '/') ? strrchr(url, '/') + 1 : url;
    const char *cells[] = {name, jv_str(jv_get(attrs, "ApproximateNumberOfMessages")),
                           jv_str(jv_get(attrs, "ApproximateNumberOfMessagesNotVisible")),
                           jv_str(jv_get(attrs, "ApproximateNumberOfMessagesDelayed")), dlq, max};
    if (ad->json) {
        jv_t *o = jv_object(d);
        jv_push(d, all, o);
        jv_set(d, o, "name", jv_string(d, name));
        jv_set(d, o, "url", jv_string(d, url));
        jv_set(d, o, "attributes", jv_copy(d, attrs));
    } else {
        admin_table_row(t, cells);
    }
    free(max);
    jv_doc_free(pd);
    return ADMIN_EXIT_OK;
}

int admin_queues(admin_t *ad, int argc, char **argv)
{
    int rc = simple_args(ad, argc, argv, QUEUES_USAGE);
    if (rc != 0)
        return args_exit(rc);
    strv_t urls = {0};
    rc = list_queue_urls(ad, &urls);
    static const char *const head[] = {"QUEUE", "VISIBLE", "IN_FLIGHT", "DELAYED", "DLQ", "MAX_RECEIVES"};
    return print_listing(ad, rc, &urls, queue_row, head, 6);
}

/* ---- topics ------------------------------------------------------------------------------------ */

static const char TOPICS_USAGE[] =
    "usage: sluice topics [--endpoint URL] [--json]\n\n"
    "Lists the daemon's topics and each one's subscriptions: protocol, endpoint,\n"
    "whether a filter policy is set.\n";

/* Every topic ARN (ListTopics, paged). */
static int list_topic_arns(admin_t *ad, strv_t *arns)
{
    char *token = NULL;
    for (int page = 0; page < LIST_MAX_PAGES; page++) {
        buf_t form = BUF_INIT;
        if (token) {
            buf_puts(&form, "NextToken=");
            admin_urlencode(&form, token);
        }
        free(token);
        int rc = admin_sns(ad, "ListTopics", form.data ? form.data : "");
        buf_free(&form);
        if (rc != ADMIN_EXIT_OK)
            return rc;
        const char *p = ad->a.body.data, *end = p + ad->a.body.len;
        char *arn;
        while ((arn = admin_xml_next(&p, end, "TopicArn")) != NULL)
            strv_add_own(arns, arn);
        p = ad->a.body.data;
        token = admin_xml_next(&p, end, "NextToken");
        if (!token || !*token) {
            free(token);
            return ADMIN_EXIT_OK;
        }
    }
    free(token);
    return ADMIN_EXIT_OK;
}

/* "yes" when the subscription has a FilterPolicy attribute, else "no". */
static int has_filter(admin_t *ad, const char *sub_arn, const char **yes)
{
    *yes = "-";
    if (!strchr(sub_arn, ':'))
        return ADMIN_EXIT_OK; /* PendingConfirmation */
    buf_t form = BUF_INIT;
    buf_puts(&form, "SubscriptionArn=");
    admin_urlencode(&form, sub_arn);
    int rc = admin_sns(ad, "GetSubscriptionAttributes", form.data);
    buf_free(&form);
    if (rc == ADMIN_EXIT_OK)
        *yes = memmem(ad->a.body.data, ad->a.body.len, "<key>FilterPolicy</key>", 23) ? "yes" : "no";
    return rc;
}

typedef struct sub_row {
    char *arn, *protocol, *endpoint;
} sub_row_t;

/* The subscriptions of one topic (one page of ListSubscriptionsByTopic; at
 * most 100 per page, followed up to LIST_MAX_PAGES) into rows. */
static int topic_subscriptions(admin_t *ad, const char *topic, sub_row_t **rows, size_t *n)
{
    char *token = NULL;
    for (int page = 0; page < LIST_MAX_PAGES; page++) {
        buf_t form = BUF_INIT;
        buf_puts(&form, "TopicArn=");
        admin_urlencode(&form, topic);
        if (token) {
            buf_puts(&form, "&NextToken=");
            admin_urlencode(&form, token);
        }
        free(token);
        int rc = admin_sns(ad, "ListSubscriptionsByTopic", form.data);
        buf_free(&form);
        if (rc != ADMIN_EXIT_OK)
            return rc;
        const char *p = ad->a.body.data, *end = p + ad->a.body.len, *s, *e;
        while (admin_xml_span(&p, end, "member", &s, &e) == 0) {
            *rows = xrealloc(*rows, (*n + 1) * sizeof **rows);
            const char *q = s;
            (*rows)[*n].arn = admin_xml_next(&q, e, "SubscriptionArn");
            q = s;
            (*rows)[*n].protocol = admin_xml_next(&q, e, "Protocol");
            q = s;
            (*rows)[(*n)++].endpoint = admin_xml_next(&q, e, "Endpoint");
        }
        p = ad->a.body.data;
        token = admin_xml_next(&p, end, "NextToken");
        if (!token || !*token) {
            free(token);
            return ADMIN_EXIT_OK;
        }
    }
    free(token);
    return ADMIN_EXIT_OK;
}

static void sub_rows_free(sub_row_t *rows, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(rows[i].arn);
        free(rows[i].protocol);
        free(rows[i].endpoint);
    }
    free(rows);
}

/* One topic: its rows in t (a topic with none gets one row of dashes). */
static int topic_rows(admin_t *ad, const char *topic, admin_table_t *t, jv_doc_t *d, jv_t *all)
{
    sub_row_t *rows = NULL;
    size_t n = 0;
    int rc = topic_subscriptions(ad, topic, &rows, &n);
    jv_t *o = ad->json ? jv_object(d) : NULL, *subs = NULL;
    if (o) {
        subs = jv_array(d);
        jv_push(d, all, o);
        jv_set(d, o, "name", jv_string(d, arn_name(topic)));
        jv_set(d, o, "arn", jv_string(d, topic));
        jv_set(d, o, "subscriptions", subs);
    }
    for (size_t i = 0; rc == ADMIN_EXIT_OK && i < n; i++) {
        const char *filter;
        rc = has_filter(ad, rows[i].arn ? rows[i].arn : "", &filter);
        const char *cells[] = {arn_name(topic), rows[i].protocol, rows[i].endpoint, filter};
        if (rc == ADMIN_EXIT_OK && o) {
            jv_t *so = jv_object(d);
            jv_push(d, subs, so);
            jv_set(d, so, "subscriptionArn", jv_string(d, rows[i].arn ? rows[i].arn : ""));
            jv_set(d, so, "protocol", jv_string(d, rows[i].protocol ? rows[i].protocol : ""));
            jv_set(d, so, "endpoint", jv_string(d, rows[i].endpoint ? rows[i].endpoint : ""));
            jv_set(d, so, "filterPolicy", jv_bool(d, strcmp(filter, "yes") == 0));
        } else if (rc == ADMIN_EXIT_OK) {
            admin_table_row(t, cells);
        }
    }
    if (rc == ADMIN_EXIT_OK && !o && n == 0) {
        const char *cells[] = {arn_name(topic), "-", "(no subscriptions)", "-"};
        admin_table_row(t, cells);
    }
    sub_rows_free(rows, n);
    return rc;
}

int admin_topics(admin_t *ad, int argc, char **argv)
{
    int rc = simple_args(ad, argc, argv, TOPICS_USAGE);
    if (rc != 0)
        return args_exit(rc);
    strv_t arns = {0};
    rc = list_topic_arns(ad, &arns);
    static const char *const head[] = {"TOPIC", "PROTOCOL", "ENDPOINT", "FILTER"};
    return print_listing(ad, rc, &arns, topic_rows, head, 4);
}

/* ---- functions --------------------------------------------------------------------------------- */

static const char FUNCTIONS_USAGE[] =
    "usage: sluice functions [--endpoint URL] [--json]\n\n"
    "Lists the daemon's functions (memory, timeout, handler) and the event source\n"
    "mappings that feed each one (queue, state, batch size).\n";

/* GETs every page of a Lambda list (marker paging) into one array of d. */
static int lambda_list(admin_t *ad, const char *path, const char *member, jv_doc_t *d, jv_t *out)
{
    char *marker = NULL;
    for (int page = 0; page < LIST_MAX_PAGES; page++) {
        buf_t p = BUF_INIT;
        buf_puts(&p, path);
        if (marker) {
            buf_puts(&p, "?Marker=");
            admin_urlencode(&p, marker);
        }
        free(marker);
        marker = NULL;
        int rc = admin_get(ad, p.data, 0);
        buf_free(&p);
        if (rc != ADMIN_EXIT_OK)
            return rc;
        const jv_t *items = jv_get(ad->a.json, member);
        for (size_t i = 0; i < jv_count(items); i++)
            jv_push(d, out, jv_copy(d, jv_at(items, i)));
        const char *next = jv_str(jv_get(ad->a.json, "NextMarker"));
        if (!next || !*next)
            return ADMIN_EXIT_OK;
        marker = xstrdup(next);
    }
    free(marker);
    return ADMIN_EXIT_OK;
}

/* "queue (State, batch N), ..." for the mappings whose function is fn. */
static char *sources_of(const jv_t *fn, const jv_t *maps)
{
    buf_t b = BUF_INIT;
    const char *arn = jv_str(jv_get(fn, "FunctionArn"));
    for (size_t i = 0; arn && i < jv_count(maps); i++) {
        const jv_t *m = jv_at(maps, i);
        const char *f = jv_str(jv_get(m, "FunctionArn"));
        if (!f || strcmp(f, arn) != 0)
            continue;
        char *batch = admin_cell(jv_get(m, "BatchSize"));
        const char *state = jv_str(jv_get(m, "State"));
        buf_printf(&b, "%s%s (%s, batch %s)", b.len ? ", " : "", arn_name(jv_str(jv_get(m, "EventSourceArn"))),
                   state ? state : "?", batch);
        free(batch);
    }
    buf_putc(&b, '\0');
    char *s = buf_detach(&b, NULL);
    if (!*s) {
        free(s);
        s = xstrdup("-");
    }
    return s;
}

static void function_rows(const jv_t *fns, const jv_t *maps, admin_table_t *t)
{
    for (size_t i = 0; i < jv_count(fns); i++) {
        const jv_t *f = jv_at(fns, i);
        char *mem = admin_cell(jv_get(f, "MemorySize")), *to = admin_cell(jv_get(f, "Timeout"));
        char *src = sources_of(f, maps);
        const char *cells[] = {jv_str(jv_get(f, "FunctionName")), mem, to, jv_str(jv_get(f, "Handler")), src};
        admin_table_row(t, cells);
        free(mem);
        free(to);
        free(src);
    }
}

int admin_functions(admin_t *ad, int argc, char **argv)
{
    int rc = simple_args(ad, argc, argv, FUNCTIONS_USAGE);
    if (rc != 0)
        return args_exit(rc);
    jv_doc_t *d = jv_doc_new();
    jv_t *all = jv_object(d);
    jv_t *fns = jv_array(d), *maps = jv_array(d);
    jv_set(d, all, "Functions", fns);
    jv_set(d, all, "EventSourceMappings", maps);
    rc = lambda_list(ad, "/2015-03-31/functions/", "Functions", d, fns);
    if (rc == ADMIN_EXIT_OK)
        rc = lambda_list(ad, "/2015-03-31/event-source-mappings/", "EventSourceMappings", d, maps);
    if (rc == ADMIN_EXIT_OK && ad->json) {
        print_json(all);
    } else if (rc == ADMIN_EXIT_OK) {
        admin_table_t t = {.ncol = 5};
        static const char *const head[] = {"FUNCTION", "MEMORY_MB", "TIMEOUT_S", "HANDLER", "SOURCES"};
        admin_table_row(&t, head);
        function_rows(fns, maps, &t);
        admin_table_print(&t);
    }
    jv_doc_free(d);
    return rc;
}

/* ---- requests ---------------------------------------------------------------------------------- */

static const char REQUESTS_USAGE[] =
    "usage: sluice requests [--endpoint URL] [--json] [--status S] [--limit N] [--table T]\n\n"
    "Lists the gateway's request records, newest first: id, status, route, when\n"
    "accepted, attempts and the error recorded. A pending record past its deadline\n"
    "shows EXPIRED, as the gateway answers it.\n\n"
    "  --status S   only records with this status (ACCEPTED, RUNNING, SUCCEEDED,\n"
    "               FAILED, DEAD_LETTERED, EXPIRED)\n"
    "  --limit N    at most N records (default 20, at most 10000)\n"
    "  --table T    the results table (gateway.results_table); by default the\n"
    "               table whose records are the gateway's (they have acceptedAt\n"
    "               and route), \"requests\" first\n";

typedef struct req_opts {
    const char *status, *table;
    long limit;
} req_opts_t;

static const struct option REQUEST_OPTS[] = {
    {"status", required_argument, NULL, 's'},
    {"limit", required_argument, NULL, 'n'},
    {"table", required_argument, NULL, 't'},
    {NULL, 0, NULL, 0},
};

static int request_opt(admin_t *ad, int ch, const char *arg, void *ctx)
{
    req_opts_t *o = ctx;
    if (ch == 's')
        o->status = arg;
    else if (ch == 't')
        o->table = arg;
    else if (ch == 'n')
        return admin_uint_opt(ad, "--limit", arg, 1, REQUESTS_MAX_LIMIT, &o->limit);
    return 0;
}

/* The status a reader sees: a pending record past its deadline is EXPIRED. */
static const char *seen_status(const jv_t *rec, uint64_t now_ms)
{
    const char *st = jv_str(jv_get(rec, "status"));
    uint64_t deadline = clock_iso8601_parse(jv_str(jv_get(rec, "deadline")));
    if (st && (!strcmp(st, "ACCEPTED") || !strcmp(st, "RUNNING")) && deadline && deadline < now_ms)
        return "EXPIRED";
    return st ? st : "?";
}

/* Every record of the table (scanned in pages, bounded) into recs. */
static int scan_records(admin_t *ad, const req_opts_t *o, jv_doc_t *d, jv_t *recs)
{
    char *after = NULL;
    int rc = ADMIN_EXIT_OK;
    for (int page = 0; page < LIST_MAX_PAGES && rc == ADMIN_EXIT_OK; page++) {
        buf_t p = BUF_INIT;
        buf_puts(&p, "/_sluice/tables/");
        admin_urlencode(&p, o->table);
        buf_printf(&p, "?limit=%d", REQUESTS_PAGE);
        if (after) {
            buf_puts(&p, "&after=");
            admin_urlencode(&p, after);
        }
        free(after);
        after = NULL;
        rc = admin_get(ad, p.data, 1);
        buf_free(&p);
        if (rc == ADMIN_EXIT_FAILED && ad->a.status == 404)
            return admin_fail(ad, ADMIN_EXIT_FAILED, "no table %s (the gateway's results_table; --table names it)",
                              o->table);
        const jv_t *items = jv_get(ad->a.json, "Items");
        for (size_t i = 0; rc == ADMIN_EXIT_OK && i < jv_count(items); i++)
            jv_push(d, recs, jv_copy(d, jv_at(items, i)));
        const char *last = jv_str(jv_get(jv_at(items, jv_count(items) - 1), "requestId"));
        if (rc != ADMIN_EXIT_OK || !jv_is(jv_get(ad->a.json, "More"), JV_BOOL) || !last)
            break;
        after = xstrdup(last);
    }
    free(after);
    return rc;
}

static int by_accepted_desc(const void *x, const void *y)
{
    const char *a = jv_str(jv_get(*(jv_t *const *)x, "acceptedAt")), *b = jv_str(jv_get(*(jv_t *const *)y, "acceptedAt"));
    return strcmp(b ? b : "", a ? a : "");
}

/* The error of a record, one line, bounded. A new string. */
static char *error_cell(const jv_t *rec)
{
    const jv_t *e = jv_get(rec, "error");
    if (!e)
        e = jv_get(rec, "lastError");
    const jv_t *m = jv_get(e, "errorMessage");
    char *s = admin_cell(jv_str(m) ? m : e);
    for (char *p = s; *p; p++)
        if ((unsigned char)*p < 0x20)
            *p = ' ';
    if (strlen(s) > ERROR_CELL_MAX)
        strcpy(s + ERROR_CELL_MAX - 3, "...");
    return s;
}

static void request_rows(jv_t **v, size_t n, const req_opts_t *o, admin_table_t *t, jv_doc_t *d, jv_t *out)
{
    uint64_t now = clock_wall_ms();
    size_t shown = 0;
    for (size_t i = 0; i < n && shown < (size_t)o->limit; i++) {
        const char *st = seen_status(v[i], now);
        if (o->status && strcmp(o->status, st) != 0)
            continue;
        shown++;
        if (out) {
            jv_t *c = jv_copy(d, v[i]);
            jv_push(d, out, c);
            for (size_t k = 0; c->type == JV_OBJECT && k < c->len; k++)
                if (c->u.pairs[k].klen == 6 && !memcmp(c->u.pairs[k].key, "status", 6))
                    c->u.pairs[k].val = jv_string(d, st);
            continue;
        }
        char *att = admin_cell(jv_get(v[i], "attempts")), *err = error_cell(v[i]);
        const char *cells[] = {jv_str(jv_get(v[i], "requestId")), st, jv_str(jv_get(v[i], "route")),
                               jv_str(jv_get(v[i], "acceptedAt")), att, err};
        admin_table_row(t, cells);
        free(att);
        free(err);
    }
}

/* Does table t hold gateway records? Its first item has acceptedAt and route. */
static int holds_records(admin_t *ad, const char *t)
{
    buf_t p = BUF_INIT;
    buf_puts(&p, "/_sluice/tables/");
    admin_urlencode(&p, t);
    buf_puts(&p, "?limit=1");
    int rc = admin_get(ad, p.data, 1);
    buf_free(&p);
    const jv_t *first = jv_at(jv_get(ad->a.json, "Items"), 0);
    return rc == ADMIN_EXIT_OK && jv_get(first, "acceptedAt") && jv_get(first, "route");
}

/* The results table when --table is not given: "requests" when it holds
 * records, else the first table (in name order) that does. */
static int find_results_table(admin_t *ad, char **table)
{
    if (holds_records(ad, "requests")) {
        *table = xstrdup("requests");
        return ADMIN_EXIT_OK;
    }
    int rc = admin_get(ad, "/_sluice/tables", 0);
    if (rc != ADMIN_EXIT_OK)
        return rc;
    jv_doc_t *d = jv_doc_new();
    jv_t *names = jv_copy(d, jv_get(ad->a.json, "Tables"));
    *table = NULL;
    for (size_t i = 0; !*table && i < jv_count(names) && i < LIST_MAX_PAGES; i++)
        if (jv_str(jv_at(names, i)) && holds_records(ad, jv_str(jv_at(names, i))))
            *table = xstrdup(jv_str(jv_at(names, i)));
    jv_doc_free(d);
    if (!*table)
        printf("no gateway request records (in no table; --table names gateway.results_table)\n");
    return ADMIN_EXIT_OK;
}

int admin_requests(admin_t *ad, int argc, char **argv)
{
    req_opts_t o = {.limit = REQUESTS_DEFAULT_LIMIT};
    int first;
    int rc = admin_getopt(ad, argc, argv, REQUEST_OPTS, request_opt, &o, REQUESTS_USAGE, &first);
    if (rc == 0 && first < argc)
        rc = admin_fail(ad, -1, "unexpected operand %s (see sluice requests --help)", argv[first]);
    if (rc != 0)
        return args_exit(rc);
    char *found = NULL;
    if (!o.table && ((rc = find_results_table(ad, &found)) != ADMIN_EXIT_OK || !found))
        return rc;
    if (!o.table)
        o.table = found;
    jv_doc_t *d = jv_doc_new();
    jv_t *recs = jv_array(d), *out = ad->json ? jv_array(d) : NULL;
    rc = scan_records(ad, &o, d, recs);
    if (rc == ADMIN_EXIT_OK) {
        size_t n = jv_count(recs);
        jv_t **v = xcalloc(n ? n : 1, sizeof *v);
        for (size_t i = 0; i < n; i++)
            v[i] = jv_at(recs, i);
        qsort(v, n, sizeof *v, by_accepted_desc);
        admin_table_t t = {.ncol = 6};
        static const char *const head[] = {"REQUEST", "STATUS", "ROUTE", "ACCEPTED", "ATTEMPTS", "ERROR"};
        admin_table_row(&t, head);
        request_rows(v, n, &o, &t, d, out);
        if (out)
            print_json(out);
        else
            admin_table_print(&t);
        strv_free(&t.cells);
        free(v);
    }
    jv_doc_free(d);
    free(found);
    return rc;
}
