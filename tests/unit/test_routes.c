/* routes: templates, specificity, methods, parameters and hostile paths. */
#include <stdio.h>
#include <string.h>

#include "gateway/routes.h"
#include "harness.h"

static routes_t *table(void)
{
    static int v[8];
    routes_t *r = routes_new();
    err_t err;
    const char *spec[][2] = {{"GET", "/users/{userId}"}, {"GET", "/users/me"},       {"ANY", "/users/{proxy+}"},
                             {"POST", "/users"},         {"GET", "/status/{id}/x"},  {"ANY", "/legacy/{path+}"},
                             {"DELETE", "/users/{userId}"}, {"GET", "/"}};
    for (int i = 0; i < 8; i++) {
        v[i] = i;
        if (routes_add(r, spec[i][0], spec[i][1], &v[i], &err) != ST_OK)
            fprintf(stderr, "add %s %s: %s\n", spec[i][0], spec[i][1], err.msg);
    }
    return r;
}

/* The index of the matched route, -1 for no path, -2 for no method. */
static int match(routes_t *r, const char *method, const char *path, kvv_t *params, char *allow)
{
    void *v = NULL;
    kvv_free(params);
    routes_result_t res = routes_match(r, method, path, strlen(path), &v, params, allow, 64);
    return res == ROUTES_MATCHED ? *(int *)v : res == ROUTES_NO_PATH ? -1 : -2;
}

TEST(most_specific_template_wins)
{
    routes_t *r = table();
    kvv_t p = {0};
    char allow[64];
    CHECK_INT(match(r, "GET", "/users/me", &p, allow), 1);
    CHECK_INT(match(r, "GET", "/users/42", &p, allow), 0);
    CHECK_STR(kvv_get(&p, "userId"), "42");
    CHECK_INT(match(r, "GET", "/users/42/orders", &p, allow), 2);
    CHECK_STR(kvv_get(&p, "proxy"), "42/orders");
    CHECK_INT(match(r, "POST", "/users", &p, allow), 3);
    CHECK_INT(match(r, "GET", "/", &p, allow), 7);
    CHECK_INT(match(r, "PUT", "/legacy/a/b%20c", &p, allow), 5);
    CHECK_STR(kvv_get(&p, "path"), "a/b%20c"); /* greedy: forwarded as sent */
    kvv_free(&p);
    routes_free(r);
}

TEST(method_mismatch_is_405_with_allow)
{
    routes_t *r = table();
    kvv_t p = {0};
    char allow[64];
    CHECK_INT(match(r, "PUT", "/users", &p, allow), -2);
    CHECK_STR(allow, "POST");
    /* an ANY route of a less specific template does not steal a method the specific one lacks */
    CHECK_INT(match(r, "PATCH", "/users/42", &p, allow), -2);
    CHECK_STR(allow, "GET, DELETE");
    CHECK_INT(match(r, "DELETE", "/users/42", &p, allow), 6);
    kvv_free(&p);
    routes_free(r);
}

TEST(parameters_are_decoded_and_segments_must_be_whole)
{
    routes_t *r = table();
    kvv_t p = {0};
    char allow[64];
    CHECK_INT(match(r, "GET", "/users/caf%C3%A9", &p, allow), 0);
    CHECK_STR(kvv_get(&p, "userId"), "caf\xc3\xa9");
    CHECK_INT(match(r, "GET", "/users/a%2Fb", &p, allow), 2); /* an encoded '/' is not one segment */
    CHECK_INT(match(r, "GET", "/users/a%00b", &p, allow), 2);
    CHECK_INT(match(r, "GET", "/users/%zz", &p, allow), 2);
    CHECK_INT(match(r, "GET", "/users/", &p, allow), -1);
    CHECK_INT(match(r, "GET", "/users//x", &p, allow), -1);
    CHECK_INT(match(r, "GET", "/status/9/x", &p, allow), 4);
    CHECK_INT(match(r, "GET", "/status/9", &p, allow), -1);
    CHECK_INT(match(r, "GET", "/nothing", &p, allow), -1);
    CHECK_INT(match(r, "GET", "", &p, allow), -1);
    CHECK_INT(match(r, "GET", "users", &p, allow), -1);
    char deep[4096] = "";
    for (int i = 0; i < 400; i++)
        strcat(deep, "/a");
    CHECK_INT(match(r, "GET", deep, &p, allow), -1);
    kvv_free(&p);
    routes_free(r);
}

TEST(bad_templates_and_duplicates_are_refused)
{
    routes_t *r = routes_new();
    err_t err;
    int v = 0;
    const char *bad[] = {"", "users", "/users/", "//x", "/a/{}", "/a/{x", "/a/x}", "/a/{b+}/c", "/a/{b c}",
                         "/a/{x}/{x}", "/a b", "/a?b", "/a%20"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        CHECK_INT(routes_add(r, "GET", bad[i], &v, &err), ST_VALIDATION_ERROR);
    CHECK_INT(routes_add(r, "FETCH", "/a", &v, &err), ST_VALIDATION_ERROR);
    CHECK_INT(routes_add(r, "GET", "/a/{id}", &v, &err), ST_OK);
    CHECK_INT(routes_add(r, "GET", "/a/{id}", &v, &err), ST_VALIDATION_ERROR);
    CHECK_INT(routes_add(r, "POST", "/a/{other}", &v, &err), ST_VALIDATION_ERROR);
    CHECK_INT(routes_add(r, "POST", "/a/{id}", &v, &err), ST_OK);
    routes_free(r);
}
