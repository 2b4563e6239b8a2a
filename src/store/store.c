/*
 * store — the embedded durable store: public API on the loop thread.
 *
 * A store owns one directory, locked with flock(LOCK) for its lifetime. The
 * directory holds log segments wal-<first lsn>.log and snapshots
 * snap-<lsn>.dat (formats in store_int.h). Lifecycle:
 *
 *   store_open     mkdir, lock, allocate — no file is read yet
 *   store_recover  newest usable snapshot, then the segments after it
 *   store_start    a fresh segment named by the next LSN, the log thread,
 *                  the end-of-iteration hook and the async wake-up
 *   store_append   frames the record into st->batch and hands out its LSN
 *   (hook)         once per loop iteration: batch → pending, signal thread
 *   (async)        the log thread advanced durable_lsn or failed: tell cb
 *   store_close    last batch; reap a running checkpoint child (its install
 *                  is queued to the thread); join the thread, which writes
 *                  and fsyncs what is left; release the lock
 *
 * Invariants: LSNs are consecutive from 1 and never reused; every record
 * handed out is in st->batch, in pending, or written; durable_lsn only grows
 * and stops for good once failed is set. The loop-side fields are touched
 * only by the loop thread; pending and its companions only under mu.
 *
 * loop.h has no way to remove a hook, so the hook added by store_start stays
 * registered on the loop: after store_close the loop must not run again
 * (free it, or use a new loop for the next store).
 */
#include "store/store.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store/io.h"
#include "store/store_int.h"
#include "util/alloc.h"
#include "util/crc32c.h"
#include "util/logging.h"

#define STORE_DEF_INTERVAL_MS 1000u
#define STORE_DEF_SEGMENT (64ull << 20)
#define STORE_DEF_COMPACT (256ull << 20)

/* ---- small helpers shared by wal.c and snapshot.c ---- */

void store__why(char *why, size_t why_len, const char *fmt, ...)
{
    if (!why || !why_len)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, why_len, fmt, ap);
    va_end(ap);
}

static void store_le32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static void store_le64(uint8_t *p, uint64_t v)
{
    store_le32(p, (uint32_t)v);
    store_le32(p + 4, (uint32_t)(v >> 32));
}

static uint32_t store_get32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t store_get64(const uint8_t *p)
{
    return store_get32(p) | (uint64_t)store_get32(p + 4) << 32;
}

void store__frame(buf_t *b, uint64_t lsn, uint8_t type, const void *payload, size_t len)
{
    if (len > STORE__MAX_PAYLOAD)
        util_fatal("store: record payload too large");
    buf_reserve(b, STORE__REC_HDR + len);
    uint8_t *h = (uint8_t *)b->data + b->len;
    store_le64(h + 8, lsn);
    h[16] = type;
    if (len)
        memcpy(h + STORE__REC_HDR, payload, len);
    store_le32(h, (uint32_t)(len + 9));
    store_le32(h + 4, crc32c(0, h + 8, len + 9));
    b->len += STORE__REC_HDR + len;
    b->data[b->len] = '\0';
}

int store__rec_next(const uint8_t *p, size_t n, size_t off, store__rec_t *r, const char **what)
{
    if (off == n)
        return 0;
    uint32_t len = n - off >= 8 ? store_get32(p + off) : 0;
    if (n - off < 8)
        *what = "truncated record header";
    else if (len < 9)
        *what = "record length too small";
    else if (len > n - off - 8)
        *what = "record extends past end of file";
    else if (crc32c(0, p + off + 8, len) != store_get32(p + off + 4))
        *what = "checksum mismatch";
    else {
        r->lsn = store_get64(p + off + 8);
        r->type = p[off + 16];
        r->payload = p + off + STORE__REC_HDR;
        r->len = len - 9;
        r->size = (size_t)len + 8;
        return 1;
    }
    return -1;
}

void store__hdr_put(uint8_t out[STORE__FILE_HDR], const char *magic, uint64_t lsn)
{
    memcpy(out, magic, 8);
    store_le32(out + 8, STORE__VERSION);
    store_le64(out + 12, lsn);
    store_le32(out + 20, crc32c(0, out, 20));
}

