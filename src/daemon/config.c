/*
 * config — the settings table and its three readers: defaults, the YAML file
 * (libyaml's document API, so every node carries its line and column), and
 * command-line flags. See config.h.
 *
 * File layout:
 *   server:  { host, port, max_connections, max_connections_per_client, max_pending_requests, max_body_bytes,
 *              idle_timeout_ms, request_timeout_ms }
 *   storage: { data, fsync, fsync_interval_ms, sync_gap_us, segment_mb, compact_mb }
 *   aws:     { account, region }
 *   log:     { level }
 *   trace:   { journal_entries }
 *   limits:  { inflight_per_queue, queue_bytes, total_queue_bytes }
 *   auth:    { mode, clock_skew_s, session_token, ops_token_env,
 *              access_keys: [{ id, secret | secret_env, session_token }] }
 *   queues:
 *     - name: orders
 *       attributes: { VisibilityTimeout: 30, ... }     # AWS attribute names
 *       redrive: { dead_letter_queue: orders-dlq, max_receive_count: 3 }
 *       tags: { team: payments }
 *   topics:
 *     - name: requests
 *       attributes: { DisplayName: Requests }           # AWS attribute names
 *       subscriptions:
 *         - protocol: sqs
 *           queue: division                             # a declared queue (or endpoint: <ARN/URL>)
 *           filter_policy: { operation: [division] }     # YAML or a JSON string
 *           filter_policy_scope: MessageAttributes
 *           raw_message_delivery: true
 *           dead_letter_queue: requests-dlq
 *           delivery_policy: { healthyRetryPolicy: { numRetries: 3 } }
 */
#include "daemon/config.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "util/alloc.h"
#include "util/jv.h"
#include "util/text.h"
#include "daemon/config_int.h"

/* OPT_STR: a string that must not be empty. OPT_OPTSTR: a string that
 * may be empty (not set).
 * OPT_URL: a string that is empty (not set) or an http:// or https:// URL.
 * OPT_CHOICE: one of the '|'-separated choices, stored as its index (long). */
typedef enum { OPT_STR, OPT_OPTSTR, OPT_URL, OPT_INT, OPT_FSYNC, OPT_LOGLEVEL, OPT_CHOICE } opt_type_t;

typedef struct opt_def {
    const char *key;  /* section.name in the file */
    const char *flag; /* --flag on the command line, or NULL */
    opt_type_t type;
    long min, max;
    const char *def;
    size_t off;
    const char *help;
    const char *choices; /* OPT_CHOICE: "a|b|c" */
} opt_def_t;

#define OFF(f) offsetof(config_t, f)

