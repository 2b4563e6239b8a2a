/*
 * sigv4 — Signature Version 4 verification; see sigv4.h for the model.
 *
 * One verification: find the signature's parts (Authorization header or
 * presigned query), look the access key up, check the date window, build the
 * canonical request and the string to sign, derive the signing key (cached
 * per key for four scopes: a key's date changes once a day), compare, then
 * check the session token and the payload (a literal body hash, or the
 * chunk signatures of an aws-chunked body). The order puts what needs the
 * secret first, so a caller without it learns nothing about the body rules.
 */
#include "proto/sigv4.h"

#include <openssl/crypto.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "util/alloc.h"
#include "util/buf.h"
#include "util/digest.h"

#define ALGORITHM "AWS4-HMAC-SHA256"
#define STREAMING "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
#define UNSIGNED "UNSIGNED-PAYLOAD"
#define TERMINATOR "aws4_request"
#define EMPTY_SHA256 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define CACHE_WAYS 4
#define PART_MAX 64 /* a credential's date, region, service or terminator */
#define SIGNED_HEADERS_MAX 2048
#define TOKEN_MAX 4096

#define MSG_MISMATCH                                                                                              \
    "The request signature we calculated does not match the signature you provided. Check your AWS Secret "    \
    "Access Key and signing method. Consult the service documentation for details."
#define MSG_UNKNOWN_KEY "The X.509 certificate or AWS access key ID provided does not exist in our records."
#define MSG_BAD_TOKEN "The security token included in the request is invalid."
#define MSG_MISSING "The request must contain either a valid (registered) AWS access key ID or X.509 certificate."
#define MSG_QUERY_PARTS                                                                                           \
    "AWS query-string parameters must include 'X-Amz-Algorithm', 'X-Amz-Credential', 'X-Amz-Signature', "      \
    "'X-Amz-Date', 'X-Amz-SignedHeaders'. Re-examine the query-string parameters."

int (*sigv4__memcmp)(const void *a, const void *b, size_t n) = CRYPTO_memcmp;

typedef struct cached {
    char scope[3 * PART_MAX + 3]; /* "date/region/service"; "" when empty */
    unsigned char key[32];
} cached_t;

typedef struct sv_key {
    char *id, *secret, *token;
    cached_t cache[CACHE_WAYS];
    unsigned victim; /* next way to replace */
} sv_key_t;

typedef struct param {
    size_t noff, nlen, voff, vlen; /* in the scratch buffer, URI-encoded */
    const char *name, *val;
} param_t;

struct sigv4 {
    sv_key_t *keys;
    size_t nkeys;
    uint32_t skew_s;
    int check_token;
    buf_t creq, qbuf; /* scratch: canonical request, encoded query parameters */
    param_t *params;
    size_t params_cap;
};

/* The parts of one signature, either form. */
typedef struct auth {
    int presigned;
    char key_id[SIGV4_KEY_ID_MAX + 1];
    int key_id_long;
    char date8[PART_MAX], region[PART_MAX], service[PART_MAX], term[PART_MAX];
    char scope[4 * PART_MAX + 4];
    char amz_date[32];
    int64_t t; /* amz_date in epoch seconds */
    char signed_headers[SIGNED_HEADERS_MAX];
    char signature[65];
    size_t sig_len; /* as sent; only 64 can match */
    long expires;   /* -1: no X-Amz-Expires */
    int has_token;
    char token[TOKEN_MAX]; /* last: not cleared up front */
} auth_t;

/* ---- small text helpers ------------------------------------------------------------------------- */

static int hexval(int c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

static void to_hex(const unsigned char *p, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[p[i] >> 4];
        out[2 * i + 1] = digits[p[i] & 15];
    }
    out[2 * n] = 0;
}

static void sha256_hex(const void *p, size_t n, char out[65])
{
    unsigned char d[32];
    digest_sha256(p, n, d);
    to_hex(d, 32, out);
}

/* %XX → byte and '+' → space, as form_parse reads the query: the signature
 * must cover the values the front-end acts on, so a raw '+' signs as %20
 * (the SDKs send '+' as %2B and space as %20, which sign as before). A stray
 * % is taken as it is. out has n bytes. */
static size_t pct_decode(const char *s, size_t n, char *out)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        int hi = i + 2 < n && s[i] == '%' ? hexval((unsigned char)s[i + 1]) : -1;
        int lo = hi >= 0 ? hexval((unsigned char)s[i + 2]) : -1;
        if (lo >= 0) {
            out[o++] = (char)(hi * 16 + lo);
            i += 2;
        } else {
            out[o++] = s[i] == '+' ? ' ' : s[i];
        }
    }
    return o;
}

/* AWS's URI encoding: unreserved characters stay, every other byte is %XX
 * (uppercase); '/' stays when keep_slash. */
static void uri_encode(buf_t *b, const char *s, size_t n, int keep_slash)
{
    static const char digits[] = "0123456789ABCDEF";
    buf_reserve(b, 3 * n);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        int plain = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
                    c == '_' || c == '.' || c == '~' || (c == '/' && keep_slash);
        if (plain) {
            b->data[b->len++] = (char)c;
        } else {
            b->data[b->len++] = '%';
            b->data[b->len++] = digits[c >> 4];
            b->data[b->len++] = digits[c & 15];
        }
    }
    b->data[b->len] = 0;
}

