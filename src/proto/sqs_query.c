/*
 * sqs_query — SQS over the AWS query protocol: Action=<op> and flattened
 * parameters in a form body or the URL, XML out. The form is turned into the
 * JSON 1.0 input document (sqs_shapes) so the action runs in sqs_api like any
 * other; its output document is rendered back as the query protocol's XML.
 * A request may address its queue by URL path (POST /<account>/<name>).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/router.h"
#include "proto/sqs_errors.h"
#include "proto/sqs_shapes.h"

#define XML_CTYPE "text/xml"

static void query_error(req_ctx_t *ctx, const char *code, int status, int sender, const char *message)
{
    buf_t b = BUF_INIT;
    sqs_query_error_xml(code, message ? message : "", sender, ctx->request_id, &b);
    router_reply(ctx, status, XML_CTYPE, NULL, b.data, b.len);
    buf_free(&b);
}

void sqs_query_fail(req_ctx_t *ctx, status_t st, const char *message)
{
    const sqs_error_t *e = sqs_error_for(st);
    query_error(ctx, e->code, e->http_status, e->sender_fault, message);
}

static void query_done(void *arg, status_t st, const char *message, const jv_t *out)
{
    req_ctx_t *ctx = arg;
    if (st != ST_OK) {
        sqs_query_fail(ctx, st, message);
        return;
    }
    buf_t b = BUF_INIT;
    sqs_json_to_xml(ctx->action, out, ctx->request_id, &b);
    router_reply(ctx, 200, XML_CTYPE, NULL, b.data, b.len);
    buf_free(&b);
}

/* "/<account>/<name>" addresses a queue; "/" does not. */
static int path_is_queue(const char *path)
{
    const char *p = path + strspn(path, "/");
    return *p && strchr(p, '/') != NULL;
}

static int action_check(req_ctx_t *ctx, const char *action)
{
    char msg[256];
    if (!action) {
        query_error(ctx, "UnknownOperationException", 404, 1, "An unknown operation was requested.");
        return -1;
    }
    int on_queue_path = path_is_queue(ctx->path);
    if (!sqs_api_known(action) ||
        (on_queue_path && (strcmp(action, "CreateQueue") == 0 || strcmp(action, "ListQueues") == 0))) {
        snprintf(msg, sizeof msg, "The action %.100s is not valid for this endpoint.", action);
        query_error(ctx, "InvalidAction", 400, 1, msg);
        return -1;
    }
    return 0;
}

void sqs_query_handle(req_ctx_t *ctx, const kvv_t *form)
{
    const char *action = kvv_get(form, "Action");
    char why[512];
    jv_t *in = NULL;
    if (action_check(ctx, action) != 0)
        return;
    jv_doc_t *doc = jv_doc_new();
    int rc = sqs_query_to_json(action, form, doc, &in, why, sizeof why);
    if (rc != SQS_SHAPES_OK) {
        jv_doc_free(doc);
        sqs_query_fail(ctx, rc == SQS_SHAPES_UNKNOWN_ACTION ? ST_INVALID_ACTION : ST_INVALID_PARAMETER_VALUE, why);
        return;
    }
    snprintf(ctx->action, sizeof ctx->action, "%s", action);
    sqs_request_t req = {.action = ctx->action,
                         .doc = doc,
                         .input = in,
                         .host = ctx->host,
                         .path_queue_url = path_is_queue(ctx->path) ? ctx->path : NULL,
                         .access_key = ctx->access_key,
                         .trace_header = ctx->trace,
                         .query = 1};
    sqs_call_t *call = sqs_api_call(ctx->rt->sqs, &req, query_done, ctx);
    if (call) { /* a long poll */
        ctx->call = call;
        router_park(ctx);
    }
}
