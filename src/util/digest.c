/* digest — cached OpenSSL digests; see digest.h. */
#include "util/digest.h"

#include <openssl/evp.h>

#include "util/alloc.h"

typedef struct algo {
    const char *name;
    EVP_MD *md;
    EVP_MD_CTX *ctx;
} algo_t;

static algo_t md5 = {"MD5", NULL, NULL}, sha256 = {"SHA256", NULL, NULL};

static EVP_MD_CTX *algo_begin(algo_t *a)
{
    if (!a->md) {
        a->md = EVP_MD_fetch(NULL, a->name, NULL);
        a->ctx = EVP_MD_CTX_new();
        if (!a->md || !a->ctx)
            util_fatal("OpenSSL digest unavailable");
    }
    if (!EVP_DigestInit_ex(a->ctx, a->md, NULL))
        util_fatal("EVP_DigestInit_ex failed");
    return a->ctx;
}

static void algo_once(algo_t *a, const void *p, size_t n, unsigned char *out)
{
    EVP_MD_CTX *c = algo_begin(a);
    EVP_DigestUpdate(c, p, n);
    EVP_DigestFinal_ex(c, out, NULL);
}

void digest_md5(const void *p, size_t n, unsigned char out[16])
{
    algo_once(&md5, p, n, out);
}

void digest_sha256(const void *p, size_t n, unsigned char out[32])
{
    algo_once(&sha256, p, n, out);
}

void digest_md5_begin(void)
{
    algo_begin(&md5);
}

void digest_md5_update(const void *p, size_t n)
{
    EVP_DigestUpdate(md5.ctx, p, n);
}

void digest_md5_end(unsigned char out[16])
{
    EVP_DigestFinal_ex(md5.ctx, out, NULL);
}
