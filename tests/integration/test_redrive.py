"""Dead-letter queues and message move tasks against AWS: the move on the
(maxReceiveCount+1)th receive, DeadLetterQueueSourceArn,
ListDeadLetterSourceQueues, Start/Cancel/ListMessageMoveTasks back to the
sources and to a chosen destination, with a rate; their errors.

The move-task actions are newer than boto3 1.26's query model: under the
query protocol they are sent as raw query requests (the wire names of the
query model botocore shipped until 1.31.80)."""
import base64
import json
import time
import unittest
import uuid
import xml.etree.ElementTree as ET

import botocore

from sluice_harness import PROTOCOL
from sqs_truth import SqsTestCase, raw_query, recorded, wait_until

NS = "{http://queue.amazonaws.com/doc/2012-11-05/}"
INT_FIELDS = ("ApproximateNumberOfMessagesMoved", "ApproximateNumberOfMessagesToMove",
              "MaxNumberOfMessagesPerSecond", "StartedTimestamp")


class MoveTasks:
    """Start/Cancel/ListMessageMoveTasks through boto3 (JSON) or raw query."""

    def __init__(self, case):
        self.case = case

    def call(self, action, **params):
        if PROTOCOL == "json":
            fn = getattr(self.case.sqs, botocore.xform_name(action))
            return fn(**params)
        status, _, body = raw_query(self.case.sluice.endpoint, dict(params, Action=action))
        root = ET.fromstring(body)
        if status != 200:
            err = root.find(NS + "Error")
            raise botocore.exceptions.ClientError({
                "Error": {"Code": err.findtext(NS + "Code"), "Message": err.findtext(NS + "Message"),
                          "Type": err.findtext(NS + "Type")},
                "ResponseMetadata": {"HTTPStatusCode": status}}, action)
        result = root.find(NS + action + "Result")
        if action == "ListMessageMoveTasks":
            return {"Results": [self.entry(e) for e in result.findall(NS + "ListMessageMoveTasksResultEntry")]}
        return self.entry(result)

    @staticmethod
    def entry(el):
        out = {}
        for child in el:
            k = child.tag[len(NS):]
            out[k] = int(child.text) if k in INT_FIELDS else child.text
        return out

    def start(self, **kw):
        return self.call("StartMessageMoveTask", **kw)

    def cancel(self, handle):
        return self.call("CancelMessageMoveTask", TaskHandle=handle)

    def list(self, source, **kw):
        return self.call("ListMessageMoveTasks", SourceArn=source, **kw)["Results"]


class RedriveTestCase(SqsTestCase):
    def setUp(self):
        self.tasks = MoveTasks(self)

    def settled_receive(self, url, **kw):
        """A short-poll receive once messages received with VisibilityTimeout=0
        are visible again (the daemon's next tick)."""
        time.sleep(0.1)
        return self.receive(url, **kw)

    def with_dlq(self, name, max_receive=1, fifo=False, **attrs):
        """Creates name-dlq and name (its source); returns (source url, dlq url)."""
        sfx = ".fifo" if fifo else ""
        dlq = self.queue(name + "-dlq" + sfx)
        policy = json.dumps({"deadLetterTargetArn": self.arn(dlq), "maxReceiveCount": max_receive})
        src = self.queue(name + sfx, RedrivePolicy=policy, **attrs)
        return src, dlq


