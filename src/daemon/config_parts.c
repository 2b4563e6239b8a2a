/*
 * config_parts — the functions, tables and mappings sections of the config
 * file, each read through one field table (key, type, bounds, default,
 * where it goes), so the reader, the defaults and the error texts agree:
 *
 *   functions:
 *     - name: division
 *       kind: plugin | process | http
 *       handler: path.so[:symbol] | module.function | http://url
 *       command: ../examples/runtimes/python/bootstrap  # process
 *       dir: ../examples/workers/python                  # process: LAMBDA_TASK_ROOT
 *       (relative paths are from the config file's directory: daemon.c)
 *       environment: { KEY: value }                      # process
 *       timeout: 3            # seconds (or timeout_ms)
 *       concurrency: 10
 *       memory: 512           # MB, process address-space limit (0: none)
 *       max_retries: 2        # asynchronous invocations
 *       on_success: table:results
 *       on_failure: queue:failures
 *   tables:
 *     - name: results
 *       partition_key: requestId
 *       sort_key: createdAt                 # optional
 *       indexes: [messageId]
 *       ttl_attribute: expiresAt
 *   mappings:
 *     - function: division
 *       queue: division
 *       batch_size: 10
 *       batching_window: 0    # seconds
 *       max_concurrency: 2
 *       rate: 100             # messages per second at most (0: no limit)
 *       report_batch_item_failures: true
 *       enabled: true
 *       on_success: table:results
 *       on_failure: table:results
 *   auth:                     # (mode, clock_skew_s, session_token: config.c's table)
 *     access_keys:
 *       - id: AKIAEXAMPLE
 *         secret: "..."       # or secret_env: NAME, read from the environment at load
 *         session_token: ...  # with session_token: check
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/config_int.h"
#include "proto/sigv4.h"
#include "util/alloc.h"
#include "util/text.h"

typedef enum { F_STR, F_INT, F_SECONDS_MS, F_BOOL, F_ENV, F_LIST, F_JSON } ftype_t;

typedef struct field {
    const char *key;
    ftype_t type;
    size_t off;
    long min, max;
    const char *def; /* NULL: no default */
} field_t;

typedef struct part {
    const char *what;     /* "function" */
    const field_t *fields;
    size_t nfields;
    size_t size;          /* of one entity */
    size_t line_off;
    const char *required; /* a field that must be set */
} part_t;

#define FF(f) offsetof(config_function_t, f)
static const field_t FUNCTION_FIELDS[] = {
    {"name", F_STR, FF(name), 0, 0, NULL},
    {"kind", F_STR, FF(kind), 0, 0, "plugin"},
    {"handler", F_STR, FF(handler), 0, 0, NULL},
    {"command", F_STR, FF(command), 0, 0, NULL},
    {"dir", F_STR, FF(dir), 0, 0, NULL},
    {"environment", F_ENV, FF(env), 0, 0, NULL},
    {"timeout", F_SECONDS_MS, FF(timeout_ms), 1, 900, "3"},
    {"timeout_ms", F_INT, FF(timeout_ms), 1, 900000, NULL},
    {"concurrency", F_INT, FF(concurrency), 1, 1000, "10"},
    {"memory", F_INT, FF(memory_mb), 0, 10240, "0"},
    {"max_retries", F_INT, FF(max_retries), 0, 2, "2"},
    {"on_success", F_STR, FF(on_success), 0, 0, NULL},
    {"on_failure", F_STR, FF(on_failure), 0, 0, NULL},
};

#define TF(f) offsetof(config_table_t, f)
static const field_t TABLE_FIELDS[] = {
    {"name", F_STR, TF(name), 0, 0, NULL},
    {"partition_key", F_STR, TF(partition_key), 0, 0, NULL},
    {"sort_key", F_STR, TF(sort_key), 0, 0, NULL},
    {"indexes", F_LIST, TF(indexes), 0, 0, NULL},
    {"ttl_attribute", F_STR, TF(ttl_attribute), 0, 0, NULL},
};

