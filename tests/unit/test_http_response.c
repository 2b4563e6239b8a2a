/*
 * test_http_response — the client's response parser: status lines, every
 * body framing, interim 1xx heads, bodiless responses, limits and
 * malformations. Every case is also fed byte by byte and in pseudo-random
 * pieces, and must end exactly as when fed whole.
 */
#include "net/http_response.h"

#include <stdio.h>
#include <stdlib.h>

#include "harness.h"

#define S(lit) (lit), (sizeof(lit) - 1) /* literal and its length, NULs included */

static const http_limits_t lim_default = {16384, 64, 1 << 20};

/* The end state of one parse, for comparing differently split feeds. */
typedef struct outcome {
    int err;         /* 0 or the (sticky) error */
    size_t consumed; /* bytes taken before done (or all) */
    int done, status, keep_alive, framing;
    char body[256];
    size_t body_len;
    char reason[64];
} outcome_t;

/*
 * Feeds s[0..len) in pieces of `step` bytes (0: pseudo-random sizes), each
 * a heap copy of exactly its bytes, then EOF if eof is set.
 */
static void run(const char *s, size_t len, const http_limits_t *lim, int head_req, size_t step, int eof,
                outcome_t *o)
{
    http_response_t r;
    uint32_t seed = 2463534242u;
    http_response_init(&r, lim, head_req);
    memset(o, 0, sizeof *o);
    size_t off = 0;
    while (off < len && !r.done) {
        seed ^= seed << 13, seed ^= seed >> 17, seed ^= seed << 5;
        size_t n = step ? step : 1 + seed % 7;
        n = n < len - off ? n : len - off;
        char *piece = malloc(n);
        memcpy(piece, s + off, n);
        ssize_t got = http_response_feed(&r, piece, n);
        free(piece);
        if (got < 0) {
            o->err = (int)got;
            break;
        }
        off += (size_t)got;
    }
    if (!o->err && eof)
        o->err = http_response_eof(&r);
    o->consumed = o->err ? 0 : off; /* where a feed failed depends on the split */
    o->done = r.done;
    o->status = r.status;
    o->keep_alive = r.keep_alive;
    o->framing = r.framing;
    o->body_len = r.body.len < sizeof o->body ? r.body.len : sizeof o->body;
    if (o->err)
        o->body_len = 0; /* and so does how much body got in */
    if (o->body_len)
        memcpy(o->body, r.body.data, o->body_len);
    if (r.reason && r.reason_len < sizeof o->reason)
        memcpy(o->reason, r.reason, r.reason_len);
    http_response_free(&r);
}

static int same(const outcome_t *a, const outcome_t *b)
{
    return a->err == b->err && a->consumed == b->consumed && a->done == b->done &&
           a->status == b->status && a->keep_alive == b->keep_alive && a->framing == b->framing &&
           a->body_len == b->body_len && memcmp(a->body, b->body, a->body_len) == 0 &&
           strcmp(a->reason, b->reason) == 0;
}

/* Parses whole, byte by byte and in random pieces; all must agree. */
static int parse_lim(const char *s, size_t len, const http_limits_t *lim, int head_req, int eof,
                     outcome_t *o)
{
    outcome_t bytes, pieces;
    run(s, len, lim, head_req, len ? len : 1, eof, o);
    run(s, len, lim, head_req, 1, eof, &bytes);
    run(s, len, lim, head_req, 0, eof, &pieces);
    return same(o, &bytes) && same(o, &pieces);
}

static int parse(const char *s, size_t len, outcome_t *o)
{
    return parse_lim(s, len, &lim_default, 0, 0, o);
}

/* ---- framings ---- */

TEST(content_length_body_and_headers)
{
    const char *s = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-A:  b c \r\n\r\nhelloNEXT";
    http_response_t r;
    http_response_init(&r, &lim_default, 0);
    CHECK_INT(http_response_feed(&r, s, strlen(s)), strlen(s) - 4);
    CHECK(r.done && r.head_done);
    CHECK_INT(r.status, 200);
    CHECK_MEM(r.reason, r.reason_len, "OK", 2);
    CHECK_INT(r.minor_version, 1);
    CHECK_INT(r.framing, HTTP_BODY_LENGTH);
    CHECK_INT(r.content_length, 5);
    CHECK_INT(r.keep_alive, 1);
    CHECK_INT(r.nheaders, 2);
    const http_header_t *h = http_response_header(&r, "x-a");
    CHECK(h != NULL);
    CHECK_MEM(h->value, h->value_len, "b c", 3);
    CHECK(http_response_header(&r, "X-B") == NULL);
    CHECK_STR(r.body.data, "hello");
    CHECK_INT(http_response_feed(&r, "more", 4), 0); /* done: takes nothing */
    CHECK_INT(http_response_eof(&r), 0);
    http_response_free(&r);
}

