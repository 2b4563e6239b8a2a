/*
 * keys — API keys and usage plans for the gateway, as in Amazon API Gateway.
 *
 * Model. A usage plan names a throttle and a quota; an API key belongs to one
 * plan, and each key is throttled and metered on its own (two keys of one
 * plan never share a bucket or a quota count), as API Gateway does.
 *
 *  - Throttle: a token bucket of `burst` tokens, refilled at `rate` tokens per
 *    second, starting full; an admitted request takes one token. Tokens are
 *    kept in fixed point (1 token = 10^9 units, the rate as units per
 *    millisecond, so rates resolve to 10^-6 request/s) so that refill and
 *    Retry-After are exact integer arithmetic, not floating-point guesses.
 *  - Quota: at most `limit` admitted requests per UTC calendar period — a day
 *    from 00:00 UTC, a week from Monday 00:00 UTC, a month from the 1st
 *    00:00 UTC. A period's count resets when the clock reaches its end.
 *  - Only admitted requests consume tokens and quota: a request refused for
 *    quota or throttling consumes neither.
 *  - Time is the wall clock (epoch ms) passed in by the caller. When it goes
 *    backwards, a bucket refills nothing for the jump and restarts its refill
 *    from the new time; a quota period never moves back (the count that
 *    reset at midnight is not reset again by a clock stepping back over it).
 *    So a clock step can delay tokens or a reset, never mint them.
 *
 * Hashing. Sluice never holds an API key itself: config holds its SHA-256 as
 * "sha256:<64 lowercase hex>" (keys_hash_text makes it). A presented key is
 * hashed and looked up in an hmap indexed by the first 8 bytes of the digest;
 * every candidate in that slot is compared over all 32 bytes with
 * CRYPTO_memcmp. Timing can at most reveal a prefix of a stored digest, which
 * gives no way back to a key.
 *
 * Known limit: buckets, quota counts and counters live in memory only. A
 * restart refills every bucket and resets every quota count and counter, so
 * a key can exceed its quota for the period by restarting the daemon (each
 * restart grants the full limit again).
 *
 * Threads: one keys_t belongs to the loop thread; no globals.
 *
 * What the gateway answers (the mapping lives in the gateway, not here):
 * MISSING and UNKNOWN → 403 Forbidden (a disabled key looks exactly like an
 * unknown one to the client); THROTTLED and OVER_QUOTA → 429 Too Many
 * Requests with Retry-After: verdict.retry_after_s.
 */
#ifndef SLUICE_KEYS_H
#define SLUICE_KEYS_H

#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"
#include "util/status.h"

#define KEYS_NAME_MAX 128         /* plan and key names: 1..128 of [A-Za-z0-9_.-] */
#define KEYS_RATE_MIN 0.001       /* requests per second */
#define KEYS_RATE_MAX 1000000.0
#define KEYS_BURST_MAX 1000000u
#define KEYS_LIMIT_MAX 1000000000000ull /* requests per period */
#define KEYS_HASH_TEXT_LEN 71     /* "sha256:" + 64 hex digits, without the NUL */

typedef struct keys keys_t;

typedef enum {
    KEYS_PERIOD_NONE, /* no quota */
    KEYS_PERIOD_DAY,
    KEYS_PERIOD_WEEK,
    KEYS_PERIOD_MONTH
} keys_period_t;

typedef struct keys_plan_def {
    const char *name;
    /* Throttle: rate in [KEYS_RATE_MIN, KEYS_RATE_MAX] requests per second and
     * burst in 1..KEYS_BURST_MAX; rate 0 with burst 0 means no throttle. */
    double rate;
    uint32_t burst;
    /* Quota: limit in 1..KEYS_LIMIT_MAX per period; limit 0 with
     * KEYS_PERIOD_NONE means no quota. */
    uint64_t limit;
    keys_period_t period;
} keys_plan_def_t;

typedef struct keys_key_def {
    const char *name;
    const char *hash;  /* "sha256:<64 lowercase hex>" */
    const char *plan;  /* name of a plan added before */
    int disabled;      /* 0, the default of a zeroed def: enabled */
} keys_key_def_t;