#define MF(f) offsetof(config_mapping_t, f)
static const field_t MAPPING_FIELDS[] = {
    {"function", F_STR, MF(function), 0, 0, NULL},
    {"queue", F_STR, MF(queue), 0, 0, NULL},
    {"batch_size", F_INT, MF(batch_size), 1, 10000, "10"},
    {"batching_window", F_INT, MF(batching_window), 0, 300, "0"},
    {"max_concurrency", F_INT, MF(max_concurrency), 2, 1000, NULL},
    {"rate", F_INT, MF(rate), 0, 1000000, "0"},
    {"report_batch_item_failures", F_BOOL, MF(report_failures), 0, 1, "false"},
    {"enabled", F_BOOL, MF(enabled), 0, 1, "true"},
    {"on_success", F_STR, MF(on_success), 0, 0, NULL},
    {"on_failure", F_STR, MF(on_failure), 0, 0, NULL},
};

#define RF(f) offsetof(config_route_t, f)
static const field_t ROUTE_FIELDS[] = {
    {"method", F_STR, RF(method), 0, 0, "POST"},
    {"path", F_STR, RF(path), 0, 0, NULL},
    {"integration", F_STR, RF(integration), 0, 0, NULL},
    {"topic", F_STR, RF(topic), 0, 0, NULL},
    {"queue", F_STR, RF(queue), 0, 0, NULL},
    {"id_from", F_STR, RF(id_from), 0, 0, NULL},
    {"table", F_STR, RF(table), 0, 0, NULL},
    {"key", F_STR, RF(key), 0, 0, NULL},
    {"index", F_STR, RF(index), 0, 0, NULL},
    {"fields", F_LIST, RF(fields), 0, 0, NULL},
    {"function", F_STR, RF(function), 0, 0, NULL},
    {"payload", F_STR, RF(payload), 0, 0, "body"},
    {"attributes", F_ENV, RF(attributes), 0, 0, NULL},
    {"schema", F_JSON, RF(schema), 0, 0, NULL},
    {"sla", F_INT, RF(sla), 1, 86400, "30"},
    {"api_key", F_BOOL, RF(api_key), 0, 1, "false"},
    {"upstream", F_STR, RF(upstream), 0, 0, NULL},
    {"timeout", F_INT, RF(timeout), 1, 300, "29"},
};

#define PF(f) offsetof(config_plan_t, f)
static const field_t PLAN_FIELDS[] = {
    {"name", F_STR, PF(name), 0, 0, NULL},
    {"rate", F_STR, PF(rate), 0, 0, NULL},
    {"burst", F_INT, PF(burst), 1, 1000000, NULL},
    {"quota", F_INT, PF(quota), 1, 1000000000000L, NULL},
    {"period", F_STR, PF(period), 0, 0, NULL},
};

#define KF(f) offsetof(config_api_key_t, f)
static const field_t KEY_FIELDS[] = {
    {"name", F_STR, KF(name), 0, 0, NULL},
    {"hash", F_STR, KF(hash), 0, 0, NULL},
    {"plan", F_STR, KF(plan), 0, 0, NULL},
    {"enabled", F_BOOL, KF(enabled), 0, 1, "true"},
};

#define AF(f) offsetof(config_access_key_t, f)
static const field_t ACCESS_KEY_FIELDS[] = {
    {"id", F_STR, AF(id), 0, 0, NULL},
    {"secret", F_STR, AF(secret), 0, 0, NULL},
    {"secret_env", F_STR, AF(secret_env), 0, 0, NULL},
    {"session_token", F_STR, AF(session_token), 0, 0, NULL},
};

#define NF(a) (sizeof a / sizeof a[0])
static const part_t ROUTES = {"route", ROUTE_FIELDS, NF(ROUTE_FIELDS), sizeof(config_route_t),
                              offsetof(config_route_t, line), "path"};
static const part_t PLANS = {"usage plan", PLAN_FIELDS, NF(PLAN_FIELDS), sizeof(config_plan_t),
                             offsetof(config_plan_t, line), "name"};
