/*
 * fuzz_store_recover — recovery of arbitrary segment and snapshot bytes.
 *
 * Input: byte 0 picks the layout (bits 0-1), the rest is file content.
 *   0  one segment               1  one snapshot
 *   2  snapshot + segment        3  two segments
 * For 2 and 3, bytes 1..2 (little-endian) split the content in two. With
 * bit 2 set the harness recomputes every header and record checksum it can
 * frame before writing, so mutations get past the CRCs and exercise the
 * LSN, sequence, trailer and length logic behind them. Each
 * file is named after the LSN in its own header (bytes 12..19), or 1 when
 * too short, so valid seeds are found under their real names. The target
 * runs store_open + store_recover + store_close in a fresh directory: it
 * must succeed, or fail with a reason — never crash, leak or hang.
 */
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuzz.h"
#include "net/loop.h"
#include "store/store.h"
#include "util/alloc.h"
#include "util/crc32c.h"
#include "util/logging.h"

static uint64_t fz_lsn(const uint8_t *p, size_t n)
{
    uint64_t v = 0;
    if (n < 20)
        return 1;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | p[12 + i];
    return v;
}

static uint32_t fz_get32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void fz_put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

/* Rewrites the header CRC and the CRC of every record that frames. */
static void fz_fix_crcs(uint8_t *p, size_t n)
{
    if (n < 24)
        return;
    fz_put32(p + 20, crc32c(0, p, 20));
    for (size_t off = 24; n - off >= 8;) {
        uint32_t len = fz_get32(p + off);
        if (len < 9 || len > n - off - 8)
            break;
        fz_put32(p + off + 4, crc32c(0, p + off + 8, len));
        off += 8 + (size_t)len;
    }
}

static void fz_write(const char *dir, const char *prefix, const char *suffix, uint8_t *p, size_t n, int fix)
{
    if (fix)
        fz_fix_crcs(p, n);
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/%s%020llu%s", dir, prefix, (unsigned long long)fz_lsn(p, n), suffix);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0)
        abort();
    if (n && write(fd, p, n) != (ssize_t)n)
        abort();
    close(fd);
}

static void fz_clean(const char *dir)
{
    char path[PATH_MAX];
    DIR *d = opendir(dir);
    struct dirent *e;
    while (d && (e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        unlink(path);
    }
    if (d)
        closedir(d);
    rmdir(dir);
}

static int fz_apply(void *ctx, uint8_t type, const void *payload, size_t len)
{
    size_t *n = ctx;
    (*n)++;
    return (type == 0x77 && len == 0 && payload) ? -1 : 0; /* lets the fuzzer reach the engine-rejects path */
}

static void fz_layout(const char *dir, uint8_t *data, size_t size)
{
    int mode = data[0] & 3, fix = data[0] & 4;
    uint8_t *p = data + 1;
    size_t n = size - 1, cut = n;
    if (mode >= 2 && n >= 2) {
        cut = (size_t)(p[0] | p[1] << 8);
        p += 2;
        n -= 2;
        cut = cut > n ? n : cut;
    }
    if (mode == 1 || mode == 2)
        fz_write(dir, "snap-", ".dat", p, cut, fix);
    else
        fz_write(dir, "wal-", ".log", p, cut, fix);
    if (mode >= 2)
        fz_write(dir, "wal-", ".log", p + cut, n - cut, fix);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static loop_t *loop;
    char dir[] = "/dev/shm/fuzz-store-XXXXXX", why[512];
    store_config_t cfg = {.dir = dir};
    store_t *st = NULL;
    size_t applied = 0;
    if (size < 1)
        return 0;
    if (!loop) {
        log_set_level(LOG_FATAL);
        loop = loop_new();
    }
    if (!mkdtemp(dir))
        abort();
    uint8_t *copy = xmalloc(size); /* the checksum fix-up writes into it */
    memcpy(copy, data, size);
    fz_layout(dir, copy, size);
    free(copy);
    why[0] = '\0';
    if (store_open(&cfg, loop, &st, why, sizeof why) != 0)
        abort(); /* a fresh directory always opens */
    if (store_recover(st, fz_apply, &applied, why, sizeof why) != 0 && why[0] == '\0')
        abort(); /* failed without saying why */
    store_close(st);
    fz_clean(dir);
    return 0;
}
