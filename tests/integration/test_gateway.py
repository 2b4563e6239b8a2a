"""The gateway end to end over HTTP: routes declared in config accept work
with 202 and a request id, the seed's calculator runs through topic →
filtered queue → plugin worker → results table, and the client reads the
outcome by id (with a long poll). Also: request validation (400 naming the
field and rule), API keys (403) and usage plans (429 with Retry-After),
Idempotency-Key, deadlines (EXPIRED), 404/405, kill -9 after an accept,
and configs the daemon must refuse."""
import hashlib
import json
import os
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fn_truth import WORKERS_SO, FunctionsTestCase, queue_counts, queue_url, timeout  # noqa: E402
from sluice_harness import SLUICE_BIN, free_port  # noqa: E402

KEY = "calc-client-key-0001"
SLOW_KEY = "slow-client-key-0002"


def sha(key):
    return "sha256:" + hashlib.sha256(key.encode()).hexdigest()


CONFIG = """
queues:
  - name: division-dlq
  - name: multiplication-dlq
  - name: division
    attributes: { VisibilityTimeout: 1 }
    redrive: { dead_letter_queue: division-dlq, max_receive_count: 3 }
  - name: multiplication
    redrive: { dead_letter_queue: multiplication-dlq, max_receive_count: 3 }
  - name: jobs
  - name: users-in
  - name: ordered.fifo
    attributes: { FifoQueue: true }
topics:
  - name: calculator
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
  - name: division
    handler: %(so)s:division
  - name: multiplication
    handler: %(so)s:multiplication
mappings:
  - function: division
    queue: division
    report_batch_item_failures: true
    on_success: table:results
  - function: multiplication
    queue: multiplication
    report_batch_item_failures: true
    on_success: table:results
gateway:
  results_table: results
  usage_plans:
    - name: standard
      rate: 1000
      burst: 1000
    - name: tight
      rate: 0.5
      burst: 2
      quota: 100
      period: DAY
  api_keys:
    - name: calc-client
      hash: %(key)s
      plan: standard
    - name: slow-client
      hash: %(slow)s
      plan: tight
  routes:
    - method: POST
      path: /inbound
      integration: publish
      topic: calculator
      api_key: true
      attributes: { operation: body.operation }
      schema:
        type: object
        required: [operation, number]
        properties:
          operation: { enum: [division, multiplication] }
          number: { type: number }
          divisor: { type: number }
          factor: { type: number }
    - method: GET
      path: /response
      integration: result
      id_from: header.requestId
      api_key: true
    - method: POST
      path: /jobs/{team}
      integration: enqueue
      queue: jobs
      sla: 1
      attributes: { team: path.team, source: header.X-Source, kind: query.kind }
    - method: POST
      path: /users
      integration: enqueue
      queue: users-in
    - method: POST
      path: /ordered/{team}
      integration: enqueue
      queue: ordered.fifo
"""


