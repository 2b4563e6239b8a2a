/* console_http: the built-in files are byte for byte those of console/,
 * found by their names only. */
#include <stdio.h>
#include <stdlib.h>

#include "harness.h"
#include "proto/console_http.h"

/* The whole file at <repo>/rel; NULL when it cannot be read. Free it. */
static char *slurp(const char *rel, size_t *len)
{
    char path[4096];
    FILE *f = fopen(harness_repo_path(rel, path, sizeof path), "rb");
    if (!f)
        return NULL;
    char *data = malloc(1 << 20);
    *len = data ? fread(data, 1, 1 << 20, f) : 0;
    fclose(f);
    return data;
}

TEST(files_are_the_sources)
{
    static const char *const names[] = {"index.html", "app.js", "style.css", "favicon.svg"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        char rel[64], path[128];
        size_t len = 0;
        snprintf(rel, sizeof rel, "console/%s", names[i]);
        snprintf(path, sizeof path, CONSOLE_PREFIX "/%s", names[i]);
        char *want = slurp(rel, &len);
        const console_file_t *f = console_http_find(path);
        CHECK(want && len > 0);
        CHECK(f != NULL);
        CHECK_STR(f->name, names[i]);
        CHECK_MEM(f->data, (size_t)(f->end - f->data), want, len);
        CHECK_INT(*f->end, 0);
        free(want);
    }
}

TEST(names_and_types)
{
    CHECK_STR(console_http_find("/_sluice/console/")->name, "index.html");
    CHECK_STR(console_http_find("/_sluice/console/index.html")->ctype, "text/html; charset=utf-8");
    CHECK_STR(console_http_find("/_sluice/console/app.js")->ctype, "text/javascript; charset=utf-8");
    CHECK_STR(console_http_find("/_sluice/console/style.css")->ctype, "text/css; charset=utf-8");
    CHECK_STR(console_http_find("/_sluice/console/favicon.svg")->ctype, "image/svg+xml");
    static const char *const none[] = {"/_sluice/console", "/_sluice/console/x", "/_sluice/console/../app.js",
                                       "/_sluice/console/./app.js", "/_sluice/console/app.js/",
                                       "/_sluice/consoleapp.js", "/app.js", "/_sluice/console//app.js"};
    for (size_t i = 0; i < sizeof none / sizeof none[0]; i++)
        CHECK(console_http_find(none[i]) == NULL);
    CHECK(console_http_match("/_sluice/console"));
    CHECK(console_http_match("/_sluice/console/anything"));
    CHECK(!console_http_match("/_sluice/consoles"));
    CHECK(!console_http_match("/_sluice/tables"));
}
