/*
 * http_parser — the HTTP/1.x request-head parser and chunked-body decoder
 * (contract in http_parser.h). Pure functions over the caller's bytes: no
 * sockets, no allocation except buf_append into the caller's body buffer.
 *
 * Head model. http_parse_head is one left-to-right scan over at most
 * lim->max_head bytes: empty lines (CRLF) before the request line, the
 * request line, header lines, the blank line, then the framing checks. Each
 * step asks for the next byte only when it needs it; when the bytes run out
 * the answer is "partial" (0), or 431 if the caller already holds more than
 * max_head bytes. So every verdict depends only on the bytes up to where the
 * scan stopped: feeding a request in any number of pieces gives the same
 * answer as feeding it whole (the fuzz target checks this), and a partial
 * head is an error only when the bytes seen so far already break a rule (a
 * TLS hello on the plain port fails at its first byte). The caller re-parses
 * from the start each time more bytes arrive; with max_head bounded, a client
 * trickling one byte per packet costs O(max_head^2) byte looks at worst.
 *
 * Line endings: CRLF only, in the request line, the header lines and the
 * chunked framing alike; a bare LF or a CR not followed by LF is 400.
 * RFC 9112 §2.2 lets a server accept bare LF in header lines, but parsers
 * disagreeing about where a line ends is the root of request smuggling, and
 * every client Sluice serves (boto3, AWS CLI, SDKs, curl) sends CRLF, so the
 * tolerance would buy nothing. Likewise obs-fold and whitespace before a
 * colon are 400 (RFC 9112 §5.1, §5.2).
 *
 * Framing, checked once the blank line is in (so it does not depend on the
 * order of the header lines): Content-Length must be 1*DIGIT fitting int64
 * (a list such as "5, 5" is 400), repeated lines must agree; any
 * Transfer-Encoding together with Content-Length, in an HTTP/1.0 request
 * (RFC 9112 §6.1: framing is faulty) or on more than one line is 400; a
 * single Transfer-Encoding other than "chunked" (case-insensitive, so
 * "gzip, chunked" too) is 501; a Content-Length over max_body is 413.
 * Expect: 100-continue is honoured only in HTTP/1.1 (RFC 9110 §10.1.1).
 *
 * Chunked model. http_chunked_decode is a byte-at-a-time state machine for
 * the framing (size lines, extensions, CRLFs, trailers) that copies chunk
 * payload in bulk. Its whole state lives in http_chunked_t, so input may be
 * split anywhere. A chunk-size line (digits, extensions, CRLF) is bounded by
 * HTTP_LINE_MAX bytes, and so is the whole trailer section (line_len then
 * counts the section, not one line), so a peer cannot make the decoder spin
 * on framing without producing payload. Extensions are checked lexically
 * (token characters, '=', ';', BWS, well-formed quoted strings) and dropped;
 * trailer fields are checked like header lines and dropped. A chunk whose
 * size would take the total over max_body is 413 as soon as its size digits
 * say so. Errors are sticky: later calls return the same status.
 */
#include "net/http_parser.h"

#include <string.h>

#define HTTP_LINE_MAX 4096

/* Character classes: RFC 9110 tchar, request-target bytes (VCHAR),
 * field-content bytes (VCHAR, obs-text, SP, HTAB), hex digits. */
enum { C_TCHAR = 1, C_TARGET = 2, C_VALUE = 4, C_HEX = 8 };

