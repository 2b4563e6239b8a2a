/*
 * test_jv — the arena JSON module: the parser against every rule of RFC 8259
 * (accept and reject cases in the manner of JSONTestSuite), the writer's
 * escaping, the builders, jv_copy and the arena.
 *
 * Every input is parsed from an exact-size heap copy that is freed before
 * the result is looked at, so a sanitizer build catches both a read past the
 * end of the input and a value that still points into it.
 */
#include "util/jv.h"

#include <stdio.h>
#include <stdlib.h>

#include "harness.h"

#define S_(lit) (lit), (sizeof(lit) - 1) /* literal and its length, NULs included */
#define FFFD "\xef\xbf\xbd"

/* Parses text[0..n) into d from a heap copy that is gone when this returns. */
static jv_t *parse_n(jv_doc_t *d, const char *text, size_t n, char *why, size_t why_len)
{
    char *copy = malloc(n ? n : 1);
    memcpy(copy, text, n);
    jv_t *v = jv_parse(d, copy, n, why, why_len);
    memset(copy, '#', n);
    free(copy);
    return v;
}

static jv_t *parse_s(jv_doc_t *d, const char *text)
{
    return parse_n(d, text, strlen(text), NULL, 0);
}

/* v written, as a C string in a static buffer (tests run one at a time). */
static const char *written(const jv_t *v)
{
    static buf_t out;
    buf_reset(&out);
    buf_append(&out, "", 0);
    if (v)
        jv_write(v, &out);
    return out.data ? out.data : "";
}

/* Whether in parses, writes exactly want, and that text parses and writes the same again. */
static int accepts(const char *in, size_t n, const char *want, size_t want_len, int line)
{
    jv_doc_t *d = jv_doc_new();
    char why[160] = "";
    buf_t out = BUF_INIT, again = BUF_INIT;
    jv_t *v = parse_n(d, in, n, why, sizeof why);
    if (v)
        jv_write(v, &out);
    jv_t *back = v ? parse_n(d, out.data, out.len, NULL, 0) : NULL;
    if (back)
        jv_write(back, &again);
    int ok = v && out.len == want_len && memcmp(out.data, want, want_len) == 0 && back && again.len == out.len &&
             memcmp(again.data, out.data, out.len) == 0;
    if (!ok)
        harness_fail(__FILE__, line, "input %.*s: %s%s", (int)n, in, v ? "wrote " : "refused: ", v ? out.data : why);
    buf_free(&out);
    buf_free(&again);
    jv_doc_free(d);
    return ok;
}

/* Whether in is refused, with a reason of the form "offset N: ...". */
static int rejects(const char *in, size_t n, int line)
{
    jv_doc_t *d = jv_doc_new();
    char why[160] = "";
    jv_t *v = parse_n(d, in, n, why, sizeof why);
    unsigned long off = 0;
    int consumed = 0;
    int ok = !v && sscanf(why, "offset %lu: %n", &off, &consumed) == 1 && consumed > 0 && off <= n &&
             why[consumed] != '\0';
    if (!ok)
        harness_fail(__FILE__, line, "input %.*s: %s%s", (int)n, in, v ? "accepted as " : "bad reason: ",
                     v ? written(v) : why);
    jv_doc_free(d);
    return ok;
}

#define CHECK_ACCEPTS(in, want) CHECK(accepts(S_(in), S_(want), __LINE__))
#define CHECK_SAME(in) CHECK(accepts(S_(in), S_(in), __LINE__))
#define CHECK_REJECTS(in) CHECK(rejects(S_(in), __LINE__))

/* ---- round trips ---- */

TEST(round_trip_writes_compact_in_document_order)
{
    CHECK_ACCEPTS(" { \"b\" : [ 1 , -2 , 3.5e-7 , true , false , null , \"s\" , { } , [ ] ] ,\n\t\"a\" : { \"c\" : [ ] } } ",
                  "{\"b\":[1,-2,3.5e-7,true,false,null,\"s\",{},[]],\"a\":{\"c\":[]}}");
    CHECK_SAME("{\"z\":1,\"y\":2,\"x\":{\"w\":[{\"v\":null}]}}");
    CHECK_SAME("[[],[[]],{},{\"\":{}}]");
}

TEST(any_value_may_stand_alone)
{
    CHECK_SAME("0");
    CHECK_SAME("\"\"");
    CHECK_SAME("null");
    CHECK_SAME("true");
    CHECK_ACCEPTS(" \t\r\n false \n", "false");
    CHECK_ACCEPTS("\"x\" ", "\"x\"");
}

