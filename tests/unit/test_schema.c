/*
 * test_schema — request validation against the JSON Schema subset: every
 * keyword passing and failing, the message format (path from the root, rule,
 * keyword) through nested objects and arrays, exact number comparison, code
 * point lengths, PCRE2 patterns, compile errors, and hostile requests.
 *
 * Test texts write ' for " (schemas, values and expected messages alike) to
 * stay readable. Every schema's document is freed before the schema is used,
 * so a sanitizer build catches a schema that still points into it.
 */
#include "gateway/schema.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include "harness.h"
#include "util/alloc.h"
#include "util/buf.h"

static char *dq(const char *s)
{
    char *t = xstrdup(s);
    for (char *p = t; *p; p++)
        if (*p == '\'')
            *p = '"';
    return t;
}

static jv_t *parse_dq(jv_doc_t *d, const char *text)
{
    char *t = dq(text);
    jv_t *v = jv_parse(d, t, strlen(t), NULL, 0);
    free(t);
    return v;
}

/* Compiles schema (its document already gone on return), or NULL with why. */
static schema_t *compile_dq(const char *schema, char *why, size_t why_len)
{
    jv_doc_t *d = jv_doc_new();
    jv_t *doc = parse_dq(d, schema);
    schema_t *s = doc ? schema_compile(doc, why, why_len) : NULL;
    if (!doc)
        snprintf(why, why_len, "test schema is not JSON");
    jv_doc_free(d);
    return s;
}

/* "ok", the validation message, or "compile: <why>". */
static const char *verdict(const char *schema, const char *value)
{
    static char out[1024];
    char why[512] = "";
    schema_t *s = compile_dq(schema, why, sizeof why);
    jv_doc_t *d = jv_doc_new();
    jv_t *v = parse_dq(d, value);
    if (!s)
        snprintf(out, sizeof out, "compile: %s", why);
    else if (!v)
        snprintf(out, sizeof out, "test value is not JSON");
    else if (schema_validate(s, v, out, sizeof out) == 0)
        snprintf(out, sizeof out, "ok");
    schema_free(s);
    jv_doc_free(d);
    return out;
}

static int expect(const char *schema, const char *value, const char *want, int line)
{
    char *w = dq(want);
    const char *got = verdict(schema, value);
    int ok = strcmp(got, w) == 0;
    if (!ok)
        harness_fail(__FILE__, line, "schema %s, value %s:\n      got  %s\n      want %s", schema, value, got, w);
    free(w);
    return ok;
}

#define EXPECT(schema, value, want) CHECK(expect(schema, value, want, __LINE__))
#define PASSES(schema, value) EXPECT(schema, value, "ok")
#define REFUSED(schema, want) EXPECT(schema, "null", "compile: " want)

/* ---- type ------------------------------------------------------------------------ */