static const opt_def_t opts[] = {
    {"server.host", "--host", OPT_STR, 0, 0, "127.0.0.1", OFF(host), "address to listen on"},
    {"server.port", "--port", OPT_INT, 1, 65535, "4566", OFF(port), "TCP port for every API"},
    {"server.max_connections", "--max-connections", OPT_INT, 1, 1000000, "16384", OFF(max_connections),
     "open connections beyond this get 503"},
    {"limits.inflight_per_queue", NULL, OPT_INT, 1, 10000000, "120000", OFF(inflight_per_queue),
     "messages in flight per queue: beyond it a standard queue's ReceiveMessage gets OverLimit, a FIFO "
     "queue's returns nothing"},
    {"limits.queue_bytes", NULL, OPT_INT, 65536, 1099511627776, "1073741824", OFF(queue_bytes),
     "bytes of messages one queue holds (body + attributes + 512 each): a send beyond it gets OverLimit, a "
     "Publish to it Throttled"},
    {"limits.total_queue_bytes", NULL, OPT_INT, 65536, 1099511627776, "2147483648", OFF(total_queue_bytes),
     "bytes of messages all queues hold together, counted as limits.queue_bytes counts them"},
    {"server.max_connections_per_client", NULL, OPT_INT, 0, 1000000, "0", OFF(max_connections_per_client),
     "open connections from one client address beyond this get 503 (0: no bound)"},
    {"server.max_pending_requests", "--max-pending-requests", OPT_INT, 0, 10000000, "1024", OFF(max_pending_requests),
     "requests in progress (long polls aside) and replies not yet sent beyond which new requests are refused "
     "at once: 503 with Retry-After: 1 in the protocol's shape (0: no bound)"},
    {"server.max_body_bytes", NULL, OPT_INT, 65536, 268435456, "16777216", OFF(max_body_bytes),
     "largest request body (413 beyond)"},
    {"server.idle_timeout_ms", NULL, OPT_INT, 100, 3600000, "60000", OFF(idle_timeout_ms),
     "close keep-alive connections idle this long"},
    {"server.request_timeout_ms", NULL, OPT_INT, 100, 3600000, "60000", OFF(request_timeout_ms),
     "a request must arrive completely within this time (408)"},
    {"server.public_url", "--public-url", OPT_URL, 0, 0, "", OFF(public_url),
     "base URL clients reach Sluice at, for URLs in SNS messages (default http://host:port)"},
    {"server.sns_signing", "--sns-signing", OPT_INT, 0, 1, "0", OFF(sns_signing),
     "1: sign SNS messages (RSA-2048, ~0.7 ms of loop time per enveloped delivery); 0: Signature is empty"},
    {"storage.data", "--data", OPT_STR, 0, 0, "sluice-data", OFF(data_dir), "data directory"},
    {"storage.fsync", "--fsync", OPT_FSYNC, 0, 0, "always", OFF(fsync),
     "always | interval | off: when a mutation counts as durable"},
    {"storage.fsync_interval_ms", NULL, OPT_INT, 1, 60000, "1000", OFF(fsync_interval_ms),
     "fsync period for --fsync interval"},
    {"storage.sync_gap_us", NULL, OPT_INT, 0, 100000, "250", OFF(sync_gap_us),
     "fsync always: fdatasyncs begin at least this many microseconds apart (0: at once)"},
    {"storage.segment_mb", NULL, OPT_INT, 1, 4096, "64", OFF(segment_mb), "log segment size"},
    {"storage.compact_mb", NULL, OPT_INT, 1, 65536, "256", OFF(compact_mb),
     "write a snapshot once this much log has grown since the last"},
    {"aws.account", "--account", OPT_STR, 0, 0, "000000000000", OFF(account), "account id in ARNs and queue URLs"},
    {"aws.region", "--region", OPT_STR, 0, 0, "us-east-1", OFF(region), "region in ARNs"},
    {"server.plugin_threads", NULL, OPT_INT, 0, 256, "0", OFF(plugin_threads),
     "worker threads per plugin function (0: one per CPU, at most its concurrency)"},
    {"trace.journal_entries", NULL, OPT_INT, 0, 16777216, "65536", OFF(trace_entries),
     "hops the trace journal keeps in memory for sluice trace (352 bytes each, touched as used; 0: "
     "no journal)"},
    {"trace.messages", NULL, OPT_CHOICE, 0, 0, "all", OFF(trace_messages),
     "all: a message without a trace header is journaled under its message id; traced: only messages with "
     "one (and gateway requests), for the hot paths' last few per cent",
     "all|traced"},
    {"log.level", "--log-level", OPT_LOGLEVEL, 0, 0, "info", OFF(log_level), "debug | info | warn | error"},
    {"auth.mode", "--auth", OPT_CHOICE, 0, 0, "open", OFF(auth.mode),
     "open | sigv4: verify AWS Signature Version 4 on AWS-protocol requests (keys: auth.access_keys in the file)",
     "open|sigv4"},
    {"auth.clock_skew_s", NULL, OPT_INT, 1, 3600, "900", OFF(auth.clock_skew_s),
     "sigv4: how far X-Amz-Date may be from the server's clock"},
    {"auth.session_token", NULL, OPT_CHOICE, 0, 0, "ignore", OFF(auth.session_token),
     "sigv4: ignore | check (X-Amz-Security-Token must be the key's session_token)", "ignore|check"},
    {"auth.ops_token_env", NULL, OPT_OPTSTR, 0, 0, "", OFF(auth.ops_token_env),
     "the environment variable holding a token GET /metrics and /_sluice/trace/{id} then require as "
     "Authorization: Bearer (empty: they are open; /health and /ready always are)"},
};
#define NOPTS (sizeof opts / sizeof opts[0])

/* ---- values -------------------------------------------------------------------- */

