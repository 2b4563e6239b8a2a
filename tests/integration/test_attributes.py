"""Get/SetQueueAttributes against AWS: All and defaults, value ranges,
attribute name validation, FIFO-only attributes, SSE exclusivity,
RedrivePolicy / RedriveAllowPolicy / Policy validation."""
import json
import time
import unittest

from sqs_truth import SqsTestCase, queue_arn, recorded

RANGES = {
    "DelaySeconds": (0, 900),
    "MaximumMessageSize": (1024, 1048576),
    "MessageRetentionPeriod": (60, 1209600),
    "ReceiveMessageWaitTimeSeconds": (0, 20),
    "VisibilityTimeout": (0, 43200),
    "KmsDataKeyReusePeriodSeconds": (60, 86400),
}


class AttributesTestCase(SqsTestCase):
    def assertMatchesRecording(self, got, test, key, name):
        """got equals the recorded All-attributes map, with timestamps checked
        for plausibility and the ARN for this queue."""
        want = dict(recorded(test, key)["Attributes"])
        now = time.time()
        for k in ("CreatedTimestamp", "LastModifiedTimestamp"):
            self.assertEqual(want.pop(k), "timestamp")
            ts = int(got[k])  # epoch seconds, as a string
            self.assertLess(abs(ts - now), 30, (k, got[k]))
        self.assertTrue(want.pop("QueueArn").startswith("arn:<partition>:sqs:"))
        got = dict(got)
        self.assertEqual(got.pop("QueueArn"), queue_arn(name))
        got.pop("CreatedTimestamp")
        got.pop("LastModifiedTimestamp")
        self.assertEqual(got, want)


class GetAttributes(AttributesTestCase):
    def test_standard_defaults_as_recorded(self):
        url = self.queue("defaults")
        self.assertMatchesRecording(self.attrs(url), "test_set_queue_attributes_default_values",
                                    "get-queue-attributes-initial-values", url.rsplit("/", 1)[1])

    def test_fifo_defaults_as_recorded(self):
        url = self.queue("defaults.fifo", ContentBasedDeduplication="true")
        self.assertMatchesRecording(self.attrs(url), "test_fifo_set_content_based_deduplication_strategy",
                                    "before-update", url.rsplit("/", 1)[1])
        self.sqs.set_queue_attributes(QueueUrl=url, Attributes={"ContentBasedDeduplication": "false"})
        self.assertMatchesRecording(self.attrs(url), "test_fifo_set_content_based_deduplication_strategy",
                                    "after-update", url.rsplit("/", 1)[1])

    def test_create_and_update_as_recorded(self):
        t = "test_create_and_update_queue_attributes"
        url = self.queue("createupd", MessageRetentionPeriod=604800, ReceiveMessageWaitTimeSeconds=10,
                         VisibilityTimeout=20)
        name = url.rsplit("/", 1)[1]
        self.assertMatchesRecording(self.attrs(url), t, "get_queue_attributes", name)
        self.sqs.set_queue_attributes(QueueUrl=url, Attributes={"MaximumMessageSize": "2048",
                                                                "VisibilityTimeout": "69", "DelaySeconds": "420"})
        self.assertMatchesRecording(self.attrs(url), t, "get_updated_queue_attributes", name)

    def test_selected_names_only(self):
        url = self.queue("selected", DelaySeconds=3)
        self.assertEqual(self.attrs(url, "DelaySeconds", "VisibilityTimeout"),
                         {"DelaySeconds": "3", "VisibilityTimeout": "30"})
        # valid but unset names are left out; nothing left means no Attributes key
        self.assertNotIn("Attributes", self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["Policy"]))

    def test_no_names_means_no_attributes(self):
        url = self.queue("nonames")
        self.assertNotIn("Attributes", self.sqs.get_queue_attributes(QueueUrl=url))

    def test_unknown_name(self):
        url = self.queue("unknownget")
        self.assertError("InvalidAttributeName", "Unknown Attribute Foobar.", 400, self.sqs.get_queue_attributes,
                         QueueUrl=url, AttributeNames=["Foobar"])

    def test_created_and_modified_timestamps(self):
        url = self.queue("stamps")
        a = self.attrs(url)
        self.assertEqual(a["CreatedTimestamp"], a["LastModifiedTimestamp"])
        self.assertTrue(a["CreatedTimestamp"].isdigit())
        self.assertEqual(len(a["CreatedTimestamp"]), 10)  # seconds, not milliseconds