def call(s, method, path, body=None, headers=None):
    """(status, headers, parsed JSON body or None)."""
    data = None if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
    req = urllib.request.Request(s.endpoint + path, data=data, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            raw = r.read()
            return r.status, r.headers, json.loads(raw) if raw else None
    except urllib.error.HTTPError as e:
        raw = e.read()
        try:
            return e.code, e.headers, json.loads(raw)
        except ValueError:
            return e.code, e.headers, raw


class Gateway(FunctionsTestCase):
    def start(self):
        return self.daemon(CONFIG % {"so": WORKERS_SO, "key": sha(KEY), "slow": sha(SLOW_KEY)})

    def submit(self, s, body, key=KEY):
        return call(s, "POST", "/inbound", body, {"x-api-key": key, "Content-Type": "application/json"})

    def test_calculator_accepts_then_answers_by_request_id(self):
        s = self.start()
        status, headers, doc = self.submit(s, {"operation": "multiplication", "number": 21, "factor": 2})
        self.assertEqual(status, 202, doc)
        rid = doc["requestId"]
        self.assertEqual(doc["status"], "ACCEPTED")
        self.assertEqual(doc["statusUrl"], "/_sluice/requests/" + rid)
        self.assertEqual(headers["Location"], doc["statusUrl"])
        self.assertTrue(doc["acceptedAt"] < doc["deadline"], doc)
        t0 = time.time()
        status, _, done = call(s, "GET", doc["statusUrl"] + "?wait=20")
        self.assertLess(time.time() - t0, 10, "the long poll did not return when the result arrived")
        self.assertEqual(status, 200, done)
        self.assertEqual(done["status"], "SUCCEEDED")
        self.assertEqual(done["result"]["result"], 42.0)
        self.assertEqual(done["acceptedAt"], doc["acceptedAt"])  # the accepted record carried over
        self.assertEqual(done["route"], "POST /inbound")
        # the seed's `response` route: the id in a header, behind the key
        status, _, same = call(s, "GET", "/response", headers={"x-api-key": KEY, "requestId": rid})
        self.assertEqual((status, same["status"], same["result"]), (200, "SUCCEEDED", done["result"]))
        self.assertEqual(call(s, "GET", "/response", headers={"requestId": rid})[0], 403)

    def test_fifo_target_gets_a_valid_group_and_dedup_by_request_id(self):
        s = self.start()
        sqs = s.client()
        url = queue_url(sqs, "ordered.fifo")
        ids = [call(s, "POST", "/ordered/blue", {"n": i})[2]["requestId"] for i in range(3)]
        got = []
        while len(got) < 3:
            msgs = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, AttributeNames=["All"],
                                       MessageAttributeNames=["All"], WaitTimeSeconds=1).get("Messages", [])
            self.assertTrue(msgs, "the route's messages did not arrive")
            for m in msgs:
                got.append(m)
                sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
        self.assertEqual([m["MessageAttributes"]["requestId"]["StringValue"] for m in got], ids)  # in order
        self.assertEqual({m["Attributes"]["MessageGroupId"] for m in got}, {"POST:/ordered/{team}"})
        self.assertEqual([m["Attributes"]["MessageDeduplicationId"] for m in got], ids)
        # a consumer can send the message on as it came: the group id is one SQS accepts
        sqs.send_message(QueueUrl=url, MessageBody=got[0]["Body"], MessageGroupId=got[0]["Attributes"]["MessageGroupId"],
                         MessageDeduplicationId="again")

    def test_invalid_body_is_400_naming_field_and_rule(self):
        s = self.start()
        status, _, doc = self.submit(s, {"operation": "division"})
        self.assertEqual(status, 400)
        self.assertEqual(doc["message"], "Invalid request body")
        self.assertIn("$.number", doc["errors"][0])
        self.assertIn("required", doc["errors"][0])
        status, _, doc = self.submit(s, {"operation": "power", "number": 2})
        self.assertEqual(status, 400)
        self.assertIn("$.operation", doc["errors"][0])
        self.assertIn("enum", doc["errors"][0])
        status, _, doc = self.submit(s, b"{not json")
        self.assertEqual(status, 400)
        sqs = s.client()
        for q in ("division", "multiplication"):
            self.assertEqual(queue_counts(sqs, queue_url(sqs, q)), (0, 0, 0))

    def test_missing_or_unknown_key_is_403(self):
        s = self.start()
        body = {"operation": "multiplication", "number": 1}
        status, _, doc = call(s, "POST", "/inbound", body)
        self.assertEqual((status, doc), (403, {"message": "Forbidden"}))
        self.assertEqual(self.submit(s, body, key="not-a-key")[0], 403)

    def test_over_rate_is_429_with_retry_after(self):
        s = self.start()
        body = {"operation": "multiplication", "number": 1}
        codes = [self.submit(s, body, key=SLOW_KEY) for _ in range(3)]
        self.assertEqual([c[0] for c in codes[:2]], [202, 202])  # the burst
        status, headers, doc = codes[2]
        self.assertEqual(status, 429, doc)
        self.assertEqual(doc["message"], "Too Many Requests")
        self.assertGreaterEqual(int(headers["Retry-After"]), 1)
        self.assertEqual(self.submit(s, body)[0], 202)  # another key has its own bucket

    def test_division_by_zero_fails_and_the_client_sees_it(self):
        s = self.start()
        status, _, doc = self.submit(s, {"operation": "division", "number": 1, "divisor": 0})
        self.assertEqual(status, 202)
        sqs = s.client()
        dlq = queue_url(sqs, "division-dlq")
        # three receives, then the dead-letter queue: the request reads DEAD_LETTERED, its last error kept
        self.wait(lambda: queue_counts(sqs, dlq)[0] == 1, 30, "the division by zero in the DLQ")
        status, _, final = call(s, "GET", doc["statusUrl"])
        self.assertEqual((status, final["status"], final["attempts"]), (200, "DEAD_LETTERED", 3))
        self.assertIn("division by zero", json.dumps(final["lastError"]))

    def test_pending_then_expired_at_the_deadline(self):
        s = self.start()
        status, _, doc = call(s, "POST", "/jobs/blue?kind=batch", {"x": 1}, {"X-Source": "test"})
        self.assertEqual(status, 202, doc)
        status, headers, pending = call(s, "GET", doc["statusUrl"])
        self.assertEqual((status, pending["status"], headers["Retry-After"]), (202, "ACCEPTED", "1"))
        # the route's sla is 1 s and nothing consumes the jobs queue: a long poll answers at the deadline
        t0 = time.time()
        status, _, expired = call(s, "GET", doc["statusUrl"] + "?wait=20")
        self.assertLess(time.time() - t0, 10, "the long poll outlived the deadline")
        self.assertEqual((status, expired["status"]), (200, "EXPIRED"))
        raw = urllib.request.urlopen(s.endpoint + doc["statusUrl"]).read().decode()
        self.assertEqual(raw.count('"status"'), 1, raw)
        # the message carries the request id and the route's attributes
        sqs = s.client()
        msgs = sqs.receive_message(QueueUrl=queue_url(sqs, "jobs"), MessageAttributeNames=["All"])["Messages"]
        attrs = {k: v["StringValue"] for k, v in msgs[0]["MessageAttributes"].items()}
        self.assertEqual(attrs, {"requestId": doc["requestId"], "team": "blue", "source": "test", "kind": "batch"})
        self.assertEqual(json.loads(msgs[0]["Body"]), {"x": 1})

    def test_idempotency_key_returns_the_same_request_and_sends_once(self):
        s = self.start()
        h = {"Idempotency-Key": "order-17"}
        first = call(s, "POST", "/users", {"name": "ada"}, h)
        again = call(s, "POST", "/users", {"name": "ada"}, h)
        other = call(s, "POST", "/users", {"name": "bob"}, {"Idempotency-Key": "order-18"})
        self.assertEqual(first[0], 202)
        self.assertEqual(again[0], 202)
        self.assertEqual(again[2]["requestId"], first[2]["requestId"])
        self.assertNotEqual(other[2]["requestId"], first[2]["requestId"])
        sqs = s.client()
        self.assertEqual(queue_counts(sqs, queue_url(sqs, "users-in"))[0], 2)
        # the same key on another route is a conflict, not a silent replay
        self.assertEqual(call(s, "POST", "/jobs/x", {"y": 1}, h)[0], 422)

    def test_unknown_id_404_and_wrong_method_405(self):
        s = self.start()
        status, _, doc = call(s, "GET", "/_sluice/requests/no-such-request")
        self.assertEqual((status, doc["requestId"]), (404, "no-such-request"))
        status, headers, _ = call(s, "GET", "/inbound", headers={"x-api-key": KEY})
        self.assertEqual((status, headers["Allow"]), (405, "POST"))
        self.assertEqual(call(s, "GET", "/_sluice/requests/x?wait=99")[0], 400)
        # paths of no route still reach the AWS protocols
        self.assertEqual(call(s, "GET", "/health")[0], 200)

    def test_accepted_work_survives_kill9(self):
        s = self.start()
        status, _, doc = call(s, "POST", "/users", {"name": "grace"})
        self.assertEqual(status, 202)
        self.kill9(s)
        s2 = self.daemon(CONFIG % {"so": WORKERS_SO, "key": sha(KEY), "slow": sha(SLOW_KEY)}, data_dir=s.data_dir)
        status, _, rec = call(s2, "GET", doc["statusUrl"])
        self.assertEqual((status, rec["status"], rec["acceptedAt"]), (202, "ACCEPTED", doc["acceptedAt"]))
        sqs = s2.client()
        self.assertEqual(queue_counts(sqs, queue_url(sqs, "users-in"))[0], 1)


    def test_shutdown_answers_long_polls(self):
        s = self.start()
        doc = call(s, "POST", "/users", {"name": "lin"})[2]
        got = {}
        th = threading.Thread(target=lambda: got.update(r=call(s, "GET", doc["statusUrl"] + "?wait=20")))
        th.start()
        time.sleep(0.3)
        t0 = time.time()
        self.assertEqual(s.stop(), 0)
        th.join(timeout(10))
        self.assertLess(time.time() - t0, timeout(5), "the long poll held the shutdown")
        self.assertEqual((got["r"][0], got["r"][2]["status"]), (202, "ACCEPTED"))


