/*
 * filter — compiling SNS filter policies into the compiled form described in
 * filter.h (filter_index.c does the matching).
 *
 * Compiling mirrors what AWS runs, in its order, so that the same policy is
 * refused with the same words:
 *   1. lex: a JSON tokenizer that accepts what Jackson's parser accepts and
 *      words its refusals like Jackson ("failed to parse JSON. Unexpected
 *      character ..."), with Jackson's location suffix (line and column,
 *      columns in UTF-16 code units). Its output is an array of tokens.
 *   2. rules: event-ruler's JSON rule compiler re-enacted over those tokens,
 *      check for check, including where Jackson's cursor stands when the
 *      compiler gives up (Jackson reads a string lazily: right after a
 *      string token the cursor is past its opening quote until the text is
 *      asked for; after a field name it is already past the first character
 *      of the value, or past the whole value when that is a number or a
 *      literal), which is what AWS reports as the column. $or alternatives
 *      are expanded into branches here, as ruler does.
 *   3. the checks SNS adds: no nesting in attribute scope, at most five keys,
 *      at most 150 combinations.
 * Error texts: each ERR_* below says where its wording comes from. "recorded"
 * means it appears in responses recorded from real AWS (localstack's
 * tests/aws/services/sns/test_sns_filter_policy.snapshot.json and the
 * project's /work/shared/aws-recorded/sns.snapshot.json); "ruler" means it is
 * event-ruler's wording for a case AWS was not recorded in; the rest are
 * marked "text not confirmed against AWS".
 *
 * Bounds: the policy is at most 256 KB, nesting at most 1000 (Jackson's
 * default limit), so the recursive passes are bounded; $or expansion stops
 * at 150 branches and a branch at 64 fields (any policy past either is
 * refused by the SNS checks anyway).
 */
#include "topics/filter.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/alloc.h"
#include "util/buf.h"
#include "util/hmap.h"
#include "util/text.h"

#define MAX_NESTING 1000
#define MAX_BRANCH_FIELDS 64

/* The Jackson location suffix as AWS prints it today (2025 recordings). */
#define LOC_FMT "\n at [Source: REDACTED (`StreamReadFeature.INCLUDE_SOURCE_IN_LOCATION` disabled); line: %u, column: %u]"
#define LOC_START "[Source: REDACTED (`StreamReadFeature.INCLUDE_SOURCE_IN_LOCATION` disabled); line: %u, column: %u]"

/* Prefixes: recorded. */
#define ERR_POLICY "FilterPolicy: "
#define ERR_JSON "FilterPolicy: failed to parse JSON. "
/* SNS checks: recorded. */
#define ERR_NESTED "Filter policy scope MessageAttributes does not support nested filter policy"
#define ERR_KEYS "FilterPolicy: Filter policy can not have more than 5 keys"
#define ERR_COMPLEX "FilterPolicy: Filter policy is too complex"
/* text not confirmed against AWS (AWS documents the 256 KB limit, not its error). */
#define ERR_TOO_BIG "FilterPolicy: Filter policy can not be larger than 256 KB"
/* Jackson's texts for the value expectations: recorded. */
#define JSON_TOKENS "(JSON String, Number, Array, Object or token 'null', 'true' or 'false')"
/* ruler; its range check wording with SNS's documented -1e9..1e9 (text not confirmed against AWS). */
#define ERR_RANGE "Value must be between -1.0E9 and 1.0E9, inclusive"

/* ---- small helpers ------------------------------------------------------------ */

#define VEC_PUSH FILTER__PUSH

static int is_digit(int c)
{
    return c >= '0' && c <= '9';
}

