/* test_sigv4 — Signature Version 4 verification against AWS's published
 * vectors (the SigV4 test suite's requests, the IAM presigned-URL example,
 * the S3 aws-chunked PUT example), then canonicalisation edge cases,
 * dates, keys, tokens and tampering. Requests that no published vector
 * covers are signed here from a canonical request written out literally and
 * OpenSSL's HMAC, never through sigv4.c. */
#include "proto/sigv4.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "harness.h"

/* The SigV4 test suite's credentials and moment. */
#define SUITE_ID "AKIDEXAMPLE"
#define SUITE_SECRET "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
#define SUITE_DATE "20150830T123600Z"
#define SUITE_SCOPE SUITE_ID "/20150830/us-east-1/service/aws4_request"
#define SUITE_HEAD "Host:example.amazonaws.com\r\nX-Amz-Date:" SUITE_DATE "\r\n"
#define AUTH(scope, signed, sig)                                                                                   \
    "Authorization: AWS4-HMAC-SHA256 Credential=" scope ", SignedHeaders=" signed ", Signature=" sig "\r\n"
#define EMPTY_SHA256 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

static uint64_t utc_ms(int y, int mo, int d, int h, int mi, int s)
{
    struct tm tm = {.tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = d, .tm_hour = h, .tm_min = mi, .tm_sec = s};
    return (uint64_t)timegm(&tm) * 1000;
}

#define SUITE_NOW utc_ms(2015, 8, 30, 12, 36, 0)

static sigv4_t *verifier(const char *id, const char *secret, const char *token, uint32_t skew, int check)
{
    sigv4_key_def_t keys[] = {{id, secret, token}, {"AKIDOTHER", "other-secret", NULL}};
    sigv4_config_t cfg = {.keys = keys, .nkeys = 2, .clock_skew_s = skew, .check_session_token = check};
    char why[256];
    return sigv4_new(&cfg, why, sizeof why);
}

/* One request to verify: the head as text, the body as bytes. */
typedef struct call {
    char *head_text, *body;
    http_head_t head;
    sigv4_request_t rq;
    err_t err;
} call_t;

/* The header the router would require signed (X-Amz-Target for SQS JSON); NULL for most tests. */
static const char *must_sign;

static status_t run(call_t *c, sigv4_t *v, const char *head, const char *body, size_t blen, const char *service,
                    uint64_t now_ms)
{
    static const http_limits_t lim = {65536, HTTP_MAX_HEADERS, 1 << 20};
    memset(c, 0, sizeof *c);
    c->head_text = strdup(head);
    if (http_parse_head(c->head_text, strlen(c->head_text), &lim, &c->head) <= 0)
        return (status_t)-1;
    c->body = malloc(blen + 1);
    memcpy(c->body, body, blen);
    c->body[blen] = 0;
    c->rq = (sigv4_request_t){.head = &c->head, .body = c->body, .body_len = blen, .service = service,
                              .must_sign = must_sign, .now_ms = now_ms};
    return sigv4_verify(v, &c->rq, &c->err);
}

static void call_free(call_t *c)
{
    free(c->head_text);
    free(c->body);
}

/* Verifies head (+ body) with the suite's key at the suite's moment; the
 * error message of a failure is kept in last_err for the failing check. */
static char last_err[1024];

static status_t check_at(const char *head, const char *body, const char *service, uint64_t now_ms, sigv4_t *v)
{
    call_t c;
    status_t st = run(&c, v, head, body ? body : "", body ? strlen(body) : 0, service, now_ms);
    snprintf(last_err, sizeof last_err, "%s", st == ST_OK ? "" : c.err.msg);
    call_free(&c);
    return st;
}

static status_t suite(const char *head, const char *body)
{
    sigv4_t *v = verifier(SUITE_ID, SUITE_SECRET, NULL, 900, 0);
    status_t st = check_at(head, body, "service", SUITE_NOW, v);
    sigv4_free(v);
    return st;
}

#define CHECK_ST(expr, want)                                                                                       \
    do {                                                                                                           \
        status_t st_ = (expr);                                                                                     \
        if (st_ != (want)) {                                                                                       \
            harness_fail(__FILE__, __LINE__, "%s: %s, want %s (%s)", #expr, status_name(st_), status_name(want), \
                         last_err);                                                                                \
            return;                                                                                                \
        }                                                                                                          \
    } while (0)

/* ---- a signer independent of sigv4.c: OpenSSL and a literal canonical request ---------------------------- */

static void hex(const unsigned char *p, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++)
        sprintf(out + 2 * i, "%02x", p[i]);
}

static void t_sign(const char *secret, const char *scope, const char *amz_date, const char *creq, char out[65])
{
    char k0[256], date[9], region[64], service[64], sts[512], h[65];
    unsigned char k[32], dig[32];
    unsigned int n = 32;
    sscanf(scope, "%*[^/]/%8[^/]/%63[^/]/%63[^/]", date, region, service);
    snprintf(k0, sizeof k0, "AWS4%s", secret);
    HMAC(EVP_sha256(), k0, (int)strlen(k0), (const unsigned char *)date, strlen(date), k, &n);
    HMAC(EVP_sha256(), k, 32, (const unsigned char *)region, strlen(region), k, &n);
    HMAC(EVP_sha256(), k, 32, (const unsigned char *)service, strlen(service), k, &n);
    HMAC(EVP_sha256(), k, 32, (const unsigned char *)"aws4_request", 12, k, &n);
    EVP_Digest(creq, strlen(creq), dig, NULL, EVP_sha256(), NULL);
    hex(dig, 32, h);
    const char *slash = strchr(scope, '/');
    snprintf(sts, sizeof sts, "AWS4-HMAC-SHA256\n%s\n%s\n%s", amz_date, slash + 1, h);
    HMAC(EVP_sha256(), k, 32, (const unsigned char *)sts, strlen(sts), dig, &n);
    hex(dig, 32, out);
}

