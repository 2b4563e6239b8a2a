/*
 * sns_http — SNS's HTTP/S endpoint delivery (see sns_http.h).
 *
 * What counts as what, after the SNS guide: a 2xx or 3xx answer delivers;
 * 4xx is the endpoint refusing the message — permanent, no retries, straight
 * to the dead-letter queue; 5xx, timeouts (15 s) and connection or TLS
 * failures are retried per the delivery policy. Headers as SNS sends them:
 * x-amz-sns-message-type, -message-id, -topic-arn, -subscription-arn (not on
 * confirmation requests), -rawdelivery on raw notifications, Content-Type
 * text/plain; charset=UTF-8 and SNS's User-Agent.
 */
#include "daemon/sns_http.h"

#include <stdio.h>
#include <stdlib.h>

#include "util/alloc.h"
#include "util/logging.h"

#define ATTEMPT_TIMEOUT_MS 15000

struct sns_http {
    http_client_t *client;
    topics_t *tp;
};

typedef struct attempt {
    sns_http_t *h;
    uint64_t id;
} attempt_t;

static void on_response(const http_client_result_t *res, void *arg)
{
    attempt_t *a = arg;
    char why[320];
    int ok = 0, permanent = 0;
    if (res->err == HTTP_CLIENT_CANCELLED) {
        free(a);
        return;
    }
    if (res->err != HTTP_CLIENT_OK)
        snprintf(why, sizeof why, "%s: %s", http_client_err_name(res->err), res->detail);
    else
        snprintf(why, sizeof why, "HTTP %d", res->status);
    if (res->err == HTTP_CLIENT_OK) {
        ok = res->status >= 200 && res->status < 400;
        permanent = res->status >= 400 && res->status < 500;
    }
    topics_delivery_result(a->h->tp, a->id, ok, permanent, why);
    free(a);
}

static void deliver(void *arg, const delivery_t *d)
{
    sns_http_t *h = arg;
    http_client_header_t hdrs[8];
    size_t n = 0;
    hdrs[n++] = (http_client_header_t){"Content-Type", d->content_type};
    hdrs[n++] = (http_client_header_t){"x-amz-sns-message-type", d->kind};
    hdrs[n++] = (http_client_header_t){"x-amz-sns-message-id", d->message_id};
    hdrs[n++] = (http_client_header_t){"x-amz-sns-topic-arn", d->topic_arn};
    if (d->kind[0] != 'S') /* not on SubscriptionConfirmation */
        hdrs[n++] = (http_client_header_t){"x-amz-sns-subscription-arn", d->sub_arn};
    if (d->raw)
        hdrs[n++] = (http_client_header_t){"x-amz-sns-rawdelivery", "true"};
    hdrs[n++] = (http_client_header_t){"Accept-Encoding", "gzip,deflate"};
    http_request_spec_t spec = {.method = "POST", .url = d->endpoint, .headers = hdrs, .nheaders = n,
                                .body = d->body, .body_len = d->body_len, .timeout_ms = ATTEMPT_TIMEOUT_MS};
    attempt_t *a = xcalloc(1, sizeof *a);
    a->h = h;
    a->id = d->id;
    if (http_client_request(h->client, &spec, on_response, a) < 0) {
        free(a);
        topics_delivery_result(h->tp, d->id, 0, 1, "the endpoint URL is not valid");
    }
}

sns_http_t *sns_http_new(loop_t *loop, topics_t *tp)
{
    sns_http_t *h = xcalloc(1, sizeof *h);
    http_client_config_t cfg;
    http_client_config_defaults(&cfg);
    cfg.user_agent = "Amazon Simple Notification Service Agent";
    h->client = http_client_new(loop, &cfg);
    h->tp = tp;
    topics_set_deliverer(tp, "http", deliver, h);
    topics_set_deliverer(tp, "https", deliver, h);
    return h;
}

void sns_http_free(sns_http_t *h)
{
    if (!h)
        return;
    http_client_free(h->client);
    free(h);
}
