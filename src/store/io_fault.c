/*
 * io_fault — rule-driven faults for the running daemon; see io_fault.h.
 *
 * Rules, one per line ('#' starts a comment):
 *   OP FILE NTH ERROR [TIMES]
 *     OP     open | write | fdatasync | fsync | rename | ftruncate
 *     FILE   wal (log segments) | snap (snapshots) | dir (the data
 *            directory) | any
 *     NTH    the first matching call that fails, counted from the load (1..)
 *     ERROR  EIO | ENOSPC | EDQUOT | EROFS | short (a write writes half of
 *            what it was given and says so; only for write)
 *     TIMES  how many calls fail from NTH on; 0 or absent: every one, until
 *            the rules are replaced
 *   clock +MS   wall and monotonic clocks read MS ms ahead of the real ones
 *               (at most ten years; a later rule set never moves them back)
 *
 * Which file a call is about: open and rename by their path's last part
 * ("wal-*", "snap-*"; O_DIRECTORY is dir), the other calls by the kind their
 * descriptor was opened as (a table indexed by fd, filled by the wrapped
 * open). The rules in force are one immutable set behind an atomic pointer;
 * a replaced set is kept until io_fault_clear, because the log thread or a
 * checkpoint child may still be reading it. Counters are per rule, atomic
 * (the loop and the log thread both call through here), counted from the
 * load — recovery's calls at start included. A checkpoint child counts in
 * its own copy, from the parent's counts at the fork: `write snap 1 EIO 1`
 * fails every checkpoint's first write, not only the first checkpoint's.
 */
#include "store/io_fault.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/io.h"
#include "util/alloc.h"
#include "util/clock.h"

#define FAULT_RULES_MAX 32
#define FAULT_FDS 65536 /* descriptors beyond count as other files */

typedef enum { OP_OPEN, OP_WRITE, OP_FDATASYNC, OP_FSYNC, OP_RENAME, OP_FTRUNCATE, OP_N } fault_op_t;
typedef enum { FK_OTHER, FK_WAL, FK_SNAP, FK_DIR, FK_ANY } fault_kind_t;

#define FAULT_SHORT (-1) /* err value of a short write */

typedef struct fault_rule {
    fault_op_t op;
    fault_kind_t kind;
    unsigned long nth, times;
    int err;
    atomic_ulong seen;
} fault_rule_t;

typedef struct fault_set {
    fault_rule_t rules[FAULT_RULES_MAX];
    int n;
    unsigned long long clock_ms;
    struct fault_set *older; /* retired sets, freed by io_fault_clear */
} fault_set_t;

static _Atomic(fault_set_t *) active;
static io_ops_t wrapped; /* the operations the rules sit on */
static int installed;
static _Atomic unsigned char fd_kind[FAULT_FDS];

static const char *const op_names[OP_N] = {"open", "write", "fdatasync", "fsync", "rename", "ftruncate"};
static const struct {
    const char *name;
    fault_kind_t kind;
} kind_names[] = {{"wal", FK_WAL}, {"snap", FK_SNAP}, {"dir", FK_DIR}, {"any", FK_ANY}};
static const struct {
    const char *name;
    int err;
} err_names[] = {{"EIO", EIO}, {"ENOSPC", ENOSPC}, {"EDQUOT", EDQUOT}, {"EROFS", EROFS}, {"short", FAULT_SHORT}};

static fault_kind_t kind_of_path(const char *path)
{
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    if (strncmp(base, "wal-", 4) == 0)
        return FK_WAL;
    if (strncmp(base, "snap-", 5) == 0)
        return FK_SNAP;
    return FK_OTHER;
}

static fault_kind_t kind_of_fd(int fd)
{
    return fd >= 0 && fd < FAULT_FDS ? (fault_kind_t)atomic_load(&fd_kind[fd]) : FK_OTHER;
}

/* The error the call fails with: 0 to let it through. Every matching rule
 * counts the call, so rules on the same calls keep step (the first that
 * fires decides). */
static int fault_check(fault_op_t op, fault_kind_t kind)
{
    fault_set_t *s = atomic_load(&active);
    int err = 0;
    for (int i = 0; s && i < s->n; i++) {
        fault_rule_t *r = &s->rules[i];
        if (r->op != op || (r->kind != FK_ANY && r->kind != kind))
            continue;
        unsigned long k = atomic_fetch_add(&r->seen, 1) + 1;
        if (!err && k >= r->nth && (!r->times || k - r->nth < r->times))
            err = r->err;
    }
    return err;
}

static int fail(int err)
{
    errno = err;
    return -1;
}

static int f_open(const char *path, int flags, mode_t mode)
{
    fault_kind_t kind = (flags & O_DIRECTORY) ? FK_DIR : kind_of_path(path);
    int err = fault_check(OP_OPEN, kind);
    if (err > 0)
        return fail(err);
    int fd = wrapped.open(path, flags, mode);
    if (fd >= 0 && fd < FAULT_FDS)
        atomic_store(&fd_kind[fd], (unsigned char)kind);
    return fd;
}

static ssize_t f_write(int fd, const void *p, size_t n)
{
    int err = fault_check(OP_WRITE, kind_of_fd(fd));
    if (err == FAULT_SHORT && n > 1)
        return wrapped.write(fd, p, n / 2);
    if (err > 0)
        return fail(err);
    return wrapped.write(fd, p, n);
}