static int opt_check_text(const opt_def_t *d, const char *v, char *why, size_t n)
{
    if (strcmp(d->key, "aws.account") == 0) {
        size_t len = strlen(v);
        int ok = len == 12;
        for (size_t i = 0; ok && i < len; i++)
            ok = v[i] >= '0' && v[i] <= '9';
        if (!ok)
            return snprintf(why, n, "%s: \"%s\" is not a 12-digit account id", d->key, v), -1;
    }
    if (d->type == OPT_URL) {
        if (*v && strncmp(v, "http://", 7) != 0 && strncmp(v, "https://", 8) != 0)
            return snprintf(why, n, "%s: \"%s\" is not an http:// or https:// URL", d->key, v), -1;
    } else if (!*v && d->type == OPT_STR) {
        return snprintf(why, n, "%s: must not be empty", d->key), -1;
    }
    return 0;
}

/* The index of v among d->choices, or -1 (why says which are allowed). */
static long opt_choice(const opt_def_t *d, const char *v, char *why, size_t n)
{
    long i = 0;
    size_t vn = strlen(v);
    for (const char *p = d->choices;; i++) {
        size_t len = strcspn(p, "|");
        if (len == vn && strncmp(p, v, vn) == 0)
            return i;
        if (!p[len])
            break;
        p += len + 1;
    }
    char list[128];
    size_t len = 0;
    for (const char *p = d->choices; *p && len + 3 < sizeof list; p++)
        len += (size_t)snprintf(list + len, sizeof list - len, *p == '|' ? ", " : "%c", *p);
    list[len] = 0;
    snprintf(why, n, "%s: \"%s\" is not one of %s", d->key, v, list);
    return -1;
}

static int opt_set(config_t *c, const opt_def_t *d, const char *v, char *why, size_t n)
{
    void *slot = (char *)c + d->off;
    int64_t iv;
    switch (d->type) {
    case OPT_STR:
    case OPT_OPTSTR:
    case OPT_URL:
        if (opt_check_text(d, v, why, n) != 0)
            return -1;
        free(*(char **)slot);
        *(char **)slot = xstrdup(v);
        return 0;
    case OPT_INT:
        if (text_parse_i64(v, &iv) != 0)
            return snprintf(why, n, "%s: \"%s\" is not an integer", d->key, v), -1;
        if (iv < d->min || iv > d->max)
            return snprintf(why, n, "%s: %s is out of range (%ld..%ld)", d->key, v, d->min, d->max), -1;
        *(long *)slot = (long)iv;
        return 0;
    case OPT_FSYNC:
        if (fsync_policy_parse(v, (fsync_policy_t *)slot) != 0)
            return snprintf(why, n, "%s: \"%s\" is not one of always, interval, off", d->key, v), -1;
        return 0;
    case OPT_LOGLEVEL:
        if (log_level_parse(v, (log_level_t *)slot) != 0)
            return snprintf(why, n, "%s: \"%s\" is not one of debug, info, warn, error", d->key, v), -1;
        return 0;
    case OPT_CHOICE:
        if ((iv = opt_choice(d, v, why, n)) < 0)
            return -1;
        *(long *)slot = (long)iv;
        return 0;
    }
    return -1;
}

void config_defaults(config_t *c)
{
    char why[256];
    memset(c, 0, sizeof *c);
    for (size_t i = 0; i < NOPTS; i++)
        if (opt_set(c, &opts[i], opts[i].def, why, sizeof why) != 0)
            util_fatal(why); /* a default that fails its own rule is a bug */
}

static void queue_free(config_queue_t *q)
{
    free(q->name);
    free(q->dlq);
    kvv_free(&q->attrs);
    kvv_free(&q->tags);
}

static void topic_free(config_topic_t *t)
{
    for (size_t i = 0; i < t->nsubs; i++) {
        config_sub_t *s = &t->subs[i];
        free(s->protocol);
        free(s->endpoint);
        free(s->queue);
        free(s->dlq);
        free(s->function);
        kvv_free(&s->attrs);
    }
    free(t->subs);
    free(t->name);
    kvv_free(&t->attrs);
    kvv_free(&t->tags);
}

void config_free(config_t *c)
{
    for (size_t i = 0; i < c->ntopics; i++)
        topic_free(&c->topics[i]);
    free(c->topics);
    for (size_t i = 0; i < NOPTS; i++)
        if (opts[i].type == OPT_STR || opts[i].type == OPT_OPTSTR || opts[i].type == OPT_URL)
            free(*(char **)((char *)c + opts[i].off));
    for (size_t i = 0; i < c->nqueues; i++)
        queue_free(&c->queues[i]);
    free(c->queues);
    config__free_parts(c);
    free(c->config_path);
    memset(c, 0, sizeof *c);
}

