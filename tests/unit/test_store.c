/*
 * test_store — the embedded store: round trips across segments and
 * restarts, durability per fsync policy, torn tails, corruption and gaps,
 * checkpoints, the directory lock, injected I/O faults, and the sync trace
 * (io_trace) that the crash loop simulates power loss from.
 *
 * Each test runs in its own temp directory; the store lives in ./db. Records
 * are "rec-NNN" (7 bytes), so every log record takes 24 bytes on disk and
 * offsets can be computed: header 24 + k * 24. Tests that need the loop run
 * it through run_until(), which polls a predicate every millisecond and
 * gives up (failing the test) after a deadline, so nothing can hang.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "loop_fixture.h"
#include "net/loop.h"
#include "store/io.h"
#include "store/io_fault.h"
#include "store/io_trace.h"
#include "store/store.h"
#include "store/store_int.h"
#include "util/clock.h"

#define DB "db"
#define REC 24u /* on-disk size of one "rec-NNN" record */
#define HDR 24u
#define MAXREC 256
#define WAIT_MS 5000

/* ---- what recovery applied ---- */

typedef struct coll {
    size_t n;
    uint8_t type[MAXREC];
    char payload[MAXREC][16];
    int reject_at; /* 1-based record to reject, or 0 */
} coll_t;

static int coll_apply(void *ctx, uint8_t type, const void *p, size_t len)
{
    coll_t *c = ctx;
    if (c->n == MAXREC || len >= sizeof c->payload[0] || (c->reject_at && (int)c->n + 1 == c->reject_at))
        return -1;
    c->type[c->n] = type;
    memcpy(c->payload[c->n], p, len);
    c->payload[c->n][len] = '\0';
    c->n++;
    return 0;
}

static void rec_name(char *out, unsigned i)
{
    snprintf(out, 16, "rec-%03u", i % 1000);
}

/* ---- durable callback ---- */

typedef struct track {
    uint64_t durable;
    int failed, calls, regressed;
} track_t;

static void track_cb(void *arg, uint64_t lsn, int failed)
{
    track_t *t = arg;
    if (lsn < t->durable)
        t->regressed = 1;
    t->durable = lsn;
    t->failed |= failed;
    t->calls++;
}


/* ---- a store under test ---- */

typedef struct fixture {
    loop_t *loop;
    store_t *st;
    store_config_t cfg;
    coll_t rec;
    track_t tr;
    char why[512];
    unsigned appended, total, chunk;
} fixture_t;

static store_config_t cfg_default(void)
{
    return (store_config_t){.dir = DB, .fsync = FSYNC_ALWAYS, .fsync_interval_ms = 1000,
                            .segment_bytes = 64u << 20, .compact_bytes = 1u << 20};
}

/* Opens, recovers into f->rec and starts; 0 or the failing step's code. */
static int fx_open(fixture_t *f, store_config_t cfg)
{
    memset(&f->rec, 0, sizeof f->rec);
    memset(&f->tr, 0, sizeof f->tr);
    f->why[0] = '\0';
    f->cfg = cfg;
    f->loop = loop_new();
    f->st = NULL;
    if (store_open(&cfg, f->loop, &f->st, f->why, sizeof f->why) < 0)
        return 1;
    if (store_recover(f->st, coll_apply, &f->rec, f->why, sizeof f->why) < 0)
        return 2;
    return store_start(f->st, track_cb, &f->tr, f->why, sizeof f->why) < 0 ? 3 : 0;
}

static void fx_close(fixture_t *f)
{
    store_close(f->st);
    loop_free(f->loop);
    f->st = NULL;
    f->loop = NULL;
}

static void fx_append(fixture_t *f, unsigned n)
{
    char p[16];
    for (unsigned i = 0; i < n; i++) {
        rec_name(p, ++f->appended);
        store_append(f->st, 1, p, 7);
    }
}

/* Appends f->total records, f->chunk per iteration, each chunk only once the
 * previous one is durable: batches (and so segments) are deterministic. */
static int pred_feed(void *arg)
{
    fixture_t *f = arg;
    if (f->appended < f->total && f->tr.durable == f->appended) {
        unsigned n = f->total - f->appended < f->chunk ? f->total - f->appended : f->chunk;
        fx_append(f, n);
    }
    return f->tr.durable == f->total && f->appended == f->total;
}

static int fx_feed(fixture_t *f, unsigned total, unsigned chunk)
{
    f->total = total;
    f->chunk = chunk;
    return run_until(f->loop, pred_feed, f, WAIT_MS);
}

/* Recovers a closed store into f->rec without starting it. */
static int fx_recover_only(fixture_t *f, store_config_t cfg)
{
    memset(&f->rec, 0, sizeof f->rec);
    f->why[0] = '\0';
    f->loop = loop_new();
    if (store_open(&cfg, f->loop, &f->st, f->why, sizeof f->why) < 0)
        return -1;
    return store_recover(f->st, coll_apply, &f->rec, f->why, sizeof f->why);
}

/* ---- files ---- */

static const char *seg_path(uint64_t first)
{
    static char p[64];
    snprintf(p, sizeof p, DB "/wal-%020llu.log", (unsigned long long)first);
    return p;
}

static const char *snap_path(uint64_t lsn)
{
    static char p[64];
    snprintf(p, sizeof p, DB "/snap-%020llu.dat", (unsigned long long)lsn);
    return p;
}

static long long file_size(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0 ? (long long)sb.st_size : -1;
}

static int exists(const char *path)
{
    return access(path, F_OK) == 0;
}

static void flip_byte(const char *path, long off)
{
    int fd = open(path, O_RDWR);
    unsigned char c = 0;
    if (pread(fd, &c, 1, off) == 1) {
        c ^= 0x5a;
        if (pwrite(fd, &c, 1, off) != 1)
            abort();
    }
    close(fd);
}

static int count_files(const char *prefix)
{
    DIR *d = opendir(DB);
    struct dirent *e;
    int n = 0;
    while (d && (e = readdir(d)))
        n += strncmp(e->d_name, prefix, strlen(prefix)) == 0;
    if (d)
        closedir(d);
    return d ? n : -1;
}

