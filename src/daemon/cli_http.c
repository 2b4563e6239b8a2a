/*
 * cli_http — the blocking exchange of the command-line clients. The
 * daemon's own HTTP stack used synchronously: the request's callback copies
 * the answer (status, reason, Location, Retry-After, body, the body parsed
 * as JSON when it is JSON) and stops the loop.
 */
#include "daemon/cli_http.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util/alloc.h"

char *cli_http_origin(const char *url, char *why, size_t why_len)
{
    http_url_t u;
    size_t n = strlen(url);
    if (http_url_parse(url, n, &u) != 0) {
        snprintf(why, why_len, "endpoint %s is not an http://host[:port] URL", url);
        return NULL;
    }
    if (u.query || u.path_len > 1 || strchr(url, '#')) {
        snprintf(why, why_len, "endpoint %s has a path; give http://host[:port] only", url);
        return NULL;
    }
    while (n && url[n - 1] == '/')
        n--;
    return xmemdup(url, n);
}

char *cli_http_endpoint(const char *url, char *why, size_t why_len)
{
    const char *env = getenv("SLUICE_ENDPOINT");
    return cli_http_origin(url ? url : env && *env ? env : CLI_HTTP_DEFAULT_ENDPOINT, why, why_len);
}

int cli_http_open(cli_http_t *h, const char *user_agent, size_t max_body)
{
    http_client_config_t cfg;
    http_client_config_defaults(&cfg);
    cfg.max_response_body = max_body;
    cfg.max_conns_per_host = 1;
    cfg.user_agent = user_agent;
    h->loop = loop_new();
    h->client = http_client_new(h->loop, &cfg);
    return h->client ? 0 : -1;
}

void cli_http_close(cli_http_t *h)
{
    http_client_free(h->client);
    loop_free(h->loop);
    h->client = NULL;
    h->loop = NULL;
}

void cli_answer_reset(cli_answer_t *a)
{
    free(a->location);
    jv_doc_free(a->doc);
    buf_free(&a->body);
    *a = (cli_answer_t){0};
}

void cli_printable(char *out, size_t cap, const char *p, size_t n)
{
    size_t k = 0;
    for (size_t i = 0; i < n && k + 1 < cap; i++)
        out[k++] = (p[i] >= 0x20 && p[i] < 0x7f) ? p[i] : '?';
    out[k] = '\0';
}

static const http_header_t *find_header(const http_client_result_t *res, const char *name)
{
    size_t n = strlen(name);
    for (size_t i = 0; i < res->nheaders; i++)
        if (res->headers[i].name_len == n && !strncasecmp(res->headers[i].name, name, n))
            return &res->headers[i];
    return NULL;
}

static void copy_head(cli_answer_t *a, const http_client_result_t *res)
{
    a->status = res->status;
    a->minor = res->minor_version;
    cli_printable(a->reason, sizeof a->reason, res->reason ? res->reason : "", res->reason_len);
    const http_header_t *h = find_header(res, "Location");
    if (h)
        a->location = xmemdup(h->value, h->value_len);
    h = find_header(res, "Retry-After");
    char ra[16];
    cli_printable(ra, sizeof ra, h ? h->value : "", h ? h->value_len : 0);
    long s = strtol(ra, NULL, 10);
    a->retry_after_s = s > 0 ? s : 0;
}

typedef struct exchange {
    loop_t *loop;
    cli_answer_t *a;
} exchange_t;

static void on_answer(const http_client_result_t *res, void *arg)
{
    exchange_t *x = arg;
    cli_answer_t *a = x->a;
    a->done = 1;
    a->err = res->err;
    snprintf(a->detail, sizeof a->detail, "%s", res->detail);
    if (res->err == HTTP_CLIENT_OK) {
        copy_head(a, res);
        buf_append(&a->body, res->body, res->body_len);
        a->doc = jv_doc_new();
        a->json = res->body_len ? jv_parse(a->doc, a->body.data, a->body.len, NULL, 0) : NULL;
    }
    loop_stop(x->loop);
}

int cli_http_exchange(cli_http_t *h, const http_request_spec_t *spec, cli_answer_t *a)
{
    exchange_t x = {h->loop, a};
    cli_answer_reset(a);
    if (http_client_request(h->client, spec, on_answer, &x) < 0)
        return -1;
    if (loop_run(h->loop) < 0 || !a->done) {
        a->err = HTTP_CLIENT_PROTOCOL;
        snprintf(a->detail, sizeof a->detail, "the event loop failed");
    }
    return 0;
}
