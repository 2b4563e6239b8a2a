/*
 * gwfn — a handler the gateway's integration tests call through invoke
 * routes with the API Gateway proxy event (tests/integration/
 * test_gateway_item.py).
 *
 * respond: when the event's body is JSON with a "respond" member, that
 * value is the whole result (so a test states the proxy response it wants
 * mapped, malformed ones included); otherwise the result is the proxy
 * response {"statusCode": 200, "headers": {"Content-Type":
 * "application/json"}, "body": <the event as JSON text>}, so a test can
 * read the event the gateway built.
 */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "sluice_plugin.h"

int respond(const sluice_invocation_t *inv, char **out, size_t *out_len);

int respond(const sluice_invocation_t *inv, char **out, size_t *out_len)
{
    json_t *ev = json_loadb(inv->event, inv->event_len, 0, NULL), *res = NULL;
    const char *body = json_string_value(json_object_get(ev, "body"));
    json_t *sent = body ? json_loads(body, JSON_DECODE_ANY, NULL) : NULL;
    json_t *wanted = json_object_get(sent, "respond");
    if (wanted) {
        res = json_incref(wanted);
    } else {
        char *text = json_dumps(ev, JSON_COMPACT);
        res = json_pack("{s:i,s:{s:s},s:s}", "statusCode", 200, "headers", "Content-Type", "application/json",
                        "body", text ? text : "null");
        free(text);
    }
    *out = json_dumps(res, JSON_COMPACT | JSON_ENCODE_ANY);
    *out_len = *out ? strlen(*out) : 0;
    json_decref(res);
    json_decref(sent);
    json_decref(ev);
    return 0;
}
