/*
 * workers.c — the seeds' worker functions as one Sluice plugin
 * (include/sluice_plugin.h), reading Lambda's SQS event:
 *
 *   division, multiplication   seed 000: each record's body is a request
 *       {"operation": …, "number": N, "divisor"|"factor": D (default 2)};
 *       the result is {"operation", "number", "result"}. Division by zero,
 *       or a body that is not such a request, fails that record.
 *   create_user                seed 001: the body is a user
 *       {"name": …, "email": …}; the result is the user item with a new
 *       userId and the messageId it came from (for the status lookup).
 *   record_ride                seed 002: the body (or the SNS envelope's
 *       Message) is a ride {"RideId": …, …}; the result is the ride item.
 *
 * Each also has a record handler (<name>_records) that an event source
 * mapping calls with the batch's records directly: same work per record,
 * without parsing the SQS event or writing a batch response.
 *
 * For SQS events every handler answers {"batchItemFailures": [...], "batchItemResults":
 * {messageId: result}}, so with ReportBatchItemFailures a failed record
 * returns to its queue (and after maxReceiveCount to the dead-letter queue)
 * while the others are deleted and their results stored. For an SNS event
 * (a topic subscription to the function) the answer is the result itself.
 *
 * Build: cc -shared -fPIC -O2 -Iinclude -o workers.so workers.c -ljansson
 */
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uuid/uuid.h>

#include "sluice_plugin.h"

typedef json_t *(*record_fn)(json_t *body, const char *message_id, const char **why);

/* The exported handlers (and the optional init). */
int sluice_plugin_init(void);
int division(const sluice_invocation_t *inv, char **out, size_t *out_len);
int multiplication(const sluice_invocation_t *inv, char **out, size_t *out_len);
int users(const sluice_invocation_t *inv, char **out, size_t *out_len);
int rides(const sluice_invocation_t *inv, char **out, size_t *out_len);
int division_records(const sluice_invocation_t *inv, sluice_record_t *recs, size_t n);
int multiplication_records(const sluice_invocation_t *inv, sluice_record_t *recs, size_t n);
int users_records(const sluice_invocation_t *inv, sluice_record_t *recs, size_t n);
int rides_records(const sluice_invocation_t *inv, sluice_record_t *recs, size_t n);

int sluice_plugin_init(void)
{
    return SLUICE_PLUGIN_ABI;
}

/* ---- per-record work --------------------------------------------------------------------- */

static json_t *calculate(json_t *body, const char *op, const char *operand_key, const char **why)
{
    json_t *n = json_object_get(body, "number"), *o = json_object_get(body, operand_key);
    const char *given = json_string_value(json_object_get(body, "operation"));
    if (!json_is_number(n) || (o && !json_is_number(o)) || (given && strcmp(given, op) != 0)) {
        *why = "the request needs a numeric number (and operand) for this operation";
        return NULL;
    }
    double a = json_number_value(n), b = o ? json_number_value(o) : 2.0;
    if (op[0] == 'd' && b == 0.0) {
        *why = "division by zero";
        return NULL;
    }
    double r = op[0] == 'd' ? a / b : a * b;
    return json_pack("{s:s, s:f, s:f, s:f}", "operation", op, "number", a, operand_key, b, "result", r);
}

static json_t *divide(json_t *body, const char *id, const char **why)
{
    (void)id;
    return calculate(body, "division", "divisor", why);
}

static json_t *multiply(json_t *body, const char *id, const char **why)
{
    (void)id;
    return calculate(body, "multiplication", "factor", why);
}

static json_t *create_user(json_t *body, const char *id, const char **why)
{
    if (!json_is_string(json_object_get(body, "name"))) {
        *why = "a user needs a name";
        return NULL;
    }
    uuid_t u;
    char uid[37];
    uuid_generate_random(u);
    uuid_unparse_lower(u, uid);
    json_t *user = json_deep_copy(body);
    json_object_set_new(user, "userId", json_string(uid));
    json_object_set_new(user, "messageId", json_string(id));
    return user;
}

/* A ride arrives raw or inside an SNS envelope (its Message). */
static json_t *record_ride(json_t *body, const char *id, const char **why)
{
    (void)id;
    json_t *ride = json_incref(body), *msg = json_object_get(body, "Message");
    if (json_is_string(msg)) {
        json_decref(ride);
        ride = json_loads(json_string_value(msg), 0, NULL);
    }
    if (!json_is_string(json_object_get(ride, "RideId"))) {
        json_decref(ride);
        *why = "a ride needs a RideId";
        return NULL;
    }
    return ride;
}