static int copy_file(const char *from, const char *to)
{
    char buf[4096];
    int in = open(from, O_RDONLY), out = open(to, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ssize_t n = 0;
    while (in >= 0 && out >= 0 && (n = read(in, buf, sizeof buf)) > 0)
        if (write(out, buf, (size_t)n) != n)
            n = -1;
    if (in >= 0)
        close(in);
    if (out >= 0)
        close(out);
    return in < 0 || out < 0 || n < 0 ? -1 : 0;
}

static int check_records(const coll_t *c, unsigned from, unsigned to, size_t at, uint8_t type)
{
    char want[16];
    for (unsigned i = from; i <= to; i++, at++) {
        rec_name(want, i);
        if (at >= c->n || c->type[at] != type || strcmp(c->payload[at], want) != 0)
            return 0;
    }
    return 1;
}

/* ---- stderr capture, to check the log lines ---- */

static int cap_saved = -1;

static void capture_begin(void)
{
    fflush(stderr);
    cap_saved = dup(2);
    int fd = open("stderr.txt", O_WRONLY | O_CREAT | O_TRUNC, 0644);
    dup2(fd, 2);
    close(fd);
}

static char cap_text[8192];

static const char *capture_end(void)
{
    fflush(stderr);
    dup2(cap_saved, 2);
    close(cap_saved);
    cap_text[0] = '\0';
    FILE *fp = fopen("stderr.txt", "r");
    if (fp) {
        size_t n = fread(cap_text, 1, sizeof cap_text - 1, fp);
        cap_text[n] = '\0';
        fclose(fp);
    }
    return cap_text;
}

/* fx_recover_only with the default config, its log lines in *log. */
static int fx_recover_logged(fixture_t *f, const char **log)
{
    capture_begin();
    int rc = fx_recover_only(f, cfg_default());
    *log = capture_end();
    return rc;
}


/* fx_open with the default config, its log lines in *log. */
static int fx_open_logged(fixture_t *f, const char **log)
{
    capture_begin();
    int rc = fx_open(f, cfg_default());
    *log = capture_end();
    return rc;
}

/* ---- fault injection ---- */

static atomic_int fault_budget; /* calls that still succeed */
static atomic_int fault_calls;

static int fail_fdatasync(int fd)
{
    if (atomic_fetch_sub(&fault_budget, 1) <= 0) {
        errno = EIO;
        return -1;
    }
    return fdatasync(fd);
}

static ssize_t fail_write(int fd, const void *p, size_t n)
{
    if (atomic_fetch_sub(&fault_budget, 1) <= 0) {
        errno = ENOSPC;
        return -1;
    }
    return write(fd, p, n);
}

/* At most 7 bytes per call, and EINTR on every third call. */
static ssize_t short_write(int fd, const void *p, size_t n)
{
    if (atomic_fetch_add(&fault_calls, 1) % 3 == 1) {
        errno = EINTR;
        return -1;
    }
    return write(fd, p, n > 7 ? 7 : n);
}

static int fail_fsync(int fd)
{
    (void)fd;
    errno = EIO;
    return -1;
}

static int fail_rename(const char *a, const char *b)
{
    (void)a, (void)b;
    errno = EXDEV;
    return -1;
}

/* ==== round trips ==== */

TEST(roundtrip_across_segments)
{
    fixture_t f = {0};
    store_config_t cfg = cfg_default();
    cfg.segment_bytes = 100; /* 5 records = 144 bytes: every batch rotates */
    CHECK_INT(fx_open(&f, cfg), 0);
    CHECK_INT(store_last_lsn(f.st), 0);
    CHECK(fx_feed(&f, 20, 5));
    store_stats_t s;
    store_get_stats(f.st, &s);
    CHECK_INT(s.last_lsn, 20);
    CHECK_INT(s.durable_lsn, 20);
    CHECK_INT(s.records, 20);
    CHECK_INT(s.segments, 5);
    CHECK_INT(s.batches, 4);
    fx_close(&f);
    CHECK_INT(count_files("wal-"), 5);
    for (unsigned first = 1; first <= 16; first += 5)
        CHECK_INT(file_size(seg_path(first)), HDR + 5 * REC);
    CHECK_INT(file_size(seg_path(21)), HDR);

    CHECK_INT(fx_open(&f, cfg), 0);
    CHECK_INT(f.rec.n, 20);
    CHECK(check_records(&f.rec, 1, 20, 0, 1));
    CHECK_INT(store_last_lsn(f.st), 20);
    fx_close(&f);
}

TEST(lsn_continues_after_restart)
{
    fixture_t f = {0};
    CHECK_INT(fx_open(&f, cfg_default()), 0);
    CHECK(fx_feed(&f, 5, 5));
    fx_close(&f);

    CHECK_INT(fx_open(&f, cfg_default()), 0);
    CHECK_INT(f.rec.n, 5);
    CHECK_INT(store_last_lsn(f.st), 5);
    CHECK_INT(store_durable_lsn(f.st), 5);
    CHECK_INT(store_append(f.st, 1, "rec-006", 7), 6);
    CHECK_INT(store_append(f.st, 1, "rec-007", 7), 7);
    fx_close(&f); /* close writes and syncs without running the loop */
    CHECK_INT(file_size(seg_path(6)), HDR + 2 * REC);

    CHECK_INT(fx_open(&f, cfg_default()), 0);
    CHECK_INT(f.rec.n, 7);
    CHECK(check_records(&f.rec, 1, 7, 0, 1));
    CHECK_INT(store_append(f.st, 1, "rec-008", 7), 8);
    fx_close(&f);
}

TEST(fresh_store_without_records_restarts_cleanly)
{
    fixture_t f = {0};
    CHECK_INT(fx_open(&f, cfg_default()), 0);
    fx_close(&f);
    CHECK_INT(fx_open(&f, cfg_default()), 0); /* wal-1 is recreated, not duplicated */
    CHECK_INT(f.rec.n, 0);
    CHECK_INT(count_files("wal-"), 1);
    CHECK_INT(store_append(f.st, 1, "rec-001", 7), 1);
    fx_close(&f);
}

/* ==== durability per policy ==== */

static int durable_policy_case(fsync_policy_t p, store_stats_t *s)
{
    fixture_t f = {0};
    store_config_t cfg = cfg_default();
    cfg.fsync = p;
    cfg.fsync_interval_ms = 20;
    if (fx_open(&f, cfg) != 0 || !fx_feed(&f, 30, 3))
        return -1;
    int ok = f.tr.durable == 30 && store_durable_lsn(f.st) == 30 && !f.tr.failed && !f.tr.regressed &&
             f.tr.calls >= 1 && f.tr.calls <= 10;
    if (p == FSYNC_INTERVAL)
        run_until(f.loop, never, NULL, 120); /* let the interval fsync run */
    store_get_stats(f.st, s);
    fx_close(&f);
    return ok ? 0 : -1;
}

TEST(durable_reaches_last_lsn_always)
{
    store_stats_t s;
    CHECK_INT(durable_policy_case(FSYNC_ALWAYS, &s), 0);
    CHECK_INT(s.batches, 10);
    CHECK_INT(s.fsyncs, 10); /* one fdatasync per batch */
}

TEST(durable_reaches_last_lsn_interval)
{
    store_stats_t s;
    CHECK_INT(durable_policy_case(FSYNC_INTERVAL, &s), 0);
    CHECK_INT(s.batches, 10);
    CHECK(s.fsyncs >= 1);
    CHECK(s.fsyncs <= 10);
}

TEST(durable_reaches_last_lsn_off)
{
    store_stats_t s;
    CHECK_INT(durable_policy_case(FSYNC_OFF, &s), 0);
    CHECK_INT(s.batches, 10);
    CHECK_INT(s.fsyncs, 0);
}

TEST(group_commit_one_handover_per_iteration)
{
    fixture_t f = {0};
    CHECK_INT(fx_open(&f, cfg_default()), 0);
    fx_append(&f, 100); /* one iteration */
    CHECK(fx_feed(&f, 100, 1));
    store_stats_t s;
    store_get_stats(f.st, &s);
    CHECK_INT(s.batches, 1);
    CHECK_INT(s.fsyncs, 1);
    CHECK_INT(f.tr.calls, 1);
    fx_close(&f);
}

/* sync_gap_us: handovers that come within the gap after an fdatasync began
 * wait and share the next one, instead of one fdatasync each. */
static int pred_durable(void *arg)
{
    fixture_t *f = arg;
    return f->tr.durable == f->appended;
}

TEST(sync_gap_merges_batches_into_one_fdatasync)
{
    fixture_t f = {0};
    store_config_t cfg = cfg_default();
    cfg.sync_gap_us = 1000000; /* 1 s: the five handovers below all fall inside it */
    CHECK_INT(fx_open(&f, cfg), 0);
    fx_append(&f, 1);
    CHECK(run_until(f.loop, pred_durable, &f, WAIT_MS));
    for (int i = 0; i < 5; i++) {
        fx_append(&f, 1);
        run_until(f.loop, never, NULL, 1); /* one iteration each: one handover each */
    }
    CHECK(run_until(f.loop, pred_durable, &f, WAIT_MS));
    store_stats_t s;
    store_get_stats(f.st, &s);
    CHECK_INT(f.tr.durable, 6);
    CHECK_INT(s.fsyncs, 2);
    fx_close(&f);
}

/* Without a gap each of those handovers is synced by itself (the thread is
 * idle when it arrives), so the test above shows the gap at work. */
TEST(no_sync_gap_syncs_each_batch)
{
    fixture_t f = {0};
    CHECK_INT(fx_open(&f, cfg_default()), 0);
    for (int i = 0; i < 6; i++) {
        fx_append(&f, 1);
        CHECK(run_until(f.loop, pred_durable, &f, WAIT_MS));
    }
    store_stats_t s;
    store_get_stats(f.st, &s);
    CHECK_INT(s.fsyncs, 6);
    fx_close(&f);
}

TEST(policy_names_round_trip)
{
    fsync_policy_t p;
    CHECK_INT(fsync_policy_parse("interval", &p), 0);
    CHECK_INT(p, FSYNC_INTERVAL);
    CHECK_STR(fsync_policy_name(FSYNC_OFF), "off");
    CHECK_STR(fsync_policy_name(FSYNC_ALWAYS), "always");
    CHECK_INT(fsync_policy_parse("sometimes", &p), -1);
}

/* ==== torn tails and damage ==== */

static int write_ten(void)
{
    fixture_t f = {0};
    if (fx_open(&f, cfg_default()) != 0 || !fx_feed(&f, 10, 10))
        return -1;
    fx_close(&f);
    return file_size(seg_path(1)) == HDR + 10 * REC ? 0 : -1;
}

TEST(torn_tail_truncated_mid_record)
{
    CHECK_INT(write_ten(), 0);
    CHECK_INT(truncate(seg_path(1), HDR + 10 * REC - 5), 0);
    fixture_t f = {0};
    const char *log;
    int rc = fx_recover_logged(&f, &log);
    CHECK_INT(rc, 0);
    CHECK_INT(f.rec.n, 9);
    CHECK(check_records(&f.rec, 1, 9, 0, 1));
    CHECK_INT(file_size(seg_path(1)), HDR + 9 * REC);
    CHECK(strstr(log, "event=store_torn_tail segment=db/wal-00000000000000000001.log offset=240 cut_bytes=19 "
                      "what=\"record extends past end of file\"") != NULL);
    CHECK_INT(store_start(f.st, track_cb, &f.tr, f.why, sizeof f.why), 0);
    CHECK_INT(store_append(f.st, 1, "rec-010", 7), 10);
    fx_close(&f);
}

/* Two plain records, then a group of three members (one LSN), nested
 * begin/end inside it, and an empty group that emits nothing. */
static int write_group(fixture_t *f)
{
    if (fx_open(f, cfg_default()) != 0)
        return -1;
    fx_append(f, 2);
    store_group_begin(f->st);
    uint64_t a = store_append(f->st, 2, "grp-001", 7);
    store_group_begin(f->st);
    uint64_t b = store_append(f->st, 3, "grp-002", 7);
    store_group_end(f->st);
    uint64_t c = store_append(f->st, 4, "grp-003", 7);
    store_group_end(f->st);
    store_group_begin(f->st);
    store_group_end(f->st);
    if (a != 3 || b != 3 || c != 3 || store_last_lsn(f->st) != 3)
        return -1;
    f->appended = 3;
    f->total = 3;
    f->chunk = 0;
    int ok = run_until(f->loop, pred_feed, f, WAIT_MS);
    fx_close(f);
    return ok ? 0 : -1;
}

TEST(group_members_replay_in_order_under_one_lsn)
{
    fixture_t f = {0};
    CHECK_INT(write_group(&f), 0);
    CHECK_INT(fx_recover_only(&f, cfg_default()), 0);
    CHECK_INT(f.rec.n, 5);
    CHECK(check_records(&f.rec, 1, 2, 0, 1));
    CHECK_STR(f.rec.payload[2], "grp-001");
    CHECK_STR(f.rec.payload[3], "grp-002");
    CHECK_STR(f.rec.payload[4], "grp-003");
    CHECK_INT(f.rec.type[2], 2);
    CHECK_INT(f.rec.type[3], 3);
    CHECK_INT(f.rec.type[4], 4);
    CHECK_INT(store_start(f.st, track_cb, &f.tr, f.why, sizeof f.why), 0);
    CHECK_INT(store_append(f.st, 1, "rec-004", 7), 4);
    fx_close(&f);
}

TEST(torn_group_is_cut_whole)
{
    fixture_t f = {0};
    CHECK_INT(write_group(&f), 0);
    long long size = file_size(seg_path(1));
    CHECK_INT(truncate(seg_path(1), size - 3), 0);
    capture_begin();
    int rc = fx_recover_only(&f, cfg_default());
    const char *log = capture_end();
    CHECK_INT(rc, 0);
    CHECK_INT(f.rec.n, 2); /* none of the group's members */
    CHECK(strstr(log, "event=store_torn_tail") != NULL);
    CHECK_INT(file_size(seg_path(1)), HDR + 2 * REC);
    fx_close(&f);
}

TEST(malformed_group_fails_recovery)
{
    fixture_t f = {0};
    CHECK_INT(fx_open(&f, cfg_default()), 0);
    store_group_begin(f.st);
    store_append(f.st, 1, "grp-001", 7);
    store_group_end(f.st);
    f.appended = f.total = 1;
    CHECK(run_until(f.loop, pred_feed, &f, WAIT_MS));
    fx_close(&f);
    /* A member whose length runs past the group: the checksum is made valid
     * again, so only the group decoder can notice. */
    coll_t c = {0};
    uint8_t bad[] = {1, 0xff, 0, 0, 0, 'x'};
    CHECK_INT(store__apply(coll_apply, &c, STORE__GROUP, bad, sizeof bad), -1);
    uint8_t reserved[] = {0xF1, 1, 0, 0, 0, 'x'};
    CHECK_INT(store__apply(coll_apply, &c, STORE__GROUP, reserved, sizeof reserved), -1);
    uint8_t good[] = {7, 1, 0, 0, 0, 'x', 8, 0, 0, 0, 0};
    CHECK_INT(store__apply(coll_apply, &c, STORE__GROUP, good, sizeof good), 0);
    CHECK_INT(c.n, 2);
    CHECK_INT(c.type[1], 8);
}

TEST(torn_tail_flipped_byte_in_last_record)
{
    CHECK_INT(write_ten(), 0);
    flip_byte(seg_path(1), HDR + 9 * REC + 19);
    fixture_t f = {0};
    const char *log;
    int rc = fx_recover_logged(&f, &log);
    CHECK_INT(rc, 0);
    CHECK_INT(f.rec.n, 9);
    CHECK(check_records(&f.rec, 1, 9, 0, 1));
    CHECK_INT(file_size(seg_path(1)), HDR + 9 * REC);
    CHECK(strstr(log, "offset=240 cut_bytes=24 what=\"checksum mismatch\"") != NULL);
    fx_close(&f);
}

static int write_four_segments(void)
{
    fixture_t f = {0};
    store_config_t cfg = cfg_default();
    cfg.segment_bytes = 100;
    if (fx_open(&f, cfg) != 0 || !fx_feed(&f, 20, 5))
        return -1;
    fx_close(&f);
    return count_files("wal-") == 5 ? 0 : -1; /* 1, 6, 11, 16 and the empty 21 */
}

/* 1 if every byte of path from off to its end is zero (and off <= size). */
static int zeros_from(const char *path, long long off)
{
    int fd = open(path, O_RDONLY);
    unsigned char buf[4096];
    ssize_t n;
    int zero = fd >= 0 && file_size(path) >= off;
    while (zero && (n = pread(fd, buf, sizeof buf, (off_t)off)) > 0) {
        for (ssize_t i = 0; i < n; i++)
            zero &= buf[i] == 0;
        off += n;
    }
    if (fd >= 0)
        close(fd);
    return zero;
}

/* The zeros a crash leaves ahead of the last record: the segment's end, cut
 * off without a torn-tail warning. */
TEST(zero_tail_is_cut_without_warning)
{
    CHECK_INT(write_ten(), 0);
    CHECK_INT(truncate(seg_path(1), HDR + 10 * REC + 100), 0); /* 100 zero bytes */
    fixture_t f = {0};
    const char *log;
    int rc = fx_recover_logged(&f, &log);
    CHECK_INT(rc, 0);
    CHECK_INT(f.rec.n, 10);
    CHECK(check_records(&f.rec, 1, 10, 0, 1));
    CHECK_INT(file_size(seg_path(1)), HDR + 10 * REC);
    CHECK(strstr(log, "store_torn_tail") == NULL);
    fx_close(&f);
}

/* A record torn before the zeros is still damage: cut, with the warning. */
TEST(torn_record_before_zeros_is_cut)
{
    CHECK_INT(write_ten(), 0);
    CHECK_INT(truncate(seg_path(1), HDR + 10 * REC - 5), 0);
    CHECK_INT(truncate(seg_path(1), HDR + 10 * REC + 4096), 0);
    fixture_t f = {0};
    const char *log;
    int rc = fx_recover_logged(&f, &log);
    CHECK_INT(rc, 0);
    CHECK_INT(f.rec.n, 9);
    CHECK_INT(file_size(seg_path(1)), HDR + 9 * REC);
    CHECK(strstr(log, "event=store_torn_tail segment=db/wal-00000000000000000001.log offset=240 "
                      "cut_bytes=4120 what=\"checksum mismatch\"") != NULL);
    fx_close(&f);
}

/* While the store runs, its active segment reaches past the records with
 * zeros, so that batches overwrite written blocks; closing cuts them off. */
TEST(active_segment_is_zeroed_ahead_and_cut_at_close)
{
    fixture_t f = {0};
    CHECK_INT(fx_open(&f, cfg_default()), 0);
    CHECK(fx_feed(&f, 10, 3));
    CHECK(file_size(seg_path(1)) >= HDR + 10 * REC + (1 << 20));
    CHECK(zeros_from(seg_path(1), HDR + 10 * REC));
    fx_close(&f);
    CHECK_INT(file_size(seg_path(1)), HDR + 10 * REC);
    CHECK_INT(fx_open(&f, cfg_default()), 0);
    CHECK_INT(f.rec.n, 10);
    fx_close(&f);
}

/* A rotated segment keeps no zeros; a zero tail in an older segment (one
 * cut by hand, say) still reads as its end. */
TEST(rotated_segments_keep_no_zeros)
{
    CHECK_INT(write_four_segments(), 0);
    CHECK_INT(file_size(seg_path(6)), HDR + 5 * REC);
    CHECK_INT(truncate(seg_path(6), HDR + 5 * REC + 512), 0);
    fixture_t f = {0};
    CHECK_INT(fx_recover_only(&f, cfg_default()), 0);
    CHECK_INT(f.rec.n, 20);
    CHECK(check_records(&f.rec, 1, 20, 0, 1));
    fx_close(&f);
}

/* kill -9 of a running store: every durable record comes back and the
 * zeros it left are cut without a warning. */
TEST(crash_with_zeros_ahead_recovers_every_durable_record)
{
    pid_t pid = fork();
    if (pid == 0) {
        fixture_t f = {0};
        if (fx_open(&f, cfg_default()) != 0 || !fx_feed(&f, 25, 5))
            _exit(1);
        raise(SIGKILL);
    }
    int status = 0;
    CHECK_INT(waitpid(pid, &status, 0), pid);
    CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    CHECK(file_size(seg_path(1)) > HDR + 25 * REC);
    fixture_t f = {0};
    const char *log;
    int rc = fx_open_logged(&f, &log);
    CHECK_INT(rc, 0);
    CHECK_INT(f.rec.n, 25);
    CHECK(check_records(&f.rec, 1, 25, 0, 1));
    CHECK(strstr(log, "store_torn_tail") == NULL);
    CHECK_INT(file_size(seg_path(1)), HDR + 25 * REC);
    fx_close(&f);
}

TEST(corruption_in_older_segment_fails)
{
    CHECK_INT(write_four_segments(), 0);
    flip_byte(seg_path(6), HDR + 2 * REC + 20);
    fixture_t f = {0};
    CHECK_INT(fx_recover_only(&f, cfg_default()), -1);
    CHECK_STR(f.why, "db/wal-00000000000000000006.log: offset 72: checksum mismatch");
    CHECK_INT(file_size(seg_path(6)), HDR + 5 * REC); /* nothing cut */
    fx_close(&f);
}

TEST(truncated_older_segment_fails)
{
    CHECK_INT(write_four_segments(), 0);
    CHECK_INT(truncate(seg_path(11), HDR + 3 * REC + 10), 0);
    fixture_t f = {0};
    CHECK_INT(fx_recover_only(&f, cfg_default()), -1);
    CHECK_STR(f.why, "db/wal-00000000000000000011.log: offset 96: record extends past end of file");
    fx_close(&f);
}

TEST(lsn_gap_fails)
{
    CHECK_INT(write_four_segments(), 0);
    CHECK_INT(unlink(seg_path(6)), 0);
    fixture_t f = {0};
    CHECK_INT(fx_recover_only(&f, cfg_default()), -1);
    CHECK_STR(f.why, "db/wal-00000000000000000011.log: log is missing lsn 6..10 (segment starts at 11)");
    fx_close(&f);
}

TEST(log_not_starting_at_one_fails)
{
    CHECK_INT(write_four_segments(), 0);
    CHECK_INT(unlink(seg_path(1)), 0);
    fixture_t f = {0};
    CHECK_INT(fx_recover_only(&f, cfg_default()), -1);
    CHECK_STR(f.why, "db/wal-00000000000000000006.log: log is missing lsn 1..5 (segment starts at 6)");
    fx_close(&f);
}

TEST(engine_rejecting_a_record_fails_recovery)
{
    CHECK_INT(write_ten(), 0);
    fixture_t f = {0};
    f.loop = loop_new();
    CHECK_INT(store_open(&(store_config_t){.dir = DB}, f.loop, &f.st, f.why, sizeof f.why), 0);
    f.rec.reject_at = 4;
    CHECK_INT(store_recover(f.st, coll_apply, &f.rec, f.why, sizeof f.why), -1);
    CHECK_STR(f.why, "db/wal-00000000000000000001.log: offset 96: engine rejected record lsn 4 (type 1)");
    fx_close(&f);
}

TEST(torn_header_of_newest_segment_is_removed)
{
    CHECK_INT(write_ten(), 0);
    int fd = open(seg_path(11), O_WRONLY | O_CREAT, 0644);
    CHECK_INT(write(fd, "SLUICEW", 7), 7);
    close(fd);
    fixture_t f = {0};
    const char *log;
    int rc = fx_recover_logged(&f, &log);
    CHECK_INT(rc, 0);
    CHECK_INT(f.rec.n, 10);
    CHECK(!exists(seg_path(11)));
    CHECK(strstr(log, "event=store_segment_removed segment=db/wal-00000000000000000011.log size=7") != NULL);
    fx_close(&f);
}

TEST(bad_header_with_data_fails)
{
    CHECK_INT(write_ten(), 0);
    flip_byte(seg_path(1), 3);
    fixture_t f = {0};
    CHECK_INT(fx_recover_only(&f, cfg_default()), -1);
    CHECK_STR(f.why, "db/wal-00000000000000000001.log: offset 0: bad magic");
    fx_close(&f);
}

/* ==== checkpoints ==== */

/* The "engine" whose state the dump writes: one record per log record
 * applied so far, as type 2. */
typedef struct engine {
    unsigned n;
    int fail;
    unsigned sleep_ms;
    const char *pid_file; /* the dump writes the child's pid here first */
} engine_t;

static void write_pid_file(const char *path)
{
    char tmp[64];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (f) {
        fprintf(f, "%ld\n", (long)getpid());
        fclose(f);
        rename(tmp, path);
    }
}

static int engine_dump(void *ctx, store_snap_t *snap)
{
    engine_t *e = ctx;
    char p[16];
    if (e->pid_file)
        write_pid_file(e->pid_file);
    if (e->sleep_ms)
        usleep(e->sleep_ms * 1000);
    if (e->fail)
        return -1;
    for (unsigned i = 1; i <= e->n; i++) {
        rec_name(p, i);
        store_snap_put(snap, 2, p, 7);
    }
    return 0;
}

static int pred_ckpt_done(void *arg)
{
    return !store_checkpoint_running(arg);
}

TEST(checkpoint_installs_snapshot_and_prunes_log)
{
    fixture_t f = {0};
    store_config_t cfg = cfg_default();
    cfg.segment_bytes = 100;
    cfg.compact_bytes = 200;
    CHECK_INT(fx_open(&f, cfg), 0);
    CHECK(fx_feed(&f, 23, 5)); /* wal-1,6,11,16 full; wal-21 holds 21..23 */
    CHECK_INT(store_compact_due(f.st), 1);
    engine_t e = {.n = 23};
    capture_begin();
    int rc = store_checkpoint(f.st, engine_dump, &e);
    int running = store_checkpoint_running(f.st);
    int busy = store_checkpoint(f.st, engine_dump, &e);
    int done = run_until(f.loop, pred_ckpt_done, f.st, WAIT_MS);
    const char *log = capture_end();
    CHECK_INT(rc, 0);
    CHECK_INT(running, 1);
    CHECK_INT(busy, -EBUSY);
    CHECK(done);
    CHECK(strstr(log, "event=store_checkpoint dir=db lsn=23 snapshot_bytes=601 segments_deleted=5 "
                      "log_bytes_freed=672 snapshots_deleted=0") != NULL);
    CHECK(exists(snap_path(23)));
    CHECK_INT(file_size(snap_path(23)), HDR + 23 * REC + 25);
    CHECK_INT(count_files("wal-"), 1);
    CHECK(exists(seg_path(24)));
    CHECK_INT(count_files("snap-"), 1);
    store_stats_t s;
    store_get_stats(f.st, &s);
    CHECK_INT(s.snapshot_lsn, 23);
    CHECK_INT(s.log_bytes_since_snapshot, 0);
    CHECK_INT(s.segments, 1);
    CHECK_INT(store_compact_due(f.st), 0);

    CHECK(fx_feed(&f, 30, 7)); /* 24..30 in the log */
    fx_close(&f);
    CHECK_INT(fx_open(&f, cfg), 0);
    CHECK_INT(f.rec.n, 30);
    CHECK(check_records(&f.rec, 1, 23, 0, 2));  /* from the snapshot, exactly once */
    CHECK(check_records(&f.rec, 24, 30, 23, 1)); /* then the log */
    CHECK_INT(store_last_lsn(f.st), 30);

    e.n = 30; /* a second checkpoint replaces the first snapshot */
    f.appended = 30;
    CHECK_INT(store_checkpoint(f.st, engine_dump, &e), 0);
    CHECK(run_until(f.loop, pred_ckpt_done, f.st, WAIT_MS));
    CHECK(!exists(snap_path(23)));
    CHECK(exists(snap_path(30)));
    CHECK_INT(count_files("snap-"), 1);
    CHECK_INT(count_files("wal-"), 1);
    CHECK(exists(seg_path(31)));
    fx_close(&f);
    CHECK_INT(fx_open(&f, cfg), 0);
    CHECK_INT(f.rec.n, 30);
    CHECK(check_records(&f.rec, 1, 30, 0, 2));
    fx_close(&f);
}

TEST(checkpoint_with_nothing_new_is_a_no_op)
{
    fixture_t f = {0};
    CHECK_INT(fx_open(&f, cfg_default()), 0);
    engine_t e = {0};
    CHECK_INT(store_checkpoint(f.st, engine_dump, &e), 0);
    CHECK_INT(store_checkpoint_running(f.st), 0);
    CHECK_INT(count_files("snap-"), 0);
    fx_close(&f);
}

TEST(checkpoint_child_failure_keeps_log)
{
    fixture_t f = {0};
    CHECK_INT(fx_open(&f, cfg_default()), 0);
    CHECK(fx_feed(&f, 10, 10));
    engine_t e = {.n = 10, .fail = 1};
    capture_begin();
    CHECK_INT(store_checkpoint(f.st, engine_dump, &e), 0);
    int done = run_until(f.loop, pred_ckpt_done, f.st, WAIT_MS);
    const char *log = capture_end();
    CHECK(done);
    CHECK(strstr(log, "event=store_checkpoint_failed dir=db lsn=10 reason=\"child: dump callback failed\"") != NULL);
    CHECK_INT(count_files("snap-"), 0); /* neither the snapshot nor its tmp */
    store_stats_t s;
    store_get_stats(f.st, &s);
    CHECK_INT(s.snapshot_lsn, 0);
    fx_close(&f); /* the rotation may still be in flight until here */
    CHECK(exists(seg_path(1)));
    CHECK(exists(seg_path(11)));
    CHECK_INT(fx_open(&f, cfg_default()), 0);
    CHECK_INT(f.rec.n, 10);
    CHECK(check_records(&f.rec, 1, 10, 0, 1));
    fx_close(&f);
}

/* The snapshot file cannot be opened (ENOSPC, EACCES...): the child fails,
 * nothing is installed and the log still holds everything. */
static int fail_snapshot_open(const char *path, int flags, mode_t mode)
{
    if (strstr(path, "snap-")) {
        errno = EACCES;
        return -1;
    }
    return open(path, flags, mode);
}

TEST(checkpoint_snapshot_open_failure_keeps_log)
{
    fixture_t f = {0};
    CHECK_INT(fx_open(&f, cfg_default()), 0);
    CHECK(fx_feed(&f, 6, 6));
    io_ops.open = fail_snapshot_open;
    capture_begin();
    CHECK_INT(store_checkpoint(f.st, engine_dump, &(engine_t){.n = 6}), 0);
    int done = run_until(f.loop, pred_ckpt_done, f.st, WAIT_MS);
    const char *log = capture_end();
    io_ops_reset();
    CHECK(done);
    CHECK(strstr(log, "event=store_checkpoint_failed dir=db lsn=6") != NULL);
    CHECK_INT(count_files("snap-"), 0);
    fx_close(&f);
    CHECK_INT(fx_open(&f, cfg_default()), 0);
    CHECK_INT(f.rec.n, 6);
    CHECK(check_records(&f.rec, 1, 6, 0, 1));
    fx_close(&f);
}

/* The new segment is written durably but cannot be opened for appending:
 * the store does not start and says which segment and why. */
static int fail_segment_open(const char *path, int flags, mode_t mode)
{
    if (strstr(path, "wal-") && !(flags & O_CREAT)) {
        errno = EMFILE;
        return -1;
    }
    return open(path, flags, mode);
}

TEST(segment_open_failure_fails_start)
{
    fixture_t f = {0};
    io_ops.open = fail_segment_open;
    int rc = fx_open(&f, cfg_default());
    io_ops_reset();
    CHECK_INT(rc, 3);
    CHECK(strstr(f.why, "db/wal-00000000000000000001.log: Too many open files") != NULL);
    fx_close(&f);
}

static pid_t parent_pid;

static ssize_t child_fails_write(int fd, const void *p, size_t n)
{
    if (getpid() != parent_pid) {
        errno = ENOSPC;
        return -1;
    }
    return write(fd, p, n);
}

TEST(checkpoint_child_write_error_discards_tmp)
{
    fixture_t f = {0};
    CHECK_INT(fx_open(&f, cfg_default()), 0);
    CHECK(fx_feed(&f, 10, 10));
    parent_pid = getpid();
    io_ops.write = child_fails_write;
    engine_t e = {.n = 10};
    capture_begin();
    int rc = store_checkpoint(f.st, engine_dump, &e);
    int done = run_until(f.loop, pred_ckpt_done, f.st, WAIT_MS);
    const char *log = capture_end();
    io_ops_reset();
    CHECK_INT(rc, 0);
    CHECK(done);
    CHECK(strstr(log, "reason=\"child: write failed\"") != NULL);
    CHECK_INT(count_files("snap-"), 0);
    CHECK_INT(store_failed(f.st), 0);
    fx_close(&f);
}

TEST(close_waits_for_running_checkpoint)
{
    fixture_t f = {0};
    CHECK_INT(fx_open(&f, cfg_default()), 0);
    CHECK(fx_feed(&f, 12, 4));
    engine_t e = {.n = 12, .sleep_ms = 150};
    CHECK_INT(store_checkpoint(f.st, engine_dump, &e), 0);
    capture_begin();
    fx_close(&f);
    capture_end();
    CHECK(exists(snap_path(12)));
    CHECK_INT(count_files("wal-"), 1);
    CHECK(exists(seg_path(13)));
    CHECK_INT(fx_open(&f, cfg_default()), 0);
    CHECK_INT(f.rec.n, 12);
    CHECK(check_records(&f.rec, 1, 12, 0, 2));
    fx_close(&f);
}

/* Makes snap-10.dat while keeping a copy of the log it replaced. */
static int snapshot_ten(int keep_log)
{
    fixture_t f = {0};
    if (fx_open(&f, cfg_default()) != 0 || !fx_feed(&f, 10, 10))
        return -1;
    if (keep_log && copy_file(seg_path(1), "saved.log") != 0)
        return -1;
    engine_t e = {.n = 10};
    capture_begin();
    int rc = store_checkpoint(f.st, engine_dump, &e);
    int done = run_until(f.loop, pred_ckpt_done, f.st, WAIT_MS);
    capture_end();
    fx_close(&f);
    if (rc != 0 || !done || !exists(snap_path(10)) || exists(seg_path(1)))
        return -1;
    return keep_log ? rename("saved.log", seg_path(1)) : 0;
}

TEST(snapshot_without_trailer_is_skipped_when_log_covers_it)
{
    CHECK_INT(snapshot_ten(1), 0);
    CHECK_INT(truncate(snap_path(10), HDR + 10 * REC), 0); /* drop the trailer */
    fixture_t f = {0};
    const char *log;
    int rc = fx_open_logged(&f, &log);
    CHECK_INT(rc, 0);
    CHECK_INT(f.rec.n, 10);
    CHECK(check_records(&f.rec, 1, 10, 0, 1)); /* from the log, not the snapshot */
    CHECK(strstr(log, "event=store_snapshot_invalid reason=\"db/snap-00000000000000000010.dat: offset 264: no "
                      "trailer (incomplete snapshot)\"") != NULL);
    store_stats_t s;
    store_get_stats(f.st, &s);
    CHECK_INT(s.snapshot_lsn, 0);
    fx_close(&f);
}

TEST(snapshot_without_trailer_fails_when_log_is_gone)
{
    CHECK_INT(snapshot_ten(0), 0);
    CHECK_INT(truncate(snap_path(10), HDR + 10 * REC), 0);
    fixture_t f = {0};
    capture_begin();
    int rc = fx_recover_only(&f, cfg_default());
    capture_end();
    CHECK_INT(rc, -1);
    CHECK_STR(f.why, "db/wal-00000000000000000011.log: log is missing lsn 1..10 (segment starts at 11); newer "
                     "snapshot unusable: db/snap-00000000000000000010.dat: offset 264: no trailer (incomplete "
                     "snapshot)");
    CHECK_INT(f.rec.n, 0);
    fx_close(&f);
}

TEST(corrupt_snapshot_alone_fails)
{
    CHECK_INT(snapshot_ten(0), 0);
    CHECK_INT(unlink(seg_path(11)), 0);
    flip_byte(snap_path(10), HDR + 3 * REC + 18);
    fixture_t f = {0};
    capture_begin();
    int rc = fx_recover_only(&f, cfg_default());
    capture_end();
    CHECK_INT(rc, -1);
    CHECK_STR(f.why, "db/snap-00000000000000000010.dat: offset 96: checksum mismatch; the log reaches only lsn 0, "
                     "so records up to 10 would be lost");
    CHECK_INT(f.rec.n, 0); /* validated before anything was applied */
    fx_close(&f);
}

TEST(stale_snapshot_tmp_is_removed)
{
    CHECK_INT(write_ten(), 0);
    int fd = open(DB "/snap-00000000000000000010.dat.tmp", O_WRONLY | O_CREAT, 0644);
    close(fd);
    fixture_t f = {0};
    capture_begin();
    int rc = fx_recover_only(&f, cfg_default());
    capture_end();
    CHECK_INT(rc, 0);
    CHECK(!exists(DB "/snap-00000000000000000010.dat.tmp"));
    fx_close(&f);
}

/* The pid in path once it appears within ms, or -1. */
static long read_pid_file(const char *path, int ms)
{
    for (int i = 0; i < ms; i++) {
        FILE *f = fopen(path, "r");
        long pid = -1;
        if (f) {
            int n = fscanf(f, "%ld", &pid);
            fclose(f);
            return n == 1 ? pid : -1;
        }
        usleep(1000);
    }
    return -1;
}

/* 1 once pid has ended (gone, or a zombie no one reaped yet) within ms. */
static int process_ends(long pid, int ms)
{
    char path[64], buf[256];
    snprintf(path, sizeof path, "/proc/%ld/stat", pid);
    for (int i = 0; i < ms; i++) {
        FILE *f = fopen(path, "r");
        if (!f)
            return 1;
        size_t n = fread(buf, 1, sizeof buf - 1, f);
        fclose(f);
        buf[n] = '\0';
        const char *paren = strrchr(buf, ')');
        if (paren && paren[1] == ' ' && paren[2] == 'Z')
            return 1;
        usleep(1000);
    }
    return 0;
}

/* A daemon killed (kill -9) while its checkpoint child writes: the restart
 * must find the directory unlocked at once — the child keeps none of the
 * parent's descriptors — and the child must not outlive its parent. */
TEST(killed_owner_leaves_no_checkpoint_child_holding_the_lock)
{
    pid_t owner = fork();
    if (owner == 0) {
        dup2(open("/dev/null", O_WRONLY), STDERR_FILENO); /* its store's log lines */
        fixture_t f = {0};
        engine_t e = {.n = 10, .sleep_ms = 10000, .pid_file = "child.pid"};
        if (fx_open(&f, cfg_default()) != 0 || !fx_feed(&f, 10, 10) || store_checkpoint(f.st, engine_dump, &e) != 0)
            _exit(1);
        pause();
        _exit(0);
    }
    CHECK(owner > 0);
    long child = read_pid_file("child.pid", WAIT_MS);
    kill(owner, SIGKILL);
    waitpid(owner, NULL, 0);
    CHECK(child > 0);
    fixture_t f = {0};
    const char *log;
    int rc = fx_open_logged(&f, &log);
    CHECK_INT(rc, 0);
    CHECK_INT(f.rec.n, 10);
    CHECK(strstr(log, "event=store_tmp_removed") != NULL); /* the snapshot the child never finished */
    fx_close(&f);
    CHECK(process_ends(child, WAIT_MS));
}

/* ==== the directory lock ==== */

TEST(second_open_of_same_dir_fails)
{
    fixture_t f = {0};
    CHECK_INT(fx_open(&f, cfg_default()), 0);
    store_t *other = NULL;
    char why[512] = "";
    store_config_t cfg = cfg_default();
    int rc = store_open(&cfg, f.loop, &other, why, sizeof why);
    CHECK(rc < 0);
    CHECK(other == NULL);
    CHECK(strstr(why, "store directory db is in use by another store (db/LOCK is locked)") != NULL);
    fx_close(&f);
    CHECK_INT(store_open(&cfg, NULL, &other, why, sizeof why), 0);
    store_close(other);
}

TEST(start_before_recover_is_refused)
{
    loop_t *loop = loop_new();
    store_t *st;
    char why[256];
    store_config_t cfg = cfg_default();
    CHECK_INT(store_open(&cfg, loop, &st, why, sizeof why), 0);
    int rc = store_start(st, NULL, NULL, why, sizeof why);
    store_close(st);
    loop_free(loop);
    CHECK_INT(rc, -EINVAL);
    CHECK_STR(why, "store_start before store_recover");
}

/* ==== injected faults ==== */

TEST(fault_rules_parse_and_refuse)
{
    char why[256];
    CHECK_INT(io_fault_set("# none\n\n", why, sizeof why), 0);
    CHECK_INT(io_fault_set("fdatasync wal 3 EIO\nwrite any 1 short 2  # torn\nclock +1000\n", why, sizeof why), 2);
    static const char *const bad[] = {"fdatasync wal 0 EIO",  "fdatasync wal 1",     "sync wal 1 EIO",
                                      "fdatasync log 1 EIO",  "fsync wal 1 short",   "write wal 1 EAGAIN",
                                      "clock -5",             "clock +5 more",       "clock +999999999999999",
                                      "fdatasync wal 3 EIO x", "fdatasync wal -1 EIO", "write wal 1 EIO 1 2"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        why[0] = 0;
        CHECK_INT(io_fault_set(bad[i], why, sizeof why), -1);
        CHECK(why[0] != 0);
    }
    io_fault_clear();
    uint64_t before = clock_wall_ms();
    CHECK_INT(io_fault_set("clock +3600000", why, sizeof why), 0);
    CHECK(clock_wall_ms() >= before + 3600000);
    CHECK_INT(io_fault_set("clock +1000", why, sizeof why), 0); /* never back */
    CHECK(clock_wall_ms() >= before + 3600000);
    io_fault_clear();
    CHECK(clock_wall_ms() < before + 3600000);
    CHECK(io_ops.fdatasync != NULL && io_ops.write != NULL);
}

/* A rule fails the Nth call of its kind only: the segment's third fdatasync,
 * not the directory's, and the store enters its failed state there. */
TEST(fault_rule_fails_the_nth_segment_sync)
{
    char why[256];
    fixture_t f = {0};
    CHECK_INT(io_fault_set("fdatasync wal 3 EIO\nfsync snap 1 EIO", why, sizeof why), 2);
    CHECK_INT(fx_open(&f, cfg_default()), 0);
    capture_begin();
    for (unsigned round = 1; round <= 4 && !f.tr.failed; round++) {
        fx_append(&f, 1);
        for (int i = 0; i < 200 && f.tr.durable < f.appended && !f.tr.failed; i++)
            run_until(f.loop, never, NULL, 5);
    }
    const char *log = capture_end();
    CHECK_INT(f.tr.failed, 1);
    CHECK(f.tr.durable >= 1 && f.tr.durable < f.appended);
    CHECK(strstr(log, "op=fdatasync errno=5") != NULL);
    fx_close(&f);
    io_fault_clear();
    CHECK_INT(fx_recover_only(&f, cfg_default()), 0); /* what was written is all there */
    CHECK_INT(f.rec.n, f.appended);
    fx_close(&f);
}

TEST(fdatasync_failure_enters_failed_state)
{
    fixture_t f = {0};
    atomic_store(&fault_budget, 1);
    io_ops.fdatasync = fail_fdatasync;
    CHECK_INT(fx_open(&f, cfg_default()), 0);
    fx_append(&f, 3);
    capture_begin();
    int ok = 1;
    for (int i = 0; i < 200 && f.tr.durable < 3; i++)
        run_until(f.loop, never, NULL, 5);
    ok &= f.tr.durable == 3 && !f.tr.failed;
    fx_append(&f, 2);
    for (int i = 0; i < 200 && !f.tr.failed; i++)
        run_until(f.loop, never, NULL, 5);
    const char *log = capture_end();
    CHECK(ok);
    CHECK_INT(f.tr.failed, 1);
    CHECK_INT(f.tr.durable, 3);
    CHECK_INT(store_durable_lsn(f.st), 3);
    CHECK_INT(store_failed(f.st), 1);
    CHECK(strstr(log, "event=store_failed dir=db segment=wal-00000000000000000001.log op=fdatasync errno=5 "
                      "error=\"Input/output error\" durable_lsn=3") != NULL);
    CHECK_INT(store_append(f.st, 1, "rec-006", 7), 6);
    run_until(f.loop, never, NULL, 20);
    CHECK_INT(store_durable_lsn(f.st), 3);
    CHECK_INT(store_checkpoint(f.st, engine_dump, &(engine_t){0}), -EIO);
    CHECK_INT(store_compact_due(f.st), 0);
    fx_close(&f);
    io_ops_reset();
}

TEST(write_failure_enters_failed_state)
{
    fixture_t f = {0};
    CHECK_INT(fx_open(&f, cfg_default()), 0);
    CHECK(fx_feed(&f, 4, 4));
    atomic_store(&fault_budget, 0);
    io_ops.write = fail_write;
    fx_append(&f, 3);
    capture_begin();
    for (int i = 0; i < 200 && !f.tr.failed; i++)
        run_until(f.loop, never, NULL, 5);
    const char *log = capture_end();
    io_ops_reset();
    CHECK_INT(f.tr.failed, 1);
    CHECK_INT(f.tr.durable, 4);
    CHECK_INT(store_durable_lsn(f.st), 4);
    CHECK(strstr(log, "op=write errno=28") != NULL);
    fx_close(&f);
    CHECK(zeros_from(seg_path(1), HDR + 4 * REC)); /* nothing of the failed batch reached the file */
    CHECK_INT(fx_open(&f, cfg_default()), 0);
    CHECK_INT(f.rec.n, 4);
    fx_close(&f);
}

/* Writing the zeros ahead fails (a full disk, say): a warning, and the
 * segment appends; every batch still goes in and nothing is failed. */
static ssize_t fail_zero_fill(int fd, const void *p, size_t n)
{
    if (n == 65536) { /* a chunk of zeros; records here are far smaller */
        errno = ENOSPC;
        return -1;
    }
    return write(fd, p, n);
}

TEST(zero_fill_failure_falls_back_to_appending)
{
    fixture_t f = {0};
    CHECK_INT(fx_open(&f, cfg_default()), 0);
    io_ops.write = fail_zero_fill;
    capture_begin();
    int fed = fx_feed(&f, 10, 2);
    const char *log = capture_end();
    io_ops_reset();
    CHECK(fed);
    CHECK_INT(f.tr.failed, 0);
    CHECK_INT(store_failed(f.st), 0);
    CHECK(strstr(log, "event=store_zero_fill_failed dir=db segment=wal-00000000000000000001.log errno=28") != NULL);
    CHECK_INT(file_size(seg_path(1)), HDR + 10 * REC);
    fx_close(&f);
    CHECK_INT(fx_open(&f, cfg_default()), 0);
    CHECK_INT(f.rec.n, 10);
    fx_close(&f);
}

/* The cut of the zeros fails at close: a warning, and the close still
 * fsyncs what the policy had not; the next start reads the zeros as the
 * end. */
static atomic_int datasyncs;
static int count_fdatasync(int fd)
{
    atomic_fetch_add(&datasyncs, 1);
    return fdatasync(fd);
}

static int fail_ftruncate(int fd, off_t len)
{
    (void)fd;
    (void)len;
    errno = EIO;
    return -1;
}

TEST(failed_cut_at_close_still_syncs)
{
    fixture_t f = {0};
    store_config_t cfg = cfg_default();
    cfg.fsync = FSYNC_OFF;
    CHECK_INT(fx_open(&f, cfg), 0);
    CHECK(fx_feed(&f, 10, 5));
    atomic_store(&datasyncs, 0);
    io_ops.fdatasync = count_fdatasync;
    io_ops.ftruncate = fail_ftruncate;
    capture_begin();
    fx_close(&f);
    const char *log = capture_end();
    io_ops_reset();
    CHECK_INT(atomic_load(&datasyncs), 1);
    CHECK(strstr(log, "event=store_zero_cut_failed dir=db segment=wal-00000000000000000001.log errno=5") != NULL);
    CHECK(file_size(seg_path(1)) > HDR + 10 * REC);
    CHECK_INT(fx_open(&f, cfg), 0);
    CHECK_INT(f.rec.n, 10);
    fx_close(&f);
    CHECK_INT(file_size(seg_path(1)), HDR + 10 * REC);
}

/* A batch larger than the zeros ahead: the file is extended past it. */
TEST(batch_larger_than_the_zeros_ahead)
{
    fixture_t f = {0};
    CHECK_INT(fx_open(&f, cfg_default()), 0);
    static char big[300000];
    memset(big, 'b', sizeof big);
    for (int i = 0; i < 8; i++)
        store_append(f.st, 1, big, sizeof big); /* one batch of 2.4 MB */
    f.appended = 8;
    CHECK(run_until(f.loop, pred_durable, &f, WAIT_MS));
    CHECK(file_size(seg_path(1)) >= HDR + 8 * (long long)(sizeof big + 17) + (1 << 20));
    fx_close(&f);
    CHECK_INT(file_size(seg_path(1)), HDR + 8 * (long long)(sizeof big + 17));
    store_config_t cfg = cfg_default();
    char why[256];
    loop_t *l = loop_new();
    store_t *st = NULL;
    CHECK_INT(store_open(&cfg, l, &st, why, sizeof why), 0);
    CHECK_INT(store_recover(st, NULL, NULL, why, sizeof why), 0); /* the records are too big to collect */
    CHECK_INT(store_last_lsn(st), 8);
    store_close(st);
    loop_free(l);
}

TEST(short_writes_and_eintr_are_retried)
{
    fixture_t f = {0};
    atomic_store(&fault_calls, 0);
    io_ops.write = short_write;
    int rc = fx_open(&f, cfg_default());
    int fed = rc == 0 && fx_feed(&f, 40, 8);
    if (rc == 0)
        fx_close(&f);
    int calls = atomic_load(&fault_calls);
    io_ops_reset();
    CHECK_INT(rc, 0);
    CHECK(fed);
    CHECK(calls > (int)(40 * REC / 7)); /* the fake really cut the writes */
    CHECK_INT(file_size(seg_path(1)), HDR + 40 * REC);
    CHECK_INT(fx_open(&f, cfg_default()), 0);
    CHECK_INT(f.rec.n, 40);
    CHECK(check_records(&f.rec, 1, 40, 0, 1));
    fx_close(&f);
}

TEST(io_write_all_retries_short_writes)
{
    char data[100];
    for (int i = 0; i < 100; i++)
        data[i] = (char)i;
    int fd = open("f", O_RDWR | O_CREAT | O_TRUNC, 0644);
    atomic_store(&fault_calls, 0);
    io_ops.write = short_write;
    int rc = io_write_all(fd, data, sizeof data);
    io_ops_reset();
    char back[128];
    ssize_t n = pread(fd, back, sizeof back, 0);
    close(fd);
    CHECK_INT(rc, 0);
    CHECK_MEM(back, (size_t)n, data, sizeof data);
    CHECK_INT(atomic_load(&fault_calls), 22); /* 15 writes of <= 7 bytes, 7 EINTRs */
}

TEST(write_file_durable_success)
{
    CHECK_INT(mkdir("d", 0755), 0);
    CHECK_INT(io_write_file_durable("d", "x", "hello", 5), 0);
    CHECK_INT(file_size("d/x"), 5);
    CHECK(!exists("d/x.tmp"));
    CHECK_INT(io_write_file_durable("d", "x", "hi", 2), 0);
    CHECK_INT(file_size("d/x"), 2);
}

TEST(write_file_durable_leaves_no_tmp_on_failure)
{
    CHECK_INT(mkdir("d", 0755), 0);
    CHECK_INT(io_write_file_durable("d", "x", "old", 3), 0);

    io_ops.fsync = fail_fsync;
    int r1 = io_write_file_durable("d", "x", "new!", 4);
    int t1 = exists("d/x.tmp");
    io_ops_reset();
    io_ops.rename = fail_rename;
    int r2 = io_write_file_durable("d", "x", "new!", 4);
    int t2 = exists("d/x.tmp");
    io_ops_reset();
    atomic_store(&fault_budget, 0);
    io_ops.write = fail_write;
    int r3 = io_write_file_durable("d", "y", "new!", 4);
    int t3 = exists("d/y.tmp");
    io_ops_reset();

    CHECK_INT(r1, -EIO);
    CHECK_INT(r2, -EXDEV);
    CHECK_INT(r3, -ENOSPC);
    CHECK(!t1 && !t2 && !t3);
    CHECK_INT(file_size("d/x"), 3); /* the old file is untouched */
    CHECK(!exists("d/y"));
    CHECK_INT(io_write_file_durable("nodir", "x", "a", 1), -ENOENT);
}

TEST(failed_segment_creation_fails_start)
{
    fixture_t f = {0};
    io_ops.fsync = fail_fsync;
    int rc = fx_open(&f, cfg_default());
    io_ops_reset();
    CHECK_INT(rc, 3);
    CHECK_STR(f.why, "cannot create log segment db/wal-00000000000000000001.log: Input/output error");
    CHECK(!exists(seg_path(1)));
    fx_close(&f);
}

/* ==== the sync trace (io_trace, SLUICE_SYNC_TRACE) ==== */

static char trace_cwd[512];
static char trace_text[1 << 16];

static int trace_begin(void)
{
    if (!getcwd(trace_cwd, sizeof trace_cwd))
        return -errno;
    return io_trace_install("trace.txt");
}

/* The trace's lines (after its 64-byte header: "SLUICETR", u64 used), with
 * a '\n' in front so that every line is "\n...\n"; "" if it is no trace. */
static const char *trace_read(void)
{
    char hdr[16];
    uint64_t used = 0;
    trace_text[0] = '\0';
    int fd = open("trace.txt", O_RDONLY);
    if (fd < 0 || pread(fd, hdr, sizeof hdr, 0) != sizeof hdr || memcmp(hdr, "SLUICETR", 8) != 0) {
        if (fd >= 0)
            close(fd);
        return trace_text;
    }
    memcpy(&used, hdr + 8, 8);
    if (used > sizeof trace_text - 2)
        used = sizeof trace_text - 2;
    ssize_t n = pread(fd, trace_text + 1, used, 64);
    close(fd);
    trace_text[0] = '\n';
    trace_text[n > 0 ? n + 1 : 1] = '\0';
    return trace_text;
}

/* Where the line fmt (with "@" for the test's directory) first appears in
 * text at or after from; NULL if nowhere. */
__attribute__((format(printf, 2, 3))) static const char *trace_at(const char *from, const char *fmt, ...)
{
    char line[1024], want[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    size_t k = 0, c = strlen(trace_cwd);
    for (const char *p = line; *p && k + c < sizeof want; p++) {
        if (*p == '@') {
            memcpy(want + k, trace_cwd, c);
            k += c;
        } else {
            want[k++] = *p;
        }
    }
    want[k] = '\0';
    return from ? strstr(from, want) : NULL;
}

static int trace_count(const char *text, const char *needle)
{
    int n = 0;
    for (const char *p = text; (p = strstr(p, needle)); p++)
        n++;
    return n;
}

#define SEG1 "@/db/wal-00000000000000000001.log"

/* A segment's life as the trace tells it: created with the durable-file
 * recipe (its name durable at the directory's fsync), one write line per
 * batch — the first write after each sync, appends between syncs add
 * none — each sync with the size it covers, and the cut at close. */
TEST(sync_trace_records_syncs_writes_and_names)
{
    fixture_t f = {0};
    CHECK_INT(trace_begin(), 0);
    int rc = fx_open(&f, cfg_default());
    int fed = rc == 0 && fx_feed(&f, 10, 5);
    fx_close(&f);
    io_trace_uninstall();
    CHECK_INT(rc, 0);
    CHECK(fed);
    const char *t = trace_read();
    const char *tmp = trace_at(t, "\nopen\t0\t0\t1\t" SEG1 ".tmp\n");
    const char *tsync = trace_at(tmp, "\nsync\t24\t" SEG1 ".tmp\n");
    const char *ren = trace_at(tsync, "\nrename\t" SEG1 ".tmp\t" SEG1 "\n");
    const char *dir = trace_at(ren, "\ndirsync\t@/db\n");
    const char *w1 = trace_at(dir, "\nwrite\t24\t" SEG1 "\n");    /* the zeros ahead; the batch follows at 24 */
    const char *s1 = trace_at(w1, "\nsync\t1052672\t" SEG1 "\n"); /* 5 records and the zeros ahead */
    const char *w2 = trace_at(s1, "\nwrite\t%u\t" SEG1 "\n", HDR + 5 * REC);
    const char *s2 = trace_at(w2, "\nsync\t1052672\t" SEG1 "\n");
    const char *cut = trace_at(s2, "\ntrunc\t%u\t" SEG1 "\n", HDR + 10 * REC);
    const char *s3 = trace_at(cut, "\nsync\t%u\t" SEG1 "\n", HDR + 10 * REC);
    CHECK(tmp && tsync && ren && dir && w1 && s1 && w2 && s2 && cut && s3);
    CHECK_INT(trace_count(t, "\nwrite\t"), 3); /* the tmp's header, and one per batch */
    CHECK(strstr(t, "LOCK\n") != NULL);
}

static io_ops_t trace_under; /* what the wrapper above the tracer calls */
static atomic_int above_calls;

static int above_fdatasync(int fd)
{
    atomic_fetch_add(&above_calls, 1);
    return trace_under.fdatasync(fd);
}

/* Installed over a fault injector, the tracer calls through to it and
 * records no sync that failed; a wrapper installed over the tracer calls
 * through to it in turn. */
TEST(sync_trace_composes_with_other_wrappers)
{
    atomic_store(&fault_budget, 1);
    atomic_store(&above_calls, 0);
    io_ops.fdatasync = fail_fdatasync; /* beneath: the first succeeds, the next fails */
    CHECK_INT(trace_begin(), 0);
    trace_under = io_ops;
    io_ops.fdatasync = above_fdatasync; /* above */
    fixture_t f = {0};
    int rc = fx_open(&f, cfg_default());
    capture_begin();
    fx_append(&f, 3);
    for (int i = 0; i < 200 && f.tr.durable < 3; i++)
        run_until(f.loop, never, NULL, 5);
    fx_append(&f, 2);
    for (int i = 0; i < 200 && !f.tr.failed; i++)
        run_until(f.loop, never, NULL, 5);
    capture_end();
    fx_close(&f);
    io_trace_uninstall();
    int restored = io_ops.fdatasync == above_fdatasync;
    io_ops_reset();
    CHECK_INT(rc, 0);
    CHECK_INT(f.tr.failed, 1);
    CHECK_INT(atomic_load(&above_calls), 2);
    CHECK(restored); /* uninstall leaves the wrapper above it in place */
    const char *t = trace_read();
    CHECK_INT(trace_count(t, "\nsync\t1052672\t"), 1);
    CHECK(trace_at(t, "\nwrite\t%u\t" SEG1 "\n", HDR + 3 * REC) != NULL); /* the failed batch was written */
}

/* The checkpoint child closes every descriptor it inherited; its snapshot
 * is traced all the same, before the install renames it. */
TEST(sync_trace_follows_the_checkpoint_child)
{
    fixture_t f = {0};
    store_config_t cfg = cfg_default();
    CHECK_INT(trace_begin(), 0);
    int rc = fx_open(&f, cfg);
    int fed = rc == 0 && fx_feed(&f, 10, 5);
    engine_t e = {.n = 10};
    int ck = fed ? store_checkpoint(f.st, engine_dump, &e) : -1;
    int done = ck == 0 && run_until(f.loop, pred_ckpt_done, f.st, WAIT_MS);
    fx_close(&f);
    io_trace_uninstall();
    CHECK_INT(rc, 0);
    CHECK(fed && done);
    CHECK(exists(snap_path(10)));
    const char *t = trace_read();
    const char *open = trace_at(t, "\nopen\t0\t0\t1\t@/db/snap-00000000000000000010.dat.tmp\n");
    const char *sync = trace_at(open, "\nsync\t%u\t@/db/snap-00000000000000000010.dat.tmp\n", HDR + 10 * REC + 25);
    const char *ren = trace_at(sync, "\nrename\t@/db/snap-00000000000000000010.dat.tmp\t@/db/snap-00000000000000000010.dat\n");
    CHECK(open && sync && ren && trace_at(ren, "\ndirsync\t@/db\n"));
}
