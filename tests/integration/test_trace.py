"""Tracing (docs/TRACING.md): the calculator example (seed 000) end to end —
a gateway request's id traced through the topic, the filtered queue, the
plugin worker and the results table, listed by `sluice trace <requestId>`
in time order; a failing request's retries and its dead-lettering; and a
plain SQS message sent with the AWSTraceHeader system attribute, received
and deleted through boto3, traced by the Root of its header."""
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
from sluice_harness import ASAN, SLUICE_BIN, Sluice  # noqa: E402

EXAMPLE = os.path.join(REPO, "examples", "calculator")
DEMO_KEY = "calculator-demo-key"
ROOT = "1-5759e988-bd862e3fe1be46a994272793"


def request(endpoint, method, path, body=None, headers=None, timeout=30):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(endpoint + path, data=data, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


class Trace(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.sluice = Sluice(config=os.path.join(EXAMPLE, "sluice.yaml")).start(timeout=30)
        cls.ep = cls.sluice.endpoint

    @classmethod
    def tearDownClass(cls):
        cls.sluice.stop_checked()

    def trace(self, *args):
        p = subprocess.run([SLUICE_BIN, "trace", "--endpoint", self.ep] + list(args), capture_output=True,
                           text=True, timeout=60, cwd=REPO)
        if ASAN:
            self.assertNotIn("ERROR: AddressSanitizer", p.stderr)
        return p

    def hops(self, trace_id):
        p = self.trace("--json", trace_id)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        doc = json.loads(p.stdout)
        times = [h["timeUs"] for h in doc["hops"]]
        self.assertEqual(times, sorted(times), "hops not in time order")
        return doc["hops"]

    def assertInOrder(self, kinds, want):
        """want is a subsequence of kinds."""
        at = 0
        for k in want:
            self.assertIn(k, kinds[at:], "%s missing after position %d in %s" % (k, at, kinds))
            at = kinds.index(k, at) + 1

    def accept(self, body):
        status, acc = request(self.ep, "POST", "/inbound", body, {"x-api-key": DEMO_KEY})
        self.assertEqual(status, 202, acc)
        return acc["requestId"]

    def final(self, rid):
        deadline = time.monotonic() + 30 * SLOW
        rec = None
        while time.monotonic() < deadline:
            _, rec = request(self.ep, "GET", "/_sluice/requests/%s?wait=20" % rid, timeout=40)
            if rec["status"] not in ("ACCEPTED", "RUNNING"):
                return rec
        self.fail("no final status: %s" % rec)

    def test_gateway_request_traced_through_topic_queue_function_and_table(self):
        rid = self.accept({"operation": "division", "number": 1000, "divisor": 8})
        self.assertEqual(self.final(rid)["status"], "SUCCEEDED")
        hops = self.hops(rid)
        kinds = [h["kind"] for h in hops]
        self.assertInOrder(kinds, ["gateway.accepted", "topic.published", "queue.sent", "queue.received",
                                   "function.invoked", "function.finished", "table.written", "gateway.result"])
        self.assertIn("queue.deleted", kinds)
        by = {h["kind"]: h for h in hops}
        self.assertEqual(by["gateway.accepted"]["resource"], "POST /inbound")
        self.assertEqual(by["topic.published"]["resource"], "requests")
        # the filter sent it to division only
        self.assertEqual(by["subscription.delivered"]["resource"].rsplit(":", 1)[1], "division")
        self.assertEqual(by["subscription.filtered"]["resource"].rsplit(":", 1)[1], "multiplication")
        self.assertEqual(by["queue.sent"]["resource"], "division")
        self.assertEqual(by["function.invoked"]["resource"], "division")
        self.assertEqual((by["table.written"]["resource"], by["table.written"]["detail"]), ("results", "SUCCEEDED"))
        self.assertEqual(by["gateway.result"]["detail"], "SUCCEEDED")
        # the plain listing: a header, one line per hop, the time since the first
        p = self.trace(rid)
        self.assertEqual(p.returncode, 0, p.stderr)
        lines = p.stdout.strip().split("\n")
        self.assertIn("+FIRST_MS", lines[0])
        self.assertEqual(len(lines), len(hops) + 1)
        self.assertIn("gateway.accepted", lines[1])
        self.assertEqual(lines[1].split()[1], "0.000")

    def test_failed_attempts_and_dead_lettering_are_hops(self):
        rid = self.accept({"operation": "division", "number": 1, "divisor": 0})
        self.assertEqual(self.final(rid)["status"], "DEAD_LETTERED")
        kinds = [h["kind"] for h in self.hops(rid)]
        self.assertEqual(kinds.count("function.failed"), 3, kinds)
        self.assertEqual(kinds.count("queue.received"), 3, kinds)
        self.assertInOrder(kinds, ["gateway.accepted", "function.invoked", "function.failed", "queue.received",
                                   "function.failed", "queue.dead_lettered"])

    def test_sqs_message_with_aws_trace_header(self):
        sqs = self.sluice.client("sqs")
        url = sqs.create_queue(QueueName="traced")["QueueUrl"]
        header = "Root=%s;Parent=53995c3f42cd8ad8;Sampled=1" % ROOT
        sqs.send_message(QueueUrl=url, MessageBody="hello",
                         MessageSystemAttributes={"AWSTraceHeader": {"DataType": "String", "StringValue": header}})
        got = sqs.receive_message(QueueUrl=url, AttributeNames=["AWSTraceHeader"], WaitTimeSeconds=1)["Messages"]
        self.assertEqual(got[0]["Attributes"]["AWSTraceHeader"], header)
        sqs.delete_message(QueueUrl=url, ReceiptHandle=got[0]["ReceiptHandle"])
        hops = self.hops(ROOT)
        self.assertEqual([h["kind"] for h in hops], ["queue.sent", "queue.received", "queue.deleted"])
        self.assertTrue(all(h["resource"] == "traced" for h in hops))
        self.assertEqual(hops[0]["detail"], got[0]["MessageId"])
        self.assertEqual(len(self.hops("Root=" + ROOT)), 3)  # the header itself finds it too
        # a message without the header is not in the journal
        sqs.send_message(QueueUrl=url, MessageBody="untraced")
        status, doc = request(self.ep, "GET", "/_sluice/trace/" + ROOT)
        self.assertEqual((status, len(doc["hops"])), (200, 3))

    def test_unknown_id_exits_1(self):
        p = self.trace("no-such-trace")
        self.assertEqual(p.returncode, 1)
        self.assertIn("no hop", p.stderr)
        p = self.trace()
        self.assertEqual(p.returncode, 2)


if __name__ == "__main__":
    unittest.main()