TEST(content_length_split_everywhere)
{
    outcome_t o;
    CHECK(parse(S("HTTP/1.1 201 Created\r\nContent-Length: 11\r\n\r\nhello worldX"), &o));
    CHECK_INT(o.err, 0);
    CHECK(o.done);
    CHECK_INT(o.status, 201);
    CHECK_STR(o.reason, "Created");
    CHECK_MEM(o.body, o.body_len, "hello world", 11);
    CHECK_INT(o.consumed, sizeof "HTTP/1.1 201 Created\r\nContent-Length: 11\r\n\r\nhello world" - 1);
}

TEST(zero_content_length_is_done_at_the_head)
{
    outcome_t o;
    CHECK(parse(S("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"), &o));
    CHECK(o.done);
    CHECK_INT(o.body_len, 0);
    CHECK_INT(o.keep_alive, 1);
}

TEST(chunked_with_extensions_and_trailers)
{
    static const char s[] = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                            "5;name=\"v\"\r\nhello\r\n1\r\n \r\nA\r\n0123456789\r\n0\r\nX-T: 1\r\n\r\nNEXT";
    outcome_t o;
    CHECK(parse(S(s), &o));
    CHECK_INT(o.err, 0);
    CHECK(o.done);
    CHECK_INT(o.framing, HTTP_BODY_CHUNKED);
    CHECK_MEM(o.body, o.body_len, "hello 0123456789", 16);
    CHECK_INT(o.consumed, sizeof s - 1 - 4);
    CHECK_INT(o.keep_alive, 1);
}

TEST(chunked_framing_errors)
{
    outcome_t o;
    CHECK(parse(S("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nZ\r\n"), &o));
    CHECK_INT(o.err, HTTP_RESP_MALFORMED);
    CHECK(parse(S("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcX\r\n"), &o));
    CHECK_INT(o.err, HTTP_RESP_MALFORMED);
}

TEST(close_delimited_body_ends_at_eof)
{
    static const char s[] = "HTTP/1.1 200 OK\r\nServer: x\r\n\r\nall of this";
    outcome_t o;
    CHECK(parse(S(s), &o));
    CHECK_INT(o.err, 0);
    CHECK(!o.done);
    CHECK_INT(o.framing, HTTP_BODY_CLOSE);
    CHECK_INT(o.keep_alive, 0);
    CHECK_INT(o.consumed, sizeof s - 1);
    CHECK(parse_lim(S(s), &lim_default, 0, 1, &o));
    CHECK_INT(o.err, 0);
    CHECK(o.done);
    CHECK_MEM(o.body, o.body_len, "all of this", 11);
}

TEST(eof_before_the_end_is_truncated)
{
    outcome_t o;
    CHECK(parse_lim(S(""), &lim_default, 0, 1, &o));
    CHECK_INT(o.err, HTTP_RESP_TRUNCATED);
    CHECK(parse_lim(S("HTTP/1.1 200 OK\r\nContent-Le"), &lim_default, 0, 1, &o));
    CHECK_INT(o.err, HTTP_RESP_TRUNCATED);
    CHECK(parse_lim(S("HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nabc"), &lim_default, 0, 1, &o));
    CHECK_INT(o.err, HTTP_RESP_TRUNCATED);
    CHECK(parse_lim(S("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n"), &lim_default,
                    0, 1, &o));
    CHECK_INT(o.err, HTTP_RESP_TRUNCATED);
}