class SetAttributes(AttributesTestCase):
    def test_ranges_on_create_and_set(self):
        url = self.queue("ranges")
        for name, (lo, hi) in RANGES.items():
            msg = "Invalid value for the parameter %s." % name
            for bad in (lo - 1, hi + 1, "abc", "1.5", ""):
                self.assertError("InvalidAttributeValue", msg, 400, self.sqs.set_queue_attributes, QueueUrl=url,
                                 Attributes={name: str(bad)})
                self.assertError("InvalidAttributeValue", msg, 400, self.sqs.create_queue,
                                 QueueName="ranges-new", Attributes={name: str(bad)})
            for good in (lo, hi):
                self.sqs.set_queue_attributes(QueueUrl=url, Attributes={name: str(good)})
                if name != "KmsDataKeyReusePeriodSeconds":  # shown only with a KMS key
                    self.assertEqual(self.attrs(url, name), {name: str(good)})
        self.assertNotIn("ranges-new", str(self.sqs.list_queues(QueueNamePrefix="ranges-new")))

    def test_failed_set_changes_nothing(self):
        url = self.queue("atomic", DelaySeconds=1)
        self.assertError("InvalidAttributeValue", None, 400, self.sqs.set_queue_attributes, QueueUrl=url,
                         Attributes={"DelaySeconds": "7", "VisibilityTimeout": "-1"})
        self.assertEqual(self.attrs(url, "DelaySeconds")["DelaySeconds"], "1")

    def test_unknown_and_read_only_names(self):
        url = self.queue("unknownset")
        for name in ("Foobar", "QueueArn", "ApproximateNumberOfMessages", "CreatedTimestamp"):
            self.assertError("InvalidAttributeName", "Unknown Attribute %s." % name, 400,
                             self.sqs.set_queue_attributes, QueueUrl=url, Attributes={name: "1"})
        self.assertError("InvalidAttributeName", "Unknown Attribute Foobar.", 400, self.sqs.create_queue,
                         QueueName="unknown-create", Attributes={"Foobar": "1"})

    def test_existing_queue_still_validates(self):
        url = self.queue("revalidate")
        name = url.rsplit("/", 1)[1]
        self.assertError("InvalidAttributeName", "Unknown Attribute Foobar.", 400, self.sqs.create_queue,
                         QueueName=name, Attributes={"Foobar": "1"})
        self.assertError("InvalidAttributeValue", "Invalid value for the parameter DelaySeconds.", 400,
                         self.sqs.create_queue, QueueName=name, Attributes={"DelaySeconds": "901"})

    def test_last_modified_moves(self):
        url = self.queue("modified")
        before = int(self.attrs(url)["LastModifiedTimestamp"])
        time.sleep(1.05)
        self.sqs.set_queue_attributes(QueueUrl=url, Attributes={"DelaySeconds": "1"})
        a = self.attrs(url)
        self.assertGreater(int(a["LastModifiedTimestamp"]), before)
        self.assertEqual(int(a["CreatedTimestamp"]), before)


