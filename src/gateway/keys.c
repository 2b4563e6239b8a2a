/* keys — API keys, usage plans, token buckets and quotas; see keys.h. */
#include "gateway/keys.h"

#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>

#include "util/alloc.h"
#include "util/clock.h"
#include "util/digest.h"
#include "util/hmap.h"
#include "util/jv.h"
#include "util/text.h"

/* Fixed point: a token is 10^9 units, so a rate of r requests/s is r * 10^6
 * units per millisecond, an integer for every rate resolved to 10^-6/s. */
#define UNITS_PER_TOKEN 1000000000ull
#define DAY_MS 86400000ull
/* Bytes of the digest the hmap indexes; the rest is compared with the rest. */
#define INDEX_BYTES 8

typedef struct plan {
    char *name;
    uint64_t rate_u; /* units per ms; 0: no throttle */
    uint64_t cap_u;  /* burst in units */
    uint64_t limit;  /* 0: no quota */
    keys_period_t period;
} plan_t;

typedef struct apikey {
    char *name;
    unsigned char digest[32];
    plan_t *plan;
    int enabled;
    struct apikey *next; /* next key whose digest has the same index bytes */
    /* bucket: tokens as of refilled_ms (meaningful once started) */
    uint64_t tokens_u, refilled_ms;
    int started;
    /* quota: the count of [period_start, period_end); period_end 0 = none yet */
    uint64_t period_start, period_end, used;
    uint64_t admitted, throttled, over_quota;
} apikey_t;

struct keys {
    hmap_t plans;     /* name → plan_t */
    hmap_t by_name;   /* name → apikey_t */
    hmap_t by_digest; /* first INDEX_BYTES of the digest → chain of apikey_t */
};

keys_t *keys_new(void)
{
    keys_t *k = xcalloc(1, sizeof *k);
    hmap_init(&k->plans);
    hmap_init(&k->by_name);
    hmap_init(&k->by_digest);
    return k;
}

void keys_free(keys_t *k)
{
    if (!k)
        return;
    void *v;
    for (size_t i = 0; hmap_next(&k->by_name, &i, &v);) {
        free(((apikey_t *)v)->name);
        free(v);
    }
    for (size_t i = 0; hmap_next(&k->plans, &i, &v);) {
        free(((plan_t *)v)->name);
        free(v);
    }
    hmap_free(&k->plans);
    hmap_free(&k->by_name);
    hmap_free(&k->by_digest);
    free(k);
}

size_t keys_count(const keys_t *k)
{
    return k->by_name.n;
}

/* ---- definitions ----------------------------------------------------------- */

static int name_ok(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (n < 1 || n > KEYS_NAME_MAX)
        return 0;
    return text_name_chars(s, n, "-_.");
}

static status_t bad_name(err_t *err, const char *what, const char *name)
{
    if (!name || !*name)
        return err_set(err, ST_VALIDATION_ERROR, "%s name is missing", what);
    return err_set(err, ST_VALIDATION_ERROR, "%s name \"%.*s%s\" must be 1..%d characters of [A-Za-z0-9_.-]",
                   what, KEYS_NAME_MAX, name, strlen(name) > KEYS_NAME_MAX ? "..." : "", KEYS_NAME_MAX);
}

static status_t check_throttle(const keys_plan_def_t *d, err_t *err)
{
    if (d->rate == 0 && d->burst == 0)
        return ST_OK; /* no throttle */
    /* written so that NaN fails too */
    if (!(d->rate >= KEYS_RATE_MIN && d->rate <= KEYS_RATE_MAX))
        return err_set(err, ST_VALIDATION_ERROR,
                       "usage plan \"%s\": rate must be %g..%.0f requests per second, got %g "
                       "(rate 0 with burst 0 means no throttle)",
                       d->name, KEYS_RATE_MIN, KEYS_RATE_MAX, d->rate);
    if (d->burst < 1 || d->burst > KEYS_BURST_MAX)
        return err_set(err, ST_VALIDATION_ERROR, "usage plan \"%s\": burst must be 1..%u, got %" PRIu32,
                       d->name, KEYS_BURST_MAX, d->burst);
    return ST_OK;
}

static status_t check_quota(const keys_plan_def_t *d, err_t *err)
{
    if (d->limit == 0 && d->period == KEYS_PERIOD_NONE)
        return ST_OK; /* no quota */
    if (d->period != KEYS_PERIOD_DAY && d->period != KEYS_PERIOD_WEEK && d->period != KEYS_PERIOD_MONTH)
        return err_set(err, ST_VALIDATION_ERROR, "usage plan \"%s\": quota period must be DAY, WEEK or MONTH",
                       d->name);
    if (d->limit < 1 || d->limit > KEYS_LIMIT_MAX)
        return err_set(err, ST_VALIDATION_ERROR, "usage plan \"%s\": quota limit must be 1..%llu, got %" PRIu64,
                       d->name, KEYS_LIMIT_MAX, d->limit);
    return ST_OK;
}

