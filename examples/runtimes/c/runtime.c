/*
 * runtime.c — a compiled Lambda custom runtime (`bootstrap`) that serves a
 * Sluice plugin handler (include/sluice_plugin.h) over the Lambda runtime
 * API, so a C handler can run in its own process: a crash or a runaway
 * handler takes down only this process, which Sluice restarts, instead of
 * the daemon. It runs the same on Lambda itself (provided.al2023).
 *
 *   _HANDLER                "path.so[:symbol]" (symbol default sluice_handler);
 *                           a relative path is taken from the working directory
 *                           (Sluice starts the runtime in the function's dir)
 *   AWS_LAMBDA_RUNTIME_API  host:port of the runtime API
 *
 * Loop: load the handler (on failure POST /runtime/init/error and exit 1),
 * then forever GET /invocation/next, run the handler, and POST
 * /invocation/<id>/response with its result, or /invocation/<id>/error with
 * its error document. One kept-alive HTTP/1.1 connection, reopened when the
 * server closes it; blocking I/O, since a runtime does one thing at a time.
 * A /response and the following /next are pipelined (written together):
 * the runtime then waits once per invocation instead of twice.
 *
 * Build: cc -O2 -Iinclude -o bootstrap runtime.c -ldl
 */
#include <dlfcn.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "sluice_plugin.h"

#define API "/2018-06-01/runtime"

typedef struct conn {
    char host[256], port[16];
    int fd;
    char *in; /* received, not yet consumed: in[0..len) */
    size_t len, cap;
} conn_t;

typedef struct reply {
    int status;
    char request_id[128];
    int64_t deadline_ms;
    char *body; /* NUL-terminated, owned by the reply */
    size_t body_len;
} reply_t;

static void die(const char *what)
{
    fprintf(stderr, "runtime: %s: %s\n", what, errno ? strerror(errno) : "failed");
    exit(1);
}

static int dial(conn_t *c)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *ai;
    if (getaddrinfo(c->host, c->port, &hints, &ai) != 0)
        return -1;
    c->fd = socket(ai->ai_family, ai->ai_socktype, 0);
    if (c->fd < 0 || connect(c->fd, ai->ai_addr, ai->ai_addrlen) != 0) {
        if (c->fd >= 0)
            close(c->fd);
        c->fd = -1;
        freeaddrinfo(ai);
        return -1;
    }
    freeaddrinfo(ai);
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    c->len = 0;
    return 0;
}

static void hang_up(conn_t *c)
{
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    c->len = 0;
}

static int write_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Reads more into c->in; -1 when the connection ended. */
static int fill(conn_t *c)
{
    if (c->cap - c->len < 4096) {
        c->cap = c->cap ? c->cap * 2 : 65536;
        c->in = realloc(c->in, c->cap + 1);
        if (!c->in)
            die("out of memory");
    }
    ssize_t r;
    do
        r = read(c->fd, c->in + c->len, c->cap - c->len);
    while (r < 0 && errno == EINTR);
    if (r <= 0)
        return -1;
    c->len += (size_t)r;
    return 0;
}

/* The value of header name in the head [h, end), or NULL; *n gets its length. */
static const char *header(const char *h, const char *end, const char *name, size_t *n)
{
    size_t nl = strlen(name);
    for (const char *p = h; p < end;) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        if (!eol)
            break;
        if ((size_t)(eol - p) > nl && strncasecmp(p, name, nl) == 0 && p[nl] == ':') {
            const char *v = p + nl + 1;
            while (v < eol && (*v == ' ' || *v == '\t'))
                v++;
            const char *e = eol;
            while (e > v && (e[-1] == '\r' || e[-1] == ' '))
                e--;
            *n = (size_t)(e - v);
            return v;
        }
        p = eol + 1;
    }
    return NULL;
}

/* One response off the connection (Content-Length framed, as the runtime
 * API answers); -1 when the connection broke. */