/* head_lines + an Authorization header signing creq with the suite's key. */
static char *signed_head(const char *head_lines, const char *signed_headers, const char *creq)
{
    char sig[65], *out = malloc(strlen(head_lines) + 1024);
    t_sign(SUITE_SECRET, SUITE_SCOPE, SUITE_DATE, creq, sig);
    sprintf(out, "%s" AUTH(SUITE_SCOPE, "%s", "%s") "\r\n", head_lines, signed_headers, sig);
    return out;
}

static status_t suite_signed(const char *head_lines, const char *signed_headers, const char *creq, const char *body)
{
    char *head = signed_head(head_lines, signed_headers, creq);
    status_t st = suite(head, body);
    free(head);
    return st;
}

/* ---- AWS's published vectors ------------------------------------------------------------------------------- */

#define VANILLA_SIG "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"
#define VANILLA "GET / HTTP/1.1\r\n" SUITE_HEAD AUTH(SUITE_SCOPE, "host;x-amz-date", VANILLA_SIG)

TEST(suite_get_vanilla)
{
    CHECK_ST(suite(VANILLA "\r\n", NULL), ST_OK);
}

TEST(suite_get_vanilla_query_order_key_case)
{
    CHECK_ST(suite("GET /?Param2=value2&Param1=value1 HTTP/1.1\r\n" SUITE_HEAD
                   AUTH(SUITE_SCOPE, "host;x-amz-date",
                        "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500") "\r\n", NULL),
             ST_OK);
}

TEST(suite_get_vanilla_empty_query_key)
{
    CHECK_ST(suite("GET /?Param1=value1 HTTP/1.1\r\n" SUITE_HEAD
                   AUTH(SUITE_SCOPE, "host;x-amz-date",
                        "a67d582fa61cc504c4bae71f336f98b97f1ea3c7a6bfe1b6e45aec72011b9aeb") "\r\n", NULL),
             ST_OK);
}

#define UNRESERVED "-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

TEST(suite_get_vanilla_query_unreserved)
{
    CHECK_ST(suite("GET /?" UNRESERVED "=" UNRESERVED " HTTP/1.1\r\n" SUITE_HEAD
                   AUTH(SUITE_SCOPE, "host;x-amz-date",
                        "9c3e54bfcdf0b19771a7f523ee5669cdf59bc7cc0884027167c21bb143a40197") "\r\n", NULL),
             ST_OK);
}

TEST(suite_get_header_value_trim)
{
    CHECK_ST(suite("GET / HTTP/1.1\r\n" SUITE_HEAD "My-Header1: value1\r\nMy-Header2: \"a   b   c\"\r\n"
                   AUTH(SUITE_SCOPE, "host;my-header1;my-header2;x-amz-date",
                        "acc3ed3afb60bb290fc8d2dd0098b9911fcaa05412b367055dee359757a9c736") "\r\n", NULL),
             ST_OK);
}

TEST(suite_post_header_key_sort)
{
    CHECK_ST(suite("POST / HTTP/1.1\r\n" SUITE_HEAD "My-Header1:value1\r\n"
                   AUTH(SUITE_SCOPE, "host;my-header1;x-amz-date",
                        "c5410059b04c1ee005303aed430f6e6645f61f4dc9e1461ec8f8916fdf18852c") "\r\n", NULL),
             ST_OK);
}

#define FORM_POST                                                                                               \
    "POST / HTTP/1.1\r\nContent-Type:application/x-www-form-urlencoded\r\n" SUITE_HEAD "Content-Length: 13\r\n" \
    AUTH(SUITE_SCOPE, "content-type;host;x-amz-date", "ff11897932ad3f4e8b18135d722051e5ac45fc38421b1da7b9d196a0fe09473a") "\r\n"

TEST(suite_post_x_www_form_urlencoded)
{
    CHECK_ST(suite(FORM_POST, "Param1=value1"), ST_OK);
}

/* get-utf8 sends the path as raw UTF-8, which Sluice's HTTP parser refuses;
 * the verifier is given the head with that target put back. */
TEST(suite_get_utf8)
{
    call_t c;
    sigv4_t *v = verifier(SUITE_ID, SUITE_SECRET, NULL, 900, 0);
    static const http_limits_t lim = {65536, HTTP_MAX_HEADERS, 1 << 20};
    char text[] = "GET /x HTTP/1.1\r\n" SUITE_HEAD
                  AUTH(SUITE_SCOPE, "host;x-amz-date", "8318018e0b0f223aa2bbf98705b62bb787dc9c0e678f255a891fd03141be5d85") "\r\n";
    memset(&c, 0, sizeof c);
    CHECK(http_parse_head(text, strlen(text), &lim, &c.head) > 0);
    c.head.target = "/\xe1\x88\xb4";
    c.head.target_len = 4;
    char body[1] = "";
    c.rq = (sigv4_request_t){.head = &c.head, .body = body, .service = "service", .now_ms = SUITE_NOW};
    status_t st = sigv4_verify(v, &c.rq, &c.err);
    sigv4_free(v);
    CHECK_ST(st, ST_OK);
}

/* AWS's presigned-URL example (IAM ListUsers, X-Amz-Expires=60). */
#define PRESIGNED_QUERY                                                                                          \
    "Action=ListUsers&Version=2010-05-08&X-Amz-Algorithm=AWS4-HMAC-SHA256"                                        \
    "&X-Amz-Credential=AKIDEXAMPLE%2F20150830%2Fus-east-1%2Fiam%2Faws4_request&X-Amz-Date=20150830T123600Z"      \
    "&X-Amz-Expires=60&X-Amz-SignedHeaders=content-type%3Bhost"
#define PRESIGNED_SIG "&X-Amz-Signature=37ac2f4fde00b0ac9bd9eadeb459b1bbee224158d66e7ae5fcadb70b2d181d02"
#define PRESIGNED_HEADERS                                                                                         \
    " HTTP/1.1\r\nHost: iam.amazonaws.com\r\nContent-Type: application/x-www-form-urlencoded; charset=utf-8\r\n\r\n"

static status_t presigned(const char *target, uint64_t now_ms)
{
    char head[2048];
    snprintf(head, sizeof head, "GET %s%s", target, PRESIGNED_HEADERS);
    sigv4_t *v = verifier(SUITE_ID, SUITE_SECRET, NULL, 900, 0);
    status_t st = check_at(head, NULL, "iam", now_ms, v);
    sigv4_free(v);
    return st;
}

