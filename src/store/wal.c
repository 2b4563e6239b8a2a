/*
 * wal — the log thread and the replay of log segments.
 *
 * The log thread owns the active segment (st->seg_fd). It sleeps on st->cond
 * until the loop hands it a batch (pending), a rotation request, a snapshot
 * to install, or stop; under FSYNC_INTERVAL it also wakes when an fdatasync
 * is due. For each job it takes the whole pending buffer (swapping it with
 * its own, so no copy), writes it with one io_write_all, then syncs per
 * policy and publishes durable_lsn:
 *   always    durable = synced_lsn: the batch is fdatasync'ed first; while
 *             that runs the next batch accumulates (group commit)
 *   interval  durable = written_lsn; fdatasync at most every interval ms
 *   off       durable = written_lsn; fdatasync only on rotation and stop
 * A segment that grew beyond segment_bytes, or a checkpoint's request, makes
 * it rotate: cut the zeros off the old segment and fdatasync it, create
 * wal-<next lsn>.log with the durable-write recipe (which fsyncs the
 * directory). An empty active segment is never rotated, so two segments
 * never share a name.
 *
 * Zeros ahead: the active segment's file is kept WAL_ZERO_CHUNK longer than
 * its records by writing zeros ahead of them. A batch then overwrites blocks
 * that are allocated and written, the file's size does not change, and its
 * fdatasync flushes data only — no ext4 journal commit. On this project's
 * disk that halves the time of an fdatasync and the kernel work behind it
 * (docs/PERFORMANCE.md). The zeros are cut off at rotation and at stop;
 * after a crash replay reads an all-zero tail as the segment's end.
 *
 * Failure: the first failed write/fsync/create logs an error, sets failed
 * and wakes the loop; from then on batches are dropped and durable_lsn
 * never moves. Nothing is retried.
 *
 * Replay (recovery, loop thread): segments in LSN order, each mapped whole.
 * Segments whose successor starts at or below snapshot+1 are skipped unread.
 * Records must carry consecutive LSNs; those <= snapshot LSN are skipped.
 * An all-zero tail is the end of a segment (the newest one's is cut off).
 * Damage in the newest segment is cut off (ftruncate + fsync, log line);
 * anywhere else, or a gap in LSNs, fails recovery with file/offset/what.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "store/io.h"
#include "store/store_int.h"
#include "util/clock.h"
#include "util/logging.h"

typedef struct wal_job {
    uint64_t last;       /* LSN of the last record in st->writing */
    size_t rotate_at;    /* or STORE__NONE */
    uint64_t rotate_lsn;
    uint64_t install;    /* snapshot LSN to install, or 0 */
} wal_job_t;

/* ---- segment files ---- */

