/*
 * cost — the cost model (cost.h) and the `sluice cost` command.
 *
 * Metrics text: one sample a line, `name{label="value",...} value
 * [timestamp]`; '#' lines are comments (HELP, TYPE); label values may hold
 * \" \\ \n escapes. The parser reads each line on its own and keeps only
 * the names cost.h lists.
 */
#include "daemon/cost.h"

#include <errno.h>
#include <math.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <yaml.h>

#include "daemon/admin.h"
#include "util/alloc.h"

#define COST_NAME_MAX 128
#define COST_LABELS_MAX 8
#define COST_LABEL_MAX 256
#define COST_DEFAULT_MEMORY_MB 128.0
#define COST_PRICES_FILE "aws-us-east-1.yaml"

/* ---- metrics text -------------------------------------------------------------------------------- */

typedef struct sample {
    char name[COST_NAME_MAX];
    int nlabels;
    char key[COST_LABELS_MAX][64];
    char val[COST_LABELS_MAX][COST_LABEL_MAX];
    double value;
} sample_t;

static const char *name_end(const char *p, const char *end)
{
    while (p < end && (*p == '_' || *p == ':' || (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
                       (*p >= '0' && *p <= '9')))
        p++;
    return p;
}

/* A quoted label value at p (after the '"'); its end quote's successor, or NULL. */
static const char *label_value(const char *p, const char *end, char *out, size_t cap)
{
    size_t k = 0;
    for (; p < end && *p != '"'; p++) {
        char c = *p;
        if (c == '\\' && p + 1 < end) {
            c = *++p;
            c = c == 'n' ? '\n' : c;
        }
        if (k + 1 < cap)
            out[k++] = c;
    }
    out[k] = '\0';
    return p < end ? p + 1 : NULL;
}

/* {a="x",b="y"} at p; returns what follows the '}', or NULL. */
static const char *labels(const char *p, const char *end, sample_t *s)
{
    p++;
    while (p < end && *p != '}') {
        const char *k = p, *ke = name_end(p, end);
        if (ke == k || ke + 1 >= end || ke[0] != '=' || ke[1] != '"')
            return NULL;
        int i = s->nlabels < COST_LABELS_MAX ? s->nlabels++ : COST_LABELS_MAX - 1;
        snprintf(s->key[i], sizeof s->key[i], "%.*s", (int)(ke - k), k);
        p = label_value(ke + 2, end, s->val[i], sizeof s->val[i]);
        if (!p)
            return NULL;
        if (p < end && *p == ',')
            p++;
    }
    return p < end ? p + 1 : NULL;
}

/* One sample line; 0, or -1 when it is not one. */
static int parse_sample(const char *p, const char *end, sample_t *s)
{
    const char *ne = name_end(p, end);
    if (ne == p || (size_t)(ne - p) >= sizeof s->name)
        return -1;
    memcpy(s->name, p, (size_t)(ne - p));
    s->name[ne - p] = '\0';
    s->nlabels = 0;
    p = ne;
    if (p < end && *p == '{' && !(p = labels(p, end, s)))
        return -1;
    while (p < end && (*p == ' ' || *p == '\t'))
        p++;
    char num[64], *e;
    size_t n = 0; /* the text need not end in a NUL: stay before end */
    while (p + n < end && !strchr(" \t\r\n", p[n]))
        n++;
    if (n == 0 || n >= sizeof num)
        return -1;
    memcpy(num, p, n);
    num[n] = '\0';
    s->value = strtod(num, &e);
    return *e || isnan(s->value) ? -1 : 0;
}

static const char *label(const sample_t *s, const char *key)
{
    for (int i = 0; i < s->nlabels; i++)
        if (strcmp(s->key[i], key) == 0)
            return s->val[i];
    return "";
}

/* Per-function duration and memory, paired after the whole text is read. */
typedef struct fn_acc {
    char name[COST_LABEL_MAX];
    double seconds, memory_mb;
} fn_acc_t;

typedef struct fn_accs {
    fn_acc_t *v;
    size_t n;
} fn_accs_t;

static fn_acc_t *fn_find(fn_accs_t *f, const char *name)
{
    for (size_t i = 0; i < f->n; i++)
        if (strcmp(f->v[i].name, name) == 0)
            return &f->v[i];
    f->v = xrealloc(f->v, (f->n + 1) * sizeof *f->v);
    fn_acc_t *a = &f->v[f->n++];
    snprintf(a->name, sizeof a->name, "%s", name);
    a->seconds = 0;
    a->memory_mb = 0;
    return a;
}

static int is_http(const char *protocol)
{
    return strcmp(protocol, "http") == 0 || strcmp(protocol, "https") == 0;
}

/* Adds one sample to u; 1 when its name is one cost counts. */
/* A notification AWS bills: one delivered, or given up on (its attempts
 * are one notification); a filtered one was never sent, a retry is not another. */
static int billed_outcome(const char *outcome)
{
    return outcome && (!strcmp(outcome, "delivered") || !strcmp(outcome, "failed"));
}

static int count_sample(const sample_t *s, cost_usage_t *u, fn_accs_t *fns)
{
    const char *n = s->name;
    double v = s->value;
    if (!strcmp(n, "sluice_route_requests_total"))
        u->apigw_requests += v;
    else if (!strcmp(n, "sluice_sns_publishes_total"))
        u->sns_publishes += v;
    else if (!strcmp(n, "sluice_subscription_deliveries_total"))
        u->sns_http_deliveries += is_http(label(s, "protocol")) && billed_outcome(label(s, "outcome")) ? v : 0;
    else if (!strcmp(n, "sluice_sqs_requests_total"))
        u->sqs_requests += v;
    else if (!strcmp(n, "sluice_function_invocations_total"))
        u->lambda_requests += v;
    else if (!strcmp(n, "sluice_function_duration_seconds_sum"))
        fn_find(fns, label(s, "function"))->seconds += v;
    else if (!strcmp(n, "sluice_function_memory_mb"))
        fn_find(fns, label(s, "function"))->memory_mb = v;
    else if (!strcmp(n, "sluice_table_reads_total"))
        u->ddb_reads += v;
    else if (!strcmp(n, "sluice_table_writes_total"))
        u->ddb_writes += v;
    else
        return 0;
    return 1;
}

void cost_usage_parse(const char *text, size_t n, cost_usage_t *u)
{
    *u = (cost_usage_t){0};
    fn_accs_t fns = {0};
    sample_t s;
    const char *p = text, *end = text + n;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *le = nl ? nl : end;
        const char *q = p;
        while (q < le && (*q == ' ' || *q == '\t' || *q == '\r'))
            q++;
        if (q < le && *q != '#') {
            if (parse_sample(q, le, &s) != 0)
                u->skipped++;
            else
                u->samples += (size_t)count_sample(&s, u, &fns);
        }
        p = nl ? nl + 1 : end;
    }
    for (size_t i = 0; i < fns.n; i++)
        u->lambda_gb_seconds += fns.v[i].seconds *
                                (fns.v[i].memory_mb > 0 ? fns.v[i].memory_mb : COST_DEFAULT_MEMORY_MB) / 1024.0;
    free(fns.v);
}

