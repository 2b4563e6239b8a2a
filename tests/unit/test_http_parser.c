/* test_http_parser — request heads, framing errors, limits, pipelining and
 * the chunked decoder, each also fed in pieces split at every byte. */
#include "net/http_parser.h"

#include <stdio.h>
#include <stdlib.h>

#include "harness.h"

#define S(lit) (lit), (sizeof(lit) - 1) /* literal and its length, NULs included */

static const http_limits_t lim_default = {8192, 64, 1 << 20};

/* Parses a heap copy of exactly len bytes, so ASan catches any over-read. */
static ssize_t parse_n(const char *s, size_t len, const http_limits_t *lim, http_head_t *h)
{
    char *copy = malloc(len ? len : 1);
    memcpy(copy, s, len);
    ssize_t r = http_parse_head(copy, len, lim, h);
    free(copy);
    return r;
}

/* Parses in place so the returned pointers stay valid. */
static ssize_t parse(const char *s, http_head_t *h)
{
    return http_parse_head(s, strlen(s), &lim_default, h);
}

/*
 * Every proper prefix of s[0..len) must give 0 or `want` (an error may come
 * early only once the bytes seen already break a rule); complete heads must
 * give exactly 0 before head_len. Returns the first offending prefix length,
 * or -1 when all agree.
 */
static long bad_prefix(const char *s, size_t len, const http_limits_t *lim, ssize_t want)
{
    http_head_t h;
    for (size_t k = 0; k < len; k++) {
        ssize_t r = parse_n(s, k, lim, &h);
        if (want > 0 && (size_t)want > k ? r != 0 : (r != 0 && r != want))
            return (long)k;
    }
    return -1;
}

/* ---- well-formed heads and derived fields ---- */

TEST(simple_get)
{
    http_head_t h;
    const char *req = "GET /index.html?x=1 HTTP/1.1\r\nHost: example.com\r\n\r\n";
    CHECK_INT(parse(req, &h), strlen(req));
    CHECK_MEM(h.method, h.method_len, "GET", 3);
    CHECK_MEM(h.target, h.target_len, "/index.html?x=1", 15);
    CHECK_INT(h.minor_version, 1);
    CHECK_INT(h.nheaders, 1);
    CHECK_MEM(h.headers[0].name, h.headers[0].name_len, "Host", 4);
    CHECK_MEM(h.headers[0].value, h.headers[0].value_len, "example.com", 11);
    CHECK_INT(h.content_length, -1);
    CHECK_INT(h.chunked, 0);
    CHECK_INT(h.expect_continue, 0);
    CHECK_INT(h.keep_alive, 1);
    CHECK_INT(h.head_len, strlen(req));
}

static const char boto3_body[] =
    "{\"QueueUrl\": \"http://localhost:9324/000000000000/orders\", \"MessageBody\": \"hello\"}";

static void boto3_head(char *out, size_t cap)
{
    snprintf(out, cap,
             "POST / HTTP/1.1\r\n"
             "Host: localhost:9324\r\n"
             "Accept-Encoding: identity\r\n"
             "X-Amz-Target: AmazonSQS.SendMessage\r\n"
             "Content-Type: application/x-amz-json-1.0\r\n"
             "User-Agent: Boto3/1.34.0 md/Botocore#1.34.0 ua/2.0 os/linux#6.1.0 "
             "md/arch#x86_64 lang/python#3.11.2 md/pyimpl#CPython cfg/retry-mode#legacy "
             "Botocore/1.34.0\r\n"
             "X-Amz-Date: 20240101T000000Z\r\n"
             "Authorization: AWS4-HMAC-SHA256 "
             "Credential=AKIAIOSFODNN7EXAMPLE/20240101/us-east-1/sqs/aws4_request, "
             "SignedHeaders=content-type;host;x-amz-date;x-amz-target, "
             "Signature=5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7\r\n"
             "amz-sdk-invocation-id: 5f1f6b4e-8d5a-4c3e-9a57-1f1e6b3f0c2d\r\n"
             "amz-sdk-request: attempt=1\r\n"
             "Content-Length: %zu\r\n"
             "\r\n",
             strlen(boto3_body));
}

TEST(boto3_sqs_json_post)
{
    char req[2048];
    http_head_t h;
    boto3_head(req, sizeof req);
    size_t head_len = strlen(req);
    strcat(req, boto3_body);
    CHECK_INT(parse(req, &h), head_len);
    CHECK_MEM(h.method, h.method_len, "POST", 4);
    CHECK_MEM(h.target, h.target_len, "/", 1);
    CHECK_INT(h.nheaders, 10);
    CHECK_INT(h.content_length, strlen(boto3_body));
    CHECK_INT(h.keep_alive, 1);
    CHECK_INT(h.chunked, 0);
    const http_header_t *t = http_head_find(&h, "x-amz-target");
    CHECK(t != NULL);
    CHECK_MEM(t->value, t->value_len, "AmazonSQS.SendMessage", 21);
    CHECK(http_head_find(&h, "AUTHORIZATION") == &h.headers[6]);
    CHECK_MEM(req + h.head_len, h.content_length, boto3_body, strlen(boto3_body));
    CHECK_INT(bad_prefix(req, head_len, &lim_default, (ssize_t)head_len), -1);
}