TEST(presigned_url_example)
{
    CHECK_ST(presigned("/?" PRESIGNED_QUERY PRESIGNED_SIG, SUITE_NOW + 30000), ST_OK);
    /* the signature may stand anywhere in the query */
    CHECK_ST(presigned("/?X-Amz-Signature=37ac2f4fde00b0ac9bd9eadeb459b1bbee224158d66e7ae5fcadb70b2d181d02&"
                       PRESIGNED_QUERY, SUITE_NOW + 30000), ST_OK);
}

TEST(presigned_url_expires_and_tampering)
{
    CHECK_ST(presigned("/?" PRESIGNED_QUERY PRESIGNED_SIG, SUITE_NOW + 61000), ST_REQUEST_EXPIRED);
    CHECK(strstr(last_err, "Request has expired") != NULL);
    CHECK_ST(presigned("/?" PRESIGNED_QUERY "&Action=ListGroups" PRESIGNED_SIG, SUITE_NOW), ST_INCOMPLETE_SIGNATURE);
    CHECK_ST(presigned("/?" PRESIGNED_QUERY "&Marker=1" PRESIGNED_SIG, SUITE_NOW), ST_SIGNATURE_MISMATCH);
    CHECK_ST(presigned("/?" PRESIGNED_QUERY "&Extra=1" PRESIGNED_SIG, SUITE_NOW), ST_SIGNATURE_MISMATCH);
    CHECK_ST(presigned("/?" PRESIGNED_QUERY, SUITE_NOW), ST_INCOMPLETE_SIGNATURE);
    CHECK(strstr(last_err, "'X-Amz-Signature'") != NULL);
    /* X-Amz-Expires is 1..604800 */
    CHECK_ST(presigned("/?Action=ListUsers&X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIDEXAMPLE%2F20150830"
                       "%2Fus-east-1%2Fiam%2Faws4_request&X-Amz-Date=20150830T123600Z&X-Amz-Expires=604801"
                       "&X-Amz-SignedHeaders=host" PRESIGNED_SIG, SUITE_NOW),
             ST_INCOMPLETE_SIGNATURE);
}

/* ---- aws-chunked: AWS's S3 PUT example (65 KiB of 'a' in 64 KiB chunks) --------------------------------- */

#define S3_ID "AKIAIOSFODNN7EXAMPLE"
#define S3_SECRET "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
#define CHUNK_HEAD                                                                                                 \
    "PUT /examplebucket/chunkObject.txt HTTP/1.1\r\nHost: s3.amazonaws.com\r\nx-amz-date: 20130524T000000Z\r\n"    \
    "x-amz-storage-class: REDUCED_REDUNDANCY\r\nAuthorization: AWS4-HMAC-SHA256 "                                 \
    "Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,SignedHeaders=content-encoding;"          \
    "content-length;host;x-amz-content-sha256;x-amz-date;x-amz-decoded-content-length;x-amz-storage-class,"      \
    "Signature=4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9\r\n"                             \
    "x-amz-content-sha256: STREAMING-AWS4-HMAC-SHA256-PAYLOAD\r\nContent-Encoding: aws-chunked\r\n"              \
    "x-amz-decoded-content-length: 66560\r\nContent-Length: 66824\r\n\r\n"
#define CHUNK1_SIG "ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648"
#define CHUNK2_SIG "0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497"
#define CHUNK3_SIG "b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9"

/* The example's body; *n its length (66824). */
static char *chunk_body(size_t *n)
{
    char *b = malloc(70000), *p = b;
    p += sprintf(p, "10000;chunk-signature=" CHUNK1_SIG "\r\n");
    memset(p, 'a', 65536), p += 65536;
    p += sprintf(p, "\r\n400;chunk-signature=" CHUNK2_SIG "\r\n");
    memset(p, 'a', 1024), p += 1024;
    p += sprintf(p, "\r\n0;chunk-signature=" CHUNK3_SIG "\r\n\r\n");
    *n = (size_t)(p - b);
    return b;
}

static status_t chunked(const char *head, char *body, size_t n, call_t *c)
{
    sigv4_t *v = verifier(S3_ID, S3_SECRET, NULL, 900, 0);
    status_t st = run(c, v, head, body, n, "s3", utc_ms(2013, 5, 24, 0, 0, 0));
    snprintf(last_err, sizeof last_err, "%s", st == ST_OK ? "" : c->err.msg);
    sigv4_free(v);
    return st;
}

TEST(chunked_upload_example_verifies_and_decodes)
{
    size_t n;
    char *body = chunk_body(&n);
    call_t c;
    CHECK_INT(n, 66824);
    status_t st = chunked(CHUNK_HEAD, body, n, &c);
    int all_a = c.rq.body_len == 66560 && c.body[66560] == 0;
    for (size_t i = 0; all_a && i < 66560; i++)
        all_a = c.body[i] == 'a';
    call_free(&c);
    free(body);
    CHECK_ST(st, ST_OK);
    CHECK(all_a);
}

TEST(chunked_upload_tampered)
{
    size_t n;
    char *body = chunk_body(&n);
    call_t c;
    body[88 + 65536 + 2 + 86 + 10] = 'b'; /* a byte of the second chunk's data */
    CHECK_ST(chunked(CHUNK_HEAD, body, n, &c), ST_SIGNATURE_MISMATCH);
    CHECK(strstr(last_err, "chunk 1") != NULL);
    call_free(&c);
    free(body);

    body = chunk_body(&n);
    memcpy(body + 22, CHUNK2_SIG, 64); /* the first chunk signed as the second */
    CHECK_ST(chunked(CHUNK_HEAD, body, n, &c), ST_SIGNATURE_MISMATCH);
    call_free(&c);
    free(body);

    body = chunk_body(&n);
    CHECK_ST(chunked(CHUNK_HEAD, body, n - 86, &c), ST_INCOMPLETE_SIGNATURE); /* no final chunk */
    CHECK(strstr(last_err, "malformed at byte 66738") != NULL);
    call_free(&c);
    free(body);
    body = chunk_body(&n);
    CHECK_ST(chunked(CHUNK_HEAD, body, n - 1, &c), ST_INCOMPLETE_SIGNATURE); /* final CRLF cut */
    call_free(&c);
    free(body);

    body = chunk_body(&n);
    char head[sizeof CHUNK_HEAD];
    snprintf(head, sizeof head, "%s", CHUNK_HEAD);
    memcpy(strstr(head, "Signature=4f") + 10, "5", 1); /* the seed */
    CHECK_ST(chunked(head, body, n, &c), ST_SIGNATURE_MISMATCH);
    call_free(&c);
    free(body);
}

