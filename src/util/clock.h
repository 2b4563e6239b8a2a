/*
 * clock — the two clocks Sluice uses. Wall time (ms since the epoch) is what
 * AWS exposes (SentTimestamp, visibility deadlines persisted across restart);
 * monotonic time drives the event loop's timers and benchmarks.
 */
#ifndef SLUICE_CLOCK_H
#define SLUICE_CLOCK_H

#include <stdint.h>

uint64_t clock_wall_ms(void);
uint64_t clock_wall_us(void);
uint64_t clock_mono_ms(void);
uint64_t clock_mono_ns(void);
/* Tests only. Moves both clocks ms ahead of the real ones; never back (a
 * smaller ms than the offset in force is ignored), so the monotonic clock
 * stays monotonic. */
void clock_set_offset_ms(uint64_t ms);
/* A deadline on clock_mono_ns's scale as an absolute CLOCK_MONOTONIC time
 * for pthread_cond_timedwait (which reads the real clock, not the offset). */
struct timespec;
void clock_mono_deadline(uint64_t due_ns, struct timespec *out);
/* Back to the real clocks (only when nothing is timed against the offset). */
void clock_reset_offset(void);
/* "2019-11-14T18:16:05.568Z" for wall ms (out: at least 32 bytes). */
void clock_iso8601(uint64_t wall_ms, char out[32]);
/* Parses clock_iso8601's form back to wall ms; 0 when s is NULL or not that form. */
uint64_t clock_iso8601_parse(const char *s);

#endif