int store__hdr_check(const uint8_t *p, size_t n, const char *magic, uint64_t *lsn, const char **what)
{
    if (n < STORE__FILE_HDR)
        *what = "file shorter than its header";
    else if (memcmp(p, magic, 8) != 0)
        *what = "bad magic";
    else if (crc32c(0, p, 20) != store_get32(p + 20))
        *what = "header checksum mismatch";
    else if (store_get32(p + 8) != STORE__VERSION)
        *what = "unsupported version";
    else if (store_get64(p + 12) == 0 || store_get64(p + 12) > STORE__MAX_LSN)
        *what = "header lsn out of range";
    else {
        *lsn = store_get64(p + 12);
        return 0;
    }
    return -1;
}

int store__map_open(const char *path, int writable, store__map_t *m)
{
    struct stat sb;
    m->p = NULL;
    m->n = 0;
    m->fd = io_ops.open(path, (writable ? O_RDWR : O_RDONLY) | O_CLOEXEC, 0);
    if (m->fd < 0 || fstat(m->fd, &sb) < 0)
        goto fail;
    m->n = (size_t)sb.st_size;
    if (m->n == 0)
        return 0;
    void *p = mmap(NULL, m->n, PROT_READ, MAP_PRIVATE | MAP_POPULATE, m->fd, 0);
    if (p == MAP_FAILED)
        goto fail;
    madvise(p, m->n, MADV_SEQUENTIAL);
    m->p = p;
    return 0;
fail: {
    int rc = -errno;
    if (m->fd >= 0)
        close(m->fd);
    m->fd = -1;
    return rc;
}
}

void store__map_close(store__map_t *m)
{
    if (m->p)
        munmap((void *)m->p, m->n);
    if (m->fd >= 0)
        close(m->fd);
    m->p = NULL;
    m->fd = -1;
}

void store__name(char *out, const char *prefix, uint64_t lsn, const char *suffix)
{
    snprintf(out, STORE__NAME_MAX, "%s%020llu%s", prefix, (unsigned long long)lsn, suffix);
}

void store__path(const store_t *st, const char *name, char *out, size_t cap)
{
    if ((size_t)snprintf(out, cap, "%s/%s", st->dir, name) >= cap)
        util_fatal("store: path too long");
}

/* Parses <prefix><20 digits><suffix> exactly. */
static int store_parse_name(const char *name, const char *prefix, const char *suffix, uint64_t *lsn)
{
    size_t pl = strlen(prefix), sl = strlen(suffix);
    if (strlen(name) != pl + 20 + sl || strncmp(name, prefix, pl) != 0 || strcmp(name + pl + 20, suffix) != 0)
        return -1;
    uint64_t v = 0;
    for (size_t i = pl; i < pl + 20; i++) {
        if (name[i] < '0' || name[i] > '9')
            return -1;
        uint64_t d = (uint64_t)(name[i] - '0');
        if (v > (UINT64_MAX - d) / 10)
            return -1;
        v = v * 10 + d;
    }
    *lsn = v;
    return 0;
}

static int store_file_cmp(const void *a, const void *b)
{
    uint64_t x = ((const store__file_t *)a)->lsn, y = ((const store__file_t *)b)->lsn;
    return x < y ? -1 : x > y;
}

size_t store__list(const store_t *st, const char *prefix, const char *suffix, store__file_t **out)
{
    size_t n = 0, cap = 8;
    store__file_t *v = xmalloc(cap * sizeof *v);
    DIR *d = opendir(st->dir);
    struct dirent *e;
    while (d && (e = readdir(d))) {
        uint64_t lsn;
        if (store_parse_name(e->d_name, prefix, suffix, &lsn) < 0)
            continue;
        if (n == cap)
            v = xrealloc(v, (cap *= 2) * sizeof *v);
        v[n].lsn = lsn;
        store__name(v[n].name, prefix, lsn, suffix); /* the name just parsed */
        n++;
    }
    if (d)
        closedir(d);
    qsort(v, n, sizeof *v, store_file_cmp);
    *out = v;
    return n;
}