static int read_reply(conn_t *c, reply_t *r)
{
    char *eoh;
    if (!c->in && fill(c) != 0)
        return -1;
    for (;;) {
        c->in[c->len] = 0;
        if ((eoh = strstr(c->in, "\r\n\r\n")))
            break;
        if (fill(c) != 0)
            return -1;
    }
    size_t head = (size_t)(eoh - c->in) + 4, n;
    if (sscanf(c->in, "HTTP/1.%*d %d", &r->status) != 1)
        return -1;
    const char *v = header(c->in, eoh + 2, "Content-Length", &n);
    size_t blen = v ? strtoull(v, NULL, 10) : 0;
    r->request_id[0] = 0;
    if ((v = header(c->in, eoh + 2, "Lambda-Runtime-Aws-Request-Id", &n)) && n < sizeof r->request_id) {
        memcpy(r->request_id, v, n);
        r->request_id[n] = 0;
    }
    r->deadline_ms = (v = header(c->in, eoh + 2, "Lambda-Runtime-Deadline-Ms", &n)) ? strtoll(v, NULL, 10) : 0;
    int closes = (v = header(c->in, eoh + 2, "Connection", &n)) && n == 5 && strncasecmp(v, "close", 5) == 0;
    while (c->len < head + blen)
        if (fill(c) != 0)
            return -1;
    r->body = malloc(blen + 1);
    if (!r->body)
        die("out of memory");
    memcpy(r->body, c->in + head, blen);
    r->body[blen] = 0;
    r->body_len = blen;
    memmove(c->in, c->in + head + blen, c->len - head - blen);
    c->len -= head + blen;
    if (closes)
        hang_up(c);
    return 0;
}

/* Appends one request to out (a growing buffer). */
static void put_request(char **out, size_t *len, const char *method, const char *path, const char *host,
                        const char *body, size_t blen)
{
    char head[512];
    int hn = snprintf(head, sizeof head,
                      "%s %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n\r\n",
                      method, path, host, blen);
    *out = realloc(*out, *len + (size_t)hn + blen);
    if (!*out)
        die("out of memory");
    memcpy(*out + *len, head, (size_t)hn);
    memcpy(*out + *len + (size_t)hn, body, blen);
    *len += (size_t)hn + blen;
}

/* Writes the requests in one go (HTTP/1.1 pipelining: a /response and the
 * following /next leave together, so each invocation costs one write and,
 * usually, one read) and reads their n replies into r[0..n). Redials and
 * resends once if the kept-alive connection had been closed by the server;
 * a /response sent twice is answered with an error the second time, which
 * is harmless. */
static void exchange(conn_t *c, const char *reqs, size_t len, reply_t *r, int n)
{
    for (int attempt = 0;; attempt++) {
        if (c->fd < 0 && dial(c) != 0)
            die("cannot reach the runtime API");
        int k = 0;
        if (write_all(c->fd, reqs, len) == 0)
            for (; k < n && read_reply(c, &r[k]) == 0; k++)
                ;
        if (k == n)
            return;
        for (int i = 0; i < k; i++)
            free(r[i].body);
        hang_up(c);
        if (attempt)
            die("the runtime API connection broke");
    }
}

static void post(conn_t *c, const char *path, const char *body, size_t len)
{
    char *reqs = NULL;
    size_t n = 0;
    reply_t r = {0};
    put_request(&reqs, &n, "POST", path, c->host, body, len);
    exchange(c, reqs, n, &r, 1);
    free(reqs);
    free(r.body);
}

/* Writes {"errorMessage": msg, "errorType": type} with msg escaped. */
static size_t error_doc(char *out, size_t n, const char *type, const char *msg)
{
    size_t k = (size_t)snprintf(out, n, "{\"errorMessage\":\"");
    for (const char *p = msg; *p && k + 64 < n; p++) { /* room for the rest */
        unsigned char ch = (unsigned char)*p;
        if (ch == '"' || ch == '\\')
            k += (size_t)snprintf(out + k, n - k, "\\%c", ch);
        else if (ch < 0x20)
            k += (size_t)snprintf(out + k, n - k, "\\u%04x", ch);
        else
            out[k++] = (char)ch;
    }
    k += (size_t)snprintf(out + k, n - k, "\",\"errorType\":\"%s\"}", type);
    return k < n ? k : n - 1;
}

