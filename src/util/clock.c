/* clock — wall and monotonic time in integer units. */
#include "util/clock.h"

#include <stdio.h>
#include <string.h>
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

uint64_t clock_iso8601_parse(const char *s)
{
    struct tm tm;
    int ms = 0;
    memset(&tm, 0, sizeof tm);
    if (!s || sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d.%3dZ", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour, &tm.tm_min,
                     &tm.tm_sec, &ms) != 7)
        return 0;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    time_t t = timegm(&tm);
    return t < 0 ? 0 : (uint64_t)t * 1000 + (uint64_t)ms;
}
