/* trace — the trace journal: a ring of hop records (see trace.h). */
#include "util/trace.h"

#include <stdlib.h>
#include <string.h>

#include "util/alloc.h"
#include "util/clock.h"
#include "util/jv.h"

static struct {
    trace_hop_t *ring;
    size_t cap;  /* entries; 0: no journal */
    uint64_t n;  /* hops appended since trace_init; the next goes to ring[n % cap] */
    uint32_t once[TRACE_ONCE_SLOTS]; /* trace_hop_once: a hash of (id, kind) per slot, 0 empty */
    int untraced_off; /* trace.messages: traced (untraced messages are not journaled) */
} J;

static const char *const kind_names[] = {
#define TRACE_NAME(e, s) s,
    TRACE_HOPS(TRACE_NAME)
#undef TRACE_NAME
};

const char *trace_kind_name(trace_kind_t k)
{
    return (unsigned)k < TRACE_KINDS ? kind_names[k] : "?";
}

void trace_init(size_t entries)
{
    trace_shutdown();
    J.cap = entries;
    /* calloc of a large ring maps zero pages: memory is touched as hops arrive */
    J.ring = entries ? xcalloc(entries, sizeof *J.ring) : NULL;
}

void trace_shutdown(void)
{
    free(J.ring);
    memset(&J, 0, sizeof J);
}

size_t trace_capacity(void)
{
    return J.cap;
}

size_t trace_count(void)
{
    return J.n < J.cap ? (size_t)J.n : J.cap;
}

/* FNV-1a: only to skip most entries of a lookup cheaply. */
static uint32_t id_hash(const char *s)
{
    uint32_t h = 2166136261u;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    return h;
}

static void copy_cut(char *dst, size_t cap, const char *src, size_t n)
{
    if (n > cap)
        n = cap;
    memcpy(dst, src, n);
    dst[n] = '\0';
}

const char *trace_key(const char *header, char out[TRACE_ID_MAX + 1])
{
    out[0] = '\0';
    if (!header)
        return NULL;
    const char *p = header, *root = strstr(header, "Root=");
    /* Root= as a field: at the start or after ';' (spaces allowed) */
    if (root && (root == header || root[-1] == ';' || root[-1] == ' '))
        p = root + 5;
    size_t n = root && p == root + 5 ? strcspn(p, "; ") : strlen(p);
    copy_cut(out, TRACE_ID_MAX, p, n);
    return out[0] ? out : NULL;
}

void trace_set_untraced(int on)
{
    J.untraced_off = !on;
}

int trace_untraced(void)
{
    return !J.untraced_off;
}

const char *trace_msg_key(const char *header, const char *msg_id, char out[TRACE_ID_MAX + 1])
{
    if (trace_key(header, out))
        return out;
    if (J.untraced_off)
        msg_id = NULL;
    copy_cut(out, TRACE_ID_MAX, msg_id ? msg_id : "", msg_id ? strlen(msg_id) : 0);
    return out;
}

static trace_hop_t *append(const char *id, trace_kind_t kind, const char *resource, const char *detail,
                           uint64_t dur_us, uint64_t ts_us)
{
    trace_hop_t *h = &J.ring[J.n % J.cap];
    copy_cut(h->id, TRACE_ID_MAX, id, strlen(id));
    h->hash = id_hash(h->id);
    copy_cut(h->resource, TRACE_RESOURCE_MAX, resource ? resource : "", resource ? strlen(resource) : 0);
    copy_cut(h->detail, TRACE_DETAIL_MAX, detail ? detail : "", detail ? strlen(detail) : 0);
    h->kind = (uint8_t)kind;
    h->ts_us = ts_us ? ts_us : clock_wall_us();
    h->dur_us = dur_us;
    h->link[0] = '\0';
    h->seq = ++J.n;
    return h;
}