class FifoOnlyAttributes(AttributesTestCase):
    def test_create_standard_with_fifo_attributes(self):
        t = "test_create_standard_queue_with_fifo_attribute_raises_error"
        cases = [("invalid-attribute-fifo-queue", {"FifoQueue": "false"}),
                 ("invalid-attribute-content-based-deduplication", {"ContentBasedDeduplication": "true"}),
                 ("invalid-attribute-deduplication-scope", {"DeduplicationScope": "messageGroup"}),
                 ("invalid-attribute-throughput-limit", {"FifoThroughputLimit": "perMessageGroupId"})]
        for key, attrs in cases:
            self.assertRecordedError(t, key, self.sqs.create_queue, QueueName="std-fifo-attr", Attributes=attrs)

    def test_set_fifo_queue_on_standard(self):
        url = self.queue("setstd")
        t = "test_set_unsupported_attribute_standard"
        self.assertRecordedError(t, "invalid-attr-name-1", self.sqs.set_queue_attributes, QueueUrl=url,
                                 Attributes={"FifoQueue": "true"})
        self.assertRecordedError(t, "invalid-attr-name-2", self.sqs.set_queue_attributes, QueueUrl=url,
                                 Attributes={"FifoQueue": "false"})

    def test_set_fifo_queue_on_fifo(self):
        t = "test_set_unsupported_attribute_fifo"
        std = self.queue("setfifo-std")
        self.assertRecordedError(t, "invalid-attr-name-1", self.sqs.set_queue_attributes, QueueUrl=std,
                                 Attributes={"FifoQueue": "true"})
        url = self.queue("setfifo.fifo")
        self.sqs.set_queue_attributes(QueueUrl=url, Attributes={"FifoQueue": "true"})
        self.assertRecordedError(t, "invalid-attr-name-2", self.sqs.set_queue_attributes, QueueUrl=url,
                                 Attributes={"FifoQueue": "false"})
        self.assertEqual(self.attrs(url, "FifoQueue"), {"FifoQueue": "true"})

    def test_boolean_case_is_normalized(self):
        url = self.queue("bools.fifo", ContentBasedDeduplication="True")
        self.assertEqual(self.attrs(url, "ContentBasedDeduplication"), {"ContentBasedDeduplication": "true"})
        self.sqs.set_queue_attributes(QueueUrl=url, Attributes={"ContentBasedDeduplication": "False"})
        self.assertEqual(self.attrs(url, "ContentBasedDeduplication"), {"ContentBasedDeduplication": "false"})
        self.assertError("InvalidAttributeValue", "Invalid value for the parameter ContentBasedDeduplication.", 400,
                         self.sqs.set_queue_attributes, QueueUrl=url,
                         Attributes={"ContentBasedDeduplication": "yes"})

    def test_high_throughput_settings(self):
        url = self.queue("ht.fifo", DeduplicationScope="messageGroup", FifoThroughputLimit="perMessageGroupId")
        self.assertEqual(self.attrs(url, "DeduplicationScope", "FifoThroughputLimit"),
                         {"DeduplicationScope": "messageGroup", "FifoThroughputLimit": "perMessageGroupId"})
        for name in ("DeduplicationScope", "FifoThroughputLimit"):
            self.assertError("InvalidAttributeValue", "Invalid value for the parameter %s." % name, 400,
                             self.sqs.set_queue_attributes, QueueUrl=url, Attributes={name: "bogus"})
        # AWS documents perMessageGroupId as allowed only with messageGroup scope
        self.assertError("InvalidAttributeValue", None, 400, self.sqs.set_queue_attributes, QueueUrl=url,
                         Attributes={"DeduplicationScope": "queue"})
        self.sqs.set_queue_attributes(QueueUrl=url, Attributes={"DeduplicationScope": "queue",
                                                                "FifoThroughputLimit": "perQueue"})
        self.assertEqual(self.attrs(url, "DeduplicationScope", "FifoThroughputLimit"),
                         {"DeduplicationScope": "queue", "FifoThroughputLimit": "perQueue"})
        # messageGroup scope without a throughput limit is fine (recorded)
        self.queue("scopeonly.fifo", DeduplicationScope="messageGroup")


class Encryption(AttributesTestCase):
    def test_sse_attributes_as_recorded(self):
        url = self.queue("kms", KmsMasterKeyId="testKeyId", KmsDataKeyReusePeriodSeconds=6000,
                         SqsManagedSseEnabled="false")
        names = ["KmsMasterKeyId", "KmsDataKeyReusePeriodSeconds", "SqsManagedSseEnabled"]
        self.assertEqual(self.attrs(url, *names),
                         recorded("test_sse_queue_attributes", "sse_kms_attributes")["Attributes"])
        url2 = self.queue("ssesqs", SqsManagedSseEnabled="true")
        self.assertEqual(self.attrs(url2, *names),
                         recorded("test_sse_queue_attributes", "sse_sqs_attributes")["Attributes"])

    def test_kms_and_sqs_sse_are_exclusive(self):
        url = self.queue("ssex")
        msg = recorded("test_sse_kms_and_sqs_are_mutually_exclusive", "error").split(": ", 1)[1]
        self.assertError("InvalidAttributeName", msg, 400, self.sqs.set_queue_attributes, QueueUrl=url,
                         Attributes={"KmsMasterKeyId": "testKeyId", "SqsManagedSseEnabled": "true"})

    def test_set_kms_then_back_to_defaults_as_recorded(self):
        t = "test_set_queue_attributes_default_values"
        url = self.queue("kmsreset")
        name = url.rsplit("/", 1)[1]
        self.sqs.set_queue_attributes(QueueUrl=url, Attributes={"KmsMasterKeyId": "testKeyId",
                                                                "KmsDataKeyReusePeriodSeconds": "6000"})
        self.assertMatchesRecording(self.attrs(url), t, "get-queue-attributes-after-update", name)
        self.sqs.set_queue_attributes(QueueUrl=url, Attributes={
            "DelaySeconds": "0", "MaximumMessageSize": "1048576", "MessageRetentionPeriod": "345600",
            "ReceiveMessageWaitTimeSeconds": "0", "VisibilityTimeout": "30", "KmsMasterKeyId": "",
            "KmsDataKeyReusePeriodSeconds": "300", "RedrivePolicy": "", "Policy": ""})
        self.assertMatchesRecording(self.attrs(url), t, "get-queue-attributes-after-set-to-defaults", name)


