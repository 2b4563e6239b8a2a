/* xml — streaming XML writer; escaping rules and contracts in xml.h. */
#include "proto/xml.h"

#include <string.h>

#include "util/alloc.h"

#define REPLACEMENT "\xEF\xBF\xBD" /* U+FFFD in UTF-8 */

/*
 * Decodes one UTF-8 character at s[0..n), n >= 1. Returns the code point and
 * its length in *len, or -1 (with *len = 1) for a byte that does not start a
 * well-formed sequence: stray continuation bytes, truncated sequences,
 * overlong forms, surrogates and anything past U+10FFFF.
 */
static long utf8_next(const unsigned char *s, size_t n, size_t *len)
{
    static const long min_cp[] = {0, 0, 0x80, 0x800, 0x10000};
    unsigned char c = s[0];
    size_t want = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    *len = 1;
    if (want == 1)
        return c;
    if (want == 0 || want > n)
        return -1;
    long cp = c & (0x7F >> want);
    for (size_t i = 1; i < want; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return -1;
        cp = cp << 6 | (s[i] & 0x3F);
    }
    if (cp < min_cp[want] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
        return -1;
    *len = want;
    return cp;
}

static int xml_char_allowed(long cp)
{
    return cp == 0x9 || cp == 0xA || cp == 0xD || (cp >= 0x20 && cp <= 0xD7FF) ||
           (cp >= 0xE000 && cp <= 0xFFFD) || (cp >= 0x10000 && cp <= 0x10FFFF);
}

void xml_utf8_scrub(buf_t *out, const char *s, size_t n)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t run = 0, len;
    for (size_t i = 0; i < n; i += len) {
        if (utf8_next(u + i, n - i, &len) >= 0)
            continue;
        buf_append(out, s + run, i - run);
        buf_puts(out, REPLACEMENT);
        run = i + len;
    }
    buf_append(out, s + run, n - run);
}

/* The entity for an ASCII character that needs one, else NULL. */
static const char *entity_for(unsigned char c)
{
    switch (c) {
    case '&': return "&amp;";
    case '<': return "&lt;";
    case '>': return "&gt;";
    case '"': return "&quot;";
    case '\'': return "&apos;";
    case '\r': return "&#xD;";
    default: return NULL;
    }
}

void xml_escape(buf_t *out, const char *s, size_t n)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t run = 0, len; /* run: start of bytes not yet written, copied verbatim */
    for (size_t i = 0; i < n; i += len) {
        long cp = utf8_next(u + i, n - i, &len);
        const char *subst = cp < 0x80 ? entity_for((unsigned char)cp) : NULL;
        if (!xml_char_allowed(cp))
            subst = REPLACEMENT;
        if (!subst)
            continue;
        buf_append(out, s + run, i - run);
        buf_puts(out, subst);
        run = i + len;
    }
    buf_append(out, s + run, n - run);
}

void xml_init(xml_t *x, buf_t *out)
{
    memset(x, 0, sizeof *x);
    x->out = out;
}

void xml_declaration(xml_t *x)
{
    buf_puts(x->out, "<?xml version=\"1.0\"?>");
}

/* Completes a pending start tag before content goes into its element. */
static void end_start_tag(xml_t *x)
{
    if (x->tag_open) {
        buf_putc(x->out, '>');
        x->tag_open = 0;
    }
}

void xml_open(xml_t *x, const char *name)
{
    if (x->depth == XML_MAX_DEPTH)
        util_fatal("xml: elements nested too deeply");
    end_start_tag(x);
    buf_putc(x->out, '<');
    buf_puts(x->out, name);
    x->stack[x->depth++] = name;
    x->tag_open = 1;
}

void xml_attr(xml_t *x, const char *name, const char *value)
{
    if (!x->tag_open)
        util_fatal("xml: attribute outside a start tag");
    buf_printf(x->out, " %s=\"", name);
    xml_escape(x->out, value, strlen(value));
    buf_putc(x->out, '"');
}

void xml_text(xml_t *x, const char *s, size_t n)
{
    end_start_tag(x);
    xml_escape(x->out, s, n);
}

void xml_close(xml_t *x)
{
    if (x->depth == 0)
        util_fatal("xml: close without an open element");
    const char *name = x->stack[--x->depth];
    if (x->tag_open) {
        buf_puts(x->out, "/>");
        x->tag_open = 0;
        return;
    }
    buf_printf(x->out, "</%s>", name);
}

void xml_leaf(xml_t *x, const char *name, const char *text)
{
    xml_open(x, name);
    xml_text(x, text, strlen(text));
    xml_close(x);
}

void xml_finish(xml_t *x)
{
    while (x->depth > 0)
        xml_close(x);
}
