/*
 * fuzz_sqs_api — libFuzzer target for the SQS actions as the JSON 1.0
 * protocol hands them over (sqs_api: parameter presence and types, batch
 * entries, queue URLs, attributes, then the engine).
 *
 * Each run starts a store-less engine on a fixed clock with two queues,
 * http://localhost/000000000000/q (standard) and …/f.fifo (FIFO,
 * content-based deduplication). The input is lines "Action JSON": each
 * line's JSON (any bytes; unparsable text is sent as an empty object, as
 * the JSON front-end does with an empty body) goes to sqs_api_call as that
 * action. Checks:
 *   - done runs exactly once per call, or the call waits (a long poll),
 *     which is then cancelled;
 *   - a success has an output document, which serialises;
 *   - a failure has a message and a client-side status: hostile input is
 *     never an internal error (5xx) of a store-less engine.
 * Nothing may crash, leak or hang.
 */
#include <string.h>

#include "fuzz.h"
#include "proto/sqs_api.h"
#include "proto/sqs_errors.h"
#include "queues/queues.h"
#include "util/buf.h"
#include "util/jv.h"

#define FZ_NOW 1700000000000ull
#define FZ_MAX_CALLS 64

static uint64_t fz_clock(void)
{
    return FZ_NOW;
}

typedef struct fz_call {
    int done;
} fz_call_t;

static void fz_done(void *arg, status_t st, const char *message, const jv_t *output)
{
    fz_call_t *c = arg;
    c->done++;
    if (st == ST_OK) {
        FUZZ_CHECK(output != NULL);
        buf_t b = BUF_INIT;
        jv_write(output, &b);
        FUZZ_CHECK(b.len > 0);
        buf_free(&b);
    } else {
        FUZZ_CHECK(message != NULL);
        FUZZ_CHECK(sqs_error_for(st)->http_status < 500);
    }
}

static void fz_call(sqs_api_t *api, const char *action, const char *json, size_t len)
{
    jv_doc_t *doc = jv_doc_new();
    jv_t *in = len ? jv_parse(doc, json, len, NULL, 0) : NULL;
    if (!in)
        in = jv_object(doc);
    sqs_request_t req = {.action = action, .doc = doc, .input = in, .host = "localhost"};
    fz_call_t c = {0};
    sqs_call_t *pending = sqs_api_call(api, &req, fz_done, &c);
    if (pending) {
        FUZZ_CHECK(c.done == 0);
        sqs_api_cancel(pending);
    } else {
        FUZZ_CHECK(c.done == 1);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    memcpy(text, data, size);
    text[size] = 0;
    loop_t *loop = loop_new();
    queues_config_t qc = {.region = "us-east-1", .account = "000000000000"};
    queues_t *qs = queues_new(&qc, NULL);
    queues_set_clock(qs, fz_clock);
    sqs_api_t *api = sqs_api_new(qs, loop, "localhost");
    static const char q[] = "{\"QueueName\":\"q\"}";
    static const char f[] = "{\"QueueName\":\"f.fifo\",\"Attributes\":{\"FifoQueue\":\"true\","
                            "\"ContentBasedDeduplication\":\"true\"}}";
    fz_call(api, "CreateQueue", q, sizeof q - 1);
    fz_call(api, "CreateQueue", f, sizeof f - 1);
    char *line = text, *next;
    for (int n = 0; line && n < FZ_MAX_CALLS; line = next, n++) {
        next = memchr(line, '\n', (size_t)(text + size - line));
        size_t len = next ? (size_t)(next - line) : (size_t)(text + size - line);
        if (next)
            *next++ = 0;
        char *sp = memchr(line, ' ', len);
        if (!sp)
            continue;
        *sp = 0;
        if (sqs_api_known(line))
            fz_call(api, line, sp + 1, len - (size_t)(sp + 1 - line));
        queues_tick(qs);
    }
    sqs_api_free(api);
    queues_free(qs);
    loop_free(loop);
    free(text);
    return 0;
}