/* ---- YAML -------------------------------------------------------------------------- */

int config__yfail(yctx_t *y, const yaml_node_t *node, const char *fmt, const char *a, const char *b)
{
    char msg[384];
    snprintf(msg, sizeof msg, fmt, a, b ? b : "");
    snprintf(y->why, y->why_len, "%s:%zu:%zu: %s", y->file, node->start_mark.line + 1, node->start_mark.column + 1,
             msg);
    return -1;
}

const char *config__yscalar(const yaml_node_t *n)
{
    return n && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

int config__yexpect(yctx_t *y, const yaml_node_t *n, yaml_node_type_t t, const char *what)
{
    static const char *const names[] = {"nothing", "a scalar", "a list", "a mapping"};
    if (n->type != t)
        return yfail(y, n, "%s must be %s", what, names[t]);
    return 0;
}

static const opt_def_t *opt_find_key(const char *key)
{
    for (size_t i = 0; i < NOPTS; i++)
        if (strcmp(opts[i].key, key) == 0)
            return &opts[i];
    return NULL;
}

static int load_section(yctx_t *y, config_t *c, const char *section, yaml_node_t *map)
{
    if (yexpect(y, map, YAML_MAPPING_NODE, section) != 0)
        return -1;
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
        yaml_node_t *k = yaml_document_get_node(y->doc, p->key), *v = yaml_document_get_node(y->doc, p->value);
        char key[128], why[256];
        snprintf(key, sizeof key, "%s.%s", section, yscalar(k) ? yscalar(k) : "?");
        if (strcmp(key, "auth.access_keys") == 0) { /* the one list among the settings */
            if (config__load_access_keys(y, c, v) != 0)
                return -1;
            continue;
        }
        const opt_def_t *d = opt_find_key(key);
        if (!d)
            return yfail(y, k, "unknown setting %s", key, NULL);
        if (!yscalar(v))
            return yfail(y, v, "%s must be a scalar", key, NULL);
        if (opt_set(c, d, yscalar(v), why, sizeof why) != 0)
            return yfail(y, v, "%s", why, NULL);
    }
    return 0;
}

int config__string_map(yctx_t *y, yaml_node_t *map, const char *what, kvv_t *out)
{
    if (yexpect(y, map, YAML_MAPPING_NODE, what) != 0)
        return -1;
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
        yaml_node_t *k = yaml_document_get_node(y->doc, p->key), *v = yaml_document_get_node(y->doc, p->value);
        if (!yscalar(k) || !yscalar(v))
            return yfail(y, v, "%s: keys and values must be scalars", what, NULL);
        kvv_add(out, yscalar(k), yscalar(v));
    }
    return 0;
}

static int load_redrive(yctx_t *y, yaml_node_t *map, config_queue_t *q)
{
    if (yexpect(y, map, YAML_MAPPING_NODE, "redrive") != 0)
        return -1;
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
        yaml_node_t *k = yaml_document_get_node(y->doc, p->key), *v = yaml_document_get_node(y->doc, p->value);
        const char *ks = yscalar(k), *vs = yscalar(v);
        int64_t n;
        if (ks && vs && strcmp(ks, "dead_letter_queue") == 0)
            free(q->dlq), q->dlq = xstrdup(vs);
        else if (ks && vs && strcmp(ks, "max_receive_count") == 0 && text_parse_i64(vs, &n) == 0 && n >= 1 &&
                 n <= 1000)
            q->max_receive = (long)n;
        else if (ks && strcmp(ks, "max_receive_count") == 0)
            return yfail(y, v, "redrive.max_receive_count must be an integer from 1 to 1000", NULL, NULL);
        else
            return yfail(y, k, "unknown redrive setting %s (dead_letter_queue, max_receive_count)", ks ? ks : "?",
                         NULL);
    }
    if (!q->dlq)
        return yfail(y, map, "redrive needs dead_letter_queue", NULL, NULL);
    if (!q->max_receive)
        q->max_receive = 3;
    return 0;
}