TEST(type_each_name)
{
    static const struct {
        const char *type, *good, *bad;
    } cases[] = {
        {"object", "{}", "[]"},      {"array", "[1]", "{}"},     {"string", "''", "1"},
        {"number", "1.5", "'1.5'"},  {"integer", "-7", "7.5"},   {"boolean", "false", "0"},
        {"null", "null", "false"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char schema[64], want[64];
        snprintf(schema, sizeof schema, "{'type':'%s'}", cases[i].type);
        snprintf(want, sizeof want, "$: must be %s (type)", cases[i].type);
        PASSES(schema, cases[i].good);
        EXPECT(schema, cases[i].bad, want);
    }
}

TEST(type_arrays)
{
    PASSES("{'type':['string','null']}", "null");
    PASSES("{'type':['string','null']}", "'x'");
    EXPECT("{'type':['string','null']}", "1", "$: must be string or null (type)");
    EXPECT("{'type':['object','array','null']}", "true", "$: must be object, array or null (type)");
    PASSES("{'type':['integer','string']}", "3");
}

TEST(integer_is_a_value_not_a_spelling)
{
    const char *schema = "{'type':'integer'}";
    PASSES(schema, "1.0");
    PASSES(schema, "-0");
    PASSES(schema, "1e2");
    PASSES(schema, "12.5e1");
    PASSES(schema, "1e400");
    PASSES(schema, "123456789012345678901234567890");
    EXPECT(schema, "1.5", "$: must be integer (type)");
    EXPECT(schema, "1e-1", "$: must be integer (type)");
    EXPECT(schema, "1.0000000000000000000000001", "$: must be integer (type)");
    PASSES("{'type':'number'}", "1");
    PASSES("{'type':'number'}", "1.5");
}

/* ---- enum and const ------------------------------------------------------------------ */

TEST(enum_strings)
{
    const char *schema = "{'properties':{'operation':{'enum':['division','multiplication']}}}";
    PASSES(schema, "{'operation':'division'}");
    EXPECT(schema, "{'operation':'addition'}", "$.operation: must be one of 'division', 'multiplication' (enum)");
    EXPECT(schema, "{'operation':null}", "$.operation: must be one of 'division', 'multiplication' (enum)");
}

TEST(enum_json_equality)
{
    const char *schema = "{'enum':[1, {'a':1,'b':[1,2]}, [1,'x'], null, true]}";
    PASSES(schema, "1.0");
    PASSES(schema, "10e-1");
    PASSES(schema, "{'b':[1,2.0],'a':1}"); /* key order and number spelling do not matter */
    PASSES(schema, "[1,'x']");
    PASSES(schema, "null");
    PASSES(schema, "true");
    const char *want = "$: must be one of 1, {'a':1,'b':[1,2]}, [1,'x'], null, true (enum)";
    EXPECT(schema, "'1'", want);
    EXPECT(schema, "false", want);
    EXPECT(schema, "['x',1]", want);
    EXPECT(schema, "[1,'x',2]", want);
    EXPECT(schema, "{'a':1}", want);
    EXPECT(schema, "{'a':1,'b':[1,2],'c':3}", want);
    EXPECT(schema, "{'a':1,'b':[1,3]}", want);
    /* a repeated key must agree in every occurrence */
    EXPECT(schema, "{'a':2,'a':1,'b':[1,2]}", want);
    PASSES(schema, "{'a':1,'a':1,'b':[1,2]}");
}

TEST(const_values)
{
    PASSES("{'const':'v1'}", "'v1'");
    EXPECT("{'const':'v1'}", "'v2'", "$: must be 'v1' (const)");
    PASSES("{'const':{'x':[0.5]}}", "{'x':[5e-1]}");
    EXPECT("{'const':{'x':[0.5]}}", "{'x':[0.5,1]}", "$: must be {'x':[0.5]} (const)");
    PASSES("{'const':null}", "null");
    EXPECT("{'const':null}", "0", "$: must be null (const)");
}

/* ---- numbers ------------------------------------------------------------------------- */

TEST(bounds)
{
    PASSES("{'minimum':5}", "5");
    EXPECT("{'minimum':5}", "4.999", "$: must be at least 5 (minimum)");
    PASSES("{'maximum':10}", "10.0");
    EXPECT("{'maximum':10}", "11", "$: must be at most 10 (maximum)");
    PASSES("{'exclusiveMinimum':0}", "1e-300");
    EXPECT("{'exclusiveMinimum':0}", "-0.0", "$: must be more than 0 (exclusiveMinimum)");
    PASSES("{'exclusiveMaximum':-1.5}", "-2");
    EXPECT("{'exclusiveMaximum':-1.5}", "-15e-1", "$: must be less than -1.5 (exclusiveMaximum)");
    /* bounds leave other types alone */
    PASSES("{'minimum':5,'maximum':6}", "'3'");
    PASSES("{'minimum':5}", "[1]");
}

TEST(bounds_compare_exactly)
{
    EXPECT("{'maximum':10}", "10.0000000000000000000001", "$: must be at most 10 (maximum)");
    PASSES("{'minimum':0.1}", "0.1000000000000000000000000");
    EXPECT("{'minimum':0.1}", "0.0999999999999999999999999", "$: must be at least 0.1 (minimum)");
    EXPECT("{'maximum':9007199254740992}", "9007199254740993", "$: must be at most 9007199254740992 (maximum)");
    /* beyond long double's range: no infinities, no zeros */
    EXPECT("{'maximum':1e4999}", "1e5000", "$: must be at most 1e4999 (maximum)");
    PASSES("{'maximum':1e5000}", "1e4999");
    EXPECT("{'minimum':-1e4999}", "-1e5000", "$: must be at least -1e4999 (minimum)");
    EXPECT("{'exclusiveMinimum':0}", "1e-99999", "ok");
    EXPECT("{'exclusiveMaximum':1e-99999}", "1e-99998", "$: must be less than 1e-99999 (exclusiveMaximum)");
    /* exponents past the clamp still order against ordinary numbers */
    EXPECT("{'maximum':1e300}", "1e99999999999999999999999", "$: must be at most 1e300 (maximum)");
    PASSES("{'minimum':-1e300}", "1e-99999999999999999999999");
    PASSES("{'type':'integer','maximum':1E+3}", "1000.000");
}

/* ---- strings ------------------------------------------------------------------------ */

TEST(lengths_count_code_points)
{
    PASSES("{'maxLength':5}", "'h\xc3\xa9llo'"); /* 6 bytes, 5 characters */
    PASSES("{'maxLength':3,'minLength':3}", "'\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e'");
    EXPECT("{'maxLength':2}", "'\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e'", "$: must be at most 2 characters long (maxLength)");
    EXPECT("{'minLength':2}", "'\xf0\x9f\x98\x80'", "$: must be at least 2 characters long (minLength)");
    PASSES("{'maxLength':1}", "'\\ud83d\\ude00'"); /* an escaped surrogate pair is one character */
    PASSES("{'minLength':0}", "''");
    EXPECT("{'minLength':1}", "''", "$: must be at least 1 character long (minLength)");
    PASSES("{'maxLength':1}", "12345"); /* not a string */
    PASSES("{'maxLength':2.0}", "'ab'");
    PASSES("{'maxLength':1e30}", "'abc'");
    EXPECT("{'minLength':1e30}", "'abc'", "$: must be at least 18446744073709551615 characters long (minLength)");
}

TEST(pattern_search)
{
    PASSES("{'pattern':'^[a-z]+$'}", "'abc'");
    EXPECT("{'properties':{'code':{'pattern':'^[a-z]+$'}}}", "{'code':'abc1'}", "$.code: must match '^[a-z]+$' (pattern)");
    /* unanchored: a match anywhere will do */
    PASSES("{'pattern':'b'}", "'abc'");
    PASSES("{'pattern':'\\\\d{3}'}", "'order x123y'");
    EXPECT("{'pattern':'\\\\d{3}'}", "'x12y'", "$: must match '\\\\d{3}' (pattern)");
    /* $ is the very end, as in ECMA-262, not before a final newline */
    EXPECT("{'pattern':'^a$'}", "'a\\n'", "$: must match '^a$' (pattern)");
    PASSES("{'pattern':'x'}", "7"); /* not a string */
}

TEST(pattern_utf8)
{
    PASSES("{'pattern':'^.{3}$'}", "'\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e'"); /* . is a character */
    PASSES("{'pattern':'^\xc3\xa9t\xc3\xa9$'}", "'\xc3\xa9t\xc3\xa9'");
    PASSES("{'pattern':'^[\xc3\xa0-\xc3\xbf]+$'}", "'\xc3\xa9\xc3\xa8'");
    EXPECT("{'pattern':'^[\xc3\xa0-\xc3\xbf]+$'}", "'e'", "$: must match '^[\xc3\xa0-\xc3\xbf]+$' (pattern)");
    PASSES("{'pattern':'^\\\\u00e9$'}", "'\xc3\xa9'"); /* ECMA-262 \uXXXX */
    PASSES("{'pattern':'^[^]$'}", "'\\n'");             /* ECMA-262 [^]: any character */
}

TEST(pattern_backtracking_is_bounded)
{
    char value[128];
    snprintf(value, sizeof value, "'%s!'", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
    EXPECT("{'pattern':'^(a|aa)+$'}", value, "$: could not be matched against '^(a|aa)+$': match limit exceeded (pattern)");
}

/* ---- arrays ------------------------------------------------------------------------ */

TEST(items_and_counts)
{
    const char *schema = "{'properties':{'items':{'type':'array','items':{'type':'integer','maximum':10},'minItems':1,'maxItems':4}}}";
    PASSES(schema, "{'items':[1,2,10]}");
    EXPECT(schema, "{'items':[1,2,11]}", "$.items[2]: must be at most 10 (maximum)");
    EXPECT(schema, "{'items':['1']}", "$.items[0]: must be integer (type)");
    EXPECT(schema, "{'items':[]}", "$.items: must have at least 1 item (minItems)");
    EXPECT(schema, "{'items':[1,2,3,4,5]}", "$.items: must have at most 4 items (maxItems)");
    EXPECT("{'items':{'items':{'type':'string'}}}", "[[],['a',1]]", "$[1][1]: must be string (type)");
    PASSES("{'items':false}", "[]");
    EXPECT("{'items':false}", "[0]", "$[0]: not allowed (false schema)");
    PASSES("{'items':{'type':'string'},'minItems':3}", "'not an array'");
}

/* ---- objects -------------------------------------------------------------------------- */

TEST(nested_paths)
{
    const char *schema = "{'type':'object','required':['order'],'properties':{'order':{'type':'object',"
                         "'required':['id','lines'],'properties':{'id':{'type':'string'},'lines':{'type':'array',"
                         "'items':{'type':'object','required':['sku'],'properties':{'qty':{'minimum':1}}}}}}}}";
    PASSES(schema, "{'order':{'id':'o1','lines':[{'sku':'a','qty':2}]}}");
    EXPECT(schema, "{}", "$.order: required property missing (required)");
    EXPECT(schema, "{'order':{'id':'o1'}}", "$.order.lines: required property missing (required)");
    EXPECT(schema, "{'order':{'id':5,'lines':[]}}", "$.order.id: must be string (type)");
    EXPECT(schema, "{'order':{'id':'o1','lines':[{'sku':'a'},{'sku':'b','qty':0}]}}",
           "$.order.lines[1].qty: must be at least 1 (minimum)");
    EXPECT(schema, "{'order':{'id':'o1','lines':[{'sku':'a'},{}]}}", "$.order.lines[1].sku: required property missing (required)");
    EXPECT(schema, "[]", "$: must be object (type)");
}

TEST(keys_that_are_not_identifiers)
{
    EXPECT("{'properties':{'first name':{'type':'string'}}}", "{'first name':1}", "$['first name']: must be string (type)");
    EXPECT("{'properties':{'a.b':{'properties':{'x\\'y':{'type':'string'}}}}}", "{'a.b':{'x\\'y':1}}",
           "$['a.b']['x\\'y']: must be string (type)");
    EXPECT("{'required':['1st']}", "{}", "$['1st']: required property missing (required)");
    EXPECT("{'required':['_ok$']}", "{}", "$._ok$: required property missing (required)");
}

TEST(first_failure_in_declaration_order)
{
    /* keywords in the order written */
    EXPECT("{'required':['a'],'properties':{'b':{'type':'string'}}}", "{'b':1}", "$.a: required property missing (required)");
    EXPECT("{'properties':{'b':{'type':'string'}},'required':['a']}", "{'b':1}", "$.b: must be string (type)");
    EXPECT("{'minimum':5,'type':'integer'}", "1.5", "$: must be at least 5 (minimum)");
    EXPECT("{'type':'integer','minimum':5}", "1.5", "$: must be integer (type)");
    /* properties in the order declared, whatever the request's order */
    EXPECT("{'properties':{'x':{'type':'string'},'y':{'type':'string'}}}", "{'y':1,'x':2}", "$.x: must be string (type)");
}

TEST(required_and_properties)
{
    PASSES("{'required':['a','b']}", "{'b':null,'a':0}");
    EXPECT("{'required':['a','b']}", "{'a':0}", "$.b: required property missing (required)");
    PASSES("{'required':['a']}", "'not an object'");
    PASSES("{'required':[]}", "{}");
    PASSES("{'properties':{'a':{'type':'string'}}}", "{}");
    PASSES("{'properties':{'a':{'type':'string'}}}", "5");
    PASSES("{'properties':{'a':false}}", "{'b':1}");
    EXPECT("{'properties':{'a':false}}", "{'a':1}", "$.a: not allowed (false schema)");
    /* every occurrence of a repeated key is checked */
    EXPECT("{'properties':{'n':{'type':'number'}}}", "{'n':1,'n':'x'}", "$.n: must be number (type)");
    EXPECT("{'properties':{'n':{'type':'number'}}}", "{'n':'x','n':1}", "$.n: must be number (type)");
}

TEST(additional_properties)
{
    const char *closed = "{'properties':{'a':{},'b':{}},'additionalProperties':false}";
    PASSES(closed, "{'a':1,'b':2}");
    EXPECT(closed, "{'a':1,'extra':2}", "$.extra: property not allowed (additionalProperties)");
    PASSES("{'additionalProperties':false}", "{}");
    EXPECT("{'additionalProperties':false}", "{'a':1}", "$.a: property not allowed (additionalProperties)");
    PASSES("{'additionalProperties':true}", "{'a':1}");
    const char *typed = "{'additionalProperties':{'type':'integer'},'properties':{'name':{'type':'string'}}}";
    PASSES(typed, "{'name':'x','a':1,'b':2}");
    EXPECT(typed, "{'name':'x','a':1,'b':2.5}", "$.b: must be integer (type)");
    EXPECT("{'properties':{'o':{'additionalProperties':{'maxLength':1}}}}", "{'o':{'k':'xy'}}",
           "$.o.k: must be at most 1 character long (maxLength)");
    PASSES(closed, "[1]");
}

/* ---- schemas as a whole ----------------------------------------------------------------- */

TEST(boolean_schemas_and_annotations)
{
    PASSES("true", "{'anything':[1,2]}");
    PASSES("{}", "null");
    EXPECT("false", "1", "$: not allowed (false schema)");
    PASSES("{'$schema':'https://json-schema.org/draft/2020-12/schema','$id':'urn:x','title':'T','description':'D',"
           "'examples':[1],'default':'not a number','$comment':'c','type':'number'}",
           "1");
}

TEST(compile_errors_name_the_keyword)
{
    REFUSED("5", "(root): must be a schema (an object or a boolean)");
    REFUSED("[]", "(root): must be a schema (an object or a boolean)");
    REFUSED("{'format':'email'}", "format: unsupported keyword");
    REFUSED("{'$ref':'#/a'}", "$ref: unsupported keyword");
    REFUSED("{'properties':{'a':{'minimun':1}}}", "properties.a.minimun: unsupported keyword");
    REFUSED("{'properties':{'number':{'minimum':'5'}}}", "properties.number.minimum: must be a number");
    REFUSED("{'exclusiveMinimum':true}", "exclusiveMinimum: must be a number");
    REFUSED("{'maximum':null}", "maximum: must be a number");
    REFUSED("{'minLength':-1}", "minLength: must be a non-negative integer");
    REFUSED("{'maxLength':1.5}", "maxLength: must be a non-negative integer");
    REFUSED("{'minItems':'3'}", "minItems: must be a non-negative integer");
    REFUSED("{'type':'text'}", "type: must be one of object, array, string, number, integer, boolean, null");
    REFUSED("{'type':5}", "type: must be a type name or a non-empty array of type names");
    REFUSED("{'type':[]}", "type: must be a type name or a non-empty array of type names");
    REFUSED("{'type':['string','strin']}", "type[1]: must be one of object, array, string, number, integer, boolean, null");
    REFUSED("{'type':['string','string']}", "type[1]: duplicate type");
    REFUSED("{'enum':[]}", "enum: must be a non-empty array");
    REFUSED("{'enum':'a'}", "enum: must be a non-empty array");
    REFUSED("{'required':'a'}", "required: must be an array of property names");
    REFUSED("{'required':['a',1]}", "required[1]: must be a string");
    REFUSED("{'required':['a','a']}", "required[1]: duplicate property name");
    REFUSED("{'properties':[]}", "properties: must be an object of schemas");
    REFUSED("{'properties':{'a':5}}", "properties.a: must be a schema (an object or a boolean)");
    REFUSED("{'properties':{'a':{},'a':{}}}", "properties.a: property declared twice");
    REFUSED("{'items':[{'type':'string'}]}", "items: must be a schema (an object or a boolean)");
    REFUSED("{'additionalProperties':'no'}", "additionalProperties: must be a schema (an object or a boolean)");
    REFUSED("{'type':'string','type':'number'}", "type: duplicate keyword");
    REFUSED("{'pattern':5}", "pattern: must be a string");
    REFUSED("{'items':{'items':{'bogus':1}}}", "items.items.bogus: unsupported keyword");
}

TEST(invalid_regex)
{
    char why[256];
    schema_t *s = compile_dq("{'properties':{'p':{'pattern':'a(b'}}}", why, sizeof why);
    CHECK(s == NULL);
    const char *want = "properties.p.pattern: invalid regular expression at offset 3: ";
    CHECK(strncmp(why, want, strlen(want)) == 0 && strlen(why) > strlen(want));
    CHECK(compile_dq("{'pattern':'[z-a]'}", why, sizeof why) == NULL);
    CHECK(strncmp(why, "pattern: invalid regular expression at offset ", 46) == 0);
    CHECK(compile_dq("{'pattern':'\\\\C'}", why, sizeof why) == NULL); /* \C would split characters */
}

/* {"items": ... {"items": {}} ...}, levels deep. */
static char *nested_items(int levels)
{
    buf_t b = BUF_INIT;
    for (int i = 1; i < levels; i++)
        buf_puts(&b, "{'items':");
    buf_puts(&b, "{}");
    for (int i = 1; i < levels; i++)
        buf_putc(&b, '}');
    return buf_detach(&b, NULL);
}

TEST(depth_limit)
{
    char why[2048] = "";
    char *ok = nested_items(SCHEMA_MAX_DEPTH), *deep = nested_items(SCHEMA_MAX_DEPTH + 1);
    schema_t *s = compile_dq(ok, why, sizeof why);
    schema_t *t = compile_dq(deep, why, sizeof why);
    free(ok);
    free(deep);
    CHECK(s != NULL);
    schema_free(s);
    CHECK(t == NULL);
    buf_t want = BUF_INIT;
    for (int i = 0; i < SCHEMA_MAX_DEPTH; i++)
        buf_puts(&want, i ? ".items" : "items");
    buf_puts(&want, ": schema nested deeper than 32 levels");
    int same = strcmp(why, want.data) == 0;
    buf_free(&want);
    CHECK(same);
}

/* ---- hostile requests --------------------------------------------------------------- */

/* {"a":{"a": ... {"a":leaf} ...}}, depth objects deep. */
static char *nested_objects(int depth, const char *leaf)
{
    buf_t b = BUF_INIT;
    for (int i = 0; i < depth; i++)
        buf_puts(&b, "{'a':");
    buf_puts(&b, leaf);
    for (int i = 0; i < depth; i++)
        buf_putc(&b, '}');
    return buf_detach(&b, NULL);
}

TEST(deep_request_against_shallow_schema)
{
    char *body = nested_objects(60, "[[[1]]]");
    const char *shallow = "{'type':'object','properties':{'a':{'type':'object','properties':{'a':{'required':['a']}}}}}";
    PASSES(shallow, body);
    PASSES("{'additionalProperties':{'additionalProperties':{'type':'object'}}}", body);
    EXPECT("{'properties':{'a':{'properties':{'a':{'type':'string'}}}}}", body, "$.a.a: must be string (type)");
    EXPECT("{'enum':[{'a':{'a':1}}]}", body, "$: must be one of {'a':{'a':1}} (enum)");
    char *same = nested_objects(60, "[[[1]]]");
    /* enum with the very same deep value: equality walks both, 63 levels */
    buf_t schema = BUF_INIT;
    buf_printf(&schema, "{'const':%s}", same);
    PASSES(schema.data, body);
    buf_free(&schema);
    free(same);
    free(body);
}

TEST(messages_truncate_and_may_be_omitted)
{
    char why[64];
    schema_t *s = compile_dq("{'required':['abcdefghijklmnop']}", why, sizeof why);
    CHECK(s != NULL);
    jv_doc_t *d = jv_doc_new();
    jv_t *v = parse_dq(d, "{}");
    char small[8];
    CHECK_INT(schema_validate(s, v, small, sizeof small), -1);
    CHECK_STR(small, "$.abcde");
    CHECK_INT(schema_validate(s, v, NULL, 0), -1);
    char msg[64] = "stale";
    v = parse_dq(d, "{'abcdefghijklmnop':1}");
    CHECK_INT(schema_validate(s, v, msg, sizeof msg), 0);
    CHECK_STR(msg, "");
    jv_doc_free(d);
    schema_free(s);
    CHECK(schema_compile(NULL, why, sizeof why) == NULL);
    schema_free(NULL);
}

/* ---- threads ------------------------------------------------------------------------- */

typedef struct {
    const schema_t *s;
    int failures;
} worker_arg_t;

static void *validate_many(void *p)
{
    worker_arg_t *a = p;
    jv_doc_t *d = jv_doc_new();
    jv_t *good = parse_dq(d, "{'id':'ab-12','n':[1,2]}"), *bad = parse_dq(d, "{'id':'AB-12','n':[1,2]}");
    char msg[128];
    for (int i = 0; i < 2000; i++) {
        a->failures += schema_validate(a->s, good, msg, sizeof msg) != 0;
        a->failures += schema_validate(a->s, bad, msg, sizeof msg) != -1 ||
                       strcmp(msg, "$.id: must match \"^[a-z]+-\\\\d+$\" (pattern)") != 0;
    }
    jv_doc_free(d);
    jv_thread_release();
    return NULL;
}

TEST(one_schema_many_threads)
{
    char why[128];
    schema_t *s = compile_dq("{'properties':{'id':{'pattern':'^[a-z]+-\\\\d+$'},'n':{'items':{'type':'integer'}}}}", why,
                             sizeof why);
    CHECK(s != NULL);
    pthread_t t[4];
    worker_arg_t args[4];
    for (int i = 0; i < 4; i++) {
        args[i] = (worker_arg_t){s, 0};
        CHECK_INT(pthread_create(&t[i], NULL, validate_many, &args[i]), 0);
    }
    int failures = 0;
    for (int i = 0; i < 4; i++) {
        pthread_join(t[i], NULL);
        failures += args[i].failures;
    }
    schema_free(s);
    CHECK_INT(failures, 0);
}
