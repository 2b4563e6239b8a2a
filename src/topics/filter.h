/*
 * filter — Amazon SNS subscription filter policies: compile a policy once,
 * then match messages against it, alone or as a set of many policies.
 *
 * The language is the whole of what SNS documents, for both scopes
 * (FilterPolicyScope MessageAttributes and MessageBody): exact strings,
 * numbers, true/false/null, prefix, suffix, equals-ignore-case,
 * anything-but (value, list, prefix, suffix), numeric (=, <, <=, >, >= and
 * ranges), exists, cidr (IPv4/IPv6) and $or (top level and nested).
 * Validation follows AWS: SNS runs its policies through the JSON rule
 * compiler of AWS's event-ruler behind a Jackson JSON parser, so errors
 * carry those libraries' wording and a Jackson location suffix; the texts
 * recorded from real AWS are reproduced exactly (see filter.c).
 *
 * Model. A policy compiles into branches (its $or expanded into
 * alternatives, as AWS does); a branch is a list of fields (a dotted path,
 * "a.b" for {"a":{"b":[..]}}, and the conditions on it, any of which may
 * hold); a message matches when, for some branch, every field holds. A
 * message is matched in its flattened form: every leaf value under its
 * dotted path (body scope: keys joined with '.', arrays contributing each
 * element; attribute scope: one path per attribute name, a String.Array
 * contributing each element). Matching is a pure function of the compiled
 * policy and the message; nothing here touches the network or the store.
 *
 * Semantics chosen where AWS is silent or where the docs decide:
 *   - String conditions (exact string, prefix, suffix, equals-ignore-case,
 *     cidr) match only string values; numeric conditions and exact numbers
 *     only numbers (an exact number also matches the same number text, so
 *     numbers too large for numeric matching still match exactly). Numbers
 *     compare as fixed point with 6 decimals within -1e9..1e9 (AWS
 *     documents that range and 5 digits of accuracy); outside it a message
 *     number only matches an exact number of identical text.
 *   - anything-but matches any present non-null value that is not one of
 *     its values (a string is never one of its numbers, and so on).
 *   - null in a policy matches a JSON null (body, String.Array element);
 *     null values count as absent for exists ("the key must have a
 *     non-null value"), and no other operator matches them.
 *   - exists:true needs the path to hold a non-null leaf value; exists:false
 *     the opposite. An absent path matches nothing else (anything-but
 *     included; recorded from AWS).
 *   - Attribute scope: a message without any attribute matches no policy
 *     (AWS: "an empty set of attributes results in the filter not
 *     matching"); Binary attributes are ignored (absent); a Number
 *     attribute is a number, a String one a string, a String.Array (and
 *     "Number.Array", which AWS's numeric matching page shows) the elements
 *     of its JSON array (nested arrays flattened, objects ignored). A custom
 *     type suffix ("String.x", "Number.y") does not change this.
 *   - Body scope: a body that is not a JSON object (or nests deeper than
 *     JV_MAX_DEPTH) matches no policy; keys containing '.' match the nested
 *     path of the same spelling, as on AWS. Each field is matched on its own
 *     against all the values under its path: two fields inside an array of
 *     objects may be satisfied by different elements.
 *   - cidr is ruler's range: from the address as written (not masked) to
 *     its last host address; a mask of 32 (IPv4) or 128 (IPv6) is refused.
 *   - anything-but {"suffix": ..} is accepted (AWS answered "Unsupported
 *     anything-but pattern: suffix" in May 2024; later event-ruler has it).
 *   - equals-ignore-case folds ASCII letters only.
 *
 * Threads: a compiled filter is immutable and may be matched from several
 * threads at once (matching one filter alone uses per-thread scratch
 * memory). A filter set is used by one thread at a time (matching uses
 * scratch memory kept in the set).
 */
#ifndef SLUICE_FILTER_H
#define SLUICE_FILTER_H

#include <stddef.h>
#include <stdint.h>

#include "util/jv.h"

typedef enum { FILTER_SCOPE_ATTRIBUTES, FILTER_SCOPE_BODY } filter_scope_t;

typedef struct filter filter_t;

/* Largest policy text accepted, in bytes (AWS: 256 KB). */
#define FILTER_MAX_POLICY_BYTES (256 * 1024)
/* AWS's limit on the total combination of values of one policy. */
#define FILTER_MAX_COMBINATIONS 150
/* AWS's limit on the keys of one policy. */
#define FILTER_MAX_KEYS 5

/* Every message written to why starts with this. It is the text
 * SetSubscriptionAttributes returns; Subscribe (whose policy comes in its
 * Attributes map) returns the same text with "Attributes Reason: "
 * inserted after it, e.g. "Invalid parameter: Attributes Reason:
 * FilterPolicy: Filter policy is too complex" (both recorded from AWS). */
