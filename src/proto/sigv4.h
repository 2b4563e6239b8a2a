/*
 * sigv4 — verification of AWS Signature Version 4 on incoming requests, for
 * `auth.mode: sigv4`. A verifier holds the configured access keys (id,
 * secret, optional session token), the allowed clock skew and the session
 * token policy; it recomputes the signature a client made with the same
 * secret and compares the two in constant time. See docs/AUTH.md for what is
 * and is not covered.
 *
 * Both forms are accepted:
 *   header    Authorization: AWS4-HMAC-SHA256 Credential=AKID/date/region/service/aws4_request,
 *             SignedHeaders=host;x-amz-date, Signature=<64 hex>   and X-Amz-Date
 *   presigned ?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=…&X-Amz-Date=…
 *             &X-Amz-Expires=…&X-Amz-SignedHeaders=…&X-Amz-Signature=…
 * The canonical request follows AWS's rules for services other than S3: the
 * path has dot segments and repeated slashes removed and is URI-encoded once
 * more (the bytes on the wire are already encoded once), query parameters
 * are decoded, re-encoded and sorted, signed headers are lowercase with
 * trimmed values whose blank runs become one space. The payload is the
 * body's SHA-256, or the x-amz-content-sha256 value: a hex digest (which
 * must be the body's) or STREAMING-AWS4-HMAC-SHA256-PAYLOAD — an aws-chunked
 * body whose chunk signatures are chained from the seed signature; it is
 * verified and decoded in place. UNSIGNED-PAYLOAD (S3's) is refused: the
 * body holds the query protocol's action.
 *
 * A header the router acts on (X-Amz-Target) must be signed like host, or an
 * unsigned one could turn a presigned URL into another action.
 *
 * Results are engine statuses, each protocol front-end maps them to its own
 * error shape: MISSING_AUTH (no signature of either form), INCOMPLETE_SIGNATURE
 * (a part missing or malformed), INVALID_CLIENT_TOKEN (unknown key id, or
 * with session_token: check a wrong token), SIGNATURE_MISMATCH, and
 * REQUEST_EXPIRED (X-Amz-Date outside the skew window, or a presigned URL
 * past X-Amz-Expires).
 *
 * Threads: a verifier caches derived signing keys and reuses scratch
 * buffers; it is used by one thread (the loop) only.
 */
#ifndef SLUICE_SIGV4_H
#define SLUICE_SIGV4_H

#include <stddef.h>
#include <stdint.h>

#include "net/http_parser.h"
#include "util/status.h"

#define SIGV4_KEY_ID_MAX 128
#define SIGV4_SKEW_DEFAULT_S 900   /* AWS's 15 minutes */
#define SIGV4_EXPIRES_MAX_S 604800 /* a presigned URL lives at most 7 days */

typedef struct sigv4 sigv4_t;

typedef struct sigv4_key_def {
    const char *id;            /* 1..SIGV4_KEY_ID_MAX of A-Z a-z 0-9 _ */
    const char *secret;        /* non-empty */
    const char *session_token; /* NULL: none */
} sigv4_key_def_t;

typedef struct sigv4_config {
    const sigv4_key_def_t *keys;
    size_t nkeys;
    uint32_t clock_skew_s;   /* 1..; X-Amz-Date may differ from now by this much */
    int check_session_token; /* 1: X-Amz-Security-Token must be the key's (absent when it has none) */
} sigv4_config_t;

/* Copies everything it keeps from cfg. NULL with why when a key is invalid
 * or repeated. */
sigv4_t *sigv4_new(const sigv4_config_t *cfg, char *why, size_t why_len);
void sigv4_free(sigv4_t *v);

/* 1 when a key id has the allowed form (what sigv4_new checks). */
int sigv4_key_id_valid(const char *id);

typedef struct sigv4_request {
    const http_head_t *head; /* method, request target, headers */
    char *body;              /* the body; an aws-chunked one is decoded in place */
    size_t body_len;         /* updated when the body was decoded */
    const char *service;     /* the credential scope must name it; NULL: any */
    const char *must_sign;   /* a header that must be signed besides host (it routes the request); NULL: none */
    uint64_t now_ms;         /* wall clock */
    char key_id[SIGV4_KEY_ID_MAX + 1]; /* out: the signer's access key id on ST_OK */
} sigv4_request_t;

/* 1 when the request carries a signature of either form (an Authorization
 * header or X-Amz-Algorithm in the query), whether valid or not. */
int sigv4_present(const http_head_t *head);

/* The access key id and service of the request's credential scope (either
 * form), parsed as sigv4_verify parses it; both "" when the signature's
 * parts are absent or malformed. Nothing is verified: for routing before
 * the check, which then holds the request to that service. */
void sigv4_scope(const http_head_t *head, char *key_id, size_t kn, char *service, size_t sn);

/*
 * Verifies rq. ST_OK, or one of the statuses above with the client-facing
 * message in err. When the body was aws-chunked it is rewritten in place
 * (rq->body_len shrinks, a NUL follows it) — also when a later chunk then
 * fails, in which case the body must not be used.
 */
status_t sigv4_verify(sigv4_t *v, sigv4_request_t *rq, err_t *err);

/* Constant-time comparison every signature check goes through (CRYPTO_memcmp);
 * a test seam: tests may wrap it to see that it is used. */
extern int (*sigv4__memcmp)(const void *a, const void *b, size_t n);

#endif
