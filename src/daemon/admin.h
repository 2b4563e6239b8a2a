/*
 * admin — the operator's commands, clients of a running daemon over its
 * wire APIs: `sluice queues|topics|functions|requests` (listings,
 * admin_list.c), `sluice dlq show|redrive` (admin_dlq.c), `sluice cost`
 * (cost.c) and `sluice trace` (admin_trace.c). Reference: docs/CLI.md.
 *
 * This header is also the contract between those files: the session
 * (endpoint, HTTP client, latest answer), the wire calls (SQS over AWS JSON
 * 1.0, SNS over the query protocol, plain GETs) and a column printer.
 */
#ifndef SLUICE_ADMIN_H
#define SLUICE_ADMIN_H

#include <stddef.h>

#include "daemon/cli_http.h"
#include "util/buf.h"
#include "util/kv.h"

/* The exit statuses of the admin commands (as `sluice call`'s where they meet). */
typedef enum {
    ADMIN_EXIT_OK = 0,
    ADMIN_EXIT_FAILED = 1,      /* the daemon refused (no such queue, ...), or an answer made no sense */
    ADMIN_EXIT_USAGE = 2,       /* bad arguments; for cost: the daemon has no /metrics */
    ADMIN_EXIT_TIMEOUT = 3,     /* dlq redrive: the move task had not finished when --timeout passed */
    ADMIN_EXIT_UNREACHABLE = 4, /* no HTTP answer from the endpoint */
} admin_exit_t;

typedef struct admin {
    const char *cmd;   /* "queues", "dlq show", ... for messages */
    char *origin;      /* the endpoint: "http://host:port" */
    int json;          /* --json */
    cli_http_t http;
    cli_answer_t a;    /* the latest answer */
} admin_t;

/*
 * Runs `sluice <command> ...` for command queues, topics, functions,
 * requests, dlq, cost or trace; argv[0] is the command. Returns an admin_exit_t.
 */
int admin_main(const char *prog, int argc, char **argv);

/* ---- between the admin files ------------------------------------------------------------------- */

/* The commands; each parses its own options from argv (argv[0] its name)
 * with admin_getopt and returns an admin_exit_t. */
int admin_queues(admin_t *ad, int argc, char **argv);
int admin_topics(admin_t *ad, int argc, char **argv);
int admin_functions(admin_t *ad, int argc, char **argv);
int admin_requests(admin_t *ad, int argc, char **argv);
int admin_dlq(admin_t *ad, int argc, char **argv);
int admin_cost(admin_t *ad, int argc, char **argv);
int admin_trace(admin_t *ad, int argc, char **argv);

/*
 * The options every command takes (--endpoint URL, --json, -h/--help) plus
 * the command's own (extra: getopt_long entries ending in a zero entry; val
 * the short letter, none of e j h). Calls on_opt for each of the command's
 * own with its letter and optarg; on_opt returns 0 or -1 (having said why).
 * Returns 0 with *first the index of the first operand, 1 for help (the
 * usage text printed), -1 on a usage error (said on stderr).
 */
typedef int (*admin_opt_cb)(admin_t *ad, int ch, const char *arg, void *ctx);
int admin_getopt(admin_t *ad, int argc, char **argv, const void *extra, admin_opt_cb on_opt, void *ctx,
                 const char *usage, int *first);

/* "sluice <cmd>: <message>" on stderr; returns ADMIN_EXIT_USAGE or the given code. */
int admin_fail(const admin_t *ad, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* A non-negative integer option in [lo, hi]; -1 (said) when not. */
int admin_uint_opt(const admin_t *ad, const char *name, const char *s, long lo, long hi, long *out);

/*
 * The wire calls. Each runs one exchange into ad->a and returns
 * ADMIN_EXIT_OK for a 2xx answer; otherwise it has said what went wrong
 * (the service's error code and message, or why the endpoint could not be
 * reached) and returns the exit status.
 *   admin_sqs: POST / with X-Amz-Target: AmazonSQS.<action> and body (JSON
 *              text); the answer's JSON is ad->a.json.
 *   admin_sns: POST / with the form "Action=<action>&<form>" (form already
 *              encoded, may be ""); the answer is XML in ad->a.body.
 *   admin_get: GET <path> (path with its query, encoded).
 * not_found: with it set, a 404 answer returns ADMIN_EXIT_FAILED without a
 * word (the caller speaks).
 */
int admin_sqs(admin_t *ad, const char *action, const char *body);
/* admin_sqs that says nothing of an error answer (the caller reads ad->a). */
int admin_sqs_quiet(admin_t *ad, const char *action, const char *body);
/* GetQueueAttributes of url for names (JSON array members: "\"All\""); *attrs
 * is the answer's Attributes (in ad->a: valid until the next call). */
int admin_queue_attributes(admin_t *ad, const char *url, const char *names, const jv_t **attrs);
int admin_sns(admin_t *ad, const char *action, const char *form);
int admin_get(admin_t *ad, const char *path, int not_found_quiet);

/* Appends s percent-encoded (RFC 3986 unreserved kept). */
void admin_urlencode(buf_t *out, const char *s);

/*
 * XML of an AWS query answer, read without a parser: the text of the next
 * <tag>…</tag> at or after *p (before end), entities decoded, as a new
 * string; *p moves past it. NULL when there is none. The answers read this
 * way are flat lists of simple elements.
 */
char *admin_xml_next(const char **p, const char *end, const char *tag);
/* The same element's content as it stands (entities kept): [*s, *e). 0, or
 * -1 when there is none. */
int admin_xml_span(const char **p, const char *end, const char *tag, const char **s, const char **e);

/* Columns: add rows of cells (copied), then print them aligned to stdout.
 * The first row is the header. */
typedef struct admin_table {
    size_t ncol;
    strv_t cells; /* row-major */
} admin_table_t;
void admin_table_row(admin_table_t *t, const char *const *cells);
void admin_table_print(admin_table_t *t); /* prints and frees */

/* The text of a JSON value for a cell: strings as they are, numbers and
 * the rest as JSON; "-" for NULL. A new string. */
char *admin_cell(const jv_t *v);

#endif
