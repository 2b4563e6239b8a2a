/* clock — wall and monotonic time in integer units. */
#include "util/clock.h"

#include <stdio.h>
#include <time.h>

static uint64_t ts_ns(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

uint64_t clock_wall_ms(void)
{
    return ts_ns(CLOCK_REALTIME) / 1000000ull;
}

uint64_t clock_mono_ms(void)
{
    return ts_ns(CLOCK_MONOTONIC) / 1000000ull;
}

uint64_t clock_mono_ns(void)
{
    return ts_ns(CLOCK_MONOTONIC);
}

void clock_iso8601(uint64_t ms, char out[32])
{
    time_t s = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&s, &tm);
    size_t n = strftime(out, 32, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out + n, 32 - n, ".%03uZ", (unsigned)(ms % 1000));
}
