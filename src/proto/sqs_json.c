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

#define JSON_CTYPE "application/x-amz-json-1.0"

static void json_error(req_ctx_t *ctx, const char *type_ns, const char *type, const char *code, int status,
                       int sender, const char *message)
{
    json_t *body = json_object();
    char full[160], extra[256];
    snprintf(full, sizeof full, "%s#%s", type_ns, type);
    json_object_set_new(body, "__type", json_string(full));
    json_object_set_new(body, "message", json_string(message ? message : ""));
    char *text = json_dumps(body, JSON_COMPACT);
    snprintf(extra, sizeof extra, "x-amzn-query-error: %s;%s\r\n", code, sender ? "Sender" : "Receiver");
    router_reply(ctx, status, JSON_CTYPE, extra, text, strlen(text));
    free(text);
    json_decref(body);
}

static void json_done(void *arg, status_t st, const char *message, json_t *out)
{
    req_ctx_t *ctx = arg;
    if (st != ST_OK) {
        const sqs_error_t *e = sqs_error_for(st);
        json_error(ctx, "com.amazonaws.sqs", e->json_type, e->code, e->http_status, e->sender_fault, message);
        return;
    }
    char *text = json_dumps(out, JSON_COMPACT);
    router_reply(ctx, 200, JSON_CTYPE, NULL, text, strlen(text));
    free(text);
}

void sqs_json_handle(req_ctx_t *ctx, const char *action)
{
    if (!sqs_api_known(action)) {
        json_error(ctx, "com.amazon.coral.service", "UnknownOperationException", "UnknownOperationException", 400, 1,
                   "The action or operation requested is invalid. Verify that the action is typed correctly.");
        return;
    }
    json_error_t jerr;
    json_t *in = ctx->ex->body_len ? json_loadb(ctx->ex->body, ctx->ex->body_len, 0, &jerr) : json_object();
    if (!json_is_object(in)) {
        json_decref(in);
        json_error(ctx, "com.amazon.coral.service", "SerializationException", "SerializationException", 400, 1,
                   "The request body could not be parsed as a JSON object.");
        return;
    }
    /* SDKs that use the queue URL as endpoint post to its path */
    sqs_request_t req = {.action = action,
                         .input = in,
                         .host = ctx->host,
                         .path_queue_url = strcmp(ctx->path, "/") != 0 ? ctx->path : NULL,
                         .access_key = ctx->access_key,
                         .trace_header = ctx->trace,
                         .query = 0};
    sqs_call_t *call = sqs_api_call(ctx->rt->sqs, &req, json_done, ctx);
    json_decref(in);
    if (call) {
        ctx->call = call;
        router_watch(ctx);
    }
}
