/*
 * loop — epoll + timer heap + eventfd; see loop.h for the model.
 * Platform-specific by design: this is the epoll backend.
 */
#include "net/loop.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "util/alloc.h"
#include "util/clock.h"

#define LOOP_MAX_EVENTS 256

struct loop {
    int epfd;
    int stopping;
    uint64_t now;
    heap_t timers;
    void **deferred;
    size_t ndeferred, capdeferred;
    struct loop_hook {
        loop_hook_cb cb;
        void *arg;
    } *hooks; /* grows: every HTTP listener (one per runtime process) adds one */
    int nhooks, caphooks;
    int hook_next;       /* loop_end_iteration: index of the next hook to run */
    uint64_t timer_pass; /* counts loop_run_timers passes; see loop_timer_at */
};

loop_t *loop_new(void)
{
    loop_t *loop = xcalloc(1, sizeof *loop);
    loop->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (loop->epfd < 0) {
        free(loop);
        return NULL;
    }
    heap_init(&loop->timers);
    loop->now = clock_mono_ms();
    return loop;
}

void loop_free(loop_t *loop)
{
    if (!loop)
        return;
    close(loop->epfd);
    heap_free(&loop->timers);
    for (size_t i = 0; i < loop->ndeferred; i++)
        free(loop->deferred[i]);
    free(loop->deferred);
    free(loop->hooks);
    free(loop);
}

int loop_io_start(loop_t *loop, loop_io_t *io, int fd, uint32_t events, loop_io_cb cb, void *arg)
{
    io->fd = fd;
    io->events = events;
    io->cb = cb;
    io->arg = arg;
    struct epoll_event ev = {.events = events, .data.ptr = io};
    return epoll_ctl(loop->epfd, EPOLL_CTL_ADD, fd, &ev) < 0 ? -errno : 0;
}

int loop_io_modify(loop_t *loop, loop_io_t *io, uint32_t events)
{
    if (io->events == events)
        return 0;
    io->events = events;
    struct epoll_event ev = {.events = events, .data.ptr = io};
    return epoll_ctl(loop->epfd, EPOLL_CTL_MOD, io->fd, &ev) < 0 ? -errno : 0;
}

void loop_io_stop(loop_t *loop, loop_io_t *io)
{
    if (io->fd >= 0)
        epoll_ctl(loop->epfd, EPOLL_CTL_DEL, io->fd, NULL);
    io->fd = -1;
}

void loop_timer_init(loop_timer_t *t, loop_timer_cb cb, void *arg)
{
    heap_node_init(&t->node);
    t->cb = cb;
    t->arg = arg;
    t->armed_in = 0;
}

void loop_timer_at(loop_t *loop, loop_timer_t *t, uint64_t due_ms)
{
    t->armed_in = loop->timer_pass;
    heap_set(&loop->timers, &t->node, due_ms);
}

void loop_timer_start(loop_t *loop, loop_timer_t *t, uint64_t delay_ms)
{
    loop_timer_at(loop, t, loop->now + delay_ms);
}

void loop_timer_stop(loop_t *loop, loop_timer_t *t)
{
    heap_remove(&loop->timers, &t->node);
}

static void loop_async_ready(loop_t *loop, int fd, uint32_t events, void *arg)
{
    (void)events;
    loop_async_t *a = arg;
    uint64_t v;
    ssize_t r = read(fd, &v, sizeof v); /* resets the counter; EAGAIN is harmless */
    (void)r;
    a->cb(loop, a);
}

int loop_async_init(loop_t *loop, loop_async_t *a, loop_async_cb cb, void *arg)
{
    int fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (fd < 0)
        return -errno;
    a->cb = cb;
    a->arg = arg;
    int rc = loop_io_start(loop, &a->io, fd, EPOLLIN, loop_async_ready, a);
    if (rc < 0)
        close(fd);
    return rc;
}

void loop_async_send(loop_async_t *a)
{
    uint64_t one = 1;
    ssize_t r = write(a->io.fd, &one, sizeof one);
    (void)r; /* a full counter still wakes the loop */
}

