/* Unit tests for gateway/keys: admission, buckets, quota periods, validation,
 * the admin JSON. Time is passed in explicitly; nothing sleeps. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "gateway/keys.h"
#include "harness.h"
#include "util/buf.h"

#define SEC 1000ull

/* Epoch ms of a UTC date and time. */
static uint64_t utc(int y, int mo, int d, int h, int mi, int s)
{
    struct tm tm = {.tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = d, .tm_hour = h, .tm_min = mi, .tm_sec = s};
    return (uint64_t)timegm(&tm) * 1000;
}

static status_t plan(keys_t *k, const char *name, double rate, uint32_t burst, uint64_t limit, keys_period_t per)
{
    keys_plan_def_t d = {.name = name, .rate = rate, .burst = burst, .limit = limit, .period = per};
    err_t e;
    return keys_add_plan(k, &d, &e);
}

static status_t key(keys_t *k, const char *name, const char *secret, const char *plan_name)
{
    char hash[72];
    keys_hash_text(secret, hash);
    keys_key_def_t d = {.name = name, .hash = hash, .plan = plan_name};
    err_t e;
    return keys_add_key(k, &d, &e);
}

static keys_admit_t admit(keys_t *k, const char *secret, uint64_t now, keys_verdict_t *v)
{
    return keys_admit(k, secret, secret ? strlen(secret) : 0, now, v);
}

/* The validation message of adding a plan or key that must fail. */
static const char *plan_err(keys_t *k, keys_plan_def_t d, err_t *e)
{
    return keys_add_plan(k, &d, e) == ST_VALIDATION_ERROR ? e->msg : "(accepted)";
}

static const char *key_err(keys_t *k, keys_key_def_t d, err_t *e)
{
    return keys_add_key(k, &d, e) == ST_VALIDATION_ERROR ? e->msg : "(accepted)";
}

TEST(timestamps_used_by_these_tests)
{
    CHECK_INT(utc(2024, 2, 29, 0, 0, 0), 1709164800ull * 1000);
    CHECK_INT(utc(2024, 3, 4, 0, 0, 0), 1709510400ull * 1000); /* a Monday */
}

TEST(hash_text_is_sha256_lowercase_hex)
{
    char out[72];
    keys_hash_text("hello", out);
    CHECK_STR(out, "sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824");
    CHECK_INT(strlen(out), KEYS_HASH_TEXT_LEN);
}

TEST(missing_unknown_and_disabled_keys)
{
    keys_t *k = keys_new();
    CHECK_INT(plan(k, "p", 0, 0, 0, KEYS_PERIOD_NONE), ST_OK);
    CHECK_INT(key(k, "good", "s3cret-good", "p"), ST_OK);
    char hash[72];
    keys_hash_text("s3cret-off", hash);
    keys_key_def_t off = {.name = "off", .hash = hash, .plan = "p", .disabled = 1};
    err_t e;
    CHECK_INT(keys_add_key(k, &off, &e), ST_OK);

    keys_verdict_t v;
    CHECK_INT(admit(k, NULL, 0, &v), KEYS_ADMIT_MISSING);
    CHECK(v.key == NULL && v.retry_after_s == 0);
    CHECK_INT(keys_admit(k, "x", 0, 0, &v), KEYS_ADMIT_MISSING); /* empty header */
    CHECK_INT(admit(k, "s3cret-bad", 0, &v), KEYS_ADMIT_UNKNOWN);
    CHECK(v.key == NULL);
    /* a prefix of a real key is just another unknown key */
    CHECK_INT(keys_admit(k, "s3cret-good", 6, 0, &v), KEYS_ADMIT_UNKNOWN);
    CHECK_INT(admit(k, "s3cret-off", 0, &v), KEYS_ADMIT_UNKNOWN);
    CHECK_STR(v.key, "off"); /* named for logs only */
    CHECK_INT(admit(k, "s3cret-good", 0, &v), KEYS_ADMIT_OK);
    CHECK_STR(v.key, "good");
    CHECK_STR(v.plan, "p");
    CHECK_INT(admit(k, "s3cret-good", 0, NULL), KEYS_ADMIT_OK); /* verdict optional */

    /* disabling and enabling at run time keeps the counters */
    CHECK_INT(keys_set_enabled(k, "good", 0, &e), ST_OK);
    CHECK_INT(admit(k, "s3cret-good", 0, &v), KEYS_ADMIT_UNKNOWN);
    CHECK_INT(keys_set_enabled(k, "off", 1, &e), ST_OK);
    CHECK_INT(admit(k, "s3cret-off", 0, &v), KEYS_ADMIT_OK);
    CHECK_INT(keys_set_enabled(k, "good", 1, &e), ST_OK);
    keys_usage_t u;
    CHECK_INT(keys_usage(k, "good", 0, &u), 0);
    CHECK_INT(u.admitted, 2);
    CHECK_INT(u.enabled, 1);
    CHECK_INT(keys_set_enabled(k, "nope", 0, &e), ST_NOT_FOUND);
    CHECK_STR(e.msg, "API key \"nope\" does not exist");
    CHECK_INT(keys_usage(k, "nope", 0, &u), -1);
    keys_free(k);
}