static sluice_handler_fn load(const char *spec, char *why, size_t n)
{
    char path[1024];
    const char *colon = strrchr(spec, ':');
    const char *sym = colon && colon[1] ? colon + 1 : "sluice_handler";
    size_t plen = colon ? (size_t)(colon - spec) : strlen(spec);
    if (plen == 0 || plen >= sizeof path - 2)
        return snprintf(why, n, "_HANDLER must be path.so[:symbol]"), NULL;
    /* dlopen searches the library path for a name without a slash */
    snprintf(path, sizeof path, "%s%.*s", memchr(spec, '/', plen) ? "" : "./", (int)plen, spec);
    void *dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!dl)
        return snprintf(why, n, "cannot load %s: %s", path, dlerror()), NULL;
    sluice_handler_fn h = (sluice_handler_fn)(uintptr_t)dlsym(dl, sym);
    if (!h)
        return snprintf(why, n, "%s does not export %s", path, sym), NULL;
    sluice_plugin_init_fn init = (sluice_plugin_init_fn)(uintptr_t)dlsym(dl, "sluice_plugin_init");
    if (init && init() != SLUICE_PLUGIN_ABI)
        return snprintf(why, n, "%s: sluice_plugin_init refused (ABI %d expected)", path, SLUICE_PLUGIN_ABI), NULL;
    return h;
}

int main(void)
{
    const char *api = getenv("AWS_LAMBDA_RUNTIME_API"), *spec = getenv("_HANDLER");
    const char *fname = getenv("AWS_LAMBDA_FUNCTION_NAME");
    conn_t c = {.fd = -1};
    const char *colon = api ? strrchr(api, ':') : NULL;
    if (!colon || (size_t)(colon - api) >= sizeof c.host || strlen(colon + 1) >= sizeof c.port) {
        fprintf(stderr, "runtime: AWS_LAMBDA_RUNTIME_API must be host:port\n");
        return 1;
    }
    memcpy(c.host, api, (size_t)(colon - api));
    strcpy(c.port, colon + 1);
    char why[1200], doc[1400], path[300];
    sluice_handler_fn handler = load(spec ? spec : "", why, sizeof why);
    if (!handler) {
        size_t n = error_doc(doc, sizeof doc, "Runtime.InitError", why);
        post(&c, API "/init/error", doc, n);
        fprintf(stderr, "runtime: %s\n", why);
        return 1;
    }
    char *reqs = NULL;
    size_t nreqs = 0;
    reply_t r[2] = {{0}};
    put_request(&reqs, &nreqs, "GET", API "/invocation/next", c.host, "", 0);
    exchange(&c, reqs, nreqs, &r[1], 1);
    for (;;) {
        reply_t next = r[1];
        nreqs = 0;
        if (next.status != 200 || !next.request_id[0]) {
            fprintf(stderr, "runtime: GET next answered %d\n", next.status);
            free(next.body);
            sleep(1);
            put_request(&reqs, &nreqs, "GET", API "/invocation/next", c.host, "", 0);
            exchange(&c, reqs, nreqs, &r[1], 1);
            continue;
        }
        sluice_invocation_t inv = {.event = next.body,
                                   .event_len = next.body_len,
                                   .request_id = next.request_id,
                                   .function_name = fname ? fname : "",
                                   .deadline_ms = next.deadline_ms};
        char *out = NULL;
        size_t out_len = 0;
        int rc = handler(&inv, &out, &out_len);
        if (out && !out_len)
            out_len = strlen(out);
        if (rc == 0) {
            snprintf(path, sizeof path, API "/invocation/%s/response", next.request_id);
            put_request(&reqs, &nreqs, "POST", path, c.host, out ? out : "null", out ? out_len : 4);
        } else {
            snprintf(path, sizeof path, API "/invocation/%s/error", next.request_id);
            if (out && out_len && out[0] == '{') {
                put_request(&reqs, &nreqs, "POST", path, c.host, out, out_len);
            } else {
                char *msg = strndup(out ? out : "the handler failed", out ? out_len : 18);
                size_t n = error_doc(doc, sizeof doc, "Unhandled", msg ? msg : "");
                free(msg);
                put_request(&reqs, &nreqs, "POST", path, c.host, doc, n);
            }
        }
        free(out);
        free(next.body);
        put_request(&reqs, &nreqs, "GET", API "/invocation/next", c.host, "", 0);
        exchange(&c, reqs, nreqs, r, 2);
        if (r[0].status / 100 != 2)
            fprintf(stderr, "runtime: the result of %s was refused (%d)\n", inv.request_id, r[0].status);
        free(r[0].body);
    }
}
