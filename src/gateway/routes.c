/*
 * routes — see routes.h. The table is a list of templates, each with its
 * methods; a match walks every template (a gateway has tens of routes, and
 * a walk is a few comparisons per segment), keeping the most specific.
 */
#include "gateway/routes.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/form.h"
#include "util/alloc.h"
#include "util/text.h"

enum { SEG_LITERAL, SEG_PARAM, SEG_GREEDY };

typedef struct seg {
    int kind;
    char *text; /* the literal, or the parameter's name */
} seg_t;

typedef struct method_route {
    char method[8];
    void *value;
} method_route_t;

typedef struct tmpl {
    seg_t seg[ROUTES_MAX_SEGMENTS];
    int nseg;
    method_route_t *methods;
    size_t nmethods;
} tmpl_t;

struct routes {
    tmpl_t **t;
    size_t n;
};

static const char *const METHODS[] = {"GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "ANY"};

routes_t *routes_new(void)
{
    return xcalloc(1, sizeof(routes_t));
}

static void tmpl_free(tmpl_t *t)
{
    for (int i = 0; i < t->nseg; i++)
        free(t->seg[i].text);
    free(t->methods);
    free(t);
}

void routes_free(routes_t *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->n; i++)
        tmpl_free(r->t[i]);
    free(r->t);
    free(r);
}

/* Parses tmpl into t; -1 with why. */
static int parse_template(const char *s, tmpl_t *t, char *why, size_t n)
{
    size_t len = strlen(s);
    if (len == 0 || s[0] != '/' || len >= ROUTES_PATH_MAX)
        return snprintf(why, n, "a path template starts with '/' and is shorter than %d bytes", ROUTES_PATH_MAX), -1;
    t->nseg = 0;
    if (len == 1)
        return 0; /* "/": no segments */
    const char *p = s + 1;
    for (;;) {
        const char *e = strchr(p, '/');
        size_t sl = e ? (size_t)(e - p) : strlen(p);
        if (sl == 0)
            return snprintf(why, n, "empty segment in %s", s), -1;
        if (t->nseg == ROUTES_MAX_SEGMENTS)
            return snprintf(why, n, "more than %d segments in %s", ROUTES_MAX_SEGMENTS, s), -1;
        seg_t *g = &t->seg[t->nseg++];
        if (p[0] == '{') {
            int greedy = sl > 3 && p[sl - 2] == '+';
            size_t nl = sl - 2 - (size_t)greedy;
            if (p[sl - 1] != '}' || nl == 0)
                return snprintf(why, n, "a parameter is a whole segment {name} or {name+}: %.*s", (int)sl, p), -1;
            if (!text_name_chars(p + 1, nl, "_-."))
                return snprintf(why, n, "bad parameter name in %.*s", (int)sl, p), -1;
            if (greedy && e)
                return snprintf(why, n, "a greedy parameter {%.*s+} must be the last segment", (int)nl, p + 1), -1;
            for (int i = 0; i < t->nseg - 1; i++)
                if (t->seg[i].kind != SEG_LITERAL && strlen(t->seg[i].text) == nl &&
                    !memcmp(t->seg[i].text, p + 1, nl))
                    return snprintf(why, n, "parameter {%.*s} appears twice", (int)nl, p + 1), -1;
            g->kind = greedy ? SEG_GREEDY : SEG_PARAM;
            g->text = xmemdup(p + 1, nl);
        } else {
            for (size_t i = 0; i < sl; i++)
                if (p[i] == '{' || p[i] == '}' || (unsigned char)p[i] < 0x21 || p[i] == 0x7f || p[i] == '?' ||
                    p[i] == '#' || p[i] == '%')
                    return snprintf(why, n, "bad character in literal segment %.*s", (int)sl, p), -1;
            g->kind = SEG_LITERAL;
            g->text = xmemdup(p, sl);
        }
        if (!e)
            return 0;
        p = e + 1;
    }
}

static int same_shape(const tmpl_t *a, const tmpl_t *b)
{
    if (a->nseg != b->nseg)
        return 0;
    for (int i = 0; i < a->nseg; i++)
        if (a->seg[i].kind != b->seg[i].kind ||
            (a->seg[i].kind == SEG_LITERAL && strcmp(a->seg[i].text, b->seg[i].text) != 0))
            return 0;
    return 1;
}

/* Same shape but other parameter names: one template to a client. */
static int same_names(const tmpl_t *a, const tmpl_t *b)
{
    for (int i = 0; i < a->nseg; i++)
        if (strcmp(a->seg[i].text, b->seg[i].text) != 0)
            return 0;
    return 1;
}