/* ---- canonicalisation ------------------------------------------------------------------------------------ */

TEST(path_is_normalised_and_encoded_once_more)
{
    /* dot segments and empty segments go; bytes already %-encoded on the
     * wire are encoded again (every SDK does this for non-S3 services) */
    CHECK_ST(suite_signed("GET /a/./b/../c//d%3Ae/ HTTP/1.1\r\n" SUITE_HEAD, "host;x-amz-date",
                          "GET\n/a/c/d%253Ae/\n\nhost:example.amazonaws.com\nx-amz-date:" SUITE_DATE
                          "\n\nhost;x-amz-date\n" EMPTY_SHA256, NULL),
             ST_OK);
    CHECK_ST(suite_signed("GET /../.. HTTP/1.1\r\n" SUITE_HEAD, "host;x-amz-date",
                          "GET\n/\n\nhost:example.amazonaws.com\nx-amz-date:" SUITE_DATE "\n\nhost;x-amz-date\n"
                          EMPTY_SHA256, NULL),
             ST_OK);
    CHECK_ST(suite_signed("GET /2015-03-31/functions/arn%3Aaws%3Alambda%3Aus-east-1%3A0%3Afunction%3Af/invocations "
                          "HTTP/1.1\r\n" SUITE_HEAD, "host;x-amz-date",
                          "GET\n/2015-03-31/functions/arn%253Aaws%253Alambda%253Aus-east-1%253A0%253Afunction%253Af/"
                          "invocations\n\nhost:example.amazonaws.com\nx-amz-date:" SUITE_DATE "\n\nhost;x-amz-date\n"
                          EMPTY_SHA256, NULL),
             ST_OK);
}

TEST(query_is_decoded_reencoded_and_sorted)
{
    /* %2a → %2A, a space sent as %20 stays %20, a raw '+' is a space (%20)
     * as the front-end reads it, a name without '=' has an empty value */
    CHECK_ST(suite_signed("GET /?b=%2a&a=x%20y&c=1+2&flag&a.2=a&&z= HTTP/1.1\r\n" SUITE_HEAD, "host;x-amz-date",
                          "GET\n/\na=x%20y&a.2=a&b=%2A&c=1%202&flag=&z=\nhost:example.amazonaws.com\nx-amz-date:"
                          SUITE_DATE "\n\nhost;x-amz-date\n" EMPTY_SHA256, NULL),
             ST_OK);
}

/* Sorted by value, Action=A&Action=B and Action=B&Action=A would sign alike
 * while the front-end reads the first: a repeated name is refused, however
 * it is spelt. */
TEST(repeated_query_parameter_is_refused)
{
#define REPEAT_CREQ                                                                                               \
    "GET\n/\nAction=A&Action=B\nhost:example.amazonaws.com\nx-amz-date:" SUITE_DATE "\n\nhost;x-amz-date\n"      \
    EMPTY_SHA256
    CHECK_ST(suite_signed("GET /?Action=A&Action=B HTTP/1.1\r\n" SUITE_HEAD, "host;x-amz-date", REPEAT_CREQ, NULL),
             ST_INCOMPLETE_SIGNATURE);
    CHECK(strstr(last_err, "'Action' is repeated") != NULL);
    CHECK_ST(suite_signed("GET /?Action=B&%41ction=A HTTP/1.1\r\n" SUITE_HEAD, "host;x-amz-date", REPEAT_CREQ,
                          NULL),
             ST_INCOMPLETE_SIGNATURE);
    CHECK_ST(suite_signed("GET /?Action=A&Action=A HTTP/1.1\r\n" SUITE_HEAD, "host;x-amz-date",
                          "GET\n/\nAction=A&Action=A\nhost:example.amazonaws.com\nx-amz-date:" SUITE_DATE
                          "\n\nhost;x-amz-date\n" EMPTY_SHA256, NULL),
             ST_INCOMPLETE_SIGNATURE);
    /* numbered list members are distinct names */
    CHECK_ST(suite_signed("GET /?AttributeName.2=B&AttributeName.1=A HTTP/1.1\r\n" SUITE_HEAD, "host;x-amz-date",
                          "GET\n/\nAttributeName.1=A&AttributeName.2=B\nhost:example.amazonaws.com\nx-amz-date:"
                          SUITE_DATE "\n\nhost;x-amz-date\n" EMPTY_SHA256, NULL),
             ST_OK);
#undef REPEAT_CREQ
}

/* form_parse reads x=a+b as "a b" and x=a%2Bb as "a+b": they must not share
 * a signature, while x=a+b and x=a%20b (both "a b") do. */
TEST(query_plus_signs_what_the_front_end_reads)
{
#define PLUS_CREQ(v)                                                                                              \
    "GET\n/\nx=" v "\nhost:example.amazonaws.com\nx-amz-date:" SUITE_DATE "\n\nhost;x-amz-date\n" EMPTY_SHA256
    CHECK_ST(suite_signed("GET /?x=a%2Bb HTTP/1.1\r\n" SUITE_HEAD, "host;x-amz-date", PLUS_CREQ("a%2Bb"), NULL),
             ST_OK);
    CHECK_ST(suite_signed("GET /?x=a+b HTTP/1.1\r\n" SUITE_HEAD, "host;x-amz-date", PLUS_CREQ("a%2Bb"), NULL),
             ST_SIGNATURE_MISMATCH);
    CHECK_ST(suite_signed("GET /?x=a+b HTTP/1.1\r\n" SUITE_HEAD, "host;x-amz-date", PLUS_CREQ("a%20b"), NULL),
             ST_OK);
    CHECK_ST(suite_signed("GET /?x=a%20b HTTP/1.1\r\n" SUITE_HEAD, "host;x-amz-date", PLUS_CREQ("a%20b"), NULL),
             ST_OK);
#undef PLUS_CREQ
}