TEST(keep_alive_by_version_and_connection)
{
    outcome_t o;
    CHECK(parse(S("HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nhi"), &o));
    CHECK(o.done && !o.keep_alive);
    CHECK(parse(S("HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\nhi"), &o));
    CHECK(o.done && o.keep_alive);
    CHECK(parse(S("HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nhi"), &o));
    CHECK(o.done && !o.keep_alive);
    CHECK(parse(S("HTTP/1.1 200 OK\r\nConnection: x, Close\r\nContent-Length: 2\r\n\r\nhi"), &o));
    CHECK(o.done && !o.keep_alive);
}

/* ---- bodiless responses ---- */

TEST(head_204_304_have_no_body)
{
    outcome_t o;
    static const char head[] = "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n";
    CHECK(parse_lim(S(head), &lim_default, 1, 0, &o));
    CHECK(o.done);
    CHECK_INT(o.framing, HTTP_BODY_NONE);
    CHECK_INT(o.consumed, sizeof head - 1);
    CHECK_INT(o.keep_alive, 1);
    /* HEAD with chunked: still nothing follows */
    CHECK(parse_lim(S("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"), &lim_default, 1,
                    0, &o));
    CHECK(o.done);
    CHECK_INT(o.consumed, sizeof "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" - 1);
    CHECK(parse(S("HTTP/1.1 204 No Content\r\n\r\nNEXT"), &o));
    CHECK(o.done && o.keep_alive);
    CHECK_INT(o.status, 204);
    CHECK_INT(o.consumed, sizeof "HTTP/1.1 204 No Content\r\n\r\n" - 1);
    CHECK(parse(S("HTTP/1.1 304 Not Modified\r\nContent-Length: 50\r\n\r\n"), &o));
    CHECK(o.done);
    CHECK_INT(o.body_len, 0);
    /* a bodiless response's Content-Length over max_body is no error */
    CHECK(parse(S("HTTP/1.1 304 Not Modified\r\nContent-Length: 999999999999\r\n\r\n"), &o));
    CHECK_INT(o.err, 0);
    CHECK(o.done);
}

/* ---- interim responses ---- */

TEST(interim_1xx_are_skipped)
{
    static const char s[] = "HTTP/1.1 100 Continue\r\n\r\n"
                            "HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n"
                            "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-Final: yes\r\n\r\nok";
    outcome_t o;
    CHECK(parse(S(s), &o));
    CHECK_INT(o.err, 0);
    CHECK(o.done);
    CHECK_INT(o.status, 200);
    CHECK_STR(o.reason, "OK");
    CHECK_MEM(o.body, o.body_len, "ok", 2);
    CHECK_INT(o.consumed, sizeof s - 1);

    http_response_t r;
    http_response_init(&r, &lim_default, 0);
    CHECK_INT(http_response_feed(&r, s, sizeof s - 1), sizeof s - 1);
    CHECK_INT(r.nheaders, 2);
    CHECK(http_response_header(&r, "Link") == NULL); /* the interim head's are gone */
    CHECK(http_response_header(&r, "X-Final") != NULL);
    http_response_free(&r);
}

TEST(interim_alone_is_not_a_response)
{
    outcome_t o;
    CHECK(parse_lim(S("HTTP/1.1 100 Continue\r\n\r\n"), &lim_default, 0, 1, &o));
    CHECK_INT(o.err, HTTP_RESP_TRUNCATED);
    CHECK_INT(o.status, 0);
}