static const part_t KEYS = {"API key", KEY_FIELDS, NF(KEY_FIELDS), sizeof(config_api_key_t),
                            offsetof(config_api_key_t, line), "hash"};
static const part_t FUNCTIONS = {"function", FUNCTION_FIELDS, NF(FUNCTION_FIELDS), sizeof(config_function_t),
                                 offsetof(config_function_t, line), "name"};
static const part_t TABLES = {"table", TABLE_FIELDS, NF(TABLE_FIELDS), sizeof(config_table_t),
                              offsetof(config_table_t, line), "partition_key"};
static const part_t MAPPINGS = {"mapping", MAPPING_FIELDS, NF(MAPPING_FIELDS), sizeof(config_mapping_t),
                                offsetof(config_mapping_t, line), "queue"};
static const part_t ACCESS_KEYS = {"access key", ACCESS_KEY_FIELDS, NF(ACCESS_KEY_FIELDS),
                                   sizeof(config_access_key_t), offsetof(config_access_key_t, line), "id"};

/* ---- one field ------------------------------------------------------------------------------ */

static int set_int(yctx_t *y, yaml_node_t *v, const field_t *f, const char *s, void *slot)
{
    int64_t n;
    if (text_parse_i64(s, &n) != 0 || n < f->min || n > f->max) {
        char range[64];
        snprintf(range, sizeof range, "%ld..%ld", f->min, f->max);
        return yfail(y, v, "%s must be an integer in %s", f->key, range);
    }
    *(long *)slot = f->type == F_SECONDS_MS ? (long)n * 1000 : (long)n;
    return 0;
}

static int set_scalar(yctx_t *y, yaml_node_t *v, const field_t *f, const char *s, void *slot)
{
    switch (f->type) {
    case F_STR:
        free(*(char **)slot);
        *(char **)slot = xstrdup(s);
        return 0;
    case F_INT:
    case F_SECONDS_MS:
        return set_int(y, v, f, s, slot);
    case F_BOOL:
        if (strcmp(s, "true") != 0 && strcmp(s, "false") != 0)
            return yfail(y, v, "%s must be true or false", f->key, NULL);
        *(long *)slot = s[0] == 't';
        return 0;
    default:
        return -1;
    }
}

static int set_list(yctx_t *y, yaml_node_t *v, const field_t *f, strv_t *out)
{
    if (yexpect(y, v, YAML_SEQUENCE_NODE, f->key) != 0)
        return -1;
    for (yaml_node_item_t *it = v->data.sequence.items.start; it < v->data.sequence.items.top; it++) {
        const char *s = yscalar(yaml_document_get_node(y->doc, *it));
        if (!s)
            return yfail(y, v, "%s must be a list of names", f->key, NULL);
        strv_add(out, s);
    }
    return 0;
}

static int set_field(yctx_t *y, yaml_node_t *v, const field_t *f, void *slot)
{
    if (f->type == F_ENV)
        return load_string_map(y, v, f->key, slot);
    if (f->type == F_JSON) { /* any YAML, kept as JSON text */
        buf_t b = BUF_INIT;
        if (yaml_json(y, v, &b, 0) != 0) {
            buf_free(&b);
            return -1;
        }
        free(*(char **)slot);
        *(char **)slot = buf_detach(&b, NULL);
        return 0;
    }
    if (f->type == F_LIST)
        return set_list(y, v, f, slot);
    if (!yscalar(v))
        return yfail(y, v, "%s must be a scalar", f->key, NULL);
    return set_scalar(y, v, f, yscalar(v), slot);
}

/* ---- one entity ------------------------------------------------------------------------------- */

static void field_names(const part_t *p, char *out, size_t n)
{
    size_t len = 0;
    out[0] = 0;
    for (size_t i = 0; i < p->nfields && len + 1 < n; i++)
        len += (size_t)snprintf(out + len, n - len, "%s%s", i ? ", " : "", p->fields[i].key);
}

