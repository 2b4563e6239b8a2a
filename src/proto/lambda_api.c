/*
 * lambda_api — the Lambda REST-JSON front-end. A request is routed by
 * method and path (the table ROUTES below); the operation reads its path
 * labels, query string and JSON body, calls the functions engine and
 * answers through router_reply, which adds x-amzn-RequestId and holds the
 * reply until what the engine appended (an accepted Event invocation, a
 * created, updated or deleted mapping) is durable.
 *
 *   POST   /2015-03-31/functions/{FunctionName}/invocations  Invoke
 *   GET    /2015-03-31/functions/{FunctionName}              GetFunction
 *   GET    /2015-03-31/functions/{FunctionName}/configuration GetFunctionConfiguration
 *   GET    /2015-03-31/functions[/]                          ListFunctions (Marker, MaxItems)
 *   POST   /2015-03-31/event-source-mappings[/]              CreateEventSourceMapping (202)
 *   GET    /2015-03-31/event-source-mappings[/]              ListEventSourceMappings
 *   GET    /2015-03-31/event-source-mappings/{UUID}          GetEventSourceMapping
 *   PUT    /2015-03-31/event-source-mappings/{UUID}          UpdateEventSourceMapping (202)
 *   DELETE /2015-03-31/event-source-mappings/{UUID}          DeleteEventSourceMapping (202)
 *
 * Any other method and path under those prefixes has no operation: 404
 * UnknownOperationException (one answer for an unknown path and a known
 * path with the wrong method, as an operation is the pair).
 *
 * FunctionName (path label, body member or query parameter) is a name, a
 * full ARN, a partial ARN <account>:function:<name>, or any of these with
 * the qualifier $LATEST (also accepted as the Qualifier query parameter);
 * other qualifiers name versions and aliases Sluice does not have, so they
 * are not found. Labels are percent-decoded (botocore encodes ':' and '$').
 *
 * Errors: status, x-amzn-ErrorType: <Code> and {"Type":"User"|"Service",
 * "message": ...} — "Message" for ResourceNotFoundException and
 * ServiceException, which is the member casing of the Lambda model.
 *   engine status                          → error (HTTP)
 *   RESOURCE_NOT_FOUND, NOT_FOUND          → ResourceNotFoundException (404)
 *   INVALID_PARAMETER_VALUE, VALIDATION_…  → InvalidParameterValueException (400)
 *   MALFORMED_REQUEST (body not JSON)      → InvalidRequestContentException (400)
 *   TOO_LARGE                              → RequestTooLargeException (413)
 *   REQUEST_THROTTLED, OVER_LIMIT          → TooManyRequestsException (429, Retry-After: 1)
 *   OVERLOADED (server.max_pending_requests) → TooManyRequestsException (429, Retry-After: 1
 *                                            from the router), no Reason
 *   ALREADY_EXISTS                         → ResourceConflictException (409)
 *   MISSING_AUTH                           → MissingAuthenticationTokenException (403)
 *   INCOMPLETE_SIGNATURE                   → IncompleteSignature (403)
 *   INVALID_CLIENT_TOKEN                   → UnrecognizedClientException (403)
 *   SIGNATURE_MISMATCH                     → InvalidSignatureException (403)
 *   REQUEST_EXPIRED                        → RequestExpired (400)
 *   anything else                          → ServiceException (500)
 *
 * Invoke. X-Amz-Invocation-Type RequestResponse (default) waits for the
 * function: 200, the result as body, X-Amz-Executed-Version: $LATEST; a
 * function error (handler error, timeout, runtime exit) is still 200 with
 * X-Amz-Function-Error: Unhandled and the error document as body, as in
 * Lambda. Event accepts the invocation durably (function_invoke_async): 202,
 * empty body. DryRun checks the function exists: 204. The payload must be
 * JSON text (any value); an empty body is the event {} (what Lambda hands a
 * function invoked without a payload). X-Amz-Log-Type: Tail answers with
 * X-Amz-Log-Result, the base64 of the START/END/REPORT lines Lambda would
 * log — Sluice keeps no function logs, so that is the whole tail.
 *
 * Shapes. FunctionConfiguration: Runtime is "provided.al2023" for process
 * functions (they speak the custom-runtime API) and absent for plugin and
 * http functions, which have no Lambda runtime; Handler is the configured
 * handler (plugin "lib.so:symbol", the URL for http); MemorySize 128 when
 * unlimited; Timeout in whole seconds rounded up; LastModified is when the
 * function was declared (functions live for the daemon's life). Mappings report State
 * "Creating" from Create, "Updating"/"Enabling"/"Disabling" from Update and
 * "Deleting" from Delete (the transition Lambda reports; Sluice's is
 * already done, so a Get right after shows "Enabled"/"Disabled").
 *
 * Mapping extensions. EventSourceArn must be an SQS queue of this engine
 * (arn:aws:sqs:<region>:<account>:<queue>). DestinationConfig
 * {"OnSuccess":{"Destination":d},"OnFailure":{"Destination":d}} — a real
 * Lambda member, for SQS mappings a Sluice extension — sends each
 * record's outcome to d ("table:<name>", "queue:<name>", "topic:<name>" or
 * an ARN); "SluiceRateLimit": n (Sluice only) caps the mapping at n
 * messages per second (0: no cap). Both are echoed in responses when set.
 * FunctionName in UpdateEventSourceMapping may only name the mapping's
 * own function (the engine keeps a mapping's function for its life).
 */
#include "proto/lambda_api.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "functions/functions.h"
#include "functions/mappings.h"
#include "proto/form.h"
#include "util/alloc.h"
#include "util/clock.h"
#include "util/jv.h"
#include "util/text.h"
#include "util/trace.h"

