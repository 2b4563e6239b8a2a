/*
 * alloc — the one allocation policy of Sluice: abort on out-of-memory.
 *
 * A daemon that keeps its live data set in memory cannot do anything useful
 * after malloc fails half-way through a mutation, and propagating NULL through
 * every engine path would make each of them a place to get it wrong. So every
 * allocation goes through these wrappers; on failure they log one line and
 * abort(). Callers never check for NULL.
 */
#ifndef SLUICE_ALLOC_H
#define SLUICE_ALLOC_H

#include <stddef.h>

void *xmalloc(size_t n);
void *xcalloc(size_t count, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
/* xstrdup, or NULL for NULL (optional settings). */
char *xstrdup_opt(const char *s);
/* Copies n bytes and appends a NUL, so the copy is also a C string. */
char *xmemdup(const void *p, size_t n);

/* Logs "fatal" with the message and aborts. Never returns. */
_Noreturn void util_fatal(const char *what);

#endif
