/* clock — wall and monotonic time in integer units. */
#include "util/clock.h"

#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

/* Added to both clocks: 0 except when a test moves time (io_fault's clock rule). */
static _Atomic uint64_t offset_ns;

static uint64_t ts_ns(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec + atomic_load_explicit(&offset_ns, memory_order_relaxed);
}

void clock_set_offset_ms(uint64_t ms)
{
    uint64_t want = ms * 1000000ull, cur = atomic_load(&offset_ns);
    while (cur < want && !atomic_compare_exchange_weak(&offset_ns, &cur, want))
        ;
}

void clock_mono_deadline(uint64_t due_ns, struct timespec *out)
{
    uint64_t off = atomic_load_explicit(&offset_ns, memory_order_relaxed);
    uint64_t raw = due_ns > off ? due_ns - off : 0;
    out->tv_sec = (time_t)(raw / 1000000000ull);
    out->tv_nsec = (long)(raw % 1000000000ull);
}

void clock_reset_offset(void)
{
    atomic_store(&offset_ns, 0);
}

uint64_t clock_wall_ms(void)
{
    return ts_ns(CLOCK_REALTIME) / 1000000ull;
}

uint64_t clock_wall_us(void)
{
    return ts_ns(CLOCK_REALTIME) / 1000ull;
}

uint64_t clock_mono_ms(void)
{
    return ts_ns(CLOCK_MONOTONIC) / 1000000ull;
}

uint64_t clock_mono_ns(void)
{
    return ts_ns(CLOCK_MONOTONIC);
}

/* The seconds part is formatted once per second per thread (gmtime and
 * strftime cost more than the rest of a request's time stamps). Two slots:
 * a request stamps both its acceptance and its deadline, seconds apart. */
void clock_iso8601(uint64_t ms, char out[32])
{
    static _Thread_local struct {
        time_t s;
        char text[24];
        size_t n;
    } slot[2] = {{.s = -1}, {.s = -1}};
    static _Thread_local unsigned next;
    time_t s = (time_t)(ms / 1000);
    unsigned k = slot[0].s == s ? 0 : slot[1].s == s ? 1 : 2;
    if (k == 2) {
        struct tm tm;
        k = next, next ^= 1;
        gmtime_r(&s, &tm);
        slot[k].n = strftime(slot[k].text, sizeof slot[k].text, "%Y-%m-%dT%H:%M:%S", &tm);
        slot[k].s = s;
    }
    const char *cached = slot[k].text;
    size_t cached_n = slot[k].n;
    unsigned frac = (unsigned)(ms % 1000);
    memcpy(out, cached, cached_n);
    char *p = out + cached_n;
    *p++ = '.';
    *p++ = (char)('0' + frac / 100);
    *p++ = (char)('0' + frac / 10 % 10);
    *p++ = (char)('0' + frac % 10);
    *p++ = 'Z';
    *p = 0;
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
