"""The bound on the bytes of messages a queue holds (limits.queue_bytes, here
64 KiB) over the wire, in this interpreter's SQS protocol: SendMessage at the
bound answers OverLimit (403) and the daemon goes on, a delete makes room;
SendMessageBatch fails the entries that do not fit, one by one (and, in a
FIFO queue, the rest of their message group); a dead-letter
move into a full DLQ keeps the message; a Publish to a topic whose queue is
full answers Throttled (429) and serves no subscription, PublishBatch per
entry (FIFO: with the rest of the group); the gateway's enqueue and publish routes answer 429 with Retry-After;
the count survives a restart; an out-of-range bound is refused at start.

A message counts its body, its attributes and 512 bytes: a 10,000-byte body
counts 10,512, so six fit in 65,536 and leave room for 2,464."""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from sluice_harness import SLUICE_BIN, Sluice, free_port  # noqa: E402
from sqs_truth import SqsTestCase  # noqa: E402

BOUND = 65536
FULL = "The maximum size of the messages held per queue (65536 bytes: limits.queue_bytes) has been reached for " \
       "this queue."
BIG = "x" * 10000

CONFIG = """
limits:
  queue_bytes: %d
queues:
  - name: jobs
topics:
  - name: jobs-topic
    subscriptions:
      - queue: jobs
        raw_message_delivery: true
tables:
  - name: results
    partition_key: requestId
    ttl_attribute: expiresAt
gateway:
  results_table: results
  routes:
    - method: POST
      path: /jobs
      integration: enqueue
      queue: jobs
    - method: POST
      path: /jobs-topic
      integration: publish
      topic: jobs-topic
""" % BOUND


def post(endpoint, path, body):
    """(status, headers, parsed JSON body)."""
    req = urllib.request.Request(endpoint + path, data=json.dumps(body).encode(), method="POST",
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, r.headers, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, e.headers, json.loads(e.read())


class BoundedTestCase(SqsTestCase):
    """A daemon on CONFIG; self.sns beside self.sqs."""

    @classmethod
    def setUpClass(cls):
        cls.cfg_dir = tempfile.mkdtemp(prefix="sluice-it-cfg-")
        cls.cfg = os.path.join(cls.cfg_dir, "sluice.yaml")
        with open(cls.cfg, "w") as f:
            f.write(CONFIG)
        cls.sluice = Sluice(config=cls.cfg).start()
        cls.sqs = cls.sluice.client()
        cls.sns = cls.sluice.client("sns")

    @classmethod
    def tearDownClass(cls):
        cls.sluice.stop_checked()
        shutil.rmtree(cls.cfg_dir, ignore_errors=True)

    def fill(self, url, n=6):
        for _ in range(n):
            self.sqs.send_message(QueueUrl=url, MessageBody=BIG)

    def free_one(self, url):
        m = self.receive(url, n=1)[0]
        self.sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])