static int load_queue(yctx_t *y, yaml_node_t *map, config_queue_t *q)
{
    if (yexpect(y, map, YAML_MAPPING_NODE, "a queue") != 0)
        return -1;
    q->line = (int)map->start_mark.line + 1;
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
        yaml_node_t *k = yaml_document_get_node(y->doc, p->key), *v = yaml_document_get_node(y->doc, p->value);
        const char *ks = yscalar(k);
        int rc = 0;
        if (ks && strcmp(ks, "name") == 0 && yscalar(v))
            free(q->name), q->name = xstrdup(yscalar(v));
        else if (ks && strcmp(ks, "attributes") == 0)
            rc = load_string_map(y, v, "attributes", &q->attrs);
        else if (ks && strcmp(ks, "tags") == 0)
            rc = load_string_map(y, v, "tags", &q->tags);
        else if (ks && strcmp(ks, "redrive") == 0)
            rc = load_redrive(y, v, q);
        else
            rc = yfail(y, k, "unknown queue setting %s (name, attributes, redrive, tags)", ks ? ks : "?", NULL);
        if (rc != 0)
            return -1;
    }
    if (!q->name)
        return yfail(y, map, "a queue needs a name", NULL, NULL);
    return 0;
}

static int load_queues(yctx_t *y, config_t *c, yaml_node_t *seq)
{
    if (yexpect(y, seq, YAML_SEQUENCE_NODE, "queues") != 0)
        return -1;
    for (yaml_node_item_t *it = seq->data.sequence.items.start; it < seq->data.sequence.items.top; it++) {
        c->queues = xrealloc(c->queues, (c->nqueues + 1) * sizeof *c->queues);
        config_queue_t *q = &c->queues[c->nqueues++];
        memset(q, 0, sizeof *q);
        if (load_queue(y, yaml_document_get_node(y->doc, *it), q) != 0)
            return -1;
    }
    return 0;
}

/* ---- topics ---------------------------------------------------------------------------- */

static int plain_literal(const yaml_node_t *n)
{
    const char *v = (const char *)n->data.scalar.value;
    if (n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
        return 0;
    if (!strcmp(v, "true") || !strcmp(v, "false") || !strcmp(v, "null"))
        return 1;
    jv_doc_t *d = jv_doc_new();
    const jv_t *j = jv_parse_cstr(d, v);
    int num = j && j->type == JV_NUMBER;
    jv_doc_free(d);
    return num;
}

/* Writes node as JSON; depth-bounded. */
int config__yaml_json(yctx_t *y, yaml_node_t *n, buf_t *out, int depth)
{
    if (depth > 32)
        return yfail(y, n, "nested too deeply", NULL, NULL);
    if (n->type == YAML_SCALAR_NODE) {
        const char *v = (const char *)n->data.scalar.value;
        if (plain_literal(n))
            buf_puts(out, v);
        else
            jv_write_string(out, v, n->data.scalar.length);
        return 0;
    }
    if (n->type == YAML_SEQUENCE_NODE) {
        buf_putc(out, '[');
        for (yaml_node_item_t *it = n->data.sequence.items.start; it < n->data.sequence.items.top; it++) {
            if (it != n->data.sequence.items.start)
                buf_putc(out, ',');
            if (yaml_json(y, yaml_document_get_node(y->doc, *it), out, depth + 1) != 0)
                return -1;
        }
        buf_putc(out, ']');
        return 0;
    }
    buf_putc(out, '{');
    for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
        yaml_node_t *k = yaml_document_get_node(y->doc, p->key);
        if (!yscalar(k))
            return yfail(y, k, "keys must be scalars", NULL, NULL);
        if (p != n->data.mapping.pairs.start)
            buf_putc(out, ',');
        jv_write_string(out, yscalar(k), strlen(yscalar(k)));
        buf_putc(out, ':');
        if (yaml_json(y, yaml_document_get_node(y->doc, p->value), out, depth + 1) != 0)
            return -1;
    }
    buf_putc(out, '}');
    return 0;
}

/* A policy: a JSON string as is, or a mapping turned into JSON. */
static int load_policy(yctx_t *y, yaml_node_t *v, const char *attr, kvv_t *attrs)
{
    if (yscalar(v)) {
        kvv_set(attrs, attr, yscalar(v));
        return 0;
    }
    buf_t b = BUF_INIT;
    int rc = yaml_json(y, v, &b, 0);
    if (rc == 0)
        kvv_set(attrs, attr, b.data);
    buf_free(&b);
    return rc;
}

static const struct {
    const char *key, *attr;
    int policy;
} SUB_KEYS[] = {
    {"filter_policy", "FilterPolicy", 1},          {"filter_policy_scope", "FilterPolicyScope", 0},
    {"raw_message_delivery", "RawMessageDelivery", 0}, {"delivery_policy", "DeliveryPolicy", 1},
};

