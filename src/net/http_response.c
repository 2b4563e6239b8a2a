/*
 * http_response — the incremental response parser (contract in
 * http_response.h). Pure: no sockets; it allocates only into its own
 * buffers, each bounded by a limit.
 *
 * Model. A response goes through three phases, each keeping its state in
 * http_response_t so that input may be split anywhere:
 *   status line  bytes up to the first LF are copied into sline and checked
 *                as they arrive, so a peer that is not speaking HTTP fails
 *                at its first wrong byte rather than at the timeout;
 *   header lines copied into fields behind a synthetic request line
 *                ("GET / HTTP/1.x", x the response's minor version) and
 *                judged by http_parse_head, which brings the header grammar,
 *                Content-Length/Transfer-Encoding rules and the keep-alive
 *                verdict of the server side without a second copy of them.
 *                The section is re-parsed from its start, up to its last
 *                LF, whenever new bytes hold an LF: the verdict then depends
 *                only on complete lines, never on how much of the next line
 *                happened to come with them, and a head trickling in one byte
 *                per read costs O(lines * max_head), bounded. At the size
 *                limit all the bytes are judged (max_head + 1 of them show
 *                the excess);
 *   body         Content-Length bytes counted down, chunked framing through
 *                the server's http_chunked_decode, or everything until EOF.
 * A 1xx head resets the first two phases and the parser starts over on the
 * bytes after it.
 */
#include "net/http_response.h"

#include <string.h>

#define SYN_LINE_11 "GET / HTTP/1.1\r\n"
#define SYN_LINE_10 "GET / HTTP/1.0\r\n"
#define SYN_LEN (sizeof SYN_LINE_11 - 1)

static const struct {
    int val;
    const char *name, *text;
} resp_errs[] = {
#define HTTP_RESP_ROW(name, val, text) {val, #name, text},
    HTTP_RESP_ERR_MAP(HTTP_RESP_ROW)
#undef HTTP_RESP_ROW
};

const char *http_resp_err_name(int err)
{
    for (size_t i = 0; i < sizeof resp_errs / sizeof resp_errs[0]; i++)
        if (resp_errs[i].val == err)
            return resp_errs[i].name;
    return err == 0 ? "OK" : "UNKNOWN";
}

const char *http_resp_err_text(int err)
{
    for (size_t i = 0; i < sizeof resp_errs / sizeof resp_errs[0]; i++)
        if (resp_errs[i].val == err)
            return resp_errs[i].text;
    return err == 0 ? "ok" : "unknown error";
}

/* Clears everything that belongs to one (interim or final) head. */
static void resp_head_reset(http_response_t *r)
{
    r->status = 0;
    r->minor_version = 0;
    r->reason = NULL;
    r->reason_len = 0;
    r->headers = NULL;
    r->nheaders = 0;
    r->content_length = -1;
    r->framing = HTTP_BODY_NONE;
    r->keep_alive = 0;
    r->head_done = 0;
    r->sline_done = 0;
    buf_reset(&r->sline);
    buf_reset(&r->fields);
}

void http_response_init(http_response_t *r, const http_limits_t *lim, int head_request)
{
    memset(r, 0, sizeof *r);
    buf_init(&r->body);
    buf_init(&r->sline);
    buf_init(&r->fields);
    r->lim = *lim;
    if (r->lim.max_headers > HTTP_MAX_HEADERS)
        r->lim.max_headers = HTTP_MAX_HEADERS;
    r->head_request = head_request;
    resp_head_reset(r);
}

void http_response_free(http_response_t *r)
{
    buf_free(&r->body);
    buf_free(&r->sline);
    buf_free(&r->fields);
    r->headers = NULL;
    r->reason = NULL;
}

static ssize_t resp_fail(http_response_t *r, int err)
{
    r->err = err;
    return err;
}

/* ---- status line ---- */

