/* proxy: upstream URL templates (checks and substitution) and hop-by-hop headers. */
#include <stdio.h>
#include <string.h>

#include "gateway/proxy.h"
#include "gateway/routes.h"
#include "harness.h"

/* The URL for a request on route tmpl: matched with routes_match, so the
 * parameters are exactly what the gateway hands over. */
static const char *url_for(const char *upstream, const char *tmpl, const char *target)
{
    static char out[2048];
    routes_t *r = routes_new();
    err_t err;
    kvv_t params = {0};
    void *v = NULL;
    const char *q = strchr(target, '?');
    size_t plen = q ? (size_t)(q - target) : strlen(target);
    buf_t b = BUF_INIT;
    snprintf(out, sizeof out, "(no match)");
    if (routes_add(r, "ANY", tmpl, &out, &err) == ST_OK &&
        routes_match(r, "GET", target, plen, &v, &params, NULL, 0) == ROUTES_MATCHED) {
        int rc = proxy_url(upstream, tmpl, &params, target, plen, q ? q + 1 : NULL, q ? strlen(q + 1) : 0, &b);
        snprintf(out, sizeof out, "%s", rc == 0 ? b.data : "(failed)");
    }
    buf_free(&b);
    kvv_free(&params);
    routes_free(r);
    return out;
}

TEST(placeholders_take_the_request_values)
{
    CHECK_STR(url_for("http://127.0.0.1:8081/legacy/{proxy}", "/old/{proxy+}", "/old/a/b%20c/d"),
              "http://127.0.0.1:8081/legacy/a/b%20c/d");
    CHECK_STR(url_for("http://h/legacy/{proxy+}", "/old/{proxy+}", "/old/x"), "http://h/legacy/x");
    CHECK_STR(url_for("http://h/users/{id}/orders/{o}", "/u/{id}/o/{o}", "/u/42/o/7"), "http://h/users/42/orders/7");
    /* a plain parameter was decoded when matched: encoded again, per segment */
    CHECK_STR(url_for("http://h/u/{id}", "/users/{id}", "/users/a%20b%3Fc%25"), "http://h/u/a%20b%3Fc%25");
    CHECK_STR(url_for("http://h/u/{id}", "/users/{id}", "/users/caf%C3%A9:x@y"), "http://h/u/caf%C3%A9:x@y");
    /* a greedy one keeps its slashes and its escapes, an encoded slash stays encoded */
    CHECK_STR(url_for("http://h/{p}", "/{p+}", "/a%2Fb/c"), "http://h/a%2Fb/c");
}

TEST(no_placeholders_appends_the_whole_path)
{
    CHECK_STR(url_for("http://127.0.0.1:8081", "/old/{proxy+}", "/old/a/b"), "http://127.0.0.1:8081/old/a/b");
    CHECK_STR(url_for("http://h/", "/orders", "/orders"), "http://h/orders");
    CHECK_STR(url_for("http://h/legacy", "/orders/{id}", "/orders/9"), "http://h/legacy/orders/9");
    CHECK_STR(url_for("https://h:8443/v1/", "/orders", "/orders"), "https://h:8443/v1/orders");
}

TEST(the_query_goes_on_unchanged)
{
    CHECK_STR(url_for("http://h", "/s", "/s?q=a%20b&x=1&x=2"), "http://h/s?q=a%20b&x=1&x=2");
    CHECK_STR(url_for("http://h/api?key=k", "/s", "/s?q=1"), "http://h/api/s?key=k&q=1");
    CHECK_STR(url_for("http://h/api?key=k", "/s", "/s"), "http://h/api/s?key=k");
    CHECK_STR(url_for("http://h/{id}", "/s/{id}", "/s/1?"), "http://h/1?");
    /* what a URL cannot hold is escaped, nothing else */
    CHECK_STR(url_for("http://h", "/s", "/s?a=%zz&b={}"), "http://h/s?a=%25zz&b={}");
}

TEST(a_placeholder_without_a_value_fails)
{
    kvv_t params = {0};
    buf_t b = BUF_INIT;
    CHECK_INT(proxy_url("http://h/{id}", "/x/{id}", &params, "/x/1", 4, NULL, 0, &b), -1);
    buf_free(&b);
}

TEST(dot_segments_are_never_forwarded)
{
    /* a greedy parameter, a plain one, the whole path; plain and %2e-encoded */
    CHECK_STR(url_for("http://h/legacy/{proxy}", "/old/{proxy+}", "/old/a/../../admin"), "(failed)");
    CHECK_STR(url_for("http://h/legacy/{proxy}", "/old/{proxy+}", "/old/%2e%2E/admin"), "(failed)");
    CHECK_STR(url_for("http://h/legacy/{proxy}", "/old/{proxy+}", "/old/a/./b"), "(failed)");
    CHECK_STR(url_for("http://h/u/{id}", "/users/{id}", "/users/.."), "(failed)");
    CHECK_STR(url_for("http://h/u/{id}", "/users/{id}", "/users/%2e"), "(failed)");
    CHECK_STR(url_for("http://h/legacy", "/old/{proxy+}", "/old/x/../../y"), "(failed)");
    /* names that merely hold dots are fine */
    CHECK_STR(url_for("http://h/legacy/{proxy}", "/old/{proxy+}", "/old/.well-known/a..b/..."),
              "http://h/legacy/.well-known/a..b/...");
    CHECK_STR(url_for("http://h/u/{id}", "/users/{id}", "/users/v1.2"), "http://h/u/v1.2");
    /* and the refusal is its own answer (-2), not a missing value (-1) */
    kvv_t params = {0};
    kvv_add(&params, "proxy", "a/../b");
    buf_t b = BUF_INIT;
    CHECK_INT(proxy_url("http://h/{proxy}", "/o/{proxy+}", &params, "/o/a/../b", 9, NULL, 0, &b), -2);
    buf_free(&b);
    kvv_free(&params);
}

