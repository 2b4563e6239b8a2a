/*
 * outcome — request records: how a table holds what became of a request,
 * under its request id. Destinations (functions/dest.c) and the gateway
 * write them through this one module, so the rules below hold whoever
 * writes.
 *
 * A record is an item {<pk>: id, "status": …, …} of a table whose key is the
 * partition key alone. Its status moves
 *
 *   ACCEPTED → RUNNING → SUCCEEDED | FAILED | DEAD_LETTERED | EXPIRED
 *
 * and the last four are final: a final record is never written again, so a
 * request's outcome is written at most once however often its message is
 * processed (a redelivery after a crash, a duplicate, a late retry).
 *
 * A write merges: it sets the status and the attributes it names and keeps
 * every other attribute of the record (the gateway's acceptedAt, deadline,
 * route and expiresAt; an earlier attempt's lastError and startedAt).
 *
 * Deadlines. A record that is not final and whose "deadline" (ISO 8601, as
 * the gateway writes it) has passed reads as EXPIRED (gateway.c). So that a
 * record never changes once a reader could have seen that, a write after
 * the deadline stores status EXPIRED instead of its own — with its
 * attributes (the result or error) and completedAt — and a mere progress
 * mark (OUTCOME_PROGRESS: RUNNING as an invocation starts) is skipped.
 *
 * Every write is one table_put (one store record); the record is read once
 * (table_get, one parse). Loop thread only, like the tables.
 */
#ifndef SLUICE_OUTCOME_H
#define SLUICE_OUTCOME_H

#include <stddef.h>
#include <stdint.h>

#include "tables/tables.h"
#include "util/status.h"

/* One attribute a write sets: its name and its value as JSON text (copied
 * as it is: the caller vouches that it is JSON; the put validates the item). */
typedef struct outcome_attr {
    const char *name;
    const char *json;
    size_t len;
} outcome_attr_t;

enum {
    OUTCOME_CREATE = 1,   /* write a new record when there is none (else: OUTCOME_ABSENT) */
    OUTCOME_PROGRESS = 2, /* a progress mark: skipped past the deadline (OUTCOME_LATE) */
};

#define OUTCOME_RESULTS(X)                                                                                           \
    X(OUTCOME_WRITTEN, "written")   /* stored with the status asked for */                                       \
    X(OUTCOME_EXPIRED, "expired")   /* stored, as EXPIRED: the deadline had passed */                            \
    X(OUTCOME_ABSENT, "absent")     /* no record, and no OUTCOME_CREATE: nothing written */                      \
    X(OUTCOME_FINAL, "final")       /* the record is final already: nothing written */                           \
    X(OUTCOME_LATE, "late")         /* a progress mark past the deadline: nothing written */                     \
    X(OUTCOME_REFUSED, "refused")   /* the table refused the item (err says why) */

typedef enum {
#define OUTCOME_ENUM(e, s) e,
    OUTCOME_RESULTS(OUTCOME_ENUM)
#undef OUTCOME_ENUM
} outcome_res_t;

const char *outcome_res_name(outcome_res_t r);

/* Whether status (may be NULL) is one of the final statuses. */
int outcome_is_final(const char *status);

/* Writes status and attrs into id's record of t by the rules above. flags:
 * OUTCOME_CREATE, OUTCOME_PROGRESS. err is set for OUTCOME_REFUSED. */
outcome_res_t outcome_write(table_t *t, const char *id, const char *status, const outcome_attr_t *attrs,
                            size_t nattrs, int flags, err_t *err);

/* The record of a request whose message reached a dead-letter queue:
 * DEAD_LETTERED with deadLetteredAt (now), deadLetterQueue and attempts (the
 * message's receive count) — only into an existing record that is not
 * final. */
outcome_res_t outcome_dead_lettered(table_t *t, const char *id, const char *dlq, uint32_t attempts, err_t *err);

#endif
