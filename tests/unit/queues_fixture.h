/*
 * queues_fixture — helpers shared by the queue engine tests
 * (test_queues*.c): an engine on a fake clock, short ways to create queues,
 * send and receive, read one attribute, and status checks that print the
 * status names. Everything is static inline so each test file takes only
 * what it uses.
 */
#ifndef SLUICE_QUEUES_FIXTURE_H
#define SLUICE_QUEUES_FIXTURE_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "queues/queues.h"

#define QT_REGION "us-east-1"
#define QT_ACCOUNT "123456789012"
#define QT_ARN(name) "arn:aws:sqs:" QT_REGION ":" QT_ACCOUNT ":" name
#define QT_T0 1700000000000ull /* the fake clock's start, wall ms */

/* An array literal and its length, for the (pointer, count) parameters. */
#define KV(...) (kv_t[]){__VA_ARGS__}, sizeof((kv_t[]){__VA_ARGS__}) / sizeof(kv_t)
#define STRS(...) (const char *[]){__VA_ARGS__}, sizeof((const char *[]){__VA_ARGS__}) / sizeof(const char *)

#define CHECK_ST(a, b)                                                                                        \
    do {                                                                                                      \
        status_t sa_ = (a), sb_ = (b);                                                                        \
        if (sa_ != sb_) {                                                                                     \
            harness_fail(__FILE__, __LINE__, "%s == ST_%s, want ST_%s", #a, status_name(sa_), status_name(sb_)); \
            return;                                                                                           \
        }                                                                                                     \
    } while (0)

/* A failing call: its status and the exact client-facing message. */
#define CHECK_ERR(call, st, text)                                                                             \
    do {                                                                                                      \
        err_t e_;                                                                                             \
        memset(&e_, 0, sizeof e_);                                                                            \
        status_t s_ = (call);                                                                                 \
        if (s_ != (st)) {                                                                                     \
            harness_fail(__FILE__, __LINE__, "%s == ST_%s (\"%s\"), want ST_%s", #call, status_name(s_),      \
                         s_ == ST_OK ? "" : e_.msg, status_name(st));                                         \
            return;                                                                                           \
        }                                                                                                     \
        CHECK_STR(e_.msg, (text));                                                                            \
    } while (0)
/* In CHECK_ERR calls the error argument is spelled ERR. */
#define ERR (&e_)

static uint64_t qt_now_ms = QT_T0;

static inline uint64_t qt_clock(void)
{
    return qt_now_ms;
}

static inline void qt_set_time(uint64_t ms_since_t0)
{
    qt_now_ms = QT_T0 + ms_since_t0;
}

/* Advances the fake clock and does what is due. */
static inline uint64_t qt_advance(queues_t *qs, uint64_t ms)
{
    qt_now_ms += ms;
    return queues_tick(qs);
}

static inline queues_t *qt_engine_on(store_t *store)
{
    queues_config_t cfg = {.region = QT_REGION, .account = QT_ACCOUNT};
    queues_t *qs = queues_new(&cfg, store);
    queues_set_clock(qs, qt_clock);
    return qs;
}

static inline queues_t *qt_engine(void)
{
    qt_now_ms = QT_T0;
    return qt_engine_on(NULL);
}

static inline queue_t *qt_create(queues_t *qs, const char *name, const kv_t *attrs, size_t n)
{
    queue_t *q = NULL;
    err_t err;
    status_t st = queues_create(qs, name, attrs, n, NULL, 0, &q, &err);
    if (st != ST_OK) {
        fprintf(stderr, "    qt_create(%s): %s %s\n", name, status_name(st), err.msg);
        return NULL;
    }
    return q;
}

static inline send_req_t qt_req(const char *body)
{
    send_req_t r;
    memset(&r, 0, sizeof r);
    r.body = body;
    r.body_len = body ? strlen(body) : 0;
    r.body_given = body != NULL;
    r.sender_id = "AIDAIT2UOQQY3AUEKVGXU";
    return r;
}

static inline status_t qt_send_req(queue_t *q, const send_req_t *r, send_res_t *res, err_t *err)
{
    send_res_t scratch;
    err_t e2;
    return queue_send(q, r, res ? res : &scratch, err ? err : &e2);
}

/* Sends body (FIFO: into group with dedup id dedup, either may be NULL). */
static inline status_t qt_send(queue_t *q, const char *body, const char *group, const char *dedup, send_res_t *res)
{
    send_req_t r = qt_req(body);
    r.group_id = group;
    r.dedup_id = dedup;
    return qt_send_req(q, &r, res, NULL);
}

static inline status_t qt_send_delay(queue_t *q, const char *body, long delay)
{
    send_req_t r = qt_req(body);
    r.delay = delay;
    r.delay_given = 1;
    return qt_send_req(q, &r, NULL, NULL);
}

/* Receives up to max; vis < 0 means the queue's VisibilityTimeout. Returns
 * the count, or -1 on an error. */
static inline int qt_recv(queue_t *q, long max, long vis, recv_res_t *res)
{
    recv_req_t r = {.max = max, .visibility = vis, .visibility_given = vis >= 0};
    err_t err;
    recv_res_t scratch;
    if (!res)
        res = &scratch;
    return queue_receive(q, &r, res, &err) == ST_OK ? res->n : -1;
}

/* The bodies received, joined with ',' ("" when none). */
static inline const char *qt_bodies(const recv_res_t *res)
{
    static char out[4096];
    out[0] = '\0';
    for (int i = 0; i < res->n; i++) {
        if (i)
            strncat(out, ",", sizeof out - strlen(out) - 1);
        strncat(out, res->msgs[i]->body, sizeof out - strlen(out) - 1);
    }
    return out;
}

/* One attribute's value as GetQueueAttributes gives it, or NULL when absent. */
static inline const char *qt_attr(queue_t *q, const char *name)
{
    static char out[2048];
    kvv_t kv = {0};
    err_t err;
    const char *names[] = {name};
    const char *v = NULL;
    if (queue_get_attributes(q, names, 1, &kv, &err) == ST_OK && kv.n == 1 && strcmp(kv.v[0].key, name) == 0) {
        snprintf(out, sizeof out, "%s", kv.v[0].val);
        v = out;
    }
    kvv_free(&kv);
    return v;
}

/* "visible/not-visible/delayed" as the Approximate* attributes give them. */
static inline const char *qt_counts(queue_t *q)
{
    static char out[128];
    static const char *const names[] = {"ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible",
                                        "ApproximateNumberOfMessagesDelayed"};
    size_t o = 0;
    for (int i = 0; i < 3; i++) {
        const char *v = qt_attr(q, names[i]);
        if (i)
            out[o++] = '/';
        for (v = v ? v : "?"; *v && o < 40 * (size_t)(i + 1); v++)
            out[o++] = *v;
    }
    out[o] = '\0';
    return out;
}

#endif
