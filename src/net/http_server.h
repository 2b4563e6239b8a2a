/*
 * http_server — Sluice's own HTTP/1.1 connection layer on the event loop:
 * accept, read, parse (http_parser), dispatch one exchange at a time per
 * connection, and write replies in order. Keep-alive and pipelining, chunked
 * request bodies, Expect: 100-continue, head/body limits (431/413), idle and
 * slow-client timeouts, a connection limit (503 beyond it), and an
 * admission bound on the requests in progress (http_ex.overloaded).
 *
 * Durability gating: every reply carries an LSN; its bytes are not written
 * until the store reports that LSN durable (http_server_durable). Replies on
 * one connection carry non-decreasing LSNs, so a connection's output is a
 * prefix that may go out now and a tail that waits.
 *
 * Exchanges: the handler gets an http_ex_t and must call http_ex_reply()
 * exactly once, now or later (a long poll replies later). The request
 * fields (head, body) are valid only during the handler call; anything a
 * deferred reply needs must be copied. If the connection goes away first,
 * the server calls ex->on_abort (when set) and frees the exchange; the owner
 * must not touch it afterwards. A client that stops sending (EOF, or a
 * half-close) while its exchange is out counts as gone: the exchange is
 * aborted, and replies already queued before it are still written. A
 * handler that may reply after returning must set on_abort.
 *
 * Admission: the server's load is the work it has taken on and not yet
 * answered on the wire — exchanges out (those a handler declared waiting
 * aside: http_ex_waiting), and admitted replies queued but not yet
 * released: held for the log, or queued in this loop iteration and waiting
 * for its flush. A request dispatched while the load is at max_pending
 * comes with ex->overloaded set: the handler answers it at once with a
 * refusal (503 in its protocol's shape), and that answer is not load.
 *
 * Threads: loop thread only.
 */
#ifndef SLUICE_HTTP_SERVER_H
#define SLUICE_HTTP_SERVER_H

#include <stddef.h>
#include <stdint.h>

#include "net/http_parser.h"
#include "net/loop.h"

typedef struct http_server http_server_t;
typedef struct http_ex http_ex_t;

typedef void (*http_handler_fn)(http_ex_t *ex, void *arg);
typedef void (*http_abort_fn)(http_ex_t *ex, void *arg);

struct http_ex {
    const http_head_t *head; /* valid during the handler call only */
    char *body;              /* decoded body, body_len bytes, NUL-terminated; the exchange's
                              * own copy: a handler may decode it in place (shorter, NUL kept) */
    size_t body_len;
    const char *peer;        /* "ip:port" of the client; valid until reply/abort */
    http_abort_fn on_abort;  /* set by a handler that replies later */
    unsigned shape;          /* set by the handler: which failure reply stands in for
                              * its reply if the store fails first (http_server_fail) */
    void *abort_arg;
    int overloaded;          /* dispatched over the admission bound: answer at once with a refusal
                              * (503 and Retry-After), without doing the work */
    int busy;                /* internal: counted in the server's load */
    struct http_conn *conn;  /* internal */
};

typedef struct http_server_config {
    const char *host;
    int port;                 /* 0 picks a free port (tests) */
    http_limits_t limits;
    unsigned max_connections;
    unsigned max_per_client;     /* open connections from one peer address; 0: no bound */
    uint64_t idle_timeout_ms;    /* keep-alive connection with no request */
    uint64_t request_timeout_ms; /* first byte of a request to its full body */
    uint64_t write_timeout_ms;   /* a client that does not read its replies */
    unsigned max_pending;        /* admission bound on the load (see above); 0: no bound */
    /* Called when a request would be refused for load, before it is: it may
     * report durability the store has reached but not yet announced
     * (http_server_durable), releasing held replies first. NULL: not asked. */
    void (*poll_durable)(void *arg);
    void *poll_arg;
} http_server_config_t;

void http_server_config_defaults(http_server_config_t *c);

/* Binds and listens. Returns NULL and fills why on failure. */
http_server_t *http_server_new(loop_t *loop, const http_server_config_t *cfg, http_handler_fn handler,
                               void *arg, char *why, size_t why_len);
int http_server_port(const http_server_t *srv); /* the bound port */

/*
 * Queues the reply for ex and frees ex. extra_headers is NULL or a
 * preformatted block of "Name: value\r\n" lines. The reply leaves once the
 * store's durable LSN reaches lsn (0: immediately).
 */
void http_ex_reply(http_ex_t *ex, int status, const char *content_type, const char *extra_headers,
                   const char *body, size_t body_len, uint64_t lsn);

/* The reply that stands in for one the store can no longer make durable
 * (filled by the owner for an exchange's shape; strings NUL-terminated). */
typedef struct http_canned {
    int status;
    char ctype[64];
    char headers[256]; /* "Name: value\r\n" lines, or "" */
    char body[1024];
    size_t body_len;
} http_canned_t;
typedef void (*http_fail_fn)(void *arg, unsigned shape, http_canned_t *out);

/*
 * The store has failed: durability will not advance again. Every reply held
 * for an LSN beyond the durable one — now or queued later — is replaced by
 * fail's reply for its exchange's shape, and its connection closes after it.
 * Replies already durable go out unchanged, in order.
 */
void http_server_fail(http_server_t *srv, http_fail_fn fail, void *arg);

/* The exchange waits for an event rather than for work (a long poll): it
 * no longer counts as load. Its reply, when it comes, counts as any other. */
void http_ex_waiting(http_ex_t *ex);

/* Releases replies whose LSN is now durable. */
void http_server_durable(http_server_t *srv, uint64_t durable_lsn);

/* Graceful stop: close the listener and idle connections; connections with an
 * exchange in progress or output pending close once their reply is written.
 * done runs (once) when no connection is left. */
void http_server_shutdown(http_server_t *srv, void (*done)(void *), void *arg);
/* Closes everything immediately (pending exchanges are aborted) and
 * unregisters from the loop; srv is freed at the end of the loop iteration
 * (or by loop_free), so the loop may go on running. */
void http_server_free(http_server_t *srv);

typedef struct http_server_stats {
    uint64_t accepted, rejected, requests, open, pending_exchanges;
    uint64_t shed; /* requests dispatched over the admission bound */
    uint64_t load; /* the load now (see Admission above) */
} http_server_stats_t;
void http_server_get_stats(const http_server_t *srv, http_server_stats_t *out);

#endif
