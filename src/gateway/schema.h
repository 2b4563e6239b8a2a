/*
 * schema — request validation for gateway routes against a subset of JSON
 * Schema, the way API Gateway checks a request body against a route's model:
 * the route's schema is compiled once when the config loads, and every
 * request body is validated against it before the gateway accepts the work.
 *
 * The subset. Keywords of draft 2020-12 (the same meaning in draft-07):
 *   type (a name or an array of names), enum, const;
 *   minimum, maximum, exclusiveMinimum, exclusiveMaximum;
 *   minLength, maxLength, pattern;
 *   items (one schema for every element), minItems, maxItems;
 *   properties, required, additionalProperties.
 * true and false are schemas too. The annotations $schema, $id, title,
 * description, examples, default and $comment are accepted and ignored.
 * Every other keyword ($ref, allOf, format, tuple-form items, draft-04's
 * boolean exclusiveMinimum, a misspelling, ...) is refused at compile time:
 * a keyword that silently validated nothing would let bad requests through.
 *
 * Semantics, where the spec leaves room or an implementation often slips:
 *   - numbers compare exactly, as decimals read from their JSON text: no
 *     rounding through double or long double (whose width differs between
 *     platforms), so 10.0000000000000000001 is more than 10, 1.0 is an
 *     integer and 1e400 is not infinity. Exponents are clamped to ±1e18.
 *   - minLength/maxLength count Unicode code points, not bytes.
 *   - pattern is an ECMA-262 style regular expression run by PCRE2 (see
 *     schema.c for the options), searched unanchored as the spec says:
 *     "^...$" anchors explicitly.
 *   - enum and const use JSON equality: numbers by value (1 equals 1.0),
 *     objects whatever their key order, arrays element by element.
 *   - a key that occurs more than once in a request object is checked in
 *     every occurrence, since a reader downstream may take either.
 *
 * Messages. A compile error names the offending keyword by its path in the
 * schema: "properties.number.minimum: must be a number". A validation
 * failure names the offending value by its path from the request's root,
 * the rule it broke and, in parentheses, the keyword holding the rule:
 *   $.number: required property missing (required)
 *   $.operation: must be one of "division", "multiplication" (enum)
 *   $.items[2]: must be at most 10 (maximum)
 * Keys that are not identifiers are written as ["a b"]. The first failure
 * in the schema's declaration order is the one reported: keywords in the
 * order written, properties in the order declared, elements in order.
 *
 * Depth. A schema nests at most SCHEMA_MAX_DEPTH levels (the root is level
 * 1). Validation recurses only along the schema, so a request nested deeper
 * than its schema costs no extra stack.
 *
 * Threads. A compiled schema is immutable: any number of threads may
 * validate against it at once.
 */
#ifndef SLUICE_SCHEMA_H
#define SLUICE_SCHEMA_H

#include <stddef.h>

#include "util/jv.h"

#define SCHEMA_MAX_DEPTH 32

typedef struct schema schema_t;

/* Compiles the schema document doc. Returns the schema (free it with
 * schema_free), or NULL with the reason in why (NUL-terminated, truncated to
 * why_len; why may be NULL). doc is copied: it need not outlive the schema. */
schema_t *schema_compile(const jv_t *doc, char *why, size_t why_len);

/* 0 when the value v (not NULL) conforms to s; -1 otherwise, with the first
 * failure in msg (NUL-terminated, truncated to msg_len; msg may be NULL). v
 * is only read during the call. */
int schema_validate(const schema_t *s, const jv_t *v, char *msg, size_t msg_len);

void schema_free(schema_t *s); /* NULL is fine */

#endif
