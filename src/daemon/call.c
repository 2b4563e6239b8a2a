/*
 * call — `sluice call [options] METHOD PATH`, the gateway's client.
 *
 * Model. One request goes to the endpoint (--endpoint, else SLUICE_ENDPOINT,
 * else http://127.0.0.1:4566); its answer is printed as a status line and
 * the body (JSON pretty-printed, anything else as it came). A 202 is pending
 * work: unless --no-wait, the client follows the body's statusUrl (else the
 * Location header; else, for a GET, the request's own target) with
 * `GET …?wait=N` long polls (N ≤ 20, and not beyond --timeout or the
 * request's deadline) until an answer other than 202 arrives, and prints
 * that one; --timeout bounds the whole run, polls included.
 * The exit status says how the work ended (call_exit_t in call.h).
 *
 * Transport. The daemon's own HTTP stack, used blocking: one loop and one
 * http_client per run; an exchange runs the loop until the request's
 * callback has copied the answer out and stopped it. The client bounds what
 * comes back — heads (16 KiB) and decoded bodies (CALL_MAX_RESPONSE) — and
 * each exchange's time (what is left of --timeout). A -d body is read whole
 * (at most CALL_MAX_BODY) and must be valid JSON before anything is sent.
 *
 * Polls to the endpoint's own origin carry the request's headers (the API
 * key included: a result route may need it); polls to a statusUrl on
 * another origin carry none.
 */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "daemon/call.h"
#include "daemon/cli_http.h"
#include "net/http_client.h"
#include "net/loop.h"
#include "util/alloc.h"
#include "util/buf.h"
#include "util/clock.h"
#include "util/jv.h"
#include "util/text.h"

#define CALL_DEFAULT_TIMEOUT_S 60.0
#define CALL_MAX_TIMEOUT_S 86400.0
#define CALL_MAX_BODY (8u << 20)     /* a -d body, bytes */
#define CALL_MAX_RESPONSE (8u << 20) /* a decoded response body, bytes */
#define CALL_MAX_HEADERS 32          /* -H options */
#define CALL_WAIT_MAX_S 20           /* the gateway's longest ?wait */
#define CALL_POLL_GRACE_MS 5000      /* how late a long poll's answer may be */
#define CALL_MSG_MAX 300             /* bytes of a server's message quoted on stderr */
#define TCHARS "!#$%&'*+-.^_`|~"     /* a token's characters besides letters and digits */

typedef struct call_opts {
    const char *endpoint; /* --endpoint, as given; NULL when absent */
    char *origin;         /* the endpoint without trailing '/': "http://host:port" */
    const char *method; /* METHOD, as given */
    const char *target; /* PATH, as given: "/path[?query]" */
    const char *data;   /* -d, as given; NULL when absent */
    const char *api_key;
    char *hdr[CALL_MAX_HEADERS]; /* -H copies, "Name\0value" */
    http_client_header_t extra[CALL_MAX_HEADERS];
    size_t nextra;
    int wait;
    double timeout_s;
    buf_t body; /* the loaded -d body */
} call_opts_t;

typedef struct call {
    call_opts_t o;
    cli_http_t http;
    uint64_t deadline_ms; /* monotonic: when --timeout passes */
    cli_answer_t a;      /* the latest answer */
    /* the pending request, from its latest 202 */
    char id[128], status[32];
    uint64_t sla_wall_ms; /* its deadline (wall ms), 0 when unknown */
} call_t;

/* ---- usage ------------------------------------------------------------------------------------- */

