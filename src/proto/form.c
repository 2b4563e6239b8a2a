/* form — x-www-form-urlencoded decoding; the rules are in form.h. */
#include "proto/form.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/alloc.h"

static int hex_digit(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static void set_why(char *why, size_t why_len, const char *what, size_t off)
{
    if (why_len)
        snprintf(why, why_len, "%s at offset %zu", what, off);
}

/* The byte that the escape "%XX" at s[i] stands for, or -1 when it is malformed. */
static int escaped_byte(const char *s, size_t n, size_t i)
{
    int hi = i + 1 < n ? hex_digit(s[i + 1]) : -1;
    int lo = i + 2 < n ? hex_digit(s[i + 2]) : -1;
    return hi < 0 || lo < 0 ? -1 : hi << 4 | lo;
}

/*
 * Decodes s[0..n) into a fresh NUL-terminated string in *out. base is the
 * offset of s in the whole input, for the error text. Returns 0 or -1.
 */
static int decode_part(const char *s, size_t n, size_t base, char **out, char *why, size_t why_len)
{
    char *d = xmalloc(n + 1);
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        size_t at = i;
        int c = (unsigned char)s[i];
        if (c == '%') {
            if ((c = escaped_byte(s, n, i)) < 0) {
                set_why(why, why_len, "malformed percent-escape", base + i);
                goto fail;
            }
            i += 2;
        } else if (c == '+') {
            c = ' ';
        }
        if (c == 0) {
            set_why(why, why_len, "NUL byte", base + at);
            goto fail;
        }
        d[k++] = (char)c;
    }
    d[k] = '\0';
    *out = d;
    return 0;
fail:
    free(d);
    return -1;
}

/* Decodes one "key[=value]" pair at s[0..n) and appends it unless the key is empty. */
static int parse_pair(const char *s, size_t n, size_t base, kvv_t *out, char *why, size_t why_len)
{
    const char *eq = memchr(s, '=', n);
    size_t klen = eq ? (size_t)(eq - s) : n;
    char *key, *val;
    if (decode_part(s, klen, base, &key, why, why_len) != 0)
        return -1;
    size_t voff = eq ? klen + 1 : n;
    if (decode_part(s + voff, n - voff, base + voff, &val, why, why_len) != 0) {
        free(key);
        return -1;
    }
    if (key[0] != '\0')
        kvv_add_own(out, key, val);
    else
        free(val);
    free(key);
    return 0;
}

int form_parse(const char *s, size_t n, kvv_t *out, char *why, size_t why_len)
{
    size_t start = 0;
    while (start < n) {
        const char *amp = memchr(s + start, '&', n - start);
        size_t end = amp ? (size_t)(amp - s) : n;
        if (end > start && parse_pair(s + start, end - start, start, out, why, why_len) != 0) {
            kvv_free(out);
            return -1;
        }
        start = end + 1;
    }
    return 0;
}

int form_decode_segment(const char *s, size_t n, char *out, size_t cap)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        int c = (unsigned char)s[i];
        if (c == '%') {
            c = escaped_byte(s, n, i);
            i += 2;
        }
        if (c <= 0 || o + 1 >= cap)
            return -1;
        out[o++] = (char)c;
    }
    out[o] = '\0';
    return 0;
}
