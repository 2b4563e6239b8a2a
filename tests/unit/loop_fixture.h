/*
 * loop_fixture — runs an event loop in a test until a condition holds or a
 * deadline passes, so no test can hang on a loop that never stops.
 */
#ifndef SLUICE_LOOP_FIXTURE_H
#define SLUICE_LOOP_FIXTURE_H

#include "net/loop.h"

typedef int (*pred_fn)(void *arg);

typedef struct waiter {
    loop_timer_t poll, deadline;
    pred_fn pred;
    void *arg;
    int ok;
} waiter_t;

static void waiter_poll(loop_t *loop, loop_timer_t *t)
{
    waiter_t *w = t->arg;
    if (w->pred(w->arg)) {
        w->ok = 1;
        loop_stop(loop);
    } else {
        loop_timer_start(loop, t, 1);
    }
}

static void waiter_deadline(loop_t *loop, loop_timer_t *t)
{
    (void)t;
    loop_stop(loop);
}

/* Runs the loop until pred(arg) holds (1) or ms pass (0). */
static inline int run_until(loop_t *loop, pred_fn pred, void *arg, uint64_t ms)
{
    waiter_t w = {.pred = pred, .arg = arg};
    loop_update_time(loop);
    loop_timer_init(&w.poll, waiter_poll, &w);
    loop_timer_init(&w.deadline, waiter_deadline, &w);
    loop_timer_start(loop, &w.poll, 0);
    loop_timer_start(loop, &w.deadline, ms);
    loop_run(loop);
    loop_timer_stop(loop, &w.poll);
    loop_timer_stop(loop, &w.deadline);
    return w.ok;
}

static inline int never(void *arg)
{
    (void)arg;
    return 0;
}

#endif