static int load_entity(yctx_t *y, const part_t *p, yaml_node_t *map, void *e)
{
    if (yexpect(y, map, YAML_MAPPING_NODE, p->what) != 0)
        return -1;
    *(int *)((char *)e + p->line_off) = (int)map->start_mark.line + 1;
    for (size_t i = 0; i < p->nfields; i++)
        if (p->fields[i].def && set_scalar(y, map, &p->fields[i], p->fields[i].def, (char *)e + p->fields[i].off))
            return -1;
    for (yaml_node_pair_t *kv = map->data.mapping.pairs.start; kv < map->data.mapping.pairs.top; kv++) {
        yaml_node_t *k = yaml_document_get_node(y->doc, kv->key), *v = yaml_document_get_node(y->doc, kv->value);
        const char *ks = yscalar(k);
        const field_t *f = NULL;
        for (size_t i = 0; ks && i < p->nfields && !f; i++)
            f = strcmp(p->fields[i].key, ks) == 0 ? &p->fields[i] : NULL;
        if (!f) {
            char names[512];
            field_names(p, names, sizeof names);
            char what[64];
            snprintf(what, sizeof what, "unknown %s setting %s", p->what, ks ? ks : "?");
            return yfail(y, k, "%s (%s)", what, names);
        }
        if (set_field(y, v, f, (char *)e + f->off) != 0)
            return -1;
    }
    for (size_t i = 0; i < p->nfields; i++)
        if (strcmp(p->fields[i].key, p->required) == 0 && !*(char **)((char *)e + p->fields[i].off))
            return yfail(y, map, "a %s needs %s", p->what, p->required);
    return 0;
}

static int load_part(yctx_t *y, const part_t *p, yaml_node_t *seq, void **arr, size_t *n)
{
    char what[32];
    snprintf(what, sizeof what, "%ss", p->what);
    if (yexpect(y, seq, YAML_SEQUENCE_NODE, what) != 0)
        return -1;
    for (yaml_node_item_t *it = seq->data.sequence.items.start; it < seq->data.sequence.items.top; it++) {
        *arr = xrealloc(*arr, (*n + 1) * p->size);
        void *e = (char *)*arr + *n * p->size;
        memset(e, 0, p->size);
        (*n)++;
        if (load_entity(y, p, yaml_document_get_node(y->doc, *it), e) != 0)
            return -1;
    }
    return 0;
}

int config__load_functions(yctx_t *y, config_t *c, yaml_node_t *seq)
{
    return load_part(y, &FUNCTIONS, seq, (void **)&c->functions, &c->nfunctions);
}

int config__load_tables(yctx_t *y, config_t *c, yaml_node_t *seq)
{
    if (load_part(y, &TABLES, seq, (void **)&c->tables, &c->ntables) != 0)
        return -1;
    for (size_t i = 0; i < c->ntables; i++)
        if (!c->tables[i].name)
            return yfail(y, seq, "a table needs a name", NULL, NULL);
    return 0;
}

int config__load_mappings(yctx_t *y, config_t *c, yaml_node_t *seq)
{
    if (load_part(y, &MAPPINGS, seq, (void **)&c->mappings, &c->nmappings) != 0)
        return -1;
    for (size_t i = 0; i < c->nmappings; i++)
        if (!c->mappings[i].function)
            return yfail(y, seq, "a mapping needs a function", NULL, NULL);
    return 0;
}

/* A key's secret, given in the file or named by secret_env (so the file can
 * be shared without it); read once, at load. */
static int access_key_secret(yctx_t *y, yaml_node_t *node, config_access_key_t *k)
{
    if (!!k->secret == !!k->secret_env)
        return yfail(y, node, "access key %s needs exactly one of secret and secret_env", k->id, NULL);
    if (k->secret_env) {
        const char *s = getenv(k->secret_env);
        if (!s || !*s)
            return yfail(y, node, "access key %s: environment variable %s is not set", k->id, k->secret_env);
        k->secret = xstrdup(s);
    }
    if (!*k->secret)
        return yfail(y, node, "access key %s: secret is empty", k->id, NULL);
    return 0;
}

