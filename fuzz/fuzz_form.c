/*
 * fuzz_form — libFuzzer target for form_parse. The input is a request body
 * or URL query string as a client sends it.
 *
 * The verdict is 0 or -1; on -1 the output is empty and the reason says
 * where; on 0 every key is non-empty and no key or value holds NUL (they
 * are C strings, so that shows as a length check against a re-decode). A
 * parse is then checked against an independent re-encoding: percent-
 * encoding every decoded pair byte by byte (spaces as '+') and parsing that
 * again must give the same pairs in the same order. The parser sees a heap
 * copy of exactly the input bytes, so ASan catches any over-read.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "proto/form.h"
#include "util/buf.h"

static int parse_copy(const uint8_t *data, size_t len, kvv_t *out, char *why, size_t why_len)
{
    char *copy = malloc(len ? len : 1);
    if (len)
        memcpy(copy, data, len);
    int r = form_parse(copy, len, out, why, why_len);
    free(copy);
    return r;
}

/* Percent-encodes s, every byte but unreserved ones; space as '+'. */
static void encode(buf_t *b, const char *s)
{
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == ' ')
            buf_putc(b, '+');
        else if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || strchr("-._~", c))
            buf_putc(b, (char)c);
        else
            buf_printf(b, "%%%02X", c);
    }
}

static void check_reencoding(const kvv_t *f)
{
    buf_t b = BUF_INIT;
    for (size_t i = 0; i < f->n; i++) {
        if (i)
            buf_putc(&b, '&');
        encode(&b, f->v[i].key);
        buf_putc(&b, '=');
        encode(&b, f->v[i].val);
    }
    kvv_t again = {0};
    FUZZ_CHECK(parse_copy((const uint8_t *)b.data, b.len, &again, NULL, 0) == 0);
    FUZZ_CHECK(again.n == f->n);
    for (size_t i = 0; i < f->n; i++) {
        FUZZ_CHECK(strcmp(again.v[i].key, f->v[i].key) == 0);
        FUZZ_CHECK(strcmp(again.v[i].val, f->v[i].val) == 0);
    }
    kvv_free(&again);
    buf_free(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    kvv_t f = {0};
    char why[96] = "";
    int r = parse_copy(data, size, &f, why, sizeof why);
    FUZZ_CHECK(r == 0 || r == -1);
    if (r < 0) {
        FUZZ_CHECK(f.n == 0 && f.v == NULL);
        FUZZ_CHECK(strstr(why, " at offset ") != NULL);
        FUZZ_CHECK(memchr(data, '%', size) || memchr(data, '\0', size));
        return 0;
    }
    size_t decoded = 0;
    for (size_t i = 0; i < f.n; i++) {
        FUZZ_CHECK(f.v[i].key[0] != '\0');
        decoded += strlen(f.v[i].key) + strlen(f.v[i].val);
    }
    FUZZ_CHECK(decoded <= size); /* decoding never grows the text */
    FUZZ_CHECK(!memchr(data, '\0', size));
    check_reencoding(&f);
    kvv_free(&f);
    return 0;
}
