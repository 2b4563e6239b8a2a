"""FIFO queues against AWS: message groups (blocking, order across
redelivery), expired receipt handles, deduplication by id and by content
within the window and its scope, sequence numbers, ReceiveRequestAttemptId,
FifoThroughputLimit, and the parameters FIFO queues refuse."""
import json
import time
import unittest

from sqs_truth import SqsTestCase, recorded


class FifoTestCase(SqsTestCase):
    def send(self, url, body, group="g", dedup=None, **kw):
        if dedup is not None:
            kw["MessageDeduplicationId"] = dedup
        return self.sqs.send_message(QueueUrl=url, MessageBody=body, MessageGroupId=group, **kw)

    def bodies(self, msgs):
        return [m["Body"] for m in msgs]


class Groups(FifoTestCase):
    def test_group_order_and_blocking(self):
        url = self.queue("groups.fifo", ContentBasedDeduplication="true")
        for b in ("a1", "a2", "a3"):
            self.send(url, b, "A")
        for b in ("b1", "b2"):
            self.send(url, b, "B")
        first = self.receive(url, n=2)
        self.assertEqual(self.bodies(first), ["a1", "a2"])  # as many of one group as possible, in order
        # group A is blocked while a1/a2 are in flight: only B is deliverable
        self.assertEqual(self.bodies(self.receive(url)), ["b1", "b2"])
        self.assertEqual(self.receive(url), [])
        self.send(url, "a4", "A")  # a new message does not unblock an in-flight group
        self.assertEqual(self.receive(url), [])
        self.sqs.delete_message(QueueUrl=url, ReceiptHandle=first[0]["ReceiptHandle"])
        self.assertEqual(self.receive(url), [])  # a partial delete keeps the group blocked
        self.sqs.delete_message(QueueUrl=url, ReceiptHandle=first[1]["ReceiptHandle"])
        self.assertEqual(self.bodies(self.receive(url)), ["a3", "a4"])

    def test_order_kept_across_redelivery(self):
        url = self.queue("redeliver.fifo", ContentBasedDeduplication="true", VisibilityTimeout=1)
        for b in ("m1", "m2", "m3"):
            self.send(url, b)
        self.assertEqual(self.bodies(self.receive(url, n=1)), ["m1"])
        self.assertEqual(self.receive(url), [])
        again = self.receive(url, wait=3, AttributeNames=["ApproximateReceiveCount"])
        self.assertEqual(self.bodies(again), ["m1", "m2", "m3"])
        self.assertEqual([m["Attributes"]["ApproximateReceiveCount"] for m in again], ["2", "1", "1"])

    def test_empty_group_comes_back_as_recorded(self):
        t = "test_fifo_empty_message_groups_added_back_to_queue"
        url = self.queue("emptygroup.fifo", ContentBasedDeduplication="true")
        self.send(url, "Message 1", "g1")
        got = self.receive(url)
        self.assertEqual(self.bodies(got), self.bodies(recorded(t, "inital-fifo-receive")["Messages"]))
        self.sqs.delete_message(QueueUrl=url, ReceiptHandle=got[0]["ReceiptHandle"])
        self.assertEqual(self.receive(url), [])
        self.send(url, "Message 2", "g1")
        self.assertEqual(self.bodies(self.receive(url)), self.bodies(recorded(t, "final-fifo-receive")["Messages"]))

    def test_extending_one_message_blocks_the_rest_as_recorded(self):
        t = "test_fifo_group_visibility_extends_with_change_message_visibility"
        urls, handles = [], []
        for pos in range(3):
            url = self.queue("extend%d.fifo" % pos, ContentBasedDeduplication="true", VisibilityTimeout=1)
            for b in ("foo", "bar", "baz"):
                self.send(url, b)
            got = self.receive(url)
            self.assertEqual(self.bodies(got), self.bodies(recorded(t, "receive_all_messages",
                                                                    param="%d-visible" % pos)["Messages"]))
            self.sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=got[pos]["ReceiptHandle"],
                                               VisibilityTimeout=4)
            urls.append(url)
        time.sleep(1.5)
        for pos, url in enumerate(urls):
            want = recorded(t, "some-messages-invisible", param="%d-visible" % pos).get("Messages", [])
            self.assertEqual(self.bodies(self.receive(url)), self.bodies(want), pos)

    def test_approximate_counters(self):
        url = self.queue("counts.fifo", ContentBasedDeduplication="true")
        for g in ("g1", "g2", "g3"):
            for i in range(2):
                self.send(url, "%s-%d" % (g, i), g)
        self.assertEqual(self.bodies(self.receive(url, n=1)), ["g1-0"])
        self.assertEqual(self.bodies(self.receive(url, n=1)), ["g2-0"])
        # messages blocked behind an in-flight group still count as visible
        self.assertEqual(self.counts(url), (4, 2, 0))

    def test_system_attributes_as_recorded(self):
        t = "test_fifo_message_attributes"
        url = self.queue("attrs.fifo", DeduplicationScope="messageGroup", FifoThroughputLimit="perMessageGroupId",
                         VisibilityTimeout=0)
        sent = self.send(url, "message-body-1", "group-1", "dedup-1")
        self.assertEqual(sorted(sent), sorted(recorded(t, "send_message")))
        for i in range(2):
            m = self.receive(url, wait=2, AttributeNames=["All"])[0]
            want = recorded(t, "receive_message_%d" % i)["Messages"][0]["Attributes"]
            a = m["Attributes"]
            self.assertEqual(sorted(a), sorted(want))
            for k in ("ApproximateReceiveCount", "MessageDeduplicationId", "MessageGroupId"):
                self.assertEqual(a[k], want[k], k)
            self.assertEqual(a["SequenceNumber"], sent["SequenceNumber"])


