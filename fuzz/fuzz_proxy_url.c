/*
 * fuzz_proxy_url — libFuzzer target for gateway/proxy's URL templates: the
 * upstream template and route path from config, the request target from
 * the network.
 *
 * The input is three lines: UPSTREAM, ROUTE-PATH, REQUEST-TARGET. When
 * proxy_check accepts the template for the route and the route matches the
 * target, proxy_url builds the URL. Checks: a built URL starts with the
 * template's scheme and authority, holds no byte a URL may not hold (space,
 * control, non-ASCII, '#'), and never a "." or ".." path segment, plain or
 * %2e-encoded, that the template itself does not hold; -2 (a dot segment)
 * is the only refusal besides -1.
 */
#include <string.h>
#include <strings.h>

#include "fuzz.h"
#include "gateway/proxy.h"
#include "gateway/routes.h"

static int dot_segment_in_path(const char *url, size_t n)
{
    const char *p = strstr(url, "://");
    p = p ? strchr(p + 3, '/') : NULL;
    if (!p)
        return 0;
    size_t end = strcspn(p, "?");
    for (size_t i = 0; i < end;) {
        size_t j = i + 1, dots = 0, other = 0;
        while (j < end && p[j] != '/') {
            if (p[j] == '.')
                dots++, j++;
            else if (p[j] == '%' && j + 2 < end && p[j + 1] == '2' && (p[j + 2] == 'e' || p[j + 2] == 'E'))
                dots++, j += 3;
            else
                other++, j++;
        }
        if (!other && (dots == 1 || dots == 2))
            return 1;
        i = j;
    }
    (void)n;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    memcpy(text, data, size);
    text[size] = 0;
    char *path = strchr(text, '\n'), *target = path ? strchr(path + 1, '\n') : NULL;
    if (!target || strlen(text) != size || strchr(target + 1, '\n')) { /* three lines, no NUL */
        free(text);
        return 0;
    }
    *path++ = 0;
    *target++ = 0;
    char why[256];
    routes_t *r = routes_new();
    err_t err;
    int tag = 0;
    if (proxy_check(text, path, why, sizeof why) == 0 && routes_add(r, "ANY", path, &tag, &err) == ST_OK) {
        const char *q = strchr(target, '?');
        size_t plen = q ? (size_t)(q - target) : strlen(target);
        void *v = NULL;
        kvv_t params = {0};
        if (routes_match(r, "GET", target, plen, &v, &params, NULL, 0) == ROUTES_MATCHED) {
            buf_t b = BUF_INIT;
            int rc = proxy_url(text, path, &params, target, plen, q ? q + 1 : NULL, q ? strlen(q + 1) : 0, &b);
            FUZZ_CHECK(rc == 0 || rc == -1 || rc == -2);
            if (rc == 0) {
                size_t auth = strcspn(strstr(text, "://") + 3, "/?{") + (size_t)(strstr(text, "://") + 3 - text);
                FUZZ_CHECK(b.len >= auth && strncasecmp(b.data, text, auth) == 0);
                for (size_t i = auth; i < b.len; i++) {
                    unsigned char c = (unsigned char)b.data[i];
                    FUZZ_CHECK(c > 0x20 && c < 0x7f && c != '#');
                }
                /* the request adds no dot segment; the template (config) may hold one */
                FUZZ_CHECK(!dot_segment_in_path(b.data, b.len) || dot_segment_in_path(text, strlen(text)));
            }
            buf_free(&b);
        }
        kvv_free(&params);
    }
    routes_free(r);
    free(text);
    return 0;
}