TEST(form_post_http10)
{
    http_head_t h;
    const char *req = "POST /?Action=SendMessage HTTP/1.0\r\n"
                      "Content-Type: application/x-www-form-urlencoded; charset=utf-8\r\n"
                      "Content-Length: 42\r\n\r\n";
    CHECK_INT(parse(req, &h), strlen(req));
    CHECK_INT(h.minor_version, 0);
    CHECK_INT(h.content_length, 42);
    CHECK_INT(h.keep_alive, 0);
    const http_header_t *ct = http_head_find(&h, "content-type");
    CHECK(ct != NULL);
    CHECK_MEM(ct->value, ct->value_len, "application/x-www-form-urlencoded; charset=utf-8", 48);
    CHECK_INT(bad_prefix(req, strlen(req), &lim_default, (ssize_t)strlen(req)), -1);
}

TEST(leading_empty_lines_are_skipped)
{
    http_head_t h;
    const char *req = "\r\n\r\nGET / HTTP/1.1\r\n\r\n";
    CHECK_INT(parse(req, &h), strlen(req));
    CHECK_MEM(h.method, h.method_len, "GET", 3);
    CHECK_INT(h.nheaders, 0);
    CHECK_INT(bad_prefix(req, strlen(req), &lim_default, (ssize_t)strlen(req)), -1);
}

TEST(ows_is_stripped_from_values)
{
    http_head_t h;
    const char *req = "GET / HTTP/1.1\r\nA: \t a  b\t \r\nB:\r\nC:   \r\nD:x\r\n\r\n";
    CHECK_INT(parse(req, &h), strlen(req));
    CHECK_INT(h.nheaders, 4);
    CHECK_MEM(h.headers[0].value, h.headers[0].value_len, "a  b", 4);
    CHECK_INT(h.headers[1].value_len, 0);
    CHECK_INT(h.headers[2].value_len, 0);
    CHECK_MEM(h.headers[3].value, h.headers[3].value_len, "x", 1);
}

TEST(obs_text_in_values_and_odd_methods_are_accepted)
{
    http_head_t h;
    const char *req = "M-SEARCH! * HTTP/1.1\r\nX-Name: caf\xc3\xa9\r\n\r\n";
    CHECK_INT(parse(req, &h), strlen(req));
    CHECK_MEM(h.method, h.method_len, "M-SEARCH!", 9);
    CHECK_MEM(h.target, h.target_len, "*", 1);
    CHECK_MEM(h.headers[0].value, h.headers[0].value_len, "caf\xc3\xa9", 5);
}

/* Every byte value at every position of a long value and a long target,
 * which the parser scans eight bytes at a time. */
TEST(byte_classes_at_every_position)
{
    for (int c = 0; c < 256; c++) {
        int value_ok = c == '\t' || c == ' ' || (c >= 0x21 && c != 0x7f);
        int target_ok = c >= 0x21 && c <= 0x7e;
        for (size_t pos = 0; pos < 24; pos++) {
            char req[128];
            http_head_t h;
            int n = snprintf(req, sizeof req, "GET /aaaaaaaaaaaaaaaaaaaaaaaaa HTTP/1.1\r\n"
                                              "X: bbbbbbbbbbbbbbbbbbbbbbbbb\r\n\r\n");
            req[4 + 1 + pos] = (char)c;
            ssize_t r = parse_n(req, (size_t)n, &lim_default, &h);
            CHECK_INT(r, target_ok ? n : -400);
            req[4 + 1 + pos] = 'a';
            req[44 + pos] = (char)c;
            r = parse_n(req, (size_t)n, &lim_default, &h);
            CHECK_INT(r, value_ok ? n : -400);
        }
    }
}

TEST(absolute_and_authority_targets)
{
    http_head_t h;
    const char *a = "GET http://example.com:80/q?x HTTP/1.1\r\n\r\n";
    CHECK_INT(parse(a, &h), strlen(a));
    CHECK_MEM(h.target, h.target_len, "http://example.com:80/q?x", 25);
    const char *b = "CONNECT example.com:443 HTTP/1.1\r\n\r\n";
    CHECK_INT(parse(b, &h), strlen(b));
    CHECK_MEM(h.target, h.target_len, "example.com:443", 15);
}

TEST(head_find_is_case_insensitive_and_exact)
{
    http_head_t h;
    const char *req = "GET / HTTP/1.1\r\nContent-Type: a\r\nX-Y: 1\r\nx-y: 2\r\n\r\n";
    CHECK(parse(req, &h) > 0);
    CHECK(http_head_find(&h, "content-type") == &h.headers[0]);
    CHECK(http_head_find(&h, "CONTENT-TYPE") == &h.headers[0]);
    CHECK(http_head_find(&h, "X-y") == &h.headers[1]); /* the first of repeats */
    CHECK(http_head_find(&h, "Content") == NULL);
    CHECK(http_head_find(&h, "Content-Types") == NULL);
    CHECK(http_head_find(&h, "Content-Typf") == NULL);
    CHECK(http_head_find(&h, "Host") == NULL);
}

