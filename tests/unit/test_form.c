/* test_form — x-www-form-urlencoded decoding: escapes, pair splitting, errors. */
#include "proto/form.h"

#include <stdlib.h>

#include "harness.h"

#define S(lit) (lit), (sizeof(lit) - 1) /* literal and its length, NULs included */

/* Parses a heap copy of exactly n bytes, so ASan catches any over-read. */
static int parse_n(const char *s, size_t n, kvv_t *out, char *why, size_t why_len)
{
    char *copy = malloc(n ? n : 1);
    memcpy(copy, s, n);
    int rc = form_parse(copy, n, out, why, why_len);
    free(copy);
    return rc;
}

#define CHECK_PAIR(f, i, want_key, want_val)                                    \
    do {                                                                        \
        CHECK((f).n > (i));                                                     \
        CHECK_STR((f).v[i].key, want_key);                                      \
        CHECK_STR((f).v[i].val, want_val);                                      \
    } while (0)

/* Parsing must fail with exactly this reason, leaving the output empty. */
#define CHECK_REJECTS(lit, reason)                                              \
    do {                                                                        \
        kvv_t f_ = {0};                                                         \
        char why_[128] = "";                                                    \
        CHECK_INT(parse_n(S(lit), &f_, why_, sizeof why_), -1);                 \
        CHECK_STR(why_, reason);                                                \
        CHECK_INT(f_.n, 0);                                                     \
        CHECK(f_.v == NULL);                                                    \
    } while (0)

TEST(pairs_in_order)
{
    kvv_t f = {0};
    CHECK_INT(parse_n(S("Action=SendMessage&Version=2012-11-05&QueueUrl=q"), &f, NULL, 0), 0);
    CHECK_INT(f.n, 3);
    CHECK_PAIR(f, 0, "Action", "SendMessage");
    CHECK_PAIR(f, 1, "Version", "2012-11-05");
    CHECK_PAIR(f, 2, "QueueUrl", "q");
    kvv_free(&f);
}

TEST(plus_and_percent_escapes_in_keys_and_values)
{
    kvv_t f = {0};
    CHECK_INT(parse_n(S("a+b=c+d&%41%62=%2b%2B%3d%26%25&x=%e2%98%83%C3%A9"), &f, NULL, 0), 0);
    CHECK_INT(f.n, 3);
    CHECK_PAIR(f, 0, "a b", "c d");
    CHECK_PAIR(f, 1, "Ab", "++=&%");
    CHECK_PAIR(f, 2, "x", "\xe2\x98\x83\xc3\xa9");
    kvv_free(&f);
}

TEST(only_the_first_equals_splits)
{
    kvv_t f = {0};
    CHECK_INT(parse_n(S("Policy={\"a\":\"b=c\"}=&Empty=&Bare"), &f, NULL, 0), 0);
    CHECK_INT(f.n, 3);
    CHECK_PAIR(f, 0, "Policy", "{\"a\":\"b=c\"}=");
    CHECK_PAIR(f, 1, "Empty", "");
    CHECK_PAIR(f, 2, "Bare", "");
    kvv_free(&f);
}

TEST(empty_pairs_and_empty_keys_are_dropped)
{
    kvv_t f = {0};
    CHECK_INT(parse_n(S("&&a=1&&=lost&=&b=2&"), &f, NULL, 0), 0);
    CHECK_INT(f.n, 2);
    CHECK_PAIR(f, 0, "a", "1");
    CHECK_PAIR(f, 1, "b", "2");
    kvv_free(&f);
    CHECK_INT(parse_n(S(""), &f, NULL, 0), 0);
    CHECK_INT(f.n, 0);
    CHECK_INT(parse_n(S("&"), &f, NULL, 0), 0);
    CHECK_INT(f.n, 0);
}

TEST(repeated_keys_are_all_kept)
{
    kvv_t f = {0};
    CHECK_INT(parse_n(S("k=1&k=2&k=1"), &f, NULL, 0), 0);
    CHECK_INT(f.n, 3);
    CHECK_PAIR(f, 0, "k", "1");
    CHECK_PAIR(f, 1, "k", "2");
    CHECK_PAIR(f, 2, "k", "1");
    kvv_free(&f);
}

TEST(raw_bytes_pass_through)
{
    kvv_t f = {0};
    CHECK_INT(parse_n(S("k=\xff\x01 ;/?:@$,\r\n"), &f, NULL, 0), 0);
    CHECK_PAIR(f, 0, "k", "\xff\x01 ;/?:@$,\r\n");
    kvv_free(&f);
}

