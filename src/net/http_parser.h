/*
 * http_parser — a pure, incremental HTTP/1.x request parser. It never touches
 * sockets or allocates: it looks at the bytes received so far and answers
 * "complete (consumed n)", "need more", or "error (answer with status s)".
 * The connection layer calls it again with the grown buffer; parsing is
 * restartable from scratch because a request head is small and bounded.
 *
 * Pointers in http_head_t point into the caller's buffer and are valid only
 * while that buffer is unchanged.
 *
 * Framing rules (RFC 9112): Content-Length and Transfer-Encoding together,
 * repeated differing Content-Length values, any Transfer-Encoding other than
 * exactly "chunked", obs-fold, bare LF line endings in the request line,
 * whitespace before a header colon: all 400 (request-smuggling hygiene).
 * Unknown versions: 505. Heads larger than the limit: 431. A declared body
 * larger than the limit: 413.
 */
#ifndef SLUICE_HTTP_PARSER_H
#define SLUICE_HTTP_PARSER_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "util/buf.h"

#define HTTP_MAX_HEADERS 64

typedef struct http_limits {
    size_t max_head;    /* request line + headers + blank line, bytes (431) */
    size_t max_headers; /* header lines, <= HTTP_MAX_HEADERS (431) */
    size_t max_body;    /* decoded body bytes (413) */
} http_limits_t;

typedef struct http_header {
    const char *name;
    size_t name_len;
    const char *value; /* leading/trailing OWS stripped */
    size_t value_len;
} http_header_t;

typedef struct http_head {
    const char *method;
    size_t method_len;
    const char *target; /* request-target as sent: path and optional ?query */
    size_t target_len;
    int minor_version; /* HTTP/1.<minor>, 0 or 1 */
    http_header_t headers[HTTP_MAX_HEADERS];
    size_t nheaders;
    /* derived from the headers */
    int64_t content_length; /* -1 when absent */
    int chunked;            /* Transfer-Encoding: chunked */
    int expect_continue;    /* Expect: 100-continue */
    int keep_alive;         /* HTTP/1.1 default on, 1.0 default off, Connection overrides */
    size_t head_len;        /* bytes consumed by the head */
} http_head_t;

/*
 * Parses a request head from buf[0..len).
 * Returns head_len (> 0) when complete, 0 when more bytes are needed, or a
 * negative HTTP status (-400, -413, -431, -501, -505) to answer with before
 * closing the connection.
 */
ssize_t http_parse_head(const char *buf, size_t len, const http_limits_t *lim, http_head_t *out);

/* Case-insensitive header lookup; returns NULL if absent. */
const http_header_t *http_head_find(const http_head_t *h, const char *name);

/* Incremental decoder for a chunked body. */
typedef struct http_chunked {
    int state;
    uint64_t chunk_left; /* payload bytes left in the current chunk */
    size_t total;        /* payload bytes decoded so far */
    size_t line_len;     /* bytes of the current size/trailer line, bounded */
    int done;            /* last chunk and trailer section consumed */
} http_chunked_t;

void http_chunked_init(http_chunked_t *c);
/*
 * Decodes what it can of in[0..len), appending payload bytes to out.
 * Returns the number of input bytes consumed (the decoder keeps its own
 * state, so the caller drops them and later passes only new bytes), or a
 * negative HTTP status: -400 malformed, -413 payload over max_body.
 * Once c->done is set, bytes after the consumed count belong to the next
 * request on the connection.
 */
ssize_t http_chunked_decode(http_chunked_t *c, const char *in, size_t len, buf_t *out, size_t max_body);

#endif