status_t keys_add_plan(keys_t *k, const keys_plan_def_t *d, err_t *err)
{
    if (!name_ok(d->name))
        return bad_name(err, "usage plan", d->name);
    if (hmap_get(&k->plans, d->name, strlen(d->name)))
        return err_set(err, ST_VALIDATION_ERROR, "usage plan \"%s\" is defined twice", d->name);
    status_t st = check_throttle(d, err);
    if (st == ST_OK)
        st = check_quota(d, err);
    if (st != ST_OK)
        return st;
    plan_t *p = xcalloc(1, sizeof *p);
    p->name = xstrdup(d->name);
    p->rate_u = (uint64_t)llround(d->rate * 1e6);
    p->cap_u = (uint64_t)d->burst * UNITS_PER_TOKEN;
    p->limit = d->limit;
    p->period = d->period;
    hmap_put(&k->plans, p->name, strlen(p->name), p);
    return ST_OK;
}

static int hex_digit(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1; /* upper case too: the format is exact */
}

/* "sha256:<64 lowercase hex>" → 32 bytes; 0 ok, -1 malformed. */
static int parse_hash(const char *s, unsigned char out[32])
{
    if (!s || strlen(s) != KEYS_HASH_TEXT_LEN || strncmp(s, "sha256:", 7) != 0)
        return -1;
    for (size_t i = 0; i < 32; i++) {
        int hi = hex_digit(s[7 + 2 * i]), lo = hex_digit(s[8 + 2 * i]);
        if (hi < 0 || lo < 0)
            return -1;
        out[i] = (unsigned char)(hi << 4 | lo);
    }
    return 0;
}

static apikey_t *find_digest(const keys_t *k, const unsigned char d[32])
{
    apikey_t *c = hmap_get(&k->by_digest, d, INDEX_BYTES);
    for (; c; c = c->next) {
        if (CRYPTO_memcmp(c->digest, d, 32) == 0)
            return c;
    }
    return NULL;
}

status_t keys_add_key(keys_t *k, const keys_key_def_t *d, err_t *err)
{
    unsigned char digest[32];
    if (!name_ok(d->name))
        return bad_name(err, "API key", d->name);
    if (hmap_get(&k->by_name, d->name, strlen(d->name)))
        return err_set(err, ST_VALIDATION_ERROR, "API key \"%s\" is defined twice", d->name);
    if (parse_hash(d->hash, digest) < 0)
        return err_set(err, ST_VALIDATION_ERROR,
                       "API key \"%s\": hash must be \"sha256:\" followed by 64 lowercase hex digits "
                       "(see `sluice hash-key`)",
                       d->name);
    const apikey_t *same = find_digest(k, digest);
    if (same)
        return err_set(err, ST_VALIDATION_ERROR, "API key \"%s\" has the same hash as API key \"%s\"", d->name,
                       same->name);
    plan_t *p = d->plan ? hmap_get(&k->plans, d->plan, strlen(d->plan)) : NULL;
    if (!p)
        return d->plan ? err_set(err, ST_VALIDATION_ERROR, "API key \"%s\": usage plan \"%.*s\" does not exist",
                                 d->name, KEYS_NAME_MAX, d->plan)
                       : err_set(err, ST_VALIDATION_ERROR, "API key \"%s\": usage plan is missing", d->name);
    apikey_t *a = xcalloc(1, sizeof *a);
    a->name = xstrdup(d->name);
    memcpy(a->digest, digest, sizeof digest);
    a->plan = p;
    a->enabled = !d->disabled;
    a->tokens_u = p->cap_u; /* buckets start full */
    hmap_put(&k->by_name, a->name, strlen(a->name), a);
    /* the new key heads its chain; the map's key points into its own digest */
    a->next = hmap_get(&k->by_digest, a->digest, INDEX_BYTES);
    hmap_put(&k->by_digest, a->digest, INDEX_BYTES, a);
    return ST_OK;
}

status_t keys_set_enabled(keys_t *k, const char *name, int enabled, err_t *err)
{
    apikey_t *a = name ? hmap_get(&k->by_name, name, strlen(name)) : NULL;
    if (!a)
        return err_set(err, ST_NOT_FOUND, "API key \"%.*s\" does not exist", KEYS_NAME_MAX, name ? name : "");
    a->enabled = enabled != 0;
    return ST_OK;
}

