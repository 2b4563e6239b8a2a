"""Every kind of SQS state survives a clean restart: queues and their
attributes, tags and policy, messages with their attributes, receive
counts, in-flight and delayed visibility, deletions, FIFO groups,
deduplication and sequence numbers, purge windows, dead letters and move
tasks, receipt handles.

Each class builds the state on one daemon, stops it (SIGTERM), and starts a
second daemon on the same data directory; the tests check the second one.
RestartFromLog recovers by replaying the log; RestartFromSnapshot first
grows the log past storage.compact_mb so that recovery starts from a
snapshot."""
import glob
import json
import os
import tempfile
import time
import unittest

from sluice_harness import PROTOCOL, Sluice, check_exit
from sqs_truth import SqsTestCase, attrs_md5, queue_arn, wait_until
from test_redrive import MoveTasks

TRACE = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"
ATTRS = {"s": {"DataType": "String", "StringValue": "text ✓"},
         "n": {"DataType": "Number.int", "StringValue": "42"},
         "b": {"DataType": "Binary", "BinaryValue": b"\x00\x01\xfe\xff"}}


class RestartTestCase(SqsTestCase):
    config_text = None

    @classmethod
    def setUpClass(cls):
        cls.config_path = None
        if cls.config_text:
            fd, cls.config_path = tempfile.mkstemp(prefix="sluice-it-", suffix=".yaml")
            with os.fdopen(fd, "w") as f:
                f.write(cls.config_text)
        cls.first = Sluice(config=cls.config_path).start()
        cls.sluice, cls.sqs = cls.first, cls.first.client()
        cls.tasks = MoveTasks(cls)
        cls.state = {}
        try:
            cls.build()
            cls.before_stop()
        finally:
            rc = cls.first.stop()
        assert rc == 0, "first daemon exited with %s:\n%s" % (rc, cls.first.read_log())
        cls.sluice = Sluice(data_dir=cls.first.data_dir, config=cls.config_path).start()
        cls.sqs = cls.sluice.client()

    @classmethod
    def tearDownClass(cls):
        try:
            super().tearDownClass()
        finally:
            cls.first.cleanup()
            if cls.config_path:
                os.unlink(cls.config_path)

    @classmethod
    def before_stop(cls):
        pass

    # ---- building the state on the first daemon -----------------------------------

    @classmethod
    def create(cls, name, **attrs):
        return cls.sqs.create_queue(QueueName=name, Attributes={k: str(v) for k, v in attrs.items()})["QueueUrl"]

    @classmethod
    def build(cls):
        st, sqs = cls.state, cls.sqs
        # a queue whose every settable attribute differs from the default
        dlq0 = cls.create("r-allow-dlq", RedriveAllowPolicy=json.dumps({"redrivePermission": "allowAll"}))
        url = cls.create("r-settings", DelaySeconds=7, VisibilityTimeout=45, MaximumMessageSize=2048,
                         MessageRetentionPeriod=3600, ReceiveMessageWaitTimeSeconds=3, KmsMasterKeyId="alias/k",
                         KmsDataKeyReusePeriodSeconds=600, RedrivePolicy=json.dumps(
                             {"deadLetterTargetArn": queue_arn("r-allow-dlq"), "maxReceiveCount": 4}))
        sqs.tag_queue(QueueUrl=url, Tags={"team": "core", "empty": ""})
        sqs.add_permission(QueueUrl=url, Label="lbl", AWSAccountIds=["668614515564"], Actions=["SendMessage"])
        st["settings"] = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
        st["allow"] = sqs.get_queue_attributes(QueueUrl=dlq0, AttributeNames=["All"])["Attributes"]
        fifo = cls.create("r-settings.fifo", FifoQueue="true", ContentBasedDeduplication="true",
                          DeduplicationScope="messageGroup", FifoThroughputLimit="perMessageGroupId")
        st["fifo_settings"] = sqs.get_queue_attributes(QueueUrl=fifo, AttributeNames=["All"])["Attributes"]
        cls.build_messages()
        cls.build_fifo()
        cls.build_misc()

    @classmethod
    def build_messages(cls):
        st, sqs = cls.state, cls.sqs
        url = cls.create("r-msgs")
        st["t_send"] = int(time.time() * 1000)
        st["rich"] = sqs.send_message(QueueUrl=url, MessageBody="rich", MessageAttributes=ATTRS,
                                      MessageSystemAttributes={"AWSTraceHeader": {"DataType": "String",
                                                                                  "StringValue": TRACE}})
        sqs.send_message(QueueUrl=url, MessageBody="plain")
        sqs.send_message(QueueUrl=url, MessageBody="delayed", DelaySeconds=120)
        gone = sqs.send_message(QueueUrl=url, MessageBody="deleted")["MessageId"]
        sqs.send_message(QueueUrl=url, MessageBody="inflight")
        sqs.send_message(QueueUrl=url, MessageBody="twice")
        got = {}
        for _ in range(20):  # receive each of the five visible once; keep "inflight" hidden
            for m in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=60,
                                         AttributeNames=["All"]).get("Messages", []):
                got[m["Body"]] = m
            if len(got) == 5:
                break
        for body in ("rich", "plain", "twice"):
            sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=got[body]["ReceiptHandle"],
                                          VisibilityTimeout=0)
        sqs.delete_message(QueueUrl=url, ReceiptHandle=got["deleted"]["ReceiptHandle"])
        st["gone_id"] = gone
        st["inflight_handle"] = got["inflight"]["ReceiptHandle"]
        st["first_receive"] = {b: m["Attributes"]["ApproximateFirstReceiveTimestamp"] for b, m in got.items()}
        st["sender"] = got["rich"]["Attributes"]["SenderId"]
        st["sent"] = {b: m["Attributes"]["SentTimestamp"] for b, m in got.items()}

    @classmethod
    def build_fifo(cls):
        st, sqs = cls.state, cls.sqs
        url = cls.create("r-order.fifo", FifoQueue="true")
        seqs = []
        for body, group in (("a", "g1"), ("b", "g1"), ("c", "g2")):
            seqs.append(sqs.send_message(QueueUrl=url, MessageBody=body, MessageGroupId=group,
                                         MessageDeduplicationId="d-" + body)["SequenceNumber"])
        first = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=1, VisibilityTimeout=60)["Messages"][0]
        st["fifo_seqs"] = [int(s) for s in seqs]
        st["fifo_a_handle"] = first["ReceiptHandle"]
        st["fifo_a_body"] = first["Body"]

    @classmethod
    def build_misc(cls):
        st, sqs = cls.state, cls.sqs
        gone = cls.create("r-deleted")
        sqs.delete_queue(QueueUrl=gone)
        purged = cls.create("r-purged")
        sqs.purge_queue(QueueUrl=purged)
        dlq = cls.create("r-dlq")
        src = cls.create("r-src", RedrivePolicy=json.dumps({"deadLetterTargetArn": queue_arn("r-dlq"),
                                                            "maxReceiveCount": 1}))
        for b in ("x1", "x2", "x3", "x4", "x5"):
            sqs.send_message(QueueUrl=src, MessageBody=b)
        for _ in range(20):
            sqs.receive_message(QueueUrl=src, MaxNumberOfMessages=10, VisibilityTimeout=0)
            time.sleep(0.05)
            if int(sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["ApproximateNumberOfMessages"])
                   ["Attributes"]["ApproximateNumberOfMessages"]) == 5:
                break
        # a finished task, then one still running (2 per second) when the daemon stops
        done_dst = cls.create("r-done-dst")
        sqs.send_message(QueueUrl=dlq, MessageBody="direct")
        cls.tasks.start(SourceArn=queue_arn("r-dlq"), DestinationArn=queue_arn("r-done-dst"))
        wait_until(lambda: cls.tasks.list(queue_arn("r-dlq"))[0]["Status"] == "COMPLETED")
        st["done_task"] = cls.tasks.list(queue_arn("r-dlq"))[0]
        assert done_dst
        for b in ("y1", "y2", "y3", "y4"):
            sqs.send_message(QueueUrl=src, MessageBody=b)
        for _ in range(20):
            sqs.receive_message(QueueUrl=src, MaxNumberOfMessages=10, VisibilityTimeout=0)
            time.sleep(0.05)
            if int(sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["ApproximateNumberOfMessages"])
                   ["Attributes"]["ApproximateNumberOfMessages"]) == 4:
                break
        cls.create("r-running-dst")
        cls.tasks.start(SourceArn=queue_arn("r-dlq"), DestinationArn=queue_arn("r-running-dst"),
                        MaxNumberOfMessagesPerSecond=2)

    # ---- checks on the second daemon --------------------------------------------------

    def url(self, name):
        return self.sqs.get_queue_url(QueueName=name)["QueueUrl"]

    def test_queue_attributes_tags_policy(self):
        self.assertEqual(self.attrs(self.url("r-settings")), self.state["settings"])
        self.assertEqual(self.attrs(self.url("r-allow-dlq")), self.state["allow"])
        self.assertEqual(self.attrs(self.url("r-settings.fifo")), self.state["fifo_settings"])
        self.assertEqual(self.sqs.list_queue_tags(QueueUrl=self.url("r-settings"))["Tags"],
                         {"team": "core", "empty": ""})
        policy = json.loads(self.state["settings"]["Policy"])
        self.assertEqual(policy["Statement"][0]["Sid"], "lbl")
        self.assertEqual(self.sqs.list_dead_letter_source_queues(QueueUrl=self.url("r-allow-dlq"))["queueUrls"],
                         [self.url("r-settings")])

    def test_deleted_queue_stays_deleted(self):
        self.assertNotIn("QueueUrls", self.sqs.list_queues(QueueNamePrefix="r-deleted"))
        self.assertError("AWS.SimpleQueueService.NonExistentQueue", None, 400, self.sqs.get_queue_url,
                         QueueName="r-deleted")
        # the 60 seconds during which the name cannot be reused run on across the restart
        self.assertError("AWS.SimpleQueueService.QueueDeletedRecently", None, 400, self.sqs.create_queue,
                         QueueName="r-deleted")

    def test_messages_and_counts(self):
        url = self.url("r-msgs")
        self.assertEqual(self.counts(url), (3, 1, 1))  # rich/plain/twice; inflight; delayed
        got = {m["Body"]: m for m in self.drain(url, AttributeNames=["All"], MessageAttributeNames=["All"],
                                               VisibilityTimeout=60)}
        self.assertEqual(sorted(got), ["plain", "rich", "twice"])
        rich = got["rich"]
        self.assertEqual(rich["MessageId"], self.state["rich"]["MessageId"])
        self.assertEqual(rich["MessageAttributes"], ATTRS)
        self.assertEqual(rich["MD5OfMessageAttributes"], attrs_md5(ATTRS))
        self.assertEqual(rich["MD5OfMessageAttributes"], self.state["rich"]["MD5OfMessageAttributes"])
        a = rich["Attributes"]
        self.assertEqual(a["AWSTraceHeader"], TRACE)
        self.assertEqual(a["SenderId"], self.state["sender"])
        self.assertEqual(a["ApproximateReceiveCount"], "2")
        for body, m in got.items():
            self.assertEqual(m["Attributes"]["SentTimestamp"], self.state["sent"][body])
            self.assertEqual(m["Attributes"]["ApproximateFirstReceiveTimestamp"], self.state["first_receive"][body])
        self.assertNotIn(self.state["gone_id"], [m["MessageId"] for m in got.values()])
        # the in-flight message's handle from before the restart still deletes it
        self.sqs.delete_message(QueueUrl=url, ReceiptHandle=self.state["inflight_handle"])
        self.assertEqual(self.counts(url), (0, 3, 1))

    def test_fifo_group_dedup_and_sequence(self):
        url = self.url("r-order.fifo")
        self.assertEqual(self.state["fifo_a_body"], "a")
        # g1 is still blocked by "a" in flight; only g2 is deliverable
        got = self.receive(url, VisibilityTimeout=60)
        self.assertEqual([m["Body"] for m in got], ["c"])
        # deduplication ids are remembered: re-sending "a" is accepted but not delivered
        self.sqs.send_message(QueueUrl=url, MessageBody="a", MessageGroupId="g3", MessageDeduplicationId="d-a")
        new = self.sqs.send_message(QueueUrl=url, MessageBody="d", MessageGroupId="g3", MessageDeduplicationId="d-d")
        self.assertGreater(int(new["SequenceNumber"]), max(self.state["fifo_seqs"]))
        self.sqs.delete_message(QueueUrl=url, ReceiptHandle=self.state["fifo_a_handle"])
        self.assertEqual(sorted(m["Body"] for m in self.receive(url)), ["b", "d"])

    def test_purge_window(self):
        self.assertError("AWS.SimpleQueueService.PurgeQueueInProgress", None, 403, self.sqs.purge_queue,
                         QueueUrl=self.url("r-purged"))

    def test_dead_letters_and_move_tasks(self):
        done = self.tasks.list(queue_arn("r-dlq"), MaxResults=10)
        self.assertEqual(len(done), 2)
        self.assertEqual(done[1], self.state["done_task"])
        self.assertEqual(done[1]["ApproximateNumberOfMessagesMoved"], 6)
        self.assertEqual(len(self.drain(self.url("r-done-dst"))), 6)
        # the task that was running at the stop carries on after the restart
        running = wait_until(lambda: (lambda r: r if r[0]["Status"] == "COMPLETED" else None)(
            self.tasks.list(queue_arn("r-dlq"))), timeout=10)
        self.assertTrue(running, self.tasks.list(queue_arn("r-dlq")))
        moved = self.drain(self.url("r-running-dst"), AttributeNames=["All"])
        self.assertEqual(sorted(m["Body"] for m in moved), ["y1", "y2", "y3", "y4"])
        self.assertEqual(self.counts(self.url("r-dlq")), (0, 0, 0))