/* Copies s[0..n) into out[size] with a NUL; -1 when it does not fit. */
static int copy_part(char *out, size_t size, const char *s, size_t n)
{
    if (n >= size)
        return -1;
    memcpy(out, s, n);
    out[n] = 0;
    return 0;
}

static const char *query_of(const http_head_t *h, size_t *n)
{
    const char *q = memchr(h->target, '?', h->target_len);
    *n = q ? h->target_len - (size_t)(q + 1 - h->target) : 0;
    return q ? q + 1 : "";
}

/* Length of the name of the query pair at s[0..n) (up to '=' or the end). */
static size_t pair_name_len(const char *s, size_t n)
{
    const char *eq = memchr(s, '=', n);
    return eq ? (size_t)(eq - s) : n;
}

/* 1 when the pair's decoded name is name. */
static int pair_is(const char *s, size_t n, const char *name)
{
    char key[64];
    size_t klen = pair_name_len(s, n), want = strlen(name);
    return klen < sizeof key && pct_decode(s, klen, key) == want && memcmp(key, name, want) == 0;
}

/* The decoded value of the first query parameter called name, into out[size]
 * (out NULL: only whether it is there). 1 found, 0 absent, -1 too long. */
static int query_get(const char *q, size_t qn, const char *name, char *out, size_t size)
{
    for (size_t i = 0; i < qn;) {
        size_t end = i;
        while (end < qn && q[end] != '&')
            end++;
        if (pair_is(q + i, end - i, name)) {
            size_t klen = pair_name_len(q + i, end - i);
            const char *v = q + i + klen + (i + klen < end);
            size_t vn = (size_t)(q + end - v);
            if (!out)
                return 1;
            char *tmp = xmalloc(vn + 1);
            size_t dn = pct_decode(v, vn, tmp);
            int fits = copy_part(out, size, tmp, dn) == 0;
            free(tmp);
            return fits ? 1 : -1;
        }
        i = end + 1;
    }
    return 0;
}

static int64_t parse_amz_date(const char *s)
{
    struct tm tm = {0};
    if (strlen(s) != 16 || s[8] != 'T' || s[15] != 'Z')
        return -1;
    for (int i = 0; i < 15; i++)
        if (i != 8 && (s[i] < '0' || s[i] > '9'))
            return -1;
    tm.tm_year = (s[0] - '0') * 1000 + (s[1] - '0') * 100 + (s[2] - '0') * 10 + (s[3] - '0') - 1900;
    tm.tm_mon = (s[4] - '0') * 10 + (s[5] - '0') - 1;
    tm.tm_mday = (s[6] - '0') * 10 + (s[7] - '0');
    tm.tm_hour = (s[9] - '0') * 10 + (s[10] - '0');
    tm.tm_min = (s[11] - '0') * 10 + (s[12] - '0');
    tm.tm_sec = (s[13] - '0') * 10 + (s[14] - '0');
    if (tm.tm_mon > 11 || tm.tm_mday < 1 || tm.tm_mday > 31 || tm.tm_hour > 23 || tm.tm_min > 59 || tm.tm_sec > 60)
        return -1;
    return (int64_t)timegm(&tm);
}

static void fmt_amz_date(int64_t t, char out[32])
{
    time_t tt = (time_t)t;
    struct tm tm;
    gmtime_r(&tt, &tm);
    strftime(out, 32, "%Y%m%dT%H%M%SZ", &tm);
}

/* ---- the verifier ---------------------------------------------------------------------------------- */

int sigv4_key_id_valid(const char *id)
{
    size_t n = strlen(id);
    if (n == 0 || n > SIGV4_KEY_ID_MAX)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = id[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'))
            return 0;
    }
    return 1;
}

static int key_def_check(const sigv4_config_t *cfg, size_t i, char *why, size_t n)
{
    const sigv4_key_def_t *k = &cfg->keys[i];
    if (!k->id || !sigv4_key_id_valid(k->id))
        return snprintf(why, n, "access key id \"%s\" must be 1..%d of A-Z a-z 0-9 _", k->id ? k->id : "",
                        SIGV4_KEY_ID_MAX), -1;
    if (!k->secret || !*k->secret)
        return snprintf(why, n, "access key %s has an empty secret", k->id), -1;
    if (k->session_token && (!*k->session_token || strlen(k->session_token) >= TOKEN_MAX))
        return snprintf(why, n, "access key %s: session_token must be 1..%d bytes", k->id, TOKEN_MAX - 1), -1;
    for (size_t j = 0; j < i; j++)
        if (strcmp(cfg->keys[j].id, k->id) == 0)
            return snprintf(why, n, "access key %s is listed twice", k->id), -1;
    return 0;
}

sigv4_t *sigv4_new(const sigv4_config_t *cfg, char *why, size_t why_len)
{
    for (size_t i = 0; i < cfg->nkeys; i++)
        if (key_def_check(cfg, i, why, why_len) != 0)
            return NULL;
    sigv4_t *v = xcalloc(1, sizeof *v);
    v->keys = xcalloc(cfg->nkeys ? cfg->nkeys : 1, sizeof *v->keys);
    v->nkeys = cfg->nkeys;
    v->skew_s = cfg->clock_skew_s ? cfg->clock_skew_s : SIGV4_SKEW_DEFAULT_S;
    v->check_token = cfg->check_session_token;
    for (size_t i = 0; i < cfg->nkeys; i++) {
        v->keys[i].id = xstrdup(cfg->keys[i].id);
        v->keys[i].secret = xstrdup(cfg->keys[i].secret);
        v->keys[i].token = cfg->keys[i].session_token ? xstrdup(cfg->keys[i].session_token) : NULL;
    }
    return v;
}

