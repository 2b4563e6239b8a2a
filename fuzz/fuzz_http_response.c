/*
 * fuzz_http_response — libFuzzer target for the client's response parser
 * (http_response). The input is what a server sends on a connection.
 *
 * Each input is parsed for a GET and for a HEAD request, under the client's
 * default limits and under tiny ones (so every limit is within reach), fed
 * whole, one byte at a time and in pseudo-random pieces seeded from the
 * input, each piece a heap copy of exactly its bytes (ASan catches any read
 * past them). Then EOF. All three feeds must end in the same state: error,
 * bytes consumed, done, status, framing, keep-alive, headers and body. The
 * end state must also be self-consistent: an error is one of the documented
 * ones; a final status is 200..599; the body respects max_body and its
 * framing (Content-Length bytes exactly, nothing for HEAD/204/304); a
 * close-delimited body never allows keep-alive; a parse that is neither
 * done nor failed has consumed everything it was given.
 *
 * The same bytes also go through http_url_parse, the client's other pure
 * parser (subscription endpoints are user input): an accepted URL has a
 * host, a port, a path and query inside the input made of visible ASCII,
 * and putting it back together parses to the same fields.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "net/http_client.h"
#include "net/http_response.h"

static const http_limits_t fuzz_limits[] = {
    {16384, 64, 1 << 20}, /* the client's defaults */
    {64, 3, 16},          /* tiny */
};

typedef struct state {
    int err, eof_err;
    size_t consumed;
    http_response_t r;
} state_t;

static uint32_t next_rand(uint32_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 17;
    *s ^= *s << 5;
    return *s;
}

/* Feeds data in pieces of `step` bytes (0: pseudo-random sizes), then EOF. */
static void feed(const uint8_t *data, size_t size, const http_limits_t *lim, int head_req, size_t step,
                 uint32_t seed, state_t *st)
{
    http_response_init(&st->r, lim, head_req);
    st->err = 0;
    size_t off = 0;
    while (off < size && !st->r.done) {
        size_t n = step ? step : 1 + next_rand(&seed) % 48;
        if (n > size - off)
            n = size - off;
        char *piece = malloc(n);
        memcpy(piece, data + off, n);
        ssize_t got = http_response_feed(&st->r, piece, n);
        free(piece);
        if (got < 0) {
            st->err = (int)got;
            FUZZ_CHECK(http_response_feed(&st->r, "x", 1) == got); /* sticky */
            break;
        }
        FUZZ_CHECK((size_t)got <= n);
        FUZZ_CHECK(st->r.done || (size_t)got == n);
        off += (size_t)got;
    }
    st->consumed = off;
    st->eof_err = http_response_eof(&st->r);
    FUZZ_CHECK(!st->err || st->eof_err == st->err);
}

static int err_ok(int e)
{
    return e == 0 || e == HTTP_RESP_MALFORMED || e == HTTP_RESP_HEAD_TOO_LARGE ||
           e == HTTP_RESP_BODY_TOO_LARGE || e == HTTP_RESP_TRUNCATED;
}

static void check_headers(const http_response_t *r)
{
    FUZZ_CHECK(r->nheaders <= HTTP_MAX_HEADERS);
    for (size_t i = 0; i < r->nheaders; i++) {
        const http_header_t *h = &r->headers[i];
        FUZZ_CHECK(h->name_len > 0);
        FUZZ_CHECK(memchr(h->name, ':', h->name_len) == NULL);
        FUZZ_CHECK(memchr(h->value, '\n', h->value_len) == NULL);
        FUZZ_CHECK(memchr(h->value, '\r', h->value_len) == NULL);
    }
}

/* The end state makes sense on its own. */
static void check_state(const state_t *st, size_t size, const http_limits_t *lim, int head_req)
{
    const http_response_t *r = &st->r;
    FUZZ_CHECK(err_ok(st->err) && err_ok(st->eof_err));
    FUZZ_CHECK(st->err != HTTP_RESP_TRUNCATED);
    FUZZ_CHECK(st->consumed <= size);
    FUZZ_CHECK(r->body.len <= lim->max_body);
    if (!st->err && !r->done)
        FUZZ_CHECK(st->consumed == size);
    if (!r->head_done) {
        FUZZ_CHECK(!r->done && r->body.len == 0);
        return;
    }
    FUZZ_CHECK(r->status >= 200 && r->status <= 599);
    FUZZ_CHECK(r->minor_version == 0 || r->minor_version == 1);
    check_headers(r);
    if (head_req || r->status == 204 || r->status == 304)
        FUZZ_CHECK(r->framing == HTTP_BODY_NONE && r->done && r->body.len == 0);
    if (r->framing == HTTP_BODY_CLOSE)
        FUZZ_CHECK(!r->keep_alive);
    if (r->framing == HTTP_BODY_LENGTH && r->done && !st->err)
        FUZZ_CHECK((int64_t)r->body.len == r->content_length);
    if (r->framing == HTTP_BODY_CHUNKED)
        FUZZ_CHECK(r->content_length == -1);
}

