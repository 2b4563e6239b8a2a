/*
 * snapshot — checkpoints and the loading of snapshots.
 *
 * A checkpoint covers X = store_last_lsn() at the moment it starts:
 *   1. loop: hand the batch to the log thread with a rotation request, so
 *      every record <= X ends up in segments named below X+1;
 *   2. loop: fork(); the child writes snap-X.dat.tmp (header, the engine's
 *      records via store_snap_put in 1 MiB buffered writes, trailer), fsyncs
 *      it and _exits 0 — or 1..4 saying which step failed. The child touches
 *      nothing of the parent's but its own copy of the engine state: no loop,
 *      no log thread, no mutex. It first closes every descriptor it
 *      inherited but stdin/out/err and asks to be killed when the parent
 *      dies: a child outliving a killed daemon would otherwise hold the
 *      directory lock, the listening socket and the clients' connections,
 *      and the restart would find the directory locked;
 *   3. loop: a pidfd (or, without pidfd support, a 10 ms timer polling
 *      waitpid) says the child has ended; on success the install is queued
 *      to the log thread, which takes it after the rotation, i.e. once every
 *      record <= X has been written (and, under "always", fdatasync'ed);
 *   4. log thread: rename tmp → snap-X.dat, fsync the directory, delete
 *      older snapshots and the segments wal-F with F <= X (wal-(X+1) exists,
 *      so those hold only records <= X), log sizes and duration;
 *   5. loop: the async wake-up collects the result (snapshot_lsn, counters).
 * On any failure the tmp file is removed and every segment is kept.
 *
 * Recovery uses the newest snapshot that validates completely (header,
 * every checksum, record numbering, trailer count, nothing after the
 * trailer) before a single record is applied. An invalid newer snapshot is
 * skipped with a warning only if the log still covers everything it did;
 * wal.c fails recovery otherwise, quoting why the snapshot was unusable.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "store/io.h"
#include "store/store_int.h"
#include "util/alloc.h"
#include "util/clock.h"
#include "util/logging.h"

#define SNAP_FLUSH_BYTES (1u << 20)
#define SNAP_POLL_MS 10

/* Child exit statuses. */
enum { SNAP_OK, SNAP_EOPEN, SNAP_EDUMP, SNAP_EWRITE, SNAP_EFSYNC, SNAP_ELOST, SNAP_EPARENT };
static const char *const snap_exit_what[] = {"ok",           "cannot create the temp file", "dump callback failed",
                                             "write failed", "fsync failed", "exit status lost (reaped elsewhere)",
                                             "the parent was gone"};

struct store_snap {
    int fd;
    int err; /* first -errno of a write, or -EINVAL for a reserved type */
    uint64_t count;
    buf_t buf;
};

/* ---- the child ---- */

static void snap_flush(store_snap_t *s)
{
    if (!s->err && s->buf.len)
        s->err = io_write_all(s->fd, s->buf.data, s->buf.len);
    buf_reset(&s->buf);
}

void store_snap_put(store_snap_t *s, uint8_t type, const void *payload, size_t len)
{
    if (s->err)
        return;
    if (type < STORE_TYPE_MIN || type > STORE_TYPE_MAX) {
        s->err = -EINVAL;
        return;
    }
    store__frame(&s->buf, ++s->count, type, payload, len);
    if (s->buf.len >= SNAP_FLUSH_BYTES)
        snap_flush(s);
}

static void snap_tmp_path(const store_t *st, uint64_t lsn, char *out, size_t cap)
{
    char name[STORE__NAME_MAX];
    store__name(name, "snap-", lsn, ".dat.tmp");
    store__path(st, name, out, cap);
}

/* Closes every descriptor above stderr: through close_range, or on kernels
 * before 5.9 one by one as /proc/self/fd lists them. */
static void snap_close_inherited(void)
{
    if (close_range(3, ~0u, 0) == 0)
        return;
    DIR *d = opendir("/proc/self/fd");
    struct dirent *e;
    while (d && (e = readdir(d))) {
        int fd = atoi(e->d_name);
        if (fd > 2 && fd != dirfd(d))
            close(fd);
    }
    if (d)
        closedir(d);
}

/* The child lets go of the parent's files and dies with it (see the top):
 * no one would install a snapshot whose parent is gone, and recovery
 * removes its tmp file. */
static void snap_child_detach(pid_t parent)
{
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent)
        _exit(SNAP_EPARENT); /* the parent died before the request took */
    snap_close_inherited();
}