TEST(repeated_headers_join_and_tabs_collapse)
{
    CHECK_ST(suite_signed("GET / HTTP/1.1\r\n" SUITE_HEAD "X-B: one\r\nx-b:  two\t\tthree \r\nX-A: Z\r\n",
                          "host;x-a;x-amz-date;x-b",
                          "GET\n/\n\nhost:example.amazonaws.com\nx-a:Z\nx-amz-date:" SUITE_DATE
                          "\nx-b:one,two three\n\nhost;x-a;x-amz-date;x-b\n" EMPTY_SHA256, NULL),
             ST_OK);
}

/* ---- tampering ------------------------------------------------------------------------------------------- */

TEST(unsigned_header_may_change_signed_one_may_not)
{
    CHECK_ST(suite(VANILLA "X-Not-Signed: anything\r\n\r\n", NULL), ST_OK);
    CHECK_ST(suite("GET / HTTP/1.1\r\n" SUITE_HEAD "My-Header1: value1\r\nMy-Header2: \"a   b   c\"\r\n"
                   "X-Not-Signed: x\r\n" AUTH(SUITE_SCOPE, "host;my-header1;my-header2;x-amz-date",
                        "acc3ed3afb60bb290fc8d2dd0098b9911fcaa05412b367055dee359757a9c736") "\r\n", NULL),
             ST_OK);
    CHECK_ST(suite("GET / HTTP/1.1\r\n" SUITE_HEAD "My-Header1: value2\r\nMy-Header2: \"a   b   c\"\r\n"
                   AUTH(SUITE_SCOPE, "host;my-header1;my-header2;x-amz-date",
                        "acc3ed3afb60bb290fc8d2dd0098b9911fcaa05412b367055dee359757a9c736") "\r\n", NULL),
             ST_SIGNATURE_MISMATCH);
    CHECK(strstr(last_err, "The request signature we calculated does not match") != NULL);
    /* a second value of a signed header is part of what was signed */
    CHECK_ST(suite(VANILLA "Host: evil.example\r\n\r\n", NULL), ST_SIGNATURE_MISMATCH);
}

TEST(tampered_method_path_query_body)
{
    CHECK_ST(suite("POST / HTTP/1.1\r\n" SUITE_HEAD AUTH(SUITE_SCOPE, "host;x-amz-date", VANILLA_SIG) "\r\n", NULL),
             ST_SIGNATURE_MISMATCH);
    CHECK_ST(suite("GET /other HTTP/1.1\r\n" SUITE_HEAD AUTH(SUITE_SCOPE, "host;x-amz-date", VANILLA_SIG) "\r\n",
                   NULL),
             ST_SIGNATURE_MISMATCH);
    CHECK_ST(suite("GET /?Param2=value2&Param1=value2 HTTP/1.1\r\n" SUITE_HEAD
                   AUTH(SUITE_SCOPE, "host;x-amz-date",
                        "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500") "\r\n", NULL),
             ST_SIGNATURE_MISMATCH);
    CHECK_ST(suite(FORM_POST, "Param1=value2"), ST_SIGNATURE_MISMATCH);
    CHECK_ST(suite("GET / HTTP/1.1\r\n" SUITE_HEAD
                   AUTH(SUITE_SCOPE, "host;x-amz-date", "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf3") "\r\n",
                   NULL),
             ST_SIGNATURE_MISMATCH); /* 63 hex digits */
}

/* The router routes SQS JSON by X-Amz-Target: left out of SignedHeaders, it
 * could be added to a request signed for another action. */
TEST(routing_header_must_be_signed)
{
    const char *lines = "POST / HTTP/1.1\r\n" SUITE_HEAD "X-Amz-Target: AmazonSQS.ListQueues\r\n";
    const char *bare = "POST\n/\n\nhost:example.amazonaws.com\nx-amz-date:" SUITE_DATE "\n\nhost;x-amz-date\n"
                       EMPTY_SHA256;
    const char *with_target = "POST\n/\n\nhost:example.amazonaws.com\nx-amz-date:" SUITE_DATE
                              "\nx-amz-target:AmazonSQS.ListQueues\n\nhost;x-amz-date;x-amz-target\n" EMPTY_SHA256;
    CHECK_ST(suite_signed(lines, "host;x-amz-date", bare, NULL), ST_OK); /* nothing routes by it here */
    must_sign = "x-amz-target";
    status_t unsigned_target = suite_signed(lines, "host;x-amz-date", bare, NULL);
    char why[1024];
    snprintf(why, sizeof why, "%s", last_err);
    status_t signed_target = suite_signed(lines, "host;x-amz-date;X-Amz-Target", with_target, NULL);
    status_t presigned_url = presigned("/?" PRESIGNED_QUERY PRESIGNED_SIG, SUITE_NOW);
    status_t ok = suite_signed(lines, "host;x-amz-date;x-amz-target", with_target, NULL);
    must_sign = NULL;
    CHECK_ST(unsigned_target, ST_INCOMPLETE_SIGNATURE);
    CHECK(strstr(why, "'x-amz-target' must be a signed header") != NULL);
    CHECK_ST(signed_target, ST_SIGNATURE_MISMATCH); /* listed in any case; the list itself is signed as sent */
    CHECK_ST(presigned_url, ST_INCOMPLETE_SIGNATURE);
    CHECK_ST(ok, ST_OK);
}

/* ---- dates ----------------------------------------------------------------------------------------------- */

static status_t vanilla_at(uint64_t now_ms, uint32_t skew)
{
    sigv4_t *v = verifier(SUITE_ID, SUITE_SECRET, NULL, skew, 0);
    status_t st = check_at(VANILLA "\r\n", NULL, "service", now_ms, v);
    sigv4_free(v);
    return st;
}