/* ---- open / lock ---- */

/* Makes the new directory's own entry durable in its parent. */
static void store_fsync_parent(const char *dir)
{
    char parent[PATH_MAX];
    snprintf(parent, sizeof parent, "%s", dir);
    char *slash = strrchr(parent, '/');
    if (!slash)
        snprintf(parent, sizeof parent, ".");
    else
        slash[slash == parent] = '\0';
    io_fsync_dir(parent);
}

static int store_mkdir(const char *dir, char *why, size_t why_len)
{
    if (mkdir(dir, 0755) == 0)
        store_fsync_parent(dir);
    else if (errno != EEXIST) {
        int rc = -errno;
        store__why(why, why_len, "cannot create store directory %s: %s", dir, strerror(errno));
        return rc;
    }
    return 0;
}

static int store_lock(const char *dir, int *fd_out, char *why, size_t why_len)
{
    char path[PATH_MAX];
    if ((size_t)snprintf(path, sizeof path, "%s/LOCK", dir) >= sizeof path) {
        store__why(why, why_len, "store directory path too long: %s", dir);
        return -ENAMETOOLONG;
    }
    int fd = io_ops.open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) {
        int rc = -errno;
        store__why(why, why_len, "cannot open %s: %s", path, strerror(errno));
        return rc;
    }
    if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
        int rc = -errno;
        store__why(why, why_len, "store directory %s is in use by another store (%s is locked): %s", dir, path,
                   strerror(errno));
        close(fd);
        return rc;
    }
    *fd_out = fd;
    return 0;
}

static void store_defaults(store_config_t *c)
{
    if (!c->fsync_interval_ms)
        c->fsync_interval_ms = STORE_DEF_INTERVAL_MS;
    if (!c->segment_bytes)
        c->segment_bytes = STORE_DEF_SEGMENT;
    if (!c->compact_bytes)
        c->compact_bytes = STORE_DEF_COMPACT;
}

static store_t *store_alloc(const store_config_t *cfg, loop_t *loop, int lock_fd)
{
    store_t *st = xcalloc(1, sizeof *st);
    st->cfg = *cfg;
    store_defaults(&st->cfg);
    st->dir = xstrdup(cfg->dir);
    st->cfg.dir = st->dir;
    st->loop = loop;
    st->lock_fd = lock_fd;
    st->seg_fd = -1;
    st->rotate_at = STORE__NONE;
    metrics_shared_init(&st->sync_us, METRICS_DURATION_US, METRICS_DURATION_US_N, 1e6);
    metrics_shared_init(&st->write_records, METRICS_SIZE, METRICS_SIZE_N, 1);
    snap__init(st);
    pthread_mutex_init(&st->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&st->cond, &ca);
    pthread_condattr_destroy(&ca);
    return st;
}

int store_open(const store_config_t *cfg, loop_t *loop, store_t **out, char *why, size_t why_len)
{
    int lock_fd = -1, rc;
    *out = NULL;
    if (!cfg || !cfg->dir || !*cfg->dir || (unsigned)cfg->fsync > FSYNC_OFF) {
        store__why(why, why_len, "invalid store configuration (dir missing or unknown fsync policy)");
        return -EINVAL;
    }
    if ((rc = store_mkdir(cfg->dir, why, why_len)) < 0 || (rc = store_lock(cfg->dir, &lock_fd, why, why_len)) < 0)
        return rc;
    *out = store_alloc(cfg, loop, lock_fd);
    return 0;
}

/* ---- recovery ---- */

