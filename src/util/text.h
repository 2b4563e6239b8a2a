/*
 * text — character-level checks and encodings shared by engine and protocols.
 */
#ifndef SLUICE_TEXT_H
#define SLUICE_TEXT_H

#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"

/* True when p[0..n) is UTF-8 whose every character XML 1.0 allows:
 * #x9 | #xA | #xD | #x20-#xD7FF | #xE000-#xFFFD | #x10000-#x10FFFF. */
int text_xml_chars_ok(const char *p, size_t n);
/* Decodes one UTF-8 sequence at p (n > 0 bytes left): returns its length and
 * sets *cp, or returns 0 for an invalid, overlong or surrogate sequence. */
size_t text_utf8_next(const unsigned char *p, size_t n, uint32_t *cp);
void text_hex(const unsigned char *p, size_t n, char *out); /* out: 2n+1 */
/* Standard base64 with padding. */
void text_b64_encode(const void *p, size_t n, buf_t *out);
/* Strict decode (padding optional, no whitespace); 0 ok, -1 malformed. */
int text_b64_decode(const char *s, size_t n, buf_t *out);
/* Parses a whole decimal integer (optional sign); 0 ok, -1 otherwise. */
int text_parse_i64(const char *s, int64_t *out);
/* v in decimal into out (21 bytes hold any); returns out. */
char *text_u64(uint64_t v, char out[21]);
int text_starts_with_ci(const char *s, const char *prefix);
/* 1 when each of the n bytes of s is an ASCII letter, a digit, or one of
 * extra (names of queues, topics, tables, functions, keys, parameters). */
int text_name_chars(const char *s, size_t n, const char *extra);

#endif