#define LAMBDA_FN_PREFIX "/2015-03-31/functions"
#define LAMBDA_ESM_PREFIX "/2015-03-31/event-source-mappings"
#define LAMBDA_CTYPE "application/json"
#define LAMBDA_SEG_MAX 512
#define LAMBDA_FN_PAGE 50    /* ListFunctions default MaxItems */
#define LAMBDA_ESM_PAGE 100  /* ListEventSourceMappings default MaxItems */
#define LAMBDA_PAGE_MAX 10000
#define LAMBDA_QUEUE_MAX 128

/* What an operation gets: the engine, the decoded path labels, the query. */
typedef struct lambda_req {
    functions_t *fs;
    char seg[2][LAMBDA_SEG_MAX];
    int nseg;
    kvv_t query;
} lambda_req_t;

/* ---- errors ------------------------------------------------------------------------------- */

typedef struct lambda_err {
    const char *code;
    int status;
    const char *msg_key; /* the member casing of the Lambda model */
    const char *type;
} lambda_err_t;

static const lambda_err_t ERR_NOT_FOUND = {"ResourceNotFoundException", 404, "Message", "User"};
static const lambda_err_t ERR_PARAM = {"InvalidParameterValueException", 400, "message", "User"};
static const lambda_err_t ERR_CONTENT = {"InvalidRequestContentException", 400, "message", "User"};
static const lambda_err_t ERR_TOO_LARGE = {"RequestTooLargeException", 413, "message", "User"};
static const lambda_err_t ERR_THROTTLED = {"TooManyRequestsException", 429, "message", "User"};
static const lambda_err_t ERR_OVERLOADED = {"TooManyRequestsException", 429, "message", "User"};
static const lambda_err_t ERR_CONFLICT = {"ResourceConflictException", 409, "message", "User"};
static const lambda_err_t ERR_SERVICE = {"ServiceException", 500, "Message", "Service"};
static const lambda_err_t ERR_UNKNOWN_OP = {"UnknownOperationException", 404, "message", "User"};
/* The signature check (Lambda API reference, Common Errors; the two it does
 * not list are the exceptions Lambda's front door answers with) */
static const lambda_err_t ERR_NO_AUTH = {"MissingAuthenticationTokenException", 403, "message", "User"};
static const lambda_err_t ERR_INCOMPLETE_SIG = {"IncompleteSignature", 403, "message", "User"};
static const lambda_err_t ERR_UNKNOWN_KEY = {"UnrecognizedClientException", 403, "message", "User"};
static const lambda_err_t ERR_BAD_SIG = {"InvalidSignatureException", 403, "message", "User"};
static const lambda_err_t ERR_EXPIRED = {"RequestExpired", 400, "message", "User"};

static const lambda_err_t *err_for(status_t st)
{
    switch (st) {
    case ST_RESOURCE_NOT_FOUND:
    case ST_NOT_FOUND:
        return &ERR_NOT_FOUND;
    case ST_INVALID_PARAMETER_VALUE:
    case ST_MISSING_PARAMETER:
    case ST_INVALID_PARAMETER_COMBINATION:
    case ST_INVALID_PARAMETER:
    case ST_VALIDATION_ERROR:
        return &ERR_PARAM;
    case ST_MALFORMED_REQUEST:
        return &ERR_CONTENT;
    case ST_TOO_LARGE:
        return &ERR_TOO_LARGE;
    case ST_REQUEST_THROTTLED:
    case ST_OVER_LIMIT:
        return &ERR_THROTTLED;
    case ST_OVERLOADED:
        return &ERR_OVERLOADED;
    case ST_ALREADY_EXISTS:
        return &ERR_CONFLICT;
    case ST_MISSING_AUTH:
        return &ERR_NO_AUTH;
    case ST_INCOMPLETE_SIGNATURE:
        return &ERR_INCOMPLETE_SIG;
    case ST_INVALID_CLIENT_TOKEN:
        return &ERR_UNKNOWN_KEY;
    case ST_SIGNATURE_MISMATCH:
        return &ERR_BAD_SIG;
    case ST_REQUEST_EXPIRED:
        return &ERR_EXPIRED;
    default:
        return &ERR_SERVICE;
    }
}

/* Sends v as the JSON body and frees ctx. */
static void reply_json(req_ctx_t *ctx, int status, const char *extra, const jv_t *v)
{
    buf_t body = BUF_INIT;
    jv_write(v, &body);
    router_reply(ctx, status, LAMBDA_CTYPE, extra, body.data, body.len);
    buf_free(&body);
}

static void fail_with(req_ctx_t *ctx, const lambda_err_t *e, const char *msg)
{
    jv_doc_t *d = jv_doc_new();
    jv_t *o = jv_object(d);
    int throttled = e == &ERR_THROTTLED;
    char extra[160];
    jv_set(d, o, "Type", jv_string(d, e->type));
    jv_set(d, o, e->msg_key, jv_string(d, msg ? msg : ""));
    if (throttled)
        jv_set(d, o, "Reason", jv_string(d, "ReservedFunctionConcurrentInvocationLimitExceeded"));
    snprintf(extra, sizeof extra, "x-amzn-ErrorType: %s\r\n%s", e->code, throttled ? "Retry-After: 1\r\n" : "");
    reply_json(ctx, e->status, extra, o);
    jv_doc_free(d);
}

static void fail(req_ctx_t *ctx, status_t st, const char *msg)
{
    fail_with(ctx, err_for(st), msg);
}

void lambda_api_fail(req_ctx_t *ctx, status_t st, const char *message)
{
    fail(ctx, st, message);
}

/* ---- request pieces ------------------------------------------------------------------------- */

/* Splits what follows the prefix ("", "/", "/a", "/a/b", "/a/b/") into at
 * most two decoded labels. -1 when there are more, or one is empty or bad. */
