/*
 * store — how the engine makes its state durable. The engine keeps its live
 * state in memory and describes every mutation as a typed record; the store
 * makes records durable, tells the loop how far durability has reached, and
 * on start replays what it holds so the engine can rebuild its state.
 *
 *   engine mutation ──store_append()──▶ batch (loop thread)
 *     end of loop iteration ──▶ log thread: write + fsync (group commit)
 *     ──▶ eventfd ──▶ durable callback(lsn) on the loop ──▶ replies released
 *
 * LSNs are assigned by store_append in call order, starting at 1, and never
 * reused. A reply that reports a mutation must not leave the process before
 * store_durable_lsn() has reached that mutation's LSN; the HTTP layer holds
 * each reply until then.
 *
 * Durability meaning per fsync policy:
 *   always   — the record is on stable storage (fdatasync done) before it
 *              counts as durable; many records share one fdatasync.
 *   interval — the record has been written to the file (survives a crash of
 *              the process); fdatasync runs every fsync_interval_ms.
 *   off      — as interval, but fdatasync only on rotation and clean close.
 *
 * Compaction: once the log since the last snapshot exceeds compact_bytes, the
 * daemon calls store_checkpoint(). The store rotates to a new segment, forks,
 * and the child writes the engine's whole state (through the dump callback,
 * as records) to a new snapshot; when the child has made it durable the parent
 * installs it and deletes the segments it covers. Recovery = newest snapshot
 * + the records of later segments.
 *
 * Failure: a failed write or fsync is not retried (the kernel may have
 * dropped the dirty pages); the store enters the failed state, durability
 * never advances again, and the durable callback is told so the daemon can
 * stop without acknowledging anything that is not on disk.
 *
 * Threads: everything here is called on the loop thread, except that
 * the dump callback runs in the forked child.
 */
#ifndef SLUICE_STORE_H
#define SLUICE_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "net/loop.h"
#include "util/metrics.h"

typedef enum { FSYNC_ALWAYS, FSYNC_INTERVAL, FSYNC_OFF } fsync_policy_t;

typedef struct store_config {
    const char *dir;           /* created if missing; locked for exclusive use */
    fsync_policy_t fsync;
    uint64_t fsync_interval_ms; /* for FSYNC_INTERVAL; default 1000 */
    uint64_t sync_gap_us;       /* FSYNC_ALWAYS: fdatasyncs begin at least this far apart; 0: at once */
    uint64_t segment_bytes;     /* rotate the active segment beyond this; default 64 MiB */
    uint64_t compact_bytes;     /* checkpoint beyond this much log since the last snapshot; default 256 MiB */
} store_config_t;

typedef struct store store_t;

/* Record types are the engine's business; 0 and 0xF0..0xFF are reserved. */
#define STORE_TYPE_MIN 1
#define STORE_TYPE_MAX 0xEF

/* Called once per record during recovery, snapshot records first and then the
 * log, in LSN order. Returning non-zero aborts recovery (the engine found a
 * record it cannot apply: corruption that the checksum did not catch). */
typedef int (*store_apply_fn)(void *ctx, uint8_t type, const void *payload, size_t len);

/* Writes the engine's whole state as records through store_snap_put(). Runs
 * in a forked child; returns 0 on success. */
typedef struct store_snap store_snap_t;
typedef int (*store_dump_fn)(void *ctx, store_snap_t *snap);
void store_snap_put(store_snap_t *snap, uint8_t type, const void *payload, size_t len);

/* Called on the loop when durability advances; failed is set once if the
 * store has failed (durable_lsn then stays where it is for good). */
typedef void (*store_durable_fn)(void *arg, uint64_t durable_lsn, int failed);

/* Opens (creating) the directory and takes its lock. Returns 0 or -errno and
 * writes a reason into why[why_len]. */
int store_open(const store_config_t *cfg, loop_t *loop, store_t **out, char *why, size_t why_len);

/* Replays snapshot + log into apply. A torn or corrupt tail of the newest
 * segment is cut (with a log line saying where and how many bytes); damage
 * anywhere else fails recovery. Returns 0 or -1 with a reason in why. */
int store_recover(store_t *st, store_apply_fn apply, void *ctx, char *why, size_t why_len);

/* Starts the log thread and opens a fresh segment. Call after recover. */
int store_start(store_t *st, store_durable_fn cb, void *arg, char *why, size_t why_len);

/* Appends one record to the current batch; returns its LSN. The batch goes to
 * the log thread at the end of the loop iteration. */
uint64_t store_append(store_t *st, uint8_t type, const void *payload, size_t len);

/* Atomic groups. Records appended between store_group_begin and
 * store_group_end are written as one record (one LSN, one checksum): after a
 * crash recovery applies all of them or none. Used where one engine call
 * must change several things at once (a topic publish fanning out into many
 * queues). Every append inside the group returns the group's LSN. Groups
 * nest; only the outermost end emits. An empty group emits nothing. Recovery
 * hands the members to apply one by one, in order, as ordinary records. */
void store_group_begin(store_t *st);
void store_group_end(store_t *st);

/* Runs the durable callback now for durability the log thread has
 * published but the loop has not yet been woken for, so that a caller that
 * must know at once (the HTTP layer, before refusing a request for load)
 * need not wait for the next iteration. */
void store_poll(store_t *st);

uint64_t store_last_lsn(const store_t *st);    /* highest LSN handed out */
uint64_t store_durable_lsn(const store_t *st); /* highest LSN durable under the policy */
int store_failed(const store_t *st);

/* True when the log since the last snapshot exceeds compact_bytes and no
 * checkpoint is running. */
int store_compact_due(const store_t *st);
/* Starts a checkpoint (fork + dump). Returns 0, or -errno if it could not start. */
int store_checkpoint(store_t *st, store_dump_fn dump, void *ctx);
int store_checkpoint_running(const store_t *st);

typedef struct store_stats {
    uint64_t last_lsn, durable_lsn, snapshot_lsn;
    uint64_t log_bytes_since_snapshot;
    uint64_t batches, fsyncs, records;
    unsigned segments;
    uint64_t snapshot_wall_ms; /* when the newest snapshot was written (wall ms); 0: none yet */
} store_stats_t;
void store_get_stats(const store_t *st, store_stats_t *out);
/* Copies of the log thread's histograms (util/metrics.h): each fdatasync of
 * the log in µs, and the records each write of the log carried (a group
 * of several engine records is one). Any thread. */
void store_get_histograms(const store_t *st, metrics_hist_t *sync_us, metrics_hist_t *write_records);

/* Hands over the last batch, waits until it is written and fsynced (whatever
 * the policy), stops the thread and releases the directory. 0, or -EIO when
 * the store had failed or that last write or sync failed (what was answered
 * under interval/off may then not be on disk). */
int store_close(store_t *st);

const char *fsync_policy_name(fsync_policy_t p);
int fsync_policy_parse(const char *s, fsync_policy_t *out);

#endif
