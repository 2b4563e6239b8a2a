/*
 * io_trace — records what a power loss would keep (a test facility).
 *
 * A power loss or kernel crash keeps what was made durable: a file's bytes
 * as of its last fdatasync/fsync (less whatever was written over since),
 * and a name (a creation, a rename) once its directory was fsync'ed. A
 * kill -9 keeps the whole page cache, so after one the files hold more;
 * this trace says how much less a power loss at that instant would leave.
 *
 * The trace file: a 64-byte header ("SLUICETR", then u64 used and u64
 * dropped, little-endian) and the lines after it, in a 256 MiB sparse file
 * mapped shared. A line is appended by reserving its place (an atomic add
 * to used; a line that does not fit counts in dropped instead) and copying
 * it in with its '\n' stored last — no system call, so the syncs it watches
 * take the time they take without it; the page cache keeps the mapping
 * through a kill -9, and a reader takes only lines whose '\n' is there
 * (after the last NUL before it: a place reserved and never filled). It is
 * never synced: it is the test's record, not part of the disk. One line per
 * event, tab-separated:
 *
 *   open    <existed 0|1> <size> <truncates 0|1> <path>   before a file (not a directory) is opened
 *   write   <offset> <path>    before a write that starts below every offset the descriptor
 *                              wrote since the last sync (of any file)
 *   trunc   <length> <path>    before an ftruncate
 *   rename  <from> <to>        before a rename
 *   sync    <size> <path>      after a successful fdatasync or fsync of a file
 *   dirsync <path>             after a successful fsync of a directory
 *
 * Paths are absolute. What can only make a file less durable is recorded
 * before the call, what makes it durable once the call has succeeded, so a
 * kill between the two leaves the trace erring towards less durable, never
 * more. The reader keeps of each file the bytes below min(size at its last
 * sync, lowest offset written since); a write is recorded about once per
 * sync, appends between two syncs add nothing. A sync's size is the one the
 * tracer keeps for the descriptor (the size at open, grown by its writes,
 * set by its truncations): an fstat next to each fdatasync made it ~40 %
 * slower on this project's VM. Assumed, as the store does: a file is
 * written, truncated and synced through one descriptor, by one thread at a
 * time.
 *
 * Composition: io_trace_install saves the io_ops entries it finds and calls
 * through to them, so a fault injector installed before it still fails the
 * real calls (a failed sync is not recorded) and one installed after it
 * wraps the tracer in turn.
 *
 * Cost per call: a mutex and a few hundred bytes copied; a write also
 * costs an lseek (its offset).
 *
 * Threads and processes: trace_mu guards the descriptor table; it is never
 * held across the wrapped call. pthread_atfork holds it across fork(). A
 * child keeps the shared mapping (closing descriptors does not unmap it), so
 * the snapshot the checkpoint child writes is traced like the rest.
 */
#include "store/io_trace.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store/io.h"
#include "util/alloc.h"
#include "util/logging.h"

/* The file's size. Its blocks are allocated as lines fill them, so a disk
 * that fills up kills the process with SIGBUS: acceptable in a test. */
#define TRACE_CAP (256ull << 20)
#define TRACE_HDR 64u

typedef struct trace_hdr {
    char magic[8]; /* "SLUICETR" */
    _Atomic uint64_t used;
    _Atomic uint64_t dropped;
} trace_hdr_t;

/* A descriptor opened through io_ops. */
typedef struct trace_fd {
    char *path;    /* absolute; NULL: not opened through io_ops */
    int dir;
    uint64_t size; /* the file's size as this descriptor made it */
    uint64_t low;  /* lowest offset written during generation gen */
    uint64_t gen;
} trace_fd_t;

static pthread_mutex_t trace_mu = PTHREAD_MUTEX_INITIALIZER;
static io_ops_t trace_prev; /* what the wrappers call through to */
static int trace_on;
static uint8_t *trace_map; /* TRACE_CAP bytes, shared with the file */
static char trace_cwd[PATH_MAX];
static trace_fd_t *trace_fds; /* indexed by descriptor */
static size_t trace_nfds;
static uint64_t trace_gen = 1; /* advanced by every sync */

/* ---- the trace (under trace_mu) ---- */