TEST(check_accepts_good_templates)
{
    char why[300];
    CHECK_INT(proxy_check("http://127.0.0.1:8081/legacy/{proxy}", "/old/{proxy+}", why, sizeof why), 0);
    CHECK_INT(proxy_check("http://h/{proxy+}", "/old/{proxy+}", why, sizeof why), 0);
    CHECK_INT(proxy_check("https://legacy.example.com", "/orders", why, sizeof why), 0);
    CHECK_INT(proxy_check("HTTP://h:80/a/{id}/b?static=1", "/x/{id}", why, sizeof why), 0);
}

TEST(check_refuses_bad_templates_naming_why)
{
    char why[300];
    CHECK_INT(proxy_check("ftp://h/x", "/a", why, sizeof why), -1);
    CHECK(strstr(why, "not an http:// or https:// URL"));
    CHECK_INT(proxy_check("h:8081/x", "/a", why, sizeof why), -1);
    CHECK(strstr(why, "not an http:// or https:// URL"));
    CHECK_INT(proxy_check("http://h/{nope}", "/a/{id}", why, sizeof why), -1);
    CHECK(strstr(why, "names {nope}, which is not a parameter of the path /a/{id}"));
    CHECK_INT(proxy_check("http://{id}/x", "/a/{id}", why, sizeof why), -1);
    CHECK(strstr(why, "placeholders belong in the URL's path"));
    CHECK_INT(proxy_check("http://h/x?id={id}", "/a/{id}", why, sizeof why), -1);
    CHECK(strstr(why, "placeholders belong in the URL's path"));
    CHECK_INT(proxy_check("http://h/{}", "/a/{id}", why, sizeof why), -1);
    CHECK(strstr(why, "a placeholder is {name}"));
    CHECK_INT(proxy_check("http://h/{id", "/a/{id}", why, sizeof why), -1);
    CHECK_INT(proxy_check("http://h/id}", "/a/{id}", why, sizeof why), -1);
    CHECK(strstr(why, "closes no placeholder"));
    CHECK_INT(proxy_check("http://h/x#frag", "/a", why, sizeof why), -1);
    CHECK(strstr(why, "fragment"));
    CHECK_INT(proxy_check("http://h /x", "/a", why, sizeof why), -1);
    CHECK_INT(proxy_check("http://user@h/x", "/a", why, sizeof why), -1);
    /* a stray '%' would make an escape of the request's value: "%{p}" with
     * p = "2e." forwards a ".." segment */
    CHECK_INT(proxy_check("http://h/%{p}/x", "/r/{p}", why, sizeof why), -1);
    CHECK(strstr(why, "has a '%' that is not a %XX escape"));
    CHECK_INT(proxy_check("http://h/%2{p}", "/r/{p}", why, sizeof why), -1);
    CHECK_INT(proxy_check("http://h/a%", "/r", why, sizeof why), -1);
    CHECK_INT(proxy_check("http://h/a%20b/{p}?x=%2F", "/r/{p}", why, sizeof why), 0);
}

static http_header_t hdr(const char *name, const char *value)
{
    return (http_header_t){name, strlen(name), value, strlen(value)};
}

TEST(hop_by_hop_headers)
{
    http_header_t all[] = {hdr("Connection", "keep-alive, X-Secret ,Upgrade"), hdr("X-Secret", "s"),
                           hdr("Keep-Alive", "timeout=5"), hdr("Proxy-Authorization", "Basic x"),
                           hdr("TE", "trailers"), hdr("Trailer", "X-T"), hdr("Transfer-Encoding", "chunked"),
                           hdr("upgrade", "websocket"), hdr("X-Secretive", "no"), hdr("Content-Type", "text/plain"),
                           hdr("Proxy", "p"), hdr("Accept", "*/*")};
    size_t n = sizeof all / sizeof all[0];
    int want[] = {1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0};
    for (size_t i = 0; i < n; i++) {
        if (proxy_hop_by_hop(&all[i], all, n) != want[i])
            fprintf(stderr, "header %s\n", all[i].name);
        CHECK_INT(proxy_hop_by_hop(&all[i], all, n), want[i]);
    }
    /* without the Connection header, X-Secret is an ordinary header */
    CHECK_INT(proxy_hop_by_hop(&all[1], all + 1, n - 1), 0);
}