TEST(burst_then_throttle_with_exact_retry_after)
{
    keys_t *k = keys_new();
    CHECK_INT(plan(k, "one", 1, 3, 0, KEYS_PERIOD_NONE), ST_OK);
    CHECK_INT(plan(k, "half", 0.5, 1, 0, KEYS_PERIOD_NONE), ST_OK);
    CHECK_INT(plan(k, "third", 0.3, 1, 0, KEYS_PERIOD_NONE), ST_OK);
    CHECK_INT(plan(k, "ten", 10, 5, 0, KEYS_PERIOD_NONE), ST_OK);
    CHECK_INT(key(k, "k1", "key-one", "one"), ST_OK);
    CHECK_INT(key(k, "k2", "key-half", "half"), ST_OK);
    CHECK_INT(key(k, "k3", "key-third", "third"), ST_OK);
    CHECK_INT(key(k, "k4", "key-ten", "ten"), ST_OK);
    uint64_t t = 50000;
    keys_verdict_t v;

    for (int i = 0; i < 3; i++)
        CHECK_INT(admit(k, "key-one", t, &v), KEYS_ADMIT_OK);
    CHECK_INT(admit(k, "key-one", t, &v), KEYS_ADMIT_THROTTLED);
    CHECK_INT(v.retry_after_s, 1);
    CHECK_STR(v.key, "k1");
    CHECK_INT(admit(k, "key-one", t + 999, &v), KEYS_ADMIT_THROTTLED); /* 1 ms short */
    CHECK_INT(v.retry_after_s, 1);
    CHECK_INT(admit(k, "key-one", t + 1000, &v), KEYS_ADMIT_OK);
    CHECK_INT(admit(k, "key-one", t + 1000, &v), KEYS_ADMIT_THROTTLED);

    CHECK_INT(admit(k, "key-half", t, &v), KEYS_ADMIT_OK);
    CHECK_INT(admit(k, "key-half", t, &v), KEYS_ADMIT_THROTTLED);
    CHECK_INT(v.retry_after_s, 2);
    CHECK_INT(admit(k, "key-half", t + 1001, &v), KEYS_ADMIT_THROTTLED); /* 999 ms to go */
    CHECK_INT(v.retry_after_s, 1);

    CHECK_INT(admit(k, "key-third", t, &v), KEYS_ADMIT_OK);
    CHECK_INT(admit(k, "key-third", t, &v), KEYS_ADMIT_THROTTLED);
    CHECK_INT(v.retry_after_s, 4); /* 3333.3 ms, rounded up */
    CHECK_INT(admit(k, "key-third", t + 3333, &v), KEYS_ADMIT_THROTTLED);
    CHECK_INT(admit(k, "key-third", t + 3334, &v), KEYS_ADMIT_OK);

    for (int i = 0; i < 5; i++)
        CHECK_INT(admit(k, "key-ten", t, &v), KEYS_ADMIT_OK);
    CHECK_INT(admit(k, "key-ten", t, &v), KEYS_ADMIT_THROTTLED);
    CHECK_INT(v.retry_after_s, 1); /* 100 ms, but never less than 1 */

    keys_usage_t u;
    CHECK_INT(keys_usage(k, "k1", t, &u), 0);
    CHECK_INT(u.admitted, 4);
    CHECK_INT(u.throttled, 3);
    CHECK_INT(u.period, KEYS_PERIOD_NONE);
    keys_free(k);
}

TEST(bucket_refills_over_time_up_to_burst)
{
    keys_t *k = keys_new();
    CHECK_INT(plan(k, "p", 2, 4, 0, KEYS_PERIOD_NONE), ST_OK);
    CHECK_INT(plan(k, "q", 3, 1, 0, KEYS_PERIOD_NONE), ST_OK);
    CHECK_INT(key(k, "a", "key-a", "p"), ST_OK);
    CHECK_INT(key(k, "b", "key-b", "q"), ST_OK);
    uint64_t t = 1000000;
    for (int i = 0; i < 4; i++)
        CHECK_INT(admit(k, "key-a", t, NULL), KEYS_ADMIT_OK);
    CHECK_INT(admit(k, "key-a", t, NULL), KEYS_ADMIT_THROTTLED);
    t += 1000; /* two tokens */
    CHECK_INT(admit(k, "key-a", t, NULL), KEYS_ADMIT_OK);
    CHECK_INT(admit(k, "key-a", t, NULL), KEYS_ADMIT_OK);
    CHECK_INT(admit(k, "key-a", t, NULL), KEYS_ADMIT_THROTTLED);
    t += 250; /* half a token, then another half */
    CHECK_INT(admit(k, "key-a", t, NULL), KEYS_ADMIT_THROTTLED);
    t += 250;
    CHECK_INT(admit(k, "key-a", t, NULL), KEYS_ADMIT_OK);
    t += 3600 * SEC; /* an hour refills to burst, not beyond */
    for (int i = 0; i < 4; i++)
        CHECK_INT(admit(k, "key-a", t, NULL), KEYS_ADMIT_OK);
    CHECK_INT(admit(k, "key-a", t, NULL), KEYS_ADMIT_THROTTLED);

    /* rate 3/s: 333 ms is 0.999 of a token, 334 ms is enough */
    CHECK_INT(admit(k, "key-b", t, NULL), KEYS_ADMIT_OK);
    CHECK_INT(admit(k, "key-b", t + 333, NULL), KEYS_ADMIT_THROTTLED);
    CHECK_INT(admit(k, "key-b", t + 334, NULL), KEYS_ADMIT_OK);
    keys_free(k);
}