class DeadLetter(RedriveTestCase):
    def test_moved_on_receive_past_max(self):
        src, dlq = self.with_dlq("move", max_receive=2)
        self.sqs.send_message(QueueUrl=src, MessageBody="poison")
        for count in ("1", "2"):
            got = self.receive(src, wait=2, VisibilityTimeout=0, AttributeNames=["ApproximateReceiveCount"])
            self.assertEqual(got[0]["Attributes"]["ApproximateReceiveCount"], count)
        self.assertEqual(self.settled_receive(src), [])  # the 3rd receive moves it instead
        self.assertEqual(self.counts(src), (0, 0, 0))
        self.assertEqual(self.counts(dlq), (1, 0, 0))
        moved = self.receive(dlq, AttributeNames=["All"])[0]
        self.assertEqual(moved["Body"], "poison")
        self.assertEqual(moved["Attributes"]["DeadLetterQueueSourceArn"], self.arn(src))
        self.assertEqual(moved["Attributes"]["ApproximateReceiveCount"], "3")

    def test_dlq_message_attributes_as_recorded(self):
        src, dlq = self.with_dlq("attrs", max_receive=1)
        trace = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"
        self.sqs.send_message(QueueUrl=src, MessageBody="message-1",
                              MessageAttributes={"MyAttribute": {"DataType": "String", "StringValue": "foobar"}},
                              MessageSystemAttributes={"AWSTraceHeader": {"DataType": "String", "StringValue": trace}})
        self.sqs.send_message(QueueUrl=src, MessageBody="message-2")
        kw = dict(AttributeNames=["ApproximateFirstReceiveTimestamp", "ApproximateReceiveCount", "SentTimestamp",
                                  "AWSTraceHeader", "DeadLetterQueueSourceArn"], MessageAttributeNames=["All"])
        pre = sorted(self.receive(src, VisibilityTimeout=0, **kw), key=lambda m: m["Body"])
        self.assertEqual(self.settled_receive(src, **kw), [])
        post = sorted(self.drain(dlq, **kw), key=lambda m: m["Body"])
        want_pre = recorded("test_dead_letter_queue_message_attributes", "rec-pre-dlq")
        want_post = recorded("test_dead_letter_queue_message_attributes", "dlq-messages")
        for got, want in ((pre, want_pre), (post, want_post)):
            self.assertEqual(len(got), 2)
            for g, w in zip(got, want):
                self.assertEqual(g["Body"], w["Body"])
                self.assertEqual(g["MD5OfBody"], w["MD5OfBody"])
                self.assertEqual(g.get("MD5OfMessageAttributes"), w.get("MD5OfMessageAttributes"))
                self.assertEqual(g.get("MessageAttributes"), w.get("MessageAttributes"))
                self.assertEqual(sorted(g["Attributes"]), sorted(w["Attributes"]))
                self.assertEqual(g["Attributes"]["ApproximateReceiveCount"],
                                 w["Attributes"]["ApproximateReceiveCount"])
                self.assertEqual(g["Attributes"].get("AWSTraceHeader"), w["Attributes"].get("AWSTraceHeader"))
        for a, b in zip(pre, post):
            self.assertEqual(a["MessageId"], b["MessageId"])
            self.assertEqual(a["Attributes"]["SentTimestamp"], b["Attributes"]["SentTimestamp"])
            self.assertEqual(b["Attributes"]["DeadLetterQueueSourceArn"], self.arn(src))

    def test_fifo_dlq_with_content_dedup(self):
        src, dlq = self.with_dlq("fifodlq", max_receive=2, fifo=True, ContentBasedDeduplication="true")
        self.sqs.set_queue_attributes(QueueUrl=dlq, Attributes={"ContentBasedDeduplication": "true"})
        self.sqs.send_message(QueueUrl=src, MessageBody="poison", MessageGroupId="g")
        for _ in range(2):
            self.assertEqual(len(self.receive(src, wait=2, VisibilityTimeout=0)), 1)
        self.assertEqual(self.settled_receive(src), [])
        got = self.receive(dlq, AttributeNames=["All"])
        self.assertEqual([m["Body"] for m in got], ["poison"])
        self.assertEqual(got[0]["Attributes"]["MessageGroupId"], "g")
        # the source's group keeps working
        self.sqs.send_message(QueueUrl=src, MessageBody="next", MessageGroupId="g")
        self.assertEqual([m["Body"] for m in self.receive(src)], ["next"])

    def test_list_dead_letter_source_queues(self):
        dlq = self.queue("lsrc-dlq")
        policy = json.dumps({"deadLetterTargetArn": self.arn(dlq), "maxReceiveCount": 3})
        srcs = [self.queue("lsrc-%d" % i, RedrivePolicy=policy) for i in range(3)]
        self.queue("lsrc-unrelated")
        self.assertEqual(sorted(self.sqs.list_dead_letter_source_queues(QueueUrl=dlq)["queueUrls"]), sorted(srcs))
        page = self.sqs.list_dead_letter_source_queues(QueueUrl=dlq, MaxResults=2)
        self.assertEqual(len(page["queueUrls"]), 2)
        rest = self.sqs.list_dead_letter_source_queues(QueueUrl=dlq, MaxResults=2, NextToken=page["NextToken"])
        self.assertEqual(sorted(page["queueUrls"] + rest["queueUrls"]), sorted(srcs))
        self.assertNotIn("NextToken", rest)
        self.assertEqual(self.sqs.list_dead_letter_source_queues(QueueUrl=srcs[0]).get("queueUrls", []), [])
        self.sqs.delete_queue(QueueUrl=dlq)
        self.assertError("AWS.SimpleQueueService.NonExistentQueue", None, 400,
                         self.sqs.list_dead_letter_source_queues, QueueUrl=dlq)