static int wal_segment_create(store_t *st, uint64_t first, int *fd_out)
{
    uint8_t hdr[STORE__FILE_HDR];
    char name[STORE__NAME_MAX], path[PATH_MAX];
    store__hdr_put(hdr, STORE__WAL_MAGIC, first);
    store__name(name, "wal-", first, ".log");
    int rc = io_write_file_durable(st->dir, name, hdr, sizeof hdr);
    if (rc < 0)
        return rc;
    store__path(st, name, path, sizeof path);
    int fd = io_ops.open(path, O_WRONLY | O_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    if (lseek(fd, STORE__FILE_HDR, SEEK_SET) < 0) {
        int e = errno;
        close(fd);
        return -e;
    }
    *fd_out = fd;
    return 0;
}

/* ---- log thread ---- */

static int wal_fail(store_t *st, const char *op, int err)
{
    char name[STORE__NAME_MAX], eb[128];
    store__name(name, "wal-", st->seg_first, ".log");
    log_error("store_failed", "dir=%s segment=%s op=%s errno=%d error=\"%s\" durable_lsn=%llu", st->dir, name, op,
              err, strerror_r(err, eb, sizeof eb), (unsigned long long)atomic_load(&st->durable_lsn));
    atomic_store(&st->failed, 1);
    loop_async_send(&st->async);
    return -1;
}

static int wal_sync(store_t *st)
{
    st->sync_start_ns = clock_mono_ns();
    if (io_ops.fdatasync(st->seg_fd) < 0)
        return wal_fail(st, "fdatasync", errno);
    atomic_fetch_add(&st->fsyncs, 1);
    metrics_shared_observe(&st->sync_us, (clock_mono_ns() - st->sync_start_ns) / 1000);
    st->synced_lsn = st->written_lsn;
    st->last_sync_ms = clock_mono_ms();
    return 0;
}

#define WAL_ZERO_CHUNK (1u << 20) /* 1 MiB: ~1.5 ms to write and sync here, once per MiB of log */

static void wal_warn(store_t *st, const char *event, int err)
{
    char name[STORE__NAME_MAX], eb[128];
    store__name(name, "wal-", st->seg_first, ".log");
    log_warn(event, "dir=%s segment=%s errno=%d error=\"%s\"", st->dir, name, err, strerror_r(err, eb, sizeof eb));
}

/* Makes the file reach WAL_ZERO_CHUNK past a write of n bytes at seg_bytes,
 * writing zeros from its current end (through io_ops, like every write).
 * The zeros are an optimisation, never a condition: if writing them fails
 * (a disk without 1 MiB to spare, say) the segment goes on appending, and a
 * batch that fits still goes in. 0, or -errno when the file position for
 * the batch cannot be set. */
static int wal_zero_ahead(store_t *st, size_t n)
{
    static const char zeros[65536];
    if (st->seg_plain || st->seg_bytes + n <= st->seg_zeroed)
        return 0;
    uint64_t end = (st->seg_bytes + n + WAL_ZERO_CHUNK + 4095) & ~(uint64_t)4095;
    int rc = lseek(st->seg_fd, (off_t)st->seg_zeroed, SEEK_SET) < 0 ? -errno : 0;
    while (rc == 0 && st->seg_zeroed < end) {
        size_t k = end - st->seg_zeroed < sizeof zeros ? (size_t)(end - st->seg_zeroed) : sizeof zeros;
        if ((rc = io_write_all(st->seg_fd, zeros, k)) == 0)
            st->seg_zeroed += k;
    }
    if (rc < 0) {
        wal_warn(st, "store_zero_fill_failed", -rc);
        st->seg_plain = 1; /* until the next segment */
        off_t fend = lseek(st->seg_fd, 0, SEEK_END); /* zeros a short write left are cut at close */
        if (fend > (off_t)st->seg_zeroed)
            st->seg_zeroed = (uint64_t)fend;
    }
    return lseek(st->seg_fd, (off_t)st->seg_bytes, SEEK_SET) < 0 ? -errno : 0;
}

/* Cuts the zeros ahead off (before the segment is closed). A failure only
 * leaves them there: replay reads an all-zero tail as the segment's end. */
static void wal_cut_zeros(store_t *st)
{
    if (st->seg_zeroed <= st->seg_bytes)
        return;
    if (io_ops.ftruncate(st->seg_fd, (off_t)st->seg_bytes) < 0) {
        wal_warn(st, "store_zero_cut_failed", errno);
        return;
    }
    st->seg_zeroed = st->seg_bytes;
}

static int wal_write(store_t *st, const void *p, size_t n, uint64_t last)
{
    if (n == 0)
        return 0;
    int rc = wal_zero_ahead(st, n);
    if (rc < 0)
        return wal_fail(st, "lseek", -rc);
    rc = io_write_all(st->seg_fd, p, n);
    if (rc < 0)
        return wal_fail(st, "write", -rc);
    st->seg_bytes += n;
    metrics_shared_observe(&st->write_records, last - st->written_lsn);
    st->written_lsn = last;
    atomic_fetch_add(&st->batches, 1);
    return 0;
}

static int wal_rotate(store_t *st)
{
    if (st->written_lsn < st->seg_first)
        return 0; /* empty: the next segment would get the same name */
    wal_cut_zeros(st);
    if (wal_sync(st) < 0)
        return -1;
    close(st->seg_fd);
    st->seg_fd = -1;
    st->seg_first = st->written_lsn + 1;
    int rc = wal_segment_create(st, st->seg_first, &st->seg_fd);
    if (rc < 0)
        return wal_fail(st, "create", -rc);
    st->seg_bytes = st->seg_zeroed = STORE__FILE_HDR;
    st->seg_plain = 0;
    atomic_store(&st->active_first, st->seg_first);
    atomic_fetch_add(&st->segments, 1);
    return 0;
}

static int wal_sync_due(const store_t *st)
{
    if (st->written_lsn == st->synced_lsn)
        return 0;
    if (st->cfg.fsync == FSYNC_ALWAYS)
        return 1;
    return st->cfg.fsync == FSYNC_INTERVAL && clock_mono_ms() - st->last_sync_ms >= st->cfg.fsync_interval_ms;
}

static int wal_process(store_t *st, const wal_job_t *job)
{
    size_t n = st->writing.len;
    int rotate = job->rotate_at != STORE__NONE;
    size_t cut = rotate ? job->rotate_at : n;
    if (wal_write(st, st->writing.data, cut, rotate ? job->rotate_lsn : job->last) < 0)
        return -1;
    if (rotate && wal_rotate(st) < 0)
        return -1;
    if (wal_write(st, st->writing.data + cut, n - cut, job->last) < 0)
        return -1;
    if (st->seg_bytes > st->cfg.segment_bytes && wal_rotate(st) < 0)
        return -1;
    return wal_sync_due(st) ? wal_sync(st) : 0;
}

static void wal_publish(store_t *st, int force)
{
    int changed = 0;
    if (!atomic_load(&st->failed)) {
        uint64_t d = st->cfg.fsync == FSYNC_ALWAYS ? st->synced_lsn : st->written_lsn;
        if (d > atomic_load(&st->durable_lsn)) {
            atomic_store(&st->durable_lsn, d);
            changed = 1;
        }
    }
    if (changed || force)
        loop_async_send(&st->async);
}

static void wal_install(store_t *st, uint64_t lsn)
{
    int rc = snap__install(st, lsn);
    pthread_mutex_lock(&st->mu);
    st->install_result = rc == 0 ? 1 : -1;
    pthread_mutex_unlock(&st->mu);
}

static void wal_run(store_t *st, const wal_job_t *job)
{
    if (!atomic_load(&st->failed))
        wal_process(st, job);
    buf_reset(&st->writing);
    if (job->install)
        wal_install(st, job->install);
    wal_publish(st, job->rotate_at != STORE__NONE || job->install);
}

static int wal_has_work(const store_t *st)
{
    return st->pending.len || st->rotate_at != STORE__NONE || st->install_lsn;
}

/* Under mu: moves pending (and the requests riding with it) to the thread. */
static void wal_take(store_t *st, wal_job_t *job)
{
    buf_t t = st->writing;
    st->writing = st->pending;
    st->pending = t;
    job->last = st->pending_last;
    job->rotate_at = st->rotate_at;
    job->rotate_lsn = st->rotate_lsn;
    job->install = st->install_lsn;
    st->rotate_at = STORE__NONE;
    st->install_lsn = 0;
}

/* Under mu: sleeps until signalled or until an interval fdatasync is due.
 * Returns 1 if that fdatasync is due now. */
static int wal_sleep(store_t *st)
{
    if (st->cfg.fsync != FSYNC_INTERVAL || st->written_lsn == st->synced_lsn || atomic_load(&st->failed)) {
        pthread_cond_wait(&st->cond, &st->mu);
        return 0;
    }
    uint64_t due = st->last_sync_ms + st->cfg.fsync_interval_ms;
    if (clock_mono_ms() >= due)
        return 1;
    struct timespec ts;
    clock_mono_deadline(due * 1000000ull, &ts);
    pthread_cond_timedwait(&st->cond, &st->mu, &ts);
    return 0;
}

/* Under mu, with work pending: under FSYNC_ALWAYS, fdatasyncs begin at
 * least sync_gap_us apart; what arrives meanwhile joins the next one. On this
 * project's VM every fdatasync costs host CPU that is taken back as stolen
 * time (10-15 ms stalls); spacing them caps the rate under load, while a
 * record arriving after a quiet spell is synced at once. */
static void wal_sync_gap(store_t *st)
{
    if (!st->cfg.sync_gap_us || st->cfg.fsync != FSYNC_ALWAYS || !st->pending.len || atomic_load(&st->failed))
        return;
    uint64_t due = st->sync_start_ns + st->cfg.sync_gap_us * 1000;
    struct timespec ts;
    clock_mono_deadline(due, &ts);
    /* cond runs on CLOCK_MONOTONIC; a handover's signal wakes it early, a
     * stop ends the wait */
    while (!st->stop && clock_mono_ns() < due)
        if (pthread_cond_timedwait(&st->cond, &st->mu, &ts) == ETIMEDOUT)
            break;
}

/* Returns 0 when the thread should finish, else 1 with a job (maybe empty). */
static int wal_wait(store_t *st, wal_job_t *job)
{
    int more = 1;
    *job = (wal_job_t){.rotate_at = STORE__NONE};
    pthread_mutex_lock(&st->mu);
    for (;;) {
        if (wal_has_work(st)) {
            wal_sync_gap(st);
            wal_take(st, job);
            break;
        }
        if (st->stop) {
            more = 0;
            break;
        }
        if (wal_sleep(st))
            break; /* an empty job: wal_process only syncs */
    }
    pthread_mutex_unlock(&st->mu);
    return more;
}

static void *wal_thread(void *arg)
{
    store_t *st = arg;
    wal_job_t job;
    while (wal_wait(st, &job))
        wal_run(st, &job);
    int cut = st->seg_zeroed > st->seg_bytes;
    if (!atomic_load(&st->failed) && (cut || st->written_lsn > st->synced_lsn)) {
        wal_cut_zeros(st);
        wal_sync(st); /* close: fsynced whatever the policy */
    }
    wal_publish(st, 0);
    return NULL;
}

static int wal_spawn(store_t *st, char *why, size_t why_len)
{
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old); /* signals belong to the loop thread */
    int rc = pthread_create(&st->thread, NULL, wal_thread, st);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0)
        store__why(why, why_len, "cannot start the log thread: %s", strerror(rc));
    return -rc;
}