static int is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* reason-phrase = *( HTAB / SP / VCHAR / obs-text ) */
static int is_reason_byte(unsigned char c)
{
    return c == '\t' || (c >= 0x20 && c != 0x7f);
}

/*
 * Checks s[0..n), a prefix of the status line that holds at most one LF (as
 * its last byte). Returns 1 complete, 0 consistent so far, -1 malformed.
 */
static int sline_check(const char *s, size_t n)
{
    static const char pat[] = "HTTP/1.d d";
    for (size_t i = 0; i < n && i < sizeof pat - 1; i++) {
        if (pat[i] == 'd' ? !is_digit(s[i]) : s[i] != pat[i])
            return -1;
        if (i == 9 && (s[i] < '1' || s[i] > '5'))
            return -1;
    }
    for (size_t i = 10; i < n && i < 12; i++)
        if (!is_digit(s[i]))
            return -1;
    if (n > 12 && s[12] != ' ' && s[12] != '\r')
        return -1;
    for (size_t i = 12; i < n; i++) {
        if (s[i] == '\r')
            return i + 1 == n ? 0 : (s[i + 1] == '\n' && i + 2 == n ? 1 : -1);
        if (!is_reason_byte((unsigned char)s[i]) || (i == 12 && s[i] != ' '))
            return -1;
    }
    return 0;
}

/* Records the status line held in r->sline. */
static void sline_take(http_response_t *r)
{
    const char *s = r->sline.data;
    r->minor_version = s[7] == '0' ? 0 : 1;
    r->status = (s[9] - '0') * 100 + (s[10] - '0') * 10 + (s[11] - '0');
    r->reason = r->sline.len > 14 ? s + 13 : s + 12;
    r->reason_len = r->sline.len > 14 ? r->sline.len - 15 : 0;
    r->sline_done = 1;
    buf_append(&r->fields, r->minor_version ? SYN_LINE_11 : SYN_LINE_10, SYN_LEN);
}

/* Takes status-line bytes from in; returns bytes consumed or an error. */
static ssize_t resp_sline(http_response_t *r, const char *in, size_t len)
{
    const char *nl = memchr(in, '\n', len);
    size_t n = nl ? (size_t)(nl - in) + 1 : len;
    size_t room = r->lim.max_head - r->sline.len;
    if (n > room)
        n = room;
    buf_append(&r->sline, in, n);
    int st = sline_check(r->sline.data, r->sline.len);
    if (st < 0)
        return resp_fail(r, HTTP_RESP_MALFORMED);
    if (st > 0)
        sline_take(r);
    else if (r->sline.len == r->lim.max_head)
        return resp_fail(r, HTTP_RESP_HEAD_TOO_LARGE);
    return (ssize_t)n;
}

/* ---- header section ---- */

static int map_head_status(ssize_t st)
{
    return st == -431 ? HTTP_RESP_HEAD_TOO_LARGE : HTTP_RESP_MALFORMED;
}

/* Decides how the body is delimited once the final head is in. */
static int resp_framing(http_response_t *r)
{
    r->content_length = r->head.content_length;
    r->keep_alive = r->head.keep_alive;
    if (r->head_request || r->status == 204 || r->status == 304) {
        r->framing = HTTP_BODY_NONE;
        r->done = 1;
    } else if (r->head.chunked) {
        r->framing = HTTP_BODY_CHUNKED;
        http_chunked_init(&r->chunked);
    } else if (r->head.content_length >= 0) {
        if ((uint64_t)r->head.content_length > (uint64_t)r->lim.max_body)
            return HTTP_RESP_BODY_TOO_LARGE;
        r->framing = HTTP_BODY_LENGTH;
        r->body_left = (uint64_t)r->head.content_length;
        r->done = r->body_left == 0;
    } else {
        r->framing = HTTP_BODY_CLOSE;
        r->keep_alive = 0;
    }
    return 0;
}