TEST(malformed_escapes_are_rejected)
{
    CHECK_REJECTS("a=%G1", "malformed percent-escape at offset 2");
    CHECK_REJECTS("a=%1G", "malformed percent-escape at offset 2");
    CHECK_REJECTS("a=1&b=%4", "malformed percent-escape at offset 6");
    CHECK_REJECTS("a=1&b=%", "malformed percent-escape at offset 6");
    CHECK_REJECTS("a=%%41", "malformed percent-escape at offset 2");
    CHECK_REJECTS("%x=1", "malformed percent-escape at offset 0");
    CHECK_REJECTS("ok=1&k%=1", "malformed percent-escape at offset 6");
    CHECK_REJECTS("a=% 1", "malformed percent-escape at offset 2");
}

TEST(nul_is_rejected_raw_or_escaped)
{
    CHECK_REJECTS("a=x%00y", "NUL byte at offset 3");
    CHECK_REJECTS("a%00=1", "NUL byte at offset 1");
    CHECK_REJECTS("ab=1&c=\0", "NUL byte at offset 7");
    CHECK_REJECTS("\0", "NUL byte at offset 0");
}

TEST(error_empties_the_output_and_why_is_optional)
{
    kvv_t f = {0};
    kvv_add(&f, "earlier", "pair");
    CHECK_INT(parse_n(S("a=1&b=2&c=%zz"), &f, NULL, 0), -1);
    CHECK_INT(f.n, 0);
    char why[12];
    CHECK_INT(parse_n(S("a=1&b=2&c=%zz"), &f, why, sizeof why), -1);
    CHECK_STR(why, "malformed p"); /* truncated to the buffer */
}

TEST(appends_to_existing_pairs)
{
    kvv_t f = {0};
    CHECK_INT(parse_n(S("a=1"), &f, NULL, 0), 0);
    CHECK_INT(parse_n(S("b=2"), &f, NULL, 0), 0);
    CHECK_INT(f.n, 2);
    CHECK_PAIR(f, 1, "b", "2");
    kvv_free(&f);
}

TEST(botocore_send_message_body)
{
    /* What botocore 1.29.27 (boto3 1.26) sends for a SendMessage with attributes. */
    static const char body[] =
        "Action=SendMessage&Version=2012-11-05&QueueUrl=http%3A%2F%2F127.0.0.1%3A4566%2F000000000000%2Forders-queue&"
        "MessageBody=line1%0Aline2%0D%0ATab%09here+%26+%3Cxml+attr%3D%22q%22%3E+it%27s+100%25+%2Bplus%3D+"
        "caf%C3%A9+%E2%98%83+%F0%9F%98%80+~%2A%3F%2F%23%5B%5D&DelaySeconds=10&MessageAttribute.1.Name=blob&"
        "MessageAttribute.1.Value.DataType=Binary&MessageAttribute.1.Value.BinaryValue=AAH%2B%2FyBiaW5hcnk%3D";
    kvv_t f = {0};
    CHECK_INT(parse_n(S(body), &f, NULL, 0), 0);
    CHECK_INT(f.n, 8);
    CHECK_PAIR(f, 2, "QueueUrl", "http://127.0.0.1:4566/000000000000/orders-queue");
    CHECK_PAIR(f, 3, "MessageBody",
               "line1\nline2\r\nTab\there & <xml attr=\"q\"> it's 100% +plus= caf\xc3\xa9 \xe2\x98\x83 "
               "\xf0\x9f\x98\x80 ~*?/#[]");
    CHECK_PAIR(f, 4, "DelaySeconds", "10");
    CHECK_PAIR(f, 7, "MessageAttribute.1.Value.BinaryValue", "AAH+/yBiaW5hcnk=");
    kvv_free(&f);
}

TEST(url_query_string)
{
    kvv_t f = {0};
    CHECK_INT(parse_n(S("Action=ListQueues&QueueNamePrefix=a%2Fb+c&X-Amz-Signature=abc123"), &f, NULL, 0), 0);
    CHECK_INT(f.n, 3);
    CHECK_PAIR(f, 1, "QueueNamePrefix", "a/b c");
    CHECK_STR(kvv_get(&f, "X-Amz-Signature"), "abc123");
    kvv_free(&f);
}

TEST(input_need_not_be_terminated)
{
    kvv_t f = {0};
    CHECK_INT(form_parse("a=12345", 3, &f, NULL, 0), 0);
    CHECK_INT(f.n, 1);
    CHECK_PAIR(f, 0, "a", "1");
    kvv_free(&f);
    CHECK_INT(form_parse("a=%41", 4, &f, NULL, 0), -1); /* the escape is cut by n */
}