int wal__start(store_t *st, char *why, size_t why_len)
{
    uint64_t first = atomic_load(&st->durable_lsn) + 1; /* recovery left durable = last recovered */
    char name[STORE__NAME_MAX], path[PATH_MAX];
    store__name(name, "wal-", first, ".log");
    store__path(st, name, path, sizeof path);
    int replaces = access(path, F_OK) == 0; /* an empty newest segment left by the last run */
    int rc = wal_segment_create(st, first, &st->seg_fd);
    if (rc < 0) {
        store__why(why, why_len, "cannot create log segment %s: %s", path, strerror(-rc));
        return rc;
    }
    st->seg_first = first;
    st->seg_bytes = st->seg_zeroed = STORE__FILE_HDR;
    st->written_lsn = st->synced_lsn = first - 1;
    st->last_sync_ms = clock_mono_ms();
    atomic_store(&st->active_first, first);
    atomic_fetch_add(&st->segments, !replaces);
    if ((rc = wal_spawn(st, why, why_len)) < 0) {
        close(st->seg_fd);
        st->seg_fd = -1;
    }
    return rc;
}

void wal__handover(store_t *st, int rotate)
{
    if (!st->batch.len && !rotate)
        return;
    pthread_mutex_lock(&st->mu);
    if (!st->pending.len) {
        buf_t t = st->pending;
        st->pending = st->batch;
        st->batch = t;
    } else { /* the thread is behind: this batch joins the waiting one */
        buf_append(&st->pending, st->batch.data, st->batch.len);
        buf_reset(&st->batch);
    }
    st->pending_last = st->last_lsn;
    if (rotate) {
        st->rotate_at = st->pending.len;
        st->rotate_lsn = st->last_lsn;
    }
    pthread_cond_signal(&st->cond);
    pthread_mutex_unlock(&st->mu);
}

