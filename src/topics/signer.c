/*
 * signer — see signer.h. The key is written before the certificate; a
 * directory holding a key without a certificate (a crash between the two)
 * gets a new certificate for the same key.
 */
#include "topics/signer.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "store/io.h"
#include "util/alloc.h"
#include "util/text.h"

#define KEY_FILE "sns-signing.key"
#define CERT_FILE "sns-signing.pem"
#define CERT_DAYS 3650

struct signer {
    EVP_PKEY *key;
    char *cert;
    size_t cert_len;
};

static char *read_file(const char *dir, const char *name, size_t *len)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    buf_t b = BUF_INIT;
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0 && b.len < (1u << 20))
        buf_append(&b, chunk, n);
    fclose(f);
    return buf_detach(&b, len);
}

static char *pem_of(int (*write)(BIO *, void *), void *obj, size_t *len)
{
    BIO *bio = BIO_new(BIO_s_mem());
    char *out = NULL, *p;
    if (bio && write(bio, obj) == 1) {
        long n = BIO_get_mem_data(bio, &p);
        out = xmemdup(p, (size_t)n);
        *len = (size_t)n;
    }
    BIO_free(bio);
    return out;
}

static int write_key(BIO *bio, void *key)
{
    return PEM_write_bio_PrivateKey(bio, key, NULL, NULL, 0, NULL, NULL);
}

static int write_cert(BIO *bio, void *cert)
{
    return PEM_write_bio_X509(bio, cert);
}

static EVP_PKEY *load_key(const char *pem, size_t len)
{
    BIO *bio = BIO_new_mem_buf(pem, (int)len);
    EVP_PKEY *k = bio ? PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL) : NULL;
    BIO_free(bio);
    return k;
}

/* A self-signed certificate for key, valid CERT_DAYS. */
static X509 *make_cert(EVP_PKEY *key)
{
    X509 *x = X509_new();
    if (!x)
        return NULL;
    X509_set_version(x, 2);
    unsigned char serial[8];
    FILE *r = fopen("/dev/urandom", "rb");
    if (!r || fread(serial, 1, sizeof serial, r) != sizeof serial)
        memset(serial, 7, sizeof serial);
    if (r)
        fclose(r);
    BIGNUM *bn = BN_bin2bn(serial, sizeof serial, NULL);
    BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x));
    BN_free(bn);
    X509_gmtime_adj(X509_getm_notBefore(x), -3600);
    X509_gmtime_adj(X509_getm_notAfter(x), 60L * 60 * 24 * CERT_DAYS);
    X509_set_pubkey(x, key);
    X509_NAME *name = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC, (const unsigned char *)"Sluice", -1, -1, 0);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)"Sluice SNS message signing", -1, -1,
                               0);
    X509_set_issuer_name(x, name);
    if (X509_sign(x, key, EVP_sha256()) <= 0) {
        X509_free(x);
        return NULL;
    }
    return x;
}

static int fail(char *why, size_t n, const char *what)
{
    unsigned long e = ERR_get_error();
    snprintf(why, n, "%s: %s", what, e ? ERR_reason_error_string(e) : strerror(errno ? errno : EIO));
    return -1;
}

static int ensure_key(signer_t *s, const char *dir, char *why, size_t n)
{
    size_t len;
    char *pem = read_file(dir, KEY_FILE, &len);
    if (pem) {
        s->key = load_key(pem, len);
        free(pem);
        return s->key ? 0 : fail(why, n, "sns-signing.key is not a PEM private key");
    }
    s->key = EVP_RSA_gen(2048);
    if (!s->key)
        return fail(why, n, "cannot generate the SNS signing key");
    pem = pem_of(write_key, s->key, &len);
    int rc = pem ? io_write_file_durable(dir, KEY_FILE, pem, len) : -1;
    free(pem);
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, KEY_FILE);
    if (rc == 0 && chmod(path, 0600) != 0) /* the durable recipe writes 0644 */
        rc = -1;
    return rc == 0 ? 0 : fail(why, n, "cannot write sns-signing.key");
}

static int ensure_cert(signer_t *s, const char *dir, char *why, size_t n)
{
    s->cert = read_file(dir, CERT_FILE, &s->cert_len);
    if (s->cert)
        return 0;
    X509 *x = make_cert(s->key);
    if (!x)
        return fail(why, n, "cannot make the SNS signing certificate");
    s->cert = pem_of(write_cert, x, &s->cert_len);
    X509_free(x);
    if (!s->cert || io_write_file_durable(dir, CERT_FILE, s->cert, s->cert_len) != 0)
        return fail(why, n, "cannot write sns-signing.pem");
    return 0;
}

signer_t *signer_open(const char *dir, char *why, size_t why_len)
{
    signer_t *s = xcalloc(1, sizeof *s);
    if (ensure_key(s, dir, why, why_len) != 0 || ensure_cert(s, dir, why, why_len) != 0) {
        signer_free(s);
        return NULL;
    }
    return s;
}

void signer_free(signer_t *s)
{
    if (!s)
        return;
    EVP_PKEY_free(s->key);
    free(s->cert);
    free(s);
}

const char *signer_cert_pem(const signer_t *s, size_t *len)
{
    *len = s->cert_len;
    return s->cert;
}

int signer_sign(const signer_t *s, int version, const char *text, size_t len, buf_t *out)
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    unsigned char sig[512];
    size_t sig_len = sizeof sig;
    int ok = ctx && EVP_DigestSignInit(ctx, NULL, version == 2 ? EVP_sha256() : EVP_sha1(), NULL, s->key) == 1 &&
             EVP_DigestSign(ctx, sig, &sig_len, (const unsigned char *)text, len) == 1;
    EVP_MD_CTX_free(ctx);
    if (!ok)
        return -1;
    text_b64_encode(sig, sig_len, out);
    return 0;
}
