/*
 * io — the fault-injection seam for every write the store makes. All file
 * opens, writes, syncs, renames and truncations of the store go through io_ops, which
 * point at the real system calls; tests swap in versions that fail or write
 * short (disk full, EIO, torn writes) to show the store never acknowledges
 * what is not on disk. One durable-file recipe lives here too.
 */
#ifndef SLUICE_IO_H
#define SLUICE_IO_H

#include <stddef.h>
#include <sys/types.h>

typedef struct io_ops {
    int (*open)(const char *path, int flags, mode_t mode);
    ssize_t (*write)(int fd, const void *p, size_t n);
    int (*fdatasync)(int fd);
    int (*fsync)(int fd);
    int (*rename)(const char *from, const char *to);
    int (*ftruncate)(int fd, off_t len);
} io_ops_t;

extern io_ops_t io_ops;  /* the active operations */
void io_ops_reset(void); /* back to the real system calls */

/* Writes all n bytes (retrying short writes and EINTR). 0 or -errno. */
int io_write_all(int fd, const void *p, size_t n);
/* fsyncs the directory holding path (so a create/rename/unlink is durable). */
int io_fsync_dir(const char *dir);
/* The one durable-write recipe: write dir/name.tmp, fsync, rename over
 * dir/name, fsync dir. 0 or -errno; the temp file is removed on failure. */
int io_write_file_durable(const char *dir, const char *name, const void *p, size_t n);

#endif