TEST(huge_rates_and_gaps_do_not_overflow)
{
    keys_t *k = keys_new();
    CHECK_INT(plan(k, "max", KEYS_RATE_MAX, 1000, 0, KEYS_PERIOD_NONE), ST_OK);
    CHECK_INT(plan(k, "min", KEYS_RATE_MIN, 1, 0, KEYS_PERIOD_NONE), ST_OK);
    CHECK_INT(key(k, "a", "key-a", "max"), ST_OK);
    CHECK_INT(key(k, "b", "key-b", "min"), ST_OK);
    for (int i = 0; i < 1000; i++)
        CHECK_INT(admit(k, "key-a", 0, NULL), KEYS_ADMIT_OK);
    CHECK_INT(admit(k, "key-a", 0, NULL), KEYS_ADMIT_THROTTLED);
    CHECK_INT(admit(k, "key-a", UINT64_MAX / 2, NULL), KEYS_ADMIT_OK);
    keys_verdict_t v;
    CHECK_INT(admit(k, "key-b", 0, &v), KEYS_ADMIT_OK);
    CHECK_INT(admit(k, "key-b", 0, &v), KEYS_ADMIT_THROTTLED);
    CHECK_INT(v.retry_after_s, 1000);
    CHECK_INT(admit(k, "key-b", UINT64_MAX, &v), KEYS_ADMIT_OK);
    keys_free(k);
}

TEST(daily_quota_exhausts_and_resets_at_utc_midnight)
{
    keys_t *k = keys_new();
    CHECK_INT(plan(k, "daily", 0, 0, 3, KEYS_PERIOD_DAY), ST_OK);
    CHECK_INT(key(k, "a", "key-a", "daily"), ST_OK);
    uint64_t t = utc(2024, 2, 29, 23, 59, 58) + 500;
    keys_verdict_t v;
    for (int i = 0; i < 3; i++)
        CHECK_INT(admit(k, "key-a", t, &v), KEYS_ADMIT_OK);
    CHECK_INT(admit(k, "key-a", t, &v), KEYS_ADMIT_OVER_QUOTA);
    CHECK_INT(v.retry_after_s, 2); /* 1.5 s to midnight */
    CHECK_INT(admit(k, "key-a", utc(2024, 3, 1, 0, 0, 0) - 1, &v), KEYS_ADMIT_OVER_QUOTA);
    CHECK_INT(v.retry_after_s, 1);
    keys_usage_t u;
    CHECK_INT(keys_usage(k, "a", t, &u), 0);
    CHECK_INT(u.used, 3);
    CHECK_INT(u.remaining, 0);
    CHECK_INT(u.over_quota, 2);
    CHECK_INT(u.period_start_ms, utc(2024, 2, 29, 0, 0, 0));
    CHECK_INT(u.resets_at_ms, utc(2024, 3, 1, 0, 0, 0));
    /* as of midnight the report already shows the new day, before any request */
    CHECK_INT(keys_usage(k, "a", utc(2024, 3, 1, 0, 0, 0), &u), 0);
    CHECK_INT(u.used, 0);
    CHECK_INT(u.remaining, 3);

    CHECK_INT(admit(k, "key-a", utc(2024, 3, 1, 0, 0, 0), &v), KEYS_ADMIT_OK);
    CHECK_INT(keys_usage(k, "a", utc(2024, 3, 1, 12, 0, 0), &u), 0);
    CHECK_INT(u.used, 1);
    CHECK_INT(u.remaining, 2);
    CHECK_INT(u.period_start_ms, utc(2024, 3, 1, 0, 0, 0));
    CHECK_INT(u.resets_at_ms, utc(2024, 3, 2, 0, 0, 0));
    keys_free(k);
}

TEST(weekly_quota_resets_on_monday)
{
    keys_t *k = keys_new();
    CHECK_INT(plan(k, "weekly", 0, 0, 1, KEYS_PERIOD_WEEK), ST_OK);
    CHECK_INT(key(k, "a", "key-a", "weekly"), ST_OK);
    keys_verdict_t v;
    /* Sunday 2024-03-03 noon belongs to the week of Monday 2024-02-26 */
    CHECK_INT(admit(k, "key-a", utc(2024, 3, 3, 12, 0, 0), &v), KEYS_ADMIT_OK);
    CHECK_INT(admit(k, "key-a", utc(2024, 3, 3, 12, 0, 0), &v), KEYS_ADMIT_OVER_QUOTA);
    CHECK_INT(v.retry_after_s, 12 * 3600);
    keys_usage_t u;
    CHECK_INT(keys_usage(k, "a", utc(2024, 3, 3, 23, 59, 59), &u), 0);
    CHECK_INT(u.period_start_ms, utc(2024, 2, 26, 0, 0, 0));
    CHECK_INT(u.used, 1);
    CHECK_INT(admit(k, "key-a", utc(2024, 3, 4, 0, 0, 0), &v), KEYS_ADMIT_OK);
    CHECK_INT(keys_usage(k, "a", utc(2024, 3, 6, 0, 0, 0), &u), 0);
    CHECK_INT(u.period_start_ms, utc(2024, 3, 4, 0, 0, 0));
    CHECK_INT(u.resets_at_ms, utc(2024, 3, 11, 0, 0, 0));
    /* a week across the new year: Tuesday 2024-12-31 */
    CHECK_INT(keys_usage(k, "a", utc(2024, 12, 31, 8, 0, 0), &u), 0);
    CHECK_INT(u.period_start_ms, utc(2024, 12, 30, 0, 0, 0));
    CHECK_INT(u.resets_at_ms, utc(2025, 1, 6, 0, 0, 0));
    /* a Monday is its own week's first day */
    CHECK_INT(keys_usage(k, "a", utc(2025, 1, 6, 0, 0, 0), &u), 0);
    CHECK_INT(u.period_start_ms, utc(2025, 1, 6, 0, 0, 0));
    /* 1970-01-01 was a Thursday: its week is clamped to start at the epoch
     * (asked of an unused key: "a" keeps its 2024 week for earlier times) */
    CHECK_INT(key(k, "fresh", "key-fresh", "weekly"), ST_OK);
    CHECK_INT(keys_usage(k, "fresh", 5 * SEC, &u), 0);
    CHECK_INT(u.period_start_ms, 0);
    CHECK_INT(u.resets_at_ms, utc(1970, 1, 5, 0, 0, 0));
    keys_free(k);
}