void sigv4_free(sigv4_t *v)
{
    if (!v)
        return;
    for (size_t i = 0; i < v->nkeys; i++) {
        OPENSSL_cleanse(v->keys[i].secret, strlen(v->keys[i].secret));
        OPENSSL_cleanse(v->keys[i].cache, sizeof v->keys[i].cache);
        free(v->keys[i].id);
        free(v->keys[i].secret);
        free(v->keys[i].token);
    }
    free(v->keys);
    buf_free(&v->creq);
    buf_free(&v->qbuf);
    free(v->params);
    free(v);
}

static sv_key_t *key_find(sigv4_t *v, const char *id)
{
    for (size_t i = 0; i < v->nkeys; i++)
        if (strcmp(v->keys[i].id, id) == 0)
            return &v->keys[i];
    return NULL;
}

/* kSigning = HMAC(HMAC(HMAC(HMAC("AWS4" + secret, date), region), service), "aws4_request") */
static void derive_key(const char *secret, const auth_t *a, unsigned char out[32])
{
    size_t sn = strlen(secret);
    char *k0 = xmalloc(sn + 5);
    memcpy(k0, "AWS4", 4);
    memcpy(k0 + 4, secret, sn + 1);
    unsigned char k1[32], k2[32], k3[32];
    digest_hmac_sha256(k0, sn + 4, a->date8, strlen(a->date8), k1);
    digest_hmac_sha256(k1, 32, a->region, strlen(a->region), k2);
    digest_hmac_sha256(k2, 32, a->service, strlen(a->service), k3);
    digest_hmac_sha256(k3, 32, TERMINATOR, strlen(TERMINATOR), out);
    OPENSSL_cleanse(k0, sn + 4);
    free(k0);
}

static const unsigned char *signing_key(sv_key_t *k, const auth_t *a)
{
    char scope[sizeof k->cache[0].scope];
    snprintf(scope, sizeof scope, "%s/%s/%s", a->date8, a->region, a->service);
    for (int i = 0; i < CACHE_WAYS; i++)
        if (strcmp(k->cache[i].scope, scope) == 0)
            return k->cache[i].key;
    cached_t *c = &k->cache[k->victim++ % CACHE_WAYS];
    memcpy(c->scope, scope, sizeof scope);
    derive_key(k->secret, a, c->key);
    return c->key;
}

/* ---- the signature's parts ---------------------------------------------------------------------------- */

/* "AKID/20150830/us-east-1/sqs/aws4_request" into a. */
static status_t parse_credential(const char *cred, auth_t *a, err_t *err)
{
    const char *p[5];
    size_t n[5];
    int parts = 0;
    for (const char *s = cred; parts < 5; parts++) {
        const char *slash = strchr(s, '/');
        p[parts] = s;
        n[parts] = slash ? (size_t)(slash - s) : strlen(s);
        if (!slash) {
            parts++;
            break;
        }
        s = slash + 1;
    }
    if (parts != 5 || strchr(p[4], '/'))
        return err_set(err, ST_INCOMPLETE_SIGNATURE,
                       "Credential must have exactly 5 slash-delimited elements, e.g. keyid/date/region/service/term, "
                       "got '%.200s'", cred);
    a->key_id_long = copy_part(a->key_id, sizeof a->key_id, p[0], n[0]) != 0;
    if (copy_part(a->date8, sizeof a->date8, p[1], n[1]) || copy_part(a->region, sizeof a->region, p[2], n[2]) ||
        copy_part(a->service, sizeof a->service, p[3], n[3]) || copy_part(a->term, sizeof a->term, p[4], n[4]))
        return err_set(err, ST_INCOMPLETE_SIGNATURE, "Credential element too long in '%.200s'", cred);
    snprintf(a->scope, sizeof a->scope, "%s/%s/%s/%s", a->date8, a->region, a->service, a->term);
    return ST_OK;
}

static int part_is(const char *s, size_t n, const char *name, const char **val, size_t *vn)
{
    size_t k = strlen(name);
    if (n <= k || strncmp(s, name, k) != 0 || s[k] != '=')
        return 0;
    *val = s + k + 1;
    *vn = n - k - 1;
    return 1;
}

/* The Credential, SignedHeaders and Signature parts of "AWS4-HMAC-SHA256 a=b, c=d". */
static status_t header_parts(const char *s, size_t n, auth_t *a, char cred[512], err_t *err)
{
    int have = 0;
    size_t i = 0;
    while (i < n) {
        while (i < n && (s[i] == ' ' || s[i] == ',' || s[i] == '\t'))
            i++;
        size_t end = i;
        while (end < n && s[end] != ',')
            end++;
        size_t len = end;
        while (len > i && (s[len - 1] == ' ' || s[len - 1] == '\t'))
            len--;
        const char *v;
        size_t vn;
        int bad = 0;
        if (part_is(s + i, len - i, "Credential", &v, &vn)) {
            bad = copy_part(cred, 512, v, vn);
            have |= 1;
        } else if (part_is(s + i, len - i, "SignedHeaders", &v, &vn)) {
            bad = copy_part(a->signed_headers, sizeof a->signed_headers, v, vn);
            have |= 2;
        } else if (part_is(s + i, len - i, "Signature", &v, &vn)) { /* only 64 can match: keep that many */
            a->sig_len = vn;
            copy_part(a->signature, sizeof a->signature, v, vn < 64 ? vn : 64);
            have |= 4;
        }
        if (bad)
            return err_set(err, ST_INCOMPLETE_SIGNATURE, "Authorization header part is too long: '%.*s…'",
                           (int)(len - i < 60 ? len - i : 60), s + i);
        i = end;
    }
    if (have == 7)
        return ST_OK;
    err_set(err, ST_INCOMPLETE_SIGNATURE, "%s%s%s", have & 1 ? "" : "Authorization header requires 'Credential' parameter. ",
            have & 4 ? "" : "Authorization header requires 'Signature' parameter. ",
            have & 2 ? "" : "Authorization header requires 'SignedHeaders' parameter. ");
    err->msg[strlen(err->msg) - 1] = 0; /* the last sentence's space */
    return ST_INCOMPLETE_SIGNATURE;
}

