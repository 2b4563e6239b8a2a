/* crc32c — hardware-or-table CRC-32C; see crc32c.h. */
#include "util/crc32c.h"

#include <string.h>

static uint32_t crc_table[256];
static int crc_ready;
static int crc_hw;

static void crc_init(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = (c & 1) ? (c >> 1) ^ 0x82f63b78u : c >> 1;
        crc_table[i] = c;
    }
#if defined(__x86_64__)
    __builtin_cpu_init();
    crc_hw = __builtin_cpu_supports("sse4.2");
#endif
    crc_ready = 1;
}

uint32_t crc32c_sw(uint32_t crc, const void *p, size_t n)
{
    if (!crc_ready)
        crc_init();
    const unsigned char *s = p;
    crc = ~crc;
    while (n--)
        crc = crc_table[(crc ^ *s++) & 0xff] ^ (crc >> 8);
    return ~crc;
}

#if defined(__x86_64__)
__attribute__((target("sse4.2"))) static uint32_t crc32c_hw(uint32_t crc, const void *p, size_t n)
{
    const unsigned char *s = p;
    uint64_t c = ~crc;
    while (n >= 8) {
        uint64_t w;
        memcpy(&w, s, 8);
        c = __builtin_ia32_crc32di(c, w);
        s += 8;
        n -= 8;
    }
    uint32_t c32 = (uint32_t)c;
    while (n--)
        c32 = __builtin_ia32_crc32qi(c32, *s++);
    return ~c32;
}
#endif

uint32_t crc32c(uint32_t crc, const void *p, size_t n)
{
    if (!crc_ready)
        crc_init();
#if defined(__x86_64__)
    if (crc_hw)
        return crc32c_hw(crc, p, n);
#endif
    return crc32c_sw(crc, p, n);
}
