/* harness — registry, per-test temp directories, and main(); see harness.h. */
#include "harness.h"

#include <ftw.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#define HARNESS_MAX 512

static struct {
    const char *name;
    test_fn fn;
} tests[HARNESS_MAX];
static int ntests;
int harness_failed;

void harness_register(const char *name, test_fn fn)
{
    if (ntests == HARNESS_MAX) {
        fprintf(stderr, "harness: too many tests\n");
        exit(2);
    }
    tests[ntests].name = name;
    tests[ntests].fn = fn;
    ntests++;
}

void harness_fail(const char *file, int line, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "    FAIL %s:%d: ", file, line);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    harness_failed = 1;
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static int selected(const char *name, int argc, char **argv)
{
    if (argc < 2)
        return 1;
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], name) == 0)
            return 1;
    return 0;
}

int main(int argc, char **argv)
{
    char home[PATH_MAX];
    if (!getcwd(home, sizeof home))
        return 2;
    int failures = 0, ran = 0;
    for (int i = 0; i < ntests; i++) {
        if (!selected(tests[i].name, argc, argv))
            continue;
        char dir[] = "/tmp/sluice-test-XXXXXX";
        if (!mkdtemp(dir) || chdir(dir) != 0) {
            perror("harness: temp dir");
            return 2;
        }
        harness_failed = 0;
        tests[i].fn();
        ran++;
        if (chdir(home) != 0)
            return 2;
        if (harness_failed) {
            failures++;
            fprintf(stderr, "  FAIL %s (files kept in %s)\n", tests[i].name, dir);
        } else {
            nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
            printf("  ok   %s\n", tests[i].name);
        }
    }
    printf("%d/%d passed\n", ran - failures, ran);
    return failures ? 1 : 0;
}

const char *harness_repo_path(const char *rel, char *out, size_t n)
{
    char exe[PATH_MAX];
    ssize_t len = readlink("/proc/self/exe", exe, sizeof exe - 1);
    exe[len > 0 ? len : 0] = '\0';
    for (int i = 0; i < 3; i++) { /* <repo>/<build>/tests/test_x */
        char *slash = strrchr(exe, '/');
        if (slash)
            *slash = '\0';
    }
    int w = snprintf(out, n, "%s/%s", exe, rel);
    if (w < 0 || (size_t)w >= n)
        out[0] = '\0';
    return out;
}
