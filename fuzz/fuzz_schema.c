/*
 * fuzz_schema — libFuzzer target for gateway/schema: compile and validate.
 *
 * The input is a schema document and a request value separated by the
 * first NUL byte (without one, the input is both). When the schema parses
 * but does not compile, the reason is non-empty. When it compiles, its
 * document is freed first (the schema must not need it), then the value is
 * validated, and:
 *   - the result is 0 with an empty message, or -1 with a message that
 *     starts with the path root "$" and ends with the keyword in
 *     parentheses;
 *   - validating again, with and without a message buffer, gives the same
 *     result and the same message (no hidden state between calls);
 * Independently of the schema, JSON equality is reflexive: a value without
 * repeated keys conforms to {"const": value} and {"enum": [value]}.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "gateway/schema.h"

static int has_repeated_keys(const jv_t *v)
{
    for (size_t i = 0; v->type == JV_ARRAY && i < v->len; i++)
        if (has_repeated_keys(v->u.items[i]))
            return 1;
    for (size_t i = 0; v->type == JV_OBJECT && i < v->len; i++) {
        if (has_repeated_keys(v->u.pairs[i].val))
            return 1;
        for (size_t j = 0; j < i; j++)
            if (v->u.pairs[j].klen == v->u.pairs[i].klen &&
                memcmp(v->u.pairs[j].key, v->u.pairs[i].key, v->u.pairs[i].klen) == 0)
                return 1;
    }
    return 0;
}

static void check_validate(const schema_t *s, const jv_t *v)
{
    char msg[8192], again[8192];
    int rc = schema_validate(s, v, msg, sizeof msg);
    FUZZ_CHECK(rc == 0 || rc == -1);
    size_t n = strlen(msg);
    if (rc == 0)
        FUZZ_CHECK(n == 0);
    else
        FUZZ_CHECK(n > 3 && msg[0] == '$' && (n == sizeof msg - 1 || msg[n - 1] == ')'));
    FUZZ_CHECK(schema_validate(s, v, NULL, 0) == rc);
    FUZZ_CHECK(schema_validate(s, v, again, sizeof again) == rc && strcmp(msg, again) == 0);
}

/* v conforms to a schema that holds v itself as its const and its enum. */
static void check_reflexive(const jv_t *v)
{
    if (has_repeated_keys(v))
        return;
    jv_doc_t *d = jv_doc_new();
    jv_t *doc = jv_object(d);
    jv_set(d, doc, "const", jv_copy(d, v));
    jv_set(d, doc, "enum", jv_push(d, jv_array(d), jv_copy(d, v)));
    char why[256] = "";
    schema_t *s = schema_compile(doc, why, sizeof why);
    jv_doc_free(d);
    FUZZ_CHECK(s != NULL);
    FUZZ_CHECK(schema_validate(s, v, NULL, 0) == 0);
    schema_free(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *text = (const char *)data, *nul = memchr(data, 0, size);
    size_t schema_len = nul ? (size_t)(nul - text) : size;
    const char *value_text = nul ? nul + 1 : text;
    size_t value_len = nul ? size - schema_len - 1 : size;

    jv_doc_t *vd = jv_doc_new(), *sd = jv_doc_new();
    jv_t *v = jv_parse(vd, value_text, value_len, NULL, 0);
    jv_t *doc = jv_parse(sd, text, schema_len, NULL, 0);
    char why[512] = "";
    schema_t *s = doc ? schema_compile(doc, why, sizeof why) : NULL;
    jv_doc_free(sd);
    if (doc && !s)
        FUZZ_CHECK(why[0] != '\0');
    if (s && v)
        check_validate(s, v);
    if (v)
        check_reflexive(v);
    schema_free(s);
    jv_doc_free(vd);
    return 0;
}
