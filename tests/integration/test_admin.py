"""The admin commands (`sluice queues|topics|functions|requests|dlq|cost`),
run as subprocesses against a real daemon: resources made with boto3 and by
the config show up in the listings; a gateway request dead-lettered after a
failed attempt is shown by `dlq show` with its recorded error and left in
place; `dlq redrive` moves messages back to their source and, with --to,
elsewhere; errors (no such queue, no daemon, bad usage) exit non-zero with
a clear message. docs/CLI.md is the reference."""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(__file__))
from fn_truth import WORKERS_SO, http_get, timeout  # noqa: E402
from sluice_harness import SANITIZER_MARKS, SLUICE_BIN, Sluice, free_port  # noqa: E402

CONFIG = """
queues:
  - name: division-dlq
  - name: division
    attributes: { VisibilityTimeout: 1 }
    redrive: { dead_letter_queue: division-dlq, max_receive_count: 1 }
  - name: parked
topics:
  - name: rides
    subscriptions:
      - queue: parked
        filter_policy: { kind: [ride] }
tables:
  - name: results
    partition_key: requestId
    ttl_attribute: expiresAt
functions:
  - name: division
    handler: %(so)s:division
mappings:
  - function: division
    queue: division
    batch_size: 1
    report_batch_item_failures: true
    on_failure: table:results
gateway:
  results_table: results
  routes:
    - { method: POST, path: /calc, integration: enqueue, queue: division }
"""

def admin(*args, endpoint=None, seconds=60):
    """Runs `sluice args...`; the CompletedProcess (text)."""
    env = dict(os.environ)
    env.pop("SLUICE_ENDPOINT", None)
    if endpoint:
        env["SLUICE_ENDPOINT"] = endpoint
    p = subprocess.run([SLUICE_BIN] + list(args), env=env, capture_output=True, text=True, timeout=timeout(seconds))
    for mark in SANITIZER_MARKS:
        if mark in p.stderr:
            raise AssertionError("sanitizer report from sluice %s:\n%s" % (args, p.stderr))
    return p


def rows(stdout):
    """A table's rows (header included) as lists of cells."""
    return [line.split() for line in stdout.splitlines() if line.strip()]