static void usage(const char *prog)
{
    printf("usage: %s call [options] METHOD PATH\n\n"
           "Sends METHOD PATH to the Sluice gateway and prints the answer: the status line,\n"
           "then the body. A 202 Accepted is followed: the client long-polls the request's\n"
           "statusUrl until its record is final, then prints that record.\n\n"
           "Options:\n",
           prog);
    printf("  --endpoint URL        http://host[:port]; default $SLUICE_ENDPOINT, else\n"
           "                        %s (an https:// endpoint's certificate\n"
           "                        is verified against the system's CA store)\n"
           "  --api-key K           sent as x-api-key (default $SLUICE_API_KEY)\n"
           "  -H, --header 'N: v'   an extra request header (repeatable, at most %d)\n"
           "  -d, --data JSON       the request body, sent as application/json; -d @FILE reads\n"
           "                        it from FILE; it must be valid JSON (at most 8 MiB)\n"
           "  --wait                follow a 202 to the final record (the default)\n"
           "  --no-wait             print the 202 and stop\n"
           "  --timeout S           stop waiting S seconds after the start (default 60)\n"
           "  -h, --help            this text\n\n",
           CLI_HTTP_DEFAULT_ENDPOINT, CALL_MAX_HEADERS);
    printf("Exit status: 0 SUCCEEDED, or a 2xx answer that is no failed record (a 202 with\n"
           "--no-wait); 1 FAILED, DEAD_LETTERED or EXPIRED, or an error answer (4xx, 5xx);\n"
           "2 usage error or invalid body; 3 still pending when --timeout passed; 4 the\n"
           "endpoint could not be reached.\n");
}

static int usage_error(const char *fmt, const char *arg)
{
    fputs("sluice call: ", stderr);
    fprintf(stderr, fmt, arg);
    fputs(" (see sluice call --help)\n", stderr);
    return -1;
}

/* ---- options ----------------------------------------------------------------------------------- */

/* The endpoint as origin: an http(s) URL with no path but "/", no query. */
static int set_endpoint(call_opts_t *o, const char *url)
{
    char why[300];
    char *origin = cli_http_origin(url, why, sizeof why);
    if (!origin)
        return usage_error("%s", why);
    free(o->origin);
    o->origin = origin;
    return 0;
}

static int value_ok(const char *v)
{
    for (; *v; v++)
        if (((unsigned char)*v < 0x20 && *v != '\t') || *v == 0x7f)
            return 0;
    return 1;
}

static int add_header(call_opts_t *o, const char *line)
{
    const char *colon = strchr(line, ':');
    static const char *const own[] = {"Host", "Content-Length", "Transfer-Encoding", "Connection"};
    if (o->nextra == CALL_MAX_HEADERS)
        return usage_error("more than 32 headers (at %s)", line);
    if (!colon || colon == line || !text_name_chars(line, (size_t)(colon - line), TCHARS) || !value_ok(colon + 1))
        return usage_error("-H '%s' is not 'Name: value'", line);
    for (size_t i = 0; i < sizeof own / sizeof own[0]; i++)
        if (strlen(own[i]) == (size_t)(colon - line) && !strncasecmp(line, own[i], strlen(own[i])))
            return usage_error("-H '%s': the client sets this header itself", line);
    char *copy = xstrdup(line);
    char *value = copy + (colon - line) + 1;
    copy[colon - line] = '\0';
    value += strspn(value, " \t");
    for (size_t n = strlen(value); n && (value[n - 1] == ' ' || value[n - 1] == '\t'); n--)
        value[n - 1] = '\0';
    o->hdr[o->nextra] = copy;
    o->extra[o->nextra++] = (http_client_header_t){copy, value};
    return 0;
}

static int set_timeout(call_opts_t *o, const char *s)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (!*s || *end || errno || !isfinite(v) || v <= 0 || v > CALL_MAX_TIMEOUT_S)
        return usage_error("--timeout %s: give seconds, more than 0 and at most 86400", s);
    o->timeout_s = v;
    return 0;
}