static int split_labels(const char *rest, lambda_req_t *rq)
{
    rq->nseg = 0;
    while (*rest == '/' && rest[1]) {
        const char *s = rest + 1, *e = strchr(s, '/');
        size_t n = e ? (size_t)(e - s) : strlen(s);
        if (n == 0 || rq->nseg == 2 || form_decode_segment(s, n, rq->seg[rq->nseg], LAMBDA_SEG_MAX) != 0)
            return -1;
        rq->nseg++;
        rest = s + n;
    }
    return *rest == '\0' || strcmp(rest, "/") == 0 ? 0 : -1;
}

/* The request body as a JSON object in d; replies and returns NULL when it
 * is not one. An empty body is {}. */
static jv_t *body_object(req_ctx_t *ctx, jv_doc_t *d)
{
    char why[256], msg[320];
    if (ctx->ex->body_len == 0)
        return jv_object(d);
    jv_t *in = jv_parse(d, ctx->ex->body, ctx->ex->body_len, why, sizeof why);
    if (jv_is(in, JV_OBJECT))
        return in;
    snprintf(msg, sizeof msg, "Could not parse request body into json: %s", in ? "not a JSON object" : why);
    fail_with(ctx, &ERR_CONTENT, msg);
    return NULL;
}

/* MaxItems (1..10000, default def) of a list operation; replies and
 * returns -1 when it is not a number in range. */
static int page_size(req_ctx_t *ctx, const lambda_req_t *rq, size_t def, size_t *out)
{
    const char *v = kvv_get(&rq->query, "MaxItems");
    int64_t i = 0;
    *out = def;
    if (!v)
        return 0;
    if (text_parse_i64(v, &i) != 0 || i < 1 || i > LAMBDA_PAGE_MAX) {
        fail_with(ctx, &ERR_PARAM, "MaxItems must be an integer between 1 and 10000");
        return -1;
    }
    *out = (size_t)i;
    return 0;
}

/* One page of a list sorted by key: the entries after Marker (the last key
 * of the page before: paging holds while entries come and go), at most
 * MaxItems of them. */
typedef struct lambda_page {
    size_t from, to;  /* entries [from, to) */
    const char *next; /* NextMarker, or NULL on the last page */
} lambda_page_t;

/* The page of keys[0..n) (sorted) the query asks for; replies and returns
 * -1 when MaxItems is bad. */
static int page_find(req_ctx_t *ctx, const lambda_req_t *rq, const char *const *keys, size_t n, size_t def,
                     lambda_page_t *pg)
{
    const char *marker = kvv_get(&rq->query, "Marker");
    size_t max;
    if (page_size(ctx, rq, def, &max) != 0)
        return -1;
    pg->from = 0;
    while (marker && pg->from < n && strcmp(keys[pg->from], marker) <= 0)
        pg->from++;
    pg->to = n - pg->from > max ? pg->from + max : n;
    pg->next = pg->to < n ? keys[pg->to - 1] : NULL;
    return 0;
}

/* Replies {member: list, "NextMarker": next?} and frees d. */
static void reply_page(req_ctx_t *ctx, jv_doc_t *d, const char *member, jv_t *list, const char *next)
{
    jv_t *o = jv_set(d, jv_object(d), member, list);
    if (next)
        jv_set(d, o, "NextMarker", jv_string(d, next));
    reply_json(ctx, 200, NULL, o);
    jv_doc_free(d);
}

/* ---- function references ------------------------------------------------------------------- */

/* ref (name, ARN, partial ARN, each maybe with :qualifier) as a full ARN. */
static void full_arn(const functions_t *fs, const char *ref, char *out, size_t n)
{
    const char *region = functions_region(fs), *account = functions_account(fs);
    if (strncmp(ref, "arn:", 4) == 0)
        snprintf(out, n, "%s", ref);
    else if (strstr(ref, ":function:"))
        snprintf(out, n, "arn:aws:lambda:%s:%s", region, ref);
    else
        snprintf(out, n, "arn:aws:lambda:%s:%s:function:%s", region, account, ref);
}

/* Finds the function ref names (Qualifier may be NULL); ST_RESOURCE_NOT_FOUND
 * with Lambda's "Function not found: <arn>" when there is none. */
static status_t find_function(const functions_t *fs, const char *ref, const char *qualifier, function_t **out,
                              err_t *err)
{
    char arn[LAMBDA_SEG_MAX + 160];
    full_arn(fs, ref ? ref : "", arn, sizeof arn);
    *out = NULL;
    if (qualifier && strcmp(qualifier, "$LATEST") != 0)
        return err_set(err, ST_RESOURCE_NOT_FOUND, "Function not found: %s:%s", arn, qualifier);
    *out = ref && *ref ? functions_find_ref(fs, arn) : NULL;
    if (!*out)
        return err_set(err, ST_RESOURCE_NOT_FOUND, "Function not found: %s", arn);
    return ST_OK;
}

/* The function of the path label; replies and returns NULL when missing. */
static function_t *path_function(req_ctx_t *ctx, const lambda_req_t *rq)
{
    function_t *f;
    err_t err;
    if (find_function(rq->fs, rq->seg[0], kvv_get(&rq->query, "Qualifier"), &f, &err) != ST_OK)
        fail(ctx, ST_RESOURCE_NOT_FOUND, err.msg);
    return f;
}

/* ---- functions ---------------------------------------------------------------------------- */

/* "2024-01-01T00:00:00.000+0000", Lambda's FunctionConfiguration.LastModified. */
static void iso_lambda(uint64_t ms, char out[40])
{
    struct tm tm;
    time_t s = (time_t)(ms / 1000);
    char day[24];
    gmtime_r(&s, &tm);
    strftime(day, sizeof day, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out, 40, "%s.%03u+0000", day, (unsigned)(ms % 1000));
}