static const uint8_t http_cls[256] = {
    0,  0,  0,  0,  0,  0,  0,  0,  0,  4,  0,  0,  0,  0,  0,  0,  /* 0x00 */
    0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  /* 0x10 */
    4,  7,  6,  7,  7,  7,  7,  7,  6,  6,  7,  7,  6,  7,  7,  6,  /* 0x20 */
    15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 6,  6,  6,  6,  6,  6,  /* 0x30 */
    6,  15, 15, 15, 15, 15, 15, 7,  7,  7,  7,  7,  7,  7,  7,  7,  /* 0x40 */
    7,  7,  7,  7,  7,  7,  7,  7,  7,  7,  7,  6,  6,  6,  7,  7,  /* 0x50 */
    7,  15, 15, 15, 15, 15, 15, 7,  7,  7,  7,  7,  7,  7,  7,  7,  /* 0x60 */
    7,  7,  7,  7,  7,  7,  7,  7,  7,  7,  7,  6,  7,  6,  7,  0,  /* 0x70 */
    4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  /* 0x80 */
    4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  /* 0x90 */
    4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  /* 0xa0 */
    4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  /* 0xb0 */
    4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  /* 0xc0 */
    4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  /* 0xd0 */
    4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  /* 0xe0 */
    4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  /* 0xf0 */
};

static inline int is_cls(char c, int cls)
{
    return http_cls[(unsigned char)c] & cls;
}

static inline unsigned char ascii_lower(unsigned char c)
{
    return c >= 'A' && c <= 'Z' ? (unsigned char)(c + 32) : c;
}

/* Case-insensitive equality of a[0..n) and b[0..n), for any bytes. */
static int mem_ieq(const char *a, const char *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (ascii_lower((unsigned char)a[i]) != ascii_lower((unsigned char)b[i]))
            return 0;
    return 1;
}

/*
 * a[0..n) equals the lowercase literal lit, ignoring ASCII case. OR-ing 0x20
 * folds case exactly because a holds validated head bytes: it could only
 * confuse a control byte with '-' or a digit, and those never get this far.
 */
static inline int lit_ieq(const char *a, size_t n, const char *lit, size_t lit_len)
{
    if (n != lit_len)
        return 0;
    for (size_t i = 0; i < n; i++)
        if ((a[i] | 0x20) != lit[i])
            return 0;
    return 1;
}
#define LIT_IEQ(a, n, lit) lit_ieq((a), (n), (lit), sizeof(lit) - 1)

/* Returns the first byte at or after p that is not of class cls (or end).
 * Unrolled because it is the loop nearly every head byte goes through. */
static inline const char *skip_cls(const char *p, const char *end, int cls)
{
    while (end - p >= 4) {
        if (!is_cls(p[0], cls))
            return p;
        if (!is_cls(p[1], cls))
            return p + 1;
        if (!is_cls(p[2], cls))
            return p + 2;
        if (!is_cls(p[3], cls))
            return p + 3;
        p += 4;
    }
    while (p < end && is_cls(*p, cls))
        p++;
    return p;
}

/*
 * Word-at-a-time pre-scan for the long runs (targets, values): nonzero if
 * some byte of x may fall outside cls. Exact for C_TARGET; for C_VALUE it
 * also stops at HTAB, which skip_run then lets through. swar_less is the
 * bit-twiddling "has a byte < n" test, exact as a boolean for n <= 128.
 */
#define SWAR_ONES 0x0101010101010101ull
#define SWAR_HIGH 0x8080808080808080ull

static inline uint64_t swar_less(uint64_t x, unsigned n)
{
    return (x - SWAR_ONES * n) & ~x & SWAR_HIGH;
}

static inline uint64_t swar_maybe_out(uint64_t x, int cls)
{
    uint64_t del = swar_less(x ^ (SWAR_ONES * 0x7f), 1);
    if (cls == C_TARGET)
        return swar_less(x, 0x21) | del | (x & SWAR_HIGH);
    return swar_less(x, 0x20) | del;
}

/* skip_cls for cls C_TARGET or C_VALUE, eight bytes per step. */
static inline const char *skip_run(const char *p, const char *end, int cls)
{
    for (;;) {
        uint64_t x;
        while (end - p >= 8 && (memcpy(&x, p, 8), !swar_maybe_out(x, cls)))
            p += 8;
        const char *stop = end - p > 8 ? p + 8 : end;
        const char *q = skip_cls(p, stop, cls);
        if (q != stop || stop == end)
            return q;
        p = q;
    }
}

