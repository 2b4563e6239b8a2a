/* alloc — abort-on-OOM wrappers; see alloc.h for the policy. */
#include "util/alloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

_Noreturn void util_fatal(const char *what)
{
    fprintf(stderr, "level=fatal event=abort what=\"%s\"\n", what);
    fflush(stderr);
    abort();
}

void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p)
        util_fatal("out of memory");
    return p;
}

void *xcalloc(size_t count, size_t size)
{
    void *p = calloc(count ? count : 1, size ? size : 1);
    if (!p)
        util_fatal("out of memory");
    return p;
}

void *xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (!q)
        util_fatal("out of memory");
    return q;
}

char *xmemdup(const void *p, size_t n)
{
    char *q = xmalloc(n + 1);
    if (n)
        memcpy(q, p, n);
    q[n] = '\0';
    return q;
}

char *xstrdup(const char *s)
{
    return xmemdup(s, strlen(s));
}

char *xstrdup_opt(const char *s)
{
    return s ? xstrdup(s) : NULL;
}
