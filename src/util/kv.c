/* kv — owned name/value and string vectors. */
#include "util/kv.h"

#include <stdlib.h>
#include <string.h>

#include "util/alloc.h"

void kvv_add_own(kvv_t *k, const char *key, char *val)
{
    if (k->n == k->cap) {
        k->cap = k->cap ? k->cap * 2 : 8;
        k->v = xrealloc(k->v, k->cap * sizeof *k->v);
    }
    k->v[k->n].key = xstrdup(key);
    k->v[k->n].val = val;
    k->n++;
}

void kvv_add(kvv_t *k, const char *key, const char *val)
{
    kvv_add_own(k, key, xstrdup(val));
}

const char *kvv_get(const kvv_t *k, const char *key)
{
    for (size_t i = 0; i < k->n; i++)
        if (strcmp(k->v[i].key, key) == 0)
            return k->v[i].val;
    return NULL;
}

void kvv_set(kvv_t *k, const char *key, const char *val)
{
    for (size_t i = 0; i < k->n; i++)
        if (strcmp(k->v[i].key, key) == 0) {
            free(k->v[i].val);
            k->v[i].val = xstrdup(val);
            return;
        }
    kvv_add(k, key, val);
}

void kvv_del(kvv_t *k, const char *key)
{
    for (size_t i = 0; i < k->n; i++)
        if (strcmp(k->v[i].key, key) == 0) {
            free(k->v[i].key);
            free(k->v[i].val);
            memmove(&k->v[i], &k->v[i + 1], (k->n - i - 1) * sizeof k->v[0]);
            k->n--;
            return;
        }
}

void kvv_free(kvv_t *k)
{
    for (size_t i = 0; i < k->n; i++) {
        free(k->v[i].key);
        free(k->v[i].val);
    }
    free(k->v);
    memset(k, 0, sizeof *k);
}

void strv_add_own(strv_t *s, char *str)
{
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 8;
        s->v = xrealloc(s->v, s->cap * sizeof *s->v);
    }
    s->v[s->n++] = str;
}

void strv_add(strv_t *s, const char *str)
{
    strv_add_own(s, xstrdup(str));
}

void strv_free(strv_t *s)
{
    for (size_t i = 0; i < s->n; i++)
        free(s->v[i]);
    free(s->v);
    memset(s, 0, sizeof *s);
}

const char *kv_get(const kv_t *v, size_t n, const char *key)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(v[i].key, key) == 0)
            return v[i].val;
    return NULL;
}
