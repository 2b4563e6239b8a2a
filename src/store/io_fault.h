/*
 * io_fault — fault injection for the running daemon, driven by a rules
 * file (SLUICE_FAULTS=path; reloaded on SIGUSR2). A test facility: it lets
 * integration tests fail the Nth open/write/sync/rename/truncate of a log
 * segment, a snapshot or the data directory with an errno or a short write,
 * and move the clocks, against the real binary. docs/RELIABILITY.md has the
 * rule syntax. Without SLUICE_FAULTS nothing here runs.
 */
#ifndef SLUICE_IO_FAULT_H
#define SLUICE_IO_FAULT_H

#include <stddef.h>

/* Parses text (the rules file's contents) and makes it the active rule set:
 * io_ops are wrapped on the first call, counters start from zero, the clock
 * offset moved ahead by a clock rule (never back). Returns the number of rules, or -1
 * with why (the rule set in force is kept). */
int io_fault_set(const char *text, char *why, size_t why_len);
/* Reads path and calls io_fault_set. */
int io_fault_load(const char *path, char *why, size_t why_len);
/* Restores the wrapped io_ops and the clock, frees every rule set. */
void io_fault_clear(void);

#endif
