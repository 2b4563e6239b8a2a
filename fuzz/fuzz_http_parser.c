/*
 * fuzz_http_parser — libFuzzer target for http_parse_head and
 * http_chunked_decode. The input is a request as it arrives on a socket.
 *
 * Head: parsed under default and under tiny limits (so 431/413 paths are hit
 * constantly); the verdict must be one of the documented ones, a complete
 * head must be internally consistent (pointers inside the head, values
 * trimmed, framing fields exclusive, ends in CRLF CRLF), and every prefix
 * must answer 0 or the same verdict — the parser's "split anywhere"
 * promise. Each parse sees a heap copy of exactly the bytes it is given, so
 * ASan catches a read past them.
 *
 * Body: the bytes after a parsed head (or the whole input when there is no
 * head, to reach the decoder directly) go through the chunked decoder whole,
 * one byte at a time and in pseudo-random pieces seeded from the input; all
 * three must agree on the status, the bytes consumed, done and the payload,
 * and the payload must respect max_body.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "net/http_parser.h"

static const http_limits_t fuzz_limits[] = {
    {8192, 64, 1 << 20}, /* the daemon's defaults */
    {96, 3, 16},         /* tiny: every limit is within reach */
};

/* ---- head ---- */

static ssize_t parse_copy(const uint8_t *data, size_t len, const http_limits_t *lim, http_head_t *h)
{
    char *copy = malloc(len ? len : 1);
    if (len)
        memcpy(copy, data, len);
    ssize_t r = http_parse_head(copy, len, lim, h);
    free(copy);
    return r;
}

static int verdict_ok(ssize_t r)
{
    return r >= 0 || r == -400 || r == -413 || r == -431 || r == -501 || r == -505;
}

static int inside(const char *p, size_t n, const char *base, size_t len)
{
    return p >= base && n <= len && (size_t)(p - base) <= len - n;
}

static void check_field(const http_head_t *h, const http_header_t *f, const char *base, size_t len)
{
    FUZZ_CHECK(f->name_len > 0 && inside(f->name, f->name_len, base, len));
    FUZZ_CHECK(inside(f->value, f->value_len, base, len));
    for (size_t i = 0; i < f->value_len; i++)
        FUZZ_CHECK(f->value[i] != '\r' && f->value[i] != '\n' && f->value[i] != '\0');
    if (f->value_len) {
        char a = f->value[0], z = f->value[f->value_len - 1];
        FUZZ_CHECK(a != ' ' && a != '\t' && z != ' ' && z != '\t');
    }
    char name[256];
    if (f->name_len < sizeof name) {
        memcpy(name, f->name, f->name_len);
        name[f->name_len] = '\0';
        const http_header_t *found = http_head_find(h, name);
        FUZZ_CHECK(found != NULL && found <= f && found->name_len == f->name_len);
    }
}

static void check_complete(const char *base, size_t len, const http_limits_t *lim, const http_head_t *h,
                           ssize_t r)
{
    size_t n = (size_t)r;
    FUZZ_CHECK(n <= len && n <= lim->max_head && h->head_len == n);
    FUZZ_CHECK(n >= 4 && memcmp(base + n - 4, "\r\n\r\n", 4) == 0);
    FUZZ_CHECK(h->method_len > 0 && inside(h->method, h->method_len, base, n));
    FUZZ_CHECK(h->target_len > 0 && inside(h->target, h->target_len, base, n));
    FUZZ_CHECK(h->minor_version == 0 || h->minor_version == 1);
    FUZZ_CHECK(h->nheaders <= lim->max_headers && h->nheaders <= HTTP_MAX_HEADERS);
    for (size_t i = 0; i < h->nheaders; i++)
        check_field(h, &h->headers[i], base, n);
    FUZZ_CHECK(h->content_length >= -1);
    FUZZ_CHECK(h->content_length < 0 || (uint64_t)h->content_length <= lim->max_body);
    FUZZ_CHECK(!(h->chunked && h->content_length >= 0));
    FUZZ_CHECK(h->chunked == 0 || h->chunked == 1);
    FUZZ_CHECK(h->keep_alive == 0 || h->keep_alive == 1);
    FUZZ_CHECK(h->expect_continue == 0 || (h->expect_continue == 1 && h->minor_version == 1));
}