static int load_sub_key(yctx_t *y, const char *ks, yaml_node_t *k, yaml_node_t *v, config_sub_t *s)
{
    for (size_t i = 0; i < sizeof SUB_KEYS / sizeof SUB_KEYS[0]; i++) {
        if (strcmp(ks, SUB_KEYS[i].key) != 0)
            continue;
        if (SUB_KEYS[i].policy)
            return load_policy(y, v, SUB_KEYS[i].attr, &s->attrs);
        if (!yscalar(v))
            return yfail(y, v, "%s must be a scalar", ks, NULL);
        kvv_set(&s->attrs, SUB_KEYS[i].attr, yscalar(v));
        return 0;
    }
    char **slot = !strcmp(ks, "protocol") ? &s->protocol : !strcmp(ks, "endpoint") ? &s->endpoint
                  : !strcmp(ks, "queue")  ? &s->queue    : !strcmp(ks, "dead_letter_queue") ? &s->dlq
                  : !strcmp(ks, "function") ? &s->function : NULL;
    if (!slot)
        return yfail(y, k,
                     "unknown subscription setting %s (protocol, endpoint, queue, function, filter_policy, filter_policy_scope, "
                     "raw_message_delivery, delivery_policy, dead_letter_queue, attributes)",
                     ks, NULL);
    if (!yscalar(v))
        return yfail(y, v, "%s must be a scalar", ks, NULL);
    free(*slot);
    *slot = xstrdup(yscalar(v));
    return 0;
}

static int load_sub(yctx_t *y, yaml_node_t *map, config_sub_t *s)
{
    if (yexpect(y, map, YAML_MAPPING_NODE, "a subscription") != 0)
        return -1;
    s->line = (int)map->start_mark.line + 1;
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
        yaml_node_t *k = yaml_document_get_node(y->doc, p->key), *v = yaml_document_get_node(y->doc, p->value);
        const char *ks = yscalar(k);
        int rc = !ks ? yfail(y, k, "keys must be scalars", NULL, NULL)
                 : strcmp(ks, "attributes") == 0 ? load_string_map(y, v, "attributes", &s->attrs)
                                                 : load_sub_key(y, ks, k, v, s);
        if (rc != 0)
            return -1;
    }
    if (!s->protocol && s->queue)
        s->protocol = xstrdup("sqs");
    if (!s->protocol && s->function)
        s->protocol = xstrdup("lambda");
    if (!s->protocol || (!!s->endpoint + !!s->queue + !!s->function) != 1)
        return yfail(y, map, "a subscription needs a protocol and exactly one of endpoint, queue or function", NULL,
                     NULL);
    return 0;
}

static int load_subs(yctx_t *y, yaml_node_t *seq, config_topic_t *t)
{
    if (yexpect(y, seq, YAML_SEQUENCE_NODE, "subscriptions") != 0)
        return -1;
    for (yaml_node_item_t *it = seq->data.sequence.items.start; it < seq->data.sequence.items.top; it++) {
        t->subs = xrealloc(t->subs, (t->nsubs + 1) * sizeof *t->subs);
        config_sub_t *s = &t->subs[t->nsubs++];
        memset(s, 0, sizeof *s);
        if (load_sub(y, yaml_document_get_node(y->doc, *it), s) != 0)
            return -1;
    }
    return 0;
}

static int load_topic(yctx_t *y, yaml_node_t *map, config_topic_t *t)
{
    if (yexpect(y, map, YAML_MAPPING_NODE, "a topic") != 0)
        return -1;
    t->line = (int)map->start_mark.line + 1;
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
        yaml_node_t *k = yaml_document_get_node(y->doc, p->key), *v = yaml_document_get_node(y->doc, p->value);
        const char *ks = yscalar(k);
        int rc = 0;
        if (ks && strcmp(ks, "name") == 0 && yscalar(v))
            free(t->name), t->name = xstrdup(yscalar(v));
        else if (ks && strcmp(ks, "attributes") == 0)
            rc = load_string_map(y, v, "attributes", &t->attrs);
        else if (ks && strcmp(ks, "tags") == 0)
            rc = load_string_map(y, v, "tags", &t->tags);
        else if (ks && strcmp(ks, "subscriptions") == 0)
            rc = load_subs(y, v, t);
        else
            rc = yfail(y, k, "unknown topic setting %s (name, attributes, tags, subscriptions)", ks ? ks : "?", NULL);
        if (rc != 0)
            return -1;
    }
    if (!t->name)
        return yfail(y, map, "a topic needs a name", NULL, NULL);
    return 0;
}