#define FILTER_WHY_PREFIX "Invalid parameter: "

/*
 * Compiles and validates json[0..len) (UTF-8) as a policy of the given scope.
 * Returns the filter (free with filter_free), or NULL with AWS's
 * InvalidParameter message in why (always NUL-terminated, truncated to
 * why_len; why may be NULL). An empty text is refused like AWS's parser
 * refuses it; callers treat an empty FilterPolicy attribute as "no policy"
 * before calling this, as SNS does. The json text is not kept.
 */
filter_t *filter_compile(const char *json, size_t len, filter_scope_t scope, char *why, size_t why_len);
void filter_free(filter_t *f);
filter_scope_t filter_scope(const filter_t *f);

/*
 * One message attribute, as published. type is "String", "Number",
 * "String.Array" or "Binary", optionally with a custom suffix ("String.x");
 * value is the StringValue (for String.Array, the JSON array text); Binary
 * values are never looked at. name is NUL-terminated; value need not be.
 */
typedef struct filter_attr {
    const char *name;
    const char *type;
    const char *value;
    size_t value_len;
} filter_attr_t;

/* 1 when the message matches f, 0 otherwise. Each takes the input of one
 * scope and returns 0 for a filter of the other scope; filter_match takes
 * both and uses the one the filter's scope names. Inputs are only read
 * during the call. Not the hot path for topics: use a filter set there. */
int filter_match_attrs(const filter_t *f, const filter_attr_t *attrs, size_t n);
int filter_match_body(const filter_t *f, const char *body, size_t len);
/* Body-scope core on a parsed document (the event bus matches events this way). */
int filter_match_json(const filter_t *f, const jv_t *doc);
int filter_match(const filter_t *f, const filter_attr_t *attrs, size_t n, const char *body, size_t len);

/* ---- filter sets ------------------------------------------------------------ */

/*
 * A filter set holds many filters (one topic's subscriptions, of either
 * scope) and returns the ids of those a message matches. Each branch of
 * each filter is indexed by an anchor when it has one: a field whose
 * conditions are all exact values; the set keeps a hash of (path, value)
 * to the branches anchored there, so a message only evaluates the branches
 * anchored on one of its own values, plus the (usually few) branches
 * without an anchor. The message is flattened once per call for the whole
 * set; matching allocates nothing per filter (scratch memory is kept in the
 * set and grows to the largest message seen).
 */
typedef struct filter_set filter_set_t;

/* Growable array of ids that the set matching functions append to. Start
 * from FILTER_IDS_INIT, reset n to 0 to reuse, release with filter_ids_free. */
typedef struct filter_ids {
    uint64_t *ids;
    size_t n, cap;
} filter_ids_t;
#define FILTER_IDS_INIT {NULL, 0, 0}
void filter_ids_free(filter_ids_t *ids);

filter_set_t *filter_set_new(void);
/* Frees the set; the filters in it are the caller's and are not freed. */
void filter_set_free(filter_set_t *s);
/* Adds f under the caller's id; f stays owned by the caller and must outlive
 * its membership. Adding an id already present replaces its filter. */
void filter_set_add(filter_set_t *s, const filter_t *f, uint64_t id);
/* Removes id (no-op when absent). */
void filter_set_remove(filter_set_t *s, uint64_t id);
size_t filter_set_count(const filter_set_t *s);

/*
 * Appends to out the id of every filter in s that the message matches, each
 * once, in no particular order, and returns how many were appended.
 * Attribute-scope filters see attrs[0..n), body-scope filters see
 * body[0..len) (parsed once, and only when the set holds a body-scope
 * filter). filter_set_match_attrs has no body (body-scope filters do not
 * match); filter_set_match_body has no attributes (attribute-scope filters
 * do not match); filter_set_match_json gives body-scope filters a parsed
 * document.
 */
size_t filter_set_match(filter_set_t *s, const filter_attr_t *attrs, size_t n, const char *body, size_t len,
                        filter_ids_t *out);
size_t filter_set_match_attrs(filter_set_t *s, const filter_attr_t *attrs, size_t n, filter_ids_t *out);
size_t filter_set_match_body(filter_set_t *s, const char *body, size_t len, filter_ids_t *out);
size_t filter_set_match_json(filter_set_t *s, const jv_t *doc, filter_ids_t *out);

/* ---- internal: shared by filter.c (compiling) and filter_index.c (matching) --- */

/* The compiled form. Text (strings, number texts, paths) lives in f->text
 * and is referenced by offset and length. */