/* A complete head of head_len bytes in fields: interim or final. */
static int resp_head_complete(http_response_t *r, size_t head_len)
{
    r->fields.len = head_len; /* later bytes are the body's; they were counted as such */
    if (r->status == 101)
        return HTTP_RESP_MALFORMED;
    if (r->status < 200) {
        if (++r->interim > HTTP_RESP_MAX_INTERIM)
            return HTTP_RESP_MALFORMED;
        resp_head_reset(r);
        return 0;
    }
    r->headers = r->head.headers;
    r->nheaders = r->head.nheaders;
    r->head_done = 1;
    return resp_framing(r);
}

/* Takes header-section bytes from in; returns bytes consumed or an error. */
static ssize_t resp_fields(http_response_t *r, const char *in, size_t len)
{
    size_t old = r->fields.len;
    size_t max_raw = r->lim.max_head - r->sline.len; /* header bytes allowed */
    size_t room = max_raw + 1 - (old - SYN_LEN);     /* one more shows the excess */
    size_t n = len < room ? len : room;
    buf_append(&r->fields, in, n);
    size_t upto = r->fields.len; /* at the limit: all of it */
    if (n < room) {
        const char *nl = memrchr(in, '\n', n);
        if (!nl)
            return (ssize_t)n; /* no line has ended */
        upto = old + (size_t)(nl - in) + 1;
    }
    http_limits_t lim = {SYN_LEN + max_raw, r->lim.max_headers, SIZE_MAX};
    ssize_t st = http_parse_head(r->fields.data, upto, &lim, &r->head);
    if (st < 0)
        return resp_fail(r, map_head_status(st));
    if (st == 0)
        return (ssize_t)n;
    int err = resp_head_complete(r, (size_t)st);
    if (err)
        return resp_fail(r, err);
    return (ssize_t)((size_t)st - old);
}

/* ---- body ---- */

static ssize_t resp_body(http_response_t *r, const char *in, size_t len)
{
    size_t n = len;
    switch (r->framing) {
    case HTTP_BODY_LENGTH:
        if ((uint64_t)n > r->body_left)
            n = (size_t)r->body_left;
        buf_append(&r->body, in, n);
        r->body_left -= n;
        r->done = r->body_left == 0;
        return (ssize_t)n;
    case HTTP_BODY_CHUNKED: {
        ssize_t st = http_chunked_decode(&r->chunked, in, len, &r->body, r->lim.max_body);
        if (st < 0)
            return resp_fail(r, st == -413 ? HTTP_RESP_BODY_TOO_LARGE : HTTP_RESP_MALFORMED);
        r->done = r->chunked.done;
        return st;
    }
    case HTTP_BODY_CLOSE:
        if (len > r->lim.max_body - r->body.len)
            return resp_fail(r, HTTP_RESP_BODY_TOO_LARGE);
        buf_append(&r->body, in, len);
        return (ssize_t)len;
    default:
        return 0;
    }
}

ssize_t http_response_feed(http_response_t *r, const char *in, size_t len)
{
    size_t off = 0;
    if (r->err)
        return r->err;
    while (off < len && !r->done) {
        ssize_t n;
        if (!r->sline_done)
            n = resp_sline(r, in + off, len - off);
        else if (!r->head_done)
            n = resp_fields(r, in + off, len - off);
        else
            n = resp_body(r, in + off, len - off);
        if (n < 0)
            return n;
        off += (size_t)n;
    }
    return (ssize_t)off;
}

int http_response_eof(http_response_t *r)
{
    if (r->err)
        return r->err;
    if (r->done)
        return 0;
    if (r->head_done && r->framing == HTTP_BODY_CLOSE) {
        r->done = 1;
        return 0;
    }
    return (int)resp_fail(r, HTTP_RESP_TRUNCATED);
}

const http_header_t *http_response_header(const http_response_t *r, const char *name)
{
    return r->head_done ? http_head_find(&r->head, name) : NULL;
}