void wal__stop(store_t *st)
{
    pthread_mutex_lock(&st->mu);
    st->stop = 1;
    pthread_cond_signal(&st->cond);
    pthread_mutex_unlock(&st->mu);
    pthread_join(st->thread, NULL);
}

/* ---- replay ---- */

typedef struct wal_replay {
    store_t *st;
    uint64_t base; /* snapshot LSN: records <= base are already applied */
    uint64_t next; /* the LSN the log must continue with */
    const store__skip_t *skip;
    store_apply_fn apply;
    void *ctx;
    char *why;
    size_t why_len;
    unsigned segments;
} wal_replay_t;

static int wal_err(wal_replay_t *r, const char *path, size_t off, const char *what)
{
    store__why(r->why, r->why_len, "%s: offset %zu: %s", path, off, what);
    return -1;
}

static int wal_gap(wal_replay_t *r, const char *path, uint64_t first)
{
    const store__skip_t *s = r->skip;
    store__why(r->why, r->why_len, "%s: log is missing lsn %llu..%llu (segment starts at %llu)%s%s", path,
               (unsigned long long)r->next, (unsigned long long)(first - 1), (unsigned long long)first,
               s->lsn ? "; newer snapshot unusable: " : "", s->lsn ? s->reason : "");
    return -1;
}

