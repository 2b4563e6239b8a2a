"""Queue administration against AWS's recorded behaviour: CreateQueue
(idempotence, QueueAlreadyExists, names, QueueDeletedRecently), DeleteQueue,
GetQueueUrl and ListQueues paging."""
import unittest

from sluice_harness import ACCOUNT, PROTOCOL
from sqs_truth import SqsTestCase, recorded

INVALID_NAME = "Can only include alphanumeric characters, hyphens, or underscores. 1 to 80 in length"
INVALID_FIFO_NAME = ("The name of a FIFO queue can only include alphanumeric characters, hyphens, or underscores, "
                     "must end with .fifo suffix and be 1 to 80 in length.")
NO_QUEUE = ("The specified queue does not exist." if PROTOCOL == "json"
            else "The specified queue does not exist for this wsdl version.")


class CreateQueue(SqsTestCase):
    def test_url_names_account_and_queue(self):
        url = self.sqs.create_queue(QueueName="url-shape")["QueueUrl"]
        self.assertEqual(url, "%s/%s/url-shape" % (self.sluice.endpoint, ACCOUNT))

    def test_create_is_idempotent_with_same_or_no_attributes(self):
        a = self.sqs.create_queue(QueueName="idem", Attributes={"DelaySeconds": "5"})["QueueUrl"]
        b = self.sqs.create_queue(QueueName="idem", Attributes={"DelaySeconds": "5"})["QueueUrl"]
        c = self.sqs.create_queue(QueueName="idem")["QueueUrl"]
        # a default-valued attribute that matches the queue is no difference either
        d = self.sqs.create_queue(QueueName="idem", Attributes={"VisibilityTimeout": "30"})["QueueUrl"]
        self.assertEqual({a, b, c, d}, {a})
        self.assertEqual(self.attrs(a, "DelaySeconds"), {"DelaySeconds": "5"})

    def test_different_attribute_raises_queue_already_exists(self):
        t = "test_create_queue_with_different_attributes_raises_exception"
        url = self.sqs.create_queue(QueueName="differ", Attributes={"DelaySeconds": "1"})["QueueUrl"]
        self.assertRecordedError(t, "create_queue_01", self.sqs.create_queue, QueueName="differ",
                                 Attributes={"DelaySeconds": "2"})
        # the comparison is against the queue's current values
        self.sqs.set_queue_attributes(QueueUrl=url, Attributes={"DelaySeconds": "2"})
        self.assertEqual(self.sqs.create_queue(QueueName="differ", Attributes={"DelaySeconds": "2"})["QueueUrl"],
                         url)
        self.assertRecordedError(t, "create_queue_02", self.sqs.create_queue, QueueName="differ",
                                 Attributes={"DelaySeconds": "1"})

    def test_fifo_different_content_based_dedup_raises(self):
        attrs = {"FifoQueue": "true", "ContentBasedDeduplication": "true"}
        self.sqs.create_queue(QueueName="differ.fifo", Attributes=attrs)
        self.assertRecordedError("test_create_fifo_queue_with_different_attributes_raises_error",
                                 "queue-already-exists", self.sqs.create_queue, QueueName="differ.fifo",
                                 Attributes=dict(attrs, ContentBasedDeduplication="false"))

    def test_redrive_policy_compared_by_meaning(self):
        dlq = self.sqs.create_queue(QueueName="cmp-dlq")["QueueUrl"]
        arn = self.sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        first = '{"deadLetterTargetArn": "%s", "maxReceiveCount": 3}' % arn
        url = self.sqs.create_queue(QueueName="cmp-src", Attributes={"RedrivePolicy": first})["QueueUrl"]
        # the same policy with other spacing and the count as a string is no difference
        same = '{"maxReceiveCount":"3","deadLetterTargetArn":"%s"}' % arn
        self.assertEqual(self.sqs.create_queue(QueueName="cmp-src", Attributes={"RedrivePolicy": same})["QueueUrl"],
                         url)
        other = '{"deadLetterTargetArn": "%s", "maxReceiveCount": 4}' % arn
        self.assertError("QueueAlreadyExists", "A queue already exists with the same name and a different value for "
                         "attribute RedrivePolicy", 400, self.sqs.create_queue, QueueName="cmp-src",
                         Attributes={"RedrivePolicy": other})

    def test_valid_names(self):
        for name in ["a", "A-b_9", "x" * 80, "y" * 75 + ".fifo"]:
            attrs = {"FifoQueue": "true"} if name.endswith(".fifo") else {}
            url = self.sqs.create_queue(QueueName=name, Attributes=attrs)["QueueUrl"]
            self.assertTrue(url.endswith("/" + name), url)

    def test_invalid_names(self):
        for name in ["has space", "dot.name", "slash/name", "x" * 81, "ümlaut", "colon:"]:
            self.assertError("InvalidParameterValue", INVALID_NAME, 400, self.sqs.create_queue, QueueName=name)

    def test_standard_queue_cannot_have_fifo_suffix(self):
        self.assertError("InvalidParameterValue", INVALID_NAME, 400, self.sqs.create_queue, QueueName="std.fifo")

    def test_fifo_queue_requires_suffix_and_80_chars(self):
        self.assertError("InvalidParameterValue", INVALID_FIFO_NAME, 400, self.sqs.create_queue,
                         QueueName="nosuffix", Attributes={"FifoQueue": "true"})
        self.assertError("InvalidParameterValue", None, 400, self.sqs.create_queue,
                         QueueName="z" * 76 + ".fifo", Attributes={"FifoQueue": "true"})

    def test_names_are_case_sensitive(self):
        a = self.sqs.create_queue(QueueName="CaseQ", Attributes={"DelaySeconds": "1"})["QueueUrl"]
        b = self.sqs.create_queue(QueueName="caseq", Attributes={"DelaySeconds": "2"})["QueueUrl"]
        self.assertNotEqual(a, b)
        self.assertEqual(self.attrs(a, "DelaySeconds")["DelaySeconds"], "1")
        self.assertEqual(self.attrs(b, "DelaySeconds")["DelaySeconds"], "2")

    def test_tags_on_create(self):
        url = self.sqs.create_queue(QueueName="tagged", tags={"team": "core", "empty": ""})["QueueUrl"]
        self.assertEqual(self.sqs.list_queue_tags(QueueUrl=url)["Tags"], {"team": "core", "empty": ""})


