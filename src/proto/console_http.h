/*
 * console_http — the web console's static files under /_sluice/console/
 * (index.html, app.js, style.css and favicon.svg from console/ in the
 * source tree, built into the binary). The console is a client of the daemon's own AWS wire
 * APIs (docs/CONSOLE.md); this module only serves its files. Replies
 * through router_reply.
 */
#ifndef SLUICE_CONSOLE_HTTP_H
#define SLUICE_CONSOLE_HTTP_H

#include "proto/router.h"

#define CONSOLE_PREFIX "/_sluice/console"

typedef struct console_file {
    const char *name;  /* "app.js": the path after CONSOLE_PREFIX "/" */
    const char *ctype; /* its Content-Type */
    const unsigned char *data, *end; /* its bytes: [data, end); *end is a NUL */
} console_file_t;

/* The file served at path (a full request path: "/_sluice/console/" is
 * index.html), or NULL. Only the built-in names match: nothing is read
 * from disk, so no path can reach another file. Static storage. */
const console_file_t *console_http_find(const char *path);

/* True for paths this module answers: CONSOLE_PREFIX and below. */
int console_http_match(const char *path);

/* GET or HEAD: the file, 200, with a Content-Security-Policy; the bare
 * prefix: 301 to the prefix with its slash; another name under it: 404;
 * another method: 405. */
void console_http_handle(req_ctx_t *ctx);

#endif