TEST(clock_skew_window)
{
    uint64_t min = 60000;
    CHECK_ST(vanilla_at(SUITE_NOW + 14 * min, 900), ST_OK);
    CHECK_ST(vanilla_at(SUITE_NOW - 14 * min, 900), ST_OK);
    CHECK_ST(vanilla_at(SUITE_NOW + 15 * min, 900), ST_OK);
    CHECK_ST(vanilla_at(SUITE_NOW + 15 * min + 1000, 900), ST_REQUEST_EXPIRED);
    CHECK_STR(last_err, "Signature expired: 20150830T123600Z is now earlier than 20150830T123601Z "
                        "(20150830T125101Z - 15 min.)");
    CHECK_ST(vanilla_at(SUITE_NOW - 20 * min, 900), ST_REQUEST_EXPIRED);
    CHECK(strstr(last_err, "Signature not yet current: 20150830T123600Z is still later than") != NULL);
    CHECK_ST(vanilla_at(SUITE_NOW + 61000, 60), ST_REQUEST_EXPIRED);
    CHECK(strstr(last_err, "- 60 s.") == NULL && strstr(last_err, "- 1 min.") != NULL);
}

TEST(malformed_or_mismatched_dates)
{
    CHECK_ST(suite("GET / HTTP/1.1\r\nHost:example.amazonaws.com\r\nX-Amz-Date:2015-08-30T12:36:00Z\r\n"
                   AUTH(SUITE_SCOPE, "host;x-amz-date", VANILLA_SIG) "\r\n", NULL),
             ST_INCOMPLETE_SIGNATURE);
    CHECK(strstr(last_err, "ISO-8601") != NULL);
    CHECK_ST(suite("GET / HTTP/1.1\r\nHost:example.amazonaws.com\r\n" AUTH(SUITE_SCOPE, "host;x-amz-date",
                   VANILLA_SIG) "\r\n", NULL),
             ST_INCOMPLETE_SIGNATURE);
    CHECK(strstr(last_err, "X-Amz-Date") != NULL);
    CHECK_ST(suite("GET / HTTP/1.1\r\n" SUITE_HEAD AUTH("AKIDEXAMPLE/20150831/us-east-1/service/aws4_request",
                   "host;x-amz-date", VANILLA_SIG) "\r\n", NULL),
             ST_SIGNATURE_MISMATCH);
    CHECK(strstr(last_err, "Date in Credential scope does not match") != NULL);
}

/* ---- parts, keys, scope, tokens ------------------------------------------------------------------------- */

TEST(missing_and_incomplete_signatures)
{
    CHECK_ST(suite("GET / HTTP/1.1\r\n" SUITE_HEAD "\r\n", NULL), ST_MISSING_AUTH);
    CHECK_ST(suite("GET / HTTP/1.1\r\n" SUITE_HEAD "Authorization: AWS4-HMAC-SHA256 Credential=" SUITE_SCOPE
                   ", Signature=" VANILLA_SIG "\r\n\r\n", NULL),
             ST_INCOMPLETE_SIGNATURE);
    CHECK_STR(last_err, "Authorization header requires 'SignedHeaders' parameter.");
    CHECK_ST(suite("GET / HTTP/1.1\r\n" SUITE_HEAD "Authorization: AWS4-HMAC-SHA256 SignedHeaders=host\r\n\r\n",
                   NULL),
             ST_INCOMPLETE_SIGNATURE);
    CHECK(strstr(last_err, "'Credential'") && strstr(last_err, "'Signature'"));
    CHECK_ST(suite("GET / HTTP/1.1\r\n" SUITE_HEAD "Authorization: AWS AKIDEXAMPLE:c2lnbmF0dXJl\r\n\r\n", NULL),
             ST_INCOMPLETE_SIGNATURE);
    CHECK_ST(suite("GET / HTTP/1.1\r\n" SUITE_HEAD AUTH("AKIDEXAMPLE/20150830/us-east-1/aws4_request",
                   "host;x-amz-date", VANILLA_SIG) "\r\n", NULL),
             ST_INCOMPLETE_SIGNATURE);
    CHECK(strstr(last_err, "exactly 5 slash-delimited elements") != NULL);
    CHECK_ST(suite("GET / HTTP/1.1\r\n" SUITE_HEAD AUTH(SUITE_SCOPE, "x-amz-date", VANILLA_SIG) "\r\n", NULL),
             ST_INCOMPLETE_SIGNATURE);
    CHECK(strstr(last_err, "'Host' must be a signed header") != NULL);
    CHECK_ST(suite("GET /?X-Amz-Algorithm=AWS4-HMAC-SHA256 HTTP/1.1\r\n" SUITE_HEAD
                   AUTH(SUITE_SCOPE, "host;x-amz-date", VANILLA_SIG) "\r\n", NULL),
             ST_INCOMPLETE_SIGNATURE);
    CHECK(strstr(last_err, "Only one auth mechanism allowed") != NULL);
}

TEST(presence)
{
    static const http_limits_t lim = {65536, HTTP_MAX_HEADERS, 1 << 20};
    http_head_t h;
    char a[] = "GET /?Action=ListQueues HTTP/1.1\r\nHost: x\r\n\r\n";
    char b[] = "GET /?x-amz-credential=1&X-Amz-Credential=AK HTTP/1.1\r\nHost: x\r\n\r\n";
    char c[] = "GET / HTTP/1.1\r\nHost: x\r\nauthorization: Bearer t\r\n\r\n";
    CHECK(http_parse_head(a, strlen(a), &lim, &h) > 0 && !sigv4_present(&h));
    CHECK(http_parse_head(b, strlen(b), &lim, &h) > 0 && sigv4_present(&h));
    CHECK(http_parse_head(c, strlen(c), &lim, &h) > 0 && sigv4_present(&h));
}

/* The router routes by the scope before verifying: it must read the
 * Credential part the verifier reads, not one inside another part's name. */
