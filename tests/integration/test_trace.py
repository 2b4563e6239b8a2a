"""Tracing (docs/TRACING.md): the calculator example (seed 000) end to end —
a gateway request's id traced through the topic, the filtered queue, the
plugin worker and the results table, listed by `sluice trace <requestId>`
in time order; a failing request's retries and its dead-lettering; and a
plain SQS message sent with the AWSTraceHeader system attribute, received
and deleted through boto3, traced by the Root of its header. Then, with a
Python runtime function: messages without a trace header traced by their
message ids and followed across a topic's fan-out, a function's
destination and an SNS function subscription; the Lambda API's Invoke
journaled; and the trace handed to the function (_X_AMZN_TRACE_ID)."""
import json
import os
import subprocess
import sys
import time
import unittest
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fn_truth import PY_BOOTSTRAP, REPO, SLOW  # noqa: E402
from sluice_harness import ASAN, SLUICE_BIN, ConfigDaemonCase  # noqa: E402

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


class TraceCase(unittest.TestCase):
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

    def hops_until(self, trace_id, kind, count=1):
        """The hops of trace_id once `count` of them are of `kind` (the work behind them is asynchronous)."""
        deadline = time.monotonic() + 20 * SLOW
        while True:
            status, doc = request(self.ep, "GET", "/_sluice/trace/" + trace_id)
            self.assertEqual(status, 200, doc)
            if [h["kind"] for h in doc["hops"]].count(kind) >= count:
                return doc["hops"]
            if time.monotonic() > deadline:
                self.fail("no %d %s hops for %s: %s" % (count, kind, trace_id, doc["hops"]))
            time.sleep(0.05)


class Trace(ConfigDaemonCase, TraceCase):
    CONFIG = os.path.join(EXAMPLE, "sluice.yaml")

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
        # a result polled again is not a hop again
        for _ in range(3):
            self.assertEqual(request(self.ep, "GET", "/_sluice/requests/" + rid)[0], 200)
        hops = self.hops(rid)
        self.assertEqual([h["kind"] for h in hops].count("gateway.result"), 1, hops)
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
        # a message without the header is not the traced one's hop
        sqs.send_message(QueueUrl=url, MessageBody="untraced")
        status, doc = request(self.ep, "GET", "/_sluice/trace/" + ROOT)
        self.assertEqual((status, len(doc["hops"])), (200, 3))

    def test_unknown_id_exits_1(self):
        p = self.trace("no-such-trace")
        self.assertEqual(p.returncode, 1)
        self.assertIn("no hop", p.stderr)
        p = self.trace()
        self.assertEqual(p.returncode, 2)


TRACER = """import os


def handler(event, context):
    return {"trace": os.environ.get("_X_AMZN_TRACE_ID"), "requestId": context.aws_request_id}
"""

CONFIG = """
queues:
  - name: plain
  - name: fanned
  - name: work
  - name: out
  - name: async-out
topics:
  - name: news
    subscriptions:
      - queue: fanned
      - function: tracer
functions:
  - name: tracer
    kind: process
    command: %(bootstrap)s
    dir: %(dir)s
    handler: tracer.handler
    timeout: 10
    concurrency: 2
    on_success: queue:async-out
    environment: { PYTHONDONTWRITEBYTECODE: "1" }
mappings:
  - function: tracer
    queue: work
    batch_size: 1
    on_success: queue:out
"""