static const struct option LONG_OPTS[] = {
    {"endpoint", required_argument, NULL, 'e'}, {"api-key", required_argument, NULL, 'k'},
    {"header", required_argument, NULL, 'H'},   {"data", required_argument, NULL, 'd'},
    {"wait", no_argument, NULL, 'w'},           {"no-wait", no_argument, NULL, 'W'},
    {"timeout", required_argument, NULL, 't'},  {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

static int apply_option(call_opts_t *o, int ch, char **argv)
{
    switch (ch) {
    case 'e': o->endpoint = optarg; return 0;
    case 'k': o->api_key = optarg; return 0;
    case 'H': return add_header(o, optarg);
    case 'd':
        if (o->data)
            return usage_error("-d given twice%s", "");
        o->data = optarg;
        return 0;
    case 'w': o->wait = 1; return 0;
    case 'W': o->wait = 0; return 0;
    case 't': return set_timeout(o, optarg);
    case ':': return usage_error("%s needs a value", argv[optind - 1]);
    default: return usage_error("unknown option %s", argv[optind - 1]);
    }
}

static int set_operands(call_opts_t *o, int n, char **rest)
{
    if (n != 2)
        return usage_error("give METHOD and PATH%s", n < 2 ? "" : ", nothing more");
    o->method = rest[0];
    o->target = rest[1];
    if (!*o->method || !text_name_chars(o->method, strlen(o->method), TCHARS))
        return usage_error("METHOD %s is not an HTTP method", o->method);
    if (o->target[0] != '/')
        return usage_error("PATH %s must start with /", o->target);
    return 0;
}

/* The endpoint and the key: the options, else the environment, else the default. */
static int apply_env(call_opts_t *o)
{
    const char *env = getenv("SLUICE_ENDPOINT");
    if (set_endpoint(o, o->endpoint ? o->endpoint : env && *env ? env : CLI_HTTP_DEFAULT_ENDPOINT) != 0)
        return -1;
    env = getenv("SLUICE_API_KEY");
    if (!o->api_key && env && *env)
        o->api_key = env;
    return !o->api_key || value_ok(o->api_key) ? 0 : usage_error("the API key holds a control character%s", "");
}

/* 0: run; 1: help was asked for; -1: usage error (said on stderr). */
static int parse_args(call_opts_t *o, int argc, char **argv)
{
    opterr = 0;
    optind = 0; /* GNU: start afresh */
    int ch;
    while ((ch = getopt_long(argc, argv, ":H:d:h", LONG_OPTS, NULL)) != -1) {
        if (ch == 'h')
            return 1;
        if (apply_option(o, ch, argv) != 0)
            return -1;
    }
    return apply_env(o) == 0 ? set_operands(o, argc - optind, argv + optind) : -1;
}

static void opts_free(call_opts_t *o)
{
    for (size_t i = 0; i < o->nextra; i++)
        free(o->hdr[i]);
    free(o->origin);
    buf_free(&o->body);
}

/* ---- the body ------------------------------------------------------------------------------------ */

static int read_file(const char *path, buf_t *out)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "sluice call: cannot read %s: %s\n", path, strerror(errno));
        return -1;
    }
    char chunk[65536];
    size_t got;
    int rc = 0;
    while (rc == 0 && (got = fread(chunk, 1, sizeof chunk, f)) > 0) {
        if (out->len + got > CALL_MAX_BODY) {
            fprintf(stderr, "sluice call: %s is larger than 8 MiB\n", path);
            rc = -1;
        } else {
            buf_append(out, chunk, got);
        }
    }
    if (rc == 0 && ferror(f)) {
        fprintf(stderr, "sluice call: cannot read %s: %s\n", path, strerror(errno));
        rc = -1;
    }
    fclose(f);
    return rc;
}

/* Loads -d (inline or @file) into o->body and checks that it is JSON. */
static int load_body(call_opts_t *o)
{
    if (!o->data)
        return 0;
    const char *file = o->data[0] == '@' ? o->data + 1 : NULL;
    if (file && read_file(file, &o->body) != 0)
        return -1;
    if (!file && strlen(o->data) > CALL_MAX_BODY)
        return usage_error("the -d body is larger than 8 MiB%s", "");
    if (!file)
        buf_puts(&o->body, o->data);
    char why[160];
    jv_doc_t *d = jv_doc_new();
    int ok = jv_parse(d, o->body.data ? o->body.data : "", o->body.len, why, sizeof why) != NULL;
    jv_doc_free(d);
    if (!ok)
        fprintf(stderr, "sluice call: the body%s%s is not valid JSON (%s); nothing was sent\n", file ? " in " : "",
                file ? file : "", why);
    return ok ? 0 : -1;
}

