/*
 * io — the store's fault-injection seam and its one durable-write recipe.
 *
 * Every open, write, sync, rename and truncation the store makes goes through the
 * io_ops table, which points at the real system calls; tests replace single
 * entries to simulate a full disk, EIO from fsync or torn (short) writes, and
 * io_ops_reset() restores the real calls. The helpers below are built on
 * io_ops too, so injected faults reach them.
 *
 * Durable-write recipe (io_write_file_durable): write dir/name.tmp, fsync it,
 * rename it over dir/name, fsync the directory. If any step fails the temp
 * file is removed and the old dir/name, if any, is untouched.
 *
 * Threads: io_ops is a plain global read by the loop thread, the log thread
 * and a checkpoint child; tests swap entries only while no store runs, or
 * swap in functions that decide by themselves when to fail.
 */
#include "store/io.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <unistd.h>

static int io_sys_open(const char *path, int flags, mode_t mode)
{
    return open(path, flags, mode);
}

static ssize_t io_sys_write(int fd, const void *p, size_t n)
{
    return write(fd, p, n);
}

static int io_sys_fdatasync(int fd)
{
    return fdatasync(fd);
}

static int io_sys_fsync(int fd)
{
    return fsync(fd);
}

static int io_sys_rename(const char *from, const char *to)
{
    return rename(from, to);
}

static int io_sys_ftruncate(int fd, off_t len)
{
    return ftruncate(fd, len);
}

static const io_ops_t io_real = {
    .open = io_sys_open,
    .write = io_sys_write,
    .fdatasync = io_sys_fdatasync,
    .fsync = io_sys_fsync,
    .rename = io_sys_rename,
    .ftruncate = io_sys_ftruncate,
};

io_ops_t io_ops = {
    .open = io_sys_open,
    .write = io_sys_write,
    .fdatasync = io_sys_fdatasync,
    .fsync = io_sys_fsync,
    .rename = io_sys_rename,
    .ftruncate = io_sys_ftruncate,
};

void io_ops_reset(void)
{
    io_ops = io_real;
}

int io_write_all(int fd, const void *p, size_t n)
{
    const char *s = p;
    while (n > 0) {
        ssize_t w = io_ops.write(fd, s, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return errno ? -errno : -EIO;
        if (w == 0)
            return -EIO; /* no progress and no error: do not spin */
        s += w;
        n -= (size_t)w;
    }
    return 0;
}

int io_fsync_dir(const char *dir)
{
    int fd = io_ops.open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    int rc = io_ops.fsync(fd) < 0 ? -errno : 0;
    close(fd);
    return rc;
}

static int io_path(char *out, size_t cap, const char *dir, const char *name, const char *suffix)
{
    int n = snprintf(out, cap, "%s/%s%s", dir, name, suffix);
    return n < 0 || (size_t)n >= cap ? -ENAMETOOLONG : 0;
}

int io_write_file_durable(const char *dir, const char *name, const void *p, size_t n)
{
    char tmp[PATH_MAX], dst[PATH_MAX];
    int fd = -1, renamed = 0, rc;
    if ((rc = io_path(tmp, sizeof tmp, dir, name, ".tmp")) < 0 || (rc = io_path(dst, sizeof dst, dir, name, "")) < 0)
        return rc;
    fd = io_ops.open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return -errno;
    if ((rc = io_write_all(fd, p, n)) < 0)
        goto cleanup;
    if (io_ops.fsync(fd) < 0) {
        rc = -errno;
        goto cleanup;
    }
    if (close(fd) < 0) {
        fd = -1;
        rc = -errno;
        goto cleanup;
    }
    fd = -1;
    if (io_ops.rename(tmp, dst) < 0) {
        rc = -errno;
        goto cleanup;
    }
    renamed = 1;
    rc = io_fsync_dir(dir);
cleanup:
    if (fd >= 0)
        close(fd);
    if (!renamed)
        unlink(tmp);
    return rc;
}