static status_t header_date(const http_head_t *h, auth_t *a, err_t *err)
{
    const http_header_t *d = http_head_find(h, "X-Amz-Date");
    if (!d)
        return err_set(err, ST_INCOMPLETE_SIGNATURE,
                       "Authorization header requires existence of an 'X-Amz-Date' header (Sluice does not read "
                       "'Date').");
    if (copy_part(a->amz_date, sizeof a->amz_date, d->value, d->value_len) != 0)
        a->amz_date[0] = 0;
    const http_header_t *tok = http_head_find(h, "X-Amz-Security-Token");
    if (tok && copy_part(a->token, sizeof a->token, tok->value, tok->value_len) != 0)
        return err_set(err, ST_INCOMPLETE_SIGNATURE, "X-Amz-Security-Token is longer than %d bytes", TOKEN_MAX - 1);
    a->has_token = tok != NULL;
    return ST_OK;
}

static status_t parse_header_form(const http_head_t *h, const http_header_t *hd, auth_t *a, err_t *err)
{
    const char *s = hd->value;
    size_t n = hd->value_len, alg = 0;
    while (alg < n && s[alg] != ' ')
        alg++;
    if (alg != strlen(ALGORITHM) || strncmp(s, ALGORITHM, alg) != 0)
        return err_set(err, ST_INCOMPLETE_SIGNATURE,
                       "Unsupported Authorization type '%.*s': only AWS Signature Version 4 (" ALGORITHM
                       ") is accepted", (int)(alg < 40 ? alg : 40), s);
    char cred[512];
    status_t st = header_parts(s + alg, n - alg, a, cred, err);
    if (st == ST_OK)
        st = parse_credential(cred, a, err);
    return st == ST_OK ? header_date(h, a, err) : st;
}

static status_t query_part(const char *q, size_t qn, const char *name, char *out, size_t size, int *missing,
                           err_t *err)
{
    int rc = query_get(q, qn, name, out, size);
    if (rc < 0)
        return err_set(err, ST_INCOMPLETE_SIGNATURE, "Query parameter %s is too long", name);
    *missing |= rc == 0;
    return ST_OK;
}

static status_t presigned_extras(const char *q, size_t qn, auth_t *a, err_t *err)
{
    char expires[24];
    int absent = 0;
    if (query_part(q, qn, "X-Amz-Expires", expires, sizeof expires, &absent, err) != ST_OK)
        return ST_INCOMPLETE_SIGNATURE;
    a->expires = -1;
    if (!absent) {
        char *end;
        long e = strtol(expires, &end, 10);
        if (!*expires || *end || e < 1 || e > SIGV4_EXPIRES_MAX_S)
            return err_set(err, ST_INCOMPLETE_SIGNATURE,
                           "X-Amz-Expires must be a whole number of seconds from 1 to %d, not '%.30s'",
                           SIGV4_EXPIRES_MAX_S, expires);
        a->expires = e;
    }
    absent = 0;
    if (query_part(q, qn, "X-Amz-Security-Token", a->token, sizeof a->token, &absent, err) != ST_OK)
        return ST_INCOMPLETE_SIGNATURE;
    a->has_token = !absent;
    return ST_OK;
}

static status_t parse_query_form(const http_head_t *h, auth_t *a, err_t *err)
{
    size_t qn;
    const char *q = query_of(h, &qn);
    char alg[64], cred[512], sig[128];
    int missing = 0;
    a->presigned = 1;
    if (query_part(q, qn, "X-Amz-Algorithm", alg, sizeof alg, &missing, err) ||
        query_part(q, qn, "X-Amz-Credential", cred, sizeof cred, &missing, err) ||
        query_part(q, qn, "X-Amz-Date", a->amz_date, sizeof a->amz_date, &missing, err) ||
        query_part(q, qn, "X-Amz-SignedHeaders", a->signed_headers, sizeof a->signed_headers, &missing, err) ||
        query_part(q, qn, "X-Amz-Signature", sig, sizeof sig, &missing, err))
        return ST_INCOMPLETE_SIGNATURE;
    if (missing)
        return err_set(err, ST_INCOMPLETE_SIGNATURE, "%s", MSG_QUERY_PARTS);
    if (strcmp(alg, ALGORITHM) != 0)
        return err_set(err, ST_INCOMPLETE_SIGNATURE, "X-Amz-Algorithm only supports '" ALGORITHM "', not '%.40s'",
                       alg);
    a->sig_len = strlen(sig);
    copy_part(a->signature, sizeof a->signature, sig, a->sig_len < 64 ? a->sig_len : 64);
    status_t st = parse_credential(cred, a, err);
    return st == ST_OK ? presigned_extras(q, qn, a, err) : st;
}