/* Period of a fresh key's monthly quota as of t. */
static int month_of(keys_t *k, uint64_t t, uint64_t *start, uint64_t *end)
{
    keys_usage_t u;
    if (keys_usage(k, "a", t, &u) < 0)
        return -1;
    *start = u.period_start_ms;
    *end = u.resets_at_ms;
    return 0;
}

TEST(monthly_quota_follows_month_lengths)
{
    keys_t *k = keys_new();
    CHECK_INT(plan(k, "monthly", 0, 0, 2, KEYS_PERIOD_MONTH), ST_OK);
    CHECK_INT(key(k, "a", "key-a", "monthly"), ST_OK);
    static const struct {
        int y, m, d, next_y, next_m;
    } cases[] = {
        {2024, 1, 31, 2024, 2},  /* 31 days */
        {2024, 2, 15, 2024, 3},  /* leap February: 29 days */
        {2023, 2, 28, 2023, 3},  /* 28 days */
        {2100, 2, 10, 2100, 3},  /* century, not leap */
        {2000, 2, 29, 2000, 3},  /* 400-year leap */
        {2024, 4, 30, 2024, 5},  /* 30 days */
        {2024, 12, 31, 2025, 1}, /* into the next year */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        uint64_t s, e;
        CHECK_INT(month_of(k, utc(cases[i].y, cases[i].m, cases[i].d, 23, 59, 59), &s, &e), 0);
        CHECK_INT(s, utc(cases[i].y, cases[i].m, 1, 0, 0, 0));
        CHECK_INT(e, utc(cases[i].next_y, cases[i].next_m, 1, 0, 0, 0));
    }
    CHECK_INT((utc(2024, 3, 1, 0, 0, 0) - utc(2024, 2, 1, 0, 0, 0)) / (86400 * SEC), 29);

    keys_verdict_t v;
    uint64_t t = utc(2024, 2, 29, 12, 0, 0);
    CHECK_INT(admit(k, "key-a", utc(2024, 2, 1, 0, 0, 0), &v), KEYS_ADMIT_OK);
    CHECK_INT(admit(k, "key-a", t, &v), KEYS_ADMIT_OK);
    CHECK_INT(admit(k, "key-a", t, &v), KEYS_ADMIT_OVER_QUOTA);
    CHECK_INT(v.retry_after_s, 12 * 3600);
    CHECK_INT(admit(k, "key-a", utc(2024, 3, 1, 0, 0, 0), &v), KEYS_ADMIT_OK);
    CHECK_INT(admit(k, "key-a", utc(2024, 3, 31, 23, 59, 59), &v), KEYS_ADMIT_OK);
    CHECK_INT(admit(k, "key-a", utc(2024, 3, 31, 23, 59, 59), &v), KEYS_ADMIT_OVER_QUOTA);
    CHECK_INT(v.retry_after_s, 1);
    CHECK_INT(admit(k, "key-a", utc(2024, 4, 1, 0, 0, 0), &v), KEYS_ADMIT_OK);
    keys_free(k);
}

TEST(refused_requests_consume_neither_quota_nor_tokens)
{
    keys_t *k = keys_new();
    CHECK_INT(plan(k, "p", 1, 1, 5, KEYS_PERIOD_DAY), ST_OK);
    CHECK_INT(plan(k, "q", 1, 2, 1, KEYS_PERIOD_DAY), ST_OK);
    CHECK_INT(key(k, "a", "key-a", "p"), ST_OK);
    CHECK_INT(key(k, "b", "key-b", "q"), ST_OK);
    uint64_t t = utc(2024, 5, 1, 10, 0, 0);
    CHECK_INT(admit(k, "key-a", t, NULL), KEYS_ADMIT_OK);
    for (int i = 0; i < 10; i++)
        CHECK_INT(admit(k, "key-a", t, NULL), KEYS_ADMIT_THROTTLED);
    keys_usage_t u;
    CHECK_INT(keys_usage(k, "a", t, &u), 0);
    CHECK_INT(u.used, 1);
    CHECK_INT(u.remaining, 4);
    CHECK_INT(u.throttled, 10);
    for (int i = 1; i <= 4; i++)
        CHECK_INT(admit(k, "key-a", t + (uint64_t)i * SEC, NULL), KEYS_ADMIT_OK);
    CHECK_INT(admit(k, "key-a", t + 10 * SEC, NULL), KEYS_ADMIT_OVER_QUOTA);

    /* b: one token left after the first request; refusals over quota must
     * leave it, so at midnight (10 ms later) there is one token to admit */
    uint64_t m = utc(2024, 5, 2, 0, 0, 0);
    CHECK_INT(admit(k, "key-b", m - 10, NULL), KEYS_ADMIT_OK);
    for (int i = 0; i < 3; i++)
        CHECK_INT(admit(k, "key-b", m - 10, NULL), KEYS_ADMIT_OVER_QUOTA);
    CHECK_INT(admit(k, "key-b", m, NULL), KEYS_ADMIT_OK);
    CHECK_INT(admit(k, "key-b", m, NULL), KEYS_ADMIT_OVER_QUOTA);
    keys_free(k);
}