TEST(scope_is_read_as_the_verifier_reads_it)
{
    static const http_limits_t lim = {65536, HTTP_MAX_HEADERS, 1 << 20};
    http_head_t h;
    char key[SIGV4_KEY_ID_MAX + 1], service[64];
    char a[] = "POST / HTTP/1.1\r\nHost: x\r\nX-Amz-Date: " SUITE_DATE "\r\nAuthorization: AWS4-HMAC-SHA256 "
               "XCredential=EVIL/20150830/us-east-1/sns/aws4_request, Credential=AKIDEXAMPLE/20150830/us-east-1/sqs/"
               "aws4_request, SignedHeaders=host, Signature=" VANILLA_SIG "\r\n\r\n";
    char b[] = "POST / HTTP/1.1\r\nHost: x\r\nX-Amz-Date: " SUITE_DATE "\r\nAuthorization: AWS4-HMAC-SHA256 "
               "XCredential=EVIL/20150830/us-east-1/sns/aws4_request, SignedHeaders=host, Signature=" VANILLA_SIG
               "\r\n\r\n";
    char c[] = "GET /?" PRESIGNED_QUERY PRESIGNED_SIG " HTTP/1.1\r\nHost: x\r\n\r\n";
    CHECK(http_parse_head(a, strlen(a), &lim, &h) > 0);
    sigv4_scope(&h, key, sizeof key, service, sizeof service);
    CHECK_STR(key, "AKIDEXAMPLE");
    CHECK_STR(service, "sqs");
    CHECK(http_parse_head(b, strlen(b), &lim, &h) > 0);
    sigv4_scope(&h, key, sizeof key, service, sizeof service);
    CHECK_STR(service, "");
    CHECK(http_parse_head(c, strlen(c), &lim, &h) > 0);
    sigv4_scope(&h, key, sizeof key, service, sizeof service);
    CHECK_STR(key, "AKIDEXAMPLE");
    CHECK_STR(service, "iam");
}

TEST(unknown_key_and_wrong_service)
{
    CHECK_ST(suite("GET / HTTP/1.1\r\n" SUITE_HEAD AUTH("AKIDNOBODY/20150830/us-east-1/service/aws4_request",
                   "host;x-amz-date", VANILLA_SIG) "\r\n", NULL),
             ST_INVALID_CLIENT_TOKEN);
    CHECK_STR(last_err, "The X.509 certificate or AWS access key ID provided does not exist in our records.");
    sigv4_t *v = verifier(SUITE_ID, SUITE_SECRET, NULL, 900, 0);
    status_t st = check_at(VANILLA "\r\n", NULL, "sqs", SUITE_NOW, v);
    sigv4_free(v);
    CHECK_ST(st, ST_SIGNATURE_MISMATCH);
    CHECK_STR(last_err, "Credential should be scoped to correct service: 'sqs'.");
    /* the right secret under another key id does not match */
    v = verifier("AKIDEXAMPLE", "not-the-secret", NULL, 900, 0);
    st = check_at(VANILLA "\r\n", NULL, "service", SUITE_NOW, v);
    sigv4_free(v);
    CHECK_ST(st, ST_SIGNATURE_MISMATCH);
}

static status_t with_token(const char *token_header, const char *key_token, int check)
{
    char lines[512];
    snprintf(lines, sizeof lines, "GET / HTTP/1.1\r\n" SUITE_HEAD "X-Amz-Security-Token: %s\r\n", token_header);
    char creq[512];
    snprintf(creq, sizeof creq, "GET\n/\n\nhost:example.amazonaws.com\nx-amz-date:" SUITE_DATE
             "\nx-amz-security-token:%s\n\nhost;x-amz-date;x-amz-security-token\n" EMPTY_SHA256, token_header);
    char *head = signed_head(lines, "host;x-amz-date;x-amz-security-token", creq);
    sigv4_t *v = verifier(SUITE_ID, SUITE_SECRET, key_token, 900, check);
    status_t st = check_at(head, NULL, "service", SUITE_NOW, v);
    sigv4_free(v);
    free(head);
    return st;
}

TEST(session_token_policy)
{
    CHECK_ST(with_token("tok-1", "tok-1", 1), ST_OK);
    CHECK_ST(with_token("tok-2", "tok-1", 1), ST_INVALID_CLIENT_TOKEN);
    CHECK_STR(last_err, "The security token included in the request is invalid.");
    CHECK_ST(with_token("tok-1", NULL, 1), ST_INVALID_CLIENT_TOKEN); /* the key has none */
    CHECK_ST(with_token("tok-2", "tok-1", 0), ST_OK);                /* ignore */
    sigv4_t *v = verifier(SUITE_ID, SUITE_SECRET, "tok-1", 900, 1);
    CHECK_ST(check_at(VANILLA "\r\n", NULL, "service", SUITE_NOW, v), ST_INVALID_CLIENT_TOKEN); /* none sent */
    sigv4_free(v);
}

/* ---- payload hash ---------------------------------------------------------------------------------------- */

#define POST_CREQ(payload)                                                                                     \
    "POST\n/\n\nhost:example.amazonaws.com\nx-amz-content-sha256:" payload "\nx-amz-date:" SUITE_DATE          \
    "\n\nhost;x-amz-content-sha256;x-amz-date\n" payload

TEST(content_sha256_header)
{
    const char *sha_hello = "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"; /* "hello" */
    char lines[512], creq[512];
    /* S3's unsigned payload would leave a query-protocol body (its Action) unsigned */
    CHECK_ST(suite_signed("POST / HTTP/1.1\r\n" SUITE_HEAD "x-amz-content-sha256: UNSIGNED-PAYLOAD\r\n"
                          "Content-Length: 5\r\n", "host;x-amz-content-sha256;x-amz-date",
                          POST_CREQ("UNSIGNED-PAYLOAD"), "howdy"),
             ST_INCOMPLETE_SIGNATURE);
    CHECK(strstr(last_err, "UNSIGNED-PAYLOAD is only for S3") != NULL);
    snprintf(lines, sizeof lines, "POST / HTTP/1.1\r\n" SUITE_HEAD "x-amz-content-sha256: %s\r\nContent-Length: 5\r\n",
             sha_hello);
    snprintf(creq, sizeof creq, POST_CREQ("%s"), sha_hello, sha_hello);
    CHECK_ST(suite_signed(lines, "host;x-amz-content-sha256;x-amz-date", creq, "hello"), ST_OK);
    CHECK_ST(suite_signed(lines, "host;x-amz-content-sha256;x-amz-date", creq, "jello"), ST_SIGNATURE_MISMATCH);
    CHECK(strstr(last_err, "x-amz-content-sha256") != NULL);
    CHECK_ST(suite_signed("POST / HTTP/1.1\r\n" SUITE_HEAD "x-amz-content-sha256: STREAMING-UNSIGNED-PAYLOAD-TRAILER\r\n",
                          "host;x-amz-content-sha256;x-amz-date", POST_CREQ("STREAMING-UNSIGNED-PAYLOAD-TRAILER"),
                          NULL),
             ST_INCOMPLETE_SIGNATURE);
}

