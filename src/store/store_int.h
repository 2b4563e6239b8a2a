/*
 * store_int — what the store's three files share: the on-disk formats, the
 * store object itself, and the cross-file internals (double underscore).
 *
 *   store.c     public API on the loop thread: open/lock, recover, start,
 *               append + batch hand-over, durable notifications, close;
 *               plus the record framing and file helpers used by the others.
 *   wal.c       the log thread (write, fsync policy, rotation, failure) and
 *               the replay of log segments during recovery.
 *   snapshot.c  checkpoints (fork, child writer, install) and the loading
 *               of snapshots during recovery.
 *
 * On-disk formats (all integers little-endian):
 *   record   u32 len | u32 crc32c(lsn,type,payload) | u64 lsn | u8 type | payload
 *            len counts lsn+type+payload, so a record takes 8 + len bytes.
 *   file hdr 8-byte magic | u32 version | u64 lsn | u32 crc32c(first 20 bytes)
 *   segment  wal-<first lsn, 20 digits>.log: "SLUICEWL" header, then records
 *            with consecutive LSNs starting at the header's lsn, then
 *            possibly zeros (written ahead by the log thread; an all-zero
 *            tail ends the segment).
 *   snapshot snap-<X, 20 digits>.dat: "SLUICESN" header with the covered LSN
 *            X, records numbered 1..n in their lsn field, then a trailer
 *            record (type 0xFF, lsn X, payload u64 n) ending the file. A
 *            snapshot without its trailer is incomplete and invalid.
 */
#ifndef SLUICE_STORE_INT_H
#define SLUICE_STORE_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/types.h>

#include "net/loop.h"
#include "store/store.h"
#include "util/buf.h"
#include "util/metrics.h"

#define STORE__REC_HDR 17u   /* len + crc + lsn + type */
#define STORE__FILE_HDR 24u  /* magic + version + lsn + crc */
#define STORE__VERSION 1u
#define STORE__MAX_PAYLOAD (UINT32_MAX - 9u)
#define STORE__MAX_LSN (UINT64_MAX >> 2) /* headers beyond this are corrupt */
#define STORE__TRAILER 0xFFu
#define STORE__GROUP 0xF1u /* payload: (u8 type | u32 len | payload)* — an atomic group */
#define STORE__WAL_MAGIC "SLUICEWL"
#define STORE__SNAP_MAGIC "SLUICESN"
#define STORE__NAME_MAX 40
#define STORE__NONE SIZE_MAX /* no rotation requested */

/* One record parsed in place from a mapped file. */
typedef struct store__rec {
    uint64_t lsn;
    uint8_t type;
    const uint8_t *payload;
    size_t len;  /* payload bytes */
    size_t size; /* whole record on disk */
} store__rec_t;

/* A file read in one piece (mmap); p is NULL when the file is empty. */
typedef struct store__map {
    int fd;
    const uint8_t *p;
    size_t n;
} store__map_t;

/* A segment or snapshot found in the directory. */
typedef struct store__file {
    uint64_t lsn;
    char name[STORE__NAME_MAX];
} store__file_t;

/* The newest snapshot recovery could not use, if any. */
typedef struct store__skip {
    uint64_t lsn;
    char reason[512];
} store__skip_t;

typedef struct store__ckpt {
    pid_t pid;         /* child still running, or 0 */
    int pidfd;         /* watched on the loop, or -1 (then the timer polls) */
    loop_io_t io;
    loop_timer_t timer;
    int waiting;       /* child succeeded; the log thread is installing it */
    uint64_t lsn;      /* X: the snapshot covers every record <= X */
    uint64_t mark;     /* log_bytes_since_snapshot when it started */
    uint64_t start_ms;
} store__ckpt_t;

struct store {
    store_config_t cfg;
    char *dir;
    loop_t *loop;
    int lock_fd;
    int recovered, started;