class ReceiptHandles(FifoTestCase):
    def test_expired_handle_as_recorded(self):
        t = "test_fifo_delete_after_visibility_timeout"
        url = self.queue("expired.fifo", ContentBasedDeduplication="true", VisibilityTimeout=1)
        self.send(url, "foobar")
        h = self.receive(url)[0]["ReceiptHandle"]
        time.sleep(1.2)
        self.assertRecordedError(t, "delete_after_timeout_fifo", self.sqs.delete_message, QueueUrl=url,
                                 ReceiptHandle=h, subs={"<receipt-handle:1>": h})
        self.assertError("InvalidParameterValue", "Value %s for parameter ReceiptHandle is invalid. Reason: The "
                         "receipt handle has expired." % h, 400, self.sqs.change_message_visibility, QueueUrl=url,
                         ReceiptHandle=h, VisibilityTimeout=5)
        # the message is still there; its new handle works
        m = self.receive(url)
        self.assertEqual(self.bodies(m), ["foobar"])
        self.assertError("InvalidParameterValue", None, 400, self.sqs.delete_message, QueueUrl=url,
                         ReceiptHandle=h)
        self.sqs.delete_message(QueueUrl=url, ReceiptHandle=m[0]["ReceiptHandle"])
        self.assertEqual(self.counts(url), (0, 0, 0))

    def test_extended_handle_deletes_as_recorded(self):
        url = self.queue("extended.fifo", ContentBasedDeduplication="true", VisibilityTimeout=1)
        self.send(url, "foobar")
        h = self.receive(url)[0]["ReceiptHandle"]
        self.sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=h, VisibilityTimeout=5)
        time.sleep(1.3)
        self.sqs.delete_message(QueueUrl=url, ReceiptHandle=h)
        self.assertEqual(self.receive(url), [])
        self.assertEqual(self.counts(url), (0, 0, 0))