typedef enum {
    FILTER__C_STR, FILTER__C_NUM, FILTER__C_TRUE, FILTER__C_FALSE, FILTER__C_NULL, /* exact values */
    FILTER__C_PREFIX, FILTER__C_SUFFIX, FILTER__C_EQIC, FILTER__C_NUMERIC, FILTER__C_CIDR,
    FILTER__C_EXISTS, FILTER__C_ABSENT,
    FILTER__C_NOT_STRS, FILTER__C_NOT_NUMS, FILTER__C_NOT_PREFIX, FILTER__C_NOT_SUFFIX,
} filter__ckind_t;

typedef struct filter__cond {
    uint8_t kind;                            /* filter__ckind_t */
    uint8_t has_fx;                          /* C_NUM: fx is its fixed point */
    uint8_t has_lo, lo_open, has_hi, hi_open; /* C_NUMERIC bounds lo, hi */
    uint8_t iplen;                           /* C_CIDR: 4 or 16 bytes in ip_lo..ip_hi */
    uint32_t off, len;                       /* text; C_NOT_STRS/NUMS: first index and length in strs/nums */
    int64_t fx, lo, hi;
    uint8_t ip_lo[16], ip_hi[16];
} filter__cond_t;

typedef struct filter__strref {
    uint32_t off, len;
} filter__strref_t;

typedef struct filter__path {
    uint32_t off, len;
    uint64_t hash;                           /* filter__hash of its text */
} filter__path_t;

typedef struct filter__entry {
    uint32_t path, first, n;                 /* a field: conds[first..first+n) on paths[path] */
} filter__entry_t;

#define FILTER__NONE UINT32_MAX

typedef struct filter__branch {
    uint32_t first, n;                       /* entries[first..first+n), all must hold */
    uint32_t anchor;                         /* the anchor entry (index in the branch), or FILTER__NONE */
} filter__branch_t;

struct filter {
    filter_scope_t scope;
    char *text;
    filter__path_t *paths;
    filter__cond_t *conds;
    filter__strref_t *strs;                  /* anything-but string lists, each sorted by (len, bytes) */
    int64_t *nums;                           /* anything-but number lists, each sorted */
    filter__entry_t *entries;
    filter__branch_t *branches;
    size_t nbranches;
};

/* Growable arrays: FILTER__PUSH(arr, n, cap) returns a pointer to a new last element. */
void *filter__grow(void *p, size_t *cap, size_t elem);
#define FILTER__PUSH(arr, n, cap) \
    (((n) == (cap) ? (void)((arr) = filter__grow((arr), &(cap), sizeof *(arr))) : (void)0), &(arr)[(n)++])
int filter__hexval(int c); /* 0-15, or -1 for a character that is not a hex digit */

/* Numbers: fixed point with 6 decimals, within -1e9..1e9 (0 outside). */
int filter__number_fx(double d, int64_t *fx);
/* Parses a decimal number text (JSON's grammar, plus '+' and bare fractions). */
int filter__number_parse(const char *s, size_t n, double *d);
/* An IP address as java.net.InetAddress reads a literal: 4 or 16 bytes into
 * out, 0 when s does not look like an address, -1 when it looks like one but
 * is not valid (IPv4-mapped IPv6 reads as IPv4). */
int filter__ip_parse(const char *s, size_t n, uint8_t out[16]);
/* Seeded 64-bit FNV-1a; hash_more continues a hash (paths hash incrementally). */
uint64_t filter__hash(const void *p, size_t n);
uint64_t filter__hash_more(uint64_t h, const void *p, size_t n);

/* A message flattened for matching (see the model above); reusable. */
typedef enum { FILTER__V_NULL, FILTER__V_TRUE, FILTER__V_FALSE, FILTER__V_NUM, FILTER__V_STR } filter__vkind_t;
/* The index key of a value (kind, text, fixed point) under a path hash. */
uint64_t filter__value_key(uint64_t path_hash, int kind, const char *s, size_t len, int has_fx, int64_t fx);

typedef struct filter__msg filter__msg_t;
filter__msg_t *filter__msg_new(void);
void filter__msg_free(filter__msg_t *m);
/* Load a message, replacing the previous one; each returns 1 when the
 * message can match at all (attributes present / body a JSON object). The
 * inputs must stay valid while the message is used. */
int filter__msg_load_attrs(filter__msg_t *m, const filter_attr_t *attrs, size_t n);
int filter__msg_load_body(filter__msg_t *m, const char *body, size_t len);
int filter__msg_load_json(filter__msg_t *m, const jv_t *doc);

/* Evaluating: whether branch b of f holds for the loaded message, and the
 * keys a branch is indexed by (at most FILTER_MAX_COMBINATIONS; 0 when the
 * branch has no anchor: a message can only match an anchored branch when one
 * of its value keys is among these). */
size_t filter__branches(const filter_t *f);
int filter__branch_match(const filter_t *f, size_t b, filter__msg_t *m);
size_t filter__anchor_keys(const filter_t *f, size_t b, uint64_t *keys);

#endif