class MoveTaskRuns(RedriveTestCase):
    def dead_letter(self, src, dlq, bodies):
        """Sends bodies to src and lets each one go to dlq."""
        before = self.counts(dlq)[0]
        for b in bodies:
            self.sqs.send_message(QueueUrl=src, MessageBody=b)
        self.drain(src, VisibilityTimeout=0)
        self.assertEqual(self.settled_receive(src), [])
        self.assertEqual(self.counts(dlq)[0], before + len(bodies))

    def finished(self, arn):
        return wait_until(lambda: (lambda r: r if r and r[0]["Status"] != "RUNNING" else None)(
            self.tasks.list(arn)), timeout=10)

    def test_back_to_sources(self):
        dlq = self.queue("back-dlq")
        policy = json.dumps({"deadLetterTargetArn": self.arn(dlq), "maxReceiveCount": 1})
        a = self.queue("back-a", RedrivePolicy=policy)
        b = self.queue("back-b", RedrivePolicy=policy)
        self.dead_letter(a, dlq, ["a1", "a2"])
        self.dead_letter(b, dlq, ["b1", "b2"])
        t0 = int(time.time() * 1000)
        handle = self.tasks.start(SourceArn=self.arn(dlq))["TaskHandle"]
        decoded = json.loads(base64.b64decode(handle))
        self.assertEqual(decoded["sourceArn"], self.arn(dlq))
        self.assertEqual(str(uuid.UUID(decoded["taskId"])), decoded["taskId"])
        done = self.finished(self.arn(dlq))[0]
        self.assertEqual(done["Status"], "COMPLETED")
        self.assertEqual(done["ApproximateNumberOfMessagesMoved"], 4)
        self.assertEqual(done["ApproximateNumberOfMessagesToMove"], 4)
        self.assertEqual(done["SourceArn"], self.arn(dlq))
        for k in ("DestinationArn", "TaskHandle", "MaxNumberOfMessagesPerSecond", "FailureReason"):
            self.assertNotIn(k, done)
        self.assertLess(abs(done["StartedTimestamp"] - t0), 5000)
        self.assertEqual(sorted(m["Body"] for m in self.drain(a)), ["a1", "a2"])
        self.assertEqual(sorted(m["Body"] for m in self.drain(b)), ["b1", "b2"])
        self.assertEqual(self.counts(dlq), (0, 0, 0))

    def test_to_destination_with_rate(self):
        src, dlq = self.with_dlq("dest")
        target = self.queue("dest-target")
        self.dead_letter(src, dlq, ["m1", "m2", "m3", "m4"])
        t0 = time.time()
        handle = self.tasks.start(SourceArn=self.arn(dlq), DestinationArn=self.arn(target),
                                  MaxNumberOfMessagesPerSecond=2)["TaskHandle"]
        running = self.tasks.list(self.arn(dlq))[0]
        self.assertEqual(running["Status"], "RUNNING")
        self.assertEqual(running["TaskHandle"], handle)
        self.assertEqual(running["DestinationArn"], self.arn(target))
        self.assertEqual(running["MaxNumberOfMessagesPerSecond"], 2)
        done = self.finished(self.arn(dlq))[0]
        elapsed = time.time() - t0
        self.assertEqual(done["Status"], "COMPLETED")
        self.assertGreaterEqual(elapsed, 1.4)  # 4 messages at 2 per second
        self.assertEqual(sorted(m["Body"] for m in self.drain(target)), ["m1", "m2", "m3", "m4"])
        self.assertEqual(self.counts(src), (0, 0, 0))
        # moved messages are ordinary messages of the destination now
        self.assertEqual(self.counts(dlq), (0, 0, 0))

    def test_cancel(self):
        src, dlq = self.with_dlq("cancel")
        self.dead_letter(src, dlq, ["c%d" % i for i in range(5)])
        handle = self.tasks.start(SourceArn=self.arn(dlq), MaxNumberOfMessagesPerSecond=1)["TaskHandle"]
        time.sleep(0.5)
        moved = self.tasks.cancel(handle)["ApproximateNumberOfMessagesMoved"]
        self.assertLess(moved, 5)
        task = self.tasks.list(self.arn(dlq))[0]
        self.assertEqual(task["Status"], "CANCELLED")
        self.assertNotIn("TaskHandle", task)
        time.sleep(0.3)
        self.assertEqual(self.counts(dlq)[0] + self.counts(src)[0], 5)
        self.assertEqual(self.counts(dlq)[0], 5 - moved)
        # only running tasks can be cancelled (documented; AWS's text is not recorded)
        self.assertError("InvalidParameterValue", None, 400, self.tasks.cancel, handle)

    def test_missing_original_source_fails_the_task(self):
        src, dlq = self.with_dlq("orphan")
        self.dead_letter(src, dlq, ["o1"])
        # another source keeps the queue a dead-letter queue once src is gone
        self.queue("orphan-keeper", RedrivePolicy=json.dumps({"deadLetterTargetArn": self.arn(dlq),
                                                              "maxReceiveCount": 1}))
        self.sqs.delete_queue(QueueUrl=src)
        self.tasks.start(SourceArn=self.arn(dlq))
        task = self.finished(self.arn(dlq))[0]
        self.assertEqual(task["Status"], "FAILED")
        self.assertEqual(task["FailureReason"], "AWS.SimpleQueueService.NonExistentQueue")
        self.assertEqual(self.counts(dlq), (1, 0, 0))

    def test_list_most_recent_first_and_max_results(self):
        src, dlq = self.with_dlq("listing")
        for i in range(3):
            self.dead_letter(src, dlq, ["l%d" % i])
            self.tasks.start(SourceArn=self.arn(dlq), DestinationArn=self.arn(src))
            self.finished(self.arn(dlq))
            self.drain(src, VisibilityTimeout=0)
        one = self.tasks.list(self.arn(dlq))
        self.assertEqual(len(one), 1)  # MaxResults defaults to 1
        three = self.tasks.list(self.arn(dlq), MaxResults=10)
        self.assertEqual(len(three), 3)
        stamps = [t["StartedTimestamp"] for t in three]
        self.assertEqual(stamps, sorted(stamps, reverse=True))
        self.assertEqual(one[0], three[0])