class Deduplication(FifoTestCase):
    def test_arrives_once_after_delete(self):
        t = "test_fifo_deduplication_arrives_once_after_delete"
        for cbd in (True, False):
            url = self.queue("once%s.fifo" % cbd, ContentBasedDeduplication=str(cbd).lower())
            body = json.dumps({"foo": "bar"})
            dedup = None if cbd else "dedup-1"
            first = self.send(url, body, dedup=dedup)
            got = self.receive(url)
            want = recorded(t, "get-messages", param=str(cbd))["Messages"]
            self.assertEqual([m["MD5OfBody"] for m in got], [m["MD5OfBody"] for m in want])
            self.sqs.delete_message(QueueUrl=url, ReceiptHandle=got[0]["ReceiptHandle"])
            dup = self.send(url, body, dedup=dedup)
            self.assertEqual(dup["MD5OfMessageBody"], first["MD5OfMessageBody"])
            self.assertNotIn("Messages", recorded(t, "get-messages-duplicate", param=str(cbd)))
            self.assertEqual(self.receive(url), [])

    def test_content_dedup_uses_body_only(self):
        url = self.queue("cbd.fifo", ContentBasedDeduplication="true")
        self.send(url, "same", "g1", MessageAttributes={"a": {"DataType": "String", "StringValue": "1"}})
        self.send(url, "same", "g1", MessageAttributes={"a": {"DataType": "String", "StringValue": "2"}})
        self.send(url, "other", "g1")
        self.assertEqual(self.bodies(self.receive(url)), ["same", "other"])

    def test_explicit_id_beats_content(self):
        url = self.queue("explicit.fifo", ContentBasedDeduplication="true")
        self.send(url, "same", dedup="one")
        self.send(url, "same", dedup="two")
        self.assertEqual(self.bodies(self.receive(url)), ["same", "same"])

    def test_queue_scope_spans_groups_as_recorded(self):
        t = "test_fifo_deduplication_not_on_message_group_id"
        url = self.queue("qscope.fifo")
        self.send(url, json.dumps({"foo": "bar"}), "group-1", "d")
        self.send(url, json.dumps({"foo": "bar"}), "group-2", "d")
        self.assertEqual(len(self.receive(url)), len(recorded(t, "get-messages", param="False")["Messages"]))
        self.assertEqual(self.receive(url), [])

    def test_same_dedup_other_group_after_delete_as_recorded(self):
        t = "test_sqs_fifo_same_dedup_id_different_message_groups"
        url = self.queue("qscope2.fifo")
        self.send(url, "Test", "g1", "d")
        got = self.receive(url)
        self.assertEqual(self.bodies(got), self.bodies(recorded(t, "same-dedup-different-grp-1")["Messages"]))
        self.sqs.delete_message(QueueUrl=url, ReceiptHandle=got[0]["ReceiptHandle"])
        self.send(url, "Test", "g2", "d")
        self.assertNotIn("Messages", recorded(t, "same-dedup-different-grp-2"))
        self.assertEqual(self.receive(url), [])

    def test_message_group_scope_as_recorded(self):
        t = "test_fifo_high_throughput_ordering"
        url = self.queue("gscope.fifo", DeduplicationScope="messageGroup", FifoThroughputLimit="perMessageGroupId")
        self.send(url, "Test1", "g1", "d")
        self.assertEqual(self.bodies(self.receive(url)),
                         self.bodies(recorded(t, "same-dedup-different-grp-1")["Messages"]))
        self.send(url, "Test2", "g2", "d")
        self.assertEqual(self.bodies(self.receive(url)),
                         self.bodies(recorded(t, "same-dedup-different-grp-2")["Messages"]))
        self.send(url, "Test1-again", "g1", "d")  # same group: still a duplicate
        self.assertEqual(self.receive(url), [])

    def test_message_group_scope_without_throughput_as_recorded(self):
        t = "test_sqs_fifo_message_group_scope_no_throughput_setting"
        url = self.queue("gscope2.fifo", DeduplicationScope="messageGroup", ContentBasedDeduplication="true")
        self.send(url, "Test", "g1")
        self.send(url, "Test", "g2")
        got = self.receive(url)
        self.assertEqual(self.bodies(got), self.bodies(recorded(t, "same-dedup-different-grp-1")["Messages"] +
                                                        recorded(t, "same-dedup-different-grp-2")["Messages"]))

    def test_scope_change_after_creation_keeps_behaviour_as_recorded(self):
        t = "test_fifo_change_to_high_throughput_after_creation"
        url = self.queue("tohigh.fifo", DeduplicationScope="queue", FifoThroughputLimit="perQueue")
        self.send(url, "Test1", "g1", "d1")
        self.assertEqual(self.bodies(self.take(url)),
                         self.bodies(recorded(t, "same-dedup-different-grp-1")["Messages"]))
        self.send(url, "Test2", "g2", "d1")
        self.assertEqual(self.receive(url), recorded(t, "same-dedup-different-grp-2").get("Messages", []))
        self.sqs.set_queue_attributes(QueueUrl=url, Attributes={"DeduplicationScope": "messageGroup",
                                                                "FifoThroughputLimit": "perMessageGroupId"})
        self.assertMatches(self.attrs(url), recorded(t, "set-to-high-throughput")["Attributes"])
        self.send(url, "Test3", "g3", "d1")
        self.assertEqual(self.receive(url), [])
        self.send(url, "Test4", "g4", "d2")
        self.assertEqual(self.bodies(self.take(url)),
                         self.bodies(recorded(t, "new-dedup2-high-throughput")["Messages"]))
        self.send(url, "Test5", "g5", "d2")
        self.assertEqual(self.receive(url), recorded(t, "same-dedup2-high-throughput").get("Messages", []))

    def test_scope_change_to_regular_keeps_behaviour_as_recorded(self):
        t = "test_fifo_change_to_regular_throughput_after_creation"
        url = self.queue("toregular.fifo", DeduplicationScope="messageGroup", FifoThroughputLimit="perMessageGroupId")
        self.send(url, "Test1", "g1", "d1")
        self.send(url, "Test2", "g2", "d1")
        self.assertEqual(self.bodies(self.take(url)),
                         self.bodies(recorded(t, "same-dedup-different-grp-1")["Messages"] +
                                     recorded(t, "same-dedup-different-grp-2")["Messages"]))
        self.sqs.set_queue_attributes(QueueUrl=url, Attributes={"DeduplicationScope": "queue",
                                                                "FifoThroughputLimit": "perQueue"})
        self.assertMatches(self.attrs(url), recorded(t, "set-to-regular-throughput")["Attributes"])
        self.send(url, "Test3", "g3", "d1")
        self.assertEqual(self.bodies(self.take(url)),
                         self.bodies(recorded(t, "same-dedup-different-grp-regular-throughput")["Messages"]))

    def take(self, url):
        """Receives and deletes what is there."""
        got = self.receive(url)
        for m in got:
            self.sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
        return got

    def assertMatches(self, got, want):
        skip = ("CreatedTimestamp", "LastModifiedTimestamp", "QueueArn")
        self.assertEqual({k: v for k, v in got.items() if k not in skip},
                         {k: v for k, v in want.items() if k not in skip})

    def test_dedup_id_rules_as_recorded(self):
        url = self.queue("dedupids.fifo")
        for param, value in (("empty", ""), ("too_long", "a" * 129), ("spaces", "group 123")):
            self.assertRecordedError("test_message_deduplication_id_invalid", "error-response", self.send, url, "x",
                                     param=param, dedup=value)
        self.send(url, "x", dedup="a" * 128)
        self.send(url, "y", dedup="!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~")
        self.assertEqual(len(self.receive(url)), 2)


