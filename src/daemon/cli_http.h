/*
 * cli_http — the blocking HTTP exchange the command-line clients share
 * (`sluice call`, the admin commands, `sluice cost`): one event loop and one
 * http_client per run; an exchange runs the loop until the answer has been
 * copied out. Nothing here prints.
 */
#ifndef SLUICE_CLI_HTTP_H
#define SLUICE_CLI_HTTP_H

#include <stddef.h>
#include <stdint.h>

#include "net/http_client.h"
#include "net/loop.h"
#include "util/buf.h"
#include "util/jv.h"

#define CLI_HTTP_DEFAULT_ENDPOINT "http://127.0.0.1:4566"

/* One completed exchange, copied out of the client's callback. */
typedef struct cli_answer {
    int done;
    http_client_err_t err;
    char detail[256]; /* the failure in words when err != OK */
    int status, minor;
    char reason[64];        /* printable ASCII */
    char *location;         /* the Location header; NULL when absent */
    long retry_after_s;     /* Retry-After in seconds; 0 when absent or not a number */
    buf_t body;             /* NUL-terminated once non-empty */
    jv_doc_t *doc;
    jv_t *json;             /* the body parsed; NULL when it is not JSON */
} cli_answer_t;

typedef struct cli_http {
    loop_t *loop;
    http_client_t *client;
} cli_http_t;

/*
 * The origin ("http://host:port", no trailing '/') of an endpoint URL: an
 * http(s) URL with no path but "/" and no query. Returns a new string, or
 * NULL with the reason in why.
 */
char *cli_http_origin(const char *url, char *why, size_t why_len);

/* The endpoint's origin: url, else $SLUICE_ENDPOINT, else the default. */
char *cli_http_endpoint(const char *url, char *why, size_t why_len);

/* Sets up the loop and client; -1 when the TLS context cannot be made. */
int cli_http_open(cli_http_t *h, const char *user_agent, size_t max_body);
void cli_http_close(cli_http_t *h);

/*
 * Runs one exchange to its end; the answer or the failure lands in a (reset
 * first). Returns 0, or -1 when the client refuses the request outright.
 */
int cli_http_exchange(cli_http_t *h, const http_request_spec_t *spec, cli_answer_t *a);

/* Frees what a holds and zeroes it. */
void cli_answer_reset(cli_answer_t *a);

/* Copies printable ASCII of p[0..n) into out (size cap), NUL-terminated;
 * other bytes become '?'. */
void cli_printable(char *out, size_t cap, const char *p, size_t n);

#endif