TEST(two_keys_of_one_plan_are_metered_separately)
{
    keys_t *k = keys_new();
    CHECK_INT(plan(k, "shared", 1, 1, 2, KEYS_PERIOD_DAY), ST_OK);
    CHECK_INT(key(k, "a", "key-a", "shared"), ST_OK);
    CHECK_INT(key(k, "b", "key-b", "shared"), ST_OK);
    uint64_t t = utc(2024, 6, 1, 0, 0, 0);
    keys_verdict_t v;
    CHECK_INT(admit(k, "key-a", t, &v), KEYS_ADMIT_OK);
    CHECK_INT(admit(k, "key-a", t, &v), KEYS_ADMIT_THROTTLED);
    CHECK_INT(admit(k, "key-b", t, &v), KEYS_ADMIT_OK); /* b's bucket is its own */
    CHECK_STR(v.key, "b");
    CHECK_INT(admit(k, "key-a", t + SEC, &v), KEYS_ADMIT_OK);
    CHECK_INT(admit(k, "key-a", t + 2 * SEC, &v), KEYS_ADMIT_OVER_QUOTA);
    CHECK_INT(admit(k, "key-b", t + 2 * SEC, &v), KEYS_ADMIT_OK); /* and so is its quota */
    keys_usage_t u;
    CHECK_INT(keys_usage(k, "a", t + 2 * SEC, &u), 0);
    CHECK_INT(u.admitted, 2);
    CHECK_INT(u.throttled, 1);
    CHECK_INT(u.over_quota, 1);
    CHECK_INT(u.used, 2);
    CHECK_INT(keys_usage(k, "b", t + 2 * SEC, &u), 0);
    CHECK_INT(u.admitted, 2);
    CHECK_INT(u.throttled, 0);
    CHECK_INT(u.over_quota, 0);
    CHECK_INT(u.used, 2);
    keys_free(k);
}

TEST(plans_without_throttle_or_without_quota)
{
    keys_t *k = keys_new();
    CHECK_INT(plan(k, "free", 0, 0, 0, KEYS_PERIOD_NONE), ST_OK);
    CHECK_INT(plan(k, "quota-only", 0, 0, 100, KEYS_PERIOD_DAY), ST_OK);
    CHECK_INT(plan(k, "rate-only", 1, 1, 0, KEYS_PERIOD_NONE), ST_OK);
    CHECK_INT(key(k, "f", "key-f", "free"), ST_OK);
    CHECK_INT(key(k, "q", "key-q", "quota-only"), ST_OK);
    CHECK_INT(key(k, "r", "key-r", "rate-only"), ST_OK);
    uint64_t t = utc(2024, 7, 1, 12, 0, 0);
    for (int i = 0; i < 5000; i++)
        CHECK_INT(admit(k, "key-f", t, NULL), KEYS_ADMIT_OK);
    for (int i = 0; i < 100; i++)
        CHECK_INT(admit(k, "key-q", t, NULL), KEYS_ADMIT_OK); /* no bucket in the way */
    CHECK_INT(admit(k, "key-q", t, NULL), KEYS_ADMIT_OVER_QUOTA);
    for (uint64_t s = 0; s < 3 * 86400; s += 600) /* no quota across days */
        CHECK_INT(admit(k, "key-r", t + s * SEC, NULL), KEYS_ADMIT_OK);
    keys_usage_t u;
    CHECK_INT(keys_usage(k, "f", t, &u), 0);
    CHECK_INT(u.admitted, 5000);
    CHECK_INT(u.period, KEYS_PERIOD_NONE);
    CHECK_INT(u.limit, 0);
    CHECK_INT(u.remaining, 0);
    keys_free(k);
}

