/*
 * http_response — a pure, incremental HTTP/1.x response parser for the
 * outbound client (http_client). It never touches sockets: the caller feeds
 * the bytes it received, in pieces of any size, and asks whether the
 * response is complete. The parser owns copies of what it needs (the head,
 * bounded by max_head, and the decoded body, bounded by max_body), so the
 * caller may drop every byte it has fed.
 *
 * What it accepts (RFC 9112):
 *   status-line  "HTTP/1." DIGIT SP 3DIGIT [ SP reason ] CRLF, the code in
 *                100..599; HTTP/1.2+ is read as 1.1, any other version is
 *                malformed;
 *   header lines the request parser's own field grammar and framing rules
 *                (http_parse_head: CRLF only, no obs-fold, no whitespace
 *                before the colon, Content-Length 1*DIGIT and repeats must
 *                agree, Transfer-Encoding only "chunked" and never with
 *                Content-Length or in HTTP/1.0), so both directions of the
 *                daemon's HTTP obey one set of rules;
 *   interim 1xx  skipped (a 100 Continue, 102, 103 and their headers), at
 *                most HTTP_RESP_MAX_INTERIM of them; 101 is malformed since
 *                the client never asks to switch protocols;
 *   body         none for a HEAD request and for 204 and 304; otherwise
 *                chunked, Content-Length, or everything up to the close of
 *                the connection (which also rules out keep-alive).
 *
 * Limits: status line plus header section over lim->max_head bytes, or more
 * than lim->max_headers header lines, is HEAD_TOO_LARGE; a decoded body over
 * lim->max_body is BODY_TOO_LARGE — as soon as a Content-Length or a chunk
 * size announces it, without waiting for the bytes.
 *
 * Errors are sticky: once a feed fails, every later call returns the same
 * error. The verdict depends only on the bytes fed, never on how they were
 * split (the fuzz target checks this).
 */
#ifndef SLUICE_HTTP_RESPONSE_H
#define SLUICE_HTTP_RESPONSE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "net/http_parser.h"
#include "util/buf.h"

#define HTTP_RESP_MAX_INTERIM 16 /* 1xx responses skipped before one is an error */

/* The parser's errors, as the negative values the calls return. */
#define HTTP_RESP_ERR_MAP(X)                                                                      \
    X(MALFORMED, -1, "malformed response")                                                        \
    X(HEAD_TOO_LARGE, -2, "response head over the size limit")                                    \
    X(BODY_TOO_LARGE, -3, "response body over the size limit")                                    \
    X(TRUNCATED, -4, "connection closed before the response was complete")

typedef enum {
    HTTP_RESP_OK = 0,
#define HTTP_RESP_ENUM(name, val, text) HTTP_RESP_##name = (val),
    HTTP_RESP_ERR_MAP(HTTP_RESP_ENUM)
#undef HTTP_RESP_ENUM
} http_resp_err_t;

/* The name ("MALFORMED") and the text of an error; "OK" / "ok" for 0. */
const char *http_resp_err_name(int err);
const char *http_resp_err_text(int err);

typedef enum {
    HTTP_BODY_NONE,    /* HEAD request, 204, 304 */
    HTTP_BODY_LENGTH,  /* Content-Length */
    HTTP_BODY_CHUNKED, /* Transfer-Encoding: chunked */
    HTTP_BODY_CLOSE,   /* up to the end of the connection */
} http_body_framing_t;

typedef struct http_response {
    /* The final (non-1xx) response. Set once head_done; the pointers point
     * into buffers the parser owns and stay valid until http_response_free. */
    int status;          /* 200..599, or 1xx never: interim ones are skipped */
    int minor_version;   /* 0 or 1 */
    const char *reason;  /* reason phrase, may be empty */
    size_t reason_len;
    const http_header_t *headers; /* values trimmed of OWS */
    size_t nheaders;
    int64_t content_length;       /* as announced, -1 when absent */
    http_body_framing_t framing;
    int keep_alive;      /* the connection may carry another exchange */
    int head_done;
    /* The decoded body (NUL-terminated), complete once done is set. */
    buf_t body;
    int done;

    /* private */
    int err;
    int head_request;
    int sline_done;
    http_limits_t lim;
    size_t interim;
    buf_t sline;  /* the status line so far */
    buf_t fields; /* a synthetic request line, then the header section so far */
    http_head_t head;
    http_chunked_t chunked;
    uint64_t body_left; /* HTTP_BODY_LENGTH: bytes still to come */
} http_response_t;

/*
 * Prepares r for one response. lim is copied; max_headers is capped at
 * HTTP_MAX_HEADERS. head_request: the request was HEAD, so the response has
 * no body whatever its headers say. r->headers points into r itself, so r
 * must stay where it is (not be copied by value) while in use.
 */
void http_response_init(http_response_t *r, const http_limits_t *lim, int head_request);
/* Releases the buffers; r may be initialised again. */
void http_response_free(http_response_t *r);

/*
 * Feeds the next len bytes received. Returns the number consumed — all of
 * them unless the response completed within them (r->done), in which case
 * the rest belongs to whatever follows on the connection — or a negative
 * http_resp_err_t. Once done, it consumes nothing and returns 0.
 */
ssize_t http_response_feed(http_response_t *r, const char *in, size_t len);

/*
 * The connection closed (read returned EOF). Completes a close-delimited
 * body and returns 0, returns 0 if the response was already done, and
 * otherwise returns HTTP_RESP_TRUNCATED (or the error already recorded).
 */
int http_response_eof(http_response_t *r);

/* Case-insensitive lookup among the final response's headers; NULL if absent. */
const http_header_t *http_response_header(const http_response_t *r, const char *name);

#endif