class TraceMessagesAndFunctions(ConfigDaemonCase, TraceCase):
    @classmethod
    def config_text(cls):
        with open(os.path.join(cls.dir, "tracer.py"), "w") as f:
            f.write(TRACER)
        return CONFIG % {"bootstrap": PY_BOOTSTRAP, "dir": cls.dir}

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.sqs = cls.sluice.client("sqs")

    def url(self, name):
        return self.sqs.get_queue_url(QueueName=name)["QueueUrl"]

    def take(self, name):
        """One message of the queue (all attributes), deleted."""
        deadline = time.monotonic() + 20 * SLOW
        while time.monotonic() < deadline:
            got = self.sqs.receive_message(QueueUrl=self.url(name), AttributeNames=["All"],
                                           WaitTimeSeconds=1).get("Messages")
            if got:
                self.sqs.delete_message(QueueUrl=self.url(name), ReceiptHandle=got[0]["ReceiptHandle"])
                return got[0]
        self.fail("nothing arrived in " + name)

    def invoke(self, payload, headers=None):
        req = urllib.request.Request(self.ep + "/2015-03-31/functions/tracer/invocations",
                                     data=json.dumps(payload).encode(), method="POST", headers=headers or {})
        with urllib.request.urlopen(req, timeout=30 * SLOW) as r:
            return r.status, r.headers["x-amzn-RequestId"], json.loads(r.read() or b"null")

    def test_untraced_message_is_traced_by_its_message_id(self):
        mid = self.sqs.send_message(QueueUrl=self.url("plain"), MessageBody="no header")["MessageId"]
        got = self.take("plain")
        self.assertEqual(got["MessageId"], mid)
        self.assertNotIn("AWSTraceHeader", got["Attributes"])  # Sluice invents no header a client sees
        hops = self.hops(mid)
        self.assertEqual([h["kind"] for h in hops], ["queue.sent", "queue.received", "queue.deleted"])
        self.assertTrue(all(h["traceId"] == mid for h in hops))

    def test_untraced_publish_is_followed_to_its_queue_message_and_function(self):
        sns = self.sluice.client("sns")
        pid = sns.publish(TopicArn="arn:aws:sns:us-east-1:000000000000:news", Message="hello")["MessageId"]
        queued = self.take("fanned")
        self.assertNotIn("AWSTraceHeader", queued["Attributes"])
        hops = self.hops_until(pid, "function.finished")
        kinds = [h["kind"] for h in hops]
        self.assertInOrder(kinds, ["topic.published", "subscription.delivered", "queue.sent", "queue.received",
                                   "queue.deleted"])
        self.assertInOrder(kinds, ["topic.published", "subscription.delivered", "function.queued",
                                   "function.invoked", "function.finished"])
        self.assertInOrder(kinds, ["subscription.delivered", "subscription.sent"])
        to_queue = [h for h in hops if h["kind"] == "subscription.delivered" and h["detail"] == "sqs"][0]
        self.assertEqual(to_queue["link"], queued["MessageId"])
        sent = [h for h in hops if h["kind"] == "queue.sent"][0]
        self.assertEqual((sent["traceId"], sent["resource"]), (queued["MessageId"], "fanned"))
        queued_fn = [h for h in hops if h["kind"] == "function.queued"][0]
        self.assertEqual(queued_fn["traceId"], pid)
        invoked = [h for h in hops if h["kind"] == "function.invoked"][0]
        self.assertEqual((invoked["traceId"], invoked["resource"]), (queued_fn["link"], "tracer"))
        self.assertEqual([h for h in hops if h["kind"] == "subscription.sent"][0]["detail"], "attempt 1")
        listing = self.trace(pid)
        self.assertEqual(listing.returncode, 0, listing.stderr)
        self.assertIn("sqs -> " + queued["MessageId"], listing.stdout)
        self.assertEqual(len(listing.stdout.strip().split("\n")), len(hops) + 1)

    def test_mapping_destination_of_an_untraced_message_is_followed(self):
        mid = self.sqs.send_message(QueueUrl=self.url("work"), MessageBody="{}")["MessageId"]
        out = self.take("out")
        self.assertNotIn("AWSTraceHeader", out["Attributes"])
        self.assertIsNone(json.loads(out["Body"])["responsePayload"]["trace"])
        hops = self.hops(mid)
        kinds = [h["kind"] for h in hops]
        self.assertInOrder(kinds, ["queue.sent", "queue.received", "function.invoked", "function.finished",
                                   "destination.sent", "queue.sent", "queue.received", "queue.deleted"])
        self.assertEqual(kinds.count("queue.deleted"), 2, kinds)
        dest = [h for h in hops if h["kind"] == "destination.sent"][0]
        self.assertEqual((dest["resource"], dest["link"]), ("out", out["MessageId"]))
        self.assertEqual([h["resource"] for h in hops if h["kind"] == "queue.sent"], ["work", "out"])

    def test_mapping_hands_the_records_trace_to_the_function(self):
        header = "Root=1-5759e988-bd862e3fe1be46a994272794;Parent=53995c3f42cd8ad8;Sampled=1"
        self.sqs.send_message(QueueUrl=self.url("work"), MessageBody="{}",
                              MessageSystemAttributes={"AWSTraceHeader": {"DataType": "String",
                                                                          "StringValue": header}})
        out = self.take("out")
        self.assertEqual(json.loads(out["Body"])["responsePayload"]["trace"], header)
        self.assertEqual(out["Attributes"]["AWSTraceHeader"], "1-5759e988-bd862e3fe1be46a994272794")
        kinds = [h["kind"] for h in self.hops("1-5759e988-bd862e3fe1be46a994272794")]
        self.assertInOrder(kinds, ["queue.sent", "function.invoked", "function.finished", "destination.sent",
                                   "queue.sent"])

    def test_invoke_is_journaled_and_hands_its_trace_to_the_function(self):
        header = "Root=1-5759e988-bd862e3fe1be46a994272795;Parent=53995c3f42cd8ad8;Sampled=1"
        status, rid, out = self.invoke({"n": 1}, {"X-Amzn-Trace-Id": header})
        self.assertEqual((status, out["trace"], out["requestId"]), (200, header, rid))
        hops = self.hops("1-5759e988-bd862e3fe1be46a994272795")
        self.assertEqual([h["kind"] for h in hops], ["function.invoked", "function.finished"])
        self.assertEqual(hops[0]["detail"], rid)
        self.assertTrue(hops[1]["durationUs"] > 0)
        # without a header: under the request id, and no trace handed on
        status, rid, out = self.invoke({"n": 2})
        self.assertEqual((status, out["trace"]), (200, None))
        self.assertEqual([h["kind"] for h in self.hops(rid)], ["function.invoked", "function.finished"])
        # a header that is no fit HTTP header value is not handed on (the journal keys it all the same)
        status, rid, out = self.invoke({"n": 3}, {"X-Amzn-Trace-Id": "Root=1-" + "a" * 300})
        self.assertEqual((status, out["trace"]), (200, None))

    def test_event_invoke_leads_to_its_later_run(self):
        root = "1-5759e988-bd862e3fe1be46a994272796"
        status, rid, _ = self.invoke({"n": 4}, {"X-Amz-Invocation-Type": "Event", "X-Amzn-Trace-Id": "Root=" + root})
        self.assertEqual(status, 202)
        hops = self.hops_until(root, "queue.sent")
        self.assertEqual([h["kind"] for h in hops], ["function.queued", "function.invoked", "function.finished",
                                                     "destination.sent", "queue.sent"])
        self.assertEqual(hops[0]["link"], rid)
        self.assertEqual(hops[1]["traceId"], rid)
        # its destination (the function's on_success) goes on under the new message's id
        self.assertEqual((hops[3]["resource"], hops[3]["traceId"]), ("async-out", rid))
        self.assertEqual((hops[4]["resource"], hops[4]["traceId"]), ("async-out", hops[3]["link"]))


class TraceTracedOnly(ConfigDaemonCase, TraceCase):
    """trace.messages: traced — messages without a header are not journaled."""

    CONFIG_TEXT = "trace:\n  messages: traced\nqueues:\n  - name: q\n"

    def test_only_traced_messages_are_journaled(self):
        sqs = self.sluice.client("sqs")
        url = sqs.get_queue_url(QueueName="q")["QueueUrl"]
        plain = sqs.send_message(QueueUrl=url, MessageBody="plain")["MessageId"]
        sqs.send_message(QueueUrl=url, MessageBody="traced", MessageSystemAttributes={
            "AWSTraceHeader": {"DataType": "String", "StringValue": "Root=1-5759e988-bd862e3fe1be46a994272797"}})
        self.assertEqual(self.trace(plain).returncode, 1)
        self.assertEqual([h["kind"] for h in self.hops("1-5759e988-bd862e3fe1be46a994272797")], ["queue.sent"])


if __name__ == "__main__":
    unittest.main()
