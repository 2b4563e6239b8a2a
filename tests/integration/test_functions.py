"""Functions end to end, seed 000 and the http kind: the real daemon, real
processes, real clients.

Seed 000 (the shape of examples/calculator/sluice.yaml): a topic fans calculation requests out by
their `operation` message attribute into a division and a multiplication
queue; a worker function consumes each queue through a mapping and stores
each result in the `results` table under the request's id. A division by
zero fails its record three times and then sits in division-dlq, its error
recorded in `results`. The same observable behaviour is asserted for the C
plugin (build/examples/workers.so) and for the Python workers run as
`process` functions behind examples/runtimes/python/bootstrap.

The http kind: the function is a loopback HTTP server in this test; its
JSON answer is the result, a 500 is a function error that leaves the
message in its queue to be retried."""
import json
import os
import sys
import unittest
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fn_truth import (PY_BOOTSTRAP, PY_WORKERS, WORKERS_SO, FunctionsTestCase, drain, queue_counts,  # noqa: E402
                      queue_empty, queue_url, str_attr, table_scan)

SEED = """
aws:
  account: "000000000000"
  region: us-east-1
queues:
  - name: division-dlq
  - name: multiplication-dlq
  - name: division
    attributes: { VisibilityTimeout: 1 }
    redrive: { dead_letter_queue: division-dlq, max_receive_count: 3 }
  - name: multiplication
    attributes: { VisibilityTimeout: 1 }
    redrive: { dead_letter_queue: multiplication-dlq, max_receive_count: 3 }
topics:
  - name: requests
    subscriptions:
      - queue: division
        filter_policy: { operation: [division] }
        raw_message_delivery: true
      - queue: multiplication
        filter_policy: { operation: [multiplication] }
        raw_message_delivery: true
tables:
  - name: results
    partition_key: requestId
    ttl_attribute: expiresAt
functions:
%(functions)s
mappings:
  - function: division
    queue: division
    batch_size: 10
    report_batch_item_failures: true
    on_success: table:results
    on_failure: table:results
  - function: multiplication
    queue: multiplication
    batch_size: 10
    report_batch_item_failures: true
    on_success: table:results
    on_failure: table:results
"""

PLUGIN_FUNCTIONS = """
  - name: division
    kind: plugin
    handler: %(so)s:division
    timeout: 5
    concurrency: 4
  - name: multiplication
    kind: plugin
    handler: %(so)s:multiplication
    timeout: 5
    concurrency: 4
""" % {"so": WORKERS_SO}

PYTHON_FUNCTIONS = """
  - name: division
    kind: process
    command: %(bootstrap)s
    dir: %(dir)s
    handler: calculator.division
    timeout: 10
    concurrency: 2
    environment: { PYTHONDONTWRITEBYTECODE: "1" }
  - name: multiplication
    kind: process
    command: %(bootstrap)s
    dir: %(dir)s
    handler: calculator.multiplication
    timeout: 10
    concurrency: 2
    environment: { PYTHONDONTWRITEBYTECODE: "1" }
""" % {"bootstrap": PY_BOOTSTRAP, "dir": PY_WORKERS}


