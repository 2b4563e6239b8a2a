/* status — names and texts of the engine status enum. */
#include "util/status.h"

#include <stdio.h>

static const char *const status_names[] = {
#define STATUS_NAME(name, text) #name,
    STATUS_MAP(STATUS_NAME)
#undef STATUS_NAME
};

static const char *const status_texts[] = {
#define STATUS_TEXT(name, text) text,
    STATUS_MAP(STATUS_TEXT)
#undef STATUS_TEXT
};

const char *status_name(status_t s)
{
    return (unsigned)s < ST__COUNT ? status_names[s] : "UNKNOWN";
}

const char *status_text(status_t s)
{
    return (unsigned)s < ST__COUNT ? status_texts[s] : "unknown";
}

status_t err_set(err_t *e, status_t s, const char *fmt, ...)
{
    if (e) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(e->msg, sizeof e->msg, fmt, ap);
        va_end(ap);
    }
    return s;
}
