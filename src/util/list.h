/*
 * list — intrusive circular doubly-linked list (the kernel's list_head).
 * A node embedded in an object can be unlinked in O(1) without knowing
 * which list holds it; list_del leaves the node self-linked so a second
 * list_del, or list_linked(), is safe.
 */
#ifndef SLUICE_LIST_H
#define SLUICE_LIST_H

#include <stddef.h>

typedef struct list {
    struct list *prev, *next;
} list_t;

#define LIST_INIT(name) {&(name), &(name)}
#define list_entry(ptr, type, member) ((type *)((char *)(ptr)-offsetof(type, member)))

static inline void list_init(list_t *l)
{
    l->prev = l->next = l;
}

static inline int list_empty(const list_t *l)
{
    return l->next == l;
}

static inline int list_linked(const list_t *n)
{
    return n->next != n && n->next != NULL;
}

static inline void list__insert(list_t *n, list_t *prev, list_t *next)
{
    next->prev = n;
    n->next = next;
    n->prev = prev;
    prev->next = n;
}

static inline void list_push_back(list_t *head, list_t *n)
{
    list__insert(n, head->prev, head);
}

static inline void list_push_front(list_t *head, list_t *n)
{
    list__insert(n, head, head->next);
}

/* Inserts n immediately before pos. */
static inline void list_insert_before(list_t *pos, list_t *n)
{
    list__insert(n, pos->prev, pos);
}

static inline void list_del(list_t *n)
{
    n->prev->next = n->next;
    n->next->prev = n->prev;
    n->prev = n->next = n;
}

static inline list_t *list_first(const list_t *head)
{
    return head->next == head ? NULL : head->next;
}

#define list_for_each(pos, head) for (list_t *pos = (head)->next; pos != (head); pos = pos->next)

#define list_for_each_safe(pos, tmp, head) \
    for ((pos) = (head)->next, (tmp) = (pos)->next; (pos) != (head); (pos) = (tmp), (tmp) = (pos)->next)

#endif