class Seed000:
    """The seed's observable behaviour; FUNCTIONS says which workers run it."""

    FUNCTIONS = None

    def start(self):
        s = self.daemon(SEED % {"functions": self.FUNCTIONS})
        return s, s.client(), s.client("sns")

    def publish(self, sns, request, request_id, in_body=False):
        """Publishes one request with its operation attribute; the request id
        travels as a message attribute, or (in_body) inside the JSON body."""
        attrs = {"operation": str_attr(request["operation"])}
        if in_body:
            request = dict(request, requestId=request_id)
        else:
            attrs["requestId"] = str_attr(request_id)
        sns.publish(TopicArn="arn:aws:sns:us-east-1:000000000000:requests", Message=json.dumps(request),
                    MessageAttributes=attrs)

    def test_results_in_table_and_division_by_zero_in_dlq(self):
        s, sqs, sns = self.start()
        rid = lambda: str(uuid.uuid4())  # noqa: E731
        cases = [  # (request, expected result, request id in the body)
            ({"operation": "division", "number": 10, "divisor": 4}, 2.5, False),
            ({"operation": "division", "number": 9}, 4.5, True),  # default divisor 2
            ({"operation": "multiplication", "number": 6, "factor": 7}, 42.0, False),
            ({"operation": "multiplication", "number": 1.5}, 3.0, True),  # default factor 2
        ]
        ids = [rid() for _ in cases]
        zero = rid()
        for (req, _, in_body), i in zip(cases, ids):
            self.publish(sns, req, i, in_body)
        self.publish(sns, {"operation": "division", "number": 1, "divisor": 0}, zero)

        for (req, want, _), i in zip(cases, ids):
            item = self.wait_item(s, "results", i, "SUCCEEDED")
            self.assertEqual(item["requestId"], i)
            self.assertEqual(item["function"], req["operation"], item)
            self.assertEqual(item["result"]["operation"], req["operation"], item)
            self.assertEqual(item["result"]["number"], req["number"], item)
            self.assertAlmostEqual(item["result"]["result"], want, msg=item)
            self.assertEqual(item["attempts"], 1, item)
            self.assertRegex(item["completedAt"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d")

        # division by zero: three receives (VisibilityTimeout 1 s), then the DLQ
        dlq, division = queue_url(sqs, "division-dlq"), queue_url(sqs, "division")
        self.wait(lambda: queue_counts(sqs, dlq)[0] == 1, 20, lambda: "the failed request in division-dlq "
                  "(division %r, dlq %r)" % (queue_counts(sqs, division), queue_counts(sqs, dlq)))
        self.wait(lambda: queue_empty(sqs, division), 5, "an empty division queue")
        dead = drain(sqs, dlq, 1)
        self.assertEqual(len(dead), 1)
        self.assertEqual(json.loads(dead[0]["Body"]), {"operation": "division", "number": 1, "divisor": 0})
        self.assertEqual(dead[0]["MessageAttributes"]["requestId"]["StringValue"], zero)
        failed = self.item(s, "results", zero)
        self.assertIsNotNone(failed, "the failed request left no trace in results")
        self.assertEqual(failed["status"], "DEAD_LETTERED", failed)  # the DLQ move is what makes it final
        self.assertEqual(failed["attempts"], 3, failed)
        self.assertEqual(failed["deadLetterQueue"], "division-dlq", failed)
        self.assertEqual(failed["function"], "division", failed)
        self.assertIn("errorType", failed["lastError"], failed)
        self.assertNotIn("result", failed)

        # nothing else was written, and nothing is left anywhere
        items = table_scan(s.endpoint, "results")
        self.assertEqual(sorted(it["requestId"] for it in items), sorted(ids + [zero]))
        for name in ("multiplication", "multiplication-dlq"):
            self.assertTrue(queue_empty(sqs, queue_url(sqs, name)), name)

    def test_filter_policy_routes_by_operation(self):
        """A request whose operation matches no subscription invokes nothing;
        one sent straight to a queue is processed like a published one."""
        s, sqs, sns = self.start()
        stray, direct = str(uuid.uuid4()), str(uuid.uuid4())
        self.publish(sns, {"operation": "subtraction", "number": 1}, stray)
        sqs.send_message(QueueUrl=queue_url(sqs, "multiplication"),
                         MessageBody=json.dumps({"operation": "multiplication", "number": 5, "factor": 3}),
                         MessageAttributes={"requestId": str_attr(direct)})
        item = self.wait_item(s, "results", direct, "SUCCEEDED")
        self.assertEqual(item["result"]["result"], 15.0)
        self.assertIsNone(self.item(s, "results", stray))
        for name in ("division", "multiplication", "division-dlq", "multiplication-dlq"):
            self.assertTrue(queue_empty(sqs, queue_url(sqs, name)), name)


class Seed000Plugin(Seed000, FunctionsTestCase):
    FUNCTIONS = PLUGIN_FUNCTIONS


class Seed000Python(Seed000, FunctionsTestCase):
    FUNCTIONS = PYTHON_FUNCTIONS


# ---- the http kind ---------------------------------------------------------------------------------

HTTP_CONFIG = """
queues:
  - name: jobs-dlq
  - name: jobs
    attributes: { VisibilityTimeout: 1 }
    redrive: { dead_letter_queue: jobs-dlq, max_receive_count: 10 }
tables:
  - name: results
    partition_key: requestId
functions:
  - name: web
    kind: http
    handler: %(url)s
    timeout: 5
    concurrency: 4
mappings:
  - function: web
    queue: jobs
    batch_size: %(batch)d
    on_success: table:results
    on_failure: table:results
"""


class HttpFunction(FunctionsTestCase):
    def test_json_result_lands_in_table(self):
        def handler(event, n):
            return {"handledBy": "http", "squares": {r["messageId"]: json.loads(r["body"])["x"] ** 2
                                                     for r in event["Records"]}}
        srv = self.fn_server(handler)
        s = self.daemon(HTTP_CONFIG % {"url": srv.url, "batch": 10})
        sqs = s.client()
        url = queue_url(sqs, "jobs")
        sent = {}
        for x in range(12):
            rid = "job-%d" % x
            r = sqs.send_message(QueueUrl=url, MessageBody=json.dumps({"x": x}),
                                 MessageAttributes={"requestId": str_attr(rid)})
            sent[rid] = (r["MessageId"], x)
        for rid, (mid, x) in sent.items():
            item = self.wait_item(s, "results", rid, "SUCCEEDED")
            # no batchItemResults: every record of the batch stores the whole result
            self.assertEqual(item["result"]["handledBy"], "http", item)
            self.assertEqual(item["result"]["squares"][mid], x * x, item)
            self.assertEqual(item["function"], "web")
        self.wait(lambda: queue_empty(sqs, url), 5, "an empty queue")
        # each record was delivered exactly once, as Lambda's SQS event
        recs = srv.records()
        self.assertEqual(sorted(r["messageId"] for r in recs), sorted(m for m, _ in sent.values()))
        for r in recs:
            self.assertEqual(r["eventSource"], "aws:sqs")
            self.assertTrue(r["eventSourceARN"].endswith(":jobs"), r)
            self.assertEqual(r["attributes"]["ApproximateReceiveCount"], "1")
            self.assertIn(r["messageAttributes"]["requestId"]["stringValue"], sent)
        for c in srv.calls:
            self.assertTrue(c.headers.get("Lambda-Runtime-Aws-Request-Id"), c.headers)
            self.assertTrue(c.headers.get("Content-Type", "").startswith("application/json"), c.headers)

    def test_500_leaves_the_message_to_be_retried(self):
        seen = []

        def handler(event, n):
            body = json.loads(event["Records"][0]["body"])
            seen.append(body["n"])
            if body.get("flaky") and seen.count(body["n"]) <= 2:
                return 500, b'{"message":"try again"}'
            return {"n": body["n"]}
        srv = self.fn_server(handler)
        s = self.daemon(HTTP_CONFIG % {"url": srv.url, "batch": 1})
        sqs = s.client()
        url = queue_url(sqs, "jobs")
        sqs.send_message(QueueUrl=url, MessageBody=json.dumps({"n": 1, "flaky": True}),
                         MessageAttributes={"requestId": str_attr("flaky")})
        sqs.send_message(QueueUrl=url, MessageBody=json.dumps({"n": 2}),
                         MessageAttributes={"requestId": str_attr("steady")})
        self.assertEqual(self.wait_item(s, "results", "steady", "SUCCEEDED")["result"], {"n": 2})
        # the first two answers are 500: the record fails and stays queued; its
        # request reads RUNNING with the error (a retry follows, so not FAILED)
        failed = self.wait(lambda: (lambda it: it if it and "lastError" in it and it["status"] != "SUCCEEDED"
                                    else None)(self.item(s, "results", "flaky")), 15, "flaky RUNNING with lastError")
        self.assertEqual((failed["status"], failed["function"]), ("RUNNING", "web"), failed)
        self.assertIn("errorMessage", failed["lastError"], failed)
        item = self.wait_item(s, "results", "flaky", "SUCCEEDED", seconds=15)
        self.assertEqual(item["result"], {"n": 1})
        self.assertEqual(item["attempts"], 3, item)
        self.assertEqual(seen.count(1), 3, seen)
        self.assertEqual(seen.count(2), 1, seen)
        self.wait(lambda: queue_empty(sqs, url), 5, "an empty queue")
        self.assertTrue(queue_empty(sqs, queue_url(sqs, "jobs-dlq")))


if __name__ == "__main__":
    unittest.main()