class DeleteAndGetQueueUrl(SqsTestCase):
    def test_get_queue_url(self):
        url = self.queue("named")
        name = url.rsplit("/", 1)[1]
        self.assertEqual(self.sqs.get_queue_url(QueueName=name)["QueueUrl"], url)
        self.assertEqual(self.sqs.get_queue_url(QueueName=name, QueueOwnerAWSAccountId=ACCOUNT)["QueueUrl"], url)
        self.assertError("AWS.SimpleQueueService.NonExistentQueue", NO_QUEUE, 400, self.sqs.get_queue_url,
                         QueueName=name, QueueOwnerAWSAccountId="111122223333")

    def test_deleted_queue_does_not_exist(self):
        url = self.queue("gone")
        name = url.rsplit("/", 1)[1]
        self.sqs.delete_queue(QueueUrl=url)
        if PROTOCOL == "json":
            self.assertRecordedError("test_non_existent_queue", "queue-does-not-exist",
                                     self.sqs.get_queue_attributes, QueueUrl=url)
            self.assertRecordedError("test_non_existent_queue", "queue-does-not-exist-url",
                                     self.sqs.get_queue_url, QueueName=name)
        else:
            self.assertRecordedError("test_non_existent_queue", "queue-does-not-exist-query",
                                     self.sqs.get_queue_attributes, QueueUrl=url)
            self.assertError("AWS.SimpleQueueService.NonExistentQueue", NO_QUEUE, 400, self.sqs.get_queue_url,
                             QueueName=name)
        for call in (lambda: self.sqs.send_message(QueueUrl=url, MessageBody="x"),
                     lambda: self.sqs.receive_message(QueueUrl=url),
                     lambda: self.sqs.purge_queue(QueueUrl=url),
                     lambda: self.sqs.delete_queue(QueueUrl=url),
                     lambda: self.sqs.list_queue_tags(QueueUrl=url)):
            self.assertError("AWS.SimpleQueueService.NonExistentQueue", NO_QUEUE, 400, call)
        self.assertNotIn(url, self.sqs.list_queues(QueueNamePrefix=name).get("QueueUrls", []))

    def test_queue_deleted_recently(self):
        url = self.queue("recent")
        name = url.rsplit("/", 1)[1]
        self.sqs.delete_queue(QueueUrl=url)
        self.assertError("AWS.SimpleQueueService.QueueDeletedRecently",
                         "You must wait 60 seconds after deleting a queue before you can create another with the "
                         "same name.", 400, self.sqs.create_queue, QueueName=name)

    def test_delete_drops_messages(self):
        url = self.queue("dropmsgs")
        self.sqs.send_message(QueueUrl=url, MessageBody="x")
        self.sqs.delete_queue(QueueUrl=url)
        other = self.queue("dropmsgs2")
        self.assertEqual(self.counts(other), (0, 0, 0))

    def test_url_of_another_account_does_not_exist(self):
        url = self.queue("acct")
        foreign = url.replace("/%s/" % ACCOUNT, "/111122223333/")
        self.assertError("AWS.SimpleQueueService.NonExistentQueue", NO_QUEUE, 400, self.sqs.send_message,
                         QueueUrl=foreign, MessageBody="x")


