/*
 * lambda_api — the AWS Lambda API subset over REST-JSON (API version
 * 2015-03-31): Invoke, GetFunction, GetFunctionConfiguration,
 * ListFunctions and the event source mapping operations, over the engine in
 * src/functions/. See lambda_api.c for the routes, shapes and errors.
 *
 * Threads: loop thread only.
 */
#ifndef SLUICE_LAMBDA_API_H
#define SLUICE_LAMBDA_API_H

#include "proto/router.h"

/* True when path (without its query string) belongs to this front-end:
 * /2015-03-31/functions[/...] or /2015-03-31/event-source-mappings[/...]. */
int lambda_api_match(const char *path);

/* Serves one request whose path lambda_api_match accepted. Replies through
 * router_reply, now or — for a synchronous Invoke — when the function
 * finishes; in that case ctx->cancel is armed so that a client that goes
 * away first makes the call forgotten (function_forget). */
void lambda_api_handle(req_ctx_t *ctx);

/* Answers ctx with st in Lambda's error shape (the router's signature check). */
void lambda_api_fail(req_ctx_t *ctx, status_t st, const char *message);

#endif
