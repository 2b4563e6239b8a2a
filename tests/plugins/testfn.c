/*
 * testfn — handlers the functions unit tests load as a plugin. They record
 * what they saw (bodies in order, calls in flight at once) in state the
 * test reads through testfn_stats()/testfn_seen() after dlopen-ing the
 * same object (one copy per process).
 */
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sluice_plugin.h"

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static int inflight, max_inflight, calls;
static char seen[65536]; /* record bodies, one per line, in the order handled */

void testfn_reset(void);
void testfn_stats(int *max, int *ncalls);
const char *testfn_seen(void);
int echo(const sluice_invocation_t *inv, char **out, size_t *out_len);
int fail(const sluice_invocation_t *inv, char **out, size_t *out_len);
int plain_fail(const sluice_invocation_t *inv, char **out, size_t *out_len);
int garbage(const sluice_invocation_t *inv, char **out, size_t *out_len);
int sleepy(const sluice_invocation_t *inv, char **out, size_t *out_len);
int batch(const sluice_invocation_t *inv, char **out, size_t *out_len);
int rec(const sluice_invocation_t *inv, char **out, size_t *out_len);
int rec_records(const sluice_invocation_t *inv, sluice_record_t *recs, size_t n);

void testfn_reset(void)
{
    pthread_mutex_lock(&mu);
    inflight = max_inflight = calls = 0;
    seen[0] = 0;
    pthread_mutex_unlock(&mu);
}

void testfn_stats(int *max, int *ncalls)
{
    pthread_mutex_lock(&mu);
    *max = max_inflight;
    *ncalls = calls;
    pthread_mutex_unlock(&mu);
}

const char *testfn_seen(void)
{
    return seen;
}

static void enter(void)
{
    pthread_mutex_lock(&mu);
    calls++;
    if (++inflight > max_inflight)
        max_inflight = inflight;
    pthread_mutex_unlock(&mu);
}

static void leave(void)
{
    pthread_mutex_lock(&mu);
    inflight--;
    pthread_mutex_unlock(&mu);
}

static void nap(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

int echo(const sluice_invocation_t *inv, char **out, size_t *out_len)
{
    *out = strndup(inv->event, inv->event_len);
    *out_len = inv->event_len;
    return 0;
}

int fail(const sluice_invocation_t *inv, char **out, size_t *out_len)
{
    (void)inv;
    (void)out_len;
    *out = strdup("{\"errorMessage\":\"boom\",\"errorType\":\"Boom\"}");
    return 1;
}

int plain_fail(const sluice_invocation_t *inv, char **out, size_t *out_len)
{
    (void)inv;
    (void)out_len;
    *out = strdup("it broke");
    return 1;
}

int garbage(const sluice_invocation_t *inv, char **out, size_t *out_len)
{
    (void)inv;
    (void)out_len;
    *out = strdup("this is { not json");
    return 0;
}

/* {"ms": N}: sleeps N ms, counting calls in flight. */
int sleepy(const sluice_invocation_t *inv, char **out, size_t *out_len)
{
    (void)out_len;
    json_t *ev = json_loadb(inv->event, inv->event_len, 0, NULL);
    long ms = (long)json_integer_value(json_object_get(ev, "ms"));
    json_decref(ev);
    enter();
    nap(ms);
    leave();
    *out = strdup("{}");
    return 0;
}

/* An SQS batch: records whose body is "fail…" are reported failed, "badid"
 * reports an unknown id, "string" makes the whole answer a JSON string,
 * "error" fails the invocation; "slow" naps 30 ms. Bodies are logged. */
int batch(const sluice_invocation_t *inv, char **out, size_t *out_len)
{
    (void)out_len;
    json_t *ev = json_loadb(inv->event, inv->event_len, 0, NULL), *recs = json_object_get(ev, "Records");
    json_t *fails = json_array(), *rec;
    size_t i;
    int rc = 0, as_string = 0;
    enter();
    json_array_foreach(recs, i, rec)
    {
        const char *body = json_string_value(json_object_get(rec, "body"));
        const char *id = json_string_value(json_object_get(rec, "messageId"));
        pthread_mutex_lock(&mu);
        strncat(seen, body ? body : "?", sizeof seen - strlen(seen) - 2);
        strcat(seen, "\n");
        pthread_mutex_unlock(&mu);
        if (body && !strncmp(body, "fail", 4))
            json_array_append_new(fails, json_pack("{s:s}", "itemIdentifier", id));
        else if (body && !strcmp(body, "badid"))
            json_array_append_new(fails, json_pack("{s:s}", "itemIdentifier", "nope"));
        else if (body && !strcmp(body, "string"))
            as_string = 1;
        else if (body && !strcmp(body, "error"))
            rc = 1;
        else if (body && !strcmp(body, "slow"))
            nap(30);
    }
    leave();
    json_t *resp = rc ? json_pack("{s:s}", "errorMessage", "batch error")
                      : as_string ? json_string("not an object") : json_pack("{s:O}", "batchItemFailures", fails);
    *out = json_dumps(resp, JSON_COMPACT | JSON_ENCODE_ANY);
    json_decref(resp);
    json_decref(fails);
    json_decref(ev);
    return rc;
}

/* A function with a record handler: rec answers events with {"via":"event"};
 * rec_records answers each record {"via":"records", "id", "req", "n"},
 * except bodies "fail…" (failed, plain-text error), "errdoc" (failed, its
 * own error document), "garbage" (a result that is not JSON) and
 * "batcherror" (the handler fails the batch). Bodies are logged. */
int rec(const sluice_invocation_t *inv, char **out, size_t *out_len)
{
    (void)inv;
    (void)out_len;
    *out = strdup("{\"via\":\"event\"}");
    return 0;
}

int rec_records(const sluice_invocation_t *inv, sluice_record_t *recs, size_t n)
{
    int rc = 0;
    (void)inv;
    for (size_t i = 0; i < n; i++) {
        sluice_record_t *r = &recs[i];
        char text[512];
        pthread_mutex_lock(&mu);
        strncat(seen, r->body, sizeof seen - strlen(seen) - 2);
        strcat(seen, "\n");
        pthread_mutex_unlock(&mu);
        if (!strncmp(r->body, "fail", 4)) {
            r->failed = 1;
            snprintf(text, sizeof text, "broken %s", r->message_id);
        } else if (!strcmp(r->body, "errdoc")) {
            r->failed = 1;
            snprintf(text, sizeof text, "{\"errorMessage\":\"own\",\"errorType\":\"Custom\"}");
        } else if (!strcmp(r->body, "garbage")) {
            snprintf(text, sizeof text, "{nope");
        } else {
            rc = !strcmp(r->body, "batcherror") ? 3 : rc;
            snprintf(text, sizeof text, "{\"via\":\"records\",\"id\":\"%s\",\"req\":\"%s\",\"n\":%u}",
                     r->message_id, r->request_id, r->receive_count);
        }
        r->result = strdup(text);
    }
    return rc;
}
