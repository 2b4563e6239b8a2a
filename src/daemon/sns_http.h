/*
 * sns_http — delivers SNS messages to http and https subscriptions: one
 * topics deliverer per scheme, each attempt one POST through the outbound
 * HTTP client, its outcome reported back to the topics engine, which owns
 * the retries, the delivery policy and the dead-letter queue.
 */
#ifndef SLUICE_SNS_HTTP_H
#define SLUICE_SNS_HTTP_H

#include "net/http_client.h"
#include "topics/topics.h"

typedef struct sns_http sns_http_t;

/* Registers the http and https deliverers on tp. */
sns_http_t *sns_http_new(loop_t *loop, topics_t *tp);
/* Outstanding attempts are dropped; their deliveries stay owed in the outbox. */
void sns_http_free(sns_http_t *h);

#endif
