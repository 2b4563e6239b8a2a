/*
 * admin — the operator's commands: dispatch, the options they share, the
 * wire calls and the column printer (admin.h). The commands themselves are
 * in admin_list.c, admin_dlq.c and cost.c.
 *
 * Model. A command is one short session against the endpoint (--endpoint,
 * else SLUICE_ENDPOINT, else http://127.0.0.1:4566): a handful of blocking
 * exchanges over cli_http, each bounded by ADMIN_EXCHANGE_MS, each answer
 * kept in ad->a until the next. Requests are unsigned (as `sluice call`'s):
 * a daemon with auth.mode sigv4 refuses them, and the refusal is printed.
 */
#include "daemon/admin.h"

#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/alloc.h"

#define ADMIN_EXCHANGE_MS 30000u
#define ADMIN_MAX_RESPONSE (16u << 20)
#define ADMIN_MAX_OPTS 16
#define ADMIN_MSG_MAX 300

enum { QUIET_NONE, QUIET_404, QUIET_ALL }; /* which error answers run_exchange leaves unsaid */

/* ---- messages and options ---------------------------------------------------------------------- */

int admin_fail(const admin_t *ad, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "sluice %s: ", ad->cmd);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return code;
}

int admin_uint_opt(const admin_t *ad, const char *name, const char *s, long lo, long hi, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (!*s || *end || errno || v < lo || v > hi) {
        admin_fail(ad, ADMIN_EXIT_USAGE, "%s %s: give a whole number from %ld to %ld", name, s, lo, hi);
        return -1;
    }
    *out = v;
    return 0;
}

static const struct option COMMON_OPTS[] = {
    {"endpoint", required_argument, NULL, 'e'},
    {"json", no_argument, NULL, 'j'},
    {"help", no_argument, NULL, 'h'},
};
#define NCOMMON (sizeof COMMON_OPTS / sizeof COMMON_OPTS[0])

/* The command's options after the common ones, and getopt's short string. */
static size_t merge_opts(const struct option *extra, struct option *all, char *shorts)
{
    size_t n = 0, k = 0;
    shorts[k++] = ':';
    shorts[k++] = 'h';
    for (size_t i = 0; i < NCOMMON; i++)
        all[n++] = COMMON_OPTS[i];
    for (size_t i = 0; extra && extra[i].name && n + 1 < ADMIN_MAX_OPTS; i++) {
        all[n++] = extra[i];
        if (extra[i].val > ' ' && extra[i].val < 0x7f && !strchr("ejh", extra[i].val) && k + 3 < 2 * ADMIN_MAX_OPTS) {
            shorts[k++] = (char)extra[i].val;
            if (extra[i].has_arg == required_argument)
                shorts[k++] = ':';
        }
    }
    all[n] = (struct option){0};
    shorts[k] = '\0';
    return n;
}

int admin_getopt(admin_t *ad, int argc, char **argv, const void *extra, admin_opt_cb on_opt, void *ctx,
                 const char *usage, int *first)
{
    struct option all[ADMIN_MAX_OPTS];
    char shorts[2 * ADMIN_MAX_OPTS + 4];
    merge_opts(extra, all, shorts);
    const char *endpoint = NULL;
    opterr = 0;
    optind = 0;
    int ch;
    while ((ch = getopt_long(argc, argv, shorts, all, NULL)) != -1) {
        if (ch == 'h') {
            fputs(usage, stdout);
            return 1;
        }
        if (ch == 'e')
            endpoint = optarg;
        else if (ch == 'j')
            ad->json = 1;
        else if (ch == ':')
            return admin_fail(ad, -1, "%s needs a value (see sluice %s --help)", argv[optind - 1], ad->cmd);
        else if (ch == '?')
            return admin_fail(ad, -1, "unknown option %s (see sluice %s --help)", argv[optind - 1], ad->cmd);
        else if (on_opt(ad, ch, optarg, ctx) != 0)
            return -1;
    }
    char why[300];
    free(ad->origin);
    ad->origin = cli_http_endpoint(endpoint, why, sizeof why);
    if (!ad->origin)
        return admin_fail(ad, -1, "%s", why);
    *first = optind;
    return 0;
}

/* ---- the wire ---------------------------------------------------------------------------------- */

void admin_urlencode(buf_t *out, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || strchr("-._~", *p))
            buf_putc(out, (char)*p);
        else
            buf_printf(out, "%%%c%c", hex[*p >> 4], hex[*p & 15]);
    }
}

/* A one-line bounded copy of s (control bytes as spaces). */
static void oneline(buf_t *m, const char *s)
{
    for (size_t i = 0; s && s[i] && i < ADMIN_MSG_MAX; i++)
        buf_putc(m, (unsigned char)s[i] < 0x20 || s[i] == 0x7f ? ' ' : s[i]);
}

/* The error an answer carries: SQS/Lambda JSON (__type/code, message) or
 * SNS XML (<Code>, <Message>), else the body's start. */