class RedrivePolicy(AttributesTestCase):
    def policy(self, arn, count=3):
        return json.dumps({"deadLetterTargetArn": arn, "maxReceiveCount": count})

    def invalid(self, raw, reason):
        return "Value %s for parameter RedrivePolicy is invalid. Reason: %s" % (raw, reason)

    def test_set_and_get_normalized(self):
        dlq = self.queue("rp-dlq")
        src = self.queue("rp-src")
        arn = self.arn(dlq)
        # maxReceiveCount given as a string comes back as a JSON number
        self.sqs.set_queue_attributes(QueueUrl=src, Attributes={
            "RedrivePolicy": json.dumps({"deadLetterTargetArn": arn, "maxReceiveCount": "10"})})
        got = json.loads(self.attrs(src, "RedrivePolicy")["RedrivePolicy"])
        self.assertEqual(got, {"deadLetterTargetArn": arn, "maxReceiveCount": 10})
        self.assertIn("RedrivePolicy", self.attrs(src))

    def test_invalid_arn_rejected_before_lookup(self):
        raw = '{"deadLetterTargetArn": "dummy", "maxReceiveCount": 42}'
        self.assertError("InvalidParameterValue", self.invalid(raw, "Invalid value for deadLetterTargetArn."), 400,
                         self.sqs.create_queue, QueueName="rp-dummy", Attributes={"RedrivePolicy": raw})

    def test_target_must_exist(self):
        raw = self.policy(queue_arn("rp-nowhere"))
        self.assertError("InvalidParameterValue", self.invalid(raw, "Dead letter target does not exist."), 400,
                         self.sqs.create_queue, QueueName="rp-missing", Attributes={"RedrivePolicy": raw})

    def test_target_must_be_same_type(self):
        fifo_dlq = self.arn(self.queue("rp-type.fifo"))
        raw = self.policy(fifo_dlq)
        self.assertError("InvalidParameterValue",
                         self.invalid(raw, "Dead-letter queue must be same type of queue as the source."), 400,
                         self.sqs.create_queue, QueueName="rp-type-src", Attributes={"RedrivePolicy": raw})
        std_dlq = self.arn(self.queue("rp-type-std"))
        raw = self.policy(std_dlq)
        self.assertError("InvalidParameterValue",
                         self.invalid(raw, "Dead-letter queue must be same type of queue as the source."), 400,
                         self.sqs.create_queue, QueueName="rp-type-src.fifo",
                         Attributes={"FifoQueue": "true", "RedrivePolicy": raw})

    def test_mandatory_keys_and_count_range(self):
        dlq = self.arn(self.queue("rp-keys"))
        url = self.queue("rp-keys-src")
        self.assertError("InvalidParameterValue",
                         self.invalid("{}", "Redrive policy does not contain mandatory attribute: maxReceiveCount."),
                         400, self.sqs.set_queue_attributes, QueueUrl=url, Attributes={"RedrivePolicy": "{}"})
        raw = json.dumps({"maxReceiveCount": 3})
        self.assertError("InvalidParameterValue", None, 400, self.sqs.set_queue_attributes, QueueUrl=url,
                         Attributes={"RedrivePolicy": raw})
        for bad in (0, 1001):
            self.assertError("InvalidParameterValue", None, 400, self.sqs.set_queue_attributes, QueueUrl=url,
                             Attributes={"RedrivePolicy": self.policy(dlq, bad)})
        for good in (1, 1000):
            self.sqs.set_queue_attributes(QueueUrl=url, Attributes={"RedrivePolicy": self.policy(dlq, good)})
        self.assertError("InvalidParameterValue", None, 400, self.sqs.set_queue_attributes, QueueUrl=url,
                         Attributes={"RedrivePolicy": "not json"})

    def test_empty_policy_removes_it(self):
        dlq_url = self.queue("rp-empty-dlq")
        dlq = self.arn(dlq_url)
        url = self.queue("rp-empty")
        self.sqs.set_queue_attributes(QueueUrl=url, Attributes={"RedrivePolicy": ""})  # none set: fine
        self.sqs.set_queue_attributes(QueueUrl=url, Attributes={"RedrivePolicy": self.policy(dlq)})
        self.sqs.set_queue_attributes(QueueUrl=url, Attributes={"RedrivePolicy": ""})
        self.assertNotIn("RedrivePolicy", self.attrs(url))
        self.assertEqual(self.sqs.list_dead_letter_source_queues(QueueUrl=dlq_url).get("queueUrls", []), [])