def post(endpoint, path, body):
    req = urllib.request.Request(endpoint + path, data=json.dumps(body).encode(), method="POST",
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


class Admin(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="sluice-admin-")
        config = os.path.join(cls.dir, "sluice.yaml")
        with open(config, "w") as f:
            f.write(CONFIG % {"so": WORKERS_SO})
        cls.sluice = Sluice(data_dir=os.path.join(cls.dir, "data"), config=config).start(timeout=timeout(10))
        cls.sqs = cls.sluice.client("sqs")
        cls.sns = cls.sluice.client("sns")

    @classmethod
    def tearDownClass(cls):
        try:
            cls.sluice.stop_checked()
        finally:
            shutil.rmtree(cls.dir, ignore_errors=True)

    def run_ok(self, *args):
        p = admin(*args, endpoint=self.sluice.endpoint)
        self.assertEqual(p.returncode, 0, "sluice %s: exit %s\n%s%s" % (args, p.returncode, p.stdout, p.stderr))
        return p.stdout

    def assertExit(self, p, code, says):
        self.assertEqual(p.returncode, code, "exit %s, wanted %s\n%s%s" % (p.returncode, code, p.stdout, p.stderr))
        self.assertIn(says, p.stderr)

    def arn(self, url):
        return self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]

    def counts(self, url):
        a = self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
        return int(a["ApproximateNumberOfMessages"]), int(a["ApproximateNumberOfMessagesNotVisible"])

    def dead_lettered_pair(self, name):
        """A queue with a redrive policy (maxReceiveCount 1) to its own DLQ,
        and one message moved there: (source url, dlq url, message id)."""
        dlq = self.sqs.create_queue(QueueName=name + "-dlq")["QueueUrl"]
        policy = json.dumps({"deadLetterTargetArn": self.arn(dlq), "maxReceiveCount": "1"})
        src = self.sqs.create_queue(QueueName=name, Attributes={"RedrivePolicy": policy})["QueueUrl"]
        mid = self.sqs.send_message(QueueUrl=src, MessageBody='{"ride": 7}', MessageAttributes={
            "kind": {"DataType": "String", "StringValue": "ride"}})["MessageId"]
        self.assertEqual(len(self.sqs.receive_message(QueueUrl=src, VisibilityTimeout=0)["Messages"]), 1)
        self.assertNotIn("Messages", self.sqs.receive_message(QueueUrl=src, VisibilityTimeout=0))  # moved
        self.assertEqual(self.counts(dlq), (1, 0))
        return src, dlq, mid

    # ---- listings ----

    def test_queues_lists_figures_and_redrive_target(self):
        src, dlq, _ = self.dead_lettered_pair("listed")
        self.sqs.send_message(QueueUrl=src, MessageBody="x", DelaySeconds=60)
        table = {r[0]: r for r in rows(self.run_ok("queues"))}
        self.assertEqual(table["QUEUE"], ["QUEUE", "VISIBLE", "IN_FLIGHT", "DELAYED", "DLQ", "MAX_RECEIVES"])
        self.assertEqual(table["listed"], ["listed", "0", "0", "1", "listed-dlq", "1"])
        self.assertEqual(table["listed-dlq"], ["listed-dlq", "1", "0", "0", "-", "-"])
        self.assertEqual(table["division"][4:], ["division-dlq", "1"])  # from the config
        doc = {q["name"]: q for q in json.loads(self.run_ok("queues", "--json"))}
        self.assertEqual(doc["listed"]["url"], src)
        self.assertEqual(doc["listed"]["attributes"]["ApproximateNumberOfMessagesDelayed"], "1")
        self.assertIn("RedrivePolicy", doc["listed"]["attributes"])

    def test_topics_lists_subscriptions_and_filters(self):
        t = self.sns.create_topic(Name="made-by-boto")["TopicArn"]
        q = self.arn(self.sqs.create_queue(QueueName="topic-target")["QueueUrl"])
        self.sns.subscribe(TopicArn=t, Protocol="sqs", Endpoint=q)
        self.sns.create_topic(Name="lonely")
        got = rows(self.run_ok("topics"))
        self.assertEqual(got[0], ["TOPIC", "PROTOCOL", "ENDPOINT", "FILTER"])
        self.assertIn(["made-by-boto", "sqs", q, "no"], got)
        self.assertIn(["rides", "sqs", q.replace("topic-target", "parked"), "yes"], got)
        self.assertIn(["lonely", "-", "(no", "subscriptions)", "-"], got)
        doc = {t["name"]: t for t in json.loads(self.run_ok("topics", "--json"))}
        self.assertEqual(doc["rides"]["subscriptions"][0]["filterPolicy"], True)
        self.assertEqual(doc["lonely"]["subscriptions"], [])

    def test_functions_lists_functions_and_their_sources(self):
        got = rows(self.run_ok("functions"))
        self.assertEqual(got[0], ["FUNCTION", "MEMORY_MB", "TIMEOUT_S", "HANDLER", "SOURCES"])
        line = [r for r in got if r[0] == "division"]
        self.assertEqual(len(line), 1, got)
        self.assertEqual(line[0][4:], ["division", "(Enabled,", "batch", "1)"])
        doc = json.loads(self.run_ok("functions", "--json"))
        self.assertEqual([f["FunctionName"] for f in doc["Functions"]], ["division"])
        self.assertEqual(len(doc["EventSourceMappings"]), 1)

    # ---- a gateway request to the dead-letter queue and back ----

    def test_gateway_request_dead_lettered_shown_listed_and_redriven(self):
        status, accepted = post(self.sluice.endpoint, "/calc", {"operation": "division", "number": 1, "divisor": 0})
        self.assertEqual(status, 202, accepted)
        rid = accepted["requestId"]
        deadline = time.time() + timeout(30)
        record = None
        while time.time() < deadline:
            _, record = http_get(self.sluice.endpoint, "/_sluice/requests/%s?wait=5" % rid)
            if record and record.get("status") == "DEAD_LETTERED":
                break
        self.assertEqual(record["status"], "DEAD_LETTERED", record)
        dlq = self.sqs.get_queue_url(QueueName="division-dlq")["QueueUrl"]

        out = self.run_ok("dlq", "show", "division-dlq")
        self.assertIn("attribute requestId (String): %s" % rid, out)
        self.assertIn('"divisor": 0', out)
        self.assertIn("request %s: DEAD_LETTERED" % rid, out)
        self.assertIn("division by zero", out)
        self.assertRegex(out, r"receive count: \d+")
        self.assertEqual(self.counts(dlq), (1, 0))  # shown, not taken
        shown = json.loads(self.run_ok("dlq", "show", "division-dlq", "--json"))
        self.assertEqual(len(shown), 1)
        self.assertEqual(shown[0]["Request"]["requestId"], rid)

        listed = rows(self.run_ok("requests", "--status", "DEAD_LETTERED", "--table", "results"))
        self.assertEqual(listed[0][:4], ["REQUEST", "STATUS", "ROUTE", "ACCEPTED"])
        self.assertIn(rid, [r[0] for r in listed[1:]])
        self.assertEqual([r[1] for r in listed[1:]], ["DEAD_LETTERED"] * (len(listed) - 1))
        found = rows(self.run_ok("requests"))  # the results table found without --table
        self.assertIn(rid, [r[0] for r in found[1:]])
        self.assertIn("division by zero", self.run_ok("requests"))
        doc = json.loads(self.run_ok("requests", "--json", "--table", "results", "--limit", "1"))
        self.assertEqual(len(doc), 1)
        self.assertNotIn(rid, [r[0] for r in rows(self.run_ok("requests", "--status", "SUCCEEDED",
                                                              "--table", "results"))[1:]])

        parked = self.sqs.get_queue_url(QueueName="parked")["QueueUrl"]
        before = self.counts(parked)[0]
        out = self.run_ok("dlq", "redrive", "division-dlq", "--to", "parked", "--rate", "10")
        self.assertIn("COMPLETED, 1 of 1 moved", out)
        self.assertEqual(self.counts(dlq), (0, 0))
        self.assertEqual(self.counts(parked)[0], before + 1)

    def test_dlq_show_and_redrive_to_the_source(self):
        src, dlq, mid = self.dead_lettered_pair("orders")
        out = self.run_ok("dlq", "show", "orders-dlq")
        self.assertIn("message 1: %s" % mid, out)
        self.assertIn("attribute kind (String): ride", out)
        self.assertIn('body: {"ride": 7}', out)
        self.assertNotIn("request ", out)  # no gateway request behind this one
        self.assertEqual(self.counts(dlq), (1, 0))
        out = self.run_ok("dlq", "redrive", "orders-dlq")
        self.assertIn("move task started to the source queues", out)
        self.assertIn("COMPLETED, 1 of 1 moved", out)
        self.assertEqual(self.counts(dlq), (0, 0))
        self.assertEqual(self.counts(src), (1, 0))
        self.assertIn("no messages", self.run_ok("dlq", "show", "orders-dlq"))

    def test_dlq_redrive_no_wait_returns_the_handle(self):
        src, dlq, _ = self.dead_lettered_pair("quick")
        out = json.loads(self.run_ok("dlq", "redrive", "quick-dlq", "--no-wait", "--json"))
        self.assertTrue(out["TaskHandle"])
        deadline = time.time() + timeout(20)
        while time.time() < deadline and self.counts(src)[0] != 1:
            time.sleep(0.1)
        self.assertEqual(self.counts(src), (1, 0))

    # ---- errors ----

    def test_errors_say_what_and_exit_non_zero(self):
        p = admin("dlq", "show", "no-such-queue", endpoint=self.sluice.endpoint)
        self.assertExit(p, 1, "no queue named no-such-queue")
        p = admin("dlq", "redrive", "division-dlq", "--to", "nowhere", endpoint=self.sluice.endpoint)
        self.assertExit(p, 1, "no queue named nowhere")
        p = admin("dlq", "redrive", "parked", endpoint=self.sluice.endpoint)  # not anyone's DLQ
        self.assertExit(p, 1, "Dead Letter Queue")
        p = admin("requests", "--table", "no-such-table", endpoint=self.sluice.endpoint)
        self.assertExit(p, 1, "no table no-such-table")
        self.assertExit(admin("dlq", endpoint=self.sluice.endpoint), 2, "give show or redrive")
        self.assertExit(admin("dlq", "show", endpoint=self.sluice.endpoint), 2, "give one queue name")
        self.assertExit(admin("queues", "--bogus", endpoint=self.sluice.endpoint), 2, "unknown option --bogus")
        self.assertExit(admin("requests", "--limit", "0", endpoint=self.sluice.endpoint), 2, "--limit 0")
        self.assertExit(admin("queues", "--endpoint", "http://x/path"), 2, "has a path")
        down = "http://127.0.0.1:%d" % free_port()
        for cmd in (["queues"], ["topics"], ["functions"], ["requests"], ["dlq", "show", "q"], ["cost"]):
            self.assertExit(admin(*cmd, endpoint=down), 4, "cannot reach the daemon at %s" % down)
        p = admin("queues", "--help")
        self.assertEqual(p.returncode, 0)
        self.assertIn("usage: sluice queues", p.stdout)

    def test_cost_reads_metrics_or_says_there_are_none(self):
        try:
            with urllib.request.urlopen(self.sluice.endpoint + "/metrics", timeout=10) as r:
                status = r.status
        except urllib.error.HTTPError as e:
            status = e.code
        p = admin("cost", endpoint=self.sluice.endpoint)
        if status == 404:
            self.assertExit(p, 2, "has no /metrics")
        else:
            self.assertEqual(p.returncode, 0, p.stderr)
            self.assertIn("TOTAL", p.stdout)
            self.assertIn("Per million gateway requests", p.stdout)
        p = admin("cost", "--prices", os.path.join(self.dir, "missing.yaml"), endpoint=self.sluice.endpoint)
        self.assertExit(p, 2, "cannot read")


if __name__ == "__main__":
    unittest.main()