class Sequencing(FifoTestCase):
    def test_sequence_numbers_increase(self):
        url = self.queue("seq.fifo", ContentBasedDeduplication="true")
        seqs = [self.send(url, "m%d" % i, "g%d" % (i % 3))["SequenceNumber"] for i in range(6)]
        for s in seqs:
            self.assertRegex(s, r"^[0-9]{20}$")
        nums = [int(s) for s in seqs]
        self.assertEqual(nums, sorted(nums))
        self.assertEqual(len(set(nums)), 6)
        got = self.drain(url, AttributeNames=["SequenceNumber"])
        self.assertEqual(sorted(m["Attributes"]["SequenceNumber"] for m in got), sorted(seqs))

    def test_receive_request_attempt_id(self):
        url = self.queue("attempt.fifo", ContentBasedDeduplication="true")
        for b in ("a", "b"):
            self.send(url, b)
        first = self.receive(url, ReceiveRequestAttemptId="try-1")
        self.assertEqual(self.bodies(first), ["a", "b"])
        retry = self.receive(url, ReceiveRequestAttemptId="try-1")
        self.assertEqual([m["ReceiptHandle"] for m in retry], [m["ReceiptHandle"] for m in first])
        self.assertEqual(self.receive(url, ReceiveRequestAttemptId="try-2"), [])
        self.sqs.delete_message(QueueUrl=url, ReceiptHandle=first[0]["ReceiptHandle"])
        self.assertError("InvalidParameterValue", "Value try-1 for parameter ReceiveRequestAttemptId is invalid. "
                         "Reason: The receiveRequestAttemptId is not valid anymore since the receive call is not "
                         "retryable.", 400, self.receive, url, ReceiveRequestAttemptId="try-1")

    def test_attempt_id_after_visibility_change(self):
        url = self.queue("attempt2.fifo", ContentBasedDeduplication="true")
        self.send(url, "a")
        first = self.receive(url, ReceiveRequestAttemptId="x")
        self.sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=first[0]["ReceiptHandle"],
                                           VisibilityTimeout=60)
        self.assertError("InvalidParameterValue", None, 400, self.receive, url, ReceiveRequestAttemptId="x")

    def test_attempt_id_ignored_on_standard(self):
        url = self.queue("attemptstd")
        self.sqs.send_message(QueueUrl=url, MessageBody="a")
        self.sqs.send_message(QueueUrl=url, MessageBody="b")
        got = self.receive(url, n=1, ReceiveRequestAttemptId="x") + self.receive(url, n=1,
                                                                                ReceiveRequestAttemptId="x")
        self.assertEqual(sorted(self.bodies(got)), ["a", "b"])

    def test_throughput_limit_per_group(self):
        url = self.queue("pergroup.fifo", DeduplicationScope="messageGroup", FifoThroughputLimit="perMessageGroupId",
                         ContentBasedDeduplication="true")
        for g in range(5):
            for i in range(2):
                self.send(url, "g%d-%d" % (g, i), "g%d" % g)
        got = self.drain(url)
        self.assertEqual(len(got), 10)
        for g in range(5):
            self.assertEqual([b for b in self.bodies(got) if b.startswith("g%d-" % g)], ["g%d-0" % g, "g%d-1" % g])