/* The request's headers: -H, then Content-Type (with a body) and x-api-key
 * unless -H gave them. Returns the count (at most CALL_MAX_HEADERS + 2). */
static size_t request_headers(const call_opts_t *o, int with_body, http_client_header_t *h)
{
    size_t n = 0;
    int has_type = 0, has_key = 0;
    for (size_t i = 0; i < o->nextra; i++) {
        has_type |= !strcasecmp(o->extra[i].name, "Content-Type");
        has_key |= !strcasecmp(o->extra[i].name, "x-api-key");
        h[n++] = o->extra[i];
    }
    if (with_body && !has_type)
        h[n++] = (http_client_header_t){"Content-Type", "application/json"};
    if (o->api_key && !has_key)
        h[n++] = (http_client_header_t){"x-api-key", o->api_key};
    return n;
}

/* ---- answers ----------------------------------------------------------------------------------- */

/* The status of a gateway record: an object with string requestId and status. */
static const char *record_status(const cli_answer_t *a)
{
    return jv_str(jv_get(a->json, "requestId")) ? jv_str(jv_get(a->json, "status")) : NULL;
}

static int is_failed(const char *status)
{
    static const char *const failed[] = {"FAILED", "DEAD_LETTERED", "EXPIRED"};
    for (size_t i = 0; status && i < sizeof failed / sizeof failed[0]; i++)
        if (strcmp(status, failed[i]) == 0)
            return 1;
    return 0;
}

/* ---- printing ------------------------------------------------------------------------------------ */

static void newline_indent(buf_t *out, int depth)
{
    buf_putc(out, '\n');
    for (int i = 0; i < depth; i++)
        buf_puts(out, "  ");
}

/* v as JSON, two spaces per level, one member or element per line. */
static void pretty(const jv_t *v, int depth, buf_t *out)
{
    int obj = v->type == JV_OBJECT;
    if ((!obj && v->type != JV_ARRAY) || v->len == 0) {
        jv_write(v, out);
        return;
    }
    buf_putc(out, obj ? '{' : '[');
    for (size_t i = 0; i < v->len; i++) {
        newline_indent(out, depth + 1);
        if (obj) {
            jv_write_string(out, v->u.pairs[i].key, v->u.pairs[i].klen);
            buf_puts(out, ": ");
        }
        pretty(obj ? v->u.pairs[i].val : v->u.items[i], depth + 1, out);
        if (i + 1 < v->len)
            buf_putc(out, ',');
    }
    newline_indent(out, depth);
    buf_putc(out, obj ? '}' : ']');
}

/* The status line, then the body: JSON pretty-printed, anything else as is. */
static void print_answer(const cli_answer_t *a)
{
    buf_t out = BUF_INIT;
    buf_printf(&out, "HTTP/1.%d %d%s%s\n", a->minor, a->status, *a->reason ? " " : "", a->reason);
    if (a->json)
        pretty(a->json, 0, &out);
    else
        buf_append(&out, a->body.data, a->body.len);
    if (a->body.len && out.data[out.len - 1] != '\n')
        buf_putc(&out, '\n');
    fwrite(out.data, 1, out.len, stdout);
    fflush(stdout);
    buf_free(&out);
}

/* Appends ": " and s on one line (control bytes become spaces), bounded. */
static void put_oneline(buf_t *m, const char *sep, const char *s)
{
    if (!s || !*s)
        return;
    buf_puts(m, sep);
    for (size_t i = 0; s[i] && i < CALL_MSG_MAX; i++)
        buf_putc(m, (unsigned char)s[i] < 0x20 || s[i] == 0x7f ? ' ' : s[i]);
}

