/*
 * backend — what a kind of handler (plugin, process, http) provides to the
 * functions module. functions.c owns slots, backlog and timeouts; a backend
 * only runs the calls it is given.
 *
 * Contract:
 *  - start(be, call): run the call. The call's fields are valid during this
 *    function only: copy what is needed. functions.c never starts more than
 *    the function's concurrency at once.
 *  - Report the outcome with functions__done(fs, call->id, &result) on the
 *    loop thread, exactly once per started call, possibly from inside start.
 *    A result for a call that already timed out is ignored (harmless).
 *  - cancel(be, id): the call timed out; stop working on it if possible (the
 *    process backend kills the runtime that holds it and starts another).
 *    No result is expected after cancel, but one may still arrive.
 *  - close(be): stop everything and free; no callbacks afterwards.
 */
#ifndef SLUICE_FN_BACKEND_H
#define SLUICE_FN_BACKEND_H

#include "functions/functions.h"

typedef struct fn_call {
    uint64_t id;
    const char *event;
    size_t event_len;
    const char *request_id;
    const char *trace_header;  /* Lambda-Runtime-Trace-Id, or NULL */
    uint64_t deadline_wall_ms; /* epoch ms: Lambda-Runtime-Deadline-Ms */
    const fn_record_t *records; /* the event's records, for a record handler; else NULL (valid during start only) */
    size_t nrecords;
} fn_call_t;

typedef struct fn_backend_ops {
    void (*start)(void *be, const fn_call_t *call);
    void (*cancel)(void *be, uint64_t call_id);
    void (*close)(void *be);
} fn_backend_ops_t;

/* Reports a call's outcome (loop thread only). */
void functions__done(functions_t *fs, uint64_t call_id, const fn_result_t *r);

/* Backend constructors: 0 with *ops and *be set, or -1 with a reason in why. */
int fn_plugin_open(functions_t *fs, function_t *f, const fn_def_t *def, unsigned threads,
                   const fn_backend_ops_t **ops, void **be, char *why, size_t why_len);
int fn_runtime_open(functions_t *fs, function_t *f, const fn_def_t *def, const fn_backend_ops_t **ops, void **be,
                    char *why, size_t why_len);
int fn_http_open(functions_t *fs, function_t *f, const fn_def_t *def, const fn_backend_ops_t **ops, void **be,
                 char *why, size_t why_len);

/* Builds the error document {"errorMessage": msg, "errorType": type} into out. */
struct buf;
void fn__error_doc(struct buf *out, const char *type, const char *msg);

#endif