/* 1 when the query has a parameter of the presigned form. */
static int query_has_auth(const http_head_t *h)
{
    static const char *const names[] = {"X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Signature"};
    size_t qn;
    const char *q = query_of(h, &qn);
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (query_get(q, qn, names[i], NULL, 0) != 0)
            return 1;
    return 0;
}

int sigv4_present(const http_head_t *head)
{
    return http_head_find(head, "Authorization") != NULL || query_has_auth(head);
}

static status_t parse_auth(const http_head_t *h, auth_t *a, err_t *err)
{
    const http_header_t *hd = http_head_find(h, "Authorization");
    int query = query_has_auth(h);
    memset(a, 0, offsetof(auth_t, token));
    a->token[0] = 0;
    a->expires = -1;
    if (hd && query)
        return err_set(err, ST_INCOMPLETE_SIGNATURE,
                       "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, Signature query "
                       "string parameter or the Authorization header should be specified");
    if (!hd && !query)
        return err_set(err, ST_MISSING_AUTH, "%s", MSG_MISSING);
    status_t st = hd ? parse_header_form(h, hd, a, err) : parse_query_form(h, a, err);
    if (st != ST_OK)
        return st;
    if ((a->t = parse_amz_date(a->amz_date)) < 0)
        return err_set(err, ST_INCOMPLETE_SIGNATURE,
                       "Date must be in ISO-8601 'basic format' (YYYYMMDD'T'HHMMSS'Z'). Got '%.40s'.", a->amz_date);
    return ST_OK;
}

void sigv4_scope(const http_head_t *head, char *key_id, size_t kn, char *service, size_t sn)
{
    auth_t a;
    err_t err;
    int ok = parse_auth(head, &a, &err) == ST_OK;
    snprintf(key_id, kn, "%s", ok ? a.key_id : "");
    snprintf(service, sn, "%s", ok ? a.service : "");
}

/* ---- scope, key, time, token ---------------------------------------------------------------------------- */

static status_t check_scope(const auth_t *a, const char *service, err_t *err)
{
    if (strncmp(a->date8, a->amz_date, 8) != 0 || strlen(a->date8) != 8)
        return err_set(err, ST_SIGNATURE_MISMATCH,
                       "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: "
                       "'%s' != '%.8s', from '%s'.", a->date8, a->amz_date, a->amz_date);
    if (strcmp(a->term, TERMINATOR) != 0)
        return err_set(err, ST_SIGNATURE_MISMATCH,
                       "Credential should be scoped with a valid terminator: '" TERMINATOR "', not '%s'.", a->term);
    if (service && strcmp(a->service, service) != 0)
        return err_set(err, ST_SIGNATURE_MISMATCH, "Credential should be scoped to correct service: '%s'.", service);
    return ST_OK;
}

static void fmt_skew(uint32_t s, char *out, size_t n)
{
    if (s % 60 == 0)
        snprintf(out, n, "%u min.", s / 60);
    else
        snprintf(out, n, "%u s.", s);
}

static status_t check_time(const sigv4_t *v, const auth_t *a, uint64_t now_ms, err_t *err)
{
    int64_t now = (int64_t)(now_ms / 1000), limit;
    char at[32], lim[32], skew[24];
    fmt_amz_date(now, at);
    fmt_skew(v->skew_s, skew, sizeof skew);
    if (a->t > now + (int64_t)v->skew_s) {
        fmt_amz_date(now + v->skew_s, lim);
        return err_set(err, ST_REQUEST_EXPIRED, "Signature not yet current: %s is still later than %s (%s + %s)",
                       a->amz_date, lim, at, skew);
    }
    if (a->presigned && a->expires > 0) {
        if (now <= a->t + a->expires)
            return ST_OK;
        fmt_amz_date(a->t + a->expires, lim);
        return err_set(err, ST_REQUEST_EXPIRED, "Request has expired: signed at %s for %ld s, which ended at %s; now %s",
                       a->amz_date, a->expires, lim, at);
    }
    if (now - a->t <= (int64_t)v->skew_s)
        return ST_OK;
    limit = now - v->skew_s;
    fmt_amz_date(limit, lim);
    return err_set(err, ST_REQUEST_EXPIRED, "Signature expired: %s is now earlier than %s (%s - %s)", a->amz_date,
                   lim, at, skew);
}

static status_t check_token(const sigv4_t *v, const sv_key_t *k, const auth_t *a, err_t *err)
{
    if (!v->check_token)
        return ST_OK;
    int ok = !k->token ? !a->has_token
                       : a->has_token && strlen(a->token) == strlen(k->token) &&
                             sigv4__memcmp(a->token, k->token, strlen(k->token)) == 0;
    return ok ? ST_OK : err_set(err, ST_INVALID_CLIENT_TOKEN, "%s", MSG_BAD_TOKEN);
}

/* ---- the canonical request -------------------------------------------------------------------------------- */

/* The path with empty and "." segments dropped and ".." resolved (what the
 * SDKs sign for every service but S3), each byte URI-encoded once more. */
