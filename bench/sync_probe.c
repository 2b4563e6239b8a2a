/*
 * sync-probe — what one fdatasync costs on this disk, and what it costs the
 * machine. Writes a 4 KiB block and fdatasyncs it, N times, in one of two
 * ways the log could write:
 *   append     each write extends the file (the size changes: ext4 commits
 *              its journal on every fdatasync)
 *   overwrite  the file is zero-filled first, then overwritten in place (the
 *              size and extents are unchanged: fdatasync flushes data only)
 * while S spinner threads keep S CPUs busy, as a loaded daemon does. Prints
 * syncs/s, per-sync latency percentiles, and the CPU time /proc/stat counted
 * as stolen (the hypervisor running something else) during the run.
 *   build/sync-probe append|overwrite [N syncs, default 10000] [S spinners, default 0]
 * The file is sync-probe.dat in the current directory, removed at the end.
 */
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define BLOCK 4096
#define ZERO_CHUNK (1 << 20)
#define PROBE_FILE "sync-probe.dat"

static atomic_int stop;

static double now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

/* The steal column of /proc/stat's cpu line, in clock ticks. */
static long long steal_ticks(void)
{
    FILE *f = fopen("/proc/stat", "r");
    long long v[8] = {0};
    if (!f)
        return -1;
    int n = fscanf(f, "cpu %lld %lld %lld %lld %lld %lld %lld %lld", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5],
                   &v[6], &v[7]);
    fclose(f);
    return n == 8 ? v[7] : -1;
}

static void *spin(void *arg)
{
    (void)arg;
    volatile unsigned long x = 0;
    while (!atomic_load_explicit(&stop, memory_order_relaxed))
        x++;
    return NULL;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void die(const char *what)
{
    perror(what);
    unlink(PROBE_FILE);
    exit(1);
}

int main(int argc, char **argv)
{
    if (argc < 2 || (strcmp(argv[1], "append") != 0 && strcmp(argv[1], "overwrite") != 0)) {
        fprintf(stderr, "usage: %s append|overwrite [syncs] [spinners]\n", argv[0]);
        return 2;
    }
    int overwrite = strcmp(argv[1], "overwrite") == 0;
    long n = argc > 2 ? atol(argv[2]) : 10000, spinners = argc > 3 ? atol(argv[3]) : 0;
    if (n < 1 || n > 10000000 || spinners < 0 || spinners > 64) {
        fprintf(stderr, "syncs: 1..10000000, spinners: 0..64\n");
        return 2;
    }
    static char block[BLOCK];
    memset(block, 'x', sizeof block);
    int fd = open(PROBE_FILE, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        die("open");
    if (overwrite) { /* as the log does: zeros first, synced once */
        static char zeros[ZERO_CHUNK];
        for (long long done = 0; done < (long long)n * BLOCK; done += ZERO_CHUNK)
            if (write(fd, zeros, sizeof zeros) != (ssize_t)sizeof zeros)
                die("write");
        if (fdatasync(fd) < 0 || lseek(fd, 0, SEEK_SET) < 0)
            die("fdatasync");
    }
    pthread_t th[64];
    for (long i = 0; i < spinners; i++)
        pthread_create(&th[i], NULL, spin, NULL);
    double *lat = malloc((size_t)n * sizeof *lat);
    if (!lat)
        die("malloc");
    long long steal0 = steal_ticks();
    double t0 = now_ms();
    for (long i = 0; i < n; i++) {
        if (write(fd, block, sizeof block) != (ssize_t)sizeof block)
            die("write");
        double a = now_ms();
        if (fdatasync(fd) < 0)
            die("fdatasync");
        lat[i] = now_ms() - a;
    }
    double secs = (now_ms() - t0) / 1e3;
    long long steal1 = steal_ticks();
    atomic_store(&stop, 1);
    for (long i = 0; i < spinners; i++)
        pthread_join(th[i], NULL);
    close(fd);
    unlink(PROBE_FILE);
    qsort(lat, (size_t)n, sizeof *lat, cmp_double);
    long hz = sysconf(_SC_CLK_TCK);
    printf("sync-probe %-9s syncs=%ld spinners=%ld secs=%.2f syncs/s=%.0f p50=%.3fms p99=%.3fms max=%.3fms "
           "stolen_cpu_ms=%lld\n",
           argv[1], n, spinners, secs, (double)n / secs, lat[n / 2], lat[n * 99 / 100], lat[n - 1],
           steal0 >= 0 && steal1 >= 0 ? (steal1 - steal0) * 1000 / (hz > 0 ? hz : 100) : -1);
    free(lat);
    return 0;
}