void loop_async_close(loop_t *loop, loop_async_t *a)
{
    int fd = a->io.fd;
    loop_io_stop(loop, &a->io);
    if (fd >= 0)
        close(fd);
}

void loop_defer_free(loop_t *loop, void *p)
{
    if (loop->ndeferred == loop->capdeferred) {
        loop->capdeferred = loop->capdeferred ? loop->capdeferred * 2 : 16;
        loop->deferred = xrealloc(loop->deferred, loop->capdeferred * sizeof *loop->deferred);
    }
    loop->deferred[loop->ndeferred++] = p;
}

void loop_add_hook(loop_t *loop, loop_hook_cb cb, void *arg)
{
    if (loop->nhooks == loop->caphooks) {
        loop->caphooks = loop->caphooks ? loop->caphooks * 2 : 8;
        loop->hooks = xrealloc(loop->hooks, (size_t)loop->caphooks * sizeof *loop->hooks);
    }
    loop->hooks[loop->nhooks].cb = cb;
    loop->hooks[loop->nhooks].arg = arg;
    loop->nhooks++;
}

int loop_remove_hook(loop_t *loop, loop_hook_cb cb, void *arg)
{
    for (int i = 0; i < loop->nhooks; i++) {
        if (loop->hooks[i].cb != cb || loop->hooks[i].arg != arg)
            continue;
        memmove(&loop->hooks[i], &loop->hooks[i + 1], (size_t)(loop->nhooks - i - 1) * sizeof loop->hooks[0]);
        loop->nhooks--;
        if (i < loop->hook_next)
            loop->hook_next--; /* keep pointing at the same next hook */
        return 0;
    }
    return -ENOENT;
}

static void loop_end_iteration(loop_t *loop)
{
    /* hook_next lives in the loop so that loop_remove_hook can adjust it */
    for (loop->hook_next = 0; loop->hook_next < loop->nhooks;) {
        int i = loop->hook_next++;
        loop->hooks[i].cb(loop, loop->hooks[i].arg);
    }
    for (size_t i = 0; i < loop->ndeferred; i++)
        free(loop->deferred[i]);
    loop->ndeferred = 0;
}

void loop_stop(loop_t *loop)
{
    loop->stopping = 1;
}

uint64_t loop_now_ms(const loop_t *loop)
{
    return loop->now;
}

void loop_update_time(loop_t *loop)
{
    loop->now = clock_mono_ms();
}

/* Runs the due timers. One armed during this pass (by a callback) ends the
 * pass even if due: it and whatever is due after it run next iteration,
 * which then polls with a zero timeout. Without that, a callback re-arming
 * itself at 0 delay would spin here and starve every socket. */
static void loop_run_timers(loop_t *loop)
{
    heap_node_t *n;
    uint64_t pass = ++loop->timer_pass;
    while ((n = heap_min(&loop->timers)) && n->key <= loop->now) {
        loop_timer_t *t = (loop_timer_t *)((char *)n - offsetof(loop_timer_t, node));
        if (t->armed_in == pass)
            break;
        heap_remove(&loop->timers, n);
        t->cb(loop, t);
    }
}

static int loop_timeout(const loop_t *loop)
{
    heap_node_t *n = heap_min(&loop->timers);
    if (!n)
        return -1;
    if (n->key <= loop->now)
        return 0;
    uint64_t d = n->key - loop->now;
    return d > 60000 ? 60000 : (int)d;
}

int loop_run(loop_t *loop)
{
    struct epoll_event evs[LOOP_MAX_EVENTS];
    loop->stopping = 0;
    while (!loop->stopping) {
        int n = epoll_wait(loop->epfd, evs, LOOP_MAX_EVENTS, loop_timeout(loop));
        if (n < 0 && errno != EINTR)
            return -errno;
        loop_update_time(loop);
        for (int i = 0; i < n; i++) {
            loop_io_t *io = evs[i].data.ptr;
            if (io->fd >= 0)
                io->cb(loop, io->fd, evs[i].events, io->arg);
        }
        loop_run_timers(loop);
        loop_end_iteration(loop);
    }
    return 0;
}
