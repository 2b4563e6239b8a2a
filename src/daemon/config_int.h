/*
 * config_int — what config.c shares with config_parts.c (the functions,
 * tables and mappings sections): the YAML reading context and its helpers.
 * Every error names file:line:col.
 */
#ifndef SLUICE_CONFIG_INT_H
#define SLUICE_CONFIG_INT_H

#include <yaml.h>

#include "daemon/config.h"
#include "util/buf.h"

typedef struct yctx {
    yaml_document_t *doc;
    const char *file;
    char *why;
    size_t why_len;
} yctx_t;

/* Writes "file:line:col: <fmt with a, b>" into y->why; returns -1. */
int config__yfail(yctx_t *y, const yaml_node_t *node, const char *fmt, const char *a, const char *b);
#define yfail config__yfail
#define yscalar config__yscalar
#define yexpect config__yexpect
#define load_string_map config__string_map
#define yaml_json config__yaml_json
const char *config__yscalar(const yaml_node_t *n);
int config__yexpect(yctx_t *y, const yaml_node_t *n, yaml_node_type_t t, const char *what);
int config__string_map(yctx_t *y, yaml_node_t *map, const char *what, kvv_t *out);
/* A node as JSON (scalars that read as numbers, booleans, null keep their type). */
int config__yaml_json(yctx_t *y, yaml_node_t *n, buf_t *out, int depth);

/* config_parts.c */
int config__load_functions(yctx_t *y, config_t *c, yaml_node_t *seq);
int config__load_tables(yctx_t *y, config_t *c, yaml_node_t *seq);
int config__load_mappings(yctx_t *y, config_t *c, yaml_node_t *seq);
int config__load_gateway(yctx_t *y, config_t *c, yaml_node_t *map);
int config__load_access_keys(yctx_t *y, config_t *c, yaml_node_t *seq);
void config__free_parts(config_t *c);
int config__queue_declared(const config_t *c, const char *name);
int config__validate_parts(const config_t *c, char *why, size_t why_len);

#endif