TEST(names_are_validated)
{
    keys_t *k = keys_new();
    err_t e;
    char long_name[KEYS_NAME_MAX + 2];
    memset(long_name, 'n', sizeof long_name - 1);
    long_name[sizeof long_name - 1] = '\0';
    CHECK_STR(plan_err(k, (keys_plan_def_t){.name = ""}, &e), "usage plan name is missing");
    CHECK_STR(plan_err(k, (keys_plan_def_t){.name = NULL}, &e), "usage plan name is missing");
    CHECK_STR(plan_err(k, (keys_plan_def_t){.name = "has space"}, &e),
              "usage plan name \"has space\" must be 1..128 characters of [A-Za-z0-9_.-]");
    CHECK_STR(plan_err(k, (keys_plan_def_t){.name = "caf\xc3\xa9"}, &e),
              "usage plan name \"caf\xc3\xa9\" must be 1..128 characters of [A-Za-z0-9_.-]");
    char want[512];
    snprintf(want, sizeof want, "usage plan name \"%.128s...\" must be 1..128 characters of [A-Za-z0-9_.-]",
             long_name); /* shown cut at 128 */
    CHECK_STR(plan_err(k, (keys_plan_def_t){.name = long_name}, &e), want);
    long_name[KEYS_NAME_MAX] = '\0'; /* exactly 128 is fine */
    CHECK_INT(plan(k, long_name, 0, 0, 0, KEYS_PERIOD_NONE), ST_OK);
    CHECK_INT(plan(k, "Gold_plan.v2-x", 0, 0, 0, KEYS_PERIOD_NONE), ST_OK);
    CHECK_STR(plan_err(k, (keys_plan_def_t){.name = "Gold_plan.v2-x"}, &e),
              "usage plan \"Gold_plan.v2-x\" is defined twice");

    char hash[72];
    keys_hash_text("k", hash);
    CHECK_STR(key_err(k, (keys_key_def_t){.name = "a/b", .hash = hash, .plan = "Gold_plan.v2-x"}, &e),
              "API key name \"a/b\" must be 1..128 characters of [A-Za-z0-9_.-]");
    CHECK_STR(key_err(k, (keys_key_def_t){.hash = hash, .plan = "Gold_plan.v2-x"}, &e), "API key name is missing");
    CHECK_INT(key(k, "k1", "k", "Gold_plan.v2-x"), ST_OK);
    CHECK_STR(key_err(k, (keys_key_def_t){.name = "k1", .hash = hash, .plan = "Gold_plan.v2-x"}, &e),
              "API key \"k1\" is defined twice");
    /* plans and keys have separate name spaces */
    CHECK_INT(key(k, "Gold_plan.v2-x", "other", "Gold_plan.v2-x"), ST_OK);
    CHECK_INT(keys_count(k), 2);
    keys_free(k);
}