class RestartFromLog(RestartTestCase):
    pass


class RestartFromSnapshot(RestartTestCase):
    config_text = "storage:\n  compact_mb: 1\n"

    @classmethod
    def before_stop(cls):
        """Grows the log past 1 MiB and waits for the snapshot it triggers."""
        url = cls.create("r-ballast")
        for _ in range(3):
            cls.sqs.send_message(QueueUrl=url, MessageBody="z" * 600000)
        cls.sqs.purge_queue(QueueUrl=url)
        snaps = wait_until(lambda: glob.glob(os.path.join(cls.first.data_dir, "snap-*")), timeout=10)
        assert snaps, "no snapshot was written: %s" % os.listdir(cls.first.data_dir)

    def test_recovered_from_snapshot(self):
        self.assertIn("snapshot_lsn=", self.sluice.read_log())
        self.assertNotIn("snapshot_lsn=0 ", self.sluice.read_log())


class LogSegmentZeros(unittest.TestCase):
    """The running log's segment reaches past its records with zeros (so its
    fdatasyncs need no journal commit); a clean stop cuts them off, a kill -9
    leaves them, and the restart reads them as the segment's end: every
    acknowledged message back, no torn-tail warning."""

    def segments(self, s):
        return sorted(glob.glob(os.path.join(s.data_dir, "wal-*.log")))

    def test_zeros_ahead_cut_at_stop_and_read_as_end_after_kill(self):
        s = Sluice().start()
        try:
            sqs = s.client()
            url = sqs.create_queue(QueueName="zeros")["QueueUrl"]
            for i in range(20):
                sqs.send_message(QueueUrl=url, MessageBody="m%d" % i)
            newest = self.segments(s)[-1]
            self.assertGreaterEqual(os.path.getsize(newest), 1 << 20)
            s.kill9()
            with open(newest, "rb") as f:
                data = f.read()
            s2 = Sluice(data_dir=s.data_dir).start()
            try:
                got = set()
                sqs2 = s2.client()
                for _ in range(10):
                    for m in sqs2.receive_message(QueueUrl=url, MaxNumberOfMessages=10,
                                                  WaitTimeSeconds=1).get("Messages", []):
                        got.add(m["Body"])
                    if len(got) == 20:
                        break
                self.assertEqual(got, {"m%d" % i for i in range(20)})
                log = s2.read_log()
                self.assertNotIn("store_torn_tail", log)
                # the recovery cut the zeros, and only zeros
                size = os.path.getsize(newest)
                self.assertLess(size, len(data) - (1 << 19))
                with open(newest, "rb") as f:
                    self.assertEqual(f.read(), data[:size])
                self.assertEqual(data[size:].count(0), len(data) - size)
            finally:
                check_exit(s2.stop(), s2.read_log())
            for seg in self.segments(s2):  # a clean stop leaves no zeros ahead
                self.assertLess(os.path.getsize(seg), 1 << 19, seg)
        finally:
            s.cleanup()

    def test_sync_gap_is_checked(self):
        with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as f:
            f.write("storage:\n  sync_gap_us: 100001\n")
        try:
            s = Sluice(config=f.name)
            with self.assertRaises(Exception):
                s.start(timeout=5)
            self.assertIn("sync_gap_us", s.read_log())
            s.cleanup()
        finally:
            os.unlink(f.name)


del RestartTestCase

if __name__ == "__main__":
    unittest.main()