static inline const char *skip_ows(const char *p, const char *end)
{
    while (p < end && (*p == ' ' || *p == '\t'))
        p++;
    return p;
}

/* The end of s..e with trailing SP/HTAB dropped. */
static inline const char *trim_ows_end(const char *s, const char *e)
{
    while (e > s && (e[-1] == ' ' || e[-1] == '\t'))
        e--;
    return e;
}

/* ---- the request head: each step returns 1 done, 0 partial, <0 status ---- */

/* Per-request facts gathered from the header lines, judged at the end. */
typedef struct head_facts {
    int te_lines;        /* Transfer-Encoding field lines */
    int te_chunked;      /* the last one was exactly "chunked" */
    int conn_close;      /* Connection carries the "close" token */
    int conn_keep_alive; /* ... the "keep-alive" token */
    int expect_100;      /* Expect: 100-continue */
} head_facts_t;

/* RFC 9112 §2.2: ignore empty lines before the request line. */
static int head_skip_empty_lines(const char **pp, const char *end)
{
    const char *p = *pp;
    while (p < end && *p == '\r') {
        if (p + 1 == end)
            return 0;
        if (p[1] != '\n')
            return -400;
        p += 2;
    }
    *pp = p;
    return p < end;
}

static int is_scheme_char(unsigned char c)
{
    c = ascii_lower(c);
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' || c == '-' || c == '.';
}

/* origin-form "/...", asterisk-form "*", or absolute/authority-form, which
 * begins with a scheme or host name and a colon: ALPHA *(ALPHA/DIGIT/+-.) ":" */
static int head_target_ok(const char *t, size_t n)
{
    if (t[0] == '/' || (n == 1 && t[0] == '*'))
        return 1;
    unsigned char c0 = ascii_lower((unsigned char)t[0]);
    if (c0 < 'a' || c0 > 'z')
        return 0;
    for (size_t i = 1; i < n && t[i] != ':'; i++)
        if (!is_scheme_char((unsigned char)t[i]))
            return 0;
    return memchr(t, ':', n) != NULL;
}

/* "HTTP/" DIGIT "." DIGIT CRLF; a well-formed version other than 1.0 or
 * 1.1 is 505, anything else 400. */
static int head_version(const char **pp, const char *end, int *minor)
{
    static const char pat[] = "HTTP/d.d\r\n";
    const char *p = *pp;
    for (size_t i = 0; i < sizeof pat - 1; i++) {
        if (p + i == end)
            return 0;
        char c = p[i];
        if (pat[i] == 'd' ? (c < '0' || c > '9') : c != pat[i])
            return -400;
    }
    if (p[5] != '1' || (p[7] != '0' && p[7] != '1'))
        return -505;
    *minor = p[7] - '0';
    *pp = p + sizeof pat - 1;
    return 1;
}

/* method SP request-target SP HTTP-version CRLF */
static int head_request_line(const char **pp, const char *end, http_head_t *out)
{
    const char *m = *pp;
    const char *p = skip_cls(m, end, C_TCHAR);
    if (p == end)
        return 0;
    if (*p != ' ' || p == m)
        return -400;
    const char *t = ++p;
    p = skip_run(p, end, C_TARGET);
    if (p == end)
        return 0;
    if (*p != ' ' || p == t || !head_target_ok(t, (size_t)(p - t)))
        return -400;
    out->method = m;
    out->method_len = (size_t)(t - 1 - m);
    out->target = t;
    out->target_len = (size_t)(p - t);
    *pp = p + 1;
    return head_version(pp, end, &out->minor_version);
}

/* field-name ":" OWS field-value OWS CRLF, into *h. */
static int head_field(const char **pp, const char *end, http_header_t *h)
{
    const char *name = *pp;
    const char *p = skip_cls(name, end, C_TCHAR);
    if (p == end)
        return 0;
    if (*p != ':' || p == name)
        return -400; /* obs-fold, space before colon, bad name byte */
    const char *v = skip_ows(p + 1, end);
    const char *ve = skip_run(v, end, C_VALUE);
    if (ve == end)
        return 0;
    if (*ve != '\r')
        return -400; /* control byte or bare LF */
    if (ve + 1 == end)
        return 0;
    if (ve[1] != '\n')
        return -400;
    h->name = name;
    h->name_len = (size_t)(p - name);
    h->value = v;
    *pp = ve + 2;
    h->value_len = (size_t)(trim_ows_end(v, ve) - v);
    return 1;
}