__attribute__((format(printf, 1, 2))) static void trace_line(const char *fmt, ...)
{
    char line[2 * PATH_MAX + 64];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (!trace_on || n <= 0 || (size_t)n >= sizeof line)
        return;
    trace_hdr_t *h = (trace_hdr_t *)trace_map;
    uint64_t at = atomic_fetch_add(&h->used, (uint64_t)n);
    if (at + (uint64_t)n > TRACE_CAP - TRACE_HDR) {
        if (atomic_fetch_add(&h->dropped, 1) == 0)
            log_warn("sync_trace_full", "bytes=%llu", (unsigned long long)TRACE_CAP);
        return;
    }
    uint8_t *p = trace_map + TRACE_HDR + at;
    memcpy(p, line, (size_t)n - 1);
    atomic_thread_fence(memory_order_release);
    *(volatile uint8_t *)(p + n - 1) = '\n'; /* last: a line is whole once it ends */
}

static char *trace_abs(const char *path)
{
    if (path[0] == '/')
        return xstrdup(path);
    size_t n = strlen(trace_cwd) + strlen(path) + 2;
    char *p = xmalloc(n);
    snprintf(p, n, "%s/%s", trace_cwd, path);
    return p;
}

static trace_fd_t *trace_entry(int fd)
{
    return fd >= 0 && (size_t)fd < trace_nfds && trace_fds[fd].path ? &trace_fds[fd] : NULL;
}

/* Takes path. A descriptor number io_ops.open hands out again replaces the
 * entry of the file it was before (close is not traced). */
static void trace_remember(int fd, char *path, int dir, uint64_t size)
{
    if (!trace_on) {
        free(path);
        return;
    }
    if ((size_t)fd >= trace_nfds) {
        size_t n = (size_t)fd + 16;
        trace_fds = xrealloc(trace_fds, n * sizeof *trace_fds);
        memset(trace_fds + trace_nfds, 0, (n - trace_nfds) * sizeof *trace_fds);
        trace_nfds = n;
    }
    free(trace_fds[fd].path);
    trace_fds[fd] = (trace_fd_t){.path = path, .dir = dir, .size = size, .low = UINT64_MAX};
}

/* ---- the wrappers ---- */

static int trace_open(const char *path, int flags, mode_t mode)
{
    char *abs = trace_abs(path);
    int dir = (flags & O_DIRECTORY) != 0;
    struct stat sb;
    int existed = !dir && stat(path, &sb) == 0, trunc = (flags & O_TRUNC) != 0;
    uint64_t size = existed && !trunc ? (uint64_t)sb.st_size : 0;
    pthread_mutex_lock(&trace_mu);
    if (!dir)
        trace_line("open\t%d\t%lld\t%d\t%s\n", existed, existed ? (long long)sb.st_size : 0LL, trunc, abs);
    pthread_mutex_unlock(&trace_mu);
    int fd = trace_prev.open(path, flags, mode), err = errno;
    if (fd < 0) {
        free(abs);
    } else {
        pthread_mutex_lock(&trace_mu);
        trace_remember(fd, abs, dir, size);
        pthread_mutex_unlock(&trace_mu);
    }
    errno = err;
    return fd;
}

static ssize_t trace_write(int fd, const void *p, size_t n)
{
    uint64_t off = 0;
    pthread_mutex_lock(&trace_mu);
    trace_fd_t *e = trace_entry(fd);
    if (e && !e->dir) {
        off_t at = lseek(fd, 0, SEEK_CUR);
        off = at < 0 ? 0 : (uint64_t)at; /* unknown: as if from the start */
        if (e->gen != trace_gen || off < e->low) {
            trace_line("write\t%llu\t%s\n", (unsigned long long)off, e->path);
            e->low = off;
            e->gen = trace_gen;
        }
    }
    pthread_mutex_unlock(&trace_mu);
    ssize_t w = trace_prev.write(fd, p, n);
    int err = errno;
    if (w > 0) {
        pthread_mutex_lock(&trace_mu);
        if ((e = trace_entry(fd)) && off + (uint64_t)w > e->size)
            e->size = off + (uint64_t)w;
        pthread_mutex_unlock(&trace_mu);
    }
    errno = err;
    return w;
}

static int trace_sync(int fd, int (*call)(int))
{
    int rc = call(fd), err = errno;
    if (rc < 0)
        return rc;
    pthread_mutex_lock(&trace_mu);
    trace_fd_t *e = trace_entry(fd);
    if (e && e->dir)
        trace_line("dirsync\t%s\n", e->path);
    else if (e)
        trace_line("sync\t%llu\t%s\n", (unsigned long long)e->size, e->path);
    trace_gen++;
    pthread_mutex_unlock(&trace_mu);
    errno = err;
    return rc;
}

