/* logging — logfmt lines to stderr with one write(2) each; see logging.h. */
#include "util/logging.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static log_level_t log_min = LOG_INFO;
static const char *const level_names[] = {"debug", "info", "warn", "error", "fatal"};

void log_set_level(log_level_t min)
{
    log_min = min;
}

int log_level_parse(const char *s, log_level_t *out)
{
    for (int i = 0; i <= LOG_FATAL; i++) {
        if (strcmp(s, level_names[i]) == 0) {
            *out = (log_level_t)i;
            return 0;
        }
    }
    return -1;
}

void log_emit(log_level_t lvl, const char *event, const char *fmt, ...)
{
    if (lvl < log_min)
        return;
    char line[2048];
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    int n = snprintf(line, sizeof line, "ts=%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ level=%s event=%s",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                     ts.tv_nsec / 1000000, level_names[lvl], event);
    if (fmt && *fmt && n < (int)sizeof line - 2) {
        line[n++] = ' ';
        va_list ap;
        va_start(ap, fmt);
        int m = vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap);
        va_end(ap);
        n = m < 0 ? n : (n + m < (int)sizeof line - 1 ? n + m : (int)sizeof line - 2);
    }
    line[n++] = '\n';
    ssize_t w = write(STDERR_FILENO, line, (size_t)n);
    (void)w;
}

void log_flush(void)
{
    fsync(STDERR_FILENO); /* best effort when stderr is a file; lines are unbuffered */
}

/* The escape for c (without its '\\') into e; 0 when c goes as it is. */
static int quote_escape(unsigned char c, char e[4])
{
    static const char digits[] = "0123456789abcdef";
    const char *named = c == '"' ? "\"" : c == '\\' ? "\\" : c == '\n' ? "n" : c == '\r' ? "r" : c == '\t' ? "t" : NULL;
    if (named)
        return (int)strlen(strcpy(e, named));
    if (c >= 0x20 && c != 0x7f)
        return 0;
    e[0] = 'x', e[1] = digits[c >> 4], e[2] = digits[c & 15], e[3] = 0;
    return 3;
}

char *log_quote(const char *s, char *out, size_t n)
{
    size_t o = 0;
    for (; *s; s++) {
        char e[4];
        int k = quote_escape((unsigned char)*s, e);
        size_t need = k ? (size_t)k + 1 : 1;
        if (o + need >= n)
            break; /* an escape is never cut in two */
        if (k) {
            out[o++] = '\\';
            memcpy(out + o, e, (size_t)k);
            o += (size_t)k;
        } else {
            out[o++] = *s;
        }
    }
    out[o] = 0;
    return out;
}