static jv_t *fn_environment(jv_doc_t *d, const fn_def_t *def)
{
    if (def->nenv == 0)
        return NULL;
    jv_t *vars = jv_object(d);
    for (size_t i = 0; i < def->nenv; i++)
        jv_set_copy(d, vars, def->env[i].key, strlen(def->env[i].key), jv_string(d, def->env[i].val));
    return jv_set(d, jv_object(d), "Variables", vars);
}

static jv_t *fn_configuration(jv_doc_t *d, const function_t *f)
{
    const fn_def_t *def = function_def(f);
    char arn[256], when[40];
    function_arn(f, arn, sizeof arn);
    iso_lambda(function_declared_ms(f), when);
    jv_t *o = jv_object(d);
    jv_set(d, o, "FunctionName", jv_string(d, def->name));
    jv_set(d, o, "FunctionArn", jv_string(d, arn));
    if (def->kind == FN_KIND_PROCESS)
        jv_set(d, o, "Runtime", jv_string(d, "provided.al2023"));
    jv_set(d, o, "Handler", jv_string(d, def->handler));
    jv_set(d, o, "CodeSize", jv_int(d, 0));
    jv_set(d, o, "Description", jv_string(d, ""));
    jv_set(d, o, "Timeout", jv_int(d, (def->timeout_ms + 999) / 1000));
    jv_set(d, o, "MemorySize", jv_int(d, def->memory_mb ? def->memory_mb : 128));
    jv_set(d, o, "LastModified", jv_string(d, when));
    jv_set(d, o, "Version", jv_string(d, "$LATEST"));
    jv_set(d, o, "Environment", fn_environment(d, def));
    jv_set(d, o, "TracingConfig", jv_set(d, jv_object(d), "Mode", jv_string(d, "PassThrough")));
    jv_set(d, o, "State", jv_string(d, "Active"));
    jv_set(d, o, "LastUpdateStatus", jv_string(d, "Successful"));
    jv_set(d, o, "PackageType", jv_string(d, "Zip"));
    jv_set(d, o, "Architectures", jv_push(d, jv_array(d), jv_string(d, "x86_64")));
    jv_set(d, o, "EphemeralStorage", jv_set(d, jv_object(d), "Size", jv_int(d, 512)));
    return o;
}

static void op_get_function(req_ctx_t *ctx, lambda_req_t *rq)
{
    function_t *f = path_function(ctx, rq);
    if (!f)
        return;
    jv_doc_t *d = jv_doc_new();
    jv_t *o = jv_object(d), *code = jv_object(d);
    jv_set(d, code, "RepositoryType", jv_string(d, "S3"));
    jv_set(d, code, "Location", jv_string(d, ""));
    jv_set(d, o, "Configuration", fn_configuration(d, f));
    jv_set(d, o, "Code", code);
    jv_set(d, o, "Tags", jv_object(d));
    jv_set(d, o, "Concurrency",
           jv_set(d, jv_object(d), "ReservedConcurrentExecutions", jv_int(d, function_def(f)->concurrency)));
    reply_json(ctx, 200, NULL, o);
    jv_doc_free(d);
}

static void op_get_configuration(req_ctx_t *ctx, lambda_req_t *rq)
{
    function_t *f = path_function(ctx, rq);
    if (!f)
        return;
    jv_doc_t *d = jv_doc_new();
    reply_json(ctx, 200, NULL, fn_configuration(d, f));
    jv_doc_free(d);
}

/* Functions in name order. */
static void op_list_functions(req_ctx_t *ctx, lambda_req_t *rq)
{
    strv_t names = {0};
    lambda_page_t pg;
    functions_list(rq->fs, &names);
    if (page_find(ctx, rq, (const char *const *)names.v, names.n, LAMBDA_FN_PAGE, &pg) == 0) {
        jv_doc_t *d = jv_doc_new();
        jv_t *list = jv_array(d);
        for (size_t i = pg.from; i < pg.to; i++)
            jv_push(d, list, fn_configuration(d, functions_find(rq->fs, names.v[i])));
        reply_page(ctx, d, "Functions", list, pg.next);
    }
    strv_free(&names);
}

/* ---- Invoke --------------------------------------------------------------------------------- */

/* A synchronous invocation waiting for its function. */
typedef struct lambda_call {
    req_ctx_t *ctx;
    function_t *f;
    uint64_t call;
    int tail; /* X-Amz-Log-Type: Tail */
} lambda_call_t;

/* X-Amz-Log-Result: the base64 of the lines Lambda logs around a call. */
static void log_result(buf_t *extra, const char *rid, const fn_result_t *r)
{
    char text[512];
    double ms = r->duration_us / 1000.0;
    int n = snprintf(text, sizeof text,
                     "START RequestId: %s Version: $LATEST\nEND RequestId: %s\nREPORT RequestId: %s\t"
                     "Duration: %.2f ms\tBilled Duration: %llu ms\t\n",
                     rid, rid, rid, ms, (unsigned long long)(r->duration_us + 999) / 1000);
    buf_puts(extra, "X-Amz-Log-Result: ");
    text_b64_encode(text, (size_t)n < sizeof text ? (size_t)n : sizeof text - 1, extra);
    buf_puts(extra, "\r\n");
}

static void invoke_done(void *arg, const fn_result_t *r)
{
    lambda_call_t *lc = arg;
    req_ctx_t *ctx = lc->ctx;
    ctx->cancel = NULL;
    if (!r->ok && r->error_type && strcmp(r->error_type, "Throttled") == 0) {
        fail_with(ctx, &ERR_THROTTLED, "Rate Exceeded.");
    } else {
        buf_t extra = BUF_INIT;
        buf_puts(&extra, "X-Amz-Executed-Version: $LATEST\r\n");
        if (!r->ok)
            buf_puts(&extra, "X-Amz-Function-Error: Unhandled\r\n");
        if (lc->tail)
            log_result(&extra, ctx->request_id, r);
        router_reply(ctx, 200, LAMBDA_CTYPE, extra.data, r->payload, r->len);
        buf_free(&extra);
    }
    free(lc);
}

