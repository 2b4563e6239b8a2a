/* digest — cached OpenSSL digests; see digest.h. */
#include "util/digest.h"

#include <openssl/core_names.h>
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

/* One HMAC context, its digest set once; each call only re-keys it. */
static EVP_MAC_CTX *hmac_ctx;

void digest_hmac_sha256(const void *key, size_t klen, const void *p, size_t n, unsigned char out[32])
{
    if (!hmac_ctx) {
        EVP_MAC *mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
        OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, "SHA256", 0),
                               OSSL_PARAM_construct_end()};
        hmac_ctx = mac ? EVP_MAC_CTX_new(mac) : NULL;
        EVP_MAC_free(mac); /* the context holds its own reference */
        if (!hmac_ctx || !EVP_MAC_CTX_set_params(hmac_ctx, params))
            util_fatal("OpenSSL HMAC-SHA256 unavailable");
    }
    size_t len = 0;
    if (!EVP_MAC_init(hmac_ctx, key, klen, NULL) || !EVP_MAC_update(hmac_ctx, p, n) ||
        !EVP_MAC_final(hmac_ctx, out, &len, 32) || len != 32)
        util_fatal("HMAC-SHA256 failed");
}
