"""examples/calculator (seed 000), started from its own sluice.yaml exactly as
the README's first command starts it, and walked the way its README walks it:
a request with the demo key through `sluice call` (202, then the SUCCEEDED
record, exit 0) and over plain HTTP (202 + Location, then the long poll that
answers as soon as the worker has stored the result, and GET /response with
the id in a header); the topic routing each operation to its own queue;
invalid bodies (400 naming the field and rule); no key or an unknown key
(403); the trial key over its rate (429 with Retry-After); division by zero
dead-lettered after 3 attempts and visible to the waiting client as
DEAD_LETTERED; an Idempotency-Key reused. The Python variant
(sluice-python.yaml) answers the same request through its runtimes."""
import json
import os
import subprocess
import sys
import time
import unittest
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fn_truth import REPO, SLOW  # noqa: E402
from sluice_harness import ACCOUNT, ASAN, REGION, SLUICE_BIN, VALGRIND, ConfigDaemonCase  # noqa: E402

EXAMPLE = os.path.join(REPO, "examples", "calculator")
DEMO_KEY = "calculator-demo-key"
TRIAL_KEY = "calculator-trial-key"


def request(endpoint, method, path, body=None, headers=None, timeout=30):
    """(status, headers, parsed JSON body or None) of one HTTP exchange."""
    data = body if isinstance(body, (bytes, type(None))) else json.dumps(body).encode()
    req = urllib.request.Request(endpoint + path, data=data, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            status, hdrs, raw = r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        status, hdrs, raw = e.code, e.headers, e.read()
    try:
        doc = json.loads(raw) if raw else None
    except ValueError:
        doc = None
    return status, hdrs, doc


class CalculatorExample(ConfigDaemonCase):
    CONFIG = os.path.join(EXAMPLE, "sluice.yaml")

    def post(self, body, key=DEMO_KEY, headers=None):
        h = {"x-api-key": key} if key else {}
        h.update(headers or {})
        return request(self.ep, "POST", "/inbound", body, h)

    def call(self, *args):
        p = subprocess.run([SLUICE_BIN, "call", "--endpoint", self.ep] + list(args), capture_output=True, text=True,
                           timeout=120, cwd=REPO)
        if ASAN:
            self.assertNotIn("ERROR: AddressSanitizer", p.stderr)
        return p

    def test_sluice_call_with_the_seed_test_files(self):
        """The README: `sluice call --api-key … POST /inbound -d @divideTest.json`."""
        for name, want in (("divideTest.json", 125.0), ("multiplyTest.json", 3000.0)):
            p = self.call("--api-key", DEMO_KEY, "POST", "/inbound", "-d", "@examples/calculator/" + name)
            self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
            self.assertIn("202 Accepted", p.stdout)
            final = json.loads(p.stdout[p.stdout.rindex("HTTP/1.1 200"):].split("\n", 1)[1])
            self.assertEqual(final["status"], "SUCCEEDED")
            self.assertEqual(final["result"]["result"], want)

    def test_curl_walk_202_then_long_poll_then_response_header(self):
        status, hdrs, acc = self.post({"operation": "division", "number": 1000, "divisor": 8})
        self.assertEqual(status, 202, acc)
        rid = acc["requestId"]
        self.assertEqual(hdrs["Location"], "/_sluice/requests/" + rid)
        self.assertEqual(acc["statusUrl"], hdrs["Location"])
        # The long poll answers when the worker has stored the result, long before its 20 s are up.
        t0 = time.monotonic()
        status, _, rec = request(self.ep, "GET", hdrs["Location"] + "?wait=20", timeout=40)
        self.assertLess(time.monotonic() - t0, 10 * SLOW, "the long poll waited for its timeout")
        self.assertEqual(status, 200)
        self.assertEqual((rec["status"], rec["result"]["result"], rec["function"]), ("SUCCEEDED", 125.0, "division"))
        # Seed 000's read journey: the id in a requestId header, the API key again.
        status, _, rec2 = request(self.ep, "GET", "/response", headers={"x-api-key": DEMO_KEY, "requestId": rid})
        self.assertEqual((status, rec2), (200, rec))
        status, _, _ = request(self.ep, "GET", "/response", headers={"requestId": rid})
        self.assertEqual(status, 403)

    def test_topic_routes_each_operation_to_its_own_worker(self):
        ids = {}
        for op, extra in (("division", {"divisor": 4}), ("multiplication", {"factor": 6})):
            status, _, acc = self.post(dict({"operation": op, "number": 12}, **extra))
            self.assertEqual(status, 202)
            ids[op] = acc["requestId"]
        for op, want in (("division", 3.0), ("multiplication", 72.0)):
            _, _, rec = request(self.ep, "GET", "/_sluice/requests/%s?wait=20" % ids[op], timeout=40)
            self.assertEqual((rec["status"], rec["function"], rec["result"]["result"]), ("SUCCEEDED", op, want))

    def test_invalid_bodies_answer_400_naming_field_and_rule(self):
        for body, field in (({"operation": "power", "number": 1}, "$.operation"), ({"operation": "division"},
                            "$.number"), ({"operation": "division", "number": "ten"}, "$.number"), (b"{not json", "$")):
            status, _, doc = self.post(body)
            self.assertEqual(status, 400, body)
            self.assertEqual(doc["message"], "Invalid request body")
            self.assertTrue(doc["errors"][0].startswith(field + ":"), doc)

    def test_keys_missing_or_unknown_403(self):
        for key in (None, "not-a-key"):
            status, _, doc = self.post({"operation": "division", "number": 1}, key=key)
            self.assertEqual((status, doc), (403, {"message": "Forbidden"}))

    def test_trial_key_over_its_rate_429(self):
        """The trial plan: 1 request/s with a burst of 5 — the sixth quick request is throttled."""
        codes, retry = [], None
        for _ in range(12):
            status, hdrs, _ = request(self.ep, "GET", "/response", headers={"x-api-key": TRIAL_KEY,
                                                                           "requestId": "no-such-request"})
            codes.append(status)
            if status == 429:
                retry = hdrs["Retry-After"]
        self.assertIn(404, codes)  # admitted: the id is unknown
        self.assertIn(429, codes, codes)
        self.assertGreaterEqual(int(retry), 1)
        # The demo key has its own bucket.
        status, _, _ = request(self.ep, "GET", "/response", headers={"x-api-key": DEMO_KEY, "requestId": "no-such"})
        self.assertEqual(status, 404)

    def test_division_by_zero_is_dead_lettered_after_3_attempts(self):
        status, _, acc = self.post({"operation": "division", "number": 1, "divisor": 0})
        self.assertEqual(status, 202)
        rid = acc["requestId"]
        rec = None
        deadline = time.monotonic() + 25 * SLOW
        while time.monotonic() < deadline:  # each long poll ends at the final status
            _, _, rec = request(self.ep, "GET", "/_sluice/requests/%s?wait=20" % rid, timeout=40)
            if rec["status"] not in ("ACCEPTED", "RUNNING"):
                break
        self.assertEqual(rec["status"], "DEAD_LETTERED", rec)
        self.assertEqual(rec["attempts"], 3)
        self.assertEqual(rec["deadLetterQueue"], "division-dlq")
        self.assertIn("division by zero", json.dumps(rec["lastError"]))
        # The message itself waits in the dead-letter queue with its request id.
        sqs = self.sluice.client("sqs")
        url = sqs.get_queue_url(QueueName="division-dlq")["QueueUrl"]
        got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, MessageAttributeNames=["All"],
                                  WaitTimeSeconds=1)
        ids = [m["MessageAttributes"]["requestId"]["StringValue"] for m in got.get("Messages", [])]
        self.assertIn(rid, ids)
        p = self.call("GET", "/_sluice/requests/" + rid)
        self.assertEqual(p.returncode, 1)
        self.assertIn("DEAD_LETTERED", p.stderr)

    def test_idempotency_key_reuse_returns_the_same_request(self):
        h = {"Idempotency-Key": "calc-%d" % time.time_ns()}
        body = {"operation": "multiplication", "number": 5, "factor": 5}
        s1, _, a1 = self.post(body, headers=h)
        s2, _, a2 = self.post(body, headers=h)
        self.assertEqual((s1, s2), (202, 202))
        self.assertEqual(a1, a2)
        _, _, rec = request(self.ep, "GET", "/_sluice/requests/%s?wait=20" % a1["requestId"], timeout=40)
        self.assertEqual((rec["status"], rec["attempts"]), ("SUCCEEDED", 1))

    def test_declared_topic_and_subscriptions(self):
        sns = self.sluice.client("sns")
        arn = "arn:aws:sns:%s:%s:requests" % (REGION, ACCOUNT)
        subs = sns.list_subscriptions_by_topic(TopicArn=arn)["Subscriptions"]
        self.assertEqual(sorted(s["Endpoint"].rsplit(":", 1)[1] for s in subs), ["division", "multiplication"])
        for s in subs:
            attrs = sns.get_subscription_attributes(SubscriptionArn=s["SubscriptionArn"])["Attributes"]
            self.assertEqual(json.loads(attrs["FilterPolicy"]), {"operation": [s["Endpoint"].rsplit(":", 1)[1]]})


@unittest.skipIf(VALGRIND, "valgrind 3.19 does not implement pidfd_open, which watching a runtime process needs")
class CalculatorPythonExample(CalculatorExample):
    """sluice-python.yaml: the same calculator, workers in Python behind the
    Lambda runtime API; one walk through is enough to show the variant."""
    CONFIG = os.path.join(EXAMPLE, "sluice-python.yaml")

    def test_sluice_call_with_the_seed_test_files(self):
        p = self.call("--api-key", DEMO_KEY, "POST", "/inbound", "-d", "@examples/calculator/divideTest.json")
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertIn('"result": 125.0', p.stdout)


for _name in [n for n in dir(CalculatorExample) if n.startswith("test_") and n != "test_sluice_call_with_the_seed_test_files"]:
    setattr(CalculatorPythonExample, _name, None)  # the shared walk is CalculatorExample's


if __name__ == "__main__":
    unittest.main()
