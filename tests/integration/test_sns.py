"""SNS over the query protocol with boto3: topics, subscriptions, publishing
and fan-out into Sluice queues, with AWS's recorded errors and shapes
(texts from ../shared/aws-recorded/sns.snapshot.json and the SNS guide).

Covers the seed 000 shape (one topic, division and multiplication queues
filtered on the `operation` attribute: every message lands in exactly one),
body-scope filtering, raw vs envelope delivery, FIFO topic → FIFO queue order
and deduplication, the subscription dead-letter queue, PublishBatch, tags,
and persistence across a restart."""
import base64
import hashlib
import json
import unittest

from sluice_harness import ACCOUNT, REGION
from sns_truth import SnsTestCase, envelope, queue_arn, topic_arn
from sqs_truth import wait_until


class TopicCrud(SnsTestCase):
    def test_create_is_idempotent_and_listed(self):
        arn = self.topic("orders")
        self.assertEqual(arn, topic_arn(self.uniq("orders")))
        self.assertEqual(self.topic("orders"), arn)
        self.sns.set_topic_attributes(TopicArn=arn, AttributeName="DisplayName", AttributeValue="AlreadySet")
        self.assertEqual(self.topic("orders"), arn)
        attrs = self.sns.get_topic_attributes(TopicArn=arn)["Attributes"]
        self.assertEqual(attrs["DisplayName"], "AlreadySet")
        listed = [t["TopicArn"] for t in self.sns.list_topics()["Topics"]]
        self.assertIn(arn, listed)

    def test_default_attributes(self):
        arn = self.topic("defaults")
        attrs = self.sns.get_topic_attributes(TopicArn=arn)["Attributes"]
        self.assertEqual(set(attrs), {"DisplayName", "EffectiveDeliveryPolicy", "Owner", "Policy",
                                      "SubscriptionsConfirmed", "SubscriptionsDeleted", "SubscriptionsPending",
                                      "TopicArn"})
        self.assertEqual(attrs["Owner"], ACCOUNT)
        policy = json.loads(attrs["Policy"])
        self.assertEqual(policy["Statement"][0]["Resource"], arn)
        self.assertEqual(policy["Statement"][0]["Condition"], {"StringEquals": {"AWS:SourceOwner": ACCOUNT}})
        eff = json.loads(attrs["EffectiveDeliveryPolicy"])
        self.assertEqual(eff["http"]["defaultHealthyRetryPolicy"]["numRetries"], 3)
        fifo = self.sns.get_topic_attributes(TopicArn=self.topic("d.fifo"))["Attributes"]
        self.assertEqual((fifo["FifoTopic"], fifo["ContentBasedDeduplication"]), ("true", "false"))

    def test_name_rules(self):
        msg = "Invalid parameter: Topic Name"
        self.sns.create_topic(Name="a" * 256)
        for bad in ("", "a" * 257, "bad:name", "bad name", "bad!name"):
            self.assertSnsError("InvalidParameter", msg, 400, self.sns.create_topic, Name=bad)
        self.assertSnsError("InvalidParameter", None, 400, self.sns.create_topic, Name="nofifo",
                            Attributes={"FifoTopic": "true"})
        self.assertSnsError("InvalidParameter", None, 400, self.sns.create_topic, Name="x.fifo")

    def test_different_attributes_or_tags(self):
        name = self.uniq("diff")
        self.sns.create_topic(Name=name, Attributes={"DisplayName": "one"})
        self.assertSnsError("InvalidParameter",
                            "Invalid parameter: Attributes Reason: Topic already exists with different attributes",
                            400, self.sns.create_topic, Name=name, Attributes={"DisplayName": "two"})
        self.assertSnsError("InvalidParameter",
                            "Invalid parameter: Tags Reason: Topic already exists with different tags", 400,
                            self.sns.create_topic, Name=name, Tags=[{"Key": "k", "Value": "v"}])

    def test_not_found_and_malformed_arns(self):
        self.assertSnsError("NotFound", "Topic does not exist", 404, self.sns.get_topic_attributes,
                            TopicArn=topic_arn("never-made"))
        self.assertSnsError("InvalidParameter",
                            "Invalid parameter: TopicArn Reason: An ARN must have at least 6 elements, not 1", 400,
                            self.sns.get_topic_attributes, TopicArn="randomstring")
        self.assertSnsError("InvalidParameter", "Invalid parameter: TopicArn", 400, self.sns.publish,
                            TopicArn="arn:aws:sns:eu-west-1:%s:elsewhere" % ACCOUNT, Message="m")
        self.assertSnsError("InvalidParameter", "Invalid parameter: AttributeName", 400,
                            self.sns.set_topic_attributes, TopicArn=self.topic("t"), AttributeName="FifoTopic",
                            AttributeValue="false")

    def test_delete_is_idempotent(self):
        arn = self.topic("gone")
        self.sns.delete_topic(TopicArn=arn)
        self.sns.delete_topic(TopicArn=arn)
        self.assertNotIn(arn, [t["TopicArn"] for t in self.sns.list_topics()["Topics"]])
        self.assertSnsError("NotFound", "Topic does not exist", 404, self.sns.publish, TopicArn=arn, Message="m")

    def test_list_topics_pages_of_100(self):
        for i in range(101):
            self.sns.create_topic(Name="page-%03d" % i)
        first = self.sns.list_topics()
        self.assertEqual(len(first["Topics"]), 100)
        rest = self.sns.list_topics(NextToken=first["NextToken"])
        self.assertNotIn("NextToken", rest)
        arns = [t["TopicArn"] for t in first["Topics"] + rest["Topics"]]
        self.assertEqual(len(arns), len(set(arns)))
        for i in range(101):
            self.assertIn(topic_arn("page-%03d" % i), arns)

    def test_tags(self):
        arn = self.topic("tagged")
        self.sns.tag_resource(ResourceArn=arn, Tags=[{"Key": "k1", "Value": "v1"}, {"Key": "k2", "Value": "v2"}])
        self.sns.tag_resource(ResourceArn=arn, Tags=[{"Key": "k2", "Value": "v2b"}])
        self.sns.untag_resource(ResourceArn=arn, TagKeys=["k1"])
        self.assertEqual(self.sns.list_tags_for_resource(ResourceArn=arn)["Tags"], [{"Key": "k2", "Value": "v2b"}])
        self.assertSnsError("InvalidParameter", "Invalid parameter: Duplicated keys are not allowed.", 400,
                            self.sns.tag_resource, ResourceArn=arn,
                            Tags=[{"Key": "d", "Value": "1"}, {"Key": "d", "Value": "2"}])
        self.assertSnsError("TagLimitExceeded", None, 400, self.sns.tag_resource, ResourceArn=arn,
                            Tags=[{"Key": "x%d" % i, "Value": "v"} for i in range(50)])
        self.assertSnsError("ResourceNotFound", None, 404, self.sns.list_tags_for_resource,
                            ResourceArn=topic_arn("no-such-topic"))


