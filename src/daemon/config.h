/*
 * config — Sluice's settings, one table (name, type, bounds, default, flag,
 * help) that drives the YAML file, the command-line flags, validation and
 * `--help` alike. Precedence: built-in default < config file < flag.
 *
 * The file may also declare queues; they are created (or brought to the
 * declared attributes) at start, after recovery. Errors name the place:
 * "sluice.yaml:12:5: server.port: 70000 is out of range (1..65535)".
 */
#ifndef SLUICE_CONFIG_H
#define SLUICE_CONFIG_H

#include <stddef.h>

#include "store/store.h"
#include "util/kv.h"
#include "util/logging.h"

typedef struct config_queue {
    char *name;
    kvv_t attrs; /* AWS attribute names → values; RedrivePolicy as JSON */
    kvv_t tags;
    char *dlq;   /* redrive.dead_letter_queue: a queue name, resolved to its ARN */
    long max_receive;
    int line;
} config_queue_t;

/* A subscription declared under a topic. Policies given as YAML mappings
 * are turned into JSON (plain scalars that read as numbers, booleans or
 * null keep that type; quoted scalars are strings). */
typedef struct config_sub {
    char *protocol;
    char *endpoint; /* as given, or NULL when queue names a declared queue */
    char *queue;
    kvv_t attrs;    /* AWS subscription attribute names → values (JSON for policies) */
    char *dlq;      /* dead_letter_queue: a queue name, resolved to RedrivePolicy */
    char *function; /* a declared function (protocol lambda) */
    int line;
} config_sub_t;

typedef struct config_topic {
    char *name;
    kvv_t attrs;
    kvv_t tags;
    config_sub_t *subs;
    size_t nsubs;
    int line;
} config_topic_t;

/* functions: (see config_parts.c for keys and bounds) */
typedef struct config_function {
    char *name, *kind, *handler, *command, *dir, *on_success, *on_failure;
    kvv_t env;
    long timeout_ms, concurrency, memory_mb, max_retries;
    int line;
} config_function_t;

typedef struct config_table {
    char *name, *partition_key, *sort_key, *ttl_attribute;
    strv_t indexes;
    int line;
} config_table_t;

typedef struct config_mapping {
    char *function, *queue, *on_success, *on_failure;
    long batch_size, batching_window, max_concurrency, rate, report_failures, enabled;
    int line;
} config_mapping_t;

/* gateway: (see config_parts.c) */
typedef struct config_route {
    char *method, *path, *integration, *topic, *queue, *id_from, *schema, *upstream;
    char *table, *key, *index, *function, *payload; /* item; invoke */
    strv_t fields;                                  /* item */
    kvv_t attributes;
    long sla, api_key, timeout;
    int line;
} config_route_t;

typedef struct config_plan {
    char *name, *rate, *period;
    long burst, quota;
    int line;
} config_plan_t;

typedef struct config_api_key {
    char *name, *hash, *plan;
    long enabled;
    int line;
} config_api_key_t;

typedef struct config_gateway {
    char *results_table;
    long results_ttl;
    config_route_t *routes;
    size_t nroutes;
    config_plan_t *plans;
    size_t nplans;
    config_api_key_t *keys;
    size_t nkeys;
} config_gateway_t;

/* auth: (see config_parts.c) */
typedef enum { CONFIG_AUTH_OPEN, CONFIG_AUTH_SIGV4 } config_auth_mode_t;
typedef enum { CONFIG_TOKEN_IGNORE, CONFIG_TOKEN_CHECK } config_token_policy_t;

typedef struct config_access_key {
    char *id, *secret, *secret_env, *session_token; /* secret_env is read into secret at load */
    int line;
} config_access_key_t;

typedef struct config_auth {
    long mode;          /* config_auth_mode_t */
    long clock_skew_s;
    long session_token; /* config_token_policy_t */
    char *ops_token_env; /* names the variable holding the bearer token of /metrics and traces; "" none */
    config_access_key_t *keys;
    size_t nkeys;
} config_auth_t;

typedef struct config {
    char *host;
    long port;
    char *data_dir;
    fsync_policy_t fsync;
    long fsync_interval_ms;
    long sync_gap_us;
    char *account;
    char *region;
    log_level_t log_level;
    long trace_entries; /* trace.journal_entries */
    long trace_messages; /* trace.messages: 0 all, 1 traced */
    long max_connections;
    long inflight_per_queue;
    long queue_bytes;       /* limits.queue_bytes */
    long total_queue_bytes; /* limits.total_queue_bytes */
    long max_connections_per_client;
    long max_pending_requests;
    long max_body_bytes;
    long idle_timeout_ms;
    long request_timeout_ms;
    long segment_mb;
    long compact_mb;
    char *config_path;
    config_queue_t *queues;
    size_t nqueues;
    config_topic_t *topics;
    size_t ntopics;
    char *public_url;
    long sns_signing;
    long plugin_threads;
    config_function_t *functions;
    size_t nfunctions;
    config_table_t *tables;
    size_t ntables;
    config_mapping_t *mappings;
    size_t nmappings;
    config_gateway_t gateway;
    config_auth_t auth;
} config_t;

void config_defaults(config_t *c);
void config_free(config_t *c);
/* Loads a YAML file over c. 0, or -1 with "file:line:col: what" in why. */
int config_load_file(config_t *c, const char *path, char *why, size_t why_len);
/* Parses `serve` flags (argv[0] is the first flag). --config is read first so
 * flags win over the file. 0, 1 when --help was shown, -1 on error (why). */
int config_parse_args(config_t *c, int argc, char **argv, char *why, size_t why_len);
/* Checks the whole configuration (queues' names, DLQ references). */
int config_validate(const config_t *c, char *why, size_t why_len);
void config_print_help(const char *prog);

#endif