int config__load_access_keys(yctx_t *y, config_t *c, yaml_node_t *seq)
{
    config_auth_t *a = &c->auth;
    size_t first = a->nkeys;
    if (load_part(y, &ACCESS_KEYS, seq, (void **)&a->keys, &a->nkeys) != 0)
        return -1;
    yaml_node_item_t *it = seq->data.sequence.items.start;
    for (size_t i = first; i < a->nkeys; i++, it++) {
        yaml_node_t *node = yaml_document_get_node(y->doc, *it);
        if (!sigv4_key_id_valid(a->keys[i].id))
            return yfail(y, node, "access key id %s must be 1..128 of A-Z a-z 0-9 _", a->keys[i].id, NULL);
        if (access_key_secret(y, node, &a->keys[i]) != 0)
            return -1;
    }
    return 0;
}

/* ---- release and cross-checks -------------------------------------------------------------------- */

static void free_entity(const part_t *p, void *e)
{
    for (size_t i = 0; i < p->nfields; i++) {
        void *slot = (char *)e + p->fields[i].off;
        if (p->fields[i].type == F_STR || p->fields[i].type == F_JSON)
            free(*(char **)slot);
        else if (p->fields[i].type == F_ENV)
            kvv_free(slot);
        else if (p->fields[i].type == F_LIST)
            strv_free(slot);
    }
}

/* gateway: a mapping of results_table, results_ttl and the lists of routes,
 * usage_plans and api_keys. */
int config__load_gateway(yctx_t *y, config_t *c, yaml_node_t *map)
{
    config_gateway_t *g = &c->gateway;
    if (yexpect(y, map, YAML_MAPPING_NODE, "gateway") != 0)
        return -1;
    g->results_ttl = 86400;
    for (yaml_node_pair_t *kv = map->data.mapping.pairs.start; kv < map->data.mapping.pairs.top; kv++) {
        yaml_node_t *k = yaml_document_get_node(y->doc, kv->key), *v = yaml_document_get_node(y->doc, kv->value);
        const char *ks = yscalar(k);
        int rc;
        if (ks && strcmp(ks, "routes") == 0) {
            rc = load_part(y, &ROUTES, v, (void **)&g->routes, &g->nroutes);
        } else if (ks && strcmp(ks, "usage_plans") == 0) {
            rc = load_part(y, &PLANS, v, (void **)&g->plans, &g->nplans);
        } else if (ks && strcmp(ks, "api_keys") == 0) {
            rc = load_part(y, &KEYS, v, (void **)&g->keys, &g->nkeys);
        } else if (ks && strcmp(ks, "results_table") == 0 && yscalar(v)) {
            free(g->results_table);
            g->results_table = xstrdup(yscalar(v));
            rc = 0;
        } else if (ks && strcmp(ks, "results_ttl") == 0) {
            static const field_t ttl = {"results_ttl", F_INT, 0, 60, 31536000, NULL};
            rc = yscalar(v) ? set_int(y, v, &ttl, yscalar(v), &g->results_ttl) : yfail(y, v, "results_ttl must be "
                                                                                            "seconds", NULL, NULL);
        } else {
            rc = yfail(y, k, "unknown gateway setting %s (results_table, results_ttl, routes, usage_plans, api_keys)",
                       ks ? ks : "?", NULL);
        }
        if (rc != 0)
            return -1;
    }
    return 0;
}

void config__free_parts(config_t *c)
{
    config_gateway_t *g = &c->gateway;
    for (size_t i = 0; i < g->nroutes; i++)
        free_entity(&ROUTES, &g->routes[i]);
    for (size_t i = 0; i < g->nplans; i++)
        free_entity(&PLANS, &g->plans[i]);
    for (size_t i = 0; i < g->nkeys; i++)
        free_entity(&KEYS, &g->keys[i]);
    free(g->routes);
    free(g->plans);
    free(g->keys);
    free(g->results_table);
    for (size_t i = 0; i < c->nfunctions; i++)
        free_entity(&FUNCTIONS, &c->functions[i]);
    for (size_t i = 0; i < c->ntables; i++)
        free_entity(&TABLES, &c->tables[i]);
    for (size_t i = 0; i < c->nmappings; i++)
        free_entity(&MAPPINGS, &c->mappings[i]);
    free(c->functions);
    free(c->tables);
    free(c->mappings);
    for (size_t i = 0; i < c->auth.nkeys; i++)
        free_entity(&ACCESS_KEYS, &c->auth.keys[i]);
    free(c->auth.keys);
}

