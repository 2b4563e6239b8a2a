/*
 * fuzz_filter — libFuzzer target for topics/filter: policy compiling in both
 * scopes, matching attributes, bodies and parsed documents, and filter sets.
 *
 * Input: a policy, then optionally a NUL byte and a message. The message is
 * the body as it is, and it is also read as attributes: records separated by
 * 0x1e, each "T name\x1f value" where T picks the type (S String, N Number,
 * A String.Array, B Binary, anything else: its own type text up to the space).
 *
 * Invariants:
 *   - a refusal is "Invalid parameter: " and a reason, NUL-terminated within
 *     the buffer, whatever the input;
 *   - compiling is deterministic: the same text gives the same verdict and
 *     the same refusal;
 *   - for a compiled filter, filter_match agrees with the per-scope function
 *     of its scope, the body and its parsed document match alike, and a
 *     filter set holding the filter (twice, under two ids, plus a filter of
 *     the other scope) reports exactly what matching alone reports.
 * Leaks and memory errors are the sanitizers' business.
 */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "topics/filter.h"
#include "util/alloc.h"
#include "util/jv.h"

#define MAX_ATTRS 16

typedef struct attrs {
    filter_attr_t a[MAX_ATTRS];
    char *names[MAX_ATTRS], *types[MAX_ATTRS];
    size_t n;
} attrs_t;

static const char *type_of(const char *rec, size_t len, char **own)
{
    switch (len ? rec[0] : 0) {
    case 'S': return "String";
    case 'N': return "Number";
    case 'A': return "String.Array";
    case 'B': return "Binary";
    default: break;
    }
    const char *sp = memchr(rec, ' ', len);
    *own = xmemdup(rec, sp ? (size_t)(sp - rec) : len);
    return *own;
}

static void attrs_parse(attrs_t *at, const char *msg, size_t len)
{
    at->n = 0;
    for (size_t i = 0; i < len && at->n < MAX_ATTRS;) {
        const char *rec = msg + i, *end = memchr(rec, 0x1e, len - i);
        size_t rlen = end ? (size_t)(end - rec) : len - i;
        i += rlen + 1;
        const char *sp = memchr(rec, ' ', rlen), *us = memchr(rec, 0x1f, rlen);
        if (!sp || !us || us < sp)
            continue;
        size_t k = at->n++;
        at->types[k] = NULL;
        at->a[k].type = type_of(rec, rlen, &at->types[k]);
        at->names[k] = xmemdup(sp + 1, (size_t)(us - sp - 1));
        at->a[k].name = at->names[k];
        at->a[k].value = us + 1;
        at->a[k].value_len = (size_t)(rec + rlen - us - 1);
    }
}

static void attrs_free(attrs_t *at)
{
    for (size_t i = 0; i < at->n; i++) {
        free(at->names[i]);
        free(at->types[i]);
    }
}

static filter_t *compile_checked(const char *p, size_t n, filter_scope_t scope)
{
    char why[512], again[512];
    memset(why, 0x55, sizeof why);
    filter_t *f = filter_compile(p, n, scope, why, sizeof why);
    filter_t *g = filter_compile(p, n, scope, again, sizeof again);
    FUZZ_CHECK(!f == !g);
    filter_free(g);
    if (!f) {
        FUZZ_CHECK(memchr(why, '\0', sizeof why) != NULL);
        FUZZ_CHECK(strncmp(why, FILTER_WHY_PREFIX, strlen(FILTER_WHY_PREFIX)) == 0);
        FUZZ_CHECK(strlen(why) > strlen(FILTER_WHY_PREFIX));
        FUZZ_CHECK(strcmp(why, again) == 0);
    }
    return f;
}

/* Matching alone and through a set agree. */
static void check_match(filter_t *f, filter_t *other, const attrs_t *at, const char *body, size_t blen)
{
    int alone = filter_match(f, at->a, at->n, body, blen);
    if (filter_scope(f) == FILTER_SCOPE_BODY) {
        FUZZ_CHECK(alone == filter_match_body(f, body, blen));
        FUZZ_CHECK(filter_match_attrs(f, at->a, at->n) == 0);
        jv_doc_t *d = jv_doc_new();
        jv_t *doc = jv_parse(d, body, blen, NULL, 0);
        FUZZ_CHECK(filter_match_json(f, doc) == alone);
        jv_doc_free(d);
    } else {
        FUZZ_CHECK(alone == filter_match_attrs(f, at->a, at->n));
        FUZZ_CHECK(filter_match_body(f, body, blen) == 0);
    }
    int other_alone = other ? filter_match(other, at->a, at->n, body, blen) : 0;
    filter_set_t *s = filter_set_new();
    filter_set_add(s, f, 1);
    filter_set_add(s, f, 2);
    if (other)
        filter_set_add(s, other, 3);
    filter_ids_t ids = FILTER_IDS_INIT;
    size_t got = filter_set_match(s, at->a, at->n, body, blen, &ids);
    FUZZ_CHECK(got == ids.n && got == (size_t)(2 * alone + other_alone));
    for (size_t i = 0; i < ids.n; i++)
        FUZZ_CHECK(ids.ids[i] == 3 ? other_alone : alone);
    filter_set_remove(s, 2);
    ids.n = 0;
    FUZZ_CHECK(filter_set_match(s, at->a, at->n, body, blen, &ids) == (size_t)(alone + other_alone));
    filter_ids_free(&ids);
    filter_set_free(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *p = (const char *)data, *nul = memchr(p, '\0', size);
    size_t plen = nul ? (size_t)(nul - p) : size;
    const char *msg = nul ? nul + 1 : "";
    size_t mlen = nul ? size - plen - 1 : 0;
    filter_t *fa = compile_checked(p, plen, FILTER_SCOPE_ATTRIBUTES);
    filter_t *fb = compile_checked(p, plen, FILTER_SCOPE_BODY);
    /* a policy that compiles for attributes compiles for bodies too */
    FUZZ_CHECK(!fa || fb);
    attrs_t at;
    attrs_parse(&at, msg, mlen);
    if (fa)
        check_match(fa, fb, &at, msg, mlen);
    if (fb)
        check_match(fb, fa, &at, msg, mlen);
    attrs_free(&at);
    filter_free(fa);
    filter_free(fb);
    return 0;
}