static int snap_write(const store_t *st, uint64_t lsn, store_dump_fn dump, void *ctx)
{
    char path[PATH_MAX];
    uint8_t hdr[STORE__FILE_HDR], cnt[8];
    store_snap_t s = {.fd = -1};
    snap_tmp_path(st, lsn, path, sizeof path);
    if ((s.fd = io_ops.open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644)) < 0)
        return SNAP_EOPEN;
    store__hdr_put(hdr, STORE__SNAP_MAGIC, lsn);
    buf_append(&s.buf, hdr, sizeof hdr);
    if (dump(ctx, &s) != 0)
        return SNAP_EDUMP;
    for (int i = 0; i < 8; i++)
        cnt[i] = (uint8_t)(s.count >> (8 * i));
    store__frame(&s.buf, lsn, STORE__TRAILER, cnt, sizeof cnt);
    snap_flush(&s);
    if (s.err)
        return s.err == -EINVAL ? SNAP_EDUMP : SNAP_EWRITE; /* -EINVAL: a reserved type was put */
    return io_ops.fsync(s.fd) < 0 || close(s.fd) < 0 ? SNAP_EFSYNC : SNAP_OK;
}

/* ---- watching the child (loop thread) ---- */

static void snap_discard(store_t *st, const char *why)
{
    char path[PATH_MAX];
    snap_tmp_path(st, st->ckpt.lsn, path, sizeof path);
    unlink(path);
    log_error("store_checkpoint_failed", "dir=%s lsn=%llu reason=\"%s\"", st->dir, (unsigned long long)st->ckpt.lsn,
              why);
}

static void snap_unwatch(store_t *st)
{
    if (st->ckpt.pidfd >= 0) {
        loop_io_stop(st->loop, &st->ckpt.io);
        close(st->ckpt.pidfd);
        st->ckpt.pidfd = -1;
    }
    loop_timer_stop(st->loop, &st->ckpt.timer);
}

static void snap_request_install(store_t *st)
{
    st->ckpt.waiting = 1;
    pthread_mutex_lock(&st->mu);
    st->install_lsn = st->ckpt.lsn;
    pthread_cond_signal(&st->cond);
    pthread_mutex_unlock(&st->mu);
}

static void snap_reaped(store_t *st, int status)
{
    char why[96];
    snap_unwatch(st);
    st->ckpt.pid = 0;
    if (WIFEXITED(status) && WEXITSTATUS(status) == SNAP_OK) {
        snap_request_install(st);
        return;
    }
    if (WIFEXITED(status) && WEXITSTATUS(status) <= SNAP_EPARENT)
        snprintf(why, sizeof why, "child: %s", snap_exit_what[WEXITSTATUS(status)]);
    else if (WIFEXITED(status))
        snprintf(why, sizeof why, "child exited with status %d", WEXITSTATUS(status));
    else
        snprintf(why, sizeof why, "child killed by signal %d", WIFSIGNALED(status) ? WTERMSIG(status) : 0);
    snap_discard(st, why);
}

/* 1 once the child is reaped (*status set; a status someone else reaped
 * counts as a failure), 0 while it runs (WNOHANG). */
static int snap_wait(store_t *st, int flags, int *status)
{
    pid_t r;
    while ((r = waitpid(st->ckpt.pid, status, flags)) < 0 && errno == EINTR)
        ;
    if (r < 0)
        *status = W_EXITCODE(SNAP_ELOST, 0);
    return r != 0;
}

static void snap_on_pidfd(loop_t *loop, int fd, uint32_t events, void *arg)
{
    (void)loop, (void)fd, (void)events;
    store_t *st = arg;
    int status;
    if (snap_wait(st, WNOHANG, &status))
        snap_reaped(st, status);
}

static void snap_on_timer(loop_t *loop, loop_timer_t *t)
{
    store_t *st = t->arg;
    int status;
    if (snap_wait(st, WNOHANG, &status))
        snap_reaped(st, status);
    else
        loop_timer_start(loop, t, SNAP_POLL_MS);
}

static void snap_watch(store_t *st)
{
    int fd = (int)syscall(SYS_pidfd_open, st->ckpt.pid, 0);
    if (fd >= 0 && loop_io_start(st->loop, &st->ckpt.io, fd, EPOLLIN, snap_on_pidfd, st) == 0) {
        st->ckpt.pidfd = fd;
        return;
    }
    if (fd >= 0)
        close(fd);
    loop_timer_start(st->loop, &st->ckpt.timer, SNAP_POLL_MS);
}

