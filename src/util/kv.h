/*
 * kv — small vectors for name/value data crossing module boundaries.
 *   kv_t   borrowed pair (the caller keeps the strings alive)
 *   kvv_t  owned pairs: kvv_add copies; kvv_free releases
 *   strv_t owned strings
 */
#ifndef SLUICE_KV_H
#define SLUICE_KV_H

#include <stddef.h>

typedef struct kv {
    const char *key;
    const char *val;
} kv_t;

typedef struct kvv {
    struct {
        char *key;
        char *val;
    } *v;
    size_t n, cap;
} kvv_t;

typedef struct strv {
    char **v;
    size_t n, cap;
} strv_t;

void kvv_add(kvv_t *k, const char *key, const char *val);
/* Adds a pair, taking ownership of val (malloc'd). */
void kvv_add_own(kvv_t *k, const char *key, char *val);
const char *kvv_get(const kvv_t *k, const char *key);
/* Sets key to a copy of val, replacing an existing value. */
void kvv_set(kvv_t *k, const char *key, const char *val);
/* Removes key (order of the others is kept); no-op when absent. */
void kvv_del(kvv_t *k, const char *key);
void kvv_free(kvv_t *k);

void strv_add(strv_t *s, const char *str);
void strv_add_own(strv_t *s, char *str);
void strv_free(strv_t *s);

/* Finds key in a borrowed array; NULL when absent. */
const char *kv_get(const kv_t *v, size_t n, const char *key);

#endif
