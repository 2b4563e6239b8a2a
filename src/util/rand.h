/*
 * rand — randomness for identifiers: message ids (UUID v4 through libuuid),
 * request ids and receipt-handle nonces (getrandom, buffered so that a busy
 * loop does not make one syscall per message).
 */
#ifndef SLUICE_RAND_H
#define SLUICE_RAND_H

#include <stddef.h>

#define UUID_STR_LEN 37 /* 36 characters and the NUL */

void rand_bytes(void *p, size_t n);
/* Writes a lowercase UUID v4 into out[UUID_STR_LEN]. */
void rand_uuid(char out[UUID_STR_LEN]);

#endif