void snap__init(store_t *st)
{
    st->ckpt.pidfd = -1;
    loop_timer_init(&st->ckpt.timer, snap_on_timer, st);
}

int store_checkpoint(store_t *st, store_dump_fn dump, void *ctx)
{
    if (!st->started)
        return -EINVAL;
    if (store_checkpoint_running(st))
        return -EBUSY;
    if (store_failed(st))
        return -EIO;
    uint64_t lsn = st->last_lsn;
    if (lsn == st->snapshot_lsn)
        return 0; /* nothing new to cover */
    wal__handover(st, 1);
    pid_t parent = getpid(), pid = fork();
    if (pid < 0)
        return -errno;
    if (pid == 0) {
        snap_child_detach(parent);
        _exit(snap_write(st, lsn, dump, ctx));
    }
    st->ckpt.pid = pid;
    st->ckpt.lsn = lsn;
    st->ckpt.mark = st->log_bytes_since_snapshot;
    st->ckpt.start_ms = clock_mono_ms();
    snap_watch(st);
    return 0;
}

void snap__poll(store_t *st)
{
    pthread_mutex_lock(&st->mu);
    int r = st->install_result;
    st->install_result = 0;
    pthread_mutex_unlock(&st->mu);
    if (!r)
        return;
    st->ckpt.waiting = 0;
    if (r < 0)
        return;
    st->snapshot_lsn = st->ckpt.lsn;
    st->snapshot_wall_ms = clock_wall_ms();
    st->log_bytes_since_snapshot -= st->ckpt.mark;
}

void snap__close(store_t *st)
{
    int status;
    if (st->ckpt.pid && snap_wait(st, 0, &status))
        snap_reaped(st, status); /* queues the install the stopping thread will do */
}

/* ---- install (log thread) ---- */

static uint64_t snap_file_size(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0 ? (uint64_t)sb.st_size : 0;
}

/* Deletes files named <prefix><lsn><suffix> with lsn < below; counts bytes. */
static unsigned snap_prune(store_t *st, const char *prefix, const char *suffix, uint64_t below, uint64_t *bytes)
{
    store__file_t *f;
    size_t n = store__list(st, prefix, suffix, &f);
    unsigned removed = 0;
    for (size_t i = 0; i < n && f[i].lsn < below; i++) {
        char path[PATH_MAX];
        store__path(st, f[i].name, path, sizeof path);
        uint64_t size = snap_file_size(path);
        if (unlink(path) == 0) {
            removed++;
            *bytes += size;
        }
    }
    free(f);
    return removed;
}

static int snap_install_fail(store_t *st, const char *tmp, uint64_t lsn, const char *op, int err)
{
    char eb[128];
    if (tmp)
        unlink(tmp);
    log_error("store_checkpoint_failed", "dir=%s lsn=%llu op=%s error=\"%s\"", st->dir, (unsigned long long)lsn, op,
              strerror_r(err, eb, sizeof eb));
    return -1;
}

int snap__install(store_t *st, uint64_t lsn)
{
    char tmp[PATH_MAX], dst[PATH_MAX], name[STORE__NAME_MAX];
    uint64_t freed = 0, old = 0;
    snap_tmp_path(st, lsn, tmp, sizeof tmp);
    store__name(name, "snap-", lsn, ".dat");
    store__path(st, name, dst, sizeof dst);
    if (atomic_load(&st->failed) || atomic_load(&st->active_first) <= lsn)
        return snap_install_fail(st, tmp, lsn, "install", EIO);
    if (io_ops.rename(tmp, dst) < 0)
        return snap_install_fail(st, tmp, lsn, "rename", errno);
    int rc = io_fsync_dir(st->dir);
    if (rc < 0) /* the snapshot may or may not survive a crash: keep the log */
        return snap_install_fail(st, NULL, lsn, "fsync dir", -rc);
    unsigned snaps = snap_prune(st, "snap-", ".dat", lsn, &old);
    unsigned segs = snap_prune(st, "wal-", ".log", lsn + 1, &freed);
    atomic_fetch_sub(&st->segments, segs);
    log_info("store_checkpoint", "dir=%s lsn=%llu snapshot_bytes=%llu segments_deleted=%u log_bytes_freed=%llu "
             "snapshots_deleted=%u ms=%llu", st->dir, (unsigned long long)lsn,
             (unsigned long long)snap_file_size(dst), segs, (unsigned long long)freed, snaps,
             (unsigned long long)(clock_mono_ms() - st->ckpt.start_ms));
    return 0;
}

