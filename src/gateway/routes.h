/*
 * routes — the gateway's route table: method and path template → route, in
 * the manner of Amazon API Gateway resources.
 *
 * A template is a path of segments: literal text ("users"), a parameter
 * ("{userId}", one whole non-empty segment) or, as the last segment only, a
 * greedy parameter ("{proxy+}", one or more segments). Methods are GET, POST,
 * PUT, DELETE, PATCH, HEAD, OPTIONS or ANY.
 *
 * Matching: a request path matches a template segment by segment; when
 * several templates match, the most specific wins, compared segment by
 * segment from the left: literal before parameter before greedy (so
 * /users/me beats /users/{id}, which beats /users/{proxy+}). A route with the
 * request's method wins over an ANY route of the same template. A path that
 * matches some template but no method of it is a 405 with Allow; one that
 * matches none is a 404.
 *
 * Parameters are percent-decoded; a decoded segment may not contain '/'
 * nor NUL (it is refused as a non-match, so /users/a%2Fb is not /users/{id}).
 */
#ifndef SLUICE_GATEWAY_ROUTES_H
#define SLUICE_GATEWAY_ROUTES_H

#include <stddef.h>

#include "util/kv.h"
#include "util/status.h"

#define ROUTES_MAX_SEGMENTS 32
#define ROUTES_PATH_MAX 1024

typedef struct routes routes_t;

typedef enum { ROUTES_MATCHED, ROUTES_NO_PATH, ROUTES_NO_METHOD } routes_result_t;

routes_t *routes_new(void);
void routes_free(routes_t *r);
/* Adds method + template → value. ST_VALIDATION_ERROR for a malformed
 * template or method, or a (method, template) that is already there
 * (templates differing only in parameter names are the same template). */
status_t routes_add(routes_t *r, const char *method, const char *tmpl, void *value, err_t *err);
/* Matches a request. On ROUTES_MATCHED *value is the route's value and
 * params gets name → decoded value; on ROUTES_NO_METHOD allow (when not
 * NULL, >= 64 bytes) lists the template's methods ("GET, POST"). */
routes_result_t routes_match(const routes_t *r, const char *method, const char *path, size_t path_len,
                             void **value, kvv_t *params, char *allow, size_t allow_len);

#endif