TEST(switching_protocols_and_endless_interims_are_malformed)
{
    outcome_t o;
    CHECK(parse(S("HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\n\r\n"), &o));
    CHECK_INT(o.err, HTTP_RESP_MALFORMED);
    char s[1024] = "";
    for (int i = 0; i <= HTTP_RESP_MAX_INTERIM; i++)
        strcat(s, "HTTP/1.1 100 Continue\r\n\r\n");
    CHECK(parse(s, strlen(s), &o));
    CHECK_INT(o.err, HTTP_RESP_MALFORMED);
    s[strlen(s) - strlen("HTTP/1.1 100 Continue\r\n\r\n")] = '\0';
    strcat(s, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
    CHECK(parse(s, strlen(s), &o));
    CHECK_INT(o.err, 0);
    CHECK_INT(o.status, 200);
}

/* ---- status lines ---- */

TEST(status_line_forms)
{
    outcome_t o;
    CHECK(parse(S("HTTP/1.1 404\r\nContent-Length: 0\r\n\r\n"), &o));
    CHECK_INT(o.status, 404);
    CHECK_STR(o.reason, "");
    CHECK(parse(S("HTTP/1.1 500 \r\nContent-Length: 0\r\n\r\n"), &o));
    CHECK_INT(o.status, 500);
    CHECK_STR(o.reason, "");
    CHECK(parse(S("HTTP/1.1 599 Some \t reason \xc3\xa9\r\nContent-Length: 0\r\n\r\n"), &o));
    CHECK_INT(o.status, 599);
    CHECK_STR(o.reason, "Some \t reason \xc3\xa9");
    CHECK(parse(S("HTTP/1.2 200 OK\r\nContent-Length: 0\r\n\r\n"), &o)); /* read as 1.1 */
    CHECK(o.done && o.keep_alive);
}

TEST(malformed_status_lines)
{
    static const char *bad[] = {
        "HTTP/2 200 OK\r\n\r\n",   "HTTP/2.0 200 OK\r\n\r\n", "HTTP/1.1 20 OK\r\n\r\n",
        "HTTP/1.1 600 X\r\n\r\n",  "HTTP/1.1 099 X\r\n\r\n",  "HTTP/1.1 200OK\r\n\r\n",
        "http/1.1 200 OK\r\n\r\n", "HTTP/1.1 200 OK\n\r\n",   "HTTP/1.1  200 OK\r\n\r\n",
        "ICY 200 OK\r\n\r\n",      "<html>\r\n",               "HTTP/1.1 200 O\x01K\r\n\r\n",
        "HTTP/1.1 200 OK\r\r\n",   "HTTP/1.x 200 OK\r\n\r\n", " HTTP/1.1 200 OK\r\n\r\n",
        "\r\nHTTP/1.1 200 OK\r\n\r\n", "HTTP/1.1 2a0 OK\r\n\r\n", "HTTP/1.1 200\n",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        outcome_t o;
        if (!parse(bad[i], strlen(bad[i]), &o) || o.err != HTTP_RESP_MALFORMED)
            harness_fail(__FILE__, __LINE__, "case %zu: err %d", i, o.err);
    }
}

TEST(garbage_fails_at_its_first_wrong_byte)
{
    http_response_t r;
    http_response_init(&r, &lim_default, 0);
    CHECK_INT(http_response_feed(&r, "HTTP/1.", 7), 7);
    CHECK_INT(http_response_feed(&r, "1 2", 3), 3);
    CHECK_INT(http_response_feed(&r, "0x", 2), HTTP_RESP_MALFORMED);
    CHECK_INT(http_response_feed(&r, "0 OK\r\n", 6), HTTP_RESP_MALFORMED); /* sticky */
    CHECK_INT(http_response_eof(&r), HTTP_RESP_MALFORMED);
    http_response_free(&r);
    http_response_init(&r, &lim_default, 0);
    CHECK_INT(http_response_feed(&r, "SSH-2.0", 7), HTTP_RESP_MALFORMED);
    http_response_free(&r);
}

/* ---- header lines ---- */

TEST(malformed_header_sections)
{
    static const char *bad[] = {
        "HTTP/1.1 200 OK\r\nA: b\r\n c\r\nContent-Length: 0\r\n\r\n",   /* obs-fold */
        "HTTP/1.1 200 OK\r\n\tA: b\r\n\r\n",                            /* obs-fold first */
        "HTTP/1.1 200 OK\r\nA : b\r\n\r\n",                             /* space before colon */
        "HTTP/1.1 200 OK\r\nA: b\n\r\n",                                /* bare LF */
        "HTTP/1.1 200 OK\r\nA: b\x01\r\n\r\n",                          /* control byte */
        "HTTP/1.1 200 OK\r\n: b\r\n\r\n",                               /* empty name */
        "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 1, 1\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
        "HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
        "HTTP/1.1 100 Continue\r\n x\r\n\r\n",                          /* in an interim head too */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        outcome_t o;
        if (!parse(bad[i], strlen(bad[i]), &o) || o.err != HTTP_RESP_MALFORMED)
            harness_fail(__FILE__, __LINE__, "case %zu: err %d", i, o.err);
    }
}

TEST(repeated_equal_content_length_is_accepted)
{
    outcome_t o;
    CHECK(parse(S("HTTP/1.1 200 OK\r\nContent-Length: 2\r\ncontent-length: 2\r\n\r\nok"), &o));
    CHECK_INT(o.err, 0);
    CHECK(o.done);
}

/* ---- limits ---- */

TEST(head_size_limit_is_inclusive)
{
    static const char s[] = "HTTP/1.1 200 OK\r\nA: 123456\r\n\r\n"; /* 30 bytes */
    http_limits_t lim = {sizeof s - 1, 64, 100};
    outcome_t o;
    CHECK(parse_lim(S(s), &lim, 0, 1, &o));
    CHECK_INT(o.err, 0);
    CHECK_INT(o.framing, HTTP_BODY_CLOSE);
    lim.max_head--;
    CHECK(parse_lim(S(s), &lim, 0, 1, &o));
    CHECK_INT(o.err, HTTP_RESP_HEAD_TOO_LARGE);
    /* a status line alone over the limit, and with no end in sight */
    lim.max_head = 10;
    CHECK(parse_lim(S("HTTP/1.1 200 OK\r\n"), &lim, 0, 0, &o));
    CHECK_INT(o.err, HTTP_RESP_HEAD_TOO_LARGE);
    lim.max_head = 40;
    CHECK(parse_lim(S("HTTP/1.1 200 OK\r\nX: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"), &lim, 0, 0, &o));
    CHECK_INT(o.err, HTTP_RESP_HEAD_TOO_LARGE);
}

TEST(header_count_limit)
{
    http_limits_t lim = {4096, 2, 100};
    outcome_t o;
    CHECK(parse_lim(S("HTTP/1.1 200 OK\r\nA: 1\r\nB: 2\r\nContent-Length: 0\r\n\r\n"), &lim, 0, 0, &o));
    CHECK_INT(o.err, HTTP_RESP_HEAD_TOO_LARGE);
    CHECK(parse_lim(S("HTTP/1.1 200 OK\r\nA: 1\r\nContent-Length: 0\r\n\r\n"), &lim, 0, 0, &o));
    CHECK_INT(o.err, 0);
    CHECK(o.done);
}

TEST(body_size_limit_for_every_framing)
{
    http_limits_t lim = {4096, 64, 5};
    outcome_t o;
    CHECK(parse_lim(S("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"), &lim, 0, 0, &o));
    CHECK_INT(o.err, 0);
    CHECK(o.done);
    /* announced: fails at the head, before any body byte */
    CHECK(parse_lim(S("HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\n"), &lim, 0, 0, &o));
    CHECK_INT(o.err, HTTP_RESP_BODY_TOO_LARGE);
    CHECK(parse_lim(S("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n3\r\n"), &lim, 0, 0,
                    &o));
    CHECK_INT(o.err, HTTP_RESP_BODY_TOO_LARGE);
    CHECK(parse_lim(S("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nabcde\r\n0\r\n\r\n"), &lim,
                    0, 0, &o));
    CHECK_INT(o.err, 0);
    CHECK(o.done);
    CHECK(parse_lim(S("HTTP/1.1 200 OK\r\n\r\nabcde"), &lim, 0, 1, &o));
    CHECK_INT(o.err, 0);
    CHECK(parse_lim(S("HTTP/1.1 200 OK\r\n\r\nabcdef"), &lim, 0, 1, &o));
    CHECK_INT(o.err, HTTP_RESP_BODY_TOO_LARGE);
}

TEST(error_names_and_texts)
{
    CHECK_STR(http_resp_err_name(HTTP_RESP_MALFORMED), "MALFORMED");
    CHECK_STR(http_resp_err_name(HTTP_RESP_TRUNCATED), "TRUNCATED");
    CHECK_STR(http_resp_err_name(0), "OK");
    CHECK_STR(http_resp_err_text(HTTP_RESP_BODY_TOO_LARGE), "response body over the size limit");
    CHECK_STR(http_resp_err_text(-99), "unknown error");
}

TEST(reinit_after_free)
{
    http_response_t r;
    http_response_init(&r, &lim_default, 0);
    CHECK_INT(http_response_feed(&r, S("HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\na")), 39);
    http_response_free(&r);
    http_response_init(&r, &lim_default, 1);
    CHECK_INT(http_response_feed(&r, S("HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\na")), 38);
    CHECK(r.done);
    CHECK_INT(r.body.len, 0);
    http_response_free(&r);
}