class RedriveAllowPolicy(AttributesTestCase):
    def test_valid_policies_round_trip(self):
        url = self.queue("rap")
        src = queue_arn("rap-source")
        for doc in ({"redrivePermission": "allowAll"}, {"redrivePermission": "denyAll"},
                    {"redrivePermission": "byQueue", "sourceQueueArns": [src]}):
            self.sqs.set_queue_attributes(QueueUrl=url, Attributes={"RedriveAllowPolicy": json.dumps(doc)})
            self.assertEqual(json.loads(self.attrs(url, "RedriveAllowPolicy")["RedriveAllowPolicy"]), doc)

    def test_invalid_policies(self):
        url = self.queue("rap-bad")
        arns = [queue_arn("s%d" % i) for i in range(11)]
        for doc in ("not json", json.dumps({"redrivePermission": "sometimes"}),
                    json.dumps({"redrivePermission": "byQueue"}),
                    json.dumps({"redrivePermission": "byQueue", "sourceQueueArns": arns}),
                    json.dumps({"redrivePermission": "allowAll", "sourceQueueArns": arns[:1]})):
            self.assertError("InvalidAttributeValue", None, 400, self.sqs.set_queue_attributes, QueueUrl=url,
                             Attributes={"RedriveAllowPolicy": doc})
        self.assertNotIn("RedriveAllowPolicy", self.attrs(url))

    def test_deny_all_refuses_sources(self):
        dlq = self.queue("rap-deny", RedriveAllowPolicy=json.dumps({"redrivePermission": "denyAll"}))
        src = self.queue("rap-deny-src")
        policy = json.dumps({"deadLetterTargetArn": self.arn(dlq), "maxReceiveCount": 1})
        self.assertError("InvalidParameterValue", None, 400, self.sqs.set_queue_attributes, QueueUrl=src,
                         Attributes={"RedrivePolicy": policy})

    def test_by_queue_admits_only_listed(self):
        allowed = self.queue("rap-byq-ok")
        dlq = self.queue("rap-byq", RedriveAllowPolicy=json.dumps(
            {"redrivePermission": "byQueue", "sourceQueueArns": [self.arn(allowed)]}))
        policy = json.dumps({"deadLetterTargetArn": self.arn(dlq), "maxReceiveCount": 1})
        self.sqs.set_queue_attributes(QueueUrl=allowed, Attributes={"RedrivePolicy": policy})
        other = self.queue("rap-byq-other")
        self.assertError("InvalidParameterValue", None, 400, self.sqs.set_queue_attributes, QueueUrl=other,
                         Attributes={"RedrivePolicy": policy})


class PolicyAttribute(AttributesTestCase):
    def test_policy_round_trip_and_removal(self):
        url = self.queue("pol")
        doc = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": "*",
                                                       "Action": "sqs:SendMessage", "Resource": self.arn(url)}]}
        self.sqs.set_queue_attributes(QueueUrl=url, Attributes={"Policy": json.dumps(doc)})
        self.assertEqual(json.loads(self.attrs(url, "Policy")["Policy"]), doc)
        self.sqs.set_queue_attributes(QueueUrl=url, Attributes={"Policy": ""})
        self.assertNotIn("Policy", self.attrs(url))

    def test_invalid_policy_rejected(self):
        url = self.queue("pol-bad")
        for bad in ("not json", "[1,2]", '"text"'):
            self.assertError("InvalidAttributeValue", "Invalid value for the parameter Policy.", 400,
                             self.sqs.set_queue_attributes, QueueUrl=url, Attributes={"Policy": bad})
        self.assertNotIn("Policy", self.attrs(url))


if __name__ == "__main__":
    unittest.main()