/* ---- the batch ---------------------------------------------------------------------------- */

static void one_record(json_t *rec, record_fn fn, json_t *failures, json_t *results)
{
    const char *id = json_string_value(json_object_get(rec, "messageId"));
    const char *text = json_string_value(json_object_get(rec, "body"));
    const char *why = "the body is not JSON";
    json_t *body = text ? json_loads(text, 0, NULL) : NULL;
    json_t *res = json_is_object(body) ? fn(body, id ? id : "", &why) : NULL;
    if (res) {
        json_object_set_new(results, id ? id : "", res);
    } else {
        fprintf(stderr, "record %s failed: %s\n", id ? id : "?", why);
        json_array_append_new(failures, json_pack("{s:s}", "itemIdentifier", id ? id : ""));
    }
    json_decref(body);
}

/* An SNS record (a topic subscription invokes the function directly): the
 * result is the one record's result itself, or an error. */
static int run_sns(json_t *event, json_t *sns, record_fn fn, char **out, size_t *out_len)
{
    const char *text = json_string_value(json_object_get(sns, "Message"));
    const char *id = json_string_value(json_object_get(sns, "MessageId"));
    const char *why = "the message is not JSON";
    json_t *body = text ? json_loads(text, 0, NULL) : NULL;
    json_t *res = json_is_object(body) ? fn(body, id ? id : "", &why) : NULL;
    json_decref(body);
    json_decref(event);
    if (!res) {
        json_t *err = json_pack("{s:s, s:s}", "errorMessage", why, "errorType", "InvalidRecord");
        *out = json_dumps(err, JSON_COMPACT);
        json_decref(err);
        return 1;
    }
    *out = json_dumps(res, JSON_COMPACT);
    *out_len = strlen(*out);
    json_decref(res);
    return 0;
}

static int run_batch(const sluice_invocation_t *inv, record_fn fn, char **out, size_t *out_len)
{
    json_error_t jerr;
    json_t *event = json_loadb(inv->event, inv->event_len, 0, &jerr);
    json_t *records = json_object_get(event, "Records");
    json_t *sns = json_object_get(json_array_get(records, 0), "Sns");
    if (json_is_object(sns))
        return run_sns(event, sns, fn, out, out_len);
    if (!json_is_array(records)) {
        json_decref(event);
        *out = strdup("{\"errorMessage\":\"expected an SQS event with Records\",\"errorType\":\"InvalidEvent\"}");
        return 1;
    }
    json_t *failures = json_array(), *results = json_object();
    size_t i;
    json_t *rec;
    json_array_foreach(records, i, rec)
        one_record(rec, fn, failures, results);
    json_t *resp = json_pack("{s:o, s:o}", "batchItemFailures", failures, "batchItemResults", results);
    *out = json_dumps(resp, JSON_COMPACT);
    *out_len = strlen(*out);
    json_decref(resp);
    json_decref(event);
    return 0;
}

/* ---- record handlers: a mapping hands over the records themselves ---------------------------- */

static int run_records(sluice_record_t *recs, size_t n, record_fn fn)
{
    for (size_t i = 0; i < n; i++) {
        sluice_record_t *r = &recs[i];
        const char *why = "the body is not a JSON object";
        json_t *body = json_loadb(r->body, r->body_len, 0, NULL);
        json_t *res = json_is_object(body) ? fn(body, r->message_id, &why) : NULL;
        json_decref(body);
        if (!res) {
            json_t *err = json_pack("{s:s, s:s}", "errorMessage", why, "errorType", "InvalidRecord");
            res = err;
            r->failed = 1;
            fprintf(stderr, "record %s failed: %s\n", r->message_id, why);
        }
        r->result = json_dumps(res, JSON_COMPACT);
        json_decref(res);
    }
    return 0;
}

/* Each worker exported twice: the Lambda-event handler and its record handler. */
#define WORKER(name, fn)                                                                                              \
    int name(const sluice_invocation_t *inv, char **out, size_t *out_len)                                             \
    {                                                                                                                 \
        return run_batch(inv, fn, out, out_len);                                                                      \
    }                                                                                                                 \
    int name##_records(const sluice_invocation_t *inv, sluice_record_t *recs, size_t n)                              \
    {                                                                                                                 \
        (void)inv;                                                                                                    \
        return run_records(recs, n, fn);                                                                              \
    }

WORKER(division, divide)
WORKER(multiplication, multiply)
WORKER(users, create_user)
WORKER(rides, record_ride)