/* Two feeds of the same bytes ended alike. */
static void check_same(const state_t *a, const state_t *b)
{
    FUZZ_CHECK(a->err == b->err && a->eof_err == b->eof_err);
    if (a->err)
        return; /* where it failed, and what got in first, depend on the split */
    FUZZ_CHECK(a->consumed == b->consumed && a->r.done == b->r.done);
    FUZZ_CHECK(a->r.head_done == b->r.head_done);
    if (!a->r.head_done)
        return;
    FUZZ_CHECK(a->r.status == b->r.status && a->r.framing == b->r.framing);
    FUZZ_CHECK(a->r.keep_alive == b->r.keep_alive && a->r.content_length == b->r.content_length);
    FUZZ_CHECK(a->r.reason_len == b->r.reason_len && !memcmp(a->r.reason, b->r.reason, a->r.reason_len));
    FUZZ_CHECK(a->r.nheaders == b->r.nheaders);
    for (size_t i = 0; i < a->r.nheaders; i++) {
        const http_header_t *x = &a->r.headers[i], *y = &b->r.headers[i];
        FUZZ_CHECK(x->name_len == y->name_len && !memcmp(x->name, y->name, x->name_len));
        FUZZ_CHECK(x->value_len == y->value_len && !memcmp(x->value, y->value, x->value_len));
    }
    FUZZ_CHECK(a->r.body.len == b->r.body.len);
    FUZZ_CHECK(a->r.body.len == 0 || !memcmp(a->r.body.data, b->r.body.data, a->r.body.len));
}

/* ---- URLs ---- */

static void check_span(const char *p, size_t n, const uint8_t *data, size_t size)
{
    FUZZ_CHECK((const uint8_t *)p >= data && (size_t)((const uint8_t *)p - data) <= size - n);
    for (size_t i = 0; i < n; i++)
        FUZZ_CHECK(p[i] > 0x20 && p[i] < 0x7f && p[i] != '#');
}

static void check_url(const uint8_t *data, size_t size)
{
    char *copy = malloc(size ? size : 1);
    memcpy(copy, data, size);
    http_url_t u, v;
    if (http_url_parse(copy, size, &u) == 0) {
        size_t hl = strlen(u.host);
        FUZZ_CHECK(hl > 0 && hl < sizeof u.host && u.port > 0);
        FUZZ_CHECK(u.port_explicit || u.port == (u.https ? 443 : 80));
        check_span(u.path, u.path_len, (const uint8_t *)copy, size);
        FUZZ_CHECK(u.path_len == 0 || u.path[0] == '/');
        if (u.query)
            check_span(u.query, u.query_len, (const uint8_t *)copy, size);
        char again[HTTP_URL_MAX + 512];
        int n = snprintf(again, sizeof again, "%s://%s%s%s:%u%.*s%s%.*s", u.https ? "https" : "http",
                         u.host_ipv6 ? "[" : "", u.host, u.host_ipv6 ? "]" : "", (unsigned)u.port,
                         (int)u.path_len, u.path, u.query ? "?" : "", (int)u.query_len, u.query ? u.query : "");
        if (n > 0 && (size_t)n <= HTTP_URL_MAX) {
            FUZZ_CHECK(http_url_parse(again, (size_t)n, &v) == 0);
            FUZZ_CHECK(v.https == u.https && v.port == u.port && !strcmp(v.host, u.host));
            FUZZ_CHECK(v.host_ipv6 == u.host_ipv6 && v.path_len == u.path_len && !!v.query == !!u.query);
            FUZZ_CHECK(!memcmp(v.path, u.path, u.path_len) && v.query_len == u.query_len);
        }
    }
    free(copy);
}

static uint32_t fnv1a(const uint8_t *p, size_t n)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 16777619u;
    return h ? h : 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint32_t seed = fnv1a(data, size);
    check_url(data, size);
    for (size_t l = 0; l < sizeof fuzz_limits / sizeof fuzz_limits[0]; l++) {
        for (int head_req = 0; head_req < 2; head_req++) {
            const http_limits_t *lim = &fuzz_limits[l];
            state_t whole, bytes, pieces;
            feed(data, size, lim, head_req, size ? size : 1, seed, &whole);
            feed(data, size, lim, head_req, 1, seed, &bytes);
            feed(data, size, lim, head_req, 0, seed, &pieces);
            check_state(&whole, size, lim, head_req);
            check_same(&whole, &bytes);
            check_same(&whole, &pieces);
            http_response_free(&whole.r);
            http_response_free(&bytes.r);
            http_response_free(&pieces.r);
        }
    }
    return 0;
}
