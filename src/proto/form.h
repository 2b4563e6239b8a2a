/*
 * form — application/x-www-form-urlencoded decoding, for AWS query-protocol
 * request bodies and URL query strings alike.
 *
 * The input is split on '&' into pairs and each pair on its first '=' into
 * key and value; '+' decodes to a space and %XX to the byte XX (hex digits of
 * either case), in keys and values both. Pairs are kept in input order and a
 * key may repeat; empty pairs ("a=1&&b=2", a trailing '&') and pairs with an
 * empty key ("=x") are dropped, a pair without '=' has the empty value.
 *
 * Malformed input is an error, never guessed at: a '%' not followed by two
 * hex digits ("%G1", "%4", a trailing "%"), and a NUL byte, raw or as %00 —
 * the pairs are C strings, and no SQS parameter can carry NUL anyway (XML
 * 1.0 cannot), so silently truncating would change what the client sent.
 * Bytes are not checked for UTF-8 here; that is the consumer's business.
 *
 * Pure: no I/O, no global state; the only allocation is the output.
 */
#ifndef SLUICE_FORM_H
#define SLUICE_FORM_H

#include <stddef.h>

#include "util/kv.h"

/*
 * Decodes s[0..n) (need not be NUL-terminated) and appends the pairs to
 * out, which the caller owns and releases with kvv_free. Returns 0, or -1
 * with a one-line reason in why (truncated to why_len; why may be NULL when
 * why_len is 0) naming the offset of the offending byte; on error out is
 * emptied (kvv_free'd), so it never holds a partial decode.
 */
int form_parse(const char *s, size_t n, kvv_t *out, char *why, size_t why_len);

/* Percent-decodes one URL path segment s[0..n) into out[cap] ('+' stays
 * '+', as in a path). -1 on a malformed escape, a NUL, or no room. */
int form_decode_segment(const char *s, size_t n, char *out, size_t cap);

#endif