/* Leftovers of a crash during a durable write or a checkpoint. */
static void store_remove_temps(const store_t *st)
{
    DIR *d = opendir(st->dir);
    struct dirent *e;
    while (d && (e = readdir(d))) {
        size_t n = strlen(e->d_name);
        int ours = strncmp(e->d_name, "wal-", 4) == 0 || strncmp(e->d_name, "snap-", 5) == 0;
        if (!ours || n < 4 || strcmp(e->d_name + n - 4, ".tmp") != 0)
            continue;
        char path[PATH_MAX];
        store__path(st, e->d_name, path, sizeof path);
        if (unlink(path) == 0)
            log_info("store_tmp_removed", "dir=%s file=%s", st->dir, e->d_name);
    }
    if (d)
        closedir(d);
}

int store_recover(store_t *st, store_apply_fn apply, void *ctx, char *why, size_t why_len)
{
    store__skip_t skip;
    uint64_t base = 0;
    if (st->recovered) {
        store__why(why, why_len, "store_recover called twice");
        return -1;
    }
    store_remove_temps(st);
    if (snap__recover(st, apply, ctx, &base, &skip, why, why_len) < 0)
        return -1;
    if (wal__replay(st, base, &skip, apply, ctx, why, why_len) < 0)
        return -1;
    st->recovered = 1;
    log_info("store_recovered", "dir=%s snapshot_lsn=%llu last_lsn=%llu segments=%u", st->dir,
             (unsigned long long)st->snapshot_lsn, (unsigned long long)st->last_lsn, atomic_load(&st->segments));
    return 0;
}

/* ---- running ---- */

static void store_notify(store_t *st)
{
    uint64_t d = atomic_load(&st->durable_lsn);
    int failed = atomic_load(&st->failed);
    if (d > st->reported_lsn) {
        st->reported_lsn = d;
        if (st->cb)
            st->cb(st->cb_arg, d, 0);
    }
    if (failed && !st->reported_failed) {
        st->reported_failed = 1;
        if (st->cb)
            st->cb(st->cb_arg, st->reported_lsn, 1);
    }
}

static void store_on_async(loop_t *loop, loop_async_t *a)
{
    (void)loop;
    store_t *st = a->arg;
    store_notify(st);
    snap__poll(st);
}

static void store_on_hook(loop_t *loop, void *arg)
{
    (void)loop;
    wal__handover(arg, 0);
}

int store_start(store_t *st, store_durable_fn cb, void *arg, char *why, size_t why_len)
{
    if (!st->recovered || st->started) {
        store__why(why, why_len, st->started ? "store already started" : "store_start before store_recover");
        return -EINVAL;
    }
    int rc = loop_async_init(st->loop, &st->async, store_on_async, st);
    if (rc < 0) {
        store__why(why, why_len, "cannot create the store wake-up: %s", strerror(-rc));
        return rc;
    }
    st->cb = cb;
    st->cb_arg = arg;
    if ((rc = wal__start(st, why, why_len)) < 0) {
        loop_async_close(st->loop, &st->async);
        return rc;
    }
    loop_add_hook(st->loop, store_on_hook, st);
    st->started = 1;
    return 0;
}

static uint64_t store_group_add(store_t *st, uint8_t type, const void *payload, size_t len)
{
    if (!st->group_lsn)
        st->group_lsn = ++st->last_lsn;
    if (len > STORE__MAX_PAYLOAD - st->group.len)
        util_fatal("store: atomic group too large");
    buf_put_u8(&st->group, type);
    buf_put_bytes(&st->group, payload, (uint32_t)len);
    st->records++;
    return st->group_lsn;
}

void store_group_begin(store_t *st)
{
    st->group_depth++;
}

void store_group_end(store_t *st)
{
    if (st->group_depth <= 0)
        util_fatal("store_group_end without store_group_begin");
    if (--st->group_depth > 0 || !st->group_lsn)
        return;
    if (!atomic_load_explicit(&st->failed, memory_order_relaxed)) {
        store__frame(&st->batch, st->group_lsn, STORE__GROUP, st->group.data, st->group.len);
        st->log_bytes_since_snapshot += STORE__REC_HDR + st->group.len;
    }
    st->group_lsn = 0;
    buf_reset(&st->group);
}

