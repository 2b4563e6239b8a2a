"""PurgeQueue (and the 403 PurgeQueueInProgress), queue tags, and
Add/RemovePermission with the Policy document AWS writes for them."""
import json
import time
import unittest

from sluice_harness import ACCOUNT
from sqs_truth import SqsTestCase, recorded

OTHER = "668614515564"


class Purge(SqsTestCase):
    def test_purge_removes_visible_inflight_and_delayed(self):
        url = self.queue("all", VisibilityTimeout=1)
        for i in range(3):
            self.sqs.send_message(QueueUrl=url, MessageBody="v%d" % i)
        self.sqs.send_message(QueueUrl=url, MessageBody="delayed", DelaySeconds=1)
        self.assertEqual(len(self.receive(url, n=1)), 1)
        self.assertEqual(self.counts(url), (2, 1, 1))
        self.sqs.purge_queue(QueueUrl=url)
        self.assertEqual(self.counts(url), (0, 0, 0))
        time.sleep(1.2)  # neither the in-flight nor the delayed one comes back
        self.assertEqual(self.receive(url), [])
        self.sqs.send_message(QueueUrl=url, MessageBody="after")
        self.assertEqual([m["Body"] for m in self.receive(url)], ["after"])

    def test_second_purge_within_60s_as_recorded(self):
        url = self.queue("twice")
        name = url.rsplit("/", 1)[1]
        self.sqs.purge_queue(QueueUrl=url)
        self.assertRecordedError("test_successive_purge_calls_fail", "purge_queue_error", self.sqs.purge_queue,
                                 QueueUrl=url, subs={"<queue-name>": name})

    def test_purge_clears_fifo_deduplication(self):
        url = self.queue("dedup.fifo", ContentBasedDeduplication="true")
        self.sqs.send_message(QueueUrl=url, MessageBody="same", MessageGroupId="g")
        self.sqs.purge_queue(QueueUrl=url)
        self.sqs.send_message(QueueUrl=url, MessageBody="same", MessageGroupId="g")
        self.assertEqual([m["Body"] for m in self.receive(url)], ["same"])

    def test_old_receipt_after_purge(self):
        url = self.queue("receipt")
        self.sqs.send_message(QueueUrl=url, MessageBody="x")
        h = self.receive(url)[0]["ReceiptHandle"]
        self.sqs.purge_queue(QueueUrl=url)
        self.sqs.delete_message(QueueUrl=url, ReceiptHandle=h)  # the message is gone: no error
        self.assertEqual(self.counts(url), (0, 0, 0))


class Tags(SqsTestCase):
    def tags(self, url):
        return self.sqs.list_queue_tags(QueueUrl=url).get("Tags")

    def test_tag_untag_as_recorded(self):
        t = "test_tag_untag_queue"
        url = self.queue("lifecycle")
        self.assertIsNone(self.tags(url))
        self.sqs.tag_queue(QueueUrl=url, Tags={"tag1": "value1", "tag2": "value2", "tag3": ""})
        self.assertEqual(self.tags(url), recorded(t, "get-tag-1")["Tags"])
        self.sqs.untag_queue(QueueUrl=url, TagKeys=["tag1", "tag3"])
        self.assertEqual(self.tags(url), recorded(t, "get-tag-2")["Tags"])
        self.sqs.untag_queue(QueueUrl=url, TagKeys=["tag2"])
        self.assertNotIn("Tags", recorded(t, "get-tag-after-untag"))
        self.assertIsNone(self.tags(url))

    def test_overwrite_case_sensitive_and_missing_keys(self):
        url = self.queue("overwrite")
        self.sqs.tag_queue(QueueUrl=url, Tags={"k": "1", "K": "2"})
        self.sqs.tag_queue(QueueUrl=url, Tags={"k": "3"})
        self.assertEqual(self.tags(url), {"k": "3", "K": "2"})
        self.sqs.untag_queue(QueueUrl=url, TagKeys=["nope", "K"])
        self.assertEqual(self.tags(url), {"k": "3"})

    def test_limits(self):
        url = self.queue("limits")
        self.sqs.tag_queue(QueueUrl=url, Tags={"t%d" % i: "v" for i in range(50)})
        self.sqs.tag_queue(QueueUrl=url, Tags={"t0": "overwritten"})  # not a new key: still 50
        # AWS's texts for these are not recorded; code and status are
        self.assertError("InvalidParameterValue", None, 400, self.sqs.tag_queue, QueueUrl=url, Tags={"t50": "v"})
        self.assertEqual(len(self.tags(url)), 50)
        other = self.queue("limits2")
        self.sqs.tag_queue(QueueUrl=other, Tags={"k" * 128: "v" * 256})
        self.assertError("InvalidParameterValue", None, 400, self.sqs.tag_queue, QueueUrl=other,
                         Tags={"k" * 129: "v"})
        self.assertError("InvalidParameterValue", None, 400, self.sqs.tag_queue, QueueUrl=other,
                         Tags={"k": "v" * 257})
        self.assertEqual(self.tags(other), {"k" * 128: "v" * 256})