TEST(whitespace_is_space_tab_lf_cr_only)
{
    CHECK_ACCEPTS("\r\n\t [ \r\n\t 1 \r\n\t , \r\n\t 2 \r\n\t ] \r\n\t ", "[1,2]");
    CHECK_REJECTS("\v1");
    CHECK_REJECTS("\f1");
    CHECK_REJECTS("[1\f]");
    CHECK_REJECTS("\xc2\xa0" "1");         /* U+00A0 */
    CHECK_REJECTS("\xef\xbb\xbf" "1");     /* a byte order mark */
    CHECK_REJECTS("[1,\xe2\x80\xa8" "2]"); /* U+2028 */
    CHECK_REJECTS("\x00" "1");
    CHECK_REJECTS("");
    CHECK_REJECTS(" \n\t\r");
}

TEST(nothing_may_follow_the_value)
{
    CHECK_REJECTS("1 2");
    CHECK_REJECTS("{} []");
    CHECK_REJECTS("\"a\"\"b\"");
    CHECK_REJECTS("null,");
    CHECK_REJECTS("[] x");
    CHECK_REJECTS("1\x00");
    CHECK_REJECTS("{}}");
    CHECK_REJECTS("[1]]");
    CHECK_REJECTS("truex");
    CHECK_REJECTS("nulll");
}

/* ---- numbers ---- */

TEST(numbers_accepted_keep_their_text)
{
    CHECK_SAME("0");
    CHECK_SAME("-0");
    CHECK_SAME("-0.0");
    CHECK_SAME("0.5");
    CHECK_SAME("[1e5,1E5,1e+5,1E-5,0e0,-0e-0,0.0e+00,-1.25e+10,1e400,1E-400]");
    CHECK_SAME("123456789012345678901234567890.000000000000000000001e-999999999999");
}