static int wal_apply(wal_replay_t *r, const char *path, size_t off, const store__rec_t *rec, uint64_t expect)
{
    char what[160];
    if (rec->lsn != expect)
        snprintf(what, sizeof what, "record lsn %llu out of sequence (expected %llu)", (unsigned long long)rec->lsn,
                 (unsigned long long)expect);
    else if ((rec->type < STORE_TYPE_MIN || rec->type > STORE_TYPE_MAX) && rec->type != STORE__GROUP)
        snprintf(what, sizeof what, "record lsn %llu has reserved type %u", (unsigned long long)rec->lsn, rec->type);
    else if (rec->lsn <= r->base)
        return 0;
    else if (rec->lsn != r->next)
        snprintf(what, sizeof what, "record lsn %llu was already replayed from an earlier segment",
                 (unsigned long long)rec->lsn);
    else if (r->apply && store__apply(r->apply, r->ctx, rec->type, rec->payload, rec->len) != 0)
        snprintf(what, sizeof what, "engine rejected record lsn %llu (type %u)", (unsigned long long)rec->lsn,
                 rec->type);
    else {
        r->next++;
        r->st->log_bytes_since_snapshot += rec->size;
        return 0;
    }
    return wal_err(r, path, off, what);
}

static int wal_cut(wal_replay_t *r, const store__map_t *m, const char *path, size_t off, const char *what)
{
    char eb[128];
    if (io_ops.ftruncate(m->fd, (off_t)off) < 0 || io_ops.fsync(m->fd) < 0) {
        store__why(r->why, r->why_len, "%s: offset %zu: %s, and cutting the torn tail failed: %s", path, off, what,
                   strerror_r(errno, eb, sizeof eb));
        return -1;
    }
    log_warn("store_torn_tail", "segment=%s offset=%zu cut_bytes=%zu what=\"%s\"", path, off, m->n - off, what);
    return 0;
}

/* 1 if every byte from off to the end is zero: the zeros ahead of a segment
 * that was not closed (a crash), not damage. A record never starts with
 * zeros: its length is at least 9. */
static int wal_zero_tail(const store__map_t *m, size_t off)
{
    for (size_t i = off; i < m->n; i++)
        if (m->p[i])
            return 0;
    return 1;
}

/* Cuts the newest segment's zeros off, so that once it is no longer the
 * newest its size is its records' again. */