/* ---- the price table ----------------------------------------------------------------------------- */

static int set_price(cost_prices_t *p, const char *key, const char *val, unsigned *seen, char *why, size_t wn)
{
    unsigned bit = 1;
#define COST_SET(k, svc, item, usage, per)                                                           \
    if (strcmp(key, #k) == 0) {                                                                      \
        char *e;                                                                                     \
        errno = 0;                                                                                   \
        p->k = strtod(val, &e);                                                                      \
        if (!*val || *e || errno || !(p->k >= 0) || isinf(p->k)) {                                   \
            snprintf(why, wn, "%s: %s is not a price (a number, 0 or more)", key, val);              \
            return -1;                                                                               \
        }                                                                                            \
        *seen |= bit;                                                                                \
        return 0;                                                                                    \
    }                                                                                                \
    bit <<= 1;
    COST_PRICE_KEYS(COST_SET)
#undef COST_SET
    if (!strcmp(key, "region"))
        snprintf(p->region, sizeof p->region, "%s", val);
    else if (!strcmp(key, "as_of"))
        snprintf(p->as_of, sizeof p->as_of, "%s", val);
    else if (!strcmp(key, "source"))
        snprintf(p->source, sizeof p->source, "%s", val);
    return 0;
}

static int missing_key(unsigned seen, char *why, size_t wn)
{
    unsigned bit = 1;
#define COST_MISSING(k, svc, item, usage, per)                  \
    if (!(seen & bit)) {                                        \
        snprintf(why, wn, "no price for %s", #k);               \
        return -1;                                              \
    }                                                           \
    bit <<= 1;
    COST_PRICE_KEYS(COST_MISSING)
#undef COST_MISSING
    return 0;
}

static int load_doc(yaml_document_t *doc, cost_prices_t *p, char *why, size_t wn)
{
    yaml_node_t *root = yaml_document_get_root_node(doc);
    if (!root || root->type != YAML_MAPPING_NODE) {
        snprintf(why, wn, "the price table is not a YAML mapping");
        return -1;
    }
    unsigned seen = 0;
    for (yaml_node_pair_t *pr = root->data.mapping.pairs.start; pr < root->data.mapping.pairs.top; pr++) {
        yaml_node_t *k = yaml_document_get_node(doc, pr->key), *v = yaml_document_get_node(doc, pr->value);
        if (!k || !v || k->type != YAML_SCALAR_NODE || v->type != YAML_SCALAR_NODE)
            continue;
        if (set_price(p, (const char *)k->data.scalar.value, (const char *)v->data.scalar.value, &seen, why, wn))
            return -1;
    }
    return missing_key(seen, why, wn);
}

int cost_prices_load(const char *path, cost_prices_t *p, char *why, size_t why_len)
{
    *p = (cost_prices_t){0};
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(why, why_len, "cannot read %s: %s", path, strerror(errno));
        return -1;
    }
    yaml_parser_t parser;
    yaml_document_t doc;
    yaml_parser_initialize(&parser);
    yaml_parser_set_input_file(&parser, f);
    int rc = -1;
    if (!yaml_parser_load(&parser, &doc)) {
        snprintf(why, why_len, "%s: line %zu: %s", path, parser.problem_mark.line + 1,
                 parser.problem ? parser.problem : "not YAML");
    } else {
        char inner[200];
        rc = load_doc(&doc, p, inner, sizeof inner);
        if (rc != 0)
            snprintf(why, why_len, "%s: %s", path, inner);
        yaml_document_delete(&doc);
    }
    yaml_parser_delete(&parser);
    fclose(f);
    return rc;
}

/* ---- the arithmetic ------------------------------------------------------------------------------- */

void cost_compute(const cost_usage_t *u, const cost_prices_t *p, cost_estimate_t *e)
{
    *e = (cost_estimate_t){0};
    size_t i = 0;
#define COST_LINE(k, svc, it, usage, unit)                                                               \
    e->line[i] = (cost_line_t){.service = svc, .item = it, .units = u->usage, .price = p->k, .per = unit}; \
    e->line[i].cost = u->usage * p->k / unit;                                                            \
    e->total += e->line[i++].cost;
    COST_PRICE_KEYS(COST_LINE)
#undef COST_LINE
    e->per_million = u->apigw_requests > 0 ? e->total / u->apigw_requests * 1e6 : -1;
}

/* ---- output ---------------------------------------------------------------------------------------- */

static void render_json(const cost_estimate_t *e, const cost_prices_t *p, buf_t *out)
{
    buf_printf(out, "{\"region\":\"%s\",\"asOf\":\"%s\",\"currency\":\"USD\",\"freeTiers\":\"ignored\",\"lines\":[",
               p->region, p->as_of);
    for (size_t i = 0; i < COST_LINES; i++)
        buf_printf(out, "%s{\"service\":\"%s\",\"item\":\"%s\",\"units\":%.10g,\"price\":%.10g,\"per\":%.10g,"
                        "\"cost\":%.10g}",
                   i ? "," : "", e->line[i].service, e->line[i].item, e->line[i].units, e->line[i].price,
                   e->line[i].per, e->line[i].cost);
    buf_printf(out, "],\"total\":%.10g,\"perMillionGatewayRequests\":", e->total);
    if (e->per_million >= 0)
        buf_printf(out, "%.10g}\n", e->per_million);
    else
        buf_puts(out, "null}\n");
}

/* v in fixed notation with at most 10 decimals, trailing zeros dropped. */
static void plain(char *out, size_t cap, double v)
{
    snprintf(out, cap, "%.10f", v);
    char *dot = strchr(out, '.');
    if (!dot)
        return;
    size_t n = strlen(out);
    while (n > (size_t)(dot - out) && (out[n - 1] == '0' || out[n - 1] == '.'))
        out[--n] = '\0';
}

static void render_service(const cost_estimate_t *e, size_t from, size_t to, buf_t *out)
{
    double sub = 0;
    buf_printf(out, "%s\n", e->line[from].service);
    for (size_t i = from; i < to; i++) {
        char price[48], p[32], units[40];
        plain(p, sizeof p, e->line[i].price);
        plain(units, sizeof units, e->line[i].units);
        snprintf(price, sizeof price, "%s / %s", p, e->line[i].per == 1e6 ? "million" : "unit");
        buf_printf(out, "  %-28s %16s  %-24s %12.6f\n", e->line[i].item, units, price, e->line[i].cost);
        sub += e->line[i].cost;
    }
    buf_printf(out, "  %-28s %16s  %-24s %12.6f\n", "subtotal", "", "", sub);
}

void cost_render(const cost_estimate_t *e, const cost_prices_t *p, int json, buf_t *out)
{
    if (json) {
        render_json(e, p, out);
        return;
    }
    buf_printf(out, "What the traffic seen so far would cost on AWS (%s list prices of %s; free tiers ignored)\n\n",
               p->region, p->as_of);
    buf_printf(out, "  %-28s %16s  %-24s %12s\n", "", "UNITS", "UNIT PRICE (USD)", "COST (USD)");
    for (size_t i = 0; i < COST_LINES;) {
        size_t j = i;
        while (j < COST_LINES && strcmp(e->line[j].service, e->line[i].service) == 0)
            j++;
        render_service(e, i, j, out);
        i = j;
    }
    buf_printf(out, "\n%-74s%12.6f\n", "TOTAL", e->total);
    if (e->per_million >= 0)
        buf_printf(out, "Per million gateway requests: %.4f USD\n", e->per_million);
    else
        buf_puts(out, "Per million gateway requests: - (no gateway requests seen)\n");
    buf_printf(out, "Prices: %s\n", p->source);
}

/* ---- the command ------------------------------------------------------------------------------------ */

static const char COST_USAGE[] =
    "usage: sluice cost [--prices FILE] [--endpoint URL] [--json]\n\n"
    "Estimates what the traffic the daemon has seen since it started would cost on\n"
    "AWS (API Gateway REST, SNS, SQS, Lambda, DynamoDB on-demand), from its /metrics\n"
    "and a price table. Free tiers are ignored.\n\n"
    "  --prices FILE  the price table (YAML); default $SLUICE_PRICES, else\n"
    "                 share/prices/" COST_PRICES_FILE " beside the binary's directory\n\n"
    "Exit status: 0 estimated; 1 the daemon refused; 2 usage error, unreadable price\n"
    "table, or a daemon without /metrics; 4 the daemon could not be reached.\n";

static const struct option COST_OPTS[] = {
    {"prices", required_argument, NULL, 'p'},
    {NULL, 0, NULL, 0},
};

static int cost_opt(admin_t *ad, int ch, const char *arg, void *ctx)
{
    (void)ad;
    if (ch == 'p')
        *(const char **)ctx = arg;
    return 0;
}

/* The default price table: $SLUICE_PRICES, else <exe dir>/../share/prices/,
 * else <exe dir>/../share/sluice/prices/. A new string. */
static char *default_prices(void)
{
    const char *env = getenv("SLUICE_PRICES");
    if (env && *env)
        return xstrdup(env);
    char exe[4096];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0)
        return xstrdup("share/prices/" COST_PRICES_FILE);
    exe[n] = '\0';
    char *slash = strrchr(exe, '/');
    if (slash)
        *slash = '\0';
    static const char *const rel[] = {"/../share/prices/", "/../share/sluice/prices/"};
    buf_t b = BUF_INIT;
    for (size_t i = 0; i < 2; i++) {
        buf_reset(&b);
        buf_printf(&b, "%s%s%s", exe, rel[i], COST_PRICES_FILE);
        if (access(b.data, R_OK) == 0)
            break;
    }
    return buf_detach(&b, NULL);
}

