/*
 * crc32c — CRC-32C (Castagnoli), the checksum on every log record and
 * snapshot. Debian ships no C library for it, so it is written here: the
 * SSE4.2 crc32 instruction when the CPU has it, a byte table otherwise.
 * Both paths are checked against the RFC 3720 test vectors in the unit test.
 */
#ifndef SLUICE_CRC32C_H
#define SLUICE_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/* Extends crc (0 to start) over p[0..n). */
uint32_t crc32c(uint32_t crc, const void *p, size_t n);
/* The portable path alone, for tests. */
uint32_t crc32c_sw(uint32_t crc, const void *p, size_t n);

#endif
