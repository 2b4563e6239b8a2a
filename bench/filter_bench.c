/*
 * filter-bench — the cost of matching one published message against the
 * subscriptions of one topic, through a filter set and, for comparison, by
 * evaluating every filter alone. Prints ns per message for 1, 5, 50 and 1000
 * subscriptions in each scenario:
 *   shared-key    every policy names the attribute "operation" (its own
 *                 value) and a numeric condition on "amount";
 *   distinct-keys every policy filters on an attribute of its own;
 *   unanchored    every policy uses prefix matching only (no exact value to
 *                 index by: the set degrades to evaluating each);
 *   body-shared   the shared-key policies in MessageBody scope, against a
 *                 small JSON body (parsed once per message by the set).
 *
 *   filter-bench [-t seconds-per-case]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "topics/filter.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

typedef enum { SHARED, DISTINCT, UNANCHORED, BODY } scenario_t;

static const char *names[] = {"shared-key", "distinct-keys", "unanchored", "body-shared"};

static void policy(scenario_t sc, int i, char *out, size_t n)
{
    switch (sc) {
    case SHARED:
    case BODY:
        snprintf(out, n, "{\"operation\":[\"op-%d\"],\"amount\":[{\"numeric\":[\">\",%d]}]}", i, i % 100);
        break;
    case DISTINCT: snprintf(out, n, "{\"key-%d\":[\"yes\"],\"region\":[\"eu\",\"us\"]}", i); break;
    case UNANCHORED: snprintf(out, n, "{\"operation\":[{\"prefix\":\"op-%d-\"}]}", i); break;
    }
}

static volatile size_t sink;

/* Runs one case for about secs seconds; ns per message through the set and alone. */
static void run(scenario_t sc, int n, double secs)
{
    filter_t **f = calloc((size_t)n, sizeof *f);
    filter_set_t *set = filter_set_new();
    char text[256];
    for (int i = 0; i < n; i++) {
        policy(sc, i, text, sizeof text);
        f[i] = filter_compile(text, strlen(text), sc == BODY ? FILTER_SCOPE_BODY : FILTER_SCOPE_ATTRIBUTES, NULL, 0);
        if (!f[i]) {
            fprintf(stderr, "does not compile: %s\n", text);
            exit(1);
        }
        filter_set_add(set, f[i], (uint64_t)i);
    }
    /* a message matching one of the n policies */
    char op[32], key[32], body[256];
    snprintf(op, sizeof op, "op-%d", n / 2);
    snprintf(key, sizeof key, "key-%d", n / 2);
    filter_attr_t attrs[] = {
        {"operation", "String", op, strlen(op)},
        {"amount", "Number", "99.5", 4},
        {sc == DISTINCT ? key : "customer", "String", sc == DISTINCT ? "yes" : "acme", 3 + (sc != DISTINCT)},
        {"region", "String", "eu", 2},
    };
    if (sc == UNANCHORED)
        snprintf(op, sizeof op, "op-%d-x", n / 2), attrs[0].value_len = strlen(op);
    snprintf(body, sizeof body, "{\"operation\":\"%s\",\"amount\":99.5,\"customer\":{\"name\":\"acme\",\"tier\":3}}", op);
    size_t blen = strlen(body);
    filter_ids_t ids = FILTER_IDS_INIT;
    long iters = 0;
    double t0 = now(), t;
    do {
        for (int k = 0; k < 64; k++, iters++) {
            ids.n = 0;
            sink += sc == BODY ? filter_set_match_body(set, body, blen, &ids) : filter_set_match_attrs(set, attrs, 4, &ids);
        }
    } while ((t = now()) - t0 < secs);
    double set_ns = (t - t0) / (double)iters * 1e9;
    size_t matched = ids.n;
    long liters = 0;
    t0 = now();
    do {
        for (int k = 0; k < 4; k++, liters++)
            for (int i = 0; i < n; i++)
                sink += (size_t)(sc == BODY ? filter_match_body(f[i], body, blen) : filter_match_attrs(f[i], attrs, 4));
    } while ((t = now()) - t0 < secs);
    double lin_ns = (t - t0) / (double)liters * 1e9;
    printf("%-14s %5d subs  set %10.0f ns/msg  one-by-one %11.0f ns/msg  (%zu matched)\n", names[sc], n, set_ns, lin_ns,
           matched);
    filter_ids_free(&ids);
    filter_set_free(set);
    for (int i = 0; i < n; i++)
        filter_free(f[i]);
    free(f);
}

int main(int argc, char **argv)
{
    double secs = 0.3;
    if (argc == 3 && strcmp(argv[1], "-t") == 0)
        secs = atof(argv[2]);
    static const int sizes[] = {1, 5, 50, 1000};
    for (int sc = SHARED; sc <= BODY; sc++)
        for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++)
            run((scenario_t)sc, sizes[i], secs);
    return 0;
}
