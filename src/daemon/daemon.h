/*
 * daemon — runs Sluice with a configuration until SIGTERM/SIGINT; see
 * daemon.c for the start and stop sequences.
 */
#ifndef SLUICE_DAEMON_H
#define SLUICE_DAEMON_H

#include "daemon/config.h"

/* Returns the process exit status: 0 after a clean stop, 1 if start failed. */
int daemon_run(const config_t *cfg);

#endif
