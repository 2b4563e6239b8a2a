/* rand — buffered getrandom and UUIDs. Event-loop thread only. */
#include "util/rand.h"

#include <string.h>
#include <sys/random.h>
#include <uuid/uuid.h>

#include "util/alloc.h"

static unsigned char pool[4096];
static size_t pool_left;

void rand_bytes(void *p, size_t n)
{
    unsigned char *out = p;
    while (n) {
        if (!pool_left) {
            size_t got = 0;
            while (got < sizeof pool) {
                ssize_t r = getrandom(pool + got, sizeof pool - got, 0);
                if (r <= 0)
                    util_fatal("getrandom failed");
                got += (size_t)r;
            }
            pool_left = sizeof pool;
        }
        size_t k = n < pool_left ? n : pool_left;
        memcpy(out, pool + sizeof pool - pool_left, k);
        pool_left -= k;
        out += k;
        n -= k;
    }
}

void rand_uuid(char out[UUID_STR_LEN])
{
    uuid_t u;
    rand_bytes(u, sizeof u);
    u[6] = (unsigned char)((u[6] & 0x0f) | 0x40); /* version 4 */
    u[8] = (unsigned char)((u[8] & 0x3f) | 0x80); /* RFC 4122 variant */
    static const char hex[] = "0123456789abcdef";
    char *p = out;
    for (int i = 0; i < 16; i++) { /* 8-4-4-4-12, as uuid_unparse_lower writes it */
        if (i == 4 || i == 6 || i == 8 || i == 10)
            *p++ = '-';
        *p++ = hex[u[i] >> 4];
        *p++ = hex[u[i] & 15];
    }
    *p = 0;
}