class QueueBytes(BoundedTestCase):
    def test_send_at_the_bound_is_over_limit_until_a_delete(self):
        url = self.queue("send")
        self.fill(url)
        self.assertError("OverLimit", FULL, 403, self.sqs.send_message, QueueUrl=url, MessageBody=BIG)
        self.assertError("OverLimit", FULL, 403, self.sqs.send_message, QueueUrl=url, MessageBody="y" * 1953)
        self.sqs.send_message(QueueUrl=url, MessageBody="y" * 1952)  # exactly the room left
        self.assertError("OverLimit", FULL, 403, self.sqs.send_message, QueueUrl=url, MessageBody="z")
        self.assertEqual(self.counts(url), (7, 0, 0))
        other = self.queue("other")  # the daemon answers, and other queues have room of their own
        self.sqs.send_message(QueueUrl=other, MessageBody=BIG)
        self.free_one(url)
        self.sqs.send_message(QueueUrl=url, MessageBody=BIG)
        self.assertEqual(self.counts(url), (7, 0, 0))

    def test_batch_entries_that_do_not_fit_fail_on_their_own(self):
        url = self.queue("batch")
        self.fill(url, 5)  # room: 12,976
        out = self.sqs.send_message_batch(QueueUrl=url, Entries=[
            {"Id": "a", "MessageBody": BIG},       # fits: 2,464 left
            {"Id": "b", "MessageBody": BIG},       # does not
            {"Id": "c", "MessageBody": "c" * 1000},  # fits: 952 left
            {"Id": "d", "MessageBody": "d" * 1000},  # does not
        ])
        self.assertEqual(sorted(e["Id"] for e in out["Successful"]), ["a", "c"])
        self.assertEqual(sorted(out["Failed"], key=lambda e: e["Id"]), [
            {"Id": "b", "SenderFault": True, "Code": "OverLimit", "Message": FULL},
            {"Id": "d", "SenderFault": True, "Code": "OverLimit", "Message": FULL},
        ])
        self.assertEqual(self.counts(url), (7, 0, 0))

    def test_fifo_batch_fails_the_rest_of_a_group_after_an_entry_that_does_not_fit(self):
        url = self.queue("fbatch.fifo", ContentBasedDeduplication="true")
        for i in range(5):
            self.sqs.send_message(QueueUrl=url, MessageBody=BIG + str(i), MessageGroupId="g0")
        out = self.sqs.send_message_batch(QueueUrl=url, Entries=[  # room: 12,976 - 5 (the digits)
            {"Id": "a", "MessageBody": "a" * 20000, "MessageGroupId": "g"},  # does not fit
            {"Id": "b", "MessageBody": "b" * 100, "MessageGroupId": "g"},    # would fit: refused after a
            {"Id": "c", "MessageBody": "c" * 100, "MessageGroupId": "h"},    # fits
        ])
        self.assertEqual([e["Id"] for e in out["Successful"]], ["c"])
        self.assertEqual(sorted((e["Id"], e["Code"], e["Message"]) for e in out["Failed"]),
                         [("a", "OverLimit", FULL), ("b", "OverLimit", FULL)])

    def test_a_dead_letter_move_into_a_full_dlq_keeps_the_message(self):
        dlq = self.queue("dlq")
        src = self.queue("src", RedrivePolicy=json.dumps({"deadLetterTargetArn": self.arn(dlq),
                                                          "maxReceiveCount": 1}))
        self.fill(dlq)
        self.sqs.send_message(QueueUrl=dlq, MessageBody="y" * 1952)  # exactly full
        self.sqs.send_message(QueueUrl=src, MessageBody="poison")
        self.assertEqual(len(self.receive(src, VisibilityTimeout=0)), 1)
        self.assertEqual(self.receive(src), [])  # moved on this receive, not delivered again
        self.assertEqual(self.counts(dlq), (8, 0, 0))  # past its bound: nothing lost
        self.assertEqual(self.counts(src), (0, 0, 0))
        self.assertError("OverLimit", FULL, 403, self.sqs.send_message, QueueUrl=dlq, MessageBody="y")
        self.assertIn("poison", [m["Body"] for m in self.drain(dlq)])

    def topic_with(self, name, *urls):
        arn = self.sns.create_topic(Name="%s-%s" % (name, self.id().split(".")[-1]))["TopicArn"]
        for url in urls:
            self.sns.subscribe(TopicArn=arn, Protocol="sqs", Endpoint=self.arn(url),
                               Attributes={"RawMessageDelivery": "true"})
        return arn

    def test_publish_to_a_topic_whose_queue_is_full_is_throttled(self):
        full, other = self.queue("full"), self.queue("fanned")
        arn = self.topic_with("t", other, full)
        self.fill(full)
        self.sns.publish(TopicArn=arn, Message="y" * 1952)  # exactly the room left
        with self.assertRaises(Exception) as cm:
            self.sns.publish(TopicArn=arn, Message="z")
        resp = cm.exception.response
        err = resp["Error"]
        self.assertEqual((err["Code"], err["Type"], resp["ResponseMetadata"]["HTTPStatusCode"]),
                         ("Throttled", "Sender", 429), err)
        self.assertIn("Queue %s of subscription %s:" % (full.rsplit("/", 1)[1], arn), err["Message"])
        self.assertTrue(err["Message"].endswith("cannot take the message: " + FULL), err)
        self.assertEqual(self.counts(other), (1, 0, 0))  # no subscription was served
        self.free_one(full)
        self.sns.publish(TopicArn=arn, Message="z")
        self.assertEqual((self.counts(other), self.counts(full)), ((2, 0, 0), (7, 0, 0)))

    def test_publish_batch_fails_the_entries_that_do_not_fit(self):
        full = self.queue("pbfull")
        arn = self.topic_with("pb", full)
        self.fill(full, 5)
        out = self.sns.publish_batch(TopicArn=arn, PublishBatchRequestEntries=[
            {"Id": "a", "Message": BIG}, {"Id": "b", "Message": BIG}, {"Id": "c", "Message": "c" * 1000}])
        self.assertEqual(sorted(e["Id"] for e in out["Successful"]), ["a", "c"])
        self.assertEqual(len(out["Failed"]), 1, out)
        f = out["Failed"][0]
        self.assertEqual((f["Id"], f["Code"], f["SenderFault"]), ("b", "Throttled", True))
        self.assertTrue(f["Message"].endswith(FULL), f)
        self.assertEqual(self.counts(full), (7, 0, 0))

    def test_fifo_publish_batch_fails_the_rest_of_a_group_after_a_throttled_entry(self):
        full = self.queue("fpb.fifo", ContentBasedDeduplication="true")
        arn = self.sns.create_topic(Name="fpb-%s.fifo" % self.id().split(".")[-1][:40],
                                    Attributes={"FifoTopic": "true", "ContentBasedDeduplication": "true"})["TopicArn"]
        self.sns.subscribe(TopicArn=arn, Protocol="sqs", Endpoint=self.arn(full),
                           Attributes={"RawMessageDelivery": "true"})
        for i in range(5):
            self.sqs.send_message(QueueUrl=full, MessageBody=BIG + str(i), MessageGroupId="g0")
        out = self.sns.publish_batch(TopicArn=arn, PublishBatchRequestEntries=[
            {"Id": "a", "Message": "a" * 20000, "MessageGroupId": "g"},
            {"Id": "b", "Message": "b" * 100, "MessageGroupId": "g"},
            {"Id": "c", "Message": "c" * 100, "MessageGroupId": "h"}])
        self.assertEqual([e["Id"] for e in out["Successful"]], ["c"])
        self.assertEqual(sorted((e["Id"], e["Code"]) for e in out["Failed"]), [("a", "Throttled"), ("b", "Throttled")])

    def test_gateway_routes_answer_429_while_the_queue_is_full(self):
        url = self.sqs.get_queue_url(QueueName="jobs")["QueueUrl"]
        self.fill(url)
        for path in ("/jobs", "/jobs-topic"):
            status, headers, body = post(self.sluice.endpoint, path, {"x": "y" * 2000})
            self.assertEqual((status, headers.get("Retry-After")), (429, "1"), body)
            self.assertTrue(body["message"].endswith(FULL), body)
        self.free_one(url)
        status, _, body = post(self.sluice.endpoint, "/jobs", {"x": "y" * 2000})
        self.assertEqual(status, 202, body)
        self.assertEqual(self.counts(url), (6, 0, 0))