void trace_hop_at(const char *id, trace_kind_t kind, const char *resource, const char *detail, uint64_t dur_us,
                  uint64_t ts_us)
{
    if (id && *id && J.cap)
        append(id, kind, resource, detail, dur_us, ts_us);
}

uint64_t trace_hop_link(const char *id, trace_kind_t kind, const char *resource, const char *detail,
                        const char *link)
{
    if (!id || !*id || !J.cap)
        return 0;
    trace_hop_t *h = append(id, kind, resource, detail, 0, 0);
    if (link)
        copy_cut(h->link, TRACE_LINK_MAX, link, strlen(link));
    return h->seq;
}

/* The hop numbered seq, while the ring still holds it. */
static trace_hop_t *held_hop(uint64_t seq)
{
    trace_hop_t *h = seq && J.cap ? &J.ring[(seq - 1) % J.cap] : NULL;
    return h && h->seq == seq ? h : NULL;
}

void trace_set_link(uint64_t seq, const char *link)
{
    trace_hop_t *h = held_hop(seq);
    if (h && link)
        copy_cut(h->link, TRACE_LINK_MAX, link, strlen(link));
}

void trace_amend(uint64_t seq, trace_kind_t kind, const char *detail)
{
    trace_hop_t *h = held_hop(seq);
    if (!h)
        return;
    h->kind = (uint8_t)kind;
    copy_cut(h->detail, TRACE_DETAIL_MAX, detail ? detail : "", detail ? strlen(detail) : 0);
}

void trace_hop_once(const char *id, trace_kind_t kind, const char *resource, const char *detail)
{
    if (!id || !*id || !J.cap)
        return;
    uint32_t h = id_hash(id) ^ (uint32_t)kind * 2654435761u;
    uint32_t *slot = &J.once[h % TRACE_ONCE_SLOTS], mark = h | 1; /* never 0: 0 is empty */
    if (*slot == mark)
        return;
    *slot = mark;
    trace_hop(id, kind, resource, detail, 0);
}

void trace_hop_msg(const char *header, const char *msg_id, trace_kind_t kind, const char *resource,
                   const char *detail, uint64_t dur_us)
{
    char key[TRACE_ID_MAX + 1];
    if (J.cap)
        trace_hop(trace_msg_key(header, msg_id, key), kind, resource, detail, dur_us);
}

void trace_hop(const char *id, trace_kind_t kind, const char *resource, const char *detail, uint64_t dur_us)
{
    trace_hop_at(id, kind, resource, detail, dur_us, 0);
}

void trace_hop_header(const char *header, trace_kind_t kind, const char *resource, const char *detail,
                      uint64_t dur_us)
{
    char key[TRACE_ID_MAX + 1];
    if (header && J.cap)
        trace_hop(trace_key(header, key), kind, resource, detail, dur_us);
}