static int trace_fdatasync(int fd)
{
    return trace_sync(fd, trace_prev.fdatasync);
}

static int trace_fsync(int fd)
{
    return trace_sync(fd, trace_prev.fsync);
}

static int trace_rename(const char *from, const char *to)
{
    char *a = trace_abs(from), *b = trace_abs(to);
    pthread_mutex_lock(&trace_mu);
    trace_line("rename\t%s\t%s\n", a, b);
    pthread_mutex_unlock(&trace_mu);
    free(a);
    free(b);
    return trace_prev.rename(from, to);
}

static int trace_ftruncate(int fd, off_t len)
{
    pthread_mutex_lock(&trace_mu);
    trace_fd_t *e = trace_entry(fd);
    if (e)
        trace_line("trunc\t%lld\t%s\n", (long long)len, e->path);
    pthread_mutex_unlock(&trace_mu);
    int rc = trace_prev.ftruncate(fd, len), err = errno;
    if (rc == 0) {
        pthread_mutex_lock(&trace_mu);
        if ((e = trace_entry(fd)))
            e->size = (uint64_t)len;
        pthread_mutex_unlock(&trace_mu);
    }
    errno = err;
    return rc;
}

static const io_ops_t trace_ops = {
    .open = trace_open,
    .write = trace_write,
    .fdatasync = trace_fdatasync,
    .fsync = trace_fsync,
    .rename = trace_rename,
    .ftruncate = trace_ftruncate,
};

/* ---- fork: the child must not inherit trace_mu held by another thread ---- */

static void trace_prepare(void)
{
    pthread_mutex_lock(&trace_mu);
}

static void trace_resume(void)
{
    pthread_mutex_unlock(&trace_mu);
}

static void trace_register_fork(void)
{
    pthread_atfork(trace_prepare, trace_resume, trace_resume);
}

/* ---- install ---- */

/* Maps the trace file, making it one if it is empty; 0 or -errno. */
static int trace_map_file(const char *path)
{
    struct stat sb;
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644), rc = 0;
    if (fd < 0)
        return -errno;
    if (fstat(fd, &sb) < 0 || (sb.st_size == 0 && ftruncate(fd, (off_t)TRACE_CAP) < 0))
        rc = -errno;
    else if (sb.st_size != 0 && (uint64_t)sb.st_size != TRACE_CAP)
        rc = -EINVAL; /* not a trace */
    void *m = rc ? MAP_FAILED : mmap(NULL, TRACE_CAP, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (!rc && m == MAP_FAILED)
        rc = -errno;
    close(fd);
    if (rc)
        return rc;
    trace_hdr_t *h = m;
    if (sb.st_size == 0)
        memcpy(h->magic, "SLUICETR", 8);
    else if (memcmp(h->magic, "SLUICETR", 8) != 0) {
        munmap(m, TRACE_CAP);
        return -EINVAL;
    }
    trace_map = m;
    return 0;
}

int io_trace_install(const char *path)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    if (trace_on)
        return -EBUSY;
    if (!getcwd(trace_cwd, sizeof trace_cwd))
        return -errno;
    int rc = trace_map_file(path);
    if (rc < 0)
        return rc;
    pthread_once(&once, trace_register_fork);
    pthread_mutex_lock(&trace_mu);
    trace_prev = io_ops;
    io_ops = trace_ops;
    trace_on = 1;
    pthread_mutex_unlock(&trace_mu);
    return 0;
}

void io_trace_uninstall(void)
{
    pthread_mutex_lock(&trace_mu);
    if (!trace_on) {
        pthread_mutex_unlock(&trace_mu);
        return;
    }
#define TRACE_PUT_BACK(f) \
    if (io_ops.f == trace_ops.f) \
        io_ops.f = trace_prev.f
    TRACE_PUT_BACK(open);
    TRACE_PUT_BACK(write);
    TRACE_PUT_BACK(fdatasync);
    TRACE_PUT_BACK(fsync);
    TRACE_PUT_BACK(rename);
    TRACE_PUT_BACK(ftruncate);
#undef TRACE_PUT_BACK
    trace_on = 0;
    munmap(trace_map, TRACE_CAP);
    trace_map = NULL;
    for (size_t i = 0; i < trace_nfds; i++)
        free(trace_fds[i].path);
    free(trace_fds);
    trace_fds = NULL;
    trace_nfds = 0;
    pthread_mutex_unlock(&trace_mu);
}