static int function_declared(const config_t *c, const char *name)
{
    for (size_t i = 0; i < c->nfunctions; i++)
        if (strcmp(c->functions[i].name, name) == 0)
            return 1;
    return 0;
}

static int validate_functions(const config_t *c, char *why, size_t n)
{
    for (size_t i = 0; i < c->nfunctions; i++) {
        const config_function_t *f = &c->functions[i];
        const char *k = f->kind;
        if (strcmp(k, "plugin") && strcmp(k, "process") && strcmp(k, "http"))
            return snprintf(why, n, "%s:%d: function %s: kind must be plugin, process or http", c->config_path,
                            f->line, f->name), -1;
        if (!f->handler)
            return snprintf(why, n, "%s:%d: function %s needs a handler", c->config_path, f->line, f->name), -1;
        if (!strcmp(k, "process") && !f->command)
            return snprintf(why, n, "%s:%d: function %s: a process function needs a command", c->config_path,
                            f->line, f->name), -1;
        for (size_t j = 0; j < i; j++)
            if (strcmp(c->functions[j].name, f->name) == 0)
                return snprintf(why, n, "%s:%d: function %s is declared twice", c->config_path, f->line, f->name),
                       -1;
    }
    return 0;
}

static int validate_mappings(const config_t *c, char *why, size_t n)
{
    for (size_t i = 0; i < c->nmappings; i++) {
        const config_mapping_t *m = &c->mappings[i];
        if (!function_declared(c, m->function))
            return snprintf(why, n, "%s:%d: mapping: function %s is not declared", c->config_path, m->line,
                            m->function), -1;
        if (!config__queue_declared(c, m->queue))
            return snprintf(why, n, "%s:%d: mapping: queue %s is not declared", c->config_path, m->line, m->queue),
                   -1;
    }
    return 0;
}

static int validate_subs(const config_t *c, char *why, size_t n)
{
    for (size_t i = 0; i < c->ntopics; i++)
        for (size_t k = 0; k < c->topics[i].nsubs; k++) {
            const config_sub_t *s = &c->topics[i].subs[k];
            if (s->function && !function_declared(c, s->function))
                return snprintf(why, n, "%s:%d: topic %s: function %s is not declared", c->config_path, s->line,
                                c->topics[i].name, s->function), -1;
        }
    return 0;
}

static int validate_auth(const config_t *c, char *why, size_t n)
{
    const config_auth_t *a = &c->auth;
    if (a->mode == CONFIG_AUTH_SIGV4 && !a->nkeys)
        return snprintf(why, n, "%s: auth.mode sigv4 needs at least one key in auth.access_keys",
                        c->config_path ? c->config_path : "(no config file)"), -1;
    for (size_t i = 0; i < a->nkeys; i++)
        for (size_t j = 0; j < i; j++)
            if (strcmp(a->keys[j].id, a->keys[i].id) == 0)
                return snprintf(why, n, "%s:%d: access key %s is listed twice", c->config_path, a->keys[i].line,
                                a->keys[i].id), -1;
    return 0;
}

int config__validate_parts(const config_t *c, char *why, size_t n)
{
    if (validate_functions(c, why, n) != 0 || validate_mappings(c, why, n) != 0 || validate_subs(c, why, n) != 0 ||
        validate_auth(c, why, n) != 0)
        return -1;
    for (size_t i = 0; i < c->ntables; i++)
        for (size_t j = 0; j < i; j++)
            if (strcmp(c->tables[j].name, c->tables[i].name) == 0)
                return snprintf(why, n, "%s:%d: table %s is declared twice", c->config_path, c->tables[i].line,
                                c->tables[i].name), -1;
    return 0;
}
