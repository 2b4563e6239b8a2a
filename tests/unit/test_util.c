/* Unit tests for the hand-written formatters of util/: text_u64,
 * clock_iso8601 (its per-second cache) and rand_uuid, each against the libc
 * or libuuid formatting it replaced on the hot path, and buf_printf. */
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <uuid/uuid.h>

#include "harness.h"
#include "util/buf.h"
#include "util/clock.h"
#include "util/logging.h"
#include "util/rand.h"
#include "util/text.h"

/* A refusal's reason quotes what a client sent: it must not end its quotes
 * or start a forged log line. */
TEST(log_quote_escapes_what_could_forge_a_line)
{
    char out[64];
    CHECK_STR(log_quote("plain text", out, sizeof out), "plain text");
    CHECK_STR(log_quote("a\" event=x\nts=1 level=error\r\t\\\x01\x7f", out, sizeof out),
              "a\\\" event=x\\nts=1 level=error\\r\\t\\\\\\x01\\x7f");
    CHECK_STR(log_quote("abc\n", out, 5), "abc"); /* \\n would not fit: cut before it, never inside */
    CHECK_STR(log_quote("\xc3\xa9", out, sizeof out), "\xc3\xa9"); /* UTF-8 passes */
}

TEST(text_u64_writes_every_width)
{
    char out[21], want[32];
    static const uint64_t v[] = {0, 1, 9, 10, 99, 100, 12345, 4294967295ull, 4294967296ull, 18446744073709551615ull};
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        snprintf(want, sizeof want, "%llu", (unsigned long long)v[i]);
        CHECK(text_u64(v[i], out) == out);
        CHECK_STR(out, want);
    }
}

/* What clock_iso8601 wrote before its cache: strftime plus the milliseconds. */
static void reference(uint64_t ms, char out[32])
{
    time_t s = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&s, &tm);
    size_t n = strftime(out, 32, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out + n, 32 - n, ".%03uZ", (unsigned)(ms % 1000));
}

TEST(iso8601_matches_strftime_across_seconds_and_back)
{
    char got[32], want[32];
    /* forwards through second, minute, day and year boundaries, then back
     * to an earlier second (the cache must not stick) */
    static const uint64_t base[] = {0, 999, 1000, 1795496399999ull, 1795496400000ull, 1798761599998ull,
                                    1798761600001ull, 951782400000ull /* 2000-02-29 */, 1000, 4102444800123ull};
    for (size_t i = 0; i < sizeof base / sizeof base[0]; i++)
        for (uint64_t d = 0; d < 2005; d += 7) {
            uint64_t ms = base[i] + d;
            clock_iso8601(ms, got);
            reference(ms, want);
            CHECK_STR(got, want);
            CHECK_INT(clock_iso8601_parse(got), ms);
        }
}

/* A request stamps its acceptance and its deadline (seconds later) in
 * turn: each must come out right while the two alternate, and a third
 * second must not be served from either kept slot. */
TEST(iso8601_alternating_seconds)
{
    char got[32], want[32];
    for (uint64_t t = 1795496399000ull; t < 1795496405000ull; t += 137) {
        const uint64_t ms[] = {t, t + 30000, t + 1000, t, t + 30000, t + 86400000};
        for (size_t i = 0; i < sizeof ms / sizeof ms[0]; i++) {
            clock_iso8601(ms[i], got);
            reference(ms[i], want);
            CHECK_STR(got, want);
        }
    }
}

TEST(uuid_is_v4_and_formatted_as_libuuid_does)
{
    char id[UUID_STR_LEN], again[UUID_STR_LEN];
    for (int i = 0; i < 1000; i++) {
        rand_uuid(id);
        CHECK_INT(strlen(id), 36);
        uuid_t u;
        CHECK(uuid_parse(id, u) == 0);
        uuid_unparse_lower(u, again);
        CHECK_STR(id, again);
        CHECK_INT(id[14], '4');
        CHECK(strchr("89ab", id[19]) != NULL);
    }
}

TEST(buf_printf_long_and_many)
{
    buf_t b = BUF_INIT;
    char big[1000];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = 0;
    for (int i = 0; i < 50; i++)
        buf_printf(&b, "%d:%s;", i, i % 10 ? "y" : big);
    size_t want = 0;
    for (int i = 0; i < 50; i++)
        want += (size_t)snprintf(NULL, 0, "%d:%s;", i, i % 10 ? "y" : big);
    CHECK_INT(b.len, want);
    CHECK_INT(strlen(b.data), want);
    CHECK(strncmp(b.data, "0:xxx", 5) == 0);
    buf_free(&b);
}