class ListQueues(SqsTestCase):
    def make(self, prefix, n):
        return [self.sqs.create_queue(QueueName="%s-%d" % (prefix, i))["QueueUrl"] for i in range(n)]

    def test_pagination_as_recorded(self):
        urls = self.make("page", 10)
        all_ = self.sqs.list_queues(QueueNamePrefix="page-")
        self.assertEqual(all_["QueueUrls"], urls)
        self.assertNotIn("NextToken", all_)
        first = self.sqs.list_queues(QueueNamePrefix="page-", MaxResults=2)
        self.assertEqual(first["QueueUrls"], urls[:2])
        self.assertIn("NextToken", first)
        rest = self.sqs.list_queues(QueueNamePrefix="page-", MaxResults=10, NextToken=first["NextToken"])
        self.assertEqual(rest["QueueUrls"], urls[2:])
        self.assertNotIn("NextToken", rest)
        # the recording has the same shape: 2 + token, then 8 without
        self.assertEqual(len(recorded("test_list_queues_pagination", "list_two_max")["QueueUrls"]), 2)
        self.assertNotIn("NextToken", recorded("test_list_queues_pagination", "list_remaining"))

    def test_walk_pages_of_three(self):
        urls = self.make("walk", 7)
        seen, token = [], None
        for _ in range(5):
            kw = {"NextToken": token} if token else {}
            page = self.sqs.list_queues(QueueNamePrefix="walk-", MaxResults=3, **kw)
            seen += page["QueueUrls"]
            token = page.get("NextToken")
            if not token:
                break
        self.assertEqual(seen, urls)

    def test_exact_page_has_no_token(self):
        urls = self.make("exact", 3)
        page = self.sqs.list_queues(QueueNamePrefix="exact-", MaxResults=3)
        self.assertEqual(page["QueueUrls"], urls)
        self.assertNotIn("NextToken", page)

    def test_empty_result_has_no_key(self):
        self.assertNotIn("QueueUrls", self.sqs.list_queues(QueueNamePrefix="no-such-prefix"))

    def test_prefix_is_case_sensitive(self):
        self.make("Prefixed", 1)
        self.assertEqual(len(self.sqs.list_queues(QueueNamePrefix="Prefixed")["QueueUrls"]), 1)
        self.assertNotIn("QueueUrls", self.sqs.list_queues(QueueNamePrefix="prefixed"))

    def test_max_results_out_of_range(self):
        # AWS's text is not recorded; the code and status are InvalidParameterValue/400
        for bad in (0, 1001):
            self.assertError("InvalidParameterValue", None, 400, self.sqs.list_queues, MaxResults=bad)


if __name__ == "__main__":
    unittest.main()