static int hop_cmp(const void *a, const void *b)
{
    const trace_hop_t *x = a, *y = b;
    if (x->ts_us != y->ts_us)
        return x->ts_us < y->ts_us ? -1 : 1;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* The ids a lookup visits: the asked one, then each linked one as found,
 * in a small open-addressed set (by hash) so a ring entry costs one probe. */
#define VISIT_SLOTS 128 /* > 2 * TRACE_LINKS_FOLLOWED: probes stay short */
typedef struct {
    char id[TRACE_LINKS_FOLLOWED][TRACE_ID_MAX + 1];
    int16_t slot[VISIT_SLOTS]; /* index into id, -1 empty */
    size_t n;
    int cut; /* a link was not followed: TRACE_LINKS_FOLLOWED reached */
} visit_t;

static int visit_find(const visit_t *v, uint32_t h, const char *id)
{
    for (size_t i = h % VISIT_SLOTS;; i = (i + 1) % VISIT_SLOTS) {
        if (v->slot[i] < 0)
            return -(int)i - 1; /* absent: where it would go */
        if (strcmp(v->id[v->slot[i]], id) == 0)
            return v->slot[i];
    }
}

static void visit_add(visit_t *v, const char *id)
{
    uint32_t h = id_hash(id);
    int at = visit_find(v, h, id);
    if (at >= 0)
        return;
    if (v->n == TRACE_LINKS_FOLLOWED) {
        v->cut = 1;
        return;
    }
    copy_cut(v->id[v->n], TRACE_ID_MAX, id, strlen(id));
    v->slot[-at - 1] = (int16_t)v->n++;
}

/* One pass over the ring, oldest first: a link always leads to hops
 * appended after the hop that names it (the new message's, the queued
 * call's), so adding link targets as they are met finds them all, and a
 * cut answer keeps the journey's start. */
static size_t lookup(const char *key, trace_hop_t *out, size_t max, int *links_cut)
{
    visit_t *v = xmalloc(sizeof *v);
    memset(v->slot, -1, sizeof v->slot);
    v->n = 0;
    v->cut = 0;
    visit_add(v, key);
    size_t found = 0, held = trace_count(), oldest = J.n > J.cap ? (size_t)(J.n % J.cap) : 0;
    for (size_t i = 0; i < held; i++) {
        const trace_hop_t *e = &J.ring[(oldest + i) % J.cap];
        if (visit_find(v, e->hash, e->id) < 0)
            continue;
        if (found++ < max)
            out[found - 1] = *e;
        if (e->link[0])
            visit_add(v, e->link);
    }
    *links_cut = v->cut;
    free(v);
    qsort(out, found < max ? found : max, sizeof *out, hop_cmp);
    return found;
}

size_t trace_lookup(const char *id, trace_hop_t *out, size_t max)
{
    char key[TRACE_ID_MAX + 1];
    int cut;
    if (!J.cap || !trace_key(id, key))
        return 0;
    return lookup(key, out, max, &cut);
}

#define TRACE_JSON_MAX 1000 /* hops a JSON answer lists */

static void put_hop(buf_t *out, const trace_hop_t *h)
{
    char iso[32];
    clock_iso8601(h->ts_us / 1000, iso);
    buf_puts(out, "{\"kind\":");
    jv_write_string(out, trace_kind_name((trace_kind_t)h->kind), strlen(trace_kind_name((trace_kind_t)h->kind)));
    buf_puts(out, ",\"resource\":");
    jv_write_string(out, h->resource, strlen(h->resource));
    buf_puts(out, ",\"detail\":");
    jv_write_string(out, h->detail, strlen(h->detail));
    buf_printf(out, ",\"timestamp\":\"%s\",\"timeUs\":%llu,\"durationUs\":%llu,\"traceId\":", iso,
               (unsigned long long)h->ts_us, (unsigned long long)h->dur_us);
    jv_write_string(out, h->id, strlen(h->id));
    if (h->link[0]) {
        buf_puts(out, ",\"link\":");
        jv_write_string(out, h->link, strlen(h->link));
    }
    buf_putc(out, '}');
}

void trace_write_json(const char *id, buf_t *out)
{
    trace_hop_t *hops = xcalloc(TRACE_JSON_MAX, sizeof *hops);
    char key[TRACE_ID_MAX + 1];
    int cut = 0;
    size_t n = trace_key(id, key) && J.cap ? lookup(key, hops, TRACE_JSON_MAX, &cut) : 0;
    buf_puts(out, "{\"traceId\":");
    jv_write_string(out, key, strlen(key));
    buf_puts(out, ",\"hops\":[");
    for (size_t i = 0; i < n && i < TRACE_JSON_MAX; i++) {
        if (i)
            buf_putc(out, ',');
        put_hop(out, &hops[i]);
    }
    buf_printf(out, "],\"truncated\":%s,\"journalEntries\":%zu}\n", n > TRACE_JSON_MAX || cut ? "true" : "false",
               J.cap);
    free(hops);
}