TEST(hashes_and_plans_of_keys_are_validated)
{
    keys_t *k = keys_new();
    err_t e;
    CHECK_INT(plan(k, "p", 0, 0, 0, KEYS_PERIOD_NONE), ST_OK);
    const char *want = "API key \"k\": hash must be \"sha256:\" followed by 64 lowercase hex digits "
                       "(see `sluice hash-key`)";
    static const char *const bad[] = {
        NULL,
        "",
        "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824",         /* no prefix */
        "sha256:2CF24DBA5FB0A30E26E83B2AC5B9E29E1B161E5C1FA7425E73043362938B9824",  /* upper case */
        "SHA256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824",
        "sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b982",   /* 63 digits */
        "sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b98240", /* 65 */
        "sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b982g",  /* not hex */
        "sha256: cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824",
        "sha1:aaf4c61ddcc5e8a2dabede0f3b482cd9aea9434d",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        CHECK_STR(key_err(k, (keys_key_def_t){.name = "k", .hash = bad[i], .plan = "p"}, &e), want);

    char hash[72];
    keys_hash_text("hello", hash);
    CHECK_STR(key_err(k, (keys_key_def_t){.name = "k", .hash = hash, .plan = "gold"}, &e),
              "API key \"k\": usage plan \"gold\" does not exist");
    CHECK_STR(key_err(k, (keys_key_def_t){.name = "k", .hash = hash}, &e), "API key \"k\": usage plan is missing");
    CHECK_INT(keys_count(k), 0);
    CHECK_INT(key(k, "first", "hello", "p"), ST_OK);
    CHECK_STR(key_err(k, (keys_key_def_t){.name = "second", .hash = hash, .plan = "p"}, &e),
              "API key \"second\" has the same hash as API key \"first\"");
    CHECK_INT(keys_count(k), 1);
    keys_free(k);
}

TEST(plan_numbers_are_validated)
{
    keys_t *k = keys_new();
    err_t e;
    const char *rate_msg = "usage plan \"p\": rate must be 0.001..1000000 requests per second, got %s "
                           "(rate 0 with burst 0 means no throttle)";
    static const struct {
        double rate;
        const char *shown;
    } rates[] = {{0, "0"}, {-1, "-1"}, {0.0005, "0.0005"}, {1e7, "1e+07"}, {NAN, "nan"}, {INFINITY, "inf"}};
    for (size_t i = 0; i < sizeof rates / sizeof rates[0]; i++) {
        char want[256];
        snprintf(want, sizeof want, rate_msg, rates[i].shown);
        CHECK_STR(plan_err(k, (keys_plan_def_t){.name = "p", .rate = rates[i].rate, .burst = 5}, &e), want);
    }
    CHECK_STR(plan_err(k, (keys_plan_def_t){.name = "p", .rate = 5}, &e),
              "usage plan \"p\": burst must be 1..1000000, got 0");
    CHECK_STR(plan_err(k, (keys_plan_def_t){.name = "p", .rate = 5, .burst = KEYS_BURST_MAX + 1}, &e),
              "usage plan \"p\": burst must be 1..1000000, got 1000001");
    CHECK_STR(plan_err(k, (keys_plan_def_t){.name = "p", .period = KEYS_PERIOD_DAY}, &e),
              "usage plan \"p\": quota limit must be 1..1000000000000, got 0");
    CHECK_STR(plan_err(k, (keys_plan_def_t){.name = "p", .limit = KEYS_LIMIT_MAX + 1, .period = KEYS_PERIOD_WEEK},
                       &e),
              "usage plan \"p\": quota limit must be 1..1000000000000, got 1000000000001");
    CHECK_STR(plan_err(k, (keys_plan_def_t){.name = "p", .limit = 10}, &e),
              "usage plan \"p\": quota period must be DAY, WEEK or MONTH");
    CHECK_STR(plan_err(k, (keys_plan_def_t){.name = "p", .limit = 10, .period = (keys_period_t)9}, &e),
              "usage plan \"p\": quota period must be DAY, WEEK or MONTH");
    /* the bounds themselves are accepted */
    CHECK_INT(plan(k, "lo", KEYS_RATE_MIN, 1, 1, KEYS_PERIOD_MONTH), ST_OK);
    CHECK_INT(plan(k, "hi", KEYS_RATE_MAX, KEYS_BURST_MAX, KEYS_LIMIT_MAX, KEYS_PERIOD_DAY), ST_OK);
    /* a failed plan was not added */
    CHECK_INT(key(k, "k", "x", "p"), ST_VALIDATION_ERROR);

    keys_period_t p;
    CHECK_INT(keys_period_parse("WEEK", &p), 0);
    CHECK_INT(p, KEYS_PERIOD_WEEK);
    CHECK_INT(keys_period_parse("week", &p), -1);
    CHECK_INT(keys_period_parse("NONE", &p), -1);
    CHECK_STR(keys_period_name(KEYS_PERIOD_MONTH), "MONTH");
    CHECK_STR(keys_admit_name(KEYS_ADMIT_OVER_QUOTA), "OVER_QUOTA");
    keys_free(k);
}

/* A "sha256:" text of the digest of secret with hex digit i changed. */
static void near_hash(const char *secret, size_t i, char out[72])
{
    keys_hash_text(secret, out);
    out[7 + i] = out[7 + i] == '0' ? '1' : '0';
}

TEST(digests_sharing_a_prefix_are_told_apart)
{
    keys_t *k = keys_new();
    err_t e;
    CHECK_INT(plan(k, "p", 0, 0, 0, KEYS_PERIOD_NONE), ST_OK);
    char h[72];
    /* same index bytes (first 8 of the digest), last digit differs */
    near_hash("alpha", 63, h);
    CHECK_INT(keys_add_key(k, &(keys_key_def_t){.name = "decoy-last", .hash = h, .plan = "p"}, &e), ST_OK);
    keys_verdict_t v;
    CHECK_INT(admit(k, "alpha", 0, &v), KEYS_ADMIT_UNKNOWN); /* slot found, full compare fails */
    CHECK(v.key == NULL);
    CHECK_INT(key(k, "real", "alpha", "p"), ST_OK);
    near_hash("alpha", 16, h); /* first digit after the indexed bytes */
    CHECK_INT(keys_add_key(k, &(keys_key_def_t){.name = "decoy-mid", .hash = h, .plan = "p"}, &e), ST_OK);
    near_hash("alpha", 0, h); /* in the indexed bytes: another slot */
    CHECK_INT(keys_add_key(k, &(keys_key_def_t){.name = "decoy-first", .hash = h, .plan = "p"}, &e), ST_OK);
    CHECK_INT(admit(k, "alpha", 0, &v), KEYS_ADMIT_OK); /* walks past decoy-mid */
    CHECK_STR(v.key, "real");
    CHECK_INT(keys_set_enabled(k, "real", 0, &e), ST_OK);
    CHECK_INT(admit(k, "alpha", 0, &v), KEYS_ADMIT_UNKNOWN); /* a decoy is not a fallback */
    CHECK_STR(v.key, "real");
    keys_usage_t u;
    CHECK_INT(keys_usage(k, "decoy-mid", 0, &u), 0);
    CHECK_INT(u.admitted, 0);
    keys_free(k);
}

TEST(json_report_is_exact_in_name_order)
{
    keys_t *k = keys_new();
    err_t e;
    buf_t out = BUF_INIT;
    keys_write_json(k, 0, &out);
    CHECK_STR(out.data, "{\"keys\":[]}");
    buf_reset(&out);

    CHECK_INT(plan(k, "gold", 1, 1, 10, KEYS_PERIOD_DAY), ST_OK);
    CHECK_INT(plan(k, "free", 0, 0, 0, KEYS_PERIOD_NONE), ST_OK);
    char h[72];
    keys_hash_text("key-c", h);
    CHECK_INT(keys_add_key(k, &(keys_key_def_t){.name = "c-key", .hash = h, .plan = "gold", .disabled = 1}, &e),
              ST_OK);
    CHECK_INT(key(k, "a-key", "key-a", "free"), ST_OK);
    CHECK_INT(key(k, "b-key", "key-b", "gold"), ST_OK);
    uint64_t t = utc(2024, 2, 29, 10, 0, 0);
    CHECK_INT(admit(k, "key-a", t, NULL), KEYS_ADMIT_OK);
    CHECK_INT(admit(k, "key-a", t, NULL), KEYS_ADMIT_OK);
    CHECK_INT(admit(k, "key-b", t, NULL), KEYS_ADMIT_OK);
    CHECK_INT(admit(k, "key-b", t, NULL), KEYS_ADMIT_THROTTLED);
    CHECK_INT(admit(k, "key-c", t, NULL), KEYS_ADMIT_UNKNOWN);
    keys_write_json(k, t, &out);
    CHECK_STR(out.data,
              "{\"keys\":["
              "{\"name\":\"a-key\",\"plan\":\"free\",\"enabled\":true,\"admitted\":2,\"throttled\":0,"
              "\"overQuota\":0,\"throttle\":null,\"quota\":null},"
              "{\"name\":\"b-key\",\"plan\":\"gold\",\"enabled\":true,\"admitted\":1,\"throttled\":1,"
              "\"overQuota\":0,\"throttle\":{\"rate\":1,\"burst\":1,\"tokens\":0},"
              "\"quota\":{\"limit\":10,\"period\":\"DAY\",\"used\":1,\"remaining\":9,"
              "\"resetsAt\":\"2024-03-01T00:00:00.000Z\"}},"
              "{\"name\":\"c-key\",\"plan\":\"gold\",\"enabled\":false,\"admitted\":0,\"throttled\":0,"
              "\"overQuota\":0,\"throttle\":{\"rate\":1,\"burst\":1,\"tokens\":1},"
              "\"quota\":{\"limit\":10,\"period\":\"DAY\",\"used\":0,\"remaining\":10,"
              "\"resetsAt\":\"2024-03-01T00:00:00.000Z\"}}"
              "]}");
    /* the bucket refills in the report as it would on admission, without changing it */
    buf_reset(&out);
    keys_write_json(k, t + 1500, &out);
    CHECK(strstr(out.data, "\"b-key\"") && strstr(strstr(out.data, "\"b-key\""), "\"tokens\":1}") != NULL);
    CHECK_INT(admit(k, "key-b", t + 999, NULL), KEYS_ADMIT_THROTTLED);
    CHECK(strstr(out.data, "sha256") == NULL && strstr(out.data, h + 7) == NULL);
    /* the next day the count shows as reset */
    buf_reset(&out);
    keys_write_json(k, utc(2024, 3, 1, 0, 0, 1), &out);
    CHECK(strstr(out.data, "\"used\":1") == NULL);
    CHECK(strstr(out.data, "\"resetsAt\":\"2024-03-02T00:00:00.000Z\"") != NULL);
    buf_free(&out);
    keys_free(k);
}

TEST(time_going_backwards_mints_nothing)
{
    keys_t *k = keys_new();
    CHECK_INT(plan(k, "p", 1, 2, 0, KEYS_PERIOD_NONE), ST_OK);
    CHECK_INT(plan(k, "q", 0, 0, 1, KEYS_PERIOD_DAY), ST_OK);
    CHECK_INT(key(k, "a", "key-a", "p"), ST_OK);
    CHECK_INT(key(k, "b", "key-b", "q"), ST_OK);
    keys_verdict_t v;
    uint64_t t = 100 * SEC;
    CHECK_INT(admit(k, "key-a", t, &v), KEYS_ADMIT_OK);
    CHECK_INT(admit(k, "key-a", t, &v), KEYS_ADMIT_OK);
    CHECK_INT(admit(k, "key-a", t, &v), KEYS_ADMIT_THROTTLED);
    /* the clock steps back 50 s: no tokens for the jump… */
    CHECK_INT(admit(k, "key-a", t - 50 * SEC, &v), KEYS_ADMIT_THROTTLED);
    CHECK_INT(v.retry_after_s, 1);
    CHECK_INT(admit(k, "key-a", t - 50 * SEC + 500, &v), KEYS_ADMIT_THROTTLED);
    /* …and refill goes on from the new time instead of waiting 50 s */
    CHECK_INT(admit(k, "key-a", t - 49 * SEC, &v), KEYS_ADMIT_OK);
    CHECK_INT(admit(k, "key-a", t - 49 * SEC, &v), KEYS_ADMIT_THROTTLED);
    /* all the way back to the epoch and forward again */
    CHECK_INT(admit(k, "key-a", 0, &v), KEYS_ADMIT_THROTTLED);
    CHECK_INT(admit(k, "key-a", 2 * SEC, &v), KEYS_ADMIT_OK);
    CHECK_INT(admit(k, "key-a", 2 * SEC, &v), KEYS_ADMIT_OK);
    CHECK_INT(admit(k, "key-a", 2 * SEC, &v), KEYS_ADMIT_THROTTLED);

    /* quota: used just after midnight, then the clock steps back before it */
    uint64_t m = utc(2024, 8, 2, 0, 0, 0);
    CHECK_INT(admit(k, "key-b", m + SEC, &v), KEYS_ADMIT_OK);
    CHECK_INT(admit(k, "key-b", m - SEC, &v), KEYS_ADMIT_OVER_QUOTA); /* yesterday is not reopened */
    CHECK_INT(v.retry_after_s, 86400 + 1);
    keys_usage_t u;
    CHECK_INT(keys_usage(k, "b", m - SEC, &u), 0);
    CHECK_INT(u.used, 1);
    CHECK_INT(u.period_start_ms, m);
    CHECK_INT(admit(k, "key-b", m + 86400 * SEC, &v), KEYS_ADMIT_OK);
    keys_free(k);
}