static void say(buf_t *m)
{
    fprintf(stderr, "sluice call: %s\n", m->data);
    buf_free(m);
}

/* "403 Forbidden: Forbidden", with the first of "errors" when there is one. */
static int complain_http(const cli_answer_t *a)
{
    buf_t m = BUF_INIT;
    buf_printf(&m, "%d %s", a->status, a->reason);
    const char *msg = jv_str(jv_get(a->json, "message"));
    put_oneline(&m, ": ", msg ? msg : jv_str(jv_get(a->json, "Message")));
    const char *first = jv_str(jv_at(jv_get(a->json, "errors"), 0));
    if (first) {
        put_oneline(&m, " (", first);
        buf_putc(&m, ')');
    }
    say(&m);
    return CALL_EXIT_FAILED;
}

/* "request 6f1c… FAILED: InvalidRecord: division by zero". */
static int complain_record(const cli_answer_t *a, const char *status)
{
    buf_t m = BUF_INIT;
    const jv_t *err = jv_get(a->json, "error");
    if (!err) /* DEAD_LETTERED, or EXPIRED after failed attempts: the last attempt's error */
        err = jv_get(a->json, "lastError");
    buf_puts(&m, "request ");
    put_oneline(&m, "", jv_str(jv_get(a->json, "requestId")));
    buf_printf(&m, " %s", status);
    put_oneline(&m, ": ", jv_str(jv_get(err, "errorType")));
    put_oneline(&m, ": ", jv_str(err) ? jv_str(err) : jv_str(jv_get(err, "errorMessage")));
    say(&m);
    return CALL_EXIT_FAILED;
}

/* The exit status an answer that ends the call stands for. */
static int verdict(const cli_answer_t *a)
{
    if (a->status < 200 || a->status >= 300)
        return complain_http(a);
    const char *status = record_status(a);
    return is_failed(status) ? complain_record(a, status) : CALL_EXIT_OK;
}

/* An exchange that brought no answer (a->err set). */
static int transport_failed(const call_t *c, const char *url)
{
    const cli_answer_t *a = &c->a;
    if (a->err == HTTP_CLIENT_TIMEOUT) {
        fprintf(stderr, "sluice call: no answer from %s before --timeout (%g s) passed\n", url, c->o.timeout_s);
        return CALL_EXIT_TIMEOUT;
    }
    if (a->err == HTTP_CLIENT_TOO_LARGE) {
        fprintf(stderr, "sluice call: the answer from %s is too large (over 8 MiB); refused\n", url);
        return CALL_EXIT_FAILED;
    }
    fprintf(stderr, "sluice call: cannot reach %s: %s\n", url, a->detail);
    return CALL_EXIT_UNREACHABLE;
}

/* ---- exchanges --------------------------------------------------------------------------------- */

static uint64_t left_ms(const call_t *c)
{
    uint64_t now = clock_mono_ms();
    return now < c->deadline_ms ? c->deadline_ms - now : 0;
}

/* Runs one exchange to its end; the answer (or the failure) lands in c->a.
 * Returns 0, or -1 when the client refuses the request outright. */
static int exchange(call_t *c, const char *method, const char *url, const http_client_header_t *h, size_t nh,
                    const buf_t *body, uint64_t timeout_ms)
{
    http_request_spec_t spec = {.method = method, .url = url, .headers = h, .nheaders = nh,
                                .body = body ? body->data : NULL, .body_len = body ? body->len : 0,
                                .timeout_ms = timeout_ms ? timeout_ms : 1};
    int rc = cli_http_exchange(&c->http, &spec, &c->a);
    if (c->a.retry_after_s > CALL_WAIT_MAX_S)
        c->a.retry_after_s = 0;
    return rc;
}

