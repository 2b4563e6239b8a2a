/*
 * buf — a growable byte buffer. Always NUL-terminated after its last byte
 * (not counted in len) once anything has been appended, so text built in a
 * buf can be handed to C string functions. Owned by whoever embeds it.
 */
#ifndef SLUICE_BUF_H
#define SLUICE_BUF_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

typedef struct buf {
    char *data;
    size_t len;
    size_t cap;
} buf_t;

#define BUF_INIT {NULL, 0, 0}

void buf_init(buf_t *b);
void buf_free(buf_t *b);
/* Makes room for at least n more bytes after len. */
void buf_reserve(buf_t *b, size_t n);
void buf_append(buf_t *b, const void *p, size_t n);
void buf_puts(buf_t *b, const char *s);
void buf_putc(buf_t *b, char c);
void buf_printf(buf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void buf_vprintf(buf_t *b, const char *fmt, va_list ap);
/* Fixed-width little-endian and length-prefixed encoders used by the codecs. */
void buf_put_u8(buf_t *b, uint8_t v);
void buf_put_u32(buf_t *b, uint32_t v);
void buf_put_u64(buf_t *b, uint64_t v);
void buf_put_bytes(buf_t *b, const void *p, uint32_t n); /* u32 length + bytes */
void buf_put_str(buf_t *b, const char *s);                /* NULL encodes as length 0xffffffff */
/* Drops the first n bytes, moving the rest to the front. */
void buf_consume(buf_t *b, size_t n);
void buf_reset(buf_t *b);
/* Hands the storage to the caller (NUL-terminated) and leaves b empty. */
char *buf_detach(buf_t *b, size_t *len);

/*
 * reader — bounds-checked decoding of what the buf_put_* encoders wrote.
 * Any read past the end sets err and returns zeros; callers check err once
 * at the end, which keeps decoders short and makes hostile input harmless.
 */
typedef struct reader {
    const uint8_t *p;
    size_t len;
    size_t off;
    int err;
} reader_t;

void reader_init(reader_t *r, const void *p, size_t len);
uint8_t reader_u8(reader_t *r);
uint32_t reader_u32(reader_t *r);
uint64_t reader_u64(reader_t *r);
/* Returns a pointer into the input (not NUL-terminated) and its length. */
const char *reader_bytes(reader_t *r, uint32_t *n);
/* Returns a fresh NUL-terminated copy, or NULL for the encoded NULL. */
char *reader_strdup(reader_t *r);

#endif