/* The client went away: the call runs on, its result is not wanted. */
static void invoke_cancel(void *arg)
{
    lambda_call_t *lc = arg;
    function_forget(lc->f, lc->call);
    free(lc);
}

static void invoke_sync(req_ctx_t *ctx, function_t *f, const char *event, size_t len)
{
    lambda_call_t *lc = xcalloc(1, sizeof *lc);
    char logtype[16];
    err_t err;
    router_header(ctx->ex->head, "X-Amz-Log-Type", logtype, sizeof logtype);
    lc->ctx = ctx;
    lc->f = f;
    lc->tail = strcmp(logtype, "Tail") == 0;
    status_t st = function_invoke(f, event, len, ctx->request_id, invoke_done, lc, &lc->call, &err);
    if (st != ST_OK) {
        free(lc);
        fail(ctx, st, err.msg);
        return;
    }
    /* X-Amzn-Trace-Id, what the SDKs send (ctx->trace) */
    char key[TRACE_ID_MAX + 1];
    const char *header = ctx->trace[0] ? ctx->trace : NULL;
    function_trace(f, lc->call, trace_msg_key(header, ctx->request_id, key), header);
    ctx->cancel = invoke_cancel;
    ctx->cancel_arg = lc;
    router_watch(ctx);
}

static void invoke_async(req_ctx_t *ctx, function_t *f, const char *event, size_t len)
{
    err_t err;
    status_t st = function_invoke_async(f, event, len, ctx->request_id, NULL, &err);
    if (st != ST_OK) {
        fail(ctx, st, err.msg);
        return;
    }
    /* the invocation runs later under its request id; a client's trace leads there */
    char key[TRACE_ID_MAX + 1];
    const char *header = ctx->trace[0] ? ctx->trace : NULL;
    trace_hop_link(trace_msg_key(header, ctx->request_id, key), TRACE_FUNCTION_QUEUED, function_def(f)->name,
                   ctx->request_id, header ? ctx->request_id : NULL);
    router_reply(ctx, 202, LAMBDA_CTYPE, NULL, "", 0);
}

/* 0 when the payload is JSON text; else replies InvalidRequestContentException. */
static int payload_check(req_ctx_t *ctx, const char *p, size_t n)
{
    char why[256], msg[400];
    jv_doc_t *d = jv_doc_new();
    jv_t *v = jv_parse(d, p, n, why, sizeof why);
    jv_doc_free(d);
    if (v)
        return 0;
    snprintf(msg, sizeof msg, "Could not parse request body into json: Could not parse payload into json: %s", why);
    fail_with(ctx, &ERR_CONTENT, msg);
    return -1;
}

static void op_invoke(req_ctx_t *ctx, lambda_req_t *rq)
{
    char type[32], msg[128];
    function_t *f = path_function(ctx, rq);
    if (!f)
        return;
    router_header(ctx->ex->head, "X-Amz-Invocation-Type", type, sizeof type);
    int event = strcmp(type, "Event") == 0, sync = !type[0] || strcmp(type, "RequestResponse") == 0;
    if (strcmp(type, "DryRun") == 0) {
        router_reply(ctx, 204, NULL, NULL, "", 0);
        return;
    }
    if (!event && !sync) {
        fail_with(ctx, &ERR_PARAM, "X-Amz-Invocation-Type must be one of RequestResponse, Event, DryRun");
        return;
    }
    const char *p = ctx->ex->body_len ? ctx->ex->body : "{}";
    size_t n = ctx->ex->body_len ? ctx->ex->body_len : 2;
    if (sync && n > FN_SYNC_EVENT_MAX) {
        snprintf(msg, sizeof msg, "Request must be smaller than %d bytes for the InvokeFunction operation",
                 FN_SYNC_EVENT_MAX);
        fail_with(ctx, &ERR_TOO_LARGE, msg);
        return;
    }
    if (payload_check(ctx, p, n) != 0)
        return;
    if (event)
        invoke_async(ctx, f, p, n);
    else
        invoke_sync(ctx, f, p, n);
}

/* ---- event source mappings: requests ---------------------------------------------------------- */

/* arn:aws:sqs:<region>:<account>:<queue> of this engine → queue. */
static status_t queue_of_arn(const functions_t *fs, const char *arn, char *queue, err_t *err)
{
    char prefix[160];
    int n = snprintf(prefix, sizeof prefix, "arn:aws:sqs:%s:%s:", functions_region(fs), functions_account(fs));
    const char *name = arn && strncmp(arn, prefix, (size_t)n) == 0 ? arn + n : NULL;
    if (!name || !*name || strchr(name, ':') || strlen(name) >= LAMBDA_QUEUE_MAX)
        return err_set(err, ST_INVALID_PARAMETER_VALUE,
                       "Unsupported event source %s: Sluice maps the SQS queues of this service (%s<queue>)",
                       arn ? arn : "", prefix);
    snprintf(queue, LAMBDA_QUEUE_MAX, "%s", name);
    return ST_OK;
}

/* in.key into *out: NULL when absent or null; ST_INVALID_PARAMETER_VALUE
 * when present and not of type t (what names it in the message). */
static status_t member(const jv_t *in, const char *key, jv_type_t t, const char *what, const jv_t **out,
                       err_t *err)
{
    const jv_t *v = jv_get(in, key);
    *out = NULL;
    if (!v || jv_is(v, JV_NULL))
        return ST_OK;
    if (!jv_is(v, t))
        return err_set(err, ST_INVALID_PARAMETER_VALUE, "%s must be %s", key, what);
    *out = v;
    return ST_OK;
}

