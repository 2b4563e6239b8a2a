/*
 * main — the sluice command: `sluice serve [options]`, `sluice call
 * [options] METHOD PATH` (the gateway's client, call.c), the admin commands
 * `sluice queues|topics|functions|requests|dlq|cost|trace` (admin.c), `sluice
 * version`, `sluice help`. See docs/sluice.1.md and docs/CLI.md.
 */
#include <stdio.h>
#include <string.h>

#include "daemon/admin.h"
#include "daemon/call.h"
#include "daemon/config.h"
#include "daemon/daemon.h"

#define SLUICE_VERSION "0.1.0"

static int cmd_serve(const char *prog, int argc, char **argv)
{
    config_t cfg;
    char why[512];
    config_defaults(&cfg);
    int rc = config_parse_args(&cfg, argc, argv, why, sizeof why);
    if (rc == 1) {
        config_print_help(prog);
        config_free(&cfg);
        return 0;
    }
    if (rc == 0)
        rc = config_validate(&cfg, why, sizeof why);
    if (rc != 0) {
        fprintf(stderr, "sluice: %s\n", why);
        config_free(&cfg);
        return 2;
    }
    rc = daemon_run(&cfg);
    config_free(&cfg);
    return rc;
}

int main(int argc, char **argv)
{
    const char *cmd = argc > 1 ? argv[1] : "help";
    if (strcmp(cmd, "serve") == 0)
        return cmd_serve(argv[0], argc - 2, argv + 2);
    if (strcmp(cmd, "call") == 0)
        return call_main(argv[0], argc - 1, argv + 1);
    static const char *const admin[] = {"queues", "topics", "functions", "requests", "dlq", "cost", "trace"};
    for (size_t i = 0; i < sizeof admin / sizeof admin[0]; i++)
        if (strcmp(cmd, admin[i]) == 0)
            return admin_main(argv[0], argc - 1, argv + 1);
    if (strcmp(cmd, "version") == 0 || strcmp(cmd, "--version") == 0) {
        printf("sluice %s\n", SLUICE_VERSION);
        return 0;
    }
    if (strcmp(cmd, "help") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0) {
        config_print_help(argv[0]);
        return 0;
    }
    fprintf(stderr, "sluice: unknown command %s (try sluice help)\n", cmd);
    return 2;
}