class MoveTaskErrors(RedriveTestCase):
    NOT_FOUND = "The resource that you specified for the %s parameter doesn't exist."

    def test_source_must_be_a_dlq(self):
        plain = self.queue("plain")
        self.assertError("InvalidParameterValue", "Source queue must be configured as a Dead Letter Queue.", 400,
                         self.tasks.start, SourceArn=self.arn(plain))

    def test_missing_source_and_destination(self):
        src, dlq = self.with_dlq("missing")
        gone = self.arn(dlq).replace("missing-dlq", "nowhere")
        self.assertError("ResourceNotFoundException", self.NOT_FOUND % "SourceArn", 404, self.tasks.start,
                         SourceArn=gone)
        self.assertError("ResourceNotFoundException", self.NOT_FOUND % "DestinationArn", 404, self.tasks.start,
                         SourceArn=self.arn(dlq), DestinationArn=gone)
        self.assertError("ResourceNotFoundException", self.NOT_FOUND % "SourceArn", 404, self.tasks.list, gone)

    def test_one_running_task_per_source(self):
        src, dlq = self.with_dlq("busy")
        for i in range(3):
            self.sqs.send_message(QueueUrl=src, MessageBody="b%d" % i)
        self.drain(src, VisibilityTimeout=0)
        self.settled_receive(src)
        handle = self.tasks.start(SourceArn=self.arn(dlq), MaxNumberOfMessagesPerSecond=1)["TaskHandle"]
        self.assertError("InvalidParameterValue", "There is already a task running. Only one active task is "
                         "allowed for a source queue arn at a given time.", 400, self.tasks.start,
                         SourceArn=self.arn(dlq))
        self.tasks.cancel(handle)

    def test_rate_bounds(self):
        src, dlq = self.with_dlq("rate")
        for bad in (0, 501):
            self.assertError("InvalidParameterValue", None, 400, self.tasks.start, SourceArn=self.arn(dlq),
                             MaxNumberOfMessagesPerSecond=bad)

    def test_cancel_bad_handles(self):
        src, dlq = self.with_dlq("handles")
        self.assertError("InvalidParameterValue", "Value for parameter TaskHandle is invalid.", 400,
                         self.tasks.cancel, "garbage")

        def handle(source):
            doc = json.dumps({"taskId": str(uuid.uuid4()), "sourceArn": source})
            return base64.b64encode(doc.encode()).decode()

        self.assertError("ResourceNotFoundException", self.NOT_FOUND % "SourceArn", 404, self.tasks.cancel,
                         handle(self.arn(dlq).replace("handles-dlq", "nowhere")))
        self.assertError("ResourceNotFoundException", "Task does not exist.", 404, self.tasks.cancel,
                         handle(self.arn(dlq)))

    def test_list_max_results_bounds(self):
        src, dlq = self.with_dlq("listmax")
        for bad in (0, 11):
            self.assertError("InvalidParameterValue", None, 400, self.tasks.list, self.arn(dlq), MaxResults=bad)
        self.assertEqual(self.tasks.list(self.arn(dlq), MaxResults=10), [])


if __name__ == "__main__":
    unittest.main()