/* key, when present, as a uint32 into *out. */
static status_t read_u32(const jv_t *in, const char *key, uint32_t *out, err_t *err)
{
    const jv_t *v;
    status_t st = member(in, key, JV_NUMBER, "a non-negative integer", &v, err);
    if (st != ST_OK || !v)
        return st;
    if (!v->is_int || v->i < 0 || v->i > UINT32_MAX)
        return err_set(err, ST_INVALID_PARAMETER_VALUE, "%s must be a non-negative integer", key);
    *out = (uint32_t)v->i;
    return ST_OK;
}

static status_t read_enabled(const jv_t *in, int *out, err_t *err)
{
    const jv_t *v;
    status_t st = member(in, "Enabled", JV_BOOL, "a boolean", &v, err);
    if (v)
        *out = v->boolean;
    return st;
}

static status_t read_response_types(const jv_t *in, int *out, err_t *err)
{
    const jv_t *v;
    status_t st = member(in, "FunctionResponseTypes", JV_ARRAY, "a list", &v, err);
    if (st != ST_OK || !v)
        return st;
    const char *t = jv_count(v) ? jv_str(jv_at(v, 0)) : NULL;
    if (jv_count(v) > 1 || (jv_count(v) && (!t || strcmp(t, "ReportBatchItemFailures") != 0)))
        return err_set(err, ST_INVALID_PARAMETER_VALUE,
                       "FunctionResponseTypes: the only valid value is [\"ReportBatchItemFailures\"]");
    *out = t != NULL;
    return ST_OK;
}

/* ScalingConfig, when present, sets MaximumConcurrency (absent: none). */
static status_t read_scaling(const jv_t *in, uint32_t *out, err_t *err)
{
    const jv_t *v;
    status_t st = member(in, "ScalingConfig", JV_OBJECT, "an object", &v, err);
    if (st != ST_OK || !v)
        return st;
    *out = 0;
    return read_u32(v, "MaximumConcurrency", out, err);
}

/* DestinationConfig.<which>.Destination; "" or absent clears. */
static status_t read_destination(const jv_t *cfg, const char *which, const char **out, err_t *err)
{
    const jv_t *v, *dest = NULL;
    status_t st = member(cfg, which, JV_OBJECT, "an object", &v, err);
    if (st == ST_OK && v)
        st = member(v, "Destination", JV_STRING, "a string", &dest, err);
    *out = dest && *jv_str(dest) ? jv_str(dest) : NULL;
    return st;
}

/* DestinationConfig, when present, replaces both destinations. */
static status_t read_destinations(const jv_t *in, esm_def_t *d, err_t *err)
{
    const jv_t *v;
    status_t st = member(in, "DestinationConfig", JV_OBJECT, "an object", &v, err);
    if (st != ST_OK || !v)
        return st;
    st = read_destination(v, "OnSuccess", &d->on_success, err);
    return st != ST_OK ? st : read_destination(v, "OnFailure", &d->on_failure, err);
}

/* Applies the members present in the request to d (strings point into the
 * request document). The engine checks the ranges. */
static status_t esm_read(const jv_t *in, esm_def_t *d, err_t *err)
{
    status_t st;
    if ((st = read_u32(in, "BatchSize", &d->batch_size, err)) != ST_OK ||
        (st = read_u32(in, "MaximumBatchingWindowInSeconds", &d->window_s, err)) != ST_OK ||
        (st = read_u32(in, "SluiceRateLimit", &d->rate, err)) != ST_OK ||
        (st = read_enabled(in, &d->enabled, err)) != ST_OK ||
        (st = read_response_types(in, &d->report_failures, err)) != ST_OK ||
        (st = read_scaling(in, &d->max_concurrency, err)) != ST_OK)
        return st;
    return read_destinations(in, d, err);
}

/* FunctionName of a request body (required when want is NULL; when not,
 * it must name want). */
static status_t esm_function(const functions_t *fs, const jv_t *in, const char *want, const char **name, err_t *err)
{
    const jv_t *v = jv_get(in, "FunctionName");
    function_t *f;
    if (!v && want)
        return ST_OK;
    if (!jv_str(v) || !*jv_str(v))
        return err_set(err, ST_INVALID_PARAMETER_VALUE, "FunctionName is required");
    status_t st = find_function(fs, jv_str(v), NULL, &f, err);
    if (st != ST_OK)
        return st;
    *name = function_def(f)->name;
    if (want && strcmp(want, *name) != 0)
        return err_set(err, ST_INVALID_PARAMETER_VALUE,
                       "Sluice cannot move a mapping to another function: delete it and create a new one");
    return ST_OK;
}

/* ---- event source mappings: responses ---------------------------------------------------------- */

/* Seconds since the epoch with milliseconds, as a JSON number. */
static jv_t *epoch_seconds(jv_doc_t *d, uint64_t ms)
{
    char t[40];
    int n = snprintf(t, sizeof t, "%llu.%03u", (unsigned long long)(ms / 1000), (unsigned)(ms % 1000));
    return jv_parse(d, t, (size_t)n, NULL, 0);
}

static jv_t *esm_destinations(jv_doc_t *d, const esm_def_t *def)
{
    if (!def->on_success && !def->on_failure)
        return NULL;
    jv_t *o = jv_object(d);
    if (def->on_success)
        jv_set(d, o, "OnSuccess", jv_set(d, jv_object(d), "Destination", jv_string(d, def->on_success)));
    if (def->on_failure)
        jv_set(d, o, "OnFailure", jv_set(d, jv_object(d), "Destination", jv_string(d, def->on_failure)));
    return o;
}