static int load_topics(yctx_t *y, config_t *c, yaml_node_t *seq)
{
    if (yexpect(y, seq, YAML_SEQUENCE_NODE, "topics") != 0)
        return -1;
    for (yaml_node_item_t *it = seq->data.sequence.items.start; it < seq->data.sequence.items.top; it++) {
        c->topics = xrealloc(c->topics, (c->ntopics + 1) * sizeof *c->topics);
        config_topic_t *t = &c->topics[c->ntopics++];
        memset(t, 0, sizeof *t);
        if (load_topic(y, yaml_document_get_node(y->doc, *it), t) != 0)
            return -1;
    }
    return 0;
}

static int load_root(yctx_t *y, config_t *c, yaml_node_t *root)
{
    if (!root)
        return 0; /* an empty file is a valid, empty configuration */
    if (yexpect(y, root, YAML_MAPPING_NODE, "the configuration") != 0)
        return -1;
    for (yaml_node_pair_t *p = root->data.mapping.pairs.start; p < root->data.mapping.pairs.top; p++) {
        yaml_node_t *k = yaml_document_get_node(y->doc, p->key), *v = yaml_document_get_node(y->doc, p->value);
        const char *ks = yscalar(k);
        int rc;
        if (ks && strcmp(ks, "queues") == 0)
            rc = load_queues(y, c, v);
        else if (ks && strcmp(ks, "topics") == 0)
            rc = load_topics(y, c, v);
        else if (ks && strcmp(ks, "functions") == 0)
            rc = config__load_functions(y, c, v);
        else if (ks && strcmp(ks, "tables") == 0)
            rc = config__load_tables(y, c, v);
        else if (ks && strcmp(ks, "mappings") == 0)
            rc = config__load_mappings(y, c, v);
        else if (ks && strcmp(ks, "gateway") == 0)
            rc = config__load_gateway(y, c, v);
        else if (ks && (!strcmp(ks, "server") || !strcmp(ks, "storage") || !strcmp(ks, "aws") || !strcmp(ks, "log") ||
                        !strcmp(ks, "limits") || !strcmp(ks, "auth") || !strcmp(ks, "trace")))
            rc = load_section(y, c, ks, v);
        else
            rc = yfail(y, k, "unknown section %s (server, storage, aws, log, limits, auth, queues, topics, functions, tables, mappings, gateway)", ks ? ks : "?", NULL);
        if (rc != 0)
            return -1;
    }
    return 0;
}

int config_load_file(config_t *c, const char *path, char *why, size_t why_len)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(why, why_len, "%s: %s", path, strerror(errno));
        return -1;
    }
    yaml_parser_t parser;
    yaml_document_t doc;
    int rc = -1;
    yaml_parser_initialize(&parser);
    yaml_parser_set_input_file(&parser, f);
    if (!yaml_parser_load(&parser, &doc)) {
        snprintf(why, why_len, "%s:%zu:%zu: %s", path, parser.problem_mark.line + 1, parser.problem_mark.column + 1,
                 parser.problem ? parser.problem : "malformed YAML");
    } else {
        yctx_t y = {&doc, path, why, why_len};
        rc = load_root(&y, c, yaml_document_get_root_node(&doc));
        yaml_document_delete(&doc);
    }
    yaml_parser_delete(&parser);
    fclose(f);
    free(c->config_path);
    c->config_path = xstrdup(path);
    return rc;
}

/* ---- flags ------------------------------------------------------------------------------- */

static const opt_def_t *opt_find_flag(const char *flag)
{
    for (size_t i = 0; i < NOPTS; i++)
        if (opts[i].flag && strcmp(opts[i].flag, flag) == 0)
            return &opts[i];
    return NULL;
}

/* "--name value" or "--name=value". */
static int flag_value(int argc, char **argv, int *i, char *name, size_t n, const char **value)
{
    const char *arg = argv[*i], *eq = strchr(arg, '=');
    if (eq) {
        snprintf(name, n, "%.*s", (int)(eq - arg), arg);
        *value = eq + 1;
        return 0;
    }
    snprintf(name, n, "%s", arg);
    if (*i + 1 >= argc)
        return -1;
    *value = argv[++*i];
    return 0;
}

