/*
 * digest — MD5, SHA-256 and HMAC-SHA256 through OpenSSL with the algorithm
 * fetched once.
 * OpenSSL 3 looks an algorithm up on every EVP_Digest(…, EVP_md5(), …) call,
 * which cost more than the hashing itself for 100-byte messages; these keep
 * one fetched EVP_MD and one context per algorithm. Loop thread only.
 */
#ifndef SLUICE_DIGEST_H
#define SLUICE_DIGEST_H

#include <stddef.h>

void digest_md5(const void *p, size_t n, unsigned char out[16]);
void digest_sha256(const void *p, size_t n, unsigned char out[32]);
/* HMAC-SHA256 of p[0..n) under key[0..klen) (SigV4's signing chain). */
void digest_hmac_sha256(const void *key, size_t klen, const void *p, size_t n, unsigned char out[32]);

/* Incremental MD5 over several pieces: begin, update…, end. */
void digest_md5_begin(void);
void digest_md5_update(const void *p, size_t n);
void digest_md5_end(unsigned char out[16]);

#endif