static jv_t *esm_shape(jv_doc_t *d, const functions_t *fs, const esm_t *m, const char *state)
{
    const esm_def_t *def = esm_get_def(m);
    const char *region = functions_region(fs), *account = functions_account(fs);
    char arn[512];
    jv_t *o = jv_object(d), *types = jv_array(d);
    jv_set(d, o, "UUID", jv_string(d, def->uuid));
    jv_set(d, o, "BatchSize", jv_int(d, def->batch_size));
    jv_set(d, o, "MaximumBatchingWindowInSeconds", jv_int(d, def->window_s));
    snprintf(arn, sizeof arn, "arn:aws:sqs:%s:%s:%s", region, account, def->queue);
    jv_set(d, o, "EventSourceArn", jv_string(d, arn));
    snprintf(arn, sizeof arn, "arn:aws:lambda:%s:%s:function:%s", region, account, def->function);
    jv_set(d, o, "FunctionArn", jv_string(d, arn));
    jv_set(d, o, "LastModified", epoch_seconds(d, esm_last_modified_ms(m)));
    jv_set(d, o, "State", jv_string(d, state ? state : esm_state(m)));
    jv_set(d, o, "StateTransitionReason", jv_string(d, "USER_INITIATED"));
    if (def->report_failures)
        jv_push(d, types, jv_string(d, "ReportBatchItemFailures"));
    jv_set(d, o, "FunctionResponseTypes", types);
    if (def->max_concurrency)
        jv_set(d, o, "ScalingConfig", jv_set(d, jv_object(d), "MaximumConcurrency", jv_int(d, def->max_concurrency)));
    jv_set(d, o, "DestinationConfig", esm_destinations(d, def));
    if (def->rate)
        jv_set(d, o, "SluiceRateLimit", jv_int(d, def->rate));
    snprintf(arn, sizeof arn, "arn:aws:lambda:%s:%s:event-source-mapping:%s", region, account, def->uuid);
    jv_set(d, o, "EventSourceMappingArn", jv_string(d, arn));
    return o;
}

static void reply_esm(req_ctx_t *ctx, int status, const functions_t *fs, const esm_t *m, const char *state)
{
    jv_doc_t *d = jv_doc_new();
    reply_json(ctx, status, NULL, esm_shape(d, fs, m, state));
    jv_doc_free(d);
}

/* The mapping of the path label; replies and returns NULL when missing. */
static esm_t *path_esm(req_ctx_t *ctx, const lambda_req_t *rq)
{
    esm_t *m = esm_find(rq->fs, rq->seg[0]);
    if (!m)
        fail_with(ctx, &ERR_NOT_FOUND, "The resource you requested does not exist.");
    return m;
}

/* ---- event source mappings: operations ---------------------------------------------------------- */

static status_t esm_create_def(const functions_t *fs, const jv_t *in, esm_def_t *def, char *queue, err_t *err)
{
    const jv_t *src = jv_get(in, "EventSourceArn");
    status_t st = esm_function(fs, in, NULL, &def->function, err);
    if (st != ST_OK)
        return st;
    if (!jv_str(src))
        return err_set(err, ST_INVALID_PARAMETER_VALUE, "EventSourceArn is required (an SQS queue ARN)");
    if ((st = queue_of_arn(fs, jv_str(src), queue, err)) != ST_OK)
        return st;
    def->queue = queue;
    return esm_read(in, def, err);
}

static void op_esm_create(req_ctx_t *ctx, lambda_req_t *rq)
{
    jv_doc_t *d = jv_doc_new();
    jv_t *in = body_object(ctx, d);
    esm_def_t def = {.batch_size = 10, .enabled = 1};
    char queue[LAMBDA_QUEUE_MAX];
    esm_t *m = NULL;
    err_t err;
    if (in) {
        status_t st = esm_create_def(rq->fs, in, &def, queue, &err);
        if (st == ST_OK)
            st = esm_create(rq->fs, &def, &m, &err);
        if (st != ST_OK)
            fail(ctx, st, err.msg);
        else
            reply_esm(ctx, 202, rq->fs, m, "Creating");
    }
    jv_doc_free(d);
}

static void op_esm_get(req_ctx_t *ctx, lambda_req_t *rq)
{
    esm_t *m = path_esm(ctx, rq);
    if (m)
        reply_esm(ctx, 200, rq->fs, m, NULL);
}

static const char *update_state(int was, int now)
{
    return was == now ? "Updating" : now ? "Enabling" : "Disabling";
}

static void op_esm_update(req_ctx_t *ctx, lambda_req_t *rq)
{
    esm_t *m = path_esm(ctx, rq);
    if (!m)
        return;
    jv_doc_t *d = jv_doc_new();
    jv_t *in = body_object(ctx, d);
    esm_def_t def = *esm_get_def(m);
    int was = def.enabled;
    err_t err;
    if (in) {
        status_t st = esm_function(rq->fs, in, def.function, &def.function, &err);
        if (st == ST_OK)
            st = esm_read(in, &def, &err);
        if (st == ST_OK)
            st = esm_update(m, &def, &err);
        if (st != ST_OK)
            fail(ctx, st, err.msg);
        else
            reply_esm(ctx, 202, rq->fs, m, update_state(was, esm_get_def(m)->enabled));
    }
    jv_doc_free(d);
}

/* The reply is built first (the mapping goes with the delete) and sent
 * after, so it waits for the delete record. */
static void op_esm_delete(req_ctx_t *ctx, lambda_req_t *rq)
{
    esm_t *m = path_esm(ctx, rq);
    if (!m)
        return;
    jv_doc_t *d = jv_doc_new();
    buf_t body = BUF_INIT;
    err_t err;
    jv_write(esm_shape(d, rq->fs, m, "Deleting"), &body);
    status_t st = esm_delete(m, &err);
    if (st != ST_OK)
        fail(ctx, st, err.msg);
    else
        router_reply(ctx, 202, LAMBDA_CTYPE, NULL, body.data, body.len);
    buf_free(&body);
    jv_doc_free(d);
}