/* A presigned URL whose signer chose UNSIGNED-PAYLOAD: the body (a query
 * protocol action) would be anyone's. */
TEST(presigned_unsigned_payload_is_refused)
{
    const char *query = "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIDEXAMPLE%2F20150830%2Fus-east-1%2F"
                        "service%2Faws4_request&X-Amz-Date=" SUITE_DATE "&X-Amz-SignedHeaders=host";
    char creq[1024], sig[65], head[2048];
    snprintf(creq, sizeof creq, "POST\n/\n%s\nhost:example.amazonaws.com\n\nhost\nUNSIGNED-PAYLOAD", query);
    t_sign(SUITE_SECRET, SUITE_SCOPE, SUITE_DATE, creq, sig);
    snprintf(head, sizeof head, "POST /?%s&X-Amz-Signature=%s HTTP/1.1\r\nHost:example.amazonaws.com\r\n"
             "x-amz-content-sha256: UNSIGNED-PAYLOAD\r\nContent-Length: 18\r\n\r\n", query, sig);
    CHECK_ST(suite(head, "Action=DeleteQueue"), ST_INCOMPLETE_SIGNATURE);
    CHECK(strstr(last_err, "UNSIGNED-PAYLOAD is only for S3") != NULL);
}

/* ---- the comparison ----------------------------------------------------------------------------------------- */

static int compare_calls;
static size_t compare_len;

static int counting_memcmp(const void *a, const void *b, size_t n)
{
    compare_calls++;
    compare_len = n;
    return CRYPTO_memcmp(a, b, n);
}

TEST(signatures_are_compared_in_constant_time)
{
    int (*saved)(const void *, const void *, size_t) = sigv4__memcmp;
    CHECK(saved == CRYPTO_memcmp);
    sigv4__memcmp = counting_memcmp;
    compare_calls = 0;
    status_t ok = suite(VANILLA "\r\n", NULL);
    int after_ok = compare_calls;
    status_t first = suite("GET / HTTP/1.1\r\n" SUITE_HEAD AUTH(SUITE_SCOPE, "host;x-amz-date",
                           "0fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31") "\r\n", NULL);
    status_t last = suite("GET / HTTP/1.1\r\n" SUITE_HEAD AUTH(SUITE_SCOPE, "host;x-amz-date",
                          "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf30") "\r\n", NULL);
    sigv4__memcmp = saved;
    CHECK_ST(ok, ST_OK);
    CHECK_ST(first, ST_SIGNATURE_MISMATCH);
    CHECK_ST(last, ST_SIGNATURE_MISMATCH);
    CHECK_INT(after_ok, 1);
    CHECK_INT(compare_calls, 3); /* a difference in the first byte or the last: the same full-length compare */
    CHECK_INT(compare_len, 64);
}

/* ---- the verifier's own checks ------------------------------------------------------------------------------ */

TEST(keys_are_checked_at_creation)
{
    char why[256];
    sigv4_key_def_t dup[] = {{"AKID1", "s", NULL}, {"AKID1", "t", NULL}};
    sigv4_key_def_t bad[] = {{"AK/ID", "s", NULL}};
    sigv4_key_def_t empty[] = {{"AKID", "", NULL}};
    sigv4_config_t c = {.keys = dup, .nkeys = 2};
    CHECK(sigv4_new(&c, why, sizeof why) == NULL);
    CHECK_STR(why, "access key AKID1 is listed twice");
    c = (sigv4_config_t){.keys = bad, .nkeys = 1};
    CHECK(sigv4_new(&c, why, sizeof why) == NULL);
    c = (sigv4_config_t){.keys = empty, .nkeys = 1};
    CHECK(sigv4_new(&c, why, sizeof why) == NULL);
    CHECK(sigv4_key_id_valid("AKIA_TEST9") && !sigv4_key_id_valid("") && !sigv4_key_id_valid("a b"));
}

/* One verifier serves many scopes: its cache of derived keys must not
 * hand one scope's key to another. */
TEST(signing_key_cache_keeps_scopes_apart)
{
    sigv4_t *v = verifier(SUITE_ID, SUITE_SECRET, NULL, 900, 0);
    static const char *const services[] = {"sqs", "sns", "lambda", "service", "tables", "sqs", "service"};
    for (size_t i = 0; i < sizeof services / sizeof services[0]; i++) {
        char scope[128], creq[512], sig[65], head[1024];
        snprintf(scope, sizeof scope, SUITE_ID "/20150830/us-east-1/%s/aws4_request", services[i]);
        snprintf(creq, sizeof creq, "GET\n/\n\nhost:example.amazonaws.com\nx-amz-date:" SUITE_DATE
                 "\n\nhost;x-amz-date\n" EMPTY_SHA256);
        t_sign(SUITE_SECRET, scope, SUITE_DATE, creq, sig);
        snprintf(head, sizeof head, "GET / HTTP/1.1\r\n" SUITE_HEAD AUTH("%s", "host;x-amz-date", "%s") "\r\n", scope,
                 sig);
        status_t st = check_at(head, NULL, services[i], SUITE_NOW, v);
        if (st != ST_OK)
            sigv4_free(v);
        CHECK_ST(st, ST_OK);
    }
    CHECK_ST(check_at(VANILLA "\r\n", NULL, "service", SUITE_NOW, v), ST_OK);
    sigv4_free(v);
}