class GatewayConfig(FunctionsTestCase):
    """Configs the daemon refuses to start with, naming the problem."""

    def refuse(self, gateway, needle):
        path = self.write("bad.yaml", "queues:\n  - name: q\n" + gateway)
        r = subprocess.run([SLUICE_BIN, "serve", "--port", str(free_port()), "--data", os.path.join(self.dir, "d"),
                            "--config", path], capture_output=True, text=True, timeout=timeout(20))
        self.assertNotEqual(r.returncode, 0)
        self.assertIn(needle, r.stderr + r.stdout)

    def test_refused_configs(self):
        self.refuse("gateway:\n  routes:\n    - { path: /a, integration: publish, topic: nope }\n", "no topic named nope")
        self.refuse("gateway:\n  routes:\n    - { path: /a, integration: enqueue, queue: q, schema: {type: bogus} }\n",
                    "schema")
        self.refuse("gateway:\n  routes:\n    - { path: /_sluice/x, integration: enqueue, queue: q }\n", "Sluice's own")
        self.refuse("gateway:\n  routes:\n    - { path: /a, integration: teleport }\n", "integration must be")
        self.refuse("gateway:\n  routes:\n    - { path: /a, integration: enqueue, queue: q, api_key: true }\n",
                    "no api_keys")
        self.refuse("gateway:\n  api_keys:\n    - { hash: 'sha256:12', plan: p }\n  usage_plans:\n    - { name: p, rate: 1,"
                    " burst: 1 }\n  routes:\n    - { path: /a, integration: enqueue, queue: q }\n", "hash")