TEST(content_length_values)
{
    http_head_t h;
    CHECK(parse("POST / HTTP/1.1\r\nContent-Length: 0\r\n\r\n", &h) > 0);
    CHECK_INT(h.content_length, 0);
    CHECK(parse("POST / HTTP/1.1\r\nContent-Length:  007 \r\n\r\n", &h) > 0);
    CHECK_INT(h.content_length, 7);
    CHECK(parse("POST / HTTP/1.1\r\ncontent-length: 5\r\nCONTENT-LENGTH: 5\r\n\r\n", &h) > 0);
    CHECK_INT(h.content_length, 5);
    CHECK(parse("POST / HTTP/1.1\r\nContent-Length: 1048576\r\n\r\n", &h) > 0);
    CHECK_INT(h.content_length, 1048576);
    /* look-alike names of the same length are not framing headers */
    CHECK(parse("POST / HTTP/1.1\r\nContent-Lengtx: x\r\nTransfer-Encodinf: x\r\n\r\n", &h) > 0);
    CHECK_INT(h.content_length, -1);
    CHECK_INT(h.chunked, 0);
}

TEST(chunked_is_derived_case_insensitively)
{
    http_head_t h;
    CHECK(parse("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", &h) > 0);
    CHECK_INT(h.chunked, 1);
    CHECK_INT(h.content_length, -1);
    CHECK(parse("POST / HTTP/1.1\r\ntransfer-encoding:  ChUnKeD \r\n\r\n", &h) > 0);
    CHECK_INT(h.chunked, 1);
}

