/* buf — growable byte buffer and its bounds-checked reader. */
#include "util/buf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/alloc.h"

void buf_init(buf_t *b)
{
    b->data = NULL;
    b->len = b->cap = 0;
}

void buf_free(buf_t *b)
{
    free(b->data);
    buf_init(b);
}

void buf_reserve(buf_t *b, size_t n)
{
    if (b->len + n + 1 <= b->cap)
        return;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < b->len + n + 1)
        cap *= 2;
    b->data = xrealloc(b->data, cap);
    b->cap = cap;
}

void buf_append(buf_t *b, const void *p, size_t n)
{
    buf_reserve(b, n);
    if (n)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
}

void buf_puts(buf_t *b, const char *s)
{
    buf_append(b, s, strlen(s));
}

void buf_putc(buf_t *b, char c)
{
    buf_append(b, &c, 1);
}

void buf_vprintf(buf_t *b, const char *fmt, va_list ap)
{
    va_list cp;
    va_copy(cp, ap);
    buf_reserve(b, 256); /* most lines fit: one formatting pass, not two */
    int n = vsnprintf(b->data + b->len, b->cap - b->len, fmt, ap);
    if (n >= 0 && (size_t)n >= b->cap - b->len) {
        buf_reserve(b, (size_t)n);
        vsnprintf(b->data + b->len, b->cap - b->len, fmt, cp);
    }
    va_end(cp);
    if (n > 0)
        b->len += (size_t)n;
}

void buf_printf(buf_t *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    buf_vprintf(b, fmt, ap);
    va_end(ap);
}

void buf_put_u8(buf_t *b, uint8_t v)
{
    buf_append(b, &v, 1);
}

void buf_put_u32(buf_t *b, uint32_t v)
{
    uint8_t x[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
    buf_append(b, x, 4);
}

void buf_put_u64(buf_t *b, uint64_t v)
{
    buf_put_u32(b, (uint32_t)v);
    buf_put_u32(b, (uint32_t)(v >> 32));
}

void buf_put_bytes(buf_t *b, const void *p, uint32_t n)
{
    buf_put_u32(b, n);
    buf_append(b, p, n);
}

void buf_put_str(buf_t *b, const char *s)
{
    if (!s) {
        buf_put_u32(b, 0xffffffffu);
        return;
    }
    buf_put_bytes(b, s, (uint32_t)strlen(s));
}

void buf_consume(buf_t *b, size_t n)
{
    if (n >= b->len) {
        b->len = 0;
    } else {
        memmove(b->data, b->data + n, b->len - n);
        b->len -= n;
    }
    if (b->data)
        b->data[b->len] = '\0';
}

void buf_reset(buf_t *b)
{
    b->len = 0;
    if (b->data)
        b->data[0] = '\0';
}

char *buf_detach(buf_t *b, size_t *len)
{
    if (!b->data)
        buf_reserve(b, 0), b->data[0] = '\0';
    char *p = b->data;
    if (len)
        *len = b->len;
    buf_init(b);
    return p;
}

void reader_init(reader_t *r, const void *p, size_t len)
{
    r->p = p;
    r->len = len;
    r->off = 0;
    r->err = 0;
}

static int reader_need(reader_t *r, size_t n)
{
    if (r->err || r->len - r->off < n) {
        r->err = 1;
        return 0;
    }
    return 1;
}

uint8_t reader_u8(reader_t *r)
{
    if (!reader_need(r, 1))
        return 0;
    return r->p[r->off++];
}

uint32_t reader_u32(reader_t *r)
{
    if (!reader_need(r, 4))
        return 0;
    const uint8_t *x = r->p + r->off;
    r->off += 4;
    return (uint32_t)x[0] | (uint32_t)x[1] << 8 | (uint32_t)x[2] << 16 | (uint32_t)x[3] << 24;
}

uint64_t reader_u64(reader_t *r)
{
    uint64_t lo = reader_u32(r);
    uint64_t hi = reader_u32(r);
    return lo | hi << 32;
}

const char *reader_bytes(reader_t *r, uint32_t *n)
{
    uint32_t len = reader_u32(r);
    *n = 0;
    if (len == 0xffffffffu || !reader_need(r, len))
        return NULL;
    const char *p = (const char *)r->p + r->off;
    r->off += len;
    *n = len;
    return p;
}

char *reader_strdup(reader_t *r)
{
    uint32_t n;
    size_t save = r->off;
    uint32_t len = reader_u32(r);
    if (r->err)
        return NULL;
    if (len == 0xffffffffu)
        return NULL;
    r->off = save;
    const char *p = reader_bytes(r, &n);
    return r->err ? NULL : xmemdup(p, n);
}