static int f_fdatasync(int fd)
{
    int err = fault_check(OP_FDATASYNC, kind_of_fd(fd));
    return err > 0 ? fail(err) : wrapped.fdatasync(fd);
}

static int f_fsync(int fd)
{
    int err = fault_check(OP_FSYNC, kind_of_fd(fd));
    return err > 0 ? fail(err) : wrapped.fsync(fd);
}

static int f_rename(const char *from, const char *to)
{
    int err = fault_check(OP_RENAME, kind_of_path(to));
    return err > 0 ? fail(err) : wrapped.rename(from, to);
}

static int f_ftruncate(int fd, off_t len)
{
    int err = fault_check(OP_FTRUNCATE, kind_of_fd(fd));
    return err > 0 ? fail(err) : wrapped.ftruncate(fd, len);
}

static int lookup(const char *word, const char *const *names, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(word, names[i]) == 0)
            return (int)i;
    return -1;
}

static int parse_rule(char *line, fault_rule_t *r, char *why, size_t why_len)
{
    char op[16], kind[16], err[16];
    unsigned long nth = 0, times = 0;
    int end = 0, got = sscanf(line, "%15s %15s %lu %15s %n%lu %n", op, kind, &nth, err, &end, &times, &end);
    int o = got >= 4 ? lookup(op, op_names, OP_N) : -1;
    if (o < 0 || nth == 0 || nth > 1000000000ul || times > 1000000000ul || line[end] || strchr(line, '-')) {
        snprintf(why, why_len, "'%s': expected OP FILE NTH ERROR [TIMES], NTH 1..1e9, TIMES 0..1e9", line);
        return -1;
    }
    r->op = (fault_op_t)o;
    r->kind = FK_OTHER;
    for (size_t i = 0; i < sizeof kind_names / sizeof *kind_names; i++)
        if (strcmp(kind, kind_names[i].name) == 0)
            r->kind = kind_names[i].kind;
    r->err = 0;
    for (size_t i = 0; i < sizeof err_names / sizeof *err_names; i++)
        if (strcmp(err, err_names[i].name) == 0)
            r->err = err_names[i].err;
    if (r->kind == FK_OTHER || r->err == 0 || (r->err == FAULT_SHORT && r->op != OP_WRITE)) {
        snprintf(why, why_len, "'%s': FILE is wal|snap|dir|any, ERROR EIO|ENOSPC|EDQUOT|EROFS|short (write only)",
                 line);
        return -1;
    }
    r->nth = nth;
    r->times = times;
    atomic_init(&r->seen, 0);
    return 0;
}

static int parse_line(char *line, fault_set_t *s, char *why, size_t why_len)
{
    char *hash = strchr(line, '#');
    if (hash)
        *hash = 0;
    line += strspn(line, " \t\r");
    size_t n = strlen(line);
    while (n && (line[n - 1] == ' ' || line[n - 1] == '\t' || line[n - 1] == '\r'))
        line[--n] = 0;
    if (!n)
        return 0;
    unsigned long long ms;
    char tail;
    if (strncmp(line, "clock", 5) == 0) {
        if (sscanf(line + 5, " +%llu %c", &ms, &tail) != 1 || ms > 10ull * 365 * 86400 * 1000) {
            snprintf(why, why_len, "'%s': expected clock +MS", line);
            return -1;
        }
        s->clock_ms = ms;
        return 0;
    }
    if (s->n == FAULT_RULES_MAX) {
        snprintf(why, why_len, "more than %d rules", FAULT_RULES_MAX);
        return -1;
    }
    if (parse_rule(line, &s->rules[s->n], why, why_len) != 0)
        return -1;
    s->n++;
    return 0;
}

static void install(void)
{
    if (installed)
        return;
    wrapped = io_ops;
    io_ops.open = f_open;
    io_ops.write = f_write;
    io_ops.fdatasync = f_fdatasync;
    io_ops.fsync = f_fsync;
    io_ops.rename = f_rename;
    io_ops.ftruncate = f_ftruncate;
    installed = 1;
}

int io_fault_set(const char *text, char *why, size_t why_len)
{
    fault_set_t *s = xcalloc(1, sizeof *s);
    char *copy = xstrdup(text), *save = NULL;
    int rc = 0;
    for (char *line = strtok_r(copy, "\n", &save); line && rc == 0; line = strtok_r(NULL, "\n", &save))
        rc = parse_line(line, s, why, why_len);
    free(copy);
    if (rc != 0) {
        free(s);
        return -1;
    }
    install();
    s->older = atomic_load(&active);
    atomic_store(&active, s);
    clock_set_offset_ms(s->clock_ms);
    return s->n;
}

int io_fault_load(const char *path, char *why, size_t why_len)
{
    FILE *f = fopen(path, "re");
    if (!f) {
        snprintf(why, why_len, "%s: %s", path, strerror(errno));
        return -1;
    }
    char text[8192];
    size_t n = fread(text, 1, sizeof text - 1, f);
    int big = n == sizeof text - 1 && fgetc(f) != EOF;
    fclose(f);
    if (big) {
        snprintf(why, why_len, "%s: larger than %zu bytes", path, sizeof text - 1);
        return -1;
    }
    text[n] = 0;
    return io_fault_set(text, why, why_len);
}

void io_fault_clear(void)
{
    fault_set_t *s = atomic_exchange(&active, NULL);
    while (s) {
        fault_set_t *older = s->older;
        free(s);
        s = older;
    }
    if (installed)
        io_ops = wrapped;
    installed = 0;
    clock_reset_offset();
}
