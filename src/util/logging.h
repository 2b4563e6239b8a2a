/*
 * logging — structured log lines on stderr, one event per line in logfmt:
 *   ts=2026-11-23T20:18:00.123Z level=info event=listening host=127.0.0.1 port=4566
 * The caller passes the key=value tail as a printf format. Lines are built in
 * a local buffer and written with one write(2), so lines from the log thread
 * and the event loop never interleave. log_flush() is called at shutdown.
 */
#ifndef SLUICE_LOGGING_H
#define SLUICE_LOGGING_H

#include <stddef.h>

typedef enum { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR, LOG_FATAL } log_level_t;

void log_set_level(log_level_t min);
int log_level_parse(const char *s, log_level_t *out);
void log_emit(log_level_t lvl, const char *event, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void log_flush(void);

/* s made safe for a quoted logfmt value (key="…") from text a client sent:
 * '"' and '\\' are escaped with '\\', newline, CR and tab as \\n \\r \\t,
 * other control bytes as \\xHH, so no value can end its quotes or start a
 * line of its own. Cut to fit out[n] (n >= 1); returns out. */
char *log_quote(const char *s, char *out, size_t n);

#define log_debug(ev, ...) log_emit(LOG_DEBUG, ev, __VA_ARGS__)
#define log_info(ev, ...) log_emit(LOG_INFO, ev, __VA_ARGS__)
#define log_warn(ev, ...) log_emit(LOG_WARN, ev, __VA_ARGS__)
#define log_error(ev, ...) log_emit(LOG_ERROR, ev, __VA_ARGS__)

#endif