/* The FunctionName and EventSourceArn filters of a list, as names. */
static status_t list_filters(const lambda_req_t *rq, const char **fname, char *queue, err_t *err)
{
    const char *fref = kvv_get(&rq->query, "FunctionName"), *src = kvv_get(&rq->query, "EventSourceArn");
    function_t *f;
    status_t st = ST_OK;
    *fname = NULL;
    queue[0] = '\0';
    if (fref && (st = find_function(rq->fs, fref, NULL, &f, err)) == ST_OK)
        *fname = function_def(f)->name;
    if (st == ST_OK && src)
        st = queue_of_arn(rq->fs, src, queue, err);
    return st;
}

static int cmp_uuid(const void *a, const void *b)
{
    return strcmp(esm_get_def(*(esm_t *const *)a)->uuid, esm_get_def(*(esm_t *const *)b)->uuid);
}

/* The mappings that pass the filters in UUID order, and their UUIDs (the
 * caller frees both arrays). */
static void esm_sorted(const lambda_req_t *rq, const char *fname, const char *queue, esm_t ***all,
                       const char ***keys, size_t *n)
{
    esm_list(rq->fs, fname, queue[0] ? queue : NULL, all, n);
    if (*n > 1)
        qsort(*all, *n, sizeof **all, cmp_uuid);
    *keys = xcalloc(*n + 1, sizeof **keys);
    for (size_t i = 0; i < *n; i++)
        (*keys)[i] = esm_get_def((*all)[i])->uuid;
}

static void op_esm_list(req_ctx_t *ctx, lambda_req_t *rq)
{
    const char *fname, **keys;
    char queue[LAMBDA_QUEUE_MAX];
    esm_t **all;
    size_t n;
    lambda_page_t pg;
    err_t err;
    status_t st = list_filters(rq, &fname, queue, &err);
    if (st != ST_OK) {
        fail(ctx, st, err.msg);
        return;
    }
    esm_sorted(rq, fname, queue, &all, &keys, &n);
    if (page_find(ctx, rq, keys, n, LAMBDA_ESM_PAGE, &pg) == 0) {
        jv_doc_t *d = jv_doc_new();
        jv_t *list = jv_array(d);
        for (size_t i = pg.from; i < pg.to; i++)
            jv_push(d, list, esm_shape(d, rq->fs, all[i], NULL));
        reply_page(ctx, d, "EventSourceMappings", list, pg.next);
    }
    free(keys);
    free(all);
}

/* ---- routing ------------------------------------------------------------------------------- */

typedef void (*lambda_op_fn)(req_ctx_t *ctx, lambda_req_t *rq);

static const struct lambda_route {
    int esm;           /* under event-source-mappings, else functions */
    int nseg;          /* path labels after the prefix */
    const char *last;  /* the fixed second segment, or NULL */
    const char *method;
    lambda_op_fn op;
} ROUTES[] = {
    {0, 0, NULL, "GET", op_list_functions},
    {0, 1, NULL, "GET", op_get_function},
    {0, 2, "configuration", "GET", op_get_configuration},
    {0, 2, "invocations", "POST", op_invoke},
    {1, 0, NULL, "POST", op_esm_create},
    {1, 0, NULL, "GET", op_esm_list},
    {1, 1, NULL, "GET", op_esm_get},
    {1, 1, NULL, "PUT", op_esm_update},
    {1, 1, NULL, "DELETE", op_esm_delete},
};

static int has_prefix(const char *path, const char *prefix)
{
    size_t n = strlen(prefix);
    return strncmp(path, prefix, n) == 0 && (path[n] == '\0' || path[n] == '/');
}

int lambda_api_match(const char *path)
{
    return has_prefix(path, LAMBDA_FN_PREFIX) || has_prefix(path, LAMBDA_ESM_PREFIX);
}

static lambda_op_fn route_find(const http_head_t *h, int esm, const lambda_req_t *rq)
{
    for (size_t i = 0; i < sizeof ROUTES / sizeof ROUTES[0]; i++) {
        const struct lambda_route *r = &ROUTES[i];
        size_t ml = strlen(r->method);
        if (r->esm != esm || r->nseg != rq->nseg || h->method_len != ml || memcmp(h->method, r->method, ml) != 0)
            continue;
        if (!r->last || strcmp(rq->seg[1], r->last) == 0)
            return r->op;
    }
    return NULL;
}

static void unknown_operation(req_ctx_t *ctx)
{
    const http_head_t *h = ctx->ex->head;
    char msg[1200];
    snprintf(msg, sizeof msg, "No Lambda operation is %.*s %s", (int)h->method_len, h->method, ctx->path);
    fail_with(ctx, &ERR_UNKNOWN_OP, msg);
}

void lambda_api_handle(req_ctx_t *ctx)
{
    lambda_req_t *rq = xcalloc(1, sizeof *rq);
    int esm = has_prefix(ctx->path, LAMBDA_ESM_PREFIX);
    const char *rest = ctx->path + strlen(esm ? LAMBDA_ESM_PREFIX : LAMBDA_FN_PREFIX);
    char why[256];
    lambda_op_fn op = NULL;
    rq->fs = ctx->rt->functions;
    if (split_labels(rest, rq) == 0)
        op = route_find(ctx->ex->head, esm, rq);
    if (!rq->fs)
        fail_with(ctx, &ERR_SERVICE, "The Lambda API is not enabled on this server");
    else if (!op)
        unknown_operation(ctx);
    else if (router_query(ctx->ex, &rq->query, why, sizeof why) != 0)
        fail_with(ctx, &ERR_PARAM, why);
    else
        op(ctx, rq);
    kvv_free(&rq->query);
    free(rq);
}
