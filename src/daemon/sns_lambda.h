/*
 * sns_lambda — delivers SNS messages to function subscriptions (protocol
 * lambda): the envelope becomes Lambda's SNS event and is accepted as an
 * asynchronous invocation, as SNS hands messages to Lambda's event queue.
 * The delivery counts as done once the invocation is accepted (durable with
 * it); retries and the on-failure destination are then the function's.
 */
#ifndef SLUICE_SNS_LAMBDA_H
#define SLUICE_SNS_LAMBDA_H

#include "functions/functions.h"
#include "topics/topics.h"

typedef struct sns_lambda sns_lambda_t;

/* Registers the lambda deliverer on tp; it lives until sns_lambda_free. */
sns_lambda_t *sns_lambda_new(topics_t *tp, functions_t *fs);
void sns_lambda_free(sns_lambda_t *c);

#endif