static void describe_error(const cli_answer_t *a, buf_t *m)
{
    const char *code = jv_str(jv_get(a->json, "__type")), *msg = jv_str(jv_get(a->json, "message"));
    char *xcode = NULL, *xmsg = NULL;
    if (!msg)
        msg = jv_str(jv_get(a->json, "Message"));
    if (!a->json && a->body.len) {
        const char *p = a->body.data;
        xcode = admin_xml_next(&p, a->body.data + a->body.len, "Code");
        p = a->body.data;
        xmsg = admin_xml_next(&p, a->body.data + a->body.len, "Message");
        code = xcode;
        msg = xmsg;
    }
    if (code && strchr(code, '#'))
        code = strchr(code, '#') + 1;
    buf_printf(m, "%d %s", a->status, a->reason);
    if (code) {
        buf_puts(m, " ");
        oneline(m, code);
    }
    buf_puts(m, ": ");
    oneline(m, msg ? msg : a->body.len ? a->body.data : "(no message)");
    free(xcode);
    free(xmsg);
}

static int run_exchange(admin_t *ad, const char *method, const char *path, const http_client_header_t *h, size_t nh,
                        const char *body, int quiet)
{
    buf_t url = BUF_INIT;
    buf_printf(&url, "%s%s", ad->origin, path);
    http_request_spec_t spec = {.method = method, .url = url.data, .headers = h, .nheaders = nh,
                                .body = body, .body_len = body ? strlen(body) : 0, .timeout_ms = ADMIN_EXCHANGE_MS};
    int rc = cli_http_exchange(&ad->http, &spec, &ad->a);
    buf_free(&url);
    if (rc < 0)
        return admin_fail(ad, ADMIN_EXIT_USAGE, "the request to %s is malformed", path);
    if (ad->a.err != HTTP_CLIENT_OK)
        return admin_fail(ad, ADMIN_EXIT_UNREACHABLE, "cannot reach the daemon at %s: %s (is `sluice serve` running? "
                          "--endpoint or SLUICE_ENDPOINT name it)", ad->origin, ad->a.detail);
    if (ad->a.status >= 200 && ad->a.status < 300)
        return ADMIN_EXIT_OK;
    if ((ad->a.status == 404 && quiet == QUIET_404) || quiet == QUIET_ALL)
        return ADMIN_EXIT_FAILED;
    buf_t m = BUF_INIT;
    describe_error(&ad->a, &m);
    admin_fail(ad, ADMIN_EXIT_FAILED, "%s", m.data);
    buf_free(&m);
    return ADMIN_EXIT_FAILED;
}

static int sqs_call(admin_t *ad, const char *action, const char *body, int quiet)
{
    char target[96];
    snprintf(target, sizeof target, "AmazonSQS.%s", action);
    http_client_header_t h[] = {{"Content-Type", "application/x-amz-json-1.0"}, {"X-Amz-Target", target}};
    int rc = run_exchange(ad, "POST", "/", h, 2, body, quiet);
    if (rc == ADMIN_EXIT_OK && !ad->a.json)
        return admin_fail(ad, ADMIN_EXIT_FAILED, "the answer to %s is not JSON", action);
    return rc;
}

int admin_sqs(admin_t *ad, const char *action, const char *body)
{
    return sqs_call(ad, action, body, QUIET_NONE);
}

int admin_sqs_quiet(admin_t *ad, const char *action, const char *body)
{
    return sqs_call(ad, action, body, QUIET_ALL);
}

int admin_queue_attributes(admin_t *ad, const char *url, const char *names, const jv_t **attrs)
{
    buf_t body = BUF_INIT;
    buf_printf(&body, "{\"AttributeNames\":[%s],\"QueueUrl\":", names);
    jv_write_string(&body, url, strlen(url));
    buf_putc(&body, '}');
    int rc = admin_sqs(ad, "GetQueueAttributes", body.data);
    buf_free(&body);
    *attrs = rc == ADMIN_EXIT_OK ? jv_get(ad->a.json, "Attributes") : NULL;
    return rc;
}

int admin_sns(admin_t *ad, const char *action, const char *form)
{
    buf_t b = BUF_INIT;
    buf_printf(&b, "Action=%s&Version=2010-03-31%s%s", action, *form ? "&" : "", form);
    http_client_header_t h[] = {{"Content-Type", "application/x-www-form-urlencoded"}};
    int rc = run_exchange(ad, "POST", "/", h, 1, b.data, QUIET_NONE);
    buf_free(&b);
    return rc;
}

int admin_get(admin_t *ad, const char *path, int not_found_quiet)
{
    /* the operations token (auth.ops_token_env) goes to the paths it guards only */
    const char *tok = getenv("SLUICE_OPS_TOKEN");
    buf_t bearer = BUF_INIT;
    http_client_header_t h[1] = {{"Authorization", NULL}};
    if (tok && *tok && (strcmp(path, "/metrics") == 0 || strncmp(path, "/_sluice/trace/", 15) == 0)) {
        buf_printf(&bearer, "Bearer %s", tok);
        h[0].value = bearer.data;
    }
    int rc = run_exchange(ad, "GET", path, h, h[0].value ? 1 : 0, NULL, not_found_quiet ? QUIET_404 : QUIET_NONE);
    buf_free(&bearer);
    return rc;
}

