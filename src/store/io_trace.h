/*
 * io_trace — a test facility: a sync tracer wrapped around io_ops, so that
 * after a kill -9 a test can tell what a power loss at that instant would
 * have kept (tests/crash/powerloss.py reads it). The daemon installs it only
 * when SLUICE_SYNC_TRACE names a file; nothing else uses it.
 */
#ifndef SLUICE_IO_TRACE_H
#define SLUICE_IO_TRACE_H

/* Wraps the current io_ops entries (each wrapper calls the entry it
 * replaced, so it composes with wrappers installed before or after it) and
 * appends the events to the trace file path (its format in io_trace.c):
 * made if missing or empty, continued if it is a trace already. 0 or
 * -errno: -EINVAL if path is some other file, -EBUSY if installed. */
int io_trace_install(const char *path);

/* Puts back the entries it replaced, where they are still the tracer's,
 * and closes the trace. For tests. */
void io_trace_uninstall(void);

#endif