int config_parse_args(config_t *c, int argc, char **argv, char *why, size_t why_len)
{
    /* the file first, so that flags override it wherever they appear */
    for (int i = 0; i < argc; i++) {
        char name[64];
        const char *v;
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
            return 1;
        if (strncmp(argv[i], "--config", 8) == 0 && flag_value(argc, argv, &i, name, sizeof name, &v) == 0 &&
            strcmp(name, "--config") == 0 && config_load_file(c, v, why, why_len) != 0)
            return -1;
    }
    for (int i = 0; i < argc; i++) {
        char name[64];
        const char *v;
        if (flag_value(argc, argv, &i, name, sizeof name, &v) != 0)
            return snprintf(why, why_len, "%s needs a value", argv[i]), -1;
        if (strcmp(name, "--config") == 0)
            continue;
        const opt_def_t *d = opt_find_flag(name);
        if (!d)
            return snprintf(why, why_len, "unknown option %s (see sluice serve --help)", name), -1;
        if (opt_set(c, d, v, why, why_len) != 0)
            return -1;
    }
    return 0;
}

int config__queue_declared(const config_t *c, const char *name)
{
    for (size_t j = 0; j < c->nqueues; j++)
        if (strcmp(c->queues[j].name, name) == 0)
            return 1;
    return 0;
}

static int validate_topics(const config_t *c, char *why, size_t why_len)
{
    for (size_t i = 0; i < c->ntopics; i++) {
        const config_topic_t *t = &c->topics[i];
        for (size_t j = 0; j < i; j++)
            if (strcmp(c->topics[j].name, t->name) == 0)
                return snprintf(why, why_len, "%s:%d: topic %s is declared twice", c->config_path, t->line, t->name),
                       -1;
        for (size_t k = 0; k < t->nsubs; k++) {
            const config_sub_t *s = &t->subs[k];
            const char *missing = s->queue && !config__queue_declared(c, s->queue) ? s->queue
                                  : s->dlq && !config__queue_declared(c, s->dlq)   ? s->dlq
                                                                           : NULL;
            if (missing)
                return snprintf(why, why_len, "%s:%d: topic %s: queue %s is not declared", c->config_path, s->line,
                                t->name, missing),
                       -1;
        }
    }
    return 0;
}

int config_validate(const config_t *c, char *why, size_t why_len)
{
    if (validate_topics(c, why, why_len) != 0 || config__validate_parts(c, why, why_len) != 0)
        return -1;
    for (size_t i = 0; i < c->nqueues; i++) {
        const config_queue_t *q = &c->queues[i];
        for (size_t j = 0; j < i; j++)
            if (strcmp(c->queues[j].name, q->name) == 0)
                return snprintf(why, why_len, "%s:%d: queue %s is declared twice", c->config_path, q->line, q->name),
                       -1;
        if (q->dlq && !config__queue_declared(c, q->dlq))
            return snprintf(why, why_len, "%s:%d: queue %s: dead_letter_queue %s is not declared", c->config_path,
                            q->line, q->name, q->dlq),
                   -1;
    }
    return 0;
}

void config_print_help(const char *prog)
{
    printf("usage: %s serve [--config FILE] [options]\n\n"
           "Runs the Sluice daemon. Options (also settable in the config file):\n",
           prog);
    printf("  %-20s %s\n", "--config FILE", "YAML configuration (see docs/CONFIG.md)");
    for (size_t i = 0; i < NOPTS; i++) {
        if (opts[i].flag)
            printf("  %-20s %s (default %s; file key %s)\n", opts[i].flag, opts[i].help, opts[i].def, opts[i].key);
    }
    printf("\nOther commands:\n"
           "  %s call [options] METHOD PATH   send a request to the gateway, wait for its result\n"
           "  %s queues|topics|functions      list the daemon's resources (--json)\n"
           "  %s requests [--status S]        list the gateway's requests, newest first\n"
           "  %s dlq show|redrive QUEUE       show a dead-letter queue's messages; move them back\n"
           "  %s cost [--prices FILE]         what the traffic seen would cost on AWS\n"
           "  %s trace ID                     the hops of a request: gateway, topic, queue, function, table\n"
           "  %s version                      print the version\n"
           "  %s help                         this text\n"
           "(each command's --help has its options; docs/CLI.md)\n",
           prog, prog, prog, prog, prog, prog, prog, prog);
}
