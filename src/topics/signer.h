/*
 * signer — SNS message signatures. One RSA-2048 key and a self-signed
 * certificate per data directory (sns-signing.key, sns-signing.pem, made on
 * first use with the durable-file recipe and reused afterwards), so receivers
 * can verify messages the way they verify AWS's: fetch the certificate at
 * SigningCertURL, rebuild the string to sign from the message's fields, and
 * check Signature with SHA1withRSA (SignatureVersion 1) or SHA256withRSA (2).
 *
 * Cost: an RSA-2048 signature takes ~0.7 ms of the loop thread on this
 * project's machine, once per enveloped delivery; that is why signing is
 * opt-in (server.sns_signing).
 */
#ifndef SLUICE_SIGNER_H
#define SLUICE_SIGNER_H

#include <stddef.h>

#include "util/buf.h"

typedef struct signer signer_t;

/* Loads the key and certificate from dir, creating them when absent.
 * NULL with a reason in why on failure. */
signer_t *signer_open(const char *dir, char *why, size_t why_len);
void signer_free(signer_t *s);
/* The certificate, PEM. Owned by the signer. */
const char *signer_cert_pem(const signer_t *s, size_t *len);
/* Appends base64(RSA-sign(text)) to out, SHA1 for version 1 and SHA256 for
 * version 2. Returns 0, or -1 when OpenSSL fails. */
int signer_sign(const signer_t *s, int version, const char *text, size_t len, buf_t *out);

#endif
