/*
 * call — `sluice call`, the command-line client of the gateway: sends one
 * request, prints the answer, and for a 202 waits on the request's status
 * (long polls) and prints the final record. Reference: docs/sluice.1.md,
 * docs/GATEWAY.md ("The client: sluice call").
 */
#ifndef SLUICE_CALL_H
#define SLUICE_CALL_H

/* The exit statuses of `sluice call`. */
typedef enum {
    CALL_EXIT_OK = 0,          /* SUCCEEDED; or a 2xx answer that is no failed record; or a 202 with --no-wait */
    CALL_EXIT_FAILED = 1,      /* FAILED, DEAD_LETTERED, EXPIRED; a 1xx/3xx/4xx/5xx answer; an answer over the limit */
    CALL_EXIT_USAGE = 2,       /* bad arguments, unreadable or invalid -d body */
    CALL_EXIT_TIMEOUT = 3,     /* --timeout passed while the request was pending (or unanswered) */
    CALL_EXIT_UNREACHABLE = 4, /* no HTTP answer: connect, name resolution, TLS, connection lost, malformed */
} call_exit_t;

/*
 * Runs `sluice call`. argv[0] is the subcommand's name ("call"), the
 * options and operands follow; prog is the program's name for the help
 * text. Prints answers on stdout and one-line diagnostics on stderr;
 * returns a call_exit_t. Blocking; uses its own event loop.
 */
int call_main(const char *prog, int argc, char **argv);

#endif