/* ---- time ------------------------------------------------------------------ */

static unsigned days_in_month(int year, int mon0)
{
    static const unsigned char days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    return days[mon0] + (mon0 == 1 && leap);
}

/* The UTC calendar period holding now: [*start, *end) in ms. A week that
 * began before the epoch is clamped to start at it. gmtime_r cannot fail
 * here: any uint64 ms is a year well inside int. */
static void period_bounds(keys_period_t p, uint64_t now, uint64_t *start, uint64_t *end)
{
    uint64_t day = now / DAY_MS, first = day, next = day + 1;
    time_t secs = (time_t)(now / 1000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    if (p == KEYS_PERIOD_WEEK) {
        uint64_t since_monday = (uint64_t)(tm.tm_wday + 6) % 7;
        next = day - since_monday + 7;
        first = day >= since_monday ? day - since_monday : 0;
    } else if (p == KEYS_PERIOD_MONTH) {
        first = day - (uint64_t)(tm.tm_mday - 1);
        next = first + days_in_month(tm.tm_year + 1900, tm.tm_mon);
    }
    *start = first * DAY_MS;
    *end = next * DAY_MS;
}

static uint64_t ceil_div(uint64_t a, uint64_t b)
{
    return a / b + (a % b != 0);
}

static uint64_t retry_seconds(uint64_t ms)
{
    uint64_t s = ceil_div(ms, 1000);
    return s ? s : 1;
}

/* ---- admission ------------------------------------------------------------- */

/* Brings the bucket to now. A clock that went back refills nothing and the
 * refill restarts from the new time, so the jump neither mints tokens nor
 * starves the key until the old time comes round again. */
static uint64_t bucket_at(const apikey_t *a, uint64_t now)
{
    const plan_t *p = a->plan;
    if (!a->started || now <= a->refilled_ms)
        return a->tokens_u;
    uint64_t elapsed = now - a->refilled_ms, room = p->cap_u - a->tokens_u;
    /* elapsed <= room / rate keeps elapsed * rate <= room: no overflow */
    return elapsed > room / p->rate_u ? p->cap_u : a->tokens_u + elapsed * p->rate_u;
}

static void bucket_refill(apikey_t *a, uint64_t now)
{
    a->tokens_u = bucket_at(a, now);
    a->started = 1;
    a->refilled_ms = now;
}

/* Starts a new period when now has reached the end of the counted one. Only
 * forwards: with the clock behind the period, the count stays. */
static void quota_roll(apikey_t *a, uint64_t now)
{
    if (a->period_end && now < a->period_end)
        return;
    period_bounds(a->plan->period, now, &a->period_start, &a->period_end);
    a->used = 0;
}

static keys_admit_t refuse(apikey_t *a, keys_admit_t why, uint64_t wait_ms, keys_verdict_t *v)
{
    if (why == KEYS_ADMIT_THROTTLED)
        a->throttled++;
    else
        a->over_quota++;
    v->retry_after_s = retry_seconds(wait_ms);
    return why;
}

keys_admit_t keys_admit(keys_t *k, const char *key, size_t len, uint64_t now_ms, keys_verdict_t *v)
{
    keys_verdict_t scratch;
    if (!v)
        v = &scratch;
    memset(v, 0, sizeof *v);
    if (!key || !len)
        return KEYS_ADMIT_MISSING;
    unsigned char digest[32];
    digest_sha256(key, len, digest);
    apikey_t *a = find_digest(k, digest);
    if (!a)
        return KEYS_ADMIT_UNKNOWN;
    const plan_t *p = a->plan;
    v->key = a->name;
    v->plan = p->name;
    if (!a->enabled)
        return KEYS_ADMIT_UNKNOWN;
    /* quota first: a request refused for either reason consumes neither */
    if (p->limit) {
        quota_roll(a, now_ms);
        if (a->used >= p->limit)
            return refuse(a, KEYS_ADMIT_OVER_QUOTA, a->period_end - now_ms, v);
    }
    if (p->rate_u) {
        bucket_refill(a, now_ms);
        if (a->tokens_u < UNITS_PER_TOKEN)
            return refuse(a, KEYS_ADMIT_THROTTLED, ceil_div(UNITS_PER_TOKEN - a->tokens_u, p->rate_u), v);
        a->tokens_u -= UNITS_PER_TOKEN;
    }
    if (p->limit)
        a->used++;
    a->admitted++;
    return KEYS_ADMIT_OK;
}

/* ---- reporting ------------------------------------------------------------- */

static void usage_of(const apikey_t *a, uint64_t now, keys_usage_t *u)
{
    const plan_t *p = a->plan;
    memset(u, 0, sizeof *u);
    u->name = a->name;
    u->plan = p->name;
    u->enabled = a->enabled;
    u->admitted = a->admitted;
    u->throttled = a->throttled;
    u->over_quota = a->over_quota;
    if (p->rate_u) {
        u->rate = (double)p->rate_u / 1e6; /* units per ms back to requests per second */
        u->burst = (uint32_t)(p->cap_u / UNITS_PER_TOKEN);
        u->tokens = bucket_at(a, now) / UNITS_PER_TOKEN;
    }
    if (!p->limit)
        return;
    u->period = p->period;
    u->limit = p->limit;
    if (a->period_end && now < a->period_end) { /* what quota_roll would keep */
        u->used = a->used;
        u->period_start_ms = a->period_start;
        u->resets_at_ms = a->period_end;
    } else {
        period_bounds(p->period, now, &u->period_start_ms, &u->resets_at_ms);
    }
    u->remaining = u->limit - u->used;
}

int keys_usage(const keys_t *k, const char *name, uint64_t now_ms, keys_usage_t *u)
{
    const apikey_t *a = name ? hmap_get(&k->by_name, name, strlen(name)) : NULL;
    if (!a)
        return -1;
    usage_of(a, now_ms, u);
    return 0;
}

static int by_name(const void *x, const void *y)
{
    return strcmp((*(apikey_t *const *)x)->name, (*(apikey_t *const *)y)->name);
}

static void write_usage(const keys_usage_t *u, buf_t *out)
{
    buf_puts(out, "{\"name\":");
    jv_write_string(out, u->name, strlen(u->name));
    buf_puts(out, ",\"plan\":");
    jv_write_string(out, u->plan, strlen(u->plan));
    buf_printf(out, ",\"enabled\":%s,\"admitted\":%" PRIu64 ",\"throttled\":%" PRIu64 ",\"overQuota\":%" PRIu64,
               u->enabled ? "true" : "false", u->admitted, u->throttled, u->over_quota);
    if (u->burst)
        buf_printf(out, ",\"throttle\":{\"rate\":%.12g,\"burst\":%" PRIu32 ",\"tokens\":%" PRIu64 "}", u->rate,
                   u->burst, u->tokens);
    else
        buf_puts(out, ",\"throttle\":null");
    if (u->period == KEYS_PERIOD_NONE) {
        buf_puts(out, ",\"quota\":null}");
        return;
    }
    char at[32];
    clock_iso8601(u->resets_at_ms, at);
    buf_printf(out,
               ",\"quota\":{\"limit\":%" PRIu64 ",\"period\":\"%s\",\"used\":%" PRIu64 ",\"remaining\":%" PRIu64
               ",\"resetsAt\":\"%s\"}}",
               u->limit, keys_period_name(u->period), u->used, u->remaining, at);
}

void keys_write_json(const keys_t *k, uint64_t now_ms, buf_t *out)
{
    size_t n = 0;
    apikey_t **v = xmalloc((k->by_name.n ? k->by_name.n : 1) * sizeof *v);
    void *a;
    for (size_t i = 0; hmap_next(&k->by_name, &i, &a);)
        v[n++] = a;
    qsort(v, n, sizeof *v, by_name);
    buf_puts(out, "{\"keys\":[");
    for (size_t i = 0; i < n; i++) {
        keys_usage_t u;
        usage_of(v[i], now_ms, &u);
        if (i)
            buf_putc(out, ',');
        write_usage(&u, out);
    }
    buf_puts(out, "]}");
    free(v);
}

/* ---- names ----------------------------------------------------------------- */

void keys_hash_text(const char *key, char out[72])
{
    unsigned char d[32];
    digest_sha256(key, strlen(key), d);
    memcpy(out, "sha256:", 7);
    text_hex(d, sizeof d, out + 7);
}

static const char *const period_names[] = {"NONE", "DAY", "WEEK", "MONTH"};

const char *keys_period_name(keys_period_t p)
{
    return (unsigned)p <= KEYS_PERIOD_MONTH ? period_names[p] : "?";
}

int keys_period_parse(const char *s, keys_period_t *out)
{
    for (int p = KEYS_PERIOD_DAY; p <= KEYS_PERIOD_MONTH; p++) {
        if (s && strcmp(s, period_names[p]) == 0) {
            *out = (keys_period_t)p;
            return 0;
        }
    }
    return -1;
}

const char *keys_admit_name(keys_admit_t a)
{
    static const char *const names[] = {"OK", "MISSING", "UNKNOWN", "THROTTLED", "OVER_QUOTA"};
    return (unsigned)a <= KEYS_ADMIT_OVER_QUOTA ? names[a] : "?";
}
