/*
 * sluice_plugin.h — the C ABI of an in-process Sluice function (kind
 * `plugin`). A plugin is a shared object that exports one handler per
 * function (the symbol named after the ':' in the function's `handler`
 * setting, "sluice_handler" when none is named) and optionally
 * sluice_plugin_init, called once after loading.
 *
 * Threads: handlers run on Sluice's worker threads, never on its event
 * loop, and the same handler may run on several threads at once (up to the
 * function's concurrency). A handler must be thread-safe and must not
 * block for longer than the function's timeout: past it, Sluice reports the
 * invocation as timed out and ignores its late result, but it cannot stop
 * the thread, which stays busy until the handler returns.
 *
 * Memory: *out must be allocated with malloc (Sluice frees it with free),
 * or left NULL for an empty result.
 *
 * Build: cc -shared -fPIC -o worker.so worker.c -I<sluice>/include
 */
#ifndef SLUICE_PLUGIN_H
#define SLUICE_PLUGIN_H

#include <stddef.h>
#include <stdint.h>

#define SLUICE_PLUGIN_ABI 1

typedef struct sluice_invocation {
    const char *event;        /* the event, JSON text, NUL-terminated */
    size_t event_len;
    const char *request_id;   /* the invocation's id (Lambda's awsRequestId) */
    const char *function_name;
    int64_t deadline_ms;      /* wall clock, epoch ms, when the invocation times out */
} sluice_invocation_t;

/*
 * Returns 0 for success with the result (JSON text) in *out and *out_len, or
 * non-zero for a handler error with the error in *out: either a JSON object
 * {"errorMessage": "...", "errorType": "..."} or plain text, which Sluice
 * wraps as the errorMessage.
 */
typedef int (*sluice_handler_fn)(const sluice_invocation_t *inv, char **out, size_t *out_len);

/* Optional. Returns SLUICE_PLUGIN_ABI, or anything else to refuse loading. */
typedef int (*sluice_plugin_init_fn)(void);

#endif