class Subscriptions(SnsTestCase):
    def test_sqs_subscription_attributes(self):
        t = self.topic("subs")
        _, qarn = self.queue("subq")
        sub = self.subscribe_queue(t, qarn, RawMessageDelivery="TrUe")
        self.assertTrue(sub.startswith(t + ":"))
        attrs = self.sns.get_subscription_attributes(SubscriptionArn=sub)["Attributes"]
        self.assertEqual(attrs["RawMessageDelivery"], "true")
        self.assertEqual((attrs["PendingConfirmation"], attrs["ConfirmationWasAuthenticated"]), ("false", "true"))
        self.assertEqual((attrs["Protocol"], attrs["Endpoint"], attrs["TopicArn"]), ("sqs", qarn, t))
        # same endpoint, same (or default) attributes: the same subscription
        self.assertEqual(self.subscribe_queue(t, qarn, RawMessageDelivery="true",
                                              FilterPolicyScope="MessageAttributes"), sub)
        self.assertEqual(self.subscribe_queue(t, qarn), sub)
        self.assertSnsError("InvalidParameter",
                            "Invalid parameter: Attributes Reason: Subscription already exists with different "
                            "attributes", 400, self.subscribe_queue, t, qarn, RawMessageDelivery="false",
                            FilterPolicyScope="MessageBody")
        listed = self.sns.list_subscriptions_by_topic(TopicArn=t)["Subscriptions"]
        self.assertEqual(listed, [{"SubscriptionArn": sub, "Owner": ACCOUNT, "Protocol": "sqs", "Endpoint": qarn,
                                   "TopicArn": t}])
        self.assertIn(sub, [s["SubscriptionArn"] for s in self.sns.list_subscriptions()["Subscriptions"]])

    def test_subscribe_errors(self):
        t = self.topic("suberr")
        _, qarn = self.queue("sq")
        self.assertSnsError("InvalidParameter",
                            "Invalid parameter: Amazon SNS does not support this protocol string: test-protocol",
                            400, self.sns.subscribe, TopicArn=t, Protocol="test-protocol", Endpoint="x")
        self.assertSnsError("InvalidParameter", "Invalid parameter: SQS endpoint ARN", 400, self.sns.subscribe,
                            TopicArn=t, Protocol="sqs", Endpoint="http://not-an-arn")
        _, fifo_q = self.queue("fq.fifo")
        self.assertSnsError("InvalidParameter",
                            "Invalid parameter: Invalid parameter: Endpoint Reason: FIFO SQS Queues can not be "
                            "subscribed to standard SNS topics", 400, self.sns.subscribe, TopicArn=t,
                            Protocol="sqs", Endpoint=fifo_q)
        self.assertSnsError("InvalidParameter",
                            "Invalid parameter: Attributes Reason: RawMessageDelivery: Invalid value [wrongvalue]. "
                            "Must be true or false.", 400, self.subscribe_queue, t, qarn,
                            RawMessageDelivery="wrongvalue")
        # the ARN of a queue that does not exist is accepted, as AWS does
        self.subscribe_queue(t, queue_arn("not-yet-made"))

    def test_set_subscription_attribute_errors(self):
        t = self.topic("seterr")
        _, qarn = self.queue("q")
        sub = self.subscribe_queue(t, qarn)
        cases = [("FakeAttribute", "x", "Invalid parameter: AttributeName"),
                 ("RawMessageDelivery", "test-ValUe",
                  "Invalid parameter: RawMessageDelivery: Invalid value [test-ValUe]. Must be true or false."),
                 ("RedrivePolicy", '{"deadLetterTargetArn":"fake-arn"}',
                  "Invalid parameter: RedrivePolicy: deadLetterTargetArn is an invalid arn"),
                 ("FilterPolicyScope", "RandomValue",
                  "Invalid parameter: FilterPolicyScope: Invalid value [RandomValue]. Please use either MessageBody "
                  "or MessageAttributes")]
        for name, value, msg in cases:
            self.assertSnsError("InvalidParameter", msg, 400, self.sns.set_subscription_attributes,
                                SubscriptionArn=sub, AttributeName=name, AttributeValue=value)
        self.assertSnsError("NotFound", "Subscription does not exist", 404, self.sns.get_subscription_attributes,
                            SubscriptionArn=t + ":00000000-0000-0000-0000-000000000000")

    def test_unsubscribe(self):
        t = self.topic("unsub")
        _, qarn = self.queue("q")
        sub = self.subscribe_queue(t, qarn)
        self.sns.unsubscribe(SubscriptionArn=sub)
        self.sns.unsubscribe(SubscriptionArn=sub)  # idempotent
        self.assertEqual(self.sns.list_subscriptions_by_topic(TopicArn=t)["Subscriptions"], [])
        self.assertSnsError("InvalidParameter", "Invalid parameter: SubscriptionId", 400, self.sns.unsubscribe,
                            SubscriptionArn=t)
        self.assertSnsError("InvalidParameter",
                            "Invalid parameter: SubscriptionArn Reason: An ARN must have at least 6 elements, not 1",
                            400, self.sns.unsubscribe, SubscriptionArn="randomstring")
        attrs = self.sns.get_topic_attributes(TopicArn=t)["Attributes"]
        self.assertEqual((attrs["SubscriptionsConfirmed"], attrs["SubscriptionsDeleted"]), ("0", "1"))