static void canonical_uri(buf_t *b, const char *path, size_t n)
{
    size_t start = b->len, *marks = xmalloc((n / 2 + 2) * sizeof *marks), depth = 0;
    for (size_t i = 0; i < n;) {
        size_t end = i;
        while (end < n && path[end] != '/')
            end++;
        size_t len = end - i;
        if (len == 2 && path[i] == '.' && path[i + 1] == '.') {
            if (depth)
                b->len = marks[--depth];
        } else if (len && !(len == 1 && path[i] == '.')) {
            marks[depth++] = b->len;
            buf_putc(b, '/');
            uri_encode(b, path + i, len, 0);
        }
        i = end + 1;
    }
    free(marks);
    if (b->len == start || (n && path[n - 1] == '/'))
        buf_putc(b, '/');
    b->data[b->len] = 0;
}

static int param_cmp(const void *x, const void *y)
{
    const param_t *a = x, *b = y;
    size_t m = a->nlen < b->nlen ? a->nlen : b->nlen;
    int c = memcmp(a->name, b->name, m);
    if (c || a->nlen != b->nlen)
        return c ? c : a->nlen < b->nlen ? -1 : 1;
    m = a->vlen < b->vlen ? a->vlen : b->vlen;
    c = memcmp(a->val, b->val, m);
    return c ? c : a->vlen < b->vlen ? -1 : a->vlen > b->vlen;
}

static void add_param(sigv4_t *v, size_t *np, const char *s, size_t n)
{
    size_t kn = pair_name_len(s, n), vn = kn < n ? n - kn - 1 : 0;
    char *tmp = xmalloc(n + 1);
    if (*np == v->params_cap) {
        v->params_cap = v->params_cap ? 2 * v->params_cap : 16;
        v->params = xrealloc(v->params, v->params_cap * sizeof *v->params);
    }
    param_t *p = &v->params[(*np)++];
    p->noff = v->qbuf.len;
    uri_encode(&v->qbuf, tmp, pct_decode(s, kn, tmp), 0);
    p->nlen = v->qbuf.len - p->noff;
    p->voff = v->qbuf.len;
    uri_encode(&v->qbuf, tmp, pct_decode(s + n - vn, vn, tmp), 0);
    p->vlen = v->qbuf.len - p->voff;
    free(tmp);
}

/* Parameters decoded and re-encoded, sorted by name then value; a presigned
 * request's X-Amz-Signature is not part of what it signed. A repeated name
 * is refused: sorting makes A=1&A=2 and A=2&A=1 sign alike while the
 * front-ends read the first (the query protocols number their lists,
 * AttributeName.1, never repeat a name). */
static status_t canonical_query(sigv4_t *v, const http_head_t *h, int presigned, buf_t *b, err_t *err)
{
    size_t qn, np = 0;
    const char *q = query_of(h, &qn);
    buf_reset(&v->qbuf);
    for (size_t i = 0; i < qn;) {
        size_t end = i;
        while (end < qn && q[end] != '&')
            end++;
        int skip = end == i || (presigned && pair_is(q + i, end - i, "X-Amz-Signature"));
        if (!skip)
            add_param(v, &np, q + i, end - i);
        i = end + 1;
    }
    for (size_t i = 0; i < np; i++) { /* the scratch buffer has stopped moving */
        v->params[i].name = v->qbuf.data + v->params[i].noff;
        v->params[i].val = v->qbuf.data + v->params[i].voff;
    }
    if (np > 1)
        qsort(v->params, np, sizeof *v->params, param_cmp);
    for (size_t i = 0; i < np; i++) {
        const param_t *p = &v->params[i];
        if (i && p[-1].nlen == p->nlen && memcmp(p[-1].name, p->name, p->nlen) == 0)
            return err_set(err, ST_INCOMPLETE_SIGNATURE,
                           "The query parameter '%.*s' is repeated: a signed request names each parameter once",
                           (int)(p->nlen < 100 ? p->nlen : 100), p->name);
        if (i)
            buf_putc(b, '&');
        buf_append(b, v->params[i].name, v->params[i].nlen);
        buf_putc(b, '=');
        buf_append(b, v->params[i].val, v->params[i].vlen);
    }
    return ST_OK;
}

/* A header value as signed: blank runs (space, tab) become one space. */
static void put_value(buf_t *b, const char *s, size_t n)
{
    while (n && (*s == ' ' || *s == '\t'))
        s++, n--;
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t'))
        n--;
    for (size_t i = 0; i < n; i++) {
        int blank = s[i] == ' ' || s[i] == '\t';
        if (!blank)
            buf_putc(b, s[i]);
        else if (!(s[i - 1] == ' ' || s[i - 1] == '\t'))
            buf_putc(b, ' ');
    }
}

/* 1 when name is one of the ';'-separated names of list (any case). */
static int header_listed(const char *list, const char *name)
{
    size_t want = strlen(name);
    for (const char *p = list; *p;) {
        size_t n = strcspn(p, ";");
        if (n == want && strncasecmp(p, name, n) == 0)
            return 1;
        p += n + (p[n] == ';');
    }
    return 0;
}

/* "name:v1,v2\n" for each signed header, values of repeated headers in
 * their order; a signed header that is absent signs as "name:". */