    /* Loop thread only. */
    buf_t batch;            /* framed records of this iteration */
    buf_t group;            /* members of the open group, see store_group_begin */
    int group_depth;
    uint64_t group_lsn;     /* the open group's LSN, 0 until its first member */
    uint64_t last_lsn;
    uint64_t snapshot_lsn;
    uint64_t snapshot_wall_ms; /* when the newest snapshot was written (its file's mtime at recovery); 0: none */
    uint64_t log_bytes_since_snapshot;
    uint64_t records;
    uint64_t reported_lsn;
    int reported_failed;
    store_durable_fn cb;
    void *cb_arg;
    loop_async_t async;
    store__ckpt_t ckpt;

    /* Shared between the loop and the log thread, under mu. */
    pthread_mutex_t mu;
    pthread_cond_t cond;
    buf_t pending;          /* handed over, not yet taken by the thread */
    uint64_t pending_last;  /* LSN of the last record in pending */
    size_t rotate_at;       /* rotate after pending[0..rotate_at), or STORE__NONE */
    uint64_t rotate_lsn;    /* LSN of the last record before rotate_at */
    uint64_t install_lsn;   /* checkpoint the thread should install, or 0 */
    int install_result;     /* set by the thread: 1 installed, -1 discarded */
    int stop;

    /* Log thread only (and store_start / store_close around it). */
    pthread_t thread;
    int seg_fd;
    uint64_t seg_first, seg_bytes;
    uint64_t seg_zeroed; /* the segment file's length: zeros from seg_bytes on */
    int seg_plain;       /* writing zeros ahead failed: this segment appends */
    uint64_t written_lsn, synced_lsn;
    uint64_t last_sync_ms;
    uint64_t sync_start_ns; /* when the last fdatasync began (commit delay) */
    buf_t writing;

    /* Published by the log thread, read anywhere. */
    _Atomic uint64_t durable_lsn;
    _Atomic int failed;
    _Atomic uint64_t active_first; /* first LSN of the active segment */
    _Atomic uint64_t batches, fsyncs;
    _Atomic unsigned segments;
    metrics_shared_hist_t sync_us;     /* each fdatasync of the log, µs */
    metrics_shared_hist_t write_records; /* records per write of the log (a group commit) */
};

/* store.c: formats and files */
void store__why(char *why, size_t why_len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void store__frame(buf_t *b, uint64_t lsn, uint8_t type, const void *payload, size_t len);
/* Hands one stored record to apply, unpacking an atomic group into its
 * members. Returns apply's result, or -1 for a malformed group. */
int store__apply(store_apply_fn apply, void *ctx, uint8_t type, const uint8_t *payload, size_t len);
/* 1: a record at off; 0: clean end; -1: damaged, *what says how. */
int store__rec_next(const uint8_t *p, size_t n, size_t off, store__rec_t *r, const char **what);
void store__hdr_put(uint8_t out[STORE__FILE_HDR], const char *magic, uint64_t lsn);
/* 0 and *lsn, or -1 with *what. */
int store__hdr_check(const uint8_t *p, size_t n, const char *magic, uint64_t *lsn, const char **what);
int store__map_open(const char *path, int writable, store__map_t *m); /* 0 or -errno */
void store__map_close(store__map_t *m);
/* Files named <prefix><20 digits><suffix>, ascending by LSN; *out is freed by the caller. */
size_t store__list(const store_t *st, const char *prefix, const char *suffix, store__file_t **out);
void store__path(const store_t *st, const char *name, char *out, size_t cap);
void store__name(char *out, const char *prefix, uint64_t lsn, const char *suffix);

/* wal.c */
int wal__start(store_t *st, char *why, size_t why_len);
void wal__handover(store_t *st, int rotate);
void wal__stop(store_t *st);
int wal__replay(store_t *st, uint64_t base, const store__skip_t *skip, store_apply_fn apply, void *ctx, char *why,
                size_t why_len);

/* snapshot.c */
void snap__init(store_t *st);
int snap__recover(store_t *st, store_apply_fn apply, void *ctx, uint64_t *base, store__skip_t *skip, char *why,
                  size_t why_len);
int snap__install(store_t *st, uint64_t lsn); /* log thread: rename, fsync dir, prune */
void snap__poll(store_t *st);                 /* loop: collect the install result */
void snap__close(store_t *st);                /* loop, before the thread stops */

#endif