TEST(expect_continue)
{
    static const struct {
        const char *req;
        int want;
    } cases[] = {
        {"POST / HTTP/1.1\r\nExpect: 100-continue\r\n\r\n", 1},
        {"POST / HTTP/1.1\r\nexpect:  100-CONTINUE \r\n\r\n", 1},
        {"POST / HTTP/1.1\r\nExpect: 100-continued\r\n\r\n", 0},
        {"POST / HTTP/1.1\r\nExpect: 100\r\n\r\n", 0},
        {"POST / HTTP/1.1\r\nX-Expect: 100-continue\r\n\r\n", 0},
        {"POST / HTTP/1.0\r\nExpect: 100-continue\r\n\r\n", 0}, /* RFC 9110 10.1.1 */
        {"POST / HTTP/1.1\r\n\r\n", 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        http_head_t h;
        CHECK_INT(parse(cases[i].req, &h), strlen(cases[i].req));
        if (h.expect_continue != cases[i].want)
            harness_fail(__FILE__, __LINE__, "case %zu: expect_continue %d", i, h.expect_continue);
    }
}

TEST(keep_alive_matrix)
{
    static const struct {
        const char *req;
        int want;
    } cases[] = {
        {"GET / HTTP/1.1\r\n\r\n", 1},
        {"GET / HTTP/1.1\r\nConnection: close\r\n\r\n", 0},
        {"GET / HTTP/1.1\r\nConnection: CLOSE\r\n\r\n", 0},
        {"GET / HTTP/1.1\r\nConnection: keep-alive, Close\r\n\r\n", 0},
        {"GET / HTTP/1.1\r\nConnection: Upgrade,close , TE\r\n\r\n", 0},
        {"GET / HTTP/1.1\r\nConnection: closed\r\n\r\n", 1},
        {"GET / HTTP/1.1\r\nConnection: keep-alive\r\n\r\n", 1},
        {"GET / HTTP/1.1\r\nConnection: TE\r\nConnection: close\r\n\r\n", 0},
        {"GET / HTTP/1.1\r\nConnection:\r\n\r\n", 1},
        {"GET / HTTP/1.0\r\n\r\n", 0},
        {"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", 1},
        {"GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", 1},
        {"GET / HTTP/1.0\r\nConnection: foo, ,keep-alive\r\n\r\n", 1},
        {"GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n", 0},
        {"GET / HTTP/1.0\r\nConnection: keep-alivex\r\n\r\n", 0},
        {"GET / HTTP/1.0\r\nKeep-Alive: timeout=5\r\n\r\n", 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        http_head_t h;
        CHECK_INT(parse(cases[i].req, &h), strlen(cases[i].req));
        if (h.keep_alive != cases[i].want)
            harness_fail(__FILE__, __LINE__, "case %zu: keep_alive %d", i, h.keep_alive);
    }
}

TEST(every_split_point_of_valid_heads_is_partial)
{
    static const char *reqs[] = {
        "GET / HTTP/1.1\r\n\r\n",
        "\r\nPOST /q HTTP/1.0\r\nContent-Length: 3\r\nConnection: keep-alive\r\n\r\n",
        "PUT /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\nExpect: 100-continue\r\nA:\r\n\r\n",
    };
    for (size_t i = 0; i < sizeof reqs / sizeof reqs[0]; i++) {
        size_t n = strlen(reqs[i]);
        http_head_t h;
        CHECK_INT(parse_n(reqs[i], n, &lim_default, &h), n);
        CHECK_INT(bad_prefix(reqs[i], n, &lim_default, (ssize_t)n), -1);
    }
}

/* ---- errors ---- */

static const struct {
    const char *req;
    size_t len;
    ssize_t want;
} error_cases[] = {
    /* request line */
    {S("G@T / HTTP/1.1\r\n\r\n"), -400},
    {S("GE(T / HTTP/1.1\r\n\r\n"), -400},
    {S(" GET / HTTP/1.1\r\n\r\n"), -400},
    {S("GET  / HTTP/1.1\r\n\r\n"), -400},
    {S("GET\t/ HTTP/1.1\r\n\r\n"), -400},
    {S("GET / HTTP/1.1 extra\r\n\r\n"), -400},
    {S("GET /a b HTTP/1.1\r\n\r\n"), -400},
    {S("GET /\x01 HTTP/1.1\r\n\r\n"), -400},
    {S("GET /\x7f HTTP/1.1\r\n\r\n"), -400},
    {S("GET /caf\xc3\xa9 HTTP/1.1\r\n\r\n"), -400},
    {S("GET foo HTTP/1.1\r\n\r\n"), -400},
    {S("GET 1http://x/ HTTP/1.1\r\n\r\n"), -400},
    {S("GET ** HTTP/1.1\r\n\r\n"), -400},
    {S("GET ht!p://x/ HTTP/1.1\r\n\r\n"), -400},
    {S("GET / HTTP/1.1\n\r\n"), -400},
    {S("GET / HTTP/1.1\r\r\n"), -400},
    {S("GET / http/1.1\r\n\r\n"), -400},
    {S("GET / HTTP/11.1\r\n\r\n"), -400},
    {S("GET / HTTP/1.x\r\n\r\n"), -400},
    {S("GET / HTTP/1.1 \r\n\r\n"), -400},
    {S("GET /\r\n\r\n"), -400},
    {S("\nGET / HTTP/1.1\r\n\r\n"), -400},
    {S("\r\rGET / HTTP/1.1\r\n\r\n"), -400},
    {S("\x16\x03\x01\x02\x00"), -400}, /* TLS hello on the plain port */
    /* header lines */
    {S("GET / HTTP/1.1\r\nHo st: x\r\n\r\n"), -400},
    {S("GET / HTTP/1.1\r\nHost : x\r\n\r\n"), -400},
    {S("GET / HTTP/1.1\r\nHost\t: x\r\n\r\n"), -400},
    {S("GET / HTTP/1.1\r\n: x\r\n\r\n"), -400},
    {S("GET / HTTP/1.1\r\nHost x\r\n\r\n"), -400},
    {S("GET / HTTP/1.1\r\nH(o)st: x\r\n\r\n"), -400},
    {S("GET / HTTP/1.1\r\nX-A: a\r\n  b\r\n\r\n"), -400},
    {S("GET / HTTP/1.1\r\nX-A: a\r\n\tb\r\n\r\n"), -400},
    {S("GET / HTTP/1.1\r\n X-A: a\r\n\r\n"), -400},
    {S("GET / HTTP/1.1\r\nX-A: a\x01z\r\n\r\n"), -400},
    {S("GET / HTTP/1.1\r\nX-A: a\x7f\r\n\r\n"), -400},
    {S("GET / HTTP/1.1\r\nX-A: a\0b\r\n\r\n"), -400},
    {S("GET / HTTP/1.1\r\nX-A: a\rb\r\n\r\n"), -400},
    {S("GET / HTTP/1.1\r\nX-A: a\n\r\n"), -400},
    {S("GET / HTTP/1.1\r\nX-A: a\r\n\n"), -400},
    {S("GET / HTTP/1.1\r\nX-A: a\r\n\rX"), -400},
    {S("GET / HTTP/1.1\r\n\n"), -400},
    /* framing */
    {S("POST / HTTP/1.1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"), -400},
    {S("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n"), -400},
    {S("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n"), -400},
    {S("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n"), -400},
    {S("POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n"), -400},
    {S("POST / HTTP/1.1\r\nContent-Length: 5, 5\r\n\r\n"), -400},
    {S("POST / HTTP/1.1\r\nContent-Length: abc\r\n\r\n"), -400},
    {S("POST / HTTP/1.1\r\nContent-Length: 5a\r\n\r\n"), -400},
    {S("POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n"), -400},
    {S("POST / HTTP/1.1\r\nContent-Length: +5\r\n\r\n"), -400},
    {S("POST / HTTP/1.1\r\nContent-Length: 0x10\r\n\r\n"), -400},
    {S("POST / HTTP/1.1\r\nContent-Length: 1 2\r\n\r\n"), -400},
    {S("POST / HTTP/1.1\r\nContent-Length: \r\n\r\n"), -400},
    {S("POST / HTTP/1.1\r\nContent-Length: 9223372036854775808\r\n\r\n"), -400},
    {S("POST / HTTP/1.1\r\nContent-Length: 99999999999999999999999\r\n\r\n"), -400},
    /* 413, 501, 505 */
    {S("POST / HTTP/1.1\r\nContent-Length: 1048577\r\n\r\n"), -413},
    {S("POST / HTTP/1.1\r\nContent-Length: 9223372036854775807\r\n\r\n"), -413},
    {S("POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n"), -501},
    {S("POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"), -501},
    {S("POST / HTTP/1.1\r\nTransfer-Encoding: chunked, gzip\r\n\r\n"), -501},
    {S("POST / HTTP/1.1\r\nTransfer-Encoding: identity\r\n\r\n"), -501},
    {S("POST / HTTP/1.1\r\nTransfer-Encoding: chunked;q=1\r\n\r\n"), -501},
    {S("POST / HTTP/1.1\r\nTransfer-Encoding:\r\n\r\n"), -501},
    {S("GET / HTTP/2.0\r\n\r\n"), -505},
    {S("GET / HTTP/1.2\r\n\r\n"), -505},
    {S("GET / HTTP/0.9\r\n\r\n"), -505},
    {S("GET / HTTP/3.1\r\nHost: x\r\n\r\n"), -505},
};

TEST(error_statuses)
{
    for (size_t i = 0; i < sizeof error_cases / sizeof error_cases[0]; i++) {
        http_head_t h;
        ssize_t r = parse_n(error_cases[i].req, error_cases[i].len, &lim_default, &h);
        if (r != error_cases[i].want)
            harness_fail(__FILE__, __LINE__, "case %zu: got %zd, want %zd", i, r, error_cases[i].want);
    }
}

TEST(errors_are_never_reported_before_the_offending_byte)
{
    for (size_t i = 0; i < sizeof error_cases / sizeof error_cases[0]; i++) {
        long k = bad_prefix(error_cases[i].req, error_cases[i].len, &lim_default, error_cases[i].want);
        if (k >= 0)
            harness_fail(__FILE__, __LINE__, "case %zu: prefix of %ld bytes disagrees", i, k);
    }
}

TEST(bad_bytes_fail_early)
{
    http_head_t h;
    CHECK_INT(parse_n(S("G@"), &lim_default, &h), -400);
    CHECK_INT(parse_n(S("GET / HTTP/1.1\r\nX-A: a\x01"), &lim_default, &h), -400);
    CHECK_INT(parse_n(S("GET / HTTP/1.1\r\nHost :"), &lim_default, &h), -400);
    CHECK_INT(parse_n(S("GET / HTTX"), &lim_default, &h), -400);
    CHECK_INT(parse_n(S("GET / HTTP/1.1\r\nX-A: a\r\n "), &lim_default, &h), -400);
    /* ... but nothing framing-related until the head is complete */
    CHECK_INT(parse_n(S("POST / HTTP/1.1\r\nContent-Length: 9999999\r\n"), &lim_default, &h), 0);
}

/* ---- limits ---- */

TEST(max_head_is_inclusive)
{
    const char *req = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
    size_t n = strlen(req);
    http_head_t h;
    http_limits_t lim = {n, 64, 100};
    CHECK_INT(parse_n(req, n, &lim, &h), n);
    lim.max_head = n - 1;
    CHECK_INT(parse_n(req, n, &lim, &h), -431);
    CHECK_INT(parse_n(req, n - 1, &lim, &h), 0); /* not over the limit yet */
    lim.max_head = n - 2;
    CHECK_INT(parse_n(req, n - 1, &lim, &h), -431);
    CHECK_INT(bad_prefix(req, n, &lim, -431), -1);
}

TEST(max_head_counts_leading_empty_lines)
{
    const char *req = "\r\n\r\n\r\nGET / HTTP/1.1\r\n\r\n";
    http_head_t h;
    http_limits_t lim = {strlen(req) - 1, 64, 100};
    CHECK_INT(parse_n(req, strlen(req), &lim, &h), -431);
}

TEST(oversized_partial_head_is_431_early)
{
    static char req[10000];
    memcpy(req, "GET /", 5);
    memset(req + 5, 'a', sizeof req - 5);
    http_head_t h;
    CHECK_INT(parse_n(req, 8192, &lim_default, &h), 0);
    CHECK_INT(parse_n(req, 8193, &lim_default, &h), -431);
    CHECK_INT(parse_n(req, sizeof req, &lim_default, &h), -431);
    /* a rule broken within the limit still wins */
    req[100] = '\x01';
    CHECK_INT(parse_n(req, sizeof req, &lim_default, &h), -400);
}

/* A head with n header lines "H<i>: v". */
static size_t head_with_headers(char *out, size_t cap, size_t n)
{
    size_t len = (size_t)snprintf(out, cap, "GET / HTTP/1.1\r\n");
    for (size_t i = 0; i < n; i++)
        len += (size_t)snprintf(out + len, cap - len, "H%zu: v\r\n", i);
    len += (size_t)snprintf(out + len, cap - len, "\r\n");
    return len;
}

TEST(max_headers)
{
    static char req[4096];
    http_head_t h;
    http_limits_t lim = {8192, 4, 100};
    size_t n = head_with_headers(req, sizeof req, 4);
    CHECK_INT(parse_n(req, n, &lim, &h), n);
    CHECK_INT(h.nheaders, 4);
    n = head_with_headers(req, sizeof req, 5);
    CHECK_INT(parse_n(req, n, &lim, &h), -431);
    CHECK_INT(bad_prefix(req, n, &lim, -431), -1);
    lim.max_headers = 0;
    CHECK_INT(parse_n(S("GET / HTTP/1.1\r\n\r\n"), &lim, &h), 18);
    CHECK_INT(parse_n(S("GET / HTTP/1.1\r\nA: b\r\n\r\n"), &lim, &h), -431);
}

TEST(max_headers_is_capped_by_the_array)
{
    static char req[4096];
    http_head_t h;
    http_limits_t lim = {8192, 1000, 100};
    size_t n = head_with_headers(req, sizeof req, HTTP_MAX_HEADERS);
    CHECK_INT(http_parse_head(req, n, &lim, &h), n);
    CHECK_INT(h.nheaders, HTTP_MAX_HEADERS);
    CHECK_MEM(h.headers[63].name, h.headers[63].name_len, "H63", 3);
    n = head_with_headers(req, sizeof req, HTTP_MAX_HEADERS + 1);
    CHECK_INT(parse_n(req, n, &lim, &h), -431);
}

TEST(max_body_is_inclusive)
{
    http_head_t h;
    http_limits_t lim = {8192, 64, 10};
    CHECK(parse_n(S("POST / HTTP/1.1\r\nContent-Length: 10\r\n\r\n"), &lim, &h) > 0);
    CHECK_INT(parse_n(S("POST / HTTP/1.1\r\nContent-Length: 11\r\n\r\n"), &lim, &h), -413);
    lim.max_body = 0;
    CHECK(parse_n(S("POST / HTTP/1.1\r\nContent-Length: 0\r\n\r\n"), &lim, &h) > 0);
    CHECK_INT(parse_n(S("POST / HTTP/1.1\r\nContent-Length: 1\r\n\r\n"), &lim, &h), -413);
}

TEST(empty_input_is_partial)
{
    http_head_t h;
    CHECK_INT(http_parse_head(NULL, 0, &lim_default, &h), 0);
    CHECK_INT(parse_n(S("\r\n\r\n"), &lim_default, &h), 0);
    CHECK_INT(parse_n(S("\r"), &lim_default, &h), 0);
}

/* ---- pipelining ---- */

TEST(pipelined_content_length_requests)
{
    const char *wire = "POST /a HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello"
                       "GET /b HTTP/1.1\r\n\r\n"
                       "POST /c HTTP/1.1\r\nContent-Length: 0\r\n\r\n";
    size_t len = strlen(wire), off = 0;
    http_head_t h;
    ssize_t r = http_parse_head(wire, len, &lim_default, &h);
    CHECK_INT(r, 39);
    CHECK_MEM(h.target, h.target_len, "/a", 2);
    CHECK_MEM(wire + r, 5, "hello", 5);
    off = (size_t)r + (size_t)h.content_length;
    r = http_parse_head(wire + off, len - off, &lim_default, &h);
    CHECK_INT(r, 19);
    CHECK_MEM(h.target, h.target_len, "/b", 2);
    off += (size_t)r;
    r = http_parse_head(wire + off, len - off, &lim_default, &h);
    CHECK_MEM(h.target, h.target_len, "/c", 2);
    CHECK_INT(off + (size_t)r, len);
}

TEST(pipelined_chunked_request)
{
    const char *wire = "POST /a HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
                       "5\r\nhello\r\n0\r\n\r\n"
                       "GET /next HTTP/1.1\r\n\r\n";
    size_t len = strlen(wire);
    http_head_t h;
    ssize_t r = http_parse_head(wire, len, &lim_default, &h);
    CHECK_INT(r, 48);
    CHECK_INT(h.chunked, 1);
    http_chunked_t c;
    buf_t body = BUF_INIT;
    http_chunked_init(&c);
    ssize_t used = http_chunked_decode(&c, wire + r, len - (size_t)r, &body, 100);
    CHECK_INT(used, 15);
    CHECK_INT(c.done, 1);
    CHECK_MEM(body.data, body.len, "hello", 5);
    buf_free(&body);
    size_t off = (size_t)r + (size_t)used;
    r = http_parse_head(wire + off, len - off, &lim_default, &h);
    CHECK_INT(r, len - off);
    CHECK_MEM(h.target, h.target_len, "/next", 5);
}

/* ---- chunked decoding ---- */

typedef struct decoded {
    ssize_t status; /* total consumed, or the error */
    int done;
    buf_t body;
} decoded_t;

/* Decodes in[0..len) fed in pieces of `step` bytes (each a fresh heap copy),
 * as a connection would: stop at done or error, advance by what was consumed. */
static void decode_pieces(const char *in, size_t len, size_t step, size_t max_body, decoded_t *d)
{
    http_chunked_t c;
    http_chunked_init(&c);
    buf_init(&d->body);
    size_t off = 0;
    d->status = 0;
    while (off < len && !c.done) {
        size_t n = len - off < step ? len - off : step;
        char *piece = malloc(n);
        memcpy(piece, in + off, n);
        ssize_t r = http_chunked_decode(&c, piece, n, &d->body, max_body);
        free(piece);
        if (r < 0) {
            d->status = r;
            break;
        }
        off += (size_t)r;
        d->status = (ssize_t)off;
        if (!c.done && (size_t)r != n)
            d->status = -1; /* must consume everything until done */
    }
    d->done = c.done;
    if (d->status >= 0 && c.total != d->body.len)
        d->status = -2;
}

/* Decodes in[0..len) split once at every offset and in every piece size;
 * returns the first disagreeing split, or -1, with the whole-input result in *d. */
static long decode_everywhere(const char *in, size_t len, size_t max_body, decoded_t *d)
{
    decode_pieces(in, len, len ? len : 1, max_body, d);
    for (size_t step = 1; step < len; step++) {
        decoded_t p;
        decode_pieces(in, len, step, max_body, &p);
        int same = p.status == d->status && p.done == d->done && p.body.len == d->body.len &&
                   (p.body.len == 0 || memcmp(p.body.data, d->body.data, p.body.len) == 0);
        buf_free(&p.body);
        if (!same)
            return (long)step;
    }
    for (size_t cut = 1; cut < len; cut++) {
        http_chunked_t c;
        buf_t b = BUF_INIT;
        http_chunked_init(&c);
        ssize_t total = http_chunked_decode(&c, in, cut, &b, max_body);
        if (total == (ssize_t)cut && !c.done) {
            ssize_t r2 = http_chunked_decode(&c, in + cut, len - cut, &b, max_body);
            total = r2 < 0 ? r2 : total + r2;
        }
        int same = total == d->status && b.len == d->body.len && c.done == d->done &&
                   (b.len == 0 || memcmp(b.data, d->body.data, b.len) == 0);
        buf_free(&b);
        if (!same)
            return (long)(len + cut);
    }
    return -1;
}

TEST(chunked_basic_at_every_split)
{
    const char *in = "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n";
    decoded_t d;
    CHECK_INT(decode_everywhere(in, strlen(in), 100, &d), -1);
    CHECK_INT(d.status, strlen(in));
    CHECK_INT(d.done, 1);
    CHECK_MEM(d.body.data, d.body.len, "hello world", 11);
    buf_free(&d.body);
}

TEST(chunked_extensions_at_every_split)
{
    const char *in = "5;name=value;flag\r\nhello\r\n"
                     "3 ; q=\"a \\\"b\\\" ;c\"\t;x\r\nabc\r\n"
                     "0;last=\"\"\r\n\r\n";
    decoded_t d;
    CHECK_INT(decode_everywhere(in, strlen(in), 100, &d), -1);
    CHECK_INT(d.status, strlen(in));
    CHECK_INT(d.done, 1);
    CHECK_MEM(d.body.data, d.body.len, "helloabc", 8);
    buf_free(&d.body);
}

TEST(chunked_trailers_at_every_split)
{
    const char *in = "4\r\nwiki\r\n0\r\nX-Checksum: abc\r\nX-Empty:\r\nX-Sp:  a b \r\n\r\nNEXT";
    decoded_t d;
    CHECK_INT(decode_everywhere(in, strlen(in), 100, &d), -1);
    CHECK_INT(d.status, strlen(in) - 4); /* "NEXT" belongs to the next request */
    CHECK_INT(d.done, 1);
    CHECK_MEM(d.body.data, d.body.len, "wiki", 4);
    buf_free(&d.body);
}

TEST(chunked_hex_sizes)
{
    char in[128];
    snprintf(in, sizeof in, "A\r\n0123456789\r\n00000001b\r\n%027d\r\n0000\r\n\r\n", 0);
    decoded_t d;
    CHECK_INT(decode_everywhere(in, strlen(in), 100, &d), -1);
    CHECK_INT(d.status, strlen(in));
    CHECK_INT(d.body.len, 37);
    CHECK_MEM(d.body.data, 10, "0123456789", 10);
    buf_free(&d.body);
}

TEST(chunked_stops_after_done)
{
    http_chunked_t c;
    buf_t b = BUF_INIT;
    http_chunked_init(&c);
    CHECK_INT(http_chunked_decode(&c, S("0\r\n\r\nGET"), &b, 10), 5);
    CHECK_INT(c.done, 1);
    CHECK_INT(http_chunked_decode(&c, S("GET"), &b, 10), 0);
    CHECK_INT(b.len, 0);
    CHECK_INT(http_chunked_decode(&c, NULL, 0, &b, 10), 0);
    buf_free(&b);
}

TEST(chunked_partial_reports_progress)
{
    http_chunked_t c;
    buf_t b = BUF_INIT;
    http_chunked_init(&c);
    CHECK_INT(http_chunked_decode(&c, S("a;x=1\r\nhel"), &b, 100), 10);
    CHECK_INT(c.done, 0);
    CHECK_INT(c.chunk_left, 7);
    CHECK_INT(c.total, 3);
    CHECK_MEM(b.data, b.len, "hel", 3);
    CHECK_INT(http_chunked_decode(&c, S("lo worl"), &b, 100), 7);
    CHECK_INT(c.chunk_left, 0);
    CHECK_INT(http_chunked_decode(&c, S("\r"), &b, 100), 1);
    CHECK_INT(c.done, 0);
    buf_free(&b);
}

static const struct {
    const char *in;
    size_t len;
    size_t max_body;
    ssize_t want;
} chunked_errors[] = {
    {S("\r\n"), 100, -400},                           /* no size */
    {S("x\r\n"), 100, -400},
    {S("-5\r\n"), 100, -400},
    {S("0x5\r\n"), 100, -400},
    {S("5\n"), 100, -400},                            /* bare LF */
    {S("5\rX"), 100, -400},
    {S("5 5\r\n"), 100, -400},
    {S(" 5\r\n"), 100, -400},
    {S("5;a\x01\r\n"), 100, -400},
    {S("5;a@b\r\n"), 100, -400},
    {S("5;a=\"x\ry\"\r\n"), 100, -400},                /* CR inside quotes */
    {S("5;a=\"x\\\x01\"\r\n"), 100, -400},
    {S("5;a\nhello\r\n"), 100, -400},
    {S("5\r\nhelloX"), 100, -400},                    /* no CRLF after data */
    {S("5\r\nhello\rX"), 100, -400},
    {S("5\r\nhello\n0\r\n\r\n"), 100, -400},
    {S("0\r\nBad Name: x\r\n\r\n"), 100, -400},
    {S("0\r\n obs\r\n\r\n"), 100, -400},
    {S("0\r\n:x\r\n\r\n"), 100, -400},
    {S("0\r\nX: a\x01\r\n\r\n"), 100, -400},
    {S("0\r\nX: a\n\r\n"), 100, -400},
    {S("0\r\nX: a\rb\r\n"), 100, -400},
    {S("0\r\n\n"), 100, -400},
    {S("0\r\n\rX"), 100, -400},
    {S("10000000000000000\r\n"), SIZE_MAX, -400},     /* 2^64 overflows */
    {S("b\r\n"), 10, -413},
    {S("5\r\nhello\r\n6\r\n"), 10, -413},
    {S("1\r\na\r\n1\r\n"), 1, -413},
    {S("fffffffffffffffff\r\n"), 100, -413},
};

TEST(chunked_errors_at_every_split)
{
    for (size_t i = 0; i < sizeof chunked_errors / sizeof chunked_errors[0]; i++) {
        decoded_t d;
        long bad = decode_everywhere(chunked_errors[i].in, chunked_errors[i].len,
                                     chunked_errors[i].max_body, &d);
        if (bad >= 0 || d.status != chunked_errors[i].want)
            harness_fail(__FILE__, __LINE__, "case %zu: got %zd (split %ld), want %zd", i,
                         d.status, bad, chunked_errors[i].want);
        buf_free(&d.body);
    }
}

TEST(chunked_max_body_is_inclusive)
{
    decoded_t d;
    CHECK_INT(decode_everywhere(S("5\r\nhello\r\n5\r\nworld\r\n0\r\n\r\n"), 10, &d), -1);
    CHECK_INT(d.status, 25);
    CHECK_INT(d.body.len, 10);
    buf_free(&d.body);
}

TEST(chunked_line_limits)
{
    static char in[9000];
    decoded_t d;
    /* a size line of 4096 bytes including CRLF is fine, 4097 is not */
    memset(in, 0, sizeof in);
    in[0] = '1';
    in[1] = ';';
    memset(in + 2, 'e', 4092);
    memcpy(in + 4094, "\r\nx\r\n0\r\n\r\n", 10);
    decode_pieces(in, 4104, 4104, 100, &d);
    CHECK_INT(d.status, 4104);
    CHECK_MEM(d.body.data, d.body.len, "x", 1);
    buf_free(&d.body);
    memmove(in + 3, in + 2, 4102);
    decode_pieces(in, 4105, 4105, 100, &d);
    CHECK_INT(d.status, -400);
    buf_free(&d.body);
    /* the whole trailer section is bounded too, not each line */
    size_t n = (size_t)snprintf(in, sizeof in, "0\r\n");
    while (n < 4200)
        n += (size_t)snprintf(in + n, sizeof in - n, "X-T: 0123456789\r\n");
    memcpy(in + n, "\r\n", 2);
    decode_pieces(in, n + 2, 7, 100, &d);
    CHECK_INT(d.status, -400);
    buf_free(&d.body);
}

TEST(chunked_errors_are_sticky)
{
    http_chunked_t c;
    buf_t b = BUF_INIT;
    http_chunked_init(&c);
    CHECK_INT(http_chunked_decode(&c, S("3\r\nabcX"), &b, 100), -400);
    CHECK_MEM(b.data, b.len, "abc", 3); /* payload before the error was delivered */
    CHECK_INT(http_chunked_decode(&c, S("\r\n0\r\n\r\n"), &b, 100), -400);
    CHECK_INT(c.done, 0);
    buf_free(&b);
}