/* ---- XML ----------------------------------------------------------------------------------------- */

static void xml_unescape(buf_t *out, const char *p, const char *end)
{
    static const struct { const char *ent; char c; } ents[] = {
        {"&amp;", '&'}, {"&lt;", '<'}, {"&gt;", '>'}, {"&quot;", '"'}, {"&apos;", '\''},
    };
    while (p < end) {
        size_t i, n = 0;
        for (i = 0; *p == '&' && i < sizeof ents / sizeof ents[0]; i++) {
            n = strlen(ents[i].ent);
            if ((size_t)(end - p) >= n && !memcmp(p, ents[i].ent, n))
                break;
        }
        if (*p == '&' && i < sizeof ents / sizeof ents[0]) {
            buf_putc(out, ents[i].c);
            p += n;
        } else if (*p == '&' && end - p > 3 && p[1] == '#') {
            char *e;
            long cp = p[2] == 'x' ? strtol(p + 3, &e, 16) : strtol(p + 2, &e, 10);
            buf_putc(out, cp > 0 && cp < 0x80 ? (char)cp : '?');
            p = e < end && *e == ';' ? e + 1 : e;
        } else {
            buf_putc(out, *p++);
        }
    }
}

int admin_xml_span(const char **p, const char *end, const char *tag, const char **s, const char **e)
{
    char open[80], close[84];
    snprintf(open, sizeof open, "<%s>", tag);
    snprintf(close, sizeof close, "</%s>", tag);
    const char *o = memmem(*p, (size_t)(end - *p), open, strlen(open));
    const char *c = o ? memmem(o, (size_t)(end - o), close, strlen(close)) : NULL;
    if (!c)
        return -1;
    *s = o + strlen(open);
    *e = c;
    *p = c + strlen(close);
    return 0;
}

char *admin_xml_next(const char **p, const char *end, const char *tag)
{
    const char *s, *e;
    if (admin_xml_span(p, end, tag, &s, &e) != 0)
        return NULL;
    buf_t out = BUF_INIT;
    xml_unescape(&out, s, e);
    buf_putc(&out, '\0');
    return buf_detach(&out, NULL);
}

/* ---- columns ----------------------------------------------------------------------------------- */

void admin_table_row(admin_table_t *t, const char *const *cells)
{
    for (size_t i = 0; i < t->ncol; i++)
        strv_add(&t->cells, cells[i] ? cells[i] : "-");
}

void admin_table_print(admin_table_t *t)
{
    size_t w[16] = {0}, nrow = t->ncol ? t->cells.n / t->ncol : 0;
    for (size_t i = 0; i < t->cells.n && t->ncol <= 16; i++) {
        size_t n = strlen(t->cells.v[i]);
        if (n > w[i % t->ncol])
            w[i % t->ncol] = n;
    }
    for (size_t r = 0; r < nrow && t->ncol <= 16; r++) {
        for (size_t c = 0; c < t->ncol; c++) {
            const char *s = t->cells.v[r * t->ncol + c];
            if (c + 1 == t->ncol)
                printf("%s\n", s);
            else
                printf("%-*s  ", (int)w[c], s);
        }
    }
    strv_free(&t->cells);
}

char *admin_cell(const jv_t *v)
{
    if (!v || v->type == JV_NULL)
        return xstrdup("-");
    if (jv_str(v))
        return xstrdup(jv_str(v));
    return jv_dump(v);
}

/* ---- entry --------------------------------------------------------------------------------------- */

static const struct {
    const char *name;
    int (*run)(admin_t *, int, char **);
} COMMANDS[] = {
    {"queues", admin_queues},       {"topics", admin_topics}, {"functions", admin_functions},
    {"requests", admin_requests},   {"dlq", admin_dlq},       {"cost", admin_cost},
    {"trace", admin_trace},
};

int admin_main(const char *prog, int argc, char **argv)
{
    (void)prog;
    admin_t ad = {.cmd = argv[0]};
    for (size_t i = 0; i < sizeof COMMANDS / sizeof COMMANDS[0]; i++) {
        if (strcmp(argv[0], COMMANDS[i].name) != 0)
            continue;
        if (cli_http_open(&ad.http, "sluice-admin", ADMIN_MAX_RESPONSE) != 0)
            return admin_fail(&ad, ADMIN_EXIT_FAILED, "cannot set up the HTTP client (TLS context)");
        int rc = COMMANDS[i].run(&ad, argc, argv);
        cli_answer_reset(&ad.a);
        cli_http_close(&ad.http);
        free(ad.origin);
        jv_thread_release();
        return rc;
    }
    return admin_fail(&ad, ADMIN_EXIT_USAGE, "not an admin command");
}
