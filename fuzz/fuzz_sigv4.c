/*
 * fuzz_sigv4 — libFuzzer target for sigv4_verify. The input is a request as
 * a client sends it: the head, then the body. The verifier holds the SigV4
 * test suite's key and runs at the suite's moment (2015-08-30T12:36:00Z),
 * so seeds that are correctly signed reach every stage, aws-chunked
 * decoding included.
 *
 * Checks: the verdict is one of the six statuses, with a message when it is
 * a refusal; a body that is not aws-chunked is never touched; a decoded
 * body only shrinks and stays NUL-terminated; verifying a fresh copy again
 * (the derived-key cache now warm) gives the same verdict. Head and body
 * are heap copies of exactly the input bytes, so ASan catches over-reads.
 */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "net/http_parser.h"
#include "proto/sigv4.h"

#define SUITE_NOW_MS 1440938160000ull

static sigv4_t *verifier(void)
{
    static sigv4_t *v;
    if (!v) {
        sigv4_key_def_t k = {"AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "tok"};
        sigv4_config_t c = {.keys = &k, .nkeys = 1, .clock_skew_s = 900, .check_session_token = 0};
        v = sigv4_new(&c, NULL, 0);
        FUZZ_CHECK(v != NULL);
    }
    return v;
}

static status_t verify_once(const char *head_bytes, size_t hlen, const uint8_t *body, size_t blen, int *touched,
                            size_t *out_len)
{
    static const http_limits_t lim = {16384, HTTP_MAX_HEADERS, 1 << 20};
    http_head_t h;
    char *head = malloc(hlen);
    memcpy(head, head_bytes, hlen);
    status_t st = ST__COUNT;
    if (http_parse_head(head, hlen, &lim, &h) > 0) {
        char *b = malloc(blen + 1);
        memcpy(b, body, blen);
        b[blen] = 0;
        sigv4_request_t rq = {.head = &h, .body = b, .body_len = blen, .service = NULL, .now_ms = SUITE_NOW_MS};
        err_t err;
        err.msg[0] = 0;
        st = sigv4_verify(verifier(), &rq, &err);
        FUZZ_CHECK(st == ST_OK || st == ST_MISSING_AUTH || st == ST_INCOMPLETE_SIGNATURE ||
                   st == ST_INVALID_CLIENT_TOKEN || st == ST_SIGNATURE_MISMATCH || st == ST_REQUEST_EXPIRED);
        FUZZ_CHECK(st == ST_OK || err.msg[0] != 0);
        FUZZ_CHECK(rq.body_len <= blen && b[rq.body_len] == 0);
        *touched = rq.body_len != blen || memcmp(b, body, blen) != 0;
        *out_len = rq.body_len;
        free(b);
    }
    free(head);
    return st;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *end = size >= 4 ? memmem(data, size, "\r\n\r\n", 4) : NULL;
    if (!end)
        return 0;
    size_t hlen = (size_t)(end - (const char *)data) + 4;
    int touched = 0, touched2 = 0;
    size_t len = 0, len2 = 0;
    status_t st = verify_once((const char *)data, hlen, data + hlen, size - hlen, &touched, &len);
    if (st == ST__COUNT)
        return 0;
    int streaming = memmem(data, hlen, "STREAMING-AWS4-HMAC-SHA256-PAYLOAD", 34) != NULL;
    FUZZ_CHECK(!touched || streaming);
    status_t again = verify_once((const char *)data, hlen, data + hlen, size - hlen, &touched2, &len2);
    FUZZ_CHECK(again == st && len2 == len);
    return 0;
}