static int wal_cut_zero_tail(wal_replay_t *r, const store__map_t *m, const char *path, size_t off)
{
    char eb[128];
    if (io_ops.ftruncate(m->fd, (off_t)off) < 0 || io_ops.fsync(m->fd) < 0) {
        store__why(r->why, r->why_len, "%s: offset %zu: cutting the zeros after the last record failed: %s", path,
                   off, strerror_r(errno, eb, sizeof eb));
        return -1;
    }
    return 0;
}

static int wal_records(wal_replay_t *r, const store__map_t *m, const char *path, uint64_t first, int newest)
{
    size_t off = STORE__FILE_HDR;
    uint64_t expect = first;
    store__rec_t rec;
    const char *what = NULL;
    int k;
    while ((k = store__rec_next(m->p, m->n, off, &rec, &what)) > 0) {
        if (wal_apply(r, path, off, &rec, expect++) < 0)
            return -1;
        off += rec.size;
    }
    if (k == 0)
        return 0;
    if (wal_zero_tail(m, off)) {
        if (newest)
            return wal_cut_zero_tail(r, m, path, off);
        /* a rotation whose cut failed leaves these; anything else is odd */
        log_warn("store_zero_tail", "segment=%s offset=%zu bytes=%zu", path, off, m->n - off);
        return 0;
    }
    return newest ? wal_cut(r, m, path, off, what) : wal_err(r, path, off, what);
}

static int wal_remove_torn(wal_replay_t *r, const char *path, size_t size, const char *what)
{
    char eb[128];
    if (unlink(path) < 0) {
        store__why(r->why, r->why_len, "%s: offset 0: %s, and removing it failed: %s", path, what,
                   strerror_r(errno, eb, sizeof eb));
        return -1;
    }
    io_fsync_dir(r->st->dir);
    r->segments--;
    log_warn("store_segment_removed", "segment=%s size=%zu what=\"%s\"", path, size, what);
    return 0;
}

static int wal_segment(wal_replay_t *r, const store__file_t *f, int newest)
{
    char path[PATH_MAX], eb[128];
    store__map_t m;
    uint64_t first = 0;
    const char *what = NULL;
    store__path(r->st, f->name, path, sizeof path);
    int rc = store__map_open(path, newest, &m);
    if (rc < 0)
        return wal_err(r, path, 0, strerror_r(-rc, eb, sizeof eb));
    if (store__hdr_check(m.p, m.n, STORE__WAL_MAGIC, &first, &what) < 0)
        rc = newest && m.n <= STORE__FILE_HDR ? wal_remove_torn(r, path, m.n, what) : wal_err(r, path, 0, what);
    else if (first != f->lsn)
        rc = wal_err(r, path, 0, "header lsn does not match the file name");
    else if (first > r->next)
        rc = wal_gap(r, path, first);
    else
        rc = wal_records(r, &m, path, first, newest);
    store__map_close(&m);
    return rc;
}

static int wal_check_cover(wal_replay_t *r)
{
    const store__skip_t *s = r->skip;
    if (s->lsn < r->next)
        return 0;
    store__why(r->why, r->why_len, "%s; the log reaches only lsn %llu, so records up to %llu would be lost", s->reason,
               (unsigned long long)(r->next - 1), (unsigned long long)s->lsn);
    return -1;
}

int wal__replay(store_t *st, uint64_t base, const store__skip_t *skip, store_apply_fn apply, void *ctx, char *why,
                size_t why_len)
{
    store__file_t *files;
    size_t n = store__list(st, "wal-", ".log", &files);
    wal_replay_t r = {st, base, base + 1, skip, apply, ctx, why, why_len, (unsigned)n};
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        if (i + 1 < n && files[i + 1].lsn <= base + 1)
            continue; /* every record in it is covered by the snapshot */
        rc = wal_segment(&r, &files[i], i + 1 == n);
    }
    free(files);
    if (rc == 0)
        rc = wal_check_cover(&r);
    if (rc < 0)
        return -1;
    st->last_lsn = r.next - 1;
    atomic_store(&st->durable_lsn, st->last_lsn);
    st->reported_lsn = st->last_lsn;
    atomic_store(&st->segments, r.segments);
    return 0;
}