/* Every prefix answers 0 or the whole's verdict. Long inputs check about 64
 * prefixes, at offsets that move with the input so mutations cover them all. */
static void check_prefixes(const uint8_t *data, size_t size, const http_limits_t *lim, ssize_t whole,
                           uint32_t seed)
{
    size_t stride = size <= 64 ? 1 : size / 64;
    http_head_t h;
    for (size_t k = seed % stride; k < size; k += stride) {
        ssize_t r = parse_copy(data, k, lim, &h);
        if (whole > 0 && (size_t)whole > k)
            FUZZ_CHECK(r == 0);
        else
            FUZZ_CHECK(r == 0 || r == whole);
    }
}

/* ---- chunked body ---- */

typedef struct decoded {
    ssize_t status; /* bytes consumed, or the error */
    int done;
    buf_t body;
} decoded_t;

static uint32_t next_rand(uint32_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 17;
    *s ^= *s << 5;
    return *s;
}

/* Feeds in[0..len) in pieces (step 0: pseudo-random sizes), as a connection would. */
static void decode(const uint8_t *in, size_t len, size_t step, uint32_t seed, size_t max_body,
                   decoded_t *d)
{
    http_chunked_t c;
    http_chunked_init(&c);
    buf_init(&d->body);
    d->status = 0;
    size_t off = 0;
    while (off < len && !c.done) {
        size_t n = step ? step : 1 + next_rand(&seed) % 64;
        if (n > len - off)
            n = len - off;
        char *piece = malloc(n);
        memcpy(piece, in + off, n);
        ssize_t r = http_chunked_decode(&c, piece, n, &d->body, max_body);
        free(piece);
        if (r < 0) {
            d->status = r;
            FUZZ_CHECK(r == -400 || r == -413);
            FUZZ_CHECK(http_chunked_decode(&c, "0\r\n\r\n", 5, &d->body, max_body) == r);
            break;
        }
        FUZZ_CHECK((size_t)r <= n);
        FUZZ_CHECK(c.done || (size_t)r == n);
        off += (size_t)r;
        d->status = (ssize_t)off;
    }
    d->done = c.done;
    FUZZ_CHECK(c.total == d->body.len && c.total <= max_body);
    if (c.done)
        FUZZ_CHECK(d->status >= 5 && memcmp(in + d->status - 2, "\r\n", 2) == 0);
}

static void check_same(const decoded_t *a, const decoded_t *b)
{
    FUZZ_CHECK(a->status == b->status && a->done == b->done);
    FUZZ_CHECK(a->body.len == b->body.len);
    FUZZ_CHECK(a->body.len == 0 || memcmp(a->body.data, b->body.data, a->body.len) == 0);
}

static void check_chunked(const uint8_t *in, size_t len, size_t max_body, uint32_t seed)
{
    decoded_t whole, bytes, pieces;
    decode(in, len, len ? len : 1, seed, max_body, &whole);
    decode(in, len, 1, seed, max_body, &bytes);
    decode(in, len, 0, seed, max_body, &pieces);
    check_same(&whole, &bytes);
    check_same(&whole, &pieces);
    buf_free(&whole.body);
    buf_free(&bytes.body);
    buf_free(&pieces.body);
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
    ssize_t verdict[2];
    for (size_t i = 0; i < 2; i++) {
        const http_limits_t *lim = &fuzz_limits[i];
        http_head_t h;
        ssize_t r = http_parse_head((const char *)data, size, lim, &h);
        FUZZ_CHECK(verdict_ok(r));
        if (r > 0)
            check_complete((const char *)data, size, lim, &h, r);
        check_prefixes(data, size, lim, r, seed);
        verdict[i] = r;
    }
    /* Tighter limits can only turn a verdict into 431 or 413. */
    FUZZ_CHECK(verdict[1] == verdict[0] || verdict[1] == -431 || verdict[1] == -413);
    ssize_t head_len = verdict[0];
    const uint8_t *body = head_len > 0 ? data + head_len : data;
    size_t body_len = head_len > 0 ? size - (size_t)head_len : size;
    check_chunked(body, body_len, fuzz_limits[0].max_body, seed);
    check_chunked(body, body_len, fuzz_limits[1].max_body, seed);
    check_chunked(body, body_len, SIZE_MAX, seed); /* reaches the size overflow check */
    return 0;
}