status_t routes_add(routes_t *r, const char *method, const char *tmpl, void *value, err_t *err)
{
    char why[256];
    size_t m = 0;
    while (m < sizeof METHODS / sizeof METHODS[0] && strcmp(METHODS[m], method ? method : "") != 0)
        m++;
    if (m == sizeof METHODS / sizeof METHODS[0])
        return err_set(err, ST_VALIDATION_ERROR, "unknown method %s (GET, POST, PUT, DELETE, PATCH, HEAD, OPTIONS, ANY)",
                       method ? method : "(none)");
    tmpl_t *t = xcalloc(1, sizeof *t);
    if (parse_template(tmpl ? tmpl : "", t, why, sizeof why) != 0) {
        tmpl_free(t);
        return err_set(err, ST_VALIDATION_ERROR, "%s", why);
    }
    tmpl_t *have = NULL;
    for (size_t i = 0; i < r->n && !have; i++)
        if (same_shape(r->t[i], t))
            have = r->t[i];
    if (have && !same_names(have, t)) {
        tmpl_free(t);
        return err_set(err, ST_VALIDATION_ERROR, "%s differs from an existing template only in parameter names", tmpl);
    }
    if (have) {
        tmpl_free(t);
        for (size_t i = 0; i < have->nmethods; i++)
            if (strcmp(have->methods[i].method, method) == 0)
                return err_set(err, ST_VALIDATION_ERROR, "%s %s is declared twice", method, tmpl);
        t = have;
    } else {
        r->t = xrealloc(r->t, (r->n + 1) * sizeof *r->t);
        r->t[r->n++] = t;
    }
    t->methods = xrealloc(t->methods, (t->nmethods + 1) * sizeof *t->methods);
    snprintf(t->methods[t->nmethods].method, sizeof t->methods[0].method, "%s", method);
    t->methods[t->nmethods++].value = value;
    return ST_OK;
}

typedef struct span {
    const char *p;
    size_t n;
} span_t;

/* Splits the path into segments; -1 when it has more than the maximum. An
 * empty segment (a//b, or a trailing '/') is kept: it matches no template
 * segment, so /users/ is not /users/{id}. */
static int split(const char *path, size_t len, span_t *out)
{
    int n = 0;
    if (len <= 1)
        return 0;
    const char *p = path + 1, *end = path + len;
    for (;;) {
        const char *e = memchr(p, '/', (size_t)(end - p));
        if (n == ROUTES_MAX_SEGMENTS * 4)
            return -1;
        out[n++] = (span_t){p, e ? (size_t)(e - p) : (size_t)(end - p)};
        if (!e)
            return n;
        p = e + 1;
    }
}

/* Ranks t against the segments: fills rank[] (per template segment kind)
 * and returns 1 on a match. */
static int try_match(const tmpl_t *t, const span_t *s, int ns)
{
    int i = 0;
    for (; i < t->nseg; i++) {
        const seg_t *g = &t->seg[i];
        if (g->kind == SEG_GREEDY) {
            for (int k = i; k < ns; k++)
                if (s[k].n == 0)
                    return 0;
            return ns > i;
        }
        if (i >= ns || s[i].n == 0)
            return 0;
        if (g->kind == SEG_LITERAL && (strlen(g->text) != s[i].n || memcmp(g->text, s[i].p, s[i].n) != 0))
            return 0;
        if (g->kind == SEG_PARAM) {
            char dec[ROUTES_PATH_MAX];
            if (form_decode_segment(s[i].p, s[i].n, dec, sizeof dec) != 0 || strchr(dec, '/'))
                return 0;
        }
    }
    return i == ns;
}

/* <0 when a is more specific than b. */
static int specificity_cmp(const tmpl_t *a, const tmpl_t *b)
{
    for (int i = 0; i < a->nseg && i < b->nseg; i++)
        if (a->seg[i].kind != b->seg[i].kind)
            return a->seg[i].kind - b->seg[i].kind;
    return b->nseg - a->nseg; /* more segments matched literally or by name first */
}

static void put_params(const tmpl_t *t, const span_t *s, int ns, kvv_t *params)
{
    char dec[ROUTES_PATH_MAX];
    for (int i = 0; i < t->nseg; i++) {
        if (t->seg[i].kind == SEG_PARAM) {
            form_decode_segment(s[i].p, s[i].n, dec, sizeof dec);
            kvv_add(params, t->seg[i].text, dec);
        } else if (t->seg[i].kind == SEG_GREEDY) {
            /* the rest of the path as sent (still encoded): it is forwarded, not interpreted */
            size_t len = (size_t)(s[ns - 1].p + s[ns - 1].n - s[i].p);
            char *rest = xmemdup(s[i].p, len);
            kvv_add_own(params, t->seg[i].text, rest);
        }
    }
}

routes_result_t routes_match(const routes_t *r, const char *method, const char *path, size_t path_len,
                             void **value, kvv_t *params, char *allow, size_t allow_len)
{
    span_t s[ROUTES_MAX_SEGMENTS * 4];
    int ns = path_len && path[0] == '/' ? split(path, path_len, s) : -1;
    const tmpl_t *best = NULL;
    for (size_t i = 0; ns >= 0 && i < r->n; i++)
        if (try_match(r->t[i], s, ns) && (!best || specificity_cmp(r->t[i], best) < 0))
            best = r->t[i];
    if (!best)
        return ROUTES_NO_PATH;
    const method_route_t *hit = NULL;
    for (size_t i = 0; i < best->nmethods; i++) {
        if (strcmp(best->methods[i].method, method) == 0)
            hit = &best->methods[i];
        else if (!hit && strcmp(best->methods[i].method, "ANY") == 0)
            hit = &best->methods[i];
    }
    if (!hit) {
        size_t k = 0;
        if (allow && allow_len)
            allow[0] = 0;
        for (size_t i = 0; allow && i < best->nmethods && k < allow_len; i++)
            k += (size_t)snprintf(allow + k, allow_len - k, "%s%s", i ? ", " : "", best->methods[i].method);
        return ROUTES_NO_METHOD;
    }
    *value = hit->value;
    put_params(best, s, ns, params);
    return ROUTES_MATCHED;
}