/* Sends the request and prints its answer; CALL_EXIT_OK when there is one. */
static int send_request(call_t *c)
{
    http_client_header_t h[CALL_MAX_HEADERS + 2];
    size_t nh = request_headers(&c->o, c->o.data != NULL, h);
    buf_t url = BUF_INIT;
    buf_printf(&url, "%s%s", c->o.origin, c->o.target);
    int rc = exchange(c, c->o.method, url.data, h, nh, c->o.data ? &c->o.body : NULL, left_ms(c));
    buf_free(&url);
    if (rc < 0) {
        fprintf(stderr, "sluice call: the request is malformed (PATH %s, or a header)\n", c->o.target);
        return CALL_EXIT_USAGE;
    }
    if (c->a.err != HTTP_CLIENT_OK)
        return transport_failed(c, c->o.origin);
    print_answer(&c->a);
    return CALL_EXIT_OK;
}

/* Where a 202's outcome is read: its statusUrl, else its Location, else
 * (a GET of a pending status) the request's own target. A new string. */
static char *status_url(const call_t *c)
{
    const char *u = jv_str(jv_get(c->a.json, "statusUrl"));
    if (!u || !*u)
        u = c->a.location;
    if (!u && strcmp(c->o.method, "GET") == 0)
        u = c->o.target;
    if (!u)
        return NULL;
    if (u[0] == '/') {
        buf_t b = BUF_INIT;
        buf_printf(&b, "%s%s", c->o.origin, u);
        return buf_detach(&b, NULL);
    }
    return text_starts_with_ci(u, "http://") || text_starts_with_ci(u, "https://") ? xstrdup(u) : NULL;
}

static int same_origin(const char *origin, const char *url)
{
    size_t n = strlen(origin);
    return !strncasecmp(url, origin, n) && (url[n] == '/' || url[n] == '?' || url[n] == '\0');
}

/* url with its query's wait parameters (if any) dropped and wait=N added. */
static void poll_url(const char *url, unsigned wait, buf_t *out)
{
    const char *q = strchr(url, '?');
    char sep = '?';
    buf_append(out, url, q ? (size_t)(q - url) : strlen(url));
    for (const char *p = q; p; p = strchr(p + 1, '&')) {
        size_t n = strcspn(p + 1, "&");
        if (n && strncmp(p + 1, "wait=", 5) != 0 && !(n == 4 && !strncmp(p + 1, "wait", 4))) {
            buf_putc(out, sep);
            buf_append(out, p + 1, n);
            sep = '&';
        }
    }
    buf_printf(out, "%cwait=%u", sep, wait);
}