TEST(numbers_refused)
{
    const char *const bad[] = {
        "01", "-01", "00", "0123", "+1", ".5", "-.5", "1.", "1.e3", "2.e+3", "-", "--1", "-a", "1e", "1e+",
        "1E-", "1ee2", "1e2.5", "0.1.2", "1+2", "0x10", "0X1", "1_000", "NaN", "nan", "Infinity", "-Infinity",
        "inf", "1 000", "\xd9\xa1", "[012]", "[-012]", "[1.0e]", "[0.e1]", "[-1x]", "[.1]", "[1.5e+]", "[1e-]",
        "-1.0.", "1e1e1", "[+0]", "[0.]", "[0e]",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        CHECK(rejects(bad[i], strlen(bad[i]), __LINE__));
}

/* is_int and i of text parsed as a number (is_int -1: not a number). */
static void number_of(const char *text, int *is_int, int64_t *i, char *back, size_t back_len)
{
    jv_doc_t *d = jv_doc_new();
    jv_t *v = parse_s(d, text);
    *is_int = jv_is(v, JV_NUMBER) ? v->is_int : -1;
    *i = jv_is(v, JV_NUMBER) ? v->i : 0;
    snprintf(back, back_len, "%s", jv_is(v, JV_NUMBER) ? v->u.str : "");
    jv_doc_free(d);
}

#define CHECK_NUMBER(text, want_int, want_i)                                    \
    do {                                                                        \
        int is_int_;                                                            \
        int64_t i_;                                                             \
        char back_[512];                                                        \
        number_of(text, &is_int_, &i_, back_, sizeof back_);                    \
        CHECK_INT(is_int_, want_int);                                           \
        if (want_int)                                                           \
            CHECK(i_ == (int64_t)(want_i));                                     \
        CHECK_STR(back_, text);                                                 \
    } while (0)

TEST(integers_exact_within_int64_and_text_beyond)
{
    CHECK_NUMBER("0", 1, 0);
    CHECK_NUMBER("-0", 1, 0);
    CHECK_NUMBER("7", 1, 7);
    CHECK_NUMBER("-42", 1, -42);
    CHECK_NUMBER("9223372036854775807", 1, INT64_MAX);
    CHECK_NUMBER("-9223372036854775808", 1, INT64_MIN);
    CHECK_NUMBER("9223372036854775806", 1, INT64_MAX - 1);
    CHECK_NUMBER("-9223372036854775807", 1, INT64_MIN + 1);
    CHECK_NUMBER("9223372036854775808", 0, 0);
    CHECK_NUMBER("-9223372036854775809", 0, 0);
    CHECK_NUMBER("18446744073709551616", 0, 0);
    CHECK_NUMBER("99999999999999999999999999999999999999999999999999", 0, 0);
    /* a fraction or an exponent makes a number non-integral, whatever its value */
    CHECK_NUMBER("1.0", 0, 0);
    CHECK_NUMBER("1e2", 0, 0);
    CHECK_NUMBER("-0.0", 0, 0);
    CHECK_NUMBER("0E0", 0, 0);
}

TEST(huge_number_text_is_kept_whole)
{
    char big[4002];
    big[0] = '-';
    memset(big + 1, '9', 4000);
    big[4001] = '\0';
    jv_doc_t *d = jv_doc_new();
    jv_t *v = parse_n(d, big, strlen(big), NULL, 0);
    int ok = jv_is(v, JV_NUMBER) && !v->is_int && v->len == 4001 && memcmp(v->u.str, big, 4001) == 0 &&
             v->u.str[4001] == '\0';
    jv_doc_free(d);
    CHECK(ok);
}

/* ---- strings ---- */

TEST(string_escapes_decode)
{
    jv_doc_t *d = jv_doc_new();
    jv_t *v = parse_s(d, "\"\\\"\\\\\\/\\b\\f\\n\\r\\t|\\u0041\\u00e9\\u00E9\\u20AC\\uD834\\uDD1E\\ud83d\\ude00\"");
    static const char want[] = "\"\\/\b\f\n\r\t|A\xc3\xa9\xc3\xa9\xe2\x82\xac\xf0\x9d\x84\x9e\xf0\x9f\x98\x80";
    int ok = jv_is(v, JV_STRING) && v->len == sizeof want - 1 && memcmp(v->u.str, want, v->len) == 0 &&
             v->u.str[v->len] == '\0' && jv_str(v) == v->u.str;
    jv_doc_free(d);
    CHECK(ok);
    CHECK_ACCEPTS("\"\\/\\u002F\\u0041\\u007f\"", "\"//A\x7f\"");
    CHECK_ACCEPTS("\"\\uFFFF\\uFFFE\\uDBFF\\uDFFF\"", "\"\xef\xbf\xbf\xef\xbf\xbe\xf4\x8f\xbf\xbf\"");
}

TEST(string_nul_escape_counts_in_len)
{
    jv_doc_t *d = jv_doc_new();
    jv_t *v = parse_s(d, "[\"a\\u0000b\",\"\\u0000\"]");
    jv_t *s0 = jv_at(v, 0), *s1 = jv_at(v, 1);
    int ok = jv_is(s0, JV_STRING) && s0->len == 3 && memcmp(s0->u.str, "a\0b", 4) == 0 && jv_is(s1, JV_STRING) &&
             s1->len == 1 && s1->u.str[0] == '\0';
    jv_doc_free(d);
    CHECK(ok);
    CHECK_ACCEPTS("\"a\\u0000b\"", "\"a\\u0000b\"");
    CHECK_ACCEPTS("{\"k\\u0000\":\"\\u0000\"}", "{\"k\\u0000\":\"\\u0000\"}");
}

TEST(string_lone_surrogates_refused)
{
    CHECK_REJECTS("\"\\uD800\"");
    CHECK_REJECTS("\"\\uDBFF\"");
    CHECK_REJECTS("\"\\uDC00\"");
    CHECK_REJECTS("\"\\uDFFF\"");
    CHECK_REJECTS("\"\\uDFAA\\uD834\"");
    CHECK_REJECTS("\"\\uD800x\"");
    CHECK_REJECTS("\"\\uD800\\u0041\"");
    CHECK_REJECTS("\"\\uD800\\uD800\"");
    CHECK_REJECTS("\"\\uD800\\uE000\"");
    CHECK_REJECTS("\"\\uD800\\\"");
    CHECK_REJECTS("\"\\uD800\\u\"");
    CHECK_REJECTS("\"\\uD800\\uDC0\"");
    CHECK_REJECTS("\"\\uD800\\n\"");
    CHECK_REJECTS("\"\\uD800\"\"\\uDC00\"");
    CHECK_REJECTS("[\"\\uD800\",\"\\uDC00\"]");
}

TEST(string_bad_escapes_refused)
{
    const char *const bad[] = {
        "\"\\x41\"", "\"\\'\"", "\"\\U0041\"", "\"\\u12\"", "\"\\u12G4\"", "\"\\u-123\"", "\"\\ \"", "\"\\a\"",
        "\"\\0\"", "\"\\u\"", "\"\\", "\"\\\"", "\"\\\xc3\xa9\"", "\"\\\x01\"", "\"\\u 123\"", "\"\\uD834\\uDd\"",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        CHECK(rejects(bad[i], strlen(bad[i]), __LINE__));
}

TEST(string_raw_control_characters_refused_del_allowed)
{
    for (int c = 0; c < 0x20; c++) {
        char in[] = {'"', 'a', (char)c, 'b', '"'};
        CHECK(rejects(in, sizeof in, __LINE__));
    }
    CHECK_ACCEPTS("\"a\x7f" "b\"", "\"a\x7f" "b\"");
}

TEST(string_unterminated_refused)
{
    CHECK_REJECTS("\"");
    CHECK_REJECTS("\"abc");
    CHECK_REJECTS("\"abc\\\"");
    CHECK_REJECTS("[\"abc]");
    CHECK_REJECTS("{\"a");
    CHECK_REJECTS("{\"a\":\"b}");
    CHECK_REJECTS("'single'");
    CHECK_REJECTS("[\"a\xc3\"]");
}

TEST(string_invalid_utf8_refused)
{
    const char *const bad[] = {
        "\"\x80\"",                 /* lone continuation byte */
        "\"a\xbf" "b\"",
        "\"\xc0\xaf\"",             /* overlong '/' */
        "\"\xc1\xbf\"",             /* overlong */
        "\"\xe0\x80\xaf\"",         /* overlong, three bytes */
        "\"\xf0\x80\x80\xaf\"",     /* overlong, four bytes */
        "\"\xed\xa0\x80\"",         /* an encoded surrogate (CESU-8) */
        "\"\xed\xbf\xbf\"",
        "\"\xf4\x90\x80\x80\"",     /* past U+10FFFF */
        "\"\xf5\x80\x80\x80\"",
        "\"\xf8\x88\x80\x80\x80\"", /* five-byte form */
        "\"\xfe\"",
        "\"\xff\"",
        "\"\xe2\x82\"",             /* truncated by the quote */
        "\"\xc3" "a\"",             /* lead byte then ASCII */
        "\"\xe2\x82" "a\"",
        "\"\xf0\x9f\x98\"",
        "\xc3\xa9",                 /* not in a string at all */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        CHECK(rejects(bad[i], strlen(bad[i]), __LINE__));
}

TEST(string_valid_utf8_accepted_as_is)
{
    CHECK_SAME("\"\xc2\x80\xdf\xbf\xe0\xa0\x80\xef\xbf\xbf\xf0\x90\x80\x80\xf4\x8f\xbf\xbf\"");
    CHECK_SAME("\"caf\xc3\xa9 \xe2\x98\x83 \xf0\x9f\x98\x80 \xef\xbb\xbf \xe2\x80\xa8\"");
    CHECK_SAME("{\"\xc3\xa9\":\"\xee\x80\x80\"}");
}

/* ---- structure ---- */

TEST(structure_refused)
{
    const char *const bad[] = {
        "[1,]", "{\"a\":1,}", "[,1]", "[1,,2]", "[,]", "{,}", "{\"a\" 1}", "{\"a\":}", "{a:1}", "{'a':1}",
        "{\"a\":1 \"b\":2}", "[1 2]", "]", "}", "[}", "{]", "[1", "{\"a\":1", "{\"a\"", "{\"a\":", "[", "{",
        ":", ",", "[1:2]", "{\"a\",\"b\"}", "{\"a\"::1}", "{1:1}", "{null:1}", "[\"a\":1]", "True", "FALSE",
        "Null", "nul", "tru", "fals", "n", "[/* c */]", "// c\n1", "[1]/**/", "#1", "undefined", "[1,2,]",
        "{\"a\":[}", "[{]", "[1}", "{\"a\":1]",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        CHECK(rejects(bad[i], strlen(bad[i]), __LINE__));
}

/* n nested arrays (or objects under key "k") around inner, in a malloc'd string. */
static char *nested(int n, int objects, const char *inner)
{
    buf_t b = BUF_INIT;
    for (int i = 0; i < n; i++)
        buf_puts(&b, objects ? "{\"k\":" : "[");
    buf_puts(&b, inner);
    for (int i = 0; i < n; i++)
        buf_putc(&b, objects ? '}' : ']');
    return buf_detach(&b, NULL);
}

/* 1 when nested(n, objects, inner) parses and writes back unchanged, 0 when refused, -1 otherwise. */
static int nest_result(int n, int objects, const char *inner)
{
    char *text = nested(n, objects, inner);
    jv_doc_t *d = jv_doc_new();
    char why[128] = "";
    jv_t *v = parse_n(d, text, strlen(text), why, sizeof why);
    int r = v ? (strcmp(written(v), text) == 0 ? 1 : -1) : (strstr(why, "nesting too deep") ? 0 : -1);
    jv_doc_free(d);
    free(text);
    return r;
}

TEST(depth_limit_exactly)
{
    CHECK_INT(nest_result(JV_MAX_DEPTH, 0, ""), 1);
    CHECK_INT(nest_result(JV_MAX_DEPTH, 0, "1"), 1);
    CHECK_INT(nest_result(JV_MAX_DEPTH - 1, 0, "{\"a\":\"b\"}"), 1);
    CHECK_INT(nest_result(JV_MAX_DEPTH, 1, "null"), 1);
    CHECK_INT(nest_result(JV_MAX_DEPTH + 1, 0, ""), 0);
    CHECK_INT(nest_result(JV_MAX_DEPTH + 1, 0, "1"), 0);
    CHECK_INT(nest_result(JV_MAX_DEPTH, 0, "[]"), 0);
    CHECK_INT(nest_result(JV_MAX_DEPTH, 0, "{}"), 0);
    CHECK_INT(nest_result(JV_MAX_DEPTH + 1, 1, "1"), 0);
    CHECK_INT(nest_result(100000, 0, ""), 0); /* refused early, not by running out of stack */
    CHECK_INT(nest_result(100000, 1, "1"), 0);
}

TEST(depth_counts_nesting_not_siblings)
{
    buf_t b = BUF_INIT;
    buf_putc(&b, '[');
    for (int i = 0; i < 1000; i++)
        buf_puts(&b, i ? ",[[1]]" : "[[1]]");
    buf_putc(&b, ']');
    jv_doc_t *d = jv_doc_new();
    jv_t *v = parse_n(d, b.data, b.len, NULL, 0);
    size_t n = jv_count(v);
    jv_doc_free(d);
    buf_free(&b);
    CHECK_INT(n, 1000);
}

TEST(duplicate_keys_parse_and_the_last_counts)
{
    jv_doc_t *d = jv_doc_new();
    jv_t *v = parse_s(d, "{\"a\":1,\"b\":2,\"a\":3}");
    jv_t *a = jv_get(v, "a");
    int ok = jv_count(v) == 3 && jv_is(a, JV_NUMBER) && a->i == 3 && jv_get(v, "b")->i == 2;
    const char *w = written(v);
    int same_text = strcmp(w, "{\"a\":1,\"b\":2,\"a\":3}") == 0;
    jv_doc_free(d);
    CHECK(ok);
    CHECK(same_text);
}

TEST(reading_accessors)
{
    jv_doc_t *d = jv_doc_new();
    jv_t *v = parse_s(d, "{\"s\":\"x\",\"n\":1,\"a\":[true,null],\"o\":{},\"k\\u0000\":1}");
    jv_t *a = jv_get(v, "a");
    CHECK(v != NULL);
    CHECK(jv_get(v, "missing") == NULL);
    CHECK(jv_get(v, "k") == NULL); /* keys compare with their length */
    CHECK(jv_get(a, "s") == NULL);
    CHECK(jv_get(NULL, "s") == NULL);
    CHECK_STR(jv_str(jv_get(v, "s")), "x");
    CHECK(jv_str(jv_get(v, "n")) == NULL);
    CHECK(jv_str(NULL) == NULL);
    CHECK_INT(jv_count(v), 5);
    CHECK_INT(jv_count(a), 2);
    CHECK_INT(jv_count(jv_get(v, "o")), 0);
    CHECK_INT(jv_count(jv_get(v, "s")), 0);
    CHECK_INT(jv_count(NULL), 0);
    CHECK(jv_is(jv_at(a, 0), JV_BOOL) && jv_at(a, 0)->boolean == 1);
    CHECK(jv_is(jv_at(a, 1), JV_NULL));
    CHECK(jv_at(a, 2) == NULL);
    CHECK(jv_at(v, 0) == NULL);
    CHECK(jv_at(NULL, 0) == NULL);
    CHECK(!jv_is(NULL, JV_NULL));
    CHECK_INT(v->u.pairs[4].klen, 2);
    jv_doc_free(d);
}

TEST(reasons_give_the_offset)
{
    char why[64];
    jv_doc_t *d = jv_doc_new();
    CHECK(parse_n(d, S_("[1 2]"), why, sizeof why) == NULL);
    CHECK(strncmp(why, "offset 3: ", 10) == 0);
    CHECK(parse_n(d, S_("01"), why, sizeof why) == NULL);
    CHECK_STR(why, "offset 1: data after the value");
    CHECK(parse_n(d, S_("[1,"), why, sizeof why) == NULL);
    CHECK_STR(why, "offset 3: unexpected end of input");
    CHECK(parse_n(d, S_("[1,"), why, 8) == NULL);
    CHECK_STR(why, "offset ");
    CHECK(parse_n(d, S_("[1,"), NULL, 0) == NULL);
    jv_doc_free(d);
}

TEST(input_need_not_be_nul_terminated)
{
    /* the length, not a NUL, ends the input: each prefix parses on its own */
    jv_doc_t *d = jv_doc_new();
    CHECK_STR(written(parse_n(d, "12345", 2, NULL, 0)), "12");
    CHECK(parse_n(d, "true", 3, NULL, 0) == NULL);
    CHECK(parse_n(d, "\"ab\"", 3, NULL, 0) == NULL);
    CHECK(parse_n(d, "\"\\u0041\"", 6, NULL, 0) == NULL);
    CHECK(parse_n(d, "\"\\uD834\\uDD1E\"", 12, NULL, 0) == NULL);
    CHECK(parse_n(d, "\"\xe2\x82\xac\"", 3, NULL, 0) == NULL);
    CHECK(parse_n(d, "-1e5", 3, NULL, 0) == NULL);
    CHECK(parse_n(d, "[]", 1, NULL, 0) == NULL);
    CHECK(parse_n(d, "", 0, NULL, 0) == NULL);
    jv_doc_free(d);
}

/* ---- the writer ---- */

static const char *string_written(const char *s, size_t n)
{
    static buf_t out;
    buf_reset(&out);
    buf_append(&out, "", 0);
    jv_write_string(&out, s, n);
    return out.data;
}

TEST(writer_escapes_controls_quote_and_backslash)
{
    CHECK_STR(string_written(S_("\x00\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c\x0d\x0e\x0f")),
              "\"\\u0000\\u0001\\u0002\\u0003\\u0004\\u0005\\u0006\\u0007\\b\\t\\n\\u000b\\f\\r\\u000e\\u000f\"");
    CHECK_STR(string_written(S_("\x10\x11\x12\x13\x14\x15\x16\x17\x18\x19\x1a\x1b\x1c\x1d\x1e\x1f")),
              "\"\\u0010\\u0011\\u0012\\u0013\\u0014\\u0015\\u0016\\u0017\\u0018\\u0019\\u001a\\u001b\\u001c"
              "\\u001d\\u001e\\u001f\"");
    CHECK_STR(string_written(S_("say \"hi\" \\ back/slash \x7f ~")), "\"say \\\"hi\\\" \\\\ back/slash \x7f ~\"");
    CHECK_STR(string_written(S_("")), "\"\"");
}

TEST(writer_replaces_invalid_utf8_and_keeps_valid)
{
    CHECK_STR(string_written(S_("\xff")), "\"" FFFD "\"");
    CHECK_STR(string_written(S_("a\xc3")), "\"a" FFFD "\"");
    CHECK_STR(string_written(S_("\xc0\xaf")), "\"" FFFD FFFD "\"");
    CHECK_STR(string_written(S_("\xed\xa0\x80")), "\"" FFFD FFFD FFFD "\"");
    CHECK_STR(string_written(S_("\xf4\x90\x80\x80!")), "\"" FFFD FFFD FFFD FFFD "!\"");
    CHECK_STR(string_written(S_("\xe2\x82\n")), "\"" FFFD FFFD "\\n\"");
    CHECK_STR(string_written(S_("\x80\"")), "\"" FFFD "\\\"\"");
    CHECK_STR(string_written(S_("\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\xef\xbf\xbf\xf4\x8f\xbf\xbf")),
              "\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\xef\xbf\xbf\xf4\x8f\xbf\xbf\"");
    CHECK_STR(string_written(S_("\xc3\xa9\xc3")), "\"\xc3\xa9" FFFD "\"");
}

TEST(writer_output_is_always_json)
{
    /* every byte value in a built string and key: the output parses back */
    char all[256];
    for (int i = 0; i < 256; i++)
        all[i] = (char)i;
    jv_doc_t *d = jv_doc_new();
    jv_t *obj = jv_set_copy(d, jv_object(d), all, sizeof all, jv_stringn(d, all, sizeof all));
    buf_t out = BUF_INIT;
    jv_write(obj, &out);
    jv_t *back = parse_n(d, out.data, out.len, NULL, 0);
    jv_t *s = back ? back->u.pairs[0].val : NULL;
    /* 0x00-0x7f survive; each of the 128 bytes 0x80-0xff becomes U+FFFD */
    int ok = jv_count(back) == 1 && back->u.pairs[0].klen == 128 + 128 * 3 && jv_is(s, JV_STRING) &&
             s->len == 128 + 128 * 3 && memcmp(s->u.str, all, 128) == 0 && memcmp(s->u.str + 128, FFFD, 3) == 0 &&
             memcmp(s->u.str + s->len - 3, FFFD, 3) == 0;
    buf_free(&out);
    jv_doc_free(d);
    CHECK(ok);
}

TEST(writer_appends_and_escapes_keys)
{
    jv_doc_t *d = jv_doc_new();
    jv_t *obj = jv_object(d);
    jv_set(d, obj, "k\"\n", jv_int(d, 1));
    jv_set(d, obj, "\xff", jv_null(d));
    buf_t out = BUF_INIT;
    buf_puts(&out, "pre:");
    jv_write(obj, &out);
    jv_doc_free(d);
    CHECK_STR(out.data, "pre:{\"k\\\"\\n\":1,\"" FFFD "\":null}");
    buf_free(&out);
}

/* ---- building ---- */

TEST(builders_make_what_they_say)
{
    jv_doc_t *d = jv_doc_new();
    jv_t *min = jv_int(d, INT64_MIN), *max = jv_int(d, INT64_MAX), *zero = jv_int(d, 0);
    CHECK(min->type == JV_NUMBER && min->is_int && min->i == INT64_MIN);
    CHECK_STR(written(min), "-9223372036854775808");
    CHECK_STR(written(max), "9223372036854775807");
    CHECK_STR(written(zero), "0");
    CHECK_INT(max->len, 19);
    CHECK_STR(written(jv_bool(d, 5)), "true");
    CHECK_INT(jv_bool(d, 5)->boolean, 1);
    CHECK_STR(written(jv_bool(d, 0)), "false");
    CHECK_STR(written(jv_null(d)), "null");
    CHECK_STR(written(jv_string(d, "s")), "\"s\"");
    CHECK_STR(written(jv_stringn(d, "a\0b", 3)), "\"a\\u0000b\"");
    CHECK_STR(written(jv_object(d)), "{}");
    CHECK_STR(written(jv_array(d)), "[]");
    jv_doc_free(d);
}

TEST(builders_copy_or_borrow_as_documented)
{
    char src[] = "original", key[] = "key";
    jv_doc_t *d = jv_doc_new();
    jv_t *copied = jv_string(d, src), *copied_n = jv_stringn(d, src, 4), *borrowed = jv_string_ref(d, src, 8);
    jv_t *obj = jv_set_copy(d, jv_object(d), key, 3, jv_int(d, 1));
    memcpy(src, "CHANGED!", 8);
    memcpy(key, "XYZ", 3);
    CHECK_STR(jv_str(copied), "original");
    CHECK_STR(jv_str(copied_n), "orig");
    CHECK_INT(copied_n->len, 4);
    CHECK_STR(jv_str(borrowed), "CHANGED!");
    CHECK(jv_get(obj, "key") != NULL);
    CHECK(jv_get(obj, "XYZ") == NULL);
    jv_doc_free(d);
}

TEST(builders_ignore_null_values_and_wrong_containers)
{
    jv_doc_t *d = jv_doc_new();
    jv_t *obj = jv_object(d), *arr = jv_array(d), *num = jv_int(d, 3);
    CHECK(jv_set(d, obj, "a", NULL) == obj);
    CHECK(jv_set_copy(d, obj, "a", 1, NULL) == obj);
    CHECK(jv_push(d, arr, NULL) == arr);
    CHECK_INT(jv_count(obj), 0);
    CHECK_INT(jv_count(arr), 0);
    CHECK(jv_set(d, arr, "a", num) == arr);
    CHECK(jv_push(d, obj, num) == obj);
    CHECK(jv_set(d, NULL, "a", num) == NULL);
    CHECK(jv_push(d, NULL, num) == NULL);
    CHECK_INT(jv_count(obj), 0);
    CHECK_INT(jv_count(arr), 0);
    CHECK_STR(written(num), "3");
    jv_doc_free(d);
}

TEST(containers_grow_and_keep_order)
{
    jv_doc_t *d = jv_doc_new();
    jv_t *arr = jv_array(d), *obj = jv_object(d);
    char key[16];
    for (int i = 0; i < 5000; i++) {
        snprintf(key, sizeof key, "k%d", i);
        jv_push(d, arr, jv_int(d, i));
        jv_set_copy(d, obj, key, strlen(key), jv_int(d, -i));
    }
    int ok = jv_count(arr) == 5000 && jv_count(obj) == 5000;
    for (int i = 0; ok && i < 5000; i++) {
        snprintf(key, sizeof key, "k%d", i);
        ok = jv_at(arr, (size_t)i)->i == i && jv_get(obj, key)->i == -i && obj->u.pairs[i].val->i == -i;
    }
    jv_doc_free(d);
    CHECK(ok);
}

/* ---- jv_copy ---- */

static const char copy_src[] =
    "{\"s\":\"caf\\u00e9\\u0000!\",\"n\":[-9223372036854775808,1.5e3,-0,12345678901234567890],"
    "\"b\":[true,false,null],\"o\":{\"dup\":1,\"dup\":2,\"k\\u0000\":{}},\"e\":[],\"eo\":{}}";

TEST(copy_is_deep_and_outlives_its_source)
{
    jv_doc_t *src = jv_doc_new(), *dst = jv_doc_new();
    jv_t *orig = parse_s(src, copy_src);
    CHECK(orig != NULL);
    buf_t before = BUF_INIT, after = BUF_INIT;
    jv_write(orig, &before);
    jv_t *c = jv_copy(dst, orig);
    jv_doc_free(src); /* everything of c must now live in dst */
    jv_write(c, &after);
    jv_t *n = jv_get(c, "n"), *s = jv_get(c, "s");
    int ok = after.len == before.len && memcmp(after.data, before.data, after.len) == 0 &&
             jv_at(n, 0)->is_int && jv_at(n, 0)->i == INT64_MIN && !jv_at(n, 1)->is_int && jv_at(n, 2)->is_int &&
             !jv_at(n, 3)->is_int && s->len == 7 && jv_get(jv_get(c, "o"), "dup")->i == 2;
    buf_free(&before);
    buf_free(&after);
    jv_doc_free(dst);
    CHECK(ok);
}

TEST(copy_of_borrowed_strings_and_keys_owns_them)
{
    char text[] = "borrowed";
    jv_doc_t *src = jv_doc_new(), *dst = jv_doc_new();
    jv_t *o = jv_object(src);
    jv_set(src, o, "k", jv_string_ref(src, text, 8));
    jv_t *c = jv_copy(dst, o);
    jv_doc_free(src);
    memcpy(text, "XXXXXXXX", 8);
    CHECK_STR(written(c), "{\"k\":\"borrowed\"}");
    jv_doc_free(dst);
}

TEST(copy_in_the_same_document_is_independent)
{
    jv_doc_t *d = jv_doc_new();
    jv_t *arr = parse_s(d, "[1,2,3]"); /* room for a fourth without growing */
    jv_t *c = jv_copy(d, arr);
    jv_push(d, c, jv_int(d, 4));
    jv_t *obj = parse_s(d, "{\"a\":1}");
    jv_t *co = jv_copy(d, obj);
    jv_set(d, co, "b", jv_int(d, 2));
    CHECK_STR(written(arr), "[1,2,3]");
    CHECK_STR(written(c), "[1,2,3,4]");
    CHECK_STR(written(obj), "{\"a\":1}");
    CHECK_STR(written(co), "{\"a\":1,\"b\":2}");
    jv_push(d, arr, jv_int(d, 9));
    CHECK_STR(written(c), "[1,2,3,4]");
    jv_doc_free(d);
}

/* ---- the arena ---- */

/* A JSON string literal of n bytes of text (a pattern with escapes every 100 bytes), and its decoded form. */
static void big_string(size_t n, buf_t *json, buf_t *decoded)
{
    buf_putc(json, '"');
    for (size_t i = 0; i < n; i++) {
        char c = (char)('a' + i % 26);
        if (i % 100 == 99) {
            buf_puts(json, "\\n");
            c = '\n';
        } else {
            buf_putc(json, c);
        }
        buf_putc(decoded, c);
    }
    buf_putc(json, '"');
}

TEST(strings_larger_than_a_chunk)
{
    static const size_t sizes[] = {16 * 1024 - 1, 16 * 1024, 16 * 1024 + 1, 100000, 3 * 1024 * 1024};
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        buf_t json = BUF_INIT, want = BUF_INIT, out = BUF_INIT;
        big_string(sizes[k], &json, &want);
        jv_doc_t *d = jv_doc_new();
        jv_t *small = jv_int(d, 1);
        jv_t *v = parse_n(d, json.data, json.len, NULL, 0);
        jv_t *built = jv_stringn(d, want.data, want.len);
        jv_t *after = jv_int(d, 2);
        if (v)
            jv_write(v, &out);
        int ok = jv_is(v, JV_STRING) && v->len == sizes[k] && memcmp(v->u.str, want.data, want.len) == 0 &&
                 v->u.str[v->len] == '\0' && built->len == sizes[k] && memcmp(built->u.str, want.data, want.len) == 0 &&
                 out.len == json.len && memcmp(out.data, json.data, json.len) == 0 && small->i == 1 && after->i == 2 &&
                 jv_doc_bytes(d) >= 2 * sizes[k];
        jv_doc_free(d);
        buf_free(&json);
        buf_free(&want);
        buf_free(&out);
        CHECK(ok);
    }
}

TEST(large_block_does_not_strand_the_current_chunk)
{
    jv_doc_t *d = jv_doc_new();
    CHECK_INT(jv_doc_bytes(d), 0);
    jv_int(d, 1);
    size_t one_chunk = jv_doc_bytes(d);
    CHECK(one_chunk > 0);
    size_t big = 4 * one_chunk + 5; /* stored with its NUL, rounded up to 16 */
    char *text = malloc(big);
    memset(text, 'x', big);
    jv_t *s = jv_stringn(d, text, big);
    free(text);
    size_t with_big = jv_doc_bytes(d);
    CHECK_INT(with_big, one_chunk + ((big + 1 + 15) & ~(size_t)15));
    for (int i = 0; i < 20; i++) /* small values still fit in the first chunk */
        jv_int(d, i);
    CHECK_INT(jv_doc_bytes(d), with_big);
    CHECK_INT(s->len, big);
    jv_doc_free(d);
}

TEST(many_documents_reuse_chunks_cleanly)
{
    char text[64];
    for (int round = 0; round < 2000; round++) {
        jv_doc_t *a = jv_doc_new(), *b = jv_doc_new();
        jv_t *arr = jv_array(a), *nums = jv_array(b);
        for (int i = 0; i < 300; i++) { /* several chunks each, the two documents interleaved */
            snprintf(text, sizeof text, "round %d item %d", round, i);
            jv_push(a, arr, jv_string(a, text));
            jv_push(b, nums, jv_int(b, i));
        }
        jv_t *parsed = parse_s(b, "{\"r\":[1,2,3],\"s\":\"reused chunk\"}");
        if (round % 2)
            jv_doc_free(b);
        int ok = jv_count(arr) == 300;
        for (int i = 0; ok && i < 300; i += 37) {
            snprintf(text, sizeof text, "round %d item %d", round, i);
            ok = strcmp(jv_str(jv_at(arr, (size_t)i)), text) == 0;
        }
        if (!(round % 2)) {
            ok = ok && strcmp(written(parsed), "{\"r\":[1,2,3],\"s\":\"reused chunk\"}") == 0 &&
                 jv_count(nums) == 300 && jv_at(nums, 299)->i == 299;
            jv_doc_free(b);
        }
        jv_doc_free(a);
        CHECK(ok);
    }
    jv_doc_free(NULL);
}