/* Content-Length = 1*DIGIT, fitting int64; repeats must agree. */
static int head_content_length(http_head_t *out, const http_header_t *h)
{
    int64_t n = 0;
    if (h->value_len == 0)
        return -400;
    for (size_t i = 0; i < h->value_len; i++) {
        int d = h->value[i] - '0';
        if (d < 0 || d > 9 || n > (INT64_MAX - d) / 10)
            return -400;
        n = n * 10 + d;
    }
    if (out->content_length >= 0 && out->content_length != n)
        return -400;
    out->content_length = n;
    return 1;
}

/* Notes the "close" and "keep-alive" tokens of a Connection list. */
static void head_connection(head_facts_t *f, const http_header_t *h)
{
    const char *p = h->value, *end = h->value + h->value_len;
    while (p < end) {
        const char *comma = memchr(p, ',', (size_t)(end - p));
        const char *t = skip_ows(p, comma ? comma : end);
        const char *te = trim_ows_end(t, comma ? comma : end);
        if (LIT_IEQ(t, (size_t)(te - t), "close"))
            f->conn_close = 1;
        else if (LIT_IEQ(t, (size_t)(te - t), "keep-alive"))
            f->conn_keep_alive = 1;
        p = comma ? comma + 1 : end;
    }
}

/* Records what a header line means for framing and connection handling. */
static int head_note(http_head_t *out, head_facts_t *f, const http_header_t *h)
{
    const char *n = h->name;
    switch (h->name_len) {
    case 14:
        if (LIT_IEQ(n, 14, "content-length"))
            return head_content_length(out, h);
        break;
    case 17:
        if (LIT_IEQ(n, 17, "transfer-encoding")) {
            f->te_lines++;
            f->te_chunked = LIT_IEQ(h->value, h->value_len, "chunked");
        }
        break;
    case 10:
        if (LIT_IEQ(n, 10, "connection"))
            head_connection(f, h);
        break;
    case 6:
        if (LIT_IEQ(n, 6, "expect") && LIT_IEQ(h->value, h->value_len, "100-continue"))
            f->expect_100 = 1;
        break;
    }
    return 1;
}

/* Header lines up to and including the blank line. */
static int head_fields(const char **pp, const char *end, size_t max_headers, http_head_t *out,
                       head_facts_t *f)
{
    const char *p = *pp;
    for (;;) {
        if (p == end)
            return 0;
        if (*p == '\r')
            break;
        if (out->nheaders == max_headers)
            return -431;
        http_header_t *h = &out->headers[out->nheaders];
        int r = head_field(&p, end, h);
        if (r > 0)
            r = head_note(out, f, h);
        if (r <= 0)
            return r;
        out->nheaders++;
    }
    if (p + 1 == end)
        return 0;
    if (p[1] != '\n')
        return -400;
    *pp = p + 2;
    return 1;
}

/* Framing and connection verdicts once the whole head is in. */
static int head_finish(http_head_t *out, const head_facts_t *f, const http_limits_t *lim)
{
    if (f->te_lines) {
        if (out->content_length >= 0 || f->te_lines > 1 || out->minor_version == 0)
            return -400;
        if (!f->te_chunked)
            return -501;
        out->chunked = 1;
    }
    if (out->content_length >= 0 && (uint64_t)out->content_length > (uint64_t)lim->max_body)
        return -413;
    out->expect_continue = out->minor_version == 1 && f->expect_100;
    if (out->minor_version == 1)
        out->keep_alive = !f->conn_close;
    else
        out->keep_alive = f->conn_keep_alive && !f->conn_close;
    return 1;
}