int store__apply(store_apply_fn apply, void *ctx, uint8_t type, const uint8_t *payload, size_t len)
{
    if (type != STORE__GROUP)
        return apply(ctx, type, payload, len);
    reader_t r;
    reader_init(&r, payload, len);
    while (r.off < r.len) {
        uint8_t t = reader_u8(&r);
        uint32_t n;
        const char *p = reader_bytes(&r, &n);
        if (r.err || t < STORE_TYPE_MIN || t > STORE_TYPE_MAX || apply(ctx, t, p, n) != 0)
            return -1;
    }
    return 0;
}

uint64_t store_append(store_t *st, uint8_t type, const void *payload, size_t len)
{
    if (type < STORE_TYPE_MIN || type > STORE_TYPE_MAX)
        util_fatal("store_append: reserved record type");
    if (st->group_depth)
        return store_group_add(st, type, payload, len);
    uint64_t lsn = ++st->last_lsn;
    st->records++;
    if (atomic_load_explicit(&st->failed, memory_order_relaxed))
        return lsn; /* never durable; nothing will be written again */
    store__frame(&st->batch, lsn, type, payload, len);
    st->log_bytes_since_snapshot += STORE__REC_HDR + len;
    return lsn;
}

uint64_t store_last_lsn(const store_t *st)
{
    return st->last_lsn;
}

void store_poll(store_t *st)
{
    if (st->started)
        store_notify(st);
}

uint64_t store_durable_lsn(const store_t *st)
{
    return atomic_load(&((store_t *)st)->durable_lsn);
}

int store_failed(const store_t *st)
{
    return atomic_load(&((store_t *)st)->failed);
}

int store_checkpoint_running(const store_t *st)
{
    return st->ckpt.pid != 0 || st->ckpt.waiting;
}

int store_compact_due(const store_t *st)
{
    return st->started && !store_failed(st) && !store_checkpoint_running(st) &&
           st->log_bytes_since_snapshot > st->cfg.compact_bytes;
}

void store_get_stats(const store_t *st, store_stats_t *out)
{
    store_t *s = (store_t *)st; /* atomics need a non-const object */
    out->last_lsn = st->last_lsn;
    out->durable_lsn = atomic_load(&s->durable_lsn);
    out->snapshot_lsn = st->snapshot_lsn;
    out->log_bytes_since_snapshot = st->log_bytes_since_snapshot;
    out->batches = atomic_load(&s->batches);
    out->fsyncs = atomic_load(&s->fsyncs);
    out->records = st->records;
    out->segments = atomic_load(&s->segments);
    out->snapshot_wall_ms = st->snapshot_wall_ms;
}

void store_get_histograms(const store_t *st, metrics_hist_t *sync_us, metrics_hist_t *write_records)
{
    metrics_shared_read(&st->sync_us, sync_us);
    metrics_shared_read(&st->write_records, write_records);
}

int store_close(store_t *st)
{
    if (!st)
        return 0;
    if (st->started) {
        wal__handover(st, 0);
        snap__close(st); /* a finished child's install is queued to the thread */
        wal__stop(st);
        loop_async_close(st->loop, &st->async);
    }
    if (st->seg_fd >= 0)
        close(st->seg_fd);
    close(st->lock_fd); /* releases the flock */
    pthread_cond_destroy(&st->cond);
    pthread_mutex_destroy(&st->mu);
    buf_free(&st->batch);
    buf_free(&st->group);
    buf_free(&st->pending);
    buf_free(&st->writing);
    int failed = atomic_load(&st->failed);
    free(st->dir);
    free(st);
    return failed ? -EIO : 0;
}

static const char *const store_policy_names[] = {"always", "interval", "off"};

const char *fsync_policy_name(fsync_policy_t p)
{
    return (unsigned)p <= FSYNC_OFF ? store_policy_names[p] : "unknown";
}

int fsync_policy_parse(const char *s, fsync_policy_t *out)
{
    for (int i = 0; i <= FSYNC_OFF; i++) {
        if (strcmp(s, store_policy_names[i]) == 0) {
            *out = (fsync_policy_t)i;
            return 0;
        }
    }
    return -1;
}
