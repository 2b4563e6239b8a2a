/*
 * jv — JSON documents for the wire path: a strict RFC 8259 parser, a builder
 * and a compact writer, over one arena per document.
 *
 * Why not jansson: on the SQS hot path jansson (a heap allocation per value
 * and per object key, hashtables per object) took about half of the loop's
 * CPU; parsing, building and printing one 10-entry SendMessageBatch cost
 * ~43 µs, more than the whole per-request budget (docs/PERFORMANCE.md). A
 * jv document allocates from a chunked bump arena that is reused across
 * requests, objects are small arrays of pairs searched linearly (SQS
 * documents have a handful of keys), and nothing is reference-counted.
 *
 * Ownership: every value belongs to the document that made it and lives until
 * jv_doc_free. Strings handed in by reference (the *_ref builders) must stay
 * valid and unchanged for as long as the document is used.
 *
 * Strings are UTF-8, validated when parsed; they may contain U+0000, so len
 * is authoritative (the bytes are also NUL-terminated for convenience).
 * Numbers keep their text; integral ones that fit also an int64.
 * Duplicate keys parse fine and jv_get returns the last one, as most JSON
 * readers do.
 *
 * Threads: a document is used by one thread at a time; the chunk cache is
 * per thread.
 */
#ifndef SLUICE_JV_H
#define SLUICE_JV_H

#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"

typedef enum { JV_NULL, JV_BOOL, JV_NUMBER, JV_STRING, JV_ARRAY, JV_OBJECT } jv_type_t;

typedef struct jv jv_t;
typedef struct jv_doc jv_doc_t;

typedef struct jv_pair {
    const char *key;
    size_t klen;
    jv_t *val;
} jv_pair_t;

struct jv {
    jv_type_t type;
    int boolean;
    int is_int;  /* JV_NUMBER: integral and within int64 */
    size_t len;  /* string bytes, number text bytes, or element/pair count */
    union {
        const char *str; /* JV_STRING, JV_NUMBER (its text) */
        jv_t **items;    /* JV_ARRAY */
        jv_pair_t *pairs; /* JV_OBJECT */
    } u;
    size_t cap;
    int64_t i;
};

/* The parser refuses arrays and objects nested more than this deep ([[1]] is 2). */
#define JV_MAX_DEPTH 64

jv_doc_t *jv_doc_new(void);
/* A document whose first block is small: for values kept for a long time
 * (a waiting receive keeps its request), where a 16 KiB block each would add up. */
jv_doc_t *jv_doc_new_small(void);
void jv_doc_free(jv_doc_t *d);
/* Frees the calling thread's chunk cache (for threads that end). */
void jv_thread_release(void);
/* Bytes the document's arena holds (for limits and tests). */
size_t jv_doc_bytes(const jv_doc_t *d);

/* Parses p[0..n) as one JSON value (whitespace around it allowed). Returns
 * the value, or NULL with a reason in why ("offset 12: ..."). */
jv_t *jv_parse(jv_doc_t *d, const char *p, size_t n, char *why, size_t why_len);

/* ---- building -------------------------------------------------------------- */
jv_t *jv_object(jv_doc_t *d);
jv_t *jv_array(jv_doc_t *d);
jv_t *jv_null(jv_doc_t *d);
jv_t *jv_bool(jv_doc_t *d, int b);
jv_t *jv_int(jv_doc_t *d, int64_t i);
jv_t *jv_string(jv_doc_t *d, const char *s);            /* copies */
jv_t *jv_stringn(jv_doc_t *d, const char *s, size_t n); /* copies */
jv_t *jv_string_ref(jv_doc_t *d, const char *s, size_t n); /* borrows */
/* Adds key → val (val may be NULL: nothing is added). Returns obj. The key is
 * borrowed: literals, or strings that outlive the document. */
jv_t *jv_set(jv_doc_t *d, jv_t *obj, const char *key, jv_t *val);
/* Same, with the key copied into the document. */
jv_t *jv_set_copy(jv_doc_t *d, jv_t *obj, const char *key, size_t klen, jv_t *val);
jv_t *jv_push(jv_doc_t *d, jv_t *arr, jv_t *val);
/* Removes element i of an array (no-op when out of range). */
void jv_remove_at(jv_t *arr, size_t i);
/* Deep copy of v into d (for values that must outlive their document). */
jv_t *jv_copy(jv_doc_t *d, const jv_t *v);

/* ---- reading ------------------------------------------------------------------ */
/* The value of key in obj, or NULL (also when obj is not an object). */
jv_t *jv_get(const jv_t *obj, const char *key);
/* The string, or NULL when v is not a string. */
const char *jv_str(const jv_t *v);
size_t jv_count(const jv_t *v); /* array/object size; 0 for others */
jv_t *jv_at(const jv_t *arr, size_t i);
static inline int jv_is(const jv_t *v, jv_type_t t)
{
    return v && v->type == t;
}
/* An integral number that fits int64 (its value is v->i). */
static inline int jv_is_int(const jv_t *v)
{
    return v && v->type == JV_NUMBER && v->is_int;
}

/* ---- writing ------------------------------------------------------------------ */
/* Appends v as compact JSON. Strings are escaped; bytes that are not valid
 * UTF-8 become U+FFFD so the output is always valid JSON. */
void jv_write(const jv_t *v, buf_t *out);
/* v as a compact JSON text in a new heap string (the caller frees it). */
char *jv_dump(const jv_t *v);
/* Parses the C string s; NULL if it is not valid JSON. */
jv_t *jv_parse_cstr(jv_doc_t *d, const char *s);
/* Appends the JSON string literal of s[0..n) (with quotes). */
void jv_write_string(buf_t *out, const char *s, size_t n);

#endif