/* Java's Character.isJavaIdentifierPart, closely enough for error texts. */
static int java_ident_part(uint32_t cp)
{
    if (cp < 0x80)
        return (cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z') || is_digit((int)cp) || cp == '_' || cp == '$' ||
               cp <= 8 || (cp >= 0x0e && cp <= 0x1b) || cp == 0x7f;
    if (cp < 0xa0)
        return 1;
    if (cp < 0xc0)
        return cp == 0xaa || cp == 0xb5 || cp == 0xba || (cp >= 0xa2 && cp <= 0xa5) || cp == 0xad;
    if (cp == 0xd7 || cp == 0xf7 || cp > 0xffff)
        return 0;
    return !(cp >= 0x2000 && cp <= 0x2bff) && !(cp >= 0x3000 && cp <= 0x303f) && !(cp >= 0xd800 && cp <= 0xdfff);
}

static int java_ident_start(uint32_t cp)
{
    return java_ident_part(cp) && !is_digit((int)cp) && !(cp < 0x20) && !(cp >= 0x7f && cp < 0xa0) && cp != 0xad;
}

/* Decodes the character at p[i] (n bytes in all): its code point, or -1 when
 * the bytes are not UTF-8. *len gets its byte length. */
static long decode_at(const unsigned char *p, size_t n, size_t i, size_t *len)
{
    uint32_t cp;
    *len = text_utf8_next(p + i, n - i, &cp);
    return *len ? (long)cp : -1;
}

/* ---- pass 1: the Jackson-like tokenizer ---------------------------------------- */

/* Recorded from AWS: "was expecting double-quote to start field name" and
 * "Unrecognized token"; every other refusal here is Jackson's wording as
 * Jackson writes it (text not confirmed against AWS). */

typedef enum { T_OBJ, T_OBJ_END, T_ARR, T_ARR_END, T_NAME, T_STR, T_NUM, T_TRUE, T_FALSE, T_NULL, T_EOF } ttype_t;

typedef struct tok {
    uint8_t type;
    uint32_t start, end;       /* bytes of the token in the policy text */
    uint32_t off, len;         /* T_NAME, T_STR: decoded text in the text buffer */
} tok_t;

typedef struct frame {
    uint8_t obj, after_value;
    uint32_t start;
} frame_t;

typedef struct lex {
    const unsigned char *p;
    size_t n, i;
    tok_t *t;
    size_t nt, capt;
    frame_t *st;
    size_t depth, capst;
    buf_t *text;
    buf_t *why;
} lex_t;

/* Jackson's line and column for byte offset at. */
static void location(const unsigned char *p, size_t at, unsigned *line, unsigned *col)
{
    unsigned l = 1, c = 0;
    for (size_t i = 0; i < at; i++) {
        if (p[i] == '\n' || (p[i] == '\r' && !(i + 1 < at && p[i + 1] == '\n'))) {
            l++;
            c = 0;
        } else if ((p[i] & 0xc0) != 0x80) {
            c += (p[i] >= 0xf0) ? 2 : 1;
        }
    }
    *line = l;
    *col = c + 1;
}

static void put_loc(buf_t *why, const unsigned char *p, size_t at)
{
    unsigned line, col;
    location(p, at, &line, &col);
    buf_printf(why, LOC_FMT, line, col);
}

static void put_utf8(buf_t *b, uint32_t cp)
{
    char u[4];
    size_t k = 0;
    if (cp >= 0xd800 && cp <= 0xdfff)
        cp = 0xfffd; /* a lone surrogate: Java keeps it, nothing can match it */
    if (cp < 0x80) {
        u[k++] = (char)cp;
    } else if (cp < 0x800) {
        u[k++] = (char)(0xc0 | (cp >> 6));
        u[k++] = (char)(0x80 | (cp & 0x3f));
    } else if (cp < 0x10000) {
        u[k++] = (char)(0xe0 | (cp >> 12));
        u[k++] = (char)(0x80 | ((cp >> 6) & 0x3f));
        u[k++] = (char)(0x80 | (cp & 0x3f));
    } else {
        u[k++] = (char)(0xf0 | (cp >> 18));
        u[k++] = (char)(0x80 | ((cp >> 12) & 0x3f));
        u[k++] = (char)(0x80 | ((cp >> 6) & 0x3f));
        u[k++] = (char)(0x80 | (cp & 0x3f));
    }
    buf_append(b, u, k);
}

/* Jackson's description of a character in its messages (a character beyond
 * U+FFFF is seen as its high surrogate, which prints as '?'). */
static void char_desc(buf_t *b, long cp)
{
    if (cp < 0x20 || (cp >= 0x7f && cp <= 0x9f)) {
        buf_printf(b, "(CTRL-CHAR, code %ld)", cp);
        return;
    }
    if (cp > 0xffff)
        cp = 0xd800 + ((cp - 0x10000) >> 10);
    buf_putc(b, '\'');
    if (cp >= 0xd800 && cp <= 0xdfff)
        buf_putc(b, '?');
    else
        put_utf8(b, (uint32_t)cp);
    buf_printf(b, "' (code %ld", cp);
    buf_printf(b, cp > 255 ? " / 0x%lx)" : ")", cp);
}

/* Refusal with a location at byte offset at. */
static int lex_fail(lex_t *lx, size_t at, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int lex_fail(lex_t *lx, size_t at, const char *fmt, ...)
{
    va_list ap;
    buf_puts(lx->why, ERR_JSON);
    va_start(ap, fmt);
    buf_vprintf(lx->why, fmt, ap);
    va_end(ap);
    put_loc(lx->why, lx->p, at);
    return -1;
}

/* "Unexpected character (...)" about the character at byte offset at. */
static int lex_unexpected(lex_t *lx, size_t at, const char *what, const char *comment)
{
    size_t len;
    long cp = decode_at(lx->p, lx->n, at, &len);
    if (cp < 0)
        return lex_fail(lx, at, "Invalid UTF-8 start byte 0x%02x", lx->p[at]); /* text not confirmed against AWS */
    buf_puts(lx->why, ERR_JSON);
    buf_puts(lx->why, "Unexpected character (");
    char_desc(lx->why, cp);
    buf_printf(lx->why, ")%s: %s", what, comment);
    put_loc(lx->why, lx->p, at);
    return -1;
}

/* "Unrecognized token": the part read so far plus the identifier characters after it. */
static int lex_bad_token(lex_t *lx, size_t from, size_t i)
{
    size_t len, chars = 0;
    long cp;
    for (; i < lx->n && (cp = decode_at(lx->p, lx->n, i, &len)) >= 0 && java_ident_part((uint32_t)cp); i += len)
        if (++chars >= 256)
            break;
    buf_puts(lx->why, ERR_JSON);
    buf_printf(lx->why, "Unrecognized token '%.*s%s': was expecting " JSON_TOKENS, (int)(i - from),
               (const char *)lx->p + from, chars >= 256 ? "..." : "");
    put_loc(lx->why, lx->p, i);
    return -1;
}

static void skip_ws(lex_t *lx)
{
    while (lx->i < lx->n && (lx->p[lx->i] == ' ' || lx->p[lx->i] == '\t' || lx->p[lx->i] == '\n' || lx->p[lx->i] == '\r'))
        lx->i++;
}

static tok_t *tok_add(lex_t *lx, ttype_t type, size_t start, size_t end)
{
    tok_t *t = VEC_PUSH(lx->t, lx->nt, lx->capt);
    t->type = (uint8_t)type;
    t->start = (uint32_t)start;
    t->end = (uint32_t)end;
    t->off = t->len = 0;
    return t;
}

/* Reads the 4 hex digits of a \u escape at lx->i. */
static int lex_hex4(lex_t *lx, uint32_t *cp)
{
    *cp = 0;
    for (int k = 0; k < 4; k++, lx->i++) {
        if (lx->i >= lx->n)
            return lex_fail(lx, lx->n, "Unexpected end-of-input in character escape sequence");
        int h = filter__hexval(lx->p[lx->i]);
        if (h < 0)
            return lex_unexpected(lx, lx->i, "", "expected a hex-digit for character escape sequence");
        *cp = *cp * 16 + (uint32_t)h;
    }
    return 0;
}

static int lex_escape(lex_t *lx, uint32_t *cp)
{
    if (lx->i >= lx->n)
        return lex_fail(lx, lx->n, "Unexpected end-of-input in character escape sequence");
    unsigned char c = lx->p[lx->i++];
    static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
    const char *k = c ? strchr(from, c) : NULL;
    if (k) {
        *cp = (unsigned char)to[k - from];
        return 0;
    }
    if (c != 'u') {
        size_t len;
        long ch = decode_at(lx->p, lx->n, lx->i - 1, &len);
        buf_puts(lx->why, ERR_JSON);
        buf_puts(lx->why, "Unrecognized character escape ");
        char_desc(lx->why, ch < 0 ? c : ch);
        put_loc(lx->why, lx->p, lx->i - 1);
        return -1;
    }
    if (lex_hex4(lx, cp) < 0)
        return -1;
    if (*cp >= 0xd800 && *cp < 0xdc00 && lx->i + 1 < lx->n && lx->p[lx->i] == '\\' && lx->p[lx->i + 1] == 'u') {
        size_t save = lx->i;
        uint32_t lo;
        lx->i += 2;
        if (lex_hex4(lx, &lo) < 0)
            return -1;
        if (lo >= 0xdc00 && lo <= 0xdfff)
            *cp = 0x10000 + ((*cp - 0xd800) << 10) + (lo - 0xdc00);
        else
            lx->i = save; /* the second escape stands on its own */
    }
    return 0;
}

/* A string or field name; lx->i is on the opening quote. */
static int lex_string(lex_t *lx, ttype_t type)
{
    size_t start = lx->i++, off = lx->text->len;
    const char *what = type == T_NAME ? "name" : "string value";
    for (;;) {
        if (lx->i >= lx->n)
            return type == T_NAME ? lex_fail(lx, lx->n, "Unexpected end-of-input in field name")
                                  : lex_fail(lx, lx->n, "Unexpected end-of-input: was expecting closing quote for a string value");
        unsigned char c = lx->p[lx->i];
        if (c == '"')
            break;
        if (c == '\\') {
            uint32_t cp = 0;
            lx->i++;
            if (lex_escape(lx, &cp) < 0)
                return -1;
            put_utf8(lx->text, cp);
            continue;
        }
        if (c < 0x20) {
            buf_puts(lx->why, ERR_JSON);
            buf_printf(lx->why, "Illegal unquoted character ((CTRL-CHAR, code %d)): has to be escaped using backslash to be included in %s",
                       c, what);
            put_loc(lx->why, lx->p, lx->i);
            return -1;
        }
        size_t len = 1;
        if (c >= 0x80 && decode_at(lx->p, lx->n, lx->i, &len) < 0)
            return lex_fail(lx, lx->i, "Invalid UTF-8 start byte 0x%02x", c); /* text not confirmed against AWS */
        buf_append(lx->text, lx->p + lx->i, len);
        lx->i += len;
    }
    lx->i++;
    tok_t *t = tok_add(lx, type, start, lx->i);
    t->off = (uint32_t)off;
    t->len = (uint32_t)(lx->text->len - off);
    return 0;
}

static int lex_digits(lex_t *lx)
{
    size_t from = lx->i;
    while (lx->i < lx->n && is_digit(lx->p[lx->i]))
        lx->i++;
    return lx->i > from;
}

/* A number required something at i: refuse with Jackson's words. */
static int lex_number_char(lex_t *lx, size_t at, const char *comment)
{
    if (at >= lx->n)
        return lex_fail(lx, lx->n, "Unexpected end-of-input in a Number value"); /* text not confirmed against AWS */
    return lex_unexpected(lx, at, " in numeric value", comment);
}

static int lex_number(lex_t *lx, int root)
{
    size_t start = lx->i;
    if (lx->p[lx->i] == '-') {
        lx->i++;
        if (lx->i < lx->n && lx->p[lx->i] == 'I' && lx->n - lx->i >= 8 && memcmp(lx->p + lx->i, "Infinity", 8) == 0)
            return lex_fail(lx, lx->i + 8,
                            "Non-standard token '-Infinity': enable `JsonReadFeature.ALLOW_NON_NUMERIC_NUMBERS` to allow");
        if (lx->i >= lx->n || !is_digit(lx->p[lx->i]))
            return lex_number_char(lx, lx->i, "expected digit (0-9) to follow minus sign, for valid numeric value");
    }
    if (lx->p[lx->i] == '0' && lx->i + 1 < lx->n && is_digit(lx->p[lx->i + 1]))
        return lex_fail(lx, lx->i + 1, "Invalid numeric value: Leading zeroes not allowed");
    lex_digits(lx);
    if (lx->i < lx->n && lx->p[lx->i] == '.') {
        size_t dot = lx->i++;
        if (!lex_digits(lx))
            return lex_number_char(lx, lx->i < lx->n ? lx->i : dot, "Decimal point not followed by a digit");
    }
    if (lx->i < lx->n && (lx->p[lx->i] == 'e' || lx->p[lx->i] == 'E')) {
        size_t e = lx->i++;
        if (lx->i < lx->n && (lx->p[lx->i] == '+' || lx->p[lx->i] == '-'))
            e = lx->i++;
        if (!lex_digits(lx))
            return lex_number_char(lx, lx->i < lx->n ? lx->i : e, "Exponent indicator not followed by a digit");
    }
    if (root && lx->i < lx->n && !strchr(" \t\n\r", lx->p[lx->i]))
        return lex_unexpected(lx, lx->i, "", "Expected space separating root-level values");
    tok_add(lx, T_NUM, start, lx->i);
    return 0;
}

/* true, false, null: Jackson's matching of the rest of the word. */
static int lex_literal(lex_t *lx, const char *word, ttype_t type)
{
    size_t start = lx->i, wl = strlen(word), k = 1;
    lx->i++;
    for (; k < wl; k++, lx->i++)
        if (lx->i >= lx->n || lx->p[lx->i] != (unsigned char)word[k])
            return lex_bad_token(lx, start, lx->i);
    size_t len;
    long cp;
    if (lx->i < lx->n && (cp = decode_at(lx->p, lx->n, lx->i, &len)) >= '0' && cp != ']' && cp != '}' &&
        java_ident_part((uint32_t)cp))
        return lex_bad_token(lx, start, lx->i);
    tok_add(lx, type, start, lx->i);
    return 0;
}

static int lex_odd_value(lex_t *lx)
{
    static const char *nonstd[] = {"NaN", "Infinity", "+INF", "+Infinity"};
    size_t at = lx->i, len;
    for (size_t k = 0; k < sizeof nonstd / sizeof *nonstd; k++) {
        size_t wl = strlen(nonstd[k]);
        if (lx->n - at >= wl && memcmp(lx->p + at, nonstd[k], wl) == 0)
            return lex_fail(lx, at + wl, "Non-standard token '%s': enable `JsonReadFeature.ALLOW_NON_NUMERIC_NUMBERS` to allow",
                            nonstd[k]);
    }
    long cp = decode_at(lx->p, lx->n, at, &len);
    if (cp >= 0 && java_ident_start((uint32_t)cp))
        return lex_bad_token(lx, at, at + len);
    return lex_unexpected(lx, at, "", "expected a valid value " JSON_TOKENS);
}

static int lex_push(lex_t *lx, int obj)
{
    if (lx->depth >= MAX_NESTING) {
        buf_puts(lx->why, ERR_JSON);
        buf_printf(lx->why, "Document nesting depth (%d) exceeds the maximum allowed (%d, from `StreamReadConstraints.getMaxNestingDepth()`)",
                   MAX_NESTING + 1, MAX_NESTING); /* text not confirmed against AWS */
        return -1;
    }
    frame_t *f = VEC_PUSH(lx->st, lx->depth, lx->capst);
    f->obj = (uint8_t)obj;
    f->after_value = 0;
    f->start = (uint32_t)lx->i;
    tok_add(lx, obj ? T_OBJ : T_ARR, lx->i, lx->i + 1);
    lx->i++;
    return 0;
}

/* One value at lx->i (not at the end of the input). */
static int lex_value(lex_t *lx, int root)
{
    switch (lx->p[lx->i]) {
    case '"': return lex_string(lx, T_STR);
    case '{': return lex_push(lx, 1);
    case '[': return lex_push(lx, 0);
    case 't': return lex_literal(lx, "true", T_TRUE);
    case 'f': return lex_literal(lx, "false", T_FALSE);
    case 'n': return lex_literal(lx, "null", T_NULL);
    default:
        if (lx->p[lx->i] == '-' || is_digit(lx->p[lx->i]))
            return lex_number(lx, root);
        return lex_odd_value(lx);
    }
}

static const char *ctx_desc(const frame_t *f)
{
    return f ? (f->obj ? "Object" : "Array") : "root";
}

/* A close marker at lx->i: pops or refuses a mismatch. */
static int lex_close(lex_t *lx)
{
    frame_t *top = lx->depth ? &lx->st[lx->depth - 1] : NULL;
    unsigned char c = lx->p[lx->i];
    if (top && top->obj == (c == '}')) {
        tok_add(lx, c == '}' ? T_OBJ_END : T_ARR_END, lx->i, lx->i + 1);
        lx->i++;
        lx->depth--;
        if (lx->depth)
            lx->st[lx->depth - 1].after_value = 1;
        return 0;
    }
    unsigned line = 1, col = 0;
    if (top)
        location(lx->p, top->start, &line, &col);
    buf_puts(lx->why, ERR_JSON);
    buf_printf(lx->why, "Unexpected close marker '%c': expected '%c' (for %s starting at " LOC_START ")", c,
               c == '}' ? ']' : '}', ctx_desc(top), line, col);
    put_loc(lx->why, lx->p, lx->i + 1);
    return -1;
}

/* The input ends inside the innermost container. */
static int lex_eof_in(lex_t *lx)
{
    frame_t *top = &lx->st[lx->depth - 1];
    unsigned line, col;
    location(lx->p, top->start, &line, &col);
    buf_puts(lx->why, ERR_JSON);
    buf_printf(lx->why, "Unexpected end-of-input: expected close marker for %s (start marker at " LOC_START ")",
               ctx_desc(top), line, col);
    put_loc(lx->why, lx->p, lx->n);
    return -1;
}

/* A member of an object: name, colon, value (lx->i on the name's first character). */
static int lex_member(lex_t *lx)
{
    if (lx->p[lx->i] != '"')
        return lex_unexpected(lx, lx->i, "", "was expecting double-quote to start field name");
    if (lex_string(lx, T_NAME) < 0)
        return -1;
    skip_ws(lx);
    if (lx->i >= lx->n)
        return lex_fail(lx, lx->n, "Unexpected end-of-input within/between Object entries");
    if (lx->p[lx->i] != ':')
        return lex_unexpected(lx, lx->i, "", "was expecting a colon to separate field name and value");
    lx->i++;
    skip_ws(lx);
    if (lx->i >= lx->n)
        return lex_fail(lx, lx->n, "Unexpected end-of-input within/between Object entries");
    return lex_value(lx, 0);
}

/* The next step inside the innermost container. */
static int lex_step(lex_t *lx)
{
    frame_t *top = &lx->st[lx->depth - 1];
    skip_ws(lx);
    if (lx->i >= lx->n)
        return lex_eof_in(lx);
    unsigned char c = lx->p[lx->i];
    if (c == ']' || c == '}')
        return lex_close(lx);
    if (top->after_value) {
        if (c != ',')
            return lex_unexpected(lx, lx->i, "", top->obj ? "was expecting comma to separate Object entries"
                                                          : "was expecting comma to separate Array entries");
        lx->i++;
        skip_ws(lx);
        if (lx->i >= lx->n)
            return lex_fail(lx, lx->n, "Unexpected end-of-input within/between %s entries", ctx_desc(top));
    }
    int obj = top->obj;
    top->after_value = 1; /* for the value about to be read (a container sets its own frame) */
    return obj ? lex_member(lx) : lex_value(lx, 0);
}

static int lex_run(lex_t *lx)
{
    skip_ws(lx);
    if (lx->i >= lx->n) {
        buf_puts(lx->why, ERR_JSON);
        buf_puts(lx->why, "No content to map due to end-of-input"); /* text not confirmed against AWS */
        return -1;
    }
    if (lx->p[lx->i] == ']' || lx->p[lx->i] == '}')
        return lex_close(lx);
    if (lex_value(lx, 1) < 0)
        return -1;
    while (lx->depth)
        if (lex_step(lx) < 0)
            return -1;
    return 0; /* like Jackson's readTree, what follows the root value is not read */
}

/* ---- pass 2: ruler's rule compiler over the tokens ----------------------------- */

/* Recorded from AWS (texts and columns): the messages of tests/unit/
 * test_filter.c's recorded_* tests. Every other refusal here is event-ruler's
 * wording for the same check (text not confirmed against AWS). */

typedef struct entry {
    uint32_t path, first, n, depth, root;
} entry_t;

typedef struct bbranch {
    entry_t *e;
    size_t n, cap;
} bbranch_t;

typedef struct rules {
    bbranch_t *b;
    size_t n, cap;
} rules_t;

typedef struct rc {
    const lex_t *lx;
    size_t next;               /* index of the next token */
    size_t cur;                /* index of the current token */
    size_t ptr;                /* Jackson's cursor, a byte offset */
    int pending, unfinished;
    buf_t *text;
    buf_t *why;
    filter_scope_t scope;
    filter__cond_t *conds;
    size_t nconds, capconds;
    filter__strref_t *strs;
    size_t nstrs, capstrs;
    int64_t *nums;
    size_t nnums, capnums;
    hmap_t intern;             /* path text -> id+1 */
    filter__path_t *paths;
    size_t npaths, cappaths;
    char **owned;              /* the interned keys, one per path */
    size_t capowned;
    buf_t path;                /* the dotted prefix of the object being read */
    unsigned max_depth;
    int dead;                  /* expansion stopped: the policy is refused by the SNS checks */
    int dead_keys;             /* ... for its keys rather than its complexity */
} rc_t;

static const tok_t *rc_tok(const rc_t *c)
{
    return &c->lx->t[c->cur];
}

/* Jackson's nextToken: the next token's type, moving the cursor as Jackson does. */
static ttype_t rc_next(rc_t *c)
{
    if (c->next >= c->lx->nt)
        return T_EOF;
    c->cur = c->next++;
    const tok_t *t = rc_tok(c);
    if (c->pending) {
        c->pending = 0;
        return (ttype_t)t->type;
    }
    c->unfinished = 0;
    if (t->type == T_NAME) {
        const tok_t *v = &c->lx->t[c->next];
        c->pending = 1;
        c->unfinished = v->type == T_STR;
        c->ptr = (v->type == T_STR || v->type == T_OBJ || v->type == T_ARR) ? v->start + 1u : v->end;
    } else {
        c->unfinished = t->type == T_STR;
        c->ptr = t->type == T_STR ? t->start + 1u : t->end;
    }
    return (ttype_t)t->type;
}

/* Jackson's getText on a name or string: finishes a string being read. */
static const char *rc_text(rc_t *c, size_t *len)
{
    const tok_t *t = rc_tok(c);
    if (t->type == T_STR && c->unfinished) {
        c->ptr = t->end;
        c->unfinished = 0;
    }
    *len = t->len;
    return c->text->data + t->off;
}

static int rc_text_is(rc_t *c, const char *s)
{
    size_t len;
    const char *p = rc_text(c, &len);
    return len == strlen(s) && memcmp(p, s, len) == 0;
}

/* Ruler's refusal: the message and where the cursor stands. */
static int barf(rc_t *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int barf(rc_t *c, const char *fmt, ...)
{
    va_list ap;
    buf_puts(c->why, ERR_POLICY);
    va_start(ap, fmt);
    buf_vprintf(c->why, fmt, ap);
    va_end(ap);
    put_loc(c->why, c->lx->p, c->ptr);
    return -1;
}

/* Refusal thrown past ruler's handler: no location (text not confirmed against AWS). */
static int refuse(rc_t *c, const char *msg)
{
    buf_puts(c->why, ERR_POLICY);
    buf_puts(c->why, msg);
    return -1;
}

/* Jackson's getText for a token in a message (not finishing anything). */
static void tok_desc(rc_t *c, buf_t *out)
{
    const tok_t *t = rc_tok(c);
    switch (t->type) {
    case T_NAME:
    case T_STR: buf_append(out, c->text->data + t->off, t->len); break;
    default: buf_append(out, c->lx->p + t->start, t->end - t->start); break;
    }
}

static int barf_tok(rc_t *c, const char *prefix)
{
    buf_t d = BUF_INIT;
    tok_desc(c, &d);
    barf(c, "%s%.*s", prefix, (int)d.len, d.data ? d.data : "");
    buf_free(&d);
    return -1;
}

static filter__cond_t *cond_add(rc_t *c, filter__ckind_t kind)
{
    filter__cond_t *k = VEC_PUSH(c->conds, c->nconds, c->capconds);
    memset(k, 0, sizeof *k);
    k->kind = (uint8_t)kind;
    return k;
}

/* The current string token as the text of a condition. */
static filter__cond_t *cond_str(rc_t *c, filter__ckind_t kind)
{
    size_t len;
    const char *s = rc_text(c, &len);
    filter__cond_t *k = cond_add(c, kind);
    k->off = (uint32_t)(s - c->text->data);
    k->len = (uint32_t)len;
    return k;
}

static double tok_double(const rc_t *c)
{
    const tok_t *t = rc_tok(c);
    char tmp[64];
    size_t n = t->end - t->start;
    if (n < sizeof tmp) {
        memcpy(tmp, c->lx->p + t->start, n);
        tmp[n] = '\0';
        return strtod(tmp, NULL);
    }
    char *big = xmemdup(c->lx->p + t->start, n);
    double d = strtod(big, NULL);
    free(big);
    return d;
}

/* An exact number: its text, and its fixed point when it has one. */
static void cond_num(rc_t *c)
{
    const tok_t *t = rc_tok(c);
    filter__cond_t *k = cond_add(c, FILTER__C_NUM);
    k->off = (uint32_t)c->text->len;
    k->len = t->end - t->start;
    buf_append(c->text, c->lx->p + t->start, k->len);
    k->has_fx = (uint8_t)filter__number_fx(tok_double(c), &k->fx);
}

static int fx_or_barf(rc_t *c, double d, int64_t *fx)
{
    return filter__number_fx(d, fx) ? 0 : barf(c, ERR_RANGE);
}

/* The rest of [">", v, "<", w] after v (ruler's completeNumericRange); t is
 * the token after v. */
static int numeric_range(rc_t *c, ttype_t t, double bottom, int bottom_open)
{
    if (t != T_STR)
        return barf_tok(c, "Bad value in numeric range: ");
    if (!rc_text_is(c, "<") && !rc_text_is(c, "<=")) {
        size_t len;
        const char *s = rc_text(c, &len);
        return barf(c, "Bad numeric range operator: %.*s", (int)len, s);
    }
    int top_open = rc_text_is(c, "<");
    if (rc_next(c) != T_NUM)
        return barf(c, "Value of %s must be numeric", top_open ? "<" : "<=");
    double top = tok_double(c);
    if (rc_next(c) != T_ARR_END)
        return barf(c, "Too many terms in numeric range expression");
    filter__cond_t k = {.kind = FILTER__C_NUMERIC, .has_lo = 1, .lo_open = (uint8_t)bottom_open, .has_hi = 1,
                        .hi_open = (uint8_t)top_open};
    if (fx_or_barf(c, bottom, &k.lo) < 0 || fx_or_barf(c, top, &k.hi) < 0)
        return -1;
    if (k.lo >= k.hi)
        return barf(c, "Bottom must be less than top");
    *cond_add(c, FILTER__C_NUMERIC) = k;
    return 0;
}

/* ["=", v], [">", v], [">=", v, "<", w] ...; the cursor is past the '['. */
static int rule_numeric(rc_t *c)
{
    static const char *const ops[] = {"=", ">", ">=", "<", "<="};
    if (rc_next(c) != T_STR)
        return barf_tok(c, "Invalid member in numeric match: ");
    size_t oplen;
    const char *op = rc_text(c, &oplen);
    int which = -1;
    for (int i = 0; i < 5; i++)
        if (strlen(ops[i]) == oplen && memcmp(ops[i], op, oplen) == 0)
            which = i;
    if (which < 0) {
        rc_next(c); /* ruler reads the value before it looks at the operator */
        return barf(c, "Unrecognized numeric range operator: %.*s", (int)oplen, op);
    }
    int eq = which == 0, upper = which >= 3, open = which == 1 || which == 3;
    if (rc_next(c) != T_NUM)
        return barf(c, "Value of %s must be numeric", eq ? "equals" : ops[which]);
    double v = tok_double(c);
    ttype_t t = rc_next(c);
    if (!eq && !upper && t != T_ARR_END)
        return numeric_range(c, t, v, open);
    if (t != T_ARR_END)
        return barf(c, "Too many elements in numeric expression");
    filter__cond_t k = {.kind = FILTER__C_NUMERIC, .has_lo = (uint8_t)!upper, .has_hi = (uint8_t)(eq || upper),
                        .lo_open = (uint8_t)open, .hi_open = (uint8_t)open};
    if (fx_or_barf(c, v, &k.lo) < 0)
        return -1;
    k.hi = k.lo;
    *cond_add(c, FILTER__C_NUMERIC) = k;
    return 0;
}

/* Adds the current string or number to an anything-but list. */
static int not_add(rc_t *c, filter__cond_t *k)
{
    if (k->kind == FILTER__C_NOT_STRS) {
        size_t len;
        const char *s = rc_text(c, &len);
        filter__strref_t *r = VEC_PUSH(c->strs, c->nstrs, c->capstrs);
        r->off = (uint32_t)(s - c->text->data);
        r->len = (uint32_t)len;
    } else {
        int64_t *x = VEC_PUSH(c->nums, c->nnums, c->capnums);
        if (!filter__number_fx(tok_double(c), x))
            return barf(c, ERR_RANGE);
    }
    k->len++;
    return 0;
}

/* {"anything-but": {"prefix"|"suffix": "..."}}; the cursor is past the inner '{'. */
static int rule_not_pattern(rc_t *c)
{
    if (rc_next(c) != T_NAME)
        return barf(c, "Anything-But expression name not found");
    int prefix = rc_text_is(c, "prefix"), suffix = rc_text_is(c, "suffix");
    if (!prefix && !suffix) {
        size_t len;
        const char *s = rc_text(c, &len);
        return barf(c, "Unsupported anything-but pattern: %.*s", (int)len, s);
    }
    if (rc_next(c) != T_STR)
        return barf(c, "%s match pattern must be a string", prefix ? "prefix" : "suffix");
    filter__cond_t *k = cond_str(c, prefix ? FILTER__C_NOT_PREFIX : FILTER__C_NOT_SUFFIX);
    if (k->len == 0)
        return barf(c, "Null prefix/suffix not allowed"); /* ruler */
    if (rc_next(c) != T_OBJ_END || rc_next(c) != T_OBJ_END)
        return barf(c, "Only one key allowed in match expression");
    return 0;
}

/* {"anything-but": "x" | 5 | [...] | {...}}; the cursor is past "anything-but". */
static int rule_not(rc_t *c)
{
    ttype_t t = rc_next(c);
    if (t == T_OBJ)
        return rule_not_pattern(c);
    if (t != T_ARR && t != T_STR && t != T_NUM)
        return barf(c, "Value of anything-but must be an array or single string/number value.");
    filter__cond_t ks = {.kind = FILTER__C_NOT_STRS, .off = (uint32_t)c->nstrs};
    filter__cond_t kn = {.kind = FILTER__C_NOT_NUMS, .off = (uint32_t)c->nnums};
    if (t == T_NUM && !filter__number_fx(tok_double(c), &kn.fx))
        return refuse(c, ERR_RANGE); /* a single value is converted outside ruler's handler: no location */
    if (t != T_ARR) {
        if (not_add(c, t == T_STR ? &ks : &kn) < 0)
            return -1;
    } else {
        while ((t = rc_next(c)) != T_ARR_END) {
            if (t != T_STR && t != T_NUM)
                return barf(c, "Inside anything but list, start|null|boolean is not supported.");
            if (not_add(c, t == T_STR ? &ks : &kn) < 0)
                return -1;
        }
    }
    if (!ks.len == !kn.len)
        return barf(c, "Inside anything but list, either all values are number or string, mixed type is not supported");
    if (rc_next(c) != T_OBJ_END)
        return barf(c, "Too many elements in numeric expression"); /* ruler's wording, sic */
    *cond_add(c, ks.len ? FILTER__C_NOT_STRS : FILTER__C_NOT_NUMS) = ks.len ? ks : kn;
    return 0;
}

/* The mask bits after the '/' of a CIDR, as Java's Integer.parseInt reads them. */
static long cidr_bits(rc_t *c, const char *m, const char *end)
{
    long bits = 0;
    int neg = 0;
    if (m < end && (*m == '+' || *m == '-'))
        neg = *m++ == '-';
    if (m == end)
        return refuse(c, "Malformed CIDR, mask bits must be an integer");
    for (; m < end; m++)
        if (!is_digit(*m) || (bits = bits * 10 + (*m - '0')) > 2147483647L)
            return refuse(c, "Malformed CIDR, mask bits must be an integer");
    if (neg && bits)
        return refuse(c, "Malformed CIDR, mask bits must not be negative");
    return bits;
}

/* {"cidr": "10.0.0.0/24"}: ruler's range, from the address as given (not
 * masked) to the address with every host bit set. */
static int rule_cidr(rc_t *c)
{
    if (rc_next(c) != T_STR)
        return barf(c, "prefix match pattern must be a string"); /* ruler's wording, sic */
    size_t len;
    const char *s = rc_text(c, &len), *end = s + len;
    const char *slash = memchr(s, '/', len);
    if (!slash || slash + 1 == end || memchr(slash + 1, '/', (size_t)(end - slash - 1)))
        return refuse(c, "Malformed CIDR, one '/' required");
    long bits = cidr_bits(c, slash + 1, end);
    if (bits < 0)
        return -1;
    uint8_t ip[16];
    int iplen = filter__ip_parse(s, (size_t)(slash - s), ip);
    if (iplen <= 0) {
        buf_puts(c->why, ERR_POLICY);
        buf_printf(c->why, "%s IP address: %.*s", iplen < 0 ? "Invalid" : "Nonstandard", (int)(slash - s), s);
        return -1;
    }
    if (bits >= iplen * 8)
        return refuse(c, iplen == 4 ? "IPv4 mask bits must be < 32" : "IPv6 mask bits must be < 128");
    filter__cond_t *k = cond_add(c, FILTER__C_CIDR);
    k->iplen = (uint8_t)iplen;
    memcpy(k->ip_lo, ip, (size_t)iplen);
    memcpy(k->ip_hi, ip, (size_t)iplen);
    for (int b = (int)bits; b < iplen * 8; b++)
        k->ip_hi[b / 8] |= (uint8_t)(0x80 >> (b % 8));
    return rc_next(c) == T_OBJ_END ? 0 : barf(c, "Only one key allowed in match expression");
}

/* {"prefix": "..."}, {"suffix": ...}, {"equals-ignore-case": ...}. */
static int rule_string_op(rc_t *c, const char *name, filter__ckind_t kind)
{
    if (rc_next(c) != T_STR)
        return barf(c, "%s match pattern must be a string", name);
    cond_str(c, kind);
    if (rc_next(c) != T_OBJ_END)
        return barf(c, "Only one key allowed in match expression");
    return 0;
}

/* A match expression; the cursor is past its '{'. */
static int rule_expression(rc_t *c)
{
    static const struct { const char *name; filter__ckind_t kind; } string_ops[] = {
        {"prefix", FILTER__C_PREFIX}, {"suffix", FILTER__C_SUFFIX}, {"equals-ignore-case", FILTER__C_EQIC}};
    if (rc_next(c) != T_NAME)
        return barf(c, "Match expression name not found");
    for (size_t i = 0; i < sizeof string_ops / sizeof *string_ops; i++)
        if (rc_text_is(c, string_ops[i].name))
            return rule_string_op(c, string_ops[i].name, string_ops[i].kind);
    if (rc_text_is(c, "numeric")) {
        if (rc_next(c) != T_ARR)
            return barf(c, "Value of numeric must be an array.");
        if (rule_numeric(c) < 0)
            return -1;
        return rc_next(c) == T_OBJ_END ? 0 : barf(c, "Too many elements in numeric expression");
    }
    if (rc_text_is(c, "anything-but"))
        return rule_not(c);
    if (rc_text_is(c, "cidr"))
        return rule_cidr(c);
    if (rc_text_is(c, "exists")) {
        ttype_t t = rc_next(c);
        if (t != T_TRUE && t != T_FALSE)
            return barf(c, "exists match pattern must be either true or false.");
        cond_add(c, t == T_TRUE ? FILTER__C_EXISTS : FILTER__C_ABSENT);
        return rc_next(c) == T_OBJ_END ? 0 : barf(c, "Only one key allowed in match expression");
    }
    size_t len;
    const char *s = rc_text(c, &len);
    return barf(c, "Unrecognized match type %.*s", (int)len, s);
}

/* ---- branches (ruler's list of rule maps) -------------------------------------- */

static void rules_free(rules_t *r)
{
    for (size_t i = 0; i < r->n; i++)
        free(r->b[i].e);
    free(r->b);
    memset(r, 0, sizeof *r);
}

static void rules_copy(rules_t *dst, const rules_t *src)
{
    for (size_t i = 0; i < src->n; i++) {
        bbranch_t *b = VEC_PUSH(dst->b, dst->n, dst->cap);
        b->n = b->cap = src->b[i].n;
        b->e = b->n ? xmalloc(b->n * sizeof *b->e) : NULL;
        if (b->n)
            memcpy(b->e, src->b[i].e, b->n * sizeof *b->e);
    }
}

static void rules_append(rules_t *dst, rules_t *src)
{
    for (size_t i = 0; i < src->n; i++)
        *VEC_PUSH(dst->b, dst->n, dst->cap) = src->b[i];
    free(src->b);
    memset(src, 0, sizeof *src);
}

static size_t roots_in(const bbranch_t *b)
{
    size_t distinct = 0;
    for (size_t i = 0; i < b->n; i++) {
        size_t j = 0;
        while (j < i && b->e[j].root != b->e[i].root)
            j++;
        distinct += j == i;
    }
    return distinct;
}

/* Stops the expansion: the policy will be refused for its keys or complexity. */
static void rules_kill(rc_t *c, rules_t *r, const bbranch_t *culprit)
{
    c->dead = 1;
    c->dead_keys = culprit && roots_in(culprit) > FILTER_MAX_KEYS;
    rules_free(r);
}

/* Ruler's rule.put(path, values) on every branch (the last one for a path wins). */
static void rules_put(rc_t *c, rules_t *r, entry_t e)
{
    if (c->dead)
        return;
    if (r->n == 0) {
        bbranch_t *b = VEC_PUSH(r->b, r->n, r->cap);
        memset(b, 0, sizeof *b);
    }
    for (size_t i = 0; i < r->n; i++) {
        bbranch_t *b = &r->b[i];
        size_t j = 0;
        while (j < b->n && b->e[j].path != e.path)
            j++;
        if (j == b->n && b->n == MAX_BRANCH_FIELDS) {
            rules_kill(c, r, b);
            return;
        }
        if (j == b->n)
            VEC_PUSH(b->e, b->n, b->cap);
        b->e[j] = e;
    }
}

static uint32_t intern(rc_t *c, const char *s, size_t len)
{
    uintptr_t id = (uintptr_t)hmap_get(&c->intern, s, len);
    if (id)
        return (uint32_t)(id - 1);
    char *key = xmemdup(s, len);
    size_t nowned = c->npaths;
    *VEC_PUSH(c->owned, nowned, c->capowned) = key;
    filter__path_t *p = VEC_PUSH(c->paths, c->npaths, c->cappaths);
    p->off = 0;
    p->len = (uint32_t)len;
    p->hash = filter__hash(s, len);
    hmap_put(&c->intern, key, len, (void *)(uintptr_t)c->npaths);
    return (uint32_t)(c->npaths - 1);
}

static int rule_object(rc_t *c, rules_t *r, unsigned depth, uint32_t root, int in_or);

/* A value array of the field name (the cursor is past its '['). */
static int rule_values(rc_t *c, rules_t *r, const char *name, size_t nlen, unsigned depth, uint32_t root)
{
    size_t first = c->nconds;
    ttype_t t;
    while ((t = rc_next(c)) != T_ARR_END) {
        int rv = 0;
        switch (t) {
        case T_OBJ: rv = rule_expression(c); break;
        case T_STR: cond_str(c, FILTER__C_STR); break;
        case T_NUM: cond_num(c); break;
        case T_TRUE: cond_add(c, FILTER__C_TRUE); break;
        case T_FALSE: cond_add(c, FILTER__C_FALSE); break;
        case T_NULL: cond_add(c, FILTER__C_NULL); break;
        default: rv = barf(c, "Match value must be String, number, true, false, or null"); break;
        }
        if (rv < 0)
            return -1;
    }
    if (c->nconds == first)
        return barf(c, "Empty arrays are not allowed");
    size_t save = c->path.len;
    if (save)
        buf_putc(&c->path, '.');
    buf_append(&c->path, name, nlen);
    entry_t e = {intern(c, c->path.data, c->path.len), (uint32_t)first, (uint32_t)(c->nconds - first), depth, root};
    c->path.len = save;
    rules_put(c, r, e);
    return 0;
}

/* "$or": [ {...}, {...}, ... ] (the cursor is on the name). */
static int rule_or(rc_t *c, rules_t *r, unsigned depth, uint32_t root)
{
    if (rc_next(c) != T_ARR)
        return barf(c, "It must be an Array followed with $or.");
    rules_t current = *r, alt = {0};
    memset(r, 0, sizeof *r);
    int count = 0, rv = 0;
    ttype_t t;
    while (rv == 0 && (t = rc_next(c)) != T_ARR_END) {
        count++;
        if (t != T_OBJ) {
            rv = barf(c, "Only JSON object is allowed in array of $or relationship.");
            break;
        }
        rules_t one = {0};
        if (!c->dead)
            rules_copy(&one, &current);
        rv = rule_object(c, &one, depth, root, 1);
        if (!c->dead)
            rules_append(&alt, &one);
        rules_free(&one);
        if (!c->dead && alt.n > FILTER_MAX_COMBINATIONS)
            rules_kill(c, &alt, NULL);
    }
    if (rv == 0 && count < 2)
        rv = barf(c, "There must have at least 2 Objects in $or relationship.");
    rules_free(&current);
    *r = alt;
    return rv;
}

/* The members of an object (the cursor is past its '{'); depth 1 is the policy. */
static int rule_object(rc_t *c, rules_t *r, unsigned depth, uint32_t root, int in_or)
{
    static const char *reserved[] = {"exactly", "equals-ignore-case", "prefix", "suffix", "anything-but", "exists",
                                     "wildcard", "numeric", "cidr", "=", "<", "<=", ">", ">=", "regex", "not-wildcard",
                                     "not-equals-ignore-case", "date-after", "date-on-or-after", "date-before",
                                     "date-on-or-before", "in-date-range", "ip-address-in-range", "ip-address-not-in-range"};
    int any = 0;
    if (depth > c->max_depth)
        c->max_depth = depth;
    while (rc_next(c) == T_NAME) {
        any = 1;
        size_t nlen;
        const char *name = rc_text(c, &nlen);
        if (nlen == 3 && memcmp(name, "$or", 3) == 0) {
            if (rule_or(c, r, depth, root) < 0)
                return -1;
            continue;
        }
        for (size_t i = 0; in_or && i < sizeof reserved / sizeof *reserved; i++)
            if (strlen(reserved[i]) == nlen && memcmp(reserved[i], name, nlen) == 0)
                return barf(c, "%.*s is Ruler reserved fieldName which cannot be used inside $or.", (int)nlen, name);
        uint32_t key_root = depth == 1 ? intern(c, name, nlen) : root;
        ttype_t t = rc_next(c);
        if (t == T_OBJ) {
            size_t save = c->path.len;
            if (save)
                buf_putc(&c->path, '.');
            buf_append(&c->path, name, nlen);
            int rv = rule_object(c, r, depth + 1, key_root, in_or);
            c->path.len = save;
            if (rv < 0)
                return -1;
        } else if (t == T_ARR) {
            if (rule_values(c, r, name, nlen, depth, key_root) < 0)
                return -1;
        } else {
            return barf(c, "\"%.*s\" must be an object or an array", (int)nlen, name);
        }
    }
    return any ? 0 : barf(c, "Empty objects are not allowed");
}

/* ---- the SNS checks and the compiled filter ------------------------------------ */

static size_t branch_combinations(const bbranch_t *b)
{
    size_t prod = 1;
    for (size_t i = 0; i < b->n; i++) {
        prod *= (size_t)b->e[i].n * b->e[i].depth;
        if (prod > FILTER_MAX_COMBINATIONS)
            return FILTER_MAX_COMBINATIONS + 1;
    }
    return prod;
}

/* What SNS checks once ruler accepted the policy: nesting, keys, complexity.
 * Keys are counted per branch, top-level keys only (AWS: "in payload-based
 * filtering, only these top-level keys count toward the limit"); a
 * combination is the product, over a branch's fields, of the field's value
 * count times its nesting depth (AWS's documented example: 3 x 4 x 2 x 3 x 1
 * x 3 = 216), summed over the $or branches. */
static int sns_checks(rc_t *c, const rules_t *r)
{
    if (c->scope == FILTER_SCOPE_ATTRIBUTES && c->max_depth > 1)
        return buf_puts(c->why, ERR_NESTED), -1;
    if (c->dead)
        return buf_puts(c->why, c->dead_keys ? ERR_KEYS : ERR_COMPLEX), -1;
    size_t total = 0;
    for (size_t i = 0; i < r->n; i++)
        if (roots_in(&r->b[i]) > FILTER_MAX_KEYS)
            return buf_puts(c->why, ERR_KEYS), -1;
    for (size_t i = 0; i < r->n && total <= FILTER_MAX_COMBINATIONS; i++)
        total += branch_combinations(&r->b[i]);
    if (total > FILTER_MAX_COMBINATIONS)
        return buf_puts(c->why, ERR_COMPLEX), -1;
    return 0;
}

/* The entry a branch is indexed by: all its conditions exact values, fewest of them. */
static uint32_t choose_anchor(const rc_t *c, const bbranch_t *b)
{
    uint32_t best = FILTER__NONE;
    for (size_t i = 0; i < b->n; i++) {
        const entry_t *e = &b->e[i];
        size_t k = 0;
        while (k < e->n && c->conds[e->first + k].kind <= FILTER__C_NULL)
            k++;
        if (k == e->n && (best == FILTER__NONE || e->n < b->e[best].n))
            best = (uint32_t)i;
    }
    return best;
}

/* Anything-but string lists sorted by (length, bytes) for binary search. */
typedef struct sortstr {
    const char *s;
    filter__strref_t r;
} sortstr_t;

static int sortstr_cmp(const void *a, const void *b)
{
    const sortstr_t *x = a, *y = b;
    if (x->r.len != y->r.len)
        return x->r.len < y->r.len ? -1 : 1;
    return memcmp(x->s, y->s, x->r.len);
}

static int i64_cmp(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

static void sort_lists(rc_t *c)
{
    for (size_t i = 0; i < c->nconds; i++) {
        filter__cond_t *k = &c->conds[i];
        if (k->kind == FILTER__C_NOT_NUMS) {
            qsort(c->nums + k->off, k->len, sizeof *c->nums, i64_cmp);
        } else if (k->kind == FILTER__C_NOT_STRS) {
            sortstr_t *tmp = xmalloc(k->len * sizeof *tmp);
            for (uint32_t j = 0; j < k->len; j++) {
                tmp[j].r = c->strs[k->off + j];
                tmp[j].s = c->text->data + tmp[j].r.off;
            }
            qsort(tmp, k->len, sizeof *tmp, sortstr_cmp);
            for (uint32_t j = 0; j < k->len; j++)
                c->strs[k->off + j] = tmp[j].r;
            free(tmp);
        }
    }
}

static filter_t *build(rc_t *c, const rules_t *r)
{
    filter_t *f = xcalloc(1, sizeof *f);
    f->scope = c->scope;
    sort_lists(c);
    for (size_t i = 0; i < c->npaths; i++) {
        c->paths[i].off = (uint32_t)c->text->len;
        buf_append(c->text, c->owned[i], c->paths[i].len);
    }
    size_t ne = 0;
    for (size_t i = 0; i < r->n; i++)
        ne += r->b[i].n;
    f->entries = xmalloc(ne * sizeof *f->entries);
    f->branches = xmalloc(r->n * sizeof *f->branches);
    f->nbranches = r->n;
    ne = 0;
    for (size_t i = 0; i < r->n; i++) {
        const bbranch_t *b = &r->b[i];
        f->branches[i] = (filter__branch_t){(uint32_t)ne, (uint32_t)b->n, choose_anchor(c, b)};
        for (size_t j = 0; j < b->n; j++)
            f->entries[ne++] = (filter__entry_t){b->e[j].path, b->e[j].first, b->e[j].n};
    }
    f->paths = c->paths;
    f->conds = c->conds;
    f->strs = c->strs;
    f->nums = c->nums;
    c->paths = NULL;
    c->conds = NULL;
    c->strs = NULL;
    c->nums = NULL;
    f->text = buf_detach(c->text, NULL);
    return f;
}

static filter_t *compile_rules(const lex_t *lx, filter_scope_t scope, buf_t *text, buf_t *why)
{
    rc_t c = {.lx = lx, .text = text, .why = why, .scope = scope};
    rules_t r = {0};
    filter_t *f = NULL;
    hmap_init(&c.intern);
    int rv = rc_next(&c) == T_OBJ ? rule_object(&c, &r, 1, FILTER__NONE, 0) : barf(&c, "Filter is not an object");
    if (rv == 0 && sns_checks(&c, &r) == 0)
        f = build(&c, &r);
    rules_free(&r);
    hmap_free(&c.intern);
    for (size_t i = 0; i < c.npaths; i++)
        free(c.owned[i]);
    free(c.owned);
    free(c.paths);
    free(c.conds);
    free(c.strs);
    free(c.nums);
    buf_free(&c.path);
    return f;
}

filter_t *filter_compile(const char *json, size_t len, filter_scope_t scope, char *why, size_t why_len)
{
    buf_t w = BUF_INIT, text = BUF_INIT;
    filter_t *f = NULL;
    if (len > FILTER_MAX_POLICY_BYTES) {
        buf_puts(&w, ERR_TOO_BIG);
    } else {
        /* Decoded strings and number texts never outgrow the policy, so with
         * this reserve the buffer does not move while tokens point into it. */
        buf_reserve(&text, 2 * len + 16);
        lex_t lx = {.p = (const unsigned char *)json, .n = len, .text = &text, .why = &w};
        if (lex_run(&lx) == 0)
            f = compile_rules(&lx, scope, &text, &w);
        free(lx.t);
        free(lx.st);
    }
    if (!f && why && why_len)
        snprintf(why, why_len, "%s%.*s", FILTER_WHY_PREFIX, (int)w.len, w.data ? w.data : "");
    buf_free(&w);
    buf_free(&text);
    return f;
}

void filter_free(filter_t *f)
{
    if (!f)
        return;
    free(f->text);
    free(f->paths);
    free(f->conds);
    free(f->strs);
    free(f->nums);
    free(f->entries);
    free(f->branches);
    free(f);
}

filter_scope_t filter_scope(const filter_t *f)
{
    return f->scope;
}

