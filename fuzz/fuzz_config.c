/*
 * fuzz_config — libFuzzer target for the configuration file reader: the
 * YAML text of `sluice serve --config FILE` (libyaml's document, then every
 * section's keys, ranges, names and cross-references).
 *
 * The input is the file, handed over as a memfd's /proc path so the reader
 * runs exactly as the daemon runs it. Checks:
 *   - a refused file says why, and the reason starts with the file's name
 *     (every complaint is "FILE:LINE:COL: what" or "FILE: what");
 *   - a file that loads is either valid or refused by config_validate with
 *     a reason;
 *   - loading is deterministic: a second load of the same text agrees on
 *     the verdict and the reason.
 * Nothing may crash, leak or hang.
 */
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "daemon/config.h"
#include "fuzz.h"

/* Loads text as a config file; 0 when it loads and validates, 1 when it
 * loads but is invalid, -1 when it does not load; why gets the reason. */
static int fz_load(const uint8_t *data, size_t size, char *why, size_t why_len, char *path, size_t path_len)
{
    int fd = memfd_create("sluice-config", 0);
    FUZZ_CHECK(fd >= 0);
    FUZZ_CHECK(write(fd, data, size) == (ssize_t)size);
    snprintf(path, path_len, "/proc/self/fd/%d", fd);
    config_t c;
    config_defaults(&c);
    why[0] = 0;
    int rc = config_load_file(&c, path, why, why_len);
    if (rc == 0)
        rc = config_validate(&c, why, why_len) == 0 ? 0 : 1;
    else
        rc = -1;
    config_free(&c);
    close(fd);
    return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char why[512], again[512], path[64], path2[64];
    int rc = fz_load(data, size, why, sizeof why, path, sizeof path);
    if (rc != 0)
        FUZZ_CHECK(why[0] != 0);
    if (rc < 0)
        FUZZ_CHECK(strncmp(why, path, strlen(path)) == 0);
    int rc2 = fz_load(data, size, again, sizeof again, path2, sizeof path2);
    FUZZ_CHECK(rc2 == rc);
    if (rc != 0 && strcmp(path, path2) == 0)
        FUZZ_CHECK(strcmp(why, again) == 0);
    return 0;
}