static void head_reset(http_head_t *out)
{
    out->method = out->target = NULL;
    out->method_len = out->target_len = 0;
    out->minor_version = 0;
    out->nheaders = 0;
    out->content_length = -1;
    out->chunked = out->expect_continue = out->keep_alive = 0;
    out->head_len = 0;
}

ssize_t http_parse_head(const char *buf, size_t len, const http_limits_t *lim, http_head_t *out)
{
    size_t max_headers = lim->max_headers < HTTP_MAX_HEADERS ? lim->max_headers : HTTP_MAX_HEADERS;
    head_facts_t facts = {0};
    head_reset(out);
    if (len == 0)
        return 0;
    const char *p = buf, *end = buf + (len < lim->max_head ? len : lim->max_head);
    int r = head_skip_empty_lines(&p, end);
    if (r > 0)
        r = head_request_line(&p, end, out);
    if (r > 0)
        r = head_fields(&p, end, max_headers, out, &facts);
    if (r > 0)
        r = head_finish(out, &facts, lim);
    if (r == 0)
        return len > lim->max_head ? -431 : 0;
    if (r < 0)
        return r;
    out->head_len = (size_t)(p - buf);
    return (ssize_t)out->head_len;
}

const http_header_t *http_head_find(const http_head_t *h, const char *name)
{
    size_t n = strlen(name);
    for (size_t i = 0; i < h->nheaders; i++)
        if (h->headers[i].name_len == n && mem_ieq(h->headers[i].name, name, n))
            return &h->headers[i];
    return NULL;
}

/* ---- the chunked decoder ---- */

enum {
    CH_SIZE0,    /* start of a chunk-size line: a hex digit must come */
    CH_SIZE,     /* more hex digits, BWS, ';' or CR */
    CH_SIZE_BWS, /* whitespace after the size: ';' or CR must come */
    CH_EXT,      /* chunk extensions, up to CR */
    CH_EXT_QS,   /* inside a quoted-string extension value */
    CH_EXT_QP,   /* after a backslash inside it */
    CH_SIZE_LF,  /* CR of the size line seen */
    CH_DATA,     /* chunk_left payload bytes to copy */
    CH_DATA_CR,  /* CRLF after the payload */
    CH_DATA_LF,
    CH_TRAILER,  /* start of a trailer line, or the final CRLF */
    CH_TR_NAME,  /* trailer field name */
    CH_TR_VALUE, /* trailer field value, up to CR */
    CH_TR_LF,    /* CR of a trailer line seen */
    CH_END_LF,   /* CR of the final CRLF seen */
    CH_DONE
};

void http_chunked_init(http_chunked_t *c)
{
    memset(c, 0, sizeof *c);
    c->state = CH_SIZE0;
}

static int chunked_hex(int ch)
{
    return ch <= '9' ? ch - '0' : (ch | 0x20) - 'a' + 10;
}

/* Size digits and the whitespace after them. */
static int chunked_size(http_chunked_t *c, int ch, size_t max_body)
{
    if (c->state != CH_SIZE_BWS && is_cls((char)ch, C_HEX)) {
        size_t room = c->total < max_body ? max_body - c->total : 0;
        if (c->chunk_left > (UINT64_MAX >> 4))
            return -400;
        c->chunk_left = c->chunk_left << 4 | (uint64_t)chunked_hex(ch);
        if (c->chunk_left > room)
            return -413;
        c->state = CH_SIZE;
    } else if (c->state == CH_SIZE0) {
        return -400;
    } else if (ch == ' ' || ch == '\t') {
        c->state = CH_SIZE_BWS;
    } else if (ch == ';') {
        c->state = CH_EXT;
    } else if (ch == '\r') {
        c->state = CH_SIZE_LF;
    } else {
        return -400;
    }
    return 0;
}