class Permissions(SqsTestCase):
    def policy(self, url):
        a = self.attrs(url, "Policy")
        return json.loads(a["Policy"]) if "Policy" in a else None

    def statement(self, url, sid, principal, action="SQS:ReceiveMessage"):
        arn = self.arn(url)
        return {"Sid": sid, "Effect": "Allow", "Principal": {"AWS": principal}, "Action": action, "Resource": arn}

    def root(self, account):
        return "arn:aws:iam::%s:root" % account

    def test_lifecycle_as_recorded(self):
        t = "test_sqs_permission_lifecycle"
        url = self.queue("perm")
        arn = self.arn(url)
        label, label2 = "crossaccountpermission", "crossaccountpermission2"
        self.sqs.add_permission(QueueUrl=url, Label=label, AWSAccountIds=[OTHER, ACCOUNT], Actions=["ReceiveMessage"])
        pol = self.policy(url)
        want = recorded(t, "get-queue-policy-attribute")["Attributes"]["Policy"]
        self.assertEqual(list(pol), list(want))  # Version, Id, Statement in AWS's order
        self.assertEqual(pol["Version"], want["Version"])
        self.assertEqual(pol["Id"], arn + "/SQSDefaultPolicy")
        stmt = pol["Statement"][0]
        self.assertEqual(list(stmt), list(want["Statement"][0]))
        self.assertEqual(sorted(stmt["Principal"]["AWS"]), sorted([self.root(OTHER), self.root(ACCOUNT)]))
        self.assertEqual(dict(stmt, Principal=None), dict(self.statement(url, label, None), Principal=None))
        self.sqs.remove_permission(QueueUrl=url, Label=label)
        self.assertNotIn("Attributes", self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["Policy"]))
        self.assertNotIn("Attributes", recorded(t, "get-queue-policy-attribute-after-removal"))

        self.sqs.add_permission(QueueUrl=url, Label=label, AWSAccountIds=[ACCOUNT], Actions=["ReceiveMessage"])
        self.assertEqual(self.policy(url)["Statement"], [self.statement(url, label, self.root(ACCOUNT))])
        self.assertRecordedError(t, "get-queue-policy-attribute-second-account-same-label", self.sqs.add_permission,
                                 QueueUrl=url, Label=label, AWSAccountIds=[OTHER], Actions=["ReceiveMessage"])
        self.sqs.add_permission(QueueUrl=url, Label=label2, AWSAccountIds=[ACCOUNT], Actions=["ReceiveMessage"])
        self.assertEqual(self.policy(url)["Statement"], [self.statement(url, label, self.root(ACCOUNT)),
                                                         self.statement(url, label2, self.root(ACCOUNT))])
        self.sqs.remove_permission(QueueUrl=url, Label=label)
        self.assertEqual(self.policy(url)["Statement"], [self.statement(url, label2, self.root(ACCOUNT))])
        self.sqs.remove_permission(QueueUrl=url, Label=label2)
        self.assertIsNone(self.policy(url))
        self.assertRecordedError(t, "get-queue-policy-attribute-delete-non-existent-label",
                                 self.sqs.remove_permission, QueueUrl=url, Label=label2)

    def test_several_actions_are_a_list(self):
        url = self.queue("actions")
        self.sqs.add_permission(QueueUrl=url, Label="multi", AWSAccountIds=[OTHER],
                                Actions=["SendMessage", "DeleteMessage", "*"])
        self.assertEqual(self.policy(url)["Statement"][0]["Action"], ["SQS:SendMessage", "SQS:DeleteMessage", "SQS:*"])

    def test_invalid_action(self):
        url = self.queue("badaction")
        self.assertError("InvalidParameterValue", "Value SQS:ChangeMessageVisibilityBatch for parameter ActionName is "
                         "invalid. Reason: Please refer to the appropriate WSDL for a list of valid actions.", 400,
                         self.sqs.add_permission, QueueUrl=url, Label="l", AWSAccountIds=[OTHER],
                         Actions=["ChangeMessageVisibilityBatch"])
        self.assertIsNone(self.policy(url))

    def test_invalid_account_and_label(self):
        url = self.queue("badacct")
        self.assertError("InvalidParameterValue", None, 400, self.sqs.add_permission, QueueUrl=url, Label="l",
                         AWSAccountIds=["*"], Actions=["SendMessage"])
        self.assertError("InvalidParameterValue", None, 400, self.sqs.add_permission, QueueUrl=url,
                         Label="bad label", AWSAccountIds=[OTHER], Actions=["SendMessage"])
        self.assertIsNone(self.policy(url))

    def test_too_many_actions(self):
        url = self.queue("overlimit")
        actions = ["SendMessage", "ReceiveMessage", "DeleteMessage", "ChangeMessageVisibility",
                   "GetQueueAttributes", "GetQueueUrl", "PurgeQueue", "ListDeadLetterSourceQueues"]
        self.assertError("OverLimit", None, 403, self.sqs.add_permission, QueueUrl=url, Label="l",
                         AWSAccountIds=[OTHER], Actions=actions)
        self.sqs.add_permission(QueueUrl=url, Label="l", AWSAccountIds=[OTHER], Actions=actions[:7])
        self.assertEqual(len(self.policy(url)["Statement"][0]["Action"]), 7)


if __name__ == "__main__":
    unittest.main()