typedef enum {
    KEYS_ADMIT_OK,
    KEYS_ADMIT_MISSING,    /* no key presented */
    KEYS_ADMIT_UNKNOWN,    /* no key with that hash, or the key is disabled */
    KEYS_ADMIT_THROTTLED,  /* the key's bucket is empty */
    KEYS_ADMIT_OVER_QUOTA  /* the key used its quota for the period */
} keys_admit_t;

typedef struct keys_verdict {
    /* The matched key and its plan (also for a disabled key, for logs; the
     * client must not learn it); NULL when no key matched. Owned by keys,
     * valid until keys_free. */
    const char *key;
    const char *plan;
    /* THROTTLED: whole seconds until one token is back, rounded up, >= 1.
     * OVER_QUOTA: whole seconds until the period ends, rounded up, >= 1.
     * 0 otherwise. */
    uint64_t retry_after_s;
} keys_verdict_t;

/* What the admin endpoint shows of one key, as of a given time. */
typedef struct keys_usage {
    const char *name;   /* owned by keys, valid until keys_free */
    const char *plan;
    int enabled;
    uint64_t admitted, throttled, over_quota; /* since start (in memory) */
    /* Throttle (all 0 when the plan has none): the plan's rate and burst,
     * and the whole tokens the bucket holds at that time (requests that
     * would be admitted now, quota aside). */
    double rate;
    uint32_t burst;
    uint64_t tokens;
    /* Quota (all 0 / KEYS_PERIOD_NONE when the plan has none). The period
     * is the one admission would count in at that time. */
    keys_period_t period;
    uint64_t limit, used, remaining;
    uint64_t period_start_ms; /* clamped at the epoch (weeks before 1970-01-05) */
    uint64_t resets_at_ms;    /* end of the period */
} keys_usage_t;

keys_t *keys_new(void);
void keys_free(keys_t *k); /* frees plans, keys and everything they hold; NULL is fine */

/* Adds a plan or a key; the def's strings are copied. Errors, with a message
 * naming the plan or key and what is wrong: ST_VALIDATION_ERROR for a bad or
 * duplicate name, a malformed hash, a hash another key has, an unknown plan,
 * or a number out of range. Nothing is added on error. */
status_t keys_add_plan(keys_t *k, const keys_plan_def_t *def, err_t *err);
status_t keys_add_key(keys_t *k, const keys_key_def_t *def, err_t *err);
/* Enables or disables a key; its counters and bucket are kept.
 * ST_NOT_FOUND when there is no key of that name. */
status_t keys_set_enabled(keys_t *k, const char *name, int enabled, err_t *err);
size_t keys_count(const keys_t *k);

/* Decides one request. key[0..len) is the presented x-api-key value, or
 * key NULL (or len 0) when the request has none. now_ms is wall-clock epoch
 * ms. Updates the key's bucket, quota count and counters; fills *v (may be
 * NULL). */
keys_admit_t keys_admit(keys_t *k, const char *key, size_t len, uint64_t now_ms, keys_verdict_t *v);

/* The usage of key `name` as of now_ms; 0, or -1 when there is no such key.
 * Does not change any state. */
int keys_usage(const keys_t *k, const char *name, uint64_t now_ms, keys_usage_t *u);

/* Appends {"keys":[…]} with every key in name order (bytewise):
 *   {"name":…,"plan":…,"enabled":true,"admitted":N,"throttled":N,"overQuota":N,
 *    "throttle":{"rate":R,"burst":N,"tokens":N},
 *    "quota":{"limit":N,"period":"DAY","used":N,"remaining":N,"resetsAt":"<ISO-8601 UTC>"}}
 * with "throttle":null / "quota":null for a plan without one. Never writes
 * a hash. (The gateway serves it at GET /_sluice/gateway/keys.) */
void keys_write_json(const keys_t *k, uint64_t now_ms, buf_t *out);

/* "sha256:<64 lowercase hex>" of a key, NUL-terminated (for `sluice hash-key`). */
void keys_hash_text(const char *key, char out[72]);

/* "DAY", "WEEK", "MONTH" ("NONE" for no quota), and the reverse for config
 * parsers (0, or -1 for anything else; exact upper case). */
const char *keys_period_name(keys_period_t p);
int keys_period_parse(const char *s, keys_period_t *out);
/* "OK", "MISSING", "UNKNOWN", "THROTTLED", "OVER_QUOTA" — for logs. */
const char *keys_admit_name(keys_admit_t a);

#endif
