"""SendMessageBatch, DeleteMessageBatch and ChangeMessageVisibilityBatch
against AWS: entry id rules, empty and oversized batches, duplicate ids,
BatchRequestTooLong, the per-entry failure shape."""
import unittest

from sqs_truth import SqsTestCase, attrs_md5, md5, recorded

MAX = 1048576
KX = {"k": {"DataType": "String", "StringValue": "x"}}
INVALID_ID = ("A batch entry id can only contain alphanumeric characters, hyphens and underscores. It can be at "
              "most 80 letters long.")


def entries(n, **extra):
    return [dict({"Id": "e%d" % i, "MessageBody": "body-%d" % i}, **extra) for i in range(n)]


class SendBatch(SqsTestCase):
    def test_success_shape(self):
        url = self.queue("ok")
        es = entries(3)
        es[1]["MessageAttributes"] = KX
        es[2]["DelaySeconds"] = 60
        resp = self.sqs.send_message_batch(QueueUrl=url, Entries=es)
        self.assertNotIn("Failed", resp)
        ok = {e["Id"]: e for e in resp["Successful"]}
        self.assertEqual(sorted(ok), ["e0", "e1", "e2"])
        for e in es:
            self.assertEqual(ok[e["Id"]]["MD5OfMessageBody"], md5(e["MessageBody"]))
            self.assertNotIn("SequenceNumber", ok[e["Id"]])
        self.assertEqual(ok["e1"]["MD5OfMessageAttributes"], attrs_md5(KX))
        self.assertNotIn("MD5OfMessageAttributes", ok["e0"])
        self.assertEqual(self.counts(url), (2, 0, 1))
        got = {m["MessageId"]: m["Body"] for m in self.drain(url)}
        self.assertEqual(got, {ok["e0"]["MessageId"]: "body-0", ok["e1"]["MessageId"]: "body-1"})

    def test_exactly_max_size_entry_as_recorded(self):
        url = self.queue("max2048", MaximumMessageSize=2048)
        resp = self.sqs.send_message_batch(QueueUrl=url, Entries=[
            {"Id": "1", "MessageBody": "a" * 2040, "MessageAttributes": KX}, {"Id": "2", "MessageBody": "a"}])
        want = recorded("test_send_message_batch_with_oversized_contents_with_updated_maximum_message_size",
                        "send_oversized_message_batch")
        self.assertNotIn("Failed", resp)
        strip = [{k: v for k, v in e.items() if k != "MessageId"} for e in resp["Successful"]]
        self.assertEqual(strip, [{k: v for k, v in e.items() if k != "MessageId"} for e in want["Successful"]])

    def test_oversized_entry_fails_alone_as_recorded(self):
        url = self.queue("max1024", MaximumMessageSize=1024)
        resp = self.sqs.send_message_batch(QueueUrl=url, Entries=[
            {"Id": "big", "MessageBody": "a" * 1025}, {"Id": "fits", "MessageBody": "a" * 1024}])
        want = recorded("test_send_batch_message_size", "send-message-batch-result")
        self.assertEqual(resp["Failed"], [dict(want["Failed"][0], Id="big")])
        self.assertEqual(len(resp["Successful"]), 1)
        self.assertEqual(resp["Successful"][0]["Id"], "fits")
        self.assertEqual(resp["Successful"][0]["MD5OfMessageBody"], want["Successful"][0]["MD5OfMessageBody"])

    def test_batch_request_too_long_as_recorded(self):
        url = self.queue("toolong")
        self.assertRecordedError("test_send_message_batch_with_oversized_contents", "send_oversized_message_batch",
                                 self.sqs.send_message_batch, QueueUrl=url, Entries=[
                                     {"Id": "1", "MessageBody": "a" * (MAX - 8), "MessageAttributes": KX},
                                     {"Id": "2", "MessageBody": "a"}])
        self.assertEqual(self.counts(url), (0, 0, 0))

    def test_batch_limit_is_independent_of_queue_maximum(self):
        url = self.queue("halves")
        resp = self.sqs.send_message_batch(QueueUrl=url, Entries=[
            {"Id": "1", "MessageBody": "a" * (MAX // 2)}, {"Id": "2", "MessageBody": "b" * (MAX // 2)}])
        self.assertEqual(len(resp["Successful"]), 2)

    def test_too_many_entries_as_recorded(self):
        url = self.queue("toomany")
        self.assertRecordedError("test_too_many_entries_in_batch_request", "test_too_many_entries_in_batch_request",
                                 self.sqs.send_message_batch, QueueUrl=url, Entries=entries(20))
        self.assertEqual(len(self.sqs.send_message_batch(QueueUrl=url, Entries=entries(10))["Successful"]), 10)

    def test_invalid_entry_id_as_recorded(self):
        url = self.queue("badid")
        self.assertRecordedError("test_invalid_batch_id", "test_invalid_batch_id", self.sqs.send_message_batch,
                                 QueueUrl=url, Entries=[{"Id": "message:xxxx", "MessageBody": "x"}])
        ok = self.sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": "A-z_0" + "9" * 75, "MessageBody": "x"}])
        self.assertEqual(len(ok["Successful"]), 1)

    def test_duplicate_ids(self):
        url = self.queue("dupid")
        self.assertError("AWS.SimpleQueueService.BatchEntryIdsNotDistinct", "Id same repeated.", 400,
                         self.sqs.send_message_batch, QueueUrl=url,
                         Entries=[{"Id": "same", "MessageBody": "a"}, {"Id": "same", "MessageBody": "b"}])
        self.assertEqual(self.counts(url), (0, 0, 0))

    def test_empty_batch(self):
        url = self.queue("emptyb")
        # AWS answers 400 (the LocalStack test accepts 400 or 404)
        self.assertError("AWS.SimpleQueueService.EmptyBatchRequest", None, 400, self.sqs.send_message_batch,
                         QueueUrl=url, Entries=[])

    def test_invalid_characters_fail_one_entry(self):
        url = self.queue("badchar")
        es = entries(10)
        es[4]["MessageBody"] = "bad\x01"
        resp = self.sqs.send_message_batch(QueueUrl=url, Entries=es)
        self.assertEqual(len(resp["Successful"]), 9)
        self.assertEqual(len(resp["Failed"]), 1)
        f = resp["Failed"][0]
        self.assertEqual((f["Id"], f["Code"], f["SenderFault"]), ("e4", "InvalidMessageContents", True))

    def test_entry_errors_are_per_entry(self):
        url = self.queue("entryerr")
        es = [{"Id": "empty", "MessageBody": ""}, {"Id": "delay", "MessageBody": "x", "DelaySeconds": 901},
              {"Id": "ok", "MessageBody": "x"}]
        resp = self.sqs.send_message_batch(QueueUrl=url, Entries=es)
        failed = {f["Id"]: f for f in resp["Failed"]}
        self.assertEqual(failed["empty"]["Code"], "MissingParameter")
        self.assertEqual(failed["empty"]["Message"], "The request must contain the parameter MessageBody.")
        self.assertEqual(failed["delay"]["Code"], "InvalidParameterValue")
        self.assertEqual(failed["delay"]["Message"], "Value 901 for parameter DelaySeconds is invalid. Reason: "
                         "DelaySeconds must be >= 0 and <= 900.")
        self.assertTrue(all(f["SenderFault"] for f in failed.values()))
        self.assertEqual([e["Id"] for e in resp["Successful"]], ["ok"])


class FifoSendBatch(SqsTestCase):
    def test_missing_dedup_id_fails_whole_batch_as_recorded(self):
        url = self.queue("nodedup.fifo")
        self.assertRecordedError("test_send_batch_missing_deduplication_id_for_fifo_queue",
                                 "test_missing_deduplication_id_for_fifo_queue", self.sqs.send_message_batch,
                                 QueueUrl=url, Entries=[
                                     {"Id": "1", "MessageBody": "a", "MessageGroupId": "g",
                                      "MessageDeduplicationId": "d1"},
                                     {"Id": "2", "MessageBody": "b", "MessageGroupId": "g"}])
        self.assertEqual(self.counts(url), (0, 0, 0))

    def test_missing_group_id_fails_whole_batch_as_recorded(self):
        url = self.queue("nogroup.fifo", ContentBasedDeduplication="true")
        self.assertRecordedError("test_send_batch_missing_message_group_id_for_fifo_queue",
                                 "test_missing_message_group_id_for_fifo_queue", self.sqs.send_message_batch,
                                 QueueUrl=url, Entries=[{"Id": "1", "MessageBody": "a", "MessageGroupId": "g"},
                                                        {"Id": "2", "MessageBody": "b"}])
        self.assertEqual(self.counts(url), (0, 0, 0))

    def test_order_and_sequence_numbers(self):
        url = self.queue("order.fifo", ContentBasedDeduplication="true")
        es = [{"Id": "m%d" % i, "MessageBody": "b%d" % i, "MessageGroupId": "g"} for i in range(10)]
        resp = self.sqs.send_message_batch(QueueUrl=url, Entries=es)
        seqs = [int(e["SequenceNumber"]) for e in resp["Successful"]]
        self.assertEqual([e["Id"] for e in resp["Successful"]], ["m%d" % i for i in range(10)])
        self.assertEqual(seqs, sorted(seqs))
        self.assertEqual(len(set(seqs)), 10)
        self.assertEqual([m["Body"] for m in self.receive(url)], ["b%d" % i for i in range(10)])


class DeleteBatch(SqsTestCase):
    def test_delete_batch(self):
        url = self.queue("del")
        self.sqs.send_message_batch(QueueUrl=url, Entries=entries(3))
        got = self.drain(url)
        self.assertEqual(len(got), 3)
        es = [{"Id": "d%d" % i, "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(got)]
        es.append({"Id": "bad", "ReceiptHandle": "garbage"})
        resp = self.sqs.delete_message_batch(QueueUrl=url, Entries=es)
        self.assertEqual(sorted(e["Id"] for e in resp["Successful"]), ["d0", "d1", "d2"])
        self.assertEqual(resp["Failed"], [{"Id": "bad", "SenderFault": True, "Code": "ReceiptHandleIsInvalid",
                                           "Message": 'The input receipt handle "garbage" is not a valid receipt '
                                                      'handle.'}])
        self.assertEqual(self.counts(url), (0, 0, 0))

    def test_foreign_handle_entry(self):
        a, b = self.queue("dfa"), self.queue("dfb")
        self.sqs.send_message(QueueUrl=a, MessageBody="x")
        h = self.receive(a)[0]["ReceiptHandle"]
        resp = self.sqs.delete_message_batch(QueueUrl=b, Entries=[{"Id": "x", "ReceiptHandle": h}])
        self.assertEqual(resp["Failed"], [{"Id": "x", "SenderFault": True, "Code": "ReceiptHandleIsInvalid",
                                           "Message": 'The receipt handle "%s" is not valid for this queue.' % h}])
        self.assertNotIn("Successful", resp)

    def test_invalid_ids_as_recorded(self):
        url = self.queue("delbadid")
        for bad in ("", "testLongId" * 10, "invalid:id"):
            self.assertRecordedError("test_delete_message_batch_invalid_msg_id", "error_response",
                                     self.sqs.delete_message_batch, param=bad, QueueUrl=url,
                                     Entries=[{"Id": bad, "ReceiptHandle": "x"}])

    def test_too_many_as_recorded(self):
        url = self.queue("deltoomany")
        self.assertRecordedError("test_delete_message_batch_with_too_large_batch", "error_response",
                                 self.sqs.delete_message_batch, QueueUrl=url,
                                 Entries=[{"Id": "i%d" % i, "ReceiptHandle": "x"} for i in range(20)])

    def test_duplicate_and_empty(self):
        url = self.queue("deldup")
        self.assertError("AWS.SimpleQueueService.BatchEntryIdsNotDistinct", "Id a repeated.", 400,
                         self.sqs.delete_message_batch, QueueUrl=url,
                         Entries=[{"Id": "a", "ReceiptHandle": "x"}, {"Id": "a", "ReceiptHandle": "y"}])
        self.assertError("AWS.SimpleQueueService.EmptyBatchRequest", None, 400, self.sqs.delete_message_batch,
                         QueueUrl=url, Entries=[])


class ChangeVisibilityBatch(SqsTestCase):
    def test_change_batch(self):
        url = self.queue("cvb")
        self.sqs.send_message_batch(QueueUrl=url, Entries=entries(2))
        got = self.drain(url)
        resp = self.sqs.change_message_visibility_batch(QueueUrl=url, Entries=[
            {"Id": "zero", "ReceiptHandle": got[0]["ReceiptHandle"], "VisibilityTimeout": 0},
            {"Id": "long", "ReceiptHandle": got[1]["ReceiptHandle"], "VisibilityTimeout": 600},
            {"Id": "bad", "ReceiptHandle": "garbage", "VisibilityTimeout": 5}])
        self.assertEqual(sorted(e["Id"] for e in resp["Successful"]), ["long", "zero"])
        self.assertEqual([(f["Id"], f["Code"], f["SenderFault"]) for f in resp["Failed"]],
                         [("bad", "ReceiptHandleIsInvalid", True)])
        again = self.receive(url, wait=1)
        self.assertEqual([m["MessageId"] for m in again], [got[0]["MessageId"]])
        self.assertEqual(self.counts(url), (0, 2, 0))

    def test_deleted_message_entry(self):
        url = self.queue("cvbdel")
        self.sqs.send_message(QueueUrl=url, MessageBody="x")
        h = self.receive(url)[0]["ReceiptHandle"]
        self.sqs.delete_message(QueueUrl=url, ReceiptHandle=h)
        resp = self.sqs.change_message_visibility_batch(QueueUrl=url, Entries=[
            {"Id": "gone", "ReceiptHandle": h, "VisibilityTimeout": 5}])
        self.assertEqual(resp["Failed"], [{
            "Id": "gone", "SenderFault": True, "Code": "InvalidParameterValue",
            "Message": "Value %s for parameter ReceiptHandle is invalid. Reason: Message does not exist or is not "
                       "available for visibility timeout change." % h}])

    def test_too_many_as_recorded(self):
        url = self.queue("cvbtoomany")
        self.assertRecordedError("test_change_message_visibility_batch_with_too_large_batch", "error_response",
                                 self.sqs.change_message_visibility_batch, QueueUrl=url,
                                 Entries=[{"Id": "i%d" % i, "ReceiptHandle": "x", "VisibilityTimeout": 1}
                                          for i in range(20)])

    def test_invalid_id_duplicate_and_empty(self):
        url = self.queue("cvbids")
        self.assertError("AWS.SimpleQueueService.InvalidBatchEntryId", INVALID_ID, 400,
                         self.sqs.change_message_visibility_batch, QueueUrl=url,
                         Entries=[{"Id": "a.b", "ReceiptHandle": "x", "VisibilityTimeout": 1}])
        self.assertError("AWS.SimpleQueueService.BatchEntryIdsNotDistinct", "Id a repeated.", 400,
                         self.sqs.change_message_visibility_batch, QueueUrl=url,
                         Entries=[{"Id": "a", "ReceiptHandle": "x", "VisibilityTimeout": 1},
                                  {"Id": "a", "ReceiptHandle": "y", "VisibilityTimeout": 1}])
        self.assertError("AWS.SimpleQueueService.EmptyBatchRequest", None, 400,
                         self.sqs.change_message_visibility_batch, QueueUrl=url, Entries=[])


if __name__ == "__main__":
    unittest.main()