class FifoParameters(FifoTestCase):
    def test_message_delay_rejected_as_recorded(self):
        url = self.queue("delay.fifo", ContentBasedDeduplication="true")
        self.assertRecordedError("test_fifo_queue_send_message_with_delay_seconds_fails", "send_message", self.send,
                                 url, "x", DelaySeconds=2)

    def test_zero_delay_uses_queue_delay_as_recorded(self):
        t = "test_fifo_queue_send_message_with_zero_delay_defaults_to_queue_delay"
        url = self.queue("zerodelay.fifo", ContentBasedDeduplication="true", DelaySeconds=1)
        sent = self.send(url, "message-1", DelaySeconds=0)
        self.assertEqual(sent["MD5OfMessageBody"], recorded(t, "send_message_result")["MD5OfMessageBody"])
        self.assertEqual(self.receive(url), recorded(t, "receive_message_initial_result").get("Messages", []))
        got = self.receive(url, wait=3)
        self.assertEqual(self.bodies(got), self.bodies(recorded(t, "receive_message_after_delay_result")["Messages"]))

    def test_missing_ids_as_recorded(self):
        t = "test_posting_to_fifo_requires_deduplicationid_group_id"
        url = self.queue("missing.fifo")
        self.assertRecordedError(t, "invalid-parameter-value", self.sqs.send_message, QueueUrl=url, MessageBody="x",
                                 MessageGroupId="g")
        self.assertRecordedError(t, "missing-parameter", self.sqs.send_message, QueueUrl=url, MessageBody="x",
                                 MessageDeduplicationId="d")


if __name__ == "__main__":
    unittest.main()