static status_t canonical_headers(const http_head_t *h, const char *list, const char *must_sign, buf_t *b,
                                  err_t *err)
{
    for (const char *p = list; *p;) {
        size_t n = strcspn(p, ";");
        if (n == 0)
            return err_set(err, ST_INCOMPLETE_SIGNATURE, "SignedHeaders '%.200s' has an empty name", list);
        for (size_t i = 0; i < n; i++)
            buf_putc(b, (char)(p[i] >= 'A' && p[i] <= 'Z' ? p[i] + 32 : p[i]));
        buf_putc(b, ':');
        int first = 1;
        for (size_t i = 0; i < h->nheaders; i++) {
            const http_header_t *x = &h->headers[i];
            if (x->name_len != n || strncasecmp(x->name, p, n) != 0)
                continue;
            if (!first)
                buf_putc(b, ',');
            put_value(b, x->value, x->value_len);
            first = 0;
        }
        buf_putc(b, '\n');
        p += n + (p[n] == ';');
    }
    if (!header_listed(list, "host"))
        return err_set(err, ST_INCOMPLETE_SIGNATURE, "'Host' must be a signed header (SignedHeaders: '%.200s')", list);
    if (must_sign && !header_listed(list, must_sign))
        return err_set(err, ST_INCOMPLETE_SIGNATURE, "'%s' must be a signed header (SignedHeaders: '%.200s')",
                       must_sign, list);
    return ST_OK;
}

/* The payload line of the canonical request into out; *mode says what must
 * be checked once the signature holds: 0 nothing (the hash is the body's),
 * 1 the body's hash, 2 the chunks. */
static status_t payload_line(const sigv4_request_t *rq, char out[72], int *mode, err_t *err)
{
    const http_header_t *c = http_head_find(rq->head, "x-amz-content-sha256");
    *mode = 0;
    if (!c) {
        sha256_hex(rq->body, rq->body_len, out);
        return ST_OK;
    }
    int hex = c->value_len == 64;
    for (size_t i = 0; hex && i < 64; i++)
        hex = hexval((unsigned char)c->value[i]) >= 0;
    int unsigned_ = c->value_len == strlen(UNSIGNED) && memcmp(c->value, UNSIGNED, c->value_len) == 0;
    int streaming = c->value_len == strlen(STREAMING) && memcmp(c->value, STREAMING, c->value_len) == 0;
    /* AWS takes an unsigned payload for S3 only; here the body carries the
     * query protocol's action and parameters, which must be signed. */
    if (unsigned_)
        return err_set(err, ST_INCOMPLETE_SIGNATURE,
                       "x-amz-content-sha256 " UNSIGNED " is only for S3: sign the body's SHA-256");
    if (!hex && !streaming)
        return err_set(err, ST_INCOMPLETE_SIGNATURE,
                       "x-amz-content-sha256 '%.*s' is not supported: use a hex SHA-256 of the body or " STREAMING,
                       (int)(c->value_len < 60 ? c->value_len : 60), c->value);
    memcpy(out, c->value, c->value_len);
    out[c->value_len] = 0;
    *mode = hex ? 1 : 2;
    return ST_OK;
}

static status_t canonical_request(sigv4_t *v, const sigv4_request_t *rq, const auth_t *a, const char *payload,
                                  err_t *err)
{
    const http_head_t *h = rq->head;
    const char *q = memchr(h->target, '?', h->target_len);
    buf_t *b = &v->creq;
    buf_reset(b);
    buf_append(b, h->method, h->method_len);
    buf_putc(b, '\n');
    canonical_uri(b, h->target, q ? (size_t)(q - h->target) : h->target_len);
    buf_putc(b, '\n');
    status_t st = canonical_query(v, h, a->presigned, b, err);
    if (st != ST_OK)
        return st;
    buf_putc(b, '\n');
    st = canonical_headers(h, a->signed_headers, rq->must_sign, b, err);
    buf_printf(b, "\n%s\n%s", a->signed_headers, payload);
    return st;
}

/* ---- signatures ------------------------------------------------------------------------------------------- */

static void sign_hex(const unsigned char key[32], const char *sts, size_t n, char out[65])
{
    unsigned char mac[32];
    digest_hmac_sha256(key, 32, sts, n, mac);
    to_hex(mac, 32, out);
}

static int same_signature(const char *expected, const char *given, size_t given_len)
{
    return given_len == 64 && sigv4__memcmp(expected, given, 64) == 0;
}

static status_t check_signature(sigv4_t *v, sv_key_t *k, const auth_t *a, const unsigned char **skey, err_t *err)
{
    char creq_hash[65], sts[512], sig[65];
    sha256_hex(v->creq.data, v->creq.len, creq_hash);
    int n = snprintf(sts, sizeof sts, ALGORITHM "\n%s\n%s\n%s", a->amz_date, a->scope, creq_hash);
    *skey = signing_key(k, a);
    sign_hex(*skey, sts, (size_t)n, sig);
    return same_signature(sig, a->signature, a->sig_len) ? ST_OK : err_set(err, ST_SIGNATURE_MISMATCH, MSG_MISMATCH);
}

static status_t check_body_hash(const sigv4_request_t *rq, const char *payload, err_t *err)
{
    char body[65], given[65];
    sha256_hex(rq->body, rq->body_len, body);
    for (int i = 0; i < 64; i++)
        given[i] = (char)(payload[i] >= 'A' && payload[i] <= 'F' ? payload[i] + 32 : payload[i]);
    given[64] = 0;
    if (strcmp(body, given) == 0)
        return ST_OK;
    return err_set(err, ST_SIGNATURE_MISMATCH,
                   "The provided 'x-amz-content-sha256' header does not match what was computed (the body's SHA-256 "
                   "is %s).", body);
}

/* ---- aws-chunked ------------------------------------------------------------------------------------------ */