/* ---- recovery ---- */

typedef struct snap_scan {
    const store__map_t *m;
    uint64_t lsn;
    store_apply_fn apply; /* NULL: validate only */
    void *ctx;
} snap_scan_t;

static uint64_t snap_get64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

static const char *snap_trailer(const snap_scan_t *s, const store__rec_t *r, size_t off, uint64_t count)
{
    if (r->lsn != s->lsn)
        return "trailer lsn does not match the header";
    if (r->len != 8 || snap_get64(r->payload) != count)
        return "trailer record count does not match";
    if (off + r->size != s->m->n)
        return "data after the trailer";
    return NULL;
}

/* Returns 0 when the trailer is reached; -1 with *what and *off otherwise. */
static int snap_scan(const snap_scan_t *s, size_t *off, const char **what)
{
    store__rec_t r;
    uint64_t count = 0;
    int k;
    *off = STORE__FILE_HDR;
    while ((k = store__rec_next(s->m->p, s->m->n, *off, &r, what)) > 0) {
        if (r.type == STORE__TRAILER)
            return (*what = snap_trailer(s, &r, *off, count)) ? -1 : 0;
        if (r.lsn != ++count)
            *what = "record out of sequence";
        else if (r.type < STORE_TYPE_MIN || r.type > STORE_TYPE_MAX)
            *what = "reserved record type";
        else if (s->apply && s->apply(s->ctx, r.type, r.payload, r.len) != 0)
            *what = "engine rejected a snapshot record";
        else {
            *off += r.size;
            continue;
        }
        return -1;
    }
    if (k == 0)
        *what = "no trailer (incomplete snapshot)";
    return -1;
}

/* Header and every record, applying nothing; NULL or what is wrong. */
static const char *snap_validate(const snap_scan_t *s, size_t *off)
{
    const char *what = NULL;
    uint64_t lsn = 0;
    *off = 0;
    if (store__hdr_check(s->m->p, s->m->n, STORE__SNAP_MAGIC, &lsn, &what) < 0)
        return what;
    if (lsn != s->lsn)
        return "header lsn does not match the file name";
    return snap_scan(s, off, &what) < 0 ? what : NULL;
}

/* 0: loaded; -1: invalid (why says where), nothing applied; -2: the engine
 * rejected a record part-way, which recovery cannot undo. */
static int snap_load(store_t *st, const store__file_t *f, store_apply_fn apply, void *ctx, char *why, size_t why_len)
{
    char path[PATH_MAX], eb[128];
    store__map_t m;
    size_t off;
    store__path(st, f->name, path, sizeof path);
    int rc = store__map_open(path, 0, &m);
    if (rc < 0) {
        store__why(why, why_len, "%s: offset 0: %s", path, strerror_r(-rc, eb, sizeof eb));
        return -1;
    }
    snap_scan_t s = {&m, f->lsn, apply, ctx};
    const char *what = snap_validate(&(snap_scan_t){&m, f->lsn, NULL, NULL}, &off);
    rc = what ? -1 : 0;
    if (!what && apply && snap_scan(&s, &off, &what) < 0)
        rc = -2;
    if (rc < 0)
        store__why(why, why_len, "%s: offset %zu: %s", path, off, what);
    store__map_close(&m);
    return rc;
}

int snap__recover(store_t *st, store_apply_fn apply, void *ctx, uint64_t *base, store__skip_t *skip, char *why,
                  size_t why_len)
{
    store__file_t *f;
    size_t n = store__list(st, "snap-", ".dat", &f);
    int rc = 0;
    *base = 0;
    skip->lsn = 0;
    for (size_t i = n; i-- > 0;) {
        if ((rc = snap_load(st, &f[i], apply, ctx, why, why_len)) == 0) {
            char path[PATH_MAX];
            struct stat sb;
            store__path(st, f[i].name, path, sizeof path);
            if (stat(path, &sb) == 0)
                st->snapshot_wall_ms = (uint64_t)sb.st_mtim.tv_sec * 1000 + (uint64_t)sb.st_mtim.tv_nsec / 1000000;
            *base = f[i].lsn;
            break;
        }
        if (rc == -2)
            break;
        log_warn("store_snapshot_invalid", "reason=\"%s\"", why);
        if (!skip->lsn) {
            skip->lsn = f[i].lsn;
            snprintf(skip->reason, sizeof skip->reason, "%s", why);
        }
        rc = 0;
    }
    free(f);
    st->snapshot_lsn = *base;
    return rc < 0 ? -1 : 0;
}