static int estimate(admin_t *ad, const cost_prices_t *p)
{
    int rc = admin_get(ad, "/metrics", 1);
    if (rc != ADMIN_EXIT_OK && ad->a.err == HTTP_CLIENT_OK && ad->a.status == 404)
        return admin_fail(ad, ADMIN_EXIT_USAGE, "the daemon at %s has no /metrics (a build without metrics); "
                          "nothing to estimate from", ad->origin);
    if (rc != ADMIN_EXIT_OK)
        return rc;
    cost_usage_t u;
    cost_estimate_t e;
    cost_usage_parse(ad->a.body.data ? ad->a.body.data : "", ad->a.body.len, &u);
    cost_compute(&u, p, &e);
    buf_t out = BUF_INIT;
    cost_render(&e, p, ad->json, &out);
    fwrite(out.data, 1, out.len, stdout);
    buf_free(&out);
    return ADMIN_EXIT_OK;
}

int admin_cost(admin_t *ad, int argc, char **argv)
{
    const char *prices = NULL;
    int first;
    int rc = admin_getopt(ad, argc, argv, COST_OPTS, cost_opt, &prices, COST_USAGE, &first);
    if (rc == 0 && first < argc)
        rc = admin_fail(ad, -1, "unexpected operand %s (see sluice cost --help)", argv[first]);
    if (rc != 0)
        return rc == 1 ? ADMIN_EXIT_OK : ADMIN_EXIT_USAGE;
    char *path = prices ? xstrdup(prices) : default_prices();
    cost_prices_t p;
    char why[400];
    if (cost_prices_load(path, &p, why, sizeof why) != 0)
        rc = admin_fail(ad, ADMIN_EXIT_USAGE, "%s (--prices names the price table)", why);
    else
        rc = estimate(ad, &p);
    free(path);
    return rc;
}