class QueueBytesAcrossRestart(SqsTestCase):
    """The count is rebuilt exactly from the log, and from a snapshot plus
    the log: a full queue is still full after kill -9 and a restart, with
    exactly the same room left, and a delete makes room."""

    @classmethod
    def setUpClass(cls):
        cls.cfg_dir = tempfile.mkdtemp(prefix="sluice-it-cfg-")
        cls.cfg = os.path.join(cls.cfg_dir, "sluice.yaml")
        with open(cls.cfg, "w") as f:  # a snapshot once 1 MiB of log has grown
            f.write("limits:\n  queue_bytes: %d\nstorage:\n  compact_mb: 1\n  segment_mb: 1\n" % BOUND)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.cfg_dir, ignore_errors=True)

    def churn_until_snapshot(self, data_dir):
        """Sends, receives and deletes 64 KiB rounds on another queue until a snapshot is written."""
        url = self.queue("churn")
        for _ in range(60):
            if any(n.startswith("snap-") for n in os.listdir(data_dir)):
                return
            for _ in range(6):
                self.sqs.send_message(QueueUrl=url, MessageBody=BIG)
            for m in self.receive(url):
                self.sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
            self.assertEqual(self.receive(url), [])  # nothing left over between rounds
        self.fail("no snapshot after 60 rounds")

    def restart_full(self, snapshot):
        a = Sluice(config=self.cfg).start()
        try:
            self.sqs = a.client()
            url = self.queue("r")
            for _ in range(6):
                self.sqs.send_message(QueueUrl=url, MessageBody=BIG)
            self.sqs.send_message(QueueUrl=url, MessageBody="y" * 1000)
            m = self.receive(url, n=1)[0]  # in flight counts, a delete frees
            self.sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
            self.receive(url, n=1, VisibilityTimeout=600)
            if snapshot:
                self.churn_until_snapshot(a.data_dir)
            a.kill9()
            b = Sluice(data_dir=a.data_dir, config=self.cfg).start()
            try:
                self.sqs = b.client()
                room = BOUND - (6 * 10512 + 1512) + (10512 if m["Body"] == BIG else 1512)
                self.assertEqual(self.counts(url), (5, 1, 0))
                self.assertError("OverLimit", FULL, 403, self.sqs.send_message, QueueUrl=url,
                                 MessageBody="z" * (room - 511))
                self.sqs.send_message(QueueUrl=url, MessageBody="z" * (room - 512))
                self.assertError("OverLimit", FULL, 403, self.sqs.send_message, QueueUrl=url, MessageBody="z")
                got = self.receive(url, n=1)[0]
                self.sqs.delete_message(QueueUrl=url, ReceiptHandle=got["ReceiptHandle"])
                self.sqs.send_message(QueueUrl=url, MessageBody="z")
            finally:
                b.stop_checked()
        finally:
            a.cleanup()

    def test_count_after_replaying_the_log(self):
        self.restart_full(False)

    def test_count_after_loading_a_snapshot(self):
        self.restart_full(True)


class RefusedBounds(unittest.TestCase):
    def refuse(self, text, needle):
        d = tempfile.mkdtemp(prefix="sluice-bytes-cfg-")
        try:
            path = os.path.join(d, "bad.yaml")
            with open(path, "w") as f:
                f.write(text)
            r = subprocess.run([SLUICE_BIN, "serve", "--port", str(free_port()), "--data", os.path.join(d, "data"),
                                "--config", path], capture_output=True, text=True, timeout=20)
            self.assertEqual(r.returncode, 2, r.stderr + r.stdout)
            self.assertIn(needle, r.stderr)
        finally:
            shutil.rmtree(d, ignore_errors=True)

    def test_out_of_range(self):
        self.refuse("limits:\n  queue_bytes: 65535\n",
                    "bad.yaml:2:16: limits.queue_bytes: 65535 is out of range (65536..1099511627776)")
        self.refuse("limits:\n  total_queue_bytes: 1099511627777\n",
                    "limits.total_queue_bytes: 1099511627777 is out of range (65536..1099511627776)")
        self.refuse("limits:\n  queue_bytes: 1GiB\n", 'limits.queue_bytes: "1GiB" is not an integer')


if __name__ == "__main__":
    unittest.main()