/* One chunk header "<hex size>;chunk-signature=<64 hex>\r\n" at body[*r]. */
static int chunk_header(const char *b, size_t len, size_t *r, size_t *size, const char **sig)
{
    static const char mark[] = ";chunk-signature=";
    size_t i = *r, sz = 0, digits = 0;
    for (int d; i < len && (d = hexval((unsigned char)b[i])) >= 0 && digits < 16; i++, digits++)
        sz = sz * 16 + (size_t)d;
    if (!digits || len - i < sizeof mark - 1 + 64 + 2 || memcmp(b + i, mark, sizeof mark - 1) != 0)
        return -1;
    i += sizeof mark - 1;
    *sig = b + i;
    i += 64;
    if (b[i] != '\r' || b[i + 1] != '\n')
        return -1;
    *r = i + 2;
    *size = sz;
    return len - *r >= sz && len - *r - sz >= 2 ? 0 : -1;
}

/* Chunk signatures chain: each signs the previous one and its data's hash. */
static int chunk_signature_ok(const unsigned char key[32], const auth_t *a, char prev[65], const char *data,
                              size_t n, const char *given)
{
    char sts[512], hash[65], sig[65];
    sha256_hex(data, n, hash);
    int len = snprintf(sts, sizeof sts, ALGORITHM "-PAYLOAD\n%s\n%s\n%s\n" EMPTY_SHA256 "\n%s", a->amz_date, a->scope,
                       prev, hash);
    sign_hex(key, sts, (size_t)len, sig);
    memcpy(prev, given, 64);
    return sigv4__memcmp(sig, given, 64) == 0;
}

static status_t decoded_length_check(const sigv4_request_t *rq, size_t w, err_t *err)
{
    const http_header_t *d = http_head_find(rq->head, "x-amz-decoded-content-length");
    char num[24];
    if (!d)
        return ST_OK;
    snprintf(num, sizeof num, "%zu", w);
    if (d->value_len == strlen(num) && memcmp(d->value, num, d->value_len) == 0)
        return ST_OK;
    return err_set(err, ST_INCOMPLETE_SIGNATURE, "x-amz-decoded-content-length %.*s is not the %zu bytes decoded",
                   (int)(d->value_len < 20 ? d->value_len : 20), d->value, w);
}

/* Verifies and decodes an aws-chunked body in place: each chunk's data moves
 * down over the framing before it, so the write offset never passes the read one. */
static status_t decode_chunks(const unsigned char key[32], const auth_t *a, sigv4_request_t *rq, err_t *err)
{
    char prev[65], *b = rq->body;
    size_t r = 0, w = 0, len = rq->body_len, size, index = 0;
    memcpy(prev, a->signature, 65);
    for (;; index++) {
        const char *sig;
        size_t at = r;
        if (chunk_header(b, len, &r, &size, &sig) != 0 || b[r + size] != '\r' || b[r + size + 1] != '\n')
            return err_set(err, ST_INCOMPLETE_SIGNATURE, "The aws-chunked body is malformed at byte %zu", at);
        if (!chunk_signature_ok(key, a, prev, b + r, size, sig))
            return err_set(err, ST_SIGNATURE_MISMATCH, "The signature of chunk %zu (at byte %zu) does not match. %s",
                           index, at, MSG_MISMATCH);
        memmove(b + w, b + r, size);
        w += size;
        r += size + 2;
        if (size == 0)
            break;
    }
    if (r != len)
        return err_set(err, ST_INCOMPLETE_SIGNATURE, "The aws-chunked body goes on after its final chunk (byte %zu)", r);
    b[w] = 0;
    rq->body_len = w;
    return decoded_length_check(rq, w, err);
}

/* ---- the whole check -------------------------------------------------------------------------------------- */

static status_t find_key(sigv4_t *v, const auth_t *a, sv_key_t **k, err_t *err)
{
    *k = a->key_id_long ? NULL : key_find(v, a->key_id);
    return *k ? ST_OK : err_set(err, ST_INVALID_CLIENT_TOKEN, MSG_UNKNOWN_KEY);
}

static status_t check_payload(const unsigned char *skey, const auth_t *a, sigv4_request_t *rq, const char *payload,
                              int mode, err_t *err)
{
    if (mode == 1)
        return check_body_hash(rq, payload, err);
    if (mode == 2)
        return decode_chunks(skey, a, rq, err);
    return ST_OK;
}

status_t sigv4_verify(sigv4_t *v, sigv4_request_t *rq, err_t *err)
{
    auth_t a;
    sv_key_t *k = NULL;
    const unsigned char *skey = NULL;
    char payload[72];
    int mode = 0;
    rq->key_id[0] = 0;
    status_t st = parse_auth(rq->head, &a, err);
    if (st == ST_OK)
        st = check_scope(&a, rq->service, err);
    if (st == ST_OK)
        st = find_key(v, &a, &k, err);
    if (st == ST_OK)
        st = check_time(v, &a, rq->now_ms, err);
    if (st == ST_OK)
        st = payload_line(rq, payload, &mode, err);
    if (st == ST_OK)
        st = canonical_request(v, rq, &a, payload, err);
    if (st == ST_OK)
        st = check_signature(v, k, &a, &skey, err);
    if (st == ST_OK)
        st = check_token(v, k, &a, err);
    if (st == ST_OK)
        st = check_payload(skey, &a, rq, payload, mode, err);
    if (st == ST_OK)
        memcpy(rq->key_id, a.key_id, sizeof rq->key_id);
    return st;
}