static void sleep_ms(uint64_t ms)
{
    struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

/* Notes what a 202 says of the pending request: its id, status, deadline. */
static void note_pending(call_t *c)
{
    const char *id = jv_str(jv_get(c->a.json, "requestId")), *st = jv_str(jv_get(c->a.json, "status"));
    cli_printable(c->id, sizeof c->id, id ? id : "(no id)", id ? strlen(id) : 7);
    cli_printable(c->status, sizeof c->status, st ? st : "pending", st ? strlen(st) : 7);
    c->sla_wall_ms = clock_iso8601_parse(jv_str(jv_get(c->a.json, "deadline")));
}

/* A poll's ?wait: whole seconds, at most 20, no more than what is left of
 * --timeout, and no longer than until the request's deadline (the gateway
 * holds a poll for its whole wait even when the deadline passes in it). */
static unsigned wait_s(const call_t *c)
{
    uint64_t ms = left_ms(c), now = clock_wall_ms();
    if (c->sla_wall_ms && c->sla_wall_ms < now + ms)
        ms = c->sla_wall_ms > now ? c->sla_wall_ms - now : 0;
    unsigned s = (unsigned)((ms + 999) / 1000);
    return s > CALL_WAIT_MAX_S ? CALL_WAIT_MAX_S : s;
}

/* One long poll: GET url?wait=N (wait_s), cut short when --timeout passes.
 * Returns exchange's result. */
static int poll_once(call_t *c, const char *url, const http_client_header_t *h, size_t nh)
{
    unsigned wait = wait_s(c);
    uint64_t left = left_ms(c), t = (uint64_t)wait * 1000 + CALL_POLL_GRACE_MS;
    buf_t b = BUF_INIT;
    poll_url(url, wait, &b);
    int rc = exchange(c, "GET", b.data, h, nh, NULL, t < left ? t : left);
    buf_free(&b);
    return rc;
}

static int still_pending(const call_t *c, const char *url)
{
    fprintf(stderr, "sluice call: request %s still %s when --timeout (%g s) passed; its status: %s\n", c->id,
            c->status, c->o.timeout_s, url);
    return CALL_EXIT_TIMEOUT;
}

/* Long-polls url until an answer other than 202, or --timeout. A pending
 * answer that came back early (a server that does not hold the poll) is
 * followed by a pause of its Retry-After (1 s by default); a poll that got
 * no answer in its wait and some grace is tried again. */
static int follow(call_t *c, const char *url)
{
    http_client_header_t h[CALL_MAX_HEADERS + 2];
    size_t nh = same_origin(c->o.origin, url) ? request_headers(&c->o, 0, h) : 0;
    for (;;) {
        if (!left_ms(c))
            return still_pending(c, url);
        uint64_t t0 = clock_mono_ms();
        if (poll_once(c, url, h, nh) < 0) {
            fprintf(stderr, "sluice call: cannot follow the status URL %s\n", url);
            return CALL_EXIT_FAILED;
        }
        if (c->a.err == HTTP_CLIENT_TIMEOUT)
            continue;
        if (c->a.err != HTTP_CLIENT_OK)
            return transport_failed(c, url);
        if (c->a.status != 202) {
            print_answer(&c->a);
            return verdict(&c->a);
        }
        note_pending(c);
        uint64_t took = clock_mono_ms() - t0, pause = 1000 * (c->a.retry_after_s ? c->a.retry_after_s : 1);
        if (took < 1000 && pause > took)
            sleep_ms(pause - took < left_ms(c) ? pause - took : left_ms(c));
    }
}

static int run(call_t *c)
{
    int rc = send_request(c);
    if (rc != CALL_EXIT_OK || c->a.status != 202 || !c->o.wait)
        return rc != CALL_EXIT_OK ? rc : verdict(&c->a);
    note_pending(c);
    char *url = status_url(c);
    if (!url) {
        fprintf(stderr, "sluice call: the 202 names no statusUrl or Location to wait on\n");
        return CALL_EXIT_OK;
    }
    rc = follow(c, url);
    free(url);
    return rc;
}

/* ---- entry --------------------------------------------------------------------------------------- */

static int start(call_t *c)
{
    c->deadline_ms = clock_mono_ms() + (uint64_t)llround(c->o.timeout_s * 1000.0);
    if (cli_http_open(&c->http, "sluice-call", CALL_MAX_RESPONSE) == 0)
        return 0;
    fprintf(stderr, "sluice call: cannot set up the HTTP client (TLS context)\n");
    return -1;
}

static void stop(call_t *c)
{
    cli_answer_reset(&c->a);
    cli_http_close(&c->http);
    jv_thread_release();
}

int call_main(const char *prog, int argc, char **argv)
{
    call_t c = {.o = {.wait = 1, .timeout_s = CALL_DEFAULT_TIMEOUT_S}};
    int rc = parse_args(&c.o, argc, argv);
    if (rc == 1)
        usage(prog);
    if (rc == 0 && load_body(&c.o) != 0)
        rc = -1;
    if (rc != 0) {
        opts_free(&c.o);
        return rc == 1 ? CALL_EXIT_OK : CALL_EXIT_USAGE;
    }
    rc = start(&c) == 0 ? run(&c) : CALL_EXIT_FAILED;
    stop(&c);
    opts_free(&c.o);
    return rc;
}