class Delivery(SnsTestCase):
    def test_seed_000_each_message_in_exactly_one_queue(self):
        t = self.topic("requests")
        div_url, div = self.queue("division")
        mul_url, mul = self.queue("multiplication")
        self.subscribe_queue(t, div, FilterPolicy=json.dumps({"operation": ["division"]}))
        self.subscribe_queue(t, mul, FilterPolicy=json.dumps({"operation": ["multiplication"]}))
        sent = {"division": set(), "multiplication": set()}
        for i in range(20):
            op = "division" if i % 2 else "multiplication"
            r = self.sns.publish(TopicArn=t, Message=json.dumps({"operation": op, "number": i}),
                                 MessageAttributes={"operation": {"DataType": "String", "StringValue": op}})
            sent[op].add(r["MessageId"])
        self.sns.publish(TopicArn=t, Message="nobody wants this",
                         MessageAttributes={"operation": {"DataType": "String", "StringValue": "sqrt"}})
        for url, op in ((div_url, "division"), (mul_url, "multiplication")):
            got = self.receive_all(url, 10)
            ids = {envelope(m["Body"])["MessageId"] for m in got}
            self.assertEqual(ids, sent[op])
            for m in got:
                env = envelope(m["Body"])
                self.assertEqual(json.loads(env["Message"])["operation"], op)
                self.assertEqual(env["MessageAttributes"]["operation"], {"Type": "String", "Value": op})
            self.assertEqual(self.receive_all(url, 1, timeout=0.3), [])

    def test_envelope_shape(self):
        t = self.topic("env")
        url, qarn = self.queue("q")
        sub = self.subscribe_queue(t, qarn)
        r = self.sns.publish(TopicArn=t, Message='line1\n"quoted"', Subject="Hello",
                             MessageAttributes={"n": {"DataType": "Number", "StringValue": "100.12"},
                                                "b": {"DataType": "Binary", "BinaryValue": b"\x02\x03\x04"}})
        body = self.receive_all(url, 1)[0]["Body"]
        self.assertTrue(body.startswith('{\n  "Type" : "Notification",\n  "MessageId" : '), body)
        env = json.loads(body)
        self.assertEqual(list(env), ["Type", "MessageId", "TopicArn", "Subject", "Message", "Timestamp",
                                     "SignatureVersion", "Signature", "SigningCertURL", "UnsubscribeURL",
                                     "MessageAttributes"])
        self.assertEqual((env["MessageId"], env["TopicArn"], env["Subject"], env["Message"]),
                         (r["MessageId"], t, "Hello", 'line1\n"quoted"'))
        self.assertRegex(env["Timestamp"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
        self.assertTrue(env["UnsubscribeURL"].endswith("?Action=Unsubscribe&SubscriptionArn=" + sub))
        self.assertEqual(env["MessageAttributes"]["n"], {"Type": "Number", "Value": "100.12"})
        self.assertEqual(env["MessageAttributes"]["b"], {"Type": "Binary", "Value": "AgME"})

    def test_raw_delivery_maps_attributes(self):
        t = self.topic("raw")
        url, qarn = self.queue("q")
        self.subscribe_queue(t, qarn, RawMessageDelivery="true")
        self.sns.publish(TopicArn=t, Message="plain body", Subject="dropped",
                         MessageAttributes={"attr1": {"DataType": "Number", "StringValue": "99.12"},
                                            "bin": {"DataType": "Binary", "BinaryValue": b"\x00\x01"}})
        m = self.receive_all(url, 1)[0]
        self.assertEqual(m["Body"], "plain body")
        self.assertEqual(m["MessageAttributes"]["attr1"], {"DataType": "Number", "StringValue": "99.12"})
        self.assertEqual(m["MessageAttributes"]["bin"], {"DataType": "Binary", "BinaryValue": b"\x00\x01"})
        self.assertEqual(m["Attributes"]["SenderId"], ACCOUNT)

    def test_body_scope_filter(self):
        t = self.topic("body")
        url, qarn = self.queue("q")
        self.subscribe_queue(t, qarn, FilterPolicyScope="MessageBody", RawMessageDelivery="true",
                             FilterPolicy=json.dumps({"order": {"total": [{"numeric": [">", 100]}]},
                                                      "tags": [{"prefix": "vip"}]}))
        bodies = [{"order": {"total": 150}, "tags": ["x", "vip-gold"]},
                  {"order": {"total": 50}, "tags": ["vip"]},
                  {"order": {"total": 500}, "tags": ["normal"]},
                  {"order": {"total": 101}, "tags": "vip"}]
        for b in bodies:
            self.sns.publish(TopicArn=t, Message=json.dumps(b))
        self.sns.publish(TopicArn=t, Message="not json at all")
        got = sorted(json.loads(m["Body"])["order"]["total"] for m in self.receive_all(url, 2))
        self.assertEqual(got, [101, 150])
        self.assertEqual(self.receive_all(url, 1, timeout=0.3), [])

    def test_message_structure_json(self):
        t = self.topic("structure")
        url, qarn = self.queue("q")
        self.subscribe_queue(t, qarn)
        self.sns.publish(TopicArn=t, MessageStructure="json",
                         Message=json.dumps({"default": "default field", "sqs": '{"field": "value"}'}))
        self.sns.publish(TopicArn=t, MessageStructure="json",
                         Message=json.dumps({"default": "default field", "sqs": {"field": "value"}}))
        msgs = sorted(envelope(m["Body"])["Message"] for m in self.receive_all(url, 2))
        self.assertEqual(msgs, ["default field", '{"field": "value"}'])
        self.assertSnsError("InvalidParameter",
                            "Invalid parameter: Message Structure - No default entry in JSON message body", 400,
                            self.sns.publish, TopicArn=t, MessageStructure="json", Message='{"sqs": "x"}')
        self.assertSnsError("InvalidParameter",
                            "Invalid parameter: Message Structure - JSON message body failed to parse", 400,
                            self.sns.publish, TopicArn=t, MessageStructure="json", Message="{nope")

    def test_subscription_dlq_when_queue_is_gone(self):
        t = self.topic("dlq")
        url, qarn = self.queue("target")
        dlq_url, dlq = self.queue("dlq")
        self.subscribe_queue(t, qarn, RedrivePolicy=json.dumps({"deadLetterTargetArn": dlq}))
        self.sqs.delete_queue(QueueUrl=url)
        r = self.sns.publish(TopicArn=t, Message="undeliverable")
        got = self.receive_all(dlq_url, 1)
        self.assertEqual(len(got), 1)
        env = envelope(got[0]["Body"])
        self.assertEqual((env["Type"], env["MessageId"], env["Message"]), ("Notification", r["MessageId"],
                                                                            "undeliverable"))

    def test_publish_errors(self):
        t = self.topic("pub")
        ip = "InvalidParameter"
        self.assertSnsError(ip, "Invalid parameter: Empty message", 400, self.sns.publish, TopicArn=t, Message="")
        self.assertSnsError(ip, "Invalid parameter: Subject", 400, self.sns.publish, TopicArn=t, Message="m",
                            Subject="")
        self.assertSnsError(ip, "Invalid parameter: Subject", 400, self.sns.publish, TopicArn=t, Message="m",
                            Subject="s" * 101)
        self.sns.publish(TopicArn=t, Message="m", Subject="s" * 100)
        # 262,144 bytes counting the attribute's name, type and value (5 + 6 + 1)
        attr = {"attr1": {"DataType": "Number", "StringValue": "1"}}
        self.sns.publish(TopicArn=t, Message="x" * 262132, MessageAttributes=attr)
        self.assertSnsError(ip, "Invalid parameter: Message too long", 400, self.sns.publish, TopicArn=t,
                            Message="x" * 262133, MessageAttributes=attr)
        self.assertSnsError(ip, "Invalid parameter: MessageDeduplicationId Reason: The request includes "
                                "MessageDeduplicationId parameter that is not valid for this topic type", 400,
                            self.sns.publish, TopicArn=t, Message="m", MessageDeduplicationId="d")

    def test_message_attribute_errors(self):
        t = self.topic("attrs")
        pvi = "ParameterValueInvalid"
        cases = [({"attr1": {"DataType": "String", "StringValue": ""}},
                  "The message attribute 'attr1' must contain non-empty message attribute value for message "
                  "attribute type 'String'."),
                 ({"attr1": {"DataType": "String", "BinaryValue": b"x"}},
                  "The message attribute 'attr1' with type 'String' must use field 'String'."),
                 ({"attr1": {"DataType": "Binary", "StringValue": "x"}},
                  "The message attribute 'attr1' with type 'Binary' must use field 'Binary'."),
                 ({"attr1": {"DataType": "InvalidType", "StringValue": "x"}},
                  "The message attribute 'attr1' has an invalid message attribute type, the set of supported "
                  "type prefixes is Binary, Number, and String."),
                 ({"a^*?": {"DataType": "String", "StringValue": "x"}},
                  "Invalid non-alphanumeric character '#x5E' was found in the message attribute name. Can only "
                  "include alphanumeric characters, hyphens, underscores, or dots."),
                 ({".abc": {"DataType": "String", "StringValue": "x"}},
                  "Invalid message attribute name starting with character '.' was found."),
                 ({"a..bc": {"DataType": "String", "StringValue": "x"}},
                  "Message attribute name can not have successive '.' character.")]
        for attrs, msg in cases:
            self.assertSnsError(pvi, msg, 400, self.sns.publish, TopicArn=t, Message="m", MessageAttributes=attrs)
        self.sns.publish(TopicArn=t, Message="m",
                         MessageAttributes={"a": {"DataType": "String.prefixed", "StringValue": "x"}})
        # a hostile number of entries is refused, not read one by one
        many = {"a%d" % i: {"DataType": "String", "StringValue": "x"} for i in range(5000)}
        self.assertSnsError("InvalidParameter", "Invalid parameter: MessageAttributes Reason: more than 64 entries",
                            400, self.sns.publish, TopicArn=t, Message="m", MessageAttributes=many)

    def test_publish_batch(self):
        t = self.topic("batch")
        url, qarn = self.queue("q")
        self.subscribe_queue(t, qarn, RawMessageDelivery="true")
        r = self.sns.publish_batch(TopicArn=t, PublishBatchRequestEntries=[
            {"Id": str(i), "Message": "m%d" % i} for i in range(10)])
        self.assertEqual(r["Failed"], [])
        self.assertEqual(sorted(e["Id"] for e in r["Successful"]), sorted(str(i) for i in range(10)))
        self.assertEqual(sorted(m["Body"] for m in self.receive_all(url, 10)), sorted("m%d" % i for i in range(10)))
        entries = [{"Id": str(i), "Message": "m"} for i in range(11)]
        self.assertSnsError("TooManyEntriesInBatchRequest",
                            "The batch request contains more entries than permissible.", 400,
                            self.sns.publish_batch, TopicArn=t, PublishBatchRequestEntries=entries)
        self.assertSnsError("BatchEntryIdsNotDistinct", "Two or more batch entries in the request have the same Id.",
                            400, self.sns.publish_batch, TopicArn=t,
                            PublishBatchRequestEntries=[{"Id": "1", "Message": "a"}, {"Id": "1", "Message": "b"}])
        self.assertSnsError("InvalidBatchEntryId",
                            "The Id of a batch entry in the batch request contains an impermissible character: "
                            "message.id", 400, self.sns.publish_batch, TopicArn=t,
                            PublishBatchRequestEntries=[{"Id": "message.id", "Message": "a"}])
        self.assertSnsError("BatchRequestTooLong",
                            "The length of all the messages put together is more than the limit.", 400,
                            self.sns.publish_batch, TopicArn=t,
                            PublishBatchRequestEntries=[{"Id": "1", "Message": "x" * 200000},
                                                        {"Id": "2", "Message": "x" * 62145}])


class Fifo(SnsTestCase):
    def test_fifo_order_and_dedup(self):
        t = self.topic("orders.fifo")
        url, qarn = self.queue("orders.fifo")
        std_url, std = self.queue("standard")
        self.subscribe_queue(t, qarn, RawMessageDelivery="true")
        self.subscribe_queue(t, std)  # a standard queue may subscribe to a FIFO topic
        seqs = []
        for i in range(20):
            r = self.sns.publish(TopicArn=t, Message="m%02d" % i, MessageGroupId="g%d" % (i % 2),
                                 MessageDeduplicationId="d%d" % i)
            seqs.append(int(r["SequenceNumber"]))
        self.assertEqual(seqs, sorted(seqs))
        again = self.sns.publish(TopicArn=t, Message="dup", MessageGroupId="g0", MessageDeduplicationId="d0")
        self.assertEqual(int(again["SequenceNumber"]), seqs[0])
        got = self.receive_all(url, 20)
        self.assertEqual(len(got), 20)
        for g in ("g0", "g1"):
            bodies = [m["Body"] for m in got if m["Attributes"]["MessageGroupId"] == g]
            self.assertEqual(bodies, sorted(bodies))
            self.assertEqual(len(bodies), 10)
        self.assertEqual(got[0]["Attributes"]["MessageDeduplicationId"][0], "d")
        envs = [envelope(m["Body"]) for m in self.receive_all(std_url, 20)]
        self.assertEqual(len(envs), 20)
        self.assertNotIn("Signature", envs[0])
        self.assertIn("SequenceNumber", envs[0])

    def test_content_based_dedup_is_sha256_of_body(self):
        t = self.topic("cbd.fifo", ContentBasedDeduplication="true")
        url, qarn = self.queue("cbd.fifo")
        self.subscribe_queue(t, qarn, RawMessageDelivery="true")
        a = self.sns.publish(TopicArn=t, Message="Test", MessageGroupId="a")
        b = self.sns.publish(TopicArn=t, Message="Test", MessageGroupId="b")
        self.assertEqual(a["MessageId"], b["MessageId"])
        got = self.receive_all(url, 1)
        self.assertEqual(len(got), 1)
        self.assertEqual(got[0]["Attributes"]["MessageDeduplicationId"], hashlib.sha256(b"Test").hexdigest())

    def test_fifo_errors(self):
        t = self.topic("err.fifo")
        self.assertSnsError("InvalidParameter",
                            "Invalid parameter: The MessageGroupId parameter is required for FIFO topics", 400,
                            self.sns.publish, TopicArn=t, Message="m")
        self.assertSnsError("InvalidParameter",
                            "Invalid parameter: The topic should either have ContentBasedDeduplication enabled or "
                            "MessageDeduplicationId provided explicitly", 400, self.sns.publish, TopicArn=t,
                            Message="m", MessageGroupId="g")


class Restart(SnsTestCase):
    def test_topics_and_subscriptions_survive_restart(self):
        t = self.topic("durable")
        url, qarn = self.queue("q")
        sub = self.subscribe_queue(t, qarn, FilterPolicy=json.dumps({"k": ["v"]}))
        self.sns.tag_resource(ResourceArn=t, Tags=[{"Key": "team", "Value": "core"}])
        self.sluice.stop()
        self.sluice.start()
        self.sns = self.sluice.client("sns")
        self.sqs = self.sluice.client()
        attrs = self.sns.get_subscription_attributes(SubscriptionArn=sub)["Attributes"]
        self.assertEqual(json.loads(attrs["FilterPolicy"]), {"k": ["v"]})
        self.assertEqual(self.sns.list_tags_for_resource(ResourceArn=t)["Tags"], [{"Key": "team", "Value": "core"}])
        self.sns.publish(TopicArn=t, Message="yes", MessageAttributes={"k": {"DataType": "String", "StringValue": "v"}})
        self.sns.publish(TopicArn=t, Message="no", MessageAttributes={"k": {"DataType": "String", "StringValue": "w"}})
        got = self.receive_all(url, 1)
        self.assertEqual([envelope(m["Body"])["Message"] for m in got], ["yes"])


if __name__ == "__main__":
    unittest.main()

