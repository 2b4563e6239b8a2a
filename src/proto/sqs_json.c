/*
 * sqs_json — SQS over AWS JSON 1.0: X-Amz-Target: AmazonSQS.<Action>, a JSON
 * body in and out. Errors carry __type (com.amazonaws.sqs#<Shape>) in the
 * body and the query-compatible code in x-amzn-query-error, which is what
 * the SDKs report as the error code.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/router.h"
#include "proto/sqs_errors.h"
#include "util/jv.h"

#define JSON_CTYPE "application/x-amz-json-1.0"

static void json_error(req_ctx_t *ctx, const char *type_ns, const char *type, const char *code, int status,
                       int sender, const char *message)
{
    buf_t body = BUF_INIT;
    char extra[256];
    buf_printf(&body, "{\"__type\":\"%s#%s\",\"message\":", type_ns, type);
    jv_write_string(&body, message ? message : "", message ? strlen(message) : 0);
    buf_putc(&body, '}');
    snprintf(extra, sizeof extra, "x-amzn-query-error: %s;%s\r\n", code, sender ? "Sender" : "Receiver");
    router_reply(ctx, status, JSON_CTYPE, extra, body.data, body.len);
    buf_free(&body);
}

void sqs_json_fail(req_ctx_t *ctx, status_t st, const char *message)
{
    const sqs_error_t *e = sqs_error_for(st);
    json_error(ctx, e->json_ns ? e->json_ns : "com.amazonaws.sqs", e->json_type, e->code, e->http_status,
               e->sender_fault, message);
}

static void json_done(void *arg, status_t st, const char *message, const jv_t *out)
{
    req_ctx_t *ctx = arg;
    if (st != ST_OK) {
        sqs_json_fail(ctx, st, message);
        return;
    }
    buf_t body = BUF_INIT;
    jv_write(out, &body);
    router_reply(ctx, 200, JSON_CTYPE, NULL, body.data, body.len);
    buf_free(&body);
}

void sqs_json_handle(req_ctx_t *ctx, const char *action)
{
    if (!sqs_api_known(action)) {
        json_error(ctx, "com.amazon.coral.service", "UnknownOperationException", "UnknownOperationException", 400, 1,
                   "The action or operation requested is invalid. Verify that the action is typed correctly.");
        return;
    }
    jv_doc_t *doc = jv_doc_new();
    jv_t *in = ctx->ex->body_len ? jv_parse(doc, ctx->ex->body, ctx->ex->body_len, NULL, 0) : jv_object(doc);
    if (!jv_is(in, JV_OBJECT)) {
        jv_doc_free(doc);
        json_error(ctx, "com.amazon.coral.service", "SerializationException", "SerializationException", 400, 1,
                   "The request body could not be parsed as a JSON object.");
        return;
    }
    /* SDKs that use the queue URL as endpoint post to its path */
    sqs_request_t req = {.action = action,
                         .doc = doc,
                         .input = in,
                         .host = ctx->host,
                         .path_queue_url = strcmp(ctx->path, "/") != 0 ? ctx->path : NULL,
                         .access_key = ctx->access_key,
                         .trace_header = ctx->trace,
                         .query = 0};
    sqs_call_t *call = sqs_api_call(ctx->rt->sqs, &req, json_done, ctx);
    if (call) { /* a long poll */
        ctx->call = call;
        router_park(ctx);
    }
}
