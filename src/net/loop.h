/*
 * loop — the event loop that owns all engine state: epoll for sockets, a
 * min-heap of timers, and an eventfd through which other threads (the log
 * thread) wake it. One loop per process, run by one thread; every callback
 * runs on that thread, so engine code needs no locks. Only loop_async_send()
 * may be called from other threads.
 *
 * Time: loop_now_ms() is the monotonic clock, cached once per iteration so
 * that all work done for one batch of events sees one "now".
 */
#ifndef SLUICE_LOOP_H
#define SLUICE_LOOP_H

#include <stdint.h>

#include "util/heap.h"

typedef struct loop loop_t;

typedef void (*loop_io_cb)(loop_t *loop, int fd, uint32_t events, void *arg);

typedef struct loop_io {
    int fd;
    uint32_t events; /* EPOLLIN / EPOLLOUT currently registered */
    loop_io_cb cb;
    void *arg;
} loop_io_t;

typedef struct loop_timer loop_timer_t;
typedef void (*loop_timer_cb)(loop_t *loop, loop_timer_t *t);

struct loop_timer {
    heap_node_t node; /* key = due time, monotonic ms */
    loop_timer_cb cb;
    void *arg;
    uint64_t armed_in; /* internal: the timer pass during which it was last armed */
};

typedef struct loop_async loop_async_t;
typedef void (*loop_async_cb)(loop_t *loop, loop_async_t *a);

struct loop_async {
    loop_io_t io;
    loop_async_cb cb;
    void *arg;
};

loop_t *loop_new(void);
void loop_free(loop_t *loop);

/* Registers io->fd for events (EPOLLIN/EPOLLOUT, edge-free). Returns 0 or -errno. */
int loop_io_start(loop_t *loop, loop_io_t *io, int fd, uint32_t events, loop_io_cb cb, void *arg);
/* Changes the event mask; cheap no-op if unchanged. */
int loop_io_modify(loop_t *loop, loop_io_t *io, uint32_t events);
void loop_io_stop(loop_t *loop, loop_io_t *io);

void loop_timer_init(loop_timer_t *t, loop_timer_cb cb, void *arg);
/* (Re)arms t to fire once at now + delay_ms. Due timers fire in order of
 * due time (ties in unspecified order), after the iteration's I/O callbacks.
 * A timer armed by a timer callback fires at the next iteration at the
 * earliest, even if already due, so a callback that re-arms itself with 0
 * delay cannot keep the loop from polling. */
void loop_timer_start(loop_t *loop, loop_timer_t *t, uint64_t delay_ms);
/* Arms t at an absolute monotonic time. */
void loop_timer_at(loop_t *loop, loop_timer_t *t, uint64_t due_ms);
void loop_timer_stop(loop_t *loop, loop_timer_t *t);
static inline int loop_timer_active(const loop_timer_t *t)
{
    return heap_contains(&t->node);
}

/* Creates an eventfd wake-up; cb runs on the loop after any number of sends. */
int loop_async_init(loop_t *loop, loop_async_t *a, loop_async_cb cb, void *arg);
void loop_async_send(loop_async_t *a); /* thread-safe */
void loop_async_close(loop_t *loop, loop_async_t *a);

/* Frees p (with free()) after the current batch of events has been handled,
 * so a callback may retire an object another pending event still points to. */
void loop_defer_free(loop_t *loop, void *p);
/* Registers cb to run at the end of every iteration, after I/O and timers
 * (the store hands the iteration's log records to its thread here; each
 * HTTP listener flushes its replies). Hooks run in the order added. */
typedef void (*loop_hook_cb)(loop_t *loop, void *arg);
void loop_add_hook(loop_t *loop, loop_hook_cb cb, void *arg);
/* Unregisters the hook added with exactly (cb, arg); safe from inside a hook
 * (a removed hook that has not run yet this iteration does not run). Returns
 * 0, or -ENOENT if no such hook is registered. */
int loop_remove_hook(loop_t *loop, loop_hook_cb cb, void *arg);

/* Runs until loop_stop(); returns 0, or -errno if epoll fails. */
int loop_run(loop_t *loop);
void loop_stop(loop_t *loop);
uint64_t loop_now_ms(const loop_t *loop);
/* Refreshes the cached time; for long callbacks that need a fresh now. */
void loop_update_time(loop_t *loop);

#endif
