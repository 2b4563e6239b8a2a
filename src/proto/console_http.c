/*
 * console_http — serves the web console's files (console_http.h).
 *
 * The files are console/index.html, app.js, style.css and favicon.svg,
 * taken into this object by the assembler's .incbin when it is built (the
 * Makefile runs the compiler from the source tree's root and makes this
 * object depend on them), so build/sluice needs no directory at run time.
 * Each is followed by a NUL the length leaves out.
 *
 * Every answer carries a Content-Security-Policy that allows only this
 * origin's scripts, styles and fetches (no inline script, no eval, no
 * framing): the console renders data from queues and requests, which any
 * client may have written.
 */
#include "proto/console_http.h"

#include <string.h>

#define CONSOLE_ASSET(sym, file)                                                                                     \
    __asm__(".pushsection .rodata\n"                                                                                 \
            ".balign 16\n"                                                                                           \
            ".globl " #sym "\n"                                                                                      \
            ".hidden " #sym "\n" #sym ":\n"                                                                          \
            ".incbin \"console/" file "\"\n"                                                                         \
            ".globl " #sym "_end\n"                                                                                  \
            ".hidden " #sym "_end\n" #sym "_end:\n"                                                                  \
            ".byte 0\n"                                                                                              \
            ".popsection\n");                                                                                        \
    extern const unsigned char sym[], sym##_end[]

CONSOLE_ASSET(console__index_html, "index.html");
CONSOLE_ASSET(console__app_js, "app.js");
CONSOLE_ASSET(console__style_css, "style.css");
CONSOLE_ASSET(console__favicon_svg, "favicon.svg");

static const console_file_t files[] = {
    {"index.html", "text/html; charset=utf-8", console__index_html, console__index_html_end},
    {"app.js", "text/javascript; charset=utf-8", console__app_js, console__app_js_end},
    {"style.css", "text/css; charset=utf-8", console__style_css, console__style_css_end},
    {"favicon.svg", "image/svg+xml", console__favicon_svg, console__favicon_svg_end},
};

const console_file_t *console_http_find(const char *path)
{
    size_t n = strlen(CONSOLE_PREFIX);
    if (strncmp(path, CONSOLE_PREFIX "/", n + 1) != 0)
        return NULL;
    const char *name = path + n + 1;
    if (!*name)
        name = "index.html";
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++)
        if (strcmp(name, files[i].name) == 0)
            return &files[i];
    return NULL;
}

int console_http_match(const char *path)
{
    size_t n = strlen(CONSOLE_PREFIX);
    return strncmp(path, CONSOLE_PREFIX, n) == 0 && (path[n] == 0 || path[n] == '/');
}

/* Headers every console answer carries. */
#define CONSOLE_HEADERS                                                                                              \
    "Content-Security-Policy: default-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'\r\n" \
    "X-Content-Type-Options: nosniff\r\n"                                                                          \
    "Referrer-Policy: no-referrer\r\n"                                                                             \
    "Cache-Control: no-cache\r\n"

static void reply_text(req_ctx_t *ctx, int status, const char *extra, const char *body)
{
    router_reply(ctx, status, "text/plain; charset=utf-8", extra, body, strlen(body));
}

void console_http_handle(req_ctx_t *ctx)
{
    const http_head_t *h = ctx->ex->head;
    int get = h->method_len == 3 && memcmp(h->method, "GET", 3) == 0;
    int head = h->method_len == 4 && memcmp(h->method, "HEAD", 4) == 0;
    const console_file_t *f = console_http_find(ctx->path);
    if (!get && !head)
        reply_text(ctx, 405, CONSOLE_HEADERS "Allow: GET, HEAD\r\n", "the console's files are read-only: GET or HEAD\n");
    else if (strcmp(ctx->path, CONSOLE_PREFIX) == 0)
        reply_text(ctx, 301, CONSOLE_HEADERS "Location: " CONSOLE_PREFIX "/\r\n", "moved to " CONSOLE_PREFIX "/\n");
    else if (!f)
        reply_text(ctx, 404, CONSOLE_HEADERS, "no such file in the console\n");
    else
        router_reply(ctx, 200, f->ctype, CONSOLE_HEADERS, (const char *)f->data, (size_t)(f->end - f->data));
}