/* chunk-ext, checked lexically: tokens, '=', ';', BWS, quoted strings. */
static int chunked_ext(http_chunked_t *c, int ch)
{
    if (c->state == CH_EXT_QP) {
        c->state = CH_EXT_QS;
        return is_cls((char)ch, C_VALUE) ? 0 : -400;
    }
    if (c->state == CH_EXT_QS) {
        if (ch == '"')
            c->state = CH_EXT;
        else if (ch == '\\')
            c->state = CH_EXT_QP;
        else if (!is_cls((char)ch, C_VALUE))
            return -400;
        return 0;
    }
    if (ch == '"')
        c->state = CH_EXT_QS;
    else if (ch == '\r')
        c->state = CH_SIZE_LF;
    else if (!is_cls((char)ch, C_TCHAR) && ch != '=' && ch != ';' && ch != ' ' && ch != '\t')
        return -400;
    return 0;
}

/* Trailer field lines (checked like header lines, then dropped). */
static int chunked_trailer(http_chunked_t *c, int ch)
{
    if (c->state == CH_TRAILER) {
        if (ch == '\r')
            c->state = CH_END_LF;
        else if (is_cls((char)ch, C_TCHAR))
            c->state = CH_TR_NAME;
        else
            return -400;
    } else if (c->state == CH_TR_NAME) {
        if (ch == ':')
            c->state = CH_TR_VALUE;
        else if (!is_cls((char)ch, C_TCHAR))
            return -400;
    } else if (ch == '\r') {
        c->state = CH_TR_LF;
    } else if (!is_cls((char)ch, C_VALUE)) {
        return -400;
    }
    return 0;
}

/* The fixed CR and LF bytes of the framing. */
static int chunked_crlf(http_chunked_t *c, int ch)
{
    int want_cr = c->state == CH_DATA_CR;
    if (ch != (want_cr ? '\r' : '\n'))
        return -400;
    switch (c->state) {
    case CH_SIZE_LF:
        c->state = c->chunk_left ? CH_DATA : CH_TRAILER;
        c->line_len = 0;
        break;
    case CH_DATA_CR:
        c->state = CH_DATA_LF;
        break;
    case CH_DATA_LF:
        c->state = CH_SIZE0;
        c->line_len = 0;
        break;
    case CH_TR_LF:
        c->state = CH_TRAILER;
        break;
    default: /* CH_END_LF */
        c->state = CH_DONE;
        c->done = 1;
        break;
    }
    return 0;
}

/* One framing byte; returns 0 or a negative status. */
static int chunked_step(http_chunked_t *c, int ch, size_t max_body)
{
    if (++c->line_len > HTTP_LINE_MAX)
        return -400;
    switch (c->state) {
    case CH_SIZE0:
    case CH_SIZE:
    case CH_SIZE_BWS:
        return chunked_size(c, ch, max_body);
    case CH_EXT:
    case CH_EXT_QS:
    case CH_EXT_QP:
        return chunked_ext(c, ch);
    case CH_TRAILER:
    case CH_TR_NAME:
    case CH_TR_VALUE:
        return chunked_trailer(c, ch);
    default:
        return chunked_crlf(c, ch);
    }
}

/* Copies as much of the current chunk's payload as in[0..len) holds. */
static size_t chunked_data(http_chunked_t *c, const char *in, size_t len, buf_t *out)
{
    size_t n = (uint64_t)len < c->chunk_left ? len : (size_t)c->chunk_left;
    buf_append(out, in, n);
    c->chunk_left -= n;
    c->total += n;
    if (c->chunk_left == 0)
        c->state = CH_DATA_CR;
    return n;
}

ssize_t http_chunked_decode(http_chunked_t *c, const char *in, size_t len, buf_t *out, size_t max_body)
{
    size_t i = 0;
    while (i < len && c->state >= 0 && c->state != CH_DONE) {
        if (c->state == CH_DATA) {
            i += chunked_data(c, in + i, len - i, out);
            continue;
        }
        int st = chunked_step(c, (unsigned char)in[i++], max_body);
        if (st < 0)
            c->state = st;
    }
    return c->state < 0 ? c->state : (ssize_t)i;
}
